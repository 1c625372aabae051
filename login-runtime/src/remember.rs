//! The remember-me cookie: logs a user back in when their session is gone.
//!
//! The token is `base64url(payload) "." base64url(HMAC-SHA256(key, payload))`, where the
//! payload holds a version, the expiry (enforced here, not only by the browser), a MAC of the
//! user's session hash (never the hash itself), the login's id in the login registry (version
//! 2, with a registry) and the user id. Changing the session hash (a
//! password change) invalidates every remember cookie of that user.
//!
//! The current configuration caps every token: a token lasts at most
//! [`RememberMe::duration`] from when it was issued, whatever it was issued with. Tokens are
//! signed with the current key; tokens of [previous keys](RememberMe::previous_key) are still
//! accepted, and re-signed with the current key (same expiry) on the first request that uses them.

use std::time::Duration;

use actix_web::cookie::{Cookie, SameSite, time};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The payload's version: 1 without a login id, 2 with one.
const VERSION: &str = "1";
const VERSION_WITH_LOGIN_ID: &str = "2";

/// Settings of the remember-me cookie (Flask-Login's `REMEMBER_COOKIE_*`), given to
/// [`LoginManager::remember_me`](crate::LoginManager::remember_me).
///
/// Defaults: name `remember_token`, 365 days, path `/`, no domain, `Secure`, `HttpOnly`,
/// `SameSite=Lax`, not refreshed on each request.
///
/// ```
/// use std::time::Duration;
/// use login_runtime::RememberMe;
///
/// let key = [7u8; 64]; // load a secret of 32 bytes or more, distinct from the session key
/// let old_key = [6u8; 64]; // the key before the last rotation, until its cookies are gone
/// let remember = RememberMe::new(&key)
///     .previous_key(&old_key)
///     .name("__Host-remember")
///     .duration(Duration::from_secs(30 * 24 * 3600))
///     .refresh_each_request(true);
/// ```
#[derive(Clone)]
pub struct RememberMe {
    /// The keyed MAC of each key, the current one first, then the previous ones: the key's
    /// HMAC state is made once, here, and each MAC starts from a copy of it.
    keys: Vec<HmacSha256>,
    /// The [fingerprint](crate::LoginInfo::key_fingerprint) of each key, in the same order.
    fingerprints: Vec<u32>,
    pub(crate) name: String,
    pub(crate) duration: Duration,
    pub(crate) domain: Option<String>,
    pub(crate) path: String,
    pub(crate) secure: bool,
    pub(crate) http_only: bool,
    pub(crate) same_site: SameSite,
    pub(crate) refresh_each_request: bool,
}

impl std::fmt::Debug for RememberMe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RememberMe")
            .field("name", &self.name)
            .field("duration", &self.duration)
            .field("domain", &self.domain)
            .field("path", &self.path)
            .field("secure", &self.secure)
            .field("http_only", &self.http_only)
            .field("same_site", &self.same_site)
            .field("refresh_each_request", &self.refresh_each_request)
            .finish_non_exhaustive()
    }
}

/// The checked content of a remember cookie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Token {
    pub(crate) user_id: String,
    pub(crate) expires: u64,
    /// The lifetime this login chose, in seconds, kept for refreshes.
    pub(crate) lifetime: u64,
    /// MAC of the user's session hash at login; empty when the user had none.
    pub(crate) hash_mac: String,
    /// The login's id in the login registry, if one is configured.
    pub(crate) login_id: Option<u64>,
    /// Which key signed it: 0 for the current key, `i` for the `i`th previous key.
    pub(crate) key_index: usize,
}

impl RememberMe {
    /// Remember-me cookies authenticated with `key`.
    ///
    /// # Panics
    /// If the key is shorter than 32 bytes: a start-up mistake, not a request-time failure.
    pub fn new(key: impl AsRef<[u8]>) -> Self {
        Self {
            keys: vec![checked_key(key.as_ref())],
            fingerprints: vec![fingerprint(key.as_ref())],
            name: "remember_token".into(),
            duration: Duration::from_secs(365 * 24 * 3600),
            domain: None,
            path: "/".into(),
            secure: true,
            http_only: true,
            same_site: SameSite::Lax,
            refresh_each_request: false,
        }
    }

    /// Also accepts cookies signed with `key`, a key used before the current one (key
    /// rotation); call it once per key still accepted, newest first. Such a cookie is re-signed
    /// with the current key, keeping its expiry, on the first request that carries it; remove the
    /// old key once [`duration`](Self::duration) has passed since the rotation.
    ///
    /// # Panics
    /// If the key is shorter than 32 bytes, like [`RememberMe::new`].
    pub fn previous_key(mut self, key: impl AsRef<[u8]>) -> Self {
        self.keys.push(checked_key(key.as_ref()));
        self.fingerprints.push(fingerprint(key.as_ref()));
        self
    }

    /// The cookie's name (default `remember_token`; `__Host-` names need the default path, no
    /// domain and `Secure`).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// How long a remember cookie lasts (default 365 days); a login may choose a shorter one with
    /// [`LoginOptions::duration`](crate::LoginOptions::duration). It caps every cookie, those
    /// issued before it was configured included: a cookie older than this stops working.
    pub fn duration(mut self, duration: Duration) -> Self {
        self.duration = duration;
        self
    }

    /// The cookie's `Domain` (default none: this host only).
    pub fn domain(mut self, domain: impl Into<String>) -> Self {
        self.domain = Some(domain.into());
        self
    }

    /// The cookie's `Path` (default `/`).
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.path = path.into();
        self
    }

    /// The `Secure` attribute (default on; turn off only for plain-http development).
    pub fn secure(mut self, secure: bool) -> Self {
        self.secure = secure;
        self
    }

    /// The `HttpOnly` attribute (default on).
    pub fn http_only(mut self, http_only: bool) -> Self {
        self.http_only = http_only;
        self
    }

    /// The `SameSite` attribute (default `Lax`).
    pub fn same_site(mut self, same_site: SameSite) -> Self {
        self.same_site = same_site;
        self
    }

    /// Re-issue the cookie, with a new expiry, on every request that carried a valid one
    /// (default off). Requests without the cookie never get one.
    pub fn refresh_each_request(mut self, refresh: bool) -> Self {
        self.refresh_each_request = refresh;
        self
    }

    /// The [fingerprints](crate::LoginInfo::key_fingerprint) of the keys accepted, the current
    /// one first.
    pub(crate) fn key_fingerprints(&self) -> &[u32] {
        &self.fingerprints
    }

    fn mac(&self, key_index: usize) -> Option<HmacSha256> {
        self.keys.get(key_index).cloned()
    }

    /// Whether cookies of previous keys are accepted (and re-signed on use).
    pub(crate) fn has_previous_keys(&self) -> bool {
        self.keys.len() > 1
    }

    /// The longest lifetime a cookie may have, in seconds.
    pub(crate) fn max_lifetime(&self) -> u64 {
        self.duration.as_secs()
    }

    /// A MAC of the user's session hash with the current key: what the cookie carries in its
    /// place.
    pub(crate) fn hash_mac(&self, session_hash: Option<&[u8]>) -> String {
        self.hash_mac_with(0, session_hash)
    }

    fn hash_mac_with(&self, key_index: usize, session_hash: Option<&[u8]>) -> String {
        let Some(hash) = session_hash else { return String::new() };
        let Some(mut mac) = self.mac(key_index) else { return String::new() };
        mac.update(b"login-runtime session hash\0");
        mac.update(hash);
        B64.encode(&mac.finalize().into_bytes()[..16])
    }

    pub(crate) fn encode(&self, token: &Token) -> String {
        let Token { user_id, expires, lifetime, hash_mac, login_id, key_index: _ } = token;
        let payload = match login_id {
            None => format!("{VERSION}|{expires}|{lifetime}|{hash_mac}|{user_id}"),
            Some(id) => format!("{VERSION_WITH_LOGIN_ID}|{expires}|{lifetime}|{hash_mac}|{id}|{user_id}"),
        };
        let mut mac = self.mac(0).expect("there is always a current key");
        mac.update(payload.as_bytes());
        format!("{}.{}", B64.encode(payload), B64.encode(mac.finalize().into_bytes()))
    }

    /// The token in `value`, if it is authentic (under the current or a previous key) and not
    /// expired at `now`, its expiry and lifetime capped by the current [`duration`](Self::duration).
    pub(crate) fn decode(&self, value: &str, now: u64) -> Option<Token> {
        let (payload, tag) = value.split_once('.')?;
        // Decoded on the stack: the tag is 32 bytes (a longer one is refused like any wrong
        // tag), the payload is on the heap only when it is longer than usual.
        let mut tag_buf = [0u8; 32];
        let tag_len = B64.decode_slice(tag, &mut tag_buf).ok()?;
        let tag = &tag_buf[..tag_len];
        let mut payload_buf = [0u8; 128];
        let payload_heap;
        let payload = match B64.decode_slice(payload, &mut payload_buf) {
            Ok(len) => &payload_buf[..len],
            Err(base64::DecodeSliceError::OutputSliceTooSmall) => {
                payload_heap = B64.decode(payload).ok()?;
                &payload_heap[..]
            }
            Err(base64::DecodeSliceError::DecodeError(_)) => return None,
        };
        let key_index = self.keys.iter().position(|key| {
            let mut mac = key.clone();
            mac.update(payload);
            mac.verify_slice(tag).is_ok() // constant-time
        })?;
        let payload = std::str::from_utf8(payload).ok()?;
        let with_login_id = match payload.split_once('|')?.0 {
            VERSION => false,
            VERSION_WITH_LOGIN_ID => true,
            _ => return None,
        };
        let mut parts = payload.splitn(if with_login_id { 6 } else { 5 }, '|').skip(1);
        let expires: u64 = parts.next()?.parse().ok()?;
        let lifetime: u64 = parts.next()?.parse().ok()?;
        let hash_mac = parts.next()?;
        let login_id = if with_login_id { Some(parts.next()?.parse().ok()?) } else { None };
        let user_id = parts.next()?;
        // The configuration in force caps what the token was issued with.
        let issued = expires.checked_sub(lifetime)?;
        let lifetime = lifetime.min(self.max_lifetime());
        let expires = expires.min(issued.saturating_add(lifetime));
        (now < expires).then(|| Token {
            user_id: user_id.to_owned(),
            expires,
            lifetime,
            hash_mac: hash_mac.to_owned(),
            login_id,
            key_index,
        })
    }

    /// Whether a token still matches the user's session hash (constant-time).
    pub(crate) fn hash_matches(&self, token: &Token, session_hash: Option<&[u8]>) -> bool {
        use subtle::ConstantTimeEq;
        let expected = self.hash_mac_with(token.key_index, session_hash);
        expected.len() == token.hash_mac.len() && bool::from(expected.as_bytes().ct_eq(token.hash_mac.as_bytes()))
    }

    fn base_cookie(&self, value: String) -> Cookie<'static> {
        let mut cookie = Cookie::new(self.name.clone(), value);
        cookie.set_path(self.path.clone());
        if let Some(domain) = &self.domain {
            cookie.set_domain(domain.clone());
        }
        cookie.set_secure(self.secure);
        cookie.set_http_only(self.http_only);
        cookie.set_same_site(self.same_site);
        cookie
    }

    pub(crate) fn set_cookie(&self, value: String, lifetime: Duration) -> Cookie<'static> {
        let mut cookie = self.base_cookie(value);
        cookie.set_max_age(time::Duration::seconds(i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX)));
        cookie
    }

    /// The clearing cookie repeats domain, path, `Secure` and `SameSite`, or browsers keep the
    /// original (Flask-Login #683).
    pub(crate) fn clear_cookie(&self) -> Cookie<'static> {
        let mut cookie = self.base_cookie(String::new());
        cookie.make_removal();
        cookie
    }
}

fn fingerprint(key: &[u8]) -> u32 {
    crate::registry::key_fingerprint("remember-me", key)
}

fn checked_key(key: &[u8]) -> HmacSha256 {
    assert!(key.len() >= 32, "a remember-me key needs at least 32 bytes, got {}", key.len());
    HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn remember() -> RememberMe {
        RememberMe::new([42u8; 32])
    }

    /// User `1`, expiring at 100, no session hash, no login id.
    fn user_1_until_100() -> Token {
        Token {
            user_id: "1".into(),
            expires: 100,
            lifetime: 100,
            hash_mac: String::new(),
            login_id: None,
            key_index: 0,
        }
    }

    #[test]
    fn round_trip_with_non_ascii_and_separator_ids() {
        let r = remember();
        // The last id makes a payload too long for the decoder's stack buffer.
        let long = "long|id-".repeat(40);
        for id in ["7", "zoë|ünïcödé", "a.b|c", &long] {
            for login_id in [None, Some(1), Some((1 << 53) - 1)] {
                let token = Token {
                    user_id: id.into(),
                    expires: 2_000,
                    lifetime: 1_000,
                    hash_mac: r.hash_mac(Some(b"pw")),
                    login_id,
                    key_index: 0,
                };
                let value = r.encode(&token);
                assert!(value.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)), "{value}");
                assert!(r.hash_matches(&token, Some(b"pw")));
                assert!(!r.hash_matches(&token, Some(b"new password")));
                assert!(!r.hash_matches(&token, None));
                assert_eq!(r.decode(&value, 1_999), Some(token));
            }
        }
    }

    #[test]
    fn expiry_is_enforced_by_the_server() {
        let r = remember();
        let value = r.encode(&user_1_until_100());
        assert!(r.decode(&value, 99).is_some());
        assert!(r.decode(&value, 100).is_none());
    }

    #[test]
    fn tampering_and_other_keys_are_detected() {
        let r = remember();
        let value = r.encode(&user_1_until_100());
        let (payload, tag) = value.split_once('.').unwrap();
        let forged_payload = B64.encode("1|100|100||2");
        assert!(r.decode(&format!("{forged_payload}.{tag}"), 0).is_none());
        assert!(r.decode(&format!("{payload}.{}", B64.encode([0u8; 32])), 0).is_none());
        // The right tag with a byte more, or a byte less, is refused.
        let right = B64.decode(tag).unwrap();
        assert!(r.decode(&format!("{payload}.{}", B64.encode([&right[..], &[0]].concat())), 0).is_none());
        assert!(r.decode(&format!("{payload}.{}", B64.encode(&right[..31])), 0).is_none());
        assert!(RememberMe::new([1u8; 32]).decode(&value, 0).is_none());
        for junk in ["", ".", "abc", "a.b.c", "!!!.###", &value[1..]] {
            assert!(r.decode(junk, 0).is_none(), "{junk}");
        }
    }

    #[test]
    fn hash_is_never_in_the_cookie() {
        let r = remember();
        let token = Token { hash_mac: r.hash_mac(Some(b"$argon2id$secret")), ..user_1_until_100() };
        let payload = B64.decode(r.encode(&token).split_once('.').unwrap().0).unwrap();
        assert!(!String::from_utf8(payload).unwrap().contains("argon2"));
    }

    #[test]
    fn clearing_cookie_repeats_attributes() {
        let r = remember().domain("example.com").path("/app").same_site(SameSite::Strict);
        let c = r.clear_cookie().to_string();
        for part in
            ["remember_token=", "Domain=example.com", "Path=/app", "Secure", "HttpOnly", "SameSite=Strict", "Max-Age=0"]
        {
            assert!(c.contains(part), "{c} lacks {part}");
        }
    }
}
