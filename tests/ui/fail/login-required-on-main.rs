use login_runtime::login_required;

#[login_required]
#[actix_web::main]
async fn main() {}
