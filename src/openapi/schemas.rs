//! The schemas the API description refers to: every resource schema of `schemas/` as it is
//! (their cross-references pointed at each other inside the document), and the few bodies that
//! have no file there (the error, tokens, health, lists of a kind).

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::schema::RESOURCE_SCHEMAS;

/// A schema's name inside the document: `permissions/admin` becomes `permissions.admin`.
pub fn component_name(name: &str) -> String {
    name.replace('/', ".")
}

/// Every schema, by component name.
pub fn components() -> BTreeMap<String, Value> {
    let parsed: Vec<(&str, Value)> = RESOURCE_SCHEMAS
        .iter()
        .map(|(name, text)| (*name, serde_json::from_str(text).expect("the resource schemas are valid JSON")))
        .collect();
    let by_id: BTreeMap<String, String> = parsed
        .iter()
        .filter_map(|(name, schema)| Some((schema.get("$id")?.as_str()?.to_owned(), component_name(name))))
        .collect();
    let mut components: BTreeMap<String, Value> = parsed
        .into_iter()
        .map(|(name, mut schema)| {
            let base = schema.get("$id").and_then(Value::as_str).unwrap_or_default().to_owned();
            if let Some(object) = schema.as_object_mut() {
                object.remove("$id");
                object.remove("$schema");
            }
            point_refs(&mut schema, &base, &by_id);
            (component_name(name), schema)
        })
        .collect();
    components.extend(inline());
    components
}

/// Rewrites each `$ref` (relative to the schema's `$id`) to the component it names.
fn point_refs(value: &mut Value, base: &str, by_id: &BTreeMap<String, String>) {
    match value {
        Value::Object(object) => {
            if let Some(Value::String(reference)) = object.get_mut("$ref") {
                let absolute = if reference.contains("://") {
                    reference.clone()
                } else {
                    format!("{}{}", &base[..base.rfind('/').map_or(0, |slash| slash + 1)], reference)
                };
                if let Some(name) = by_id.get(&absolute) {
                    *reference = format!("#/components/schemas/{name}");
                }
            }
            object.values_mut().for_each(|child| point_refs(child, base, by_id));
        }
        Value::Array(items) => items.iter_mut().for_each(|child| point_refs(child, base, by_id)),
        _ => {}
    }
}

fn reference(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

/// The bodies with no file under `schemas/`.
fn inline() -> Map<String, Value> {
    let user = reference("user");
    let error_types = crate::error::ERROR_TYPES;
    let entries = [
        (
            "error",
            json!({
                "title": "Error",
                "description": "Every error answer. `details` depends on `type`: `validation_error` has `errors[]` of `{type, path, message}` (`path` a JSON Pointer); `parse_error` has `reason`, `line`, `column`; `patch_conflict` has `index`, `op`, `path`, `reason`; `not_found` has the ids from the request.",
                "type": "object",
                "required": ["type", "message", "details"],
                "properties": {
                    "type": { "type": "string", "enum": error_types },
                    "message": { "type": "string" },
                    "details": { "type": "object" }
                }
            }),
        ),
        (
            "health",
            json!({
                "type": "object",
                "required": ["status"],
                "properties": { "status": { "type": "string" } }
            }),
        ),
        (
            "openapi",
            json!({ "type": "object", "description": "An OpenAPI 3.1 document", "required": ["openapi", "paths"] }),
        ),
        (
            "token",
            json!({
                "type": "object",
                "required": ["token", "token_type", "expires_at", "user"],
                "properties": {
                    "token": { "type": "string", "description": "Send it as `Authorization: Bearer <token>`" },
                    "token_type": { "const": "Bearer" },
                    "expires_at": { "type": "integer", "description": "Milliseconds since the Unix epoch" },
                    "user": user
                }
            }),
        ),
        (
            "session",
            json!({
                "type": "object",
                "required": ["user", "csrf_token", "expires_at"],
                "properties": {
                    "user": user,
                    "csrf_token": { "type": "string", "description": "Send it in `X-CSRF-Token` on unsafe requests" },
                    "expires_at": { "type": "integer" }
                }
            }),
        ),
        (
            "revision-or-revisions",
            json!({
                "description": "The revision stored, or an array of them for a bulk request",
                "oneOf": [reference("revision"), { "type": "array", "items": reference("revision") }]
            }),
        ),
        ("contacts", json!({ "type": "array", "items": reference("contact") })),
        (
            "block-types",
            json!({
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["type", "title", "schema"],
                    "properties": {
                        "type": { "type": "string" },
                        "title": { "type": "string" },
                        "schema": { "type": "object", "description": "The JSON Schema a block's `properties` must satisfy" }
                    }
                }
            }),
        ),
    ];
    entries.into_iter().map(|(name, schema)| (name.to_owned(), schema)).collect()
}
