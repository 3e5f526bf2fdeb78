//! The [`CheapDao`] of every SQL backend, written once over [`SqlBackend`]: what each operation
//! reads and writes, in which transaction. The backends only supply connections and a
//! [`Dialect`].

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;

use async_trait::async_trait;
use uuid::Uuid;

use super::batch::{self, placeholders};
use super::conn::{Arg, SqlBackend, SqlConn, TxMode};
use super::content::{self, HierarchyRow, Window};
use super::defs;
use super::dialect::Dialect;
use super::mapping::{self, Mappings};
use super::{flatten_tree, node_path};
use crate::dao::rules::{
    check_upsert, missing_catalog, no_entity_ids, plan_upsert, touched, wrong_kind,
};
use crate::dao::{
    AspectChanges, CatalogInfo, Changes, HierarchyInfo, HierarchySlice, SyncMark, UpsertOutcome,
};
use crate::error::{CheapError, Result};
use crate::model::{
    check_depth, Aspect, AspectDef, AspectMap, Catalog, CatalogSpecies, EntityTree, Hierarchy,
    HierarchyDef, HierarchyType,
};
use crate::CheapDao;

/// Runs `$body` (an expression using `$conn: &mut dyn SqlConn`) in a write transaction of
/// `$catalog`; commits on `Ok`, rolls back (by dropping the connection) on `Err`.
macro_rules! write_txn {
    ($self:ident, $catalog:expr, $conn:ident => $body:expr) => {{
        let mut boxed = begin_write($self, $catalog).await?;
        let result = {
            let $conn: &mut dyn SqlConn = &mut *boxed;
            $body
        };
        match result {
            Ok(v) => {
                boxed.commit().await?;
                Ok(v)
            }
            Err(e) => Err(e),
        }
    }};
}

async fn begin_write<B: SqlBackend + ?Sized>(b: &B, catalog: Uuid) -> Result<Box<dyn SqlConn>> {
    let mut conn = b.connect(TxMode::Write).await?;
    if let Some((sql, arg)) = b.dialect().lock_catalog(catalog) {
        conn.execute(sql, &[arg]).await?;
    }
    Ok(conn)
}

fn not_a_hierarchy(e: &CheapError) -> bool {
    matches!(e, CheapError::NotFound(m) if m.starts_with("hierarchy"))
}

async fn catalog_info(conn: &mut dyn SqlConn, id: Uuid) -> Result<Option<CatalogInfo>> {
    let row = conn
        .fetch_optional(
            "SELECT species, uri, upstream_catalog_id, version_number FROM catalog WHERE catalog_id = ?",
            &[Arg::Uuid(id)],
        )
        .await?;
    row.map(|mut r| {
        Ok(CatalogInfo {
            id,
            species: CatalogSpecies::from_str(r.str(0)?)?,
            uri: r.opt_string(1)?,
            upstream: r.opt_uuid(2)?,
            version: r.int(3)?,
        })
    })
    .transpose()
}

async fn require_catalog(conn: &mut dyn SqlConn, id: Uuid) -> Result<CatalogInfo> {
    catalog_info(conn, id)
        .await?
        .ok_or_else(|| missing_catalog(id))
}

/// The kind of hierarchy `name`; NotFound when the catalog or the hierarchy is missing.
async fn hierarchy_type(conn: &mut dyn SqlConn, cat: Uuid, name: &str) -> Result<HierarchyType> {
    let row = conn
        .fetch_optional(
            "SELECT h.hierarchy_type FROM catalog c LEFT JOIN hierarchy h ON h.catalog_id = c.catalog_id AND h.name = ? WHERE c.catalog_id = ?",
            &[Arg::text(name), Arg::Uuid(cat)],
        )
        .await?;
    match row {
        None => Err(missing_catalog(cat)),
        Some(r) if r.is_null(0) => Err(CheapError::not_found(format!(
            "hierarchy '{name}' in catalog {cat}"
        ))),
        Some(r) => HierarchyType::from_code(r.str(0)?),
    }
}

/// Advances the catalog version and stamps the touched hierarchies (or tombstones them when
/// they are gone). Returns the new version.
async fn bump(conn: &mut dyn SqlConn, d: &dyn Dialect, cat: Uuid, touched: &[&str]) -> Result<i64> {
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
    let tombstone = format!(
        "INSERT INTO cheap_hierarchy_tombstone (version_number, catalog_id, name) VALUES (?, ?, ?) {}",
        d.on_conflict(&["catalog_id", "name"], &["version_number"])
    );
    for name in touched {
        let args = [Arg::Int(v), id.clone(), Arg::text(name)];
        let updated = conn
            .execute(
                "UPDATE hierarchy SET version_number = ? WHERE catalog_id = ? AND name = ?",
                &args,
            )
            .await?;
        if updated > 0 {
            conn.execute(
                "DELETE FROM cheap_hierarchy_tombstone WHERE version_number <> ? AND catalog_id = ? AND name = ?",
                &args,
            )
            .await?;
        } else {
            conn.execute(&tombstone, &args).await?;
        }
    }
    Ok(v)
}

async fn hierarchy_rows(
    conn: &mut dyn SqlConn,
    d: &dyn Dialect,
    cat: Uuid,
    only: Option<&str>,
) -> Result<Vec<HierarchyRow>> {
    let (sql, args) = match only {
        Some(n) => (
            "SELECT h.name, h.hierarchy_type, h.version_number FROM hierarchy h WHERE h.catalog_id = ? AND h.name = ?".to_owned(),
            vec![Arg::Uuid(cat), Arg::text(n)],
        ),
        None => (
            format!(
                "SELECT h.name, h.hierarchy_type, h.version_number FROM hierarchy h WHERE h.catalog_id = ? ORDER BY {}",
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
                code: r.string(1)?,
                version: r.int(2)?,
            })
        })
        .collect()
}

async fn hierarchy_names(
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

async fn load(
    conn: &mut dyn SqlConn,
    d: &dyn Dialect,
    id: Uuid,
    maps: &Mappings,
) -> Result<Catalog> {
    let info = require_catalog(conn, id).await?;
    let mut catalog = Catalog::with_id(id, info.species, info.upstream)?;
    catalog.uri = info.uri;
    catalog.version = info.version;
    let defs = defs::catalog_defs(conn, id).await?;
    let rows = hierarchy_rows(conn, d, id, None).await?;
    for h in content::read_hierarchies(conn, d, id, &rows, &defs, maps, None, Window::ALL).await? {
        catalog.add_hierarchy(h)?;
    }
    // A linked def without an aspect map still belongs to the catalog.
    for def in defs.into_values() {
        if catalog.hierarchy(def.name()).is_none() {
            catalog.extend(def)?;
        }
    }
    Ok(catalog)
}

async fn save(
    conn: &mut dyn SqlConn,
    d: &dyn Dialect,
    catalog: &Catalog,
    maps: &Mappings,
) -> Result<i64> {
    for h in catalog.hierarchies() {
        if let Some(m) = h.as_aspect_map() {
            for a in m.iter() {
                a.check_complete()?;
            }
        }
    }
    let cat = catalog.id();
    let previous = catalog_info(conn, cat).await?;
    let old_names = hierarchy_names(conn, d, cat).await?;
    // Replace semantics: everything the catalog held goes, then the new contents are written.
    clear_mapped(conn, d, cat, &old_names, maps).await?;
    clear_catalog(conn, cat).await?;
    let version = previous
        .as_ref()
        .map_or(0, |p| p.version)
        .max(catalog.version)
        + 1;
    let upsert = d.on_conflict(
        &["catalog_id"],
        &["species", "uri", "upstream_catalog_id", "version_number"],
    );
    conn.execute(
        &format!("INSERT INTO catalog (catalog_id, species, uri, upstream_catalog_id, version_number) VALUES (?, ?, ?, ?, ?) {upsert}"),
        &[
            Arg::Uuid(cat),
            Arg::text(catalog.species().as_upper()),
            Arg::opt_text(catalog.uri.as_deref()),
            Arg::opt_uuid(catalog.upstream()),
            Arg::Int(version),
        ],
    )
    .await?;
    for def in catalog.aspect_defs() {
        defs::store_def(conn, d, cat, def).await?;
    }
    let hs: Vec<(i64, &Hierarchy)> = (0..).zip(catalog.hierarchies()).collect();
    batch::insert(
        conn,
        d,
        "INSERT INTO hierarchy (catalog_id, name, hierarchy_type, version_number, hierarchy_order)",
        5,
        "",
        &hs,
        |a, (i, h)| {
            a.extend([
                Arg::Uuid(cat),
                Arg::text(h.name()),
                Arg::text(h.hierarchy_type().code()),
                Arg::Int(version),
                Arg::Int(*i),
            ])
        },
    )
    .await?;
    for h in catalog.hierarchies() {
        content::write_content(conn, d, cat, h, maps).await?;
    }
    // Every hierarchy was written whole: a replica refetches them rather than following
    // single aspects.
    batch::insert(
        conn,
        d,
        "INSERT INTO cheap_hierarchy_rewrite (catalog_id, name, version_number)",
        3,
        "",
        &hs,
        |a, (_, h)| a.extend([Arg::Uuid(cat), Arg::text(h.name()), Arg::Int(version)]),
    )
    .await?;
    conn.execute(
        "DELETE FROM cheap_hierarchy_tombstone WHERE catalog_id = ? AND name IN (SELECT name FROM hierarchy WHERE catalog_id = ?)",
        &[Arg::Uuid(cat), Arg::Uuid(cat)],
    )
    .await?;
    let tombstone = format!(
        "INSERT INTO cheap_hierarchy_tombstone (catalog_id, name, version_number) VALUES (?, ?, ?) {}",
        d.on_conflict(&["catalog_id", "name"], &["version_number"])
    );
    for gone in old_names.iter().filter(|n| catalog.hierarchy(n).is_none()) {
        conn.execute(
            &tombstone,
            &[Arg::Uuid(cat), Arg::text(gone), Arg::Int(version)],
        )
        .await?;
    }
    Ok(version)
}

async fn clear_mapped(
    conn: &mut dyn SqlConn,
    d: &dyn Dialect,
    cat: Uuid,
    names: &[String],
    maps: &Mappings,
) -> Result<()> {
    for name in names {
        if let Some(m) = maps.get(name) {
            mapping::clear(conn, d, cat, m).await?;
        }
    }
    Ok(())
}

/// Deletes a catalog's contents table by table, children first. Explicit rather than through
/// cascades, so that databases created without the foreign keys (older reference schemas,
/// MariaDB without the optional script) are cleaned as well.
async fn clear_catalog(conn: &mut dyn SqlConn, cat: Uuid) -> Result<()> {
    for table in [
        "property_value",
        "hierarchy_aspect_map",
        "aspect",
        "hierarchy_entity_list",
        "hierarchy_entity_set",
        "hierarchy_entity_directory",
        "hierarchy_entity_tree_node",
        "hierarchy",
        "catalog_aspect_def",
        "cheap_aspect_change",
        "cheap_hierarchy_rewrite",
    ] {
        conn.execute(
            &format!("DELETE FROM {table} WHERE catalog_id = ?"),
            &[Arg::Uuid(cat)],
        )
        .await?;
    }
    Ok(())
}

async fn max_order(
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

async fn read_list(conn: &mut dyn SqlConn, cat: Uuid, name: &str) -> Result<Vec<Uuid>> {
    conn.fetch_all(
        "SELECT entity_id FROM hierarchy_entity_list WHERE catalog_id = ? AND hierarchy_name = ? ORDER BY list_order",
        &[Arg::Uuid(cat), Arg::text(name)],
    )
    .await?
    .iter()
    .map(|r| r.uuid(0))
    .collect()
}

async fn rewrite_list(
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

/// Deletes rows of `table` in one hierarchy whose `col` is in `values`; returns how many went.
async fn delete_in(
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

async fn delete_aspect_rows(
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
async fn require_kind(
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

async fn aspect_def_of(conn: &mut dyn SqlConn, cat: Uuid, name: &str) -> Result<Arc<AspectDef>> {
    if hierarchy_type(conn, cat, name).await? != HierarchyType::AspectMap {
        return Err(CheapError::not_found(format!(
            "aspect def '{name}' in catalog {cat}"
        )));
    }
    defs::catalog_def(conn, cat, name)
        .await?
        .ok_or_else(|| CheapError::not_found(format!("aspect def '{name}' in catalog {cat}")))
}

/// Adds a hierarchy row after the catalog's others.
async fn insert_hierarchy_row(
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
    Ok(())
}

fn uuid_args(ids: &[Uuid]) -> Vec<Arg<'static>> {
    ids.iter().map(|e| Arg::Uuid(*e)).collect()
}

const CONTENT_TABLES: [(HierarchyType, &str); 5] = [
    (HierarchyType::EntityList, "hierarchy_entity_list"),
    (HierarchyType::EntitySet, "hierarchy_entity_set"),
    (HierarchyType::EntityDirectory, "hierarchy_entity_directory"),
    (HierarchyType::EntityTree, "hierarchy_entity_tree_node"),
    (HierarchyType::AspectMap, "hierarchy_aspect_map"),
];

fn content_table(t: HierarchyType) -> &'static str {
    CONTENT_TABLES
        .iter()
        .find(|(k, _)| *k == t)
        .map_or("hierarchy_aspect_map", |(_, n)| n)
}

#[async_trait]
impl<B: SqlBackend> CheapDao for B {
    fn backend_name(&self) -> &'static str {
        self.name()
    }

    async fn save_catalog(&self, catalog: &Catalog) -> Result<i64> {
        let maps = self.mapping_registry().snapshot();
        let d = self.dialect();
        write_txn!(self, catalog.id(), conn => save(conn, d, catalog, &maps).await)
    }

    async fn load_catalog(&self, id: Uuid) -> Result<Catalog> {
        // A read transaction gives the load one consistent snapshot.
        let mut conn = self.connect(TxMode::Read).await?;
        load(
            &mut *conn,
            self.dialect(),
            id,
            &self.mapping_registry().snapshot(),
        )
        .await
    }

    async fn delete_catalog(&self, id: Uuid) -> Result<bool> {
        let maps = self.mapping_registry().snapshot();
        let d = self.dialect();
        write_txn!(self, id, conn => async {
            let names = hierarchy_names(conn, d, id).await?;
            clear_mapped(conn, d, id, &names, &maps).await?;
            clear_catalog(conn, id).await?;
            conn.execute("DELETE FROM cheap_hierarchy_tombstone WHERE catalog_id = ?", &[Arg::Uuid(id)]).await?;
            conn.execute("DELETE FROM cheap_sync_mark WHERE catalog_id = ?", &[Arg::Uuid(id)]).await?;
            let n = conn.execute("DELETE FROM catalog WHERE catalog_id = ?", &[Arg::Uuid(id)]).await?;
            Ok(n > 0)
        }.await)
    }

    async fn catalog_exists(&self, id: Uuid) -> Result<bool> {
        let mut conn = self.connect(TxMode::None).await?;
        Ok(catalog_info(&mut *conn, id).await?.is_some())
    }

    async fn catalog_info(&self, id: Uuid) -> Result<CatalogInfo> {
        let mut conn = self.connect(TxMode::None).await?;
        require_catalog(&mut *conn, id).await
    }

    async fn list_catalog_ids(&self) -> Result<Vec<Uuid>> {
        let mut conn = self.connect(TxMode::None).await?;
        conn.fetch_all("SELECT catalog_id FROM catalog ORDER BY catalog_id", &[])
            .await?
            .iter()
            .map(|r| r.uuid(0))
            .collect()
    }

    async fn catalog_count(&self) -> Result<u64> {
        let mut conn = self.connect(TxMode::None).await?;
        Ok(conn
            .fetch_int("SELECT COUNT(*) FROM catalog", &[])
            .await?
            .max(0) as u64)
    }

    async fn list_catalogs_page(&self, offset: u64, limit: u64) -> Result<Vec<CatalogInfo>> {
        let w = Window::page(offset, limit);
        let mut conn = self.connect(TxMode::None).await?;
        conn.fetch_all(
            "SELECT catalog_id, species, uri, upstream_catalog_id, version_number FROM catalog ORDER BY catalog_id LIMIT ? OFFSET ?",
            &[Arg::Int(w.limit), Arg::Int(w.offset)],
        )
        .await?
        .into_iter()
        .map(|mut r| {
            Ok(CatalogInfo {
                id: r.uuid(0)?,
                species: CatalogSpecies::from_str(r.str(1)?)?,
                uri: r.opt_string(2)?,
                upstream: r.opt_uuid(3)?,
                version: r.int(4)?,
            })
        })
        .collect()
    }

    async fn load_catalogs_page(&self, offset: u64, limit: u64) -> Result<Vec<Catalog>> {
        let maps = self.mapping_registry().snapshot();
        let w = Window::page(offset, limit);
        let mut conn = self.connect(TxMode::Read).await?;
        let ids: Vec<Uuid> = conn
            .fetch_all(
                "SELECT catalog_id FROM catalog ORDER BY catalog_id LIMIT ? OFFSET ?",
                &[Arg::Int(w.limit), Arg::Int(w.offset)],
            )
            .await?
            .iter()
            .map(|r| r.uuid(0))
            .collect::<Result<_>>()?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            out.push(load(&mut *conn, self.dialect(), id, &maps).await?);
        }
        Ok(out)
    }

    async fn put_aspect_def(&self, catalog: Uuid, def: &AspectDef) -> Result<bool> {
        let d = self.dialect();
        write_txn!(self, catalog, conn => async {
            match hierarchy_type(conn, catalog, def.name()).await {
                Ok(HierarchyType::AspectMap) => {
                    let stored = defs::catalog_def(conn, catalog, def.name()).await?;
                    if stored.as_deref() == Some(def) {
                        return Ok(false);
                    }
                    Err(CheapError::conflict(format!("catalog {catalog} already has a different aspect def named '{}'", def.name())))
                }
                Ok(_) => Err(CheapError::conflict(format!("catalog {catalog} already has a hierarchy named '{}'", def.name()))),
                Err(e) if not_a_hierarchy(&e) => {
                    defs::store_def(conn, d, catalog, def).await?;
                    insert_hierarchy_row(conn, catalog, def.name(), HierarchyType::AspectMap).await?;
                    let v = bump(conn, d, catalog, &[def.name()]).await?;
                    forget_changes(conn, catalog, def.name()).await?;
                    record_rewrite(conn, d, catalog, def.name(), v).await?;
                    Ok(true)
                }
                Err(e) => Err(e),
            }
        }.await)
    }

    async fn get_aspect_def(&self, catalog: Uuid, name: &str) -> Result<AspectDef> {
        let mut conn = self.connect(TxMode::Read).await?;
        Ok((*aspect_def_of(&mut *conn, catalog, name).await?).clone())
    }

    async fn list_aspect_defs(&self, catalog: Uuid) -> Result<Vec<AspectDef>> {
        let mut conn = self.connect(TxMode::Read).await?;
        require_catalog(&mut *conn, catalog).await?;
        let mut defs = defs::catalog_defs(&mut *conn, catalog).await?;
        let order = hierarchy_rows(&mut *conn, self.dialect(), catalog, None).await?;
        Ok(order
            .into_iter()
            .filter(|h| h.code == "AM")
            .filter_map(|h| defs.remove(&h.name))
            .map(|d| (*d).clone())
            .collect())
    }

    async fn delete_aspect_def(&self, catalog: Uuid, name: &str) -> Result<bool> {
        let d = self.dialect();
        let maps = self.mapping_registry().snapshot();
        write_txn!(self, catalog, conn => async {
            match hierarchy_type(conn, catalog, name).await {
                Ok(HierarchyType::AspectMap) => {}
                Ok(_) => return Ok(false),
                Err(e) if not_a_hierarchy(&e) => return Ok(false),
                Err(e) => return Err(e),
            }
            remove_aspect_map(conn, d, catalog, name, &maps).await?;
            forget_changes(conn, catalog, name).await?;
            bump(conn, d, catalog, &[name]).await?;
            Ok(true)
        }.await)
    }

    async fn create_hierarchy(&self, catalog: Uuid, def: &HierarchyDef) -> Result<()> {
        if def.hierarchy_type == HierarchyType::AspectMap {
            return Err(CheapError::invalid(
                "an aspect map hierarchy is created with put_aspect_def",
            ));
        }
        let empty = Hierarchy::new(def.name.clone(), def.hierarchy_type)?;
        let d = self.dialect();
        write_txn!(self, catalog, conn => async {
            match hierarchy_type(conn, catalog, &def.name).await {
                Ok(_) => return Err(CheapError::conflict(format!("catalog {catalog} already has a hierarchy named '{}'", def.name))),
                Err(e) if not_a_hierarchy(&e) => {}
                Err(e) => return Err(e),
            }
            insert_hierarchy_row(conn, catalog, &def.name, def.hierarchy_type).await?;
            content::write_content(conn, d, catalog, &empty, &Mappings::new()).await?;
            let v = bump(conn, d, catalog, &[def.name.as_str()]).await?;
            record_rewrite(conn, d, catalog, &def.name, v).await?;
            Ok(())
        }.await)
    }

    async fn delete_hierarchy(&self, catalog: Uuid, name: &str) -> Result<bool> {
        let d = self.dialect();
        let maps = self.mapping_registry().snapshot();
        write_txn!(self, catalog, conn => async {
            let t = match hierarchy_type(conn, catalog, name).await {
                Ok(t) => t,
                Err(e) if not_a_hierarchy(&e) => return Ok(false),
                Err(e) => return Err(e),
            };
            if t == HierarchyType::AspectMap {
                remove_aspect_map(conn, d, catalog, name, &maps).await?;
            } else {
                let args = [Arg::Uuid(catalog), Arg::text(name)];
                conn.execute(&format!("DELETE FROM {} WHERE catalog_id = ? AND hierarchy_name = ?", content_table(t)), &args).await?;
                conn.execute("DELETE FROM hierarchy WHERE catalog_id = ? AND name = ?", &args).await?;
            }
            forget_changes(conn, catalog, name).await?;
            bump(conn, d, catalog, &[name]).await?;
            Ok(true)
        }.await)
    }

    async fn list_hierarchy_defs(&self, catalog: Uuid) -> Result<Vec<HierarchyDef>> {
        let mut conn = self.connect(TxMode::Read).await?;
        require_catalog(&mut *conn, catalog).await?;
        hierarchy_rows(&mut *conn, self.dialect(), catalog, None)
            .await?
            .into_iter()
            .map(|h| {
                Ok(HierarchyDef::new(
                    h.name,
                    HierarchyType::from_code(&h.code)?,
                ))
            })
            .collect()
    }

    async fn list_hierarchies(&self, catalog: Uuid) -> Result<Vec<HierarchyInfo>> {
        let mut conn = self.connect(TxMode::Read).await?;
        require_catalog(&mut *conn, catalog).await?;
        let counts: Vec<String> = CONTENT_TABLES
            .iter()
            .map(|(t, table)| {
                format!("WHEN '{}' THEN (SELECT COUNT(*) FROM {table} x WHERE x.catalog_id = h.catalog_id AND x.hierarchy_name = h.name)", t.code())
            })
            .collect();
        let sql = format!(
            "SELECT h.name, h.hierarchy_type, h.version_number, CASE h.hierarchy_type {} ELSE 0 END FROM hierarchy h WHERE h.catalog_id = ? ORDER BY {}",
            counts.join(" "),
            self.dialect().hierarchy_order()
        );
        conn.fetch_all(&sql, &[Arg::Uuid(catalog)])
            .await?
            .into_iter()
            .map(|mut r| {
                Ok(HierarchyInfo {
                    name: r.string(0)?,
                    hierarchy_type: HierarchyType::from_code(r.str(1)?)?,
                    version: r.int(2)?,
                    size: r.int(3)?.max(0) as u64,
                })
            })
            .collect()
    }

    async fn get_hierarchy(&self, catalog: Uuid, name: &str) -> Result<Hierarchy> {
        Ok(self
            .read_hierarchy_page(catalog, name, 0, u64::MAX)
            .await?
            .hierarchy)
    }

    async fn read_hierarchy_page(
        &self,
        catalog: Uuid,
        name: &str,
        offset: u64,
        limit: u64,
    ) -> Result<HierarchySlice> {
        let d = self.dialect();
        let mut conn = self.connect(TxMode::Read).await?;
        let conn: &mut dyn SqlConn = &mut *conn;
        let t = hierarchy_type(conn, catalog, name).await?;
        let rows = hierarchy_rows(conn, d, catalog, Some(name)).await?;
        let defs = if t == HierarchyType::AspectMap {
            // Only this map's def, not every def of the catalog.
            defs::catalog_def(conn, catalog, name)
                .await?
                .into_iter()
                .map(|d| (name.to_owned(), d))
                .collect()
        } else {
            HashMap::new()
        };
        let maps = self.mapping_registry().snapshot();
        let w = Window::page(offset, limit);
        let hierarchy =
            content::read_hierarchies(conn, d, catalog, &rows, &defs, &maps, Some(name), w)
                .await?
                .pop()
                .ok_or_else(|| {
                    CheapError::not_found(format!("hierarchy '{name}' in catalog {catalog}"))
                })?;
        let total = match maps.get(name) {
            Some(m) if t == HierarchyType::AspectMap => mapping::count(conn, d, catalog, m).await?,
            _ => conn
                .fetch_int(
                    &format!(
                        "SELECT COUNT(*) FROM {} WHERE catalog_id = ? AND hierarchy_name = ?",
                        content_table(t)
                    ),
                    &[Arg::Uuid(catalog), Arg::text(name)],
                )
                .await?
                .max(0) as u64,
        };
        Ok(HierarchySlice {
            hierarchy,
            offset,
            total,
        })
    }

    async fn add_entities(&self, catalog: Uuid, hierarchy: &str, ids: &[Uuid]) -> Result<u64> {
        let d = self.dialect();
        write_txn!(self, catalog, conn => async {
            let n = match hierarchy_type(conn, catalog, hierarchy).await? {
                HierarchyType::EntityList => {
                    let next = max_order(conn, "hierarchy_entity_list", "list_order", catalog, hierarchy).await? + 1;
                    content::insert_list(conn, d, catalog, hierarchy, ids, next).await?
                }
                HierarchyType::EntitySet => {
                    let next = max_order(conn, "hierarchy_entity_set", "set_order", catalog, hierarchy).await? + 1;
                    content::insert_set(conn, d, catalog, hierarchy, ids, next).await?
                }
                t => return Err(wrong_kind(hierarchy, t, "an entity list or set")),
            };
            if n > 0 {
                bump(conn, d, catalog, &[hierarchy]).await?;
            }
            Ok(n)
        }.await)
    }

    async fn insert_entities(
        &self,
        catalog: Uuid,
        hierarchy: &str,
        index: u64,
        ids: &[Uuid],
    ) -> Result<u64> {
        let d = self.dialect();
        write_txn!(self, catalog, conn => async {
            require_kind(conn, catalog, hierarchy, HierarchyType::EntityList, "an entity list").await?;
            let mut list = read_list(conn, catalog, hierarchy).await?;
            let i = usize::try_from(index).unwrap_or(usize::MAX);
            if i > list.len() {
                return Err(CheapError::invalid(format!("index {index} is past the end of list '{hierarchy}' ({} entries)", list.len())));
            }
            if ids.is_empty() {
                return Ok(0);
            }
            list.splice(i..i, ids.iter().copied());
            rewrite_list(conn, d, catalog, hierarchy, &list).await?;
            bump(conn, d, catalog, &[hierarchy]).await?;
            Ok(ids.len() as u64)
        }.await)
    }

    async fn remove_entities(&self, catalog: Uuid, hierarchy: &str, ids: &[Uuid]) -> Result<u64> {
        let d = self.dialect();
        write_txn!(self, catalog, conn => async {
            let n = match hierarchy_type(conn, catalog, hierarchy).await? {
                HierarchyType::EntityList => {
                    let list = read_list(conn, catalog, hierarchy).await?;
                    let kept: Vec<Uuid> = list.iter().copied().filter(|e| !ids.contains(e)).collect();
                    let n = (list.len() - kept.len()) as u64;
                    if n > 0 {
                        rewrite_list(conn, d, catalog, hierarchy, &kept).await?;
                    }
                    n
                }
                HierarchyType::EntitySet => {
                    delete_in(conn, d, "hierarchy_entity_set", "entity_id", catalog, hierarchy, &uuid_args(ids)).await?
                }
                t => return Err(wrong_kind(hierarchy, t, "an entity list or set")),
            };
            if n > 0 {
                bump(conn, d, catalog, &[hierarchy]).await?;
            }
            Ok(n)
        }.await)
    }

    async fn put_directory_entries(
        &self,
        catalog: Uuid,
        hierarchy: &str,
        entries: &[(String, Uuid)],
    ) -> Result<u64> {
        if let Some((k, _)) = entries.iter().find(|(k, _)| k.is_empty()) {
            return Err(CheapError::invalid(format!(
                "directory key '{k}' must not be empty"
            )));
        }
        let d = self.dialect();
        write_txn!(self, catalog, conn => async {
            require_kind(conn, catalog, hierarchy, HierarchyType::EntityDirectory, "an entity directory").await?;
            let next = max_order(conn, "hierarchy_entity_directory", "dir_order", catalog, hierarchy).await? + 1;
            let pairs: Vec<(&str, Uuid)> = entries.iter().map(|(k, e)| (k.as_str(), *e)).collect();
            content::upsert_directory(conn, d, catalog, hierarchy, &pairs, next).await?;
            let n = entries.len() as u64;
            if n > 0 {
                bump(conn, d, catalog, &[hierarchy]).await?;
            }
            Ok(n)
        }.await)
    }

    async fn remove_directory_keys(
        &self,
        catalog: Uuid,
        hierarchy: &str,
        keys: &[String],
    ) -> Result<u64> {
        let d = self.dialect();
        write_txn!(self, catalog, conn => async {
            require_kind(conn, catalog, hierarchy, HierarchyType::EntityDirectory, "an entity directory").await?;
            let args: Vec<Arg> = keys.iter().map(|k| Arg::text(k)).collect();
            let n = delete_in(conn, d, "hierarchy_entity_directory", "entity_key", catalog, hierarchy, &args).await?;
            if n > 0 {
                bump(conn, d, catalog, &[hierarchy]).await?;
            }
            Ok(n)
        }.await)
    }

    async fn remove_directory_entities(
        &self,
        catalog: Uuid,
        hierarchy: &str,
        ids: &[Uuid],
    ) -> Result<u64> {
        let d = self.dialect();
        write_txn!(self, catalog, conn => async {
            require_kind(conn, catalog, hierarchy, HierarchyType::EntityDirectory, "an entity directory").await?;
            let n = delete_in(conn, d, "hierarchy_entity_directory", "entity_id", catalog, hierarchy, &uuid_args(ids)).await?;
            if n > 0 {
                bump(conn, d, catalog, &[hierarchy]).await?;
            }
            Ok(n)
        }.await)
    }

    async fn add_tree_nodes(
        &self,
        catalog: Uuid,
        hierarchy: &str,
        parent_path: &str,
        nodes: &[(String, Option<Uuid>)],
    ) -> Result<u64> {
        // Names are checked against an empty tree first so a bad one adds nothing.
        let mut probe = EntityTree::new();
        for (name, e) in nodes {
            probe.add_node("/", name, *e)?;
        }
        check_depth(parent_path)?;
        let d = self.dialect();
        write_txn!(self, catalog, conn => async {
            require_kind(conn, catalog, hierarchy, HierarchyType::EntityTree, "an entity tree").await?;
            let parent = node_path(parent_path);
            let row = conn.fetch_optional(
                "SELECT node_id FROM hierarchy_entity_tree_node WHERE catalog_id = ? AND hierarchy_name = ? AND node_path = ? ORDER BY parent_node_id IS NULL LIMIT 1",
                &[Arg::Uuid(catalog), Arg::text(hierarchy), Arg::text(&parent)],
            ).await?;
            let Some(row) = row else {
                return Err(CheapError::not_found(format!("tree path '{parent_path}'")));
            };
            let parent_id = row.uuid(0)?;
            let subtree = format!("DELETE FROM hierarchy_entity_tree_node WHERE {}", d.subtree());
            for (name, entity) in nodes {
                let path = format!("{parent}/{name}");
                // A child of the same name is replaced with its whole subtree.
                delete_subtree(conn, &subtree, catalog, hierarchy, &path).await?;
                let order = conn.fetch_int(
                    "SELECT COALESCE(MAX(tree_order), -1) + 1 FROM hierarchy_entity_tree_node WHERE parent_node_id = ?",
                    &[Arg::Uuid(parent_id)],
                ).await?;
                let mut sub = EntityTree::new();
                sub.root.entity = *entity;
                let mut rows = flatten_tree(&sub);
                for r in &mut rows {
                    r.parent = Some(parent_id);
                    r.key = name.clone();
                    r.path = path.clone();
                    r.order = i32::try_from(order).map_err(|_| CheapError::invalid("too many children in one tree node"))?;
                }
                content::insert_tree_rows(conn, d, catalog, hierarchy, &rows).await?;
            }
            let n = nodes.len() as u64;
            if n > 0 {
                bump(conn, d, catalog, &[hierarchy]).await?;
            }
            Ok(n)
        }.await)
    }

    async fn remove_tree_nodes(
        &self,
        catalog: Uuid,
        hierarchy: &str,
        paths: &[String],
    ) -> Result<u64> {
        if paths.iter().any(|p| node_path(p).is_empty()) {
            return Err(CheapError::invalid("the root of a tree cannot be removed"));
        }
        let d = self.dialect();
        write_txn!(self, catalog, conn => async {
            require_kind(conn, catalog, hierarchy, HierarchyType::EntityTree, "an entity tree").await?;
            let count = format!("SELECT COUNT(*) FROM hierarchy_entity_tree_node WHERE {}", d.subtree());
            let delete = format!("DELETE FROM hierarchy_entity_tree_node WHERE {}", d.subtree());
            let mut n = 0;
            for p in paths {
                let path = node_path(p);
                // Counted first: rows removed by a cascade are not reported as changes
                // everywhere.
                let args = [Arg::Uuid(catalog), Arg::text(hierarchy), Arg::text(&path), Arg::text(&path), Arg::text(&path)];
                n += conn.fetch_int(&count, &args).await?.max(0) as u64;
                delete_subtree(conn, &delete, catalog, hierarchy, &path).await?;
            }
            if n > 0 {
                bump(conn, d, catalog, &[hierarchy]).await?;
            }
            Ok(n)
        }.await)
    }

    async fn upsert_aspects(
        &self,
        catalog: Uuid,
        aspect_def: &str,
        aspects: &[Aspect],
    ) -> Result<Vec<UpsertOutcome>> {
        let mapping = self.mapping_registry().get(aspect_def);
        if mapping.as_ref().is_some_and(|m| !m.has_entity_id()) {
            return Err(no_entity_ids(aspect_def));
        }
        let d = self.dialect();
        write_txn!(self, catalog, conn => async {
            let def = aspect_def_of(conn, catalog, aspect_def).await?;
            check_upsert(&def, aspect_def, aspects)?;
            if aspects.is_empty() {
                return Ok(vec![]);
            }
            let ids: Vec<Uuid> = aspects.iter().map(|a| a.entity_id()).collect();
            let mut existing: HashMap<Uuid, i64> = HashMap::new();
            for chunk in ids.chunks(d.in_chunk()) {
                let sql = format!("SELECT entity_id, map_order FROM hierarchy_aspect_map WHERE catalog_id = ? AND hierarchy_name = ? AND entity_id IN ({})", placeholders(chunk.len()));
                let mut args = vec![Arg::Uuid(catalog), Arg::text(aspect_def)];
                args.extend(uuid_args(chunk));
                for r in conn.fetch_all(&sql, &args).await? {
                    existing.insert(r.uuid(0)?, r.int(1)?);
                }
            }
            // Replaced aspects keep their position: delete them and write them back in place.
            let id_args = uuid_args(&ids);
            batch::execute_in(conn, d, &[Arg::Uuid(catalog), Arg::text(aspect_def)], &id_args, |ph| {
                format!("DELETE FROM hierarchy_aspect_map WHERE catalog_id = ? AND hierarchy_name = ? AND entity_id IN ({ph})")
            }).await?;
            delete_aspect_rows(conn, d, catalog, def.id(), &id_args).await?;
            let next = max_order(conn, "hierarchy_aspect_map", "map_order", catalog, aspect_def).await? + 1;
            let items = plan_upsert(aspects, &existing, next);
            match &mapping {
                Some(m) => {
                    content::insert_aspects(conn, d, catalog, &def, &items, false).await?;
                    let unique: Vec<&Aspect> = items.iter().map(|(a, _)| *a).collect();
                    mapping::write(conn, d, catalog, m, &unique).await?;
                }
                None => content::insert_aspects(conn, d, catalog, &def, &items, true).await?,
            }
            let v = bump(conn, d, catalog, &[aspect_def]).await?;
            record_aspect_changes(conn, d, catalog, aspect_def, &ids, v, false).await?;
            Ok(aspects.iter().map(|a| UpsertOutcome { entity_id: a.entity_id(), created: !existing.contains_key(&a.entity_id()) }).collect())
        }.await)
    }

    async fn delete_aspects(
        &self,
        catalog: Uuid,
        aspect_def: &str,
        entities: &[Uuid],
    ) -> Result<u64> {
        let mapping = self.mapping_registry().get(aspect_def);
        if mapping.as_ref().is_some_and(|m| !m.has_entity_id()) {
            return Err(no_entity_ids(aspect_def));
        }
        let d = self.dialect();
        write_txn!(self, catalog, conn => async {
            let def = aspect_def_of(conn, catalog, aspect_def).await?;
            if let Some(m) = &mapping {
                mapping::delete(conn, d, catalog, m, entities).await?;
            }
            let ids = uuid_args(entities);
            let n = delete_in(conn, d, "hierarchy_aspect_map", "entity_id", catalog, aspect_def, &ids).await?;
            delete_aspect_rows(conn, d, catalog, def.id(), &ids).await?;
            let v = bump(conn, d, catalog, &touched(n, aspect_def)).await?;
            if n > 0 {
                record_aspect_changes(conn, d, catalog, aspect_def, entities, v, true).await?;
            }
            Ok(n)
        }.await)
    }

    async fn query_aspects(
        &self,
        catalog: Uuid,
        entities: &[Uuid],
        aspect_defs: &[String],
    ) -> Result<Vec<AspectMap>> {
        let d = self.dialect();
        let maps = self.mapping_registry().snapshot();
        let mut conn = self.connect(TxMode::Read).await?;
        let conn: &mut dyn SqlConn = &mut *conn;
        require_catalog(conn, catalog).await?;
        let names: Vec<String> = if aspect_defs.is_empty() {
            hierarchy_rows(conn, d, catalog, None)
                .await?
                .into_iter()
                .filter(|h| h.code == "AM")
                .map(|h| h.name)
                .collect()
        } else {
            aspect_defs.to_vec()
        };
        let mut out = Vec::with_capacity(names.len());
        for name in names {
            let def = aspect_def_of(conn, catalog, &name).await?;
            let map = if entities.is_empty() {
                let rows = hierarchy_rows(conn, d, catalog, Some(&name)).await?;
                let defs = HashMap::from([(name.clone(), def.clone())]);
                content::read_hierarchies(
                    conn,
                    d,
                    catalog,
                    &rows,
                    &defs,
                    &maps,
                    Some(&name),
                    Window::ALL,
                )
                .await?
                .pop()
                .and_then(|h| h.as_aspect_map().cloned())
                .unwrap_or_else(|| AspectMap::new(def.clone()))
            } else {
                content::read_aspects_of(conn, d, catalog, def, &maps, entities).await?
            };
            out.push(map);
        }
        Ok(out)
    }

    async fn changes_since(&self, catalog: Uuid, version: i64) -> Result<Changes> {
        let info = self.catalog_info(catalog).await?;
        let changed = self
            .list_hierarchies(catalog)
            .await?
            .into_iter()
            .filter(|h| h.version > version)
            .collect();
        let mut conn = self.connect(TxMode::None).await?;
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

    async fn aspect_changes_since(
        &self,
        catalog: Uuid,
        aspect_def: &str,
        version: i64,
    ) -> Result<AspectChanges> {
        let mut conn = self.connect(TxMode::Read).await?;
        let conn: &mut dyn SqlConn = &mut *conn;
        let info = require_catalog(conn, catalog).await?;
        let mut out = AspectChanges {
            version: info.version,
            ..AspectChanges::default()
        };
        let (cat, name) = (Arg::Uuid(catalog), Arg::text(aspect_def));
        match hierarchy_type(conn, catalog, aspect_def).await {
            Ok(HierarchyType::AspectMap) => {}
            Ok(t) => return Err(wrong_kind(aspect_def, t, "an aspect map")),
            Err(e) if not_a_hierarchy(&e) => {
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
                    _ => Err(e),
                };
            }
            Err(e) => return Err(e),
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

    async fn sync_mark(&self, catalog: Uuid) -> Result<Option<SyncMark>> {
        let mut conn = self.connect(TxMode::Read).await?;
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

    async fn set_sync_mark(&self, catalog: Uuid, mark: SyncMark) -> Result<()> {
        let d = self.dialect();
        write_txn!(self, catalog, conn => async {
            require_catalog(conn, catalog).await?;
            let upsert = d.on_conflict(&["catalog_id"], &["upstream_version", "local_version", "synced_at_ms"]);
            conn.execute(
                &format!("INSERT INTO cheap_sync_mark (catalog_id, upstream_version, local_version, synced_at_ms) VALUES (?, ?, ?, ?) {upsert}"),
                &[Arg::Uuid(catalog), Arg::Int(mark.upstream_version), Arg::Int(mark.local_version), Arg::Int(mark.synced_at_ms)],
            ).await?;
            Ok(())
        }.await)
    }

    async fn health_check(&self) -> Result<()> {
        let mut conn = self.connect(TxMode::None).await?;
        conn.fetch_one("SELECT 1", &[]).await?;
        Ok(())
    }

    async fn close(&self) -> Result<()> {
        self.close_pool().await
    }
}

async fn delete_subtree(
    conn: &mut dyn SqlConn,
    sql: &str,
    catalog: Uuid,
    hierarchy: &str,
    path: &str,
) -> Result<u64> {
    conn.execute(
        sql,
        &[
            Arg::Uuid(catalog),
            Arg::text(hierarchy),
            Arg::text(path),
            Arg::text(path),
            Arg::text(path),
        ],
    )
    .await
}

/// Removes an aspect map hierarchy with its aspects, values, mapped rows and def link.
async fn remove_aspect_map(
    conn: &mut dyn SqlConn,
    d: &dyn Dialect,
    catalog: Uuid,
    name: &str,
    maps: &Mappings,
) -> Result<()> {
    let def = defs::catalog_def(conn, catalog, name).await?;
    if let Some(m) = maps.get(name) {
        mapping::clear(conn, d, catalog, m).await?;
    }
    let args = [Arg::Uuid(catalog), Arg::text(name)];
    if let Some(def) = &def {
        for table in ["property_value", "aspect"] {
            conn.execute(
                &format!("DELETE FROM {table} WHERE catalog_id = ? AND aspect_def_id = ?"),
                &[Arg::Uuid(catalog), Arg::Uuid(def.id())],
            )
            .await?;
        }
    }
    conn.execute(
        "DELETE FROM hierarchy_aspect_map WHERE catalog_id = ? AND hierarchy_name = ?",
        &args,
    )
    .await?;
    conn.execute(
        "DELETE FROM hierarchy WHERE catalog_id = ? AND name = ?",
        &args,
    )
    .await?;
    if let Some(def) = def {
        conn.execute(
            "DELETE FROM catalog_aspect_def WHERE catalog_id = ? AND aspect_def_id = ?",
            &[Arg::Uuid(catalog), Arg::Uuid(def.id())],
        )
        .await?;
    }
    Ok(())
}

/// Drops the per-aspect change records and rewrite mark of a hierarchy that goes away.
async fn forget_changes(conn: &mut dyn SqlConn, catalog: Uuid, name: &str) -> Result<()> {
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
async fn record_rewrite(
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
async fn record_aspect_changes(
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
