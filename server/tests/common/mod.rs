//! Shared helpers for the integration tests: each test spawns the real
//! `slipway` binary on its own data directory and a free loopback port,
//! talks to it over HTTP on 127.0.0.1 only, and kills it when done.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use engine::store::Pool;
use futures::{Stream, StreamExt};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::StatusCode;
use serde_json::Value;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
use tempfile::TempDir;

/// Safety net for waits on the server; never a performance assertion.
pub const STARTUP_DEADLINE: Duration = Duration::from_secs(180);
/// Safety net for waits on a job.
pub const JOB_DEADLINE: Duration = Duration::from_secs(120);

/// Environment variables of the test process that would change how the
/// spawned binary behaves; the helpers set what they need explicitly.
const SCRUBBED_ENV: &[&str] = &[
    "DATABASE_URL",
    "SLIPWAY_ARTIFACT_ROOTS",
    "SLIPWAY_PUBLIC_URL",
    "SLIPWAY_DEMO",
    "SLIPWAY_DATA_DIR",
    "LEPTOS_SITE_ROOT",
    "LEPTOS_SITE_ADDR",
    "RUST_LOG",
    "SLIPWAY_WEBHOOK_SECRET",
    "SLIPWAY_SECRET_KEY",
    "SLIPWAY_AUDIT_SIGNING_KEY",
    "SLIPWAY_AUDIT_CHECKPOINTS",
];

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("server/ has a parent")
        .to_path_buf()
}

/// The binary under test: `SLIPWAY_BIN` if set (relative paths are taken
/// from the workspace root), else the one Cargo built for this package.
pub fn binary() -> PathBuf {
    match std::env::var_os("SLIPWAY_BIN") {
        Some(p) if !p.is_empty() => {
            let p = PathBuf::from(p);
            if p.is_absolute() {
                p
            } else {
                workspace_root().join(p)
            }
        }
        _ => PathBuf::from(env!("CARGO_BIN_EXE_slipway")),
    }
}

/// The built site (`pkg/…`): `SLIPWAY_SITE_ROOT` or `<workspace>/target/site`.
pub fn site_root() -> PathBuf {
    match std::env::var_os("SLIPWAY_SITE_ROOT") {
        Some(p) if !p.is_empty() => {
            let p = PathBuf::from(p);
            if p.is_absolute() {
                p
            } else {
                workspace_root().join(p)
            }
        }
        _ => workspace_root().join("target").join("site"),
    }
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding 127.0.0.1:0");
    listener.local_addr().expect("local addr").port()
}

/// Runs an admin command of the binary against `data_dir`.
pub fn cli(data_dir: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(binary());
    for var in SCRUBBED_ENV {
        cmd.env_remove(var);
    }
    if let Some(url) = postgres_url_of(data_dir) {
        cmd.env("DATABASE_URL", url);
    }
    cmd.arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("running {} {args:?}: {e}", binary().display()))
}

/// How a request proves who sends it.
#[derive(Clone, Debug)]
pub enum Auth {
    None,
    /// A `Cookie` header value (`slipway_session=…`).
    Cookie(String),
    /// A bearer token.
    Bearer(String),
}

/// A response, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
}

/// Checks that `reply` refused with `status` and a JSON error; the
/// error's message. `what` names the attempt in a failure.
pub fn assert_refused(reply: &Reply, status: StatusCode, what: &str) -> String {
    assert_eq!(
        reply.status, status,
        "{what}: expected {status}, got {} with {}",
        reply.status, reply.text
    );
    let content_type = reply.header("content-type").unwrap_or_default();
    assert!(
        content_type.starts_with("application/json"),
        "{what}: error is not JSON ({content_type:?}): {}",
        reply.text
    );
    reply.error()
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| {
            panic!(
                "expected JSON ({e}), got {} with body {:?}",
                self.status, self.text
            )
        })
    }

    /// The `error` message of an error response; panics if there is none.
    pub fn error(&self) -> String {
        let json = self.json();
        match json.get("error").and_then(Value::as_str) {
            Some(message) if !message.trim().is_empty() => message.to_owned(),
            _ => panic!(
                "expected {{\"error\": \"…\"}}, got {} with body {:?}",
                self.status, self.text
            ),
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// One running `slipway serve --demo` on its own data directory and port.
pub struct TestServer {
    child: Child,
    data: Option<TempDir>,
    data_dir: PathBuf,
    pub addr: SocketAddr,
    pub base_url: String,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<Vec<String>>>,
    client: reqwest::Client,
}

impl TestServer {
    /// A fresh data directory, a free port, the demo seeded; returns once
    /// `/healthz` answers.
    pub async fn start() -> Self {
        let data = tempfile::Builder::new()
            .prefix("slipway-it-")
            .tempdir()
            .expect("creating a temporary data directory");
        Self::start_in(data).await
    }

    /// Serves with these settings (environment variables) besides the usual.
    pub async fn start_with_env(env: &[(&str, &str)]) -> Self {
        let data = tempfile::Builder::new()
            .prefix("slipway-it-")
            .tempdir()
            .expect("creating a temporary data directory");
        Self::start_in_with(data, env).await
    }

    /// Serves from an existing data directory (e.g. after a crash).
    pub async fn start_in(data: TempDir) -> Self {
        Self::start_in_with(data, &[]).await
    }

    async fn start_in_with(data: TempDir, env: &[(&str, &str)]) -> Self {
        let data_dir = data.path().to_path_buf();
        Self::spawn(data_dir, Some(data), env).await
    }

    /// Another replica beside `other`: the same data directory (as a
    /// shared volume would be), these settings (the same `DATABASE_URL`).
    pub async fn start_beside(other: &TestServer, env: &[(&str, &str)]) -> Self {
        Self::spawn(other.data_dir.clone(), None, env).await
    }

    async fn spawn(data_dir: PathBuf, mut data: Option<TempDir>, env: &[(&str, &str)]) -> Self {
        // Under SLIPWAY_TEST_DATABASE=postgres a data directory gets a
        // database of its own on first start, and keeps it across restarts.
        let mut env: Vec<(&str, &str)> = env.to_vec();
        if engine::testing::database::on_postgres()
            && !env.iter().any(|(name, _)| *name == "DATABASE_URL")
            && postgres_url_of(&data_dir).is_none()
        {
            let url = engine::testing::database::fresh_url(&data_dir).await;
            std::fs::write(data_dir.join(DATABASE_URL_FILE), &url).expect("noting the database");
        }
        let url = postgres_url_of(&data_dir);
        if let Some(url) = url.as_deref() {
            env.push(("DATABASE_URL", url));
        }
        let env = env.as_slice();
        let mut last_failure = String::new();
        // Another process may take the free port between our probe and the
        // server's bind: try a few ports before giving up.
        for _ in 0..3 {
            let addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
            let mut cmd = Command::new(binary());
            for var in SCRUBBED_ENV {
                cmd.env_remove(var);
            }
            cmd.envs(env.iter().copied())
                .env("SLIPWAY_DATA_DIR", &data_dir)
                .env("LEPTOS_SITE_ADDR", addr.to_string())
                .args(["serve", "--demo", "--site-root"])
                .arg(site_root())
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            let mut child = cmd
                .spawn()
                .unwrap_or_else(|e| panic!("spawning {}: {e}", binary().display()));
            let stdout = collect_lines(child.stdout.take().expect("piped stdout"));
            let stderr = collect_lines(child.stderr.take().expect("piped stderr"));
            let client = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .no_proxy()
                .timeout(Duration::from_secs(60))
                .build()
                .expect("building the HTTP client");
            let mut server = TestServer {
                child,
                data: None,
                data_dir: data_dir.clone(),
                addr,
                base_url: format!("http://{addr}"),
                stdout,
                stderr,
                client,
            };
            match server.wait_healthy().await {
                Ok(()) => {
                    server.data = data.take();
                    return server;
                }
                Err(failure) => {
                    last_failure = failure;
                    // Dropping `server` kills whatever is left of the child.
                    let port_taken = last_failure.contains("binding")
                        || last_failure.contains("Address already in use");
                    drop(server);
                    if !port_taken {
                        break;
                    }
                }
            }
        }
        panic!("slipway did not start: {last_failure}");
    }

    async fn wait_healthy(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + STARTUP_DEADLINE;
        let url = format!("{}/healthz", self.base_url);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                // Let the reader threads take the last lines.
                std::thread::sleep(Duration::from_millis(200));
                return Err(format!(
                    "exited with {status}\n--- stdout ---\n{}\n--- stderr ---\n{}",
                    self.stdout_text(),
                    self.stderr_text()
                ));
            }
            if let Ok(resp) = self
                .client
                .get(&url)
                .timeout(Duration::from_secs(5))
                .send()
                .await
            {
                if resp.status() == StatusCode::OK {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "/healthz did not answer within {STARTUP_DEADLINE:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
                    self.stdout_text(),
                    self.stderr_text()
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    pub fn stdout_text(&self) -> String {
        self.stdout.lock().unwrap().join("\n")
    }

    pub fn stderr_text(&self) -> String {
        self.stderr.lock().unwrap().join("\n")
    }

    /// The one-time login link the server printed at start-up, if any.
    pub async fn login_link(&self) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let found = self.stdout.lock().unwrap().iter().find_map(|line| {
                let at = line.find("http://")?;
                let link = line[at..].split_whitespace().next()?;
                link.contains("/login/link?token=").then(|| link.to_owned())
            });
            if let Some(link) = found {
                return link;
            }
            assert!(
                Instant::now() < deadline,
                "no login link on stdout:\n{}",
                self.stdout_text()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Signs in by following the printed login link by hand; returns the
    /// session cookie to send back as a `Cookie` header.
    pub async fn login(&self) -> Auth {
        let link = self.login_link().await;
        self.session_from_link(&link).await
    }

    /// A session for `login` (created with `role` if new), through a
    /// break-glass login link made with the CLI.
    pub async fn login_as(&self, login: &str, role: &str) -> Auth {
        let _ = cli(&self.data_dir, &["create-user", login, "--role", role]);
        let out = cli(
            &self.data_dir,
            &["login-link", login, "--public-url", &self.url("")],
        );
        assert!(
            out.status.success(),
            "login-link: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        let link = stdout
            .lines()
            .rfind(|l| l.contains("/login/link?token="))
            .expect("login-link printed a link")
            .trim()
            .to_owned();
        self.session_from_link(&link).await
    }

    /// Follows a login link and presses its Sign in button; returns the
    /// session cookie it sets.
    pub async fn session_from_link(&self, link: &str) -> Auth {
        let (_, query) = link.split_once("/login/link?").expect("link has a query");
        let page = self
            .client
            .get(self.url(&format!("/login/link?{query}")))
            .send()
            .await
            .expect("GET login link");
        assert_eq!(page.status(), reqwest::StatusCode::OK, "the confirm page");
        let token = query.strip_prefix("token=").expect("a token= query");
        let resp = self
            .client
            .post(self.url("/login/link"))
            .header("origin", self.url(""))
            .form(&[("token", token)])
            .send()
            .await
            .expect("POST login link");
        assert!(
            resp.status().is_redirection(),
            "login link answered {}",
            resp.status()
        );
        let cookie = resp
            .headers()
            .get_all(reqwest::header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with("slipway_session="))
            .expect("login sets the session cookie");
        Auth::Cookie(cookie.split(';').next().unwrap().trim().to_owned())
    }

    /// A token for `login` with these scopes, made with the `create-token` CLI.
    pub fn token_for(&self, login: &str, scopes: &str) -> Auth {
        self.token_limited_to(login, scopes, "")
    }

    /// [`TestServer::token_for`], limited to these applications and
    /// environments (`create-token --limited-to`; empty: unlimited).
    pub fn token_limited_to(&self, login: &str, scopes: &str, limited_to: &str) -> Auth {
        // One token in use per name and person: each gets its own.
        static MADE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let name = format!(
            "test-{}",
            MADE.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        let out = cli(
            &self.data_dir,
            &[
                "create-token",
                login,
                "--name",
                &name,
                "--scopes",
                scopes,
                "--limited-to",
                limited_to,
            ],
        );
        assert!(
            out.status.success(),
            "create-token: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        Auth::Bearer(
            stdout
                .lines()
                .map(str::trim)
                .rfind(|l| !l.is_empty())
                .unwrap()
                .to_owned(),
        )
    }

    /// A bearer token for the first admin, made with the `create-token` CLI.
    pub fn bearer_token(&self, name: &str) -> Auth {
        let out = cli(&self.data_dir, &["create-token", "admin", "--name", name]);
        assert!(
            out.status.success(),
            "create-token failed: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        // Logs go to stdout too: the token is the last non-empty line.
        let stdout = String::from_utf8_lossy(&out.stdout);
        let token = stdout
            .lines()
            .map(str::trim)
            .rfind(|l| !l.is_empty())
            .expect("create-token printed a token")
            .to_owned();
        assert!(
            !token.contains(' '),
            "unexpected create-token output: {stdout:?}"
        );
        Auth::Bearer(token)
    }

    pub fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        auth: &Auth,
    ) -> reqwest::RequestBuilder {
        let builder = self.client.request(method, self.url(path));
        match auth {
            Auth::None => builder,
            // As a browser page of ours would: a session cookie and our own Origin.
            Auth::Cookie(cookie) => builder
                .header(reqwest::header::COOKIE, cookie)
                .header(reqwest::header::ORIGIN, self.url("")),
            Auth::Bearer(token) => builder.bearer_auth(token),
        }
    }

    pub async fn send(&self, builder: reqwest::RequestBuilder) -> Reply {
        let resp = builder.send().await.expect("sending a request");
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.expect("reading a response body");
        Reply {
            status,
            headers,
            text,
        }
    }

    pub async fn get(&self, path: &str, auth: &Auth) -> Reply {
        self.send(self.request(reqwest::Method::GET, path, auth))
            .await
    }

    pub async fn post_json(&self, path: &str, auth: &Auth, body: &Value) -> Reply {
        self.send(self.request(reqwest::Method::POST, path, auth).json(body))
            .await
    }

    /// POST with extra headers and a raw JSON body.
    pub async fn post_raw(
        &self,
        path: &str,
        auth: &Auth,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Reply {
        let mut builder = self
            .request(reqwest::Method::POST, path, auth)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_owned());
        // Replaces what `request` set (e.g. our own Origin) with the test's values.
        let mut extra = reqwest::header::HeaderMap::new();
        for (name, value) in headers {
            extra.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        builder = builder.headers(extra);
        self.send(builder).await
    }

    /// Sets a secret variable on the demo environment as its page's form
    /// does (there is no API for variables), asserting it was set.
    pub async fn set_demo_secret(&self, auth: &Auth, name: &str, value: &str) {
        let set = self
            .call_fn(
                "set_env_var",
                auth,
                &[
                    ("app", "demo"),
                    ("env", "demo"),
                    ("name", name),
                    ("value", value),
                    ("secret", "on"),
                ],
            )
            .await;
        assert_eq!(set.status, StatusCode::OK, "setting {name}: {}", set.text);
    }

    /// Calls a server function (`/fn/<name>`) as the browser's form post does.
    pub async fn call_fn(&self, name: &str, auth: &Auth, form: &[(&str, &str)]) -> Reply {
        self.send(
            self.request(reqwest::Method::POST, &format!("/fn/{name}"), auth)
                .form(form),
        )
        .await
    }

    /// Asks for a deploy of `build_id` on `demo/<env>`; the reply as it is.
    pub async fn deploy_to(&self, auth: &Auth, env: &str, build_id: i64) -> Reply {
        self.post_json(
            &format!("/api/apps/demo/envs/{env}/deploy"),
            auth,
            &serde_json::json!({ "build_id": build_id }),
        )
        .await
    }

    /// Starts a deploy and returns its job id (asserting 202).
    pub async fn deploy(&self, auth: &Auth, build_id: i64) -> i64 {
        let reply = self.deploy_to(auth, "demo", build_id).await;
        assert_eq!(
            reply.status,
            StatusCode::ACCEPTED,
            "deploy answered {}: {}",
            reply.status,
            reply.text
        );
        reply.json()["id"]
            .as_i64()
            .unwrap_or_else(|| panic!("deploy reply has no job id: {}", reply.text))
    }

    /// `GET /api/jobs/{id}` as JSON.
    pub async fn job(&self, auth: &Auth, job_id: i64) -> Value {
        let reply = self.get(&format!("/api/jobs/{job_id}"), auth).await;
        assert_eq!(reply.status, StatusCode::OK, "job view: {}", reply.text);
        reply.json()
    }

    /// Polls the job until it is in a final state; returns the job view.
    pub async fn wait_job_finished(&self, auth: &Auth, job_id: i64) -> Value {
        let deadline = Instant::now() + JOB_DEADLINE;
        loop {
            let view = self.job(auth, job_id).await;
            let state = view["job"]["state"].as_str().unwrap_or_default().to_owned();
            if !matches!(state.as_str(), "queued" | "running") {
                return view;
            }
            assert!(
                Instant::now() < deadline,
                "job #{job_id} still {state} after {JOB_DEADLINE:?}: {view}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// An engine on the server's database beside it, for set-up the API
    /// does not offer (users, applications, environments made directly).
    pub async fn open_engine(&self) -> engine::Engine {
        let data = self.data_dir();
        engine::Engine::open(&engine::EngineSettings {
            database_url: database_url_of(data),
            artifact_roots: vec![data.join("artifacts")],
            package_root: data.join("repo"),
            state_dir: data.to_path_buf(),
            secret_key: engine::secrets::SecretKey::generate(),
        })
        .await
        .expect("open the server's database")
    }

    /// Opens the server's database directly (SQLite in WAL mode is safe
    /// beside it).
    pub async fn db(&self) -> Pool {
        open_db(&self.data_dir).await
    }

    /// SIGKILL (`Child::kill` on Unix), then reap. Returns the data
    /// directory so a new server can start on it.
    pub fn kill(mut self) -> TempDir {
        self.kill_child();
        self.data.take().expect("data directory")
    }

    /// SIGTERM and wait for a graceful exit (SIGKILL as a safety net).
    pub fn stop(mut self) -> TempDir {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match self.child.try_wait() {
                Ok(Some(_)) => break,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                _ => {
                    self.kill_child();
                    break;
                }
            }
        }
        self.data.take().expect("data directory")
    }

    /// SIGKILL this server now (a replica that dies), keeping the value
    /// for its data directory and its output.
    pub fn sigkill(&mut self) {
        self.kill_child();
    }

    fn kill_child(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.kill_child();
        // Hooks run in their own process group and outlive a killed server:
        // stop what is still running inside this test's data directory.
        kill_processes_in(&self.data_dir);
    }
}

fn collect_lines(stream: impl std::io::Read + Send + 'static) -> Arc<Mutex<Vec<String>>> {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            match line {
                Ok(line) => sink.lock().unwrap().push(line),
                Err(_) => break,
            }
        }
    });
    lines
}

/// SIGKILLs, by PID, every process whose working directory is inside `dir`
/// (hooks the server started there). `dir` is a unique temporary directory
/// of this test, so nothing else can match.
pub fn kill_processes_in(dir: &Path) {
    let mut roots = vec![dir.to_path_buf()];
    if let Ok(canonical) = dir.canonicalize() {
        roots.push(canonical);
    }
    let me = std::process::id();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Ok(cwd) = std::fs::read_link(entry.path().join("cwd")) else {
            continue;
        };
        if roots.iter().any(|root| cwd.starts_with(root)) {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// The file in a test's data directory naming its PostgreSQL database.
const DATABASE_URL_FILE: &str = ".test-database-url";

/// The PostgreSQL database a data directory's server runs on, if not SQLite.
pub fn postgres_url_of(data_dir: &Path) -> Option<String> {
    std::fs::read_to_string(data_dir.join(DATABASE_URL_FILE)).ok()
}

/// The database a data directory's server runs on.
pub fn database_url_of(data_dir: &Path) -> String {
    postgres_url_of(data_dir)
        .unwrap_or_else(|| format!("sqlite://{}/slipway.db", data_dir.display()))
}

pub async fn open_db(data_dir: &Path) -> Pool {
    if let Some(url) = postgres_url_of(data_dir) {
        return Pool::Postgres(
            sqlx::PgPool::connect(&url)
                .await
                .expect("connecting to the test's database"),
        );
    }
    let options = SqliteConnectOptions::new()
        .filename(data_dir.join("slipway.db"))
        .create_if_missing(false)
        .journal_mode(SqliteJournalMode::Wal)
        .busy_timeout(Duration::from_secs(30));
    Pool::Sqlite(
        SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .expect("opening slipway.db"),
    )
}

pub async fn count(db: &Pool, sql: &str) -> i64 {
    engine::on_test_pool!(db, pool => sqlx::query_scalar(sql).fetch_one(pool).await)
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// Row counts of everything a refused request must not touch.
#[derive(Debug, PartialEq, Eq)]
pub struct Snapshot {
    pub builds: i64,
    pub jobs: i64,
    pub releases: i64,
    pub audit_rows: i64,
}

pub async fn snapshot(db: &Pool) -> Snapshot {
    Snapshot {
        builds: count(db, "SELECT COUNT(*) FROM builds").await,
        jobs: count(db, "SELECT COUNT(*) FROM jobs").await,
        releases: count(db, "SELECT COUNT(*) FROM releases").await,
        audit_rows: count(db, "SELECT COUNT(*) FROM audit_log").await,
    }
}

/// Replaces the demo environment's `before_switch` hook (there is no API
/// for it; the UI's server functions are the only other way).
pub async fn set_before_switch(db: &Pool, command: &str) {
    set_demo_hook(db, "before_switch", command).await;
}

/// Sets the demo environment's `hook` (`before_switch`, `after_switch`) to `command`.
pub async fn set_demo_hook(db: &Pool, hook: &str, command: &str) {
    let changed = match db {
        Pool::Sqlite(pool) => sqlx::query(
            "UPDATE environments SET config = json_set(config, '$.' || $1, $2) WHERE name = 'demo'",
        )
        .bind(hook)
        .bind(command)
        .execute(pool)
        .await
        .map(|done| done.rows_affected()),
        Pool::Postgres(pool) => sqlx::query(
            "UPDATE environments SET config = jsonb_set(config, ARRAY[$1], to_jsonb($2::TEXT))
             WHERE name = 'demo'",
        )
        .bind(hook)
        .bind(command)
        .execute(pool)
        .await
        .map(|done| done.rows_affected()),
    }
    .expect("updating the demo hook");
    assert_eq!(changed, 1, "the demo environment exists");
}

/// A hook that prints `before`, then waits until the test calls
/// [`open_gate`], then runs `after`: a job that lasts exactly as long as the
/// test needs, without timing assumptions.
pub fn gated_hook(data_dir: &Path, before: &str, after: &str) -> String {
    let gate = data_dir.join("gate");
    format!(
        "{before}; while [ ! -e '{}' ]; do sleep 0.05; done; {after}",
        gate.display()
    )
}

pub fn open_gate(data_dir: &Path) {
    std::fs::write(data_dir.join("gate"), b"go").expect("opening the gate");
}

/// A 40-hex commit sha derived from a label.
pub fn sha(label: &str) -> String {
    let mut out = String::new();
    let mut x: u64 = 0xcbf2_9ce4_8422_2325;
    for b in label.bytes() {
        x ^= u64::from(b);
        x = x.wrapping_mul(0x0100_0000_01b3);
    }
    while out.len() < 40 {
        x ^= x >> 33;
        x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
        out.push_str(&format!("{x:016x}"));
    }
    out.truncate(40);
    out
}

/// Copies the demo's 1.0.0 tarball to `<data>/artifacts/<name>` (inside
/// the allowed root) and returns the new absolute path.
pub fn copy_demo_artifact(data_dir: &Path, name: &str) -> String {
    let from = data_dir.join("artifacts/demo/demo-1.0.0.tar.gz");
    let to = data_dir.join("artifacts").join(name);
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::copy(&from, &to)
        .unwrap_or_else(|e| panic!("copying {} to {}: {e}", from.display(), to.display()));
    to.display().to_string()
}

pub fn build_request(application: &str, commit_sha: &str, artifact: &str) -> Value {
    serde_json::json!({
        "application": application,
        "commit_sha": commit_sha,
        "branch": "main",
        "message": "integration test build",
        "author": "Integration Test <it@example.invalid>",
        "artifact": artifact,
    })
}

// ---- server-sent events ----

/// One event of an SSE stream.
#[derive(Clone, Debug, PartialEq)]
pub struct SseEvent {
    pub id: Option<i64>,
    pub data: String,
}

impl SseEvent {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data)
            .unwrap_or_else(|e| panic!("event data is not JSON ({e}): {:?}", self.data))
    }

    pub fn level(&self) -> String {
        self.json()["level"].as_str().unwrap_or_default().to_owned()
    }

    pub fn text(&self) -> String {
        self.json()["text"].as_str().unwrap_or_default().to_owned()
    }
}

type ByteStream = Pin<Box<dyn Stream<Item = reqwest::Result<Vec<u8>>> + Send>>;

/// A minimal reader of the `text/event-stream` format.
pub struct SseReader {
    body: ByteStream,
    buf: Vec<u8>,
}

impl SseReader {
    pub fn new(resp: reqwest::Response) -> Self {
        let body = resp.bytes_stream().map(|chunk| chunk.map(|b| b.to_vec()));
        Self {
            body: Box::pin(body),
            buf: Vec::new(),
        }
    }

    /// The next event, skipping comments (heartbeats) and `retry:`;
    /// `None` when the server ends the stream.
    pub async fn next_event(&mut self) -> Option<SseEvent> {
        loop {
            while let Some(end) = find_blank_line(&self.buf) {
                let block: Vec<u8> = self.buf.drain(..end + 2).collect();
                if let Some(event) = parse_block(&String::from_utf8_lossy(&block)) {
                    return Some(event);
                }
            }
            match tokio::time::timeout(Duration::from_secs(90), self.body.next()).await {
                Ok(Some(Ok(bytes))) => self.buf.extend(bytes.into_iter().filter(|&b| b != b'\r')),
                Ok(Some(Err(e))) => panic!("reading the event stream: {e}"),
                Ok(None) => return None,
                Err(_) => panic!("no event-stream data for 90 s (safety net)"),
            }
        }
    }

    /// Reads until the `end` event (inclusive) or the end of the stream.
    pub async fn until_end(&mut self) -> Vec<SseEvent> {
        let mut events = Vec::new();
        while let Some(event) = self.next_event().await {
            let end = event.level() == "end";
            events.push(event);
            if end {
                break;
            }
        }
        events
    }
}

fn find_blank_line(buf: &[u8]) -> Option<usize> {
    buf.windows(2).position(|w| w == b"\n\n")
}

fn parse_block(block: &str) -> Option<SseEvent> {
    let mut id = None;
    let mut data: Vec<&str> = Vec::new();
    for line in block.lines() {
        if line.is_empty() || line.starts_with(':') {
            continue;
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "id" => {
                id = Some(
                    value
                        .trim()
                        .parse::<i64>()
                        .unwrap_or_else(|_| panic!("event id is not a number: {value:?}")),
                )
            }
            "data" => data.push(value),
            _ => {} // retry, event
        }
    }
    if id.is_none() && data.is_empty() {
        return None;
    }
    Some(SseEvent {
        id,
        data: data.join("\n"),
    })
}

/// Opens `/events/jobs/{id}` (plus `query`), optionally with `Last-Event-ID`.
pub async fn open_events(
    server: &TestServer,
    auth: &Auth,
    job_id: i64,
    query: &str,
    last_event_id: Option<i64>,
) -> reqwest::Response {
    let mut builder = server
        .request(
            reqwest::Method::GET,
            &format!("/events/jobs/{job_id}{query}"),
            auth,
        )
        .header(reqwest::header::ACCEPT, "text/event-stream")
        // The whole stream may outlast the client's default request timeout.
        .timeout(Duration::from_secs(600));
    if let Some(id) = last_event_id {
        builder = builder.header("Last-Event-ID", id.to_string());
    }
    builder
        .send()
        .await
        .expect("connecting to the event stream")
}

/// The first `sh` code block after `heading` (a whole line, e.g. `## API`)
/// in the README, for tests that run its examples as written.
pub fn readme_sh_block(heading: &str) -> String {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("reading the README");
    let at = readme
        .find(&format!("\n{heading}\n"))
        .unwrap_or_else(|| panic!("no {heading:?} in the README"));
    let section = &readme[at..];
    let block = &section[section.find("```sh\n").expect("an sh block") + 6..];
    block[..block.find("```").expect("the block ends")].to_owned()
}

/// Environments `demo/<name>` on the local backend, each with its own
/// target under `data_dir/targets` and a `before_switch` hook (`{env}` in
/// it is the environment's name), made through an engine of the test's
/// own on the database at `database_url`.
pub async fn create_local_environments(
    database_url: &str,
    data_dir: &Path,
    names: &[&str],
    before_switch: &str,
) {
    use engine::backends::{local::LocalConfig, BackendConfig};
    let engine = engine::Engine::open(&engine::EngineSettings {
        database_url: database_url.to_owned(),
        artifact_roots: vec![data_dir.join("artifacts")],
        package_root: data_dir.join("repo"),
        state_dir: data_dir.to_path_buf(),
        secret_key: engine::secrets::SecretKey::generate(),
    })
    .await
    .expect("an engine on the server's database");
    let user = engine
        .store()
        .create_user(
            "test",
            &format!("setup-{}", names[0]),
            "Set-up",
            engine::domain::Role::Admin,
        )
        .await
        .expect("a set-up admin");
    let actor = engine::auth::Actor::from(&user);
    for name in names {
        let mut config = LocalConfig::new(data_dir.join("targets").join(name));
        config.before_switch = Some(before_switch.replace("{env}", name));
        engine
            .create_environment(&actor, "demo", name, BackendConfig::Local(config), false)
            .await
            .unwrap_or_else(|e| panic!("creating demo/{name}: {e}"));
    }
    engine.store().pool().close().await;
}

/// Two replicas on the database at `database_url` sharing one data
/// directory (as a shared volume would be), and a session good on both.
/// One after the other: the first seeds the demo, the second finds it.
/// Each start before anyone signed in prints a new first-login link (the
/// older one no longer works): the second's is the one; its session is good
/// on the first too, sessions living in the database.
pub async fn start_replicas(database_url: &str) -> (TestServer, TestServer, Auth) {
    let env = [("DATABASE_URL", database_url)];
    let a = TestServer::start_with_env(&env).await;
    let b = TestServer::start_beside(&a, &env).await;
    let auth = b.login().await;
    (a, b, auth)
}

/// The runner that claimed job `job_id` (its name carries its PID), once
/// it has, and once the job stored the event `reached` if one is given.
pub async fn wait_claimed(db: &sqlx::PgPool, job_id: i64, reached: Option<&str>) -> String {
    let deadline = Instant::now() + JOB_DEADLINE;
    loop {
        let (owner, reached_it): (Option<String>, bool) = sqlx::query_as(
            "SELECT j.lease_owner,
                    $2::TEXT IS NULL OR EXISTS (SELECT 1 FROM job_events e
                                                WHERE e.job_id = j.id AND e.text = $2)
             FROM jobs j WHERE j.id = $1",
        )
        .bind(job_id)
        .bind(reached)
        .fetch_one(db)
        .await
        .expect("the job's runner");
        if let (Some(owner), true) = (owner, reached_it) {
            return owner;
        }
        assert!(
            Instant::now() < deadline,
            "job #{job_id} was not claimed (or did not reach {reached:?}) in {JOB_DEADLINE:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// What someone with the database's files (or its superuser) does first:
/// drops the triggers that keep the audit log and its checkpoints
/// append-only.
pub async fn drop_audit_guards(db: &Pool) {
    let statements: &[&str] = match db {
        Pool::Sqlite(_) => &[
            "DROP TRIGGER IF EXISTS audit_log_no_update",
            "DROP TRIGGER IF EXISTS audit_log_no_delete",
            "DROP TRIGGER IF EXISTS audit_checkpoints_no_update",
            "DROP TRIGGER IF EXISTS audit_checkpoints_no_delete",
        ],
        Pool::Postgres(_) => &[
            "DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log",
            "DROP TRIGGER IF EXISTS audit_checkpoints_append_only ON audit_checkpoints",
        ],
    };
    for statement in statements {
        engine::on_test_pool!(db, pool => sqlx::query(statement).execute(pool).await.map(drop))
            .unwrap_or_else(|e| panic!("{statement}: {e}"));
    }
}

/// The table the server keeps sessions in (tower-sessions' sqlx stores).
pub fn sessions_table(db: &Pool) -> &'static str {
    match db {
        Pool::Sqlite(_) => "tower_sessions",
        Pool::Postgres(_) => "tower_sessions.session",
    }
}

/// A session's expiry as text ordered like the time (RFC 3339, UTC).
pub fn session_expiry(db: &Pool) -> &'static str {
    match db {
        Pool::Sqlite(_) => "expiry_date",
        Pool::Postgres(_) => {
            "to_char(expiry_date AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US')"
        }
    }
}
