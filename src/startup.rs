//! Assembly: `Application::build` wires settings, store, schemas and routes into a running HTTP
//! server bound to a real port; `run_until_stopped` serves until SIGTERM/SIGINT and shuts down
//! gracefully. `main` and the integration tests both go through here.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::{App, HttpServer, web};
use tokio::sync::watch;
use tracing_actix_web::TracingLogger;

use crate::auth::login_throttle::LoginThrottle;
use crate::auth::permissions::{Permission, PermissionKind, PermissionScope};
use crate::auth::{normalize_email, passwords};
use crate::config::Settings;
use crate::dialogue::presence::PresenceRelay;
use crate::dialogue::{ActorDeps, Dialogues};
use crate::http::{access_log, head, json_errors, request_metrics};
use crate::mail::Mailer;
use crate::schema::Schemas;
use crate::state::AppState;
use crate::store::{NewUser, Store, StoreError, new_id};

/// How many bodies of the largest size may be handled at once (a parsed body takes up to about
/// 25 times its size in memory).
const BODY_BUDGET_BODIES: usize = 4;
/// How long a graceful shutdown waits for the dialogues' stored heads to be brought up to date.
const HEAD_FLUSH_DEADLINE: Duration = Duration::from_secs(5);
/// How often start-up work against an unreachable database is retried.
const STORE_RETRY_INTERVAL: Duration = Duration::from_secs(2);

/// A built, bound, not yet running server.
pub struct Application {
    server: Server,
    metrics: Option<Server>,
    metrics_port: Option<u16>,
    peer_server: Option<Server>,
    port: u16,
    state: web::Data<AppState>,
    shutdown: watch::Sender<bool>,
}

impl Application {
    /// Connects to the database, loads the schemas and binds the listener.
    pub async fn build(mut settings: Settings) -> anyhow::Result<Self> {
        if settings.metrics_bind.is_some() {
            // Before anything runs, so that nothing it does goes uncounted.
            crate::metrics::install();
        }
        let limits = settings.limits()?;
        let peer_listener = bind_peer_listener(&settings)?;
        let store = Store::connect(
            &settings.mongodb_uri,
            &settings.database,
            settings.database_timeout(),
            settings.commit_spacing(),
        )
        .await?;
        let schemas = Arc::new(Schemas::load(settings.block_types_dir.as_deref())?);
        let (peer_listener, peers) = match peer_listener {
            Some((listener, url)) => {
                let peers = crate::peers::Peers::new(store.process_id(), Some(url), settings.secret_key.as_ref())?;
                (Some(listener), peers)
            }
            None => (None, crate::peers::Peers::off(store.process_id())),
        };
        let presence = PresenceRelay::new(store.clone(), peers.own_url().map(str::to_owned));
        presence.spawn();
        let actor_threads = match settings.actor_threads {
            0 => std::thread::available_parallelism().map(usize::from).unwrap_or(1),
            n => n,
        };
        let hooks = Arc::new(crate::webhooks::directory::HookDirectory::default());
        let dialogues = Dialogues::start(
            ActorDeps {
                store: store.clone(),
                schemas: schemas.clone(),
                settings: settings.actor_settings(limits),
                presence: presence.clone(),
                hooks: hooks.clone(),
                peers: peers.clone(),
            },
            actor_threads,
        );
        let mailer = Mailer::from_settings(&settings)?;
        let vault = crate::vault::Vault::new(settings.secret_key.as_ref(), settings.secret_key_previous.as_ref())?;
        let listener = TcpListener::bind(&settings.bind)?;
        let address = listener.local_addr()?;
        tracing::info!(%address, "listening");
        // Bound to port 0, the address links point at (the reset mail's, with no public URL
        // set) is the one the system picked.
        settings.bind = address.to_string();
        let (shutdown, shutdown_rx) = watch::channel(false);
        let state = web::Data::new(AppState {
            body_budget: crate::http::body_budget::BodyBudget::new(
                limits.max_body_bytes.saturating_mul(BODY_BUDGET_BODIES),
            ),
            limits,
            store,
            schemas,
            dialogues,
            peers,
            access_events: crate::live::events::AccessEvents::new(1024),
            mailer,
            vault,
            hooks,
            callers: crate::auth::cache::CallerCache::new(Duration::from_secs(10)),
            login_throttle: LoginThrottle::new(settings.login_attempts_per_minute),
            store_ready: AtomicBool::new(false),
            shutdown: shutdown_rx,
            settings,
        });
        prepare_store(state.clone().into_inner()).await;
        crate::live::feed::spawn(state.clone().into_inner());
        learn_peers(&state);
        crate::webhooks::spawn(state.clone().into_inner())?;

        let body_limit = state.limits.max_body_bytes;
        let workers = match state.settings.workers {
            0 => std::thread::available_parallelism().map(usize::from).unwrap_or(1),
            n => n,
        };
        let app_state = state.clone();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(app_state.clone())
                .app_data(web::PayloadConfig::new(body_limit))
                .wrap(actix_web::middleware::from_fn(head::as_get))
                .wrap(json_errors::middleware())
                .wrap(actix_web::middleware::from_fn(access_log::request_id_header))
                .wrap(TracingLogger::<access_log::AccessLog>::new())
                .wrap(actix_web::middleware::from_fn(request_metrics::record))
                .configure(crate::routes::configure)
                .configure(crate::openapi::configure)
                .configure(crate::web::configure)
                .default_service(web::to(crate::routes::unknown_path))
        })
        .workers(workers)
        // Live sessions write many small frames: without this, Nagle's algorithm meets the
        // client's delayed ACKs and frames wait ~40 ms.
        .tcp_nodelay(true)
        .disable_signals()
        .shutdown_timeout(10)
        .listen(listener)?
        .run();
        let (metrics, metrics_port) = match &state.settings.metrics_bind {
            Some(bind) => {
                let listener = TcpListener::bind(bind)?;
                let address = listener.local_addr()?;
                tracing::info!(%address, "metrics listening");
                (Some(crate::http::metrics_listener::serve(listener, state.clone())?), Some(address.port()))
            }
            None => (None, None),
        };
        let peer_server = match peer_listener {
            Some(listener) => {
                Some(crate::peers::listener::serve(listener, state.peers.clone(), state.dialogues.clone())?)
            }
            None => None,
        };
        Ok(Self { server, metrics, metrics_port, peer_server, port: address.port(), state, shutdown })
    }

    /// The port actually bound (useful with port 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port the metrics listener bound, when there is one.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics_port
    }

    /// The shared state, for tests that need to reach behind the API.
    pub fn state(&self) -> web::Data<AppState> {
        self.state.clone()
    }

    /// Serves until SIGTERM or SIGINT, then stops accepting, lets in-flight requests finish,
    /// tells long-lived sessions to close, and returns.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let handle = self.server.handle();
        let metrics = self.metrics.map(|metrics| {
            let handle = metrics.handle();
            actix_web::rt::spawn(metrics);
            handle
        });
        let peer = self.peer_server.map(|peer| {
            let handle = peer.handle();
            actix_web::rt::spawn(peer);
            handle
        });
        let shutdown = self.shutdown;
        actix_web::rt::spawn(async move {
            wait_for_signal().await;
            tracing::info!("shutting down");
            let _ = shutdown.send(true);
            handle.stop(true).await;
            if let Some(metrics) = metrics {
                metrics.stop(true).await;
            }
            if let Some(peer) = peer {
                peer.stop(true).await;
            }
        });
        let served = self.server.await;
        self.state.dialogues.presence().stop().await;
        let unwritten = self.state.dialogues.flush_heads(HEAD_FLUSH_DEADLINE).await;
        if unwritten > 0 {
            // Derived data: the next load repairs these heads from the revisions.
            tracing::warn!(unwritten, "some dialogue heads were not brought up to date before stopping");
        }
        self.state.dialogues.shutdown();
        served
    }
}

/// The peer listener and the URL it advertises, when `DIALOGUE_PEER_BIND` is set. A process
/// without one has its links off, sending and receiving: links are all or nothing per process.
fn bind_peer_listener(settings: &Settings) -> anyhow::Result<Option<(TcpListener, String)>> {
    let Some(bind) = settings.peer_bind.as_deref().filter(|bind| !bind.trim().is_empty()) else { return Ok(None) };
    if settings.secret_key.is_none() {
        anyhow::bail!(
            "DIALOGUE_PEER_BIND needs DIALOGUE_SECRET_KEY (the same on every process): peer requests are signed with it"
        );
    }
    let listener = TcpListener::bind(bind)?;
    let address = listener.local_addr()?;
    let url = match &settings.peer_url {
        Some(url) => url.trim_end_matches('/').to_owned(),
        None if address.ip().is_unspecified() => {
            anyhow::bail!("DIALOGUE_PEER_BIND {bind} names no address others can reach: set DIALOGUE_PEER_URL")
        }
        None => format!("http://{address}"),
    };
    tracing::info!(%address, %url, "peer listening");
    Ok(Some((listener, url)))
}

/// Teaches the links the peer URLs of the processes alive now; the change feed brings later
/// heartbeats.
fn learn_peers(state: &web::Data<AppState>) {
    if state.peers.own_url().is_none() {
        return;
    }
    let state = state.clone();
    actix_web::rt::spawn(async move {
        let silent = i64::try_from(crate::dialogue::presence::DEAD_AFTER.as_millis()).unwrap_or(i64::MAX);
        match state.store.live_processes(silent).await {
            Ok(processes) => {
                for process in processes {
                    state.peers.learn(&process.id, process.peer_url.as_deref());
                }
            }
            Err(error) => {
                tracing::warn!(error = %error, "reading the other processes' peer URLs failed; the feed brings them")
            }
        }
    });
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }
            _ => std::future::pending::<()>().await,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Creates indexes and the bootstrap admin. When the database is unreachable the server still
/// starts (answering `503` until then) and a background task keeps trying.
async fn prepare_store(state: Arc<AppState>) {
    match prepare_store_once(&state).await {
        Ok(()) => state.store_ready.store(true, Ordering::Release),
        Err(error) => {
            tracing::warn!(error = %error, "database not ready; retrying in the background");
            actix_web::rt::spawn(async move {
                loop {
                    tokio::time::sleep(STORE_RETRY_INTERVAL).await;
                    match prepare_store_once(&state).await {
                        Ok(()) => {
                            state.store_ready.store(true, Ordering::Release);
                            tracing::info!("database ready");
                            return;
                        }
                        Err(error) => tracing::warn!(error = %error, "database still not ready"),
                    }
                }
            });
        }
    }
}

async fn prepare_store_once(state: &AppState) -> anyhow::Result<()> {
    state.store.ensure_indexes().await?;
    bootstrap_admin(state).await
}

/// Creates the administrator named by `DIALOGUE_ADMIN_EMAIL`/`DIALOGUE_ADMIN_PASSWORD` when no
/// user has that e-mail yet.
async fn bootstrap_admin(state: &AppState) -> anyhow::Result<()> {
    let (Some(email), Some(password)) = (&state.settings.admin_email, &state.settings.admin_password) else {
        return Ok(());
    };
    let email = normalize_email(email);
    if state.store.user_by_email(&email).await?.is_some() {
        return Ok(());
    }
    let password_hash = passwords::hash(password.clone()).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let admin = Permission { id: new_id(), kind: PermissionKind::Admin, properties: PermissionScope::default() };
    let created = state
        .store
        .insert_user(NewUser {
            email: email.clone(),
            first_name: "Admin".into(),
            last_name: String::new(),
            password_hash,
            permissions: vec![admin],
        })
        .await;
    match created {
        Ok(user) => tracing::info!(user_id = %user.id, %email, "bootstrap admin created"),
        // Another server process created it first.
        Err(StoreError::Duplicate { .. }) => {}
        Err(error) => return Err(error.into()),
    }
    Ok(())
}

/// For `dialogue-server check-ready`: whether a server at `bind` answers `/readyz` with 200.
pub fn probe_readiness(bind: &str) -> bool {
    let target = bind.replace("0.0.0.0", "127.0.0.1").replace("[::]", "[::1]");
    let Some(address) = target.to_socket_addrs().ok().and_then(|mut addresses| addresses.next()) else {
        return false;
    };
    let Ok(mut stream) = TcpStream::connect_timeout(&address, Duration::from_secs(3)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    if stream.write_all(b"GET /readyz HTTP/1.0\r\nHost: localhost\r\n\r\n").is_err() {
        return false;
    }
    let mut response = [0u8; 16];
    let read = stream.read(&mut response).unwrap_or(0);
    response[..read].starts_with(b"HTTP/1.1 200") || response[..read].starts_with(b"HTTP/1.0 200")
}
