//! How a provider signs a person in (OAuth 2.0 authorization code) so Hookline learns which account they are:
//! each provider describes its endpoints and the user fields; the console does the rest, the same for all.

use crate::domain::Provider;

/// One provider tenant's OAuth application.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OAuthApp {
    pub provider: Provider,
    pub tenant: String,
    /// Where the person is sent to sign in (`…/login/oauth/authorize`, `…/oauth/authorize`).
    pub authorize_url: String,
    /// Where the code is exchanged for a token.
    pub token_url: String,
    /// What the token reads to name the account.
    pub user_url: String,
    pub client_id: String,
    /// The secret holding the client secret.
    pub client_secret_name: String,
    /// Scopes to ask for (space-separated), if the provider needs any to read the account.
    pub scope: Option<&'static str>,
    /// More of the authorize URL's query, as the provider needs it (`audience=…&prompt=consent`).
    pub authorize_params: &'static str,
    /// The token request's body is JSON (else a form).
    pub token_json: bool,
    /// A GraphQL query POSTed to `user_url` (else the user is a GET of it).
    pub user_query: Option<&'static str>,
    /// JSON pointers to the account's stable id and handle in the user answer (`/id`, `/data/viewer/id`).
    pub id_field: &'static str,
    pub login_field: &'static str,
    /// Where the user answer names the tenant, when an account id alone does not say which (Slack's team).
    pub tenant_field: Option<&'static str>,
}

impl OAuthApp {
    /// Whether this app signs in people of `tenant` (`*`: of any, a distributed app's).
    pub fn serves(&self, provider: Provider, tenant: &str) -> bool {
        self.provider == provider && (self.tenant == "*" || self.tenant.eq_ignore_ascii_case(tenant))
    }
}
