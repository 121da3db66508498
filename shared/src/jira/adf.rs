//! Atlassian Document Format (ADF), both ways:
//! - [`body_text`] flattens a comment or description body (a wiki-markup string, or an ADF document) into
//!   text. Quotes become `> ` lines and code becomes fenced or back-ticked, so the mention matcher in
//!   [`crate::text`] skips them; picker mentions become `[~accountid:…]` or the display text.
//! - [`from_markdown`] turns Hookline's Markdown (status texts, the agent's summary) into an ADF document, as
//!   REST v3 requires for comment bodies.

use serde_json::{json, Map, Value};

/// Deepest node nesting read; deeper content is dropped (a well-formed document never comes close).
const MAX_DEPTH: usize = 48;
/// Longest Markdown turned into one comment; Jira refuses bodies above 32 767 characters.
pub const MAX_COMMENT_CHARS: usize = 30_000;

/// How a picker mention appears in flattened text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MentionStyle {
    /// `[~accountid:<id>]`, as wiki markup writes it: what trigger detection compares.
    Token,
    /// The mention's display text (`@Mia Krystof`): what people and prompts read.
    Display,
}

/// Text of a body that is either a string (wiki markup / plain text) or an ADF document. Anything else
/// (null, numbers) is empty.
pub fn body_text(body: &Value, style: MentionStyle) -> String {
    match body {
        Value::String(text) => text.clone(),
        Value::Object(_) => {
            let mut out = String::new();
            block(body, style, 0, &mut out);
            tidy(&out)
        }
        _ => String::new(),
    }
}

/// At most two consecutive newlines, no trailing whitespace.
fn tidy(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut newlines = 0;
    for ch in text.chars() {
        if ch == '\n' {
            newlines += 1;
            if newlines > 2 {
                continue;
            }
        } else {
            newlines = 0;
        }
        out.push(ch);
    }
    out.trim_end().to_owned()
}

fn node_type(node: &Value) -> &str {
    node.get("type").and_then(Value::as_str).unwrap_or("")
}

fn children(node: &Value) -> &[Value] {
    node.get("content")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

fn attr<'v>(node: &'v Value, name: &str) -> Option<&'v str> {
    node.get("attrs")
        .and_then(|a| a.get(name))
        .and_then(Value::as_str)
}

fn block(node: &Value, style: MentionStyle, depth: usize, out: &mut String) {
    if depth > MAX_DEPTH {
        return;
    }
    match node_type(node) {
        "paragraph" | "heading" => {
            for child in children(node) {
                inline(child, style, depth + 1, out);
            }
            out.push_str("\n\n");
        }
        "blockquote" => {
            let mut inner = String::new();
            for child in children(node) {
                block(child, style, depth + 1, &mut inner);
            }
            for line in tidy(&inner).lines() {
                out.push_str("> ");
                out.push_str(line);
                out.push('\n');
            }
            out.push('\n');
        }
        "codeBlock" => {
            let mut code = String::new();
            for child in children(node) {
                inline(child, style, depth + 1, &mut code);
            }
            let fence = "`".repeat(longest_run(&code, '`').max(2) + 1);
            out.push_str(&format!("{fence}\n{code}\n{fence}\n\n"));
        }
        "listItem" => {
            let mut inner = String::new();
            for child in children(node) {
                block(child, style, depth + 1, &mut inner);
            }
            for (i, line) in tidy(&inner).lines().enumerate() {
                out.push_str(if i == 0 { "- " } else { "  " });
                out.push_str(line);
                out.push('\n');
            }
        }
        "bulletList" | "orderedList" => {
            for child in children(node) {
                block(child, style, depth + 1, out);
            }
            out.push('\n');
        }
        "rule" => out.push_str("---\n\n"),
        "media" | "mediaSingle" | "mediaGroup" | "mediaInline" => {}
        "text" | "mention" | "hardBreak" | "emoji" | "inlineCard" | "status" | "date" => {
            inline(node, style, depth, out);
        }
        "blockCard" | "embedCard" => {
            if let Some(url) = attr(node, "url") {
                out.push_str(url);
                out.push_str("\n\n");
            }
        }
        // doc, panel, expand, tables, layouts, extensions and anything newer: their children carry the text.
        _ => {
            for child in children(node) {
                block(child, style, depth + 1, out);
            }
            if matches!(node_type(node), "tableCell" | "tableHeader") {
                out.push(' ');
            }
        }
    }
}

fn inline(node: &Value, style: MentionStyle, depth: usize, out: &mut String) {
    if depth > MAX_DEPTH {
        return;
    }
    match node_type(node) {
        "text" => {
            let text = node.get("text").and_then(Value::as_str).unwrap_or("");
            let marks = node.get("marks").and_then(Value::as_array);
            let has_mark = |kind: &str| marks.is_some_and(|m| m.iter().any(|mark| node_type(mark) == kind));
            if has_mark("code") {
                let ticks = "`".repeat(longest_run(text, '`') + 1);
                out.push_str(&format!("{ticks}{text}{ticks}"));
            } else {
                out.push_str(text);
            }
            let href = marks
                .and_then(|m| m.iter().find(|mark| node_type(mark) == "link"))
                .and_then(|mark| attr(mark, "href"));
            if let Some(href) = href.filter(|href| *href != text) {
                out.push_str(&format!(" ({href})"));
            }
        }
        "mention" => {
            let id = attr(node, "id").unwrap_or("");
            match style {
                MentionStyle::Token => out.push_str(&format!("[~accountid:{id}]")),
                MentionStyle::Display => match attr(node, "text") {
                    Some(text) if !text.is_empty() => out.push_str(text),
                    _ => out.push_str(&format!("@{id}")),
                },
            }
        }
        "hardBreak" => out.push('\n'),
        "emoji" => out.push_str(
            attr(node, "text")
                .or_else(|| attr(node, "shortName"))
                .unwrap_or(""),
        ),
        "inlineCard" => out.push_str(attr(node, "url").unwrap_or("")),
        "status" => out.push_str(attr(node, "text").unwrap_or("")),
        "date" => out.push_str(attr(node, "timestamp").unwrap_or("")),
        _ => {
            for child in children(node) {
                inline(child, style, depth + 1, out);
            }
        }
    }
}

fn longest_run(text: &str, ch: char) -> usize {
    text.split(|c| c != ch).map(str::len).max().unwrap_or(0)
}

// ---- Markdown → ADF ----

/// An ADF document for `markdown`: paragraphs (single newlines become hard breaks), `#` headings, `-`/`1.`
/// lists (flattened; `- [ ]`/`- [x]` as action items), `>` quotes, fenced code, `---` rules; inline `code`,
/// `**bold**`, `[text](url)` and bare http(s) URLs as links. When `mentions` is set, `[~accountid:<id>]` becomes a mention node (only for text
/// Hookline writes itself, so an agent's summary cannot ping people). Text beyond [`MAX_COMMENT_CHARS`] is
/// cut with a visible note.
pub fn from_markdown(markdown: &str, mentions: bool) -> Value {
    let markdown = crate::outbound::fit(markdown, MAX_COMMENT_CHARS, None);
    let lines: Vec<&str> = markdown.lines().collect();
    json!({"type": "doc", "version": 1, "content": blocks(&lines, mentions, 0)})
}

#[derive(PartialEq)]
enum ListKind {
    Bullet,
    Ordered,
    /// `- [ ] …` / `- [x] …`: Jira's own action items (`taskList`), each item's text starting with its box.
    Task,
}

fn blocks(lines: &[&str], mentions: bool, depth: usize) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    let mut paragraph: Vec<&str> = Vec::new();
    let mut list: Option<(ListKind, Vec<Vec<String>>)> = None;
    let flush_paragraph = |paragraph: &mut Vec<&str>, out: &mut Vec<Value>| {
        if !paragraph.is_empty() {
            out.push(paragraph_node(&paragraph.join("\n"), mentions));
            paragraph.clear();
        }
    };
    let flush_list = |list: &mut Option<(ListKind, Vec<Vec<String>>)>, out: &mut Vec<Value>| {
        if let Some((kind, items)) = list.take() {
            if kind == ListKind::Task {
                out.push(task_list(&items, mentions));
                return;
            }
            let items: Vec<Value> = items
                .iter()
                .map(|item| json!({"type": "listItem", "content": [paragraph_node(&item.join("\n"), mentions)]}))
                .collect();
            let kind = if kind == ListKind::Bullet {
                "bulletList"
            } else {
                "orderedList"
            };
            out.push(json!({"type": kind, "content": items}));
        }
    };
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let trimmed = line.trim_start();
        if let Some(fence) = crate::text::fence_run(trimmed) {
            flush_paragraph(&mut paragraph, &mut out);
            flush_list(&mut list, &mut out);
            let language = trimmed.trim_start_matches(fence.0).trim();
            let mut code: Vec<&str> = Vec::new();
            i += 1;
            while i < lines.len() {
                let candidate = lines[i].trim_start();
                if crate::text::fence_run(candidate).is_some_and(|(c, n)| c == fence.0 && n >= fence.1)
                    && candidate.trim_start_matches(fence.0).trim().is_empty()
                {
                    break;
                }
                code.push(lines[i]);
                i += 1;
            }
            out.push(code_block(&code.join("\n"), language));
            i += 1;
            continue;
        }
        if trimmed.is_empty() {
            flush_paragraph(&mut paragraph, &mut out);
            flush_list(&mut list, &mut out);
            i += 1;
            continue;
        }
        if let Some((level, text)) = heading(trimmed) {
            flush_paragraph(&mut paragraph, &mut out);
            flush_list(&mut list, &mut out);
            out.push(
                json!({"type": "heading", "attrs": {"level": level}, "content": inlines(text, mentions)}),
            );
            i += 1;
            continue;
        }
        if is_rule(trimmed) {
            flush_paragraph(&mut paragraph, &mut out);
            flush_list(&mut list, &mut out);
            out.push(json!({"type": "rule"}));
            i += 1;
            continue;
        }
        if trimmed.starts_with('>') {
            flush_paragraph(&mut paragraph, &mut out);
            flush_list(&mut list, &mut out);
            let mut quoted: Vec<&str> = Vec::new();
            while i < lines.len() && lines[i].trim_start().starts_with('>') {
                let rest = &lines[i].trim_start()[1..];
                quoted.push(rest.strip_prefix(' ').unwrap_or(rest));
                i += 1;
            }
            let inner = if depth < MAX_DEPTH {
                blocks(&quoted, mentions, depth + 1)
            } else {
                vec![paragraph_node(&quoted.join("\n"), mentions)]
            };
            if !inner.is_empty() {
                out.push(json!({"type": "blockquote", "content": inner}));
            }
            continue;
        }
        if let Some((kind, text)) = list_item(trimmed) {
            flush_paragraph(&mut paragraph, &mut out);
            match &mut list {
                Some((current, items)) if *current == kind => items.push(vec![text.to_owned()]),
                _ => {
                    flush_list(&mut list, &mut out);
                    list = Some((kind, vec![vec![text.to_owned()]]));
                }
            }
            i += 1;
            continue;
        }
        if let Some((_, items)) = &mut list {
            // A continuation line of the last item.
            if let Some(last) = items.last_mut() {
                last.push(trimmed.to_owned());
                i += 1;
                continue;
            }
        }
        paragraph.push(line);
        i += 1;
    }
    flush_paragraph(&mut paragraph, &mut out);
    flush_list(&mut list, &mut out);
    out
}

fn heading(line: &str) -> Option<(usize, &str)> {
    let level = line.chars().take_while(|&c| c == '#').count();
    if !(1..=6).contains(&level) {
        return None;
    }
    line[level..].strip_prefix(' ').map(|text| (level, text.trim()))
}

fn is_rule(line: &str) -> bool {
    let line = line.trim();
    line.len() >= 3
        && ["-", "*", "_"]
            .iter()
            .any(|c| line.chars().all(|ch| ch.to_string() == *c))
}

fn list_item(line: &str) -> Option<(ListKind, &str)> {
    for bullet in ["- ", "* ", "+ "] {
        if let Some(text) = line.strip_prefix(bullet) {
            let is_task = ["[ ] ", "[x] ", "[X] "].iter().any(|box_| text.starts_with(box_));
            return Some((if is_task { ListKind::Task } else { ListKind::Bullet }, text));
        }
    }
    let digits = line.chars().take_while(char::is_ascii_digit).count();
    if digits > 0 && digits < 10 {
        let rest = &line[digits..];
        if let Some(text) = rest.strip_prefix(". ").or_else(|| rest.strip_prefix(") ")) {
            return Some((ListKind::Ordered, text));
        }
    }
    None
}

/// A `taskList` of `items` (each starting `[ ] ` or `[x] `), with the local ids ADF requires.
fn task_list(items: &[Vec<String>], mentions: bool) -> Value {
    let local_id = || uuid::Uuid::new_v4().to_string();
    let items: Vec<Value> = items
        .iter()
        .map(|item| {
            let text = item.join("\n");
            let done = text.starts_with("[x]") || text.starts_with("[X]");
            let inline = paragraph_node(text.get(4..).unwrap_or_default(), mentions)["content"].take();
            json!({
                "type": "taskItem",
                "attrs": {"localId": local_id(), "state": if done { "DONE" } else { "TODO" }},
                "content": inline,
            })
        })
        .collect();
    json!({"type": "taskList", "attrs": {"localId": local_id()}, "content": items})
}

fn paragraph_node(text: &str, mentions: bool) -> Value {
    let mut content: Vec<Value> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if i > 0 {
            content.push(json!({"type": "hardBreak"}));
        }
        content.extend(inlines(line.trim_end(), mentions));
    }
    json!({"type": "paragraph", "content": content})
}

fn code_block(code: &str, language: &str) -> Value {
    let mut node = Map::new();
    node.insert("type".into(), json!("codeBlock"));
    let language: String = language
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '#' | '-' | '_'))
        .collect();
    if !language.is_empty() {
        node.insert("attrs".into(), json!({ "language": language }));
    }
    if !code.is_empty() {
        node.insert("content".into(), json!([{"type": "text", "text": code}]));
    }
    Value::Object(node)
}

fn text_node(text: &str, marks: Vec<Value>) -> Value {
    if marks.is_empty() {
        json!({"type": "text", "text": text})
    } else {
        json!({"type": "text", "text": text, "marks": marks})
    }
}

/// Inline Markdown of one line → ADF inline nodes.
fn inlines(line: &str, mentions: bool) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    let mut plain = String::new();
    let flush = |plain: &mut String, out: &mut Vec<Value>| {
        if !plain.is_empty() {
            out.push(text_node(plain, Vec::new()));
            plain.clear();
        }
    };
    let mut rest = line;
    while let Some(ch) = rest.chars().next() {
        let at_word_start = plain.is_empty() || plain.ends_with(|c: char| c.is_whitespace() || c == '(');
        if ch == '`' {
            let run = rest.chars().take_while(|&c| c == '`').count();
            let ticks = &rest[..run];
            if let Some(end) = rest[run..].find(ticks) {
                let code = &rest[run..run + end];
                if !code.is_empty() {
                    flush(&mut plain, &mut out);
                    out.push(text_node(code, vec![json!({"type": "code"})]));
                    rest = &rest[run + end + run..];
                    continue;
                }
            }
            plain.push_str(ticks);
            rest = &rest[run..];
            continue;
        }
        if let Some(inner) = rest.strip_prefix("**") {
            if let Some(end) = inner.find("**").filter(|&end| end > 0) {
                flush(&mut plain, &mut out);
                out.push(text_node(&inner[..end], vec![json!({"type": "strong"})]));
                rest = &inner[end + 2..];
                continue;
            }
        }
        if ch == '[' {
            if mentions {
                if let Some((id, len)) = mention_token(rest) {
                    flush(&mut plain, &mut out);
                    out.push(json!({"type": "mention", "attrs": {"id": id}}));
                    rest = &rest[len..];
                    continue;
                }
            }
            if let Some((text, url, len)) = markdown_link(rest) {
                flush(&mut plain, &mut out);
                out.push(text_node(
                    text,
                    vec![json!({"type": "link", "attrs": {"href": url}})],
                ));
                rest = &rest[len..];
                continue;
            }
        }
        if at_word_start && (rest.starts_with("https://") || rest.starts_with("http://")) {
            let end = rest
                .find(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '"' | '`'))
                .unwrap_or(rest.len());
            let url = rest[..end].trim_end_matches(['.', ',', ';', ':', '!', '?', ')']);
            if url.len() > "https://".len() {
                flush(&mut plain, &mut out);
                out.push(text_node(
                    url,
                    vec![json!({"type": "link", "attrs": {"href": url}})],
                ));
                rest = &rest[url.len()..];
                continue;
            }
        }
        plain.push(ch);
        rest = &rest[ch.len_utf8()..];
    }
    flush(&mut plain, &mut out);
    out
}

/// `[~accountid:<id>]` at the start of `text`: the id and the token's length.
fn mention_token(text: &str) -> Option<(&str, usize)> {
    let inner = text.strip_prefix("[~accountid:")?;
    let end = inner.find(']')?;
    let id = &inner[..end];
    let valid = !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b':' || b == b'-' || b == b'_');
    valid.then_some((id, "[~accountid:".len() + end + 1))
}

/// `[text](http…)` at the start of `text`: link text, URL and total length.
fn markdown_link(text: &str) -> Option<(&str, &str, usize)> {
    let close = text.find("](")?;
    let label = &text[1..close];
    if label.is_empty() || label.contains('[') {
        return None;
    }
    let after = &text[close + 2..];
    let end = after.find(')')?;
    let url = after[..end].trim();
    let allowed = url.starts_with("https://") || url.starts_with("http://") || url.starts_with("mailto:");
    (allowed && !url.contains(char::is_whitespace)).then_some((label, url, close + 2 + end + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn para(content: Value) -> Value {
        json!({"type": "paragraph", "content": content})
    }

    #[test]
    fn a_markdown_task_list_becomes_jira_action_items() {
        let doc = from_markdown(
            "Working:\n\n- [x] Explore\n- [ ] Change (in progress)\n\nNow: thinking.",
            false,
        );
        let list = &doc["content"][1];
        assert_eq!(list["type"], "taskList");
        assert!(list["attrs"]["localId"].as_str().is_some_and(|id| !id.is_empty()));
        let items = list["content"].as_array().unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(items[0]["type"], "taskItem");
        assert_eq!(items[0]["attrs"]["state"], "DONE");
        assert_eq!(items[0]["content"], json!([{"type": "text", "text": "Explore"}]));
        assert_eq!(items[1]["attrs"]["state"], "TODO");
        assert_eq!(doc["content"][2]["type"], "paragraph");
    }

    #[test]
    fn flattens_adf_with_mentions_quotes_and_code() {
        let doc = json!({"type": "doc", "version": 1, "content": [
            para(json!([
                {"type": "mention", "attrs": {"id": "bot-1", "text": "@OpenHands"}},
                {"type": "text", "text": " please fix "},
                {"type": "text", "text": "the docs", "marks": [{"type": "link", "attrs": {"href": "https://github.com/octo/hello"}}]},
            ])),
            {"type": "blockquote", "content": [para(json!([{"type": "text", "text": "@openhands old request"}]))]},
            {"type": "codeBlock", "content": [{"type": "text", "text": "@openhands in code"}]},
            {"type": "bulletList", "content": [{"type": "listItem", "content": [para(json!([{"type": "text", "text": "item", "marks": [{"type": "code"}]}]))]}]},
        ]});
        let token = body_text(&doc, MentionStyle::Token);
        assert!(
            token.starts_with("[~accountid:bot-1] please fix the docs (https://github.com/octo/hello)"),
            "{token}"
        );
        assert!(token.contains("> @openhands old request"), "{token}");
        assert!(token.contains("```\n@openhands in code\n```"), "{token}");
        assert!(token.contains("- `item`"), "{token}");
        let display = body_text(&doc, MentionStyle::Display);
        assert!(display.starts_with("@OpenHands please fix"), "{display}");
        assert_eq!(
            body_text(&json!("plain @openhands"), MentionStyle::Token),
            "plain @openhands"
        );
        assert_eq!(body_text(&Value::Null, MentionStyle::Token), "");
    }

    #[test]
    fn hostile_nesting_is_bounded() {
        let mut doc = json!({"type": "text", "text": "deep"});
        for _ in 0..100 {
            doc = json!({"type": "blockquote", "content": [doc]});
        }
        let text = body_text(&json!({"type": "doc", "content": [doc]}), MentionStyle::Token);
        assert!(!text.contains("deep"));
    }

    #[test]
    fn markdown_becomes_adf() {
        let doc = from_markdown(
            "✅ Done.\n\n## Changes\n- fixed `main`\n- see [PR](https://github.com/o/r/pull/1)\n\n```rust\nfn x() {}\n```\nPull request: https://github.com/o/r/pull/1.\n> quoted\n---",
            false,
        );
        assert_eq!(doc["type"], "doc");
        assert_eq!(doc["version"], 1);
        let content = doc["content"].as_array().expect("content");
        let kinds: Vec<&str> = content.iter().map(|n| n["type"].as_str().unwrap_or("")).collect();
        assert_eq!(
            kinds,
            [
                "paragraph",
                "heading",
                "bulletList",
                "codeBlock",
                "paragraph",
                "blockquote",
                "rule"
            ]
        );
        assert_eq!(content[1]["attrs"]["level"], 2);
        let items = content[2]["content"].as_array().expect("items");
        assert_eq!(items[0]["content"][0]["content"][1]["marks"][0]["type"], "code");
        assert_eq!(
            items[1]["content"][0]["content"][1]["marks"][0]["attrs"]["href"],
            "https://github.com/o/r/pull/1"
        );
        assert_eq!(content[3]["attrs"]["language"], "rust");
        assert_eq!(content[3]["content"][0]["text"], "fn x() {}");
        let link = &content[4]["content"][1];
        assert_eq!(link["text"], "https://github.com/o/r/pull/1");
        assert_eq!(content[4]["content"][2]["text"], ".");
    }

    #[test]
    fn mentions_only_when_asked() {
        let with = from_markdown("[~accountid:abc-1] hi **there**", true);
        assert_eq!(with["content"][0]["content"][0]["type"], "mention");
        assert_eq!(with["content"][0]["content"][0]["attrs"]["id"], "abc-1");
        assert_eq!(with["content"][0]["content"][2]["marks"][0]["type"], "strong");
        let without = from_markdown("[~accountid:abc-1] hi", false);
        assert_eq!(without["content"][0]["content"][0]["type"], "text");
        // Links only to http(s) and mailto.
        let js = from_markdown("[x](javascript:alert(1))", false);
        assert!(js["content"][0]["content"][0].get("marks").is_none());
    }

    #[test]
    fn long_markdown_is_cut() {
        let doc = from_markdown(&"x".repeat(40_000), false);
        let text = doc["content"][0]["content"][0]["text"].as_str().expect("text");
        assert!(text.chars().count() < MAX_COMMENT_CHARS);
        assert!(doc.to_string().contains("(truncated)"));
    }
}
