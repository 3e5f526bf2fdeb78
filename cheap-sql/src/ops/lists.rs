//! Entity lists in place: an entry keeps its `list_order` for as long as it stays, so that an
//! insert or a removal touches the entries it adds or removes, not the whole list, and a
//! cursor (the last order read) stays exact while the list changes.
//!
//! Orders increase along the list but need not be consecutive: a removal leaves a gap, an
//! insert goes into the gap before its position when there is room, and only when there is
//! none are the entries after it moved up, with room left for the inserts that follow.

use std::collections::HashMap;

use uuid::Uuid;

use super::*;
use crate::batch::placeholders;
use crate::content;
use cheap_core::{CheapError, Result};

/// Room left after entries moved up for an insert, for the next inserts at that place.
const SLACK: i64 = 1024;
/// Orders are 32-bit in the reference's schema.
const MAX_ORDER: i64 = i32::MAX as i64;

const LIST: &str = "hierarchy_entity_list";

/// The list's entity ids, in order.
pub(super) async fn read_list(conn: &mut dyn SqlConn, cat: Uuid, name: &str) -> Result<Vec<Uuid>> {
    conn.fetch_all(
        "SELECT entity_id FROM hierarchy_entity_list WHERE catalog_id = ? AND hierarchy_name = ? ORDER BY list_order",
        &[Arg::Uuid(cat), Arg::text(name)],
    )
    .await?
    .iter()
    .map(|r| r.uuid(0))
    .collect()
}

/// Writes the list again as `ids`, with orders 0, 1, 2...
pub(super) async fn rewrite_list(
    conn: &mut dyn SqlConn,
    d: &dyn Dialect,
    cat: Uuid,
    name: &str,
    ids: &[Uuid],
) -> Result<()> {
    conn.execute(
        "DELETE FROM hierarchy_entity_list WHERE catalog_id = ? AND hierarchy_name = ?",
        &[Arg::Uuid(cat), Arg::text(name)],
    )
    .await?;
    content::insert_list(conn, d, cat, name, ids, 0).await?;
    Ok(())
}

/// Inserts `ids` before the entry at position `index` (at the end when `index` is the length);
/// returns how many went in. Runs in the caller's write transaction.
pub(super) async fn insert_at(
    conn: &mut dyn SqlConn,
    d: &dyn Dialect,
    cat: Uuid,
    name: &str,
    index: u64,
    ids: &[Uuid],
) -> Result<u64> {
    let (before, at) = neighbours(conn, cat, name, index).await?;
    if ids.is_empty() {
        return Ok(0);
    }
    let k = ids.len() as i64;
    let orders: Vec<i64> = match (before, at) {
        // At the end (or into an empty list).
        (b, None) => {
            let first = b.map_or(0, |b| b + 1);
            if first + k - 1 > MAX_ORDER {
                return renumber_with(conn, d, cat, name, index, ids).await;
            }
            (first..first + k).collect()
        }
        // At the front: below the first entry.
        (None, Some(a)) => {
            let first = a - k;
            if first < -MAX_ORDER {
                return renumber_with(conn, d, cat, name, index, ids).await;
            }
            (first..a).collect()
        }
        (Some(b), Some(a)) => {
            let mut hi = a;
            if hi - b - 1 < k {
                let shift = k + SLACK;
                let Some(new_hi) = move_up(conn, cat, name, a, shift).await? else {
                    return renumber_with(conn, d, cat, name, index, ids).await;
                };
                hi = new_hi;
            }
            // Spread evenly over the gap, leaving room on both sides.
            let gap = hi - b;
            (1..=k).map(|j| b + gap * j / (k + 1)).collect()
        }
    };
    let rows: Vec<(Uuid, i64)> = ids.iter().copied().zip(orders).collect();
    content::insert_list_rows(conn, d, cat, name, &rows).await
}

/// The orders of the entries at positions `index - 1` and `index`; past the end is invalid.
async fn neighbours(
    conn: &mut dyn SqlConn,
    cat: Uuid,
    name: &str,
    index: u64,
) -> Result<(Option<i64>, Option<i64>)> {
    let from = index.saturating_sub(1);
    let rows = conn
        .fetch_all(
            "SELECT list_order FROM hierarchy_entity_list WHERE catalog_id = ? AND hierarchy_name = ? ORDER BY list_order LIMIT 2 OFFSET ?",
            &[
                Arg::Uuid(cat),
                Arg::text(name),
                Arg::Int(i64::try_from(from).unwrap_or(i64::MAX)),
            ],
        )
        .await?;
    let orders: Vec<i64> = rows.iter().map(|r| r.int(0)).collect::<Result<_>>()?;
    let found = orders.len() as u64;
    if index == 0 {
        return Ok((None, orders.first().copied()));
    }
    if found == 0 {
        let len = conn
            .fetch_int(
                "SELECT COUNT(*) FROM hierarchy_entity_list WHERE catalog_id = ? AND hierarchy_name = ?",
                &[Arg::Uuid(cat), Arg::text(name)],
            )
            .await?;
        return Err(CheapError::invalid(format!(
            "index {index} is past the end of list '{name}' ({len} entries)"
        )));
    }
    Ok((orders.first().copied(), orders.get(1).copied()))
}

/// Moves every entry from order `from` on up by `shift`, in two steps through a range above
/// the list so that no step meets an order still taken; returns the first moved entry's new
/// order, or `None` when that would pass the largest order.
async fn move_up(
    conn: &mut dyn SqlConn,
    cat: Uuid,
    name: &str,
    from: i64,
    shift: i64,
) -> Result<Option<i64>> {
    let args = [Arg::Uuid(cat), Arg::text(name)];
    let max = conn
        .fetch_int(
            "SELECT MAX(list_order) FROM hierarchy_entity_list WHERE catalog_id = ? AND hierarchy_name = ?",
            &args,
        )
        .await?;
    let detour = max - from + 1;
    if max + detour + shift > MAX_ORDER {
        return Ok(None);
    }
    let step = |by: i64, at: i64| [Arg::Int(by), Arg::Uuid(cat), Arg::text(name), Arg::Int(at)];
    conn.execute(
        "UPDATE hierarchy_entity_list SET list_order = list_order + ? WHERE catalog_id = ? AND hierarchy_name = ? AND list_order >= ?",
        &step(detour + shift, from),
    )
    .await?;
    conn.execute(
        "UPDATE hierarchy_entity_list SET list_order = list_order - ? WHERE catalog_id = ? AND hierarchy_name = ? AND list_order >= ?",
        &step(detour, from + detour + shift),
    )
    .await?;
    Ok(Some(from + shift))
}

/// The whole list written again with `ids` inserted at `index`: for a list whose orders ran
/// out of room.
async fn renumber_with(
    conn: &mut dyn SqlConn,
    d: &dyn Dialect,
    cat: Uuid,
    name: &str,
    index: u64,
    ids: &[Uuid],
) -> Result<u64> {
    let mut list = read_list(conn, cat, name).await?;
    let i = usize::try_from(index).unwrap_or(usize::MAX).min(list.len());
    list.splice(i..i, ids.iter().copied());
    rewrite_list(conn, d, cat, name, &list).await?;
    Ok(ids.len() as u64)
}

/// Removes from the list every occurrence of each of `ids`, or (`every_occurrence` false) the
/// first occurrence per mention, so an id given twice removes its first two; returns how many
/// entries went.
pub(super) async fn remove(
    conn: &mut dyn SqlConn,
    d: &dyn Dialect,
    cat: Uuid,
    name: &str,
    ids: &[Uuid],
    every_occurrence: bool,
) -> Result<u64> {
    if every_occurrence {
        return delete_in(conn, d, LIST, "entity_id", cat, name, &uuid_args(ids)).await;
    }
    let mut wanted: HashMap<Uuid, usize> = HashMap::new();
    for id in ids {
        *wanted.entry(*id).or_default() += 1;
    }
    let unique: Vec<Uuid> = wanted.keys().copied().collect();
    let mut found: Vec<(i64, Uuid)> = Vec::new();
    for chunk in unique.chunks(d.in_chunk()) {
        let sql = format!(
            "SELECT list_order, entity_id FROM hierarchy_entity_list WHERE catalog_id = ? AND hierarchy_name = ? AND entity_id IN ({})",
            placeholders(chunk.len())
        );
        let mut args = vec![Arg::Uuid(cat), Arg::text(name)];
        args.extend(uuid_args(chunk));
        for r in conn.fetch_all(&sql, &args).await? {
            found.push((r.int(0)?, r.uuid(1)?));
        }
    }
    found.sort_unstable();
    let mut gone: Vec<Arg> = Vec::new();
    for (order, id) in found {
        if let Some(left) = wanted.get_mut(&id).filter(|n| **n > 0) {
            *left -= 1;
            gone.push(Arg::Int(order));
        }
    }
    delete_in(conn, d, LIST, "list_order", cat, name, &gone).await
}
