//! The reference's JSON format (cheap-json): compact output byte-identical to the Java writer,
//! pretty output identical to Jackson's default pretty printer.
//!
//! Deliberate differences from the Java reference, all on inputs it cannot handle: BLOB values
//! are padded base64 (the Java writer cannot write them); Float NaN and infinities are the strings
//! `"NaN"`, `"Infinity"` and `"-Infinity"` (Java writes invalid JSON); values are converted to
//! their property's type and a wrong type is an error; a standalone property def reads back what
//! was written (Java drops its default).
//!
//! ```
//! use cheap_core::json::{self, ToJson};
//! let text = r#"{"globalId":"550e8400-e29b-41d4-a716-444444444444","uri":null,"species":"sink","aspectDefs":{},"hierarchies":{}}"#;
//! let cat = json::catalog_from_str(text).unwrap();
//! assert_eq!(cat.to_json(), text);
//! ```

mod emitter;
mod parse;
mod part_reader;
mod part_writer;
mod printer;
pub mod read;
pub mod write;

use std::sync::Arc;

use uuid::Uuid;

use crate::error::Result;
use crate::model::{
    Aspect, AspectDef, AspectMap, Catalog, CatalogDef, Hierarchy, HierarchyDef, Property,
    PropertyDef,
};

pub use parse::{from_slice, from_value, nesting_depth, StrictValue};
pub use part_reader::{parts_from_reader, read_catalog_parts};
pub use part_writer::CatalogWriter;
pub use printer::{compact, pretty, Json, Map};

/// Model elements that have a cheap-json form.
pub trait ToJson {
    /// The element as a JSON tree with exact number text.
    fn to_json_tree(&self) -> Json;

    /// The element as a serde_json value (exponent text normalized by serde_json).
    fn to_json_value(&self) -> serde_json::Value {
        to_value(&self.to_json_tree())
    }

    /// Compact text, as the Java writer produces it.
    fn to_json(&self) -> String {
        compact(&self.to_json_tree())
    }

    /// Pretty text, as Jackson's default pretty printer produces it.
    fn to_json_pretty(&self) -> String {
        pretty(&self.to_json_tree())
    }
}

/// A JSON tree as a serde_json value (number text parsed as serde_json parses it, so exponents
/// are normalized), at any depth.
pub fn to_value(j: &Json) -> serde_json::Value {
    use serde_json::Value as V;
    match j {
        Json::Null => V::Null,
        Json::Bool(b) => V::Bool(*b),
        // Our writers only put valid number text here.
        Json::Number(n) => n.parse().map_or(V::Null, V::Number),
        Json::String(s) => V::String(s.clone()),
        Json::Array(items) => V::Array(items.iter().map(to_value).collect()),
        Json::Object(m) => V::Object(m.iter().map(|(k, v)| (k.clone(), to_value(v))).collect()),
    }
}

macro_rules! to_json {
    ($($t:ty => $f:path),* $(,)?) => {
        $(impl ToJson for $t {
            fn to_json_tree(&self) -> Json {
                $f(self)
            }
        })*
    };
}

to_json! {
    Catalog => write::catalog_to_json,
    CatalogDef => write::catalog_def_to_json,
    AspectDef => write::aspect_def_to_json,
    PropertyDef => write::property_def_to_json,
    HierarchyDef => write::hierarchy_def_to_json,
    Hierarchy => write::hierarchy_to_json,
    Aspect => write::aspect_to_json,
    AspectMap => write::aspect_map_to_json,
    Property => write::property_to_json,
}

/// Reads a catalog from JSON text.
pub fn catalog_from_str(text: &str) -> Result<Catalog> {
    read::catalog_from_json(&read::parse(text)?)
}

/// Reads a catalog def from JSON text.
pub fn catalog_def_from_str(text: &str) -> Result<CatalogDef> {
    read::catalog_def_from_json(&read::parse(text)?)
}

/// Reads an aspect def from JSON text.
pub fn aspect_def_from_str(text: &str) -> Result<AspectDef> {
    read::aspect_def_from_json(&read::parse(text)?)
}

/// Reads a standalone property def from JSON text.
pub fn property_def_from_str(text: &str) -> Result<PropertyDef> {
    read::property_def_from_json(&read::parse(text)?)
}

/// Reads a hierarchy def from JSON text.
pub fn hierarchy_def_from_str(text: &str) -> Result<HierarchyDef> {
    read::hierarchy_def_from_json(&read::parse(text)?)
}

/// Reads a hierarchy from JSON text; aspect maps find their def through `defs`.
pub fn hierarchy_from_str(
    text: &str,
    defs: &dyn Fn(&str) -> Option<Arc<AspectDef>>,
) -> Result<Hierarchy> {
    read::hierarchy_from_json(&read::parse(text)?, defs)
}

/// Reads an aspect of `def` for `entity` from JSON text.
pub fn aspect_from_str(text: &str, def: Arc<AspectDef>, entity: Uuid) -> Result<Aspect> {
    read::aspect_from_json(&read::parse(text)?, def, entity)
}

/// Reads a standalone aspect map from JSON text.
pub fn aspect_map_from_str(
    text: &str,
    defs: &dyn Fn(&str) -> Option<Arc<AspectDef>>,
) -> Result<AspectMap> {
    read::aspect_map_from_json(&read::parse(text)?, defs)
}

/// Reads a standalone property from JSON text.
pub fn property_from_str(text: &str) -> Result<Property> {
    read::property_from_json(&read::parse(text)?)
}
