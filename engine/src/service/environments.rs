//! Changing environments: settings, protection, locks and variables.

use crate::auth::{Actor, DeployPolicy, Permission};
use crate::backends::BackendConfig;
use crate::domain::{EnvName, EnvVar, Environment, EnvironmentKind};
use crate::error::{Error, InvalidInput, Result};
use crate::store::environments::EnvironmentSpec;

use super::{Engine, EnvVarRequest};

impl Engine {
    pub async fn create_environment(
        &self,
        actor: &Actor,
        app: &str,
        name: &str,
        config: BackendConfig,
        protection: impl Into<DeployPolicy>,
    ) -> Result<Environment> {
        actor.require(Permission::ManageEnvironments)?;
        let app = self.find_application(app).await?;
        let name = EnvName::parse(name)?;
        config.validate()?;
        let protection = protection.into();
        check_previews(&config, EnvironmentKind::Permanent, &protection)?;
        self.check_promotion_source(&app.name, &name, &protection)
            .await?;
        self.check_no_shared_target(&config, None).await?;
        self.store
            .create_environment(
                &actor.login,
                &app,
                &EnvironmentSpec {
                    name,
                    config,
                    protection,
                },
            )
            .await
    }

    pub async fn update_environment(
        &self,
        actor: &Actor,
        app: &str,
        env: &str,
        config: BackendConfig,
        protection: impl Into<DeployPolicy>,
    ) -> Result<Environment> {
        actor.require(Permission::ManageEnvironments)?;
        config.validate()?;
        let env = self.find_environment(app, env).await?;
        let protection = protection.into();
        check_previews(&config, env.kind, &protection)?;
        let name = EnvName::parse(&env.name)?;
        self.check_promotion_source(&env.application, &name, &protection)
            .await?;
        self.check_no_shared_target(&config, Some(env.id)).await?;
        self.store
            .update_environment(&actor.login, &env, &config, &protection)
            .await
    }

    pub async fn delete_environment(&self, actor: &Actor, app: &str, env: &str) -> Result<()> {
        actor.require(Permission::ManageEnvironments)?;
        let env = self.find_environment(app, env).await?;
        self.store.delete_environment(&actor.login, &env).await
    }

    pub async fn lock(&self, actor: &Actor, app: &str, env: &str, reason: &str) -> Result<()> {
        let env = self
            .authorize_on(actor, Permission::Lock, app, env, "lock")
            .await?;
        let reason = reason.trim();
        if reason.is_empty() || reason.len() > 500 {
            return Err(InvalidInput::new(
                "reason",
                "say why the environment is locked (1-500 characters)",
            )
            .into());
        }
        let events = self
            .store
            .lock_environment(&actor.login, &env, reason)
            .await?;
        events.into_iter().for_each(|event| self.hub.publish(event));
        Ok(())
    }

    pub async fn unlock(&self, actor: &Actor, app: &str, env: &str) -> Result<()> {
        let env = self
            .authorize_on(actor, Permission::Lock, app, env, "unlock")
            .await?;
        self.store.unlock_environment(&actor.login, &env).await
    }

    pub async fn set_env_var(
        &self,
        actor: &Actor,
        app: &str,
        env: &str,
        var: EnvVarRequest,
    ) -> Result<()> {
        actor.require(Permission::ManageEnvironments)?;
        let name = crate::domain::VarName::parse(&var.name)?.to_string();
        if var.value.len() > 64 * 1024 || var.value.contains('\0') {
            return Err(InvalidInput::new("value", "a value is at most 64 KiB of text").into());
        }
        // A shorter secret could not be masked in logs without masking
        // ordinary text too: refuse it rather than show it.
        if var.secret && var.value.len() < crate::runtime::MIN_SECRET_LEN {
            return Err(InvalidInput::new(
                "value",
                format!(
                    "a secret is at least {} characters: shorter ones cannot be masked in logs",
                    crate::runtime::MIN_SECRET_LEN
                ),
            )
            .into());
        }
        let env = self.find_environment(app, env).await?;
        self.store
            .set_env_var(
                &actor.login,
                &env,
                &EnvVar {
                    name,
                    value: var.value,
                    secret: var.secret,
                },
            )
            .await
    }

    pub async fn delete_env_var(
        &self,
        actor: &Actor,
        app: &str,
        env: &str,
        name: &str,
    ) -> Result<()> {
        actor.require(Permission::ManageEnvironments)?;
        let env = self.find_environment(app, env).await?;
        self.store.delete_env_var(&actor.login, &env, name).await
    }

    /// No two environments release into one place: one directory, one
    /// host's deploy path, one published address and port
    /// ([`crate::backends::overlap`]).
    pub(super) async fn check_no_shared_target(
        &self,
        config: &BackendConfig,
        except: Option<i64>,
    ) -> Result<()> {
        for other in self.store.environments().await? {
            if Some(other.id) == except {
                continue;
            }
            if let Some(clash) =
                crate::backends::overlap::conflict(config, &other.config, &other.path())
            {
                return Err(clash.into());
            }
        }
        Ok(())
    }
}

/// Branch previews copy a docker environment (its own published port is
/// all they change); a preview is not copied again.
impl Engine {
    /// An environment promotes from another of its application, not from
    /// itself, and not in a circle (where no build could ever go).
    async fn check_promotion_source(
        &self,
        app: &str,
        env: &EnvName,
        policy: &DeployPolicy,
    ) -> Result<()> {
        let mut source = policy.promotes_from.clone();
        let mut seen = vec![env.clone()];
        while let Some(name) = source {
            if seen.contains(&name) {
                return Err(InvalidInput::new(
                    "promotes_from",
                    format!("{app}/{name} would take builds, through promotion, from {app}/{env} itself"),
                )
                .into());
            }
            let upstream = match self.find_environment(app, name.as_str()).await {
                Ok(upstream) => upstream,
                Err(Error::NotFound(_)) => {
                    return Err(InvalidInput::new(
                        "promotes_from",
                        format!("{app} has no environment {name} to take builds from"),
                    )
                    .into())
                }
                Err(e) => return Err(e),
            };
            seen.push(name);
            source = upstream.promotes_from;
        }
        Ok(())
    }
}

fn check_previews(
    config: &BackendConfig,
    kind: EnvironmentKind,
    policy: &DeployPolicy,
) -> std::result::Result<(), InvalidInput> {
    if policy.previews.is_none() {
        return Ok(());
    }
    if kind == EnvironmentKind::Qa {
        return Err(InvalidInput::new(
            "previews",
            "a QA environment cannot have branch previews of its own",
        ));
    }
    match config {
        BackendConfig::Docker(_) => Ok(()),
        _ => Err(InvalidInput::new(
            "previews",
            "branch previews are QA environments, which copy a docker environment: set them on one",
        )),
    }
}
