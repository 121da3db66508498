//! The pure trigger decision for a queued [`SlackEvent`]: is it an exact mention of this workspace's bot by a
//! person (not a bot, not an edit, not inside a quote or code), which thread it belongs to, and which repository
//! it is about. A [`SlackClick`] on the Stop button is a stop of its thread's run.

use super::{
    event::{SlackClick, SlackEvent},
    mrkdwn, SlackConfig, SlackNotice, SlackSource,
};
use crate::{
    domain::{Actor, Envelope, Intent, PromptParts, Provider, SourceRef, Trigger},
    provider::Decision,
    repo_hint::{self, Choice, RepoRef, Step},
    text,
};

/// Longest conversation title taken from the message.
const MAX_TITLE_CHARS: usize = 100;

/// Decide what `event` (delivered in `envelope`) asks for.
pub(crate) fn decide(config: &SlackConfig, envelope: &Envelope, event: &SlackEvent) -> Decision {
    if event.event_type != "app_mention" {
        return Decision::Ignore("event never triggers");
    }
    if let Some(reason) = event.never_triggers() {
        return Decision::Ignore(reason);
    }
    let Some(bot_user_id) = event.bot_user_id.as_deref() else {
        return Decision::Ignore("the bot's user id is unknown (no bot authorization in the event)");
    };
    if event.user.is_empty() {
        return Decision::Ignore("no author");
    }
    // Slack sends `app_mention` for any message containing the mention, quoted or in code included.
    if !text::mentions(&mrkdwn::mention_view(&event.text), &format!("<@{bot_user_id}>")) {
        return Decision::Ignore("no exact mention (quoted or in code)");
    }
    let thread_key = event.thread_key();
    let run_key = format!("{thread_key}:msg:{}", event.ts);
    let mut source = SlackSource {
        tenant: event.team_id.clone(),
        channel: event.channel.clone(),
        thread_ts: event.root_ts().to_owned(),
        message_ts: event.ts.clone(),
        user: event.user.clone(),
        bot_user_id: bot_user_id.to_owned(),
        notice: SlackNotice::Ephemeral,
        external: event.external,
    };
    let intent = Intent::of_request(&mrkdwn::mention_view(&event.text));
    let named = find_repositories(&event.text, &config.git_provider);
    let channel_default = config.channel_repos.get(&event.channel);
    let repo = match repo_hint::choose([Step::ask(named), Step::configured(channel_default)]) {
        // A stop names the thread's run, not a repository.
        _ if intent == Intent::Stop => None,
        Choice::Found(repo) => Some(repo),
        Choice::Missing => None,
        // In a thread, the agent (or the running conversation) sorts it out from the thread itself.
        Choice::Ambiguous(_) if event.is_thread_reply() => None,
        Choice::Ambiguous(several) => {
            source.notice = SlackNotice::Thread;
            let list = several
                .iter()
                .map(|r| format!("`{}`", r.repository))
                .collect::<Vec<_>>()
                .join(", ");
            return Decision::Notice {
                source: Box::new(SourceRef::Slack(source)),
                key: format!("{run_key}:repository"),
                text: format!(
                    "@{} Your message names several repositories ({list}). Which one should I work on? \
                     Mention me again naming just one.",
                    event.user
                ),
            };
        }
    };
    // A reply in a thread may continue a running conversation (the worker makes it a follow-up) or refer to a
    // repository named earlier in the thread (the agent reads the thread), so only a new thread is asked.
    if repo.is_none() && !event.is_thread_reply() && intent == Intent::Work {
        source.notice = SlackNotice::Thread;
        return Decision::Notice {
            source: Box::new(SourceRef::Slack(source)),
            key: format!("{run_key}:repository"),
            text: format!(
                "@{} Which repository should I work on? Mention me again with it in the message \
                 (`owner/repo` or its URL). An admin can also set a default repository for this channel.",
                event.user
            ),
        };
    }
    let request = mrkdwn::plain_text(&event.text, Some(bot_user_id));
    let title = title_for(&request);
    let trigger = Trigger {
        provider: Provider::Slack,
        tenant: event.team_id.clone(),
        thread_key,
        run_key,
        actor: Actor {
            id: event.user.clone(),
            login: event.user.clone(),
        },
        source: SourceRef::Slack(source),
        repository: repo.as_ref().map(|r| r.repository.clone()),
        repository_named: repo.as_ref().is_some_and(|r| r.is_beyond(channel_default)),
        branch: None,
        git_provider: repo
            .as_ref()
            .map(|r| r.git_provider.clone())
            .unwrap_or_else(|| config.git_provider.clone()),
        title: format!("Slack: {title}"),
        prompt: PromptParts {
            subject: format!(
                "a Slack thread (workspace {}, channel {})",
                event.team_id, event.channel
            ),
            subject_title: title,
            subject_body: String::new(),
            request,
            request_in_body: false,
            location: None,
            request_mention_form: None,
            instructions: instructions(repo.as_ref()),
        },
        occurred_at: occurred_at(&event.ts).unwrap_or(envelope.received_at),
        intent,
        stop_only: None,
    };
    Decision::Run(Box::new(trigger))
}

/// Decide a click on the Stop button: a stop of the thread's run by whoever clicked. Whether they may stop it
/// (their run, the access rules) is the worker's to check, as for `@bot stop`.
pub(crate) fn decide_click(config: &SlackConfig, envelope: &Envelope, click: &SlackClick) -> Decision {
    // Without the bot's id the access rules could not tell the bot from a person, so nothing is done.
    let Some(bot_user_id) = click.bot_user_id.as_deref() else {
        return Decision::Ignore("the bot's user id is unknown (the clicked message is not a bot's)");
    };
    if click.user == bot_user_id {
        return Decision::Ignore("the bot's own click");
    }
    let thread_key = click.thread_key();
    let run_key = format!("{thread_key}:stop:{}", click.action_ts);
    let source = SlackSource {
        tenant: click.team_id.clone(),
        channel: click.channel.clone(),
        thread_ts: click.thread_ts.clone(),
        message_ts: click.message_ts.clone(),
        user: click.user.clone(),
        bot_user_id: bot_user_id.to_owned(),
        notice: SlackNotice::Ephemeral,
        external: click.external,
    };
    let trigger = Trigger {
        provider: Provider::Slack,
        tenant: click.team_id.clone(),
        thread_key,
        run_key,
        actor: Actor {
            id: click.user.clone(),
            login: click.user.clone(),
        },
        source: SourceRef::Slack(source),
        repository: None,
        repository_named: false,
        branch: None,
        git_provider: config.git_provider.clone(),
        title: "Slack: stop".to_owned(),
        prompt: PromptParts {
            subject: format!(
                "a Slack thread (workspace {}, channel {})",
                click.team_id, click.channel
            ),
            subject_title: "stop".to_owned(),
            ..PromptParts::default()
        },
        occurred_at: occurred_at(&click.action_ts).unwrap_or(envelope.received_at),
        intent: Intent::Stop,
        // The button belongs to one run: a click never stops a later one on the thread.
        stop_only: crate::openhands::normalize_id(&click.value),
    };
    Decision::Run(Box::new(trigger))
}

/// Repositories named in `text` (Slack's raw message text: links resolved first), in order, each once. A
/// message naming several is ambiguous; the caller asks which one.
pub(crate) fn find_repositories(text: &str, default_provider: &str) -> Vec<RepoRef> {
    let named = repo_hint::named_in(&mrkdwn::plain_text(text, None), default_provider);
    repo_hint::distinct(named.into_iter().map(|named| named.repo))
}

fn instructions(repo: Option<&RepoRef>) -> String {
    let common = "If the request asks for code changes, work on a new branch whose name starts with \
                  `openhands/`, push it and open a pull request, and give its link in your final message. If it \
                  only asks a question, answer it in your final message without changing code. Your final \
                  message is posted to the Slack thread for you; do not post to Slack yourself.";
    match repo {
        Some(repo) => format!(
            "Do what the request asks in the {} repository `{}`. {common}",
            repo.git_provider, repo.repository
        ),
        None => format!(
            "Do what the request asks. No repository was selected: if the earlier messages of the thread name \
             one, work in it; if you need one and none is named, say so in your final message and ask which \
             repository to use. {common}"
        ),
    }
}

/// First line of the request, shortened; a placeholder when the message was only the mention.
fn title_for(request: &str) -> String {
    // The person's options are for Hookline, not a title.
    let request = crate::options::strip(request);
    let line = request
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    if line.is_empty() {
        return "request".to_owned();
    }
    let mut title: String = line.chars().take(MAX_TITLE_CHARS).collect();
    if line.chars().count() > MAX_TITLE_CHARS {
        title.push('…');
    }
    title
}

/// Epoch seconds of a message ts (its integer part).
fn occurred_at(ts: &str) -> Option<u64> {
    super::ts_key(ts).map(|(secs, _)| secs)
}
