//! Building page addresses in the browser and on the server alike.

/// Percent-encodes everything but unreserved characters (RFC 3986), for a
/// value inside a query string.
pub fn encode_query_value(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::encode_query_value;

    #[test]
    fn query_values_keep_only_unreserved_characters() {
        assert_eq!(encode_query_value("a-Z_0.~"), "a-Z_0.~");
        assert_eq!(
            encode_query_value("/jobs/7?x=1&y=ü"),
            "%2Fjobs%2F7%3Fx%3D1%26y%3D%C3%BC"
        );
    }
}
