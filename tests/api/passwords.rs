use actix_web::http::Method;
use serde_json::json;

use crate::helpers::{TestApp, USER_PASSWORD, spawn_app, unique_email};

#[actix_web::test]
async fn changing_the_password_revokes_the_other_tokens() {
    let app = spawn_app().await;
    let email = unique_email("erin");
    let (_, token) = app.create_user(&email).await;
    let other_device = app.login(&email, USER_PASSWORD).await;

    let wrong = app
        .post(
            "/user/password-changes/",
            &token,
            &json!({ "old_password": "not the password", "new_password": "brand new pass" }),
        )
        .await;
    wrong.assert_error(403, "forbidden");

    let weak = app
        .post("/user/password-changes/", &token, &json!({ "old_password": USER_PASSWORD, "new_password": "weak" }))
        .await;
    weak.assert_error(422, "validation_error");

    let changed = app
        .post(
            "/user/password-changes/",
            &token,
            &json!({ "old_password": USER_PASSWORD, "new_password": "brand new pass" }),
        )
        .await;
    assert_eq!(changed.status, 204, "{}", changed.body);
    assert_eq!(app.get("/user", &token).await.status, 200, "the token that made the change keeps working");
    app.get("/user", &other_device).await.assert_error(401, "unauthorized");
    app.login(&email, "brand new pass").await;
    let old = app.json(Method::POST, "/auth/tokens", None, &json!({ "email": email, "password": USER_PASSWORD })).await;
    old.assert_error(401, "unauthorized");
}

fn token_from_link(text: &str, public_url: &str) -> String {
    let prefix = format!("{public_url}/password-confirmations?token=");
    let start = text.find(&prefix).expect("the mail has a confirmation link") + prefix.len();
    text[start..].split_whitespace().next().unwrap().to_owned()
}

#[actix_web::test]
async fn a_password_reset_mails_a_single_use_link_and_revokes_tokens() {
    let app = spawn_app().await;
    let email = unique_email("frank");
    let (_, token) = app.create_user(&email).await;
    let mut mails = app.state.mailer.subscribe();

    let unknown = app.json(Method::POST, "/password-resets/", None, &json!({ "email": "nobody@example.org" })).await;
    let known = app.json(Method::POST, "/password-resets/", None, &json!({ "email": email })).await;
    assert_eq!(unknown.status, 204);
    assert_eq!(known.status, 204);
    assert_eq!(unknown.raw, known.raw, "no user enumeration through the response");

    let mail = TestApp::next_mail(&mut mails).await;
    assert_eq!(mail.to, email, "only the known address gets a mail");
    let public_url = app.state.settings.public_url();
    let reset_token = token_from_link(&mail.text, &public_url);
    let outbox = app.outbox_mails();
    assert_eq!(outbox.len(), 1, "exactly one mail: {outbox:?}");
    assert_eq!(outbox[0]["to"], email);
    assert!(outbox[0]["subject"].is_string() && outbox[0]["text"].as_str().unwrap().contains(&reset_token));

    let weak = app
        .json(Method::POST, "/password-confirmations/", None, &json!({ "token": reset_token, "password": "weak" }))
        .await;
    weak.assert_error(422, "validation_error");

    let confirmed = app
        .json(
            Method::POST,
            "/password-confirmations/",
            None,
            &json!({ "token": reset_token, "password": "after the reset" }),
        )
        .await;
    assert_eq!(confirmed.status, 204, "{}", confirmed.body);
    app.get("/user", &token).await.assert_error(401, "unauthorized");
    app.login(&email, "after the reset").await;

    let reused = app
        .json(
            Method::POST,
            "/password-confirmations/",
            None,
            &json!({ "token": reset_token, "password": "another one!" }),
        )
        .await;
    reused.assert_error(422, "validation_error");
    assert_eq!(reused.body["details"]["errors"][0]["path"], "/token");
}

#[actix_web::test]
async fn reset_requests_are_validated() {
    let app = spawn_app().await;
    let response = app.json(Method::POST, "/password-resets/", None, &json!({ "mail": "x" })).await;
    response.assert_error(422, "validation_error");
    let bogus = app
        .json(Method::POST, "/password-confirmations/", None, &json!({ "token": "made-up", "password": "long enough" }))
        .await;
    bogus.assert_error(422, "validation_error");
}

/// A minimal SMTP server that accepts one message and hands over what it received.
async fn smtp_sink() -> (u16, tokio::sync::oneshot::Receiver<String>) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (sender, receiver) = tokio::sync::oneshot::channel();
    actix_web::rt::spawn(async move {
        let (socket, _) = listener.accept().await.unwrap();
        let (read, mut write) = socket.into_split();
        let mut lines = BufReader::new(read).lines();
        write.write_all(b"220 sink ESMTP\r\n").await.unwrap();
        let mut transcript = String::new();
        let mut in_data = false;
        while let Ok(Some(line)) = lines.next_line().await {
            transcript.push_str(&line);
            transcript.push('\n');
            let reply: &[u8] = if in_data {
                if line == "." {
                    in_data = false;
                    b"250 queued\r\n"
                } else {
                    continue;
                }
            } else if line.starts_with("EHLO") || line.starts_with("HELO") {
                b"250 sink\r\n"
            } else if line == "DATA" {
                in_data = true;
                b"354 go on\r\n"
            } else if line == "QUIT" {
                let _ = write.write_all(b"221 bye\r\n").await;
                break;
            } else {
                b"250 ok\r\n"
            };
            write.write_all(reply).await.unwrap();
        }
        let _ = sender.send(transcript);
    });
    (port, receiver)
}

#[actix_web::test]
async fn reset_mails_go_out_over_smtp_when_configured() {
    let (port, received) = smtp_sink().await;
    let app = crate::helpers::spawn_app_with(|settings| {
        settings.smtp_url = Some(secrecy::SecretString::from(format!("smtp://127.0.0.1:{port}")));
        settings.mail_from = "Dialogue <noreply@example.org>".into();
    })
    .await;
    let email = unique_email("smtp");
    app.create_user(&email).await;
    let mut mails = app.state.mailer.subscribe();
    let response = app.json(Method::POST, "/password-resets/", None, &json!({ "email": email })).await;
    assert_eq!(response.status, 204);
    TestApp::next_mail(&mut mails).await;
    let transcript = tokio::time::timeout(std::time::Duration::from_secs(30), received).await.unwrap().unwrap();
    assert!(transcript.contains(&format!("RCPT TO:<{email}>")), "{transcript}");
    assert!(transcript.contains("MAIL FROM:<noreply@example.org>"), "{transcript}");
    assert!(transcript.contains("/password-confirmations?token="), "the link is in the message: {transcript}");
    assert!(app.outbox_mails().is_empty(), "SMTP wins over the outbox");
}
