//! `hookline-admin`, the operator's tool: identity links, runs, delivery decisions and dead letters in the store a deployment uses,
//! the local host's SQLite database or an AWS deployment's DynamoDB table (see [`Backend`]).
//!
//! The command line is [`Cli`] (clap). [`run`] picks the store, checks the command against the environment (the
//! tenant rules of [`tenant`]) before touching the store, then carries it out; [`execute`] does the same on a
//! store the caller opened (tests). Both return the text to print, so the binary is only `main`.

mod store;
pub mod tenant;
#[cfg(test)]
mod tests;

use clap::{
    builder::{PossibleValuesParser, TypedValueParser},
    Args, Parser, Subcommand,
};
use hookline::{
    clock::{Clock, SystemClock},
    domain::{IdentityLink, Provider, RunState},
    error::PortError,
    ports::{DeliveryQuery, MAX_DECISION_PAGE},
};

pub use store::{Backend, Store, TABLE_VAR};
pub use tenant::{TenantUse, Tenants};

/// How the tool reads settings by name: the process environment ([`process_env`]) or a map in tests.
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// A setting from the process environment; blank counts as unset, as for the host.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.trim().is_empty())
}

/// Most runs `runs` lists.
pub const RUNS_LIMIT: usize = 1000;

/// Every provider, in the order help text lists them.
const PROVIDERS: [Provider; 5] = [
    Provider::Github,
    Provider::Gitlab,
    Provider::Slack,
    Provider::Jira,
    Provider::Linear,
];

const STORE_HELP: &str = "\
The store is SQLite unless --aws is given or HOOKLINE_TABLE is set:
  SQLite    $HOOKLINE_DATA_DIR/hookline.db (default .hookline/hookline.db), the local host's database
  DynamoDB  the table HOOKLINE_TABLE (the stack's TableName output), with region and credentials from the
            standard AWS settings (AWS_REGION, AWS_PROFILE, ...) as for the Lambda functions; needs a build
            with `--features aws`";

const LINK_HELP: &str = "\
Accounts and tenants, as the webhooks and the worker name them:
  github  EXTERNAL_ID: numeric user id (sender.id)
          tenant: GITHUB_TENANTS, default github.com
  gitlab  EXTERNAL_ID: numeric user id
          tenant: a name in GITLAB_TENANTS (/webhooks/gitlab/<tenant>); the default when it lists one
  slack   EXTERNAL_ID: user id (U...)
          tenant: the workspace's team id (T...); the default when SLACK_TENANTS lists one
  jira    EXTERNAL_ID: accountId
          tenant: a site in JIRA_TENANTS (/webhooks/jira/<site>); the default when it lists one
  linear  EXTERNAL_ID: user id
          tenant: a name in LINEAR_TENANTS (/webhooks/linear/<tenant>); the default when it lists one
Tenant lists are read from this environment as the host reads them; where a provider is not configured
here, --tenant is required.";

const LINK_ADD_HELP: &str = "\
On AWS, the secret's name must start with the stack's SecretPrefix (e.g. hookline/openhands/alice): the
worker may read only those. Locally, set it in the secrets file or as HOOKLINE_SECRET_<NAME>.";

/// The command line.
#[derive(Debug, Parser)]
#[command(
    name = "hookline-admin",
    about = "Manage identity links, and inspect runs, delivery decisions and dead letters, in the store Hookline uses",
    after_help = STORE_HELP
)]
pub struct Cli {
    /// The AWS deployment's DynamoDB table, HOOKLINE_TABLE (the default when it is set)
    #[arg(long, global = true, conflicts_with = "sqlite", help_heading = "Store")]
    pub aws: bool,
    /// The local host's SQLite database, even when HOOKLINE_TABLE is set
    #[arg(long, global = true, help_heading = "Store")]
    pub sqlite: bool,
    #[command(subcommand)]
    pub command: Command,
}

/// What to do.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Manage identity links: which OpenHands identity a provider account's runs start as
    #[command(subcommand)]
    Link(LinkCommand),
    /// List runs, oldest first (at most 1000)
    Runs {
        /// Only runs in this state (repeatable or comma-separated; default: all)
        #[arg(long = "state", value_name = "STATE", value_delimiter = ',', value_parser = state_parser())]
        states: Vec<RunState>,
    },
    /// List what the worker decided about recent deliveries, newest first (why it did or did not react)
    Deliveries(DeliveriesArgs),
    /// List messages set aside after failing too often (AWS: see the SQS dead-letter queue)
    DeadLetters,
}

/// `deliveries`.
#[derive(Debug, Args)]
pub struct DeliveriesArgs {
    /// Only this provider's deliveries
    #[arg(long, value_parser = provider_parser())]
    pub provider: Option<Provider>,
    /// Only this tenant's deliveries, as the webhook URL names it
    #[arg(long, value_name = "TENANT")]
    pub tenant: Option<String>,
    /// Most decisions to list (1 to 1000)
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u16).range(1..=MAX_DECISION_PAGE as i64))]
    pub limit: u16,
    /// Continue after a previous listing (the cursor it printed)
    #[arg(long, value_name = "CURSOR")]
    pub after: Option<String>,
    /// Print JSON (`{"decisions": [...], "next": cursor or null}`) instead of a table
    #[arg(long)]
    pub json: bool,
}

/// `link …`.
#[derive(Debug, Subcommand)]
pub enum LinkCommand {
    /// Link a provider account to an OpenHands identity (replaces an existing link)
    #[command(after_help = format!("{LINK_HELP}\n\n{LINK_ADD_HELP}"))]
    Add(LinkAdd),
    /// List every link
    List,
    /// Remove a link
    #[command(after_help = LINK_HELP)]
    Remove(LinkRemove),
}

/// `link add`.
#[derive(Debug, Args)]
pub struct LinkAdd {
    #[arg(value_parser = provider_parser())]
    pub provider: Provider,
    /// The account's user id at the provider (see below)
    pub external_id: String,
    /// The OpenHands user its runs start as
    pub openhands_user: String,
    /// The account's handle at the provider, for listings
    #[arg(long, value_name = "LOGIN")]
    pub login: Option<String>,
    /// Name of the secret holding the user's OpenHands API key (not the key)
    #[arg(long, value_name = "NAME")]
    pub api_key_secret: Option<String>,
    /// The account's tenant (see below)
    #[arg(long, value_name = "TENANT")]
    pub tenant: Option<String>,
}

/// `link remove`.
#[derive(Debug, Args)]
pub struct LinkRemove {
    #[arg(value_parser = provider_parser())]
    pub provider: Provider,
    /// The account's user id at the provider, as given to `link add`
    pub external_id: String,
    /// The account's tenant (see below)
    #[arg(long, value_name = "TENANT")]
    pub tenant: Option<String>,
}

fn provider_parser() -> impl TypedValueParser<Value = Provider> {
    PossibleValuesParser::new(PROVIDERS.map(Provider::as_str))
        .map(|name| Provider::parse(&name).expect("only listed providers parse"))
}

fn state_parser() -> impl TypedValueParser<Value = RunState> {
    PossibleValuesParser::new(RunState::ALL.map(RunState::as_str)).map(|name| {
        RunState::ALL
            .into_iter()
            .find(|state| state.as_str() == name)
            .expect("only listed states parse")
    })
}

/// Why a command failed.
#[derive(Debug, PartialEq, Eq)]
pub enum AdminError {
    /// The command cannot be carried out as given (a missing or unknown tenant, a backend this build lacks).
    Usage(String),
    /// The store failed, or what was asked for does not exist.
    Failed(String),
}

impl AdminError {
    /// The process exit code: 2 for usage errors (as clap's own), 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            AdminError::Usage(_) => 2,
            AdminError::Failed(_) => 1,
        }
    }
}

impl std::fmt::Display for AdminError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AdminError::Usage(message) | AdminError::Failed(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for AdminError {}

impl From<PortError> for AdminError {
    fn from(err: PortError) -> Self {
        AdminError::Failed(err.to_string())
    }
}

/// A command checked against the environment, ready for a store.
#[derive(Debug, PartialEq, Eq)]
enum Action {
    PutLink(IdentityLink),
    ListLinks,
    RemoveLink {
        provider: Provider,
        tenant: String,
        external_id: String,
    },
    Runs(Vec<RunState>),
    Deliveries {
        query: DeliveryQuery,
        json: bool,
    },
    DeadLetters,
}

/// Choose the store ([`Backend::choose`]), check the command, open the store and carry the command out.
/// Returns what to print.
pub async fn run(cli: &Cli, env: Env<'_>) -> Result<String, AdminError> {
    let backend = Backend::choose(cli.aws, cli.sqlite, env)?;
    let action = plan(&cli.command, env)?;
    let store = Store::open(&backend).await?;
    perform(action, &store).await
}

/// Carry `command` out on `store` (tests open the store themselves). Returns what to print.
pub async fn execute(command: &Command, store: &Store, env: Env<'_>) -> Result<String, AdminError> {
    perform(plan(command, env)?, store).await
}

fn plan(command: &Command, env: Env<'_>) -> Result<Action, AdminError> {
    let required = |what: &str, value: &str| {
        let value = value.trim();
        if value.is_empty() {
            Err(AdminError::Usage(format!("{what} must not be empty")))
        } else {
            Ok(value.to_owned())
        }
    };
    Ok(match command {
        Command::Link(LinkCommand::Add(add)) => Action::PutLink(IdentityLink {
            provider: add.provider,
            tenant: tenant::resolve(add.provider, add.tenant.as_deref(), TenantUse::NewLink, env)?,
            external_user_id: required("EXTERNAL_ID", &add.external_id)?,
            external_login: add.login.as_deref().unwrap_or_default().trim().to_owned(),
            openhands_user: required("OPENHANDS_USER", &add.openhands_user)?,
            api_key_secret: add
                .api_key_secret
                .as_deref()
                .map(str::trim)
                .filter(|name| !name.is_empty())
                .map(str::to_owned),
            created_at: SystemClock.now_secs(),
        }),
        Command::Link(LinkCommand::List) => Action::ListLinks,
        Command::Link(LinkCommand::Remove(remove)) => Action::RemoveLink {
            provider: remove.provider,
            tenant: tenant::resolve(
                remove.provider,
                remove.tenant.as_deref(),
                TenantUse::ExistingLink,
                env,
            )?,
            external_id: required("EXTERNAL_ID", &remove.external_id)?,
        },
        Command::Runs { states } if states.is_empty() => Action::Runs(RunState::ALL.to_vec()),
        Command::Runs { states } => {
            // One query per state on DynamoDB: a state named twice would list its runs twice.
            let mut unique = Vec::with_capacity(states.len());
            for state in states {
                if !unique.contains(state) {
                    unique.push(*state);
                }
            }
            Action::Runs(unique)
        }
        Command::Deliveries(args) => Action::Deliveries {
            query: DeliveryQuery {
                provider: args.provider,
                tenant: args.tenant.as_deref().map(str::trim).map(str::to_owned),
                limit: usize::from(args.limit),
                after: args.after.clone(),
            },
            json: args.json,
        },
        Command::DeadLetters => Action::DeadLetters,
    })
}

async fn perform(action: Action, store: &Store) -> Result<String, AdminError> {
    match action {
        Action::PutLink(link) => {
            store.identities().put_link(&link).await?;
            Ok(format!(
                "linked {} {}/{} -> {}\n",
                link.provider, link.tenant, link.external_user_id, link.openhands_user
            ))
        }
        Action::ListLinks => {
            let mut out =
                String::from("provider\ttenant\texternal_id\tlogin\topenhands_user\tapi_key_secret\n");
            for l in store.identities().list_links().await? {
                out.push_str(&format!(
                    "{}\t{}\t{}\t{}\t{}\t{}\n",
                    l.provider,
                    l.tenant,
                    l.external_user_id,
                    l.external_login,
                    l.openhands_user,
                    l.api_key_secret.as_deref().unwrap_or("-")
                ));
            }
            Ok(out)
        }
        Action::RemoveLink {
            provider,
            tenant,
            external_id,
        } => {
            if store
                .identities()
                .remove_link(provider, &tenant, &external_id)
                .await?
            {
                Ok(format!("removed {provider} {tenant}/{external_id}\n"))
            } else {
                Err(AdminError::Failed(format!(
                    "no link for {provider} {tenant}/{external_id}"
                )))
            }
        }
        Action::Runs(states) => {
            let mut out = String::from("conversation_id\tstate\tthread\tactor\tcreated_at\n");
            for r in store.runs().runs_in_states(&states, RUNS_LIMIT).await? {
                out.push_str(&format!(
                    "{}\t{}\t{}\t{}\t{}\n",
                    r.conversation_id,
                    r.state.as_str(),
                    r.thread_key,
                    r.actor.login,
                    r.created_at
                ));
            }
            Ok(out)
        }
        Action::Deliveries { query, json } => {
            let page = store.decisions().recent(&query).await?;
            if json {
                let listing = serde_json::json!({ "decisions": page.decisions, "next": page.next });
                return Ok(format!("{listing:#}\n"));
            }
            let mut out =
                String::from("decided_at\tprovider\ttenant\tdelivery_id\tevent\tdecision\treason\tactor\tconversation_id\n");
            for d in &page.decisions {
                out.push_str(&format!(
                    "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\n",
                    d.decided_at,
                    d.provider,
                    d.tenant,
                    d.delivery_id,
                    d.event,
                    d.kind.as_str(),
                    d.reason,
                    d.actor.as_deref().unwrap_or("-"),
                    d.conversation_id.as_deref().unwrap_or("-")
                ));
            }
            if let Some(next) = page.next {
                out.push_str(&format!("more: --after {next}\n"));
            }
            Ok(out)
        }
        Action::DeadLetters => {
            let mut out = String::from("id\tgroup\treceive_count\tfailed_at\treason\n");
            for d in store.dead_letters()? {
                out.push_str(&format!(
                    "{}\t{}\t{}\t{}\t{}\n",
                    d.id, d.group, d.receive_count, d.failed_at, d.reason
                ));
            }
            Ok(out)
        }
    }
}
