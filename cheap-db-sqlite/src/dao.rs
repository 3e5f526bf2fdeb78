//! The [`CheapDao`] implementation.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;

use async_trait::async_trait;
use sqlx::{Row, SqliteConnection};
use uuid::Uuid;

use crate::content::{self, HierarchyRow, Window};
use crate::defs::{self, parse_uuid};
use crate::error::map_err;
use crate::mapping::{self, Mappings};
use crate::{batch, SqliteDao};
use cheap_core::dao::rules::{
    check_upsert, missing_catalog, no_entity_ids, plan_upsert, touched, wrong_kind,
};
use cheap_core::dao::{CatalogInfo, Changes, HierarchyInfo, HierarchySlice, UpsertOutcome};
use cheap_core::sql::{flatten_tree, node_path};
use cheap_core::{
    Aspect, AspectDef, AspectMap, Catalog, CatalogSpecies, CheapDao, CheapError, EntityTree,
    Hierarchy, HierarchyDef, HierarchyType, Result,
};

/// Runs `$body` (an expression using `$conn`) in a `BEGIN IMMEDIATE` transaction; commits on
/// `Ok`, rolls back (by dropping the transaction) on `Err`.
macro_rules! write_txn {
    ($self:ident, $conn:ident => $body:expr) => {{
        let mut tx = $self.begin_write().await?;
        let result = {
            let $conn: &mut SqliteConnection = &mut tx;
            $body
        };
        match result {
            Ok(v) => {
                tx.commit().await.map_err(map_err)?;
                Ok(v)
            }
            Err(e) => Err(e),
        }
    }};
}

/// The rows of the subtree at a node path: binds catalog, hierarchy, then the path three times.
const SUBTREE: &str = "catalog_id = ? AND hierarchy_name = ? AND (node_path = ? OR substr(node_path, 1, length(?) + 1) = ? || '/')";

async fn catalog_info(conn: &mut SqliteConnection, id: Uuid) -> Result<Option<CatalogInfo>> {
    let row = sqlx::query("SELECT species, uri, upstream_catalog_id, version_number FROM catalog WHERE catalog_id = ?")
        .bind(id.to_string())
        .fetch_optional(&mut *conn)
        .await
        .map_err(map_err)?;
    row.map(|r| {
        Ok(CatalogInfo {
            id,
            species: CatalogSpecies::from_str(r.get::<&str, _>(0))?,
            uri: r.get(1),
            upstream: r.get::<Option<&str>, _>(2).map(parse_uuid).transpose()?,
            version: r.get(3),
        })
    })
    .transpose()
}

/// The kind of hierarchy `name`; NotFound when the catalog or the hierarchy is missing.
async fn hierarchy_type(
    conn: &mut SqliteConnection,
    cat: Uuid,
    name: &str,
) -> Result<HierarchyType> {
    let row: Option<(Option<String>,)> = sqlx::query_as(
        "SELECT h.hierarchy_type FROM catalog c LEFT JOIN hierarchy h ON h.catalog_id = c.catalog_id AND h.name = ? WHERE c.catalog_id = ?",
    )
    .bind(name)
    .bind(cat.to_string())
    .fetch_optional(&mut *conn)
    .await
    .map_err(map_err)?;
    match row {
        None => Err(missing_catalog(cat)),
        Some((None,)) => Err(CheapError::not_found(format!(
            "hierarchy '{name}' in catalog {cat}"
        ))),
        Some((Some(code),)) => HierarchyType::from_code(&code),
    }
}

/// Advances the catalog version and stamps the touched hierarchies (or tombstones them when
/// they are gone). Returns the new version.
async fn bump(conn: &mut SqliteConnection, cat: Uuid, touched: &[&str]) -> Result<i64> {
    let id = cat.to_string();
    let (v,): (i64,) = sqlx::query_as("UPDATE catalog SET version_number = version_number + 1 WHERE catalog_id = ? RETURNING version_number")
        .bind(&id)
        .fetch_one(&mut *conn)
        .await
        .map_err(map_err)?;
    for name in touched {
        let updated = sqlx::query(
            "UPDATE hierarchy SET version_number = ? WHERE catalog_id = ? AND name = ?",
        )
        .bind(v)
        .bind(&id)
        .bind(*name)
        .execute(&mut *conn)
        .await
        .map_err(map_err)?
        .rows_affected();
        let sql = if updated > 0 {
            "DELETE FROM cheap_hierarchy_tombstone WHERE version_number <> ? AND catalog_id = ? AND name = ?"
        } else {
            "INSERT INTO cheap_hierarchy_tombstone (version_number, catalog_id, name) VALUES (?, ?, ?) ON CONFLICT (catalog_id, name) DO UPDATE SET version_number = excluded.version_number"
        };
        sqlx::query(sql)
            .bind(v)
            .bind(&id)
            .bind(*name)
            .execute(&mut *conn)
            .await
            .map_err(map_err)?;
    }
    Ok(v)
}

async fn hierarchy_rows(
    conn: &mut SqliteConnection,
    cat: &str,
    only: Option<&str>,
) -> Result<Vec<HierarchyRow>> {
    let sql = match only {
        Some(_) => "SELECT name, hierarchy_type, version_number FROM hierarchy WHERE catalog_id = ? AND name = ?",
        None => "SELECT name, hierarchy_type, version_number FROM hierarchy WHERE catalog_id = ? ORDER BY hierarchy_order IS NULL, hierarchy_order, rowid",
    };
    let mut q = sqlx::query(sql).bind(cat);
    if let Some(n) = only {
        q = q.bind(n);
    }
    Ok(q.fetch_all(&mut *conn)
        .await
        .map_err(map_err)?
        .into_iter()
        .map(|r| HierarchyRow {
            name: r.get(0),
            code: r.get(1),
            version: r.get(2),
        })
        .collect())
}

/// The catalog's defs by name, plus (reference data) a def looked up by an AM hierarchy's name
/// when the catalog does not link it.
async fn defs_by_name(
    conn: &mut SqliteConnection,
    cat: &str,
) -> Result<HashMap<String, Arc<AspectDef>>> {
    Ok(defs::catalog_defs(conn, cat)
        .await?
        .into_iter()
        .map(|d| (d.name().to_owned(), d))
        .collect())
}

async fn load(conn: &mut SqliteConnection, id: Uuid, maps: &Mappings) -> Result<Catalog> {
    let info = catalog_info(conn, id)
        .await?
        .ok_or_else(|| missing_catalog(id))?;
    let cat = id.to_string();
    let mut catalog = Catalog::with_id(id, info.species, info.upstream)?;
    catalog.uri = info.uri;
    catalog.version = info.version;
    let defs = defs_by_name(conn, &cat).await?;
    let rows = hierarchy_rows(conn, &cat, None).await?;
    for h in content::read_hierarchies(conn, &cat, &rows, &defs, maps, None, Window::ALL).await? {
        catalog.add_hierarchy(h)?;
    }
    // A linked def without an aspect map still belongs to the catalog.
    for d in defs.into_values() {
        if catalog.hierarchy(d.name()).is_none() {
            catalog.extend(d)?;
        }
    }
    Ok(catalog)
}

async fn save(conn: &mut SqliteConnection, catalog: &Catalog, maps: &Mappings) -> Result<i64> {
    for h in catalog.hierarchies() {
        if let Some(m) = h.as_aspect_map() {
            for a in m.iter() {
                a.check_complete()?;
            }
        }
    }
    let cat = catalog.id().to_string();
    let previous = catalog_info(conn, catalog.id()).await?;
    let old_names: Vec<String> = hierarchy_rows(conn, &cat, None)
        .await?
        .into_iter()
        .map(|h| h.name)
        .collect();
    // Replace semantics: everything the catalog held goes, then the new contents are written.
    clear_mapped(conn, &cat, &old_names, maps).await?;
    clear_catalog(conn, &cat).await?;
    let version = previous
        .as_ref()
        .map_or(0, |p| p.version)
        .max(catalog.version)
        + 1;
    sqlx::query(
        "INSERT INTO catalog (catalog_id, species, uri, upstream_catalog_id, version_number) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (catalog_id) DO UPDATE SET species = excluded.species, uri = excluded.uri,
             upstream_catalog_id = excluded.upstream_catalog_id, version_number = excluded.version_number",
    )
    .bind(&cat)
    .bind(catalog.species().as_upper())
    .bind(catalog.uri.as_deref())
    .bind(catalog.upstream().map(|u| u.to_string()))
    .bind(version)
    .execute(&mut *conn)
    .await
    .map_err(map_err)?;
    for def in catalog.aspect_defs() {
        defs::store_def(conn, &cat, def).await?;
    }
    let hs: Vec<(usize, &Hierarchy)> = catalog.hierarchies().enumerate().collect();
    batch::insert(
        conn,
        "INSERT INTO hierarchy (catalog_id, name, hierarchy_type, version_number, hierarchy_order)",
        5,
        "",
        &hs,
        |a, (i, h)| {
            a.bind(&cat)
                .bind(h.name())
                .bind(h.hierarchy_type().code())
                .bind(version)
                .bind(*i as i64);
        },
    )
    .await?;
    for h in catalog.hierarchies() {
        content::write_content(conn, &cat, h, maps).await?;
    }
    sqlx::query("DELETE FROM cheap_hierarchy_tombstone WHERE catalog_id = ? AND name IN (SELECT name FROM hierarchy WHERE catalog_id = ?)")
        .bind(&cat)
        .bind(&cat)
        .execute(&mut *conn)
        .await
        .map_err(map_err)?;
    for gone in old_names.iter().filter(|n| catalog.hierarchy(n).is_none()) {
        sqlx::query("INSERT INTO cheap_hierarchy_tombstone (catalog_id, name, version_number) VALUES (?, ?, ?) ON CONFLICT (catalog_id, name) DO UPDATE SET version_number = excluded.version_number")
            .bind(&cat)
            .bind(gone)
            .bind(version)
            .execute(&mut *conn)
            .await
            .map_err(map_err)?;
    }
    Ok(version)
}

/// Deletes a catalog's contents table by table, children first. Explicit rather than through
/// cascades, so that databases created without the foreign keys (older reference schemas) are
/// cleaned as well.
async fn clear_mapped(
    conn: &mut SqliteConnection,
    cat: &str,
    names: &[String],
    maps: &Mappings,
) -> Result<()> {
    for name in names {
        if let Some(m) = maps.get(name) {
            mapping::clear(conn, cat, m).await?;
        }
    }
    Ok(())
}

async fn clear_catalog(conn: &mut SqliteConnection, cat: &str) -> Result<()> {
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
    ] {
        sqlx::query(&format!("DELETE FROM {table} WHERE catalog_id = ?"))
            .bind(cat)
            .execute(&mut *conn)
            .await
            .map_err(map_err)?;
    }
    Ok(())
}

async fn max_order(
    conn: &mut SqliteConnection,
    table: &str,
    col: &str,
    cat: &str,
    name: &str,
) -> Result<i64> {
    let sql = format!(
        "SELECT COALESCE(MAX({col}), -1) FROM {table} WHERE catalog_id = ? AND hierarchy_name = ?"
    );
    let (m,): (i64,) = sqlx::query_as(&sql)
        .bind(cat)
        .bind(name)
        .fetch_one(&mut *conn)
        .await
        .map_err(map_err)?;
    Ok(m)
}

async fn read_list(conn: &mut SqliteConnection, cat: &str, name: &str) -> Result<Vec<Uuid>> {
    let rows: Vec<(String,)> = sqlx::query_as("SELECT entity_id FROM hierarchy_entity_list WHERE catalog_id = ? AND hierarchy_name = ? ORDER BY list_order")
        .bind(cat)
        .bind(name)
        .fetch_all(&mut *conn)
        .await
        .map_err(map_err)?;
    rows.iter().map(|(s,)| parse_uuid(s)).collect()
}

async fn rewrite_list(
    conn: &mut SqliteConnection,
    cat: &str,
    name: &str,
    ids: &[Uuid],
) -> Result<()> {
    sqlx::query("DELETE FROM hierarchy_entity_list WHERE catalog_id = ? AND hierarchy_name = ?")
        .bind(cat)
        .bind(name)
        .execute(&mut *conn)
        .await
        .map_err(map_err)?;
    content::insert_list(conn, cat, name, ids, 0).await?;
    Ok(())
}

/// Deletes rows of `table` whose `col` is in `values`, returning how many went.
async fn delete_in(
    conn: &mut SqliteConnection,
    table: &str,
    col: &str,
    cat: &str,
    name: &str,
    values: &[String],
) -> Result<u64> {
    let mut n = 0;
    for chunk in values.chunks(batch::IN_CHUNK) {
        let sql = format!(
            "DELETE FROM {table} WHERE catalog_id = ? AND hierarchy_name = ? AND {col} IN ({})",
            batch::placeholders(chunk.len())
        );
        let mut q = sqlx::query(&sql).bind(cat).bind(name);
        for v in chunk {
            q = q.bind(v);
        }
        n += q
            .execute(&mut *conn)
            .await
            .map_err(map_err)?
            .rows_affected();
    }
    Ok(n)
}

async fn aspect_def_of(
    conn: &mut SqliteConnection,
    cat: Uuid,
    name: &str,
) -> Result<Arc<AspectDef>> {
    if hierarchy_type(conn, cat, name).await? != HierarchyType::AspectMap {
        return Err(CheapError::not_found(format!(
            "aspect def '{name}' in catalog {cat}"
        )));
    }
    defs_by_name(conn, &cat.to_string())
        .await?
        .remove(name)
        .ok_or_else(|| CheapError::not_found(format!("aspect def '{name}' in catalog {cat}")))
}

#[async_trait]
impl CheapDao for SqliteDao {
    fn backend_name(&self) -> &'static str {
        "sqlite"
    }

    async fn save_catalog(&self, catalog: &Catalog) -> Result<i64> {
        let maps = self.mappings();
        write_txn!(self, conn => save(conn, catalog, &maps).await)
    }

    async fn load_catalog(&self, id: Uuid) -> Result<Catalog> {
        // A read transaction gives the load one consistent snapshot.
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        load(&mut tx, id, &self.mappings()).await
    }

    async fn delete_catalog(&self, id: Uuid) -> Result<bool> {
        let maps = self.mappings();
        write_txn!(self, conn => async {
            let cat = id.to_string();
            let names: Vec<String> = hierarchy_rows(conn, &cat, None).await?.into_iter().map(|h| h.name).collect();
            clear_mapped(conn, &cat, &names, &maps).await?;
            clear_catalog(conn, &cat).await?;
            let n = sqlx::query("DELETE FROM catalog WHERE catalog_id = ?")
                .bind(&cat)
                .execute(&mut *conn)
                .await
                .map_err(map_err)?
                .rows_affected();
            Ok(n > 0)
        }.await)
    }

    async fn catalog_exists(&self, id: Uuid) -> Result<bool> {
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        Ok(catalog_info(&mut conn, id).await?.is_some())
    }

    async fn catalog_info(&self, id: Uuid) -> Result<CatalogInfo> {
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        catalog_info(&mut conn, id)
            .await?
            .ok_or_else(|| missing_catalog(id))
    }

    async fn list_catalog_ids(&self) -> Result<Vec<Uuid>> {
        let rows: Vec<(String,)> =
            sqlx::query_as("SELECT catalog_id FROM catalog ORDER BY catalog_id")
                .fetch_all(&self.pool)
                .await
                .map_err(map_err)?;
        rows.iter().map(|(s,)| parse_uuid(s)).collect()
    }

    async fn catalog_count(&self) -> Result<u64> {
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM catalog")
            .fetch_one(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(n as u64)
    }

    async fn list_catalogs_page(&self, offset: u64, limit: u64) -> Result<Vec<CatalogInfo>> {
        let rows = sqlx::query("SELECT catalog_id, species, uri, upstream_catalog_id, version_number FROM catalog ORDER BY catalog_id LIMIT ? OFFSET ?")
            .bind(limit.min(i64::MAX as u64) as i64)
            .bind(offset.min(i64::MAX as u64) as i64)
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)?;
        rows.iter()
            .map(|r| {
                Ok(CatalogInfo {
                    id: parse_uuid(r.get::<&str, _>(0))?,
                    species: CatalogSpecies::from_str(r.get::<&str, _>(1))?,
                    uri: r.get(2),
                    upstream: r.get::<Option<&str>, _>(3).map(parse_uuid).transpose()?,
                    version: r.get(4),
                })
            })
            .collect()
    }

    async fn load_catalogs_page(&self, offset: u64, limit: u64) -> Result<Vec<Catalog>> {
        let maps = self.mappings();
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        let ids: Vec<(String,)> =
            sqlx::query_as("SELECT catalog_id FROM catalog ORDER BY catalog_id LIMIT ? OFFSET ?")
                .bind(limit.min(i64::MAX as u64) as i64)
                .bind(offset.min(i64::MAX as u64) as i64)
                .fetch_all(&mut *tx)
                .await
                .map_err(map_err)?;
        let mut out = Vec::with_capacity(ids.len());
        for (id,) in ids {
            out.push(load(&mut tx, parse_uuid(&id)?, &maps).await?);
        }
        Ok(out)
    }

    async fn put_aspect_def(&self, catalog: Uuid, def: &AspectDef) -> Result<bool> {
        write_txn!(self, conn => async {
            let cat = catalog.to_string();
            match hierarchy_type(conn, catalog, def.name()).await {
                Ok(HierarchyType::AspectMap) => {
                    let stored = defs_by_name(conn, &cat).await?.remove(def.name());
                    if stored.as_deref() == Some(def) {
                        return Ok(false);
                    }
                    Err(CheapError::conflict(format!("catalog {catalog} already has a different aspect def named '{}'", def.name())))
                }
                Ok(_) => Err(CheapError::conflict(format!("catalog {catalog} already has a hierarchy named '{}'", def.name()))),
                Err(CheapError::NotFound(m)) if m.starts_with("hierarchy") => {
                    defs::store_def(conn, &cat, def).await?;
                    sqlx::query("INSERT INTO hierarchy (catalog_id, name, hierarchy_type, version_number, hierarchy_order) VALUES (?, ?, 'AM', 0, (SELECT COALESCE(MAX(hierarchy_order), -1) + 1 FROM hierarchy WHERE catalog_id = ?))")
                        .bind(&cat).bind(def.name()).bind(&cat)
                        .execute(&mut *conn).await.map_err(map_err)?;
                    bump(conn, catalog, &[def.name()]).await?;
                    Ok(true)
                }
                Err(e) => Err(e),
            }
        }.await)
    }

    async fn get_aspect_def(&self, catalog: Uuid, name: &str) -> Result<AspectDef> {
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        Ok((*aspect_def_of(&mut conn, catalog, name).await?).clone())
    }

    async fn list_aspect_defs(&self, catalog: Uuid) -> Result<Vec<AspectDef>> {
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        let cat = catalog.to_string();
        catalog_info(&mut tx, catalog)
            .await?
            .ok_or_else(|| missing_catalog(catalog))?;
        let mut defs = defs_by_name(&mut tx, &cat).await?;
        let order = hierarchy_rows(&mut tx, &cat, None).await?;
        Ok(order
            .into_iter()
            .filter(|h| h.code == "AM")
            .filter_map(|h| defs.remove(&h.name))
            .map(|d| (*d).clone())
            .collect())
    }

    async fn delete_aspect_def(&self, catalog: Uuid, name: &str) -> Result<bool> {
        write_txn!(self, conn => async {
            match hierarchy_type(conn, catalog, name).await {
                Ok(HierarchyType::AspectMap) => {}
                Ok(_) => return Ok(false),
                Err(CheapError::NotFound(m)) if m.starts_with("hierarchy") => return Ok(false),
                Err(e) => return Err(e),
            }
            let cat = catalog.to_string();
            let def = defs_by_name(conn, &cat).await?.remove(name);
            sqlx::query("DELETE FROM hierarchy WHERE catalog_id = ? AND name = ?").bind(&cat).bind(name).execute(&mut *conn).await.map_err(map_err)?;
            if let Some(def) = def {
                sqlx::query("DELETE FROM catalog_aspect_def WHERE catalog_id = ? AND aspect_def_id = ?").bind(&cat).bind(def.id().to_string()).execute(&mut *conn).await.map_err(map_err)?;
            }
            bump(conn, catalog, &[name]).await?;
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
        write_txn!(self, conn => async {
            match hierarchy_type(conn, catalog, &def.name).await {
                Ok(_) => return Err(CheapError::conflict(format!("catalog {catalog} already has a hierarchy named '{}'", def.name))),
                Err(CheapError::NotFound(m)) if m.starts_with("hierarchy") => {}
                Err(e) => return Err(e),
            }
            let cat = catalog.to_string();
            sqlx::query("INSERT INTO hierarchy (catalog_id, name, hierarchy_type, version_number, hierarchy_order) VALUES (?, ?, ?, 0, (SELECT COALESCE(MAX(hierarchy_order), -1) + 1 FROM hierarchy WHERE catalog_id = ?))")
                .bind(&cat).bind(&def.name).bind(def.hierarchy_type.code()).bind(&cat)
                .execute(&mut *conn).await.map_err(map_err)?;
            content::write_content(conn, &cat, &empty, &Mappings::new()).await?;
            bump(conn, catalog, &[def.name.as_str()]).await?;
            Ok(())
        }.await)
    }

    async fn delete_hierarchy(&self, catalog: Uuid, name: &str) -> Result<bool> {
        write_txn!(self, conn => async {
            let t = match hierarchy_type(conn, catalog, name).await {
                Ok(t) => t,
                Err(CheapError::NotFound(m)) if m.starts_with("hierarchy") => return Ok(false),
                Err(e) => return Err(e),
            };
            let cat = catalog.to_string();
            let def = if t == HierarchyType::AspectMap { defs_by_name(conn, &cat).await?.remove(name) } else { None };
            sqlx::query("DELETE FROM hierarchy WHERE catalog_id = ? AND name = ?").bind(&cat).bind(name).execute(&mut *conn).await.map_err(map_err)?;
            if let Some(def) = def {
                sqlx::query("DELETE FROM catalog_aspect_def WHERE catalog_id = ? AND aspect_def_id = ?").bind(&cat).bind(def.id().to_string()).execute(&mut *conn).await.map_err(map_err)?;
            }
            bump(conn, catalog, &[name]).await?;
            Ok(true)
        }.await)
    }

    async fn list_hierarchy_defs(&self, catalog: Uuid) -> Result<Vec<HierarchyDef>> {
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        catalog_info(&mut tx, catalog)
            .await?
            .ok_or_else(|| missing_catalog(catalog))?;
        hierarchy_rows(&mut tx, &catalog.to_string(), None)
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
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        catalog_info(&mut tx, catalog)
            .await?
            .ok_or_else(|| missing_catalog(catalog))?;
        let rows = sqlx::query(
            "SELECT h.name, h.hierarchy_type, h.version_number, CASE h.hierarchy_type
                WHEN 'EL' THEN (SELECT COUNT(*) FROM hierarchy_entity_list x WHERE x.catalog_id = h.catalog_id AND x.hierarchy_name = h.name)
                WHEN 'ES' THEN (SELECT COUNT(*) FROM hierarchy_entity_set x WHERE x.catalog_id = h.catalog_id AND x.hierarchy_name = h.name)
                WHEN 'ED' THEN (SELECT COUNT(*) FROM hierarchy_entity_directory x WHERE x.catalog_id = h.catalog_id AND x.hierarchy_name = h.name)
                WHEN 'ET' THEN (SELECT COUNT(*) FROM hierarchy_entity_tree_node x WHERE x.catalog_id = h.catalog_id AND x.hierarchy_name = h.name)
                ELSE (SELECT COUNT(*) FROM hierarchy_aspect_map x WHERE x.catalog_id = h.catalog_id AND x.hierarchy_name = h.name) END
             FROM hierarchy h WHERE h.catalog_id = ? ORDER BY h.hierarchy_order IS NULL, h.hierarchy_order, h.rowid",
        )
        .bind(catalog.to_string())
        .fetch_all(&mut *tx)
        .await
        .map_err(map_err)?;
        rows.iter()
            .map(|r| {
                Ok(HierarchyInfo {
                    name: r.get(0),
                    hierarchy_type: HierarchyType::from_code(r.get::<&str, _>(1))?,
                    version: r.get(2),
                    size: r.get::<i64, _>(3) as u64,
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
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        let t = hierarchy_type(&mut tx, catalog, name).await?;
        let cat = catalog.to_string();
        let rows = hierarchy_rows(&mut tx, &cat, Some(name)).await?;
        let defs = if t == HierarchyType::AspectMap {
            defs_by_name(&mut tx, &cat).await?
        } else {
            HashMap::new()
        };
        let w = Window {
            offset: offset.min(i64::MAX as u64) as i64,
            limit: if limit >= i64::MAX as u64 {
                -1
            } else {
                limit as i64
            },
        };
        let maps = self.mappings();
        let hierarchy =
            content::read_hierarchies(&mut tx, &cat, &rows, &defs, &maps, Some(name), w)
                .await?
                .pop()
                .ok_or_else(|| {
                    CheapError::not_found(format!("hierarchy '{name}' in catalog {catalog}"))
                })?;
        let table = match t {
            HierarchyType::EntityList => "hierarchy_entity_list",
            HierarchyType::EntitySet => "hierarchy_entity_set",
            HierarchyType::EntityDirectory => "hierarchy_entity_directory",
            HierarchyType::EntityTree => "hierarchy_entity_tree_node",
            HierarchyType::AspectMap => "hierarchy_aspect_map",
        };
        let total = match maps.get(name) {
            Some(m) if t == HierarchyType::AspectMap => {
                mapping::count(&mut tx, &cat, m).await? as i64
            }
            _ => {
                let sql = format!(
                    "SELECT COUNT(*) FROM {table} WHERE catalog_id = ? AND hierarchy_name = ?"
                );
                let (total,): (i64,) = sqlx::query_as(&sql)
                    .bind(&cat)
                    .bind(name)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(map_err)?;
                total
            }
        };
        Ok(HierarchySlice {
            hierarchy,
            offset,
            total: total as u64,
        })
    }

    async fn add_entities(&self, catalog: Uuid, hierarchy: &str, ids: &[Uuid]) -> Result<u64> {
        write_txn!(self, conn => async {
            let cat = catalog.to_string();
            let n = match hierarchy_type(conn, catalog, hierarchy).await? {
                HierarchyType::EntityList => {
                    let next = max_order(conn, "hierarchy_entity_list", "list_order", &cat, hierarchy).await? + 1;
                    content::insert_list(conn, &cat, hierarchy, ids, next).await?
                }
                HierarchyType::EntitySet => {
                    let next = max_order(conn, "hierarchy_entity_set", "set_order", &cat, hierarchy).await? + 1;
                    content::insert_set(conn, &cat, hierarchy, ids, next).await?
                }
                t => return Err(wrong_kind(hierarchy, t, "an entity list or set")),
            };
            if n > 0 {
                bump(conn, catalog, &[hierarchy]).await?;
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
        write_txn!(self, conn => async {
            let cat = catalog.to_string();
            let t = hierarchy_type(conn, catalog, hierarchy).await?;
            if t != HierarchyType::EntityList {
                return Err(wrong_kind(hierarchy, t, "an entity list"));
            }
            let mut list = read_list(conn, &cat, hierarchy).await?;
            let i = index as usize;
            if i > list.len() {
                return Err(CheapError::invalid(format!("index {index} is past the end of list '{hierarchy}' ({} entries)", list.len())));
            }
            if ids.is_empty() {
                return Ok(0);
            }
            list.splice(i..i, ids.iter().copied());
            rewrite_list(conn, &cat, hierarchy, &list).await?;
            bump(conn, catalog, &[hierarchy]).await?;
            Ok(ids.len() as u64)
        }.await)
    }

    async fn remove_entities(&self, catalog: Uuid, hierarchy: &str, ids: &[Uuid]) -> Result<u64> {
        write_txn!(self, conn => async {
            let cat = catalog.to_string();
            let n = match hierarchy_type(conn, catalog, hierarchy).await? {
                HierarchyType::EntityList => {
                    let list = read_list(conn, &cat, hierarchy).await?;
                    let kept: Vec<Uuid> = list.iter().copied().filter(|e| !ids.contains(e)).collect();
                    let n = (list.len() - kept.len()) as u64;
                    if n > 0 {
                        rewrite_list(conn, &cat, hierarchy, &kept).await?;
                    }
                    n
                }
                HierarchyType::EntitySet => {
                    let values: Vec<String> = ids.iter().map(Uuid::to_string).collect();
                    delete_in(conn, "hierarchy_entity_set", "entity_id", &cat, hierarchy, &values).await?
                }
                t => return Err(wrong_kind(hierarchy, t, "an entity list or set")),
            };
            if n > 0 {
                bump(conn, catalog, &[hierarchy]).await?;
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
        write_txn!(self, conn => async {
            let cat = catalog.to_string();
            let t = hierarchy_type(conn, catalog, hierarchy).await?;
            if t != HierarchyType::EntityDirectory {
                return Err(wrong_kind(hierarchy, t, "an entity directory"));
            }
            let next = max_order(conn, "hierarchy_entity_directory", "dir_order", &cat, hierarchy).await? + 1;
            let pairs: Vec<(&str, Uuid)> = entries.iter().map(|(k, e)| (k.as_str(), *e)).collect();
            content::upsert_directory(conn, &cat, hierarchy, &pairs, next).await?;
            let n = entries.len() as u64;
            if n > 0 {
                bump(conn, catalog, &[hierarchy]).await?;
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
        write_txn!(self, conn => async {
            let t = hierarchy_type(conn, catalog, hierarchy).await?;
            if t != HierarchyType::EntityDirectory {
                return Err(wrong_kind(hierarchy, t, "an entity directory"));
            }
            let n = delete_in(conn, "hierarchy_entity_directory", "entity_key", &catalog.to_string(), hierarchy, keys).await?;
            if n > 0 {
                bump(conn, catalog, &[hierarchy]).await?;
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
        write_txn!(self, conn => async {
            let t = hierarchy_type(conn, catalog, hierarchy).await?;
            if t != HierarchyType::EntityDirectory {
                return Err(wrong_kind(hierarchy, t, "an entity directory"));
            }
            let values: Vec<String> = ids.iter().map(Uuid::to_string).collect();
            let n = delete_in(conn, "hierarchy_entity_directory", "entity_id", &catalog.to_string(), hierarchy, &values).await?;
            if n > 0 {
                bump(conn, catalog, &[hierarchy]).await?;
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
        cheap_core::check_depth(parent_path)?;
        write_txn!(self, conn => async {
            let t = hierarchy_type(conn, catalog, hierarchy).await?;
            if t != HierarchyType::EntityTree {
                return Err(wrong_kind(hierarchy, t, "an entity tree"));
            }
            let cat = catalog.to_string();
            let parent = node_path(parent_path);
            let row: Option<(String,)> = sqlx::query_as("SELECT node_id FROM hierarchy_entity_tree_node WHERE catalog_id = ? AND hierarchy_name = ? AND node_path = ? ORDER BY parent_node_id IS NULL LIMIT 1")
                .bind(&cat).bind(hierarchy).bind(&parent)
                .fetch_optional(&mut *conn).await.map_err(map_err)?;
            let Some((parent_id,)) = row else {
                return Err(CheapError::not_found(format!("tree path '{parent_path}'")));
            };
            let parent_id = parse_uuid(&parent_id)?;
            for (name, entity) in nodes {
                let path = format!("{parent}/{name}");
                // A child of the same name is replaced with its whole subtree.
                sqlx::query(&format!("DELETE FROM hierarchy_entity_tree_node WHERE {SUBTREE}"))
                    .bind(&cat).bind(hierarchy).bind(&path).bind(&path).bind(&path)
                    .execute(&mut *conn).await.map_err(map_err)?;
                let (order,): (i64,) = sqlx::query_as("SELECT COALESCE(MAX(tree_order), -1) + 1 FROM hierarchy_entity_tree_node WHERE parent_node_id = ?")
                    .bind(parent_id.to_string())
                    .fetch_one(&mut *conn).await.map_err(map_err)?;
                let mut sub = EntityTree::new();
                sub.root.entity = *entity;
                let mut rows = flatten_tree(&sub);
                for r in &mut rows {
                    r.parent = Some(parent_id);
                    r.key = name.clone();
                    r.path = path.clone();
                    r.order = order as i32;
                }
                content::insert_tree_rows(conn, &cat, hierarchy, &rows).await?;
            }
            let n = nodes.len() as u64;
            if n > 0 {
                bump(conn, catalog, &[hierarchy]).await?;
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
        write_txn!(self, conn => async {
            let t = hierarchy_type(conn, catalog, hierarchy).await?;
            if t != HierarchyType::EntityTree {
                return Err(wrong_kind(hierarchy, t, "an entity tree"));
            }
            let cat = catalog.to_string();
            let mut n = 0;
            for p in paths {
                let path = node_path(p);
                // Counted first: rows removed by the parent-node cascade are not reported as
                // changes by SQLite.
                let (count,): (i64,) = sqlx::query_as(&format!("SELECT COUNT(*) FROM hierarchy_entity_tree_node WHERE {SUBTREE}"))
                    .bind(&cat).bind(hierarchy).bind(&path).bind(&path).bind(&path)
                    .fetch_one(&mut *conn).await.map_err(map_err)?;
                sqlx::query(&format!("DELETE FROM hierarchy_entity_tree_node WHERE {SUBTREE}"))
                    .bind(&cat).bind(hierarchy).bind(&path).bind(&path).bind(&path)
                    .execute(&mut *conn).await.map_err(map_err)?;
                n += count as u64;
            }
            if n > 0 {
                bump(conn, catalog, &[hierarchy]).await?;
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
        let mapping = self.table_mapping(aspect_def);
        if mapping.as_ref().is_some_and(|m| !m.has_entity_id()) {
            return Err(no_entity_ids(aspect_def));
        }
        write_txn!(self, conn => async {
            let def = aspect_def_of(conn, catalog, aspect_def).await?;
            check_upsert(&def, aspect_def, aspects)?;
            if aspects.is_empty() {
                return Ok(vec![]);
            }
            let cat = catalog.to_string();
            let ids: Vec<String> = aspects.iter().map(|a| a.entity_id().to_string()).collect();
            let mut existing: HashMap<Uuid, i64> = HashMap::new();
            for chunk in ids.chunks(batch::IN_CHUNK) {
                let sql = format!("SELECT entity_id, map_order FROM hierarchy_aspect_map WHERE catalog_id = ? AND hierarchy_name = ? AND entity_id IN ({})", batch::placeholders(chunk.len()));
                let mut q = sqlx::query(&sql).bind(&cat).bind(aspect_def);
                for id in chunk {
                    q = q.bind(id);
                }
                for r in q.fetch_all(&mut *conn).await.map_err(map_err)? {
                    existing.insert(parse_uuid(r.get::<&str, _>(0))?, r.get(1));
                }
            }
            // Replaced aspects keep their position: delete them and write them back in place.
            let def_id = def.id().to_string();
            for chunk in ids.chunks(batch::IN_CHUNK) {
                let sql = format!("DELETE FROM aspect WHERE catalog_id = ? AND aspect_def_id = ? AND entity_id IN ({})", batch::placeholders(chunk.len()));
                let mut q = sqlx::query(&sql).bind(&cat).bind(&def_id);
                for id in chunk {
                    q = q.bind(id);
                }
                q.execute(&mut *conn).await.map_err(map_err)?;
            }
            let next = max_order(conn, "hierarchy_aspect_map", "map_order", &cat, aspect_def).await? + 1;
            let items = plan_upsert(aspects, &existing, next);
            match &mapping {
                Some(m) => {
                    content::insert_aspects(conn, &cat, &def, &items, false).await?;
                    let unique: Vec<&Aspect> = items.iter().map(|(a, _)| *a).collect();
                    mapping::write(conn, &cat, m, &unique).await?;
                }
                None => content::insert_aspects(conn, &cat, &def, &items, true).await?,
            }
            bump(conn, catalog, &[aspect_def]).await?;
            Ok(aspects.iter().map(|a| UpsertOutcome { entity_id: a.entity_id(), created: !existing.contains_key(&a.entity_id()) }).collect())
        }.await)
    }

    async fn delete_aspects(
        &self,
        catalog: Uuid,
        aspect_def: &str,
        entities: &[Uuid],
    ) -> Result<u64> {
        let mapping = self.table_mapping(aspect_def);
        if mapping.as_ref().is_some_and(|m| !m.has_entity_id()) {
            return Err(no_entity_ids(aspect_def));
        }
        write_txn!(self, conn => async {
            let def = aspect_def_of(conn, catalog, aspect_def).await?;
            let cat = catalog.to_string();
            let ids: Vec<String> = entities.iter().map(Uuid::to_string).collect();
            if let Some(m) = &mapping {
                mapping::delete(conn, &cat, m, &ids).await?;
            }
            let n = delete_in(conn, "hierarchy_aspect_map", "entity_id", &cat, aspect_def, &ids).await?;
            for chunk in ids.chunks(batch::IN_CHUNK) {
                let sql = format!("DELETE FROM aspect WHERE catalog_id = ? AND aspect_def_id = ? AND entity_id IN ({})", batch::placeholders(chunk.len()));
                let mut q = sqlx::query(&sql).bind(&cat).bind(def.id().to_string());
                for id in chunk {
                    q = q.bind(id);
                }
                q.execute(&mut *conn).await.map_err(map_err)?;
            }
            bump(conn, catalog, &touched(n, aspect_def)).await.map(|_| n)
        }.await)
    }

    async fn query_aspects(
        &self,
        catalog: Uuid,
        entities: &[Uuid],
        aspect_defs: &[String],
    ) -> Result<Vec<AspectMap>> {
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        let cat = catalog.to_string();
        catalog_info(&mut tx, catalog)
            .await?
            .ok_or_else(|| missing_catalog(catalog))?;
        let names: Vec<String> = if aspect_defs.is_empty() {
            hierarchy_rows(&mut tx, &cat, None)
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
            let def = aspect_def_of(&mut tx, catalog, &name).await?;
            let map = if entities.is_empty() {
                self.read_hierarchy_page(catalog, &name, 0, u64::MAX)
                    .await?
                    .hierarchy
                    .as_aspect_map()
                    .cloned()
                    .unwrap_or_else(|| AspectMap::new(def.clone()))
            } else {
                content::read_aspects_of(&mut tx, &cat, def, &self.mappings(), entities).await?
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
        let removed: Vec<(String,)> = sqlx::query_as("SELECT name FROM cheap_hierarchy_tombstone WHERE catalog_id = ? AND version_number > ? ORDER BY version_number, name")
            .bind(catalog.to_string())
            .bind(version)
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(Changes {
            version: info.version,
            changed,
            removed: removed.into_iter().map(|(n,)| n).collect(),
        })
    }

    async fn health_check(&self) -> Result<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn close(&self) -> Result<()> {
        self.pool.close().await;
        Ok(())
    }
}
