pub mod audit;
pub mod builds;
pub mod environment;
pub mod environment_form;
pub mod job;
pub mod login;
pub mod overview;
pub mod qa;
