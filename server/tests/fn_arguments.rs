//! Every server function, read from the app's source, called by the real
//! server with missing and with malformed arguments: each answers 400 (or
//! another 4xx from the engine) with a message naming what is wrong, and
//! nothing changes.

mod common;

use std::path::Path;

use common::{count, snapshot, TestServer};
use reqwest::StatusCode;

/// A server function's name and its arguments as the form posts them.
#[derive(Debug)]
struct ServerFn {
    endpoint: String,
    args: Vec<Arg>,
}

#[derive(Debug)]
struct Arg {
    name: String,
    /// `Option<_>`: a form may leave it out.
    optional: bool,
    /// `#[server(flatten)]`: its fields post under their own names.
    flattened: bool,
}

impl ServerFn {
    fn first_required(&self) -> Option<&Arg> {
        self.args.iter().find(|a| !a.optional && !a.flattened)
    }
}

/// `#[server(... endpoint = "x")] pub async fn x(a: T, ...)`, from every file
/// under `app/src/functions`.
fn server_functions() -> Vec<ServerFn> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../app/src/functions");
    let mut found = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("app/src/functions") {
        let path = entry.expect("an entry").path();
        if !path.is_file() {
            continue; // convert/: helpers, no server functions
        }
        let source = std::fs::read_to_string(path).expect("readable");
        for (start, _) in source.match_indices("#[server(") {
            let rest = &source[start..];
            let endpoint = rest
                .split_once("endpoint = \"")
                .and_then(|(_, tail)| tail.split_once('"'))
                .map(|(name, _)| name.to_owned())
                .expect("every server function names its endpoint");
            let signature = rest
                .split_once("pub async fn ")
                .and_then(|(_, tail)| tail.split_once('('))
                .and_then(|(_, tail)| tail.split_once(") ->"))
                .map(|(args, _)| args)
                .expect("a server function's signature");
            found.push(ServerFn {
                endpoint,
                args: parse_args(signature),
            });
        }
    }
    found.sort_by(|a, b| a.endpoint.cmp(&b.endpoint));
    found
}

fn parse_args(signature: &str) -> Vec<Arg> {
    let without_comments: String = signature
        .lines()
        .map(|line| line.split("//").next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join(" ");
    without_comments
        .split(',')
        .map(str::trim)
        .filter(|arg| !arg.is_empty())
        .map(|arg| {
            let flattened = arg.starts_with("#[server(flatten)]");
            let arg = arg.trim_start_matches("#[server(flatten)]").trim();
            let (name, ty) = arg.split_once(':').expect("name: Type");
            Arg {
                name: name.trim().to_owned(),
                optional: ty.trim().starts_with("Option<"),
                flattened,
            }
        })
        .collect()
}

/// Row counts of everything an argument error must not touch.
async fn state(db: &engine::store::Pool) -> (common::Snapshot, Vec<i64>) {
    let mut counts = Vec::new();
    for table in [
        "applications",
        "environments",
        "env_vars",
        "users",
        "api_tokens",
    ] {
        counts.push(count(db, &format!("SELECT COUNT(*) FROM {table}")).await);
    }
    (snapshot(db).await, counts)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_server_function_answers_400_naming_a_missing_or_malformed_argument() {
    let functions = server_functions();
    assert!(functions.len() > 25, "found only {functions:?}");
    let server = TestServer::start().await;
    let admin = server.login().await;
    let db = server.db().await;
    let before = state(&db).await;

    let mut needing_arguments = 0;
    for function in &functions {
        // Nothing sent: the first argument it needs is named.
        let Some(first) = function.first_required() else {
            continue;
        };
        needing_arguments += 1;
        let reply = server.call_fn(&function.endpoint, &admin, &[]).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{}: {}",
            function.endpoint,
            reply.text
        );
        assert!(
            reply.text.starts_with("ServerError|bad request: ")
                && reply.text.contains(&format!("`{}`", first.name)),
            "{} with no arguments: {}",
            function.endpoint,
            reply.text
        );
    }

    assert!(needing_arguments > 20, "{functions:?}");

    for function in &functions {
        // Everything sent, none of it sensible: a client error, never a 500.
        let mut form: Vec<(&str, &str)> = Vec::new();
        for arg in &function.args {
            if arg.flattened {
                form.extend([("name", "not a value!"), ("backend", "not a value!")]);
            } else {
                form.push((&arg.name, "not a value!"));
            }
        }
        let reply = server.call_fn(&function.endpoint, &admin, &form).await;
        if function.args.iter().all(|a| a.optional) {
            // Nothing it needs (the header's user, the providers, …): it answers.
            assert!(
                reply.status.is_success() || reply.status.is_client_error(),
                "{}: {} {}",
                function.endpoint,
                reply.status,
                reply.text
            );
        } else {
            assert!(
                reply.status.is_client_error(),
                "{} with garbage: {} {}",
                function.endpoint,
                reply.status,
                reply.text
            );
            assert!(
                reply.text.starts_with("ServerError|") && reply.text.len() > 20,
                "{}: {}",
                function.endpoint,
                reply.text
            );
        }
    }

    // A number that is not one names its argument (it used to read
    // "Args|invalid digit found in string").
    let reply = server.call_fn("get_job", &admin, &[("id", "7x")]).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text);
    assert!(
        reply
            .text
            .contains("id: expected a whole number, got \"7x\""),
        "{}",
        reply.text
    );

    assert_eq!(
        state(&db).await,
        before,
        "an argument error changed something"
    );
}
