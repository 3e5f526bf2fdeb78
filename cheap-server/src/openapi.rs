//! The OpenAPI document, generated from the handlers' annotations.

use utoipa::OpenApi;

use crate::routes;
use cheap_core::rest::*;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Cheap REST API",
        version = "0.1",
        license(name = "Apache-2.0")
    ),
    paths(
        routes::catalog::create,
        routes::catalog::list,
        routes::catalog::get,
        routes::catalog::delete,
        routes::aspect_def::create,
        routes::aspect_def::list,
        routes::aspect_def::get,
        routes::aspect_def::delete,
        routes::aspect::upsert_or_query,
        aspect_query,
        routes::hierarchy::create,
        routes::hierarchy::get,
        routes::hierarchy::delete,
        routes::hierarchy::add_entities,
        routes::hierarchy::remove_entities,
        routes::hierarchy::add_entries,
        routes::hierarchy::remove_entries,
        routes::hierarchy::add_nodes,
        routes::hierarchy::remove_nodes,
        routes::system::health,
        routes::system::metrics,
        routes::system::api_docs,
        routes::transfer::export,
        routes::transfer::import,
        routes::system::stream,
        routes::transfer::task,
        routes::replica::catalog_info,
        routes::replica::list_hierarchies,
        routes::replica::changes,
        routes::events::events,
        routes::replica::aspect_changes,
        routes::replica::delete_aspects,
        routes::replica::slice,
        routes::replica::get_sync_mark,
        routes::replica::put_sync_mark,
        routes::batch::apply,
    ),
    components(schemas(
        CatalogInfoResponse,
        HierarchyInfoResponse,
        ChangesResponse,
        ChangeEventBody,
        AspectMapChangesBody,
        AspectChangesResponse,
        HierarchySliceResponse,
        SyncMarkBody,
        CreateCatalogRequest,
        CreateCatalogResponse,
        CatalogListResponse,
        GetCatalogDefResponse,
        CreateAspectDefResponse,
        AspectDefListResponse,
        AspectInput,
        UpsertAspectsRequest,
        AspectResult,
        UpsertAspectsResponse,
        AspectQueryRequest,
        AspectQueryResponse,
        CreateHierarchyRequest,
        CreateHierarchyResponse,
        EntityListResponse,
        EntityDirectoryResponse,
        EntityTreeResponse,
        AspectMapResponse,
        EntityIdsRequest,
        AddDirectoryEntriesRequest,
        RemoveDirectoryEntriesRequest,
        AddTreeNodesRequest,
        RemoveTreeNodesRequest,
        OperationResponse,
        TreeOperationResponse,
        ImportResponse,
        HealthResponse,
        PageInfo,
        FieldError,
        ErrorBody,
        TaskStatus,
        BatchRequest,
        BatchOperation,
        BatchResponse,
        BatchOperationResult,
        BatchAspectResult,
        UnavailableReason,
    )),
    modifiers(&Conventions)
)]
struct ApiDoc;

/// `get_catalog_by_catalog_id_aspect_defs` for `GET /api/catalog/{catalog_id}/aspect-defs`.
fn operation_id(method: &str, path: &str) -> String {
    let mut id = method.to_owned();
    for seg in path.split('/').filter(|s| !s.is_empty() && *s != "api") {
        id.push('_');
        match seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            Some(param) => {
                id.push_str("by_");
                id.push_str(param);
            }
            None => id.push_str(&seg.replace(['-', '.'], "_")),
        }
    }
    id
}

/// The resource a handler's module serves, as the page groups it.
fn tag(module_tags: &[String]) -> &'static str {
    match module_tags.first().map(String::as_str).unwrap_or_default() {
        t if t.ends_with("aspect_def") => "Aspect defs",
        t if t.ends_with("aspect") || t.ends_with("openapi") => "Aspects",
        t if t.ends_with("catalog") => "Catalogs",
        t if t.ends_with("hierarchy") => "Hierarchies",
        t if t.ends_with("replica") => "Replication",
        _ => "System",
    }
}

/// `POST .../aspects/query` is served by the upsert handler (a body without `aspects` is a
/// query), so it is declared here on its own: one path, one operation in the document.
#[utoipa::path(post, path = "/api/catalog/{catalog_id}/aspects/query", request_body = AspectQueryRequest,
    responses((status = 200, body = AspectQueryResponse), (status = 400), (status = 404)))]
#[allow(dead_code)]
fn aspect_query() {}

/// What every operation shares: the optional API key, and the error answers any route can give
/// (each with the error body), added once here instead of on each handler.
struct Conventions;

impl utoipa::Modify for Conventions {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{
            HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
        };
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};

        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "apiKey",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "The server's API key (`cheap serve --api-key`), when it has one",
                    ))
                    .build(),
            ),
        );
        let error = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ErrorBody")))
                        .build(),
                )
                .build()
        };
        for (path, item) in doc.paths.paths.iter_mut() {
            let open = crate::auth::is_public(path);
            let has_params = path.contains('{');
            let ops = [
                ("get", item.get.as_mut()),
                ("post", item.post.as_mut()),
                ("put", item.put.as_mut()),
                ("delete", item.delete.as_mut()),
            ];
            for (method, op) in ops {
                let Some(op) = op else { continue };
                // Handler names repeat across resources (`list`, `get`); method and path do not.
                op.operation_id = Some(operation_id(method, path));
                // utoipa tags an operation with its handler's module path; readers want the
                // resource.
                op.tags = Some(vec![tag(op.tags.as_deref().unwrap_or_default()).to_owned()]);
                // The key is needed only when the server has one: optional ({}) or bearer.
                op.security = Some(if open {
                    vec![SecurityRequirement::default()]
                } else {
                    vec![
                        SecurityRequirement::new("apiKey", Vec::<String>::new()),
                        SecurityRequirement::default(),
                    ]
                });
                let writes = method != "get";
                let takes_input =
                    has_params || writes || op.parameters.as_ref().is_some_and(|p| !p.is_empty());
                let mut add = |status: &str, description: &str| {
                    let r = &mut op.responses.responses;
                    match r.get_mut(status) {
                        // A bare status from a handler's annotation gets its description
                        // and the error body.
                        Some(utoipa::openapi::RefOr::T(resp))
                            if resp.content.is_empty() && resp.description.is_empty() =>
                        {
                            *resp = error(description);
                        }
                        Some(_) => {}
                        None => {
                            r.insert(status.to_owned(), error(description).into());
                        }
                    }
                };
                if takes_input {
                    add("400", "The request is malformed or breaks a limit");
                }
                if !open {
                    add(
                        "401",
                        "The server has an API key and the request does not carry it",
                    );
                    add(
                        "503",
                        "The store is down or busy; retry after Retry-After seconds",
                    );
                }
                if has_params {
                    add(
                        "404",
                        "The catalog, or what the path names in it, does not exist",
                    );
                }
                if !crate::rate_limit::exempt(path) {
                    add(
                        "429",
                        "Over the server's rate limit (when it has one); retry after Retry-After seconds",
                    );
                }
                if writes {
                    add("409", "The change conflicts with what is stored");
                    add("413", "The request body is larger than the server accepts");
                    add("408", "The request body was not received in time");
                }
                conditions(op, method, path, &error);
            }
        }
    }
}

/// The validators of a catalog's resources: `If-None-Match` and 304 on its reads (and the
/// aspect query), `If-Match` and 412 on the writes that can be conditional, and `ETag` on
/// their answers.
fn conditions(
    op: &mut utoipa::openapi::path::Operation,
    method: &str,
    path: &str,
    error: &dyn Fn(&str) -> utoipa::openapi::Response,
) {
    use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
    use utoipa::openapi::{HeaderBuilder, ObjectBuilder, Required, ResponseBuilder, Type};
    if crate::etag::versioned_tail(path).is_none() {
        return;
    }
    let string = || ObjectBuilder::new().schema_type(Type::String);
    let header = |name: &str, description: &str| {
        ParameterBuilder::new()
            .name(name)
            .parameter_in(ParameterIn::Header)
            .required(Required::False)
            .description(Some(description))
            .schema(Some(string()))
            .build()
    };
    let axum_method = axum::http::Method::from_bytes(method.to_uppercase().as_bytes())
        .unwrap_or(axum::http::Method::GET);
    let read = method == "get" || path.ends_with("/aspects/query");
    let conditional_write = !read && crate::etag::takes_if_match(&axum_method, path);
    let params = op.parameters.get_or_insert_with(Vec::new);
    let r = &mut op.responses.responses;
    if read {
        params.push(header(
            "If-None-Match",
            "An ETag of this catalog's: 304 with no body when the catalog is still at it",
        ));
        r.insert(
            "304".to_owned(),
            ResponseBuilder::new()
                .description("Not modified: the catalog is still at the version the tag names")
                .build()
                .into(),
        );
    } else if conditional_write {
        params.push(header(
            "If-Match",
            "An ETag of this catalog's: the write applies only while the catalog is at it",
        ));
        r.insert(
            "412".to_owned(),
            error("The catalog is no longer at the version If-Match names; nothing was changed")
                .into(),
        );
    } else {
        return;
    }
    // The answers carry the catalog version's tag.
    let etag = HeaderBuilder::new()
        .schema(string())
        .description(Some(
            "The catalog's version as an entity tag, such as \"v12\"",
        ))
        .build();
    for (status, resp) in r.iter_mut() {
        if let (true, utoipa::openapi::RefOr::T(resp)) = (status.starts_with('2'), resp) {
            resp.headers.insert("ETag".to_owned(), etag.clone());
        }
    }
}

/// The OpenAPI 3 document as JSON.
pub fn openapi_json() -> String {
    let mut doc = ApiDoc::openapi();
    declare_path_parameters(&mut doc);
    doc.to_json().unwrap_or_else(|_| "{}".into())
}

/// Declares every `{name}` segment of every path as a required string path parameter, once,
/// instead of repeating it on each handler (tools that generate requests from the document,
/// such as schemathesis, need them).
fn declare_path_parameters(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
    use utoipa::openapi::{KnownFormat, ObjectBuilder, Required, SchemaFormat, Type};
    for (path, item) in doc.paths.paths.iter_mut() {
        let mut params = item.parameters.take().unwrap_or_default();
        for name in path
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        {
            if !params.iter().any(|p| p.name == name) {
                let mut schema = ObjectBuilder::new().schema_type(Type::String);
                if name.ends_with("_id") {
                    schema = schema.format(Some(SchemaFormat::KnownFormat(KnownFormat::Uuid)));
                }
                params.push(
                    ParameterBuilder::new()
                        .name(name)
                        .parameter_in(ParameterIn::Path)
                        .required(Required::True)
                        .schema(Some(schema))
                        .build(),
                );
            }
        }
        if !params.is_empty() {
            item.parameters = Some(params);
        }
    }
}
