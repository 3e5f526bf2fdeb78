//! A tree as deep as the limit reads back through every path (REST reads, slice, export,
//! re-import, `cheap sync` over HTTP, `cheap copy`, and a copy between backends), on every
//! backend; one level deeper, or ten thousand, is a clean 400 that loses nothing.

mod common;

use std::process::Command;
use std::sync::Arc;

use cheap_core::json::ToJson;
use cheap_core::{Catalog, CheapDao, EntityTree, Hierarchy, HierarchyContent, MAX_TREE_DEPTH};
use common::TestServer;
use serde_json::Value;
use uuid::Uuid;

/// A catalog holding one tree `depth` levels deep: `/n0/n1/...`, each node with an entity.
fn deep_catalog(id: Uuid, depth: usize) -> Catalog {
    let mut tree = EntityTree::new();
    let mut path = String::new();
    for i in 0..depth {
        let name = format!("n{i}");
        // Built by hand past the limit too, as a hostile client would.
        let parent = node_at(&mut tree, &path);
        parent.children.insert(
            name.clone(),
            cheap_core::TreeNode::new(Some(Uuid::new_v4())),
        );
        path.push('/');
        path.push_str(&name);
    }
    let mut c = Catalog::with_id(id, cheap_core::CatalogSpecies::Sink, None).unwrap();
    c.add_hierarchy(Hierarchy::with_content("tree", HierarchyContent::Tree(tree)).unwrap())
        .unwrap();
    c
}

fn node_at<'a>(t: &'a mut EntityTree, path: &str) -> &'a mut cheap_core::TreeNode {
    t.node_mut(path).unwrap()
}

/// The tree's contents (versions differ between stores); compared with `assert!`, since a
/// failed `assert_eq!` would print 256 levels.
fn tree_of(c: &Catalog) -> Option<&HierarchyContent> {
    c.hierarchy("tree").map(|h| &h.content)
}

/// How deep a tree node's JSON goes, walked without recursion.
fn json_depth(node: &Value) -> usize {
    let (mut depth, mut n) = (0, node);
    while let Some((_, child)) = n
        .get("children")
        .and_then(Value::as_object)
        .and_then(|c| c.iter().next())
    {
        depth += 1;
        n = child;
    }
    depth
}

async fn import(s: &TestServer, body: String) -> (u16, Value) {
    let r = s
        .http
        .post(s.url("/api/catalog/import"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// The whole journey on one server; returns the deep catalog's id.
async fn round_trip(s: &TestServer) -> Uuid {
    let cat = deep_catalog(Uuid::new_v4(), MAX_TREE_DEPTH);
    let id = cat.id();
    let (status, body) = import(s, cat.to_json()).await;
    assert_eq!(status, 201, "{body}");

    let (status, h) = s.get(&format!("/api/catalog/{id}/hierarchies/tree")).await;
    assert_eq!(status, 200, "{h}");
    assert_eq!(json_depth(&h["root"]), MAX_TREE_DEPTH, "GET hierarchy");

    let (status, slice) = s
        .get(&format!("/api/catalog/{id}/hierarchies/tree/slice"))
        .await;
    assert_eq!(status, 200, "{slice}");
    assert_eq!(
        json_depth(&slice["hierarchy"]["contents"]),
        MAX_TREE_DEPTH,
        "slice"
    );

    let exported = s.export(id).await;
    let stored = s.dao.load_catalog(id).await.unwrap();
    let read = cheap_core::json::catalog_from_str(&exported).unwrap();
    assert!(
        tree_of(&read) == tree_of(&stored),
        "the export reads back as what is stored"
    );
    let (status, body) = import(s, exported.clone()).await;
    assert_eq!(status, 201, "the server's own export re-imports: {body}");
    assert_eq!(s.export(id).await, exported);

    // The client decodes it (RemoteDao is what `cheap sync` reads through).
    let remote = cheap_client::RemoteDao::new(cheap_client::CheapClient::new(&s.base).unwrap());
    let loaded = remote.load_catalog(id).await.unwrap();
    let HierarchyContent::Tree(t) = &loaded.hierarchy("tree").unwrap().content else {
        panic!("not a tree")
    };
    assert_eq!(t.len(), MAX_TREE_DEPTH + 1);

    refusals(s, id, &exported).await;
    id
}

/// One level too deep, through nodes and through import, and a 10,000-deep tree: 400, and the
/// stored catalog is unchanged.
async fn refusals(s: &TestServer, id: Uuid, before: &str) {
    let deepest: String = (0..MAX_TREE_DEPTH).map(|i| format!("/n{i}")).collect();
    let (status, body) = s
        .post(
            &format!("/api/catalog/{id}/hierarchies/tree/nodes"),
            &serde_json::json!({"parentPath": deepest, "nodes": {"x": Uuid::new_v4()}}),
        )
        .await;
    assert_eq!(status, 400, "a node below the deepest level: {body}");

    for text in [
        deep_catalog(id, MAX_TREE_DEPTH + 1).to_json(),
        flat_deep_catalog(id, MAX_TREE_DEPTH + 1),
        flat_deep_catalog(id, 10_000),
    ] {
        let (status, body) = import(s, text).await;
        assert_eq!(status, 400, "import of a tree too deep: {body}");
    }
    assert_eq!(s.export(id).await, before, "nothing changed");
    assert_eq!(s.get("/health").await.0, 200);
}

fn flat_deep_catalog(id: Uuid, depth: usize) -> String {
    let mut t = format!(
        r#"{{"globalId":"{id}","uri":null,"species":"sink","aspectDefs":{{}},"hierarchies":{{"tree":{{"type":"ET","name":"tree","contents":"#
    );
    for i in 0..depth {
        t.push_str(&format!(r#"{{"children":{{"n{i}":"#));
    }
    t.push_str("{}");
    for _ in 0..depth {
        t.push_str("}}");
    }
    t.push_str("}}}");
    t
}

/// Runs the `cheap` binary off the runtime's threads, so the in-process server keeps answering.
async fn cheap(args: &[&str]) {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let out = tokio::task::spawn_blocking({
        let args = args.clone();
        move || {
            Command::new(env!("CARGO_BIN_EXE_cheap"))
                .args(args)
                .env("RUST_LOG", "warn")
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "cheap {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn a_tree_as_deep_as_the_limit_reads_back_everywhere_on_sqlite() {
    let (s, dir) = common::sqlite_server().await;
    let id = round_trip(&s).await;
    let want = s.dao.load_catalog(id).await.unwrap();

    // `cheap sync` checks the catalog out over HTTP into a local file.
    let mirror = format!("sqlite://{}", dir.path().join("mirror.db").display());
    cheap(&[
        "sync",
        "--local",
        &mirror,
        "--upstream",
        &s.base,
        "--species",
        "mirror",
        &id.to_string(),
    ])
    .await;
    let m = cheap::connect(&mirror).await.unwrap();
    let got = m.load_catalog(id).await.unwrap();
    assert!(tree_of(&got) == tree_of(&want), "sync");
    m.close().await.unwrap();

    // `cheap copy` from the server's file to another.
    let copy = format!("sqlite://{}", dir.path().join("copy.db").display());
    let source = format!("sqlite://{}", dir.path().join("server.db").display());
    cheap(&["copy", "--from", &source, "--to", &copy]).await;
    let c = cheap::connect(&copy).await.unwrap();
    assert!(
        tree_of(&c.load_catalog(id).await.unwrap()) == tree_of(&want),
        "copy"
    );
    c.close().await.unwrap();
}

/// Stored on one backend, copied to another and back (what `cheap copy` does, catalog by
/// catalog), identical.
async fn copied_between(s: &TestServer, other: Arc<dyn CheapDao>) {
    let id = round_trip(s).await;
    let want = s.dao.load_catalog(id).await.unwrap();
    other.save_catalog(&want).await.unwrap();
    let there = other.load_catalog(id).await.unwrap();
    assert!(tree_of(&there) == tree_of(&want), "copied between backends");
}

#[tokio::test]
async fn a_tree_as_deep_as_the_limit_reads_back_everywhere_on_postgres() {
    let Some((s, dao)) = common::postgres_server().await else {
        return;
    };
    let (sqlite, _dir) = common::sqlite_server().await;
    copied_between(&s, sqlite.dao.clone()).await;
    common::drop_postgres_schema(&dao).await;
}

#[tokio::test]
async fn a_tree_as_deep_as_the_limit_reads_back_everywhere_on_mariadb() {
    let Some((s, dao)) = common::mariadb_server().await else {
        return;
    };
    let (sqlite, _dir) = common::sqlite_server().await;
    copied_between(&s, sqlite.dao.clone()).await;
    common::drop_mariadb_database(&dao).await;
}
