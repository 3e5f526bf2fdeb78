//! The async client: one method per endpoint.

use std::sync::Arc;

use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use indexmap::IndexMap;
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use crate::config::ClientConfig;
use crate::error::{ClientError, Result};
use crate::transport::Transport;
use cheap_core::json::{self, ToJson};
use cheap_core::rest::*;
use cheap_core::{Aspect, AspectDef, AspectMap, Catalog, CatalogDef, CatalogSpecies, HierarchyDef};

/// One page of a hierarchy, by kind.
#[derive(Debug)]
#[non_exhaustive]
pub enum HierarchyPage {
    /// An entity list or set page.
    Entities(EntityListResponse),
    /// An entity directory page.
    Directory(EntityDirectoryResponse),
    /// A whole tree.
    Tree(EntityTreeResponse),
    /// An aspect map page.
    AspectMap(AspectMapResponse),
}

/// What to remove from an entity directory.
#[derive(Debug, Clone)]
pub enum DirectoryRemoval {
    /// Entries with these names.
    Names(Vec<String>),
    /// Every entry naming one of these entities.
    Entities(Vec<Uuid>),
}

/// An async client for the CHEAP REST API; cheap to clone (clones share connections, the
/// in-flight limit and the circuit breaker).
#[derive(Debug, Clone)]
pub struct CheapClient {
    t: Arc<Transport>,
    /// The catalog version writes are conditional on (`If-Match`), see [`CheapClient::if_match`].
    if_match: Option<i64>,
}

/// The answer to a conditional read: the value, or that it did not change.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Conditional<T> {
    /// Changed (or asked for the first time): the value and its entity tag.
    Modified {
        /// The value.
        value: T,
        /// Its `ETag`, to send next time.
        etag: Option<String>,
    },
    /// The server answered 304: what the caller holds is current. No body was read.
    NotModified,
}

impl<T> Conditional<T> {
    /// The value, when it changed.
    pub fn modified(self) -> Option<T> {
        match self {
            Conditional::Modified { value, .. } => Some(value),
            Conditional::NotModified => None,
        }
    }
}

/// The entity tag of version `v` of a catalog, as the server writes it in `ETag`.
pub fn etag_for_version(v: i64) -> String {
    format!("\"v{v}\"")
}

/// The catalog version an entity tag names, when it is one of a cheap-rs server's.
pub fn version_of_etag(tag: &str) -> Option<i64> {
    tag.strip_prefix("\"v")?.strip_suffix('"')?.parse().ok()
}

fn enc(s: &str) -> String {
    // Path segments: percent-encode everything outside the unreserved set.
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            b => format!("%{b:02X}"),
        })
        .collect()
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    // The same parser and nesting limit as the server's, so whatever it serves decodes here.
    cheap_core::json::from_slice(bytes).map_err(|e| ClientError::Decode(e.to_string()))
}

fn from_value<T: DeserializeOwned>(v: Value) -> Result<T> {
    cheap_core::json::from_value(v).map_err(|e| ClientError::Decode(e.to_string()))
}

fn page_query(page: u64, size: u64) -> [(&'static str, String); 2] {
    [("page", page.to_string()), ("size", size.to_string())]
}

impl CheapClient {
    /// A client with default settings for the server at `base_url`.
    pub fn new(base_url: impl Into<String>) -> Result<Self> {
        CheapClient::with_config(ClientConfig::new(base_url))
    }

    /// A client with these settings.
    pub fn with_config(config: ClientConfig) -> Result<Self> {
        Ok(CheapClient {
            t: Arc::new(Transport::new(config)?),
            if_match: None,
        })
    }

    /// The server's base URL.
    pub fn base_url(&self) -> &str {
        &self.t.cfg.base_url
    }

    async fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&B>,
        idempotent: bool,
    ) -> Result<T> {
        let body = body
            .map(|b| serde_json::to_vec(b).map_err(|e| ClientError::Invalid(e.to_string())))
            .transpose()?;
        let headers = self.conditions(&method);
        let a = self
            .t
            .exchange(method, path, query, body, idempotent, &headers)
            .await?;
        decode(&a.body)
    }

    /// The `If-Match` a write carries.
    fn conditions(&self, method: &Method) -> Vec<(reqwest::header::HeaderName, String)> {
        match self.if_match {
            Some(v) if method != Method::GET && method != Method::HEAD => {
                vec![(reqwest::header::IF_MATCH, etag_for_version(v))]
            }
            _ => Vec::new(),
        }
    }

    /// A client whose writes apply only while the catalog is at `version` (`If-Match`): one
    /// that finds it elsewhere fails with [`ClientError::PreconditionFailed`] and changes
    /// nothing. Shares this client's connections.
    pub fn if_match(&self, version: i64) -> CheapClient {
        CheapClient {
            t: self.t.clone(),
            if_match: Some(version),
        }
    }

    /// A GET with `If-None-Match: etag`: 304 is [`Conditional::NotModified`] and reads no body.
    async fn get_if_changed<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
        etag: Option<&str>,
    ) -> Result<Conditional<T>> {
        let headers: Vec<_> = etag
            .map(|t| (reqwest::header::IF_NONE_MATCH, t.to_owned()))
            .into_iter()
            .collect();
        let a = self
            .t
            .exchange(Method::GET, path, query, None, true, &headers)
            .await?;
        if a.status == reqwest::StatusCode::NOT_MODIFIED {
            return Ok(Conditional::NotModified);
        }
        Ok(Conditional::Modified {
            value: decode(&a.body)?,
            etag: a.etag,
        })
    }

    /// [`get_catalog`](Self::get_catalog) unless it still has entity tag `etag`.
    pub async fn get_catalog_if_changed(
        &self,
        id: Uuid,
        etag: Option<&str>,
    ) -> Result<Conditional<GetCatalogDefResponse>> {
        self.get_if_changed(&format!("/api/catalog/{id}"), &[], etag)
            .await
    }

    /// [`export_catalog`](Self::export_catalog) unless the catalog still has entity tag `etag`.
    pub async fn export_catalog_if_changed(
        &self,
        id: Uuid,
        etag: Option<&str>,
    ) -> Result<Conditional<Catalog>> {
        let headers: Vec<_> = etag
            .map(|t| (reqwest::header::IF_NONE_MATCH, t.to_owned()))
            .into_iter()
            .collect();
        let a = self
            .t
            .exchange(
                Method::GET,
                &format!("/api/catalog/{id}/export"),
                &[],
                None,
                true,
                &headers,
            )
            .await?;
        if a.status == reqwest::StatusCode::NOT_MODIFIED {
            return Ok(Conditional::NotModified);
        }
        let text = String::from_utf8(a.body).map_err(|e| ClientError::Decode(e.to_string()))?;
        Ok(Conditional::Modified {
            value: json::catalog_from_str(&text).map_err(|e| ClientError::Decode(e.to_string()))?,
            etag: a.etag,
        })
    }

    /// `POST /api/catalog/{id}/batch` (an extension): the operations in order, all or none.
    pub async fn send_batch(&self, catalog: Uuid, req: &BatchRequest) -> Result<BatchResponse> {
        self.call(
            Method::POST,
            &format!("/api/catalog/{catalog}/batch"),
            &[],
            Some(req),
            false,
        )
        .await
    }

    /// A batch of writes to `catalog`, built operation by operation and sent with
    /// [`BatchCall::send`](crate::batch::BatchCall::send).
    pub fn batch(&self, catalog: Uuid) -> crate::batch::BatchCall<'_, CheapClient> {
        crate::batch::BatchCall::new(self, catalog)
    }

    async fn get<T: DeserializeOwned>(&self, path: &str, query: &[(&str, String)]) -> Result<T> {
        self.call::<(), T>(Method::GET, path, query, None, true)
            .await
    }

    /// A DELETE; false when there was nothing to delete (404).
    async fn delete_found(&self, path: &str) -> Result<bool> {
        let headers = self.conditions(&Method::DELETE);
        match self
            .t
            .exchange(Method::DELETE, path, &[], None, true, &headers)
            .await
        {
            Ok(_) => Ok(true),
            Err(ClientError::NotFound { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    // ---- system ----

    /// `GET /health`: Ok when the server and its database answer.
    pub async fn health_check(&self) -> Result<HealthResponse> {
        self.get("/health", &[]).await
    }

    /// `GET /metrics` (Prometheus text).
    pub async fn metrics(&self) -> Result<String> {
        let (_, b) = self
            .t
            .send(Method::GET, "/metrics", &[], None, true)
            .await?;
        String::from_utf8(b).map_err(|e| ClientError::Decode(e.to_string()))
    }

    /// `GET /api-docs` (the OpenAPI document).
    pub async fn api_docs(&self) -> Result<Value> {
        self.get("/api-docs", &[]).await
    }

    // ---- catalogs ----

    /// `POST /api/catalog`.
    pub async fn create_catalog(
        &self,
        req: &CreateCatalogRequest,
    ) -> Result<CreateCatalogResponse> {
        self.call(Method::POST, "/api/catalog", &[], Some(req), false)
            .await
    }

    /// Creates a catalog of `species` (with its upstream, when the species needs one) and the
    /// hierarchies and aspect defs of `def`.
    pub async fn create_catalog_with(
        &self,
        species: CatalogSpecies,
        upstream: Option<Uuid>,
        def: Option<&CatalogDef>,
    ) -> Result<CreateCatalogResponse> {
        self.create_catalog(&CreateCatalogRequest {
            catalog_def: def.map(ToJson::to_json_value),
            species: species.as_upper().into(),
            upstream,
        })
        .await
    }

    /// `GET /api/catalog?page&size`.
    pub async fn list_catalogs(&self, page: u64, size: u64) -> Result<CatalogListResponse> {
        self.get("/api/catalog", &page_query(page, size)).await
    }

    /// Every catalog id, fetched `page_size` at a time.
    pub fn catalog_ids(&self, page_size: u64) -> BoxStream<'_, Result<Uuid>> {
        self.paged(page_size, move |c, page, size| async move {
            Ok(c.list_catalogs(page, size).await?.catalog_ids)
        })
    }

    /// `GET /api/catalog/{id}`: the catalog's hierarchy defs and aspect defs.
    pub async fn get_catalog(&self, id: Uuid) -> Result<GetCatalogDefResponse> {
        self.get(&format!("/api/catalog/{id}"), &[]).await
    }

    /// The catalog's def as a model [`CatalogDef`].
    pub async fn get_catalog_def(&self, id: Uuid) -> Result<CatalogDef> {
        let r = self.get_catalog(id).await?;
        let value =
            serde_json::json!({"aspectDefs": r.aspect_defs, "hierarchyDefs": r.hierarchy_defs});
        json::read::catalog_def_from_json(&value).map_err(|e| ClientError::Decode(e.to_string()))
    }

    /// `DELETE /api/catalog/{id}`; false when there was no such catalog.
    pub async fn delete_catalog(&self, id: Uuid) -> Result<bool> {
        self.delete_found(&format!("/api/catalog/{id}")).await
    }

    /// `GET /api/catalog/{id}/export`: the whole catalog.
    pub async fn export_catalog(&self, id: Uuid) -> Result<Catalog> {
        let (_, b) = self
            .t
            .send(
                Method::GET,
                &format!("/api/catalog/{id}/export"),
                &[],
                None,
                true,
            )
            .await?;
        let text = String::from_utf8(b).map_err(|e| ClientError::Decode(e.to_string()))?;
        json::catalog_from_str(&text).map_err(|e| ClientError::Decode(e.to_string()))
    }

    /// `POST /api/catalog/import`: stores a whole catalog (replacing one with its id; so it is
    /// safe to retry).
    pub async fn import_catalog(&self, catalog: &Catalog) -> Result<ImportResponse> {
        let body = catalog.to_json().into_bytes();
        let (_, b) = self
            .t
            .send(Method::POST, "/api/catalog/import", &[], Some(body), true)
            .await?;
        decode(&b)
    }

    /// `POST /api/catalog/import?background=true`: the server answers at once with a task to poll
    /// with [`task_status`](Self::task_status).
    pub async fn import_catalog_background(&self, catalog: &Catalog) -> Result<TaskStatus> {
        let body = catalog.to_json().into_bytes();
        let query = [("background", "true".to_owned())];
        let (_, b) = self
            .t
            .send(
                Method::POST,
                "/api/catalog/import",
                &query,
                Some(body),
                true,
            )
            .await?;
        decode(&b)
    }

    /// `GET /api/tasks/{id}`.
    pub async fn task_status(&self, task: Uuid) -> Result<TaskStatus> {
        self.get(&format!("/api/tasks/{task}"), &[]).await
    }

    /// Every catalog, whole, fetched one page of ids at a time.
    pub fn catalogs(&self, page_size: u64) -> BoxStream<'_, Result<Catalog>> {
        self.catalog_ids(page_size)
            .and_then(move |id| async move { self.export_catalog(id).await })
            .boxed()
    }

    // ---- aspect defs ----

    /// `POST /api/catalog/{id}/aspect-defs`.
    pub async fn create_aspect_def(
        &self,
        catalog: Uuid,
        def: &AspectDef,
    ) -> Result<CreateAspectDefResponse> {
        self.call(
            Method::POST,
            &format!("/api/catalog/{catalog}/aspect-defs"),
            &[],
            Some(&def.to_json_value()),
            false,
        )
        .await
    }

    /// `GET /api/catalog/{id}/aspect-defs?page&size`.
    pub async fn list_aspect_defs(
        &self,
        catalog: Uuid,
        page: u64,
        size: u64,
    ) -> Result<AspectDefListResponse> {
        self.get(
            &format!("/api/catalog/{catalog}/aspect-defs"),
            &page_query(page, size),
        )
        .await
    }

    /// Every aspect def of a catalog, fetched `page_size` at a time.
    pub fn aspect_defs(&self, catalog: Uuid, page_size: u64) -> BoxStream<'_, Result<AspectDef>> {
        self.paged(page_size, move |c, page, size| async move {
            c.list_aspect_defs(catalog, page, size)
                .await?
                .aspect_defs
                .iter()
                .map(|v| {
                    json::read::aspect_def_from_json(v)
                        .map_err(|e| ClientError::Decode(e.to_string()))
                })
                .collect()
        })
    }

    /// `GET /api/catalog/{id}/aspect-defs/{idOrName}`.
    pub async fn get_aspect_def(&self, catalog: Uuid, id_or_name: &str) -> Result<AspectDef> {
        let v: Value = self
            .get(
                &format!("/api/catalog/{catalog}/aspect-defs/{}", enc(id_or_name)),
                &[],
            )
            .await?;
        json::read::aspect_def_from_json(&v).map_err(|e| ClientError::Decode(e.to_string()))
    }

    /// `DELETE /api/catalog/{id}/aspect-defs/{idOrName}`; false when there was none.
    pub async fn delete_aspect_def(&self, catalog: Uuid, id_or_name: &str) -> Result<bool> {
        self.delete_found(&format!(
            "/api/catalog/{catalog}/aspect-defs/{}",
            enc(id_or_name)
        ))
        .await
    }

    // ---- aspects ----

    /// `POST /api/catalog/{id}/aspects/{def}`: each item replaces the stored aspect of its
    /// entity, as the reference does. Items that fail come back with `success: false` (the
    /// server answers 207).
    pub async fn upsert_aspects(
        &self,
        catalog: Uuid,
        aspect_def: &str,
        aspects: &[AspectInput],
    ) -> Result<UpsertAspectsResponse> {
        self.send_upsert(catalog, aspect_def, aspects, false).await
    }

    /// `POST /api/catalog/{id}/aspects/{def}?merge=true`: properties an item leaves out keep
    /// their stored values (the server merges in its store's own write, so concurrent merges
    /// of one aspect all land).
    pub async fn merge_aspects(
        &self,
        catalog: Uuid,
        aspect_def: &str,
        aspects: &[AspectInput],
    ) -> Result<UpsertAspectsResponse> {
        self.send_upsert(catalog, aspect_def, aspects, true).await
    }

    async fn send_upsert(
        &self,
        catalog: Uuid,
        aspect_def: &str,
        aspects: &[AspectInput],
        merge: bool,
    ) -> Result<UpsertAspectsResponse> {
        let req = UpsertAspectsRequest {
            aspects: aspects.to_vec(),
            replace: None,
        };
        let query: Vec<(&str, String)> = if merge {
            vec![("merge", "true".into())]
        } else {
            Vec::new()
        };
        self.call(
            Method::POST,
            &format!("/api/catalog/{catalog}/aspects/{}", enc(aspect_def)),
            &query,
            Some(&req),
            false,
        )
        .await
    }

    /// Upserts model aspects (all of one def): each replaces the stored aspect of its entity
    /// whole, as `CheapDao::upsert_aspects` does.
    pub async fn upsert(&self, catalog: Uuid, aspects: &[Aspect]) -> Result<UpsertAspectsResponse> {
        let Some(first) = aspects.first() else {
            return Err(ClientError::Invalid("no aspects to upsert".into()));
        };
        let def = first.def().name().to_owned();
        let inputs = aspects
            .iter()
            .map(|a| {
                if a.def().name() != def {
                    return Err(ClientError::Invalid(
                        "aspects of several defs in one upsert".into(),
                    ));
                }
                let properties = match a.to_json_value() {
                    Value::Object(m) => m,
                    _ => serde_json::Map::new(),
                };
                Ok(AspectInput {
                    entity_id: a.entity_id(),
                    properties,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        self.send_upsert(catalog, &def, &inputs, false).await
    }

    /// `POST /api/catalog/{id}/aspects/query` (read-only, so retried like a GET).
    pub async fn query_aspects(
        &self,
        catalog: Uuid,
        entity_ids: &[Uuid],
        aspect_defs: &[String],
    ) -> Result<AspectQueryResponse> {
        let req = AspectQueryRequest {
            entity_ids: entity_ids.to_vec(),
            aspect_def_names: aspect_defs.to_vec(),
        };
        self.call(
            Method::POST,
            &format!("/api/catalog/{catalog}/aspects/query"),
            &[],
            Some(&req),
            true,
        )
        .await
    }

    /// [`query_aspects`](Self::query_aspects) read into model aspect maps (the defs are fetched).
    pub async fn query_aspect_maps(
        &self,
        catalog: Uuid,
        entity_ids: &[Uuid],
        aspect_defs: &[String],
    ) -> Result<Vec<AspectMap>> {
        let r = self.query_aspects(catalog, entity_ids, aspect_defs).await?;
        let mut out = Vec::with_capacity(r.results.len());
        for v in &r.results {
            let name = v
                .get("aspectDef")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let def = Arc::new(self.get_aspect_def(catalog, name).await?);
            let lookup = |n: &str| (n == def.name()).then(|| def.clone());
            out.push(
                json::read::aspect_map_from_json(v, &lookup)
                    .map_err(|e| ClientError::Decode(e.to_string()))?,
            );
        }
        Ok(out)
    }

    // ---- hierarchies ----

    /// `POST /api/catalog/{id}/hierarchies` (replaces a list, set, directory or tree of the name).
    pub async fn create_hierarchy(
        &self,
        catalog: Uuid,
        def: &HierarchyDef,
    ) -> Result<CreateHierarchyResponse> {
        let req = CreateHierarchyRequest {
            hierarchy_def: def.to_json_value(),
        };
        self.call(
            Method::POST,
            &format!("/api/catalog/{catalog}/hierarchies"),
            &[],
            Some(&req),
            true,
        )
        .await
    }

    /// `GET /api/catalog/{id}/hierarchies/{name}?page&size`.
    pub async fn get_hierarchy(
        &self,
        catalog: Uuid,
        name: &str,
        page: u64,
        size: u64,
    ) -> Result<HierarchyPage> {
        let v: Value = self
            .get(
                &format!("/api/catalog/{catalog}/hierarchies/{}", enc(name)),
                &page_query(page, size),
            )
            .await?;
        hierarchy_page(v)
    }

    /// `GET /api/catalog/{id}/hierarchies/{name}?after&size` (an extension): a page by cursor,
    /// `after` being `None` for the first page and then the page's `next_cursor`. A tree comes
    /// whole. [`PreconditionFailed`](ClientError::PreconditionFailed) when the hierarchy's
    /// entries moved since the cursor was made: read again from the start.
    pub async fn get_hierarchy_after(
        &self,
        catalog: Uuid,
        name: &str,
        after: Option<&str>,
        size: u64,
    ) -> Result<HierarchyPage> {
        let v: Value = self
            .get(
                &format!("/api/catalog/{catalog}/hierarchies/{}", enc(name)),
                &[
                    ("after", after.unwrap_or_default().to_owned()),
                    ("size", size.to_string()),
                ],
            )
            .await?;
        hierarchy_page(v)
    }

    /// Every entity of a list or set, fetched `page_size` at a time by cursor (so each page
    /// costs the server the same however deep it is).
    pub fn hierarchy_entities(
        &self,
        catalog: Uuid,
        name: &str,
        page_size: u64,
    ) -> BoxStream<'_, Result<Uuid>> {
        let name = name.to_owned();
        let size = page_size.max(1);
        stream::try_unfold(Some(None::<String>), move |after| {
            let name = name.clone();
            async move {
                let Some(after) = after else { return Ok(None) };
                match self
                    .get_hierarchy_after(catalog, &name, after.as_deref(), size)
                    .await?
                {
                    HierarchyPage::Entities(e) => {
                        let next = e.next_cursor.map(Some);
                        Ok(Some((stream::iter(e.entity_ids.into_iter().map(Ok)), next)))
                    }
                    _ => Err(ClientError::Invalid(format!(
                        "'{name}' is not an entity list or set"
                    ))),
                }
            }
        })
        .try_flatten()
        .boxed()
    }

    /// `DELETE /api/catalog/{id}/hierarchies/{name}`; false when there was none.
    pub async fn delete_hierarchy(&self, catalog: Uuid, name: &str) -> Result<bool> {
        self.delete_found(&format!("/api/catalog/{catalog}/hierarchies/{}", enc(name)))
            .await
    }

    /// `POST .../entities`: append to a list or add to a set.
    pub async fn add_entities(
        &self,
        catalog: Uuid,
        name: &str,
        ids: &[Uuid],
    ) -> Result<OperationResponse> {
        self.post_entities(catalog, name, None, ids).await
    }

    async fn post_entities(
        &self,
        catalog: Uuid,
        name: &str,
        index: Option<u64>,
        ids: &[Uuid],
    ) -> Result<OperationResponse> {
        let req = EntityIdsRequest {
            index,
            entity_ids: ids.to_vec(),
        };
        self.call(
            Method::POST,
            &format!("/api/catalog/{catalog}/hierarchies/{}/entities", enc(name)),
            &[],
            Some(&req),
            false,
        )
        .await
    }

    /// `DELETE .../entities`: remove from a list or set.
    pub async fn remove_entities(
        &self,
        catalog: Uuid,
        name: &str,
        ids: &[Uuid],
    ) -> Result<OperationResponse> {
        let req = EntityIdsRequest {
            index: None,
            entity_ids: ids.to_vec(),
        };
        self.call(
            Method::DELETE,
            &format!("/api/catalog/{catalog}/hierarchies/{}/entities", enc(name)),
            &[],
            Some(&req),
            true,
        )
        .await
    }

    /// `POST .../entries`: set directory entries.
    pub async fn add_directory_entries(
        &self,
        catalog: Uuid,
        name: &str,
        entries: &IndexMap<String, Uuid>,
    ) -> Result<OperationResponse> {
        let req = AddDirectoryEntriesRequest {
            entries: entries.clone(),
        };
        self.call(
            Method::POST,
            &format!("/api/catalog/{catalog}/hierarchies/{}/entries", enc(name)),
            &[],
            Some(&req),
            true,
        )
        .await
    }

    /// `DELETE .../entries`: remove directory entries by name or by entity.
    pub async fn remove_directory_entries(
        &self,
        catalog: Uuid,
        name: &str,
        what: &DirectoryRemoval,
    ) -> Result<OperationResponse> {
        let req = match what {
            DirectoryRemoval::Names(n) => RemoveDirectoryEntriesRequest {
                names: Some(n.clone()),
                entity_ids: None,
            },
            DirectoryRemoval::Entities(e) => RemoveDirectoryEntriesRequest {
                names: None,
                entity_ids: Some(e.clone()),
            },
        };
        self.call(
            Method::DELETE,
            &format!("/api/catalog/{catalog}/hierarchies/{}/entries", enc(name)),
            &[],
            Some(&req),
            true,
        )
        .await
    }

    /// `POST .../nodes`: add tree nodes under `parent_path`.
    pub async fn add_tree_nodes(
        &self,
        catalog: Uuid,
        name: &str,
        parent_path: &str,
        nodes: &IndexMap<String, Option<Uuid>>,
    ) -> Result<TreeOperationResponse> {
        let req = AddTreeNodesRequest {
            parent_path: Some(parent_path.to_owned()),
            nodes: nodes.clone(),
        };
        self.call(
            Method::POST,
            &format!("/api/catalog/{catalog}/hierarchies/{}/nodes", enc(name)),
            &[],
            Some(&req),
            true,
        )
        .await
    }

    /// `DELETE .../nodes`: remove subtrees.
    pub async fn remove_tree_nodes(
        &self,
        catalog: Uuid,
        name: &str,
        paths: &[String],
    ) -> Result<TreeOperationResponse> {
        let req = RemoveTreeNodesRequest {
            paths: paths.to_vec(),
        };
        self.call(
            Method::DELETE,
            &format!("/api/catalog/{catalog}/hierarchies/{}/nodes", enc(name)),
            &[],
            Some(&req),
            true,
        )
        .await
    }

    /// `GET /api/catalog/{id}/info` (an extension): metadata and version.
    pub async fn catalog_info(&self, catalog: Uuid) -> Result<CatalogInfoResponse> {
        self.get(&format!("/api/catalog/{catalog}/info"), &[]).await
    }

    /// `GET /api/catalog/{id}/hierarchies` (an extension): every hierarchy with its kind,
    /// version and size.
    pub async fn list_hierarchies(&self, catalog: Uuid) -> Result<Vec<HierarchyInfoResponse>> {
        self.get(&format!("/api/catalog/{catalog}/hierarchies"), &[])
            .await
    }

    /// `GET /api/catalog/{id}/changes?since=N` (an extension).
    pub async fn changes_since(&self, catalog: Uuid, since: i64) -> Result<ChangesResponse> {
        self.get(
            &format!("/api/catalog/{catalog}/changes"),
            &[("since", since.to_string())],
        )
        .await
    }

    /// `GET /api/catalog/{id}/events` (an extension): what changes in `catalog` after version
    /// `since` (`None`: its current version), as it changes. The connection is opened again
    /// from the last event's version whenever it drops or goes silent, so nothing is missed;
    /// the stream ends after [`ChangeEvent::Deleted`](cheap_core::dao::ChangeEvent::Deleted),
    /// or with an error when the server refuses it (a missing catalog is
    /// [`ClientError::NotFound`]) or stays unreachable through the retry policy.
    pub fn watch(
        &self,
        catalog: Uuid,
        since: Option<i64>,
    ) -> futures::stream::BoxStream<'static, Result<cheap_core::dao::ChangeEvent>> {
        use futures::StreamExt;
        let t = self.t.clone();
        let client = self.clone();
        futures::stream::once(async move {
            // A reconnection must start from a known version, not from "now" again.
            let since = match since {
                Some(v) => v,
                None => client.catalog_info(catalog).await?.version,
            };
            Ok::<_, ClientError>(crate::watch::events(t, catalog, since))
        })
        .flat_map(|r| match r {
            Ok(s) => s,
            Err(e) => futures::stream::once(async move { Err(e) }).boxed(),
        })
        .boxed()
    }

    /// `GET /api/catalog/{id}/aspects/{def}/changes?since=N` (an extension).
    pub async fn aspect_changes_since(
        &self,
        catalog: Uuid,
        aspect_def: &str,
        since: i64,
    ) -> Result<AspectChangesResponse> {
        self.get(
            &format!("/api/catalog/{catalog}/aspects/{}/changes", enc(aspect_def)),
            &[("since", since.to_string())],
        )
        .await
    }

    /// `DELETE /api/catalog/{id}/aspects/{def}` (an extension): deletes these entities'
    /// aspects; `count` is how many there were.
    pub async fn delete_aspects(
        &self,
        catalog: Uuid,
        aspect_def: &str,
        ids: &[Uuid],
    ) -> Result<OperationResponse> {
        let req = EntityIdsRequest {
            index: None,
            entity_ids: ids.to_vec(),
        };
        self.call(
            Method::DELETE,
            &format!("/api/catalog/{catalog}/aspects/{}", enc(aspect_def)),
            &[],
            Some(&req),
            true,
        )
        .await
    }

    /// `POST .../entities` with an index (an extension): insert into a list at a position.
    pub async fn insert_entities(
        &self,
        catalog: Uuid,
        name: &str,
        index: u64,
        ids: &[Uuid],
    ) -> Result<OperationResponse> {
        self.post_entities(catalog, name, Some(index), ids).await
    }

    /// `GET .../hierarchies/{name}/slice?offset&limit` (an extension): a page of any hierarchy
    /// as cheap-json.
    pub async fn hierarchy_slice(
        &self,
        catalog: Uuid,
        name: &str,
        offset: u64,
        limit: u64,
    ) -> Result<HierarchySliceResponse> {
        self.get(
            &format!("/api/catalog/{catalog}/hierarchies/{}/slice", enc(name)),
            &[("offset", offset.to_string()), ("limit", limit.to_string())],
        )
        .await
    }

    /// `GET .../hierarchies/{name}/slice?after&limit` (an extension): a page of any hierarchy
    /// as cheap-json by cursor, as [`get_hierarchy_after`](Self::get_hierarchy_after) reads.
    pub async fn hierarchy_slice_after(
        &self,
        catalog: Uuid,
        name: &str,
        after: Option<&str>,
        limit: u64,
    ) -> Result<HierarchySliceResponse> {
        self.get(
            &format!("/api/catalog/{catalog}/hierarchies/{}/slice", enc(name)),
            &[
                ("after", after.unwrap_or_default().to_owned()),
                ("limit", limit.to_string()),
            ],
        )
        .await
    }

    /// `GET /api/catalog/{id}/sync-mark` (an extension).
    pub async fn sync_mark(&self, catalog: Uuid) -> Result<Option<SyncMarkBody>> {
        self.get(&format!("/api/catalog/{catalog}/sync-mark"), &[])
            .await
    }

    /// `PUT /api/catalog/{id}/sync-mark` (an extension).
    pub async fn set_sync_mark(&self, catalog: Uuid, mark: &SyncMarkBody) -> Result<()> {
        let (_, _) = self
            .t
            .send(
                Method::PUT,
                &format!("/api/catalog/{catalog}/sync-mark"),
                &[],
                Some(serde_json::to_vec(mark).map_err(|e| ClientError::Invalid(e.to_string()))?),
                true,
            )
            .await?;
        Ok(())
    }

    /// Items of consecutive pages until a short page.
    fn paged<'a, T, F, Fut>(&'a self, page_size: u64, fetch: F) -> BoxStream<'a, Result<T>>
    where
        T: Send + 'a,
        F: Fn(&'a CheapClient, u64, u64) -> Fut + Send + Sync + 'a,
        Fut: std::future::Future<Output = Result<Vec<T>>> + Send + 'a,
    {
        let size = page_size.max(1);
        let fetch = Arc::new(fetch);
        stream::try_unfold(Some(0u64), move |page| {
            let fetch = fetch.clone();
            async move {
                let Some(page) = page else { return Ok(None) };
                let items = fetch(self, page, size).await?;
                let next = (items.len() as u64 == size).then_some(page + 1);
                Ok(Some((stream::iter(items.into_iter().map(Ok)), next)))
            }
        })
        .try_flatten()
        .boxed()
    }
}

/// A hierarchy page's body, by the fields that tell its kind.
fn hierarchy_page(v: Value) -> Result<HierarchyPage> {
    if v.get("entityIds").is_some() {
        Ok(HierarchyPage::Entities(from_value(v)?))
    } else if v.get("root").is_some() {
        Ok(HierarchyPage::Tree(from_value(v)?))
    } else if v.get("aspectDefName").is_some() {
        Ok(HierarchyPage::AspectMap(from_value(v)?))
    } else {
        Ok(HierarchyPage::Directory(from_value(v)?))
    }
}

/// Runs `f` on every item with at most `max_in_flight` at once and returns one output (usually
/// a `Result`) per item, in order: a failure does not lose the others.
pub async fn batch<I, T, F, Fut>(items: I, max_in_flight: usize, f: F) -> Vec<Fut::Output>
where
    I: IntoIterator<Item = T>,
    F: FnMut(T) -> Fut,
    Fut: std::future::Future,
{
    stream::iter(items)
        .map(f)
        .buffered(max_in_flight.max(1))
        .collect()
        .await
}
