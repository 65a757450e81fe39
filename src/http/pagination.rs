//! Lists: `page`/`per_page` parsing, and the `X-Total-Count` and RFC 8288 `Link` headers.

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::http::header::ContentType;
use actix_web::web::Bytes;
use actix_web::{FromRequest, HttpRequest, HttpResponse, HttpResponseBuilder};
use futures_util::{Stream, StreamExt, stream};
use serde::Serialize;
use serde_json::value::RawValue;

use crate::error::ApiError;

/// Items per page when the client does not say.
pub const DEFAULT_PER_PAGE: u64 = 30;
/// Larger `per_page` values are treated as this.
pub const MAX_PER_PAGE: u64 = 100;
/// How much of a streamed page ([`Page::stream`]) is gathered before it is sent: most pages
/// fit, and go out whole with their length.
pub const BUFFERED_BYTES: usize = 1024 * 1024;

/// Which slice of a list the client asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    /// 1-based page number.
    pub page: u64,
    /// Items per page, at most [`MAX_PER_PAGE`].
    pub per_page: u64,
}

impl PageRequest {
    /// Reads `page` and `per_page` from a query string; bad values are a `422`.
    pub fn from_query(query: &str) -> Result<Self, ApiError> {
        let mut page = 1;
        let mut per_page = DEFAULT_PER_PAGE;
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            match key.as_ref() {
                "page" => page = positive(&value, "page")?,
                "per_page" => per_page = positive(&value, "per_page")?.min(MAX_PER_PAGE),
                _ => {}
            }
        }
        // The database counts skipped items as a signed 64-bit number.
        let skip = (page - 1).checked_mul(per_page).filter(|skip| i64::try_from(*skip).is_ok());
        if skip.is_none() {
            return Err(ApiError::invalid(
                "maximum",
                "/page",
                format!("page must be at most {}", i64::MAX as u64 / per_page + 1),
            ));
        }
        Ok(Self { page, per_page })
    }

    /// Items to skip.
    pub fn skip(&self) -> u64 {
        (self.page - 1).saturating_mul(self.per_page)
    }

    /// Items to return, as the driver wants it.
    pub fn limit(&self) -> i64 {
        i64::try_from(self.per_page).unwrap_or(i64::MAX)
    }

    /// Cuts one page out of a list already held in memory.
    pub fn slice<T>(&self, items: Vec<T>) -> Vec<T> {
        let skip = usize::try_from(self.skip()).unwrap_or(usize::MAX);
        let take = usize::try_from(self.per_page).unwrap_or(usize::MAX);
        items.into_iter().skip(skip).take(take).collect()
    }

    /// The last page number for `total` items (1 for an empty list).
    fn last_page(&self, total: u64) -> u64 {
        total.div_ceil(self.per_page).max(1)
    }
}

fn positive(value: &str, name: &str) -> Result<u64, ApiError> {
    // Digits only: `parse` would also take a leading `+`.
    let digits = !value.is_empty() && value.bytes().all(|byte| byte.is_ascii_digit());
    match value.parse::<u64>() {
        Ok(number) if digits && number >= 1 => Ok(number),
        // A whole number too large for any page is past the last one, like any page too far.
        Err(error) if digits && *error.kind() == std::num::IntErrorKind::PosOverflow => Err(ApiError::invalid(
            "maximum",
            &format!("/{name}"),
            format!("{name} must be at most {}, not {value:?}", i64::MAX),
        )),
        _ => Err(ApiError::invalid(
            "minimum",
            &format!("/{name}"),
            format!("{name} must be a whole number of at least 1, not {value:?}"),
        )),
    }
}

/// A list request: the page it asks for, and what its answer's `Link` header needs.
pub struct Page {
    /// The page asked for.
    pub request: PageRequest,
    path: String,
    query: String,
}

impl FromRequest for Page {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(PageRequest::from_query(req.query_string()).map(|request| Self {
            request,
            path: req.path().to_owned(),
            query: req.query_string().to_owned(),
        }))
    }
}

impl Page {
    /// Items to skip.
    pub fn skip(&self) -> u64 {
        self.request.skip()
    }

    /// Items to return.
    pub fn limit(&self) -> i64 {
        self.request.limit()
    }

    /// A `200` with the page of a list held whole in memory, plus `X-Total-Count` and `Link`.
    pub fn of<T: Serialize>(&self, items: Vec<T>) -> HttpResponse {
        let total = items.len() as u64;
        self.respond(total, &self.request.slice(items))
    }

    /// A `200` with the page as a plain JSON array, plus `X-Total-Count` and `Link`.
    pub fn respond<T: Serialize>(&self, total: u64, items: &[T]) -> HttpResponse {
        self.headed(total).json(items)
    }

    /// A `200` with the page as a JSON array of items serialized already, plus `X-Total-Count`
    /// and `Link`, for pages too large to hold whole. Up to [`BUFFERED_BYTES`] the page is
    /// gathered first, so an ordinary page has a `Content-Length` and an item that fails is an
    /// error status. Past it, the rest is written as it arrives (chunked): an item that fails
    /// then ends the body there, and the connection with it, so a client gets a body that does
    /// not parse, never a shorter list that looks complete.
    pub async fn stream<S>(&self, total: u64, mut items: S) -> Result<HttpResponse, ApiError>
    where
        S: Stream<Item = Result<Box<RawValue>, ApiError>> + Unpin + 'static,
    {
        let mut gathered = String::from("[");
        while gathered.len() < BUFFERED_BYTES {
            let Some(item) = items.next().await else {
                gathered.push(']');
                return Ok(self.headed(total).content_type(ContentType::json()).body(gathered));
            };
            if gathered.len() > 1 {
                gathered.push(',');
            }
            gathered.push_str(item?.get());
        }
        // At least one item is in: every later one follows a comma.
        let rest = items.map(|item| item.map(|item| Bytes::from(format!(",{}", item.get()))));
        let body = stream::once(ready(Ok(Bytes::from(gathered))))
            .chain(rest)
            .chain(stream::once(ready(Ok(Bytes::from_static(b"]")))));
        Ok(self.headed(total).content_type(ContentType::json()).streaming(body))
    }

    /// A `200` with `X-Total-Count`, and `Link` where there is more than one page.
    fn headed(&self, total: u64) -> HttpResponseBuilder {
        let mut response = HttpResponse::Ok();
        response.insert_header(("X-Total-Count", total.to_string()));
        if let Some(link) = link_header(&self.path, &self.query, self.request, total) {
            response.insert_header(("Link", link));
        }
        response
    }
}

/// The RFC 8288 `Link` value: `first` and `last` always, `prev` and `next` where they exist.
/// Targets are relative references that keep every other query parameter.
fn link_header(path: &str, query: &str, page: PageRequest, total: u64) -> Option<String> {
    let last = page.last_page(total);
    let others: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .filter(|(key, _)| key != "page" && key != "per_page")
        .map(|(key, value)| (key.into_owned(), value.into_owned()))
        .collect();
    let target = |number: u64| {
        let mut serializer = form_urlencoded::Serializer::new(String::new());
        serializer.extend_pairs(others.iter());
        serializer.append_pair("page", &number.to_string());
        serializer.append_pair("per_page", &page.per_page.to_string());
        format!("{path}?{}", serializer.finish())
    };
    let mut links = vec![format!("<{}>; rel=\"first\"", target(1))];
    if page.page > 1 {
        links.push(format!("<{}>; rel=\"prev\"", target((page.page - 1).min(last))));
    }
    if page.page < last {
        links.push(format!("<{}>; rel=\"next\"", target(page.page + 1)));
    }
    links.push(format!("<{}>; rel=\"last\"", target(last)));
    Some(links.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_caps() {
        assert_eq!(PageRequest::from_query("").unwrap(), PageRequest { page: 1, per_page: 30 });
        assert_eq!(PageRequest::from_query("page=3&per_page=500").unwrap(), PageRequest { page: 3, per_page: 100 });
    }

    #[test]
    fn bad_values_are_validation_errors() {
        for query in [
            "page=0",
            "page=x",
            "per_page=-1",
            "per_page=",
            "page=1.5",
            "page=307445734561825862",
            "page=18446744073709551615",
            "page=%2B2",
            "page=+2",
            "page=99999999999999999999",
        ] {
            let error = PageRequest::from_query(query).unwrap_err();
            assert_eq!(error.kind(), "validation_error", "{query}");
        }
    }

    #[test]
    fn a_page_too_large_for_any_list_is_past_the_maximum() {
        for query in ["page=99999999999999999999", "page=9223372036854775807"] {
            let error = PageRequest::from_query(query).unwrap_err();
            assert_eq!(error.body().details["errors"][0]["type"], "maximum", "{query}");
        }
    }

    #[test]
    fn links_for_a_middle_page() {
        let page = PageRequest { page: 2, per_page: 10 };
        let link = link_header("/users/", "page=2&per_page=10&ordering=-number", page, 35).unwrap();
        assert_eq!(
            link,
            "</users/?ordering=-number&page=1&per_page=10>; rel=\"first\", \
             </users/?ordering=-number&page=1&per_page=10>; rel=\"prev\", \
             </users/?ordering=-number&page=3&per_page=10>; rel=\"next\", \
             </users/?ordering=-number&page=4&per_page=10>; rel=\"last\""
        );
    }

    #[test]
    fn single_page_has_no_prev_or_next() {
        let link = link_header("/users/", "", PageRequest { page: 1, per_page: 30 }, 0).unwrap();
        assert!(!link.contains("prev") && !link.contains("next"));
        assert_eq!(PageRequest { page: 2, per_page: 5 }.slice((0..12).collect()), vec![5, 6, 7, 8, 9]);
    }
}
