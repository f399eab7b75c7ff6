//! What a build's artifact is, read from its reference alone, and how it
//! may be shown to people (pages, logs, audit rows).

use std::path::Path;

/// What a build's artifact names, read the same way at registration and at
/// deploy: a package version (dnf), files (an archive or directory, by path
/// or URL, for release directories), or else an image reference (docker).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArtifactKind {
    Files,
    Image,
    Package,
}

impl ArtifactKind {
    pub fn of(raw: &str) -> Self {
        let artifact = raw.trim();
        if !artifact.contains(['/', ':', '@'])
            && super::settings::PackageVersion::parse(artifact).is_ok()
        {
            ArtifactKind::Package
        } else if looks_like_file(artifact) {
            ArtifactKind::Files
        } else {
            ArtifactKind::Image
        }
    }

    /// In words, after "is": "a docker image".
    pub fn described(self) -> &'static str {
        match self {
            ArtifactKind::Files => "an archive or directory",
            ArtifactKind::Image => "a docker image",
            ArtifactKind::Package => "a package version",
        }
    }
}

pub(crate) fn looks_like_file(artifact: &str) -> bool {
    artifact.starts_with('/')
        || artifact.starts_with('.')
        || artifact.contains("://")
        || is_archive_name(Path::new(artifact))
}

pub(crate) fn is_archive_name(path: &Path) -> bool {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    name.ends_with(".tar.gz") || name.ends_with(".tgz") || name.ends_with(".tar")
}

/// An artifact as people may see it (pages, logs, audit): a URL without
/// its credentials, query or fragment (a signed URL's signature is a
/// secret); anything else as it is. The build keeps the full value.
pub fn shown(artifact: &str) -> String {
    match url::Url::parse(artifact) {
        Ok(url) if matches!(url.scheme(), "http" | "https") => loggable_url(&url),
        _ => artifact.to_owned(),
    }
}

/// A URL as logs may show it: no credentials, query or fragment.
pub fn loggable_url(url: &url::Url) -> String {
    let mut shown = url.clone();
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.set_query(None);
    shown.set_fragment(None);
    shown.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_artifact_is_read_as_files_an_image_or_a_package_version() {
        for (artifact, kind) in [
            ("/srv/builds/shop-1.2.tar.gz", ArtifactKind::Files),
            ("./shop.tgz", ArtifactKind::Files),
            ("https://ci.example/shop.tar.gz", ArtifactKind::Files),
            ("/srv/builds/shop-dir", ArtifactKind::Files),
            ("shop:1.4.2", ArtifactKind::Image),
            ("registry.example.com/team/shop:v2", ArtifactKind::Image),
            ("localhost:5000/shop@sha256:abc", ArtifactKind::Image),
            ("shop-1.0-2", ArtifactKind::Package),
            (" shop-1.0-2.el9 ", ArtifactKind::Package),
        ] {
            assert_eq!(ArtifactKind::of(artifact), kind, "{artifact}");
        }
    }

    #[test]
    fn a_logged_url_loses_its_credentials_and_query() {
        let url = url::Url::parse("https://ci:pw@store.example/a.tar.gz?X-Sig=abc#f").unwrap();
        assert_eq!(loggable_url(&url), "https://store.example/a.tar.gz");
        assert_eq!(shown(url.as_str()), "https://store.example/a.tar.gz");
        for other in [
            "/srv/builds/shop-1.tar.gz",
            "shop-1.0-2",
            "registry/shop@sha256:ab",
        ] {
            assert_eq!(shown(other), other);
        }
    }
}
