//! `slipway audit …`: verify the chain (against signed checkpoints kept
//! outside the database), print the public key, sign a checkpoint now.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use engine::audit::{parse_checkpoints, AuditPublicKey, Checkpoint, CheckpointMatcher};
use engine::jobs::CheckpointSettings;
use engine::Engine;

use crate::config::StoreConfig;

#[derive(Subcommand)]
pub enum AuditCommand {
    /// Walk the hash chain and compare it with the signed checkpoints;
    /// exit 2 naming the first row that does not match.
    Verify {
        /// The public key checkpoints must be signed by (as `slipway audit
        /// public-key` printed it); default: this Slipway's signing key's.
        #[arg(long)]
        public_key: Option<String>,
        /// Checkpoints (JSON lines, e.g. a copy of the export file); default:
        /// the export file, or the database's copies when there is none.
        #[arg(long)]
        checkpoints: Option<PathBuf>,
    },
    /// Print the public key that verifies this Slipway's checkpoints.
    PublicKey,
    /// Sign a checkpoint of the chain's head now and append it to the export file.
    Checkpoint,
}

pub async fn run(
    engine: &Engine,
    store: &StoreConfig,
    command: AuditCommand,
) -> anyhow::Result<ExitCode> {
    match command {
        AuditCommand::PublicKey => {
            println!("{}", store.load_audit_signing_key()?.public_key());
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Checkpoint => {
            let mut checkpointer = engine.checkpointer(
                store.load_audit_signing_key()?,
                CheckpointSettings {
                    export_to: Some(store.audit_checkpoints_path()),
                    ..Default::default()
                },
            );
            match checkpointer.checkpoint(true).await? {
                Some(c) => println!(
                    "signed a checkpoint of row {} ({}) at {}",
                    c.seq, c.hash, c.ts
                ),
                None => println!("the newest checkpoint covers the whole log already"),
            }
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Verify {
            public_key,
            checkpoints,
        } => verify(engine, store, public_key, checkpoints).await,
    }
}

async fn verify(
    engine: &Engine,
    store: &StoreConfig,
    public_key: Option<String>,
    checkpoints_file: Option<PathBuf>,
) -> anyhow::Result<ExitCode> {
    let key = match public_key {
        Some(text) => Some(AuditPublicKey::from_hex(&text)?),
        None => store.existing_audit_signing_key()?.map(|k| k.public_key()),
    };
    let Some(key) = key else {
        let head = match engine.verify_audit().await? {
            Ok(head) => head,
            Err(broken) => return Ok(broken_at(broken.seq, &broken.reason)),
        };
        println!(
            "audit log OK: {} rows, hash chain intact; head {}",
            head.rows, head.hash
        );
        println!("no signing key and no --public-key: not compared with signed checkpoints (rows deleted from the end would leave a shorter valid chain)");
        return Ok(ExitCode::SUCCESS);
    };
    let (checkpoints, source) = load_checkpoints(engine, store, checkpoints_file).await?;
    let matcher = match CheckpointMatcher::new(checkpoints, &key) {
        Ok(matcher) => matcher,
        Err(e) => {
            eprintln!("audit checkpoints BROKEN: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    let (head, summary) = match engine.verify_audit_against(Some(matcher)).await? {
        Ok((head, Some(summary))) => (head, summary),
        Ok((head, None)) => (head, Default::default()),
        Err(broken) => return Ok(broken_at(broken.seq, &broken.reason)),
    };
    println!(
        "audit log OK: {} rows, hash chain intact; head {}",
        head.rows, head.hash
    );
    match summary.newest {
        Some((seq, ts)) => {
            println!(
                "matches {} checkpoints signed by {key} ({source}); the newest covers row {seq}, signed at {ts}",
                summary.matched
            );
            if seq < head.rows {
                println!(
                    "rows {} to {} are newer than the newest checkpoint",
                    seq + 1,
                    head.rows
                );
            }
        }
        None => println!("no signed checkpoints yet ({source})"),
    }
    Ok(ExitCode::SUCCESS)
}

fn broken_at(seq: i64, reason: &str) -> ExitCode {
    eprintln!("audit log BROKEN at row {seq}: {reason}");
    ExitCode::from(2)
}

/// From the file named, else the export file, else the database's copies.
async fn load_checkpoints(
    engine: &Engine,
    store: &StoreConfig,
    file: Option<PathBuf>,
) -> anyhow::Result<(Vec<Checkpoint>, String)> {
    let file = file.or_else(|| Some(store.audit_checkpoints_path()).filter(|p| p.exists()));
    if let Some(path) = file {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let checkpoints = parse_checkpoints(&text).with_context(|| path.display().to_string())?;
        return Ok((checkpoints, format!("from {}", path.display())));
    }
    let checkpoints = engine.store().checkpoints_after(0, i64::MAX).await?;
    Ok((
        checkpoints,
        "from the database's own copies: keep the export file elsewhere to catch a rewrite of both"
            .to_owned(),
    ))
}
