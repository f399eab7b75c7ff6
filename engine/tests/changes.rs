//! What a deploy changes, against a real git repository the test makes
//! (Slipway mirrors it from its path), the real runner and SQLite: the
//! commits between two builds, across a merge, those a rollback takes
//! away, and — for a commit the mirror lacks — the commit lists CI and a
//! push webhook sent, said to be the source. And the settings and
//! variables that differ from the live release's, secrets never shown.

mod common;

use std::path::Path;
use std::process::Command;

use common::{TestEngine, APP, ENV};
use engine::domain::changes::{CommitSource, Direction};
use engine::domain::snapshot::Change;
use engine::webhooks::{Push, PushAuthor, PushedCommit};
use engine::CommitRequest;

/// Runs git in `dir`, as a fixed author at a fixed clock, and returns what
/// it printed.
fn git(dir: &Path, args: &[&str], clock: u32) -> String {
    let date = format!("2026-11-{:02}T10:00:00Z", clock.clamp(1, 28));
    let output = Command::new("git")
        .current_dir(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "Ada")
        .env("GIT_AUTHOR_EMAIL", "ada@example.invalid")
        .env("GIT_COMMITTER_NAME", "Ada")
        .env("GIT_COMMITTER_EMAIL", "ada@example.invalid")
        .env("GIT_AUTHOR_DATE", &date)
        .env("GIT_COMMITTER_DATE", &date)
        .output()
        .expect("run git");
    assert!(
        output.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// A repository with its commits made one day apart.
struct Repo<'a> {
    dir: &'a Path,
    day: u32,
}

impl<'a> Repo<'a> {
    fn new(dir: &'a Path) -> Self {
        std::fs::create_dir_all(dir).expect("repo dir");
        git(dir, &["init", "--quiet", "--initial-branch=main"], 1);
        Repo { dir, day: 1 }
    }

    fn commit(&mut self, message: &str) -> String {
        self.day += 1;
        git(
            self.dir,
            &["commit", "--quiet", "--allow-empty", "-m", message],
            self.day,
        );
        git(self.dir, &["rev-parse", "HEAD"], self.day)
    }

    fn run(&mut self, args: &[&str]) -> String {
        self.day += 1;
        git(self.dir, args, self.day)
    }
}

async fn setup_with_repository(t: &TestEngine, url: &str) {
    t.engine
        .create_application(&t.actor, APP, Some(url))
        .await
        .expect("create app");
    t.create_env(t.config()).await;
}

fn shas(range: &engine::domain::changes::CommitRange) -> Vec<String> {
    range.commits.iter().map(|c| c.sha.clone()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mirror_lists_commits_across_a_merge_and_what_a_rollback_takes_away() {
    let mut t = TestEngine::new().await;
    let repo_dir = t.path().join("shop-repo");
    let mut repo = Repo::new(&repo_dir);
    let first = repo.commit("First release");
    let c2 = repo.commit("Add a cart");
    let c3 = repo.commit("Add checkout");
    repo.run(&["checkout", "--quiet", "-b", "feature/search"]);
    let f1 = repo.commit("Search: index products");
    let f2 = repo.commit("Search: a box on every page");
    repo.run(&["checkout", "--quiet", "main"]);
    let c4 = repo.commit("Fix prices");
    repo.run(&[
        "merge",
        "--quiet",
        "--no-ff",
        "-m",
        "Merge feature/search",
        "feature/search",
    ]);
    let merge = repo.run(&["rev-parse", "HEAD"]);

    setup_with_repository(&t, &repo_dir.display().to_string()).await;
    t.set_plain_var("MODE", "a").await;
    t.set_var("TOKEN", "first-secret-value", true).await;
    t.set_plain_var("GONE", "soon").await;
    t.start_runner();

    let v1 = t.register_commit("1.0.0", &first, Vec::new()).await;
    // Nothing live yet: nothing to compare with.
    let before_any = t
        .engine
        .deploy_changes(&t.actor, APP, ENV, v1.id)
        .await
        .expect("changes of the first deploy");
    assert!(before_any.live_build.is_none());
    assert_eq!(before_any.commits.source, CommitSource::Nothing);
    assert!(before_any.settings.is_none());
    let job1 = t.deploy_ok(&v1).await;

    // The variables change after v1 went live.
    t.set_plain_var("MODE", "b").await;
    t.set_var("TOKEN", "second-secret-value", true).await;
    t.set_plain_var("NEW", "yes").await;
    t.engine
        .delete_env_var(&t.actor, APP, ENV, "GONE")
        .await
        .expect("delete GONE");

    let v2 = t.register_commit("2.0.0", &merge, Vec::new()).await;
    let changes = t
        .engine
        .deploy_changes(&t.actor, APP, ENV, v2.id)
        .await
        .expect("changes before deploying v2");
    let range = &changes.commits;
    assert_eq!(range.source, CommitSource::Mirror);
    assert_eq!(range.direction, Direction::Adds);
    assert!(range.complete);
    assert_eq!(range.total, 6, "{:?}", shas(range));
    assert_eq!(range.commits[0].sha, merge, "newest first");
    let mut listed = shas(range);
    listed.sort();
    let mut expected = vec![
        c2.clone(),
        c3.clone(),
        f1.clone(),
        f2.clone(),
        c4.clone(),
        merge.clone(),
    ];
    expected.sort();
    assert_eq!(listed, expected, "every commit of both sides of the merge");
    let merge_commit = &range.commits[0];
    assert_eq!(merge_commit.subject, "Merge feature/search");
    assert_eq!(merge_commit.author, "Ada");
    assert_eq!(merge_commit.parents.as_ref().map(Vec::len), Some(2));
    assert!(
        !shas(range).contains(&first),
        "the live commit is not listed"
    );

    // What else changes: the variables, a secret only as "changed".
    let settings = changes.settings.as_ref().expect("a snapshot to compare");
    assert!(settings.settings.is_empty(), "{:?}", settings.settings);
    let vars: Vec<_> = settings
        .variables
        .iter()
        .map(|v| {
            (
                v.name.as_str(),
                v.change,
                v.before.as_deref(),
                v.after.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        vars,
        [
            ("GONE", Change::Removed, Some("soon"), None),
            ("MODE", Change::Changed, Some("a"), Some("b")),
            ("NEW", Change::Added, None, Some("yes")),
            ("TOKEN", Change::Changed, None, None),
        ]
    );
    let json = serde_json::to_string(&changes).expect("serialize");
    assert!(!json.contains("first-secret-value") && !json.contains("second-secret-value"));

    // The job page says the same once it ran; a settings change after it
    // does not alter what it changed.
    let job2 = t.deploy_ok(&v2).await;
    t.set_plain_var("MODE", "c").await;
    let done = t
        .engine
        .job_changes(&t.actor, job2.id)
        .await
        .expect("what job 2 changed");
    assert_eq!(done.commits.total, 6);
    assert_eq!(done.live_build.as_ref().map(|b| b.id), Some(v1.id));
    assert_eq!(done.settings, changes.settings);

    // A rollback to v1 takes the six commits away.
    let release1 = t.release_of_job(job1.id).await;
    let rollback = t.roll_back_and_wait(release1.id).await;
    let undone = t
        .engine
        .job_changes(&t.actor, rollback.id)
        .await
        .expect("what the rollback changed");
    assert_eq!(undone.commits.source, CommitSource::Mirror);
    assert_eq!(undone.commits.direction, Direction::Removes);
    assert_eq!(undone.commits.total, 6);
    assert_eq!(undone.commits.commits[0].sha, merge);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_the_mirror_lacks_is_listed_from_what_ci_and_webhooks_sent() {
    let mut t = TestEngine::new().await;
    let repo_dir = t.path().join("shop-repo");
    let mut repo = Repo::new(&repo_dir);
    let first = repo.commit("First release");
    setup_with_repository(&t, &format!("file://{}", repo_dir.display())).await;
    t.start_runner();
    let v1 = t.register_commit("1.0.0", &first, Vec::new()).await;
    t.deploy_ok(&v1).await;

    // CI built commits that were never pushed where Slipway fetches from.
    let unpushed = |n: u8| format!("{:040x}", 0xc0ffee_u32 + u32::from(n));
    let ci_list = vec![
        CommitRequest {
            sha: unpushed(1),
            message: "Local fix <script>alert(1)</script>\n\nbody".into(),
            author: "Bob".into(),
            committed_at: None,
            parents: Some(vec![first.clone()]),
        },
        CommitRequest {
            sha: unpushed(2),
            message: "Another local fix".into(),
            author: "Bob".into(),
            committed_at: None,
            parents: None, // the one listed before it
        },
    ];
    let v2 = t.register_commit("2.0.0", &unpushed(3), ci_list).await;
    let changes = t
        .engine
        .deploy_changes(&t.actor, APP, ENV, v2.id)
        .await
        .expect("changes of an unpushed build");
    let range = &changes.commits;
    assert_eq!(range.source, CommitSource::Registered, "{range:?}");
    assert!(range.complete, "the list reaches back to the live build");
    assert_eq!(range.total, 3);
    let mut listed = shas(range);
    listed.sort();
    assert_eq!(listed, [unpushed(1), unpushed(2), unpushed(3)]);
    assert!(range
        .commits
        .iter()
        .any(|c| c.subject == "Local fix <script>alert(1)</script>"));
    t.deploy_ok(&v2).await;

    // A push webhook's commits (the mirror cannot see them either): the
    // first one's parent is the branch's commit before the push.
    let pushed = |n: u8| format!("{:040x}", 0xbeef_u32 + u32::from(n));
    let push = Push {
        branch: "main".into(),
        before: unpushed(3),
        commits: (1..=2)
            .map(|n| PushedCommit {
                id: pushed(n),
                message: format!("Pushed change {n}"),
                timestamp: Some(format!("2026-12-0{n}T10:00:00+01:00")),
                author: PushAuthor {
                    name: "Carol".into(),
                },
            })
            .collect(),
    };
    assert_eq!(t.engine.pushed(APP, &push).await.expect("push kept"), 2);
    let v3 = t.register_commit("3.0.0", &pushed(2), Vec::new()).await;
    let changes = t
        .engine
        .deploy_changes(&t.actor, APP, ENV, v3.id)
        .await
        .expect("changes of a pushed build");
    assert_eq!(changes.commits.source, CommitSource::Registered);
    assert!(changes.commits.complete);
    assert_eq!(shas(&changes.commits), [pushed(2), pushed(1)]);

    // A build whose list does not reach back to the live build: what is
    // known is listed, and said to be incomplete.
    let orphan = vec![CommitRequest {
        sha: format!("{:040x}", 0xdead_u32),
        message: "Somewhere else".into(),
        author: "Dan".into(),
        committed_at: None,
        parents: None,
    }];
    let v4 = t
        .register_commit("4.0.0", &format!("{:040x}", 0xdeae_u32), orphan)
        .await;
    let changes = t
        .engine
        .deploy_changes(&t.actor, APP, ENV, v4.id)
        .await
        .expect("changes of a build with a short list");
    assert_eq!(changes.commits.source, CommitSource::Registered);
    assert!(!changes.commits.complete);
    assert_eq!(changes.commits.total, 2);

    // Bad commit lists are refused whole, and register nothing.
    let mut bad = t.build_request("5.0.0");
    bad.commits = vec![CommitRequest {
        sha: "not; a sha".into(),
        message: String::new(),
        author: String::new(),
        committed_at: None,
        parents: None,
    }];
    let refused = t.engine.register_build(&t.actor, bad).await;
    let Err(engine::Error::Invalid(e)) = refused else {
        panic!("a bad sha in the list must be refused: {refused:?}");
    };
    assert!(e.message.contains("commits[0].sha"), "{}", e.message);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_repository_falls_back_and_bad_urls_are_refused() {
    let mut t = TestEngine::new().await;
    let missing = t.path().join("no-such-repo");
    setup_with_repository(&t, &missing.display().to_string()).await;
    t.start_runner();
    let v1 = t
        .register_commit("1.0.0", &format!("{:040x}", 1), Vec::new())
        .await;
    t.deploy_ok(&v1).await;
    let v2 = t
        .register_commit(
            "2.0.0",
            &format!("{:040x}", 2),
            vec![CommitRequest {
                sha: format!("{:040x}", 2),
                message: "Second".into(),
                author: "Eve".into(),
                committed_at: None,
                parents: Some(vec![format!("{:040x}", 1)]),
            }],
        )
        .await;
    let changes = t
        .engine
        .deploy_changes(&t.actor, APP, ENV, v2.id)
        .await
        .expect("changes without a reachable repository");
    assert_eq!(changes.commits.source, CommitSource::Registered);
    assert_eq!(changes.commits.total, 1);
    assert!(changes.commits.complete);

    for bad in [
        "ext::sh -c touch% /tmp/slipway-pwned",
        "https://ci:secret@git.example/shop.git",
        "-uhack",
    ] {
        let refused = t
            .engine
            .create_application(&t.actor, "other", Some(bad))
            .await;
        assert!(
            matches!(refused, Err(engine::Error::Invalid(_))),
            "{bad}: {refused:?}"
        );
    }
    assert!(!Path::new("/tmp/slipway-pwned").exists());
}
