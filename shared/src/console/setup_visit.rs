//! The console's GitHub App setup pages ([`app_setup`] does the registering).

use super::{
    app_setup, content_security_policy, form_field, pages, AnswerSession, ConsoleError, Query, Visit,
    SETUP_PURPOSE,
};
use crate::{console::session::Session, handlers::webhook::Handled};

impl Visit<'_> {
    pub(super) async fn setup(&self, session: &Session) -> Result<(Handled, AnswerSession), ConsoleError> {
        let frame = self.frame(session);
        let Some(setup) = &self.console.setup else {
            return Ok(self.page(pages::setup(&frame, &pages::SetupView::Unavailable)));
        };
        match setup.state(self.console.secrets.as_ref()).await? {
            app_setup::AppState::None => self.create_app(session, setup),
            app_setup::AppState::Configured { slug, .. } => Ok(self.page(pages::setup(
                &frame,
                &pages::SetupView::Configured { slug: &slug },
            ))),
            app_setup::AppState::Registered(app) => {
                Ok(self.page(pages::setup(&frame, &pages::SetupView::Registered(&app))))
            }
        }
    }

    /// The setup page's manifest forms, posting to GitHub (which this page's policy then allows).
    fn create_app(
        &self,
        session: &Session,
        setup: &app_setup::AppSetup,
    ) -> Result<(Handled, AnswerSession), ConsoleError> {
        let query = Query::parse(self.request.query);
        let organization = query.get("organization");
        if organization.is_some_and(|org| !app_setup::valid_organization(org)) {
            return Err(ConsoleError::BadRequest(
                "That is not a GitHub organization's login.",
            ));
        }
        let public = self.public_base();
        let console_url = format!("{public}/console");
        let manifest = setup.manifest(&public, &console_url);
        let state = session.round_trip_state(self.key, SETUP_PURPOSE, self.now);
        let form = |org: Option<&str>| pages::ManifestForm {
            action: setup.creation_url(org, &state),
            manifest: manifest.clone(),
        };
        let webhook_url = format!("{public}/webhooks/github");
        let view = pages::SetupView::Create {
            personal: form(None),
            organization: organization.map(|org| (org, form(Some(org)))),
            webhook_url: &webhook_url,
        };
        let (mut handled, keep) = self.page(pages::setup(&self.frame(session), &view));
        let policy = content_security_policy(&format!("'self' {}", setup.web_origin()));
        handled.reply = handled.reply.with_header("content-security-policy", policy);
        Ok((handled, keep))
    }

    pub(super) async fn finish_setup(
        &self,
        session: &Session,
    ) -> Result<(Handled, AnswerSession), ConsoleError> {
        let Some(setup) = &self.console.setup else {
            return Err(ConsoleError::NotFound);
        };
        let state = form_field(self.request.body, "state").unwrap_or_default();
        if !session.round_trip_matches(
            self.key,
            SETUP_PURPOSE,
            &state,
            self.now,
            app_setup::STATE_TTL_SECS,
        ) {
            tracing::warn!("GitHub App setup refused: its state is not this session's, or too old");
            return Err(ConsoleError::BadRequest(
                "This setup was not started from this console's session, or is over an hour old. Start again.",
            ));
        }
        let code = form_field(self.request.body, "code").unwrap_or_default();
        let app = setup
            .complete(self.console.secrets.as_ref(), &code)
            .await
            .map_err(|err| match err {
                app_setup::SetupError::CodeRefused => ConsoleError::BadRequest(
                    "GitHub did not accept this code: it was used already or is over an hour old. Start again.",
                ),
                app_setup::SetupError::AlreadyConfigured => {
                    ConsoleError::Conflict("A GitHub App is configured already.")
                }
                app_setup::SetupError::Store(err) => ConsoleError::Store(err),
            })?;
        Ok(self.page(pages::setup_done(&self.frame(session), &app)))
    }
}
