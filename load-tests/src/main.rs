//! `dialogue-load`: drives a dialogue-server (or, for comparison, a ShareDB server) with one of
//! the scenarios, at each of several client counts, and writes JSON, Markdown and an SVG chart.
//! Every run is bounded in time and stops by itself; targets are on loopback.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand, ValueEnum};
use dialogue_load_tests::api::Api;
use dialogue_load_tests::metrics::MetricsProbe;
use dialogue_load_tests::report;
use dialogue_load_tests::scenarios::{self, Counters, Run, Samples};
use dialogue_load_tests::sharedb;
use dialogue_load_tests::stats::{ProcSample, ProcUsage, Recorder, RunResult};

#[derive(Parser)]
#[command(name = "dialogue-load", about = "Load tests for dialogue-server, side by side with ShareDB")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs a scenario at each client count.
    Run(Box<RunArgs>),
    /// Prints the ratios between two result files (ours, then the peer's).
    Compare {
        /// dialogue-server results (JSON).
        ours: PathBuf,
        /// ShareDB results (JSON).
        theirs: PathBuf,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Target {
    /// dialogue-server.
    Dialogue,
    /// A ShareDB server (load-tests/peers/sharedb/server.js).
    Sharedb,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Scenario {
    /// N editors on one dialogue.
    Hot,
    /// One pipelined writer, N watchers.
    Fanout,
    /// N dialogues with --per-dialogue editors each, at --rate patches/s in all.
    Many,
    /// N HTTP clients reading (and optionally patching) a dialogue.
    Rest,
    /// N sessions reconnecting with `since` while a writer edits.
    Reconnect,
    /// hot on a dialogue of --dialogue-bytes, while one REST client GETs it in a loop.
    Big,
    /// Cold load on the second server of a dialogue with N revisions (needs --second-url).
    Cold,
    /// hot with the editors split over two server processes (needs --second-url).
    Split,
}

#[derive(clap::Args)]
struct RunArgs {
    /// What to load.
    #[arg(long, value_enum, default_value = "dialogue")]
    target: Target,
    /// The scenario.
    #[arg(long, value_enum)]
    scenario: Scenario,
    /// Server base URL (loopback).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// Base URL of a second server process on the same database (cold, split).
    #[arg(long)]
    second_url: Option<String>,
    /// `GET /metrics` URL of each server process (repeat, or a comma list), in the order of
    /// --url and --second-url; round trips per revision are summed over them.
    #[arg(long, value_delimiter = ',')]
    metrics_url: Vec<String>,
    /// Client counts to run, one run each (editors for hot, big and split, watchers for fanout,
    /// dialogues for many, HTTP clients for rest, reconnecting sessions for reconnect,
    /// revisions per dialogue for cold).
    #[arg(long, value_delimiter = ',', default_value = "1,10,50,200")]
    clients: Vec<usize>,
    /// Seconds each run lasts.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Open loop: patches/s in all (hot, big, split, many); 0 means closed loop.
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
    /// fanout: patches the writer keeps in flight.
    #[arg(long, default_value_t = 32)]
    window: usize,
    /// many: editors per dialogue.
    #[arg(long, default_value_t = 2)]
    per_dialogue: usize,
    /// rest: one request in this many is a PATCH (0: reads only).
    #[arg(long, default_value_t = 0)]
    write_every: u64,
    /// big: the size of the dialogue's JSON, in bytes.
    #[arg(long, default_value_t = 1 << 20)]
    dialogue_bytes: usize,
    /// cold: fresh dialogues loaded per revision count (each one is given all its revisions).
    #[arg(long, default_value_t = 3)]
    cold_dialogues: usize,
    /// The server processes' ids (repeat, or a comma list), for their CPU and memory: summed
    /// in `server`, one by one in `servers`.
    #[arg(long, value_delimiter = ',')]
    server_pid: Vec<u32>,
    /// Sign-in e-mail (dialogue-server).
    #[arg(long, env = "DIALOGUE_ADMIN_EMAIL", default_value = "admin@localhost")]
    email: String,
    /// Sign-in password (dialogue-server).
    #[arg(long, env = "DIALOGUE_ADMIN_PASSWORD", default_value = "change-me-now")]
    password: String,
    /// Where results go.
    #[arg(long, default_value = "load-tests/results")]
    out: PathBuf,
    /// Name of the result files (default: <scenario>-<target>).
    #[arg(long)]
    name: Option<String>,
    /// Register a webhook (all events) on every project, pointing at a receiver in this
    /// process; the servers need DIALOGUE_SECRET_KEY and DIALOGUE_WEBHOOK_ALLOW_PRIVATE=true
    /// (`LOAD_WEBHOOK=on load-tests/run …` sets both).
    #[arg(long)]
    webhook: bool,
    /// Live sessions ask for `batch` frames (`?batch=true`), as the JavaScript client does;
    /// `--batch false` for one WebSocket frame per protocol frame.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    batch: bool,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Compare { ours, theirs } => {
            let ours: Vec<RunResult> = serde_json::from_str(&std::fs::read_to_string(ours)?)?;
            let theirs: Vec<RunResult> = serde_json::from_str(&std::fs::read_to_string(theirs)?)?;
            print!("{}", report::compare(&ours, &theirs));
            Ok(())
        }
        Command::Run(args) => {
            let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            runtime.block_on(run_all(*args))
        }
    }
}

async fn run_all(args: RunArgs) -> anyhow::Result<()> {
    let target_name = match args.target {
        Target::Dialogue => "dialogue-server",
        Target::Sharedb => "sharedb",
    };
    let scenario_name = match args.scenario {
        Scenario::Hot => "hot",
        Scenario::Fanout => "fanout",
        Scenario::Many => "many",
        Scenario::Rest => "rest",
        Scenario::Reconnect => "reconnect",
        Scenario::Big => "big",
        Scenario::Cold => "cold",
        Scenario::Split => "split",
    };
    if matches!(args.scenario, Scenario::Cold | Scenario::Split) && args.second_url.is_none() {
        return Err(scenarios::second_server_missing(scenario_name));
    }
    let mut results = Vec::new();
    for &clients in &args.clients {
        let result = run_one(&args, target_name, scenario_name, clients).await?;
        eprintln!("\r{}{}", report::summary_line(&result), " ".repeat(20));
        results.push(result);
    }
    let name = args.name.clone().unwrap_or_else(|| format!("{scenario_name}-{target_name}"));
    report::write(&args.out, &name, &results)?;
    println!("{}", report::markdown(&results));
    eprintln!("results: {}", args.out.join(format!("{name}.{{json,md,svg}}")).display());
    Ok(())
}

async fn run_one(args: &RunArgs, target: &str, scenario: &str, clients: usize) -> anyhow::Result<RunResult> {
    let counters = Arc::new(Counters::default());
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.seconds) + Duration::from_secs(2);
    let progress = tokio::spawn(progress(counters.clone(), format!("{target} {scenario} clients={clients}")));
    let metrics = Arc::new(MetricsProbe::new(args.metrics_url.clone()));
    // Until the scenario says where its measured phase starts, it starts here.
    metrics.mark_start().await;
    let (samples, baseline) = match args.target {
        Target::Sharedb => {
            let run = sharedb::Run { base: args.url.clone(), epoch: started, deadline, counters: counters.clone() };
            let server = server_samples(&args.server_pid);
            let client = ProcSample::now(None);
            let samples = match args.scenario {
                Scenario::Hot => sharedb::hot(Arc::new(run), clients).await?,
                Scenario::Fanout => sharedb::fanout(Arc::new(run), clients, args.window).await?,
                _ => anyhow::bail!("the ShareDB peer runs the hot and fanout scenarios only"),
            };
            (samples, (server, client))
        }
        Target::Dialogue => {
            let mut api = Api::sign_in(&args.url, &args.email, &args.password).await?;
            let receiver = match args.webhook {
                true => Some(dialogue_load_tests::webhook_receiver::WebhookReceiver::start().await?),
                false => None,
            };
            api.webhook = receiver.as_ref().map(|receiver| receiver.url.clone());
            let run = Arc::new(Run {
                api,
                second_url: args.second_url.clone(),
                epoch: started,
                deadline,
                counters: counters.clone(),
                metrics: metrics.clone(),
                batch: args.batch,
            });
            let server = server_samples(&args.server_pid);
            let client = ProcSample::now(None);
            let samples: Samples = match args.scenario {
                Scenario::Hot => scenarios::hot(run, clients, args.rate).await?,
                Scenario::Fanout => scenarios::fanout(run, clients, args.window).await?,
                Scenario::Many => {
                    let length = Duration::from_secs(args.seconds);
                    scenarios::many(run, clients, args.per_dialogue, args.rate, length).await?
                }
                Scenario::Rest => scenarios::rest(run, clients, args.write_every).await?,
                Scenario::Reconnect => scenarios::reconnect(run, clients).await?,
                Scenario::Big => scenarios::big(run, clients, args.rate, args.dialogue_bytes).await?,
                Scenario::Cold => scenarios::cold(run, clients, args.cold_dialogues).await?,
                Scenario::Split => scenarios::split(run, clients, args.rate).await?,
            };
            if let Some(receiver) = &receiver {
                let received = &receiver.received;
                eprintln!(
                    "\rwebhook: {} deliveries so far, covering {} revisions",
                    received.deliveries.load(Ordering::Relaxed),
                    received.revisions.load(Ordering::Relaxed)
                );
            }
            (samples, (server, client))
        }
    };
    metrics.mark_end().await;
    progress.abort();
    let measured_from = Duration::from_micros(counters.measured_from_us.load(Ordering::Relaxed));
    let measured_until = match counters.measured_until_us.load(Ordering::Relaxed) {
        0 => started.elapsed(),
        until => Duration::from_micros(until),
    };
    let seconds = measured_until.saturating_sub(measured_from).as_secs_f64();
    let servers: Vec<ProcUsage> = baseline
        .0
        .iter()
        .zip(&args.server_pid)
        .map(|(sample, &pid)| sample.map(|sample| sample.usage_since(Some(pid))).unwrap_or_default())
        .collect();
    let client_cpu = baseline.1.map(|sample| sample.usage_since(None).cpu_cores).unwrap_or_default();
    let store_work = metrics.work();
    let get = |counter: &std::sync::atomic::AtomicU64| counter.load(Ordering::Relaxed);
    let (committed, delivered, requests) =
        (get(&counters.committed), get(&counters.delivered), get(&counters.requests));
    Ok(RunResult {
        target: target.to_owned(),
        scenario: scenario.to_owned(),
        clients,
        rate: args.rate,
        seconds,
        committed,
        committed_per_s: committed as f64 / seconds,
        deliveries: delivered,
        deliveries_per_s: delivered as f64 / seconds,
        requests,
        requests_per_s: requests as f64 / seconds,
        ack: scenarios::latency(&samples.ack),
        broadcast: scenarios::latency(&samples.broadcast),
        conflicts: get(&counters.conflicts),
        errors: get(&counters.errors),
        refused: get(&counters.refused),
        skipped: get(&counters.skipped),
        store_round_trips: store_work.map(|work| work.round_trips.round() as u64),
        revisions_stored: store_work.map(|work| work.revisions.round() as u64),
        round_trips_per_revision: store_work.and_then(|work| work.round_trips_per_revision()),
        get: scenarios::latency(&samples.get),
        dialogue_bytes: samples.dialogue_bytes,
        cold_load: scenarios::latency(&samples.cold_load),
        cold_load_round_trips: samples.cold_load_round_trips,
        ack_by_server: samples.ack_by_server.iter().map(Recorder::latency).collect(),
        server: ProcUsage::sum(&servers),
        servers,
        client_cpu_cores: client_cpu,
    })
}

/// Every server process's CPU time now, in the order of their pids.
fn server_samples(pids: &[u32]) -> Vec<Option<ProcSample>> {
    pids.iter().map(|&pid| ProcSample::now(Some(pid))).collect()
}

/// A progress line on stderr, once a second.
async fn progress(counters: Arc<Counters>, label: String) {
    let started = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        let get = |counter: &std::sync::atomic::AtomicU64| counter.load(Ordering::Relaxed);
        let seconds = started.elapsed().as_secs_f64().max(1e-9);
        eprint!(
            "\r{label}  {:>5.1}s  committed {:>8} ({:>7.0}/s)  delivered {:>9} ({:>8.0}/s)  requests {:>8}  conflicts {:>5}  refused {:>5}  errors {:>5}   ",
            seconds,
            get(&counters.committed),
            get(&counters.committed) as f64 / seconds,
            get(&counters.delivered),
            get(&counters.delivered) as f64 / seconds,
            get(&counters.requests),
            get(&counters.conflicts),
            get(&counters.refused),
            get(&counters.errors),
        );
    }
}
