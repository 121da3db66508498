//! `hookline-admin` as an operator runs it: the built binary, the README's invocations, on a fresh SQLite data
//! folder, in an environment holding only what each test sets.

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
};

/// Run the binary with `HOOKLINE_DATA_DIR=data` and `vars`, nothing else from this process's environment.
fn admin(data: &Path, vars: &[(&str, &str)], args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hookline-admin"))
        .env_clear()
        .env("HOOKLINE_DATA_DIR", data)
        .envs(vars.iter().copied())
        .args(args)
        .output()
        .expect("hookline-admin runs")
}

/// `line` split into arguments at spaces, as a shell splits a command line without quotes.
fn words(line: &str) -> Vec<&str> {
    line.split_whitespace().collect()
}

/// The README's first invocation: Alice's GitHub account linked to her OpenHands user and key.
const README_LINK_ADD: &str =
    "link add github 21031067 alice@example.com --login alice --api-key-secret hookline/alice";

/// A data folder that does not exist yet, in a temporary directory that lives as long as the guard.
fn data_folder() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    (dir, data)
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn the_readme_commands_work_end_to_end_on_sqlite() {
    let (_dir, data) = data_folder();

    // GIVEN a data folder that does not exist yet WHEN a link is added THEN the database is created with it
    let added = admin(&data, &[], &words(README_LINK_ADD));
    assert!(added.status.success(), "{}", stderr(&added));
    assert_eq!(
        stdout(&added),
        "linked github github.com/21031067 -> alice@example.com\n"
    );
    assert!(data.join("hookline.db").exists());

    let listed = admin(&data, &[], &["link", "list"]);
    assert!(listed.status.success(), "{}", stderr(&listed));
    assert_eq!(
        stdout(&listed),
        "provider\ttenant\texternal_id\tlogin\topenhands_user\tapi_key_secret\n\
         github\tgithub.com\t21031067\talice\talice@example.com\thookline/alice\n"
    );

    let removed = admin(&data, &[], &["link", "remove", "github", "21031067"]);
    assert!(removed.status.success(), "{}", stderr(&removed));
    assert_eq!(stdout(&removed), "removed github github.com/21031067\n");
    let again = admin(&data, &[], &["link", "remove", "github", "21031067"]);
    assert_eq!(again.status.code(), Some(1));
    assert_eq!(stderr(&again), "error: no link for github github.com/21031067\n");

    let runs = admin(&data, &[], &["runs", "--state", "running,failed"]);
    assert!(runs.status.success(), "{}", stderr(&runs));
    assert_eq!(
        stdout(&runs),
        "conversation_id\tstate\tthread\tactor\tcreated_at\n"
    );
    let dead = admin(&data, &[], &["dead-letters"]);
    assert!(dead.status.success(), "{}", stderr(&dead));
    assert_eq!(stdout(&dead), "id\tgroup\treceive_count\tfailed_at\treason\n");
}

#[test]
fn tenants_come_from_the_hosts_settings() {
    let (_dir, data) = data_folder();
    let jira = [
        ("JIRA_TENANTS", "acme.atlassian.net,globex.atlassian.net"),
        ("JIRA_ACME_ATLASSIAN_NET_BOT_ACCOUNT_ID", "bot-1"),
        ("JIRA_GLOBEX_ATLASSIAN_NET_BOT_ACCOUNT_ID", "bot-2"),
    ];

    // GIVEN two Jira sites WHEN no tenant is given THEN it is a usage error listing them, and nothing is written
    let refused = admin(&data, &jira, &["link", "add", "jira", "5b10ac8d", "alice"]);
    assert_eq!(refused.status.code(), Some(2));
    assert_eq!(
        stderr(&refused),
        "error: pass --tenant: Jira has several tenants here (JIRA_TENANTS): acme.atlassian.net, \
         globex.atlassian.net\n"
    );
    assert!(!data.exists(), "a refused command must not create the store");

    let added = admin(
        &data,
        &jira,
        &words("link add jira 5b10ac8d alice --tenant Globex.Atlassian.net"),
    );
    assert!(added.status.success(), "{}", stderr(&added));
    assert_eq!(
        stdout(&added),
        "linked jira globex.atlassian.net/5b10ac8d -> alice\n"
    );

    let slack = admin(&data, &[], &["link", "add", "slack", "U0G9QF9C6", "bob"]);
    assert_eq!(slack.status.code(), Some(2));
    assert!(stderr(&slack).contains("team id"), "{}", stderr(&slack));
    let slack = admin(
        &data,
        &[],
        &words("link add slack U0G9QF9C6 bob --tenant T024BE7LD"),
    );
    assert_eq!(stdout(&slack), "linked slack T024BE7LD/U0G9QF9C6 -> bob\n");
}

#[test]
fn help_and_usage_errors_are_clap_s() {
    let (_dir, data) = data_folder();
    let help = admin(&data, &[], &["--help"]);
    assert!(help.status.success());
    for command in [
        "link",
        "runs",
        "dead-letters",
        "--aws",
        "--sqlite",
        "HOOKLINE_DATA_DIR",
    ] {
        assert!(stdout(&help).contains(command), "{command} in\n{}", stdout(&help));
    }
    let help = admin(&data, &[], &["link", "add", "--help"]);
    assert!(help.status.success());
    assert!(stdout(&help)
        .contains("Usage: hookline-admin link add [OPTIONS] <PROVIDER> <EXTERNAL_ID> <OPENHANDS_USER>"));

    let wrong = admin(&data, &[], &["link", "add", "github", "1"]);
    assert_eq!(wrong.status.code(), Some(2));
    assert!(stderr(&wrong).contains("<OPENHANDS_USER>"), "{}", stderr(&wrong));
    let none = admin(&data, &[], &[]);
    assert_eq!(none.status.code(), Some(2));
    assert!(
        stderr(&none).contains("Usage: hookline-admin"),
        "{}",
        stderr(&none)
    );
}

#[test]
fn sqlite_can_be_forced_when_hookline_table_is_set() {
    let (_dir, data) = data_folder();
    let listed = admin(
        &data,
        &[("HOOKLINE_TABLE", "hookline-Table")],
        &["--sqlite", "link", "list"],
    );
    assert!(listed.status.success(), "{}", stderr(&listed));
    assert!(data.join("hookline.db").exists());
}
