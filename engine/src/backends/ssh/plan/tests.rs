use super::*;

const STDIN_GZ: Incoming<'static> = Incoming {
    gzip: true,
    fetch: None,
};

#[test]
fn a_fetched_archive_is_checked_before_it_is_unpacked() {
    let incoming = Incoming {
        gzip: true,
        fetch: Some(Fetch {
            url: "http://10.0.0.5:3000/artifacts/t'$(id)",
            sha256: "ab12",
        }),
    };
    let script = stage(&layout(), incoming, 0);
    let fetch = script.find("curl -fsS").unwrap();
    let check = script.find("sha256sum <").unwrap();
    let unpack = script
        .find("tar --no-same-owner --no-same-permissions -xzf '/srv/shop/releases/.20261122120000-7.download'")
        .unwrap();
    assert!(fetch < check && check < unpack);
    assert!(script.contains("'http://10.0.0.5:3000/artifacts/t'\\''$(id)'"));
    assert!(script.contains("!= 'ab12' ]"));
    assert!(discard(&layout()).contains(".download"));
    assert!(discard(&layout()).contains(".env"));
}

const HOLDER: &str = "job 7 by ada from slipway a1 since 2026-11-22T12:00:00Z";

fn held_by(holder: &str) -> DeployLock {
    DeployLock {
        holder: holder.to_owned(),
        takes_over: None,
    }
}

fn layout() -> ReleaseLayout {
    ReleaseLayout {
        deploy_path: "/srv/shop".into(),
        environment: "shop/production".into(),
        release_key: "20261122120000-7".into(),
        job_id: 7,
    }
}

/// Runs a plan script in a real `sh`, as a host would.
fn sh(script: &str) -> std::process::Output {
    std::process::Command::new("sh")
        .args(["-c", script])
        .output()
        .expect("run sh")
}

#[test]
fn a_deploy_path_is_claimed_by_its_first_environment_and_refused_to_others() {
    let root = tempfile::tempdir().expect("tempdir");
    let ours = ReleaseLayout {
        deploy_path: root.path().to_path_buf(),
        ..layout()
    };
    assert!(sh(&lock(&ours, &held_by(HOLDER))).status.success());
    assert!(sh(&unlock(&ours, HOLDER)).status.success());
    let claimed = std::fs::read_to_string(root.path().join(OWNER_FILE)).unwrap();
    assert_eq!(claimed, "shop/production\n");

    // Another environment (its name as hostile as a name can get) is
    // refused, clearly, and leaves no lock behind; ours goes on.
    let theirs = ReleaseLayout {
        environment: format!("shop/staging$(touch {}/canary)", root.path().display()),
        ..ours.clone()
    };
    let refused = sh(&lock(&theirs, &held_by(HOLDER)));
    assert_eq!(refused.status.code(), Some(OWNED_EXIT));
    let why = String::from_utf8_lossy(&refused.stderr);
    assert!(
        why.contains("is the deploy path of shop/production"),
        "{why}"
    );
    assert!(!ours.lock_dir().exists(), "the refused lock was kept");
    assert!(sh(&lock(&ours, &held_by(HOLDER))).status.success());
    assert!(sh(&unlock(&ours, HOLDER)).status.success());
    assert!(!root.path().join("canary").exists(), "a name executed");
}

#[test]
fn unlocking_leaves_a_lock_that_another_slipways_job_of_the_same_number_holds() {
    let root = tempfile::tempdir().expect("tempdir");
    let layout = ReleaseLayout {
        deploy_path: root.path().to_path_buf(),
        ..layout()
    };
    let theirs = "job 7 by bob from slipway b2 since 2026-11-22T11:59:00Z";
    assert!(sh(&lock(&layout, &held_by(theirs))).status.success());
    let refused = sh(&lock(&layout, &held_by(HOLDER)));
    assert_eq!(refused.status.code(), Some(LOCKED_EXIT));
    assert!(String::from_utf8_lossy(&refused.stderr).contains(theirs));

    assert!(sh(&unlock(&layout, HOLDER)).status.success());
    assert!(layout.lock_dir().exists(), "our unlock removed their lock");
    assert!(sh(&unlock(&layout, theirs)).status.success());
    assert!(!layout.lock_dir().exists());
}

#[test]
fn a_resuming_job_takes_over_only_the_lock_its_interrupted_job_left() {
    let root = tempfile::tempdir().expect("tempdir");
    let layout = ReleaseLayout {
        deploy_path: root.path().to_path_buf(),
        ..layout()
    };
    let dead = "job 7 by ada from slipway a1 since 2026-11-22T11:00:00Z";
    assert!(sh(&lock(&layout, &held_by(dead))).status.success());
    // A prefix that is a glob or a shell word matches only itself.
    let hostile = format!("$(touch {}/canary)", root.path().display());
    for prefix in ["job 7 by ada from slipway b2 since ", "job * ", &hostile] {
        let other = DeployLock {
            holder: "job 9 by bo from slipway a1 since 2026-11-22T12:00:00Z".into(),
            takes_over: Some(prefix.into()),
        };
        let refused = sh(&lock(&layout, &other));
        assert_eq!(refused.status.code(), Some(LOCKED_EXIT), "{prefix}");
    }
    assert!(!root.path().join("canary").exists(), "a prefix executed");
    let resuming = DeployLock {
        holder: "job 9 by bo from slipway a1 since 2026-11-22T12:00:00Z".into(),
        takes_over: Some("job 7 by ada from slipway a1 since ".into()),
    };
    let taken = sh(&lock(&layout, &resuming));
    assert!(taken.status.success(), "{taken:?}");
    assert!(String::from_utf8_lossy(&taken.stdout).contains(dead));
    assert_eq!(
        std::fs::read_to_string(layout.lock_dir().join("owner")).unwrap(),
        format!("{}\n", resuming.holder)
    );
    assert!(sh(&unlock(&layout, &resuming.holder)).status.success());
    assert!(!layout.lock_dir().exists());
}

#[test]
fn the_switch_is_a_symlink_then_a_rename() {
    assert_eq!(
        switch_to(&layout(), &layout().release_dir()),
        "ln -sfn '/srv/shop/releases/20261122120000-7' '/srv/shop/.current.7.tmp' && \
         mv -T '/srv/shop/.current.7.tmp' '/srv/shop/current'"
    );
    assert_eq!(switch_back(&layout(), None), "rm -f '/srv/shop/current'");
}

#[test]
fn hostile_values_reach_the_shell_quoted() {
    let vars = vec![(
        "NOTE".to_owned(),
        "$(touch /tmp/x); `id` 'q' \n -rf".to_owned(),
    )];
    assert_eq!(
        exports(&vars),
        "export NOTE='$(touch /tmp/x); `id` '\\''q'\\'' \n -rf'\n"
    );
    let script = hook(&layout(), "echo ok");
    assert!(!script.contains("NOTE"), "values stay off the command line");
    let stage = stage(&layout(), STDIN_GZ, 11);
    assert!(stage.contains("dd bs=1 count=11 of='/srv/shop/releases/.20261122120000-7.env'"));
}

#[test]
fn variables_reach_a_hook_exactly_through_stdin_and_never_execute() {
    let dir = tempfile::tempdir().expect("tempdir");
    let canary = dir.path().join("canary");
    let value = format!("$(touch {0}); `touch {0}` 'q' \n -rf", canary.display());
    let vars = vec![("NOTE".to_owned(), value.clone())];
    let mut child = std::process::Command::new("sh")
        .args(["-c", &run_in(dir.path(), "printf '%s' \"$NOTE\"")])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn sh");
    use std::io::Write as _;
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(exports(&vars).as_bytes()).expect("write");
    drop(stdin);
    let out = child.wait_with_output().expect("wait");
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), value);
    assert!(!canary.exists(), "a value executed");
}

#[test]
fn the_env_file_and_the_archive_share_stdin_and_both_arrive_whole() {
    let root = tempfile::tempdir().expect("tempdir");
    let layout = ReleaseLayout {
        deploy_path: root.path().to_path_buf(),
        ..layout()
    };
    let source = tempfile::tempdir().expect("tempdir");
    std::fs::write(source.path().join("index.html"), "v1").unwrap();
    let tarball = std::process::Command::new("tar")
        .args(["-cz", "-C"])
        .arg(source.path())
        .arg(".")
        .output()
        .expect("tar");
    let env_file = "A='x y'\nSECRET='s3cr3t'\n";
    let mut stdin = env_file.as_bytes().to_vec();
    stdin.extend_from_slice(&tarball.stdout);
    let mut child = std::process::Command::new("sh")
        .args(["-c", &stage(&layout, STDIN_GZ, env_file.len())])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("spawn sh");
    use std::io::Write as _;
    child.stdin.take().unwrap().write_all(&stdin).unwrap();
    assert!(child.wait().unwrap().success());
    let release = layout.release_dir();
    assert_eq!(
        std::fs::read_to_string(release.join(".env")).unwrap(),
        env_file
    );
    assert_eq!(
        std::fs::read_to_string(release.join("index.html")).unwrap(),
        "v1"
    );
    assert!(!layout.env_path().exists(), "the env file was moved in");
}

#[test]
fn a_new_release_stages_only_after_the_lock_and_the_existence_check() {
    let script = lock_and_stage(&layout(), &held_by("job 7 by ann"), STDIN_GZ, 0);
    let lock = script.find("mkdir '/srv/shop/.slipway-lock'").unwrap();
    let check = script
        .find("if [ -e '/srv/shop/releases/20261122120000-7' ]")
        .unwrap();
    let unpack = script
        .find("tar --no-same-owner --no-same-permissions -xzf -")
        .unwrap();
    assert!(lock < check && check < unpack);
    // No `;` at the top level between the check and the unpack: a failed step stops the chain.
    assert!(!script[check..].contains("fi;"));
    assert!(!script.contains("set -e"));
}

#[test]
fn sudo_wraps_the_whole_script_as_one_quoted_argument() {
    assert_eq!(
        as_root("rm -f '/srv/a b'"),
        r"sudo -n sh -c 'rm -f '\''/srv/a b'\'''"
    );
}

#[test]
fn pruning_names_each_release_quoted_and_always_unlocks() {
    assert_eq!(
        prune_and_unlock(&layout(), HOLDER, &[]),
        unlock(&layout(), HOLDER)
    );
    let script = prune_and_unlock(&layout(), HOLDER, &["a b".into(), "-rf".into()]);
    assert!(script.starts_with("rm -rf -- '/srv/shop/releases/a b' '/srv/shop/releases/-rf'; "));
    assert!(script.ends_with(&unlock(&layout(), HOLDER)));
}
