//! Login URLs, the `next` parameter, and the check that keeps `next` from becoming an open
//! redirect.

use std::borrow::Cow;

/// A URL split the way Python's `urlsplit` does it.
struct Parts<'a> {
    scheme: &'a str,
    netloc: Option<&'a str>,
    path: &'a str,
    query: Option<&'a str>,
    fragment: Option<&'a str>,
}

fn split(url: &str) -> Parts<'_> {
    let (rest, fragment) = match url.split_once('#') {
        Some((r, f)) => (r, Some(f)),
        None => (url, None),
    };
    let (rest, query) = match rest.split_once('?') {
        Some((r, q)) => (r, Some(q)),
        None => (rest, None),
    };
    let scheme_end = rest.find(':').filter(|&i| {
        let s = &rest[..i];
        s.starts_with(|c: char| c.is_ascii_alphabetic())
            && s.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
    });
    let (scheme, rest) = match scheme_end {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => ("", rest),
    };
    let (netloc, path) = match rest.strip_prefix("//") {
        Some(r) => {
            let end = r.find('/').unwrap_or(r.len());
            (Some(&r[..end]), &r[end..])
        }
        None => (None, rest),
    };
    Parts { scheme, netloc, path, query, fragment }
}

/// Percent-encodes like Python's `quote_plus`: letters, digits and `_.-~` stay, a space
/// becomes `+`, everything else is `%XX`.
pub(crate) fn quote_plus(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 2);
    for &b in s.as_bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'.' | b'-' | b'~' => out.push(b as char),
            b' ' => out.push('+'),
            _ => {
                const HEX: &[u8; 16] = b"0123456789ABCDEF";
                out.push('%');
                out.push(HEX[usize::from(b >> 4)] as char);
                out.push(HEX[usize::from(b & 15)] as char);
            }
        }
    }
    out
}

/// Decodes `%XX` escapes and `+` as a space, as form and query values are decoded.
fn unquote_plus(s: &str) -> Cow<'_, str> {
    if !s.contains(['%', '+']) {
        return Cow::Borrowed(s);
    }
    let bytes: Vec<u8> = s.replace('+', " ").into_bytes();
    Cow::Owned(percent_encoding::percent_decode(&bytes).decode_utf8_lossy().into_owned())
}

/// The value Flask-Login puts in `next`: the current URL's path and query when the login view
/// is on the same scheme and host (or is a relative URL), the full current URL otherwise.
///
/// ```
/// use login_runtime::make_next_param;
///
/// assert_eq!(make_next_param("/login", "http://localhost/profile?tab=2"), "/profile?tab=2");
/// assert_eq!(
///     make_next_param("https://auth.example.com/login", "http://localhost/profile"),
///     "http://localhost/profile"
/// );
/// ```
pub fn make_next_param(login_url: &str, current_url: &str) -> String {
    let l = split(login_url);
    let c = split(current_url);
    let same_scheme = l.scheme.is_empty() || l.scheme.eq_ignore_ascii_case(c.scheme);
    let same_host = match l.netloc {
        None | Some("") => true,
        Some(host) => c.netloc.is_some_and(|h| h.eq_ignore_ascii_case(host)),
    };
    if !(same_scheme && same_host) {
        return current_url.to_owned();
    }
    let mut out = c.path.to_owned();
    if let Some(q) = c.query.filter(|q| !q.is_empty()) {
        out.push('?');
        out.push_str(q);
    }
    out
}

/// The URL to send a user to for logging in: `login_view` with `next_field` set to the page
/// they wanted (see [`make_next_param`]). The view's own query parameters are kept; an existing
/// `next_field` in it is replaced.
///
/// ```
/// use login_runtime::login_url;
///
/// assert_eq!(login_url("/login", Some("/secret"), "next"), "/login?next=%2Fsecret");
/// assert_eq!(
///     login_url("/login?lang=fr", Some("/a b?x=1"), "next"),
///     "/login?lang=fr&next=%2Fa+b%3Fx%3D1"
/// );
/// assert_eq!(login_url("/login", None, "next"), "/login");
/// ```
pub fn login_url(login_view: &str, next_url: Option<&str>, next_field: &str) -> String {
    let Some(next_url) = next_url else {
        return login_view.to_owned();
    };
    let parts = split(login_view);
    let next = make_next_param(login_view, next_url);

    let mut out = String::with_capacity(login_view.len() + next.len() * 2 + 8);
    if !parts.scheme.is_empty() {
        out.push_str(parts.scheme);
        out.push(':');
    }
    if let Some(netloc) = parts.netloc {
        out.push_str("//");
        out.push_str(netloc);
    }
    out.push_str(parts.path);
    out.push('?');
    for pair in parts.query.unwrap_or_default().split('&').filter(|p| !p.is_empty()) {
        let key = pair.split_once('=').map_or(pair, |(k, _)| k);
        if unquote_plus(key) != next_field {
            out.push_str(pair);
            out.push('&');
        }
    }
    out.push_str(&quote_plus(next_field));
    out.push('=');
    out.push_str(&quote_plus(&next));
    if let Some(fragment) = parts.fragment {
        out.push('#');
        out.push_str(fragment);
    }
    out
}

/// Whether `next` is safe to redirect to after a login: a path on this site, nothing else.
///
/// Accepted: `/`, `/profile`, `/search?q=a%20b#top`. Rejected: absolute and scheme-relative
/// URLs (`https://evil.com`, `//evil.com`, `/\evil.com`), schemes (`javascript:...`),
/// backslashes, whitespace and control characters, and any of these hidden behind percent
/// encoding (`/%2F%2Fevil.com`, `%2F%5Cevil.com`).
///
/// ```
/// use login_runtime::is_safe_next;
///
/// assert!(is_safe_next("/account?tab=keys"));
/// assert!(!is_safe_next("//evil.example"));
/// assert!(!is_safe_next("/\\evil.example"));
/// assert!(!is_safe_next("/%2f%2fevil.example"));
/// assert!(!is_safe_next("https://evil.example/"));
/// ```
pub fn is_safe_next(next: &str) -> bool {
    // The raw value goes into a `Location` header: nothing but a plain local path.
    if !starts_as_local_path(next) || next.chars().any(|c| c == '\\' || c.is_control() || c.is_whitespace()) {
        return false;
    }
    // Whoever decodes it later must not find another host or a header break in it. Each round
    // of decoding could reveal another layer; three is more than any browser or server applies.
    let mut current = Cow::Borrowed(next);
    for _ in 0..3 {
        let decoded = percent_encoding::percent_decode_str(&current).decode_utf8_lossy();
        if !starts_as_local_path(&decoded) || decoded.chars().any(char::is_control) {
            return false;
        }
        if decoded == current {
            return true;
        }
        current = Cow::Owned(decoded.into_owned());
    }
    true
}

fn starts_as_local_path(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next() == Some('/') && !matches!(chars.next(), Some('/' | '\\'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flask_login_url_cases() {
        // Ported from Flask-Login's test_login_url_generation{,_with_view}.
        assert_eq!(login_url("/login", Some("http://localhost/protected"), "next"), "/login?next=%2Fprotected");
        assert_eq!(
            login_url("https://auth.localhost/login", Some("http://localhost/protected"), "next"),
            "https://auth.localhost/login?next=http%3A%2F%2Flocalhost%2Fprotected"
        );
        assert_eq!(
            login_url("/login?affil=cgnu", Some("http://localhost/protected"), "next"),
            "/login?affil=cgnu&next=%2Fprotected"
        );
        assert_eq!(login_url("/login?next=%2Fold", Some("/new"), "next"), "/login?next=%2Fnew");
        assert_eq!(login_url("/login", Some("/x"), "return_to"), "/login?return_to=%2Fx");
        assert_eq!(login_url("/login#f", Some("/x"), "next"), "/login?next=%2Fx#f");
    }

    #[test]
    fn next_param_cases() {
        assert_eq!(make_next_param("/login", "http://localhost/p?q=1"), "/p?q=1");
        assert_eq!(make_next_param("http://localhost/login", "http://localhost/p"), "/p");
        assert_eq!(make_next_param("http://other/login", "http://localhost/p"), "http://localhost/p");
        assert_eq!(make_next_param("https://localhost/login", "http://localhost/p"), "http://localhost/p");
        assert_eq!(make_next_param("/login", "/p?"), "/p");
    }

    #[test]
    fn quote_plus_matches_python() {
        assert_eq!(quote_plus("/a b/ü?x=1&y=~"), "%2Fa+b%2F%C3%BC%3Fx%3D1%26y%3D~");
    }

    #[test]
    fn safe_next_accepts_local_paths() {
        for ok in
            ["/", "/profile", "/a/b?c=d&e=%20f", "/search?q=caf%C3%A9#top", "/ünï", "/a%2Fb", "/q?x=%20y", "/a%5Cb"]
        {
            assert!(is_safe_next(ok), "{ok} should be safe");
        }
    }

    #[test]
    fn safe_next_rejects_bypasses() {
        for bad in [
            "",
            "profile",
            "//evil.com",
            "///evil.com",
            "/\\evil.com",
            "\\\\evil.com",
            "\\/evil.com",
            "https://evil.com",
            "http:/evil.com",
            "javascript:alert(1)",
            "data:text/html,x",
            "/%2F%2Fevil.com",
            "/%2f/evil.com",
            "%2F%2Fevil.com",
            "/%5Cevil.com",
            "/%5cevil.com",
            "/%252F%252Fevil.com",
            "/ /evil.com",
            "/\t/evil.com",
            "/\n/evil.com",
            "/%09/evil.com",
            "/%0d%0aSet-Cookie:x",
            "/\r\nLocation: x",
            " /x",
            "/x y",
            "/\u{0}",
            "/a%00b",
            "/a\\b",
        ] {
            assert!(!is_safe_next(bad), "{bad:?} should be rejected");
        }
    }
}
