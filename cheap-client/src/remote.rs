//! [`RemoteDao`]: the REST API as a [`CheapDao`] backend (feature `remote`, on by default), so
//! code written against `dyn CheapDao` runs against a remote `cheap serve`, and a replica can
//! follow a catalog on a server.

use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use futures::TryStreamExt;
use indexmap::IndexMap;
use uuid::Uuid;

use crate::{CheapClient, ClientError, DirectoryRemoval};
use cheap_core::dao::rules::check_upsert;
use cheap_core::dao::{
    AspectChanges, AspectPatch, Batch, BatchOp, BatchOutcome, BatchResult, CatalogInfo, Changes,
    CursorPage, HierarchyInfo, HierarchySlice, PageCursor, UpsertOutcome,
};
use cheap_core::json;
use cheap_core::rest::{
    AspectInput, BatchOperation, BatchOperationResult, BatchRequest, HierarchyInfoResponse,
};
use cheap_core::{
    Aspect, AspectDef, AspectMap, Catalog, CatalogSpecies, CheapDao, CheapError, Hierarchy,
    HierarchyDef, HierarchyType, NotFound, Result,
};

/// Catalogs per request when listing.
const PAGE: u64 = 100;

/// A [`CheapDao`] over a CHEAP REST server, through a [`CheapClient`].
///
/// Each operation is one or a few requests; the server keeps the DAO's semantics (atomic
/// operations, replace on save, versions). Upserts are validated here first, so a bad aspect
/// rejects the whole call as on every other backend (the REST endpoint itself stores the good
/// ones and reports the rest).
#[derive(Debug)]
pub struct RemoteDao {
    client: CheapClient,
    closed: AtomicBool,
}

impl RemoteDao {
    /// A slice's cheap-json hierarchy as the model (an aspect map with its def, fetched).
    async fn slice_hierarchy(
        &self,
        catalog: Uuid,
        name: &str,
        s: cheap_core::rest::HierarchySliceResponse,
    ) -> Result<Hierarchy> {
        let text =
            serde_json::to_string(&s.hierarchy).map_err(|e| CheapError::backend("rest", e))?;
        let value = json::read::parse(&text)?;
        let kind = s.hierarchy.get("type").and_then(|t| t.as_str());
        let def = if kind.is_some_and(|k| k.eq_ignore_ascii_case("AM")) {
            Some(std::sync::Arc::new(
                self.get_aspect_def(catalog, name).await?,
            ))
        } else {
            None
        };
        let mut hierarchy = json::read::hierarchy_from_json(&value, &|n: &str| {
            def.clone().filter(|d| d.name() == n)
        })?;
        hierarchy.version = s.version;
        Ok(hierarchy)
    }
    /// A DAO over `client`.
    pub fn new(client: CheapClient) -> Self {
        RemoteDao {
            client,
            closed: AtomicBool::new(false),
        }
    }

    /// A DAO over the server at `base_url`, with the default client configuration.
    pub fn connect(base_url: impl Into<String>) -> Result<Self> {
        Ok(Self::new(CheapClient::new(base_url).map_err(to_cheap)?))
    }

    /// The client underneath.
    pub fn client(&self) -> &CheapClient {
        &self.client
    }

    fn c(&self) -> Result<&CheapClient> {
        if self.closed.load(Ordering::Acquire) {
            return Err(CheapError::Unavailable("the remote store is closed".into()));
        }
        Ok(&self.client)
    }
}

impl RemoteDao {
    /// One operation through the batch endpoint, its error as the operation's own.
    async fn single_result(&self, catalog: Uuid, op: BatchOp) -> Result<BatchResult> {
        let batch = Batch::new().op(op);
        let mut out = self
            .apply_batch(catalog, &batch)
            .await
            .map_err(|e| match e {
                CheapError::InBatch { source, .. } => *source,
                e => e,
            })?;
        out.results
            .pop()
            .ok_or_else(|| CheapError::invalid("the server returned no result"))
    }

    /// One counting operation through the batch endpoint.
    async fn single(&self, catalog: Uuid, op: BatchOp) -> Result<u64> {
        match self.single_result(catalog, op).await? {
            BatchResult::Count(n) => Ok(n),
            _ => Err(CheapError::invalid("the server returned no count")),
        }
    }
}

/// Maps a client error onto the backend-neutral kinds.
pub fn to_cheap(e: ClientError) -> CheapError {
    match e {
        ClientError::NotFound { message, missing } => {
            CheapError::NotFound(missing.unwrap_or(NotFound::Other { what: message }))
        }
        ClientError::BadRequest {
            status: 405 | 403,
            message,
            ..
        } => CheapError::NotAllowed(message),
        ClientError::BadRequest { message, .. } => CheapError::InvalidInput(message),
        ClientError::Conflict { message } => CheapError::conflict(message),
        ClientError::InBatch { index, source } => CheapError::InBatch {
            index,
            source: Box::new(to_cheap(*source)),
        },
        ClientError::PreconditionFailed {
            expected, current, ..
        } => CheapError::PreconditionFailed {
            expected: expected.unwrap_or(i64::MIN),
            actual: current.unwrap_or(-1),
        },
        ClientError::RateLimited { message, .. } => CheapError::Unavailable(message),
        ClientError::Timeout(m) => CheapError::Timeout(m),
        ClientError::Contention { message } => CheapError::Contention(message),
        ClientError::Transport(m) => CheapError::Unavailable(m),
        ClientError::Unavailable { message, .. } => CheapError::Unavailable(message),
        ClientError::Connect(m) => CheapError::Unavailable(m),
        ClientError::CircuitOpen => CheapError::Unavailable(ClientError::CircuitOpen.to_string()),
        e => CheapError::backend("rest", e),
    }
}

/// The REST input of a patch: the properties it sets (null for a `None`).
fn patch_input(p: &AspectPatch) -> AspectInput {
    AspectInput {
        entity_id: p.entity_id,
        properties: p
            .values
            .iter()
            .map(|(k, v)| {
                let json = v.as_ref().map_or(serde_json::Value::Null, |v| {
                    json::to_value(&json::write::value_to_json(v))
                });
                (k.clone(), json)
            })
            .collect(),
    }
}

/// The REST form of a batch operation.
fn operation(op: &BatchOp) -> Result<BatchOperation> {
    Ok(match op {
        BatchOp::UpsertAspects {
            aspect_def,
            aspects,
        } => BatchOperation::UpsertAspects {
            aspect_def: aspect_def.clone(),
            aspects: aspects.iter().map(crate::batch::aspect_input).collect(),
        },
        BatchOp::MergeAspects {
            aspect_def,
            patches,
        } => BatchOperation::MergeAspects {
            aspect_def: aspect_def.clone(),
            aspects: patches.iter().map(patch_input).collect(),
        },
        BatchOp::DeleteAspects {
            aspect_def,
            entity_ids,
        } => BatchOperation::DeleteAspects {
            aspect_def: aspect_def.clone(),
            entity_ids: entity_ids.clone(),
        },
        BatchOp::AddEntities {
            hierarchy,
            entity_ids,
        } => BatchOperation::AddEntities {
            hierarchy: hierarchy.clone(),
            entity_ids: entity_ids.clone(),
        },
        BatchOp::InsertEntities {
            hierarchy,
            index,
            entity_ids,
        } => BatchOperation::InsertEntities {
            hierarchy: hierarchy.clone(),
            index: *index,
            entity_ids: entity_ids.clone(),
        },
        BatchOp::RemoveEntities {
            hierarchy,
            entity_ids,
            every_occurrence,
        } => BatchOperation::RemoveEntities {
            hierarchy: hierarchy.clone(),
            entity_ids: entity_ids.clone(),
            every_occurrence: *every_occurrence,
        },
        BatchOp::PutDirectoryEntries { hierarchy, entries } => {
            BatchOperation::PutDirectoryEntries {
                hierarchy: hierarchy.clone(),
                entries: entries.iter().cloned().collect(),
            }
        }
        BatchOp::RemoveDirectoryKeys { hierarchy, keys } => BatchOperation::RemoveDirectoryKeys {
            hierarchy: hierarchy.clone(),
            keys: keys.clone(),
        },
        BatchOp::RemoveDirectoryEntities {
            hierarchy,
            entity_ids,
        } => BatchOperation::RemoveDirectoryEntities {
            hierarchy: hierarchy.clone(),
            entity_ids: entity_ids.clone(),
        },
        BatchOp::AddTreeNodes {
            hierarchy,
            parent_path,
            nodes,
        } => BatchOperation::AddTreeNodes {
            hierarchy: hierarchy.clone(),
            parent_path: Some(parent_path.clone()),
            nodes: nodes.iter().cloned().collect(),
        },
        BatchOp::RemoveTreeNodes { hierarchy, paths } => BatchOperation::RemoveTreeNodes {
            hierarchy: hierarchy.clone(),
            paths: paths.clone(),
        },
        BatchOp::PutAspectDef { def } => BatchOperation::PutAspectDef {
            definition: json::to_value(&json::write::aspect_def_to_json(def)),
        },
        BatchOp::DeleteAspectDef { name } => BatchOperation::DeleteAspectDef { name: name.clone() },
        BatchOp::CreateHierarchy { def } => BatchOperation::CreateHierarchy {
            hierarchy_def: json::to_value(&json::write::hierarchy_def_to_json(def)),
        },
        BatchOp::ReplaceHierarchy { def } => BatchOperation::ReplaceHierarchy {
            hierarchy_def: json::to_value(&json::write::hierarchy_def_to_json(def)),
        },
        BatchOp::DeleteHierarchy { name } => BatchOperation::DeleteHierarchy { name: name.clone() },
        other => {
            return Err(CheapError::NotAllowed(format!(
                "batch operation '{}' is not supported over REST",
                other.name()
            )))
        }
    })
}

/// A batch operation's result as the DAO reports it.
fn batch_result(op: &BatchOp, r: BatchOperationResult) -> BatchResult {
    match op {
        BatchOp::UpsertAspects { .. } | BatchOp::MergeAspects { .. } => BatchResult::Aspects(
            r.aspects
                .unwrap_or_default()
                .into_iter()
                .map(|a| UpsertOutcome {
                    entity_id: a.entity_id,
                    created: a.created,
                })
                .collect(),
        ),
        BatchOp::PutAspectDef { .. }
        | BatchOp::DeleteAspectDef { .. }
        | BatchOp::ReplaceHierarchy { .. }
        | BatchOp::DeleteHierarchy { .. } => BatchResult::Changed(r.changed.unwrap_or(false)),
        BatchOp::CreateHierarchy { .. } => BatchResult::Done,
        _ => BatchResult::Count(r.count.unwrap_or(0)),
    }
}

fn hierarchy_info(h: HierarchyInfoResponse) -> Result<HierarchyInfo> {
    Ok(HierarchyInfo {
        hierarchy_type: HierarchyType::from_code(&h.hierarchy_type)?,
        name: h.name,
        version: h.version,
        size: h.size,
    })
}

/// Adds the entries of a later page to the hierarchy read so far.
fn append_page(whole: &mut Hierarchy, page: Hierarchy) -> Result<()> {
    use cheap_core::HierarchyContent as C;
    match (&mut whole.content, page.content) {
        (C::List(l), C::List(p)) => l.0.extend(p.0),
        (C::Set(s), C::Set(p)) => s.0.extend(p.0),
        (C::Directory(d), C::Directory(p)) => d.0.extend(p.0),
        (C::AspectMap(m), C::AspectMap(p)) => {
            for a in p.iter() {
                m.put(a.clone())?;
            }
        }
        _ => {
            return Err(CheapError::Unavailable(format!(
                "hierarchy '{}' changed kind while it was read in pages",
                whole.name()
            )))
        }
    }
    Ok(())
}

#[async_trait]
impl CheapDao for RemoteDao {
    fn backend_name(&self) -> &'static str {
        "rest"
    }

    /// The server's event stream (`GET /api/catalog/{id}/events`), opened again from the last
    /// event whenever the connection drops.
    fn watch(
        &self,
        catalog: Uuid,
        since: i64,
    ) -> futures::stream::BoxStream<'_, Result<cheap_core::dao::ChangeEvent>> {
        use futures::StreamExt;
        self.client
            .watch(catalog, Some(since))
            .map(|r| r.map_err(to_cheap))
            .boxed()
    }

    async fn save_catalog(&self, catalog: &Catalog) -> Result<i64> {
        // Checked here as every backend checks before writing, so the error keeps its kind.
        for h in catalog.hierarchies() {
            if let Some(m) = h.as_aspect_map() {
                for a in m.iter() {
                    a.check_complete()?;
                }
            }
        }
        Ok(self
            .c()?
            .import_catalog(catalog)
            .await
            .map_err(to_cheap)?
            .version)
    }

    async fn load_catalog(&self, id: Uuid) -> Result<Catalog> {
        let mut catalog = self.c()?.export_catalog(id).await.map_err(to_cheap)?;
        // cheap-json carries no versions: they come from the catalog's listings.
        catalog.version = self.catalog_info(id).await?.version;
        for h in self.list_hierarchies(id).await? {
            if let Some(x) = catalog.hierarchy_mut(&h.name) {
                x.version = h.version;
            }
        }
        Ok(catalog)
    }

    async fn delete_catalog(&self, id: Uuid) -> Result<bool> {
        self.c()?.delete_catalog(id).await.map_err(to_cheap)
    }

    async fn catalog_exists(&self, id: Uuid) -> Result<bool> {
        match self.catalog_info(id).await {
            Ok(_) => Ok(true),
            Err(CheapError::NotFound(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn catalog_info(&self, id: Uuid) -> Result<CatalogInfo> {
        let i = self.c()?.catalog_info(id).await.map_err(to_cheap)?;
        Ok(CatalogInfo {
            id: i.catalog_id,
            species: i.species.parse::<CatalogSpecies>()?,
            uri: i.uri,
            upstream: i.upstream,
            version: i.version,
        })
    }

    async fn list_catalog_ids(&self) -> Result<Vec<Uuid>> {
        self.c()?
            .catalog_ids(PAGE)
            .try_collect()
            .await
            .map_err(to_cheap)
    }

    async fn catalog_count(&self) -> Result<u64> {
        Ok(self
            .c()?
            .list_catalogs(0, 1)
            .await
            .map_err(to_cheap)?
            .page
            .total_elements)
    }

    async fn list_catalogs_page(&self, offset: u64, limit: u64) -> Result<Vec<CatalogInfo>> {
        let c = self.c()?;
        let end = offset.saturating_add(limit);
        let mut ids = Vec::new();
        let mut page = offset / PAGE;
        while page.saturating_mul(PAGE) < end {
            let got = c.list_catalogs(page, PAGE).await.map_err(to_cheap)?;
            let n = got.catalog_ids.len() as u64;
            for (i, id) in got.catalog_ids.into_iter().enumerate() {
                let at = page * PAGE + i as u64;
                if at >= offset && at < end {
                    ids.push(id);
                }
            }
            if n < PAGE {
                break;
            }
            page += 1;
        }
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            out.push(self.catalog_info(id).await?);
        }
        Ok(out)
    }

    async fn put_aspect_def(&self, catalog: Uuid, def: &AspectDef) -> Result<bool> {
        // The server decides in one transaction: stored alike (false), new (true), or a
        // different def under the name (Conflict).
        let op = BatchOp::PutAspectDef { def: def.clone() };
        match self.single_result(catalog, op).await? {
            BatchResult::Changed(created) => Ok(created),
            _ => Err(CheapError::invalid("the server returned no result")),
        }
    }

    async fn get_aspect_def(&self, catalog: Uuid, name: &str) -> Result<AspectDef> {
        self.c()?
            .get_aspect_def(catalog, name)
            .await
            .map_err(to_cheap)
    }

    async fn list_aspect_defs(&self, catalog: Uuid) -> Result<Vec<AspectDef>> {
        self.c()?
            .aspect_defs(catalog, PAGE)
            .try_collect()
            .await
            .map_err(to_cheap)
    }

    async fn delete_aspect_def(&self, catalog: Uuid, name: &str) -> Result<bool> {
        let c = self.c()?;
        // Only an aspect def by that name; the endpoint would also take an id.
        match c.get_aspect_def(catalog, name).await {
            Ok(d) if d.name() == name => {}
            Ok(_) | Err(ClientError::NotFound { .. }) => {
                c.catalog_info(catalog).await.map_err(to_cheap)?;
                return Ok(false);
            }
            Err(e) => return Err(to_cheap(e)),
        }
        c.delete_aspect_def(catalog, name).await.map_err(to_cheap)
    }

    async fn create_hierarchy(&self, catalog: Uuid, def: &HierarchyDef) -> Result<()> {
        if def.hierarchy_type == HierarchyType::AspectMap {
            return Err(CheapError::invalid(
                "an aspect map hierarchy is created with put_aspect_def",
            ));
        }
        // A batch operation creates (the plain endpoint replaces a hierarchy of another kind,
        // as the reference does; the DAO contract refuses any existing name).
        self.single_result(catalog, BatchOp::CreateHierarchy { def: def.clone() })
            .await
            .map(|_| ())
    }

    async fn replace_hierarchy(&self, catalog: Uuid, def: &HierarchyDef) -> Result<bool> {
        if def.hierarchy_type == HierarchyType::AspectMap {
            return Err(CheapError::invalid(
                "an aspect map hierarchy is created with put_aspect_def",
            ));
        }
        // One operation: the server replaces in one transaction and says whether there was
        // one to replace.
        match self
            .single_result(catalog, BatchOp::ReplaceHierarchy { def: def.clone() })
            .await?
        {
            BatchResult::Changed(replaced) => Ok(replaced),
            _ => Err(CheapError::invalid("the server returned no result")),
        }
    }

    async fn get_task(&self, id: Uuid) -> Result<Option<cheap_core::dao::TaskRecord>> {
        match self.c()?.task_status(id).await {
            Ok(status) => Ok(Some(cheap_core::dao::TaskRecord {
                status,
                // The server has judged liveness already (an interrupted task says so).
                heartbeat_ms: std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as i64),
            })),
            Err(ClientError::NotFound { .. }) => Ok(None),
            Err(e) => Err(to_cheap(e)),
        }
    }

    async fn delete_hierarchy(&self, catalog: Uuid, name: &str) -> Result<bool> {
        self.c()?
            .delete_hierarchy(catalog, name)
            .await
            .map_err(to_cheap)
    }

    async fn list_hierarchies(&self, catalog: Uuid) -> Result<Vec<HierarchyInfo>> {
        self.c()?
            .list_hierarchies(catalog)
            .await
            .map_err(to_cheap)?
            .into_iter()
            .map(hierarchy_info)
            .collect()
    }

    async fn get_hierarchy(&self, catalog: Uuid, name: &str) -> Result<Hierarchy> {
        // The server caps a slice; a large hierarchy comes in pages, read by cursor so that
        // each costs the server its size. A write between two pages (a new version) starts the
        // read again, so the result is one version's.
        const ATTEMPTS: usize = 5;
        let mut last = None;
        'attempt: for _ in 0..ATTEMPTS {
            let first = self
                .read_hierarchy_page_after(catalog, name, None, u64::MAX)
                .await?;
            let mut whole = first.hierarchy;
            let mut next = first.next;
            while let Some(after) = next {
                let page = match self
                    .read_hierarchy_page_after(catalog, name, Some(&after), u64::MAX)
                    .await
                {
                    Ok(p) => p,
                    // Entries moved since the cursor was made: read again.
                    Err(CheapError::PreconditionFailed { .. }) => {
                        last = Some(whole.version);
                        continue 'attempt;
                    }
                    Err(e) => return Err(e),
                };
                if page.hierarchy.version != whole.version {
                    last = Some(page.hierarchy.version);
                    continue 'attempt;
                }
                next = page.next;
                append_page(&mut whole, page.hierarchy)?;
            }
            return Ok(whole);
        }
        Err(CheapError::Unavailable(format!(
            "hierarchy '{name}' kept changing while it was read in pages (last at version {})",
            last.unwrap_or_default()
        )))
    }

    async fn read_hierarchy_page(
        &self,
        catalog: Uuid,
        name: &str,
        offset: u64,
        limit: u64,
    ) -> Result<HierarchySlice> {
        let s = self
            .c()?
            .hierarchy_slice(catalog, name, offset, limit)
            .await
            .map_err(to_cheap)?;
        let offset = s.offset;
        let total = s.total;
        let hierarchy = self.slice_hierarchy(catalog, name, s).await?;
        Ok(HierarchySlice {
            hierarchy,
            offset,
            total,
        })
    }

    async fn read_hierarchy_page_after(
        &self,
        catalog: Uuid,
        name: &str,
        after: Option<&PageCursor>,
        limit: u64,
    ) -> Result<CursorPage> {
        cheap_core::dao::rules::page_limit(limit)?;
        let s = self
            .c()?
            .hierarchy_slice_after(catalog, name, after.map(PageCursor::as_str), limit)
            .await
            .map_err(to_cheap)?;
        let total = s.total;
        // The server made the token; one that does not parse is the server's fault.
        let next = s
            .next_cursor
            .as_deref()
            .map(str::parse::<PageCursor>)
            .transpose()
            .map_err(|e| CheapError::backend("rest", e))?;
        let hierarchy = self.slice_hierarchy(catalog, name, s).await?;
        Ok(CursorPage::new(hierarchy, total, next))
    }

    async fn add_entities(&self, catalog: Uuid, hierarchy: &str, ids: &[Uuid]) -> Result<u64> {
        // The REST route counts the ids sent, as the reference does; the DAO counts the
        // entries added (a set skips members it has), which the batch result is.
        self.single(
            catalog,
            BatchOp::AddEntities {
                hierarchy: hierarchy.to_owned(),
                entity_ids: ids.to_vec(),
            },
        )
        .await
    }

    async fn insert_entities(
        &self,
        catalog: Uuid,
        hierarchy: &str,
        index: u64,
        ids: &[Uuid],
    ) -> Result<u64> {
        Ok(self
            .c()?
            .insert_entities(catalog, hierarchy, index, ids)
            .await
            .map_err(to_cheap)?
            .count)
    }

    async fn remove_entities(&self, catalog: Uuid, hierarchy: &str, ids: &[Uuid]) -> Result<u64> {
        // The REST route removes one occurrence per id, as the reference does; the DAO's call
        // removes every one, which the batch operation says outright.
        self.single(
            catalog,
            BatchOp::RemoveEntities {
                hierarchy: hierarchy.to_owned(),
                entity_ids: ids.to_vec(),
                every_occurrence: true,
            },
        )
        .await
    }

    async fn put_directory_entries(
        &self,
        catalog: Uuid,
        hierarchy: &str,
        entries: &[(String, Uuid)],
    ) -> Result<u64> {
        let map: IndexMap<String, Uuid> = entries.iter().cloned().collect();
        self.c()?
            .add_directory_entries(catalog, hierarchy, &map)
            .await
            .map_err(to_cheap)?;
        Ok(entries.len() as u64)
    }

    async fn remove_directory_keys(
        &self,
        catalog: Uuid,
        hierarchy: &str,
        keys: &[String],
    ) -> Result<u64> {
        Ok(self
            .c()?
            .remove_directory_entries(catalog, hierarchy, &DirectoryRemoval::Names(keys.to_vec()))
            .await
            .map_err(to_cheap)?
            .count)
    }

    async fn remove_directory_entities(
        &self,
        catalog: Uuid,
        hierarchy: &str,
        ids: &[Uuid],
    ) -> Result<u64> {
        Ok(self
            .c()?
            .remove_directory_entries(
                catalog,
                hierarchy,
                &DirectoryRemoval::Entities(ids.to_vec()),
            )
            .await
            .map_err(to_cheap)?
            .count)
    }

    async fn add_tree_nodes(
        &self,
        catalog: Uuid,
        hierarchy: &str,
        parent_path: &str,
        nodes: &[(String, Option<Uuid>)],
    ) -> Result<u64> {
        let map: IndexMap<String, Option<Uuid>> = nodes.iter().cloned().collect();
        Ok(self
            .c()?
            .add_tree_nodes(catalog, hierarchy, parent_path, &map)
            .await
            .map_err(to_cheap)?
            .nodes_affected)
    }

    async fn remove_tree_nodes(
        &self,
        catalog: Uuid,
        hierarchy: &str,
        paths: &[String],
    ) -> Result<u64> {
        // The endpoint skips the root; the DAO contract refuses the whole call.
        if paths
            .iter()
            .any(|p| cheap_core::model::node_path(p).is_empty())
        {
            return Err(CheapError::invalid("the root of a tree cannot be removed"));
        }
        Ok(self
            .c()?
            .remove_tree_nodes(catalog, hierarchy, paths)
            .await
            .map_err(to_cheap)?
            .nodes_affected)
    }

    async fn upsert_aspects(
        &self,
        catalog: Uuid,
        aspect_def: &str,
        aspects: &[Aspect],
    ) -> Result<Vec<UpsertOutcome>> {
        // The aspects must be of the stored def itself (REST carries values, not defs, so a
        // look-alike def would pass the server's check); the server then checks the values
        // against the def it holds in the transaction that writes them.
        let def = self.get_aspect_def(catalog, aspect_def).await?;
        check_upsert(&def, aspect_def, aspects)?;
        if aspects.is_empty() {
            return Ok(Vec::new());
        }
        // One batch: the server checks the aspects against the def it holds in the same
        // transaction that writes them, all or none.
        let op = BatchOp::UpsertAspects {
            aspect_def: aspect_def.to_owned(),
            aspects: aspects.to_vec(),
        };
        match self.single_result(catalog, op).await? {
            BatchResult::Aspects(o) => Ok(o),
            _ => Err(CheapError::invalid("the server returned no outcomes")),
        }
    }

    async fn merge_aspects(
        &self,
        catalog: Uuid,
        aspect_def: &str,
        patches: &[AspectPatch],
    ) -> Result<Vec<Result<UpsertOutcome>>> {
        if patches.is_empty() {
            self.get_aspect_def(catalog, aspect_def).await?;
            return Ok(Vec::new());
        }
        // `?merge=true`: the server's store merges each patch in its own write, so concurrent
        // patches of one aspect all land; each item succeeds or fails alone.
        let inputs: Vec<AspectInput> = patches.iter().map(patch_input).collect();
        let r = self
            .c()?
            .merge_aspects(catalog, aspect_def, &inputs)
            .await
            .map_err(to_cheap)?;
        let mut by_entity: std::collections::HashMap<Uuid, cheap_core::rest::AspectResult> =
            r.results.into_iter().map(|x| (x.entity_id, x)).collect();
        Ok(patches
            .iter()
            .map(|p| match by_entity.remove(&p.entity_id) {
                Some(x) if x.success => Ok(UpsertOutcome {
                    entity_id: x.entity_id,
                    created: x.created,
                }),
                Some(x) => Err(CheapError::invalid(format!(
                    "aspect of entity {}: {}",
                    x.entity_id, x.message
                ))),
                None => Err(CheapError::invalid(format!(
                    "the server reported nothing for entity {}",
                    p.entity_id
                ))),
            })
            .collect())
    }

    async fn apply_batch(&self, catalog: Uuid, batch: &Batch) -> Result<BatchOutcome> {
        let mut req = BatchRequest {
            operations: Vec::with_capacity(batch.operations.len()),
            expected_version: batch.expected_version,
        };
        for (index, op) in batch.operations.iter().enumerate() {
            let rest =
                op.check()
                    .and_then(|()| operation(op))
                    .map_err(|e| CheapError::InBatch {
                        index,
                        source: Box::new(e),
                    })?;
            req.operations.push(rest);
        }
        let r = self
            .c()?
            .send_batch(catalog, &req)
            .await
            .map_err(|e| match to_cheap(e) {
                // The server does not echo a tag that named no version; the caller knows it.
                CheapError::PreconditionFailed { actual, .. } => CheapError::PreconditionFailed {
                    expected: batch.expected_version.unwrap_or(i64::MIN),
                    actual,
                },
                e => e,
            })?;
        let results = batch
            .operations
            .iter()
            .zip(r.results)
            .map(|(op, res)| batch_result(op, res))
            .collect();
        Ok(BatchOutcome {
            version: r.version,
            results,
        })
    }

    async fn delete_aspects(
        &self,
        catalog: Uuid,
        aspect_def: &str,
        entities: &[Uuid],
    ) -> Result<u64> {
        Ok(self
            .c()?
            .delete_aspects(catalog, aspect_def, entities)
            .await
            .map_err(to_cheap)?
            .count)
    }

    async fn query_aspects(
        &self,
        catalog: Uuid,
        entities: &[Uuid],
        aspect_defs: &[String],
    ) -> Result<Vec<AspectMap>> {
        let names: Vec<String> = if aspect_defs.is_empty() {
            self.list_hierarchies(catalog)
                .await?
                .into_iter()
                .filter(|h| h.hierarchy_type == HierarchyType::AspectMap)
                .map(|h| h.name)
                .collect()
        } else {
            aspect_defs.to_vec()
        };
        if !entities.is_empty() {
            if names.is_empty() {
                return Ok(Vec::new());
            }
            return self
                .c()?
                .query_aspect_maps(catalog, entities, &names)
                .await
                .map_err(to_cheap);
        }
        // Every aspect: whole maps.
        let mut out = Vec::with_capacity(names.len());
        for n in names {
            let h = self.get_hierarchy(catalog, &n).await?;
            match h.as_aspect_map() {
                Some(m) => out.push(m.clone()),
                None => return Err(CheapError::NotFound(NotFound::aspect_def(catalog, n))),
            }
        }
        Ok(out)
    }

    async fn changes_since(&self, catalog: Uuid, version: i64) -> Result<Changes> {
        let c = self
            .c()?
            .changes_since(catalog, version)
            .await
            .map_err(to_cheap)?;
        Ok(Changes {
            version: c.version,
            changed: c
                .changed
                .into_iter()
                .map(hierarchy_info)
                .collect::<Result<_>>()?,
            removed: c.removed,
        })
    }

    async fn aspect_changes_since(
        &self,
        catalog: Uuid,
        aspect_def: &str,
        version: i64,
    ) -> Result<AspectChanges> {
        let c = self
            .c()?
            .aspect_changes_since(catalog, aspect_def, version)
            .await
            .map_err(to_cheap)?;
        Ok(AspectChanges {
            version: c.version,
            rewritten: c.rewritten,
            changed: c.changed,
            removed: c.removed,
        })
    }

    async fn sync_mark(&self, catalog: Uuid) -> Result<Option<cheap_core::dao::SyncMark>> {
        Ok(self
            .c()?
            .sync_mark(catalog)
            .await
            .map_err(to_cheap)?
            .map(|m| cheap_core::dao::SyncMark {
                upstream_version: m.upstream_version,
                local_version: m.local_version,
                synced_at_ms: m.synced_at_ms,
            }))
    }

    async fn set_sync_mark(&self, catalog: Uuid, mark: cheap_core::dao::SyncMark) -> Result<()> {
        self.c()?
            .set_sync_mark(
                catalog,
                &cheap_core::rest::SyncMarkBody {
                    upstream_version: mark.upstream_version,
                    local_version: mark.local_version,
                    synced_at_ms: mark.synced_at_ms,
                },
            )
            .await
            .map_err(to_cheap)
    }

    async fn health_check(&self) -> Result<()> {
        let h = self.c()?.health_check().await.map_err(to_cheap)?;
        if h.status == "UP" {
            Ok(())
        } else {
            Err(CheapError::Unavailable(format!(
                "the server reports {}",
                h.status
            )))
        }
    }

    async fn close(&self) -> Result<()> {
        self.closed.store(true, Ordering::Release);
        Ok(())
    }
}
