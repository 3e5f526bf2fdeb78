//! A read-only property (the reference's `com.example.ProductAspect` has `sku`, neither
//! writable nor nullable) takes its value when its aspect is created, and only then.

use uuid::Uuid;

use super::suffix;
use crate::dao::AspectPatch;
use crate::{Aspect, AspectDef, Catalog, CheapDao, CheapError, PropertyDef, PropertyType};

fn refused(r: &crate::Result<impl std::fmt::Debug>) -> bool {
    // Through REST a refusal arrives as a 400, which RemoteDao reads as invalid input.
    matches!(
        r,
        Err(CheapError::NotAllowed(_) | CheapError::InvalidInput(_))
    )
}

/// Created with its read-only value; replaced or merged with the same value; refused with
/// another, leaving the stored aspect as it was.
pub async fn read_only_values_are_set_once(dao: &dyn CheapDao) {
    let def = AspectDef::builder(format!("com.example.Product.{}", suffix()))
        .property(
            PropertyDef::new("sku", PropertyType::String)
                .nullable(false)
                .writable(false),
        )
        .property(PropertyDef::new("price", PropertyType::Integer))
        .build()
        .expect("def")
        .into_arc();
    let mut cat = Catalog::new();
    let id = cat.id();
    cat.extend(def.clone()).expect("extend");
    dao.save_catalog(&cat).await.expect("save");
    let e = Uuid::new_v4();
    let product = |sku: &str, price: i64| {
        Aspect::builder(def.clone(), e)
            .set("sku", sku)
            .set("price", price)
            .build()
            .expect("a new aspect takes its read-only value")
    };
    let name = def.name();
    let out = dao
        .upsert_aspects(id, name, &[product("A1", 5)])
        .await
        .expect("created with its sku");
    assert!(out[0].created);
    dao.upsert_aspects(id, name, &[product("A1", 6)])
        .await
        .expect("the same sku again");
    let r = dao.upsert_aspects(id, name, &[product("B2", 6)]).await;
    assert!(refused(&r), "a changed sku: {r:?}");
    let patch = |k: &str, v: crate::PropertyValue| AspectPatch {
        entity_id: e,
        values: vec![(k.to_owned(), Some(v))],
    };
    let r = dao
        .merge_aspects(id, name, &[patch("price", 7.into())])
        .await
        .expect("merge");
    assert!(r[0].is_ok(), "{r:?}");
    let r = dao
        .merge_aspects(id, name, &[patch("sku", "C3".into())])
        .await;
    let inner_refused = match &r {
        Ok(items) => refused(&items[0]),
        Err(_) => refused(&r),
    };
    assert!(inner_refused, "a merged sku: {r:?}");
    let got = dao
        .query_aspects(id, &[e], &[name.to_owned()])
        .await
        .expect("query");
    let a = got[0].get(e).expect("stored");
    assert_eq!(a.get("sku"), Some(&"A1".into()));
    assert_eq!(a.get("price"), Some(&7.into()));
    assert!(dao.delete_catalog(id).await.expect("delete"));
}
