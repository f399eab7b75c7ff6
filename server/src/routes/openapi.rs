//! The OpenAPI document of the JSON API, generated from the handlers'
//! annotations and the types they take and return.

use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{
    api, api_audit, api_changes, api_environments, api_freezes, api_insight, api_notifications,
    api_requests, events, packages,
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Slipway API",
        description = "Register builds, deploy and roll back, read jobs, releases and the audit log (filtered, keyset-paged), list environments, \
                       lock and unlock them, follow, approve, reject and cancel deploy requests (a deploy waits for approvals, a time given with `at`, or a running job), create and destroy QA environments, manage freeze windows \
                       (a deploy or rollback may carry an admin's `freeze_override` reason). \
                       Authenticate with `Authorization: Bearer <token>` (tokens carry scopes: \
                       read, builds:write, deploy). Job events stream as server-sent events \
                       from `GET /events/jobs/{id}` (resume with `Last-Event-ID`)."
    ),
    paths(
        api::register_build,
        api::deploy,
        api::rollback,
        api::job,
        api::cancel,
        api::abandon,
        api::resume,
        api::releases,
        api::builds,
        api_environments::applications,
        api_environments::lock,
        api_environments::unlock,
        api_environments::create_qa,
        api_environments::destroy,
        api_freezes::list,
        api_freezes::create,
        api_freezes::delete,
        api_requests::promote,
        api_audit::audit,
        api_audit::checkpoints,
        api_insight::dora,
        api_insight::app_dora,
        api_insight::app_dora_csv,
        api_insight::dora_csv,
        api_insight::timeline,
        api_changes::deploy_changes,
        api_changes::job_changes,
        api_notifications::list,
        api_notifications::create,
        api_notifications::delete,
        api_notifications::deliveries,
        api_requests::pending,
        api_requests::approve,
        api_requests::reject,
        api_requests::request,
        api_requests::cancel,
        packages::upload,
        events::job_events,
    ),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// `GET /api/openapi.json`
pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
