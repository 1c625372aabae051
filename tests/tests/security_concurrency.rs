//! Many users at once against a real server with the cookie store and a login registry (issue
//! 14): every response is for its own user only, and none is a 5xx. The same drive runs on the
//! Redis store in `redis_store.rs`.

mod concurrency;
mod support;

use actix_web::HttpServer;
use login_runtime::MemoryLoginRegistry;
use support::{Env, app};

#[actix_web::test]
async fn many_users_at_once_on_the_cookie_store_each_see_only_themselves() {
    let env = Env::new();
    for id in concurrency::user_ids() {
        env.db.insert(&id, "pw");
    }
    let registry = MemoryLoginRegistry::new();
    let login = env.manager().login_registry(registry.clone());
    let db = env.db.clone();
    let server =
        HttpServer::new(move || app(&login, &db)).workers(2).bind(("127.0.0.1", 0)).expect("bind a loopback port");
    let base = format!("http://{}", server.addrs()[0]);
    let server = server.run();
    let handle = server.handle();
    actix_web::rt::spawn(server);

    let requests = concurrency::drive(&base).await;
    assert_eq!(requests, concurrency::USERS * concurrency::ROUNDS * 6);
    // Every login was logged out: the registry lists none.
    for id in concurrency::user_ids() {
        assert!(login_runtime::LoginRegistry::list(&registry, &id).await.unwrap().is_empty(), "{id}");
    }
    handle.stop(true).await;
}
