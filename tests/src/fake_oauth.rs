//! The sign-in side every fake provider shares (OAuth 2.0 authorization code), served at the provider's own
//! [`SignInRoutes`] by [`OAuthDesk::route`] once [`OAuthDesk::enable`]d:
//! - `GET <authorize>?client_id=&redirect_uri=&state=` answers, for the account [`OAuthDesk::sign_in_as`] set,
//!   a page whose "Authorize" link (`#authorize`) goes to `redirect_uri` with a one-time code and the state;
//!   401 when nobody is signed in, 404 for another client id.
//! - `POST <token>` (JSON or form: `client_id`, a `client_secret` it accepts, `code`) answers
//!   `{access_token, token_type}`; a used or unknown code, or wrong client credentials, `200 {"error": …}` as
//!   GitHub does (GitLab answers 400; Hookline treats both as a refused sign-in).
//! - The user endpoint, with a `Bearer` user token: the account, in the provider's words (the caller writes it).

use std::collections::HashMap;

use axum::{
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use serde_json::{json, Value};

use crate::fake_core::{query_map, Incoming};

/// A signed-in account: login and id (as the provider writes it; a number for GitHub and GitLab).
pub type Account = (String, String);

/// Where a provider serves its sign-in: the authorize page, the token exchange, and the user endpoint
/// (method, path).
pub struct SignInRoutes {
    pub authorize: &'static str,
    pub token: &'static str,
    pub user: (&'static str, &'static str),
}

#[derive(Default)]
pub struct OAuthDesk {
    /// The OAuth client signing people in, once [`OAuthDesk::enable`]d.
    client_id: Option<String>,
    /// The account signed in to the provider's web side.
    web_user: Option<Account>,
    client_secrets: Vec<String>,
    codes: HashMap<String, Account>,
    tokens: HashMap<String, Account>,
}

impl OAuthDesk {
    /// Sign people in for `client_id`, whose secret is `client_secret`.
    pub fn enable(&mut self, client_id: &str, client_secret: &str) {
        self.client_id = Some(client_id.to_owned());
        self.accept_client_secret(client_secret);
    }

    /// Answer `incoming` when it is one of `routes` (and the desk is enabled); `user` writes the user
    /// endpoint's answer for the signed-in account.
    pub fn route(
        &mut self,
        incoming: &Incoming,
        routes: &SignInRoutes,
        user: impl FnOnce(&Account) -> Value,
    ) -> Option<Response> {
        let client_id = self.client_id.clone()?;
        let (method, path) = (incoming.method.as_str(), incoming.uri.path());
        if method == "GET" && path == routes.authorize {
            return Some(self.authorize_page(incoming.uri.query(), &client_id));
        }
        if method == "POST" && path == routes.token {
            return Some(self.token(&incoming.body, &client_id));
        }
        if (method, path) == routes.user {
            return self
                .account(&incoming.headers)
                .map(|account| Json(user(&account)).into_response());
        }
        None
    }

    pub fn sign_in_as(&mut self, login: &str, id: impl ToString) {
        self.web_user = Some((login.to_owned(), id.to_string()));
    }

    fn accept_client_secret(&mut self, secret: &str) {
        self.client_secrets.push(secret.to_owned());
    }

    pub fn tokens_issued(&self) -> usize {
        self.tokens.len()
    }

    /// The authorize page for `client_id`'s sign-in (`query` is the request's).
    fn authorize_page(&mut self, query: Option<&str>, client_id: &str) -> Response {
        let query = query_map(query);
        let Some(account) = self.web_user.clone() else {
            return (StatusCode::UNAUTHORIZED, "Sign in first").into_response();
        };
        if query.get("client_id").map(String::as_str) != Some(client_id) {
            return (StatusCode::NOT_FOUND, "No such application").into_response();
        }
        let Some(redirect_uri) = query.get("redirect_uri") else {
            return (StatusCode::BAD_REQUEST, "redirect_uri is required").into_response();
        };
        let code = format!("usercode{}", self.codes.len() + self.tokens.len() + 1);
        self.codes.insert(code.clone(), account.clone());
        let mut back = format!("{redirect_uri}?code={code}");
        if let Some(state) = query.get("state") {
            back.push_str("&state=");
            back.push_str(&form_urlencoded::byte_serialize(state.as_bytes()).collect::<String>());
        }
        let page = format!(
            "<!doctype html><title>Authorize</title><h1>Authorize Hookline as {}</h1>\
             <a id=\"authorize\" href=\"{}\">Authorize</a>",
            escape(&account.0),
            escape(&back)
        );
        ([("content-type", "text/html; charset=utf-8")], page).into_response()
    }

    /// A code for a user token, once.
    fn token(&mut self, body: &[u8], client_id: &str) -> Response {
        let fields: HashMap<String, String> = match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(map)) => map
                .into_iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k, v.to_owned())))
                .collect(),
            _ => form_urlencoded::parse(body).into_owned().collect(),
        };
        let field = |name: &str| fields.get(name).map(String::as_str).unwrap_or_default();
        let secret = field("client_secret");
        let known = self.client_secrets.iter().any(|s| s == secret);
        if field("client_id") != client_id || !known {
            return Json(json!({ "error": "incorrect_client_credentials" })).into_response();
        }
        let Some(account) = self.codes.remove(field("code")) else {
            return Json(json!({ "error": "bad_verification_code" })).into_response();
        };
        let token = format!("oauth_user_token_{}", self.tokens.len() + 1);
        self.tokens.insert(token.clone(), account);
        Json(json!({ "access_token": token, "token_type": "bearer" })).into_response()
    }

    /// The account `headers`' `Bearer` user token belongs to.
    fn account(&self, headers: &HeaderMap) -> Option<Account> {
        let token = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("token ")))?;
        self.tokens.get(token).cloned()
    }
}

/// `text` safe inside HTML text and attribute values.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
