//! Real headless Chromium for browser tests, driven over WebDriver ([`fantoccini`]) through Debian's
//! `chromium` and `chromium-driver` (`scripts/test.sh` installs them).
//!
//! [`Browser::start`] runs `chromedriver` (`$HOOKLINE_TEST_CHROMEDRIVER`, default `/usr/bin/chromedriver`) on a
//! free loopback port in its own process group and opens a session on `$HOOKLINE_TEST_CHROMIUM` (default
//! `/usr/bin/chromium`) with a fresh profile. It never skips: a missing binary is an error naming it and how to
//! install it. [`Browser::close`] ends the session (chromedriver quits Chromium) and stops chromedriver; dropping
//! a `Browser` without closing it kills the whole process group, so no Chromium outlives a test.
//!
//! Screenshots go to `$HOOKLINE_TEST_ARTIFACTS` (default `<tempdir>/hookline-browser-artifacts`), printed once.

use std::{
    fs,
    net::TcpListener,
    os::unix::process::CommandExt,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::OnceLock,
    time::{Duration, Instant},
};

use anyhow::{anyhow, bail, Context};
use fantoccini::{wd::Capabilities, Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;

/// Environment variables naming the binaries and the artifacts folder.
pub const CHROMEDRIVER_ENV: &str = "HOOKLINE_TEST_CHROMEDRIVER";
pub const CHROMIUM_ENV: &str = "HOOKLINE_TEST_CHROMIUM";
pub const ARTIFACTS_ENV: &str = "HOOKLINE_TEST_ARTIFACTS";

/// Chromium's flags. This machine's network is closed and refuses background connections: nothing may phone
/// home, update components or sync; `/dev/shm` may be small in containers.
const CHROMIUM_ARGS: &[&str] = &[
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1280,900",
];

/// How long chromedriver may take to answer, the session to open and an element to appear.
const DRIVER_READY: Duration = Duration::from_secs(20);
const SESSION_READY: Duration = Duration::from_secs(60);
const ELEMENT_READY: Duration = Duration::from_secs(10);

/// A WebDriver session on headless Chromium, with its chromedriver.
pub struct Browser {
    // Dropped in this order: the session handle, then the processes, then their files.
    client: Client,
    _chromedriver: ProcessGroup,
    /// The profile (`--user-data-dir`) and chromedriver's log.
    _dir: tempfile::TempDir,
}

impl Browser {
    /// [`Self::start`] for a test that needs the browser: a missing binary fails the test, saying so.
    ///
    /// # Panics
    /// If [`Self::start`] fails.
    pub async fn open() -> Browser {
        Self::start()
            .await
            .expect("Chromium and chromedriver (scripts/test.sh installs them)")
    }

    /// Start chromedriver and open a session on headless Chromium.
    ///
    /// # Errors
    /// If Chromium or chromedriver is missing (saying which and how to install it), chromedriver does not
    /// answer, or the session cannot be opened (with chromedriver's output).
    pub async fn start() -> anyhow::Result<Browser> {
        let chromedriver = binary(CHROMEDRIVER_ENV, "/usr/bin/chromedriver", "chromium-driver")?;
        let chromium = binary(CHROMIUM_ENV, "/usr/bin/chromium", "chromium")?;
        let dir = tempfile::Builder::new()
            .prefix("hookline-browser-")
            .tempdir()
            .context("create the browser's temp dir")?;
        let log_path = dir.path().join("chromedriver.log");
        let log = fs::File::create(&log_path).context("create chromedriver's log")?;
        let port = free_port()?;
        let mut group = ProcessGroup(
            Command::new(&chromedriver)
                .arg(format!("--port={port}"))
                // Chromium's crash database and caches go under these rather than the home directory.
                .env("XDG_CONFIG_HOME", dir.path())
                .env("XDG_CACHE_HOME", dir.path())
                .stdin(Stdio::null())
                .stdout(log.try_clone()?)
                .stderr(log)
                // Its own group, led by chromedriver: Chromium's processes join it, so one kill ends them all.
                .process_group(0)
                .spawn()
                .with_context(|| format!("start {}", chromedriver.display()))?,
        );
        let profile = dir.path().join("profile");
        match connect_when_ready(&mut group.0, port, &chromium, &profile).await {
            Ok(client) => Ok(Browser {
                client,
                _chromedriver: group,
                _dir: dir,
            }),
            Err(err) => {
                drop(group);
                let output = fs::read_to_string(&log_path).unwrap_or_default();
                Err(err.context(format!(
                    "chromedriver {} on port {port}; its output:\n{}",
                    chromedriver.display(),
                    tail(&output)
                )))
            }
        }
    }

    /// The WebDriver client, for anything the helpers do not cover.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Load `url` and wait for it to load.
    ///
    /// # Errors
    /// If the navigation fails.
    pub async fn goto(&self, url: &str) -> anyhow::Result<()> {
        self.client.goto(url).await.with_context(|| format!("load {url}"))
    }

    /// The first element matching `css`, waiting up to 10 s for it to appear.
    ///
    /// # Errors
    /// If no element matches in time.
    pub async fn element(&self, css: &str) -> anyhow::Result<fantoccini::elements::Element> {
        self.client
            .wait()
            .at_most(ELEMENT_READY)
            .for_element(Locator::Css(css))
            .await
            .with_context(|| format!("find `{css}`"))
    }

    /// The `href` of the first element matching `css` (see [`Self::element`]), if it has one.
    ///
    /// # Errors
    /// If no element matches in time or the attribute cannot be read.
    pub async fn href_of(&self, css: &str) -> anyhow::Result<Option<String>> {
        let element = self.element(css).await?;
        element
            .attr("href")
            .await
            .with_context(|| format!("the href of `{css}`"))
    }

    /// The rendered text of the first element matching `css` (see [`Self::element`]).
    ///
    /// # Errors
    /// If no element matches in time.
    pub async fn text_of(&self, css: &str) -> anyhow::Result<String> {
        let element = self.element(css).await?;
        element.text().await.with_context(|| format!("text of `{css}`"))
    }

    /// The text of the first element matching `css` once it contains `needle` (pages load after a click).
    ///
    /// # Errors
    /// If no element matching `css` shows `needle` within 10 s (the error names the last text seen).
    pub async fn text_once(&self, css: &str, needle: &str) -> anyhow::Result<String> {
        let deadline = std::time::Instant::now() + ELEMENT_READY;
        loop {
            let text = match self.client.find(Locator::Css(css)).await {
                Ok(element) => element.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            if text.contains(needle) {
                return Ok(text);
            }
            if std::time::Instant::now() > deadline {
                anyhow::bail!("`{css}` never showed {needle:?}; last: {text:?}");
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// Click the first element matching `css` (see [`Self::element`]).
    ///
    /// # Errors
    /// If no element matches in time or the click fails.
    pub async fn click(&self, css: &str) -> anyhow::Result<()> {
        let element = self.element(css).await?;
        element.click().await.with_context(|| format!("click `{css}`"))
    }

    /// Type `text` into the first field matching `css` (see [`Self::element`]).
    ///
    /// # Errors
    /// If no element matches in time or typing fails.
    pub async fn fill(&self, css: &str, text: &str) -> anyhow::Result<()> {
        let element = self.element(css).await?;
        element
            .send_keys(text)
            .await
            .with_context(|| format!("type into `{css}`"))
    }

    /// Open `url`, then click each of `steps` in turn (each waited for on the page the last click loaded): a
    /// sign-in through a provider's pages and back.
    ///
    /// # Errors
    /// If a page does not load or a step never appears.
    pub async fn click_through(&self, url: &str, steps: &[&str]) -> anyhow::Result<()> {
        self.goto(url).await?;
        for css in steps {
            self.click(css).await?;
        }
        Ok(())
    }

    /// Follow an invitation `link` through the provider's sign-in (as whoever the fake has signed in) and back
    /// to the console.
    ///
    /// # Errors
    /// If a step of the way never appears.
    pub async fn follow_invitation(&self, link: &str) -> anyhow::Result<()> {
        self.click_through(link, &["#sign-in-with-provider", "#authorize", "#continue-link"])
            .await
    }

    /// Follow the invitation `link` twice and close the browser: first with the provider's fake signed in to
    /// someone else's account (`sign_in_as_someone_else`), which the console must refuse; then signed in as the
    /// invited person (`sign_in_as_invited`), who links themselves to OpenHands user `user` with `key`.
    ///
    /// # Errors
    /// If another account is not refused, or the invited person cannot link themselves.
    pub async fn link_through_invitation(
        self,
        link: &str,
        sign_in_as_someone_else: impl FnOnce(),
        sign_in_as_invited: impl FnOnce(),
        user: &str,
        key: &str,
    ) -> anyhow::Result<()> {
        sign_in_as_someone_else();
        self.follow_invitation(link).await?;
        self.text_once("main", "another account than the one")
            .await
            .context("another account is refused")?;
        sign_in_as_invited();
        self.follow_invitation(link).await?;
        self.link_with_key(user, key).await?;
        self.close().await
    }

    /// On the console's key form: link to OpenHands user `user` with `key`, and wait until it says so.
    ///
    /// # Errors
    /// If the form is not there or the link is refused.
    pub async fn link_with_key(&self, user: &str, key: &str) -> anyhow::Result<()> {
        self.fill("#openhands-user", user).await?;
        self.fill("#api-key", key).await?;
        self.click("#link").await?;
        self.text_once(".notice", "is linked").await.map(|_| ())
    }

    /// Open `attacker`, another origin's page whose form (button `#go`) posts to the console, press the button,
    /// and wait for the console to refuse the post as not sent from itself.
    ///
    /// # Errors
    /// If the page does not load or the console never refuses.
    pub async fn post_from_another_site(&self, attacker: &str) -> anyhow::Result<()> {
        self.goto(attacker).await?;
        self.click("#go").await?;
        self.text_once("main", "not sent from this console")
            .await
            .map(|_| ())
    }

    /// Open the console at `console` and sign in with the operator `token`.
    ///
    /// # Errors
    /// If the sign-in form does not appear or cannot be used.
    pub async fn sign_in(&self, console: &str, token: &str) -> anyhow::Result<()> {
        self.goto(console).await?;
        self.fill("#token", token).await?;
        self.click("#sign-in").await
    }

    /// Save a PNG of the viewport as `<artifacts>/<name>.png` and return its path.
    ///
    /// # Errors
    /// If the screenshot cannot be taken or written.
    pub async fn screenshot(&self, name: &str) -> anyhow::Result<PathBuf> {
        let png = self.client.screenshot().await.context("take a screenshot")?;
        let path = artifacts_dir()?.join(format!("{name}.png"));
        fs::write(&path, png).with_context(|| format!("write {}", path.display()))?;
        Ok(path)
    }

    /// End the session (chromedriver quits Chromium), then stop chromedriver.
    ///
    /// # Errors
    /// If the session could not be ended cleanly; the processes are stopped anyway.
    pub async fn close(self) -> anyhow::Result<()> {
        let ended = self.client.clone().close().await;
        drop(self);
        ended.context("end the WebDriver session")
    }
}

impl std::fmt::Debug for Browser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Browser")
            .field("chromedriver", &self._chromedriver.0.id())
            .finish_non_exhaustive()
    }
}

/// A child leading its own process group; dropping it SIGKILLs the group (chromedriver and every Chromium
/// process), then reaps the leader. The group goes before the reap, so its id cannot have been reused yet.
struct ProcessGroup(Child);

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.0.id())])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The artifacts folder (`$HOOKLINE_TEST_ARTIFACTS`, default `<tempdir>/hookline-browser-artifacts`), created;
/// its path is printed the first time.
///
/// # Errors
/// If it cannot be created.
pub fn artifacts_dir() -> anyhow::Result<PathBuf> {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    let dir = DIR.get_or_init(|| {
        let dir = match std::env::var_os(ARTIFACTS_ENV) {
            Some(dir) if !dir.is_empty() => PathBuf::from(dir),
            _ => std::env::temp_dir().join("hookline-browser-artifacts"),
        };
        let dir = std::path::absolute(&dir).unwrap_or(dir);
        eprintln!("browser test artifacts: {}", dir.display());
        dir
    });
    fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    Ok(dir.clone())
}

/// `$env` or `default`, which must be an existing file; else an error saying how to get it.
fn binary(env: &str, default: &str, package: &str) -> anyhow::Result<PathBuf> {
    let path = match std::env::var_os(env) {
        Some(path) if !path.is_empty() => PathBuf::from(path),
        _ => PathBuf::from(default),
    };
    if path.is_file() {
        return Ok(path);
    }
    Err(anyhow!(
        "browser tests need {} (Debian package `{package}`), which is missing. Install Debian's Chromium and its \
         driver as root with `apt-get install -y chromium chromium-driver` (`bash scripts/test.sh` does), or set \
         {env} to another binary",
        path.display()
    ))
}

fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("find a free loopback port")?;
    Ok(listener.local_addr()?.port())
}

/// Wait for `chromedriver` on `port` to say it is ready, then open a session.
async fn connect_when_ready(
    chromedriver: &mut Child,
    port: u16,
    chromium: &Path,
    profile: &Path,
) -> anyhow::Result<Client> {
    let url = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()?;
    let deadline = Instant::now() + DRIVER_READY;
    loop {
        let ready = match http.get(format!("{url}/status")).send().await {
            Ok(answer) => answer.json::<serde_json::Value>().await.ok(),
            Err(_) => None,
        };
        if ready.is_some_and(|status| status["value"]["ready"] == true) {
            break;
        }
        if let Some(status) = chromedriver.try_wait()? {
            bail!("chromedriver exited: {status}");
        }
        if Instant::now() > deadline {
            bail!("chromedriver did not answer within {DRIVER_READY:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut args: Vec<String> = CHROMIUM_ARGS.iter().map(|arg| (*arg).to_owned()).collect();
    args.push(format!("--user-data-dir={}", profile.display()));
    let mut capabilities = Capabilities::new();
    capabilities.insert("browserName".into(), json!("chrome"));
    capabilities.insert(
        "goog:chromeOptions".into(),
        json!({ "binary": chromium, "args": args }),
    );
    let mut builder = ClientBuilder::new(HttpConnector::new());
    builder.capabilities(capabilities);
    tokio::time::timeout(SESSION_READY, builder.connect(&url))
        .await
        .map_err(|_| anyhow!("no WebDriver session within {SESSION_READY:?}"))?
        .context("open a WebDriver session on Chromium")
}

/// The last lines of a log.
fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// Serve `html` at `/` on a new loopback port: a page of another origin (an attacker's, in the console's
/// tests). Returns its URL and the task that serves it until dropped.
pub async fn serve_page(html: &str) -> (String, crate::fake_core::ServerTask) {
    let page = axum::response::Html(html.to_owned());
    let app = axum::Router::new().route("/", axum::routing::get(move || async move { page }));
    let listener = crate::fake_core::Listener::bind("page of another origin").await;
    let url = format!("{}/", listener.url());
    (url, listener.serve_plain(app))
}
