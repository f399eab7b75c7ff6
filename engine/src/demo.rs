//! The demo seeded on a first run: an application, a local environment and
//! two builds whose tarballs Slipway makes itself, so Deploy works at once.

use std::path::Path;

use sha2::{Digest, Sha256};

use crate::auth::Actor;
use crate::backends::{local::HealthCheck, local::LocalConfig, BackendConfig};
use crate::error::Result;
use crate::{BuildRequest, Engine};

pub const DEMO_APP: &str = "demo";
pub const DEMO_ENV: &str = "demo";

/// `None` when application `app` exists (it was seeded before); else the
/// artifact root, made and resolved, for its tarballs.
async fn first_seeding(
    engine: &Engine,
    app: &str,
    artifact_root: &Path,
) -> Result<Option<std::path::PathBuf>> {
    if engine
        .store()
        .applications()
        .await?
        .iter()
        .any(|a| a.name == app)
    {
        return Ok(None);
    }
    std::fs::create_dir_all(artifact_root)?;
    Ok(Some(artifact_root.canonicalize()?))
}

/// Seeds the demo unless an application named `demo` exists.
/// `data_dir` holds the demo's deploy target; `artifact_root` its tarballs.
pub async fn seed(
    engine: &Engine,
    actor: &Actor,
    data_dir: &Path,
    artifact_root: &Path,
) -> Result<bool> {
    let Some(artifact_root) = first_seeding(engine, DEMO_APP, artifact_root).await? else {
        return Ok(false);
    };
    let target = std::path::absolute(data_dir.join("demo-target"))?;

    engine
        // No repository to mirror: the builds say which commits they bring.
        .create_application(actor, DEMO_APP, None)
        .await?;
    let mut config = LocalConfig::new(target);
    config.keep_releases = 5;
    config.before_switch =
        Some("echo \"preparing release $SLIPWAY_RELEASE_ID\"; sleep 1".to_owned());
    config.after_switch = Some("echo \"now serving $(cat VERSION)\"".to_owned());
    config.health_check = Some(HealthCheck::Command {
        command: "grep -q 'Slipway demo' index.html".to_owned(),
        timeout_secs: 10,
    });
    engine
        .create_environment(
            actor,
            DEMO_APP,
            DEMO_ENV,
            BackendConfig::Local(config),
            false,
        )
        .await?;

    for (version, message, hours_ago, commits) in [
        ("1.0.0", "First demo release", 26, Vec::new()),
        (
            "1.1.0",
            "Demo release with a new greeting",
            3,
            demo_commits(
                &fake_commit_sha("1.0.0"),
                &[
                    ("1.1.0-a", "Say hello in the page title", 20),
                    ("1.1.0-b", "Fix the greeting's punctuation", 8),
                ],
            ),
        ),
    ] {
        let tarball = artifact_root.join(format!("demo-{version}.tar.gz"));
        write_demo_tarball(&tarball, version)?;
        engine
            .register_build(
                actor,
                BuildRequest {
                    application: DEMO_APP.to_owned(),
                    commit_sha: fake_commit_sha(version),
                    branch: "main".to_owned(),
                    message: message.to_owned(),
                    author: "Slipway Demo <demo@example.invalid>".to_owned(),
                    artifact: tarball.display().to_string(),
                    committed_at: Some(crate::time::now() - chrono::Duration::hours(hours_ago)),
                    commits,
                },
            )
            .await?;
    }
    Ok(true)
}

/// Commits leading up to a demo build, after `parent`: (name, message,
/// hours ago), oldest first.
fn demo_commits(parent: &str, commits: &[(&str, &str, i64)]) -> Vec<crate::CommitRequest> {
    let mut parent = parent.to_owned();
    commits
        .iter()
        .map(|(name, message, hours_ago)| {
            let sha = fake_commit_sha(name);
            crate::CommitRequest {
                sha: sha.clone(),
                message: (*message).to_owned(),
                author: "Slipway Demo".to_owned(),
                committed_at: Some(crate::time::now() - chrono::Duration::hours(*hours_ago)),
                parents: Some(vec![std::mem::replace(&mut parent, sha)]),
            }
        })
        .collect()
}

/// A stable 40-hex "commit" for a demo version.
pub fn fake_commit_sha(version: &str) -> String {
    hex::encode(Sha256::digest(format!("slipway demo {version}")))[..40].to_owned()
}

/// A release tarball: `index.html` and `VERSION`.
pub fn write_demo_tarball(path: &Path, version: &str) -> std::io::Result<()> {
    let file = std::fs::File::create(path)?;
    let gz = flate2::write::GzEncoder::new(file, flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    let page = format!(
        "<!doctype html><title>Slipway demo {version}</title><h1>Slipway demo</h1><p>version {version}</p>\n"
    );
    for (name, body) in [
        ("index.html", page.as_bytes()),
        ("VERSION", format!("{version}\n").as_bytes()),
    ] {
        let mut header = tar::Header::new_gnu();
        header.set_size(body.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_cksum();
        tar.append_data(&mut header, name, body)?;
    }
    tar.into_inner()?.finish()?;
    Ok(())
}

/// The sample history's application: twelve weeks of releases on a
/// staging and a production environment, so the timeline and the DORA
/// charts have something to show on a first run.
pub const HISTORY_APP: &str = "storefront";

/// Seeds [`HISTORY_APP`] with twelve weeks of imported releases, unless it
/// exists. Its environments stay locked: the history is a sample, and its
/// release directories were never on this machine.
pub async fn seed_history(
    engine: &Engine,
    actor: &Actor,
    data_dir: &Path,
    artifact_root: &Path,
) -> Result<bool> {
    use crate::domain::JobKind;
    use crate::store::builds::Registered;
    use crate::store::history::PastRelease;

    let Some(artifact_root) = first_seeding(engine, HISTORY_APP, artifact_root).await? else {
        return Ok(false);
    };
    engine.create_application(actor, HISTORY_APP, None).await?;
    for env in ["staging", "production"] {
        let target = std::path::absolute(data_dir.join(format!("{HISTORY_APP}-{env}")))?;
        engine
            .create_environment(
                actor,
                HISTORY_APP,
                env,
                BackendConfig::Local(LocalConfig::new(target)),
                false,
            )
            .await?;
    }
    let now = crate::time::now();
    let start = now - chrono::Duration::weeks(12);
    // A build every day or two; staging takes each two hours after its
    // commit, production the good ones a day later. A fixed pattern stands
    // in for chance: every 7th staging deploy fails.
    let (mut staging, mut production) = (Vec::new(), Vec::new());
    let mut last_good: Option<i64> = None;
    let mut day = 0_i64;
    let mut n = 0_i64;
    while start + chrono::Duration::days(day + 1) < now {
        n += 1;
        let version = format!("2.{n}.0");
        let committed = start + chrono::Duration::days(day) + chrono::Duration::hours(9 + n % 5);
        let tarball = artifact_root.join(format!("{HISTORY_APP}-{version}.tar.gz"));
        write_demo_tarball(&tarball, &version)?;
        let registered = engine
            .register_build(
                actor,
                BuildRequest {
                    application: HISTORY_APP.to_owned(),
                    commit_sha: fake_commit_sha(&format!("{HISTORY_APP} {version}")),
                    branch: "main".to_owned(),
                    message: format!("Storefront {version}"),
                    author: "Sample Team".to_owned(),
                    artifact: tarball.display().to_string(),
                    committed_at: Some(committed),
                    commits: Vec::new(),
                },
            )
            .await?;
        let (Registered::Created(build) | Registered::Existing(build)) = registered;
        let at = committed + chrono::Duration::hours(2);
        staging.push(PastRelease {
            build_id: build.id,
            kind: JobKind::Deploy,
            succeeded: n % 7 != 0,
            by: "ci".to_owned(),
            at,
            seconds: 90,
        });
        let to_production = at + chrono::Duration::hours(20);
        if n % 7 != 0 && to_production < now {
            // Every 11th fails outright; every 9th goes live, proves bad
            // and is rolled back 40 minutes later.
            let fails = n % 11 == 0;
            let rolled_back = n % 9 == 0 && !fails;
            production.push(PastRelease {
                build_id: build.id,
                kind: JobKind::Deploy,
                succeeded: !fails,
                by: "release-manager".to_owned(),
                at: to_production,
                seconds: 240,
            });
            match (rolled_back, last_good) {
                (true, Some(good)) => production.push(PastRelease {
                    build_id: good,
                    kind: JobKind::Rollback,
                    succeeded: true,
                    by: "on-call".to_owned(),
                    at: to_production + chrono::Duration::minutes(40),
                    seconds: 60,
                }),
                _ if !fails => last_good = Some(build.id),
                _ => {}
            }
        }
        day += 1 + n % 2;
    }
    engine
        .import_history(actor, HISTORY_APP, "staging", &staging)
        .await?;
    engine
        .import_history(actor, HISTORY_APP, "production", &production)
        .await?;
    for env in ["staging", "production"] {
        engine
            .lock(
                actor,
                HISTORY_APP,
                env,
                "sample history for the demo: its releases were never on this machine",
            )
            .await?;
    }
    Ok(true)
}
