//! Framework-neutral HTTP request/response, so the same handlers serve API Gateway (lambda_http) and the
//! local host (axum) without either framework's types entering the core.

/// An incoming request as the handlers see it: method, path, headers and the raw body bytes.
#[derive(Debug)]
pub struct HttpRequest<'a> {
    pub method: &'a str,
    pub path: &'a str,
    /// The query string after `?`, empty when there is none.
    pub query: &'a str,
    pub headers: &'a http::HeaderMap,
    pub body: &'a [u8],
}

impl HttpRequest<'_> {
    /// A header as UTF-8 text, if present and valid.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Parse a webhook body as JSON. JSON text is UTF-8 (RFC 8259), so the whole body is checked once up front
/// (a vectorised pass) and serde_json then reads it as `str` without validating each string and key again
/// (7.7 → 6.6 µs for the benchmark's 8.6 kB GitHub payload). A body that is not UTF-8 is malformed.
pub fn parse_json_body<'a, T: serde::Deserialize<'a>>(body: &'a [u8]) -> Option<T> {
    let text = std::str::from_utf8(body).ok()?;
    serde_json::from_str(text).ok()
}

/// A reply: status, content type, any further headers, and body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpReply {
    pub status: u16,
    pub content_type: &'static str,
    /// Further headers (lowercase names), e.g. a provider's "do not redeliver this".
    pub headers: &'static [(&'static str, &'static str)],
    /// Headers whose values are built per reply (`set-cookie`, `location`); empty on the webhook path.
    pub built_headers: Vec<(&'static str, String)>,
    pub body: ReplyBody,
}

impl HttpReply {
    pub fn text(status: u16, body: &'static str) -> Self {
        Self {
            status,
            content_type: "text/plain; charset=utf-8",
            headers: &[],
            built_headers: Vec::new(),
            body: ReplyBody::Static(body),
        }
    }
    pub fn owned_text(status: u16, body: String) -> Self {
        Self {
            body: ReplyBody::Owned(body),
            ..Self::text(status, "")
        }
    }
    pub fn json(status: u16, body: String) -> Self {
        Self {
            content_type: "application/json",
            ..Self::owned_text(status, body)
        }
    }
    pub fn html(status: u16, body: String) -> Self {
        Self {
            content_type: "text/html; charset=utf-8",
            ..Self::owned_text(status, body)
        }
    }
    /// `303 See Other` to `location` (after a form is handled, so a reload does not post it again).
    pub fn see_other(location: String) -> Self {
        Self::text(303, "").with_header("location", location)
    }
    /// The same reply with the header `name: value` added (a value that is not a valid header value is
    /// dropped when the reply is sent).
    pub fn with_header(mut self, name: &'static str, value: String) -> Self {
        self.built_headers.push((name, value));
        self
    }
    /// The same reply with `headers` added.
    pub fn with_headers(self, headers: &'static [(&'static str, &'static str)]) -> Self {
        Self { headers, ..self }
    }
    /// As an `http` response with the server's body type (axum's locally, lambda_http's behind API Gateway).
    pub fn into_response<B: From<&'static str> + From<String>>(self) -> http::Response<B> {
        let body = match self.body {
            ReplyBody::Static(text) => B::from(text),
            ReplyBody::Owned(text) => B::from(text),
        };
        let mut response = http::Response::new(body);
        *response.status_mut() =
            http::StatusCode::from_u16(self.status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
        let headers = response.headers_mut();
        headers.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static(self.content_type),
        );
        for (name, value) in self.headers {
            headers.insert(*name, http::HeaderValue::from_static(value));
        }
        for (name, value) in self.built_headers {
            if let Ok(value) = http::HeaderValue::try_from(value) {
                headers.append(name, value);
            }
        }
        response
    }
    pub fn body_str(&self) -> &str {
        match &self.body {
            ReplyBody::Static(s) => s,
            ReplyBody::Owned(s) => s,
        }
    }
}

/// Reply body: static text on the hot path, owned text where it is built.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReplyBody {
    Static(&'static str),
    Owned(String),
}

#[cfg(test)]
mod json_body_tests {
    use super::parse_json_body;

    #[derive(serde::Deserialize, Debug, PartialEq)]
    struct Sample {
        action: String,
    }

    #[test]
    fn parses_json_and_rejects_what_is_not_utf8_json() {
        let parsed: Option<Sample> = parse_json_body(br#"{"action":"created","extra":{"a":[1,2]}}"#);
        assert_eq!(parsed.map(|s| s.action).as_deref(), Some("created"));
        // Invalid UTF-8 even inside a field nobody reads.
        assert!(parse_json_body::<Sample>(b"{\"action\":\"created\",\"extra\":\"\xff\"}").is_none());
        assert!(parse_json_body::<Sample>(br#"{"action":"created""#).is_none());
        assert!(parse_json_body::<Sample>(b"").is_none());
    }
}
