//! The watchers of one store, served by one look for all of them.
//!
//! Each watched catalog has a `tokio::sync::watch` channel of its stamp (version and epoch).
//! One task per store reads the stamps of every watched catalog in one statement, each time it
//! is woken: by a commit of this process, by the backend's notifications (PostgreSQL's
//! LISTEN, for writes of any process), or by its poll interval (the only way to learn of
//! another process's writes on SQLite and MariaDB). A watcher whose catalog's stamp changed
//! looks at the catalog's change tables itself ([`cheap_core::dao::watch::follow`]), so what
//! it is told comes from the store, never from the notification.
//!
//! The task ends when the last watcher goes, and starts again with the next one.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cheap_core::dao::watch::Signal;
use futures::stream::{BoxStream, Stream, StreamExt};
use tokio::sync::{watch, Notify};
use uuid::Uuid;

use crate::conn::{Arg, SqlBackend, TxMode};

/// A catalog's stamp as the last look saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stamp {
    /// Not looked at yet.
    Unknown,
    /// No such catalog.
    Missing,
    /// Its version and epoch (its incarnation: a catalog deleted and created again has a new
    /// one).
    At(i64, Option<i64>),
}

#[derive(Debug)]
pub(crate) struct Watchers {
    catalogs: Mutex<Hub>,
    /// Wakes the task: a commit here, or a notification.
    wake: Arc<Notify>,
    interval: Mutex<Duration>,
}

#[derive(Debug, Default)]
struct Hub {
    stamps: HashMap<Uuid, watch::Sender<Stamp>>,
    /// The task, while it runs. It may also have ended without saying so (its runtime shut
    /// down): then the next watcher starts another.
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Default for Watchers {
    fn default() -> Self {
        Watchers {
            catalogs: Mutex::default(),
            wake: Arc::new(Notify::new()),
            interval: Mutex::new(cheap_core::dao::watch::DEFAULT_POLL_INTERVAL),
        }
    }
}

impl Watchers {
    /// Something was committed: the task looks now rather than at its next interval.
    pub(crate) fn wake(&self) {
        self.wake.notify_one();
    }

    /// Ends every watch of the store (their signals end) and lets the task stop.
    pub(crate) fn close(&self) {
        self.catalogs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .stamps
            .clear();
        self.wake.notify_one();
    }

    /// How often the task looks when nothing wakes it.
    pub(crate) fn set_interval(&self, every: Duration) {
        *self.interval.lock().unwrap_or_else(|e| e.into_inner()) =
            every.max(Duration::from_millis(1));
    }

    fn interval(&self) -> Duration {
        *self.interval.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The signals for one watcher of `catalog`; starts the task when it is not running.
    /// `None` outside a tokio runtime.
    pub(crate) fn subscribe<B: SqlBackend + 'static>(
        self: &Arc<Self>,
        backend: &Arc<B>,
        statements: &Arc<std::sync::atomic::AtomicU64>,
        catalog: Uuid,
    ) -> Option<BoxStream<'static, Signal>> {
        let handle = tokio::runtime::Handle::try_current().ok()?;
        let rx = {
            let mut hub = self.catalogs.lock().unwrap_or_else(|e| e.into_inner());
            let rx = hub
                .stamps
                .entry(catalog)
                .or_insert_with(|| watch::Sender::new(Stamp::Unknown))
                .subscribe();
            if hub.task.as_ref().is_none_or(|t| t.is_finished()) {
                let task = handle.spawn(run(self.clone(), backend.clone(), statements.clone()));
                hub.task = Some(task);
            }
            rx
        };
        Some(signals(rx).boxed())
    }

    /// The watched catalogs, forgetting those nobody watches any more; `None` (and the task
    /// marked stopped) when there are none.
    fn watched(&self) -> Option<Vec<Uuid>> {
        let mut hub = self.catalogs.lock().unwrap_or_else(|e| e.into_inner());
        hub.stamps.retain(|_, tx| tx.receiver_count() > 0);
        if hub.stamps.is_empty() {
            hub.task = None;
            return None;
        }
        Some(hub.stamps.keys().copied().collect())
    }

    fn publish(&self, found: &HashMap<Uuid, Stamp>) {
        let hub = self.catalogs.lock().unwrap_or_else(|e| e.into_inner());
        for (id, tx) in &hub.stamps {
            let now = found.get(id).copied().unwrap_or(Stamp::Missing);
            tx.send_if_modified(|s| {
                let changed = *s != now;
                *s = now;
                changed
            });
        }
    }
}

/// A watcher's signals: a look each time its catalog's stamp changes, and `Recreated` when
/// the epoch did.
fn signals(rx: watch::Receiver<Stamp>) -> impl Stream<Item = Signal> + Send {
    let seen = *rx.borrow();
    futures::stream::unfold((rx, seen), |(mut rx, seen)| async move {
        rx.changed().await.ok()?;
        let now = *rx.borrow_and_update();
        let signal = match (seen, now) {
            (Stamp::At(_, a), Stamp::At(_, b)) if a != b => Signal::Recreated,
            (Stamp::Missing, Stamp::At(..)) => Signal::Recreated,
            _ => Signal::Look,
        };
        Some((signal, (rx, now)))
    })
}

/// The task: look, then wait to be woken or for the interval, until nobody watches.
async fn run<B: SqlBackend + 'static>(
    watchers: Arc<Watchers>,
    backend: Arc<B>,
    statements: Arc<std::sync::atomic::AtomicU64>,
) {
    let mut listening: Option<tokio::task::JoinHandle<()>> = None;
    while let Some(ids) = watchers.watched() {
        if listening.as_ref().is_none_or(|l| l.is_finished()) {
            listening = backend.notify_changes(watchers.wake.clone());
        }
        match stamps(&*backend, &ids).await {
            Ok(found) => {
                statements.fetch_add(
                    ids.len().div_ceil(chunk(&*backend)) as u64,
                    std::sync::atomic::Ordering::Relaxed,
                );
                watchers.publish(&found);
            }
            // The next look tries again; a watcher is never told a guess.
            Err(e) => tracing::debug!(error = %e, "looking for catalog changes failed"),
        }
        let every = if listening.is_some() {
            // Notifications say when to look; the interval only covers a listener that is
            // reconnecting.
            watchers.interval().max(NOTIFIED_INTERVAL)
        } else {
            watchers.interval()
        };
        tokio::select! {
            _ = watchers.wake.notified() => {}
            _ = tokio::time::sleep(every) => {}
        }
    }
    if let Some(l) = listening {
        l.abort();
    }
}

/// How often a store that notifies looks anyway.
const NOTIFIED_INTERVAL: Duration = Duration::from_secs(5);

fn chunk(backend: &dyn SqlBackend) -> usize {
    backend.dialect().in_chunk().max(1)
}

async fn stamps(
    backend: &dyn SqlBackend,
    ids: &[Uuid],
) -> cheap_core::Result<HashMap<Uuid, Stamp>> {
    let mut conn = backend.connect(TxMode::None).await?;
    let mut found = HashMap::with_capacity(ids.len());
    for part in ids.chunks(chunk(backend)) {
        let args: Vec<Arg<'_>> = part.iter().map(|id| Arg::Uuid(*id)).collect();
        let sql = format!(
            "SELECT catalog_id, version_number, cheap_epoch FROM catalog WHERE catalog_id IN ({})",
            crate::batch::placeholders(part.len())
        );
        conn.for_each(&sql, &args, &mut |r| {
            found.insert(r.uuid(0)?, Stamp::At(r.int(1)?, r.opt_int(2)?));
            Ok(())
        })
        .await?;
    }
    Ok(found)
}
