//! The periodic sweep (the pull path): every open run is looked at through the app server's listing, so a run
//! whose callbacks never came (none configured, lost, rejected) still ends in a result. It works within a time
//! budget and starts each pass at another place in the list, so a few slow or stuck runs cannot starve the
//! rest; a conclusion waiting for its next attempt costs nothing until then.

use std::{collections::BTreeMap, time::Instant};

use tracing::{info, warn};

use super::{progress, reconcile, Services};
use crate::{
    domain::{RunRecord, RunState},
    error::ProcessError,
};

/// What one sweep did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Open runs looked at.
    pub examined: usize,
    /// Runs this sweep concluded.
    pub concluded: usize,
    /// Runs (or identity groups) it could not look at because a call failed.
    pub failed: usize,
    /// Runs left for the next sweep when the time budget ran out.
    pub deferred: usize,
}

/// Most runs one sweep lists; the next sweep takes the rest.
const SWEEP_LIMIT: usize = 500;

/// Look at every open run and move it on: conclude those that finished, failed, never started, lost their
/// sandbox or stalled; take up conclusions whose holder let go.
pub async fn sweep(services: &Services) -> SweepReport {
    let started = Instant::now();
    let mut report = SweepReport::default();
    let mut runs = match services.runs.runs_in_states(&RunState::OPEN, SWEEP_LIMIT).await {
        Ok(runs) => runs,
        Err(err) => {
            warn!(error = %err, "sweep could not list runs");
            report.failed += 1;
            return report;
        }
    };
    let now = services.now();
    // A conclusion whose holder is at work, or waiting for its next attempt, is not due.
    runs.retain(|run| {
        run.state != RunState::Concluding || run.conclusion.as_ref().is_none_or(|c| c.lease_until <= now)
    });
    if !runs.is_empty() {
        // Start each pass elsewhere (the sweep runs about once a minute), so a budget cut falls on other runs.
        let offset = (now / 60) as usize % runs.len();
        runs.rotate_left(offset);
    }
    // One listing call per identity: each run is polled with the API key it acts as.
    let mut groups: BTreeMap<Option<String>, Vec<RunRecord>> = BTreeMap::new();
    for run in runs {
        groups.entry(run.api_key_secret.clone()).or_default().push(run);
    }
    for (secret, runs) in groups {
        if started.elapsed() >= services.settings.sweep_budget {
            report.deferred += runs.len();
            continue;
        }
        match sweep_identity(services, secret.as_deref(), runs, started, &mut report).await {
            Ok(()) => {}
            Err(err) => {
                warn!(error = %err, "sweep could not poll OpenHands");
                report.failed += 1;
            }
        }
    }
    if report.concluded > 0 || report.failed > 0 || report.deferred > 0 {
        info!(
            examined = report.examined,
            concluded = report.concluded,
            failed = report.failed,
            deferred = report.deferred,
            "sweep done"
        );
    }
    report
}

async fn sweep_identity(
    services: &Services,
    api_key_secret: Option<&str>,
    runs: Vec<RunRecord>,
    started: Instant,
    report: &mut SweepReport,
) -> Result<(), ProcessError> {
    let auth = services.openhands_auth(api_key_secret).await?;
    // Conversations of starting and running runs are listed in one call per 99; claimed runs and conclusions
    // need no listing.
    let listed: Vec<String> = runs
        .iter()
        .filter(|run| matches!(run.state, RunState::Starting | RunState::Running))
        .map(|run| run.conversation_id.clone())
        .collect();
    let readings = if listed.is_empty() {
        Vec::new()
    } else {
        services.conversations.statuses(&auth, &listed).await?
    };
    let mut readings: BTreeMap<String, _> = listed.into_iter().zip(readings).collect();
    let mut runs = runs.into_iter();
    for run in runs.by_ref() {
        if started.elapsed() >= services.settings.sweep_budget {
            report.deferred += 1;
            break;
        }
        report.examined += 1;
        let reading = readings.remove(&run.conversation_id).flatten();
        let id = run.conversation_id.clone();
        // Progress no callback has shown yet (the last of a burst, or the coarse state when none come).
        let show_progress = progress::due(services, &run, services.now());
        match reconcile::apply(services, &auth, run, reading).await {
            Ok(true) => report.concluded += 1,
            Ok(false) if show_progress => {
                if let Some(run) = services.runs.get_run(&id).await.ok().flatten() {
                    if let Err(err) = progress::show(services, run).await {
                        warn!(conversation_id = %id, error = %err, "sweep could not show progress");
                    }
                }
            }
            Ok(false) => {}
            Err(err) => {
                warn!(conversation_id = %id, error = %err, "sweep could not move a run on");
                report.failed += 1;
            }
        }
    }
    report.deferred += runs.len();
    Ok(())
}
