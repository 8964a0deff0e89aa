//! The APIs' OpenAPI documents are what the code serves:
//!
//! - `docs/openapi.json`, the node's, is exactly what a node serves at `/openapi.json`: generated
//!   from its handlers;
//! - `docs/openapi-worker.json`, the worker runtime's, is generated from `veil_api::openapi`, which
//!   describes the routes with the types the runtime answers with (the runtime links no OpenAPI
//!   code, so its document is made here, outside the TEE).
//!
//! Each test fails when its document is stale; `VEIL_WRITE_OPENAPI=1 cargo test -p veil-node
//! --test openapi` rewrites both. `./test` also runs `openapi-spec-validator` over both.
#![allow(clippy::unwrap_used)]

use utoipa::OpenApi as _;
use veil_api::{openapi::WorkerApi, paths};
use veil_node::api::ApiDoc;

/// The committed document at `docs/{file}` equals `current`, or is rewritten on request.
fn assert_committed(file: &str, current: &utoipa::openapi::OpenApi) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs").join(file);
    let current = format!("{}\n", serde_json::to_string_pretty(current).unwrap());
    if std::env::var_os("VEIL_WRITE_OPENAPI").is_some() {
        std::fs::write(&path, &current).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == current,
        "docs/{file} is stale: run VEIL_WRITE_OPENAPI=1 cargo test -p veil-node --test openapi"
    );
}

#[test]
fn the_committed_openapi_documents_are_current() {
    assert_committed("openapi.json", &ApiDoc::openapi());
    assert_committed("openapi-worker.json", &WorkerApi::openapi());
}

/// What a client generated from a document needs: every route the server has (and no other),
/// every `{name}` in a path declared as a path parameter (and no path parameter that is not in
/// the path), every parameter and every response described.
fn assert_complete(document: &utoipa::openapi::OpenApi, routes: &[&str]) {
    let document = serde_json::to_value(document).unwrap();
    let paths = document["paths"].as_object().unwrap();
    let mut documented: Vec<&str> = paths.keys().map(String::as_str).collect();
    let mut expected = routes.to_vec();
    documented.sort_unstable();
    expected.sort_unstable();
    assert_eq!(documented, expected, "the document lists exactly the server's routes");
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
}

#[test]
fn the_node_document_describes_every_route_parameter_and_response() {
    assert_complete(&ApiDoc::openapi(), paths::node::DOCUMENTED);
    let document = serde_json::to_value(ApiDoc::openapi()).unwrap();
    let topic = &document["paths"][paths::node::TOPIC_MESSAGES]["get"]["parameters"];
    for name in ["from", "height"] {
        let parameter = topic.as_array().unwrap().iter().find(|p| p["name"] == name).unwrap();
        assert_eq!((parameter["in"].as_str(), parameter["required"].as_bool()), (Some("query"), Some(false)), "{name}");
    }
}

#[test]
fn the_worker_document_describes_every_route_parameter_and_response() {
    assert_complete(&WorkerApi::openapi(), paths::worker::ALL);
    let document = serde_json::to_value(WorkerApi::openapi()).unwrap();
    for (method, path) in
        [("post", paths::worker::QUERY), ("post", paths::worker::SYNC), ("get", paths::worker::STATUS)]
    {
        assert!(document["paths"][path][method].is_object(), "{method} {path}");
    }
    let operator = &document["paths"][paths::worker::REGISTRATION]["get"]["parameters"][0];
    assert_eq!((operator["name"].as_str(), operator["in"].as_str()), (Some("operator"), Some("query")));
}
