//! cheap-json read and written as a stream of catalog parts: the same catalogs and the same
//! bytes as the whole-document reader and writer, in any field order, with the same refusals.

use cheap_core::dao::parts::parts_of;
use cheap_core::dao::{CatalogAssembler, CatalogPart};
use cheap_core::json::{self, ToJson};
use cheap_core::{Catalog, CheapError, Result};
use serde_json::Value;

mod fixtures;
use fixtures::{data, CATALOG_FIXTURES};

fn streamed(text: &str, per: usize) -> Result<Catalog> {
    let mut a = CatalogAssembler::new();
    json::read_catalog_parts(text.as_bytes(), per, &mut |p| a.push(p))?;
    a.finish()
}

fn written(parts: &[CatalogPart], pretty: bool) -> String {
    let mut w = json::CatalogWriter::new(pretty);
    let mut out = String::new();
    for p in parts {
        w.push(p).unwrap();
        out.push_str(&w.take());
    }
    w.finish().unwrap();
    out + &w.take()
}

#[test]
fn fixtures_stream_to_the_same_catalogs_and_bytes() {
    for name in CATALOG_FIXTURES {
        for (suffix, pretty) in [("-compact.json", false), (".json", true)] {
            let text = data(&format!("json/{name}{suffix}"));
            let whole = json::catalog_from_str(&text).unwrap();
            for per in [1, 2, 1000] {
                assert_eq!(
                    streamed(&text, per).unwrap(),
                    whole,
                    "{name}{suffix} by {per}"
                );
                assert_eq!(
                    written(&parts_of(&whole, per), pretty),
                    text,
                    "{name}{suffix}"
                );
            }
        }
    }
}

/// The same object with its members in another order.
fn reorder(v: &Value, first: &[&str]) -> Value {
    let m = v.as_object().unwrap();
    let mut out = serde_json::Map::new();
    for k in first {
        if let Some(x) = m.get(*k) {
            out.insert((*k).to_owned(), x.clone());
        }
    }
    for (k, x) in m {
        if !out.contains_key(k) {
            out.insert(k.clone(), x.clone());
        }
    }
    Value::Object(out)
}

#[test]
fn any_field_order_reads_as_the_whole_document_does() {
    let text = data("json/full-catalog-compact.json");
    let whole = json::catalog_from_str(&text).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    // Hierarchies before the defs and the id; contents before type and name.
    let mut late = reorder(&v, &["hierarchies", "aspectDefs", "species", "uri"]);
    let hs = late["hierarchies"].as_object().unwrap().clone();
    late["hierarchies"] = Value::Object(
        hs.iter()
            .map(|(k, h)| (k.clone(), reorder(h, &["contents", "name", "type"])))
            .collect(),
    );
    // The id and the URI after streamed hierarchies: the header comes again, complete.
    let uri_last = reorder(
        &v,
        &["globalId", "species", "aspectDefs", "hierarchies", "uri"],
    );
    for doc in [late, uri_last] {
        let text = doc.to_string();
        assert_eq!(json::catalog_from_str(&text).unwrap(), whole);
        for per in [1, 3] {
            assert_eq!(streamed(&text, per).unwrap(), whole, "{text}");
        }
    }
}

fn refused(text: &str) -> CheapError {
    let whole = json::catalog_from_str(text).expect_err(text);
    for per in [1, 2, 1000] {
        let e = streamed(text, per).expect_err(text);
        assert!(
            std::mem::discriminant(&e) == std::mem::discriminant(&whole),
            "{text}: streamed {e:?}, whole {whole:?}"
        );
    }
    whole
}

#[test]
fn what_the_whole_reader_refuses_a_stream_refuses() {
    let text = data("json/full-catalog-compact.json");
    // Cut anywhere: never a catalog.
    for cut in (1..text.len()).step_by(37) {
        refused(&text[..cut]);
    }
    let id = "550e8400-e29b-41d4-a716-444444444444";
    let e1 = "10000000-0000-0000-0000-000000000001";
    let e2 = "10000000-0000-0000-0000-000000000002";
    let head = format!(
        r#"{{"globalId":"{id}","uri":null,"species":"sink","aspectDefs":{{}},"hierarchies":"#
    );
    #[allow(clippy::useless_format)] // one form for every body, with or without ids
    for body in [
        // A key twice: within one part, and across parts.
        format!(r#"{{"d":{{"type":"ED","name":"d","contents":{{"a":"{e1}","a":"{e2}"}}}}}}"#),
        format!(
            r#"{{"d":{{"type":"ED","name":"d","contents":{{"a":"{e1}","b":"{e2}","a":"{e2}"}}}}}}"#
        ),
        format!(
            r#"{{"l":{{"type":"EL","name":"l","contents":[]}},"l":{{"type":"EL","name":"l","contents":[]}}}}"#
        ),
        // Wrong shapes and values.
        format!(r#"{{"l":{{"type":"EL","name":"l","contents":{{"a":"{e1}"}}}}}}"#),
        format!(r#"{{"l":{{"type":"EL","name":"l","contents":["{e1}","nope"]}}}}"#),
        format!(r#"{{"d":{{"type":"ED","name":"d","contents":["{e1}"]}}}}"#),
        format!(r#"{{"l":{{"type":"EL","name":"other","contents":[]}}}}"#),
        format!(r#"{{"l":{{"type":"XX","name":"l","contents":[]}}}}"#),
        format!(r#"{{"l":{{"type":"EL","name":"l","contents":[],"extra":1}}}}"#),
        format!(r#"{{"m":{{"type":"AM","name":"m","contents":{{}}}}}}"#),
        format!(r#"{{"t":{{"type":"ET","name":"t","contents":{{"children":{{"a/b":{{}}}}}}}}}}"#),
    ] {
        refused(&format!("{head}{body}}}"));
    }
    // A trailing text, and nesting past the limit.
    refused(&format!("{head}{{}}}} x"));
    let deep = format!("{head}{}{}}}", "[".repeat(600), "]".repeat(600));
    let e = refused(&deep);
    let streamed_e = streamed(&deep, 10).unwrap_err();
    assert!(e.to_string().contains("nested more than"), "{e}");
    assert!(
        streamed_e.to_string().contains("nested more than"),
        "{streamed_e}"
    );
}

#[test]
fn a_failing_sink_stops_the_reading_with_its_error() {
    let text = data("json/full-catalog-compact.json");
    let mut seen = 0;
    let e = json::read_catalog_parts(text.as_bytes(), 1, &mut |_| {
        seen += 1;
        if seen == 3 {
            Err(CheapError::Unavailable("the store went away".into()))
        } else {
            Ok(())
        }
    })
    .unwrap_err();
    assert!(matches!(e, CheapError::Unavailable(_)), "{e:?}");
    assert_eq!(seen, 3);
}

#[test]
fn big_contents_come_in_bounded_parts() {
    let mut cat = Catalog::new();
    let l = cat.create_entity_list("l").unwrap();
    for _ in 0..2500 {
        l.add(cheap_core::Uuid::new_v4());
    }
    let text = cat.to_json();
    let mut sizes = Vec::new();
    json::read_catalog_parts(text.as_bytes(), 1000, &mut |p| {
        if let CatalogPart::Entries(_) = &p {
            sizes.push(p.entry_count());
        }
        Ok(())
    })
    .unwrap();
    assert_eq!(sizes, [1000, 1000, 500]);
    assert_eq!(streamed(&text, 1000).unwrap(), cat);
}
