//! A local fake of the GitHub REST API subset Hookline uses, for integration
//! tests.
//!
//! Modelled behaviour:
//! - `POST /app/installations/{id}/access_tokens` verifies the app JWT: RS256 under the configured public
//!   key, `iss` equal to the app id, `iat` not in the future, `exp` in the future and at most 10 minutes
//!   ahead. It answers `201 {token: "ghs_fake_<n>", expires_at: now + 1 h}`, or 401.
//! - Every `/repos/…` call needs a live token it issued (`Bearer` or `token` scheme), else 401
//!   `Bad credentials`. [`FakeGithub::revoke_tokens`] makes all issued tokens stale.
//! - Issue comments and review comments (with thread replies), reactions (201 when new, 200 when already
//!   there), collaborator permissions (`read` unless set), and pull request head refs.
//! - Listings paginate like GitHub: `per_page` (default 30, at most 100), `page`, and a `Link` header with
//!   `rel="next"` and `rel="last"`.
//! - Comments created through the API are authored by `{app_slug}[bot]`.
//! - Failures queued with [`FakeGithub::fail_next`] are answered before authentication, one per matching
//!   request, in order.
//! - Registering an App from a manifest: the web pages `POST /settings/apps/new?state=` and
//!   `POST /organizations/{org}/settings/apps/new?state=` (form field `manifest`) answer a page whose
//!   "Create GitHub App" link goes to the manifest's `redirect_url` with a one-time `code` and the `state`;
//!   `POST /app-manifests/{code}/conversions` (no authentication) answers `201` with the App (id, slug,
//!   `client_id` = the fake's app id, `webhook_secret`, `pem` = the test-only key, `client_secret`, owner),
//!   once per code; a code used again or never issued is 404.
//! - Signing people in with the App (user authorization, [`crate::fake_oauth`]): `GET /login/oauth/authorize`,
//!   `POST /login/oauth/access_token` (client id = the app id; a client secret a conversion issued or
//!   [`FakeGithub::accept_client_secret`] allowed) and `GET /user` with the user token.
//!
//! Time comes from a [`Clock`], so a test can share a `ManualClock` with the client and move both. Every
//! request is recorded (method, path, query, JSON body and a few headers) for inspection.

use std::{
    collections::{BTreeMap, HashMap},
    sync::Arc,
    time::{Duration, UNIX_EPOCH},
};

use axum::{
    extract::State,
    http::{HeaderMap, HeaderValue, Method, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use hookline::{
    clock::{Clock, SystemClock},
    github::GithubConfig,
};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::{json, Value};

pub use crate::fake_core::RecordedRequest;
use crate::fake_core::{
    self, percent_decode, query_map, reason, FakeServer, Incoming, Listener, Locked, Page, Recording,
};
use crate::fake_oauth::{escape, OAuthDesk, SignInRoutes};

/// The App's user authorization: GitHub's web side, and `GET /user` with the user token.
const SIGN_IN: SignInRoutes = SignInRoutes {
    authorize: "/login/oauth/authorize",
    token: "/login/oauth/access_token",
    user: ("GET", "/user"),
};

/// App id (JWT issuer) the fake expects unless told otherwise.
pub const FAKE_APP_ID: &str = "Iv1.hooklinefake";
/// App slug the fake uses unless told otherwise; its comments are authored by `hookline-test[bot]`.
pub const FAKE_APP_SLUG: &str = "hookline-test";
/// Secret name [`FakeGithub::github_config`] gives the App's private key.
pub const PRIVATE_KEY_SECRET: &str = "github/app-private-key";
/// Lifetime of issued installation tokens, as on GitHub.
pub const TOKEN_LIFETIME_SECS: u64 = 3600;
/// Longest `exp - now` GitHub accepts in an app JWT.
const MAX_JWT_AHEAD_SECS: u64 = 600;

/// Request headers kept in [`RecordedRequest::headers`] (lowercase).
const RECORDED_HEADERS: &[&str] = &[
    "authorization",
    "accept",
    "x-github-api-version",
    "user-agent",
    "content-type",
];

/// Reaction contents GitHub accepts.
const REACTIONS: &[&str] = &[
    "+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes",
];

/// The test-only App private key, PKCS#1 (`tests/fixtures/github-app/`; never registered anywhere).
pub fn test_app_private_key_pem() -> &'static str {
    include_str!("../fixtures/github-app/test-only-app-private-key.pem")
}

/// The same test-only private key as PKCS#8.
pub fn test_app_private_key_pkcs8_pem() -> &'static str {
    include_str!("../fixtures/github-app/test-only-app-private-key.pkcs8.pem")
}

/// Public half of the test-only key, for [`FakeGithub::start`].
pub fn test_app_public_key_pem() -> &'static str {
    include_str!("../fixtures/github-app/test-only-app-public-key.pem")
}

/// How to start a [`FakeGithub`].
#[derive(Clone)]
pub struct FakeGithubOptions {
    /// PEM public key (SPKI or PKCS#1) that app JWTs must verify under.
    pub public_key_pem: String,
    /// Expected JWT `iss`.
    pub app_id: String,
    /// The App's slug; comments created through the API come from `{app_slug}[bot]`.
    pub app_slug: String,
    /// The fake's "now" (JWT checks, token expiry, comment timestamps).
    pub clock: Arc<dyn Clock>,
}

impl FakeGithubOptions {
    /// Defaults: [`FAKE_APP_ID`], [`FAKE_APP_SLUG`] and the system clock.
    pub fn new(public_key_pem: &str) -> Self {
        Self {
            public_key_pem: public_key_pem.to_owned(),
            app_id: FAKE_APP_ID.to_owned(),
            app_slug: FAKE_APP_SLUG.to_owned(),
            clock: Arc::new(SystemClock),
        }
    }
}

/// Issue (conversation) comment or pull request review (inline) comment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommentKind {
    Issue,
    Review,
}

/// A comment as the fake stores it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FakeComment {
    pub id: u64,
    /// `owner/repo`.
    pub repo: String,
    /// Issue or pull request number.
    pub number: u64,
    pub kind: CommentKind,
    pub body: String,
    pub html_url: String,
    pub user_login: String,
    /// Epoch seconds.
    pub created_at: u64,
    pub updated_at: u64,
    /// For review comments: the thread's top-level comment.
    pub in_reply_to_id: Option<u64>,
}

/// What a reaction was put on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReactionTarget {
    Issue { repo: String, number: u64 },
    IssueComment { repo: String, comment_id: u64 },
    ReviewComment { repo: String, comment_id: u64 },
}

/// A reaction as the fake stores it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FakeReaction {
    pub target: ReactionTarget,
    pub content: String,
    pub user_login: String,
}

/// An answer to give instead of the normal one (see [`FakeGithub::fail_next`]).
pub type InjectedFailure = fake_core::InjectedFailure<FakeGithub>;

impl InjectedFailure {
    /// `status` with a GitHub-style `{"message": …}` body.
    pub fn status(status: u16) -> Self {
        Self::new(status, json!({ "message": reason(status) }))
    }

    /// Replace the body's `message`.
    pub fn with_message(mut self, message: &str) -> Self {
        self.body = json!({ "message": message });
        self
    }

    /// 429 with `retry-after: {seconds}`.
    pub fn too_many_requests(retry_after_secs: u64) -> Self {
        Self::status(429).with_header("retry-after", &retry_after_secs.to_string())
    }

    /// 403 for a spent primary quota: `x-ratelimit-remaining: 0`, `x-ratelimit-reset: {reset_at}`.
    pub fn primary_rate_limit(reset_at: u64) -> Self {
        Self::status(403)
            .with_header("x-ratelimit-limit", "5000")
            .with_header("x-ratelimit-remaining", "0")
            .with_header("x-ratelimit-reset", &reset_at.to_string())
            .with_message("API rate limit exceeded for installation.")
    }

    /// 403 for a secondary rate limit, without timing headers.
    pub fn secondary_rate_limit() -> Self {
        Self::status(403).with_message(
            "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
        )
    }
}

/// The running fake. Dropping it stops the server.
pub struct FakeGithub {
    shared: Arc<Shared>,
    server: FakeServer,
}

struct Shared {
    url: String,
    app_id: String,
    app_slug: String,
    bot_login: String,
    key: DecodingKey,
    clock: Arc<dyn Clock>,
    state: Locked<FakeState>,
}

impl Shared {
    fn now(&self) -> u64 {
        self.clock.now_secs()
    }
}

#[derive(Default)]
struct FakeState {
    token_exchanges: usize,
    issued_tokens: u64,
    tokens: HashMap<String, IssuedToken>,
    next_comment_id: u64,
    comments: Vec<FakeComment>,
    reactions: Vec<FakeReaction>,
    collaborators: HashMap<String, Collaborator>,
    /// Per pull request: its head branch and the repository holding it.
    pull_heads: HashMap<(String, u64), (String, String)>,
    /// Manifests posted to the App registration page, oldest first.
    manifests: Vec<PostedManifest>,
    /// Codes the registration page issued and no conversion has used yet: code → manifest index.
    manifest_codes: HashMap<String, usize>,
    /// Apps created by conversions, oldest first.
    apps: Vec<Value>,
    /// People signing in with the App.
    oauth: OAuthDesk,
}

/// A manifest as posted to the App registration page.
#[derive(Clone, Debug)]
pub struct PostedManifest {
    /// The organization it was posted for (`None`: the person's own account).
    pub organization: Option<String>,
    pub state: Option<String>,
    pub manifest: Value,
}

struct IssuedToken {
    installation_id: u64,
    expires_at: u64,
}

#[derive(Clone)]
enum Collaborator {
    Role {
        role_name: String,
        permission: String,
    },
    /// Answer 404, as GitHub does for someone who is not a user (or not visible).
    Missing,
}

impl FakeGithub {
    /// Start with [`FakeGithubOptions::new`] defaults: JWTs must verify under `public_key_pem`.
    ///
    /// # Panics
    /// If the key is not a PEM RSA public key or no local port can be bound (the test cannot run anyway).
    pub async fn start(public_key_pem: &str) -> FakeGithub {
        Self::start_with(FakeGithubOptions::new(public_key_pem)).await
    }

    /// Bind `127.0.0.1:0` and serve until dropped.
    ///
    /// # Panics
    /// As [`FakeGithub::start`].
    pub async fn start_with(options: FakeGithubOptions) -> FakeGithub {
        let key = DecodingKey::from_rsa_pem(options.public_key_pem.as_bytes())
            .expect("fake GitHub needs a PEM RSA public key");
        let listener = Listener::bind("fake GitHub").await;
        let shared = Arc::new(Shared {
            url: listener.url().to_owned(),
            app_id: options.app_id,
            bot_login: format!("{}[bot]", options.app_slug),
            app_slug: options.app_slug,
            key,
            clock: options.clock,
            state: Locked::new(FakeState {
                next_comment_id: 1_000,
                ..FakeState::default()
            }),
        });
        let server = listener.serve_fallback(shared.clone(), handle, Recording::headers(RECORDED_HEADERS));
        FakeGithub { shared, server }
    }

    /// Base URL of the API, e.g. `http://127.0.0.1:41234` (what `GithubConfig::api_url` should be).
    pub fn url(&self) -> &str {
        self.server.url()
    }

    /// `{app_slug}[bot]`, the author of comments created through the API.
    pub fn bot_login(&self) -> &str {
        &self.shared.bot_login
    }

    /// A [`GithubConfig`] pointing at this fake, with the private key under [`PRIVATE_KEY_SECRET`].
    pub fn github_config(&self) -> GithubConfig {
        GithubConfig {
            api_url: self.shared.url.clone(),
            tenant: "github.com".to_owned(),
            app_id: self.shared.app_id.clone(),
            app_slug: self.shared.app_slug.clone(),
            webhook_secret_name: "github/webhook-secret".to_owned(),
            private_key_secret_name: PRIVATE_KEY_SECRET.to_owned(),
            label: "openhands".to_owned(),
            mention: "@openhands".to_owned(),
            assignee: None,
        }
    }

    /// The account signed in to GitHub's web side from now on (who the authorize page signs in).
    pub fn sign_in_as(&self, login: &str, id: u64) {
        self.shared.state.lock().oauth.sign_in_as(login, id);
    }

    /// Let the token endpoint take `client_secret` (for an App configured rather than created here).
    pub fn accept_client_secret(&self, client_secret: &str) {
        self.shared
            .state
            .lock()
            .oauth
            .enable(&self.shared.app_id, client_secret);
    }

    /// How many user tokens were issued.
    pub fn user_tokens_issued(&self) -> usize {
        self.shared.state.lock().oauth.tokens_issued()
    }

    /// Manifests posted to the App registration page, oldest first.
    pub fn posted_manifests(&self) -> Vec<PostedManifest> {
        self.shared.state.lock().manifests.clone()
    }

    /// What a person's browser does on GitHub's "Create GitHub App" page: post `manifest` (JSON) with `state`
    /// to `/settings/apps/new`, and follow the page's link back; the one-time code that link carries.
    ///
    /// # Panics
    /// If the fake does not answer with a page linking back with a code.
    pub async fn register_app_from_manifest(&self, manifest: &str, state: &str) -> String {
        let form = form_urlencoded::Serializer::new(String::new())
            .append_pair("manifest", manifest)
            .finish();
        let page = reqwest::Client::new()
            .post(format!("{}/settings/apps/new?state={state}", self.url()))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form)
            .send()
            .await
            .expect("the fake answers")
            .text()
            .await
            .expect("a page");
        let at = page.find("code=").expect("a link back with a code") + 5;
        page[at..].split(['&', '"']).next().unwrap_or_default().to_owned()
    }

    /// Apps created from manifests (as the conversions answered them), oldest first.
    pub fn created_apps(&self) -> Vec<Value> {
        self.shared.state.lock().apps.clone()
    }

    /// Every request so far, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.server.requests()
    }

    /// Requests whose path starts with `prefix`.
    pub fn requests_to(&self, prefix: &str) -> Vec<RecordedRequest> {
        self.server.requests_to(prefix)
    }

    /// How many installation tokens were issued (successful exchanges).
    pub fn token_exchanges(&self) -> usize {
        self.shared.state.lock().token_exchanges
    }

    /// The installation a live token was issued for.
    pub fn token_installation(&self, token: &str) -> Option<u64> {
        self.shared
            .state
            .lock()
            .tokens
            .get(token)
            .map(|t| t.installation_id)
    }

    /// Make every issued token stale, as if GitHub had revoked them; later calls with them get 401.
    pub fn revoke_tokens(&self) {
        self.shared.state.lock().tokens.clear();
    }

    /// All comments, in creation order.
    pub fn comments(&self) -> Vec<FakeComment> {
        self.shared.state.lock().comments.clone()
    }

    /// The comments the App wrote (as its bot account), oldest first.
    pub fn bot_comments(&self) -> Vec<FakeComment> {
        let bot = self.bot_login().to_owned();
        self.comments()
            .into_iter()
            .filter(|c| c.user_login == bot)
            .collect()
    }

    /// One comment by id.
    pub fn comment(&self, id: u64) -> Option<FakeComment> {
        self.shared
            .state
            .lock()
            .comments
            .iter()
            .find(|c| c.id == id)
            .cloned()
    }

    /// All reactions, in creation order.
    pub fn reactions(&self) -> Vec<FakeReaction> {
        self.shared.state.lock().reactions.clone()
    }

    /// Asserts the acknowledgement of a run started from issue `number` of [`REPO`](crate::harness::REPO): one
    /// 👀 on the issue and one status comment ("I'm on it") linking the conversation.
    pub fn assert_acknowledged_issue(&self, number: u64, conversation_id: &str) {
        let reactions = self.reactions();
        assert_eq!(reactions.len(), 1);
        assert_eq!(reactions[0].content, "eyes");
        assert_eq!(
            reactions[0].target,
            ReactionTarget::Issue {
                repo: crate::harness::REPO.into(),
                number
            }
        );
        let comments = self.bot_comments();
        assert_eq!(comments.len(), 1);
        assert!(comments[0].body.contains("I'm on it"));
        assert!(comments[0].body.contains(&format!(
            "https://app.example.test/conversations/{conversation_id}"
        )));
    }

    /// Asserts that `login`, not linked, got one comment (naming them) saying so.
    pub fn assert_one_linking_comment_for(&self, login: &str) {
        let comments = self.bot_comments();
        assert_eq!(comments.len(), 1);
        assert!(comments[0].body.contains(&format!("@{login}")));
        assert!(comments[0].body.contains("not linked"));
    }

    /// Asserts that nothing was posted or reacted on GitHub, after `login`'s permission on
    /// [`REPO`](crate::harness::REPO) was asked.
    pub fn assert_untouched_after_checking(&self, login: &str) {
        assert!(self.bot_comments().is_empty());
        assert!(self.reactions().is_empty());
        assert!(!self
            .requests_to(&format!(
                "/repos/{}/collaborators/{login}/permission",
                crate::harness::REPO
            ))
            .is_empty());
    }

    /// Give `login` a built-in role (`admin`, `maintain`, `write`, `triage`, `read`, or `none`); the
    /// `permission` field follows GitHub's mapping (maintain → write, triage → read).
    pub fn set_role(&self, login: &str, role: &str) {
        let permission = match role {
            "admin" => "admin",
            "maintain" | "write" => "write",
            "none" => "none",
            _ => "read",
        };
        self.set_role_and_permission(login, role, permission);
    }

    /// Set `role_name` and `permission` independently (custom repository roles).
    pub fn set_role_and_permission(&self, login: &str, role_name: &str, permission: &str) {
        let collaborator = Collaborator::Role {
            role_name: role_name.to_owned(),
            permission: permission.to_owned(),
        };
        self.shared
            .state
            .lock()
            .collaborators
            .insert(login.to_owned(), collaborator);
    }

    /// Make the permission lookup for `login` answer 404.
    pub fn remove_user(&self, login: &str) {
        self.shared
            .state
            .lock()
            .collaborators
            .insert(login.to_owned(), Collaborator::Missing);
    }

    /// Make `number` in `repo` a pull request whose head branch is `head_ref`.
    pub fn set_pull_head(&self, repo: &str, number: u64, head_ref: &str) {
        self.set_fork_pull_head(repo, number, head_ref, repo);
    }

    /// Make `number` in `repo` a pull request from `head_ref` of the fork `head_repo`; an empty `head_repo` is a
    /// deleted fork (`head.repo` is `null`).
    pub fn set_fork_pull_head(&self, repo: &str, number: u64, head_ref: &str, head_repo: &str) {
        self.shared.state.lock().pull_heads.insert(
            (repo.to_owned(), number),
            (head_ref.to_owned(), head_repo.to_owned()),
        );
    }

    /// Answer the next request whose path starts with `path_prefix` with `failure` (queued in order; each
    /// failure is used once).
    pub fn fail_next(&self, path_prefix: &str, failure: InjectedFailure) {
        self.server.fail_next(path_prefix, failure);
    }

    /// Add an existing issue comment; returns its id.
    pub fn seed_issue_comment(
        &self,
        repo: &str,
        number: u64,
        author: &str,
        body: &str,
        created_at: u64,
    ) -> u64 {
        let comment = (CommentKind::Issue, None);
        self.seed_comment(repo, number, comment, author, body, created_at)
    }

    /// Add an existing review comment (a reply when `in_reply_to_id` is set); returns its id.
    pub fn seed_review_comment(
        &self,
        repo: &str,
        number: u64,
        author: &str,
        body: &str,
        created_at: u64,
        in_reply_to_id: Option<u64>,
    ) -> u64 {
        let comment = (CommentKind::Review, in_reply_to_id);
        self.seed_comment(repo, number, comment, author, body, created_at)
    }

    fn seed_comment(
        &self,
        repo: &str,
        number: u64,
        (kind, in_reply_to_id): (CommentKind, Option<u64>),
        author: &str,
        body: &str,
        created_at: u64,
    ) -> u64 {
        let mut state = self.shared.state.lock();
        let url = html_url(&state, repo, number, kind, state.next_comment_id);
        insert_comment(
            &mut state,
            repo,
            number,
            kind,
            author,
            body,
            created_at,
            in_reply_to_id,
            url,
        )
    }
}

/// Every request lands here; routing is a match on the path segments.
async fn handle(State(shared): State<Arc<Shared>>, incoming: Incoming) -> Response {
    respond(&shared, &incoming)
}

fn respond(shared: &Shared, incoming: &Incoming) -> Response {
    let path = incoming.uri.path().to_owned();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    // GitHub's web side takes forms, not JSON.
    match (incoming.method.as_str(), segments.as_slice()) {
        ("POST", ["settings", "apps", "new"]) => return new_app_page(shared, incoming, None),
        ("POST", ["organizations", org, "settings", "apps", "new"]) => {
            return new_app_page(shared, incoming, Some(org))
        }
        _ => {}
    }
    let user = |(login, id): &(String, String)| json!({ "login": login, "id": id.parse::<u64>().unwrap_or_default(), "type": "User" });
    if let Some(answer) = shared.state.lock().oauth.route(incoming, &SIGN_IN, user) {
        return answer;
    }
    let json_body = serde_json::from_slice::<Value>(&incoming.body).ok();
    if !incoming.body.is_empty() && json_body.is_none() {
        return message(StatusCode::BAD_REQUEST, "Problems parsing JSON");
    }
    let mut state = shared.state.lock();
    let query = query_map(incoming.uri.query());
    match segments.as_slice() {
        ["app-manifests", code, "conversions"] if incoming.method == Method::POST => {
            convert_manifest(shared, &mut state, code)
        }
        ["app", "installations", installation, "access_tokens"] if incoming.method == Method::POST => {
            exchange_token(shared, &mut state, &incoming.headers, installation)
        }
        ["repos", owner, name, rest @ ..] => {
            if !has_live_token(shared, &state, &incoming.headers) {
                return message(StatusCode::UNAUTHORIZED, "Bad credentials");
            }
            let request = RepoRequest {
                shared,
                repo: format!("{owner}/{name}"),
                path: &path,
                query: &query,
                body: json_body.as_ref(),
            };
            route_repo(&request, &mut state, &incoming.method, rest)
        }
        _ => not_found(),
    }
}

/// A `/repos/{owner}/{repo}/…` request, authenticated.
struct RepoRequest<'a> {
    shared: &'a Shared,
    repo: String,
    path: &'a str,
    query: &'a BTreeMap<String, String>,
    body: Option<&'a Value>,
}

fn route_repo(request: &RepoRequest<'_>, state: &mut FakeState, method: &Method, rest: &[&str]) -> Response {
    let id = |segment: &str| segment.parse::<u64>().ok();
    match (method.as_str(), rest) {
        ("GET", ["collaborators", login, "permission"]) => permission(state, &percent_decode(login)),
        ("POST", ["issues", "comments", comment, "reactions"]) => match id(comment) {
            Some(comment_id) => react(
                request,
                state,
                ReactionTarget::IssueComment {
                    repo: request.repo.clone(),
                    comment_id,
                },
            ),
            None => not_found(),
        },
        ("POST", ["pulls", "comments", comment, "reactions"]) => match id(comment) {
            Some(comment_id) => react(
                request,
                state,
                ReactionTarget::ReviewComment {
                    repo: request.repo.clone(),
                    comment_id,
                },
            ),
            None => not_found(),
        },
        ("POST", ["issues", number, "reactions"]) => match id(number) {
            Some(number) => react(
                request,
                state,
                ReactionTarget::Issue {
                    repo: request.repo.clone(),
                    number,
                },
            ),
            None => not_found(),
        },
        ("GET", ["issues", number, "comments"]) => match id(number) {
            Some(number) => list_comments(request, state, CommentKind::Issue, number),
            None => not_found(),
        },
        ("POST", ["issues", number, "comments"]) => match id(number) {
            Some(number) => create_comment(request, state, CommentKind::Issue, number, None),
            None => not_found(),
        },
        ("PATCH", ["issues", "comments", comment]) => match id(comment) {
            Some(comment_id) => edit_comment(request, state, CommentKind::Issue, comment_id),
            None => not_found(),
        },
        ("GET", ["pulls", number, "comments"]) => match id(number) {
            Some(number) => list_comments(request, state, CommentKind::Review, number),
            None => not_found(),
        },
        ("POST", ["pulls", number, "comments", comment, "replies"]) => match (id(number), id(comment)) {
            (Some(number), Some(root)) => reply_in_thread(request, state, number, root),
            _ => not_found(),
        },
        ("PATCH", ["pulls", "comments", comment]) => match id(comment) {
            Some(comment_id) => edit_comment(request, state, CommentKind::Review, comment_id),
            None => not_found(),
        },
        ("GET", ["pulls", number]) => {
            match id(number).and_then(|n| state.pull_heads.get(&(request.repo.clone(), n)).map(|h| (n, h))) {
                Some((number, (head, head_repo))) => reply(
                    StatusCode::OK,
                    json!({
                        "number": number,
                        "state": "open",
                        "head": {
                            "ref": head,
                            "sha": "0000000000000000000000000000000000000000",
                            "repo": (!head_repo.is_empty()).then(|| json!({ "full_name": head_repo })),
                        },
                        "base": { "ref": "main" },
                    }),
                ),
                None => not_found(),
            }
        }
        _ => not_found(),
    }
}

fn exchange_token(
    shared: &Shared,
    state: &mut FakeState,
    headers: &HeaderMap,
    installation: &str,
) -> Response {
    let Ok(installation_id) = installation.parse::<u64>() else {
        return not_found();
    };
    if let Err(reason) = verify_app_jwt(shared, headers) {
        return message(StatusCode::UNAUTHORIZED, reason);
    }
    state.token_exchanges += 1;
    state.issued_tokens += 1;
    let token = format!("ghs_fake_{}", state.issued_tokens);
    let expires_at = shared.now() + TOKEN_LIFETIME_SECS;
    state.tokens.insert(
        token.clone(),
        IssuedToken {
            installation_id,
            expires_at,
        },
    );
    reply(
        StatusCode::CREATED,
        json!({
            "token": token,
            "expires_at": rfc3339(expires_at),
            "permissions": { "issues": "write", "pull_requests": "write", "metadata": "read" },
            "repository_selection": "all",
        }),
    )
}

/// The checks GitHub applies to an app JWT, against the fake's clock.
fn verify_app_jwt(shared: &Shared, headers: &HeaderMap) -> Result<(), &'static str> {
    #[derive(Deserialize)]
    struct Claims {
        iat: u64,
        exp: u64,
    }
    let jwt = credential(headers).ok_or("A JSON web token could not be decoded")?;
    let mut validation = Validation::new(Algorithm::RS256);
    // Time is checked below with the fake's clock, not the system's.
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.set_required_spec_claims(&["exp", "iss"]);
    validation.set_issuer(&[&shared.app_id]);
    let claims = jsonwebtoken::decode::<Claims>(jwt, &shared.key, &validation)
        .map_err(|_| "A JSON web token could not be decoded")?
        .claims;
    let now = shared.now();
    if claims.iat > now {
        return Err("'Issued at' claim ('iat') must be an Integer representing a time in the past.");
    }
    if claims.exp <= now {
        return Err("'Expiration time' claim ('exp') must be a numeric value representing a future time.");
    }
    if claims.exp > now + MAX_JWT_AHEAD_SECS {
        return Err("'Expiration time' claim ('exp') is too far in the future.");
    }
    Ok(())
}

/// Does the request carry a token this fake issued, not revoked and not expired?
fn has_live_token(shared: &Shared, state: &FakeState, headers: &HeaderMap) -> bool {
    let now = shared.now();
    credential(headers)
        .and_then(|token| state.tokens.get(token))
        .is_some_and(|token| now < token.expires_at)
}

/// The credential from `Authorization: Bearer …` or `Authorization: token …`.
fn credential(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get("authorization")?.to_str().ok()?;
    let (scheme, credential) = value.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token"))
        .then_some(credential.trim())
}

fn permission(state: &FakeState, login: &str) -> Response {
    let default = Collaborator::Role {
        role_name: "read".to_owned(),
        permission: "read".to_owned(),
    };
    match state.collaborators.get(login).cloned().unwrap_or(default) {
        Collaborator::Role {
            role_name,
            permission,
        } => reply(
            StatusCode::OK,
            json!({
                "permission": permission,
                "role_name": role_name,
                "user": { "login": login, "type": "User" },
            }),
        ),
        Collaborator::Missing => not_found(),
    }
}

/// Put the body's reaction on `target`; a comment target must exist in this repository.
fn react(request: &RepoRequest<'_>, state: &mut FakeState, target: ReactionTarget) -> Response {
    let Some(content) = request
        .body
        .and_then(|b| b.get("content"))
        .and_then(Value::as_str)
    else {
        return message(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Invalid request: content is missing",
        );
    };
    if !REACTIONS.contains(&content) {
        return message(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Invalid request: content is not a valid reaction",
        );
    }
    let comment = match &target {
        ReactionTarget::Issue { .. } => None,
        ReactionTarget::IssueComment { comment_id, .. } => Some((*comment_id, CommentKind::Issue)),
        ReactionTarget::ReviewComment { comment_id, .. } => Some((*comment_id, CommentKind::Review)),
    };
    if let Some((comment_id, kind)) = comment {
        if !state
            .comments
            .iter()
            .any(|c| c.id == comment_id && c.kind == kind && c.repo == request.repo)
        {
            return not_found();
        }
    }
    let reaction = FakeReaction {
        target,
        content: content.to_owned(),
        user_login: request.shared.bot_login.clone(),
    };
    let status = if state.reactions.contains(&reaction) {
        StatusCode::OK
    } else {
        state.reactions.push(reaction);
        StatusCode::CREATED
    };
    let id = state.reactions.len();
    reply(
        status,
        json!({ "id": id, "content": content, "user": { "login": request.shared.bot_login, "type": "Bot" } }),
    )
}

fn list_comments(request: &RepoRequest<'_>, state: &FakeState, kind: CommentKind, number: u64) -> Response {
    let mut comments: Vec<&FakeComment> = state
        .comments
        .iter()
        .filter(|c| c.kind == kind && c.repo == request.repo && c.number == number)
        .collect();
    comments.sort_by_key(|c| (c.created_at, c.id));
    let listing = Page::of(request.query, 30, comments.len());
    let mut response = reply(StatusCode::OK, listing.items(&comments, |c| comment_json(c)));
    let Page {
        page,
        per_page,
        pages: last_page,
    } = listing;
    if page < last_page {
        let link = |page: usize| {
            format!(
                "<{}{}?per_page={per_page}&page={page}>",
                request.shared.url, request.path
            )
        };
        let value = format!(
            r#"{}; rel="next", {}; rel="last""#,
            link(page + 1),
            link(last_page)
        );
        if let Ok(value) = HeaderValue::from_str(&value) {
            response.headers_mut().insert("link", value);
        }
    }
    response
}

fn create_comment(
    request: &RepoRequest<'_>,
    state: &mut FakeState,
    kind: CommentKind,
    number: u64,
    in_reply_to_id: Option<u64>,
) -> Response {
    let Some(body) = request.body.and_then(|b| b.get("body")).and_then(Value::as_str) else {
        return message(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Invalid request: body is missing",
        );
    };
    let url = html_url(state, &request.repo, number, kind, state.next_comment_id);
    let now = request.shared.now();
    let bot = request.shared.bot_login.clone();
    let id = insert_comment(
        state,
        &request.repo,
        number,
        kind,
        &bot,
        body,
        now,
        in_reply_to_id,
        url,
    );
    match state.comments.iter().find(|c| c.id == id) {
        Some(comment) => reply(StatusCode::CREATED, comment_json(comment)),
        None => message(StatusCode::INTERNAL_SERVER_ERROR, "comment vanished"),
    }
}

fn reply_in_thread(request: &RepoRequest<'_>, state: &mut FakeState, number: u64, root: u64) -> Response {
    let root_comment = state.comments.iter().find(|c| {
        c.id == root && c.kind == CommentKind::Review && c.repo == request.repo && c.number == number
    });
    match root_comment {
        None => not_found(),
        // GitHub takes replies to top-level review comments only.
        Some(comment) if comment.in_reply_to_id.is_some() => message(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Validation Failed: replies to replies are not supported",
        ),
        Some(_) => create_comment(request, state, CommentKind::Review, number, Some(root)),
    }
}

fn edit_comment(
    request: &RepoRequest<'_>,
    state: &mut FakeState,
    kind: CommentKind,
    comment_id: u64,
) -> Response {
    let Some(body) = request.body.and_then(|b| b.get("body")).and_then(Value::as_str) else {
        return message(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Invalid request: body is missing",
        );
    };
    let now = request.shared.now();
    match state
        .comments
        .iter_mut()
        .find(|c| c.id == comment_id && c.kind == kind && c.repo == request.repo)
    {
        Some(comment) => {
            comment.body = body.to_owned();
            comment.updated_at = now;
            reply(StatusCode::OK, comment_json(comment))
        }
        None => not_found(),
    }
}

#[allow(clippy::too_many_arguments)] // a plain record constructor; a builder would only add noise
fn insert_comment(
    state: &mut FakeState,
    repo: &str,
    number: u64,
    kind: CommentKind,
    author: &str,
    body: &str,
    created_at: u64,
    in_reply_to_id: Option<u64>,
    html_url: String,
) -> u64 {
    let id = state.next_comment_id;
    state.next_comment_id += 1;
    state.comments.push(FakeComment {
        id,
        repo: repo.to_owned(),
        number,
        kind,
        body: body.to_owned(),
        html_url,
        user_login: author.to_owned(),
        created_at,
        updated_at: created_at,
        in_reply_to_id,
    });
    id
}

fn html_url(state: &FakeState, repo: &str, number: u64, kind: CommentKind, id: u64) -> String {
    let is_pull = state.pull_heads.contains_key(&(repo.to_owned(), number));
    match kind {
        CommentKind::Review => format!("https://github.com/{repo}/pull/{number}#discussion_r{id}"),
        CommentKind::Issue if is_pull => format!("https://github.com/{repo}/pull/{number}#issuecomment-{id}"),
        CommentKind::Issue => format!("https://github.com/{repo}/issues/{number}#issuecomment-{id}"),
    }
}

fn comment_json(comment: &FakeComment) -> Value {
    let user_type = if comment.user_login.ends_with("[bot]") {
        "Bot"
    } else {
        "User"
    };
    let mut value = json!({
        "id": comment.id,
        "node_id": format!("C_fake{}", comment.id),
        "body": comment.body,
        "html_url": comment.html_url,
        "user": { "login": comment.user_login, "type": user_type },
        "created_at": rfc3339(comment.created_at),
        "updated_at": rfc3339(comment.updated_at),
    });
    if comment.kind == CommentKind::Review {
        if let (Some(reply_to), Some(object)) = (comment.in_reply_to_id, value.as_object_mut()) {
            object.insert("in_reply_to_id".to_owned(), json!(reply_to));
        }
    }
    value
}

fn reply(status: StatusCode, body: Value) -> Response {
    (status, Json(body)).into_response()
}

/// GitHub's "Create GitHub App" page for a posted manifest: a link back to its `redirect_url` with a new code.
fn new_app_page(shared: &Shared, incoming: &Incoming, organization: Option<&str>) -> Response {
    let field = |name: &str| {
        form_urlencoded::parse(&incoming.body)
            .find(|(field, _)| field == name)
            .map(|(_, value)| value.into_owned())
    };
    let Some(manifest) = field("manifest").and_then(|m| serde_json::from_str::<Value>(&m).ok()) else {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            "Invalid GitHub App configuration",
        )
            .into_response();
    };
    let Some(redirect_url) = manifest["redirect_url"].as_str().map(str::to_owned) else {
        return (StatusCode::UNPROCESSABLE_ENTITY, "redirect_url is required").into_response();
    };
    let state_param = query_map(incoming.uri.query()).get("state").cloned();
    let mut state = shared.state.lock();
    let code = format!("fakecode{}", state.manifests.len() + 1);
    state.manifests.push(PostedManifest {
        organization: organization.map(str::to_owned),
        state: state_param.clone(),
        manifest: manifest.clone(),
    });
    let index = state.manifests.len() - 1;
    state.manifest_codes.insert(code.clone(), index);
    let mut back = format!("{redirect_url}?code={code}");
    if let Some(value) = &state_param {
        back.push_str("&state=");
        back.push_str(&form_urlencoded::byte_serialize(value.as_bytes()).collect::<String>());
    }
    let owner = organization.unwrap_or("octocat");
    let name = manifest["name"].as_str().unwrap_or("app");
    let page = format!(
        "<!doctype html><title>Create GitHub App</title><h1>Create GitHub App {} for {}</h1>\
         <a id=\"create-app\" href=\"{}\">Create GitHub App</a>",
        escape(name),
        escape(owner),
        escape(&back)
    );
    ([("content-type", "text/html; charset=utf-8")], page).into_response()
}

/// `POST /app-manifests/{code}/conversions`: the App made from the code's manifest, once.
fn convert_manifest(shared: &Shared, state: &mut FakeState, code: &str) -> Response {
    let Some(index) = state.manifest_codes.remove(code) else {
        return not_found();
    };
    let posted = state.manifests[index].clone();
    let owner = posted.organization.as_deref().unwrap_or("octocat");
    let app = json!({
        "id": 900_001 + state.apps.len() as u64,
        "slug": shared.app_slug,
        "node_id": "A_fake",
        "name": posted.manifest["name"],
        "client_id": shared.app_id,
        "client_secret": format!("fake-client-secret-{code}"),
        "webhook_secret": format!("fake-webhook-secret-{code}"),
        "pem": test_app_private_key_pem(),
        "html_url": format!("{}/apps/{}", shared.url, shared.app_slug),
        "owner": { "login": owner, "id": 1, "type": if posted.organization.is_some() { "Organization" } else { "User" } },
        "events": posted.manifest["default_events"],
        "permissions": posted.manifest["default_permissions"],
    });
    state
        .oauth
        .enable(&shared.app_id, &format!("fake-client-secret-{code}"));
    state.apps.push(app.clone());
    reply(StatusCode::CREATED, app)
}

fn message(status: StatusCode, text: &str) -> Response {
    reply(
        status,
        json!({ "message": text, "documentation_url": "https://docs.github.com/rest" }),
    )
}

fn not_found() -> Response {
    message(StatusCode::NOT_FOUND, "Not Found")
}

/// `2026-11-28T11:48:21Z`, as GitHub writes timestamps.
pub fn rfc3339(epoch_secs: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(epoch_secs)).to_string()
}
