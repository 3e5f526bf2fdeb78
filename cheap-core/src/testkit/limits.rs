//! The limits of [`crate::limits`], the same on every backend: what is at a limit is stored and
//! read back verbatim; one past it, or a NUL, is refused with an error naming the field, and
//! nothing stored changes.

use uuid::Uuid;

use super::{assert_same, suffix};
use crate::limits::{MAX_DIRECTORY_KEY_CHARS, MAX_NAME_BYTES, MAX_TREE_PATH_BYTES};
use crate::{
    Aspect, AspectDef, Catalog, CheapDao, CheapError, HierarchyDef, HierarchyType, PropertyDef,
    PropertyType,
};

/// A name of exactly `bytes` bytes, multi-byte characters first, ending in `tag`.
fn name_of(bytes: usize, tag: &str) -> String {
    let mut s = "é".repeat((bytes - tag.len()) / 2);
    while s.len() + tag.len() < bytes {
        s.push('x');
    }
    s + tag
}

macro_rules! refused {
    ($call:expr, $field:expr) => {{
        let r = $call.await;
        match &r {
            Err(e @ (CheapError::InvalidInput(_) | CheapError::InvalidValue { .. })) => {
                let text = e.to_string();
                assert!(
                    text.contains($field),
                    "{} should name {}: {text}",
                    stringify!($call),
                    $field
                );
            }
            other => panic!(
                "{} should be refused as invalid, got {:?}",
                stringify!($call),
                other.as_ref().map(|_| ())
            ),
        }
    }};
}

/// Names, keys and paths at their limits round-trip; past them, and NUL anywhere, are refused.
pub async fn limits_are_the_same_everywhere(dao: &dyn CheapDao) {
    let tag = format!("-{}", suffix());
    let def_name = name_of(MAX_NAME_BYTES, &tag);
    let prop = name_of(MAX_NAME_BYTES, "p");
    let def = AspectDef::builder(def_name.clone())
        .property(PropertyDef::new(prop.clone(), PropertyType::String))
        .build()
        .expect("a def at the name limit")
        .into_arc();
    let e = Uuid::new_v4();
    let mut cat = Catalog::new();
    let id = cat.id();
    cat.extend(def.clone())
        .expect("extend")
        .put(
            Aspect::builder(def.clone(), e)
                .set(prop.clone(), "value")
                .build()
                .expect("aspect"),
        )
        .expect("put");
    let dir_name = name_of(MAX_NAME_BYTES, "d");
    let key = "é".repeat(MAX_DIRECTORY_KEY_CHARS);
    cat.create_entity_directory(&dir_name)
        .expect("dir")
        .put(key.clone(), e);
    // A path at the byte limit: levels of 255-byte names plus their separators.
    let level = name_of(MAX_NAME_BYTES, "t");
    let levels = MAX_TREE_PATH_BYTES / (MAX_NAME_BYTES + 1);
    let tree = cat.create_entity_tree("tree").expect("tree");
    let mut path = String::new();
    for _ in 0..levels {
        tree.add_node(&path, &level, Some(e)).expect("a node");
        path = format!("{path}/{level}");
    }
    assert_eq!(path.len(), MAX_TREE_PATH_BYTES);
    dao.save_catalog(&cat)
        .await
        .expect("save a catalog at every limit");
    let stored = dao.load_catalog(id).await.expect("load");
    assert_same(&stored, &cat, "a catalog at every limit");
    assert_eq!(
        dao.get_aspect_def(id, &def_name)
            .await
            .expect("def by its long name")
            .name(),
        def_name
    );

    // Granular writes at the limits.
    let key2 = "k".repeat(MAX_DIRECTORY_KEY_CHARS);
    dao.put_directory_entries(id, &dir_name, &[(key2.clone(), e)])
        .await
        .expect("a key at the limit");
    dao.create_hierarchy(
        id,
        &HierarchyDef::new(name_of(MAX_NAME_BYTES, "h"), HierarchyType::EntityList),
    )
    .await
    .expect("a hierarchy name at the limit");
    let before = dao.load_catalog(id).await.expect("load");

    // One past each limit, and NUL in each place.
    let long = name_of(MAX_NAME_BYTES + 1, "");
    refused!(
        dao.create_hierarchy(
            id,
            &HierarchyDef::new(long.clone(), HierarchyType::EntitySet)
        ),
        "hierarchy name"
    );
    refused!(
        dao.create_hierarchy(id, &HierarchyDef::new("a\0b", HierarchyType::EntitySet)),
        "hierarchy name"
    );
    for bad in [long.as_str(), "a\0b"] {
        let d = AspectDef::builder(bad)
            .property(PropertyDef::new("p", PropertyType::String))
            .build()
            .expect("the model builds it; the store refuses it");
        refused!(dao.put_aspect_def(id, &d), "aspect def name");
        let d = AspectDef::builder(format!("fine{tag}"))
            .property(PropertyDef::new(bad, PropertyType::String))
            .build()
            .expect("def");
        refused!(dao.put_aspect_def(id, &d), "property name");
        refused!(
            dao.add_tree_nodes(id, "tree", "/", &[(bad.to_owned(), None)]),
            "tree node name"
        );
    }
    refused!(
        dao.put_directory_entries(
            id,
            &dir_name,
            &[("é".repeat(MAX_DIRECTORY_KEY_CHARS + 1), e)]
        ),
        "directory key"
    );
    refused!(
        dao.put_directory_entries(id, &dir_name, &[("k\0".into(), e)]),
        "directory key"
    );
    refused!(
        dao.add_tree_nodes(id, "tree", &path, &[("x".into(), None)]),
        "tree path"
    );
    let nul_value = Aspect::builder(def.clone(), e)
        .set(prop.clone(), "a\0b")
        .build()
        .expect("the model holds it; the store refuses it");
    refused!(
        dao.upsert_aspects(id, &def_name, std::slice::from_ref(&nul_value)),
        "NUL"
    );
    let mut nul_cat = Catalog::new();
    nul_cat.uri = Some("http://x/\0".into());
    refused!(dao.save_catalog(&nul_cat), "catalog uri");
    assert!(
        !dao.catalog_exists(nul_cat.id()).await.expect("exists"),
        "a refused catalog is not stored"
    );
    let mut nul_tree = before.clone();
    nul_tree
        .hierarchy_mut("tree")
        .and_then(|h| h.as_tree_mut())
        .expect("tree")
        .add_node("/", "a\0b", None)
        .expect("the model holds it");
    refused!(dao.save_catalog(&nul_tree), "tree node name");
    // Lookups by a name no store can hold are refused the same way.
    refused!(dao.get_hierarchy(id, "a\0b"), "hierarchy name");
    refused!(dao.get_aspect_def(id, "a\0b"), "aspect def name");

    assert_same(
        &dao.load_catalog(id).await.expect("load"),
        &before,
        "after every refusal",
    );
    assert!(dao.delete_catalog(id).await.expect("delete"));
}
