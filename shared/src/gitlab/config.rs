//! GitLab settings: one tenant per GitLab instance, each with its own base URL, bot account, trigger words and
//! verification mode. Secrets are referenced by name (`gitlab/<tenant>/…`), never held here.
//!
//! ```text
//! GITLAB_TENANTS=gitlab.com,git.example.com        # turns GitLab on; tenant names as used in webhook URLs
//! GITLAB_GITLAB_COM_BOT_USERNAME=hookline-bot      # per tenant: GITLAB_<TENANT>_…, TENANT upper-cased,
//! GITLAB_GIT_EXAMPLE_COM_URL=https://git.example.com  #   every other character replaced by `_`
//! GITLAB_GIT_EXAMPLE_COM_BOT_USERNAME=openhands
//! GITLAB_GIT_EXAMPLE_COM_VERIFY=token,signature
//! ```

use crate::config::{ConfigError, Lookup};

/// The variable that lists the tenants and turns GitLab on.
pub const TENANTS_VAR: &str = "GITLAB_TENANTS";
/// Longest tenant name accepted (it appears in URLs, keys and secret names).
pub const MAX_TENANT_LEN: usize = 100;

/// GitLab settings: every configured instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GitlabConfig {
    pub tenants: Vec<GitlabTenant>,
}

/// One GitLab instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GitlabTenant {
    /// Name used in the webhook URL (`/webhooks/gitlab/<name>`), keys, identity links and secret names.
    pub name: String,
    /// Web base URL without a trailing slash, e.g. `https://gitlab.com`.
    pub base_url: String,
    /// REST base URL: `{base_url}/api/v4`.
    pub api_url: String,
    /// Username of the bot / service account whose API token Hookline uses; its own events never trigger.
    pub bot_username: String,
    /// That account's numeric id, when known (a second guard against loops, robust to renames).
    pub bot_user_id: Option<u64>,
    /// Label that triggers a run when newly added to an issue or merge request.
    pub label: String,
    /// Handle that triggers a run when mentioned in a note, including the `@`.
    pub mention: String,
    pub verify: Verification,
    /// Secret names in the secret store.
    pub webhook_token_secret: String,
    pub signing_secret_secret: String,
    pub api_token_secret: String,
}

/// Which webhook authentication a tenant requires. Every enabled check must pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verification {
    /// `X-Gitlab-Token` equals the tenant's webhook token.
    pub token: bool,
    /// A valid Standard Webhooks signature (`webhook-signature`) within the timestamp window.
    pub signature: bool,
}

impl GitlabConfig {
    /// Load from the environment; `None` when `GITLAB_TENANTS` is unset. A half-configured tenant fails,
    /// naming the missing or invalid variable.
    pub fn load(env: &Lookup<'_>) -> Result<Option<Self>, ConfigError> {
        let Some(list) = env.get(TENANTS_VAR) else {
            return Ok(None);
        };
        let mut tenants: Vec<GitlabTenant> = Vec::new();
        for raw in list.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            let name = raw.to_ascii_lowercase();
            if !valid_tenant_name(&name) {
                return Err(invalid(format!(
                    "{raw:?} is not a tenant name (letters, digits, '.', '-'; at most {MAX_TENANT_LEN})"
                )));
            }
            let prefix = var_prefix(&name);
            if let Some(clash) = tenants.iter().find(|t| var_prefix(&t.name) == prefix) {
                return Err(invalid(format!(
                    "tenants {:?} and {name:?} share the variable prefix {prefix}",
                    clash.name
                )));
            }
            tenants.push(load_tenant(env, name, &prefix)?);
        }
        if tenants.is_empty() {
            return Err(invalid("lists no tenant".into()));
        }
        Ok(Some(Self { tenants }))
    }

    /// The tenant called `name` (as in the webhook URL; case-insensitive).
    pub fn tenant(&self, name: &str) -> Option<&GitlabTenant> {
        self.tenants.iter().find(|t| t.name.eq_ignore_ascii_case(name))
    }
}

fn load_tenant(env: &Lookup<'_>, name: String, prefix: &str) -> Result<GitlabTenant, ConfigError> {
    let var = |suffix: &str| format!("{prefix}_{suffix}");
    let get = |suffix: &str| env.get(&var(suffix)).map(|v| v.trim().to_owned());
    let required = |suffix: &str| {
        get(suffix).ok_or_else(|| invalid(format!("{} is required for tenant {name:?}", var(suffix))))
    };

    let base_url = match get("URL") {
        Some(url) => url,
        None if name == "gitlab.com" => "https://gitlab.com".to_owned(),
        None => required("URL")?,
    };
    let base_url = base_url.trim_end_matches('/').to_owned();
    let well_formed = (base_url.starts_with("https://") || base_url.starts_with("http://"))
        && !base_url.contains(['?', '#', ' '])
        && base_url.split("://").nth(1).is_some_and(|rest| !rest.is_empty());
    if !well_formed {
        return Err(invalid(format!("{} must be an http(s) base URL", var("URL"))));
    }
    let bot_username = required("BOT_USERNAME")?.trim_start_matches('@').to_owned();
    if bot_username.is_empty() {
        return Err(invalid(format!("{} is empty", var("BOT_USERNAME"))));
    }
    let bot_user_id = match get("BOT_USER_ID") {
        None => None,
        Some(raw) => Some(
            raw.parse::<u64>()
                .map_err(|_| invalid(format!("{} must be a numeric user id", var("BOT_USER_ID"))))?,
        ),
    };
    let label = get("LABEL")
        .or_else(|| env.get("HOOKLINE_LABEL"))
        .unwrap_or_else(|| "openhands".to_owned());
    let mention = get("MENTION").unwrap_or_else(|| bot_username.clone());
    let mention = format!("@{}", mention.trim_start_matches('@'));
    let verify = parse_verification(&get("VERIFY").unwrap_or_else(|| "token".to_owned()))
        .map_err(|reason| invalid(format!("{}: {reason}", var("VERIFY"))))?;
    Ok(GitlabTenant {
        webhook_token_secret: format!("gitlab/{name}/webhook-token"),
        signing_secret_secret: format!("gitlab/{name}/signing-secret"),
        api_token_secret: format!("gitlab/{name}/api-token"),
        api_url: format!("{base_url}/api/v4"),
        base_url,
        bot_username,
        bot_user_id,
        label,
        mention,
        verify,
        name,
    })
}

/// `token`, `signature`, or both (comma- or `+`-separated).
fn parse_verification(raw: &str) -> Result<Verification, String> {
    let mut verify = Verification {
        token: false,
        signature: false,
    };
    for part in raw.split([',', '+']).map(str::trim).filter(|p| !p.is_empty()) {
        match part.to_ascii_lowercase().as_str() {
            "token" => verify.token = true,
            "signature" => verify.signature = true,
            other => return Err(format!("{other:?} is not one of token, signature")),
        }
    }
    if !verify.token && !verify.signature {
        return Err("names no verification (token, signature)".into());
    }
    Ok(verify)
}

/// Tenant names: lowercase letters, digits, `.` and `-`, starting with a letter or digit.
pub fn valid_tenant_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_TENANT_LEN
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
}

/// `GITLAB_<TENANT>`: the tenant upper-cased, every character other than a letter or digit replaced by `_`.
pub fn var_prefix(tenant: &str) -> String {
    let suffix: String = tenant
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("GITLAB_{suffix}")
}

fn invalid(reason: String) -> ConfigError {
    ConfigError::Invalid {
        name: TENANTS_VAR,
        reason,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn load(pairs: &[(&str, &str)]) -> Result<Option<GitlabConfig>, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        // `Lookup` is built by the top-level loader only; go through it.
        crate::config::Config::from_lookup(move |k| map.get(k).cloned()).map(|c| c.gitlab)
    }

    fn reason(err: ConfigError) -> String {
        match err {
            ConfigError::Invalid { reason, .. } => reason,
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn off_without_tenants() {
        assert_eq!(load(&[]), Ok(None));
    }

    #[test]
    fn two_instances_with_defaults_and_overrides() {
        let config = load(&[
            ("GITLAB_TENANTS", "gitlab.com, Git.Example.com"),
            ("GITLAB_GITLAB_COM_BOT_USERNAME", "@hookline-bot"),
            ("GITLAB_GIT_EXAMPLE_COM_URL", "https://git.example.com/"),
            ("GITLAB_GIT_EXAMPLE_COM_BOT_USERNAME", "openhands"),
            ("GITLAB_GIT_EXAMPLE_COM_BOT_USER_ID", "77"),
            ("GITLAB_GIT_EXAMPLE_COM_VERIFY", "token,signature"),
            ("GITLAB_GIT_EXAMPLE_COM_LABEL", "ai"),
            ("HOOKLINE_LABEL", "agent"),
        ])
        .expect("loads")
        .expect("on");
        let com = config.tenant("gitlab.com").expect("gitlab.com");
        assert_eq!(com.base_url, "https://gitlab.com");
        assert_eq!(com.api_url, "https://gitlab.com/api/v4");
        assert_eq!(com.bot_username, "hookline-bot");
        assert_eq!(com.mention, "@hookline-bot");
        assert_eq!(com.label, "agent");
        assert_eq!(
            com.verify,
            Verification {
                token: true,
                signature: false
            }
        );
        assert_eq!(com.webhook_token_secret, "gitlab/gitlab.com/webhook-token");
        let own = config.tenant("GIT.example.com").expect("self-managed");
        assert_eq!(own.name, "git.example.com");
        assert_eq!(own.api_url, "https://git.example.com/api/v4");
        assert_eq!(own.bot_user_id, Some(77));
        assert_eq!(own.label, "ai");
        assert!(own.verify.token && own.verify.signature);
        assert_eq!(own.api_token_secret, "gitlab/git.example.com/api-token");
    }

    #[test]
    fn half_configured_tenants_name_the_variable() {
        let err = load(&[("GITLAB_TENANTS", "gitlab.com")]).unwrap_err();
        assert!(reason(err).contains("GITLAB_GITLAB_COM_BOT_USERNAME"));
        let err = load(&[
            ("GITLAB_TENANTS", "git.example.com"),
            ("GITLAB_GIT_EXAMPLE_COM_BOT_USERNAME", "bot"),
        ])
        .unwrap_err();
        assert!(reason(err).contains("GITLAB_GIT_EXAMPLE_COM_URL"));
        let err = load(&[
            ("GITLAB_TENANTS", "gitlab.com"),
            ("GITLAB_GITLAB_COM_BOT_USERNAME", "bot"),
            ("GITLAB_GITLAB_COM_VERIFY", "hmac"),
        ])
        .unwrap_err();
        assert!(reason(err).contains("GITLAB_GITLAB_COM_VERIFY"));
        let err = load(&[
            ("GITLAB_TENANTS", "gitlab.com"),
            ("GITLAB_GITLAB_COM_BOT_USERNAME", "bot"),
            ("GITLAB_GITLAB_COM_URL", "gitlab.com"),
        ])
        .unwrap_err();
        assert!(reason(err).contains("GITLAB_GITLAB_COM_URL"));
        let err = load(&[
            ("GITLAB_TENANTS", "gitlab.com"),
            ("GITLAB_GITLAB_COM_BOT_USERNAME", "bot"),
            ("GITLAB_GITLAB_COM_BOT_USER_ID", "me"),
        ])
        .unwrap_err();
        assert!(reason(err).contains("GITLAB_GITLAB_COM_BOT_USER_ID"));
    }

    #[test]
    fn bad_or_clashing_tenant_names_are_refused() {
        assert!(load(&[("GITLAB_TENANTS", "git/lab")]).is_err());
        assert!(load(&[("GITLAB_TENANTS", " , ")]).is_err());
        let err = load(&[
            ("GITLAB_TENANTS", "a.b,a-b"),
            ("GITLAB_A_B_URL", "https://a.b"),
            ("GITLAB_A_B_BOT_USERNAME", "bot"),
        ])
        .unwrap_err();
        assert!(reason(err).contains("share the variable prefix"));
    }
}
