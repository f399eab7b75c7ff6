pub mod changes;
pub mod errors;
pub mod layout;
pub mod progress;
pub mod state;
