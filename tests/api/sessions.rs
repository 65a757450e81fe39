use actix_web::http::Method;
use dialogue_client::{LiveClient, tungstenite};
use serde_json::json;

use crate::helpers::{ADMIN_EMAIL, ADMIN_PASSWORD, TestApp, TestResponse, append_block, sample_dialogue, spawn_app};

/// The `dialogue_session` cookie's `name=value` from a response.
fn session_cookie(response: &TestResponse) -> String {
    response
        .headers
        .get_all("set-cookie")
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("dialogue_session="))
        .expect("a session cookie")
        .split(';')
        .next()
        .unwrap()
        .to_owned()
}

/// The administrator signed in with a browser session.
async fn admin_session(app: &TestApp) -> TestResponse {
    app.json(Method::POST, "/auth/sessions", None, &json!({ "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD })).await
}

#[actix_web::test]
async fn a_cookie_session_works_for_rest_and_websocket_with_csrf() {
    let app = spawn_app().await;
    let login = admin_session(&app).await;
    assert_eq!(login.status, 200, "{}", login.body);
    let set_cookie: Vec<&str> = login.headers.get_all("set-cookie").filter_map(|v| v.to_str().ok()).collect();
    let attributes = set_cookie.iter().find(|v| v.starts_with("dialogue_session=")).unwrap().to_ascii_lowercase();
    assert!(attributes.contains("httponly") && attributes.contains("samesite=strict"), "{attributes}");
    assert!(!attributes.contains("secure"), "plain http public URL: no Secure flag");
    let cookie = session_cookie(&login);
    let csrf = login.body["csrf_token"].as_str().unwrap().to_owned();
    assert_eq!(login.body["user"]["email"], ADMIN_EMAIL);

    // Safe requests need only the cookie.
    let me = app.send_with(Method::GET, "/user", None, None, None, &[("Cookie", &cookie)]).await;
    assert_eq!(me.status, 200);

    // Unsafe ones also need the CSRF token.
    let body = Some(json!({ "title": "From the browser" }).to_string().into_bytes());
    let without = app
        .send_with(Method::POST, "/projects/", None, Some("application/json"), body.clone(), &[("Cookie", &cookie)])
        .await;
    without.assert_error(403, "forbidden");
    let wrong = app
        .send_with(
            Method::POST,
            "/projects/",
            None,
            Some("application/json"),
            body.clone(),
            &[("Cookie", &cookie), ("X-CSRF-Token", "guess")],
        )
        .await;
    wrong.assert_error(403, "forbidden");
    let with = app
        .send_with(
            Method::POST,
            "/projects/",
            None,
            Some("application/json"),
            body,
            &[("Cookie", &cookie), ("X-CSRF-Token", &csrf)],
        )
        .await;
    assert_eq!(with.status, 201, "{}", with.body);
    let project = with.body["id"].as_str().unwrap().to_owned();

    // The cookie opens a live session too.
    let dialogue = app.create_dialogue(&app.admin_token, &project, &sample_dialogue("D")).await;
    let dialogue_id = dialogue["id"].as_str().unwrap();
    let url = format!("{}/projects/{project}/dialogues/{dialogue_id}/live", app.address.replace("http", "ws"));
    let mut request = tungstenite::client::IntoClientRequest::into_client_request(url.clone()).unwrap();
    request.headers_mut().insert("Cookie", cookie.parse().unwrap());
    let (mut socket, welcome) = LiveClient::open(request).await.expect("the cookie authenticates the upgrade");
    assert!(welcome.can_edit);
    // A cross-site page cannot use it.
    let mut foreign = tungstenite::client::IntoClientRequest::into_client_request(url).unwrap();
    foreign.headers_mut().insert("Cookie", cookie.parse().unwrap());
    foreign.headers_mut().insert("Origin", "https://evil.example".parse().unwrap());
    assert!(LiveClient::open(foreign).await.is_err(), "cross-site upgrades are refused");

    // Signing out ends the session, closes its socket with 4401 and clears the cookie.
    let patched = app.patch(dialogue["url"].as_str().unwrap(), &app.admin_token, &append_block("x")).await;
    assert_eq!(patched.status, 200);
    let logout = app
        .send_with(
            Method::DELETE,
            "/auth/sessions/current",
            None,
            None,
            None,
            &[("Cookie", &cookie), ("X-CSRF-Token", &csrf)],
        )
        .await;
    assert_eq!(logout.status, 204);
    assert!(logout.headers.get_all("set-cookie").any(|v| v.to_str().unwrap_or_default().contains("Max-Age=0")));
    assert_eq!(socket.closed().await, Some(4401));
    app.send_with(Method::GET, "/user", None, None, None, &[("Cookie", &cookie)])
        .await
        .assert_error(401, "unauthorized");
}

#[actix_web::test]
async fn sessions_and_bearer_tokens_do_not_mix() {
    let app = spawn_app().await;
    let wrong =
        app.json(Method::POST, "/auth/sessions", None, &json!({ "email": ADMIN_EMAIL, "password": "nope nope" })).await;
    wrong.assert_error(401, "unauthorized");
    let login = admin_session(&app).await;
    let cookie_value = session_cookie(&login).trim_start_matches("dialogue_session=").to_owned();
    app.get("/user", &cookie_value).await.assert_error(401, "unauthorized");
    let bearer_as_cookie = format!("dialogue_session={}", app.admin_token);
    app.send_with(Method::GET, "/user", None, None, None, &[("Cookie", &bearer_as_cookie)])
        .await
        .assert_error(401, "unauthorized");
    // A bearer token never needs a CSRF token.
    assert_eq!(app.post("/projects/", &app.admin_token, &json!({ "title": "API" })).await.status, 201);
}

#[actix_web::test]
async fn a_reloaded_page_gets_its_session_and_csrf_token_back_from_the_cookie_alone() {
    let app = spawn_app().await;
    let login = admin_session(&app).await;
    let cookie = session_cookie(&login);
    let again = app.send_with(Method::GET, "/auth/sessions/current", None, None, None, &[("Cookie", &cookie)]).await;
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(again.body["csrf_token"], login.body["csrf_token"]);
    assert_eq!(again.body["user"]["email"], ADMIN_EMAIL);
    assert_eq!(again.body["expires_at"], login.body["expires_at"]);
    assert_eq!(again.header("cache-control"), Some("no-store"));
    // Another session has another token.
    let other = admin_session(&app).await;
    assert_ne!(other.body["csrf_token"], login.body["csrf_token"]);
    // Bearer tokens have no session, and nobody without a credential gets anything.
    app.get("/auth/sessions/current", &app.admin_token).await.assert_error(401, "unauthorized");
    app.send(Method::GET, "/auth/sessions/current", None, None, None).await.assert_error(401, "unauthorized");
}
