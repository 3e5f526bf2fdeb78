//! What every operation runs with: the backend, the metadata cache and the statement counter.
//! Connections taken through [`Engine::connect`] count every statement they run, so a test or
//! a benchmark can pin what an operation costs in statements instead of time.

use std::ops::Deref;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;

use crate::conn::{Arg, Row, SqlBackend, SqlConn, TxMode};
use crate::group::Groups;
use crate::meta::MetaCache;
use crate::positions::Positions;
use crate::probe::CatalogProbe;
use crate::watch::Watchers;
use cheap_core::Result;

/// The state a [`SqlDao`](crate::SqlDao) shares between its clones.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    pub meta: MetaCache,
    pub positions: Positions,
    pub statements: Arc<AtomicU64>,
    /// Transactions run again after losing a race.
    pub retries: AtomicU64,
    pub groups: Groups,
    pub probe: CatalogProbe,
    pub watchers: Arc<Watchers>,
}

/// One operation's view of the engine.
#[derive(Clone, Copy)]
pub(crate) struct Engine<'a> {
    backend: &'a dyn SqlBackend,
    pub meta: &'a MetaCache,
    pub positions: &'a Positions,
    pub probe: &'a CatalogProbe,
    statements: &'a Arc<AtomicU64>,
    retries: &'a AtomicU64,
    watchers: &'a Arc<Watchers>,
}

impl<'a> Engine<'a> {
    pub(crate) fn new(backend: &'a dyn SqlBackend, shared: &'a Shared) -> Self {
        Engine {
            backend,
            meta: &shared.meta,
            positions: &shared.positions,
            probe: &shared.probe,
            statements: &shared.statements,
            retries: &shared.retries,
            watchers: &shared.watchers,
        }
    }

    /// Counts a transaction run again after losing a race.
    pub(crate) fn count_retry(&self) {
        self.retries.fetch_add(1, Ordering::Relaxed);
    }

    /// A connection from the backend's pool whose statements are counted.
    pub(crate) async fn connect(&self, mode: TxMode) -> Result<Box<dyn SqlConn>> {
        let inner = self.backend.connect(mode).await?;
        Ok(Box::new(Counted {
            inner,
            statements: self.statements.clone(),
            // A committed write may be news to a watcher of this store.
            watchers: (mode == TxMode::Write).then(|| self.watchers.clone()),
        }))
    }
}

impl Deref for Engine<'_> {
    type Target = dyn SqlBackend;

    fn deref(&self) -> &(dyn SqlBackend + 'static) {
        self.backend
    }
}

/// A connection that counts the statements it runs (BEGIN and COMMIT excluded).
struct Counted {
    inner: Box<dyn SqlConn>,
    statements: Arc<AtomicU64>,
    watchers: Option<Arc<Watchers>>,
}

#[async_trait]
impl SqlConn for Counted {
    async fn execute(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<u64> {
        self.statements.fetch_add(1, Ordering::Relaxed);
        self.inner.execute(sql, args).await
    }

    async fn for_each(
        &mut self,
        sql: &str,
        args: &[Arg<'_>],
        f: &mut (dyn FnMut(Row) -> Result<()> + Send),
    ) -> Result<()> {
        self.statements.fetch_add(1, Ordering::Relaxed);
        self.inner.for_each(sql, args, f).await
    }

    async fn commit(self: Box<Self>) -> Result<()> {
        self.inner.commit().await?;
        if let Some(w) = &self.watchers {
            w.wake();
        }
        Ok(())
    }
}
