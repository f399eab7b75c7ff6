//! GitHub sign-in: OAuth2 authorization code (with PKCE and `state`), then
//! GitHub's user API for the account and, when required, its organisations.

use oauth2::basic::BasicClient;
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, Scope, TokenResponse, TokenUrl,
};
use serde::Deserialize;

use super::config::Provider;
use super::{Account, Authorization, IdentityError};

fn web_url(provider: &Provider) -> String {
    provider
        .config
        .web_url
        .clone()
        .unwrap_or_else(|| "https://github.com".into())
        .trim_end_matches('/')
        .to_owned()
}

fn api_url(provider: &Provider) -> String {
    provider
        .config
        .api_url
        .clone()
        .unwrap_or_else(|| "https://api.github.com".into())
        .trim_end_matches('/')
        .to_owned()
}

fn bad(e: impl std::fmt::Display) -> IdentityError {
    IdentityError::Provider(e.to_string())
}

type Client = oauth2::Client<
    oauth2::basic::BasicErrorResponse,
    oauth2::basic::BasicTokenResponse,
    oauth2::basic::BasicTokenIntrospectionResponse,
    oauth2::StandardRevocableToken,
    oauth2::basic::BasicRevocationErrorResponse,
    oauth2::EndpointSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointSet,
>;

fn client(provider: &Provider, redirect_url: &str) -> Result<Client, IdentityError> {
    let web = web_url(provider);
    let mut client = BasicClient::new(ClientId::new(provider.config.client_id.clone()))
        .set_auth_uri(AuthUrl::new(format!("{web}/login/oauth/authorize")).map_err(bad)?)
        .set_token_uri(TokenUrl::new(format!("{web}/login/oauth/access_token")).map_err(bad)?)
        .set_redirect_uri(RedirectUrl::new(redirect_url.to_owned()).map_err(bad)?);
    if let Some(secret) = &provider.client_secret {
        client = client.set_client_secret(ClientSecret::new(secret.expose().to_owned()));
    }
    Ok(client)
}

pub fn authorize(provider: &Provider, redirect_url: &str) -> Result<Authorization, IdentityError> {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let client = client(provider, redirect_url)?;
    let mut request = client
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("read:user".into()))
        .add_scope(Scope::new("user:email".into()))
        .set_pkce_challenge(challenge);
    if !provider.config.allowed_groups.is_empty() {
        request = request.add_scope(Scope::new("read:org".into()));
    }
    let (url, state) = request.url();
    Ok(Authorization {
        url: url.to_string(),
        state: state.secret().clone(),
        pkce_verifier: verifier.secret().clone(),
        nonce: String::new(),
    })
}

#[derive(Deserialize)]
struct GithubUser {
    id: u64,
    login: String,
    name: Option<String>,
    email: Option<String>,
}

#[derive(Deserialize)]
struct GithubOrg {
    login: String,
}

pub async fn finish(
    provider: &Provider,
    redirect_url: &str,
    code: &str,
    pkce_verifier: &str,
) -> Result<Account, IdentityError> {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(15))
        .user_agent("slipway")
        .build()
        .map_err(bad)?;
    let tokens = client(provider, redirect_url)?
        .exchange_code(AuthorizationCode::new(code.to_owned()))
        .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier.to_owned()))
        .request_async(&http)
        .await
        .map_err(|e| IdentityError::Refused(format!("GitHub refused the code: {e}")))?;
    let access = tokens.access_token().secret().clone();
    let api = api_url(provider);
    let get = |path: &str| {
        http.get(format!("{api}{path}"))
            .bearer_auth(&access)
            .header("accept", "application/vnd.github+json")
    };
    let user: GithubUser = fetch_json(get("/user")).await?;
    let groups = if provider.config.allowed_groups.is_empty() {
        Vec::new()
    } else {
        let orgs: Vec<GithubOrg> = fetch_json(get("/user/orgs")).await?;
        orgs.into_iter().map(|o| o.login).collect()
    };
    Ok(Account {
        subject: user.id.to_string(),
        display_name: user.name.unwrap_or_else(|| user.login.clone()),
        preferred_login: user.login,
        email: user.email,
        groups,
    })
}

async fn fetch_json<T: serde::de::DeserializeOwned>(
    request: reqwest::RequestBuilder,
) -> Result<T, IdentityError> {
    request
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .map_err(bad)?
        .json()
        .await
        .map_err(bad)
}
