//! A throwaway PostgreSQL cluster (Debian's binaries): `initdb` into a
//! temporary directory, `pg_ctl` on a free loopback port, stopped when
//! dropped. Used when the test run gives none (`SLIPWAY_TEST_POSTGRES`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use tempfile::TempDir;

pub struct Cluster {
    dir: TempDir,
    bin: PathBuf,
    pub admin_url: String,
}

impl Cluster {
    /// The cluster `SLIPWAY_TEST_POSTGRES` names, or a new one.
    pub fn shared_or_start() -> (String, Option<Cluster>) {
        match std::env::var(super::database::POSTGRES_VAR) {
            Ok(url) if !url.is_empty() => (url, None),
            _ => {
                let cluster = Cluster::start();
                (cluster.admin_url.clone(), Some(cluster))
            }
        }
    }

    pub fn start() -> Self {
        let bin = server_bin().unwrap_or_else(|| {
            panic!(
                "PostgreSQL is not installed (/usr/lib/postgresql/*/bin): run scripts/setup --test"
            )
        });
        let dir = tempfile::Builder::new()
            .prefix("slipway-pg-")
            .tempdir()
            .expect("a directory for the cluster");
        let root = is_root();
        if root {
            run(Command::new("chown").arg("postgres:").arg(dir.path()));
        }
        let data = dir.path().join("data");
        run(as_owner(root, &bin.join("initdb"))
            .arg("--pgdata")
            .arg(&data)
            .args([
                "--username=slipway",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
            ]));
        let port = free_port();
        let options = format!(
            "-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={} \
             -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200",
            dir.path().display()
        );
        run(as_owner(root, &bin.join("pg_ctl"))
            .arg("--pgdata")
            .arg(&data)
            .arg("--log")
            .arg(dir.path().join("server.log"))
            .args(["--wait", "start", "-o", &options]));
        Self {
            admin_url: format!("postgres://slipway@127.0.0.1:{port}/postgres"),
            dir,
            bin,
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = as_owner(is_root(), &self.bin.join("pg_ctl"))
            .arg("--pgdata")
            .arg(self.dir.path().join("data"))
            .args(["--mode=immediate", "--wait", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

fn server_bin() -> Option<PathBuf> {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .map(|entry| entry.path().join("bin"))
        .filter(|bin| bin.join("pg_ctl").exists())
        .collect();
    versions.sort_by_key(|bin| {
        bin.parent()
            .and_then(Path::file_name)
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
    });
    versions.pop()
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// `program`, run as the `postgres` user when we are root (`initdb` and
/// the server refuse root).
fn as_owner(root: bool, program: &Path) -> Command {
    if root {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    }
}

fn run(command: &mut Command) {
    let output = command
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("running {command:?}: {e}"));
    assert!(
        output.status.success(),
        "{command:?} failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free loopback port")
}
