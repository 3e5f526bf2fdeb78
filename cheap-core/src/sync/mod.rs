//! Catalog species that behave: a local replica of an upstream catalog, kept in step.
//!
//! The reference only stores a catalog's species. Here a [`Replica`] joins a local store and an
//! upstream store (any two [`CheapDao`]s: SQLite beside a remote server through the REST
//! client's `RemoteDao`, two databases, ...) for one catalog id:
//!
//! - **MIRROR** ([`Replica::checkout`] then [`Replica::pull`]): the local copy follows the
//!   upstream incrementally. Local writes through a [`SpeciesDao`] are refused.
//! - **CACHE**: reads through a [`SpeciesDao`] are served locally and refreshed by a pull when the
//!   last sync is older than a TTL; writes go to the upstream first, then locally.
//! - **CLONE**: local writes are kept; [`Replica::push`] sends them upstream, unless the upstream
//!   changed the same items since the clone's last sync: then it reports the conflicts and
//!   changes nothing upstream.
//! - **FORK** ([`Replica::fork`]): a copy under a new id that never syncs, and can become a SINK
//!   with [`save_as_sink`].
//!
//! What is incremental: aspect maps move aspect by aspect, through
//! [`CheapDao::aspect_changes_since`]; lists, sets, directories and trees that changed are copied
//! whole; a catalog saved whole upstream is copied whole. Where the replica stands is kept in
//! its [`SyncMark`].

mod follow;
mod guard;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use uuid::Uuid;

pub use guard::SpeciesDao;

use crate::dao::{AspectChanges, CheapDao, HierarchyInfo, SyncMark};
use crate::error::{CheapError, Result};
use crate::model::{
    Aspect, Catalog, CatalogSpecies, Hierarchy, HierarchyContent, HierarchyDef, HierarchyType,
};

/// Aspects per upsert when copying.
const CHUNK: usize = 1000;

/// What a pull did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PullReport {
    /// The whole catalog was copied (first sync, or the upstream was saved whole).
    pub full: bool,
    /// Hierarchies copied whole.
    pub replaced: Vec<String>,
    /// Hierarchies removed locally because the upstream removed them.
    pub removed: Vec<String>,
    /// Aspects copied one by one.
    pub aspects_copied: u64,
    /// Aspects deleted because the upstream deleted them.
    pub aspects_removed: u64,
    /// The upstream version the replica now matches.
    pub upstream_version: i64,
}

/// One item both sides changed since the last sync.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Conflict {
    /// A hierarchy changed (or was removed) on both sides.
    Hierarchy(String),
    /// The same entity's aspect changed on both sides.
    Aspect {
        /// The aspect map.
        hierarchy: String,
        /// The entity.
        entity: Uuid,
    },
}

/// What a push did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PushReport {
    /// Items changed on both sides; when not empty, nothing was pushed.
    pub conflicts: Vec<Conflict>,
    /// Hierarchies sent whole (created, or lists/sets/directories/trees that changed).
    pub replaced: Vec<String>,
    /// Hierarchies removed upstream.
    pub removed: Vec<String>,
    /// Aspects sent one by one.
    pub aspects_pushed: u64,
    /// Aspects deleted upstream.
    pub aspects_removed: u64,
    /// The upstream version after the push.
    pub upstream_version: i64,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// A local replica of one upstream catalog (same id in both stores).
#[derive(Clone)]
pub struct Replica {
    local: Arc<dyn CheapDao>,
    upstream: Arc<dyn CheapDao>,
    catalog: Uuid,
    /// How often an idle follower renews its sync mark ([`Replica::follow`]).
    touch_every: std::time::Duration,
}

impl std::fmt::Debug for Replica {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replica")
            .field("local", &self.local.backend_name())
            .field("upstream", &self.upstream.backend_name())
            .field("catalog", &self.catalog)
            .finish()
    }
}

impl Replica {
    /// The replica of `catalog` in `local`, following `upstream`.
    pub fn new(local: Arc<dyn CheapDao>, upstream: Arc<dyn CheapDao>, catalog: Uuid) -> Self {
        Replica {
            local,
            upstream,
            catalog,
            touch_every: follow::TOUCH_EVERY,
        }
    }

    /// The catalog id.
    pub fn catalog(&self) -> Uuid {
        self.catalog
    }

    /// The local store.
    pub fn local(&self) -> &Arc<dyn CheapDao> {
        &self.local
    }

    /// The upstream store.
    pub fn upstream(&self) -> &Arc<dyn CheapDao> {
        &self.upstream
    }

    /// How often [`follow`](Self::follow) renews the sync mark while no event comes (default
    /// 10 s): a CACHE read through a [`SpeciesDao`] whose TTL is longer is then served locally,
    /// without a pull, for as long as the follower runs.
    pub fn touching_every(mut self, every: std::time::Duration) -> Self {
        self.touch_every = every.max(std::time::Duration::from_millis(10));
        self
    }

    /// The replica's sync mark, None before the first sync (or without a local copy).
    pub async fn mark(&self) -> Result<Option<SyncMark>> {
        match self.local.sync_mark(self.catalog).await {
            Err(CheapError::NotFound(_)) => Ok(None),
            other => other,
        }
    }

    /// Copies the whole upstream catalog into the local store as a replica of `species`
    /// (MIRROR, CACHE or CLONE), replacing any local copy.
    pub async fn checkout(&self, species: CatalogSpecies) -> Result<PullReport> {
        if !matches!(
            species,
            CatalogSpecies::Mirror | CatalogSpecies::Cache | CatalogSpecies::Clone
        ) {
            return Err(CheapError::invalid(format!(
                "a replica is a MIRROR, CACHE or CLONE, not a {}",
                species.as_upper()
            )));
        }
        let up = self.upstream.load_catalog(self.catalog).await?;
        let mut copy = up.clone();
        copy.set_species(species, Some(self.catalog))?;
        copy.version = 0;
        let local_version = self.local.save_catalog(&copy).await?;
        self.local
            .set_sync_mark(
                self.catalog,
                SyncMark {
                    upstream_version: up.version,
                    local_version,
                    synced_at_ms: now_ms(),
                },
            )
            .await?;
        Ok(PullReport {
            full: true,
            replaced: up.hierarchies().map(|h| h.name().to_owned()).collect(),
            aspects_copied: up
                .hierarchies()
                .filter_map(|h| h.as_aspect_map())
                .map(|m| m.len() as u64)
                .sum(),
            upstream_version: up.version,
            ..PullReport::default()
        })
    }

    /// Brings the local copy to the upstream's state, copying only what changed since the last
    /// sync. Without a local copy it checks out a MIRROR. A CLONE with local changes is refused
    /// (push or discard them first): a pull would overwrite them.
    pub async fn pull(&self) -> Result<PullReport> {
        let Some(mark) = self.mark().await? else {
            return self.checkout(CatalogSpecies::Mirror).await;
        };
        let local = self.local.catalog_info(self.catalog).await?;
        if local.species == CatalogSpecies::Clone && local.version > mark.local_version {
            return Err(CheapError::conflict(format!(
                "clone {} has local changes; push them before pulling",
                self.catalog
            )));
        }
        let changes = self
            .upstream
            .changes_since(self.catalog, mark.upstream_version)
            .await?;
        let mut told = crate::dao::CatalogChanges::new(mark.upstream_version, changes.version);
        told.changed = changes.changed;
        told.removed = changes.removed;
        self.apply(mark, &told).await
    }

    /// Applies what changed upstream after the mark's version (as `changes` tells it) and
    /// moves the mark to `changes.version`. Aspect maps whose aspects `changes` names are
    /// copied aspect by aspect without asking the upstream which.
    pub(crate) async fn apply(
        &self,
        mark: SyncMark,
        changes: &crate::dao::CatalogChanges,
    ) -> Result<PullReport> {
        let mut report = PullReport {
            upstream_version: changes.version,
            ..PullReport::default()
        };
        if changes.version == mark.upstream_version {
            return Ok(report);
        }
        for name in &changes.removed {
            if self.local.delete_hierarchy(self.catalog, name).await? {
                report.removed.push(name.clone());
            }
        }
        for h in &changes.changed {
            let known = changes.aspects_of(&h.name);
            match self
                .pull_hierarchy(h, mark.upstream_version, known, &mut report)
                .await
            {
                // Removed upstream after the change was told (a later change will say so):
                // the upstream's state is what is copied, so it goes here too.
                Err(CheapError::NotFound(e)) if !matches!(e, crate::NotFound::Catalog { .. }) => {
                    let upstream_has = self
                        .upstream
                        .list_hierarchies(self.catalog)
                        .await?
                        .iter()
                        .any(|x| x.name == h.name);
                    if upstream_has {
                        return Err(CheapError::NotFound(e));
                    }
                    if self.local.delete_hierarchy(self.catalog, &h.name).await? {
                        report.removed.push(h.name.clone());
                    }
                }
                other => other?,
            }
        }
        let local_version = self.local.catalog_info(self.catalog).await?.version;
        self.local
            .set_sync_mark(
                self.catalog,
                SyncMark {
                    upstream_version: changes.version,
                    local_version,
                    synced_at_ms: now_ms(),
                },
            )
            .await?;
        Ok(report)
    }

    async fn pull_hierarchy(
        &self,
        h: &HierarchyInfo,
        since: i64,
        known: Option<&AspectChanges>,
        report: &mut PullReport,
    ) -> Result<()> {
        let id = self.catalog;
        if h.hierarchy_type == HierarchyType::AspectMap {
            let changes = match known {
                Some(c) => c.clone(),
                None => {
                    self.upstream
                        .aspect_changes_since(id, &h.name, since)
                        .await?
                }
            };
            let up_def = self.upstream.get_aspect_def(id, &h.name).await?;
            let same_def = self.local.get_aspect_def(id, &h.name).await.ok() == Some(up_def);
            if !changes.rewritten && same_def {
                let (copied, removed) =
                    copy_aspects(&*self.upstream, &*self.local, id, &h.name, &changes).await?;
                report.aspects_copied += copied;
                report.aspects_removed += removed;
                return Ok(());
            }
        }
        let whole = self.upstream.get_hierarchy(id, &h.name).await?;
        report.aspects_copied += replace_hierarchy(&*self.local, id, &whole).await?;
        report.replaced.push(h.name.clone());
        Ok(())
    }

    /// Sends a CLONE's local changes upstream. If the upstream changed any of the same items
    /// since the last sync, nothing is sent and the conflicts are reported.
    pub async fn push(&self) -> Result<PushReport> {
        let id = self.catalog;
        let mark = self
            .mark()
            .await?
            .ok_or_else(|| CheapError::invalid(format!("catalog {id} was never synced")))?;
        let info = self.local.catalog_info(id).await?;
        if info.species != CatalogSpecies::Clone {
            return Err(CheapError::NotAllowed(format!(
                "only a CLONE pushes; catalog {id} is a {}",
                info.species.as_upper()
            )));
        }
        let mine = self.local.changes_since(id, mark.local_version).await?;
        let theirs = self
            .upstream
            .changes_since(id, mark.upstream_version)
            .await?;
        let mut report = PushReport {
            upstream_version: theirs.version,
            ..PushReport::default()
        };
        // What each side touched, per hierarchy: None = whole, Some(ids) = those aspects.
        let their_names: HashSet<&str> = theirs
            .changed
            .iter()
            .map(|h| h.name.as_str())
            .chain(theirs.removed.iter().map(String::as_str))
            .collect();
        let mut plans = Vec::new();
        for name in mine
            .changed
            .iter()
            .map(|h| h.name.as_str())
            .chain(mine.removed.iter().map(String::as_str))
        {
            let removed_here = mine.removed.iter().any(|n| n == name);
            let kind = mine
                .changed
                .iter()
                .find(|h| h.name == name)
                .map(|h| h.hierarchy_type);
            let incremental = match kind {
                Some(HierarchyType::AspectMap) => {
                    let c = self
                        .local
                        .aspect_changes_since(id, name, mark.local_version)
                        .await?;
                    (!c.rewritten).then_some(c)
                }
                _ => None,
            };
            if their_names.contains(name) {
                let theirs_c = match (&incremental, kind) {
                    (Some(_), Some(HierarchyType::AspectMap)) => {
                        match self
                            .upstream
                            .aspect_changes_since(id, name, mark.upstream_version)
                            .await
                        {
                            Ok(c) if !c.rewritten => Some(c),
                            _ => None,
                        }
                    }
                    _ => None,
                };
                match (&incremental, theirs_c) {
                    (Some(m), Some(t)) => {
                        let theirs_ids: HashSet<Uuid> =
                            t.changed.iter().chain(&t.removed).copied().collect();
                        for e in m.changed.iter().chain(&m.removed) {
                            if theirs_ids.contains(e) {
                                report.conflicts.push(Conflict::Aspect {
                                    hierarchy: name.to_owned(),
                                    entity: *e,
                                });
                            }
                        }
                    }
                    _ => report.conflicts.push(Conflict::Hierarchy(name.to_owned())),
                }
            }
            plans.push((name.to_owned(), removed_here, incremental));
        }
        if !report.conflicts.is_empty() {
            report.conflicts.sort();
            return Ok(report);
        }
        for (name, removed_here, incremental) in plans {
            if removed_here && self.local.get_hierarchy(id, &name).await.is_err() {
                if self.upstream.delete_hierarchy(id, &name).await? {
                    report.removed.push(name);
                }
                continue;
            }
            match incremental {
                Some(c) => {
                    let (pushed, removed) =
                        copy_aspects(&*self.local, &*self.upstream, id, &name, &c).await?;
                    report.aspects_pushed += pushed;
                    report.aspects_removed += removed;
                }
                None => {
                    let whole = self.local.get_hierarchy(id, &name).await?;
                    report.aspects_pushed += replace_hierarchy(&*self.upstream, id, &whole).await?;
                    report.replaced.push(name);
                }
            }
        }
        report.upstream_version = self.upstream.catalog_info(id).await?.version;
        let local_version = self.local.catalog_info(id).await?.version;
        self.local
            .set_sync_mark(
                id,
                SyncMark {
                    upstream_version: report.upstream_version,
                    local_version,
                    synced_at_ms: now_ms(),
                },
            )
            .await?;
        Ok(report)
    }

    /// Copies the upstream catalog into the local store as a FORK with a new id (its upstream
    /// is the original). A fork never syncs.
    pub async fn fork(&self) -> Result<Uuid> {
        let up = self.upstream.load_catalog(self.catalog).await?;
        let id = Uuid::new_v4();
        let fork = rebuild(&up, id, CatalogSpecies::Fork, Some(self.catalog))?;
        self.local.save_catalog(&fork).await?;
        Ok(id)
    }
}

/// Turns a FORK into a SINK: the same contents under a new id, with no upstream ("save as").
/// Returns the new catalog's id; the fork stays.
pub async fn save_as_sink(dao: &dyn CheapDao, fork: Uuid) -> Result<Uuid> {
    let c = dao.load_catalog(fork).await?;
    if c.species() != CatalogSpecies::Fork {
        return Err(CheapError::NotAllowed(format!(
            "only a FORK is saved as a SINK; catalog {fork} is a {}",
            c.species().as_upper()
        )));
    }
    let id = Uuid::new_v4();
    dao.save_catalog(&rebuild(&c, id, CatalogSpecies::Sink, None)?)
        .await?;
    Ok(id)
}

/// `c`'s contents in a new catalog.
fn rebuild(
    c: &Catalog,
    id: Uuid,
    species: CatalogSpecies,
    upstream: Option<Uuid>,
) -> Result<Catalog> {
    let mut out = Catalog::with_id(id, species, upstream)?;
    out.uri = c.uri.clone();
    for h in c.hierarchies() {
        out.add_hierarchy(h.clone())?;
    }
    for d in c.aspect_defs() {
        if out.aspect_def(d.name()).is_none() {
            out.extend(d.clone())?;
        }
    }
    Ok(out)
}

/// Copies the changed aspects of map `name` from `from` to `to` and deletes the removed ones.
async fn copy_aspects(
    from: &dyn CheapDao,
    to: &dyn CheapDao,
    id: Uuid,
    name: &str,
    changes: &AspectChanges,
) -> Result<(u64, u64)> {
    let mut copied = 0;
    for chunk in changes.changed.chunks(CHUNK) {
        let maps = from.query_aspects(id, chunk, &[name.to_owned()]).await?;
        let aspects: Vec<Aspect> = maps.iter().flat_map(|m| m.iter().cloned()).collect();
        if !aspects.is_empty() {
            to.upsert_aspects(id, name, &aspects).await?;
            copied += aspects.len() as u64;
        }
    }
    let mut removed = 0;
    for chunk in changes.removed.chunks(CHUNK) {
        removed += to.delete_aspects(id, name, chunk).await?;
    }
    Ok((copied, removed))
}

/// Replaces hierarchy `h` in `to` with the given contents, through granular operations (so a
/// replica's other hierarchies are not rewritten). Returns the aspects written.
async fn replace_hierarchy(to: &dyn CheapDao, id: Uuid, h: &Hierarchy) -> Result<u64> {
    let name = h.name();
    to.delete_hierarchy(id, name).await?;
    match &h.content {
        HierarchyContent::AspectMap(m) => {
            to.put_aspect_def(id, m.def()).await?;
            let aspects: Vec<Aspect> = m.iter().cloned().collect();
            for chunk in aspects.chunks(CHUNK) {
                to.upsert_aspects(id, name, chunk).await?;
            }
            Ok(aspects.len() as u64)
        }
        HierarchyContent::List(l) => {
            to.create_hierarchy(id, &HierarchyDef::new(name, HierarchyType::EntityList))
                .await?;
            to.add_entities(id, name, &l.0).await?;
            Ok(0)
        }
        HierarchyContent::Set(s) => {
            to.create_hierarchy(id, &HierarchyDef::new(name, HierarchyType::EntitySet))
                .await?;
            let ids: Vec<Uuid> = s.iter().collect();
            to.add_entities(id, name, &ids).await?;
            Ok(0)
        }
        HierarchyContent::Directory(d) => {
            to.create_hierarchy(id, &HierarchyDef::new(name, HierarchyType::EntityDirectory))
                .await?;
            let entries: Vec<(String, Uuid)> = d.iter().map(|(k, e)| (k.to_owned(), e)).collect();
            to.put_directory_entries(id, name, &entries).await?;
            Ok(0)
        }
        HierarchyContent::Tree(_) => {
            // A tree root's own entity has no granular operation: rewrite the catalog locally.
            let mut c = to.load_catalog(id).await?;
            c.remove_hierarchy(name);
            c.add_hierarchy(h.clone())?;
            to.save_catalog(&c).await?;
            Ok(0)
        }
    }
}
