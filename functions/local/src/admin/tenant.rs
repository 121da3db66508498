//! The tenant of an identity link. The worker looks links up by the tenant each provider puts on its triggers:
//! the tenant's name in `<PROVIDER>_TENANTS` (GitHub `github.com` when unset), for Slack the workspace's team id.
//! A link with any other tenant is never used, so [`resolve`] reads the provider's settings from the environment
//! the host reads, defaults to the only tenant when there is one, and otherwise asks for `--tenant`,
//! listing what it can.

use hookline::{
    config::{ConfigError, Lookup, ProviderEnv},
    domain::Provider,
    registry::ProviderConfigs,
};

use super::{AdminError, Env};

/// What the tenant is checked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TenantUse {
    /// `link add`: the tenant must be one the host serves, when the environment says which.
    NewLink,
    /// `link remove`: any tenant, so links of a tenant no longer configured can be cleaned up.
    ExistingLink,
}

/// What this environment says about one provider's tenants.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Tenants {
    /// Any tenant may be given; this one is used when none is (GitHub without `GITHUB_TENANTS`).
    Default(String),
    /// The tenants the host serves, as it names them, from the setting `var`.
    Configured { var: String, names: Vec<String> },
    /// The provider is not configured here; on the host its tenants are in `var`.
    Unknown { var: String },
    /// Slack serving any workspace (`SLACK_TENANTS=*`, or not configured here): the tenant is a workspace's
    /// team id, which only Slack knows.
    SlackTeam,
}

impl Tenants {
    /// Read `provider`'s tenants from `env`. Only the provider's own settings are read, so another provider's
    /// incomplete settings do not get in the way.
    pub fn of(provider: Provider, env: Env<'_>) -> Result<Self, ConfigError> {
        let get = |name: &str| env(name).filter(|v| !v.trim().is_empty());
        let lookup = Lookup::new(&get);
        let prefix = provider.as_str().to_ascii_uppercase();
        let var = ProviderEnv::new(&lookup, &prefix).var("TENANTS");
        let names = match provider {
            // Only GITHUB_TENANTS: an admin's shell rarely has GITHUB_APP_ID.
            Provider::Github => ProviderEnv::new(&lookup, &prefix)
                .tenants()?
                .map(|names| names.iter().map(|n| n.to_ascii_lowercase()).collect()),
            // As the host loads them (and spells them).
            _ => Some(ProviderConfigs::load(&lookup, Some(provider))?.tenants(provider))
                .filter(|n| !n.is_empty()),
        };
        Ok(match (provider, names) {
            (Provider::Slack, Some(names)) if !names.iter().any(|n| n == "*") => {
                Tenants::Configured { var, names }
            }
            (Provider::Slack, _) => Tenants::SlackTeam,
            (Provider::Github, None) => Tenants::Default("github.com".to_owned()),
            (_, None) => Tenants::Unknown { var },
            (_, Some(names)) => Tenants::Configured { var, names },
        })
    }
}

/// The tenant to store or look up for `provider`: `given` (`--tenant`) in the host's spelling, or the default.
/// Fails with a usage error that says what to pass when there is no single default, or when a new link names
/// a tenant the host does not serve.
pub fn resolve(
    provider: Provider,
    given: Option<&str>,
    purpose: TenantUse,
    env: Env<'_>,
) -> Result<String, AdminError> {
    let label = label(provider);
    let given = given
        .map(str::trim)
        .filter(|tenant| !tenant.is_empty())
        .map(|tenant| match provider {
            // The host lower-cases these names when it loads them.
            Provider::Github | Provider::Gitlab | Provider::Jira => tenant.to_ascii_lowercase(),
            _ => tenant.to_owned(),
        });
    let usage = |message: String| Err(AdminError::Usage(message));
    let tenants = match Tenants::of(provider, env) {
        Ok(tenants) => tenants,
        // Settings the host could not start with: an explicit tenant still works, unchecked.
        Err(err) => {
            return given.ok_or_else(|| {
                AdminError::Usage(format!(
                "pass --tenant: the {label} settings here do not load ({err}), so the tenant cannot be read"
            ))
            })
        }
    };
    match (tenants, given) {
        (Tenants::Default(tenant), None) => Ok(tenant),
        (Tenants::Default(_), Some(tenant)) | (Tenants::Unknown { .. }, Some(tenant)) => Ok(tenant),
        (Tenants::Configured { mut names, .. }, None) if names.len() == 1 => Ok(names.remove(0)),
        (Tenants::Configured { var, names }, None) => usage(format!(
            "pass --tenant: {label} has several tenants here ({var}): {}",
            names.join(", ")
        )),
        (Tenants::Configured { var, names }, Some(tenant)) => {
            match names.iter().find(|name| name.eq_ignore_ascii_case(&tenant)) {
                Some(name) => Ok(name.clone()),
                None if purpose == TenantUse::ExistingLink => Ok(tenant),
                None => usage(format!(
                    "{label} tenant {tenant:?} is not configured here, so a link for it would never be used; \
                     {var} has: {}",
                    names.join(", ")
                )),
            }
        }
        (Tenants::Unknown { var }, None) => usage(format!(
            "pass --tenant: {label} links are per tenant, {}, and {var} is not set here",
            unknown_hint(provider)
        )),
        (Tenants::SlackTeam, None) => usage(
            "pass --tenant with the Slack workspace's team id (T..., e.g. T024BE7LD): Slack links are per \
             workspace, and Hookline's reply to an unlinked person names both the user and the workspace id"
                .to_owned(),
        ),
        (Tenants::SlackTeam, Some(tenant)) if purpose == TenantUse::NewLink && !is_slack_id(&tenant) => {
            usage(format!(
                "Slack tenant {tenant:?} is not a team id: it is the workspace's id (T..., e.g. T024BE7LD)"
            ))
        }
        (Tenants::SlackTeam, Some(tenant)) => Ok(tenant),
    }
}

fn label(provider: Provider) -> &'static str {
    match provider {
        Provider::Github => "GitHub",
        Provider::Gitlab => "GitLab",
        Provider::Slack => "Slack",
        Provider::Jira => "Jira",
        Provider::Linear => "Linear",
    }
}

fn unknown_hint(provider: Provider) -> &'static str {
    match provider {
        Provider::Gitlab => "the instance names of GITLAB_TENANTS (as in /webhooks/gitlab/<tenant>)",
        Provider::Jira => "the site names of JIRA_TENANTS (as in /webhooks/jira/<site>)",
        Provider::Linear => "the tenant names of LINEAR_TENANTS (as in /webhooks/linear/<tenant>)",
        Provider::Github | Provider::Slack => "",
    }
}

/// The Slack module's rule for ids (`hookline::slack::is_slack_id` is crate-private).
fn is_slack_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 32 && id.bytes().all(|b| b.is_ascii_alphanumeric())
}
