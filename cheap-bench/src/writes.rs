//! `cheap-bench writes`: concurrent one-aspect upserts of new entities through the DAO alone,
//! no HTTP, into a catalog of `aspects` aspects: what the store's side of `http`'s upsert
//! figure costs, with the statements per upsert and the transactions it took.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cheap_core::{Aspect, CheapDao, Result, Uuid};

pub async fn run(backend: &str, aspects: usize, tasks: usize, seconds: u64) -> Result<()> {
    let dir = tempfile::tempdir().map_err(|e| cheap_core::CheapError::invalid(e.to_string()))?;
    let dao = crate::stores::open(backend, "cheap_bench_writes", dir.path()).await;
    let entities: Vec<Uuid> = (0..aspects).map(|_| Uuid::new_v4()).collect();
    let (cat, def) = crate::http::items_catalog(&entities)?;
    dao.save_catalog(&cat).await?;
    let id = cat.id();
    let v0 = dao.versioned_catalog_def(id).await?.1;
    let done = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let start = Instant::now();
    let mut handles = Vec::new();
    for _ in 0..tasks {
        let (dao, def, done) = (dao.clone(), def.clone(), done.clone());
        handles.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            while Instant::now() < deadline {
                let n = done.fetch_add(1, Ordering::Relaxed);
                let a = Aspect::builder(def.clone(), Uuid::new_v4())
                    .set("name", format!("n{n}"))
                    .set("qty", n as i64)
                    .build()?;
                let t = Instant::now();
                dao.upsert_aspects(id, def.name(), std::slice::from_ref(&a))
                    .await?;
                lat.push(t.elapsed());
            }
            Ok::<_, cheap_core::CheapError>(lat)
        }));
    }
    let mut lat = Vec::new();
    for h in handles {
        lat.extend(
            h.await
                .map_err(|e| cheap_core::CheapError::invalid(e.to_string()))??,
        );
    }
    let secs = start.elapsed().as_secs_f64();
    lat.sort();
    let p = |q: f64| lat[((lat.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e3;
    let versions = dao.versioned_catalog_def(id).await?.1 - v0;
    println!(
        "writes: {backend}, {aspects} aspects, {tasks} tasks, {seconds} s: {:.0} upserts/s, p50 {:.2} ms, p99 {:.2} ms, {} upserts in {versions} versions ({:.1} a transaction)",
        lat.len() as f64 / secs,
        p(0.5),
        p(0.99),
        lat.len(),
        lat.len() as f64 / versions.max(1) as f64
    );
    Ok(())
}
