//! Aspects: typed records attached to entities.

use std::sync::Arc;

use indexmap::IndexMap;
use uuid::Uuid;

use crate::error::{CheapError, Result};
use crate::model::AspectDef;
use crate::value::PropertyValue;

/// A record typed by an [`AspectDef`] and attached to one entity. Values are checked against
/// the def when they are set; an unset property reads as the def's default, if it has one.
///
/// ```
/// use cheap_core::{Aspect, AspectDef, PropertyDef, PropertyType};
/// let def = AspectDef::builder("person")
///     .property(PropertyDef::new("name", PropertyType::String).nullable(false))
///     .property(PropertyDef::new("age", PropertyType::Integer))
///     .build().unwrap().into_arc();
/// let mut a = Aspect::builder(def, uuid::Uuid::new_v4())
///     .set("name", "Ada").set("age", 36).build().unwrap();
/// assert!(a.set("age", "not a number").is_err());
/// assert_eq!(a.get("age").and_then(|v| v.as_i64()), Some(36));
/// ```
#[derive(Debug, Clone)]
pub struct Aspect {
    entity_id: Uuid,
    def: Arc<AspectDef>,
    /// Keys are names of the def's properties only (others are refused before they get here),
    /// so a fast hasher without protection against chosen keys is safe.
    values: IndexMap<String, PropertyValue, foldhash::fast::RandomState>,
}

impl Aspect {
    /// An aspect with no values yet.
    pub fn new(def: Arc<AspectDef>, entity_id: Uuid) -> Self {
        // Room for every property up front: a load fills most of them, and growing the map
        // one value at a time reallocates it twice for five.
        let values = IndexMap::with_capacity_and_hasher(def.len(), Default::default());
        Aspect {
            entity_id,
            def,
            values,
        }
    }

    /// Starts a builder that collects values and checks them all in [`AspectBuilder::build`].
    pub fn builder(def: Arc<AspectDef>, entity_id: Uuid) -> AspectBuilder {
        AspectBuilder {
            aspect: Aspect::new(def, entity_id),
            pending: Vec::new(),
        }
    }

    /// Builds an aspect from stored values (JSON, SQL rows), checking names, types and nulls
    /// but not writability: a read-only property must still load.
    pub fn from_values<I, K>(def: Arc<AspectDef>, entity_id: Uuid, values: I) -> Result<Self>
    where
        I: IntoIterator<Item = (K, Option<PropertyValue>)>,
        K: AsRef<str>,
    {
        let mut a = Aspect::new(def, entity_id);
        for (k, v) in values {
            a.put_checked(k.as_ref(), v, false)?;
        }
        a.check_complete()?;
        Ok(a)
    }

    /// The entity this aspect is attached to.
    pub fn entity_id(&self) -> Uuid {
        self.entity_id
    }

    /// Re-attaches the aspect to another entity.
    pub fn set_entity_id(&mut self, entity_id: Uuid) {
        self.entity_id = entity_id;
    }

    /// The aspect's def.
    pub fn def(&self) -> &Arc<AspectDef> {
        &self.def
    }

    /// Reads a property: its value, else the def's default, else `None`. Unknown names and
    /// unreadable properties read as `None`; use [`try_get`](Self::try_get) to tell why.
    pub fn get(&self, name: &str) -> Option<&PropertyValue> {
        self.try_get(name).ok().flatten()
    }

    /// Reads a property with the reference's checks: the def and the property must be readable
    /// and the name known.
    pub fn try_get(&self, name: &str) -> Result<Option<&PropertyValue>> {
        if !self.def.is_readable() {
            return Err(CheapError::NotAllowed(format!(
                "aspect def '{}' is not readable",
                self.def.name()
            )));
        }
        let pd = self
            .def
            .property_def(name)
            .ok_or_else(|| self.unknown(name))?;
        if !pd.is_readable() {
            return Err(CheapError::NotAllowed(format!(
                "property '{name}' of aspect def '{}' is not readable",
                self.def.name()
            )));
        }
        Ok(self.values.get(name).or_else(|| pd.default()))
    }

    /// The explicitly stored value, without defaults or access checks (for persistence).
    pub fn stored(&self, name: &str) -> Option<&PropertyValue> {
        self.values.get(name)
    }

    /// Explicitly stored values in the order they were set.
    pub fn stored_values(&self) -> impl Iterator<Item = (&str, &PropertyValue)> + '_ {
        self.values.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Readable values in def order, defaults included and nulls left out: what JSON writes.
    pub fn values(&self) -> impl Iterator<Item = (&str, &PropertyValue)> + '_ {
        self.def.property_defs().filter_map(move |pd| {
            if !pd.is_readable() {
                return None;
            }
            self.values
                .get(pd.name())
                .or_else(|| pd.default())
                .map(|v| (pd.name(), v))
        })
    }

    /// Writes a property: the def and the property must be writable, the name known, the value
    /// of the right type (text is parsed, numbers widen) and non-null unless nullable.
    /// On error the aspect is unchanged.
    pub fn set(&mut self, name: &str, value: impl Into<PropertyValue>) -> Result<()> {
        self.put_checked(name, Some(value.into()), true)
    }

    /// Sets a property to null (removes its value); fails for a non-nullable property.
    pub fn set_null(&mut self, name: &str) -> Result<()> {
        self.put_checked(name, None, true)
    }

    /// Sets a property of an aspect being created (`None` for null): like [`set`](Self::set),
    /// but a read-only property, or any property of a read-only def, takes its first value
    /// here. Stores refuse to change such a value once the aspect is stored.
    pub fn set_initial(&mut self, name: &str, value: Option<PropertyValue>) -> Result<()> {
        self.put_checked(name, value, false)
    }

    /// The value `name` reads as: its own, else the property's default.
    fn effective(&self, name: &str) -> Option<&PropertyValue> {
        self.values.get(name).or_else(|| {
            self.def
                .property_def(name)
                .and_then(crate::PropertyDef::default)
        })
    }

    /// Refuses `next` as the new state of this stored aspect when it changes what cannot
    /// change: any value of a read-only def, or a read-only property's value.
    pub fn check_read_only_kept(&self, next: &Aspect) -> Result<()> {
        if !self.def.is_writable() {
            if self != next {
                return Err(CheapError::NotAllowed(format!(
                    "aspect def '{}' is not writable: the aspect of entity {} cannot change once stored",
                    self.def.name(),
                    self.entity_id
                )));
            }
            return Ok(());
        }
        for pd in self.def.property_defs().filter(|p| !p.is_writable()) {
            if self.effective(pd.name()) != next.effective(pd.name()) {
                return Err(CheapError::NotAllowed(format!(
                    "property '{}' of aspect def '{}' is read-only: it is set when the aspect is created and cannot change",
                    pd.name(),
                    self.def.name()
                )));
            }
        }
        Ok(())
    }

    fn put_checked(
        &mut self,
        name: &str,
        value: Option<PropertyValue>,
        user_write: bool,
    ) -> Result<()> {
        if user_write && !self.def.is_writable() {
            return Err(CheapError::NotAllowed(format!(
                "aspect def '{}' is not writable",
                self.def.name()
            )));
        }
        let pd = self
            .def
            .property_def(name)
            .ok_or_else(|| self.unknown(name))?;
        if user_write && !pd.is_writable() {
            return Err(CheapError::NotAllowed(format!(
                "property '{name}' of aspect def '{}' is read-only",
                self.def.name()
            )));
        }
        match pd.coerce(self.def.name(), value)? {
            Some(v) => {
                self.values.insert(name.to_owned(), v);
            }
            None => {
                self.values.shift_remove(name);
            }
        }
        Ok(())
    }

    /// Checks that every non-nullable property without a default has a value.
    pub fn check_complete(&self) -> Result<()> {
        for pd in self.def.property_defs() {
            if !pd.is_nullable() && !self.values.contains_key(pd.name()) && pd.default().is_none() {
                return Err(CheapError::InvalidValue {
                    aspect_def: self.def.name().to_owned(),
                    property: pd.name().to_owned(),
                    expected: format!("non-null {}", pd.property_type()),
                    message: "a value is required".into(),
                });
            }
        }
        Ok(())
    }

    fn unknown(&self, name: &str) -> CheapError {
        CheapError::InvalidValue {
            aspect_def: self.def.name().to_owned(),
            property: name.to_owned(),
            expected: "a property of the aspect def".into(),
            message: format!(
                "property named '{name}' was not found in aspect definition '{}'",
                self.def.name()
            ),
        }
    }
}

impl PartialEq for Aspect {
    /// Same entity, same def, and the same value for every property, where an unset property
    /// counts as its default (so a default written out as JSON and read back compares equal).
    fn eq(&self, other: &Self) -> bool {
        self.entity_id == other.entity_id
            && self.def == other.def
            && self.def.property_defs().all(|pd| {
                let a = self.values.get(pd.name()).or_else(|| pd.default());
                let b = other.values.get(pd.name()).or_else(|| pd.default());
                a == b
            })
    }
}

/// Collects values for an [`Aspect`]; errors surface in [`build`](Self::build).
#[derive(Debug)]
#[must_use]
pub struct AspectBuilder {
    aspect: Aspect,
    pending: Vec<(String, Option<PropertyValue>)>,
}

impl AspectBuilder {
    /// Sets a property.
    pub fn set(mut self, name: impl Into<String>, value: impl Into<PropertyValue>) -> Self {
        self.pending.push((name.into(), Some(value.into())));
        self
    }

    /// Sets a property to null.
    pub fn set_null(mut self, name: impl Into<String>) -> Self {
        self.pending.push((name.into(), None));
        self
    }

    /// Applies every value with [`Aspect::set_initial`]'s checks (a new aspect: read-only
    /// properties take their first value), then requires every non-nullable property without
    /// a default to have a value.
    pub fn build(mut self) -> Result<Aspect> {
        for (k, v) in self.pending {
            self.aspect.put_checked(&k, v, false)?;
        }
        self.aspect.check_complete()?;
        Ok(self.aspect)
    }
}
