//! Reads hosts' public keys with `ssh-keyscan`, so an admin can compare
//! their fingerprints and pin them, instead of pasting `known_hosts` lines
//! by hand. Nothing is pinned here: the keys only reach the form.

use std::process::Stdio;
use std::time::Duration;

use futures::future::join_all;
use tokio::process::Command;
use tokio::sync::Semaphore;
use tracing::{info_span, Instrument};

use super::HostAddr;

/// How long one host may take to answer.
const SCAN_TIMEOUT_SECS: u64 = 5;
/// Hosts scanned at once.
const SCAN_PARALLELISM: usize = 16;

/// What one host offered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScannedHost {
    pub host: String,
    /// `known_hosts` lines, ready to pin.
    pub known_hosts: Vec<String>,
    /// `ssh-keygen -l` lines (`256 SHA256:… host (ED25519)`), to compare.
    pub fingerprints: Vec<String>,
    /// Why nothing was read, when nothing was.
    pub error: Option<String>,
}

/// Scans every host (host names were validated by [`HostAddr::parse`], and
/// go to `ssh-keyscan` as arguments, never through a shell).
pub async fn scan(addrs: &[HostAddr]) -> Vec<ScannedHost> {
    let limit = &Semaphore::new(SCAN_PARALLELISM);
    join_all(addrs.iter().map(|addr| async move {
        let _permit = limit.acquire().await;
        let scanned = scan_one(addr)
            .instrument(info_span!("host_step", host = %addr, step = "keyscan"))
            .await;
        scanned.unwrap_or_else(|error| ScannedHost {
            host: addr.to_string(),
            known_hosts: Vec::new(),
            fingerprints: Vec::new(),
            error: Some(error),
        })
    }))
    .await
}

async fn scan_one(addr: &HostAddr) -> Result<ScannedHost, String> {
    let scanned = Command::new("ssh-keyscan")
        .args(["-T", &SCAN_TIMEOUT_SECS.to_string()])
        .args(["-p", &addr.port.to_string()])
        .args(["-t", "ed25519,ecdsa,rsa"])
        .arg(&addr.host)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(SCAN_TIMEOUT_SECS + 5), scanned)
        .await
        .map_err(|_| "no answer in time".to_owned())?
        .map_err(|e| format!("cannot run ssh-keyscan: {e}"))?;
    let known_hosts: Vec<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect();
    if known_hosts.is_empty() {
        // ssh-keyscan is silent about a refused connection.
        let stderr = String::from_utf8_lossy(&output.stderr);
        let why = stderr
            .lines()
            .map(str::trim)
            .rfind(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::to_owned)
            .unwrap_or_else(|| {
                format!(
                    "no key read: nothing answered SSH on port {} within {SCAN_TIMEOUT_SECS}s",
                    addr.port
                )
            });
        return Err(why);
    }
    let fingerprints = fingerprints(&known_hosts).await?;
    Ok(ScannedHost {
        host: addr.to_string(),
        known_hosts,
        fingerprints,
        error: None,
    })
}

async fn fingerprints(known_hosts: &[String]) -> Result<Vec<String>, String> {
    use tokio::io::AsyncWriteExt;
    let mut child = Command::new("ssh-keygen")
        .args(["-l", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot run ssh-keygen: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        let lines = known_hosts.join("\n") + "\n";
        stdin
            .write_all(lines.as_bytes())
            .await
            .map_err(|e| format!("ssh-keygen: {e}"))?;
    }
    let output = child
        .wait_with_output()
        .await
        .map_err(|e| format!("ssh-keygen: {e}"))?;
    Ok(String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_owned)
        .collect())
}
