//! The operations of the shared SQL engine, by concern; [`SqlDao`](crate::SqlDao) calls them.
//! This module holds what several of them share: the write transaction and the lookups of a
//! catalog, its hierarchies and their kinds.

pub(crate) mod aspect_defs;
pub(crate) mod aspects;
pub(crate) mod batches;
pub(crate) mod catalogs;
pub(crate) mod changes;
pub(crate) mod entries;
pub(crate) mod exports;
pub(crate) mod hierarchies;
pub(crate) mod imports;
pub(crate) mod lists;
pub(crate) mod pages;

use std::str::FromStr;
use std::sync::Arc;

use uuid::Uuid;

use crate::batch;
use crate::conn::{Arg, SqlConn, TxMode};
use crate::content::HierarchyRow;
use crate::defs;
use crate::dialect::Dialect;
use crate::engine::Engine;
use crate::meta::{CatalogMeta, Stamp};
use cheap_core::dao::rules::{missing_aspect_def, missing_catalog, missing_hierarchy, wrong_kind};
use cheap_core::dao::CatalogInfo;
use cheap_core::model::{AspectDef, CatalogSpecies, HierarchyType};
use cheap_core::Result;

/// Runs `$body` (an expression using `$conn: &mut dyn SqlConn`) in a write transaction of
/// `$catalog`; commits on `Ok`, rolls back (by dropping the connection) on `Err`.
/// Runs `$body` in a write transaction on `$catalog` and commits it. A transaction that loses
/// a race ([`CheapError::Contention`](cheap_core::CheapError::Contention): a deadlock, a
/// serialization or certification failure) is rolled back and run again whole, a few times
/// with jittered backoff, so `$body` must not consume what it captures.
macro_rules! write_txn {
    ($b:ident, $catalog:expr, $conn:ident => $body:expr) => {{
        let mut attempt: u32 = 0;
        loop {
            let outcome = async {
                let mut boxed = $crate::ops::begin_write($b, $catalog).await?;
                let result = {
                    let $conn: &mut dyn $crate::conn::SqlConn = &mut *boxed;
                    $body
                };
                match result {
                    Ok(v) => {
                        boxed.commit().await?;
                        Ok(v)
                    }
                    Err(e) => Err(e),
                }
            }
            .await;
            match outcome {
                Err(cheap_core::CheapError::Contention(m))
                    if attempt + 1 < $crate::ops::CONTENTION_ATTEMPTS =>
                {
                    attempt += 1;
                    $crate::ops::contention_backoff($b, attempt, &m).await;
                }
                other => break other,
            }
        }
    }};
}

/// How many times a transaction that lost a race is run in all.
pub(crate) const CONTENTION_ATTEMPTS: u32 = 5;

/// Waits before run `attempt` + 1 of a transaction that lost a race: 5, 10, 20, 40 ms, each
/// with up to as much again of jitter, so racing transactions do not collide again in step.
pub(crate) async fn contention_backoff(b: &Engine<'_>, attempt: u32, why: &str) {
    b.count_retry();
    let base = 5u64 << (attempt - 1).min(6);
    let jitter = rand_below(base + 1);
    tracing::debug!(attempt, why, "transaction lost a race; running it again");
    tokio::time::sleep(std::time::Duration::from_millis(base + jitter)).await;
}

/// A cheap random number below `n`, for jitter (no cryptographic use).
fn rand_below(n: u64) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.finish() % n.max(1)
}
pub(crate) use write_txn;

pub(super) async fn begin_write(b: &Engine<'_>, catalog: Uuid) -> Result<Box<dyn SqlConn>> {
    let mut conn = b.connect(TxMode::Write).await?;
    if let Some((sql, arg)) = b.dialect().lock_catalog(catalog) {
        conn.execute(sql, &[arg]).await?;
    }
    Ok(conn)
}

pub(super) async fn find_catalog(conn: &mut dyn SqlConn, id: Uuid) -> Result<Option<CatalogInfo>> {
    Ok(find_catalog_row(conn, id).await?.map(|(info, _)| info))
}

/// The catalog's row: its info and the stamp the metadata cache checks.
async fn find_catalog_row(
    conn: &mut dyn SqlConn,
    id: Uuid,
) -> Result<Option<(CatalogInfo, Stamp)>> {
    let row = conn
        .fetch_optional(
            "SELECT species, uri, upstream_catalog_id, version_number, cheap_epoch FROM catalog WHERE catalog_id = ?",
            &[Arg::Uuid(id)],
        )
        .await?;
    row.map(|mut r| {
        let version = r.int(3)?;
        Ok((
            CatalogInfo {
                id,
                species: CatalogSpecies::from_str(r.str(0)?)?,
                uri: r.opt_string(1)?,
                upstream: r.opt_uuid(2)?,
                version,
            },
            Stamp {
                version,
                epoch: r.opt_int(4)?,
            },
        ))
    })
    .transpose()
}

/// A random epoch for a new catalog row.
pub(super) fn new_epoch() -> i64 {
    Uuid::new_v4().as_u64_pair().0 as i64
}

/// How the statements of a connection see the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum View {
    /// One snapshot (a read or write transaction): what it reads agrees.
    Snapshot,
    /// Each statement sees what is committed when it runs.
    Latest,
}

/// The catalog's info and its metadata (hierarchies and defs): one single-row read when the
/// cache holds this version of it, else that read and the two metadata queries. What it
/// returns agrees with the info; outside a snapshot the stamp is read again after the metadata
/// and the metadata is cached only if no write came between.
pub(super) async fn catalog_meta(
    e: &Engine<'_>,
    conn: &mut dyn SqlConn,
    id: Uuid,
    view: View,
) -> Result<(CatalogInfo, Arc<CatalogMeta>)> {
    let (info, stamp) = find_catalog_row(conn, id)
        .await?
        .ok_or_else(|| missing_catalog(id))?;
    if conn.batch().is_some() {
        // Inside a batch the stored version stays until the end while earlier operations may
        // have changed the metadata: read it, and keep what is not committed out of the cache.
        return Ok((info, Arc::new(read_meta(e, conn, id).await?)));
    }
    if let Some(m) = e.meta.get(id, stamp) {
        return Ok((info, m));
    }
    let meta = Arc::new(read_meta(e, conn, id).await?);
    let settled = match view {
        View::Snapshot => true,
        // Every write advances the version: an unchanged stamp means nothing came between.
        View::Latest => find_catalog_row(conn, id).await?.map(|(_, s)| s) == Some(stamp),
    };
    if settled {
        e.meta.put(id, stamp, meta.clone());
        Ok((info, meta))
    } else {
        // A write came between: read it all again on a snapshot.
        let mut snap = e.connect(TxMode::Read).await?;
        Box::pin(catalog_meta(e, &mut *snap, id, View::Snapshot)).await
    }
}

/// The catalog's info and its current metadata outside a transaction. Concurrent calls for
/// one catalog share the read of its row (see [`crate::probe`]), so when the cache holds its
/// version a call may run no statement of its own and take no connection.
pub(super) async fn latest_meta(
    e: &Engine<'_>,
    id: Uuid,
) -> Result<(CatalogInfo, Arc<CatalogMeta>)> {
    let row = e
        .probe
        .row(id, || async {
            let mut conn = e.connect(TxMode::None).await?;
            find_catalog_row(&mut *conn, id).await
        })
        .await?;
    let (info, stamp) = row.ok_or_else(|| missing_catalog(id))?;
    if let Some(m) = e.meta.get(id, stamp) {
        return Ok((info, m));
    }
    let mut conn = e.connect(TxMode::None).await?;
    catalog_meta(e, &mut *conn, id, View::Latest).await
}

/// The catalog's hierarchies and defs as stored (two queries).
async fn read_meta(e: &Engine<'_>, conn: &mut dyn SqlConn, id: Uuid) -> Result<CatalogMeta> {
    let hierarchies = hierarchy_rows(conn, e.dialect(), id, None)
        .await?
        .into_iter()
        .map(|h| (h.name, h.kind))
        .collect();
    let defs = defs::catalog_defs(conn, id).await?;
    Ok(CatalogMeta { hierarchies, defs })
}

/// The def of aspect map `name`, from the catalog's metadata.
pub(super) fn meta_def(meta: &CatalogMeta, cat: Uuid, name: &str) -> Result<Arc<AspectDef>> {
    match (meta.kind(name), meta.defs.get(name)) {
        (Some(HierarchyType::AspectMap), Some(d)) => Ok(d.clone()),
        _ => Err(missing_aspect_def(cat, name)),
    }
}

pub(super) async fn require_catalog(conn: &mut dyn SqlConn, id: Uuid) -> Result<CatalogInfo> {
    find_catalog(conn, id)
        .await?
        .ok_or_else(|| missing_catalog(id))
}

/// The kind of hierarchy `name`, or `None` when the catalog has no such hierarchy; NotFound
/// when the catalog is missing.
pub(super) async fn find_hierarchy(
    conn: &mut dyn SqlConn,
    cat: Uuid,
    name: &str,
) -> Result<Option<HierarchyType>> {
    Ok(find_located(conn, cat, name).await?.map(|(t, _)| t))
}

/// The kind of hierarchy `name` and the state it is at (its version and its catalog's
/// epoch), or `None` when the catalog has no such hierarchy; NotFound when the catalog is
/// missing.
async fn find_located(
    conn: &mut dyn SqlConn,
    cat: Uuid,
    name: &str,
) -> Result<Option<(HierarchyType, Stamp)>> {
    let row = conn
        .fetch_optional(
            "SELECT h.hierarchy_type, h.version_number, c.cheap_epoch FROM catalog c LEFT JOIN hierarchy h ON h.catalog_id = c.catalog_id AND h.name = ? WHERE c.catalog_id = ?",
            &[Arg::text(name), Arg::Uuid(cat)],
        )
        .await?;
    match row {
        None => Err(missing_catalog(cat)),
        Some(r) if r.is_null(0) => Ok(None),
        Some(r) => Ok(Some((
            HierarchyType::from_code(r.str(0)?)?,
            Stamp {
                version: r.int(1)?,
                epoch: r.opt_int(2)?,
            },
        ))),
    }
}

/// The kind of hierarchy `name`; NotFound when the catalog or the hierarchy is missing.
pub(super) async fn hierarchy_type(
    conn: &mut dyn SqlConn,
    cat: Uuid,
    name: &str,
) -> Result<HierarchyType> {
    Ok(locate(conn, cat, name).await?.0)
}

/// The kind of hierarchy `name` and the state it is at; NotFound when the catalog or the
/// hierarchy is missing.
pub(super) async fn locate(
    conn: &mut dyn SqlConn,
    cat: Uuid,
    name: &str,
) -> Result<(HierarchyType, Stamp)> {
    find_located(conn, cat, name)
        .await?
        .ok_or_else(|| missing_hierarchy(cat, name))
}

pub(super) async fn hierarchy_rows(
    conn: &mut dyn SqlConn,
    d: &dyn Dialect,
    cat: Uuid,
    only: Option<&str>,
) -> Result<Vec<HierarchyRow>> {
    let (sql, args) = match only {
        Some(n) => (
            "SELECT h.name, h.hierarchy_type, h.version_number, h.cheap_entries FROM hierarchy h WHERE h.catalog_id = ? AND h.name = ?".to_owned(),
            vec![Arg::Uuid(cat), Arg::text(n)],
        ),
        None => (
            format!(
                "SELECT h.name, h.hierarchy_type, h.version_number, h.cheap_entries FROM hierarchy h WHERE h.catalog_id = ? ORDER BY {}",
                d.hierarchy_order()
            ),
            vec![Arg::Uuid(cat)],
        ),
    };
    conn.fetch_all(&sql, &args)
        .await?
        .into_iter()
        .map(|mut r| {
            Ok(HierarchyRow {
                name: r.string(0)?,
                kind: HierarchyType::from_code(r.str(1)?)?,
                version: r.int(2)?,
                entries: r.opt_int(3)?,
            })
        })
        .collect()
}

pub(super) async fn hierarchy_names(
    conn: &mut dyn SqlConn,
    d: &dyn Dialect,
    cat: Uuid,
) -> Result<Vec<String>> {
    Ok(hierarchy_rows(conn, d, cat, None)
        .await?
        .into_iter()
        .map(|h| h.name)
        .collect())
}

pub(super) async fn max_order(
    conn: &mut dyn SqlConn,
    table: &str,
    col: &str,
    cat: Uuid,
    name: &str,
) -> Result<i64> {
    conn.fetch_int(
        &format!("SELECT COALESCE(MAX({col}), -1) FROM {table} WHERE catalog_id = ? AND hierarchy_name = ?"),
        &[Arg::Uuid(cat), Arg::text(name)],
    )
    .await
}

/// Deletes rows of `table` in one hierarchy whose `col` is in `values`; returns how many went.
pub(super) async fn delete_in(
    conn: &mut dyn SqlConn,
    d: &dyn Dialect,
    table: &str,
    col: &str,
    cat: Uuid,
    name: &str,
    values: &[Arg<'_>],
) -> Result<u64> {
    batch::execute_in(conn, d, &[Arg::Uuid(cat), Arg::text(name)], values, |ph| {
        format!(
            "DELETE FROM {table} WHERE catalog_id = ? AND hierarchy_name = ? AND {col} IN ({ph})"
        )
    })
    .await
}

pub(super) async fn delete_aspect_rows(
    conn: &mut dyn SqlConn,
    d: &dyn Dialect,
    cat: Uuid,
    def_id: Uuid,
    ids: &[Arg<'_>],
) -> Result<()> {
    for table in ["property_value", "aspect"] {
        batch::execute_in(conn, d, &[Arg::Uuid(cat), Arg::Uuid(def_id)], ids, |ph| {
            format!("DELETE FROM {table} WHERE catalog_id = ? AND aspect_def_id = ? AND entity_id IN ({ph})")
        })
        .await?;
    }
    Ok(())
}

/// Fails unless hierarchy `name` exists and is of kind `kind` (`what` names it in the error).
pub(super) async fn require_kind(
    conn: &mut dyn SqlConn,
    cat: Uuid,
    name: &str,
    kind: HierarchyType,
    what: &str,
) -> Result<()> {
    let t = hierarchy_type(conn, cat, name).await?;
    if t != kind {
        return Err(wrong_kind(name, t, what));
    }
    Ok(())
}

/// The state hierarchy `name` is at, when it is of kind `kind` (`what` names it in the error
/// otherwise).
pub(super) async fn require_located(
    conn: &mut dyn SqlConn,
    cat: Uuid,
    name: &str,
    kind: HierarchyType,
    what: &str,
) -> Result<Stamp> {
    let (t, stamp) = locate(conn, cat, name).await?;
    if t != kind {
        return Err(wrong_kind(name, t, what));
    }
    Ok(stamp)
}

/// Adds a hierarchy row after the catalog's others.
pub(super) async fn insert_hierarchy_row(
    conn: &mut dyn SqlConn,
    cat: Uuid,
    name: &str,
    t: HierarchyType,
) -> Result<()> {
    // INSERT ... SELECT rather than a subquery in VALUES: MariaDB refuses a subquery on the
    // table being inserted into.
    conn.execute(
        "INSERT INTO hierarchy (catalog_id, name, hierarchy_type, version_number, hierarchy_order) SELECT ?, ?, ?, 0, COALESCE(MAX(hierarchy_order), -1) + 1 FROM hierarchy WHERE catalog_id = ?",
        &[Arg::Uuid(cat), Arg::text(name), Arg::text(t.code()), Arg::Uuid(cat)],
    )
    .await?;
    // A name used again is no longer gone.
    conn.execute(
        "DELETE FROM cheap_hierarchy_tombstone WHERE catalog_id = ? AND name = ?",
        &[Arg::Uuid(cat), Arg::text(name)],
    )
    .await?;
    Ok(())
}

pub(super) fn uuid_args(ids: &[Uuid]) -> Vec<Arg<'static>> {
    ids.iter().map(|e| Arg::Uuid(*e)).collect()
}

pub(crate) fn content_table(t: HierarchyType) -> &'static str {
    match t {
        HierarchyType::EntityList => "hierarchy_entity_list",
        HierarchyType::EntitySet => "hierarchy_entity_set",
        HierarchyType::EntityDirectory => "hierarchy_entity_directory",
        HierarchyType::EntityTree => "hierarchy_entity_tree_node",
        HierarchyType::AspectMap => "hierarchy_aspect_map",
    }
}
