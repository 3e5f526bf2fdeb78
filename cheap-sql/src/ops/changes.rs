//! Versions and change tracking: every mutation bumps the catalog's version and stamps what it
//! touched, so replicas can ask what changed since a version; sync marks.

use uuid::Uuid;

use super::*;
use crate::batch;
use cheap_core::dao::{AspectChanges, Changes, SyncMark};
use cheap_core::model::HierarchyType;
use cheap_core::Result;

/// A hierarchy a write touched, and what the write did to its number of entries, which the
/// hierarchy row keeps (`cheap_entries`) so that a page need not count them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Touch<'a> {
    pub name: &'a str,
    pub entries: Entries,
}

/// The change to a hierarchy's number of entries.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Entries {
    /// Not known: the stored number is dropped, and a page counts the entries.
    Unknown,
    /// Changed by this many (an unknown number stays unknown).
    Changed(i64),
    /// Exactly this many now.
    Exactly(i64),
}

impl<'a> Touch<'a> {
    /// A touch whose effect on the number of entries is not known (or does not matter:
    /// the hierarchy is gone).
    pub fn unknown(name: &'a str) -> Self {
        Touch {
            name,
            entries: Entries::Unknown,
        }
    }

    /// A touch that added (or, negative, removed) `by` entries.
    pub fn changed(name: &'a str, by: i64) -> Self {
        Touch {
            name,
            entries: Entries::Changed(by),
        }
    }

    /// A touch that left exactly `n` entries.
    pub fn exactly(name: &'a str, n: i64) -> Self {
        Touch {
            name,
            entries: Entries::Exactly(n),
        }
    }
}

/// Advances the catalog version and stamps the touched hierarchies (or tombstones them when
/// they are gone). Returns the new version.
pub(super) async fn bump(
    conn: &mut dyn SqlConn,
    d: &dyn Dialect,
    cat: Uuid,
    touched: &[Touch<'_>],
) -> Result<i64> {
    if let Some(v) = batch_stamp(conn, touched) {
        stamp(conn, d, cat, v, touched).await?;
        return Ok(v);
    }
    let id = Arg::Uuid(cat);
    conn.execute(
        "UPDATE catalog SET version_number = version_number + 1 WHERE catalog_id = ?",
        std::slice::from_ref(&id),
    )
    .await?;
    let v = conn
        .fetch_int(
            "SELECT version_number FROM catalog WHERE catalog_id = ?",
            std::slice::from_ref(&id),
        )
        .await?;
    stamp(conn, d, cat, v, touched).await?;
    Ok(v)
}

/// Sets the catalog's version to `v`, which the caller read under the catalog's write lock
/// (so `v` is one past the stored version), and stamps the touched hierarchies.
pub(super) async fn bump_to(
    conn: &mut dyn SqlConn,
    d: &dyn Dialect,
    cat: Uuid,
    v: i64,
    touched: &[Touch<'_>],
) -> Result<()> {
    if let Some(v) = batch_stamp(conn, touched) {
        return stamp(conn, d, cat, v, touched).await;
    }
    conn.execute(
        "UPDATE catalog SET version_number = ? WHERE catalog_id = ?",
        &[Arg::Int(v), Arg::Uuid(cat)],
    )
    .await?;
    stamp(conn, d, cat, v, touched).await
}

/// Inside a batch, the batch's version, noting that the batch changed something when a write
/// touched a hierarchy; the catalog's version is then the batch's to set.
fn batch_stamp(conn: &mut dyn SqlConn, touched: &[Touch<'_>]) -> Option<i64> {
    let state = conn.batch()?;
    state.stamped |= !touched.is_empty();
    let op = state.op;
    state
        .touched
        .extend(touched.iter().map(|t| (op, t.name.to_owned())));
    Some(state.version)
}

/// Sets each touched hierarchy's version to `v` and its number of entries, or tombstones it
/// when it is gone. (A hierarchy created again loses its tombstone when it is created.)
async fn stamp(
    conn: &mut dyn SqlConn,
    d: &dyn Dialect,
    cat: Uuid,
    v: i64,
    touched: &[Touch<'_>],
) -> Result<()> {
    let tombstone = format!(
        "INSERT INTO cheap_hierarchy_tombstone (version_number, catalog_id, name) VALUES (?, ?, ?) {}",
        d.on_conflict(&["catalog_id", "name"], &["version_number"])
    );
    for t in touched {
        let (sql, entries) = match t.entries {
            Entries::Unknown => (
                "UPDATE hierarchy SET version_number = ?, cheap_entries = NULL WHERE catalog_id = ? AND name = ?",
                None,
            ),
            Entries::Changed(by) => (
                "UPDATE hierarchy SET version_number = ?, cheap_entries = cheap_entries + ? WHERE catalog_id = ? AND name = ?",
                Some(by),
            ),
            Entries::Exactly(n) => (
                "UPDATE hierarchy SET version_number = ?, cheap_entries = ? WHERE catalog_id = ? AND name = ?",
                Some(n),
            ),
        };
        let mut args = vec![Arg::Int(v)];
        args.extend(entries.map(Arg::Int));
        args.extend([Arg::Uuid(cat), Arg::text(t.name)]);
        // MariaDB counts changed rows, not matched ones: a row already at these values (a
        // second write of one batch) answers 0 and is still there.
        if conn.execute(sql, &args).await? == 0 && !hierarchy_exists(conn, cat, t.name).await? {
            conn.execute(
                &tombstone,
                &[Arg::Int(v), Arg::Uuid(cat), Arg::text(t.name)],
            )
            .await?;
        }
    }
    Ok(())
}

async fn hierarchy_exists(conn: &mut dyn SqlConn, cat: Uuid, name: &str) -> Result<bool> {
    Ok(conn
        .fetch_optional(
            "SELECT 1 FROM hierarchy WHERE catalog_id = ? AND name = ?",
            &[Arg::Uuid(cat), Arg::text(name)],
        )
        .await?
        .is_some())
}

/// Drops the per-aspect change records and rewrite mark of a hierarchy that goes away.
pub(super) async fn forget_changes(
    conn: &mut dyn SqlConn,
    catalog: Uuid,
    name: &str,
) -> Result<()> {
    let args = [Arg::Uuid(catalog), Arg::text(name)];
    conn.execute(
        "DELETE FROM cheap_aspect_change WHERE catalog_id = ? AND hierarchy_name = ?",
        &args,
    )
    .await?;
    conn.execute(
        "DELETE FROM cheap_hierarchy_rewrite WHERE catalog_id = ? AND name = ?",
        &args,
    )
    .await?;
    Ok(())
}

/// Notes that hierarchy `name` was written whole at version `v`.
pub(super) async fn record_rewrite(
    conn: &mut dyn SqlConn,
    d: &dyn Dialect,
    catalog: Uuid,
    name: &str,
    v: i64,
) -> Result<()> {
    let upsert = d.on_conflict(&["catalog_id", "name"], &["version_number"]);
    conn.execute(
        &format!("INSERT INTO cheap_hierarchy_rewrite (catalog_id, name, version_number) VALUES (?, ?, ?) {upsert}"),
        &[Arg::Uuid(catalog), Arg::text(name), Arg::Int(v)],
    )
    .await?;
    Ok(())
}

/// Notes that the aspects of `entities` in map `name` were written (or deleted) at version `v`.
pub(super) async fn record_aspect_changes(
    conn: &mut dyn SqlConn,
    d: &dyn Dialect,
    catalog: Uuid,
    name: &str,
    entities: &[Uuid],
    v: i64,
    removed: bool,
) -> Result<()> {
    // One row per entity (a statement must not touch a row twice).
    let mut unique: Vec<Uuid> = entities.to_vec();
    unique.sort_unstable();
    unique.dedup();
    let tail = d.on_conflict(
        &["catalog_id", "hierarchy_name", "entity_id"],
        &["version_number", "removed"],
    );
    batch::insert(
        conn,
        d,
        "INSERT INTO cheap_aspect_change (catalog_id, hierarchy_name, entity_id, version_number, removed)",
        5,
        &tail,
        &unique,
        |a, e| {
            a.extend([
                Arg::Uuid(catalog),
                Arg::text(name),
                Arg::Uuid(*e),
                Arg::Int(v),
                Arg::Bool(removed),
            ])
        },
    )
    .await?;
    Ok(())
}

pub(crate) async fn changes_since(b: &Engine<'_>, catalog: Uuid, version: i64) -> Result<Changes> {
    let info = super::catalogs::catalog_info(b, catalog).await?;
    let changed = super::hierarchies::list_hierarchies(b, catalog)
        .await?
        .into_iter()
        .filter(|h| h.version > version)
        .collect();
    let mut conn = b.connect(TxMode::None).await?;
    let removed = conn
        .fetch_all(
            "SELECT name FROM cheap_hierarchy_tombstone WHERE catalog_id = ? AND version_number > ? ORDER BY version_number, name",
            &[Arg::Uuid(catalog), Arg::Int(version)],
        )
        .await?
        .into_iter()
        .map(|mut r| r.string(0))
        .collect::<Result<_>>()?;
    Ok(Changes {
        version: info.version,
        changed,
        removed,
    })
}

pub(crate) async fn aspect_changes_since(
    b: &Engine<'_>,
    catalog: Uuid,
    aspect_def: &str,
    version: i64,
) -> Result<AspectChanges> {
    let mut conn = b.connect(TxMode::Read).await?;
    let conn: &mut dyn SqlConn = &mut *conn;
    let info = require_catalog(conn, catalog).await?;
    let mut out = AspectChanges {
        version: info.version,
        ..AspectChanges::default()
    };
    let (cat, name) = (Arg::Uuid(catalog), Arg::text(aspect_def));
    match find_hierarchy(conn, catalog, aspect_def).await? {
        Some(HierarchyType::AspectMap) => {}
        Some(t) => return Err(wrong_kind(aspect_def, t, "an aspect map")),
        None => {
            // Removed after `version`: a replica drops it whole.
            let gone = conn
                .fetch_optional(
                    "SELECT version_number FROM cheap_hierarchy_tombstone WHERE catalog_id = ? AND name = ?",
                    &[cat.clone(), name.clone()],
                )
                .await?;
            return match gone {
                Some(r) if r.int(0)? > version => {
                    out.rewritten = true;
                    Ok(out)
                }
                _ => Err(missing_hierarchy(catalog, aspect_def)),
            };
        }
    }
    out.rewritten = conn
        .fetch_optional(
            "SELECT version_number FROM cheap_hierarchy_rewrite WHERE catalog_id = ? AND name = ?",
            &[cat.clone(), name.clone()],
        )
        .await?
        .map(|r| r.int(0))
        .transpose()?
        .is_some_and(|v| v > version);
    conn.for_each(
        "SELECT entity_id, removed FROM cheap_aspect_change WHERE catalog_id = ? AND hierarchy_name = ? AND version_number > ?",
        &[cat, name, Arg::Int(version)],
        &mut |r| {
            let e = r.uuid(0)?;
            if r.bool(1)? {
                out.removed.push(e);
            } else {
                out.changed.push(e);
            }
            Ok(())
        },
    )
    .await?;
    Ok(out)
}

pub(crate) async fn sync_mark(b: &Engine<'_>, catalog: Uuid) -> Result<Option<SyncMark>> {
    let mut conn = b.connect(TxMode::Read).await?;
    require_catalog(&mut *conn, catalog).await?;
    conn.fetch_optional(
        "SELECT upstream_version, local_version, synced_at_ms FROM cheap_sync_mark WHERE catalog_id = ?",
        &[Arg::Uuid(catalog)],
    )
    .await?
    .map(|r| {
        Ok(SyncMark {
            upstream_version: r.int(0)?,
            local_version: r.int(1)?,
            synced_at_ms: r.int(2)?,
        })
    })
    .transpose()
}

pub(crate) async fn set_sync_mark(b: &Engine<'_>, catalog: Uuid, mark: SyncMark) -> Result<()> {
    let d = b.dialect();
    write_txn!(b, catalog, conn => async {
        require_catalog(conn, catalog).await?;
        let upsert = d.on_conflict(&["catalog_id"], &["upstream_version", "local_version", "synced_at_ms"]);
        conn.execute(
            &format!("INSERT INTO cheap_sync_mark (catalog_id, upstream_version, local_version, synced_at_ms) VALUES (?, ?, ?, ?) {upsert}"),
            &[Arg::Uuid(catalog), Arg::Int(mark.upstream_version), Arg::Int(mark.local_version), Arg::Int(mark.synced_at_ms)],
        ).await?;
        Ok(())
    }.await)
}

pub(crate) async fn put_task(b: &Engine<'_>, task: &cheap_core::dao::TaskRecord) -> Result<()> {
    let d = b.dialect();
    let mut conn = b.connect(TxMode::Write).await?;
    let upsert = d.on_conflict(
        &["task_id"],
        &[
            "status",
            "catalog_id",
            "version_number",
            "message",
            "heartbeat_ms",
            "progress_done",
            "progress_total",
        ],
    );
    let t = &task.status;
    conn.execute(
        &format!("INSERT INTO cheap_task (task_id, status, catalog_id, version_number, message, heartbeat_ms, progress_done, progress_total) VALUES (?, ?, ?, ?, ?, ?, ?, ?) {upsert}"),
        &[
            Arg::Uuid(t.task_id),
            Arg::text(&t.status),
            Arg::opt_uuid(t.catalog_id),
            t.version.map_or(Arg::NullOf(crate::conn::SqlType::Int), Arg::Int),
            Arg::text(&t.message),
            Arg::Int(task.heartbeat_ms),
            opt_count(t.done),
            opt_count(t.total),
        ],
    )
    .await?;
    conn.commit().await
}

fn opt_count(n: Option<u64>) -> Arg<'static> {
    n.map_or(Arg::NullOf(crate::conn::SqlType::Int), |n| {
        Arg::Int(i64::try_from(n).unwrap_or(i64::MAX))
    })
}

pub(crate) async fn get_task(
    b: &Engine<'_>,
    id: Uuid,
) -> Result<Option<cheap_core::dao::TaskRecord>> {
    let mut conn = b.connect(TxMode::None).await?;
    let row = conn
        .fetch_optional(
            "SELECT status, catalog_id, version_number, message, heartbeat_ms, progress_done, progress_total FROM cheap_task WHERE task_id = ?",
            &[Arg::Uuid(id)],
        )
        .await?;
    row.map(|mut r| {
        Ok(cheap_core::dao::TaskRecord {
            status: cheap_core::rest::TaskStatus {
                task_id: id,
                status: r.string(0)?,
                catalog_id: r.opt_uuid(1)?,
                version: r.opt_int(2)?,
                message: r.opt_string(3)?.unwrap_or_default(),
                done: r.opt_int(5)?.map(|n| n.max(0) as u64),
                total: r.opt_int(6)?.map(|n| n.max(0) as u64),
            },
            heartbeat_ms: r.int(4)?,
        })
    })
    .transpose()
}
