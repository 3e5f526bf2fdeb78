//! `cheap-bench`: throughput figures, each printed next to a baseline measured in the same run
//! on the same machine, as a ratio. Nothing here asserts a timing.
//!
//! ```text
//! cargo run --release -p cheap-bench -- dao --backend sqlite --aspects 100000 --properties 5
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand, ValueEnum};

use cheap_core::{Aspect, AspectDef, Catalog, CheapDao, PropertyDef, PropertyType, Uuid};

mod baseline;
mod feed;
mod gen;
mod http;
mod scale;
mod stores;
mod writes;

#[derive(Parser)]
#[command(about = "cheap-rs benchmarks")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Save and load one large catalog through a DAO, beside raw driver inserts and selects.
    Dao {
        /// Which backend.
        #[arg(long, value_enum, default_value = "sqlite")]
        backend: Backend,
        /// Aspects in the catalog.
        #[arg(long, default_value_t = 100_000)]
        aspects: usize,
        /// Properties per aspect.
        #[arg(long, default_value_t = 5)]
        properties: usize,
        /// Runs of each measurement; the best is reported.
        #[arg(long, default_value_t = 3)]
        runs: usize,
    },
    /// Incremental sync: a pull after changing 1% of a catalog, beside a full copy of it.
    Sync {
        /// Aspects in the catalog.
        #[arg(long, default_value_t = 100_000)]
        aspects: usize,
        /// Runs; the best is reported.
        #[arg(long, default_value_t = 3)]
        runs: usize,
    },
    /// REST server throughput and latency beside a bare axum handler.
    Http {
        /// Seconds per figure.
        #[arg(long, default_value_t = 3)]
        seconds: u64,
        /// The store behind the server.
        #[arg(long, value_enum, default_value = "sqlite")]
        backend: Backend,
        /// Aspects in the catalog read, queried and upserted into.
        #[arg(long, default_value_t = 100_000)]
        aspects: usize,
    },
    /// Concurrent one-aspect upserts through the DAO alone (no HTTP): the store's share of
    /// `http`'s upsert figure.
    Writes {
        /// Which backend.
        #[arg(long, value_enum, default_value = "sqlite")]
        backend: Backend,
        /// Aspects in the catalog written to.
        #[arg(long, default_value_t = 100_000)]
        aspects: usize,
        /// Concurrent writers.
        #[arg(long, default_value_t = 64)]
        tasks: usize,
        /// Seconds to run.
        #[arg(long, default_value_t = 3)]
        seconds: u64,
    },
    /// The change feed: the time from a write through one server to a follower of a second
    /// server over the same database having applied it (p50/p99), beside the write's own
    /// round trip.
    Feed {
        #[arg(long, value_enum, default_value = "sqlite")]
        backend: Backend,
        #[arg(long, default_value_t = 1000)]
        writes: usize,
        /// Writes per second.
        #[arg(long, default_value_t = 100)]
        rate: u32,
    },
    /// One-item operations at several catalog sizes: how their cost grows.
    Scale {
        /// Which backend.
        #[arg(long, value_enum, default_value = "sqlite")]
        backend: Backend,
        /// Catalog sizes (aspects, and entries per hierarchy), comma-separated.
        #[arg(long, value_delimiter = ',', default_values_t = [1_000, 100_000, 1_000_000])]
        sizes: Vec<usize>,
        /// Repetitions of each operation; the median is reported.
        #[arg(long, default_value_t = 40)]
        reps: usize,
    },
    /// Write a large cheap-json catalog (one aspect map) to a file, for import and export runs.
    GenJson {
        /// Aspects in the catalog.
        #[arg(long, default_value_t = 1_000_000)]
        aspects: usize,
        /// Properties per aspect.
        #[arg(long, default_value_t = 5)]
        properties: usize,
        /// The file to write.
        #[arg(long)]
        output: std::path::PathBuf,
    },
    /// Client per-request overhead beside raw reqwest.
    Client {
        /// Requests per run.
        #[arg(long, default_value_t = 2000)]
        requests: usize,
    },
    /// (internal) serve the cheap REST API for `http`.
    #[command(hide = true)]
    ServeCheap {
        /// The store behind the server.
        #[arg(long, value_enum, default_value = "sqlite")]
        backend: Backend,
    },
    /// (internal) serve a bare axum handler for `http`.
    #[command(hide = true)]
    ServeBare,
}

#[derive(Clone, Copy, ValueEnum)]
enum Backend {
    Sqlite,
    Postgres,
    Mariadb,
}

impl Backend {
    fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
            Backend::Mariadb => "mariadb",
        }
    }
}

/// A catalog of `n` aspects with `props` properties each (Integer, String, Float cycling).
pub fn big_catalog(n: usize, props: usize) -> (Catalog, Arc<AspectDef>) {
    let types = [
        PropertyType::Integer,
        PropertyType::String,
        PropertyType::Float,
    ];
    let def = AspectDef::builder(format!("bench.item.{}", Uuid::new_v4().simple()))
        .properties((0..props).map(|i| PropertyDef::new(format!("p{i}"), types[i % types.len()])))
        .build()
        .expect("valid def")
        .into_arc();
    let mut cat = Catalog::new();
    let map = cat.extend(def.clone()).expect("fresh catalog");
    for i in 0..n {
        let mut b = Aspect::builder(def.clone(), Uuid::new_v4());
        for p in 0..props {
            b = match types[p % types.len()] {
                PropertyType::Integer => b.set(format!("p{p}"), (i * p) as i64),
                PropertyType::String => b.set(format!("p{p}"), format!("value {i} of {p}")),
                _ => b.set(format!("p{p}"), i as f64 / (p + 1) as f64),
            };
        }
        map.put(b.build().expect("valid aspect")).expect("same def");
    }
    (cat, def)
}

fn rate(rows: usize, d: Duration) -> f64 {
    rows as f64 / d.as_secs_f64()
}

fn report(what: &str, rows: usize, ours: Duration, base: Duration) {
    let (o, b) = (rate(rows, ours), rate(rows, base));
    println!(
        "{what:<6} cheap {:>12.0} rows/s ({:>8.3} s)   baseline {:>12.0} rows/s ({:>8.3} s)   ratio {:.2}",
        o,
        ours.as_secs_f64(),
        b,
        base.as_secs_f64(),
        o / b
    );
}

async fn dao_sqlite(aspects: usize, props: usize, runs: usize) -> cheap_core::Result<()> {
    let (cat, def) = big_catalog(aspects, props);
    let rows = aspects * props;
    println!("sqlite: {aspects} aspects x {props} properties = {rows} value rows; best of {runs} runs (file database, WAL)");
    let (mut save, mut load, mut base_save, mut base_load) =
        (Duration::MAX, Duration::MAX, Duration::MAX, Duration::MAX);
    for _ in 0..runs {
        let dir = tempfile::tempdir().map_err(|e| cheap_core::CheapError::backend("bench", e))?;
        let dao = cheap_db_sqlite::SqliteOptions::path(dir.path().join("cheap.db"))
            .connect()
            .await?;
        let t = Instant::now();
        dao.save_catalog(&cat).await?;
        save = save.min(t.elapsed());
        let t = Instant::now();
        let loaded = dao.load_catalog(cat.id()).await?;
        load = load.min(t.elapsed());
        assert_eq!(loaded.aspects(def.name()).map(|m| m.len()), Some(aspects));
        dao.close().await?;

        let (s, l) = baseline::sqlite(dir.path().join("raw.db"), &cat, &def).await?;
        base_save = base_save.min(s);
        base_load = base_load.min(l);
    }
    report("save", rows, save, base_save);
    report("load", rows, load, base_load);
    println!("baseline: the same aspect, map and value rows written in key order with plain prepared multi-row sqlx INSERTs in one transaction, and read back with one plain SELECT per table");
    Ok(())
}

async fn dao_postgres(aspects: usize, props: usize, runs: usize) -> cheap_core::Result<()> {
    let url = std::env::var("CHEAP_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let (cat, def) = big_catalog(aspects, props);
    let rows = aspects * props;
    println!("postgres: {aspects} aspects x {props} properties = {rows} value rows; best of {runs} runs ({url})");
    let (mut save, mut load, mut base_save, mut base_load) =
        (Duration::MAX, Duration::MAX, Duration::MAX, Duration::MAX);
    for _ in 0..runs {
        let schema = format!("cheap_bench_{}", Uuid::new_v4().simple());
        let dao = cheap_db_postgres::PostgresOptions::url(&url)
            .schema(&schema)
            .connect()
            .await?;
        let t = Instant::now();
        dao.save_catalog(&cat).await?;
        save = save.min(t.elapsed());
        let t = Instant::now();
        let loaded = dao.load_catalog(cat.id()).await?;
        load = load.min(t.elapsed());
        assert_eq!(loaded.aspects(def.name()).map(|m| m.len()), Some(aspects));
        let raw_schema = format!("{schema}_raw");
        let (s, l) = baseline::postgres(&url, &raw_schema, &cat, &def).await?;
        base_save = base_save.min(s);
        base_load = base_load.min(l);
        for sc in [&schema, &raw_schema] {
            sqlx::query(&format!("DROP SCHEMA {sc} CASCADE"))
                .execute(dao.pool())
                .await
                .map_err(|e| cheap_core::CheapError::backend("postgres", e))?;
        }
        dao.close().await?;
    }
    report("save", rows, save, base_save);
    report("load", rows, load, base_load);
    println!("baseline: the same aspect, map and value rows loaded in key order with COPY in one transaction, and read back with one plain SELECT");
    Ok(())
}

async fn dao_mariadb(aspects: usize, props: usize, runs: usize) -> cheap_core::Result<()> {
    use mysql_async::prelude::Queryable;
    let url = std::env::var("CHEAP_TEST_MARIADB_URL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".into());
    let (cat, def) = big_catalog(aspects, props);
    let rows = aspects * props;
    println!("mariadb: {aspects} aspects x {props} properties = {rows} value rows; best of {runs} runs ({url})");
    let merr = |e: mysql_async::Error| cheap_core::CheapError::backend("mariadb", e);
    let admin = cheap_db_mariadb::MariaDbOptions::url(&url)
        .init_schema(false)
        .connect()
        .await?;
    let (mut save, mut load, mut base_save, mut base_load) =
        (Duration::MAX, Duration::MAX, Duration::MAX, Duration::MAX);
    for _ in 0..runs {
        let db = format!("cheap_bench_{}", Uuid::new_v4().simple());
        let raw = format!("{db}_raw");
        let mut conn = admin.pool().get_conn().await.map_err(merr)?;
        for d in [&db, &raw] {
            conn.query_drop(format!("CREATE DATABASE {d}"))
                .await
                .map_err(merr)?;
        }
        let dao = cheap_db_mariadb::MariaDbOptions::url(&url)
            .database(&db)
            .connect()
            .await?;
        let t = Instant::now();
        dao.save_catalog(&cat).await?;
        save = save.min(t.elapsed());
        let t = Instant::now();
        let loaded = dao.load_catalog(cat.id()).await?;
        load = load.min(t.elapsed());
        assert_eq!(loaded.aspects(def.name()).map(|m| m.len()), Some(aspects));
        dao.close().await?;
        let base = cheap_db_mariadb::MariaDbOptions::url(&url)
            .database(&raw)
            .connect()
            .await?;
        let (s, l) = baseline::mariadb(&base, &cat, &def).await?;
        base.close().await?;
        base_save = base_save.min(s);
        base_load = base_load.min(l);
        for d in [&db, &raw] {
            conn.query_drop(format!("DROP DATABASE {d}"))
                .await
                .map_err(merr)?;
        }
    }
    admin.close().await?;
    report("save", rows, save, base_save);
    report("load", rows, load, base_load);
    println!("baseline: the same aspect, map and value rows written with plain multi-row INSERTs (1,000 rows a statement) in key order in one transaction through mysql_async, and read back with one plain SELECT");
    Ok(())
}

/// Upstream and local SQLite files: a checkout (full copy) of an `n`-aspect catalog, then a pull
/// after 1% of its aspects changed upstream.
async fn sync(aspects: usize, runs: usize) -> cheap_core::Result<()> {
    use cheap_core::sync::Replica;
    let (cat, def) = big_catalog(aspects, 5);
    println!("sync: {aspects} aspects x 5 properties, 1% changed upstream; best of {runs} runs (SQLite files)");
    let (mut full, mut pull, mut moved) = (Duration::MAX, Duration::MAX, 0);
    for _ in 0..runs {
        let dir = tempfile::tempdir().map_err(|e| cheap_core::CheapError::backend("bench", e))?;
        let open =
            |name: &str| cheap_db_sqlite::SqliteOptions::path(dir.path().join(name)).connect();
        let upstream: Arc<dyn CheapDao> = Arc::new(open("upstream.db").await?);
        let local: Arc<dyn CheapDao> = Arc::new(open("local.db").await?);
        upstream.save_catalog(&cat).await?;
        let replica = Replica::new(local.clone(), upstream.clone(), cat.id());
        let t = Instant::now();
        replica.checkout(cheap_core::CatalogSpecies::Mirror).await?;
        full = full.min(t.elapsed());
        let changed: Vec<cheap_core::Aspect> = cat
            .aspects(def.name())
            .map(|m| m.iter().step_by(100).cloned().collect())
            .unwrap_or_default();
        upstream
            .upsert_aspects(cat.id(), def.name(), &changed)
            .await?;
        let t = Instant::now();
        let report = replica.pull().await?;
        pull = pull.min(t.elapsed());
        moved = report.aspects_copied;
        upstream.close().await?;
        local.close().await?;
    }
    println!(
        "full copy {:>9.3} s   incremental pull {:>9.3} s ({moved} aspects moved)   pull/full ratio {:.3}",
        full.as_secs_f64(),
        pull.as_secs_f64(),
        pull.as_secs_f64() / full.as_secs_f64()
    );
    Ok(())
}

fn main() -> cheap_core::Result<()> {
    // The bench's server child runs as `cheap serve` does.
    if std::env::args().nth(1).as_deref() == Some("serve-cheap") {
        cheap_server::memory::limit_malloc_arenas(cheap_server::memory::SERVER_MALLOC_ARENAS);
    }
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    rt.enable_all();
    // For experiments: how often a worker looks at tasks woken from outside the runtime.
    if let Some(n) = std::env::var("CHEAP_BENCH_GLOBAL_QUEUE_INTERVAL")
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
    {
        rt.global_queue_interval(n);
    }
    rt.build()
        .map_err(|e| cheap_core::CheapError::invalid(e.to_string()))?
        .block_on(run())
}

async fn run() -> cheap_core::Result<()> {
    match Cli::parse().command {
        Command::Dao {
            backend: Backend::Sqlite,
            aspects,
            properties,
            runs,
        } => dao_sqlite(aspects, properties, runs.max(1)).await,
        Command::Dao {
            backend: Backend::Postgres,
            aspects,
            properties,
            runs,
        } => dao_postgres(aspects, properties, runs.max(1)).await,
        Command::Dao {
            backend: Backend::Mariadb,
            aspects,
            properties,
            runs,
        } => dao_mariadb(aspects, properties, runs.max(1)).await,
        Command::Sync { aspects, runs } => sync(aspects, runs.max(1)).await,
        Command::Http {
            seconds,
            backend,
            aspects,
        } => http::run(seconds.max(1), backend.name(), aspects.max(1)).await,
        Command::Writes {
            backend,
            aspects,
            tasks,
            seconds,
        } => writes::run(backend.name(), aspects.max(1), tasks.max(1), seconds.max(1)).await,
        Command::Feed {
            backend,
            writes,
            rate,
        } => feed::run(backend.name(), writes.max(1), rate).await,
        Command::Scale {
            backend,
            sizes,
            reps,
        } => scale::run(backend.name(), &sizes, reps.max(1)).await,
        Command::GenJson {
            aspects,
            properties,
            output,
        } => {
            let file = std::fs::File::create(&output)
                .map_err(|e| cheap_core::CheapError::backend("gen-json", e))?;
            let mut out = std::io::BufWriter::new(file);
            let id = gen::write(aspects, properties, &mut out)?;
            std::io::Write::flush(&mut out)
                .map_err(|e| cheap_core::CheapError::backend("gen-json", e))?;
            println!("{id}");
            Ok(())
        }
        Command::Client { requests } => http::client_overhead(requests.max(1)).await,
        Command::ServeCheap { backend } => {
            http::cheap_server(backend.name()).await;
            Ok(())
        }
        Command::ServeBare => {
            http::bare_server().await;
            Ok(())
        }
    }
}
