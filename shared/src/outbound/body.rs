//! What goes into the bodies Hookline posts: the hidden marker that lets a status message be found again after
//! a crash (and keeps Hookline's own text out of prompts), and text cut to the remote's size limit with a
//! visible note.

use crate::error::PortError;

/// Start of the marker hidden in Hookline's Markdown messages: `<!-- hookline:{marker} -->`.
pub(crate) const MARKER_PREFIX: &str = "<!-- hookline:";

const MAX_MARKER_LEN: usize = 200;
const TRUNCATION_NOTE: &str = "\n\n… (truncated)";

/// The marker hidden in a status message: `<!-- hookline:{marker} -->`.
pub(crate) fn marker_tag(marker: &str) -> String {
    format!("{MARKER_PREFIX}{marker} -->")
}

/// `marker`, after checking it is short, has no whitespace or control characters, and cannot end the HTML
/// comment it is hidden in early. `what` names the check in the error.
pub(crate) fn checked_marker<'m>(marker: &'m str, what: &str) -> Result<&'m str, PortError> {
    let valid = !marker.is_empty()
        && marker.len() <= MAX_MARKER_LEN
        && !marker.contains("--")
        && !marker
            .chars()
            .any(|c| c == '<' || c == '>' || c.is_whitespace() || c.is_control());
    if valid {
        Ok(marker)
    } else {
        Err(PortError::permanent(what, format!("unusable marker {marker:?}")))
    }
}

/// The marker tag for `marker`, after [`checked_marker`].
pub(crate) fn status_tag(marker: &str, what: &str) -> Result<String, PortError> {
    checked_marker(marker, what).map(marker_tag)
}

/// `text`, then `tag` (if any) after a blank line, in at most `max_chars` characters: text beyond the limit is
/// cut with a visible note; the tag always survives.
pub(crate) fn fit(text: &str, max_chars: usize, tag: Option<&str>) -> String {
    let suffix = tag.map(|tag| format!("\n\n{tag}")).unwrap_or_default();
    let budget = max_chars - suffix.chars().count();
    if text.chars().count() <= budget {
        return format!("{text}{suffix}");
    }
    let kept: String = text
        .chars()
        .take(budget - TRUNCATION_NOTE.chars().count())
        .collect();
    format!("{kept}{TRUNCATION_NOTE}{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_bodies_are_cut_but_keep_the_tag() {
        let tag = marker_tag("m1");
        let body = fit(&"x".repeat(70_000), 65_536, Some(&tag));
        assert_eq!(body.chars().count(), 65_536);
        assert!(body.ends_with(&format!("(truncated)\n\n{tag}")));
        assert_eq!(fit("hi", 100, Some(&tag)), format!("hi\n\n{tag}"));
        assert_eq!(fit("hi", 100, None), "hi");
        let cut = fit(&"y".repeat(200), 100, None);
        assert_eq!(cut.chars().count(), 100);
        assert!(cut.ends_with("(truncated)"));
    }

    #[test]
    fn markers_that_could_break_out_are_refused() {
        assert_eq!(checked_marker("run-abc:1", "t").ok(), Some("run-abc:1"));
        for bad in ["", "a-->", "a b", "a>b", "a<b", "a\u{7}b"] {
            assert!(checked_marker(bad, "t").is_err(), "{bad:?}");
        }
        assert!(checked_marker(&"m".repeat(201), "t").is_err());
    }
}
