//! `hookline-admin`: manage identity links (and inspect runs and dead letters) in the store the local host uses.
//!
//! ```text
//! hookline-admin link add <provider> <external-user-id> <openhands-user> [--tenant T] [--login L] [--api-key-secret NAME]
//! hookline-admin link list
//! hookline-admin link remove <provider> <external-user-id> [--tenant T]
//! hookline-admin runs
//! hookline-admin dead-letters
//! ```
//! The database is `$HOOKLINE_DATA_DIR/hookline.db` (default `.hookline/hookline.db`).

use std::process::ExitCode;

use hookline::{
    clock::{Clock, SystemClock},
    domain::{IdentityLink, Provider, RunState},
    embedded::Database,
    ports::{IdentityStore, RunStore},
};
use hookline_local::LocalConfig;

const USAGE: &str = "usage:
  hookline-admin link add <provider> <external-user-id> <openhands-user> [--tenant T] [--login L] [--api-key-secret NAME]
  hookline-admin link list
  hookline-admin link remove <provider> <external-user-id> [--tenant T]
  hookline-admin runs
  hookline-admin dead-letters
providers: github, gitlab, slack, jira, linear. The tenant defaults to the provider's public host (github.com, …).";

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args).await {
        Ok(output) => {
            print!("{output}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("{message}");
            ExitCode::from(2)
        }
    }
}

/// `--name value` pairs.
type Options<'a> = Vec<(&'a str, &'a str)>;

/// Split `--flag value` options from positional arguments.
fn split_options(args: &[String]) -> Result<(Vec<&str>, Options<'_>), String> {
    let mut positional = Vec::new();
    let mut options = Vec::new();
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        if let Some(name) = arg.strip_prefix("--") {
            let value = iter
                .next()
                .ok_or_else(|| format!("--{name} needs a value\n{USAGE}"))?;
            options.push((name, value.as_str()));
        } else {
            positional.push(arg.as_str());
        }
    }
    Ok((positional, options))
}

fn option<'a>(options: &[(&str, &'a str)], name: &str) -> Option<&'a str> {
    options.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
}

fn default_tenant(provider: Provider) -> &'static str {
    match provider {
        Provider::Github => "github.com",
        Provider::Gitlab => "gitlab.com",
        Provider::Slack => "slack.com",
        Provider::Jira => "atlassian.net",
        Provider::Linear => "linear.app",
    }
}

async fn run(args: &[String]) -> Result<String, String> {
    let (positional, options) = split_options(args)?;
    let local = LocalConfig::from_env().map_err(|e| e.to_string())?;
    std::fs::create_dir_all(&local.data_dir)
        .map_err(|e| format!("creating {}: {e}", local.data_dir.display()))?;
    let database = Database::open(local.database_path()).map_err(|e| e.to_string())?;
    let store = database.store();
    let provider_arg =
        |raw: &str| Provider::parse(raw).ok_or_else(|| format!("unknown provider {raw:?}\n{USAGE}"));
    match positional.as_slice() {
        ["link", "add", provider, external_id, openhands_user] => {
            let provider = provider_arg(provider)?;
            let link = IdentityLink {
                provider,
                tenant: option(&options, "tenant")
                    .unwrap_or(default_tenant(provider))
                    .to_owned(),
                external_user_id: (*external_id).to_owned(),
                external_login: option(&options, "login").unwrap_or_default().to_owned(),
                openhands_user: (*openhands_user).to_owned(),
                api_key_secret: option(&options, "api-key-secret").map(str::to_owned),
                created_at: SystemClock.now_secs(),
            };
            store.put_link(&link).await.map_err(|e| e.to_string())?;
            Ok(format!(
                "linked {provider} {}/{} -> {}\n",
                link.tenant, link.external_user_id, link.openhands_user
            ))
        }
        ["link", "list"] => {
            let links = store.list_links().await.map_err(|e| e.to_string())?;
            let mut out =
                String::from("provider\ttenant\texternal_id\tlogin\topenhands_user\tapi_key_secret\n");
            for l in links {
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
        ["link", "remove", provider, external_id] => {
            let provider = provider_arg(provider)?;
            let tenant = option(&options, "tenant").unwrap_or(default_tenant(provider));
            if store
                .remove_link(provider, tenant, external_id)
                .await
                .map_err(|e| e.to_string())?
            {
                Ok(format!("removed {provider} {tenant}/{external_id}\n"))
            } else {
                Err(format!("no link for {provider} {tenant}/{external_id}"))
            }
        }
        ["runs"] => {
            let runs = store
                .runs_in_states(&RunState::ALL, 1000)
                .await
                .map_err(|e| e.to_string())?;
            let mut out = String::from("conversation_id\tstate\tthread\tactor\tcreated_at\n");
            for r in runs {
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
        ["dead-letters"] => {
            let dead = database.queue().dead_letters().map_err(|e| e.to_string())?;
            let mut out = String::from("id\tgroup\treceive_count\tfailed_at\treason\n");
            for d in dead {
                out.push_str(&format!(
                    "{}\t{}\t{}\t{}\t{}\n",
                    d.id, d.group, d.receive_count, d.failed_at, d.reason
                ));
            }
            Ok(out)
        }
        _ => Err(USAGE.to_owned()),
    }
}
