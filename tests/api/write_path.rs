//! The shared write path: revisions of many dialogues committed together, a failure inside a
//! shared command, a kill during a many-dialogue load, and the stored heads' and snapshots'
//! bounded staleness.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use dialogue_server::store::{RevisionRecord, StoreCounters, StoreError};
use serde_json::Value;

use crate::durability::{Remote, assert_history, dialogue_in};
use crate::helpers::{TestApp, append_block, eventually, spawn_app, spawn_app_with};
use crate::process::ServerProcess;

/// How long a background write may take before a test gives up on it.
const TEST_BOUND: Duration = Duration::from_secs(20);

/// A stored revision of `dialogue_id` numbered `number`, by nobody in particular (an empty
/// patch); tests override what they need.
pub(crate) fn revision(dialogue_id: &str, number: i64) -> RevisionRecord {
    RevisionRecord {
        id: format!("{dialogue_id}-{number}"),
        dialogue_id: dialogue_id.into(),
        project_id: "p".into(),
        number,
        user_id: "u".into(),
        created: 1,
        accepted: None,
        kind: "edit".into(),
        edit_type: None,
        reverted_to: None,
        patch: "[]".into(),
        details: "{}".into(),
        process: None,
        handoff: None,
        pushed_to: Vec::new(),
    }
}

#[actix_web::test]
async fn a_failure_inside_a_shared_batch_fails_only_the_writes_it_concerns() {
    let app = spawn_app().await;
    let store = &app.state.store;
    // Dialogue b already has revision 1: a second writer of b's revision 1 lost a race.
    store.insert_revisions(&[revision("b", 1)], false).await.expect("stored");
    let commands_before = StoreCounters::get(&store.counters().revision_batches);

    // Three batches submitted together (the test runtime runs one thread, so all three are
    // queued before the committer runs) share one ordered command, b's in the middle.
    let (a, mut b, c) =
        (vec![revision("a", 1), revision("a", 2)], vec![revision("b", 1), revision("b", 2)], vec![revision("c", 1)]);
    b[0].id = "b-1-again".into();
    let (a_result, b_result, c_result) = tokio::join!(
        store.insert_revisions(&a, false),
        store.insert_revisions(&b, false),
        store.insert_revisions(&c, false)
    );

    assert!(a_result.is_ok(), "a batch before the failure is stored: {a_result:?}");
    assert!(
        matches!(b_result, Err((0, StoreError::Duplicate { .. }))),
        "the failing batch learns that its first revision lost the race: {b_result:?}"
    );
    assert!(c_result.is_ok(), "a batch after the failure is stored too (sent again): {c_result:?}");
    let commands = StoreCounters::get(&store.counters().revision_batches) - commands_before;
    assert_eq!(commands, 2, "one shared command, then c's batch again");
    let numbers = |dialogue: &'static str| async move {
        store.revisions_between(dialogue, 0, 10).await.unwrap().into_iter().map(|r| r.id).collect::<Vec<_>>()
    };
    assert_eq!(numbers("a").await, ["a-1", "a-2"]);
    assert_eq!(numbers("b").await, ["b-1"], "nothing of the failing batch is stored");
    assert_eq!(numbers("c").await, ["c-1"]);
}

/// A cold load reads every revision after where it starts (the content catches up with them),
/// and of the window before it only as much text as the log keeps, newest first, the starting
/// revision always: 200 large patches in the window once cost gigabytes parsed.
#[actix_web::test]
async fn a_cold_load_reads_no_more_of_the_window_than_the_log_keeps() {
    let app = spawn_app().await;
    let store = &app.state.store;
    let large =
        |number| RevisionRecord { details: format!("{{\"x\":\"{}\"}}", "a".repeat(990)), ..revision("d", number) };
    let records: Vec<RevisionRecord> = (1..=10).map(large).collect();
    let weight = records[0].text_bytes();
    store.insert_revisions(&records, true).await.expect("stored");
    let read = |after: i64, start: i64, budget: usize| async move {
        let records = store.revisions_for_load("d", after, start, budget).await.expect("read");
        records.into_iter().map(|r| r.number).collect::<Vec<_>>()
    };
    assert_eq!(read(0, 7, 2 * weight + 1).await, [5, 6, 7, 8, 9, 10], "the tail, then 7, 6 and 5 pass the budget");
    assert_eq!(read(0, 7, 0).await, [7, 8, 9, 10], "the starting revision always");
    assert_eq!(read(3, 7, usize::MAX).await, [4, 5, 6, 7, 8, 9, 10], "never before the window");
    assert_eq!(read(0, 10, weight).await, [10]);
}

#[actix_web::test]
async fn a_server_killed_during_a_many_dialogue_load_loses_no_acknowledged_revision() {
    const DIALOGUES: usize = 12;
    let app = spawn_app().await;
    let mut dialogues = Vec::new();
    for _ in 0..DIALOGUES {
        dialogues.push(dialogue_in(&app).await);
    }
    let server = ServerProcess::start(&app.database);
    let remote = Remote::connect(server.address()).await;

    // Two writers per dialogue stream patches; the server is killed once 120 are acknowledged.
    let acknowledged = Arc::new(Mutex::new(vec![Vec::<String>::new(); DIALOGUES]));
    let hundred_twentieth = tokio::sync::Notify::new();
    let writers = dialogues.iter().enumerate().flat_map(|(index, (path, _))| {
        (0..2).map({
            let (acknowledged, remote, hundred_twentieth) = (acknowledged.clone(), &remote, &hundred_twentieth);
            move |writer| {
                let acknowledged = acknowledged.clone();
                async move {
                    for n in 0.. {
                        match remote.patch(path, &append_block(&format!("w{writer}-{n}"))).await {
                            Some(id) => {
                                let mut acknowledged = acknowledged.lock().unwrap();
                                acknowledged[index].push(id);
                                if acknowledged.iter().map(Vec::len).sum::<usize>() == 120 {
                                    hundred_twentieth.notify_one();
                                }
                            }
                            None => return,
                        }
                    }
                }
            }
        })
    });
    let killer = async {
        hundred_twentieth.notified().await;
        server.signal("KILL");
    };
    futures_util::future::join(futures_util::future::join_all(writers), killer).await;

    let acknowledged = acknowledged.lock().unwrap().clone();
    for ((path, initial), acknowledged) in dialogues.iter().zip(&acknowledged) {
        assert_history(&app.database, path, initial, acknowledged).await;
    }
}

async fn stored_head(app: &TestApp, dialogue_id: &str) -> i64 {
    let record = app.state.store.dialogue_by_id_any_project(dialogue_id).await.unwrap().expect("a head");
    record.revision_number
}

#[actix_web::test]
async fn stored_heads_and_snapshots_stay_within_their_bounds() {
    let app = spawn_app_with(|settings| {
        settings.head_max_lag = 5;
        settings.head_max_age_secs = 3600;
        settings.snapshot_interval = 4;
    })
    .await;
    let (path, _) = dialogue_in(&app).await;
    let dialogue_id = path.rsplit('/').next().unwrap().to_owned();
    for n in 0..12 {
        let patched = app.patch(&path, &app.admin_token, &append_block(&format!("b{n}"))).await;
        assert_eq!(patched.status, 200);
    }
    // Revision 12 is acknowledged; the head was due at 5 and at 10 revisions (a lag of 5).
    eventually("the head reaches revision 10", async || stored_head(&app, &dialogue_id).await >= 10).await;
    assert!(stored_head(&app, &dialogue_id).await < 12, "a head is not written for every revision");
    eventually("a snapshot at revision 12", async || {
        let snapshot = app.state.store.snapshot_at_or_before(&dialogue_id, 12).await.unwrap();
        snapshot.is_some_and(|snapshot| snapshot.number == 12)
    })
    .await;
    let revisions = app.all_revisions(&app.admin_token, &path).await;
    assert_eq!(revisions.len(), 12);
}

#[actix_web::test]
async fn a_graceful_shutdown_brings_every_stored_head_up_to_date() {
    let app = spawn_app().await;
    let mut dialogues = Vec::new();
    for _ in 0..3 {
        dialogues.push(dialogue_in(&app).await);
    }
    let server = ServerProcess::start_with(&app.database, &[("DIALOGUE_HEAD_MAX_LAG", "1000")]);
    let remote = Remote::connect(server.address()).await;
    for (path, _) in &dialogues {
        for n in 0..3 {
            assert!(remote.patch(path, &append_block(&format!("b{n}"))).await.is_some());
        }
    }
    let mut server = server;
    server.signal("TERM");
    let status = server.child.wait().expect("the server exits");
    assert_eq!(status.code(), Some(0));
    for (path, _) in &dialogues {
        let dialogue_id = path.rsplit('/').next().unwrap();
        assert_eq!(stored_head(&app, dialogue_id).await, 3, "the head of {path} was written at shutdown");
    }
    let revisions: Vec<Value> = app.all_revisions(&app.admin_token, &dialogues[0].0).await;
    assert_eq!(revisions.len(), 3);
}

#[actix_web::test]
async fn every_command_the_store_sends_counts_as_one_round_trip() {
    // A store of its own, with nothing else running on it: the count is exact.
    let uri = secrecy::SecretString::from(crate::helpers::test_database_uri());
    let database = format!("round-trips-{}", uuid::Uuid::new_v4().simple());
    let store = dialogue_server::store::Store::connect(
        &uri,
        &database,
        Duration::from_secs(10),
        dialogue_server::store::DEFAULT_COMMIT_SPACING,
    )
    .await
    .expect("store");
    let round_trips = || StoreCounters::get(&store.counters().round_trips);

    let before = round_trips();
    store.ping().await.expect("ping");
    assert_eq!(round_trips() - before, 1, "a ping is one command");

    // Three dialogues' batches submitted together share one insert: one round trip.
    let (a, b, c) = (vec![revision("a", 1), revision("a", 2)], vec![revision("b", 1)], vec![revision("c", 1)]);
    let before = round_trips();
    let (a, b, c) = tokio::join!(
        store.insert_revisions(&a, false),
        store.insert_revisions(&b, false),
        store.insert_revisions(&c, false)
    );
    assert!(a.is_ok() && b.is_ok() && c.is_ok());
    assert_eq!(round_trips() - before, 1, "one shared insert for three dialogues");

    // A read is counted as well.
    let before = round_trips();
    assert_eq!(store.revisions_between("a", 0, 10).await.expect("read").len(), 2);
    assert!(round_trips() > before, "reads are round trips too");

    // The webhook scheduler removes the events it fanned out in one command, however many
    // (a burst of created dialogues once cost a round trip each), and none for no event.
    let ids: Vec<String> = (0..50).map(|n| format!("event-{n}")).collect();
    let before = round_trips();
    store.remove_outbox_events(&ids).await.expect("removed");
    assert_eq!(round_trips() - before, 1, "fifty events, one command");
    let before = round_trips();
    store.remove_outbox_events(&[]).await.expect("nothing to remove");
    assert_eq!(round_trips(), before, "no event, no command");
    store.drop_database().await.expect("dropped");
}

#[actix_web::test]
async fn the_feed_brings_other_processes_revisions_and_not_this_ones() {
    use dialogue_server::store::{FeedEvent, FeedStart, Store};
    let uri = secrecy::SecretString::from(crate::helpers::test_database_uri());
    let database = format!("feed-{}", uuid::Uuid::new_v4().simple());
    let store =
        Store::connect(&uri, &database, Duration::from_secs(10), dialogue_server::store::DEFAULT_COMMIT_SPACING)
            .await
            .expect("store");
    let mut feed = store.watch(FeedStart::Now).await.expect("the feed opens");

    // This process's revision first, then another process's: only the second comes through.
    let mut own = revision("d", 1);
    own.process = Some(store.process_id().to_owned());
    let mut theirs = revision("d", 2);
    theirs.process = Some("another-process".into());
    store.insert_revisions(&[own], false).await.expect("stored");
    store.insert_revisions(&[theirs], false).await.expect("stored");

    let event = tokio::time::timeout(TEST_BOUND, feed.next()).await.expect("an event in time").expect("the feed");
    match event {
        Some(FeedEvent::Revision(record)) => assert_eq!(record.id, "d-2", "this process's own revision is left out"),
        other => panic!("expected the other process's revision, got {other:?}"),
    }
    store.drop_database().await.expect("dropped");
}
