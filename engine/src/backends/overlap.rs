//! Whether two environments' settings have them release into the same
//! place — one directory, one host's deploy path, one published port —
//! where each would overwrite the other's `current`, prune the other's
//! releases or take its traffic, while the history of both says otherwise.

use std::path::Path;

use super::BackendConfig;
use crate::error::InvalidInput;

/// One directory inside (or equal to) the other.
fn nested(a: &Path, b: &Path) -> bool {
    a.starts_with(b) || b.starts_with(a)
}

/// Whether two published addresses (on one port) take the same connections.
fn same_listener(a: &super::docker::DockerConfig, b: &super::docker::DockerConfig) -> bool {
    match (a.publish_ip(), b.publish_ip()) {
        (Ok(a), Ok(b)) => a == b || a.is_unspecified() || b.is_unspecified(),
        _ => a.publish_address.trim() == b.publish_address.trim(),
    }
}

/// Why `new` cannot be saved beside `existing` (owned by `owner`, `app/env`).
pub fn conflict(
    new: &BackendConfig,
    existing: &BackendConfig,
    owner: &str,
) -> Option<InvalidInput> {
    match (new, existing) {
        (BackendConfig::Local(a), BackendConfig::Local(b)) if nested(&a.target_dir, &b.target_dir) => {
            Some(InvalidInput::new(
                "target_dir",
                format!(
                    "{} overlaps {}, where {owner} releases: two environments in one directory overwrite each other's current",
                    a.target_dir.display(),
                    b.target_dir.display()
                ),
            ))
        }
        (BackendConfig::Ssh(a), BackendConfig::Ssh(b)) if nested(&a.deploy_path, &b.deploy_path) => {
            let theirs = b.host_addrs().unwrap_or_default();
            let shared = a
                .host_addrs()
                .unwrap_or_default()
                .into_iter()
                .find(|host| theirs.contains(host))?;
            Some(InvalidInput::new(
                "deploy_path",
                format!(
                    "{} on {shared} overlaps {}, where {owner} releases: two environments in one directory overwrite each other's current",
                    a.deploy_path.display(),
                    b.deploy_path.display()
                ),
            ))
        }
        // Slipway's nginx listens on this machine for every docker
        // environment: one port on one address (or on all of them, 0.0.0.0)
        // is one listener.
        (BackendConfig::Docker(a), BackendConfig::Docker(b))
            if a.publish_port == b.publish_port && same_listener(a, b) =>
        {
            Some(InvalidInput::new(
                "publish_port",
                format!(
                    "{}:{} is already published by {owner}",
                    a.publish_address.trim(),
                    a.publish_port
                ),
            ))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backends::docker::DockerConfig;
    use crate::backends::local::LocalConfig;
    use crate::backends::ssh::SshConfig;

    fn local(dir: &str) -> BackendConfig {
        BackendConfig::Local(LocalConfig::new(dir))
    }

    fn ssh(hosts: &[&str], path: &str) -> BackendConfig {
        let config: SshConfig = serde_json::from_value(serde_json::json!({
            "hosts": hosts,
            "user": "deploy",
            "known_hosts": "web1 ssh-ed25519 AAAA",
            "deploy_path": path,
        }))
        .unwrap();
        BackendConfig::Ssh(config)
    }

    #[test]
    fn one_directory_or_one_inside_another_is_refused() {
        for (a, b) in [
            ("/srv/shop", "/srv/shop"),
            ("/srv/shop/", "/srv/shop"),
            ("/srv/shop/staging", "/srv/shop"),
            ("/srv", "/srv/shop"),
        ] {
            let refused = conflict(&local(a), &local(b), "shop/prod").expect(a);
            assert_eq!(refused.field, "target_dir");
            assert!(refused.message.contains("shop/prod"), "{}", refused.message);
        }
        for (a, b) in [("/srv/shop", "/srv/shop-staging"), ("/srv/a", "/srv/b")] {
            assert!(conflict(&local(a), &local(b), "x/y").is_none(), "{a} {b}");
        }
    }

    #[test]
    fn ssh_paths_clash_only_on_a_shared_host() {
        let prod = ssh(&["web1", "web2:2222"], "/srv/shop");
        let same_hosts = ssh(&["web2:2222"], "/srv/shop/current-copy");
        let refused = conflict(&same_hosts, &prod, "shop/prod").expect("shared host");
        assert_eq!(refused.field, "deploy_path");
        assert!(refused.message.contains("web2:2222"), "{}", refused.message);
        // Another port is another host; another path is another directory.
        assert!(conflict(&ssh(&["web2"], "/srv/shop"), &prod, "shop/prod").is_none());
        assert!(conflict(&ssh(&["web1"], "/srv/blog"), &prod, "shop/prod").is_none());
    }

    #[test]
    fn one_published_address_and_port_is_refused() {
        let a = BackendConfig::Docker(DockerConfig::new(80, 18080));
        let b = BackendConfig::Docker(DockerConfig::new(8080, 18080));
        let c = BackendConfig::Docker(DockerConfig::new(80, 18081));
        assert_eq!(conflict(&a, &b, "shop/web").unwrap().field, "publish_port");
        assert!(conflict(&a, &c, "shop/web").is_none());
        assert!(conflict(&a, &local("/srv"), "shop/web").is_none());
        // All addresses include this one; another address is another listener.
        let docker_at = |address: &str| {
            let mut config = DockerConfig::new(80, 18080);
            config.publish_address = address.into();
            BackendConfig::Docker(config)
        };
        assert!(conflict(&docker_at("0.0.0.0"), &a, "shop/web").is_some());
        assert!(conflict(&a, &docker_at("0.0.0.0"), "shop/web").is_some());
        assert!(conflict(&docker_at("127.0.0.2"), &a, "shop/web").is_none());
    }
}
