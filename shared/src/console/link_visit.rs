//! The console's sign-ins with a provider: people linking themselves ([`linking`]), and operators with GitHub.

use super::{
    form_field, linking, pages, AnswerSession, ConsoleError, Query, Visit, OPERATOR_STATE, SIGN_IN_TTL_SECS,
};
use crate::{
    console::session::Session,
    domain::Provider,
    handlers::webhook::Handled,
    invite::{Invitation, InviteError},
    secret::SecretString,
    sign_in::OAuthApp,
};

impl Visit<'_> {
    /// The invitation a request names (`invite`), with the linking this host does.
    fn invitation(&self, token: &str) -> Result<(Invitation, &linking::Linking), ConsoleError> {
        let Some(linking) = &self.console.linking else {
            return Err(ConsoleError::NotFound);
        };
        let invitation = Invitation::from_token(token, self.key, self.now).map_err(|err| match err {
            InviteError::Forged => ConsoleError::BadRequest("This link is not one Hookline made."),
            InviteError::Expired => {
                ConsoleError::BadRequest("This link has expired. Mention Hookline again for a new one.")
            }
        })?;
        Ok((invitation, linking))
    }

    /// The OAuth application `provider`'s `tenant` signs people in with, if it has one.
    async fn oauth_app(&self, provider: Provider, tenant: &str) -> Result<Option<OAuthApp>, ConsoleError> {
        if provider == Provider::Github {
            return Ok(match &self.console.setup {
                Some(setup) => linking::github_app(setup, self.console.secrets.as_ref()).await?,
                None => None,
            });
        }
        Ok(self.console.linking.as_ref().and_then(|linking| {
            linking
                .apps
                .iter()
                .find(|app| app.serves(provider, tenant))
                .cloned()
        }))
    }

    /// Public URL of `provider`'s way back from a sign-in.
    fn sign_in_callback(&self, provider: Provider) -> String {
        format!(
            "{}/console/link/{}/callback",
            self.public_base(),
            provider.as_str()
        )
    }

    pub(super) async fn link_start(
        &self,
        session: &Session,
    ) -> Result<(Handled, AnswerSession), ConsoleError> {
        let query = Query::parse(self.request.query);
        let token = query.get("invite").unwrap_or_default();
        let (invitation, _) = self.invitation(token)?;
        let app = self.oauth_app(invitation.provider, &invitation.tenant).await?;
        let purpose = format!("link|{}", invitation.nonce);
        let sign_in = app.map(|app| {
            let state = format!(
                "{token}~{}",
                session.round_trip_state(self.key, &purpose, self.now)
            );
            linking::authorize_url(&app, &self.sign_in_callback(app.provider), &state)
        });
        let frame = self.frame(session);
        Ok(self.page(pages::link_start(&frame, &invitation, sign_in.as_deref())))
    }

    /// Where an operator signs in with GitHub, when operators are listed and the App can sign people in.
    pub(super) async fn operator_sign_in(&self, session: &Session) -> Option<String> {
        if self.console.settings.operators.is_empty() {
            return None;
        }
        let app = self.oauth_app(Provider::Github, "").await.ok()??;
        let state = format!(
            "{OPERATOR_STATE}{}",
            session.round_trip_state(self.key, "operator", self.now)
        );
        Some(linking::authorize_url(
            &app,
            &self.sign_in_callback(Provider::Github),
            &state,
        ))
    }

    /// Back from an operator's sign-in with GitHub: an operator session for a listed account.
    pub(super) async fn operator_signed_in(
        &self,
        session: &Session,
        state: &str,
    ) -> Result<(Handled, AnswerSession), ConsoleError> {
        let (Some(setup), Some(app)) = (&self.console.setup, self.oauth_app(Provider::Github, "").await?)
        else {
            return Err(ConsoleError::NotFound);
        };
        let round_trip = &state[OPERATOR_STATE.len()..];
        if !session.round_trip_matches(self.key, "operator", round_trip, self.now, SIGN_IN_TTL_SECS) {
            tracing::warn!("operator sign-in refused: its state is not this session's, or too old");
            return Err(ConsoleError::BadRequest(
                "This sign-in was not started from this browser, or is over an hour old. Sign in again.",
            ));
        }
        let code = form_field(self.request.body, "code").unwrap_or_default();
        let callback = self.sign_in_callback(Provider::Github);
        let account = linking::account(&setup.http, self.console.secrets.as_ref(), &app, &code, &callback)
            .await
            .map_err(sign_in_refused)?;
        let operators = &self.console.settings.operators;
        let listed =
            operators.contains(&account.login.to_ascii_lowercase()) || operators.contains(&account.id);
        if !listed {
            tracing::warn!(login = %account.login, "console sign-in by a GitHub account that is no operator");
            return Err(ConsoleError::Forbidden(
                "That GitHub account is not one of this console's operators.",
            ));
        }
        tracing::info!(login = %account.login, "operator signed in to the console with GitHub");
        self.signed_in_as_operator().await
    }

    /// Back from signing in with `provider`: the account must be the invited one; then the key form.
    pub(super) async fn link_signed_in(
        &self,
        session: &Session,
        provider: Provider,
    ) -> Result<(Handled, AnswerSession), ConsoleError> {
        let state = form_field(self.request.body, "state").unwrap_or_default();
        let (token, round_trip) = state.split_once('~').unwrap_or_default();
        let (invitation, linking) = self.invitation(token)?;
        let purpose = format!("link|{}", invitation.nonce);
        if invitation.provider != provider
            || !session.round_trip_matches(self.key, &purpose, round_trip, self.now, SIGN_IN_TTL_SECS)
        {
            tracing::warn!("link sign-in refused: its state is not this session's, or too old");
            return Err(ConsoleError::BadRequest(
                "This sign-in was not started from this browser, or is over an hour old. Open the link again.",
            ));
        }
        let app = self
            .oauth_app(invitation.provider, &invitation.tenant)
            .await?
            .ok_or(ConsoleError::NotFound)?;
        let code = form_field(self.request.body, "code").unwrap_or_default();
        let callback = self.sign_in_callback(provider);
        linking::invited_account(
            &linking.http,
            self.console.secrets.as_ref(),
            &app,
            &invitation,
            &code,
            &callback,
        )
        .await
        .map_err(sign_in_refused)?;
        let grant = session.round_trip_state(self.key, &format!("granted|{}", invitation.nonce), self.now);
        let current = linking::current_link(linking, &invitation).await?;
        let frame = self.frame(session);
        Ok(self.page(pages::link_key_form(
            &frame,
            &pages::KeyForm {
                invitation: &invitation,
                invite: token,
                grant: &grant,
                current: current.as_ref(),
                shared: linking.offered_identity(),
            },
        )))
    }

    /// The invitation a signed-in form names, when this session signed in for it lately.
    fn granted(&self, session: &Session) -> Result<(Invitation, &linking::Linking), ConsoleError> {
        let token = form_field(self.request.body, "invite").unwrap_or_default();
        let (invitation, linking) = self.invitation(&token)?;
        let grant = form_field(self.request.body, "grant").unwrap_or_default();
        let granted = format!("granted|{}", invitation.nonce);
        if !session.round_trip_matches(self.key, &granted, &grant, self.now, linking::GRANT_TTL_SECS) {
            return Err(ConsoleError::BadRequest(
                "Sign in again: this form belongs to another sign-in, or waited too long.",
            ));
        }
        Ok((invitation, linking))
    }

    pub(super) async fn link_remove(
        &self,
        session: &Session,
    ) -> Result<(Handled, AnswerSession), ConsoleError> {
        let (invitation, linking) = self.granted(session)?;
        linking::unlink(linking, &self.console.settings.link_secret_prefix, &invitation).await?;
        let frame = self.frame(session);
        Ok(self.page(pages::unlinked(&frame, &invitation)))
    }

    pub(super) async fn link_key(&self, session: &Session) -> Result<(Handled, AnswerSession), ConsoleError> {
        let (invitation, linking) = self.granted(session)?;
        let user = form_field(self.request.body, "openhands_user").unwrap_or_default();
        let key = form_field(self.request.body, "api_key").unwrap_or_default();
        let (user, key) = (user.trim(), key.trim());
        let to = if form_field(self.request.body, "shared").is_some() {
            let shared = linking.offered_identity().ok_or(ConsoleError::Forbidden(
                "This host does not offer a shared identity.",
            ))?;
            linking::LinkTo::Shared(shared)
        } else if user.is_empty() || key.is_empty() || user.len() > 200 || key.len() > 4096 {
            return Err(ConsoleError::BadRequest("Enter your OpenHands user and API key."));
        } else {
            linking::LinkTo::OwnKey {
                openhands_user: user,
                api_key: SecretString::new(key),
            }
        };
        let linked = linking::link(
            linking,
            &self.console.settings.link_secret_prefix,
            &invitation,
            to,
            self.now,
        )
        .await?;
        if !linked {
            return Err(ConsoleError::Conflict(
                "This link was used already. Mention Hookline again for a new one.",
            ));
        }
        let frame = self.frame(session);
        Ok(self.page(pages::link_done(&frame, &invitation)))
    }
}

/// What the person is told when a sign-in with the provider proved nothing.
fn sign_in_refused(err: linking::SignInError) -> ConsoleError {
    match err {
        linking::SignInError::Refused => {
            ConsoleError::BadRequest("The provider did not accept this sign-in. Start again.")
        }
        linking::SignInError::OtherAccount { .. } => {
            ConsoleError::Forbidden("You signed in as another account than the one this link was made for.")
        }
        linking::SignInError::Unavailable => ConsoleError::NotFound,
        linking::SignInError::Store(err) => ConsoleError::Store(err),
    }
}
