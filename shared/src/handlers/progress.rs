//! Live progress in a run's one status message. The agent server's event stream (the callbacks) is folded
//! into the run's [`Progress`] — the agent's task list and the step it is on, as safe words only — and the status
//! message is edited from it, throttled per run: at most one edit per `progress_every`, one editor at a time (a
//! lease on the run record), each edit showing the newest state stored when it began, so an older text never
//! lands over a newer one. The conclusion waits for an edit in flight and then replaces the block with the
//! result, so a late progress edit cannot hide the result.

use serde::Deserialize;
use sha2::{Digest, Sha256};
use tracing::{info, warn};

use super::{conclude, prompt, Services};
use crate::{
    domain::{Progress, ProgressTask, RunRecord, RunState, TaskStatus},
    error::{PortError, ProcessError},
};

/// How long an editor holds the status message; longer than one provider call with its timeout.
pub(crate) const EDIT_LEASE_SECS: u64 = 30;
/// A state whose only change is the elapsed time is shown at most this often (the sweep's coarse state).
const ELAPSED_EVERY_SECS: u64 = 300;
/// Most task-list items shown; a longer list ends with how many more there are.
pub(crate) const MAX_TASKS: usize = 12;
/// Longest task title shown.
const MAX_TASK_CHARS: usize = 120;
/// Longest event timestamp kept (the agent server writes 26 characters).
const MAX_TIMESTAMP_CHARS: usize = 40;
/// Longest file path shown in a step.
const MAX_PATH_CHARS: usize = 80;

/// One event of the agent server's stream, as far as Hookline reads it.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct AgentEvent {
    #[serde(default)]
    pub kind: String,
    /// ISO 8601 without a zone (`2026-11-28T11:48:21.034219`): ordered as text.
    #[serde(default)]
    pub timestamp: String,
    /// `ConversationStateUpdateEvent`: which part of the state changed, and to what.
    #[serde(default)]
    pub key: Option<String>,
    #[serde(default)]
    pub value: Option<serde_json::Value>,
    #[serde(default)]
    pub tool_name: Option<String>,
    #[serde(default)]
    pub action: Option<serde_json::Value>,
    #[serde(default)]
    pub observation: Option<serde_json::Value>,
}

impl AgentEvent {
    /// The execution status this event reports, if it is a state update of it.
    pub(crate) fn execution_status(&self) -> Option<&str> {
        (self.kind == "ConversationStateUpdateEvent" && self.key.as_deref() == Some("execution_status"))
            .then(|| self.value.as_ref().and_then(|v| v.as_str()))
            .flatten()
    }
}

/// Fold `events` into `progress`, newest by the agent server's timestamps (batches arrive out of order and
/// repeat). Returns whether anything shown changed.
pub(crate) fn fold(progress: &mut Progress, events: &[AgentEvent]) -> bool {
    let mut changed = false;
    // A sandbox is not trusted with the run record's size: an odd timestamp drops its event.
    let dated = events
        .iter()
        .filter(|e| !e.timestamp.is_empty() && e.timestamp.len() <= MAX_TIMESTAMP_CHARS);
    for event in dated {
        match event.kind.as_str() {
            "ObservationEvent" => {
                let Some((tasks, more)) = event.observation.as_ref().and_then(task_list) else {
                    continue;
                };
                if event.timestamp.as_str() > progress.tasks_at.as_str() {
                    progress.tasks_at = event.timestamp.clone();
                    if progress.tasks != tasks || progress.more_tasks != more {
                        progress.tasks = tasks;
                        progress.more_tasks = more;
                        changed = true;
                    }
                }
            }
            "ActionEvent" if event.timestamp.as_str() > progress.step_at.as_str() => {
                let step = step_of(event.tool_name.as_deref(), event.action.as_ref());
                progress.step_at = event.timestamp.clone();
                if progress.step.as_deref() != Some(step.as_str()) {
                    progress.step = Some(step);
                    changed = true;
                }
            }
            _ => {}
        }
    }
    changed
}

/// The task list of a task-tracker observation: its first [`MAX_TASKS`] items, titles cut to one short line and
/// neutralized like agent text, and how many more there are.
fn task_list(observation: &serde_json::Value) -> Option<(Vec<ProgressTask>, u32)> {
    let items = observation.get("task_list")?.as_array()?;
    let more = u32::try_from(items.len().saturating_sub(MAX_TASKS)).unwrap_or(u32::MAX);
    let tasks = items
        .iter()
        .take(MAX_TASKS)
        .filter_map(|item| {
            let title = crate::text::short_detail(item.get("title")?.as_str()?, MAX_TASK_CHARS);
            if title.is_empty() {
                return None;
            }
            let status = match item.get("status").and_then(|s| s.as_str()) {
                Some("done") => TaskStatus::Done,
                Some("in_progress") => TaskStatus::InProgress,
                _ => TaskStatus::Todo,
            };
            Some(ProgressTask { title, status })
        })
        .collect();
    Some((tasks, more))
}

/// The step an action is, in a few words. Never the command line or the text the agent sends (either may
/// hold a token): the kind of action, the program a command runs, and the file it touches.
pub(crate) fn step_of(tool: Option<&str>, action: Option<&serde_json::Value>) -> String {
    let field = |name: &str| action.and_then(|a| a.get(name)).and_then(|v| v.as_str());
    let kind = action
        .and_then(|a| a.get("kind"))
        .and_then(|v| v.as_str())
        .unwrap_or_default();
    match (tool.unwrap_or_default(), kind) {
        ("terminal" | "execute_bash" | "bash", _) | (_, "TerminalAction" | "ExecuteBashAction") => {
            match field("command").and_then(program_of) {
                Some(program) if is_test_runner(field("command").unwrap_or_default()) => {
                    format!("running tests (`{program}`)")
                }
                Some(program) => format!("running `{program}`"),
                None => "running a command".to_owned(),
            }
        }
        ("file_editor" | "str_replace_editor", _) | (_, "FileEditorAction" | "StrReplaceEditorAction") => {
            let verb = match field("command") {
                Some("view") => "reading",
                Some("create") => "creating",
                _ => "editing",
            };
            match field("path").and_then(shown_path) {
                Some(path) => format!("{verb} `{path}`"),
                None => format!("{verb} a file"),
            }
        }
        ("task_tracker", _) | (_, "TaskTrackerAction") => "updating its task list".to_owned(),
        ("think", _) | (_, "ThinkAction") => "thinking".to_owned(),
        ("finish", _) | (_, "FinishAction") => "wrapping up".to_owned(),
        (tool, _) if is_plain_word(tool) => format!("using `{tool}`"),
        _ => "working".to_owned(),
    }
}

/// The program a command line runs: its first word past `cd …&&` and `VAR=value` prefixes, without its
/// directory; none when it is not a plain name.
fn program_of(command: &str) -> Option<String> {
    let last_part = command.rsplit("&&").next().unwrap_or(command);
    let word = last_part
        .split_whitespace()
        .find(|word| !word.contains('=') && *word != "sudo" && *word != "env")?;
    let name = word.rsplit('/').next().unwrap_or(word);
    is_plain_word(name).then(|| name.to_owned())
}

fn is_test_runner(command: &str) -> bool {
    let words: Vec<&str> = command.split_whitespace().collect();
    words
        .iter()
        .any(|w| matches!(*w, "pytest" | "jest" | "vitest" | "rspec"))
        || words
            .windows(2)
            .any(|pair| pair[1] == "test" || pair[1] == "tests")
}

/// A file path as it may be shown: its last three parts, only if made of plain path characters.
fn shown_path(path: &str) -> Option<String> {
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    let tail = parts[parts.len().saturating_sub(3)..].join("/");
    let plain = !tail.is_empty()
        && tail.chars().count() <= MAX_PATH_CHARS
        && tail
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/'))
        && !tail.split('/').any(|p| p == "..");
    plain.then_some(tail)
}

fn is_plain_word(word: &str) -> bool {
    (1..=32).contains(&word.len())
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+'))
}

/// What the status message shows, elapsed time aside.
fn digest(progress: &Progress) -> String {
    let mut hash = Sha256::new();
    for task in &progress.tasks {
        hash.update([task.status as u8]);
        hash.update(task.title.as_bytes());
        hash.update([0]);
    }
    hash.update(progress.more_tasks.to_le_bytes());
    hash.update(progress.step.as_deref().unwrap_or_default().as_bytes());
    hex::encode(&hash.finalize()[..12])
}

/// Whether the status message should get a progress edit now.
pub(crate) fn due(services: &Services, run: &RunRecord, now: u64) -> bool {
    if run.state != RunState::Running || run.status.is_none() || run.progress.editing_until > now {
        return false;
    }
    let progress = &run.progress;
    let something_new =
        digest(progress) != progress.shown && (!progress.tasks.is_empty() || progress.step.is_some());
    if something_new {
        return now >= progress.shown_at + services.settings.progress_every.as_secs();
    }
    // Only the elapsed time changed (or no event came at all): the coarse state, every few minutes, from the
    // start's "on it" message on.
    let since = progress.shown_at.max(run.created_at);
    now >= since + ELAPSED_EVERY_SECS
}

/// Edit the status message with the run's progress if it is due; one editor at a time. Never fails the
/// caller for the edit itself (a refused edit is tried again at the next due time).
pub(crate) async fn show(services: &Services, mut run: RunRecord) -> Result<(), ProcessError> {
    loop {
        let now = services.now();
        if !due(services, &run, now) {
            return Ok(());
        }
        run.progress.editing_until = now + EDIT_LEASE_SECS;
        run.progress.shown_at = now;
        run.progress.shown = digest(&run.progress);
        run.updated_at = now;
        if services.runs.update_run(&mut run).await? {
            break;
        }
        match services.runs.get_run(&run.conversation_id).await? {
            Some(fresh) => run = fresh,
            None => return Ok(()),
        }
    }
    let retry_at = match edit(services, &run).await {
        Ok(()) => {
            info!(conversation_id = %run.conversation_id, tasks = run.progress.tasks.len(), "progress shown");
            None
        }
        Err(err) => {
            warn!(conversation_id = %run.conversation_id, error = %err, "could not show progress; trying again later");
            Some(services.now() + err.retry_after().map_or(0, |d| d.as_secs()))
        }
    };
    release(services, run, retry_at).await
}

/// The progress edit itself.
async fn edit(services: &Services, run: &RunRecord) -> Result<(), PortError> {
    let (Some(module), Some(status)) = (services.module(run.provider), run.status.as_ref()) else {
        return Err(PortError::permanent("progress", "no provider or status message"));
    };
    let module = module.as_ref();
    let link = services.conversations.conversation_link(&run.conversation_id);
    let elapsed = services.now().saturating_sub(run.created_at);
    let text = prompt::status_progress(&run.actor.login, &link, &run.options, &run.progress, elapsed);
    let marker = conclude::marker_for(&run.conversation_id);
    module
        .source()
        .edit_status(&run.source, status, &marker, &text, true)
        .await
}

/// Give the status message back: clear the lease if it is still this editor's, and after a refused edit make
/// the state due again (not before `retry_at`). `claimed` is the run as this editor's claim wrote it, so the
/// usual case is one write; only a write that landed meanwhile costs a read.
async fn release(services: &Services, claimed: RunRecord, retry_at: Option<u64>) -> Result<(), ProcessError> {
    let (lease, shown) = (claimed.progress.editing_until, claimed.progress.shown.clone());
    let mut run = claimed;
    for _ in 0..5 {
        if run.progress.editing_until != lease {
            return Ok(());
        }
        run.progress.editing_until = 0;
        if let Some(at) = retry_at {
            if run.progress.shown == shown {
                run.progress.shown.clear();
            }
            run.progress.shown_at = at;
        }
        run.updated_at = services.now();
        if services.runs.update_run(&mut run).await? {
            return Ok(());
        }
        match services.runs.get_run(&run.conversation_id).await? {
            Some(fresh) => run = fresh,
            None => return Ok(()),
        }
    }
    // The lease runs out on its own.
    Ok(())
}

/// Wait (bounded by the lease) for a progress edit in flight to land, so the result that follows is the last
/// text the status message gets. No new progress edit starts once the run is concluding, so a `run` read since
/// it concluded that shows no lease needs no further look.
pub(crate) async fn wait_for_edit_in_flight(services: &Services, run: &RunRecord) {
    if run.progress.editing_until <= services.now() {
        return;
    }
    let conversation_id = run.conversation_id.as_str();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(EDIT_LEASE_SECS);
    while std::time::Instant::now() < deadline {
        match services.runs.get_run(conversation_id).await {
            Ok(Some(run)) if run.progress.editing_until > services.now() => {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            _ => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(value: serde_json::Value) -> AgentEvent {
        serde_json::from_value(value).unwrap()
    }

    fn plan(at: &str, statuses: [&str; 2]) -> AgentEvent {
        event(json!({
            "kind": "ObservationEvent", "timestamp": at, "tool_name": "task_tracker",
            "observation": {"kind": "TaskTrackerObservation", "task_list": [
                {"title": "Explore the repository", "status": statuses[0]},
                {"title": "Ping @everyone and /close", "status": statuses[1]}]}
        }))
    }

    #[test]
    fn the_newest_task_list_wins_whatever_order_batches_arrive_in() {
        let mut progress = Progress::default();
        assert!(fold(
            &mut progress,
            &[plan("2026-12-02T10:00:02", ["done", "in_progress"])]
        ));
        assert!(!fold(
            &mut progress,
            &[plan("2026-12-02T10:00:01", ["in_progress", "todo"])]
        ));
        assert_eq!(progress.tasks[0].status, TaskStatus::Done);
        assert_eq!(progress.tasks[1].status, TaskStatus::InProgress);
        assert!(
            !progress.tasks[1].title.contains("@everyone") && !progress.tasks[1].title.starts_with('/'),
            "titles are neutralized: {:?}",
            progress.tasks[1].title
        );
        assert!(
            !fold(
                &mut progress,
                &[plan("2026-12-02T10:00:02", ["done", "in_progress"])]
            ),
            "a repeat"
        );
    }

    #[test]
    fn a_sandbox_cannot_grow_the_run_record() {
        let mut progress = Progress::default();
        let many: Vec<serde_json::Value> = (0..5000)
            .map(|i| json!({"title": format!("Task {i} {}", "x".repeat(1000)), "status": "todo"}))
            .collect();
        let huge = event(json!({
            "kind": "ObservationEvent", "timestamp": "2026-12-02T10:00:00.000001",
            "observation": {"task_list": many}
        }));
        assert!(fold(&mut progress, &[huge]));
        assert_eq!(progress.tasks.len(), MAX_TASKS);
        assert_eq!(progress.more_tasks, 5000 - MAX_TASKS as u32);
        assert!(progress
            .tasks
            .iter()
            .all(|t| t.title.chars().count() <= MAX_TASK_CHARS + 1));
        let odd =
            event(json!({"kind": "ActionEvent", "timestamp": "9".repeat(10_000), "tool_name": "think"}));
        assert!(!fold(&mut progress, &[odd]), "an odd timestamp drops its event");
        assert!(progress.step_at.is_empty());
    }

    #[test]
    fn steps_show_kinds_and_paths_never_command_lines_or_output() {
        let step = |tool: &str, action: serde_json::Value| step_of(Some(tool), Some(&action));
        assert_eq!(
            step(
                "terminal",
                json!({"kind": "TerminalAction", "command": "cd /w && GH_TOKEN=ghp_secret cargo test -p x"})
            ),
            "running tests (`cargo`)"
        );
        assert_eq!(
            step(
                "terminal",
                json!({"command": "curl -H 'Authorization: token ghp_secret' https://x"})
            ),
            "running `curl`"
        );
        assert_eq!(
            step("terminal", json!({"command": "$(printf x)"})),
            "running a command"
        );
        assert_eq!(
            step(
                "file_editor",
                json!({"command": "str_replace", "path": "/sandbox/1/hello/src/draft.rs"})
            ),
            "editing `hello/src/draft.rs`"
        );
        assert_eq!(
            step(
                "file_editor",
                json!({"command": "create", "path": "/w/notes [x](http://evil).md"})
            ),
            "creating a file"
        );
        assert_eq!(step("task_tracker", json!({})), "updating its task list");
        assert_eq!(step("finish", json!({"message": "secret"})), "wrapping up");
        assert_eq!(step("<img src=x>", json!({})), "working");
    }
}
