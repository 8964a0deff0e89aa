//! `docs/openapi.json`, the REST API's OpenAPI document the README links, is exactly what the node
//! serves at `/openapi.json`: it is generated from the handlers, and this test fails when it is
//! stale. `VEIL_WRITE_OPENAPI=1 cargo test -p veil-node --test openapi` rewrites it.
#![allow(clippy::unwrap_used)]

use utoipa::OpenApi as _;
use veil_node::api::ApiDoc;

#[test]
fn the_committed_openapi_document_is_current() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json");
    let current = format!("{}\n", serde_json::to_string_pretty(&ApiDoc::openapi()).unwrap());
    if std::env::var_os("VEIL_WRITE_OPENAPI").is_some() {
        std::fs::write(&path, &current).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == current,
        "docs/openapi.json is stale: run VEIL_WRITE_OPENAPI=1 cargo test -p veil-node --test openapi"
    );
}

/// What a client generated from the document needs: every `{name}` in a path declared as a path
/// parameter (and no path parameter that is not in the path), every response described, and the
/// topic endpoint's `from` and `height` as optional query parameters.
#[test]
fn every_path_parameter_and_response_is_described() {
    let document = serde_json::to_value(ApiDoc::openapi()).unwrap();
    let paths = document["paths"].as_object().unwrap();
    for (path, operations) in paths {
        let in_path: Vec<&str> = path.split('/').filter_map(|part| part.strip_prefix('{')?.strip_suffix('}')).collect();
        for (method, operation) in operations.as_object().unwrap() {
            let parameters = operation["parameters"].as_array().cloned().unwrap_or_default();
            let declared: Vec<&str> =
                parameters.iter().filter(|p| p["in"] == "path").map(|p| p["name"].as_str().unwrap()).collect();
            assert_eq!(declared, in_path, "{method} {path}: path parameters");
            for parameter in &parameters {
                assert!(
                    parameter["description"].as_str().is_some_and(|d| !d.is_empty()),
                    "{method} {path}: {parameter}"
                );
            }
            for (status, response) in operation["responses"].as_object().unwrap() {
                let described = response["description"].as_str().is_some_and(|d| !d.is_empty());
                assert!(described, "{method} {path}: response {status} has no description");
            }
        }
    }
    let topic = &paths["/v1/topics/{topic}/messages"]["get"]["parameters"];
    for name in ["from", "height"] {
        let parameter = topic.as_array().unwrap().iter().find(|p| p["name"] == name).unwrap();
        assert_eq!((parameter["in"].as_str(), parameter["required"].as_bool()), (Some("query"), Some(false)), "{name}");
    }
}
