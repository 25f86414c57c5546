//! `POST /graphql` and `GET /graphql`: authenticate once, resolve persisted queries, run each
//! operation in its own tenant transaction (read-only for queries), commit after a mutation, and
//! mask internal errors with the request id.

use super::{HttpState, REQUEST_ID, client_ip};
use crate::auth::Principal;
use crate::error::AppError;
use crate::graphql::RequestCtx;
use crate::limits::rate::{LimitKey, retry_after_secs};
use crate::tenant::{Outcome, TenantTx};
use async_graphql::parser::types::{DocumentOperations, OperationType};
use async_graphql::{BatchRequest, BatchResponse, Response as GqlResponse};
use axum::Json;
use axum::extract::ConnectInfo;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::net::SocketAddr;
use tracing::Instrument as _;

/// `GET /graphql`: a query in the URL (`query`, `variables`, `operationName`, `extensions`, as
/// the GraphQL-over-HTTP spec has it), or GraphiQL (when enabled) without one. Mutations are
/// refused with 405: a GET must never change anything. A GET must also carry a header a browser
/// only sends after a CORS preflight (see [`preflighted`]), so another site cannot fire it.
pub async fn graphql_get(
    State(s): State<HttpState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Response {
    let request_id = request_id_of(&headers);
    let rid = request_id.as_deref();
    let params = uri.query().unwrap_or("");
    let has_operation = params.split('&').any(|kv| {
        let key = kv.split('=').next().unwrap_or("");
        key == "query" || key == "extensions"
    });
    if !has_operation {
        if !s.app.config.graphiql {
            return StatusCode::NOT_FOUND.into_response();
        }
        return super::graphiql::page(&s.app.config);
    }
    if !preflighted(&headers) {
        let err = AppError::Limit {
            code: "CSRF_PREVENTED",
            message: "a GET operation must carry an Authorization header, or a header that makes \
                      browsers ask first (apollo-require-preflight or x-apollo-operation-name)"
                .into(),
        };
        return transport_error(StatusCode::BAD_REQUEST, &err, rid);
    }
    let caller = match admit(&s, peer, &headers, rid).await {
        Ok(c) => c,
        Err(resp) => return resp,
    };
    let req = match get_request(params) {
        Ok(r) => r,
        Err(err) => return transport_error(StatusCode::BAD_REQUEST, &err, rid),
    };
    let resp = run_one(&s, &caller, request_id, req, Method::Get).await;
    let status = transport_status(std::slice::from_ref(&resp));
    with_status(Json(resp).into_response(), status)
}

/// The request in a GET's parameters: `query`, `operationName`, and `variables` and
/// `extensions` as JSON (async-graphql's own parser expects `operation_name`).
fn get_request(params: &str) -> Result<async_graphql::Request, AppError> {
    let mut req = async_graphql::Request::new("");
    for (key, value) in url::form_urlencoded::parse(params.as_bytes()) {
        match &*key {
            "query" => req.query = value.into_owned(),
            "operationName" => req.operation_name = Some(value.into_owned()),
            "variables" => {
                req.variables = serde_json::from_str(&value).map_err(|e| {
                    AppError::invalid("variables", format!("not a JSON object: {e}"))
                })?;
            }
            "extensions" => {
                req.extensions = serde_json::from_str(&value).map_err(|e| {
                    AppError::invalid("extensions", format!("not a JSON object: {e}"))
                })?;
            }
            _ => {}
        }
    }
    Ok(req)
}

/// Whether a GET carries something a cross-site `<img>`, link or form cannot send without a CORS
/// preflight (which the allow-list then decides): an Authorization header, Apollo's
/// `apollo-require-preflight`/`x-apollo-operation-name`, or a Content-Type other than the three
/// a form may send. The same rule as Apollo Server's CSRF prevention.
fn preflighted(headers: &HeaderMap) -> bool {
    const HEADERS: [&str; 4] = [
        "authorization",
        "apollo-require-preflight",
        "x-apollo-operation-name",
        "graphql-require-preflight",
    ];
    if HEADERS.iter().any(|h| headers.contains_key(*h)) {
        return true;
    }
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::trim)
        .is_some_and(|m| {
            ![
                "application/x-www-form-urlencoded",
                "multipart/form-data",
                "text/plain",
            ]
            .iter()
            .any(|simple| m.eq_ignore_ascii_case(simple))
        })
}

/// How an operation arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    Get,
    Post,
}

/// Who is calling, once authenticated and admitted by the rate limiter.
struct Caller {
    ip: std::net::IpAddr,
    principal: Option<Principal>,
    limit: LimitKey,
    limit_key: String,
}

impl Caller {
    /// The persisted-query scope (see [`crate::keys::Keys::persisted_query`]).
    fn apq_scope(&self) -> String {
        match &self.principal {
            Some(Principal::User {
                org_id: Some(org), ..
            }) => format!("org:{org}"),
            Some(Principal::User { user_id, .. }) => format!("user:{user_id}"),
            Some(Principal::ApiToken(g)) => format!("org:{}", g.org_id),
            None => "anon".to_owned(),
        }
    }
}

fn request_id_of(headers: &HeaderMap) -> Option<String> {
    headers
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Authenticates the caller and counts the request against its rate limit.
async fn admit(
    s: &HttpState,
    peer: SocketAddr,
    headers: &HeaderMap,
    rid: Option<&str>,
) -> Result<Caller, Response> {
    let ip = client_ip(&s.app.config.limits.trusted_proxies, peer.ip(), headers);
    let principal = match authenticate(s, headers).await {
        Ok(p) => p,
        Err(e) => {
            // Failed authentication counts against the client's anonymous quota.
            if let Err(wait) = s.app.rate.check(&LimitKey::Ip(ip)).await {
                return Err(rate_limited(wait, rid));
            }
            return Err(transport_error(StatusCode::UNAUTHORIZED, &e, rid));
        }
    };
    let (limit, limit_key) = match &principal {
        Some(p) => (LimitKey::Principal(p.limit_key()), p.limit_key()),
        None => (LimitKey::Ip(ip), format!("ip:{ip}")),
    };
    if let Err(wait) = s.app.rate.check(&limit).await {
        return Err(rate_limited(wait, rid));
    }
    Ok(Caller {
        ip,
        principal,
        limit,
        limit_key,
    })
}

fn transport_error(status: StatusCode, err: &AppError, request_id: Option<&str>) -> Response {
    let body = json!({
        "errors": [{ "message": err.public_message(), "extensions": { "code": err.code(), "requestId": request_id } }]
    });
    let mut resp = (status, Json(body)).into_response();
    if status == StatusCode::UNAUTHORIZED {
        resp.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    resp
}

/// The full Content-Type when it is `multipart/form-data` (the GraphQL multipart request spec).
fn multipart_type(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    let essence = v.split(';').next()?.trim();
    essence
        .eq_ignore_ascii_case("multipart/form-data")
        .then(|| v.to_owned())
}

/// Documents up to this size are checked and parsed on the request's own task; larger ones on the
/// blocking pool.
const INLINE_PARSE_BYTES: usize = 16 * 1024;

/// Files one multipart request may carry.
pub const MAX_UPLOAD_FILES: usize = 4;

/// Counts the parts of a multipart body by its boundary delimiters, before any part is parsed:
/// `operations`, `map` and [`MAX_UPLOAD_FILES`] files at most (a body of thousands of tiny parts
/// would otherwise be parsed part by part).
fn too_many_parts(content_type: &str, body: &[u8]) -> bool {
    let boundary = content_type
        .split(';')
        .filter_map(|p| p.trim().split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("boundary"))
        .map(|(_, v)| v.trim().trim_matches('"'));
    let Some(boundary) = boundary.filter(|b| !b.is_empty()) else {
        return false; // the multipart parser refuses it
    };
    let delimiter = format!("--{boundary}");
    // n parts have n + 1 delimiters (the last one closes the body).
    memchr::memmem::find_iter(body, delimiter.as_bytes()).count() > MAX_UPLOAD_FILES + 3
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|m| {
            let m = m.trim();
            m.eq_ignore_ascii_case("application/json")
                || m.eq_ignore_ascii_case("application/graphql-response+json")
        })
        .unwrap_or(false)
}

/// Reads the bearer token (a JWT access token or a partner API token): `Ok(None)` without the
/// header, `Err` when it is malformed or invalid.
pub(super) async fn authenticate(
    s: &HttpState,
    headers: &HeaderMap,
) -> Result<Option<Principal>, AppError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value.to_str().map_err(|_| AppError::Unauthenticated)?;
    let (scheme, token) = value.split_once(' ').ok_or(AppError::Unauthenticated)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AppError::Unauthenticated);
    }
    s.app.authenticate_bearer(token.trim()).await.map(Some)
}

/// The operation's type. The parsed document stays in the request, so the schema does not parse
/// the query a second time.
fn operation_type(req: &mut async_graphql::Request) -> Option<OperationType> {
    let name = req.operation_name.clone();
    let doc = req.parsed_query().ok()?;
    match (&doc.operations, name.as_deref()) {
        (DocumentOperations::Single(op), _) => Some(op.node.ty),
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name).map(|op| op.node.ty),
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => {
            ops.values().next().map(|op| op.node.ty)
        }
        (DocumentOperations::Multiple(_), None) => None,
    }
}

/// Test-only crash points around a mutation's COMMIT (`MERCATO_FAILPOINT`): the process dies the
/// way a killed server would, with no response and no post-commit effects.
fn failpoint(s: &HttpState, is_mutation: bool, name: &str) {
    if is_mutation && s.app.config.jobs.failpoint.as_deref() == Some(name) {
        tracing::error!(failpoint = name, "failpoint reached: aborting the process");
        std::process::abort();
    }
}

async fn run_one(
    s: &HttpState,
    caller: &Caller,
    request_id: Option<String>,
    mut req: async_graphql::Request,
    method: Method,
) -> GqlResponse {
    let started = std::time::Instant::now();
    // Automatic persisted queries: resolve the hash before anything reads the document.
    let mut persist = None;
    match super::apq::persisted(&req) {
        super::apq::Persisted::None => {}
        super::apq::Persisted::Invalid(why) => {
            return refused(AppError::invalid("extensions.persistedQuery", why));
        }
        super::apq::Persisted::Hash(hash) if req.query.is_empty() => {
            match s.apq.lookup(&caller.apq_scope(), &hash).await {
                Some(query) => req.query = query,
                None => {
                    crate::metrics::get().refused("apq");
                    return refused(AppError::Limit {
                        code: "PERSISTED_QUERY_NOT_FOUND",
                        message: "PersistedQueryNotFound".into(),
                    });
                }
            }
        }
        super::apq::Persisted::Hash(hash) => {
            if !super::apq::matches(&req.query, &hash) {
                return refused(AppError::invalid(
                    "extensions.persistedQuery.sha256Hash",
                    "provided sha does not match query",
                ));
            }
            persist = Some(hash);
        }
    }
    let (resp, kind) = run_checked(s, caller, request_id, req, method, persist).await;
    let outcome = outcome_of(&resp);
    let m = crate::metrics::get();
    m.operation(kind, outcome, started.elapsed());
    if let Some(limit) = limit_of(outcome) {
        m.refused(limit);
    }
    resp
}

fn refused(err: AppError) -> GqlResponse {
    GqlResponse::from_errors(vec![crate::error::operation_error(err)])
}

/// The span every log line of one operation carries: the request, the organization and the user
/// or API token acting (ids only).
pub(super) fn operation_span(
    kind: &'static str,
    request_id: Option<&str>,
    principal: Option<&Principal>,
) -> tracing::Span {
    let (org, user, token) = match principal {
        Some(Principal::User { user_id, org_id }) => (*org_id, Some(*user_id), None),
        Some(Principal::ApiToken(g)) => (Some(g.org_id), None, Some(g.id)),
        None => (None, None, None),
    };
    tracing::info_span!(
        "operation",
        kind,
        request_id = request_id.unwrap_or("-"),
        org_id = org.map(tracing::field::display),
        user_id = user.map(tracing::field::display),
        token_id = token.map(tracing::field::display),
    )
}

/// The metrics label of an operation's outcome: `ok`, or its first error's code.
fn outcome_of(resp: &GqlResponse) -> &'static str {
    let Some(err) = resp.errors.first() else {
        return "ok";
    };
    let code = err.extensions.as_ref().and_then(|x| x.get("code"));
    let Some(async_graphql::Value::String(code)) = code else {
        return "GRAPHQL_ERROR";
    };
    // Labels come from this closed list, never from the response itself.
    const CODES: &[&str] = &[
        "UNAUTHENTICATED",
        "INVALID_CREDENTIALS",
        "FORBIDDEN",
        "NOT_FOUND",
        "VALIDATION_FAILED",
        "GRAPHQL_VALIDATION_FAILED",
        "CONFLICT",
        "INSUFFICIENT_STOCK",
        "INVALID_REFRESH_TOKEN",
        "THROTTLED",
        "RATE_LIMITED",
        "MAX_COST_EXCEEDED",
        "MAX_DEPTH_EXCEEDED",
        "TOO_MANY_ALIASES",
        "MAX_SELECTIONS_EXCEEDED",
        "MAX_NESTING_EXCEEDED",
        "REQUEST_TIMEOUT",
        "UPSTREAM_ERROR",
        "SERVICE_UNAVAILABLE",
        "INTERNAL",
    ];
    CODES
        .iter()
        .find(|c| **c == code.as_str())
        .copied()
        .unwrap_or("OTHER_ERROR")
}

/// The limit an outcome is a refusal by, if it is one.
fn limit_of(outcome: &str) -> Option<&'static str> {
    Some(match outcome {
        "THROTTLED" | "MAX_COST_EXCEEDED" => "cost",
        "RATE_LIMITED" => "login",
        "MAX_DEPTH_EXCEEDED" => "depth",
        "TOO_MANY_ALIASES" => "aliases",
        "MAX_SELECTIONS_EXCEEDED" | "MAX_NESTING_EXCEEDED" => "shape",
        "REQUEST_TIMEOUT" => "timeout",
        _ => return None,
    })
}

async fn run_checked(
    s: &HttpState,
    caller: &Caller,
    request_id: Option<String>,
    req: async_graphql::Request,
    method: Method,
    persist: Option<String>,
) -> (GqlResponse, &'static str) {
    // Bounds first: nothing recursive (not even the parse that tells a query from a mutation)
    // sees a document the guard has not passed. Parsing a large document takes a while (a 1 MB
    // one about 0.2 s), so that is done off the runtime's threads.
    // A text checked before (an app's fixed operations) is not parsed again.
    let max_selections = s.app.config.limits.max_selections;
    let documents = s
        .schema
        .data::<crate::limits::guard::Documents>()
        .cloned()
        .unwrap_or_default();
    let checked = if req.query.len() > INLINE_PARSE_BYTES {
        tokio::task::spawn_blocking(move || {
            let mut req = req;
            documents.check(&mut req, max_selections).map(|()| req)
        })
        .await
        .unwrap_or_else(|e| Err(crate::error::operation_error(AppError::internal(e))))
    } else {
        let mut req = req;
        documents.check(&mut req, max_selections).map(|()| req)
    };
    let mut req = match checked {
        Ok(req) => req,
        Err(e) => return (GqlResponse::from_errors(vec![e]), "refused"),
    };
    if let Some(hash) = persist {
        s.apq.store(&caller.apq_scope(), &hash, &req.query).await;
    }
    let op = operation_type(&mut req);
    if method == Method::Get && op != Some(OperationType::Query) {
        let err = AppError::Limit {
            code: "METHOD_NOT_ALLOWED",
            message: "only queries may be sent with GET; send mutations and subscriptions with POST (or over /graphql/ws)".into(),
        };
        return (refused(err), "refused");
    }
    let is_mutation = op == Some(OperationType::Mutation);
    let kind = match op {
        Some(OperationType::Query) => "query",
        Some(OperationType::Mutation) => "mutation",
        Some(OperationType::Subscription) => "subscription",
        None => "refused",
    };
    // The operation runs on a task of its own: a client that goes away drops this future, not the
    // operation, so it always ends with COMMIT or ROLLBACK and its post-commit effects run. Its
    // own deadline is enforced inside (see `execute`).
    let span = operation_span(kind, request_id.as_deref(), caller.principal.as_ref());
    let task = tokio::spawn(
        execute(
            s.clone(),
            caller.ip,
            caller.principal.clone(),
            request_id.clone(),
            caller.limit_key.clone(),
            req,
            is_mutation,
        )
        .instrument(span),
    );
    let mut resp = match task.await {
        Ok(resp) => resp,
        Err(e) => {
            let err = crate::error::operation_error(AppError::internal(e));
            GqlResponse::from_errors(vec![err])
        }
    };
    for err in &mut resp.errors {
        let internal = err
            .extensions
            .as_ref()
            .and_then(|x| x.get("code"))
            .is_some_and(|c| *c == async_graphql::Value::from("INTERNAL"));
        if internal {
            let ext = err.extensions.get_or_insert_with(Default::default);
            ext.set("requestId", request_id.clone().unwrap_or_default());
        }
    }
    (resp, kind)
}

/// One operation in its tenant transaction, within the request deadline. Past the deadline the
/// operation is dropped (the transaction object stays in the tenant slot, or is rolled back by
/// the task that opened it) and the whole transaction rolls back: a mutation is kept whole or not
/// at all.
async fn execute(
    s: HttpState,
    ip: std::net::IpAddr,
    principal: Option<Principal>,
    request_id: Option<String>,
    limit_key: String,
    req: async_graphql::Request,
    is_mutation: bool,
) -> GqlResponse {
    let tenant = TenantTx::new(s.app.db.clone(), principal, !is_mutation)
        .with_statement_timeout(s.app.config.limits.statement_timeout)
        .with_counter(s.app.tenant_tx_opened.clone())
        .with_breaker(s.app.pg_breaker.clone());
    let mut ctx = RequestCtx::new(s.app.clone(), tenant.clone(), request_id, limit_key);
    ctx.client_ip = Some(ip);
    let deadline = s.app.config.limits.request_timeout;
    let (mut resp, outcome) = match tokio::time::timeout(deadline, s.schema.execute(req.data(ctx)))
        .await
    {
        // Mutations commit: each mutation field ran in its own savepoint, so a failed one
        // left nothing.
        Ok(resp) if is_mutation => (resp, Outcome::Commit),
        Ok(resp) => (resp, Outcome::Rollback),
        Err(_) => {
            let message = if tenant.wrote_outside() {
                format!(
                    "the operation did not finish within {} s and its transaction was rolled back, but a reservation of it was already being written by a group commit and may have been made: look it up by its referenceId before retrying",
                    deadline.as_secs()
                )
            } else {
                format!(
                    "the operation did not finish within {} s and was rolled back",
                    deadline.as_secs()
                )
            };
            let err = AppError::Limit {
                code: "REQUEST_TIMEOUT",
                message,
            };
            let err = crate::error::operation_error(err);
            (GqlResponse::from_errors(vec![err]), Outcome::Rollback)
        }
    };
    failpoint(&s, is_mutation, "commit:before");
    match tenant.finish(outcome).await {
        Ok(effects) => {
            failpoint(&s, is_mutation, "commit:after");
            crate::after_commit::run(&s.app, effects).await;
        }
        Err(e) => {
            let err = crate::error::operation_error(e);
            resp = GqlResponse::from_errors(vec![err]);
        }
    }
    resp
}

fn rate_limited(wait: std::time::Duration, request_id: Option<&str>) -> Response {
    crate::metrics::get().refused("rate");
    let secs = retry_after_secs(wait);
    let err = AppError::RateLimited {
        retry_after_secs: secs,
    };
    let body = json!({
        "errors": [{ "message": err.public_message(),
                     "extensions": { "code": err.code(), "retryAfter": secs, "requestId": request_id } }]
    });
    let mut resp = (StatusCode::TOO_MANY_REQUESTS, Json(body)).into_response();
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    resp
}

/// `POST /graphql`.
pub async fn graphql_post(
    State(s): State<HttpState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    let request_id = request_id_of(&headers);
    let rid = request_id.as_deref();
    let multipart = multipart_type(&headers);
    if !is_json(&headers) && multipart.is_none() {
        let err = AppError::invalid(
            "content-type",
            "Content-Type must be application/json (or multipart/form-data for file uploads)",
        );
        return transport_error(StatusCode::UNSUPPORTED_MEDIA_TYPE, &err, rid);
    }
    let caller = match admit(&s, peer, &headers, rid).await {
        Ok(c) => c,
        Err(resp) => return resp,
    };
    let principal = &caller.principal;
    let limit = &caller.limit;
    // Uploads are for authenticated callers only (a cross-site form can send multipart but never
    // an Authorization header), and may be larger than a JSON body.
    if multipart.is_some() && principal.is_none() {
        return transport_error(StatusCode::UNAUTHORIZED, &AppError::Unauthenticated, rid);
    }
    let max = if multipart.is_some() {
        s.app.config.max_upload_bytes
    } else {
        s.app.config.max_body_bytes
    };
    let Ok(body) = axum::body::to_bytes(body, max).await else {
        let err = AppError::Limit {
            code: "BODY_TOO_LARGE",
            message: format!("the request body is larger than {max} bytes"),
        };
        return transport_error(StatusCode::PAYLOAD_TOO_LARGE, &err, rid);
    };
    let batch = match &multipart {
        None => serde_json::from_slice::<BatchRequest>(&body)
            .map_err(|_| AppError::invalid("body", "the body is not a GraphQL request in JSON")),
        Some(content_type) if too_many_parts(content_type, &body) => {
            let err = AppError::Limit {
                code: "TOO_MANY_PARTS",
                message: format!(
                    "a multipart request carries `operations`, `map` and at most {MAX_UPLOAD_FILES} files"
                ),
            };
            return transport_error(StatusCode::PAYLOAD_TOO_LARGE, &err, rid);
        }
        Some(content_type) => {
            let opts = async_graphql::http::MultipartOptions::default()
                .max_file_size(max)
                .max_num_files(MAX_UPLOAD_FILES);
            async_graphql::http::receive_batch_body(Some(content_type.as_str()), &body[..], opts)
                .await
                .map_err(|e| AppError::invalid("body", format!("bad multipart request: {e}")))
        }
    };
    let batch = match batch {
        Ok(b) => b,
        Err(err) => return transport_error(StatusCode::BAD_REQUEST, &err, rid),
    };
    // The check above counted one request; a batch counts as many as it holds.
    if let BatchRequest::Batch(reqs) = &batch
        && reqs.len() > 1
        && reqs.len() <= s.app.config.limits.max_batch
    {
        let extra = u32::try_from(reqs.len() - 1).unwrap_or(u32::MAX);
        if let Err(wait) = s.app.rate.check_n(limit, extra).await {
            return rate_limited(wait, rid);
        }
    }
    match batch {
        BatchRequest::Single(req) => {
            let resp = run_one(&s, &caller, request_id, req, Method::Post).await;
            let status = transport_status(std::slice::from_ref(&resp));
            with_status(Json(resp).into_response(), status)
        }
        BatchRequest::Batch(reqs) if reqs.len() > s.app.config.limits.max_batch => {
            let err = AppError::Limit {
                code: "BATCH_TOO_LARGE",
                message: format!(
                    "at most {} operations per batch",
                    s.app.config.limits.max_batch
                ),
            };
            transport_error(StatusCode::BAD_REQUEST, &err, rid)
        }
        BatchRequest::Batch(reqs) => {
            let mut out = Vec::with_capacity(reqs.len());
            for req in reqs {
                out.push(run_one(&s, &caller, request_id.clone(), req, Method::Post).await);
            }
            let status = transport_status(&out);
            with_status(Json(BatchResponse::Batch(out)).into_response(), status)
        }
    }
}

/// The HTTP status an operation's outcome calls for beyond 200: 503 (with the longest
/// `retryAfter`) when a dependency was unavailable, 408 when the operation ran out of time.
fn transport_status(responses: &[GqlResponse]) -> Option<(StatusCode, Option<u64>)> {
    let codes = responses
        .iter()
        .flat_map(|r| r.errors.iter())
        .filter_map(|e| e.extensions.as_ref());
    let mut timeout = false;
    let mut get_mutation = false;
    let mut unavailable: Option<u64> = None;
    for x in codes {
        match x.get("code") {
            Some(async_graphql::Value::String(c)) if c == "SERVICE_UNAVAILABLE" => {
                let secs = match x.get("retryAfter") {
                    Some(async_graphql::Value::Number(n)) => n.as_u64().unwrap_or(1),
                    _ => 1,
                };
                unavailable = Some(unavailable.map_or(secs, |s| s.max(secs)));
            }
            Some(async_graphql::Value::String(c)) if c == "REQUEST_TIMEOUT" => timeout = true,
            Some(async_graphql::Value::String(c)) if c == "METHOD_NOT_ALLOWED" => {
                get_mutation = true;
            }
            _ => {}
        }
    }
    match (unavailable, timeout) {
        (Some(secs), _) => Some((StatusCode::SERVICE_UNAVAILABLE, Some(secs))),
        (None, true) => Some((StatusCode::REQUEST_TIMEOUT, None)),
        (None, false) if get_mutation => Some((StatusCode::METHOD_NOT_ALLOWED, None)),
        (None, false) => None,
    }
}

/// Applies [`transport_status`] (with Retry-After on 503, which clients and load balancers
/// honour, and Allow on 405); the GraphQL body is unchanged.
fn with_status(mut resp: Response, status: Option<(StatusCode, Option<u64>)>) -> Response {
    if let Some((code, retry_after)) = status {
        *resp.status_mut() = code;
        if code == StatusCode::METHOD_NOT_ALLOWED {
            resp.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("POST"));
        }
        if let Some(secs) = retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
        }
    }
    resp
}
