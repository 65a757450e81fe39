//! Boolean query parameters (`?is_archived=true`, `?batch=false`): `true` or `false`, and
//! nothing else.

use crate::error::ApiError;

/// The value of query parameter `key`; anything but `true` or `false` is a `422` at `/<key>`.
pub fn parse(key: &str, value: &str) -> Result<bool, ApiError> {
    match value {
        "true" => Ok(true),
        "false" => Ok(false),
        other => {
            Err(ApiError::invalid("type", &format!("/{key}"), format!("{key} must be true or false, not {other:?}")))
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_true_and_false_are_flags() {
        assert!(super::parse("batch", "true").unwrap());
        assert!(!super::parse("batch", "false").unwrap());
        assert!(super::parse("batch", "1").is_err());
    }
}
