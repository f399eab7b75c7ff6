//! The audit checkpointer: signs the chain's head every so many rows and
//! at least every so many minutes while rows arrive, and appends each
//! checkpoint to an export file — the copy that lives outside the database,
//! which `slipway audit verify --checkpoints` compares the chain with.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tracing::Instrument;

use crate::audit::{parse_checkpoints, AuditSigningKey, Checkpoint};
use crate::error::Result;
use crate::store::Store;
use crate::time;

#[derive(Clone, Debug)]
pub struct CheckpointSettings {
    /// Sign once this many rows are newer than the last checkpoint.
    pub every_rows: i64,
    /// …or once the last checkpoint is this old and a row is newer.
    pub every: Duration,
    /// How often to look.
    pub poll_every: Duration,
    /// The file each checkpoint is appended to (JSON lines).
    pub export_to: Option<PathBuf>,
}

impl Default for CheckpointSettings {
    fn default() -> Self {
        Self {
            every_rows: 1000,
            every: Duration::from_secs(600),
            poll_every: Duration::from_secs(2),
            export_to: None,
        }
    }
}

pub struct Checkpointer {
    store: Store,
    key: AuditSigningKey,
    settings: CheckpointSettings,
    /// When the last checkpoint was signed (by this process: at start, the
    /// clock starts then).
    last_signed: Instant,
    /// The newest checkpoint the export file holds.
    exported_through: Option<i64>,
}

impl Checkpointer {
    pub fn new(store: Store, key: AuditSigningKey, settings: CheckpointSettings) -> Self {
        Self {
            store,
            key,
            settings,
            last_signed: Instant::now(),
            exported_through: None,
        }
    }

    /// Until shutdown; then one last checkpoint of whatever is new.
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        loop {
            tokio::select! {
                _ = shutdown.changed() => break,
                () = tokio::time::sleep(self.settings.poll_every) => {}
            }
            if let Err(e) = self.checkpoint(false).await {
                tracing::warn!(error = %e, "audit checkpoint");
            }
        }
        if let Err(e) = self.checkpoint(true).await {
            tracing::warn!(error = %e, "audit checkpoint at shutdown");
        }
    }

    /// Signs the head when a checkpoint is due (or whenever it has rows no
    /// checkpoint covers, with `force`), then exports what the file lacks.
    /// Returns the checkpoint signed, if any.
    pub async fn checkpoint(&mut self, force: bool) -> Result<Option<Checkpoint>> {
        let span = tracing::info_span!("audit_checkpoint");
        async {
            let signed = self.sign_if_due(force).await?;
            if let Some(checkpoint) = &signed {
                tracing::info!(seq = checkpoint.seq, hash = %checkpoint.hash, "audit checkpoint signed");
            }
            self.export().await?;
            Ok(signed)
        }
        .instrument(span)
        .await
    }

    async fn sign_if_due(&mut self, force: bool) -> Result<Option<Checkpoint>> {
        let Some(head) = self.store.audit_head().await? else {
            return Ok(None);
        };
        let covered = self.store.latest_checkpoint().await?.map_or(0, |c| c.seq);
        let new_rows = head.seq - covered;
        let due = new_rows > 0
            && (force
                || new_rows >= self.settings.every_rows
                || self.last_signed.elapsed() >= self.settings.every);
        if !due {
            return Ok(None);
        }
        let checkpoint = self
            .key
            .sign(head.seq, &head.hash, &time::to_rfc3339(time::now()));
        self.last_signed = Instant::now();
        Ok(self
            .store
            .record_checkpoint(&checkpoint)
            .await?
            .then_some(checkpoint))
    }

    /// Appends the checkpoints the export file does not have yet (one a
    /// failed write missed included), each line flushed to disk.
    async fn export(&mut self) -> Result<()> {
        let Some(path) = self.settings.export_to.clone() else {
            return Ok(());
        };
        let through = match self.exported_through {
            Some(seq) => seq,
            None => newest_exported(&path)?,
        };
        let missing = self.store.checkpoints_after(through, 10_000).await?;
        if let Some(last) = missing.last() {
            append_lines(&path, &missing)?;
            self.exported_through = Some(last.seq);
        } else {
            self.exported_through = Some(through);
        }
        Ok(())
    }
}

/// The newest checkpoint an export file holds (0: none, or no file).
fn newest_exported(path: &Path) -> Result<i64> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(parse_checkpoints(&text)
            .map_err(|e| std::io::Error::other(format!("{}: {e}", path.display())))?
            .iter()
            .map(|c| c.seq)
            .max()
            .unwrap_or(0)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(e.into()),
    }
}

fn append_lines(path: &Path, checkpoints: &[Checkpoint]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)?;
    let mut text = String::new();
    for checkpoint in checkpoints {
        text.push_str(&checkpoint.to_json_line());
        text.push('\n');
    }
    file.write_all(text.as_bytes())?;
    file.sync_all()
}
