//! The traffic switch: one nginx per docker environment, run by Slipway
//! with its own configuration directory and pid file. A switch rewrites the
//! upstream file, checks the configuration, and reloads nginx gracefully
//! (`nginx -s reload`): new workers take new connections to the new
//! container while old workers finish the requests they hold.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tokio::process::Command;

use super::plan::{self, ProxyLayout};

#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("nginx is not installed (apt-get install nginx-light): {0}")]
    Missing(std::io::Error),
    #[error("could not write the proxy configuration: {0}")]
    Io(#[from] std::io::Error),
    #[error("nginx refused: {0}")]
    Nginx(String),
}

fn nginx_binary() -> PathBuf {
    let sbin = Path::new("/usr/sbin/nginx");
    if sbin.exists() {
        sbin.to_owned()
    } else {
        PathBuf::from("nginx")
    }
}

pub struct Proxy {
    pub layout: ProxyLayout,
}

/// A switch nginx took: what [`Proxy::switch_back`] needs to undo it.
pub struct Switched {
    /// nginx was not running and this switch started it.
    pub started_nginx: bool,
    /// The upstream file before the switch, if there was one.
    previous: Option<String>,
}

impl Proxy {
    pub fn new(layout: ProxyLayout) -> Self {
        Self { layout }
    }

    async fn nginx(&self, extra: &[&str]) -> Result<(), ProxyError> {
        let output = Command::new(nginx_binary())
            .arg("-p")
            .arg(&self.layout.dir)
            .arg("-c")
            .arg(self.layout.conf())
            .args(extra)
            .kill_on_drop(true)
            .output()
            .await
            .map_err(ProxyError::Missing)?;
        if output.status.success() {
            Ok(())
        } else {
            Err(ProxyError::Nginx(
                String::from_utf8_lossy(&output.stderr).trim().to_owned(),
            ))
        }
    }

    /// The master's pid, if it is running. A pid file left from before a
    /// reboot can name some other process, even another nginx: the master
    /// keeps its arguments in its title, so this one names its own prefix.
    pub fn running_pid(&self) -> Option<i32> {
        let pid: i32 = std::fs::read_to_string(self.layout.pid_file())
            .ok()?
            .trim()
            .parse()
            .ok()?;
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        let cmdline = String::from_utf8_lossy(&cmdline);
        let prefix = format!("-p {} -c ", self.layout.dir.display());
        (cmdline.contains("nginx") && cmdline.contains(&prefix)).then_some(pid)
    }

    /// Worker processes of the running master (to wait for old ones to drain).
    pub fn workers(&self) -> Vec<i32> {
        let Some(master) = self.running_pid() else {
            return Vec::new();
        };
        children_of(master)
    }

    /// Writes both files and reloads (or starts) nginx so that it sends
    /// traffic to `backend`. On any error the upstream file is put back, so
    /// the next reload does not pick up a switch that failed.
    pub async fn switch(
        &self,
        listen: SocketAddr,
        drain_secs: u64,
        backend: SocketAddr,
        release_key: &str,
    ) -> Result<Switched, ProxyError> {
        for dir in ["body", "proxy", "fastcgi", "uwsgi", "scgi"] {
            tokio::fs::create_dir_all(self.layout.temp_dir().join(dir)).await?;
        }
        write_atomically(
            &self.layout.conf(),
            &plan::nginx_conf(&self.layout, listen, drain_secs),
        )
        .await?;
        let upstream = self.layout.upstream();
        let previous = tokio::fs::read_to_string(&upstream).await.ok();
        write_atomically(&upstream, &plan::upstream_conf(backend, release_key)).await?;
        let applied = async {
            // Never hand nginx a configuration it would refuse.
            self.nginx(&["-t", "-q"]).await?;
            if self.running_pid().is_some() {
                self.nginx(&["-s", "reload"]).await?;
                Ok(false)
            } else {
                self.nginx(&[]).await?;
                Ok(true)
            }
        }
        .await;
        match applied {
            Ok(started_nginx) => Ok(Switched {
                started_nginx,
                previous,
            }),
            Err(e) => {
                self.restore_upstream(previous.as_deref()).await?;
                Err(e)
            }
        }
    }

    /// Undoes a switch that nginx took but that did not hold (the new
    /// container does not answer through it): traffic goes back to the
    /// previous upstream, or, if there was none, nginx stops.
    pub async fn switch_back(&self, switched: Switched) -> Result<(), ProxyError> {
        self.restore_upstream(switched.previous.as_deref()).await?;
        match switched.previous {
            Some(_) => self.nginx(&["-s", "reload"]).await,
            None => self.nginx(&["-s", "quit"]).await,
        }
    }

    async fn restore_upstream(&self, previous: Option<&str>) -> Result<(), ProxyError> {
        let upstream = self.layout.upstream();
        match previous {
            Some(previous) => write_atomically(&upstream, previous).await?,
            None => {
                let _ = tokio::fs::remove_file(&upstream).await;
            }
        }
        Ok(())
    }

    /// Stops nginx gracefully and removes its directory.
    pub async fn remove(&self, timeout: Duration) -> Result<(), ProxyError> {
        if let Some(pid) = self.running_pid() {
            self.nginx(&["-s", "quit"]).await?;
            let started = Instant::now();
            while process_alive(pid) && started.elapsed() < timeout {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            if process_alive(pid) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
        match tokio::fs::remove_dir_all(&self.layout.dir).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

async fn write_atomically(path: &Path, contents: &str) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    tokio::fs::write(&tmp, contents).await?;
    tokio::fs::rename(&tmp, path).await
}

pub fn process_alive(pid: i32) -> bool {
    // A zombie has no cmdline: it no longer serves anything.
    std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| !c.is_empty())
}

fn children_of(parent: i32) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|stat| {
                    // `pid (comm) state ppid ...`: comm may hold spaces, so parse after ')'.
                    let after = stat.rsplit_once(')')?.1;
                    after.split_whitespace().nth(1)?.parse::<i32>().ok()
                })
                == Some(parent)
        })
        .collect()
}
