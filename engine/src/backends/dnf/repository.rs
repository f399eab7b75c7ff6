//! The rpm repository Slipway hosts itself, one per application, under its
//! data directory (`<root>/<app>/*.rpm` and `repodata/`), so a team needs
//! no bucket or extra web server: CI uploads a package, Slipway checks it,
//! stores it, and regenerates the metadata with `createrepo_c --update`.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::io::AsyncReadExt;
use tokio::sync::Mutex;

use crate::domain::settings::package::PackageVersion;
use crate::domain::AppName;
use crate::runtime::artifacts::sha256_file;

/// Largest package accepted (1 GiB).
pub const MAX_PACKAGE_BYTES: u64 = 1 << 30;
/// Every rpm file starts with this lead.
const RPM_MAGIC: [u8; 4] = [0xed, 0xab, 0xee, 0xdb];

#[derive(Debug, thiserror::Error)]
pub enum RepositoryError {
    #[error("not an rpm package: {0}")]
    NotAnRpm(String),
    #[error("{0}")]
    Refused(String),
    #[error(
        "{0} is already published with different content; publish it under a new release number"
    )]
    Conflict(String),
    #[error("createrepo_c failed: {0}")]
    Metadata(String),
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}

/// What an uploaded package says about itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RpmHeader {
    pub version: PackageVersion,
    pub arch: String,
}

impl RpmHeader {
    pub fn file_name(&self) -> String {
        format!("{}.{}.rpm", self.version, self.arch)
    }
}

/// A package now in the repository.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Published {
    pub header: RpmHeader,
    /// False when exactly this file was already there.
    pub new: bool,
}

#[derive(Debug)]
pub struct PackageRepository {
    root: PathBuf,
    /// One metadata regeneration at a time.
    metadata: Mutex<()>,
}

impl PackageRepository {
    pub fn new(root: impl Into<PathBuf>) -> std::io::Result<Self> {
        let root = root.into();
        std::fs::create_dir_all(root.join(".incoming"))?;
        Ok(Self {
            root: root.canonicalize()?,
            metadata: Mutex::new(()),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where an upload is received before it is checked (same filesystem,
    /// so publishing is a rename).
    pub fn incoming_path(&self) -> PathBuf {
        self.root
            .join(".incoming")
            .join(format!("{:016x}.rpm", rand::random::<u64>()))
    }

    pub fn app_dir(&self, app: &AppName) -> PathBuf {
        self.root.join(app.as_str())
    }

    /// Reads an uploaded file's header with `rpm`, after checking its lead
    /// and its digests. Source packages are refused.
    pub async fn inspect(path: &Path) -> Result<RpmHeader, RepositoryError> {
        let mut lead = [0u8; 4];
        let mut file = tokio::fs::File::open(path).await?;
        if file.read_exact(&mut lead).await.is_err() || lead != RPM_MAGIC {
            return Err(RepositoryError::NotAnRpm(
                "the file does not start with an rpm lead".into(),
            ));
        }
        let digests = rpm(&["--checksig", "--nosignature", "--"], path).await?;
        if !digests.0 {
            return Err(RepositoryError::NotAnRpm(format!(
                "its digests do not match (damaged upload?): {}",
                digests.1.trim()
            )));
        }
        let (ok, out) = rpm(
            &[
                "--query",
                "--package",
                "--nosignature",
                "--queryformat=%{NAME}\\n%{VERSION}\\n%{RELEASE}\\n%{ARCH}\\n%|SOURCERPM?{binary}:{source}|\\n",
                "--",
            ],
            path,
        )
        .await?;
        let fields: Vec<&str> = out.lines().collect();
        let [name, version, release, arch, kind] = fields[..] else {
            return Err(RepositoryError::NotAnRpm(format!(
                "rpm cannot read its header: {}",
                out.trim()
            )));
        };
        if !ok {
            return Err(RepositoryError::NotAnRpm(out.trim().to_owned()));
        }
        if kind != "binary" {
            return Err(RepositoryError::Refused(
                "source packages are not published; upload the binary rpm".into(),
            ));
        }
        let version = PackageVersion::parse(&format!("{name}-{version}-{release}"))
            .map_err(|e| RepositoryError::Refused(e.message))?;
        let arch_ok = !arch.is_empty()
            && arch.len() <= 30
            && arch.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !arch_ok {
            return Err(RepositoryError::Refused(format!(
                "unexpected architecture {arch:?}"
            )));
        }
        Ok(RpmHeader {
            version,
            arch: arch.to_owned(),
        })
    }

    /// Moves a checked upload into the application's repository and
    /// regenerates the metadata. The same file again is accepted as is;
    /// another file under the same name is refused.
    pub async fn publish(
        &self,
        app: &AppName,
        upload: &Path,
        header: &RpmHeader,
    ) -> Result<Published, RepositoryError> {
        let dir = self.app_dir(app);
        tokio::fs::create_dir_all(&dir).await?;
        let dest = dir.join(header.file_name());
        let _guard = self.metadata.lock().await;
        if tokio::fs::try_exists(&dest).await? {
            if sha256_file(&dest).await? != sha256_file(upload).await? {
                return Err(RepositoryError::Conflict(header.file_name()));
            }
            if tokio::fs::try_exists(dir.join("repodata/repomd.xml")).await? {
                return Ok(Published {
                    header: header.clone(),
                    new: false,
                });
            }
        } else {
            tokio::fs::rename(upload, &dest).await?;
        }
        if let Err(e) = createrepo(&dir).await {
            // Keep the repository consistent with its metadata.
            let _ = tokio::fs::remove_file(&dest).await;
            return Err(e);
        }
        tracing::info!(app = %app, package = %header.file_name(), "published");
        Ok(Published {
            header: header.clone(),
            new: true,
        })
    }

    /// The file a repository request names, if it is one to serve:
    /// `<app>/<name>.rpm` or `<app>/repodata/<file>`, nothing hidden, no
    /// `..`, and still inside the repository once symlinks are resolved.
    pub fn resolve(&self, app: &str, path: &str) -> Option<PathBuf> {
        let app = AppName::parse(app).ok()?;
        let parts: Vec<&str> = path.split('/').collect();
        let plain = |part: &str| {
            !part.is_empty()
                && !part.starts_with('.')
                && part.len() <= 255
                && part.chars().all(|c| {
                    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+' | '~' | '^')
                })
        };
        let allowed = match parts[..] {
            [file] => plain(file) && file.ends_with(".rpm"),
            ["repodata", file] => plain(file),
            _ => false,
        };
        if !allowed {
            return None;
        }
        let base = self.app_dir(&app).canonicalize().ok()?;
        let real = base.join(path).canonicalize().ok()?;
        (real.starts_with(&base) && real.is_file()).then_some(real)
    }
}

async fn rpm(args: &[&str], path: &Path) -> Result<(bool, String), RepositoryError> {
    let output = tokio::process::Command::new("rpm")
        .args(args)
        .arg(path)
        .stdin(Stdio::null())
        .output()
        .await?;
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() {
        text.push_str(&String::from_utf8_lossy(&output.stderr));
    }
    Ok((output.status.success(), text))
}

async fn createrepo(dir: &Path) -> Result<(), RepositoryError> {
    let output = tokio::process::Command::new("createrepo_c")
        .args(["--update", "--quiet", "--"])
        .arg(dir)
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|e| RepositoryError::Metadata(format!("cannot run createrepo_c: {e}")))?;
    if !output.status.success() {
        return Err(RepositoryError::Metadata(
            String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_packages_and_metadata_are_served() {
        let dir = std::env::temp_dir().join(format!("slipway-repo-test-{}", std::process::id()));
        let repo = PackageRepository::new(&dir).unwrap();
        let app = dir.join("shop");
        std::fs::create_dir_all(app.join("repodata")).unwrap();
        std::fs::write(app.join("shop-1.0-1.noarch.rpm"), "x").unwrap();
        std::fs::write(app.join("repodata/repomd.xml"), "x").unwrap();
        std::fs::write(dir.join("secret.rpm"), "x").unwrap();
        std::os::unix::fs::symlink(dir.join("secret.rpm"), app.join("link.rpm")).unwrap();
        assert!(repo.resolve("shop", "shop-1.0-1.noarch.rpm").is_some());
        assert!(repo.resolve("shop", "repodata/repomd.xml").is_some());
        for bad in [
            "../secret.rpm",
            "repodata/../../secret.rpm",
            "/etc/passwd",
            "link.rpm",
            ".incoming/x.rpm",
            "repodata",
            "repodata/",
            "a/b/c.rpm",
            "shop-1.0-1.noarch.rpm/",
            "%2e%2e/secret.rpm",
        ] {
            assert_eq!(repo.resolve("shop", bad), None, "{bad}");
        }
        assert_eq!(repo.resolve("..", "secret.rpm"), None);
        assert_eq!(repo.resolve(".incoming", "x.rpm"), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
