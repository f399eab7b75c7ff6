//! Benchmark: a staged release of a ~5 MB tarball to N loopback sshd hosts,
//! Slipway against Ansible, Fabric and a naive ssh+tar floor, all doing the
//! same work (transfer, unpack into releases/<id>, switch the symlink).
//! Slipway runs twice per round: uploading over SSH (`slipway upload`), and
//! with the hosts fetching the archive from it over HTTP and checking its
//! sha256 (`slipway fetch`, the `fetch_from` setting; served here by the
//! test share server, which does what the server's `/artifacts/{token}` does).
//!
//! Run on demand (needs root, Debian's openssh-server, and Python with
//! ansible-core and fabric, e.g. `python3 -m venv /tmp/bench-venv &&
//! /tmp/bench-venv/bin/pip install ansible-core fabric`):
//!
//! ```text
//! SLIPWAY_BENCH_HOSTS=20 SLIPWAY_BENCH_RUNS=3 SLIPWAY_BENCH_VENV=/tmp/bench-venv \
//!   cargo bench -p engine --bench ssh_release
//! ```
//!
//! It prints each tool's median time, the ratios, and the switch skew (latest
//! minus earliest `current` symlink change across hosts, from the symlinks'
//! own timestamps). Under `cargo test` it does nothing.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use engine::auth::Actor;
use engine::backends::BackendConfig;
use engine::domain::{EventLevel, JobState, Role};
use engine::jobs::RunnerSettings;
use engine::testing::share_server::{Serve, ShareServer};
use engine::testing::sshd::{Fleet, HostImage, DEPLOY_PATH};
use engine::{BuildRequest, Engine, EngineSettings};

struct Sample {
    seconds: f64,
    skew_ms: f64,
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}

/// A gzip tarball of about 5 MB (random, so it does not compress away).
fn write_tarball(path: &Path) {
    let file = std::fs::File::create(path).unwrap();
    let gz = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    let mut data = vec![0u8; 5 * 1024 * 1024];
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for b in data.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    for (name, body) in [
        ("index.html", &b"<h1>Slipway demo</h1>"[..]),
        ("VERSION", b"bench\n"),
        ("blob.bin", &data),
    ] {
        let mut header = tar::Header::new_gnu();
        header.set_size(body.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, name, body).unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap();
}

/// Latest minus earliest change time of `current` across hosts.
fn switch_skew_ms(fleet: &Fleet) -> f64 {
    let times: Vec<i128> = fleet
        .hosts
        .iter()
        .map(|h| {
            let meta =
                std::fs::symlink_metadata(h.path(&format!("{DEPLOY_PATH}/current"))).unwrap();
            meta.mtime() as i128 * 1_000_000_000 + meta.mtime_nsec() as i128
        })
        .collect();
    let (min, max) = (times.iter().min().unwrap(), times.iter().max().unwrap());
    (max - min) as f64 / 1e6
}

fn remove_releases(fleet: &Fleet, prefix: &str) {
    for host in &fleet.hosts {
        let dir = host.path(&format!("{DEPLOY_PATH}/releases"));
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for e in entries.flatten() {
                if e.file_name().to_string_lossy().starts_with(prefix) {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
    }
}

fn timed(mut cmd: Command) -> f64 {
    let started = Instant::now();
    let out = cmd.output().expect("run benchmark command");
    let seconds = started.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    seconds
}

struct Tools {
    dir: PathBuf,
    venv: PathBuf,
    known_hosts: PathBuf,
    key: PathBuf,
    tarball: PathBuf,
    ports: Vec<u16>,
}

impl Tools {
    fn new(dir: &Path, fleet: &Fleet, tarball: &Path, venv: PathBuf) -> Self {
        let known_hosts = dir.join("known_hosts");
        std::fs::write(&known_hosts, fleet.known_hosts() + "\n").unwrap();
        let ports = fleet.hosts.iter().map(|h| h.port).collect();
        Self {
            dir: dir.into(),
            venv,
            known_hosts,
            key: fleet.client_key.clone(),
            tarball: tarball.into(),
            ports,
        }
    }

    fn ssh_options(&self) -> String {
        format!(
            "-o UserKnownHostsFile={} -o StrictHostKeyChecking=yes -o BatchMode=yes -o IdentitiesOnly=yes -i {} \
             -o KexAlgorithms=^curve25519-sha256 -o LogLevel=ERROR",
            self.known_hosts.display(),
            self.key.display()
        )
    }

    fn ansible(&self, release: &str) -> Command {
        let cfg = self.dir.join("ansible.cfg");
        std::fs::write(
            &cfg,
            format!(
                "[defaults]\nhost_key_checking = True\nforks = {n}\ngathering = explicit\ninterpreter_python = /usr/bin/python3\n\
                 [ssh_connection]\npipelining = True\nssh_args = -o ControlMaster=auto -o ControlPersist=60s {opts}\n\
                 control_path_dir = {dir}/cp\n",
                n = self.ports.len(),
                opts = self.ssh_options(),
                dir = self.dir.display()
            ),
        )
        .unwrap();
        let inventory: String = self
            .ports
            .iter()
            .enumerate()
            .map(|(i, p)| {
                format!("h{i} ansible_host=127.0.0.1 ansible_port={p} ansible_user=root\n")
            })
            .collect();
        std::fs::write(self.dir.join("inventory.ini"), inventory).unwrap();
        std::fs::write(
            self.dir.join("release.yml"),
            format!(
                "- hosts: all\n  gather_facts: false\n  tasks:\n\
                 \x20   - file: path={DEPLOY_PATH}/releases/{{{{ release }}}} state=directory\n\
                 \x20   - unarchive: src={tarball} dest={DEPLOY_PATH}/releases/{{{{ release }}}}\n\
                 \x20   - file: src={DEPLOY_PATH}/releases/{{{{ release }}}} dest={DEPLOY_PATH}/current state=link force=yes\n",
                tarball = self.tarball.display()
            ),
        )
        .unwrap();
        let mut cmd = Command::new(self.venv.join("bin/ansible-playbook"));
        cmd.env("ANSIBLE_CONFIG", &cfg)
            .env("ANSIBLE_LOCAL_TEMP", self.dir.join("ansible-tmp"))
            .arg("-i")
            .arg(self.dir.join("inventory.ini"))
            .arg("-e")
            .arg(format!("release={release}"))
            .arg(self.dir.join("release.yml"));
        cmd
    }

    fn fabric(&self, release: &str) -> Command {
        let script = self.dir.join("fab_release.py");
        std::fs::write(
            &script,
            r#"import sys
from concurrent.futures import ThreadPoolExecutor
from fabric import Connection, ThreadingGroup
known_hosts, key, tarball, release, root = sys.argv[1:6]
ports = [int(p) for p in sys.argv[6:]]
conns = []
for p in ports:
    c = Connection("127.0.0.1", port=p, user="root", connect_kwargs={"key_filename": key, "look_for_keys": False, "allow_agent": False})
    c.client.load_host_keys(known_hosts)
    conns.append(c)
g = ThreadingGroup.from_connections(conns)
rel = f"{root}/releases/{release}"
g.run(f"mkdir -p {rel}", hide=True)
with ThreadPoolExecutor(len(conns)) as pool:
    list(pool.map(lambda c: c.put(tarball, f"{rel}.tar.gz"), conns))
g.run(f"tar -xzf {rel}.tar.gz -C {rel} && rm {rel}.tar.gz", hide=True)
g.run(f"ln -sfn {rel} {root}/.current.tmp && mv -T {root}/.current.tmp {root}/current", hide=True)
"#,
        )
        .unwrap();
        let mut cmd = Command::new(self.venv.join("bin/python"));
        cmd.arg(&script)
            .arg(&self.known_hosts)
            .arg(&self.key)
            .arg(&self.tarball)
            .arg(release)
            .arg(DEPLOY_PATH)
            .args(self.ports.iter().map(|p| p.to_string()));
        cmd
    }

    fn naive(&self, release: &str) -> Command {
        let rel = format!("{DEPLOY_PATH}/releases/{release}");
        let script = format!(
            "set -e\nfor port in {ports}; do\n  ( ssh {opts} -p $port root@127.0.0.1 'mkdir -p {rel} && tar -xzf - -C {rel}' < {tarball} && \
             ssh {opts} -p $port root@127.0.0.1 'ln -sfn {rel} {DEPLOY_PATH}/.current.tmp && mv -T {DEPLOY_PATH}/.current.tmp {DEPLOY_PATH}/current' ) &\n\
             done\nfor job in $(jobs -p); do wait $job; done\n",
            ports = self.ports.iter().map(|p| p.to_string()).collect::<Vec<_>>().join(" "),
            opts = self.ssh_options(),
            tarball = self.tarball.display(),
        );
        let mut cmd = Command::new("bash");
        cmd.arg("-c").arg(script);
        cmd
    }
}

async fn slipway_run(engine: &Engine, actor: &Actor, env: &str, build_id: i64) -> f64 {
    let started = Instant::now();
    let job = engine.deploy(actor, "bench", env, build_id).await.unwrap();
    loop {
        let job = engine.store().job(job.id).await.unwrap();
        if job.state.is_finished() {
            assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
            let seconds = started.elapsed().as_secs_f64();
            print_steps(engine, job.id).await;
            return seconds;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// When each step was last reached by any host, from the job's first event.
async fn print_steps(engine: &Engine, job_id: i64) {
    let events = engine
        .store()
        .job_events_after(job_id, 0, 100_000)
        .await
        .unwrap();
    let Some(first) = events.first().map(|e| e.ts) else {
        return;
    };
    let mut marks: Vec<(String, f64)> = Vec::new();
    for e in events.iter().filter(|e| e.level == EventLevel::Progress) {
        let value: serde_json::Value = serde_json::from_str(&e.text).unwrap_or_default();
        let step = value["step"]
            .as_str()
            .unwrap_or("")
            .split(' ')
            .next()
            .unwrap_or("")
            .to_owned();
        let at = (e.ts - first).num_milliseconds() as f64 / 1000.0;
        match marks.iter_mut().find(|(l, _)| *l == step) {
            Some(mark) => mark.1 = at,
            None => marks.push((step, at)),
        }
    }
    let line: Vec<String> = marks.iter().map(|(l, t)| format!("{l} {t:.2}s")).collect();
    println!(
        "    slipway steps, last host reached at: {}",
        line.join(" · ")
    );
    // Each step's own duration across hosts, from the "done in" lines.
    let mut durations: Vec<(String, Vec<f64>)> = Vec::new();
    for e in &events {
        let Some((label, secs)) = e.text.rsplit_once(" done in ") else {
            continue;
        };
        let Ok(secs) = secs.trim_end_matches('s').parse::<f64>() else {
            continue;
        };
        let label = label.split(']').nth(1).unwrap_or(label).trim().to_owned();
        match durations.iter_mut().find(|(l, _)| *l == label) {
            Some((_, all)) => all.push(secs),
            None => durations.push((label, vec![secs])),
        }
    }
    for (label, mut all) in durations {
        all.sort_by(|a, b| a.total_cmp(b));
        println!(
            "    {label}: min {:.2}s median {:.2}s max {:.2}s over {} hosts",
            all[0],
            all[all.len() / 2],
            all[all.len() - 1],
            all.len()
        );
    }
}

#[tokio::main]
async fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("ssh_release: skipped (run it with `cargo bench -p engine --bench ssh_release`)");
        return;
    }
    let hosts = env_usize("SLIPWAY_BENCH_HOSTS", 20);
    let runs = env_usize("SLIPWAY_BENCH_RUNS", 3);
    let venv = PathBuf::from(
        std::env::var("SLIPWAY_BENCH_VENV").unwrap_or_else(|_| "/tmp/bench-venv".into()),
    );
    let work = tempfile::tempdir().unwrap();
    let tarball = work.path().join("artifacts/release.tar.gz");
    std::fs::create_dir_all(tarball.parent().unwrap()).unwrap();
    write_tarball(&tarball);
    let size_mb = std::fs::metadata(&tarball).unwrap().len() as f64 / 1e6;
    println!("starting {hosts} sshd hosts…");
    let fleet = Fleet::start_with(hosts, HostImage::Full);
    let tools = Tools::new(work.path(), &fleet, &tarball, venv);

    // Slipway, in process: an ssh environment over the same fleet.
    let settings = EngineSettings {
        database_url: format!("sqlite://{}/bench.db", work.path().display()),
        artifact_roots: vec![work.path().join("artifacts")],
        package_root: work.path().join("repo"),
        state_dir: work.path().join("state"),
        secret_key: engine::secrets::SecretKey::generate(),
    };
    let engine = Engine::open(&settings).await.unwrap();
    let user = engine
        .store()
        .create_user("bench", "bench", "Bench", Role::Admin)
        .await
        .unwrap();
    let actor = Actor::from(&user);
    engine
        .create_application(&actor, "bench", None)
        .await
        .unwrap();
    let mut config = fleet.config();
    config.parallelism = hosts as u32;
    config.keep_releases = 2;
    let lending = ShareServer::start(engine.artifact_shares().clone(), Serve::Faithfully).await;
    let mut fetching = config.clone();
    fetching.fetch_from = Some(lending.base_url.clone());
    for (name, config) in [("upload", config), ("fetch", fetching)] {
        engine
            .create_environment(&actor, "bench", name, BackendConfig::Ssh(config), false)
            .await
            .unwrap();
    }
    let (_stop, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(engine.job_runner(RunnerSettings::default()).run(stop_rx));

    // SLIPWAY_BENCH_TOOLS=slipway,naive picks tools (default: all).
    let picked = std::env::var("SLIPWAY_BENCH_TOOLS").unwrap_or_default();
    let tools_order: Vec<&str> = [
        "slipway fetch",
        "slipway upload",
        "ansible",
        "fabric",
        "naive ssh+tar",
    ]
    .into_iter()
    .filter(|t| {
        picked.is_empty()
            || picked
                .split(',')
                .any(|p| t.starts_with(p.trim()) && !p.trim().is_empty())
    })
    .collect();
    assert!(
        tools_order
            .first()
            .is_some_and(|t| t.starts_with("slipway")),
        "SLIPWAY_BENCH_TOOLS must include slipway (the ratios are to it)"
    );
    let mut samples: Vec<Vec<Sample>> = tools_order.iter().map(|_| Vec::new()).collect();
    for run in 0..runs {
        for (i, tool) in tools_order.iter().enumerate() {
            let release = format!("bench-{}-{run}", tool.split(' ').next().unwrap_or("x"));
            let seconds = match tool.strip_prefix("slipway ") {
                Some(env) => {
                    let sha = format!("{:040x}", run + 1);
                    let build = match engine
                        .register_build(
                            &actor,
                            BuildRequest {
                                application: "bench".into(),
                                commit_sha: sha,
                                branch: "main".into(),
                                message: String::new(),
                                author: String::new(),
                                artifact: tarball.display().to_string(),
                                committed_at: None,
                                commits: Vec::new(),
                            },
                        )
                        .await
                        .unwrap()
                    {
                        engine::store::builds::Registered::Created(b)
                        | engine::store::builds::Registered::Existing(b) => b,
                    };
                    slipway_run(&engine, &actor, env, build.id).await
                }
                None if *tool == "ansible" => timed(tools.ansible(&release)),
                None if *tool == "fabric" => timed(tools.fabric(&release)),
                None => timed(tools.naive(&release)),
            };
            let skew_ms = switch_skew_ms(&fleet);
            println!(
                "run {} {tool:>14}: {seconds:7.2} s, switch skew {skew_ms:8.1} ms",
                run + 1
            );
            samples[i].push(Sample { seconds, skew_ms });
            if !tool.starts_with("slipway") {
                remove_releases(&fleet, &release);
            }
        }
    }

    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_default();
    println!();
    println!(
        "machine: {} cores, {cpu}; {hosts} loopback sshd hosts; {size_mb:.1} MB tarball; median of {runs} runs",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)
    );
    println!("command: SLIPWAY_BENCH_HOSTS={hosts} SLIPWAY_BENCH_RUNS={runs} cargo bench -p engine --bench ssh_release");
    let slipway = median(samples[0].iter().map(|s| s.seconds).collect());
    println!(
        "{:>14} {:>10} {:>16} {:>14}",
        "tool",
        "median s",
        format!("÷ {}", tools_order[0]),
        "median skew ms"
    );
    for (i, tool) in tools_order.iter().enumerate() {
        let secs = median(samples[i].iter().map(|s| s.seconds).collect());
        let skew = median(samples[i].iter().map(|s| s.skew_ms).collect());
        println!(
            "{tool:>14} {secs:>10.2} {:>15.2}x {skew:>14.1}",
            secs / slipway
        );
    }
}
