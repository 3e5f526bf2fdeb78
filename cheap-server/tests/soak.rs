//! Concurrency soak: clients run mixed operations at once against one real server per backend
//! (through the REST API, as `RemoteDao`), each keeping an in-memory model of what it wrote.
//! At the end the stored state must equal the models: no lost or phantom write, no error.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use cheap_client::RemoteDao;
use cheap_core::{
    Aspect, AspectDef, Catalog, CheapDao, HierarchyDef, HierarchyType, PropertyDef, PropertyType,
    Uuid,
};
use common::{mariadb_server, postgres_server, sqlite_server, TestServer};

const CLIENTS: usize = 8;
const OPS: usize = 60;

/// What one client wrote to the shared catalog.
#[derive(Default)]
struct Model {
    aspects: BTreeMap<Uuid, i64>,
    set: BTreeSet<Uuid>,
    dir: BTreeMap<String, Uuid>,
    list: Vec<Uuid>,
    own_catalogs: BTreeSet<Uuid>,
}

fn def() -> Arc<AspectDef> {
    AspectDef::builder("soak.item")
        .property(PropertyDef::new("n", PropertyType::Integer).nullable(false))
        .build()
        .unwrap()
        .into_arc()
}

/// A small deterministic generator per client (no shared randomness, reproducible runs).
struct Rng(u64);
impl Rng {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

async fn client(dao: Arc<dyn CheapDao>, catalog: Uuid, c: usize) -> (Model, usize) {
    let d = def();
    let mut m = Model::default();
    let mut rng = Rng(c as u64 + 1);
    let mut mine: Vec<Uuid> = Vec::new();
    for op in 0..OPS {
        match rng.next(8) {
            0 | 1 => {
                let e = Uuid::new_v4();
                let n = (c * 1000 + op) as i64;
                let a = Aspect::builder(d.clone(), e).set("n", n).build().unwrap();
                dao.upsert_aspects(catalog, d.name(), &[a]).await.unwrap();
                m.aspects.insert(e, n);
                mine.push(e);
            }
            2 if !mine.is_empty() => {
                let e = mine.swap_remove(rng.next(mine.len() as u64) as usize);
                assert_eq!(
                    dao.delete_aspects(catalog, d.name(), &[e]).await.unwrap(),
                    1
                );
                m.aspects.remove(&e);
            }
            3 => {
                let e = Uuid::new_v4();
                dao.add_entities(catalog, "set", &[e]).await.unwrap();
                dao.add_entities(catalog, "list", &[e]).await.unwrap();
                m.set.insert(e);
                m.list.push(e);
            }
            4 if !m.set.is_empty() => {
                let e = *m.set.iter().next().unwrap();
                assert_eq!(dao.remove_entities(catalog, "set", &[e]).await.unwrap(), 1);
                m.set.remove(&e);
            }
            5 => {
                let k = format!("c{c}-k{}", rng.next(10));
                let e = Uuid::new_v4();
                dao.put_directory_entries(catalog, "dir", &[(k.clone(), e)])
                    .await
                    .unwrap();
                m.dir.insert(k, e);
            }
            6 if !m.dir.is_empty() => {
                let k = m.dir.keys().next().unwrap().clone();
                assert_eq!(
                    dao.remove_directory_keys(catalog, "dir", std::slice::from_ref(&k))
                        .await
                        .unwrap(),
                    1
                );
                m.dir.remove(&k);
            }
            _ => {
                // A catalog of its own: create, and now and then delete one.
                if rng.next(3) == 0 && !m.own_catalogs.is_empty() {
                    let id = *m.own_catalogs.iter().next().unwrap();
                    assert!(dao.delete_catalog(id).await.unwrap());
                    m.own_catalogs.remove(&id);
                } else {
                    let own = Catalog::new();
                    dao.save_catalog(&own).await.unwrap();
                    m.own_catalogs.insert(own.id());
                }
            }
        }
    }
    (m, OPS)
}

async fn soak(server: &TestServer) {
    let dao: Arc<dyn CheapDao> = Arc::new(RemoteDao::connect(&server.base).unwrap());
    let mut shared = Catalog::new();
    let catalog = shared.id();
    shared.extend(def()).unwrap();
    dao.save_catalog(&shared).await.unwrap();
    for (name, t) in [
        ("set", HierarchyType::EntitySet),
        ("list", HierarchyType::EntityList),
        ("dir", HierarchyType::EntityDirectory),
    ] {
        dao.create_hierarchy(catalog, &HierarchyDef::new(name, t))
            .await
            .unwrap();
    }
    let before = dao.catalog_count().await.unwrap();
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|c| tokio::spawn(client(dao.clone(), catalog, c)))
        .collect();
    let mut models = Vec::new();
    let mut ops = 0;
    for t in tasks {
        let (m, n) = t.await.expect("a client failed");
        models.push(m);
        ops += n;
    }

    let stored = dao.load_catalog(catalog).await.unwrap();
    let want_aspects: BTreeMap<Uuid, i64> = models.iter().flat_map(|m| m.aspects.clone()).collect();
    let got_aspects: BTreeMap<Uuid, i64> = stored
        .aspects("soak.item")
        .unwrap()
        .iter()
        .map(|a| (a.entity_id(), a.get("n").and_then(|v| v.as_i64()).unwrap()))
        .collect();
    assert_eq!(got_aspects, want_aspects, "aspects: lost or phantom writes");
    let want_set: BTreeSet<Uuid> = models.iter().flat_map(|m| m.set.clone()).collect();
    let got_set: BTreeSet<Uuid> = stored
        .hierarchy("set")
        .and_then(|h| h.as_set())
        .unwrap()
        .iter()
        .collect();
    assert_eq!(got_set, want_set, "set members");
    let want_dir: BTreeMap<String, Uuid> = models.iter().flat_map(|m| m.dir.clone()).collect();
    let got_dir: BTreeMap<String, Uuid> = stored
        .hierarchy("dir")
        .and_then(|h| h.as_directory())
        .unwrap()
        .iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    assert_eq!(got_dir, want_dir, "directory entries");
    let mut want_list: Vec<Uuid> = models.iter().flat_map(|m| m.list.clone()).collect();
    let mut got_list: Vec<Uuid> = stored
        .hierarchy("list")
        .and_then(|h| h.as_list())
        .unwrap()
        .0
        .clone();
    want_list.sort();
    got_list.sort();
    assert_eq!(got_list, want_list, "list entries");
    // Each client's list entries keep their order.
    let order = &stored
        .hierarchy("list")
        .and_then(|h| h.as_list())
        .unwrap()
        .0;
    for m in &models {
        let seen: Vec<Uuid> = order
            .iter()
            .copied()
            .filter(|e| m.list.contains(e))
            .collect();
        assert_eq!(seen, m.list, "one client's appends keep their order");
    }
    let own: usize = models.iter().map(|m| m.own_catalogs.len()).sum();
    assert_eq!(
        dao.catalog_count().await.unwrap(),
        before + own as u64,
        "catalogs created and deleted"
    );
    eprintln!(
        "{}: {CLIENTS} clients x {OPS} operations = {ops}, {} aspects, {} set members, {} keys, {} list entries, {own} own catalogs: all as modelled",
        server.dao.backend_name(),
        got_aspects.len(),
        got_set.len(),
        got_dir.len(),
        got_list.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn soak_on_sqlite() {
    let (s, _dir) = sqlite_server().await;
    soak(&s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn soak_on_postgres() {
    if let Some((s, pg)) = postgres_server().await {
        soak(&s).await;
        common::drop_postgres_schema(&pg).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn soak_on_mariadb() {
    if let Some((s, my)) = mariadb_server().await {
        soak(&s).await;
        common::drop_mariadb_database(&my).await;
    }
}
