//! Settings: every knob is a CLI flag and a `DIALOGUE_*` environment variable (the contract fixes
//! the names); flags win over the environment, the environment over the defaults.

use std::path::PathBuf;
use std::time::Duration;

use clap::builder::BoolishValueParser;
use clap::{Parser, Subcommand, ValueEnum};
use secrecy::SecretString;

/// The server's command line.
#[derive(Debug, Clone, Parser)]
#[command(name = "dialogue-server", version, about = "Live, collaborative editing of SMS, USSD and chat dialogues")]
pub struct Cli {
    /// What to do; with no subcommand the server serves.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Server settings.
    #[command(flatten)]
    pub settings: Settings,
}

/// Subcommands besides serving.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Serve the API (the default).
    Serve,
    /// Exit 0 when a server at `--bind` answers `/readyz` with 200; for container health checks.
    CheckReady,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human readable lines.
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

/// Everything the server can be configured with.
#[derive(Debug, Clone, Parser)]
pub struct Settings {
    /// Address to listen on; port 0 picks a free port and the server logs the real one.
    #[arg(long, env = "DIALOGUE_BIND", default_value = "127.0.0.1:8080")]
    pub bind: String,

    /// When set (for example `127.0.0.1:9464`), a second listener serves Prometheus metrics at
    /// `GET /metrics`; port 0 picks a free port and the server logs the real one.
    #[arg(long, env = "DIALOGUE_METRICS_BIND")]
    pub metrics_bind: Option<String>,

    /// When set (for example `10.0.0.5:9470`), a third listener takes messages from the other
    /// server processes on the same database (peer links): writes handed to the process that
    /// owns a dialogue, and that process's revisions, sent directly instead of through the
    /// database. Needs `DIALOGUE_SECRET_KEY`, the same on every process; port 0 picks a free port.
    /// Keep it on a private network.
    #[arg(long, env = "DIALOGUE_PEER_BIND")]
    pub peer_bind: Option<String>,

    /// The URL other processes reach the peer listener at; defaults to `http://<peer bind>`
    /// (then the bind must name a concrete address, not `0.0.0.0`).
    #[arg(long, env = "DIALOGUE_PEER_URL")]
    pub peer_url: Option<String>,

    /// MongoDB connection string (a replica set, or a wire-compatible server).
    #[arg(long, env = "DIALOGUE_MONGODB_URI", default_value = "mongodb://127.0.0.1:27017", hide_env_values = true)]
    pub mongodb_uri: SecretString,

    /// Database name.
    #[arg(long, env = "DIALOGUE_DATABASE", default_value = "dialogue")]
    pub database: String,

    /// E-mail of the administrator created at start-up when no user has it.
    #[arg(long, env = "DIALOGUE_ADMIN_EMAIL")]
    pub admin_email: Option<String>,

    /// Password of the administrator created at start-up.
    #[arg(long, env = "DIALOGUE_ADMIN_PASSWORD", hide_env_values = true)]
    pub admin_password: Option<SecretString>,

    /// 32 bytes, base64: the key for secrets encrypted at rest.
    #[arg(long, env = "DIALOGUE_SECRET_KEY", hide_env_values = true)]
    pub secret_key: Option<SecretString>,

    /// The previous secret key, still accepted for decryption during a key rotation.
    #[arg(long, env = "DIALOGUE_SECRET_KEY_PREVIOUS", hide_env_values = true)]
    pub secret_key_previous: Option<SecretString>,

    /// Base URL used in links inside e-mails; defaults to `http://<bind>`.
    #[arg(long, env = "DIALOGUE_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// SMTP server for outgoing mail, such as `smtp://user:pass@host:587` or `smtps://host`.
    #[arg(long, env = "DIALOGUE_SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<SecretString>,

    /// Sender address of outgoing mail.
    #[arg(long, env = "DIALOGUE_MAIL_FROM", default_value = "dialogue-server <noreply@localhost>")]
    pub mail_from: String,

    /// Without SMTP: a directory where each outgoing mail is written as one JSON file.
    #[arg(long, env = "DIALOGUE_MAIL_OUTBOX")]
    pub mail_outbox: Option<PathBuf>,

    /// When true, `POST /users/` needs no authentication.
    #[arg(long, env = "DIALOGUE_OPEN_SIGNUP", default_value = "false", value_parser = BoolishValueParser::new(), action = clap::ArgAction::Set)]
    pub open_signup: bool,

    /// Log filter, in `tracing` `EnvFilter` syntax.
    #[arg(long, env = "DIALOGUE_LOG", default_value = "info")]
    pub log: String,

    /// Log line format.
    #[arg(long, env = "DIALOGUE_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,

    /// Largest accepted request body, in bytes (at most 15 MiB: a stored record must fit the
    /// database's 16 MiB document limit).
    #[arg(long, env = "DIALOGUE_MAX_BODY_BYTES", default_value_t = 4 * 1024 * 1024)]
    pub max_body_bytes: usize,

    /// Largest body accepted by the endpoints that need no authentication (sign-in, password
    /// reset), in bytes.
    #[arg(long, env = "DIALOGUE_MAX_ANONYMOUS_BODY_BYTES", default_value_t = 16 * 1024)]
    pub max_anonymous_body_bytes: usize,

    /// Largest dialogue description, serialized, in bytes (at most 15 MiB). A write that would
    /// make a dialogue larger, even half-way through a patch, is refused with `413`.
    #[arg(long, env = "DIALOGUE_MAX_DIALOGUE_BYTES", default_value_t = 2 * 1024 * 1024)]
    pub max_dialogue_bytes: usize,

    /// Most operations one JSON Patch may carry, over REST and live.
    #[arg(long, env = "DIALOGUE_MAX_PATCH_OPS", default_value_t = 1000)]
    pub max_patch_ops: usize,

    /// Longest a request body may take to arrive once the request's headers have, in seconds
    /// (at least 1); a body still incomplete then is answered `408` and its connection closed.
    #[arg(long, env = "DIALOGUE_BODY_TIMEOUT_SECS", default_value_t = 30)]
    pub body_timeout_secs: u64,

    /// Deepest nesting of arrays and objects accepted in any JSON body, live frame or
    /// dialogue (at most 100).
    #[arg(long, env = "DIALOGUE_MAX_JSON_DEPTH", default_value_t = 64)]
    pub max_json_depth: usize,

    /// Patches one live session may submit per second, on average.
    #[arg(long, env = "DIALOGUE_LIVE_PATCHES_PER_SECOND", default_value_t = 100)]
    pub live_patches_per_second: u32,

    /// Patches one live session may submit at once before the per-second rate applies.
    #[arg(long, env = "DIALOGUE_LIVE_PATCH_BURST", default_value_t = 200)]
    pub live_patch_burst: u32,

    /// Selections one live session's `presence` frames tell the others per second, at most;
    /// past it the latest waits and replaces the one waiting (nothing is refused).
    #[arg(long, env = "DIALOGUE_LIVE_PRESENCE_PER_SECOND", default_value_t = 20)]
    pub live_presence_per_second: u32,

    /// Live sessions one dialogue may have on one server process; more upgrades get `429`.
    #[arg(long, env = "DIALOGUE_MAX_SESSIONS_PER_DIALOGUE", default_value_t = 1000)]
    pub max_sessions_per_dialogue: usize,

    /// Lifetime of bearer tokens and browser sessions, in seconds.
    #[arg(long, env = "DIALOGUE_TOKEN_TTL", default_value_t = 30 * 24 * 3600)]
    pub token_ttl_secs: u64,

    /// Shortest password accepted.
    #[arg(long, env = "DIALOGUE_PASSWORD_MIN_LENGTH", default_value_t = 8)]
    pub password_min_length: usize,

    /// Failed sign-ins allowed per e-mail address and per client address each minute.
    #[arg(long, env = "DIALOGUE_LOGIN_ATTEMPTS_PER_MINUTE", default_value_t = 10)]
    pub login_attempts_per_minute: u32,

    /// Proxies whose `X-Forwarded-For` is believed, comma-separated addresses or CIDR ranges
    /// (for example `127.0.0.1,10.0.0.0/8`): behind them, the client address that throttles
    /// count is the nearest address the header names that is not a trusted proxy.
    #[arg(long, env = "DIALOGUE_TRUSTED_PROXIES", value_delimiter = ',', value_parser = parse_network)]
    pub trusted_proxies: Vec<ipnet::IpNet>,

    /// Seconds to wait for the database before a request fails with `503`.
    #[arg(long, env = "DIALOGUE_DATABASE_TIMEOUT", default_value_t = 5)]
    pub database_timeout_secs: u64,

    /// Milliseconds between the starts of two shared revision inserts while writes are spread
    /// over several dialogues (group commit, like PostgreSQL's `commit_delay`): fewer database
    /// commands for a little latency. 0 sends each insert as soon as the one before is answered.
    #[arg(long, env = "DIALOGUE_COMMIT_SPACING_MS", default_value_t = 3, value_parser = clap::value_parser!(u64).range(0..=100))]
    pub commit_spacing_ms: u64,

    /// Directory of block type schemas (`<type>.json`); by default `schemas/blocks` when it
    /// exists, else the starter set built into the binary.
    #[arg(long, env = "DIALOGUE_BLOCK_TYPES_DIR")]
    pub block_types_dir: Option<PathBuf>,

    /// Seconds a dialogue's actor stays in memory with no session and no request.
    #[arg(long, env = "DIALOGUE_ACTOR_IDLE_SECS", default_value_t = 300)]
    pub actor_idle_secs: u64,

    /// A snapshot of a dialogue is stored every this many revisions, bounding the cost of
    /// rebuilding any past state.
    #[arg(long, env = "DIALOGUE_SNAPSHOT_INTERVAL", default_value_t = 100)]
    pub snapshot_interval: i64,

    /// A dialogue's stored head (derived data) is written once it lags this many revisions
    /// behind; a cold load replays at most this many.
    #[arg(long, env = "DIALOGUE_HEAD_MAX_LAG", default_value_t = 100)]
    pub head_max_lag: i64,

    /// A dialogue's stored head is written once it has lagged this many seconds.
    #[arg(long, env = "DIALOGUE_HEAD_MAX_AGE_SECS", default_value_t = 10)]
    pub head_max_age_secs: u64,

    /// Threads running dialogue actors; 0 means one per core.
    #[arg(long, env = "DIALOGUE_ACTOR_THREADS", default_value_t = 0)]
    pub actor_threads: usize,

    /// Frames queued for one live session; a session whose queue fills is closed with 4008.
    #[arg(long, env = "DIALOGUE_LIVE_QUEUE", default_value_t = 1024)]
    pub live_queue: usize,

    /// Worker threads serving HTTP; 0 means one per core.
    #[arg(long, env = "DIALOGUE_WORKERS", default_value_t = 0)]
    pub workers: usize,

    /// Allow webhook URLs whose host is (or resolves to) a loopback, private or link-local
    /// address: for tests and private deployments only.
    #[arg(long, env = "DIALOGUE_WEBHOOK_ALLOW_PRIVATE", default_value = "false", value_parser = BoolishValueParser::new(), action = clap::ArgAction::Set)]
    pub webhook_allow_private: bool,

    /// At most one `dialogue.changed` delivery per dialogue and hook this often (milliseconds).
    #[arg(long, env = "DIALOGUE_WEBHOOK_DEBOUNCE_MS", default_value_t = 2000)]
    pub webhook_debounce_ms: u64,
}

/// An address or a CIDR range (an address alone is a range of one).
fn parse_network(value: &str) -> Result<ipnet::IpNet, String> {
    let value = value.trim();
    value
        .parse::<ipnet::IpNet>()
        .or_else(|_| value.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| format!("{value:?} is neither an IP address nor a CIDR range"))
}

impl Settings {
    /// Defaults only: no flags and no environment. The test harness starts from these.
    pub fn defaults() -> Self {
        let cli = Cli::command_defaults();
        cli.settings
    }

    /// The base URL for links in e-mails, without a trailing slash.
    pub fn public_url(&self) -> String {
        let url = self.public_url.clone().unwrap_or_else(|| format!("http://{}", self.bind));
        url.trim_end_matches('/').to_owned()
    }

    /// Lifetime of bearer tokens and sessions.
    pub fn token_ttl(&self) -> Duration {
        Duration::from_secs(self.token_ttl_secs)
    }

    /// The input limits, checked against what the database can store.
    pub fn limits(&self) -> anyhow::Result<crate::limits::Limits> {
        crate::limits::Limits {
            max_body_bytes: self.max_body_bytes,
            max_anonymous_body_bytes: self.max_anonymous_body_bytes.min(self.max_body_bytes),
            max_dialogue_bytes: self.max_dialogue_bytes,
            max_patch_ops: self.max_patch_ops,
            max_depth: self.max_json_depth,
            body_timeout_secs: self.body_timeout_secs.max(1),
        }
        .checked()
    }

    /// The dialogue actors' tunables.
    pub fn actor_settings(&self, limits: crate::limits::Limits) -> crate::dialogue::ActorSettings {
        crate::dialogue::ActorSettings {
            limits,
            max_sessions: self.max_sessions_per_dialogue.max(1),
            idle_timeout: Duration::from_secs(self.actor_idle_secs.max(1)),
            checkpoints: crate::dialogue::checkpoints::CheckpointPolicy {
                snapshot_interval: self.snapshot_interval.max(1),
                head_max_lag: self.head_max_lag.max(1),
                head_max_age: Duration::from_secs(self.head_max_age_secs.max(1)),
            },
            log_capacity: 1000,
            max_pending: 10_000,
        }
    }

    /// How long a request waits for the database.
    pub fn database_timeout(&self) -> Duration {
        Duration::from_secs(self.database_timeout_secs.max(1))
    }

    /// The least time between the starts of two shared revision inserts under spread load.
    pub fn commit_spacing(&self) -> Duration {
        Duration::from_millis(self.commit_spacing_ms)
    }
}

impl Cli {
    /// Parses the command line with every environment variable ignored.
    fn command_defaults() -> Self {
        use clap::CommandFactory;
        let mut command = Self::command();
        // Strip the env bindings so that the defaults are the documented ones, whatever the
        // environment of the process running the tests.
        let args: Vec<clap::Arg> = command.get_arguments().cloned().collect();
        for arg in args {
            let id = arg.get_id().clone();
            command = command.mut_arg(id, |arg| arg.env(None::<&str>));
        }
        let matches = command.get_matches_from(["dialogue-server"]);
        <Self as clap::FromArgMatches>::from_arg_matches(&matches).expect("the defaults parse")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_contract() {
        let settings = Settings::defaults();
        assert_eq!(settings.bind, "127.0.0.1:8080");
        assert_eq!(settings.database, "dialogue");
        assert!(!settings.open_signup);
        assert_eq!(settings.max_body_bytes, 4 * 1024 * 1024);
        assert_eq!(settings.max_dialogue_bytes, 2 * 1024 * 1024);
        assert_eq!(settings.max_patch_ops, 1000);
        assert_eq!(settings.max_sessions_per_dialogue, 1000);
        assert_eq!(settings.public_url(), "http://127.0.0.1:8080");
        assert!(!settings.webhook_allow_private);
        assert_eq!(settings.webhook_debounce_ms, 2000);
    }

    #[test]
    fn flags_parse() {
        let cli = Cli::try_parse_from(["dialogue-server", "--open-signup", "true", "--bind", "0.0.0.0:9"]).unwrap();
        assert!(cli.settings.open_signup);
        assert_eq!(cli.settings.bind, "0.0.0.0:9");
        assert!(cli.command.is_none());
    }

    #[test]
    fn the_commit_spacing_defaults_to_the_committers_and_is_bounded() {
        assert_eq!(Settings::defaults().commit_spacing(), crate::store::DEFAULT_COMMIT_SPACING);
        let off = Cli::try_parse_from(["dialogue-server", "--commit-spacing-ms", "0"]).unwrap();
        assert_eq!(off.settings.commit_spacing(), Duration::ZERO);
        assert!(Cli::try_parse_from(["dialogue-server", "--commit-spacing-ms", "101"]).is_err());
    }
}
