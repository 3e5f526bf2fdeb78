//! Aspect defs are shared by name across catalogs, whose writers hold different locks: the same
//! new def stored by several catalogs at once succeeds for all; a different def under the same
//! name is a conflict for all but one.

use futures::future::join_all;

use super::suffix;
use crate::{AspectDef, Catalog, CheapDao, CheapError, PropertyDef, PropertyType};

fn def(name: &str, t: PropertyType) -> AspectDef {
    AspectDef::builder(name)
        .property(PropertyDef::new("v", t))
        .build()
        .expect("def")
}

/// Identical defs at once (granular and in whole saves, in crossed orders) all succeed;
/// different defs under one name at once: one wins, the others get `Conflict`.
pub async fn shared_defs_stored_at_once(dao: &dyn CheapDao) {
    let mut cleanup = Vec::new();
    for round in 0..4 {
        let tag = suffix();
        // The same new def put into four catalogs at the same moment.
        let d = def(&format!("shared.{tag}.{round}"), PropertyType::String);
        let cats: Vec<Catalog> = (0..4).map(|_| Catalog::new()).collect();
        for c in &cats {
            dao.save_catalog(c).await.expect("save");
            cleanup.push(c.id());
        }
        let puts = join_all(cats.iter().map(|c| dao.put_aspect_def(c.id(), &d))).await;
        for (i, r) in puts.iter().enumerate() {
            assert!(r.is_ok(), "round {round}, catalog {i}: {r:?}");
        }

        // Whole catalogs saved at once with two new defs in crossed orders.
        let a = def(&format!("crossed.a.{tag}.{round}"), PropertyType::Integer);
        let b = def(&format!("crossed.b.{tag}.{round}"), PropertyType::Integer);
        let mut x = Catalog::new();
        x.extend(a.clone()).expect("a");
        x.extend(b.clone()).expect("b");
        let mut y = Catalog::new();
        y.extend(b.clone()).expect("b");
        y.extend(a.clone()).expect("a");
        cleanup.extend([x.id(), y.id()]);
        let (rx, ry) = futures::join!(dao.save_catalog(&x), dao.save_catalog(&y));
        assert!(rx.is_ok() && ry.is_ok(), "round {round}: {rx:?} {ry:?}");

        // Different defs under one new name at once: exactly one is stored.
        let name = format!("contested.{tag}.{round}");
        let variants = [
            PropertyType::String,
            PropertyType::Integer,
            PropertyType::Boolean,
        ];
        let cats: Vec<Catalog> = variants.iter().map(|_| Catalog::new()).collect();
        for c in &cats {
            dao.save_catalog(c).await.expect("save");
            cleanup.push(c.id());
        }
        let defs: Vec<AspectDef> = variants.iter().map(|t| def(&name, *t)).collect();
        let puts = join_all(
            cats.iter()
                .zip(&defs)
                .map(|(c, d)| dao.put_aspect_def(c.id(), d)),
        )
        .await;
        let won = puts.iter().filter(|r| r.is_ok()).count();
        assert_eq!(won, 1, "round {round}: {puts:?}");
        for r in &puts {
            assert!(
                matches!(r, Ok(_) | Err(CheapError::Conflict { .. })),
                "round {round}: {r:?}"
            );
        }
    }
    for id in cleanup {
        dao.delete_catalog(id).await.expect("delete");
    }
}
