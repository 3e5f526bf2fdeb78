//! A replica that follows its upstream's change events as they come.

use std::time::Duration;

use futures::stream::BoxStream;
use futures::StreamExt;

use super::{PullReport, Replica};
use crate::dao::ChangeEvent;
use crate::error::{CheapError, Result};
use crate::model::CatalogSpecies;

/// How often an idle follower renews its sync mark, by default.
pub(super) const TOUCH_EVERY: Duration = Duration::from_secs(10);

impl Replica {
    /// Keeps the local copy in step with the upstream as it changes: each change event of the
    /// upstream's [`watch`](crate::CheapDao::watch) is applied as it arrives, copying only what
    /// it names (aspect by aspect for aspect maps), and moves the sync mark. A stream of what
    /// each step did.
    ///
    /// It starts from the sync mark (a checkout as a MIRROR when there is none), so a follower
    /// stopped and started again misses nothing. An event that does not start at the mark
    /// (after a failed step) is covered by a [`pull`](Self::pull); a `resync` event by a new
    /// checkout under the same species. While no event comes, the mark's sync time is renewed
    /// every [`touching_every`](Self::touching_every), so a CACHE with a live follower serves
    /// its reads without TTL pulls. A failed step is yielded and the following goes on;
    /// the stream ends when the upstream's watch does, or with
    /// [`CheapError::NotFound`] when the upstream catalog is deleted. A CLONE is not followed:
    /// its local changes are pushed, never overwritten.
    pub fn follow(&self) -> BoxStream<'_, Result<PullReport>> {
        async_stream::stream! {
            let mut mark = match self.mark().await {
                Ok(Some(m)) => m,
                Ok(None) => match self.checkout(CatalogSpecies::Mirror).await {
                    Ok(r) => {
                        yield Ok(r);
                        match self.mark().await {
                            Ok(Some(m)) => m,
                            Ok(None) => return,
                            Err(e) => {
                                yield Err(e);
                                return;
                            }
                        }
                    }
                    Err(e) => {
                        yield Err(e);
                        return;
                    }
                },
                Err(e) => {
                    yield Err(e);
                    return;
                }
            };
            let species = match self.local.catalog_info(self.catalog).await {
                Ok(i) => i.species,
                Err(e) => {
                    yield Err(e);
                    return;
                }
            };
            if species == CatalogSpecies::Clone {
                yield Err(CheapError::NotAllowed(format!(
                    "catalog {} is a CLONE: push its changes instead of following",
                    self.catalog
                )));
                return;
            }
            let mut events = self.upstream.watch(self.catalog, mark.upstream_version);
            loop {
                let next = tokio::select! {
                    e = events.next() => e,
                    () = tokio::time::sleep(self.touch_every) => {
                        let touched = super::SyncMark { synced_at_ms: super::now_ms(), ..mark };
                        if let Err(e) = self.local.set_sync_mark(self.catalog, touched).await {
                            yield Err(e);
                        }
                        continue;
                    }
                };
                let Some(event) = next else {
                    return;
                };
                let step = match event {
                    Ok(ChangeEvent::Changed(c)) if c.since == mark.upstream_version => {
                        self.apply(mark, &c).await
                    }
                    Ok(ChangeEvent::Changed(_)) => self.pull().await,
                    Ok(ChangeEvent::Resync { .. }) => self.checkout(species).await,
                    Ok(ChangeEvent::Deleted) => {
                        yield Err(CheapError::NotFound(crate::error::NotFound::Catalog {
                            id: self.catalog,
                        }));
                        return;
                    }
                    Err(e) => Err(e),
                };
                let failed = step.is_err();
                yield step;
                if !failed {
                    match self.mark().await {
                        Ok(Some(m)) => mark = m,
                        Ok(None) => {}
                        Err(e) => yield Err(e),
                    }
                }
            }
        }
        .boxed()
    }
}
