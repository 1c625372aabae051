//! Option parsing shared by every macro: `#[macro(key = value, ...)]`, the `crate = "..."`
//! option, and an error collector so that independent mistakes are reported together.

use proc_macro2::{Span, TokenStream, TokenTree};
use quote::{ToTokens, quote};
use syn::meta::ParseNestedMeta;
use syn::parse::{ParseStream, Parser};
use syn::{LitStr, Path, Token};

/// Collects independent errors (serde's `Ctxt`): every mistake is reported, not only the first.
///
/// An error is *fatal* when the item cannot be expanded in spite of it; otherwise the macro
/// still emits its expansion next to the error, so that the mistake is the only error the user
/// sees (a non-`async` handler is guarded as if it were `async`, rather than left unguarded to
/// fail again where it is registered).
#[derive(Default)]
pub(crate) struct Errors {
    first: Option<syn::Error>,
    fatal: bool,
}

impl Errors {
    pub(crate) fn push(&mut self, error: syn::Error) {
        match &mut self.first {
            Some(first) => first.combine(error),
            None => self.first = Some(error),
        }
    }

    pub(crate) fn spanned(&mut self, tokens: impl ToTokens, message: impl std::fmt::Display) {
        self.push(syn::Error::new_spanned(tokens, message));
    }

    pub(crate) fn at(&mut self, span: Span, message: impl std::fmt::Display) {
        self.push(syn::Error::new(span, message));
    }

    /// An error that leaves nothing sensible to expand.
    pub(crate) fn fatal(&mut self, tokens: impl ToTokens, message: impl std::fmt::Display) {
        self.fatal = true;
        self.spanned(tokens, message);
    }

    pub(crate) fn fatal_at(&mut self, span: Span, message: impl std::fmt::Display) {
        self.fatal = true;
        self.at(span, message);
    }

    pub(crate) fn fatal_error(&mut self, error: syn::Error) {
        self.fatal = true;
        self.push(error);
    }

    pub(crate) fn is_fatal(&self) -> bool {
        self.fatal
    }

    /// Keeps the value of a `Result`, recording its error.
    pub(crate) fn take<T>(&mut self, result: syn::Result<T>) -> Option<T> {
        result.map_err(|error| self.push(error)).ok()
    }

    pub(crate) fn finish(self) -> syn::Result<()> {
        match self.first {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }
}

/// `` `a` ``, `` `a` or `b` ``, `` `a`, `b` or `c` ``.
pub(crate) fn one_of(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|name| format!("`{name}`")).collect();
    match quoted.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}

/// Parses `key = value, flag, ...` with `syn::meta`, rejecting unknown and repeated keys.
///
/// `handle` is called once per known key, first occurrence only, and parses its value;
/// a semantic error in a value goes into `errors` (the value is consumed either way), while an
/// `Err` returned by `handle` is a syntax error that stops parsing. `context` names the place
/// the options are written in, for messages: "`#[login_required]`".
pub(crate) fn parse_options(
    args: TokenStream,
    context: &str,
    valid: &[&str],
    errors: &mut Errors,
    mut handle: impl FnMut(&str, &ParseNestedMeta, &mut Errors) -> syn::Result<()>,
) -> syn::Result<()> {
    let mut seen: Vec<String> = Vec::new();
    let args = drop_bare_literals(args, context, valid, errors);
    let parser = syn::meta::parser(|meta| {
        let key = meta.path.get_ident().map(ToString::to_string);
        match key {
            Some(key) if valid.contains(&key.as_str()) => {
                if seen.contains(&key) {
                    errors.spanned(&meta.path, format!("duplicate option `{key}` in {context}: remove one"));
                    skip_value(meta.input)
                } else {
                    seen.push(key.clone());
                    handle(&key, &meta, errors)
                }
            }
            _ => {
                let key = meta.path.to_token_stream().to_string().replace(' ', "");
                errors.spanned(&meta.path, format!("unknown option `{key}` in {context}; expected {}", one_of(valid)));
                skip_value(meta.input)
            }
        }
    });
    parser.parse2(args)
}

/// Reports and removes the arguments that start with a literal (`#[login_required("/login")]`),
/// which `syn::meta` would reject as "expected ident" without saying what the macro takes.
fn drop_bare_literals(args: TokenStream, context: &str, valid: &[&str], errors: &mut Errors) -> TokenStream {
    let mut kept = TokenStream::new();
    let mut segment: Vec<TokenTree> = Vec::new();
    let mut flush = |segment: &mut Vec<TokenTree>, comma: Option<TokenTree>, kept: &mut TokenStream| {
        match segment.first() {
            Some(TokenTree::Literal(literal)) => {
                let mut message = format!(
                    "{context} takes options written `key = value`, not a bare value; expected {}",
                    one_of(valid)
                );
                let text = literal.to_string();
                if text.starts_with("\"/") || text.starts_with("\"http") {
                    let view = if context.contains("fresh") { "refresh_view" } else { "login_view" };
                    message.push_str(&format!(
                        " (the page to send users to is set once, on the manager: `LoginManager::new(..).{view}({text})`)"
                    ));
                } else if valid.contains(&"max_age") {
                    message.push_str(&format!(": write `max_age = {text}`"));
                }
                errors.at(literal.span(), message);
            }
            _ => {
                kept.extend(segment.drain(..));
                kept.extend(comma);
            }
        }
        segment.clear();
    };
    for tree in args {
        match &tree {
            TokenTree::Punct(punct) if punct.as_char() == ',' => flush(&mut segment, Some(tree), &mut kept),
            _ => segment.push(tree),
        }
    }
    flush(&mut segment, None, &mut kept);
    kept
}

/// The value of `key = value`, or an error spanned on the key that says what it takes
/// (`#[fresh_login_required(max_age)]`), rather than syn's "expected `=`" over the attribute.
pub(crate) fn value<'a>(meta: &'a ParseNestedMeta, example: &str) -> syn::Result<ParseStream<'a>> {
    if meta.input.is_empty() || meta.input.peek(Token![,]) {
        let key = meta.path.to_token_stream().to_string();
        return Err(syn::Error::new_spanned(&meta.path, format!("`{key}` takes a value: write `{example}`")));
    }
    meta.value()
}

/// Skips the value of an option we already reported: everything up to the next `,`.
fn skip_value(input: ParseStream) -> syn::Result<()> {
    while !input.is_empty() && !input.peek(Token![,]) {
        input.parse::<TokenTree>()?;
    }
    Ok(())
}

/// A flag option such as `id`: reports a value given to it (`id = true`).
pub(crate) fn flag(key: &str, context: &str, meta: &ParseNestedMeta, errors: &mut Errors) -> syn::Result<()> {
    if !meta.input.is_empty() && !meta.input.peek(Token![,]) {
        skip_value(meta.input)?;
        errors.push(meta.error(format!("`{key}` takes no value: write `{context}`")));
    }
    Ok(())
}

/// Parses `= "path"` or `= path`, the value of the `crate` option (rustc suggests the unquoted
/// form when the quoted path does not resolve, so both are accepted).
pub(crate) fn crate_path(meta: &ParseNestedMeta, errors: &mut Errors) -> syn::Result<Option<Path>> {
    let input = value(meta, "crate = \"login_runtime\"")?;
    if !input.peek(LitStr) {
        return input.call(Path::parse_mod_style).map(Some);
    }
    let lit: LitStr = input.parse()?;
    match lit.parse::<Path>() {
        Ok(path) => Ok(Some(path)),
        Err(_) => {
            errors.spanned(
                &lit,
                format!(
                    "`crate` must be the path of the login-runtime crate, as in `crate = \"login_runtime\"`, not `{}`",
                    lit.value()
                ),
            );
            Ok(None)
        }
    }
}

/// The path generated code uses to reach the runtime: `::login_runtime` unless renamed.
pub(crate) fn runtime_path(krate: Option<&Path>) -> TokenStream {
    match krate {
        Some(path) => path.to_token_stream(),
        None => quote!(::login_runtime),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_read_like_rustc() {
        assert_eq!(one_of(&["crate"]), "`crate`");
        assert_eq!(one_of(&["max_age", "crate"]), "`max_age` or `crate`");
        assert_eq!(one_of(&["id", "active", "session_hash"]), "`id`, `active` or `session_hash`");
    }
}
