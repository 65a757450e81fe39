//! The machine-readable API description: an OpenAPI 3.1 document of every route, generated from
//! the route table and the schemas, served at `GET /openapi.json`, with an interactive reference
//! at `GET /docs` whose assets ship inside the binary (nothing is loaded from another host).

mod document;
mod operation;
mod operations;
mod schemas;

use std::sync::OnceLock;

use actix_web::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, LOCATION};
use actix_web::{HttpResponse, web};
use serde_json::Value;

pub use document::{document, errors};
pub use operations::{Operation, all as operations};

/// The document, built once.
fn cached() -> &'static Value {
    static DOCUMENT: OnceLock<Value> = OnceLock::new();
    DOCUMENT.get_or_init(document)
}

/// `GET /openapi.json`.
pub async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok().insert_header((CACHE_CONTROL, "no-cache")).json(cached())
}

/// `GET /docs`: the reference lives under `/docs/`.
pub async fn to_docs() -> HttpResponse {
    HttpResponse::Found().insert_header((LOCATION, "/docs/")).finish()
}

/// Registers `/docs` (the interactive reference, under a strict Content-Security-Policy:
/// everything it loads comes from this server).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/docs").route(web::get().to(to_docs)));
    cfg.service(web::resource("/docs/protocol.md").route(web::get().to(|| async {
        HttpResponse::Ok().content_type("text/markdown; charset=utf-8").body(include_str!("../../docs/protocol.md"))
    })));
    cfg.service(
        web::scope("/docs")
            .wrap(actix_web::middleware::DefaultHeaders::new().add((
                CONTENT_SECURITY_POLICY,
                "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'",
            )))
            .service(utoipa_swagger_ui::SwaggerUi::new("/{_:.*}").config(utoipa_swagger_ui::Config::new(["/openapi.json"]).validator_url("none"))),
    );
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::Value;

    use super::*;

    fn refs(value: &Value, found: &mut Vec<String>) {
        match value {
            Value::Object(object) => {
                if let Some(Value::String(reference)) = object.get("$ref") {
                    found.push(reference.clone());
                }
                object.values().for_each(|child| refs(child, found));
            }
            Value::Array(items) => items.iter().for_each(|child| refs(child, found)),
            _ => {}
        }
    }

    #[test]
    fn every_route_served_is_described_and_every_description_is_served() {
        let served: BTreeSet<String> =
            crate::routes::routes().into_iter().map(|(method, path)| format!("{method} {path}")).collect();
        let described: BTreeSet<String> =
            operations().into_iter().map(|operation| format!("{} {}", operation.method, operation.path)).collect();
        let undescribed: Vec<&String> = served.difference(&described).collect();
        let unserved: Vec<&String> = described.difference(&served).collect();
        assert!(undescribed.is_empty(), "served but not described: {undescribed:?}");
        assert!(unserved.is_empty(), "described but not served: {unserved:?}");
    }

    #[test]
    fn operation_ids_are_unique() {
        let mut ids = BTreeSet::new();
        for operation in operations() {
            assert!(ids.insert(operation.id), "{} is used twice", operation.id);
        }
    }

    #[test]
    fn every_reference_names_a_schema_of_the_document() {
        let document = document();
        let mut found = Vec::new();
        refs(&document, &mut found);
        assert!(found.len() > 50, "the operations refer to the schemas");
        for reference in found {
            let pointer = reference.strip_prefix('#').unwrap_or_else(|| panic!("{reference} is not local"));
            assert!(document.pointer(pointer).is_some(), "{reference} names nothing");
        }
    }

    #[test]
    fn the_document_is_valid_openapi_3_1() {
        let meta: Value = serde_json::from_str(include_str!("../../tests/fixtures/openapi-3.1-schema.json"))
            .expect("the OpenAPI 3.1 schema is JSON");
        let validator = jsonschema::validator_for(&meta).expect("the OpenAPI 3.1 schema compiles");
        let document = document();
        let problems: Vec<String> =
            validator.iter_errors(&document).map(|error| format!("{}: {error}", error.instance_path())).collect();
        assert!(problems.is_empty(), "{problems:#?}");
        assert_eq!(document["openapi"].as_str().map(|v| &v[..4]), Some("3.1."));
        let mut broken = document;
        broken["paths"]["/healthz"]["get"]["responses"] = Value::from(200);
        assert!(!validator.is_valid(&broken), "the check can fail");
    }

    #[test]
    fn errors_of_a_kind_are_derived_from_the_route() {
        let patch = operations().into_iter().find(|operation| operation.id == "patchDialogue").expect("described");
        assert_eq!(errors(&patch), [400, 401, 403, 404, 408, 409, 412, 413, 415, 422, 500, 503]);
        let health = operations().into_iter().find(|operation| operation.id == "health").expect("described");
        assert_eq!(errors(&health), [500]);
    }
}
