//! Atomic batches: all or none, one version bump, compare-and-set on the catalog's version.

use std::sync::Arc;

use uuid::Uuid;

use crate::dao::{AspectPatch, Batch, BatchOp, BatchResult};
use crate::{
    Aspect, AspectDef, Catalog, CheapDao, CheapError, HierarchyDef, HierarchyType, NotFound,
    PropertyDef, PropertyType, PropertyValue,
};

fn note_def() -> AspectDef {
    AspectDef::builder(format!("test.batch.{}", super::suffix()))
        .property(PropertyDef::new("text", PropertyType::String))
        .property(PropertyDef::new("n", PropertyType::Integer).nullable(true))
        .build()
        .expect("def")
}

fn note(def: &Arc<AspectDef>, e: Uuid, text: &str) -> Aspect {
    Aspect::from_values(
        def.clone(),
        e,
        vec![("text".to_owned(), Some(PropertyValue::String(text.into())))],
    )
    .expect("aspect")
}

/// The batch operations every backend takes, the ones of a failed batch leaving nothing, and
/// concurrent batches on one version: exactly one applies.
pub async fn batches_are_atomic(dao: &dyn CheapDao) {
    let cat = Catalog::new();
    let id = cat.id();
    dao.save_catalog(&cat).await.expect("save");
    let def = note_def();
    let name = def.name().to_owned();
    let shared = Arc::new(def.clone());
    let (a, b, c) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let v0 = dao.catalog_info(id).await.expect("info").version;

    // Every kind of operation, each seeing what the ones before it wrote, in one version.
    let setup = Batch::new()
        .if_version(v0)
        .op(BatchOp::PutAspectDef { def: def.clone() })
        .op(BatchOp::CreateHierarchy {
            def: HierarchyDef::new("list", HierarchyType::EntityList),
        })
        .op(BatchOp::CreateHierarchy {
            def: HierarchyDef::new("set", HierarchyType::EntitySet),
        })
        .op(BatchOp::CreateHierarchy {
            def: HierarchyDef::new("dir", HierarchyType::EntityDirectory),
        })
        .op(BatchOp::CreateHierarchy {
            def: HierarchyDef::new("tree", HierarchyType::EntityTree),
        })
        .op(BatchOp::UpsertAspects {
            aspect_def: name.clone(),
            aspects: vec![note(&shared, a, "a"), note(&shared, b, "b")],
        })
        .op(BatchOp::MergeAspects {
            aspect_def: name.clone(),
            patches: vec![AspectPatch {
                entity_id: a,
                values: vec![("n".into(), Some(PropertyValue::Integer(7)))],
            }],
        })
        .op(BatchOp::AddEntities {
            hierarchy: "list".into(),
            entity_ids: vec![a, b, a],
        })
        .op(BatchOp::InsertEntities {
            hierarchy: "list".into(),
            index: 1,
            entity_ids: vec![c],
        })
        .op(BatchOp::AddEntities {
            hierarchy: "set".into(),
            entity_ids: vec![a, b],
        })
        .op(BatchOp::PutDirectoryEntries {
            hierarchy: "dir".into(),
            entries: vec![("a".into(), a), ("b".into(), b), ("c".into(), c)],
        })
        .op(BatchOp::AddTreeNodes {
            hierarchy: "tree".into(),
            parent_path: "/".into(),
            nodes: vec![("x".into(), Some(a)), ("y".into(), None)],
        });
    let out = dao.apply_batch(id, &setup).await.expect("setup batch");
    assert_eq!(out.version, v0 + 1, "one batch, one version");
    assert_eq!(out.results.len(), setup.operations.len());
    assert_eq!(out.results[0], BatchResult::Changed(true));
    assert_eq!(out.results[1], BatchResult::Done);
    match &out.results[5] {
        BatchResult::Aspects(o) => {
            assert_eq!(o.len(), 2);
            assert!(o.iter().all(|x| x.created), "{o:?}");
        }
        r => panic!("upsert result {r:?}"),
    }
    assert_eq!(out.results[7], BatchResult::Count(3));
    let info = dao.catalog_info(id).await.expect("info");
    assert_eq!(info.version, v0 + 1);
    let list = dao.get_hierarchy(id, "list").await.expect("list");
    assert_eq!(
        list.as_list().expect("a list").iter().collect::<Vec<_>>(),
        vec![a, c, b, a]
    );
    let stored = dao
        .query_aspects(id, &[a], std::slice::from_ref(&name))
        .await
        .expect("query");
    let got = stored[0].get(a).expect("a's note");
    assert_eq!(got.get("text"), Some(&PropertyValue::String("a".into())));
    assert_eq!(got.get("n"), Some(&PropertyValue::Integer(7)), "merged");
    for h in ["list", "set", "dir", "tree", name.as_str()] {
        let info = dao
            .list_hierarchies(id)
            .await
            .expect("hierarchies")
            .into_iter()
            .find(|i| i.name == h)
            .expect("created");
        assert_eq!(
            info.version,
            v0 + 1,
            "hierarchy {h} stamped with the batch's version"
        );
    }

    // Removing: one occurrence per id from a list unless asked for every one.
    let out = dao
        .apply_batch(
            id,
            &Batch::new()
                .op(BatchOp::RemoveEntities {
                    hierarchy: "list".into(),
                    entity_ids: vec![a],
                    every_occurrence: false,
                })
                .op(BatchOp::RemoveDirectoryKeys {
                    hierarchy: "dir".into(),
                    keys: vec!["a".into()],
                })
                .op(BatchOp::RemoveDirectoryEntities {
                    hierarchy: "dir".into(),
                    entity_ids: vec![b],
                })
                .op(BatchOp::RemoveTreeNodes {
                    hierarchy: "tree".into(),
                    paths: vec!["/y".into()],
                })
                .op(BatchOp::DeleteAspects {
                    aspect_def: name.clone(),
                    entity_ids: vec![b],
                })
                .op(BatchOp::ReplaceHierarchy {
                    def: HierarchyDef::new("scratch", HierarchyType::EntitySet),
                })
                .op(BatchOp::ReplaceHierarchy {
                    def: HierarchyDef::new("scratch", HierarchyType::EntityList),
                }),
        )
        .await
        .expect("remove batch");
    assert_eq!(
        out.results,
        vec![
            BatchResult::Count(1),
            BatchResult::Count(1),
            BatchResult::Count(1),
            BatchResult::Count(1),
            BatchResult::Count(1),
            BatchResult::Changed(false),
            BatchResult::Changed(true)
        ]
    );
    let scratch = dao.get_hierarchy(id, "scratch").await.expect("scratch");
    assert_eq!(scratch.hierarchy_type(), HierarchyType::EntityList);
    let list = dao.get_hierarchy(id, "list").await.expect("list");
    assert_eq!(
        list.as_list().expect("a list").iter().collect::<Vec<_>>(),
        vec![c, b, a],
        "one occurrence of a went, the first"
    );
    let before = dao.load_catalog(id).await.expect("load");
    super::assert_totals(dao, &before, "after batches").await;

    // The fifth operation fails: nothing of the four before it stays, the version stays.
    let failing = Batch::new()
        .op(BatchOp::AddEntities {
            hierarchy: "list".into(),
            entity_ids: vec![Uuid::new_v4()],
        })
        .op(BatchOp::UpsertAspects {
            aspect_def: name.clone(),
            aspects: vec![note(&shared, c, "c")],
        })
        .op(BatchOp::DeleteHierarchy { name: "set".into() })
        .op(BatchOp::PutAspectDef { def: note_def() })
        .op(BatchOp::AddEntities {
            hierarchy: "no such".into(),
            entity_ids: vec![a],
        });
    match dao.apply_batch(id, &failing).await {
        Err(CheapError::InBatch { index: 4, source }) => assert!(
            matches!(*source, CheapError::NotFound(NotFound::Hierarchy { .. })),
            "{source:?}"
        ),
        r => panic!("the fifth operation fails the batch: {r:?}"),
    }
    let after = dao.load_catalog(id).await.expect("load");
    super::assert_same(&after, &before, "after a failed batch");
    super::assert_totals(dao, &after, "after a failed batch").await;
    assert_eq!(
        after.version, before.version,
        "no version for a failed batch"
    );

    // An invalid argument fails the same way, before anything runs.
    let bad = Batch::new()
        .op(BatchOp::AddEntities {
            hierarchy: "list".into(),
            entity_ids: vec![a],
        })
        .op(BatchOp::CreateHierarchy {
            def: HierarchyDef::new("bad\0name", HierarchyType::EntityList),
        });
    assert!(
        matches!(
            dao.apply_batch(id, &bad).await,
            Err(CheapError::InBatch { index: 1, .. })
        ),
        "a NUL in a name fails its operation"
    );
    super::assert_same(
        &dao.load_catalog(id).await.expect("load"),
        &before,
        "after a refused batch",
    );

    // A stale expected version: nothing applies.
    let stale = Batch::new().if_version(v0).op(BatchOp::AddEntities {
        hierarchy: "list".into(),
        entity_ids: vec![a],
    });
    match dao.apply_batch(id, &stale).await {
        Err(CheapError::PreconditionFailed { expected, actual }) => {
            assert_eq!((expected, actual), (v0, before.version));
        }
        r => panic!("a stale version is refused: {r:?}"),
    }
    super::assert_same(
        &dao.load_catalog(id).await.expect("load"),
        &before,
        "after a stale batch",
    );
    let missing = Uuid::new_v4();
    assert!(
        matches!(
            dao.apply_batch(missing, &stale).await,
            Err(CheapError::NotFound(NotFound::Catalog { .. }))
        ),
        "a batch on a missing catalog"
    );

    // Eight batches on the same version at once: exactly one applies.
    let v = before.version;
    let racers = (0..8).map(|i| {
        let e = Uuid::new_v4();
        async move {
            let batch = Batch::new().if_version(v).op(BatchOp::AddEntities {
                hierarchy: "set".into(),
                entity_ids: vec![e],
            });
            (i, e, dao.apply_batch(id, &batch).await)
        }
    });
    let mut applied = Vec::new();
    for (i, e, r) in futures::future::join_all(racers).await {
        match r {
            Ok(out) => {
                assert_eq!(out.version, v + 1);
                applied.push(e);
            }
            Err(CheapError::PreconditionFailed { expected, actual }) => {
                assert_eq!((expected, actual), (v, v + 1), "racer {i}");
            }
            Err(e) => panic!("racer {i}: {e}"),
        }
    }
    assert_eq!(
        applied.len(),
        1,
        "exactly one of the racing batches applies"
    );
    let set = dao.get_hierarchy(id, "set").await.expect("set");
    let set = set.as_set().expect("a set");
    assert_eq!(set.len(), 3);
    assert!(set.contains(applied[0]));

    // A batch that changes nothing keeps the version.
    let out = dao
        .apply_batch(
            id,
            &Batch::new().op(BatchOp::RemoveEntities {
                hierarchy: "set".into(),
                entity_ids: vec![Uuid::new_v4()],
                every_occurrence: true,
            }),
        )
        .await
        .expect("no-op batch");
    assert_eq!(out.results, vec![BatchResult::Count(0)]);
    assert_eq!(out.version, v + 1);
    assert_eq!(dao.catalog_info(id).await.expect("info").version, v + 1);
    dao.delete_catalog(id).await.expect("cleanup");
}
