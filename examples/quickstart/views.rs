//! The pages of the site. Every state-changing form carries the session's CSRF token
//! (`csrf.rs`), checked before anything else; logout is POST only.

use actix_session::Session;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use login_runtime::{
    Authenticated, CurrentUser, LoginError, LoginOptions, confirm_login, flash, fresh_login_required, is_safe_next,
    login_fresh, login_id, login_required, login_url, login_user_with, logins, logout_reason, logout_user, next_url,
    revoke_login, revoke_other_logins,
};
use minijinja::context;
use serde::Deserialize;

use crate::csrf;
use crate::pages::{STYLE, describe_agent, render, render_with_status, utc};
use crate::users::{Db, Role, User};

/// Registers every page.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(index)
        .service(style)
        .service(login_form)
        .service(login)
        .service(logout)
        .service(settings)
        .service(change_password_form)
        .service(change_password)
        .service(reauth_form)
        .service(reauth)
        .service(devices)
        .service(end_other_devices)
        .service(end_device)
        .service(api_me)
        .service(admin)
        .service(forbidden_page);
}

/// The remember-me cookie's name (`RememberMe`'s default).
const REMEMBER_COOKIE: &str = "remember_token";

/// A 303 See Other: after a form POST, the browser GETs the target (a 307 would re-post).
fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther().insert_header((header::LOCATION, location)).finish()
}

/// Errors of the login runtime (a session that cannot be written, a misconfigured app) and of
/// the database are 500s; log them, since the response body says nothing.
fn server_error(error: impl std::fmt::Display) -> actix_web::Error {
    tracing::error!(%error, "server error");
    actix_web::error::ErrorInternalServerError("server error")
}

/// Where to go after a successful form: the form's hidden `next` field if it is a safe local
/// path, else a safe `next` in the query string (`next_url`), else `None`. Never an unchecked
/// value: `next` comes from the URL, so anyone can put `https://evil.example` there.
fn safe_next(req: &HttpRequest, from_form: &str) -> Option<String> {
    if is_safe_next(from_form) { Some(from_form.to_owned()) } else { next_url(req) }
}

/// A form with nothing but its CSRF token.
#[derive(Deserialize)]
struct Plain {
    #[serde(default)]
    csrf_token: String,
}

#[get("/")]
async fn index(req: HttpRequest) -> actix_web::Result<HttpResponse> {
    render(&req, "index.html", context! {}).await
}

#[get("/static/style.css")]
async fn style() -> HttpResponse {
    HttpResponse::Ok().content_type("text/css; charset=utf-8").body(STYLE)
}

#[derive(Deserialize)]
struct LoginQuery {
    #[serde(default)]
    username: String,
}

#[get("/login")]
async fn login_form(req: HttpRequest, query: web::Query<LoginQuery>) -> actix_web::Result<HttpResponse> {
    // Only a safe `next` is carried on: the hidden field is re-checked on POST anyway. A failed
    // login comes back here with its username, so only the password is typed again.
    // Why the last login ended, when it ended elsewhere ("logged out from another device").
    let why = logout_reason(&req).map(|reason| reason.to_string());
    render(&req, "login.html", context! { next => next_url(&req), username => query.username, why }).await
}

#[derive(Deserialize)]
struct LoginForm {
    username: String,
    password: String,
    /// The checkbox: present (`on`) when ticked.
    remember: Option<String>,
    #[serde(default)]
    next: String,
    #[serde(default)]
    csrf_token: String,
}

#[post("/login")]
async fn login(
    req: HttpRequest,
    session: Session,
    db: web::Data<Db>,
    form: web::Form<LoginForm>,
) -> actix_web::Result<HttpResponse> {
    // Without this, a page on another site could log the visitor in as its own account.
    csrf::check(&session, &form.csrf_token)?;
    let next = safe_next(&req, &form.next);
    let back_to_form = |message: &str| -> actix_web::Result<HttpResponse> {
        flash(&req, message, "error").map_err(server_error)?;
        let url = login_url("/login", next.as_deref(), "next");
        let username: String = url::form_urlencoded::byte_serialize(form.username.as_bytes()).collect();
        let sep = if url.contains('?') { '&' } else { '?' };
        Ok(see_other(&format!("{url}{sep}username={username}")))
    };
    let Some(user) = db.authenticate(&form.username, &form.password).await.map_err(server_error)? else {
        return back_to_form("Wrong username or password.");
    };
    // Renews the session id (no session fixation) and records the login, fresh; with
    // `remember`, also sets the remember-me cookie, which logs the user back in (not fresh)
    // once the session is gone.
    let options = LoginOptions::new().remember(form.remember.is_some());
    match login_user_with(&req, &user, options) {
        Ok(()) => {}
        Err(LoginError::Inactive) => return back_to_form("This account is disabled."),
        Err(error) => return Err(server_error(error)),
    }
    flash(&req, format!("Welcome back, {}!", user.display_name), "success").map_err(server_error)?;
    Ok(see_other(next.as_deref().unwrap_or("/")))
}

#[post("/logout")]
async fn logout(req: HttpRequest, session: Session, form: web::Form<Plain>) -> actix_web::Result<HttpResponse> {
    csrf::check(&session, &form.csrf_token)?;
    // Removes the login and renews the session id; the flash written next survives.
    logout_user(&req).map_err(server_error)?;
    flash(&req, "You have been logged out.", "info").map_err(server_error)?;
    Ok(see_other("/"))
}

#[get("/settings")]
#[login_required]
async fn settings(req: HttpRequest, user: Authenticated<User>) -> actix_web::Result<HttpResponse> {
    render(&req, "settings.html", context! { fresh => login_fresh(&req).await, api_token => user.api_token }).await
}

// "Sudo mode": a sensitive operation needs a login made (or confirmed with the password) in
// the last five minutes. An older login is sent to the refresh view, `/reauth`.
#[get("/change-password")]
#[fresh_login_required(max_age = "5m")]
async fn change_password_form(req: HttpRequest, _user: Authenticated<User>) -> actix_web::Result<HttpResponse> {
    render(&req, "change_password.html", context! {}).await
}

#[derive(Deserialize)]
struct NewPassword {
    password: String,
    confirm: String,
    #[serde(default)]
    csrf_token: String,
}

#[post("/change-password")]
#[fresh_login_required(max_age = "5m")]
async fn change_password(
    req: HttpRequest,
    session: Session,
    user: Authenticated<User>,
    db: web::Data<Db>,
    form: web::Form<NewPassword>,
) -> actix_web::Result<HttpResponse> {
    csrf::check(&session, &form.csrf_token)?;
    if form.password.chars().count() < 8 || form.password != form.confirm {
        flash(&req, "The passwords must match and have at least 8 characters.", "error").map_err(server_error)?;
        return Ok(see_other("/change-password"));
    }
    let Some(updated) = db.set_password(user.id, &form.password).await.map_err(server_error)? else {
        return Ok(see_other("/"));
    };
    // The new security stamp ends every session and remember-me cookie issued with the old
    // one, on every device, this one included; the registry drops their logins as well. Log
    // this one in again with the new stamp (and a new remember-me cookie if it had one).
    revoke_other_logins(&req, &*user).await.map_err(server_error)?;
    let remembered = req.cookie(REMEMBER_COOKIE).is_some();
    login_user_with(&req, &updated, LoginOptions::new().remember(remembered)).map_err(server_error)?;
    flash(&req, "Password changed. Sessions on other devices have been logged out.", "success")
        .map_err(server_error)?;
    Ok(see_other("/settings"))
}

/// The refresh view: an older login confirms the password before a sensitive page.
#[get("/reauth")]
#[login_required]
async fn reauth_form(req: HttpRequest, _user: Authenticated<User>) -> actix_web::Result<HttpResponse> {
    render(&req, "reauth.html", context! { next => next_url(&req) }).await
}

#[derive(Deserialize)]
struct ReauthForm {
    password: String,
    #[serde(default)]
    next: String,
    #[serde(default)]
    csrf_token: String,
}

#[post("/reauth")]
#[login_required]
async fn reauth(
    req: HttpRequest,
    session: Session,
    user: Authenticated<User>,
    db: web::Data<Db>,
    form: web::Form<ReauthForm>,
) -> actix_web::Result<HttpResponse> {
    csrf::check(&session, &form.csrf_token)?;
    let next = safe_next(&req, &form.next);
    if db.authenticate(&user.username, &form.password).await.map_err(server_error)?.is_none() {
        flash(&req, "Wrong password.", "error").map_err(server_error)?;
        return Ok(see_other(&login_url("/reauth", next.as_deref(), "next")));
    }
    // Marks the login fresh again (and renews the session id).
    confirm_login(&req).await.map_err(server_error)?;
    Ok(see_other(next.as_deref().unwrap_or("/settings")))
}

/// Where the user is logged in (the login registry), with a button to end each login.
#[get("/devices")]
#[login_required]
async fn devices(req: HttpRequest, user: Authenticated<User>) -> actix_web::Result<HttpResponse> {
    let this = login_id(&req);
    let mut list = logins(&req, &*user).await.map_err(server_error)?;
    list.sort_by_key(|entry| std::cmp::Reverse(entry.last_seen));
    let devices: Vec<_> = list
        .iter()
        .map(|entry| {
            let (browser, os) = describe_agent(entry.user_agent.as_deref());
            context! {
                // A string: JavaScript-side and template numbers lose precision past 2^53.
                id => entry.id.to_string(),
                browser, os,
                address => entry.address.as_deref().unwrap_or("unknown address"),
                created => utc(entry.created_at),
                last_seen => utc(entry.last_seen),
                remembered => entry.remembered,
                current => Some(entry.id) == this,
            }
        })
        .collect();
    render(&req, "devices.html", context! { devices }).await
}

// Ending logins is sensitive: it needs a fresh login, as changing the password does (OWASP
// ASVS V3.3.4: after re-entering the password).
#[post("/devices/others/end")]
#[fresh_login_required(max_age = "5m")]
async fn end_other_devices(
    req: HttpRequest,
    session: Session,
    user: Authenticated<User>,
    form: web::Form<Plain>,
) -> actix_web::Result<HttpResponse> {
    csrf::check(&session, &form.csrf_token)?;
    let ended = revoke_other_logins(&req, &*user).await.map_err(server_error)?;
    flash(&req, format!("Logged out {ended} other device(s)."), "success").map_err(server_error)?;
    Ok(see_other("/devices"))
}

#[post("/devices/{id}/end")]
#[fresh_login_required(max_age = "5m")]
async fn end_device(
    req: HttpRequest,
    session: Session,
    user: Authenticated<User>,
    id: web::Path<u64>,
    form: web::Form<Plain>,
) -> actix_web::Result<HttpResponse> {
    csrf::check(&session, &form.csrf_token)?;
    if revoke_login(&req, &*user, id.into_inner()).await.map_err(server_error)? {
        flash(&req, "That device has been logged out.", "success").map_err(server_error)?;
    }
    Ok(see_other("/devices"))
}

/// Administrators only: the user list. Others are sent to `/forbidden` (the manager's
/// `forbidden_view`) before this runs; visitors who are not logged in, to the login page.
#[get("/admin")]
#[login_required(permission = Role::Admin)]
async fn admin(req: HttpRequest, db: web::Data<Db>) -> actix_web::Result<HttpResponse> {
    let users = db.all().await.map_err(server_error)?;
    render(&req, "admin.html", context! { users }).await
}

/// Where a logged-in user without the permission a page needs is sent: a 403 that says so.
#[get("/forbidden")]
async fn forbidden_page(req: HttpRequest) -> actix_web::Result<HttpResponse> {
    let ctx = context! {
        title => "Not allowed",
        message => "This page is for administrators. Ask one to give you the role if you need it.",
    };
    render_with_status(&req, StatusCode::FORBIDDEN, "error.html", ctx).await
}

/// JSON for API clients: a session user, or a `Authorization: Bearer` token (the request
/// loader). Anonymous: a JSON 401 that names the scheme.
#[get("/api/me")]
async fn api_me(req: HttpRequest, user: CurrentUser<User>) -> HttpResponse {
    match user.authenticated() {
        Some(user) => HttpResponse::Ok().json(serde_json::json!({
            "id": user.id,
            "username": user.username,
            "display_name": user.display_name,
            "fresh": login_fresh(&req).await,
        })),
        None => HttpResponse::Unauthorized()
            .insert_header((header::WWW_AUTHENTICATE, r#"Bearer realm="quickstart""#))
            .json(serde_json::json!({ "error": "unauthorized", "login_url": "/login" })),
    }
}
