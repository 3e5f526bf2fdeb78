//! Concurrent writers on a file database finish without "database is locked", and a save that
//! fails midway leaves the stored catalog as it was.

use std::sync::Arc;

use cheap_core::testkit::{self, assert_same};
use cheap_core::{
    Aspect, AspectDef, Catalog, CheapDao, CheapError, HierarchyDef, HierarchyType, PropertyDef,
    PropertyType, Uuid,
};
use cheap_db_sqlite::{SqliteDao, SqliteOptions};

async fn file_dao(dir: &tempfile::TempDir) -> Arc<SqliteDao> {
    Arc::new(
        SqliteOptions::path(dir.path().join("c.db"))
            .connect()
            .await
            .unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_writers_on_different_and_on_the_same_catalog() {
    let dir = tempfile::tempdir().unwrap();
    let dao = file_dao(&dir).await;

    // 32 tasks, each saving its own catalog and then updating it three times.
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let dao = dao.clone();
        tasks.push(tokio::spawn(async move {
            let mut cat = testkit::every_type_catalog();
            dao.save_catalog(&cat).await?;
            for _ in 0..3 {
                let e = Uuid::new_v4();
                dao.add_entities(cat.id(), "queue", &[e]).await?;
                cat.hierarchy_mut("queue")
                    .and_then(|h| h.as_list_mut())
                    .unwrap()
                    .add(e);
            }
            Ok::<_, CheapError>(cat)
        }));
    }
    // 8 tasks updating one shared catalog: a set and an aspect map.
    let shared = Catalog::new();
    dao.save_catalog(&shared).await.unwrap();
    dao.create_hierarchy(
        shared.id(),
        &HierarchyDef::new("set", HierarchyType::EntitySet),
    )
    .await
    .unwrap();
    let def = AspectDef::builder(format!("test.counter.{}", Uuid::new_v4()))
        .property(PropertyDef::new("writer", PropertyType::Integer).nullable(false))
        .build()
        .unwrap();
    dao.put_aspect_def(shared.id(), &def).await.unwrap();
    let def = Arc::new(def);
    let mut shared_tasks = Vec::new();
    for w in 0..8i64 {
        let (dao, def, id) = (dao.clone(), def.clone(), shared.id());
        shared_tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            for _ in 0..10 {
                let e = Uuid::new_v4();
                dao.add_entities(id, "set", &[e]).await?;
                let a = Aspect::builder(def.clone(), e).set("writer", w).build()?;
                dao.upsert_aspects(id, def.name(), &[a]).await?;
                mine.push(e);
            }
            Ok::<_, CheapError>(mine)
        }));
    }

    for t in tasks {
        let expected = t
            .await
            .unwrap()
            .expect("no writer fails (no 'database is locked')");
        let loaded = dao.load_catalog(expected.id()).await.unwrap();
        assert_same(&loaded, &expected, "concurrently written catalog");
    }
    let mut all = Vec::new();
    for (w, t) in shared_tasks.into_iter().enumerate() {
        let mine = t.await.unwrap().expect("no shared-catalog writer fails");
        all.extend(mine.iter().map(|e| (*e, w as i64)));
    }
    let loaded = dao.load_catalog(shared.id()).await.unwrap();
    let set = loaded.hierarchy("set").unwrap().as_set().unwrap();
    assert_eq!(set.len(), 80);
    let map = loaded.aspects(def.name()).unwrap();
    assert_eq!(map.len(), 80);
    for (e, w) in all {
        assert!(set.contains(e));
        assert_eq!(
            map.get(e).unwrap().get("writer").and_then(|v| v.as_i64()),
            Some(w)
        );
    }
    // Each set addition is a transaction of its own; upserts that met in a group commit share
    // that group's version.
    assert!(
        loaded.version > 1 + 2 + 80,
        "every write advanced the version: {}",
        loaded.version
    );
}

#[tokio::test]
async fn a_save_failing_midway_keeps_the_stored_catalog() {
    let dir = tempfile::tempdir().unwrap();
    let dao = file_dao(&dir).await;
    let before = testkit::every_type_catalog();
    dao.save_catalog(&before).await.unwrap();
    let stored = dao.load_catalog(before.id()).await.unwrap();

    // Another catalog holds a def named "shared.name"; our replacement brings a different def
    // of that name. The conflict is found after the old contents were deleted inside the
    // transaction, so only the rollback keeps them.
    let shared = AspectDef::builder("shared.name")
        .property(PropertyDef::new("a", PropertyType::Integer))
        .build()
        .unwrap();
    let mut other = Catalog::new();
    other.extend(shared.into_arc()).unwrap();
    dao.save_catalog(&other).await.unwrap();
    let rival = AspectDef::builder("shared.name")
        .property(PropertyDef::new("b", PropertyType::Text))
        .build()
        .unwrap();
    let mut changed = stored.clone();
    changed.remove_hierarchy("queue");
    changed.extend(rival.into_arc()).unwrap();
    let err = dao.save_catalog(&changed).await.unwrap_err();
    assert!(matches!(err, CheapError::Conflict { .. }), "{err:?}");

    let after = dao.load_catalog(before.id()).await.unwrap();
    assert_same(&after, &stored, "after the failed save");
    assert_eq!(after.version, stored.version);

    // The same after the pool is closed under a caller: the error is Unavailable, no panic.
    dao.close().await.unwrap();
    assert!(matches!(
        dao.save_catalog(&changed).await,
        Err(CheapError::Unavailable(_))
    ));
    let reopened = file_dao(&dir).await;
    assert_same(
        &reopened.load_catalog(before.id()).await.unwrap(),
        &stored,
        "after reopening",
    );
}
