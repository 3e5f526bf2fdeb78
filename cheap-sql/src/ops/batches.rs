//! Atomic batches: every operation in one write transaction under the catalog's lock, each
//! stamped with the one version the batch makes, which the catalog gets at the end.

use std::collections::HashMap;

use async_trait::async_trait;
use tokio::sync::oneshot;
use uuid::Uuid;

use super::*;
use crate::conn::{BatchState, Row};
use crate::group::{Item, Job};
use crate::positions::Edit;
use cheap_core::dao::{Batch, BatchOp, BatchOutcome, BatchResult, UpsertOutcome};
use cheap_core::CheapError;

/// A connection of a batch: forwards to the transaction and carries the batch's state.
struct BatchConn<'a> {
    inner: &'a mut dyn SqlConn,
    state: BatchState,
}

#[async_trait]
impl SqlConn for BatchConn<'_> {
    async fn execute(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<u64> {
        self.inner.execute(sql, args).await
    }

    async fn for_each(
        &mut self,
        sql: &str,
        args: &[Arg<'_>],
        f: &mut (dyn FnMut(Row) -> Result<()> + Send),
    ) -> Result<()> {
        self.inner.for_each(sql, args, f).await
    }

    async fn commit(self: Box<Self>) -> Result<()> {
        // The batch's transaction is committed by its owner, never through this view of it.
        Err(CheapError::backend(
            "sql",
            "a batch's connection cannot commit",
        ))
    }

    fn batch(&mut self) -> Option<&mut BatchState> {
        Some(&mut self.state)
    }
}

pub(crate) async fn apply_batch(
    e: &Engine<'_>,
    catalog: Uuid,
    batch: &Batch,
) -> Result<BatchOutcome> {
    let mut edits = Edits::default();
    let outcome = write_txn!(e, catalog, conn => {
        edits = Edits::default();
        apply_in(e, conn, catalog, batch, &mut edits).await
    })?;
    for (name, (_, edit)) in &edits.by_hierarchy {
        e.positions.commit(catalog, name, edit);
    }
    Ok(outcome)
}

/// The steps a batch's list, set and directory writes noted, joined per hierarchy, for the
/// position indexes once the batch commits.
#[derive(Default)]
struct Edits {
    /// Per hierarchy, the operations that noted steps and their joined edit; once the batch
    /// has run, only the hierarchies no other kind of operation wrote, whose steps therefore
    /// describe every change the batch made to them.
    by_hierarchy: HashMap<String, (Vec<usize>, Edit)>,
    /// The write running now: its hierarchy and its edit.
    current: Option<(String, Edit)>,
}

impl Edits {
    /// A fresh edit for the operation about to run on `hierarchy`.
    fn noting(&mut self, hierarchy: &str) -> &mut Edit {
        let (_, edit) = self
            .current
            .insert((hierarchy.to_owned(), Edit::in_batch()));
        edit
    }

    /// Joins the edit of operation `op`, if it noted one, to its hierarchy's.
    fn ran(&mut self, op: usize) {
        let Some((name, edit)) = self.current.take() else {
            return;
        };
        let (ops, joined) = self
            .by_hierarchy
            .entry(name)
            .or_insert_with(|| (Vec::new(), Edit::in_batch()));
        ops.push(op);
        joined.then(edit);
    }

    /// Keeps the joined edits of the hierarchies that only noted operations stamped.
    fn finish(&mut self, touched: &[(usize, String)]) {
        self.by_hierarchy
            .retain(|name, (ops, _)| touched.iter().all(|(op, n)| n != name || ops.contains(op)));
    }
}

async fn apply_in(
    e: &Engine<'_>,
    conn: &mut dyn SqlConn,
    catalog: Uuid,
    batch: &Batch,
    edits: &mut Edits,
) -> Result<BatchOutcome> {
    // Read under the catalog's write lock: no other write comes between this and the commit.
    let actual = require_catalog(conn, catalog).await?.version;
    if let Some(expected) = batch.expected_version {
        if expected != actual {
            return Err(CheapError::PreconditionFailed { expected, actual });
        }
    }
    let mut view = BatchConn {
        inner: conn,
        state: BatchState {
            version: actual + 1,
            stamped: false,
            op: 0,
            touched: Vec::new(),
        },
    };
    let mut results = Vec::with_capacity(batch.operations.len());
    for (index, op) in batch.operations.iter().enumerate() {
        view.state.op = index;
        let r = apply_op(e, &mut view, catalog, op, edits)
            .await
            .map_err(|source| CheapError::InBatch {
                index,
                source: Box::new(source),
            })?;
        edits.ran(index);
        results.push(r);
    }
    let BatchState {
        version,
        stamped,
        touched,
        ..
    } = view.state;
    edits.finish(&touched);
    if !stamped {
        return Ok(BatchOutcome {
            version: actual,
            results,
        });
    }
    conn.execute(
        "UPDATE catalog SET version_number = ? WHERE catalog_id = ?",
        &[Arg::Int(version), Arg::Uuid(catalog)],
    )
    .await?;
    Ok(BatchOutcome { version, results })
}

async fn apply_op(
    e: &Engine<'_>,
    conn: &mut dyn SqlConn,
    catalog: Uuid,
    op: &BatchOp,
    edits: &mut Edits,
) -> Result<BatchResult> {
    use super::{aspect_defs as defs_ops, aspects, entries, hierarchies};
    op.check()?;
    Ok(match op {
        BatchOp::UpsertAspects {
            aspect_def,
            aspects,
        } => {
            let items = aspects.iter().cloned().map(Item::Replace).collect();
            BatchResult::Aspects(grouped(e, conn, catalog, aspect_def, items).await?)
        }
        BatchOp::MergeAspects {
            aspect_def,
            patches,
        } => {
            let items = patches.iter().cloned().map(Item::Patch).collect();
            BatchResult::Aspects(grouped(e, conn, catalog, aspect_def, items).await?)
        }
        BatchOp::DeleteAspects {
            aspect_def,
            entity_ids,
        } => BatchResult::Count(
            aspects::delete_aspects_in(e, conn, catalog, aspect_def, entity_ids)
                .await?
                .0,
        ),
        BatchOp::AddEntities {
            hierarchy,
            entity_ids,
        } => BatchResult::Count(
            entries::add_entities_in(
                e,
                conn,
                catalog,
                hierarchy,
                entity_ids,
                edits.noting(hierarchy),
            )
            .await?,
        ),
        BatchOp::InsertEntities {
            hierarchy,
            index,
            entity_ids,
        } => BatchResult::Count(
            entries::insert_entities_in(
                e,
                conn,
                catalog,
                hierarchy,
                *index,
                entity_ids,
                edits.noting(hierarchy),
            )
            .await?,
        ),
        BatchOp::RemoveEntities {
            hierarchy,
            entity_ids,
            every_occurrence,
        } => BatchResult::Count(
            entries::remove_entities_in(
                e,
                conn,
                catalog,
                hierarchy,
                entity_ids,
                *every_occurrence,
                edits.noting(hierarchy),
            )
            .await?,
        ),
        BatchOp::PutDirectoryEntries { hierarchy, entries } => BatchResult::Count(
            entries::put_directory_entries_in(
                e,
                conn,
                catalog,
                hierarchy,
                entries,
                edits.noting(hierarchy),
            )
            .await?,
        ),
        BatchOp::RemoveDirectoryKeys { hierarchy, keys } => {
            let keys: Vec<Arg> = keys.iter().map(|k| Arg::text(k)).collect();
            BatchResult::Count(
                entries::remove_directory_rows_in(
                    e,
                    conn,
                    catalog,
                    hierarchy,
                    "entity_key",
                    &keys,
                    edits.noting(hierarchy),
                )
                .await?,
            )
        }
        BatchOp::RemoveDirectoryEntities {
            hierarchy,
            entity_ids,
        } => BatchResult::Count(
            entries::remove_directory_rows_in(
                e,
                conn,
                catalog,
                hierarchy,
                "entity_id",
                &uuid_args(entity_ids),
                edits.noting(hierarchy),
            )
            .await?,
        ),
        BatchOp::AddTreeNodes {
            hierarchy,
            parent_path,
            nodes,
        } => BatchResult::Count(
            entries::add_tree_nodes_in(e, conn, catalog, hierarchy, parent_path, nodes).await?,
        ),
        BatchOp::RemoveTreeNodes { hierarchy, paths } => BatchResult::Count(
            entries::remove_tree_nodes_in(e, conn, catalog, hierarchy, paths).await?,
        ),
        BatchOp::PutAspectDef { def } => {
            BatchResult::Changed(defs_ops::put_aspect_def_in(e, conn, catalog, def).await?)
        }
        BatchOp::DeleteAspectDef { name } => {
            BatchResult::Changed(defs_ops::delete_aspect_def_in(e, conn, catalog, name).await?)
        }
        BatchOp::CreateHierarchy { def } => {
            hierarchies::create_hierarchy_in(e, conn, catalog, def).await?;
            BatchResult::Done
        }
        BatchOp::ReplaceHierarchy { def } => {
            BatchResult::Changed(hierarchies::replace_hierarchy_in(e, conn, catalog, def).await?)
        }
        BatchOp::DeleteHierarchy { name } => {
            BatchResult::Changed(hierarchies::delete_hierarchy_in(e, conn, catalog, name).await?)
        }
        _ => {
            return Err(CheapError::NotAllowed(format!(
                "batch operation '{}' is not supported by this store",
                op.name()
            )))
        }
    })
}

/// Upserts or merges through the group writer's code, as one group of one request, inside the
/// batch's transaction: an aspect that fails fails the batch.
async fn grouped(
    e: &Engine<'_>,
    conn: &mut dyn SqlConn,
    catalog: Uuid,
    aspect_def: &str,
    items: Vec<Item>,
) -> Result<Vec<UpsertOutcome>> {
    if items.is_empty() {
        return Ok(Vec::new());
    }
    super::aspects::writable(aspect_def, e)?;
    // Nobody waits on this reply: the outcomes come back from the call.
    let (reply, _) = oneshot::channel();
    let jobs = [Job {
        aspect_def: aspect_def.to_owned(),
        items,
        reply,
    }];
    let mut written = None;
    let mut replies = super::aspects::apply_group(e, conn, catalog, &jobs, &mut written).await?;
    replies.pop().unwrap_or_default().into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::positions::Step;

    #[test]
    fn only_hierarchies_no_other_operation_wrote_keep_their_steps() {
        let mut edits = Edits::default();
        edits.noting("list").push(Step::Append { from: 10, n: 1 });
        edits.ran(0);
        edits.noting("set").push(Step::Remove(vec![3]));
        edits.ran(1);
        edits.noting("list").push(Step::Insert(vec![4]));
        edits.ran(3);
        // Operation 2 (say, the set replaced) stamped the set without noting steps.
        let touched: Vec<(usize, String)> = [(0, "list"), (1, "set"), (2, "set"), (3, "list")]
            .into_iter()
            .map(|(op, n)| (op, n.to_owned()))
            .collect();
        edits.finish(&touched);
        assert_eq!(edits.by_hierarchy.len(), 1);
        let (_, edit) = &edits.by_hierarchy["list"];
        assert_eq!(
            edit.steps,
            [Step::Append { from: 10, n: 1 }, Step::Insert(vec![4])]
        );
    }
}
