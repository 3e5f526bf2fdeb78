//! cheap-json to catalog parts while the text is read, so that an import holds one part at a
//! time, not the document.
//!
//! The reader accepts what [`catalog_from_str`](super::catalog_from_str) accepts, with the
//! same checks. It streams when the document has the order the Java writer gives it (the
//! catalog's fields and `aspectDefs` before `hierarchies`; a hierarchy's `type` and `name`
//! before its `contents`); any other order is still read, by holding the part that came too
//! early until what it needs has arrived.

use std::collections::HashSet;
use std::fmt;
use std::io::Read;
use std::str::FromStr;
use std::sync::Arc;

use indexmap::IndexMap;
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::parse::{DepthGuard, StrictValue};
use super::read::{
    aspect_from_json, bad, catalog_aspect_defs, catalog_header, listed_hierarchy, listed_under,
    tree_node_from_json, uuid,
};
use crate::dao::parts::content_parts;
use crate::dao::{CatalogHeader, CatalogPart};
use crate::error::{CheapError, Result};
use crate::model::{
    AspectDef, AspectMap, EntityDirectory, EntityList, EntitySet, EntityTree, HierarchyContent,
    HierarchyDef, HierarchyType,
};

/// Reads one cheap-json catalog from `reader` and hands its parts to `sink` in order, at most
/// `per_part` entries per [`CatalogPart::Entries`]. An error from `sink` stops the reading
/// and is returned. Malformed text is [`CheapError::InvalidInput`] starting "malformed JSON";
/// a part already handed over stays handed over, so a consumer that must stay atomic keeps
/// its own transaction open until this returns.
pub fn read_catalog_parts<R: Read>(
    reader: R,
    per_part: usize,
    sink: &mut dyn FnMut(CatalogPart) -> Result<()>,
) -> Result<()> {
    let input = std::io::BufReader::with_capacity(64 * 1024, DepthGuard::new(reader));
    let mut de = serde_json::Deserializer::from_reader(input);
    de.disable_recursion_limit();
    let mut ctx = Ctx {
        sink,
        per_part: per_part.max(1),
        failed: None,
    };
    let outcome = CatalogSeed { ctx: &mut ctx }
        .deserialize(serde_stacker::Deserializer::new(&mut de))
        .and_then(|()| de.end());
    match outcome {
        Ok(()) => Ok(()),
        Err(e) => Err(ctx
            .failed
            .take()
            .unwrap_or_else(|| CheapError::invalid(format!("malformed JSON: {e}")))),
    }
}

struct Ctx<'s> {
    sink: &'s mut dyn FnMut(CatalogPart) -> Result<()>,
    per_part: usize,
    /// What stopped the reading, when it was not the text itself.
    failed: Option<CheapError>,
}

impl Ctx<'_> {
    /// Keeps `e` to return and gives serde an error that unwinds the parse.
    fn fail<E: de::Error>(&mut self, e: CheapError) -> E {
        let message = e.to_string();
        self.failed = Some(e);
        E::custom(message)
    }

    fn check<T, E: de::Error>(&mut self, r: Result<T>) -> std::result::Result<T, E> {
        r.map_err(|e| self.fail(e))
    }

    fn send<E: de::Error>(&mut self, part: CatalogPart) -> std::result::Result<(), E> {
        let r = (self.sink)(part);
        self.check(r)
    }

    fn send_hierarchy<E: de::Error>(
        &mut self,
        h: crate::model::Hierarchy,
    ) -> std::result::Result<(), E> {
        self.send(CatalogPart::Hierarchy {
            def: h.def(),
            entries: Some(h.len() as u64),
        })?;
        for part in content_parts(&h.content, self.per_part) {
            self.send(CatalogPart::Entries(part))?;
        }
        Ok(())
    }
}

fn duplicate<E: de::Error>(key: &str) -> E {
    E::custom(format_args!("duplicate key '{key}' in an object"))
}

/// The catalog object.
struct CatalogSeed<'a, 's> {
    ctx: &'a mut Ctx<'s>,
}

impl<'de> DeserializeSeed<'de> for CatalogSeed<'_, '_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for CatalogSeed<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a catalog object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<(), A::Error> {
        let ctx = self.ctx;
        let mut fields = Map::new();
        let mut keys = HashSet::new();
        let mut defs: Option<IndexMap<String, Arc<AspectDef>>> = None;
        // The header sent before the hierarchies were streamed, if they were.
        let mut sent: Option<CatalogHeader> = None;
        let mut held: Option<Value> = None;
        while let Some(key) = map.next_key::<String>()? {
            if !keys.insert(key.clone()) {
                return Err(duplicate(&key));
            }
            match key.as_str() {
                "aspectDefs" => {
                    let StrictValue(v) = map.next_value()?;
                    defs = Some(ctx.check(catalog_aspect_defs(Some(&v)))?);
                }
                "hierarchies" => {
                    let ready = fields.contains_key("globalId") && fields.contains_key("species");
                    match &defs {
                        Some(known) if ready => {
                            let header = ctx.check(catalog_header(&fields))?;
                            ctx.send(CatalogPart::Header(header.clone()))?;
                            for d in known.values() {
                                ctx.send(CatalogPart::AspectDef(d.clone()))?;
                            }
                            sent = Some(header);
                            map.next_value_seed(HierarchiesSeed {
                                ctx: &mut *ctx,
                                defs: known,
                            })?;
                        }
                        _ => {
                            let StrictValue(v) = map.next_value()?;
                            held = Some(v);
                        }
                    }
                }
                _ => {
                    // The catalog's own fields are kept; unknown fields are skipped, as the
                    // whole-document reader does.
                    let StrictValue(v) = map.next_value()?;
                    fields.insert(key, v);
                }
            }
        }
        let header = ctx.check(catalog_header(&fields))?;
        match sent {
            Some(before) => {
                // Fields given after the hierarchies complete the header.
                if before != header {
                    ctx.send(CatalogPart::Header(header))?;
                }
            }
            None => {
                ctx.send(CatalogPart::Header(header))?;
                let defs = defs.unwrap_or_default();
                for d in defs.values() {
                    ctx.send(CatalogPart::AspectDef(d.clone()))?;
                }
                match held {
                    None | Some(Value::Null) => {}
                    Some(Value::Object(hs)) => {
                        for (k, hv) in &hs {
                            let h = ctx.check(listed_hierarchy(k, hv, &defs))?;
                            ctx.send_hierarchy(h)?;
                        }
                    }
                    Some(_) => {
                        return Err(ctx.fail(bad("catalog", "'hierarchies' must be an object")))
                    }
                }
            }
        }
        Ok(())
    }
}

/// The `hierarchies` object, streamed.
struct HierarchiesSeed<'a, 's> {
    ctx: &'a mut Ctx<'s>,
    defs: &'a IndexMap<String, Arc<AspectDef>>,
}

impl<'de> DeserializeSeed<'de> for HierarchiesSeed<'_, '_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for HierarchiesSeed<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("'hierarchies' as an object")
    }

    fn visit_unit<E: de::Error>(self) -> std::result::Result<(), E> {
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<(), A::Error> {
        let mut names = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !names.insert(key.clone()) {
                return Err(duplicate(&key));
            }
            map.next_value_seed(HierarchySeed {
                ctx: &mut *self.ctx,
                defs: self.defs,
                key: &key,
            })?;
        }
        Ok(())
    }
}

/// One hierarchy object.
struct HierarchySeed<'a, 's> {
    ctx: &'a mut Ctx<'s>,
    defs: &'a IndexMap<String, Arc<AspectDef>>,
    key: &'a str,
}

impl<'de> DeserializeSeed<'de> for HierarchySeed<'_, '_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl HierarchySeed<'_, '_> {
    /// The hierarchy's def once its type and name are known strings, checked as the
    /// whole-document reader checks them.
    fn start(
        &self,
        fields: &Map<String, Value>,
    ) -> Option<Result<(HierarchyDef, Option<Arc<AspectDef>>)>> {
        let name = fields.get("name")?.as_str()?;
        let t = fields.get("type")?.as_str()?;
        Some((|| {
            let what = &format!("hierarchy '{name}'");
            let t = HierarchyType::from_str(t)?;
            if name != self.key {
                return Err(listed_under(name, self.key));
            }
            let def = match t {
                HierarchyType::AspectMap => {
                    Some(self.defs.get(name).cloned().ok_or_else(|| {
                        bad(
                            what,
                            "no aspect def of that name is known for this aspect map",
                        )
                    })?)
                }
                _ => None,
            };
            // Name rules as a hierarchy of this kind has them (an aspect map's name is its
            // def's, found by that name).
            if def.is_none() {
                crate::model::Hierarchy::new(name, t)?;
            }
            Ok((HierarchyDef::new(name, t), def))
        })())
    }
}

impl<'de> Visitor<'de> for HierarchySeed<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a hierarchy object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<(), A::Error> {
        let mut fields = Map::new();
        let mut streamed = false;
        while let Some(key) = map.next_key::<String>()? {
            if fields.contains_key(&key) || (streamed && key == "contents") {
                return Err(duplicate(&key));
            }
            match key.as_str() {
                "contents" if !streamed => match self.start(&fields) {
                    Some(started) => {
                        let (def, aspects) = self.ctx.check(started)?;
                        self.ctx.send(CatalogPart::Hierarchy {
                            def: def.clone(),
                            entries: None,
                        })?;
                        map.next_value_seed(ContentsSeed {
                            ctx: &mut *self.ctx,
                            def: &def,
                            aspects,
                        })?;
                        streamed = true;
                    }
                    None => {
                        let StrictValue(v) = map.next_value()?;
                        fields.insert(key, v);
                    }
                },
                "type" | "name" | "version" if !streamed => {
                    let StrictValue(v) = map.next_value()?;
                    fields.insert(key, v);
                }
                // After streamed contents, a late field can only be checked, not used.
                "version" => {
                    let StrictValue(_) = map.next_value()?;
                    fields.insert(key, Value::Null);
                }
                _ => {
                    return Err(self.ctx.fail(bad(
                        "hierarchy",
                        format_args!("unrecognized hierarchy field '{key}'"),
                    )))
                }
            }
        }
        if !streamed {
            let h = self.ctx.check(listed_hierarchy(
                self.key,
                &Value::Object(fields),
                self.defs,
            ))?;
            self.ctx.send_hierarchy(h)?;
        }
        Ok(())
    }
}

/// A hierarchy's `contents`, sent `per_part` entries at a time.
struct ContentsSeed<'a, 's> {
    ctx: &'a mut Ctx<'s>,
    def: &'a HierarchyDef,
    aspects: Option<Arc<AspectDef>>,
}

impl<'de> DeserializeSeed<'de> for ContentsSeed<'_, '_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
        if self.def.hierarchy_type == HierarchyType::EntityTree {
            let StrictValue(v) = <StrictValue as serde::Deserialize>::deserialize(d)?;
            if v.is_null() {
                return Ok(());
            }
            let root = self.ctx.check(tree_node_from_json(&v))?;
            let tree = EntityTree { root };
            if !tree.is_empty() {
                self.ctx
                    .send(CatalogPart::Entries(HierarchyContent::Tree(tree)))?;
            }
            return Ok(());
        }
        d.deserialize_any(self)
    }
}

impl ContentsSeed<'_, '_> {
    fn what(&self) -> String {
        format!("hierarchy '{}'", self.def.name)
    }
}

impl<'de> Visitor<'de> for ContentsSeed<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self.def.hierarchy_type {
            HierarchyType::EntityList | HierarchyType::EntitySet => {
                write!(f, "'contents' of {} as an array of UUIDs", self.def.name)
            }
            _ => write!(f, "'contents' of {} as an object", self.def.name),
        }
    }

    fn visit_unit<E: de::Error>(self) -> std::result::Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<(), A::Error> {
        let t = self.def.hierarchy_type;
        let what = self.what();
        if !matches!(t, HierarchyType::EntityList | HierarchyType::EntitySet) {
            return Err(self.ctx.fail(bad(&what, "'contents' must be an object")));
        }
        let per = self.ctx.per_part;
        let mut chunk: Vec<Uuid> = Vec::with_capacity(per);
        let pack = |ids: Vec<Uuid>| match t {
            HierarchyType::EntityList => HierarchyContent::List(EntityList(ids)),
            _ => HierarchyContent::Set(EntitySet(ids.into_iter().collect())),
        };
        while let Some(StrictValue(v)) = seq.next_element()? {
            let id = self.ctx.check(
                uuid(&v, &what, "contents")
                    .map_err(|_| bad(&what, "'contents' must be an array of UUIDs")),
            )?;
            chunk.push(id);
            if chunk.len() == per {
                self.ctx
                    .send(CatalogPart::Entries(pack(std::mem::take(&mut chunk))))?;
            }
        }
        if !chunk.is_empty() {
            self.ctx.send(CatalogPart::Entries(pack(chunk)))?;
        }
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<(), A::Error> {
        let what = self.what();
        let per = self.ctx.per_part;
        match (self.def.hierarchy_type, self.aspects.clone()) {
            (HierarchyType::EntityDirectory, _) => {
                let mut chunk = EntityDirectory::default();
                while let Some(k) = map.next_key::<String>()? {
                    let StrictValue(v) = map.next_value()?;
                    let id = self.ctx.check(uuid(&v, &what, &k))?;
                    if chunk.put(k.clone(), id).is_some() {
                        return Err(duplicate(&k));
                    }
                    if chunk.len() == per {
                        let full = std::mem::take(&mut chunk);
                        self.ctx
                            .send(CatalogPart::Entries(HierarchyContent::Directory(full)))?;
                    }
                }
                if !chunk.is_empty() {
                    self.ctx
                        .send(CatalogPart::Entries(HierarchyContent::Directory(chunk)))?;
                }
            }
            (HierarchyType::AspectMap, Some(def)) => {
                let what = format!("contents of aspect map '{}'", def.name());
                let mut chunk = AspectMap::new(def.clone());
                while let Some(k) = map.next_key::<String>()? {
                    let entity =
                        self.ctx
                            .check(Uuid::parse_str(&k).map_err(|_| {
                                bad(&what, format_args!("key '{k}' is not a UUID"))
                            }))?;
                    let StrictValue(v) = map.next_value()?;
                    if chunk.contains(entity) {
                        return Err(duplicate(&k));
                    }
                    let aspect = self.ctx.check(aspect_from_json(&v, def.clone(), entity))?;
                    let put = chunk.put(aspect).map(|_| ());
                    self.ctx.check(put)?;
                    if chunk.len() == per {
                        let full = std::mem::replace(&mut chunk, AspectMap::new(def.clone()));
                        self.ctx
                            .send(CatalogPart::Entries(HierarchyContent::AspectMap(full)))?;
                    }
                }
                if !chunk.is_empty() {
                    self.ctx
                        .send(CatalogPart::Entries(HierarchyContent::AspectMap(chunk)))?;
                }
            }
            _ => {
                return Err(self
                    .ctx
                    .fail(bad(&what, "'contents' must be an array of UUIDs")))
            }
        }
        Ok(())
    }
}

/// Parts sent on while a reader thread parses; small, so the parser waits for the store.
const PARTS_IN_FLIGHT: usize = 4;

/// Reads a cheap-json catalog from `reader` on a blocking thread and yields its parts as they
/// are parsed (at most [`ENTRIES_PER_PART`](crate::dao::parts::ENTRIES_PER_PART) entries
/// each), for [`CheapDao::import_catalog`](crate::CheapDao::import_catalog). A parse error ends
/// the stream with that error; dropping the stream stops the thread at its next part.
pub fn parts_from_reader<R: Read + Send + 'static>(
    reader: R,
) -> futures::stream::BoxStream<'static, Result<CatalogPart>> {
    use futures::StreamExt;
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<CatalogPart>>(PARTS_IN_FLIGHT);
    tokio::task::spawn_blocking(move || {
        let sent = read_catalog_parts(reader, crate::dao::parts::ENTRIES_PER_PART, &mut |p| {
            tx.blocking_send(Ok(p))
                .map_err(|_| CheapError::Unavailable("the import stopped reading".into()))
        });
        if let Err(e) = sent {
            // Nobody listening any more is fine: the import ended first.
            let _ = tx.blocking_send(Err(e));
        }
    });
    futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|p| (p, rx)) }).boxed()
}
