//! `slipway`: the server binary and its admin commands.

mod access;
mod audit_cli;
mod bootstrap;
mod config;
mod error;
mod identity;
mod listener;
mod memory;
mod remote;
mod routes;
mod state;
mod telemetry;

use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use engine::domain::Role;
use engine::jobs::RunnerSettings;
use engine::store::Pool;
use engine::Engine;
use leptos::config::LeptosOptions;
use tokio::sync::watch;
use tower_sessions::session_store::ExpiredDeletion;
use tower_sessions_sqlx_store::{PostgresStore, SqliteStore};

use config::{ServeConfig, StoreConfig};

#[derive(Parser)]
#[command(name = "slipway", version, about = "The deploy button teams trust")]
struct Cli {
    #[command(flatten)]
    store: StoreConfig,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the dashboard, the API and run jobs (the default).
    Serve(ServeConfig),
    /// Apply database migrations and exit.
    Migrate,
    /// Audit log commands.
    Audit {
        #[command(subcommand)]
        command: audit_cli::AuditCommand,
    },
    /// Print a one-time login link for a user (break-glass; audited).
    LoginLink {
        login: String,
        #[arg(
            long,
            env = "SLIPWAY_PUBLIC_URL",
            default_value = "http://127.0.0.1:3000"
        )]
        public_url: String,
    },
    /// Create a user.
    CreateUser {
        login: String,
        #[arg(long, default_value = "deployer", value_parser = parse_role)]
        role: Role,
    },
    /// Create an API token for a user; the token is printed once.
    CreateToken {
        login: String,
        #[arg(long)]
        name: String,
        /// Comma-separated: read, builds:write, deploy.
        #[arg(
            long,
            default_value = "read,builds:write,deploy",
            value_delimiter = ','
        )]
        scopes: Vec<String>,
        /// Expire after this many days (default: never).
        #[arg(long)]
        valid_for_days: Option<u32>,
        /// Limit it to these applications and environments, e.g.
        /// "shop,billing/staging" (default: wherever the user may act).
        #[arg(long, default_value = "")]
        limited_to: String,
    },
    /// Change a user's role (audited).
    SetRole {
        login: String,
        #[arg(value_parser = parse_role)]
        role: Role,
    },
    /// Print the secret of an application's push webhooks, for the
    /// repository's webhook settings (derived from SLIPWAY_WEBHOOK_SECRET).
    WebhookSecret {
        app: String,
        #[arg(long, env = "SLIPWAY_WEBHOOK_SECRET", hide_env_values = true, value_parser = config::parse_webhook_secret)]
        secret: engine::webhooks::WebhookSecret,
    },
    /// Seal every secret variable again under a new key, in one
    /// transaction, and keep the new key (the key file, or printed when
    /// SLIPWAY_SECRET_KEY gives the key).
    RotateSecretKey,
    /// List every route with its access rule (JSON lines).
    Routes,
    /// Drive a Slipway over its API (from CI): deploy, rollback, wait, status.
    Remote(remote::RemoteArgs),
}

/// `slipway` with no subcommand serves with flags from the environment.
#[derive(Parser)]
struct DefaultServe {
    #[command(flatten)]
    config: ServeConfig,
}

fn parse_role(raw: &str) -> Result<Role, String> {
    Role::parse(raw).ok_or_else(|| format!("unknown role {raw:?} (viewer, deployer, admin)"))
}

#[tokio::main]
async fn main() -> anyhow::Result<ExitCode> {
    telemetry::init();
    let cli = Cli::parse();
    let command = cli
        .command
        .unwrap_or_else(|| Command::Serve(DefaultServe::parse_from(["slipway"]).config));
    if let Command::Remote(args) = command {
        // A client of another Slipway: no database of its own.
        return Ok(remote::run(args).await.unwrap_or_else(|e| {
            eprintln!("slipway remote: {e}");
            ExitCode::FAILURE
        }));
    }
    run(cli.store, command).await
}

/// Serves, or runs an admin command on this Slipway's own database.
async fn run(store: StoreConfig, command: Command) -> anyhow::Result<ExitCode> {
    if let Command::Routes = command {
        for entry in routes::route_table() {
            println!("{}", serde_json::to_string(&entry)?);
        }
        return Ok(ExitCode::SUCCESS);
    }
    bootstrap::settle_key_rotation(&store).await?;
    let secret_key = store.load_secret_key()?;
    let engine = Engine::open(&store.engine_settings(secret_key))
        .await
        .with_context(|| format!("opening the database {}", store.database_url()))?;
    bootstrap::restrict_database_files(&store);
    if !engine.store().secrets_open().await? {
        tracing::error!(
            "secret variables do not open with this secret key (another key sealed them): \
             jobs of their environments fail until that key is back (secret.key or SLIPWAY_SECRET_KEY) or they are set again"
        );
    }
    if let Command::Audit { command } = command {
        return audit_cli::run(&engine, &store, command).await;
    }
    match command {
        Command::RotateSecretKey => bootstrap::rotate_secret_key(&engine, &store).await,
        Command::Serve(serve_config) => serve(engine, store, serve_config).await,
        Command::Migrate => {
            println!("database is up to date");
            Ok(())
        }
        Command::LoginLink { login, public_url } => {
            let link = bootstrap::login_link(&engine, "cli", &login, &public_url).await?;
            println!("{link}");
            Ok(())
        }
        Command::CreateUser { login, role } => {
            let login = engine::domain::Login::parse(&login)?;
            let user = engine
                .store()
                .create_user("cli", login.as_str(), login.as_str(), role)
                .await?;
            println!("created {} ({})", user.login, user.role.as_str());
            Ok(())
        }
        Command::CreateToken {
            login,
            name,
            scopes,
            valid_for_days,
            limited_to,
        } => {
            let user = engine
                .store()
                .user_by_login(&login)
                .await?
                .with_context(|| format!("no user {login:?}"))?;
            let (_, token) = engine
                .create_api_token(
                    &engine::auth::Actor::session(&user),
                    &engine::TokenRequest {
                        name,
                        scopes,
                        valid_for_days,
                        limited_to,
                    },
                )
                .await?;
            println!("{token}");
            Ok(())
        }
        Command::SetRole { login, role } => {
            let user = engine.store().set_role("cli", &login, role).await?;
            println!("{} is now {}", user.login, user.role.as_str());
            Ok(())
        }
        Command::WebhookSecret { app, secret } => {
            let app = engine::domain::AppName::parse(&app)?;
            engine.store().application(&app).await?;
            println!("{}", secret.for_application(&app).reveal());
            Ok(())
        }
        // Answered before the database is opened, or above.
        Command::Routes | Command::Remote(_) | Command::Audit { .. } => Ok(()),
    }
    .map(|()| ExitCode::SUCCESS)
}

/// Serves with sessions kept in the same database as everything else, so
/// any replica can answer any request.
async fn serve(engine: Engine, store: StoreConfig, config: ServeConfig) -> anyhow::Result<()> {
    match engine.store().pool().clone() {
        Pool::Sqlite(pool) => {
            let sessions = SqliteStore::new(pool);
            sessions
                .migrate()
                .await
                .context("creating the session table")?;
            serve_with(engine, store, config, sessions).await
        }
        Pool::Postgres(pool) => {
            let sessions = PostgresStore::new(pool);
            sessions
                .migrate()
                .await
                .context("creating the session table")?;
            serve_with(engine, store, config, sessions).await
        }
    }
}

async fn serve_with<S>(
    engine: Engine,
    store: StoreConfig,
    config: ServeConfig,
    sessions: S,
) -> anyhow::Result<()>
where
    S: ExpiredDeletion + Clone,
{
    // Sessions past their expiry are refused by the store; this removes their rows.
    let sweeper = tokio::spawn(
        sessions
            .clone()
            .continuously_delete_expired(std::time::Duration::from_secs(3600)),
    );

    if let Some(link) = bootstrap::first_admin_link(&engine, &config.public_url()).await? {
        // Printed, never logged: it is a secret meant for the person at the terminal.
        println!("\n  First login (one-time link for the first admin, valid 24 h):\n  {link}\n");
    }
    if config.demo {
        bootstrap::seed_demo(&engine, &store).await?;
        if config.demo_history {
            bootstrap::seed_demo_history(&engine, &store).await?;
        }
    }

    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let runner = engine.job_runner(RunnerSettings::default());
    let runner_task = tokio::spawn(runner.run(shutdown_rx.clone()));
    let relay = engine.event_relay(engine::jobs::RelaySettings::default());
    let relay_task = tokio::spawn(relay.run(shutdown_rx.clone()));
    let notifier = engine
        .notifier(engine::jobs::NotifierSettings {
            first_retry: std::time::Duration::try_from_secs_f64(config.notify_first_retry_secs)
                .context("SLIPWAY_NOTIFY_FIRST_RETRY_SECS: a number of seconds")?,
            public_url: Some(config.public_url()),
            ..Default::default()
        })
        .context("starting the notification sender")?;
    let notifier_task = tokio::spawn(notifier.run(shutdown_rx.clone()));
    let signing_key = store.load_audit_signing_key()?;
    tracing::info!(public_key = %signing_key.public_key(), checkpoints = %store.audit_checkpoints_path().display(), "audit checkpoints are signed");
    let checkpointer = engine.checkpointer(
        signing_key,
        engine::jobs::CheckpointSettings {
            every_rows: config.audit_checkpoint_rows,
            every: std::time::Duration::try_from_secs_f64(config.audit_checkpoint_minutes * 60.0)
                .context("SLIPWAY_AUDIT_CHECKPOINT_MINUTES: a number of minutes")?,
            export_to: Some(store.audit_checkpoints_path()),
            ..Default::default()
        },
    );
    let checkpoint_task = tokio::spawn(checkpointer.run(shutdown_rx.clone()));

    let leptos_options = LeptosOptions::builder()
        .output_name(app::OUTPUT_NAME)
        .site_root(config.site_root.display().to_string())
        .site_pkg_dir("pkg")
        .site_addr(config.addr)
        .build();
    let providers = identity::config::load(config.auth_config.as_deref(), |name| {
        std::env::var(name).ok()
    })
    .context("loading identity providers")?;
    for provider in &providers {
        tracing::info!(id = %provider.config.id, kind = ?provider.config.kind, "identity provider configured");
    }
    let state = state::AppState {
        engine,
        leptos_options,
        providers: identity::Providers::new(providers, &config.public_url()),
        secure_cookies: config.public_url().starts_with("https://"),
        public_origin: config::origin_of(&config.public_url()),
        failed_logins: Default::default(),
        refused_webhooks: std::sync::Arc::new(access::throttle::AuditThrottle::new(
            "refused webhooks",
        )),
        webhook_secret: config.webhook_secret.clone(),
        shutdown: shutdown_rx,
    };
    let app = routes::router(state, sessions);

    let listener = listener::bind(config.addr, app.clone())
        .with_context(|| format!("binding {}", config.addr))?;
    tracing::info!(addr = %config.addr, url = %config.public_url(), "Slipway is serving");
    // `into_make_service` resolves the router once; serving the `Router`
    // itself would deep-copy its whole route table for every connection
    // (~400 KiB each, which 2,000 SSE watchers feel).
    axum::serve(listener, app.into_make_service())
        .with_graceful_shutdown(async move {
            shutdown_signal().await;
            tracing::info!("shutting down");
            let _ = shutdown_tx.send(true);
        })
        .await
        .context("serving HTTP")?;
    runner_task.await.context("job runner")?;
    relay_task.await.context("event relay")?;
    notifier_task.await.context("notification sender")?;
    checkpoint_task.await.context("audit checkpointer")?;
    sweeper.abort();
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
