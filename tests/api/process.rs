//! Tests that need real processes: the server binary under signals, and a database that goes
//! away and comes back.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::http::Method;

use crate::helpers::{Api, content_of, sample_dialogue, spawn_app_with, test_database_uri};

/// Reads a child's output lines until one satisfies `find`, returning what `find` extracted; the
/// rest of the output is drained in the background so the child never writes to a closed pipe.
fn wait_for_line<R: std::io::Read + Send + 'static>(reader: R, find: impl Fn(&str) -> Option<String>) -> String {
    wait_for_line_keeping(reader, find, Arc::default()).0
}

/// [`wait_for_line`], keeping every line (before and after) in `kept`; also returns the thread
/// that keeps the rest, which ends when the output does.
fn wait_for_line_keeping<R: std::io::Read + Send + 'static>(
    reader: R,
    find: impl Fn(&str) -> Option<String>,
    kept: Arc<Mutex<Vec<String>>>,
) -> (String, std::thread::JoinHandle<()>) {
    let mut lines = BufReader::new(reader).lines();
    while let Some(line) = lines.next() {
        let line = line.expect("readable output");
        let found = find(&line);
        kept.lock().unwrap().push(line);
        if let Some(found) = found {
            let rest = std::thread::spawn(move || {
                lines.map_while(Result::ok).for_each(|line| kept.lock().unwrap().push(line))
            });
            return (found, rest);
        }
    }
    panic!("the process ended before printing the expected line");
}

/// A log filter for server processes in tests that only want warnings (and the `listening`
/// line that `start` reads the port from).
pub const QUIET_LOG: (&str, &str) = ("DIALOGUE_LOG", "warn,dialogue_server::startup=info");

/// A `dialogue-server` process started from the built binary.
pub struct ServerProcess {
    /// The child process.
    pub child: Child,
    /// Its port.
    pub port: u16,
    /// Every line it printed so far.
    pub log: Arc<Mutex<Vec<String>>>,
    /// The thread that reads its output into `log`; it ends when the output does.
    reader: Option<std::thread::JoinHandle<()>>,
}

impl ServerProcess {
    /// Starts the binary on a free port against the test database `database`.
    pub fn start(database: &str) -> Self {
        Self::start_with(database, &[])
    }

    /// Starts the binary with extra settings (`DIALOGUE_*` variables).
    pub fn start_with(database: &str, settings: &[(&str, &str)]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_dialogue-server"))
            .env_clear()
            .env("DIALOGUE_BIND", "127.0.0.1:0")
            .env("DIALOGUE_MONGODB_URI", test_database_uri())
            .env("DIALOGUE_DATABASE", database)
            .env("DIALOGUE_LOG", "info")
            .env("DIALOGUE_ADMIN_EMAIL", crate::helpers::ADMIN_EMAIL)
            .env("DIALOGUE_ADMIN_PASSWORD", crate::helpers::ADMIN_PASSWORD)
            .env("DIALOGUE_LOG_FORMAT", "json")
            .envs(settings.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the server binary starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let log = Arc::default();
        let (address, reader) = wait_for_line_keeping(
            stdout,
            |line| {
                let event: serde_json::Value = serde_json::from_str(line).ok()?;
                (event["message"] == "listening").then(|| event["address"].as_str().map(str::to_owned)).flatten()
            },
            Arc::clone(&log),
        );
        let port = address.rsplit(':').next().and_then(|port| port.parse().ok()).expect("a port in the listening line");
        Self { child, port, log, reader: Some(reader) }
    }

    /// The server's base URL.
    pub fn address(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The process's resident memory, in bytes.
    pub fn resident_bytes(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).expect("/proc is readable");
        let kib = status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|value| value.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .expect("a VmRSS line");
        kib * 1024
    }

    /// Sends a signal by name (`TERM`, `INT`, `KILL`).
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill").args([format!("-{name}"), self.child.id().to_string()]).status();
        assert!(status.is_ok_and(|s| s.success()), "kill -{name} failed");
    }

    /// Kills the process (`SIGKILL`) and returns every line it printed: its output is read to
    /// the end first, so a line printed just before the kill is not missed.
    pub fn kill_and_read_log(&mut self) -> String {
        self.signal("KILL");
        let _ = self.child.wait();
        if let Some(reader) = self.reader.take() {
            reader.join().expect("the output reader ends with the output");
        }
        self.log.lock().unwrap().join("\n")
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn status_of(port: u16, path: &str) -> Option<u16> {
    let client = awc::Client::builder().timeout(Duration::from_secs(10)).finish();
    client.get(format!("http://127.0.0.1:{port}{path}")).send().await.ok().map(|r| r.status().as_u16())
}

#[actix_web::test]
async fn sigterm_and_sigint_stop_the_server_cleanly() {
    for signal in ["TERM", "INT"] {
        let database = format!("test_{}", uuid::Uuid::new_v4().simple());
        let mut server = ServerProcess::start(&database);
        assert_eq!(status_of(server.port, "/readyz").await, Some(200));
        server.signal(signal);
        let status = server.child.wait().expect("the server exits");
        assert_eq!(status.code(), Some(0), "SIG{signal} exits with 0");
    }
}

/// A SecantusDB process of the test's own, which the test can freeze, kill and restart.
pub struct OwnDatabase {
    child: Child,
    /// Its port.
    pub port: u16,
    /// Where its data lives.
    pub storage: PathBuf,
}

impl OwnDatabase {
    fn binary() -> PathBuf {
        if let Ok(path) = std::env::var("SECANTUS_BIN") {
            return PathBuf::from(path);
        }
        let cargo_bin = std::env::var("HOME").map(|home| Path::new(&home).join(".cargo/bin/secantusd-rs"));
        match cargo_bin {
            Ok(path) if path.exists() => path,
            _ => PathBuf::from("secantusd-rs"),
        }
    }

    /// A database in a fresh directory, on a free port.
    pub fn fresh() -> Self {
        let storage = std::env::temp_dir().join(format!("dialogue-own-db-{}", uuid::Uuid::new_v4().simple()));
        Self::start(&storage, 0)
    }

    /// Its connection string.
    pub fn uri(&self) -> String {
        format!("mongodb://127.0.0.1:{}/?directConnection=true", self.port)
    }

    /// Starts a database with its data in `storage`, on `port` (0: a free one).
    pub fn start(storage: &Path, port: u16) -> Self {
        let mut child = Command::new(Self::binary())
            .args(["--port", &port.to_string(), "--storage-path"])
            .arg(storage)
            // The test kills this database with SIGKILL: without a synced log SecantusDB may lose
            // the writes of the last milliseconds (the token the test signed in with).
            .args(["--cache-size", "128M", "--log-file-max", "16MB", "--log-level", "WARNING", "--sync-on-commit"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("secantusd-rs starts (scripts/test installs it)");
        let stdout = child.stdout.take().expect("piped stdout");
        let port = wait_for_line(stdout, |line| line.split("listening on ").nth(1).map(str::to_owned))
            .rsplit(':')
            .next()
            .and_then(|port| port.trim().parse().ok())
            .expect("a port in the listening line");
        Self { child, port, storage: storage.to_owned() }
    }

    /// Kills it with SIGKILL, as a crash would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts it again on the same data and port, after `kill`.
    pub fn restart(&mut self) {
        self.kill();
        let again = Self::start(&self.storage, self.port);
        *self = again;
    }

    /// Sends a signal by name (`STOP` freezes it, `CONT` thaws it).
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill").args([format!("-{name}"), self.child.id().to_string()]).status();
        assert!(status.is_ok_and(|s| s.success()), "kill -{name} failed");
    }
}

impl Drop for OwnDatabase {
    fn drop(&mut self) {
        self.kill();
    }
}

#[actix_web::test]
async fn the_server_recovers_by_itself_when_the_database_returns() {
    let storage = std::env::temp_dir().join(format!("dialogue-own-db-{}", uuid::Uuid::new_v4().simple()));
    let mut database = OwnDatabase::start(&storage, 0);
    let uri = format!("mongodb://127.0.0.1:{}/?directConnection=true", database.port);
    let app = spawn_app_with(|settings| {
        settings.mongodb_uri = secrecy::SecretString::from(uri.clone());
        settings.database_timeout_secs = 1;
    })
    .await;
    assert_eq!(app.send(Method::GET, "/readyz", None, None, None).await.status, 200);
    assert_eq!(app.get("/user", &app.admin_token).await.status, 200);

    database.kill();
    // (GET /user may be answered from the caller cache; listing users needs the database.)
    let down = app.get("/users/", &app.admin_token).await;
    down.assert_error(503, "unavailable");
    assert!(down.header("retry-after").is_some());
    app.send(Method::GET, "/readyz", None, None, None).await.assert_error(503, "unavailable");

    let port = database.port;
    let storage = database.storage.clone();
    let _restarted = OwnDatabase::start(&storage, port);
    // The driver reconnects in the background; wait (bounded) for the server to notice.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let response = app.get("/users/", &app.admin_token).await;
        if response.status == 200 {
            break;
        }
        assert_eq!(response.status, 503, "only unavailability is expected meanwhile: {}", response.body);
        assert!(Instant::now() < deadline, "the server did not recover within 60 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(app.send(Method::GET, "/readyz", None, None, None).await.status, 200);
    let _ = std::fs::remove_dir_all(&storage);
}

/// A server process on a fresh database of its own, with one dialogue to work on, for the
/// tests that measure the process (its memory, its survival).
pub struct Served {
    /// The process.
    pub server: ServerProcess,
    /// A client for it, signed in as the bootstrap administrator.
    pub api: Api,
    /// The project.
    pub project: String,
    /// The dialogue.
    pub dialogue_id: String,
    /// The dialogue's path.
    pub path: String,
    /// Its content as created, which its revisions' patches apply to.
    pub initial: serde_json::Value,
}

impl Served {
    /// Starts the binary with extra settings (`DIALOGUE_*` variables) and creates the dialogue.
    pub async fn start(settings: &[(&str, &str)]) -> Self {
        let database = format!("test_{}", uuid::Uuid::new_v4().simple());
        let server = ServerProcess::start_with(&database, settings);
        let api = Api::connect(&server.address()).await;
        let project = api.create_project(&api.admin_token, "Faults").await;
        let created = api.create_dialogue(&api.admin_token, &project, &sample_dialogue("Faults")).await;
        let dialogue_id = created["id"].as_str().expect("an id").to_owned();
        let path = created["url"].as_str().expect("a url").to_owned();
        Self { server, api, project, dialogue_id, path, initial: content_of(&created) }
    }

    /// Whether the process is alive and `/healthz` answers `200`.
    pub async fn healthy(&mut self) -> bool {
        let alive = matches!(self.server.child.try_wait(), Ok(None));
        alive && self.api.send(Method::GET, "/healthz", None, None, None).await.status == 200
    }
}
