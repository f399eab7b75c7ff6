//! What the server's benchmarks share: their settings from the environment
//! and the server process's memory.

// Each benchmark uses part of it.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures::StreamExt;

/// `name` from the environment as a number, else `default`.
pub fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A memory figure of process `pid` from `/proc/<pid>/status` (`VmRSS`,
/// `VmHWM`, …), in KiB; 0 when it cannot be read.
pub fn memory_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kb| kb.parse().ok())
        .unwrap_or(0)
}

pub fn rss_kib(pid: u32) -> u64 {
    memory_kib(pid, "VmRSS")
}

pub fn percentile(samples: &mut [f64], q: f64) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples
        .get(((samples.len() as f64 - 1.0) * q).round() as usize)
        .copied()
        .unwrap_or(f64::NAN)
}

pub fn unix_ns() -> i128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i128)
        .unwrap_or(0)
}

/// What one watcher saw.
#[derive(Default)]
pub struct Watch {
    pub first_event: Option<Duration>,
    pub ids: Vec<i64>,
    pub tick_latencies_ms: Vec<f64>,
    pub ended: bool,
    pub error: Option<String>,
}

pub async fn watch(
    client: reqwest::Client,
    url: String,
    cookie: String,
    connected: Arc<tokio::sync::Semaphore>,
) -> Watch {
    let mut seen = Watch::default();
    let start = Instant::now();
    let response = match client
        .get(&url)
        .header("cookie", cookie)
        .header("accept", "text/event-stream")
        .send()
        .await
    {
        Ok(r) if r.status().is_success() => r,
        Ok(r) => {
            seen.error = Some(format!("status {}", r.status()));
            connected.add_permits(1);
            return seen;
        }
        Err(e) => {
            seen.error = Some(e.to_string());
            connected.add_permits(1);
            return seen;
        }
    };
    let mut body = response.bytes_stream();
    let mut buffer = String::new();
    while let Some(chunk) = body.next().await {
        let Ok(chunk) = chunk else {
            seen.error = Some("the stream broke".into());
            break;
        };
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            let mut id = None;
            let mut data = String::new();
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("id:") {
                    id = v.trim().parse::<i64>().ok();
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push_str(v.trim_start());
                }
            }
            let Some(id) = id else { continue };
            let read_at = unix_ns();
            if seen.first_event.is_none() {
                seen.first_event = Some(start.elapsed());
                connected.add_permits(1);
            }
            seen.ids.push(id);
            let event: serde_json::Value = serde_json::from_str(&data).unwrap_or_default();
            let text = event["text"].as_str().unwrap_or_default();
            if let Some(rest) = text.strip_prefix("tick ") {
                if let Some(ns) = rest
                    .split_whitespace()
                    .nth(1)
                    .and_then(|n| n.parse::<i128>().ok())
                {
                    seen.tick_latencies_ms.push((read_at - ns) as f64 / 1e6);
                }
            }
            if event["level"] == "end" {
                seen.ended = true;
            }
        }
    }
    if seen.first_event.is_none() {
        connected.add_permits(1);
    }
    seen
}

/// `watchers` watchers of the event stream at `url`, each on a connection
/// of its own, once every one has its first event (or failed).
pub async fn watch_all(
    url: &str,
    cookie: &str,
    watchers: usize,
) -> Vec<tokio::task::JoinHandle<Watch>> {
    let client = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(300))
        .build()
        .expect("an HTTP client");
    let connected = Arc::new(tokio::sync::Semaphore::new(0));
    let tasks = (0..watchers)
        .map(|_| {
            tokio::spawn(watch(
                client.clone(),
                url.to_owned(),
                cookie.to_owned(),
                connected.clone(),
            ))
        })
        .collect();
    connected
        .acquire_many(watchers as u32)
        .await
        .expect("every watcher connected")
        .forget();
    tasks
}
