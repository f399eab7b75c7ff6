//! One multiplexed SSH connection per host (OpenSSH's ControlMaster through
//! the `openssh` crate), configured by a generated `ssh_config` that pins
//! host keys and refuses unknown ones.

use std::path::{Path, PathBuf};

use std::time::Duration;

use openssh::{KnownHosts, Session, SessionBuilder, Stdio};
use tokio::io::{AsyncBufReadExt, BufReader};

use super::{HostAddr, SshConfig};

#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("cannot connect: {0}")]
    Connect(String),
    #[error("ssh failed: {0}")]
    Ssh(String),
    #[error("timed out after {0}s")]
    Timeout(u64),
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}

/// Where the generated ssh configuration and control sockets live for one job.
pub struct SshWorkspace {
    dir: PathBuf,
}

impl SshWorkspace {
    pub fn create(config: &SshConfig, job_id: i64) -> std::io::Result<Self> {
        use std::os::unix::fs::DirBuilderExt;
        let dir = std::env::temp_dir().join(format!(
            "slipway-ssh-{job_id}-{:08x}",
            rand::random::<u32>()
        ));
        std::fs::DirBuilder::new().mode(0o700).create(&dir)?;
        std::fs::write(
            dir.join("known_hosts"),
            format!("{}\n", config.known_hosts.trim()),
        )?;
        std::fs::write(dir.join("ssh_config"), ssh_config(config, &dir))?;
        Ok(Self { dir })
    }

    fn config_file(&self) -> PathBuf {
        self.dir.join("ssh_config")
    }
}

impl Drop for SshWorkspace {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The client settings every connection uses, in one reviewable place.
fn ssh_config(config: &SshConfig, dir: &Path) -> String {
    let mut out = String::from("Host *\n");
    let mut set = |k: &str, v: &str| out.push_str(&format!("  {k} {v}\n"));
    set("User", &config.user);
    set(
        "UserKnownHostsFile",
        &format!("\"{}\"", dir.join("known_hosts").display()),
    );
    set("GlobalKnownHostsFile", "/dev/null");
    set("StrictHostKeyChecking", "yes");
    set("BatchMode", "yes");
    set("PasswordAuthentication", "no");
    // A cheap key exchange first: it dominates connecting to many hosts.
    set(
        "KexAlgorithms",
        "^curve25519-sha256,curve25519-sha256@libssh.org",
    );
    set("ConnectTimeout", &config.connect_timeout_secs.to_string());
    set("ServerAliveInterval", "15");
    set("LogLevel", "ERROR");
    if let Some(key) = &config.identity_file {
        set("IdentityFile", &format!("\"{}\"", key.display()));
        set("IdentitiesOnly", "yes");
    }
    out
}

pub struct Connection {
    pub addr: HostAddr,
    session: Session,
}

/// What a remote command printed and how it ended.
pub struct RemoteOutput {
    pub success: bool,
    pub code: Option<i32>,
    pub stdout: Vec<String>,
    pub stderr: Vec<String>,
}

impl RemoteOutput {
    /// A short reason for a failure, from the last line of stderr.
    pub fn reason(&self) -> String {
        let status = match self.code {
            Some(code) => format!("exited with status {code}"),
            None => "ended without a status".to_owned(),
        };
        match self.stderr.iter().rev().find(|l| !l.trim().is_empty()) {
            Some(line) => format!("{status}: {}", line.trim()),
            None => status,
        }
    }
}

impl Connection {
    pub async fn open(
        workspace: &SshWorkspace,
        config: &SshConfig,
        addr: &HostAddr,
    ) -> Result<Self, TransportError> {
        let mut builder = SessionBuilder::default();
        builder
            .config_file(workspace.config_file())
            .known_hosts_check(KnownHosts::Strict)
            .control_directory(&workspace.dir)
            .connect_timeout(Duration::from_secs(config.connect_timeout_secs))
            .user(config.user.clone())
            .port(addr.port);
        let session = tokio::time::timeout(
            Duration::from_secs(config.connect_timeout_secs + 5),
            builder.connect_mux(&addr.host),
        )
        .await
        .map_err(|_| TransportError::Timeout(config.connect_timeout_secs))?
        .map_err(|e| TransportError::Connect(describe(&e)))?;
        Ok(Self {
            addr: addr.clone(),
            session,
        })
    }

    /// Runs `script` with the remote user's shell, with the file `input` (if
    /// any) as its stdin. The file's descriptor is handed to the multiplexing
    /// ssh master, which reads it directly: the archive never passes through
    /// this process. `on_line(is_stderr, line)` sees output as it arrives.
    pub async fn run(
        &self,
        script: &str,
        input: Stdin<'_>,
        timeout: Duration,
        on_line: &(dyn Fn(bool, &str) + Sync),
    ) -> Result<RemoteOutput, TransportError> {
        let stdin = match input {
            Stdin {
                bytes: &[],
                file: None,
            } => Stdio::null(),
            // The archive alone: handed to ssh as it is, no copy through here.
            Stdin {
                bytes: &[],
                file: Some(path),
            } => Stdio::from(tokio::fs::File::open(path).await?.into_std().await),
            _ => Stdio::piped(),
        };
        let work = async {
            let mut child = self
                .session
                .raw_command(script)
                .stdin(stdin)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .await
                .map_err(|e| TransportError::Ssh(describe(&e)))?;
            let feed = feed_stdin(child.stdin().take(), input);
            let stdout = child.stdout().take();
            let stderr = child.stderr().take();
            let read_out = read_lines(stdout, false, on_line);
            let read_err = read_lines(stderr, true, on_line);
            let (fed, stdout, stderr) = tokio::join!(feed, read_out, read_err);
            // A command that exits without reading all of its stdin is not
            // an error of ours: its status says how it went.
            if let Err(e) = fed {
                tracing::debug!(host = %self.addr, error = %e, "stdin not taken whole");
            }
            let (success, code) = match child.wait().await {
                Ok(status) => (status.success(), status.code()),
                // The crate reports exit status 127 as an error of its own;
                // the remote shell's stderr ("sudo: not found") says more.
                Err(openssh::Error::Remote(e)) if e.kind() == std::io::ErrorKind::NotFound => {
                    (false, Some(127))
                }
                Err(e) => return Err(TransportError::Ssh(describe(&e))),
            };
            Ok(RemoteOutput {
                success,
                code,
                stdout,
                stderr,
            })
        };
        tokio::time::timeout(timeout, work)
            .await
            .map_err(|_| TransportError::Timeout(timeout.as_secs()))?
    }

    pub async fn close(self) {
        if let Err(e) = self.session.close().await {
            tracing::debug!(host = %self.addr, error = %e, "closing the ssh connection");
        }
    }
}

/// What a remote command reads on stdin: `bytes` (values kept off the
/// command line), then the contents of `file` (the release archive).
#[derive(Clone, Copy, Debug, Default)]
pub struct Stdin<'a> {
    pub bytes: &'a [u8],
    pub file: Option<&'a Path>,
}

impl<'a> Stdin<'a> {
    /// Nothing: the command reads end-of-file.
    pub const NONE: Stdin<'static> = Stdin {
        bytes: &[],
        file: None,
    };

    /// Just these bytes (the exports of a hook, an env file).
    pub fn bytes(bytes: &'a [u8]) -> Self {
        Stdin { bytes, file: None }
    }
}

/// Writes `input` into a piped stdin, then closes it.
async fn feed_stdin(pipe: Option<openssh::ChildStdin>, input: Stdin<'_>) -> std::io::Result<()> {
    use tokio::io::AsyncWriteExt as _;
    let Some(mut pipe) = pipe else {
        return Ok(());
    };
    pipe.write_all(input.bytes).await?;
    if let Some(path) = input.file {
        let mut file = tokio::fs::File::open(path).await?;
        tokio::io::copy(&mut file, &mut pipe).await?;
    }
    pipe.shutdown().await
}

/// The most useful text of an openssh error, including its source.
fn describe(err: &openssh::Error) -> String {
    use std::error::Error as _;
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(inner) = source {
        let inner_text = inner.to_string();
        if !text.contains(&inner_text) {
            text.push_str(": ");
            text.push_str(&inner_text);
        }
        source = inner.source();
    }
    text
}

/// Reads a child's output line by line, showing each to `on_line` as it
/// arrives (`is_stderr` says which stream), and keeps them all.
pub(crate) async fn read_lines(
    stream: Option<impl tokio::io::AsyncRead + Unpin>,
    is_stderr: bool,
    on_line: &(dyn Fn(bool, &str) + Sync),
) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(stream) = stream {
        let mut reader = BufReader::new(stream).lines();
        while let Ok(Some(line)) = reader.next_line().await {
            on_line(is_stderr, &line);
            lines.push(line);
        }
    }
    lines
}
