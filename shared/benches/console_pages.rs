//! Time of the operator console's listing pages on the embedded SQLite store holding 10,000 delivery decisions
//! and 1,000 runs (what `console::handle` does for a signed-in operator: read a page, render it):
//!
//!   cargo bench -p hookline --features console --bench console_pages

use std::{sync::Arc, time::Duration};

use criterion::{criterion_group, criterion_main, Criterion};
use hookline::{
    clock::SystemClock,
    config::ConsoleSettings,
    conformance::{decision, run},
    console::{self, session::Session, ConsoleServices},
    domain::{DecisionKind, Provider, RunState},
    embedded::Database,
    http::HttpRequest,
    memory::MemorySecrets,
    ports::{DeliveryLog, RunStore},
    secret::SecretString,
};

const DECISIONS: u64 = 10_000;
const RUNS: u64 = 1_000;

fn bench_pages(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let database = Database::open(dir.path().join("bench.db")).unwrap();
    let store = Arc::new(database.store());
    let now = 1_800_000_000;
    runtime.block_on(async {
        let kinds = [
            DecisionKind::Ignored,
            DecisionKind::Run,
            DecisionKind::Denied,
            DecisionKind::Notice,
        ];
        // About what a queued issue comment weighs; kept apart from the rows the page reads.
        let envelope = format!(r#"{{"version":1,"payload":{{"body":"{}"}}}}"#, "x".repeat(1_500));
        for i in 0..DECISIONS {
            let provider = Provider::ALL[(i % 5) as usize];
            let mut recorded = decision(provider, "tenant", &format!("delivery-{i}"), now - DECISIONS + i);
            recorded.kind = kinds[(i % 4) as usize];
            store
                .record(&recorded, &envelope, Duration::from_secs(30 * 86_400))
                .await
                .unwrap();
        }
        for i in 0..RUNS {
            let state = RunState::ALL[(i % 6) as usize];
            let id = format!("{i:032x}");
            store.insert_run(&run(&id, state, now - RUNS + i)).await.unwrap();
        }
    });
    let settings = ConsoleSettings::default();
    let key = "k".repeat(64);
    let secrets = MemorySecrets::new().with(&settings.session_key_secret, key.clone());
    let console = ConsoleServices {
        decisions: store.clone(),
        runs: store,
        dead_letters: Some(Arc::new(database.queue())),
        redeliver: Some(Arc::new(database.queue())),
        secrets: Arc::new(secrets),
        clock: Arc::new(SystemClock),
        settings,
        openhands_web_url: "https://openhands.example".to_owned(),
        setup: None,
        linking: None,
    };
    let cookie = Session::operator(u64::MAX)
        .set_cookie(&SecretString::new(key), "/console", 60)
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let mut headers = http::HeaderMap::new();
    headers.insert("cookie", cookie.parse().unwrap());
    let mut group = c.benchmark_group("console_page");
    for (name, path, query) in [
        ("deliveries", "/console/deliveries", ""),
        ("deliveries_one_provider", "/console/deliveries", "provider=jira"),
        ("runs", "/console/runs", ""),
        ("runs_failed", "/console/runs", "state=failed"),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                let handled = runtime.block_on(console::handle(
                    &console,
                    HttpRequest {
                        method: "GET",
                        path,
                        query,
                        headers: &headers,
                        body: b"",
                    },
                ));
                assert_eq!(handled.reply.status, 200);
                handled
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(Duration::from_secs(3));
    targets = bench_pages
}
criterion_main!(benches);
