//! The API description: `/openapi.json` describes exactly what the server serves, `/docs` shows
//! it with nothing loaded from another host, and `/` leads a person there.

use actix_web::http::Method;
use serde_json::Value;

use crate::helpers::spawn_app;

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// `path` with every parameter left in it replaced by an id that exists nowhere.
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|segment| if segment.starts_with('{') { "no-such-id" } else { segment })
        .collect::<Vec<_>>()
        .join("/")
}

/// Whether the server routed the request: neither an unknown path nor a wrong method.
fn routed(status: u16, body: &Value) -> bool {
    let unknown_path = status == 404 && body["message"].as_str().is_some_and(|m| m.starts_with("No resource at"));
    status != 405 && !unknown_path
}

#[actix_web::test]
async fn every_described_operation_is_served_and_no_other_method_is() {
    let app = spawn_app().await;
    let response = app.send(Method::GET, "/openapi.json", None, None, None).await;
    assert_eq!(response.status, 200, "no auth needed");
    let document = response.body;
    assert!(document["openapi"].as_str().is_some_and(|v| v.starts_with("3.1.")));
    let paths = document["paths"].as_object().expect("paths");
    assert!(paths.len() > 35, "every resource is described: {}", paths.len());
    let mut checked = 0;
    for (path, item) in paths {
        // Path parameters get ids that exist nowhere: a routed request answers 401/404/…
        let concrete = concrete(path);
        for method in METHODS {
            let described = item.get(method).is_some();
            let http = Method::from_bytes(method.to_uppercase().as_bytes()).expect("a method");
            let answer = app.send(http, &concrete, None, None, None).await;
            if described {
                assert!(
                    routed(answer.status, &answer.body),
                    "{method} {path} is described but not served: {}",
                    answer.status
                );
                let documented = &item[method]["responses"];
                assert!(
                    documented.get(answer.status.to_string()).is_some(),
                    "{method} {path} answered {} without auth, which it does not describe: {}",
                    answer.status,
                    answer.body
                );
                checked += 1;
            } else {
                assert_eq!(answer.status, 405, "{method} {path} is served but not described");
                answer.assert_error(405, "method_not_allowed");
            }
        }
    }
    assert!(checked >= 60, "{checked} operations checked");
}

/// A signed-in user with no permission at all gets, from every operation, a status the
/// document lists for it (the 403s of admin-only reads among them).
#[actix_web::test]
async fn a_user_without_rights_gets_only_documented_statuses() {
    let app = spawn_app().await;
    let (_, token) = app.create_user(&crate::helpers::unique_email("nobody")).await;
    let project = app.create_project(&app.admin_token, "Not yours").await;
    let document = app.send(Method::GET, "/openapi.json", None, None, None).await.body;
    let mut checked = 0;
    for (path, item) in document["paths"].as_object().expect("paths") {
        let concrete = concrete(&path.replace("{project_id}", &project));
        for method in METHODS {
            let Some(operation) = item.get(method) else { continue };
            if ["revokeToken", "endSession", "changePassword"]
                .contains(&operation["operationId"].as_str().unwrap_or_default())
            {
                continue; // they would sign this user out
            }
            let http = Method::from_bytes(method.to_uppercase().as_bytes()).expect("a method");
            let answer = app.send(http, &concrete, Some(&token), Some("application/json"), Some(b"{}".to_vec())).await;
            assert!(
                operation["responses"].get(answer.status.to_string()).is_some(),
                "{method} {path} answered a user without rights {}, which it does not describe: {}",
                answer.status,
                answer.body
            );
            checked += 1;
        }
    }
    assert!(checked >= 55, "{checked} operations checked");
}

#[actix_web::test]
async fn the_docs_page_is_served_from_this_server_only() {
    let app = spawn_app().await;
    let home = app.send(Method::GET, "/docs", None, None, None).await;
    assert_eq!(home.status, 302);
    assert_eq!(home.header("location"), Some("/docs/"));
    let page = app.send(Method::GET, "/docs/", None, None, None).await;
    assert_eq!(page.status, 200);
    assert!(page.header("content-type").is_some_and(|v| v.starts_with("text/html")));
    let policy = page.header("content-security-policy").expect("a CSP").to_owned();
    assert!(policy.contains("default-src 'self'") && policy.contains("script-src 'self'"), "{policy}");
    let html = String::from_utf8_lossy(&page.raw).to_string();
    for attribute in ["src=\"http", "href=\"http", "src=\"//", "href=\"//"] {
        assert!(!html.contains(attribute), "the page loads from another host: {attribute}");
    }
    let initializer = app.send(Method::GET, "/docs/swagger-initializer.js", None, None, None).await;
    assert_eq!(initializer.status, 200);
    let initializer = String::from_utf8_lossy(&initializer.raw).to_string();
    assert!(initializer.contains("/openapi.json"), "the page reads this server's document");
    assert!(initializer.contains(r#""validatorUrl": "none""#), "no badge from Swagger's validator host: {initializer}");
    for asset in ["swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js"] {
        let answer = app.send(Method::GET, &format!("/docs/{asset}"), None, None, None).await;
        assert_eq!(answer.status, 200, "{asset} ships in the binary");
    }
}
