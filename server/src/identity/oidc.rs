//! OpenID Connect sign-in (generic providers and GitLab): discovery,
//! authorization code with PKCE (S256), `state` and `nonce`, and a verified
//! ID token.

use base64::Engine as _;
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreJwsSigningAlgorithm, CoreProviderMetadata,
    CoreResponseType, CoreSubjectIdentifierType,
};
use openidconnect::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EmptyAdditionalProviderMetadata,
    IssuerUrl, JsonWebKeySet, JsonWebKeySetUrl, Nonce, PkceCodeChallenge, PkceCodeVerifier,
    RedirectUrl, ResponseTypes, Scope, TokenResponse, TokenUrl,
};

use super::config::Provider;
use super::{Account, Authorization, IdentityError};

fn http_client() -> Result<openidconnect::reqwest::Client, IdentityError> {
    openidconnect::reqwest::Client::builder()
        // Following redirects from a provider's endpoints invites SSRF.
        .redirect(openidconnect::reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(15))
        .build()
        .map_err(|e| IdentityError::Provider(format!("HTTP client: {e}")))
}

async fn metadata(
    provider: &Provider,
    http: &openidconnect::reqwest::Client,
) -> Result<CoreProviderMetadata, IdentityError> {
    let issuer = provider
        .issuer()
        .ok_or_else(|| IdentityError::Provider("no issuer configured".into()))?;
    let bad = |e: &dyn std::fmt::Display| IdentityError::Provider(e.to_string());
    let issuer = IssuerUrl::new(issuer).map_err(|e| bad(&e))?;
    let config = &provider.config;
    let (Some(auth), Some(token), Some(jwks)) = (
        &config.authorization_url,
        &config.token_url,
        &config.jwks_url,
    ) else {
        return CoreProviderMetadata::discover_async(issuer, http)
            .await
            .map_err(|e| IdentityError::Provider(format!("discovery failed: {e}")));
    };
    // Configured endpoints: the same checks, without a discovery document.
    let jwks_url = JsonWebKeySetUrl::new(jwks.clone()).map_err(|e| bad(&e))?;
    let keys = JsonWebKeySet::fetch_async(&jwks_url, http)
        .await
        .map_err(|e| {
            IdentityError::Provider(format!("fetching the provider's keys failed: {e}"))
        })?;
    Ok(CoreProviderMetadata::new(
        issuer,
        AuthUrl::new(auth.clone()).map_err(|e| bad(&e))?,
        jwks_url,
        vec![ResponseTypes::new(vec![CoreResponseType::Code])],
        vec![CoreSubjectIdentifierType::Public],
        vec![CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256],
        EmptyAdditionalProviderMetadata {},
    )
    .set_token_endpoint(Some(TokenUrl::new(token.clone()).map_err(|e| bad(&e))?))
    .set_jwks(keys))
}

/// How long the metadata fetched for a sign-in start is reused: starting a
/// sign-in is anonymous, and each one must not cost the provider a
/// discovery and a key fetch. Finishing one always fetches fresh keys.
const METADATA_TTL: std::time::Duration = std::time::Duration::from_secs(300);

/// A provider's metadata, as last fetched.
#[derive(Default)]
pub struct MetadataCache(std::sync::Mutex<Option<(std::time::Instant, CoreProviderMetadata)>>);

impl std::fmt::Debug for MetadataCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MetadataCache")
    }
}

impl MetadataCache {
    fn fresh(&self) -> Option<CoreProviderMetadata> {
        let cached = self.0.lock().unwrap_or_else(|p| p.into_inner());
        cached
            .as_ref()
            .filter(|(at, _)| at.elapsed() < METADATA_TTL)
            .map(|(_, metadata)| metadata.clone())
    }

    fn store(&self, metadata: &CoreProviderMetadata) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) =
            Some((std::time::Instant::now(), metadata.clone()));
    }
}

/// The provider's metadata, fetched now (and kept for the next start).
async fn fetch_metadata(
    provider: &Provider,
    http: &openidconnect::reqwest::Client,
) -> Result<CoreProviderMetadata, IdentityError> {
    let fetched = metadata(provider, http).await?;
    provider.oidc_metadata.store(&fetched);
    Ok(fetched)
}

/// A client for the given provider metadata.
fn client(
    provider: &Provider,
    metadata: CoreProviderMetadata,
    redirect_url: &str,
) -> Result<OidcClient, IdentityError> {
    let redirect = RedirectUrl::new(redirect_url.to_owned())
        .map_err(|e| IdentityError::Provider(e.to_string()))?;
    Ok(CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(provider.config.client_id.clone()),
        provider
            .client_secret
            .as_ref()
            .map(|s| ClientSecret::new(s.expose().to_owned())),
    )
    .set_redirect_uri(redirect))
}

/// A client made from provider metadata: authorization URL set, token and
/// user-info endpoints as the metadata says.
type OidcClient = CoreClient<
    openidconnect::EndpointSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointMaybeSet,
    openidconnect::EndpointMaybeSet,
>;

pub async fn authorize(
    provider: &Provider,
    redirect_url: &str,
) -> Result<Authorization, IdentityError> {
    let metadata = match provider.oidc_metadata.fresh() {
        Some(metadata) => metadata,
        None => fetch_metadata(provider, &http_client()?).await?,
    };
    let client = client(provider, metadata, redirect_url)?;
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut request = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("email".into()))
        .add_scope(Scope::new("profile".into()))
        .set_pkce_challenge(challenge);
    for scope in &provider.config.scopes {
        request = request.add_scope(Scope::new(scope.clone()));
    }
    let (url, state, nonce) = request.url();
    Ok(Authorization {
        url: url.to_string(),
        state: state.secret().clone(),
        pkce_verifier: verifier.secret().clone(),
        nonce: nonce.secret().clone(),
    })
}

pub async fn finish(
    provider: &Provider,
    redirect_url: &str,
    code: &str,
    pkce_verifier: &str,
    nonce: &str,
) -> Result<Account, IdentityError> {
    let http = http_client()?;
    let client = client(
        provider,
        fetch_metadata(provider, &http).await?,
        redirect_url,
    )?;
    let tokens = client
        .exchange_code(AuthorizationCode::new(code.to_owned()))
        .map_err(|e| IdentityError::Provider(e.to_string()))?
        .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier.to_owned()))
        .request_async(&http)
        .await
        .map_err(|e| IdentityError::Refused(format!("the provider refused the code: {e}")))?;
    let id_token = tokens
        .id_token()
        .ok_or_else(|| IdentityError::Refused("the provider sent no ID token".into()))?;
    let claims = id_token
        .claims(&client.id_token_verifier(), &Nonce::new(nonce.to_owned()))
        .map_err(|e| IdentityError::Refused(format!("the ID token is not valid: {e}")))?;
    // The signature over the payload is verified above; read the groups claim from it.
    let groups = groups_from_payload(&id_token.to_string(), &provider.groups_claim());
    let email = claims.email().map(|e| e.as_str().to_owned());
    let preferred = claims
        .preferred_username()
        .map(|u| u.as_str().to_owned())
        .or_else(|| {
            email
                .as_ref()
                .and_then(|e| e.split('@').next().map(str::to_owned))
        })
        .unwrap_or_else(|| claims.subject().as_str().to_owned());
    let display_name = claims
        .name()
        .and_then(|n| n.get(None))
        .map(|n| n.as_str().to_owned())
        .unwrap_or_else(|| preferred.clone());
    Ok(Account {
        subject: claims.subject().as_str().to_owned(),
        preferred_login: preferred,
        display_name,
        email,
        groups,
    })
}

/// The string list in `claim` of a JWT's payload (a missing claim: none).
fn groups_from_payload(jwt: &str, claim: &str) -> Vec<String> {
    let Some(payload) = jwt.split('.').nth(1) else {
        return Vec::new();
    };
    let Ok(bytes) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload) else {
        return Vec::new();
    };
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
        return Vec::new();
    };
    match value.get(claim) {
        Some(serde_json::Value::Array(items)) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        Some(serde_json::Value::String(one)) => vec![one.clone()],
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_are_read_from_the_payload() {
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(br#"{"sub":"1","groups":["eng","ops"],"team":"red"}"#);
        let jwt = format!("h.{payload}.s");
        assert_eq!(groups_from_payload(&jwt, "groups"), ["eng", "ops"]);
        assert_eq!(groups_from_payload(&jwt, "team"), ["red"]);
        assert!(groups_from_payload(&jwt, "missing").is_empty());
        assert!(groups_from_payload("garbage", "groups").is_empty());
    }
}
