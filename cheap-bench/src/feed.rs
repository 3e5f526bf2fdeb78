//! `cheap-bench feed`: how long a write through one server takes to reach a follower of a
//! second server over the same database, through the change feed.
//!
//! Two servers (`cheap_server::router` on 127.0.0.1, in this process) over one store, each with
//! its own pool and caches as two `cheap serve` processes have. A writer adds one list entry
//! per request to server A at a steady rate; a [`Replica::follow`] over `RemoteDao(B)` applies
//! B's events to a local in-memory copy. Each write's latency runs from just before its
//! request is sent to the moment the follower's copy holds it. The baseline, from the same
//! run, is the write's own round trip: a follower cannot know sooner than the writer does.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cheap_client::RemoteDao;
use cheap_core::sync::Replica;
use cheap_core::{Catalog, CatalogSpecies, CheapDao, HierarchyDef, HierarchyType, MemoryDao, Uuid};
use futures::StreamExt;

async fn serve(dao: Arc<dyn CheapDao>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(cheap_server::serve(
        listener,
        cheap_server::router(dao, Default::default()),
        std::future::pending(),
    ));
    url
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

pub async fn run(backend: &str, writes: usize, rate: u32) -> cheap_core::Result<()> {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = crate::stores::open(backend, "cheap_bench_feed", dir.path()).await;
    let b = crate::stores::open_again(backend, "cheap_bench_feed", dir.path()).await;
    let (url_a, url_b) = (serve(a.clone()).await, serve(b).await);
    let writer = RemoteDao::connect(&url_a).expect("client a");
    let upstream: Arc<dyn CheapDao> = Arc::new(RemoteDao::connect(&url_b).expect("client b"));

    let c = Catalog::new();
    let id = c.id();
    writer.save_catalog(&c).await.expect("save");
    writer
        .create_hierarchy(id, &HierarchyDef::new("l", HierarchyType::EntityList))
        .await
        .expect("list");
    let local: Arc<dyn CheapDao> = Arc::new(MemoryDao::new());
    let replica = Replica::new(local.clone(), upstream, id);
    replica
        .checkout(CatalogSpecies::Mirror)
        .await
        .expect("checkout");
    let v0 = writer.catalog_info(id).await.expect("info").version;

    // Write i is version v0 + i + 1: one writer, one version per write.
    let sent: Arc<Mutex<Vec<Option<Instant>>>> = Arc::new(Mutex::new(vec![None; writes]));
    let mut feed = vec![None; writes];
    let mut acked = Vec::with_capacity(writes);
    let follower = {
        let sent = sent.clone();
        let replica = replica.clone();
        async move {
            let mut applied = 0usize;
            let mut latencies = vec![Duration::ZERO; writes];
            let mut steps = replica.follow();
            while applied < writes {
                match steps.next().await {
                    Some(Ok(r)) => {
                        let now = Instant::now();
                        let upto = usize::try_from(r.upstream_version - v0)
                            .unwrap_or(0)
                            .min(writes);
                        let sent = sent.lock().unwrap_or_else(|e| e.into_inner());
                        for (i, l) in latencies.iter_mut().enumerate().take(upto).skip(applied) {
                            if let Some(t) = sent[i] {
                                *l = now.duration_since(t);
                            }
                        }
                        applied = applied.max(upto);
                    }
                    Some(Err(e)) => eprintln!("feed: follower step failed: {e}"),
                    None => break,
                }
            }
            latencies
        }
    };
    let producer = async {
        let every = Duration::from_secs_f64(1.0 / f64::from(rate.max(1)));
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        for i in 0..writes {
            tick.tick().await;
            let t = Instant::now();
            sent.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(t);
            writer
                .add_entities(id, "l", &[Uuid::new_v4()])
                .await
                .expect("write");
            acked.push(t.elapsed());
        }
    };
    let (latencies, ()) = tokio::time::timeout(
        Duration::from_secs(writes as u64 / u64::from(rate.max(1)) + 120),
        async { futures::join!(follower, producer) },
    )
    .await
    .expect("the follower caught up");
    for (i, l) in latencies.into_iter().enumerate() {
        feed[i] = Some(l);
    }
    let mut feed: Vec<Duration> = feed.into_iter().flatten().collect();
    feed.sort();
    acked.sort();
    let (f50, f99) = (percentile(&feed, 0.5), percentile(&feed, 0.99));
    let (a50, a99) = (percentile(&acked, 0.5), percentile(&acked, 0.99));
    // Contents only: each store numbers its own versions.
    let list = |c: Catalog| c.hierarchy("l").map(|h| h.content.clone());
    let same = list(local.load_catalog(id).await.expect("local"))
        == list(a.load_catalog(id).await.expect("upstream"));
    println!(
        "feed on {backend}: {writes} writes at {rate}/s through server A, followed through server B's events"
    );
    println!(
        "  write to follower applied: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        ms(f50),
        ms(f99),
        ms(feed.last().copied().unwrap_or_default())
    );
    println!(
        "  baseline, the write's own round trip: p50 {:.1} ms, p99 {:.1} ms",
        ms(a50),
        ms(a99)
    );
    println!(
        "  ratio (feed / round trip): p50 {:.2}, p99 {:.2}; follower identical to upstream: {same}",
        ms(f50) / ms(a50).max(f64::MIN_POSITIVE),
        ms(f99) / ms(a99).max(f64::MIN_POSITIVE)
    );
    Ok(())
}
