//! Secret values never reach a stored or streamed log line.

pub const MASK: &str = "••••••";

/// Shortest secret value that is masked; shorter ones would mask ordinary
/// text. Secrets shorter than this are refused when saved.
pub const MIN_SECRET_LEN: usize = 3;

#[derive(Clone, Debug, Default)]
pub struct SecretMasker {
    secrets: Vec<String>,
}

impl SecretMasker {
    pub fn new(secrets: impl IntoIterator<Item = String>) -> Self {
        // Output is masked line by line, so each line of a multi-line secret
        // (a key, a certificate) is a secret of its own too.
        let mut secrets: Vec<String> = secrets
            .into_iter()
            .flat_map(|s| {
                let lines: Vec<String> = if s.contains('\n') {
                    s.lines()
                        .map(|l| l.trim_end_matches('\r').to_owned())
                        .collect()
                } else {
                    Vec::new()
                };
                std::iter::once(s).chain(lines)
            })
            .filter(|s| s.len() >= MIN_SECRET_LEN)
            .collect();
        // Longest first, so a secret containing another is masked whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        Self { secrets }
    }

    pub fn mask(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for secret in &self.secrets {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), MASK);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_every_occurrence_of_every_secret() {
        let masker = SecretMasker::new([
            "hunter2".to_owned(),
            "s3cr3t-token".to_owned(),
            "ab".to_owned(),
        ]);
        assert_eq!(
            masker.mask("user=ab pass=hunter2 token=s3cr3t-token again hunter2"),
            format!("user=ab pass={MASK} token={MASK} again {MASK}")
        );
    }
}
