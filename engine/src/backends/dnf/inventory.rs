//! What each host of a dnf environment has installed, compared with what
//! Slipway released there: a host on another version has drifted.

use std::time::Duration;

use futures::future::join_all;
use serde::{Deserialize, Serialize};

use super::hosts::{Hosts, Targets};
use super::plan;
use crate::domain::settings::dnf::DnfConfig;

const QUERY_TIMEOUT: Duration = Duration::from_secs(60);

/// One host's installed version(s) and how they compare with the live release.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostVersion {
    pub host: String,
    /// `name-version-release` per installed arch; empty when not installed.
    pub installed: Vec<String>,
    pub status: VersionStatus,
    /// Why the host could not be asked.
    pub error: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VersionStatus {
    /// Exactly the live release's version.
    Live,
    /// Another version Slipway released here earlier (a failed or partial job).
    Released,
    /// A version Slipway never released here: drift.
    Drift,
    NotInstalled,
    Unknown,
}

impl VersionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            VersionStatus::Live => "live",
            VersionStatus::Released => "released earlier",
            VersionStatus::Drift => "drift",
            VersionStatus::NotInstalled => "not installed",
            VersionStatus::Unknown => "unknown",
        }
    }
}

/// Classifies what a host has against the live version and the versions
/// Slipway has ever released to this environment.
pub fn classify(installed: &[String], live: Option<&str>, released: &[String]) -> VersionStatus {
    if installed.is_empty() {
        return match live {
            Some(_) => VersionStatus::Drift,
            None => VersionStatus::NotInstalled,
        };
    }
    if installed.iter().all(|v| Some(v.as_str()) == live) {
        VersionStatus::Live
    } else if installed.iter().all(|v| released.contains(v)) {
        VersionStatus::Released
    } else {
        VersionStatus::Drift
    }
}

/// Asks every host what it has installed (`rpm -q`), in parallel.
pub async fn installed_versions(
    config: &DnfConfig,
    live: Option<&str>,
    released: &[String],
) -> Result<Vec<HostVersion>, String> {
    let targets = Targets::resolve(config).await?;
    let (hosts, unreachable) = Hosts::connect(None, config, &targets, 0).await?;
    let script = plan::installed(config);
    let mut report: Vec<HostVersion> = join_all(hosts.connected.iter().map(|host| {
        let script = &script;
        async move {
            match host.run(script, QUERY_TIMEOUT, &|_, _| {}).await {
                Ok(out) if out.success => {
                    let installed = plan::values(&out.stdout, plan::INSTALLED);
                    HostVersion {
                        host: host.name.clone(),
                        status: classify(&installed, live, released),
                        installed,
                        error: None,
                    }
                }
                Ok(out) => unknown(&host.name, out.reason()),
                Err(e) => unknown(&host.name, e.to_string()),
            }
        }
    }))
    .await;
    hosts.close().await;
    report.extend(
        unreachable
            .into_iter()
            .map(|down| unknown(&down.name, down.error)),
    );
    let order = targets.names();
    report.sort_by_key(|h| order.iter().position(|n| *n == h.host));
    Ok(report)
}

fn unknown(host: &str, error: String) -> HostVersion {
    HostVersion {
        host: host.to_owned(),
        installed: Vec::new(),
        status: VersionStatus::Unknown,
        error: Some(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drift_is_a_version_slipway_did_not_release() {
        let released = vec!["shop-1.0-1".to_owned(), "shop-1.0-2".to_owned()];
        let live = Some("shop-1.0-2");
        let s = |v: &[&str]| {
            let v: Vec<String> = v.iter().map(|s| (*s).to_owned()).collect();
            classify(&v, live, &released)
        };
        assert_eq!(s(&["shop-1.0-2"]), VersionStatus::Live);
        assert_eq!(s(&["shop-1.0-1"]), VersionStatus::Released);
        assert_eq!(s(&["shop-0.9-7"]), VersionStatus::Drift);
        assert_eq!(s(&[]), VersionStatus::Drift);
        assert_eq!(classify(&[], None, &[]), VersionStatus::NotInstalled);
    }
}
