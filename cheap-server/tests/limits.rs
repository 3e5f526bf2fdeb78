//! The limits of `cheap_core::limits` over REST, on SQLite, PostgreSQL and MariaDB: a NUL or an
//! over-long name or key anywhere is a 400 naming the field (PostgreSQL answered 500), and what
//! was stored is unchanged.

mod common;

use cheap_core::json::ToJson;
use cheap_core::{AspectDef, PropertyDef, PropertyType};
use common::TestServer;
use serde_json::{json, Value};
use uuid::Uuid;

async fn refused(
    s: &TestServer,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
    field: &str,
) {
    let (status, answer) = s.send(method.clone(), path, body.as_ref()).await;
    assert_eq!(status, 400, "{method} {path}: {answer}");
    let text = answer.to_string();
    assert!(
        text.contains(field),
        "{method} {path} should name {field}: {text}"
    );
}

/// The JSON of a def with one String property; the model builds names no store accepts.
fn def(name: &str, property: &str) -> Value {
    AspectDef::builder(name)
        .property(PropertyDef::new(property, PropertyType::String))
        .build()
        .unwrap()
        .to_json_value()
}

async fn limits_over_rest(s: &TestServer) {
    let (status, body) = s.post("/api/catalog", &json!({"species": "sink"})).await;
    assert_eq!(status, 201, "{body}");
    let id = body["catalogId"].as_str().unwrap().to_owned();
    let base = format!("/api/catalog/{id}");
    let note = def("note", "text");
    let (status, body) = s.post(&format!("{base}/aspect-defs"), &note).await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = s
        .post(
            &format!("{base}/hierarchies"),
            &json!({"hierarchyDef": {"name": "dir", "type": "ED"}}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let e = Uuid::new_v4();
    let (status, body) = s
        .post(
            &format!("{base}/aspects/note"),
            &json!({"aspects": [{"entityId": e, "properties": {"text": "kept"}}]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let before = s.export(&id).await;

    let long = "x".repeat(256);
    use reqwest::Method as M;
    for bad in ["a\u{0}b", long.as_str()] {
        refused(
            s,
            M::POST,
            &format!("{base}/aspect-defs"),
            Some(def(bad, "p")),
            "aspect def name",
        )
        .await;
        refused(
            s,
            M::POST,
            &format!("{base}/aspect-defs"),
            Some(def("other", bad)),
            "property name",
        )
        .await;
        refused(
            s,
            M::POST,
            &format!("{base}/hierarchies"),
            Some(json!({"hierarchyDef": {"name": bad, "type": "EL"}})),
            "hierarchy name",
        )
        .await;
    }
    refused(
        s,
        M::POST,
        &format!("{base}/hierarchies/dir/entries"),
        Some(json!({"entries": {"k\u{0}": e}})),
        "directory key",
    )
    .await;
    refused(
        s,
        M::POST,
        &format!("{base}/hierarchies/dir/entries"),
        Some(json!({"entries": {"k".repeat(501): e}})),
        "directory key",
    )
    .await;
    refused(
        s,
        M::POST,
        &format!("{base}/aspects/note"),
        Some(json!({"aspects": [{"entityId": e, "properties": {"text": "a\u{0}b"}}]})),
        "NUL",
    )
    .await;
    // A lookup by a name no store can hold finds nothing, or is refused; never a 500.
    for path in [
        "hierarchies/a%00b",
        "aspect-defs/a%00b",
        "hierarchies/a%00b/slice",
    ] {
        let (status, answer) = s.get(&format!("{base}/{path}")).await;
        assert!(
            status == 400 || status == 404,
            "GET {path}: {status} {answer}"
        );
    }
    let nul_tree = json!({
        "globalId": Uuid::new_v4(), "uri": null, "species": "sink", "aspectDefs": {},
        "hierarchies": {"t": {"type": "ET", "name": "t", "contents": {"children": {"a\u{0}": {}}}}}
    });
    refused(
        s,
        M::POST,
        "/api/catalog/import",
        Some(nul_tree),
        "tree node name",
    )
    .await;

    assert_eq!(s.export(&id).await, before, "nothing stored changed");
}

#[tokio::test]
async fn limits_are_400_on_sqlite() {
    let (s, _dir) = common::sqlite_server().await;
    limits_over_rest(&s).await;
}

#[tokio::test]
async fn limits_are_400_on_postgres() {
    let Some((s, dao)) = common::postgres_server().await else {
        return;
    };
    limits_over_rest(&s).await;
    common::drop_postgres_schema(&dao).await;
}

#[tokio::test]
async fn limits_are_400_on_mariadb() {
    let Some((s, dao)) = common::mariadb_server().await else {
        return;
    };
    limits_over_rest(&s).await;
    common::drop_mariadb_database(&dao).await;
}

/// A key twice in one object, a Boolean of 2, and a differing def are refused, saying why.
#[tokio::test]
async fn ambiguous_input_is_refused_with_its_reason() {
    let (s, _dir) = common::sqlite_server().await;
    let (_, body) = s.post("/api/catalog", &json!({"species": "sink"})).await;
    let id = body["catalogId"].as_str().unwrap().to_owned();
    let base = format!("/api/catalog/{id}");
    let flag = AspectDef::builder("flag")
        .property(PropertyDef::new("on", PropertyType::Boolean))
        .property(PropertyDef::new("n", PropertyType::Integer))
        .build()
        .unwrap()
        .to_json_value();
    assert_eq!(s.post(&format!("{base}/aspect-defs"), &flag).await.0, 201);
    let e = Uuid::new_v4();
    let before = s.export(&id).await;

    let send_raw = |path: String, body: String| {
        let s = &s;
        async move {
            let r = s
                .http
                .post(s.url(&path))
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let (status, text) = send_raw(
        format!("{base}/aspects/query"),
        format!(r#"{{"entityIds":["{e}"],"entityIds":[],"aspectDefNames":["flag"]}}"#),
    )
    .await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("duplicate"), "{text}");
    let (status, text) = send_raw(
        format!("{base}/aspects/flag"),
        format!(r#"{{"aspects":[{{"entityId":"{e}","properties":{{"on":2}}}}]}}"#),
    )
    .await;
    assert!(status == 400 || status == 207, "{status} {text}");
    assert!(text.contains("not a valid Boolean"), "{text}");

    // The same name with another type for one property: the 409 says which and how.
    let other = AspectDef::builder("flag")
        .property(PropertyDef::new("on", PropertyType::Boolean))
        .property(PropertyDef::new("n", PropertyType::String))
        .build()
        .unwrap()
        .to_json_value();
    let (status, body) = s.post(&format!("{base}/aspect-defs"), &other).await;
    assert_eq!(status, 409, "{body}");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("property 'n'") && message.contains("String"),
        "{message}"
    );
    // In another catalog too: names are global, and the answer says what differs.
    let (_, body) = s.post("/api/catalog", &json!({"species": "sink"})).await;
    let second = body["catalogId"].as_str().unwrap().to_owned();
    let (status, body) = s
        .post(&format!("/api/catalog/{second}/aspect-defs"), &other)
        .await;
    assert_eq!(status, 409, "{body}");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("property 'n'") && message.contains("Integer"),
        "{message}"
    );
    assert_eq!(s.export(&id).await, before, "nothing stored changed");
}
