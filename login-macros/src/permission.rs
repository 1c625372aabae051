//! Permissions: the guards' `permission = ..` rule and `#[permission_loader]`.
//!
//! A rule is written with the application's own values (`Perm::Edit`) combined by `all(..)`,
//! `any(..)` and `not(..)`. It becomes a unit struct next to the handler whose
//! `PermissionCheck::check` evaluates it with short-circuits: every permission is an ordinary
//! Rust expression, type-checked (and spanned) where the user wrote it.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::ext::IdentExt;
use syn::parse::ParseStream;
use syn::spanned::Spanned;
use syn::{Expr, FnArg, ItemFn, Pat, ReturnType, Type, Visibility};

use crate::attr::{self, Errors};

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

/// The rule's type for the guard of handler `handler`, and its definition, to put next to
/// the handler (visible from its signature, above or below a route macro).
pub(crate) fn check_type(
    rule: &Rule,
    krate: &TokenStream,
    handler: &syn::Ident,
    vis: &Visibility,
) -> (syn::Ident, TokenStream) {
    let name = format_ident!("__login_permission_{}", handler.unraw());
    let grants = syn::Ident::new("__login_grants", Span::mixed_site());
    let body = match rule {
        // One permission: its answer as it is (`Ok(x?)` would be clippy's needless `?`).
        Rule::Has(expr) => quote_spanned!(expr.span()=> #krate::__private::Grants::has(#grants, &(#expr))),
        rule => {
            let body = rule.expand(krate, &grants);
            quote!(::core::result::Result::Ok(#body))
        }
    };
    let definition = quote! {
        #[doc(hidden)]
        #[allow(non_camel_case_types)]
        #vis struct #name;

        #[automatically_derived]
        #[allow(unused_qualifications)]
        impl #krate::__private::PermissionCheck for #name {
            fn check(
                #grants: &#krate::__private::Grants<'_>,
            ) -> ::core::result::Result<::core::primitive::bool, #krate::__private::Unresolved> {
                #body
            }
        }
    };
    (name, definition)
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

    /// What `permission = Perm::Edit` adds to the compile benchmark's guarded handler
    /// (BENCHMARKS.md, "Compile cost"): the rule's type and impl, and its name in the guard.
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
        let handler = quote! {
            async fn h_1(user: CurrentUser<User>, path: web::Path<u32>) -> String { body(user, path) }
        };
        let guard = crate::guard::Guard::Login;
        let plain = crate::guard::try_expand(guard, quote!(), handler.clone()).unwrap();
        let permitted = crate::guard::try_expand(guard, quote!(permission = Perm::Edit), handler).unwrap();
        eprintln!("{permitted}");
        // If the expansion changes, update "Compile cost" in BENCHMARKS.md.
        assert_eq!(count(permitted) - count(plain), 122, "tokens added by `permission = Perm::Edit`");
    }
}
