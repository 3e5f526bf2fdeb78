//! The species suite: a local store and an upstream store (any two backends, including the
//! REST client's `RemoteDao`) behave as MIRROR, CACHE, CLONE and FORK should.

use std::sync::Arc;
use std::time::Duration;

use uuid::Uuid;

use crate::sync::{save_as_sink, Conflict, Replica, SpeciesDao};
use crate::{
    Aspect, AspectDef, Catalog, CatalogSpecies, CheapDao, CheapError, EntityTree, Hierarchy,
    HierarchyContent, PropertyDef, PropertyType,
};

fn def(tag: &str) -> Arc<AspectDef> {
    AspectDef::builder(format!(
        "test.sync.{tag}.{}",
        &Uuid::new_v4().simple().to_string()[..8]
    ))
    .property(PropertyDef::new("label", PropertyType::String).nullable(false))
    .property(PropertyDef::new("n", PropertyType::Integer))
    .build()
    .expect("def")
    .into_arc()
}

fn aspect(def: &Arc<AspectDef>, e: Uuid, label: &str, n: i64) -> Aspect {
    Aspect::builder(def.clone(), e)
        .set("label", label)
        .set("n", n)
        .build()
        .expect("aspect")
}

/// An upstream catalog with an aspect map of `n` aspects, a list, a directory and a tree.
fn upstream_catalog(def: &Arc<AspectDef>, n: usize) -> (Catalog, Vec<Uuid>) {
    let mut c = Catalog::new();
    let ids: Vec<Uuid> = (0..n).map(|_| Uuid::new_v4()).collect();
    let map = c.extend(def.clone()).expect("extend");
    for (i, e) in ids.iter().enumerate() {
        map.put(aspect(def, *e, &format!("item {i}"), i as i64))
            .expect("put");
    }
    c.create_entity_list("queue").expect("list").add(ids[0]);
    c.create_entity_directory("index")
        .expect("dir")
        .put("first", ids[0]);
    let mut tree = EntityTree::new();
    tree.add_node("/", "a", Some(ids[0])).expect("node");
    c.add_hierarchy(Hierarchy::with_content("tree", HierarchyContent::Tree(tree)).expect("tree"))
        .expect("add tree");
    (c, ids)
}

/// The local copy holds what the upstream holds (hierarchy by hierarchy; species differ).
async fn assert_in_step(local: &dyn CheapDao, upstream: &dyn CheapDao, id: Uuid, context: &str) {
    let a = local.load_catalog(id).await.expect("local");
    let b = upstream.load_catalog(id).await.expect("upstream");
    let names = |c: &Catalog| {
        c.hierarchies()
            .map(|h| h.name().to_owned())
            .collect::<Vec<_>>()
    };
    let mut na = names(&a);
    let mut nb = names(&b);
    na.sort();
    nb.sort();
    assert_eq!(na, nb, "{context}: hierarchy names");
    for h in b.hierarchies() {
        let mine = a.hierarchy(h.name()).expect("present");
        match (&mine.content, &h.content) {
            (HierarchyContent::AspectMap(x), HierarchyContent::AspectMap(y)) => {
                assert_eq!(x.len(), y.len(), "{context}: size of {}", h.name());
                for asp in y.iter() {
                    assert_eq!(
                        x.get(asp.entity_id()),
                        Some(asp),
                        "{context}: aspect {} of {}",
                        asp.entity_id(),
                        h.name()
                    );
                }
            }
            (x, y) => assert_eq!(x, y, "{context}: contents of {}", h.name()),
        }
    }
}

/// MIRROR: checkout, incremental pulls (aspects one by one, other hierarchies whole, removals),
/// and refused local writes that change nothing.
pub async fn mirror(local: Arc<dyn CheapDao>, upstream: Arc<dyn CheapDao>) {
    let d = def("mirror");
    let (c, ids) = upstream_catalog(&d, 50);
    let id = c.id();
    upstream.save_catalog(&c).await.expect("upstream save");
    let r = Replica::new(local.clone(), upstream.clone(), id);
    assert!(
        r.pull().await.expect("first pull").full,
        "a first pull copies all"
    );
    assert_eq!(
        local.catalog_info(id).await.expect("info").species,
        CatalogSpecies::Mirror
    );
    assert_in_step(&*local, &*upstream, id, "after checkout").await;

    // Upstream changes: 3 aspects written (one new), 1 deleted, the list grows, the
    // directory goes.
    let new = Uuid::new_v4();
    upstream
        .upsert_aspects(
            id,
            d.name(),
            &[
                aspect(&d, ids[1], "changed", 100),
                aspect(&d, ids[2], "changed", 200),
                aspect(&d, new, "new", 300),
            ],
        )
        .await
        .expect("upsert");
    upstream
        .delete_aspects(id, d.name(), &[ids[3]])
        .await
        .expect("delete");
    upstream
        .add_entities(id, "queue", &[ids[4]])
        .await
        .expect("list");
    upstream
        .delete_hierarchy(id, "index")
        .await
        .expect("drop dir");
    let report = r.pull().await.expect("pull");
    assert!(!report.full);
    assert_eq!(report.aspects_copied, 3, "only the changed aspects move");
    assert_eq!(report.aspects_removed, 1);
    assert_eq!(report.replaced, vec!["queue".to_owned()]);
    assert_eq!(report.removed, vec!["index".to_owned()]);
    assert_in_step(&*local, &*upstream, id, "after pull").await;
    let again = r.pull().await.expect("pull again");
    assert_eq!(
        (again.aspects_copied, again.replaced.len()),
        (0, 0),
        "nothing new"
    );

    // Local writes to a mirror are refused and change nothing.
    let guarded = SpeciesDao::new(local.clone());
    let before = local.load_catalog(id).await.expect("load");
    let err = guarded
        .upsert_aspects(id, d.name(), &[aspect(&d, ids[5], "local", 1)])
        .await
        .expect_err("a mirror refuses writes");
    assert!(matches!(err, CheapError::NotAllowed(_)), "{err:?}");
    assert!(matches!(
        guarded.add_entities(id, "queue", &[ids[6]]).await,
        Err(CheapError::NotAllowed(_))
    ));
    assert!(matches!(
        guarded.save_catalog(&before).await,
        Err(CheapError::NotAllowed(_))
    ));
    super::assert_same(
        &local.load_catalog(id).await.expect("load"),
        &before,
        "mirror after refused writes",
    );
    // Reads through the guard are plain reads.
    assert_eq!(
        guarded
            .query_aspects(id, &[new], &[])
            .await
            .expect("read")
            .len(),
        1
    );
}

/// A pull after changing 1% of an `n`-aspect map copies that 1%, not the map.
pub async fn incremental_pull(local: Arc<dyn CheapDao>, upstream: Arc<dyn CheapDao>, n: usize) {
    let d = def("incremental");
    let (c, ids) = upstream_catalog(&d, n);
    let id = c.id();
    upstream.save_catalog(&c).await.expect("save");
    let r = Replica::new(local.clone(), upstream.clone(), id);
    r.checkout(CatalogSpecies::Mirror).await.expect("checkout");
    let changed: Vec<Aspect> = ids
        .iter()
        .step_by(100)
        .map(|e| aspect(&d, *e, "changed", -1))
        .collect();
    upstream
        .upsert_aspects(id, d.name(), &changed)
        .await
        .expect("upsert");
    let report = r.pull().await.expect("pull");
    assert_eq!(report.aspects_copied as usize, changed.len());
    assert!(report.replaced.is_empty(), "{report:?}");
    let got = local
        .query_aspects(id, &[ids[0], ids[1]], &[d.name().to_owned()])
        .await
        .expect("query");
    assert_eq!(
        got[0]
            .get(ids[0])
            .and_then(|a| a.get("n"))
            .and_then(|v| v.as_i64()),
        Some(-1)
    );
    assert_eq!(
        got[0]
            .get(ids[1])
            .and_then(|a| a.get("n"))
            .and_then(|v| v.as_i64()),
        Some(1)
    );
}

/// CLONE: local writes are kept and pushed; a conflicting upstream change stops the push,
/// which reports it and overwrites nothing; a pull over unpushed changes is refused.
pub async fn clone(local: Arc<dyn CheapDao>, upstream: Arc<dyn CheapDao>) {
    let d = def("clone");
    let (c, ids) = upstream_catalog(&d, 10);
    let id = c.id();
    upstream.save_catalog(&c).await.expect("save");
    let r = Replica::new(local.clone(), upstream.clone(), id);
    r.checkout(CatalogSpecies::Clone).await.expect("checkout");
    let guarded = SpeciesDao::new(local.clone());

    // Different entities on each side: the push goes through.
    guarded
        .upsert_aspects(id, d.name(), &[aspect(&d, ids[1], "mine", 1)])
        .await
        .expect("local write");
    upstream
        .upsert_aspects(id, d.name(), &[aspect(&d, ids[2], "theirs", 2)])
        .await
        .expect("upstream write");
    assert!(
        matches!(r.pull().await, Err(CheapError::Conflict { .. })),
        "a pull would lose local changes"
    );
    let report = r.push().await.expect("push");
    assert!(report.conflicts.is_empty(), "{report:?}");
    assert_eq!(report.aspects_pushed, 1);
    let up = upstream
        .query_aspects(id, &[ids[1], ids[2]], &[d.name().to_owned()])
        .await
        .expect("query");
    assert_eq!(
        up[0]
            .get(ids[1])
            .and_then(|a| a.get("label"))
            .and_then(|v| v.as_str()),
        Some("mine")
    );
    assert_eq!(
        up[0]
            .get(ids[2])
            .and_then(|a| a.get("label"))
            .and_then(|v| v.as_str()),
        Some("theirs"),
        "the upstream's own change stays"
    );

    // The same entity on both sides: a conflict, and the upstream keeps its value.
    guarded
        .upsert_aspects(id, d.name(), &[aspect(&d, ids[3], "mine", 3)])
        .await
        .expect("local write");
    upstream
        .upsert_aspects(id, d.name(), &[aspect(&d, ids[3], "theirs", 3)])
        .await
        .expect("upstream write");
    let before = upstream.load_catalog(id).await.expect("load");
    let report = r.push().await.expect("push");
    assert_eq!(
        report.conflicts,
        vec![Conflict::Aspect {
            hierarchy: d.name().to_owned(),
            entity: ids[3]
        }]
    );
    assert_eq!(report.aspects_pushed, 0);
    super::assert_same(
        &upstream.load_catalog(id).await.expect("load"),
        &before,
        "upstream after a refused push",
    );
}

/// CACHE: reads refresh from upstream once the TTL has passed; writes go through to upstream.
pub async fn cache(local: Arc<dyn CheapDao>, upstream: Arc<dyn CheapDao>) {
    let d = def("cache");
    let (c, ids) = upstream_catalog(&d, 5);
    let id = c.id();
    upstream.save_catalog(&c).await.expect("save");
    Replica::new(local.clone(), upstream.clone(), id)
        .checkout(CatalogSpecies::Cache)
        .await
        .expect("checkout");
    let cached = SpeciesDao::new(local.clone())
        .with_upstream(upstream.clone())
        .with_ttl(Duration::ZERO);
    upstream
        .upsert_aspects(id, d.name(), &[aspect(&d, ids[0], "fresh", 0)])
        .await
        .expect("upstream write");
    let got = cached
        .query_aspects(id, &[ids[0]], &[d.name().to_owned()])
        .await
        .expect("read");
    assert_eq!(
        got[0]
            .get(ids[0])
            .and_then(|a| a.get("label"))
            .and_then(|v| v.as_str()),
        Some("fresh"),
        "a stale cache refreshes before reading"
    );
    let e = Uuid::new_v4();
    cached
        .upsert_aspects(id, d.name(), &[aspect(&d, e, "through", 9)])
        .await
        .expect("write through");
    for (store, name) in [(&upstream, "upstream"), (&local, "local")] {
        let got = store
            .query_aspects(id, &[e], &[d.name().to_owned()])
            .await
            .expect("read");
        assert!(
            got[0].get(e).is_some(),
            "the write reached the {name} store"
        );
    }
    assert_eq!(
        upstream.catalog_info(id).await.expect("info").species,
        CatalogSpecies::Sink,
        "the upstream keeps its species"
    );
}

/// FORK: a copy under a new id that does not follow the upstream, saved as a SINK on demand.
pub async fn fork(local: Arc<dyn CheapDao>, upstream: Arc<dyn CheapDao>) {
    let d = def("fork");
    let (c, ids) = upstream_catalog(&d, 5);
    upstream.save_catalog(&c).await.expect("save");
    let r = Replica::new(local.clone(), upstream.clone(), c.id());
    let f = r.fork().await.expect("fork");
    assert_ne!(f, c.id());
    let info = local.catalog_info(f).await.expect("info");
    assert_eq!(
        (info.species, info.upstream),
        (CatalogSpecies::Fork, Some(c.id()))
    );
    upstream
        .delete_aspects(c.id(), d.name(), &[ids[0]])
        .await
        .expect("upstream change");
    assert_eq!(
        local
            .load_catalog(f)
            .await
            .expect("load")
            .aspects(d.name())
            .map(|m| m.len()),
        Some(5),
        "a fork does not follow"
    );
    let sink = save_as_sink(&*local, f).await.expect("save as");
    let s = local.load_catalog(sink).await.expect("load");
    assert_eq!((s.species(), s.upstream()), (CatalogSpecies::Sink, None));
    assert_eq!(s.aspects(d.name()).map(|m| m.len()), Some(5));
    assert!(matches!(
        save_as_sink(&*local, sink).await,
        Err(CheapError::NotAllowed(_))
    ));
}

/// Runs the species suite (`n` aspects for the incremental pull).
pub async fn run_all(local: Arc<dyn CheapDao>, upstream: Arc<dyn CheapDao>, n: usize) {
    mirror(local.clone(), upstream.clone()).await;
    incremental_pull(local.clone(), upstream.clone(), n).await;
    clone(local.clone(), upstream.clone()).await;
    cache(local.clone(), upstream.clone()).await;
    fork(local.clone(), upstream.clone()).await;
    follower_stays_in_step(local.clone(), upstream.clone(), 200).await;
    a_followed_cache_reads_without_pulls(local, upstream).await;
}

/// A follower ([`Replica::follow`]) stays in step with its upstream through `writes` mixed
/// writes (aspects written and deleted, list, set and directory entries, hierarchies created
/// and removed), made while it follows; stopped halfway and started again, it resumes from its
/// sync mark with nothing lost. Compared whole at the end.
pub async fn follower_stays_in_step(
    local: Arc<dyn CheapDao>,
    upstream: Arc<dyn CheapDao>,
    writes: usize,
) {
    use futures::StreamExt;
    const LOST_AFTER: Duration = Duration::from_secs(30);
    let d = def("follow");
    let (cat, ids) = upstream_catalog(&d, 20);
    let id = cat.id();
    upstream.save_catalog(&cat).await.expect("upstream save");
    let replica = Replica::new(local.clone(), upstream.clone(), id);
    replica
        .checkout(CatalogSpecies::Mirror)
        .await
        .expect("checkout");

    // Follows until the local mark reaches `version`.
    let follow_until = |version: i64| {
        let replica = replica.clone();
        async move {
            let mut steps = replica.follow();
            loop {
                let at = replica
                    .mark()
                    .await
                    .expect("mark")
                    .map_or(0, |m| m.upstream_version);
                if at >= version {
                    return;
                }
                match tokio::time::timeout(LOST_AFTER, steps.next()).await {
                    Ok(Some(Ok(_))) => {}
                    Ok(Some(Err(e))) if e.is_transient() => {}
                    other => panic!("following to version {version}, at {at}: {other:?}"),
                }
            }
        }
    };
    let write = |i: usize| {
        let upstream = upstream.clone();
        let d = d.clone();
        let ids = ids.clone();
        async move {
            let e = ids[i % ids.len()];
            match i % 7 {
                0 | 1 => {
                    let fresh = Uuid::new_v4();
                    upstream
                        .upsert_aspects(
                            id,
                            d.name(),
                            &[
                                aspect(&d, fresh, &format!("w{i}"), i as i64),
                                aspect(&d, e, "again", i as i64),
                            ],
                        )
                        .await
                        .map(|_| ())
                }
                2 => upstream
                    .delete_aspects(id, d.name(), &[e])
                    .await
                    .map(|_| ()),
                3 => upstream.add_entities(id, "queue", &[e]).await.map(|_| ()),
                4 => upstream
                    .put_directory_entries(id, "index", &[(format!("k{}", i % 13), e)])
                    .await
                    .map(|_| ()),
                5 => {
                    let name = format!("set{}", i % 3);
                    match upstream
                        .create_hierarchy(
                            id,
                            &crate::HierarchyDef::new(
                                name.clone(),
                                crate::HierarchyType::EntitySet,
                            ),
                        )
                        .await
                    {
                        Ok(()) => upstream.add_entities(id, &name, &[e]).await.map(|_| ()),
                        Err(CheapError::Conflict { .. }) => {
                            upstream.delete_hierarchy(id, &name).await.map(|_| ())
                        }
                        Err(e) => Err(e),
                    }
                }
                _ => upstream
                    .remove_entities(id, "queue", &[e])
                    .await
                    .map(|_| ()),
            }
            .unwrap_or_else(|err| panic!("write {i}: {err}"));
        }
    };

    // Half the writes while following.
    let half = writes / 2;
    let start = upstream.catalog_info(id).await.expect("info").version;
    let writer = async {
        for i in 0..half {
            write(i).await;
            // Lets the follower run between writes, on any store.
            tokio::task::yield_now().await;
        }
        upstream.catalog_info(id).await.expect("info").version
    };
    // Follows while the writes go on, at least past the first.
    let (version, ()) = futures::join!(writer, follow_until(start + 1));
    follow_until(version).await;
    assert_in_step(&*local, &*upstream, id, "after following half the writes").await;

    // Stopped: the rest is written while nobody follows, then the follower starts again.
    for i in half..writes {
        write(i).await;
    }
    let version = upstream.catalog_info(id).await.expect("info").version;
    follow_until(version).await;
    assert_in_step(&*local, &*upstream, id, "after a restart").await;
    assert!(upstream.delete_catalog(id).await.expect("delete"));
    let _ = local.delete_catalog(id).await;
}

/// A CACHE with a live follower serves reads without TTL pulls: the follower renews the sync
/// mark while nothing changes, so a read after the TTL asks the upstream nothing. Without the
/// follower, the same read pulls.
pub async fn a_followed_cache_reads_without_pulls(
    local: Arc<dyn CheapDao>,
    upstream: Arc<dyn CheapDao>,
) {
    use futures::StreamExt;
    let counted = Arc::new(crate::dao::InstrumentedDao::new(
        upstream,
        Duration::from_secs(60),
    ));
    let up: Arc<dyn CheapDao> = counted.clone();
    let d = def("followed");
    let (cat, _) = upstream_catalog(&d, 3);
    let id = cat.id();
    up.save_catalog(&cat).await.expect("upstream save");
    let replica =
        Replica::new(local.clone(), up.clone(), id).touching_every(Duration::from_millis(100));
    replica
        .checkout(CatalogSpecies::Cache)
        .await
        .expect("checkout");
    let cache = SpeciesDao::new(local.clone())
        .with_upstream(up.clone())
        .with_ttl(Duration::from_millis(1500));
    let pulls = || counted.metrics().counts("changes_since").0;

    let follower = async {
        let mut steps = replica.follow();
        let _ = tokio::time::timeout(Duration::from_millis(3000), async {
            while let Some(step) = steps.next().await {
                step.expect("a follower step");
            }
        })
        .await;
    };
    let reader = async {
        tokio::time::sleep(Duration::from_millis(2000)).await;
        let before = pulls();
        cache
            .load_catalog(id)
            .await
            .expect("read through the cache");
        pulls() - before
    };
    let ((), asked) = futures::join!(follower, reader);
    assert_eq!(asked, 0, "a followed CACHE pulled on read");

    // Nobody follows now: past the TTL, a read pulls.
    tokio::time::sleep(Duration::from_millis(1600)).await;
    let before = pulls();
    cache
        .load_catalog(id)
        .await
        .expect("read through the cache");
    assert!(
        pulls() > before,
        "an unfollowed CACHE past its TTL did not pull"
    );
    assert!(up.delete_catalog(id).await.expect("delete"));
    let _ = local.delete_catalog(id).await;
}
