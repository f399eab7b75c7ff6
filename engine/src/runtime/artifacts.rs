//! Build artifacts for the release-directory backends: where they may come
//! from, how they are fetched and checked, and how they are unpacked into a
//! release directory. What kind an artifact is lives in [`crate::domain::artifact`].

use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use futures::StreamExt;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::domain::artifact::{is_archive_name, looks_like_file};
use crate::error::InvalidInput;

/// Largest artifact Slipway downloads.
const MAX_DOWNLOAD_BYTES: u64 = 4 * 1024 * 1024 * 1024;
const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(30 * 60);

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ArtifactSource {
    /// A `.tar.gz`, `.tgz` or `.tar` file.
    Archive(PathBuf),
    /// A directory whose contents become the release.
    Directory(PathBuf),
    /// An `http(s)` URL of an archive.
    Url(url::Url),
}

/// Which local paths artifacts may be read from.
#[derive(Clone, Debug)]
pub struct ArtifactPolicy {
    allowed_roots: Vec<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum StageError {
    #[error("artifact refused: {0}")]
    Refused(#[from] InvalidInput),
    #[error("could not read the artifact: {0}")]
    Io(#[from] std::io::Error),
    #[error("could not download the artifact: {0}")]
    Download(String),
}

impl ArtifactPolicy {
    /// Roots are created if missing and canonicalised, so symlinks cannot
    /// smuggle a path out of them.
    pub fn new(roots: impl IntoIterator<Item = PathBuf>) -> std::io::Result<Self> {
        let mut allowed_roots = Vec::new();
        for root in roots {
            std::fs::create_dir_all(&root)?;
            allowed_roots.push(root.canonicalize()?);
        }
        Ok(Self { allowed_roots })
    }

    /// Parses an artifact reference. Local paths must exist inside an allowed root.
    pub fn resolve(&self, raw: &str) -> Result<ArtifactSource, InvalidInput> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(InvalidInput::new("artifact", "the artifact is empty"));
        }
        if raw.starts_with("http://") || raw.starts_with("https://") {
            let url = url::Url::parse(raw).map_err(|e| {
                InvalidInput::new("artifact", format!("the artifact URL is not valid: {e}"))
            })?;
            return Ok(ArtifactSource::Url(url));
        }
        let path = Path::new(raw);
        if !path.is_absolute() || path.components().any(|c| matches!(c, Component::ParentDir)) {
            return Err(InvalidInput::new(
                "artifact",
                "the artifact must be an http(s) URL or an absolute path without '..'",
            ));
        }
        let real = path.canonicalize().map_err(|_| {
            InvalidInput::new(
                "artifact",
                format!("the artifact {raw} does not exist on the Slipway server"),
            )
        })?;
        if !self.allowed_roots.iter().any(|root| real.starts_with(root)) {
            let roots: Vec<_> = self
                .allowed_roots
                .iter()
                .map(|r| r.display().to_string())
                .collect();
            return Err(InvalidInput::new(
                "artifact",
                format!(
                    "the artifact {raw} is outside the allowed artifact roots ({})",
                    roots.join(", ")
                ),
            ));
        }
        if real.is_dir() {
            return Ok(ArtifactSource::Directory(real));
        }
        if is_archive_name(&real) {
            return Ok(ArtifactSource::Archive(real));
        }
        Err(InvalidInput::new(
            "artifact",
            "the artifact must be a .tar.gz, .tgz or .tar file, or a directory",
        ))
    }
}

/// Whether a build's artifact is one some backend can use: an archive path
/// or URL for release-directory backends, or an image reference for docker.
/// Something that looks like a path or URL is held to the archive rules.
pub fn check_build_artifact(policy: &ArtifactPolicy, raw: &str) -> Result<(), InvalidInput> {
    let trimmed = raw.trim();
    if looks_like_file(trimmed) {
        return policy.resolve(trimmed).map(|_| ());
    }
    crate::domain::settings::ImageRef::parse(trimmed).map(|_| ())
}

/// Puts the artifact's contents into `dest` (an empty, existing directory).
pub async fn unpack_into(source: &ArtifactSource, dest: &Path) -> Result<(), StageError> {
    match source {
        ArtifactSource::Archive(path) => {
            let (path, dest) = (path.clone(), dest.to_owned());
            blocking(move || unpack_archive(&path, &dest)).await
        }
        ArtifactSource::Directory(dir) => {
            let (dir, dest) = (dir.clone(), dest.to_owned());
            blocking(move || copy_tree(&dir, &dest)).await
        }
        ArtifactSource::Url(url) => {
            // Beside the release directory: the same filesystem, and gone when unpacked.
            let beside = dest.parent().unwrap_or(dest);
            let downloaded = download(url, beside).await?;
            let (path, dest) = (downloaded.path.clone(), dest.to_owned());
            blocking(move || unpack_archive(&path, &dest)).await
        }
    }
}

async fn blocking(
    f: impl FnOnce() -> std::io::Result<()> + Send + 'static,
) -> Result<(), StageError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StageError::Io(std::io::Error::other(e)))?
        .map_err(StageError::Io)
}

fn unpack_archive(path: &Path, dest: &Path) -> std::io::Result<()> {
    let file = std::fs::File::open(path)?;
    let reader: Box<dyn std::io::Read> = if path.extension().is_some_and(|e| e == "tar") {
        Box::new(std::io::BufReader::new(file))
    } else {
        Box::new(flate2::read::GzDecoder::new(std::io::BufReader::new(file)))
    };
    let mut archive = tar::Archive::new(reader);
    // Modes as rwx bits only (no setuid/setgid); files owned by Slipway.
    archive.set_preserve_permissions(false);
    archive.set_preserve_ownerships(false);
    archive.set_overwrite(true);
    // `unpack` refuses entries that would land outside `dest`.
    archive.unpack(dest)
}

fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        let kind = entry.file_type()?;
        if kind.is_dir() {
            std::fs::create_dir_all(&target)?;
            copy_tree(&entry.path(), &target)?;
        } else if kind.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(entry.path())?, &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

/// The lower-case hex sha256 of a file.
pub async fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut file = tokio::fs::File::open(path).await?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// A downloaded artifact on this machine, removed when dropped.
#[derive(Debug)]
pub struct Downloaded {
    pub path: PathBuf,
}

impl Drop for Downloaded {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Downloads `url` into `dir`, keeping its file name's archive extension
/// (so `.tar` stays uncompressed).
pub async fn download(url: &url::Url, dir: &Path) -> Result<Downloaded, StageError> {
    let extension = if url.path().ends_with(".tar") {
        "tar"
    } else {
        "tar.gz"
    };
    let downloaded = Downloaded {
        path: dir.join(format!(
            "slipway-artifact-{:016x}.{extension}",
            rand::random::<u64>()
        )),
    };
    download_to(url, &downloaded.path).await?;
    Ok(downloaded)
}

/// A download failure without its URL, whose query may hold a signature.
fn download_error(e: reqwest::Error) -> StageError {
    StageError::Download(e.without_url().to_string())
}

async fn download_to(url: &url::Url, path: &Path) -> Result<(), StageError> {
    let client = reqwest::Client::builder()
        .timeout(DOWNLOAD_TIMEOUT)
        .build()
        .map_err(download_error)?;
    let response = client
        .get(url.clone())
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .map_err(download_error)?;
    let mut file = tokio::fs::File::create(path).await?;
    let mut written: u64 = 0;
    let mut body = response.bytes_stream();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(download_error)?;
        written += chunk.len() as u64;
        if written > MAX_DOWNLOAD_BYTES {
            return Err(StageError::Download(
                "the artifact is larger than 4 GiB".to_owned(),
            ));
        }
        file.write_all(&chunk).await?;
    }
    file.flush().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_build_artifact_is_an_archive_under_a_root_or_an_image_with_a_tag_or_digest() {
        let root = tempfile::tempdir().unwrap();
        let policy = ArtifactPolicy::new([root.path().to_owned()]).unwrap();
        for good in [
            "shop:1.4.2",
            "registry.example.com/team/shop:v2",
            "https://ci.example/app.tar.gz",
        ] {
            assert!(check_build_artifact(&policy, good).is_ok(), "{good:?}");
        }
        for bad in [
            "shop",
            "etc/passwd",
            "rel/app.tar.gz",
            "shop:1;id",
            "/etc/passwd",
            "./shop:1",
        ] {
            assert!(check_build_artifact(&policy, bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn paths_outside_the_roots_are_refused() {
        let root = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let inside_file = root.path().join("app.tar.gz");
        let outside_file = outside.path().join("app.tar.gz");
        std::fs::write(&inside_file, b"x").unwrap();
        std::fs::write(&outside_file, b"x").unwrap();
        let policy = ArtifactPolicy::new([root.path().to_owned()]).unwrap();

        assert!(matches!(
            policy.resolve(inside_file.to_str().unwrap()),
            Ok(ArtifactSource::Archive(_))
        ));
        assert!(policy.resolve(outside_file.to_str().unwrap()).is_err());
        let sneaky = format!("{}/../{}", root.path().display(), outside_file.display());
        assert!(policy.resolve(&sneaky).is_err());
        // A symlink inside the root that points outside is refused too.
        let link = root.path().join("link.tar.gz");
        std::os::unix::fs::symlink(&outside_file, &link).unwrap();
        assert!(policy.resolve(link.to_str().unwrap()).is_err());
        assert!(policy.resolve("relative/app.tar.gz").is_err());
        assert!(matches!(
            policy.resolve("https://ci.example/app.tar.gz"),
            Ok(ArtifactSource::Url(_))
        ));
    }
}
