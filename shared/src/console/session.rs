//! The console's browser session: one signed cookie, no server-side state, so both hosts (and every Lambda
//! instance) agree on it with only the session key.
//!
//! The cookie is `{nonce}.{operator_until}.{mac}`: a random nonce, the epoch second until which the browser is
//! signed in as an operator (0: not signed in) and an HMAC-SHA256 over both with the session key. Forms carry a
//! CSRF token derived from the nonce with the same key, so a page of another site can neither read nor forge
//! it; signing in issues a new nonce, so a nonce planted before sign-in is worth nothing after.

use crate::{
    secret::SecretString,
    verify::{constant_time_eq, random_hex, sign_hex},
};

/// The cookie's name.
pub const COOKIE: &str = "hookline_console";

/// A browser's session, verified or new.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    nonce: String,
    operator_until: u64,
}

impl Session {
    /// A new session that is not signed in.
    pub fn anonymous() -> Self {
        Self {
            nonce: random_nonce(),
            operator_until: 0,
        }
    }

    /// A new session signed in as an operator until `until` (epoch s).
    pub fn operator(until: u64) -> Self {
        Self {
            nonce: random_nonce(),
            operator_until: until,
        }
    }

    /// The session a `Cookie` header carries, if its MAC verifies under `key`.
    pub fn from_cookie_header(header: Option<&str>, key: &SecretString) -> Option<Self> {
        let value = header?
            .split(';')
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(name, _)| *name == COOKIE)?
            .1;
        let mut parts = value.split('.');
        let (nonce, until, mac) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || nonce.len() != 32 || !nonce.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let operator_until = until.parse().ok()?;
        let expected = sign(key, &format!("session|{nonce}|{operator_until}"));
        constant_time_eq(expected.as_bytes(), mac.as_bytes()).then(|| Self {
            nonce: nonce.to_owned(),
            operator_until,
        })
    }

    /// Whether this session is signed in as an operator at `now`.
    pub fn is_operator(&self, now: u64) -> bool {
        now < self.operator_until
    }

    /// The `Set-Cookie` value for this session, scoped to the console's `path`, kept `max_age` seconds.
    pub fn set_cookie(&self, key: &SecretString, path: &str, max_age: u64) -> String {
        let mac = sign(key, &format!("session|{}|{}", self.nonce, self.operator_until));
        format!(
            "{COOKIE}={}.{}.{mac}; Path={path}; Max-Age={max_age}; HttpOnly; Secure; SameSite=Strict",
            self.nonce, self.operator_until
        )
    }

    /// The token every form of this session carries.
    pub fn csrf_token(&self, key: &SecretString) -> String {
        sign(key, &format!("csrf|{}", self.nonce))
    }

    /// Whether `token` is this session's CSRF token (compared in constant time).
    pub fn csrf_matches(&self, key: &SecretString, token: Option<&str>) -> bool {
        token.is_some_and(|token| constant_time_eq(self.csrf_token(key).as_bytes(), token.as_bytes()))
    }

    /// A `state` for a round trip through another site (GitHub's App registration) that only this session can
    /// bring back: `{issued}.{mac}`, the MAC over `purpose`, this session's nonce and the time issued.
    pub fn round_trip_state(&self, key: &SecretString, purpose: &str, now: u64) -> String {
        let mac = sign(key, &format!("state|{purpose}|{}|{now}", self.nonce));
        format!("{now}.{mac}")
    }

    /// Whether `state` is one [`Self::round_trip_state`] issued for `purpose` to this session at most `ttl`
    /// seconds before `now`.
    pub fn round_trip_matches(
        &self,
        key: &SecretString,
        purpose: &str,
        state: &str,
        now: u64,
        ttl: u64,
    ) -> bool {
        let Some((issued, mac)) = state.split_once('.') else {
            return false;
        };
        let Ok(issued_at) = issued.parse::<u64>() else {
            return false;
        };
        let expected = sign(key, &format!("state|{purpose}|{}|{issued_at}", self.nonce));
        issued_at <= now && now - issued_at <= ttl && constant_time_eq(expected.as_bytes(), mac.as_bytes())
    }
}

/// 128 random bits as 32 hex digits.
pub fn random_nonce() -> String {
    random_hex(16)
}

/// 256 random bits as 64 hex digits: a new operator token or session key.
pub fn random_key() -> String {
    random_hex(32)
}

fn sign(key: &SecretString, message: &str) -> String {
    sign_hex(key.expose().as_bytes(), message.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SecretString {
        SecretString::new("k".repeat(64))
    }

    fn cookie_header(set_cookie: &str) -> String {
        set_cookie.split(';').next().unwrap().to_owned()
    }

    #[test]
    fn a_session_survives_its_cookie_and_nothing_else_does() {
        let session = Session::operator(2_000);
        let header = format!(
            "other=1; {}",
            cookie_header(&session.set_cookie(&key(), "/console", 60))
        );
        let back = Session::from_cookie_header(Some(&header), &key()).unwrap();
        assert_eq!(back, session);
        assert!(back.is_operator(1_999));
        assert!(!back.is_operator(2_000));
        // Another key, an edited expiry, a truncated MAC: not a session.
        assert_eq!(
            Session::from_cookie_header(Some(&header), &SecretString::new("other")),
            None
        );
        let edited = header.replace(".2000.", ".9999.");
        assert_eq!(Session::from_cookie_header(Some(&edited), &key()), None);
        assert_eq!(
            Session::from_cookie_header(Some(&header[..header.len() - 1]), &key()),
            None
        );
        assert_eq!(Session::from_cookie_header(None, &key()), None);
        assert_eq!(
            Session::from_cookie_header(Some("hookline_console=a.b.c"), &key()),
            None
        );
    }

    #[test]
    fn csrf_tokens_belong_to_one_session() {
        let (one, two) = (Session::anonymous(), Session::anonymous());
        assert!(!one.is_operator(0));
        let token = one.csrf_token(&key());
        assert!(one.csrf_matches(&key(), Some(&token)));
        assert!(!two.csrf_matches(&key(), Some(&token)));
        assert!(!one.csrf_matches(&key(), None));
        assert!(!one.csrf_matches(&key(), Some("")));
    }

    #[test]
    fn a_round_trip_state_comes_back_only_to_its_session_for_its_purpose_in_time() {
        let (session, other) = (Session::operator(100), Session::operator(100));
        let state = session.round_trip_state(&key(), "app", 1_000);
        assert!(session.round_trip_matches(&key(), "app", &state, 1_000 + 3_600, 3_600));
        assert!(
            !session.round_trip_matches(&key(), "app", &state, 1_000 + 3_601, 3_600),
            "expired"
        );
        assert!(
            !other.round_trip_matches(&key(), "app", &state, 1_000, 3_600),
            "another session's"
        );
        assert!(
            !session.round_trip_matches(&key(), "link", &state, 1_000, 3_600),
            "another purpose"
        );
        assert!(!session.round_trip_matches(&SecretString::from("other key"), "app", &state, 1_000, 3_600));
        let (_, mac) = state.split_once('.').unwrap();
        let moved = format!("2000.{mac}");
        assert!(
            !session.round_trip_matches(&key(), "app", &moved, 2_000, 3_600),
            "issued time is signed"
        );
        for junk in ["", ".", "x.y", "1000", "1000."] {
            assert!(
                !session.round_trip_matches(&key(), "app", junk, 1_000, 3_600),
                "{junk:?}"
            );
        }
    }

    #[test]
    fn the_cookie_is_http_only_secure_and_same_site() {
        let cookie = Session::anonymous().set_cookie(&key(), "/prod/console", 60);
        for attribute in [
            "Path=/prod/console",
            "HttpOnly",
            "Secure",
            "SameSite=Strict",
            "Max-Age=60",
        ] {
            assert!(cookie.contains(attribute), "{cookie}");
        }
    }
}
