//! Where an attribute stands: at module level, or inside an `impl` or `trait` block.
//!
//! An attribute macro sees its item only, yet two mistakes depend on what is around it: a
//! guard on a method of a trait impl (the trait fixes the signature the guard must change:
//! rustc's E0050 "method has 1 parameter but the declaration in trait has 0"), and a loader
//! inside an `impl` block (a struct cannot be declared there: rustc's "struct is not supported
//! in `impl`s" twice). So the macros read the source file at the attribute's location
//! (`proc_macro::Span::local_file`, `line` and `column`, stable since Rust 1.88) and look for
//! the block around it. This only chooses the error message for code that cannot compile
//! anyway; any doubt (no file on disk, an attribute written by another macro, a file that
//! does not parse) is [`Enclosing::Module`], which changes nothing.
//!
//! The same reading tells the guards whether an attribute stands on a function written
//! directly in a module ([`module_level_site`]), where equal paths name the same items for
//! every function of the module, so that equal permission rules may share one type. There any
//! doubt is "no".

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::SystemTime;

use quote::ToTokens;
use syn::{ImplItem, Item, Stmt, TraitItem};

/// The block an attribute stands in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Enclosing {
    /// A module, or a function body: where a handler or a loader belongs.
    Module,
    /// `impl Type { .. }` (`trait_: None`) or `impl Trait for Type { .. }`, as written.
    Impl { trait_: Option<String>, self_ty: String },
    /// `trait Name { .. }`.
    Trait { name: String },
}

impl Enclosing {
    /// The block as written, for a message: `` `impl Pages for Site` ``, `` `impl Users` ``,
    /// `` trait `Pages` ``; none at module level.
    pub(crate) fn block(&self) -> Option<String> {
        match self {
            Enclosing::Impl { trait_: Some(trait_), self_ty } => Some(format!("`impl {trait_} for {self_ty}`")),
            Enclosing::Impl { trait_: None, self_ty } => Some(format!("`impl {self_ty}`")),
            Enclosing::Trait { name } => Some(format!("trait `{name}`")),
            Enclosing::Module => None,
        }
    }

    /// Whether a trait fixes the signatures of the functions in this block.
    pub(crate) fn is_trait(&self) -> bool {
        matches!(self, Enclosing::Impl { trait_: Some(_), .. } | Enclosing::Trait { .. })
    }
}

/// A position in a file: line (from 1), column (from 0, in characters).
type Position = (usize, usize);

/// A block and what it is, as found in a file.
struct Region {
    start: Position,
    end: Position,
    kind: Enclosing,
}

/// The block around the attribute this macro is expanding.
pub(crate) fn of_call_site() -> Enclosing {
    let span = proc_macro::Span::call_site();
    let Some(path) = span.local_file() else {
        return Enclosing::Module;
    };
    let scopes = scopes_of(&path);
    innermost(&scopes.regions, position(&span))
}

/// Where a guard's attribute stands, when it is on a function written directly in a module of
/// a file on disk (not in a function body, a block, an `impl`, a `trait` or a macro's input).
pub(crate) struct ModuleSite {
    pub(crate) file: PathBuf,
    /// The inline modules around the function in its file (`a::b`; empty at the file's top).
    module: String,
    position: Position,
}

/// The site of the attribute this macro is expanding; `None` when unsure, and outside a macro
/// (unit tests).
pub(crate) fn module_level_site() -> Option<ModuleSite> {
    if !proc_macro::is_available() {
        return None;
    }
    let span = proc_macro::Span::call_site();
    let file = span.local_file()?;
    let position = position(&span);
    let scopes = scopes_of(&file);
    let module = scopes.module_fns.iter().find(|f| f.start <= position && position < f.end)?.module.clone();
    Some(ModuleSite { file, module, position })
}

impl ModuleSite {
    #[cfg(test)]
    pub(crate) fn new(file: &str, module: &str, position: Position) -> Self {
        ModuleSite { file: file.into(), module: module.into(), position }
    }

    /// Whether the item for `key` (one per module of this compilation, such as a shared rule's
    /// entry in the link-time table) must be emitted here: yes the first time `key` is seen in
    /// this module of this file, and whenever this very position comes again (the file is a
    /// second module through `#[path]`, or another macro repeated the function), so that every
    /// module that uses `key` holds at least one. rustc runs a crate's macros in one process,
    /// on one thread: the memory is per compilation.
    pub(crate) fn claim(&self, key: u128) -> bool {
        thread_local! {
            static CLAIMED: RefCell<HashMap<(u128, PathBuf, String), Vec<Position>>> = RefCell::default();
        }
        CLAIMED.with(|claimed| {
            let mut claimed = claimed.borrow_mut();
            let seen = claimed.entry((key, self.file.clone(), self.module.clone())).or_default();
            let emit = seen.is_empty() || seen.contains(&self.position);
            seen.push(self.position);
            emit
        })
    }
}

/// `file:line:column` of the attribute this macro is expanding; `""` outside a macro (unit
/// tests) or without a file.
pub(crate) fn call_site_position() -> String {
    if !proc_macro::is_available() {
        return String::new();
    }
    let span = proc_macro::Span::call_site();
    let (line, column) = position(&span);
    let file = span.local_file().map(|file| file.display().to_string()).unwrap_or_default();
    format!("{file}:{line}:{column}")
}

fn position(span: &proc_macro::Span) -> Position {
    (span.line(), span.column().saturating_sub(1))
}

/// What a file holds: its blocks, and the functions written directly in a module (file or
/// inline `mod`).
#[derive(Default)]
struct Scopes {
    regions: Vec<Region>,
    module_fns: Vec<ModuleFn>,
}

/// A function of a module: from its first attribute to its body's opening brace, and the
/// inline modules around it.
struct ModuleFn {
    start: Position,
    end: Position,
    module: String,
}

/// A file's scopes, and the modification time they were read at.
type Parsed = (Option<SystemTime>, Rc<Scopes>);

/// The scopes of a file, parsed once per file and compilation (a handler file holds many
/// guards); none when it cannot be read or parsed.
fn scopes_of(path: &Path) -> Rc<Scopes> {
    thread_local! {
        static FILES: RefCell<HashMap<PathBuf, Parsed>> = RefCell::default();
    }
    // Keyed by the modification time too, for a long-lived host (an IDE's macro server).
    let modified = std::fs::metadata(path).and_then(|meta| meta.modified()).ok();
    FILES.with(|files| {
        if let Some((time, scopes)) = files.borrow().get(path)
            && *time == modified
        {
            return Rc::clone(scopes);
        }
        let scopes = Rc::new(std::fs::read_to_string(path).map(|source| scopes_in(&source)).unwrap_or_default());
        files.borrow_mut().insert(path.to_owned(), (modified, Rc::clone(&scopes)));
        scopes
    })
}

/// The block around `position` in `source`.
#[cfg(test)]
pub(crate) fn in_source(source: &str, position: Position) -> Enclosing {
    innermost(&scopes_in(source).regions, position)
}

fn innermost(regions: &[Region], position: Position) -> Enclosing {
    // Regions nest, so the innermost is the one that starts last.
    regions
        .iter()
        .filter(|region| region.start < position && position < region.end)
        .max_by_key(|region| region.start)
        .map_or(Enclosing::Module, |region| region.kind.clone())
}

fn scopes_in(source: &str) -> Scopes {
    // Parsed by proc-macro2's own implementation, whose spans carry lines and columns (the
    // compiler's would all be this macro's call site). Nothing else runs meanwhile: rustc
    // expands macros on one thread.
    proc_macro2::fallback::force();
    let file = syn::parse_file(source);
    let mut scopes = Scopes::default();
    if let Ok(file) = &file {
        items(&file.items, &mut scopes.regions);
        module_fns(&file.items, "", &mut scopes.module_fns);
    }
    drop(file);
    proc_macro2::fallback::unforce();
    scopes
}

/// The functions of a module and of its inline modules, not those of blocks.
fn module_fns(items: &[Item], module: &str, out: &mut Vec<ModuleFn>) {
    for item in items {
        match item {
            // Only a function with an attribute can be where an attribute macro stands.
            Item::Fn(f) if !f.attrs.is_empty() => {
                let start = f.attrs[0].pound_token.span.start();
                let end = f.block.brace_token.span.open().start();
                let (start, end) = ((start.line, start.column), (end.line, end.column));
                out.push(ModuleFn { start, end, module: module.to_owned() });
            }
            Item::Mod(syn::ItemMod { ident, content: Some((_, inner)), .. }) => {
                module_fns(inner, &format!("{module}::{ident}"), out);
            }
            _ => {}
        }
    }
}

fn region(regions: &mut Vec<Region>, braces: &syn::token::Brace, kind: Enclosing) {
    let start = braces.span.open().start();
    let end = braces.span.close().end();
    regions.push(Region { start: (start.line, start.column), end: (end.line, end.column), kind });
}

fn items<'a>(items: impl IntoIterator<Item = &'a Item>, regions: &mut Vec<Region>) {
    for item in items {
        match item {
            Item::Impl(imp) => {
                let kind = Enclosing::Impl {
                    trait_: imp.trait_.as_ref().map(|(path, _)| text(path)),
                    self_ty: text(&imp.self_ty),
                };
                region(regions, &imp.brace_token, kind);
                for item in &imp.items {
                    if let ImplItem::Fn(f) = item {
                        block(&f.block, regions);
                    }
                }
            }
            Item::Trait(tr) => {
                region(regions, &tr.brace_token, Enclosing::Trait { name: tr.ident.to_string() });
                for item in &tr.items {
                    if let TraitItem::Fn(syn::TraitItemFn { default: Some(body), .. }) = item {
                        block(body, regions);
                    }
                }
            }
            Item::Mod(syn::ItemMod { content: Some((braces, inner)), .. }) => {
                region(regions, braces, Enclosing::Module);
                self::items(inner, regions);
            }
            Item::Fn(f) => block(&f.block, regions),
            _ => {}
        }
    }
}

/// A function body: module level again, for the items declared in it.
fn block(body: &syn::Block, regions: &mut Vec<Region>) {
    region(regions, &body.brace_token, Enclosing::Module);
    let inner = body.stmts.iter().filter_map(|stmt| match stmt {
        Stmt::Item(item) => Some(item),
        _ => None,
    });
    items(inner, regions);
}

/// Tokens as the user would write them: `Pages`, `Site<T>`.
fn text(tokens: &impl ToTokens) -> String {
    let text = tokens.to_token_stream().to_string();
    [(" :: ", "::"), (":: ", "::"), (" <", "<"), ("< ", "<"), (" >", ">"), (" ,", ","), ("& ", "&")]
        .iter()
        .fold(text, |text, (from, to)| text.replace(from, to))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SOURCE: &str = r#"
use actix_web::get;

trait Pages {
    async fn index() -> &'static str;
    async fn about() -> &'static str {
        "about"
    }
}

struct Site<T>(T);

impl<T: Send> Pages for Site<T> {
    #[login_required]
    async fn index() -> &'static str {
        fn nested() {}
        "hello" // } a brace in a comment, "}" in a string
    }
}

impl Site<u8> {
    #[login_required]
    async fn inherent() {}
}

mod inner {
    #[login_required]
    async fn free() {}
}
"#;

    fn at(line: usize, column: usize) -> Enclosing {
        in_source(SOURCE, (line, column))
    }

    #[test]
    fn finds_the_block_around_a_position() {
        assert_eq!(at(2, 0), Enclosing::Module);
        assert_eq!(at(5, 4), Enclosing::Trait { name: "Pages".into() });
        assert_eq!(at(7, 8), Enclosing::Module, "a default method's body");
        assert_eq!(
            at(14, 4),
            Enclosing::Impl { trait_: Some("Pages".into()), self_ty: "Site<T>".into() },
            "the attribute of a trait impl's method"
        );
        assert_eq!(at(16, 8), Enclosing::Module, "a method's body");
        assert_eq!(at(22, 4), Enclosing::Impl { trait_: None, self_ty: "Site<u8>".into() });
        assert_eq!(at(27, 4), Enclosing::Module);
    }

    #[test]
    fn a_file_that_does_not_parse_is_module_level() {
        assert_eq!(in_source("impl X for Y { fn f( }", (1, 16)), Enclosing::Module);
    }
}
