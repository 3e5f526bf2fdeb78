//! Model to JSON, in the reference's field order and omission rules (spec/model.md §4.1-4.3).

use super::printer::{Json as Value, Map};
use base64::Engine;

use crate::model::{
    Aspect, AspectDef, AspectMap, Catalog, CatalogDef, Hierarchy, HierarchyContent, HierarchyDef,
    Property, PropertyDef, TreeNode,
};
use crate::value::{java_big_decimal, java_double, PropertyValue};

fn raw_number(text: &str) -> Value {
    Value::Number(text.to_owned())
}

/// One property value: numbers as bare JSON numbers in Java's text (NaN and infinities as the
/// strings `"NaN"`, `"Infinity"`, `"-Infinity"`), BLOB as padded base64, lists as arrays.
pub fn value_to_json(v: &PropertyValue) -> Value {
    match v {
        PropertyValue::Integer(i) => Value::Number(i.to_string()),
        PropertyValue::Float(f) if f.is_finite() => raw_number(&java_double(*f)),
        PropertyValue::Float(f) => Value::String(java_double(*f)),
        PropertyValue::Boolean(b) => Value::Bool(*b),
        PropertyValue::String(s) | PropertyValue::Uri(s) => Value::String(s.clone()),
        PropertyValue::BigInteger(i) => raw_number(&i.to_string()),
        PropertyValue::BigDecimal(d) => raw_number(&java_big_decimal(d)),
        PropertyValue::DateTime(d) => Value::String(d.to_string()),
        PropertyValue::Uuid(u) => Value::String(u.hyphenated().to_string()),
        PropertyValue::Blob(b) => {
            Value::String(base64::engine::general_purpose::STANDARD.encode(b))
        }
        PropertyValue::List(l) => Value::Array(l.iter().map(value_to_json).collect()),
    }
}

fn property_def_value(p: &PropertyDef, parent_readable: bool, parent_writable: bool) -> Value {
    let mut m = Map::new();
    m.insert("name".into(), p.name().into());
    m.insert("type".into(), p.property_type().name().into());
    if p.has_default_value() {
        m.insert(
            "defaultValue".into(),
            p.default().map_or(Value::Null, value_to_json),
        );
    }
    if p.is_readable() != parent_readable {
        m.insert("isReadable".into(), p.is_readable().into());
    }
    if p.is_writable() != parent_writable {
        m.insert("isWritable".into(), p.is_writable().into());
    }
    if !p.is_nullable() {
        m.insert("isNullable".into(), false.into());
    }
    if p.is_multivalued() {
        m.insert("isMultivalued".into(), true.into());
    }
    Value::Object(m)
}

/// A standalone property def (flags compared with `true`).
pub fn property_def_to_json(p: &PropertyDef) -> Value {
    property_def_value(p, true, true)
}

/// An aspect def, flags written only when they differ from the defaults.
pub fn aspect_def_to_json(d: &AspectDef) -> Value {
    let mut m = Map::new();
    m.insert("name".into(), d.name().into());
    m.insert("globalId".into(), d.id().to_string().into());
    if !d.is_readable() {
        m.insert("isReadable".into(), false.into());
    }
    if !d.is_writable() {
        m.insert("isWritable".into(), false.into());
    }
    if d.can_add_properties() {
        m.insert("canAddProperties".into(), true.into());
    }
    if d.can_remove_properties() {
        m.insert("canRemoveProperties".into(), true.into());
    }
    let props = d
        .property_defs()
        .map(|p| property_def_value(p, d.is_readable(), d.is_writable()))
        .collect();
    m.insert("propertyDefs".into(), Value::Array(props));
    Value::Object(m)
}

/// A hierarchy def: name, then type code.
pub fn hierarchy_def_to_json(d: &HierarchyDef) -> Value {
    let mut m = Map::new();
    m.insert("name".into(), d.name.clone().into());
    m.insert("type".into(), d.hierarchy_type.code().into());
    Value::Object(m)
}

/// A catalog def: arrays of aspect defs and hierarchy defs.
pub fn catalog_def_to_json(d: &CatalogDef) -> Value {
    let mut m = Map::new();
    m.insert(
        "aspectDefs".into(),
        Value::Array(d.aspect_defs().map(|a| aspect_def_to_json(a)).collect()),
    );
    m.insert(
        "hierarchyDefs".into(),
        Value::Array(d.hierarchy_defs().map(hierarchy_def_to_json).collect()),
    );
    Value::Object(m)
}

/// An aspect: readable values in def order, defaults included, nulls left out.
pub fn aspect_to_json(a: &Aspect) -> Value {
    Value::Object(
        a.values()
            .map(|(k, v)| (k.to_owned(), value_to_json(v)))
            .collect(),
    )
}

fn aspect_map_contents(m: &AspectMap) -> Value {
    Value::Object(
        m.iter()
            .map(|a| (a.entity_id().to_string(), aspect_to_json(a)))
            .collect(),
    )
}

/// A standalone aspect map: `{"aspectDef": name, "contents": {entity: aspect}}`.
pub fn aspect_map_to_json(m: &AspectMap) -> Value {
    let mut o = Map::new();
    o.insert("aspectDef".into(), m.def().name().into());
    o.insert("contents".into(), aspect_map_contents(m));
    Value::Object(o)
}

/// A tree node: `entityId` when set, `children` when any.
pub fn tree_node_to_json(n: &TreeNode) -> Value {
    let mut m = Map::new();
    if let Some(e) = n.entity {
        m.insert("entityId".into(), e.to_string().into());
    }
    if !n.children.is_empty() {
        let children = n
            .children
            .iter()
            .map(|(k, c)| (k.clone(), tree_node_to_json(c)))
            .collect();
        m.insert("children".into(), Value::Object(children));
    }
    Value::Object(m)
}

/// The contents of a hierarchy, shaped by its kind.
pub fn hierarchy_contents_to_json(h: &Hierarchy) -> Value {
    let ids = |it: &mut dyn Iterator<Item = uuid::Uuid>| {
        Value::Array(it.map(|u| Value::String(u.to_string())).collect())
    };
    match &h.content {
        HierarchyContent::List(l) => ids(&mut l.iter()),
        HierarchyContent::Set(s) => ids(&mut s.iter()),
        HierarchyContent::Directory(d) => Value::Object(
            d.iter()
                .map(|(k, v)| (k.to_owned(), Value::String(v.to_string())))
                .collect(),
        ),
        HierarchyContent::Tree(t) => tree_node_to_json(&t.root),
        HierarchyContent::AspectMap(m) => aspect_map_contents(m),
    }
}

/// A hierarchy: type code, name, contents (the version is not written, as in the reference).
pub fn hierarchy_to_json(h: &Hierarchy) -> Value {
    let mut m = Map::new();
    m.insert("type".into(), h.hierarchy_type().code().into());
    m.insert("name".into(), h.name().into());
    m.insert("contents".into(), hierarchy_contents_to_json(h));
    Value::Object(m)
}

/// A catalog with its aspect defs and every hierarchy (the version is not written).
pub fn catalog_to_json(c: &Catalog) -> Value {
    let mut m = Map::new();
    m.insert("globalId".into(), c.id().to_string().into());
    m.insert(
        "uri".into(),
        c.uri.clone().map_or(Value::Null, Value::String),
    );
    m.insert("species".into(), c.species().as_lower().into());
    if let Some(u) = c.upstream() {
        m.insert("upstream".into(), u.to_string().into());
    }
    let defs = c
        .aspect_defs()
        .map(|d| (d.name().to_owned(), aspect_def_to_json(d)))
        .collect();
    m.insert("aspectDefs".into(), Value::Object(defs));
    let hs = c
        .hierarchies()
        .map(|h| (h.name().to_owned(), hierarchy_to_json(h)))
        .collect();
    m.insert("hierarchies".into(), Value::Object(hs));
    Value::Object(m)
}

/// A property: `{"def": standalone def, "value": value or null}`.
pub fn property_to_json(p: &Property) -> Value {
    let mut m = Map::new();
    m.insert("def".into(), property_def_to_json(&p.def));
    m.insert(
        "value".into(),
        p.value.as_ref().map_or(Value::Null, value_to_json),
    );
    Value::Object(m)
}
