//! The `cheap` command: serve the REST API, and move catalogs in and out of a store.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

mod progress;
mod store;

use clap::{Parser, Subcommand};

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use cheap_core::redact::{redact_url, scrub};
use cheap_core::Uuid;
use cheap_server::transfer::{export_json_counted, start_import, CountingReader};
use cheap_server::ServerConfig;
use progress::{Progress, Unit};

#[derive(Parser)]
#[command(
    name = "cheap",
    version,
    about = "CHEAP catalogs: REST server and store tools"
)]
struct Cli {
    /// Log lines as text (the default) or as one JSON object per line.
    #[arg(
        long,
        global = true,
        value_enum,
        default_value = "text",
        env = "CHEAP_LOG_FORMAT"
    )]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(clap::Args, Clone)]
struct Store {
    /// Store URL: sqlite://file.db, sqlite::memory:, memory:, postgres://..., mysql://...
    #[arg(long, env = "CHEAP_DATABASE_URL", default_value = "sqlite://cheap.db")]
    database_url: String,
    /// A SQLite store's page cache for its whole pool, in MiB (default 64). Point reads and
    /// small writes barely use it (the OS caches the file); big saves and loads do.
    #[arg(long, env = "CHEAP_SQLITE_PAGE_CACHE_MIB")]
    sqlite_page_cache_mib: Option<u64>,
}

impl Store {
    fn settings(&self) -> store::StoreSettings {
        store::StoreSettings {
            sqlite_page_cache: self.sqlite_page_cache_mib.map(|mib| mib << 20),
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Serve the REST API.
    Serve {
        #[command(flatten)]
        store: Store,
        /// Address to listen on.
        #[arg(long, env = "CHEAP_BIND", default_value = "127.0.0.1:8080")]
        bind: String,
        /// Require `Authorization: Bearer <key>` on every route but health and /api-docs.
        #[arg(long, env = "CHEAP_API_KEY")]
        api_key: Option<String>,
        /// Largest page size.
        #[arg(long, default_value_t = 100)]
        max_page_size: u64,
        /// Largest request body, in bytes (the import has its own limit).
        #[arg(long, default_value_t = 16 * 1024 * 1024)]
        body_limit: usize,
        /// Largest document POST /api/catalog/import takes, in bytes; it is spooled to a
        /// temporary file (in TMPDIR), not held in memory.
        #[arg(long, default_value_t = 4 * 1024 * 1024 * 1024)]
        import_body_limit: u64,
        /// Request timeout, in seconds (answered 503); reading the body does not count.
        #[arg(long, default_value_t = 30)]
        request_timeout: u64,
        /// Seconds a client has to send a request's body (else 408).
        #[arg(long, default_value_t = 20)]
        body_read_timeout: u64,
        /// Seconds a client has to send a request's headers, and that an idle connection stays
        /// open.
        #[arg(long, default_value_t = 10)]
        header_read_timeout: u64,
        /// Connections served at once; beyond it new connections are answered 503 (health
        /// still answers) and closed.
        #[arg(long, default_value_t = 4096)]
        max_connections: usize,
        /// Do not serve the browsable API (Swagger UI at /docs and /swagger-ui.html).
        #[arg(long)]
        no_docs: bool,
        /// This server's URL as clients reach it, for the URIs of new catalogs (default: the
        /// request's Host).
        #[arg(long, env = "CHEAP_PUBLIC_URL")]
        public_url: Option<String>,
        /// Honour Forwarded / X-Forwarded-Host / X-Forwarded-Proto (only behind a proxy that
        /// sets them; any client can send them).
        #[arg(long)]
        trust_forwarded_headers: bool,
        /// Requests per client (per API key, or per IP without one), like 200/s or 6000/min;
        /// over it is 429 with Retry-After. Health and metrics are exempt. Off by default.
        #[arg(long, value_parser = cheap_server::RateLimitConfig::parse_rate)]
        rate_limit: Option<u32>,
        /// Requests a client may send at once after a quiet spell (default: twice the
        /// per-second rate). Needs --rate-limit.
        #[arg(long, requires = "rate_limit")]
        burst: Option<u32>,
        /// Change-event streams (GET /api/catalog/{id}/events) open at once; more is 503.
        #[arg(long, default_value_t = 1000)]
        max_event_streams: usize,
    },
    /// Create the schema of a store (done automatically by the other commands too).
    Init {
        #[command(flatten)]
        store: Store,
    },
    /// Store a cheap-json catalog file (replacing a catalog with the same id).
    Import {
        #[command(flatten)]
        store: Store,
        /// The cheap-json file.
        file: PathBuf,
    },
    /// Print a catalog as cheap-json.
    Export {
        #[command(flatten)]
        store: Store,
        /// The catalog id.
        id: Uuid,
        /// Pretty-print (Jackson's layout).
        #[arg(long)]
        pretty: bool,
        /// Write to this file instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Sync one catalog with its upstream, by the local copy's species: a MIRROR or CACHE
    /// pulls what changed, a CLONE pushes its changes (reporting conflicts), and a catalog not
    /// yet held locally is checked out as `--species`.
    Sync {
        /// The local store URL.
        #[arg(long)]
        local: String,
        /// The upstream store URL (a store URL, or a `cheap serve` base URL http://...).
        #[arg(long)]
        upstream: String,
        /// Species of a first checkout: mirror, cache or clone.
        #[arg(long, default_value = "mirror")]
        species: String,
        /// After syncing a MIRROR or CACHE, keep following the upstream's change events,
        /// applying each as it comes, until interrupted (Ctrl-C or SIGTERM).
        #[arg(long)]
        follow: bool,
        /// The catalog id.
        catalog: Uuid,
    },
    /// Print the OpenAPI document of the REST API (what `cheap serve` answers at /api-docs).
    Openapi,
    /// Copy every catalog from one store to another.
    Copy {
        /// Source store URL.
        #[arg(long)]
        from: String,
        /// Target store URL.
        #[arg(long)]
        to: String,
    },
}

async fn run(cli: Cli) -> Result<(), String> {
    let open = |url: String, settings: store::StoreSettings| async move {
        store::open(&url, &settings).await.map_err(|e| {
            let message = format!("cannot open {}: {e}", redact_url(&url));
            scrub(&message, &url)
        })
    };
    match cli.command {
        Command::Serve {
            store,
            bind,
            api_key,
            max_page_size,
            body_limit,
            import_body_limit,
            request_timeout,
            body_read_timeout,
            header_read_timeout,
            max_connections,
            no_docs,
            public_url,
            trust_forwarded_headers,
            rate_limit,
            burst,
            max_event_streams,
        } => {
            if api_key.as_deref().is_some_and(|k| k.trim().is_empty()) {
                return Err(
                    "refusing to start: the API key (--api-key or CHEAP_API_KEY) is empty; \
                    unset it to serve without authentication"
                        .into(),
                );
            }
            let dao = open(store.database_url.clone(), store.settings()).await?;
            let authentication = if api_key.is_some() { "API key" } else { "off" };
            let config = {
                let mut config = ServerConfig::default();
                config.api_key = api_key;
                config.max_page_size = max_page_size;
                config.body_limit = body_limit;
                config.import_body_limit = import_body_limit;
                config.request_timeout = Duration::from_secs(request_timeout);
                config.body_read_timeout = Duration::from_secs(body_read_timeout);
                config.docs = !no_docs;
                config.public_url = public_url;
                config.trust_forwarded = trust_forwarded_headers;
                config.rate_limit = rate_limit.map(|r| {
                    cheap_server::RateLimitConfig::new(r, burst.unwrap_or(r.saturating_mul(2)))
                });
                config.max_event_streams = max_event_streams;
                config
            };
            // A host name resolves (`localhost:8080`); the first address that binds is used.
            let listener = tokio::net::TcpListener::bind(bind.as_str())
                .await
                .map_err(|e| format!("cannot bind {bind}: {e}"))?;
            let addr = listener.local_addr().map_err(|e| e.to_string())?;
            tracing::info!(%addr, store = %redact_url(&store.database_url), authentication, "serving");
            eprintln!("cheap: serving {} on http://{addr}", dao.backend_name());
            raise_descriptor_limit(max_connections);
            let limits = cheap_server::ConnectionLimits::default()
                .with_max_connections(max_connections)
                .with_header_read_timeout(Duration::from_secs(header_read_timeout));
            cheap_server::serve_with_limits(
                listener,
                cheap_server::router(dao.clone(), config),
                limits,
                cheap_server::shutdown_signal(),
            )
            .await
            .map_err(|e| e.to_string())?;
            dao.close().await.map_err(|e| e.to_string())
        }
        Command::Init { store } => {
            let dao = open(store.database_url.clone(), store.settings()).await?;
            dao.health_check().await.map_err(|e| e.to_string())?;
            eprintln!("cheap: {} is ready", redact_url(&store.database_url));
            dao.close().await.map_err(|e| e.to_string())
        }
        Command::Import { store, file } => {
            let opened = std::fs::File::open(&file)
                .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
            let size = opened.metadata().map(|m| m.len()).ok();
            let read = Arc::new(AtomicU64::new(0));
            let reader = CountingReader::new(opened, read.clone());
            let dao = open(store.database_url.clone(), store.settings()).await?;
            let mut progress =
                Progress::new(format!("import {}", file.display()), Unit::Bytes, size);
            let outcome = progress
                .watch(&read, async {
                    let (header, parts) = start_import(reader).await?;
                    let v = dao.import_catalog(parts).await?;
                    Ok::<_, cheap_core::CheapError>((header.id, v))
                })
                .await;
            let (id, v) = outcome.map_err(|e| format!("{}: {e}", file.display()))?;
            println!("{id} version {v}");
            dao.close().await.map_err(|e| e.to_string())
        }
        Command::Export {
            store,
            id,
            pretty,
            output,
        } => {
            use futures::TryStreamExt;
            use std::io::Write;
            let dao = open(store.database_url.clone(), store.settings()).await?;
            let total = dao
                .list_hierarchies(id)
                .await
                .map_err(|e| e.to_string())?
                .iter()
                .map(|h| h.size)
                .sum::<u64>();
            let written = Arc::new(AtomicU64::new(0));
            let mut text = export_json_counted(dao.clone(), id, pretty, written.clone());
            let (mut out, shown): (Box<dyn Write + Send>, bool) = match &output {
                Some(p) => (
                    Box::new(std::io::BufWriter::new(
                        std::fs::File::create(p)
                            .map_err(|e| format!("cannot write {}: {e}", p.display()))?,
                    )),
                    true,
                ),
                None => (Box::new(std::io::BufWriter::new(std::io::stdout())), false),
            };
            let name = output
                .as_ref()
                .map_or("-".into(), |p| p.display().to_string());
            let failed = |e: std::io::Error| format!("cannot write {name}: {e}");
            // A bar only when the text goes to a file: on stdout it would mix with the text.
            let mut progress =
                shown.then(|| Progress::new(format!("export {id}"), Unit::Entries, Some(total)));
            while let Some(chunk) = text.try_next().await.map_err(|e| e.to_string())? {
                out.write_all(&chunk).map_err(failed)?;
                if let Some(p) = &mut progress {
                    p.set(written.load(Ordering::Relaxed));
                }
            }
            if output.is_none() {
                out.write_all(b"\n").map_err(failed)?;
            }
            out.flush().map_err(failed)?;
            if let Some(p) = &mut progress {
                p.finish(written.load(Ordering::Relaxed));
            }
            dao.close().await.map_err(|e| e.to_string())
        }
        Command::Sync {
            local,
            upstream,
            species,
            follow,
            catalog,
        } => {
            let species: cheap_core::CatalogSpecies = species
                .to_ascii_uppercase()
                .parse()
                .map_err(|e| format!("{e}"))?;
            let (l, u) = (
                open(local, Default::default()).await?,
                open(upstream, Default::default()).await?,
            );
            let mut outcome = sync_one(l.clone(), u.clone(), catalog, species).await;
            if outcome.is_ok() && follow {
                outcome = tokio::select! {
                    r = follow_one(l.clone(), u.clone(), catalog) => r,
                    () = cheap_server::shutdown_signal() => {
                        eprintln!("cheap: stopped following catalog {catalog}");
                        Ok(())
                    }
                };
            }
            l.close().await.map_err(|e| e.to_string())?;
            u.close().await.map_err(|e| e.to_string())?;
            outcome
        }
        Command::Openapi => {
            println!("{}", cheap_server::openapi_json());
            Ok(())
        }
        Command::Copy { from, to } => {
            use futures::{StreamExt, TryStreamExt};
            let (src, dst) = (
                open(from, Default::default()).await?,
                open(to, Default::default()).await?,
            );
            let ids = src.list_catalog_ids().await.map_err(|e| e.to_string())?;
            let mut total = 0u64;
            for id in &ids {
                let hs = src.list_hierarchies(*id).await.map_err(|e| e.to_string())?;
                total += hs.iter().map(|h| h.size).sum::<u64>();
            }
            let copied_entries = Arc::new(AtomicU64::new(0));
            let mut progress = Progress::new("copy", Unit::Entries, Some(total));
            let mut copied = 0u64;
            for id in ids {
                let counter = copied_entries.clone();
                // Part by part: the catalog goes from one store to the other without being
                // held whole.
                let parts = src
                    .export_catalog(id)
                    .inspect_ok(move |p| {
                        counter.fetch_add(p.entry_count(), Ordering::Relaxed);
                    })
                    .boxed();
                progress
                    .watch(&copied_entries, dst.import_catalog(parts))
                    .await
                    .map_err(|e| format!("catalog {id}: {e}"))?;
                copied += 1;
            }
            eprintln!("cheap: copied {copied} catalog(s)");
            src.close().await.map_err(|e| e.to_string())?;
            dst.close().await.map_err(|e| e.to_string())
        }
    }
}

/// One `cheap sync`: checkout, pull or push, with a line of progress per step.
async fn sync_one(
    local: std::sync::Arc<dyn cheap_core::CheapDao>,
    upstream: std::sync::Arc<dyn cheap_core::CheapDao>,
    catalog: Uuid,
    species: cheap_core::CatalogSpecies,
) -> Result<(), String> {
    use cheap_core::sync::Replica;
    use cheap_core::CatalogSpecies;
    let replica = Replica::new(local.clone(), upstream, catalog);
    let held = match local.catalog_info(catalog).await {
        Ok(i) => Some(i.species),
        Err(cheap_core::CheapError::NotFound(_)) => None,
        Err(e) => return Err(e.to_string()),
    };
    let pull = |r: cheap_core::sync::PullReport| {
        eprintln!(
            "cheap: {} catalog {catalog} at upstream version {}: {} aspect(s) copied, {} removed, {} hierarchy(ies) copied whole, {} removed",
            if r.full { "checked out" } else { "pulled" },
            r.upstream_version,
            r.aspects_copied,
            r.aspects_removed,
            r.replaced.len(),
            r.removed.len()
        );
    };
    match held {
        None => {
            eprintln!(
                "cheap: checking out catalog {catalog} as a {}",
                species.as_upper()
            );
            pull(replica.checkout(species).await.map_err(|e| e.to_string())?);
        }
        Some(CatalogSpecies::Mirror | CatalogSpecies::Cache) => {
            eprintln!("cheap: pulling catalog {catalog}");
            pull(replica.pull().await.map_err(|e| e.to_string())?);
        }
        Some(CatalogSpecies::Clone) => {
            eprintln!("cheap: pushing catalog {catalog}");
            let r = replica.push().await.map_err(|e| e.to_string())?;
            if !r.conflicts.is_empty() {
                for c in &r.conflicts {
                    eprintln!("cheap: conflict: {c:?}");
                }
                return Err(format!(
                    "{} conflict(s): the upstream changed the same items; nothing was pushed",
                    r.conflicts.len()
                ));
            }
            eprintln!(
                "cheap: pushed {} aspect(s), {} removed, {} hierarchy(ies) whole; upstream at version {}",
                r.aspects_pushed,
                r.aspects_removed,
                r.replaced.len(),
                r.upstream_version
            );
        }
        Some(other) => {
            return Err(format!(
                "catalog {catalog} is a {}: only a MIRROR, CACHE or CLONE syncs",
                other.as_upper()
            ))
        }
    }
    Ok(())
}

/// Follows `catalog`'s upstream, printing each step, until the upstream's events end.
async fn follow_one(
    local: std::sync::Arc<dyn cheap_core::CheapDao>,
    upstream: std::sync::Arc<dyn cheap_core::CheapDao>,
    catalog: Uuid,
) -> Result<(), String> {
    use futures::StreamExt;
    let replica = cheap_core::sync::Replica::new(local, upstream, catalog);
    eprintln!("cheap: following catalog {catalog}");
    let mut steps = replica.follow();
    while let Some(step) = steps.next().await {
        match step {
            Ok(r) => eprintln!(
                "cheap: at upstream version {}: {} aspect(s) copied, {} removed, {} hierarchy(ies) copied whole, {} removed",
                r.upstream_version,
                r.aspects_copied,
                r.aspects_removed,
                r.replaced.len(),
                r.removed.len()
            ),
            Err(cheap_core::CheapError::NotFound(_)) => {
                return Err(format!("catalog {catalog} was deleted upstream"))
            }
            Err(e) if e.is_transient() => eprintln!("cheap: {e}; following on"),
            Err(e) => return Err(e.to_string()),
        }
    }
    Err("the upstream's change events ended".into())
}

/// Lifts the soft limit on open files towards the hard one, so that `max_connections` sockets
/// plus the pools' fit; says so when they cannot.
fn raise_descriptor_limit(max_connections: usize) {
    let want = max_connections as u64 + max_connections as u64 / 8 + 256;
    match rlimit::increase_nofile_limit(want) {
        Ok(got) if got < want => tracing::warn!(
            open_files = got,
            max_connections,
            "the open-file limit is below what --max-connections needs; connections beyond it are refused at accept"
        ),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "could not read or raise the open-file limit"),
    }
}

fn main() -> ExitCode {
    // Every command, before the runtime starts its threads: imports and copies hold as
    // much freed memory per arena as a server.
    cheap_server::memory::limit_malloc_arenas(cheap_server::memory::SERVER_MALLOC_ARENAS);
    match tokio::runtime::Runtime::new() {
        Ok(rt) => rt.block_on(main_async()),
        Err(e) => {
            eprintln!("cheap: cannot start the runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn main_async() -> ExitCode {
    let cli = Cli::parse();
    // RUST_LOG when set; else INFO, without sqlx's per-statement lines (slow-statement
    // warnings included: `/metrics` has the latencies).
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "info,sqlx=error".into());
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none());
    match cli.log_format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .init(),
    }
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cheap: {e}");
            ExitCode::FAILURE
        }
    }
}
