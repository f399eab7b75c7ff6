//! Registering an application.

use crate::auth::{Actor, Permission};
use crate::domain::{AppName, Application};
use crate::error::{InvalidInput, Result};

use super::Engine;

impl Engine {
    pub async fn create_application(
        &self,
        actor: &Actor,
        name: &str,
        repository_url: Option<&str>,
    ) -> Result<Application> {
        actor.require(Permission::ManageApplications)?;
        let name = AppName::parse(name)?;
        let repository_url = repository_url.map(str::trim).filter(|s| !s.is_empty());
        if let Some(url) = repository_url {
            crate::domain::changes::check_repository_url(url)
                .map_err(|why| InvalidInput::new("repository_url", why))?;
        }
        self.store
            .create_application(&actor.login, &name, repository_url)
            .await
    }
}
