//! `gen-json`: a large cheap-json catalog written part by part (never whole in memory), for
//! measuring import, export and copy.

use std::io::Write;
use std::sync::Arc;

use cheap_core::dao::{CatalogHeader, CatalogPart};
use cheap_core::json::CatalogWriter;
use cheap_core::model::{HierarchyContent, HierarchyDef, HierarchyType};
use cheap_core::{Aspect, AspectMap, CatalogSpecies, CheapError, Result, Uuid};

/// Writes a catalog of `aspects` aspects of `props` properties (as [`crate::big_catalog`]
/// makes them) to `out`; returns its id.
pub fn write(aspects: usize, props: usize, out: &mut dyn Write) -> Result<Uuid> {
    let (_, def) = crate::big_catalog(0, props);
    let io = |e: std::io::Error| CheapError::backend("gen-json", e);
    let id = Uuid::new_v4();
    let mut w = CatalogWriter::new(false);
    let mut emit = |w: &mut CatalogWriter, p: CatalogPart| -> Result<()> {
        w.push(&p)?;
        out.write_all(w.take().as_bytes()).map_err(io)
    };
    emit(
        &mut w,
        CatalogPart::Header(CatalogHeader::new(id, CatalogSpecies::Sink, None)?),
    )?;
    emit(&mut w, CatalogPart::AspectDef(def.clone()))?;
    emit(
        &mut w,
        CatalogPart::Hierarchy {
            def: HierarchyDef::new(def.name(), HierarchyType::AspectMap),
            entries: Some(aspects as u64),
        },
    )?;
    let mut i = 0;
    while i < aspects {
        let mut part = AspectMap::new(Arc::clone(&def));
        for k in i..(i + 1000).min(aspects) {
            let mut b = Aspect::builder(def.clone(), Uuid::new_v4());
            for p in 0..props {
                b = match p % 3 {
                    0 => b.set(format!("p{p}"), (k * p) as i64),
                    1 => b.set(format!("p{p}"), format!("value {k} of {p}")),
                    _ => b.set(format!("p{p}"), k as f64 / (p + 1) as f64),
                };
            }
            part.put(b.build()?)?;
        }
        i += part.len();
        emit(
            &mut w,
            CatalogPart::Entries(HierarchyContent::AspectMap(part)),
        )?;
    }
    w.finish()?;
    out.write_all(w.take().as_bytes()).map_err(io)?;
    Ok(id)
}
