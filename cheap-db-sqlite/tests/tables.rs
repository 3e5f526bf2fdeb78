//! Aspect defs stored in plain tables (the four shapes), and caching an existing table.

use std::sync::Arc;

use cheap_core::sql::AspectTableMapping;
use cheap_core::testkit::assert_same;
use cheap_core::{
    Aspect, AspectDef, Catalog, CatalogSpecies, CheapDao, CheapError, PropertyDef, PropertyType,
    PropertyValue, Uuid,
};
use cheap_db_sqlite::{SqliteDao, SqliteOptions, TableAccess};

async fn dao(dir: &tempfile::TempDir) -> SqliteDao {
    SqliteOptions::path(dir.path().join("t.db"))
        .connect()
        .await
        .unwrap()
}

fn def(name: &str) -> Arc<AspectDef> {
    AspectDef::builder(name)
        .property(PropertyDef::new("string_col", PropertyType::String))
        .property(PropertyDef::new("integer_col", PropertyType::Integer).nullable(false))
        .property(PropertyDef::new("when", PropertyType::DateTime))
        .build()
        .unwrap()
        .into_arc()
}

fn catalog_with(def: &Arc<AspectDef>, n: i64) -> Catalog {
    let mut c = Catalog::new();
    let map = c.extend(def.clone()).unwrap();
    for i in 0..n {
        map.put(
            Aspect::builder(def.clone(), Uuid::new_v4())
                .set("string_col", format!("row {i}"))
                .set("integer_col", i)
                .set("when", "2025-01-15T10:30:15.120+02:00")
                .build()
                .unwrap(),
        )
        .unwrap();
    }
    c.create_entity_list("other").unwrap().add(Uuid::new_v4());
    c
}

async fn rows(dao: &SqliteDao, table: &str) -> i64 {
    let (n,): (i64,) = sqlx::query_as(&format!("SELECT COUNT(*) FROM {table}"))
        .fetch_one(dao.pool())
        .await
        .unwrap();
    n
}

fn values(c: &Catalog, def: &str) -> Vec<String> {
    let mut v: Vec<String> = c
        .aspects(def)
        .unwrap()
        .iter()
        .map(|a| format!("{:?}", a.values().collect::<Vec<_>>()))
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn tables_with_entity_ids_keep_everything_and_other_catalogs_rows() {
    for catalog_id in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let dao = dao(&dir).await;
        let d = def(if catalog_id {
            "with_both_ids"
        } else {
            "with_entity_id"
        });
        let m = AspectTableMapping::new(d.clone(), d.name()).with_catalog_id(catalog_id);
        dao.create_table(&m).await.unwrap();
        dao.add_table_mapping(m).unwrap();

        let mut a = catalog_with(&d, 3);
        let b = catalog_with(&d, 2);
        dao.save_catalog(&a).await.unwrap();
        dao.save_catalog(&b).await.unwrap();
        assert_eq!(rows(&dao, d.name()).await, 5, "one row per aspect");
        assert_eq!(
            rows(&dao, "property_value").await,
            0,
            "nothing in the EAV tables"
        );
        assert_same(
            &dao.load_catalog(a.id()).await.unwrap(),
            &a,
            "mapped catalog a",
        );

        // Re-saving a with fewer aspects leaves b's rows alone (the reference wipes them).
        let gone = a
            .aspects(d.name())
            .unwrap()
            .iter()
            .next()
            .unwrap()
            .entity_id();
        a.aspects_mut(d.name()).unwrap().remove(gone);
        dao.save_catalog(&a).await.unwrap();
        assert_eq!(rows(&dao, d.name()).await, 4);
        assert_same(
            &dao.load_catalog(a.id()).await.unwrap(),
            &a,
            "a after re-save",
        );
        assert_same(&dao.load_catalog(b.id()).await.unwrap(), &b, "b untouched");

        // Granular operations go to the table.
        let e = Uuid::new_v4();
        let new = Aspect::builder(d.clone(), e)
            .set("integer_col", 42)
            .build()
            .unwrap();
        dao.upsert_aspects(a.id(), d.name(), std::slice::from_ref(&new))
            .await
            .unwrap();
        let got = dao.query_aspects(a.id(), &[e], &[]).await.unwrap();
        assert_eq!(got[0].get(e), Some(&new));
        assert_eq!(
            dao.read_hierarchy_page(a.id(), d.name(), 0, 10)
                .await
                .unwrap()
                .total,
            3
        );
        dao.delete_aspects(a.id(), d.name(), &[e]).await.unwrap();
        assert_same(
            &dao.load_catalog(a.id()).await.unwrap(),
            &a,
            "a after upsert and delete",
        );

        assert!(dao.delete_catalog(a.id()).await.unwrap());
        assert_eq!(rows(&dao, d.name()).await, 2, "only b's rows remain");
        assert_same(
            &dao.load_catalog(b.id()).await.unwrap(),
            &b,
            "b after deleting a",
        );
    }
}

#[tokio::test]
async fn tables_without_entity_ids_keep_values_and_refuse_sharing() {
    let dir = tempfile::tempdir().unwrap();
    let dao = dao(&dir).await;

    // Catalog id only: each catalog finds its rows; entity ids are derived, values kept.
    let d = def("with_cat_id");
    let m = AspectTableMapping::new(d.clone(), "with_cat_id")
        .with_catalog_id(true)
        .with_entity_id(false);
    dao.create_table(&m).await.unwrap();
    dao.add_table_mapping(m).unwrap();
    let a = catalog_with(&d, 3);
    let b = catalog_with(&d, 2);
    dao.save_catalog(&a).await.unwrap();
    dao.save_catalog(&b).await.unwrap();
    dao.save_catalog(&a).await.unwrap();
    assert_eq!(rows(&dao, "with_cat_id").await, 5);
    let loaded = dao.load_catalog(a.id()).await.unwrap();
    assert_eq!(values(&loaded, d.name()), values(&a, d.name()));
    let again = dao.load_catalog(a.id()).await.unwrap();
    assert_eq!(
        loaded
            .aspects(d.name())
            .unwrap()
            .iter()
            .map(|x| x.entity_id())
            .collect::<Vec<_>>(),
        again
            .aspects(d.name())
            .unwrap()
            .iter()
            .map(|x| x.entity_id())
            .collect::<Vec<_>>(),
        "derived ids are stable between loads"
    );
    let one = Aspect::builder(d.clone(), Uuid::new_v4())
        .set("integer_col", 1)
        .build()
        .unwrap();
    assert!(matches!(
        dao.upsert_aspects(a.id(), d.name(), &[one]).await,
        Err(CheapError::NotAllowed(_))
    ));

    // No ids: the table belongs to one catalog; a second one is refused and loses nothing.
    let d = def("no_key");
    let m = AspectTableMapping::new(d.clone(), "no_key").with_entity_id(false);
    dao.create_table(&m).await.unwrap();
    dao.add_table_mapping(m).unwrap();
    let owner = catalog_with(&d, 2);
    dao.save_catalog(&owner).await.unwrap();
    dao.save_catalog(&owner).await.unwrap();
    assert_eq!(rows(&dao, "no_key").await, 2, "a re-save replaces the rows");
    let before = dao.load_catalog(b.id()).await.unwrap();
    let mut intruder = before.clone();
    intruder.extend(d.clone()).unwrap();
    let err = dao.save_catalog(&intruder).await.unwrap_err();
    assert!(matches!(err, CheapError::Conflict(_)), "{err:?}");
    assert_eq!(rows(&dao, "no_key").await, 2, "the owner's rows survive");
    assert_eq!(
        values(&dao.load_catalog(owner.id()).await.unwrap(), d.name()),
        values(&owner, d.name())
    );
    assert_same(
        &dao.load_catalog(b.id()).await.unwrap(),
        &before,
        "the refused catalog is intact",
    );
}

#[tokio::test]
async fn an_existing_table_is_read_as_a_source_catalog() {
    let dir = tempfile::tempdir().unwrap();
    let dao = dao(&dir).await;
    sqlx::raw_sql(
        "CREATE TABLE test_data (id INTEGER PRIMARY KEY NOT NULL, numeric_col NUMERIC, real_col REAL,
            text_col TEXT, blob_col BLOB, name VARCHAR(20) NOT NULL, day DATE, flag BOOLEAN);
         INSERT INTO test_data VALUES (1, 1, 1.5, 'one', x'010101010101010101', 'a', '2025-01-01', 1),
                                      (2, 2, 2.5, 'two', x'020202020202020202', 'b', NULL, 0);",
    )
    .execute(dao.pool())
    .await
    .unwrap();
    assert!(dao
        .list_tables()
        .await
        .unwrap()
        .contains(&"test_data".to_owned()));
    let def = dao.table_def("test_data").await.unwrap();
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
    let map = dao.load_table("test_data", None).await.unwrap();
    assert_eq!(map.len(), 2);
    let first = map.iter().next().unwrap();
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
    assert_eq!(dao.load_table("test_data", Some(1)).await.unwrap().len(), 1);
    assert_eq!(dao.load_table("test_data", Some(0)).await.unwrap().len(), 0);
    assert!(matches!(
        dao.table_def("no_such_table").await,
        Err(CheapError::NotFound(_))
    ));

    let cached = dao.cache_table("test_data", None).await.unwrap();
    assert_eq!(cached.species(), CatalogSpecies::Source);
    assert_eq!(
        cached.id(),
        dao.cache_table("test_data", None).await.unwrap().id(),
        "stable id"
    );
    dao.save_catalog(&cached).await.unwrap();
    assert_same(
        &dao.load_catalog(cached.id()).await.unwrap(),
        &cached,
        "cached table",
    );
}
