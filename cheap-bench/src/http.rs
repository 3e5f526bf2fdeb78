//! `cheap-bench http`: requests/s and latency of the REST server beside a bare axum handler,
//! each server a child process of this one (so its peak memory is its own), loaded from here.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cheap_core::{Aspect, AspectDef, Catalog, CatalogSpecies, PropertyDef, PropertyType, Uuid};

/// Runs a bare axum server (the baseline) until killed; prints its address.
pub async fn bare_server() {
    let app = axum::Router::new().route(
        "/bare",
        axum::routing::get(|| async {
            axum::Json(serde_json::json!({"hierarchyDefs": [], "aspectDefs": []}))
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    println!("http://{}", listener.local_addr().expect("addr"));
    axum::serve(listener, app).await.expect("serve");
}

/// Runs the cheap server on `backend` (see [`crate::stores::open`]), as `cheap serve` does,
/// until killed; prints its address.
pub async fn cheap_server(backend: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let dao = crate::stores::open(backend, "cheap_bench", dir.path()).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    println!("http://{}", listener.local_addr().expect("addr"));
    cheap_server::serve(
        listener,
        cheap_server::router(dao, Default::default()),
        std::future::pending(),
    )
    .await
    .expect("serve");
}

struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn spawn(args: &[&str]) -> Server {
        let exe = std::env::current_exe().expect("exe");
        let mut child = Command::new(exe)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn server");
        let mut line = String::new();
        let out = child.stdout.take().expect("stdout");
        std::io::BufRead::read_line(&mut std::io::BufReader::new(out), &mut line).expect("address");
        Server {
            child,
            url: line.trim().to_owned(),
        }
    }

    /// Starts the server's peak-memory count again (Linux `clear_refs`), so that the figure
    /// printed is the load's, not the catalog import's before it.
    fn reset_peak(&self) {
        let _ = std::fs::write(format!("/proc/{}/clear_refs", self.child.id()), "5");
    }

    /// Peak resident memory of the server process, in MiB.
    fn peak_mib(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(f64::NAN, |kb| kb / 1024.0)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Clone)]
enum Req {
    Get(String),
    Post(String, String),
}

struct Figures {
    rps: f64,
    p50: Duration,
    p99: Duration,
    errors: usize,
    /// Requests answered, successful or not.
    requests: usize,
}

/// The server's `cheap_store_statements_total`, when its store counts statements.
async fn statements(base: &str) -> Option<u64> {
    let text = reqwest::get(format!("{base}/metrics"))
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("cheap_store_statements_total "))
        .and_then(|n| n.trim().parse().ok())
}

async fn load(
    make: Arc<dyn Fn(usize) -> Req + Send + Sync>,
    connections: usize,
    duration: Duration,
) -> Figures {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(connections)
        .tcp_nodelay(true)
        .build()
        .expect("client");
    let deadline = Instant::now() + duration;
    let mut tasks = Vec::new();
    for worker in 0..connections {
        let (http, make) = (http.clone(), make.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0usize;
            let mut i = worker;
            while Instant::now() < deadline {
                let t = Instant::now();
                let r = match make(i) {
                    Req::Get(u) => http.get(u).send().await,
                    Req::Post(u, b) => {
                        http.post(u)
                            .header("content-type", "application/json")
                            .body(b)
                            .send()
                            .await
                    }
                };
                match r {
                    Ok(resp) if resp.status().is_success() => {
                        let _ = resp.bytes().await;
                        lat.push(t.elapsed());
                    }
                    _ => errors += 1,
                }
                i += connections;
            }
            (lat, errors)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await.expect("worker");
        all.extend(l);
        errors += e;
    }
    all.sort();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    Figures {
        rps: all.len() as f64 / duration.as_secs_f64(),
        p50: pct(0.50),
        p99: pct(0.99),
        requests: all.len() + errors,
        errors,
    }
}

fn print(name: &str, conns: usize, f: &Figures, base: &Figures, statements: Option<u64>) {
    let per = statements.map_or("  -".to_owned(), |n| {
        format!("{:.2}", n as f64 / f.requests.max(1) as f64)
    });
    println!(
        "{name:<13} c={conns:<4} {:>9.0} req/s  p50 {:>7.2} ms  p99 {:>7.2} ms  errors {:<3} statements/req {per} | bare axum {:>9.0} req/s p50 {:>6.2} ms p99 {:>6.2} ms | ratio {:.2}",
        f.rps,
        f.p50.as_secs_f64() * 1e3,
        f.p99.as_secs_f64() * 1e3,
        f.errors,
        base.rps,
        base.p50.as_secs_f64() * 1e3,
        base.p99.as_secs_f64() * 1e3,
        f.rps / base.rps
    );
}

pub async fn run(seconds: u64, backend: &str, aspects: usize) -> cheap_core::Result<()> {
    let cheap = Server::spawn(&["serve-cheap", "--backend", backend]);
    let bare = Server::spawn(&["serve-bare"]);
    let client = cheap_client::CheapClient::new(&cheap.url)
        .map_err(|e| cheap_core::CheapError::invalid(e.to_string()))?;

    // A catalog of `aspects` aspects to read, query and upsert into.
    let entities: Vec<Uuid> = (0..aspects).map(|_| Uuid::new_v4()).collect();
    let (cat, _) = items_catalog(&entities)?;
    client
        .import_catalog(&cat)
        .await
        .map_err(|e| cheap_core::CheapError::invalid(e.to_string()))?;
    let id = cat.id();
    println!(
        "the catalog's import through the API peaked the server at {:.1} MiB",
        cheap.peak_mib()
    );
    cheap.reset_peak();
    let base = cheap.url.clone();
    let entities = Arc::new(entities);

    let read: Arc<dyn Fn(usize) -> Req + Send + Sync> = {
        let u = format!("{base}/api/catalog/{id}");
        Arc::new(move |_| Req::Get(u.clone()))
    };
    let query: Arc<dyn Fn(usize) -> Req + Send + Sync> = {
        let (u, e) = (
            format!("{base}/api/catalog/{id}/aspects/query"),
            entities.clone(),
        );
        Arc::new(move |i| {
            Req::Post(
                u.clone(),
                format!(
                    r#"{{"entityIds":["{}"],"aspectDefNames":["bench.item"]}}"#,
                    e[i % e.len()]
                ),
            )
        })
    };
    // Each upsert writes an entity of its own: the catalog grows as it runs.
    let upsert: Arc<dyn Fn(usize) -> Req + Send + Sync> = {
        let u = format!("{base}/api/catalog/{id}/aspects/bench.item");
        Arc::new(move |i| {
            Req::Post(
                u.clone(),
                format!(
                    r#"{{"aspects":[{{"entityId":"{}","properties":{{"name":"n{i}","qty":{i}}}}}]}}"#,
                    Uuid::new_v4()
                ),
            )
        })
    };
    let bare_req: Arc<dyn Fn(usize) -> Req + Send + Sync> = {
        let u = format!("{}/bare", bare.url);
        Arc::new(move |_| Req::Get(u.clone()))
    };
    let d = Duration::from_secs(seconds);
    println!("http: {backend}, a catalog of {aspects} aspects, each upsert a new entity; {seconds} s per figure; server and bare axum are child processes, loaded from this one (2 cores shared)");
    for conns in [64, 512] {
        let base_fig = load(bare_req.clone(), conns, d).await;
        for (name, make) in [
            ("catalog read", &read),
            ("aspect query", &query),
            ("aspect upsert", &upsert),
        ] {
            let before = statements(&base).await;
            let f = load(make.clone(), conns, d).await;
            let ran = statements(&base)
                .await
                .zip(before)
                .map(|(after, before)| after - before);
            print(name, conns, &f, &base_fig, ran);
        }
    }
    println!(
        "peak memory under load: cheap server {:.1} MiB, bare axum {:.1} MiB",
        cheap.peak_mib(),
        bare.peak_mib()
    );
    Ok(())
}

/// A catalog with one aspect map, `bench.item` (a name and a quantity), holding an aspect for
/// each of `entities`: what `http` and `writes` read and write.
pub fn items_catalog(entities: &[Uuid]) -> cheap_core::Result<(Catalog, Arc<AspectDef>)> {
    let def = AspectDef::builder("bench.item")
        .property(PropertyDef::new("name", PropertyType::String).nullable(false))
        .property(PropertyDef::new("qty", PropertyType::Integer))
        .build()?
        .into_arc();
    let mut cat = Catalog::with_id(Uuid::new_v4(), CatalogSpecies::Sink, None)?;
    let map = cat.extend(def.clone())?;
    for (i, e) in entities.iter().enumerate() {
        map.put(
            Aspect::builder(def.clone(), *e)
                .set("name", format!("item {i}"))
                .set("qty", i as i64)
                .build()?,
        )?;
    }
    Ok((cat, def))
}

/// `cheap-bench client`: per-request cost of the cheap client beside raw reqwest, same server.
pub async fn client_overhead(requests: usize) -> cheap_core::Result<()> {
    let cheap = Server::spawn(&["serve-cheap"]);
    let err = |e: cheap_client::ClientError| cheap_core::CheapError::invalid(e.to_string());
    let client = cheap_client::CheapClient::new(&cheap.url).map_err(err)?;
    let id = client
        .create_catalog_with(CatalogSpecies::Sink, None, None)
        .await
        .map_err(err)?
        .catalog_id;
    let raw = reqwest::Client::builder()
        .tcp_nodelay(true)
        .build()
        .map_err(|e| cheap_core::CheapError::invalid(e.to_string()))?;
    let url = format!("{}/api/catalog/{id}", cheap.url);
    // Warm both connections up.
    for _ in 0..100 {
        client.get_catalog(id).await.map_err(err)?;
        let _ = raw.get(&url).send().await.map(|r| r.bytes());
    }
    let (mut ours, mut base) = (Duration::MAX, Duration::MAX);
    for _ in 0..3 {
        let t = Instant::now();
        for _ in 0..requests {
            client.get_catalog(id).await.map_err(err)?;
        }
        ours = ours.min(t.elapsed());
        let t = Instant::now();
        for _ in 0..requests {
            let r = raw
                .get(&url)
                .send()
                .await
                .map_err(|e| cheap_core::CheapError::invalid(e.to_string()))?;
            let body = r
                .bytes()
                .await
                .map_err(|e| cheap_core::CheapError::invalid(e.to_string()))?;
            let _: cheap_core::rest::GetCatalogDefResponse = serde_json::from_slice(&body)
                .map_err(|e| cheap_core::CheapError::invalid(e.to_string()))?;
        }
        base = base.min(t.elapsed());
    }
    let per = |d: Duration| d.as_secs_f64() * 1e6 / requests as f64;
    println!(
        "client: GET catalog def, {requests} sequential requests, best of 3: cheap-client {:.1} µs/request, raw reqwest + serde {:.1} µs/request, overhead {:+.1} µs ({:.2}x)",
        per(ours),
        per(base),
        per(ours) - per(base),
        per(ours) / per(base)
    );
    Ok(())
}
