//! The pages of the site.
//!
//! Forms post without CSRF tokens to keep the example short: the session cookie is
//! `SameSite=Lax` (actix-session's default), so other sites cannot post with it, but a real
//! application adds CSRF tokens to its forms as well.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use login_runtime::{
    Authenticated, CurrentUser, FlashMessages, LoginError, LoginOptions, confirm_login, flash, fresh_login_required,
    is_safe_next, login_fresh, login_id, login_required, login_url, login_user_with, logins, logout_user, next_url,
    revoke_login, revoke_other_logins,
};
use serde::Deserialize;

use crate::html::{escape, page, utc};
use crate::users::{Db, User};

/// Registers every page.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(index)
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
        .service(api_me);
}

/// The remember-me cookie's name (`RememberMe`'s default).
const REMEMBER_COOKIE: &str = "remember_token";

/// A 303 See Other: after a form POST, the browser GETs the target (a 307 would re-post).
fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther().insert_header((header::LOCATION, location)).finish()
}

/// Errors of the login runtime (a session that cannot be written, a misconfigured app) are
/// 500s; log them, since the response body says nothing.
fn server_error(error: LoginError) -> actix_web::Error {
    tracing::error!(%error, "login runtime error");
    error.into()
}

/// Where to go after a successful form: the form's hidden `next` field if it is a safe local
/// path, else a safe `next` in the query string (`next_url`), else `None`. Never an unchecked
/// value: `next` comes from the URL, so anyone can put `https://evil.example` there.
fn safe_next(req: &HttpRequest, from_form: &str) -> Option<String> {
    if is_safe_next(from_form) { Some(from_form.to_owned()) } else { next_url(req) }
}

/// The hidden form field carrying `next` (empty when there is none).
fn next_field(next: Option<&str>) -> String {
    match next {
        Some(next) => format!(r#"<input type="hidden" name="next" value="{}">"#, escape(next)),
        None => String::new(),
    }
}

#[get("/")]
async fn index(user: CurrentUser<User>, flashes: FlashMessages) -> HttpResponse {
    let body = match user.authenticated() {
        Some(user) => format!(
            r#"<h1>Hello, {name}!</h1>
<p>You are logged in as <code>{username}</code>.</p>
<ul>
  <li><a href="/settings">Settings</a> (needs a login)</li>
  <li><a href="/devices">Devices</a>: where you are logged in; end any of those logins</li>
  <li><a href="/change-password">Change password</a> (needs a <em>fresh</em> login: at most
      5 minutes old, else you confirm your password first)</li>
  <li><a href="/api/me">/api/me</a> (JSON)</li>
</ul>"#,
            name = escape(&user.display_name),
            username = escape(&user.username),
        ),
        None => r#"<h1>Hello, stranger!</h1>
<p>You are not logged in. <a href="/settings">Settings</a> needs a login: following that link
   takes you to the login page, and back to the settings after logging in.</p>
<p class="hint">Demo accounts: <code>ada</code> / <code>correct horse</code>, and
   <code>bob</code> / <code>hunter2</code> (disabled).</p>
<p class="hint">API clients get a JSON 401 instead of a redirect:
   <code>curl -H 'Accept: application/json' http://127.0.0.1:8080/api/me</code></p>"#
            .to_owned(),
    };
    page("Home", user.authenticated(), &flashes, &body)
}

#[get("/login")]
async fn login_form(req: HttpRequest, user: CurrentUser<User>, flashes: FlashMessages) -> HttpResponse {
    // Only a safe `next` is carried on: the hidden field is re-checked on POST anyway.
    let next = next_url(&req);
    let already = match user.authenticated() {
        Some(user) => format!(
            r#"<p class="hint">You are already logged in as <code>{}</code>; logging in again
   switches the account.</p>"#,
            escape(&user.username)
        ),
        None => String::new(),
    };
    let body = format!(
        r#"<h1>Log in</h1>
{already}
<form method="post" action="/login">
  {next}
  <label for="username">Username</label>
  <input type="text" id="username" name="username" autocomplete="username" required autofocus>
  <label for="password">Password</label>
  <input type="password" id="password" name="password" autocomplete="current-password" required>
  <label class="check"><input type="checkbox" name="remember"> Keep me logged in on this device for 14 days</label>
  <button class="primary" type="submit">Log in</button>
</form>
<p class="hint">Try <code>ada</code> / <code>correct horse</code>.</p>"#,
        next = next_field(next.as_deref()),
    );
    page("Log in", user.authenticated(), &flashes, &body)
}

#[derive(Deserialize)]
struct LoginForm {
    username: String,
    password: String,
    /// The checkbox: present (`on`) when ticked.
    remember: Option<String>,
    #[serde(default)]
    next: String,
}

#[post("/login")]
async fn login(req: HttpRequest, db: web::Data<Db>, form: web::Form<LoginForm>) -> actix_web::Result<HttpResponse> {
    let next = safe_next(&req, &form.next);
    let back_to_form = login_url("/login", next.as_deref(), "next");
    let Some(user) = db.authenticate(&form.username, &form.password) else {
        flash(&req, "Wrong username or password.", "error").map_err(server_error)?;
        return Ok(see_other(&back_to_form));
    };
    // Renews the session id (no session fixation) and records the login, fresh; with
    // `remember`, also sets the remember-me cookie, which logs the user back in (not fresh)
    // once the session is gone.
    let options = LoginOptions::new().remember(form.remember.is_some());
    match login_user_with(&req, &user, options) {
        Ok(()) => {}
        Err(LoginError::Inactive) => {
            flash(&req, "This account is disabled.", "error").map_err(server_error)?;
            return Ok(see_other(&back_to_form));
        }
        Err(error) => return Err(server_error(error)),
    }
    flash(&req, format!("Welcome back, {}!", user.display_name), "success").map_err(server_error)?;
    Ok(see_other(next.as_deref().unwrap_or("/")))
}

#[post("/logout")]
async fn logout(req: HttpRequest) -> actix_web::Result<HttpResponse> {
    // Removes the login and renews the session id; the flash written next survives.
    logout_user(&req).map_err(server_error)?;
    flash(&req, "You have been logged out.", "info").map_err(server_error)?;
    Ok(see_other("/"))
}

#[get("/settings")]
#[login_required]
async fn settings(req: HttpRequest, user: Authenticated<User>, flashes: FlashMessages) -> HttpResponse {
    let fresh = if login_fresh(&req).await {
        "fresh: you entered your password in this session"
    } else {
        "not fresh (restored from the remember-me cookie, or seen from another address): changing the \
         password asks for it first"
    };
    let body = format!(
        r#"<h1>Settings</h1>
<p>Name: {name}<br>Username: <code>{username}</code><br>User id: <code>{id}</code></p>
<p class="hint">This login is {fresh}.</p>
<p><a href="/change-password">Change password</a> · <a href="/devices">Devices</a></p>"#,
        name = escape(&user.display_name),
        username = escape(&user.username),
        id = user.id,
    );
    page("Settings", Some(&user), &flashes, &body)
}

// "Sudo mode": a sensitive operation needs a login made (or confirmed with the password) in
// the last five minutes. An older login is sent to the refresh view, `/reauth`.
#[get("/change-password")]
#[fresh_login_required(max_age = "5m")]
async fn change_password_form(user: Authenticated<User>, flashes: FlashMessages) -> HttpResponse {
    let body = r#"<h1>Change password</h1>
<form method="post" action="/change-password">
  <label for="password">New password</label>
  <input type="password" id="password" name="password" autocomplete="new-password" minlength="8" required autofocus>
  <label for="confirm">Repeat it</label>
  <input type="password" id="confirm" name="confirm" autocomplete="new-password" minlength="8" required>
  <button class="primary" type="submit">Change password</button>
</form>
<p class="hint">Changing it logs out your sessions on other devices.</p>"#;
    page("Change password", Some(&user), &flashes, body)
}

#[derive(Deserialize)]
struct NewPassword {
    password: String,
    confirm: String,
}

#[post("/change-password")]
#[fresh_login_required(max_age = "5m")]
async fn change_password(
    req: HttpRequest,
    user: Authenticated<User>,
    db: web::Data<Db>,
    form: web::Form<NewPassword>,
) -> actix_web::Result<HttpResponse> {
    if form.password.chars().count() < 8 || form.password != form.confirm {
        flash(&req, "The passwords must match and have at least 8 characters.", "error").map_err(server_error)?;
        return Ok(see_other("/change-password"));
    }
    let Some(updated) = db.set_password(user.id, &form.password) else {
        return Ok(see_other("/"));
    };
    // The new security stamp ends every session and remember-me cookie issued with the old
    // one, this one included: log this one in again with the new stamp (and a new remember-me
    // cookie if it had one).
    let remembered = req.cookie(REMEMBER_COOKIE).is_some();
    login_user_with(&req, &updated, LoginOptions::new().remember(remembered)).map_err(server_error)?;
    flash(&req, "Password changed. Sessions on other devices have been logged out.", "success")
        .map_err(server_error)?;
    Ok(see_other("/settings"))
}

/// The refresh view: an older login confirms the password before a sensitive page.
#[get("/reauth")]
#[login_required]
async fn reauth_form(req: HttpRequest, user: Authenticated<User>, flashes: FlashMessages) -> HttpResponse {
    let body = format!(
        r#"<h1>Confirm your password</h1>
<p>You are logged in as <code>{username}</code>. Please enter your password again to continue.</p>
<form method="post" action="/reauth">
  {next}
  <label for="password">Password</label>
  <input type="password" id="password" name="password" autocomplete="current-password" required autofocus>
  <button class="primary" type="submit">Confirm</button>
</form>"#,
        username = escape(&user.username),
        next = next_field(next_url(&req).as_deref()),
    );
    page("Confirm your password", Some(&user), &flashes, &body)
}

#[derive(Deserialize)]
struct ReauthForm {
    password: String,
    #[serde(default)]
    next: String,
}

#[post("/reauth")]
#[login_required]
async fn reauth(
    req: HttpRequest,
    user: Authenticated<User>,
    form: web::Form<ReauthForm>,
) -> actix_web::Result<HttpResponse> {
    let next = safe_next(&req, &form.next);
    if !user.check_password(&form.password) {
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
async fn devices(
    req: HttpRequest,
    user: Authenticated<User>,
    flashes: FlashMessages,
) -> actix_web::Result<HttpResponse> {
    let this = login_id(&req);
    let rows: String = logins(&req, &*user)
        .await
        .map_err(server_error)?
        .iter()
        .map(|entry| {
            let action = if Some(entry.id) == this {
                "<em>this browser</em>".to_owned()
            } else {
                format!(
                    r#"<form method="post" action="/devices/{id}/end"><button type="submit">Log out</button></form>"#,
                    id = entry.id
                )
            };
            format!(
                "<tr><td>{agent}</td><td>{address}</td><td>{since}</td><td>{remembered}</td><td>{action}</td></tr>\n",
                agent = escape(entry.user_agent.as_deref().unwrap_or("unknown")),
                address = escape(entry.address.as_deref().unwrap_or("unknown")),
                since = utc(entry.created_at),
                remembered = if entry.remembered { "yes" } else { "no" },
            )
        })
        .collect();
    let body = format!(
        r#"<h1>Devices</h1>
<table>
<tr><th>Browser</th><th>Address</th><th>Logged in</th><th>Remembered</th><th></th></tr>
{rows}</table>
<form method="post" action="/devices/others/end"><button type="submit">Log out all other devices</button></form>
<p class="hint">Logging a device out asks for your password first if you did not enter it in
   the last 5 minutes.</p>"#
    );
    Ok(page("Devices", Some(&user), &flashes, &body))
}

// Ending logins is sensitive: it needs a fresh login, as changing the password does (OWASP
// ASVS V3.3.4: after re-entering the password).
#[post("/devices/others/end")]
#[fresh_login_required(max_age = "5m")]
async fn end_other_devices(req: HttpRequest, user: Authenticated<User>) -> actix_web::Result<HttpResponse> {
    let ended = revoke_other_logins(&req, &*user).await.map_err(server_error)?;
    flash(&req, format!("Logged out {ended} other device(s)."), "success").map_err(server_error)?;
    Ok(see_other("/devices"))
}

#[post("/devices/{id}/end")]
#[fresh_login_required(max_age = "5m")]
async fn end_device(
    req: HttpRequest,
    user: Authenticated<User>,
    id: web::Path<u64>,
) -> actix_web::Result<HttpResponse> {
    if revoke_login(&req, &*user, id.into_inner()).await.map_err(server_error)? {
        flash(&req, "That device has been logged out.", "success").map_err(server_error)?;
    }
    Ok(see_other("/devices"))
}

/// JSON for API clients. `Authenticated` refuses anonymous requests like `#[login_required]`:
/// with `Accept: application/json` the answer is a 401 with a JSON body, not a redirect.
#[get("/api/me")]
async fn api_me(req: HttpRequest, user: Authenticated<User>) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({
        "id": user.id,
        "username": user.username,
        "display_name": user.display_name,
        "fresh": login_fresh(&req).await,
    }))
}
