//! What a docker release creates, as data: names, labels, the container's
//! create request, and the traffic switch's nginx configuration. Pure and
//! unit-tested; the executor only sends these to the engine and to nginx.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use bollard::models::{
    ContainerCreateBody, EndpointSettings, HostConfig, NetworkingConfig, PortBinding,
    RestartPolicy, RestartPolicyNameEnum,
};

use super::{DockerConfig, ImageRef};

/// Every object Slipway creates carries this label; nothing without it is touched.
pub const LABEL_MANAGED: &str = "slipway.managed";
pub const LABEL_APP: &str = "slipway.app";
pub const LABEL_ENV: &str = "slipway.env";
pub const LABEL_RELEASE: &str = "slipway.release";
pub const LABEL_BUILD: &str = "slipway.build";
pub const LABEL_JOB: &str = "slipway.job";
/// A digest of the environment's variables the container was made with.
pub const LABEL_VARS: &str = "slipway.vars";

/// The response header naming the release that answered through the switch.
pub const RELEASE_HEADER: &str = "x-slipway-release";

/// An environment's identity in Docker and on disk (both are slugs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvIdentity {
    pub app: String,
    pub env: String,
}

impl EnvIdentity {
    pub fn new(app: &str, env: &str) -> Self {
        Self {
            app: app.to_owned(),
            env: env.to_owned(),
        }
    }

    /// `app.env`: names hold no '.', so no two environments share a slug
    /// (with '-' between, `shop`/`api-prod` and `shop-api`/`prod` would
    /// share one, and with it a proxy, a network and containers' names).
    fn slug(&self) -> String {
        format!("{}.{}", self.app, self.env)
    }

    pub fn container_name(&self, release_key: &str) -> String {
        format!("slipway-{}.{release_key}", self.slug())
    }

    pub fn network_name(&self, config: &DockerConfig) -> String {
        config
            .network
            .clone()
            .unwrap_or_else(|| format!("slipway-{}", self.slug()))
    }

    /// Label filters selecting exactly this environment's objects.
    pub fn label_filters(&self) -> Vec<String> {
        vec![
            format!("{LABEL_MANAGED}=true"),
            format!("{LABEL_APP}={}", self.app),
            format!("{LABEL_ENV}={}", self.env),
        ]
    }

    pub fn labels(&self) -> HashMap<String, String> {
        HashMap::from([
            (LABEL_MANAGED.to_owned(), "true".to_owned()),
            (LABEL_APP.to_owned(), self.app.clone()),
            (LABEL_ENV.to_owned(), self.env.clone()),
        ])
    }
}

/// One release's container.
pub struct ContainerRequest<'a> {
    pub identity: &'a EnvIdentity,
    pub config: &'a DockerConfig,
    pub image: &'a ImageRef,
    pub release_key: &'a str,
    pub build_id: i64,
    pub job_id: i64,
    /// The environment's variables and Slipway's, `NAME=value`.
    pub env: Vec<(String, String)>,
    /// [`vars_digest`] of the environment's own variables.
    pub vars_digest: &'a str,
}

/// A digest of an environment's variables, in any order: a kept container
/// made with other values (a secret rotated since) is not started again.
pub fn vars_digest<'v>(vars: impl IntoIterator<Item = (&'v str, &'v str)>) -> String {
    use sha2::{Digest, Sha256};
    let mut pairs: Vec<_> = vars.into_iter().collect();
    pairs.sort_unstable();
    let mut hasher = Sha256::new();
    for (name, value) in pairs {
        hasher.update((name.len() as u64).to_le_bytes());
        hasher.update(name.as_bytes());
        hasher.update((value.len() as u64).to_le_bytes());
        hasher.update(value.as_bytes());
    }
    hex::encode(hasher.finalize())
}

/// The create request: the image, its variables, labels, the container
/// port published on the loopback at a port Docker picks, the network,
/// limits and a restart policy (the live container survives a reboot).
pub fn container_body(req: &ContainerRequest<'_>) -> ContainerCreateBody {
    let port = format!("{}/tcp", req.config.container_port);
    let mut labels = req.identity.labels();
    labels.insert(LABEL_RELEASE.to_owned(), req.release_key.to_owned());
    labels.insert(LABEL_BUILD.to_owned(), req.build_id.to_string());
    labels.insert(LABEL_JOB.to_owned(), req.job_id.to_string());
    labels.insert(LABEL_VARS.to_owned(), req.vars_digest.to_owned());
    let network = req.identity.network_name(req.config);
    ContainerCreateBody {
        image: Some(req.image.as_str().to_owned()),
        env: Some(
            req.env
                .iter()
                .map(|(name, value)| format!("{name}={value}"))
                .collect(),
        ),
        labels: Some(labels),
        exposed_ports: Some(vec![port.clone()]),
        host_config: Some(HostConfig {
            port_bindings: Some(HashMap::from([(
                port,
                Some(vec![PortBinding {
                    host_ip: Some("127.0.0.1".to_owned()),
                    host_port: Some(String::new()),
                }]),
            )])),
            network_mode: Some(network.clone()),
            memory: req.config.memory_mb.map(|mb| (mb * 1024 * 1024) as i64),
            nano_cpus: req.config.cpus.map(|c| (c * 1e9) as i64),
            restart_policy: Some(RestartPolicy {
                name: Some(RestartPolicyNameEnum::UNLESS_STOPPED),
                maximum_retry_count: None,
            }),
            ..Default::default()
        }),
        networking_config: Some(NetworkingConfig {
            endpoints_config: Some(HashMap::from([(network, EndpointSettings::default())])),
        }),
        ..Default::default()
    }
}

/// Where one environment's nginx keeps its files.
#[derive(Clone, Debug)]
pub struct ProxyLayout {
    pub dir: PathBuf,
}

impl ProxyLayout {
    pub fn new(state_dir: &Path, identity: &EnvIdentity) -> Self {
        Self {
            dir: state_dir.join("proxies").join(identity.slug()),
        }
    }
    pub fn conf(&self) -> PathBuf {
        self.dir.join("nginx.conf")
    }
    pub fn upstream(&self) -> PathBuf {
        self.dir.join("upstream.conf")
    }
    pub fn pid_file(&self) -> PathBuf {
        self.dir.join("nginx.pid")
    }
    pub fn temp_dir(&self) -> PathBuf {
        self.dir.join("tmp")
    }
}

/// A value as an nginx double-quoted string.
fn nginx_quote(value: &str) -> String {
    let mut out = String::from("\"");
    for c in value.chars() {
        if matches!(c, '"' | '\\' | '$') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

fn q(path: &Path) -> String {
    nginx_quote(&path.to_string_lossy())
}

/// The proxy's main configuration: listen on the published address, pass
/// everything to the `slipway_live` upstream (defined in `upstream.conf`,
/// the one file a switch rewrites) and name the answering release.
pub fn nginx_conf(layout: &ProxyLayout, listen: SocketAddr, drain_secs: u64) -> String {
    let tmp = layout.temp_dir();
    format!(
        "# Written by Slipway; rewritten on every release.\n\
         daemon on;\n\
         worker_processes 1;\n\
         pid {pid};\n\
         error_log {log} warn;\n\
         worker_shutdown_timeout {drain}s;\n\
         events {{ worker_connections 1024; }}\n\
         http {{\n\
         \x20   access_log off;\n\
         \x20   client_body_temp_path {body};\n\
         \x20   proxy_temp_path {proxy};\n\
         \x20   fastcgi_temp_path {fastcgi};\n\
         \x20   uwsgi_temp_path {uwsgi};\n\
         \x20   scgi_temp_path {scgi};\n\
         \x20   include {upstream};\n\
         \x20   server {{\n\
         \x20       listen {listen};\n\
         \x20       location / {{\n\
         \x20           proxy_pass http://slipway_live;\n\
         \x20           proxy_http_version 1.1;\n\
         \x20           proxy_set_header Connection \"\";\n\
         \x20           proxy_set_header Host $host;\n\
         \x20           proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n\
         \x20           proxy_next_upstream error timeout;\n\
         \x20           add_header X-Slipway-Release $slipway_release always;\n\
         \x20       }}\n\
         \x20   }}\n\
         }}\n",
        pid = q(&layout.pid_file()),
        log = q(&layout.dir.join("error.log")),
        drain = drain_secs.max(1),
        body = q(&tmp.join("body")),
        proxy = q(&tmp.join("proxy")),
        fastcgi = q(&tmp.join("fastcgi")),
        uwsgi = q(&tmp.join("uwsgi")),
        scgi = q(&tmp.join("scgi")),
        upstream = q(&layout.upstream()),
        listen = listen,
    )
}

/// The upstream a switch writes: the live container's published port and
/// the release it runs.
pub fn upstream_conf(backend: SocketAddr, release_key: &str) -> String {
    format!(
        "upstream slipway_live {{\n    server {backend};\n    keepalive 16;\n}}\n\
         map $host $slipway_release {{\n    default {};\n}}\n",
        nginx_quote(release_key)
    )
}

/// A container of the environment as listed by the engine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Existing {
    pub id: String,
    pub release_key: String,
    pub created: i64,
    pub running: bool,
    /// The [`LABEL_VARS`] it was made with (none from before there was one).
    pub vars_digest: Option<String>,
}

/// Stopped containers beyond the newest `keep`, never the live one or a
/// protected release (a rollback target).
pub fn containers_to_prune(
    existing: &[Existing],
    keep: u32,
    live: &str,
    protect: &[String],
) -> Vec<Existing> {
    let mut kept: Vec<&Existing> = existing
        .iter()
        .filter(|c| c.release_key != live && !c.running)
        .collect();
    kept.sort_by(|a, b| {
        b.created
            .cmp(&a.created)
            .then(b.release_key.cmp(&a.release_key))
    });
    kept.into_iter()
        .skip(keep as usize)
        .filter(|c| !protect.contains(&c.release_key))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity() -> EnvIdentity {
        EnvIdentity::new("shop", "production")
    }

    #[test]
    fn a_container_is_labelled_published_on_loopback_and_limited() {
        let mut config = DockerConfig::new(80, 8080);
        config.memory_mb = Some(64);
        config.cpus = Some(0.5);
        let image = ImageRef::parse("shop:v1").unwrap();
        let body = container_body(&ContainerRequest {
            identity: &identity(),
            config: &config,
            image: &image,
            release_key: "20261122120000-7",
            build_id: 3,
            job_id: 7,
            env: vec![("NOTE".into(), "$(id) 'x'".into())],
            vars_digest: "d1",
        });
        let labels = body.labels.unwrap();
        assert_eq!(labels[LABEL_MANAGED], "true");
        assert_eq!(labels[LABEL_ENV], "production");
        assert_eq!(labels[LABEL_RELEASE], "20261122120000-7");
        assert_eq!(body.env.unwrap(), vec!["NOTE=$(id) 'x'".to_owned()]);
        let host = body.host_config.unwrap();
        let binding = &host.port_bindings.unwrap()["80/tcp"].clone().unwrap()[0];
        assert_eq!(binding.host_ip.as_deref(), Some("127.0.0.1"));
        assert_eq!(host.memory, Some(64 * 1024 * 1024));
        assert_eq!(host.nano_cpus, Some(500_000_000));
        assert_eq!(
            host.network_mode.as_deref(),
            Some("slipway-shop.production")
        );
        assert_eq!(
            identity().container_name("20261122120000-7"),
            "slipway-shop.production.20261122120000-7"
        );
    }

    #[test]
    fn the_variables_digest_ignores_order_and_sees_every_value() {
        let digest = |pairs: &[(&'static str, &'static str)]| vars_digest(pairs.iter().copied());
        assert_eq!(
            digest(&[("A", "1"), ("B", "2")]),
            digest(&[("B", "2"), ("A", "1")])
        );
        assert_ne!(digest(&[("A", "1")]), digest(&[("A", "2")]));
        assert_ne!(digest(&[("AB", "C")]), digest(&[("A", "BC")]));
        assert_ne!(digest(&[]), digest(&[("A", "")]));
    }

    #[test]
    fn environments_whose_names_join_alike_get_apart_names() {
        let a = EnvIdentity::new("shop", "api-prod");
        let b = EnvIdentity::new("shop-api", "prod");
        let config = DockerConfig::new(80, 8080);
        assert_ne!(a.network_name(&config), b.network_name(&config));
        assert_ne!(a.container_name("1-1"), b.container_name("1-1"));
        let state = Path::new("/data");
        assert_ne!(
            ProxyLayout::new(state, &a).dir,
            ProxyLayout::new(state, &b).dir
        );
        // Nor does an environment name run into a release key.
        let c = EnvIdentity::new("shop", "prod-1");
        let d = EnvIdentity::new("shop", "prod");
        assert_ne!(c.container_name("2"), d.container_name("1-2"));
    }

    #[test]
    fn nginx_files_quote_paths_and_name_the_release() {
        let layout = ProxyLayout::new(Path::new("/data/a \"b\"$x"), &identity());
        let conf = nginx_conf(&layout, "127.0.0.1:8080".parse().unwrap(), 10);
        assert!(conf.contains("listen 127.0.0.1:8080;"));
        assert!(conf.contains("pid \"/data/a \\\"b\\\"\\$x/proxies/shop.production/nginx.pid\";"));
        let upstream = upstream_conf("127.0.0.1:32768".parse().unwrap(), "20261122-7");
        assert!(upstream.contains("server 127.0.0.1:32768;"));
        assert!(upstream.contains("default \"20261122-7\";"));
    }

    #[test]
    fn pruning_keeps_the_newest_stopped_the_live_and_the_protected() {
        let c = |key: &str, created: i64, running: bool| Existing {
            vars_digest: None,
            id: key.into(),
            release_key: key.into(),
            created,
            running,
        };
        let existing = vec![
            c("a", 1, false),
            c("b", 2, false),
            c("c", 3, false),
            c("d", 4, true),
        ];
        let pruned = containers_to_prune(&existing, 1, "d", &["a".into()]);
        assert_eq!(pruned, vec![c("b", 2, false)]);
    }
}
