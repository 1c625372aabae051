//! `#[login_required]` and `#[fresh_login_required]`: guard an actix handler.
//!
//! The handler's parameters are folded into one injected extractor,
//! `LoginRequired<(A, B,)>`, which checks the login before it extracts `(A, B)`; the body starts
//! by destructuring it with the user's own patterns. The return type is never touched, so the
//! handler stays an ordinary actix handler above or below `#[get]`, or behind `.to(h)`.

use proc_macro2::{Literal, Span, TokenStream, TokenTree};
use quote::{ToTokens, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Attribute, FnArg, ItemFn, Pat, Path, Type};

use crate::attr::{self, Errors};
use crate::context::Enclosing;

/// actix implements `FromRequest` for tuples of up to 16 extractors.
const MAX_EXTRACTORS: usize = 16;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Guard {
    Login,
    FreshLogin,
}

impl Guard {
    fn name(self) -> &'static str {
        match self {
            Guard::Login => "login_required",
            Guard::FreshLogin => "fresh_login_required",
        }
    }

    fn options(self) -> &'static [&'static str] {
        match self {
            Guard::Login => &["permission", "crate"],
            Guard::FreshLogin => &["max_age", "permission", "crate"],
        }
    }
}

/// The validated attribute options.
#[derive(Default)]
struct Options {
    krate: Option<Path>,
    /// Seconds; `None` is "any fresh login".
    max_age: Option<u64>,
    /// `permission = ..`: the rule a logged-in user must also pass.
    permission: Option<crate::permission::Rule>,
}

/// A handler parameter: the user's pattern and the extractor type.
struct Param {
    pat: Box<Pat>,
    ty: Box<Type>,
}

/// Entry point: the guarded handler, plus `compile_error!`s for any mistake.
pub(crate) fn expand(guard: Guard, args: TokenStream, input: TokenStream, enclosing: &Enclosing) -> TokenStream {
    let (mut output, error) = run(guard, args, input, enclosing);
    output.extend(error.map(syn::Error::into_compile_error));
    output
}

/// The expansion, or the error(s) alone (for unit tests).
#[cfg(test)]
pub(crate) fn try_expand(guard: Guard, args: TokenStream, input: TokenStream) -> syn::Result<TokenStream> {
    match run(guard, args, input, &Enclosing::Module) {
        (output, None) => Ok(output),
        (_, Some(error)) => Err(error),
    }
}

/// The output and the errors. After a fatal error the output is the item as written
/// (actix-web-codegen's `input_and_compile_error`); after others, the guarded handler.
fn run(
    guard: Guard,
    args: TokenStream,
    input: TokenStream,
    enclosing: &Enclosing,
) -> (TokenStream, Option<syn::Error>) {
    let mut errors = Errors::default();
    let options = parse_options(guard, args, &mut errors);
    let mut item = match parse_handler(guard, input.clone()) {
        Ok(item) => item,
        Err(error) => {
            errors.push(error);
            return (input, errors.finish().err());
        }
    };
    // A trait fixes its methods' signatures, which the guard must change: left as written, the
    // method keeps the trait's signature, and this is the one error.
    let name = guard.name();
    if enclosing.is_trait()
        && let Some(in_trait) = enclosing.block()
    {
        errors.at(
            Span::call_site(),
            format!(
                "`#[{name}]` cannot guard a method of {in_trait}: the trait fixes the method's parameters, which the guard replaces; \
                 put `#[{name}]` on a free `async fn` handler that calls `{}`",
                item.sig.ident
            ),
        );
        return (input, errors.finish().err());
    }
    let params = validate(guard, &mut item, &mut errors);
    if errors.is_fatal() {
        return (input, errors.finish().err());
    }
    // Read only for a permission rule: whether equal rules of the module may share a type.
    let site = options.permission.as_ref().and_then(|_| crate::context::module_level_site());
    // An inherent `impl` cannot hold the rule's items: they go in the handler's body.
    let in_impl = matches!(enclosing, Enclosing::Impl { .. }).then(crate::context::call_site_position);
    let mut output = rewrite(guard, &options, &mut item, &params, site.as_ref(), in_impl.as_deref());
    // A static in the body of a method cannot name the generics of its `impl`.
    if !matches!(enclosing, Enclosing::Impl { .. }) {
        register(&options, &mut item, &params);
    }
    item.to_tokens(&mut output);
    (output, errors.finish().err())
}

/// The options; a mistake in them is reported and the option ignored.
fn parse_options(guard: Guard, args: TokenStream, errors: &mut Errors) -> Options {
    let mut options = Options::default();
    let context = format!("`#[{}]`", guard.name());
    let result = attr::parse_options(args, &context, guard.options(), errors, |key, meta, errors| {
        match key {
            "crate" => options.krate = attr::crate_path(meta, errors)?,
            "max_age" => options.max_age = max_age(attr::value(meta, "max_age = 300` or `max_age = \"15m\"")?, errors)?,
            "permission" => {
                options.permission = crate::permission::parse(attr::value(meta, crate::permission::EXAMPLE)?, errors)?;
            }
            _ => unreachable!("`{key}` is not in `Guard::options`"),
        }
        Ok(())
    });
    errors.take(result);
    options
}

fn parse_handler(guard: Guard, input: TokenStream) -> syn::Result<ItemFn> {
    syn::parse2::<ItemFn>(input.clone()).map_err(|error| {
        match syn::parse2::<syn::Item>(input) {
            // Some other item: say what the attribute is for, pointing at the attribute.
            Ok(_) => syn::Error::new(
                Span::call_site(),
                format!("`#[{}]` guards an `async fn` actix handler, not this item", guard.name()),
            ),
            // Not even an item: the parser's own error is the precise one.
            Err(_) => error,
        }
    })
}

/// Checks the signature; returns the parameters to fold into the guard. Repairs what it can
/// (a missing `async`, a second guard), so that the expansion adds no error of its own.
fn validate(guard: Guard, item: &mut ItemFn, errors: &mut Errors) -> Vec<Param> {
    let name = guard.name();
    // `main`, above or below `#[actix_web::main]` (which turns it into a plain `fn main`).
    if item.sig.ident == "main" || item.attrs.iter().any(is_runtime_entry) {
        errors.fatal(
            &item.sig.ident,
            format!(
                "`#[{name}]` guards an actix handler, not the program's entry point: move it to a handler, as in `#[{name}] async fn index() -> impl Responder`"
            ),
        );
        return Vec::new();
    }
    // Repaired (removed) after the error, so the handler still registers without a second one.
    let qualifiers = [
        item.sig.constness.take().map(|token| (token.into_token_stream(), "`const`")),
        match std::mem::replace(&mut item.sig.safety, syn::Safety::Default) {
            syn::Safety::Unsafe(token) => Some((token.into_token_stream(), "`unsafe`")),
            _ => None,
        },
        item.sig.abi.take().map(|abi| (abi.into_token_stream(), "an `extern` ABI")),
    ];
    for (tokens, what) in qualifiers.into_iter().flatten() {
        errors.spanned(
            tokens,
            format!("an actix handler cannot be {what}: remove it (`#[{name}]` guards a plain `async fn`)"),
        );
    }
    if item.sig.asyncness.is_none() {
        errors.spanned(
            item.sig.fn_token,
            format!(
                "`#[{name}]` guards an actix handler, which must be an `async fn`: write `async fn {}`",
                item.sig.ident
            ),
        );
        item.sig.asyncness = Some(Default::default());
    }
    item.attrs.retain(|attr| match guard_attribute(attr) {
        Some(other) => {
            errors.spanned(
                attr,
                format!("this handler is already guarded by `#[{name}]`: remove this `#[{other}]`, a handler takes one login guard"),
            );
            false
        }
        None => true,
    });
    let sig = &item.sig;
    if let Some(variadic) = &sig.variadic {
        errors.fatal(variadic, "an actix handler cannot be variadic");
    }
    let mut params = Vec::new();
    for (index, input) in sig.inputs.iter().enumerate() {
        match input {
            FnArg::Receiver(receiver) => errors
                .fatal(receiver, format!("`#[{name}]` guards a free `async fn` handler, not a method: remove `self`")),
            FnArg::Typed(typed) => {
                if let Some(attr) = typed.attrs.first() {
                    errors.fatal(attr, format!("`#[{name}]` does not support attributes on handler parameters"));
                }
                if index == MAX_EXTRACTORS {
                    errors.fatal(
                        typed,
                        format!(
                            "an actix handler takes at most {MAX_EXTRACTORS} extractors: group some parameters into a tuple, as in `(a, b): (A, B)`"
                        ),
                    );
                }
                params.push(Param { pat: typed.pat.clone(), ty: typed.ty.clone() });
            }
        }
    }
    params
}

/// `#[actix_web::main]`, `#[tokio::main]`, `#[test]`, `#[actix_web::test]`...
fn is_runtime_entry(attr: &Attribute) -> bool {
    attr.path().segments.last().is_some_and(|last| last.ident == "main" || last.ident == "test")
}

/// `Some("login_required")` if the attribute is one of our guards, whatever its path prefix.
fn guard_attribute(attr: &Attribute) -> Option<&'static str> {
    let last = attr.path().segments.last()?;
    [Guard::Login, Guard::FreshLogin].into_iter().map(Guard::name).find(|name| last.ident == name)
}

/// Guards the handler; returns the items to put before it (the permission rule's type).
fn rewrite(
    guard: Guard,
    options: &Options,
    item: &mut ItemFn,
    params: &[Param],
    site: Option<&crate::context::ModuleSite>,
    in_impl: Option<&str>,
) -> TokenStream {
    let krate = attr::runtime_path(options.krate.as_ref());
    let (check, definition, rule_items) = match &options.permission {
        Some(rule) => {
            let (ty, definition, in_body) =
                crate::permission::rule_type(rule, &krate, &item.sig.ident, &item.vis, site, in_impl);
            (quote!(, #ty), definition, in_body)
        }
        None => (TokenStream::new(), TokenStream::new(), TokenStream::new()),
    };
    // Invisible to the body (mixed-site hygiene), so it cannot collide with the user's names.
    let guard_var = syn::Ident::new("__login_guard", Span::mixed_site());
    let tys: Vec<&Type> = params.iter().map(|param| &*param.ty).collect();
    let pats: Vec<&Pat> = params.iter().map(|param| &*param.pat).collect();
    // A parameter that is not an extractor is reported at its type, with a message that says
    // so, and only there (see `checked`), not again by actix's `Handler` bound at the route.
    let (extractors, body_checks) = checked(&krate, &tys, "require_extractor", !item.sig.generics.params.is_empty());
    let guard_ty = match guard {
        Guard::Login => quote!(#krate::__private::LoginRequired<#extractors #check>),
        Guard::FreshLogin => {
            let secs = Literal::u64_unsuffixed(options.max_age.unwrap_or(0));
            quote!(#krate::__private::FreshLoginRequired<#extractors, #secs #check>)
        }
    };
    item.sig.inputs = syn::parse_quote!(#guard_var: #guard_ty);
    let prologue: syn::Block = syn::parse_quote!({
        #rule_items
        #body_checks
        let (#(#pats,)*) = #guard_var.into_inner();
    });
    item.block.stmts.splice(0..0, prologue.stmts);
    definition
}

/// Opens the handler's body with its entry in the start-up check's table (the runtime's
/// `startup`): where it is, and the user types its parameters extract, found by the compiler
/// (`UserProbe`). None for a handler without parameters, or a generic one (a static in its body
/// cannot name its types); a parameter whose type mentions `impl Trait` or `Self` is left out.
///
/// One entry per module and parameter type is enough for the check, and each costs build time
/// (~1 ms, mostly linkme's element macro): a type an earlier handler of the same module wrote
/// with the same tokens (so it names the same type) is left out, and the start-up error names
/// the first handler of the module that asks for it.
fn register(options: &Options, item: &mut ItemFn, params: &[Param]) {
    if !item.sig.generics.params.is_empty() {
        return;
    }
    let site = crate::context::module_level_site();
    let tys: Vec<&Type> = params
        .iter()
        .map(|param| &*param.ty)
        .filter(|ty| !mentions(ty, "impl") && !mentions(ty, "Self"))
        .filter(|ty| {
            site.as_ref().is_none_or(|site| {
                site.claim(crate::permission::salt(&["start-up check", &ty.to_token_stream().to_string()]))
            })
        })
        .collect();
    if tys.is_empty() {
        return;
    }
    let krate = attr::runtime_path(options.krate.as_ref());
    let private = quote!(#krate::__private);
    let name = item.sig.ident.to_string();
    // Verbatim: parsing the tokens back costs build time, 300 times in a crate of 300 handlers.
    let entry = quote! {
        #[#private::linkme::distributed_slice(#private::GUARDED_HANDLERS)]
        #[linkme(crate = #private::linkme)]
        static __LOGIN_HANDLER: #private::GuardedHandler = #private::GuardedHandler {
            module: ::core::module_path!(),
            name: #name,
            file: ::core::file!(),
            line: ::core::line!(),
            users: {
                use #private::NoUserType as _;
                &[#(#private::UserProbe::<#tys>::USER),*]
            },
        };
    };
    item.block.stmts.insert(0, syn::Stmt::Item(syn::Item::Verbatim(entry)));
}

/// The tuple of extractor types `(A, B,)`, and the checks that each is an extractor
/// (`require_extractor::<A>();`, or another check of that form), spanned on the user's types.
///
/// The checks run in the length of an array, `<(A, B,) as Checked<[(); { checks; 0 }]>>::Type`:
/// when one fails, rustc reports it at the type, and the array, and so the whole type, becomes
/// an error type, which keeps rustc from reporting the same mistake again wherever the tuple
/// must be an extractor. A generic function, or a type that mentions `impl Trait` or `Self`,
/// cannot be named in an array length: its checks are returned as statements for the body.
pub(crate) fn checked(krate: &TokenStream, tys: &[&Type], check: &str, generic: bool) -> (TokenStream, TokenStream) {
    let tuple = quote!((#(#tys,)*));
    let checks: TokenStream = tys.iter().filter_map(|ty| require_extractor(krate, ty, check)).collect();
    if checks.is_empty() {
        return (tuple, checks);
    }
    if generic || tys.iter().any(|ty| mentions(ty, "impl") || mentions(ty, "Self")) {
        return (tuple, checks);
    }
    (quote!(<#tuple as #krate::__private::Checked<[(); { #checks 0 }]>>::Type), TokenStream::new())
}

/// `require_extractor::<T>();` (or another check of that form), spanned on `T` (nothing for
/// `impl Trait`, which cannot be named there).
fn require_extractor(krate: &TokenStream, ty: &Type, check: &str) -> Option<TokenStream> {
    if mentions(ty, "impl") {
        return None;
    }
    let check = syn::Ident::new(check, ty.span());
    Some(quote_spanned!(ty.span()=> #krate::__private::#check::<#ty>();))
}

/// Whether a type mentions a keyword (`impl Trait` cannot be named in a turbofish, `Self`
/// cannot be named in an array length).
fn mentions(ty: &Type, keyword: &str) -> bool {
    fn walk(tokens: TokenStream, keyword: &str) -> bool {
        tokens.into_iter().any(|tree| match tree {
            TokenTree::Ident(ident) => ident == keyword,
            TokenTree::Group(group) => walk(group.stream(), keyword),
            _ => false,
        })
    }
    walk(ty.to_token_stream(), keyword)
}

/// `max_age = 300` (seconds) or `max_age = "15m"` (`s`, `m`, `h`, `d`, combinable: `"1h30m"`).
fn max_age(input: syn::parse::ParseStream, errors: &mut Errors) -> syn::Result<Option<u64>> {
    const EXPECTED: &str = "expected a number of seconds, as in `max_age = 300`, or a duration such as `\"30s\"`, `\"15m\"`, `\"2h\"` or `\"1d\"`";
    let value: syn::Expr = input.parse()?;
    let secs = match &value {
        syn::Expr::Lit(syn::ExprLit { lit: syn::Lit::Int(int), .. }) => match int.suffix() {
            "" | "u64" => int.base10_parse::<u64>().map_err(|_| "`max_age` is too large".to_owned()),
            unit @ ("s" | "m" | "h" | "d") => {
                Err(format!("write a duration as a string: `max_age = \"{}{unit}\"`", int.base10_digits()))
            }
            suffix => Err(format!("`max_age` is a number of seconds: remove the `{suffix}` suffix")),
        },
        syn::Expr::Lit(syn::ExprLit { lit: syn::Lit::Str(text), .. }) => parse_duration(&text.value()),
        _ => Err(format!("invalid `max_age`: {EXPECTED}")),
    };
    match secs {
        Ok(0) => errors.spanned(&value, "`max_age` must be at least one second: remove it to accept any fresh login"),
        Ok(secs) => return Ok(Some(secs)),
        Err(message) => errors.spanned(&value, message),
    }
    Ok(None)
}

/// Parses `"90s"`, `"15m"`, `"2h"`, `"1d"`, `"1h30m"` into seconds.
fn parse_duration(text: &str) -> Result<u64, String> {
    let invalid = || {
        format!(
            "invalid `max_age` duration `\"{text}\"`: expected a number followed by a unit (`s`, `m`, `h` or `d`), as in `\"15m\"` or `\"1h30m\"`"
        )
    };
    let text_trimmed = text.trim();
    if text_trimmed.is_empty() {
        return Err(invalid());
    }
    let mut total: u64 = 0;
    let mut rest = text_trimmed;
    while !rest.is_empty() {
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits == 0 {
            return Err(invalid());
        }
        let number: u64 = rest[..digits].parse().map_err(|_| "`max_age` is too large".to_owned())?;
        rest = &rest[digits..];
        let unit = rest.chars().next().ok_or_else(invalid)?;
        let scale = match unit {
            's' => 1,
            'm' => 60,
            'h' => 60 * 60,
            'd' => 24 * 60 * 60,
            _ => return Err(invalid()),
        };
        rest = &rest[unit.len_utf8()..];
        total = number
            .checked_mul(scale)
            .and_then(|secs| total.checked_add(secs))
            .ok_or_else(|| "`max_age` is too large".to_owned())?;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// At module level.
    fn expand(guard: Guard, args: TokenStream, input: TokenStream) -> TokenStream {
        super::expand(guard, args, input, &Enclosing::Module)
    }

    fn errors(guard: Guard, args: TokenStream, input: TokenStream) -> Vec<String> {
        match try_expand(guard, args, input) {
            Ok(output) => panic!("expected errors, got {output}"),
            Err(error) => error.into_iter().map(|error| error.to_string()).collect(),
        }
    }

    fn expands(guard: Guard, args: TokenStream, input: TokenStream) -> String {
        try_expand(guard, args, input).unwrap_or_else(|error| panic!("{error}")).to_string()
    }

    #[test]
    fn folds_parameters_into_the_guard() {
        let out = expands(
            Guard::Login,
            quote!(),
            quote! {
                #[get("/")]
                pub async fn h(a: A, mut b: web::Path<(u32, String)>) -> impl Responder { body(a, b) }
            },
        );
        assert!(out.starts_with("# [get (\"/\")] pub async fn h"), "{out}");
        assert!(
            out.contains(":: login_runtime :: __private :: LoginRequired < < (A , web :: Path < (u32 , String) > ,) as :: login_runtime :: __private :: Checked < [() ; { :: login_runtime :: __private :: require_extractor :: < A > () ; :: login_runtime :: __private :: require_extractor :: < web :: Path < (u32 , String) > > () ; 0 }] > > :: Type >"),
            "{out}"
        );
        assert!(out.contains("let (a , mut b ,) = __login_guard . into_inner () ;"), "{out}");
        assert!(out.contains("-> impl Responder"), "{out}");
        // A generic handler cannot check in an array length: its checks open its body.
        let out = expands(
            Guard::Login,
            quote!(),
            quote!(
                async fn h<T: Tr>(a: web::Json<T>) {}
            ),
        );
        assert!(out.contains("LoginRequired < (web :: Json < T > ,) >"), "{out}");
        assert!(
            out.contains(
                ") { :: login_runtime :: __private :: require_extractor :: < web :: Json < T > > () ; let (a ,) ="
            ),
            "{out}"
        );
    }

    #[test]
    fn registers_the_user_types_of_its_parameters_for_the_start_up_check() {
        let out = expands(
            Guard::Login,
            quote!(),
            quote!(
                async fn h(user: Authenticated<User>, form: impl Extract, path: web::Path<u32>) {}
            ),
        );
        assert!(
            out.contains("async fn h (__login_guard : :: login_runtime :: __private :: LoginRequired < (Authenticated < User > , impl Extract , web :: Path < u32 > ,) >) { \
                # [:: login_runtime :: __private :: linkme :: distributed_slice (:: login_runtime :: __private :: GUARDED_HANDLERS)] \
                # [linkme (crate = :: login_runtime :: __private :: linkme)] \
                static __LOGIN_HANDLER : :: login_runtime :: __private :: GuardedHandler = :: login_runtime :: __private :: GuardedHandler { \
                module : :: core :: module_path ! () , name : \"h\" , file : :: core :: file ! () , line : :: core :: line ! () , \
                users : { use :: login_runtime :: __private :: NoUserType as _ ; \
                & [:: login_runtime :: __private :: UserProbe :: < Authenticated < User > > :: USER , \
                :: login_runtime :: __private :: UserProbe :: < web :: Path < u32 > > :: USER] } , } ;"),
            "the `impl Trait` parameter is left out: {out}"
        );
        // Nothing to record, or nothing a static can name.
        for input in [
            quote!(
                async fn h() {}
            ),
            quote!(
                async fn h<U: AuthUser>(user: Authenticated<U>) {}
            ),
            quote!(
                async fn h(user: Self, form: impl Extract) {}
            ),
        ] {
            assert!(!expands(Guard::Login, quote!(), input).contains("GUARDED_HANDLERS"));
        }
        let in_impl = Enclosing::Impl { trait_: None, self_ty: "Site<T>".into() };
        let (out, _) = run(
            Guard::Login,
            quote!(),
            quote!(
                async fn h(user: CurrentUser<User>) {}
            ),
            &in_impl,
        );
        assert!(!out.to_string().contains("GUARDED_HANDLERS"), "{out}");
    }

    #[test]
    fn fresh_guard_carries_max_age() {
        let out = expands(
            Guard::FreshLogin,
            quote!(max_age = "15m"),
            quote!(
                async fn h() -> R {
                    r()
                }
            ),
        );
        assert!(out.contains("FreshLoginRequired < () , 900 >"), "{out}");
        let out = expands(
            Guard::FreshLogin,
            quote!(),
            quote!(
                async fn h() -> R {
                    r()
                }
            ),
        );
        assert!(out.contains("FreshLoginRequired < () , 0 >"), "{out}");
        let out = expands(
            Guard::FreshLogin,
            quote!(max_age = 300, crate = "lr"),
            quote!(
                async fn h() {}
            ),
        );
        assert!(out.contains("lr :: __private :: FreshLoginRequired < () , 300 >"), "{out}");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Ok(30));
        assert_eq!(parse_duration("15m"), Ok(900));
        assert_eq!(parse_duration("2h"), Ok(7200));
        assert_eq!(parse_duration("1d"), Ok(86400));
        assert_eq!(parse_duration("1h30m"), Ok(5400));
        assert!(parse_duration("15").is_err());
        assert!(parse_duration("m").is_err());
        assert!(parse_duration("15 minutes").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("99999999999999999999d").is_err());
    }

    #[test]
    fn not_async() {
        let errs = errors(
            Guard::Login,
            quote!(),
            quote!(
                fn h() {}
            ),
        );
        assert_eq!(
            errs,
            ["`#[login_required]` guards an actix handler, which must be an `async fn`: write `async fn h`"]
        );
    }

    #[test]
    fn receiver() {
        let errs = errors(
            Guard::Login,
            quote!(),
            quote!(
                async fn h(&self) {}
            ),
        );
        assert_eq!(errs, ["`#[login_required]` guards a free `async fn` handler, not a method: remove `self`"]);
    }

    #[test]
    fn options() {
        let errs = errors(
            Guard::Login,
            quote!(max_age = 3),
            quote!(
                async fn h() {}
            ),
        );
        assert_eq!(errs, ["unknown option `max_age` in `#[login_required]`; expected `permission` or `crate`"]);
        let errs = errors(
            Guard::FreshLogin,
            quote!(max_age = 3, max_age = 4),
            quote!(
                async fn h() {}
            ),
        );
        assert_eq!(errs, ["duplicate option `max_age` in `#[fresh_login_required]`: remove one"]);
        let errs = errors(
            Guard::FreshLogin,
            quote!(maxage = 3, path::to = 1),
            quote!(
                async fn h() {}
            ),
        );
        assert_eq!(
            errs,
            [
                "unknown option `maxage` in `#[fresh_login_required]`; expected `max_age`, `permission` or `crate`",
                "unknown option `path::to` in `#[fresh_login_required]`; expected `max_age`, `permission` or `crate`",
            ]
        );
        let errs = errors(
            Guard::FreshLogin,
            quote!(max_age = "soon"),
            quote!(
                async fn h() {}
            ),
        );
        assert_eq!(errs.len(), 1);
        assert!(errs[0].starts_with("invalid `max_age` duration `\"soon\"`"), "{errs:?}");
        let errs = errors(
            Guard::FreshLogin,
            quote!(max_age = 15m),
            quote!(
                async fn h() {}
            ),
        );
        assert_eq!(errs, ["write a duration as a string: `max_age = \"15m\"`"]);
        let errs = errors(
            Guard::FreshLogin,
            quote!(max_age = 0),
            quote!(
                async fn h() {}
            ),
        );
        assert_eq!(errs, ["`max_age` must be at least one second: remove it to accept any fresh login"]);
        let errs = errors(
            Guard::FreshLogin,
            quote!(max_age = 1.5),
            quote!(
                async fn h() {}
            ),
        );
        assert!(errs[0].starts_with("invalid `max_age`: expected a number of seconds"), "{errs:?}");
        let errs = errors(
            Guard::Login,
            quote!(crate = "not a path"),
            quote!(
                async fn h() {}
            ),
        );
        assert!(errs[0].starts_with("`crate` must be the path of the login-runtime crate"), "{errs:?}");
    }

    #[test]
    fn independent_errors_are_reported_together() {
        let errs = errors(
            Guard::Login,
            quote!(bogus),
            quote!(
                fn h(self) {}
            ),
        );
        assert_eq!(errs.len(), 3, "{errs:?}");
    }

    #[test]
    fn two_guards() {
        for second in [quote!(#[login_required]), quote!(#[login_runtime::fresh_login_required(max_age = 5)])] {
            let errs = errors(Guard::Login, quote!(), quote!(#[get("/")] #second async fn h() {}));
            assert_eq!(errs.len(), 1);
            assert!(
                errs[0].starts_with("this handler is already guarded by `#[login_required]`: remove this"),
                "{errs:?}"
            );
        }
    }

    #[test]
    fn recoverable_mistakes_still_expand() {
        // Guarded as if `async`: no second error where the handler is registered.
        let out = expand(
            Guard::Login,
            quote!(bogus),
            quote!(
                fn h(a: A) -> R {
                    r()
                }
            ),
        )
        .to_string();
        assert!(out.contains("async fn h (__login_guard : :: login_runtime :: __private :: LoginRequired"), "{out}");
        assert_eq!(out.matches("compile_error").count(), 2, "{out}");
        // The second guard is dropped, not expanded again.
        let out = expand(
            Guard::Login,
            quote!(),
            quote!(
                #[get("/")]
                #[fresh_login_required]
                async fn h() {}
            ),
        )
        .to_string();
        assert!(out.starts_with("# [get (\"/\")] async fn h (__login_guard"), "{out}");
        assert!(!out.contains("# [fresh_login_required]"), "{out}");
        // A fatal mistake leaves the item as written.
        let out = expand(
            Guard::Login,
            quote!(),
            quote!(
                async fn h(self) {}
            ),
        )
        .to_string();
        assert!(out.starts_with("async fn h (self) { }"), "{out}");
    }

    #[test]
    fn not_a_handler() {
        for input in [
            quote!(
                #[actix_web::main]
                async fn main() {}
            ),
            quote!(
                fn main() {
                    run()
                }
            ),
            quote!(
                #[tokio::test]
                async fn it_works() {}
            ),
        ] {
            let errs = errors(Guard::Login, quote!(), input.clone());
            assert_eq!(errs.len(), 1, "{errs:?}");
            assert!(errs[0].starts_with("`#[login_required]` guards an actix handler, not the program's entry point"));
            // The item is left as written, for the runtime's own attribute to expand.
            assert!(expand(Guard::Login, quote!(), input.clone()).to_string().starts_with(&input.to_string()));
        }
    }

    #[test]
    fn qualifiers_are_reported_and_removed() {
        let out = expand(
            Guard::FreshLogin,
            quote!(),
            quote!(
                const async unsafe extern "C" fn h() {}
            ),
        )
        .to_string();
        assert!(out.starts_with("async fn h (__login_guard"), "{out}");
        let errs = errors(
            Guard::FreshLogin,
            quote!(),
            quote!(
                const async unsafe extern "C" fn h() {}
            ),
        );
        assert_eq!(
            errs,
            [
                "an actix handler cannot be `const`: remove it (`#[fresh_login_required]` guards a plain `async fn`)",
                "an actix handler cannot be `unsafe`: remove it (`#[fresh_login_required]` guards a plain `async fn`)",
                "an actix handler cannot be an `extern` ABI: remove it (`#[fresh_login_required]` guards a plain `async fn`)",
            ]
        );
    }

    #[test]
    fn option_shapes() {
        let errs = errors(
            Guard::FreshLogin,
            quote!(max_age),
            quote!(
                async fn h() {}
            ),
        );
        assert_eq!(errs, ["`max_age` takes a value: write `max_age = 300` or `max_age = \"15m\"`"]);
        let errs = errors(
            Guard::Login,
            quote!(crate),
            quote!(
                async fn h() {}
            ),
        );
        assert_eq!(errs, ["`crate` takes a value: write `crate = \"login_runtime\"`"]);
        let errs = errors(
            Guard::Login,
            quote!("/login", crate = "lr"),
            quote!(
                async fn h() {}
            ),
        );
        assert_eq!(errs.len(), 1);
        assert!(
            errs[0].starts_with("`#[login_required]` takes options written `key = value`, not a bare value"),
            "{errs:?}"
        );
        let errs = errors(
            Guard::FreshLogin,
            quote!(300),
            quote!(
                async fn h() {}
            ),
        );
        assert_eq!(
            errs,
            [
                "`#[fresh_login_required]` takes options written `key = value`, not a bare value; expected `max_age`, `permission` or `crate`: write `max_age = 300`"
            ]
        );
        for krate in [quote!(crate = lr), quote!(crate = ::lr), quote!(crate = "lr")] {
            let out = expands(
                Guard::Login,
                krate,
                quote!(
                    async fn h() {}
                ),
            );
            assert!(out.contains("lr :: __private :: LoginRequired"), "{out}");
        }
    }

    #[test]
    fn too_many_extractors() {
        let params = (0..17).map(|i| syn::Ident::new(&format!("a{i}"), Span::call_site()));
        let errs = errors(Guard::Login, quote!(), quote!(async fn h(#(#params: A),*) {}));
        assert_eq!(errs.len(), 1);
        assert!(errs[0].starts_with("an actix handler takes at most 16 extractors"), "{errs:?}");
    }

    #[test]
    fn not_in_a_trait() {
        let input = quote!(
            async fn index() -> &'static str {
                "hello"
            }
        );
        let in_impl = Enclosing::Impl { trait_: Some("Pages".into()), self_ty: "Site".into() };
        let (out, error) = run(Guard::Login, quote!(), input.clone(), &in_impl);
        assert_eq!(out.to_string(), input.to_string(), "left as written, with the trait's signature");
        assert_eq!(
            error.map(|error| error.to_string()).as_deref(),
            Some(
                "`#[login_required]` cannot guard a method of `impl Pages for Site`: the trait fixes the method's parameters, which the guard replaces; \
                 put `#[login_required]` on a free `async fn` handler that calls `index`"
            )
        );
        let (_, error) = run(Guard::FreshLogin, quote!(), input.clone(), &Enclosing::Trait { name: "Pages".into() });
        assert!(
            error.unwrap().to_string().starts_with("`#[fresh_login_required]` cannot guard a method of trait `Pages`")
        );
        // An inherent impl's associated function is a handler like any other.
        let inherent = Enclosing::Impl { trait_: None, self_ty: "Site".into() };
        let (out, error) = run(Guard::Login, quote!(), input, &inherent);
        assert!(error.is_none());
        assert!(out.to_string().contains("__login_guard"), "{out}");
    }

    #[test]
    fn not_a_fn() {
        let errs = errors(
            Guard::Login,
            quote!(),
            quote!(
                struct S;
            ),
        );
        assert_eq!(errs, ["`#[login_required]` guards an `async fn` actix handler, not this item"]);
    }

    /// Expansion size per handler, reported in BENCHMARKS.md ("Compile cost"): the handler of
    /// the compile benchmark (`login-bench --compile`) grows by a fixed number of tokens, the
    /// same whatever its body (the body is moved, never copied).
    #[test]
    fn expansion_size_of_the_benchmark_handler() {
        // tokens as proc-macro token trees count them: idents, literals, one per punctuation
        // character (`::` is 2), and the 2 delimiters of every group
        fn count(tokens: TokenStream) -> usize {
            tokens
                .into_iter()
                .map(|tree| match tree {
                    TokenTree::Group(group) => 2 + count(group.stream()),
                    _ => 1,
                })
                .sum()
        }
        let growth = |body: TokenStream| {
            let input = quote! {
                async fn h_1(user: CurrentUser<User>, path: web::Path<u32>) -> String { #body }
            };
            let output = try_expand(Guard::Login, quote!(), input.clone()).unwrap();
            let (tokens_in, tokens_out) = (count(input.clone()), count(output.clone()));
            let (bytes_in, bytes_out) = (input.to_string().len(), output.to_string().len());
            eprintln!("handler: {tokens_in} -> {tokens_out} tokens, {bytes_in} -> {bytes_out} bytes (token text)");
            eprintln!("{output}");
            (tokens_out - tokens_in, bytes_out - bytes_in)
        };
        let benchmark_body = quote! {
            let n = path.into_inner();
            match user.authenticated() {
                Some(u) => format!("h_1: {} {n}", u.name),
                None => format!("h_1: anonymous {n}"),
            }
        };
        let grown = growth(benchmark_body);
        assert_eq!(growth(quote!(String::new())), grown, "the growth depends on the body");
        // If the expansion changes, update "Compile cost" in BENCHMARKS.md with these numbers.
        assert_eq!(grown, (267, 1004), "expansion growth (tokens, bytes) per handler");
    }
}
