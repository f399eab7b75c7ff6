//! Image references, the build artifact of docker environments.
//!
//! Parsed strictly after the distribution reference grammar:
//! `[registry[:port]/]path[:tag][@sha256:<64 hex>]`, or a bare image id
//! `sha256:<64 hex>`. A build names exactly one image, so a tag or a digest
//! is required (no implicit `latest`; this also keeps a relative path such
//! as `etc/passwd` from passing for an image). Anything else is refused
//! before it reaches the engine.

use std::fmt;

use crate::error::InvalidInput;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageRef {
    raw: String,
    /// `[registry[:port]/]path`, without tag or digest; none for an image id.
    repository: Option<String>,
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

impl ImageRef {
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// The repository the image comes from (`registry.example.com/team/shop`).
    pub fn repository(&self) -> Option<&str> {
        self.repository.as_deref()
    }

    /// An image repository setting: `[registry[:port]/]path`, no tag or digest.
    pub fn parse_repository(raw: &str) -> Result<String, InvalidInput> {
        let raw = raw.trim();
        let refuse = || {
            InvalidInput::new(
                "image_repository",
                format!("{raw:?} is not an image repository: use [registry[:port]/]path, e.g. registry.example.com/team/shop (no tag)"),
            )
        };
        match Self::parse(&format!("{raw}:tag")) {
            Ok(image) if image.repository() == Some(raw) => Ok(raw.to_owned()),
            _ => Err(refuse()),
        }
    }

    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        let raw = raw.trim();
        let refuse = |why: &str| {
            InvalidInput::new(
                "artifact",
                format!("{raw:?} is not an image reference ({why}): use name[:tag][@sha256:digest], e.g. registry.example.com/shop:1.4.2"),
            )
        };
        if raw.is_empty() || raw.len() > 512 {
            return Err(refuse("1-512 characters"));
        }
        if let Some(hex) = raw.strip_prefix("sha256:") {
            return if is_sha256_hex(hex) {
                Ok(Self {
                    raw: raw.to_owned(),
                    repository: None,
                })
            } else {
                Err(refuse(
                    "an image id is sha256: and 64 lower-case hex digits",
                ))
            };
        }
        let (name_and_tag, digest) = match raw.split_once('@') {
            Some((rest, digest)) => (rest, Some(digest)),
            None => (raw, None),
        };
        if let Some(digest) = digest {
            let ok = digest.strip_prefix("sha256:").is_some_and(is_sha256_hex);
            if !ok {
                return Err(refuse(
                    "the digest must be sha256: and 64 lower-case hex digits",
                ));
            }
        }
        // A ':' after the last '/' starts the tag; one before it is a registry port.
        let last_slash = name_and_tag.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match name_and_tag[last_slash..].rfind(':') {
            Some(i) => (
                &name_and_tag[..last_slash + i],
                Some(&name_and_tag[last_slash + i + 1..]),
            ),
            None => (name_and_tag, None),
        };
        if let Some(tag) = tag {
            if !is_tag(tag) {
                return Err(refuse("a tag is letters, digits, '_', '.', '-', at most 128, not starting with '.' or '-'"));
            }
        }
        if tag.is_none() && digest.is_none() {
            return Err(refuse(
                "name a tag or a digest: a build is one image, never an implicit :latest",
            ));
        }
        if name.len() > 255 {
            return Err(refuse("the name is longer than 255 characters"));
        }
        let mut parts: Vec<&str> = name.split('/').collect();
        if parts.len() > 1 && is_domain(parts[0]) && looks_like_registry(parts[0]) {
            parts.remove(0);
        }
        if parts.is_empty() || !parts.iter().all(|p| is_path_component(p)) {
            return Err(refuse("name components are lower-case letters and digits, separated by '.', '_', '__' or '-'"));
        }
        Ok(Self {
            raw: raw.to_owned(),
            repository: Some(name.to_owned()),
        })
    }
}

fn is_sha256_hex(hex: &str) -> bool {
    hex.len() == 64
        && hex
            .chars()
            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
}

fn is_tag(tag: &str) -> bool {
    let mut chars = tag.chars();
    (1..=128).contains(&tag.len())
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// `host[:port]` with DNS-style labels.
fn is_domain(part: &str) -> bool {
    let (host, port) = match part.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (part, None),
    };
    let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok_and(|p| p > 0));
    port_ok
        && !host.is_empty()
        && host.split('.').all(|label| {
            !label.is_empty()
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

/// Docker's rule: the first part is a registry if it has a '.' or ':' or is `localhost`.
fn looks_like_registry(part: &str) -> bool {
    part.contains('.') || part.contains(':') || part == "localhost"
}

/// `[a-z0-9]+` joined by `.`, `_`, `__` or runs of `-`.
fn is_path_component(part: &str) -> bool {
    if part.is_empty() {
        return false;
    }
    let bytes = part.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let sep = &part[start..i];
        let dashes = sep.bytes().all(|b| b == b'-');
        if !(sep == "." || sep == "_" || sep == "__" || dashes) {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_docker_accepts_parse() {
        for good in [
            "shop:1.4.2",
            "library/shop:v1",
            "registry.example.com/team/shop:1.0",
            "localhost:5000/shop:v2",
            "localhost/shop:latest",
            "my-app__x.y/z:1",
            "shop@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "shop:v2@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        ] {
            assert!(ImageRef::parse(good).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn a_reference_names_its_repository_and_a_repository_setting_has_no_tag() {
        let image = ImageRef::parse("localhost:5000/team/shop:v2").unwrap();
        assert_eq!(image.repository(), Some("localhost:5000/team/shop"));
        let pinned = ImageRef::parse(
            "shop:v2@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        )
        .unwrap();
        assert_eq!(pinned.repository(), Some("shop"));
        assert_eq!(
            ImageRef::parse_repository("127.0.0.1:5000/shop").unwrap(),
            "127.0.0.1:5000/shop"
        );
        for bad in ["shop:v1", "shop@sha256:00", "Shop", "", "a b", "-x", "x/"] {
            assert!(ImageRef::parse_repository(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn hostile_or_malformed_references_are_refused() {
        for bad in [
            "",
            "shop",
            "etc/passwd",
            "localhost:5000/shop",
            "Shop:1",
            "-shop",
            "shop:",
            "shop:-x",
            "shop:.x",
            "shop;rm -rf /",
            "shop $(id)",
            "sh\nop",
            "shop//x:1",
            "/abs/path.tar.gz",
            "https://example.com/x.tar.gz",
            "shop@sha256:short",
            "shop@md5:0123456789abcdef0123456789abcdef",
            "sha256:XYZ",
            "shop..x:1",
            "shop___x:1",
            "registry:99999/shop:1",
        ] {
            assert!(ImageRef::parse(bad).is_err(), "{bad:?}");
        }
    }
}
