//! Slack's text format both ways.
//!
//! In: Slack sends message text with `<…>` spans for mentions (`<@U123>`), channels (`<#C1|general>`), special
//! mentions (`<!here>`) and links (`<https://x|label>`), and escapes `&`, `<` and `>` as HTML entities (so a quote
//! line starts with `&gt;`). Out: Hookline's texts are Markdown; Slack renders `mrkdwn`, whose links are
//! `<url|label>`, whose bold is `*x*`, and which wants `&`, `<` and `>` escaped.

/// Longest text sent in one message; Slack truncates beyond 40 000 characters.
pub const MAX_MESSAGE_CHARS: usize = 39_000;

/// The text as [`crate::text::mentions`] should see it: quote markers restored (`&gt;` → `>` at a line start)
/// and every user mention written `<@ID> ` (labels dropped, a space after it so text glued to the mention still
/// counts as a mention).
pub fn mention_view(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let indent = line.len() - line.trim_start().len();
        let line = match line.trim_start().strip_prefix("&gt;") {
            Some(rest) => format!("{}>{rest}", &line[..indent]),
            None => line.to_owned(),
        };
        let mut rest = line.as_str();
        while let Some(start) = rest.find("<@") {
            out.push_str(&rest[..start]);
            match rest[start..].find('>') {
                Some(end) => {
                    let inner = &rest[start + 2..start + end];
                    let id = inner.split('|').next().unwrap_or_default();
                    out.push_str("<@");
                    out.push_str(id);
                    out.push_str("> ");
                    rest = &rest[start + end + 1..];
                }
                None => {
                    out.push_str(&rest[start..]);
                    rest = "";
                }
            }
        }
        out.push_str(rest);
    }
    out
}

/// Readable plain text for a prompt: `<…>` spans resolved (mentions of `bot_user_id` dropped, others `@id` or
/// `@label`, links `label (url)`), entities decoded. Not sanitized: the prompt renderer does that.
pub fn plain_text(text: &str, bot_user_id: Option<&str>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find('<') {
        out.push_str(&rest[..start]);
        let Some(len) = rest[start..].find('>') else {
            out.push_str(&rest[start..]);
            rest = "";
            break;
        };
        let inner = &rest[start + 1..start + len];
        rest = &rest[start + len + 1..];
        let (target, label) = match inner.split_once('|') {
            Some((target, label)) => (target, Some(label)),
            None => (inner, None),
        };
        if let Some(id) = target.strip_prefix('@') {
            if bot_user_id.is_some_and(|bot| bot == id) {
                continue;
            }
            out.push('@');
            out.push_str(label.map(|l| l.trim_start_matches('@')).unwrap_or(id));
        } else if let Some(id) = target.strip_prefix('#') {
            out.push('#');
            out.push_str(label.unwrap_or(id));
        } else if let Some(special) = target.strip_prefix('!') {
            match label {
                Some(label) => out.push_str(label),
                None => {
                    out.push('@');
                    out.push_str(special.split('^').next().unwrap_or(special));
                }
            }
        } else {
            match label {
                Some(label) if label != target => {
                    out.push_str(label);
                    out.push_str(" (");
                    out.push_str(target);
                    out.push(')');
                }
                _ => out.push_str(target),
            }
        }
    }
    out.push_str(rest);
    decode_entities(&out).trim().to_owned()
}

/// `&lt;`, `&gt;` and `&amp;` back to characters (`&amp;` last, so `&amp;lt;` stays `&lt;`).
pub fn decode_entities(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// Markdown (Hookline's texts, the agent's summary) as Slack mrkdwn: `&`, `<`, `>` escaped (a quote marker at a
/// line start kept), `[label](https://…)` → `<https://…|label>`, `**bold**` → `*bold*`, headings bold. Fenced
/// code is only escaped. Capped at [`MAX_MESSAGE_CHARS`].
pub fn to_mrkdwn(markdown: &str) -> String {
    let mut out = String::with_capacity(markdown.len() + 32);
    let mut in_fence = false;
    for (i, line) in markdown.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
            out.push_str(&escape(line));
            continue;
        }
        if in_fence {
            out.push_str(&escape(line));
            continue;
        }
        let trimmed = line.trim_start();
        let heading = trimmed
            .strip_prefix("###### ")
            .or_else(|| trimmed.strip_prefix("##### "))
            .or_else(|| trimmed.strip_prefix("#### "))
            .or_else(|| trimmed.strip_prefix("### "))
            .or_else(|| trimmed.strip_prefix("## "))
            .or_else(|| trimmed.strip_prefix("# "));
        if let Some(heading) = heading {
            let heading = convert_inline(&escape(heading.trim()));
            out.push('*');
            out.push_str(heading.trim_matches('*'));
            out.push('*');
            continue;
        }
        // A Markdown task list (the agent's progress) as Slack shows one: boxes, checked or not.
        let task = [("- [x] ", '☑'), ("- [X] ", '☑'), ("- [ ] ", '☐')]
            .into_iter()
            .find_map(|(prefix, mark)| trimmed.strip_prefix(prefix).map(|rest| (mark, rest)));
        if let Some((mark, rest)) = task {
            out.push(mark);
            out.push(' ');
            out.push_str(&convert_inline(&escape(rest)));
            continue;
        }
        let (quote, body) = match trimmed.strip_prefix('>') {
            Some(body) => (">", body),
            None => ("", line),
        };
        out.push_str(quote);
        out.push_str(&convert_inline(&escape(body)));
    }
    crate::outbound::fit(&out, MAX_MESSAGE_CHARS, None)
}

/// Replace `@{user}` (as Hookline's texts name people) with a real Slack mention `<@user>`.
pub fn link_user(text: &str, user: &str) -> String {
    if user.is_empty() {
        return text.to_owned();
    }
    let needle = format!("@{user}");
    let mut out = String::with_capacity(text.len() + 8);
    let mut rest = text;
    while let Some(pos) = rest.find(&needle) {
        let after = &rest[pos + needle.len()..];
        let before_ok = !rest[..pos].ends_with(|c: char| c.is_ascii_alphanumeric() || c == '<');
        let after_ok = !after.starts_with(|c: char| c.is_ascii_alphanumeric());
        out.push_str(&rest[..pos]);
        if before_ok && after_ok {
            out.push_str("<@");
            out.push_str(user);
            out.push('>');
        } else {
            out.push_str(&needle);
        }
        rest = after;
    }
    out.push_str(rest);
    out
}

/// [`link_user`] for every Slack user id (`@U…`, `@W…`) the text names.
pub fn link_user_ids(text: &str) -> String {
    let mut ids: Vec<&str> = Vec::new();
    for (at, _) in text.match_indices('@') {
        let rest = &text[at + 1..];
        let end = rest
            .find(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit()))
            .unwrap_or(rest.len());
        let id = &rest[..end];
        if (3..=32).contains(&id.len()) && id.starts_with(['U', 'W']) && !ids.contains(&id) {
            ids.push(id);
        }
    }
    ids.into_iter()
        .fold(text.to_owned(), |text, id| link_user(&text, id))
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Links and bold on one escaped line.
fn convert_inline(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(open) = rest.find('[') {
        let after_open = &rest[open + 1..];
        let link = after_open.find("](").and_then(|close| {
            let url_part = &after_open[close + 2..];
            let end = url_part.find(')')?;
            let url = &url_part[..end];
            let usable = (url.starts_with("https://") || url.starts_with("http://"))
                && !url.contains(char::is_whitespace)
                && !url.contains('|');
            usable.then(|| (&after_open[..close], url, open + 1 + close + 2 + end + 1))
        });
        match link {
            Some((label, url, consumed)) => {
                out.push_str(&rest[..open]);
                out.push('<');
                out.push_str(url);
                out.push('|');
                out.push_str(&label.replace('|', "/"));
                out.push('>');
                rest = &rest[consumed..];
            }
            None => {
                out.push_str(&rest[..open + 1]);
                rest = after_open;
            }
        }
    }
    out.push_str(rest);
    out.replace("**", "*")
}
