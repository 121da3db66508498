//! `hookline-admin`'s commands (`hookline_local::admin`) on both of its stores: SQLite as the local host opens
//! it, and DynamoDB on moto through the same ports the Lambda functions use. One scenario runs on each, so the
//! two backends answer alike; only `dead-letters` differs (SQS holds them on AWS).
//!
//! The DynamoDB half needs `HOOKLINE_TEST_AWS_ENDPOINT` (see `aws_adapters.rs`); without it, it fails with
//! instructions rather than skipping.

use clap::Parser;
use hookline::{
    aws::DynamoStore,
    domain::{DecisionKind, DeliveryDecision, Provider, RunRecord, RunState},
    embedded::Database,
    ports::{DeliveryLog, RunStore},
};
use hookline_local::admin::{self, AdminError, Backend, Cli, Store};

/// The host's settings for the scenario: one GitLab instance, so GitLab links default to it.
fn env(name: &str) -> Option<String> {
    let value = match name {
        "GITLAB_TENANTS" => "git.example.com",
        "GITLAB_GIT_EXAMPLE_COM_URL" => "https://git.example.com",
        "GITLAB_GIT_EXAMPLE_COM_BOT_USERNAME" => "hookline-bot",
        _ => return None,
    };
    Some(value.to_owned())
}

async fn admin(store: &Store, args: &[&str]) -> Result<String, AdminError> {
    let cli = Cli::try_parse_from(std::iter::once("hookline-admin").chain(args.iter().copied()))
        .expect("the command line parses");
    admin::execute(&cli.command, store, &env).await
}

/// `line` split into arguments at spaces, as a shell splits a command line without quotes.
fn words(line: &str) -> Vec<&str> {
    line.split_whitespace().collect()
}

/// A run on its own thread (the listing shows the thread).
fn run(conversation_id: &str, state: RunState, created_at: u64) -> RunRecord {
    RunRecord {
        thread_key: format!("github:octo/hello#{created_at}"),
        ..hookline::conformance::run(conversation_id, state, created_at)
    }
}

/// Three runs for `runs` to list: running (oldest), failed, claimed (newest).
async fn seed_runs(runs: &dyn RunStore) {
    for (id, state, created_at) in [
        ("c1", RunState::Running, 1_700_000_100),
        ("c2", RunState::Failed, 1_700_000_200),
        ("c3", RunState::Claimed, 1_700_000_300),
    ] {
        assert!(runs
            .insert_run(&run(id, state, created_at))
            .await
            .expect("insert run"));
    }
}

/// Three decisions for `deliveries` to list: an ignored GitHub comment (oldest), a GitLab run, a Slack denial.
async fn seed_decisions(log: &dyn DeliveryLog) {
    let ttl = std::time::Duration::from_secs(3600);
    let ignored = hookline::conformance::decision(Provider::Github, "github.com", "g1", 1_700_000_100);
    let run = DeliveryDecision {
        kind: DecisionKind::Run,
        reason: "run started".to_owned(),
        actor: Some("bob".to_owned()),
        conversation_id: Some("c9".to_owned()),
        event: "Note Hook".to_owned(),
        ..hookline::conformance::decision(Provider::Gitlab, "git.example.com", "l1", 1_700_000_200)
    };
    let denied = DeliveryDecision {
        kind: DecisionKind::Denied,
        reason: "no write access".to_owned(),
        actor: Some("carol".to_owned()),
        event: "app_mention".to_owned(),
        ..hookline::conformance::decision(Provider::Slack, "T024BE7LD", "s1", 1_700_000_300)
    };
    for decision in [ignored, run, denied] {
        log.record(&decision, "{}", ttl).await.expect("record decision");
    }
}

/// The same commands on either store, with the same answers.
async fn scenario(store: &Store) {
    // GIVEN links for three providers, each with its provider's tenant
    assert_eq!(
        admin(
            store,
            &words("link add github 21031067 alice@example.com --login alice --api-key-secret hookline/openhands/alice")
        )
        .await,
        Ok("linked github github.com/21031067 -> alice@example.com\n".to_owned())
    );
    assert_eq!(
        admin(store, &["link", "add", "gitlab", "77", "bob", "--login", "bob"]).await,
        Ok("linked gitlab git.example.com/77 -> bob\n".to_owned())
    );
    assert_eq!(
        admin(store, &words("link add slack U0G9QF9C6 carol --tenant T024BE7LD")).await,
        Ok("linked slack T024BE7LD/U0G9QF9C6 -> carol\n".to_owned())
    );
    // Adding again replaces.
    assert_eq!(
        admin(store, &["link", "add", "gitlab", "77", "bob2", "--login", "bob"]).await,
        Ok("linked gitlab git.example.com/77 -> bob2\n".to_owned())
    );
    // WHEN listed THEN every link shows, ordered by provider, tenant, id
    assert_eq!(
        admin(store, &["link", "list"]).await,
        Ok(
            "provider\ttenant\texternal_id\tlogin\topenhands_user\tapi_key_secret\n\
            github\tgithub.com\t21031067\talice\talice@example.com\thookline/openhands/alice\n\
            gitlab\tgit.example.com\t77\tbob\tbob2\t-\n\
            slack\tT024BE7LD\tU0G9QF9C6\t\tcarol\t-\n"
                .to_owned()
        )
    );
    // WHEN one is removed THEN it is gone, and removing it again fails
    assert_eq!(
        admin(store, &["link", "remove", "gitlab", "77"]).await,
        Ok("removed gitlab git.example.com/77\n".to_owned())
    );
    assert_eq!(
        admin(store, &["link", "remove", "gitlab", "77"]).await,
        Err(AdminError::Failed(
            "no link for gitlab git.example.com/77".to_owned()
        ))
    );
    let listed = admin(store, &["link", "list"]).await.expect("list");
    assert_eq!(listed.lines().count(), 3, "{listed}");

    // Runs: every state oldest first, or only the states asked for.
    let header = "conversation_id\tstate\tthread\tactor\tcreated_at\n";
    assert_eq!(
        admin(store, &["runs"]).await,
        Ok(format!(
            "{header}\
             c1\trunning\tgithub:octo/hello#1700000100\toctocat\t1700000100\n\
             c2\tfailed\tgithub:octo/hello#1700000200\toctocat\t1700000200\n\
             c3\tclaimed\tgithub:octo/hello#1700000300\toctocat\t1700000300\n"
        ))
    );
    assert_eq!(
        admin(store, &["runs", "--state", "claimed,running"]).await,
        Ok(format!(
            "{header}\
             c1\trunning\tgithub:octo/hello#1700000100\toctocat\t1700000100\n\
             c3\tclaimed\tgithub:octo/hello#1700000300\toctocat\t1700000300\n"
        ))
    );
    assert_eq!(
        admin(store, &["runs", "--state", "reported"]).await,
        Ok(header.to_owned())
    );

    // Deliveries: newest first, filtered, paged with the cursor the listing prints, or as JSON.
    let header =
        "decided_at\tprovider\ttenant\tdelivery_id\tevent\tdecision\treason\tactor\tconversation_id\n";
    let slack = "1700000300\tslack\tT024BE7LD\ts1\tapp_mention\tdenied\tno write access\tcarol\t-\n";
    let gitlab = "1700000200\tgitlab\tgit.example.com\tl1\tNote Hook\trun\trun started\tbob\tc9\n";
    let github = "1700000100\tgithub\tgithub.com\tg1\tissue_comment\tignored\tno mention\t-\t-\n";
    assert_eq!(
        admin(store, &["deliveries"]).await,
        Ok(format!("{header}{slack}{gitlab}{github}"))
    );
    assert_eq!(
        admin(
            store,
            &words("deliveries --provider gitlab --tenant git.example.com")
        )
        .await,
        Ok(format!("{header}{gitlab}"))
    );
    let first = admin(store, &["deliveries", "--limit", "2"])
        .await
        .expect("first page");
    let (page, more) = first.split_once("more: --after ").expect("a cursor");
    assert_eq!(page, format!("{header}{slack}{gitlab}"));
    assert_eq!(
        admin(store, &["deliveries", "--after", more.trim_end()]).await,
        Ok(format!("{header}{github}"))
    );
    let json: serde_json::Value = serde_json::from_str(
        &admin(store, &["deliveries", "--json", "--provider", "slack"])
            .await
            .expect("json"),
    )
    .expect("valid JSON");
    assert_eq!(json["decisions"][0]["kind"], "denied");
    assert_eq!(json["decisions"][0]["delivery_id"], "s1");
    assert_eq!(json["decisions"].as_array().map(Vec::len), Some(1));
    assert_eq!(json["next"], serde_json::Value::Null);
    assert!(matches!(
        admin(store, &["deliveries", "--after", "bogus"]).await,
        Err(AdminError::Failed(_))
    ));
}

#[tokio::test]
async fn admin_commands_on_sqlite() {
    let dir = tempfile::tempdir().expect("temp dir");
    let backend = Backend::Sqlite {
        database: dir.path().join("data").join("hookline.db"),
    };
    // Opening creates the data folder and the database, as the local host would.
    let store = Store::open(&backend).await.expect("open sqlite");
    let database = Database::open(dir.path().join("data").join("hookline.db")).expect("database");
    seed_runs(&database.store()).await;
    seed_decisions(&database.store()).await;

    scenario(&store).await;
    assert_eq!(
        admin(&store, &["dead-letters"]).await,
        Ok("id\tgroup\treceive_count\tfailed_at\treason\n".to_owned())
    );
}

#[tokio::test]
async fn admin_commands_on_dynamodb() {
    let sdk = crate::lambda_world::sdk_config().await;
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    let table = format!("hl-admin-{}", uuid::Uuid::new_v4().simple());
    DynamoStore::create_table(&client, &table)
        .await
        .expect("create table");
    let dynamo = DynamoStore::new(client, table.clone());
    seed_runs(&dynamo).await;
    seed_decisions(&dynamo).await;
    let store = Store::dynamo_from_conf(&sdk, &table).expect("store");

    scenario(&store).await;
    // Dead letters are in SQS on AWS: the command says where, and fails rather than print an empty list.
    let Err(AdminError::Failed(message)) = admin(&store, &["dead-letters"]).await else {
        panic!("dead-letters on DynamoDB must explain the SQS dead-letter queue");
    };
    assert!(message.contains("DeadLetterQueueUrl"), "{message}");
}

#[tokio::test]
async fn dynamodb_needs_a_region() {
    let sdk = aws_config::SdkConfig::builder().build();
    let Err(AdminError::Usage(message)) = Store::dynamo_from_conf(&sdk, "any") else {
        panic!("a configuration without a region must be refused");
    };
    assert!(message.contains("AWS_REGION"), "{message}");
}
