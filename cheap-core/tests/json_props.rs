//! Property tests: random catalogs survive JSON (compact and pretty) exactly, and bad values
//! are rejected with errors that name the property.

use std::str::FromStr;
use std::sync::Arc;

use bigdecimal::BigDecimal;
use cheap_core::dao::parts::parts_of;
use cheap_core::dao::CatalogAssembler;
use cheap_core::json::{self, ToJson};
use cheap_core::{
    testkit, Aspect, AspectDef, Catalog, CheapDateTime, CheapError, PropertyType, PropertyValue,
    Uuid,
};
use num_bigint::BigInt;
use proptest::prelude::*;

fn scalar(t: PropertyType) -> BoxedStrategy<PropertyValue> {
    use PropertyValue as V;
    match t {
        PropertyType::Integer => any::<i64>().prop_map(V::Integer).boxed(),
        PropertyType::Float => any::<f64>().prop_map(V::Float).boxed(),
        PropertyType::Boolean => any::<bool>().prop_map(V::Boolean).boxed(),
        PropertyType::String | PropertyType::Text | PropertyType::Clob => {
            any::<String>().prop_map(V::String).boxed()
        }
        PropertyType::BigInteger => "-?[1-9][0-9]{0,60}"
            .prop_map(|s| V::BigInteger(BigInt::from_str(&s).unwrap()))
            .boxed(),
        PropertyType::BigDecimal => ("-?[0-9]{1,30}", 0i64..40, -5i64..5)
            .prop_map(|(digits, scale, exp)| {
                let d = BigDecimal::from_str(&format!("{digits}E{exp}")).unwrap();
                V::BigDecimal(d.with_scale(scale.max(-exp)))
            })
            .boxed(),
        PropertyType::DateTime => (
            0i64..4_000_000_000,
            0u32..1_000_000_000,
            -64800i32..64800,
            any::<bool>(),
        )
            .prop_map(|(secs, nanos, off, zone)| {
                let off = chrono::FixedOffset::east_opt(off - off % 60).unwrap();
                let dt = chrono::DateTime::from_timestamp(secs, nanos)
                    .unwrap()
                    .with_timezone(&off);
                let d = CheapDateTime::new(dt);
                V::DateTime(if zone {
                    d.with_zone("Europe/Paris").unwrap()
                } else {
                    d
                })
            })
            .boxed(),
        PropertyType::Uri => "[a-z][a-z0-9+.-]{0,8}:[a-zA-Z0-9/?#._~-]{0,30}"
            .prop_map(V::Uri)
            .boxed(),
        PropertyType::Uuid => any::<u128>()
            .prop_map(|u| V::Uuid(Uuid::from_u128(u)))
            .boxed(),
        PropertyType::Blob => proptest::collection::vec(any::<u8>(), 0..40)
            .prop_map(V::Blob)
            .boxed(),
    }
}

fn aspect_values(
    def: Arc<AspectDef>,
) -> impl Strategy<Value = Vec<(String, Option<PropertyValue>)>> {
    let per_prop: Vec<BoxedStrategy<(String, Option<PropertyValue>)>> = def
        .property_defs()
        .map(|pd| {
            let name = pd.name().to_owned();
            let t = pd.property_type();
            let required = !pd.is_nullable();
            let v: BoxedStrategy<PropertyValue> = if pd.is_multivalued() {
                proptest::collection::vec(scalar(t), 0..4)
                    .prop_map(PropertyValue::List)
                    .boxed()
            } else {
                scalar(t)
            };
            if required {
                v.prop_map(move |v| (name.clone(), Some(v))).boxed()
            } else {
                proptest::option::of(v)
                    .prop_map(move |v| (name.clone(), v))
                    .boxed()
            }
        })
        .collect();
    per_prop
}

fn catalog() -> impl Strategy<Value = Catalog> {
    let def = Arc::new(testkit::every_type_def("prop.every_type"));
    let aspects = proptest::collection::vec((any::<u128>(), aspect_values(def.clone())), 0..6);
    let ids = proptest::collection::vec(any::<u128>().prop_map(Uuid::from_u128), 0..8);
    let keys = proptest::collection::vec(("\\PC{0,12}", any::<u128>()), 0..6);
    (aspects, ids, keys).prop_map(move |(aspects, ids, keys)| {
        let mut cat = Catalog::new();
        let map = cat.extend(def.clone()).unwrap();
        for (e, values) in aspects {
            map.put(Aspect::from_values(def.clone(), Uuid::from_u128(e), values).unwrap())
                .unwrap();
        }
        let list = cat.create_entity_list("list").unwrap();
        ids.iter().for_each(|i| list.add(*i));
        let set = cat.create_entity_set("set").unwrap();
        ids.iter().for_each(|i| {
            set.add(*i);
        });
        let dir = cat.create_entity_directory("dir").unwrap();
        for (k, e) in &keys {
            dir.put(k.clone(), Uuid::from_u128(*e));
        }
        let tree = cat.create_entity_tree("tree").unwrap();
        for (i, (k, e)) in keys.iter().enumerate() {
            let name = format!("n{i}{}", k.replace('/', ""));
            let parent = if i % 2 == 1 { "/n0" } else { "/" };
            let parent = if tree.node(parent).is_some() {
                parent
            } else {
                "/"
            };
            tree.add_node(parent, &name, (e % 3 != 0).then(|| Uuid::from_u128(*e)))
                .unwrap();
        }
        cat
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn random_catalogs_round_trip_through_json(cat in catalog()) {
        let compact = cat.to_json();
        let back = json::catalog_from_str(&compact).unwrap();
        prop_assert_eq!(&back, &cat);
        prop_assert_eq!(back.to_json(), compact);
        let pretty = cat.to_json_pretty();
        prop_assert_eq!(json::catalog_from_str(&pretty).unwrap(), cat);
    }

    #[test]
    fn random_catalogs_stream_as_they_print_and_read(cat in catalog(), per in 1usize..5) {
        for pretty in [false, true] {
            let mut w = json::CatalogWriter::new(pretty);
            for part in parts_of(&cat, per) {
                w.push(&part).unwrap();
            }
            w.finish().unwrap();
            let text = w.take();
            prop_assert_eq!(&text, &if pretty { cat.to_json_pretty() } else { cat.to_json() });
            let mut a = CatalogAssembler::new();
            json::read_catalog_parts(text.as_bytes(), per, &mut |p| a.push(p)).unwrap();
            prop_assert_eq!(a.finish().unwrap(), cat.clone());
        }
    }

    #[test]
    fn values_round_trip_through_text(t in proptest::sample::select(PropertyType::ALL.to_vec()), seed in any::<u64>()) {
        let mut runner = proptest::test_runner::TestRunner::new_with_rng(
            Default::default(),
            proptest::test_runner::TestRng::from_seed(proptest::test_runner::RngAlgorithm::ChaCha, &[seed as u8; 32]),
        );
        let v = scalar(t).new_tree(&mut runner).unwrap().current();
        let text = v.to_text().unwrap();
        prop_assert_eq!(PropertyValue::from_text(t, &text).unwrap(), v);
    }
}

fn person_json(value: &str) -> String {
    format!(
        r#"{{"globalId":"550e8400-e29b-41d4-a716-444444444444","uri":null,"species":"sink","aspectDefs":{{"person":{{"name":"person","globalId":"12348400-e24b-41d4-a716-446644440000","propertyDefs":[{{"name":"age","type":"Integer"}},{{"name":"name","type":"String","isNullable":false}}]}}}},"hierarchies":{{"person":{{"type":"AM","name":"person","contents":{{"10000000-0000-0000-0000-000000000001":{value}}}}}}}}}"#
    )
}

#[test]
fn bad_values_are_rejected_with_the_property_named() {
    assert!(json::catalog_from_str(&person_json(r#"{"age":30,"name":"Ok"}"#)).is_ok());
    assert!(json::catalog_from_str(&person_json(
        r#"{"age":"31","name":"digits in a string are accepted"}"#
    ))
    .is_ok());
    for (value, property) in [
        (r#"{"age":"thirty","name":"x"}"#, "age"),
        (r#"{"age":30.5,"name":"x"}"#, "age"),
        (r#"{"age":[1],"name":"x"}"#, "age"),
        (r#"{"age":30,"name":null}"#, "name"),
        (r#"{"age":30}"#, "name"),
        (r#"{"age":30,"name":5}"#, "name"),
        (r#"{"age":30,"name":"x","nickname":"y"}"#, "nickname"),
    ] {
        match json::catalog_from_str(&person_json(value)) {
            Err(CheapError::InvalidValue {
                property: p,
                aspect_def,
                ..
            }) => {
                assert_eq!(
                    (p.as_str(), aspect_def.as_str()),
                    (property, "person"),
                    "{value}"
                );
            }
            other => panic!("{value}: expected InvalidValue, got {other:?}"),
        }
    }
}

#[test]
fn malformed_documents_are_invalid_input() {
    for text in [
        "",
        "{",
        "[]",
        r#"{"uri":null,"species":"sink"}"#,
        r#"{"globalId":"nope","species":"sink"}"#,
        r#"{"globalId":"550e8400-e29b-41d4-a716-444444444444","species":"pet"}"#,
        r#"{"globalId":"550e8400-e29b-41d4-a716-444444444444","species":"mirror"}"#,
        r#"{"globalId":"550e8400-e29b-41d4-a716-444444444444","species":"sink","hierarchies":{"x":{"type":"EL","name":"x","contents":["nope"]}}}"#,
        r#"{"globalId":"550e8400-e29b-41d4-a716-444444444444","species":"sink","hierarchies":{"x":{"type":"EL","name":"y","contents":[]}}}"#,
        r#"{"globalId":"550e8400-e29b-41d4-a716-444444444444","species":"sink","hierarchies":{"x":{"type":"EL","name":"x","contents":[],"extra":1}}}"#,
        r#"{"globalId":"550e8400-e29b-41d4-a716-444444444444","species":"sink","hierarchies":{"x":{"type":"AM","name":"x","contents":{}}}}"#,
    ] {
        assert!(
            matches!(
                json::catalog_from_str(text),
                Err(CheapError::InvalidInput(_))
            ),
            "{text}"
        );
    }
}

#[test]
fn special_values_have_documented_json_forms() {
    let def = Arc::new(testkit::every_type_def("special"));
    let e = Uuid::nil();
    let a = Aspect::builder(def.clone(), e)
        .set("required", "r")
        .set("one_FLT", f64::NAN)
        .set("many_FLT", vec![f64::INFINITY, f64::NEG_INFINITY, 1e10])
        .set("one_BLB", PropertyValue::Blob(vec![1, 2, 3, 4]))
        .set("one_BGF", BigDecimal::from_str("123.4500").unwrap())
        .build()
        .unwrap();
    let text = a.to_json();
    assert!(text.contains(r#""one_FLT":"NaN""#), "{text}");
    assert!(
        text.contains(r#""many_FLT":["Infinity","-Infinity",1.0E10]"#),
        "{text}"
    );
    assert!(text.contains(r#""one_BLB":"AQIDBA==""#), "{text}");
    assert!(text.contains(r#""one_BGF":123.4500"#), "{text}");
    assert!(
        text.contains(r#""defaulted":7"#),
        "defaults are written: {text}"
    );
    let back = json::aspect_from_str(&text, def, e).unwrap();
    // The default was written out, so it reads back as an explicit value.
    assert_eq!(back.get("one_FLT"), a.get("one_FLT"));
    assert_eq!(back.get("many_FLT"), a.get("many_FLT"));
    assert_eq!(back.get("one_BLB"), a.get("one_BLB"));
    assert_eq!(back.get("one_BGF"), a.get("one_BGF"));
}
