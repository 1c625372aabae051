//! Property tests of what a request reaches (issue 14): the remember token decoder, `next`
//! validation, the forwarded-address header. No panic on any input, no forgery accepted. The
//! session login record's decoder is tested next to it, in `state.rs`.

use actix_web::http::header::HeaderName;
use actix_web::test::TestRequest;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use proptest::prelude::*;

use crate::proxy::{entry, parse_ip};
use crate::remember::{RememberMe, Token};
use crate::url::is_safe_next;

fn config() -> ProptestConfig {
    ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() }
}

/// Strings rich in what URL parsers and our decoders treat specially.
fn tricky() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            Just("/".to_owned()),
            Just("\\".to_owned()),
            Just("%2f".to_owned()),
            Just("%5c".to_owned()),
            Just("%25".to_owned()),
            Just(":".to_owned()),
            Just("@".to_owned()),
            Just(".".to_owned()),
            Just("|".to_owned()),
            Just(",".to_owned()),
            Just("\t".to_owned()),
            Just("http:".to_owned()),
            Just("evil.example".to_owned()),
            any::<char>().prop_map(String::from),
        ],
        0..12,
    )
    .prop_map(|parts| parts.concat())
}

fn token() -> impl Strategy<Value = Token> {
    (".{0,20}", 1u64..1 << 40, 1u64..1 << 30, proptest::option::of(1u64..1 << 53)).prop_map(
        |(user_id, expires, lifetime, login_id)| Token {
            user_id,
            expires: expires + lifetime,
            lifetime,
            hash_mac: String::new(),
            login_id,
            key_index: 0,
        },
    )
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn remember_decoder_survives_anything(value in tricky(), raw in ".{0,64}", now in any::<u64>()) {
        let remember = RememberMe::new([3u8; 32]);
        prop_assert!(remember.decode(&value, now).is_none());
        prop_assert!(remember.decode(&raw, now).is_none());
    }

    #[test]
    fn remember_tokens_round_trip_and_resist_forgery(token in token(), payload in ".{0,40}", flip in any::<usize>()) {
        let remember = RememberMe::new([3u8; 32]).duration(std::time::Duration::from_secs(1 << 31));
        let value = remember.encode(&token);
        prop_assert_eq!(remember.decode(&value, token.expires - 1), Some(token.clone()));
        prop_assert!(remember.decode(&value, token.expires).is_none());
        // Another key, a changed byte, or any payload with a made-up tag: nothing decodes.
        prop_assert!(RememberMe::new([4u8; 32]).decode(&value, 0).is_none());
        let mut bytes = value.clone().into_bytes();
        let i = flip % bytes.len();
        bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
        prop_assert!(remember.decode(&String::from_utf8(bytes).unwrap(), 0).is_none());
        let forged = format!("{}.{}", B64.encode(&payload), B64.encode([0u8; 32]));
        prop_assert!(remember.decode(&forged, 0).is_none());
    }

    #[test]
    fn an_accepted_next_stays_on_the_site(next in tricky()) {
        let site = url::Url::parse("https://site.example/app/page").unwrap();
        if is_safe_next(&next) {
            let joined = site.join(&next);
            prop_assert!(joined.is_ok(), "{next:?} accepted but does not parse");
            let joined = joined.unwrap();
            prop_assert_eq!(joined.origin(), site.origin(), "{:?} leaves the site: {}", next, joined);
        }
    }

    #[test]
    fn the_forwarded_address_is_the_trusted_entry_only(
        client_part in tricky(),
        proxy_entry in prop_oneof![Just("192.0.2.1".to_owned()), Just("[2001:db8::1]:80".to_owned()), tricky()],
        hops in 0usize..4,
    ) {
        let value = format!("{client_part},{proxy_entry}");
        let Ok(header) = actix_web::http::header::HeaderValue::from_str(&value) else { return Ok(()) };
        let header_unreadable = header.to_str().is_err();
        let req = TestRequest::default().insert_header(("x-forwarded-for", header)).to_http_request();
        let found = entry(&req, &HeaderName::from_static("x-forwarded-for"), hops);
        let entries: Vec<&str> = value.split(',').map(str::trim).collect();
        match hops {
            // A value that is not visible ASCII cannot be a proxy's: the header is ignored.
            _ if header_unreadable => prop_assert_eq!(found.as_deref(), None),
            0 => prop_assert_eq!(found.as_deref(), None),
            _ if hops > entries.len() => prop_assert_eq!(found.as_deref(), None),
            _ => prop_assert_eq!(found.as_deref(), Some(entries[entries.len() - hops])),
        }
        if hops == 1 && !header_unreadable {
            // The proxy's own entry decides; whatever the client wrote before it does not.
            prop_assert_eq!(found.as_deref().and_then(parse_ip), parse_ip(proxy_entry.trim()));
        }
    }
}
