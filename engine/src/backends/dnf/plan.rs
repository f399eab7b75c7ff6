//! The commands of a dnf release, as data: argument vectors whose every
//! element reaches the host's shell quoted (one function, [`script`]).
//!
//! Every package-manager command enables exactly the environment's
//! repository (`--repofrompath=<id>,<url> --disablerepo=* --enablerepo=<id>`)
//! and refreshes its metadata first (`--refresh`): a package published a
//! second ago is seen, a cached "nothing to do" is not trusted.

use std::cmp::Ordering;

use crate::domain::settings::dnf::DnfConfig;
use crate::domain::settings::package::PackageVersion;
use crate::shell::quote;

/// Prefix of the lines that name an installed version.
pub const INSTALLED: &str = "installed=";
/// Prefix of the lines that name a version the repository offers.
pub const AVAILABLE: &str = "available=";

/// How a host reaches the target version from what it has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    Install,
    Upgrade,
    Downgrade,
    /// Already exactly there: nothing to change, only verify.
    Keep,
}

/// Whether a host is at `target`: installed, and every installed copy (one
/// per arch when multilib arches sit side by side) at exactly that version.
pub fn reached(installed: &[String], target: &PackageVersion) -> bool {
    let target = target.to_string();
    !installed.is_empty() && installed.iter().all(|v| *v == target)
}

impl Change {
    /// Picks the verb from the host's installed versions (several when
    /// multilib arches are installed side by side).
    pub fn needed(installed: &[String], target: &PackageVersion) -> Change {
        if installed.is_empty() {
            return Change::Install;
        }
        if reached(installed, target) {
            return Change::Keep;
        }
        let newest = installed
            .iter()
            .filter_map(|v| PackageVersion::parse(v).ok())
            .max_by(|a, b| a.compare(b));
        match newest.map(|v| v.compare(target)) {
            Some(Ordering::Greater) => Change::Downgrade,
            _ => Change::Upgrade,
        }
    }

    pub fn verb(self) -> Option<&'static str> {
        match self {
            Change::Install => Some("install"),
            Change::Upgrade => Some("upgrade"),
            Change::Downgrade => Some("downgrade"),
            Change::Keep => None,
        }
    }
}

/// Joins an argument vector into one shell command, every element quoted.
pub fn script(argv: &[String]) -> String {
    argv.iter()
        .map(|arg| quote(arg))
        .collect::<Vec<_>>()
        .join(" ")
}

fn privileged(config: &DnfConfig, mut argv: Vec<String>) -> Vec<String> {
    if config.sudo {
        argv.splice(0..0, ["sudo".to_owned(), "-n".to_owned()]);
    }
    argv
}

/// `dnf` with the repository settings every command shares, then `args`.
pub fn package_manager(config: &DnfConfig, args: &[&str]) -> Vec<String> {
    let mut argv = vec![
        config.package_manager.command().to_owned(),
        "--assumeyes".to_owned(),
    ];
    if let Some(root) = &config.install_root {
        argv.push(format!("--installroot={}", root.display()));
    }
    argv.push(format!(
        "--repofrompath={},{}",
        config.repo_id, config.repo_url
    ));
    argv.push("--disablerepo=*".to_owned());
    argv.push(format!("--enablerepo={}", config.repo_id));
    argv.extend(config.extra_options.iter().cloned());
    argv.push("--refresh".to_owned());
    argv.extend(args.iter().map(|a| (*a).to_owned()));
    privileged(config, argv)
}

/// `rpm -q` printing `installed=<name-version-release>` per installed arch.
pub fn rpm_query(config: &DnfConfig) -> Vec<String> {
    let mut argv = vec!["rpm".to_owned()];
    if let Some(root) = &config.install_root {
        argv.push("--root".to_owned());
        argv.push(root.display().to_string());
    }
    argv.push("--query".to_owned());
    argv.push(format!(
        "--queryformat={INSTALLED}%{{NAME}}-%{{VERSION}}-%{{RELEASE}}\\n"
    ));
    argv.push("--".to_owned());
    argv.push(config.package.clone());
    privileged(config, argv)
}

/// Prints what is installed; "not installed" (rpm's status 1) is not an error.
pub fn installed(config: &DnfConfig) -> String {
    format!("{{ {} || test $? -eq 1; }}", script(&rpm_query(config)))
}

/// The pre-flight: what is installed, then (with fresh metadata, only the
/// environment's repository) whether exactly `target` is available.
pub fn check(config: &DnfConfig, target: &PackageVersion) -> String {
    let target = target.to_string();
    let query = format!("--queryformat={AVAILABLE}%{{name}}-%{{version}}-%{{release}}\\n");
    let repoquery = package_manager(config, &["--quiet", "repoquery", &query, "--", &target]);
    format!("{} && {}", installed(config), script(&repoquery))
}

/// Moves the package to exactly `target`.
pub fn change(config: &DnfConfig, change: Change, target: &PackageVersion) -> Option<String> {
    let verb = change.verb()?;
    let target = target.to_string();
    Some(script(&package_manager(config, &[verb, "--", &target])))
}

/// Resolves the change and downloads its packages without installing
/// anything (the stage before every host installs).
pub fn download(config: &DnfConfig, change: Change, target: &PackageVersion) -> Option<String> {
    let verb = change.verb()?;
    let target = target.to_string();
    Some(script(&package_manager(
        config,
        &[verb, "--downloadonly", "--", &target],
    )))
}

/// The values after `prefix` on the lines of a command's output.
pub fn values(lines: &[String], prefix: &str) -> Vec<String> {
    lines
        .iter()
        .filter_map(|l| l.trim().strip_prefix(prefix))
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_is_at_the_target_when_every_arch_installed_is() {
        let target = PackageVersion::parse("shop-1.0-2").unwrap();
        let at = |v: &[&str]| {
            reached(
                &v.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
                &target,
            )
        };
        assert!(at(&["shop-1.0-2"]));
        assert!(at(&["shop-1.0-2", "shop-1.0-2"]));
        assert!(!at(&["shop-1.0-2", "shop-1.0-1"]));
        assert!(!at(&[]));
    }
    use crate::domain::settings::dnf::{DnfTarget, PackageManager};

    fn config() -> DnfConfig {
        DnfConfig {
            package: "shop".into(),
            repo_id: "slipway-shop".into(),
            repo_url: "http://127.0.0.1:3000/repo/shop/".into(),
            target: DnfTarget::Local,
            sudo: true,
            package_manager: PackageManager::Yum,
            extra_options: vec!["--setopt=x=$(id)".into()],
            install_root: Some("/srv/root 1".into()),
            parallelism: 10,
        }
    }

    fn v(s: &str) -> PackageVersion {
        PackageVersion::parse(s).unwrap()
    }

    #[test]
    fn the_install_command_enables_only_the_repository_and_refreshes_it() {
        let script = change(&config(), Change::Downgrade, &v("shop-1.0-1")).unwrap();
        assert_eq!(
            script,
            "'sudo' '-n' 'yum' '--assumeyes' '--installroot=/srv/root 1' \
             '--repofrompath=slipway-shop,http://127.0.0.1:3000/repo/shop/' \
             '--disablerepo=*' '--enablerepo=slipway-shop' '--setopt=x=$(id)' '--refresh' \
             'downgrade' '--' 'shop-1.0-1'"
        );
        assert_eq!(change(&config(), Change::Keep, &v("shop-1.0-1")), None);
        let stage = download(&config(), Change::Upgrade, &v("shop-1.0-2")).unwrap();
        assert!(stage.ends_with("'--refresh' 'upgrade' '--downloadonly' '--' 'shop-1.0-2'"));
    }

    #[test]
    fn the_check_reads_what_is_installed_then_queries_the_repository() {
        let script = check(&config(), &v("shop-1.0-2"));
        assert!(script.starts_with(
            "{ 'sudo' '-n' 'rpm' '--root' '/srv/root 1' '--query' \
             '--queryformat=installed=%{NAME}-%{VERSION}-%{RELEASE}\\n' '--' 'shop' || test $? -eq 1; } && "
        ));
        assert!(script.ends_with(
            "'--refresh' '--quiet' 'repoquery' \
             '--queryformat=available=%{name}-%{version}-%{release}\\n' '--' 'shop-1.0-2'"
        ));
    }

    #[test]
    fn the_verb_follows_rpm_ordering() {
        let target = v("shop-1.0-10");
        assert_eq!(Change::needed(&[], &target), Change::Install);
        assert_eq!(
            Change::needed(&["shop-1.0-10".into()], &target),
            Change::Keep
        );
        assert_eq!(
            Change::needed(&["shop-1.0-9".into()], &target),
            Change::Upgrade
        );
        assert_eq!(
            Change::needed(&["shop-1.1-1".into()], &target),
            Change::Downgrade
        );
        let lines = vec!["noise".to_owned(), " installed=shop-1.0-9 ".to_owned()];
        assert_eq!(values(&lines, INSTALLED), vec!["shop-1.0-9".to_owned()]);
    }
}
