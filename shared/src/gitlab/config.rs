//! GitLab settings: one tenant per GitLab instance, each with its own base URL, bot account, trigger words and
//! verification mode, in the grammar every provider shares ([`ProviderEnv`]; every setting but `TENANTS` and
//! `SECRET_PREFIX` may be given for all tenants, `GITLAB_<SETTING>`, or for one, `GITLAB_<TENANT>_<SETTING>`).
//! Secrets are referenced by name (`<prefix>/<tenant>/…`), never held here.
//!
//! ```text
//! GITLAB_TENANTS=gitlab.com,git.example.com        # turns GitLab on; tenant names as used in webhook URLs
//! GITLAB_BOT_USERNAME=hookline-bot                 # every tenant
//! GITLAB_GIT_EXAMPLE_COM_URL=https://git.example.com  # one tenant: TENANT upper-cased, every other
//! GITLAB_GIT_EXAMPLE_COM_BOT_USERNAME=openhands       #   character replaced by `_`
//! GITLAB_GIT_EXAMPLE_COM_VERIFY=token,signature
//! GITLAB_SECRET_PREFIX=gitlab                      # the default
//! GITLAB_OAUTH_CLIENT_ID=…                         # an OAuth application (scope read_user) people sign in
//!                                                  #   with to link themselves; its secret is
//!                                                  #   <prefix>/<tenant>/oauth-client-secret
//! ```

use crate::{
    config::{check_url, with_at, ConfigError, Lookup, ProviderEnv},
    domain::Provider,
    sign_in::OAuthApp,
};

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
    /// The OAuth application people sign in with to link themselves (`OAUTH_CLIENT_ID`), if there is one.
    pub oauth_client_id: Option<String>,
    pub oauth_client_secret_secret: String,
}

impl GitlabTenant {
    /// The instance's OAuth application as people sign in with it, if one is configured.
    pub fn sign_in(&self) -> Option<OAuthApp> {
        let client_id = self.oauth_client_id.clone()?;
        Some(OAuthApp {
            provider: Provider::Gitlab,
            tenant: self.name.clone(),
            authorize_url: format!("{}/oauth/authorize", self.base_url),
            token_url: format!("{}/oauth/token", self.base_url),
            user_url: format!("{}/user", self.api_url),
            client_id,
            client_secret_name: self.oauth_client_secret_secret.clone(),
            scope: Some("read_user"),
            authorize_params: "",
            token_json: false,
            user_query: None,
            id_field: "/id",
            login_field: "/username",
            tenant_field: None,
        })
    }
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
        let env = ProviderEnv::new(env, "GITLAB");
        let Some(names) = env.tenants()? else {
            return Ok(None);
        };
        let secret_prefix = env.secret_prefix()?;
        let tenants = names
            .iter()
            .map(|name| load_tenant(&env, name.to_ascii_lowercase(), &secret_prefix))
            .collect::<Result<_, _>>()?;
        Ok(Some(Self { tenants }))
    }

    /// The tenant called `name` (as in the webhook URL; case-insensitive).
    pub fn tenant(&self, name: &str) -> Option<&GitlabTenant> {
        self.tenants.iter().find(|t| t.name.eq_ignore_ascii_case(name))
    }

    /// Every tenant's name.
    pub fn tenant_names(&self) -> Vec<String> {
        self.tenants.iter().map(|t| t.name.clone()).collect()
    }
}

fn load_tenant(
    env: &ProviderEnv<'_>,
    name: String,
    secret_prefix: &str,
) -> Result<GitlabTenant, ConfigError> {
    let tenant = env.tenant(&name);
    let base_url = match tenant.get("URL") {
        Some(url) => url,
        None if name == "gitlab.com" => "https://gitlab.com".to_owned(),
        None => tenant.require("URL")?,
    };
    let base_url = check_url(&tenant.var("URL"), &base_url)?;
    let bot_username = tenant.require("BOT_USERNAME")?.trim_start_matches('@').to_owned();
    if bot_username.is_empty() {
        return Err(tenant.invalid("BOT_USERNAME", "is empty"));
    }
    let bot_user_id = match tenant.get("BOT_USER_ID") {
        None => None,
        Some(raw) => Some(
            raw.parse::<u64>()
                .map_err(|_| tenant.invalid("BOT_USER_ID", "must be a numeric user id"))?,
        ),
    };
    let label = tenant.get("LABEL").unwrap_or_else(|| env.label());
    let mention = with_at(&tenant.get("MENTION").unwrap_or_else(|| bot_username.clone()));
    let verify = parse_verification(&tenant.or("VERIFY", "token"))
        .map_err(|reason| tenant.invalid("VERIFY", reason))?;
    Ok(GitlabTenant {
        webhook_token_secret: format!("{secret_prefix}/{name}/webhook-token"),
        signing_secret_secret: format!("{secret_prefix}/{name}/signing-secret"),
        api_token_secret: format!("{secret_prefix}/{name}/api-token"),
        oauth_client_id: tenant.get("OAUTH_CLIENT_ID"),
        oauth_client_secret_secret: format!("{secret_prefix}/{name}/oauth-client-secret"),
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

#[cfg(test)]
mod tests {

    use super::*;

    fn load(pairs: &[(&str, &str)]) -> Result<Option<GitlabConfig>, ConfigError> {
        let get = crate::config::pairs_lookup(pairs);
        GitlabConfig::load(&Lookup::new(&get))
    }

    /// The error's text, which names the variable.
    fn reason(err: ConfigError) -> String {
        err.to_string()
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
        // A gitlab.com tenant with its bot, and one more setting that does not parse.
        for (setting, value) in [("VERIFY", "hmac"), ("URL", "gitlab.com"), ("BOT_USER_ID", "me")] {
            let variable = format!("GITLAB_GITLAB_COM_{setting}");
            let err = load(&[
                ("GITLAB_TENANTS", "gitlab.com"),
                ("GITLAB_GITLAB_COM_BOT_USERNAME", "bot"),
                (&variable, value),
            ])
            .unwrap_err();
            assert!(reason(err).contains(&variable));
        }
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
