//! The console's sign-ins with GitHub: people linking themselves ([`linking`]) and operators.

use super::{
    app_setup, content_security_policy, form_field, linking, pages, AnswerSession, ConsoleError, Query,
    Visit, LINK_RETURN, OPERATOR_STATE, SIGN_IN_TTL_SECS,
};
use crate::{
    console::session::Session,
    handlers::webhook::Handled,
    invite::{Invitation, InviteError},
    secret::SecretString,
};

impl Visit<'_> {
    /// The invitation a request names (`invite`), with the setup and linking this host needs for it.
    async fn invitation(
        &self,
        token: &str,
    ) -> Result<(Invitation, &app_setup::AppSetup, &linking::Linking), ConsoleError> {
        let (Some(setup), Some(linking)) = (&self.console.setup, &self.console.linking) else {
            return Err(ConsoleError::NotFound);
        };
        let invitation = Invitation::from_token(token, self.key, self.now).map_err(|err| match err {
            InviteError::Forged => ConsoleError::BadRequest("This link is not one Hookline made."),
            InviteError::Expired => {
                ConsoleError::BadRequest("This link has expired. Mention Hookline again for a new one.")
            }
        })?;
        Ok((invitation, setup, linking))
    }

    /// Public URL of the sign-in's way back.
    fn link_callback(&self, setup: &app_setup::AppSetup) -> String {
        format!(
            "{}/console{LINK_RETURN}",
            setup.public_base(&self.origin(), self.base)
        )
    }

    pub(super) async fn link_start(
        &self,
        session: &Session,
    ) -> Result<(Handled, AnswerSession), ConsoleError> {
        let query = Query::parse(self.request.query);
        let token = query.get("invite").unwrap_or_default();
        let (invitation, setup, _) = self.invitation(token).await?;
        let client_id = match linking::signs_in(invitation.provider) {
            true => linking::client_id(setup, self.console.secrets.as_ref()).await?,
            false => None,
        };
        let purpose = format!("link|{}", invitation.nonce);
        let sign_in = client_id.map(|client_id| {
            let state = format!(
                "{token}~{}",
                session.round_trip_state(self.key, &purpose, self.now)
            );
            linking::github_authorize_url(setup, &client_id, &self.link_callback(setup), &state)
        });
        let frame = self.frame(session);
        let (mut handled, keep) = self.page(pages::link_start(&frame, &invitation, sign_in.as_deref()));
        // The sign-in is a link, not a form; nothing here posts elsewhere.
        handled.reply = handled
            .reply
            .with_header("content-security-policy", content_security_policy("'self'"));
        Ok((handled, keep))
    }

    /// Where an operator signs in with GitHub, when operators are listed and the App can sign people in.
    pub(super) async fn operator_sign_in(&self, session: &Session) -> Option<String> {
        let setup = self.console.setup.as_ref()?;
        if self.console.settings.operators.is_empty() {
            return None;
        }
        let client_id = linking::client_id(setup, self.console.secrets.as_ref())
            .await
            .ok()??;
        let state = format!(
            "{OPERATOR_STATE}{}",
            session.round_trip_state(self.key, "operator", self.now)
        );
        Some(linking::github_authorize_url(
            setup,
            &client_id,
            &self.link_callback(setup),
            &state,
        ))
    }

    /// Back from an operator's sign-in with GitHub: an operator session for a listed account.
    pub(super) async fn operator_signed_in(
        &self,
        session: &Session,
        state: &str,
    ) -> Result<(Handled, AnswerSession), ConsoleError> {
        let Some(setup) = &self.console.setup else {
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
        let account = linking::github_account(
            setup,
            self.console.secrets.as_ref(),
            &code,
            &self.link_callback(setup),
        )
        .await
        .map_err(sign_in_refused)?;
        let operators = &self.console.settings.operators;
        let listed = operators.contains(&account.login.to_ascii_lowercase())
            || operators.contains(&account.id.to_string());
        if !listed {
            tracing::warn!(login = %account.login, "console sign-in by a GitHub account that is no operator");
            return Err(ConsoleError::Forbidden(
                "That GitHub account is not one of this console's operators.",
            ));
        }
        tracing::info!(login = %account.login, "operator signed in to the console with GitHub");
        self.signed_in_as_operator().await
    }

    /// Back from signing in: the account must be the invited one; then the key form.
    pub(super) async fn link_signed_in(
        &self,
        session: &Session,
    ) -> Result<(Handled, AnswerSession), ConsoleError> {
        let state = form_field(self.request.body, "state").unwrap_or_default();
        let (token, round_trip) = state.split_once('~').unwrap_or_default();
        let (invitation, setup, _) = self.invitation(token).await?;
        let purpose = format!("link|{}", invitation.nonce);
        if !session.round_trip_matches(self.key, &purpose, round_trip, self.now, SIGN_IN_TTL_SECS) {
            tracing::warn!("link sign-in refused: its state is not this session's, or too old");
            return Err(ConsoleError::BadRequest(
                "This sign-in was not started from this browser, or is over an hour old. Open the link again.",
            ));
        }
        let code = form_field(self.request.body, "code").unwrap_or_default();
        let callback = self.link_callback(setup);
        linking::invited_account(
            setup,
            self.console.secrets.as_ref(),
            &invitation,
            &code,
            &callback,
        )
        .await
        .map_err(sign_in_refused)?;
        let grant = session.round_trip_state(self.key, &format!("granted|{}", invitation.nonce), self.now);
        let (_, _, linking) = self.invitation(token).await?;
        let current = linking::current_link(linking, &invitation).await?;
        let frame = self.frame(session);
        Ok(self.page(pages::link_key_form(
            &frame,
            &invitation,
            token,
            &grant,
            current.as_ref(),
        )))
    }

    /// The invitation a signed-in form names, when this session signed in for it lately.
    async fn granted(
        &self,
        session: &Session,
    ) -> Result<(Invitation, &app_setup::AppSetup, &linking::Linking), ConsoleError> {
        let token = form_field(self.request.body, "invite").unwrap_or_default();
        let (invitation, setup, linking) = self.invitation(&token).await?;
        let grant = form_field(self.request.body, "grant").unwrap_or_default();
        let granted = format!("granted|{}", invitation.nonce);
        if !session.round_trip_matches(self.key, &granted, &grant, self.now, linking::GRANT_TTL_SECS) {
            return Err(ConsoleError::BadRequest(
                "Sign in again: this form belongs to another sign-in, or waited too long.",
            ));
        }
        Ok((invitation, setup, linking))
    }

    pub(super) async fn link_remove(
        &self,
        session: &Session,
    ) -> Result<(Handled, AnswerSession), ConsoleError> {
        let (invitation, setup, linking) = self.granted(session).await?;
        linking::unlink(
            linking,
            setup,
            &self.console.settings.link_secret_prefix,
            &invitation,
        )
        .await?;
        let frame = self.frame(session);
        Ok(self.page(pages::unlinked(&frame, &invitation)))
    }

    pub(super) async fn link_key(&self, session: &Session) -> Result<(Handled, AnswerSession), ConsoleError> {
        let (invitation, setup, linking) = self.granted(session).await?;
        let user = form_field(self.request.body, "openhands_user").unwrap_or_default();
        let key = form_field(self.request.body, "api_key").unwrap_or_default();
        let (user, key) = (user.trim(), key.trim());
        if user.is_empty() || key.is_empty() || user.len() > 200 || key.len() > 4096 {
            return Err(ConsoleError::BadRequest("Enter your OpenHands user and API key."));
        }
        if !linking::link(
            linking,
            setup,
            &self.console.settings.link_secret_prefix,
            &invitation,
            user,
            SecretString::new(key),
            self.now,
        )
        .await?
        {
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
            ConsoleError::BadRequest("GitHub did not accept this sign-in. Start again.")
        }
        linking::SignInError::OtherAccount { .. } => ConsoleError::Forbidden(
            "You signed in as another GitHub account than the one this link was made for.",
        ),
        linking::SignInError::Unavailable => ConsoleError::NotFound,
        linking::SignInError::Store(err) => ConsoleError::Store(err),
    }
}
