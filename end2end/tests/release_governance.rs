//! Release governance in the browser: a freeze window made on the
//! environment page refuses Deploy with its message until an admin gives
//! a reason (audited as a break-glass); a deploy that meets a running job
//! waits as a request, a newer one replaces it, and it starts by itself
//! once the job ends; a deploy to a protected environment with approval
//! rules waits until someone else approves it (on the Requests page, also
//! through a group of the real OIDC test provider), and the job page,
//! history and audit log say who asked and who approved; an environment
//! that takes builds from another offers only what went live there, and
//! Promote sends it.

use anyhow::{ensure, Result};
use end2end::{
    artifacts_dir, click, fill, give_role, held_until_exists, job_page_reached, job_succeeds,
    pick_build, press_confirmed, press_deploy, sign_in_as_first_admin, sign_in_with_provider,
    submit_env_form, type_into, wait_for_text, wait_hydrated, Browser, OidcAccount, OidcProvider,
    Slipway,
};
use fantoccini::{Client, Locator};

const ENV_PAGE: &str = "/apps/demo/envs/demo";
/// Shell, HTML and quote characters: stored and shown as typed, run nowhere.
const HOSTILE_NAME: &str =
    r#"Holiday <script>alert("x")</script> $(touch /tmp/pwned) `id` & 'quotes'"#;

/// Fills the new-freeze-window form's field `name`.
async fn fill_freeze(client: &Client, name: &str, value: &str) -> Result<()> {
    let input = client
        .find(Locator::Css(&format!(".freeze-form [name='{name}']")))
        .await?;
    input.clear().await?;
    input.send_keys(value).await?;
    Ok(())
}

async fn choose_kind(client: &Client, kind: &str) -> Result<()> {
    click(
        client,
        &format!(".freeze-form select[name='kind'] option[value='{kind}']"),
    )
    .await
}

fn released(slipway: &Slipway) -> bool {
    slipway.data_dir.path().join("demo-target/current").exists()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_freeze_window_made_on_the_page_refuses_deploy_until_an_admin_gives_a_reason(
) -> Result<()> {
    let slipway = Slipway::start()?;
    let browser = Browser::start().await?;
    let client = &browser.client;
    sign_in_as_first_admin(client, &slipway).await?;
    client.goto(&slipway.url(ENV_PAGE)).await?;
    wait_hydrated(client).await?;
    click(client, "details.new-freeze > summary").await?;

    // A bad cron is a clear error and makes nothing.
    fill_freeze(client, "name", "bad one").await?;
    choose_kind(client, "cron").await?;
    fill_freeze(client, "cron", "61 25 * * 9").await?;
    fill_freeze(client, "minutes", "60").await?;
    click(client, ".freeze-form button[type='submit']").await?;
    let error = wait_for_text(client, "details.new-freeze p.error", |s| !s.is_empty()).await?;
    ensure!(error.contains("cron"), "unclear: {error}");
    ensure!(
        client
            .find_all(Locator::Css(".freezes tr[data-freeze]"))
            .await?
            .is_empty(),
        "a window was made from a bad cron"
    );

    // Every day, all day, Berlin time: frozen now.
    fill_freeze(client, "name", HOSTILE_NAME).await?;
    choose_kind(client, "weekly").await?;
    fill_freeze(client, "days", "Mon-Sun").await?;
    fill_freeze(client, "start", "00:00").await?;
    fill_freeze(client, "end", "00:00").await?;
    fill_freeze(client, "time_zone", "Europe/Berlin").await?;
    click(client, ".freeze-form button[type='submit']").await?;
    let shown = wait_for_text(client, ".freeze-active .freeze-name", |s| !s.is_empty()).await?;
    ensure!(shown == HOSTILE_NAME, "shown as {shown:?}");
    let left = wait_for_text(client, ".freeze-active .countdown", |s| !s.is_empty()).await?;
    ensure!(
        left.contains('d') || left.contains('h'),
        "countdown {left:?}"
    );
    ensure!(
        !std::path::Path::new("/tmp/pwned").exists(),
        "the window's name reached a shell"
    );

    // Deploy without a reason: refused with the window's message.
    pick_build(client, &slipway, ENV_PAGE, 1).await?;
    click(client, "#deploy-button").await?;
    let refusal = wait_for_text(client, ".deploy-form ~ p.error", |s| !s.is_empty()).await?;
    ensure!(
        refusal.contains("is frozen by the window") && refusal.contains(HOSTILE_NAME),
        "refusal: {refusal}"
    );
    ensure!(!released(&slipway), "a frozen deploy released something");
    std::fs::write(
        artifacts_dir()?.join("freeze-refused.png"),
        client.screenshot().await?,
    )?;

    // With a reason, the admin goes through; the audit log says why.
    type_into(client, "#freeze-override", "checkout is down <b>now</b>").await?;
    click(client, "#deploy-button").await?;
    job_succeeds(client).await?;
    client.goto(&slipway.url("/audit")).await?;
    wait_for_text(client, "main", |s| {
        s.contains("freeze.overridden") && s.contains("checkout is down <b>now</b>")
    })
    .await?;

    // The overview shows the freeze with its countdown.
    client.goto(&slipway.url("/")).await?;
    wait_for_text(client, "tr[data-env='demo'] .badge.frozen", |s| {
        s.starts_with("❄ frozen")
    })
    .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_freeze_that_refuses_rollbacks_lets_an_admin_roll_back_with_a_reason() -> Result<()> {
    let slipway = Slipway::start()?;
    let browser = Browser::start().await?;
    let client = &browser.client;
    sign_in_as_first_admin(client, &slipway).await?;
    for build in [1, 2] {
        press_deploy(client, &slipway, build).await?;
        job_succeeds(client).await?;
    }
    client.goto(&slipway.url(ENV_PAGE)).await?;
    wait_hydrated(client).await?;
    click(client, "details.new-freeze > summary").await?;
    fill_freeze(client, "name", "Quarter close").await?;
    choose_kind(client, "weekly").await?;
    fill_freeze(client, "days", "Mon-Sun").await?;
    fill_freeze(client, "start", "00:00").await?;
    fill_freeze(client, "end", "00:00").await?;
    fill_freeze(client, "time_zone", "UTC").await?;
    click(client, ".freeze-form [name='blocks_rollbacks']").await?;
    click(client, ".freeze-form button[type='submit']").await?;
    let note = wait_for_text(client, "#rollback-frozen", |s| !s.is_empty()).await?;
    ensure!(
        note.contains("Quarter close") && note.contains("unless you give a reason"),
        "{note}"
    );

    // Without a reason: refused with the window's message.
    let earlier = "table.releases tr[data-state='superseded']";
    press_confirmed(client, earlier).await?;
    let refusal = wait_for_text(client, "#release-history p.error", |s| !s.is_empty()).await?;
    ensure!(
        refusal.contains("is frozen by the window") && refusal.contains("Quarter close"),
        "refusal: {refusal}"
    );

    // With a reason, the admin goes through; the audit log says why.
    client.goto(&slipway.url(ENV_PAGE)).await?;
    wait_hydrated(client).await?;
    let reason = "build 2 corrupts carts <i>now</i>";
    type_into(client, &format!("{earlier} .rollback-override"), reason).await?;
    press_confirmed(client, earlier).await?;
    let job_id = job_succeeds(client).await?;
    client.goto(&slipway.url("/audit")).await?;
    wait_for_text(client, "main", |s| {
        s.contains("freeze.overridden")
            && s.contains(reason)
            && s.contains(&format!("job/{job_id}"))
    })
    .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deploy_meeting_a_running_job_waits_and_starts_after_it() -> Result<()> {
    let slipway = Slipway::start()?;
    let browser = Browser::start().await?;
    let client = &browser.client;
    sign_in_as_first_admin(client, &slipway).await?;

    // Deploys here wait for a running job; each job holds until `go` exists.
    let go = slipway.data_path("go");
    client
        .goto(&slipway.url(&format!("{ENV_PAGE}/edit")))
        .await?;
    wait_hydrated(client).await?;
    click(client, ".env-form [name='queue_deploys']").await?;
    fill(client, "before_switch", &held_until_exists(&go)).await?;
    submit_env_form(client).await?;
    wait_for_text(client, "dl.settings dd.queue-deploys", |s| {
        s.starts_with("waits")
    })
    .await?;

    press_deploy(client, &slipway, 1).await?;
    let first_job = job_page_reached(client).await?;

    // The second waits for the first; a third takes its place.
    pick_build(client, &slipway, ENV_PAGE, 2).await?;
    click(client, "#deploy-button").await?;
    let waits = wait_for_text(client, ".deploy-waits", |s| !s.is_empty()).await?;
    ensure!(
        waits.contains(&format!("waits for job #{first_job}")),
        "{waits}"
    );
    pick_build(client, &slipway, ENV_PAGE, 2).await?;
    click(client, "#deploy-button").await?;
    wait_for_text(
        client,
        ".requests tr[data-state='superseded'] .request-note",
        |s| s.contains("superseded by request #2"),
    )
    .await?;
    wait_for_text(client, ".requests tr[data-state='waiting']", |s| {
        s.contains(&format!("waits for job #{first_job}"))
    })
    .await?;

    // Once the first job ends, the waiting request starts by itself.
    std::fs::write(&go, "")?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        client.goto(&slipway.url(ENV_PAGE)).await?;
        wait_hydrated(client).await?;
        if client
            .find(Locator::Css(
                ".requests tr[data-request='2'][data-state='started'] a",
            ))
            .await
            .is_ok()
        {
            break;
        }
        ensure!(
            std::time::Instant::now() < deadline,
            "request #2 never started"
        );
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    click(client, ".requests tr[data-request='2'] a").await?;
    job_succeeds(client).await?;
    let current = std::fs::read_link(slipway.data_dir.path().join("demo-target/current"))?;
    let version = std::fs::read_to_string(current.join("VERSION"))?;
    ensure!(version.trim() == "1.1.0", "serving {version}");
    Ok(())
}

/// Waits until the environment page lists request `id` as `state`
/// (reloading: another person's answer does not reach this page live).
async fn request_reaches(client: &Client, slipway: &Slipway, id: i64, state: &str) -> Result<()> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        client.goto(&slipway.url(ENV_PAGE)).await?;
        wait_hydrated(client).await?;
        let row = format!(".requests tr[data-request='{id}'][data-state='{state}']");
        if client.find(Locator::Css(&row)).await.is_ok() {
            return Ok(());
        }
        ensure!(
            std::time::Instant::now() < deadline,
            "request #{id} never became {state}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
}

/// On the Requests page, approves request `id` with `comment`.
async fn approve_on_requests_page(
    client: &Client,
    slipway: &Slipway,
    id: i64,
    comment: &str,
) -> Result<()> {
    client.goto(&slipway.url("/requests")).await?;
    wait_hydrated(client).await?;
    let form = format!(".for-me tr[data-request='{id}'] .approve-form");
    type_into(client, &format!("{form} [name='comment']"), comment).await?;
    click(client, &format!("{form} button[type='submit']")).await?;
    wait_for_text(client, ".for-me", |s| {
        s.contains("Nothing waits for your approval")
    })
    .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deploy_to_a_protected_environment_waits_for_someone_elses_approval() -> Result<()> {
    let provider = OidcProvider::start(&OidcAccount {
        subject: "dave-subject",
        login: "dave",
        groups: &["release"],
    })?;
    let slipway = Slipway::start_with_provider(&provider, &[])?;
    let dave = Browser::start().await?;
    sign_in_with_provider(&dave.client, &slipway, "dave (viewer)").await?;
    let admin = Browser::start().await?;
    let admin = &admin.client;
    sign_in_as_first_admin(admin, &slipway).await?;
    give_role(admin, &slipway, "dave", "deployer").await?;

    // Protected, deployed to by the release group, approved by the admin
    // or (through the identity provider's group) the release group.
    admin
        .goto(&slipway.url(&format!("{ENV_PAGE}/edit")))
        .await?;
    wait_hydrated(admin).await?;
    click(admin, ".env-form [name='protected']").await?;
    fill(admin, "deployers", "group:oidc:release").await?;
    fill(admin, "approvals", "1 of user:admin group:oidc:release").await?;
    submit_env_form(admin).await?;
    wait_for_text(admin, "dl.settings dd.approvals", |s| {
        s.starts_with("1 of user:admin group:oidc:release")
    })
    .await?;

    // Dave asks; it awaits approval, and he may not approve his own.
    press_deploy(&dave.client, &slipway, 1).await?;
    let waits = wait_for_text(&dave.client, ".deploy-waits", |s| !s.is_empty()).await?;
    ensure!(waits.contains("awaiting approval"), "{waits}");
    request_reaches(&dave.client, &slipway, 1, "awaiting_approval").await?;
    let why = wait_for_text(
        &dave.client,
        ".requests tr[data-request='1'] .cannot-answer",
        |s| !s.is_empty(),
    )
    .await?;
    ensure!(why.contains("you asked for it"), "{why}");
    ensure!(
        dave.client
            .find(Locator::Css(".approve-form"))
            .await
            .is_err(),
        "dave is offered Approve on his own request"
    );
    ensure!(!released(&slipway), "released before approval");

    // The admin approves it from the Requests page; it runs as dave's.
    approve_on_requests_page(admin, &slipway, 1, "looks good <b>ship</b>").await?;
    request_reaches(admin, &slipway, 1, "started").await?;
    click(admin, ".requests tr[data-request='1'] a").await?;
    job_succeeds(admin).await?;
    wait_for_text(admin, "dd.approved-by", |s| s == "admin").await?;
    let requested = wait_for_text(admin, "dd.requested-by", |s| !s.is_empty()).await?;
    ensure!(
        requested.starts_with("dave") && requested.contains("request #1"),
        "{requested}"
    );
    admin.goto(&slipway.url(ENV_PAGE)).await?;
    wait_for_text(
        admin,
        "table.releases tr[data-state='live'] td.released-by",
        |s| s.contains("dave") && s.contains("approved by admin"),
    )
    .await?;
    admin.goto(&slipway.url("/audit")).await?;
    wait_for_text(admin, "main", |s| {
        s.contains("request.approved") && s.contains("looks good <b>ship</b>")
    })
    .await?;

    // The admin's own deploy is approved by dave, through his provider group.
    press_deploy(admin, &slipway, 2).await?;
    wait_for_text(admin, ".deploy-waits", |s| s.contains("awaiting approval")).await?;
    approve_on_requests_page(&dave.client, &slipway, 2, "").await?;
    request_reaches(admin, &slipway, 2, "started").await?;
    click(admin, ".requests tr[data-request='2'] a").await?;
    job_succeeds(admin).await?;
    wait_for_text(admin, "dd.approved-by", |s| s == "dave").await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn production_takes_only_what_went_live_upstream_and_promote_sends_it() -> Result<()> {
    let slipway = Slipway::start()?;
    let browser = Browser::start().await?;
    let client = &browser.client;
    sign_in_as_first_admin(client, &slipway).await?;

    // A production environment that takes builds only from demo.
    client.goto(&slipway.url("/apps/demo/new-env")).await?;
    wait_hydrated(client).await?;
    fill(client, "name", "production").await?;
    click(client, "#backend-select option[value='local']").await?;
    fill(
        client,
        "target_dir",
        &slipway.data_path("production-target"),
    )
    .await?;
    fill(client, "promotes_from", "demo").await?;
    submit_env_form(client).await?;
    wait_for_text(client, "dl.settings dd.promotes-from", |s| {
        s.starts_with("demo only")
    })
    .await?;

    // Nothing went live on demo yet: production offers no build.
    client
        .goto(&slipway.url("/apps/demo/envs/production"))
        .await?;
    wait_hydrated(client).await?;
    wait_for_text(client, ".promotion-note", |s| {
        s.contains("Takes builds only from demo")
    })
    .await?;
    ensure!(
        client
            .find_all(Locator::Css("#build-select option"))
            .await?
            .is_empty(),
        "production offers a build that never went live on demo"
    );

    // Build 1 goes live on demo; its page offers Promote to production.
    press_deploy(client, &slipway, 1).await?;
    job_succeeds(client).await?;
    client.goto(&slipway.url(ENV_PAGE)).await?;
    wait_hydrated(client).await?;
    click(client, "#promote-production").await?;
    job_succeeds(client).await?;
    let current = std::fs::read_link(slipway.data_dir.path().join("production-target/current"))?;
    let version = std::fs::read_to_string(current.join("VERSION"))?;
    ensure!(version.trim() == "1.0.0", "production serves {version}");

    // Production's picker offers build 1, never build 2.
    client
        .goto(&slipway.url("/apps/demo/envs/production"))
        .await?;
    wait_hydrated(client).await?;
    let offered = client
        .find_all(Locator::Css("#build-select option"))
        .await?;
    let mut values = Vec::new();
    for option in offered {
        values.push(option.attr("value").await?.unwrap_or_default());
    }
    ensure!(values == ["1"], "production offers {values:?}");
    Ok(())
}

/// "Deploy later": a time typed in the browser's own zone becomes a
/// request that waits for that instant (the page shows it in UTC), and
/// can be cancelled before it starts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_later_waits_for_the_time_given_in_the_browsers_zone() -> Result<()> {
    let slipway = Slipway::start()?;
    let browser = Browser::start().await?;
    let client = &browser.client;
    sign_in_as_first_admin(client, &slipway).await?;
    pick_build(client, &slipway, ENV_PAGE, 1).await?;
    click(client, "details.schedule > summary").await?;
    // Two hours from now on the browser's clock, as its datetime field
    // takes it (local wall time, to the minute); and the same instant in
    // UTC, as the page will say it.
    let expected = client
        .execute(
            "const at = new Date(Date.now() + 2 * 3600 * 1000); at.setSeconds(0, 0);
             const pad = (n) => String(n).padStart(2, '0');
             const local = `${at.getFullYear()}-${pad(at.getMonth() + 1)}-${pad(at.getDate())}T${pad(at.getHours())}:${pad(at.getMinutes())}`;
             const field = document.getElementById('deploy-at');
             field.value = local;
             field.dispatchEvent(new Event('input', { bubbles: true }));
             return at.toISOString().slice(0, 16).replace('T', ' ') + ':00 UTC';",
            vec![],
        )
        .await?;
    let expected = expected.as_str().unwrap_or_default().to_owned();
    ensure!(expected.ends_with(":00 UTC"), "{expected}");
    click(client, "#deploy-button").await?;
    let waits = wait_for_text(client, ".deploy-waits", |s| !s.is_empty()).await?;
    ensure!(waits.contains("Request #1 waits"), "{waits}");
    // Nothing runs meanwhile; the request says when it may start.
    ensure!(
        client.current_url().await?.path() == ENV_PAGE,
        "a deploy for later must not start now"
    );
    client.goto(&slipway.url(ENV_PAGE)).await?;
    wait_hydrated(client).await?;
    let row = wait_for_text(
        client,
        ".requests tr[data-request='1'][data-state='waiting']",
        |s| !s.is_empty(),
    )
    .await?;
    ensure!(
        row.contains(&format!("not before {expected}")),
        "the request should wait until {expected}: {row}"
    );
    Ok(())
}
