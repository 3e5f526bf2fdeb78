//! Every method of both clients against the real cheap-server on 127.0.0.1.

mod common;

use std::sync::Arc;

use cheap_client::{blocking, CheapClient, ClientError, DirectoryRemoval, HierarchyPage};
use cheap_core::rest::AspectInput;
use cheap_core::{
    Aspect, AspectDef, CatalogDef, CatalogSpecies, HierarchyDef, HierarchyType, PropertyDef,
    PropertyType, Uuid,
};
use futures::TryStreamExt;
use indexmap::IndexMap;
use serde_json::json;

fn start_server() -> (String, tempfile::TempDir) {
    common::start_server(Default::default())
}

fn person() -> AspectDef {
    AspectDef::builder("com.example.person")
        .id(Uuid::from_u128(0x550e8400_e29b_41d4_a716_446655440001))
        .property(PropertyDef::new("firstName", PropertyType::String).nullable(false))
        .property(PropertyDef::new("age", PropertyType::Integer))
        .build()
        .unwrap()
}

fn catalog_def() -> CatalogDef {
    CatalogDef::from_parts(
        [Arc::new(person())],
        [
            HierarchyDef::new("people", HierarchyType::EntityList),
            HierarchyDef::new("docs", HierarchyType::EntityDirectory),
            HierarchyDef::new("tree", HierarchyType::EntityTree),
        ],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_async_client_covers_every_endpoint() {
    let (base, _dir) = tokio::task::spawn_blocking(start_server).await.unwrap();
    let c = CheapClient::new(&base).unwrap();
    assert_eq!(c.health_check().await.unwrap().status, "UP");

    let created = c
        .create_catalog_with(CatalogSpecies::Sink, None, Some(&catalog_def()))
        .await
        .unwrap();
    let id = created.catalog_id;
    assert_eq!(c.get_catalog_def(id).await.unwrap(), catalog_def());
    let ids: Vec<Uuid> = c.catalog_ids(1).try_collect().await.unwrap();
    assert_eq!(ids, vec![id]);
    assert_eq!(c.list_catalogs(0, 10).await.unwrap().page.total_elements, 1);

    // Aspect defs.
    let extra = AspectDef::builder("com.example.tag")
        .property(PropertyDef::new("label", PropertyType::Text))
        .build()
        .unwrap();
    c.create_aspect_def(id, &extra).await.unwrap();
    assert!(matches!(
        c.create_aspect_def(id, &extra).await,
        Err(ClientError::Conflict { .. })
    ));
    let defs: Vec<AspectDef> = c.aspect_defs(id, 1).try_collect().await.unwrap();
    assert_eq!(defs, vec![person(), extra.clone()]);
    assert_eq!(
        c.get_aspect_def(id, &extra.id().to_string()).await.unwrap(),
        extra
    );
    assert_eq!(
        c.list_aspect_defs(id, 0, 1).await.unwrap().page.total_pages,
        2
    );
    assert!(c.delete_aspect_def(id, "com.example.tag").await.unwrap());
    assert!(!c.delete_aspect_def(id, "com.example.tag").await.unwrap());

    // Aspects.
    let e1 = Uuid::new_v4();
    let e2 = Uuid::new_v4();
    let def = Arc::new(person());
    let a1 = Aspect::builder(def.clone(), e1)
        .set("firstName", "Ada")
        .set("age", 36)
        .build()
        .unwrap();
    let r = c.upsert(id, std::slice::from_ref(&a1)).await.unwrap();
    assert_eq!((r.success_count, r.results[0].created), (1, true));
    let partial = AspectInput {
        entity_id: e2,
        properties: json!({"age": 3}).as_object().unwrap().clone(),
    };
    let r = c.upsert_aspects(id, def.name(), &[partial]).await.unwrap();
    assert_eq!(r.failure_count, 1, "firstName is required");
    let maps = c
        .query_aspect_maps(id, &[e1, e2], &[def.name().to_owned()])
        .await
        .unwrap();
    assert_eq!(maps.len(), 1);
    assert_eq!(maps[0].get(e1), Some(&a1));
    assert_eq!(
        c.query_aspects(id, &[e2], &[def.name().to_owned()])
            .await
            .unwrap()
            .results
            .len(),
        0
    );

    // Hierarchies.
    c.add_entities(id, "people", &[e1, e2, e1]).await.unwrap();
    let people: Vec<Uuid> = c
        .hierarchy_entities(id, "people", 2)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(people, vec![e1, e2, e1]);
    // One occurrence per id given, as the reference removes them.
    assert_eq!(
        c.remove_entities(id, "people", &[e1]).await.unwrap().count,
        1
    );
    let people: Vec<Uuid> = c
        .hierarchy_entities(id, "people", 2)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(people, vec![e2, e1]);
    let mut entries = IndexMap::new();
    entries.insert("a.txt".to_owned(), e1);
    entries.insert("b.txt".to_owned(), e2);
    c.add_directory_entries(id, "docs", &entries).await.unwrap();
    assert_eq!(
        c.remove_directory_entries(id, "docs", &DirectoryRemoval::Names(vec!["a.txt".into()]))
            .await
            .unwrap()
            .count,
        1
    );
    assert_eq!(
        c.remove_directory_entries(id, "docs", &DirectoryRemoval::Entities(vec![e2]))
            .await
            .unwrap()
            .count,
        1
    );
    let mut nodes = IndexMap::new();
    nodes.insert("x".to_owned(), Some(e1));
    nodes.insert("y".to_owned(), None);
    c.add_tree_nodes(id, "tree", "/", &nodes).await.unwrap();
    match c.get_hierarchy(id, "tree", 0, 10).await.unwrap() {
        HierarchyPage::Tree(t) => assert_eq!(t.root["children"]["x"]["entityId"], json!(e1)),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        c.remove_tree_nodes(id, "tree", &["/x".into()])
            .await
            .unwrap()
            .nodes_affected,
        1
    );
    assert!(matches!(
        c.get_hierarchy(id, "docs", 0, 10).await.unwrap(),
        HierarchyPage::Directory(_)
    ));
    assert!(matches!(
        c.get_hierarchy(id, def.name(), 0, 10).await.unwrap(),
        HierarchyPage::AspectMap(_)
    ));
    c.create_hierarchy(id, &HierarchyDef::new("set", HierarchyType::EntitySet))
        .await
        .unwrap();
    assert!(c.delete_hierarchy(id, "set").await.unwrap());
    assert!(matches!(
        c.get_hierarchy(id, "set", 0, 10).await,
        Err(ClientError::NotFound { .. })
    ));

    // Whole catalogs, system routes, errors.
    let whole = c.export_catalog(id).await.unwrap();
    assert_eq!(whole.hierarchy("people").unwrap().len(), 2);
    let copy = cheap_core::json::catalog_from_str(
        &cheap_core::json::ToJson::to_json(&whole)
            .replace(&id.to_string(), &Uuid::new_v4().to_string()),
    )
    .unwrap();
    c.import_catalog(&copy).await.unwrap();
    let all: Vec<_> = c.catalogs(10).try_collect().await.unwrap();
    assert_eq!(all.len(), 2);
    let third = cheap_core::json::catalog_from_str(
        &cheap_core::json::ToJson::to_json(&whole)
            .replace(&id.to_string(), &Uuid::new_v4().to_string()),
    )
    .unwrap();
    let task = c.import_catalog_background(&third).await.unwrap();
    let mut status = task.status.clone();
    for _ in 0..100 {
        status = c.task_status(task.task_id).await.unwrap().status;
        if status != "running" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(status, "succeeded");
    assert!(c.delete_catalog(third.id()).await.unwrap());
    assert!(c
        .metrics()
        .await
        .unwrap()
        .contains("cheap_dao_operations_total"));
    assert!(c.api_docs().await.unwrap()["paths"].is_object());
    match c
        .create_catalog_with(CatalogSpecies::Mirror, None, None)
        .await
    {
        Err(ClientError::BadRequest {
            status: 400,
            errors,
            ..
        }) => assert_eq!(errors[0].field, "upstream"),
        other => panic!("{other:?}"),
    }
    assert!(c.delete_catalog(id).await.unwrap());
    assert!(!c.delete_catalog(id).await.unwrap());
    assert!(matches!(
        c.get_catalog(id).await,
        Err(ClientError::NotFound { .. })
    ));
    assert!(matches!(
        CheapClient::new("localhost:1"),
        Err(ClientError::Invalid(_))
    ));
}

#[test]
fn the_blocking_client_covers_every_endpoint() {
    let (base, _dir) = start_server();
    let c = blocking::CheapClient::new(&base).unwrap();
    assert_eq!(c.health_check().unwrap().status, "UP");
    let id = c
        .create_catalog_with(CatalogSpecies::Source, None, Some(&catalog_def()))
        .unwrap()
        .catalog_id;
    assert_eq!(c.get_catalog(id).unwrap().aspect_defs.len(), 1);
    assert_eq!(c.get_catalog_def(id).unwrap(), catalog_def());
    assert_eq!(
        c.catalog_ids(5).collect::<Result<Vec<_>, _>>().unwrap(),
        vec![id]
    );
    assert_eq!(c.list_catalogs(0, 5).unwrap().catalog_ids, vec![id]);
    let extra = AspectDef::builder("com.example.note")
        .property(PropertyDef::new("t", PropertyType::Text))
        .build()
        .unwrap();
    c.create_aspect_def(id, &extra).unwrap();
    assert_eq!(c.aspect_defs(id, 1).count(), 2);
    assert_eq!(c.list_aspect_defs(id, 0, 10).unwrap().aspect_defs.len(), 2);
    assert_eq!(c.get_aspect_def(id, "com.example.note").unwrap(), extra);
    assert!(c.delete_aspect_def(id, "com.example.note").unwrap());
    let e = Uuid::new_v4();
    let a = Aspect::builder(Arc::new(person()), e)
        .set("firstName", "Grace")
        .build()
        .unwrap();
    c.upsert(id, std::slice::from_ref(&a)).unwrap();
    let input = AspectInput {
        entity_id: e,
        properties: json!({"age": 85}).as_object().unwrap().clone(),
    };
    // Replacing without the required firstName fails; merging over the stored aspect works.
    let r = c
        .upsert_aspects(id, "com.example.person", std::slice::from_ref(&input))
        .unwrap();
    assert_eq!(r.failure_count, 1, "{r:?}");
    c.merge_aspects(id, "com.example.person", &[input]).unwrap();
    let maps = c
        .query_aspect_maps(id, &[e], &["com.example.person".into()])
        .unwrap();
    assert_eq!(
        maps[0].get(e).unwrap().get("age").and_then(|v| v.as_i64()),
        Some(85)
    );
    assert_eq!(
        c.query_aspects(id, &[e], &["com.example.person".into()])
            .unwrap()
            .results
            .len(),
        1
    );
    c.add_entities(id, "people", &[e]).unwrap();
    assert_eq!(
        c.hierarchy_entities(id, "people", 10)
            .collect::<Result<Vec<_>, _>>()
            .unwrap(),
        vec![e]
    );
    c.remove_entities(id, "people", &[e]).unwrap();
    let mut entries = IndexMap::new();
    entries.insert("k".to_owned(), e);
    c.add_directory_entries(id, "docs", &entries).unwrap();
    c.remove_directory_entries(id, "docs", &DirectoryRemoval::Names(vec!["k".into()]))
        .unwrap();
    let mut nodes = IndexMap::new();
    nodes.insert("n".to_owned(), Some(e));
    c.add_tree_nodes(id, "tree", "/", &nodes).unwrap();
    c.remove_tree_nodes(id, "tree", &["/n".into()]).unwrap();
    c.create_hierarchy(id, &HierarchyDef::new("s", HierarchyType::EntitySet))
        .unwrap();
    assert!(matches!(
        c.get_hierarchy(id, "s", 0, 5).unwrap(),
        HierarchyPage::Entities(_)
    ));
    assert!(c.delete_hierarchy(id, "s").unwrap());
    let whole = c.export_catalog(id).unwrap();
    c.import_catalog(&whole).unwrap();
    let task = c.import_catalog_background(&whole).unwrap();
    assert_eq!(c.task_status(task.task_id).unwrap().task_id, task.task_id);
    assert!(c.metrics().unwrap().contains("cheap_dao"));
    assert!(c.api_docs().unwrap().is_object());
    assert!(c.delete_catalog(id).unwrap());
    let req = cheap_core::rest::CreateCatalogRequest {
        catalog_def: None,
        species: "SINK".into(),
        upstream: None,
    };
    assert!(c.create_catalog(&req).is_ok());
}

#[tokio::test]
async fn the_blocking_client_works_inside_a_tokio_runtime() {
    let (base, _dir) = tokio::task::spawn_blocking(start_server).await.unwrap();
    // Created, used and dropped on a runtime thread: no panic, and it works.
    let c = blocking::CheapClient::new(&base).unwrap();
    assert_eq!(c.health_check().unwrap().status, "UP");
    drop(c);
}
