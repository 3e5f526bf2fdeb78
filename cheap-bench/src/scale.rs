//! `cheap-bench scale`: what one-item operations cost as a catalog grows. For each size, a
//! fresh store holds one catalog of `n` aspects plus an `n`-entry list, set and directory and a
//! tree of up to 100,000 nodes; every operation is timed through the DAO (median of `reps`),
//! and the last column is t(largest) / t(smallest).

use std::sync::Arc;
use std::time::{Duration, Instant};

use cheap_core::dao::{Batch, BatchOp, PageCursor};
use cheap_core::{Aspect, AspectDef, Catalog, CheapDao, Result, Uuid};

/// Nodes of the benchmark's tree at most: a root with up to 316 children of up to 316 leaves.
const TREE_NODES: usize = 100_000;
/// Entries per page read.
const PAGE: u64 = 50;

struct Fixture {
    dao: Arc<dyn CheapDao>,
    id: Uuid,
    def: Arc<AspectDef>,
    n: usize,
    entity: Uuid,
    /// The tree's inner nodes' paths.
    branches: Vec<String>,
    /// Per hierarchy, the cursor of its last page.
    last_pages: std::collections::HashMap<String, PageCursor>,
}

/// One operation: its name and what one repetition does (`i` numbers the repetition).
type Op = (
    &'static str,
    fn(&Fixture, usize) -> futures::future::BoxFuture<'_, Result<()>>,
);

pub async fn run(backend: &str, sizes: &[usize], reps: usize) -> Result<()> {
    let dir = tempfile::tempdir().expect("a temporary directory");
    println!(
        "scale: {backend}; per size a catalog of n aspects x 5 properties, an n-entry list, set and directory, a tree of min(n, {TREE_NODES}) nodes; DAO calls, median of {reps}"
    );
    let mut table: Vec<(&'static str, Vec<Duration>)> =
        ops().iter().map(|(n, _)| (*n, vec![])).collect();
    for &n in sizes {
        let dao = crate::stores::open(backend, "cheap_bench_scale", dir.path()).await;
        let started = Instant::now();
        let f = fixture(dao, n).await?;
        println!(
            "n = {n}: stored in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        for (k, (_, op)) in ops().iter().enumerate() {
            // One untimed call first: caches and prepared statements warm.
            op(&f, reps).await?;
            let mut times = Vec::with_capacity(reps);
            for i in 0..reps {
                let t = Instant::now();
                op(&f, i).await?;
                times.push(t.elapsed());
            }
            times.sort();
            table[k].1.push(times[reps / 2]);
        }
        f.dao.close().await?;
    }
    print!("{:<34}", "operation (median)");
    for n in sizes {
        print!("{:>12}", format!("n={n}"));
    }
    println!("{:>10}", "ratio");
    for (name, times) in &table {
        print!("{name:<34}");
        for t in times {
            print!("{:>10.3}ms", t.as_secs_f64() * 1e3);
        }
        let ratio = match (times.first(), times.last()) {
            (Some(a), Some(b)) if !a.is_zero() => b.as_secs_f64() / a.as_secs_f64(),
            _ => f64::NAN,
        };
        println!("{ratio:>10.2}");
    }
    Ok(())
}

async fn fixture(dao: Arc<dyn CheapDao>, n: usize) -> Result<Fixture> {
    let (mut cat, def) = crate::big_catalog(n, 5);
    let entity = cat
        .aspects(def.name())
        .and_then(|m| m.iter().nth(n / 2).map(Aspect::entity_id))
        .unwrap_or_else(Uuid::new_v4);
    let ids: Vec<Uuid> = (0..n).map(|_| Uuid::new_v4()).collect();
    let list = cat.create_entity_list("list")?;
    for id in &ids {
        list.add(*id);
    }
    let set = cat.create_entity_set("set")?;
    for id in &ids {
        set.add(*id);
    }
    let dir = cat.create_entity_directory("dir")?;
    for (i, id) in ids.iter().enumerate() {
        dir.put(format!("key{i:08}"), *id);
    }
    let branches = tree(&mut cat, &ids, n.min(TREE_NODES))?;
    let id = cat.id();
    dao.save_catalog(&cat).await?;
    let mut last_pages = std::collections::HashMap::new();
    for name in ["list", "set", "dir", def.name()] {
        if let Some(c) = last_page_cursor(&*dao, id, name, n).await? {
            last_pages.insert(name.to_owned(), c);
        }
    }
    Ok(Fixture {
        dao,
        id,
        def,
        n,
        entity,
        branches,
        last_pages,
    })
}

/// The cursor after entry `n - PAGE - 1`, found by paging through once.
async fn last_page_cursor(
    dao: &dyn CheapDao,
    id: Uuid,
    name: &str,
    n: usize,
) -> Result<Option<PageCursor>> {
    let mut left = (n as u64).saturating_sub(PAGE);
    let mut after: Option<PageCursor> = None;
    while left > 0 {
        let step = left.min(10_000);
        let page = dao
            .read_hierarchy_page_after(id, name, after.as_ref(), step)
            .await?;
        left -= page.hierarchy.len() as u64;
        after = page.next;
        if after.is_none() {
            break;
        }
    }
    Ok(after)
}

/// A two-level tree of `nodes` nodes; returns the inner nodes' paths.
fn tree(cat: &mut Catalog, ids: &[Uuid], nodes: usize) -> Result<Vec<String>> {
    let t = cat.create_entity_tree("tree")?;
    let fan = ((nodes as f64).sqrt().ceil() as usize).max(1);
    let mut branches = Vec::new();
    let mut made = 0;
    'outer: for b in 0..fan {
        let path = format!("/b{b}");
        t.add_node("/", &format!("b{b}"), None)?;
        branches.push(path.clone());
        made += 1;
        for l in 0..fan {
            if made >= nodes {
                break 'outer;
            }
            t.add_node(&path, &format!("l{l}"), ids.get(made).copied())?;
            made += 1;
        }
    }
    Ok(branches)
}

fn ops() -> Vec<Op> {
    vec![
        ("catalog read", |f, _| {
            Box::pin(async move { f.dao.versioned_catalog_def(f.id).await.map(drop) })
        }),
        ("one-entity query", |f, _| {
            Box::pin(async move {
                f.dao
                    .versioned_query_aspects(f.id, &[f.entity], &[f.def.name().to_owned()])
                    .await
                    .map(drop)
            })
        }),
        ("aspect upsert (new) + delete", |f, i| {
            Box::pin(async move {
                let a = item(&f.def, Uuid::new_v4(), i)?;
                f.dao
                    .upsert_aspects(f.id, f.def.name(), std::slice::from_ref(&a))
                    .await?;
                f.dao
                    .delete_aspects(f.id, f.def.name(), &[a.entity_id()])
                    .await
                    .map(drop)
            })
        }),
        ("aspect upsert (existing)", |f, i| {
            Box::pin(async move {
                let a = item(&f.def, f.entity, i)?;
                f.dao
                    .upsert_aspects(f.id, f.def.name(), &[a])
                    .await
                    .map(drop)
            })
        }),
        ("list add + remove", |f, _| {
            Box::pin(async move {
                let e = Uuid::new_v4();
                f.dao.add_entities(f.id, "list", &[e]).await?;
                f.dao.remove_entities(f.id, "list", &[e]).await.map(drop)
            })
        }),
        ("list insert middle + remove", |f, _| {
            Box::pin(async move {
                let e = Uuid::new_v4();
                f.dao
                    .insert_entities(f.id, "list", (f.n / 2) as u64, &[e])
                    .await?;
                f.dao.remove_entities(f.id, "list", &[e]).await.map(drop)
            })
        }),
        ("set add + remove", |f, _| {
            Box::pin(async move {
                let e = Uuid::new_v4();
                f.dao.add_entities(f.id, "set", &[e]).await?;
                f.dao.remove_entities(f.id, "set", &[e]).await.map(drop)
            })
        }),
        ("directory put + remove", |f, i| {
            Box::pin(async move {
                let key = format!("new{i}");
                f.dao
                    .put_directory_entries(f.id, "dir", &[(key.clone(), Uuid::new_v4())])
                    .await?;
                f.dao
                    .remove_directory_keys(f.id, "dir", &[key])
                    .await
                    .map(drop)
            })
        }),
        ("tree node add + remove", |f, i| {
            Box::pin(async move {
                let parent = &f.branches[i % f.branches.len()];
                let name = format!("new{i}");
                f.dao
                    .add_tree_nodes(f.id, "tree", parent, &[(name.clone(), None)])
                    .await?;
                f.dao
                    .remove_tree_nodes(f.id, "tree", &[format!("{parent}/{name}")])
                    .await
                    .map(drop)
            })
        }),
        ("list first page", |f, _| page(f, "list", false)),
        ("list last page", |f, _| page(f, "list", true)),
        ("set last page", |f, _| page(f, "set", true)),
        ("directory last page", |f, _| page(f, "dir", true)),
        ("aspect map last page", |f, _| {
            Box::pin(async move { last_page(f, f.def.name()).await })
        }),
        // A batch moves no position index along (nor does another process's write): the
        // page after it builds the list's index again, one pass over the list.
        ("batch add + remove, last page", |f, _| {
            Box::pin(async move {
                let e = Uuid::new_v4();
                let batch = Batch::new()
                    .op(BatchOp::AddEntities {
                        hierarchy: "list".into(),
                        entity_ids: vec![e],
                    })
                    .op(BatchOp::RemoveEntities {
                        hierarchy: "list".into(),
                        entity_ids: vec![e],
                        every_occurrence: true,
                    });
                f.dao.apply_batch(f.id, &batch).await?;
                last_page(f, "list").await
            })
        }),
        ("list last page by cursor", |f, _| cursor_page(f, "list")),
        ("set last page by cursor", |f, _| cursor_page(f, "set")),
        ("directory last page by cursor", |f, _| {
            cursor_page(f, "dir")
        }),
        ("aspect map last page by cursor", |f, _| {
            cursor_page(f, f.def.name())
        }),
    ]
}

fn page<'a>(
    f: &'a Fixture,
    name: &'static str,
    last: bool,
) -> futures::future::BoxFuture<'a, Result<()>> {
    Box::pin(async move {
        if last {
            last_page(f, name).await
        } else {
            f.dao
                .read_hierarchy_page(f.id, name, 0, PAGE)
                .await
                .map(drop)
        }
    })
}

async fn last_page(f: &Fixture, name: &str) -> Result<()> {
    let offset = (f.n as u64).saturating_sub(PAGE);
    f.dao
        .read_hierarchy_page(f.id, name, offset, PAGE)
        .await
        .map(drop)
}

fn cursor_page<'a>(f: &'a Fixture, name: &'a str) -> futures::future::BoxFuture<'a, Result<()>> {
    Box::pin(async move {
        f.dao
            .read_hierarchy_page_after(f.id, name, f.last_pages.get(name), PAGE)
            .await
            .map(drop)
    })
}

fn item(def: &Arc<AspectDef>, entity: Uuid, i: usize) -> Result<Aspect> {
    Aspect::builder(def.clone(), entity)
        .set("p0", i as i64)
        .set("p1", format!("value {i}"))
        .set("p2", i as f64)
        .set("p3", i as i64)
        .set("p4", format!("other {i}"))
        .build()
}
