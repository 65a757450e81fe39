//! The block-type registry: each `schemas/blocks/<type>.json` registers a block type whose JSON
//! Schema validates a block's `properties`. The extension keyword `x-sequence-references` lists
//! the JSON Pointers (with `*` for any array index or key) inside `properties` whose values name
//! sequences of the same dialogue.

use std::collections::BTreeMap;
use std::path::Path;

use jsonschema::Validator;
use serde_json::{Value, json};

/// The starter set shipped inside the binary, used when no block type directory exists.
const SHIPPED: &[(&str, &str)] = &[
    ("choice", include_str!("../../schemas/blocks/choice.json")),
    ("condition", include_str!("../../schemas/blocks/condition.json")),
    ("end", include_str!("../../schemas/blocks/end.json")),
    ("free-text", include_str!("../../schemas/blocks/free-text.json")),
    ("message", include_str!("../../schemas/blocks/message.json")),
    ("set-field", include_str!("../../schemas/blocks/set-field.json")),
    ("webhook", include_str!("../../schemas/blocks/webhook.json")),
];

/// Where block types are read from when no directory is configured.
const DEFAULT_DIR: &str = "schemas/blocks";

/// One registered block type.
pub struct BlockType {
    /// The type's name (its file stem), a symbol.
    pub name: String,
    /// The schema's `title`.
    pub title: String,
    /// The schema as written.
    pub schema: Value,
    /// The compiled schema for `properties`.
    pub validator: Validator,
    /// Pointers (split into tokens, `*` a wildcard) to sequence references in `properties`.
    pub sequence_references: Vec<Vec<String>>,
}

/// Every registered block type, by name.
pub struct BlockTypes {
    types: BTreeMap<String, BlockType>,
}

impl BlockTypes {
    /// Loads from `dir`; with `None`, from `schemas/blocks` when it exists, else the shipped set.
    pub fn load(dir: Option<&Path>) -> anyhow::Result<Self> {
        let sources = match dir {
            Some(dir) => read_dir(dir)?,
            None if Path::new(DEFAULT_DIR).is_dir() => read_dir(Path::new(DEFAULT_DIR))?,
            None => SHIPPED.iter().map(|(name, text)| ((*name).to_owned(), (*text).to_owned())).collect(),
        };
        let mut types = BTreeMap::new();
        for (name, text) in sources {
            let block_type = compile(&name, &text)?;
            types.insert(name, block_type);
        }
        if types.is_empty() {
            anyhow::bail!("no block types are registered");
        }
        tracing::debug!(count = types.len(), "block types loaded");
        Ok(Self { types })
    }

    /// The type named `name`, if registered.
    pub fn get(&self, name: &str) -> Option<&BlockType> {
        self.types.get(name)
    }

    /// Every type, by name.
    pub fn iter(&self) -> impl Iterator<Item = &BlockType> {
        self.types.values()
    }

    /// `GET /block-types/` entries: `{"type","title","schema"}`.
    pub fn describe(&self) -> Vec<Value> {
        self.iter().map(|t| json!({ "type": t.name, "title": t.title, "schema": t.schema })).collect()
    }
}

fn read_dir(dir: &Path) -> anyhow::Result<Vec<(String, String)>> {
    let mut sources = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| anyhow::anyhow!("block types directory {}: {e}", dir.display()))? {
        let path = entry?.path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let Some(name) = path.file_stem().and_then(|s| s.to_str()).map(str::to_owned) else { continue };
        sources.push((name, std::fs::read_to_string(&path)?));
    }
    Ok(sources)
}

fn is_symbol(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

fn compile(name: &str, text: &str) -> anyhow::Result<BlockType> {
    if !is_symbol(name) {
        anyhow::bail!("block type file {name}.json: the name must be a symbol (^[a-z][a-z0-9-]*$)");
    }
    let schema: Value = serde_json::from_str(text).map_err(|e| anyhow::anyhow!("block type {name}: not JSON: {e}"))?;
    let validator = jsonschema::draft7::options()
        .build(&schema)
        .map_err(|e| anyhow::anyhow!("block type {name}: schema does not compile: {e}"))?;
    let title = schema.get("title").and_then(Value::as_str).unwrap_or(name).to_owned();
    let sequence_references = schema
        .get("x-sequence-references")
        .and_then(Value::as_array)
        .map(|pointers| {
            pointers
                .iter()
                .filter_map(Value::as_str)
                .map(|pointer| pointer.split('/').skip(1).map(str::to_owned).collect())
                .collect()
        })
        .unwrap_or_default();
    Ok(BlockType { name: name.to_owned(), title, schema, validator, sequence_references })
}

/// Every value in `properties` matched by `pattern`, with its JSON Pointer relative to
/// `properties`.
pub(super) fn matching_values<'v>(properties: &'v Value, pattern: &[String]) -> Vec<(String, &'v Value)> {
    let mut found = vec![(String::new(), properties)];
    for token in pattern {
        let mut next = Vec::new();
        for (path, value) in found {
            match (token.as_str(), value) {
                ("*", Value::Array(items)) => {
                    next.extend(items.iter().enumerate().map(|(i, item)| (format!("{path}/{i}"), item)));
                }
                ("*", Value::Object(fields)) => {
                    next.extend(fields.iter().map(|(key, item)| (format!("{path}/{}", super::escape(key)), item)))
                }
                (token, Value::Array(items)) => {
                    if let Some(item) = token.parse::<usize>().ok().and_then(|i| items.get(i)) {
                        next.push((format!("{path}/{token}"), item));
                    }
                }
                (token, Value::Object(fields)) => {
                    if let Some(item) = fields.get(token) {
                        next.push((format!("{path}/{}", super::escape(token)), item));
                    }
                }
                _ => {}
            }
        }
        found = next;
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_set_loads() {
        let types = BlockTypes::load(Some(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/schemas/blocks")))).unwrap();
        let names: Vec<&str> = types.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["choice", "condition", "end", "free-text", "message", "set-field", "webhook"]);
        assert_eq!(types.get("choice").unwrap().sequence_references, vec![vec!["choices", "*", "next"]]);
        assert_eq!(SHIPPED.len(), names.len(), "the embedded set matches the directory");
    }

    #[test]
    fn wildcards_match_every_item() {
        let properties = json!({ "choices": [{ "next": "a" }, { "label": "x" }, { "next": "b" }] });
        let pattern: Vec<String> = ["choices", "*", "next"].map(str::to_owned).to_vec();
        let found: Vec<(String, Value)> =
            matching_values(&properties, &pattern).into_iter().map(|(p, v)| (p, v.clone())).collect();
        assert_eq!(found, vec![("/choices/0/next".into(), json!("a")), ("/choices/2/next".into(), json!("b"))]);
    }
}
