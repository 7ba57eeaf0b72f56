//! The house rules, as tests (rust-analyzer's `xtask/src/tidy.rs` is the model): `cargo test -p
//! xtask`, and so `cargo xtask ci`, fails when the tree breaks one, naming file and line.
//!
//! 1. Every `.rs` file under `crates/*/src` opens with `//!` docs.
//! 2. No import cycle between `permissions-core`'s modules.
//! 3. No fixture file twice, byte for byte.
//! 4. No public item of `permissions-core` used only by tests.
//!
//! Each rule is a function from the files it reads to its violations, tested below on a made-up
//! violation too, so that every rule is seen to be able to fail.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use crate::root;

/// Every file under `dir` (recursively) with one of `extensions` (all files when empty),
/// skipping build output, VCS data and what fuzzing generates.
fn files_under(dir: &Path, extensions: &[&str]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if path.is_dir() {
                let generated = matches!(name.as_str(), "target" | ".git" | "node_modules")
                    || (dir.ends_with("fuzz") && matches!(name.as_str(), "corpus" | "artifacts"));
                if !generated {
                    stack.push(path);
                }
            } else if extensions.is_empty()
                || path
                    .extension()
                    .is_some_and(|e| extensions.iter().any(|x| e == *x))
            {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

fn relative(path: &Path) -> String {
    path.strip_prefix(root())
        .unwrap_or(path)
        .display()
        .to_string()
}

/// A module's text without its unit tests: everything from the first `#[cfg(test)] mod` on
/// (the house puts `mod tests` last). Imports and mentions in tests are not the module's.
fn without_tests(text: &str) -> &str {
    let mut from = 0;
    while let Some(at) = text[from..].find("#[cfg(test)]").map(|i| from + i) {
        let after = text[at + "#[cfg(test)]".len()..].trim_start();
        if after.starts_with("mod ") || after.starts_with("pub(crate) mod ") {
            return &text[..at];
        }
        from = at + 1;
    }
    text
}

fn fail_with(rule: &str, violations: &[String]) {
    assert!(
        violations.is_empty(),
        "{rule}: {} violation(s):\n  {}",
        violations.len(),
        violations.join("\n  ")
    );
}

// --- 1. module docs ---------------------------------------------------------------------------

/// The rule: the first line that is not blank is a `//!` line.
fn opens_with_module_docs(text: &str) -> bool {
    text.lines()
        .find(|l| !l.trim().is_empty())
        .is_some_and(|l| l.trim_start().starts_with("//!"))
}

#[test]
fn every_module_opens_with_docs() {
    let mut violations = Vec::new();
    for krate in crate_dirs() {
        for file in files_under(&krate.join("src"), &["rs"]) {
            if !opens_with_module_docs(&read(&file)) {
                violations.push(format!(
                    "{}:1 does not open with `//!` docs",
                    relative(&file)
                ));
            }
        }
    }
    fail_with("every module opens with //! docs", &violations);
}

fn crate_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = fs::read_dir(root().join("crates"))
        .expect("crates/")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("Cargo.toml").is_file())
        .collect();
    dirs.sort();
    dirs
}

// --- 2. import cycles -------------------------------------------------------------------------

/// The core's modules each module imports: every `use crate::<module>` statement, `pub use`
/// (a re-export, as in `transport.rs` and `error.rs`) and `pub(crate) use` included, and each
/// module of a group (`use crate::{a::X, b}`), outside the unit tests. Only `use` statements
/// count: a path written out in code or a doc link (`crate::x::Y`) is not read.
fn imports(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let text = without_tests(text);
    let mut rest = text;
    while let Some(at) = rest.find("use crate::") {
        let before = &rest[..at];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let prefix = before[line_start..].trim();
        let statement = &rest[at + "use crate::".len()..];
        let statement = &statement[..statement.find(';').unwrap_or(statement.len())];
        rest = &rest[at + "use crate::".len()..];
        // A `use` statement: nothing before it on its line but a visibility.
        if !(prefix.is_empty() || prefix.starts_with("pub")) {
            continue;
        }
        let statement = statement.trim();
        let heads: Vec<&str> = match statement.strip_prefix('{') {
            Some(group) => top_level_parts(group.trim_end_matches('}')),
            None => vec![statement],
        };
        for head in heads {
            let module: String = head
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !module.is_empty() {
                found.insert(module);
            }
        }
    }
    found
}

/// `a::X, b::{Y, Z}, c` as `["a::X", "b::{Y, Z}", "c"]`: split on the commas outside braces.
fn top_level_parts(group: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(group[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(group[start..].trim());
    parts
}

/// A shortest cycle of `graph` (breadth-first from every module), as `a -> b -> a`.
fn shortest_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    let mut best: Option<Vec<String>> = None;
    for start in graph.keys() {
        // Breadth-first from `start`; `came_from` rebuilds the path once `start` is reached.
        let mut came_from: BTreeMap<&str, &str> = BTreeMap::new();
        let mut queue = std::collections::VecDeque::from([start.as_str()]);
        'search: while let Some(node) = queue.pop_front() {
            for next in graph.get(node).into_iter().flatten() {
                if next == start {
                    let mut path = vec![start.clone()];
                    let mut at = node;
                    while at != start {
                        path.push(at.to_owned());
                        at = came_from[at];
                    }
                    path[1..].reverse();
                    path.push(start.clone());
                    if best.as_ref().is_none_or(|b| path.len() < b.len()) {
                        best = Some(path);
                    }
                    break 'search;
                }
                if !came_from.contains_key(next.as_str()) {
                    came_from.insert(next, node);
                    queue.push_back(next);
                }
            }
        }
    }
    best
}

/// Every cycle, each way round reported once: take a shortest one, report it, drop the edge
/// that closes it, look again.
fn all_cycles(mut graph: BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    let mut cycles = Vec::new();
    while let Some(cycle) = shortest_cycle(&graph) {
        let n = cycle.len();
        if let Some(edges) = graph.get_mut(&cycle[n - 2]) {
            edges.remove(&cycle[n - 1]);
        }
        cycles.push(cycle);
    }
    cycles
}

#[test]
fn no_import_cycle_between_core_modules() {
    let src = root().join("crates/permissions-core/src");
    let mut graph = BTreeMap::new();
    let mut lines: BTreeMap<(String, String), String> = BTreeMap::new();
    for file in files_under(&src, &["rs"]) {
        let module = file.file_stem().unwrap().to_string_lossy().into_owned();
        // The crate root declares and re-exports every module; it is not one of them.
        if module == "lib" {
            continue;
        }
        let text = read(&file);
        let imported = imports(&text);
        for target in &imported {
            let line = text
                .lines()
                .position(|l| l.contains(&format!("use crate::{target}")))
                .map_or(0, |i| i + 1);
            lines.insert(
                (module.clone(), target.clone()),
                format!("{}:{line}", relative(&file)),
            );
        }
        graph.insert(module, imported);
    }
    let violations: Vec<String> = all_cycles(graph)
        .iter()
        .map(|cycle| {
            let edges: Vec<String> = cycle
                .windows(2)
                .map(|w| {
                    let at = lines
                        .get(&(w[0].clone(), w[1].clone()))
                        .map_or("a group import", String::as_str);
                    format!("{} -> {} ({at})", w[0], w[1])
                })
                .collect();
            format!("cycle {}: {}", cycle.join(" -> "), edges.join(", "))
        })
        .collect();
    fail_with(
        "no import cycle between permissions-core's modules",
        &violations,
    );
}

// --- 3. duplicate fixtures --------------------------------------------------------------------

/// The fixture files: every file in a directory named `fixtures` (at any depth), and every
/// `.json` file, anywhere outside build output. Empty files are not compared.
fn fixture_files(root: &Path) -> Vec<PathBuf> {
    files_under(root, &[])
        .into_iter()
        .filter(|p| {
            p.components().any(|c| c.as_os_str() == "fixtures")
                || p.extension().is_some_and(|e| e == "json")
        })
        .collect()
}

/// Groups of files with the same bytes, each group sorted.
fn duplicates(files: &[(String, Vec<u8>)]) -> Vec<Vec<String>> {
    let mut by_content: BTreeMap<&[u8], Vec<String>> = BTreeMap::new();
    for (name, bytes) in files {
        if !bytes.is_empty() {
            by_content
                .entry(bytes.as_slice())
                .or_default()
                .push(name.clone());
        }
    }
    by_content.into_values().filter(|g| g.len() > 1).collect()
}

#[test]
fn no_fixture_file_twice() {
    let files: Vec<(String, Vec<u8>)> = fixture_files(&root())
        .into_iter()
        .map(|p| (relative(&p), fs::read(&p).unwrap()))
        .collect();
    let violations: Vec<String> = duplicates(&files)
        .iter()
        .map(|group| format!("same bytes: {}", group.join(", ")))
        .collect();
    fail_with("no duplicate fixture files", &violations);
}

// --- 4. public items used only by tests -------------------------------------------------------

/// The names of `pub fn`, `pub struct`, `pub enum` and `pub trait` items in `text` (methods
/// included: `pub fn` at any indentation), with their 1-based lines, outside the unit tests.
fn public_items(text: &str) -> Vec<(usize, String)> {
    let mut items = Vec::new();
    for (i, line) in without_tests(text).lines().enumerate() {
        let line = line.trim_start();
        for keyword in ["pub fn ", "pub struct ", "pub enum ", "pub trait "] {
            if let Some(rest) = line.strip_prefix(keyword) {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    items.push((i + 1, name));
                }
            }
        }
    }
    items
}

/// Whether `name` occurs in `text` as a whole identifier.
fn mentions(text: &str, name: &str) -> bool {
    let is_ident = |c: char| c.is_alphanumeric() || c == '_';
    text.match_indices(name).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + name.len()..].chars().next();
        !before.is_some_and(is_ident) && !after.is_some_and(is_ident)
    })
}

/// The rule, kept simple: a public item of the core (by name) is used outside tests when its
/// name occurs, as a whole identifier, somewhere that is not a test: the source of another
/// crate of `crates/`, the core's own `src` other than the item's own definition line, an
/// example (`examples/`), or the docs (every `README.md`, `docs/*.md`). Unit tests
/// (`#[cfg(test)]` onwards), `tests/` folders, benches and `fuzz/` do not count. Names shared by
/// several items (`new`, `parse`) pass as soon as any of them is used: the check finds items no
/// one outside tests mentions at all, it does not resolve paths.
#[test]
fn no_public_core_item_used_only_by_tests() {
    let root = root();
    let core_src = root.join("crates/permissions-core/src");
    let core: Vec<(PathBuf, String)> = files_under(&core_src, &["rs"])
        .into_iter()
        .map(|p| {
            let text = read(&p);
            (p, text)
        })
        .collect();
    let mut elsewhere = String::new();
    for krate in crate_dirs() {
        if krate.ends_with("permissions-core") {
            continue;
        }
        for file in files_under(&krate.join("src"), &["rs"]) {
            elsewhere.push_str(without_tests(&read(&file)));
            elsewhere.push('\n');
        }
    }
    for file in files_under(&root.join("examples"), &["rs", "md"]) {
        if !file.components().any(|c| c.as_os_str() == "tests") {
            elsewhere.push_str(&read(&file));
            elsewhere.push('\n');
        }
    }
    for file in files_under(&root, &["md"]) {
        let name = file.file_name().unwrap().to_string_lossy();
        let in_docs = file.starts_with(root.join("docs"));
        if (name == "README.md" || in_docs) && !file.starts_with(root.join("fuzz")) {
            elsewhere.push_str(&read(&file));
            elsewhere.push('\n');
        }
    }
    let violations = unused_items(&core, &elsewhere);
    fail_with(
        "no public permissions-core item used only by tests",
        &violations,
    );
}

/// The items of `core` (files and their text) whose name occurs neither in `elsewhere` nor in
/// the core's sources outside its own definition line and unit tests.
fn unused_items(core: &[(PathBuf, String)], elsewhere: &str) -> Vec<String> {
    let mut violations = Vec::new();
    for (file, text) in core {
        for (line, name) in public_items(text) {
            let used_in_core = core.iter().any(|(other, other_text)| {
                without_tests(other_text)
                    .lines()
                    .enumerate()
                    .any(|(i, l)| !(other == file && i + 1 == line) && mentions(l, &name))
            });
            if !used_in_core && !mentions(elsewhere, &name) {
                violations.push(format!(
                    "{}:{line}: `{name}` is public but only tests use it",
                    relative(file)
                ));
            }
        }
    }
    violations
}

// --- each rule can fail -----------------------------------------------------------------------

#[test]
fn the_rules_catch_made_up_violations() {
    // 1.
    assert!(opens_with_module_docs("\n//! Docs.\nfn f() {}\n"));
    assert!(!opens_with_module_docs("use std::fmt;\n//! Late.\n"));
    assert!(!opens_with_module_docs("/// An item doc.\nfn f() {}\n"));

    // 2.
    let a = "//! a\npub use crate::b::X;\nuse crate::{c::{Y, W}, d};\n#[cfg(test)]\nmod tests { use crate::e::Z; }\n";
    assert_eq!(imports(a).into_iter().collect::<Vec<_>>(), ["b", "c", "d"]);
    assert!(imports("//! x\n/// See [`Y`](crate::b::Y).\nfn f() { crate::b::g(); }\n").is_empty());
    let graph = |edges: &[(&str, &str)]| {
        let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (from, to) in edges {
            g.entry((*from).into()).or_default().insert((*to).into());
            g.entry((*to).into()).or_default();
        }
        g
    };
    assert_eq!(
        all_cycles(graph(&[("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")])),
        [["a", "b", "c", "a"]]
    );
    assert!(all_cycles(graph(&[("a", "b"), ("a", "c"), ("b", "c")])).is_empty());

    // 3.
    let files = [
        ("x/fixtures/a.json".to_owned(), b"{}".to_vec()),
        ("y/fixtures/b.json".to_owned(), b"{}".to_vec()),
        ("y/fixtures/c.json".to_owned(), b"[]".to_vec()),
        ("y/fixtures/empty".to_owned(), Vec::new()),
        ("y/fixtures/empty2".to_owned(), Vec::new()),
    ];
    assert_eq!(
        duplicates(&files),
        [["x/fixtures/a.json", "y/fixtures/b.json"]]
    );

    // 4.
    let core = vec![
        (
            PathBuf::from("core/src/a.rs"),
            "//! a\npub fn used_elsewhere() {}\npub fn used_in_core() {}\npub struct OnlyTests;\n\
             #[cfg(test)]\nmod tests { fn t() { let _ = super::OnlyTests; } }\n"
                .to_owned(),
        ),
        (
            PathBuf::from("core/src/b.rs"),
            "//! b\nfn g() { crate::a::used_in_core() }\n".to_owned(),
        ),
    ];
    assert_eq!(
        unused_items(&core, "fn main() { used_elsewhere(); OnlyTestsish(); }"),
        ["core/src/a.rs:4: `OnlyTests` is public but only tests use it"]
    );
}
