//! The `ordering` query parameter of revision and release lists: `number`, `-number`,
//! `created`, `-created`, repeatable, applied in the order given; default `-number`.

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};

use crate::error::ApiError;
use crate::store::RevisionOrder;

/// The `ordering` a list request asks for.
pub struct Ordering(pub RevisionOrder);

impl FromRequest for Ordering {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(from_query(req.query_string()).map(Self))
    }
}

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
