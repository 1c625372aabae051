//! Session protection (issue 3): basic (the default) marks a session used from another client
//! not fresh; strong drops the login and the remember cookie but keeps other session data; a
//! session restored from the remember cookie stores the client identifier (Flask-Login #248,
//! #685); a session without a login never triggers (Flask-Login #569); off does nothing;
//! `trusted_proxies` identifies clients by their proxy's `X-Forwarded-For` entry.

mod support;

use actix_web::http::StatusCode;
use login_runtime::{LoginEventKind, LoginManager, SessionProtection};
use support::*;

fn protected(env: &Env) -> Vec<Seen> {
    env.events.of(LoginEventKind::SessionProtected)
}

// ---- basic (the default) ----

#[actix_web::test]
async fn basic_is_the_default_and_another_ip_makes_the_login_stale() {
    let env = Env::new();
    let app = start(&env.manager(), &env.db).await;
    let c = Client::new();
    c.login(&app, ADA).await;
    assert_eq!(c.state(&app).await, "user:ada fresh:true");
    assert!(protected(&env).is_empty());

    // The same session cookie, from another address.
    let thief = c.fork();
    thief.set_ip(AWAY_IP);
    assert_eq!(thief.state(&app).await, "user:ada fresh:false");
    let seen = protected(&env);
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].user_id.as_deref(), Some(ADA));
    let reply = thief.get(&app, "/fresh").await;
    assert_eq!(reply.status, StatusCode::FOUND);
    assert_eq!(reply.location(), Some("/reauth?next=%2Ffresh"));
    assert_eq!(thief.get(&app, "/secret").await.status, StatusCode::OK);
}

#[actix_web::test]
async fn basic_another_user_agent_makes_the_login_stale() {
    let env = Env::new();
    let login = env.manager().session_protection(SessionProtection::Basic);
    let app = start(&login, &env.db).await;
    let c = Client::new();
    c.login(&app, ADA).await;
    c.set_agent(CURL);
    assert_eq!(c.state(&app).await, "user:ada fresh:false");
    assert_eq!(protected(&env).len(), 1);
    assert_eq!(c.get(&app, "/fresh").await.status, StatusCode::FOUND);
}

#[actix_web::test]
async fn basic_the_same_client_keeps_its_fresh_login_and_fires_nothing() {
    let env = Env::new();
    let app = start(&env.manager(), &env.db).await;
    let c = Client::new();
    c.login(&app, ADA).await;
    for _ in 0..3 {
        assert_eq!(c.state(&app).await, "user:ada fresh:true");
    }
    // Another port of the same address is the same client.
    c.set_ip(HOME_IP);
    assert_eq!(c.get(&app, "/fresh").await.status, StatusCode::OK);
    assert!(protected(&env).is_empty());
}

#[actix_web::test]
async fn basic_staleness_sticks_when_the_client_comes_back() {
    let env = Env::new();
    let app = start(&env.manager(), &env.db).await;
    let c = Client::new();
    c.login(&app, ADA).await;
    c.set_ip(AWAY_IP);
    let reply = c.get(&app, "/state").await;
    assert_eq!(reply.body, "user:ada fresh:false");
    assert!(reply.sets(SESSION), "the stale mark is written: {:?}", reply.set_cookie_headers());
    c.set_ip(HOME_IP);
    assert_eq!(c.state(&app).await, "user:ada fresh:false");
    assert_eq!(c.get(&app, "/fresh").await.status, StatusCode::FOUND);
}

#[actix_web::test]
async fn basic_confirm_login_from_the_new_client_makes_it_fresh_for_good() {
    let env = Env::new();
    let app = start(&env.manager(), &env.db).await;
    let c = Client::new();
    c.login(&app, ADA).await;
    // The user moved networks: stale, asked for the password, confirms it.
    c.set_ip(AWAY_IP);
    assert_eq!(c.get(&app, "/fresh").await.status, StatusCode::FOUND);
    assert_eq!(c.post(&app, "/confirm").await.status, StatusCode::OK);
    // The confirmed login belongs to this client now: fresh on the next request.
    let reply = c.get(&app, "/fresh").await;
    assert_eq!(reply.status, StatusCode::OK, "refused right after confirm_login: {reply:?}");
    assert_eq!(c.state(&app).await, "user:ada fresh:true");
}

#[actix_web::test]
async fn basic_a_stale_login_without_hooks_stays_stale_and_writes_nothing() {
    // No event hook: a stale login has nothing left for basic protection to take (the runtime
    // skips the client digest then); it must still behave as with one.
    let env = Env::new();
    let login = LoginManager::new(load_user).clock(env.clock.clone()).login_view("/login").refresh_view("/reauth");
    let app = start(&login, &env.db).await;
    let c = Client::new();
    c.login(&app, ADA).await;
    c.set_ip(AWAY_IP);
    let reply = c.get(&app, "/state").await;
    assert_eq!(reply.body, "user:ada fresh:false");
    assert!(reply.sets(SESSION), "the stale mark is written: {:?}", reply.set_cookie_headers());
    for ip in [AWAY_IP, HOME_IP] {
        c.set_ip(ip);
        let reply = c.get(&app, "/state").await;
        assert_eq!(reply.body, "user:ada fresh:false", "from {ip}");
        assert!(!reply.sets(SESSION), "from {ip}: {:?}", reply.set_cookie_headers());
        assert_eq!(c.get(&app, "/secret").await.status, StatusCode::OK);
        assert_eq!(c.get(&app, "/fresh").await.status, StatusCode::FOUND);
    }
}

// ---- strong ----

#[actix_web::test]
async fn strong_another_ip_logs_out_clears_the_remember_cookie_and_keeps_other_data() {
    let env = Env::new();
    let login = env.manager().session_protection(SessionProtection::Strong);
    let app = start(&login, &env.db).await;
    let c = Client::new();
    c.login_remembered(&app, ADA).await;
    assert_eq!(c.post(&app, "/cart/teapot").await.status, StatusCode::OK);
    assert_eq!(c.whoami(&app).await, "user:ada");

    c.set_ip(AWAY_IP);
    let reply = c.get(&app, "/whoami").await;
    assert_eq!(reply.body, "anonymous");
    assert!(reply.clears(REMEMBER), "{:?}", reply.set_cookie_headers());
    assert!(reply.sets(SESSION), "the login is removed from the session");
    let seen = protected(&env);
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].user_id.as_deref(), Some(ADA));
    // The remember cookie did not log the user straight back in.
    assert_eq!(env.events.count(LoginEventKind::LoadedFromCookie), 0);

    // Other session data survives; the login does not come back.
    assert_eq!(c.get(&app, "/cart").await.body, "teapot");
    assert_eq!(c.whoami(&app).await, "anonymous");
    assert_eq!(c.get(&app, "/secret").await.status, StatusCode::FOUND);
    // Back home, still logged out: the login is gone, not suspended.
    c.set_ip(HOME_IP);
    assert_eq!(c.whoami(&app).await, "anonymous");
}

#[actix_web::test]
async fn strong_another_user_agent_logs_out() {
    let env = Env::new();
    let login = env.manager().session_protection(SessionProtection::Strong);
    let app = start(&login, &env.db).await;
    let c = Client::new();
    c.login(&app, ADA).await;
    c.set_agent(CURL);
    assert_eq!(c.whoami(&app).await, "anonymous");
    assert_eq!(protected(&env).len(), 1);
}

#[actix_web::test]
async fn strong_the_same_client_stays_logged_in() {
    let env = Env::new();
    let login = env.manager().session_protection(SessionProtection::Strong);
    let app = start(&login, &env.db).await;
    let c = Client::new();
    c.login_remembered(&app, ADA).await;
    for _ in 0..3 {
        let reply = c.get(&app, "/state").await;
        assert_eq!(reply.body, "user:ada fresh:true");
        assert!(reply.set_cookie_headers().is_empty(), "{:?}", reply.set_cookie_headers());
    }
    assert!(protected(&env).is_empty());
}

#[actix_web::test]
async fn strong_remembered_user_is_not_logged_out_on_the_second_request() {
    // Flask-Login #248, #685: the restored session had no identifier, so strong mode logged
    // remembered users out on their next request.
    let env = Env::new();
    let login = env.manager().session_protection(SessionProtection::Strong);
    let app = start(&login, &env.db).await;
    let c = Client::new();
    c.login_remembered(&app, ADA).await;
    c.keep_only(&[REMEMBER]);

    let reply = c.get(&app, "/whoami").await;
    assert_eq!(reply.body, "user:ada");
    assert!(reply.sets(SESSION));
    for _ in 0..3 {
        let reply = c.get(&app, "/state").await;
        assert_eq!(reply.body, "user:ada fresh:false");
        assert!(!reply.clears(REMEMBER), "{:?}", reply.set_cookie_headers());
    }
    assert!(protected(&env).is_empty(), "{:?}", protected(&env));
    assert_eq!(env.events.count(LoginEventKind::LoadedFromCookie), 1);
    // The session works without the cookie: it really was restored.
    c.remove_cookie(REMEMBER);
    assert_eq!(c.whoami(&app).await, "user:ada");
}

#[actix_web::test]
async fn strong_restored_session_is_bound_to_the_client_that_restored_it() {
    let env = Env::new();
    let login = env.manager().session_protection(SessionProtection::Strong);
    let app = start(&login, &env.db).await;
    let c = Client::new();
    c.login_remembered(&app, ADA).await;
    c.keep_only(&[REMEMBER]);
    // Restored from another network than the login's: the cookie is not tied to an address...
    c.set_ip(AWAY_IP);
    assert_eq!(c.whoami(&app).await, "user:ada");
    assert_eq!(c.whoami(&app).await, "user:ada");
    // ...but the restored session is tied to the client that restored it.
    let thief = c.fork();
    thief.set_ip(HOME_IP);
    thief.remove_cookie(REMEMBER);
    assert_eq!(thief.whoami(&app).await, "anonymous");
    assert_eq!(protected(&env).len(), 1);
}

// ---- sessions without a login (Flask-Login #569) ----

#[actix_web::test]
async fn a_session_without_a_login_never_triggers_protection() {
    for mode in [SessionProtection::Basic, SessionProtection::Strong] {
        let env = Env::new();
        let app = start(&env.manager().session_protection(mode), &env.db).await;
        let c = Client::new();
        assert_eq!(c.post(&app, "/cart/kettle").await.status, StatusCode::OK);
        c.set_ip(AWAY_IP);
        c.set_agent(CURL);
        let reply = c.get(&app, "/whoami").await;
        assert_eq!(reply.body, "anonymous");
        assert!(reply.set_cookie_headers().is_empty(), "{mode:?}: {:?}", reply.set_cookie_headers());
        assert_eq!(c.get(&app, "/cart").await.body, "kettle", "{mode:?}");
        assert!(protected(&env).is_empty(), "{mode:?}");
    }
}

#[actix_web::test]
async fn a_logged_out_session_from_a_new_client_never_triggers_protection() {
    let env = Env::new();
    let login = env.manager().session_protection(SessionProtection::Strong);
    let app = start(&login, &env.db).await;
    let c = Client::new();
    c.login(&app, ADA).await;
    c.post(&app, "/cart/mug").await;
    c.post(&app, "/logout").await;
    c.set_ip(AWAY_IP);
    assert_eq!(c.whoami(&app).await, "anonymous");
    assert_eq!(c.get(&app, "/cart").await.body, "mug");
    assert!(protected(&env).is_empty());
}

// ---- off ----

#[actix_web::test]
async fn off_does_nothing() {
    let env = Env::new();
    let login = env.manager().session_protection(SessionProtection::Off);
    let app = start(&login, &env.db).await;
    let c = Client::new();
    c.login_remembered(&app, ADA).await;
    c.set_ip(AWAY_IP);
    c.set_agent(CURL);
    let reply = c.get(&app, "/state").await;
    assert_eq!(reply.body, "user:ada fresh:true");
    assert!(reply.set_cookie_headers().is_empty(), "{:?}", reply.set_cookie_headers());
    assert_eq!(c.get(&app, "/fresh").await.status, StatusCode::OK);
    assert!(protected(&env).is_empty());
}

// ---- the client's address ----

#[actix_web::test]
async fn forwarded_for_is_ignored_unless_trusted() {
    let env = Env::new();
    let app = start(&env.manager(), &env.db).await;
    let c = Client::new();
    c.set_header("x-forwarded-for", "192.0.2.1");
    c.login(&app, ADA).await;
    // A forged header does not change who the client is...
    c.set_header("x-forwarded-for", "192.0.2.99");
    assert_eq!(c.state(&app).await, "user:ada fresh:true");
    // ...the connection's address does.
    c.set_ip(AWAY_IP);
    assert_eq!(c.state(&app).await, "user:ada fresh:false");
    assert_eq!(protected(&env).len(), 1);
}

#[actix_web::test]
async fn trusted_proxies_use_x_forwarded_for() {
    let env = Env::new();
    let login = env.manager().trusted_proxies(1);
    let app = start(&login, &env.db).await;
    let c = Client::new();
    c.set_header("x-forwarded-for", "192.0.2.1");
    c.login(&app, ADA).await;
    // Behind the proxy, the connection's address is the proxy's and may change.
    c.set_ip(AWAY_IP);
    assert_eq!(c.state(&app).await, "user:ada fresh:true");
    assert!(protected(&env).is_empty());
    // The forwarded client address is what counts.
    c.set_header("x-forwarded-for", "192.0.2.77");
    assert_eq!(c.state(&app).await, "user:ada fresh:false");
    assert_eq!(protected(&env).len(), 1);
}

#[actix_web::test]
async fn trusted_proxies_with_strong_protection_log_out_a_moved_session() {
    let env = Env::new();
    let login = env.manager().trusted_proxies(1).session_protection(SessionProtection::Strong);
    let app = start(&login, &env.db).await;
    let c = Client::new();
    c.set_header("x-forwarded-for", "192.0.2.1");
    c.login(&app, ADA).await;
    assert_eq!(c.whoami(&app).await, "user:ada");
    c.set_header("x-forwarded-for", "192.0.2.2");
    assert_eq!(c.whoami(&app).await, "anonymous");
}

// ---- a forged user agent must not pass for the victim's client ----

/// A thief who stole the session cookie knows the victim's address and user agent (both are in
/// any request they captured). The identifier must not let them build, offline, a user agent
/// that makes their own address pass for the victim's client. This replays the identifier the
/// runtime computes (FNV-1a over `login-runtime client\0`, the address octets, `|`, the user
/// agent, folded to 32 bits, as in `state.rs::client_ident`) to forge one: a Joux
/// multicollision on the low word, then a meet-in-the-middle on the high word, ~2^20 steps.
/// With a cryptographic digest (as Flask's sha512, or the SHA-256 this runtime used before)
/// the forged agent is just another agent and strong protection ends the login.
mod forge {
    use std::collections::HashMap;

    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    const PRIME_LO: u32 = 0x1b3;

    fn fnv(mut h: u64, bytes: &[u8]) -> u64 {
        for &b in bytes {
            h = (h ^ u64::from(b)).wrapping_mul(PRIME);
        }
        h
    }

    fn fold(h: u64) -> u32 {
        (h ^ (h >> 32)) as u32
    }

    fn prefix(ip: [u8; 4]) -> u64 {
        fnv(fnv(fnv(OFFSET, b"login-runtime client\0"), &ip), b"|")
    }

    /// The identifier of a client, as the runtime computes it.
    pub fn ident(ip: [u8; 4], agent: &[u8]) -> u32 {
        fold(fnv(prefix(ip), agent))
    }

    /// The low word evolves on its own: `lo' = (lo ^ b) * PRIME_LO`.
    fn lo_step(lo: u32, bytes: &[u8]) -> u32 {
        bytes.iter().fold(lo, |lo, &b| (lo ^ u32::from(b)).wrapping_mul(PRIME_LO))
    }

    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        /// Printable, no space: a valid header value anywhere in it.
        fn block<const N: usize>(&mut self) -> [u8; N] {
            std::array::from_fn(|_| b'!' + (self.next() % 94) as u8)
        }
    }

    /// A user agent that, sent from `ip`, has the identifier `target`.
    pub fn agent_for(ip: [u8; 4], start: &str, target: u32) -> Option<String> {
        const STAGES: usize = 16;
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let base = fnv(prefix(ip), start.as_bytes());
        // Joux: STAGES pairs of 4-byte blocks, each pair leading to the same low word.
        let mut lo = base as u32;
        let mut pairs: Vec<([u8; 4], [u8; 4])> = Vec::new();
        for _ in 0..STAGES {
            let mut seen: HashMap<u32, [u8; 4]> = HashMap::new();
            let pair = loop {
                let block = rng.block::<4>();
                let next = lo_step(lo, &block);
                match seen.get(&next) {
                    Some(&other) if other != block => break (other, block),
                    Some(_) => {}
                    None => {
                        seen.insert(next, block);
                    }
                }
                if seen.len() > 1 << 22 {
                    return None;
                }
            };
            lo = lo_step(lo, &pair.0);
            pairs.push(pair);
        }
        // 2^16 middles, one low word, many high words.
        const SUFFIX: usize = 5;
        let c_m = (0..SUFFIX).fold(1u32, |acc, _| acc.wrapping_mul(PRIME_LO));
        let mut middles: HashMap<u32, u32> = HashMap::new();
        for mask in 0..(1u32 << STAGES) {
            let mut h = base;
            for (i, (a, b)) in pairs.iter().enumerate() {
                h = fnv(h, if mask >> i & 1 == 0 { a } else { b });
            }
            debug_assert_eq!(h as u32, lo);
            middles.insert(((h >> 32) as u32).wrapping_mul(c_m), mask);
        }
        // The high word after the suffix is `hi * PRIME_LO^m + f(lo, suffix)`.
        for _ in 0..(1u32 << 22) {
            let suffix = rng.block::<SUFFIX>();
            let z = fnv(u64::from(lo), &suffix);
            let (lo_end, hi_zero) = (z as u32, (z >> 32) as u32);
            let want = (target ^ lo_end).wrapping_sub(hi_zero);
            if let Some(&mask) = middles.get(&want) {
                let mut agent = start.as_bytes().to_vec();
                for (i, (a, b)) in pairs.iter().enumerate() {
                    agent.extend_from_slice(if mask >> i & 1 == 0 { a } else { b });
                }
                agent.extend_from_slice(&suffix);
                let agent = String::from_utf8(agent).expect("printable");
                assert_eq!(ident(ip, agent.as_bytes()), target, "the forgery is consistent");
                return Some(agent);
            }
        }
        None
    }
}

fn octets(ip: &str) -> [u8; 4] {
    ip.parse::<std::net::Ipv4Addr>().unwrap().octets()
}

#[actix_web::test]
async fn strong_a_forged_user_agent_from_another_address_is_still_another_client() {
    let target = forge::ident(octets(HOME_IP), FIREFOX.as_bytes());
    let forged =
        forge::agent_for(octets(AWAY_IP), "Mozilla/5.0 ", target).expect("the forgery search ran out of attempts");
    assert_ne!(forged, FIREFOX);

    let env = Env::new();
    let login = env.manager().session_protection(SessionProtection::Strong);
    let app = start(&login, &env.db).await;
    let victim = Client::new();
    victim.login(&app, ADA).await;
    let thief = victim.fork();
    thief.set_ip(AWAY_IP);
    thief.set_agent(&forged);
    let reply = thief.get(&app, "/state").await;
    assert_eq!(reply.body, "anonymous fresh:false", "the thief at {AWAY_IP} with {forged:?} kept the login");
    assert_eq!(protected(&env).len(), 1);
}

#[actix_web::test]
async fn trusted_proxies_never_read_the_forwarded_header() {
    let env = Env::new();
    let login = env.manager().trusted_proxies(1);
    let app = start(&login, &env.db).await;
    let c = Client::new();
    c.set_header("x-forwarded-for", "192.0.2.1");
    c.set_header("forwarded", "for=192.0.2.1");
    c.login(&app, ADA).await;
    c.set_header("forwarded", "for=192.0.2.2");
    assert_eq!(c.state(&app).await, "user:ada fresh:true");
    c.set_header("x-forwarded-for", "192.0.2.2");
    assert_eq!(c.state(&app).await, "user:ada fresh:false");
}

#[actix_web::test]
async fn ipv6_clients_are_told_apart() {
    let env = Env::new();
    let login = env.manager().session_protection(SessionProtection::Strong);
    let app = start(&login, &env.db).await;
    let c = Client::new();
    c.set_ip("2001:db8::1");
    c.login(&app, ADA).await;
    assert_eq!(c.whoami(&app).await, "user:ada");
    c.set_ip("2001:db8::2");
    assert_eq!(c.whoami(&app).await, "anonymous");
}
