//! Several processes on one database behave as one: presence reaches every process (and leaves
//! when a process dies), revocations made on one process take effect on the others within
//! 2 seconds, for REST and for open sockets, and what another process stored and pushed to this
//! one without it arriving is read from the store (after a gap, a `missed` handoff, a handed-over
//! write's expiry, or that process's stop).

use std::time::{Duration, Instant};

use dialogue_client::{LiveClient, ServerFrame};
use serde_json::json;

use crate::helpers::{TestApp, append_block, eventually, spawn_app, spawn_app_with};
use crate::live::{connect, dialogue, until};
use crate::process::ServerProcess;

/// How soon a revocation must reach every process.
const REVOCATION_BOUND: Duration = Duration::from_secs(2);
/// How soon the sessions of a dead process must be reported `left`.
const DEAD_PROCESS_BOUND: Duration = Duration::from_secs(30);

/// A second (or third) in-process server on the same database as `first`.
async fn another(first: &TestApp) -> TestApp {
    spawn_app_with(|settings| settings.database = first.database.clone()).await
}

/// Waits for a `joined` frame for `session_id`.
async fn joined(client: &mut LiveClient, session_id: &str) {
    until(client, |f| matches!(f, ServerFrame::Joined { session_id: s, .. } if s == session_id).then_some(())).await;
}

/// Waits for a `presence` frame from `session_id` and returns its selection.
async fn presence_of(client: &mut LiveClient, session_id: &str) -> serde_json::Value {
    until(client, |f| match f {
        ServerFrame::Presence { session_id: s, selection } if s == session_id => Some(selection.clone()),
        _ => None,
    })
    .await
}

/// Waits for a `left` frame for `session_id`.
async fn left(client: &mut LiveClient, session_id: &str) {
    until(client, |f| matches!(f, ServerFrame::Left { session_id: s } if s == session_id).then_some(())).await;
}

/// Calls `check` until it answers true, failing the test past `bound` (REST has no event to
/// wait for: the answer changes when the other process hears of the revocation).
async fn within(bound: Duration, what: &str, mut check: impl AsyncFnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !check().await {
        assert!(start.elapsed() < bound, "{what}: not within {bound:?}");
        tokio::task::yield_now().await;
    }
    start.elapsed()
}

#[actix_web::test]
async fn presence_crosses_processes_both_ways_and_welcome_lists_every_peer() {
    let first = spawn_app().await;
    let second = another(&first).await;
    let (project, dialogue_id, _) = dialogue(&first).await;

    let (mut bob, bob_welcome) = connect(&second, &second.admin_token, &project, &dialogue_id, None).await;
    let (mut alice, alice_welcome) = connect(&first, &first.admin_token, &project, &dialogue_id, None).await;
    let (alice_id, bob_id) = (alice_welcome.session_id.clone(), bob_welcome.session_id.clone());
    // Bob hears Alice join on the other process; Alice has Bob in her welcome, or hears him join
    // (his presence may still have been on its way when she arrived).
    joined(&mut bob, &alice_id).await;
    if !alice_welcome.peers.iter().any(|peer| peer.session_id == bob_id) {
        joined(&mut alice, &bob_id).await;
    }

    let alice_selection = json!({ "sequence_id": "start", "block_id": "rate" });
    alice.send_presence(alice_selection.clone()).await.unwrap();
    assert_eq!(presence_of(&mut bob, &alice_id).await, alice_selection);
    let bob_selection = json!({ "sequence_id": "start", "block_id": "other" });
    bob.send_presence(bob_selection.clone()).await.unwrap();
    assert_eq!(presence_of(&mut alice, &bob_id).await, bob_selection);

    // A third process opens the dialogue afresh: its welcome lists both, with their selections.
    let third = another(&first).await;
    let (mut carol, carol_welcome) = connect(&third, &third.admin_token, &project, &dialogue_id, None).await;
    let listed = |id: &str| carol_welcome.peers.iter().find(|peer| peer.session_id == id).map(|p| p.selection.clone());
    assert_eq!(listed(&alice_id), Some(alice_selection));
    assert_eq!(listed(&bob_id), Some(bob_selection));
    assert_eq!(carol_welcome.peers.len(), 2, "{:?}", carol_welcome.peers);
    joined(&mut alice, &carol_welcome.session_id).await;

    alice.close().await;
    left(&mut bob, &alice_id).await;
    left(&mut carol, &alice_id).await;
}

#[actix_web::test]
async fn the_sessions_of_a_killed_process_leave_everywhere_within_30_seconds() {
    let app = spawn_app().await;
    let (project, dialogue_id, _) = dialogue(&app).await;
    let doomed = ServerProcess::start(&app.database);
    let (mut watcher, _) = connect(&app, &app.admin_token, &project, &dialogue_id, None).await;
    let token = app.login(crate::helpers::ADMIN_EMAIL, crate::helpers::ADMIN_PASSWORD).await;
    let (_victim, victim_welcome) =
        LiveClient::connect(&doomed.address(), &project, &dialogue_id, &token, None).await.expect("opens");
    joined(&mut watcher, &victim_welcome.session_id).await;

    let killed = Instant::now();
    doomed.signal("KILL");
    watcher.set_timeout(DEAD_PROCESS_BOUND + Duration::from_secs(5));
    tokio::time::timeout(DEAD_PROCESS_BOUND, left(&mut watcher, &victim_welcome.session_id))
        .await
        .expect("the dead process's session is reported left within 30 s");
    eprintln!("left {:?} after the kill", killed.elapsed());
}

/// Two processes on one database, a dialogue, and a member who may write its project's dialogues.
struct Members {
    first: TestApp,
    second: TestApp,
    project: String,
    dialogue_id: String,
    path: String,
    user: String,
    token: String,
}

async fn members() -> Members {
    let first = spawn_app().await;
    let second = another(&first).await;
    let (project, dialogue_id, path) = dialogue(&first).await;
    let grant = json!({ "type": "project:dialogues:write", "properties": { "project_id": project } });
    let (user, token) = first.user_with("member", grant).await;
    Members { first, second, project, dialogue_id, path, user, token }
}

#[actix_web::test]
async fn a_sign_out_on_one_process_is_refused_on_the_other_within_2_seconds() {
    let Members { first, second, project, dialogue_id, token, .. } = members().await;
    // The second process has the token cached, and a socket open with it.
    let project_path = format!("/projects/{project}");
    assert_eq!(second.get(&project_path, &token).await.status, 200);
    let (mut socket, _) = connect(&second, &token, &project, &dialogue_id, None).await;

    assert_eq!(first.delete("/auth/tokens/current", &token).await.status, 204);
    let took = within(REVOCATION_BOUND, "sign-out refused by the other process", async || {
        second.get(&project_path, &token).await.status == 401
    })
    .await;
    eprintln!("REST refused {took:?} after the sign-out");
    socket.set_timeout(REVOCATION_BOUND);
    assert_eq!(socket.closed().await, Some(4401), "the socket on the other process closes");
}

#[actix_web::test]
async fn permission_changes_on_one_process_reach_sockets_on_the_other_within_2_seconds() {
    let Members { first, second, project, dialogue_id, path, user, token } = members().await;
    let read = first
        .grant(
            &first.admin_token,
            &user,
            json!({ "type": "project:dialogues:read", "properties": { "project_id": project } }),
        )
        .await;
    let grants = first.get(&format!("/users/{user}/permissions/"), &first.admin_token).await;
    let write_grant = grants.body.as_array().unwrap().iter().find(|g| g["type"] == "project:dialogues:write").unwrap();
    let write_grant = write_grant["id"].as_str().unwrap().to_owned();
    let (mut socket, welcome) = connect(&second, &token, &project, &dialogue_id, None).await;
    assert!(welcome.can_edit);

    // Write access goes on the first process: the socket on the second stays open, and its
    // patches are refused with `forbidden` error frames.
    let revoked = first.delete(&format!("/users/{user}/permissions/{write_grant}"), &first.admin_token).await;
    assert_eq!(revoked.status, 200, "{}", revoked.body);
    let mut base = 0;
    let mut attempt = 0;
    let took = within(REVOCATION_BOUND, "write access removed on the other process", async || {
        attempt += 1;
        let reference = format!("p{attempt}");
        socket.send_patch(&reference, base, append_block(&format!("b{attempt}"))).await.unwrap();
        until(&mut socket, |f| match f {
            ServerFrame::Ack { reference: r, revision } if *r == reference => {
                base = revision["number"].as_i64().unwrap();
                Some(false)
            }
            ServerFrame::Error { reference: Some(r), error } if *r == reference => {
                assert_eq!(error.kind, "forbidden", "{error:?}");
                Some(true)
            }
            _ => None,
        })
        .await
    })
    .await;
    eprintln!("patches forbidden {took:?} after write access was removed");
    // Reading still works: a REST write by someone else reaches the socket.
    assert_eq!(first.patch(&path, &first.admin_token, &append_block("by-admin")).await.status, 200);
    until(&mut socket, |f| matches!(f, ServerFrame::Revision { .. }).then_some(())).await;

    // Then read access goes too: the socket closes with 4403.
    let read_id = read["id"].as_str().unwrap();
    let removed = first.delete(&format!("/users/{user}/permissions/{read_id}"), &first.admin_token).await;
    assert_eq!(removed.status, 200, "{}", removed.body);
    let closed = Instant::now();
    socket.set_timeout(REVOCATION_BOUND);
    assert_eq!(socket.closed().await, Some(4403));
    eprintln!("socket closed {:?} after read access was removed", closed.elapsed());
}

/// A request to a peer listener at `url`, signed at `time` with `key`.
async fn peer_request(url: &str, key: &[u8], time: i64, body: Vec<u8>) -> u16 {
    use dialogue_server::peers::{PROCESS_HEADER, SIGNATURE_HEADER, TIME_HEADER, sign};
    let time = time.to_string();
    let response = awc::Client::default()
        .post(url)
        .insert_header((PROCESS_HEADER, "a-test"))
        .insert_header((TIME_HEADER, time.as_str()))
        .insert_header((SIGNATURE_HEADER, sign(key, &time, &body)))
        .send_body(body)
        .await
        .expect("the peer listener answers");
    response.status().as_u16()
}

#[actix_web::test]
async fn the_peer_listener_takes_only_requests_signed_with_the_peer_key_and_recent() {
    use dialogue_server::peers::{MAX_CLOCK_SKEW_MILLIS, MESSAGES_PATH, PeerBatch, derive_key};
    use dialogue_server::store::now_millis;
    let app = spawn_app_with(crate::live::linked).await;
    let url = format!("{}{MESSAGES_PATH}", app.state.peers.own_url().expect("a peer URL"));
    let key = derive_key(crate::live::PEER_SECRET.as_bytes());
    let empty = || mongodb::bson::to_vec(&PeerBatch::default()).unwrap();
    assert_eq!(peer_request(&url, &key, now_millis(), empty()).await, 204);
    let other_key = derive_key(b"another secret");
    assert_eq!(peer_request(&url, &other_key, now_millis(), empty()).await, 401, "another key");
    let stale = now_millis() - MAX_CLOCK_SKEW_MILLIS - 5_000;
    assert_eq!(peer_request(&url, &key, stale, empty()).await, 401, "signed too long ago");
    assert_eq!(peer_request(&url, &key, now_millis(), b"not bson".to_vec()).await, 400, "unreadable");
    let unsigned = awc::Client::default().post(&url).send_body(vec![0_u8; 4096]).await.expect("an answer");
    assert_eq!(unsigned.status().as_u16(), 401, "refused from its headers");
    let counters = app.state.peers.counters();
    use dialogue_server::peers::PeerCounters;
    assert_eq!(PeerCounters::get(&counters.requests_received), 1);
    assert_eq!(PeerCounters::get(&counters.requests_refused), 4);
}

#[actix_web::test]
async fn a_peer_listener_needs_the_secret_key_and_an_address_others_can_reach() {
    let mut settings = dialogue_server::config::Settings::defaults();
    settings.peer_bind = Some("127.0.0.1:0".to_owned());
    let error = dialogue_server::startup::Application::build(settings.clone()).await.err().expect("refused");
    assert!(error.to_string().contains("DIALOGUE_SECRET_KEY"), "{error}");
    settings.secret_key = Some(secrecy::SecretString::from(crate::live::PEER_SECRET));
    settings.peer_bind = Some("0.0.0.0:0".to_owned());
    let error = dialogue_server::startup::Application::build(settings).await.err().expect("refused");
    assert!(error.to_string().contains("DIALOGUE_PEER_URL"), "{error}");
}

/// A revision stored by another process for `dialogue_id` at `number`, appending block `id`;
/// `pushed_to` names the processes it was pushed to over their peer links.
fn stored_elsewhere(
    dialogue_id: &str,
    project_id: &str,
    number: i64,
    id: &str,
    pushed_to: &[&str],
) -> dialogue_server::store::RevisionRecord {
    dialogue_server::store::RevisionRecord {
        id: format!("elsewhere-{id}"),
        project_id: project_id.into(),
        patch: append_block(id).to_string(),
        process: Some("another-process".into()),
        pushed_to: pushed_to.iter().map(|process| (*process).to_owned()).collect(),
        ..crate::write_path::revision(dialogue_id, number)
    }
}

/// Waits for the `revision` frame of revision `number` and returns its number.
async fn revision_numbered(client: &mut LiveClient, number: i64) -> i64 {
    until(client, |frame| match frame {
        ServerFrame::Revision { revision } if revision["number"] == number => Some(number),
        _ => None,
    })
    .await
}

/// A dialogue open in a session on `app`, with what the tests of pushed revisions need.
struct Watched {
    /// `app`'s process id.
    me: String,
    project: String,
    dialogue_id: String,
    path: String,
    client: LiveClient,
    /// The revision number the session was welcomed at.
    head: i64,
}

async fn watched(app: &TestApp) -> Watched {
    let me = app.state.store.process_id().to_owned();
    let (project, dialogue_id, path) = dialogue(app).await;
    let (client, welcome) = connect(app, &app.admin_token, &project, &dialogue_id, None).await;
    Watched { me, project, dialogue_id, path, client, head: welcome.revision.number }
}

#[actix_web::test]
async fn revisions_pushed_to_a_process_stay_out_of_its_feed_and_what_a_lost_push_carried_is_read_from_the_store() {
    use dialogue_server::store::{HandoffKind, HandoffRecord};
    let app = spawn_app().await;
    let store = &app.state.store;
    let Watched { me, project, dialogue_id, path, mut client, head } = watched(&app).await;
    // A second dialogue, whose revisions come through the feed: once one has reached its
    // session, every feed event before it has reached its actor's mailbox.
    let (probe_project, probe_id, _) = dialogue(&app).await;
    let (mut probe, probe_welcome) = connect(&app, &app.admin_token, &probe_project, &probe_id, None).await;

    // Pushed to this process (and the push lost): its feed leaves it out.
    store
        .insert_revisions(
            &[stored_elsewhere(&dialogue_id, &project, head + 1, "pushed-1", &["a-third-process", &me])],
            false,
        )
        .await
        .unwrap();
    let probe_number = probe_welcome.revision.number + 1;
    store
        .insert_revisions(&[stored_elsewhere(&probe_id, &probe_project, probe_number, "probe", &[])], false)
        .await
        .unwrap();
    revision_numbered(&mut probe, probe_number).await;
    let read = app.get(&path, &app.admin_token).await;
    assert_eq!(read.status, 200);
    assert!(!read.body.to_string().contains("pushed-1"), "the pushed revision did not come through the feed");

    // The next revision comes through the feed: the gap before it is read from the store, and
    // the session gets both, in order.
    store
        .insert_revisions(&[stored_elsewhere(&dialogue_id, &project, head + 2, "through-feed", &[])], false)
        .await
        .unwrap();
    assert_eq!(revision_numbered(&mut client, head + 1).await, head + 1);
    assert_eq!(revision_numbered(&mut client, head + 2).await, head + 2);

    // Pushed and lost again, and the pushing process says so: read from the store.
    store
        .insert_revisions(&[stored_elsewhere(&dialogue_id, &project, head + 3, "pushed-2", &[&me])], false)
        .await
        .unwrap();
    let missed = HandoffRecord::new(
        HandoffKind::Missed,
        "missed-1",
        &dialogue_id,
        "another-process",
        &me,
        (head + 3).to_string(),
    );
    store.send_handoffs(&[missed]).await.unwrap();
    assert_eq!(revision_numbered(&mut client, head + 3).await, head + 3);
    let read = app.get(&path, &app.admin_token).await;
    for block in ["pushed-1", "through-feed", "pushed-2"] {
        assert!(read.body.to_string().contains(block), "{block} is in the dialogue");
    }
}

/// The write handoffs this process sent for `dialogue_id`, read straight from the database
/// (the process they are addressed to does not exist).
async fn write_handoffs(database: &str, dialogue_id: &str) -> Vec<String> {
    use futures_util::TryStreamExt;
    let handoffs = crate::helpers::raw_collection(database, "handoffs").await;
    let found: Vec<mongodb::bson::Document> = handoffs
        .find(mongodb::bson::doc! { "dialogue_id": dialogue_id, "kind": "write" })
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    found.iter().map(|handoff| handoff.get_str("_id").unwrap().to_owned()).collect()
}

/// Makes `watched`'s process lose a race for the next number to "another-process" (stored and
/// pushed to it, so its feed leaves it out) with a write `handed-over`, which it then hands to
/// the winner through the database; returns that handoff's id.
async fn lose_a_race_and_hand_over(app: &TestApp, watched: &mut Watched) -> String {
    let Watched { me, project, dialogue_id, client, head, .. } = watched;
    let winner = stored_elsewhere(dialogue_id, project, *head + 1, "winner", &[me.as_str()]);
    app.state.store.insert_revisions(&[winner], false).await.unwrap();
    client.send_patch("handed-over", *head, append_block("mine")).await.unwrap();
    assert_eq!(revision_numbered(client, *head + 1).await, *head + 1);
    let mut handed = Vec::new();
    eventually("the write is handed over through the database", async || {
        handed = write_handoffs(&app.database, dialogue_id).await;
        !handed.is_empty()
    })
    .await;
    assert_eq!(handed.len(), 1, "one write handed over: {handed:?}");
    handed.remove(0)
}

/// The revision the winner stores for the write handed to it as `handoff` (its only one).
fn handed_write_stored(
    dialogue_id: &str,
    project_id: &str,
    number: i64,
    handoff: String,
    pushed_to: &[&str],
) -> dialogue_server::store::RevisionRecord {
    let mut stored = stored_elsewhere(dialogue_id, project_id, number, "mine", pushed_to);
    stored.handoff = Some(dialogue_server::store::HandoffMark { id: handoff, last: true });
    stored
}

#[actix_web::test]
async fn a_write_handed_to_a_process_that_stored_it_and_died_before_the_push_is_acked_not_refused() {
    let app = spawn_app().await;
    let store = &app.state.store;
    let mut watched = watched(&app).await;
    let handed = lose_a_race_and_hand_over(&app, &mut watched).await;
    let Watched { me, project, dialogue_id, path, mut client, head } = watched;

    // The winner stores it and dies before its push: nothing brings the revision, and no
    // answer comes. When the write's time is up, the store is read before it is refused.
    let stored = handed_write_stored(&dialogue_id, &project, head + 2, handed, &[&me]);
    store.insert_revisions(&[stored], false).await.unwrap();
    let answer = until(&mut client, |frame| match frame {
        ServerFrame::Ack { reference, revision } if reference == "handed-over" => Some(Ok(revision["number"].clone())),
        ServerFrame::Error { reference: Some(reference), error } if reference == "handed-over" => {
            Some(Err(error.clone()))
        }
        _ => None,
    })
    .await;
    assert_eq!(answer.unwrap(), json!(head + 2), "acked with the revision the winner stored");
    let read = app.get(&path, &app.admin_token).await;
    assert!(read.body.to_string().contains("\"mine\""), "the handed-over write is in the dialogue");
}

/// The heartbeat record of a process that is not running, so that removing it is heard as that
/// process stopping.
async fn process_record(database: &str, process: &str) -> mongodb::Collection<mongodb::bson::Document> {
    let processes = crate::helpers::raw_collection(database, "processes").await;
    let seen = dialogue_server::store::now_millis();
    processes.insert_one(mongodb::bson::doc! { "_id": process, "seen": seen }).await.unwrap();
    processes
}

#[actix_web::test]
async fn a_process_that_stops_makes_those_that_followed_it_read_what_it_pushed_to_them() {
    // With a long database deadline, the read after following ends comes minutes later: within
    // the bound below, only the read on the process's stop brings the revision.
    let app = spawn_app_with(|settings| settings.database_timeout_secs = 60).await;
    let store = &app.state.store;
    let mut watched = watched(&app).await;
    let processes = process_record(&app.database, "another-process").await;

    // This process loses a race to the other one and hands its write over; the other stores
    // it (through the feed here), so that write is answered.
    let handed = lose_a_race_and_hand_over(&app, &mut watched).await;
    let Watched { me, project, dialogue_id, mut client, head, .. } = watched;
    let stored = handed_write_stored(&dialogue_id, &project, head + 2, handed, &[]);
    store.insert_revisions(&[stored], false).await.unwrap();
    let acked = until(&mut client, |frame| match frame {
        ServerFrame::Ack { reference, revision } if reference == "handed-over" => Some(revision["number"].clone()),
        _ => None,
    })
    .await;
    assert_eq!(acked, json!(head + 2));

    // It stores one more, pushed here and lost, and stops: nothing comes after it to show a
    // gap, and no write of this process waits. Its stop makes this process read.
    store
        .insert_revisions(&[stored_elsewhere(&dialogue_id, &project, head + 3, "last-words", &[&me])], false)
        .await
        .unwrap();
    processes.delete_one(mongodb::bson::doc! { "_id": "another-process" }).await.unwrap();
    let read = tokio::time::timeout(Duration::from_secs(30), revision_numbered(&mut client, head + 3)).await;
    assert_eq!(read.expect("the revision pushed and lost arrives once its process stops"), head + 3);
}
