//! Hardening: what a client sends can neither crash the server, nor make a dialogue unreadable,
//! nor make a response or the server's memory grow with it. Each test here is a finding of the
//! hardening review, reproduced and refused.

use std::time::Duration;

use actix_web::http::Method;
use dialogue_client::{LiveClient, ServerFrame};
use serde_json::{Value, json};

use crate::helpers::{Api, TestApp, content_of, sample_dialogue, spawn_app, spawn_app_with};
use crate::process::ServerProcess;

/// A project with one small dialogue whose first block is a `set-field` holding an object;
/// returns (project id, dialogue id, dialogue path).
async fn dialogue_with_a_value(app: &Api, token: &str) -> (String, String, String) {
    dialogue_holding(app, token, json!({ "a": "0123456789" })).await
}

/// A project with one dialogue whose first block is a `set-field` holding `value`; returns
/// (project id, dialogue id, dialogue path).
async fn dialogue_holding(app: &Api, token: &str, value: Value) -> (String, String, String) {
    let project = app.create_project(token, "Limits").await;
    let mut body = sample_dialogue("Limits");
    body["sequences"][0]["blocks"][0] =
        json!({ "id": "set", "type": "set-field", "properties": { "field": "f", "value": value } });
    let created = app.create_dialogue(token, &project, &body).await;
    let id = created["id"].as_str().unwrap().to_owned();
    (project, id, created["url"].as_str().unwrap().to_owned())
}

/// `n` operations, each copying the value into a new child of itself: the document doubles
/// with every one.
fn copy_bomb(n: usize) -> Value {
    let value = "/sequences/0/blocks/0/properties/value";
    Value::Array((0..n).map(|k| json!({ "op": "copy", "from": value, "path": format!("{value}/k{k}") })).collect())
}

/// Sends `patch` ten times on one live session of `server`; each is refused with
/// `payload_too_large`, and the socket stays open.
async fn refused_live_ten_times(server: &ServerProcess, api: &Api, project: &str, dialogue_id: &str, patch: &Value) {
    let (mut client, welcome) =
        LiveClient::connect(&server.address(), project, dialogue_id, &api.admin_token, None).await.unwrap();
    for n in 0..10 {
        client.send_patch(&format!("refused{n}"), welcome.revision.number, patch.clone()).await.unwrap();
        let error = loop {
            if let ServerFrame::Error { error, .. } = client.next().await.unwrap() {
                break error;
            }
        };
        assert_eq!(error.kind, "payload_too_large");
    }
}

/// A value nested `levels` arrays deep.
fn nested(levels: usize) -> Value {
    (0..levels).fold(json!("leaf"), |inner, _| json!([inner]))
}

#[actix_web::test]
async fn a_copy_bomb_is_refused_before_it_grows() {
    let app = spawn_app().await;
    let (project, dialogue_id, path) = dialogue_with_a_value(&app, &app.admin_token).await;
    let before = app.get(&path, &app.admin_token).await.body;

    let refused = app.patch(&path, &app.admin_token, &copy_bomb(22)).await;
    refused.assert_error(413, "payload_too_large");
    assert_eq!(refused.body["details"]["limit"], 2 * 1024 * 1024);
    assert!(refused.body["details"]["size"].as_u64().unwrap() > 2 * 1024 * 1024);
    assert_eq!(app.get(&path, &app.admin_token).await.body, before, "nothing of it was stored");

    // The live twin: an error frame, the socket stays open, nothing is applied.
    let (mut client, welcome) =
        LiveClient::connect(&app.address, &project, &dialogue_id, &app.admin_token, None).await.unwrap();
    client.send_patch("bomb", welcome.revision.number, copy_bomb(22)).await.unwrap();
    let error = loop {
        if let ServerFrame::Error { reference, error } = client.next().await.unwrap() {
            assert_eq!(reference.as_deref(), Some("bomb"));
            break error;
        }
    };
    assert_eq!(error.kind, "payload_too_large");
    client.send_ping("still-open").await.unwrap();
    assert!(matches!(client.next().await.unwrap(), ServerFrame::Pong { .. }));
    assert_eq!(app.all_revisions(&app.admin_token, &path).await.len(), 0);
}

#[actix_web::test]
async fn copy_bombs_leave_the_server_process_bounded() {
    // A server process of its own, so its resident memory is its alone.
    let app = spawn_app().await;
    let (project, dialogue_id, path) = dialogue_with_a_value(&app, &app.admin_token).await;
    let server = ServerProcess::start(&app.database);
    let remote = Api::connect(&server.address()).await;
    let bomb = copy_bomb(30);
    for _ in 0..2 {
        remote.patch(&path, &remote.admin_token, &bomb).await.assert_error(413, "payload_too_large");
    }
    let after_two = server.resident_bytes();
    for _ in 0..8 {
        remote.patch(&path, &remote.admin_token, &bomb).await.assert_error(413, "payload_too_large");
    }
    let after_ten = server.resident_bytes();
    // The document may grow to the size limit (2 MiB as JSON, a few hundred MiB at most as a
    // tree of tiny objects) before the bomb is refused, and no further; and refused bombs leave
    // nothing behind, however many there are.
    assert!(after_two < 512 * 1024 * 1024, "resident after two bombs: {after_two} bytes");
    assert!(after_ten <= after_two + after_two / 5 + 16 * 1024 * 1024, "{after_two} then {after_ten} bytes");
    // The live twin, ten times on one session of the same process: refused the same way, and
    // the process grows no further.
    refused_live_ten_times(&server, &remote, &project, &dialogue_id, &bomb).await;
    let after_live = server.resident_bytes();
    assert!(after_live <= after_ten + after_ten / 5 + 16 * 1024 * 1024, "{after_ten} then {after_live} bytes");
}

/// A thousand copies of a 600 KB value onto a key of the same size leave the dialogue's size
/// as it was, but used to take seconds of the actor's thread and gigabytes for undoing (100
/// of them: 2.3 GB, and a 503 after 10 s). A patch may work over twice the size limit of
/// existing content: this one is refused at its fourth operation, over REST and live.
#[actix_web::test]
async fn a_patch_copying_a_large_value_over_and_over_is_refused_with_memory_bounded() {
    let app = spawn_app().await;
    let zeros = Value::Array(vec![json!(0); 300_000]);
    let (project, dialogue_id, path) =
        dialogue_holding(&app, &app.admin_token, json!({ "a": zeros, "b": zeros })).await;
    let value = "/sequences/0/blocks/0/properties/value";
    let copies =
        Value::Array(vec![json!({ "op": "copy", "from": format!("{value}/a"), "path": format!("{value}/b") }); 1000]);
    let server = ServerProcess::start(&app.database);
    let remote = Api::connect(&server.address()).await;
    let refused = remote.patch(&path, &remote.admin_token, &copies).await;
    refused.assert_error(413, "payload_too_large");
    assert_eq!(refused.body["details"], json!({ "limit": 4 * 1024 * 1024, "operation": 3 }), "{}", refused.body);
    remote.patch(&path, &remote.admin_token, &copies).await.assert_error(413, "payload_too_large");
    let after_two = server.resident_bytes();
    for _ in 0..8 {
        remote.patch(&path, &remote.admin_token, &copies).await.assert_error(413, "payload_too_large");
    }
    refused_live_ten_times(&server, &remote, &project, &dialogue_id, &copies).await;
    let after_twenty = server.resident_bytes();
    // Each refusal holds at most four copies of the value (about 40 MiB as a tree in a debug
    // build; the allocator may keep some of it for the next), and leaves nothing behind.
    assert!(after_two < 512 * 1024 * 1024, "resident after two: {after_two} bytes");
    assert!(after_twenty <= after_two + after_two / 5 + 64 * 1024 * 1024, "{after_two} then {after_twenty} bytes");
    assert_eq!(remote.all_revisions(&remote.admin_token, &path).await.len(), 0, "nothing was stored");
}

/// A dialogue's actor keeps its newest revisions for catch-up and rebasing: at most 1,000, and
/// at most 2 MiB of their text. Patches of 200 KB of tiny values take about 7 MiB each once
/// parsed: eighteen more of them used to add over 120 MiB for as long as the dialogue stayed
/// open.
#[actix_web::test]
async fn large_revisions_kept_in_memory_stay_within_a_budget() {
    let app = spawn_app().await;
    let (_, _, path) = dialogue_with_a_value(&app, &app.admin_token).await;
    let server = ServerProcess::start(&app.database);
    let remote = Api::connect(&server.address()).await;
    let value = "/sequences/0/blocks/0/properties/value";
    let mut resident = Vec::new();
    let started = std::time::Instant::now();
    for n in 0..30 {
        let mut zeros = vec![json!(0); 100_000];
        zeros[0] = json!(n);
        let replace = json!([{ "op": "replace", "path": value, "value": zeros }]);
        let answer = remote.patch(&path, &remote.admin_token, &replace).await;
        assert_eq!(answer.status, 200, "{}", answer.body["message"]);
        if n == 11 || n == 29 {
            resident.push(server.resident_bytes());
        }
    }
    // Without the budget: 188 then 319 MiB; with it, 189 then 189 (the allocator may keep a
    // patch's worth for the next).
    let (after_twelve, after_thirty) = (resident[0], resident[1]);
    eprintln!(
        "large revisions: {:?}, resident {} then {} MiB",
        started.elapsed(),
        after_twelve >> 20,
        after_thirty >> 20
    );
    assert!(
        after_thirty <= after_twelve + after_twelve / 5 + 48 * 1024 * 1024,
        "{after_twelve} then {after_thirty} bytes"
    );
    assert_eq!(remote.all_revisions(&remote.admin_token, &path).await.len(), 30, "every one was stored");
}

#[actix_web::test]
async fn values_nested_too_deep_are_refused_and_the_deepest_accepted_loads_again() {
    let app = spawn_app().await;
    let (_, dialogue_id, path) = dialogue_with_a_value(&app, &app.admin_token).await;
    let at = "/sequences/0/blocks/0/properties/value";
    // The value sits 6 levels down: with the default limit of 64 it may nest 58 deep.
    let deep = json!([{ "op": "replace", "path": at, "value": nested(124) }]);
    app.patch(&path, &app.admin_token, &deep).await.assert_error(422, "validation_error");
    let too_deep = json!([{ "op": "replace", "path": at, "value": nested(59) }]);
    let refused = app.patch(&path, &app.admin_token, &too_deep).await;
    refused.assert_error(422, "validation_error");
    assert_eq!(refused.body["details"]["errors"][0]["type"], "maxDepth");

    let deepest = json!([{ "op": "replace", "path": at, "value": nested(58) }]);
    let accepted = app.patch(&path, &app.admin_token, &deepest).await;
    assert_eq!(accepted.status, 200, "{}", accepted.body);
    assert!(app.state.dialogues.evict(&dialogue_id).await, "the actor was idle");
    let reloaded = app.get(&path, &app.admin_token).await;
    assert_eq!(reloaded.status, 200, "{}", reloaded.body);
    assert_eq!(reloaded.body, accepted.body, "what was accepted loads again");

    // Every other entry point refuses the same depth: a PUT, a body of another resource.
    let mut put = accepted.body.clone();
    put["sequences"][0]["blocks"][0]["properties"]["value"] = nested(124);
    app.put(&path, &app.admin_token, &put).await.assert_error(400, "parse_error");
    put["sequences"][0]["blocks"][0]["properties"]["value"] = nested(70);
    app.put(&path, &app.admin_token, &put).await.assert_error(422, "validation_error");
    let project = app.create_project(&app.admin_token, "Contacts").await;
    let contact = json!({ "address": "+1", "state": { "deep": nested(80) } });
    app.post(&format!("/projects/{project}/contacts/"), &app.admin_token, &contact)
        .await
        .assert_error(422, "validation_error");
}

#[actix_web::test]
async fn a_dialogue_cannot_outgrow_its_limit_and_what_was_accepted_loads_again() {
    let app = spawn_app_with(|settings| settings.max_dialogue_bytes = 450 * 1024).await;
    let (_, dialogue_id, path) = dialogue_with_a_value(&app, &app.admin_token).await;
    let chunk = "x".repeat(100 * 1024);
    let mut accepted = 0;
    let last = loop {
        let patch = json!([{ "op": "add", "path": format!("/sequences/0/blocks/0/properties/value/c{accepted}"), "value": chunk }]);
        let response = app.patch(&path, &app.admin_token, &patch).await;
        if response.status != 200 {
            response.assert_error(413, "payload_too_large");
            assert_eq!(response.body["details"]["limit"], 450 * 1024);
            break app.get(&path, &app.admin_token).await.body;
        }
        accepted += 1;
        assert!(accepted < 10, "the limit was never reached");
    };
    assert_eq!(accepted, 4, "four 100 KiB values fit in 450 KiB, a fifth does not");
    assert!(app.state.dialogues.evict(&dialogue_id).await);
    assert_eq!(app.get(&path, &app.admin_token).await.body, last);
    // A PUT over the limit is refused the same way.
    let mut put = last.clone();
    put["sequences"][0]["blocks"][0]["properties"]["value"]["big"] = json!("y".repeat(200 * 1024));
    app.put(&path, &app.admin_token, &put).await.assert_error(413, "payload_too_large");
}

#[actix_web::test]
async fn a_dialogue_whose_stored_state_does_not_read_back_is_a_500_not_a_503() {
    let app = spawn_app().await;
    let (_, dialogue_id, path) = dialogue_with_a_value(&app, &app.admin_token).await;
    for n in 0..2 {
        let patch =
            json!([{ "op": "add", "path": format!("/sequences/0/blocks/0/properties/value/n{n}"), "value": n }]);
        assert_eq!(app.patch(&path, &app.admin_token, &patch).await.status, 200);
    }
    assert!(app.state.dialogues.evict(&dialogue_id).await, "the actor was idle");
    // Damage the newest revision by hand, as only a bug or an operator could.
    let revisions = crate::helpers::raw_collection(&app.database, "revisions").await;
    let damaged = revisions
        .update_one(
            mongodb::bson::doc! { "dialogue_id": &dialogue_id, "number": 2 },
            mongodb::bson::doc! { "$set": { "patch": "not json" } },
        )
        .await
        .unwrap();
    assert_eq!(damaged.modified_count, 1);
    // Retrying would never help: every request says so with a 500, not a 503, each time, and
    // carries the request id that the log line names.
    for _ in 0..2 {
        let response = app.get(&path, &app.admin_token).await;
        response.assert_error(500, "internal_error");
        assert!(response.headers.contains_key("x-request-id"), "{:?}", response.headers);
    }
    let patch = json!([{ "op": "add", "path": "/sequences/0/blocks/0/properties/value/n9", "value": 9 }]);
    app.patch(&path, &app.admin_token, &patch).await.assert_error(500, "internal_error");
}

#[actix_web::test]
async fn error_bodies_stay_small_whatever_the_request_holds() {
    let app = spawn_app().await;
    let project = app.create_project(&app.admin_token, "Big").await;
    // About 4 MiB of `1,`: two million invalid sequences.
    let mut body = String::from(r#"{"title":"t","sequences":["#);
    body.push_str(&"1,".repeat(2_000_000 - 1));
    body.push_str("1]}");
    let response = app
        .send(
            Method::POST,
            &format!("/projects/{project}/dialogues/"),
            Some(&app.admin_token),
            Some("application/json"),
            Some(body.into_bytes()),
        )
        .await;
    response.assert_error(422, "validation_error");
    assert!(response.raw.len() < 64 * 1024, "a {} byte error body", response.raw.len());
    let errors = response.body["details"]["errors"].as_array().unwrap();
    assert!(!errors.is_empty() && errors.len() <= 50);
    assert!(errors.iter().all(|e| e["message"].as_str().unwrap().chars().count() <= 200));

    // A long id in a path comes back cut.
    let long_id = "z".repeat(5000);
    let missing = app.get(&format!("/projects/{long_id}"), &app.admin_token).await;
    missing.assert_error(404, "not_found");
    assert!(missing.raw.len() < 2048, "{}", missing.raw.len());
    // A long value in a message comes back cut too: no message passes 200 characters.
    let long_page = "9".repeat(5000);
    let refused = app.get(&format!("/projects/?page={long_page}"), &app.admin_token).await;
    refused.assert_error(422, "validation_error");
    for response in [&missing, &refused] {
        let message = response.body["message"].as_str().unwrap();
        assert!(message.chars().count() <= 200, "a {} character message", message.chars().count());
    }
}

#[actix_web::test]
async fn endpoints_anyone_may_call_take_small_bodies() {
    let app = spawn_app().await;
    let big = json!({ "email": "x@example.org", "password": "p".repeat(64 * 1024) });
    for path in ["/auth/tokens", "/auth/sessions", "/password-resets/", "/password-confirmations/", "/users/"] {
        let response = app.json(Method::POST, path, None, &big).await;
        response.assert_error(413, "payload_too_large");
        assert_eq!(response.body["details"]["limit"], 16 * 1024, "{path}");
    }
}

#[actix_web::test]
async fn page_numbers_past_the_last_representable_are_422s() {
    let app = spawn_app().await;
    let (project, dialogue_id, path) = dialogue_with_a_value(&app, &app.admin_token).await;
    let lists = [
        "/projects/".to_owned(),
        "/users/".to_owned(),
        "/providers/".to_owned(),
        "/channels/".to_owned(),
        format!("/projects/{project}/dialogues/"),
        format!("{path}/revisions/"),
        format!("{path}/releases/"),
        format!("/projects/{project}/invites/"),
        format!("/projects/{project}/contacts/"),
    ];
    for list in &lists {
        for page in ["307445734561825862", "18446744073709551615"] {
            let response = app.get(&format!("{list}?page={page}"), &app.admin_token).await;
            response.assert_error(422, "validation_error");
            assert_eq!(response.body["details"]["errors"][0]["path"], "/page", "{list}");
        }
        // The last representable page is an ordinary (empty) page.
        let last = app.get(&format!("{list}?page=307445734561825861"), &app.admin_token).await;
        assert_eq!(last.status, 200, "{list}: {}", last.body);
    }
    let _ = dialogue_id;
}

#[actix_web::test]
async fn head_answers_wherever_get_does() {
    let app = spawn_app().await;
    let (_, _, path) = dialogue_with_a_value(&app, &app.admin_token).await;
    for target in ["/healthz".to_owned(), "/projects/".to_owned(), path.clone(), format!("{path}/revisions/")] {
        let get = app.send(Method::GET, &target, Some(&app.admin_token), None, None).await;
        let head = app.send(Method::HEAD, &target, Some(&app.admin_token), None, None).await;
        assert_eq!(head.status, get.status, "{target}");
        assert!(head.raw.is_empty(), "HEAD {target} has no body");
        assert!(get.header("content-type").is_some(), "GET {target} names its type");
        for header in ["etag", "x-total-count", "link", "content-type"] {
            assert_eq!(head.header(header), get.header(header), "{header} of {target}");
        }
        // The length of the body GET sends.
        assert_eq!(head.header("content-length"), Some(get.raw.len().to_string().as_str()), "length of {target}");
    }
    let lists = app.send(Method::HEAD, &format!("{path}/revisions/"), Some(&app.admin_token), None, None).await;
    assert!(lists.header("x-total-count").is_some(), "a list's count comes with HEAD");
    let missing = app.send(Method::HEAD, "/projects/nope", Some(&app.admin_token), None, None).await;
    assert_eq!(missing.status, 404);
}

#[actix_web::test]
async fn live_patches_are_rate_limited_per_session() {
    let app = spawn_app_with(|settings| {
        settings.live_patches_per_second = 1;
        settings.live_patch_burst = 3;
    })
    .await;
    let (project, dialogue_id, path) = dialogue_with_a_value(&app, &app.admin_token).await;
    let (mut client, welcome) =
        LiveClient::connect(&app.address, &project, &dialogue_id, &app.admin_token, None).await.unwrap();
    let retitle = |n: usize| json!([{ "op": "replace", "path": "/title", "value": format!("t{n}") }]);
    for n in 0..5 {
        client.send_patch(&format!("p{n}"), welcome.revision.number + n as i64, retitle(n)).await.unwrap();
    }
    let (mut acked, mut limited) = (Vec::new(), Vec::new());
    while acked.len() + limited.len() < 5 {
        match client.next().await.unwrap() {
            ServerFrame::Ack { reference, .. } => acked.push(reference),
            ServerFrame::Error { reference, error } => {
                assert_eq!(error.kind, "rate_limited", "{error:?}");
                assert!(error.details["retry_after"].as_u64().is_some_and(|s| s >= 1));
                limited.push(reference.unwrap());
            }
            _ => {}
        }
    }
    assert_eq!(acked, ["p0", "p1", "p2"], "the burst passes");
    assert_eq!(limited, ["p3", "p4"], "the rest is refused, nothing applied");
    assert_eq!(app.all_revisions(&app.admin_token, &path).await.len(), 3);
    client.send_ping("open").await.unwrap();
    assert!(matches!(client.next().await.unwrap(), ServerFrame::Pong { .. }));
}

#[actix_web::test]
async fn sessions_past_the_limit_are_refused_with_429() {
    let app = spawn_app_with(|settings| settings.max_sessions_per_dialogue = 2).await;
    let (project, dialogue_id, _) = dialogue_with_a_value(&app, &app.admin_token).await;
    let connect = || LiveClient::connect(&app.address, &project, &dialogue_id, &app.admin_token, None);
    let (first, _) = connect().await.unwrap();
    let (_second, _) = connect().await.unwrap();
    match connect().await {
        Err(dialogue_client::ClientError::Socket(dialogue_client::tungstenite::Error::Http(response))) => {
            assert_eq!(response.status().as_u16(), 429);
            let body: Value = serde_json::from_slice(response.body().as_deref().unwrap_or_default()).unwrap();
            assert_eq!(body["type"], "rate_limited");
        }
        Err(other) => panic!("unexpected error {other}"),
        Ok(_) => panic!("a third session was accepted"),
    }
    // A seat frees when a session leaves: the actor learns it a moment after the close, so the
    // next upgrade is retried until it gets the seat (each try is a full upgrade round trip).
    first.close().await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let opened = loop {
        if let Ok(session) = connect().await {
            break Some(session);
        }
        if std::time::Instant::now() > deadline {
            break None;
        }
    };
    assert!(opened.is_some(), "the freed seat was given to a new session");
}

/// A write drawn at random, with the values that are hard to store: keys BSON refuses, huge and
/// tiny numbers, unicode, nesting.
fn random_write(rng: &mut impl rand::Rng, step: usize) -> Value {
    let keys = ["$where", "a.b", "", "~/", "ключ", "\u{0}", "_id", "k"];
    let values = [
        json!(u64::MAX),
        json!(i64::MIN),
        json!(-0.0),
        json!(1e308),
        json!(5e-324),
        json!("\u{1F600} \" \\ \n"),
        json!(null),
        nested(20),
        json!({ "$set": { "x.y": [1, { "$oid": "5" }] } }),
    ];
    let key = keys[rng.random_range(0..keys.len())];
    let value = values[rng.random_range(0..values.len())].clone();
    let at = "/sequences/0/blocks/0/properties/value";
    match rng.random_range(0..5) {
        0 => {
            json!([{ "op": "add", "path": format!("{at}/{}", key.replace('~', "~0").replace('/', "~1")), "value": value }])
        }
        1 => {
            json!([{ "op": "replace", "path": "/sequences/0/blocks/1/properties/text", "value": format!("text {step} {key}") }])
        }
        2 => {
            json!([{ "op": "add", "path": "/sequences/0/blocks/-", "value": { "id": format!("b{step}"), "type": "set-field", "properties": { "field": key, "value": value } } }])
        }
        3 => json!([{ "op": "remove", "path": format!("{at}/{}", key.replace('~', "~0").replace('/', "~1")) }]),
        _ => json!([{ "op": "copy", "from": at, "path": format!("/sequences/0/blocks/0/properties/value/c{step}") }]),
    }
}

#[actix_web::test]
async fn any_sequence_of_accepted_writes_survives_eviction_and_reload() {
    use rand::SeedableRng;
    let app = spawn_app_with(|settings| settings.max_dialogue_bytes = 64 * 1024).await;
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed);
    let mut total_accepted = 0;
    for case in 0..12 {
        let (_, dialogue_id, path) = dialogue_with_a_value(&app, &app.admin_token).await;
        let mut accepted = 0;
        for step in 0..15 {
            let response = app.patch(&path, &app.admin_token, &random_write(&mut rng, step)).await;
            match response.status {
                200 => accepted += 1,
                409 | 413 | 422 => {}
                other => panic!("case {case} step {step}: unexpected {other}: {}", response.body),
            }
            if step % 5 == 4 {
                let before = app.get(&path, &app.admin_token).await.body;
                assert!(app.state.dialogues.evict(&dialogue_id).await);
                let after = app.get(&path, &app.admin_token).await;
                assert_eq!(after.status, 200, "case {case}: {}", after.body);
                assert_eq!(after.body, before, "case {case} step {step}: the reloaded dialogue differs");
            }
        }
        // The history replays to the same state, and a cold load agrees.
        let head = app.get(&path, &app.admin_token).await.body;
        let revisions = app.all_revisions(&app.admin_token, &path).await;
        assert_eq!(revisions.len(), accepted);
        let created = app.get(&format!("{path}/revisions/"), &app.admin_token).await;
        assert_eq!(created.status, 200);
        let initial = {
            let mut body = sample_dialogue("Limits");
            body["sequences"][0]["blocks"][0] = json!({ "id": "set", "type": "set-field", "properties": { "field": "f", "value": { "a": "0123456789" } } });
            json!({ "title": "Limits", "sequences": body["sequences"], "is_archived": false })
        };
        assert_eq!(crate::helpers::replay(&initial, &revisions), content_of(&head), "case {case}");
        total_accepted += accepted;
    }
    assert!(total_accepted >= 60, "only {total_accepted} of 180 random writes were accepted");
}

#[actix_web::test]
async fn a_body_that_stalls_is_answered_408_and_its_connection_closed() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn_app_with(|settings| settings.body_timeout_secs = 1).await;
    let address = app.address.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    // Anyone may call sign-in: the headers, then a tenth of the body, then nothing.
    let request = format!(
        "POST /auth/tokens HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"email\":\""
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    // The server answers and closes; reading to the end proves both.
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_string(&mut answer))
        .await
        .expect("the server answers a stalled body and closes the connection")
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    let body: Value = serde_json::from_str(answer.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(body["type"], "request_timeout", "{body}");
    assert_eq!(body["details"]["timeout_secs"], 1);
}

/// Opens a session, writes `bytes` straight to its socket (frames a WebSocket library would
/// not send), and returns the code the server closes it with.
async fn closed_after_raw(app: &TestApp, bytes: &[&[u8]]) -> Option<u16> {
    use dialogue_client::tungstenite::Message;
    use futures_util::StreamExt;
    use tokio::io::AsyncWriteExt;
    let (project, dialogue_id, _) = dialogue_with_a_value(app, &app.admin_token).await;
    let (client, _) = crate::live::connect(app, &app.admin_token, &project, &dialogue_id, None).await;
    let mut socket = client.into_inner();
    let dialogue_client::MaybeTlsStream::Plain(tcp) = socket.get_mut() else { panic!("a plain socket") };
    for chunk in bytes {
        if tcp.write_all(chunk).await.is_err() {
            break;
        }
    }
    tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(Ok(message)) = socket.next().await {
            if let Message::Close(frame) = message {
                return frame.map(|frame| u16::from(frame.code));
            }
        }
        None
    })
    .await
    .expect("the server closes the socket")
}

/// A masked client frame header: `first` (FIN and opcode), `length` (a 7-bit length or 126/127),
/// the extended length, and a mask.
fn frame_header(first: u8, length: u8, extended: &[u8]) -> Vec<u8> {
    let mut header = vec![first, 0x80 | length];
    header.extend_from_slice(extended);
    header.extend_from_slice(&[1, 2, 3, 4]);
    header
}

#[actix_web::test]
async fn a_frame_declaring_more_than_the_limit_is_closed_with_1009_before_it_is_buffered() {
    let app = spawn_app().await;
    // A text frame declaring 2^62 bytes, then more bytes than a message may take.
    let header = frame_header(0x81, 127, &(1u64 << 62).to_be_bytes());
    let chunk = vec![b'x'; 64 * 1024];
    let mut bytes: Vec<&[u8]> = vec![&header];
    bytes.extend(std::iter::repeat_n(
        chunk.as_slice(),
        dialogue_server::live::inbound::MAX_UNREAD_BYTES / chunk.len() + 4,
    ));
    assert_eq!(closed_after_raw(&app, &bytes).await, Some(1009));
}

#[actix_web::test]
async fn frames_that_break_the_websocket_protocol_close_with_its_codes() {
    let app = spawn_app().await;
    // Unmasked (clients must mask): 1002.
    assert_eq!(closed_after_raw(&app, &[&[0x81, 0x02, b'h', b'i']]).await, Some(1002));
    // A reserved opcode: 1002.
    assert_eq!(closed_after_raw(&app, &[&frame_header(0x83, 0, &[])]).await, Some(1002));
    // A text frame that is not UTF-8 (0xFF masked with the first mask byte): 1007.
    let mut invalid = frame_header(0x81, 1, &[]);
    invalid.push(0xFF ^ 1);
    assert_eq!(closed_after_raw(&app, &[&invalid]).await, Some(1007));
}

#[actix_web::test]
async fn a_presence_flood_neither_fills_the_others_queues_nor_loses_the_last_selection() {
    // Small queues: sixty-four frames waiting close a session.
    let app = spawn_app_with(|settings| settings.live_queue = 64).await;
    let (project, dialogue_id, _) = dialogue_with_a_value(&app, &app.admin_token).await;
    let (mut editor, _) = crate::live::connect(&app, &app.admin_token, &project, &dialogue_id, None).await;
    let (mut flooder, welcome) = crate::live::connect(&app, &app.admin_token, &project, &dialogue_id, None).await;
    let flooder_id = welcome.session_id.clone();
    for n in 0..20_000 {
        flooder.send_presence(json!(format!("s{n}"))).await.unwrap();
    }
    // The editor, which read nothing meanwhile, is still open and hears the last selection.
    let last = crate::live::until(&mut editor, |frame| match frame {
        ServerFrame::Presence { session_id, selection } if *session_id == flooder_id && selection == "s19999" => {
            Some(selection.clone())
        }
        _ => None,
    })
    .await;
    assert_eq!(last, json!("s19999"));
}
