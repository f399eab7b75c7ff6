//! A real Docker engine for tests, and images built `FROM scratch` with
//! busybox-static: `busybox httpd` serving a page that shows its version.
//!
//! If `/var/run/docker.sock` answers, that engine is used. Otherwise the
//! harness starts `dockerd` itself (without iptables: nothing leaves the
//! machine; ports are published on 127.0.0.1 through docker-proxy) and stops
//! it when the last test using it is done. It never stops an engine it did
//! not start. When no engine can be had, it panics with the reason: a test
//! that needs Docker never passes without one.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

const SOCKET: &str = "/var/run/docker.sock";

/// A running engine; the daemon (if this harness started it) stops on drop.
pub struct DockerEngine {
    started: Option<(Child, PathBuf)>,
}

static SHARED: Mutex<Weak<DockerEngine>> = Mutex::new(Weak::new());

fn answers() -> bool {
    Path::new(SOCKET).exists()
        && Command::new("docker")
            .args([
                "-H",
                &format!("unix://{SOCKET}"),
                "info",
                "--format",
                "{{.ServerVersion}}",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
}

impl DockerEngine {
    /// The engine every test in this process shares.
    pub fn ensure() -> Arc<DockerEngine> {
        let mut shared = SHARED.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(engine) = shared.upgrade() {
            return engine;
        }
        let engine = Arc::new(Self::start());
        *shared = Arc::downgrade(&engine);
        engine
    }

    fn start() -> DockerEngine {
        if answers() {
            return DockerEngine { started: None };
        }
        assert!(
            nix::unistd::geteuid().is_root(),
            "the docker tests need a Docker engine: none answers on {SOCKET} and starting dockerd needs root \
             (run scripts/setup --test, then the tests as root)"
        );
        assert!(
            Path::new("/usr/sbin/dockerd").exists(),
            "dockerd is not installed: run scripts/setup --test (it installs docker.io)"
        );
        let dir = std::env::temp_dir().join(format!("slipway-dockerd-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dockerd scratch dir");
        let log = std::fs::File::create(dir.join("dockerd.log")).expect("dockerd log");
        let child = Command::new("/usr/sbin/dockerd")
            .args([
                "--iptables=false",
                "--ip6tables=false",
                "--host",
                &format!("unix://{SOCKET}"),
            ])
            .arg("--pidfile")
            .arg(dir.join("dockerd.pid"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start dockerd");
        let engine = DockerEngine {
            started: Some((child, dir.clone())),
        };
        let started = Instant::now();
        while !answers() {
            if started.elapsed() > Duration::from_secs(60) {
                let log = std::fs::read_to_string(dir.join("dockerd.log")).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(30).collect();
                panic!(
                    "dockerd did not answer within 60 s; its log ends:\n{}",
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        engine
    }

    /// Builds `tag`: busybox httpd on port 80 serving `/index.html`
    /// ("shop version <version>") and, when `healthy`, `/health`.
    pub fn build_app_image(&self, tag: &str, version: &str, healthy: bool) {
        self.build_app_image_listening(tag, version, healthy, 80);
    }

    /// Like [`Self::build_app_image`], with httpd on `port` inside the
    /// container (a release that listens where nobody sends traffic).
    pub fn build_app_image_listening(&self, tag: &str, version: &str, healthy: bool, port: u16) {
        let dir = tempfile_dir(&format!("image-{}", tag.replace([':', '/'], "-")));
        std::fs::copy("/bin/busybox", dir.join("busybox"))
            .expect("copy busybox (apt-get install busybox-static)");
        let www = dir.join("www");
        std::fs::create_dir_all(&www).unwrap();
        std::fs::write(www.join("index.html"), format!("shop version {version}\n")).unwrap();
        if healthy {
            std::fs::write(www.join("health"), "ok\n").unwrap();
        }
        std::fs::write(
            dir.join("Dockerfile"),
            format!(
                "FROM scratch\n\
                 COPY busybox /bin/busybox\n\
                 RUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\n\
                 COPY www /www\n\
                 EXPOSE {port}\n\
                 STOPSIGNAL SIGKILL\n\
                 CMD [\"/bin/httpd\", \"-f\", \"-p\", \"{port}\", \"-h\", \"/www\"]\n"
            ),
        )
        .unwrap();
        let output = Command::new("docker")
            .args(["build", "-q", "-t", tag])
            .arg(&dir)
            .env("DOCKER_BUILDKIT", "0")
            .output()
            .expect("run docker build");
        assert!(
            output.status.success(),
            "docker build {tag} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    pub fn remove_image(&self, tag: &str) {
        let _ = Command::new("docker")
            .args(["rmi", "-f", tag])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

fn tempfile_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "slipway-{name}-{}-{:08x}",
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

impl Drop for DockerEngine {
    fn drop(&mut self) {
        if let Some((mut child, dir)) = self.started.take() {
            let pid = nix::unistd::Pid::from_raw(child.id() as i32);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(20) {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = child.kill();
            let _ = child.wait();
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Removes, when dropped, whatever a test's docker environment left: its
/// nginx (from its pid file) and every container and network carrying the
/// environment's labels. Also run at the start, for leftovers of a crash.
pub struct EnvironmentCleanup {
    pub state_dir: PathBuf,
    pub identity: crate::backends::docker::EnvIdentity,
}

impl EnvironmentCleanup {
    pub fn new(state_dir: &Path, identity: crate::backends::docker::EnvIdentity) -> Self {
        let cleanup = Self {
            state_dir: state_dir.to_owned(),
            identity,
        };
        cleanup.run();
        cleanup
    }

    fn filters(&self) -> Vec<String> {
        self.identity
            .label_filters()
            .into_iter()
            .flat_map(|f| ["--filter".to_owned(), format!("label={f}")])
            .collect()
    }

    /// Ids of the labelled containers (running or not).
    pub fn containers(&self) -> Vec<String> {
        labelled(&["ps", "-aq"], &self.filters())
    }

    /// Names of the labelled networks.
    pub fn networks(&self) -> Vec<String> {
        labelled(&["network", "ls", "-q"], &self.filters())
    }

    fn run(&self) {
        let layout =
            crate::backends::docker::plan::ProxyLayout::new(&self.state_dir, &self.identity);
        if let Some(pid) = std::fs::read_to_string(layout.pid_file())
            .ok()
            .and_then(|p| p.trim().parse::<i32>().ok())
        {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
        let containers = self.containers();
        if !containers.is_empty() {
            let _ = Command::new("docker")
                .args(["rm", "-f"])
                .args(&containers)
                .stdout(Stdio::null())
                .status();
        }
        let networks = self.networks();
        if !networks.is_empty() {
            let _ = Command::new("docker")
                .args(["network", "rm"])
                .args(&networks)
                .stdout(Stdio::null())
                .status();
        }
    }
}

fn labelled(command: &[&str], filters: &[String]) -> Vec<String> {
    let output = Command::new("docker").args(command).args(filters).output();
    match output {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout)
            .lines()
            .map(str::to_owned)
            .filter(|l| !l.is_empty())
            .collect(),
        _ => Vec::new(),
    }
}

impl Drop for EnvironmentCleanup {
    fn drop(&mut self) {
        self.run();
    }
}
