//! The release directory's files: the `.env`, the atomic `current`
//! switch, and pruning old releases (oldest first, never a protected one).

use std::path::Path;

use super::plan::current_link;

/// Writes the env file beside `path` and renames it over `path`.
pub(super) fn replace_env_file(path: &Path, contents: &str) -> std::io::Result<()> {
    let tmp = path.with_extension("slipway-tmp");
    let _ = std::fs::remove_file(&tmp);
    write_env_file(&tmp, contents)?;
    std::fs::rename(&tmp, path)
}

pub(super) fn write_env_file(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(contents.as_bytes())
}

/// `ln -s release tmp && mv -T tmp current`: `rename(2)` replaces the link
/// in one step, so readers see the old release or the new, never neither.
pub fn switch_symlink(current: &Path, release_dir: &Path) -> std::io::Result<()> {
    let Some(parent) = current.parent() else {
        return Err(std::io::Error::other(
            "current link has no parent directory",
        ));
    };
    if let Ok(meta) = std::fs::symlink_metadata(current) {
        if !meta.file_type().is_symlink() {
            return Err(std::io::Error::other(format!(
                "{} exists and is not a symlink; refusing to replace it",
                current.display()
            )));
        }
    }
    let tmp = parent.join(format!(".current.{}.tmp", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(release_dir, &tmp)?;
    if let Err(e) = std::fs::rename(&tmp, current) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    Ok(())
}

/// Removes the oldest release directories beyond `keep`. Never removes a
/// protected one, the one `current` points at, or anything not named like a
/// Slipway release.
pub fn prune(releases_dir: &Path, keep: usize, protect: &[String]) -> std::io::Result<Vec<String>> {
    let live = releases_dir
        .parent()
        .and_then(|target| std::fs::read_link(current_link(target)).ok())
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()));
    let names = std::fs::read_dir(releases_dir)?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| e.file_name().to_str().map(str::to_owned));
    let mut protect = protect.to_vec();
    protect.extend(live);
    let mut removed = Vec::new();
    for name in releases_to_prune(names, keep, &protect) {
        std::fs::remove_dir_all(releases_dir.join(&name))?;
        removed.push(name);
    }
    Ok(removed)
}

/// Which of `names` to remove to keep the newest `keep` releases: never a
/// protected one, never anything not named like a Slipway release.
pub fn releases_to_prune(
    names: impl IntoIterator<Item = String>,
    keep: usize,
    protect: &[String],
) -> Vec<String> {
    let mut names: Vec<String> = names
        .into_iter()
        .filter(|n| release_order(n).is_some())
        .collect();
    // Newest first, by (time, job id) as numbers: "…-10" is newer than "…-9".
    names.sort_by_key(|n| std::cmp::Reverse(release_order(n)));
    names
        .into_iter()
        .skip(keep)
        .filter(|n| !protect.contains(n))
        .collect()
}

/// The order of a Slipway release directory named `YYYYmmddHHMMSS-<job id>`;
/// `None` for anything else, which is never pruned.
pub(super) fn release_order(name: &str) -> Option<(u64, u64)> {
    let (stamp, job) = name.split_once('-')?;
    let digits = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
    if stamp.len() != 14 || !digits(stamp) || !digits(job) {
        return None;
    }
    Some((stamp.parse().ok()?, job.parse().ok()?))
}
