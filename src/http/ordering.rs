//! The `ordering` query parameter of revision and release lists: `number`, `-number`,
//! `created`, `-created`, repeatable, applied in the order given; default `-number`.

use crate::error::ApiError;
use crate::store::RevisionOrder;

/// Reads every `ordering` parameter of a query string.
pub fn from_query(query: &str) -> Result<RevisionOrder, ApiError> {
    let mut order: RevisionOrder = Vec::new();
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        if key != "ordering" {
            continue;
        }
        for term in value.split(',').map(str::trim).filter(|term| !term.is_empty()) {
            let (field, direction) = match term {
                "number" => ("number", 1),
                "-number" => ("number", -1),
                "created" => ("created", 1),
                "-created" => ("created", -1),
                other => {
                    return Err(ApiError::invalid(
                        "enum",
                        "/ordering",
                        format!("ordering must be number, -number, created or -created, not {other:?}"),
                    ));
                }
            };
            if !order.iter().any(|(known, _)| *known == field) {
                order.push((field, direction));
            }
        }
    }
    if order.is_empty() {
        order.push(("number", -1));
    }
    Ok(order)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orderings() {
        assert_eq!(from_query("").unwrap(), vec![("number", -1)]);
        assert_eq!(from_query("ordering=created&ordering=-number").unwrap(), vec![("created", 1), ("number", -1)]);
        assert_eq!(from_query("ordering=-created,number").unwrap(), vec![("created", -1), ("number", 1)]);
        assert_eq!(from_query("ordering=title").unwrap_err().kind(), "validation_error");
    }
}
