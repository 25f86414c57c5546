//! The async-graphql extension that enforces depth, alias and cost limits: the analysis
//! ([`crate::limits::analysis`]) before validation, the charge to the caller's bucket
//! ([`CostLimiter`]) after it, the refund of the unused estimate and `extensions.cost` after
//! execution.

use super::RequestCtx;
use crate::error::AppError;
use crate::limits::analysis::{self, Analysis};
use crate::limits::cost::CostLimiter;
use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextPrepareRequest, NextRequest,
    NextValidation,
};
use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{Request, Response, ServerError, ServerResult, ValidationResult, Variables};
use std::sync::{Arc, Mutex};

/// Per-request state of the cost extension.
#[derive(Default)]
struct State {
    operation_name: Option<String>,
    /// Validation passed: only then is a cost reported (an estimate of an invalid document would
    /// tell a prober which guessed fields exist).
    validated: bool,
    analysis: Option<Analysis>,
    charged: Option<(String, u64)>,
    available: Option<f64>,
}

/// The async-graphql extension that enforces depth, alias and cost limits.
pub struct CostExtension {
    /// Buckets (absent when building the schema for SDL export).
    pub limiter: Option<Arc<CostLimiter>>,
    /// Deepest nesting allowed.
    pub max_depth: usize,
    /// Most aliases allowed.
    pub max_aliases: usize,
}

impl ExtensionFactory for CostExtension {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(CostRun {
            limiter: self.limiter.clone(),
            max_depth: self.max_depth,
            max_aliases: self.max_aliases,
            state: Mutex::new(State::default()),
        })
    }
}

struct CostRun {
    limiter: Option<Arc<CostLimiter>>,
    max_depth: usize,
    max_aliases: usize,
    state: Mutex<State>,
}

/// A refusal of the whole operation: it has no position in the document, so it carries no
/// `locations` (the spec's lines start at 1; a `0:0` location would be invalid).
fn refuse(err: AppError) -> ServerError {
    crate::error::operation_error(err)
}

impl CostRun {
    fn with_state<T>(&self, f: impl FnOnce(&mut State) -> T) -> Option<T> {
        self.state.lock().ok().map(|mut s| f(&mut s))
    }
}

#[async_trait::async_trait]
impl Extension for CostRun {
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        let name = request.operation_name.clone();
        self.with_state(|s| s.operation_name = name);
        next.run(ctx, request).await
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let doc = next.run(ctx, query, variables).await?;
        let name = self.with_state(|s| s.operation_name.clone()).flatten();
        let a = analysis::analyze(&doc, name.as_deref(), &ctx.schema_env.registry, variables);
        self.with_state(|s| s.analysis = Some(a.clone()));
        if a.aliases > self.max_aliases {
            return Err(refuse(AppError::Limit {
                code: "TOO_MANY_ALIASES",
                message: format!(
                    "{} aliases; at most {} are allowed",
                    a.aliases, self.max_aliases
                ),
            }));
        }
        if a.introspection_lists > analysis::MAX_INTROSPECTION_LISTS {
            return Err(refuse(AppError::Limit {
                code: "MAX_DEPTH_EXCEEDED",
                message: format!(
                    "introspection nests lists of types or fields {} deep; at most {} is allowed",
                    a.introspection_lists,
                    analysis::MAX_INTROSPECTION_LISTS
                ),
            }));
        }
        if a.depth > self.max_depth {
            return Err(refuse(AppError::Limit {
                code: "MAX_DEPTH_EXCEEDED",
                message: format!(
                    "nesting depth {}; at most {} is allowed",
                    a.depth, self.max_depth
                ),
            }));
        }
        Ok(doc)
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        let result = next.run(ctx).await?;
        self.with_state(|s| s.validated = true);
        let (Some(limiter), Some(rc)) = (&self.limiter, ctx.data_opt::<RequestCtx>()) else {
            return Ok(result);
        };
        let Some(a) = self.with_state(|s| s.analysis.clone()).flatten() else {
            return Ok(result);
        };
        let max = u64::from(limiter.config().max);
        if a.cost > max {
            return Err(vec![refuse(AppError::Limit {
                code: "MAX_COST_EXCEEDED",
                message: format!(
                    "query cost {} exceeds the maximum of {max}; ask for fewer items (first/last) or split the query",
                    a.cost
                ),
            })]);
        }
        let key = rc.limit_key();
        let take = limiter
            .charge(&key, i64::try_from(a.cost).unwrap_or(i64::MAX))
            .await;
        self.with_state(|s| s.available = Some(take.available));
        if !take.admitted {
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let retry = take.wait_secs.ceil().max(1.0) as u64;
            return Err(vec![refuse(AppError::Throttled {
                retry_after_secs: retry,
            })]);
        }
        self.with_state(|s| s.charged = Some((key, a.cost)));
        Ok(result)
    }

    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let mut resp = next.run(ctx).await;
        let Some(limiter) = &self.limiter else {
            return resp;
        };
        let (analysis, charged, mut available, validated) = self
            .with_state(|s| {
                (
                    s.analysis.take(),
                    s.charged.take(),
                    s.available,
                    s.validated,
                )
            })
            .unwrap_or((None, None, None, false));
        let Some(a) = analysis.filter(|_| validated) else {
            return resp;
        };
        let mut actual = None;
        if let Some((key, requested)) = charged {
            let real = analysis::actual_cost(&a.plan, &resp.data, a.mutation).min(requested);
            actual = Some(real);
            let refund = i64::try_from(requested - real).unwrap_or(0);
            if let Some(after_charge) = available {
                available = Some(limiter.refund(&key, refund, after_charge));
            }
        }
        let cfg = limiter.config();
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let cost = async_graphql::Value::from_json(serde_json::json!({
            "requestedQueryCost": a.cost,
            "actualQueryCost": actual,
            "throttleStatus": {
                "maximumAvailable": cfg.max,
                "currentlyAvailable": available.map(|v| v.max(0.0).floor() as u64),
                "restoreRate": cfg.restore_rate,
            }
        }))
        .unwrap_or_default();
        resp.extensions.insert("cost".to_owned(), cost);
        resp
    }
}
