//! The CHEAP model: catalogs, hierarchies, entities (UUIDs), aspects and properties.

mod aspect;
mod aspect_def;
mod catalog;
mod defs;
mod hierarchy;
mod property_def;
mod tree;
mod types;

pub use aspect::{Aspect, AspectBuilder};
pub use aspect_def::{AspectDef, AspectDefBuilder};
pub use catalog::Catalog;
pub use defs::{CatalogDef, HierarchyDef};
pub use hierarchy::{
    AspectMap, EntityDirectory, EntityList, EntitySet, Hierarchy, HierarchyContent,
};
pub use property_def::{Property, PropertyDef};
pub use tree::{check_depth, node_path, path_segments, EntityTree, TreeNode, MAX_TREE_DEPTH};
pub use types::{CatalogSpecies, HierarchyType, PropertyType};
