//! Who the client is and which URL it asked for, behind the reverse proxies the application
//! trusts ([`LoginManager::trusted_proxies`](crate::LoginManager::trusted_proxies)).
//!
//! Each trusted proxy appends the address it received the request from to one header
//! (`X-Forwarded-For` by default). Only the entries those proxies appended are theirs; anything
//! further left came from the client. So the client is the entry `hops` from the right, and no
//! other header (a `Forwarded` the proxy does not set, the leftmost entry) is ever read.

use std::net::{IpAddr, SocketAddr};

use actix_web::HttpRequest;
use actix_web::http::header::{self, HeaderName};

use crate::manager::Settings;

/// The entry `hops` from the right of the comma-separated values of every `name` header, if
/// the request carries that many.
pub(crate) fn entry(req: &HttpRequest, name: &HeaderName, hops: usize) -> Option<String> {
    if hops == 0 {
        return None;
    }
    let mut entries = Vec::new();
    for value in req.headers().get_all(name) {
        // A value that is not visible ASCII cannot be a proxy's: the whole header is ignored.
        entries.extend(value.to_str().ok()?.split(',').map(str::trim));
    }
    let index = entries.len().checked_sub(hops)?;
    Some(entries[index].to_owned())
}

/// An address as proxies write it: `192.0.2.1`, `192.0.2.1:4711`, `2001:db8::1`,
/// `[2001:db8::1]:4711`.
pub(crate) fn parse_ip(text: &str) -> Option<IpAddr> {
    text.parse::<IpAddr>()
        .or_else(|_| text.parse::<SocketAddr>().map(|a| a.ip()))
        .or_else(|_| {
            text.strip_prefix('[').and_then(|t| t.strip_suffix(']')).ok_or(()).and_then(|t| t.parse().map_err(|_| ()))
        })
        .ok()
}

/// The client's address: the trusted entry of the forwarded header, or the connection's peer
/// (also when the request carries fewer entries than there are trusted proxies).
pub(crate) fn client_ip(req: &HttpRequest, settings: &Settings) -> Option<IpAddr> {
    entry(req, &settings.forwarded_for_header, settings.proxy_hops)
        .and_then(|e| parse_ip(&e))
        .or_else(|| req.peer_addr().map(|a| a.ip()))
}

/// The scheme and host the client asked for: the configured host if there is one; behind
/// trusted proxies, the trusted entries of `X-Forwarded-Proto` and `X-Forwarded-Host`; else
/// the connection's scheme and the `Host` header.
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

pub(crate) fn origin(req: &HttpRequest, settings: &Settings) -> (String, String) {
    let hops = settings.proxy_hops;
    let scheme = entry(req, &X_FORWARDED_PROTO, hops)
        .filter(|s| s.eq_ignore_ascii_case("http") || s.eq_ignore_ascii_case("https"))
        .map(|s| s.to_ascii_lowercase())
        .unwrap_or_else(|| if req.app_config().secure() { "https" } else { "http" }.to_owned());
    let host = settings
        .forced_host
        .clone()
        .or_else(|| entry(req, &X_FORWARDED_HOST, hops).filter(|h| is_host(h)))
        .or_else(|| {
            req.headers().get(header::HOST).and_then(|h| h.to_str().ok()).filter(|h| is_host(h)).map(str::to_owned)
        })
        .or_else(|| req.uri().authority().map(|a| a.to_string()))
        .unwrap_or_else(|| req.app_config().host().to_owned());
    (scheme, host)
}

/// Whether `text` is a plain `host[:port]`: nothing that could end the authority of a URL.
fn is_host(text: &str) -> bool {
    !text.is_empty() && text.len() <= 255 && text.bytes().all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b))
}
