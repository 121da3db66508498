//! The operator console: server-rendered pages, the same code on both hosts, under `…/console`.
//!
//! | Route | Page |
//! |---|---|
//! | `GET …/console` | sign-in, or the deliveries once signed in |
//! | `POST …/console/sign-in`, `POST …/console/sign-out` | operator token → session, and back |
//! | `GET …/console/deliveries?provider=&tenant=&after=` | what the worker decided about each delivery |
//! | `POST …/console/deliveries/redeliver` | queue a stored delivery again, for the worker to decide anew |
//! | `GET …/console/runs?provider=&state=&after=` | runs, newest first |
//! | `GET …/console/dead-letters`, `POST …/console/dead-letters/retry` | messages given up on; put one back |
//! | `GET …/console/setup?organization=` | the GitHub App: create it from a manifest ([`app_setup`]), or install it |
//! | `GET …/console/setup/github/done?code=&state=`, `POST` the same | GitHub's way back; store the App |
//! | `GET …/console/link?invite=` | an invitation to link oneself: sign in with the provider ([`linking`]) |
//! | `GET …/console/link/{provider}/callback`, `POST` the same | the provider's way back from a sign-in (a person's; GitHub's also an operator's) |
//! | `POST …/console/link/key`, `POST …/console/link/remove` | link one's account with an OpenHands key, or remove the link |
//!
//! Who may see what: everything but the sign-in page needs an operator session ([`session`]); every form
//! carries the session's CSRF token and a cross-site `Origin` or `Sec-Fetch-Site` is refused besides. Pages
//! send a strict Content-Security-Policy (no script, no inline style) and are never cached. No secret is
//! rendered: the operator token is only compared, in constant time.
//!
//! GitHub's way back from registering the App is a cross-site navigation, which carries no `SameSite=Strict`
//! cookie: its page sets none (it would replace the operator's) and only offers a button that posts the code
//! from this console's own page, where the session is back and the `state` stands in for the form token.

pub mod app_setup;
mod link_visit;
pub mod linking;
mod pages;
pub mod session;
mod setup_visit;

use std::sync::Arc;

use crate::{
    clock::Clock,
    config::ConsoleSettings,
    domain::{Envelope, Provider, QueueMessage, RunState},
    error::PortError,
    handlers::webhook::Handled,
    http::{HttpReply, HttpRequest},
    ports::{DeadLetters, DeliveryLog, DeliveryQuery, Queue, RunQuery, RunStore, Secrets},
    secret::SecretString,
    verify::constant_time_eq,
};
use pages::{DeliveryFilter, Frame, Links, Redelivery, RunFilter};
use session::Session;

/// Rows on one listing page.
const PAGE_ROWS: usize = 50;

/// Dead letters listed at most.
const DEAD_LETTER_ROWS: usize = 200;

/// The pages anyone may open (the sign-in), and those only a signed-in operator may.
const OPEN_PAGES: &[&str] = &[
    "",
    "/sign-in",
    "/sign-out",
    SETUP_RETURN,
    "/link",
    "/link/key",
    "/link/remove",
];
const OPERATOR_PAGES: &[&str] = &[
    "/deliveries",
    "/deliveries/redeliver",
    "/runs",
    "/dead-letters",
    "/dead-letters/retry",
    "/setup",
    SETUP_RETURN,
];

/// Where GitHub sends the browser back after registering the App.
const SETUP_RETURN: &str = "/setup/github/done";

/// Where a provider sends a person back after signing in (`/link/{provider}/callback`): the provider.
fn sign_in_return(page: &str) -> Option<Provider> {
    Provider::parse(page.strip_prefix("/link/")?.strip_suffix("/callback")?)
}

/// What starts the `state` of an operator's sign-in with GitHub (an invitation's starts with the invitation).
const OPERATOR_STATE: &str = "operator~";

/// How long a person has from leaving to sign in until coming back.
const SIGN_IN_TTL_SECS: u64 = 3600;

/// What a setup `state` is for (a session's round-trip states are told apart by purpose).
const SETUP_PURPOSE: &str = "github-app";

/// The Content-Security-Policy of every page; `{form}` is where its forms may post (`'self'`, and GitHub's
/// origin on the setup page).
fn content_security_policy(form_action: &str) -> String {
    format!(
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action {form_action}; \
         frame-ancestors 'none'; base-uri 'none'"
    )
}

/// Headers of every console answer besides its Content-Security-Policy.
const PAGE_HEADERS: &[(&str, &str)] = &[
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    // Not `no-referrer`: with it, browsers send `Origin: null` on the console's own form posts.
    ("referrer-policy", "same-origin"),
    ("cache-control", "no-store"),
];

/// What the console reads and changes.
#[derive(Clone)]
pub struct ConsoleServices {
    pub decisions: Arc<dyn DeliveryLog>,
    pub runs: Arc<dyn RunStore>,
    /// `None` where the dead letters are kept elsewhere (the SQS dead-letter queue on AWS).
    pub dead_letters: Option<Arc<dyn DeadLetters>>,
    /// The work queue, where a stored delivery goes again; `None` where the host cannot send to it.
    pub redeliver: Option<Arc<dyn Queue>>,
    pub secrets: Arc<dyn Secrets>,
    pub clock: Arc<dyn Clock>,
    pub settings: ConsoleSettings,
    /// OpenHands' web app, for conversation links.
    pub openhands_web_url: String,
    /// Registering the GitHub App from a manifest; `None` where the host cannot.
    pub setup: Option<app_setup::AppSetup>,
    /// People linking themselves (signing in with their provider); `None` where the host cannot.
    pub linking: Option<linking::Linking>,
}

/// Why a console request was not answered with its page.
#[derive(Debug, thiserror::Error)]
enum ConsoleError {
    #[error("not found")]
    NotFound,
    #[error("method not allowed")]
    MethodNotAllowed,
    /// Not signed in: the sign-in page instead.
    #[error("sign in first")]
    SignIn,
    /// A form without this session's token, or from another site.
    #[error("refused form")]
    RefusedForm,
    /// Not for this person (the page says why).
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("{0}")]
    BadRequest(&'static str),
    /// The setup could not finish (the page says why).
    #[error("{0}")]
    Conflict(&'static str),
    #[error(transparent)]
    Store(#[from] PortError),
}

impl ConsoleError {
    fn status(&self) -> u16 {
        match self {
            ConsoleError::NotFound => 404,
            ConsoleError::MethodNotAllowed => 405,
            ConsoleError::SignIn => 401,
            ConsoleError::RefusedForm | ConsoleError::Forbidden(_) => 403,
            ConsoleError::BadRequest(_) => 400,
            ConsoleError::Conflict(_) => 409,
            ConsoleError::Store(err) if err.is_transient() => 503,
            ConsoleError::Store(_) => 500,
        }
    }

    /// What the page says: short, never a store's details.
    fn text(&self) -> &'static str {
        match self {
            ConsoleError::NotFound => "There is no such page.",
            ConsoleError::MethodNotAllowed => "That page does not take this method.",
            ConsoleError::SignIn => "Sign in first.",
            ConsoleError::RefusedForm => {
                "This form was not sent from this console's own page. Reload and try again."
            }
            ConsoleError::Forbidden(why) => why,
            ConsoleError::BadRequest(why) | ConsoleError::Conflict(why) => why,
            ConsoleError::Store(_) => "The store could not be read just now. Try again.",
        }
    }
}

/// Answer one console request. Never fails: every error is its page.
pub async fn handle(console: &ConsoleServices, request: HttpRequest<'_>) -> Handled {
    let Some(base) = crate::routes::console_base(request.path) else {
        return Handled::answer(HttpReply::text(404, "not found"));
    };
    let key = match console.secrets.get(&console.settings.session_key_secret).await {
        Ok(key) if !key.is_empty() => key,
        result => {
            let error = result
                .err()
                .map(|e| e.to_string())
                .unwrap_or_else(|| "empty".to_owned());
            tracing::error!(secret = %console.settings.session_key_secret, error, "console session key unavailable");
            return Handled::answer(HttpReply::text(503, "console unavailable").with_headers(PAGE_HEADERS));
        }
    };
    let now = console.clock.now_secs();
    let (session, new_session) = match Session::from_cookie_header(request.header("cookie"), &key) {
        Some(session) => (session, false),
        None => (Session::anonymous(), true),
    };
    let visit = Visit {
        console,
        request: &request,
        base,
        page: &request.path[base.len()..],
        key: &key,
        now,
    };
    let (mut handled, answer_session) = match visit.answer(session.clone()).await {
        Ok(answered) => answered,
        Err(err) => {
            if let ConsoleError::Store(err) = &err {
                tracing::warn!(error = %err, path = request.path, "console page failed");
            }
            let frame = visit.frame(&session);
            let body = match err {
                ConsoleError::SignIn => {
                    pages::sign_in(&frame, false, visit.operator_sign_in(&session).await.as_deref())
                }
                _ => pages::message(&frame, "Not done", err.text()),
            };
            (
                Handled::answer(HttpReply::html(err.status(), body)),
                AnswerSession::Keep,
            )
        }
    };
    let cookie = match answer_session {
        AnswerSession::Replace(session) => Some(session),
        AnswerSession::Keep if new_session => Some(session),
        AnswerSession::Keep | AnswerSession::Untouched => None,
    };
    if let Some(session) = cookie {
        handled.reply = handled.reply.with_header(
            "set-cookie",
            session.set_cookie(&key, base, console.settings.session_ttl.as_secs()),
        );
    }
    if !handled
        .reply
        .built_headers
        .iter()
        .any(|(name, _)| *name == "content-security-policy")
    {
        handled.reply = handled
            .reply
            .with_header("content-security-policy", content_security_policy("'self'"));
    }
    handled.reply = handled.reply.with_headers(PAGE_HEADERS);
    handled
}

/// Whether an answer changes the browser's session.
enum AnswerSession {
    Keep,
    Replace(Session),
    /// Not even a new anonymous session: the request may have come without the browser's cookie.
    Untouched,
}

/// One request on its way through the console.
struct Visit<'v> {
    console: &'v ConsoleServices,
    request: &'v HttpRequest<'v>,
    base: &'v str,
    /// The path after the base: ``, `/runs`, ….
    page: &'v str,
    key: &'v SecretString,
    now: u64,
}

impl Visit<'_> {
    fn frame(&self, session: &Session) -> Frame<'_> {
        Frame {
            base: self.base,
            csrf: session.csrf_token(self.key),
            signed_in: session.is_operator(self.now),
        }
    }

    async fn answer(&self, session: Session) -> Result<(Handled, AnswerSession), ConsoleError> {
        let method = self.request.method;
        let page = self.page.strip_suffix('/').unwrap_or(self.page);
        if page == "/style.css" {
            return Ok((
                Handled::answer(HttpReply {
                    content_type: "text/css; charset=utf-8",
                    ..HttpReply::text(200, pages::STYLE)
                }),
                AnswerSession::Keep,
            ));
        }
        if method == "POST" {
            // GitHub's ways back carry their `state` instead of the form token (checked there).
            self.check_form_origin(&session, page != SETUP_RETURN && sign_in_return(page).is_none())?;
        }
        let signed_in = session.is_operator(self.now);
        match (method, page) {
            ("GET", "") if signed_in => Ok(self.redirect("/deliveries")),
            ("GET", "") => {
                let github = self.operator_sign_in(&session).await;
                Ok(self.page(pages::sign_in(&self.frame(&session), false, github.as_deref())))
            }
            ("POST", "/sign-in") => self.sign_in().await,
            ("POST", "/sign-out") => Ok((
                Handled::answer(HttpReply::see_other(self.base.to_owned())),
                AnswerSession::Replace(Session::anonymous()),
            )),
            ("GET", SETUP_RETURN) => Ok(self.come_back(
                &session,
                &pages::Return {
                    title: "GitHub App",
                    text: "GitHub created the App. Finish the setup to store its credentials on this host.",
                    action: format!("{}{SETUP_RETURN}", self.base),
                    button_id: "finish-setup",
                    button: "Finish setup",
                },
            )),
            ("GET", "/link") => self.link_start(&session).await,
            ("GET", page) if sign_in_return(page).is_some() => Ok(self.come_back(
                &session,
                &pages::Return {
                    title: "Sign in",
                    text: "You are signed in with the provider. Continue to come back to Hookline.",
                    action: format!("{}{page}", self.base),
                    button_id: "continue-link",
                    button: "Continue",
                },
            )),
            ("POST", page) if sign_in_return(page).is_some() => {
                let provider = sign_in_return(page).unwrap_or(Provider::Github);
                match form_field(self.request.body, "state") {
                    Some(state) if state.starts_with(OPERATOR_STATE) && provider == Provider::Github => {
                        self.operator_signed_in(&session, &state).await
                    }
                    _ => self.link_signed_in(&session, provider).await,
                }
            }
            ("POST", "/link/key") => self.link_key(&session).await,
            ("POST", "/link/remove") => self.link_remove(&session).await,
            (_, page) if OPERATOR_PAGES.contains(&page) && !signed_in => Err(ConsoleError::SignIn),
            ("GET", "/deliveries") => self.deliveries(&session, None).await,
            ("POST", "/deliveries/redeliver") => self.redeliver(&session).await,
            ("GET", "/runs") => self.runs(&session).await,
            ("GET", "/dead-letters") => self.dead_letters(&session, None).await,
            ("POST", "/dead-letters/retry") => self.retry_dead_letter(&session).await,
            ("GET", "/setup") => self.setup(&session).await,
            ("POST", SETUP_RETURN) => self.finish_setup(&session).await,
            (_, page) if OPEN_PAGES.contains(&page) || OPERATOR_PAGES.contains(&page) => {
                Err(ConsoleError::MethodNotAllowed)
            }
            _ => Err(ConsoleError::NotFound),
        }
    }

    /// A form must come from this console's own page: no other site's origin and, when `token` says so, its
    /// session's token.
    fn check_form_origin(&self, session: &Session, token: bool) -> Result<(), ConsoleError> {
        let cross_site = self
            .request
            .header("sec-fetch-site")
            .is_some_and(|site| !matches!(site, "same-origin" | "none"));
        let foreign_origin = match (self.request.header("origin"), self.request.header("host")) {
            (Some(origin), Some(host)) => {
                let own = origin
                    .strip_prefix("https://")
                    .or_else(|| origin.strip_prefix("http://"));
                own != Some(host)
            }
            (Some(_), None) => true,
            (None, _) => false,
        };
        let forged =
            token && !session.csrf_matches(self.key, form_field(self.request.body, "csrf").as_deref());
        if cross_site || foreign_origin || forged {
            tracing::warn!(
                path = self.request.path,
                cross_site,
                foreign_origin,
                "console form refused"
            );
            return Err(ConsoleError::RefusedForm);
        }
        Ok(())
    }

    async fn sign_in(&self) -> Result<(Handled, AnswerSession), ConsoleError> {
        let expected = self
            .console
            .secrets
            .get(&self.console.settings.token_secret)
            .await?;
        let given = form_field(self.request.body, "token").unwrap_or_default();
        if expected.is_empty() || !constant_time_eq(given.trim().as_bytes(), expected.expose().as_bytes()) {
            tracing::warn!("console sign-in with a wrong operator token");
            let session = Session::anonymous();
            let body = pages::sign_in(&self.frame(&session), true, None);
            return Ok((
                Handled::answer(HttpReply::html(401, body)),
                AnswerSession::Replace(session),
            ));
        }
        tracing::info!("operator signed in to the console");
        self.signed_in_as_operator().await
    }

    /// A new operator session, and its first page.
    async fn signed_in_as_operator(&self) -> Result<(Handled, AnswerSession), ConsoleError> {
        let session = Session::operator(self.now + self.console.settings.session_ttl.as_secs());
        // A host with no GitHub App yet starts where one is created.
        let first = match &self.console.setup {
            Some(setup)
                if matches!(
                    setup.state(self.console.secrets.as_ref()).await,
                    Ok(app_setup::AppState::None)
                ) =>
            {
                "/setup"
            }
            _ => "/deliveries",
        };
        Ok((
            Handled::answer(HttpReply::see_other(format!("{}{first}", self.base))),
            AnswerSession::Replace(session),
        ))
    }

    /// The deliveries listing, saying what came of a redelivery when one was asked for (that answer lists the
    /// newest rows under the filters the form kept).
    async fn deliveries(
        &self,
        session: &Session,
        redelivered: Option<bool>,
    ) -> Result<(Handled, AnswerSession), ConsoleError> {
        let query = Query::parse(self.request.query);
        let after = query.get("after").filter(|_| redelivered.is_none());
        let filter = DeliveryFilter {
            provider: query.provider()?,
            tenant: query.get("tenant"),
        };
        let page = self
            .console
            .decisions
            .recent(&DeliveryQuery {
                provider: filter.provider,
                tenant: filter.tenant.map(str::to_owned),
                limit: PAGE_ROWS,
                after: after.map(str::to_owned),
            })
            .await
            .map_err(bad_cursor)?;
        let frame = self.frame(session);
        let redelivery = Redelivery {
            offered: self.console.redeliver.is_some(),
            done: redelivered,
        };
        Ok(self.page(pages::deliveries(
            &frame,
            &filter,
            &page,
            &self.links(),
            redelivery,
        )))
    }

    /// Queue the envelope stored with a decision again, as a new message of its group (no dedup window
    /// applies). The worker decides it as it would a provider's redelivery: one run per trigger still holds,
    /// and its new decision replaces the row.
    async fn redeliver(&self, session: &Session) -> Result<(Handled, AnswerSession), ConsoleError> {
        let Some(queue) = &self.console.redeliver else {
            return Err(ConsoleError::NotFound);
        };
        let key = form_field(self.request.body, "key").ok_or(ConsoleError::BadRequest("Which delivery?"))?;
        let Some(body) = self.console.decisions.envelope(&key).await? else {
            return self.deliveries(session, Some(false)).await;
        };
        let envelope: Envelope = serde_json::from_str(&body).map_err(|err| {
            tracing::warn!(delivery = %key, error = %err, "stored envelope is unreadable");
            ConsoleError::Conflict("That delivery's stored envelope cannot be read.")
        })?;
        queue
            .send(QueueMessage {
                group: envelope.group.clone(),
                dedup_id: format!("redeliver:{key}#{}", self.now),
                body,
            })
            .await?;
        tracing::info!(provider = %envelope.provider, delivery_id = %envelope.delivery_id, "operator redelivered a delivery");
        let (mut handled, keep) = self.deliveries(session, Some(true)).await?;
        handled.queued = true;
        Ok((handled, keep))
    }

    async fn runs(&self, session: &Session) -> Result<(Handled, AnswerSession), ConsoleError> {
        let query = Query::parse(self.request.query);
        let state = match query.get("state") {
            None => None,
            Some(name) => Some(
                RunState::ALL
                    .into_iter()
                    .find(|s| s.as_str() == name)
                    .ok_or(ConsoleError::BadRequest("There is no such run state."))?,
            ),
        };
        let filter = RunFilter {
            provider: query.provider()?,
            state,
        };
        let page = self
            .console
            .runs
            .recent_runs(&RunQuery {
                states: filter.state.into_iter().collect(),
                provider: filter.provider,
                limit: PAGE_ROWS,
                after: query.get("after").map(str::to_owned),
            })
            .await
            .map_err(bad_cursor)?;
        let frame = self.frame(session);
        Ok(self.page(pages::runs(&frame, &filter, &page, &self.links(), self.now)))
    }

    async fn dead_letters(
        &self,
        session: &Session,
        retried: Option<bool>,
    ) -> Result<(Handled, AnswerSession), ConsoleError> {
        let letters = match &self.console.dead_letters {
            Some(store) => Some(store.dead_letters(DEAD_LETTER_ROWS).await?),
            None => None,
        };
        let frame = self.frame(session);
        Ok(self.page(pages::dead_letters(&frame, letters.as_deref(), retried)))
    }

    async fn retry_dead_letter(&self, session: &Session) -> Result<(Handled, AnswerSession), ConsoleError> {
        let Some(store) = &self.console.dead_letters else {
            return Err(ConsoleError::NotFound);
        };
        let id = form_field(self.request.body, "id").ok_or(ConsoleError::BadRequest("Which dead letter?"))?;
        let retried = store.retry_dead_letter(&id).await?;
        if retried {
            tracing::info!(dead_letter = %id, "operator put a dead letter back on the queue");
        }
        let (mut handled, keep) = self.dead_letters(session, Some(retried)).await?;
        handled.queued = retried;
        Ok((handled, keep))
    }

    /// A provider's redirect back: a page whose button posts the code from here. It shows nothing else and sets
    /// no cookie (the request may lack the browser's), so anyone may open it.
    fn come_back(&self, session: &Session, back: &pages::Return<'_>) -> (Handled, AnswerSession) {
        let query = Query::parse(self.request.query);
        let frame = Frame {
            signed_in: false,
            ..self.frame(session)
        };
        let body = pages::come_back(
            &frame,
            back,
            query.get("code").unwrap_or_default(),
            query.get("state").unwrap_or_default(),
        );
        (
            Handled::answer(HttpReply::html(200, body)),
            AnswerSession::Untouched,
        )
    }

    /// Hookline's public base (`https://hookline.example.com`, or with a stage `…/prod`): `HOOKLINE_PUBLIC_URL`,
    /// else the console's own origin and the path above its base (`…/console`).
    fn public_base(&self) -> String {
        match &self.console.settings.public_url {
            Some(url) => url.clone(),
            None => format!(
                "{}{}",
                self.origin(),
                self.base.strip_suffix("/console").unwrap_or_default()
            ),
        }
    }

    /// The console's origin as the browser reached it (`Host`; https when a proxy says so, as API Gateway
    /// does).
    fn origin(&self) -> String {
        let scheme = match self.request.header("x-forwarded-proto") {
            Some("https") => "https",
            _ => "http",
        };
        format!(
            "{scheme}://{}",
            self.request.header("host").unwrap_or("localhost")
        )
    }

    fn page(&self, body: String) -> (Handled, AnswerSession) {
        (Handled::answer(HttpReply::html(200, body)), AnswerSession::Keep)
    }

    fn redirect(&self, page: &str) -> (Handled, AnswerSession) {
        (
            Handled::answer(HttpReply::see_other(format!("{}{page}", self.base))),
            AnswerSession::Keep,
        )
    }

    fn links(&self) -> Links<'_> {
        Links {
            openhands_web_url: &self.console.openhands_web_url,
        }
    }
}

/// A cursor the store refused is the person's (edited) link, not the store's fault.
fn bad_cursor(err: PortError) -> ConsoleError {
    if err.is_transient() {
        ConsoleError::Store(err)
    } else {
        ConsoleError::BadRequest("That page link is not one this console made.")
    }
}

/// The first value of form field `name` in an `application/x-www-form-urlencoded` body.
fn form_field(body: &[u8], name: &str) -> Option<String> {
    form_urlencoded::parse(body)
        .find(|(field, _)| field == name)
        .map(|(_, value)| value.into_owned())
}

/// A GET's query parameters; empty values count as absent (an "any" choice in a filter form).
struct Query(Vec<(String, String)>);

impl Query {
    fn parse(query: &str) -> Self {
        Self(
            form_urlencoded::parse(query.as_bytes())
                .filter(|(_, value)| !value.trim().is_empty())
                .map(|(name, value)| (name.into_owned(), value.trim().to_owned()))
                .collect(),
        )
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    fn provider(&self) -> Result<Option<Provider>, ConsoleError> {
        self.get("provider")
            .map(|name| Provider::parse(name).ok_or(ConsoleError::BadRequest("There is no such provider.")))
            .transpose()
    }
}

#[cfg(test)]
mod tests;
