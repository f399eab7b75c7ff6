//! Admin work in the browser: give someone who signed in with the identity
//! provider a role, make an API token (shown once), use it, revoke it.

use anyhow::Result;
use end2end::{
    give_role, press_confirmed, sign_in_as_first_admin, sign_in_with_provider, wait_for_text,
    wait_hydrated, Browser, OidcAccount, OidcProvider, Slipway,
};
use fantoccini::Locator;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_gives_a_role_and_a_person_makes_uses_and_revokes_a_token() -> Result<()> {
    let provider = OidcProvider::start(&OidcAccount {
        subject: "carol-subject",
        login: "carol",
        groups: &["ops"],
    })?;
    let slipway = Slipway::start_with_provider(&provider, &[])?;

    // Carol signs in once through the provider: a viewer.
    let carol = Browser::start().await?;
    sign_in_with_provider(&carol.client, &slipway, "carol (viewer)").await?;

    // The admin makes her a deployer on the Users page.
    let admin = Browser::start().await?;
    let client = &admin.client;
    sign_in_as_first_admin(client, &slipway).await?;
    give_role(client, &slipway, "carol", "deployer").await?;
    wait_for_text(client, "tr[data-user='carol']", |t| t.contains("ops")).await?;

    // Carol makes a token with the deploy scope on the Tokens page.
    let client = &carol.client;
    client.goto(&slipway.url("/tokens")).await?;
    wait_hydrated(client).await?;
    client
        .find(Locator::Css("[name='name']"))
        .await?
        .send_keys("ci-main")
        .await?;
    client
        .find(Locator::Css("input[name='scope_deploy']"))
        .await?
        .click()
        .await?;
    client
        .find(Locator::Css("input[name='scope_read']"))
        .await?
        .click()
        .await?;
    end2end::submit_env_form(client).await?;
    let secret = wait_for_text(client, "#new-token code.secret", |t| t.len() == 64).await?;
    wait_for_text(client, "table.tokens", |t| {
        t.contains("ci-main") && t.contains("read deploy")
    })
    .await?;

    // The token works for what it grants, as carol.
    let http = reqwest::Client::new();
    let deploy = http
        .post(slipway.url("/api/apps/demo/envs/demo/deploy"))
        .bearer_auth(&secret)
        .json(&serde_json::json!({ "build_id": 1 }))
        .send()
        .await?;
    anyhow::ensure!(
        deploy.status() == 202,
        "deploy with the token: {}",
        deploy.status()
    );
    let register = http
        .post(slipway.url("/api/builds"))
        .bearer_auth(&secret)
        .json(&serde_json::json!({}))
        .send()
        .await?;
    anyhow::ensure!(
        register.status() == 403,
        "no builds:write scope: {}",
        register.status()
    );

    // After a reload the secret is gone from the page; revoke the token.
    client.refresh().await?;
    wait_hydrated(client).await?;
    wait_for_text(client, "table.tokens", |t| {
        t.contains("ci-main") && !t.contains(&secret)
    })
    .await?;
    let question = press_confirmed(client, "table.tokens").await?;
    anyhow::ensure!(question.contains("ci-main"), "{question}");
    wait_for_text(client, "table.tokens", |t| t.contains("revoked")).await?;
    let after = http
        .get(slipway.url("/api/jobs/1"))
        .bearer_auth(&secret)
        .send()
        .await?;
    anyhow::ensure!(after.status() == 401, "revoked token: {}", after.status());

    // The admin finds all of it in the audit log.
    let client = &admin.client;
    client.goto(&slipway.url("/audit")).await?;
    wait_hydrated(client).await?;
    for action in [
        "user.role_changed",
        "api_token.created",
        "api_token.used",
        "api_token.revoked",
    ] {
        wait_for_text(client, "main", |t| t.contains(action)).await?;
    }
    Ok(())
}
