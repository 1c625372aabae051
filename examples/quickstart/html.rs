//! HTML pages, built with `format!`. Every piece of text that did not come from this file
//! (user names, flashed messages, the `next` path) goes through [`escape`].

use actix_web::HttpResponse;
use actix_web::http::header::ContentType;
use login_runtime::FlashMessages;

use crate::users::User;

/// Escapes text for HTML element content and double- or single-quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
    out
}

/// `secs` since the Unix epoch as `YYYY-MM-DD HH:MM UTC` (the proleptic Gregorian calendar;
/// Howard Hinnant's days-to-civil algorithm).
pub fn utc(secs: u64) -> String {
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era = (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02} UTC", rest / 3_600, rest % 3_600 / 60)
}

const STYLE: &str = "
  * { box-sizing: border-box; }
  body { margin: 0; font: 16px/1.5 system-ui, -apple-system, 'Segoe UI', sans-serif;
         background: #f4f5f7; color: #1f2328; }
  header { background: #24292f; color: #fff; }
  header .bar { max-width: 42rem; margin: 0 auto; padding: .75rem 1rem; display: flex;
                align-items: center; gap: 1rem; }
  header a { color: #fff; text-decoration: none; }
  header .brand { font-weight: 600; margin-right: auto; }
  header form { margin: 0; }
  header button { background: none; border: 1px solid #8c959f; color: #fff; padding: .2rem .7rem; }
  main { max-width: 42rem; margin: 2rem auto; padding: 0 1rem; }
  .card { background: #fff; border: 1px solid #d0d7de; border-radius: 8px; padding: 1.5rem 2rem; }
  h1 { margin-top: 0; font-size: 1.5rem; }
  label { display: block; margin: .8rem 0 .2rem; font-weight: 500; }
  input[type=text], input[type=password] { width: 100%; padding: .5rem .6rem; font: inherit;
         border: 1px solid #d0d7de; border-radius: 6px; }
  label.check { font-weight: normal; display: flex; align-items: center; gap: .5rem; }
  button { font: inherit; cursor: pointer; border-radius: 6px; }
  .primary { margin-top: 1.2rem; background: #1f883d; color: #fff; border: 0; padding: .5rem 1.2rem; }
  .flash { padding: .6rem 1rem; border-radius: 6px; margin-bottom: 1rem; border: 1px solid; }
  .flash.info, .flash.message { background: #ddf4ff; border-color: #54aeff; }
  .flash.success { background: #dafbe1; border-color: #4ac26b; }
  .flash.error { background: #ffebe9; border-color: #ff8182; }
  .hint { color: #656d76; font-size: .9rem; }
  code { background: #eff1f3; padding: .1rem .3rem; border-radius: 4px; }
";

/// A whole page: the navigation bar (who is logged in), the flashed messages, then `body`
/// (already HTML).
pub fn page(title: &str, user: Option<&User>, flashes: &FlashMessages, body: &str) -> HttpResponse {
    let nav = match user {
        Some(user) => format!(
            r#"<a href="/settings">{name}</a>
      <form method="post" action="/logout"><button type="submit">Log out</button></form>"#,
            name = escape(&user.display_name),
        ),
        None => r#"<a href="/login">Log in</a>"#.to_owned(),
    };
    let flashes: String = flashes
        .iter()
        .map(|f| {
            format!(
                r#"<div class="flash {category}" role="status">{message}</div>"#,
                // The category becomes a class name: keep only safe characters.
                category = f.category.chars().filter(char::is_ascii_alphanumeric).collect::<String>(),
                message = escape(&f.message),
            )
        })
        .collect();
    let html = format!(
        r#"<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>{title} · quickstart</title>
  <style>{STYLE}</style>
</head>
<body>
  <header><div class="bar">
      <a class="brand" href="/">login-runtime quickstart</a>
      {nav}
  </div></header>
  <main>
    {flashes}
    <div class="card">
{body}
    </div>
  </main>
</body>
</html>
"#,
        title = escape(title),
    );
    HttpResponse::Ok().content_type(ContentType::html()).body(html)
}

#[cfg(test)]
mod tests {
    use super::{escape, utc};

    #[test]
    fn formats_unix_times_as_utc() {
        assert_eq!(utc(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00 UTC");
        assert_eq!(utc(1_796_282_618), "2026-12-03 07:23 UTC");
        assert_eq!(utc(4_102_444_799), "2099-12-31 23:59 UTC");
    }

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            escape(r#"<script>alert("x")</script> & 'y'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#x27;y&#x27;"
        );
        assert_eq!(escape("Ada Lovelace"), "Ada Lovelace");
    }
}
