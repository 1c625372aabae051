//! `#[user_loader]` and `#[request_loader]`: turn an `async fn` into a loader value.
//!
//! As actix-web's `#[get]` does for handlers, the function becomes a value of the same name and
//! visibility (a constant, to hand to the login manager) whose type implements `UserLoader` /
//! `RequestLoader`; the original body runs in a nested `async fn`, so parameter patterns, `?`
//! and `return` keep working unchanged.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Attribute, FnArg, ItemFn, Pat, Path, ReturnType, Type};

use crate::attr::{self, Errors};
use crate::context::Enclosing;

/// actix implements `FromRequest` for tuples of up to 16 extractors.
const MAX_EXTRACTORS: usize = 16;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Loader {
    User,
    Request,
}

impl Loader {
    fn name(self) -> &'static str {
        match self {
            Loader::User => "user_loader",
            Loader::Request => "request_loader",
        }
    }
}

/// A parameter of the loader: the user's pattern and type.
struct Param {
    pat: Box<Pat>,
    ty: Box<Type>,
}

/// The validated loader.
struct Model {
    item: ItemFn,
    krate: Option<Path>,
    /// `#[user_loader]` only.
    id: Option<Param>,
    extractors: Vec<Param>,
    output: Box<Type>,
}

/// Entry point: the loader struct and its impl, plus `compile_error!`s for any mistake.
pub(crate) fn expand(loader: Loader, args: TokenStream, input: TokenStream, enclosing: &Enclosing) -> TokenStream {
    let (mut output, error) = run(loader, args, input, enclosing);
    output.extend(error.map(syn::Error::into_compile_error));
    output
}

/// The expansion, or the error(s) alone (for unit tests).
#[cfg(test)]
pub(crate) fn try_expand(loader: Loader, args: TokenStream, input: TokenStream) -> syn::Result<TokenStream> {
    match run(loader, args, input, &Enclosing::Module) {
        (output, None) => Ok(output),
        (_, Some(error)) => Err(error),
    }
}

/// The output and the errors. After a fatal error the output is the item as written; after
/// others (a missing `async`, a bad option) the loader is generated anyway, so the mistake is
/// not reported a second time where the loader is used.
fn run(
    loader: Loader,
    args: TokenStream,
    input: TokenStream,
    enclosing: &Enclosing,
) -> (TokenStream, Option<syn::Error>) {
    let mut errors = Errors::default();
    let mut krate = None;
    let context = format!("`#[{}]`", loader.name());
    let options = attr::parse_options(args, &context, &["crate"], &mut errors, |_, meta, errors| {
        krate = attr::crate_path(meta, errors)?;
        Ok(())
    });
    errors.take(options);
    let item = match syn::parse2::<ItemFn>(input.clone()) {
        Ok(item) => Some(item),
        Err(error) => {
            errors.fatal_error(match syn::parse2::<syn::Item>(input.clone()) {
                Ok(_) => syn::Error::new(
                    Span::call_site(),
                    format!(
                        "`#[{}]` turns an `async fn` into a loader; it cannot be applied to this item",
                        loader.name()
                    ),
                ),
                Err(_) => error,
            });
            None
        }
    };
    // A loader becomes a struct, which an `impl` or `trait` block cannot hold: left as written,
    // the function is an ordinary method, and this is the one error.
    if let (Some(block), Some(item)) = (enclosing.block(), &item) {
        // The one error: the function is not a loader until it is moved.
        let mut errors = Errors::default();
        errors.at(
            Span::call_site(),
            format!(
                "`#[{}]` turns `{}` into a value of the same name, which cannot be declared inside {block}: \
                 move the function out of the block, to module level",
                loader.name(),
                item.sig.ident
            ),
        );
        return (input, errors.finish().err());
    }
    let model = item.and_then(|item| validate(loader, item, krate, &mut errors));
    match model {
        Some(model) if !errors.is_fatal() => (generate(model), errors.finish().err()),
        _ => (input, errors.finish().err()),
    }
}

fn validate(loader: Loader, item: ItemFn, krate: Option<Path>, errors: &mut Errors) -> Option<Model> {
    let name = loader.name();
    let sig = &item.sig;
    if sig.asyncness.is_none() {
        let message = format!("`#[{name}]` must be placed on an `async fn`: write `async fn {}`", sig.ident);
        if matches!(&sig.output, ReturnType::Type(_, ty) if matches!(**ty, Type::ImplTrait(_))) {
            // `fn f() -> impl Future<..>`: nothing sensible to expand.
            errors
                .fatal(sig.fn_token, format!("{message} returning the user, and move the body of the future into it"));
        } else {
            errors.spanned(sig.fn_token, message);
        }
    }
    if let Some(constness) = sig.constness {
        errors.spanned(constness, format!("a `#[{name}]` cannot be `const`"));
    }
    if let syn::Safety::Unsafe(unsafety) = sig.safety {
        errors.spanned(unsafety, format!("a `#[{name}]` cannot be `unsafe`"));
    }
    if let Some(abi) = &sig.abi {
        errors.spanned(abi, format!("a `#[{name}]` cannot have an `extern` ABI"));
    }
    if !sig.generics.params.is_empty() {
        errors.fatal(
            &sig.generics,
            format!("a `#[{name}]` cannot be generic: the login manager calls it with concrete types"),
        );
    } else if let Some(where_clause) = &sig.generics.where_clause {
        errors.fatal(
            where_clause,
            format!("a `#[{name}]` cannot have a `where` clause: its types are concrete, remove it"),
        );
    }
    if let Some(variadic) = &sig.variadic {
        errors.fatal(variadic, format!("a `#[{name}]` cannot be variadic"));
    }

    let mut params = Vec::new();
    for input in &sig.inputs {
        match input {
            FnArg::Receiver(receiver) => errors.fatal(
                receiver,
                format!("`#[{name}]` must be placed on a free `async fn`, not a method: remove `self`"),
            ),
            FnArg::Typed(typed) => {
                if let Some(attr) = typed.attrs.first() {
                    errors.fatal(attr, format!("`#[{name}]` does not support attributes on parameters"));
                }
                params.push(Param { pat: typed.pat.clone(), ty: typed.ty.clone() });
            }
        }
    }
    for (index, param) in params.iter().enumerate() {
        if let Type::Reference(reference) = &*param.ty {
            let message = if index == 0 && loader == Loader::User {
                "the user id is parsed from the session into a value the loader owns: take it by value, as in `id: String` or `id: u64`, not a reference"
            } else {
                "a loader's extractors are taken by value: remove the `&`, as in `db: web::Data<Db>`"
            };
            errors.fatal(reference.and_token, message);
        }
    }
    if loader == Loader::Request
        && let Some(first) = params.first()
        && looks_like_an_id(&first.ty)
    {
        errors.fatal(
            &first.ty,
            "a `#[request_loader]` takes no id, only actix extractors (`HttpRequest`, `web::Header<T>`, `web::Data<T>`): \
             to load a user from the id stored in the session, use `#[user_loader]`",
        );
    }
    let mut params = params.into_iter();
    let id = match loader {
        Loader::Request => None,
        Loader::User => {
            let id = params.next();
            if id.is_none() {
                errors.fatal_at(
                    sig.paren_token.span.join(),
                    "a `#[user_loader]` takes the user id as its first parameter, as in `async fn load_user(id: u64)`; \
                     to load a user from the request alone, use `#[request_loader]`",
                );
            }
            id
        }
    };
    let extractors: Vec<Param> = params.collect();
    if let Some(extra) = extractors.get(MAX_EXTRACTORS) {
        errors.fatal(
            &extra.pat,
            format!(
                "a loader takes at most {MAX_EXTRACTORS} extractors: group some parameters into a tuple, as in `(a, b): (A, B)`"
            ),
        );
    }
    let output = match &sig.output {
        ReturnType::Type(_, ty) => Some(ty.clone()),
        ReturnType::Default => {
            errors.fatal_at(
                sig.paren_token.span.close(),
                format!(
                    "a `#[{name}]` must return the user it found: add `-> Option<User>`, or `-> Result<Option<User>, E>` when loading can fail"
                ),
            );
            None
        }
    };
    Some(Model { krate, id, extractors, output: output?, item })
}

/// An id type, never a loader's extractor: a number, `bool`, `char`, `Uuid`, or `String` (an
/// extractor of the body, which a loader never gets).
fn looks_like_an_id(ty: &Type) -> bool {
    const ID_TYPES: &[&str] = &[
        "u8", "u16", "u32", "u64", "u128", "usize", "i8", "i16", "i32", "i64", "i128", "isize", "bool", "char", "Uuid",
        "String",
    ];
    match ty {
        Type::Path(path) if path.qself.is_none() => {
            path.path.segments.last().is_some_and(|last| ID_TYPES.iter().any(|id| last.ident == id))
        }
        _ => false,
    }
}

/// Whether an attribute of the function belongs on the generated constant rather than on the
/// nested function that runs the body.
fn describes_the_loader(attr: &Attribute) -> bool {
    attr.path().is_ident("doc") || attr.path().is_ident("deprecated")
}

/// Attributes that must apply to every generated item.
fn applies_to_all(attr: &Attribute) -> bool {
    ["cfg", "allow", "warn", "deny", "forbid"].iter().any(|name| attr.path().is_ident(name))
}

fn generate(model: Model) -> TokenStream {
    let Model { item, krate, id, extractors, output } = model;
    let krate = attr::runtime_path(krate.as_ref());
    let ItemFn { attrs, vis, sig, block, .. } = item;
    let ident = &sig.ident;

    let struct_attrs = attrs.iter().filter(|attr| describes_the_loader(attr) || applies_to_all(attr));
    let common_attrs: Vec<&Attribute> = attrs.iter().filter(|attr| applies_to_all(attr)).collect();
    let fn_attrs = attrs.iter().filter(|attr| !describes_the_loader(attr) && !applies_to_all(attr));

    let arg_vars: Vec<syn::Ident> =
        (0..extractors.len()).map(|i| format_ident!("__login_arg{}", i, span = Span::mixed_site())).collect();
    let args_var = syn::Ident::new("__login_args", Span::mixed_site());
    let id_var = syn::Ident::new("__login_id", Span::mixed_site());
    let ext_tys: Vec<&Type> = extractors.iter().map(|param| &*param.ty).collect();
    let ext_pats = extractors.iter().map(|param| &param.pat);

    // Checks at the user's types, with messages that say what is wrong (`LoadOutput`, the
    // bound of `Output`, has its own): each extractor is checked where it is written, once
    // (`guard::checked`); the tuple is spanned on the parameter list.
    let check = if id.is_some() { "require_extractor" } else { "require_request_extractor" };
    let (args_ty, extractor_checks) = crate::guard::checked(&krate, &ext_tys, check, false);
    let args_ty = quote_spanned!(sig.paren_token.span.join()=> #args_ty);
    let output_ty = quote_spanned!(output.span()=> #output);

    let (trait_name, type_fn, id_assoc, id_param, id_pat_ty, id_arg, id_check) = match &id {
        Some(Param { pat, ty }) => (
            quote!(UserLoader),
            quote!(user_loader_type),
            {
                // Checked as the extractors are (`guard::checked`): one error, at the type.
                let parses = quote_spanned!(ty.span()=> #krate::__private::require_user_id::<#ty>(););
                quote_spanned!(ty.span()=> type Id = <#ty as #krate::__private::Checked<[(); { #parses 0 }]>>::Type;)
            },
            quote!(#id_var: <Self as #krate::__private::UserLoader>::Id,),
            quote!(#pat: #ty,),
            quote!(#id_var,),
            id_checks(&krate, ty),
        ),
        None => (quote!(RequestLoader), quote!(request_loader_type), quote!(), quote!(), quote!(), quote!(), quote!()),
    };

    // The value is a constant of a struct whose defaulted parameter names every type of the
    // impl below: rustc takes an impl to be only as visible as the types in its header, so a
    // `pub` loader of a private user gets the `private_interfaces` warning a `pub fn` would,
    // not a hard E0446 for its `type Output`. The default keeps the struct's name short in
    // messages (`load_user`).
    let id_ty = id.as_ref().map(|Param { ty, .. }| quote!(#ty,));
    let types = quote!((#id_ty (#(#ext_tys,)*), #output));
    let name = ident.to_string();
    quote! {
        #(#struct_attrs)*
        #[allow(non_upper_case_globals)]
        #vis const #ident: #ident = #ident { __login_types: ::core::marker::PhantomData };

        #(#common_attrs)*
        #[doc(hidden)]
        #[allow(non_camel_case_types, private_interfaces)]
        #vis struct #ident<__LoginTypes = #types> {
            __login_types: ::core::marker::PhantomData<fn() -> __LoginTypes>,
        }

        #(#common_attrs)*
        #[automatically_derived]
        impl ::core::clone::Clone for #ident {
            fn clone(&self) -> Self {
                *self
            }
        }

        #(#common_attrs)*
        #[automatically_derived]
        impl ::core::marker::Copy for #ident {}

        #(#common_attrs)*
        #[automatically_derived]
        impl ::core::fmt::Debug for #ident {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.write_str(#name)
            }
        }

        // The user type it produces, for the start-up check (the runtime's `startup`).
        #(#common_attrs)*
        const _: () = {
            #[#krate::__private::linkme::distributed_slice(#krate::__private::LOADED_USERS)]
            #[linkme(crate = #krate::__private::linkme)]
            static LOADER: fn() -> #krate::__private::UserType = #krate::__private::#type_fn::<#ident>;
        };

        #(#common_attrs)*
        #[allow(unused_qualifications)]
        impl #krate::__private::#trait_name for #ident {
            #id_assoc
            type Args = #args_ty;
            type Output = #output_ty;

            fn call(
                &self,
                #id_param
                #args_var: <Self as #krate::__private::#trait_name>::Args,
            ) -> impl #krate::__private::Future<Output = <Self as #krate::__private::#trait_name>::Output> + 'static {
                #id_check
                #extractor_checks
                #(#fn_attrs)*
                async fn #ident(#id_pat_ty #(#ext_pats: #ext_tys),*) -> #output #block
                let (#(#arg_vars,)*) = #args_var;
                #ident(#id_arg #(#arg_vars),*)
            }
        }
    }
}

/// The check of the id parameter, spanned on its type: it is the type of the user's id field
/// when the user derives `AuthUser` (a `String` takes any id).
fn id_checks(krate: &TokenStream, ty: &Type) -> TokenStream {
    let is_string = matches!(ty, Type::Path(path) if path.qself.is_none() && path.path.segments.last().is_some_and(|last| last.ident == "String"));
    if is_string {
        return TokenStream::new();
    }
    let private = quote!(#krate::__private);
    let same = quote_spanned! {ty.span()=>
        (&#private::IdCheck::<Self, #ty>::NEW).expected_id().loader_id::<#ty>();
    };
    quote! {
        {
            #[allow(unused_imports)]
            use #private::{AnyId as _, DerivedId as _};
            #same
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// At module level.
    fn expand(loader: Loader, args: TokenStream, input: TokenStream) -> TokenStream {
        super::expand(loader, args, input, &Enclosing::Module)
    }

    fn errors(loader: Loader, args: TokenStream, input: TokenStream) -> Vec<String> {
        match try_expand(loader, args, input) {
            Ok(output) => panic!("expected errors, got {output}"),
            Err(error) => error.into_iter().map(|error| error.to_string()).collect(),
        }
    }

    #[test]
    fn user_loader_expands_to_a_struct() {
        let out = try_expand(
            Loader::User,
            quote!(),
            quote! {
                /// Loads.
                #[allow(clippy::all)]
                #[tracing::instrument]
                pub(crate) async fn load_user(id: u64, web::Data(pool): web::Data<Pool>, mut h: HttpRequest) -> Option<User> {
                    pool.get(id)
                }
            },
        )
        .unwrap()
        .to_string();
        assert!(
            out.starts_with("# [doc = r\" Loads.\"] # [allow (clippy :: all)] # [allow (non_upper_case_globals)] pub (crate) const load_user : load_user = load_user {"),
            "{out}"
        );
        assert!(
            out.contains("pub (crate) struct load_user < __LoginTypes = (u64 , (web :: Data < Pool > , HttpRequest ,) , Option < User >) >"),
            "{out}"
        );
        assert!(out.contains("impl :: login_runtime :: __private :: UserLoader for load_user"), "{out}");
        assert!(out.contains("type Id = < u64 as :: login_runtime :: __private :: Checked < [() ; { :: login_runtime :: __private :: require_user_id :: < u64 > () ; 0 }] >> :: Type ;"), "{out}");
        assert!(out.contains("type Args = < (web :: Data < Pool > , HttpRequest ,) as :: login_runtime :: __private :: Checked < [() ; { :: login_runtime :: __private :: require_extractor :: < web :: Data < Pool > > () ; :: login_runtime :: __private :: require_extractor :: < HttpRequest > () ; 0 }] >> :: Type ;"), "{out}");
        assert!(out.contains("type Output = Option < User > ;"), "{out}");
        assert!(out.contains("static LOADER : fn () -> :: login_runtime :: __private :: UserType = :: login_runtime :: __private :: user_loader_type :: < load_user > ;"), "{out}");
        assert!(
            out.contains("# [tracing :: instrument] async fn load_user (id : u64 , web :: Data (pool) : web :: Data < Pool > , mut h : HttpRequest) -> Option < User >"),
            "{out}"
        );
        assert!(out.contains("let (__login_arg0 , __login_arg1 ,) = __login_args ; load_user (__login_id , __login_arg0 , __login_arg1)"), "{out}");
    }

    #[test]
    fn request_loader_has_no_id() {
        let out = try_expand(
            Loader::Request,
            quote!(crate = "lr"),
            quote!(
                async fn by_key(req: HttpRequest) -> Result<Option<User>, E> {
                    todo!()
                }
            ),
        )
        .unwrap()
        .to_string();
        assert!(out.contains("impl lr :: __private :: RequestLoader for by_key"), "{out}");
        assert!(
            out.contains("const _ : () = { # [lr :: __private :: linkme :: distributed_slice (lr :: __private :: LOADED_USERS)] # [linkme (crate = lr :: __private :: linkme)] static LOADER : fn () -> lr :: __private :: UserType = lr :: __private :: request_loader_type :: < by_key > ; } ;"),
            "{out}"
        );
        assert!(!out.contains("type Id"), "{out}");
    }

    #[test]
    fn signature_errors() {
        let errs = errors(
            Loader::User,
            quote!(),
            quote!(
                fn load(id: u64) -> Option<U> {
                    None
                }
            ),
        );
        assert_eq!(errs, ["`#[user_loader]` must be placed on an `async fn`: write `async fn load`"]);
        let errs = errors(
            Loader::User,
            quote!(),
            quote!(
                async fn load(&self, id: u64) -> Option<U> {
                    None
                }
            ),
        );
        assert_eq!(errs, ["`#[user_loader]` must be placed on a free `async fn`, not a method: remove `self`"]);
        let errs = errors(
            Loader::User,
            quote!(),
            quote!(
                async fn load<T>(id: T) -> Option<U> {
                    None
                }
            ),
        );
        assert_eq!(errs, ["a `#[user_loader]` cannot be generic: the login manager calls it with concrete types"]);
        let errs = errors(
            Loader::User,
            quote!(),
            quote!(
                async fn load() -> Option<U> {
                    None
                }
            ),
        );
        assert_eq!(errs.len(), 1);
        assert!(errs[0].starts_with("a `#[user_loader]` takes the user id as its first parameter"), "{errs:?}");
        let errs = errors(
            Loader::Request,
            quote!(),
            quote!(
                async fn load(r: HttpRequest) {}
            ),
        );
        assert_eq!(errs.len(), 1);
        assert!(
            errs[0].starts_with("a `#[request_loader]` must return the user it found: add `-> Option<User>`"),
            "{errs:?}"
        );
    }

    #[test]
    fn id_checks() {
        let out = try_expand(
            Loader::User,
            quote!(),
            quote!(
                async fn load(id: u64) -> Option<U> {
                    None
                }
            ),
        )
        .unwrap()
        .to_string();
        assert!(
            out.contains("(& :: login_runtime :: __private :: IdCheck :: < Self , u64 > :: NEW) . expected_id () . loader_id :: < u64 > () ;"),
            "{out}"
        );
        // A `String` takes any id.
        let out = try_expand(
            Loader::User,
            quote!(),
            quote!(
                async fn load(id: String) -> Option<U> {
                    None
                }
            ),
        )
        .unwrap()
        .to_string();
        assert!(out.contains("require_user_id :: < String > () ;"), "{out}");
        assert!(!out.contains("IdCheck"), "{out}");
    }

    #[test]
    fn shapes_that_are_not_loaders() {
        let errs = errors(
            Loader::User,
            quote!(),
            quote!(
                async fn load(id: &str) -> Option<U> {
                    None
                }
            ),
        );
        assert_eq!(errs.len(), 1);
        assert!(errs[0].starts_with("the user id is parsed from the session into a value the loader owns"), "{errs:?}");
        let errs = errors(
            Loader::Request,
            quote!(),
            quote!(
                async fn load(db: &web::Data<Db>) -> Option<U> {
                    None
                }
            ),
        );
        assert_eq!(errs, ["a loader's extractors are taken by value: remove the `&`, as in `db: web::Data<Db>`"]);
        let errs = errors(
            Loader::User,
            quote!(),
            quote!(
                async fn load(id: u64) -> Option<U>
                where
                    u64: Copy,
                {
                    None
                }
            ),
        );
        assert_eq!(errs, ["a `#[user_loader]` cannot have a `where` clause: its types are concrete, remove it"]);
        for id in [quote!(u64), quote!(uuid::Uuid), quote!(String)] {
            let errs = errors(Loader::Request, quote!(), quote!(async fn load(id: #id) -> Option<U> { None }));
            assert_eq!(errs.len(), 1);
            assert!(errs[0].starts_with("a `#[request_loader]` takes no id"), "{errs:?}");
        }
        let input = quote!(
            fn load(id: u64) -> impl Future<Output = Option<U>> {
                async move { None }
            }
        );
        let errs = errors(Loader::User, quote!(), input.clone());
        assert_eq!(errs.len(), 1);
        assert!(errs[0].ends_with("returning the user, and move the body of the future into it"), "{errs:?}");
        let out = expand(Loader::User, quote!(), input).to_string();
        assert!(!out.contains("struct load"), "nothing expanded after a fatal error: {out}");
    }

    #[test]
    fn recoverable_mistakes_still_expand() {
        let out = expand(
            Loader::User,
            quote!(),
            quote!(
                fn load(id: u64) -> Option<U> {
                    None
                }
            ),
        )
        .to_string();
        assert!(out.contains("const load : load = load"), "{out}");
        assert!(out.contains("async fn load (id : u64 ,) -> Option < U > { None }"), "{out}");
        assert_eq!(out.matches("compile_error").count(), 1, "{out}");
        let out = expand(
            Loader::User,
            quote!(),
            quote!(
                async fn load(id: u64) {}
            ),
        )
        .to_string();
        assert!(out.starts_with("async fn load (id : u64) { }"), "{out}");
    }

    #[test]
    fn not_in_a_block() {
        let input = quote!(
            async fn load_user(id: u64) -> Option<U> {
                None
            }
        );
        let inherent = Enclosing::Impl { trait_: None, self_ty: "Users".into() };
        let (out, error) = run(Loader::User, quote!(), input.clone(), &inherent);
        assert_eq!(out.to_string(), input.to_string(), "left as written");
        assert_eq!(
            error.map(|error| error.to_string()).as_deref(),
            Some(
                "`#[user_loader]` turns `load_user` into a value of the same name, which cannot be declared inside `impl Users`: \
                 move the function out of the block, to module level"
            )
        );
        let in_trait = Enclosing::Impl { trait_: Some("Load".into()), self_ty: "Users".into() };
        let (_, error) = run(Loader::Request, quote!(), input, &in_trait);
        assert!(error.unwrap().to_string().contains("cannot be declared inside `impl Load for Users`"));
    }

    #[test]
    fn option_errors() {
        let errs = errors(
            Loader::User,
            quote!(krate = "x"),
            quote!(
                async fn load(id: u64) -> Option<U> {
                    None
                }
            ),
        );
        assert_eq!(errs, ["unknown option `krate` in `#[user_loader]`; expected `crate`"]);
    }

    #[test]
    fn all_errors_at_once() {
        let errs = errors(Loader::User, quote!(nope), quote!(fn load()));
        assert_eq!(errs.len(), 2, "a syntax error in the item is reported as is: {errs:?}");
        let errs = errors(
            Loader::User,
            quote!(nope),
            quote!(
                fn load() {}
            ),
        );
        assert_eq!(errs.len(), 4, "{errs:?}");
    }
}
