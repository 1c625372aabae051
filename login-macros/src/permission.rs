//! Permissions: the guards' `permission = ..` rule and `#[permission_loader]`.
//!
//! A rule is written with the application's own values (`Perm::Edit`) combined by `all(..)`,
//! `any(..)` and `not(..)`. It becomes a function next to the handler that evaluates it with
//! short-circuits: every permission is an ordinary Rust expression, type-checked (and spanned)
//! where the user wrote it. The guard names the rule by a type: shared by the equal rules of a
//! module where that is provably safe, else a unit struct of the handler's own ([`rule_type`]).

use proc_macro2::{Literal, Span, TokenStream, TokenTree};
use quote::{ToTokens, format_ident, quote, quote_spanned};
use syn::ext::IdentExt;
use syn::parse::ParseStream;
use syn::spanned::Spanned;
use syn::{Expr, FnArg, ItemFn, Pat, ReturnType, Type, Visibility};

use crate::attr::{self, Errors};
use crate::context::ModuleSite;

/// A permission rule.
pub(crate) enum Rule {
    Has(Box<Expr>),
    All(Vec<Rule>),
    Any(Vec<Rule>),
    Not(Box<Rule>),
}

/// How to write the option, for messages.
pub(crate) const EXAMPLE: &str = "permission = Perm::Edit` or `permission = any(Role::Admin, Perm::Edit)";

/// Parses the value of `permission = ..`; a mistake inside it is reported and `None` returned.
pub(crate) fn parse(input: ParseStream, errors: &mut Errors) -> syn::Result<Option<Rule>> {
    let expr: Expr = input.parse()?;
    let mut mistakes = Errors::default();
    let rule = rule(expr, &mut mistakes);
    match mistakes.finish() {
        Ok(()) => Ok(Some(rule)),
        Err(error) => {
            errors.push(error);
            Ok(None)
        }
    }
}

fn rule(expr: Expr, errors: &mut Errors) -> Rule {
    let Expr::Call(call) = expr else { return Rule::Has(Box::new(expr)) };
    let combinator = match &*call.func {
        Expr::Path(path) if path.qself.is_none() => path.path.get_ident().map(ToString::to_string),
        _ => None,
    };
    let Some(name @ ("all" | "any" | "not")) = combinator.as_deref() else {
        return Rule::Has(Box::new(Expr::Call(call)));
    };
    let args: Vec<Rule> = call.args.into_iter().map(|arg| rule(arg, errors)).collect();
    match (name, args.len()) {
        ("not", 1) => Rule::Not(Box::new(args.into_iter().next().expect("one argument"))),
        ("not", _) => {
            errors.spanned(&call.func, "`not(..)` takes one permission or rule: write `not(Role::Banned)`");
            Rule::All(args)
        }
        (_, 0) => {
            let what = if name == "any" {
                "`any()` with nothing in it lets no one through"
            } else {
                "`all()` with nothing in it lets every user through"
            };
            errors.spanned(&call.func, format!("{what}: name at least one permission, as in `{name}(Perm::Edit)`"));
            Rule::All(args)
        }
        ("all", _) => Rule::All(args),
        _ => Rule::Any(args),
    }
}

impl Rule {
    /// The rule as a `bool` expression over `grants`, each permission checked at its own span.
    fn expand(&self, krate: &TokenStream, grants: &syn::Ident) -> TokenStream {
        let parts = |rules: &[Rule]| rules.iter().map(|rule| rule.expand(krate, grants)).collect::<Vec<_>>();
        match self {
            Rule::Has(expr) => {
                quote_spanned!(expr.span()=> #krate::__private::Grants::has(#grants, &(#expr))?)
            }
            Rule::All(rules) => {
                let parts = parts(rules);
                quote!((#(#parts)&&*))
            }
            Rule::Any(rules) => {
                let parts = parts(rules);
                quote!((#(#parts)||*))
            }
            Rule::Not(rule) => {
                let inner = rule.expand(krate, grants);
                quote!((!#inner))
            }
        }
    }
}

/// The rule's type for the guard of handler `handler`, and the items to put next to the
/// handler (visible from its signature, above or below a route macro).
///
/// With a `site` (the handler stands directly in a module of a file) and a rule whose tokens
/// mean the same wherever they stand in the module, the type is
/// `SharedRule<{ rule_id(module_path!(), salt) }>`: one type, so one instantiation of the
/// guard's extraction, for every equal rule of the module; the first handler of the module
/// with the rule also adds the rule's function to the link-time table under that id (see the
/// runtime's `rules.rs`; an entry per handler cost 3 ms of build each). Otherwise the type is
/// a unit struct of the handler's own.
///
/// In an `impl` block (`in_impl`: the attribute's position in the source, when known), which
/// cannot hold a struct or a `const _`, the rule's function and table entry go in the
/// handler's body (the third output), under an id of its own position.
pub(crate) fn rule_type(
    rule: &Rule,
    krate: &TokenStream,
    handler: &syn::Ident,
    vis: &Visibility,
    site: Option<&ModuleSite>,
    in_impl: Option<&str>,
) -> (TokenStream, TokenStream, TokenStream) {
    let grants = syn::Ident::new("__login_grants", Span::mixed_site());
    let body = match rule {
        // One permission: its answer as it is (`Ok(x?)` would be clippy's needless `?`).
        Rule::Has(expr) => quote_spanned!(expr.span()=> #krate::__private::Grants::has(#grants, &(#expr))),
        rule => {
            let body = rule.expand(krate, &grants);
            quote!(::core::result::Result::Ok(#body))
        }
    };
    let signature = quote! {
        fn __login_rule(
            #grants: &#krate::__private::Grants<'_>,
        ) -> ::core::result::Result<::core::primitive::bool, #krate::__private::Unresolved>
    };
    let entry = |salt: u128| {
        let salt = Literal::u128_suffixed(salt);
        let id = quote!(#krate::__private::rule_id(::core::module_path!(), #salt));
        let items = quote! {
            #[#krate::__private::linkme::distributed_slice(#krate::__private::LOGIN_PERMISSION_RULES)]
            #[linkme(crate = #krate::__private::linkme)]
            static __LOGIN_RULE: #krate::__private::RuleEntry =
                #krate::__private::RuleEntry::new(#id, __login_rule);
            #signature { #body }
        };
        (quote!(#krate::__private::SharedRule<{ #id }>), items)
    };
    if let Some(position) = in_impl {
        let (ty, items) = entry(salt(&[position, &handler.to_string(), &body.to_string()]));
        return (ty, TokenStream::new(), items);
    }
    if let Some(site) = site.filter(|_| rule.is_shareable(handler)) {
        let salt = salt(&[&site.file.display().to_string(), &body.to_string()]);
        let (ty, items) = entry(salt);
        let definition = if site.claim(salt) { quote!(const _: () = { #items };) } else { TokenStream::new() };
        return (ty, definition, TokenStream::new());
    }
    let name = format_ident!("__login_permission_{}", handler.unraw());
    let definition = quote! {
        #[doc(hidden)]
        #[allow(non_camel_case_types)]
        #vis struct #name;

        #[automatically_derived]
        #[allow(unused_qualifications)]
        impl #krate::__private::PermissionCheck for #name {
            fn rule() -> ::core::option::Option<#krate::__private::CheckFn> {
                #signature { #body }
                ::core::option::Option::Some(__login_rule)
            }
        }
    };
    (name.into_token_stream(), definition, TokenStream::new())
}

/// The most permissions a shared rule may name: the runtime fingerprints a rule by running it
/// on every combination of answers it reaches (at most 2^n).
const MAX_SHARED_PERMISSIONS: usize = 12;

impl Rule {
    fn permissions(&self) -> usize {
        match self {
            Rule::Has(_) => 1,
            Rule::All(rules) | Rule::Any(rules) => rules.iter().map(Rule::permissions).sum(),
            Rule::Not(rule) => rule.permissions(),
        }
    }

    /// Whether equal tokens of this rule name the same permissions in every function of a
    /// module: no macro call (a `macro_rules!` may be redefined further down), no `$crate`
    /// (another crate's, from a macro), no `self`, `super` or `Self`, and not the handler's
    /// own name (which `#[get]` turns into a struct around the handler).
    fn is_shareable(&self, handler: &syn::Ident) -> bool {
        fn plain(tokens: TokenStream, handler: &syn::Ident) -> bool {
            tokens.into_iter().all(|tree| match tree {
                TokenTree::Group(group) => plain(group.stream(), handler),
                TokenTree::Punct(punct) => punct.as_char() != '!',
                TokenTree::Ident(ident) => {
                    !(ident == "$crate" || ident == "self" || ident == "super" || ident == "Self" || ident == *handler)
                }
                TokenTree::Literal(_) => true,
            })
        }
        fn leaves(rule: &Rule, handler: &syn::Ident) -> bool {
            match rule {
                Rule::Has(expr) => plain(expr.to_token_stream(), handler),
                Rule::All(rules) | Rule::Any(rules) => rules.iter().all(|rule| leaves(rule, handler)),
                Rule::Not(rule) => leaves(rule, handler),
            }
        }
        self.permissions() <= MAX_SHARED_PERMISSIONS && leaves(self, handler)
    }
}

/// The salt of a shared rule's id: the crate being compiled (package directory, crate and
/// binary name: a package's library and binary share a crate name), then `parts` (the file,
/// the rule's function as generated...). 128-bit FNV-1a, as the runtime's `rule_id`.
pub(crate) fn salt(parts: &[&str]) -> u128 {
    let var = |name| std::env::var(name).unwrap_or_default();
    let krate = [var("CARGO_MANIFEST_DIR"), var("CARGO_CRATE_NAME"), var("CARGO_BIN_NAME")];
    let mut hash: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
    for part in krate.iter().map(String::as_str).chain(parts.iter().copied()) {
        // Each part ends with a 0xff byte, which no UTF-8 text holds.
        for &byte in part.as_bytes().iter().chain(&[0xff]) {
            hash ^= u128::from(byte);
            hash = hash.wrapping_mul(0x0000_0000_0100_0000_0000_0000_0000_013b);
        }
    }
    hash
}

// ---- #[permission_loader] ----

/// Entry point of `#[permission_loader]`: the loader struct and its impl, plus
/// `compile_error!`s for any mistake (the item as written after a fatal one).
pub(crate) fn expand_loader(args: TokenStream, input: TokenStream) -> TokenStream {
    let (mut output, error) = run_loader(args, input);
    output.extend(error.map(syn::Error::into_compile_error));
    output
}

fn run_loader(args: TokenStream, input: TokenStream) -> (TokenStream, Option<syn::Error>) {
    let mut errors = Errors::default();
    let mut krate = None;
    let options = attr::parse_options(args, "`#[permission_loader]`", &["crate"], &mut errors, |_, meta, errors| {
        krate = attr::crate_path(meta, errors)?;
        Ok(())
    });
    errors.take(options);
    let item = match syn::parse2::<ItemFn>(input.clone()) {
        Ok(item) => item,
        Err(_) => {
            errors.fatal_at(Span::call_site(), "`#[permission_loader]` turns an `async fn` into a permission loader; it cannot be applied to this item");
            return (input, errors.finish().err());
        }
    };
    let krate = attr::runtime_path(krate.as_ref());
    match validate_loader(item, &mut errors) {
        Some(model) if !errors.is_fatal() => (generate_loader(&krate, model), errors.finish().err()),
        _ => (input, errors.finish().err()),
    }
}

struct LoaderModel {
    item: ItemFn,
    user_pat: Box<Pat>,
    user_ty: Box<Type>,
    extractors: Vec<(Box<Pat>, Box<Type>)>,
    output: Box<Type>,
}

const SIGNATURE: &str = "async fn load_permissions(user: &User, db: web::Data<Db>) -> HashSet<Perm>";

fn validate_loader(mut item: ItemFn, errors: &mut Errors) -> Option<LoaderModel> {
    let sig = &mut item.sig;
    if sig.asyncness.is_none() {
        errors.spanned(
            sig.fn_token,
            format!("`#[permission_loader]` must be placed on an `async fn`: write `async fn {}`", sig.ident),
        );
        sig.asyncness = Some(Default::default());
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        errors.fatal(
            &sig.generics,
            "a `#[permission_loader]` cannot be generic: the login manager calls it with concrete types",
        );
    }
    if let Some(token) = sig.constness {
        errors.fatal(token, "a `#[permission_loader]` cannot be `const`");
    }
    let output = match &sig.output {
        ReturnType::Type(_, ty) => ty.clone(),
        ReturnType::Default => {
            errors.fatal(
                &sig.ident,
                format!("a `#[permission_loader]` returns the user's permissions: write `{SIGNATURE}`"),
            );
            return None;
        }
    };
    let mut inputs = sig.inputs.iter();
    let (user_pat, user_ty) = match inputs.next() {
        Some(FnArg::Typed(typed)) => {
            match &*typed.ty {
                Type::Reference(reference) if reference.mutability.is_none() => {
                    (typed.pat.clone(), reference.elem.clone())
                }
                _ => {
                    errors.fatal(&typed.ty, format!("the first parameter of a `#[permission_loader]` is the user, by reference: write `{SIGNATURE}`"));
                    return None;
                }
            }
        }
        Some(FnArg::Receiver(receiver)) => {
            errors.fatal(receiver, "a `#[permission_loader]` is a free `async fn`, not a method: remove `self`");
            return None;
        }
        None => {
            errors.fatal_at(
                sig.paren_token.span.join(),
                format!("a `#[permission_loader]` takes the user first: write `{SIGNATURE}`"),
            );
            return None;
        }
    };
    let mut extractors = Vec::new();
    for input in inputs {
        match input {
            FnArg::Typed(typed) => extractors.push((typed.pat.clone(), typed.ty.clone())),
            FnArg::Receiver(receiver) => errors.fatal(receiver, "a `#[permission_loader]` cannot take `self`"),
        }
    }
    if extractors.len() > 16 {
        errors.fatal(&sig.inputs, "a `#[permission_loader]` takes at most 16 extractors after the user");
    }
    Some(LoaderModel { item, user_pat, user_ty, extractors, output })
}

fn generate_loader(krate: &TokenStream, model: LoaderModel) -> TokenStream {
    let LoaderModel { item, user_pat, user_ty, extractors, output } = model;
    let ItemFn { attrs, vis, sig, block, .. } = item;
    let ident = &sig.ident;
    let (doc_attrs, fn_attrs): (Vec<_>, Vec<_>) = attrs.iter().partition(|attr| attr.path().is_ident("doc"));
    let user_var = syn::Ident::new("__login_user", Span::mixed_site());
    let args_var = syn::Ident::new("__login_args", Span::mixed_site());
    let arg_vars: Vec<syn::Ident> =
        (0..extractors.len()).map(|i| format_ident!("__login_arg{}", i, span = Span::mixed_site())).collect();
    let pats = extractors.iter().map(|(pat, _)| pat);
    let tys: Vec<&Type> = extractors.iter().map(|(_, ty)| &**ty).collect();
    let (args_ty, checks) = crate::guard::checked(krate, &tys, "require_extractor", false);
    let output_ty = quote_spanned!(output.span()=> #output);
    let user_check = quote_spanned!(user_ty.span()=> #krate::__private::require_auth_user::<#user_ty>(););
    quote! {
        #(#doc_attrs)*
        #[allow(non_camel_case_types)]
        #[derive(::core::clone::Clone, ::core::marker::Copy, ::core::fmt::Debug)]
        #vis struct #ident;

        #[allow(unused_qualifications)]
        impl #krate::__private::PermissionLoader for #ident {
            type User = #user_ty;
            type Args = #args_ty;
            type Output = #output_ty;

            fn call(
                &self,
                #user_var: ::std::rc::Rc<#user_ty>,
                #args_var: <Self as #krate::__private::PermissionLoader>::Args,
            ) -> impl #krate::__private::Future<Output = <Self as #krate::__private::PermissionLoader>::Output> + 'static {
                #user_check
                #checks
                #(#fn_attrs)*
                async fn #ident(#user_pat: &#user_ty, #(#pats: #tys),*) -> #output #block
                let (#(#arg_vars,)*) = #args_var;
                async move { #ident(&#user_var, #(#arg_vars),*).await }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_rule(tokens: TokenStream) -> Result<Rule, Vec<String>> {
        let mut errors = Errors::default();
        let parser = |input: ParseStream| parse(input, &mut errors);
        let rule = syn::parse::Parser::parse2(parser, tokens).expect("an expression");
        match errors.finish() {
            Ok(()) => Ok(rule.expect("no error, a rule")),
            Err(error) => Err(error.into_iter().map(|e| e.to_string()).collect()),
        }
    }

    fn expanded(tokens: TokenStream) -> String {
        let rule = parse_rule(tokens).unwrap_or_else(|e| panic!("{e:?}"));
        rule.expand(&quote!(::lr), &syn::Ident::new("g", Span::call_site())).to_string()
    }

    #[test]
    fn combinators_nest() {
        assert_eq!(expanded(quote!(Perm::Edit)), ":: lr :: __private :: Grants :: has (g , & (Perm :: Edit)) ?");
        let out = expanded(quote!(all(Perm::Read, any(Role::Admin, not(Role::Banned)))));
        assert_eq!(
            out.replace(":: lr :: __private :: Grants :: has", "has"),
            "(has (g , & (Perm :: Read)) ? && (has (g , & (Role :: Admin)) ? || (! has (g , & (Role :: Banned)) ?)))"
        );
        // Any other call is a permission expression.
        assert!(expanded(quote!(Perm::level(3))).contains("& (Perm :: level (3))"));
    }

    #[test]
    fn empty_and_misused_combinators() {
        assert_eq!(
            parse_rule(quote!(any())).err().unwrap(),
            ["`any()` with nothing in it lets no one through: name at least one permission, as in `any(Perm::Edit)`"]
        );
        assert_eq!(
            parse_rule(quote!(all(Perm::A, all()))).err().unwrap(),
            [
                "`all()` with nothing in it lets every user through: name at least one permission, as in `all(Perm::Edit)`"
            ]
        );
        assert_eq!(
            parse_rule(quote!(not(Perm::A, Perm::B))).err().unwrap(),
            ["`not(..)` takes one permission or rule: write `not(Role::Banned)`"]
        );
    }

    #[test]
    fn loader_signature() {
        let errs = |input: TokenStream| match run_loader(quote!(), input) {
            (_, Some(error)) => error.into_iter().map(|e| e.to_string()).collect::<Vec<_>>(),
            (out, None) => panic!("expected errors, got {out}"),
        };
        assert!(
            errs(quote!(
                async fn p(user: User) -> HashSet<Perm> {
                    s()
                }
            ))[0]
                .starts_with("the first parameter of a `#[permission_loader]` is the user, by reference")
        );
        assert!(
            errs(quote!(
                async fn p() -> HashSet<Perm> {
                    s()
                }
            ))[0]
                .starts_with("a `#[permission_loader]` takes the user first")
        );
        assert!(
            errs(quote!(
                async fn p(user: &User) {
                    s()
                }
            ))[0]
                .starts_with("a `#[permission_loader]` returns the user's permissions")
        );
        assert_eq!(
            errs(quote!(
                fn p(user: &User) -> HashSet<Perm> {
                    s()
                }
            )),
            ["`#[permission_loader]` must be placed on an `async fn`: write `async fn p`"]
        );
        let (out, error) = run_loader(
            quote!(),
            quote!(
                async fn p(u: &User, db: Data<Db>) -> HashSet<Perm> {
                    s()
                }
            ),
        );
        assert!(error.is_none());
        let out = out.to_string();
        assert!(out.contains("impl :: login_runtime :: __private :: PermissionLoader for p"), "{out}");
        assert!(out.contains("type User = User ;"), "{out}");
        assert!(out.contains("type Args = < (Data < Db > ,) as :: login_runtime :: __private :: Checked"), "{out}");
    }

    /// The type and items for `rule` on handler `handler` at `site` (file, inline module, line).
    fn rule_type_at(rule: TokenStream, handler: &str, site: Option<(&str, &str, usize)>) -> (String, String) {
        let rule = parse_rule(rule).unwrap_or_else(|e| panic!("{e:?}"));
        let handler = syn::Ident::new(handler, Span::call_site());
        let site = site.map(|(file, module, line)| ModuleSite::new(file, module, (line, 0)));
        let (ty, definition, _) =
            rule_type(&rule, &quote!(::lr), &handler, &Visibility::Inherited, site.as_ref(), None);
        (ty.to_string(), definition.to_string())
    }

    #[test]
    fn equal_rules_of_a_module_share_a_type_and_one_entry() {
        let pages = |line| Some(("src/pages.rs", "", line));
        let (ty, definition) = rule_type_at(quote!(Perm::Edit), "h_1", pages(1));
        assert!(
            ty.starts_with(
                ":: lr :: __private :: SharedRule < { :: lr :: __private :: rule_id (:: core :: module_path ! () , "
            ),
            "{ty}"
        );
        assert!(
            definition.contains("distributed_slice (:: lr :: __private :: LOGIN_PERMISSION_RULES)"),
            "{definition}"
        );
        assert!(
            definition.contains("RuleEntry :: new (:: lr :: __private :: rule_id (:: core :: module_path ! () , "),
            "{definition}"
        );
        // Another handler of the module, the same rule: the same type, and the entry is there.
        assert_eq!(rule_type_at(quote!(Perm::Edit), "h_2", pages(9)), (ty.clone(), String::new()));
        // The same position again (a second module from the same file): the entry again.
        assert_eq!(rule_type_at(quote!(Perm::Edit), "h_1", pages(1)), (ty.clone(), definition.clone()));
        // An inline module of the file: its own entry.
        assert_eq!(rule_type_at(quote!(Perm::Edit), "h_3", Some(("src/pages.rs", "::admin", 20))).1, definition);
        // Another rule, or another file: another id.
        let (read, read_entry) = rule_type_at(quote!(Perm::Read), "h_2", pages(9));
        assert_ne!(read, ty);
        assert!(read_entry.contains("distributed_slice"), "{read_entry}");
        assert_ne!(rule_type_at(quote!(Perm::Edit), "h_2", Some(("src/admin.rs", "", 9))).0, ty);
        // Combinators are part of the rule.
        let all = rule_type_at(quote!(all(Perm::Edit, Perm::Read)), "h", pages(30)).0;
        assert_ne!(all, rule_type_at(quote!(any(Perm::Edit, Perm::Read)), "h", pages(31)).0);
    }

    #[test]
    fn in_an_impl_the_rule_goes_in_the_handler_s_body() {
        let rule = parse_rule(quote!(Perm::Edit)).unwrap();
        let handler = syn::Ident::new("edit", Span::call_site());
        let at = |position| rule_type(&rule, &quote!(::lr), &handler, &Visibility::Inherited, None, Some(position));
        let (ty, before, in_body) = at("src/pages.rs:12:4");
        assert!(ty.to_string().contains("SharedRule"), "{ty}");
        assert!(before.is_empty(), "{before}");
        assert!(in_body.to_string().contains("distributed_slice"), "{in_body}");
        assert!(in_body.to_string().starts_with("# [:: lr :: __private :: linkme"), "items, not a `const _`");
        assert_ne!(at("src/pages.rs:20:4").0.to_string(), ty.to_string(), "an id per position");
    }

    #[test]
    fn a_rule_that_may_mean_something_else_elsewhere_keeps_a_type_of_its_own() {
        let own = |rule: TokenStream, in_module: bool| {
            let (ty, definition) = rule_type_at(rule, "h_1", in_module.then_some(("src/pages.rs", "", 1)));
            assert_eq!(ty, "__login_permission_h_1");
            assert!(!definition.contains("distributed_slice"), "{definition}");
        };
        // Not directly in a module (a function body, an impl, a macro's input), or not known.
        own(quote!(Perm::Edit), false);
        own(quote!(perm!(edit)), true);
        own(quote!(any(Perm::Read, self::Perm::Edit)), true);
        own(quote!(super::Perm::Edit), true);
        own(quote!(Self::EDIT), true);
        own(quote!(not(h_1::EDIT)), true);
        let thirteen = (0..13_u32).map(|i| format_ident!("P{}", i));
        own(quote!(any(#(Perm::#thirteen),*)), true);
        let twelve = (0..12_u32).map(|i| format_ident!("P{}", i));
        assert!(
            rule_type_at(quote!(any(#(Perm::#twelve),*)), "h_1", Some(("src/pages.rs", "", 1)))
                .0
                .contains("SharedRule")
        );
    }

    /// What `permission = Perm::Edit` adds to the compile benchmark's guarded handler
    /// (BENCHMARKS.md, "Compile cost"): its type in the guard, and for the module's first
    /// handler with the rule, the rule's function and its entry in the table.
    #[test]
    fn expansion_size_of_a_permission() {
        fn count(tokens: TokenStream) -> usize {
            tokens
                .into_iter()
                .map(|tree| match tree {
                    proc_macro2::TokenTree::Group(group) => 2 + count(group.stream()),
                    _ => 1,
                })
                .sum()
        }
        let rule = parse_rule(quote!(Perm::Edit)).unwrap();
        let handler = syn::Ident::new("h_1", Span::call_site());
        let krate = quote!(::login_runtime);
        let site = ModuleSite::new("/tmp/permission/lib.rs", "", (40, 0));
        let (ty, definition, _) = rule_type(&rule, &krate, &handler, &Visibility::Inherited, Some(&site), None);
        eprintln!("{ty}\n{definition}");
        // If the expansion changes, update "Compile cost" in BENCHMARKS.md.
        assert_eq!(
            (count(ty) + 1, count(definition)),
            (36, 182),
            "tokens added by `permission = Perm::Edit` to the guard's type (with its comma) and next to the handler"
        );
    }
}
