//! A stored catalog read out as parts: one read transaction (one consistent snapshot), each
//! hierarchy page by page along its order, so memory holds a page, not the catalog.

use std::sync::Arc;

use futures::stream::BoxStream;
use futures::StreamExt;
use uuid::Uuid;

use super::pages::entries_after;
use super::*;
use crate::content::{self, Window};
use cheap_core::dao::parts::{content_parts, ENTRIES_PER_PART};
use cheap_core::dao::{CatalogHeader, CatalogPart};
use cheap_core::model::HierarchyDef;
use cheap_core::CheapError;

pub(crate) fn export_catalog<'a>(b: Engine<'a>, id: Uuid) -> BoxStream<'a, Result<CatalogPart>> {
    async_stream::try_stream! {
        let maps = b.mapping_registry().snapshot();
        let d = b.dialect();
        let mut guard = b.connect(TxMode::Read).await?;
        let conn: &mut dyn SqlConn = &mut *guard;
        let info = require_catalog(conn, id).await?;
        let mut header = CatalogHeader::new(info.id, info.species, info.upstream)?;
        header.uri = info.uri;
        header.version = info.version;
        yield CatalogPart::Header(header);
        let defs = defs::catalog_defs(conn, id).await?;
        let rows = hierarchy_rows(conn, d, id, None).await?;
        // Defs in the order of their aspect maps, then (by name) those linked without one: the
        // order a loaded catalog has.
        let mut ordered: Vec<Arc<AspectDef>> = rows
            .iter()
            .filter(|r| r.kind == HierarchyType::AspectMap)
            .filter_map(|r| defs.get(&r.name).cloned())
            .collect();
        let mut lone: Vec<Arc<AspectDef>> = defs
            .values()
            .filter(|def| !rows.iter().any(|r| r.name == def.name()))
            .cloned()
            .collect();
        lone.sort_by(|a, b| a.name().cmp(b.name()));
        ordered.extend(lone.iter().cloned());
        for def in &ordered {
            yield CatalogPart::AspectDef(def.clone());
        }
        for row in &rows {
            yield CatalogPart::Hierarchy {
                def: HierarchyDef::new(row.name.clone(), row.kind),
                entries: row.entries.map(|n| n.max(0) as u64),
            };
            let by_order = match row.kind {
                HierarchyType::EntityTree => false,
                HierarchyType::AspectMap => !maps.contains_key(&row.name),
                _ => true,
            };
            if by_order {
                let mut after = None;
                loop {
                    let (part, last, more) = entries_after(
                        conn, d, &maps, id, &row.name, row.kind, after, ENTRIES_PER_PART as u64,
                    )
                    .await?;
                    if last.is_some() {
                        yield CatalogPart::Entries(part);
                    }
                    if !more {
                        break;
                    }
                    after = last;
                }
            } else {
                // Trees (and aspects kept in a table of their own) are read whole.
                let one = std::slice::from_ref(row);
                let read = content::read_hierarchies(
                    conn, d, id, one, &defs, &maps, Some(&row.name), Window::ALL,
                )
                .await?;
                let h = read
                    .into_iter()
                    .next()
                    .ok_or_else(|| CheapError::invalid(format!("hierarchy '{}' vanished", row.name)))?;
                for part in content_parts(&h.content, ENTRIES_PER_PART) {
                    yield CatalogPart::Entries(part);
                }
            }
        }
        for def in &lone {
            yield CatalogPart::Hierarchy {
                def: HierarchyDef::new(def.name(), HierarchyType::AspectMap),
                entries: Some(0),
            };
        }
    }
    .boxed()
}
