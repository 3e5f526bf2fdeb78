//! Shared reads of a catalog's row: concurrent requests that only need a catalog's current
//! version (to check their cached metadata) share one read of its row instead of one each.
//!
//! A request may only take a read that began after it arrived: then the read saw every write
//! committed before the request, as its own read would have. So a request that arrives while a
//! read of its catalog runs waits for the next one, and the next one covers everyone who came
//! during the last. One request at a time reads for a catalog (the leader); when its read is
//! done it hands the lead to one of those who came meanwhile. A leader that goes away (its
//! caller dropped the future) hands over as well, and when a shared read fails, each request
//! it covered reads on its own, so that an error is never another request's.

use std::collections::HashMap;
use std::sync::Mutex;

use tokio::sync::oneshot;
use uuid::Uuid;

use crate::meta::Stamp;
use cheap_core::dao::CatalogInfo;
use cheap_core::Result;

/// A catalog's row, as a probe gives it: `None` when the catalog does not exist.
pub(crate) type CatalogRow = Option<(CatalogInfo, Stamp)>;

/// What a waiting request is told.
enum Turn {
    /// The row, read after this request arrived.
    Row(CatalogRow),
    /// Read it, for yourself and everyone waiting now.
    Lead,
    /// The shared read failed: read on your own.
    Alone,
}

#[derive(Default)]
struct Slot {
    waiting: Vec<oneshot::Sender<Turn>>,
}

/// The catalogs being read now, with who waits for their next read. A catalog is in the map
/// exactly while some request leads its reads.
#[derive(Default)]
pub(crate) struct CatalogProbe {
    slots: Mutex<HashMap<Uuid, Slot>>,
}

impl std::fmt::Debug for CatalogProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CatalogProbe")
            .field("catalogs", &self.lock().len())
            .finish()
    }
}

impl CatalogProbe {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Slot>> {
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The row of `catalog` as of a moment after this call began, read by `read` here or by
    /// a concurrent caller.
    pub(crate) async fn row<F, Fut>(&self, catalog: Uuid, read: F) -> Result<CatalogRow>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<CatalogRow>>,
    {
        let rx = {
            let mut slots = self.lock();
            match slots.get_mut(&catalog) {
                Some(slot) => {
                    let (tx, rx) = oneshot::channel();
                    slot.waiting.push(tx);
                    Some(rx)
                }
                None => {
                    slots.insert(catalog, Slot::default());
                    None
                }
            }
        };
        let Some(rx) = rx else {
            return self.lead(catalog, &read).await;
        };
        match rx.await {
            Ok(Turn::Row(row)) => Ok(row),
            Ok(Turn::Lead) => self.lead(catalog, &read).await,
            // A leader that went away without handing over leaves nobody to wait for.
            Ok(Turn::Alone) | Err(_) => read().await,
        }
    }

    /// Reads for everyone waiting now, then hands the lead on.
    async fn lead<F, Fut>(&self, catalog: Uuid, read: &F) -> Result<CatalogRow>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<CatalogRow>>,
    {
        let mut turn = Lead {
            probe: self,
            catalog,
            covered: self
                .lock()
                .get_mut(&catalog)
                .map(|s| std::mem::take(&mut s.waiting))
                .unwrap_or_default(),
            row: None,
        };
        let row = read().await;
        if let Ok(r) = &row {
            turn.row = Some(r.clone());
        }
        row
    }
}

/// One leader's turn; its drop answers those it covered and hands the lead on, whether the
/// read finished or its caller went away.
struct Lead<'a> {
    probe: &'a CatalogProbe,
    catalog: Uuid,
    covered: Vec<oneshot::Sender<Turn>>,
    row: Option<CatalogRow>,
}

impl Drop for Lead<'_> {
    fn drop(&mut self) {
        for tx in self.covered.drain(..) {
            // A request that went away no longer waits.
            let _ = tx.send(match &self.row {
                Some(r) => Turn::Row(r.clone()),
                None => Turn::Alone,
            });
        }
        let mut slots = self.probe.lock();
        let Some(slot) = slots.get_mut(&self.catalog) else {
            return;
        };
        while !slot.waiting.is_empty() {
            let next = slot.waiting.remove(0);
            if next.send(Turn::Lead).is_ok() {
                return;
            }
        }
        slots.remove(&self.catalog);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    fn row(version: i64) -> CatalogRow {
        Some((
            CatalogInfo {
                id: Uuid::nil(),
                species: cheap_core::CatalogSpecies::Sink,
                uri: None,
                upstream: None,
                version,
            },
            Stamp {
                version,
                epoch: None,
            },
        ))
    }

    #[tokio::test]
    async fn concurrent_callers_share_reads_that_began_after_they_came() {
        let probe = Arc::new(CatalogProbe::default());
        let reads = Arc::new(AtomicUsize::new(0));
        let id = Uuid::new_v4();
        let mut tasks = Vec::new();
        for _ in 0..50 {
            let (probe, reads) = (probe.clone(), reads.clone());
            tasks.push(tokio::spawn(async move {
                probe
                    .row(id, || {
                        let reads = reads.clone();
                        async move {
                            // The version is the number of the read, taken when it begins.
                            let n = reads.fetch_add(1, Ordering::SeqCst) as i64;
                            tokio::time::sleep(Duration::from_millis(5)).await;
                            Ok(row(n))
                        }
                    })
                    .await
            }));
        }
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        let n = reads.load(Ordering::SeqCst);
        assert!(n < 50, "{n} reads for 50 callers");
        assert!(probe.lock().is_empty());
    }

    #[tokio::test]
    async fn a_caller_never_takes_a_read_that_began_before_it() {
        let probe = Arc::new(CatalogProbe::default());
        let id = Uuid::new_v4();
        let began = Arc::new(AtomicUsize::new(0));
        let (release, wait) = tokio::sync::watch::channel(false);
        let first = {
            let (probe, began, wait) = (probe.clone(), began.clone(), wait.clone());
            tokio::spawn(async move {
                probe
                    .row(id, || {
                        let (began, mut wait) = (began.clone(), wait.clone());
                        async move {
                            let n = began.fetch_add(1, Ordering::SeqCst) as i64;
                            let _ = wait.wait_for(|go| *go).await;
                            Ok(row(n))
                        }
                    })
                    .await
            })
        };
        while began.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        // Comes while the first read runs: it must get a read begun after it.
        let second = {
            let (probe, began) = (probe.clone(), began.clone());
            tokio::spawn(async move {
                probe
                    .row(id, || {
                        let began = began.clone();
                        async move { Ok(row(began.fetch_add(1, Ordering::SeqCst) as i64)) }
                    })
                    .await
            })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        release.send(true).unwrap();
        let v = |r: CatalogRow| r.unwrap().1.version;
        assert_eq!(v(first.await.unwrap().unwrap()), 0);
        assert_eq!(v(second.await.unwrap().unwrap()), 1);
    }

    #[tokio::test]
    async fn a_leader_that_goes_away_hands_over_and_a_failed_read_is_each_ones_own() {
        let probe = Arc::new(CatalogProbe::default());
        let id = Uuid::new_v4();
        let (_release, wait) = tokio::sync::watch::channel(false);
        let stuck = {
            let (probe, wait) = (probe.clone(), wait.clone());
            tokio::spawn(async move {
                probe
                    .row(id, || {
                        let mut wait = wait.clone();
                        async move {
                            let _ = wait.wait_for(|go| *go).await;
                            Ok(row(0))
                        }
                    })
                    .await
            })
        };
        tokio::time::sleep(Duration::from_millis(10)).await;
        // The first read after the abort fails; any later one succeeds.
        let calls = Arc::new(AtomicUsize::new(0));
        let mut waiters = Vec::new();
        for _ in 0..2 {
            let (probe, calls) = (probe.clone(), calls.clone());
            waiters.push(tokio::spawn(async move {
                probe
                    .row(id, || {
                        let calls = calls.clone();
                        async move {
                            if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                                Err(cheap_core::CheapError::invalid("the first read fails"))
                            } else {
                                Ok(row(7))
                            }
                        }
                    })
                    .await
            }));
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        stuck.abort();
        // The first waiter leads and its read fails: that error is its own; the second,
        // which that read covered, reads again for itself.
        let second = waiters.pop().unwrap().await.unwrap();
        let first = waiters.pop().unwrap().await.unwrap();
        assert!(first.is_err());
        assert_eq!(second.unwrap().unwrap().1.version, 7);
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        assert!(probe.lock().is_empty());
    }
}
