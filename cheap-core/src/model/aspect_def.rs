//! Aspect definitions: the schema of an aspect.

use std::sync::Arc;

use indexmap::IndexMap;
use uuid::Uuid;

use crate::error::{CheapError, Result};
use crate::hash::CheapHasher;
use crate::model::PropertyDef;

/// The schema of an aspect: a globally unique name (reverse-DNS style is recommended), a UUID,
/// ordered property defs and four flags.
///
/// `can_add_properties` / `can_remove_properties` say whether the def may gain or lose property
/// defs after it is built ([`add_property`](Self::add_property)); the reference calls a def with
/// both set "mutable" and one with neither "immutable" (which must have a property).
///
/// ```
/// use cheap_core::{AspectDef, PropertyDef, PropertyType};
/// let person = AspectDef::builder("com.example.person")
///     .property(PropertyDef::new("name", PropertyType::String).nullable(false))
///     .property(PropertyDef::new("age", PropertyType::Integer))
///     .build()
///     .unwrap();
/// assert_eq!(person.property_defs().count(), 2);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct AspectDef {
    id: Uuid,
    name: String,
    properties: IndexMap<String, PropertyDef>,
    readable: bool,
    writable: bool,
    can_add_properties: bool,
    can_remove_properties: bool,
}

/// Builds an [`AspectDef`]; see [`AspectDef::builder`].
#[derive(Debug, Clone)]
#[must_use]
pub struct AspectDefBuilder {
    id: Option<Uuid>,
    name: String,
    properties: Vec<PropertyDef>,
    readable: bool,
    writable: bool,
    can_add_properties: bool,
    can_remove_properties: bool,
}

impl AspectDefBuilder {
    /// Sets the global id (by default it is derived from the name: see
    /// [`AspectDef::default_id`]).
    pub fn id(mut self, id: Uuid) -> Self {
        self.id = Some(id);
        self
    }

    /// Appends a property def.
    pub fn property(mut self, def: PropertyDef) -> Self {
        self.properties.push(def);
        self
    }

    /// Appends property defs.
    pub fn properties(mut self, defs: impl IntoIterator<Item = PropertyDef>) -> Self {
        self.properties.extend(defs);
        self
    }

    /// Property defs can be added and removed later (the reference's mutable def).
    pub fn mutable(self) -> Self {
        self.can_add_properties(true).can_remove_properties(true)
    }

    /// Property defs are fixed (the default; the reference's immutable def).
    pub fn immutable(self) -> Self {
        self.can_add_properties(false).can_remove_properties(false)
    }

    /// Sets whether aspects of this def can be read.
    pub fn readable(mut self, b: bool) -> Self {
        self.readable = b;
        self
    }

    /// Sets whether aspects of this def can be written.
    pub fn writable(mut self, b: bool) -> Self {
        self.writable = b;
        self
    }

    /// Sets whether property defs can be added after building.
    pub fn can_add_properties(mut self, b: bool) -> Self {
        self.can_add_properties = b;
        self
    }

    /// Sets whether property defs can be removed after building.
    pub fn can_remove_properties(mut self, b: bool) -> Self {
        self.can_remove_properties = b;
        self
    }

    /// Checks and builds: the name must be non-empty, property names unique and non-empty,
    /// defaults of the right type, and an immutable def must have at least one property.
    pub fn build(self) -> Result<AspectDef> {
        if self.name.is_empty() {
            return Err(CheapError::invalid("an aspect def needs a non-empty name"));
        }
        if !self.can_add_properties && !self.can_remove_properties && self.properties.is_empty() {
            return Err(CheapError::invalid(format!(
                "aspect def '{}': an immutable aspect def must contain at least one property",
                self.name
            )));
        }
        let mut properties = IndexMap::with_capacity(self.properties.len());
        for p in self.properties {
            let p = p.checked(&self.name)?;
            if properties.contains_key(p.name()) {
                return Err(CheapError::invalid(format!(
                    "aspect def '{}': property '{}' is defined twice",
                    self.name,
                    p.name()
                )));
            }
            properties.insert(p.name().to_owned(), p);
        }
        let id = self.id.unwrap_or_else(|| AspectDef::default_id(&self.name));
        Ok(AspectDef {
            id,
            name: self.name,
            properties,
            readable: self.readable,
            writable: self.writable,
            can_add_properties: self.can_add_properties,
            can_remove_properties: self.can_remove_properties,
        })
    }
}

impl AspectDef {
    /// The id a def gets when none is set: a v5 UUID of its name. Aspect def names are global
    /// (stores keep one def per name), so building the same def in two runs of a program gives
    /// the same id instead of a conflict. The reference uses random ids.
    pub fn default_id(name: &str) -> Uuid {
        Uuid::new_v5(
            &Uuid::NAMESPACE_OID,
            format!("cheap-aspect-def:{name}").as_bytes(),
        )
    }

    /// Starts a readable, writable, immutable def; its id defaults to [`default_id`](Self::default_id).
    pub fn builder(name: impl Into<String>) -> AspectDefBuilder {
        AspectDefBuilder {
            id: None,
            name: name.into(),
            properties: Vec::new(),
            readable: true,
            writable: true,
            can_add_properties: false,
            can_remove_properties: false,
        }
    }

    /// A builder holding this def's contents, to derive a changed copy.
    pub fn to_builder(&self) -> AspectDefBuilder {
        AspectDefBuilder {
            id: Some(self.id),
            name: self.name.clone(),
            properties: self.properties.values().cloned().collect(),
            readable: self.readable,
            writable: self.writable,
            can_add_properties: self.can_add_properties,
            can_remove_properties: self.can_remove_properties,
        }
    }

    /// The global id.
    pub fn id(&self) -> Uuid {
        self.id
    }

    /// The name (also the name of the aspect-map hierarchy that holds its aspects).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Property defs in declaration order.
    pub fn property_defs(&self) -> impl ExactSizeIterator<Item = &PropertyDef> + '_ {
        self.properties.values()
    }

    /// One property def by name.
    pub fn property_def(&self, name: &str) -> Option<&PropertyDef> {
        self.properties.get(name)
    }

    /// The position of a property in declaration order.
    pub fn property_index(&self, name: &str) -> Option<usize> {
        self.properties.get_index_of(name)
    }

    /// A property def and its position in declaration order, by name.
    pub fn property_def_full(&self, name: &str) -> Option<(usize, &PropertyDef)> {
        self.properties.get_full(name).map(|(i, _, pd)| (i, pd))
    }

    /// The property def at a position in declaration order.
    pub fn property_def_at(&self, index: usize) -> Option<&PropertyDef> {
        self.properties.get_index(index).map(|(_, pd)| pd)
    }

    /// Number of property defs.
    pub fn len(&self) -> usize {
        self.properties.len()
    }

    /// True when the def has no property defs.
    pub fn is_empty(&self) -> bool {
        self.properties.is_empty()
    }

    /// Whether aspects of this def can be read.
    pub fn is_readable(&self) -> bool {
        self.readable
    }

    /// Whether aspects of this def can be written.
    pub fn is_writable(&self) -> bool {
        self.writable
    }

    /// Whether property defs can be added.
    pub fn can_add_properties(&self) -> bool {
        self.can_add_properties
    }

    /// Whether property defs can be removed.
    pub fn can_remove_properties(&self) -> bool {
        self.can_remove_properties
    }

    /// Adds (or replaces, by name) a property def; needs `can_add_properties`.
    pub fn add_property(&mut self, def: PropertyDef) -> Result<Option<PropertyDef>> {
        if !self.can_add_properties {
            return Err(CheapError::NotAllowed(format!(
                "aspect def '{}' does not allow adding properties",
                self.name
            )));
        }
        let def = def.checked(&self.name)?;
        Ok(self.properties.insert(def.name().to_owned(), def))
    }

    /// Removes a property def by name; needs `can_remove_properties`.
    pub fn remove_property(&mut self, name: &str) -> Result<Option<PropertyDef>> {
        if !self.can_remove_properties {
            return Err(CheapError::NotAllowed(format!(
                "aspect def '{}' does not allow removing properties",
                self.name
            )));
        }
        Ok(self.properties.shift_remove(name))
    }
    /// What first tells this def from `other` (`None` when they are equal), for conflict
    /// messages: "the id", "flag writable", "property 'qty': type Integer here, String there".
    pub fn difference(&self, other: &AspectDef) -> Option<String> {
        if self.name != other.name {
            return Some(format!(
                "the name ('{}' here, '{}' there)",
                self.name, other.name
            ));
        }
        if self.id != other.id {
            return Some(format!("the id ({} here, {} there)", self.id, other.id));
        }
        for (flag, a, b) in [
            ("readable", self.readable, other.readable),
            ("writable", self.writable, other.writable),
            (
                "canAddProperties",
                self.can_add_properties,
                other.can_add_properties,
            ),
            (
                "canRemoveProperties",
                self.can_remove_properties,
                other.can_remove_properties,
            ),
        ] {
            if a != b {
                return Some(format!("flag {flag} ({a} here, {b} there)"));
            }
        }
        for (name, p) in &self.properties {
            let Some(q) = other.properties.get(name) else {
                return Some(format!("property '{name}' (only here)"));
            };
            if let Some(d) = p.difference(q) {
                return Some(format!("property '{name}': {d}"));
            }
        }
        if let Some(name) = other
            .properties
            .keys()
            .find(|n| !self.properties.contains_key(*n))
        {
            return Some(format!("property '{name}' (only there)"));
        }
        let (here, there): (Vec<_>, Vec<_>) = (
            self.properties.keys().collect(),
            other.properties.keys().collect(),
        );
        (here != there).then(|| "the order of the properties".to_owned())
    }

    /// The reference's 64-bit FNV-1a def hash (spec/model.md §3); depends on property order.
    pub fn hash(&self) -> i64 {
        let mut h = CheapHasher::new();
        h.update_bool(self.readable);
        h.update_bool(self.writable);
        h.update_bool(self.can_add_properties);
        h.update_bool(self.can_remove_properties);
        h.update_str(&self.name);
        h.update_uuid(self.id);
        for p in self.properties.values() {
            h.update_long(p.hash());
        }
        h.finish()
    }

    /// Wraps the def in an `Arc`, the form aspects and aspect maps share.
    pub fn into_arc(self) -> Arc<AspectDef> {
        Arc::new(self)
    }
}
