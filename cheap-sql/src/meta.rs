//! The metadata cache: per catalog, its hierarchies (names and kinds, in order) and its aspect
//! defs, valid for one catalog version and one incarnation of the catalog row.
//!
//! Every request reads the catalog's row anyway (to find it, and for its version); when the
//! version and epoch match a cached entry, the hierarchies and defs are not read again. A write
//! anywhere, by any process, advances the version, so an entry can never be served stale: the
//! check is the one indexed single-row read the request makes first. A process's own writes
//! that change no metadata (aspects, entries) move its entry to the new version instead of
//! dropping it; writes that do change metadata drop it.

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

use lru::LruCache;
use uuid::Uuid;

use cheap_core::model::{AspectDef, HierarchyType};

/// A catalog's structure at one version.
#[derive(Debug, Default)]
pub(crate) struct CatalogMeta {
    /// Every hierarchy, in the catalog's order.
    pub hierarchies: Vec<(String, HierarchyType)>,
    /// The defs of the aspect maps, by name.
    pub defs: HashMap<String, Arc<AspectDef>>,
}

impl CatalogMeta {
    /// The kind of hierarchy `name`, if the catalog has it.
    pub fn kind(&self, name: &str) -> Option<HierarchyType> {
        self.hierarchies
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, k)| *k)
    }
}

/// Which state of a catalog an entry describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stamp {
    /// The catalog's version.
    pub version: i64,
    /// The catalog row's incarnation: a catalog deleted and created again gets a new one, so
    /// its versions cannot be confused with the old catalog's.
    pub epoch: Option<i64>,
}

/// A bounded map from catalog id to its metadata, least recently used out first.
#[derive(Debug)]
pub struct MetaCache {
    entries: Mutex<LruCache<Uuid, (Stamp, Arc<CatalogMeta>)>>,
}

/// Catalogs whose metadata a store keeps unless told otherwise.
pub const DEFAULT_META_CAPACITY: usize = 1024;

impl MetaCache {
    /// A cache of at most `capacity` catalogs (at least 1).
    pub fn new(capacity: usize) -> Self {
        let capacity = NonZeroUsize::new(capacity).unwrap_or(NonZeroUsize::MIN);
        MetaCache {
            entries: Mutex::new(LruCache::new(capacity)),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LruCache<Uuid, (Stamp, Arc<CatalogMeta>)>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The entry of `catalog` if it describes exactly `stamp`.
    pub(crate) fn get(&self, catalog: Uuid, stamp: Stamp) -> Option<Arc<CatalogMeta>> {
        match self.lock().get(&catalog) {
            Some((s, m)) if *s == stamp => Some(m.clone()),
            _ => None,
        }
    }

    /// The latest entry of `catalog`, whatever its version: for checks that the write's own
    /// transaction repeats against the current metadata.
    pub(crate) fn latest(&self, catalog: Uuid) -> Option<Arc<CatalogMeta>> {
        self.lock().get(&catalog).map(|(_, m)| m.clone())
    }

    /// The latest entry of `catalog` with the stamp it holds for: for a read that checks, in
    /// its own statement, that the catalog is still at that stamp.
    pub(crate) fn latest_stamped(&self, catalog: Uuid) -> Option<(Stamp, Arc<CatalogMeta>)> {
        self.lock().get(&catalog).map(|(s, m)| (*s, m.clone()))
    }

    /// Keeps `meta` as `catalog`'s state at `stamp`.
    pub(crate) fn put(&self, catalog: Uuid, stamp: Stamp, meta: Arc<CatalogMeta>) {
        self.lock().put(catalog, (stamp, meta));
    }

    /// Drops `catalog`'s entry (its metadata changed).
    pub(crate) fn forget(&self, catalog: Uuid) {
        self.lock().pop(&catalog);
    }

    /// Moves `catalog`'s entry from version `to - 1` to `to` after a committed write that
    /// changed no metadata; an entry of any other version is left to fail its next check.
    pub(crate) fn advance(&self, catalog: Uuid, to: i64) {
        if let Some((s, _)) = self.lock().peek_mut(&catalog) {
            if s.version == to - 1 {
                s.version = to;
            }
        }
    }

    /// How many catalogs it holds.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Default for MetaCache {
    fn default() -> Self {
        MetaCache::new(DEFAULT_META_CAPACITY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_answers_only_for_its_stamp() {
        let c = MetaCache::new(2);
        let id = Uuid::new_v4();
        let at = |version, epoch| Stamp { version, epoch };
        c.put(id, at(3, Some(7)), Arc::default());
        assert!(c.get(id, at(3, Some(7))).is_some());
        assert!(c.get(id, at(4, Some(7))).is_none());
        assert!(c.get(id, at(3, Some(8))).is_none());
        c.advance(id, 4);
        assert!(c.get(id, at(4, Some(7))).is_some());
        // Only from the version just before: a gap means another writer came between.
        c.advance(id, 6);
        assert!(c.get(id, at(6, Some(7))).is_none());
        c.forget(id);
        assert!(c.is_empty());
    }

    #[test]
    fn the_least_recently_used_catalog_goes_first() {
        let c = MetaCache::new(2);
        let (a, b, d) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let s = Stamp {
            version: 1,
            epoch: None,
        };
        c.put(a, s, Arc::default());
        c.put(b, s, Arc::default());
        assert!(c.get(a, s).is_some());
        c.put(d, s, Arc::default());
        assert!(c.get(b, s).is_none(), "b was least recently used");
        assert!(c.get(a, s).is_some());
        assert_eq!(c.len(), 2);
    }
}
