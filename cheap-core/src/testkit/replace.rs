//! Replacing a hierarchy is one step: concurrent readers and writers see the old one or the new
//! one, never neither.

use uuid::Uuid;

use crate::{Catalog, CheapDao, CheapError, HierarchyDef, HierarchyType};

/// `replace_hierarchy` creates, replaces (contents and all, kind included) and refuses to
/// replace an aspect map; four tasks replacing one hierarchy while adding to it never fail.
pub async fn replacing_a_hierarchy_is_atomic(dao: &dyn CheapDao) {
    let cat = super::every_type_catalog();
    let id = cat.id();
    dao.save_catalog(&cat).await.expect("save");
    let list = HierarchyDef::new("swap", HierarchyType::EntityList);
    assert!(!dao.replace_hierarchy(id, &list).await.expect("create"));
    dao.add_entities(id, "swap", &[Uuid::new_v4()])
        .await
        .expect("add");
    let set = HierarchyDef::new("swap", HierarchyType::EntitySet);
    assert!(dao.replace_hierarchy(id, &set).await.expect("replace"));
    let h = dao.get_hierarchy(id, "swap").await.expect("get");
    assert_eq!(h.hierarchy_type(), HierarchyType::EntitySet);
    assert!(
        h.as_set().expect("a set").is_empty(),
        "replaced with its contents"
    );
    let map = cat.aspect_defs().next().expect("def").name().to_owned();
    let r = dao
        .replace_hierarchy(id, &HierarchyDef::new(map, HierarchyType::EntityList))
        .await;
    assert!(matches!(r, Err(CheapError::Conflict { .. })), "{r:?}");

    let tasks = (0..4).map(|t| async move {
        let mut failures = Vec::new();
        for i in 0..20 {
            let kind = if (t + i) % 2 == 0 {
                HierarchyType::EntityList
            } else {
                HierarchyType::EntitySet
            };
            if let Err(e) = dao
                .replace_hierarchy(id, &HierarchyDef::new("swap", kind))
                .await
            {
                failures.push(format!("replace: {e}"));
            }
            if let Err(e) = dao.add_entities(id, "swap", &[Uuid::new_v4()]).await {
                failures.push(format!("add: {e}"));
            }
            if let Err(e) = dao.get_hierarchy(id, "swap").await {
                failures.push(format!("read: {e}"));
            }
        }
        failures
    });
    let failures: Vec<String> = futures::future::join_all(tasks)
        .await
        .into_iter()
        .flatten()
        .collect();
    assert!(
        failures.is_empty(),
        "{} failures: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    let after: Catalog = dao.load_catalog(id).await.expect("load");
    assert!(after.hierarchy("swap").is_some());
    assert!(dao.delete_catalog(id).await.expect("delete"));
}
