//! Typed configuration, loaded once at start and failing fast with the name of what is missing or wrong.
//! Every setting comes from an environment variable; secrets are referenced by name, never held here.

use std::{str::FromStr, time::Duration};

use crate::{
    github::GithubConfig,
    gitlab::GitlabConfig,
    handlers::{AuthMode, DefaultIdentity, Settings},
    jira::JiraConfig,
    linear::LinearConfig,
    openhands::OpenHandsConfig,
    slack::SlackConfig,
};

/// A setting that is missing or does not parse.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("missing required setting {0}")]
    Missing(&'static str),
    #[error("invalid value for {name}: {reason}")]
    Invalid { name: &'static str, reason: String },
}

/// Everything the handlers need to know.
#[derive(Clone, Debug)]
pub struct Config {
    /// `None` when `GITHUB_APP_ID` is unset: the GitHub route then answers 404.
    pub github: Option<GithubConfig>,
    /// Each other provider is on when its own settings are present (see its module).
    pub gitlab: Option<GitlabConfig>,
    pub slack: Option<SlackConfig>,
    pub jira: Option<JiraConfig>,
    pub linear: Option<LinearConfig>,
    pub openhands: OpenHandsConfig,
    pub settings: Settings,
    /// Markdown telling unlinked people how to get linked.
    pub link_help: String,
}

impl Config {
    /// Load from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok().filter(|v| !v.trim().is_empty()))
    }

    /// Load from any lookup (tests pass a map).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Lookup(&get);
        let github = match env.get("GITHUB_APP_ID") {
            None => None,
            Some(app_id) => Some(GithubConfig {
                api_url: env
                    .or("GITHUB_API_URL", "https://api.github.com")
                    .trim_end_matches('/')
                    .to_owned(),
                tenant: env.or("GITHUB_TENANT", "github.com"),
                app_id,
                app_slug: env.require("GITHUB_APP_SLUG")?,
                webhook_secret_name: env.or("GITHUB_WEBHOOK_SECRET_NAME", "github/webhook-secret"),
                private_key_secret_name: env.or("GITHUB_PRIVATE_KEY_SECRET_NAME", "github/private-key"),
                label: env.or("HOOKLINE_LABEL", "openhands"),
                mention: mention(&env.or("HOOKLINE_MENTION", "@openhands")),
            }),
        };
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
                return Err(ConfigError::Invalid {
                    name: "OPENHANDS_AUTH",
                    reason: format!("{other:?} is not one of bearer, session, none"),
                })
            }
        };
        let default_identity = env.get("OPENHANDS_DEFAULT_USER").map(|user| DefaultIdentity {
            openhands_user: user,
            api_key_secret: env.get("OPENHANDS_DEFAULT_API_KEY_SECRET"),
        });
        let defaults = Settings::default();
        let secs = |name: &'static str, default: Duration| -> Result<Duration, ConfigError> {
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
            auth_mode,
            default_identity,
            callback_key_secret: env.get("HOOKLINE_CALLBACK_KEY_SECRET"),
        };
        if settings.max_receives == 0 {
            return Err(ConfigError::Invalid {
                name: "HOOKLINE_MAX_RECEIVES",
                reason: "must be at least 1".into(),
            });
        }
        let link_help = env.or(
            "HOOKLINE_LINK_HELP",
            "Ask a Hookline admin to link your account (`hookline-admin link add …`), then mention me again.",
        );
        Ok(Config {
            github,
            gitlab: GitlabConfig::load(&env)?,
            slack: SlackConfig::load(&env)?,
            jira: JiraConfig::load(&env)?,
            linear: LinearConfig::load(&env)?,
            openhands,
            settings,
            link_help,
        })
    }
}

fn mention(raw: &str) -> String {
    if raw.starts_with('@') {
        raw.to_owned()
    } else {
        format!("@{raw}")
    }
}

/// Read access to settings by name (the process environment, or a map in tests), with typed helpers.
pub struct Lookup<'a>(&'a dyn Fn(&str) -> Option<String>);

impl Lookup<'_> {
    /// The value, if set and not blank.
    pub fn get(&self, name: &str) -> Option<String> {
        (self.0)(name)
    }
    pub fn or(&self, name: &str, default: &str) -> String {
        self.get(name).unwrap_or_else(|| default.to_owned())
    }
    pub fn require(&self, name: &'static str) -> Result<String, ConfigError> {
        self.get(name).ok_or(ConfigError::Missing(name))
    }
    pub fn parse<T: FromStr>(&self, name: &'static str, default: T) -> Result<T, ConfigError>
    where
        T::Err: std::fmt::Display,
    {
        match self.get(name) {
            None => Ok(default),
            Some(raw) => raw.trim().parse().map_err(|e: T::Err| ConfigError::Invalid {
                name,
                reason: e.to_string(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn load(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(move |k| map.get(k).cloned())
    }

    #[test]
    fn defaults_without_github() {
        let config = load(&[]).expect("defaults load");
        assert!(config.github.is_none());
        assert_eq!(config.openhands.base_url, "http://localhost:3000");
        assert_eq!(config.settings.auth_mode, AuthMode::Bearer);
    }

    #[test]
    fn github_needs_its_slug_and_names_it() {
        assert_eq!(
            load(&[("GITHUB_APP_ID", "Iv1.abc")]).unwrap_err(),
            ConfigError::Missing("GITHUB_APP_SLUG")
        );
        let config = load(&[
            ("GITHUB_APP_ID", "Iv1.abc"),
            ("GITHUB_APP_SLUG", "hookline"),
            ("HOOKLINE_MENTION", "bot"),
        ])
        .expect("loads");
        let github = config.github.expect("github on");
        assert_eq!(github.mention, "@bot");
        assert_eq!(github.label, "openhands");
    }

    #[test]
    fn invalid_numbers_are_named() {
        let err = load(&[("HOOKLINE_MAX_BODY_BYTES", "lots")]).unwrap_err();
        assert!(matches!(
            err,
            ConfigError::Invalid {
                name: "HOOKLINE_MAX_BODY_BYTES",
                ..
            }
        ));
        let err = load(&[("OPENHANDS_AUTH", "magic")]).unwrap_err();
        assert!(matches!(
            err,
            ConfigError::Invalid {
                name: "OPENHANDS_AUTH",
                ..
            }
        ));
    }
}
