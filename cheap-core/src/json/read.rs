//! JSON to model. Readers accept fields in any order; Catalog, AspectDef, PropertyDef and tree
//! nodes skip unknown fields, Hierarchy and AspectMap reject them (as the reference does).
//! Values are converted to their property's type and checked.

use std::str::FromStr;
use std::sync::Arc;

use base64::Engine;
use bigdecimal::BigDecimal;
use indexmap::IndexMap;
use num_bigint::BigInt;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::dao::CatalogHeader;
use crate::error::{CheapError, NotFound, Result};
use crate::model::{
    Aspect, AspectDef, AspectMap, Catalog, CatalogDef, CatalogSpecies, EntityDirectory, EntityList,
    EntitySet, EntityTree, Hierarchy, HierarchyContent, HierarchyDef, HierarchyType, Property,
    PropertyDef, PropertyType, TreeNode,
};
use crate::value::{coerce::parse_f64, PropertyValue};

pub(crate) fn bad(what: &str, msg: impl std::fmt::Display) -> CheapError {
    CheapError::invalid(format!("{what}: {msg}"))
}

/// Parses JSON text, mapping syntax errors and duplicate keys to [`CheapError::InvalidInput`].
pub fn parse(text: &str) -> Result<Value> {
    super::from_slice(text.as_bytes()).map(|super::StrictValue(v)| v)
}

fn object<'a>(v: &'a Value, what: &str) -> Result<&'a Map<String, Value>> {
    v.as_object()
        .ok_or_else(|| bad(what, "expected a JSON object"))
}

fn req<'a>(m: &'a Map<String, Value>, key: &str, what: &str) -> Result<&'a Value> {
    match m.get(key) {
        Some(Value::Null) | None => Err(bad(what, format_args!("'{key}' is required"))),
        Some(v) => Ok(v),
    }
}

pub(crate) fn string<'a>(v: &'a Value, what: &str, key: &str) -> Result<&'a str> {
    v.as_str()
        .ok_or_else(|| bad(what, format_args!("'{key}' must be a string")))
}

fn opt_bool(m: &Map<String, Value>, key: &str, default: bool, what: &str) -> Result<bool> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(bad(what, format_args!("'{key}' must be true or false"))),
    }
}

pub(crate) fn uuid(v: &Value, what: &str, key: &str) -> Result<Uuid> {
    let s = string(v, what, key)?;
    Uuid::parse_str(s).map_err(|_| bad(what, format_args!("'{key}' is not a UUID: '{s}'")))
}

fn scalar(t: PropertyType, v: &Value) -> std::result::Result<PropertyValue, String> {
    use PropertyType as T;
    match (v, t) {
        (Value::Number(n), _) => {
            let text = n.to_string();
            let fail = || format!("the number {text} is not a valid {}", t.name());
            match t {
                T::Integer => text.parse().map(PropertyValue::Integer).map_err(|_| fail()),
                T::Float => parse_f64(&text).map(PropertyValue::Float).ok_or_else(fail),
                // 0 and 1 are the only numbers that name a truth value; 2 is a mistake.
                T::Boolean => match text.as_str() {
                    "0" => Ok(PropertyValue::Boolean(false)),
                    "1" => Ok(PropertyValue::Boolean(true)),
                    _ => Err(fail()),
                },
                T::BigInteger => BigInt::from_str(&text)
                    .map(PropertyValue::BigInteger)
                    .map_err(|_| fail()),
                T::BigDecimal => BigDecimal::from_str(&text)
                    .map(PropertyValue::BigDecimal)
                    .map_err(|_| fail()),
                _ => Err(format!("a number where {} is expected", t.name())),
            }
        }
        (Value::String(s), T::Blob) => base64::engine::general_purpose::STANDARD
            .decode(s)
            .map(PropertyValue::Blob)
            .map_err(|_| format!("'{s}' is not padded base64")),
        (Value::String(s), t) => PropertyValue::from_text(t, s),
        (Value::Bool(b), T::Boolean) => Ok(PropertyValue::Boolean(*b)),
        (Value::Bool(_), t) => Err(format!("a boolean where {} is expected", t.name())),
        (Value::Array(_), _) => Err("a nested list".into()),
        (Value::Object(_), t) => Err(format!("an object where {} is expected", t.name())),
        (Value::Null, _) => Err("null inside a list".into()),
    }
}

/// Converts a JSON value to a value of `def`'s type: null to `None`, arrays to lists (for a
/// multivalued property), number text kept exactly for big numbers, base64 for BLOB.
pub fn value_from_json(
    aspect_def: &str,
    def: &PropertyDef,
    v: &Value,
) -> Result<Option<PropertyValue>> {
    let err = |message: String| CheapError::InvalidValue {
        aspect_def: aspect_def.to_owned(),
        property: def.name().to_owned(),
        expected: format!(
            "{}{}",
            if def.is_multivalued() { "list of " } else { "" },
            def.property_type()
        ),
        message,
    };
    let t = def.property_type();
    let value = match v {
        Value::Null => None,
        Value::Array(items) => Some(PropertyValue::List(
            items
                .iter()
                .enumerate()
                .map(|(i, e)| scalar(t, e).map_err(|m| err(format!("element {i}: {m}"))))
                .collect::<Result<_>>()?,
        )),
        v => Some(scalar(t, v).map_err(err)?),
    };
    def.coerce(aspect_def, value)
}

fn property_def_from(
    v: &Value,
    parent_readable: bool,
    parent_writable: bool,
    owner: &str,
) -> Result<PropertyDef> {
    let what = &format!("property def of '{owner}'");
    let m = object(v, what)?;
    let name = string(req(m, "name", what)?, what, "name")?;
    let type_name = string(req(m, "type", what)?, what, "type")?;
    let t = PropertyType::from_name(type_name).map_err(|e| bad(what, e))?;
    let mut p = PropertyDef::new(name, t)
        .readable(opt_bool(m, "isReadable", parent_readable, what)?)
        .writable(opt_bool(m, "isWritable", parent_writable, what)?)
        .nullable(opt_bool(m, "isNullable", true, what)?)
        .multivalued(opt_bool(m, "isMultivalued", false, what)?);
    match m.get("defaultValue") {
        Some(dv) => match value_from_json(owner, &p, dv)? {
            Some(d) => p = p.default_value(d),
            None => p = p.null_default(),
        },
        None if opt_bool(m, "hasDefaultValue", false, what)? => p = p.null_default(),
        None => {}
    }
    Ok(p)
}

/// Reads a standalone property def. Unlike the reference reader, which loses the default and
/// makes the def non-nullable, this reads back exactly what the writer wrote.
pub fn property_def_from_json(v: &Value) -> Result<PropertyDef> {
    property_def_from(v, true, true, "")?.checked("")
}

/// Reads an aspect def.
pub fn aspect_def_from_json(v: &Value) -> Result<AspectDef> {
    let m = object(v, "aspect def")?;
    let name = string(req(m, "name", "aspect def")?, "aspect def", "name")?;
    let what = &format!("aspect def '{name}'");
    let id = uuid(req(m, "globalId", what)?, what, "globalId")?;
    let readable = opt_bool(m, "isReadable", true, what)?;
    let writable = opt_bool(m, "isWritable", true, what)?;
    let props = match m.get("propertyDefs") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|p| property_def_from(p, readable, writable, name))
            .collect::<Result<_>>()?,
        Some(_) => return Err(bad(what, "'propertyDefs' must be an array")),
    };
    AspectDef::builder(name)
        .id(id)
        .readable(readable)
        .writable(writable)
        .can_add_properties(opt_bool(m, "canAddProperties", false, what)?)
        .can_remove_properties(opt_bool(m, "canRemoveProperties", false, what)?)
        .properties(props)
        .build()
}

/// Reads a hierarchy def (the type code in either case; `isModifiable` is ignored).
pub fn hierarchy_def_from_json(v: &Value) -> Result<HierarchyDef> {
    let what = "hierarchy def";
    let m = object(v, what)?;
    let name = string(req(m, "name", what)?, what, "name")?;
    let t = string(req(m, "type", what)?, what, "type")?;
    Ok(HierarchyDef::new(name, HierarchyType::from_str(t)?))
}

/// Reads a catalog def.
pub fn catalog_def_from_json(v: &Value) -> Result<CatalogDef> {
    let what = "catalog def";
    let m = object(v, what)?;
    let list = |key: &str| -> Result<&[Value]> {
        match m.get(key) {
            None | Some(Value::Null) => Ok(&[]),
            Some(Value::Array(a)) => Ok(a),
            Some(_) => Err(bad(what, format_args!("'{key}' must be an array"))),
        }
    };
    let aspects = list("aspectDefs")?
        .iter()
        .map(|a| aspect_def_from_json(a).map(Arc::new))
        .collect::<Result<Vec<_>>>()?;
    let hierarchies = list("hierarchyDefs")?
        .iter()
        .map(hierarchy_def_from_json)
        .collect::<Result<Vec<_>>>()?;
    Ok(CatalogDef::from_parts(aspects, hierarchies))
}

/// Reads an aspect of `def` attached to `entity`. An `entityId` field, if present, must agree.
pub fn aspect_from_json(v: &Value, def: Arc<AspectDef>, entity: Uuid) -> Result<Aspect> {
    let what = &format!("aspect of '{}' for entity {entity}", def.name());
    let m = object(v, what)?;
    let mut values = Vec::with_capacity(m.len());
    for (k, jv) in m {
        match k.as_str() {
            "entityId" => {
                if uuid(jv, what, k)? != entity {
                    return Err(bad(what, "'entityId' does not match the entity"));
                }
            }
            "aspectDefName" => {
                if string(jv, what, k)? != def.name() {
                    return Err(bad(what, "'aspectDefName' does not match the aspect def"));
                }
            }
            _ => {
                let pd = def
                    .property_def(k)
                    .ok_or_else(|| CheapError::InvalidValue {
                        aspect_def: def.name().to_owned(),
                        property: k.clone(),
                        expected: "a property of the aspect def".into(),
                        message: format!(
                            "property named '{k}' was not found in aspect definition '{}'",
                            def.name()
                        ),
                    })?;
                values.push((k.as_str(), value_from_json(def.name(), pd, jv)?));
            }
        }
    }
    Aspect::from_values(def, entity, values)
}

fn aspect_map_contents(v: &Value, def: &Arc<AspectDef>) -> Result<AspectMap> {
    let what = &format!("contents of aspect map '{}'", def.name());
    let m = object(v, what)?;
    let mut map = AspectMap::new(def.clone());
    for (k, av) in m {
        let entity =
            Uuid::parse_str(k).map_err(|_| bad(what, format_args!("key '{k}' is not a UUID")))?;
        map.put(aspect_from_json(av, def.clone(), entity)?)?;
    }
    Ok(map)
}

/// Reads a standalone aspect map (`aspectDef` names a def that `defs` knows).
pub fn aspect_map_from_json(
    v: &Value,
    defs: &dyn Fn(&str) -> Option<Arc<AspectDef>>,
) -> Result<AspectMap> {
    let what = "aspect map";
    let m = object(v, what)?;
    if let Some(k) = m.keys().find(|k| *k != "aspectDef" && *k != "contents") {
        return Err(bad(what, format_args!("unrecognized field '{k}'")));
    }
    let name = string(req(m, "aspectDef", what)?, what, "aspectDef")?;
    let def = defs(name).ok_or_else(|| {
        CheapError::NotFound(NotFound::AspectDef {
            catalog: None,
            name: name.to_owned(),
        })
    })?;
    aspect_map_contents(m.get("contents").unwrap_or(&Value::Null), &def)
}

/// Reads a tree node (`isLeaf` and unknown fields are ignored).
pub fn tree_node_from_json(v: &Value) -> Result<TreeNode> {
    let what = "tree node";
    let m = object(v, what)?;
    let entity = match m.get("entityId") {
        None | Some(Value::Null) => None,
        Some(e) => Some(uuid(e, what, "entityId")?),
    };
    let mut node = TreeNode::new(entity);
    match m.get("children") {
        None | Some(Value::Null) => {}
        Some(Value::Object(children)) => {
            for (k, c) in children {
                if k.is_empty() || k.contains('/') {
                    return Err(bad(
                        what,
                        format_args!("child name '{k}' is empty or contains '/'"),
                    ));
                }
                node.children.insert(k.clone(), tree_node_from_json(c)?);
            }
        }
        Some(_) => return Err(bad(what, "'children' must be an object")),
    }
    Ok(node)
}

fn uuid_array(v: &Value, what: &str) -> Result<Vec<Uuid>> {
    v.as_array()
        .ok_or_else(|| bad(what, "'contents' must be an array of UUIDs"))?
        .iter()
        .map(|e| uuid(e, what, "contents"))
        .collect()
}

/// Reads a hierarchy; an aspect map looks its def up by the hierarchy's name in `defs`.
pub fn hierarchy_from_json(
    v: &Value,
    defs: &dyn Fn(&str) -> Option<Arc<AspectDef>>,
) -> Result<Hierarchy> {
    let m = object(v, "hierarchy")?;
    if let Some(k) = m
        .keys()
        .find(|k| !matches!(k.as_str(), "type" | "name" | "contents" | "version"))
    {
        return Err(bad(
            "hierarchy",
            format_args!("unrecognized hierarchy field '{k}'"),
        ));
    }
    let name = string(req(m, "name", "hierarchy")?, "hierarchy", "name")?;
    let what = &format!("hierarchy '{name}'");
    let t = HierarchyType::from_str(string(req(m, "type", what)?, what, "type")?)?;
    let contents = m.get("contents").unwrap_or(&Value::Null);
    let empty = contents.is_null();
    let content = match t {
        HierarchyType::EntityList => HierarchyContent::List(EntityList(if empty {
            vec![]
        } else {
            uuid_array(contents, what)?
        })),
        HierarchyType::EntitySet => HierarchyContent::Set(EntitySet(if empty {
            Default::default()
        } else {
            uuid_array(contents, what)?.into_iter().collect()
        })),
        HierarchyType::EntityDirectory => {
            let mut d = EntityDirectory::default();
            if !empty {
                for (k, e) in object(contents, what)? {
                    d.put(k.clone(), uuid(e, what, k)?);
                }
            }
            HierarchyContent::Directory(d)
        }
        HierarchyType::EntityTree => HierarchyContent::Tree(EntityTree {
            root: if empty {
                TreeNode::default()
            } else {
                tree_node_from_json(contents)?
            },
        }),
        HierarchyType::AspectMap => {
            let def = defs(name).ok_or_else(|| {
                bad(
                    what,
                    "no aspect def of that name is known for this aspect map",
                )
            })?;
            HierarchyContent::AspectMap(if empty {
                AspectMap::new(def)
            } else {
                aspect_map_contents(contents, &def)?
            })
        }
    };
    let mut h = Hierarchy::with_content(name, content)?;
    if let Some(ver) = m.get("version").and_then(Value::as_i64) {
        h.version = ver;
    }
    Ok(h)
}

/// The catalog's own fields of a catalog object.
pub(crate) fn catalog_header(m: &Map<String, Value>) -> Result<CatalogHeader> {
    let what = "catalog";
    let id = uuid(req(m, "globalId", what)?, what, "globalId")?;
    let species = CatalogSpecies::from_str(string(req(m, "species", what)?, what, "species")?)?;
    let upstream = match m.get("upstream") {
        None | Some(Value::Null) => None,
        Some(u) => Some(uuid(u, what, "upstream")?),
    };
    let mut header = CatalogHeader::new(id, species, upstream)?;
    header.uri = match m.get("uri") {
        None | Some(Value::Null) => None,
        Some(u) => Some(string(u, what, "uri")?.to_owned()),
    };
    if let Some(ver) = m.get("version") {
        header.version = ver
            .as_i64()
            .ok_or_else(|| bad(what, "'version' must be an integer"))?;
    }
    Ok(header)
}

/// A catalog's `aspectDefs` object, each def under its own name.
pub(crate) fn catalog_aspect_defs(v: Option<&Value>) -> Result<IndexMap<String, Arc<AspectDef>>> {
    let what = "catalog";
    let mut defs: IndexMap<String, Arc<AspectDef>> = IndexMap::new();
    match v {
        None | Some(Value::Null) => {}
        Some(Value::Object(ads)) => {
            for (k, dv) in ads {
                let d = aspect_def_from_json(dv)?;
                if d.name() != k {
                    return Err(bad(
                        what,
                        format_args!("aspect def '{}' is listed under '{k}'", d.name()),
                    ));
                }
                defs.insert(k.clone(), Arc::new(d));
            }
        }
        Some(_) => return Err(bad(what, "'aspectDefs' must be an object")),
    }
    Ok(defs)
}

/// A hierarchy of a catalog's `hierarchies` object, which must be listed under its own name.
pub(crate) fn listed_hierarchy(
    key: &str,
    v: &Value,
    defs: &IndexMap<String, Arc<AspectDef>>,
) -> Result<Hierarchy> {
    let lookup = |n: &str| defs.get(n).cloned();
    let h = hierarchy_from_json(v, &lookup)?;
    if h.name() != key {
        return Err(listed_under(h.name(), key));
    }
    Ok(h)
}

pub(crate) fn listed_under(name: &str, key: &str) -> CheapError {
    bad(
        "catalog",
        format_args!("hierarchy '{name}' is listed under '{key}'"),
    )
}

/// Reads a catalog. Aspect defs that no aspect-map hierarchy uses get an empty aspect map, so
/// that no def is lost (the reference drops them).
pub fn catalog_from_json(v: &Value) -> Result<Catalog> {
    let what = "catalog";
    let m = object(v, what)?;
    let mut cat = catalog_header(m)?.to_catalog()?;
    let defs = catalog_aspect_defs(m.get("aspectDefs"))?;
    match m.get("hierarchies") {
        None | Some(Value::Null) => {}
        Some(Value::Object(hs)) => {
            for (k, hv) in hs {
                cat.add_hierarchy(listed_hierarchy(k, hv, &defs)?)?;
            }
        }
        Some(_) => return Err(bad(what, "'hierarchies' must be an object")),
    }
    for d in defs.into_values() {
        if cat.hierarchy(d.name()).is_none() {
            cat.extend(d)?;
        }
    }
    Ok(cat)
}

/// Reads a standalone property `{"def": ..., "value": ...}`.
pub fn property_from_json(v: &Value) -> Result<Property> {
    let m = object(v, "property")?;
    let def = property_def_from_json(req(m, "def", "property")?)?;
    let value = value_from_json("", &def, m.get("value").unwrap_or(&Value::Null))?;
    Ok(Property { def, value })
}
