//! JSON Schema validation of request bodies. The resource schemas in `schemas/` are compiled into
//! the binary and cross-reference each other through a local registry (nothing is fetched).
//! Validation failures become `422 validation_error` with one `{type, path, message}` per
//! problem, `path` pointing at the offending field.

use std::collections::HashMap;

use jsonschema::error::ValidationErrorKind;
use jsonschema::{Draft, Registry, Validator};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{ApiError, FieldError};
use crate::limits::{Limits, serialized_len};
use crate::patch::Bounds;
use json_patch::Patch;

mod block_types;
mod dialogue;

pub use block_types::{BlockType, BlockTypes};

/// Base URI of our schemas' `$id`s.
const BASE_URI: &str = "https://dialogue-server.local/schemas/";

/// At most this many errors are reported for one body.
const MAX_ERRORS: usize = 50;
/// Values larger than this (serialized) get their first problem reported, not all of them.
const FULL_REPORT_BYTES: usize = 64 * 1024;
/// Offending values longer than this (serialized) are not quoted in error messages.
const QUOTED_VALUE_BYTES: usize = 100;

/// Every resource schema: its name (file stem under `schemas/`) and its text.
pub(crate) const RESOURCE_SCHEMAS: &[(&str, &str)] = &[
    ("user", include_str!("../../schemas/user.json")),
    ("user-summary", include_str!("../../schemas/user-summary.json")),
    ("new-user", include_str!("../../schemas/new-user.json")),
    ("password-change", include_str!("../../schemas/password-change.json")),
    ("password-reset", include_str!("../../schemas/password-reset.json")),
    ("password-confirmation", include_str!("../../schemas/password-confirmation.json")),
    ("credentials", include_str!("../../schemas/credentials.json")),
    ("permission", include_str!("../../schemas/permission.json")),
    ("permissions/admin", include_str!("../../schemas/permissions/admin.json")),
    ("permissions/projects-create", include_str!("../../schemas/permissions/projects-create.json")),
    ("permissions/project-admin", include_str!("../../schemas/permissions/project-admin.json")),
    ("permissions/project-dialogues-read", include_str!("../../schemas/permissions/project-dialogues-read.json")),
    ("permissions/project-dialogues-write", include_str!("../../schemas/permissions/project-dialogues-write.json")),
    ("permissions/dialogue-read", include_str!("../../schemas/permissions/dialogue-read.json")),
    ("permissions/dialogue-write", include_str!("../../schemas/permissions/dialogue-write.json")),
    ("symbol", include_str!("../../schemas/symbol.json")),
    ("block", include_str!("../../schemas/block.json")),
    ("sequence", include_str!("../../schemas/sequence.json")),
    ("dialogue", include_str!("../../schemas/dialogue.json")),
    ("dialogue-summary", include_str!("../../schemas/dialogue-summary.json")),
    ("project", include_str!("../../schemas/project.json")),
    ("project-summary", include_str!("../../schemas/project-summary.json")),
    ("project-member", include_str!("../../schemas/project-member.json")),
    ("json-patch", include_str!("../../schemas/json-patch.json")),
    ("revision", include_str!("../../schemas/revision.json")),
    ("revision-edit", include_str!("../../schemas/revision-edit.json")),
    ("revision-revert", include_str!("../../schemas/revision-revert.json")),
    ("release", include_str!("../../schemas/release.json")),
    ("provider", include_str!("../../schemas/provider.json")),
    ("provider-summary", include_str!("../../schemas/provider-summary.json")),
    ("channel", include_str!("../../schemas/channel.json")),
    ("channel-summary", include_str!("../../schemas/channel-summary.json")),
    ("new-channel", include_str!("../../schemas/new-channel.json")),
    ("invite", include_str!("../../schemas/invite.json")),
    ("webhook", include_str!("../../schemas/webhook.json")),
    ("webhook-delivery", include_str!("../../schemas/webhook-delivery.json")),
    ("contact", include_str!("../../schemas/contact.json")),
    ("contact-bulk-update", include_str!("../../schemas/contact-bulk-update.json")),
];

/// A body the schema accepts but a typed field cannot hold (an integer beyond 64 bits): a `422`,
/// not a server error.
fn unfit(error: serde_json::Error) -> ApiError {
    ApiError::invalid("type", "", format!("A value does not fit the field it is for: {error}"))
}

/// Writes numbers with no fractional part (`3.0`) as integers. JSON Schema's `integer` accepts
/// them, and the typed fields they are read into must too.
fn integral_numbers(value: &mut Value) {
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53: every integer up to it is exact
    match value {
        Value::Number(number) if !number.is_i64() && !number.is_u64() => {
            if let Some(float) = number.as_f64()
                && float.fract() == 0.0
                && float.abs() <= EXACT
            {
                *value = Value::from(float as i64);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(integral_numbers),
        Value::Object(fields) => fields.values_mut().for_each(integral_numbers),
        _ => {}
    }
}

/// One compiled schema and the top-level fields it marks `readOnly`.
struct Compiled {
    validator: Validator,
    read_only: Vec<String>,
}

/// Every compiled schema, by name, and the registered block types.
pub struct Schemas {
    compiled: HashMap<&'static str, Compiled>,
    /// Block types, by type name.
    pub block_types: BlockTypes,
}

impl Schemas {
    /// Parses and compiles every resource schema and the block types from `block_types_dir`
    /// (the shipped starter set when `None`). Fails at start-up, never at request time.
    pub fn load(block_types_dir: Option<&std::path::Path>) -> anyhow::Result<Self> {
        let mut documents = Vec::with_capacity(RESOURCE_SCHEMAS.len());
        for (name, text) in RESOURCE_SCHEMAS {
            let document: Value =
                serde_json::from_str(text).map_err(|e| anyhow::anyhow!("schema {name} is not JSON: {e}"))?;
            documents.push((*name, document));
        }
        let registry = Registry::new()
            .draft(Draft::Draft7)
            .extend(documents.iter().map(|(name, document)| (uri_of(name, document), document.clone())))?
            .prepare()?;
        let mut compiled = HashMap::new();
        for (name, document) in &documents {
            let validator = jsonschema::draft7::options()
                .with_registry(&registry)
                .with_base_uri(uri_of(name, document))
                .build(document)
                .map_err(|e| anyhow::anyhow!("schema {name} does not compile: {e}"))?;
            compiled.insert(*name, Compiled { validator, read_only: read_only_fields(document) });
        }
        let block_types = BlockTypes::load(block_types_dir)?;
        Ok(Self { compiled, block_types })
    }

    fn get(&self, name: &str) -> Result<&Compiled, ApiError> {
        self.compiled.get(name).ok_or_else(|| ApiError::internal(anyhow::anyhow!("no schema named {name}")))
    }

    /// Validates `value` against schema `name`.
    pub fn validate(&self, name: &str, value: &Value) -> Result<(), ApiError> {
        let errors = field_errors(&self.get(name)?.validator, value, "");
        if errors.is_empty() { Ok(()) } else { Err(ApiError::Validation(errors)) }
    }

    /// Validates `value` against schema `name` and reads it as a `T` (the handler's view of the
    /// body): a `422` names every problem. A value the schema allows but `T` cannot hold (an
    /// integer beyond what a 64-bit field keeps exactly) is a `422` too.
    pub fn parse<T: DeserializeOwned>(&self, name: &str, mut value: Value) -> Result<T, ApiError> {
        self.validate(name, &value)?;
        integral_numbers(&mut value);
        serde_json::from_value(value).map_err(unfit)
    }

    /// Like [`Self::parse`], for the body of a POST: read-only fields are refused too.
    pub fn parse_new<T: DeserializeOwned>(&self, name: &str, mut value: Value) -> Result<T, ApiError> {
        self.validate_new(name, &value)?;
        integral_numbers(&mut value);
        serde_json::from_value(value).map_err(unfit)
    }

    /// Validates the body of a POST: read-only fields are refused, then the schema applies.
    pub fn validate_new(&self, name: &str, value: &Value) -> Result<(), ApiError> {
        let compiled = self.get(name)?;
        let mut errors = read_only_present(&compiled.read_only, value);
        errors.extend(field_errors(&compiled.validator, value, ""));
        if errors.is_empty() { Ok(()) } else { Err(ApiError::Validation(errors)) }
    }

    /// Prepares the body of a PUT: read-only fields are dropped (the seed says they are
    /// ignored), then the schema applies.
    pub fn validate_replacement(&self, name: &str, value: &mut Value) -> Result<(), ApiError> {
        let compiled = self.get(name)?;
        if let Value::Object(fields) = value {
            for field in &compiled.read_only {
                fields.remove(field);
            }
        }
        self.validate(name, value)
    }

    /// Applies a client's JSON Patch to a resource's current description and validates the
    /// result against schema `name`: the one path of every PATCH but a dialogue's. Read-only
    /// fields are refused, and the resource may grow no larger and no deeper than a request
    /// body may be.
    pub fn patched(
        &self,
        name: &str,
        mut description: Value,
        patch: &Patch,
        limits: &Limits,
    ) -> Result<Value, ApiError> {
        self.check_patch_paths(name, patch)?;
        let size = serialized_len(&description);
        let bounds = Bounds { max_size: limits.max_body_bytes, max_depth: limits.max_depth };
        crate::patch::apply(&mut description, size, patch, bounds)?;
        self.validate(name, &description)?;
        Ok(description)
    }

    /// Refuses a JSON Patch that writes (or moves away) a read-only field of resource `name`.
    pub fn check_patch_paths(&self, name: &str, patch: &json_patch::Patch) -> Result<(), ApiError> {
        let read_only = &self.get(name)?.read_only;
        let mut errors = Vec::new();
        for operation in patch.iter() {
            let mut touched = vec![operation.path().as_str().to_owned()];
            match operation {
                json_patch::PatchOperation::Move(op) => touched.push(op.from.as_str().to_owned()),
                json_patch::PatchOperation::Copy(op) => touched.push(op.from.as_str().to_owned()),
                _ => {}
            }
            for path in touched {
                if path.is_empty() && !read_only.is_empty() {
                    errors.push(FieldError::new("readOnly", "", "A patch cannot replace the whole resource"));
                    continue;
                }
                let top = path.split('/').nth(1).map(unescape).unwrap_or_default();
                if read_only.contains(&top) {
                    errors.push(FieldError::new(
                        "readOnly",
                        format!("/{}", escape(&top)),
                        format!("'{top}' is read-only and cannot be changed"),
                    ));
                }
            }
        }
        if errors.is_empty() { Ok(()) } else { Err(ApiError::Validation(errors)) }
    }
}

/// Where a schema is registered: its own `$id`, or a name under our base URI.
fn uri_of(name: &str, document: &Value) -> String {
    match document.get("$id").and_then(Value::as_str) {
        Some(id) => id.to_owned(),
        None => format!("{BASE_URI}{name}.json"),
    }
}

/// Top-level properties a schema marks `readOnly`.
fn read_only_fields(schema: &Value) -> Vec<String> {
    let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
        return Vec::new();
    };
    properties
        .iter()
        .filter(|(_, definition)| definition.get("readOnly").and_then(Value::as_bool) == Some(true))
        .map(|(name, _)| name.clone())
        .collect()
}

fn read_only_present(read_only: &[String], value: &Value) -> Vec<FieldError> {
    let Value::Object(fields) = value else { return Vec::new() };
    read_only
        .iter()
        .filter(|field| fields.contains_key(*field))
        .map(|field| {
            FieldError::new(
                "readOnly",
                format!("/{}", escape(field)),
                format!("'{field}' is read-only and cannot be given"),
            )
        })
        .collect()
}

/// Every schema violation of `value`, as field errors. `prefix` is prepended to each path (for
/// values nested in a larger body).
pub fn field_errors(validator: &Validator, value: &Value, prefix: &str) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if validator.is_valid(value) {
        return errors;
    }
    // Listing every problem of a large value can cost far more memory than the value itself
    // (one error per offending item of a long array): of a large value, report the first.
    let found: Box<dyn Iterator<Item = jsonschema::ValidationError<'_>>> = if serialized_len(value) > FULL_REPORT_BYTES
    {
        Box::new(validator.validate(value).err().into_iter())
    } else {
        Box::new(validator.iter_errors(value))
    };
    for error in found {
        let base = format!("{prefix}{}", error.instance_path().as_str());
        match error.kind() {
            ValidationErrorKind::Required { property } => {
                let property = property.as_str().map(str::to_owned).unwrap_or_else(|| property.to_string());
                errors.push(FieldError::new(
                    "required",
                    format!("{base}/{}", escape(&property)),
                    format!("'{property}' is a required property"),
                ));
            }
            ValidationErrorKind::AdditionalProperties { unexpected } => {
                for property in unexpected {
                    errors.push(FieldError::new(
                        "additionalProperties",
                        format!("{base}/{}", escape(property)),
                        format!("Additional properties are not allowed ('{property}' was unexpected)"),
                    ));
                }
            }
            // jsonschema's messages quote the offending value, which may be a whole request:
            // quote it only when it is short.
            kind if serialized_len(error.instance()) <= QUOTED_VALUE_BYTES => {
                errors.push(FieldError::new(kind.keyword(), base, error.to_string()))
            }
            kind => {
                let keyword = kind.keyword();
                errors.push(FieldError::new(keyword, base, format!("The value fails the schema's `{keyword}` rule")))
            }
        }
        if errors.len() >= MAX_ERRORS {
            break;
        }
    }
    errors
}

/// Escapes one JSON Pointer reference token (RFC 6901).
pub fn escape(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

fn unescape(token: &str) -> String {
    token.replace("~1", "/").replace("~0", "~")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schemas() -> Schemas {
        Schemas::load(None).expect("the shipped schemas compile")
    }

    #[test]
    fn numbers_with_a_zero_fraction_become_integers_and_others_stay() {
        let mut value = json!({ "a": 3.0, "b": [1.5, -2.0, 7], "c": 1e300, "d": "3.0" });
        integral_numbers(&mut value);
        assert_eq!(value, json!({ "a": 3, "b": [1.5, -2, 7], "c": 1e300, "d": "3.0" }));
        assert!(value["a"].is_i64());
    }

    fn errors(result: Result<(), ApiError>) -> Vec<FieldError> {
        match result {
            Err(ApiError::Validation(errors)) => errors,
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn new_user_errors_point_at_fields() {
        let found = errors(schemas().validate_new("new-user", &json!({ "id": "x", "first_name": 3 })));
        let paths: Vec<(&str, &str)> = found.iter().map(|e| (e.kind.as_str(), e.path.as_str())).collect();
        assert!(paths.contains(&("readOnly", "/id")), "{paths:?}");
        assert!(paths.contains(&("required", "/email")), "{paths:?}");
        assert!(paths.contains(&("required", "/password")), "{paths:?}");
        assert!(paths.contains(&("type", "/first_name")), "{paths:?}");
    }

    #[test]
    fn email_format_is_checked() {
        let found = errors(schemas().validate_new("new-user", &json!({ "email": "nope", "password": "p" })));
        assert_eq!(found[0].kind, "format");
        assert_eq!(found[0].path, "/email");
    }

    #[test]
    fn replacement_drops_read_only_fields() {
        let mut body = json!({ "id": "x", "url": "/users/x", "email": "a@b.org", "first_name": "A" });
        schemas().validate_replacement("user", &mut body).unwrap();
        assert_eq!(body, json!({ "first_name": "A" }));
    }

    #[test]
    fn permission_properties_follow_the_type() {
        let s = schemas();
        s.validate_new("permission", &json!({ "type": "admin" })).unwrap();
        s.validate_new("permission", &json!({ "type": "project:admin", "properties": { "project_id": "p" } })).unwrap();
        let found = errors(s.validate_new("permission", &json!({ "type": "project:admin" })));
        assert!(found.iter().any(|e| e.kind == "required" && e.path == "/properties"), "{found:?}");
        let found = errors(
            s.validate_new("permission", &json!({ "type": "dialogue:read", "properties": { "project_id": "p" } })),
        );
        assert!(found.iter().any(|e| e.path == "/properties/dialogue_id"), "{found:?}");
        let found = errors(s.validate_new("permission", &json!({ "type": "projects:admin" })));
        assert!(found.iter().any(|e| e.kind == "enum" && e.path == "/type"), "{found:?}");
    }

    #[test]
    fn patches_of_read_only_fields_are_refused() {
        use crate::patch::parse_patch;
        let patch = parse_patch(json!([{ "op": "replace", "path": "/email", "value": "x@y.org" }]), 10).unwrap();
        let found = errors(schemas().check_patch_paths("user", &patch));
        assert_eq!(found[0].path, "/email");
        let patch =
            crate::patch::parse_patch(json!([{ "op": "replace", "path": "/first_name", "value": "A" }]), 10).unwrap();
        schemas().check_patch_paths("user", &patch).unwrap();
    }
}
