use actix_web::http::Method;
use serde_json::json;

use crate::helpers::{spawn_app, spawn_app_with};

#[actix_web::test]
async fn malformed_json_is_a_parse_error_with_a_location() {
    let app = spawn_app().await;
    let response = app
        .send(
            Method::POST,
            "/users/",
            Some(&app.admin_token),
            Some("application/json"),
            Some(b"{\n  \"email\": ,\n}".to_vec()),
        )
        .await;
    response.assert_error(400, "parse_error");
    assert_eq!(response.body["details"]["line"], 2);
    assert_eq!(response.body["details"]["column"], 12);
    assert!(response.body["details"]["reason"].as_str().is_some_and(|r| !r.is_empty()));
}

#[actix_web::test]
async fn unknown_paths_are_json_404s() {
    let app = spawn_app().await;
    let response = app.get("/no/such/thing", &app.admin_token).await;
    response.assert_error(404, "not_found");
    let anonymous = app.send(Method::GET, "/nothing-here", None, None, None).await;
    anonymous.assert_error(404, "not_found");
}

#[actix_web::test]
async fn wrong_methods_are_json_405s() {
    let app = spawn_app().await;
    let response = app.send(Method::DELETE, "/healthz", None, None, None).await;
    response.assert_error(405, "method_not_allowed");
    let response = app.send(Method::PUT, "/users/", Some(&app.admin_token), None, None).await;
    response.assert_error(405, "method_not_allowed");
}

#[actix_web::test]
async fn oversized_bodies_are_json_413s() {
    let app = spawn_app_with(|settings| settings.max_body_bytes = 1024).await;
    let big = json!({ "email": "big@example.org", "password": "x".repeat(4096) });
    let response = app.post("/users/", &app.admin_token, &big).await;
    response.assert_error(413, "payload_too_large");
    assert_eq!(response.body["details"]["limit"], 1024);
}

#[actix_web::test]
async fn wrong_content_types_are_415s() {
    let app = spawn_app().await;
    let body = json!({ "email": "a@example.org", "password": "long enough" }).to_string().into_bytes();
    let response = app.send(Method::POST, "/users/", Some(&app.admin_token), Some("text/plain"), Some(body)).await;
    response.assert_error(415, "unsupported_media_type");

    let me = app.get("/user", &app.admin_token).await;
    let user_path = format!("/users/{}", me.body["id"].as_str().unwrap());
    let patch = json!([{ "op": "replace", "path": "/first_name", "value": "X" }]).to_string().into_bytes();
    let response = app
        .send(Method::PATCH, &user_path, Some(&app.admin_token), Some("application/merge-patch+json"), Some(patch))
        .await;
    response.assert_error(415, "unsupported_media_type");
}

#[actix_web::test]
async fn bad_pagination_parameters_are_422s() {
    let app = spawn_app().await;
    for query in ["page=0", "page=abc", "per_page=-5"] {
        let response = app.get(&format!("/users/?{query}"), &app.admin_token).await;
        response.assert_error(422, "validation_error");
        assert!(response.body["details"]["errors"][0]["path"].is_string());
    }
}

/// Found by scripts/fuzz-api: a plain GET of the live endpoint is a documented 400.
#[actix_web::test]
async fn a_live_request_that_is_not_an_upgrade_is_a_400_with_the_error_body() {
    let app = crate::helpers::spawn_app().await;
    let project = app.create_project(&app.admin_token, "Not an upgrade").await;
    let created = app.create_dialogue(&app.admin_token, &project, &crate::helpers::sample_dialogue("D")).await;
    let path = format!("{}/live", created["url"].as_str().unwrap());
    let answer = app.get(&path, &app.admin_token).await;
    answer.assert_error(400, "invalid_message");
}
