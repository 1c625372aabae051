//! The session's login record: what the session stores about a login (its times, the
//! session-hash digest, the client's digest, the login id), how it is encoded into the
//! session entry's key, and read back.

use std::collections::HashMap;

use actix_session::Session;
use actix_web::HttpRequest;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::LoginError;
use crate::manager::{LoginManager, SessionProtection};
use crate::user::{AuthUser, SharedUser};

/// The session key of a login starts with this; the rest of the key is the login record (see
/// [`LoginRecord`]). Other keys the runtime uses: `_flashes` (messages) and `_next` (with
/// `use_session_for_next`).
pub(crate) const LOGIN_PREFIX: &str = "_u:";

/// A login as the session stores it, next to the user's id.
///
/// It is read on every request, and with the cookie store every byte of the session is
/// decrypted, base64- and percent-decoded and JSON-parsed on every request (about 90
/// instructions a byte, measured): so the record is short, and it is the session *key*, with
/// the number `0` as its value. A session value is a JSON text kept in a JSON string (a string
/// value costs four escaped bytes and serde's slow path); a key is a plain JSON string, which
/// this text never needs to escape (unless the user id does).
///
/// The text: a flags digit, then fixed-width base64url fields (only those the flags announce),
/// then the user id: `<flags><login at: 6><fresh at: 6>?<seen at: 6>?<hash digest: 8>?
/// <client ident: 8 or 11>?<id>`. The flags: bits 0-1 freshness (0 stale, 1 fresh since the
/// login, 2 fresh since `fresh at`), bit 2 `seen at`, bit 3 the session-hash digest, bits 4-5
/// the client identifier (1: 48 bits, keyed; 2: 64 bits, unkeyed). The value 3 in either
/// two-bit group is unused: a later format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct LoginRecord {
    /// When this login started (seconds).
    pub(crate) login_at: u64,
    /// When the user last proved who they are (a fresh login); absent once the login is stale.
    pub(crate) fresh_at: Option<u64>,
    /// When the last request was recorded (only kept with an idle timeout).
    pub(crate) seen_at: Option<u64>,
    /// A digest of the user's session hash at login (never the hash itself).
    pub(crate) hash: Option<u64>,
    /// Digest of the client's address and user agent, for session protection.
    pub(crate) ident: Option<Ident>,
    /// The login's id in the [login registry](crate::LoginRegistry), if one is configured. It
    /// is the session entry's value (a JSON number; `0` without one), not part of the key.
    pub(crate) login_id: Option<u64>,
}

/// The session-protection digest of a client: 48 bits when keyed with the manager's secret key
/// (it can only be guessed online), 64 bits when not (an unkeyed digest can be searched
/// offline).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ident {
    Keyed(u64),
    Unkeyed(u64),
}

const FRESH_SINCE_LOGIN: u8 = 1;
const FRESH_SINCE: u8 = 2;
const SEEN_AT: u8 = 4;
const HASH: u8 = 8;
const IDENT_KEYED: u8 = 16;
const IDENT_UNKEYED: u8 = 32;
/// Width of a time field: 36 bits, enough until the year 4147.
const TIME_DIGITS: usize = 6;
/// Width of a 48-bit digest field.
const SHORT_DIGITS: usize = 8;
/// Width of a 64-bit digest field.
const LONG_DIGITS: usize = 11;

impl LoginRecord {
    /// A login starting now, for this request's client.
    pub(crate) fn new(req: &HttpRequest, manager: &LoginManager, hash: Option<u64>, fresh: bool) -> Self {
        let now = manager.now();
        Self {
            login_at: now,
            fresh_at: fresh.then_some(now),
            seen_at: manager.activity_interval().map(|_| now),
            hash,
            ident: client_ident(req, manager),
            login_id: None,
        }
    }

    /// The login in the session and the user id it is for; `None` without one.
    pub(crate) fn read(session: &Session) -> Option<(Self, String)> {
        Self::find(&session.entries()).map(|(record, id)| (record, id.to_owned()))
    }

    /// The login in the session `entries` and the user id it is for; `None` without one (or
    /// with one this version cannot read).
    pub(crate) fn find(entries: &HashMap<String, String>) -> Option<(Self, &str)> {
        let (text, value) = find_login(entries)?;
        let found = Self::decode(text).map(|(record, id)| (record.with_login_id(value), id));
        if found.is_none() {
            unreadable();
        }
        found
    }

    /// Makes this the session's login (replacing any other).
    pub(crate) fn write(&self, session: &Session, user_id: &str) -> Result<(), LoginError> {
        remove_login(session);
        session
            .insert(format!("{LOGIN_PREFIX}{}", self.encode(user_id)), self.login_id.unwrap_or(0))
            .map_err(|e| LoginError::Session(e.to_string()))
    }

    /// The record with the login id of the session entry's `value`.
    fn with_login_id(self, value: &str) -> Self {
        let login_id = if value == "0" { None } else { value.parse().ok().filter(|&id| id != 0) };
        Self { login_id, ..self }
    }

    fn encode(&self, user_id: &str) -> String {
        let mut out = String::with_capacity(1 + TIME_DIGITS * 3 + SHORT_DIGITS + LONG_DIGITS + user_id.len());
        let fresh_since_login = self.fresh_at == Some(self.login_at);
        let fresh_since = self.fresh_at.filter(|_| !fresh_since_login);
        let mut flags = 0;
        for (present, flag) in [
            (fresh_since_login, FRESH_SINCE_LOGIN),
            (fresh_since.is_some(), FRESH_SINCE),
            (self.seen_at.is_some(), SEEN_AT),
            (self.hash.is_some(), HASH),
            (matches!(self.ident, Some(Ident::Keyed(_))), IDENT_KEYED),
            (matches!(self.ident, Some(Ident::Unkeyed(_))), IDENT_UNKEYED),
        ] {
            if present {
                flags |= flag;
            }
        }
        out.push(char::from(B64_DIGITS[usize::from(flags)]));
        push_digits(&mut out, self.login_at, TIME_DIGITS);
        let ident = match self.ident {
            Some(Ident::Keyed(value)) => Some((value, SHORT_DIGITS)),
            Some(Ident::Unkeyed(value)) => Some((value, LONG_DIGITS)),
            None => None,
        };
        for (value, digits) in [
            fresh_since.map(|at| (at, TIME_DIGITS)),
            self.seen_at.map(|at| (at, TIME_DIGITS)),
            self.hash.map(|hash| (hash, SHORT_DIGITS)),
            ident,
        ]
        .into_iter()
        .flatten()
        {
            push_digits(&mut out, value, digits);
        }
        out.push_str(user_id);
        out
    }

    /// The record and the user id in `text`.
    fn decode(text: &str) -> Option<(Self, &str)> {
        let bytes = text.as_bytes();
        let flags = digit_value(*bytes.first()?)?;
        let both = |a: u8, b: u8| flags & (a | b) == a | b;
        if both(FRESH_SINCE_LOGIN, FRESH_SINCE) || both(IDENT_KEYED, IDENT_UNKEYED) {
            return None;
        }
        let mut at = 1;
        let mut field = |digits: usize| -> Option<u64> {
            let value = parse_digits(bytes.get(at..at + digits)?)?;
            at += digits;
            Some(value)
        };
        let login_at = field(TIME_DIGITS)?;
        let fresh_since = if flags & FRESH_SINCE != 0 { Some(field(TIME_DIGITS)?) } else { None };
        let seen_at = if flags & SEEN_AT != 0 { Some(field(TIME_DIGITS)?) } else { None };
        let hash = if flags & HASH != 0 { Some(field(SHORT_DIGITS)?) } else { None };
        let ident = if flags & IDENT_KEYED != 0 {
            Some(Ident::Keyed(field(SHORT_DIGITS)?))
        } else if flags & IDENT_UNKEYED != 0 {
            Some(Ident::Unkeyed(field(LONG_DIGITS)?))
        } else {
            None
        };
        let fresh_at = if flags & FRESH_SINCE_LOGIN != 0 { Some(login_at) } else { fresh_since };
        // Every byte before `at` is an ASCII digit, so `at` is a character boundary.
        let id = text.get(at..).filter(|id| !id.is_empty())?;
        Some((Self { login_at, fresh_at, seen_at, hash, ident, login_id: None }, id))
    }
}

/// The record text of the session's login and the entry's value, if it has one.
fn find_login(entries: &HashMap<String, String>) -> Option<(&str, &str)> {
    // A handful of entries: a scan costs less than hashing the key for a lookup would.
    entries.iter().find_map(|(key, value)| Some((key.strip_prefix(LOGIN_PREFIX)?, value.as_str())))
}

/// Whether the session holds a login.
pub(crate) fn has_login(session: &Session) -> bool {
    find_login(&session.entries()).is_some()
}

/// Removes the session's login; whether there was one.
pub(crate) fn remove_login(session: &Session) -> bool {
    let keys: Vec<String> = session.entries().keys().filter(|k| k.starts_with(LOGIN_PREFIX)).cloned().collect();
    for key in &keys {
        session.remove(key);
    }
    !keys.is_empty()
}

#[cold]
fn unreadable() {
    // A record this version cannot read is no login, not a server error.
    tracing::warn!("ignoring an unreadable login record");
}

const B64_DIGITS: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// The value of each base64url digit, 255 for bytes that are not one.
const DIGIT_VALUES: [u8; 256] = {
    let mut values = [255u8; 256];
    let mut i = 0;
    while i < 64 {
        values[B64_DIGITS[i] as usize] = i as u8;
        i += 1;
    }
    values
};

fn digit_value(b: u8) -> Option<u8> {
    let value = DIGIT_VALUES[usize::from(b)];
    (value < 64).then_some(value)
}

/// `n` as `digits` base64url digits, most significant first (saturated to what fits).
fn push_digits(out: &mut String, n: u64, digits: usize) {
    let n = if digits * 6 < 64 { n.min((1 << (digits * 6)) - 1) } else { n };
    for i in (0..digits).rev() {
        out.push(char::from(B64_DIGITS[((n >> (6 * i)) & 63) as usize]));
    }
}

fn parse_digits(digits: &[u8]) -> Option<u64> {
    // One test for the whole field: a byte that is no digit has the value 255.
    let (mut n, mut seen) = (0u64, 0u8);
    for &b in digits {
        let value = DIGIT_VALUES[usize::from(b)];
        seen |= value;
        n = (n << 6) | u64::from(value & 63);
    }
    // 11 digits hold 66 bits: the first of them carries at most 4.
    let overflows = digits.len() * 6 > 64 && digits.first().is_some_and(|&b| DIGIT_VALUES[usize::from(b)] >= 16);
    (seen < 64 && !overflows).then_some(n)
}

/// The digest of a session hash, as stored in the session: 48 bits of SHA-256. It only has to
/// change when the hash does (a change goes unnoticed with odds of 2^-48).
pub(crate) trait SessionHashed {
    fn hash_digest(&self) -> Option<u64>;
}

impl<U: AuthUser + ?Sized> SessionHashed for U {
    fn hash_digest(&self) -> Option<u64> {
        self.session_hash().map(|h| {
            let digest = Sha256::digest(h);
            u64::from_be_bytes(digest[..8].try_into().expect("SHA-256 has 32 bytes")) >> 16
        })
    }
}

/// Whether the user still has the session hash the login recorded (constant-time).
pub(crate) fn hash_matches(recorded: Option<u64>, user: &SharedUser) -> bool {
    match (recorded, user.hash_digest()) {
        (None, None) => true,
        (Some(a), Some(b)) => a.to_be_bytes().ct_eq(&b.to_be_bytes()).into(),
        _ => false,
    }
}

/// The session-protection digest of the client's address and user agent: 48 bits of SipHash-2-4
/// keyed with the manager's [secret key](LoginManager::secret_key), or 64 bits of SHA-256
/// without one.
/// Either way a thief who knows the victim's address and user agent cannot craft a user agent
/// that passes for the victim's client from elsewhere.
pub(crate) fn client_ident(req: &HttpRequest, manager: &LoginManager) -> Option<Ident> {
    let settings = manager.settings();
    if settings.protection == SessionProtection::Off {
        return None;
    }
    let mut octets = [0u8; 16];
    let addr: &[u8] = match crate::proxy::client_ip(req, settings) {
        Some(std::net::IpAddr::V4(ip)) => {
            octets[..4].copy_from_slice(&ip.octets());
            &octets[..4]
        }
        Some(std::net::IpAddr::V6(ip)) => {
            octets = ip.octets();
            &octets
        }
        None => b"",
    };
    let agent = req.headers().get(actix_web::http::header::USER_AGENT).map_or(&b""[..], |v| v.as_bytes());
    Some(match settings.ident_key {
        Some((k0, k1)) => {
            use std::hash::Hasher;
            let mut h = siphasher::sip::SipHasher24::new_with_keys(k0, k1);
            h.write(addr);
            h.write_u8(b'|');
            h.write(agent);
            Ident::Keyed(h.finish() >> 16)
        }
        None => {
            let mut h = Sha256::new();
            h.update(b"login-runtime client\0");
            h.update(addr);
            h.update(b"|");
            h.update(agent);
            Ident::Unkeyed(u64::from_be_bytes(h.finalize()[..8].try_into().expect("SHA-256 has 32 bytes")))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_round_trips() {
        let full = LoginRecord {
            login_at: 1_764_000_000,
            fresh_at: Some(1_764_000_100),
            seen_at: Some(1_764_000_200),
            hash: Some((1 << 48) - 1),
            ident: Some(Ident::Unkeyed(u64::MAX)),
            login_id: None,
        };
        let empty = LoginRecord { login_at: 0, fresh_at: None, seen_at: None, hash: None, ident: None, login_id: None };
        let fresh = LoginRecord { fresh_at: Some(1_764_000_000), ident: Some(Ident::Keyed(12_345)), ..full };
        for record in [full, empty, fresh, LoginRecord { ident: None, ..full }] {
            for id in ["42", "zoë:ünï:\"x\"", "a"] {
                let text = record.encode(id);
                assert_eq!(LoginRecord::decode(&text), Some((record, id)), "{text}");
            }
        }
    }

    #[test]
    fn record_is_compact() {
        // A fresh login with (keyed) session protection: flags, login time, client digest, id.
        let record = LoginRecord {
            login_at: 1_764_000_000,
            fresh_at: Some(1_764_000_000),
            seen_at: None,
            hash: None,
            ident: Some(Ident::Keyed(7)),
            login_id: None,
        };
        assert_eq!(record.encode("1"), "RBpJIEAAAAAAAAH1");
    }

    #[test]
    fn the_login_is_the_key_of_its_entry() {
        let record =
            LoginRecord { login_at: 1, fresh_at: None, seen_at: None, hash: None, ident: None, login_id: None };
        let mut entries = HashMap::new();
        entries.insert("_user".to_owned(), "1".to_owned());
        assert_eq!(find_login(&entries), None);
        entries.insert(format!("{LOGIN_PREFIX}{}", record.encode("ada")), "0".to_owned());
        let (text, value) = find_login(&entries).unwrap();
        assert_eq!((LoginRecord::decode(text), value), (Some((record, "ada")), "0"));
        // As the cookie store writes it: nothing escaped.
        let json = serde_json::to_string(&entries).unwrap();
        assert!(json.contains(r#""_u:AAAAAABada":"0""#), "{json}");
    }

    #[test]
    fn record_rejects_garbage() {
        for text in [
            "",
            "R",
            "RBpJIE",              // no id
            "DBpJIEBpJIE1",        // fresh since login and since another time
            "wBpJIEAAAAAAAAH1",    // both kinds of client digest
            "RBpJ!EAAAAAAAAH1",    // not a digit
            "gBpJIEA_AAAAAAAAAA1", // a digest over 64 bits
            "RBpJIEAAAAAAAAH",     // no id after the digest
            "1:t68n40:0:::7:1",    // the first format
        ] {
            assert_eq!(LoginRecord::decode(text), None, "{text}");
        }
    }

    #[test]
    fn the_login_id_is_the_entry_s_value() {
        let record =
            LoginRecord { login_at: 1, fresh_at: None, seen_at: None, hash: None, ident: None, login_id: None };
        assert_eq!(record.with_login_id("0").login_id, None);
        assert_eq!(record.with_login_id("9007199254740991").login_id, Some((1 << 53) - 1));
        for junk in ["", "-1", "1.5", "\"7\"", "abc", "99999999999999999999999"] {
            assert_eq!(record.with_login_id(junk).login_id, None, "{junk}");
        }
    }

    #[test]
    fn times_saturate_at_36_bits() {
        let record =
            LoginRecord { login_at: u64::MAX, fresh_at: None, seen_at: None, hash: None, ident: None, login_id: None };
        let text = record.encode("1");
        assert_eq!(LoginRecord::decode(&text).map(|(r, _)| r.login_at), Some((1 << 36) - 1));
    }
}

#[cfg(test)]
mod proptests {
    use proptest::prelude::*;

    use super::*;

    fn ident() -> impl Strategy<Value = Option<Ident>> {
        prop_oneof![
            Just(None),
            (0u64..1 << 48).prop_map(|v| Some(Ident::Keyed(v))),
            any::<u64>().prop_map(|v| Some(Ident::Unkeyed(v))),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn the_login_record_decoder_survives_anything(text in ".{0,80}") {
            let _ = LoginRecord::decode(&text);
        }

        #[test]
        fn login_records_round_trip(
            login_at in 0u64..1 << 36,
            fresh in prop_oneof![Just(0u8), Just(1), Just(2)],
            fresh_since in 0u64..1 << 36,
            seen_at in proptest::option::of(0u64..1 << 36),
            hash in proptest::option::of(0u64..1 << 48),
            ident in ident(),
            user_id in ".{1,30}",
        ) {
            let fresh_at = match fresh { 0 => None, 1 => Some(login_at), _ => Some(fresh_since) };
            let record = LoginRecord { login_at, fresh_at, seen_at, hash, ident, login_id: None };
            let text = record.encode(&user_id);
            let decoded = LoginRecord::decode(&text);
            prop_assert!(decoded.is_some(), "{text:?}");
            let (back, id) = decoded.unwrap();
            prop_assert_eq!(id, user_id.as_str());
            prop_assert_eq!(back, record);
        }
    }
}
