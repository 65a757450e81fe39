//! A server process killed with SIGKILL under WebSocket load while another process on the same
//! database keeps serving. Its editors move to the survivor with `since` and keep editing as a
//! real client would: a patch that had no answer when the process died has an unknown outcome,
//! so the client checks whether it arrived in the history before sending it again, and a block
//! id is unique, so a patch sent twice is stored at most once. What must hold: every
//! acknowledged revision is stored, the numbers have no gap, every session saw every number
//! once and in order, and every replica and `GET` equal the replay of the stored patches.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use dialogue_client::{ClientError, LiveClient, Replica, ServerFrame, WelcomeExt};
use serde_json::Value;
use tokio::sync::watch;

use crate::helpers::{TestApp, append_block, content_of, replay, sample_dialogue, spawn_app};
use crate::process::{QUIET_LOG, ServerProcess};

/// How long the test may run before it is declared stuck.
const TEST_BOUND: Duration = Duration::from_secs(120);
/// Patches an editor keeps in flight.
const WINDOW: usize = 3;
/// Acknowledged patches, over the editors on the doomed process, before the kill (and each of
/// them has had one at least).
const KILL_AT: usize = 60;
/// The editors that start on the doomed process.
const ON_CHILD: usize = 5;
/// Within this long after the kill, every editor's writes are acknowledged again.
const RECOVERY_BOUND: Duration = Duration::from_secs(8);
/// Acknowledged patches each editor collects after the kill before it stops.
const AFTER_KILL: usize = 15;

/// Where a block (one patch) stands; `n` counts the attempts made so far.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Outcome {
    /// To be sent (again).
    Unsent(u32),
    /// Sent on the current connection.
    InFlight(u32),
    /// Sent on a connection that broke before the answer: stored or not, unknown.
    Unknown(u32),
    /// The server refused a later attempt because the block exists: an earlier one was stored
    /// and arrives as a revision.
    Exists(u32),
}

/// What one editor saw, for the checks and the figures.
#[derive(Default, Debug)]
struct Report {
    name: String,
    /// Its replica when it stopped.
    replica: Option<Replica>,
    /// Blocks it never saw stored (must be none).
    unsettled: Vec<String>,
    /// Revision ids acknowledged to it.
    acknowledged: BTreeSet<String>,
    /// Disconnects (close codes, socket errors), failed connects, error frames by type.
    closes: Vec<String>,
    connect_failures: usize,
    errors: BTreeMap<String, usize>,
    /// Patches without an answer when a connection broke, and what became of them.
    unknown: usize,
    found_stored: usize,
    resubmitted: usize,
    refused_as_duplicate: usize,
    /// Welcomes that carried the whole dialogue although `since` was given.
    full_welcomes: usize,
    /// From the kill to this editor's first acknowledgement after its last failure (or after
    /// the kill, when it saw none after it).
    recovery: Option<Duration>,
}

/// Where an editor connects and what it edits.
#[derive(Clone, Copy)]
struct Target<'a> {
    first: &'a str,
    fallback: &'a str,
    token: &'a str,
    project: &'a str,
    dialogue_id: &'a str,
}

/// One editor: appends blocks `{name}-{n}` over a live session with up to [`WINDOW`] patches in
/// flight, on `first` until its connection breaks, then on `fallback`.
struct Editor<'a> {
    target: Target<'a>,
    report: Report,
    /// Blocks not yet seen stored.
    outcomes: BTreeMap<String, Outcome>,
    /// Blocks made so far.
    created: usize,
    /// Acknowledgements after the kill.
    after_kill: usize,
    /// Acknowledgements on the doomed process, by editor: the kill waits for them.
    acks: watch::Sender<BTreeMap<String, usize>>,
    /// Whether the current session is on the doomed process.
    on_child: bool,
    killed: watch::Receiver<Option<Instant>>,
}

impl<'a> Editor<'a> {
    fn new(
        name: &str,
        target: Target<'a>,
        acks: &watch::Sender<BTreeMap<String, usize>>,
        killed: &watch::Receiver<Option<Instant>>,
    ) -> Self {
        let report = Report { name: name.to_owned(), ..Report::default() };
        Self {
            target,
            report,
            outcomes: BTreeMap::new(),
            created: 0,
            after_kill: 0,
            acks: acks.clone(),
            on_child: false,
            killed: killed.clone(),
        }
    }

    async fn run(mut self) -> Report {
        let mut replica: Option<Replica> = None;
        let mut server = self.target.first;
        loop {
            let since = replica.as_ref().map(|r| r.number);
            let Target { token, project, dialogue_id, fallback, .. } = self.target;
            let (mut client, welcome) = match LiveClient::connect(server, project, dialogue_id, token, since).await {
                Ok(session) => session,
                Err(_) => {
                    self.report.connect_failures += 1;
                    if server == fallback {
                        // The survivor refused: a client backs off before retrying.
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    server = fallback;
                    continue;
                }
            };
            client.set_timeout(Duration::from_secs(15));
            self.on_child = server != fallback;
            if let Some(fresh) = welcome.replica() {
                self.report.full_welcomes += usize::from(replica.is_some());
                replica = Some(fresh);
            }
            let mut local = replica.take().expect("a replica: the first welcome carries the dialogue");
            // Catch up to the head the welcome announced, then settle what the last connection
            // left unknown: stored if its block is there, else sent again.
            let mut broke = None;
            while local.number < welcome.newest() {
                match client.next().await {
                    Ok(ServerFrame::Revision { revision }) => {
                        local.apply(&revision).expect("catch-up in order, once each")
                    }
                    Ok(_) => {}
                    Err(error) => {
                        broke = Some(format!("during catch-up: {error}"));
                        break;
                    }
                }
            }
            self.settle(&local);
            for outcome in self.outcomes.values_mut() {
                if let Outcome::Unknown(attempts) = *outcome {
                    *outcome = Outcome::Unsent(attempts);
                    self.report.resubmitted += 1;
                }
            }
            if broke.is_none() {
                broke = self.edit(&mut client, &mut local).await;
            }
            replica = Some(local);
            let Some(why) = broke else {
                client.close().await;
                break;
            };
            self.report.closes.push(why);
            self.failed();
            for outcome in self.outcomes.values_mut() {
                if let Outcome::InFlight(attempts) = *outcome {
                    *outcome = Outcome::Unknown(attempts);
                    self.report.unknown += 1;
                }
            }
            server = fallback;
        }
        self.report.replica = replica;
        self.report.unsettled = self.outcomes.into_keys().collect();
        self.report
    }

    /// Edits on one connection until this editor is done (`None`) or the connection breaks
    /// (`Some(why)`).
    async fn edit(&mut self, client: &mut LiveClient, local: &mut Replica) -> Option<String> {
        // This connection's patch refs, to their blocks.
        let mut refs: BTreeMap<String, String> = BTreeMap::new();
        loop {
            let done = self.after_kill >= AFTER_KILL;
            if done && self.outcomes.is_empty() {
                return None;
            }
            let in_flight = self.outcomes.values().filter(|o| matches!(o, Outcome::InFlight(_))).count();
            if in_flight < WINDOW {
                let resend = self.outcomes.iter().find_map(|(block, o)| match o {
                    Outcome::Unsent(attempts) => Some((block.clone(), *attempts)),
                    _ => None,
                });
                let next = match resend {
                    Some(found) => Some(found),
                    None if !done => {
                        self.created += 1;
                        Some((format!("{}-{}", self.report.name, self.created), 0))
                    }
                    None => None,
                };
                if let Some((block, attempts)) = next {
                    let reference = format!("{block}#{}", attempts + 1);
                    if let Err(error) = client.send_patch(&reference, local.number, append_block(&block)).await {
                        return Some(format!("send: {error}"));
                    }
                    self.outcomes.insert(block.clone(), Outcome::InFlight(attempts + 1));
                    refs.insert(reference, block);
                    continue;
                }
            }
            match client.next().await {
                Ok(ServerFrame::Revision { revision }) => {
                    local.apply(&revision).expect("revisions in order, once each");
                    self.settle(local);
                }
                Ok(ServerFrame::Ack { reference, revision }) => {
                    let block = refs.get(&reference).expect("an ack for a patch of this session");
                    let outcome = self.outcomes.get(block);
                    assert!(matches!(outcome, Some(Outcome::InFlight(_))), "{reference} acknowledged when {outcome:?}");
                    local.apply(&revision).expect("the ack is the next revision");
                    self.report.acknowledged.insert(revision["id"].as_str().expect("an id").to_owned());
                    self.settle(local);
                    if self.on_child {
                        self.acks.send_modify(|acks| *acks.entry(self.report.name.clone()).or_default() += 1);
                    }
                    if let Some(kill) = *self.killed.borrow() {
                        self.after_kill += 1;
                        self.report.recovery.get_or_insert_with(|| kill.elapsed());
                    }
                }
                Ok(ServerFrame::Error { reference: Some(reference), error }) => {
                    *self.report.errors.entry(error.kind.clone()).or_default() += 1;
                    self.failed();
                    let block = refs.get(&reference).expect("an error for a patch of this session").clone();
                    let duplicate = error.kind == "validation_error";
                    let Some(&Outcome::InFlight(attempts)) = self.outcomes.get(&block) else {
                        // Already seen stored: this was a later attempt, refused as a duplicate,
                        // or answered without being stored (a block id is unique, so it can
                        // never be stored twice): for example handed to the killed process,
                        // which still won the numbers, and answered `unavailable` after the
                        // handoff timeout, while the attempt before it, stored by that process
                        // just before the kill, arrived through the change feed.
                        match error.kind.as_str() {
                            _ if duplicate => self.report.refused_as_duplicate += 1,
                            "unavailable" | "conflict" | "rate_limited" => {}
                            _ => panic!("{reference} refused after it was stored: {error:?}"),
                        }
                        continue;
                    };
                    let next = match error.kind.as_str() {
                        // A block id is unique: a later attempt refused as invalid means an
                        // earlier one was stored, and arrives as a revision.
                        "validation_error" if attempts > 1 => {
                            self.report.refused_as_duplicate += 1;
                            Outcome::Exists(attempts)
                        }
                        // Maybe stored (then it arrives, and the next attempt is refused as a
                        // duplicate), maybe not: send it again.
                        "unavailable" | "internal_error" | "conflict" => Outcome::Unsent(attempts),
                        "rate_limited" => {
                            let wait = error.details["retry_after"].as_u64().unwrap_or(1);
                            tokio::time::sleep(Duration::from_secs(wait)).await;
                            Outcome::Unsent(attempts)
                        }
                        _ => panic!("{reference} refused: {error:?}"),
                    };
                    self.outcomes.insert(block, next);
                }
                Ok(_) => {}
                Err(ClientError::Replica(error)) => panic!("{}: {error}", self.report.name),
                Err(error) => return Some(error.to_string()),
            }
        }
    }

    /// A refusal or a broken connection: after the kill, recovery is counted from the kill to
    /// the first acknowledgement after the last of these.
    fn failed(&mut self) {
        if self.killed.borrow().is_some() {
            self.report.recovery = None;
        }
    }

    /// Forgets every block that is in the replica (its patch arrived, acknowledged or not).
    fn settle(&mut self, replica: &Replica) {
        let present: BTreeSet<&str> = replica.content["sequences"][0]["blocks"]
            .as_array()
            .expect("blocks")
            .iter()
            .filter_map(|block| block["id"].as_str())
            .collect();
        let report = &mut self.report;
        self.outcomes.retain(|block, outcome| {
            if !present.contains(block.as_str()) {
                return true;
            }
            if let Outcome::Unknown(_) = outcome {
                report.found_stored += 1;
            }
            false
        });
    }
}

/// Creates a dialogue; returns (id, path, initial content).
async fn dialogue(app: &TestApp, project: &str, title: &str) -> (String, String, Value) {
    let created = app.create_dialogue(&app.admin_token, project, &sample_dialogue(title)).await;
    let id = created["id"].as_str().expect("an id").to_owned();
    (id, created["url"].as_str().expect("a url").to_owned(), content_of(&created))
}

/// The checks on one dialogue once its editors stopped.
async fn check(app: &TestApp, path: &str, initial: &Value, reports: &[&Report]) {
    let revisions = app.all_revisions(&app.admin_token, path).await;
    for (index, revision) in revisions.iter().enumerate() {
        assert_eq!(revision["number"], index as i64 + 1, "no gap in the history");
    }
    let stored: BTreeSet<&str> = revisions.iter().map(|r| r["id"].as_str().expect("an id")).collect();
    for report in reports {
        let lost: Vec<&String> = report.acknowledged.iter().filter(|id| !stored.contains(id.as_str())).collect();
        assert!(lost.is_empty(), "{}: acknowledged revisions not stored: {lost:?}", report.name);
        let replica = report.replica.as_ref().expect("a replica");
        let upto = usize::try_from(replica.number).expect("a number");
        assert_eq!(replica.content, replay(initial, &revisions[..upto]), "{}: replica equals the replay", report.name);
    }
    // Every block an editor stored is in exactly one revision: nothing resubmitted was stored
    // twice.
    let mut adds: BTreeMap<&str, usize> = BTreeMap::new();
    for revision in &revisions {
        for op in revision["properties"]["patch"].as_array().expect("a patch") {
            if let Some(id) = op["value"]["id"].as_str() {
                *adds.entry(id).or_default() += 1;
            }
        }
    }
    for report in reports {
        assert!(report.unsettled.is_empty(), "{}: blocks never seen stored: {:?}", report.name, report.unsettled);
    }
    let twice: Vec<_> = adds.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "blocks stored more than once: {twice:?}");
    let acknowledged: usize = reports.iter().map(|r| r.acknowledged.len()).sum();
    assert!(adds.len() >= acknowledged, "every acknowledged block is stored");
    let head = app.get(path, &app.admin_token).await;
    assert_eq!(head.status, 200, "{}", head.body);
    assert_eq!(replay(initial, &revisions), content_of(&head.body), "GET equals the replay");
    eprintln!("failover: {path}: {} revisions stored, {acknowledged} acknowledged", revisions.len());
}

#[actix_web::test]
async fn a_server_killed_under_websocket_load_loses_nothing_while_another_keeps_serving() {
    let survivor = spawn_app().await;
    let child = ServerProcess::start_with(&survivor.database, &[QUIET_LOG]);
    let project = survivor.create_project(&survivor.admin_token, "Failover").await;
    let (shared_id, shared_path, shared_initial) = dialogue(&survivor, &project, "Shared").await;
    let (other_id, other_path, other_initial) = dialogue(&survivor, &project, "Other").await;
    let (child_address, token) = (child.address(), survivor.admin_token.clone());
    let (acks, acked) = watch::channel(BTreeMap::<String, usize>::new());
    let (kill, killed) = watch::channel(None::<Instant>);
    let editor = |name: &str, first: &'static str, dialogue: &'static str| {
        let first = if first == "child" { child_address.as_str() } else { survivor.address.as_str() };
        let dialogue_id = if dialogue == "shared" { shared_id.as_str() } else { other_id.as_str() };
        let target = Target { first, fallback: &survivor.address, token: &token, project: &project, dialogue_id };
        Editor::new(name, target, &acks, &killed).run()
    };
    // Three editors on the child and one on the survivor share a dialogue (their writes race
    // across processes); two more on the child edit another dialogue, which the survivor has
    // not loaded when the child dies.
    let editors = futures_util::future::join_all([
        editor("a", "child", "shared"),
        editor("b", "child", "shared"),
        editor("c", "child", "shared"),
        editor("s", "survivor", "shared"),
        editor("d", "child", "other"),
        editor("e", "child", "other"),
    ]);
    let fault = async {
        let mut acked = acked;
        // Only acknowledgements on the child count, and from each of its editors: on a busy
        // machine the survivor's editor alone once reached the count before the child served
        // its first session, and the kill then broke no connection.
        acked
            .wait_for(|acks| acks.len() == ON_CHILD && acks.values().sum::<usize>() >= KILL_AT)
            .await
            .expect("the editors run");
        let _ = kill.send(Some(Instant::now()));
        child.signal("KILL");
    };
    let started = Instant::now();
    let (reports, ()) =
        tokio::time::timeout(TEST_BOUND, futures_util::future::join(editors, fault)).await.expect("bounded");
    let elapsed = started.elapsed();

    for report in &reports {
        eprintln!(
            "failover: editor {}: {} acknowledged, recovery {:?}, closes {:?}, connect failures {}, errors {:?}, \
             unknown at the kill {} (found stored {}, sent again {}, refused as duplicates {}), full welcomes {}",
            report.name,
            report.acknowledged.len(),
            report.recovery,
            report.closes,
            report.connect_failures,
            report.errors,
            report.unknown,
            report.found_stored,
            report.resubmitted,
            report.refused_as_duplicate,
            report.full_welcomes,
        );
    }
    eprintln!("failover: ran {elapsed:?}");
    let (shared, other): (Vec<&Report>, Vec<&Report>) =
        reports.iter().partition(|r| ["a", "b", "c", "s"].contains(&r.name.as_str()));
    check(&survivor, &shared_path, &shared_initial, &shared).await;
    check(&survivor, &other_path, &other_initial, &other).await;
    for report in reports.iter().filter(|r| r.name != "s") {
        assert!(!report.closes.is_empty(), "{}: the kill broke its connection", report.name);
    }
    // A write the survivor handed to the dead process is answered `unavailable` after
    // `HANDOFF_TIMEOUT` (5 s), and sent again; nothing should take much longer.
    for report in &reports {
        let recovery = report.recovery.expect("acknowledgements after the kill");
        assert!(recovery < RECOVERY_BOUND, "{}: writes resumed only after {recovery:?}", report.name);
    }
}
