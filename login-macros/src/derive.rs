//! `#[derive(AuthUser)]`: Flask-Login's `UserMixin` for a struct with named fields.
//!
//! Model (`parse`), validate (in `parse`, errors collected), expand (`generate`). Field types
//! are checked by the compiler through `__private` traits, spanned on the field's type, so a
//! type alias or a newtype with the right impl is accepted and a wrong type is reported where
//! it is written.

use proc_macro2::{Span, TokenStream, TokenTree};
use quote::{ToTokens, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Attribute, Data, DeriveInput, Field, Fields, Generics, Ident, Path, Type};

use crate::attr::{self, Errors};

const FIELD_OPTIONS: &[&str] = &["id", "active", "session_hash", "permissions"];
const CONTAINER_OPTIONS: &[&str] = &["crate"];

/// The role a field plays.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Role {
    Id,
    Active,
    SessionHash,
    /// Any number of fields, one per permission type.
    Permissions,
}

impl Role {
    fn from_key(key: &str) -> Role {
        match key {
            "id" => Role::Id,
            "active" => Role::Active,
            "session_hash" => Role::SessionHash,
            "permissions" => Role::Permissions,
            _ => unreachable!("`{key}` is not in FIELD_OPTIONS"),
        }
    }

    fn key(self) -> &'static str {
        match self {
            Role::Id => "id",
            Role::Active => "active",
            Role::SessionHash => "session_hash",
            Role::Permissions => "permissions",
        }
    }
}

/// A field with a role.
struct Marked<'a> {
    ident: &'a Ident,
    ty: &'a Type,
}

/// The validated input.
struct Model<'a> {
    id: Marked<'a>,
    active: Option<Marked<'a>>,
    session_hash: Option<Marked<'a>>,
    permissions: Vec<Marked<'a>>,
}

pub(crate) fn expand(input: TokenStream) -> TokenStream {
    let input = match syn::parse2::<DeriveInput>(input) {
        Ok(input) => input,
        Err(error) => return error.into_compile_error(),
    };
    let mut errors = Errors::default();
    let krate = container_options(&input.attrs, &mut errors);
    let model = parse(&input, &mut errors);
    let krate = attr::runtime_path(krate.as_ref());
    match (errors.finish(), model) {
        (Ok(()), Some(model)) => generate(&input, &krate, &model),
        (result, _) => {
            // A stub impl next to the error (thiserror's fallback.rs): code that relies on
            // `User: AuthUser` elsewhere does not add errors of its own.
            let error = result.err().map(syn::Error::into_compile_error);
            let fallback = fallback(&input, &krate);
            quote!(#error #fallback)
        }
    }
}

fn container_options(attrs: &[Attribute], errors: &mut Errors) -> Option<Path> {
    let mut krate = None;
    for attr in attrs.iter().filter(|attr| attr.path().is_ident("auth_user")) {
        let Some(list) = errors.take(attr.meta.require_list().map(|list| list.tokens.clone())) else {
            continue;
        };
        let result =
            attr::parse_options(list, "`#[auth_user]` on a struct", CONTAINER_OPTIONS, errors, |_, meta, errors| {
                krate = attr::crate_path(meta, errors)?;
                Ok(())
            });
        errors.take(result);
    }
    krate
}

/// The roles written on one field.
fn field_roles(field: &Field, errors: &mut Errors) -> Vec<(Role, Span)> {
    let mut roles = Vec::new();
    for attr in field.attrs.iter().filter(|attr| attr.path().is_ident("auth_user")) {
        let Some(list) = errors.take(attr.meta.require_list().map(|list| list.tokens.clone())) else {
            continue;
        };
        let result =
            attr::parse_options(list, "`#[auth_user]` on a field", FIELD_OPTIONS, errors, |key, meta, errors| {
                attr::flag(key, &format!("#[auth_user({key})]"), meta, errors)?;
                roles.push((Role::from_key(key), meta.path.span()));
                Ok(())
            });
        errors.take(result);
    }
    roles
}

fn parse<'a>(input: &'a DeriveInput, errors: &mut Errors) -> Option<Model<'a>> {
    let fields = match &input.data {
        Data::Struct(data) => match &data.fields {
            Fields::Named(fields) => &fields.named,
            Fields::Unnamed(fields) => {
                errors.spanned(
                    fields,
                    "`AuthUser` cannot be derived for a tuple struct: name the fields, as in `struct User { id: u64 }`",
                );
                return None;
            }
            Fields::Unit => {
                errors.spanned(
                    &input.ident,
                    "`AuthUser` cannot be derived for a unit struct: a user needs an id field, as in `struct User { id: u64 }`",
                );
                return None;
            }
        },
        Data::Enum(data) => {
            errors.spanned(
                data.enum_token,
                "`AuthUser` can only be derived for a struct with named fields, not an enum: derive it on the user struct",
            );
            return None;
        }
        Data::Union(data) => {
            errors.spanned(
                data.union_token,
                "`AuthUser` can only be derived for a struct with named fields, not a union",
            );
            return None;
        }
    };

    let mut marked_id: Option<Marked> = None;
    let mut named_id: Option<Marked> = None;
    let mut active: Option<Marked> = None;
    let mut session_hash: Option<Marked> = None;
    let mut permissions = Vec::new();
    for field in fields {
        let Some(ident) = &field.ident else { continue };
        let this = || Marked { ident, ty: &field.ty };
        if ident == "id" {
            named_id = Some(this());
        }
        let mut seen = Vec::new();
        for (role, span) in field_roles(field, errors) {
            if seen.contains(&role) {
                errors.at(span, format!("duplicate option `{}` on field `{ident}`: remove one", role.key()));
                continue;
            }
            seen.push(role);
            let slot = match role {
                Role::Id => &mut marked_id,
                Role::Active => &mut active,
                Role::SessionHash => &mut session_hash,
                Role::Permissions => {
                    permissions.push(this());
                    continue;
                }
            };
            match slot {
                Some(first) => errors.at(
                    span,
                    format!(
                        "`#[auth_user({key})]` is already on field `{}`: a user has one {what} field",
                        first.ident,
                        key = role.key(),
                        what = match role {
                            Role::Id => "id",
                            Role::Active => "active flag",
                            Role::SessionHash | Role::Permissions => "session hash",
                        }
                    ),
                ),
                None => *slot = Some(this()),
            }
        }
    }
    let id = marked_id.or(named_id);
    if id.is_none() {
        errors.spanned(
            &input.ident,
            format!("`{}` has no id field: name a field `id`, or mark one with `#[auth_user(id)]`", input.ident),
        );
    }
    Some(Model { id: id?, active, session_hash, permissions })
}

/// `impl<..> AuthUser for Name<..> where ..`, with the bounds the impl needs: `AuthUser` is
/// `'static`, and a field type that mentions a type parameter must pass its check.
fn impl_header(input: &DeriveInput, trait_path: &TokenStream, field_bounds: &[(&Type, TokenStream)]) -> TokenStream {
    let mut generics: Generics = input.generics.clone();
    let params: Vec<Ident> = generics.type_params().map(|param| param.ident.clone()).collect();
    let lifetimes: Vec<syn::Lifetime> = generics.lifetimes().map(|param| param.lifetime.clone()).collect();
    if !params.is_empty() || !lifetimes.is_empty() {
        let where_clause = generics.make_where_clause();
        for param in &params {
            where_clause.predicates.push(syn::parse_quote!(#param: 'static));
        }
        for lifetime in &lifetimes {
            where_clause.predicates.push(syn::parse_quote!(#lifetime: 'static));
        }
        for (ty, bound) in field_bounds {
            if mentions(ty, &params) {
                where_clause.predicates.push(syn::parse_quote!(#ty: #bound));
            }
        }
    }
    let ident = &input.ident;
    let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();
    quote! {
        #[automatically_derived]
        #[allow(unused_qualifications)]
        impl #impl_generics #trait_path for #ident #ty_generics #where_clause
    }
}

/// Whether a type mentions one of the type parameters.
fn mentions(ty: &Type, params: &[Ident]) -> bool {
    fn walk(tokens: TokenStream, params: &[Ident]) -> bool {
        tokens.into_iter().any(|tree| match tree {
            TokenTree::Ident(ident) => params.contains(&ident),
            TokenTree::Group(group) => walk(group.stream(), params),
            _ => false,
        })
    }
    walk(ty.to_token_stream(), params)
}

fn generate(input: &DeriveInput, krate: &TokenStream, model: &Model) -> TokenStream {
    let private = quote!(#krate::__private);
    let mut bounds = vec![(model.id.ty, quote!(#private::UserIdField))];

    let Marked { ident: id, ty: id_ty } = &model.id;
    // Spanned on the field's type: a type that is not `Display` is reported there.
    let id = at_type(id, id_ty);
    let id_string = quote_spanned!(id_ty.span()=> #private::UserIdField::user_id_string(&self.#id));
    let get_id = quote! {
        fn get_id(&self) -> ::core::option::Option<::std::string::String> {
            ::core::option::Option::Some(#id_string)
        }
    };

    let is_active = model.active.as_ref().map(|Marked { ident, ty }| {
        bounds.push((ty, quote!(#private::ActiveField)));
        let ident = at_type(ident, ty);
        let flag = quote_spanned!(ty.span()=> #private::ActiveField::active_flag(&self.#ident));
        quote! {
            fn is_active(&self) -> ::core::primitive::bool {
                #flag
            }
        }
    });

    let session_hash = model.session_hash.as_ref().map(|Marked { ident, ty }| {
        bounds.push((ty, quote!(#private::SessionHashField)));
        let ident = at_type(ident, ty);
        let bytes = quote_spanned!(ty.span()=> #private::SessionHashField::session_hash_bytes(&self.#ident));
        quote! {
            fn session_hash(&self) -> ::core::option::Option<&[::core::primitive::u8]> {
                #bytes
            }
        }
    });

    // One test per permission field: the permission asked for is of its type, or not.
    let has_permission = (!model.permissions.is_empty()).then(|| {
        let tests = model.permissions.iter().map(|Marked { ident, ty }| {
            bounds.push((ty, quote!(#private::PermissionField)));
            let ident = at_type(ident, ty);
            let item = quote_spanned!(ty.span()=> <#ty as #private::PermissionField>::Item);
            quote! {
                if let ::core::option::Option::Some(permission) = permission.downcast_ref::<#item>() {
                    return ::core::option::Option::Some(#private::PermissionField::holds(&self.#ident, permission));
                }
            }
        });
        quote! {
            fn has_permission(
                &self,
                permission: &dyn ::core::any::Any,
            ) -> ::core::option::Option<::core::primitive::bool> {
                #(#tests)*
                ::core::option::Option::None
            }
        }
    });

    let header = impl_header(input, &quote!(#private::AuthUser), &bounds);
    // The id's type, so that a `#[user_loader]` for this user can be checked against it.
    let id_type_header = impl_header(input, &quote!(#private::UserIdType), &[]);
    quote! {
        #header {
            #get_id
            #is_active
            #session_hash
            #has_permission
        }
        #id_type_header {
            type Id = #id_ty;
        }
    }
}

/// The field's name, spanned on its type: the whole generated check then points at the type.
fn at_type(ident: &Ident, ty: &Type) -> Ident {
    let mut ident = ident.clone();
    ident.set_span(ty.span());
    ident
}

fn fallback(input: &DeriveInput, krate: &TokenStream) -> TokenStream {
    let header = impl_header(input, &quote!(#krate::__private::AuthUser), &[]);
    quote! {
        #header {
            fn get_id(&self) -> ::core::option::Option<::std::string::String> {
                ::core::unreachable!()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The messages of the `compile_error!`s in an expansion.
    fn errors(input: TokenStream) -> Vec<String> {
        let mut messages = Vec::new();
        let mut tokens = expand(input).into_iter().peekable();
        while let Some(tree) = tokens.next() {
            if let TokenTree::Ident(ident) = &tree
                && ident == "compile_error"
            {
                tokens.next(); // `!`
                if let Some(TokenTree::Group(group)) = tokens.next() {
                    let lit: syn::LitStr = syn::parse2(group.stream()).unwrap();
                    messages.push(lit.value());
                }
            }
        }
        messages
    }

    fn expands(input: TokenStream) -> String {
        let errs = errors(input.clone());
        assert!(errs.is_empty(), "{errs:?}");
        expand(input).to_string()
    }

    #[test]
    fn id_by_convention() {
        let out = expands(quote!(
            struct User {
                id: u64,
                name: String,
            }
        ));
        assert!(out.contains("impl :: login_runtime :: __private :: AuthUser for User"), "{out}");
        assert!(out.contains("UserIdField :: user_id_string (& self . id)"), "{out}");
        assert!(!out.contains("is_active"), "{out}");
        assert!(!out.contains("fn session_hash"), "{out}");
    }

    #[test]
    fn marked_fields_and_generics() {
        let out = expands(quote! {
            #[auth_user(crate = "lr")]
            struct User<'a, T, U: Clone> where U: Copy {
                id: u8,
                #[auth_user(id)] key: T,
                #[auth_user(active)] enabled: bool,
                #[auth_user(session_hash)] hash: Option<&'a [u8]>,
                other: U,
            }
        });
        assert!(out.contains("lr :: __private :: UserIdField :: user_id_string (& self . key)"), "{out}");
        assert!(out.contains("ActiveField :: active_flag (& self . enabled)"), "{out}");
        assert!(out.contains("SessionHashField :: session_hash_bytes (& self . hash)"), "{out}");
        assert!(
            out.contains(
                "where U : Copy , T : 'static , U : 'static , 'a : 'static , T : lr :: __private :: UserIdField"
            ),
            "{out}"
        );
    }

    #[test]
    fn shapes() {
        assert_eq!(
            errors(quote!(
                enum User {
                    A,
                }
            )),
            [
                "`AuthUser` can only be derived for a struct with named fields, not an enum: derive it on the user struct"
            ]
        );
        assert_eq!(
            errors(quote!(
                struct User(u64);
            )),
            ["`AuthUser` cannot be derived for a tuple struct: name the fields, as in `struct User { id: u64 }`"]
        );
        assert_eq!(
            errors(quote!(
                struct User;
            ))
            .len(),
            1
        );
        assert_eq!(errors(quote!(union User { id: u64 })).len(), 1);
        // The fallback impl is still emitted.
        assert!(
            expand(quote!(
                enum User {
                    A,
                }
            ))
            .to_string()
            .contains("AuthUser for User")
        );
    }

    #[test]
    fn id_field() {
        assert_eq!(
            errors(quote!(
                struct User {
                    key: u64,
                }
            )),
            ["`User` has no id field: name a field `id`, or mark one with `#[auth_user(id)]`"]
        );
        assert_eq!(
            errors(quote!(
                struct User {
                    #[auth_user(id)]
                    a: u64,
                    #[auth_user(id)]
                    b: u64,
                }
            )),
            ["`#[auth_user(id)]` is already on field `a`: a user has one id field"]
        );
    }

    #[test]
    fn options() {
        assert_eq!(
            errors(quote!(
                struct User {
                    #[auth_user(activ)]
                    id: u64,
                }
            )),
            [
                "unknown option `activ` in `#[auth_user]` on a field; expected `id`, `active`, `session_hash` or `permissions`"
            ]
        );
        assert_eq!(
            errors(quote!(
                struct User {
                    #[auth_user(active, active)]
                    a: bool,
                    id: u64,
                }
            )),
            ["duplicate option `active` in `#[auth_user]` on a field: remove one"]
        );
        assert_eq!(
            errors(quote!(
                struct User {
                    #[auth_user(active)]
                    #[auth_user(active)]
                    a: bool,
                    id: u64,
                }
            )),
            ["duplicate option `active` on field `a`: remove one"]
        );
        assert_eq!(
            errors(quote!(
                struct User {
                    #[auth_user(active = true)]
                    a: bool,
                    id: u64,
                }
            )),
            ["`active` takes no value: write `#[auth_user(active)]`"]
        );
        assert_eq!(
            errors(quote!(
                #[auth_user(id)]
                struct User {
                    id: u64,
                }
            )),
            ["unknown option `id` in `#[auth_user]` on a struct; expected `crate`"]
        );
        assert_eq!(
            errors(quote!(
                struct User {
                    #[auth_user]
                    id: u64,
                }
            ))
            .len(),
            1
        );
        // Independent mistakes are reported together.
        assert_eq!(
            errors(quote!(
                #[auth_user(nope)]
                struct User {
                    #[auth_user(x)]
                    a: u64,
                    #[auth_user(y)]
                    b: u64,
                }
            ))
            .len(),
            4
        );
    }
}
