//! Framework-neutral HTTP request/response, so the same handlers serve API Gateway (lambda_http) and the
//! local host (axum) without either framework's types entering the core.

/// An incoming request as the handlers see it: method, path, headers and the raw body bytes.
#[derive(Debug)]
pub struct HttpRequest<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub headers: &'a http::HeaderMap,
    pub body: &'a [u8],
}

impl HttpRequest<'_> {
    /// A header as UTF-8 text, if present and valid.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A reply: status, content type and body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpReply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: ReplyBody,
}

impl HttpReply {
    pub fn text(status: u16, body: &'static str) -> Self {
        Self {
            status,
            content_type: "text/plain; charset=utf-8",
            body: ReplyBody::Static(body),
        }
    }
    pub fn json(status: u16, body: String) -> Self {
        Self {
            status,
            content_type: "application/json",
            body: ReplyBody::Owned(body),
        }
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
