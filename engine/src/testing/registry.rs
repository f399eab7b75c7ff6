//! A real image registry for tests: Debian's `docker-registry` (the
//! distribution registry, v2 API) on a loopback port, storing into a
//! scratch directory. The Docker engine trusts 127.0.0.0/8 registries over
//! plain HTTP, so no TLS or daemon setting is needed.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BINARY: &str = "/usr/bin/docker-registry";

/// A running registry; stopped and its storage removed on drop.
pub struct Registry {
    child: Child,
    dir: PathBuf,
    /// `127.0.0.1:<port>`, the registry part of image references.
    pub addr: String,
}

impl Registry {
    pub fn start() -> Registry {
        assert!(
            Path::new(BINARY).exists(),
            "docker-registry is not installed: run scripts/setup --test"
        );
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let addr = format!("127.0.0.1:{port}");
        let dir =
            std::env::temp_dir().join(format!("slipway-registry-{}-{port}", std::process::id()));
        std::fs::create_dir_all(dir.join("storage")).expect("registry dir");
        let config = dir.join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {addr}\n",
                dir.join("storage").display()
            ),
        )
        .expect("registry config");
        let log = std::fs::File::create(dir.join("registry.log")).expect("registry log");
        let child = Command::new(BINARY)
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start docker-registry");
        let registry = Registry { child, dir, addr };
        registry.wait_answering();
        registry
    }

    fn wait_answering(&self) {
        let started = Instant::now();
        while std::net::TcpStream::connect(&self.addr).is_err() {
            if started.elapsed() > Duration::from_secs(30) {
                let log =
                    std::fs::read_to_string(self.dir.join("registry.log")).unwrap_or_default();
                panic!(
                    "docker-registry did not listen on {} within 30 s:\n{log}",
                    self.addr
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `127.0.0.1:<port>/<name>`: a repository of this registry.
    pub fn repository(&self, name: &str) -> String {
        format!("{}/{name}", self.addr)
    }

    /// Pushes the engine's image `local` as `<repository>:<tag>`, then
    /// removes both names from the engine, so only a pull can bring it back.
    /// Returns the pushed reference.
    pub fn push_and_forget(&self, local: &str, name: &str, tag: &str) -> String {
        let remote = format!("{}:{tag}", self.repository(name));
        for args in [
            vec!["tag", local, remote.as_str()],
            vec!["push", "-q", remote.as_str()],
            vec!["rmi", remote.as_str(), local],
        ] {
            let output = Command::new("docker")
                .args(&args)
                .output()
                .expect("run docker");
            assert!(
                output.status.success(),
                "docker {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        remote
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
