//! The local host: every Hookline handler in one process on the embedded default — SQLite as store and durable
//! queue, secrets from a local JSON file and/or the environment — so the whole system runs with one command and
//! no AWS account. It serves the webhook and callback routes over HTTP and runs the worker and the sweep as
//! in-process tasks. A webhook that got a 2xx is committed to SQLite first, so a restart never loses it.

use std::{
    net::SocketAddr,
    path::PathBuf,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::Context;
use axum::{
    body::Bytes,
    extract::{Request, State},
    http::request::Parts,
    response::Response,
    Router,
};
use hookline::{
    assemble::{self, Adapters, LiveProviders},
    clock::Clock,
    config::{Config, ConsoleSettings},
    console::{
        app_setup::{AppSetup, ConfiguredApp},
        linking::Linking,
        ConsoleServices,
    },
    embedded::{
        env_var_name, Database, EnvSecrets, FileSecrets, LayeredSecrets, RetryOutcome, SqliteQueue,
        SqliteStore,
    },
    error::{Disposition, WebhookError},
    handlers::{sweep, worker, IntakeServices, WorkerServices},
    http::{HttpReply, HttpRequest},
    ports::{SecretWriter, Secrets},
    registry::ProviderSwitch,
    routes::{self, Served},
};
use http_body_util::LengthLimitError;
use tokio::{sync::Notify, task::JoinHandle};
use tracing::{error, info, warn};

pub mod admin;
mod inbox;
mod serve;
pub use inbox::BatchingInbox;

/// Settings of the local host itself (the handlers' settings are in [`Config`]).
#[derive(Clone, Debug)]
pub struct LocalConfig {
    /// Address to listen on (`HOOKLINE_LISTEN`, default `127.0.0.1:8080`; port 0 picks a free one).
    pub listen: SocketAddr,
    /// Folder for the database (`HOOKLINE_DATA_DIR`, default `.hookline`).
    pub data_dir: PathBuf,
    /// JSON file of secrets (`HOOKLINE_SECRETS_FILE`, default `<data_dir>/secrets.json` if it exists).
    pub secrets_file: Option<PathBuf>,
    /// Worker tasks (`HOOKLINE_WORKERS`, default 2; 0 turns the worker off, e.g. for load tests).
    pub workers: usize,
    /// Sweep period (`HOOKLINE_SWEEP_SECS`, default 60; 0 turns the sweep off).
    pub sweep_interval: Duration,
    /// How long a received message stays leased to a worker before another may take it.
    pub lease: Duration,
    /// Longest a client may take to send a request's headers, and then its body (`HOOKLINE_BODY_READ_SECS`,
    /// default 10): slow headers close the connection, a slow body gets 408; neither holds a slot longer.
    pub body_read_timeout: Duration,
}

impl LocalConfig {
    /// Load from the process environment; blank values count as unset.
    pub fn from_env() -> anyhow::Result<Self> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Load from any lookup (the admin tool's tests pass a map); blank values count as unset.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let var = |name: &str| get(name).filter(|v| !v.trim().is_empty());
        let listen = var("HOOKLINE_LISTEN").unwrap_or_else(|| "127.0.0.1:8080".into());
        let listen = listen
            .parse()
            .with_context(|| format!("invalid HOOKLINE_LISTEN {listen:?}"))?;
        let data_dir = PathBuf::from(var("HOOKLINE_DATA_DIR").unwrap_or_else(|| ".hookline".into()));
        let secrets_file = match var("HOOKLINE_SECRETS_FILE") {
            Some(path) => Some(PathBuf::from(path)),
            None => Some(data_dir.join("secrets.json")).filter(|p| p.exists()),
        };
        let number = |name: &str, default: u64| -> anyhow::Result<u64> {
            var(name).map_or(Ok(default), |v| {
                v.trim().parse().with_context(|| format!("invalid {name} {v:?}"))
            })
        };
        Ok(Self {
            listen,
            data_dir,
            secrets_file,
            workers: number("HOOKLINE_WORKERS", 2)? as usize,
            sweep_interval: Duration::from_secs(number("HOOKLINE_SWEEP_SECS", 60)?),
            lease: Duration::from_secs(600),
            body_read_timeout: Duration::from_secs(number("HOOKLINE_BODY_READ_SECS", 10)?),
        })
    }

    /// The database file.
    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join("hookline.db")
    }
}

/// Load the secrets the local host uses: environment (`HOOKLINE_SECRET_<NAME>`) over the optional JSON file,
/// which is also where it writes secrets (a GitHub App set up from the console).
pub fn local_secrets(local: &LocalConfig) -> anyhow::Result<LayeredSecrets> {
    Ok(match &local.secrets_file {
        Some(path) => LayeredSecrets::writable(
            EnvSecrets::from_env(),
            FileSecrets::load(path).with_context(|| format!("reading secrets file {}", path.display()))?,
            path.clone(),
        ),
        None => LayeredSecrets::new(EnvSecrets::from_env(), FileSecrets::empty()),
    })
}

/// Make sure the console's operator token and session key exist: any the environment (`env`) lacks and the
/// secrets file does not hold are generated into that file (`<data_dir>/secrets.json` unless `HOOKLINE_SECRETS_FILE` names
/// one), which `local` then reads.
pub fn ensure_console_secrets(
    local: &mut LocalConfig,
    console: &ConsoleSettings,
    env: &EnvSecrets,
) -> anyhow::Result<ConsoleSecrets> {
    if env.contains(&console.token_secret) && env.contains(&console.session_key_secret) {
        return Ok(ConsoleSecrets {
            generated: Vec::new(),
            token_at: env_var_name(&console.token_secret),
        });
    }
    let names: Vec<&str> = [&console.token_secret, &console.session_key_secret]
        .into_iter()
        .map(String::as_str)
        .filter(|name| !env.contains(name))
        .collect();
    let path = local
        .secrets_file
        .clone()
        .unwrap_or_else(|| local.data_dir.join("secrets.json"));
    if let Some(folder) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(folder).with_context(|| format!("creating {}", folder.display()))?;
    }
    let generated = FileSecrets::add_missing(&path, &names, |_| hookline::console::session::random_key())
        .with_context(|| format!("adding the console's secrets to {}", path.display()))?;
    let token_at = if env.contains(&console.token_secret) {
        env_var_name(&console.token_secret)
    } else {
        format!("secret {:?} in {}", console.token_secret, path.display())
    };
    local.secrets_file = Some(path);
    Ok(ConsoleSecrets { generated, token_at })
}

/// What [`ensure_console_secrets`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsoleSecrets {
    /// The secrets it generated.
    pub generated: Vec<String>,
    /// Where an operator finds the token (named, never the token itself).
    pub token_at: String,
}

/// What [`start`] needs.
pub struct HostOptions {
    pub config: Config,
    pub local: LocalConfig,
    pub secrets: Arc<dyn Secrets>,
    /// Where the console's GitHub App setup stores what GitHub hands back (the secrets file); `None`: the
    /// setup page says it is unavailable.
    pub secret_writer: Option<Arc<dyn SecretWriter>>,
    pub clock: Arc<dyn Clock>,
}

/// A running local host.
pub struct Host {
    addr: SocketAddr,
    services: WorkerServices,
    database: Database,
    queue: SqliteQueue,
    wake: Arc<Notify>,
    stop: tokio::sync::watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    lease: Duration,
}

impl Host {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
    /// `http://addr`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
    /// The operator console's address.
    pub fn console_url(&self) -> String {
        format!("{}/console", self.url())
    }
    pub fn services(&self) -> &WorkerServices {
        &self.services
    }
    pub fn store(&self) -> SqliteStore {
        self.database.store()
    }
    pub fn queue(&self) -> &SqliteQueue {
        &self.queue
    }
    /// Run one sweep now (tests; the periodic sweep runs on its own).
    /// Purge what expired by now, as the sweep's schedule does; returns the rows deleted.
    pub fn purge_expired_now(&self) -> usize {
        let housekeeping = Housekeeping {
            store: self.store(),
            queue: self.queue.clone(),
        };
        housekeeping.purge(self.services.clock.now_secs())
    }

    pub async fn sweep_now(&self) -> sweep::SweepReport {
        sweep::sweep(&self.services).await
    }
    /// Work on every message that is due now, one at a time, as a worker does; returns how many were taken. For
    /// a host started without workers (tests that play the queue step by step, as on Lambda).
    pub async fn drain(&self) -> usize {
        let mut taken = 0;
        loop {
            let now = self.services.clock.now_secs();
            let received = match self.queue.receive(now, 1, self.lease) {
                Ok(received) => received,
                Err(err) => {
                    warn!(error = %err, "queue receive failed");
                    return taken;
                }
            };
            if received.is_empty() {
                return taken;
            }
            for message in received {
                taken += 1;
                work_on(&self.services, &self.queue, message).await;
            }
        }
    }

    /// Wake the workers (after moving the clock in tests).
    pub fn wake_workers(&self) {
        self.wake.notify_waiters();
    }
    /// Stop serving and let in-flight work finish.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        self.wake.notify_waiters();
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// Fail at start, naming what is missing, rather than at the first webhook.
async fn check_secrets(config: &Config, secrets: &dyn Secrets) -> anyhow::Result<()> {
    for (provider, name) in config.providers.secrets_needed_at_start() {
        secrets.get(&name).await.map_err(|e| {
            anyhow::anyhow!(
                "{provider} is configured but secret {name:?} is unavailable ({e}); put it in the secrets file \
                 or in HOOKLINE_SECRET_{}",
                hookline::embedded::env_var_name(&name).trim_start_matches("HOOKLINE_SECRET_")
            )
        })?;
    }
    Ok(())
}

/// Open the database, wire the handlers, bind the listener and start the worker and sweep tasks.
pub async fn start(options: HostOptions) -> anyhow::Result<Host> {
    let HostOptions {
        mut config,
        local,
        secrets,
        secret_writer,
        clock,
    } = options;
    // Before the stored App joins: an App configured by the environment leaves nothing to set up.
    let configured_github_app = ConfiguredApp::of(&config.providers);
    let unregistered = config.providers.clone();
    config
        .providers
        .add_registered_apps(secrets.as_ref(), false)
        .await
        .context("reading the registered apps")?;
    check_secrets(&config, secrets.as_ref()).await?;
    if config.providers.is_empty() {
        warn!(
            "no provider is configured: create a GitHub App on the console's setup page, or set \
             <PROVIDER>_TENANTS (e.g. GITLAB_TENANTS); until then every webhook route answers 404"
        );
    }
    std::fs::create_dir_all(&local.data_dir)
        .with_context(|| format!("creating data folder {}", local.data_dir.display()))?;
    let database = Database::open(local.database_path())
        .with_context(|| format!("opening {}", local.database_path().display()))?;
    let store = Arc::new(database.store());
    let queue = SqliteQueue::new(database.clone(), config.settings.max_receives).with_clock(clock.clone());
    let http = assemble::http_client(&config).context("building the HTTP client")?;
    let inbox = Arc::new(BatchingInbox::start(database.clone()).context("starting the inbox writer")?);
    let mut intake = assemble::intake_services(&config, inbox, &secrets, clock.clone());
    let mut services = assemble::worker_services(
        &config,
        Adapters {
            deliveries: store.clone(),
            runs: store.clone(),
            identities: store.clone(),
            decisions: store,
            secrets,
            clock: clock.clone(),
        },
        http.clone(),
    );
    // One switch for intake, worker and console: a GitHub App registered on the console is served at once.
    let switch: Arc<dyn ProviderSwitch> = Arc::new(
        LiveProviders::new(unregistered, services.secrets.clone(), clock.clone())
            .for_intake(&intake)
            .for_worker(&config, &services, &http),
    );
    intake.switch = Some(switch.clone());
    services.run.switch = Some(switch.clone());
    let linking = secret_writer.clone().map(|writer| Linking {
        identities: services.identities.clone(),
        claims: services.deliveries.clone(),
        writer,
        http: http.clone(),
        apps: config.providers.oauth_apps(),
        shared_identity: config.settings.default_identity.clone(),
    });
    let setup = match (secret_writer, config.providers.github_setup()) {
        (Some(writer), Some(github)) => Some(AppSetup {
            github: github.clone(),
            writer,
            http: http.clone(),
            switch: switch.clone(),
            configured: configured_github_app,
        }),
        _ => None,
    };
    let console = ConsoleServices {
        decisions: services.decisions.clone(),
        runs: services.runs.clone(),
        dead_letters: Some(Arc::new(queue.clone())),
        redeliver: Some(Arc::new(queue.clone())),
        secrets: services.secrets.clone(),
        clock: clock.clone(),
        settings: config.console.clone(),
        openhands_web_url: config.openhands.web_url.clone(),
        setup,
        linking,
    };

    let wake = Arc::new(Notify::new());
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let app = Arc::new(App {
        intake,
        run: services.run.clone(),
        console,
        wake: wake.clone(),
        in_flight: Arc::new(tokio::sync::Semaphore::new(MAX_IN_FLIGHT)),
        body_read_timeout: local.body_read_timeout,
    });
    // Every path goes through the shared route table, as on Lambda.
    let router = Router::new().fallback(route).with_state(app);
    let listener = tokio::net::TcpListener::bind(local.listen)
        .await
        .with_context(|| format!("binding {}", local.listen))?;
    let addr = listener.local_addr()?;
    // Notices invite people to the console at the address the host knows itself by, unless one is set.
    services.invites = config.invites(Some(&format!("http://{addr}")));

    let mut tasks = Vec::new();
    let server_stop = stopped.clone();
    let read_timeout = local.body_read_timeout;
    tasks.push(tokio::spawn(async move {
        serve::serve(listener, router, read_timeout, server_stop).await;
    }));
    for worker_index in 0..local.workers {
        tasks.push(tokio::spawn(worker_loop(
            services.clone(),
            queue.clone(),
            wake.clone(),
            stopped.clone(),
            local.lease,
            worker_index,
        )));
    }
    if !local.sweep_interval.is_zero() {
        tasks.push(tokio::spawn(sweep_loop(
            services.clone(),
            Housekeeping {
                store: database.store(),
                queue: queue.clone(),
            },
            local.sweep_interval,
            stopped.clone(),
        )));
    }
    Ok(Host {
        addr,
        services,
        database,
        queue,
        wake,
        stop,
        tasks,
        lease: local.lease,
    })
}

struct App {
    intake: IntakeServices,
    run: hookline::handlers::Services,
    console: ConsoleServices,
    wake: Arc<Notify>,
    /// Requests being handled; one past [`MAX_IN_FLIGHT`] is turned away at once rather than queued.
    in_flight: Arc<tokio::sync::Semaphore>,
    body_read_timeout: Duration,
}

/// Most requests handled at once: far above what providers send, far below what exhausts the host.
const MAX_IN_FLIGHT: usize = 1024;

impl App {
    fn served(&self) -> Served<'_> {
        Served {
            intake: Some(&self.intake),
            run: Some(&self.run),
            console: Some(&self.console),
        }
    }
}

// The route takes the whole request and reads its body itself: axum's `HeaderMap` extractor would clone every
// header of every webhook.
async fn route(State(app): State<Arc<App>>, request: Request) -> Response {
    let Ok(_slot) = app.in_flight.clone().try_acquire_owned() else {
        return HttpReply::text(503, "busy").into_response();
    };
    let served = app.served();
    let read = tokio::time::timeout(
        app.body_read_timeout,
        read_body(request, routes::body_limit(served)),
    );
    let (parts, body) = match read.await {
        Ok(Ok(read)) => read,
        Ok(Err(reply)) => return reply.into_response(),
        Err(_) => return HttpReply::text(408, "request body too slow").into_response(),
    };
    let handled = routes::dispatch(served, as_http_request(&parts, &body)).await;
    if handled.queued {
        app.wake.notify_one();
    }
    handled.reply.into_response()
}

/// The request's head and its body, read up to `limit` bytes: 413 past it, 400 if the body cannot be read.
async fn read_body(request: Request, limit: usize) -> Result<(Parts, Bytes), HttpReply> {
    let (parts, body) = request.into_parts();
    match axum::body::to_bytes(body, limit).await {
        Ok(body) => Ok((parts, body)),
        Err(err) => {
            let too_large = std::error::Error::source(&err).is_some_and(|e| e.is::<LengthLimitError>());
            Err(if too_large {
                WebhookError::TooLarge.into_reply()
            } else {
                HttpReply::text(400, "unreadable request body")
            })
        }
    }
}

fn as_http_request<'a>(parts: &'a Parts, body: &'a Bytes) -> HttpRequest<'a> {
    HttpRequest {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query().unwrap_or_default(),
        headers: &parts.headers,
        body,
    }
}

/// Delay before the `receive_count`-th retry when the remote gave none: 2, 4, 8 … seconds, at most 5 minutes.
fn backoff(receive_count: u32) -> Duration {
    Duration::from_secs(2u64.saturating_pow(receive_count.min(9)).min(300))
}

async fn worker_loop(
    services: WorkerServices,
    queue: SqliteQueue,
    wake: Arc<Notify>,
    mut stopped: tokio::sync::watch::Receiver<bool>,
    lease: Duration,
    worker_index: usize,
) {
    let idle_poll = Duration::from_millis(500);
    loop {
        if *stopped.borrow() {
            break;
        }
        let now = services.clock.now_secs();
        let received = match queue.receive(now, 1, lease) {
            Ok(received) => received,
            Err(err) => {
                warn!(error = %err, worker_index, "queue receive failed");
                Vec::new()
            }
        };
        if received.is_empty() {
            tokio::select! {
                _ = wake.notified() => {}
                _ = tokio::time::sleep(idle_poll) => {}
                _ = stopped.changed() => {}
            }
            continue;
        }
        for message in received {
            work_on(&services, &queue, message).await;
        }
    }
}

/// Process one received message and settle it: ack, retry later (at least the backoff), or dead-letter.
async fn work_on(services: &WorkerServices, queue: &SqliteQueue, message: hookline::embedded::Received) {
    let started = Instant::now();
    let disposition = worker::process(services, &message.body, message.receive_count).await;
    let result = match disposition {
        Disposition::Done => queue.ack(message.id).map(|_| ()),
        Disposition::Retry { after } => {
            let delay = after.unwrap_or_default().max(backoff(message.receive_count));
            // To the millisecond: the wait is counted from now, not from the start of this second.
            let now_ms = services.clock.now_millis();
            match queue.retry(message.id, now_ms, delay, "processing failed; see logs") {
                Ok(RetryOutcome::DeadLettered) => {
                    error!(message_id = message.id, group = %message.group, "message dead-lettered");
                    Ok(())
                }
                Ok(RetryOutcome::Scheduled { .. }) => Ok(()),
                Err(err) => Err(err),
            }
        }
    };
    if let Err(err) = result {
        warn!(error = %err, message_id = message.id, "could not settle message; its lease will expire");
    }
    info!(
        message_id = message.id,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "message processed"
    );
}

/// What the local database keeps only for a while: delivery claims and the queue's deduplication ids. Expired
/// rows already count as absent; purging them on the sweep's schedule keeps the file from growing forever.
struct Housekeeping {
    store: SqliteStore,
    queue: SqliteQueue,
}

impl Housekeeping {
    /// Delete what expired at or before `now`; returns the rows deleted.
    fn purge(&self, now: u64) -> usize {
        let purged = |what: &str, result: Result<usize, hookline::error::PortError>| match result {
            Ok(count) => count,
            Err(err) => {
                warn!(what, error = %err, "could not purge expired rows");
                0
            }
        };
        let deliveries = purged("deliveries", self.store.purge_expired(now));
        let dedup = purged("queue deduplication ids", self.queue.purge_expired(now));
        if deliveries + dedup > 0 {
            info!(deliveries, dedup, "purged expired rows");
        }
        deliveries + dedup
    }
}

async fn sweep_loop(
    services: WorkerServices,
    housekeeping: Housekeeping,
    every: Duration,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) {
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {
                sweep::sweep(&services).await;
                housekeeping.purge(services.clock.now_secs());
            }
            _ = stopped.changed() => break,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local_in(dir: &std::path::Path) -> LocalConfig {
        LocalConfig::from_lookup(|name| (name == "HOOKLINE_DATA_DIR").then(|| dir.display().to_string()))
            .expect("settings")
    }

    /// GIVEN no console secrets WHEN the host prepares them THEN both are generated into the secrets file, which
    /// it then reads; a second start keeps them; with both in the environment no file is needed or named.
    #[tokio::test]
    async fn console_secrets_are_generated_once_or_taken_from_the_environment() {
        let dir = tempfile::tempdir().expect("temp dir");
        let console = ConsoleSettings::default();
        let mut local = local_in(dir.path());
        let first = ensure_console_secrets(&mut local, &console, &EnvSecrets::default()).expect("generated");
        assert_eq!(
            first.generated,
            [console.token_secret.as_str(), console.session_key_secret.as_str()]
        );
        assert!(first.token_at.contains("secrets.json"), "{}", first.token_at);
        let token = local_secrets(&local)
            .expect("readable")
            .get(&console.token_secret)
            .await
            .expect("token");
        let mut again = local_in(dir.path());
        let second = ensure_console_secrets(&mut again, &console, &EnvSecrets::default()).expect("kept");
        assert!(second.generated.is_empty());
        let kept = local_secrets(&again)
            .expect("readable")
            .get(&console.token_secret)
            .await
            .expect("token");
        assert_eq!(kept.expose(), token.expose());

        let empty = tempfile::tempdir().expect("temp dir");
        let mut from_env = local_in(empty.path());
        let env = EnvSecrets::from_vars([
            (env_var_name(&console.token_secret), "t"),
            (env_var_name(&console.session_key_secret), "k"),
        ]);
        let taken = ensure_console_secrets(&mut from_env, &console, &env).expect("from the environment");
        assert!(taken.generated.is_empty());
        assert_eq!(taken.token_at, "HOOKLINE_SECRET_CONSOLE_OPERATOR_TOKEN");
        assert_eq!(from_env.secrets_file, None);
        local_secrets(&from_env).expect("no file to read");
    }

    #[test]
    fn an_empty_secret_in_the_secrets_file_stops_the_host_at_start_naming_it() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("secrets.json");
        std::fs::write(
            &path,
            r#"{"github/webhook-secret": "", "github/private-key": "pem"}"#,
        )
        .expect("write");
        let local = LocalConfig {
            listen: "127.0.0.1:0".parse().expect("address"),
            data_dir: dir.path().to_owned(),
            secrets_file: Some(path),
            workers: 0,
            sweep_interval: Duration::ZERO,
            lease: Duration::from_secs(600),
            body_read_timeout: Duration::from_secs(10),
        };
        let Err(err) = local_secrets(&local) else {
            panic!("an empty secret was accepted");
        };
        let message = format!("{err:#}");
        assert!(
            message.contains("github/webhook-secret") && message.contains("empty"),
            "{message}"
        );
    }
}
