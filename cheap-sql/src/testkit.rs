//! The table-mapping and introspection suite every SQL backend runs: aspect defs stored in plain
//! tables (the four shapes), and existing tables read as aspects. Raw SQL goes through the
//! backend's own [`SqlConn`](crate::SqlConn), so one suite serves every dialect.

use std::sync::Arc;

mod pages;
mod snapshots;
pub use pages::pages_by_number_stay_exact;
pub use snapshots::reads_are_one_snapshot;

use uuid::Uuid;

use crate::{AspectTableMapping, SqlBackend, SqlDao, TableAccess, TxMode};
use cheap_core::testkit::assert_same;
use cheap_core::{
    Aspect, AspectDef, Catalog, CatalogSpecies, CheapDao, CheapError, PropertyDef, PropertyType,
    PropertyValue,
};

fn def(name: &str) -> Arc<AspectDef> {
    AspectDef::builder(name)
        .property(PropertyDef::new("string_col", PropertyType::String))
        .property(PropertyDef::new("integer_col", PropertyType::Integer).nullable(false))
        .property(PropertyDef::new("when", PropertyType::DateTime))
        .build()
        .expect("a valid def")
        .into_arc()
}

fn catalog_with(def: &Arc<AspectDef>, n: i64) -> Catalog {
    let mut c = Catalog::new();
    let map = c.extend(def.clone()).expect("extend");
    for i in 0..n {
        map.put(
            Aspect::builder(def.clone(), Uuid::new_v4())
                .set("string_col", format!("row {i}"))
                .set("integer_col", i)
                .set("when", "2025-01-15T10:30:15.120+02:00")
                .build()
                .expect("a valid aspect"),
        )
        .expect("put");
    }
    c.create_entity_list("other")
        .expect("list")
        .add(Uuid::new_v4());
    c
}

/// Runs statements of the test's own.
pub async fn exec<B: SqlBackend>(dao: &SqlDao<B>, statements: &[&str]) {
    let mut conn = dao.connect(TxMode::None).await.expect("a connection");
    for s in statements {
        conn.execute(s, &[])
            .await
            .unwrap_or_else(|e| panic!("{s}: {e}"));
    }
}

async fn rows<B: SqlBackend>(dao: &SqlDao<B>, table: &str) -> i64 {
    let mut conn = dao.connect(TxMode::None).await.expect("a connection");
    conn.fetch_int(
        &format!("SELECT COUNT(*) FROM {}", dao.dialect().quote(table)),
        &[],
    )
    .await
    .expect("count")
}

/// The aspects' values, ordered by `integer_col`. A typed date-time column may keep the
/// instant, not the offset; `PropertyValue` equality compares instants.
fn values(c: &Catalog, def: &str) -> Vec<Vec<(String, PropertyValue)>> {
    let mut v: Vec<Vec<(String, PropertyValue)>> = c
        .aspects(def)
        .expect("the aspect map")
        .iter()
        .map(|a| a.values().map(|(k, v)| (k.to_owned(), v.clone())).collect())
        .collect();
    v.sort_by_key(|row| {
        row.iter()
            .find(|(k, _)| k == "integer_col")
            .and_then(|(_, v)| v.as_i64())
    });
    v
}

/// Tables with an entity id column (with and without a catalog id) keep everything, serve the
/// granular operations, and leave other catalogs' rows alone.
pub async fn tables_with_entity_ids<B: SqlBackend>(dao: &SqlDao<B>) {
    for catalog_id in [false, true] {
        let d = def(&format!(
            "{}_{}",
            if catalog_id {
                "with_both_ids"
            } else {
                "with_entity_id"
            },
            &Uuid::new_v4().simple().to_string()[..8]
        ));
        let m = AspectTableMapping::new(d.clone(), d.name()).with_catalog_id(catalog_id);
        dao.create_table(&m).await.expect("create table");
        dao.add_table_mapping(m).expect("mapping");

        let mut a = catalog_with(&d, 3);
        let b = catalog_with(&d, 2);
        dao.save_catalog(&a).await.expect("save a");
        dao.save_catalog(&b).await.expect("save b");
        assert_eq!(rows(dao, d.name()).await, 5, "one row per aspect");
        let eav = {
            let mut conn = dao.connect(TxMode::None).await.expect("a connection");
            conn.fetch_int(
                "SELECT COUNT(*) FROM property_value WHERE aspect_def_id = ?",
                &[crate::Arg::Uuid(d.id())],
            )
            .await
            .expect("count")
        };
        assert_eq!(eav, 0, "nothing in the EAV tables");
        assert_same(
            &dao.load_catalog(a.id()).await.expect("load a"),
            &a,
            "mapped catalog a",
        );

        // Re-saving a with fewer aspects leaves b's rows alone (the reference wipes them).
        let gone = a
            .aspects(d.name())
            .and_then(|m| m.iter().next().map(|x| x.entity_id()))
            .expect("an aspect");
        a.aspects_mut(d.name()).expect("map").remove(gone);
        dao.save_catalog(&a).await.expect("re-save a");
        assert_eq!(rows(dao, d.name()).await, 4);
        assert_same(
            &dao.load_catalog(a.id()).await.expect("load"),
            &a,
            "a after re-save",
        );
        assert_same(
            &dao.load_catalog(b.id()).await.expect("load"),
            &b,
            "b untouched",
        );

        // Granular operations go to the table.
        let e = Uuid::new_v4();
        let new = Aspect::builder(d.clone(), e)
            .set("integer_col", 42)
            .build()
            .expect("aspect");
        dao.upsert_aspects(a.id(), d.name(), std::slice::from_ref(&new))
            .await
            .expect("upsert");
        let got = dao.query_aspects(a.id(), &[e], &[]).await.expect("query");
        assert_eq!(got[0].get(e), Some(&new));
        assert_eq!(
            dao.read_hierarchy_page(a.id(), d.name(), 0, 10)
                .await
                .expect("page")
                .total,
            3
        );
        dao.delete_aspects(a.id(), d.name(), &[e])
            .await
            .expect("delete");
        assert_same(
            &dao.load_catalog(a.id()).await.expect("load"),
            &a,
            "a after upsert and delete",
        );

        assert!(dao.delete_catalog(a.id()).await.expect("delete a"));
        assert_eq!(rows(dao, d.name()).await, 2, "only b's rows remain");
        assert_same(
            &dao.load_catalog(b.id()).await.expect("load"),
            &b,
            "b after deleting a",
        );
    }
}

/// Tables without an entity id keep values under derived, stable ids, refuse granular writes,
/// and (without any id) belong to one catalog: a second is refused and loses nothing.
pub async fn tables_without_entity_ids<B: SqlBackend>(dao: &SqlDao<B>) {
    let suffix = Uuid::new_v4().simple().to_string()[..8].to_owned();
    let d = def(&format!("with_cat_id_{suffix}"));
    let m = AspectTableMapping::new(d.clone(), d.name())
        .with_catalog_id(true)
        .with_entity_id(false);
    dao.create_table(&m).await.expect("create table");
    dao.add_table_mapping(m).expect("mapping");
    let a = catalog_with(&d, 3);
    let b = catalog_with(&d, 2);
    dao.save_catalog(&a).await.expect("save");
    dao.save_catalog(&b).await.expect("save");
    dao.save_catalog(&a).await.expect("save");
    assert_eq!(rows(dao, d.name()).await, 5);
    let loaded = dao.load_catalog(a.id()).await.expect("load");
    assert_eq!(values(&loaded, d.name()), values(&a, d.name()));
    let again = dao.load_catalog(a.id()).await.expect("load");
    let ids = |c: &Catalog| -> Vec<Uuid> {
        c.aspects(d.name())
            .map(|m| m.iter().map(|x| x.entity_id()).collect())
            .unwrap_or_default()
    };
    assert_eq!(
        ids(&loaded),
        ids(&again),
        "derived ids are stable between loads"
    );
    let one = Aspect::builder(d.clone(), Uuid::new_v4())
        .set("integer_col", 1)
        .build()
        .expect("aspect");
    assert!(matches!(
        dao.upsert_aspects(a.id(), d.name(), &[one]).await,
        Err(CheapError::NotAllowed(_))
    ));

    let d = def(&format!("no_key_{suffix}"));
    let m = AspectTableMapping::new(d.clone(), d.name()).with_entity_id(false);
    dao.create_table(&m).await.expect("create table");
    dao.add_table_mapping(m).expect("mapping");
    let owner = catalog_with(&d, 2);
    dao.save_catalog(&owner).await.expect("save");
    dao.save_catalog(&owner).await.expect("save");
    assert_eq!(rows(dao, d.name()).await, 2, "a re-save replaces the rows");
    let before = dao.load_catalog(b.id()).await.expect("load");
    let mut intruder = before.clone();
    intruder.extend(d.clone()).expect("extend");
    let err = dao
        .save_catalog(&intruder)
        .await
        .expect_err("a second owner");
    assert!(matches!(err, CheapError::Conflict { .. }), "{err:?}");
    assert_eq!(rows(dao, d.name()).await, 2, "the owner's rows survive");
    assert_eq!(
        values(&dao.load_catalog(owner.id()).await.expect("load"), d.name()),
        values(&owner, d.name())
    );
    assert_same(
        &dao.load_catalog(b.id()).await.expect("load"),
        &before,
        "the refused catalog is intact",
    );
}

/// An existing table `test_data`, created by `setup` (the backend's DDL and two rows: `(1, 1,
/// 1.5, 'one', nine bytes of 1, 'a', 2025-01-01, true)` and `(2, 2, 2.5, 'two', nine bytes of
/// 2, 'b', NULL, false)` into columns `id INTEGER PRIMARY KEY NOT NULL, numeric_col NUMERIC,
/// real_col <double>, text_col TEXT, blob_col <bytes>, name VARCHAR(20) NOT NULL, day DATE,
/// flag BOOLEAN`), is read as a def, as aspects and as a SOURCE catalog.
pub async fn existing_table_is_read<B: SqlBackend>(dao: &SqlDao<B>, setup: &[&str]) {
    exec(dao, setup).await;
    assert!(dao
        .list_tables()
        .await
        .expect("tables")
        .contains(&"test_data".to_owned()));
    let def = dao.table_def("test_data").await.expect("def");
    let types: Vec<(&str, PropertyType, bool)> = def
        .property_defs()
        .map(|p| (p.name(), p.property_type(), p.is_nullable()))
        .collect();
    assert_eq!(
        types,
        [
            ("id", PropertyType::Integer, false),
            ("numeric_col", PropertyType::Float, true),
            ("real_col", PropertyType::Float, true),
            ("text_col", PropertyType::Text, true),
            ("blob_col", PropertyType::Blob, true),
            ("name", PropertyType::String, false),
            ("day", PropertyType::DateTime, true),
            ("flag", PropertyType::Boolean, true),
        ]
    );
    let map = dao.load_table("test_data", None).await.expect("rows");
    assert_eq!(map.len(), 2);
    let first = map.iter().next().expect("a row");
    assert_eq!(first.get("numeric_col"), Some(&PropertyValue::Float(1.0)));
    assert_eq!(first.get("real_col"), Some(&PropertyValue::Float(1.5)));
    assert_eq!(first.get("text_col"), Some(&PropertyValue::from("one")));
    assert_eq!(
        first.get("blob_col"),
        Some(&PropertyValue::Blob(vec![1; 9]))
    );
    assert_eq!(
        first.get("day").map(|d| d.to_string()),
        Some("2025-01-01T00:00Z".into())
    );
    assert_eq!(first.get("flag"), Some(&PropertyValue::Boolean(true)));
    assert_eq!(
        dao.load_table("test_data", Some(1))
            .await
            .expect("rows")
            .len(),
        1
    );
    assert_eq!(
        dao.load_table("test_data", Some(0))
            .await
            .expect("rows")
            .len(),
        0
    );
    assert!(matches!(
        dao.table_def("no_such_table").await,
        Err(CheapError::NotFound(_))
    ));

    let cached = dao.cache_table("test_data", None).await.expect("cache");
    assert_eq!(cached.species(), CatalogSpecies::Source);
    assert_eq!(
        cached.id(),
        dao.cache_table("test_data", None)
            .await
            .expect("cache")
            .id(),
        "stable id"
    );
    dao.save_catalog(&cached).await.expect("save");
    assert_same(
        &dao.load_catalog(cached.id()).await.expect("load"),
        &cached,
        "cached table",
    );
}

/// Runs the three table tests (`setup` as for [`existing_table_is_read`]).
pub async fn run_all<B: SqlBackend>(dao: &SqlDao<B>, setup: &[&str]) {
    tables_with_entity_ids(dao).await;
    tables_without_entity_ids(dao).await;
    existing_table_is_read(dao, setup).await;
}

/// What one call cost in statements.
async fn cost<B: SqlBackend, T>(
    dao: &SqlDao<B>,
    call: impl std::future::Future<Output = cheap_core::Result<T>>,
) -> u64 {
    let before = dao.statements();
    call.await.expect("the call succeeds");
    dao.statements() - before
}

fn budget_def(name: &str, extra: bool) -> AspectDef {
    let mut b = AspectDef::builder(name).property(PropertyDef::new("s", PropertyType::String));
    if extra {
        b = b.property(PropertyDef::new("n", PropertyType::Integer));
    }
    b.build().expect("a valid def")
}

/// The statements a request's DAO calls cost in steady state (the catalog's metadata cached):
/// the catalog's structure 1, one aspect def 1, a one-entity aspect query 1. Returns what a
/// one-aspect upsert costs on this backend, new and replacing, for its own test to pin.
pub async fn statement_budget<B: SqlBackend>(dao: &SqlDao<B>) -> Budget {
    let def = budget_def("budget.Thing", false).into_arc();
    let mut catalog = Catalog::new();
    let id = catalog.id();
    let e = Uuid::new_v4();
    catalog
        .extend(def.clone())
        .expect("extend")
        .put(budget_aspect(&def, e, "x"))
        .expect("put");
    dao.save_catalog(&catalog).await.expect("save");
    // The first read fills the cache.
    dao.catalog_def(id).await.expect("catalog def");
    assert_eq!(cost(dao, dao.catalog_def(id)).await, 1, "catalog read");
    // Concurrent reads of one catalog share the read of its row: typically the first reads
    // alone (the others come while it runs, so they may not take it) and the next reads for
    // all the rest; how many come late depends on scheduling, one read each would be 32.
    let reads = futures::future::try_join_all((0..32).map(|_| dao.catalog_def(id)));
    let shared = cost(dao, reads).await;
    assert!(
        shared < 16,
        "32 concurrent catalog reads cost {shared} statements"
    );
    assert_eq!(
        cost(dao, dao.get_aspect_def(id, def.name())).await,
        1,
        "aspect def"
    );
    assert_eq!(
        cost(dao, dao.query_aspects(id, &[e], &[def.name().to_owned()])).await,
        1,
        "one-entity query"
    );
    // The process's own upsert keeps the cache valid: the read after it still costs one.
    let next = budget_aspect(&def, Uuid::new_v4(), "y");
    let upsert = upsert_cost(dao, id, &next).await;
    assert_eq!(
        cost(dao, dao.catalog_def(id)).await,
        1,
        "read after a write"
    );
    assert_eq!(
        stored(dao, id, &next).await,
        Some(next.clone()),
        "the upserted aspect reads back"
    );
    let changed = budget_aspect(&def, next.entity_id(), "z");
    let replace = upsert_cost(dao, id, &changed).await;
    assert_eq!(
        stored(dao, id, &changed).await,
        Some(changed),
        "the replaced aspect reads back"
    );
    Budget { upsert, replace }
}

fn budget_aspect(def: &Arc<AspectDef>, entity: Uuid, s: &str) -> Aspect {
    Aspect::builder(def.clone(), entity)
        .set("s", PropertyValue::String(s.into()))
        .build()
        .expect("aspect")
}

/// The statements an upsert of `aspect` alone costs.
async fn upsert_cost<B: SqlBackend>(dao: &SqlDao<B>, catalog: Uuid, aspect: &Aspect) -> u64 {
    let name = aspect.def().name();
    cost(
        dao,
        dao.upsert_aspects(catalog, name, std::slice::from_ref(aspect)),
    )
    .await
}

/// What is stored for `aspect`'s entity in its def's map.
async fn stored<B: SqlBackend>(dao: &SqlDao<B>, catalog: Uuid, aspect: &Aspect) -> Option<Aspect> {
    let name = aspect.def().name().to_owned();
    dao.query_aspects(catalog, &[aspect.entity_id()], &[name])
        .await
        .expect("query")
        .pop()?
        .get(aspect.entity_id())
        .cloned()
}

/// What one-aspect upserts cost on a backend, in statements (see [`statement_budget`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// An upsert of a new aspect.
    pub upsert: u64,
    /// An upsert that replaces a stored aspect.
    pub replace: u64,
}

/// Two stores over one database never serve each other stale metadata: a def added, changed
/// or removed through one is seen by the very next call through the other, also when the
/// catalog is deleted and created again at the same version.
pub async fn metadata_is_never_stale<B: SqlBackend>(a: &SqlDao<B>, b: &SqlDao<B>) {
    let one = budget_def("stale.One", false).into_arc();
    let mut catalog = Catalog::new();
    let id = catalog.id();
    catalog.extend(one.clone()).expect("extend");
    a.save_catalog(&catalog).await.expect("save");
    let names = |d: cheap_core::CatalogDef| -> Vec<String> {
        d.aspect_defs().map(|d| d.name().to_owned()).collect()
    };
    assert_eq!(names(b.catalog_def(id).await.expect("read")), ["stale.One"]);

    // Added through a.
    let two = budget_def("stale.Two", false);
    assert!(a.put_aspect_def(id, &two).await.expect("add"));
    assert_eq!(
        names(b.catalog_def(id).await.expect("read")),
        ["stale.One", "stale.Two"],
        "an added def"
    );
    assert_eq!(b.get_aspect_def(id, "stale.Two").await.expect("get"), two);

    // Changed through a (a save replaces the catalog's defs).
    let changed = budget_def("stale.Two", true).into_arc();
    let mut replaced = Catalog::with_id(id, CatalogSpecies::Sink, None).expect("catalog");
    replaced.extend(changed.clone()).expect("extend");
    a.save_catalog(&replaced).await.expect("save");
    assert_eq!(
        b.get_aspect_def(id, "stale.Two").await.expect("get"),
        *changed,
        "a changed def"
    );
    assert_eq!(names(b.catalog_def(id).await.expect("read")), ["stale.Two"]);
    // b's own write advances its cache; a's next write must still be seen.
    let e = Uuid::new_v4();
    let aspect = Aspect::builder(changed.clone(), e)
        .set("s", PropertyValue::String("v".into()))
        .set("n", PropertyValue::Integer(1))
        .build()
        .expect("aspect");
    b.upsert_aspects(id, "stale.Two", std::slice::from_ref(&aspect))
        .await
        .expect("upsert through b");

    // Removed through a.
    assert!(a.delete_aspect_def(id, "stale.Two").await.expect("delete"));
    assert!(
        matches!(
            b.get_aspect_def(id, "stale.Two").await,
            Err(CheapError::NotFound(cheap_core::NotFound::AspectDef { .. }))
        ),
        "a removed def"
    );
    let rejected = b
        .upsert_aspects(id, "stale.Two", std::slice::from_ref(&aspect))
        .await;
    assert!(
        matches!(rejected, Err(CheapError::NotFound(_))),
        "an upsert to a removed def: {rejected:?}"
    );

    // Deleted and created again through a, reaching the version b saw before.
    let mut first = Catalog::with_id(id, CatalogSpecies::Sink, None).expect("catalog");
    first.extend(one.clone()).expect("extend");
    a.delete_catalog(id).await.expect("delete");
    a.save_catalog(&first).await.expect("save");
    let seen = b.catalog_info(id).await.expect("info").version;
    assert_eq!(names(b.catalog_def(id).await.expect("read")), ["stale.One"]);
    a.delete_catalog(id).await.expect("delete");
    let mut other = Catalog::with_id(id, CatalogSpecies::Sink, None).expect("catalog");
    other
        .extend(budget_def("stale.Three", false).into_arc())
        .expect("extend");
    a.save_catalog(&other).await.expect("save");
    assert_eq!(
        b.catalog_info(id).await.expect("info").version,
        seen,
        "the new catalog reached the old one's version"
    );
    assert_eq!(
        names(b.catalog_def(id).await.expect("read")),
        ["stale.Three"],
        "a catalog created again"
    );
    a.delete_catalog(id).await.expect("clean up");
}

/// 64 concurrent upserts of distinct entities into one catalog, one of them invalid: the 63
/// valid ones land with `created` outcomes, the invalid one fails alone, and every version
/// the writes took belongs to one committed group (distinct, consecutive, none empty).
/// Returns how many groups committed them.
///
/// `gate` runs once the catalog exists, before the upserts start; the future it returns runs
/// beside them (a test can hold a lock there and release it later, so that the writes queue).
pub async fn concurrent_upserts<B, G, R>(dao: &SqlDao<B>, gate: G) -> u64
where
    B: SqlBackend,
    G: std::future::Future<Output = R>,
    R: std::future::Future<Output = ()>,
{
    let def = AspectDef::builder("group.Item")
        .property(PropertyDef::new("n", PropertyType::Integer).nullable(false))
        .build()
        .expect("a valid def")
        .into_arc();
    let mut catalog = Catalog::new();
    let id = catalog.id();
    catalog.extend(def.clone()).expect("extend");
    dao.save_catalog(&catalog).await.expect("save");
    let before = dao.catalog_info(id).await.expect("info").version;
    // Same name, other shape: not the stored def, refused before it joins any group.
    let impostor = AspectDef::builder("group.Item")
        .property(PropertyDef::new("m", PropertyType::String))
        .build()
        .expect("a valid def")
        .into_arc();
    let aspects: Vec<Aspect> = (0..64)
        .map(|i| {
            let d = if i == 13 { &impostor } else { &def };
            let b = Aspect::builder(d.clone(), Uuid::new_v4());
            if i == 13 {
                b.set("m", PropertyValue::String("x".into()))
            } else {
                b.set("n", PropertyValue::Integer(i))
            }
            .build()
            .expect("aspect")
        })
        .collect();
    let release = gate.await;
    let (results, ()) = futures::future::join(
        futures::future::join_all(
            aspects
                .iter()
                .map(|a| dao.upsert_aspects(id, "group.Item", std::slice::from_ref(a))),
        ),
        release,
    )
    .await;
    for (i, r) in results.iter().enumerate() {
        if i == 13 {
            assert!(
                matches!(r, Err(CheapError::InvalidInput(_))),
                "the invalid upsert fails alone: {r:?}"
            );
        } else {
            let outcome = r.as_ref().expect("a valid upsert lands");
            assert_eq!(outcome.len(), 1);
            assert!(outcome[0].created, "{i} is new");
            assert_eq!(outcome[0].entity_id, aspects[i].entity_id());
        }
    }
    let loaded = dao.load_catalog(id).await.expect("load");
    let map = loaded.aspects("group.Item").expect("map");
    assert_eq!(
        map.len(),
        63,
        "every valid upsert is stored, the invalid one is not"
    );
    for (i, a) in aspects.iter().enumerate().filter(|(i, _)| *i != 13) {
        assert_eq!(
            map.get(a.entity_id())
                .and_then(|x| x.get("n"))
                .and_then(|v| v.as_i64()),
            Some(i as i64)
        );
    }
    assert!(map.get(aspects[13].entity_id()).is_none());
    // Each version after `before` is one committed group: it wrote at least one aspect, and
    // the groups' writes together are the 63.
    let after = loaded.version;
    let groups = (after - before) as u64;
    assert!(groups >= 1, "the writes advanced the version");
    let mut seen = 0;
    for v in before..after {
        let since = dao
            .aspect_changes_since(id, "group.Item", v)
            .await
            .expect("changes")
            .changed
            .len();
        let later = dao
            .aspect_changes_since(id, "group.Item", v + 1)
            .await
            .expect("changes")
            .changed
            .len();
        assert!(since > later, "version {} wrote nothing", v + 1);
        seen += since - later;
    }
    assert_eq!(seen, 63, "the groups' writes are the 63 upserts");
    dao.delete_catalog(id).await.expect("clean up");
    groups
}

/// A group whose transaction fails in the database is retried one by one: of 16 concurrent
/// upserts into a mapped table with a unique column, the one that repeats another's value
/// gets the conflict, the 15 others land, whichever groups they met in.
///
/// Not for MariaDB: its `ON DUPLICATE KEY UPDATE` resolves a collision on any unique key by
/// updating the row it collides with, so no write fails there.
pub async fn a_failed_group_is_retried_alone<B: SqlBackend>(dao: &SqlDao<B>) {
    let name = format!("retry_{}", &Uuid::new_v4().simple().to_string()[..8]);
    let d = AspectDef::builder(name.as_str())
        .property(PropertyDef::new("code", PropertyType::Integer).nullable(false))
        .build()
        .expect("a valid def")
        .into_arc();
    let m = AspectTableMapping::new(d.clone(), d.name());
    dao.create_table(&m).await.expect("create table");
    exec(
        dao,
        &[&format!("CREATE UNIQUE INDEX ux_{name} ON {name} (code)")],
    )
    .await;
    dao.add_table_mapping(m).expect("mapping");
    let mut catalog = Catalog::new();
    let id = catalog.id();
    catalog.extend(d.clone()).expect("extend");
    dao.save_catalog(&catalog).await.expect("save");
    // Codes 0..15, and entity 15 repeats entity 3's code.
    let aspects: Vec<Aspect> = (0..16)
        .map(|i| {
            Aspect::builder(d.clone(), Uuid::new_v4())
                .set("code", PropertyValue::Integer(if i == 15 { 3 } else { i }))
                .build()
                .expect("aspect")
        })
        .collect();
    let results = futures::future::join_all(
        aspects
            .iter()
            .map(|a| dao.upsert_aspects(id, &name, std::slice::from_ref(a))),
    )
    .await;
    let conflicts: Vec<usize> = (0..16)
        .filter(|&i| matches!(results[i], Err(CheapError::Conflict { .. })))
        .collect();
    assert_eq!(conflicts.len(), 1, "one conflict: {results:?}");
    assert!(
        conflicts[0] == 3 || conflicts[0] == 15,
        "the conflict is one of the two that share a code: {results:?}"
    );
    let landed = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(landed, 15, "the others land: {results:?}");
    assert_eq!(rows(dao, &name).await, 15, "15 rows in the table");
    let loaded = dao.load_catalog(id).await.expect("load");
    assert_eq!(loaded.aspects(&name).map(|m| m.len()), Some(15));
    dao.delete_catalog(id).await.expect("clean up");
}

/// The number of entries each hierarchy row keeps (`cheap_entries`) is known and right after
/// every kind of write: adds with duplicates, inserts, removals of present and absent entries,
/// directory keys new and replaced, tree nodes added, replaced with their subtrees and removed,
/// aspects created, replaced and deleted, and a batch.
pub async fn entry_counts_are_kept<B: SqlBackend>(dao: &SqlDao<B>) {
    use cheap_core::dao::{Batch, BatchOp};
    let def = budget_def("counts.Thing", false).into_arc();
    let aspect = |e: Uuid| {
        Aspect::builder(def.clone(), e)
            .set("s", PropertyValue::String("x".into()))
            .build()
            .expect("aspect")
    };
    let mut catalog = Catalog::new();
    let id = catalog.id();
    catalog.extend(def.clone()).expect("extend");
    catalog.create_entity_list("list").expect("list");
    catalog.create_entity_set("set").expect("set");
    catalog.create_entity_directory("dir").expect("dir");
    catalog.create_entity_tree("tree").expect("tree");
    dao.save_catalog(&catalog).await.expect("save");
    let [a, b, c] = [Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4()];
    let keys = |v: &[(&str, Uuid)]| -> Vec<(String, Uuid)> {
        v.iter().map(|(k, e)| ((*k).to_owned(), *e)).collect()
    };
    dao.add_entities(id, "list", &[a, b, a]).await.expect("add");
    dao.insert_entities(id, "list", 1, &[c])
        .await
        .expect("insert");
    dao.remove_entities(id, "list", &[a, Uuid::new_v4()])
        .await
        .expect("remove");
    dao.add_entities(id, "set", &[a, b, a]).await.expect("add");
    dao.add_entities(id, "set", &[b]).await.expect("add again");
    dao.remove_entities(id, "set", &[a, c])
        .await
        .expect("remove");
    dao.put_directory_entries(id, "dir", &keys(&[("k1", a), ("k2", b), ("k1", c)]))
        .await
        .expect("put");
    dao.put_directory_entries(id, "dir", &keys(&[("k2", c), ("k3", a)]))
        .await
        .expect("put again");
    dao.remove_directory_keys(id, "dir", &["k1".into(), "none".into()])
        .await
        .expect("remove keys");
    dao.remove_directory_entities(id, "dir", &[a])
        .await
        .expect("remove entities");
    dao.add_tree_nodes(
        id,
        "tree",
        "/",
        &[("x".into(), Some(a)), ("y".into(), None)],
    )
    .await
    .expect("add nodes");
    dao.add_tree_nodes(
        id,
        "tree",
        "/x",
        &[("x1".into(), Some(b)), ("x2".into(), None)],
    )
    .await
    .expect("add children");
    dao.add_tree_nodes(id, "tree", "/", &[("x".into(), None)])
        .await
        .expect("replace a subtree");
    dao.remove_tree_nodes(id, "tree", &["/y".into()])
        .await
        .expect("remove a node");
    dao.upsert_aspects(id, def.name(), &[aspect(a), aspect(b)])
        .await
        .expect("upsert");
    dao.upsert_aspects(id, def.name(), &[aspect(a), aspect(c)])
        .await
        .expect("upsert again");
    dao.delete_aspects(id, def.name(), &[b, Uuid::new_v4()])
        .await
        .expect("delete");
    let batch = Batch::new()
        .op(BatchOp::AddEntities {
            hierarchy: "list".into(),
            entity_ids: vec![b, b],
        })
        .op(BatchOp::RemoveEntities {
            hierarchy: "list".into(),
            entity_ids: vec![b],
            every_occurrence: false,
        })
        .op(BatchOp::UpsertAspects {
            aspect_def: def.name().to_owned(),
            aspects: vec![aspect(b)],
        });
    dao.apply_batch(id, &batch).await.expect("batch");

    let loaded = dao.load_catalog(id).await.expect("load");
    let mut conn = dao.connect(TxMode::None).await.expect("a connection");
    for h in loaded.hierarchies() {
        let kept = conn
            .fetch_optional(
                "SELECT cheap_entries FROM hierarchy WHERE catalog_id = ? AND name = ?",
                &[crate::Arg::Uuid(id), crate::Arg::text(h.name())],
            )
            .await
            .expect("the hierarchy row")
            .expect("a hierarchy row");
        assert_eq!(
            kept.opt_int(0).expect("a number"),
            Some(h.len() as i64),
            "the entries kept for '{}'",
            h.name()
        );
    }
    drop(conn);
    dao.delete_catalog(id).await.expect("cleanup");
}

/// A reader paging through a list, a set, a directory and an aspect map by cursor while
/// entries are inserted before and after its place, appended and removed reads every entry that
/// stayed throughout exactly once, and nothing twice; a cursor of the other kind is refused.
pub async fn cursors_stay_exact<B: SqlBackend>(dao: &SqlDao<B>) {
    use cheap_core::dao::{CursorPosition, PageCursor};
    use std::collections::HashSet;
    let def = budget_def("cursor.Thing", false).into_arc();
    let aspect = |e: Uuid| {
        Aspect::builder(def.clone(), e)
            .set("s", PropertyValue::String("x".into()))
            .build()
            .expect("aspect")
    };
    let start: Vec<Uuid> = (0..60).map(|_| Uuid::new_v4()).collect();
    let mut catalog = Catalog::new();
    let id = catalog.id();
    let map = catalog.extend(def.clone()).expect("extend");
    for e in &start {
        map.put(aspect(*e)).expect("put");
    }
    let list = catalog.create_entity_list("list").expect("list");
    for e in &start {
        list.add(*e);
    }
    let set = catalog.create_entity_set("set").expect("set");
    for e in &start {
        set.add(*e);
    }
    let dir = catalog.create_entity_directory("dir").expect("dir");
    for e in &start {
        dir.put(e.to_string(), *e);
    }
    dao.save_catalog(&catalog).await.expect("save");

    for name in ["list", "set", "dir", def.name()] {
        let mut removed: HashSet<Uuid> = HashSet::new();
        let mut seen: Vec<Uuid> = Vec::new();
        let mut after: Option<PageCursor> = None;
        let mut round = 0usize;
        loop {
            let page = dao
                .read_hierarchy_page_after(id, name, after.as_ref(), 7)
                .await
                .expect("page");
            let h = &page.hierarchy;
            let ids: Vec<Uuid> = match &h.content {
                cheap_core::HierarchyContent::List(l) => l.0.clone(),
                cheap_core::HierarchyContent::Set(s) => s.iter().collect(),
                cheap_core::HierarchyContent::Directory(d) => d.iter().map(|(_, e)| e).collect(),
                cheap_core::HierarchyContent::AspectMap(m) => {
                    m.iter().map(|a| a.entity_id()).collect()
                }
                other => panic!("{other:?}"),
            };
            seen.extend(ids);
            let Some(next) = page.next else { break };
            after = Some(next);
            // Between pages: one entry from the start goes, and new ones arrive before the
            // reader's place, after it and at the end.
            round += 1;
            let gone = start[(round * 7 + 3) % start.len()];
            if removed.insert(gone) {
                match name {
                    "list" | "set" => {
                        dao.remove_entities(id, name, &[gone])
                            .await
                            .expect("remove");
                    }
                    "dir" => {
                        dao.remove_directory_keys(id, name, &[gone.to_string()])
                            .await
                            .expect("remove");
                    }
                    _ => {
                        dao.delete_aspects(id, name, &[gone]).await.expect("delete");
                    }
                }
            }
            let fresh = [Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4()];
            match name {
                "list" => {
                    // Before the reader's place, and somewhere else each time.
                    dao.insert_entities(id, name, 1 + round as u64, &fresh[..1])
                        .await
                        .expect("insert");
                    let at = (round as u64 * 13) % 50;
                    dao.insert_entities(id, name, at, &fresh[1..2])
                        .await
                        .expect("insert");
                    dao.add_entities(id, name, &fresh[2..]).await.expect("add");
                }
                "set" => {
                    dao.add_entities(id, name, &fresh).await.expect("add");
                }
                "dir" => {
                    let entries: Vec<(String, Uuid)> =
                        fresh.iter().map(|e| (e.to_string(), *e)).collect();
                    dao.put_directory_entries(id, name, &entries)
                        .await
                        .expect("put");
                }
                _ => {
                    let new: Vec<Aspect> = fresh.iter().map(|e| aspect(*e)).collect();
                    dao.upsert_aspects(id, name, &new).await.expect("upsert");
                }
            }
        }
        let mut once = HashSet::new();
        for e in &seen {
            assert!(once.insert(*e), "'{name}': {e} read twice");
        }
        for e in start.iter().filter(|e| !removed.contains(e)) {
            assert!(once.contains(e), "'{name}': {e} stayed but was not read");
        }
        assert!(round > 5, "'{name}': the reader went through {round} pages");
    }
    // An insert with no room where it goes moves the entries after it: a cursor made before
    // that is refused, not followed.
    let page = dao
        .read_hierarchy_page_after(id, "list", None, 5)
        .await
        .expect("page");
    let crowd: Vec<Uuid> = (0..1100).map(|_| Uuid::new_v4()).collect();
    dao.insert_entities(id, "list", 2, &crowd)
        .await
        .expect("a crowd");
    match dao
        .read_hierarchy_page_after(id, "list", page.next.as_ref(), 5)
        .await
    {
        Err(CheapError::PreconditionFailed { expected, actual }) => {
            assert_eq!(expected, page.hierarchy.version);
            assert!(actual > expected);
        }
        other => panic!("a cursor across a move: {other:?}"),
    }
    let whole = dao.get_hierarchy(id, "list").await.expect("list");
    let again = cheap_core::testkit::read_by_cursor(dao, id, "list", 97).await;
    assert_eq!(again, whole, "read again from the start");
    let foreign = PageCursor::at_offset(3);
    assert_eq!(
        foreign.position().expect("a position"),
        CursorPosition::AtOffset(3)
    );
    assert!(matches!(
        dao.read_hierarchy_page_after(id, "list", Some(&foreign), 5)
            .await,
        Err(CheapError::InvalidInput(_))
    ));
    dao.delete_catalog(id).await.expect("cleanup");
}

/// Watchers ([`CheapDao::watch`]) of store `a` are told of writes made through store `b` over
/// the same database, as another process's would be. With `notifies` (PostgreSQL), `a`'s poll
/// interval is set to an hour first, so only a notification can tell it. And idle watchers of
/// several catalogs cost one statement per look in all, not one each.
pub async fn watchers_see_other_stores<B: SqlBackend>(
    a: &SqlDao<B>,
    b: &SqlDao<B>,
    notifies: bool,
) {
    use cheap_core::dao::ChangeEvent;
    use futures::StreamExt;
    use std::time::{Duration, Instant};

    const LOST_AFTER: Duration = Duration::from_secs(20);
    let def = budget_def(&format!("watch.{}", Uuid::new_v4().simple()), false).into_arc();
    let mut catalog = Catalog::new();
    let id = catalog.id();
    catalog.extend(def.clone()).expect("extend");
    let v0 = b.save_catalog(&catalog).await.expect("save");
    if notifies {
        a.set_watch_interval(Duration::from_secs(3600));
    }
    let mut events = a.watch(id, v0);
    // The watch is subscribed when first polled: the first look finds nothing new.
    let nothing = tokio::time::timeout(Duration::from_millis(300), events.next()).await;
    assert!(nothing.is_err(), "an event before any write: {nothing:?}");
    for round in 1..=3 {
        let e = Uuid::new_v4();
        let aspect = Aspect::builder(def.clone(), e)
            .set("s", format!("round {round}"))
            .build()
            .expect("aspect");
        b.upsert_aspects(id, def.name(), &[aspect])
            .await
            .expect("upsert through b");
        let want = b.catalog_info(id).await.expect("info").version;
        let (mut at, mut written) = (0, Vec::new());
        while at < want {
            match tokio::time::timeout(LOST_AFTER, events.next()).await {
                Ok(Some(Ok(ChangeEvent::Changed(c)))) => {
                    at = c.version;
                    if let Some(x) = c.aspects_of(def.name()) {
                        written.extend(x.changed.iter().copied());
                    }
                }
                other => panic!("round {round}: a write through the other store: {other:?}"),
            }
        }
        assert_eq!(at, want, "round {round}");
        assert!(written.contains(&e), "round {round}: the entity written");
    }
    drop(events);
    a.set_watch_interval(cheap_core::dao::watch::DEFAULT_POLL_INTERVAL);

    if !notifies {
        // Eight idle watchers, polled every 50 ms for about a second.
        let mut ids = Vec::new();
        for _ in 0..8 {
            let c = Catalog::new();
            b.save_catalog(&c).await.expect("save");
            ids.push(c.id());
        }
        a.set_watch_interval(Duration::from_millis(50));
        let mut watches: Vec<_> = ids.iter().map(|id| a.watch(*id, 0)).collect();
        for w in &mut watches {
            // The first event: everything since version 0.
            let first = tokio::time::timeout(LOST_AFTER, w.next()).await;
            assert!(
                matches!(first, Ok(Some(Ok(ChangeEvent::Changed(_))))),
                "{first:?}"
            );
        }
        let mut all = futures::stream::select_all(watches);
        // Each watcher's first signal (its catalog's first stamp) makes it look once more.
        let settling = tokio::time::timeout(Duration::from_millis(300), all.next()).await;
        assert!(
            settling.is_err(),
            "an idle watcher was told something: {settling:?}"
        );
        let before = a.statements();
        let started = Instant::now();
        let woke = tokio::time::timeout(Duration::from_secs(1), all.next()).await;
        let looks = started.elapsed().as_millis() as u64 / 50 + 2;
        let spent = a.statements() - before;
        assert!(
            woke.is_err(),
            "an idle watcher was told something: {woke:?}"
        );
        assert!(
            spent <= looks,
            "8 idle watchers cost {spent} statements in {:?}: more than one per look ({looks})",
            started.elapsed()
        );
        a.set_watch_interval(cheap_core::dao::watch::DEFAULT_POLL_INTERVAL);
    }
}
