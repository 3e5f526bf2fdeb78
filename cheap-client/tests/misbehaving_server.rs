//! Retries, Retry-After, timeouts, the circuit breaker and the in-flight limit, proven against
//! a small real HTTP server that misbehaves on purpose. Attempt counts are asserted, and lower
//! bounds on elapsed time where a delay is the point (never upper bounds).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use cheap_client::{CheapClient, CircuitBreakerConfig, ClientConfig, ClientError, RetryPolicy};
use cheap_core::CatalogSpecies;

#[derive(Default)]
struct Counters {
    attempts: AtomicUsize,
    fail_first: AtomicUsize,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

type S = State<Arc<Counters>>;

fn up() -> impl IntoResponse {
    (
        StatusCode::OK,
        [("content-type", "application/json")],
        r#"{"status":"UP"}"#,
    )
}

async fn flaky(State(c): S) -> axum::response::Response {
    let n = c.attempts.fetch_add(1, Ordering::SeqCst);
    if n < c.fail_first.load(Ordering::SeqCst) {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            r#"{"status":503,"message":"warming up"}"#,
        )
            .into_response()
    } else {
        up().into_response()
    }
}

async fn retry_after(State(c): S) -> axum::response::Response {
    let n = c.attempts.fetch_add(1, Ordering::SeqCst);
    if n == 0 {
        let mut h = HeaderMap::new();
        h.insert("retry-after", "1".parse().unwrap());
        (StatusCode::SERVICE_UNAVAILABLE, h, "busy").into_response()
    } else {
        up().into_response()
    }
}

async fn slow(State(c): S) -> impl IntoResponse {
    c.attempts.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(2)).await;
    up()
}

async fn broken(State(c): S) -> axum::response::Response {
    c.attempts.fetch_add(1, Ordering::SeqCst);
    if c.fail_first.load(Ordering::SeqCst) == 0 {
        return up().into_response();
    }
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        r#"{"status":500,"message":"boom"}"#,
    )
        .into_response()
}

async fn busy(State(c): S) -> impl IntoResponse {
    c.attempts.fetch_add(1, Ordering::SeqCst);
    let now = c.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    c.max_in_flight.fetch_max(now, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(100)).await;
    c.in_flight.fetch_sub(1, Ordering::SeqCst);
    up()
}

/// The first `fail_first` answers are the server's 503 for contention (nothing applied).
async fn contended(State(c): S) -> axum::response::Response {
    let n = c.attempts.fetch_add(1, Ordering::SeqCst);
    if n < c.fail_first.load(Ordering::SeqCst) {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            [("content-type", "application/json"), ("retry-after", "0")],
            r#"{"timestamp":"t","status":503,"error":"Service Unavailable","message":"conflicted","path":"/","reason":"contention"}"#,
        )
            .into_response()
    } else {
        (
            StatusCode::CREATED,
            [("content-type", "application/json")],
            format!(
                r#"{{"catalogId":"{}","uri":"http://x/c","message":"ok"}}"#,
                uuid::Uuid::new_v4()
            ),
        )
            .into_response()
    }
}

async fn serve(counters: Arc<Counters>) -> String {
    let app = Router::new()
        .route("/flaky/health", get(flaky))
        .route("/flaky/api/catalog", post(flaky))
        .route("/after/health", get(retry_after))
        .route("/slow/health", get(slow))
        .route("/broken/health", get(broken))
        .route("/busy/health", get(busy))
        .route("/contended/api/catalog", post(contended))
        .with_state(counters);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

fn fast_retries(n: u32) -> RetryPolicy {
    RetryPolicy {
        max_retries: n,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
        ..RetryPolicy::default()
    }
}

#[tokio::test]
async fn idempotent_requests_are_retried_until_they_succeed() {
    let c = Arc::new(Counters::default());
    c.fail_first.store(2, Ordering::SeqCst);
    let base = serve(c.clone()).await;
    let client =
        CheapClient::with_config(ClientConfig::new(format!("{base}/flaky")).retry(fast_retries(3)))
            .unwrap();
    client.health_check().await.unwrap();
    assert_eq!(
        c.attempts.load(Ordering::SeqCst),
        3,
        "two 503s, then success"
    );

    // Out of retries: the last error is returned.
    c.attempts.store(0, Ordering::SeqCst);
    c.fail_first.store(10, Ordering::SeqCst);
    let err = client.health_check().await.unwrap_err();
    assert!(
        matches!(err, ClientError::Unavailable { status: 503, .. }),
        "{err:?}"
    );
    assert_eq!(c.attempts.load(Ordering::SeqCst), 4, "1 try + 3 retries");
}

#[tokio::test]
async fn non_idempotent_requests_are_not_retried_unless_asked() {
    let c = Arc::new(Counters::default());
    c.fail_first.store(1, Ordering::SeqCst);
    let base = serve(c.clone()).await;
    let client =
        CheapClient::with_config(ClientConfig::new(format!("{base}/flaky")).retry(fast_retries(3)))
            .unwrap();
    let err = client
        .create_catalog_with(CatalogSpecies::Sink, None, None)
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Unavailable { .. }), "{err:?}");
    assert_eq!(
        c.attempts.load(Ordering::SeqCst),
        1,
        "a create is sent once"
    );

    c.attempts.store(0, Ordering::SeqCst);
    let opted_in = RetryPolicy {
        retry_non_idempotent: true,
        ..fast_retries(3)
    };
    let client =
        CheapClient::with_config(ClientConfig::new(format!("{base}/flaky")).retry(opted_in))
            .unwrap();
    // The flaky route answers `{"status":"UP"}`, which is not a create answer: a decode error
    // after the retry proves the request went through a second time.
    c.fail_first.store(1, Ordering::SeqCst);
    let err = client
        .create_catalog_with(CatalogSpecies::Sink, None, None)
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Decode(_)), "{err:?}");
    assert_eq!(c.attempts.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn contention_is_retried_even_for_a_create_and_does_not_open_the_circuit() {
    let c = Arc::new(Counters::default());
    c.fail_first.store(2, Ordering::SeqCst);
    let base = serve(c.clone()).await;
    let breaker = CircuitBreakerConfig {
        failure_threshold: 1,
        recovery_timeout: Duration::from_secs(60),
        success_threshold: 1,
    };
    let client = CheapClient::with_config(
        ClientConfig::new(format!("{base}/contended"))
            .retry(fast_retries(3))
            .circuit_breaker(Some(breaker.clone())),
    )
    .unwrap();
    // Contention means nothing was applied, so even a create is sent again.
    let created = client
        .create_catalog_with(CatalogSpecies::Sink, None, None)
        .await;
    assert!(created.is_ok(), "{created:?}");
    assert_eq!(c.attempts.load(Ordering::SeqCst), 3);
    // Without retries the error says contention, and the breaker stays closed.
    c.attempts.store(0, Ordering::SeqCst);
    c.fail_first.store(1, Ordering::SeqCst);
    let once = CheapClient::with_config(
        ClientConfig::new(format!("{base}/contended"))
            .retry(RetryPolicy::none())
            .circuit_breaker(Some(breaker)),
    )
    .unwrap();
    let err = once
        .create_catalog_with(CatalogSpecies::Sink, None, None)
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Contention { .. }), "{err:?}");
    let again = once
        .create_catalog_with(CatalogSpecies::Sink, None, None)
        .await;
    assert!(
        again.is_ok(),
        "the circuit is not open after contention: {again:?}"
    );
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let c = Arc::new(Counters::default());
    let base = serve(c.clone()).await;
    let client =
        CheapClient::with_config(ClientConfig::new(format!("{base}/after")).retry(fast_retries(2)))
            .unwrap();
    let start = Instant::now();
    client.health_check().await.unwrap();
    assert!(
        start.elapsed() >= Duration::from_secs(1),
        "waited {:?}",
        start.elapsed()
    );
    assert_eq!(c.attempts.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn timeouts_are_reported_and_retried() {
    let c = Arc::new(Counters::default());
    let base = serve(c.clone()).await;
    let client = CheapClient::with_config(
        ClientConfig::new(format!("{base}/slow"))
            .timeout(Duration::from_millis(200))
            .retry(fast_retries(1)),
    )
    .unwrap();
    let start = Instant::now();
    let err = client.health_check().await.unwrap_err();
    assert!(matches!(err, ClientError::Timeout(_)), "{err:?}");
    assert_eq!(c.attempts.load(Ordering::SeqCst), 2);
    assert!(start.elapsed() >= Duration::from_millis(400));
}

#[tokio::test]
async fn the_circuit_opens_fails_fast_and_closes_again() {
    let c = Arc::new(Counters::default());
    c.fail_first.store(1, Ordering::SeqCst);
    let base = serve(c.clone()).await;
    let breaker = CircuitBreakerConfig {
        failure_threshold: 3,
        recovery_timeout: Duration::from_millis(300),
        success_threshold: 1,
    };
    let client = CheapClient::with_config(
        ClientConfig::new(format!("{base}/broken"))
            .retry(RetryPolicy::none())
            .circuit_breaker(Some(breaker)),
    )
    .unwrap();
    for _ in 0..3 {
        assert!(matches!(
            client.health_check().await,
            Err(ClientError::Server { status: 500, .. })
        ));
    }
    for _ in 0..5 {
        assert!(matches!(
            client.health_check().await,
            Err(ClientError::CircuitOpen)
        ));
    }
    assert_eq!(
        c.attempts.load(Ordering::SeqCst),
        3,
        "nothing was sent while open"
    );
    tokio::time::sleep(Duration::from_millis(350)).await;
    c.fail_first.store(0, Ordering::SeqCst);
    client.health_check().await.unwrap();
    client.health_check().await.unwrap();
    assert_eq!(
        c.attempts.load(Ordering::SeqCst),
        5,
        "a trial request, then closed"
    );
}

#[tokio::test]
async fn requests_in_flight_are_capped() {
    let c = Arc::new(Counters::default());
    let base = serve(c.clone()).await;
    let client =
        CheapClient::with_config(ClientConfig::new(format!("{base}/busy")).max_in_flight(2))
            .unwrap();
    let start = Instant::now();
    let results = cheap_client::batch(0..10, 10, |_| {
        let client = client.clone();
        async move { client.health_check().await }
    })
    .await;
    assert!(results.iter().all(Result::is_ok));
    assert_eq!(c.attempts.load(Ordering::SeqCst), 10);
    assert!(
        c.max_in_flight.load(Ordering::SeqCst) <= 2,
        "{}",
        c.max_in_flight.load(Ordering::SeqCst)
    );
    assert!(
        start.elapsed() >= Duration::from_millis(500),
        "10 requests of 100 ms, 2 at a time"
    );
}
