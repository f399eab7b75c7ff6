//! The dnf backend on the local machine (one host: an installroot), with
//! real rpmbuild, createrepo_c, dnf and rpm: packages published into
//! Slipway's own repository (read by dnf as a `file://` repository here;
//! the HTTP serving and the SSH fleet are tested against the real binary
//! in `server/tests/dnf_fleet.rs`).

mod common;

use std::path::PathBuf;

use common::{TestEngine, APP, ENV};
use engine::backends::dnf::inventory::VersionStatus;
use engine::backends::dnf::{DnfConfig, DnfTarget, PackageManager};
use engine::backends::BackendConfig;
use engine::domain::{Build, JobState, ReleaseState};
use engine::store::builds::Registered;
use engine::testing::rpm::{self, RpmBuilder};
use engine::PackageUpload;

const PACKAGE: &str = "shop";

struct DnfTest {
    t: TestEngine,
    rpms: RpmBuilder,
}

impl DnfTest {
    async fn start() -> Self {
        let mut t = TestEngine::new().await;
        let rpms = RpmBuilder::new(t.path());
        t.create_app().await;
        let config = DnfConfig {
            package: PACKAGE.into(),
            repo_id: "slipway-shop".into(),
            repo_url: format!(
                "file://{}",
                t.engine.package_repository().root().join(APP).display()
            ),
            target: DnfTarget::Local,
            sudo: false,
            package_manager: PackageManager::Dnf,
            extra_options: vec![
                "--nogpgcheck".into(),
                "--setopt=install_weak_deps=False".into(),
                "--releasever=1".into(),
            ],
            install_root: Some(t.path().join("host")),
            parallelism: 4,
        };
        t.engine
            .create_environment(&t.actor, APP, ENV, BackendConfig::Dnf(config), false)
            .await
            .expect("create dnf environment");
        t.start_runner();
        Self { t, rpms }
    }

    fn host_root(&self) -> PathBuf {
        self.t.path().join("host")
    }

    /// Builds the package and publishes it through the engine (as the upload API does).
    async fn publish(&self, version: &str, release: &str) -> Build {
        let file = self.rpms.build(PACKAGE, version, release);
        let upload = self
            .t
            .path()
            .join(format!("upload-{version}-{release}.rpm"));
        std::fs::copy(&file, &upload).unwrap();
        let (registered, published) = self
            .t
            .engine
            .publish_package(
                &self.t.actor,
                PackageUpload {
                    application: APP.into(),
                    commit_sha: common::sha(&format!("{version}-{release}")),
                    branch: "main".into(),
                    message: format!("shop {version}-{release}"),
                    author: "CI".into(),
                },
                &upload,
            )
            .await
            .expect("publish");
        assert!(published.new);
        match registered {
            Registered::Created(build) => {
                assert_eq!(build.artifact, format!("{PACKAGE}-{version}-{release}"));
                build
            }
            Registered::Existing(build) => panic!("build {} existed", build.id),
        }
    }

    fn installed(&self) -> Vec<String> {
        rpm::installed(&self.host_root(), PACKAGE)
    }

    fn current(&self) -> Option<String> {
        rpm::current(&self.host_root(), PACKAGE)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn install_upgrade_rollback_by_downgrade_and_drift_on_the_local_machine() {
    let d = DnfTest::start().await;
    let v1 = d.publish("1.0", "1").await;
    let v2 = d.publish("1.0", "2").await;

    let job = d.t.deploy_and_wait(&v1).await;
    assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
    assert_eq!(d.installed(), ["shop-1.0-1"]);
    assert_eq!(d.current().as_deref(), Some("releases/1.0-1"));

    let job = d.t.deploy_and_wait(&v2).await;
    assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
    assert_eq!(d.installed(), ["shop-1.0-2"]);
    assert_eq!(d.current().as_deref(), Some("releases/1.0-2"));
    let events = d.t.events(job.id).await;
    assert!(
        events
            .iter()
            .any(|e| e.text.contains("upgrade shop-1.0-2 done")),
        "no upgrade step in the log"
    );

    // Roll back: exactly the earlier version, by a downgrade.
    let env = d.t.engine.environment(&d.t.actor, APP, ENV).await.unwrap();
    let releases =
        d.t.engine
            .releases(&d.t.actor, &env, None, 10)
            .await
            .unwrap();
    let first = releases.iter().find(|r| r.build_id == v1.id).unwrap();
    assert_eq!(first.state, ReleaseState::Superseded);
    let job =
        d.t.engine
            .rollback(&d.t.actor, APP, ENV, first.id)
            .await
            .unwrap();
    let job = d.t.wait_finished(job.id).await;
    assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
    assert_eq!(d.installed(), ["shop-1.0-1"]);
    assert_eq!(d.current().as_deref(), Some("releases/1.0-1"));
    let hosts = d.t.engine.store().job_hosts(job.id).await.unwrap();
    assert_eq!(hosts.len(), 1);
    assert_eq!(
        (hosts[0].host.as_str(), hosts[0].state.as_str()),
        ("local", "succeeded")
    );

    let versions =
        d.t.engine
            .installed_versions(&d.t.actor, APP, ENV)
            .await
            .unwrap();
    assert_eq!(versions.len(), 1);
    assert_eq!(versions[0].installed, ["shop-1.0-1"]);
    assert_eq!(versions[0].status, VersionStatus::Live);

    // Someone installs another version by hand: drift.
    let stray = d.rpms.build(PACKAGE, "0.9", "7");
    rpm::install_by_hand(&d.host_root(), &stray);
    let versions =
        d.t.engine
            .installed_versions(&d.t.actor, APP, ENV)
            .await
            .unwrap();
    assert_eq!(versions[0].installed, ["shop-0.9-7"]);
    assert_eq!(versions[0].status, VersionStatus::Drift);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_missing_from_the_repository_changes_nothing() {
    let d = DnfTest::start().await;
    let v1 = d.publish("1.0", "1").await;
    assert_eq!(d.t.deploy_and_wait(&v1).await.state, JobState::Succeeded);

    // A build whose package was never published.
    let mut request = d.t.build_request("missing");
    request.artifact = "shop-1.0-9".into();
    let missing = match d
        .t
        .engine
        .register_build(&d.t.actor, request)
        .await
        .unwrap()
    {
        Registered::Created(build) => build,
        Registered::Existing(_) => unreachable!(),
    };
    let job = d.t.deploy_and_wait(&missing).await;
    assert_eq!(job.state, JobState::Failed);
    let error = job.error.unwrap_or_default();
    assert!(
        error.contains("no host was changed")
            && error.contains("shop-1.0-9 is not available from repository slipway-shop"),
        "{error}"
    );
    assert_eq!(d.installed(), ["shop-1.0-1"]);
    assert_eq!(d.current().as_deref(), Some("releases/1.0-1"));

    // Listed in the metadata, but the file is gone: the download stage
    // fails, still before anything is installed.
    let v2 = d.publish("1.0", "2").await;
    let repo = d.t.engine.package_repository().root().join(APP);
    std::fs::remove_file(repo.join("shop-1.0-2.noarch.rpm")).unwrap();
    let job = d.t.deploy_and_wait(&v2).await;
    assert_eq!(job.state, JobState::Failed);
    let error = job.error.unwrap_or_default();
    assert!(
        error.contains("no host was changed") && error.contains("download for upgrade"),
        "{error}"
    );
    assert_eq!(d.installed(), ["shop-1.0-1"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_that_are_not_the_environments_package_are_refused() {
    let d = DnfTest::start().await;
    let upload = |name: &'static str| {
        let actor = d.t.actor.clone();
        let engine = d.t.engine.clone();
        let file = d.t.path().join(name);
        async move {
            engine
                .publish_package(
                    &actor,
                    PackageUpload {
                        application: APP.into(),
                        commit_sha: common::sha(name),
                        branch: "main".into(),
                        message: String::new(),
                        author: String::new(),
                    },
                    &file,
                )
                .await
        }
    };
    std::fs::write(d.t.path().join("junk.rpm"), b"\xed\xab\xee\xdbnot really").unwrap();
    let err = upload("junk.rpm").await.unwrap_err();
    assert!(err.to_string().contains("not an rpm package"), "{err}");

    let other = d.rpms.build("billing", "2.0", "1");
    std::fs::copy(&other, d.t.path().join("billing.rpm")).unwrap();
    let err = upload("billing.rpm").await.unwrap_err();
    assert!(
        err.to_string()
            .contains("the upload is package billing, but shop's dnf environments run shop"),
        "{err}"
    );
    assert_eq!(
        d.t.count("builds").await,
        0,
        "a refused upload registered a build"
    );
    let repo = d.t.engine.package_repository().root().join(APP);
    assert!(!repo.exists() || std::fs::read_dir(&repo).unwrap().next().is_none());
}
