//! Watching a catalog ([`CheapDao::watch`]): every write is told, in order, with nothing
//! between two events left out, however slowly the stream is read; a deletion ends it.

use std::time::Duration;

use futures::stream::BoxStream;
use futures::StreamExt;
use uuid::Uuid;

use crate::dao::{CatalogChanges, ChangeEvent};
use crate::error::{CheapError, Result};
use crate::{
    Aspect, AspectDef, Catalog, CheapDao, HierarchyDef, HierarchyType, PropertyDef, PropertyType,
};

/// How long a watcher may wait for a write it was told of before the test calls it lost. A
/// bound on a hang, not a speed check: the stores tell within a poll interval.
const LOST_AFTER: Duration = Duration::from_secs(20);

async fn next(events: &mut BoxStream<'_, Result<ChangeEvent>>, what: &str) -> ChangeEvent {
    match tokio::time::timeout(LOST_AFTER, events.next()).await {
        Ok(Some(Ok(e))) => e,
        Ok(Some(Err(e))) => panic!("{what}: the watch failed: {e}"),
        Ok(None) => panic!("{what}: the watch ended"),
        Err(_) => panic!("{what}: no event within {LOST_AFTER:?}"),
    }
}

/// Reads events until the catalog is at `version`, merging what they say; each event must
/// start where the one before ended.
async fn until(
    events: &mut BoxStream<'_, Result<ChangeEvent>>,
    from: i64,
    version: i64,
    what: &str,
) -> CatalogChanges {
    let mut all = CatalogChanges::new(from, from);
    while all.version < version {
        match next(events, what).await {
            ChangeEvent::Changed(c) => {
                assert_eq!(c.since, all.version, "{what}: a gap between two events");
                assert!(c.version > c.since, "{what}: an event that changes nothing");
                all.version = c.version;
                all.changed.extend(c.changed);
                all.removed.extend(c.removed);
                all.aspects.extend(c.aspects);
            }
            other => panic!("{what}: {other:?}"),
        }
    }
    assert_eq!(
        all.version, version,
        "{what}: the watch went past the store"
    );
    all
}

fn changed_entities(c: &CatalogChanges, map: &str) -> Vec<Uuid> {
    let mut out: Vec<Uuid> = c
        .aspects
        .iter()
        .filter(|(n, _)| n == map)
        .flat_map(|(_, a)| a.changed.iter().copied())
        .collect();
    out.sort();
    out.dedup();
    out
}

/// A watch tells every write, one event after another or merged when read late, names the
/// aspects written and deleted, and ends with `Deleted` when the catalog goes.
pub async fn watch_tells_every_write(dao: &dyn CheapDao) {
    let def = AspectDef::builder(format!("test.watch.{}", Uuid::new_v4().simple()))
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
    let missing = Uuid::new_v4();
    match dao.watch(missing, 0).next().await {
        Some(Err(CheapError::NotFound(_))) => {}
        other => panic!("watching a missing catalog: {other:?}"),
    }

    let mut cat = Catalog::new();
    let id = cat.id();
    cat.extend(def.clone()).expect("extend");
    cat.create_entity_list("l").expect("list");
    let v0 = dao.save_catalog(&cat).await.expect("save");
    let mut events = dao.watch(id, v0);

    // One write, one event.
    let e: Vec<Uuid> = (0..4).map(|_| Uuid::new_v4()).collect();
    dao.upsert_aspects(id, &name, &[aspect(e[0], 1), aspect(e[1], 2)])
        .await
        .expect("upsert");
    let v1 = dao.catalog_info(id).await.expect("info").version;
    let c = until(&mut events, v0, v1, "an upsert").await;
    assert_eq!(changed_entities(&c, &name), {
        let mut w = vec![e[0], e[1]];
        w.sort();
        w
    });
    assert!(c.changed.iter().any(|h| h.name == name));

    // Several writes before the watcher reads: told together or one by one, never skipped.
    dao.add_entities(id, "l", &[e[2]]).await.expect("add");
    dao.delete_aspects(id, &name, &[e[0]])
        .await
        .expect("delete");
    dao.upsert_aspects(id, &name, &[aspect(e[3], 4)])
        .await
        .expect("upsert");
    let s = HierarchyDef::new("s", HierarchyType::EntitySet);
    dao.create_hierarchy(id, &s).await.expect("create");
    dao.delete_hierarchy(id, "l").await.expect("remove");
    let v2 = dao.catalog_info(id).await.expect("info").version;
    let c = until(&mut events, v1, v2, "five writes").await;
    let removed: Vec<Uuid> = c
        .aspects
        .iter()
        .filter(|(n, _)| *n == name)
        .flat_map(|(_, a)| a.removed.iter().copied())
        .collect();
    assert!(removed.contains(&e[0]), "the deleted aspect: {c:?}");
    assert!(changed_entities(&c, &name).contains(&e[3]), "{c:?}");
    assert!(c.changed.iter().any(|h| h.name == "s"), "{c:?}");
    assert!(c.removed.iter().any(|h| h == "l"), "{c:?}");

    // A second watcher from the start is told everything since then, at once.
    let mut late = dao.watch(id, v0);
    let c = until(&mut late, v0, v2, "a late watcher").await;
    assert!(changed_entities(&c, &name).contains(&e[1]));
    drop(late);

    // A watcher from a version the catalog never reached is told to re-read.
    let mut ahead = dao.watch(id, v2 + 1000);
    match next(&mut ahead, "a watch from the future").await {
        ChangeEvent::Resync { version } => assert_eq!(version, v2),
        other => panic!("a watch from the future: {other:?}"),
    }
    drop(ahead);

    assert!(dao.delete_catalog(id).await.expect("delete catalog"));
    assert_eq!(
        next(&mut events, "the deletion").await,
        ChangeEvent::Deleted
    );
    assert!(
        tokio::time::timeout(LOST_AFTER, events.next())
            .await
            .expect("the watch ends after Deleted")
            .is_none(),
        "nothing after Deleted"
    );
}
