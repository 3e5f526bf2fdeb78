//! Catalogs imported and exported as parts: an export gives back what a load gives, in parts
//! of bounded size; an import stores what a save stores; a refused part or a failing stream
//! leaves the stored catalog as it was.

use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};
use uuid::Uuid;

use super::{assert_same, every_type_catalog};
use crate::dao::parts::{parts_of, ENTRIES_PER_PART};
use crate::dao::{CatalogAssembler, CatalogPart};
use crate::model::{EntityDirectory, HierarchyContent, HierarchyDef, HierarchyType};
use crate::{Catalog, CheapDao, CheapError, Hierarchy};

/// More entries than one part holds, in every kind that is cut into parts.
fn big_catalog() -> Catalog {
    let mut cat = every_type_catalog();
    let n = ENTRIES_PER_PART * 2 + 17;
    let ids: Vec<Uuid> = (0..n).map(|_| Uuid::new_v4()).collect();
    let list = cat
        .hierarchy_mut("queue")
        .and_then(Hierarchy::as_list_mut)
        .expect("queue");
    for e in &ids {
        list.add(*e);
    }
    let dir = cat.create_entity_directory("many keys").expect("fresh");
    for (i, e) in ids.iter().enumerate() {
        dir.put(format!("k{i:05}"), *e);
    }
    let set = cat.create_entity_set("many members").expect("fresh");
    for e in &ids {
        set.add(*e);
    }
    let def = Arc::new(super::every_type_def(&format!(
        "test.streams.{}",
        super::suffix()
    )));
    let map = cat.extend(def.clone()).expect("fresh");
    for (i, e) in ids.iter().enumerate() {
        let a = crate::Aspect::from_values(
            def.clone(),
            *e,
            vec![
                (
                    "required".to_owned(),
                    Some(crate::PropertyValue::String(format!("r{i}"))),
                ),
                (
                    "frozen".to_owned(),
                    Some(crate::PropertyValue::String("f".into())),
                ),
            ],
        )
        .expect("values fit");
        map.put(a).expect("same def");
    }
    cat
}

async fn import(dao: &dyn CheapDao, parts: Vec<crate::Result<CatalogPart>>) -> crate::Result<i64> {
    dao.import_catalog(futures::stream::iter(parts).boxed())
        .await
}

async fn exported(dao: &dyn CheapDao, id: Uuid) -> Catalog {
    let mut a = CatalogAssembler::new();
    let mut parts = dao.export_catalog(id);
    while let Some(p) = parts.try_next().await.expect("an export part") {
        if let CatalogPart::Entries(c) = &p {
            assert!(
                p.entry_count() <= ENTRIES_PER_PART as u64
                    || matches!(c, HierarchyContent::Tree(_)),
                "a part holds at most {ENTRIES_PER_PART} entries"
            );
        }
        a.push(p).expect("parts in order");
    }
    a.finish().expect("a whole catalog")
}

/// See the module.
pub async fn imports_and_exports_stream(dao: &dyn CheapDao) {
    let cat = big_catalog();
    let id = cat.id();
    let v1 = import(dao, parts_of(&cat, 333).into_iter().map(Ok).collect())
        .await
        .expect("import");
    let stored = dao.load_catalog(id).await.expect("load");
    assert_same(&stored, &cat, "imported as parts");
    assert_eq!(stored.version, v1);
    assert_same(&exported(dao, id).await, &stored, "exported as parts");

    // An import replaces, as a save does.
    let mut smaller = every_type_catalog();
    smaller
        .set_species(cat.species(), cat.upstream())
        .expect("same species");
    let smaller = {
        let mut parts = parts_of(&smaller, 2);
        if let Some(CatalogPart::Header(h)) = parts.first_mut() {
            h.id = id;
        }
        let mut a = CatalogAssembler::new();
        for p in parts.clone() {
            a.push(p).expect("in order");
        }
        let expected = a.finish().expect("whole");
        let v2 = import(dao, parts.into_iter().map(Ok).collect())
            .await
            .expect("replacing import");
        assert!(v2 > v1, "an import advances the version");
        expected
    };
    let before = dao.load_catalog(id).await.expect("load");
    assert_same(&before, &smaller, "an import replaces");

    // Refused or broken imports change nothing.
    let good = parts_of(&cat, 100);
    let cut = good.len() / 2;
    let mut failing: Vec<crate::Result<CatalogPart>> =
        good[..cut].iter().cloned().map(Ok).collect();
    failing.push(Err(CheapError::Unavailable("the sender went away".into())));
    let e = import(dao, failing).await.expect_err("a failing stream");
    assert!(matches!(e, CheapError::Unavailable(_)), "{e:?}");
    let mut twice: Vec<crate::Result<CatalogPart>> = good[..cut].iter().cloned().map(Ok).collect();
    twice.push(Ok(CatalogPart::Hierarchy {
        def: HierarchyDef::new("dup keys", HierarchyType::EntityDirectory),
        entries: None,
    }));
    let mut one = EntityDirectory::default();
    one.put("k", Uuid::new_v4());
    twice.push(Ok(CatalogPart::Entries(HierarchyContent::Directory(
        one.clone(),
    ))));
    twice.push(Ok(CatalogPart::Entries(HierarchyContent::Directory(one))));
    let e = import(dao, twice).await.expect_err("a key twice");
    assert!(matches!(e, CheapError::InvalidInput(_)), "{e:?}");
    let mut wrong: Vec<crate::Result<CatalogPart>> = good[..cut].iter().cloned().map(Ok).collect();
    wrong.push(Ok(CatalogPart::Hierarchy {
        def: HierarchyDef::new("a list", HierarchyType::EntityList),
        entries: None,
    }));
    wrong.push(Ok(CatalogPart::Entries(HierarchyContent::Set(
        Default::default(),
    ))));
    let e = import(dao, wrong)
        .await
        .expect_err("entries of another kind");
    assert!(matches!(e, CheapError::InvalidInput(_)), "{e:?}");
    let e = import(dao, good[1..].iter().cloned().map(Ok).collect())
        .await
        .expect_err("no header");
    assert!(matches!(e, CheapError::InvalidInput(_)), "{e:?}");
    let after = dao.load_catalog(id).await.expect("load");
    assert_same(&after, &before, "refused imports");
    assert_eq!(
        after.version, before.version,
        "refused imports keep the version"
    );

    let e = dao
        .export_catalog(Uuid::new_v4())
        .try_collect::<Vec<_>>()
        .await
        .expect_err("no such catalog");
    assert!(matches!(e, CheapError::NotFound(_)), "{e:?}");
    dao.delete_catalog(id).await.expect("cleanup");
}
