//! The release timeline as its page draws it.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MarkInfo {
    pub column: u32,
    /// live, superseded, failed, rolled_back, interrupted or running.
    pub outcome: String,
    pub releases: u32,
    /// The newest release's job, which the mark links to.
    pub job_id: i64,
    /// What hovering says.
    pub title: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LaneInfo {
    /// `app/env`.
    pub environment: String,
    pub marks: Vec<MarkInfo>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TickInfo {
    /// Where on the axis, 0 (the start) to 1 (now).
    pub at: f64,
    pub label: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TimelineInfo {
    /// day, week or quarter.
    pub zoom: String,
    /// The application shown (empty: all).
    pub app: String,
    pub applications: Vec<String>,
    pub from: String,
    pub to: String,
    pub columns: u32,
    pub lanes: Vec<LaneInfo>,
    pub ticks: Vec<TickInfo>,
    pub releases: usize,
}
