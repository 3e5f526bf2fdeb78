//! Atomic batches, entity tags and conditional writes over real HTTP, on SQLite, PostgreSQL and
//! MariaDB: a batch applies all or nothing with one version; every read of a catalog carries
//! the version's ETag and answers 304 to it; every write honours If-Match (412 and nothing
//! changed when the catalog moved); concurrent writes on one version: exactly one applies.

mod common;

use cheap_core::json::ToJson;
use cheap_core::{AspectDef, PropertyDef, PropertyType};
use common::TestServer;
use reqwest::header::{ETAG, IF_MATCH, IF_NONE_MATCH};
use reqwest::Method;
use serde_json::{json, Value};
use uuid::Uuid;

fn note_def(name: &str) -> Value {
    AspectDef::builder(name)
        .property(PropertyDef::new("text", PropertyType::String))
        .property(PropertyDef::new("n", PropertyType::Integer).nullable(true))
        .build()
        .unwrap()
        .to_json_value()
}

/// A request with extra headers: status, ETag and body.
async fn call(
    s: &TestServer,
    method: Method,
    path: &str,
    body: Option<&Value>,
    headers: &[(reqwest::header::HeaderName, String)],
) -> (u16, Option<String>, String) {
    let mut req = s.http.request(method, s.url(path));
    if let Some(b) = body {
        req = req.json(b);
    }
    for (k, v) in headers {
        req = req.header(k, v);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let tag = r
        .headers()
        .get(ETAG)
        .map(|v| v.to_str().unwrap().to_owned());
    (status, tag, r.text().await.unwrap())
}

async fn version(s: &TestServer, catalog: &str) -> i64 {
    let (status, body) = s.get(&format!("/api/catalog/{catalog}/info")).await;
    assert_eq!(status, 200, "{body}");
    body["version"].as_i64().unwrap()
}

fn tag(v: i64) -> String {
    format!("\"v{v}\"")
}

async fn batches_tags_and_conditions(s: &TestServer) {
    let (status, body) = s.post("/api/catalog", &json!({"species": "sink"})).await;
    assert_eq!(status, 201, "{body}");
    let cat = body["catalogId"].as_str().unwrap().to_owned();
    let def = format!("batch.note.{}", Uuid::new_v4().simple());
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    let v0 = version(s, &cat).await;

    // One batch builds the catalog: one version for all of it.
    let batch = json!({"operations": [
        {"op": "putAspectDef", "definition": note_def(&def)},
        {"op": "createHierarchy", "hierarchyDef": {"name": "list", "type": "EL"}},
        {"op": "createHierarchy", "hierarchyDef": {"name": "dir", "type": "ED"}},
        {"op": "createHierarchy", "hierarchyDef": {"name": "tree", "type": "ET"}},
        {"op": "upsertAspects", "aspectDef": def, "aspects": [
            {"entityId": a, "properties": {"text": "a", "n": 1}},
            {"entityId": b, "properties": {"text": "b"}}]},
        {"op": "addEntities", "hierarchy": "list", "entityIds": [a, b, a]},
        {"op": "putDirectoryEntries", "hierarchy": "dir", "entries": {"a": a}},
        {"op": "addTreeNodes", "hierarchy": "tree", "nodes": {"x": a}}
    ]});
    let path = format!("/api/catalog/{cat}/batch");
    let (status, etag, text) = call(s, Method::POST, &path, Some(&batch), &[]).await;
    assert_eq!(status, 200, "{text}");
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["version"], v0 + 1, "{body}");
    assert_eq!(etag, Some(tag(v0 + 1)));
    assert_eq!(
        body["results"][0],
        json!({"op": "putAspectDef", "changed": true})
    );
    assert_eq!(body["results"][4]["aspects"][0]["created"], true);
    assert_eq!(body["results"][5], json!({"op": "addEntities", "count": 3}));
    let v1 = v0 + 1;
    assert_eq!(version(s, &cat).await, v1);

    // Reads carry the version's tag and answer 304 to it, with no body.
    let reads = [
        format!("/api/catalog/{cat}"),
        format!("/api/catalog/{cat}/export"),
        format!("/api/catalog/{cat}/aspect-defs"),
        format!("/api/catalog/{cat}/hierarchies/list"),
        format!("/api/catalog/{cat}/hierarchies"),
    ];
    for r in &reads {
        let (status, etag, _) = call(s, Method::GET, r, None, &[]).await;
        assert_eq!((status, etag), (200, Some(tag(v1))), "GET {r}");
        let (status, etag, body) = call(s, Method::GET, r, None, &[(IF_NONE_MATCH, tag(v1))]).await;
        assert_eq!(
            (status, etag, body.as_str()),
            (304, Some(tag(v1)), ""),
            "GET {r}"
        );
        let (status, _, _) = call(s, Method::GET, r, None, &[(IF_NONE_MATCH, tag(v0))]).await;
        assert_eq!(status, 200, "an old tag is answered in full: GET {r}");
    }
    let query = json!({"entityIds": [a], "aspectDefNames": [def]});
    let qpath = format!("/api/catalog/{cat}/aspects/query");
    let (status, etag, _) = call(s, Method::POST, &qpath, Some(&query), &[]).await;
    assert_eq!((status, etag), (200, Some(tag(v1))));
    let (status, _, body) = call(
        s,
        Method::POST,
        &qpath,
        Some(&query),
        &[(IF_NONE_MATCH, tag(v1))],
    )
    .await;
    assert_eq!((status, body.as_str()), (304, ""));
    let (status, etag, _) = call(s, Method::GET, "/api/catalog/no-such/export", None, &[]).await;
    assert_eq!((status, etag), (400, None), "no tag on an error");

    // A batch whose third operation fails: 4xx naming it, nothing applied.
    let before = s.export(&cat).await;
    let failing = json!({"operations": [
        {"op": "addEntities", "hierarchy": "list", "entityIds": [b]},
        {"op": "deleteHierarchy", "name": "dir"},
        {"op": "addEntities", "hierarchy": "no such", "entityIds": [b]},
        {"op": "addEntities", "hierarchy": "list", "entityIds": [b]}
    ]});
    let (status, body) = s.post(&path, &failing).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["operation"], 2, "{body}");
    assert_eq!(body["missing"]["kind"], "hierarchy", "{body}");
    let bad_value = json!({"operations": [
        {"op": "addEntities", "hierarchy": "list", "entityIds": [b]},
        {"op": "upsertAspects", "aspectDef": def, "aspects": [
            {"entityId": b, "properties": {"text": "b", "n": "not a number"}}]}
    ]});
    let (status, body) = s.post(&path, &bad_value).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["operation"], 1, "{body}");
    for bad in [
        json!({"operations": [{"op": "noSuchOp"}]}),
        json!({"operations": [{"op": "addEntities", "hierarchy": "list"}]}),
        json!({"operations": [{"op": "addEntities", "hierarchy": "list", "entityIds": [], "extra": 1}]}),
        json!({"operations": "none"}),
    ] {
        let (status, body) = s.post(&path, &bad).await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
    assert_eq!(
        s.export(&cat).await,
        before,
        "refused batches change nothing"
    );
    assert_eq!(version(s, &cat).await, v1);

    // If-Match on a stale version: 412 with the current one, nothing changed; on the current
    // one: applied, with the new tag.
    let writes: Vec<(Method, String, Value)> = vec![
        (
            Method::POST,
            path.clone(),
            json!({"operations": [{"op": "addEntities", "hierarchy": "list", "entityIds": [b]}]}),
        ),
        (
            Method::POST,
            format!("/api/catalog/{cat}/hierarchies/list/entities"),
            json!({"entityIds": [b]}),
        ),
        (
            Method::DELETE,
            format!("/api/catalog/{cat}/hierarchies/list/entities"),
            json!({"entityIds": [a]}),
        ),
        (
            Method::POST,
            format!("/api/catalog/{cat}/hierarchies/dir/entries"),
            json!({"entries": {"b": b}}),
        ),
        (
            Method::DELETE,
            format!("/api/catalog/{cat}/hierarchies/dir/entries"),
            json!({"names": ["b"]}),
        ),
        (
            Method::POST,
            format!("/api/catalog/{cat}/hierarchies/tree/nodes"),
            json!({"parentPath": "/", "nodes": {"y": b}}),
        ),
        (
            Method::DELETE,
            format!("/api/catalog/{cat}/hierarchies/tree/nodes"),
            json!({"paths": ["/y"]}),
        ),
        (
            Method::POST,
            format!("/api/catalog/{cat}/aspects/{def}"),
            json!({"aspects": [{"entityId": b, "properties": {"text": "b2"}}]}),
        ),
        (
            Method::DELETE,
            format!("/api/catalog/{cat}/aspects/{def}"),
            json!({"entityIds": [b]}),
        ),
        (
            Method::POST,
            format!("/api/catalog/{cat}/hierarchies"),
            json!({"hierarchyDef": {"name": "set", "type": "ES"}}),
        ),
        (
            Method::DELETE,
            format!("/api/catalog/{cat}/hierarchies/set"),
            Value::Null,
        ),
        (
            Method::POST,
            format!("/api/catalog/{cat}/aspect-defs"),
            note_def(&format!("{def}.two")),
        ),
        (
            Method::DELETE,
            format!("/api/catalog/{cat}/aspect-defs/{def}.two"),
            Value::Null,
        ),
    ];
    for (method, p, body) in &writes {
        let body = (!body.is_null()).then_some(body);
        let current = version(s, &cat).await;
        let before = s.export(&cat).await;
        for stale in [tag(current - 1), "\"someone else's\"".to_owned()] {
            let (status, etag, text) =
                call(s, method.clone(), p, body, &[(IF_MATCH, stale.clone())]).await;
            assert_eq!(status, 412, "{method} {p} If-Match {stale}: {text}");
            assert_eq!(etag, Some(tag(current)), "{method} {p}: the current tag");
            let err: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(err["currentVersion"], current, "{text}");
            assert_eq!(
                s.export(&cat).await,
                before,
                "{method} {p}: a 412 changes nothing"
            );
        }
        let (status, etag, text) =
            call(s, method.clone(), p, body, &[(IF_MATCH, tag(current))]).await;
        assert!((200..300).contains(&status), "{method} {p}: {text}");
        assert_eq!(etag, Some(tag(current + 1)), "{method} {p}: the new tag");
        assert_eq!(version(s, &cat).await, current + 1, "{method} {p}");
    }

    // Routes that cannot make a write conditional refuse If-Match rather than ignore it.
    let current = version(s, &cat).await;
    let (status, _, text) = call(
        s,
        Method::DELETE,
        &format!("/api/catalog/{cat}"),
        None,
        &[(IF_MATCH, tag(current))],
    )
    .await;
    assert_eq!(status, 400, "{text}");
    assert_eq!(version(s, &cat).await, current);

    // Eight batches on one version at once: one applies, seven get 412.
    let racers = (0..8).map(|i| {
        let body = json!({"expectedVersion": current, "operations": [
            {"op": "putDirectoryEntries", "hierarchy": "dir", "entries": {format!("race{i}"): a}}
        ]});
        let path = path.clone();
        async move { s.post(&path, &body).await }
    });
    let answers = futures::future::join_all(racers).await;
    let ok = answers.iter().filter(|(st, _)| *st == 200).count();
    let refused = answers.iter().filter(|(st, _)| *st == 412).count();
    assert_eq!((ok, refused), (1, 7), "{answers:?}");
    assert_eq!(version(s, &cat).await, current + 1);
    let (_, dir) = s
        .get(&format!("/api/catalog/{cat}/hierarchies/dir?size=100"))
        .await;
    let races = dir["content"]
        .as_object()
        .unwrap()
        .keys()
        .filter(|k| k.starts_with("race"))
        .count();
    assert_eq!(races, 1, "{dir}");
}

/// A REST upsert replaces the aspect, as the reference does; `?merge=true` keeps what an item
/// leaves out. Removing from a list takes one occurrence per id; adding counts the ids sent.
async fn reference_semantics(s: &TestServer) {
    let (_, body) = s.post("/api/catalog", &json!({"species": "sink"})).await;
    let cat = body["catalogId"].as_str().unwrap().to_owned();
    let def = format!("sem.note.{}", Uuid::new_v4().simple());
    assert_eq!(
        s.post(&format!("/api/catalog/{cat}/aspect-defs"), &note_def(&def))
            .await
            .0,
        201
    );
    let e = Uuid::new_v4();
    let up = format!("/api/catalog/{cat}/aspects/{def}");
    let first = json!({"aspects": [{"entityId": e, "properties": {"text": "t", "n": 5}}]});
    assert_eq!(s.post(&up, &first).await.0, 200);
    let only_text = json!({"aspects": [{"entityId": e, "properties": {"text": "u"}}]});
    assert_eq!(s.post(&up, &only_text).await.0, 200);
    let q = json!({"entityIds": [e], "aspectDefNames": [def]});
    let (_, got) = s
        .post(&format!("/api/catalog/{cat}/aspects/query"), &q)
        .await;
    let stored = &got["results"][0]["contents"][e.to_string()];
    assert_eq!(stored["text"], "u", "{got}");
    assert!(stored["n"].is_null(), "an upsert replaces: {got}");
    assert_eq!(s.post(&up, &first).await.0, 200);
    let (status, _) = s.post(&format!("{up}?merge=true"), &only_text).await;
    assert_eq!(status, 200);
    let (_, got) = s
        .post(&format!("/api/catalog/{cat}/aspects/query"), &q)
        .await;
    let stored = &got["results"][0]["contents"][e.to_string()];
    assert_eq!(
        (stored["text"].clone(), stored["n"].clone()),
        (json!("u"), json!(5)),
        "{got}"
    );

    let h = s
        .post(
            &format!("/api/catalog/{cat}/hierarchies"),
            &json!({"hierarchyDef": {"name": "l", "type": "EL"}}),
        )
        .await;
    assert_eq!(h.0, 201);
    let (x, y) = (Uuid::new_v4(), Uuid::new_v4());
    let entities = format!("/api/catalog/{cat}/hierarchies/l/entities");
    let (_, added) = s.post(&entities, &json!({"entityIds": [x, y, x, x]})).await;
    assert_eq!(added["count"], 4);
    let (_, removed) = s
        .delete(&entities, Some(&json!({"entityIds": [x, x]})))
        .await;
    assert_eq!(removed["count"], 2, "{removed}");
    let (_, list) = s.get(&format!("/api/catalog/{cat}/hierarchies/l")).await;
    assert_eq!(list["entityIds"], json!([y, x]), "{list}");
    let hs = s
        .post(
            &format!("/api/catalog/{cat}/hierarchies"),
            &json!({"hierarchyDef": {"name": "s", "type": "ES"}}),
        )
        .await;
    assert_eq!(hs.0, 201);
    let set = format!("/api/catalog/{cat}/hierarchies/s/entities");
    assert_eq!(s.post(&set, &json!({"entityIds": [x]})).await.1["count"], 1);
    let (_, again) = s.post(&set, &json!({"entityIds": [x, y]})).await;
    assert_eq!(
        again["count"], 2,
        "the ids sent, as the reference counts: {again}"
    );
}

#[tokio::test]
async fn batches_and_conditions_on_sqlite() {
    let (s, _dir) = common::sqlite_server().await;
    batches_tags_and_conditions(&s).await;
    reference_semantics(&s).await;
}

#[tokio::test]
async fn batches_and_conditions_on_postgres() {
    let Some((s, dao)) = common::postgres_server().await else {
        return;
    };
    batches_tags_and_conditions(&s).await;
    reference_semantics(&s).await;
    common::drop_postgres_schema(&dao).await;
}

#[tokio::test]
async fn batches_and_conditions_on_mariadb() {
    let Some((s, dao)) = common::mariadb_server().await else {
        return;
    };
    batches_tags_and_conditions(&s).await;
    reference_semantics(&s).await;
    common::drop_mariadb_database(&dao).await;
}
