//! Assembles the OpenAPI 3.1 document from the described operations (`super::operations`) and
//! the schemas (`super::schemas`): path parameters from the path patterns, the errors every
//! route of a kind can give, the list, `ETag`, `If-Match` and `Retry-After` headers, and the
//! security schemes.

use serde_json::Value;
use utoipa::openapi::external_docs::ExternalDocs;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn, ParameterStyle};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::tag::TagBuilder;
use utoipa::openapi::{
    ComponentsBuilder, ContentBuilder, InfoBuilder, LicenseBuilder, OpenApiBuilder, Paths, Ref, RefOr, Required,
    ResponseBuilder, Schema,
};

use super::operations::{self, Access, Answer, Body, Operation, Query};
use super::schemas;
use crate::auth::{CSRF_HEADER, SESSION_COOKIE};

const BEARER: &str = "bearerToken";
const SESSION: &str = "sessionCookie";
const CSRF: &str = "csrfHeader";
const QUERY_TOKEN: &str = "accessTokenQuery";
const JSON: &str = "application/json";

/// The whole document, as JSON.
pub fn document() -> Value {
    let mut paths = Paths::new();
    let mut tags: Vec<&str> = Vec::new();
    for operation in operations::all() {
        if !tags.contains(&operation.tag) {
            tags.push(operation.tag);
        }
        paths.add_path_operation(operation.path, vec![http_method(&operation)], describe(&operation));
    }
    let components = ComponentsBuilder::new()
        .security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("A token from `POST /auth/tokens`"))
                    .build(),
            ),
        )
        .security_scheme(
            SESSION,
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                SESSION_COOKIE,
                "The session cookie from `POST /auth/sessions`",
            ))),
        )
        .security_scheme(
            CSRF,
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                CSRF_HEADER,
                "With the session cookie, on unsafe methods: the `csrf_token` of `POST /auth/sessions`",
            ))),
        )
        .security_scheme(
            QUERY_TOKEN,
            SecurityScheme::ApiKey(ApiKey::Query(ApiKeyValue::with_description(
                "access_token",
                "A bearer token in the query string: WebSocket upgrades only",
            ))),
        )
        .build();
    let document = OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("dialogue-server")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "Build the conversation flows of SMS, USSD and chat services together, live. Errors always have the body `{type, message, details}`. Live editing is a WebSocket: see `docs/protocol.md`.",
                ))
                .license(Some(LicenseBuilder::new().name("MIT").identifier(Some("MIT")).build()))
                .build(),
        )
        .paths(paths)
        .components(Some(components))
        .tags(Some(tags.into_iter().map(|tag| TagBuilder::new().name(tag).build())))
        .build();
    let mut document = serde_json::to_value(document).expect("an OpenAPI document serializes");
    let schemas: serde_json::Map<String, Value> = schemas::components().into_iter().collect();
    document["components"]["schemas"] = Value::Object(schemas);
    document
}

fn http_method(operation: &Operation) -> HttpMethod {
    match operation.method.as_str() {
        "POST" => HttpMethod::Post,
        "PUT" => HttpMethod::Put,
        "PATCH" => HttpMethod::Patch,
        "DELETE" => HttpMethod::Delete,
        _ => HttpMethod::Get,
    }
}

fn reference(name: &str) -> RefOr<Schema> {
    RefOr::Ref(Ref::from_schema_name(schemas::component_name(name)))
}

fn typed(kind: Type) -> ObjectBuilder {
    ObjectBuilder::new().schema_type(kind)
}

fn json_content(name: &str) -> utoipa::openapi::Content {
    ContentBuilder::new().schema(Some(reference(name))).build()
}

fn describe(operation: &Operation) -> utoipa::openapi::path::Operation {
    let mut builder =
        OperationBuilder::new().operation_id(Some(operation.id)).summary(Some(operation.summary)).tag(operation.tag);
    for name in path_parameters(operation.path) {
        builder = builder.parameter(
            ParameterBuilder::new()
                .name(name)
                .parameter_in(ParameterIn::Path)
                .required(Required::True)
                .schema(Some(typed(Type::String))),
        );
    }
    for query in operation.query {
        for parameter in query_parameters(*query) {
            builder = builder.parameter(parameter);
        }
    }
    if operation.etag && operation.method != actix_web::http::Method::GET && operation.id != "createDialogue" {
        builder = builder.parameter(
            optional(
                "If-Match",
                ParameterIn::Header,
                "The `ETag` of the dialogue this change was made against: `412` when it is no longer the newest",
            )
            .schema(Some(typed(Type::String))),
        );
    }
    if let Some(body) = operation.body {
        let request = match body {
            Body::Json(name) => RequestBodyBuilder::new().content(JSON, json_content(name)),
            Body::Patch => RequestBodyBuilder::new()
                .content("application/json-patch+json", json_content("json-patch"))
                .content(JSON, json_content("json-patch")),
            Body::Revisions => RequestBodyBuilder::new().content(JSON, json_content("revision-or-revisions")),
        };
        builder = builder.request_body(Some(request.required(Some(Required::True)).build()));
    }
    let (status, response) = success(operation);
    builder = builder.response(status, response);
    for status in errors(operation) {
        builder = builder.response(status.to_string(), error_response(status));
    }
    if operation.access == Access::SignedIn {
        let unsafe_method = operation.method != actix_web::http::Method::GET;
        let session = if unsafe_method {
            SecurityRequirement::new(SESSION, Vec::<String>::new()).add(CSRF, Vec::<String>::new())
        } else {
            SecurityRequirement::new(SESSION, Vec::<String>::new())
        };
        builder = builder.security(SecurityRequirement::new(BEARER, Vec::<String>::new())).security(session);
        if operation.query.contains(&Query::AccessToken) {
            builder = builder.security(SecurityRequirement::new(QUERY_TOKEN, Vec::<String>::new()));
        }
        if operation.id == "currentSession" {
            // Only a browser session has one to give back.
            builder = builder.securities(Some([SecurityRequirement::new(SESSION, Vec::<String>::new())]));
        }
        if operation.id == "createUser" {
            // With DIALOGUE_OPEN_SIGNUP=true, anyone may sign up.
            builder = builder.security(SecurityRequirement::default());
        }
    }
    let mut described = builder.build();
    if operation.answer == Answer::Upgrade {
        described.description = Some(
            "A WebSocket for live editing: the frames, the guarantees and the close codes are in the live protocol (`docs/protocol.md`, served at `/docs/protocol.md`).".into(),
        );
        let mut protocol = ExternalDocs::new("/docs/protocol.md");
        protocol.description = Some("The live protocol".into());
        described.external_docs = Some(protocol);
    }
    described
}

/// An optional parameter, its schema still to set.
fn optional(name: &str, place: ParameterIn, description: &str) -> ParameterBuilder {
    ParameterBuilder::new().name(name).parameter_in(place).required(Required::False).description(Some(description))
}

/// The names in a path pattern's `{…}`.
fn path_parameters(path: &str) -> Vec<&str> {
    path.split('{').skip(1).filter_map(|rest| rest.split_once('}').map(|(name, _)| name)).collect()
}

fn query_parameters(query: Query) -> Vec<utoipa::openapi::path::Parameter> {
    let parameter = |name: &str, description: &str, schema: ObjectBuilder| {
        optional(name, ParameterIn::Query, description).schema(Some(schema)).build()
    };
    let boolean = || typed(Type::String).enum_values(Some(["true", "false"]));
    match query {
        Query::Pages => vec![
            parameter("page", "1-based page number", typed(Type::Integer).minimum(Some(1))),
            parameter(
                "per_page",
                "Items per page (default 30; above 100 counts as 100)",
                typed(Type::Integer).minimum(Some(1)),
            ),
        ],
        Query::Ordering => vec![
            optional(
                "ordering",
                ParameterIn::Query,
                "Sort keys, applied in the order given: `number`, `-number` (the default), `created`, `-created`; repeat the parameter (or separate keys with commas)",
            )
            .style(Some(ParameterStyle::Form))
                .explode(Some(true))
                .schema(Some(ArrayBuilder::new().items(
                    typed(Type::String).enum_values(Some(["number", "-number", "created", "-created"])),
                )))
                .build(),
        ],
        Query::ContactFilters => vec![
            parameter(
                "bot_status",
                "Only contacts whose bot is `active` or `muted`",
                typed(Type::String).enum_values(Some(["active", "muted"])),
            ),
            parameter("channel_id", "Only contacts of this channel", typed(Type::String)),
            parameter("address", "Only the contact with this address", typed(Type::String)),
        ],
        Query::DialogueFilters => ["is_archived", "is_published", "has_changes", "can_view", "can_edit"]
            .into_iter()
            .map(|name| parameter(name, "Only dialogues with (`true`) or without (`false`) this property", boolean()))
            .collect(),
        Query::Since => vec![parameter(
            "since",
            "The newest revision the client has: the session starts with what came after it",
            typed(Type::Integer).minimum(Some(0)),
        )],
        Query::Batch => vec![parameter(
            "batch",
            "`true`: frames queued together may arrive as one `batch` frame (see docs/protocol.md)",
            boolean(),
        )],
        Query::AccessToken => vec![parameter(
            "access_token",
            "A bearer token, for clients that cannot set headers on an upgrade",
            typed(Type::String),
        )],
    }
}

fn header(description: &str) -> utoipa::openapi::header::Header {
    HeaderBuilder::new().schema(typed(Type::String)).description(Some(description)).build()
}

fn success(operation: &Operation) -> (String, utoipa::openapi::Response) {
    let mut response = ResponseBuilder::new();
    let status = match operation.answer {
        Answer::One(status, name) => {
            response = response.description("Done").content(JSON, json_content(name));
            if status == 201 && name != "token" && name != "revision-or-revisions" {
                response = response.header("Location", header("The new resource's path"));
            }
            if operation.id == "createSession" {
                response = response.header("Set-Cookie", header("The `HttpOnly`, `SameSite=Strict` session cookie"));
            }
            status
        }
        Answer::List(name) => {
            let list = ArrayBuilder::new().items(reference(name));
            response = response
                .description("One page of the list")
                .content(JSON, ContentBuilder::new().schema(Some(list)).build())
                .header(
                    "X-Total-Count",
                    HeaderBuilder::new()
                        .schema(typed(Type::Integer))
                        .description(Some("Items in the whole list"))
                        .build(),
                )
                .header(
                    "Link",
                    header("RFC 8288 links to the `first`, `prev`, `next` and `last` pages, as they apply"),
                );
            200
        }
        Answer::NoContent => {
            response = response.description("Done");
            204
        }
        Answer::Page => {
            let html = ContentBuilder::new().schema(Some(typed(Type::String))).build();
            response = response.description("The editor's HTML page").content("text/html", html);
            200
        }
        Answer::Upgrade => {
            response = response.description(
                "Switching to the WebSocket protocol. The frames, guarantees and close codes are in docs/protocol.md of the repository.",
            );
            101
        }
    };
    if operation.etag && status != 204 {
        response = response
            .header("ETag", header("`\"<revision_id>\"` of the dialogue's newest revision (`\"\"` before the first)"));
    }
    (status.to_string(), response.build())
}

/// Every error status an operation can answer: the ones it names, and the ones every route of
/// its kind can give.
pub fn errors(operation: &Operation) -> Vec<u16> {
    let mut errors: Vec<u16> = operation.errors.to_vec();
    errors.push(500);
    if operation.path != "/healthz" && operation.path != "/openapi.json" {
        errors.push(503);
    }
    if operation.access == Access::SignedIn {
        errors.push(401);
        if operation.method != actix_web::http::Method::GET {
            errors.push(403); // the CSRF header, with a session cookie
        }
    }
    if operation.path.contains('{') {
        errors.push(404);
    }
    if operation.body.is_some() {
        errors.extend([400, 408, 413, 415, 422]);
    }
    if operation.query.iter().any(|query| *query != Query::AccessToken) {
        errors.push(422);
    }
    errors.sort_unstable();
    errors.dedup();
    errors
}

fn error_response(status: u16) -> utoipa::openapi::Response {
    let description = match status {
        400 => "The body is not valid JSON (`parse_error`)",
        401 => "No valid credentials (`unauthorized`)",
        403 => "Not allowed (`forbidden`)",
        404 => "No such resource, or none the caller may see (`not_found`)",
        409 => "A conflict (`conflict`, or `patch_conflict` for a patch that does not apply)",
        408 => "The body did not arrive in time (`request_timeout`)",
        412 => "`If-Match` names an older revision (`precondition_failed`)",
        413 => "Too large (`payload_too_large`)",
        415 => "Not a JSON (or JSON Patch) body (`unsupported_media_type`)",
        422 => "Breaks the schema or a rule (`validation_error`)",
        429 => "Too many requests (`rate_limited`)",
        503 => "The database does not answer (`unavailable`)",
        _ => "Something unexpected (`internal_error`)",
    };
    let mut response = ResponseBuilder::new().description(description).content(JSON, json_content("error"));
    if status == 401 {
        response = response.header("WWW-Authenticate", header("`Bearer`"));
    }
    if status == 503 || status == 429 {
        response = response.header(
            "Retry-After",
            HeaderBuilder::new()
                .schema(typed(Type::Integer))
                .description(Some("Seconds to wait before trying again"))
                .build(),
        );
    }
    response.build()
}
