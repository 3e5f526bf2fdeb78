//! Every def-hash vector of spec/model.md §3, computed with the Java `CheapHasher`.

use cheap_core::hash::CheapHasher;
use cheap_core::json::{self};
use cheap_core::{AspectDef, HierarchyDef, HierarchyType, PropertyDef, PropertyType, Uuid};

fn h(f: impl FnOnce(&mut CheapHasher)) -> u64 {
    let mut x = CheapHasher::new();
    f(&mut x);
    x.finish() as u64
}

fn data(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/data/json/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

#[test]
fn primitive_vectors() {
    assert_eq!(h(|_| {}), 0xcbf29ce484222325);
    assert_eq!(h(|x| x.update_str("")), 0xcbf29ce484222325);
    assert_eq!(h(|x| x.update_str("hello")), 0xa430d84680aabd0b);
    assert_eq!(h(|x| x.update_bool(true)), 0xaf63bc4c8601b62c);
    assert_eq!(h(|x| x.update_bool(false)), 0xaf63bd4c8601b7df);
    assert_eq!(h(|x| x.update_null()), 0xaf64724c8602eb6e);
    assert_eq!(h(|x| x.update_long(42)), 0xff3add6b3789daef);
    assert_eq!(h(|x| x.update_long(-1)), 0x8cf51a8bfca3883d);
    assert_eq!(h(|x| x.update_double(1.5)), 0xaa95e93229a27c80);
    let u = Uuid::parse_str("123e4567-e89b-12d3-a456-426614174000").unwrap();
    assert_eq!(h(|x| x.update_uuid(u)), 0x9d13fad705124f66);
    assert_eq!(h(|x| x.update_uuid(u)) as i64, -7128077983787364506);
    assert_eq!(h(|x| x.update_bytes(&[1, 2, 3, 4, 5])), 0x0f66dcbf4f6b7d88);
}

fn name_def() -> PropertyDef {
    PropertyDef::new("name", PropertyType::String).nullable(false)
}

fn age_def() -> PropertyDef {
    PropertyDef::new("age", PropertyType::Integer)
}

fn ph(p: PropertyDef) -> u64 {
    // Hash through a built def so defaults are coerced exactly as in use.
    let d = AspectDef::builder("x").property(p).build().unwrap();
    let hash = d.property_defs().next().unwrap().hash();
    hash as u64
}

#[test]
fn property_def_vectors() {
    assert_eq!(ph(name_def()), 0x189a706e9b32ae75);
    assert_eq!(ph(name_def()) as i64, 1772853023676214901);
    assert_eq!(ph(age_def()), 0x1b2224745d657f5e);
    assert_eq!(ph(age_def().multivalued(true)), 0x1b2224745d657f5e);
    assert_eq!(
        ph(PropertyDef::new("count", PropertyType::Integer).default_value(7)),
        0x1962bf40ed8c8d96
    );
    assert_eq!(
        ph(PropertyDef::new("label", PropertyType::String).default_value("abc")),
        0x7bc8447ea1d99025
    );
    assert_eq!(
        ph(PropertyDef::new("label", PropertyType::String).null_default()),
        0xc82e2e2a65e3a2c2
    );
    assert_eq!(
        ph(PropertyDef::new("flag", PropertyType::Boolean).default_value(true)),
        0xeb41a3c01dd06270
    );
    assert_eq!(
        ph(PropertyDef::new("ratio", PropertyType::Float).default_value(1.5)),
        0x476a46d17f807c9d
    );
}

fn person(mutable: bool) -> AspectDef {
    let b = AspectDef::builder("person")
        .id(Uuid::parse_str("82758400-e24b-41d4-a726-446644440000").unwrap())
        .property(name_def())
        .property(age_def());
    if mutable { b.mutable() } else { b }.build().unwrap()
}

#[test]
fn aspect_def_vectors() {
    assert_eq!(person(false).hash() as u64, 0x9530fd83627fef00);
    assert_eq!(person(false).hash(), -7696373022441083136);
    assert_eq!(person(true).hash() as u64, 0x6f1ed62bebd70bfe);
    let document = AspectDef::builder("document")
        .id(Uuid::parse_str("73737400-e24b-41d4-a716-446644440000").unwrap())
        .property(PropertyDef::new("title", PropertyType::String).nullable(false))
        .property(PropertyDef::new("description", PropertyType::String))
        .build()
        .unwrap();
    assert_eq!(document.hash() as u64, 0xaa9d68edca850d47);
}

#[test]
fn hierarchy_def_vectors() {
    let cases = [
        (
            "userDirectory",
            HierarchyType::EntityDirectory,
            0xfa98acdd2d185428u64,
        ),
        ("taskQueue", HierarchyType::EntityList, 0x8de50ee60c6ef2ba),
        ("activeUsers", HierarchyType::EntitySet, 0xee842f8a7c908101),
    ];
    for (n, t, want) in cases {
        assert_eq!(HierarchyDef::new(n, t).hash() as u64, want);
    }
}

#[test]
fn vectors_from_fixtures() {
    let cd = json::catalog_def_from_str(&data("catalog-def.json")).unwrap();
    assert_eq!(cd.hash() as u64, 0xd5fbcc344c11c4f0);
    assert_eq!(cd.hash(), -3027601799489927952);
    let full = json::catalog_from_str(&data("full-catalog.json")).unwrap();
    assert_eq!(
        full.aspect_def("person").unwrap().hash() as u64,
        0x1239c66b3ba4f561
    );
    let mv = json::catalog_from_str(&data("multivalued-properties.json")).unwrap();
    assert_eq!(
        mv.aspect_def("product").unwrap().hash() as u64,
        0x864648ba2da0f76e
    );
}
