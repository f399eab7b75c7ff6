//! The dnf backend end to end against the real binary: packages built with
//! rpmbuild, uploaded through the API into the repository Slipway hosts
//! and serves on loopback, installed by real dnf on a fleet of real sshd
//! hosts (each host a chroot with the machine's `/usr` and `/etc` read-only,
//! managing the installroot `/srv/rpmroot`). Needs root, like the ssh tests.

mod common;

use std::path::PathBuf;

use common::{Auth, TestServer};
use engine::auth::Actor;
use engine::backends::dnf::inventory::VersionStatus;
use engine::backends::dnf::{DnfConfig, DnfTarget, PackageManager, SshHosts};
use engine::backends::BackendConfig;
use engine::domain::Role;
use engine::testing::rpm::{self, RpmBuilder};
use engine::testing::sshd::{Fleet, HostImage};
use engine::Engine;
use reqwest::StatusCode;
use serde_json::{json, Value};

const APP: &str = "shop";
const ENV: &str = "production";
const INSTALL_ROOT: &str = "/srv/rpmroot";

struct DnfFleet {
    fleet: Fleet,
    server: TestServer,
    token: Auth,
    /// The same database as the server, for set-up and the inventory.
    engine: Engine,
    actor: Actor,
    rpms: RpmBuilder,
    _work: tempfile::TempDir,
}

impl DnfFleet {
    async fn start(hosts: usize) -> Self {
        let fleet = Fleet::start_with(hosts, HostImage::Full);
        let server = TestServer::start().await;
        let token = server.bearer_token("ci");
        let data = server.data_dir().to_path_buf();
        let engine = server.open_engine().await;
        let user = engine
            .store()
            .create_user("dnf-admin", "dnf-admin", "Dnf Admin", Role::Admin)
            .await
            .unwrap();
        let actor = Actor::from(&user);
        engine.create_application(&actor, APP, None).await.unwrap();
        let ssh = fleet.config();
        let hosts_file = data.join("dnf-fleet.txt");
        std::fs::write(&hosts_file, ssh.hosts.join("\n")).unwrap();
        let config = DnfConfig {
            package: APP.into(),
            repo_id: "slipway-shop".into(),
            repo_url: server.url("/repo/shop/"),
            // The fleet is discovered from a file when each job starts, as
            // a team whose hosts come and go would have it.
            target: DnfTarget::Ssh(SshHosts {
                hosts: Vec::new(),
                hosts_command: None,
                hosts_file: Some(hosts_file),
                user: ssh.user,
                port: 22,
                identity_file: ssh.identity_file,
                known_hosts: ssh.known_hosts,
                connect_timeout_secs: 10,
            }),
            sudo: false,
            package_manager: PackageManager::Dnf,
            extra_options: vec![
                "--nogpgcheck".into(),
                "--setopt=install_weak_deps=False".into(),
                "--releasever=1".into(),
            ],
            install_root: Some(INSTALL_ROOT.into()),
            parallelism: 10,
        };
        engine
            .create_environment(&actor, APP, ENV, BackendConfig::Dnf(config), false)
            .await
            .expect("create the dnf environment");
        let work = tempfile::tempdir().unwrap();
        let rpms = RpmBuilder::new(work.path());
        Self {
            fleet,
            server,
            token,
            engine,
            actor,
            rpms,
            _work: work,
        }
    }

    fn install_root(&self, host: usize) -> PathBuf {
        self.fleet.hosts[host].path(INSTALL_ROOT)
    }

    fn host_name(&self, host: usize) -> String {
        self.fleet.hosts[host].name()
    }

    /// What each host has installed, by `rpm -q` from outside.
    fn installed(&self) -> Vec<Vec<String>> {
        (0..self.fleet.hosts.len())
            .map(|i| rpm::installed(&self.install_root(i), APP))
            .collect()
    }

    fn assert_everywhere(&self, version: &str) {
        let release_dir = format!("releases/{}", version.trim_start_matches("shop-"));
        for i in 0..self.fleet.hosts.len() {
            assert_eq!(
                rpm::installed(&self.install_root(i), APP),
                [version],
                "{}",
                self.host_name(i)
            );
            assert_eq!(
                rpm::current(&self.install_root(i), APP).as_deref(),
                Some(release_dir.as_str()),
                "%post did not switch current on {}",
                self.host_name(i)
            );
        }
    }

    /// Uploads `rpm` through the API; returns the reply.
    async fn upload(&self, file: &std::path::Path, commit: &str) -> common::Reply {
        let body = std::fs::read(file).unwrap();
        let path = format!(
            "/api/apps/{APP}/packages?commit_sha={}&branch=main&message=ci",
            common::sha(commit)
        );
        self.server
            .send(
                self.server
                    .request(reqwest::Method::POST, &path, &self.token)
                    .header("content-type", "application/x-rpm")
                    .body(body),
            )
            .await
    }

    /// Builds `shop-<version>-<release>` and publishes it; returns the build id.
    async fn publish(&self, version: &str, release: &str) -> i64 {
        let file = self.rpms.build(APP, version, release);
        let reply = self.upload(&file, &format!("{version}-{release}")).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
        let json = reply.json();
        assert_eq!(json["package"], format!("shop-{version}-{release}"));
        json["build"]["id"].as_i64().unwrap()
    }

    async fn deploy(&self, build_id: i64) -> Value {
        let reply = self
            .server
            .post_json(
                &format!("/api/apps/{APP}/envs/{ENV}/deploy"),
                &self.token,
                &json!({ "build_id": build_id }),
            )
            .await;
        assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.text);
        let job = reply.json()["id"].as_i64().unwrap();
        self.server.wait_job_finished(&self.token, job).await
    }

    async fn rollback_to_build(&self, build_id: i64) -> Value {
        let releases = self
            .server
            .get(&format!("/api/apps/{APP}/envs/{ENV}/releases"), &self.token)
            .await
            .json();
        let release = releases
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["build_id"] == build_id && r["state"] == "superseded")
            .unwrap_or_else(|| panic!("no superseded release of build {build_id}: {releases}"));
        let reply = self
            .server
            .post_json(
                &format!("/api/apps/{APP}/envs/{ENV}/rollback"),
                &self.token,
                &json!({ "release_id": release["id"] }),
            )
            .await;
        assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.text);
        let job = reply.json()["id"].as_i64().unwrap();
        self.server.wait_job_finished(&self.token, job).await
    }

    async fn inventory(&self) -> Vec<(Vec<String>, VersionStatus)> {
        self.engine
            .installed_versions(&self.actor, APP, ENV)
            .await
            .unwrap()
            .into_iter()
            .map(|h| (h.installed, h.status))
            .collect()
    }
}

fn state(view: &Value) -> &str {
    view["job"]["state"].as_str().unwrap_or_default()
}

fn error(view: &Value) -> String {
    view["job"]["error"].as_str().unwrap_or_default().to_owned()
}

/// Per host, as the job view reports it: (state, error).
fn host_states(view: &Value) -> Vec<(String, String, Option<String>)> {
    view["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["host"].as_str().unwrap().to_owned(),
                h["state"].as_str().unwrap().to_owned(),
                h["error"].as_str().map(str::to_owned),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_roll_back_by_downgrade_then_publish_and_deploy_without_a_cache_clean() {
    let d = DnfFleet::start(3).await;
    let v1 = d.publish("1.0", "1").await;
    let v2 = d.publish("1.0", "2").await;

    let job = d.deploy(v1).await;
    assert_eq!(state(&job), "succeeded", "{}", error(&job));
    d.assert_everywhere("shop-1.0-1");

    let job = d.deploy(v2).await;
    assert_eq!(state(&job), "succeeded", "{}", error(&job));
    d.assert_everywhere("shop-1.0-2");
    let hosts = host_states(&job);
    assert_eq!(hosts.len(), 3);
    assert!(hosts.iter().all(|h| h.1 == "succeeded"), "{hosts:?}");

    // Rollback: exactly the previous release's version, everywhere.
    let job = d.rollback_to_build(v1).await;
    assert_eq!(state(&job), "succeeded", "{}", error(&job));
    d.assert_everywhere("shop-1.0-1");

    // Every host now has cached metadata without 1.0-3. Publish it and
    // deploy at once: no cache clean by hand, and it is seen.
    let v3 = d.publish("1.0", "3").await;
    let job = d.deploy(v3).await;
    assert_eq!(state(&job), "succeeded", "{}", error(&job));
    d.assert_everywhere("shop-1.0-3");

    let inventory = d.inventory().await;
    assert!(
        inventory
            .iter()
            .all(|(v, s)| v == &["shop-1.0-3"] && *s == VersionStatus::Live),
        "{inventory:?}"
    );
    // Someone installs a version by hand on one host: drift, on that host only.
    let stray = d.rpms.build(APP, "0.9", "7");
    rpm::install_by_hand(&d.install_root(2), &stray);
    let inventory = d.inventory().await;
    assert_eq!(
        inventory[2],
        (vec!["shop-0.9-7".to_owned()], VersionStatus::Drift)
    );
    assert_eq!(inventory[0].1, VersionStatus::Live);
    assert_eq!(inventory[1].1, VersionStatus::Live);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_a_host_cannot_see_fails_before_any_host_changes() {
    let d = DnfFleet::start(3).await;
    let v1 = d.publish("1.0", "1").await;
    assert_eq!(state(&d.deploy(v1).await), "succeeded");

    // A build whose package never reached the repository.
    let reply = d
        .server
        .post_json(
            "/api/builds",
            &d.token,
            &json!({
                "application": APP,
                "commit_sha": common::sha("never-published"),
                "branch": "main",
                "artifact": "shop-1.0-9",
            }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    let missing = reply.json()["id"].as_i64().unwrap();
    let job = d.deploy(missing).await;
    assert_eq!(state(&job), "failed");
    let why = error(&job);
    assert!(
        why.contains("pre-flight failed on 3 of 3 hosts, no host was changed")
            && why.contains("shop-1.0-9 is not available from repository slipway-shop"),
        "{why}"
    );
    d.assert_everywhere("shop-1.0-1");

    // 1.0-2 is published, but one host cannot check (its installroot is
    // broken): the two healthy hosts are not touched either.
    let v2 = d.publish("1.0", "2").await;
    let broken = d.install_root(1);
    std::fs::rename(&broken, broken.with_extension("moved")).unwrap();
    std::fs::write(&broken, "not a directory").unwrap();
    let job = d.deploy(v2).await;
    assert_eq!(state(&job), "failed");
    let why = error(&job);
    assert!(
        why.contains("pre-flight failed on 1 of 3 hosts, no host was changed")
            && why.contains(&d.host_name(1)),
        "{why}"
    );
    for (host, state, error) in host_states(&job) {
        if host == d.host_name(1) {
            assert_eq!(state, "failed", "{error:?}");
        } else {
            assert_eq!(state, "skipped", "{host}: {error:?}");
        }
    }
    let installed = d.installed();
    assert_eq!(installed[0], ["shop-1.0-1"]);
    assert_eq!(installed[2], ["shop-1.0-1"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_whose_install_fails_is_named_and_the_others_reported_truthfully() {
    let d = DnfFleet::start(3).await;
    let v1 = d.publish("1.0", "1").await;
    let v2 = d.publish("1.0", "2").await;
    assert_eq!(state(&d.deploy(v1).await), "succeeded");

    // The package's %pre refuses on this host.
    std::fs::write(d.install_root(1).join("etc/shop-refuse"), "").unwrap();
    let job = d.deploy(v2).await;
    assert_eq!(state(&job), "failed");
    let why = error(&job);
    let (ok0, bad, ok2) = (d.host_name(0), d.host_name(1), d.host_name(2));
    assert!(
        why.contains("installing shop-1.0-2 failed on 1 of 3 hosts")
            && why.contains(&format!("{bad}: upgrade shop-1.0-2 exited with status"))
            && why.contains(&format!("2 run it: {ok0}, {ok2}")),
        "{why}"
    );
    for (host, state, error) in host_states(&job) {
        if host == bad {
            assert_eq!(state, "failed");
            assert!(error.unwrap_or_default().contains("upgrade shop-1.0-2"));
        } else {
            assert_eq!(state, "succeeded", "{host}: {error:?}");
        }
    }
    let installed = d.installed();
    assert_eq!(
        installed,
        [vec!["shop-1.0-2"], vec!["shop-1.0-1"], vec!["shop-1.0-2"]]
    );

    // The inventory tells the same story: the failed host still runs the
    // live release; the others run the version of the failed job.
    let inventory = d.inventory().await;
    let statuses: Vec<VersionStatus> = inventory.iter().map(|(_, s)| *s).collect();
    assert_eq!(
        statuses,
        [
            VersionStatus::Released,
            VersionStatus::Live,
            VersionStatus::Released
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_are_checked_and_the_repository_serves_only_its_files() {
    let d = DnfFleet::start(1).await;
    let file = d.rpms.build(APP, "2.0", "1");
    let first = d.upload(&file, "2.0-1").await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.text);
    // The same package for the same commit again: the existing build.
    let again = d.upload(&file, "2.0-1").await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.text);
    assert_eq!(again.json()["build"]["id"], first.json()["build"]["id"]);
    assert_eq!(again.json()["new_in_repository"], false);

    // Another file under a published name.
    let other_dir = tempfile::tempdir().unwrap();
    let impostor = RpmBuilder::new(other_dir.path()).build_variant(APP, "2.0", "1", "impostor");
    let reply = d.upload(&impostor, "impostor").await;
    assert_eq!(reply.status, StatusCode::CONFLICT, "{}", reply.text);
    assert!(
        reply
            .error()
            .contains("shop-2.0-1.noarch.rpm is already published with different content"),
        "{}",
        reply.text
    );

    // Another package for a commit that is already a build: refused before
    // it is published (a package no build names is never served).
    let newer = d.rpms.build(APP, "2.1", "1");
    let reply = d.upload(&newer, "2.0-1").await;
    assert_eq!(reply.status, StatusCode::CONFLICT, "{}", reply.text);
    assert!(
        reply.error().contains("one commit is exactly one build"),
        "{}",
        reply.text
    );
    let served = d
        .server
        .get("/repo/shop/shop-2.1-1.noarch.rpm", &Auth::None)
        .await;
    assert_eq!(
        served.status,
        StatusCode::NOT_FOUND,
        "the refused package is served"
    );

    let junk = other_dir.path().join("junk.rpm");
    std::fs::write(&junk, b"this is not an rpm").unwrap();
    let reply = d.upload(&junk, "junk").await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text);
    assert!(
        reply.error().contains("not an rpm package"),
        "{}",
        reply.text
    );

    // Bigger than axum's default body limit: streamed to disk, then checked.
    let mut damaged = std::fs::read(&file).unwrap();
    damaged.resize(3 << 20, 0xab);
    let damaged_file = other_dir.path().join("damaged.rpm");
    std::fs::write(&damaged_file, &damaged).unwrap();
    let reply = d.upload(&damaged_file, "damaged").await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text);
    assert!(
        reply.error().contains("digests do not match"),
        "{}",
        reply.text
    );

    let billing = d.rpms.build("billing", "1.0", "1");
    let reply = d.upload(&billing, "billing").await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text);
    assert!(reply.error().contains("package billing"), "{}", reply.text);

    let anonymous = d
        .server
        .send(
            d.server
                .request(
                    reqwest::Method::POST,
                    "/api/apps/shop/packages?commit_sha=x&branch=main",
                    &Auth::None,
                )
                .body(std::fs::read(&file).unwrap()),
        )
        .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);

    // The repository: public, read-only, its files only.
    let repomd = d
        .server
        .get("/repo/shop/repodata/repomd.xml", &Auth::None)
        .await;
    assert_eq!(repomd.status, StatusCode::OK);
    assert!(repomd.text.contains("<repomd"), "{}", repomd.text);
    let rpm = d
        .server
        .get("/repo/shop/shop-2.0-1.noarch.rpm", &Auth::None)
        .await;
    assert_eq!(rpm.status, StatusCode::OK);
    for path in [
        "/repo/shop/../slipway.db",
        "/repo/shop/%2e%2e/slipway.db",
        "/repo/shop/..%2fslipway.db",
        "/repo/shop/repodata/..%2f..%2fslipway.db",
        "/repo/%2e%2e/slipway.db",
        "/repo/shop/.incoming",
        "/repo/shop/repodata",
    ] {
        let reply = d.server.get(path, &Auth::None).await;
        assert_ne!(reply.status, StatusCode::OK, "{path} was served");
        assert!(!reply.text.contains("SQLite"), "{path}");
    }
    let post = d
        .server
        .send(
            d.server
                .request(reqwest::Method::POST, "/repo/shop/x.rpm", &Auth::None),
        )
        .await;
    assert_ne!(post.status, StatusCode::OK);
}
