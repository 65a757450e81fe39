//! The shape of one described operation: its query parameters, body, success answer, who may
//! call it and the errors it can give, with the builder the operation table
//! (`super::operations`) is written in.

use actix_web::http::Method;

/// A query parameter a route reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Query {
    /// `page` and `per_page`: the route is a list.
    Pages,
    /// `ordering` (revisions and releases).
    Ordering,
    /// The dialogue list filters.
    DialogueFilters,
    /// `since` (live).
    Since,
    /// `batch` (live).
    Batch,
    /// `access_token` (live: browsers cannot set headers on a WebSocket upgrade).
    AccessToken,
    /// The contact list filters: `bot_status`, `channel_id`, `address`.
    ContactFilters,
}

/// A request body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    /// JSON checked against a resource schema of `schemas/`.
    Json(&'static str),
    /// A JSON Patch, as `application/json-patch+json` or `application/json`.
    Patch,
    /// One revision, or an array of them (bulk, all or nothing).
    Revisions,
}

/// A success answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// `status` with a JSON body of a resource schema (or an inline one, see `super::schemas`).
    One(u16, &'static str),
    /// `200`, a JSON array of a resource schema, with `X-Total-Count` and `Link`.
    List(&'static str),
    /// `204`, no body.
    NoContent,
    /// `101`: a WebSocket.
    Upgrade,
    /// `200`, an HTML page of the editor.
    Page,
}

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone.
    Public,
    /// A signed-in caller (bearer token, or session cookie with the CSRF header on unsafe
    /// methods).
    SignedIn,
}

/// One described operation.
#[derive(Debug, Clone)]
pub struct Operation {
    /// The method.
    pub method: Method,
    /// The path pattern, as registered.
    pub path: &'static str,
    /// A unique id.
    pub id: &'static str,
    /// The group it is shown in.
    pub tag: &'static str,
    /// One line on what it does.
    pub summary: &'static str,
    /// Who may call it.
    pub access: Access,
    /// The query parameters it reads.
    pub query: &'static [Query],
    /// Its request body.
    pub body: Option<Body>,
    /// Its success answer.
    pub answer: Answer,
    /// The errors it can give beyond those derived from the rest (see `super::document`).
    pub errors: &'static [u16],
    /// Whether it carries the dialogue's `ETag` and honours `If-Match`.
    pub etag: bool,
}

pub(super) const fn op(
    method: Method,
    path: &'static str,
    id: &'static str,
    tag: &'static str,
    summary: &'static str,
) -> Operation {
    Operation {
        method,
        path,
        id,
        tag,
        summary,
        access: Access::SignedIn,
        query: &[],
        body: None,
        answer: Answer::NoContent,
        errors: &[],
        etag: false,
    }
}

impl Operation {
    pub(super) const fn public(mut self) -> Self {
        self.access = Access::Public;
        self
    }
    pub(super) const fn query(mut self, query: &'static [Query]) -> Self {
        self.query = query;
        self
    }
    pub(super) const fn body(mut self, body: Body) -> Self {
        self.body = Some(body);
        self
    }
    pub(super) const fn json(self, schema: &'static str) -> Self {
        self.body(Body::Json(schema))
    }
    pub(super) const fn answer(mut self, answer: Answer) -> Self {
        self.answer = answer;
        self
    }
    pub(super) const fn ok(self, schema: &'static str) -> Self {
        self.answer(Answer::One(200, schema))
    }
    pub(super) const fn created(self, schema: &'static str) -> Self {
        self.answer(Answer::One(201, schema))
    }
    pub(super) const fn list(mut self, schema: &'static str) -> Self {
        self.answer = Answer::List(schema);
        if self.query.is_empty() {
            self.query = &[Query::Pages];
        }
        self
    }
    pub(super) const fn errors(mut self, errors: &'static [u16]) -> Self {
        self.errors = errors;
        self
    }
    pub(super) const fn page(self) -> Self {
        self.answer(Answer::Page)
    }
    pub(super) const fn etag(mut self) -> Self {
        self.etag = true;
        self
    }
}
