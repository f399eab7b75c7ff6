//! The one place where a value is made safe for a POSIX shell.
//!
//! Slipway never builds a command line out of user input: hooks receive
//! values through environment variables. What must be written in shell
//! syntax (the release's env file) goes through `quote`.

/// Single-quotes `value` for `sh`: the result is always exactly one word
/// with the literal value, whatever characters it holds.
pub fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    for c in value.chars() {
        if c == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}

#[cfg(test)]
mod tests {
    use super::quote;

    #[test]
    fn hostile_values_stay_literal_in_a_real_shell() {
        let canary = std::env::temp_dir().join(format!("slipway-canary-{}", std::process::id()));
        let hostile = [
            format!("$(touch {})", canary.display()),
            format!("`touch {}`", canary.display()),
            format!("x; touch {}", canary.display()),
            format!("it's\n touch {}", canary.display()),
            "-rf".to_owned(),
            "'".to_owned(),
            String::new(),
        ];
        for value in hostile {
            let script = format!("printf '%s' {}", quote(&value));
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(&script)
                .output()
                .unwrap();
            assert_eq!(String::from_utf8_lossy(&out.stdout), value);
        }
        assert!(!canary.exists(), "a quoted value was executed");
    }
}
