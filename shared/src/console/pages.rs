//! The console's HTML, rendered with maud: every interpolated value is escaped, so issue titles, logins and
//! error text from outside are shown as text, never as markup. Forms that change something carry the session's
//! CSRF token; listings page with the stores' cursors.

use maud::{html, Markup, DOCTYPE};

use crate::{
    domain::IdentityLink,
    domain::{DeliveryDecision, Provider, RunRecord, RunState},
    github::AppRegistration,
    handlers::DefaultIdentity,
    invite::Invitation,
    ports::{DeadLetter, DeliveryPage, RunPage},
};

/// What every page of a signed-in operator needs: where the console is and the form token.
pub struct Frame<'a> {
    /// The console's base path (`/console`, or behind a stage prefix `/prod/console`).
    pub base: &'a str,
    pub csrf: String,
    pub signed_in: bool,
}

/// The stylesheet, served at `{base}/style.css` (the pages allow no inline style or script).
pub const STYLE: &str = include_str!("style.css");

fn layout(frame: &Frame<'_>, title: &str, body: Markup) -> String {
    let base = frame.base;
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Hookline" }
                link rel="stylesheet" href={ (base) "/style.css" };
            }
            body {
                header {
                    a.brand href=(base) { "Hookline" }
                    @if frame.signed_in {
                        nav {
                            a href={ (base) "/deliveries" } { "Deliveries" }
                            a href={ (base) "/runs" } { "Runs" }
                            a href={ (base) "/dead-letters" } { "Dead letters" }
                            a href={ (base) "/setup" } { "GitHub App" }
                        }
                        form.sign-out method="post" action={ (base) "/sign-out" } {
                            input type="hidden" name="csrf" value=(&frame.csrf);
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                main { h1 { (title) } (body) }
            }
        }
    }
    .into_string()
}

/// The sign-in page; `failed` says the last token was wrong; `github` is where operators sign in with GitHub,
/// where they may.
pub fn sign_in(frame: &Frame<'_>, failed: bool, github: Option<&str>) -> String {
    layout(
        frame,
        "Sign in",
        html! {
            @if failed { p.error role="alert" { "That is not the operator token." } }
            p { "Operators sign in with the console's operator token (the secret the host names at start)." }
            form method="post" action={ (frame.base) "/sign-in" } {
                input type="hidden" name="csrf" value=(&frame.csrf);
                label for="token" { "Operator token" }
                input #token type="password" name="token" autocomplete="current-password" required;
                button #sign-in type="submit" { "Sign in" }
            }
            @if let Some(url) = github {
                p { "or " a #sign-in-with-github href=(url) { "sign in with GitHub" } " as an operator account." }
            }
        },
    )
}

/// A short page for an answer that is not a listing (404, a refused form).
pub fn message(frame: &Frame<'_>, title: &str, text: &str) -> String {
    layout(frame, title, html! { p.message { (text) } })
}

/// Filters of the deliveries listing, as the query string gave them.
#[derive(Default)]
pub struct DeliveryFilter<'a> {
    pub provider: Option<Provider>,
    pub tenant: Option<&'a str>,
}

/// Whether the deliveries page offers to deliver a stored delivery again, and what came of one just asked for.
#[derive(Clone, Copy, Default)]
pub struct Redelivery {
    pub offered: bool,
    /// `Some(true)`: queued again; `Some(false)`: its envelope is no longer stored.
    pub done: Option<bool>,
}

pub fn deliveries(
    frame: &Frame<'_>,
    filter: &DeliveryFilter<'_>,
    page: &DeliveryPage,
    links: &Links<'_>,
    redelivery: Redelivery,
) -> String {
    let listing = Listing {
        title: "Deliveries",
        route: "/deliveries",
        provider: filter.provider,
        filter: ("tenant", filter.tenant),
        controls: html! {
            label for="tenant" { "Tenant" }
            input #tenant type="text" name="tenant" value=[filter.tenant];
        },
        next: page.next.as_deref(),
    };
    // A redelivery answers with this listing again, from its newest rows: the form keeps the filters.
    let redeliver = redelivery
        .offered
        .then(|| format!("{}/deliveries/redeliver{}", frame.base, listing.query(None)));
    listing.page(
        frame,
        html! {
            @match redelivery.done {
                Some(true) => p.notice role="status" {
                    "Delivered again: the worker decides it anew, and its row shows the new decision."
                },
                Some(false) => p.error role="alert" { "That delivery is no longer stored." },
                None => {},
            }
            @if page.decisions.is_empty() { p.empty { "No deliveries recorded." } } @else {
                table #deliveries {
                    thead { tr { th { "Decided" } th { "Provider" } th { "Tenant" } th { "Event" } th { "Who" }
                        th { "Decision" } th { "Reason" } th { "Run" } @if redeliver.is_some() { th {} } } }
                    tbody { @for decision in &page.decisions {
                        (delivery_row(frame, decision, links, redeliver.as_deref()))
                    } }
                }
            }
        },
    )
}

fn delivery_row(
    frame: &Frame<'_>,
    decision: &DeliveryDecision,
    links: &Links<'_>,
    redeliver: Option<&str>,
) -> Markup {
    html! {
        tr data-kind=(decision.kind.as_str()) {
            td { time { (timestamp(decision.decided_at)) } }
            td { (decision.provider.as_str()) }
            td { (decision.tenant) }
            td { (decision.event) }
            td { (decision.actor.as_deref().unwrap_or("")) }
            td.kind { (decision.kind.as_str()) }
            td { (decision.reason) }
            td { @if let Some(id) = &decision.conversation_id {
                a href=(links.conversation(id)) { (short(id)) }
            } }
            @if let Some(action) = redeliver {
                td { form method="post" action=(action) {
                    input type="hidden" name="csrf" value=(&frame.csrf);
                    input type="hidden" name="key" value=(decision.storage_key());
                    button.redeliver type="submit" { "Redeliver" }
                } }
            }
        }
    }
}

/// Filters of the runs listing.
#[derive(Default)]
pub struct RunFilter {
    pub provider: Option<Provider>,
    pub state: Option<RunState>,
}

pub fn runs(frame: &Frame<'_>, filter: &RunFilter, page: &RunPage, links: &Links<'_>, now: u64) -> String {
    let listing = Listing {
        title: "Runs",
        route: "/runs",
        provider: filter.provider,
        filter: ("state", filter.state.map(RunState::as_str)),
        controls: html! {
            label for="state" { "State" }
            select #state name="state" {
                option value="" { "any" }
                @for state in RunState::ALL {
                    option value=(state.as_str()) selected[filter.state == Some(state)] { (state.as_str()) }
                }
            }
        },
        next: page.next.as_deref(),
    };
    listing.page(
        frame,
        html! {
            @if page.runs.is_empty() { p.empty { "No runs." } } @else {
                table #runs {
                    thead { tr { th { "Started" } th { "State" } th { "Provider" } th { "Thread" } th { "Title" }
                        th { "Who" } th { "Took" } th { "Conversation" } th { "Last error" } } }
                    tbody { @for run in &page.runs { (run_row(run, links, now)) } }
                }
            }
        },
    )
}

fn run_row(run: &RunRecord, links: &Links<'_>, now: u64) -> Markup {
    let until = if run.state.is_terminal() {
        run.updated_at
    } else {
        now
    };
    html! {
        tr data-state=(run.state.as_str()) {
            td { time { (timestamp(run.created_at)) } }
            td.state { (run.state.as_str()) }
            td { (run.provider.as_str()) }
            td { (run.thread_key) }
            td.title { (run.title) }
            td { (run.actor.login) }
            td { (elapsed(until.saturating_sub(run.created_at))) }
            td { a href=(links.conversation(&run.conversation_id)) { (short(&run.conversation_id)) } }
            td.error { (last_error(run).unwrap_or_default()) }
        }
    }
}

/// Why a run failed or what its conclusion last tripped on, for the listing.
fn last_error(run: &RunRecord) -> Option<String> {
    let conclusion = run.conclusion.as_ref()?;
    if let Some(error) = &conclusion.last_error {
        return Some(error.clone());
    }
    use crate::domain::Outcome;
    match &conclusion.outcome {
        Outcome::AgentStopped(why) | Outcome::StartFailed(why) | Outcome::SandboxLost(why) => {
            Some(format!("{}: {why}", conclusion.outcome.label()))
        }
        Outcome::Stalled => Some("stalled".to_owned()),
        Outcome::Finished | Outcome::Stopped { .. } => None,
    }
}

/// `available` is false where the host keeps its dead letters elsewhere (SQS on AWS).
pub fn dead_letters(frame: &Frame<'_>, letters: Option<&[DeadLetter]>, retried: Option<bool>) -> String {
    layout(
        frame,
        "Dead letters",
        html! {
            @match retried {
                Some(true) => p.notice role="status" { "Put back on the queue." },
                Some(false) => p.error role="alert" { "That dead letter is no longer there." },
                None => {},
            }
            @match letters {
                None => p { "This host keeps its dead letters in the SQS dead-letter queue; redrive them there." },
                Some([]) => p.empty { "No dead letters." },
                Some(letters) => table #dead-letters {
                    thead { tr { th { "Failed" } th { "Delivery" } th { "Group" } th { "Receives" } th { "Reason" }
                        th {} } }
                    tbody { @for letter in letters {
                        tr {
                            td { time { (timestamp(letter.failed_at)) } }
                            td { (letter.dedup_id) }
                            td { (letter.group) }
                            td { (letter.receive_count) }
                            td.error { (letter.reason) }
                            td { form method="post" action={ (frame.base) "/dead-letters/retry" } {
                                input type="hidden" name="csrf" value=(&frame.csrf);
                                input type="hidden" name="id" value=(letter.id);
                                button.retry type="submit" { "Retry" }
                            } }
                        }
                    } }
                },
            }
        },
    )
}

/// What the GitHub App setup page shows.
pub enum SetupView<'a> {
    /// This host cannot register an App (no writable secret store).
    Unavailable,
    /// No App yet: the forms that post the manifest to GitHub.
    Create {
        /// For the operator's own account.
        personal: ManifestForm,
        /// For the organization asked for (`?organization=`), when one was.
        organization: Option<(&'a str, ManifestForm)>,
        /// Where GitHub will send webhooks.
        webhook_url: &'a str,
    },
    /// `GITHUB_APP_ID` and `GITHUB_APP_SLUG` configure it.
    Configured { slug: &'a str },
    /// Registered from this console.
    Registered(&'a AppRegistration),
}

/// A form that posts `manifest` to GitHub's `action`.
pub struct ManifestForm {
    pub action: String,
    pub manifest: String,
}

pub fn setup(frame: &Frame<'_>, view: &SetupView<'_>) -> String {
    let manifest_form = |form: &ManifestForm, id: &str, label: &str| {
        html! {
            form method="post" action=(form.action) {
                input type="hidden" name="manifest" value=(form.manifest);
                button id=(id) type="submit" { (label) }
            }
        }
    };
    layout(
        frame,
        "GitHub App",
        html! {
            @match view {
                SetupView::Unavailable => p { "This host cannot store an App's secrets; register the App by hand \
                    (GITHUB_APP_ID, GITHUB_APP_SLUG and its secrets)." },
                SetupView::Configured { slug } => p { "GitHub is configured with the App " strong { (slug) }
                    " (GITHUB_APP_ID, GITHUB_APP_SLUG)." },
                SetupView::Registered(app) => (installed(app)),
                SetupView::Create { personal, organization, webhook_url } => {
                    p { "Hookline needs a GitHub App to hear from GitHub and answer there. GitHub creates it from \
                        a manifest (webhook " code { (webhook_url) } ", Issues and Pull requests read & write, \
                        Metadata read) and hands its secrets back to this host." }
                    (manifest_form(personal, "create-personal", "Create GitHub App on my account"))
                    @match organization {
                        Some((org, form)) => (manifest_form(form, "create-organization",
                            &format!("Create GitHub App for {org}"))),
                        None => form.filters method="get" action={ (frame.base) "/setup" } {
                            label for="organization" { "or for an organization" }
                            input #organization type="text" name="organization" placeholder="organization login";
                            button #choose-organization type="submit" { "Continue" }
                        },
                    }
                },
            }
        },
    )
}

/// The provider sent the browser back with a code: one button posts it to `action`, from this console's own
/// page.
pub struct Return<'a> {
    pub title: &'a str,
    pub text: &'a str,
    pub action: String,
    pub button_id: &'a str,
    pub button: &'a str,
}

pub fn come_back(frame: &Frame<'_>, back: &Return<'_>, code: &str, state: &str) -> String {
    layout(
        frame,
        back.title,
        html! {
            p { (back.text) }
            form method="post" action=(back.action) {
                input type="hidden" name="code" value=(code);
                input type="hidden" name="state" value=(state);
                button id=(back.button_id) type="submit" { (back.button) }
            }
        },
    )
}

/// The App is registered (now or before): where to install it.
pub fn setup_done(frame: &Frame<'_>, app: &AppRegistration) -> String {
    layout(frame, "GitHub App", installed(app))
}

fn installed(app: &AppRegistration) -> Markup {
    html! {
        p.notice role="status" { "GitHub App " strong { (app.name) } " (" (app.slug) ") of " (app.owner)
            " is set up; GitHub webhooks are served." }
        p { a #install href={ (app.html_url) "/installations/new" } { "Install it on repositories" } }
    }
}

/// An invitation to link oneself: who it is for, and the way to sign in (`None`: this host cannot).
pub fn link_start(frame: &Frame<'_>, invitation: &Invitation, sign_in: Option<&str>) -> String {
    layout(
        frame,
        "Link your account",
        html! {
            p { "This links the " (invitation.provider.display_name()) " account " strong { "@" (invitation.login) }
                " to your OpenHands identity, so that mentioning Hookline starts OpenHands as you." }
            @match sign_in {
                Some(url) => p { a #sign-in-with-provider href=(url) {
                    "Sign in with " (invitation.provider.display_name()) " as @" (invitation.login) } },
                None => p.error { "Signing in with this provider is not set up on this host; ask an admin to link \
                    you." },
            }
        },
    )
}

/// What the key form of a signed-in person shows.
pub struct KeyForm<'a> {
    pub invitation: &'a Invitation,
    /// The invitation's token and this sign-in's grant, carried by each form.
    pub invite: &'a str,
    pub grant: &'a str,
    pub current: Option<&'a IdentityLink>,
    /// The shared identity they may pick instead of entering a key.
    pub shared: Option<&'a DefaultIdentity>,
}

/// After signing in: the account's link now (with a way to remove it), the form for the OpenHands user and API
/// key, and the shared identity where it is offered.
pub fn link_key_form(frame: &Frame<'_>, form: &KeyForm<'_>) -> String {
    let KeyForm {
        invitation,
        invite,
        grant,
        current,
        shared,
    } = *form;
    layout(
        frame,
        "Link your account",
        html! {
            p.notice { "Signed in as @" (invitation.login) "." }
            @if let Some(link) = current {
                p #current-link { "Linked now to the OpenHands user " strong { (link.openhands_user) } "." }
                form method="post" action={ (frame.base) "/link/remove" } {
                    input type="hidden" name="csrf" value=(&frame.csrf);
                    input type="hidden" name="invite" value=(invite);
                    input type="hidden" name="grant" value=(grant);
                    button #remove-link type="submit" { "Remove my link" }
                }
            }
            form method="post" action={ (frame.base) "/link/key" } {
                input type="hidden" name="csrf" value=(&frame.csrf);
                input type="hidden" name="invite" value=(invite);
                input type="hidden" name="grant" value=(grant);
                label for="openhands-user" { "OpenHands user (e.g. your email)" }
                input #openhands-user type="text" name="openhands_user" required;
                label for="api-key" { "OpenHands API key" }
                input #api-key type="password" name="api_key" autocomplete="off" required;
                button #link type="submit" { "Link" }
            }
            @if let Some(shared) = shared {
                form method="post" action={ (frame.base) "/link/key" } {
                    input type="hidden" name="csrf" value=(&frame.csrf);
                    input type="hidden" name="invite" value=(invite);
                    input type="hidden" name="grant" value=(grant);
                    input type="hidden" name="shared" value="1";
                    p { "Or work under this host's shared OpenHands identity, " strong { (shared.openhands_user) }
                        ", on the repositories configured here." }
                    button #link-shared type="submit" { "Use the shared identity" }
                }
            }
        },
    )
}

/// The link is gone.
pub fn unlinked(frame: &Frame<'_>, invitation: &Invitation) -> String {
    layout(
        frame,
        "Unlinked",
        html! {
            p.notice role="status" { "@" (invitation.login) " is no longer linked; the key stored for it is deleted." }
        },
    )
}

/// Linked.
pub fn link_done(frame: &Frame<'_>, invitation: &Invitation) -> String {
    layout(
        frame,
        "Linked",
        html! {
            p.notice role="status" { "@" (invitation.login) " is linked. Mention Hookline again to start OpenHands." }
        },
    )
}

/// How the pages link out.
pub struct Links<'a> {
    /// OpenHands' web app, for conversation links.
    pub openhands_web_url: &'a str,
}

impl Links<'_> {
    fn conversation(&self, id: &str) -> String {
        crate::openhands::conversation_link(self.openhands_web_url, id)
    }
}

/// A filtered listing read a page at a time, newest first.
struct Listing<'a> {
    title: &'a str,
    /// Its path below the console, where the filter form is sent and older pages are read.
    route: &'a str,
    provider: Option<Provider>,
    /// The listing's own filter, as its query parameter and value.
    filter: (&'a str, Option<&'a str>),
    /// The form controls of that filter.
    controls: Markup,
    /// The cursor of the next (older) page, when there is one.
    next: Option<&'a str>,
}

impl Listing<'_> {
    /// The page: the filter form (the provider first, then the listing's own control), `rows`, and the link to
    /// the older page keeping the filters.
    fn page(self, frame: &Frame<'_>, rows: Markup) -> String {
        let chosen = self.provider;
        let form = html! {
            form.filters method="get" action={ (frame.base) (self.route) } {
                label for="provider" { "Provider" }
                select #provider name="provider" {
                    option value="" { "any" }
                    @for provider in Provider::ALL {
                        option value=(provider.as_str()) selected[chosen == Some(provider)] { (provider.as_str()) }
                    }
                }
                (self.controls)
                button type="submit" { "Filter" }
            }
        };
        let older = self.next.map(|cursor| {
            html! { a.next href={ (frame.base) (self.route) (self.query(Some(cursor))) } { "Older →" } }
        });
        layout(
            frame,
            self.title,
            html! { (form) (rows) @if let Some(older) = older { (older) } },
        )
    }

    /// The query string (with its `?`; empty when there is nothing to say) of the set filters and, when
    /// given, the cursor to read after.
    fn query(&self, after: Option<&str>) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        let filters = [
            ("provider", self.provider.map(Provider::as_str)),
            self.filter,
            ("after", after),
        ];
        for (name, value) in filters {
            if let Some(value) = value {
                query.append_pair(name, value);
            }
        }
        let query = query.finish();
        if query.is_empty() {
            query
        } else {
            format!("?{query}")
        }
    }
}

fn timestamp(epoch_secs: u64) -> String {
    humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + std::time::Duration::from_secs(epoch_secs))
        .to_string()
}

fn elapsed(secs: u64) -> String {
    match secs {
        0..60 => format!("{secs} s"),
        60..3600 => format!("{} min {} s", secs / 60, secs % 60),
        _ => format!("{} h {} min", secs / 3600, secs % 3600 / 60),
    }
}

fn short(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}
