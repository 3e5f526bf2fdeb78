//! Many servers, one store. Three servers, one per node of a real 3-node MariaDB Galera cluster (scripts/galera-cluster.sh
//! on 127.0.0.1:3311-3313): concurrent writers through all of them, a node killed with SIGKILL
//! mid-run and another cut off from the primary component. Checked: no 500 (503 allowed), every
//! acknowledged write visible through every server, nothing invented, identical exports, the
//! cut-off node's /health 503 while the others serve, and recovery without restarting a server.
//!
//! The Galera tests run when `CHEAP_TEST_GALERA=1` (needs galera-4 and rsync; `.ci/run` installs
//! them and runs these tests on their own after the workspace's). And three servers over one PostgreSQL database, with the same writers
//! (upserts, a hot entity all overwrite, list, set, directory and tree writes) and checks.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cheap_core::json::ToJson;
use cheap_core::{AspectDef, CheapDao, PropertyDef, PropertyType};
use common::TestServer;
use serde_json::{json, Value};
use uuid::Uuid;

fn cluster(args: &[&str]) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/galera-cluster.sh");
    let out = Command::new("bash")
        .arg(script)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "galera-cluster.sh {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// One cluster at a time: the Galera tests share its ports.
static CLUSTER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Takes the cluster down when the test ends, however it ends.
struct Cluster;

/// The cluster (held until the guard drops) and a server on each node; `None`, with a notice,
/// unless `CHEAP_TEST_GALERA=1`.
async fn galera() -> Option<(
    (Cluster, tokio::sync::MutexGuard<'static, ()>),
    [TestServer; 3],
)> {
    if std::env::var("CHEAP_TEST_GALERA").as_deref() != Ok("1") {
        eprintln!("skipping the Galera run: set CHEAP_TEST_GALERA=1 (needs galera-4 and rsync)");
        return None;
    }
    let one = CLUSTER.lock().await;
    cluster(&["up"]);
    let down = Cluster;
    let servers = [server(1).await, server(2).await, server(3).await];
    // Tuple fields drop in order: the cluster goes down before the next test may start one.
    Some(((down, one), servers))
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/galera-cluster.sh");
        let _ = Command::new("bash").arg(script).arg("down").output();
    }
}

async fn node_sql(node: u8, sql: &str) {
    use mysql_async::prelude::Queryable;
    let url = format!("mysql://root@127.0.0.1:331{node}/test");
    let pool = mysql_async::Pool::new(mysql_async::Opts::from_url(&url).unwrap());
    let mut conn = pool.get_conn().await.unwrap();
    conn.query_drop(sql).await.unwrap();
    drop(conn);
    pool.disconnect().await.unwrap();
}

async fn node_count(node: u8, sql: &str) -> i64 {
    use mysql_async::prelude::Queryable;
    let url = format!("mysql://root@127.0.0.1:331{node}/test");
    let pool = mysql_async::Pool::new(mysql_async::Opts::from_url(&url).unwrap());
    let mut conn = pool.get_conn().await.unwrap();
    let n: Option<i64> = conn.query_first(sql).await.unwrap();
    drop(conn);
    pool.disconnect().await.unwrap();
    n.unwrap_or(0)
}

async fn server(node: u8) -> TestServer {
    // Read-your-writes through any node (README: "Running several servers").
    let url = format!("mysql://root@127.0.0.1:331{node}/test?wsrep_sync_wait=1");
    let dao = cheap::mariadb::MariaDbOptions::url(&url)
        .max_connections(8)
        .acquire_timeout(Duration::from_secs(3))
        .connect()
        .await
        .unwrap();
    common::start(Arc::new(dao), Default::default()).await
}

#[derive(Default)]
struct Tally {
    statuses: BTreeMap<u16, u64>,
    acknowledged: BTreeMap<Uuid, String>,
    attempted: BTreeSet<Uuid>,
    listed: Vec<Uuid>,
    /// Acknowledged set adds, directory puts (key = entity) and tree nodes (name = entity).
    in_set: Vec<Uuid>,
    in_directory: Vec<Uuid>,
    in_tree: Vec<Uuid>,
    /// Which writer wrote each entity, and when (for a failure's report).
    origin: BTreeMap<Uuid, (usize, Duration)>,
}

impl Tally {
    fn merge(&mut self, t: Tally) {
        for (k, v) in t.statuses {
            *self.statuses.entry(k).or_default() += v;
        }
        self.acknowledged.extend(t.acknowledged);
        self.attempted.extend(t.attempted);
        self.listed.extend(t.listed);
        self.in_set.extend(t.in_set);
        self.in_directory.extend(t.in_directory);
        self.in_tree.extend(t.in_tree);
        self.origin.extend(t.origin);
    }
}

/// Creates the catalog every writer writes: an aspect def and one hierarchy of each kind.
async fn shared_catalog(s: &TestServer) -> Uuid {
    let (status, body) = s.post("/api/catalog", &json!({"species": "sink"})).await;
    assert_eq!(status, 201, "{body}");
    let catalog: Uuid = body["catalogId"].as_str().unwrap().parse().unwrap();
    let note = AspectDef::builder("note")
        .property(PropertyDef::new("text", PropertyType::String))
        .build()
        .unwrap()
        .to_json_value();
    assert_eq!(
        s.post(&format!("/api/catalog/{catalog}/aspect-defs"), &note)
            .await
            .0,
        201
    );
    for (name, kind) in [("list", "EL"), ("set", "ES"), ("dir", "ED"), ("tree", "ET")] {
        let (status, body) = s
            .post(
                &format!("/api/catalog/{catalog}/hierarchies"),
                &json!({"hierarchyDef": {"name": name, "type": kind}}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }
    catalog
}

/// One writer through one server: `rounds` of (upsert its own entity, overwrite the hot
/// entity, append to the list). Returns what was acknowledged.
async fn writer(s: &TestServer, catalog: Uuid, hot: Uuid, who: usize, rounds: usize) -> Tally {
    let mut t = Tally::default();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    for r in 0..rounds {
        let e = Uuid::new_v4();
        let text = format!("w{who}r{r}");
        t.origin.insert(e, (who, started().elapsed()));
        for entity in [e, hot] {
            t.attempted.insert(entity);
            let body = json!({"aspects": [{"entityId": entity, "properties": {"text": text}}]});
            let status = match client
                .post(s.url(&format!("/api/catalog/{catalog}/aspects/note")))
                .json(&body)
                .send()
                .await
            {
                Ok(resp) => resp.status().as_u16(),
                Err(_) => 0,
            };
            *t.statuses.entry(status).or_default() += 1;
            if status == 200 && entity == e {
                t.acknowledged.insert(e, text.clone());
            }
        }
        let status = match client
            .post(s.url(&format!("/api/catalog/{catalog}/hierarchies/list/entities")))
            .json(&json!({"entityIds": [e]}))
            .send()
            .await
        {
            Ok(resp) => resp.status().as_u16(),
            Err(_) => 0,
        };
        *t.statuses.entry(status).or_default() += 1;
        if status == 200 {
            t.listed.push(e);
        }
        let writes = [
            ("set/entities", json!({"entityIds": [e]})),
            ("dir/entries", json!({"entries": {e.to_string(): e}})),
            (
                "tree/nodes",
                json!({"parentPath": "/", "nodes": {e.to_string(): e}}),
            ),
        ];
        for (n, (path, body)) in writes.into_iter().enumerate() {
            let status = match client
                .post(s.url(&format!("/api/catalog/{catalog}/hierarchies/{path}")))
                .json(&body)
                .send()
                .await
            {
                Ok(resp) => resp.status().as_u16(),
                Err(_) => 0,
            };
            *t.statuses.entry(status).or_default() += 1;
            if (200..300).contains(&status) {
                [&mut t.in_set, &mut t.in_directory, &mut t.in_tree][n].push(e);
            }
        }
    }
    t
}

/// What was acknowledged is there through every server, nothing was invented, no answer was
/// a 5xx but 503, and every server exports the same catalog.
async fn check_all(servers: &[TestServer], catalog: Uuid, all: &Tally, label: &str) {
    let statuses = &all.statuses;
    let bad: Vec<_> = statuses
        .iter()
        .filter(|(s, _)| (**s >= 500 && **s != 503) || **s == 0)
        .collect();
    assert!(bad.is_empty(), "{label}: statuses {statuses:?}");
    eprintln!(
        "{label}: statuses {statuses:?}; acknowledged {} upserts, {} list, {} set, {} directory, {} tree writes",
        all.acknowledged.len(),
        all.listed.len(),
        all.in_set.len(),
        all.in_directory.len(),
        all.in_tree.len()
    );
    let mut exports = Vec::new();
    for (n, s) in servers.iter().enumerate() {
        let (status, body) = s
            .post(
                &format!("/api/catalog/{catalog}/aspects/query"),
                &json!({"entityIds": all.attempted.iter().collect::<Vec<_>>(), "aspectDefNames": ["note"]}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let found = body["results"]
            .as_array()
            .and_then(|r| r.iter().find(|m| m["aspectDef"] == "note"))
            .and_then(|m| m["contents"].as_object().cloned())
            .unwrap_or_default();
        for (e, text) in &all.acknowledged {
            let got = found.get(&e.to_string()).map(|a| &a["text"]);
            assert_eq!(
                got,
                Some(&json!(text)),
                "{label}, server {}: acknowledged write of {e}",
                n + 1
            );
        }
        for e in found.keys() {
            assert!(
                all.attempted.contains(&e.parse().unwrap()),
                "{label}, server {}: {e} was never written",
                n + 1
            );
        }
        let export = s.export(catalog).await;
        let c = cheap_core::json::catalog_from_str(&export).unwrap();
        let list = c.hierarchy("list").and_then(|h| h.as_list()).unwrap();
        let set = c.hierarchy("set").and_then(|h| h.as_set()).unwrap();
        let dir = c.hierarchy("dir").and_then(|h| h.as_directory()).unwrap();
        let tree = c.hierarchy("tree").and_then(|h| h.as_tree()).unwrap();
        let missing: Vec<_> = all.listed.iter().filter(|e| !list.contains(**e)).collect();
        if !missing.is_empty() {
            for e in &missing {
                eprintln!(
                    "{label}, server {}: list add of {e} by writer/at {:?} missing",
                    n + 1,
                    all.origin.get(e)
                );
                diagnose(**e).await;
            }
        }
        for e in &all.listed {
            assert!(
                list.contains(*e),
                "{label}, server {}: list add of {e}",
                n + 1
            );
        }
        for e in &all.in_set {
            assert!(
                set.contains(*e),
                "{label}, server {}: set add of {e}",
                n + 1
            );
        }
        for e in &all.in_directory {
            assert_eq!(
                dir.get(&e.to_string()),
                Some(*e),
                "{label}, server {}: directory put",
                n + 1
            );
        }
        for e in &all.in_tree {
            let node = tree.root.children.get(&e.to_string());
            assert_eq!(
                node.and_then(|n| n.entity),
                Some(*e),
                "{label}, server {}: tree node",
                n + 1
            );
        }
        for id in list.iter().chain(set.iter()) {
            assert!(
                all.attempted.contains(&id),
                "{label}: {id} was never written"
            );
        }
        exports.push(export);
    }
    assert!(
        exports.windows(2).all(|w| w[0] == w[1]),
        "{label}: identical exports"
    );
}

fn started() -> Instant {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *START.get_or_init(Instant::now)
}

/// Prints what each Galera node holds for `e` (diagnosis of a failed check).
async fn diagnose(e: Uuid) {
    use mysql_async::prelude::Queryable;
    for node in 1..=3u8 {
        let url = format!("mysql://root@127.0.0.1:331{node}/test");
        let pool = mysql_async::Pool::new(mysql_async::Opts::from_url(&url).unwrap());
        let Ok(mut conn) = pool.get_conn().await else {
            eprintln!("node {node}: no connection");
            continue;
        };
        let rows: Vec<(String, i64)> = conn
            .exec(
                "SELECT hierarchy_name, list_order FROM hierarchy_entity_list WHERE entity_id = ?",
                (e.to_string(),),
            )
            .await
            .unwrap_or_default();
        let set: Vec<String> = conn
            .exec(
                "SELECT hierarchy_name FROM hierarchy_entity_set WHERE entity_id = ?",
                (e.to_string(),),
            )
            .await
            .unwrap_or_default();
        eprintln!("node {node}: list rows {rows:?}; set rows {set:?}");
        // The list around it: how many rows, whether any order repeats or is skipped.
        let orders: Vec<i64> = conn
            .query("SELECT list_order FROM hierarchy_entity_list WHERE hierarchy_name = 'list' ORDER BY list_order")
            .await
            .unwrap_or_default();
        let gaps = orders.windows(2).filter(|w| w[1] != w[0] + 1).count();
        eprintln!(
            "node {node}: list has {} rows, orders {:?}..{:?}, {gaps} gaps or repeats",
            orders.len(),
            orders.first(),
            orders.last()
        );
        drop(conn);
        let _ = pool.disconnect().await;
    }
}

async fn wait_health(s: &TestServer, want: u16, within: Duration) -> (u16, Value) {
    let deadline = Instant::now() + within;
    loop {
        let (status, body) = s.get("/health").await;
        if status == want || Instant::now() > deadline {
            return (status, body);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_servers_over_a_galera_cluster_survive_a_killed_and_an_isolated_node() {
    // Opt-in, outside CI for now: about 1 run in 6 finds an acknowledged list add missing
    // after the node kill (#18), and CI must stay deterministic until that is understood.
    let Some((_cluster, servers)) = galera().await else {
        return;
    };
    for s in &servers {
        let (status, body) = s.get("/health").await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            body["details"]["wsrep_local_state_comment"], "Synced",
            "{body}"
        );
    }

    // The same new def into three catalogs at once, one through each server: all succeed.
    let shared = AspectDef::builder(format!("shared.{}", Uuid::new_v4().simple()))
        .property(PropertyDef::new("v", PropertyType::String))
        .build()
        .unwrap()
        .to_json_value();
    let mut catalogs = Vec::new();
    for s in &servers {
        let (status, body) = s.post("/api/catalog", &json!({"species": "sink"})).await;
        assert_eq!(status, 201, "{body}");
        catalogs.push(body["catalogId"].as_str().unwrap().to_owned());
    }
    let puts = futures::future::join_all(servers.iter().zip(&catalogs).map(|(s, c)| {
        let shared = shared.clone();
        async move {
            s.post(&format!("/api/catalog/{c}/aspect-defs"), &shared)
                .await
        }
    }))
    .await;
    for (status, body) in &puts {
        assert_eq!(
            *status, 201,
            "identical defs at once through three nodes: {body}"
        );
    }

    // The catalog every writer writes.
    let catalog = shared_catalog(&servers[0]).await;
    let hot = Uuid::new_v4();
    let mut all = Tally::default();
    let mut merge = |t: Tally| all.merge(t);

    // Phase 1: every node up.
    let phase = futures::future::join_all(
        servers
            .iter()
            .enumerate()
            .map(|(i, s)| writer(s, catalog, hot, i, 40)),
    )
    .await;
    phase.into_iter().for_each(&mut merge);

    // Phase 2: node 3 killed with SIGKILL while the writers run, then brought back.
    let writers = futures::future::join_all(
        servers
            .iter()
            .enumerate()
            .map(|(i, s)| writer(s, catalog, hot, 10 + i, 40)),
    );
    let killer = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        tokio::task::spawn_blocking(|| cluster(&["kill", "3"]))
            .await
            .unwrap();
    };
    let (phase, ()) = futures::join!(writers, killer);
    phase.into_iter().for_each(&mut merge);
    let (status, _) = wait_health(&servers[2], 503, Duration::from_secs(10)).await;
    assert_eq!(status, 503, "the killed node's server says so");
    tokio::task::spawn_blocking(|| cluster(&["start", "3"]))
        .await
        .unwrap();
    let (status, body) = wait_health(&servers[2], 200, Duration::from_secs(60)).await;
    assert_eq!(status, 200, "node 3 back, its server serves again: {body}");

    // Phase 3: node 2 cut off from the primary component.
    node_sql(2, "SET GLOBAL wsrep_provider_options = 'gmcast.isolate=1'").await;
    let (status, body) = wait_health(&servers[1], 503, Duration::from_secs(30)).await;
    assert_eq!(status, 503, "an isolated node is unhealthy: {body}");
    assert_ne!(body["details"]["wsrep_cluster_status"], "Primary", "{body}");
    let (status, _) = servers[1].get(&format!("/api/catalog/{catalog}")).await;
    assert_eq!(
        status, 503,
        "requests through the isolated node are 503, not 500"
    );
    for s in [&servers[0], &servers[2]] {
        assert_eq!(wait_health(s, 200, Duration::from_secs(30)).await.0, 200);
    }
    let phase = futures::future::join_all(
        [&servers[0], &servers[2]]
            .into_iter()
            .enumerate()
            .map(|(i, s)| writer(s, catalog, hot, 20 + i, 20)),
    )
    .await;
    phase.into_iter().for_each(&mut merge);
    node_sql(2, "SET GLOBAL wsrep_provider_options = 'gmcast.isolate=0'").await;
    let (status, body) = wait_health(&servers[1], 200, Duration::from_secs(60)).await;
    assert_eq!(
        status, 200,
        "the node rejoined; its server serves again: {body}"
    );

    assert!(
        all.acknowledged.len() > 80,
        "too few writes got through: {:?}",
        all.statuses
    );
    eprintln!(
        "galera: {} commits misreported by a node and settled by their token",
        cheap::mariadb::commits_misreported()
    );
    check_all(&servers, catalog, &all, "galera").await;
    // The stores closed before the cluster goes down.
    for s in &servers {
        let _ = s.dao.close().await;
    }
}

/// Three servers over one PostgreSQL database, each with its own pool and metadata cache, as
/// three `cheap serve` processes: the same writers, the same checks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_servers_over_one_postgres_database() {
    let Some((first, dao)) = common::postgres_server().await else {
        return;
    };
    let mut servers = vec![first];
    for _ in 0..2 {
        let other = common::postgres_peer(&dao).await;
        servers.push(common::start(Arc::new(other), Default::default()).await);
    }
    let catalog = shared_catalog(&servers[0]).await;
    let hot = Uuid::new_v4();
    let mut all = Tally::default();
    let phase = futures::future::join_all(
        servers
            .iter()
            .enumerate()
            .map(|(i, s)| writer(s, catalog, hot, i, 30)),
    )
    .await;
    phase.into_iter().for_each(|t| all.merge(t));
    assert!(
        all.statuses.keys().all(|s| (200..300).contains(s)),
        "every write through three servers succeeds on one PostgreSQL: {:?}",
        all.statuses
    );
    check_all(&servers, catalog, &all, "postgres").await;
    common::drop_postgres_schema(&dao).await;
}

/// List adds through three Galera nodes at once, three writers per node and nothing else:
/// every acknowledged add is in the list afterwards, exactly once. (The cluster run above lost
/// one acknowledged add in about 30 runs before commits were checked; this one presses on
/// that path alone.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_adds_through_three_galera_nodes_all_land() {
    let Some((_cluster, servers)) = galera().await else {
        return;
    };
    let catalog = shared_catalog(&servers[0]).await;
    let aborted_before = cheap::mariadb::transactions_aborted_before_commit();
    let misreported_before = cheap::mariadb::commits_misreported();
    let adds = servers.iter().flat_map(|s| {
        (0..3).map(move |_| async move {
            let mut acked = Vec::new();
            let mut statuses: BTreeMap<u16, u64> = BTreeMap::new();
            let mut answered: BTreeMap<Uuid, (u16, String)> = BTreeMap::new();
            for _ in 0..60 {
                let e = Uuid::new_v4();
                let (status, body) = s
                    .post(
                        &format!("/api/catalog/{catalog}/hierarchies/list/entities"),
                        &json!({"entityIds": [e]}),
                    )
                    .await;
                *statuses.entry(status).or_default() += 1;
                answered.insert(e, (status, body["message"].to_string()));
                if status == 200 {
                    acked.push(e);
                }
            }
            (acked, statuses, answered)
        })
    });
    let mut acked = Vec::new();
    let mut statuses: BTreeMap<u16, u64> = BTreeMap::new();
    let mut answered: BTreeMap<Uuid, (u16, String)> = BTreeMap::new();
    for (a, st, an) in futures::future::join_all(adds).await {
        acked.extend(a);
        answered.extend(an);
        for (k, v) in st {
            *statuses.entry(k).or_default() += v;
        }
    }
    let aborted = cheap::mariadb::transactions_aborted_before_commit() - aborted_before;
    let misreported = cheap::mariadb::commits_misreported() - misreported_before;
    eprintln!(
        "list adds: statuses {statuses:?}; {} acknowledged; {aborted} transactions found aborted before their commit and run again; {misreported} commits misreported by the node and settled by their token",
        acked.len()
    );
    assert!(
        statuses.keys().all(|s| *s == 200 || *s == 503),
        "{statuses:?}"
    );
    // Every write transaction on a Galera node carries its commit token.
    let tokens = node_count(1, "SELECT COUNT(*) FROM cheap_commit").await;
    assert!(tokens >= acked.len() as i64, "{tokens} commit tokens");
    for (n, s) in servers.iter().enumerate() {
        let export = s.export(catalog).await;
        let c = cheap_core::json::catalog_from_str(&export).unwrap();
        let list = c.hierarchy("list").and_then(|h| h.as_list()).unwrap();
        let lost: Vec<_> = acked.iter().filter(|e| !list.contains(**e)).collect();
        for e in &lost {
            diagnose(**e).await;
        }
        assert!(
            lost.is_empty(),
            "server {}: {} acknowledged adds lost",
            n + 1,
            lost.len()
        );
        assert_eq!(
            list.len(),
            acked.len(),
            "server {}: nothing unacknowledged, nothing twice",
            n + 1
        );
    }
    for s in &servers {
        let _ = s.dao.close().await;
    }
}
