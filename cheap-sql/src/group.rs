//! Group commit: aspect writes to one catalog that arrive while a write of that catalog runs
//! are applied together in the next transaction, with one version bump and multi-row
//! statements, each request still getting its own outcome.
//!
//! Writers of one catalog serialize anyway (versions; the catalog's write lock), so while one
//! transaction runs the others queue. Instead of one transaction each, the next holder of the
//! catalog's slot takes every queued write. A request is validated before it joins, so an
//! invalid one fails alone; when a group's transaction fails in the database, its members are
//! retried one by one, so an innocent request does not inherit another's error.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;
use uuid::Uuid;

use cheap_core::dao::{AspectPatch, UpsertOutcome};
use cheap_core::{Aspect, Result};

/// One aspect a request writes.
#[derive(Debug, Clone)]
pub(crate) enum Item {
    /// A whole aspect, replacing what is stored (already checked against its def).
    Replace(Aspect),
    /// Values over what is stored.
    Patch(AspectPatch),
}

impl Item {
    pub fn entity_id(&self) -> Uuid {
        match self {
            Item::Replace(a) => a.entity_id(),
            Item::Patch(p) => p.entity_id,
        }
    }
}

/// What a request waits for: one outcome per item, or the error of its whole write.
pub(crate) type Reply = Result<Vec<Result<UpsertOutcome>>>;

/// One request's write.
#[derive(Debug)]
pub(crate) struct Job {
    pub aspect_def: String,
    pub items: Vec<Item>,
    pub reply: oneshot::Sender<Reply>,
}

/// The writes queued for one catalog, and the slot its transactions take in turn.
#[derive(Debug, Default)]
pub(crate) struct Queue {
    pub pending: Mutex<Vec<Job>>,
    pub slot: tokio::sync::Mutex<()>,
}

impl Queue {
    /// Every write queued now.
    pub fn take(&self) -> Vec<Job> {
        std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()))
    }

    pub fn push(&self, job: Job) {
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(job);
    }
}

/// The queues of the catalogs this store writes.
#[derive(Debug, Default)]
pub(crate) struct Groups {
    queues: Mutex<HashMap<Uuid, Arc<Queue>>>,
}

impl Groups {
    /// The queue of `catalog`.
    pub fn queue(&self, catalog: Uuid) -> Arc<Queue> {
        self.queues
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(catalog)
            .or_default()
            .clone()
    }

    /// Drops the queue of `catalog` if nobody uses it (after its group ran).
    pub fn release(&self, catalog: Uuid, queue: &Arc<Queue>) {
        let mut queues = self.queues.lock().unwrap_or_else(|e| e.into_inner());
        // One reference in the map, one here: no request holds or waits on it.
        if Arc::strong_count(queue) == 2 && queue.pending.lock().is_ok_and(|p| p.is_empty()) {
            queues.remove(&catalog);
        }
    }
}
