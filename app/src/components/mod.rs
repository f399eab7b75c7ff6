pub mod allowed;
pub mod changes;
pub mod confirm;
pub mod errors;
pub mod layout;
pub mod progress;
pub mod state;
