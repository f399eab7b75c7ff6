//! Configuration: command-line flags with environment-variable fallbacks.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;
use engine::audit::AuditSigningKey;
use engine::secrets::SecretKey;
use engine::webhooks::WebhookSecret;

/// Checked as the flags are read, before anything starts.
pub fn parse_webhook_secret(raw: &str) -> Result<WebhookSecret, String> {
    WebhookSecret::new(raw).map_err(|e| e.to_string())
}

#[derive(Args, Clone, Debug)]
pub struct ServeConfig {
    /// Address to serve on.
    #[arg(long, env = "LEPTOS_SITE_ADDR", default_value = "127.0.0.1:3000")]
    pub addr: SocketAddr,
    /// Directory holding the built site (`pkg/slipway.js`, `.wasm`, `.css`).
    #[arg(long, env = "LEPTOS_SITE_ROOT", default_value = "target/site")]
    pub site_root: PathBuf,
    /// The URL people reach Slipway at (used in login links). Defaults to http://<addr>.
    #[arg(long, env = "SLIPWAY_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Identity providers (TOML). `SLIPWAY_OIDC_*`, `SLIPWAY_GITLAB_*` and
    /// `SLIPWAY_GITHUB_*` variables add providers too (see the README).
    #[arg(long, env = "SLIPWAY_AUTH_CONFIG")]
    pub auth_config: Option<PathBuf>,
    /// The secret each application's webhook secret is derived from
    /// (`slipway webhook-secret <app>` prints one), 16-256 characters;
    /// unset: `/hooks/...` answers 404.
    #[arg(long, env = "SLIPWAY_WEBHOOK_SECRET", hide_env_values = true, value_parser = parse_webhook_secret)]
    pub webhook_secret: Option<WebhookSecret>,
    /// Seed a demo application, environment and builds on first run.
    #[arg(long, env = "SLIPWAY_DEMO")]
    pub demo: bool,
    /// With the demo, also a sample application (`storefront`) with twelve
    /// weeks of release history, so the timeline and the DORA charts show
    /// something on a first run.
    #[arg(long, env = "SLIPWAY_DEMO_HISTORY")]
    pub demo_history: bool,
    /// Seconds before a failed notification is tried again (each later
    /// retry waits four times longer, up to an hour; six attempts in all).
    #[arg(long, env = "SLIPWAY_NOTIFY_FIRST_RETRY_SECS", default_value_t = 10.0)]
    pub notify_first_retry_secs: f64,
    /// Sign an audit checkpoint once this many rows are newer than the last one…
    #[arg(long, env = "SLIPWAY_AUDIT_CHECKPOINT_ROWS", default_value_t = 1000, value_parser = clap::value_parser!(i64).range(1..))]
    pub audit_checkpoint_rows: i64,
    /// …and at least this often (minutes) while rows arrive.
    #[arg(long, env = "SLIPWAY_AUDIT_CHECKPOINT_MINUTES", default_value_t = 10.0)]
    pub audit_checkpoint_minutes: f64,
}

#[derive(Args, Clone, Debug)]
pub struct StoreConfig {
    /// Data directory (the default database, demo targets and artifacts live here).
    #[arg(long, env = "SLIPWAY_DATA_DIR", default_value = "data", global = true)]
    pub data_dir: PathBuf,
    /// Database URL; defaults to an SQLite file in the data directory.
    #[arg(long, env = "DATABASE_URL", global = true)]
    pub database_url: Option<String>,
    /// Directories local artifacts may be read from, ':'-separated.
    /// Defaults to <data dir>/artifacts.
    #[arg(
        long,
        env = "SLIPWAY_ARTIFACT_ROOTS",
        value_delimiter = ':',
        global = true
    )]
    pub artifact_roots: Vec<PathBuf>,
    /// The key secret variables are sealed with, 64 hex digits; default:
    /// `<data dir>/secret.key`, made (mode 0600) at first start.
    #[arg(
        long,
        env = "SLIPWAY_SECRET_KEY",
        hide_env_values = true,
        global = true
    )]
    pub secret_key: Option<String>,
    /// The ed25519 key that signs audit checkpoints, 64 hex digits;
    /// default: `<data dir>/audit-signing.key`, made (mode 0600) at first start.
    #[arg(
        long,
        env = "SLIPWAY_AUDIT_SIGNING_KEY",
        hide_env_values = true,
        global = true
    )]
    pub audit_signing_key: Option<String>,
    /// The file signed audit checkpoints are appended to (JSON lines);
    /// default: `<data dir>/audit-checkpoints.jsonl`. Keep a copy off this
    /// machine: it is what shows a rewritten or truncated audit log.
    #[arg(long, env = "SLIPWAY_AUDIT_CHECKPOINTS", global = true)]
    pub audit_checkpoints: Option<PathBuf>,
}

impl StoreConfig {
    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("slipway.db").display()))
    }

    pub fn default_artifact_root(&self) -> PathBuf {
        self.data_dir.join("artifacts")
    }

    pub fn artifact_roots(&self) -> Vec<PathBuf> {
        if self.artifact_roots.is_empty() {
            vec![self.default_artifact_root()]
        } else {
            self.artifact_roots.clone()
        }
    }

    pub fn engine_settings(&self, secret_key: SecretKey) -> engine::EngineSettings {
        engine::EngineSettings {
            database_url: self.database_url(),
            artifact_roots: self.artifact_roots(),
            package_root: self.data_dir.join("repo"),
            state_dir: self.data_dir.clone(),
            secret_key,
        }
    }

    /// Where the secret key is kept, unless `SLIPWAY_SECRET_KEY` gives it.
    pub fn secret_key_path(&self) -> PathBuf {
        self.data_dir.join("secret.key")
    }

    /// Where a key rotation writes the new key until it has committed.
    pub fn pending_secret_key_path(&self) -> PathBuf {
        self.data_dir.join("secret.key.new")
    }

    /// The key from `SLIPWAY_SECRET_KEY`, or the key file (made at first
    /// start, with the data directory, for their owner only).
    pub fn load_secret_key(&self) -> anyhow::Result<SecretKey> {
        use anyhow::Context;
        if let Some(hex_key) = &self.secret_key {
            return SecretKey::from_hex(hex_key).context("SLIPWAY_SECRET_KEY");
        }
        self.create_data_dir()?;
        SecretKey::load_or_create(&self.secret_key_path()).context("the secret key")
    }

    /// The key from `SLIPWAY_AUDIT_SIGNING_KEY`, or the key file (made at first start).
    pub fn load_audit_signing_key(&self) -> anyhow::Result<AuditSigningKey> {
        use anyhow::Context;
        if let Some(hex_key) = &self.audit_signing_key {
            return AuditSigningKey::from_hex(hex_key).context("SLIPWAY_AUDIT_SIGNING_KEY");
        }
        self.create_data_dir()?;
        AuditSigningKey::load_or_create(&self.audit_signing_key_path())
            .context("the audit signing key")
    }

    /// The signing key if there is one (never made here).
    pub fn existing_audit_signing_key(&self) -> anyhow::Result<Option<AuditSigningKey>> {
        use anyhow::Context;
        if let Some(hex_key) = &self.audit_signing_key {
            return AuditSigningKey::from_hex(hex_key)
                .map(Some)
                .context("SLIPWAY_AUDIT_SIGNING_KEY");
        }
        AuditSigningKey::load(&self.audit_signing_key_path()).context("the audit signing key")
    }

    pub fn audit_signing_key_path(&self) -> PathBuf {
        self.data_dir.join("audit-signing.key")
    }

    pub fn audit_checkpoints_path(&self) -> PathBuf {
        self.audit_checkpoints
            .clone()
            .unwrap_or_else(|| self.data_dir.join("audit-checkpoints.jsonl"))
    }

    /// The data directory, made if missing; readable by its owner only.
    pub fn create_data_dir(&self) -> anyhow::Result<()> {
        use anyhow::Context;
        use std::os::unix::fs::PermissionsExt;
        std::fs::create_dir_all(&self.data_dir)
            .with_context(|| format!("creating {}", self.data_dir.display()))?;
        std::fs::set_permissions(&self.data_dir, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("restricting {}", self.data_dir.display()))
    }
}

impl ServeConfig {
    pub fn public_url(&self) -> String {
        self.public_url
            .clone()
            .map(|u| u.trim_end_matches('/').to_owned())
            .unwrap_or_else(|| format!("http://{}", self.addr))
    }
}

/// `scheme://host[:port]` of a URL (what a browser sends as `Origin`).
pub fn origin_of(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(parsed) => parsed.origin().ascii_serialization(),
        Err(_) => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::origin_of;

    #[test]
    fn the_origin_of_a_public_url_is_its_scheme_and_authority() {
        assert_eq!(
            origin_of("https://Deploy.example.com/slipway/"),
            "https://deploy.example.com"
        );
        assert_eq!(origin_of("http://127.0.0.1:3000"), "http://127.0.0.1:3000");
        assert_eq!(origin_of("http://10.0.0.5:8080?x"), "http://10.0.0.5:8080");
    }
}
