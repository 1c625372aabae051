use login_runtime::login_required;

#[actix_web::main]
#[login_required]
async fn main() {}
