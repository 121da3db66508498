//! Log output of the Lambda functions, configured the way Lambda's advanced logging controls expect:
//! `AWS_LAMBDA_LOG_LEVEL` (else `RUST_LOG`, else `info`) and `AWS_LAMBDA_LOG_FORMAT` (`JSON` or text).
//!
//! The filter is tracing-subscriber's `Targets` (`info`, or `hookline=debug,aws_smithy_runtime=warn`), not
//! `EnvFilter`: the latter brings a regex engine, about 150 kB of every Lambda package, for span and field
//! filters a function's logs never need.

use std::str::FromStr;

use tracing::level_filters::LevelFilter;
use tracing_subscriber::{filter::Targets, layer::SubscriberExt, util::SubscriberInitExt, Layer};

/// What [`init_tracing`] reads from the environment.
#[derive(Clone, Debug, PartialEq)]
pub struct LogSettings {
    pub filter: Targets,
    pub json: bool,
}

impl LogSettings {
    /// Settings from a variable lookup. An unparsable filter falls back to `info` rather than failing the cold
    /// start: losing debug logs is better than losing the function.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let directives = lookup("AWS_LAMBDA_LOG_LEVEL")
            .or_else(|| lookup("RUST_LOG"))
            .filter(|value| !value.trim().is_empty());
        let filter = directives
            .and_then(|value| Targets::from_str(value.trim()).ok())
            .unwrap_or_else(|| Targets::new().with_default(LevelFilter::INFO));
        let json = lookup("AWS_LAMBDA_LOG_FORMAT").is_some_and(|format| format.eq_ignore_ascii_case("json"));
        Self { filter, json }
    }
}

/// Install the global subscriber for a Lambda function: no timestamps (CloudWatch adds them), no colours.
pub fn init_tracing() {
    let settings = LogSettings::from_lookup(|name| std::env::var(name).ok());
    let output = tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .without_time()
        .with_writer(std::io::stdout);
    let output = if settings.json {
        output.json().boxed()
    } else {
        output.boxed()
    };
    tracing_subscriber::registry()
        .with(output.with_filter(settings.filter))
        .init();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(vars: &[(&str, &str)]) -> LogSettings {
        LogSettings::from_lookup(|name| {
            vars.iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        })
    }

    fn info() -> Targets {
        Targets::new().with_default(LevelFilter::INFO)
    }

    #[test]
    fn defaults_to_info_text() {
        assert_eq!(
            settings(&[]),
            LogSettings {
                filter: info(),
                json: false
            }
        );
    }

    #[test]
    fn lambda_log_controls_take_precedence_over_rust_log() {
        let s = settings(&[
            ("AWS_LAMBDA_LOG_LEVEL", "DEBUG"),
            ("RUST_LOG", "warn"),
            ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
        ]);
        assert_eq!(s.filter.default_level(), Some(LevelFilter::DEBUG));
        assert!(s.json);
    }

    #[test]
    fn rust_log_directives_select_targets() {
        let s = settings(&[("RUST_LOG", "warn,hookline=debug")]);
        assert!(s
            .filter
            .would_enable("hookline::handlers", &tracing::Level::DEBUG));
        assert!(!s.filter.would_enable("aws_smithy_runtime", &tracing::Level::INFO));
    }

    #[test]
    fn a_bad_filter_falls_back_to_info() {
        assert_eq!(settings(&[("RUST_LOG", "hookline=loud")]).filter, info());
        assert_eq!(settings(&[("RUST_LOG", "  ")]).filter, info());
    }
}
