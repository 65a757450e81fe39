//! The editor's files: served at `/` and `/web/…` from the binary, under a strict policy.

use actix_web::http::Method;

use crate::helpers::spawn_app;

#[actix_web::test]
async fn the_editor_page_and_its_modules_are_served_under_a_strict_policy() {
    let app = spawn_app().await;
    let page = app.send(Method::GET, "/", None, None, None).await;
    assert_eq!(page.status, 200);
    assert_eq!(page.header("content-type"), Some("text/html; charset=utf-8"));
    let policy = page.header("content-security-policy").expect("a CSP").to_owned();
    for directive in ["default-src 'none'", "script-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"] {
        assert!(policy.contains(directive), "{policy}");
    }
    assert!(!policy.contains("unsafe"), "{policy}");
    assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
    let html = String::from_utf8_lossy(&page.raw).to_string();
    assert!(html.contains("/web/app.js"), "{html}");
    for attribute in ["src=\"http", "href=\"http", "src=\"//", "href=\"//", "<script>"] {
        assert!(!html.contains(attribute), "the page loads from another host or inlines a script: {attribute}");
    }

    // The client the editor imports, as a JavaScript module.
    let client = app.send(Method::GET, "/web/client/live.js", None, None, None).await;
    assert_eq!(client.status, 200);
    assert_eq!(client.header("content-type"), Some("text/javascript; charset=utf-8"));
    assert!(String::from_utf8_lossy(&client.raw).contains("export"));

    // Revalidation: the same file answers 304 to its own ETag, and a missing one is a JSON 404.
    let tag = page.header("etag").expect("an ETag").to_owned();
    assert_eq!(page.header("cache-control"), Some("no-cache"));
    let unchanged = app.send_with(Method::GET, "/", None, None, None, &[("If-None-Match", &tag)]).await;
    assert_eq!(unchanged.status, 304);
    assert!(unchanged.raw.is_empty());
    // The password reset mail's link opens the same page, which asks for the new password.
    let reset = app.send(Method::GET, "/password-confirmations?token=abc", None, None, None).await;
    assert_eq!(reset.status, 200);
    assert_eq!(reset.raw, page.raw);
    app.send(Method::GET, "/web/missing.js", None, None, None).await.assert_error(404, "not_found");
    app.send(Method::GET, "/web/../Cargo.toml", None, None, None).await.assert_error(404, "not_found");
}
