//! QA environments: copies of a docker environment that live for hours,
//! and the job that removes one.

use crate::auth::{Actor, Permission};
use crate::backends::BackendConfig;
use crate::domain::{BranchName, EnvName, Environment, Job};
use crate::error::{InvalidInput, Result};

use super::{Engine, QaRequest};

impl Engine {
    /// Creates a QA environment from a docker environment's settings, with
    /// its own published port, and queues the job that starts `build` there.
    pub async fn create_qa_environment(
        &self,
        actor: &Actor,
        app: &str,
        request: QaRequest,
    ) -> Result<(Environment, Job)> {
        self.create_qa(actor, app, request, None).await
    }

    /// [`Engine::create_qa_environment`], for a QA environment that deploys
    /// builds of `follows` by itself (a branch preview).
    pub(super) async fn create_qa(
        &self,
        actor: &Actor,
        app: &str,
        request: QaRequest,
        follows: Option<crate::domain::BranchPattern>,
    ) -> Result<(Environment, Job)> {
        actor.require(Permission::Deploy)?;
        let base = self.find_environment(app, &request.based_on).await?;
        // A copy of a protected environment's settings is for its deployers.
        self.require_on(
            actor,
            Permission::Deploy,
            &base,
            "copy into a QA environment",
        )
        .await?;
        let BackendConfig::Docker(base_config) = &base.config else {
            return Err(InvalidInput::new(
                "based_on",
                format!(
                    "{} is not a docker environment: QA environments copy a docker environment",
                    base.path()
                ),
            )
            .into());
        };
        let build = self.build_of(&base, request.build_id).await?;
        let name = match request
            .name
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty())
        {
            Some(name) => EnvName::parse(name)?,
            None => EnvName::for_branch(&BranchName::parse(&build.branch)?),
        };
        if !(1..=720).contains(&request.ttl_hours) {
            return Err(
                InvalidInput::new("ttl_hours", "a QA environment lives 1-720 hours").into(),
            );
        }
        let mut config = base_config.clone();
        config.network = None;
        config.keep_containers = 1;
        let taken: Vec<u16> = self
            .published_ports(&config.publish_address, None)
            .await?
            .into_iter()
            .map(|(port, _)| port)
            .collect();
        config.publish_port = crate::backends::docker::free_port(&config, &taken)?;
        config.validate()?;
        let app = self.find_application(app).await?;
        let new = crate::store::qa::NewQaEnvironment {
            name,
            config: BackendConfig::Docker(config),
            expires_at: crate::time::now() + chrono::Duration::hours(i64::from(request.ttl_hours)),
            based_on: base.path(),
            based_on_id: base.id,
            auto_deploy: follows,
        };
        let created = self
            .store
            .create_qa_environment(&actor.login, &app, &new, &build)
            .await?;
        self.runners.wake.notify_one();
        Ok(created)
    }

    /// The ports docker environments (but `except`) publish on `address`,
    /// with the environment that owns each.
    pub(super) async fn published_ports(
        &self,
        address: &str,
        except: Option<i64>,
    ) -> Result<Vec<(u16, String)>> {
        Ok(self
            .store
            .environments()
            .await?
            .into_iter()
            .filter(|e| Some(e.id) != except)
            .filter_map(|e| match &e.config {
                BackendConfig::Docker(c) if c.publish_address.trim() == address.trim() => {
                    Some((c.publish_port, e.path()))
                }
                _ => None,
            })
            .collect())
    }

    /// Queues the job that removes a QA environment and everything it runs.
    pub async fn destroy_environment(&self, actor: &Actor, app: &str, env: &str) -> Result<Job> {
        let env = self
            .authorize_on(actor, Permission::Deploy, app, env, "destroy")
            .await?;
        let job = self
            .store
            .enqueue_destroy(
                &actor.login,
                &env,
                crate::store::qa::DestroyReason::Requested,
            )
            .await?;
        self.runners.wake.notify_one();
        Ok(job)
    }
}
