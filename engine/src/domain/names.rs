//! Names and identifiers that arrive from users, parsed once at the edge.
//!
//! Every type here can only hold a valid value: code that receives an
//! `EnvName` never has to ask whether it is safe to put in a path or a URL.

use serde::{Deserialize, Serialize};
use std::fmt;

use crate::error::InvalidInput;

macro_rules! string_newtype {
    ($(#[$meta:meta])* $name:ident, $parse:ident) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
                $parse(raw).map(Self)
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(d)?;
                Self::parse(&raw).map_err(serde::de::Error::custom)
            }
        }
    };
}

string_newtype!(
    /// An application's name: a lower-case slug, used in URLs.
    AppName,
    parse_slug_app
);
string_newtype!(
    /// An environment's name within its application: a lower-case slug.
    EnvName,
    parse_slug_env
);
string_newtype!(
    /// A full git commit id (40 hex digits for SHA-1, 64 for SHA-256), lower-case.
    CommitSha,
    parse_commit_sha
);
string_newtype!(
    /// A git branch name restricted to characters that are safe everywhere.
    BranchName,
    parse_branch
);
string_newtype!(
    /// A user's login: a slug, possibly with dots and `@`.
    Login,
    parse_login
);
string_newtype!(
    /// Which branches' builds an environment deploys by itself: a branch
    /// name where `*` stands for any run of characters (`main`, `release/*`).
    BranchPattern,
    parse_branch_pattern
);

string_newtype!(
    /// An environment variable's name: letters, digits and `_`, not one the
    /// shell or Slipway itself relies on.
    VarName,
    parse_var_name
);

impl BranchPattern {
    /// Whether `branch` fits: `*` matches any run of characters, `/` too.
    pub fn matches(&self, branch: &str) -> bool {
        let mut parts = self.0.split('*');
        let first = parts.next().unwrap_or_default();
        let Some(mut rest) = branch.strip_prefix(first) else {
            return false;
        };
        let parts: Vec<&str> = parts.collect();
        let Some((last, middle)) = parts.split_last() else {
            return rest.is_empty(); // no '*': the whole name
        };
        for part in middle {
            match rest.find(part) {
                Some(at) => rest = &rest[at + part.len()..],
                None => return false,
            }
        }
        rest.len() >= last.len() && rest.ends_with(last)
    }
}

impl EnvName {
    /// A QA environment's name derived from a branch: `qa-` and the branch
    /// in lower case, every run of other characters turned into one '-',
    /// cut to fit. `feature/Login_Page` → `qa-feature-login-page`.
    pub fn for_branch(branch: &BranchName) -> Self {
        let mut name = String::from("qa-");
        for c in branch.as_str().chars() {
            if c.is_ascii_alphanumeric() {
                name.push(c.to_ascii_lowercase());
            } else if !name.ends_with('-') {
                name.push('-');
            }
        }
        name.truncate(63);
        let name = name.trim_end_matches('-');
        Self(if name == "qa" {
            "qa-branch".to_owned()
        } else {
            name.to_owned()
        })
    }
}

fn parse_slug(field: &'static str, raw: &str) -> Result<String, InvalidInput> {
    let ok_len = (1..=63).contains(&raw.len());
    let mut chars = raw.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    let rest_ok = raw
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok_len && first_ok && rest_ok && !raw.ends_with('-') {
        Ok(raw.to_owned())
    } else {
        Err(InvalidInput::new(
            field,
            format!(
                "{raw:?} is not a valid name: use 1-63 lower-case letters, digits and '-', \
                 starting with a letter or digit"
            ),
        ))
    }
}

fn parse_slug_app(raw: &str) -> Result<String, InvalidInput> {
    parse_slug("application", raw.trim())
}

fn parse_slug_env(raw: &str) -> Result<String, InvalidInput> {
    parse_slug("environment", raw.trim())
}

fn parse_commit_sha(raw: &str) -> Result<String, InvalidInput> {
    let sha = raw.trim().to_ascii_lowercase();
    if (sha.len() == 40 || sha.len() == 64) && sha.chars().all(|c| c.is_ascii_hexdigit()) {
        Ok(sha)
    } else {
        Err(InvalidInput::new(
            "commit_sha",
            "a commit sha must be the full 40 (or 64) hexadecimal characters".to_owned(),
        ))
    }
}

fn parse_branch(raw: &str) -> Result<String, InvalidInput> {
    let branch = raw.trim();
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/');
    let problem = if branch.is_empty() {
        Some("must not be empty")
    } else if branch.len() > 200 {
        Some("is longer than 200 characters")
    } else if !branch.chars().all(allowed) {
        Some("may only contain letters, digits, '.', '_', '-' and '/'")
    } else if branch.starts_with('-') || branch.starts_with('/') || branch.ends_with('/') {
        Some("must not start with '-' or '/', nor end with '/'")
    } else if branch.contains("..") || branch.contains("//") || branch.ends_with(".lock") {
        Some("must not contain '..' or '//' nor end with '.lock'")
    } else {
        None
    };
    match problem {
        None => Ok(branch.to_owned()),
        Some(why) => Err(InvalidInput::new("branch", format!("branch name {why}"))),
    }
}

fn parse_branch_pattern(raw: &str) -> Result<String, InvalidInput> {
    let pattern = raw.trim();
    // A pattern is a branch name once each '*' stands for a letter.
    parse_branch(&pattern.replace('*', "x")).map_err(|e| {
        InvalidInput::new(
            "auto_deploy",
            format!(
                "{pattern:?}: {} ('*' may stand for any run of characters)",
                e.message.replace("branch name", "a branch pattern")
            ),
        )
    })?;
    Ok(pattern.to_owned())
}

fn parse_login(raw: &str) -> Result<String, InvalidInput> {
    let login = raw.trim();
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@');
    if (1..=100).contains(&login.len()) && login.chars().all(allowed) && !login.starts_with('-') {
        Ok(login.to_owned())
    } else {
        Err(InvalidInput::new(
            "login",
            "a login may contain letters, digits, '.', '_', '-' and '@' (at most 100)".to_owned(),
        ))
    }
}

/// Names a release's processes and hooks need as the system set them: a
/// `PATH` of the team's would leave a hook without its commands, a `HOME` or
/// `IFS` would change what it reads and how the shell splits words.
const RESERVED_VARS: &[&str] = &[
    "PATH", "HOME", "SHELL", "USER", "LOGNAME", "PWD", "OLDPWD", "IFS", "ENV", "BASH_ENV", "CDPATH",
];
/// Prefixes reserved the same way: Slipway's own variables and the dynamic
/// loader's.
const RESERVED_VAR_PREFIXES: &[&str] = &["SLIPWAY_", "LD_"];

fn parse_var_name(raw: &str) -> Result<String, InvalidInput> {
    let name = raw.trim();
    let well_formed = (1..=100).contains(&name.len())
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !well_formed {
        return Err(InvalidInput::new(
            "name",
            "a variable name is letters, digits and '_', not starting with a digit (at most 100)",
        ));
    }
    if RESERVED_VARS.contains(&name) {
        return Err(InvalidInput::new(
            "name",
            format!("{name} is the system's: hooks and processes need their own; set it inside a hook command if you must"),
        ));
    }
    if let Some(prefix) = RESERVED_VAR_PREFIXES.iter().find(|p| name.starts_with(**p)) {
        return Err(InvalidInput::new(
            "name",
            format!("names starting with {prefix} are reserved"),
        ));
    }
    Ok(name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variable_names_are_well_formed_and_not_the_systems() {
        for good in ["DATABASE_URL", "_X", "api_key2", " PORT "] {
            assert!(VarName::parse(good).is_ok(), "{good}");
        }
        assert_eq!(VarName::parse(" PORT ").unwrap().as_str(), "PORT");
        for bad in [
            "",
            "2X",
            "A-B",
            "A B",
            "A=B",
            "A;B",
            "PATH",
            "HOME",
            "IFS",
            "SLIPWAY_RELEASE",
            "LD_PRELOAD",
        ] {
            assert!(VarName::parse(bad).is_err(), "{bad}");
        }
        assert!(VarName::parse(&"A".repeat(101)).is_err());
        let why = VarName::parse("PATH").unwrap_err().to_string();
        assert!(why.contains("PATH") && why.contains("hook"), "{why}");
    }

    #[test]
    fn branch_patterns_match_whole_names_with_stars_for_any_run() {
        let fits =
            |pattern: &str, branch: &str| BranchPattern::parse(pattern).unwrap().matches(branch);
        assert!(fits("main", "main"));
        assert!(!fits("main", "main2"));
        assert!(!fits("main", "xmain"));
        assert!(fits("release/*", "release/1.2"));
        assert!(fits("release/*", "release/a/b"));
        assert!(!fits("release/*", "hotfix/release/1"));
        assert!(fits("*", "anything/at-all"));
        assert!(fits("feature/*-ui", "feature/login-ui"));
        assert!(!fits("feature/*-ui", "feature/login-api"));
        assert!(fits("a*b*c", "abc"));
        assert!(!fits("a*bc", "abc-bc-x"));
        assert!(!fits("ab*ba", "aba"), "the parts may not overlap");
        for bad in ["", "-*", "main;rm", "a b", "*/", "$(id)*"] {
            assert!(BranchPattern::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn slugs_accept_plain_names_and_refuse_everything_else() {
        assert!(EnvName::parse("production").is_ok());
        assert!(EnvName::parse("qa-42").is_ok());
        for bad in [
            "",
            "-x",
            "x-",
            "Prod",
            "a b",
            "a/b",
            "a;b",
            "$(id)",
            &"a".repeat(64),
        ] {
            assert!(EnvName::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn commit_sha_is_full_hex_and_lower_cased() {
        let sha = CommitSha::parse("ABCDEF0123456789ABCDEF0123456789ABCDEF01").unwrap();
        assert_eq!(sha.as_str(), "abcdef0123456789abcdef0123456789abcdef01");
        assert!(CommitSha::parse("abc123").is_err());
        assert!(CommitSha::parse("zzzzzz0123456789abcdef0123456789abcdef01").is_err());
        assert!(CommitSha::parse("abcdef0123456789abcdef0123456789abcdef0;").is_err());
    }

    #[test]
    fn branch_names_are_allow_listed() {
        for ok in ["main", "feature/login-page", "release-1.2", "user_x/fix"] {
            assert!(BranchName::parse(ok).is_ok(), "{ok:?}");
        }
        for bad in [
            "-rf", "a..b", "x;rm", "$(id)", "`id`", "a b", "a\nb", "/abs", "x.lock",
        ] {
            assert!(BranchName::parse(bad).is_err(), "{bad:?}");
        }
    }
}

#[cfg(test)]
mod qa_name_tests {
    use super::*;

    #[test]
    fn qa_names_from_branches_are_valid_slugs() {
        for (branch, expected) in [
            ("feature/Login_Page", "qa-feature-login-page"),
            ("main", "qa-main"),
            ("fix--double__x", "qa-fix-double-x"),
            ("___", "qa-branch"),
        ] {
            let branch = BranchName::parse(branch).unwrap();
            let name = EnvName::for_branch(&branch);
            assert_eq!(name.as_str(), expected);
            assert!(EnvName::parse(name.as_str()).is_ok());
        }
        let long = BranchName::parse("a/".repeat(90).trim_end_matches('/')).unwrap();
        assert!(EnvName::parse(EnvName::for_branch(&long).as_str()).is_ok());
    }
}
