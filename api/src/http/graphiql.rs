//! GraphiQL, served entirely by the binary: the page, GraphiQL 3.9.0, React 18.3.1 and
//! graphql-ws 5.16.2 (their published UMD builds, unmodified, in `api/assets/graphiql/` with
//! their licences and checksums) are compiled in, so it works on a machine without internet.
//! Subscriptions go over `/graphql/ws`; the headers editor (Authorization) is kept in the
//! browser's storage. With introspection on, the schema is also served as SDL at
//! `/graphql/schema.graphql` (for codegen and for the page's link).

use crate::config::Config;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

/// (file name, content type, bytes). The names carry the versions, so they are cached forever.
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "graphiql-3.9.0.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/graphiql/graphiql-3.9.0.min.js"),
    ),
    (
        "graphiql-3.9.0.min.css",
        "text/css; charset=utf-8",
        include_bytes!("../../assets/graphiql/graphiql-3.9.0.min.css"),
    ),
    (
        "react-18.3.1.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/graphiql/react-18.3.1.min.js"),
    ),
    (
        "react-dom-18.3.1.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/graphiql/react-dom-18.3.1.min.js"),
    ),
    (
        "graphql-ws-5.16.2.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/graphiql/graphql-ws-5.16.2.min.js"),
    ),
    (
        // Ours; its name changes with its content (see `page`).
        MERCATO_JS,
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/graphiql/mercato-graphiql.js"),
    ),
];

/// Our setup script's name (bump the number when the script changes).
const MERCATO_JS: &str = "mercato-graphiql-2.js";

/// Where the assets are served.
pub const ASSET_PREFIX: &str = "/graphql/assets";

/// The page: no inline script (the Content-Security-Policy allows only this server's scripts).
pub fn page(config: &Config) -> Response {
    let docs = if config.limits.introspection {
        r#"<a href="/graphql/schema.graphql">schema.graphql</a> · "#
    } else {
        ""
    };
    let html = format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Mercato GraphQL</title>
<link rel="stylesheet" href="{p}/graphiql-3.9.0.min.css">
<style>
  html, body {{ height: 100%; margin: 0; }}
  body {{ display: flex; flex-direction: column; font-family: system-ui, sans-serif; }}
  #bar {{ padding: 4px 12px; font-size: 13px; border-bottom: 1px solid #ddd; }}
  #graphiql {{ flex: 1; min-height: 0; }}
</style>
</head>
<body>
<div id="bar">Mercato GraphQL · {docs}the schema reference is in the Docs pane (book icon, left) ·
subscriptions run over <code>/graphql/ws</code> · log in with <code>logIn</code>, then put
<code>Bearer &lt;accessToken&gt;</code> in the Authorization header below (kept in this browser)</div>
<div id="graphiql">Loading…</div>
<script src="{p}/react-18.3.1.min.js"></script>
<script src="{p}/react-dom-18.3.1.min.js"></script>
<script src="{p}/graphql-ws-5.16.2.min.js"></script>
<script src="{p}/graphiql-3.9.0.min.js"></script>
<script src="{p}/{MERCATO_JS}"></script>
</body>
</html>
"#,
        p = ASSET_PREFIX,
    );
    let mut resp = Html(html).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
             img-src 'self' data:; font-src 'self' data:; connect-src 'self' ws: wss:; \
             frame-ancestors 'none'",
        ),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

/// `GET /graphql/assets/{name}` (when GraphiQL is on).
pub async fn asset(
    axum::extract::State(s): axum::extract::State<super::HttpState>,
    Path(name): Path<String>,
) -> Response {
    if !s.app.config.graphiql {
        return StatusCode::NOT_FOUND.into_response();
    }
    let Some((_, content_type, bytes)) = ASSETS.iter().find(|(n, _, _)| *n == name) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    (
        [
            (header::CONTENT_TYPE, *content_type),
            (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        *bytes,
    )
        .into_response()
}

/// `GET /graphql/schema.graphql`: the schema in SDL, when introspection is on.
pub async fn schema_sdl(
    axum::extract::State(s): axum::extract::State<super::HttpState>,
) -> Response {
    if !s.app.config.limits.introspection {
        return StatusCode::NOT_FOUND.into_response();
    }
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        s.schema.sdl(),
    )
        .into_response()
}
