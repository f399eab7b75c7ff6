//! Slipway's bare mirrors of applications' repositories, kept with the
//! `git` program under `<data dir>/mirrors/<application>.git`: fetched when
//! a build is registered and when a push webhook arrives, and walked
//! locally to list the commits between two builds.
//!
//! `git` runs without a shell, with its arguments as given; a URL is always
//! after `--`, only the file, git, http(s) and ssh transports are allowed,
//! and git never prompts. Each fetch and walk has a time limit.

mod mirror;

pub use mirror::{GitError, Mirrors};
