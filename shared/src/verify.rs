//! Webhook signature verification primitives. Every comparison is constant-time and runs over the raw body
//! bytes exactly as received (never a re-serialized JSON). Also the check on a delivery id a webhook sends.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Why a signature was not accepted (logged, never returned to the caller in detail).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("signature header missing")]
    Missing,
    #[error("signature header malformed")]
    Malformed,
    #[error("signature mismatch")]
    Mismatch,
}

impl SignatureError {
    pub fn reason(self) -> &'static str {
        match self {
            SignatureError::Missing => "signature header missing",
            SignatureError::Malformed => "signature header malformed",
            SignatureError::Mismatch => "signature mismatch",
        }
    }
}

/// Check `sig_hex` (hex digest, no prefix) against HMAC-SHA256(`secret`, `message`) in constant time.
pub fn hmac_sha256_hex(secret: &[u8], message: &[u8], sig_hex: &str) -> Result<(), SignatureError> {
    let mut expected = [0u8; 32];
    hex::decode_to_slice(sig_hex.trim(), &mut expected).map_err(|_| SignatureError::Malformed)?;
    let mut mac = HmacSha256::new_from_slice(secret).map_err(|_| SignatureError::Malformed)?;
    mac.update(message);
    mac.verify_slice(&expected).map_err(|_| SignatureError::Mismatch)
}

/// Verify a `sha256=<hex>` header (GitHub `X-Hub-Signature-256`, Jira `X-Hub-Signature`).
pub fn prefixed_sha256(secret: &[u8], body: &[u8], header: Option<&str>) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let hex_part = header.strip_prefix("sha256=").ok_or(SignatureError::Malformed)?;
    hmac_sha256_hex(secret, body, hex_part)
}

/// Longest delivery id accepted (providers send UUIDs and the like).
pub const MAX_DELIVERY_ID_LEN: usize = 128;

/// Whether `id` may serve as a delivery id: 1 to [`MAX_DELIVERY_ID_LEN`] ASCII letters, digits and bytes of the
/// provider's `punctuation`. Anything long or odd is refused before it reaches a key.
pub fn is_delivery_id(id: &str, punctuation: &[u8]) -> bool {
    !id.is_empty()
        && id.len() <= MAX_DELIVERY_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || punctuation.contains(&b))
}

/// `bytes` random bytes as hex digits (nonces, generated keys).
pub fn random_hex(bytes: usize) -> String {
    use rand::RngCore;
    let mut buffer = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buffer);
    hex::encode(buffer)
}

/// Lowercase hex HMAC-SHA256, for tests and for signing outgoing fixtures.
pub fn sign_hex(secret: &[u8], message: &[u8]) -> String {
    // new_from_slice never fails for HMAC (any key length is valid).
    let mut mac =
        HmacSha256::new_from_slice(secret).unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(message);
    hex::encode(mac.finalize().into_bytes())
}

/// Constant-time equality of two byte strings (e.g. shared tokens); lengths are not secret.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    const V1_SECRET: &[u8] = b"It's a Secret to Everybody";
    const V1_SIG: &str = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

    #[test]
    fn github_published_vector_v1() {
        assert_eq!(prefixed_sha256(V1_SECRET, b"Hello, World!", Some(V1_SIG)), Ok(()));
        assert_eq!(
            format!("sha256={}", sign_hex(V1_SECRET, b"Hello, World!")),
            V1_SIG
        );
    }

    #[test]
    fn github_computed_vector_v2() {
        let body = br#"{"action":"created","issue":{"number":1},"repository":{"full_name":"octo-org/hello"},"installation":{"id":42}}"#;
        let sig = "sha256=8584d6af9ed2291478330351150ba8f248254f7a9d24e2c9137f820dfc509954";
        assert_eq!(prefixed_sha256(b"gh-test-secret", body, Some(sig)), Ok(()));
    }

    #[test]
    fn tampering_is_rejected() {
        use SignatureError::{Malformed, Mismatch, Missing};
        let hello = b"Hello, World!";
        assert_eq!(
            prefixed_sha256(V1_SECRET, b"Hello, World?", Some(V1_SIG)),
            Err(Mismatch)
        );
        assert_eq!(
            prefixed_sha256(b"wrong secret", hello, Some(V1_SIG)),
            Err(Mismatch)
        );
        let sha1 = "sha1=01dc10d0c83e72ed246219cdd91669667fe2ca59";
        let truncated = &V1_SIG[..V1_SIG.len() - 2];
        let headers = [
            (None, Missing),
            (Some(sha1), Malformed),
            (Some("sha256=zz"), Malformed),
            (Some(truncated), Malformed),
            (Some(""), Malformed),
        ];
        for (header, error) in headers {
            assert_eq!(
                prefixed_sha256(V1_SECRET, hello, header),
                Err(error),
                "{header:?}"
            );
        }
    }

    #[test]
    fn delivery_ids_are_short_and_plain() {
        assert!(is_delivery_id("72d3162e-cc78-11e3-81ab-4c9367dc0958", b"-"));
        assert!(is_delivery_id("msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", b"-_:."));
        assert!(is_delivery_id(&"a".repeat(MAX_DELIVERY_ID_LEN), b"-"));
        assert!(!is_delivery_id(&"a".repeat(MAX_DELIVERY_ID_LEN + 1), b"-"));
        assert!(!is_delivery_id("", b"-"));
        assert!(!is_delivery_id("msg_1", b"-"));
        assert!(!is_delivery_id("a/../b", b"-_:."));
    }

    #[test]
    fn constant_time_eq_basics() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }
}
