use actix_web::http::Method;
use serde_json::json;

use crate::helpers::{spawn_app, spawn_app_with};

#[actix_web::test]
async fn healthz_and_readyz_answer_without_auth() {
    let app = spawn_app().await;
    let health = app.send(Method::GET, "/healthz", None, None, None).await;
    assert_eq!(health.status, 200);
    assert_eq!(health.body, json!({ "status": "ok" }));
    assert!(health.header("x-request-id").is_some_and(|id| id.len() >= 32), "every response names its request");
    let ready = app.send(Method::GET, "/readyz", None, None, None).await;
    assert_eq!(ready.status, 200);
}

#[actix_web::test]
async fn an_unreachable_database_gives_503_with_retry_after() {
    // Port 9 (discard) has nothing listening on loopback.
    let app = spawn_app_with(|settings| {
        settings.mongodb_uri = secrecy::SecretString::from("mongodb://127.0.0.1:9/?directConnection=true");
        settings.database_timeout_secs = 1;
    })
    .await;
    let health = app.send(Method::GET, "/healthz", None, None, None).await;
    assert_eq!(health.status, 200, "the process itself is healthy");

    let ready = app.send(Method::GET, "/readyz", None, None, None).await;
    ready.assert_error(503, "unavailable");
    assert!(ready.header("retry-after").is_some());

    let login = app
        .json(Method::POST, "/auth/tokens", None, &json!({ "email": "a@example.org", "password": "whatever1" }))
        .await;
    login.assert_error(503, "unavailable");
    assert!(login.header("retry-after").is_some());

    let authenticated = app.get("/user", "some-token").await;
    authenticated.assert_error(503, "unavailable");
}
