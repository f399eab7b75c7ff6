//! What every executor needs, written once: per-host journaling and log
//! lines ([`report`]), fan-out over a fleet with a concurrency limit
//! ([`fleet`]), a streamed, journaled command on a host ([`remote`]) and
//! a local `sh -c` that owns its process group ([`local_shell`]).

pub mod fleet;
pub mod local_shell;
pub mod remote;
pub mod report;

pub use fleet::{connect_fleet, each_limited, Unreachable};
pub use local_shell::{run_sh, ShellError, ShellOptions};
pub use remote::{line_forwarder, run_step, Echo, RemoteStep, RunsScripts, StepError};
pub use report::{At, Reporter};
