//! Real rpm packages for tests, built with `rpmbuild` (Debian's `rpm`).
//!
//! The package installs `/opt/<name>/releases/<version>-<release>/VERSION`
//! and its `%post` points `/opt/<name>/current` at that directory (symlink
//! to a temporary name, then a rename), like a release switch. Its `%pre`
//! refuses to install on a host that has `/etc/<name>-refuse`, which is how
//! tests make one host's install fail. The scriptlets are rpm's built-in
//! Lua, so an empty installroot needs no shell.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const SPEC: &str = r#"Name: %{pkgname}
Version: %{pkgversion}
Release: %{pkgrelease}
Summary: A Slipway test application
License: MIT
BuildArch: noarch
AutoReqProv: no

%description
A Slipway test application.

%install
mkdir -p %{buildroot}/opt/%{name}/releases/%{version}-%{release}
echo %{version}-%{release} %{?variant} > %{buildroot}/opt/%{name}/releases/%{version}-%{release}/VERSION

%pre -p <lua>
if posix.stat("/etc/%{name}-refuse") then
  error("this host refuses %{name}: /etc/%{name}-refuse exists")
end

%post -p <lua>
local tmp = "/opt/%{name}/.current.tmp"
os.remove(tmp)
posix.symlink("releases/%{version}-%{release}", tmp)
assert(os.rename(tmp, "/opt/%{name}/current"))

%files
/opt/%{name}/releases/%{version}-%{release}
"#;

/// Builds packages in its own `rpmbuild` top directory.
pub struct RpmBuilder {
    topdir: PathBuf,
}

impl RpmBuilder {
    pub fn new(dir: &Path) -> Self {
        let topdir = dir.join("rpmbuild");
        std::fs::create_dir_all(topdir.join("SPECS")).unwrap();
        std::fs::write(topdir.join("SPECS/app.spec"), SPEC).unwrap();
        Self { topdir }
    }

    /// Builds `name-version-release.noarch.rpm` and returns its path.
    pub fn build(&self, name: &str, version: &str, release: &str) -> PathBuf {
        self.build_variant(name, version, release, "")
    }

    /// The same, with `variant` written into its VERSION file: another
    /// package under the same name (what a rebuild without a new release
    /// number would be).
    pub fn build_variant(
        &self,
        name: &str,
        version: &str,
        release: &str,
        variant: &str,
    ) -> PathBuf {
        let define = |k: &str, v: &str| format!("{k} {v}");
        let output = Command::new("rpmbuild")
            .arg("-bb")
            .arg("--quiet")
            .arg("--define")
            .arg(define("_topdir", &self.topdir.display().to_string()))
            .arg("--define")
            .arg(define("pkgname", name))
            .arg("--define")
            .arg(define("pkgversion", version))
            .arg("--define")
            .arg(define("pkgrelease", release))
            .arg("--define")
            .arg(define(
                "variant",
                if variant.is_empty() {
                    "%{nil}"
                } else {
                    variant
                },
            ))
            .arg(self.topdir.join("SPECS/app.spec"))
            .stdin(Stdio::null())
            .output()
            .expect("run rpmbuild (apt-get install rpm)");
        assert!(
            output.status.success(),
            "rpmbuild failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let rpm = self
            .topdir
            .join("RPMS/noarch")
            .join(format!("{name}-{version}-{release}.noarch.rpm"));
        assert!(rpm.is_file(), "rpmbuild made no {}", rpm.display());
        rpm
    }
}

/// What `rpm -q` says is installed in the installroot `root` (one
/// `name-version-release` per installed arch).
pub fn installed(root: &Path, name: &str) -> Vec<String> {
    let output = Command::new("rpm")
        .arg("--root")
        .arg(root)
        .args(["-q", "--qf", "%{NAME}-%{VERSION}-%{RELEASE}\\n", name])
        .output()
        .expect("run rpm");
    if !output.status.success() {
        return Vec::new();
    }
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Installs `rpm` into `root` by hand, behind Slipway's back (any version).
pub fn install_by_hand(root: &Path, rpm: &Path) {
    let status = Command::new("rpm")
        .arg("--root")
        .arg(root)
        .args([
            "-U",
            "--oldpackage",
            "--nodeps",
            "--quiet",
            "--force-debian",
        ])
        .arg(rpm)
        .status()
        .expect("run rpm");
    assert!(status.success(), "rpm -U {} failed", rpm.display());
}

/// The release directory `/opt/<name>/current` points at inside `root`.
pub fn current(root: &Path, name: &str) -> Option<String> {
    std::fs::read_link(root.join("opt").join(name).join("current"))
        .ok()
        .map(|p| p.display().to_string())
}
