//! Prometheus metrics: on their own listener only, every family of the contract, and counts
//! that move with real work (a PATCH, a live session, a commit).

use std::collections::HashMap;

use actix_web::http::Method;

use crate::helpers::{TestApp, append_block, spawn_app_with};
use crate::live::{connect, dialogue, until};

const CONTRACT_FAMILIES: [&str; 12] = [
    "dialogue_http_requests_total",
    "dialogue_http_request_duration_seconds",
    "dialogue_live_sessions",
    "dialogue_live_frames_sent_total",
    "dialogue_live_sessions_closed_total",
    "dialogue_actors",
    "dialogue_revisions_committed_total",
    "dialogue_commit_batch_revisions",
    "dialogue_store_commit_duration_seconds",
    "dialogue_webhook_deliveries_total",
    "process_resident_memory_bytes",
    "process_cpu_seconds_total",
];

/// Every sample of a scrape, by its full name with labels.
async fn scrape(app: &TestApp) -> (String, HashMap<String, f64>) {
    let address = app.metrics_address.as_deref().expect("a metrics listener");
    let mut response = awc::Client::default().get(format!("{address}/metrics")).send().await.expect("a scrape");
    assert_eq!(response.status().as_u16(), 200);
    let text = String::from_utf8(response.body().await.expect("a body").to_vec()).expect("text");
    let samples = text
        .lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .filter_map(|line| {
            let (name, value) = line.rsplit_once(' ')?;
            Some((name.to_owned(), value.parse().ok()?))
        })
        .collect();
    (text, samples)
}

fn sample(samples: &HashMap<String, f64>, name: &str) -> f64 {
    samples.get(name).copied().unwrap_or(0.0)
}

#[actix_web::test]
async fn every_contract_family_is_served_and_counts_move_with_real_work() {
    let app = spawn_app_with(|settings| settings.metrics_bind = Some("127.0.0.1:0".into())).await;
    let public = app.send(Method::GET, "/metrics", None, None, None).await;
    public.assert_error(404, "not_found");

    let (project, dialogue_id, path) = dialogue(&app).await;
    let (_, before) = scrape(&app).await;

    assert_eq!(app.patch(&path, &app.admin_token, &append_block("by-rest")).await.status, 200);
    let (mut client, welcome) = connect(&app, &app.admin_token, &project, &dialogue_id, None).await;
    client.send_patch("p1", welcome.revision.number, append_block("by-live")).await.expect("sent");
    until(&mut client, |frame| matches!(frame, dialogue_client::ServerFrame::Ack { .. }).then_some(())).await;
    let (text, during) = scrape(&app).await;
    assert!(sample(&during, "dialogue_live_sessions") >= 1.0, "the session is open");
    assert!(sample(&during, "dialogue_actors") >= 1.0, "the dialogue's actor is in memory");
    // Close, and read until the server's answering close: it counts the close before sending it.
    let mut socket = client.into_inner();
    socket.close(None).await.expect("the close is sent");
    while let Some(Ok(_)) = futures_util::StreamExt::next(&mut socket).await {}
    let closed_before = sample(&during, r#"dialogue_live_sessions_closed_total{code="client"}"#);
    let unknown = app.send(Method::GET, "/projects/no-such-project", Some(&app.admin_token), None, None).await;
    assert_eq!(unknown.status, 404);

    for family in CONTRACT_FAMILIES {
        assert!(text.contains(&format!("# TYPE {family} ")), "{family} is missing:\n{text}");
    }
    for histogram in [
        "dialogue_http_request_duration_seconds",
        "dialogue_commit_batch_revisions",
        "dialogue_store_commit_duration_seconds",
    ] {
        assert!(text.contains(&format!("# TYPE {histogram} histogram")), "{histogram} is a histogram");
    }
    // Counts move: this test's work, whatever other tests in the process do meanwhile.
    let (text, after) = scrape(&app).await;
    let patch = r#"dialogue_http_requests_total{method="PATCH",route="/projects/{project_id}/dialogues/{dialogue_id}",status="200"}"#;
    assert!(sample(&after, patch) >= sample(&before, patch) + 1.0, "the PATCH is counted:\n{text}");
    let not_found = r#"dialogue_http_requests_total{method="GET",route="/projects/{project_id}",status="404"}"#;
    assert!(sample(&after, not_found) >= 1.0, "routes are patterns, never raw paths");
    assert!(!text.contains("no-such-project"), "no raw path is a label");
    // Two writes (REST and live), each its own commit; the live one is acknowledged by a frame.
    for (counter, at_least) in [
        ("dialogue_revisions_committed_total", 2.0),
        ("dialogue_commit_batch_revisions_count", 2.0),
        ("dialogue_store_commit_duration_seconds_count", 2.0),
        ("dialogue_store_round_trips_total", 2.0),
        ("dialogue_live_frames_sent_total", 1.0),
    ] {
        let (was, is) = (sample(&before, counter), sample(&after, counter));
        assert!(is >= was + at_least, "{counter} moved by at least {at_least}: {was} -> {is}");
    }
    assert!(sample(&after, "process_resident_memory_bytes") > 0.0);
    let closed = sample(&after, r#"dialogue_live_sessions_closed_total{code="client"}"#);
    assert!(closed > closed_before, "the session the client closed is counted as closed by the client");
}
