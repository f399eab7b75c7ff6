//! Real OpenSSH servers for tests: one `sshd` per fake host on its own
//! loopback port, with its own host key and its own filesystem (a chroot
//! holding busybox and bash), so a fleet shares one deploy path the way real
//! hosts do. Every process started here is killed on drop.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::backends::ssh::SshConfig;

/// The deploy path on every fake host (inside its chroot).
pub const DEPLOY_PATH: &str = "/srv/shop";

/// A non-root user with passwordless sudo (added by `scripts/setup --test`),
/// for logging in to [`HostImage::Full`] hosts, whose `/srv` only root may write.
pub const DEPLOY_USER: &str = "slipway-deploy";

/// Panics with what to run when [`DEPLOY_USER`] does not exist on this machine.
pub fn require_deploy_user() {
    let known = nix::unistd::User::from_name(DEPLOY_USER).is_ok_and(|user| user.is_some());
    assert!(
        known,
        "the test deploy user {DEPLOY_USER} is missing: run scripts/setup --test as root"
    );
}

pub struct FakeHost {
    pub port: u16,
    /// The host's filesystem root, seen from this machine.
    pub root: PathBuf,
    dir: PathBuf,
    sshd: Option<Child>,
}

pub struct Fleet {
    base: PathBuf,
    image: HostImage,
    pub hosts: Vec<FakeHost>,
    pub client_key: PathBuf,
}

fn run(cmd: &mut Command) {
    let status = cmd
        .stdout(Stdio::null())
        .status()
        .expect("run a set-up command");
    assert!(status.success(), "set-up command failed: {cmd:?}");
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Copies `file` (resolving symlinks) to the same path under `root`.
fn copy_into(root: &Path, file: &Path) {
    let dest = root.join(file.strip_prefix("/").unwrap());
    std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
    std::fs::copy(std::fs::canonicalize(file).unwrap(), &dest).unwrap();
}

fn build_chroot(root: &Path) {
    for dir in ["bin", "dev", "tmp", "root", "srv"] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
    }
    copy_into(root, Path::new("/bin/busybox"));
    // Applets as relative links, valid inside the chroot. (The copy is never
    // executed from here: a file just written may still be open in a child
    // another test thread forked, and exec would fail with ETXTBSY.)
    let list = Command::new("/bin/busybox").arg("--list").output().unwrap();
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        let link = root.join("bin").join(applet);
        if !link.exists() && applet != "busybox" {
            std::os::unix::fs::symlink("busybox", link).unwrap();
        }
    }
    // sshd runs commands with the user's login shell: bash, with its libraries.
    copy_into(root, Path::new("/bin/bash"));
    let ldd = Command::new("ldd").arg("/bin/bash").output().unwrap();
    for line in String::from_utf8_lossy(&ldd.stdout).lines() {
        if let Some(path) = line.split_whitespace().find(|w| w.starts_with('/')) {
            copy_into(root, Path::new(path));
        }
    }
    run(Command::new("mknod")
        .arg("-m")
        .arg("666")
        .arg(root.join("dev/null"))
        .args(["c", "1", "3"]));
}

/// What each fake host's filesystem holds.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum HostImage {
    /// busybox and bash: enough for Slipway (and for any shell-only tool).
    Minimal,
    /// The machine's own `/usr` and `/etc`, bind-mounted read-only: Python,
    /// tar, coreutils, sftp. For benchmarks against tools that need them.
    Full,
}

fn build_full_chroot(root: &Path) {
    for dir in ["dev", "tmp", "root", "srv", "usr", "etc"] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
    }
    for link in ["bin", "lib", "lib64", "sbin"] {
        std::os::unix::fs::symlink(format!("usr/{link}"), root.join(link)).unwrap();
    }
    for dir in ["usr", "etc"] {
        let target = root.join(dir);
        run(Command::new("mount")
            .arg("--bind")
            .arg(format!("/{dir}"))
            .arg(&target));
        run(Command::new("mount")
            .args(["-o", "remount,bind,ro"])
            .arg(&target));
    }
    for (name, minor) in [("null", "3"), ("zero", "5"), ("urandom", "9")] {
        run(Command::new("mknod")
            .arg("-m")
            .arg("666")
            .arg(root.join("dev").join(name))
            .args(["c", "1", minor]));
    }
}

/// Unmounts what `build_full_chroot` mounted. `false` if anything stays mounted.
fn unmount_full_chroot(root: &Path) -> bool {
    let mut clean = true;
    for dir in ["usr", "etc"] {
        let target = root.join(dir);
        let status = Command::new("umount")
            .arg(&target)
            .stderr(Stdio::null())
            .status();
        let still_mounted = std::fs::read_to_string("/proc/self/mounts")
            .map(|m| m.contains(&format!(" {} ", target.display())))
            .unwrap_or(true);
        if still_mounted || status.is_err() {
            clean = false;
        }
    }
    clean
}

impl Fleet {
    /// Starts `n` minimal hosts. Needs root (chroot) and Debian's
    /// openssh-server and busybox-static.
    pub fn start(n: usize) -> Fleet {
        Self::start_with(n, HostImage::Minimal)
    }

    pub fn start_with(n: usize, image: HostImage) -> Fleet {
        assert!(
            nix::unistd::geteuid().is_root(),
            "the sshd fleet needs root: each fake host is a chroot (CI runs as root)"
        );
        // sshd insists that a chroot's every parent is root-owned and not
        // writable by others: /tmp is not, /run is.
        let base = PathBuf::from(format!(
            "/run/slipway-tests/fleet-{}-{:08x}",
            std::process::id(),
            rand_u32()
        ));
        std::fs::create_dir_all(&base).unwrap();
        std::fs::create_dir_all("/run/sshd").unwrap();
        let client_key = base.join("client_key");
        run(Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(&client_key));
        let client_pub = std::fs::read_to_string(base.join("client_key.pub")).unwrap();
        let mut hosts = Vec::new();
        for i in 0..n {
            let dir = base.join(format!("host{i}"));
            let root = dir.join("root");
            std::fs::create_dir_all(&root).unwrap();
            match image {
                HostImage::Minimal => build_chroot(&root),
                HostImage::Full => build_full_chroot(&root),
            }
            std::fs::write(dir.join("authorized_keys"), &client_pub).unwrap();
            let mut host = FakeHost {
                port: free_port(),
                root,
                dir,
                sshd: None,
            };
            host.new_host_key();
            host.start_sshd();
            hosts.push(host);
        }
        for host in &mut hosts {
            host.wait_listening();
        }
        Fleet {
            base,
            hosts,
            client_key,
            image,
        }
    }

    /// Pinned keys of every host, `known_hosts` style.
    pub fn known_hosts(&self) -> String {
        self.hosts
            .iter()
            .map(FakeHost::known_hosts_line)
            .collect::<Vec<_>>()
            .join("\n")
    }

    pub fn config(&self) -> SshConfig {
        SshConfig {
            hosts: self
                .hosts
                .iter()
                .map(|h| format!("127.0.0.1:{}", h.port))
                .collect(),
            hosts_command: None,
            hosts_file: None,
            user: "root".into(),
            port: 22,
            identity_file: Some(self.client_key.clone()),
            known_hosts: self.known_hosts(),
            deploy_path: DEPLOY_PATH.into(),
            parallelism: 10,
            keep_releases: 5,
            before_switch: None,
            after_switch: None,
            health_check: None,
            health_timeout_secs: 10,
            connect_timeout_secs: 10,
            sudo: false,
            fetch_from: None,
        }
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for host in &mut self.hosts {
            host.stop_sshd();
        }
        if self.image == HostImage::Full {
            // Never delete through a mount: leave everything if one remains.
            let all_unmounted = self.hosts.iter().all(|h| unmount_full_chroot(&h.root));
            if !all_unmounted {
                eprintln!(
                    "warning: bind mounts remain under {}; not deleting it",
                    self.base.display()
                );
                return;
            }
        }
        let _ = std::fs::remove_dir_all(&self.base);
    }
}

fn rand_u32() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos()
}

impl FakeHost {
    pub fn name(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// A path on this host, seen from the test.
    pub fn path(&self, remote: &str) -> PathBuf {
        self.root.join(remote.trim_start_matches('/'))
    }

    /// Where `current` points on this host (a path inside the host).
    pub fn current(&self) -> Option<PathBuf> {
        std::fs::read_link(self.path(&format!("{DEPLOY_PATH}/current"))).ok()
    }

    /// The VERSION file `current` serves on this host.
    pub fn current_version(&self) -> Option<String> {
        let target = self.current()?;
        std::fs::read_to_string(self.path(&target.to_string_lossy()).join("VERSION"))
            .ok()
            .map(|v| v.trim().to_owned())
    }

    pub fn release_names(&self) -> Vec<String> {
        let mut names: Vec<String> =
            std::fs::read_dir(self.path(&format!("{DEPLOY_PATH}/releases")))
                .map(|d| {
                    d.filter_map(|e| e.ok()?.file_name().into_string().ok())
                        .collect()
                })
                .unwrap_or_default();
        names.sort();
        names
    }

    fn known_hosts_line(&self) -> String {
        let key = std::fs::read_to_string(self.dir.join("ssh_host_ed25519_key.pub")).unwrap();
        let mut parts = key.split_whitespace();
        format!(
            "[127.0.0.1]:{} {} {}",
            self.port,
            parts.next().unwrap(),
            parts.next().unwrap()
        )
    }

    /// Replaces the host key (as if the host were reinstalled or impersonated).
    pub fn new_host_key(&mut self) {
        let key = self.dir.join("ssh_host_ed25519_key");
        let _ = std::fs::remove_file(&key);
        let _ = std::fs::remove_file(self.dir.join("ssh_host_ed25519_key.pub"));
        run(Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(&key));
    }

    pub fn start_sshd(&mut self) {
        let config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {dir}/ssh_host_ed25519_key\nPidFile {dir}/sshd.pid\n\
             AuthorizedKeysFile {dir}/authorized_keys\nUsePAM no\nStrictModes no\nPermitRootLogin prohibit-password\n\
             PasswordAuthentication no\nKbdInteractiveAuthentication no\nMaxStartups 100:30:200\nMaxSessions 100\n\
             ChrootDirectory {root}\nSubsystem sftp internal-sftp\nLogLevel ERROR\n",
            port = self.port,
            dir = self.dir.display(),
            root = self.root.display(),
        );
        let config_path = self.dir.join("sshd_config");
        std::fs::write(&config_path, config).unwrap();
        let child = Command::new("/usr/sbin/sshd")
            .arg("-D")
            .arg("-e")
            .arg("-f")
            .arg(&config_path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start sshd (apt-get install openssh-server)");
        self.sshd = Some(child);
    }

    pub fn wait_listening(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if let Some(Ok(Some(status))) = self.sshd.as_mut().map(|c| c.try_wait()) {
                panic!("sshd on port {} exited: {status}", self.port);
            }
            assert!(
                Instant::now() < deadline,
                "sshd on port {} did not listen",
                self.port
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the host's listener (established sessions are separate processes).
    pub fn stop_sshd(&mut self) {
        if let Some(mut child) = self.sshd.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
