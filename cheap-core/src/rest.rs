//! Request and response bodies of the REST API, in the reference's camelCase shapes, shared by
//! the server and the clients. Request bodies reject unknown fields. Model objects inside them
//! (catalog defs, aspect defs, aspects) are cheap-json, read with [`crate::json`]. Feature
//! `openapi` derives their OpenAPI schemas.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::error::NotFound;

/// `POST /api/catalog`.
#[derive(Debug, Serialize, Deserialize, Clone)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateCatalogRequest {
    /// cheap-json CatalogDef: `{"aspectDefs": [...], "hierarchyDefs": [...]}`.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub catalog_def: Option<Value>,
    /// SOURCE, SINK, MIRROR, CACHE, CLONE or FORK.
    pub species: String,
    /// Upstream catalog, required by MIRROR, CACHE, CLONE and FORK.
    pub upstream: Option<Uuid>,
}

/// Answer to `POST /api/catalog`.
#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct CreateCatalogResponse {
    /// The new catalog's id.
    pub catalog_id: Uuid,
    /// Where the catalog is served.
    pub uri: String,
    /// "Catalog created successfully".
    pub message: String,
}

/// Paging fields shared by list answers.
#[derive(Debug, Serialize, Deserialize, Clone, Copy)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct PageInfo {
    /// Zero-based page.
    pub page: u64,
    /// Page size.
    pub size: u64,
    /// Items in all pages.
    pub total_elements: u64,
    /// Number of pages.
    pub total_pages: u64,
}

/// `GET /api/catalog`.
#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct CatalogListResponse {
    /// Catalog ids of this page, in UUID order.
    pub catalog_ids: Vec<Uuid>,
    /// Paging.
    #[serde(flatten)]
    pub page: PageInfo,
}

/// `GET /api/catalog/{id}`.
#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct GetCatalogDefResponse {
    /// Hierarchy defs (aspect maps excluded): `{name, type}`.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Object>))]
    pub hierarchy_defs: Vec<Value>,
    /// cheap-json aspect defs.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Object>))]
    pub aspect_defs: Vec<Value>,
}

/// `POST /api/catalog/{id}/aspect-defs`.
#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct CreateAspectDefResponse {
    /// The def's global id.
    pub aspect_def_id: Uuid,
    /// The def's name.
    pub aspect_def_name: String,
    /// "AspectDef created successfully".
    pub message: String,
}

/// `GET /api/catalog/{id}/aspect-defs`.
#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct AspectDefListResponse {
    /// The catalog.
    pub catalog_id: Uuid,
    /// cheap-json aspect defs of this page.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Object>))]
    pub aspect_defs: Vec<Value>,
    /// Paging.
    #[serde(flatten)]
    pub page: PageInfo,
}

/// One aspect to upsert.
#[derive(Debug, Serialize, Deserialize, Clone)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AspectInput {
    /// The entity.
    pub entity_id: Uuid,
    /// Property values; properties left out keep their stored values.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub properties: serde_json::Map<String, Value>,
}

/// `POST /api/catalog/{id}/aspects/{aspectDefName}`.
#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpsertAspectsRequest {
    /// The aspects.
    pub aspects: Vec<AspectInput>,
    /// `false` keeps the stored values of the properties an item leaves out (as `?merge=true`
    /// does); `true` or absent replaces each stored aspect with the item, as the reference does
    /// (an extension).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replace: Option<bool>,
}

/// The outcome for one upserted aspect.
#[derive(Debug, Serialize, Deserialize, Clone)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct AspectResult {
    /// The entity.
    pub entity_id: Uuid,
    /// Whether it was stored.
    pub success: bool,
    /// Whether the entity had no aspect of this def before.
    pub created: bool,
    /// "Aspect created", "Aspect updated" or what was wrong.
    pub message: String,
}

/// Answer to an upsert: 200 when every item succeeded, 207 otherwise.
#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct UpsertAspectsResponse {
    /// The catalog.
    pub catalog_id: Uuid,
    /// The aspect def.
    pub aspect_def_name: String,
    /// One result per item, in request order.
    pub results: Vec<AspectResult>,
    /// Items stored.
    pub success_count: u64,
    /// Items refused.
    pub failure_count: u64,
}

/// `POST /api/catalog/{id}/aspects/query`.
#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AspectQueryRequest {
    /// Entities to look up.
    pub entity_ids: Vec<Uuid>,
    /// Aspect defs to look in.
    pub aspect_def_names: Vec<String>,
}

/// Answer to a query: one aspect map per def with hits.
#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct AspectQueryResponse {
    /// The catalog.
    pub catalog_id: Uuid,
    /// `{"aspectDef": name, "contents": {entity: aspect}}` per def.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Object>))]
    pub results: Vec<Value>,
}

/// `POST /api/catalog/{id}/hierarchies`.
#[derive(Debug, Serialize, Deserialize, Clone)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateHierarchyRequest {
    /// `{"name": ..., "type": "EL"|"ES"|"ED"|"ET"}`.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub hierarchy_def: Value,
}

/// Answer to hierarchy creation.
#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct CreateHierarchyResponse {
    /// The hierarchy.
    pub hierarchy_name: String,
    /// Always true.
    pub success: bool,
    /// "Hierarchy created successfully".
    pub message: String,
}

/// An entity list or set page.
#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct EntityListResponse {
    /// The catalog.
    pub catalog_id: Uuid,
    /// The hierarchy.
    pub hierarchy_name: String,
    /// Entities of this page, in order.
    pub entity_ids: Vec<Uuid>,
    /// Paging (`page` is 0 when read by cursor).
    #[serde(flatten)]
    pub page: PageInfo,
    /// When read by cursor (`after`): where the next page starts; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// An entity directory page.
#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct EntityDirectoryResponse {
    /// The catalog.
    pub catalog_id: Uuid,
    /// The hierarchy.
    pub hierarchy_name: String,
    /// Entries of this page, in order.
    pub content: IndexMap<String, Uuid>,
    /// Paging (`page` is 0 when read by cursor).
    #[serde(flatten)]
    pub page: PageInfo,
    /// When read by cursor (`after`): where the next page starts; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// A whole entity tree.
#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct EntityTreeResponse {
    /// The catalog.
    pub catalog_id: Uuid,
    /// The hierarchy.
    pub hierarchy_name: String,
    /// The root: `{"entityId"?: uuid, "children"?: {name: node}}`.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub root: Value,
}

/// An aspect map page.
#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct AspectMapResponse {
    /// The catalog.
    pub catalog_id: Uuid,
    /// The hierarchy.
    pub hierarchy_name: String,
    /// The aspect def (the hierarchy's name).
    pub aspect_def_name: String,
    /// Aspects of this page by entity, in order.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub content: serde_json::Map<String, Value>,
    /// Paging (`page` is 0 when read by cursor).
    #[serde(flatten)]
    pub page: PageInfo,
    /// When read by cursor (`after`): where the next page starts; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// Entity ids to add to or remove from a list or set.
#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EntityIdsRequest {
    /// The entities.
    pub entity_ids: Vec<Uuid>,
    /// Adding to a list: insert at this position instead of appending (an extension).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<u64>,
}

/// Directory entries to add.
#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AddDirectoryEntriesRequest {
    /// Name to entity.
    pub entries: IndexMap<String, Uuid>,
}

/// Directory entries to remove: exactly one of the two.
#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RemoveDirectoryEntriesRequest {
    /// Names to remove.
    pub names: Option<Vec<String>>,
    /// Remove every name pointing at one of these.
    pub entity_ids: Option<Vec<Uuid>>,
}

/// Tree nodes to add.
#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AddTreeNodesRequest {
    /// Parent node path; null or "" is the root.
    pub parent_path: Option<String>,
    /// Child name to entity (null for a node without one).
    pub nodes: IndexMap<String, Option<Uuid>>,
}

/// Tree subtrees to remove.
#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RemoveTreeNodesRequest {
    /// Node paths.
    pub paths: Vec<String>,
}

/// Answer to a list, set or directory change.
#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct OperationResponse {
    /// The catalog.
    pub catalog_id: Uuid,
    /// The hierarchy.
    pub hierarchy_name: String,
    /// "add" or "remove".
    pub operation: String,
    /// Entries affected.
    pub count: u64,
    /// What happened.
    pub message: String,
}

/// Answer to a tree change.
#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct TreeOperationResponse {
    /// The catalog.
    pub catalog_id: Uuid,
    /// The hierarchy.
    pub hierarchy_name: String,
    /// "add" or "remove".
    pub operation: String,
    /// Nodes affected (removals count descendants).
    pub nodes_affected: u64,
    /// What happened.
    pub message: String,
}

/// Answer to an import.
#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ImportResponse {
    /// The catalog.
    pub catalog_id: Uuid,
    /// Its version after the import.
    pub version: i64,
    /// "Catalog imported successfully".
    pub message: String,
}

/// Health.
#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HealthResponse {
    /// "UP" or "DOWN".
    pub status: String,
    /// What the store says about itself (a Galera node: its cluster state); absent when
    /// there is nothing to say.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub details: IndexMap<String, String>,
}

/// One field error of a 400 response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FieldError {
    /// The request field, such as `catalogDef.hierarchyDefs[0].name`.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

/// The error body of every error answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    /// When, as an RFC 3339 instant.
    pub timestamp: String,
    /// HTTP status.
    pub status: u16,
    /// HTTP reason phrase.
    pub error: String,
    /// What went wrong.
    pub message: String,
    /// The request path.
    pub path: String,
    /// Field errors of a validation failure.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// What a 404 did not find (a cheap-rs extension; the reference's body has no such key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub missing: Option<NotFound>,
    /// Why a 503 happened (a cheap-rs extension), so a client can tell contention (nothing
    /// was applied; the server works) from an outage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<UnavailableReason>,
    /// For a refused batch: the index (from 0) of the operation that failed (an extension).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<usize>,
    /// For a 412: the catalog's version, which the condition did not match (an extension).
    #[serde(
        default,
        rename = "currentVersion",
        skip_serializing_if = "Option::is_none"
    )]
    pub current_version: Option<i64>,
    /// For a 412: the version the condition named (an extension).
    #[serde(
        default,
        rename = "expectedVersion",
        skip_serializing_if = "Option::is_none"
    )]
    pub expected_version: Option<i64>,
}

/// Why a request was answered 503.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum UnavailableReason {
    /// The write lost races with concurrent writes, even after retries, and was not applied.
    Contention,
    /// The store is down, busy or not ready.
    Store,
    /// The server has as many connections as it takes.
    Connections,
    /// The server has as many change-event streams open as it takes.
    Streams,
}

/// A background task started by the server (a large import).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct TaskStatus {
    /// The task.
    pub task_id: Uuid,
    /// "running", "succeeded", "failed", or "interrupted" (its server stopped while it ran).
    pub status: String,
    /// The catalog the task works on.
    pub catalog_id: Option<Uuid>,
    /// The catalog's version after a successful import.
    pub version: Option<i64>,
    /// What happened (the error of a failed task).
    pub message: String,
    /// How much of its work is done (an import: bytes of the document read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub done: Option<u64>,
    /// How much work there is in all, when known (an import: the document's size).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
}

/// `GET /api/catalog/{id}/info` (an extension): a catalog's metadata and version.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct CatalogInfoResponse {
    /// The catalog.
    pub catalog_id: Uuid,
    /// Its species, upper case.
    pub species: String,
    /// Its URI.
    pub uri: Option<String>,
    /// Its upstream catalog.
    pub upstream: Option<Uuid>,
    /// Its version.
    pub version: i64,
}

/// One hierarchy in `GET /api/catalog/{id}/hierarchies` and in change lists (an extension).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct HierarchyInfoResponse {
    /// Name.
    pub name: String,
    /// Kind, as the schema code (`EL`, `ES`, `ED`, `ET`, `AM`).
    #[serde(rename = "type")]
    pub hierarchy_type: String,
    /// Version.
    pub version: i64,
    /// Entries (tree: nodes).
    pub size: u64,
}

/// `GET /api/catalog/{id}/changes?since=N` (an extension).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ChangesResponse {
    /// The catalog's current version.
    pub version: i64,
    /// Hierarchies changed after `since`.
    pub changed: Vec<HierarchyInfoResponse>,
    /// Hierarchies removed after `since`.
    pub removed: Vec<String>,
}

/// The `data` of one Server-Sent Event of `GET /api/catalog/{id}/events` (an extension).
/// The event's `event` field is `kind`, and its `id` the catalog's version after it (none for
/// `deleted`), which a reconnecting client sends back as `Last-Event-ID`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ChangeEventBody {
    /// `changed`, `resync` (re-read the catalog whole) or `deleted` (the stream ends).
    pub kind: String,
    /// `changed`: the version the changes start after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<i64>,
    /// The catalog's version after the event (not for `deleted`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
    /// Hierarchies changed after `since`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changed: Vec<HierarchyInfoResponse>,
    /// Hierarchies removed after `since`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub removed: Vec<String>,
    /// For each changed aspect map, its aspects written and deleted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aspects: Vec<AspectMapChangesBody>,
}

/// The aspects of one aspect map in a [`ChangeEventBody`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct AspectMapChangesBody {
    /// The aspect map (its def's name).
    pub name: String,
    /// The map was rewritten whole: copy it whole.
    pub rewritten: bool,
    /// Entities whose aspect was written.
    pub changed: Vec<Uuid>,
    /// Entities whose aspect was deleted.
    pub removed: Vec<Uuid>,
}

impl From<&crate::dao::ChangeEvent> for ChangeEventBody {
    fn from(e: &crate::dao::ChangeEvent) -> Self {
        use crate::dao::ChangeEvent;
        let mut body = ChangeEventBody {
            kind: String::new(),
            since: None,
            version: e.version(),
            changed: Vec::new(),
            removed: Vec::new(),
            aspects: Vec::new(),
        };
        match e {
            ChangeEvent::Changed(c) => {
                body.kind = "changed".into();
                body.since = Some(c.since);
                body.changed = c
                    .changed
                    .iter()
                    .map(|h| HierarchyInfoResponse {
                        name: h.name.clone(),
                        hierarchy_type: h.hierarchy_type.code().to_owned(),
                        version: h.version,
                        size: h.size,
                    })
                    .collect();
                body.removed = c.removed.clone();
                body.aspects = c
                    .aspects
                    .iter()
                    .map(|(name, a)| AspectMapChangesBody {
                        name: name.clone(),
                        rewritten: a.rewritten,
                        changed: a.changed.clone(),
                        removed: a.removed.clone(),
                    })
                    .collect();
            }
            ChangeEvent::Resync { .. } => body.kind = "resync".into(),
            ChangeEvent::Deleted => body.kind = "deleted".into(),
        }
        body
    }
}

impl TryFrom<ChangeEventBody> for crate::dao::ChangeEvent {
    type Error = crate::CheapError;

    fn try_from(b: ChangeEventBody) -> crate::Result<Self> {
        use crate::dao::{AspectChanges, CatalogChanges, ChangeEvent, HierarchyInfo};
        let version = |v: Option<i64>| {
            v.ok_or_else(|| {
                crate::CheapError::invalid(format!("a {} event without a version", b.kind))
            })
        };
        match b.kind.as_str() {
            "changed" => {
                let v = version(b.version)?;
                let mut c = CatalogChanges::new(b.since.unwrap_or(0), v);
                for h in b.changed {
                    c.changed.push(HierarchyInfo {
                        hierarchy_type: crate::HierarchyType::from_code(&h.hierarchy_type)?,
                        name: h.name,
                        version: h.version,
                        size: h.size,
                    });
                }
                c.removed = b.removed;
                c.aspects = b
                    .aspects
                    .into_iter()
                    .map(|a| {
                        (
                            a.name,
                            AspectChanges {
                                version: v,
                                rewritten: a.rewritten,
                                changed: a.changed,
                                removed: a.removed,
                            },
                        )
                    })
                    .collect();
                Ok(ChangeEvent::Changed(c))
            }
            "resync" => Ok(ChangeEvent::Resync {
                version: version(b.version)?,
            }),
            "deleted" => Ok(ChangeEvent::Deleted),
            other => Err(crate::CheapError::invalid(format!(
                "unknown change event '{other}'"
            ))),
        }
    }
}

/// `GET /api/catalog/{id}/aspects/{def}/changes?since=N` (an extension).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct AspectChangesResponse {
    /// The catalog's current version.
    pub version: i64,
    /// The map was rewritten whole after `since`.
    pub rewritten: bool,
    /// Entities whose aspect was written after `since`.
    pub changed: Vec<Uuid>,
    /// Entities whose aspect was deleted after `since`.
    pub removed: Vec<Uuid>,
}

/// `GET /api/catalog/{id}/hierarchies/{name}/slice?offset&limit` (an extension): a page of a
/// hierarchy as cheap-json, for clients that rebuild the model.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct HierarchySliceResponse {
    /// Offset of the first entry (0 when read by cursor).
    pub offset: u64,
    /// Entries in the whole hierarchy.
    pub total: u64,
    /// The hierarchy's version (cheap-json does not carry it).
    pub version: i64,
    /// The page as a cheap-json hierarchy.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub hierarchy: Value,
    /// When read by cursor (`after`): where the next page starts; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// `GET`/`PUT /api/catalog/{id}/sync-mark` (an extension): where a replica stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SyncMarkBody {
    /// The upstream version the replica last matched.
    pub upstream_version: i64,
    /// The replica's version right after that sync.
    pub local_version: i64,
    /// When, in milliseconds since the Unix epoch.
    pub synced_at_ms: i64,
}

/// `POST /api/catalog/{id}/batch`: operations applied in order, all or none, with one version
/// bump (a cheap-rs extension).
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BatchRequest {
    /// The operations.
    pub operations: Vec<BatchOperation>,
    /// Apply only if the catalog is at this version (as `If-Match` does); else 412.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_version: Option<i64>,
}

/// One operation of a [`BatchRequest`], tagged by `op`; each does what the REST call of the
/// same meaning does.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(
    tag = "op",
    rename_all = "camelCase",
    rename_all_fields = "camelCase",
    deny_unknown_fields
)]
#[non_exhaustive]
pub enum BatchOperation {
    /// Whole aspects, replacing what is stored.
    UpsertAspects {
        /// The aspect def's name.
        aspect_def: String,
        /// The aspects.
        aspects: Vec<AspectInput>,
    },
    /// Properties over what is stored.
    MergeAspects {
        /// The aspect def's name.
        aspect_def: String,
        /// The aspects' changed properties.
        aspects: Vec<AspectInput>,
    },
    /// Deletes aspects.
    DeleteAspects {
        /// The aspect def's name.
        aspect_def: String,
        /// Whose aspects go.
        entity_ids: Vec<Uuid>,
    },
    /// Appends to a list or adds to a set.
    AddEntities {
        /// The hierarchy.
        hierarchy: String,
        /// The entities.
        entity_ids: Vec<Uuid>,
    },
    /// Inserts into a list at `index`.
    InsertEntities {
        /// The hierarchy.
        hierarchy: String,
        /// Where (0..=len).
        index: u64,
        /// The entities.
        entity_ids: Vec<Uuid>,
    },
    /// Removes from a list (one occurrence per id given) or a set.
    RemoveEntities {
        /// The hierarchy.
        hierarchy: String,
        /// The entities.
        entity_ids: Vec<Uuid>,
        /// Remove every occurrence of each id from a list (default false).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        every_occurrence: bool,
    },
    /// Sets directory entries.
    PutDirectoryEntries {
        /// The hierarchy.
        hierarchy: String,
        /// Key to entity.
        entries: IndexMap<String, Uuid>,
    },
    /// Removes directory entries by key.
    RemoveDirectoryKeys {
        /// The hierarchy.
        hierarchy: String,
        /// The keys.
        keys: Vec<String>,
    },
    /// Removes directory entries naming these entities.
    RemoveDirectoryEntities {
        /// The hierarchy.
        hierarchy: String,
        /// The entities.
        entity_ids: Vec<Uuid>,
    },
    /// Adds tree nodes under a parent.
    AddTreeNodes {
        /// The hierarchy.
        hierarchy: String,
        /// The parent's path (default "/").
        #[serde(default, skip_serializing_if = "Option::is_none")]
        parent_path: Option<String>,
        /// Child name to entity (or null).
        nodes: IndexMap<String, Option<Uuid>>,
    },
    /// Removes subtrees.
    RemoveTreeNodes {
        /// The hierarchy.
        hierarchy: String,
        /// The subtrees' paths.
        paths: Vec<String>,
    },
    /// Adds an aspect def (and its aspect map).
    PutAspectDef {
        /// The def, as cheap-json.
        definition: Value,
    },
    /// Deletes an aspect def with its aspects.
    DeleteAspectDef {
        /// The def's name.
        name: String,
    },
    /// Creates a hierarchy.
    CreateHierarchy {
        /// `{"name": ..., "type": ...}`.
        hierarchy_def: Value,
    },
    /// Creates a list, set, directory or tree, replacing one of the same name with its
    /// contents (an aspect map is never replaced).
    ReplaceHierarchy {
        /// `{"name": ..., "type": ...}`.
        hierarchy_def: Value,
    },
    /// Deletes a hierarchy.
    DeleteHierarchy {
        /// The hierarchy's name.
        name: String,
    },
}

/// Answer to an applied batch.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct BatchResponse {
    /// The catalog.
    pub catalog_id: Uuid,
    /// The catalog's version after the batch.
    pub version: i64,
    /// One result per operation, in order.
    pub results: Vec<BatchOperationResult>,
}

/// What one operation of a batch did.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct BatchOperationResult {
    /// The operation's `op`.
    pub op: String,
    /// Entries, nodes or aspects added or removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    /// Whether a def was new, or a def or hierarchy existed to be deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changed: Option<bool>,
    /// The aspects written, each with whether it was created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aspects: Option<Vec<BatchAspectResult>>,
}

/// One aspect a batch wrote.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct BatchAspectResult {
    /// The entity.
    pub entity_id: Uuid,
    /// True if the entity had no aspect of this def before.
    pub created: bool,
}
