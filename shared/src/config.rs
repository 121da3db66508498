//! Typed configuration, loaded once at start and failing fast with the name of what is missing or wrong.
//! Every setting comes from an environment variable; secrets are referenced by name, never held here.

use std::{str::FromStr, time::Duration};

use crate::{
    domain::Provider,
    handlers::{AuthMode, DefaultIdentity, Settings},
    invite::Invites,
    openhands::OpenHandsConfig,
    registry::ProviderConfigs,
};

/// A setting that is missing or does not parse.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("missing required setting {0}")]
    Missing(String),
    #[error("invalid value for {name}: {reason}")]
    Invalid { name: String, reason: String },
}

impl ConfigError {
    pub fn missing(name: impl Into<String>) -> Self {
        Self::Missing(name.into())
    }
    pub fn invalid(name: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Invalid {
            name: name.into(),
            reason: reason.into(),
        }
    }
}

/// Everything the handlers need to know.
#[derive(Clone, Debug)]
pub struct Config {
    /// Each provider's settings; a provider is on when its `<P>_TENANTS` is set (its route answers 404
    /// otherwise).
    pub providers: ProviderConfigs,
    pub openhands: OpenHandsConfig,
    pub settings: Settings,
    /// Markdown telling unlinked people how to get linked.
    pub link_help: String,
    pub console: ConsoleSettings,
}

/// The operator console's settings (`console`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsoleSettings {
    /// Secret holding the operator token people sign in with (`HOOKLINE_CONSOLE_TOKEN_SECRET`).
    pub token_secret: String,
    /// Secret holding the key that signs session cookies and form tokens (`HOOKLINE_CONSOLE_SESSION_KEY_SECRET`).
    pub session_key_secret: String,
    /// How long a sign-in lasts (`HOOKLINE_CONSOLE_SESSION_SECS`).
    pub session_ttl: Duration,
    /// The address providers and browsers reach Hookline at (`HOOKLINE_PUBLIC_URL`, e.g. a tunnel's); `None`:
    /// the console's own address as the browser reached it.
    pub public_url: Option<String>,
    /// How long an invitation to link oneself is good for (`HOOKLINE_LINK_INVITE_SECS`).
    pub invite_ttl: Duration,
    /// GitHub accounts (logins, lower case, or numeric ids) that may sign in as operators with GitHub
    /// (`HOOKLINE_CONSOLE_OPERATORS`); empty: the operator token only.
    pub operators: Vec<String>,
    /// Where the API keys of people who link themselves are stored: `<prefix>/<provider>/<tenant>/<id>`
    /// (`HOOKLINE_LINK_SECRET_PREFIX`).
    pub link_secret_prefix: String,
}

impl Default for ConsoleSettings {
    fn default() -> Self {
        Self {
            token_secret: "console/operator-token".to_owned(),
            session_key_secret: "console/session-key".to_owned(),
            session_ttl: Duration::from_secs(8 * 3600),
            public_url: None,
            invite_ttl: Duration::from_secs(24 * 3600),
            operators: Vec::new(),
            link_secret_prefix: "openhands/links".to_owned(),
        }
    }
}

impl Config {
    /// How unlinked people are invited to link themselves on the console at `public_url` (the setting's, or
    /// the address a host knows itself by), for the providers they can sign in with.
    pub fn invites(&self, public_url: Option<&str>) -> Option<Invites> {
        let public_url = self.console.public_url.as_deref().or(public_url)?;
        let sign_ins = self.providers.sign_ins();
        (!sign_ins.is_empty()).then(|| Invites {
            console_url: format!("{public_url}/console"),
            key_secret: self.console.session_key_secret.clone(),
            ttl: self.console.invite_ttl,
            sign_ins,
        })
    }

    /// Load from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::load(process_env, None)
    }

    /// Load from the process environment with only `provider`'s settings (a provider's webhook function, which
    /// must neither need nor fail over another provider's).
    pub fn from_env_for(provider: Provider) -> Result<Self, ConfigError> {
        Self::load(process_env, Some(provider))
    }

    /// Load from any lookup (tests pass a map).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Self::load(get, None)
    }

    fn load(get: impl Fn(&str) -> Option<String>, only: Option<Provider>) -> Result<Self, ConfigError> {
        let env = Lookup(&get);
        let providers = ProviderConfigs::load(&env, only)?;
        let base_url = env
            .or("OPENHANDS_URL", "http://localhost:3000")
            .trim_end_matches('/')
            .to_owned();
        let openhands = OpenHandsConfig {
            web_url: env
                .or("OPENHANDS_WEB_URL", &base_url)
                .trim_end_matches('/')
                .to_owned(),
            base_url,
            request_timeout: Duration::from_secs(env.parse("OPENHANDS_TIMEOUT_SECS", 30)?),
        };
        let auth_mode = match env.or("OPENHANDS_AUTH", "bearer").as_str() {
            "bearer" => AuthMode::Bearer,
            "session" => AuthMode::SessionKey,
            "none" => AuthMode::None,
            other => {
                return Err(ConfigError::invalid(
                    "OPENHANDS_AUTH",
                    format!("{other:?} is not one of bearer, session, none"),
                ))
            }
        };
        let chosen_only = match env.or("OPENHANDS_DEFAULT_USE", "unlinked").as_str() {
            "unlinked" => false,
            "chosen" => true,
            other => {
                return Err(ConfigError::invalid(
                    "OPENHANDS_DEFAULT_USE",
                    format!("{other:?} is not one of unlinked, chosen"),
                ))
            }
        };
        let default_identity = env.get("OPENHANDS_DEFAULT_USER").map(|user| DefaultIdentity {
            openhands_user: user,
            api_key_secret: env.get("OPENHANDS_DEFAULT_API_KEY_SECRET"),
            chosen_only,
        });
        let defaults = Settings::default();
        let secs = |name: &str, default: Duration| -> Result<Duration, ConfigError> {
            Ok(Duration::from_secs(env.parse(name, default.as_secs())?))
        };
        let settings = Settings {
            max_body_bytes: env.parse("HOOKLINE_MAX_BODY_BYTES", defaults.max_body_bytes)?,
            delivery_ttl: Duration::from_secs(
                env.parse("HOOKLINE_DELIVERY_TTL_SECS", defaults.delivery_ttl.as_secs())?,
            ),
            stall_timeout: Duration::from_secs(
                env.parse("HOOKLINE_STALL_TIMEOUT_SECS", defaults.stall_timeout.as_secs())?,
            ),
            max_receives: env.parse("HOOKLINE_MAX_RECEIVES", defaults.max_receives)?,
            start_timeout: secs("HOOKLINE_START_TIMEOUT_SECS", defaults.start_timeout)?,
            sandbox_grace: secs("HOOKLINE_SANDBOX_GRACE_SECS", defaults.sandbox_grace)?,
            summary_patience: secs("HOOKLINE_SUMMARY_PATIENCE_SECS", defaults.summary_patience)?,
            sweep_budget: secs("HOOKLINE_SWEEP_BUDGET_SECS", defaults.sweep_budget)?,
            progress_every: secs("HOOKLINE_PROGRESS_EVERY_SECS", defaults.progress_every)?,
            auth_mode,
            default_identity,
            models: env
                .or("HOOKLINE_MODELS", "")
                .split(',')
                .map(str::trim)
                .filter(|model| !model.is_empty())
                .map(str::to_owned)
                .collect(),
            callback_key_secret: env.get("HOOKLINE_CALLBACK_KEY_SECRET"),
        };
        if settings.max_receives == 0 {
            return Err(ConfigError::invalid(
                "HOOKLINE_MAX_RECEIVES",
                "must be at least 1",
            ));
        }
        let link_help = env.or(
            "HOOKLINE_LINK_HELP",
            "Ask a Hookline admin to link your account (`hookline-admin link add …`), then mention me again.",
        );
        let console_defaults = ConsoleSettings::default();
        let console = ConsoleSettings {
            token_secret: env.or("HOOKLINE_CONSOLE_TOKEN_SECRET", &console_defaults.token_secret),
            session_key_secret: env.or(
                "HOOKLINE_CONSOLE_SESSION_KEY_SECRET",
                &console_defaults.session_key_secret,
            ),
            session_ttl: secs("HOOKLINE_CONSOLE_SESSION_SECS", console_defaults.session_ttl)?,
            public_url: env
                .get("HOOKLINE_PUBLIC_URL")
                .map(|url| check_url("HOOKLINE_PUBLIC_URL", &url))
                .transpose()?,
            invite_ttl: secs("HOOKLINE_LINK_INVITE_SECS", console_defaults.invite_ttl)?,
            operators: env
                .get("HOOKLINE_CONSOLE_OPERATORS")
                .map(|list| {
                    list.split(',')
                        .map(|entry| entry.trim().trim_start_matches('@').to_ascii_lowercase())
                        .filter(|entry| !entry.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
            link_secret_prefix: env
                .or(
                    "HOOKLINE_LINK_SECRET_PREFIX",
                    &console_defaults.link_secret_prefix,
                )
                .trim_matches('/')
                .to_owned(),
        };
        if console.session_ttl.is_zero() {
            return Err(ConfigError::invalid(
                "HOOKLINE_CONSOLE_SESSION_SECS",
                "must be at least 1",
            ));
        }
        Ok(Config {
            providers,
            openhands,
            settings,
            link_help,
            console,
        })
    }
}

/// A variable of the process environment; blank counts as unset.
fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// Settings from name/value pairs, as an environment holding only these variables would give them (tests and
/// tools).
pub fn pairs_lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: std::collections::HashMap<String, String> = pairs
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect();
    move |name| map.get(name).cloned()
}

/// Read access to settings by name (the process environment, or a map in tests), with typed helpers.
pub struct Lookup<'a>(&'a dyn Fn(&str) -> Option<String>);

impl<'a> Lookup<'a> {
    /// Settings from `get`, which answers `None` for what is unset (or blank).
    pub fn new(get: &'a dyn Fn(&str) -> Option<String>) -> Self {
        Self(get)
    }

    /// The value, if set and not blank.
    pub fn get(&self, name: &str) -> Option<String> {
        (self.0)(name)
    }
    pub fn or(&self, name: &str, default: &str) -> String {
        self.get(name).unwrap_or_else(|| default.to_owned())
    }
    pub fn require(&self, name: &str) -> Result<String, ConfigError> {
        self.get(name).ok_or_else(|| ConfigError::missing(name))
    }
    pub fn parse<T: FromStr>(&self, name: &str, default: T) -> Result<T, ConfigError>
    where
        T::Err: std::fmt::Display,
    {
        match self.get(name) {
            None => Ok(default),
            Some(raw) => raw
                .trim()
                .parse()
                .map_err(|e: T::Err| ConfigError::invalid(name, e.to_string())),
        }
    }
    /// `true`/`1`/`yes`/`on` or `false`/`0`/`no`/`off`.
    pub fn flag(&self, name: &str, default: bool) -> Result<bool, ConfigError> {
        match self.get(name) {
            None => Ok(default),
            Some(raw) => match raw.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "on" => Ok(true),
                "false" | "0" | "no" | "off" => Ok(false),
                other => Err(ConfigError::invalid(
                    name,
                    format!("{other:?} is not true or false"),
                )),
            },
        }
    }
    /// An http(s) base URL without a trailing slash.
    pub fn url(&self, name: &str, default: &str) -> Result<String, ConfigError> {
        check_url(name, &self.or(name, default))
    }
}

/// `raw` as an http(s) base URL without a trailing slash, or the error naming `name`.
pub fn check_url(name: &str, raw: &str) -> Result<String, ConfigError> {
    let url = raw.trim().trim_end_matches('/');
    let well_formed = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .is_some_and(|rest| !rest.is_empty() && !rest.contains(['?', '#', ' ']));
    if well_formed {
        Ok(url.to_owned())
    } else {
        Err(ConfigError::invalid(name, "must be an http(s) base URL"))
    }
}

/// Longest tenant name accepted (it appears in URLs, keys and secret names).
pub const MAX_TENANT_LEN: usize = 100;

/// One provider's settings, in the grammar every provider shares:
///
/// - `<P>_TENANTS` lists the tenants (as they end the webhook URL, `/webhooks/<p>/<tenant>`) and turns the
///   provider on;
/// - `<P>_<SETTING>` applies to every tenant, `<P>_<TENANT>_<SETTING>` to one and wins (`<TENANT>` is the name
///   upper-cased, every character but `A-Z0-9` turned into `_`);
/// - secrets are named `<prefix>/<tenant>/<name>` (`<prefix>/<name>` for an app's own), `<prefix>` being
///   `<P>_SECRET_PREFIX`, by default the provider's name.
pub struct ProviderEnv<'a> {
    env: &'a Lookup<'a>,
    /// `GITLAB`, `SLACK`, …
    prefix: &'a str,
}

impl<'a> ProviderEnv<'a> {
    pub fn new(env: &'a Lookup<'a>, prefix: &'a str) -> Self {
        Self { env, prefix }
    }

    /// The variable name of a provider-wide setting.
    pub fn var(&self, setting: &str) -> String {
        format!("{}_{setting}", self.prefix)
    }

    /// A provider-wide setting.
    pub fn get(&self, setting: &str) -> Option<String> {
        self.env.get(&self.var(setting)).map(|v| v.trim().to_owned())
    }

    pub fn or(&self, setting: &str, default: &str) -> String {
        self.get(setting).unwrap_or_else(|| default.to_owned())
    }

    pub fn require(&self, setting: &str) -> Result<String, ConfigError> {
        self.env.require(&self.var(setting)).map(|v| v.trim().to_owned())
    }

    pub fn flag(&self, setting: &str, default: bool) -> Result<bool, ConfigError> {
        self.env.flag(&self.var(setting), default)
    }

    pub fn url(&self, setting: &str, default: &str) -> Result<String, ConfigError> {
        self.env.url(&self.var(setting), default)
    }

    pub fn invalid(&self, setting: &str, reason: impl Into<String>) -> ConfigError {
        ConfigError::invalid(self.var(setting), reason)
    }

    /// A setting every provider has (`LABEL`, `MENTION`): `<P>_<SETTING>`, else `HOOKLINE_<SETTING>`, else
    /// `default`.
    pub fn shared_or(&self, setting: &str, default: &str) -> String {
        self.get(setting)
            .or_else(|| {
                self.env
                    .get(&format!("HOOKLINE_{setting}"))
                    .map(|v| v.trim().to_owned())
            })
            .unwrap_or_else(|| default.to_owned())
    }

    /// The handle whose mention triggers, with its `@`: `<P>_MENTION`, else `HOOKLINE_MENTION`, else `@openhands`.
    pub fn mention(&self) -> String {
        with_at(&self.shared_or("MENTION", "@openhands"))
    }

    /// The label that triggers: `<P>_LABEL`, else `HOOKLINE_LABEL`, else `openhands`.
    pub fn label(&self) -> String {
        self.shared_or("LABEL", "openhands")
    }

    /// `<P>_SECRET_PREFIX`, by default the provider's name in lower case; never empty, no slashes at its ends.
    pub fn secret_prefix(&self) -> Result<String, ConfigError> {
        let prefix = self
            .or("SECRET_PREFIX", &self.prefix.to_ascii_lowercase())
            .trim_matches('/')
            .to_owned();
        if prefix.is_empty() {
            return Err(self.invalid("SECRET_PREFIX", "must not be empty"));
        }
        Ok(prefix)
    }

    /// `<P>_GIT_PROVIDER`: where a repository named without a URL or `provider:` prefix lives (`github`).
    pub fn git_provider(&self) -> Result<String, ConfigError> {
        let provider = self.or("GIT_PROVIDER", "github").to_ascii_lowercase();
        if !crate::repo_hint::GIT_PROVIDERS.contains(&provider.as_str()) {
            return Err(self.invalid(
                "GIT_PROVIDER",
                format!(
                    "{provider:?} is not one of {}",
                    crate::repo_hint::GIT_PROVIDERS.join(", ")
                ),
            ));
        }
        Ok(provider)
    }

    /// The tenants of `<P>_TENANTS` as written (`None`: the provider is off). Each is 1–100 letters, digits,
    /// `.`, `-` or `_` (or `*` where a provider allows it), and no two share a variable prefix.
    pub fn tenants(&self) -> Result<Option<Vec<String>>, ConfigError> {
        let Some(list) = self.get("TENANTS") else {
            return Ok(None);
        };
        let mut tenants: Vec<String> = Vec::new();
        for name in list.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            let valid = name == "*"
                || (name.len() <= MAX_TENANT_LEN
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_')));
            if !valid {
                return Err(self.invalid(
                    "TENANTS",
                    format!("{name:?} is not a tenant name (letters, digits, '.', '-', '_'; at most {MAX_TENANT_LEN})"),
                ));
            }
            if let Some(clash) = tenants.iter().find(|t| tenant_key(t) == tenant_key(name)) {
                return Err(self.invalid(
                    "TENANTS",
                    format!(
                        "{clash:?} and {name:?} share the variable prefix {}",
                        self.tenant_var(name, "")
                    ),
                ));
            }
            tenants.push(name.to_owned());
        }
        if tenants.is_empty() {
            return Err(self.invalid("TENANTS", "lists no tenant"));
        }
        Ok(Some(tenants))
    }

    /// The settings of one tenant.
    pub fn tenant(&self, name: &str) -> TenantEnv<'_> {
        TenantEnv {
            provider: self,
            key: tenant_key(name),
        }
    }

    fn tenant_var(&self, tenant: &str, setting: &str) -> String {
        format!("{}_{}_{setting}", self.prefix, tenant_key(tenant))
    }
}

/// One tenant's settings: `<P>_<TENANT>_<SETTING>`, else the provider-wide `<P>_<SETTING>`.
pub struct TenantEnv<'a> {
    provider: &'a ProviderEnv<'a>,
    key: String,
}

impl TenantEnv<'_> {
    /// The tenant's own variable name for `setting` (named in errors).
    pub fn var(&self, setting: &str) -> String {
        format!("{}_{}_{setting}", self.provider.prefix, self.key)
    }

    pub fn get(&self, setting: &str) -> Option<String> {
        self.own(setting).or_else(|| self.provider.get(setting))
    }

    /// The tenant's own value, without the provider-wide one.
    pub fn own(&self, setting: &str) -> Option<String> {
        self.provider
            .env
            .get(&self.var(setting))
            .map(|v| v.trim().to_owned())
    }

    pub fn or(&self, setting: &str, default: &str) -> String {
        self.get(setting).unwrap_or_else(|| default.to_owned())
    }

    pub fn require(&self, setting: &str) -> Result<String, ConfigError> {
        self.get(setting)
            .ok_or_else(|| ConfigError::missing(self.var(setting)))
    }

    pub fn invalid(&self, setting: &str, reason: impl Into<String>) -> ConfigError {
        ConfigError::invalid(self.var(setting), reason)
    }
}

/// A tenant name as it appears in variable names: upper-cased, every character but `A-Z0-9` turned into `_`.
pub fn tenant_key(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// `raw` with exactly one leading `@`.
pub fn with_at(raw: &str) -> String {
    format!("@{}", raw.trim().trim_start_matches('@'))
}

#[cfg(test)]
mod tests {

    use super::*;

    fn load(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_lookup(pairs_lookup(pairs))
    }

    #[test]
    fn defaults_without_providers() {
        let config = load(&[]).expect("defaults load");
        assert!(config.providers.is_empty());
        assert_eq!(config.openhands.base_url, "http://localhost:3000");
        assert_eq!(config.settings.auth_mode, AuthMode::Bearer);
    }

    #[test]
    fn github_needs_its_slug_and_names_it() {
        assert_eq!(
            load(&[("GITHUB_TENANTS", "github.com"), ("GITHUB_APP_ID", "Iv1.abc")]).unwrap_err(),
            ConfigError::missing("GITHUB_APP_SLUG")
        );
        let config = load(&[
            ("GITHUB_TENANTS", "github.com"),
            ("GITHUB_APP_ID", "Iv1.abc"),
            ("GITHUB_APP_SLUG", "hookline"),
            ("HOOKLINE_MENTION", "bot"),
        ])
        .expect("loads");
        assert_eq!(config.providers.configured(), [Provider::Github]);
        assert_eq!(config.providers.tenants(Provider::Github), ["github.com"]);
    }

    #[test]
    fn a_webhook_function_loads_only_its_own_provider() {
        let pairs = [
            ("GITHUB_TENANTS", "github.com"),
            ("GITHUB_APP_ID", "Iv1.abc"),
            ("GITHUB_APP_SLUG", "hookline"),
            // An incomplete Jira tenant.
            ("JIRA_TENANTS", "acme"),
        ];
        assert!(load(&pairs).is_err(), "the worker fails fast");
        let github = Config::load(pairs_lookup(&pairs), Some(Provider::Github)).expect("github alone loads");
        assert_eq!(github.providers.configured(), [Provider::Github]);
    }

    #[test]
    fn tenant_settings_win_over_provider_wide_ones() {
        let pairs = [
            ("GITLAB_TENANTS", "gitlab.com,git.example.com"),
            ("GITLAB_BOT_USERNAME", "hookline"),
            ("GITLAB_GIT_EXAMPLE_COM_BOT_USERNAME", "openhands"),
            ("GITLAB_GIT_EXAMPLE_COM_URL", "https://git.example.com/"),
        ];
        let get = pairs_lookup(&pairs);
        let env = Lookup(&get);
        let gitlab = ProviderEnv::new(&env, "GITLAB");
        assert_eq!(
            gitlab.tenants().unwrap().unwrap(),
            ["gitlab.com", "git.example.com"]
        );
        assert_eq!(
            gitlab.tenant("gitlab.com").get("BOT_USERNAME").as_deref(),
            Some("hookline")
        );
        assert_eq!(
            gitlab.tenant("git.example.com").get("BOT_USERNAME").as_deref(),
            Some("openhands")
        );
        assert_eq!(
            gitlab.tenant("git.example.com").var("URL"),
            "GITLAB_GIT_EXAMPLE_COM_URL"
        );
        assert_eq!(gitlab.secret_prefix().unwrap(), "gitlab");
        assert_eq!(gitlab.mention(), "@openhands");
        let clash = [("GITLAB_TENANTS", "a.b,a-b")];
        let get = pairs_lookup(&clash);
        let env = Lookup(&get);
        assert!(
            ProviderEnv::new(&env, "GITLAB").tenants().is_err(),
            "both are GITLAB_A_B_…"
        );
    }

    #[test]
    fn invalid_numbers_are_named() {
        let err = load(&[("HOOKLINE_MAX_BODY_BYTES", "lots")]).unwrap_err();
        assert!(matches!(err, ConfigError::Invalid { name, .. } if name == "HOOKLINE_MAX_BODY_BYTES"));
        let err = load(&[("OPENHANDS_AUTH", "magic")]).unwrap_err();
        assert!(matches!(err, ConfigError::Invalid { name, .. } if name == "OPENHANDS_AUTH"));
        let err = load(&[("OPENHANDS_DEFAULT_USE", "anyone")]).unwrap_err();
        assert!(matches!(err, ConfigError::Invalid { name, .. } if name == "OPENHANDS_DEFAULT_USE"));
    }

    #[test]
    fn the_shared_identity_is_for_unlinked_people_unless_kept_for_those_who_choose_it() {
        let shared = |settings: &[(&str, &str)]| load(settings).unwrap().settings.default_identity;
        assert_eq!(shared(&[]), None);
        let unlinked = shared(&[("OPENHANDS_DEFAULT_USER", "bot")]).unwrap();
        assert!(!unlinked.chosen_only);
        let chosen = shared(&[
            ("OPENHANDS_DEFAULT_USER", "bot"),
            ("OPENHANDS_DEFAULT_USE", "chosen"),
        ])
        .unwrap();
        assert!(chosen.chosen_only);
    }
}
