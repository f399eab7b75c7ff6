//! Package versions: the artifact of a dnf build (`name-version-release`),
//! parsed once at the edge, and rpm's version ordering.

use std::cmp::Ordering;
use std::fmt;

use crate::error::InvalidInput;

/// Exactly one package version, `name-version-release` (no epoch, no arch).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PackageVersion {
    name: String,
    version: String,
    release: String,
}

/// An rpm package name: letters, digits and `._+-`, not starting with `-` or `.`.
pub fn is_package_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 200
        && !name.starts_with(['-', '.'])
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '+' | '-'))
}

/// A version or release: letters, digits and `._+~^`, starting with a letter or digit.
fn is_version_part(part: &str) -> bool {
    part.len() <= 100
        && part
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && part
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '+' | '~' | '^'))
}

impl PackageVersion {
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        let raw = raw.trim();
        let refuse = || {
            InvalidInput::new(
                "artifact",
                format!(
                    "{raw:?} is not a package version: write name-version-release, e.g. shop-1.4.2-1 \
                     (letters, digits and . _ + ~ ^; no epoch, no arch)"
                ),
            )
        };
        let (rest, release) = raw.rsplit_once('-').ok_or_else(refuse)?;
        let (name, version) = rest.rsplit_once('-').ok_or_else(refuse)?;
        if !is_package_name(name) || !is_version_part(version) || !is_version_part(release) {
            return Err(refuse());
        }
        Ok(Self {
            name: name.to_owned(),
            version: version.to_owned(),
            release: release.to_owned(),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn version(&self) -> &str {
        &self.version
    }

    pub fn release(&self) -> &str {
        &self.release
    }

    /// rpm's ordering of two versions of the same package (version, then release).
    pub fn compare(&self, other: &PackageVersion) -> Ordering {
        rpmvercmp(&self.version, &other.version)
            .then_with(|| rpmvercmp(&self.release, &other.release))
    }
}

impl fmt::Display for PackageVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}-{}", self.name, self.version, self.release)
    }
}

/// rpm's `rpmvercmp`: compares alternating runs of digits and letters;
/// `~` sorts before anything (pre-releases), `^` after the base (snapshots).
pub fn rpmvercmp(a: &str, b: &str) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    let is_separator = |c: u8| !c.is_ascii_alphanumeric() && c != b'~' && c != b'^';
    loop {
        while let Some((&c, rest)) = a.split_first() {
            if !is_separator(c) {
                break;
            }
            a = rest;
        }
        while let Some((&c, rest)) = b.split_first() {
            if !is_separator(c) {
                break;
            }
            b = rest;
        }
        // Tilde: sorts before everything, even the end.
        match (a.first() == Some(&b'~'), b.first() == Some(&b'~')) {
            (true, true) => {
                a = &a[1..];
                b = &b[1..];
                continue;
            }
            (true, false) => return Ordering::Less,
            (false, true) => return Ordering::Greater,
            (false, false) => {}
        }
        // Caret: sorts after the end, before anything else.
        match (a.first() == Some(&b'^'), b.first() == Some(&b'^')) {
            (true, true) => {
                a = &a[1..];
                b = &b[1..];
                continue;
            }
            (true, false) => {
                return if b.is_empty() {
                    Ordering::Greater
                } else {
                    Ordering::Less
                }
            }
            (false, true) => {
                return if a.is_empty() {
                    Ordering::Less
                } else {
                    Ordering::Greater
                }
            }
            (false, false) => {}
        }
        if a.is_empty() || b.is_empty() {
            break;
        }
        let numeric = a[0].is_ascii_digit();
        let take = |s: &[u8]| -> usize {
            s.iter()
                .take_while(|c| {
                    if numeric {
                        c.is_ascii_digit()
                    } else {
                        c.is_ascii_alphabetic()
                    }
                })
                .count()
        };
        let (len_a, len_b) = (take(a), take(b));
        let (seg_a, seg_b) = (&a[..len_a], &b[..len_b]);
        if seg_b.is_empty() {
            // Different kinds of segment: numbers are newer than letters.
            return if numeric {
                Ordering::Greater
            } else {
                Ordering::Less
            };
        }
        let order = if numeric {
            let trim = |s: &[u8]| -> Vec<u8> {
                let start = s.iter().position(|&c| c != b'0').unwrap_or(s.len());
                s[start..].to_vec()
            };
            let (ta, tb) = (trim(seg_a), trim(seg_b));
            ta.len().cmp(&tb.len()).then_with(|| ta.cmp(&tb))
        } else {
            seg_a.cmp(seg_b)
        };
        if order != Ordering::Equal {
            return order;
        }
        a = &a[len_a..];
        b = &b[len_b..];
    }
    match (a.is_empty(), b.is_empty()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        _ => Ordering::Greater,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_package_version_splits_at_its_last_two_dashes() {
        let v = PackageVersion::parse("my-shop-1.4.2-3.el9").unwrap();
        assert_eq!(
            (v.name(), v.version(), v.release()),
            ("my-shop", "1.4.2", "3.el9")
        );
        assert_eq!(v.to_string(), "my-shop-1.4.2-3.el9");
        for bad in [
            "shop",
            "shop-1.0",
            "-shop-1.0-1",
            "shop-1.0-",
            "shop--1",
            "shop-1.0-1;id",
            "shop-$(id)-1",
            "shop-1:1.0-1",
            "shop 1.0-1",
            "/tmp/shop-1.0-1",
        ] {
            assert!(PackageVersion::parse(bad).is_err(), "{bad:?}");
        }
        assert!(PackageVersion::parse("shop-1.0-1\nrm").is_err());
    }

    #[test]
    fn versions_order_the_way_rpm_orders_them() {
        use Ordering::*;
        // Cases from rpm's own test suite (rpmvercmp.at).
        for (a, b, want) in [
            ("1.0", "1.0", Equal),
            ("1.0", "2.0", Less),
            ("2.0.1", "2.0", Greater),
            ("2.0.1a", "2.0.1", Greater),
            ("5.5p1", "5.5p2", Less),
            ("5.5p10", "5.5p1", Greater),
            ("10xyz", "10.1xyz", Less),
            ("xyz10", "xyz10.1", Less),
            ("1.0aa", "1.0a", Greater),
            ("10", "9", Greater),
            ("010", "10", Equal),
            ("1b", "1a", Greater),
            ("a", "1", Less),
            ("1.0~rc1", "1.0", Less),
            ("1.0~rc1", "1.0~rc2", Less),
            ("1.0^", "1.0", Greater),
            ("1.0^git1", "1.0.1", Less),
            ("1.0^git1", "1.0^git2", Less),
            ("1.0~rc1^git1", "1.0~rc1", Greater),
        ] {
            assert_eq!(rpmvercmp(a, b), want, "{a} vs {b}");
            assert_eq!(rpmvercmp(b, a), want.reverse(), "{b} vs {a}");
        }
        let v = |s| PackageVersion::parse(s).unwrap();
        assert_eq!(v("shop-1.0-10").compare(&v("shop-1.0-9")), Greater);
        assert_eq!(v("shop-1.0-2").compare(&v("shop-1.1-1")), Less);
    }
}
