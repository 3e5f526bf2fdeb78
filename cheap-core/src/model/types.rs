//! The three enumerations of the model and their text forms.

use std::fmt;
use std::str::FromStr;

use crate::error::{CheapError, Result};

/// What a catalog is relative to its upstream (spec/model.md §1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CatalogSpecies {
    /// Read-only cache of an external data source. No upstream.
    Source,
    /// Read-write working copy of an external data source. No upstream.
    Sink,
    /// Read-only cached view of another catalog.
    Mirror,
    /// Write-through view of another catalog.
    Cache,
    /// Working copy of another catalog; pulls and pushes on request.
    Clone,
    /// Copy cut off from its original, meant to become a sink.
    Fork,
}

impl CatalogSpecies {
    /// All six, in declaration order.
    pub const ALL: [CatalogSpecies; 6] = [
        CatalogSpecies::Source,
        CatalogSpecies::Sink,
        CatalogSpecies::Mirror,
        CatalogSpecies::Cache,
        CatalogSpecies::Clone,
        CatalogSpecies::Fork,
    ];

    /// Upper-case name, as REST DTOs and SQL use it (`SINK`).
    pub fn as_upper(self) -> &'static str {
        match self {
            CatalogSpecies::Source => "SOURCE",
            CatalogSpecies::Sink => "SINK",
            CatalogSpecies::Mirror => "MIRROR",
            CatalogSpecies::Cache => "CACHE",
            CatalogSpecies::Clone => "CLONE",
            CatalogSpecies::Fork => "FORK",
        }
    }

    /// Lower-case name, as the catalog JSON uses it (`sink`).
    pub fn as_lower(self) -> &'static str {
        match self {
            CatalogSpecies::Source => "source",
            CatalogSpecies::Sink => "sink",
            CatalogSpecies::Mirror => "mirror",
            CatalogSpecies::Cache => "cache",
            CatalogSpecies::Clone => "clone",
            CatalogSpecies::Fork => "fork",
        }
    }

    /// Whether catalogs of this species must name an upstream catalog (all but SOURCE and SINK).
    pub fn requires_upstream(self) -> bool {
        !matches!(self, CatalogSpecies::Source | CatalogSpecies::Sink)
    }

    /// Checks the species/upstream rule of the reference.
    pub fn check_upstream(self, upstream: Option<uuid::Uuid>) -> Result<()> {
        match (self.requires_upstream(), upstream.is_some()) {
            (false, true) => Err(CheapError::invalid(
                "SOURCE and SINK catalogs may not have an upstream catalog",
            )),
            (true, false) => Err(CheapError::invalid(format!(
                "{} catalogs must have an upstream catalog",
                self.as_upper()
            ))),
            _ => Ok(()),
        }
    }
}

impl fmt::Display for CatalogSpecies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_upper())
    }
}

impl FromStr for CatalogSpecies {
    type Err = CheapError;
    /// Accepts either case.
    fn from_str(s: &str) -> Result<Self> {
        CatalogSpecies::ALL
            .into_iter()
            .find(|sp| sp.as_upper().eq_ignore_ascii_case(s))
            .ok_or_else(|| CheapError::invalid(format!("unknown catalog species '{s}'")))
    }
}

/// The five kinds of hierarchy (spec/model.md §1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HierarchyType {
    /// Ordered list of entities; duplicates allowed (`EL`).
    EntityList,
    /// Insertion-ordered set of entities (`ES`).
    EntitySet,
    /// Map from string key to entity (`ED`).
    EntityDirectory,
    /// Tree of named nodes, each optionally holding an entity (`ET`).
    EntityTree,
    /// Map from entity to aspect, all sharing one aspect def (`AM`).
    AspectMap,
}

impl HierarchyType {
    /// All five.
    pub const ALL: [HierarchyType; 5] = [
        HierarchyType::EntityList,
        HierarchyType::EntitySet,
        HierarchyType::EntityDirectory,
        HierarchyType::EntityTree,
        HierarchyType::AspectMap,
    ];

    /// The two-letter code used in JSON and SQL.
    pub fn code(self) -> &'static str {
        match self {
            HierarchyType::EntityList => "EL",
            HierarchyType::EntitySet => "ES",
            HierarchyType::EntityDirectory => "ED",
            HierarchyType::EntityTree => "ET",
            HierarchyType::AspectMap => "AM",
        }
    }

    /// The Java enum name (`ENTITY_LIST`), also accepted by [`FromStr`].
    pub fn java_name(self) -> &'static str {
        match self {
            HierarchyType::EntityList => "ENTITY_LIST",
            HierarchyType::EntitySet => "ENTITY_SET",
            HierarchyType::EntityDirectory => "ENTITY_DIR",
            HierarchyType::EntityTree => "ENTITY_TREE",
            HierarchyType::AspectMap => "ASPECT_MAP",
        }
    }

    /// Looks a code up, case-insensitively.
    pub fn from_code(code: &str) -> Result<Self> {
        HierarchyType::ALL
            .into_iter()
            .find(|t| t.code().eq_ignore_ascii_case(code))
            .ok_or_else(|| CheapError::invalid(format!("unknown hierarchy type '{code}'")))
    }
}

impl fmt::Display for HierarchyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for HierarchyType {
    type Err = CheapError;
    /// Accepts the code (`EL`) or the Java name (`ENTITY_LIST`), in either case.
    fn from_str(s: &str) -> Result<Self> {
        HierarchyType::from_code(s).or_else(|e| {
            HierarchyType::ALL
                .into_iter()
                .find(|t| t.java_name().eq_ignore_ascii_case(s))
                .ok_or(e)
        })
    }
}

/// The twelve property types (spec/model.md §1.3). JSON uses [`name`](Self::name), SQL and
/// hashing use [`code`](Self::code).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PropertyType {
    /// 64-bit signed integer (`INT`).
    Integer,
    /// IEEE-754 double (`FLT`).
    Float,
    /// Boolean (`BLN`).
    Boolean,
    /// Short string (`STR`).
    String,
    /// Long string (`TXT`).
    Text,
    /// Arbitrary-precision integer (`BGI`).
    BigInteger,
    /// Arbitrary-precision decimal (`BGF`).
    BigDecimal,
    /// Date-time with offset and optional region (`DAT`).
    DateTime,
    /// URI (`URI`).
    Uri,
    /// UUID (`UID`).
    Uuid,
    /// Character large object (`CLB`).
    Clob,
    /// Binary large object (`BLB`).
    Blob,
}

impl PropertyType {
    /// All twelve, in declaration order.
    pub const ALL: [PropertyType; 12] = [
        PropertyType::Integer,
        PropertyType::Float,
        PropertyType::Boolean,
        PropertyType::String,
        PropertyType::Text,
        PropertyType::BigInteger,
        PropertyType::BigDecimal,
        PropertyType::DateTime,
        PropertyType::Uri,
        PropertyType::Uuid,
        PropertyType::Clob,
        PropertyType::Blob,
    ];

    /// The JSON name (`Integer`, `BigDecimal`, `URI`...).
    pub fn name(self) -> &'static str {
        match self {
            PropertyType::Integer => "Integer",
            PropertyType::Float => "Float",
            PropertyType::Boolean => "Boolean",
            PropertyType::String => "String",
            PropertyType::Text => "Text",
            PropertyType::BigInteger => "BigInteger",
            PropertyType::BigDecimal => "BigDecimal",
            PropertyType::DateTime => "DateTime",
            PropertyType::Uri => "URI",
            PropertyType::Uuid => "UUID",
            PropertyType::Clob => "CLOB",
            PropertyType::Blob => "BLOB",
        }
    }

    /// The three-letter code used in SQL and hashing.
    pub fn code(self) -> &'static str {
        match self {
            PropertyType::Integer => "INT",
            PropertyType::Float => "FLT",
            PropertyType::Boolean => "BLN",
            PropertyType::String => "STR",
            PropertyType::Text => "TXT",
            PropertyType::BigInteger => "BGI",
            PropertyType::BigDecimal => "BGF",
            PropertyType::DateTime => "DAT",
            PropertyType::Uri => "URI",
            PropertyType::Uuid => "UID",
            PropertyType::Clob => "CLB",
            PropertyType::Blob => "BLB",
        }
    }

    /// Looks up a JSON name; exact and case-sensitive, as the reference reader is.
    pub fn from_name(name: &str) -> Result<Self> {
        PropertyType::ALL
            .into_iter()
            .find(|t| t.name() == name)
            .ok_or_else(|| CheapError::invalid(format!("unknown property type '{name}'")))
    }

    /// Looks up a code, case-insensitively.
    pub fn from_code(code: &str) -> Result<Self> {
        PropertyType::ALL
            .into_iter()
            .find(|t| t.code().eq_ignore_ascii_case(code))
            .ok_or_else(|| CheapError::invalid(format!("unknown property type code '{code}'")))
    }

    /// True for String, Text and CLOB, which all hold text.
    pub fn is_text(self) -> bool {
        matches!(
            self,
            PropertyType::String | PropertyType::Text | PropertyType::Clob
        )
    }
}

impl fmt::Display for PropertyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for PropertyType {
    type Err = CheapError;
    /// Accepts the JSON name or the code.
    fn from_str(s: &str) -> Result<Self> {
        PropertyType::from_name(s).or_else(|_| PropertyType::from_code(s))
    }
}
