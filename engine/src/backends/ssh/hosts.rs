//! Where an SSH environment's hosts come from: a static list, or — for
//! fleets that scale — a command's output or a file, read at job start.
//! Every name is checked like a typed-in one before anything connects.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncReadExt;

use super::{HostAddr, SshConfig};
use crate::error::InvalidInput;

/// Most hosts a source may return.
pub use crate::domain::settings::MAX_HOSTS;
/// How long a discovery command may run.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);
/// Most output a discovery command or file may produce.
const MAX_OUTPUT: u64 = 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum HostSourceError {
    #[error("the hosts command failed ({status}): {stderr}")]
    CommandFailed { status: String, stderr: String },
    #[error("the hosts command did not finish within {0:?}")]
    CommandTimedOut(Duration),
    #[error("cannot read the hosts: {0}")]
    Io(#[from] std::io::Error),
    #[error("{}", .0.message)]
    Invalid(#[from] InvalidInput),
}

/// What the environment names as its host source, for logs.
pub fn describe(config: &SshConfig) -> String {
    match (&config.hosts_command, &config.hosts_file) {
        (Some(command), _) => format!("the command {command:?}"),
        (None, Some(file)) => format!("the file {}", file.display()),
        (None, None) => "the environment's host list".to_owned(),
    }
}

/// The hosts for this job.
pub async fn resolve(config: &SshConfig) -> Result<Vec<HostAddr>, HostSourceError> {
    let listing = match (&config.hosts_command, &config.hosts_file) {
        (Some(command), _) => run_command(command).await?,
        (None, Some(file)) => read_file(file).await?,
        (None, None) => config.hosts.join("\n"),
    };
    Ok(parse_listing(&listing, config.port)?)
}

/// One host per line (`host` or `host:port`); blank lines and `#` comments
/// are skipped, repeats are dropped. An empty result is an error.
pub fn parse_listing(listing: &str, default_port: u16) -> Result<Vec<HostAddr>, InvalidInput> {
    let mut addrs: Vec<HostAddr> = Vec::new();
    for line in listing.lines() {
        let line = line.split('#').next().unwrap_or_default().trim();
        if line.is_empty() {
            continue;
        }
        let addr = HostAddr::parse(line, default_port)?;
        if !addrs.contains(&addr) {
            addrs.push(addr);
        }
    }
    if addrs.is_empty() {
        return Err(InvalidInput::new("hosts", "the host source lists no hosts"));
    }
    if addrs.len() > MAX_HOSTS {
        return Err(InvalidInput::new(
            "hosts",
            format!(
                "the host source lists {} hosts; at most {MAX_HOSTS}",
                addrs.len()
            ),
        ));
    }
    Ok(addrs)
}

async fn read_file(path: &Path) -> Result<String, HostSourceError> {
    let file = tokio::fs::File::open(path).await?;
    let mut text = String::new();
    file.take(MAX_OUTPUT).read_to_string(&mut text).await?;
    Ok(text)
}

/// Runs the environment's discovery command on the Slipway server with
/// `sh -c`, a clean environment (plus `PATH` and `HOME`) and a time limit.
async fn run_command(command: &str) -> Result<String, HostSourceError> {
    let mut child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .env_clear()
        .env(
            "PATH",
            std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into()),
        )
        .env(
            "HOME",
            std::env::var_os("HOME").unwrap_or_else(|| "/".into()),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let (mut stdout, mut stderr) = (child.stdout.take(), child.stderr.take());
    let collect = async {
        let (mut out, mut err) = (String::new(), String::new());
        if let Some(s) = stdout.as_mut() {
            s.take(MAX_OUTPUT).read_to_string(&mut out).await?;
        }
        if let Some(s) = stderr.as_mut() {
            s.take(MAX_OUTPUT).read_to_string(&mut err).await?;
        }
        let status = child.wait().await?;
        Ok::<_, std::io::Error>((status, out, err))
    };
    let (status, out, err) = tokio::time::timeout(COMMAND_TIMEOUT, collect)
        .await
        .map_err(|_| HostSourceError::CommandTimedOut(COMMAND_TIMEOUT))??;
    if !status.success() {
        return Err(HostSourceError::CommandFailed {
            status: status.to_string(),
            stderr: err.trim().chars().take(500).collect(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listings_skip_comments_and_repeats_and_refuse_hostile_names() {
        let hosts = parse_listing("# fleet\nweb-1\n\nweb-2:2222  # canary\nweb-1\n", 22).unwrap();
        let names: Vec<String> = hosts.iter().map(ToString::to_string).collect();
        assert_eq!(names, ["web-1", "web-2:2222"]);
        for hostile in ["web-1; rm -rf /", "$(id)", "-oProxyCommand=x", "`id`"] {
            assert!(parse_listing(hostile, 22).is_err(), "{hostile}");
        }
        assert!(parse_listing("# nothing\n\n", 22).is_err());
    }

    #[tokio::test]
    async fn a_command_lists_hosts_and_its_failures_are_clear() {
        let out = run_command("printf 'a\\nb\\n'").await.unwrap();
        assert_eq!(parse_listing(&out, 22).unwrap().len(), 2);
        let failed = run_command("echo boom >&2; exit 3")
            .await
            .unwrap_err()
            .to_string();
        assert!(failed.contains("boom") && failed.contains('3'), "{failed}");
    }
}
