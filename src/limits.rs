//! What any input may be: the size, depth and count limits that every entry point enforces
//! (REST bodies, live frames, writes to a dialogue or another resource), and the two measures
//! they are checked with, the serialized size and the nesting depth of a JSON value.
//!
//! One JSON configuration holds on the way in and on the way out: every value is parsed and
//! printed by `serde_json` with its default recursion limit (128 levels), and nothing deeper than
//! [`Limits::max_depth`] (at most [`MAX_DEPTH_CEILING`], 100) is ever accepted. So whatever was
//! accepted parses again when it is loaded, and fits MongoDB's own nesting limit (100).

use std::io;

use serde_json::Value;

use crate::error::ApiError;

/// Largest record the server will ask the database to store: MongoDB refuses documents over
/// 16 MiB, and the margin leaves room for the record's other fields.
pub const MAX_RECORD_BYTES: usize = 15 * 1024 * 1024;

/// The largest nesting depth that may be configured: MongoDB's own limit for documents.
pub const MAX_DEPTH_CEILING: usize = 100;

/// The limits in force, from the settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest request body, in bytes.
    pub max_body_bytes: usize,
    /// Largest body of an endpoint that needs no authentication.
    pub max_anonymous_body_bytes: usize,
    /// Largest dialogue description, serialized.
    pub max_dialogue_bytes: usize,
    /// Most operations in one JSON Patch.
    pub max_patch_ops: usize,
    /// Deepest nesting of arrays and objects.
    pub max_depth: usize,
    /// Longest a request body may take to arrive, in seconds.
    pub body_timeout_secs: u64,
}

impl Limits {
    /// The limits a server with the default settings enforces (for unit tests).
    pub const DEFAULT: Self = Self {
        max_body_bytes: 4 * 1024 * 1024,
        max_anonymous_body_bytes: 16 * 1024,
        max_dialogue_bytes: 2 * 1024 * 1024,
        max_patch_ops: 1000,
        max_depth: 64,
        body_timeout_secs: 30,
    };

    /// Checks the configured limits against what the database can store; a limit that would let
    /// a client store what cannot be loaded again stops start-up.
    pub fn checked(self) -> anyhow::Result<Self> {
        for (name, value) in
            [("DIALOGUE_MAX_BODY_BYTES", self.max_body_bytes), ("DIALOGUE_MAX_DIALOGUE_BYTES", self.max_dialogue_bytes)]
        {
            if value == 0 || value > MAX_RECORD_BYTES {
                anyhow::bail!("{name} must be between 1 and {MAX_RECORD_BYTES} bytes, not {value}");
            }
        }
        if self.max_depth < 8 || self.max_depth > MAX_DEPTH_CEILING {
            anyhow::bail!("DIALOGUE_MAX_JSON_DEPTH must be between 8 and {MAX_DEPTH_CEILING}, not {}", self.max_depth);
        }
        if self.max_patch_ops == 0 {
            anyhow::bail!("DIALOGUE_MAX_PATCH_OPS must be at least 1");
        }
        Ok(self)
    }

    /// `422` when `value` nests deeper than allowed.
    pub fn check_depth(&self, value: &Value) -> Result<(), ApiError> {
        if exceeds_depth(value, self.max_depth) {
            return Err(too_deep("", self.max_depth));
        }
        Ok(())
    }
}

/// The `422` for a value nested deeper than `max_depth`, at `path`.
pub fn too_deep(path: &str, max_depth: usize) -> ApiError {
    ApiError::invalid("maxDepth", path, format!("Values may nest at most {max_depth} arrays and objects deep"))
}

/// The `413` for a write that would make a resource larger than `limit`.
pub fn too_large(limit: usize, size: usize) -> ApiError {
    ApiError::PayloadTooLarge { limit, size: Some(size) }
}

/// The nesting depth of a value: 0 for a scalar, 1 for an empty array or object, one more than
/// its deepest element otherwise.
pub fn depth(value: &Value) -> usize {
    match value {
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Value::Object(fields) => 1 + fields.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// Whether `value` nests deeper than `max`, without walking further than needed.
pub fn exceeds_depth(value: &Value, max: usize) -> bool {
    match value {
        Value::Array(items) => max == 0 || items.iter().any(|item| exceeds_depth(item, max - 1)),
        Value::Object(fields) => max == 0 || fields.values().any(|item| exceeds_depth(item, max - 1)),
        _ => false,
    }
}

/// The length of `value` serialized compactly, as stored, without allocating it.
pub fn serialized_len(value: &(impl serde::Serialize + ?Sized)) -> usize {
    let mut counter = Counter(0);
    // Writing to a counter cannot fail, and a `Value` (or a patch) always serializes.
    let _ = serde_json::to_writer(&mut counter, value);
    counter.0
}

/// The length of an object key serialized compactly (quotes and escapes included).
pub fn key_len(key: &str) -> usize {
    let mut counter = Counter(0);
    let _ = serde_json::to_writer(&mut counter, key);
    counter.0
}

/// Counts bytes written to it.
struct Counter(usize);

impl io::Write for Counter {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0 += bytes.len();
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn nested(levels: usize) -> Value {
        (0..levels).fold(json!(1), |inner, _| json!({ "a": inner }))
    }

    #[test]
    fn depth_counts_containers() {
        assert_eq!(depth(&json!(1)), 0);
        assert_eq!(depth(&json!([])), 1);
        assert_eq!(depth(&json!({ "a": [1, { "b": [] }] })), 4);
        assert_eq!(depth(&nested(7)), 7);
        for levels in 0..10 {
            for max in 0..10 {
                assert_eq!(exceeds_depth(&nested(levels), max), levels > max, "{levels} levels, max {max}");
            }
        }
    }

    #[test]
    fn sizes_match_the_serialization() {
        for value in [json!(null), json!("quote \" and \u{1F600}"), json!({ "k\n": [1.5, -0.0, 1e300] }), nested(20)] {
            assert_eq!(serialized_len(&value), value.to_string().len(), "{value}");
        }
        assert_eq!(key_len("a\"b"), "\"a\\\"b\"".len());
    }

    #[test]
    fn whatever_passes_the_deepest_limit_parses_again() {
        let deepest = nested(MAX_DEPTH_CEILING);
        assert!(!exceeds_depth(&deepest, MAX_DEPTH_CEILING));
        let text = deepest.to_string();
        assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), deepest);
    }

    #[test]
    fn limits_that_the_database_cannot_hold_are_refused() {
        assert!(Limits::DEFAULT.checked().is_ok());
        assert!(Limits { max_dialogue_bytes: 20 * 1024 * 1024, ..Limits::DEFAULT }.checked().is_err());
        assert!(Limits { max_depth: 200, ..Limits::DEFAULT }.checked().is_err());
    }
}
