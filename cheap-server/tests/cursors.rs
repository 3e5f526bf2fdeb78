//! Hierarchy pages by cursor over real HTTP, on SQLite, PostgreSQL and MariaDB: `?after=`
//! pages give back a list, a directory and an aspect map whole; a reader keeps its place while
//! entries are inserted before it; a cursor across a move is 412; bad cursors are 400 and
//! change nothing; the slice route and the clients page the same way.

mod common;

use cheap_client::CheapClient;
use cheap_core::json::ToJson;
use cheap_core::{AspectDef, PropertyDef, PropertyType};
use common::TestServer;
use futures::TryStreamExt;
use serde_json::{json, Value};
use uuid::Uuid;

/// Follows `nextCursor` from the first page; returns the pages' bodies.
async fn pages(s: &TestServer, path: &str, size: u64) -> Vec<Value> {
    let mut out = Vec::new();
    let mut after = String::new();
    loop {
        let (status, body) = s.get(&format!("{path}?after={after}&size={size}")).await;
        assert_eq!(status, 200, "{body}");
        let next = body["nextCursor"].as_str().map(str::to_owned);
        out.push(body);
        match next {
            Some(n) => after = n,
            None => return out,
        }
    }
}

fn ids(pages: &[Value], field: &str) -> Vec<String> {
    pages
        .iter()
        .flat_map(|p| {
            p[field]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        })
        .collect()
}

async fn cursors(s: &TestServer) {
    let (status, body) = s.post("/api/catalog", &json!({"species": "sink"})).await;
    assert_eq!(status, 201, "{body}");
    let cat = body["catalogId"].as_str().unwrap().to_owned();
    let def = format!("cursor.item.{}", Uuid::new_v4().simple());
    let d = AspectDef::builder(&def)
        .property(PropertyDef::new("n", PropertyType::Integer))
        .build()
        .unwrap()
        .to_json_value();
    let (status, body) = s.post(&format!("/api/catalog/{cat}/aspect-defs"), &d).await;
    assert_eq!(status, 201, "{body}");
    for (name, kind) in [("list", "EL"), ("dir", "ED")] {
        let (status, body) = s
            .post(
                &format!("/api/catalog/{cat}/hierarchies"),
                &json!({"hierarchyDef": {"name": name, "type": kind}}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }
    let entities: Vec<Uuid> = (0..230).map(|_| Uuid::new_v4()).collect();
    let list = format!("/api/catalog/{cat}/hierarchies/list");
    let (status, body) = s
        .post(
            &format!("{list}/entities"),
            &json!({ "entityIds": entities }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let entries: serde_json::Map<String, Value> = entities
        .iter()
        .enumerate()
        .map(|(i, e)| (format!("k{i:03}"), json!(e)))
        .collect();
    let dir = format!("/api/catalog/{cat}/hierarchies/dir");
    let (status, body) = s
        .post(&format!("{dir}/entries"), &json!({ "entries": entries }))
        .await;
    assert_eq!(status, 200, "{body}");
    let aspects: Vec<Value> = entities
        .iter()
        .enumerate()
        .map(|(i, e)| json!({"entityId": e, "properties": {"n": i}}))
        .collect();
    let (status, body) = s
        .post(
            &format!("/api/catalog/{cat}/aspects/{def}"),
            &json!({ "aspects": aspects }),
        )
        .await;
    assert!(status == 200 || status == 201, "{status} {body}");

    // Whole, in order, with the totals.
    let want: Vec<String> = entities.iter().map(Uuid::to_string).collect();
    let got = pages(s, &list, 100).await;
    assert_eq!(got.len(), 3);
    assert_eq!(ids(&got, "entityIds"), want);
    assert!(got.iter().all(|p| p["totalElements"] == 230));
    let dir_pages = pages(s, &dir, 100).await;
    let keys: Vec<String> = dir_pages
        .iter()
        .flat_map(|p| {
            p["content"]
                .as_object()
                .unwrap()
                .keys()
                .cloned()
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(keys.len(), 230);
    let map_pages = pages(s, &format!("/api/catalog/{cat}/hierarchies/{def}"), 100).await;
    let in_map: Vec<String> = map_pages
        .iter()
        .flat_map(|p| {
            p["content"]
                .as_object()
                .unwrap()
                .keys()
                .cloned()
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(in_map, want);

    // A reader keeps its place while entries arrive before it.
    let (_, first) = s.get(&format!("{list}?after=&size=50")).await;
    let after = first["nextCursor"].as_str().unwrap().to_owned();
    let early = Uuid::new_v4();
    let (status, _) = s
        .post(
            &format!("{list}/entities"),
            &json!({"entityIds": [early], "index": 3}),
        )
        .await;
    assert_eq!(status, 200);
    let (_, second) = s.get(&format!("{list}?after={after}&size=50")).await;
    assert_eq!(ids(&[second], "entityIds"), want[50..100].to_vec());

    // A crowd where there is no room moves what follows: the old cursor is refused.
    let crowd: Vec<Uuid> = (0..1100).map(|_| Uuid::new_v4()).collect();
    let (status, body) = s
        .post(
            &format!("{list}/entities"),
            &json!({"entityIds": crowd, "index": 10}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = s.get(&format!("{list}?after={after}&size=50")).await;
    assert_eq!(status, 412, "{body}");

    // Bad cursors and mixed paging are 400 and change nothing.
    let before = s.export(&cat).await;
    for bad in ["zz", "o12", "o1vx", "n-4", "%00"] {
        let (status, body) = s.get(&format!("{list}?after={bad}&size=10")).await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
    let (status, _) = s.get(&format!("{list}?after=&page=1")).await;
    assert_eq!(status, 400);
    let (status, _) = s.get(&format!("{list}?after=&size=0")).await;
    assert_eq!(status, 400);
    assert_eq!(s.export(&cat).await, before, "nothing changed");

    // The slice route by cursor, and both clients' streams.
    let mut after = String::new();
    let mut total = 0;
    loop {
        let (status, body) = s
            .get(&format!("{list}/slice?after={after}&limit=500"))
            .await;
        assert_eq!(status, 200, "{body}");
        total += body["hierarchy"]["contents"].as_array().unwrap().len();
        match body["nextCursor"].as_str() {
            Some(n) => after = n.to_owned(),
            None => break,
        }
    }
    assert_eq!(total, 230 + 1 + 1100);
    let client = CheapClient::new(s.url("")).unwrap();
    let id: Uuid = cat.parse().unwrap();
    let streamed: Vec<Uuid> = client
        .hierarchy_entities(id, "list", 77)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(streamed.len(), 1331);
    let url = s.url("");
    let blocking: Vec<Uuid> = tokio::task::spawn_blocking(move || {
        let c = cheap_client::blocking::CheapClient::new(url).unwrap();
        c.hierarchy_entities(id, "list", 100)
            .collect::<Result<Vec<_>, _>>()
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(blocking, streamed);
}

#[tokio::test]
async fn cursors_on_sqlite() {
    let (s, _dir) = common::sqlite_server().await;
    cursors(&s).await;
}

#[tokio::test]
async fn cursors_on_postgres() {
    let Some((s, dao)) = common::postgres_server().await else {
        return;
    };
    cursors(&s).await;
    common::drop_postgres_schema(&dao).await;
}

#[tokio::test]
async fn cursors_on_mariadb() {
    let Some((s, dao)) = common::mariadb_server().await else {
        return;
    };
    cursors(&s).await;
    common::drop_mariadb_database(&dao).await;
}
