use actix_web::http::Method;
use serde_json::json;

use crate::helpers::{ADMIN_EMAIL, USER_PASSWORD, spawn_app, spawn_app_with, unique_email};

#[actix_web::test]
async fn the_current_user_has_their_permissions() {
    let app = spawn_app().await;
    let me = app.get("/user", &app.admin_token).await;
    assert_eq!(me.status, 200);
    assert_eq!(me.body["email"], ADMIN_EMAIL);
    assert_eq!(me.body["url"], format!("/users/{}", me.body["id"].as_str().unwrap()));
    assert_eq!(me.body["permissions"][0]["type"], "admin");
    assert!(me.body.get("password_hash").is_none());
}

#[actix_web::test]
async fn admins_create_users_and_emails_are_unique() {
    let app = spawn_app().await;
    let email = unique_email("joan");
    let created = app
        .post(
            "/users/",
            &app.admin_token,
            &json!({ "email": email, "password": USER_PASSWORD, "first_name": "Joan", "last_name": "Watson" }),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.body["id"].as_str().unwrap();
    assert_eq!(created.body["url"], format!("/users/{id}"));
    assert_eq!(created.body["first_name"], "Joan");
    assert_eq!(created.header("location"), Some(format!("/users/{id}").as_str()));
    assert!(created.body.get("password").is_none());

    let duplicate = app
        .post("/users/", &app.admin_token, &json!({ "email": email.to_uppercase(), "password": USER_PASSWORD }))
        .await;
    duplicate.assert_error(409, "conflict");
    // Spaces around an address are trimmed before its format is checked, as at sign-in.
    let spaced = app
        .post("/users/", &app.admin_token, &json!({ "email": format!(" {email}\t"), "password": USER_PASSWORD }))
        .await;
    spaced.assert_error(409, "conflict");
    let other = unique_email("spaced");
    let spaced = app
        .post("/users/", &app.admin_token, &json!({ "email": format!(" {other} "), "password": USER_PASSWORD }))
        .await;
    assert_eq!(spaced.status, 201, "{}", spaced.body);
    assert_eq!(spaced.body["email"], other);
}

#[actix_web::test]
async fn user_creation_is_validated() {
    let app = spawn_app().await;
    let response = app
        .post(
            "/users/",
            &app.admin_token,
            &json!({ "id": "mine", "email": "not-an-email", "password": 5, "nick": "x" }),
        )
        .await;
    response.assert_error(422, "validation_error");
    let errors = response.body["details"]["errors"].as_array().unwrap();
    let has = |kind: &str, path: &str| errors.iter().any(|e| e["type"] == kind && e["path"] == path);
    assert!(has("readOnly", "/id"), "{errors:?}");
    assert!(has("format", "/email"), "{errors:?}");
    assert!(has("type", "/password"), "{errors:?}");
    assert!(has("additionalProperties", "/nick"), "{errors:?}");
    assert!(errors.iter().all(|e| e["message"].is_string()));

    let short =
        app.post("/users/", &app.admin_token, &json!({ "email": unique_email("s"), "password": "short" })).await;
    short.assert_error(422, "validation_error");
    assert_eq!(short.body["details"]["errors"][0]["path"], "/password");
}

#[actix_web::test]
async fn only_admins_manage_users_unless_signup_is_open() {
    let app = spawn_app().await;
    let (_, token) = app.create_user(&unique_email("plain")).await;
    let body = json!({ "email": unique_email("new"), "password": USER_PASSWORD });
    app.post("/users/", &token, &body).await.assert_error(403, "forbidden");
    app.json(Method::POST, "/users/", None, &body).await.assert_error(401, "unauthorized");
    app.get("/users/", &token).await.assert_error(403, "forbidden");

    let open = spawn_app_with(|settings| settings.open_signup = true).await;
    let signed_up = open.json(Method::POST, "/users/", None, &body).await;
    assert_eq!(signed_up.status, 201, "{}", signed_up.body);
    let token = open.login(body["email"].as_str().unwrap(), USER_PASSWORD).await;
    open.get("/users/", &token).await.assert_error(403, "forbidden");
}

#[actix_web::test]
async fn users_are_listed_in_pages() {
    let app = spawn_app().await;
    for n in 0..4 {
        app.create_user(&unique_email(&format!("page{n}"))).await;
    }
    let first = app.get("/users/?per_page=2", &app.admin_token).await;
    assert_eq!(first.status, 200);
    assert_eq!(first.body.as_array().unwrap().len(), 2);
    assert_eq!(first.header("x-total-count"), Some("5"));
    let link = first.header("link").unwrap();
    assert!(link.contains("</users/?page=2&per_page=2>; rel=\"next\""), "{link}");
    assert!(link.contains("</users/?page=3&per_page=2>; rel=\"last\""), "{link}");
    assert!(!link.contains("rel=\"prev\""), "{link}");

    let last = app.get("/users/?per_page=2&page=3", &app.admin_token).await;
    assert_eq!(last.body.as_array().unwrap().len(), 1);
    let link = last.header("link").unwrap();
    assert!(link.contains("rel=\"prev\"") && !link.contains("rel=\"next\""), "{link}");

    let capped = app.get("/users/?per_page=1000", &app.admin_token).await;
    assert_eq!(capped.body.as_array().unwrap().len(), 5);
    assert!(capped.header("link").unwrap().contains("per_page=100"));

    let everyone: Vec<String> = app
        .get("/users/", &app.admin_token)
        .await
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_str().unwrap().to_owned())
        .collect();
    let mut paged = Vec::new();
    for page in 1..=3 {
        let body = app.get(&format!("/users/?per_page=2&page={page}"), &app.admin_token).await.body;
        paged.extend(body.as_array().unwrap().iter().map(|u| u["id"].as_str().unwrap().to_owned()));
    }
    assert_eq!(everyone, paged, "pages neither skip nor repeat users");
}

#[actix_web::test]
async fn users_read_themselves_and_admins_read_anyone() {
    let app = spawn_app().await;
    let (alice, alice_token) = app.create_user(&unique_email("alice")).await;
    let (bob, _) = app.create_user(&unique_email("bob")).await;
    assert_eq!(app.get(&format!("/users/{alice}"), &alice_token).await.status, 200);
    app.get(&format!("/users/{bob}"), &alice_token).await.assert_error(403, "forbidden");
    assert_eq!(app.get(&format!("/users/{bob}"), &app.admin_token).await.status, 200);
    let missing = app.get("/users/nobody", &app.admin_token).await;
    missing.assert_error(404, "not_found");
    assert_eq!(missing.body["details"]["id"], "nobody");
}

#[actix_web::test]
async fn put_replaces_names_and_ignores_read_only_fields() {
    let app = spawn_app().await;
    let email = unique_email("carol");
    let (carol, token) = app.create_user(&email).await;
    let response = app
        .put(
            &format!("/users/{carol}"),
            &token,
            &json!({ "id": "other", "url": "/x", "email": "stolen@example.org", "first_name": "Carol", "last_name": "Danvers" }),
        )
        .await;
    assert_eq!(response.status, 200, "{}", response.body);
    assert_eq!(response.body["id"], carol);
    assert_eq!(response.body["email"], email);
    assert_eq!(response.body["first_name"], "Carol");
    assert_eq!(response.body["last_name"], "Danvers");

    let bad = app.put(&format!("/users/{carol}"), &token, &json!({ "first_name": 7 })).await;
    bad.assert_error(422, "validation_error");
    assert_eq!(app.get(&format!("/users/{carol}"), &token).await.body["first_name"], "Carol");
}

#[actix_web::test]
async fn patch_is_atomic_and_guards_read_only_fields() {
    let app = spawn_app().await;
    let (dave, token) = app.create_user(&unique_email("dave")).await;
    let path = format!("/users/{dave}");
    let response =
        app.patch(&path, &token, &json!([{ "op": "replace", "path": "/first_name", "value": "David" }])).await;
    assert_eq!(response.status, 200, "{}", response.body);
    assert_eq!(response.body["first_name"], "David");

    let read_only =
        app.patch(&path, &token, &json!([{ "op": "replace", "path": "/email", "value": "x@example.org" }])).await;
    read_only.assert_error(422, "validation_error");
    assert_eq!(read_only.body["details"]["errors"][0]["type"], "readOnly");
    assert_eq!(read_only.body["details"]["errors"][0]["path"], "/email");

    let failing = app
        .patch(
            &path,
            &token,
            &json!([
                { "op": "replace", "path": "/last_name", "value": "Changed" },
                { "op": "test", "path": "/first_name", "value": "Not David" }
            ]),
        )
        .await;
    failing.assert_error(409, "patch_conflict");
    assert_eq!(failing.body["details"]["index"], 1);
    assert_eq!(failing.body["details"]["op"], "test");
    assert_eq!(failing.body["details"]["path"], "/first_name");
    assert_eq!(app.get(&path, &token).await.body["last_name"], "User", "nothing of the failed patch was stored");

    let wrong_type = app.patch(&path, &token, &json!([{ "op": "replace", "path": "/first_name", "value": 1 }])).await;
    wrong_type.assert_error(422, "validation_error");
    let not_a_patch = app.patch(&path, &token, &json!({ "first_name": "x" })).await;
    not_a_patch.assert_error(422, "validation_error");
    let raw = app.send(Method::PATCH, &path, Some(&token), Some("application/json"), Some(b"[{\"op\":".to_vec())).await;
    raw.assert_error(400, "parse_error");
}
