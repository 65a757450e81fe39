//! A frame fuzzer: proptest generates sequences of hostile client frames (malformed JSON, wrong
//! types, unknown `type`s, absurd `base_revision`s, bad pointers, deep nesting, strings near and
//! over the frame limit, stale bases, presence spam, binary frames, pings) that one attacker
//! sends to a server process, while a well-behaved editor works on the same dialogue. What must
//! hold: the process survives, the editor's patches are all acknowledged and its replica equals
//! `GET`, the attacker sees only documented error types and close codes (and a close exactly
//! when the protocol says so), and the process's memory stays bounded.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use dialogue_client::{ClientError, LiveClient, Replica, ServerFrame, WelcomeExt, close};
use dialogue_protocol::MAX_FRAME_BYTES;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{Value, json};
use tokio::sync::{oneshot, watch};

use crate::helpers::{append_block, content_of, replay};
use crate::process::{QUIET_LOG, Served};

/// How long the test may run before it is declared stuck.
const TEST_BOUND: Duration = Duration::from_secs(120);
/// Generated sequences (each on a new connection).
const CASES: u32 = 64;
/// How much the server's resident memory may grow.
const MEMORY_BOUND: u64 = 200 * 1024 * 1024;
/// The close codes the protocol documents.
const DOCUMENTED_CLOSES: [u16; 9] = [
    close::GOING_AWAY,
    close::UNSUPPORTED_DATA,
    close::TOO_BIG,
    close::UNRESPONSIVE,
    close::TOO_SLOW,
    close::RESYNC,
    close::TOKEN_REVOKED,
    close::ACCESS_REVOKED,
    close::DELETED,
];
/// The error types a hostile editor may get (`unavailable`, `internal_error` and `not_found`
/// would mean the server or the dialogue suffered).
const EXPECTED_ERRORS: [&str; 7] = [
    "invalid_message",
    "validation_error",
    "rate_limited",
    "forbidden",
    "payload_too_large",
    "patch_conflict",
    "conflict",
];

/// One thing the attacker sends.
#[derive(Debug, Clone)]
enum Attack {
    /// A text frame, sent as is.
    Text(String),
    /// A binary frame: closes with 1003.
    Binary(Vec<u8>),
    /// A text frame this many bytes over the frame limit: closes with 1009.
    Oversized(usize),
    /// A frame this many bytes under the limit, mostly one string, of the given shape.
    NearLimit(usize, NearLimit),
    /// This many presence frames with selections of this size, back to back.
    PresenceSpam(usize, usize),
}

/// The shapes of frames near the size limit.
#[derive(Debug, Clone, Copy)]
enum NearLimit {
    /// A presence frame (its selection is over 4 KiB).
    Presence,
    /// A patch replacing the title (over its 500 characters).
    Title,
    /// A ping whose `ref` is echoed back.
    Ping,
    /// JSON cut short.
    Truncated,
}

impl Attack {
    /// The close code this frame must cause, if it closes the session.
    fn closes_with(&self) -> Option<u16> {
        match self {
            Attack::Binary(_) => Some(close::UNSUPPORTED_DATA),
            Attack::Oversized(_) => Some(close::TOO_BIG),
            _ => None,
        }
    }
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f).map(Value::Number)),
        "\\PC{0,24}".prop_map(Value::from),
    ]
}

fn any_json() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{0,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A value nested `depth` arrays or objects deep.
fn deep() -> impl Strategy<Value = Value> {
    (1usize..300, any::<bool>()).prop_map(|(depth, objects)| {
        (0..depth).fold(json!(1), |inner, _| if objects { json!({ "a": inner }) } else { json!([inner]) })
    })
}

fn base_revision() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => (0i64..60).prop_map(Value::from), // stale, current and ahead of the head
        1 => any::<i64>().prop_map(Value::from),
        1 => Just(json!(u64::MAX)),
        1 => Just(json!(1.5)),
        1 => Just(json!(-1)),
        1 => Just(serde_json::from_str::<Value>("1e300").expect("a float")),
        1 => any_json(),
    ]
}

fn pointer() -> impl Strategy<Value = Value> {
    let known = prop::sample::select(vec![
        "/title",
        "/is_archived",
        "/id",
        "/url",
        "/revision_id",
        "/sequences/0/blocks/0/properties/text",
        "/sequences/0/blocks/0/properties/text/deeper",
        "/sequences/0/blocks/0",
        "/sequences/0/blocks/-",
        "/sequences/0/blocks/-1",
        "/sequences/0/blocks/99999999999999999999",
        "/sequences/9/blocks/0",
        "/sequences/-/title",
        "/sequences",
        "/~2",
        "/~",
        "no-slash",
        "",
    ]);
    prop_oneof![
        3 => known.prop_map(Value::from),
        2 => "(/[a-z0-9~-]{0,6}){0,5}".prop_map(Value::from),
        1 => any_json(),
    ]
}

fn operation() -> impl Strategy<Value = Value> {
    let op = prop_oneof![
        5 => prop::sample::select(vec!["add", "remove", "replace", "move", "copy", "test"]).prop_map(Value::from),
        1 => any_json(),
    ];
    let value = prop_oneof![4 => any_json(), 1 => deep(), 1 => Just(json!({ "id": "x", "type": "message", "properties": { "text": "x" } }))];
    (op, pointer(), value, prop::option::of(pointer()), any::<u8>()).prop_map(|(op, path, value, from, drop)| {
        let mut operation = json!({ "op": op, "path": path, "value": value });
        if let Some(from) = from {
            operation["from"] = from;
        }
        for (bit, field) in ["op", "path", "value"].iter().enumerate() {
            if drop & (1 << bit) != 0 && drop & 0x80 != 0 {
                operation.as_object_mut().expect("an object").remove(*field);
            }
        }
        operation
    })
}

/// An operation that may well apply: a known op on a known pointer with a short string.
fn plausible_operation() -> impl Strategy<Value = Value> {
    let op = prop::sample::select(vec!["add", "remove", "replace", "move", "copy", "test"]);
    let known = || {
        prop::sample::select(vec![
            "/title",
            "/is_archived",
            "/sequences/0/title",
            "/sequences/0/blocks/0/properties/text",
            "/sequences/0/blocks/1/properties/question",
            "/sequences/0/blocks/0",
            "/sequences/0/blocks/1",
            "/sequences/0/blocks/-",
            "/sequences/1/blocks/0/properties/text",
        ])
    };
    let value = prop_oneof![4 => "\\PC{0,24}".prop_map(Value::from), 1 => any::<bool>().prop_map(Value::from)];
    (op, known(), value, known())
        .prop_map(|(op, path, value, from)| json!({ "op": op, "path": path, "value": value, "from": from }))
}

fn patch_frame() -> impl Strategy<Value = Value> {
    let patch = prop_oneof![
        4 => prop::collection::vec(plausible_operation(), 1..3).prop_map(Value::Array),
        4 => prop::collection::vec(operation(), 0..6).prop_map(Value::Array),
        1 => any_json(),
        1 => deep(),
    ];
    let reference = prop_oneof![4 => "[a-z0-9]{1,8}".prop_map(Value::from), 1 => any_json()];
    (reference, base_revision(), patch, any_json(), any_json(), any::<u8>()).prop_map(
        |(reference, base, patch, edit_type, details, drop)| {
            let mut frame = json!({ "type": "patch", "ref": reference, "base_revision": base, "patch": patch });
            if drop & 1 != 0 {
                frame["edit_type"] = edit_type;
            }
            if drop & 2 != 0 {
                frame["details"] = details;
            }
            for (bit, field) in ["ref", "base_revision", "patch"].iter().enumerate() {
                if drop & (1 << (bit + 2)) != 0 && drop & 0x80 != 0 {
                    frame.as_object_mut().expect("an object").remove(*field);
                }
            }
            frame
        },
    )
}

fn text_frame() -> impl Strategy<Value = String> {
    let kind = prop_oneof![
        Just(json!("patch")),
        Just(json!("presence")),
        Just(json!("ping")),
        "[a-z_]{0,10}".prop_map(Value::from),
        any_json(),
    ];
    let object = prop_oneof![
        6 => patch_frame(),
        2 => any_json().prop_map(|selection| json!({ "type": "presence", "selection": selection })),
        1 => deep().prop_map(|selection| json!({ "type": "presence", "selection": selection })),
        2 => any_json().prop_map(|reference| json!({ "type": "ping", "ref": reference })),
        2 => (kind, any_json()).prop_map(|(kind, body)| json!({ "type": kind, "body": body })),
        1 => any_json(),
    ];
    prop_oneof![
        6 => object.prop_map(|frame| frame.to_string()),
        1 => "\\PC{0,64}",
        // Valid frames cut short.
        1 => (patch_frame(), any::<prop::sample::Index>()).prop_map(|(frame, cut)| {
            let text = frame.to_string();
            let at = cut.index(text.len());
            text.char_indices().map(|(i, _)| i).take_while(|i| *i <= at).last().map_or(text.clone(), |i| text[..i].to_owned())
        }),
    ]
}

fn attack() -> impl Strategy<Value = Attack> {
    let near = prop::sample::select(vec![NearLimit::Presence, NearLimit::Title, NearLimit::Ping, NearLimit::Truncated]);
    prop_oneof![
        40 => text_frame().prop_map(Attack::Text),
        1 => prop::collection::vec(any::<u8>(), 0..64).prop_map(Attack::Binary),
        1 => (1usize..4096).prop_map(Attack::Oversized),
        2 => (64usize..4096, near).prop_map(|(short, shape)| Attack::NearLimit(short, shape)),
        2 => (1usize..200, 3000usize..5000).prop_map(|(count, size)| Attack::PresenceSpam(count, size)),
    ]
}

/// The text of a frame `short` bytes under the limit.
fn near_limit(short: usize, shape: NearLimit) -> String {
    let filler = "n".repeat(MAX_FRAME_BYTES - short - 100);
    match shape {
        NearLimit::Presence => json!({ "type": "presence", "selection": filler }).to_string(),
        NearLimit::Title => json!({ "type": "patch", "ref": "t", "base_revision": 0,
            "patch": [{ "op": "replace", "path": "/title", "value": filler }] })
        .to_string(),
        NearLimit::Ping => json!({ "type": "ping", "ref": filler }).to_string(),
        NearLimit::Truncated => format!("{{\"type\":\"patch\",\"ref\":\"x\",\"junk\":\"{filler}"),
    }
}

/// What one attack saw.
#[derive(Debug, Default)]
struct Seen {
    frames: usize,
    errors: BTreeMap<String, usize>,
    closes: BTreeMap<Option<u16>, usize>,
    acks: usize,
}

/// Sends one sequence on a new session; checks what comes back.
async fn attack_once(served: &Target, frames: &[Attack], seen: &mut Seen) -> Result<(), TestCaseError> {
    let (mut client, _) =
        LiveClient::connect(&served.address, &served.project, &served.dialogue_id, &served.token, None)
            .await
            .map_err(|error| TestCaseError::fail(format!("the attacker cannot connect: {error}")))?;
    client.set_timeout(Duration::from_secs(20));
    let expected = frames.iter().find_map(Attack::closes_with);
    for frame in frames {
        seen.frames += 1;
        let sent = match frame {
            Attack::Text(text) => client.send_text(text.clone()).await,
            Attack::Binary(bytes) => client.send_binary(bytes.clone()).await,
            Attack::Oversized(extra) => client.send_text("o".repeat(MAX_FRAME_BYTES + extra)).await,
            Attack::NearLimit(short, shape) => client.send_text(near_limit(*short, *shape)).await,
            Attack::PresenceSpam(count, size) => {
                let selection = json!({ "spam": "s".repeat(*size) });
                let mut sent = Ok(());
                for _ in 0..*count {
                    sent = client.send_presence(selection.clone()).await;
                    if sent.is_err() {
                        break;
                    }
                }
                sent
            }
        };
        if sent.is_err() || frame.closes_with().is_some() {
            break;
        }
    }
    // A ping after the sequence: a session that is still open answers it.
    let _ = client.send_ping("end").await;
    let closed = loop {
        match client.next().await {
            Ok(ServerFrame::Pong { reference }) if reference == "end" => break None,
            Ok(ServerFrame::Error { error, .. }) => {
                prop_assert!(EXPECTED_ERRORS.contains(&error.kind.as_str()), "unexpected error {error:?}");
                *seen.errors.entry(error.kind).or_default() += 1;
            }
            Ok(ServerFrame::Ack { .. }) => seen.acks += 1,
            Ok(_) => {}
            Err(ClientError::Closed(code)) => break Some(code),
            Err(ClientError::Timeout) => return Err(TestCaseError::fail("no pong and no close within 20 s")),
            Err(error) => return Err(TestCaseError::fail(format!("the session broke: {error}"))),
        }
    };
    match closed {
        None => prop_assert!(expected.is_none(), "the session stayed open; expected close {expected:?}"),
        Some(code) => {
            *seen.closes.entry(code).or_default() += 1;
            prop_assert!(code.is_some_and(|c| DOCUMENTED_CLOSES.contains(&c)), "undocumented close {code:?}");
            prop_assert_eq!(code, expected, "the close code");
        }
    }
    client.close().await;
    Ok(())
}

/// Where the attacker connects.
struct Target {
    address: String,
    project: String,
    dialogue_id: String,
    token: String,
}

/// Runs the proptest cases on a thread and runtime of their own (proptest's runner is
/// synchronous); sends back what they saw, or the failure.
fn fuzz(target: Target) -> oneshot::Receiver<Result<Seen, String>> {
    let (done, result) = oneshot::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
        let config = Config { cases: CASES, failure_persistence: None, max_shrink_iters: 32, ..Config::default() };
        let mut runner = TestRunner::new(config);
        let seen = Mutex::new(Seen::default());
        let outcome = runner.run(&prop::collection::vec(attack(), 1..12), |frames| {
            let mut seen = seen.lock().expect("not poisoned");
            runtime.block_on(attack_once(&target, &frames, &mut seen))
        });
        let _ = done.send(outcome.map(|()| seen.into_inner().expect("not poisoned")).map_err(|e| e.to_string()));
    });
    result
}

/// A well-behaved editor until `stop`: appends a block, then removes it again (so the sequence
/// never fills up), one patch at a time, catching up and retrying after a conflict; every other
/// refusal fails the test. Returns its replica, how many patches were acknowledged and how many
/// were refused as over the rate limit (and sent again after the wait).
async fn editor(
    mut client: LiveClient,
    mut replica: Replica,
    stop: watch::Receiver<bool>,
) -> (LiveClient, Replica, usize, usize) {
    let (mut acked, mut limited) = (0, 0);
    let mut appended: Option<String> = None;
    while !*stop.borrow() {
        let mut attempt = 0;
        'retry: loop {
            attempt += 1;
            let reference = format!("{acked}#{attempt}");
            let blocks = replica.content["sequences"][0]["blocks"].as_array().expect("blocks");
            let mine = appended.as_ref().and_then(|id| blocks.iter().position(|b| b["id"] == id.as_str()));
            let patch = match mine {
                Some(index) => json!([{ "op": "remove", "path": format!("/sequences/0/blocks/{index}") }]),
                // Nothing of ours to remove (or the attacker moved it away): append.
                None => append_block(&format!("good-{acked}")),
            };
            client.send_patch(&reference, replica.number, patch).await.expect("the editor sends");
            loop {
                match client.next().await.expect("the editor keeps receiving") {
                    ServerFrame::Revision { revision } => replica.apply(&revision).expect("revisions in order"),
                    ServerFrame::Ack { reference: acked_ref, revision } if acked_ref == reference => {
                        replica.apply(&revision).expect("the ack is the next revision");
                        appended = mine.is_none().then(|| format!("good-{acked}"));
                        break 'retry;
                    }
                    ServerFrame::Error { reference: Some(refused), error } if refused == reference => {
                        match error.kind.as_str() {
                            "conflict" => {}
                            // Faster than the server allows: wait as told (nothing was applied).
                            "rate_limited" => {
                                limited += 1;
                                let wait = error.details["retry_after"].as_u64().unwrap_or(1);
                                tokio::time::sleep(Duration::from_secs(wait)).await;
                            }
                            _ => panic!("the editor's patch was refused: {error:?}"),
                        }
                        continue 'retry;
                    }
                    _ => {}
                }
            }
        }
        acked += 1;
    }
    (client, replica, acked, limited)
}

#[actix_web::test]
async fn hostile_frames_neither_crash_nor_bloat_the_server_nor_disturb_an_editor() {
    tokio::time::timeout(TEST_BOUND, async {
        let mut served = Served::start(&[QUIET_LOG]).await;
        let permission = json!({ "type": "project:dialogues:write", "properties": { "project_id": served.project } });
        let (_, attacker_token) = served.api.user_with("attacker", permission).await;
        let address = served.server.address();
        let token = served.api.admin_token.clone();
        let (client, welcome) = LiveClient::connect(&address, &served.project, &served.dialogue_id, &token, None)
            .await
            .expect("the editor connects");
        let replica = welcome.replica().expect("a full welcome");
        let before = served.server.resident_bytes();
        let started = Instant::now();

        let target = Target {
            address: address.clone(),
            project: served.project.clone(),
            dialogue_id: served.dialogue_id.clone(),
            token: attacker_token,
        };
        let (stop, stopped) = watch::channel(false);
        let attacks = async {
            let result = fuzz(target).await.expect("the fuzzer reports");
            let _ = stop.send(true);
            result
        };
        let ((mut client, mut replica, acked, limited), seen) = tokio::join!(editor(client, replica, stopped), attacks);
        let seen = seen.unwrap_or_else(|failure| panic!("{failure}"));
        let elapsed = started.elapsed();
        let peak = served.server.resident_bytes();

        assert!(served.healthy().await, "the server survived");
        let revisions = served.api.all_revisions(&token, &served.path).await;
        for (index, revision) in revisions.iter().enumerate() {
            assert_eq!(revision["number"], index as i64 + 1, "no gap in the history");
        }
        let newest = revisions.len() as i64;
        while replica.number < newest {
            if let ServerFrame::Revision { revision } = client.next().await.expect("the editor keeps receiving") {
                replica.apply(&revision).expect("revisions in order");
            }
        }
        let head = served.api.get(&served.path, &token).await;
        assert_eq!(head.status, 200, "{}", head.body);
        assert_eq!(replica.content, content_of(&head.body), "the editor's replica equals GET");
        assert_eq!(replay(&served.initial, &revisions), content_of(&head.body), "GET equals the replay");
        client.close().await;
        let mib = |bytes: u64| bytes as f64 / (1024.0 * 1024.0);
        eprintln!(
            "fuzz: {CASES} cases, {} frames in {elapsed:?}; attacker errors {:?}, closes {:?}, acks {}; editor {acked} \
             patches acknowledged ({limited} rate-limited first); {} revisions; RSS before {:.1} MiB, after {:.1} MiB",
            seen.frames,
            seen.errors,
            seen.closes,
            seen.acks,
            revisions.len(),
            mib(before),
            mib(peak)
        );
        assert!(acked > 0, "the editor got patches through");
        assert!(peak < before + MEMORY_BOUND, "memory grew from {:.1} to {:.1} MiB", mib(before), mib(peak));
    })
    .await
    .expect("bounded");
}
