//! CSRF protection: a random token kept in the session and put in every form as the hidden
//! field `csrf_token`; every state-changing POST checks it before doing anything.
//!
//! A page on another site can make the browser post a form here (and, with the session cookie
//! `SameSite=Lax`, some browsers and older ones still send it), but it cannot read this site's
//! pages, so it cannot know the token. The login form is protected too: without it, another
//! site could log the visitor in as the attacker's account (login CSRF).
//!
//! To protect a form of your own: put `<input type="hidden" name="csrf_token" value="{{
//! csrf_token }}">` inside it (`pages::render` gives every template `csrf_token`), give its
//! form struct a `csrf_token: String` field, and start its handler with
//! `csrf::check(&session, &form.csrf_token)?`.

use actix_session::Session;
use actix_web::error::ErrorForbidden;
use subtle::ConstantTimeEq;

const KEY: &str = "csrf_token";

/// The session's token, made on first use. It lives as long as the session (logging in renews
/// the session id but keeps the token).
pub fn token(session: &Session) -> actix_web::Result<String> {
    if let Some(token) = session.get::<String>(KEY)? {
        return Ok(token);
    }
    let token = crate::users::random_hex(32);
    session.insert(KEY, &token)?;
    Ok(token)
}

/// A 403 unless `submitted` is the session's token (compared in constant time). A session
/// without a token (a post from a page this site never served) is refused as well.
pub fn check(session: &Session, submitted: &str) -> actix_web::Result<()> {
    match session.get::<String>(KEY)? {
        Some(token) if !token.is_empty() && bool::from(token.as_bytes().ct_eq(submitted.as_bytes())) => Ok(()),
        _ => Err(ErrorForbidden("The form expired or came from another site: reload the page and try again.")),
    }
}
