//! Property definitions: the typed fields of an aspect def.

use crate::error::{CheapError, Result};
use crate::hash::CheapHasher;
use crate::model::PropertyType;
use crate::value::{coerce_scalar, PropertyValue};

/// One property of an [`AspectDef`](crate::AspectDef): name, type, default and access flags.
///
/// Built with chained setters; the defaults are those of the reference's builder: readable,
/// writable, nullable, single-valued, no default value.
///
/// ```
/// use cheap_core::{PropertyDef, PropertyType};
/// let name = PropertyDef::new("name", PropertyType::String).nullable(false);
/// let tags = PropertyDef::new("tags", PropertyType::String).multivalued(true);
/// let qty = PropertyDef::new("qty", PropertyType::Integer).default_value(0);
/// assert!(!name.is_nullable() && tags.is_multivalued() && qty.has_default_value());
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct PropertyDef {
    name: String,
    property_type: PropertyType,
    default_value: Option<PropertyValue>,
    has_default_value: bool,
    readable: bool,
    writable: bool,
    nullable: bool,
    multivalued: bool,
}

impl PropertyDef {
    /// A readable, writable, nullable, single-valued property without a default.
    pub fn new(name: impl Into<String>, property_type: PropertyType) -> Self {
        PropertyDef {
            name: name.into(),
            property_type,
            default_value: None,
            has_default_value: false,
            readable: true,
            writable: true,
            nullable: true,
            multivalued: false,
        }
    }

    /// Sets whether null (absence) is allowed.
    pub fn nullable(mut self, nullable: bool) -> Self {
        self.nullable = nullable;
        self
    }

    /// Sets whether the property holds a list of values.
    pub fn multivalued(mut self, multivalued: bool) -> Self {
        self.multivalued = multivalued;
        self
    }

    /// Sets whether the property can be read.
    pub fn readable(mut self, readable: bool) -> Self {
        self.readable = readable;
        self
    }

    /// Sets whether the property can be written through [`Aspect::set`](crate::Aspect::set).
    pub fn writable(mut self, writable: bool) -> Self {
        self.writable = writable;
        self
    }

    /// Readable but not writable.
    pub fn read_only(self) -> Self {
        self.readable(true).writable(false)
    }

    /// Gives the property a default value, returned by reads of an aspect that has no value.
    /// The value is checked against the type when the aspect def is built.
    pub fn default_value(mut self, value: impl Into<PropertyValue>) -> Self {
        self.default_value = Some(value.into());
        self.has_default_value = true;
        self
    }

    /// Declares a default value of null (different from having no default).
    pub fn null_default(mut self) -> Self {
        self.default_value = None;
        self.has_default_value = true;
        self
    }

    /// Removes the default value.
    pub fn no_default(mut self) -> Self {
        self.default_value = None;
        self.has_default_value = false;
        self
    }

    /// The property name, unique within its aspect def.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The property type.
    pub fn property_type(&self) -> PropertyType {
        self.property_type
    }

    /// The default value (`None` also when the default is null; see
    /// [`has_default_value`](Self::has_default_value)).
    pub fn default(&self) -> Option<&PropertyValue> {
        self.default_value.as_ref()
    }

    /// Whether a default (possibly null) was declared.
    pub fn has_default_value(&self) -> bool {
        self.has_default_value
    }

    /// Whether the property can be read.
    pub fn is_readable(&self) -> bool {
        self.readable
    }

    /// Whether the property can be written.
    pub fn is_writable(&self) -> bool {
        self.writable
    }

    /// Whether null is allowed.
    pub fn is_nullable(&self) -> bool {
        self.nullable
    }

    /// Whether the property holds a list.
    pub fn is_multivalued(&self) -> bool {
        self.multivalued
    }

    /// Checks a value for this property and converts it to the property's type (text is
    /// parsed, numbers widen). `aspect_def` names the owner in the error.
    pub fn coerce(
        &self,
        aspect_def: &str,
        value: Option<PropertyValue>,
    ) -> Result<Option<PropertyValue>> {
        let err = |message: String| CheapError::InvalidValue {
            aspect_def: aspect_def.to_owned(),
            property: self.name.clone(),
            expected: self.expected(),
            message,
        };
        let Some(value) = value else {
            return if self.nullable {
                Ok(None)
            } else {
                Err(err("null is not allowed".into()))
            };
        };
        let t = self.property_type;
        match (self.multivalued, value) {
            (true, PropertyValue::List(items)) => items
                .into_iter()
                .enumerate()
                .map(|(i, v)| match v {
                    PropertyValue::List(_) => Err(err(format!("element {i} is a nested list"))),
                    v => coerce_scalar(v, t).map_err(|m| err(format!("element {i}: {m}"))),
                })
                .collect::<Result<Vec<_>>>()
                .map(|l| Some(PropertyValue::List(l))),
            (true, v) => Err(err(format!(
                "a single {} value where a list is expected",
                v.kind()
            ))),
            (false, PropertyValue::List(_)) => {
                Err(err("a list where a single value is expected".into()))
            }
            (false, v) => coerce_scalar(v, t).map(Some).map_err(err),
        }
    }

    fn expected(&self) -> String {
        let mut s = String::new();
        if !self.nullable {
            s.push_str("non-null ");
        }
        if self.multivalued {
            s.push_str("list of ");
        }
        s.push_str(self.property_type.name());
        s
    }

    /// Validates the name and coerces the default value; used when an aspect def is built.
    pub(crate) fn checked(mut self, aspect_def: &str) -> Result<Self> {
        if self.name.is_empty() {
            return Err(CheapError::invalid(format!(
                "aspect def '{aspect_def}': property names must have at least 1 character"
            )));
        }
        if let Some(d) = self.default_value.take() {
            self.default_value = self.coerce(aspect_def, Some(d))?;
        }
        Ok(self)
    }
    /// What first tells this property def from `other`, if anything.
    pub fn difference(&self, other: &PropertyDef) -> Option<String> {
        if self.property_type != other.property_type {
            return Some(format!(
                "type {} here, {} there",
                self.property_type.name(),
                other.property_type.name()
            ));
        }
        for (flag, a, b) in [
            ("readable", self.readable, other.readable),
            ("writable", self.writable, other.writable),
            ("nullable", self.nullable, other.nullable),
            ("multivalued", self.multivalued, other.multivalued),
            (
                "hasDefaultValue",
                self.has_default_value,
                other.has_default_value,
            ),
        ] {
            if a != b {
                return Some(format!("flag {flag} ({a} here, {b} there)"));
            }
        }
        (self.default_value != other.default_value).then(|| "the default value".to_owned())
    }

    /// The reference's 64-bit FNV-1a def hash (spec/model.md §3). `isMultivalued` is not part
    /// of it.
    pub fn hash(&self) -> i64 {
        let mut h = CheapHasher::new();
        h.update_bool(self.readable);
        h.update_bool(self.writable);
        h.update_bool(self.nullable);
        h.update_bool(self.has_default_value);
        if self.has_default_value {
            if let Some(d) = &self.default_value {
                h.update_long(i64::from(d.java_hash_code()));
            }
        }
        h.update_str(self.property_type.code());
        h.update_str(&self.name);
        h.finish()
    }
}

/// A standalone property: a def and a value (`None` is null).
#[derive(Debug, Clone, PartialEq)]
pub struct Property {
    /// The property's def.
    pub def: PropertyDef,
    /// The value.
    pub value: Option<PropertyValue>,
}

impl Property {
    /// A property whose value is checked and coerced against `def`.
    pub fn new(def: PropertyDef, value: Option<PropertyValue>) -> Result<Self> {
        let def = def.checked("")?;
        let value = def.coerce("", value)?;
        Ok(Property { def, value })
    }
}
