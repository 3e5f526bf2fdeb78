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
        routes::system::export,
        routes::system::import,
        routes::system::stream,
        routes::replica::catalog_info,
        routes::replica::list_hierarchies,
        routes::replica::changes,
        routes::replica::aspect_changes,
        routes::replica::delete_aspects,
        routes::replica::slice,
        routes::replica::get_sync_mark,
        routes::replica::put_sync_mark,
    ),
    components(schemas(
        CatalogInfoResponse,
        HierarchyInfoResponse,
        ChangesResponse,
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
    ))
)]
struct ApiDoc;

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
