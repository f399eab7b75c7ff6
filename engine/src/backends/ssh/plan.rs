//! The remote scripts of an SSH release, built from escaped values only.
//!
//! Every value that reaches a remote shell (paths, release ids, the lock
//! note) goes through [`crate::shell::quote`]. Hook and health-check
//! commands are the environment's own settings, run with `sh -c`, and
//! receive job data through exported variables.
//!
//! The environment's variables never appear in a script: a command line is
//! readable by every user of the host (`/proc/*/cmdline`) and `sudo` logs
//! it. They travel on the command's stdin instead — the `.env` file ahead
//! of the archive ([`stage`]), the exports of a hook ([`exports`]).

use std::path::{Path, PathBuf};

use crate::backends::context::DeployLock;
use crate::shell::quote;

/// The per-release values the scripts need.
#[derive(Clone, Debug)]
pub struct ReleaseLayout {
    pub deploy_path: PathBuf,
    /// The environment releasing here (`app/env`): the deploy path is
    /// claimed for it at the first lock ([`lock`]).
    pub environment: String,
    pub release_key: String,
    pub job_id: i64,
}

impl ReleaseLayout {
    pub fn releases_dir(&self) -> PathBuf {
        self.deploy_path.join("releases")
    }
    pub fn release_dir(&self) -> PathBuf {
        self.releases_dir().join(&self.release_key)
    }
    fn partial_dir(&self) -> PathBuf {
        self.releases_dir()
            .join(format!(".{}.partial", self.release_key))
    }
    fn download_path(&self) -> PathBuf {
        self.releases_dir()
            .join(format!(".{}.download", self.release_key))
    }
    fn env_path(&self) -> PathBuf {
        self.releases_dir()
            .join(format!(".{}.env", self.release_key))
    }
    fn lock_dir(&self) -> PathBuf {
        self.deploy_path.join(".slipway-lock")
    }
    fn owner_file(&self) -> PathBuf {
        self.deploy_path.join(OWNER_FILE)
    }
    fn current(&self) -> PathBuf {
        self.deploy_path.join("current")
    }
    fn current_tmp(&self) -> PathBuf {
        self.deploy_path
            .join(format!(".current.{}.tmp", self.job_id))
    }
}

fn q(path: &Path) -> String {
    quote(&path.to_string_lossy())
}

/// Runs `script` as root through `sudo -n` (never prompting), stdin included.
pub fn as_root(script: &str) -> String {
    format!("sudo -n sh -c {}", quote(script))
}

/// A step of the release itself (lock, unpack, switch, prune), as root when
/// the environment's `sudo` setting says so. Hooks and health checks never
/// go through here: they run as the remote user.
pub fn release_step(sudo: bool, script: String) -> String {
    if sudo {
        as_root(&script)
    } else {
        script
    }
}

/// Exit status of the lock script when another deploy holds the lock.
pub const LOCKED_EXIT: i32 = 75;

/// Exit status of the lock script when the deploy path is another
/// environment's.
pub const OWNED_EXIT: i32 = 72;

/// Names the environment a deploy path belongs to, in the deploy path.
pub const OWNER_FILE: &str = ".slipway-environment";

/// Exit status of the new-release script when the release directory exists.
pub const EXISTS_EXIT: i32 = 73;

/// Exit status of a fetch whose archive does not match its sha256.
pub const CHECKSUM_EXIT: i32 = 74;

/// How the release archive reaches a host.
#[derive(Clone, Copy, Debug)]
pub struct Incoming<'a> {
    /// A `.tar.gz` (or a plain `.tar`).
    pub gzip: bool,
    /// `None`: it arrives on the command's stdin.
    pub fetch: Option<Fetch<'a>>,
}

/// The host downloads the archive itself and checks it before unpacking.
#[derive(Clone, Copy, Debug)]
pub struct Fetch<'a> {
    pub url: &'a str,
    /// Lower-case hex.
    pub sha256: &'a str,
}

/// Takes the host's deploy lock (an atomic `mkdir`) and records who holds it.
/// A lock whose note starts with `lock.takes_over` (the dead runner of the
/// interrupted job this one resumes) is taken over.
///
/// Holding it, the script makes sure the deploy path is this environment's:
/// the first lock writes [`OWNER_FILE`]; one naming another environment
/// lets the lock go and exits [`OWNED_EXIT`], so two environments whose
/// hosts are discovered at job start never release into one directory.
pub fn lock(layout: &ReleaseLayout, lock: &DeployLock) -> String {
    let dir = q(&layout.lock_dir());
    let owner = q(&layout.owner_file());
    let holder = quote(&lock.holder);
    let take_over = match &lock.takes_over {
        Some(prefix) => format!(
            "elif case \"$(cat {dir}/owner 2>/dev/null)\" in {prefix}*) true;; *) false;; esac; then \
             echo \"deploy lock taken over from: $(cat {dir}/owner)\"; printf '%s\\n' {holder} > {dir}/owner; ",
            prefix = quote(prefix),
        ),
        None => String::new(),
    };
    format!(
        "mkdir -p {root} && if mkdir {dir} 2>/dev/null; then printf '%s\\n' {holder} > {dir}/owner; \
         {take_over}else echo \"deploy lock held: $(cat {dir}/owner 2>/dev/null)\" >&2; exit {LOCKED_EXIT}; fi && \
         if [ -e {owner} ] && [ \"$(cat {owner})\" != {env} ]; then \
         printf '%s is the deploy path of %s (its {OWNER_FILE} says so): give this environment its own, or delete that file if %s is gone\\n' \
         {root} \"$(cat {owner})\" \"$(cat {owner})\" >&2; rm -rf {dir}; exit {OWNED_EXIT}; fi && \
         printf '%s\\n' {env} > {owner}",
        root = q(&layout.deploy_path),
        env = quote(&layout.environment),
    )
}

/// Removes the lock whoever holds it, printing `held: <note>` if there was one.
pub fn break_lock(layout: &ReleaseLayout) -> String {
    let lock = q(&layout.lock_dir());
    format!(
        "if [ -d {lock} ]; then echo \"held: $(cat {lock}/owner 2>/dev/null)\"; rm -rf {lock}; fi"
    )
}

/// Takes the lock, then prepares (one round trip).
pub fn lock_and_prepare(layout: &ReleaseLayout, deploy_lock: &DeployLock) -> String {
    format!("{} && {}", lock(layout, deploy_lock), prepare(layout))
}

/// Releases the lock if `holder` (this job, as [`lock`] wrote it) holds it.
/// The whole note is compared, not just the job id: another Slipway's job
/// with the same number must keep its lock.
pub fn unlock(layout: &ReleaseLayout, holder: &str) -> String {
    let lock = q(&layout.lock_dir());
    format!(
        "if [ \"$(cat {lock}/owner 2>/dev/null)\" = {holder} ]; then rm -rf {lock}; fi",
        holder = quote(holder),
    )
}

/// Starts the line on which a script tells Slipway where `current` pointed.
pub const CURRENT_NOTE: &str = "current=";

/// Creates `releases/` and prints where `current` points now
/// ([`CURRENT_NOTE`]`<target>`, empty if nowhere).
fn note_current(layout: &ReleaseLayout) -> String {
    format!(
        "mkdir -p {releases} && echo \"{CURRENT_NOTE}$(readlink {current} || true)\"",
        releases = q(&layout.releases_dir()),
        current = q(&layout.current()),
    )
}

/// [`note_current`], then whether the release is already staged (`staged` / `missing`).
pub fn prepare(layout: &ReleaseLayout) -> String {
    format!(
        "{} && if [ -d {release} ]; then echo staged; else echo missing; fi",
        note_current(layout),
        release = q(&layout.release_dir()),
    )
}

/// Reads the env file (its first `env_len` bytes of stdin), unpacks the
/// archive (the rest of stdin, or fetched and checked) into a temporary
/// directory, puts the env file in it and renames it into place. Each
/// command runs only if the one before it succeeded, so the script can end
/// an `&&` chain.
pub fn stage(layout: &ReleaseLayout, incoming: Incoming<'_>, env_len: usize) -> String {
    let partial = q(&layout.partial_dir());
    let env = q(&layout.env_path());
    let z = if incoming.gzip { "z" } else { "" };
    // Whoever unpacks (root, with sudo) owns the files, and modes pass the
    // umask: an archive cannot bring setuid files or someone else's uid.
    let tar = format!("tar --no-same-owner --no-same-permissions -x{z}");
    let unpack = match incoming.fetch {
        None => format!("{tar}f - -C {partial}"),
        Some(fetch) => {
            let download = q(&layout.download_path());
            format!(
                "{get} && {check} && {tar}f {download} -C {partial} && rm -f {download}",
                get = download_to(&download, fetch.url),
                check = check_sha256(&download, fetch.sha256),
            )
        }
    };
    format!(
        "rm -rf {partial} && mkdir -p {partial} && {read_env} && {unpack} && \
         {{ ! test -e {partial}/.env && ! test -L {partial}/.env || {{ echo {refusal} >&2; exit 1; }}; }} && \
         mv -fT {env} {partial}/.env && mv -T {partial} {release}",
        read_env = env_from_stdin(&env, env_len),
        refusal = quote(crate::backends::ARTIFACT_HAS_ENV_FILE),
        release = q(&layout.release_dir()),
    )
}

/// Writes the first `env_len` bytes of stdin to the (quoted) `file`, mode
/// 0600. `dd bs=1` reads exactly those bytes, leaving what follows (the
/// archive) on stdin for the next command; a buffered reader would take some.
fn env_from_stdin(file: &str, env_len: usize) -> String {
    format!("(umask 077; dd bs=1 count={env_len} of={file} 2>/dev/null)")
}

/// Replaces a staged release's env file with the first `env_len` bytes of
/// stdin: a rollback gives the release the environment's current variables.
pub fn refresh_env(layout: &ReleaseLayout, env_len: usize) -> String {
    let env = q(&layout.release_dir().join(".env"));
    let tmp = q(&layout.env_path());
    format!("{} && mv -fT {tmp} {env}", env_from_stdin(&tmp, env_len))
}

/// Downloads `url` to the (quoted) `file` with curl, or wget where there is no curl.
fn download_to(file: &str, url: &str) -> String {
    let url = quote(url);
    format!(
        "if command -v curl >/dev/null 2>&1; then curl -fsS --max-time 600 -o {file} {url}; \
         elif command -v wget >/dev/null 2>&1; then wget -q -O {file} {url}; \
         else echo 'neither curl nor wget is installed on this host' >&2; exit 127; fi"
    )
}

/// Fails with [`CHECKSUM_EXIT`] (removing the file) unless the (quoted)
/// `file`'s sha256 is `sha256`.
fn check_sha256(file: &str, sha256: &str) -> String {
    format!(
        "if [ \"$(sha256sum < {file} | cut -d ' ' -f 1)\" != {sha} ]; then \
         echo 'the fetched archive does not match its sha256' >&2; rm -f {file}; exit {CHECKSUM_EXIT}; fi",
        sha = quote(sha256),
    )
}

/// A new release in one round trip: takes the lock, prints where `current`
/// points now, refuses a release directory that already exists, and stages
/// the archive (arriving on stdin, or fetched and checked).
pub fn lock_and_stage(
    layout: &ReleaseLayout,
    deploy_lock: &DeployLock,
    incoming: Incoming<'_>,
    env_len: usize,
) -> String {
    format!(
        "{lock} && {note} && \
         if [ -e {release} ]; then echo {exists} >&2; exit {EXISTS_EXIT}; fi && {stage}",
        lock = lock(layout, deploy_lock),
        note = note_current(layout),
        release = q(&layout.release_dir()),
        exists = quote(&format!(
            "{} already exists",
            layout.release_dir().display()
        )),
        stage = stage(layout, incoming, env_len),
    )
}

/// Removes a release this job staged (after a failure elsewhere).
pub fn discard(layout: &ReleaseLayout) -> String {
    format!(
        "rm -rf {release} {partial} {download} {env}",
        release = q(&layout.release_dir()),
        partial = q(&layout.partial_dir()),
        download = q(&layout.download_path()),
        env = q(&layout.env_path()),
    )
}

/// Runs `command` with `sh -c` in `dir`, with the variables that
/// [`exports`] wrote to its stdin exported.
pub fn run_in(dir: &Path, command: &str) -> String {
    format!(
        "cd {} && eval \"$(cat)\" && exec sh -c {} </dev/null",
        q(dir),
        quote(command)
    )
}

/// The stdin of [`run_in`]: one `export NAME='value'` per variable.
pub fn exports(vars: &[(String, String)]) -> String {
    vars.iter()
        // Names are validated identifiers; values are quoted.
        .map(|(name, value)| format!("export {name}={}\n", quote(value)))
        .collect()
}

pub fn hook(layout: &ReleaseLayout, command: &str) -> String {
    run_in(&layout.release_dir(), command)
}

pub fn health_check(layout: &ReleaseLayout, command: &str) -> String {
    run_in(&layout.current(), command)
}

/// Points `current` at `target` atomically (symlink to a temp name, rename over).
pub fn switch_to(layout: &ReleaseLayout, target: &Path) -> String {
    let tmp = q(&layout.current_tmp());
    format!(
        "ln -sfn {target} {tmp} && mv -T {tmp} {current}",
        target = q(target),
        current = q(&layout.current()),
    )
}

/// Switches `current` to this release, then lists the release directories
/// (one per line) for pruning, saving a round trip after the switch.
pub fn switch_and_list(layout: &ReleaseLayout) -> String {
    format!(
        "{} && {}",
        switch_to(layout, &layout.release_dir()),
        list_releases(layout)
    )
}

/// Undoes a switch: back to `previous`, or no `current` if there was none.
pub fn switch_back(layout: &ReleaseLayout, previous: Option<&Path>) -> String {
    match previous {
        Some(target) => switch_to(layout, target),
        None => format!("rm -f {}", q(&layout.current())),
    }
}

/// Lists release directories, one per line.
pub fn list_releases(layout: &ReleaseLayout) -> String {
    format!("ls -1 {}", q(&layout.releases_dir()))
}

/// Removes the named releases (if any), then releases this job's lock.
pub fn prune_and_unlock(layout: &ReleaseLayout, holder: &str, names: &[String]) -> String {
    if names.is_empty() {
        return unlock(layout, holder);
    }
    let dirs: Vec<String> = names
        .iter()
        .map(|n| q(&layout.releases_dir().join(n)))
        .collect();
    format!("rm -rf -- {}; {}", dirs.join(" "), unlock(layout, holder))
}

#[cfg(test)]
mod tests;
