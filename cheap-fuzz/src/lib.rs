//! Fuzzing harnesses: functions that take arbitrary bytes and panic only when cheap-rs does
//! something wrong with them. `fuzz/` (cargo fuzz) drives them with coverage-guided inputs;
//! `tests/corpus.rs` replays the kept corpus on every `cargo test`.
#![deny(missing_docs)]

use std::sync::{Arc, OnceLock};

use axum::body::Body;
use axum::http::{Method, Request};
use cheap_core::json::read;
use cheap_core::{CheapDao, MemoryDao};
use tower::ServiceExt;

/// The JSON reader on arbitrary text, through every element reader: any input gives a value
/// or an error, never a panic, and what reads as a catalog writes and reads back the same.
pub fn json(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(c) = cheap_core::json::catalog_from_str(text) {
        let again = cheap_core::json::catalog_from_str(&cheap_core::json::ToJson::to_json(&c))
            .expect("a written catalog reads back");
        assert_eq!(
            cheap_core::json::ToJson::to_json(&again),
            cheap_core::json::ToJson::to_json(&c),
            "a catalog round-trips"
        );
    }
    let Ok(v) = read::parse(text) else {
        return;
    };
    let _ = read::catalog_from_json(&v);
    let _ = read::catalog_def_from_json(&v);
    let _ = read::aspect_def_from_json(&v);
    let _ = read::hierarchy_def_from_json(&v);
    let _ = read::property_def_from_json(&v);
    let _ = read::property_from_json(&v);
    let _ = read::tree_node_from_json(&v);
    if let Ok(def) = read::aspect_def_from_json(&v) {
        let def = Arc::new(def);
        let _ = read::aspect_from_json(&v, def.clone(), cheap_core::Uuid::nil());
        let found = def.clone();
        let _ = read::aspect_map_from_json(&v, &|_| Some(found.clone()));
        for p in def.property_defs() {
            let _ = read::value_from_json(def.name(), p, &v);
        }
    }
    let _ = read::hierarchy_from_json(&v, &|_| None);
}

struct Server {
    rt: tokio::runtime::Runtime,
    app: axum::Router,
}

fn server() -> &'static Server {
    static S: OnceLock<Server> = OnceLock::new();
    S.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let dao: Arc<dyn CheapDao> = Arc::new(MemoryDao::new());
        let app = cheap_server::router(dao, Default::default());
        Server { rt, app }
    })
}

/// One HTTP request to the server's router over a memory store: the first byte picks the
/// method, the bytes up to the first newline are the path and query, the rest is a JSON body.
/// Any answer but a server error (5xx other than 503) is fine.
pub fn request(data: &[u8]) {
    let Some((&m, rest)) = data.split_first() else {
        return;
    };
    let method = [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::PATCH,
    ][usize::from(m) % 5]
        .clone();
    let (path, body) = match rest.iter().position(|b| *b == b'\n') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &[][..]),
    };
    let Ok(path) = std::str::from_utf8(path) else {
        return;
    };
    let uri = format!("/{}", path.trim_start_matches('/'));
    let Ok(req) = Request::builder()
        .method(method)
        .uri(&uri)
        .header("content-type", "application/json")
        .body(Body::from(body.to_vec()))
    else {
        return;
    };
    let s = server();
    let status =
        s.rt.block_on(s.app.clone().oneshot(req))
            .expect("the router is infallible")
            .status();
    assert!(
        !status.is_server_error() || status.as_u16() == 503,
        "{uri} answered {status}"
    );
}
