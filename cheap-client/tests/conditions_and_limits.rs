//! Batches, conditional requests and rate limits through both clients against the real server
//! on 127.0.0.1: the batch builders, `if_match`, conditional reads that read no body, 429 as a
//! wait within the retry budget, and a client-side quota that keeps a script under the
//! server's.

mod common;

use std::sync::Arc;
use std::time::Duration;

use cheap_client::{
    blocking, CheapClient, ClientConfig, ClientError, Conditional, RateLimit, RetryPolicy,
};
use cheap_core::{
    Aspect, AspectDef, CatalogDef, CatalogSpecies, HierarchyDef, HierarchyType, PropertyDef,
    PropertyType, Uuid,
};
use cheap_server::{RateLimitConfig, ServerConfig};

use common::start_server;

fn note() -> AspectDef {
    AspectDef::builder(format!("cond.note.{}", Uuid::new_v4().simple()))
        .property(PropertyDef::new("text", PropertyType::String))
        .build()
        .unwrap()
}

fn catalog_def() -> CatalogDef {
    CatalogDef::from_parts([], [HierarchyDef::new("list", HierarchyType::EntityList)])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_async_client_batches_and_conditions() {
    let (base, _dir) = start_server(ServerConfig::default());
    let c = CheapClient::new(&base).unwrap();
    let id = c
        .create_catalog_with(CatalogSpecies::Sink, None, Some(&catalog_def()))
        .await
        .unwrap()
        .catalog_id;
    let def = Arc::new(note());
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    let aspect = Aspect::builder(def.clone(), a)
        .set("text", "a")
        .build()
        .unwrap();
    let v0 = c.catalog_info(id).await.unwrap().version;

    let out = c
        .batch(id)
        .if_match(v0)
        .put_aspect_def(&def)
        .upsert_aspects(def.name(), std::slice::from_ref(&aspect))
        .add_entities("list", &[a, b])
        .send()
        .await
        .unwrap();
    assert_eq!(out.version, v0 + 1);
    assert_eq!(out.results.len(), 3);
    assert_eq!(out.results[2].count, Some(2));

    // The same condition again is stale: nothing applies.
    let stale = c
        .batch(id)
        .if_match(v0)
        .add_entities("list", &[b])
        .send()
        .await;
    match stale {
        Err(ClientError::PreconditionFailed {
            expected, current, ..
        }) => assert_eq!((expected, current), (Some(v0), Some(v0 + 1))),
        r => panic!("a stale batch is refused: {r:?}"),
    }
    // A failing operation comes back with its index.
    let failing = c
        .batch(id)
        .add_entities("list", &[b])
        .add_entities("no such", &[b])
        .send()
        .await;
    match failing {
        Err(ClientError::InBatch { index: 1, source }) => {
            assert!(
                matches!(*source, ClientError::NotFound { .. }),
                "{source:?}"
            )
        }
        r => panic!("the second operation fails the batch: {r:?}"),
    }
    assert!(
        c.batch(id).send().await.is_err(),
        "an empty batch is not sent"
    );

    // if_match on the plain routes.
    let v1 = c.catalog_info(id).await.unwrap().version;
    assert_eq!(v1, v0 + 1, "refused batches changed nothing");
    let e = c.if_match(v0).add_entities(id, "list", &[b]).await;
    assert!(
        e.as_ref().is_err_and(ClientError::is_precondition_failed),
        "{e:?}"
    );
    c.if_match(v1).add_entities(id, "list", &[b]).await.unwrap();
    let v2 = c.catalog_info(id).await.unwrap().version;
    assert_eq!(v2, v1 + 1);
    let e = c.if_match(v1).delete_catalog(id).await;
    assert!(
        matches!(e, Err(ClientError::BadRequest { status: 400, .. })),
        "a catalog delete cannot be conditional and says so: {e:?}"
    );

    // Conditional reads: the tag names the version; unchanged is NotModified.
    let (first, tag) = match c.get_catalog_if_changed(id, None).await.unwrap() {
        Conditional::Modified { value, etag } => (value, etag.expect("an ETag")),
        Conditional::NotModified => panic!("nothing held yet"),
        _ => unreachable!(),
    };
    assert_eq!(cheap_client::version_of_etag(&tag), Some(v2));
    assert_eq!(first.aspect_defs.len(), 1);
    assert!(matches!(
        c.get_catalog_if_changed(id, Some(&tag)).await.unwrap(),
        Conditional::NotModified
    ));
    assert!(matches!(
        c.export_catalog_if_changed(id, Some(&tag)).await.unwrap(),
        Conditional::NotModified
    ));
    c.add_entities(id, "list", &[a]).await.unwrap();
    let exported = c
        .export_catalog_if_changed(id, Some(&tag))
        .await
        .unwrap()
        .modified()
        .expect("changed since the tag");
    assert_eq!(exported.hierarchy("list").unwrap().len(), 4);
}

#[test]
fn the_blocking_client_batches_and_conditions() {
    let (base, _dir) = start_server(ServerConfig::default());
    let c = blocking::CheapClient::new(&base).unwrap();
    let id = c
        .create_catalog_with(CatalogSpecies::Sink, None, Some(&catalog_def()))
        .unwrap()
        .catalog_id;
    let v0 = c.catalog_info(id).unwrap().version;
    let e = Uuid::new_v4();
    let out = c
        .batch(id)
        .if_match(v0)
        .add_entities("list", &[e, e])
        .remove_entities("list", &[e])
        .send()
        .unwrap();
    assert_eq!(out.version, v0 + 1);
    assert_eq!(out.results[1].count, Some(1), "one occurrence per id");
    let stale = c.if_match(v0).add_entities(id, "list", &[e]);
    assert!(stale.is_err_and(|e| e.is_precondition_failed()));
    let tag = cheap_client::etag_for_version(v0 + 1);
    assert!(matches!(
        c.get_catalog_if_changed(id, Some(&tag)).unwrap(),
        Conditional::NotModified
    ));
}

async fn limited_count(base: &str) -> u64 {
    let text = reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("cheap_http_rate_limited_total "))
        .and_then(|n| n.trim().parse().ok())
        .expect("the rate limiter's counter")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_the_rate_limit_is_429_and_clients_wait() {
    let config = {
        let mut config = ServerConfig::default();
        config.rate_limit = Some(RateLimitConfig::new(4, 4));
        config
    };
    let (base, _dir) = start_server(config);
    let http = reqwest::Client::new();
    let plain =
        CheapClient::with_config(ClientConfig::new(&base).retry(RetryPolicy::none())).unwrap();
    let id = plain
        .create_catalog_with(CatalogSpecies::Sink, None, Some(&catalog_def()))
        .await
        .unwrap()
        .catalog_id;
    let before = plain.export_catalog(id).await;

    // Past the burst: 429 with Retry-After and the error body.
    let mut refused = None;
    for _ in 0..20 {
        let r = http
            .get(format!("{base}/api/catalog/{id}"))
            .send()
            .await
            .unwrap();
        if r.status() == 429 {
            refused = Some(r);
            break;
        }
    }
    let r = refused.expect("a 429 within 20 quick requests at 4/s");
    let retry_after: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry_after), "{retry_after}");
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["status"], 429, "{body}");
    // Health and metrics are never limited.
    for _ in 0..20 {
        let r = http.get(format!("{base}/health")).send().await.unwrap();
        assert_eq!(r.status(), 200);
    }
    assert!(limited_count(&base).await >= 1);
    // A client without retries sees the 429 as such.
    let mut saw = None;
    for _ in 0..20 {
        if let Err(e) = plain.catalog_info(id).await {
            saw = Some(e);
            break;
        }
    }
    assert!(
        saw.as_ref().is_some_and(ClientError::is_rate_limited),
        "{saw:?}"
    );

    // A client with the default policy waits out the 429, even for a create (not applied, so
    // safe to send again).
    let patient = CheapClient::new(&base).unwrap();
    for _ in 0..8 {
        let _ = http.get(format!("{base}/api/catalog/{id}")).send().await;
    }
    patient
        .add_entities(id, "list", &[Uuid::new_v4()])
        .await
        .expect("retried after Retry-After");
    let created = patient
        .create_catalog_with(CatalogSpecies::Sink, None, None)
        .await
        .expect("a create retried after a 429");
    assert!(patient.catalog_info(created.catalog_id).await.is_ok());
    let after = plain.export_catalog(id).await;
    assert_eq!(
        after.map(|c| c.hierarchy("list").map(|h| h.len())).ok(),
        before
            .map(|c| c.hierarchy("list").map(|h| h.len() + 1))
            .ok(),
        "the refused requests changed nothing; the retried add landed once"
    );

    // A client-side quota under the server's keeps every request out of the limiter.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let counted = limited_count(&base).await;
    let polite = CheapClient::with_config(
        ClientConfig::new(&base)
            .retry(RetryPolicy::none())
            .rate_limit(RateLimit::per_second(2)),
    )
    .unwrap();
    for _ in 0..8 {
        polite.catalog_info(id).await.expect("under the quota");
    }
    // `/metrics` itself is exempt, so reading the counter does not move it.
    assert_eq!(limited_count(&base).await, counted, "nothing was refused");
}
