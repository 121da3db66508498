//! The REAL OpenHands app server (PyPI `openhands-ai` 1.11.0, process sandboxes) with a fake LLM, for
//! integration tests: a thin driver over the scripts in `tests/openhands/` (see its README).
//!
//! [`RealOpenHands::start`] installs the server once (`setup.sh`, into `$HOOKLINE_TEST_OPENHANDS_DIR`, default
//! `<repo>/.openhands-test`; `scripts/test.sh` runs it before `cargo test`) and starts one instance with
//! `start.sh`: a fresh app server with empty state on its own ports. It never skips: if Python 3.12, PyPI or the
//! server is missing, it panics with the reason and the log tail. The instance stops when the value is dropped.
//!
//! Several instances may run at once (tests run in parallel): with no ports given, each takes the first free
//! slot `k` (app `18300 + k`, fake LLM `18700 + k`, sandboxes from `18400 + 20·k`), claimed by a file
//! `DIR/i<app port>.owner` holding this process's pid, so a concurrent test process picks another slot.
//!
//! The fake LLM's behaviour is chosen per conversation by directives in its first user message, e.g.
//! `[[fake-llm: fail]]`, `[[fake-llm: delay=20]]`, `[[fake-llm: script=work marker=issue-12]]`
//! (`tests/openhands/fake_llm.py` lists them); every request it answers is logged, see
//! [`RealOpenHands::llm_requests`].

use std::{
    collections::BTreeSet,
    fs,
    io::ErrorKind,
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
    sync::{Mutex, OnceLock, PoisonError},
    time::Duration,
};

use serde_json::Value;

/// Environment variable naming the install directory.
pub const DIR_ENV: &str = "HOOKLINE_TEST_OPENHANDS_DIR";
/// Default ports of slot 0.
pub const DEFAULT_APP_PORT: u16 = 18300;
pub const DEFAULT_LLM_PORT: u16 = 18700;
pub const DEFAULT_SANDBOX_BASE_PORT: u16 = 18400;
/// Sandbox ports per slot (`OH_SANDBOX_PORT_SPAN`): at most this many live sandboxes per instance.
const SANDBOX_PORTS_PER_SLOT: u16 = 20;
/// Slots tried when no port is given (the sandbox ranges of 15 slots end below the first LLM port).
const SLOTS: u16 = 15;
/// `start.sh` exit status when a port is taken by another process.
const PORT_IN_USE: i32 = 3;

/// What to start. `Default` is slot auto-selection, no callback target and the repository `octo-org/hello`.
#[derive(Clone, Debug, Default)]
pub struct RealOpenHandsOptions {
    /// Second webhook target of every sandbox (`OH_CALLBACK_URL`), e.g. the Hookline under test: it receives
    /// `POST {url}/events/{conversation id hex}` (a JSON array with one event) and `POST {url}/conversations`.
    pub callback_url: Option<String>,
    /// Extra headers for those POSTs, a JSON object of strings (`OH_CALLBACK_HEADERS`).
    pub callback_headers: Option<Value>,
    /// `owner/name`s that become local bare repositories (one commit on `main`) a conversation can select;
    /// empty means `["octo-org/hello"]`.
    pub repos: Vec<String>,
    /// App server port; `None`: the first free slot's (18300, 18301, …).
    pub app_port: Option<u16>,
    /// Fake LLM port; `None`: the slot's (18700, 18701, …).
    pub llm_port: Option<u16>,
    /// First sandbox port; `None`: the slot's (18400, 18420, …).
    pub sandbox_base_port: Option<u16>,
}

/// A running instance: app server, fake LLM and the sandboxes it starts. Stopped on drop.
#[derive(Debug)]
pub struct RealOpenHands {
    url: String,
    llm_url: String,
    dir: PathBuf,
    instance: PathBuf,
    app_port: u16,
    claim: PathBuf,
    stopped: bool,
}

/// App ports of the instances this process runs.
static IN_USE: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
/// Outcome of the one `setup.sh` run of this process.
static SETUP: OnceLock<Result<(), String>> = OnceLock::new();

impl RealOpenHands {
    /// Install (once per process, a no-op when installed) and start an instance; returns when the app server
    /// answers and its LLM settings point at the fake LLM (~10 s).
    ///
    /// # Panics
    /// If the server cannot be installed or started: the message has the reason and the logs' tail.
    pub async fn start(options: RealOpenHandsOptions) -> RealOpenHands {
        match tokio::task::spawn_blocking(move || Self::start_blocking(options)).await {
            Ok(instance) => instance,
            Err(err) if err.is_panic() => std::panic::resume_unwind(err.into_panic()),
            Err(err) => panic!("RealOpenHands: the start task was cancelled: {err}"),
        }
    }

    /// [`RealOpenHands::start`] for synchronous callers.
    ///
    /// # Panics
    /// As [`RealOpenHands::start`].
    pub fn start_blocking(options: RealOpenHandsOptions) -> RealOpenHands {
        let dir = install_dir();
        ensure_installed(&dir);
        let explicit = options.app_port.is_some();
        let slots: Vec<u16> = if explicit { vec![0] } else { (0..SLOTS).collect() };
        for slot in slots {
            let app_port = options.app_port.unwrap_or(DEFAULT_APP_PORT + slot);
            let llm_port = options.llm_port.unwrap_or(DEFAULT_LLM_PORT + slot);
            let sandbox_base = options
                .sandbox_base_port
                .unwrap_or(DEFAULT_SANDBOX_BASE_PORT + SANDBOX_PORTS_PER_SLOT * slot);
            if !lock(&IN_USE).insert(app_port) {
                assert!(
                    !explicit,
                    "RealOpenHands: app port {app_port} is already used by this test process"
                );
                continue;
            }
            let claim = dir.join(format!("i{app_port}.owner"));
            if !claim_slot(&claim) {
                lock(&IN_USE).remove(&app_port);
                assert!(
                    !explicit,
                    "RealOpenHands: app port {app_port} is in use by another test process ({})",
                    claim.display()
                );
                continue;
            }
            let output = run_script("start.sh", &dir, |command| {
                command
                    .env("OH_APP_PORT", app_port.to_string())
                    .env("OH_LLM_PORT", llm_port.to_string())
                    .env("OH_SANDBOX_BASE_PORT", sandbox_base.to_string())
                    .env("OH_SANDBOX_PORT_SPAN", SANDBOX_PORTS_PER_SLOT.to_string())
                    .env("OH_CALLBACK_URL", options.callback_url.as_deref().unwrap_or(""))
                    .env(
                        "OH_CALLBACK_HEADERS",
                        options
                            .callback_headers
                            .as_ref()
                            .map(Value::to_string)
                            .unwrap_or_default(),
                    )
                    .env("OH_LOCAL_REPOS", repos_env(&options.repos))
                    // A watchdog stops the instance if this process dies without dropping it.
                    .env("HOOKLINE_OH_OWNER_PID", std::process::id().to_string());
            });
            if output.status.success() {
                let url = String::from_utf8_lossy(&output.stdout).trim().to_owned();
                assert!(
                    url.starts_with("http://"),
                    "RealOpenHands: start.sh printed no URL:\n{}",
                    describe(&output)
                );
                return RealOpenHands {
                    url,
                    llm_url: format!("http://127.0.0.1:{llm_port}"),
                    instance: dir.join(format!("i{app_port}")),
                    dir,
                    app_port,
                    claim,
                    stopped: false,
                };
            }
            let _ = fs::remove_file(&claim);
            lock(&IN_USE).remove(&app_port);
            if output.status.code() == Some(PORT_IN_USE) && !explicit {
                continue;
            }
            panic!(
                "RealOpenHands: could not start the real OpenHands app server on port {app_port}:\n{}",
                describe(&output)
            );
        }
        panic!(
            "RealOpenHands: no free slot (app ports {DEFAULT_APP_PORT}..{})",
            DEFAULT_APP_PORT + SLOTS
        );
    }

    /// App server base URL, e.g. `http://127.0.0.1:18300`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Fake LLM base URL (`{llm_url}/control` takes global knobs; prefer per-conversation directives).
    pub fn llm_url(&self) -> &str {
        &self.llm_url
    }

    /// This instance's folder: `logs/app.log`, `logs/fake_llm.log`, `llm/requests.jsonl`,
    /// `sandboxes/<conversation id hex>/` (with `.openhands-agent-server.log`).
    pub fn instance_dir(&self) -> &Path {
        &self.instance
    }

    /// Every request the fake LLM answered so far, in order: objects with `t`, `kind` (`agent_step`,
    /// `ask_agent` or `text`), `conv` (the conversation id, 32 hex, for agent steps and ask_agent),
    /// `first_user` (first 300 characters of the first user message), `user_messages` (every user text of the
    /// request), `directives`, `status` (HTTP), `tool` (answered), `slept`, `script`, `script_position`.
    pub fn llm_requests(&self) -> Vec<Value> {
        let path = self.instance.join("llm/requests.jsonl");
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(err) if err.kind() == ErrorKind::NotFound => return Vec::new(),
            Err(err) => panic!("RealOpenHands: cannot read {}: {err}", path.display()),
        };
        text.lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect()
    }

    /// Every user message text the LLM has seen in the agent steps of the conversation whose first user
    /// message contains `marker` (the first such conversation), in order; empty if it took no step yet. A
    /// follow-up appears once an agent step has run after it.
    pub fn user_messages_of(&self, marker: &str) -> Vec<String> {
        let requests = self.llm_requests();
        let steps: Vec<&Value> = requests
            .iter()
            .filter(|r| r["kind"] == "agent_step")
            .filter(|r| r["first_user"].as_str().is_some_and(|text| text.contains(marker)))
            .collect();
        let Some(conv) = steps.first().map(|r| r["conv"].clone()) else {
            return Vec::new();
        };
        // The history only grows, so the latest request with the most user messages has them all.
        steps
            .iter()
            .filter(|r| r["conv"] == conv)
            .map(|r| -> Vec<String> {
                r["user_messages"]
                    .as_array()
                    .map(|texts| {
                        texts
                            .iter()
                            .filter_map(|t| t.as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default()
            })
            .fold(
                Vec::new(),
                |most, texts| {
                    if texts.len() >= most.len() {
                        texts
                    } else {
                        most
                    }
                },
            )
    }

    /// `kill -9` the agent server(s) of a conversation (its sandbox; the id in any form), as a crash would;
    /// returns the pids killed. The app server then reports `sandbox_status: MISSING`.
    ///
    /// # Panics
    /// If this instance has no agent server for that conversation.
    pub fn kill_sandbox(&self, conversation_id: &str) -> Vec<u32> {
        let id = conversation_id.replace('-', "").to_ascii_lowercase();
        let instance = format!("HOOKLINE_OH_INSTANCE={}", self.instance.display());
        let sandbox = format!("HOOKLINE_OH_SANDBOX_ID={id}");
        let sandbox_dir = self.instance.join("sandboxes").join(&id);
        let mut killed = Vec::new();
        for pid in marked_pids(&[instance.as_str()]) {
            let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let cmdline = String::from_utf8_lossy(&cmdline);
            // Only agent servers: the tmux server one of them started is shared by all sandboxes.
            if !cmdline.contains("openhands.agent_server") {
                continue;
            }
            // This conversation's: by the marker the app runner sets, or by its working directory.
            let marked = environ_of(pid).iter().any(|var| *var == sandbox.as_bytes());
            let in_dir = fs::read_link(format!("/proc/{pid}/cwd")).is_ok_and(|cwd| cwd == sandbox_dir);
            if !marked && !in_dir {
                continue;
            }
            let status = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status()
                .expect("run kill");
            if status.success() {
                killed.push(pid);
            }
        }
        assert!(
            !killed.is_empty(),
            "RealOpenHands: no agent server of conversation {id} runs in {}",
            self.instance.display()
        );
        // Dead (or a zombie until the app server reaps it) before returning, so the next status read sees it.
        for _ in 0..100 {
            if killed.iter().all(|pid| !process_alive(*pid)) {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        killed
    }

    /// The last `lines` lines of the app server's log.
    pub fn app_log_tail(&self, lines: usize) -> String {
        let text = fs::read_to_string(self.instance.join("logs/app.log")).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// Stop the sandboxes, the app server and the fake LLM (SIGTERM, SIGKILL after 8 s). Idempotent.
    pub fn stop(&mut self) {
        if std::mem::replace(&mut self.stopped, true) {
            return;
        }
        let output = Command::new("bash")
            .arg(scripts_dir().join("stop.sh"))
            .arg(&self.dir)
            .arg(self.app_port.to_string())
            .stdin(Stdio::null())
            .output();
        match output {
            Ok(output) if output.status.success() => {}
            Ok(output) => eprintln!("RealOpenHands: stop.sh failed:\n{}", describe(&output)),
            Err(err) => eprintln!("RealOpenHands: cannot run stop.sh: {err}"),
        }
        let _ = fs::remove_file(&self.claim);
        lock(&IN_USE).remove(&self.app_port);
    }
}

impl Drop for RealOpenHands {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `$HOOKLINE_TEST_OPENHANDS_DIR`, or `<repo>/.openhands-test`; absolute (as the scripts' markers are).
fn install_dir() -> PathBuf {
    let dir = match std::env::var_os(DIR_ENV) {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => repo_root().join(".openhands-test"),
    };
    std::path::absolute(&dir).unwrap_or_else(|err| {
        panic!(
            "RealOpenHands: {DIR_ENV}={} is not a usable path: {err}",
            dir.display()
        )
    })
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate lives in the repository")
        .to_path_buf()
}

fn scripts_dir() -> PathBuf {
    repo_root().join("tests/openhands")
}

fn ensure_installed(dir: &Path) {
    let result = SETUP.get_or_init(|| {
        let output = run_script("setup.sh", dir, |_| {});
        if output.status.success() {
            Ok(())
        } else {
            Err(describe(&output))
        }
    });
    if let Err(detail) = result {
        panic!(
            "RealOpenHands: could not install the real OpenHands app server into {}:\n{detail}",
            dir.display()
        );
    }
}

fn run_script(name: &str, dir: &Path, configure: impl FnOnce(&mut Command)) -> Output {
    let mut command = Command::new("bash");
    command
        .arg(scripts_dir().join(name))
        .arg(dir)
        .stdin(Stdio::null());
    configure(&mut command);
    command
        .output()
        .unwrap_or_else(|err| panic!("RealOpenHands: cannot run bash tests/openhands/{name}: {err}"))
}

fn describe(output: &Output) -> String {
    format!(
        "exit status: {}\n--- stderr:\n{}\n--- stdout:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr),
        String::from_utf8_lossy(&output.stdout)
    )
}

fn repos_env(repos: &[String]) -> String {
    if repos.is_empty() {
        "octo-org/hello".to_owned()
    } else {
        repos.join(" ")
    }
}

/// Claim a slot by creating its owner file with this process's pid; a claim of a dead process is taken over.
fn claim_slot(claim: &Path) -> bool {
    for _ in 0..2 {
        match fs::OpenOptions::new().write(true).create_new(true).open(claim) {
            Ok(file) => {
                use std::io::Write as _;
                let mut file = file;
                return writeln!(file, "{}", std::process::id()).is_ok();
            }
            Err(err) if err.kind() == ErrorKind::AlreadyExists => {
                let owner = fs::read_to_string(claim).unwrap_or_default();
                match owner.trim().parse::<u32>() {
                    Ok(pid) if pid != std::process::id() && process_alive(pid) => return false,
                    // Ours (a leftover of an instance that was not stopped), a dead process's, or unreadable.
                    _ => {
                        let _ = fs::remove_file(claim);
                    }
                }
            }
            Err(err) => panic!("RealOpenHands: cannot create {}: {err}", claim.display()),
        }
    }
    false
}

/// Alive and not a zombie.
fn process_alive(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

/// Pids of processes whose environment holds every one of `entries` (`NAME=value`).
fn marked_pids(entries: &[&str]) -> Vec<u32> {
    let Ok(proc_dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut pids: Vec<u32> = proc_dir
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let vars = environ_of(*pid);
            entries
                .iter()
                .all(|entry| vars.iter().any(|var| var == entry.as_bytes()))
        })
        .collect();
    pids.sort_unstable();
    pids
}

/// The `NAME=value` entries of a process's environment (empty if it is gone or not readable).
fn environ_of(pid: u32) -> Vec<Vec<u8>> {
    fs::read(format!("/proc/{pid}/environ"))
        .unwrap_or_default()
        .split(|b| *b == 0)
        .filter(|var| !var.is_empty())
        .map(<[u8]>::to_vec)
        .collect()
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
