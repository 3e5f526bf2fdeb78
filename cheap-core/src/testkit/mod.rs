//! The conformance suite every [`CheapDao`] backend runs (feature `testkit`).
//!
//! Each function takes a backend, exercises one area of the contract with real assertions, and
//! panics with a message on the first violation. [`run_all`] runs every one. Functions create
//! catalogs with fresh random ids and share no state, so a backend may run them on one store.
//! Aspect def names carry a random suffix so that the global-name rule does not couple them.

mod batch;
mod cursors;
mod limits;
mod lists;
mod read_only;
mod replace;
mod shared_defs;
mod streams;
pub mod sync;
mod watch;

pub use batch::batches_are_atomic;
pub use cursors::{append_entries, cursor_pages_read_everything, read_by_cursor};
pub use limits::limits_are_the_same_everywhere;
pub use lists::lists_change_in_place;
pub use read_only::read_only_values_are_set_once;
pub use replace::replacing_a_hierarchy_is_atomic;
pub use shared_defs::shared_defs_stored_at_once;
pub use streams::imports_and_exports_stream;
pub use watch::watch_tells_every_write;

use std::str::FromStr;
use std::sync::Arc;

use bigdecimal::BigDecimal;
use num_bigint::BigInt;
use uuid::Uuid;

use crate::dao::SyncMark;
use crate::json::{self, ToJson};
use crate::{
    Aspect, AspectDef, Catalog, CatalogSpecies, CheapDao, CheapDateTime, CheapError, Hierarchy,
    HierarchyDef, HierarchyType, NotFound, PropertyDef, PropertyType, PropertyValue,
};

/// The reference's canonical round-trip fixture (`full-catalog.json`, pretty).
pub const FULL_CATALOG_JSON: &str = include_str!("../../tests/data/json/full-catalog.json");
/// The reference's multivalued fixture (`multivalued-properties.json`, pretty).
pub const MULTIVALUED_JSON: &str =
    include_str!("../../tests/data/json/multivalued-properties.json");

fn suffix() -> String {
    Uuid::new_v4().simple().to_string()[..8].to_owned()
}

/// An aspect def with one single-valued and one multivalued property of every type, plus a
/// non-nullable property, a defaulted one and a read-only one.
pub fn every_type_def(name: &str) -> AspectDef {
    let mut b = AspectDef::builder(name);
    for t in PropertyType::ALL {
        b = b
            .property(PropertyDef::new(format!("one_{}", t.code()), t))
            .property(PropertyDef::new(format!("many_{}", t.code()), t).multivalued(true));
    }
    b.property(PropertyDef::new("required", PropertyType::String).nullable(false))
        .property(PropertyDef::new("defaulted", PropertyType::Integer).default_value(7))
        .property(PropertyDef::new("frozen", PropertyType::Text).read_only())
        .build()
        .expect("every_type_def is valid")
}

/// One sample scalar of each type, edge cases included.
pub fn sample_values(t: PropertyType, seed: i64) -> Vec<PropertyValue> {
    use PropertyValue as V;
    match t {
        PropertyType::Integer => vec![V::Integer(seed), V::Integer(i64::MIN), V::Integer(i64::MAX)],
        PropertyType::Float => vec![
            V::Float(seed as f64 + 0.5),
            V::Float(f64::NAN),
            V::Float(-1e-300),
            V::Float(f64::INFINITY),
        ],
        PropertyType::Boolean => vec![V::Boolean(seed % 2 == 0), V::Boolean(true)],
        PropertyType::String | PropertyType::Text | PropertyType::Clob => vec![
            V::String(format!("text {seed}")),
            V::String(String::new()),
            V::String("quote \" backslash \\ newline \n tab \t unicode é 漢字 🎉 nul-free".into()),
        ],
        PropertyType::BigInteger => vec![
            V::BigInteger(
                BigInt::from_str("-123456789012345678901234567890123").unwrap_or_default(),
            ),
            V::BigInteger(BigInt::from(seed)),
        ],
        PropertyType::BigDecimal => ["123.4500", "1E+3", "-0.000000000000000000000000000001", "0"]
            .iter()
            .filter_map(|s| BigDecimal::from_str(s).ok())
            .map(V::BigDecimal)
            .collect(),
        PropertyType::DateTime => [
            "2025-01-15T10:30Z",
            "2025-01-15T10:30:15.120+02:00",
            "2025-01-15T10:30-05:00[America/New_York]",
            "1969-07-20T20:17:40.123456789Z",
        ]
        .iter()
        .filter_map(|s| CheapDateTime::parse(s).ok())
        .map(V::DateTime)
        .collect(),
        PropertyType::Uri => vec![
            V::Uri("https://example.com/a?b=c#d".into()),
            V::Uri("urn:isbn:0451450523".into()),
        ],
        PropertyType::Uuid => vec![
            V::Uuid(Uuid::from_u64_pair(seed as u64, 42)),
            V::Uuid(Uuid::nil()),
        ],
        PropertyType::Blob => vec![V::Blob(vec![0, 1, 2, 255, seed as u8]), V::Blob(vec![])],
    }
}

/// A catalog exercising every property type (single, multivalued, empty list, null), defaults,
/// a read-only property and every hierarchy kind.
pub fn every_type_catalog() -> Catalog {
    let mut cat = Catalog::with_id(Uuid::new_v4(), CatalogSpecies::Source, None)
        .expect("SOURCE needs no upstream");
    cat.uri = Some("https://example.com/catalogs/every-type".into());
    let def = Arc::new(every_type_def(&format!("test.every_type.{}", suffix())));
    let entities: Vec<Uuid> = (0..4).map(|_| Uuid::new_v4()).collect();
    let map = cat.extend(def.clone()).expect("fresh catalog");
    for (i, e) in entities.iter().enumerate() {
        let mut values: Vec<(String, Option<PropertyValue>)> = vec![
            (
                "required".into(),
                Some(PropertyValue::String(format!("row {i}"))),
            ),
            (
                "frozen".into(),
                Some(PropertyValue::String("set at load".into())),
            ),
        ];
        if i == 1 {
            values.push(("defaulted".into(), Some(PropertyValue::Integer(99))));
        }
        for t in PropertyType::ALL {
            let samples = sample_values(t, i as i64);
            // Row 3 leaves everything optional null; row 2 stores empty lists.
            if i == 3 {
                continue;
            }
            let one = samples[i % samples.len()].clone();
            values.push((format!("one_{}", t.code()), Some(one)));
            let many = if i == 2 { vec![] } else { samples };
            values.push((
                format!("many_{}", t.code()),
                Some(PropertyValue::List(many)),
            ));
        }
        let a = Aspect::from_values(def.clone(), *e, values).expect("sample values fit");
        map.put(a).expect("same def");
    }
    let list = cat.create_entity_list("queue").expect("fresh name");
    for e in [entities[0], entities[1], entities[0]] {
        list.add(e);
    }
    let set = cat.create_entity_set("members").expect("fresh name");
    set.add(entities[2]);
    set.add(entities[0]);
    let dir = cat.create_entity_directory("by key").expect("fresh name");
    dir.put("Admin", entities[0]);
    dir.put("admin", entities[1]);
    dir.put("ünïcödé/slash", entities[2]);
    let tree = cat.create_entity_tree("files").expect("fresh name");
    tree.root.entity = Some(entities[3]);
    tree.add_node("/", "docs", Some(entities[0]))
        .expect("root exists");
    tree.add_node("/docs", "empty", None).expect("docs exists");
    tree.add_node("/docs/empty", "deep", Some(entities[1]))
        .expect("empty exists");
    tree.add_node("/", "b", None).expect("root exists");
    cat.create_entity_list("empty list").expect("fresh name");
    cat.create_entity_tree("empty tree").expect("fresh name");
    cat
}

/// A copy with every version set to 0, for comparing contents.
pub fn without_versions(c: &Catalog) -> Catalog {
    let mut c = c.clone();
    c.version = 0;
    for h in c.hierarchies_mut() {
        h.version = 0;
    }
    c
}

/// Asserts two catalogs hold the same contents (versions aside).
pub fn assert_same(actual: &Catalog, expected: &Catalog, context: &str) {
    let (a, e) = (without_versions(actual), without_versions(expected));
    if a != e {
        panic!(
            "{context}: catalogs differ\n  actual:   {}\n  expected: {}",
            actual.to_json(),
            expected.to_json()
        );
    }
}

fn fixture(text: &str) -> Catalog {
    let mut c = json::catalog_from_str(text).expect("fixture parses");
    // A fresh id per run; the contents stay the reference's.
    let value = c
        .to_json()
        .replace(&c.id().to_string(), &Uuid::new_v4().to_string());
    c = json::catalog_from_str(&value).expect("fixture parses");
    c
}

/// The reference fixtures survive save and load byte-identically (compact JSON).
pub async fn fixture_round_trip(dao: &dyn CheapDao) {
    for text in [FULL_CATALOG_JSON, MULTIVALUED_JSON] {
        let cat = fixture(text);
        dao.save_catalog(&cat).await.expect("save fixture");
        let loaded = dao.load_catalog(cat.id()).await.expect("load fixture");
        assert_eq!(
            loaded.to_json(),
            cat.to_json(),
            "fixture JSON after save and load"
        );
        assert_same(&loaded, &cat, "fixture");
        assert!(dao.delete_catalog(cat.id()).await.expect("delete"));
    }
}

/// Every property type, null, empty list, default and every hierarchy kind round-trip.
pub async fn every_type_round_trip(dao: &dyn CheapDao) {
    let cat = every_type_catalog();
    let v = dao
        .save_catalog(&cat)
        .await
        .expect("save every-type catalog");
    let loaded = dao
        .load_catalog(cat.id())
        .await
        .expect("load every-type catalog");
    assert_same(&loaded, &cat, "every-type catalog");
    assert_eq!(loaded.version, v, "load reports the version save returned");
    assert_eq!(loaded.uri, cat.uri);
    let def = cat.aspect_defs().next().expect("one def").clone();
    let stored = dao
        .get_aspect_def(cat.id(), def.name())
        .await
        .expect("def stored");
    assert_eq!(
        stored, *def,
        "aspect def survives exactly, property order included"
    );
    assert_eq!(stored.hash(), def.hash());
    dao.delete_catalog(cat.id()).await.expect("delete");
}

/// A second save replaces the first: removed entries, aspects, nodes and hierarchies are gone.
pub async fn replace_semantics(dao: &dyn CheapDao) {
    let mut cat = every_type_catalog();
    dao.save_catalog(&cat).await.expect("first save");
    let def_name = cat.aspect_defs().next().expect("def").name().to_owned();
    let first_entity = cat
        .aspects(&def_name)
        .and_then(|m| m.iter().next())
        .map(|a| a.entity_id())
        .expect("aspect");
    cat.aspects_mut(&def_name)
        .expect("map")
        .remove(first_entity);
    cat.hierarchy_mut("queue")
        .and_then(Hierarchy::as_list_mut)
        .expect("queue")
        .remove_at(2);
    cat.hierarchy_mut("members")
        .and_then(Hierarchy::as_set_mut)
        .expect("members")
        .remove(first_entity);
    cat.hierarchy_mut("by key")
        .and_then(Hierarchy::as_directory_mut)
        .expect("dir")
        .remove("Admin");
    cat.hierarchy_mut("files")
        .and_then(Hierarchy::as_tree_mut)
        .expect("tree")
        .remove_subtree("/docs/empty")
        .expect("exists");
    cat.remove_hierarchy("empty list");
    cat.create_entity_list("new list")
        .expect("fresh")
        .add(first_entity);
    dao.save_catalog(&cat).await.expect("second save");
    let loaded = dao.load_catalog(cat.id()).await.expect("load");
    assert_same(&loaded, &cat, "after replacing save");
    // Saving the same again twice changes nothing (no duplicated tree nodes, list rows).
    dao.save_catalog(&loaded).await.expect("third save");
    dao.save_catalog(&loaded).await.expect("fourth save");
    assert_same(
        &dao.load_catalog(cat.id()).await.expect("load"),
        &cat,
        "after re-saves",
    );
    dao.delete_catalog(cat.id()).await.expect("delete");
}

/// Listing, paging, streaming, existence and deletion of catalogs.
pub async fn catalog_lifecycle(dao: &dyn CheapDao) {
    use futures::TryStreamExt;
    let mut ids = Vec::new();
    for i in 0..5 {
        let mut c = Catalog::new();
        c.uri = Some(format!("mem://{i}"));
        dao.save_catalog(&c).await.expect("save");
        ids.push(c.id());
    }
    let upstream = ids[0];
    let mirror =
        Catalog::with_id(Uuid::new_v4(), CatalogSpecies::Mirror, Some(upstream)).expect("mirror");
    dao.save_catalog(&mirror).await.expect("save mirror");
    let info = dao.catalog_info(mirror.id()).await.expect("info");
    assert_eq!(
        (info.species, info.upstream),
        (CatalogSpecies::Mirror, Some(upstream))
    );
    ids.push(mirror.id());

    let all = dao.list_catalog_ids().await.expect("list");
    let mut sorted = all.clone();
    sorted.sort();
    assert_eq!(all, sorted, "ids come in UUID order");
    for id in &ids {
        assert!(all.contains(id), "listed");
        assert!(dao.catalog_exists(*id).await.expect("exists"));
    }
    let count = dao.catalog_count().await.expect("count");
    assert_eq!(count, all.len() as u64);
    let mut paged = Vec::new();
    let mut offset = 0;
    loop {
        let page = dao.list_catalogs_page(offset, 2).await.expect("page");
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 2);
        offset += page.len() as u64;
        paged.extend(page.into_iter().map(|i| i.id));
    }
    assert_eq!(paged, all, "pages cover every catalog once, in order");
    let streamed: Vec<Uuid> = dao
        .catalogs(4)
        .map_ok(|c| c.id())
        .try_collect()
        .await
        .expect("stream");
    assert_eq!(
        streamed, all,
        "the stream yields every catalog once, in order"
    );
    let loaded = dao.load_catalogs_page(0, 1).await.expect("load page");
    assert_eq!(loaded.len(), 1);

    for id in &ids {
        assert!(dao.delete_catalog(*id).await.expect("delete"));
        assert!(
            !dao.delete_catalog(*id).await.expect("delete again"),
            "second delete finds nothing"
        );
        assert!(!dao.catalog_exists(*id).await.expect("exists"));
        assert!(matches!(
            dao.load_catalog(*id).await,
            Err(CheapError::NotFound(_))
        ));
        assert!(matches!(
            dao.catalog_info(*id).await,
            Err(CheapError::NotFound(_))
        ));
    }
}

async fn version(dao: &dyn CheapDao, id: Uuid) -> i64 {
    dao.catalog_info(id).await.expect("info").version
}

/// Every granular operation, its effect as seen by a whole load, and version tracking.
pub async fn granular_operations(dao: &dyn CheapDao) {
    let cat = Catalog::new();
    let id = cat.id();
    let v0 = dao.save_catalog(&cat).await.expect("save empty");
    let def = every_type_def(&format!("test.granular.{}", suffix()));
    assert!(dao.put_aspect_def(id, &def).await.expect("put def"));
    assert!(
        !dao.put_aspect_def(id, &def).await.expect("put same def"),
        "identical def is a no-op"
    );
    let v1 = version(dao, id).await;
    assert!(v1 > v0, "adding a def advances the version");
    assert_eq!(
        dao.list_aspect_defs(id).await.expect("defs"),
        vec![def.clone()]
    );

    for (name, t) in [
        ("list", HierarchyType::EntityList),
        ("set", HierarchyType::EntitySet),
        ("dir", HierarchyType::EntityDirectory),
        ("tree", HierarchyType::EntityTree),
    ] {
        dao.create_hierarchy(id, &HierarchyDef::new(name, t))
            .await
            .expect("create hierarchy");
    }
    let names: Vec<String> = dao
        .list_hierarchies(id)
        .await
        .expect("list")
        .into_iter()
        .map(|h| h.name)
        .collect();
    assert_eq!(names, [def.name(), "list", "set", "dir", "tree"]);
    let defs: Vec<(String, HierarchyType)> = dao
        .list_hierarchy_defs(id)
        .await
        .expect("hierarchy defs")
        .into_iter()
        .map(|d| (d.name, d.hierarchy_type))
        .collect();
    assert_eq!(
        defs,
        [
            (def.name().to_owned(), HierarchyType::AspectMap),
            ("list".into(), HierarchyType::EntityList),
            ("set".into(), HierarchyType::EntitySet),
            ("dir".into(), HierarchyType::EntityDirectory),
            ("tree".into(), HierarchyType::EntityTree),
        ]
    );
    assert!(matches!(
        dao.list_hierarchy_defs(Uuid::new_v4()).await,
        Err(CheapError::NotFound(_))
    ));

    let e: Vec<Uuid> = (0..6).map(|_| Uuid::new_v4()).collect();
    assert_eq!(
        dao.add_entities(id, "list", &[e[0], e[1], e[0]])
            .await
            .expect("add"),
        3
    );
    assert_eq!(
        dao.insert_entities(id, "list", 1, &[e[2], e[3]])
            .await
            .expect("insert"),
        2
    );
    assert_eq!(
        dao.remove_entities(id, "list", &[e[0]])
            .await
            .expect("remove"),
        2,
        "every occurrence"
    );
    assert_eq!(
        dao.add_entities(id, "set", &[e[0], e[1], e[0]])
            .await
            .expect("add set"),
        2,
        "duplicates ignored"
    );
    assert_eq!(
        dao.remove_entities(id, "set", &[e[0], e[5]])
            .await
            .expect("remove set"),
        1
    );
    let entries = vec![
        ("a".to_owned(), e[0]),
        ("b".to_owned(), e[1]),
        ("B".to_owned(), e[1]),
        ("c".to_owned(), e[2]),
    ];
    assert_eq!(
        dao.put_directory_entries(id, "dir", &entries)
            .await
            .expect("put dir"),
        4
    );
    assert_eq!(
        dao.put_directory_entries(id, "dir", &[("a".to_owned(), e[3])])
            .await
            .expect("replace"),
        1
    );
    assert_eq!(
        dao.remove_directory_keys(id, "dir", &["c".to_owned(), "zz".to_owned()])
            .await
            .expect("rm keys"),
        1
    );
    assert_eq!(
        dao.remove_directory_entities(id, "dir", &[e[1]])
            .await
            .expect("rm ids"),
        2
    );
    assert_eq!(
        dao.add_tree_nodes(
            id,
            "tree",
            "/",
            &[("x".into(), Some(e[0])), ("y".into(), None)]
        )
        .await
        .expect("nodes"),
        2
    );
    assert_eq!(
        dao.add_tree_nodes(
            id,
            "tree",
            "/x",
            &[("x1".into(), Some(e[1])), ("x2".into(), None)]
        )
        .await
        .expect("nodes"),
        2
    );
    assert_eq!(
        dao.add_tree_nodes(id, "tree", "/x/x2", &[("deep".into(), Some(e[2]))])
            .await
            .expect("nodes"),
        1
    );
    let before_rm = version(dao, id).await;
    assert_eq!(
        dao.remove_tree_nodes(id, "tree", &["/x/x2".into(), "/nope".into()])
            .await
            .expect("rm nodes"),
        2
    );

    let a0 = Aspect::builder(Arc::new(def.clone()), e[0])
        .set("required", "zero")
        .set("one_INT", 5)
        .build()
        .expect("aspect");
    let a1 = Aspect::builder(Arc::new(def.clone()), e[1])
        .set("required", "one")
        .set("many_STR", vec!["p", "q"])
        .build()
        .expect("aspect");
    let out = dao
        .upsert_aspects(id, def.name(), &[a0.clone(), a1.clone()])
        .await
        .expect("upsert");
    assert!(out.iter().all(|o| o.created));
    let a0b = Aspect::builder(Arc::new(def.clone()), e[0])
        .set("required", "zero again")
        .build()
        .expect("aspect");
    let out = dao
        .upsert_aspects(id, def.name(), std::slice::from_ref(&a0b))
        .await
        .expect("upsert again");
    assert_eq!(
        out,
        vec![crate::dao::UpsertOutcome {
            entity_id: e[0],
            created: false
        }]
    );
    assert_eq!(
        dao.delete_aspects(id, def.name(), &[e[1], e[5]])
            .await
            .expect("delete aspects"),
        1
    );
    let maps = dao
        .query_aspects(id, &[e[0], e[1]], &[])
        .await
        .expect("query");
    assert_eq!(maps.len(), 1);
    assert_eq!(maps[0].len(), 1);
    assert_eq!(
        maps[0].get(e[0]),
        Some(&a0b),
        "the upsert replaced the whole aspect"
    );
    assert!(matches!(
        dao.query_aspects(id, &[], &["no.such.def".into()]).await,
        Err(CheapError::NotFound(_))
    ));

    // The whole catalog as the granular calls left it.
    let mut expected = Catalog::new();
    expected = Catalog::with_id(id, expected.species(), None).expect("sink");
    let map = expected.extend(Arc::new(def.clone())).expect("def");
    map.put(a0b.clone()).expect("aspect");
    let l = expected.create_entity_list("list").expect("list");
    for x in [e[2], e[3], e[1]] {
        l.add(x);
    }
    expected.create_entity_set("set").expect("set").add(e[1]);
    let d = expected.create_entity_directory("dir").expect("dir");
    d.put("a", e[3]);
    let t = expected.create_entity_tree("tree").expect("tree");
    t.add_node("/", "x", Some(e[0])).expect("x");
    t.add_node("/", "y", None).expect("y");
    t.add_node("/x", "x1", Some(e[1])).expect("x1");
    let loaded = dao.load_catalog(id).await.expect("load");
    assert_same(&loaded, &expected, "after granular operations");
    assert_totals(dao, &loaded, "after granular operations").await;

    // Pages.
    let page = dao
        .read_hierarchy_page(id, "list", 1, 5)
        .await
        .expect("page");
    assert_eq!((page.offset, page.total), (1, 3));
    assert_eq!(
        page.hierarchy.as_list().map(|l| l.0.clone()),
        Some(vec![e[3], e[1]])
    );
    let page = dao
        .read_hierarchy_page(id, def.name(), 0, 10)
        .await
        .expect("aspect page");
    assert_eq!(page.total, 1);
    assert_eq!(
        page.hierarchy.as_aspect_map().and_then(|m| m.get(e[0])),
        Some(&a0b)
    );
    assert_eq!(
        dao.get_hierarchy(id, "tree").await.expect("tree"),
        *loaded.hierarchy("tree").expect("tree")
    );

    // Versions and changes.
    let changes = dao.changes_since(id, before_rm).await.expect("changes");
    let changed: Vec<&str> = changes.changed.iter().map(|h| h.name.as_str()).collect();
    assert!(
        changed.contains(&"tree") && changed.contains(&def.name()),
        "changed since: {changed:?}"
    );
    assert!(
        !changed.contains(&"dir"),
        "dir did not change after {before_rm}: {changed:?}"
    );
    let v_before_delete = version(dao, id).await;
    assert!(dao
        .delete_hierarchy(id, "set")
        .await
        .expect("delete hierarchy"));
    assert!(!dao.delete_hierarchy(id, "set").await.expect("delete again"));
    assert!(dao
        .delete_aspect_def(id, def.name())
        .await
        .expect("delete def"));
    let changes = dao
        .changes_since(id, v_before_delete)
        .await
        .expect("changes");
    assert!(
        changes.removed.contains(&"set".to_owned())
            && changes.removed.contains(&def.name().to_owned())
    );
    assert!(changes.version > v_before_delete);
    assert_eq!(changes.version, version(dao, id).await);
    assert!(dao
        .changes_since(id, changes.version)
        .await
        .expect("none")
        .changed
        .is_empty());
    assert!(matches!(
        dao.get_hierarchy(id, "set").await,
        Err(CheapError::NotFound(_))
    ));
    dao.delete_catalog(id).await.expect("delete");
}

/// Every hierarchy's page total is its number of entries (tree: nodes), as `catalog` (loaded
/// from `dao`) holds them: the totals a backend keeps follow every write.
pub async fn assert_totals(dao: &dyn CheapDao, catalog: &Catalog, context: &str) {
    for h in catalog.hierarchies() {
        let page = dao
            .read_hierarchy_page(catalog.id(), h.name(), 0, 1)
            .await
            .expect("page");
        assert_eq!(
            page.total,
            h.len() as u64,
            "{context}: the total of '{}'",
            h.name()
        );
    }
}

/// Bad requests fail with the right kind of error and leave the stored catalog as it was.
pub async fn rejections_lose_nothing(dao: &dyn CheapDao) {
    let cat = every_type_catalog();
    let id = cat.id();
    dao.save_catalog(&cat).await.expect("save");
    let before = dao.load_catalog(id).await.expect("load");
    let def = cat.aspect_defs().next().expect("def").clone();
    let e = Uuid::new_v4();
    let missing = Uuid::new_v4();

    macro_rules! rejected {
        ($call:expr, $pat:pat) => {{
            let r = $call.await;
            assert!(
                matches!(r, Err($pat)),
                "{} should fail with {}, got {:?}",
                stringify!($call),
                stringify!($pat),
                r
            );
        }};
    }
    rejected!(
        dao.load_catalog(missing),
        CheapError::NotFound(NotFound::Catalog { .. })
    );
    // NotFound says which thing is missing: the catalog, or a hierarchy or def of one.
    rejected!(
        dao.add_entities(missing, "queue", &[e]),
        CheapError::NotFound(NotFound::Catalog { .. })
    );
    rejected!(
        dao.add_entities(id, "no such", &[e]),
        CheapError::NotFound(NotFound::Hierarchy { .. })
    );
    rejected!(
        dao.get_aspect_def(missing, "no such"),
        CheapError::NotFound(NotFound::Catalog { .. })
    );
    rejected!(
        dao.get_aspect_def(id, "no such"),
        CheapError::NotFound(NotFound::AspectDef { .. })
    );
    rejected!(
        dao.read_hierarchy_page(id, "no such", 0, 10),
        CheapError::NotFound(NotFound::Hierarchy { .. })
    );
    rejected!(
        dao.add_entities(id, "by key", &[e]),
        CheapError::InvalidInput(_)
    );
    rejected!(
        dao.insert_entities(id, "queue", 99, &[e]),
        CheapError::InvalidInput(_)
    );
    rejected!(
        dao.put_directory_entries(id, "queue", &[("k".into(), e)]),
        CheapError::InvalidInput(_)
    );
    rejected!(
        dao.put_directory_entries(id, "by key", &[("ok".into(), e), (String::new(), e)]),
        CheapError::InvalidInput(_)
    );
    rejected!(
        dao.add_tree_nodes(id, "files", "/missing", &[("n".into(), None)]),
        CheapError::NotFound(NotFound::TreePath { .. })
    );
    rejected!(
        dao.add_tree_nodes(
            id,
            "files",
            "/",
            &[("fine".into(), None), ("bad/name".into(), None)]
        ),
        CheapError::InvalidInput(_)
    );
    rejected!(
        dao.remove_tree_nodes(id, "files", &["/docs".into(), "/".into()]),
        CheapError::InvalidInput(_)
    );
    let too_deep: String = (0..crate::MAX_TREE_DEPTH)
        .map(|i| format!("/n{i}"))
        .collect();
    rejected!(
        dao.add_tree_nodes(id, "files", &too_deep, &[("x".into(), None)]),
        CheapError::InvalidInput(_)
    );
    rejected!(
        dao.create_hierarchy(id, &HierarchyDef::new("queue", HierarchyType::EntitySet)),
        CheapError::Conflict { .. }
    );
    rejected!(
        dao.create_hierarchy(id, &HierarchyDef::new("am", HierarchyType::AspectMap)),
        CheapError::InvalidInput(_)
    );
    let other_def = def
        .to_builder()
        .property(PropertyDef::new("extra", PropertyType::Integer))
        .build()
        .expect("def");
    rejected!(
        dao.put_aspect_def(id, &other_def),
        CheapError::Conflict { .. }
    );
    let good = Aspect::builder(def.clone(), e)
        .set("required", "ok")
        .build()
        .expect("aspect");
    let foreign = Aspect::builder(Arc::new(other_def.clone()), e)
        .set("required", "x")
        .build()
        .expect("aspect");
    rejected!(
        dao.upsert_aspects(id, def.name(), &[good.clone(), foreign]),
        CheapError::InvalidInput(_)
    );
    let incomplete = Aspect::new(def.clone(), e);
    rejected!(
        dao.upsert_aspects(id, def.name(), &[good.clone(), incomplete]),
        CheapError::InvalidValue { .. }
    );
    rejected!(
        dao.upsert_aspects(id, "no.such.def", std::slice::from_ref(&good)),
        CheapError::NotFound(_)
    );
    // A different def under a stored name in another catalog conflicts (names are global).
    let mut rival = Catalog::new();
    rival.extend(Arc::new(other_def)).expect("fresh");
    rejected!(dao.save_catalog(&rival), CheapError::Conflict { .. });
    assert!(
        !dao.catalog_exists(rival.id()).await.expect("exists"),
        "the rejected catalog was not stored"
    );
    // A whole save with an incomplete aspect fails and keeps the stored catalog.
    let mut broken = before.clone();
    broken
        .hierarchy_mut("queue")
        .and_then(Hierarchy::as_list_mut)
        .expect("queue")
        .add(e);
    broken
        .aspects_mut(def.name())
        .expect("map")
        .put(Aspect::new(def.clone(), e))
        .expect("same def");
    rejected!(dao.save_catalog(&broken), CheapError::InvalidValue { .. });

    let after = dao.load_catalog(id).await.expect("load");
    assert_same(&after, &before, "after rejected operations");
    assert_eq!(
        after.version, before.version,
        "rejections do not advance the version"
    );
    dao.delete_catalog(id).await.expect("delete");
}

/// Concurrent writers: many catalogs saved and updated at once, and many updates to one
/// catalog, all succeed and the final state is what the writes say.
pub async fn concurrent_writers(dao: &dyn CheapDao) {
    let catalogs: Vec<Catalog> = (0..16).map(|_| every_type_catalog()).collect();
    let saves = catalogs.iter().map(|c| async move {
        dao.save_catalog(c).await?;
        dao.add_entities(c.id(), "queue", &[c.id()]).await?;
        dao.load_catalog(c.id()).await
    });
    for (r, c) in futures::future::join_all(saves)
        .await
        .into_iter()
        .zip(&catalogs)
    {
        let loaded = r.expect("concurrent save, update and load");
        let mut expected = c.clone();
        expected
            .hierarchy_mut("queue")
            .and_then(Hierarchy::as_list_mut)
            .expect("queue")
            .add(c.id());
        assert_same(&loaded, &expected, "concurrent catalog");
    }
    let shared = Catalog::new();
    dao.save_catalog(&shared).await.expect("save shared");
    dao.create_hierarchy(
        shared.id(),
        &HierarchyDef::new("set", HierarchyType::EntitySet),
    )
    .await
    .expect("set");
    let ids: Vec<Uuid> = (0..8 * 10).map(|_| Uuid::new_v4()).collect();
    let shared_id = shared.id();
    let writers = ids.chunks(10).map(|chunk| async move {
        for id in chunk {
            dao.add_entities(shared_id, "set", &[*id]).await?;
        }
        Ok::<_, CheapError>(())
    });
    for r in futures::future::join_all(writers).await {
        r.expect("concurrent update of one catalog");
    }
    let set = dao.get_hierarchy(shared.id(), "set").await.expect("set");
    let members: std::collections::HashSet<Uuid> = set.as_set().expect("set").iter().collect();
    assert_eq!(
        members,
        ids.iter().copied().collect(),
        "every concurrent add is there"
    );
    assert!(
        version(dao, shared.id()).await >= 80,
        "each add advanced the version"
    );
    for c in catalogs.iter().map(Catalog::id).chain([shared.id()]) {
        dao.delete_catalog(c).await.expect("delete");
    }
}

/// Per-aspect change tracking and sync marks: what a replica needs to copy only what changed.
pub async fn change_tracking(dao: &dyn CheapDao) {
    let def = AspectDef::builder(format!("test.changes.{}", suffix()))
        .property(PropertyDef::new("n", PropertyType::Integer))
        .build()
        .expect("def")
        .into_arc();
    let name = def.name().to_owned();
    let aspect = |e: Uuid, n: i64| {
        Aspect::builder(def.clone(), e)
            .set("n", n)
            .build()
            .expect("aspect")
    };
    let e: Vec<Uuid> = (0..4).map(|_| Uuid::new_v4()).collect();
    let mut cat = Catalog::new();
    let id = cat.id();
    let map = cat.extend(def.clone()).expect("extend");
    for (i, x) in e.iter().take(3).enumerate() {
        map.put(aspect(*x, i as i64)).expect("put");
    }
    let v1 = dao.save_catalog(&cat).await.expect("save");
    let since0 = dao
        .aspect_changes_since(id, &name, 0)
        .await
        .expect("since 0");
    assert!(since0.rewritten, "a saved map counts as rewritten");
    let since1 = dao
        .aspect_changes_since(id, &name, v1)
        .await
        .expect("since v1");
    assert!(!since1.rewritten && since1.changed.is_empty() && since1.removed.is_empty());
    assert_eq!(since1.version, v1);

    dao.upsert_aspects(id, &name, &[aspect(e[0], 10), aspect(e[3], 13)])
        .await
        .expect("upsert");
    let v2 = version(dao, id).await;
    let mut c = dao
        .aspect_changes_since(id, &name, v1)
        .await
        .expect("since v1");
    c.changed.sort();
    let mut want = vec![e[0], e[3]];
    want.sort();
    assert!(!c.rewritten);
    assert_eq!(c.changed, want, "the upserted entities, and only they");
    assert!(c.removed.is_empty());

    assert_eq!(
        dao.delete_aspects(id, &name, &[e[0]])
            .await
            .expect("delete"),
        1
    );
    let c = dao
        .aspect_changes_since(id, &name, v2)
        .await
        .expect("since v2");
    assert_eq!((c.changed, c.removed), (vec![], vec![e[0]]));
    let c = dao
        .aspect_changes_since(id, &name, v1)
        .await
        .expect("since v1");
    assert_eq!(
        c.changed,
        vec![e[3]],
        "a written-then-deleted aspect is only removed"
    );
    assert_eq!(c.removed, vec![e[0]]);

    assert!(matches!(
        dao.aspect_changes_since(id, "no.such.map", 0).await,
        Err(CheapError::NotFound(_))
    ));
    assert!(matches!(
        dao.aspect_changes_since(Uuid::new_v4(), &name, 0).await,
        Err(CheapError::NotFound(_))
    ));

    // Sync marks live beside the catalog and are not mutations of it.
    assert_eq!(dao.sync_mark(id).await.expect("mark"), None);
    let before = version(dao, id).await;
    let mark = SyncMark {
        upstream_version: 41,
        local_version: before,
        synced_at_ms: 1_700_000_000_000,
    };
    dao.set_sync_mark(id, mark).await.expect("set mark");
    assert_eq!(dao.sync_mark(id).await.expect("mark"), Some(mark));
    assert_eq!(version(dao, id).await, before, "a mark is not a mutation");
    assert!(matches!(
        dao.set_sync_mark(Uuid::new_v4(), mark).await,
        Err(CheapError::NotFound(_))
    ));

    let v3 = version(dao, id).await;
    assert!(dao.delete_aspect_def(id, &name).await.expect("delete def"));
    let c = dao
        .aspect_changes_since(id, &name, v3)
        .await
        .expect("after removal");
    assert!(c.rewritten, "a removed map tells the replica to drop it");
    assert!(dao.delete_catalog(id).await.expect("delete catalog"));
    assert!(
        dao.sync_mark(id).await.is_err(),
        "the mark goes with the catalog"
    );
}

/// Text that breaks naive SQL, URL or path handling: quotes, comment and statement markers,
/// LIKE wildcards, placeholders, backslashes, unicode and padding.
pub const HOSTILE_TEXT: &[&str] = &[
    "'; DROP TABLE catalog; --",
    "\" OR \"1\"=\"1",
    "a'b\"c`d",
    "back\\slash\\",
    "100%_like",
    "?$1:name @x",
    "ünïcødé ✓ 日本語",
    "  spaced  ",
    "semi;colon/*comment*/",
    "tab\tnew\nline",
];

/// Every name, key and value that takes text stores hostile text verbatim, through whole saves
/// and granular operations, and no other data is touched.
pub async fn hostile_text(dao: &dyn CheapDao) {
    let bystander = every_type_catalog();
    dao.save_catalog(&bystander).await.expect("save bystander");
    let bystander = dao.load_catalog(bystander.id()).await.expect("load");
    let tag = suffix();
    let mut cat = Catalog::new();
    let id = cat.id();
    let mut defs = Vec::new();
    for (i, t) in HOSTILE_TEXT.iter().enumerate() {
        let def = AspectDef::builder(format!("{t}.{tag}.{i}"))
            .property(PropertyDef::new(*t, PropertyType::String))
            .property(PropertyDef::new(format!("{t}#2"), PropertyType::Text))
            .build()
            .expect("a def with a hostile name")
            .into_arc();
        let e = Uuid::new_v4();
        cat.extend(def.clone())
            .expect("extend")
            .put(
                Aspect::builder(def.clone(), e)
                    .set(*t, *t)
                    .set(format!("{t}#2"), t.repeat(3))
                    .build()
                    .expect("aspect"),
            )
            .expect("put");
        defs.push((def, e));
        cat.create_entity_list(&format!("list {t}"))
            .expect("list")
            .add(e);
        cat.create_entity_directory(&format!("dir {t}"))
            .expect("dir")
            .put(*t, e);
    }
    let tree_names: Vec<&str> = HOSTILE_TEXT
        .iter()
        .copied()
        .filter(|t| !t.contains('/'))
        .collect();
    let tree = cat.create_entity_tree("tree").expect("tree");
    for t in &tree_names {
        tree.add_node("/", t, Some(Uuid::new_v4()))
            .expect("a hostile node name");
    }
    dao.save_catalog(&cat).await.expect("save hostile catalog");
    assert_same(
        &dao.load_catalog(id).await.expect("load"),
        &cat,
        "hostile text through a save",
    );

    // Granular operations with the same text.
    for (i, t) in HOSTILE_TEXT.iter().enumerate() {
        let (def, e) = &defs[i];
        let e2 = Uuid::new_v4();
        dao.add_entities(id, &format!("list {t}"), &[e2])
            .await
            .expect("add to a hostile list");
        dao.put_directory_entries(id, &format!("dir {t}"), &[(format!("{t}{t}"), e2)])
            .await
            .expect("hostile key");
        let a = Aspect::builder(def.clone(), *e)
            .set(*t, format!("{t}!"))
            .build()
            .expect("aspect");
        dao.upsert_aspects(id, def.name(), std::slice::from_ref(&a))
            .await
            .expect("upsert hostile value");
        let got = dao
            .query_aspects(id, &[*e], &[def.name().to_owned()])
            .await
            .expect("query");
        assert_eq!(got[0].get(*e), Some(&a), "hostile value {t:?} verbatim");
        let dir = dao
            .get_hierarchy(id, &format!("dir {t}"))
            .await
            .expect("directory");
        let dir = dir.as_directory().expect("a directory");
        assert_eq!(dir.get(t), Some(*e));
        assert_eq!(dir.get(&format!("{t}{t}")), Some(e2));
        assert_eq!(
            dao.get_aspect_def(id, def.name())
                .await
                .expect("def")
                .name(),
            def.name()
        );
    }
    for t in &tree_names {
        dao.add_tree_nodes(id, "tree", &format!("/{t}"), &[(t.to_string(), None)])
            .await
            .expect("a hostile child");
    }
    let tree = dao.get_hierarchy(id, "tree").await.expect("tree");
    let tree = tree.as_tree().expect("a tree");
    for t in &tree_names {
        assert!(
            tree.root
                .children
                .get(*t)
                .is_some_and(|n| n.children.contains_key(*t)),
            "tree node {t:?} and its child"
        );
    }
    assert_same(
        &dao.load_catalog(bystander.id()).await.expect("load"),
        &bystander,
        "the bystander catalog after hostile text",
    );
    assert!(dao.delete_catalog(id).await.expect("delete"));
}

/// Runs the whole suite.
pub async fn run_all(dao: &dyn CheapDao) {
    dao.health_check().await.expect("health check");
    fixture_round_trip(dao).await;
    every_type_round_trip(dao).await;
    replace_semantics(dao).await;
    catalog_lifecycle(dao).await;
    granular_operations(dao).await;
    rejections_lose_nothing(dao).await;
    concurrent_writers(dao).await;
    change_tracking(dao).await;
    hostile_text(dao).await;
    limits_are_the_same_everywhere(dao).await;
    replacing_a_hierarchy_is_atomic(dao).await;
    read_only_values_are_set_once(dao).await;
    shared_defs_stored_at_once(dao).await;
    batches_are_atomic(dao).await;
    lists_change_in_place(dao).await;
    cursor_pages_read_everything(dao).await;
    imports_and_exports_stream(dao).await;
    watch_tells_every_write(dao).await;
}
