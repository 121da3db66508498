//! CPU of the webhook path without HTTP and storage: `webhook::handle` for the load benchmark's signed 8.6 kB GitHub
//! `issue_comment` delivery (verify, parse, trim, build the queued envelope), with an inbox that takes everything.
//! Next to it, the two floors that path cannot go below: HMAC-SHA256 of the body and serde_json skipping it.
//!
//!   cargo bench -p hookline --bench webhook_intake
//!
//! The payload comes from `bench/make_payload.py`, the same generator `bench/load.sh` uses.

use std::{hint::black_box, path::Path, process::Command, sync::Arc, time::Duration};

use async_trait::async_trait;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use hookline::{
    assemble,
    clock::SystemClock,
    config::Config,
    domain::QueueMessage,
    error::PortError,
    handlers::webhook,
    http::HttpRequest,
    memory::MemorySecrets,
    ports::{Claim, Inbox, Secrets},
};

const SECRET: &str = "bench-webhook-secret";

/// Takes every delivery as new and drops it: the bench measures the request side only.
struct TakeAll;

#[async_trait]
impl Inbox for TakeAll {
    async fn accept(&self, _: &str, _: u64, _: Duration, message: QueueMessage) -> Result<Claim, PortError> {
        black_box(message);
        Ok(Claim::Claimed)
    }
}

/// The signed delivery: (body, `X-Hub-Signature-256`).
fn payload() -> (Vec<u8>, String) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = std::env::temp_dir().join(format!("hookline-bench-payload-{}.json", std::process::id()));
    let run = Command::new("python3")
        .arg(root.join("bench/make_payload.py"))
        .arg(&out)
        .arg(SECRET)
        .output()
        .expect("python3 runs bench/make_payload.py");
    assert!(run.status.success(), "bench/make_payload.py failed");
    let signature = String::from_utf8(run.stdout)
        .expect("signature is text")
        .trim()
        .to_owned();
    let body = std::fs::read(&out).expect("payload written");
    let _ = std::fs::remove_file(&out);
    (body, signature)
}

fn services() -> hookline::handlers::IntakeServices {
    let env = [
        ("GITHUB_TENANTS", "github.com"),
        ("GITHUB_APP_ID", "bench"),
        ("GITHUB_APP_SLUG", "hookline-bench"),
    ];
    let config = Config::from_lookup(|name| {
        env.iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| (*value).to_owned())
    })
    .expect("bench config");
    let secrets: Arc<dyn Secrets> = Arc::new(MemorySecrets::new().with("github/webhook-secret", SECRET));
    assemble::intake_services(&config, Arc::new(TakeAll), &secrets, Arc::new(SystemClock))
}

fn webhook_intake(c: &mut Criterion) {
    let (body, signature) = payload();
    let services = services();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let mut headers = http::HeaderMap::new();
    headers.insert("content-type", "application/json".parse().unwrap());
    headers.insert("x-github-event", "issue_comment".parse().unwrap());
    headers.insert("x-hub-signature-256", signature.parse().unwrap());
    headers.insert(
        "x-github-delivery",
        "72d3162e-cc78-11e3-81ab-4c9367dc0958".parse().unwrap(),
    );
    let request = || HttpRequest {
        method: "POST",
        path: "/webhooks/github",
        query: "",
        headers: &headers,
        body: &body,
    };
    let reply = runtime
        .block_on(webhook::handle(&services, "github", request()))
        .reply;
    assert_eq!(
        (reply.status, reply.body_str()),
        (202, "accepted"),
        "the bench delivery must be accepted"
    );

    let mut group = c.benchmark_group("webhook");
    group.throughput(Throughput::Bytes(body.len() as u64));
    group.bench_function("handle (verify, parse, trim, envelope)", |b| {
        b.iter(|| runtime.block_on(webhook::handle(&services, "github", black_box(request()))))
    });
    group.bench_function("floor: HMAC-SHA256 of the body", |b| {
        b.iter(|| hookline::verify::prefixed_sha256(SECRET.as_bytes(), black_box(&body), Some(&signature)))
    });
    group.bench_function("floor: serde_json skipping the body", |b| {
        b.iter(|| {
            let text = std::str::from_utf8(black_box(&body)).expect("utf-8");
            serde_json::from_str::<serde::de::IgnoredAny>(text).expect("json")
        })
    });
    group.finish();
}

criterion_group!(benches, webhook_intake);
criterion_main!(benches);
