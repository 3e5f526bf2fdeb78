//! The browsable API: Swagger UI at `/docs` (and `/swagger-ui.html`, where the Java reference
//! serves it), from assets compiled into the binary, reading the same `/api-docs` document.

use axum::response::Redirect;
use axum::routing::get;
use axum::Router;
use utoipa_swagger_ui::{Config, SwaggerUi};

use crate::AppState;

/// Where the page lives.
pub(crate) const DOCS: &str = "/docs";

pub(crate) fn router() -> Router<AppState> {
    // The page loads `/api-docs` from this server; "Authorize" takes the API key, which the
    // page then sends as a Bearer token and keeps across reloads.
    let config = Config::from("/api-docs")
        .try_it_out_enabled(true)
        .persist_authorization(true)
        .display_request_duration(true)
        // No badge fetched from validator.swagger.io: the page talks to this server only.
        .validator_url("none");
    Router::from(SwaggerUi::new(DOCS).config(config))
        .route("/swagger-ui.html", get(|| async { Redirect::to("/docs/") }))
}
