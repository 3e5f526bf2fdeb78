//! The position index: where the entry at a given position of a list, set, directory or
//! aspect map is, without walking every entry before it.
//!
//! A hierarchy's entries are stored by an order column, and SQL finds "the entry at position
//! p" only by stepping over the p entries before it (`OFFSET p`), so a page by number, and the
//! place of an insert into a list, cost more the deeper they go. The index cuts the entries
//! into chunks of about [`CHUNK`] consecutive entries and keeps, per chunk, the order its
//! range starts at and how many entries it holds. Position p is then the chunk whose running
//! count passes p, and the statement seeks to that chunk's first order along the order index
//! and steps over fewer than a chunk's entries.
//!
//! An entry describes one state of one hierarchy: its version and its catalog's epoch. Every
//! change to a hierarchy, by any process, gives it a version it never had before (see
//! `ops::changes::bump`), so an entry whose stamp matches the hierarchy's row, read in the same
//! snapshot as the rows it locates, is exact; a stamp that does not match is built again. This
//! process's own writes move their entry along (an append, an insert, a removal, a move),
//! after they commit, and only from the state the write found; so do a batch's list, set and
//! directory writes, joined, when no other kind of operation of the batch wrote that
//! hierarchy. Anything else (aspect writes to a map, an import, another process) leaves it to
//! fail its next check.

use std::num::NonZeroUsize;
use std::sync::Mutex;

use lru::LruCache;
use uuid::Uuid;

use crate::conn::{Arg, SqlConn};
use crate::meta::Stamp;
use cheap_core::model::HierarchyType;
use cheap_core::Result;

/// Entries per chunk when an index is built.
pub(crate) const CHUNK: u64 = 256;

/// A chunk grown by inserts past this many entries makes the index be built again, so a
/// lookup never steps over more than this.
const MAX_CHUNK: u32 = 16 * CHUNK as u32;

/// Hierarchies whose index a store keeps.
const CAPACITY: usize = 64;

/// One hierarchy's chunks. The first chunk starts at `i64::MIN`, so every order has one.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Chunks {
    starts: Vec<i64>,
    counts: Vec<u32>,
}

impl Chunks {
    /// Chunks of [`CHUNK`] entries from the orders of every `CHUNK`-th entry (the first, the
    /// 257th, ...) and the number of entries.
    fn from_samples(samples: &[i64], total: u64) -> Chunks {
        let mut starts: Vec<i64> = samples.to_vec();
        if starts.is_empty() {
            starts.push(i64::MIN);
        }
        starts[0] = i64::MIN;
        let m = starts.len() as u64;
        let mut counts = vec![CHUNK as u32; starts.len()];
        let last = total.saturating_sub((m - 1) * CHUNK);
        counts[starts.len() - 1] = u32::try_from(last).unwrap_or(u32::MAX);
        Chunks { starts, counts }
    }

    /// The order to seek to and the entries to step over from there to reach position `p`;
    /// past the end, the last chunk and the rest.
    fn seek(&self, p: u64) -> (i64, u64) {
        let mut before = 0u64;
        for (start, count) in self.starts.iter().zip(&self.counts) {
            let n = u64::from(*count);
            if p < before + n {
                return (*start, p - before);
            }
            before += n;
        }
        let last = self.starts.len() - 1;
        let n = u64::from(self.counts[last]);
        (self.starts[last], p - (before - n))
    }

    fn chunk_of(&self, order: i64) -> usize {
        // starts[0] is i64::MIN, so at least one start is <= order.
        self.starts
            .partition_point(|s| *s <= order)
            .saturating_sub(1)
    }

    /// Applies one step; false when the index can no longer be trusted to be cheap or right.
    fn apply(&mut self, step: &Step) -> bool {
        match step {
            Step::Append { from, n } => {
                // Nothing is stored at `from` or above: chunks that start above it are empty
                // (their first entries went), and the new entries belong to the one below.
                while self.starts.len() > 1 && self.starts[self.starts.len() - 1] > *from {
                    if self.counts.pop() != Some(0) {
                        return false;
                    }
                    self.starts.pop();
                }
                let last = self.counts.len() - 1;
                match u32::try_from(*n) {
                    Ok(n) => self.counts[last] = self.counts[last].saturating_add(n),
                    Err(_) => return false,
                }
                // Once the last chunk is too big, the index is built again (`last_too_big`).
                true
            }
            Step::Insert(orders) => {
                for o in orders {
                    let j = self.chunk_of(*o);
                    self.counts[j] += 1;
                    if self.counts[j] > MAX_CHUNK {
                        return false;
                    }
                }
                true
            }
            Step::Remove(orders) => {
                for o in orders {
                    let j = self.chunk_of(*o);
                    match self.counts[j].checked_sub(1) {
                        Some(n) => self.counts[j] = n,
                        None => return false,
                    }
                }
                true
            }
            Step::Shift { from, by } => {
                for s in self.starts.iter_mut().skip(1) {
                    if *s >= *from {
                        *s += by;
                    }
                }
                true
            }
            Step::Reset => false,
        }
    }

    fn last_too_big(&self) -> bool {
        self.counts.last().is_some_and(|n| *n > MAX_CHUNK)
    }
}

/// What a write did to a hierarchy's entries, in the order it did it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Step {
    /// `n` entries added after every other, at orders from `from` up.
    Append { from: i64, n: u64 },
    /// Entries added at these orders.
    Insert(Vec<i64>),
    /// The entries at these orders removed.
    Remove(Vec<i64>),
    /// Every entry at order `from` or above moved up by `by`.
    Shift { from: i64, by: i64 },
    /// The entries written again from scratch.
    Reset,
}

/// What one write transaction did to one hierarchy, for the index once it commits.
#[derive(Debug, Default)]
pub(crate) struct Edit {
    /// Whether the write notes its steps (and reads the orders of what it removes when an
    /// index is kept): for a write alone in its transaction and for one in a batch.
    pub tracking: bool,
    /// Whether an index the write builds may be kept: only when it runs alone in its
    /// transaction, so that what it reads is committed. False inside a batch.
    pub keeps: bool,
    /// The hierarchy's state the write found (none: the write cannot say; nothing is kept).
    pub base: Option<Stamp>,
    /// The hierarchy's version after the write.
    pub version: Option<i64>,
    pub steps: Vec<Step>,
}

impl Edit {
    /// The edit of a write that runs alone in its transaction.
    pub fn tracking() -> Edit {
        Edit {
            tracking: true,
            keeps: true,
            ..Edit::default()
        }
    }

    /// The edit of a write in a batch: its steps are noted, to be joined with the batch's
    /// other writes to the hierarchy ([`Edit::then`]); nothing it builds is kept.
    pub fn in_batch() -> Edit {
        Edit {
            tracking: true,
            ..Edit::default()
        }
    }

    pub fn push(&mut self, step: Step) {
        self.steps.push(step);
    }

    /// This edit followed by `next`, a later write of the same transaction to the same
    /// hierarchy: from the state this one found to the state `next` left.
    pub fn then(&mut self, next: Edit) {
        if self.base.is_none() {
            self.base = next.base;
        }
        if next.version.is_some() {
            self.version = next.version;
        }
        self.steps.extend(next.steps);
    }
}

type Key = (Uuid, String);

/// The position indexes of a store's hierarchies, least recently used out first.
#[derive(Debug)]
pub(crate) struct Positions {
    entries: Mutex<LruCache<Key, (Stamp, Chunks)>>,
}

impl Default for Positions {
    fn default() -> Self {
        Positions {
            entries: Mutex::new(LruCache::new(
                NonZeroUsize::new(CAPACITY).unwrap_or(NonZeroUsize::MIN),
            )),
        }
    }
}

impl Positions {
    fn lock(&self) -> std::sync::MutexGuard<'_, LruCache<Key, (Stamp, Chunks)>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether an index of the hierarchy is kept (at whatever state).
    pub fn holds(&self, catalog: Uuid, name: &str) -> bool {
        self.lock().contains(&(catalog, name.to_owned()))
    }

    /// Where position `p` is, if the index of the hierarchy describes exactly `stamp`.
    fn seek(&self, catalog: Uuid, name: &str, stamp: Stamp, p: u64) -> Option<(i64, u64)> {
        match self.lock().get(&(catalog, name.to_owned())) {
            Some((s, c)) if *s == stamp => Some(c.seek(p)),
            _ => None,
        }
    }

    fn put(&self, catalog: Uuid, name: &str, stamp: Stamp, chunks: Chunks) {
        self.lock().put((catalog, name.to_owned()), (stamp, chunks));
    }

    /// Moves the hierarchy's index along a committed write, when it described the state the
    /// write found; otherwise drops it.
    pub fn commit(&self, catalog: Uuid, name: &str, edit: &Edit) {
        let key = (catalog, name.to_owned());
        let mut entries = self.lock();
        let (Some(base), Some(version)) = (edit.base, edit.version) else {
            return;
        };
        let keep = match entries.peek_mut(&key) {
            Some((stamp, chunks)) if *stamp == base => {
                let ok = edit.steps.iter().all(|s| chunks.apply(s)) && !chunks.last_too_big();
                stamp.version = version;
                ok
            }
            Some(_) => false,
            None => return,
        };
        if !keep {
            entries.pop(&key);
        }
    }
}

/// Where the entries of a hierarchy are stored: the table and its order column.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ordered {
    pub table: &'static str,
    pub order: &'static str,
}

impl Ordered {
    /// Where hierarchies of kind `t` keep their entries in order; `None` for trees (read
    /// whole). An aspect map kept in a mapped table of its own has no stored order either:
    /// the caller checks that.
    pub fn of(t: HierarchyType) -> Option<Ordered> {
        let (table, order) = match t {
            HierarchyType::EntityList => ("hierarchy_entity_list", "list_order"),
            HierarchyType::EntitySet => ("hierarchy_entity_set", "set_order"),
            HierarchyType::EntityDirectory => ("hierarchy_entity_directory", "dir_order"),
            HierarchyType::AspectMap => ("hierarchy_aspect_map", "map_order"),
            _ => return None,
        };
        Some(Ordered { table, order })
    }
}

/// The order to seek to and the entries to step over from there to reach position `p` of
/// hierarchy `name`, whose row (read by this request) is at `stamp`: from the index, built
/// when it is missing or outdated and `p` is deep enough for it to pay. `None`: step from the
/// first entry.
///
/// `keep` says whether an index built here may be kept: only when nothing in this transaction
/// has written the hierarchy yet, so what it reads is committed.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn seek(
    positions: &Positions,
    conn: &mut dyn SqlConn,
    at: Ordered,
    catalog: Uuid,
    name: &str,
    stamp: Stamp,
    p: u64,
    keep: bool,
) -> Result<Option<(i64, u64)>> {
    if p < CHUNK {
        return Ok(None);
    }
    if let Some(found) = positions.seek(catalog, name, stamp, p) {
        return Ok(Some(found));
    }
    if !keep {
        return Ok(None);
    }
    let Some((built_at, chunks)) = build(conn, at, catalog, name).await? else {
        return Ok(None);
    };
    let found = chunks.seek(p);
    positions.put(catalog, name, built_at, chunks);
    // A write committed between the request's first statement and the build (a request that
    // reads outside one snapshot): the index is kept for the state it was built from, and
    // this request steps as it would have without it.
    Ok((built_at == stamp).then_some(found))
}

/// Reads the order of every [`CHUNK`]-th entry, numbered by the database (one pass along the
/// order index, returning a row per chunk), the number of entries, and the state of the
/// hierarchy they describe, all in one statement so that they come from one snapshot whatever
/// the transaction's isolation. `None` when the hierarchy is gone.
async fn build(
    conn: &mut dyn SqlConn,
    at: Ordered,
    catalog: Uuid,
    name: &str,
) -> Result<Option<(Stamp, Chunks)>> {
    let Ordered { table, order } = at;
    let sql = format!(
        "SELECT h.version_number, c.cheap_epoch, \
         (SELECT COUNT(*) FROM {table} WHERE catalog_id = ? AND hierarchy_name = ?), s.o \
         FROM hierarchy h JOIN catalog c ON c.catalog_id = h.catalog_id \
         LEFT JOIN (SELECT {order} AS o, ROW_NUMBER() OVER (ORDER BY {order}) AS r FROM {table} WHERE catalog_id = ? AND hierarchy_name = ?) s \
         ON (s.r - 1) % {CHUNK} = 0 \
         WHERE h.catalog_id = ? AND h.name = ? ORDER BY s.o"
    );
    let args = [
        Arg::Uuid(catalog),
        Arg::text(name),
        Arg::Uuid(catalog),
        Arg::text(name),
        Arg::Uuid(catalog),
        Arg::text(name),
    ];
    let mut head: Option<(Stamp, i64)> = None;
    let mut samples = Vec::new();
    conn.for_each(&sql, &args, &mut |r| {
        if head.is_none() {
            let stamp = Stamp {
                version: r.int(0)?,
                epoch: r.opt_int(1)?,
            };
            head = Some((stamp, r.int(2)?));
        }
        // An empty hierarchy has its row and no sample.
        if let Some(o) = r.opt_int(3)? {
            samples.push(o);
        }
        Ok(())
    })
    .await?;
    Ok(head.map(|(stamp, total)| (stamp, Chunks::from_samples(&samples, total.max(0) as u64))))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Chunks built over `orders` (sorted), as the store would.
    fn built(orders: &[i64]) -> Chunks {
        let samples: Vec<i64> = orders.iter().step_by(CHUNK as usize).copied().collect();
        Chunks::from_samples(&samples, orders.len() as u64)
    }

    /// Position `p` found through the chunks, against the sorted orders.
    fn locate(c: &Chunks, orders: &[i64], p: usize) -> i64 {
        let (from, rest) = c.seek(p as u64);
        let at = orders.partition_point(|o| *o < from);
        orders[at + rest as usize]
    }

    #[test]
    fn every_position_is_found_after_inserts_removals_and_moves() {
        let mut orders: Vec<i64> = (0..2_000).map(|i| i * 1_024).collect();
        let mut c = built(&orders);
        for p in [0, 1, 255, 256, 257, 1_000, 1_999] {
            assert_eq!(locate(&c, &orders, p), orders[p]);
        }
        // Inserts into gaps, at the front and at the end.
        let added = vec![5, 300_001, -7, 2_000 * 1_024];
        assert!(c.apply(&Step::Insert(added.clone())));
        orders.extend(added);
        orders.sort_unstable();
        // Removals.
        let gone = vec![orders[10], orders[700], orders[1_500]];
        assert!(c.apply(&Step::Remove(gone.clone())));
        orders.retain(|o| !gone.contains(o));
        // Everything from an order on moves up.
        let from = orders[900];
        assert!(c.apply(&Step::Shift { from, by: 77 }));
        for o in orders.iter_mut().filter(|o| **o >= from) {
            *o += 77;
        }
        // Appends after the last.
        let last = *orders.last().unwrap_or(&0);
        assert!(c.apply(&Step::Append {
            from: last + 1,
            n: 3
        }));
        orders.extend([last + 1, last + 2, last + 3]);
        for p in 0..orders.len() {
            assert_eq!(locate(&c, &orders, p), orders[p], "position {p}");
        }
    }

    #[test]
    fn an_empty_hierarchy_has_one_empty_chunk() {
        let c = Chunks::from_samples(&[], 0);
        assert_eq!(c.seek(0), (i64::MIN, 0));
        assert_eq!(c.seek(5), (i64::MIN, 5));
    }

    #[test]
    fn an_index_moves_only_from_the_state_the_write_found() {
        let p = Positions::default();
        let cat = Uuid::new_v4();
        let at = |version| Stamp {
            version,
            epoch: Some(1),
        };
        p.put(cat, "l", at(3), built(&(0..1_000).collect::<Vec<_>>()));
        let edit = |base, version, steps| Edit {
            tracking: true,
            keeps: true,
            base: Some(at(base)),
            version: Some(version),
            steps,
        };
        p.commit(
            cat,
            "l",
            &edit(3, 5, vec![Step::Append { from: 1_000, n: 1 }]),
        );
        assert!(p.seek(cat, "l", at(5), 300).is_some());
        assert!(p.seek(cat, "l", at(3), 300).is_none());
        // Another writer came between: the index goes.
        p.commit(
            cat,
            "l",
            &edit(6, 7, vec![Step::Append { from: 1_000, n: 1 }]),
        );
        assert!(!p.holds(cat, "l"));
        p.put(cat, "l", at(7), built(&(0..1_000).collect::<Vec<_>>()));
        p.commit(cat, "l", &edit(7, 8, vec![Step::Reset]));
        assert!(!p.holds(cat, "l"));
    }

    #[test]
    fn a_chunk_grown_too_big_drops_the_index() {
        let mut c = built(&(0..1_000).map(|i| i * 100_000).collect::<Vec<_>>());
        let crowded: Vec<i64> = (1..=MAX_CHUNK as i64).collect();
        assert!(!c.apply(&Step::Insert(crowded)));
    }
}
