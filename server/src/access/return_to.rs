//! Where a person lands after signing in: the page they asked for when the
//! sign-in interrupted them, if it is a page of this site.

/// Longest page address carried through a sign-in.
const MAX_LEN: usize = 2048;

/// Pages a sign-in must not come back to (they would start another).
const NOT_AFTER_SIGN_IN: &[&str] = &["/login", "/logout", "/auth/"];

/// `raw` when it is a path on this site a browser may be sent to after
/// signing in; `None` for anything else (another site as `//host` or
/// `/\host`, a scheme, control characters, the sign-in pages themselves).
pub fn return_path(raw: &str) -> Option<&str> {
    let on_this_site = raw.starts_with('/')
        && !raw.starts_with("//")
        && !raw.contains('\\')
        && raw.len() <= MAX_LEN
        && raw.bytes().all(|b| b.is_ascii_graphic());
    let signs_in = NOT_AFTER_SIGN_IN.iter().any(|p| raw.starts_with(p));
    (on_this_site && !signs_in).then_some(raw)
}

/// The login page, told to come back to `path_and_query` afterwards.
pub fn login_page_for(path_and_query: &str) -> String {
    match return_path(path_and_query) {
        Some(path) if path != "/" => format!(
            "/login?next={}",
            url::form_urlencoded::byte_serialize(path.as_bytes()).collect::<String>()
        ),
        _ => "/login".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_page_of_this_site_is_returned_to() {
        for good in [
            "/",
            "/jobs/7",
            "/apps/shop/envs/qa-x?tab=log",
            "/audit?action=deploy.requested",
        ] {
            assert_eq!(return_path(good), Some(good), "{good}");
        }
        for bad in [
            "",
            "jobs/7",
            "//evil.example/",
            "/\\evil.example",
            "/jobs/7\\..",
            "https://evil.example/",
            "/jobs/7\r\nSet-Cookie: x=1",
            "/jobs/ 7",
            "/login?next=/x",
            "/auth/oidc/start",
            "/logout",
        ] {
            assert_eq!(return_path(bad), None, "{bad:?}");
        }
        assert_eq!(return_path(&format!("/{}", "a".repeat(MAX_LEN))), None);
    }

    #[test]
    fn the_login_page_carries_the_page_asked_for_encoded() {
        assert_eq!(
            login_page_for("/apps/shop/envs/prod?x=1&y=2"),
            "/login?next=%2Fapps%2Fshop%2Fenvs%2Fprod%3Fx%3D1%26y%3D2"
        );
        assert_eq!(login_page_for("/"), "/login");
        assert_eq!(login_page_for("//evil.example/"), "/login");
    }
}
