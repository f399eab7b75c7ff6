//! Live job progress over server-sent events: a client that drops mid-job
//! and reconnects with `Last-Event-ID` loses and repeats nothing.

mod common;

use engine::store::Pool;
use std::collections::BTreeSet;

use common::{
    gated_hook, open_events, open_gate, set_before_switch, Auth, SseEvent, SseReader, TestServer,
};
use reqwest::StatusCode;
use serde_json::json;

/// What identifies an event's content (the formatted timestamp aside).
fn content(event: &SseEvent) -> (i64, String, String, String) {
    let json = event.json();
    assert_eq!(
        json["seq"].as_i64(),
        event.id,
        "the event id is the sequence number: {event:?}"
    );
    assert!(
        json["ts"].as_str().is_some_and(|ts| !ts.is_empty()),
        "{event:?}"
    );
    (
        event.id.expect("every job event has an id"),
        json["host"].as_str().unwrap_or_default().to_owned(),
        json["level"].as_str().unwrap_or_default().to_owned(),
        json["text"].as_str().unwrap_or_default().to_owned(),
    )
}

fn ids(events: &[SseEvent]) -> Vec<i64> {
    events.iter().map(|e| e.id.expect("event id")).collect()
}

async fn full_replay(server: &TestServer, auth: &Auth, job_id: i64, query: &str) -> Vec<SseEvent> {
    let resp = open_events(server, auth, job_id, query, None).await;
    assert_eq!(resp.status(), StatusCode::OK);
    SseReader::new(resp).until_end().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnect_with_last_event_id_loses_and_repeats_nothing() {
    let server = TestServer::start().await;
    let auth = server.bearer_token("sse");
    // A hook that keeps talking for a while, so that events are produced
    // while the client is away.
    let db = server.db().await;
    let hook = gated_hook(
        server.data_dir(),
        "echo \"preparing release $SLIPWAY_RELEASE_ID\"; echo tick 1",
        "for i in 2 3 4 5 6; do echo tick $i; sleep 0.1; done",
    );
    set_before_switch(&db, &hook).await;

    let job_id = server.deploy(&auth, 1).await;

    // First connection: read until the hook has started, then hang up.
    let resp = open_events(&server, &auth, job_id, "", None).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream")));
    let mut reader = SseReader::new(resp);
    let mut first: Vec<SseEvent> = Vec::new();
    loop {
        let event = reader
            .next_event()
            .await
            .expect("the stream stays open while the job runs");
        let seen_tick = event.text() == "tick 1";
        assert_ne!(event.level(), "end", "the job ended before the hook ran");
        first.push(event);
        if seen_tick {
            break;
        }
    }
    drop(reader);
    let view = server.job(&auth, job_id).await;
    assert_eq!(
        view["job"]["state"],
        json!("running"),
        "dropped mid-job: {view}"
    );
    // Let the job go on (and produce events) while nobody listens.
    open_gate(server.data_dir());
    let deadline = std::time::Instant::now() + common::JOB_DEADLINE;
    loop {
        let ticks: i64 = engine::on_test_pool!(&db, pool => sqlx::query_scalar(
            "SELECT COUNT(*) FROM job_events WHERE job_id = $1 AND text = 'tick 3'",
        )
        .bind(job_id)
        .fetch_one(pool)
        .await)
        .unwrap();
        if ticks > 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the hook never went on"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    // Reconnect where we left off, as EventSource does.
    let last_seen = *ids(&first).last().unwrap();
    let resp = open_events(&server, &auth, job_id, "", Some(last_seen)).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let second = SseReader::new(resp).until_end().await;
    let end = second.last().expect("events after the reconnect");
    assert_eq!(end.level(), "end", "the stream ends with the end event");
    assert_eq!(end.text(), "succeeded");

    // Together: 1..=N, in order, each once.
    let mut union = ids(&first);
    union.extend(ids(&second));
    let n = *union.last().unwrap();
    assert_eq!(
        union,
        (1..=n).collect::<Vec<_>>(),
        "ids across the reconnect"
    );
    let distinct: BTreeSet<i64> = union.iter().copied().collect();
    assert_eq!(distinct.len(), union.len(), "no duplicates");
    assert!(
        second.iter().any(|e| e.text() == "tick 6"),
        "events produced while away were delivered"
    );

    // A fresh full replay after the end says exactly the same.
    let joined: Vec<_> = first.iter().chain(second.iter()).map(content).collect();
    let replay = full_replay(&server, &auth, job_id, "").await;
    let replayed: Vec<_> = replay.iter().map(content).collect();
    assert_eq!(replayed, joined, "live delivery equals the stored replay");

    // `?after=K` replays from K + 1.
    let k = last_seen;
    let tail = full_replay(&server, &auth, job_id, &format!("?after={k}")).await;
    assert_eq!(ids(&tail), ((k + 1)..=n).collect::<Vec<_>>());

    // Once finished and caught up, there is nothing to stream: 204, so that
    // EventSource stops reconnecting.
    let resp = open_events(&server, &auth, job_id, "", Some(n)).await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let resp = open_events(&server, &auth, job_id, &format!("?after={n}"), None).await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);

    let view = server.job(&auth, job_id).await;
    assert_eq!(view["job"]["state"], json!("succeeded"), "{view}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_deploy_streams_from_first_event_to_end() {
    let server = TestServer::start().await;
    let auth = server.login().await;
    let job_id = server.deploy(&auth, 1).await;

    // Connected right after the request: everything arrives, in order.
    let resp = open_events(&server, &auth, job_id, "", None).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let events = SseReader::new(resp).until_end().await;
    let n = events.len() as i64;
    assert_eq!(ids(&events), (1..=n).collect::<Vec<_>>());
    assert_eq!(events.last().unwrap().level(), "end");
    assert!(
        events
            .iter()
            .any(|e| e.text().starts_with("preparing release ")),
        "the hook's output is streamed"
    );

    // Unknown jobs are 404, not an empty stream.
    let resp = open_events(&server, &auth, 4242, "", None).await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}

/// A job's final state and its closing events (`job …` and `end`) commit
/// in one transaction. Here storing the closing events fails (a temporary
/// trigger stands in for a crash at that point): the job must not be
/// recorded as succeeded without them. Its runner keeps the lease and tries
/// again; once the failure passes, the real outcome lands with its `end`,
/// and the event stream ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_never_finishes_without_its_end_event() {
    let server = TestServer::start().await;
    let auth = server.bearer_token("sse");
    let db = server.db().await;
    set_before_switch(&db, &gated_hook(server.data_dir(), "echo staged", "true")).await;
    let job_id = server.deploy(&auth, 1).await;

    let statements: &[&str] = match &db {
        Pool::Sqlite(_) => &[
            "CREATE TRIGGER it_lost_after_finish BEFORE INSERT ON job_events
             WHEN NEW.level = 'end'
             BEGIN SELECT RAISE(ABORT, 'simulated failure while closing the job'); END",
        ],
        Pool::Postgres(_) => &[
            "CREATE FUNCTION it_lost_after_finish() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN RAISE EXCEPTION 'simulated failure while closing the job'; END $$",
            "CREATE TRIGGER it_lost_after_finish BEFORE INSERT ON job_events
             FOR EACH ROW WHEN (NEW.level = 'end') EXECUTE FUNCTION it_lost_after_finish()",
        ],
    };
    for statement in statements {
        engine::on_test_pool!(&db, pool => sqlx::query(statement).execute(pool).await.map(drop))
            .unwrap();
    }
    open_gate(server.data_dir());
    // The runner's attempt to finish the job, right after its clean-up step,
    // is rolled back whole: the job is never `succeeded` without its end.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let cleaned: i64 = engine::on_test_pool!(&db, pool => sqlx::query_scalar(
            "SELECT COUNT(*) FROM job_events WHERE job_id = $1 AND text LIKE '[cleanup] done%'",
        )
        .bind(job_id)
        .fetch_one(pool)
        .await)
        .unwrap();
        if cleaned > 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the job never reached its clean-up"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    for _ in 0..10 {
        let view = server.job(&auth, job_id).await;
        assert_ne!(
            view["job"]["state"],
            json!("succeeded"),
            "finished without its end event: {view}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let drop_trigger = match &db {
        Pool::Sqlite(_) => "DROP TRIGGER it_lost_after_finish",
        Pool::Postgres(_) => "DROP TRIGGER it_lost_after_finish ON job_events",
    };
    engine::on_test_pool!(&db, pool => sqlx::query(drop_trigger).execute(pool).await.map(drop))
        .unwrap();

    let resp = open_events(&server, &auth, job_id, "", None).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let mut reader = SseReader::new(resp);
    let end = tokio::time::timeout(std::time::Duration::from_secs(90), async {
        while let Some(event) = reader.next_event().await {
            if event.level() == "end" {
                return Some(event);
            }
        }
        None
    })
    .await;
    let end = end
        .expect("the event stream did not end")
        .expect("the stream closed without an end event");
    assert_eq!(end.text(), "succeeded");
    let view = server.job(&auth, job_id).await;
    assert_eq!(view["job"]["state"], json!("succeeded"), "{view}");
}

/// Sends `pieces` on one connection, a moment apart, and reads until the
/// server closes it.
async fn raw_exchange(server: &TestServer, pieces: &[&[u8]]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = server.base_url.trim_start_matches("http://");
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.set_nodelay(true).unwrap();
    for piece in pieces {
        tcp.write_all(piece).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let mut answer = Vec::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(30),
        tcp.read_to_end(&mut answer),
    )
    .await
    .expect("the server closes the connection after its answer")
    .unwrap();
    String::from_utf8(answer).unwrap()
}

/// Event streams are answered outside hyper (to hold less memory per
/// watcher), chosen by the connection's first bytes: however those bytes
/// arrive, a stream is framed correctly for HTTP/1.1 and HTTP/1.0, and
/// every other request still reaches hyper whole, keep-alive included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_streams_and_pages_share_the_port_however_the_request_arrives() {
    let server = TestServer::start().await;
    let auth = server.bearer_token("raw");
    let Auth::Bearer(token) = &auth else {
        panic!("a bearer token")
    };
    let job_id = server.deploy(&auth, 1).await;
    server.wait_job_finished(&auth, job_id).await;
    let stored = full_replay(&server, &auth, job_id, "").await;
    let last = stored.last().and_then(|e| e.id).unwrap();

    let rest = format!(
        "T /events/jobs/{job_id} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n"
    );
    let chunked = raw_exchange(&server, &[b"GE", rest.as_bytes()]).await;
    let (head, body) = chunked.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(head.contains("\r\ntransfer-encoding: chunked"), "{head}");
    assert!(
        head.contains("\r\ncontent-type: text/event-stream"),
        "{head}"
    );
    assert!(head.contains("\r\nconnection: close"), "{head}");
    assert!(
        body.ends_with("\r\n0\r\n\r\n"),
        "ends with the last chunk: {body}"
    );
    assert!(body.contains(&format!("id: {last}\n")), "{body}");

    let request =
        format!("GET /events/jobs/{job_id} HTTP/1.0\r\nAuthorization: Bearer {token}\r\n\r\n");
    let close_delimited = raw_exchange(&server, &[request.as_bytes()]).await;
    let (head, body) = close_delimited.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(!head.contains("transfer-encoding"), "{head}");
    let ids: Vec<i64> = body
        .lines()
        .filter_map(|l| l.strip_prefix("id: "))
        .map(|id| id.parse().unwrap())
        .collect();
    assert_eq!(ids, (1..=last).collect::<Vec<_>>());

    // A client that has the end is told there is nothing more.
    let request = format!(
        "GET /events/jobs/{job_id} HTTP/1.1\r\nAuthorization: Bearer {token}\r\nLast-Event-ID: {last}\r\n\r\n"
    );
    let done = raw_exchange(&server, &[request.as_bytes()]).await;
    assert!(done.starts_with("HTTP/1.1 204 No Content\r\n"), "{done}");

    // Anonymous, and malformed: refused as before.
    let anonymous = raw_exchange(
        &server,
        &[format!("GET /events/jobs/{job_id} HTTP/1.1\r\n\r\n").as_bytes()],
    )
    .await;
    assert!(anonymous.starts_with("HTTP/1.1 401 "), "{anonymous}");
    let malformed = raw_exchange(
        &server,
        &[b"GET /events/jobs/1 HTTP/1.1\r\nno colon\r\n\r\n"],
    )
    .await;
    assert!(malformed.starts_with("HTTP/1.1 400 "), "{malformed}");

    // A page's request, one byte at a time, then a second on the same
    // connection: hyper answers both.
    let page = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    let mut pieces: Vec<&[u8]> = page.chunks(1).collect();
    pieces.push(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let pages = raw_exchange(&server, &pieces).await;
    assert_eq!(pages.matches("HTTP/1.1 200 OK\r\n").count(), 2, "{pages}");
}
