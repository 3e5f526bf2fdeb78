//! What an operator sees: one log line per request with its route, status, latency and request
//! id (text or JSON, no colours off a terminal), `/metrics` by route and status with process
//! figures, and quiet startup on PostgreSQL.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cheap_core::CheapDao;

#[tokio::test]
async fn metrics_count_requests_by_route_and_status_and_refusals_are_not_store_errors() {
    let dao: Arc<dyn CheapDao> = Arc::new(cheap_core::MemoryDao::new());
    let s = common::start(dao, Default::default()).await;
    let missing = uuid::Uuid::new_v4();
    for _ in 0..3 {
        assert_eq!(s.get(&format!("/api/catalog/{missing}")).await.0, 404);
    }
    assert_eq!(s.get("/health").await.0, 200);
    let (_, text) = s.text("/metrics").await;
    assert!(
        text.contains(
            "cheap_http_requests_total{method=\"GET\",route=\"/api/catalog/{catalog_id}\",status=\"404\"} 3"
        ),
        "{text}"
    );
    assert!(text
        .contains("cheap_http_requests_total{method=\"GET\",route=\"/health\",status=\"200\"} 1"));
    assert!(text.contains("cheap_http_request_duration_seconds_bucket{method=\"GET\",route=\"/health\",status=\"200\",le=\"+Inf\"} 1"));
    for name in [
        "process_resident_memory_bytes ",
        "process_open_fds ",
        "cheap_uptime_seconds ",
    ] {
        assert!(text.contains(name), "{name} missing");
    }
    // The three 404s were the store answering "no such catalog", not failing.
    for line in text
        .lines()
        .filter(|l| l.starts_with("cheap_dao_errors_total"))
    {
        assert!(line.ends_with(" 0"), "{line}");
    }
}

struct Serve {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
    url: String,
}

fn serve(args: &[&str]) -> Serve {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cheap"))
        .arg("serve")
        .args(args)
        .env("RUST_LOG", "info")
        .env_remove("CHEAP_API_KEY")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, lines) = std::sync::mpsc::channel();
    let err = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut url = String::new();
    while url.is_empty() && Instant::now() < deadline {
        if let Ok(line) = lines.recv_timeout(Duration::from_millis(200)) {
            if let Some(i) = line.find("http://") {
                url = line[i..].split_whitespace().next().unwrap().to_owned();
            }
        }
    }
    assert!(!url.is_empty(), "cheap serve did not start");
    Serve { child, lines, url }
}

impl Serve {
    /// Lines logged within `wait`.
    fn drain(&self, wait: Duration) -> Vec<String> {
        let deadline = Instant::now() + wait;
        let mut out = Vec::new();
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(l) => out.push(l),
                Err(_) => break,
            }
        }
        out
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn get(url: &str, request_id: &str) -> u16 {
    reqwest::blocking::Client::new()
        .get(url)
        .header("x-request-id", request_id)
        .send()
        .unwrap()
        .status()
        .as_u16()
}

#[test]
fn serve_takes_a_sqlite_page_cache_size() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("c.db").display());
    let s = serve(&[
        "--database-url",
        &url,
        "--bind",
        "localhost:0",
        "--sqlite-page-cache-mib",
        "4",
    ]);
    assert_eq!(get(&format!("{}/health", s.url), "req-ok"), 200);
}

#[test]
fn one_json_line_per_request_with_its_route_status_and_id() {
    let s = serve(&[
        "--database-url",
        "memory:",
        "--bind",
        "localhost:0",
        "--log-format",
        "json",
    ]);
    let missing = uuid::Uuid::new_v4();
    assert_eq!(
        get(&format!("{}/api/catalog/{missing}", s.url), "req-404"),
        404
    );
    assert_eq!(get(&format!("{}/health", s.url), "req-ok"), 200);
    let lines = s.drain(Duration::from_secs(1));
    let requests: Vec<serde_json::Value> = lines
        .iter()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["message"] == "request")
        .collect();
    assert_eq!(requests.len(), 2, "{lines:?}");
    let r = &requests[0];
    assert_eq!(r["level"], "INFO", "a client's 404 is not a warning: {r}");
    assert_eq!(r["status"], 404);
    assert_eq!(r["span"]["route"], "/api/catalog/{catalog_id}");
    assert_eq!(r["span"]["method"], "GET");
    assert_eq!(r["span"]["id"], "req-404");
    assert!(r["ms"].is_number());
    assert_eq!(requests[1]["span"]["id"], "req-ok");
}

#[test]
fn text_logs_have_no_colours_off_a_terminal() {
    let s = serve(&["--database-url", "memory:", "--bind", "127.0.0.1:0"]);
    assert_eq!(get(&format!("{}/health", s.url), "plain"), 200);
    let lines = s.drain(Duration::from_secs(1));
    let line = lines
        .iter()
        .find(|l| l.contains("request") && l.contains("plain"))
        .unwrap_or_else(|| panic!("no request line: {lines:?}"));
    assert!(!line.contains('\u{1b}'), "{line:?}");
    assert!(
        line.contains("status=200") && line.contains("route=/health"),
        "{line}"
    );
}

#[test]
fn init_on_an_existing_postgres_schema_prints_no_notices() {
    let Ok(url) = std::env::var("CHEAP_TEST_POSTGRES_URL") else {
        assert!(std::env::var("CHEAP_TEST_REQUIRE_ALL").as_deref() != Ok("1"));
        return;
    };
    for _ in 0..2 {
        let out = Command::new(env!("CARGO_BIN_EXE_cheap"))
            .args(["init", "--database-url", &url])
            .env_remove("RUST_LOG")
            .output()
            .unwrap();
        assert!(out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("already exists"), "{err}");
        assert!(err.lines().count() <= 2, "{err}");
    }
}

fn statements_total(metrics: &str) -> Option<u64> {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix("cheap_store_statements_total "))
        .and_then(|n| n.parse().ok())
}

#[tokio::test]
async fn metrics_count_the_statements_a_request_costs() {
    let sqlite = cheap_db_sqlite::SqliteDao::connect("sqlite::memory:")
        .await
        .unwrap();
    let catalog = cheap_core::Catalog::new();
    sqlite.save_catalog(&catalog).await.unwrap();
    let s = common::start(Arc::new(sqlite), Default::default()).await;
    let path = format!("/api/catalog/{}", catalog.id());
    // The first read fills the metadata cache.
    assert_eq!(s.get(&path).await.0, 200);
    let before = statements_total(&s.text("/metrics").await.1).expect("the counter");
    assert_eq!(s.get(&path).await.0, 200);
    let after = statements_total(&s.text("/metrics").await.1).expect("the counter");
    assert_eq!(
        after - before,
        1,
        "a cached catalog read costs one statement"
    );

    // A store that does not count shows no counter.
    let memory = common::start(Arc::new(cheap_core::MemoryDao::new()), Default::default()).await;
    assert_eq!(statements_total(&memory.text("/metrics").await.1), None);
}
