//! Harness for browser tests: the real `slipway` binary on a free loopback
//! port with a fresh data directory, and headless Debian Chromium driven
//! through ChromeDriver. Every process started here is killed on drop.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

pub fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn wait_for_port(port: u16, what: &str, child: &mut Child) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        if let Some(status) = child.try_wait()? {
            bail!("{what} exited early with {status}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    bail!("{what} did not listen on 127.0.0.1:{port}")
}

/// A child process killed (and reaped) when dropped, also when a test
/// fails half-way through starting things. Started in its own process
/// group (see [`own_group`]), the whole group goes: chromedriver's Chromium
/// processes do not outlive the test.
pub struct ChildGuard(Child);

/// Puts the command's process in a new process group, so that dropping its
/// [`ChildGuard`] also ends whatever it started.
fn own_group(command: &mut Command) -> &mut Command {
    use std::os::unix::process::CommandExt;
    command.process_group(0)
}

impl ChildGuard {
    fn get(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        // The group exists only if the child leads one; `kill` covers the rest.
        if let Ok(pid) = i32::try_from(self.0.id()) {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `slipway serve --demo` on `data_dir` at 127.0.0.1:`port` and
/// waits until it listens; the receiver gets its first-login link, if it
/// prints one (a fresh data directory).
fn spawn(
    data_dir: &Path,
    port: u16,
    env: &[(&str, &str)],
) -> Result<(ChildGuard, std::sync::mpsc::Receiver<String>)> {
    let root = workspace_root();
    let bin = std::env::var_os("SLIPWAY_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target/debug/slipway"));
    let site = std::env::var_os("SLIPWAY_SITE_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target/site"));
    if !bin.exists() || !site.join("pkg/slipway_bg.wasm").exists() {
        bail!(
            "{} or {}/pkg is missing: run scripts/build first (scripts/test does)",
            bin.display(),
            site.display()
        );
    }
    let addr = format!("127.0.0.1:{port}");
    let mut child = ChildGuard(
        own_group(&mut Command::new(&bin))
            .args(["serve", "--demo", "--site-root"])
            .arg(&site)
            .env("SLIPWAY_DATA_DIR", data_dir)
            .env("LEPTOS_SITE_ADDR", &addr)
            .env_remove("DATABASE_URL")
            .env_remove("SLIPWAY_PUBLIC_URL")
            .env_remove("SLIPWAY_WEBHOOK_SECRET")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?,
    );
    let stdout = child.get().stdout.take().context("no stdout")?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(at) = line.find("http://") {
                if line.contains("/login/link?token=") {
                    let _ = tx.send(line[at..].trim().to_owned());
                }
            }
        }
    });
    wait_for_port(port, "slipway", child.get())?;
    Ok((child, rx))
}

/// A running `slipway serve --demo` with its own data directory.
pub struct Slipway {
    /// `None` only for the moment between a kill and the restart.
    _child: Option<ChildGuard>,
    pub base_url: String,
    pub login_link: String,
    pub data_dir: tempfile::TempDir,
}

impl Slipway {
    pub fn start() -> Result<Self> {
        Self::start_with_env(&[])
    }

    /// Starts with extra environment variables (e.g. identity providers).
    pub fn start_with_env(env: &[(&str, &str)]) -> Result<Self> {
        let data_dir = tempfile::tempdir()?;
        let port = free_port()?;
        let (child, login_link) = spawn(data_dir.path(), port, env)?;
        let login_link = login_link
            .recv_timeout(Duration::from_secs(60))
            .context("slipway did not print a first-login link")?;
        Ok(Self {
            _child: Some(child),
            base_url: format!("http://127.0.0.1:{port}"),
            login_link,
            data_dir,
        })
    }

    /// Kills the server with SIGKILL (no graceful shutdown: a crash) and
    /// starts it again on the same data directory and address. Sessions
    /// live in the database, so a signed-in browser stays signed in.
    pub fn kill_and_restart(&mut self) -> Result<()> {
        let port: u16 = self
            .base_url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .context("the base URL names a port")?;
        // Dropping the guard kills its process group (hooks included) and
        // reaps it, which frees the port.
        drop(self._child.take());
        let (child, _no_link_on_restart) = spawn(self.data_dir.path(), port, &[])?;
        self._child = Some(child);
        Ok(())
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// `name` under its data directory, as a form field takes it.
    pub fn data_path(&self, name: &str) -> String {
        self.data_dir.path().join(name).display().to_string()
    }

    /// Starts with `provider` as its identity provider, plus `extra` settings.
    pub fn start_with_provider(provider: &OidcProvider, extra: &[(&str, String)]) -> Result<Self> {
        let mut env = provider.slipway_env();
        env.extend(extra.iter().cloned());
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        Self::start_with_env(&env)
    }
}

/// Signs `client` in through the identity provider and waits until the
/// header names the person as `who` (e.g. "carol (viewer)").
pub async fn sign_in_with_provider(
    client: &fantoccini::Client,
    slipway: &Slipway,
    who: &str,
) -> Result<()> {
    client.goto(&slipway.url("/auth/oidc/start")).await?;
    wait_for_text(client, "header .who", |t| t.contains(who)).await?;
    Ok(())
}

/// Signs `client` in with Slipway's one-time first-login link (its page's
/// Sign in button; the link then stops working) and waits until the header
/// names the admin.
pub async fn sign_in_as_first_admin(client: &fantoccini::Client, slipway: &Slipway) -> Result<()> {
    client.goto(&slipway.login_link).await?;
    click(client, "#use-login-link").await?;
    wait_for_text(client, "header .who", |s| s.contains("(admin)")).await?;
    Ok(())
}

/// A real OpenID Connect provider (`end2end/oidc-provider`, oauth2-mock-server
/// on Node.js) on a free loopback port. The account it signs in is fixed at start.
pub struct OidcProvider {
    _child: ChildGuard,
    pub issuer: String,
}

/// The account the test provider vouches for.
pub struct OidcAccount<'a> {
    pub subject: &'a str,
    pub login: &'a str,
    pub groups: &'a [&'a str],
}

impl OidcProvider {
    pub fn start(account: &OidcAccount<'_>) -> Result<Self> {
        let dir = workspace_root().join("end2end/oidc-provider");
        if !dir.join("node_modules/oauth2-mock-server").exists() {
            bail!(
                "{}/node_modules is missing: run scripts/setup --test (scripts/test does)",
                dir.display()
            );
        }
        let port = free_port()?;
        let mut child = ChildGuard(
            own_group(&mut Command::new("node"))
                .arg("provider.mjs")
                .current_dir(&dir)
                .env("OIDC_PORT", port.to_string())
                .env("OIDC_SUB", account.subject)
                .env("OIDC_LOGIN", account.login)
                .env("OIDC_NAME", format!("{} (test)", account.login))
                .env("OIDC_EMAIL", format!("{}@example.invalid", account.login))
                .env("OIDC_GROUPS", account.groups.join(","))
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .context("starting the test OIDC provider (node)")?,
        );
        let stdout = child.get().stdout.take().context("no stdout")?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(issuer) = line.strip_prefix("ready ") {
                    let _ = tx.send(issuer.trim().to_owned());
                }
            }
        });
        let issuer = rx
            .recv_timeout(Duration::from_secs(30))
            .context("the OIDC provider did not start")?;
        Ok(Self {
            _child: child,
            issuer,
        })
    }

    /// What Slipway needs to use this provider (client secret included: a test value).
    pub fn slipway_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("SLIPWAY_OIDC_ISSUER", self.issuer.clone()),
            ("SLIPWAY_OIDC_CLIENT_ID", "slipway-test".to_owned()),
            (
                "SLIPWAY_OIDC_CLIENT_SECRET",
                "test-client-secret".to_owned(),
            ),
            ("SLIPWAY_OIDC_NAME", "Test SSO".to_owned()),
        ]
    }
}

/// ChromeDriver on a free loopback port, driving Debian's headless Chromium.
pub struct Browser {
    _driver: ChildGuard,
    pub client: fantoccini::Client,
    _profile: tempfile::TempDir,
}

impl Browser {
    pub async fn start() -> Result<Self> {
        let port = free_port()?;
        let mut driver = ChildGuard(own_group(&mut Command::new("chromedriver"))
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting chromedriver (apt-get install chromium-driver; scripts/setup --test does)")?);
        wait_for_port(port, "chromedriver", driver.get())?;
        let profile = tempfile::tempdir()?;
        let args = vec![
            "--headless".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--disable-quic".to_owned(),
            "--no-first-run".to_owned(),
            "--window-size=1280,1000".to_owned(),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".to_owned(),
            serde_json::json!({ "binary": "/usr/bin/chromium", "args": args }),
        );
        let started = Instant::now();
        let client = loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match fantoccini::ClientBuilder::new(connector)
                .capabilities(caps.clone())
                .connect(&format!("http://127.0.0.1:{port}"))
                .await
            {
                Ok(client) => break client,
                Err(e) if started.elapsed() < Duration::from_secs(30) => {
                    eprintln!("waiting for chromedriver: {e}");
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
                Err(e) => return Err(e).context("connecting to chromedriver"),
            }
        };
        Ok(Self {
            _driver: driver,
            client,
            _profile: profile,
        })
    }
}

/// Where tests keep what a person may want to look at afterwards.
pub fn artifacts_dir() -> Result<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("artifacts");
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// How long a browser test waits for anything: a safety net, not a timing assertion.
pub const PATIENCE: Duration = Duration::from_secs(90);

/// Polls until `css` matches an element whose text satisfies `ok`; returns the text.
pub async fn wait_for_text(
    client: &fantoccini::Client,
    css: &str,
    ok: impl Fn(&str) -> bool,
) -> Result<String> {
    let deadline = Instant::now() + PATIENCE;
    let mut last = String::new();
    while Instant::now() < deadline {
        if let Ok(element) = client.find(fantoccini::Locator::Css(css)).await {
            if let Ok(text) = element.text().await {
                if ok(&text) {
                    return Ok(text);
                }
                last = text;
            }
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    bail!("timed out waiting for {css}; last text was {last:?}")
}

/// Waits until the page is hydrated (interactive).
pub async fn wait_hydrated(client: &fantoccini::Client) -> Result<()> {
    client
        .wait()
        .at_most(PATIENCE)
        .for_element(fantoccini::Locator::Css("body[data-hydrated='true']"))
        .await
        .context("the page never hydrated (is target/site/pkg built?)")?;
    Ok(())
}

/// Replaces the value of the environment form's field `name`.
pub async fn fill(client: &fantoccini::Client, name: &str, value: &str) -> Result<()> {
    let input = client
        .find(fantoccini::Locator::Css(&format!(
            ".env-form [name='{name}']"
        )))
        .await?;
    input.clear().await?;
    input.send_keys(value).await?;
    Ok(())
}

/// A hook script that holds the job until the file `gate` exists (a test
/// creates it to let the job go on, or never does). `gate` is a data path
/// the test made: no quote in it.
pub fn held_until_exists(gate: &str) -> String {
    format!("while [ ! -e '{gate}' ]; do sleep 0.1; done")
}

/// Presses the form's submit button (create or save an environment, a token…).
pub async fn submit_env_form(client: &fantoccini::Client) -> Result<()> {
    click(client, ".env-form button[type='submit']").await?;
    Ok(())
}

/// Waits for the element `css` matches, then clicks it.
pub async fn click(client: &fantoccini::Client, css: &str) -> Result<()> {
    client
        .wait()
        .at_most(PATIENCE)
        .for_element(fantoccini::Locator::Css(css))
        .await
        .with_context(|| format!("no {css}"))?
        .click()
        .await?;
    Ok(())
}

/// Types `text` into the element `css` matches (after what it holds).
pub async fn type_into(client: &fantoccini::Client, css: &str, text: &str) -> Result<()> {
    client
        .find(fantoccini::Locator::Css(css))
        .await
        .with_context(|| format!("no {css}"))?
        .send_keys(text)
        .await?;
    Ok(())
}

/// Registers a build with the Builds page's form (`commit_sha`, `branch`,
/// `message`, `artifact`, …) and waits until its commit is listed.
pub async fn register_build_in_form(
    client: &fantoccini::Client,
    slipway: &Slipway,
    fields: &[(&str, &str)],
) -> Result<()> {
    client.goto(&slipway.url("/builds?app=demo")).await?;
    wait_hydrated(client).await?;
    click(client, "details.card summary").await?;
    for (name, value) in fields {
        fill(client, name, value).await?;
    }
    submit_env_form(client).await?;
    let sha = fields
        .iter()
        .find(|(name, _)| *name == "commit_sha")
        .map(|(_, sha)| sha.get(..8).unwrap_or(sha).to_owned())
        .context("a build needs its commit_sha")?;
    wait_for_text(client, "table.builds", |s| s.contains(&sha)).await?;
    Ok(())
}

/// Creates a docker environment of the demo application with the form,
/// for images that serve on port 80 with a `/health` page; `extra` fields
/// are filled last. Waits for its page.
pub async fn create_docker_environment(
    client: &fantoccini::Client,
    slipway: &Slipway,
    name: &str,
    extra: &[(&str, &str)],
) -> Result<()> {
    client.goto(&slipway.url("/apps/demo/new-env")).await?;
    wait_hydrated(client).await?;
    fill(client, "name", name).await?;
    client
        .find(fantoccini::Locator::Css(
            "#backend-select option[value='docker']",
        ))
        .await?
        .click()
        .await?;
    let port = free_port()?.to_string();
    let fields = [
        ("container_port", "80"),
        ("publish_port", port.as_str()),
        ("health_path", "/health"),
        ("drain_timeout_secs", "1"),
    ];
    for (field, value) in fields.iter().chain(extra) {
        fill(client, field, value).await?;
    }
    submit_env_form(client).await?;
    wait_for_text(client, "h1.env-title", |s| s.contains(name)).await?;
    Ok(())
}

/// Reloads the environment page the browser is on until its live release's
/// row contains `text` (a build nobody pressed Deploy for), and returns it.
pub async fn wait_until_live(client: &fantoccini::Client, text: &str) -> Result<String> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let live = match client
            .find(fantoccini::Locator::Css(
                "table.releases tr[data-state='live']",
            ))
            .await
        {
            Ok(row) => row.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        if live.contains(text) {
            return Ok(live);
        }
        if Instant::now() > deadline {
            bail!("no live release shows {text:?}; the live row: {live:?}");
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        client.refresh().await?;
        wait_hydrated(client).await?;
    }
}

/// Waits until the last click has led to a job's page (the server
/// function answers with the job id and the app navigates there); the id.
pub async fn job_page_reached(client: &fantoccini::Client) -> Result<i64> {
    job_page_other_than(client, None).await
}

/// [`job_page_reached`] from job `from`'s page: waits for another job's.
pub async fn job_page_after(client: &fantoccini::Client, from: i64) -> Result<i64> {
    job_page_other_than(client, Some(from)).await
}

async fn job_page_other_than(client: &fantoccini::Client, from: Option<i64>) -> Result<i64> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let url = client.current_url().await?;
        if let Some(id) = url.path().strip_prefix("/jobs/") {
            let id = id.parse::<i64>().context("job id in the URL")?;
            if Some(id) != from {
                return Ok(id);
            }
        }
        if Instant::now() > deadline {
            bail!("did not reach a job page; still at {url}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits for the job page the last click led to and for its job to end.
/// Fails with the job's log unless it succeeded; returns the job id.
pub async fn job_succeeds(client: &fantoccini::Client) -> Result<i64> {
    let job_id = job_page_reached(client).await?;
    // The live stream, not a reload, brings the page to its final state.
    let state = wait_for_text(client, "#job-state .badge", |s| {
        s == "succeeded" || s == "failed"
    })
    .await?;
    if state != "succeeded" {
        let log = client
            .find(fantoccini::Locator::Css("#job-log"))
            .await?
            .text()
            .await?;
        bail!("job #{job_id} {state}; its log:\n{log}");
    }
    Ok(job_id)
}

/// Presses a button that asks first (`ConfirmSubmit`) inside `scope`: opens
/// it, reads its question, and confirms. Returns the question it asked.
pub async fn press_confirmed(client: &fantoccini::Client, scope: &str) -> Result<String> {
    click(client, &format!("{scope} details.confirm > summary")).await?;
    let question = wait_for_text(
        client,
        &format!("{scope} details.confirm[open] .question"),
        |q| !q.is_empty(),
    )
    .await?;
    click(
        client,
        &format!("{scope} details.confirm[open] button.confirm"),
    )
    .await?;
    Ok(question)
}

/// Clicks `button` (Deploy), waits for the job to succeed and for `hosts`
/// progress bars, one per host, to show success. Returns the job id.
pub async fn run_job_from(client: &fantoccini::Client, button: &str, hosts: usize) -> Result<i64> {
    click(client, button).await?;
    job_succeeds_on(client, hosts).await
}

/// Presses the rollback (or restore) offered in the releases table's row
/// `row`, confirms it, and waits as [`run_job_from`] does.
pub async fn roll_back_from(client: &fantoccini::Client, row: &str, hosts: usize) -> Result<i64> {
    press_confirmed(client, &format!("table.releases {row}")).await?;
    job_succeeds_on(client, hosts).await
}

/// Waits for the job page to show success, with `hosts` host bars at success.
async fn job_succeeds_on(client: &fantoccini::Client, hosts: usize) -> Result<i64> {
    let job_id = job_succeeds(client).await?;
    let bars = client
        .find_all(fantoccini::Locator::Css(
            ".host-progress[data-state='succeeded']",
        ))
        .await?;
    if bars.len() != hosts {
        bail!(
            "job #{job_id}: {} of {hosts} host bars at success",
            bars.len()
        );
    }
    Ok(job_id)
}

/// On the Users page, as an admin: gives `login` (someone who has signed in
/// once) `role`, and waits until the table shows it.
pub async fn give_role(
    client: &fantoccini::Client,
    slipway: &Slipway,
    login: &str,
    role: &str,
) -> Result<()> {
    use fantoccini::Locator;
    let row = format!("tr[data-user='{login}']");
    client.goto(&slipway.url("/users")).await?;
    wait_hydrated(client).await?;
    client
        .wait()
        .at_most(PATIENCE)
        .for_element(Locator::Css(&format!(
            "{row} select[name='role'] option[value='{role}']"
        )))
        .await?
        .click()
        .await?;
    client
        .find(Locator::Css(&format!("{row} button[type='submit']")))
        .await?
        .click()
        .await?;
    // The table reloads with the new role selected; while it re-renders the
    // row can be missing or stale.
    let deadline = Instant::now() + PATIENCE;
    loop {
        let selected = match client
            .find(Locator::Css(&format!("{row} select[name='role']")))
            .await
        {
            Ok(select) => select.prop("value").await.ok().flatten(),
            Err(_) => None,
        };
        if selected.as_deref() == Some(role) {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("{login}'s role did not become {role}");
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

/// Opens the environment page at `env_path` and picks build `build_id` to deploy.
pub async fn pick_build(
    client: &fantoccini::Client,
    slipway: &Slipway,
    env_path: &str,
    build_id: impl std::fmt::Display,
) -> Result<()> {
    client.goto(&slipway.url(env_path)).await?;
    wait_hydrated(client).await?;
    client
        .wait()
        .at_most(PATIENCE)
        .for_element(fantoccini::Locator::Css(&format!(
            "#build-select option[value='{build_id}']"
        )))
        .await?
        .click()
        .await?;
    Ok(())
}

/// Picks build `build_id` on the demo environment's page and presses Deploy.
pub async fn press_deploy(
    client: &fantoccini::Client,
    slipway: &Slipway,
    build_id: i64,
) -> Result<()> {
    pick_build(client, slipway, "/apps/demo/envs/demo", build_id).await?;
    click(client, "#deploy-button").await?;
    Ok(())
}

/// How many of the SVG bars `css` matches are drawn taller than nothing
/// (a chart's weeks with a value), and how many bars there are in all.
pub async fn drawn_bars(client: &fantoccini::Client, css: &str) -> Result<(usize, usize)> {
    let bars = client.find_all(fantoccini::Locator::Css(css)).await?;
    let mut drawn = 0;
    for bar in &bars {
        let height: f64 = bar.attr("height").await?.unwrap_or_default().parse()?;
        if height > 0.0 {
            drawn += 1;
        }
    }
    Ok((drawn, bars.len()))
}
