//! `hookline-local`: run Hookline on the embedded default (see the crate docs and the README).

use std::{io::IsTerminal, sync::Arc, time::Instant};

use hookline::{clock::SystemClock, config::Config, embedded::EnvSecrets};
use hookline_local::{ensure_console_secrets, local_secrets, start, HostOptions, LocalConfig};
use tracing_subscriber::EnvFilter;

// The webhook path allocates many small, short-lived buffers per request; mimalloc serves them with less CPU
// than the system allocator (measured with bench/load.sh).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let started = Instant::now();
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    if std::env::var("HOOKLINE_LOG_FORMAT").is_ok_and(|f| f == "json") {
        tracing_subscriber::fmt().with_env_filter(filter).json().init();
    } else {
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_ansi(std::io::stderr().is_terminal())
            .init();
    }
    let config = Config::from_env()?;
    let mut local = LocalConfig::from_env()?;
    let console = ensure_console_secrets(&mut local, &config.console, &EnvSecrets::from_env())?;
    if !console.generated.is_empty() {
        tracing::info!(secrets = ?console.generated, "generated the console's secrets");
    }
    let secrets = Arc::new(local_secrets(&local)?);
    let host = start(HostOptions {
        config,
        local,
        secrets: secrets.clone(),
        secret_writer: Some(secrets),
        clock: Arc::new(SystemClock),
    })
    .await?;
    tracing::info!(
        addr = %host.addr(),
        ready_ms = format!("{:.1}", started.elapsed().as_secs_f64() * 1000.0),
        "hookline local host ready"
    );
    tracing::info!(
        console = %host.console_url(),
        operator_token = %console.token_at,
        "operator console"
    );
    shutdown_signal().await;
    tracing::info!("shutting down");
    host.shutdown().await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
}
