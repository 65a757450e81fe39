//! Webhooks: registering them, and deliveries received by a real HTTP receiver started inside
//! the test on loopback (so the apps here allow private addresses, except where the address
//! rule itself is tested).

use std::collections::{HashSet, VecDeque};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use dialogue_server::config::Settings;
use dialogue_server::webhooks::signature;
use futures_util::TryStreamExt;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::helpers::{Api, TestApp, append_block, eventually, sample_dialogue, spawn_app_with};
use crate::process::ServerProcess;

/// A 32-byte key, base64: what `DIALOGUE_SECRET_KEY` holds.
const SECRET_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
/// How long a test waits for a delivery before failing (retries come within seconds).
const PATIENCE: Duration = Duration::from_secs(60);

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    event: String,
    delivery: String,
    signature: String,
    content_type: String,
    raw: Vec<u8>,
    body: Value,
}

/// An HTTP receiver on loopback that answers each request with the next planned status (204
/// once the plan runs out) and hands every request to the test.
struct Receiver {
    url: String,
    received: mpsc::UnboundedReceiver<Received>,
    server: actix_web::dev::ServerHandle,
}

/// What the receiver answers: statuses in order, then 204; every answer with `Location` when set.
#[derive(Clone)]
struct Answers {
    plan: Arc<Mutex<VecDeque<u16>>>,
    location: Option<String>,
}

impl Receiver {
    async fn start(plan: &[u16]) -> Self {
        Self::on(TcpListener::bind("127.0.0.1:0").unwrap(), plan)
    }

    fn on(listener: TcpListener, plan: &[u16]) -> Self {
        let plan = Arc::new(Mutex::new(plan.iter().copied().collect()));
        Self::answering(listener, Answers { plan, location: None })
    }

    /// A receiver that answers every request `307` to `location`.
    fn redirecting(location: &str) -> Self {
        let plan = Arc::new(Mutex::new(VecDeque::from(vec![307; 1000])));
        Self::answering(TcpListener::bind("127.0.0.1:0").unwrap(), Answers { plan, location: Some(location.into()) })
    }

    fn answering(listener: TcpListener, answers: Answers) -> Self {
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let (sender, received) = mpsc::unbounded_channel();
        let server = HttpServer::new(move || {
            let (sender, answers) = (sender.clone(), answers.clone());
            App::new().default_service(web::to(move |request: HttpRequest, raw: web::Bytes| {
                let (sender, answers) = (sender.clone(), answers.clone());
                async move {
                    let header = |name: &str| {
                        request.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
                    };
                    let _ = sender.send(Received {
                        event: header("X-Dialogue-Event"),
                        delivery: header("X-Dialogue-Delivery"),
                        signature: header("X-Dialogue-Signature"),
                        content_type: header("Content-Type"),
                        body: serde_json::from_slice(&raw).unwrap_or(Value::Null),
                        raw: raw.to_vec(),
                    });
                    let status = answers.plan.lock().unwrap().pop_front().unwrap_or(204);
                    let mut response = HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap());
                    if let Some(location) = &answers.location {
                        response.insert_header(("Location", location.as_str()));
                    }
                    response.finish()
                }
            }))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .unwrap()
        .run();
        let handle = server.handle();
        actix_web::rt::spawn(server);
        Self { url, received, server: handle }
    }

    /// The next request, or a failure after [`PATIENCE`].
    async fn next(&mut self) -> Received {
        tokio::time::timeout(PATIENCE, self.received.recv())
            .await
            .expect("a delivery within the patience")
            .expect("the receiver runs")
    }

    /// The next request for `event`, skipping others.
    async fn next_of(&mut self, event: &str) -> Received {
        loop {
            let received = self.next().await;
            if received.event == event {
                return received;
            }
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        // The command is sent at once; the future only waits for the server to finish.
        drop(self.server.stop(false));
    }
}

fn with_webhooks(settings: &mut Settings) {
    settings.secret_key = Some(secrecy::SecretString::from(SECRET_KEY));
    settings.webhook_allow_private = true;
}

/// Two server processes with webhooks on one database.
async fn two_processes() -> (TestApp, TestApp) {
    let first = spawn_app_with(with_webhooks).await;
    let second = spawn_app_with(|settings| {
        with_webhooks(settings);
        settings.database = first.database.clone();
    })
    .await;
    (first, second)
}

/// Registers a hook, asserting success; answers its description (with the secret).
async fn register(app: &TestApp, project: &str, url: &str, events: &[&str]) -> Value {
    let response = app
        .post(&format!("/projects/{project}/webhooks/"), &app.admin_token, &json!({ "url": url, "events": events }))
        .await;
    assert_eq!(response.status, 201, "{}", response.body);
    response.body
}

/// The delivery log at `path` once `settled` holds for it (the log is written after each
/// attempt's answer, which the test can only observe by asking).
async fn log_when(api: &Api, path: &str, settled: impl Fn(&Value) -> bool) -> Value {
    let mut log = Value::Null;
    eventually("the delivery log to settle", async || {
        log = api.get(path, &api.admin_token).await.body;
        settled(&log)
    })
    .await;
    log
}

const ALL_EVENTS: [&str; 3] = ["dialogue.created", "dialogue.changed", "release.created"];

#[actix_web::test]
async fn deliveries_are_signed_and_announce_creations_changes_and_releases() {
    let app = spawn_app_with(with_webhooks).await;
    let mut receiver = Receiver::start(&[]).await;
    let project = app.create_project(&app.admin_token, "Hooked").await;
    let hook = register(&app, &project, &receiver.url, &ALL_EVENTS).await;
    let secret = hook["secret"].as_str().expect("the secret, once").to_owned();

    let dialogue = app.create_dialogue(&app.admin_token, &project, &sample_dialogue("Hello")).await;
    let dialogue_id = dialogue["id"].as_str().unwrap();
    let created = receiver.next_of("dialogue.created").await;
    assert!(signature::verify(secret.as_bytes(), &created.raw, &created.signature), "{}", created.signature);
    assert!(!signature::verify(b"another secret", &created.raw, &created.signature));
    assert_eq!(created.content_type, "application/json");
    assert_eq!(created.body["id"], created.delivery);
    assert_eq!(created.body["event"], "dialogue.created");
    assert_eq!(created.body["project_id"], project);
    assert_eq!(created.body["dialogue_id"], dialogue_id);
    assert!(created.body["created"].as_i64().is_some_and(|at| at > 0));
    assert_eq!(created.body["data"]["id"], dialogue_id);
    assert_eq!(created.body["data"]["title"], "Hello");

    let path = format!("/projects/{project}/dialogues/{dialogue_id}");
    let patched = app.patch(&path, &app.admin_token, &append_block("first")).await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    let changed = receiver.next_of("dialogue.changed").await;
    assert!(signature::verify(secret.as_bytes(), &changed.raw, &changed.signature));
    assert_eq!(changed.body["dialogue_id"], dialogue_id);
    assert_eq!(
        changed.body["data"],
        json!({ "from_revision": 1, "to_revision": 1, "revision_id": patched.body["revision_id"] })
    );

    let release = app
        .post(&format!("{path}/releases/"), &app.admin_token, &json!({ "revision_id": patched.body["revision_id"] }))
        .await;
    assert_eq!(release.status, 201, "{}", release.body);
    let released = receiver.next_of("release.created").await;
    assert!(signature::verify(secret.as_bytes(), &released.raw, &released.signature));
    assert_eq!(released.body["data"]["id"], release.body["id"]);
    assert_eq!(released.body["data"]["revision_id"], patched.body["revision_id"]);

    // The log shows them, newest first, once the last answer is recorded (the receiver has the
    // request before the server has the receiver's answer).
    let log_path = format!("/projects/{project}/webhooks/{}/deliveries/", hook["id"].as_str().unwrap());
    let log = log_when(&app, &log_path, |log| {
        log.as_array().is_some_and(|entries| entries.len() == 3 && entries.iter().all(|e| e["status"] == "delivered"))
    })
    .await;
    let entries = log.as_array().expect("a list");
    assert_eq!(entries.len(), 3, "{log}");
    assert_eq!(entries[0]["id"], released.delivery);
    assert_eq!(entries[2]["id"], created.delivery);
    for entry in entries {
        assert_eq!(entry["status"], "delivered");
        assert_eq!(entry["response_status"], 204);
        assert_eq!(entry["attempts"], 1);
        assert!(entry["delivered"].as_i64().is_some());
    }
}

#[actix_web::test]
async fn quick_patches_are_coalesced_into_a_few_deliveries_that_cover_each_revision_once() {
    let app = spawn_app_with(with_webhooks).await;
    let mut receiver = Receiver::start(&[]).await;
    let project = app.create_project(&app.admin_token, "Busy").await;
    register(&app, &project, &receiver.url, &["dialogue.changed"]).await;
    let dialogue = app.create_dialogue(&app.admin_token, &project, &sample_dialogue("Busy")).await;
    let path = format!("/projects/{project}/dialogues/{}", dialogue["id"].as_str().unwrap());
    for n in 0..20 {
        let patched = app.patch(&path, &app.admin_token, &append_block(&format!("b{n}"))).await;
        assert_eq!(patched.status, 200, "{}", patched.body);
    }
    let mut covered = Vec::new();
    let mut deliveries = 0;
    while covered.last() != Some(&20) {
        let changed = receiver.next_of("dialogue.changed").await;
        deliveries += 1;
        let (from, to) = (
            changed.body["data"]["from_revision"].as_i64().unwrap(),
            changed.body["data"]["to_revision"].as_i64().unwrap(),
        );
        assert_eq!(from, covered.last().copied().unwrap_or(0) + 1, "no revision left out or repeated");
        assert!(to >= from);
        covered.push(to);
    }
    assert!(deliveries <= 5, "20 quick patches gave {deliveries} deliveries: {covered:?}");
}

#[actix_web::test]
async fn a_receiver_that_fails_twice_gets_the_same_delivery_on_the_third_attempt() {
    let app = spawn_app_with(with_webhooks).await;
    let mut receiver = Receiver::start(&[500, 500]).await;
    let project = app.create_project(&app.admin_token, "Flaky").await;
    let hook = register(&app, &project, &receiver.url, &["dialogue.created"]).await;
    app.create_dialogue(&app.admin_token, &project, &sample_dialogue("Retried")).await;
    let first = receiver.next().await;
    let second = receiver.next().await;
    let third = receiver.next().await;
    assert_eq!(first.delivery, second.delivery);
    assert_eq!(second.delivery, third.delivery);
    assert_eq!(first.raw, third.raw, "every attempt sends the same body");
    let log_path = format!("/projects/{project}/webhooks/{}/deliveries/", hook["id"].as_str().unwrap());
    // The log is written once the attempt's answer is in: wait for it.
    let log = log_when(&app, &log_path, |log| log[0]["status"] == "delivered").await;
    let entry = &log[0];
    assert_eq!(entry["attempts"], 3);
    assert_eq!(entry["response_status"], 204);
}

#[actix_web::test]
async fn only_project_admins_manage_webhooks_and_the_secret_is_never_shown_again_or_stored_in_clear() {
    let app = spawn_app_with(with_webhooks).await;
    let project = app.create_project(&app.admin_token, "Guarded").await;
    let other = app.create_project(&app.admin_token, "Other").await;
    let path = format!("/projects/{project}/webhooks/");
    let body = json!({ "url": "http://127.0.0.1:9/hook", "events": ["dialogue.changed"] });
    let (_, writer) = app
        .user_with("writer", json!({ "type": "project:dialogues:write", "properties": { "project_id": project } }))
        .await;
    let (_, admin_of_other) =
        app.user_with("other-admin", json!({ "type": "project:admin", "properties": { "project_id": other } })).await;
    let (_, project_admin) = app
        .user_with("project-admin", json!({ "type": "project:admin", "properties": { "project_id": project } }))
        .await;
    app.post(&path, &writer, &body).await.assert_error(403, "forbidden");
    app.get(&path, &writer).await.assert_error(403, "forbidden");
    // A project the caller has no grant in does not exist for them.
    app.post(&path, &admin_of_other, &body).await.assert_error(404, "not_found");

    let created = app.post(&path, &project_admin, &body).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.body["id"].as_str().unwrap().to_owned();
    let secret = created.body["secret"].as_str().unwrap().to_owned();
    assert!(secret.len() >= 22, "at least 128 bits");
    assert_eq!(created.header("location"), Some(format!("/projects/{project}/webhooks/{id}").as_str()));
    let one = app.get(&format!("{path}{id}"), &project_admin).await;
    assert_eq!(one.status, 200);
    assert_eq!(
        one.body,
        json!({ "id": id, "url": "http://127.0.0.1:9/hook", "events": ["dialogue.changed"], "created": created.body["created"] })
    );
    let listed = app.get(&path, &project_admin).await;
    assert_eq!(listed.body.as_array().unwrap().len(), 1);
    assert!(!String::from_utf8_lossy(&listed.raw).contains(&secret));
    app.get(&format!("{path}{id}"), &writer).await.assert_error(403, "forbidden");
    app.get(&format!("/projects/{other}/webhooks/{id}"), &app.admin_token).await.assert_error(404, "not_found");

    // In the database, the secret is sealed.
    let client = mongodb::Client::with_uri_str(crate::helpers::test_database_uri()).await.unwrap();
    let stored: Vec<mongodb::bson::Document> = client
        .database(&app.database)
        .collection("webhooks")
        .find(mongodb::bson::doc! {})
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(stored.len(), 1);
    assert!(!format!("{stored:?}").contains(&secret), "the secret is stored in clear");

    app.delete(&format!("{path}{id}"), &writer).await.assert_error(403, "forbidden");
    assert_eq!(app.delete(&format!("{path}{id}"), &project_admin).await.status, 204);
    app.get(&format!("{path}{id}"), &project_admin).await.assert_error(404, "not_found");
}

#[actix_web::test]
async fn a_webhook_needs_a_secret_key_and_an_http_url() {
    let app = spawn_app_with(|settings| settings.webhook_allow_private = true).await;
    let project = app.create_project(&app.admin_token, "Keyless").await;
    let path = format!("/projects/{project}/webhooks/");
    let hook = json!({ "url": "http://127.0.0.1:9/hook", "events": ["dialogue.created"] });
    app.post(&path, &app.admin_token, &hook).await.assert_error(422, "validation_error");

    let app = spawn_app_with(with_webhooks).await;
    let project = app.create_project(&app.admin_token, "Bad bodies").await;
    let path = format!("/projects/{project}/webhooks/");
    for body in [
        json!({ "url": "ftp://127.0.0.1/hook", "events": ["dialogue.created"] }),
        json!({ "url": "file:///etc/passwd", "events": ["dialogue.created"] }),
        json!({ "url": "not a url", "events": ["dialogue.created"] }),
        json!({ "url": "http://user:password@127.0.0.1:9/hook", "events": ["dialogue.created"] }),
        json!({ "url": format!("http://127.0.0.1:9/{}", "a".repeat(2100)), "events": ["dialogue.created"] }),
        json!({ "url": "http://127.0.0.1:9/hook", "events": [] }),
        json!({ "url": "http://127.0.0.1:9/hook", "events": ["dialogue.deleted"] }),
        json!({ "url": "http://127.0.0.1:9/hook", "events": ["dialogue.created", "dialogue.created"] }),
        json!({ "url": "http://127.0.0.1:9/hook" }),
        json!({ "url": "http://127.0.0.1:9/hook", "events": ["dialogue.created"], "secret": "mine" }),
    ] {
        app.post(&path, &app.admin_token, &body).await.assert_error(422, "validation_error");
    }
}

#[actix_web::test]
async fn private_addresses_are_refused_without_the_flag() {
    let app = spawn_app_with(|settings| settings.secret_key = Some(secrecy::SecretString::from(SECRET_KEY))).await;
    let project = app.create_project(&app.admin_token, "Careful").await;
    let path = format!("/projects/{project}/webhooks/");
    for url in [
        "http://127.0.0.1/hook",
        "http://localhost:8080/hook",
        "http://[::1]/hook",
        "http://10.1.2.3/hook",
        "http://192.168.0.1/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:127.0.0.1]/hook",
        "https://0.0.0.0/hook",
    ] {
        let refused = app.post(&path, &app.admin_token, &json!({ "url": url, "events": ["dialogue.created"] })).await;
        refused.assert_error(422, "validation_error");
        assert!(refused.body.to_string().contains("/url"), "{url}: {}", refused.body);
    }
    let listed = app.get(&path, &app.admin_token).await;
    assert_eq!(listed.body, json!([]));
}

#[actix_web::test]
async fn two_processes_never_send_the_same_delivery_twice() {
    let (first, second) = two_processes().await;
    let mut receiver = Receiver::start(&[]).await;
    let project = first.create_project(&first.admin_token, "Shared").await;
    let hook = register(&first, &project, &receiver.url, &["dialogue.created"]).await;
    let count = 30;
    for n in 0..count {
        let app = if n % 2 == 0 { &first } else { &second };
        app.create_dialogue(&app.admin_token, &project, &sample_dialogue(&format!("D{n}"))).await;
    }
    let mut seen = HashSet::new();
    while seen.len() < count {
        let received = receiver.next().await;
        assert!(seen.insert(received.delivery.clone()), "delivery {} arrived twice", received.delivery);
    }
    // Every delivery is recorded as delivered at its first attempt: none was sent again.
    let log_path = format!("/projects/{project}/webhooks/{}/deliveries/?per_page=100", hook["id"].as_str().unwrap());
    let log = log_when(&first, &log_path, |log| {
        log.as_array().is_some_and(|entries| entries.iter().all(|entry| entry["status"] == "delivered"))
    })
    .await;
    let entries = log.as_array().unwrap();
    assert_eq!(entries.len(), count);
    assert!(entries.iter().all(|entry| entry["attempts"] == 1), "{log}");
    assert!(receiver.received.try_recv().is_err(), "nothing more arrived");
}

#[actix_web::test]
async fn a_delivery_queued_while_the_receiver_is_down_survives_a_kill_and_arrives_after_a_restart() {
    let (settings, _) = crate::helpers::test_settings();
    let database = settings.database.clone();
    let environment =
        [("DIALOGUE_SECRET_KEY", SECRET_KEY), ("DIALOGUE_WEBHOOK_ALLOW_PRIVATE", "true"), ("DIALOGUE_LOG", "debug")];
    // A port nobody listens on yet: the receiver is down.
    let reserved = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = reserved.local_addr().unwrap().port();
    drop(reserved);
    let url = format!("http://127.0.0.1:{port}/hook");

    let mut server = ServerProcess::start_with(&database, &environment);
    let api = crate::helpers::Api::connect(&server.address()).await;
    let project = api.create_project(&api.admin_token, "Survivor").await;
    let created = api
        .post(
            &format!("/projects/{project}/webhooks/"),
            &api.admin_token,
            &json!({ "url": url, "events": ["dialogue.created"] }),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let secret = created.body["secret"].as_str().unwrap().to_owned();
    let log_path = format!("/projects/{project}/webhooks/{}/deliveries/", created.body["id"].as_str().unwrap());
    api.create_dialogue(&api.admin_token, &project, &sample_dialogue("Kept")).await;
    // Wait until an attempt has failed: the delivery is queued, and the receiver was down. The
    // log counts an attempt when it starts; the server's own log line says when it failed.
    let log = log_when(&api, &log_path, |log| {
        log[0]["attempts"].as_i64().is_some_and(|attempts| attempts >= 1) && log[0]["status"] == "pending"
    })
    .await;
    let queued = log[0]["id"].as_str().unwrap().to_owned();
    eventually("the failed attempt to be logged", async || {
        server.log.lock().unwrap().iter().any(|line| line.contains("webhook delivery failed"))
    })
    .await;
    let log = server.kill_and_read_log();
    assert!(!log.contains(&secret), "the secret appears in a log line");
    drop(server);

    let mut receiver = Receiver::on(TcpListener::bind(("127.0.0.1", port)).unwrap(), &[]);
    let restarted = ServerProcess::start_with(&database, &environment);
    let received = receiver.next().await;
    assert_eq!(received.delivery, queued);
    assert!(signature::verify(secret.as_bytes(), &received.raw, &received.signature));
    let log = restarted.log.lock().unwrap().join("\n");
    assert!(!log.contains(&secret), "the secret appears in a log line");
}

#[actix_web::test]
async fn a_receiver_that_hangs_slows_neither_other_hooks_nor_the_write_path() {
    let app = spawn_app_with(with_webhooks).await;
    // Accepts connections and never answers: every attempt runs into the 10-second timeout.
    let hanging = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hanging_url = format!("http://{}/hook", hanging.local_addr().unwrap());
    let held = Arc::new(Mutex::new(Vec::new()));
    let keep = held.clone();
    actix_web::rt::spawn(async move {
        while let Ok((socket, _)) = hanging.accept().await {
            keep.lock().unwrap().push(socket);
        }
    });
    let mut receiver = Receiver::start(&[]).await;
    let stuck = app.create_project(&app.admin_token, "Stuck").await;
    let healthy = app.create_project(&app.admin_token, "Healthy").await;
    register(&app, &stuck, &hanging_url, &ALL_EVENTS).await;
    // Far more deliveries of the stuck hook than a poll looks at, made before the healthy ones.
    for n in 0..150 {
        let stuck_dialogue = app.create_dialogue(&app.admin_token, &stuck, &sample_dialogue(&format!("S{n}"))).await;
        if n % 10 == 0 {
            let path = format!("/projects/{stuck}/dialogues/{}", stuck_dialogue["id"].as_str().unwrap());
            let patched = app.patch(&path, &app.admin_token, &append_block("b")).await;
            assert_eq!(patched.status, 200, "the write path does not wait for webhooks: {}", patched.body);
        }
    }
    register(&app, &healthy, &receiver.url, &["dialogue.created"]).await;
    let count = 12;
    for n in 0..count {
        app.create_dialogue(&app.admin_token, &healthy, &sample_dialogue(&format!("H{n}"))).await;
    }
    let mut seen = HashSet::new();
    while seen.len() < count {
        seen.insert(receiver.next_of("dialogue.created").await.delivery);
    }
    assert!(!held.lock().unwrap().is_empty(), "the hanging receiver was tried");
}

#[actix_web::test]
async fn after_a_key_rotation_webhook_secrets_are_re_encrypted_and_deliveries_go_on() {
    const NEW_KEY: &str = "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=";
    let old = spawn_app_with(with_webhooks).await;
    let mut receiver = Receiver::start(&[]).await;
    let project = old.create_project(&old.admin_token, "Rotated").await;
    let hook = register(&old, &project, &receiver.url, &["dialogue.created"]).await;
    let secret = hook["secret"].as_str().unwrap().to_owned();
    let webhooks = mongodb::Client::with_uri_str(crate::helpers::test_database_uri())
        .await
        .unwrap()
        .database(&old.database)
        .collection::<mongodb::bson::Document>("webhooks");
    let key_id = |document: mongodb::bson::Document| {
        document.get_document("secret").unwrap().get_str("key_id").unwrap().to_owned()
    };
    let before = key_id(webhooks.find_one(mongodb::bson::doc! {}).await.unwrap().unwrap());

    let rotating = spawn_app_with(|settings| {
        settings.database = old.database.clone();
        settings.webhook_allow_private = true;
        settings.secret_key = Some(secrecy::SecretString::from(NEW_KEY));
        settings.secret_key_previous = Some(secrecy::SecretString::from(SECRET_KEY));
    })
    .await;
    drop(old);
    // Wait for a process to re-encrypt it.
    eventually("the secret re-encrypted", async || {
        key_id(webhooks.find_one(mongodb::bson::doc! {}).await.unwrap().unwrap()) != before
    })
    .await;
    drop(rotating);
    let rotated = spawn_app_with(|settings| {
        settings.database = webhooks.namespace().db;
        settings.webhook_allow_private = true;
        settings.secret_key = Some(secrecy::SecretString::from(NEW_KEY));
    })
    .await;
    rotated.create_dialogue(&rotated.admin_token, &project, &sample_dialogue("After")).await;
    let received = receiver.next_of("dialogue.created").await;
    assert!(signature::verify(secret.as_bytes(), &received.raw, &received.signature), "the same secret, re-encrypted");
}

#[actix_web::test]
async fn a_redirect_is_a_failed_attempt_and_is_never_followed() {
    let app = spawn_app_with(with_webhooks).await;
    let mut target = Receiver::start(&[]).await;
    let mut redirecting = Receiver::redirecting(&target.url);
    let project = app.create_project(&app.admin_token, "Redirected").await;
    register(&app, &project, &redirecting.url, &["dialogue.created"]).await;
    app.create_dialogue(&app.admin_token, &project, &sample_dialogue("Moved")).await;
    let first = redirecting.next().await;
    // A followed redirect would reach the target at once; the retry comes later.
    let second = redirecting.next().await;
    assert_eq!(first.delivery, second.delivery, "the 307 counted as a failure and was retried");
    assert!(target.received.try_recv().is_err(), "the redirect was followed");
}

#[actix_web::test]
async fn changes_stored_by_a_process_that_has_not_yet_heard_of_a_new_hook_are_delivered() {
    let (first, second) = two_processes().await;
    let mut receiver = Receiver::start(&[]).await;
    let project = first.create_project(&first.admin_token, "Late news").await;
    let dialogue = first.create_dialogue(&first.admin_token, &project, &sample_dialogue("Edited elsewhere")).await;
    // The second process has loaded its directory: the project has no hook yet.
    eventually("the second process to know the project is not hooked", async || {
        !second.state.hooks.watches_changes(&project)
    })
    .await;
    register(&first, &project, &receiver.url, &["dialogue.changed"]).await;
    // Within the second before its next reload, the second process still knows of no hook.
    second.state.hooks.replace(std::iter::empty());
    let path = format!("/projects/{project}/dialogues/{}", dialogue["id"].as_str().unwrap());
    let patched = second.patch(&path, &second.admin_token, &append_block("late")).await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    let changed = receiver.next_of("dialogue.changed").await;
    assert_eq!(changed.body["data"]["from_revision"], 1);
    assert_eq!(changed.body["data"]["to_revision"], 1);
}
