//! The concurrency drive shared by `security_concurrency` (cookie store) and `redis_store`
//! (Redis store): many users at once, each with its own cookie jar, logging in (some with a
//! remember cookie), hitting guarded routes and logging out, against a real `HttpServer` on a
//! loopback port. Every response must be for its own user only, and none a 5xx.

use std::time::Duration;

/// How many users run at once, and how many rounds each: bounded in count...
pub const USERS: usize = 24;
pub const ROUNDS: usize = 6;
/// ... and in time.
pub const LIMIT: Duration = Duration::from_secs(120);

/// The ids of the users the drive logs in (the app's database must hold them).
pub fn user_ids() -> Vec<String> {
    (0..USERS).map(|i| format!("user-{i}")).collect()
}

/// Runs every user at once against the app at `base` (`http://127.0.0.1:<port>`, the
/// `support` routes); panics on the first response that shows another user, or anonymous
/// where the user is logged in (or the reverse), or a 5xx. Returns how many requests were made.
pub async fn drive(base: &str) -> usize {
    let users: Vec<_> = user_ids().into_iter().map(|id| actix_web::rt::spawn(one_user(base.to_owned(), id))).collect();
    let all = async {
        let mut requests = 0;
        for user in users {
            requests += user.await.expect("a user's task");
        }
        requests
    };
    actix_web::rt::time::timeout(LIMIT, all).await.expect("the drive finishes within its time limit")
}

async fn one_user(base: String, me: String) -> usize {
    let http = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client");
    let mut requests = 0;
    let mut call = async |method: reqwest::Method, path: &str| {
        requests += 1;
        let res = http.request(method, format!("{base}{path}")).send().await.expect("answered");
        let status = res.status().as_u16();
        let body = res.text().await.expect("a body");
        assert!(status < 500, "{me} {path}: {status} {body}");
        (status, body)
    };
    let (mine, secret) = (format!("user:{me}"), format!("secret of {me}"));
    for round in 0..ROUNDS {
        let remember = if round % 2 == 1 { "&remember=true" } else { "" };
        let login = call(reqwest::Method::POST, &format!("/login-as?user={me}{remember}")).await;
        assert_eq!(login, (200, "logged in".to_owned()), "{me} round {round}");
        assert_eq!(call(reqwest::Method::GET, "/whoami").await, (200, mine.clone()), "{me} round {round}");
        assert_eq!(call(reqwest::Method::GET, "/secret").await, (200, secret.clone()), "{me} round {round}");
        assert_eq!(call(reqwest::Method::POST, "/logout").await, (200, "logged out".to_owned()), "{me} {round}");
        assert_eq!(call(reqwest::Method::GET, "/whoami").await, (200, "anonymous".to_owned()), "{me} {round}");
        let (status, body) = call(reqwest::Method::GET, "/secret").await;
        assert!(status == 302 && !body.contains("secret of"), "{me} round {round}: {status} {body}");
    }
    requests
}
