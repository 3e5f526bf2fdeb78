//! Writing a whole catalog, from memory (save) or from a stream of parts (import), in the
//! caller's write transaction: both replace what the catalog held and write the same rows.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use futures::stream::BoxStream;
use futures::TryStreamExt;
use uuid::Uuid;

use super::catalogs::{clear_catalog, clear_mapped};
use super::*;
use crate::content::{self, spaced_orders};
use crate::mapping::{self, Mappings};
use cheap_core::dao::parts::header_again;
use cheap_core::dao::{CatalogHeader, CatalogPart};
use cheap_core::model::{Aspect, AspectMap, Hierarchy, HierarchyContent, HierarchyDef};
use cheap_core::{limits, CheapError, Result};

/// The hierarchy being written.
struct Open {
    name: String,
    kind: HierarchyType,
    def: Option<Arc<AspectDef>>,
    /// Entries written so far.
    written: u64,
    /// What the hierarchy row says it holds.
    recorded: u64,
    /// The last list order written.
    last_order: Option<i64>,
    tree_written: bool,
}

/// A catalog being written part by part.
pub(super) struct CatalogWrite<'m> {
    maps: &'m Mappings,
    cat: Uuid,
    version: i64,
    old_names: Vec<String>,
    defs: HashMap<String, Arc<AspectDef>>,
    /// Defs in the order given, for the aspect maps made for those no hierarchy used.
    def_order: Vec<String>,
    names: Vec<String>,
    written: HashSet<String>,
    open: Option<Open>,
    rows: u64,
}

impl<'m> CatalogWrite<'m> {
    /// Empties the catalog (or creates its row) under the header's fields.
    pub async fn begin(
        conn: &mut dyn SqlConn,
        d: &dyn Dialect,
        maps: &'m Mappings,
        header: &CatalogHeader,
    ) -> Result<Self> {
        check_header(header)?;
        let cat = header.id;
        let previous = find_catalog(conn, cat).await?;
        let old_names = hierarchy_names(conn, d, cat).await?;
        // Replace semantics: everything the catalog held goes, then the new contents come.
        clear_mapped(conn, d, cat, &old_names, maps).await?;
        clear_catalog(conn, cat).await?;
        let version = previous
            .as_ref()
            .map_or(0, |p| p.version)
            .max(header.version)
            + 1;
        let upsert = d.on_conflict(
            &["catalog_id"],
            &["species", "uri", "upstream_catalog_id", "version_number"],
        );
        conn.execute(
            &format!("INSERT INTO catalog (catalog_id, species, uri, upstream_catalog_id, version_number, cheap_epoch) VALUES (?, ?, ?, ?, ?, ?) {upsert}"),
            &[
                Arg::Uuid(cat),
                Arg::text(header.species.as_upper()),
                Arg::opt_text(header.uri.as_deref()),
                Arg::opt_uuid(header.upstream),
                Arg::Int(version),
                // A new row is a new incarnation; an existing row keeps its epoch.
                Arg::Int(new_epoch()),
            ],
        )
        .await?;
        Ok(CatalogWrite {
            maps,
            cat,
            version,
            old_names,
            defs: HashMap::new(),
            def_order: Vec::new(),
            names: Vec::new(),
            written: HashSet::new(),
            open: None,
            rows: 0,
        })
    }

    /// Writes the next part.
    pub async fn part(
        &mut self,
        conn: &mut dyn SqlConn,
        d: &dyn Dialect,
        part: &CatalogPart,
    ) -> Result<()> {
        match part {
            CatalogPart::Header(h) => self.header(conn, h).await,
            CatalogPart::AspectDef(def) => self.aspect_def(conn, d, def).await,
            CatalogPart::Hierarchy { def, entries } => {
                self.hierarchy(conn, d, def, entries.unwrap_or(0)).await
            }
            CatalogPart::Entries(content) => self.entries(conn, d, content).await,
            _ => Err(CheapError::invalid(
                "a catalog part this store does not know",
            )),
        }
    }

    /// A header given again: its fields replace the first one's (the version stays the one
    /// the write began with).
    async fn header(&mut self, conn: &mut dyn SqlConn, h: &CatalogHeader) -> Result<()> {
        header_again(self.cat, h)?;
        check_header(h)?;
        conn.execute(
            "UPDATE catalog SET species = ?, uri = ?, upstream_catalog_id = ? WHERE catalog_id = ?",
            &[
                Arg::text(h.species.as_upper()),
                Arg::opt_text(h.uri.as_deref()),
                Arg::opt_uuid(h.upstream),
                Arg::Uuid(self.cat),
            ],
        )
        .await?;
        Ok(())
    }

    pub async fn aspect_def(
        &mut self,
        conn: &mut dyn SqlConn,
        d: &dyn Dialect,
        def: &Arc<AspectDef>,
    ) -> Result<()> {
        if !self.names.is_empty() {
            return Err(order("an aspect def after the first hierarchy"));
        }
        limits::check_aspect_def(def)?;
        if self.defs.contains_key(def.name()) {
            return Err(CheapError::invalid(format!(
                "aspect def '{}' is given twice",
                def.name()
            )));
        }
        defs::store_def(conn, d, self.cat, def).await?;
        self.def_order.push(def.name().to_owned());
        self.defs.insert(def.name().to_owned(), def.clone());
        Ok(())
    }

    /// Begins hierarchy `def`, whose row records `entries` until its entries say otherwise.
    pub async fn hierarchy(
        &mut self,
        conn: &mut dyn SqlConn,
        d: &dyn Dialect,
        def: &HierarchyDef,
        entries: u64,
    ) -> Result<()> {
        self.close(conn, d).await?;
        let name = def.name.as_str();
        let aspect_def = match def.hierarchy_type {
            HierarchyType::AspectMap => Some(self.defs.get(name).cloned().ok_or_else(|| {
                CheapError::invalid(format!(
                    "hierarchy '{name}': no aspect def of that name is known for this aspect map"
                ))
            })?),
            _ => None,
        };
        // The name rules of a hierarchy of this kind, and the store's limits.
        let empty = match &aspect_def {
            Some(a) => Hierarchy::aspect_map(a.clone()),
            None => Hierarchy::new(name, def.hierarchy_type)?,
        };
        limits::check_hierarchy(&empty)?;
        if !self.written.insert(name.to_owned()) {
            return Err(CheapError::invalid(format!(
                "hierarchy '{name}' is given twice"
            )));
        }
        let position = self.names.len() as i64;
        conn.execute(
            "INSERT INTO hierarchy (catalog_id, name, hierarchy_type, version_number, hierarchy_order, cheap_entries) VALUES (?, ?, ?, ?, ?, ?)",
            &[
                Arg::Uuid(self.cat),
                Arg::text(name),
                Arg::text(def.hierarchy_type.code()),
                Arg::Int(self.version),
                Arg::Int(position),
                Arg::Int(entries as i64),
            ],
        )
        .await?;
        self.names.push(name.to_owned());
        self.open = Some(Open {
            name: name.to_owned(),
            kind: def.hierarchy_type,
            def: aspect_def,
            written: 0,
            recorded: entries,
            last_order: None,
            tree_written: false,
        });
        Ok(())
    }

    /// Writes entries of the open hierarchy (a whole hierarchy's contents, or a part).
    pub async fn entries(
        &mut self,
        conn: &mut dyn SqlConn,
        d: &dyn Dialect,
        content: &HierarchyContent,
    ) -> Result<()> {
        let maps = self.maps;
        let cat = self.cat;
        let open = self
            .open
            .as_mut()
            .ok_or_else(|| order("entries before any hierarchy"))?;
        limits::check_content(content)?;
        let name = open.name.as_str();
        let n = match (open.kind, content) {
            (HierarchyType::EntityList, HierarchyContent::List(l)) => {
                let orders = spaced_orders(open.last_order, l.len()).ok_or_else(|| {
                    CheapError::invalid(format!("list '{name}' cannot hold that many entries"))
                })?;
                open.last_order = orders.last().copied().or(open.last_order);
                let rows: Vec<(Uuid, i64)> = l.iter().zip(orders).collect();
                content::insert_list_rows(conn, d, cat, name, &rows).await?
            }
            (HierarchyType::EntitySet, HierarchyContent::Set(s)) => {
                let ids: Vec<Uuid> = s.iter().collect();
                content::insert_set(conn, d, cat, name, &ids, open.written as i64).await?
            }
            (HierarchyType::EntityDirectory, HierarchyContent::Directory(dir)) => {
                let rows: Vec<(&str, Uuid, i64)> = dir
                    .iter()
                    .zip(open.written as i64..)
                    .map(|((k, e), o)| (k, e, o))
                    .collect();
                // No upsert: a key given twice in one document is a mistake, not a put.
                content::insert_directory_rows(conn, d, cat, name, &rows, "")
                    .await
                    .map_err(|e| twice(e, name))?
            }
            (HierarchyType::EntityTree, HierarchyContent::Tree(t)) if !open.tree_written => {
                open.tree_written = true;
                content::insert_tree_rows(conn, d, cat, name, &crate::codec::flatten_tree(t))
                    .await?;
                t.len() as u64
            }
            (HierarchyType::AspectMap, HierarchyContent::AspectMap(m)) => {
                let def = open
                    .def
                    .as_ref()
                    .ok_or_else(|| order("an aspect map without its def"))?;
                if m.def() != def {
                    return Err(CheapError::invalid(format!(
                        "aspect map '{name}': entries of another aspect def"
                    )));
                }
                write_aspects(conn, d, cat, name, m, open.written as i64, maps).await?;
                m.len() as u64
            }
            (HierarchyType::EntityTree, HierarchyContent::Tree(_)) => {
                return Err(order("a tree given in more than one part"))
            }
            (kind, _) => {
                return Err(CheapError::invalid(format!(
                    "hierarchy '{name}' is a {}, and the entries given are not",
                    kind.code()
                )))
            }
        };
        open.written += n;
        self.rows += n;
        Ok(())
    }

    /// Ends the open hierarchy: an empty tree still has its root, and the row's count is
    /// made exact.
    async fn close(&mut self, conn: &mut dyn SqlConn, d: &dyn Dialect) -> Result<()> {
        let Some(mut open) = self.open.take() else {
            return Ok(());
        };
        if open.kind == HierarchyType::EntityTree && !open.tree_written {
            let empty = cheap_core::model::EntityTree::default();
            content::insert_tree_rows(
                conn,
                d,
                self.cat,
                &open.name,
                &crate::codec::flatten_tree(&empty),
            )
            .await?;
            open.written = empty.len() as u64;
        }
        if open.written != open.recorded {
            conn.execute(
                "UPDATE hierarchy SET cheap_entries = ? WHERE catalog_id = ? AND name = ?",
                &[
                    Arg::Int(open.written as i64),
                    Arg::Uuid(self.cat),
                    Arg::text(&open.name),
                ],
            )
            .await?;
        }
        Ok(())
    }

    /// Ends the catalog: an empty aspect map for every def no hierarchy used, the change
    /// records a replica follows; returns the new version and the entries written.
    pub async fn finish(mut self, conn: &mut dyn SqlConn, d: &dyn Dialect) -> Result<(i64, u64)> {
        self.close(conn, d).await?;
        for name in std::mem::take(&mut self.def_order) {
            if !self.written.contains(&name) {
                let def = HierarchyDef::new(name, HierarchyType::AspectMap);
                self.hierarchy(conn, d, &def, 0).await?;
            }
        }
        self.close(conn, d).await?;
        let (cat, version) = (self.cat, self.version);
        // Every hierarchy was written whole: a replica refetches them rather than following
        // single aspects.
        let hs: Vec<&String> = self.names.iter().collect();
        batch::insert(
            conn,
            d,
            "INSERT INTO cheap_hierarchy_rewrite (catalog_id, name, version_number)",
            3,
            "",
            &hs,
            |a, n| a.extend([Arg::Uuid(cat), Arg::text(n), Arg::Int(version)]),
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
        for gone in self.old_names.iter().filter(|n| !self.written.contains(*n)) {
            conn.execute(
                &tombstone,
                &[Arg::Uuid(cat), Arg::text(gone), Arg::Int(version)],
            )
            .await?;
        }
        Ok((version, self.rows))
    }
}

fn order(what: &str) -> CheapError {
    CheapError::invalid(format!("catalog parts out of order: {what}"))
}

fn check_header(h: &CatalogHeader) -> Result<()> {
    limits::check_catalog(&h.to_catalog()?)
}

/// A key or entity already written in this hierarchy is the document's mistake.
fn twice(e: CheapError, name: &str) -> CheapError {
    match e {
        CheapError::Conflict { .. } => CheapError::invalid(format!(
            "hierarchy '{name}' holds the same key or entity twice"
        )),
        e => e,
    }
}

/// Writes aspects of an aspect map at map positions from `first`; in the def's own table
/// when it is mapped.
async fn write_aspects(
    conn: &mut dyn SqlConn,
    d: &dyn Dialect,
    cat: Uuid,
    name: &str,
    m: &AspectMap,
    first: i64,
    maps: &Mappings,
) -> Result<()> {
    for a in m.iter() {
        a.check_complete()?;
    }
    let items: Vec<(&Aspect, i64)> = m.iter().zip(first..).collect();
    match maps.get(m.def().name()) {
        // Membership and order stay in the aspect map tables; values go to the table.
        // (Its own refusals, a second owner of the table say, stay what they are.)
        Some(mapping) => {
            if mapping.has_entity_id() {
                content::insert_aspects(conn, d, cat, m.def(), &items, false, false)
                    .await
                    .map_err(|e| twice(e, name))?;
            }
            let aspects: Vec<&Aspect> = m.iter().collect();
            mapping::write(conn, d, cat, mapping, &aspects).await
        }
        None => content::insert_aspects(conn, d, cat, m.def(), &items, true, false)
            .await
            .map_err(|e| twice(e, name)),
    }
}

/// A catalog in memory, written whole in the caller's transaction.
pub(super) async fn save(
    conn: &mut dyn SqlConn,
    d: &dyn Dialect,
    catalog: &cheap_core::model::Catalog,
    maps: &Mappings,
) -> Result<(i64, u64)> {
    let mut w = CatalogWrite::begin(conn, d, maps, &CatalogHeader::of(catalog)).await?;
    for def in catalog.aspect_defs() {
        w.aspect_def(conn, d, def).await?;
    }
    for h in catalog.hierarchies() {
        w.hierarchy(conn, d, &h.def(), h.len() as u64).await?;
        w.entries(conn, d, &h.content).await?;
    }
    w.finish(conn, d).await
}

/// A catalog from a stream of parts, in one write transaction of its own. It is not run again
/// on contention (a stream is read once): such a failure is returned.
pub(crate) async fn import_catalog(
    b: &Engine<'_>,
    parts: BoxStream<'_, Result<CatalogPart>>,
) -> Result<i64> {
    let mut parts = parts;
    let header = match parts.try_next().await? {
        Some(CatalogPart::Header(h)) => h,
        Some(_) => return Err(order("the header must come first")),
        None => return Err(CheapError::invalid("an import with no catalog header")),
    };
    let maps = b.mapping_registry().snapshot();
    let d = b.dialect();
    let mut conn = begin_write(b, header.id).await?;
    let mut w = CatalogWrite::begin(&mut *conn, d, &maps, &header).await?;
    while let Some(part) = parts.try_next().await? {
        w.part(&mut *conn, d, &part).await?;
    }
    let (version, rows) = w.finish(&mut *conn, d).await?;
    conn.commit().await?;
    super::catalogs::refresh_statistics(b, rows).await;
    Ok(version)
}
