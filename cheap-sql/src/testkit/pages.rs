//! Pages by number at any depth: what the position index finds is what the store holds, after
//! this store's own writes of every kind, a batch, and another store's writes over the same
//! database.

use uuid::Uuid;

use crate::{SqlBackend, SqlDao};
use cheap_core::dao::{Batch, BatchOp};
use cheap_core::{Aspect, AspectDef, Catalog, CheapDao, HierarchyContent, PropertyDef};
use cheap_core::{HierarchyDef, HierarchyType, PropertyType, PropertyValue};

/// Entries of each hierarchy at the start: several chunks of the index.
const N: usize = 1_300;
const PAGE: u64 = 7;

fn ids(n: usize) -> Vec<Uuid> {
    (0..n).map(|_| Uuid::new_v4()).collect()
}

/// The entity ids of a page, in order.
fn entities(content: &HierarchyContent) -> Vec<Uuid> {
    match content {
        HierarchyContent::List(l) => l.0.clone(),
        HierarchyContent::Set(s) => s.iter().collect(),
        HierarchyContent::Directory(d) => d.iter().map(|(_, e)| e).collect(),
        HierarchyContent::AspectMap(m) => m.iter().map(|a| a.entity_id()).collect(),
        other => panic!("{other:?}"),
    }
}

/// Reads pages of `name` by number, shallow and deep, through `dao`, and compares each with
/// the expected order of its entities.
async fn check<D: CheapDao + ?Sized>(
    dao: &D,
    catalog: Uuid,
    name: &str,
    want: &[Uuid],
    when: &str,
) {
    let len = want.len() as u64;
    for offset in [
        0,
        100,
        255,
        256,
        300,
        511,
        700,
        1_000,
        len - 3,
        len - PAGE,
        len,
    ] {
        let page = dao
            .read_hierarchy_page(catalog, name, offset, PAGE)
            .await
            .unwrap_or_else(|e| panic!("{when}: page of '{name}' at {offset}: {e}"));
        let from = (offset as usize).min(want.len());
        let to = (from + PAGE as usize).min(want.len());
        assert_eq!(
            entities(&page.hierarchy.content),
            want[from..to].to_vec(),
            "{when}: '{name}' at {offset}"
        );
        assert_eq!(page.total, len, "{when}: '{name}' total");
    }
}

/// The statements one page by number costs.
async fn cost<B: SqlBackend>(dao: &SqlDao<B>, catalog: Uuid, name: &str, offset: u64) -> u64 {
    let before = dao.statements();
    dao.read_hierarchy_page(catalog, name, offset, PAGE)
        .await
        .expect("page");
    dao.statements() - before
}

/// `a` and `b` are two stores over one database (as two processes would be).
pub async fn pages_by_number_stay_exact<B: SqlBackend>(a: &SqlDao<B>, b: &SqlDao<B>) {
    let def = AspectDef::builder("pages.Thing")
        .property(PropertyDef::new("s", PropertyType::String))
        .build()
        .expect("def")
        .into_arc();
    let aspect = |e: Uuid| {
        Aspect::builder(def.clone(), e)
            .set("s", PropertyValue::String("x".into()))
            .build()
            .expect("aspect")
    };
    let mut list = ids(N);
    // A list may hold an entity more than once.
    list[900] = list[10];
    let mut set = ids(N);
    let mut dir: Vec<(String, Uuid)> = ids(N).into_iter().map(|e| (e.to_string(), e)).collect();
    let mut map = ids(N);
    let mut catalog = Catalog::new();
    let id = catalog.id();
    let m = catalog.extend(def.clone()).expect("extend");
    for e in &map {
        m.put(aspect(*e)).expect("put");
    }
    let l = catalog.create_entity_list("list").expect("list");
    for e in &list {
        l.add(*e);
    }
    let s = catalog.create_entity_set("set").expect("set");
    for e in &set {
        s.add(*e);
    }
    let d = catalog.create_entity_directory("dir").expect("dir");
    for (k, e) in &dir {
        d.put(k.clone(), *e);
    }
    a.save_catalog(&catalog).await.expect("save");
    let name = def.name().to_owned();
    let dir_ids = |dir: &[(String, Uuid)]| dir.iter().map(|(_, e)| *e).collect::<Vec<_>>();
    check(a, id, "list", &list, "saved").await;
    check(a, id, "set", &set, "saved").await;
    check(a, id, "dir", &dir_ids(&dir), "saved").await;
    check(a, id, &name, &map, "saved").await;

    // Inserts in the middle, at the front and many at one place (until the entries after it
    // move up), appends, removals of every occurrence: each checked at every depth.
    let fresh = ids(3);
    a.insert_entities(id, "list", 700, &fresh)
        .await
        .expect("insert");
    list.splice(700..700, fresh);
    check(a, id, "list", &list, "after an insert").await;
    // The index followed the insert: a deep page costs what the first one does.
    let first = cost(a, id, "list", 0).await;
    let e = Uuid::new_v4();
    a.insert_entities(id, "list", 650, &[e])
        .await
        .expect("insert");
    list.insert(650, e);
    assert_eq!(
        cost(a, id, "list", 1_000).await,
        first,
        "a deep page after an insert"
    );
    for _ in 0..14 {
        let e = Uuid::new_v4();
        a.insert_entities(id, "list", 400, &[e])
            .await
            .expect("insert");
        list.insert(400, e);
    }
    check(a, id, "list", &list, "after the entries moved up").await;
    let front = Uuid::new_v4();
    a.insert_entities(id, "list", 0, &[front])
        .await
        .expect("front");
    list.insert(0, front);
    let tail = ids(2);
    a.add_entities(id, "list", &tail).await.expect("append");
    list.extend(&tail);
    let gone = [list[10], list[600], list[1_200]];
    a.remove_entities(id, "list", &gone).await.expect("remove");
    list.retain(|e| !gone.contains(e));
    check(a, id, "list", &list, "after inserts, appends and removals").await;

    // Another store writes: this one's index is outdated and must not be used.
    let theirs = Uuid::new_v4();
    b.insert_entities(id, "list", 800, &[theirs])
        .await
        .expect("their insert");
    list.insert(800, theirs);
    // Built again (one statement: the entries counted, every chunk's first order read), then
    // used.
    assert_eq!(
        cost(a, id, "list", 1_000).await,
        first + 1,
        "after another store's write"
    );
    assert_eq!(cost(a, id, "list", 1_000).await, first);
    check(a, id, "list", &list, "after another store's insert").await;
    check(b, id, "list", &list, "the other store").await;
    // A batch: one transaction, several writes to the list.
    let (x, y, r) = (Uuid::new_v4(), Uuid::new_v4(), list[1_000]);
    let batch = Batch::new()
        .op(BatchOp::InsertEntities {
            hierarchy: "list".into(),
            index: 500,
            entity_ids: vec![x],
        })
        .op(BatchOp::RemoveEntities {
            hierarchy: "list".into(),
            entity_ids: vec![r],
            every_occurrence: false,
        })
        .op(BatchOp::InsertEntities {
            hierarchy: "list".into(),
            index: 300,
            entity_ids: vec![y],
        });
    a.apply_batch(id, &batch).await.expect("batch");
    list.insert(500, x);
    let at = list.iter().position(|e| *e == r).expect("in the list");
    list.remove(at);
    list.insert(300, y);
    // The batch's steps moved the index along, as a single write's do.
    assert_eq!(
        cost(a, id, "list", 1_000).await,
        first,
        "a deep page after a batch"
    );
    check(a, id, "list", &list, "after a batch").await;
    let z = Uuid::new_v4();
    a.insert_entities(id, "list", 650, &[z])
        .await
        .expect("insert");
    list.insert(650, z);
    check(a, id, "list", &list, "after a batch and an insert").await;

    // Sets: appends and removals here and there.
    let more = ids(4);
    a.add_entities(id, "set", &more).await.expect("add");
    set.extend(&more);
    let out = [set[5], set[640], set[set.len() - 1]];
    a.remove_entities(id, "set", &out).await.expect("remove");
    set.retain(|e| !out.contains(e));
    check(a, id, "set", &set, "after set writes").await;
    b.remove_entities(id, "set", &[set[300]])
        .await
        .expect("their remove");
    set.remove(300);
    check(a, id, "set", &set, "after another store's set write").await;

    // Directories: a key put again keeps its place, new keys come last, removals by key and by
    // entity.
    let again = (dir[420].0.clone(), Uuid::new_v4());
    let new = (String::from("new key"), Uuid::new_v4());
    a.put_directory_entries(id, "dir", &[again.clone(), new.clone()])
        .await
        .expect("put");
    dir[420] = again;
    dir.push(new);
    let key = dir[333].0.clone();
    a.remove_directory_keys(id, "dir", &[key])
        .await
        .expect("remove key");
    dir.remove(333);
    let who = dir[900].1;
    a.remove_directory_entities(id, "dir", &[who])
        .await
        .expect("remove entity");
    dir.remove(900);
    check(a, id, "dir", &dir_ids(&dir), "after directory writes").await;

    // Aspect maps: new aspects come last, deleted ones go.
    let added = ids(2);
    let new: Vec<Aspect> = added.iter().map(|e| aspect(*e)).collect();
    a.upsert_aspects(id, &name, &new).await.expect("upsert");
    map.extend(&added);
    let deleted = [map[260], map[1_100]];
    a.delete_aspects(id, &name, &deleted).await.expect("delete");
    map.retain(|e| !deleted.contains(e));
    check(a, id, &name, &map, "after aspect writes").await;

    // The whole catalog saved again: every index is outdated.
    let mut whole = a.load_catalog(id).await.expect("load");
    let l = whole.hierarchy_mut("list").expect("list");
    if let HierarchyContent::List(entries) = &mut l.content {
        entries.0.reverse();
    }
    a.save_catalog(&whole).await.expect("save again");
    list.reverse();
    check(a, id, "list", &list, "after the catalog was saved again").await;

    // A batch whose noted steps do not say all it did to the list (it was replaced in
    // between): pages still come from what is stored.
    check(a, id, "list", &list, "the index built").await;
    let refill = ids(600);
    let batch = Batch::new()
        .op(BatchOp::InsertEntities {
            hierarchy: "list".into(),
            index: 500,
            entity_ids: vec![Uuid::new_v4()],
        })
        .op(BatchOp::ReplaceHierarchy {
            def: HierarchyDef::new("list", HierarchyType::EntityList),
        })
        .op(BatchOp::AddEntities {
            hierarchy: "list".into(),
            entity_ids: refill.clone(),
        });
    a.apply_batch(id, &batch).await.expect("batch");
    check(
        a,
        id,
        "list",
        &refill,
        "after a batch that replaced the list",
    )
    .await;
    a.delete_catalog(id).await.expect("cleanup");
}
