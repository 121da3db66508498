use std::{collections::HashMap, path::PathBuf};

use clap::{error::ErrorKind, Parser};
use hookline::{
    domain::{Provider, RunState},
    embedded::Database,
};

use super::*;

fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
    Cli::try_parse_from(std::iter::once("hookline-admin").chain(args.iter().copied()))
}

/// `line` split into arguments at spaces, as a shell splits a command line without quotes.
fn words(line: &str) -> Vec<&str> {
    line.split_whitespace().collect()
}

/// The README's first invocation: Alice's GitHub account linked to her OpenHands user and key.
const README_LINK_ADD: &str =
    "link add github 21031067 alice@example.com --login alice --api-key-secret hookline/alice";

/// A lookup over `pairs`, blank values unset (as [`process_env`]).
fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |name| map.get(name).cloned().filter(|v| !v.trim().is_empty())
}

fn tenant(provider: Provider, given: Option<&str>, pairs: &[(&str, &str)]) -> Result<String, AdminError> {
    tenant::resolve(provider, given, TenantUse::NewLink, &env(pairs))
}

fn usage(result: Result<String, AdminError>) -> String {
    match result {
        Err(AdminError::Usage(message)) => message,
        other => panic!("expected a usage error, got {other:?}"),
    }
}

const GITLAB_TWO: &[(&str, &str)] = &[
    ("GITLAB_TENANTS", "gitlab.com,git.example.com"),
    ("GITLAB_GITLAB_COM_BOT_USERNAME", "bot"),
    ("GITLAB_GIT_EXAMPLE_COM_URL", "https://git.example.com"),
    ("GITLAB_GIT_EXAMPLE_COM_BOT_USERNAME", "bot"),
];

const LINEAR_TWO: &[(&str, &str)] = &[
    ("LINEAR_TENANTS", "Acme,globex"),
    ("LINEAR_ORGANIZATION_ID", "org-1"),
    ("LINEAR_BOT_USER_ID", "u-1"),
];

// ---- parsing

#[test]
fn the_readme_invocations_parse() {
    // GIVEN the README's commands WHEN parsed THEN each is the command it documents
    let cli = parse(&words(README_LINK_ADD)).expect("link add parses");
    let Command::Link(LinkCommand::Add(add)) = cli.command else {
        panic!("not link add: {cli:?}");
    };
    assert_eq!(add.provider, Provider::Github);
    assert_eq!(add.external_id, "21031067");
    assert_eq!(add.openhands_user, "alice@example.com");
    assert_eq!(add.login.as_deref(), Some("alice"));
    assert_eq!(add.api_key_secret.as_deref(), Some("hookline/alice"));
    assert_eq!(add.tenant, None);
    assert!(!cli.aws && !cli.sqlite);

    assert!(matches!(
        parse(&["link", "list"]).expect("parses").command,
        Command::Link(LinkCommand::List)
    ));
    let cli = parse(&["link", "remove", "github", "21031067"]).expect("parses");
    let Command::Link(LinkCommand::Remove(remove)) = cli.command else {
        panic!("not link remove: {cli:?}");
    };
    assert_eq!(
        (remove.provider, remove.external_id.as_str()),
        (Provider::Github, "21031067")
    );
    assert!(matches!(
        parse(&["runs"]).expect("parses").command,
        Command::Runs { states } if states.is_empty()
    ));
    assert!(matches!(
        parse(&["dead-letters"]).expect("parses").command,
        Command::DeadLetters
    ));
}

#[test]
fn options_go_anywhere_and_the_store_flags_are_global() {
    let cli = parse(&words("--aws link add --tenant T024BE7LD slack U123 bob")).expect("parses");
    assert!(cli.aws);
    let Command::Link(LinkCommand::Add(add)) = cli.command else {
        panic!("not link add");
    };
    assert_eq!(add.tenant.as_deref(), Some("T024BE7LD"));
    assert_eq!(add.provider, Provider::Slack);
    assert!(parse(&["runs", "--sqlite"]).expect("parses").sqlite);
    let err = parse(&["runs", "--aws", "--sqlite"]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ArgumentConflict);
    // clap does not see a conflict between global flags given at different levels; the backend choice does.
    let cli = parse(&["--aws", "runs", "--sqlite"]).expect("parses");
    let refused = Backend::choose(cli.aws, cli.sqlite, &env(&[]));
    assert!(matches!(refused, Err(AdminError::Usage(m)) if m.contains("--aws or --sqlite")));
}

#[test]
fn runs_take_states_repeated_or_comma_separated() {
    let Command::Runs { states } = parse(&["runs", "--state", "running,failed", "--state", "claimed"])
        .expect("parses")
        .command
    else {
        panic!("not runs");
    };
    assert_eq!(states, [RunState::Running, RunState::Failed, RunState::Claimed]);
    let err = parse(&["runs", "--state", "done"]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidValue);
    assert!(err.to_string().contains("concluding"), "{err}");
}

#[test]
fn bad_command_lines_are_clap_errors_with_help() {
    let err = parse(&["link", "add", "bitbucket", "1", "alice"]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidValue);
    assert!(
        err.to_string().contains("github, gitlab, slack, jira, linear"),
        "{err}"
    );
    assert_eq!(
        parse(&["link", "add", "github", "1"]).unwrap_err().kind(),
        ErrorKind::MissingRequiredArgument
    );
    assert_eq!(
        parse(&["link", "add", "github", "1", "a", "--login"])
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidValue
    );
    assert_eq!(
        parse(&["link", "frobnicate"]).unwrap_err().kind(),
        ErrorKind::InvalidSubcommand
    );
    for help in [&["--help"][..], &["link", "add", "--help"], &["help", "runs"]] {
        assert_eq!(
            parse(help).unwrap_err().kind(),
            ErrorKind::DisplayHelp,
            "{help:?}"
        );
    }
    let help = parse(&["link", "add", "--help"]).unwrap_err().to_string();
    assert!(
        help.contains("GITLAB_TENANTS") && help.contains("team id"),
        "{help}"
    );
}

#[test]
fn the_command_definition_is_consistent() {
    use clap::CommandFactory;
    Cli::command().debug_assert();
}

// ---- tenants

#[test]
fn github_uses_its_tenant_setting_or_github_com() {
    assert_eq!(tenant(Provider::Github, None, &[]), Ok("github.com".into()));
    // GITHUB_TENANTS counts without GITHUB_APP_ID, which an admin's shell rarely has.
    let ghe = [("GITHUB_TENANTS", "ghe.example.com")];
    assert_eq!(tenant(Provider::Github, None, &ghe), Ok("ghe.example.com".into()));
    assert_eq!(
        tenant(Provider::Github, Some("GHE.example.com"), &ghe),
        Ok("ghe.example.com".into())
    );
    let message = usage(tenant(Provider::Github, Some("github.com"), &ghe));
    assert!(
        message.contains("GITHUB_TENANTS has: ghe.example.com"),
        "{message}"
    );
    // Without the setting any tenant may be given (an AWS stack's GithubTenants is not in the admin's shell).
    assert_eq!(
        tenant(Provider::Github, Some("ghe.example.com"), &[]),
        Ok("ghe.example.com".into())
    );
}

#[test]
fn gitlab_defaults_to_its_only_tenant_and_lists_several() {
    let one = [
        ("GITLAB_TENANTS", "gitlab.com"),
        ("GITLAB_GITLAB_COM_BOT_USERNAME", "bot"),
    ];
    assert_eq!(tenant(Provider::Gitlab, None, &one), Ok("gitlab.com".into()));
    let message = usage(tenant(Provider::Gitlab, None, GITLAB_TWO));
    assert!(message.contains("--tenant"), "{message}");
    assert!(
        message.contains("GITLAB_TENANTS): gitlab.com, git.example.com"),
        "{message}"
    );
    assert_eq!(
        tenant(Provider::Gitlab, Some("Git.Example.COM"), GITLAB_TWO),
        Ok("git.example.com".into())
    );
    let message = usage(tenant(Provider::Gitlab, Some("gitlab.example.org"), GITLAB_TWO));
    assert!(message.contains("not configured here"), "{message}");
    assert!(message.contains("gitlab.com, git.example.com"), "{message}");
}

#[test]
fn without_settings_gitlab_jira_and_linear_need_a_tenant() {
    for (provider, var) in [
        (Provider::Gitlab, "GITLAB_TENANTS"),
        (Provider::Jira, "JIRA_TENANTS"),
        (Provider::Linear, "LINEAR_TENANTS"),
    ] {
        let message = usage(tenant(provider, None, &[]));
        assert!(message.starts_with("pass --tenant"), "{message}");
        assert!(message.contains(var), "{message}");
    }
    // Given one, it is taken in the host's spelling (GitLab and Jira names are lower-cased).
    assert_eq!(
        tenant(Provider::Gitlab, Some("Git.Example.com"), &[]),
        Ok("git.example.com".into())
    );
    assert_eq!(tenant(Provider::Jira, Some("ACME"), &[]), Ok("acme".into()));
    assert_eq!(tenant(Provider::Linear, Some("Acme"), &[]), Ok("Acme".into()));
}

#[test]
fn slack_always_needs_the_team_id() {
    let message = usage(tenant(Provider::Slack, None, &[("SLACK_TENANTS", "*")]));
    assert!(message.contains("team id"), "{message}");
    assert_eq!(
        tenant(Provider::Slack, Some("T024BE7LD"), &[]),
        Ok("T024BE7LD".into())
    );
    let message = usage(tenant(Provider::Slack, Some("slack.com"), &[]));
    assert!(message.contains("not a team id"), "{message}");
}

#[test]
fn jira_uses_its_sites() {
    let one = [
        ("JIRA_TENANTS", "acme.atlassian.net"),
        ("JIRA_ACME_ATLASSIAN_NET_BOT_ACCOUNT_ID", "bot-1"),
    ];
    assert_eq!(
        tenant(Provider::Jira, None, &one),
        Ok("acme.atlassian.net".into())
    );
    let two = [
        ("JIRA_TENANTS", "Acme,globex.atlassian.net"),
        ("JIRA_ACME_URL", "https://acme.atlassian.net"),
        ("JIRA_ACME_BOT_ACCOUNT_ID", "bot-1"),
        ("JIRA_GLOBEX_ATLASSIAN_NET_BOT_ACCOUNT_ID", "bot-2"),
    ];
    let message = usage(tenant(Provider::Jira, None, &two));
    assert!(
        message.contains("JIRA_TENANTS): acme, globex.atlassian.net"),
        "{message}"
    );
    assert_eq!(tenant(Provider::Jira, Some("acme"), &two), Ok("acme".into()));
}

#[test]
fn linear_uses_its_tenant_names_in_their_spelling() {
    let message = usage(tenant(Provider::Linear, None, LINEAR_TWO));
    assert!(message.contains("LINEAR_TENANTS): Acme, globex"), "{message}");
    assert_eq!(
        tenant(Provider::Linear, Some("acme"), LINEAR_TWO),
        Ok("Acme".into())
    );
    let one = [
        ("LINEAR_TENANTS", "acme"),
        ("LINEAR_ACME_ORGANIZATION_ID", "org-1"),
        ("LINEAR_ACME_BOT_USER_ID", "u-1"),
    ];
    assert_eq!(tenant(Provider::Linear, None, &one), Ok("acme".into()));
    // The organization id is not the tenant.
    let message = usage(tenant(Provider::Linear, Some("org-1"), &one));
    assert!(message.contains("not configured here"), "{message}");
}

#[test]
fn removing_accepts_a_tenant_no_longer_configured() {
    let remove =
        |provider, given| tenant::resolve(provider, given, TenantUse::ExistingLink, &env(GITLAB_TWO));
    assert_eq!(
        remove(Provider::Gitlab, Some("old.example.com")),
        Ok("old.example.com".into())
    );
    assert!(usage(remove(Provider::Gitlab, None)).contains("several tenants"));
    assert_eq!(remove(Provider::Slack, Some("slack.com")), Ok("slack.com".into()));
}

#[test]
fn only_the_providers_own_settings_matter() {
    // GIVEN a half-configured Jira and a broken general setting WHEN resolving GitLab THEN GitLab resolves
    let mut pairs = vec![("JIRA_TENANTS", "acme"), ("OPENHANDS_AUTH", "magic")];
    pairs.extend_from_slice(&[
        ("GITLAB_TENANTS", "gitlab.com"),
        ("GITLAB_GITLAB_COM_BOT_USERNAME", "bot"),
    ]);
    assert_eq!(tenant(Provider::Gitlab, None, &pairs), Ok("gitlab.com".into()));
    // GIVEN GitLab's own settings do not load THEN the error says why, and an explicit tenant still works
    let broken = [("GITLAB_TENANTS", "gitlab.com")];
    let message = usage(tenant(Provider::Gitlab, None, &broken));
    assert!(message.contains("GITLAB_GITLAB_COM_BOT_USERNAME"), "{message}");
    assert_eq!(
        tenant(Provider::Gitlab, Some("gitlab.com"), &broken),
        Ok("gitlab.com".into())
    );
}

// ---- backend

#[test]
fn the_backend_follows_the_flags_then_hookline_table() {
    let choose = |aws, sqlite, pairs: &[(&str, &str)]| Backend::choose(aws, sqlite, &env(pairs));
    assert_eq!(
        choose(false, false, &[]),
        Ok(Backend::Sqlite {
            database: PathBuf::from(".hookline/hookline.db")
        })
    );
    assert_eq!(
        choose(false, false, &[("HOOKLINE_DATA_DIR", "/srv/hookline")]),
        Ok(Backend::Sqlite {
            database: PathBuf::from("/srv/hookline/hookline.db")
        })
    );
    let table = [("HOOKLINE_TABLE", " hookline-Table-1 ")];
    let dynamo = Ok(Backend::Dynamo {
        table: "hookline-Table-1".into(),
    });
    assert_eq!(choose(false, false, &table), dynamo);
    assert_eq!(choose(true, false, &table), dynamo);
    assert!(matches!(choose(false, true, &table), Ok(Backend::Sqlite { .. })));
    let Err(AdminError::Usage(message)) = choose(true, false, &[("HOOKLINE_TABLE", " ")]) else {
        panic!("--aws without a table must fail");
    };
    assert!(
        message.contains("HOOKLINE_TABLE") && message.contains("TableName"),
        "{message}"
    );
    let Err(AdminError::Usage(message)) = choose(false, false, &[("HOOKLINE_WORKERS", "many")]) else {
        panic!("the local settings are checked as the host checks them");
    };
    assert!(message.contains("HOOKLINE_WORKERS"), "{message}");
}

#[cfg(not(feature = "aws"))]
#[tokio::test]
async fn without_the_aws_feature_dynamo_says_how_to_build_it() {
    let cli = parse(&["link", "list"]).expect("parses");
    let result = run(&cli, &env(&[("HOOKLINE_TABLE", "t")])).await;
    let Err(err @ AdminError::Usage(_)) = result else {
        panic!("expected a usage error, got {result:?}");
    };
    assert!(err.to_string().contains("--features aws"), "{err}");
    assert_eq!(err.exit_code(), 2);
}

// ---- commands on SQLite

async fn exec(store: &Store, args: &[&str], pairs: &[(&str, &str)]) -> Result<String, AdminError> {
    let cli = parse(args).expect("parses");
    execute(&cli.command, store, &env(pairs)).await
}

#[tokio::test]
async fn links_are_added_listed_and_removed_with_the_providers_tenant() {
    let store = Store::sqlite(Database::open_in_memory().expect("database"));
    let gitlab = [
        ("GITLAB_TENANTS", "git.example.com"),
        ("GITLAB_GIT_EXAMPLE_COM_URL", "https://git.example.com"),
        ("GITLAB_GIT_EXAMPLE_COM_BOT_USERNAME", "bot"),
    ];
    assert_eq!(
        exec(&store, &words(README_LINK_ADD), &[]).await,
        Ok("linked github github.com/21031067 -> alice@example.com\n".into())
    );
    assert_eq!(
        exec(&store, &["link", "add", "gitlab", "42", "bob"], &gitlab).await,
        Ok("linked gitlab git.example.com/42 -> bob\n".into())
    );
    let refused = exec(&store, &["link", "add", "slack", "U1", "carol"], &[]).await;
    assert_eq!(refused.as_ref().map_err(AdminError::exit_code), Err(2));
    assert_eq!(
        exec(&store, &["link", "list"], &[]).await,
        Ok(
            "provider\ttenant\texternal_id\tlogin\topenhands_user\tapi_key_secret\n\
            github\tgithub.com\t21031067\talice\talice@example.com\thookline/alice\n\
            gitlab\tgit.example.com\t42\t\tbob\t-\n"
                .into()
        )
    );
    assert_eq!(
        exec(&store, &["link", "remove", "gitlab", "42"], &gitlab).await,
        Ok("removed gitlab git.example.com/42\n".into())
    );
    let again = exec(&store, &["link", "remove", "gitlab", "42"], &gitlab).await;
    assert_eq!(
        again,
        Err(AdminError::Failed("no link for gitlab git.example.com/42".into()))
    );
    assert_eq!(again.unwrap_err().exit_code(), 1);
    let empty = exec(&store, &["link", "add", "github", " ", "alice"], &[]).await;
    assert!(matches!(empty, Err(AdminError::Usage(m)) if m.contains("EXTERNAL_ID")));
}

#[tokio::test]
async fn runs_and_dead_letters_print_their_headers_on_an_empty_store() {
    let store = Store::sqlite(Database::open_in_memory().expect("database"));
    assert_eq!(
        exec(&store, &["runs", "--state", "running"], &[]).await,
        Ok("conversation_id\tstate\tthread\tactor\tcreated_at\n".into())
    );
    assert_eq!(
        exec(&store, &["dead-letters"], &[]).await,
        Ok("id\tgroup\treceive_count\tfailed_at\treason\n".into())
    );
}

#[test]
fn runs_default_to_every_state_and_name_each_once() {
    let planned = |args: &[&str]| plan(&parse(args).expect("parses").command, &env(&[]));
    assert_eq!(planned(&["runs"]), Ok(Action::Runs(RunState::ALL.to_vec())));
    assert_eq!(
        planned(&["runs", "--state", "running,failed", "--state", "running"]),
        Ok(Action::Runs(vec![RunState::Running, RunState::Failed]))
    );
}

#[test]
fn deliveries_parses_its_filters_and_bounds_the_limit() {
    // GIVEN `deliveries` with every option WHEN parsed THEN each lands, and the limit defaults to 50
    let cli = parse(&words(
        "deliveries --provider slack --tenant T01 --limit 1000 --after cursor --json",
    ))
    .expect("parses");
    let Command::Deliveries(args) = cli.command else {
        panic!("not deliveries: {cli:?}");
    };
    assert_eq!(args.provider, Some(Provider::Slack));
    assert_eq!(args.tenant.as_deref(), Some("T01"));
    assert_eq!(
        (args.limit, args.after.as_deref(), args.json),
        (1000, Some("cursor"), true)
    );
    let Command::Deliveries(args) = parse(&["deliveries"]).expect("parses").command else {
        panic!("not deliveries");
    };
    assert_eq!((args.provider, args.limit, args.json), (None, 50, false));
    // WHEN the limit is out of range THEN clap refuses it
    for limit in ["0", "1001"] {
        assert_eq!(
            parse(&["deliveries", "--limit", limit]).unwrap_err().kind(),
            ErrorKind::ValueValidation
        );
    }
}
