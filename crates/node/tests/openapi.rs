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
