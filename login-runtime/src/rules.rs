//! The link-time table of the guards' permission rules, so that equal rules share one type.
//!
//! A guard's extractor type is what actix instantiates its extraction for (the argument
//! tuple's future, its drop glue, its debug info): with one rule type per handler, 300
//! handlers with `permission = Perm::Edit` compiled 300 copies of it, 1.56 x the build of the
//! same crate without guards. So where the macro can prove that equal tokens mean the same
//! rule (a handler directly in a module, a rule without macros, `$crate`, `self`, `super` or
//! `Self`), the guard names the rule only by an id, [`SharedRule<ID>`](SharedRule), computed
//! in const context from `module_path!()`, the crate and file, and the rule's tokens; the
//! first handler of the module with that rule adds the rule's function to
//! [`LOGIN_PERMISSION_RULES`] under that id (and so does any handler whose source position is
//! expanded again: a file included as two modules). Equal rules in one module get one id, one
//! type, one instantiation. A handler in an inherent `impl` block, which can hold neither a
//! struct nor a `const _`, gets an id of its own source position, with the entry in its body;
//! everywhere else the rule keeps a type of its own, next to its handler.
//!
//! Entries of one id are the same rule by construction. The table checks it anyway when it is
//! built, at the first request that needs it: each entry's decision tree (every permission it
//! asks for, with its type and value, and its verdict for every combination of answers) is
//! fingerprinted, and an id whose entries disagree, like an id with no entry, refuses its
//! requests with a logged 500, never a pass.

use std::cell::RefCell;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::OnceLock;

use crate::authz::{CheckFn, Grants, PermissionCheck, Probe, Unresolved};
use crate::error::LoginError;

/// A permission rule shared by the handlers of one module that write it with the same tokens.
#[doc(hidden)]
pub struct SharedRule<const ID: u128>;

impl<const ID: u128> PermissionCheck for SharedRule<ID> {
    #[inline]
    fn rule() -> Option<CheckFn> {
        Some(lookup(ID))
    }
}

/// One rule of [`LOGIN_PERMISSION_RULES`].
#[doc(hidden)]
pub struct RuleEntry {
    id: u128,
    check: CheckFn,
}

impl RuleEntry {
    /// The rule `check`, under `id` (from [`rule_id`]).
    pub const fn new(id: u128, check: CheckFn) -> Self {
        RuleEntry { id, check }
    }
}

/// Every shared rule of the program: an entry per module and rule, at least.
#[doc(hidden)]
#[linkme::distributed_slice]
pub static LOGIN_PERMISSION_RULES: [RuleEntry];

/// A rule's id: `salt` (the macro's hash of the crate, the file and the rule's tokens) mixed
/// with the module path, by 128-bit FNV-1a.
#[doc(hidden)]
pub const fn rule_id(module_path: &str, salt: u128) -> u128 {
    const PRIME: u128 = 0x0000_0000_0100_0000_0000_0000_0000_013b;
    let bytes = module_path.as_bytes();
    let mut hash = salt ^ 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u128;
        hash = hash.wrapping_mul(PRIME);
        i += 1;
    }
    hash
}

/// The rule of `id`; a missing or contradictory id gets a rule that fails (a logged 500).
fn lookup(id: u128) -> CheckFn {
    let table = table();
    match table.binary_search_by_key(&id, |&(id, _)| id) {
        Ok(i) => table[i].1,
        Err(_) => {
            tracing::error!(id = %format_args!("{id:032x}"), "no permission rule has this id in the link-time table");
            missing
        }
    }
}

/// The table, sorted by id, one entry per id: built once, at the first guarded request.
pub(crate) fn table() -> &'static [(u128, CheckFn)] {
    static TABLE: OnceLock<Box<[(u128, CheckFn)]>> = OnceLock::new();
    TABLE.get_or_init(|| build(&LOGIN_PERMISSION_RULES))
}

fn build(entries: &[RuleEntry]) -> Box<[(u128, CheckFn)]> {
    let mut entries: Vec<&RuleEntry> = entries.iter().collect();
    entries.sort_by_key(|entry| entry.id);
    let mut table: Vec<(u128, CheckFn)> = Vec::new();
    for group in entries.chunk_by(|a, b| a.id == b.id) {
        let first = fingerprint(group[0].check);
        let check = if group[1..].iter().all(|entry| fingerprint(entry.check) == first) {
            group[0].check
        } else {
            tracing::error!(
                id = %format_args!("{:032x}", group[0].id),
                "two different permission rules have the same id: their guards answer 500 (please report this bug of login-runtime)"
            );
            contradictory
        };
        table.push((group[0].id, check));
    }
    table.into_boxed_slice()
}

fn missing(_: &Grants<'_>) -> Result<bool, Unresolved> {
    Err(Unresolved::error(LoginError::PermissionRule(
        "the guard's permission rule is missing from the link-time table",
    )))
}

fn contradictory(_: &Grants<'_>) -> Result<bool, Unresolved> {
    Err(Unresolved::error(LoginError::PermissionRule("two different permission rules have the guard's rule id")))
}

/// A rule's decision tree, hashed: run with every combination of answers it can reach
/// (depth first; a rule of n permissions has at most 2^n paths, and the macro shares only
/// rules of at most 12).
fn fingerprint(check: CheckFn) -> u64 {
    const MAX_RUNS: usize = 1 << 12;
    let mut hasher = DefaultHasher::new();
    let mut pending = vec![Vec::new()];
    let mut runs = 0;
    while let Some(script) = pending.pop() {
        runs += 1;
        if runs > MAX_RUNS {
            break;
        }
        let probe = RefCell::new(Probe { script, asked: Vec::new() });
        let verdict = check(&Grants::probe(&probe)).ok();
        let Probe { script, asked } = probe.into_inner();
        (&script, &asked, verdict).hash(&mut hasher);
        // The permissions answered `false` by default are the branches left to explore.
        for i in script.len()..asked.len() {
            let mut next = vec![false; i + 1];
            next[..script.len()].copy_from_slice(&script);
            next[i] = true;
            pending.push(next);
        }
    }
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::permission::Permission;

    #[derive(PartialEq, Eq, Hash)]
    enum Perm {
        Read,
        Edit,
    }
    impl Permission for Perm {}

    #[derive(PartialEq, Eq, Hash)]
    enum Other {
        Read,
    }
    impl Permission for Other {}

    fn read(g: &Grants<'_>) -> Result<bool, Unresolved> {
        g.has(&Perm::Read)
    }
    fn read_again(g: &Grants<'_>) -> Result<bool, Unresolved> {
        g.has(&Perm::Read)
    }
    fn edit(g: &Grants<'_>) -> Result<bool, Unresolved> {
        g.has(&Perm::Edit)
    }
    fn other_read(g: &Grants<'_>) -> Result<bool, Unresolved> {
        g.has(&Other::Read)
    }
    fn read_and_edit(g: &Grants<'_>) -> Result<bool, Unresolved> {
        Ok(g.has(&Perm::Read)? && g.has(&Perm::Edit)?)
    }
    fn read_or_edit(g: &Grants<'_>) -> Result<bool, Unresolved> {
        Ok(g.has(&Perm::Read)? || g.has(&Perm::Edit)?)
    }
    fn not_read(g: &Grants<'_>) -> Result<bool, Unresolved> {
        Ok(!g.has(&Perm::Read)?)
    }

    #[test]
    fn fingerprints_tell_rules_apart_by_permission_type_value_and_structure() {
        assert_eq!(fingerprint(read), fingerprint(read_again), "the same rule, two functions");
        let distinct = [read, edit, other_read, read_and_edit, read_or_edit, not_read].map(fingerprint);
        for (i, a) in distinct.iter().enumerate() {
            for b in &distinct[i + 1..] {
                assert_ne!(a, b);
            }
        }
    }

    #[test]
    fn the_table_keeps_one_entry_per_id_and_refuses_contradictions() {
        let table = build(&[
            RuleEntry::new(3, read),
            RuleEntry::new(1, edit),
            RuleEntry::new(3, read_again),
            RuleEntry::new(2, read),
            RuleEntry::new(2, edit),
        ]);
        let ids: Vec<u128> = table.iter().map(|(id, _)| *id).collect();
        assert_eq!(ids, [1, 2, 3]);
        assert_eq!(table[0].1 as usize, edit as CheckFn as usize);
        assert_eq!(table[1].1 as usize, contradictory as CheckFn as usize, "two rules under id 2");
        assert_eq!(table[2].1 as usize, read as CheckFn as usize);
    }

    #[test]
    fn ids_depend_on_the_module_and_the_salt() {
        const A: u128 = rule_id("app::pages", 7);
        assert_eq!(A, rule_id("app::pages", 7));
        assert_ne!(A, rule_id("app::admin", 7));
        assert_ne!(A, rule_id("app::pages", 8));
        assert_ne!(rule_id("", 0), 0);
    }
}
