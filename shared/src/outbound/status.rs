//! The status message as every provider handles it: a body carrying the hidden marker tag within the
//! provider's size limit, found again among the thread's messages (only among our own: anyone can paste a
//! marker into theirs), and edited through the id its [`StatusRef`] holds.

use std::{ops::ControlFlow, str::FromStr};

use super::body::{fit, status_tag};
use crate::{domain::StatusRef, error::PortError};

/// How one provider tags and bounds its status messages.
#[derive(Clone, Copy)]
pub(crate) struct StatusFormat {
    /// Names the marker check in errors (`GitHub status marker`).
    pub(crate) check: &'static str,
    /// Most characters a message may hold, tag included.
    pub(crate) max_chars: usize,
}

impl StatusFormat {
    /// The tag hidden in the status message for `marker`, after checking the marker.
    pub(crate) fn tag(&self, marker: &str) -> Result<String, PortError> {
        status_tag(marker, self.check)
    }

    /// The status message's body: `text`, cut to the limit, then the tag for `marker`.
    pub(crate) fn body(&self, marker: &str, text: &str) -> Result<String, PortError> {
        let tag = self.tag(marker)?;
        Ok(fit(text, self.max_chars, Some(&tag)))
    }
}

/// Whether a message is the status message tagged `tag`: one of our own (`own`) whose body carries the tag.
pub(crate) fn is_status(own: bool, body: Option<&str>, tag: &str) -> bool {
    own && body.is_some_and(|body| body.contains(tag))
}

/// A scan's step over `item`: stop with it when it is the one looked for (`found`), else go on.
pub(crate) fn stop_at<T>(item: T, found: bool) -> ControlFlow<T> {
    if found {
        ControlFlow::Break(item)
    } else {
        ControlFlow::Continue(())
    }
}

/// The provider's id held in `status`; one that does not parse is permanent for `what`, worded
/// `status id "…" is not a {kind}`.
pub(crate) fn status_id<T: FromStr>(status: &StatusRef, what: &str, kind: &str) -> Result<T, PortError> {
    status
        .id
        .parse()
        .map_err(|_| PortError::permanent(what, format!("status id {:?} is not a {kind}", status.id)))
}

/// An edit's outcome: done, or the status message is gone (a 404 or 410 as [`PortError::NotFound`] naming
/// `gone`), or the error as it came.
pub(crate) fn edited<T>(
    result: Result<T, PortError>,
    gone: impl FnOnce() -> String,
) -> Result<(), PortError> {
    match result {
        Ok(_) => Ok(()),
        Err(err) if matches!(err.status(), Some(404 | 410)) => Err(PortError::not_found(gone())),
        Err(err) => Err(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FORMAT: StatusFormat = StatusFormat {
        check: "test status marker",
        max_chars: 100,
    };

    #[test]
    fn bodies_carry_the_tag_within_the_limit() {
        let tag = FORMAT.tag("run:1").expect("usable");
        assert_eq!(
            FORMAT.body("run:1", "hi").expect("usable"),
            format!("hi\n\n{tag}")
        );
        let long = FORMAT.body("run:1", &"x".repeat(500)).expect("usable");
        assert_eq!(long.chars().count(), 100);
        assert!(long.ends_with(&tag));
        assert!(FORMAT.body("a b", "hi").is_err());
    }

    #[test]
    fn only_own_tagged_messages_are_the_status() {
        assert!(is_status(
            true,
            Some("x\n\n<!-- hookline:m -->"),
            "<!-- hookline:m -->"
        ));
        assert!(!is_status(
            false,
            Some("<!-- hookline:m -->"),
            "<!-- hookline:m -->"
        ));
        assert!(!is_status(true, None, "<!-- hookline:m -->"));
        assert_eq!(stop_at(3, true), ControlFlow::Break(3));
        assert_eq!(stop_at(3, false), ControlFlow::Continue(()));
    }

    #[test]
    fn status_ids_parse_or_say_what_they_are_not() {
        let status = |id: &str| StatusRef {
            id: id.to_owned(),
            url: None,
        };
        assert_eq!(status_id::<u64>(&status("42"), "t", "note id").ok(), Some(42));
        let err = status_id::<u64>(&status("x"), "t", "note id").expect_err("not a number");
        assert!(
            matches!(&err, PortError::Permanent { detail, .. } if detail == "status id \"x\" is not a note id"),
            "{err:?}"
        );
    }
}
