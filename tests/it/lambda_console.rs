//! The console function on moto: what the webhook and worker functions recorded in DynamoDB, shown to an
//! operator who signs in with the token from Secrets Manager, through the same `http_handler` API Gateway calls.

use hookline::{
    aws::lambda::{console_services, http_handler, webhook_services, AwsConfig},
    config::{pairs_lookup, Config},
    console::ConsoleServices,
    domain::Provider,
    routes::Served,
};
use hookline_tests::{
    fake_github::{test_app_public_key_pem, FakeGithub, FakeGithubOptions, FAKE_APP_ID, FAKE_APP_SLUG},
    harness::{issue_comment, labeled, owned, user, ALICE_ID, WEBHOOK_SECRET},
};
use serde_json::{json, Value};

use crate::{
    lambda_world::{body_of, create_secrets, fixture, invoke_http, Wiring, World, V2_WEBHOOK},
    provider_scenarios::github::delivery as github_delivery,
};

const OPERATOR_TOKEN: &str = "lambda-console-operator-token-0123456789";

/// A stack with GitHub on (the fake's App) and alice linked.
async fn github_world() -> (FakeGithub, World) {
    let github = FakeGithub::start_with(FakeGithubOptions::new(test_app_public_key_pem())).await;
    github.set_role("alice", "write");
    let world =
        World::start(|prefix| crate::provider_scenarios::github::wiring(prefix, &github, WEBHOOK_SECRET))
            .await;
    world
        .link(Provider::Github, "github.com", &ALICE_ID.to_string(), "alice")
        .await;
    (github, world)
}

/// The console's secrets, as the template creates them: their names.
async fn console_secrets(world: &World) -> (String, String) {
    let token_secret = format!("{}/console/operator-token", world.prefix);
    let key_secret = format!("{}/console/session-key", world.prefix);
    let key = "k".repeat(64);
    create_secrets(
        &world.sdk,
        [
            (token_secret.as_str(), OPERATOR_TOKEN),
            (key_secret.as_str(), key.as_str()),
        ],
    )
    .await;
    (token_secret, key_secret)
}

/// The console function of a stack with the fake's App configured (as the template sets it when the App's id
/// and slug are given), on `aws`'s queues.
async fn github_console(world: &World, aws: &AwsConfig) -> ConsoleServices {
    let (token_secret, key_secret) = console_secrets(world).await;
    let config = Config::from_lookup(pairs_lookup(&[
        ("HOOKLINE_CONSOLE_TOKEN_SECRET", &token_secret),
        ("HOOKLINE_CONSOLE_SESSION_KEY_SECRET", &key_secret),
        ("OPENHANDS_WEB_URL", "https://app.example.test"),
        ("GITHUB_TENANTS", "github.com"),
        ("GITHUB_APP_ID", FAKE_APP_ID),
        ("GITHUB_APP_SLUG", FAKE_APP_SLUG),
    ]))
    .expect("the console function's settings");
    console_services(&config, aws, &world.sdk).expect("console services")
}

/// One answer of the console function.
struct Answer {
    status: u16,
    body: String,
    cookie: Option<String>,
    location: Option<String>,
}

impl Answer {
    /// A 200 whose page says `text`.
    fn assert_ok_saying(&self, text: &str) {
        assert_eq!(self.status, 200, "{}", self.body);
        assert!(self.body.contains(text), "{}", self.body);
    }
}

/// A console request as an HTTP API (v2) event: method, path (with a query), the browser's cookie, a form.
fn console_event(method: &str, target: &str, cookie: Option<&str>, form: &str) -> String {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut v: Value = fixture(V2_WEBHOOK);
    let route = format!("{method} /console/{{proxy+}}");
    v["routeKey"] = json!(route);
    v["requestContext"]["routeKey"] = json!(route);
    v["rawPath"] = json!(path);
    v["rawQueryString"] = json!(query);
    v["requestContext"]["http"]["method"] = json!(method);
    v["requestContext"]["http"]["path"] = json!(path);
    v["pathParameters"] = json!({ "proxy": path.trim_start_matches("/console/") });
    let headers = v["headers"].as_object_mut().expect("headers");
    headers.retain(|name, _| !name.starts_with("x-github-") && !name.starts_with("x-hub-"));
    headers.insert("content-type".into(), json!("application/x-www-form-urlencoded"));
    headers.insert("content-length".into(), json!(form.len().to_string()));
    // HTTP APIs hand the browser's cookies over in their own field.
    if let Some(cookie) = cookie {
        v["cookies"] = json!([cookie]);
    }
    v["body"] = json!(form);
    v.to_string()
}

async fn ask(
    console: &ConsoleServices,
    method: &str,
    target: &str,
    cookie: Option<&str>,
    form: &str,
) -> Answer {
    let request =
        lambda_http::request::from_str(&console_event(method, target, cookie, form)).expect("an event");
    let served = Served {
        console: Some(console),
        ..Default::default()
    };
    let response = http_handler(served, request).await;
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    Answer {
        status: response.status().as_u16(),
        cookie: header("set-cookie").map(|c| c.split(';').next().unwrap_or_default().to_owned()),
        location: header("location"),
        body: String::from_utf8_lossy(response.body().as_ref()).into_owned(),
    }
}

/// The signed-in operator's GET of `target`.
async fn get_as(console: &ConsoleServices, operator: &str, target: &str) -> Answer {
    ask(console, "GET", target, Some(operator), "").await
}

/// The signed-in operator's POST of `form` to `target`.
async fn post_as(console: &ConsoleServices, operator: &str, target: &str, form: &str) -> Answer {
    ask(console, "POST", target, Some(operator), form).await
}

/// Alice labels issue `number` `openhands`: the signed delivery `delivery_id`, accepted by the webhook function.
async fn alice_labels(world: &World, number: u64, delivery_id: &str) {
    let body = body_of(&labeled(number, "openhands", user("alice", ALICE_ID)));
    let delivery = github_delivery("issues", delivery_id, body, WEBHOOK_SECRET);
    assert_eq!(invoke_http(&world.webhook, &delivery.v2_event()).await.0, 202);
}

fn csrf(page: &str) -> String {
    let at = page.find("name=\"csrf\" value=\"").expect("a form with a token") + 19;
    page[at..at + 64].to_owned()
}

/// GIVEN a run started through the webhook and worker functions WHEN an operator signs in to the console function
/// THEN its deliveries and runs pages show the decision and the run from DynamoDB; without the token they show
/// only the sign-in form, and the dead letters point at the SQS dead-letter queue.
#[tokio::test]
async fn the_console_function_shows_what_the_worker_decided() {
    let (_github, world) = github_world().await;
    alice_labels(&world, 8, "lambda-console-1").await;
    world.pump().await;
    let conversation = world.openhands.last_conversation_id();

    let console = github_console(&world, &world.aws).await;

    let anonymous = ask(&console, "GET", "/console/runs", None, "").await;
    assert_eq!(anonymous.status, 401);
    assert!(anonymous.body.contains("Operator token") && !anonymous.body.contains(&conversation[..8]));
    let cookie = anonymous.cookie.expect("a session for the form");
    let wrong = format!("csrf={}&token=guess", csrf(&anonymous.body));
    assert_eq!(
        ask(&console, "POST", "/console/sign-in", Some(&cookie), &wrong)
            .await
            .status,
        401
    );

    let sign_in_page = ask(&console, "GET", "/console", Some(&cookie), "").await;
    let form = format!("csrf={}&token={OPERATOR_TOKEN}", csrf(&sign_in_page.body));
    let signed_in = ask(&console, "POST", "/console/sign-in", Some(&cookie), &form).await;
    assert_eq!(signed_in.status, 303, "{}", signed_in.body);
    assert_eq!(signed_in.location.as_deref(), Some("/console/deliveries"));
    let operator = signed_in.cookie.expect("a new session");

    let deliveries = get_as(&console, &operator, "/console/deliveries?provider=github").await;
    assert_eq!(deliveries.status, 200);
    assert!(deliveries.body.contains("lambda-console-1") || deliveries.body.contains(&conversation[..8]));
    assert!(deliveries.body.contains("run started"), "{}", deliveries.body);
    let runs = get_as(&console, &operator, "/console/runs").await;
    assert!(runs.body.contains("github:octo-org/hello#8"), "{}", runs.body);
    assert!(runs
        .body
        .contains(&format!("https://app.example.test/conversations/{conversation}")));
    let letters = get_as(&console, &operator, "/console/dead-letters").await;
    assert!(letters.body.contains("SQS dead-letter queue"));
}

/// Sign in to the console function with the operator token; the operator's cookie.
async fn operator_cookie(console: &ConsoleServices) -> String {
    let page = ask(console, "GET", "/console", None, "").await;
    let cookie = page.cookie.expect("a session for the form");
    let form = format!("csrf={}&token={OPERATOR_TOKEN}", csrf(&page.body));
    let signed_in = ask(console, "POST", "/console/sign-in", Some(&cookie), &form).await;
    assert_eq!(signed_in.status, 303, "{}", signed_in.body);
    signed_in.cookie.expect("an operator session")
}

/// GIVEN a stack deployed with GitHub on but no App (GithubTenants set, GithubAppId empty), its webhook and
/// worker functions already warm WHEN an operator registers the App on the console function THEN the App's
/// secrets are in Secrets Manager and the warm webhook and worker functions serve GitHub with them: a signed
/// mention starts a run, no redeploy.
#[tokio::test]
async fn the_console_function_registers_the_github_app_and_the_warm_functions_serve_it() {
    let github = FakeGithub::start_with(FakeGithubOptions::new(test_app_public_key_pem())).await;
    github.set_role("alice", "write");
    let mut github_settings = Vec::new();
    let world = World::start(|prefix| {
        github_settings = owned(&[
            ("GITHUB_TENANTS", "github.com"),
            ("GITHUB_API_URL", github.url()),
            ("GITHUB_WEB_URL", github.url()),
            ("GITHUB_SECRET_PREFIX", &format!("{prefix}/github")),
        ]);
        Wiring {
            settings: github_settings.clone(),
            secrets: Vec::new(),
        }
    })
    .await;
    world
        .link(Provider::Github, "github.com", &ALICE_ID.to_string(), "alice")
        .await;
    let body = body_of(&issue_comment(
        3,
        301,
        "@openhands please fix",
        user("alice", ALICE_ID),
        false,
    ));
    let delivery = |id: &str, secret: &str| github_delivery("issue_comment", id, body.clone(), secret);
    // Another instance of the webhook function (the warm one is kept for after): no App yet. A miss reloads at
    // most every 30 s, so a webhook that soon after a miss may still get 404 (GitHub can redeliver it).
    let other_instance = webhook_services(&world.config, &world.aws, &world.sdk)
        .await
        .expect("a webhook function that waits for its App");
    assert_eq!(
        invoke_http(&other_instance, &delivery("before", "guess").v2_event())
            .await
            .0,
        404,
        "no App yet"
    );

    let (token_secret, key_secret) = console_secrets(&world).await;
    let mut settings = owned(&[
        ("HOOKLINE_CONSOLE_TOKEN_SECRET", &token_secret),
        ("HOOKLINE_CONSOLE_SESSION_KEY_SECRET", &key_secret),
        ("HOOKLINE_PUBLIC_URL", "https://hookline.example"),
    ]);
    settings.extend(github_settings);
    let config = Config::from_lookup(|name| settings.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
        .expect("the console function's settings");
    let console = console_services(&config, &world.aws, &world.sdk).expect("console services");
    let operator = operator_cookie(&console).await;
    let setup = get_as(&console, &operator, "/console/setup").await;
    setup.assert_ok_saying("https://hookline.example/webhooks/github");
    let at = setup.body.find("state=").expect("the manifest form") + 6;
    let state = setup.body[at..].split('"').next().unwrap().to_owned();

    // GitHub's side: the manifest posted, a code handed back.
    let manifest =
        json!({ "name": "Hookline", "redirect_url": "https://hookline.example/console/setup/github/done" });
    let code = github
        .register_app_from_manifest(&manifest.to_string(), &state)
        .await;
    let finish = format!(
        "code={code}&state={}",
        form_urlencoded::byte_serialize(state.as_bytes()).collect::<String>()
    );
    let done = post_as(&console, &operator, "/console/setup/github/done", &finish).await;
    done.assert_ok_saying("is set up");

    let stored = aws_sdk_secretsmanager::Client::new(&world.sdk)
        .get_secret_value()
        .secret_id(format!("{}/github/webhook-secret", world.prefix))
        .send()
        .await
        .expect("the webhook secret is in Secrets Manager");
    let secret = stored.secret_string().unwrap().to_owned();
    assert_eq!(secret, format!("fake-webhook-secret-{code}"));

    // The functions started before the registration serve it now.
    assert_eq!(
        invoke_http(&world.webhook, &delivery("after", &secret).v2_event())
            .await
            .0,
        202
    );
    world.pump().await;
    assert_eq!(
        world.openhands.starts().len(),
        1,
        "the worker ran it as the new App"
    );
}

/// GIVEN a delivery whose message ended in the SQS dead-letter queue WHEN an operator opens the console
/// function's dead letters and presses Retry THEN it is listed with its group, goes back to the work queue as a
/// new message (outside SQS's deduplication window of the original), leaves the dead-letter queue, and the
/// worker starts its run; a second retry of it finds nothing.
#[tokio::test]
async fn the_console_function_lists_and_retries_the_sqs_dead_letters() {
    let (_github, world) = github_world().await;
    alice_labels(&world, 11, "lambda-dead-1").await;
    // What SQS does after the last failed receive: the message moves to the dead-letter queue.
    let queued = world.receive().await;
    assert_eq!(queued.len(), 1);
    let attributes = queued[0].attributes().expect("attributes");
    let group = attributes[&aws_sdk_sqs::types::MessageSystemAttributeName::MessageGroupId].clone();
    world
        .sqs
        .send_message()
        .queue_url(&world.dlq_url)
        .message_group_id(&group)
        .message_deduplication_id("moved-lambda-dead-1")
        .message_body(queued[0].body().unwrap())
        .send()
        .await
        .unwrap();
    world
        .sqs
        .delete_message()
        .queue_url(&world.queue_url)
        .receipt_handle(queued[0].receipt_handle().unwrap())
        .send()
        .await
        .unwrap();

    let mut aws = world.aws.clone();
    aws.dead_letter_queue_url = Some(world.dlq_url.clone());
    let console = github_console(&world, &aws).await;
    let operator = operator_cookie(&console).await;
    let letters = get_as(&console, &operator, "/console/dead-letters").await;
    letters.assert_ok_saying(&group);
    assert!(letters.body.contains("moved-lambda-dead-1"));
    let at = letters.body.find("name=\"id\" value=\"").expect("a Retry form") + 17;
    let id = letters.body[at..].split('"').next().unwrap().to_owned();
    let form = format!("csrf={}&id={id}", csrf(&letters.body));
    let retried = post_as(&console, &operator, "/console/dead-letters/retry", &form).await;
    retried.assert_ok_saying("Put back on the queue.");
    assert_eq!(
        crate::lambda_world::queue_depth(&world.sqs, &world.dlq_url).await,
        0,
        "no longer a dead letter"
    );
    world.pump().await;
    assert_eq!(world.openhands.starts().len(), 1, "and its run started");

    let again = post_as(&console, &operator, "/console/dead-letters/retry", &form).await;
    assert!(again.body.contains("no longer there"), "{}", again.body);
}

/// GIVEN a mention by a person not yet linked, decided by the worker function (a notice) WHEN they are linked and
/// an operator presses Redeliver on the console function's deliveries page THEN the envelope stored in DynamoDB
/// goes back to the SQS work queue and the worker function starts their run, its row now a run.
#[tokio::test]
async fn the_console_function_redelivers_a_stored_delivery() {
    let (github, world) = github_world().await;
    github.set_role("dave", "write");
    let mention = body_of(&issue_comment(
        21,
        2101,
        "@openhands fix it",
        user("dave", 5151),
        false,
    ));
    let delivery = github_delivery("issue_comment", "lambda-redeliver-1", mention, WEBHOOK_SECRET);
    assert_eq!(invoke_http(&world.webhook, &delivery.v2_event()).await.0, 202);
    world.pump().await;
    assert!(world.openhands.starts().is_empty(), "unlinked: a notice, no run");

    world.link(Provider::Github, "github.com", "5151", "dave").await;
    let console = github_console(&world, &world.aws).await;
    let operator = operator_cookie(&console).await;
    let deliveries = get_as(&console, &operator, "/console/deliveries").await;
    assert!(deliveries.body.contains(">notice<"), "{}", deliveries.body);
    let form = format!(
        "csrf={}&key=github%23github.com%23lambda-redeliver-1",
        csrf(&deliveries.body)
    );
    let redelivered = post_as(&console, &operator, "/console/deliveries/redeliver", &form).await;
    redelivered.assert_ok_saying("Delivered again");
    world.pump().await;
    assert_eq!(world.openhands.starts().len(), 1, "dave's run started");
    let after = get_as(&console, &operator, "/console/deliveries").await;
    assert!(after.body.contains("run started"), "{}", after.body);
}
