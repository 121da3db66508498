//! The pure trigger decision for a queued [`SlackEvent`]: is it an exact mention of this workspace's bot by a
//! person (not a bot, not an edit, not inside a quote or code), which thread it belongs to, and which repository
//! it is about (named, the channel's only one, or picked in a picker of the channel's several). A [`SlackClick`]
//! on the Stop button is a stop of its thread's run; a pick in the picker is the asking mention's run.

use super::{
    event::{self, SlackClick, SlackEvent, SlackPick},
    mrkdwn, SlackConfig, SlackNotice, SlackSource, MAX_CHOICES,
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
    let channel_default = config.channel_default(&event.channel);
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
        let key = format!("{run_key}:repository");
        if let Some(picker) = picker(config, &mut source, key.clone()) {
            return picker;
        }
        source.notice = SlackNotice::Thread;
        return Decision::Notice {
            source: Box::new(SourceRef::Slack(source)),
            key,
            text: format!(
                "@{} Which repository should I work on? Mention me again with it in the message \
                 (`owner/repo` or its URL). An admin can also set a default repository for this channel.",
                event.user
            ),
        };
    }
    let request = mrkdwn::plain_text(&event.text, Some(bot_user_id));
    let trigger = work_trigger(
        config,
        envelope,
        Mention {
            thread_key,
            run_key,
            source,
            ts: &event.ts,
            request,
            intent,
        },
        repo.as_ref(),
    );
    Decision::Run(Box::new(trigger))
}

/// The repository picker for a mention in a channel listing several repositories (`None` otherwise): a thread
/// reply, once per mention (`key`), offering the first [`MAX_CHOICES`] whose value fits an option.
fn picker(config: &SlackConfig, source: &mut SlackSource, key: String) -> Option<Decision> {
    let configured = config.repositories_of(&source.channel);
    if configured.len() < 2 {
        return None;
    }
    let choices: Vec<RepoRef> = configured
        .iter()
        .filter(|repo| event::pick_value(repo).len() <= event::MAX_OPTION_VALUE_LEN)
        .take(MAX_CHOICES)
        .cloned()
        .collect();
    if choices.is_empty() {
        return None;
    }
    let mut text = format!(
        "@{} Which repository should I work on? Choose one of this channel's below.",
        source.user
    );
    if choices.len() < configured.len() {
        text.push_str(&format!(
            " {} of its {} repositories are listed; for another, mention me again naming it.",
            choices.len(),
            configured.len()
        ));
    }
    source.notice = SlackNotice::Choice { choices };
    Some(Decision::Notice {
        source: Box::new(SourceRef::Slack(source.clone())),
        key,
        text,
    })
}

/// A mention that asks for work, as far as the trigger is built from it.
struct Mention<'a> {
    thread_key: String,
    run_key: String,
    source: SlackSource,
    /// The mention's ts.
    ts: &'a str,
    /// Its text, plain.
    request: String,
    intent: Intent,
}

/// The trigger of `mention` on `repo`; a repository other than the channel's is one named in the message.
fn work_trigger(
    config: &SlackConfig,
    envelope: &Envelope,
    mention: Mention<'_>,
    repo: Option<&RepoRef>,
) -> Trigger {
    let configured = config.repositories_of(&mention.source.channel);
    let title = title_for(&mention.request);
    let subject = format!(
        "a Slack thread (workspace {}, channel {})",
        mention.source.tenant, mention.source.channel
    );
    Trigger {
        provider: Provider::Slack,
        tenant: mention.source.tenant.clone(),
        thread_key: mention.thread_key,
        run_key: mention.run_key,
        actor: Actor {
            id: mention.source.user.clone(),
            login: mention.source.user.clone(),
        },
        repository: repo.map(|r| r.repository.clone()),
        repository_named: repo.is_some_and(|r| !configured.iter().any(|c| c.is_same(r))),
        branch: None,
        git_provider: repo
            .map(|r| r.git_provider.clone())
            .unwrap_or_else(|| config.git_provider.clone()),
        title: format!("Slack: {title}"),
        prompt: PromptParts {
            subject,
            subject_title: title,
            subject_body: String::new(),
            request: mention.request,
            request_in_body: false,
            location: None,
            request_mention_form: None,
            instructions: instructions(repo),
        },
        occurred_at: occurred_at(mention.ts).unwrap_or(envelope.received_at),
        intent: mention.intent,
        stop_only: None,
        source: SourceRef::Slack(mention.source),
    }
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
    if let Some(pick) = &click.pick {
        return decide_pick(config, envelope, click, pick, bot_user_id);
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

/// Decide a pick in the repository picker (the message `click.message_ts`): the run of the mention it asks about,
/// on the picked repository, when the person who asked picks in time one the channel still lists. Its run key is
/// the mention's, so a second pick starts nothing new.
fn decide_pick(
    config: &SlackConfig,
    envelope: &Envelope,
    click: &SlackClick,
    pick: &SlackPick,
    bot_user_id: &str,
) -> Decision {
    // The picker is a reply in the mention's thread; a click that says otherwise is about no mention's run.
    if click.thread_ts == click.message_ts {
        return Decision::Ignore("the picker is not a thread reply");
    }
    let thread_key = click.thread_key();
    let run_key = format!("{thread_key}:msg:{}", pick.request_ts);
    let mut source = SlackSource {
        tenant: click.team_id.clone(),
        channel: click.channel.clone(),
        thread_ts: click.thread_ts.clone(),
        message_ts: pick.request_ts.clone(),
        user: click.user.clone(),
        bot_user_id: bot_user_id.to_owned(),
        notice: SlackNotice::Ephemeral,
        external: click.external,
    };
    let notice = |source: SlackSource, key: String, text: String| Decision::Notice {
        source: Box::new(SourceRef::Slack(source)),
        key,
        text,
    };
    if click.user != pick.requester {
        let key = format!("{run_key}:pick:{}:{}", click.user, click.action_ts);
        let text = format!(
            "@{} Only @{} can choose the repository for this request. To ask for something yourself, mention me.",
            click.user, pick.requester
        );
        return notice(source, key, text);
    }
    let Some(read) = &pick.read else {
        return Decision::Ignore("the picked-for mention was not read");
    };
    let expires = config.access.choice_expires.as_secs();
    let expired =
        occurred_at(&click.message_ts).is_none_or(|posted| read.at > posted.saturating_add(expires));
    let picker = SlackNotice::Edit {
        ts: click.message_ts.clone(),
    };
    if expired {
        source.notice = picker;
        let text = format!(
            "@{} This request has expired: a repository can be chosen for {}. Mention me again to ask anew.",
            pick.requester,
            super::minutes(expires)
        );
        return notice(source, format!("{run_key}:pick-expired"), text);
    }
    let Some(request) = &read.request else {
        source.notice = picker;
        let text = format!(
            "@{} I can't read the message this was about any more. Mention me again to ask anew.",
            pick.requester
        );
        return notice(source, format!("{run_key}:pick-gone"), text);
    };
    if request.user != pick.requester {
        return Decision::Ignore("the picked-for mention is not the requester's");
    }
    let Some(repo) = config
        .repositories_of(&click.channel)
        .iter()
        .find(|repo| repo.is_same(&pick.repository))
    else {
        let key = format!("{run_key}:pick:{}:{}", click.user, click.action_ts);
        let text = format!(
            "@{} `{}` is not one of this channel's repositories (any more). Mention me again naming the one to \
             work on.",
            click.user, pick.repository.repository
        );
        return notice(source, key, text);
    };
    let intent = Intent::of_request(&mrkdwn::mention_view(&request.text));
    if intent != Intent::Work {
        return Decision::Ignore("the picked-for mention no longer asks for work");
    }
    source.notice = SlackNotice::Picked {
        picker_ts: click.message_ts.clone(),
        repository: repo.repository.clone(),
    };
    let mention = Mention {
        thread_key,
        run_key,
        source,
        ts: &pick.request_ts,
        request: mrkdwn::plain_text(&request.text, Some(bot_user_id)),
        intent,
    };
    Decision::Run(Box::new(work_trigger(config, envelope, mention, Some(repo))))
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
