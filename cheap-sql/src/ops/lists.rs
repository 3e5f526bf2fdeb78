//! Entity lists in place: an entry keeps its `list_order` for as long as it stays, so that an
//! insert or a removal touches the entries it adds or removes, not the whole list, and a
//! cursor (the last order read) stays exact while the list changes.
//!
//! Orders increase along the list with room between them ([`LIST_STRIDE`]): a removal leaves
//! a gap, an insert goes into the gap before its position, and only when that has no room left
//! are the entries after it moved up (with room to spare), or the whole list renumbered when
//! the orders run out. Either is a move: the write records it as a rewrite of the list, and a
//! cursor made before it is refused rather than followed to the wrong place.

use std::collections::HashMap;

use uuid::Uuid;

use super::*;
use crate::batch::placeholders;
use crate::content::{self, spaced_orders, LIST_STRIDE, MAX_LIST_ORDER};
use crate::meta::Stamp;
use crate::positions::{self, Ordered, Positions, Step};
use cheap_core::model::HierarchyType;
use cheap_core::{CheapError, Result};

/// Room left after entries moved up for an insert, for the next inserts at that place.
const SLACK: i64 = LIST_STRIDE;
const MAX_ORDER: i64 = MAX_LIST_ORDER;

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

/// Writes the list again as `ids`, with room between the entries.
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
    content::insert_list(conn, d, cat, name, ids, None).await?;
    Ok(())
}

/// What a write did to a list: how many entries went in, whether others moved, and the steps
/// that bring a position index along.
pub(super) struct Written {
    pub entries: u64,
    pub moved: bool,
    pub steps: Vec<Step>,
}

/// Appends `ids` after the last entry.
pub(super) async fn append(
    conn: &mut dyn SqlConn,
    d: &dyn Dialect,
    cat: Uuid,
    name: &str,
    ids: &[Uuid],
) -> Result<Written> {
    let last = conn
        .fetch_optional(
            "SELECT MAX(list_order) FROM hierarchy_entity_list WHERE catalog_id = ? AND hierarchy_name = ?",
            &[Arg::Uuid(cat), Arg::text(name)],
        )
        .await?
        .map(|r| r.opt_int(0))
        .transpose()?
        .flatten();
    match spaced_orders(last, ids.len()) {
        Some(orders) => {
            let from = orders.first().copied().unwrap_or(i64::MAX);
            let rows: Vec<(Uuid, i64)> = ids.iter().copied().zip(orders).collect();
            let entries = content::insert_list_rows(conn, d, cat, name, &rows).await?;
            Ok(Written {
                entries,
                moved: false,
                steps: vec![Step::Append { from, n: entries }],
            })
        }
        None => renumber_with(conn, d, cat, name, u64::MAX, ids).await,
    }
}

/// Where a list insert finds its place: the position index and the state the list is at.
pub(super) struct Place<'a> {
    pub positions: &'a Positions,
    pub stamp: Stamp,
    /// Whether an index built here may be kept (nothing of this transaction wrote the list).
    pub keep: bool,
}

/// Inserts `ids` before the entry at position `index` (at the end when `index` is the length).
/// Runs in the caller's write transaction.
#[allow(clippy::too_many_arguments)]
pub(super) async fn insert_at(
    conn: &mut dyn SqlConn,
    d: &dyn Dialect,
    cat: Uuid,
    name: &str,
    index: u64,
    ids: &[Uuid],
    place: Place<'_>,
) -> Result<Written> {
    let (before, at) = neighbours(conn, cat, name, index, place).await?;
    if ids.is_empty() {
        return Ok(Written {
            entries: 0,
            moved: false,
            steps: Vec::new(),
        });
    }
    let k = ids.len() as i64;
    let mut steps = Vec::new();
    let orders: Vec<i64> = match (before, at) {
        (_, None) => return append(conn, d, cat, name, ids).await,
        // At the front: below the first entry, with room.
        (None, Some(a)) => {
            let stride = LIST_STRIDE.min((a + MAX_ORDER) / (k + 1));
            if stride < 1 {
                return renumber_with(conn, d, cat, name, index, ids).await;
            }
            (1..=k).rev().map(|j| a - j * stride).collect()
        }
        (Some(b), Some(a)) => {
            let mut hi = a;
            if hi - b - 1 < k {
                let Some(new_hi) = move_up(conn, cat, name, a, k + SLACK).await? else {
                    return renumber_with(conn, d, cat, name, index, ids).await;
                };
                hi = new_hi;
                steps.push(Step::Shift {
                    from: a,
                    by: k + SLACK,
                });
            }
            // Spread evenly over the gap, leaving room on both sides.
            let gap = hi - b;
            (1..=k).map(|j| b + gap * j / (k + 1)).collect()
        }
    };
    let moved = !steps.is_empty();
    let rows: Vec<(Uuid, i64)> = ids.iter().copied().zip(orders.iter().copied()).collect();
    let entries = content::insert_list_rows(conn, d, cat, name, &rows).await?;
    steps.push(Step::Insert(orders));
    Ok(Written {
        entries,
        moved,
        steps,
    })
}

/// The orders of the entries at positions `index - 1` and `index`; past the end is invalid.
async fn neighbours(
    conn: &mut dyn SqlConn,
    cat: Uuid,
    name: &str,
    index: u64,
    place: Place<'_>,
) -> Result<(Option<i64>, Option<i64>)> {
    let from = index.saturating_sub(1);
    let at = Ordered::of(HierarchyType::EntityList);
    let seek = match at {
        Some(at) => {
            positions::seek(
                place.positions,
                conn,
                at,
                cat,
                name,
                place.stamp,
                from,
                place.keep,
            )
            .await?
        }
        None => None,
    };
    let (start, rest) = match seek {
        Some((o, rest)) => (Some(o), rest),
        None => (None, from),
    };
    let mut args = vec![Arg::Uuid(cat), Arg::text(name)];
    let bound = match start {
        Some(o) => {
            args.push(Arg::Int(o));
            " AND list_order >= ?"
        }
        None => "",
    };
    args.push(Arg::Int(i64::try_from(rest).unwrap_or(i64::MAX)));
    let rows = conn
        .fetch_all(
            &format!("SELECT list_order FROM hierarchy_entity_list WHERE catalog_id = ? AND hierarchy_name = ?{bound} ORDER BY list_order LIMIT 2 OFFSET ?"),
            &args,
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

/// The whole list written again with `ids` inserted at `index` (at the end when past it): for
/// a list whose orders ran out of room.
async fn renumber_with(
    conn: &mut dyn SqlConn,
    d: &dyn Dialect,
    cat: Uuid,
    name: &str,
    index: u64,
    ids: &[Uuid],
) -> Result<Written> {
    let mut list = read_list(conn, cat, name).await?;
    let i = usize::try_from(index).unwrap_or(usize::MAX).min(list.len());
    list.splice(i..i, ids.iter().copied());
    rewrite_list(conn, d, cat, name, &list).await?;
    Ok(Written {
        entries: ids.len() as u64,
        moved: true,
        steps: vec![Step::Reset],
    })
}

/// Removes from the list every occurrence of each of `ids`, or (`every_occurrence` false) the
/// first occurrence per mention, so an id given twice removes its first two; returns how many
/// entries went and, when asked for (`orders`) or read anyway, the orders they had.
pub(super) async fn remove(
    conn: &mut dyn SqlConn,
    d: &dyn Dialect,
    cat: Uuid,
    name: &str,
    ids: &[Uuid],
    every_occurrence: bool,
    orders: bool,
) -> Result<(u64, Option<Vec<i64>>)> {
    if every_occurrence && !orders {
        let n = delete_in(conn, d, LIST, "entity_id", cat, name, &uuid_args(ids)).await?;
        return Ok((n, None));
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
    let mut gone: Vec<i64> = Vec::new();
    for (order, id) in found {
        if every_occurrence {
            gone.push(order);
        } else if let Some(left) = wanted.get_mut(&id).filter(|n| **n > 0) {
            *left -= 1;
            gone.push(order);
        }
    }
    let args: Vec<Arg> = gone.iter().map(|o| Arg::Int(*o)).collect();
    let n = delete_in(conn, d, LIST, "list_order", cat, name, &args).await?;
    Ok((n, Some(gone)))
}
