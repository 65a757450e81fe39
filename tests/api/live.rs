//! The live-collaboration protocol over real WebSockets against the real database.

use std::time::Duration;

use dialogue_client::{ClientError, LiveClient, Replica, ServerFrame, Welcome, WelcomeExt, content_of, live_request};
use serde_json::{Value, json};

use crate::helpers::{TestApp, append_block, sample_dialogue, spawn_app, spawn_app_with};

/// A project with one dialogue; returns (project id, dialogue id, dialogue path).
pub(crate) async fn dialogue(app: &TestApp) -> (String, String, String) {
    let project = app.create_project(&app.admin_token, "Live").await;
    let created = app.create_dialogue(&app.admin_token, &project, &sample_dialogue("Live")).await;
    let id = created["id"].as_str().unwrap().to_owned();
    let path = created["url"].as_str().unwrap().to_owned();
    (project, id, path)
}

pub(crate) async fn connect(
    app: &TestApp,
    token: &str,
    project: &str,
    dialogue: &str,
    since: Option<i64>,
) -> (LiveClient, Welcome) {
    LiveClient::connect(&app.address, project, dialogue, token, since).await.expect("the session opens")
}

/// Reads frames until `pick` accepts one (skipping others), within the client's timeout.
pub(crate) async fn until<T>(client: &mut LiveClient, mut pick: impl FnMut(&ServerFrame) -> Option<T>) -> T {
    loop {
        let frame = client.next().await.expect("a frame");
        if let Some(found) = pick(&frame) {
            return found;
        }
    }
}

/// Applies frames to a replica until it reaches revision `number`.
async fn catch_up(client: &mut LiveClient, replica: &mut Replica, number: i64) {
    while replica.number < number {
        match client.next().await.expect("a frame") {
            ServerFrame::Revision { revision } | ServerFrame::Ack { revision, .. } => replica.apply(&revision).unwrap(),
            _ => {}
        }
    }
}

#[actix_web::test]
async fn three_editors_converge_on_what_get_returns() {
    let app = spawn_app().await;
    let (project, dialogue_id, path) = dialogue(&app).await;
    let mut editors = Vec::new();
    for _ in 0..3 {
        let (client, welcome) = connect(&app, &app.admin_token, &project, &dialogue_id, None).await;
        let replica = welcome.replica().unwrap();
        editors.push((client, replica));
    }
    // Every editor submits five patches against whatever it has seen, concurrently.
    let rounds = editors.iter_mut().enumerate().map(|(e, (client, replica))| async move {
        let mut acked = 0;
        let mut sent = 0;
        while acked < 5 {
            if sent == acked {
                let patch = if sent % 2 == 0 {
                    append_block(&format!("e{e}-{sent}"))
                } else {
                    json!([{ "op": "replace", "path": "/sequences/1/blocks/0/properties/text", "value": format!("by {e}") }])
                };
                client.send_patch(&format!("{e}-{sent}"), replica.number, patch).await.unwrap();
                sent += 1;
            }
            match client.next().await.unwrap() {
                ServerFrame::Revision { revision } => replica.apply(&revision).unwrap(),
                ServerFrame::Ack { revision, .. } => {
                    replica.apply(&revision).unwrap();
                    acked += 1;
                }
                ServerFrame::Error { error, .. } => {
                    assert_eq!(error.kind, "conflict", "{error:?}");
                    // Catch up to the head named in the refusal, then retry.
                    let head = error.details["head_revision"].as_i64().unwrap();
                    catch_up(client, replica, head).await;
                    sent -= 1;
                }
                _ => {}
            }
        }
    });
    futures_util::future::join_all(rounds).await;
    let head = app.get(&path, &app.admin_token).await.body;
    let newest = app.all_revisions(&app.admin_token, &path).await.len() as i64;
    assert_eq!(newest, 15);
    for (client, replica) in &mut editors {
        catch_up(client, replica, newest).await;
        assert_eq!(replica.content, content_of(&head), "every editor converges to GET");
    }
}

#[actix_web::test]
async fn catching_up_with_since_after_a_disconnect() {
    let app = spawn_app().await;
    let (project, dialogue_id, path) = dialogue(&app).await;
    let (client, welcome) = connect(&app, &app.admin_token, &project, &dialogue_id, None).await;
    let mut replica = welcome.replica().unwrap();
    assert_eq!(welcome.revision.number, 0);
    assert!(welcome.revision.id.is_none());
    client.close().await;

    for n in 0..3 {
        assert_eq!(app.patch(&path, &app.admin_token, &append_block(&format!("offline-{n}"))).await.status, 200);
    }
    let (mut client, welcome) = connect(&app, &app.admin_token, &project, &dialogue_id, Some(replica.number)).await;
    assert!(welcome.dialogue.is_none(), "with since, the welcome leaves the dialogue out");
    // Guarantee 1: the welcome names the revision the session holds, and the numbers rise by
    // one from there; the newest comes as its own field.
    assert_eq!((welcome.revision.number, welcome.revision.id.as_deref()), (0, None));
    assert_eq!(welcome.head_revision, 3);
    catch_up(&mut client, &mut replica, 3).await;
    assert_eq!(replica.content, content_of(&app.get(&path, &app.admin_token).await.body));
    client.close().await;

    // From a revision in the middle: the welcome names it, with its id.
    let listed = app.all_revisions(&app.admin_token, &path).await;
    let second = listed.iter().find(|r| r["number"] == 2).expect("revision 2");
    assert_eq!(app.patch(&path, &app.admin_token, &append_block("offline-3")).await.status, 200);
    let (mut client, welcome) = connect(&app, &app.admin_token, &project, &dialogue_id, Some(2)).await;
    assert!(welcome.dialogue.is_none());
    assert_eq!((welcome.revision.number, welcome.revision.id.as_deref()), (2, second["id"].as_str()));
    assert_eq!(welcome.head_revision, 4);
    let mut numbers = Vec::new();
    for _ in 0..2 {
        if let ServerFrame::Revision { revision } = client.next().await.unwrap() {
            numbers.push(revision["number"].as_i64().unwrap());
        }
    }
    assert_eq!(numbers, [3, 4], "then every revision after it, once each, in order");
    client.close().await;

    // Already at the newest: the welcome names it and nothing follows.
    let (_, welcome) = connect(&app, &app.admin_token, &project, &dialogue_id, Some(4)).await;
    assert!(welcome.dialogue.is_none());
    assert_eq!((welcome.revision.number, welcome.head_revision), (4, 4));

    // A `since` the server cannot serve from memory (here: ahead of it) gets the full state.
    let (_, welcome) = connect(&app, &app.admin_token, &project, &dialogue_id, Some(99)).await;
    assert!(welcome.dialogue.is_some());
}

#[actix_web::test]
async fn a_batching_session_gets_what_was_queued_together_in_one_batch_frame() {
    let app = spawn_app().await;
    let (project, dialogue_id, path) = dialogue(&app).await;
    let (client, welcome) = connect(&app, &app.admin_token, &project, &dialogue_id, None).await;
    let at_zero = welcome.replica().unwrap();
    client.close().await;
    for n in 0..5 {
        assert_eq!(app.patch(&path, &app.admin_token, &append_block(&format!("b{n}"))).await.status, 200);
    }
    let head = content_of(&app.get(&path, &app.admin_token).await.body);

    // The welcome and the five revisions after `since` are queued before the socket opens: a
    // batching session gets them in one frame, in order; the others frame by frame.
    let (mut batching, welcome) =
        LiveClient::open(live_request(&app.address, &project, &dialogue_id, &app.admin_token, Some(0), true).unwrap())
            .await
            .unwrap();
    assert_eq!((welcome.revision.number, welcome.head_revision), (0, 5));
    let mut replica = at_zero.clone();
    catch_up(&mut batching, &mut replica, 5).await;
    assert_eq!(replica.content, head);
    assert_eq!(batching.batches(), 1, "the welcome and its catch-up came as one batch");

    let (mut single, _) = connect(&app, &app.admin_token, &project, &dialogue_id, Some(0)).await;
    let mut other = at_zero;
    catch_up(&mut single, &mut other, 5).await;
    assert_eq!(other.content, head);
    assert_eq!(single.batches(), 0, "without ?batch=true no batch frame is sent");

    // Later revisions reach the batching session in order, batched or not.
    let edit = |id: &str| json!({ "type": "edit", "properties": { "edit_type": "test", "patch": append_block(id) } });
    let bulk = json!([edit("c0"), edit("c1"), edit("c2")]);
    assert_eq!(app.post(&format!("{path}/revisions/"), &app.admin_token, &bulk).await.status, 201);
    catch_up(&mut batching, &mut replica, 8).await;
    assert_eq!(replica.content, content_of(&app.get(&path, &app.admin_token).await.body));

    // `batch` is a flag: anything but true or false is refused before the upgrade.
    let url =
        format!("{}/projects/{project}/dialogues/{dialogue_id}/live?batch=yes", app.address.replace("http", "ws"));
    let mut request = dialogue_client::tungstenite::client::IntoClientRequest::into_client_request(url).unwrap();
    request.headers_mut().insert("Authorization", format!("Bearer {}", app.admin_token).parse().unwrap());
    match LiveClient::open(request).await {
        Err(ClientError::Socket(dialogue_client::tungstenite::Error::Http(response))) => {
            assert_eq!(response.status().as_u16(), 422);
            let body: Value = serde_json::from_slice(response.body().as_deref().unwrap_or_default()).unwrap();
            assert_eq!(body["type"], "validation_error", "{body}");
        }
        Err(other) => panic!("unexpected error {other}"),
        Ok(_) => panic!("the upgrade was accepted"),
    }
}

#[actix_web::test]
async fn a_stale_insert_is_rebased_past_a_concurrent_insert() {
    let app = spawn_app().await;
    let (project, dialogue_id, path) = dialogue(&app).await;
    let (mut alice, welcome) = connect(&app, &app.admin_token, &project, &dialogue_id, None).await;
    let (mut bob, _) = connect(&app, &app.admin_token, &project, &dialogue_id, None).await;
    let base = welcome.revision.number;
    let insert = |id: &str| json!([{ "op": "add", "path": "/sequences/0/blocks/1", "value": { "id": id, "type": "message", "properties": { "text": id } } }]);
    alice.send_patch("a", base, insert("from-alice")).await.unwrap();
    let acked = until(&mut alice, |f| match f {
        ServerFrame::Ack { revision, .. } => Some(revision.clone()),
        _ => None,
    })
    .await;
    assert_eq!(acked["number"], 1);

    bob.send_patch("b", base, insert("from-bob")).await.unwrap();
    let rebased = until(&mut bob, |f| match f {
        ServerFrame::Ack { revision, .. } => Some(revision.clone()),
        ServerFrame::Error { error, .. } => panic!("refused: {error:?}"),
        _ => None,
    })
    .await;
    assert_eq!(rebased["number"], 2);
    assert_eq!(rebased["properties"]["patch"][0]["path"], "/sequences/0/blocks/2", "stored as applied");
    let blocks = app.get(&path, &app.admin_token).await.body["sequences"][0]["blocks"].clone();
    let ids: Vec<&str> = blocks.as_array().unwrap().iter().map(|b| b["id"].as_str().unwrap()).collect();
    assert_eq!(ids, vec!["hello", "from-alice", "from-bob", "rate"]);
}

#[actix_web::test]
async fn a_genuine_conflict_is_refused_then_succeeds_after_catching_up() {
    let app = spawn_app().await;
    let (project, dialogue_id, path) = dialogue(&app).await;
    let (mut alice, welcome) = connect(&app, &app.admin_token, &project, &dialogue_id, None).await;
    let (mut bob, bob_welcome) = connect(&app, &app.admin_token, &project, &dialogue_id, None).await;
    let mut bob_replica = bob_welcome.replica().unwrap();
    let retitle = |title: &str| json!([{ "op": "replace", "path": "/title", "value": title }]);

    alice.send_patch("a", welcome.revision.number, retitle("Alice's")).await.unwrap();
    until(&mut alice, |f| matches!(f, ServerFrame::Ack { .. }).then_some(())).await;

    bob.send_patch("b1", bob_replica.number, retitle("Bob's")).await.unwrap();
    let error = until(&mut bob, |f| match f {
        ServerFrame::Error { reference, error } => Some((reference.clone(), error.clone())),
        ServerFrame::Revision { revision } => {
            assert_eq!(revision["number"], 1);
            None
        }
        _ => None,
    })
    .await;
    assert_eq!(error.0.as_deref(), Some("b1"));
    assert_eq!(error.1.kind, "conflict");
    assert_eq!(error.1.details["head_revision"], 1);
    assert_eq!(app.get(&path, &app.admin_token).await.body["title"], "Alice's", "nothing was overwritten");

    bob_replica.number = 1; // Bob has now seen revision 1 (read above).
    bob.send_patch("b2", bob_replica.number, retitle("Bob's")).await.unwrap();
    let ack = until(&mut bob, |f| match f {
        ServerFrame::Ack { reference, revision } => Some((reference.clone(), revision.clone())),
        ServerFrame::Error { error, .. } => panic!("refused again: {error:?}"),
        _ => None,
    })
    .await;
    assert_eq!(ack.0, "b2");
    assert_eq!(ack.1["number"], 2);
    assert_eq!(app.get(&path, &app.admin_token).await.body["title"], "Bob's");
}

#[actix_web::test]
async fn refusals_keep_the_connection_open() {
    let app = spawn_app().await;
    let (project, dialogue_id, path) = dialogue(&app).await;
    let (mut client, welcome) = connect(&app, &app.admin_token, &project, &dialogue_id, None).await;
    let base = welcome.revision.number;
    let mut expect_error = async |text: String, kind: &str| {
        client.send_text(text).await.unwrap();
        let error = until(&mut client, |f| match f {
            ServerFrame::Error { error, .. } => Some(error.clone()),
            _ => None,
        })
        .await;
        assert_eq!(error.kind, kind, "{error:?}");
        error.message
    };
    expect_error("not json".into(), "invalid_message").await;
    expect_error(json!({ "type": "dance" }).to_string(), "invalid_message").await;
    expect_error(
        json!({ "type": "patch", "ref": "x", "base_revision": 7, "patch": [] }).to_string(),
        "invalid_message",
    )
    .await;
    let missing = json!([{ "op": "remove", "path": "/sequences/9" }]);
    expect_error(
        json!({ "type": "patch", "ref": "x", "base_revision": base, "patch": missing }).to_string(),
        "patch_conflict",
    )
    .await;
    // A refused value is named, with where it is, as a REST 422 names it.
    let invalid = json!([{ "op": "replace", "path": "/title", "value": 5 }]);
    let message = expect_error(
        json!({ "type": "patch", "ref": "x", "base_revision": base, "patch": invalid }).to_string(),
        "validation_error",
    )
    .await;
    assert!(message.starts_with("Invalid value at /title: "), "{message}");
    let read_only = json!([{ "op": "replace", "path": "/id", "value": "x" }]);
    let message = expect_error(
        json!({ "type": "patch", "ref": "x", "base_revision": base, "patch": read_only }).to_string(),
        "validation_error",
    )
    .await;
    assert!(message.starts_with("Invalid value at /id"), "{message}");

    client.send_ping("p1").await.unwrap();
    let pong = until(&mut client, |f| match f {
        ServerFrame::Pong { reference } => Some(reference.clone()),
        _ => None,
    })
    .await;
    assert_eq!(pong, "p1");
    assert_eq!(app.all_revisions(&app.admin_token, &path).await.len(), 0);
}

#[actix_web::test]
async fn a_read_only_session_watches_but_cannot_submit() {
    let app = spawn_app().await;
    let (project, dialogue_id, path) = dialogue(&app).await;
    let grant = json!({ "type": "dialogue:read", "properties": { "project_id": project, "dialogue_id": dialogue_id } });
    let (_, reader) = app.user_with("reader", grant).await;
    let (mut client, welcome) = connect(&app, &reader, &project, &dialogue_id, None).await;
    assert!(!welcome.can_edit);
    assert_eq!(welcome.dialogue.as_ref().unwrap()["can_edit"], false);
    client.send_patch("r", 0, append_block("nope")).await.unwrap();
    let error = until(&mut client, |f| match f {
        ServerFrame::Error { reference, error } => Some((reference.clone(), error.clone())),
        _ => None,
    })
    .await;
    assert_eq!(error.0.as_deref(), Some("r"));
    assert_eq!(error.1.kind, "forbidden");

    // It still receives everyone else's changes, including REST writes.
    assert_eq!(app.patch(&path, &app.admin_token, &append_block("rest")).await.status, 200);
    let revision = until(&mut client, |f| match f {
        ServerFrame::Revision { revision } => Some(revision.clone()),
        _ => None,
    })
    .await;
    assert_eq!(revision["number"], 1);
}

#[actix_web::test]
async fn upgrades_are_refused_with_json_errors() {
    let app = spawn_app().await;
    let (project, dialogue_id, _) = dialogue(&app).await;
    let (_, stranger) = app.user_with("stranger", Value::Null).await;
    for (token, status) in [("bad-token", 401), (stranger.as_str(), 404)] {
        match LiveClient::connect(&app.address, &project, &dialogue_id, token, None).await {
            Err(ClientError::Socket(dialogue_client::tungstenite::Error::Http(response))) => {
                assert_eq!(response.status().as_u16(), status);
                let body: Value = serde_json::from_slice(response.body().as_deref().unwrap_or_default()).unwrap();
                assert!(body["type"].is_string(), "{body}");
            }
            Err(other) => panic!("unexpected error {other}"),
            Ok(_) => panic!("the upgrade was accepted"),
        }
    }
    let missing = LiveClient::connect(&app.address, &project, "no-such-dialogue", &app.admin_token, None).await;
    assert!(
        matches!(missing, Err(ClientError::Socket(dialogue_client::tungstenite::Error::Http(r))) if r.status() == 404)
    );
    // The access token may also travel in the query string.
    let url = format!(
        "{}/projects/{project}/dialogues/{dialogue_id}/live?access_token={}",
        app.address.replace("http", "ws"),
        app.admin_token
    );
    let request = dialogue_client::tungstenite::client::IntoClientRequest::into_client_request(url).unwrap();
    let (_, welcome) = LiveClient::open(request).await.expect("query-string tokens work for upgrades");
    assert!(welcome.can_edit);
}

#[actix_web::test]
async fn presence_joined_and_left_are_delivered() {
    let app = spawn_app().await;
    let (project, dialogue_id, _) = dialogue(&app).await;
    let (mut alice, alice_welcome) = connect(&app, &app.admin_token, &project, &dialogue_id, None).await;
    let (mut bob, bob_welcome) = connect(&app, &app.admin_token, &project, &dialogue_id, None).await;
    assert_eq!(bob_welcome.peers.len(), 1);
    assert_eq!(bob_welcome.peers[0].session_id, alice_welcome.session_id);
    let joined = until(&mut alice, |f| match f {
        ServerFrame::Joined { session_id, user } => Some((session_id.clone(), user.clone())),
        _ => None,
    })
    .await;
    assert_eq!(joined.0, bob_welcome.session_id);
    // Other sessions learn the user's id and names; the frame's `User` has no e-mail field.
    assert!(!joined.1.id.is_empty());

    let selection = json!({ "sequence_id": "start", "block_id": "rate" });
    bob.send_presence(selection.clone()).await.unwrap();
    let presence = until(&mut alice, |f| match f {
        ServerFrame::Presence { session_id, selection } => Some((session_id.clone(), selection.clone())),
        _ => None,
    })
    .await;
    assert_eq!(presence, (bob_welcome.session_id.clone(), selection.clone()));
    let (_carol_client, carol) = connect(&app, &app.admin_token, &project, &dialogue_id, None).await;
    let bobs = carol.peers.iter().find(|p| p.session_id == bob_welcome.session_id).unwrap();
    assert_eq!(bobs.selection, selection, "peers carry their selection");

    bob.close().await;
    let left = until(&mut alice, |f| match f {
        ServerFrame::Left { session_id } => Some(session_id.clone()),
        _ => None,
    })
    .await;
    assert_eq!(left, bob_welcome.session_id);
}

#[actix_web::test]
async fn rest_writes_and_releases_reach_the_socket() {
    let app = spawn_app().await;
    let (project, dialogue_id, path) = dialogue(&app).await;
    let (mut client, welcome) = connect(&app, &app.admin_token, &project, &dialogue_id, None).await;
    let mut replica = welcome.replica().unwrap();
    let patched = app.patch(&path, &app.admin_token, &append_block("via-rest")).await;
    catch_up(&mut client, &mut replica, 1).await;
    assert_eq!(replica.content, content_of(&patched.body));

    let release = app
        .post(&format!("{path}/releases/"), &app.admin_token, &json!({ "revision_id": patched.body["revision_id"] }))
        .await;
    let announced = until(&mut client, |f| match f {
        ServerFrame::Release { release } => Some(release.clone()),
        _ => None,
    })
    .await;
    assert_eq!(announced, release.body);
}

#[actix_web::test]
async fn revoked_tokens_and_access_close_the_socket() {
    let app = spawn_app().await;
    let (project, dialogue_id, _) = dialogue(&app).await;
    let (user, token) = app
        .user_with("member", json!({ "type": "project:dialogues:write", "properties": { "project_id": project } }))
        .await;

    let (mut client, _) = connect(&app, &token, &project, &dialogue_id, None).await;
    assert_eq!(app.delete("/auth/tokens/current", &token).await.status, 204);
    assert_eq!(client.closed().await, Some(4401));

    let email = app.get(&format!("/users/{user}"), &app.admin_token).await.body["email"].as_str().unwrap().to_owned();
    let token = app.login(&email, crate::helpers::USER_PASSWORD).await;
    let (mut client, _) = connect(&app, &token, &project, &dialogue_id, None).await;
    let grants = app.get(&format!("/users/{user}/permissions/"), &app.admin_token).await;
    let grant_id = grants.body[0]["id"].as_str().unwrap();
    assert_eq!(app.delete(&format!("/users/{user}/permissions/{grant_id}"), &app.admin_token).await.status, 200);
    assert_eq!(client.closed().await, Some(4403));
}

#[actix_web::test]
async fn deleting_the_project_closes_the_socket_with_4404() {
    let app = spawn_app().await;
    let (project, dialogue_id, _) = dialogue(&app).await;
    let (mut client, _) = connect(&app, &app.admin_token, &project, &dialogue_id, None).await;
    assert_eq!(app.delete(&format!("/projects/{project}"), &app.admin_token).await.status, 204);
    assert_eq!(client.closed().await, Some(4404));
}

#[actix_web::test]
async fn binary_and_oversized_frames_close_the_socket() {
    let app = spawn_app().await;
    let (project, dialogue_id, _) = dialogue(&app).await;
    let (mut client, _) = connect(&app, &app.admin_token, &project, &dialogue_id, None).await;
    client.send_binary(vec![1, 2, 3]).await.unwrap();
    assert_eq!(client.closed().await, Some(1003));

    let (mut client, _) = connect(&app, &app.admin_token, &project, &dialogue_id, None).await;
    let huge = json!({ "type": "presence", "selection": "x".repeat(1024 * 1024 + 10) }).to_string();
    let _ = client.send_text(huge).await;
    assert_eq!(client.closed().await, Some(1009));
}

#[actix_web::test]
async fn a_slow_reader_is_closed_while_the_others_keep_receiving() {
    slow_reader_is_closed(false).await;
}

#[actix_web::test]
async fn a_slow_batching_reader_is_closed_while_the_others_keep_receiving() {
    slow_reader_is_closed(true).await;
}

/// A session that never reads (asking for batches or not) is closed with 4008 once its queue
/// fills, and the others keep receiving.
async fn slow_reader_is_closed(batch: bool) {
    let app = spawn_app_with(|settings| settings.live_queue = 16).await;
    let (project, dialogue_id, path) = dialogue(&app).await;
    let request = live_request(&app.address, &project, &dialogue_id, &app.admin_token, None, batch).unwrap();
    let (mut slow, slow_welcome) = LiveClient::open(request).await.expect("the session opens");
    let (mut fast, _) = connect(&app, &app.admin_token, &project, &dialogue_id, None).await;
    let (mut talker, _) = connect(&app, &app.admin_token, &project, &dialogue_id, None).await;

    // The slow session never reads. The talker sends presence (4 KiB each), paced by the fast
    // session reading each one, until the fast session hears that the slow one left. The slow
    // one pings now and then, as a live client does: on a busy machine the flood can outlast
    // the server's 30 s heartbeat, which closes silent sessions (1011), not slow ones.
    let big = json!({ "note": "y".repeat(4000) });
    let mut kicked = false;
    for sent in 0..20_000 {
        if sent % 100 == 0 {
            slow.send_ping(&format!("alive-{sent}")).await.unwrap();
        }
        talker.send_presence(big.clone()).await.unwrap();
        let heard = until(&mut fast, |f| match f {
            ServerFrame::Presence { .. } => Some(false),
            ServerFrame::Left { session_id } if *session_id == slow_welcome.session_id => Some(true),
            _ => None,
        })
        .await;
        if heard {
            kicked = true;
            break;
        }
    }
    assert!(kicked, "20,000 presence frames did not overflow the slow session");
    // The fast session keeps receiving.
    assert_eq!(app.patch(&path, &app.admin_token, &append_block("after")).await.status, 200);
    until(&mut fast, |f| matches!(f, ServerFrame::Revision { .. }).then_some(())).await;
    // The slow one, once it reads again, finds itself closed with 4008.
    slow.set_timeout(Duration::from_secs(60));
    assert_eq!(slow.closed().await, Some(4008));
}

#[actix_web::test]
async fn editors_on_two_servers_see_each_other_in_order() {
    let first = spawn_app().await;
    let (project, dialogue_id, path) = dialogue(&first).await;
    let second = spawn_app_with(|settings| settings.database = first.database.clone()).await;
    let (mut on_first, welcome) = connect(&first, &first.admin_token, &project, &dialogue_id, None).await;
    let (mut on_second, _) = connect(&second, &second.admin_token, &project, &dialogue_id, None).await;
    let mut first_replica = welcome.replica().unwrap();
    let mut second_replica = first_replica.clone();

    for n in 0..5 {
        let (writer, token) = if n % 2 == 0 { (&first, &first.admin_token) } else { (&second, &second.admin_token) };
        let response = writer.patch(&path, token, &append_block(&format!("n{n}"))).await;
        assert_eq!(response.status, 200, "{}", response.body);
    }
    // Then both at once, so that each server's writes race the other's revisions arriving from
    // the change feed (and reloads after lost races): the sessions must still see every number
    // once, in order (the replicas refuse a duplicate or a gap).
    async fn burst(name: &str, server: &crate::helpers::TestApp, path: &str) {
        for n in 0..20 {
            let response = server.patch(path, &server.admin_token, &append_block(&format!("{name}{n}"))).await;
            assert_eq!(response.status, 200, "{}", response.body);
        }
    }
    futures_util::future::join(burst("f", &first, &path), burst("s", &second, &path)).await;
    catch_up(&mut on_first, &mut first_replica, 45).await;
    catch_up(&mut on_second, &mut second_replica, 45).await;
    // One more write: a late second copy of any number up to 45 would reach the replicas (which
    // refuse it) before 46 does, since a session's frames leave in order.
    let response = first.patch(&path, &first.admin_token, &append_block("last")).await;
    assert_eq!(response.status, 200, "{}", response.body);
    catch_up(&mut on_first, &mut first_replica, 46).await;
    catch_up(&mut on_second, &mut second_replica, 46).await;
    let head = content_of(&first.get(&path, &first.admin_token).await.body);
    assert_eq!(first_replica.content, head);
    assert_eq!(second_replica.content, head);
    assert_eq!(content_of(&second.get(&path, &second.admin_token).await.body), head, "reads on either server agree");
}

#[actix_web::test]
async fn shutdown_closes_sessions_with_1001() {
    let app = spawn_app().await;
    let (project, dialogue_id, _) = dialogue(&app).await;
    let mut server = crate::process::ServerProcess::start(&app.database);
    let (mut client, _) = LiveClient::connect(&server.address(), &project, &dialogue_id, &app.admin_token, None)
        .await
        .expect("the session opens on the server process");
    server.signal("TERM");
    assert_eq!(client.closed().await, Some(1001));
    let status = server.child.wait().expect("the server exits");
    assert_eq!(status.code(), Some(0));
}

/// One editor: edits its own block `count` times, each patch based on the newest revision it
/// has seen, sending the next once the last is answered (a second in flight on the same block
/// would collide with the first, by the contract); returns the refusals' messages.
async fn block_editor(mut client: LiveClient, mut newest: i64, block: usize, count: usize) -> Vec<String> {
    const WINDOW: usize = 1;
    let (mut sent, mut acked, mut refused) = (0, 0, Vec::new());
    while acked + refused.len() < count {
        while sent < count && sent - acked - refused.len() < WINDOW {
            let patch = json!([{ "op": "replace", "path": format!("/sequences/0/blocks/{block}/properties/text"), "value": format!("e{block}-{sent}") }]);
            client.send_patch(&format!("r{sent}"), newest, patch).await.expect("sent");
            sent += 1;
        }
        match client.next().await.expect("a frame") {
            ServerFrame::Ack { revision, .. } => {
                acked += 1;
                newest = newest.max(revision["number"].as_i64().unwrap());
            }
            ServerFrame::Revision { revision } => newest = newest.max(revision["number"].as_i64().unwrap()),
            ServerFrame::Error { error, .. } => refused.push(format!("{}: {}", error.kind, error.message)),
            _ => {}
        }
    }
    refused
}

/// How the servers of [`disjoint_edits`] are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// One server.
    One,
    /// Two servers that talk through the database only.
    Split,
    /// Two servers with peer links.
    SplitLinked,
    /// Two servers whose peer links lead nowhere (each advertises a closed port).
    SplitBrokenLinks,
    /// Two servers with peer links, the second advertising a closed port: the first's pushes
    /// to it fail (and are read from the store), its links to the first work.
    SplitOneWayLinks,
}

/// A loopback URL nothing listens at.
fn closed_port_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    format!("http://{}", listener.local_addr().unwrap())
}

/// The secret key of processes with peer links.
pub const PEER_SECRET: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// Settings of a process with a peer listener on a free loopback port.
pub fn linked(settings: &mut dialogue_server::config::Settings) {
    settings.peer_bind = Some("127.0.0.1:0".to_owned());
    settings.secret_key = Some(secrecy::SecretString::from(PEER_SECRET));
}

/// Waits until each of two linked processes can reach the other (each learns the other's peer
/// URL from its heartbeat: at start-up, or through the change feed).
pub async fn until_linked(first: &TestApp, second: &TestApp) {
    let (a, b) = (first.state.store.process_id(), second.state.store.process_id());
    tokio::time::timeout(Duration::from_secs(20), async {
        while !(first.state.peers.reachable(b) && second.state.peers.reachable(a)) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the processes learn each other's peer URL");
}

/// What [`disjoint_edits`] saw.
struct DisjointEdits {
    refused: Vec<String>,
    /// Revisions stored by the edits.
    stored: usize,
    /// Handoffs taken over peer links, and revisions pushed over them, by both servers.
    handoffs_linked: u64,
    revisions_pushed: u64,
    /// Handoffs that went through the database because their link failed.
    handoffs_through_database: u64,
    /// Pushes that failed, made up for through the database.
    pushes_lost: u64,
    /// Stored revisions that name a process they were pushed to (whose feed left them out).
    named_pushed: u64,
}

/// Four live editors on their own blocks and a REST writer appending elsewhere, on one
/// dialogue; on one server, or split over two.
async fn disjoint_edits(layout: Layout) -> DisjointEdits {
    let adjust = |settings: &mut dialogue_server::config::Settings| match layout {
        Layout::SplitLinked | Layout::SplitOneWayLinks => linked(settings),
        Layout::SplitBrokenLinks => {
            linked(settings);
            settings.peer_url = Some(closed_port_url());
        }
        Layout::One | Layout::Split => {}
    };
    let first = spawn_app_with(adjust).await;
    let (project, dialogue_id, path) = dialogue(&first).await;
    // Message blocks at 0, 2, 3 and 4 (1 is a choice).
    for n in 0..3 {
        assert_eq!(first.patch(&path, &first.admin_token, &append_block(&format!("extra{n}"))).await.status, 200);
    }
    let second = spawn_app_with(|settings| {
        adjust(settings);
        if layout == Layout::SplitOneWayLinks {
            settings.peer_url = Some(closed_port_url());
        }
        settings.database = first.database.clone();
    })
    .await;
    if matches!(layout, Layout::SplitLinked | Layout::SplitBrokenLinks | Layout::SplitOneWayLinks) {
        until_linked(&first, &second).await;
    }
    let server = |editor: usize| if layout != Layout::One && editor % 2 == 1 { &second } else { &first };
    let mut editors = Vec::new();
    for (editor, block) in [0, 2, 3, 4].into_iter().enumerate() {
        let app = server(editor);
        let (client, welcome) = connect(app, &app.admin_token, &project, &dialogue_id, None).await;
        editors.push(block_editor(client, welcome.revision.number, block, 60));
    }
    let rest = async {
        let app = server(1);
        let mut refused = Vec::new();
        for n in 0..20 {
            let block = json!([{ "op": "add", "path": "/sequences/1/blocks/-", "value": { "id": format!("r{n}"), "type": "end" } }]);
            let response = app.patch(&path, &app.admin_token, &block).await;
            if response.status != 200 {
                refused.push(format!("REST {}: {}", response.status, response.body));
            }
        }
        refused
    };
    let (live, rest) = futures_util::future::join(futures_util::future::join_all(editors), rest).await;
    let refused: Vec<String> = live.into_iter().flatten().chain(rest).collect();
    let stored = first.all_revisions(&first.admin_token, &path).await.len() - 3;
    let count = |counter: fn(&dialogue_server::peers::PeerCounters) -> &std::sync::atomic::AtomicU64| {
        [&first, &second]
            .iter()
            .map(|app| dialogue_server::peers::PeerCounters::get(counter(app.state.peers.counters())))
            .sum::<u64>()
    };
    DisjointEdits {
        refused,
        stored,
        handoffs_linked: count(|counters| &counters.handoffs_sent),
        revisions_pushed: count(|counters| &counters.revisions_pushed),
        handoffs_through_database: count(|counters| &counters.handoffs_through_database),
        pushes_lost: count(|counters| &counters.pushes_lost),
        named_pushed: named_pushed(&first.database).await,
    }
}

/// How many stored revisions name a process they were pushed to.
async fn named_pushed(database: &str) -> u64 {
    let revisions = crate::helpers::raw_collection(database, "revisions").await;
    revisions.count_documents(mongodb::bson::doc! { "pushed_to.0": { "$exists": true } }).await.unwrap()
}

#[actix_web::test]
async fn disjoint_edits_split_over_two_servers_are_all_accepted_as_on_one() {
    for layout in [Layout::One, Layout::Split, Layout::SplitLinked, Layout::SplitBrokenLinks, Layout::SplitOneWayLinks]
    {
        let edits = disjoint_edits(layout).await;
        let refused = &edits.refused;
        assert!(refused.is_empty(), "{layout:?}: {} refused: {:?}", refused.len(), &refused[..refused.len().min(5)]);
        assert_eq!(edits.stored, 4 * 60 + 20, "{layout:?}: every write made one revision");
        match layout {
            Layout::SplitLinked => {
                assert!(edits.handoffs_linked > 0, "writes were handed over peer links");
                assert!(edits.revisions_pushed > 0, "the owner pushed its revisions over peer links");
                assert!(edits.named_pushed > 0, "the stored revisions name the follower, whose feed leaves them out");
            }
            Layout::SplitBrokenLinks => {
                assert_eq!(edits.handoffs_linked, 0, "no link works");
                assert!(edits.handoffs_through_database > 0, "the handoffs went through the database instead");
            }
            // Whichever process won, something took the fallback: the first's pushes to the
            // second, or the first's handoffs to the second.
            Layout::SplitOneWayLinks => {
                assert!(edits.pushes_lost + edits.handoffs_through_database > 0, "a link failed and was made up for");
                // Writes handed over the working link went to the first process, whose first
                // push to the second names it and fails.
                assert!(
                    edits.handoffs_linked == 0 || edits.pushes_lost > 0,
                    "the owner's pushes to a process it cannot reach were lost and made up for"
                );
            }
            Layout::One | Layout::Split => {
                assert_eq!((edits.handoffs_linked, edits.revisions_pushed), (0, 0), "{layout:?}: no links");
                assert_eq!(edits.named_pushed, 0, "{layout:?}: nothing pushed, nothing named");
            }
        }
    }
}

#[actix_web::test]
async fn a_change_sent_again_after_a_reconnect_is_not_stored_twice() {
    use dialogue_client::ClientFrame;
    let app = spawn_app().await;
    let (project, dialogue_id, path) = dialogue(&app).await;
    let (mut first, _) = connect(&app, &app.admin_token, &project, &dialogue_id, None).await;
    let with_ref = |reference: &str, client_ref: &str, base: i64| ClientFrame::Patch {
        reference: reference.to_owned(),
        base_revision: base,
        // An append: it would apply twice without complaint.
        patch: append_block(&format!("block-{client_ref}")),
        edit_type: None,
        details: Some(json!({ "client_ref": client_ref })),
    };
    first.send(&with_ref("a", "change-1", 0)).await.unwrap();
    until(&mut first, |frame| matches!(frame, ServerFrame::Ack { .. }).then_some(())).await;
    first.close().await;

    // The client did not hear the ack, reconnects from revision 0 and sends the change again;
    // then a new one.
    let (mut second, _) = connect(&app, &app.admin_token, &project, &dialogue_id, Some(0)).await;
    second.send(&with_ref("b", "change-1", 0)).await.unwrap();
    second.send(&with_ref("c", "change-2", 0)).await.unwrap();
    let repeat = until(&mut second, |frame| match frame {
        ServerFrame::Error { reference, error } => Some((reference.clone(), error.clone())),
        ServerFrame::Ack { reference, .. } => panic!("{reference} stored before the repeat was answered"),
        _ => None,
    })
    .await;
    assert_eq!(repeat.0.as_deref(), Some("b"));
    assert_eq!(repeat.1.kind, "conflict");
    assert_eq!(repeat.1.details["duplicate_of"], 1, "{:?}", repeat.1);
    let next = until(&mut second, |frame| match frame {
        ServerFrame::Ack { reference, revision } => Some((reference.clone(), revision["number"].as_i64())),
        ServerFrame::Error { reference, error } => panic!("{reference:?} refused: {error:?}"),
        _ => None,
    })
    .await;
    assert_eq!(next, ("c".to_owned(), Some(2)), "the repeat was not stored, the new change was");
    let blocks = app.get(&path, &app.admin_token).await.body["sequences"][0]["blocks"].clone();
    let ids: Vec<&str> = blocks.as_array().unwrap().iter().filter_map(|b| b["id"].as_str()).collect();
    assert_eq!(ids.iter().filter(|id| id.ends_with("change-1")).count(), 1, "{ids:?}");

    // Sent twice at once on one session: the second copy arrives while the first is (most
    // likely) accepted but not stored yet, and is refused all the same.
    second.send(&with_ref("e", "change-3", 2)).await.unwrap();
    second.send(&with_ref("f", "change-3", 2)).await.unwrap();
    let (mut acked, mut refused) = (None, None);
    while acked.is_none() || refused.is_none() {
        match second.next().await.expect("a frame") {
            ServerFrame::Ack { reference, revision } if reference == "e" => acked = revision["number"].as_i64(),
            ServerFrame::Error { reference, error } if reference.as_deref() == Some("f") => {
                refused = error.details["duplicate_of"].as_i64()
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((acked, refused), (Some(3), Some(3)));

    // Another user's change with the same reference is theirs, not a repeat.
    let (_, writer) = app
        .user_with("writer", json!({ "type": "project:dialogues:write", "properties": { "project_id": project } }))
        .await;
    let (mut other, welcome) = connect(&app, &writer, &project, &dialogue_id, None).await;
    let theirs = ClientFrame::Patch {
        reference: "d".to_owned(),
        base_revision: welcome.revision.number,
        patch: append_block("block-of-another-user"),
        edit_type: None,
        details: Some(json!({ "client_ref": "change-1" })),
    };
    other.send(&theirs).await.unwrap();
    let number = until(&mut other, |frame| match frame {
        ServerFrame::Ack { revision, .. } => revision["number"].as_i64(),
        ServerFrame::Error { reference, error } => panic!("{reference:?} refused: {error:?}"),
        _ => None,
    })
    .await;
    assert_eq!(number, 4);
}
