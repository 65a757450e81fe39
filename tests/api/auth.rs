use actix_web::http::Method;
use serde_json::json;

use crate::helpers::{ADMIN_EMAIL, ADMIN_PASSWORD, TestApp, spawn_app, spawn_app_with, unique_email};

#[actix_web::test]
async fn signing_in_returns_a_bearer_token_and_the_user() {
    let app = spawn_app().await;
    let response = app
        .json(Method::POST, "/auth/tokens", None, &json!({ "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD }))
        .await;
    assert_eq!(response.status, 201);
    assert_eq!(response.body["token_type"], "Bearer");
    assert!(response.body["token"].as_str().is_some_and(|t| t.len() >= 22), "at least 128 bits");
    assert!(response.body["expires_at"].as_i64().is_some_and(|ms| ms > dialogue_server::store::now_millis()));
    assert_eq!(response.body["user"]["email"], ADMIN_EMAIL);
    assert_eq!(response.body["user"]["permissions"][0]["type"], "admin");

    let me = app.get("/user", response.body["token"].as_str().unwrap()).await;
    assert_eq!(me.status, 200);
    assert_eq!(me.body["email"], ADMIN_EMAIL);
}

#[actix_web::test]
async fn wrong_email_and_wrong_password_look_the_same() {
    let app = spawn_app().await;
    let wrong_password = app
        .json(Method::POST, "/auth/tokens", None, &json!({ "email": ADMIN_EMAIL, "password": "not it at all" }))
        .await;
    let wrong_email = app
        .json(
            Method::POST,
            "/auth/tokens",
            None,
            &json!({ "email": "nobody@example.org", "password": "not it at all" }),
        )
        .await;
    wrong_password.assert_error(401, "unauthorized");
    wrong_email.assert_error(401, "unauthorized");
    assert_eq!(wrong_password.body, wrong_email.body);
}

#[actix_web::test]
async fn missing_and_bad_tokens_are_401() {
    let app = spawn_app().await;
    let missing = app.send(Method::GET, "/user", None, None, None).await;
    missing.assert_error(401, "unauthorized");
    let bad = app.get("/user", "not-a-real-token").await;
    bad.assert_error(401, "unauthorized");
}

#[actix_web::test]
async fn signing_out_revokes_the_token_at_once() {
    let app = spawn_app().await;
    let (_, token) = app.create_user(&unique_email("leaver")).await;
    assert_eq!(app.get("/user", &token).await.status, 200);
    let response = app.delete("/auth/tokens/current", &token).await;
    assert_eq!(response.status, 204);
    app.get("/user", &token).await.assert_error(401, "unauthorized");
    // Other sessions of the admin are unaffected.
    assert_eq!(app.get("/user", &app.admin_token).await.status, 200);
}

#[actix_web::test]
async fn failed_sign_ins_are_rate_limited_on_every_process() {
    let app = spawn_app_with(|settings| settings.login_attempts_per_minute = 3).await;
    // Successful sign-ins never count.
    for _ in 0..5 {
        app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    }
    async fn guess(app: &TestApp) -> crate::helpers::TestResponse {
        app.json(Method::POST, "/auth/tokens", None, &json!({ "email": ADMIN_EMAIL, "password": "guess guess" })).await
    }
    for _ in 0..2 {
        guess(&app).await.assert_error(401, "unauthorized");
    }
    // A second process on the same database shares the budget: its third failure spends it.
    let other = spawn_app_with(|settings| {
        settings.login_attempts_per_minute = 3;
        settings.database = app.database.clone();
    })
    .await;
    guess(&other).await.assert_error(401, "unauthorized");
    let limited = app
        .json(Method::POST, "/auth/tokens", None, &json!({ "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD }))
        .await;
    limited.assert_error(429, "rate_limited");
    let retry_after = limited.header("retry-after").and_then(|v| v.parse::<u64>().ok()).unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    // Another address (the budget is per e-mail and per client) is refused too: same client.
    let elsewhere = app
        .json(Method::POST, "/auth/tokens", None, &json!({ "email": "someone@example.org", "password": "guess guess" }))
        .await;
    elsewhere.assert_error(429, "rate_limited");
}

#[actix_web::test]
async fn guesses_sent_at_once_cannot_pass_the_budget_together() {
    let app = spawn_app_with(|settings| settings.login_attempts_per_minute = 3).await;
    let guess = json!({ "email": ADMIN_EMAIL, "password": "guess guess" });
    let guesses = (0..30).map(|_| app.json(Method::POST, "/auth/tokens", None, &guess));
    let answers = futures_util::future::join_all(guesses).await;
    let checked = answers.iter().filter(|answer| answer.status == 401).count();
    let limited = answers.iter().filter(|answer| answer.status == 429).count();
    assert_eq!(checked + limited, 30, "every guess is a 401 or a 429");
    assert!(checked <= 3, "{checked} of 30 simultaneous guesses were checked against a budget of 3");
    // Refused guesses do not count, checked ones do: one by one, the minute allows exactly the
    // budget's worth of failures, whatever the burst left of it.
    let mut failures = checked;
    loop {
        let answer = app.json(Method::POST, "/auth/tokens", None, &guess).await;
        if answer.status == 429 {
            break;
        }
        answer.assert_error(401, "unauthorized");
        failures += 1;
        assert!(failures <= 3, "{failures} failures checked in one minute");
    }
    assert_eq!(failures, 3);
}

/// A failed sign-in as `email`, with `X-Forwarded-For: from`.
async fn guess_from(app: &TestApp, email: &str, from: &str) -> crate::helpers::TestResponse {
    let body = json!({ "email": email, "password": "guess guess" }).to_string().into_bytes();
    let headers = [("X-Forwarded-For", from)];
    app.send_with(Method::POST, "/auth/tokens", None, Some("application/json"), Some(body), &headers).await
}

#[actix_web::test]
async fn behind_a_trusted_proxy_each_client_has_its_own_budget() {
    let app = spawn_app_with(|settings| {
        settings.login_attempts_per_minute = 2;
        settings.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    let guess = guess_from;
    // One client spends its budget over several e-mail addresses, however it fills the header's
    // left side (only the hop the proxy appended counts).
    guess(&app, "a@example.org", "203.0.113.7").await.assert_error(401, "unauthorized");
    guess(&app, "b@example.org", "198.51.100.1, 203.0.113.7").await.assert_error(401, "unauthorized");
    guess(&app, "c@example.org", "192.0.2.1, 203.0.113.7").await.assert_error(429, "rate_limited");
    // Another client behind the same proxy still has its own.
    guess(&app, "d@example.org", "203.0.113.8").await.assert_error(401, "unauthorized");
}

#[actix_web::test]
async fn without_trusted_proxies_x_forwarded_for_is_ignored() {
    let app = spawn_app_with(|settings| settings.login_attempts_per_minute = 2).await;
    guess_from(&app, "a@example.org", "203.0.113.1").await.assert_error(401, "unauthorized");
    guess_from(&app, "b@example.org", "203.0.113.2").await.assert_error(401, "unauthorized");
    guess_from(&app, "c@example.org", "203.0.113.3").await.assert_error(429, "rate_limited");
}

#[actix_web::test]
async fn the_bootstrap_admin_is_created_once() {
    let app = spawn_app().await;
    let database = app.database.clone();
    // A second server on the same database must not create a second admin.
    let again = spawn_app_with(|settings| settings.database = database).await;
    let users = again.get("/users/", &again.admin_token).await;
    assert_eq!(users.status, 200);
    let admins = users.body.as_array().unwrap().iter().filter(|u| u["email"] == ADMIN_EMAIL).count();
    assert_eq!(admins, 1);
}
