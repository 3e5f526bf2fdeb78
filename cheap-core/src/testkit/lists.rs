//! Entity lists changed in place: a long run of adds, inserts anywhere (the same place many
//! times over, the front, the end) and removals keeps the stored list equal to a model of it,
//! read whole and by pages.

use uuid::Uuid;

use crate::dao::{Batch, BatchOp};
use crate::{Catalog, CheapDao};

/// A small deterministic generator, so a failure can be replayed.
struct Steps(u64);

impl Steps {
    fn next(&mut self, below: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % below.max(1) as u64) as usize
    }
}

/// 240 list operations on every backend, compared with the model after each.
pub async fn lists_change_in_place(dao: &dyn CheapDao) {
    let mut cat = Catalog::new();
    cat.create_entity_list("l").expect("list");
    let id = cat.id();
    dao.save_catalog(&cat).await.expect("save");
    let pool: Vec<Uuid> = (0..12).map(|_| Uuid::new_v4()).collect();
    let mut model: Vec<Uuid> = Vec::new();
    let mut steps = Steps(0x9E37_79B9_7F4A_7C15);
    for round in 0..240 {
        let pick = |s: &mut Steps, n: usize| -> Vec<Uuid> {
            (0..n).map(|_| pool[s.next(pool.len())]).collect()
        };
        let what = steps.next(6);
        let k = 1 + steps.next(3);
        let ids = pick(&mut steps, k);
        let step = match what {
            0 => {
                let n = dao.add_entities(id, "l", &ids).await.expect("add");
                assert_eq!(n, ids.len() as u64);
                model.extend(&ids);
                format!("add {}", ids.len())
            }
            // The same place again and again: the gap there runs out and is made again.
            1 | 2 => {
                let at = if what == 1 {
                    model.len().min(3)
                } else {
                    steps.next(model.len() + 1)
                };
                let n = dao
                    .insert_entities(id, "l", at as u64, &ids)
                    .await
                    .expect("insert");
                assert_eq!(n, ids.len() as u64);
                model.splice(at..at, ids.iter().copied());
                format!("insert {} at {at}", ids.len())
            }
            3 => {
                dao.insert_entities(id, "l", 0, &ids)
                    .await
                    .expect("insert at the front");
                model.splice(0..0, ids.iter().copied());
                format!("insert {} at the front", ids.len())
            }
            4 => {
                let n = dao.remove_entities(id, "l", &ids).await.expect("remove");
                let before = model.len();
                model.retain(|e| !ids.contains(e));
                assert_eq!(n as usize, before - model.len(), "round {round}");
                "remove every occurrence".to_owned()
            }
            _ => {
                let batch = Batch::new().op(BatchOp::RemoveEntities {
                    hierarchy: "l".into(),
                    entity_ids: ids.clone(),
                    every_occurrence: false,
                });
                dao.apply_batch(id, &batch).await.expect("remove first");
                for e in &ids {
                    if let Some(i) = model.iter().position(|m| m == e) {
                        model.remove(i);
                    }
                }
                "remove first occurrences".to_owned()
            }
        };
        let stored = dao.get_hierarchy(id, "l").await.expect("read");
        let stored = stored.as_list().expect("a list").0.clone();
        assert_eq!(stored, model, "round {round}: {step}");
        if round % 40 == 39 {
            let mut paged = Vec::new();
            let mut offset = 0;
            loop {
                let page = dao
                    .read_hierarchy_page(id, "l", offset, 7)
                    .await
                    .expect("page");
                assert_eq!(page.total, model.len() as u64, "round {round}");
                let got = page.hierarchy.as_list().expect("a list").0.clone();
                if got.is_empty() {
                    break;
                }
                offset += got.len() as u64;
                paged.extend(got);
            }
            assert_eq!(paged, model, "round {round}: by pages");
            let by_cursor = super::read_by_cursor(dao, id, "l", 7).await;
            assert_eq!(
                by_cursor.as_list().expect("a list").0,
                model,
                "round {round}: by cursor"
            );
        }
    }
    let past = dao
        .insert_entities(id, "l", model.len() as u64 + 1, &[pool[0]])
        .await;
    assert!(past.is_err(), "an index past the end is refused");
    let stored = dao.get_hierarchy(id, "l").await.expect("read");
    assert_eq!(
        stored.as_list().expect("a list").0,
        model,
        "and changes nothing"
    );
    dao.delete_catalog(id).await.expect("cleanup");
}
