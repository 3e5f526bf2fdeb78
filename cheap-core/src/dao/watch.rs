//! Watching a catalog: a stream of what changed, as it changes.
//!
//! [`CheapDao::watch`] returns [`ChangeEvent`]s. Every event is computed from the store's own
//! change tracking ([`CheapDao::changes_since`] and [`CheapDao::aspect_changes_since`]) between
//! the version the watcher last saw and the current one, so a watcher never misses a change:
//! a watcher that is slow to read merges several writes into one event, it is not given a gap.
//! What differs per store is only when it looks ([`Signal`]): the SQL stores after a
//! notification (PostgreSQL) or a shared poll (SQLite, MariaDB), [`MemoryDao`](super::MemoryDao)
//! after each of its writes, any other store on a timer.

use std::time::Duration;

use futures::stream::{BoxStream, Stream};
use futures::StreamExt;
use uuid::Uuid;

use super::{AspectChanges, CheapDao, HierarchyInfo};
use crate::error::{CheapError, Result};
use crate::model::HierarchyType;

/// How often a store without notifications looks for changes.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_millis(100);

/// What a watcher of one catalog is told.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChangeEvent {
    /// The catalog moved on: what changed after `since` up to `version`.
    Changed(CatalogChanges),
    /// What changed cannot be told (the catalog was deleted and created again, or the watcher
    /// asked from a version the catalog never reached): re-read it whole. The catalog is now
    /// at `version`, and the next events continue from there.
    Resync {
        /// The catalog's current version.
        version: i64,
    },
    /// The catalog was deleted. Nothing follows.
    Deleted,
}

impl ChangeEvent {
    /// The catalog's version after this event (`None` for [`ChangeEvent::Deleted`]).
    pub fn version(&self) -> Option<i64> {
        match self {
            ChangeEvent::Changed(c) => Some(c.version),
            ChangeEvent::Resync { version } => Some(*version),
            ChangeEvent::Deleted => None,
        }
    }
}

/// What changed in a catalog between two versions.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct CatalogChanges {
    /// The version the changes start after.
    pub since: i64,
    /// The catalog's version they lead to.
    pub version: i64,
    /// Hierarchies changed (or created) after `since`.
    pub changed: Vec<HierarchyInfo>,
    /// Hierarchies removed after `since`.
    pub removed: Vec<String>,
    /// For each changed aspect map, by its name: the aspects written and deleted, or that it
    /// was rewritten whole.
    pub aspects: Vec<(String, AspectChanges)>,
}

impl CatalogChanges {
    /// Changes from `since` to `version`.
    pub fn new(since: i64, version: i64) -> Self {
        CatalogChanges {
            since,
            version,
            ..CatalogChanges::default()
        }
    }

    /// The aspect changes of the aspect map `name`, when it changed.
    pub fn aspects_of(&self, name: &str) -> Option<&AspectChanges> {
        self.aspects.iter().find(|(n, _)| n == name).map(|(_, a)| a)
    }
}

/// When a watch looks at the store again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Signal {
    /// Something may have changed: look.
    Look,
    /// The catalog was deleted and created again (a new incarnation): what changed cannot be
    /// told from versions.
    Recreated,
}

/// What changed after `since`, or `None` when nothing did.
pub async fn changes_after<D: CheapDao + ?Sized>(
    dao: &D,
    catalog: Uuid,
    since: i64,
) -> Result<Option<ChangeEvent>> {
    let changes = dao.changes_since(catalog, since).await?;
    if changes.version == since {
        return Ok(None);
    }
    if changes.version < since {
        return Ok(Some(ChangeEvent::Resync {
            version: changes.version,
        }));
    }
    let mut out = CatalogChanges::new(since, changes.version);
    for h in &changes.changed {
        if h.hierarchy_type == HierarchyType::AspectMap {
            let mut a = dao.aspect_changes_since(catalog, &h.name, since).await?;
            // Read after the hierarchy list: it may reach past `version`. Saying more is
            // harmless to a follower, which copies the current state of what is named.
            a.version = changes.version;
            out.aspects.push((h.name.clone(), a));
        }
    }
    out.changed = changes.changed;
    out.removed = changes.removed;
    Ok(Some(ChangeEvent::Changed(out)))
}

/// The events of `catalog` after `since`, looking once at the start and again at each signal.
///
/// The first look fails with [`CheapError::NotFound`] when the catalog does not exist; a later
/// one that finds it gone yields [`ChangeEvent::Deleted`] and ends. Other errors are yielded and
/// the watch goes on at the next signal. The stream ends when `signals` does.
pub fn follow<'a, D, S>(
    dao: &'a D,
    catalog: Uuid,
    since: i64,
    signals: S,
) -> BoxStream<'a, Result<ChangeEvent>>
where
    D: CheapDao + ?Sized,
    S: Stream<Item = Signal> + Send + 'a,
{
    async_stream::stream! {
        let mut signals = std::pin::pin!(signals);
        let mut last = since;
        let mut first = true;
        let mut signal = Signal::Look;
        loop {
            let looked = match signal {
                Signal::Look => changes_after(dao, catalog, last).await,
                Signal::Recreated => dao
                    .catalog_info(catalog)
                    .await
                    .map(|c| Some(ChangeEvent::Resync { version: c.version })),
            };
            match looked {
                Ok(Some(event)) => {
                    if let Some(v) = event.version() {
                        last = v;
                    }
                    yield Ok(event);
                }
                Ok(None) => {}
                Err(CheapError::NotFound(e)) if first => {
                    yield Err(CheapError::NotFound(e));
                    return;
                }
                Err(CheapError::NotFound(_)) => {
                    yield Ok(ChangeEvent::Deleted);
                    return;
                }
                Err(e) => yield Err(e),
            }
            first = false;
            match signals.next().await {
                Some(s) => signal = s,
                None => return,
            }
        }
    }
    .boxed()
}

/// A [`Signal::Look`] every `interval`: the watch of a store that cannot notify.
pub fn every(interval: Duration) -> impl Stream<Item = Signal> + Send + 'static {
    let mut timer = tokio::time::interval(interval);
    timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    futures::stream::unfold(timer, |mut timer| async move {
        timer.tick().await;
        Some((Signal::Look, timer))
    })
    // The interval's first tick is immediate; the first look is made without a signal.
    .skip(1)
}
