//! The OpenAPI document describes the API as served: parameters where they are, every route,
//! the API key, and the error answers. (CI also runs openapi-spec-validator on it.)

use serde_json::Value;

fn doc() -> Value {
    serde_json::from_str(&cheap_server::openapi_json()).unwrap()
}

fn operations(d: &Value) -> Vec<(String, String, &Value)> {
    let mut out = Vec::new();
    for (path, item) in d["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if ["get", "post", "put", "delete"].contains(&method.as_str()) {
                out.push((method.clone(), path.clone(), op));
            }
        }
    }
    out
}

#[test]
fn parameters_are_declared_where_they_are_sent() {
    let d = doc();
    for (method, path, op) in operations(&d) {
        // Path parameters are declared once on the path item, the others on the operation.
        let mut params = d["paths"][&path]["parameters"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        params.extend(op["parameters"].as_array().cloned().unwrap_or_default());
        let mut in_template = Vec::new();
        for p in &params {
            let name = p["name"].as_str().unwrap();
            match p["in"].as_str().unwrap() {
                "path" => {
                    assert!(
                        path.contains(&format!("{{{name}}}")),
                        "{method} {path}: path parameter {name} is not in the path"
                    );
                    in_template.push(name.to_owned());
                }
                "query" => assert_ne!(p["required"], Value::Bool(true), "{method} {path}: {name}"),
                "header" => assert!(
                    ["If-Match", "If-None-Match"].contains(&name),
                    "{method} {path}: header {name}"
                ),
                other => panic!("{method} {path}: {name} in {other}"),
            }
        }
        for seg in path.split('/').filter(|s| s.starts_with('{')) {
            let name = seg.trim_matches(['{', '}']);
            assert!(
                in_template.iter().any(|n| n == name),
                "{method} {path}: {name} undeclared"
            );
        }
    }
    let list = &d["paths"]["/api/catalog"]["get"]["parameters"];
    assert!(list
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["name"] == "page" && p["in"] == "query"));
}

#[test]
fn every_route_key_and_error_answer_is_described() {
    let d = doc();
    for path in [
        "/api/catalog/{catalog_id}/aspects/query",
        "/api/tasks/{task_id}",
        "/api/catalog/{catalog_id}/hierarchies/{name}/slice",
    ] {
        assert!(d["paths"][path].is_object(), "{path} is missing");
    }
    assert_eq!(
        d["components"]["securitySchemes"]["apiKey"]["scheme"],
        "bearer"
    );
    let mut ids = std::collections::HashSet::new();
    for (method, path, op) in operations(&d) {
        assert!(
            ids.insert(op["operationId"].as_str().unwrap().to_owned()),
            "{method} {path}: duplicate operationId"
        );
        let responses = op["responses"].as_object().unwrap();
        if path != "/health" && path != "/api-docs" {
            for status in ["401", "503"] {
                let r = &responses[status];
                assert!(
                    r["content"]["application/json"]["schema"]["$ref"]
                        .as_str()
                        .is_some_and(|s| s.ends_with("/ErrorBody")),
                    "{method} {path} {status}: {r}"
                );
            }
        }
        if method != "get" {
            for status in ["409", "413"] {
                assert!(
                    responses.contains_key(status),
                    "{method} {path}: no {status}"
                );
            }
        }
    }
}

#[test]
fn validators_are_described_where_they_apply() {
    let d = doc();
    let header = |method: &str, path: &str, name: &str| {
        d["paths"][path][method]["parameters"]
            .as_array()
            .is_some_and(|ps| ps.iter().any(|p| p["in"] == "header" && p["name"] == name))
    };
    let cat = "/api/catalog/{catalog_id}";
    assert!(header("get", cat, "If-None-Match"));
    assert!(d["paths"][cat]["get"]["responses"]["304"].is_object());
    assert!(d["paths"][cat]["get"]["responses"]["200"]["headers"]["ETag"].is_object());
    assert!(header(
        "post",
        "/api/catalog/{catalog_id}/aspects/query",
        "If-None-Match"
    ));
    let batch = format!("{cat}/batch");
    assert!(header("post", &batch, "If-Match"));
    assert!(d["paths"][&batch]["post"]["responses"]["412"].is_object());
    let entities = format!("{cat}/hierarchies/{{name}}/entities");
    assert!(header("delete", &entities, "If-Match"));
    // A catalog's delete cannot be conditional; the sync mark is not versioned.
    assert!(!header("delete", cat, "If-Match"));
    assert!(!header(
        "get",
        "/api/catalog/{catalog_id}/sync-mark",
        "If-None-Match"
    ));
    assert!(d["paths"][cat]["get"]["responses"]["429"].is_object());
    assert!(d["paths"]["/health"]["get"]["responses"]["429"].is_null());
}
