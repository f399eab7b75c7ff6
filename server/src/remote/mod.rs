//! `slipway remote …`: drives a Slipway from CI over its JSON API, with
//! `SLIPWAY_URL` and `SLIPWAY_TOKEN`. A deploy streams the job's log while
//! it runs and exits non-zero unless the job succeeds.

mod client;
mod events;

use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde_json::Value;

pub use client::{Client, RemoteError, Started};

#[derive(Args)]
pub struct RemoteArgs {
    /// The Slipway to talk to, e.g. https://slipway.example.com
    #[arg(long, env = "SLIPWAY_URL")]
    url: String,
    /// An API token (the Tokens page, or `slipway create-token`).
    #[arg(long, env = "SLIPWAY_TOKEN", hide_env_values = true)]
    token: String,
    #[command(subcommand)]
    command: RemoteCommand,
}

#[derive(Subcommand)]
enum RemoteCommand {
    /// Deploy a build to `<app>/<env>`; streams the log and waits for the job.
    Deploy {
        environment: String,
        /// The build's id (as `POST /api/builds` answered).
        #[arg(long)]
        build: i64,
        /// Print the job id and return at once.
        #[arg(long)]
        no_wait: bool,
    },
    /// Roll `<app>/<env>` back to an earlier release; streams and waits.
    Rollback {
        environment: String,
        /// The release's id (from the release history).
        #[arg(long)]
        release: i64,
        #[arg(long)]
        no_wait: bool,
    },
    /// Follow a job's log until it ends; exits non-zero unless it succeeded.
    Wait { job: i64 },
    /// Approve a deploy request awaiting approval.
    Approve {
        request: i64,
        #[arg(long, default_value = "")]
        comment: String,
    },
    /// Reject a deploy request awaiting approval, saying why.
    Reject {
        request: i64,
        #[arg(long)]
        comment: String,
    },
    /// What is live on each environment (of one application, if named), and any lock.
    Status { application: Option<String> },
}

/// Runs the command; the exit code says whether the job (if any) succeeded.
pub async fn run(args: RemoteArgs) -> Result<ExitCode, RemoteError> {
    let client = Client::new(&args.url, &args.token)?;
    match args.command {
        RemoteCommand::Deploy {
            environment,
            build,
            no_wait,
        } => {
            let (app, env) = split_environment(&environment)?;
            let started = client
                .start_job(app, env, "deploy", serde_json::json!({ "build_id": build }))
                .await?;
            follow_unless(&client, started, no_wait).await
        }
        RemoteCommand::Rollback {
            environment,
            release,
            no_wait,
        } => {
            let (app, env) = split_environment(&environment)?;
            let started = client
                .start_job(
                    app,
                    env,
                    "rollback",
                    serde_json::json!({ "release_id": release }),
                )
                .await?;
            follow_unless(&client, started, no_wait).await
        }
        RemoteCommand::Wait { job } => follow(&client, job).await,
        RemoteCommand::Approve { request, comment } => {
            answer(&client, request, true, &comment).await
        }
        RemoteCommand::Reject { request, comment } => {
            answer(&client, request, false, &comment).await
        }
        RemoteCommand::Status { application } => {
            let apps = client.applications().await?;
            let lines = status_lines(&apps, application.as_deref());
            if let (Some(name), true) = (&application, lines.is_empty()) {
                return Err(RemoteError::Usage(format!(
                    "no application {name:?} with environments on this Slipway"
                )));
            }
            for line in lines {
                println!("{line}");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn follow_unless(
    client: &Client,
    started: Started,
    no_wait: bool,
) -> Result<ExitCode, RemoteError> {
    let job = match started {
        Started::Job(job) => job,
        Started::Request(id) if no_wait => {
            println!("request #{id} waits");
            return Ok(ExitCode::SUCCESS);
        }
        Started::Request(id) => match wait_for_request(client, id).await? {
            Some(job) => job,
            None => return Ok(ExitCode::FAILURE),
        },
    };
    println!("job #{job} queued");
    if no_wait {
        return Ok(ExitCode::SUCCESS);
    }
    follow(client, job).await
}

/// Follows a request until it starts (its job) or ends otherwise (`None`),
/// printing what it waits for whenever that changes.
async fn wait_for_request(client: &Client, id: i64) -> Result<Option<i64>, RemoteError> {
    let mut said = String::new();
    loop {
        let request = client.request(id).await?;
        let state = request["state"].as_str().unwrap_or_default();
        let line = request_line(id, &request);
        if line != said {
            println!("{line}");
            said = line;
        }
        match state {
            "started" => return Ok(request["job_id"].as_i64()),
            "awaiting_approval" | "waiting" => {}
            _ => return Ok(None),
        }
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    }
}

async fn answer(
    client: &Client,
    id: i64,
    approve: bool,
    comment: &str,
) -> Result<ExitCode, RemoteError> {
    let request = client.answer(id, approve, comment).await?;
    println!("{}", request_line(id, &request));
    Ok(ExitCode::SUCCESS)
}

/// `request #12: awaiting approval: 1 more of user:dora` — its note says
/// what it waits for or how it ended; its state where there is none.
fn request_line(id: i64, request: &Value) -> String {
    match request["note"].as_str().filter(|note| !note.is_empty()) {
        Some(note) => format!("request #{id}: {note}"),
        None => format!(
            "request #{id} {}",
            request["state"]
                .as_str()
                .unwrap_or_default()
                .replace('_', " ")
        ),
    }
}

/// Streams the job's log to stdout, then reports its final state.
async fn follow(client: &Client, job: i64) -> Result<ExitCode, RemoteError> {
    client.stream_log(job, |line| println!("{line}")).await?;
    let (state, error) = client.job_state(job).await?;
    match error {
        Some(error) => println!("job #{job} {state}: {error}"),
        None => println!("job #{job} {state}"),
    }
    Ok(if state == "succeeded" {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn split_environment(raw: &str) -> Result<(&str, &str), RemoteError> {
    match raw.split_once('/') {
        Some((app, env)) if !app.is_empty() && !env.is_empty() && !env.contains('/') => {
            Ok((app, env))
        }
        _ => Err(RemoteError::Usage(format!(
            "{raw:?}: name the environment as <application>/<environment>, e.g. shop/production"
        ))),
    }
}

/// One line per environment: `app/env  live <sha> (release #id)  locked by … : reason`.
fn status_lines(apps: &Value, only: Option<&str>) -> Vec<String> {
    let mut lines = Vec::new();
    for app in apps.as_array().into_iter().flatten() {
        let name = app["name"].as_str().unwrap_or_default();
        if only.is_some_and(|only| only != name) {
            continue;
        }
        for env in app["environments"].as_array().into_iter().flatten() {
            let live = match env["live"]["commit_sha"].as_str() {
                Some(sha) => format!(
                    "live {} (release #{})",
                    sha.get(..12).unwrap_or(sha),
                    env["live"]["id"]
                ),
                None => "nothing live".to_owned(),
            };
            let lock = match env["lock"]["reason"].as_str() {
                Some(reason) => format!(
                    "  locked by {}: {reason}",
                    env["lock"]["locked_by"].as_str().unwrap_or("?")
                ),
                None => String::new(),
            };
            let last = match (
                env["last_job"]["id"].as_i64(),
                env["last_job"]["state"].as_str(),
            ) {
                (Some(id), Some(state)) => format!("  last job #{id} {state}"),
                _ => String::new(),
            };
            lines.push(format!(
                "{name}/{}  {live}{last}{lock}",
                env["name"].as_str().unwrap_or_default()
            ));
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_environment_is_named_application_slash_environment() {
        assert_eq!(split_environment("shop/prod").unwrap(), ("shop", "prod"));
        for bad in ["shop", "/prod", "shop/", "a/b/c"] {
            assert!(split_environment(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn status_names_what_is_live_and_any_lock() {
        let apps = serde_json::json!([{
            "name": "shop",
            "environments": [
                {"name": "prod", "live": {"id": 7, "commit_sha": "0123456789abcdef"},
                 "lock": {"reason": "migration", "locked_by": "ana"},
                 "last_job": {"id": 9, "state": "succeeded"}},
                {"name": "qa", "live": null, "lock": null, "last_job": null}
            ]
        }]);
        assert_eq!(
            status_lines(&apps, None),
            vec![
                "shop/prod  live 0123456789ab (release #7)  last job #9 succeeded  locked by ana: migration",
                "shop/qa  nothing live",
            ]
        );
        assert!(status_lines(&apps, Some("other")).is_empty());
    }
}
