//! A catalog as a sequence of parts: its own fields, its aspect defs, then each hierarchy
//! followed by its entries in bounded chunks. Import and export move catalogs this way, so that
//! neither needs the whole catalog in memory ([`CheapDao::import_catalog`],
//! [`CheapDao::export_catalog`]).
//!
//! The order is fixed: one [`CatalogPart::Header`] first, then every [`CatalogPart::AspectDef`],
//! then for each hierarchy a [`CatalogPart::Hierarchy`] and the [`CatalogPart::Entries`] that
//! belong to it. A header may come once more at the end, when a document gave some of the
//! catalog's fields after its contents; the last one counts.
//!
//! [`CheapDao::import_catalog`]: crate::CheapDao::import_catalog
//! [`CheapDao::export_catalog`]: crate::CheapDao::export_catalog

use std::sync::Arc;

use indexmap::IndexMap;
use uuid::Uuid;

use crate::error::{CheapError, Result};
use crate::model::{
    AspectDef, AspectMap, Catalog, CatalogSpecies, EntityDirectory, EntityList, EntitySet,
    Hierarchy, HierarchyContent, HierarchyDef, HierarchyType,
};

/// Entries per [`CatalogPart::Entries`] that [`parts_of`] and the stores' exports produce.
pub const ENTRIES_PER_PART: usize = 1000;

/// A catalog's own fields, without its contents.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct CatalogHeader {
    /// The catalog's id.
    pub id: Uuid,
    /// Its species.
    pub species: CatalogSpecies,
    /// Its upstream, for the species that have one.
    pub upstream: Option<Uuid>,
    /// Its URI.
    pub uri: Option<String>,
    /// Its version (a store saving it gives it a newer one).
    pub version: i64,
}

impl CatalogHeader {
    /// A header with no URI at version 0; checks the species/upstream rule.
    pub fn new(id: Uuid, species: CatalogSpecies, upstream: Option<Uuid>) -> Result<Self> {
        species.check_upstream(upstream)?;
        Ok(CatalogHeader {
            id,
            species,
            upstream,
            uri: None,
            version: 0,
        })
    }

    /// The header of `catalog`.
    pub fn of(catalog: &Catalog) -> Self {
        CatalogHeader {
            id: catalog.id(),
            species: catalog.species(),
            upstream: catalog.upstream(),
            uri: catalog.uri.clone(),
            version: catalog.version,
        }
    }

    /// An empty catalog with these fields.
    pub fn to_catalog(&self) -> Result<Catalog> {
        let mut c = Catalog::with_id(self.id, self.species, self.upstream)?;
        c.uri = self.uri.clone();
        c.version = self.version;
        Ok(c)
    }
}

/// One piece of a catalog in transit (see the [module](self) for their order).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum CatalogPart {
    /// The catalog's own fields.
    Header(CatalogHeader),
    /// One of the catalog's aspect defs.
    AspectDef(Arc<AspectDef>),
    /// A hierarchy begins; the entries that follow are its own.
    Hierarchy {
        /// Its name and kind.
        def: HierarchyDef,
        /// How many entries it holds, when the sender knows (for progress).
        entries: Option<u64>,
    },
    /// Entries of the hierarchy begun last, of its kind. A tree comes whole, in one part.
    Entries(HierarchyContent),
}

impl CatalogPart {
    /// How many entries the part carries (0 for all but [`CatalogPart::Entries`]; a tree
    /// counts its nodes).
    pub fn entry_count(&self) -> u64 {
        match self {
            CatalogPart::Entries(c) => content_len(c) as u64,
            _ => 0,
        }
    }
}

fn content_len(c: &HierarchyContent) -> usize {
    match c {
        HierarchyContent::List(l) => l.len(),
        HierarchyContent::Set(s) => s.len(),
        HierarchyContent::Directory(d) => d.len(),
        HierarchyContent::Tree(t) => t.len(),
        HierarchyContent::AspectMap(m) => m.len(),
    }
}

/// The contents of a hierarchy cut into parts of at most `per_part` entries (a tree whole;
/// nothing for empty contents).
pub fn content_parts(content: &HierarchyContent, per_part: usize) -> Vec<HierarchyContent> {
    let n = per_part.max(1);
    match content {
        HierarchyContent::List(l) => {
            l.0.chunks(n)
                .map(|c| HierarchyContent::List(EntityList(c.to_vec())))
                .collect()
        }
        HierarchyContent::Set(s) => {
            let ids: Vec<Uuid> = s.iter().collect();
            ids.chunks(n)
                .map(|c| HierarchyContent::Set(EntitySet(c.iter().copied().collect())))
                .collect()
        }
        HierarchyContent::Directory(d) => {
            let entries: Vec<(&str, Uuid)> = d.iter().collect();
            entries
                .chunks(n)
                .map(|c| {
                    let mut part = EntityDirectory::default();
                    for (k, e) in c {
                        part.put(*k, *e);
                    }
                    HierarchyContent::Directory(part)
                })
                .collect()
        }
        HierarchyContent::Tree(t) if t.is_empty() => Vec::new(),
        HierarchyContent::Tree(_) => vec![content.clone()],
        HierarchyContent::AspectMap(m) => {
            let aspects: Vec<_> = m.iter().collect();
            aspects
                .chunks(n)
                .map(|c| {
                    let mut part = AspectMap::new(m.def().clone());
                    for a in c {
                        // Same def, distinct entities: cannot fail.
                        let _ = part.put((*a).clone());
                    }
                    HierarchyContent::AspectMap(part)
                })
                .collect()
        }
    }
}

/// A catalog in memory as parts, `per_part` entries at most per [`CatalogPart::Entries`].
pub fn parts_of(catalog: &Catalog, per_part: usize) -> Vec<CatalogPart> {
    let mut parts = vec![CatalogPart::Header(CatalogHeader::of(catalog))];
    parts.extend(
        catalog
            .aspect_defs()
            .map(|d| CatalogPart::AspectDef(d.clone())),
    );
    for h in catalog.hierarchies() {
        parts.push(CatalogPart::Hierarchy {
            def: h.def(),
            entries: Some(h.len() as u64),
        });
        parts.extend(
            content_parts(&h.content, per_part)
                .into_iter()
                .map(CatalogPart::Entries),
        );
    }
    parts
}

/// Builds a catalog from its parts, checking their order; what a store without a streaming
/// path does with an import.
#[derive(Debug, Default)]
pub struct CatalogAssembler {
    catalog: Option<Catalog>,
    defs: IndexMap<String, Arc<AspectDef>>,
    current: Option<Hierarchy>,
    hierarchies: Vec<Hierarchy>,
}

impl CatalogAssembler {
    /// An assembler waiting for the header.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes the next part.
    pub fn push(&mut self, part: CatalogPart) -> Result<()> {
        check_order(self.catalog.is_some(), self.current.is_some(), &part)?;
        match part {
            CatalogPart::Header(h) => match &mut self.catalog {
                Some(c) => {
                    header_again(c.id(), &h)?;
                    c.set_species(h.species, h.upstream)?;
                    c.uri = h.uri;
                    c.version = h.version;
                }
                None => self.catalog = Some(h.to_catalog()?),
            },
            CatalogPart::AspectDef(d) => {
                if !self.hierarchies.is_empty() || self.current.is_some() {
                    return Err(out_of_order("an aspect def after the first hierarchy"));
                }
                if self.defs.insert(d.name().to_owned(), d).is_some() {
                    return Err(CheapError::invalid("an aspect def is given twice"));
                }
            }
            CatalogPart::Hierarchy { def, .. } => {
                self.finish_current();
                let h = match def.hierarchy_type {
                    HierarchyType::AspectMap => {
                        let d = self.defs.get(&def.name).ok_or_else(|| {
                            CheapError::invalid(format!(
                                "hierarchy '{}': no aspect def of that name is known for this aspect map",
                                def.name
                            ))
                        })?;
                        Hierarchy::aspect_map(d.clone())
                    }
                    t => Hierarchy::new(def.name, t)?,
                };
                self.current = Some(h);
            }
            CatalogPart::Entries(content) => {
                let h = self
                    .current
                    .as_mut()
                    .ok_or_else(|| out_of_order("entries before any hierarchy"))?;
                append_content(h, content)?;
            }
        }
        Ok(())
    }

    fn finish_current(&mut self) {
        if let Some(h) = self.current.take() {
            self.hierarchies.push(h);
        }
    }

    /// The catalog: its hierarchies in the order given, then an empty aspect map for every
    /// def no hierarchy used (so no def is lost).
    pub fn finish(mut self) -> Result<Catalog> {
        self.finish_current();
        let mut catalog = self
            .catalog
            .ok_or_else(|| out_of_order("no catalog header"))?;
        for h in self.hierarchies {
            if catalog.hierarchy(h.name()).is_some() {
                return Err(CheapError::invalid(format!(
                    "hierarchy '{}' is given twice",
                    h.name()
                )));
            }
            catalog.add_hierarchy(h)?;
        }
        for d in self.defs.into_values() {
            if catalog.hierarchy(d.name()).is_none() {
                catalog.extend(d)?;
            }
        }
        Ok(catalog)
    }
}

/// A later header must describe the same catalog.
pub fn header_again(id: Uuid, h: &CatalogHeader) -> Result<()> {
    if h.id != id {
        return Err(CheapError::invalid(format!(
            "a catalog's parts name two catalogs: {id} and {}",
            h.id
        )));
    }
    Ok(())
}

fn out_of_order(what: &str) -> CheapError {
    CheapError::invalid(format!("catalog parts out of order: {what}"))
}

/// Whether `part` may come next, given whether a header came already and whether a
/// hierarchy is open.
fn check_order(have_header: bool, in_hierarchy: bool, part: &CatalogPart) -> Result<()> {
    match part {
        CatalogPart::Header(_) => Ok(()),
        _ if !have_header => Err(out_of_order("the header must come first")),
        CatalogPart::Entries(_) if !in_hierarchy => {
            Err(out_of_order("entries before any hierarchy"))
        }
        _ => Ok(()),
    }
}

/// Adds a part of a hierarchy's contents to it; the part must be of the hierarchy's kind.
pub fn append_content(h: &mut Hierarchy, part: HierarchyContent) -> Result<()> {
    let name = h.name().to_owned();
    let wrong = |t: HierarchyType| {
        CheapError::invalid(format!(
            "hierarchy '{name}' is a {}, and the entries given are not",
            t.code()
        ))
    };
    let t = h.hierarchy_type();
    match (&mut h.content, part) {
        (HierarchyContent::List(l), HierarchyContent::List(p)) => l.0.extend(p.0),
        (HierarchyContent::Set(s), HierarchyContent::Set(p)) => {
            for e in p.iter() {
                s.add(e);
            }
        }
        (HierarchyContent::Directory(d), HierarchyContent::Directory(p)) => {
            for (k, e) in p.iter() {
                if d.put(k, e).is_some() {
                    return Err(CheapError::invalid(format!(
                        "directory '{name}' has the key '{k}' twice"
                    )));
                }
            }
        }
        (HierarchyContent::Tree(tr), HierarchyContent::Tree(p)) => {
            if !tr.is_empty() {
                return Err(CheapError::invalid(format!(
                    "tree '{name}' is given in more than one part"
                )));
            }
            *tr = p;
        }
        (HierarchyContent::AspectMap(m), HierarchyContent::AspectMap(p)) => {
            if p.def() != m.def() {
                return Err(CheapError::invalid(format!(
                    "aspect map '{name}': entries of another aspect def"
                )));
            }
            for a in p.iter() {
                if m.contains(a.entity_id()) {
                    return Err(CheapError::invalid(format!(
                        "aspect map '{name}' has entity {} twice",
                        a.entity_id()
                    )));
                }
                m.put(a.clone())?;
            }
        }
        _ => return Err(wrong(t)),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Aspect, PropertyDef, PropertyType};

    fn sample() -> Catalog {
        let mut c = Catalog::new();
        c.uri = Some("http://x/".into());
        let def = Arc::new(
            AspectDef::builder("person")
                .property(PropertyDef::new("name", PropertyType::String))
                .build()
                .unwrap(),
        );
        let lone = Arc::new(
            AspectDef::builder("lone")
                .property(PropertyDef::new("x", PropertyType::Integer))
                .build()
                .unwrap(),
        );
        let ids: Vec<Uuid> = (0..25).map(|_| Uuid::new_v4()).collect();
        let m = c.extend(def.clone()).unwrap();
        for (i, e) in ids.iter().enumerate() {
            m.put(
                Aspect::builder(def.clone(), *e)
                    .set("name", format!("n{i}"))
                    .build()
                    .unwrap(),
            )
            .unwrap();
        }
        c.extend(lone).unwrap();
        let l = c.create_entity_list("list").unwrap();
        for e in &ids {
            l.add(*e);
        }
        l.add(ids[0]);
        let d = c.create_entity_directory("dir").unwrap();
        for (i, e) in ids.iter().enumerate() {
            d.put(format!("k{i}"), *e);
        }
        c.create_entity_set("set").unwrap().add(ids[3]);
        c.create_entity_tree("tree").unwrap();
        c
    }

    #[test]
    fn parts_reassemble_into_the_same_catalog() {
        let c = sample();
        for per in [1, 7, 1000] {
            let parts = parts_of(&c, per);
            assert!(parts.iter().all(|p| p.entry_count() <= per as u64
                || matches!(p, CatalogPart::Entries(HierarchyContent::Tree(_)))));
            let mut a = CatalogAssembler::new();
            for p in parts {
                a.push(p).unwrap();
            }
            assert_eq!(a.finish().unwrap(), c);
        }
    }

    #[test]
    fn parts_out_of_order_or_repeated_are_refused() {
        let c = sample();
        let parts = parts_of(&c, 10);
        // Entries before their hierarchy.
        let mut a = CatalogAssembler::new();
        a.push(parts[0].clone()).unwrap();
        let entries = parts
            .iter()
            .find(|p| matches!(p, CatalogPart::Entries(_)))
            .unwrap();
        assert!(a.push(entries.clone()).is_err());
        // No header.
        assert!(CatalogAssembler::new().push(parts[1].clone()).is_err());
        // A directory key twice, across two parts.
        let mut a = CatalogAssembler::new();
        a.push(parts[0].clone()).unwrap();
        a.push(CatalogPart::Hierarchy {
            def: HierarchyDef::new("d", HierarchyType::EntityDirectory),
            entries: None,
        })
        .unwrap();
        let mut one = EntityDirectory::default();
        one.put("k", Uuid::new_v4());
        a.push(CatalogPart::Entries(HierarchyContent::Directory(
            one.clone(),
        )))
        .unwrap();
        let e = a
            .push(CatalogPart::Entries(HierarchyContent::Directory(one)))
            .unwrap_err();
        assert!(e.to_string().contains("twice"), "{e}");
        // Entries of the wrong kind.
        let mut a = CatalogAssembler::new();
        a.push(parts[0].clone()).unwrap();
        a.push(CatalogPart::Hierarchy {
            def: HierarchyDef::new("l", HierarchyType::EntityList),
            entries: None,
        })
        .unwrap();
        assert!(a
            .push(CatalogPart::Entries(HierarchyContent::Set(
                EntitySet::default()
            )))
            .is_err());
    }
}
