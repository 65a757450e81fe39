//! The dialogue editor, served by this binary: `/` is its page, `/web/…` its modules and styles
//! (`web/`), `/web/client/…` the JavaScript client it runs on (`clients/js/src/`). Plain ES
//! modules, no build step. Release builds embed the files at compile time; debug builds read them
//! from the source tree (rust-embed's behaviour), so editing the page needs no rebuild.
//!
//! Every answer carries a strict Content-Security-Policy: the page loads and connects only to
//! this server, runs no inline script and cannot be framed.

use actix_web::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG, IF_NONE_MATCH, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS,
};
use actix_web::{HttpRequest, HttpResponse, web};
use rust_embed::{EmbeddedFile, RustEmbed};

use crate::error::ApiError;

#[derive(RustEmbed)]
#[folder = "web/"]
#[exclude = "node_modules/*"]
#[exclude = "test/*"]
#[exclude = "package*.json"]
struct Editor;

#[derive(RustEmbed)]
#[folder = "clients/js/src/"]
struct Client;

/// What the editor's pages may load: only this server's scripts, styles, images and sockets.
pub const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; font-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'self'; \
     frame-ancestors 'none'";

/// The strong validator of a file: the first 128 bits of its SHA-256, computed at compile time.
fn etag(file: &EmbeddedFile) -> String {
    let hash = file.metadata.sha256_hash();
    format!("\"{}\"", hex::encode(&hash[..16]))
}

/// Answers one file: revalidated on every use (`no-cache` with an `ETag`, so an unchanged file
/// costs a `304`), since the names carry no hash.
fn answer(req: &HttpRequest, path: &str, file: Option<EmbeddedFile>) -> Result<HttpResponse, ApiError> {
    let file = file.ok_or_else(|| ApiError::not_found("file", path))?;
    let tag = etag(&file);
    let unchanged = req
        .headers()
        .get(IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|given| given.split(',').any(|candidate| candidate.trim() == tag || candidate.trim() == "*"));
    let mut response = if unchanged { HttpResponse::NotModified() } else { HttpResponse::Ok() };
    response
        .insert_header((ETAG, tag))
        .insert_header((CACHE_CONTROL, "no-cache"))
        .insert_header((CONTENT_SECURITY_POLICY, POLICY))
        .insert_header((X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((REFERRER_POLICY, "no-referrer"));
    if unchanged {
        return Ok(response.finish());
    }
    let mime = file.metadata.mimetype();
    let content_type = if mime.starts_with("text/") || mime.ends_with("javascript") {
        format!("{mime}; charset=utf-8")
    } else {
        mime.to_owned()
    };
    Ok(response.insert_header((CONTENT_TYPE, content_type)).body(file.data.into_owned()))
}

/// The editor's page (`/`, and the password reset link, which the editor handles).
pub async fn page(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    answer(&req, "index.html", Editor::get("index.html"))
}

async fn editor_file(req: HttpRequest, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    answer(&req, &path, Editor::get(&path))
}

async fn client_file(req: HttpRequest, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    answer(&req, &path, Client::get(&path))
}

/// Registers `/`, `/web/client/{file}` and `/web/{file}`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/").route(web::get().to(page)));
    cfg.service(web::resource("/web/client/{path:.+}").route(web::get().to(client_file)));
    cfg.service(web::resource("/web/{path:.+}").route(web::get().to(editor_file)));
}
