//! The release archive, read (or fetched) once per job and shared by every host.

use std::path::PathBuf;

use tokio::sync::OnceCell;

use super::SshRun;
use crate::backends::ssh::plan::{self, Incoming};
use crate::backends::ssh::transport::Stdin;
use crate::runtime::artifacts::{ArtifactSource, Downloaded};
use crate::runtime::shares::Share;

/// The release archive, loaded at most once per job. A deploy loads it
/// before connecting; a rollback only when some host no longer has the
/// release staged, so rolling back to a staged release needs neither the
/// artifact file nor a download.
#[derive(Default)]
pub(super) struct ArchiveOnce(OnceCell<Result<Archive, String>>);

impl ArchiveOnce {
    pub(super) async fn get(&self, run: &SshRun<'_>) -> Result<&Archive, String> {
        self.0
            .get_or_init(|| load_archive(run))
            .await
            .as_ref()
            .map_err(Clone::clone)
    }
}

/// The archive on this machine (downloading a URL artifact once), and,
/// when the hosts fetch it, its checksum and the share they fetch it from.
pub(super) async fn load_archive(run: &SshRun<'_>) -> Result<Archive, String> {
    let source = run
        .ctx
        .artifacts
        .resolve(run.spec.artifact)
        .map_err(|e| format!("artifact refused: {}", e.message))?;
    let (path, downloaded) = match source {
        ArtifactSource::Archive(path) => (path, None),
        ArtifactSource::Directory(_) => {
            return Err("the ssh backend ships archives (.tar.gz or .tar), not directories".into())
        }
        ArtifactSource::Url(url) => {
            let shown = crate::domain::artifact::loggable_url(&url);
            run.report.info(&format!("downloading {shown}")).await;
            let downloaded = crate::runtime::artifacts::download(&url, &std::env::temp_dir())
                .await
                .map_err(|e| format!("{shown}: {e}"))?;
            (downloaded.path.clone(), Some(downloaded))
        }
    };
    let gzip = path.extension().is_none_or(|e| e != "tar");
    let size = tokio::fs::metadata(&path)
        .await
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?
        .len();
    let fetched = match &run.config.fetch_from {
        None => None,
        Some(base) => {
            let sha256 = crate::runtime::artifacts::sha256_file(&path)
                .await
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            let share = run.ctx.shares.lend(path.clone());
            let url = crate::runtime::shares::share_url(base, share.token());
            Some(Fetched {
                url,
                sha256,
                _share: share,
            })
        }
    };
    Ok(Archive {
        path,
        gzip,
        size,
        fetched,
        _downloaded: downloaded,
    })
}

/// The release archive: streamed from its file to every host, or lent for
/// the hosts to fetch. Dropping it withdraws the share and removes a download.
pub(super) struct Archive {
    path: PathBuf,
    gzip: bool,
    size: u64,
    fetched: Option<Fetched>,
    _downloaded: Option<Downloaded>,
}

pub(super) struct Fetched {
    url: String,
    sha256: String,
    _share: Share,
}

impl Archive {
    pub(super) fn incoming(&self) -> Incoming<'_> {
        Incoming {
            gzip: self.gzip,
            fetch: self.fetched.as_ref().map(|f| plan::Fetch {
                url: &f.url,
                sha256: &f.sha256,
            }),
        }
    }

    /// The staging command's stdin: the env file, then the archive when
    /// it is uploaded.
    pub(super) fn stdin<'a>(&'a self, env_file: &'a str) -> Stdin<'a> {
        Stdin {
            bytes: env_file.as_bytes(),
            file: self.fetched.is_none().then_some(self.path.as_path()),
        }
    }

    /// What staging does with it, for the step's label.
    pub(super) fn transfer(&self) -> String {
        let verb = if self.fetched.is_some() {
            "fetch"
        } else {
            "upload"
        };
        format!("{verb} {} KiB and unpack", self.size / 1024)
    }
}
