//! `cargo xtask ci`'s last step: `cargo package` of every publishable crate, and a check that
//! each package holds every file its sources name.
//!
//! **Which crates.** The workspace members whose `Cargo.toml` does not say `publish = false`
//! (the tests, the reqwest app, the web example and xtask say it; `fuzz/` is not a member).
//!
//! **How.** One `cargo package --workspace --exclude <each unpublishable member> --no-verify`.
//! The publishable crates depend on each other by path (`permissions-core` under every
//! transport), and none is published yet: a package of `permissions-reqwest` alone cannot be
//! verified, since its `permissions-core = "0.1.0"` resolves nowhere. Packaging them together
//! (`--workspace`, cargo 1.90 and later) makes cargo resolve each crate's path dependencies to
//! the packages it just made, so even verification works. Verification is skipped anyway: it
//! builds each package in its own resolution, which recompiles the dependencies per crate (nine
//! minutes on CI's 2 cores, against three for the rest of `ci`). What verification would catch
//! that matters here, a file the package lacks, is checked below instead, in well under a
//! second, from `cargo package --list`.
//!
//! **The file check.** In every `.rs` file of a package, each `include_str!`, `include_bytes!`
//! and `#[path = ...]` names a file; that file must be in the same package (a test reading the
//! workspace's fixtures from another crate, or a doc including the root README, would build in
//! the workspace and fail in the package). A path built as `concat!(env!("CARGO_MANIFEST_DIR"),
//! "dir/", $name)` is read from the crate root, and only its directory is checked.
//!
//! `--allow-dirty` is passed except under CI (`CI` set): on a clean checkout cargo's check that
//! every packaged file is committed is worth keeping; on a developer's machine mid-edit it would
//! only get in the way.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Component, Path, PathBuf};
use std::process::Command;

/// A workspace member, as its manifest declares it.
#[derive(Debug)]
pub(crate) struct Member {
    pub(crate) name: String,
    pub(crate) dir: PathBuf,
    pub(crate) publish: bool,
}

/// Every member of the root `Cargo.toml`'s `[workspace] members`, with its name and whether it
/// may be published. Read as text (xtask has no dependencies): the manifests are the project's
/// own, formatted one way.
pub(crate) fn members(root: &Path) -> Result<Vec<Member>, String> {
    let manifest = read(&root.join("Cargo.toml"))?;
    let list = manifest
        .split_once("\nmembers = [")
        .and_then(|(_, rest)| rest.split_once(']'))
        .map(|(list, _)| list)
        .ok_or("package (no `members = [...]` in Cargo.toml)")?;
    let mut members = Vec::new();
    for dir in list.split(',').map(|d| d.trim().trim_matches('"')) {
        if dir.is_empty() {
            continue;
        }
        let dir = root.join(dir);
        let text = read(&dir.join("Cargo.toml"))?;
        let name = text
            .lines()
            .find_map(|l| l.strip_prefix("name = \""))
            .and_then(|l| l.strip_suffix('"'))
            .ok_or_else(|| format!("package (no name in {}/Cargo.toml)", dir.display()))?
            .to_owned();
        let publish = !text.lines().any(|l| l.trim() == "publish = false");
        members.push(Member { name, dir, publish });
    }
    Ok(members)
}

fn read(path: &Path) -> Result<String, String> {
    fs::read_to_string(path).map_err(|e| format!("package (reading {}: {e})", path.display()))
}

/// Packages every publishable crate, then checks each package's files.
pub(crate) fn check() -> Result<(), String> {
    let root = crate::root();
    let members = members(&root)?;
    let mut args = vec!["package", "--workspace", "--no-verify"];
    if std::env::var_os("CI").is_none() {
        args.push("--allow-dirty");
    }
    for member in members.iter().filter(|m| !m.publish) {
        args.extend(["--exclude", member.name.as_str()]);
    }
    crate::cargo("package", &args, &[])?;

    let mut problems = Vec::new();
    for member in members.iter().filter(|m| m.publish) {
        let files = listed(&root, member, std::env::var_os("CI").is_none())?;
        problems.extend(missing_files(member, &files));
    }
    if problems.is_empty() {
        eprintln!("== package: every file the packaged sources name is in its package");
        Ok(())
    } else {
        for problem in &problems {
            eprintln!("{problem}");
        }
        Err(format!(
            "package ({} file(s) named by a packaged source are not in its package)",
            problems.len()
        ))
    }
}

/// The files of `member`'s package, as `cargo package --list` gives them.
fn listed(root: &Path, member: &Member, allow_dirty: bool) -> Result<BTreeSet<String>, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(root)
        .args(["package", "--list", "-p", &member.name]);
    if allow_dirty {
        command.arg("--allow-dirty");
    }
    let output = command
        .output()
        .map_err(|e| format!("package (could not start cargo: {e})"))?;
    if !output.status.success() {
        return Err(format!(
            "package (cargo package --list -p {}: {})",
            member.name,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_owned)
        .collect())
}

/// Every file named by an `include_str!`, `include_bytes!` or `#[path]` of a packaged `.rs`
/// file that the package lacks, as `crate: file:line names path`.
fn missing_files(member: &Member, files: &BTreeSet<String>) -> Vec<String> {
    let mut problems = Vec::new();
    for file in files.iter().filter(|f| f.ends_with(".rs")) {
        let Ok(text) = fs::read_to_string(member.dir.join(file)) else {
            continue; // generated by cargo (none are .rs), or unreadable: cargo would say
        };
        let dir = Path::new(file).parent().unwrap_or(Path::new(""));
        for (line, named) in named_files(&text) {
            let base = if named.from_manifest_dir {
                Path::new("")
            } else {
                dir
            };
            let ok = match normalize(&base.join(&named.path)) {
                // A directory (the macro appends the file name): some file under it.
                Some(path) if named.path.ends_with('/') => {
                    let prefix = format!("{}/", path.trim_end_matches('/'));
                    files.iter().any(|f| f.starts_with(&prefix))
                }
                Some(path) => files.contains(&path),
                None => false, // outside the crate
            };
            if !ok {
                problems.push(format!(
                    "{}: {file}:{line} names {:?}, which is not in the package",
                    member.name, named.path
                ));
            }
        }
    }
    problems
}

/// A file path a source names.
#[derive(Debug, PartialEq)]
pub(crate) struct Named {
    pub(crate) path: String,
    /// Built on `env!("CARGO_MANIFEST_DIR")`: relative to the crate root, not to the file.
    pub(crate) from_manifest_dir: bool,
}

/// The files `text` names, with their 1-based line numbers: the string literals inside each
/// `include_str!(..)` / `include_bytes!(..)` (joined, as `concat!` would), and `#[path = ".."]`.
pub(crate) fn named_files(text: &str) -> Vec<(usize, Named)> {
    let mut found = Vec::new();
    for macro_name in ["include_str!(", "include_bytes!("] {
        for (at, _) in text.match_indices(macro_name) {
            let args = &text[at + macro_name.len()..];
            let Some(args) = balanced(args) else { continue };
            let from_manifest_dir = args.contains("CARGO_MANIFEST_DIR");
            let args = args.replace("\"CARGO_MANIFEST_DIR\"", "");
            let path: String = literals(&args).concat();
            if path.is_empty() {
                continue;
            }
            let path = path.trim_start_matches('/').to_owned();
            found.push((
                line_of(text, at),
                Named {
                    path,
                    from_manifest_dir,
                },
            ));
        }
    }
    for (at, _) in text.match_indices("#[path = \"") {
        let rest = &text[at + "#[path = \"".len()..];
        if let Some((path, _)) = rest.split_once('"') {
            found.push((
                line_of(text, at),
                Named {
                    path: path.to_owned(),
                    from_manifest_dir: false,
                },
            ));
        }
    }
    found.sort_by_key(|(line, _)| *line);
    found
}

/// The text up to the parenthesis that closes the one just opened.
fn balanced(text: &str) -> Option<&str> {
    let mut depth = 1;
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return Some(&text[..i]);
                }
            }
            _ => {}
        }
    }
    None
}

/// The contents of the plain string literals in `text` (no escapes in paths).
fn literals(text: &str) -> Vec<&str> {
    text.split('"').skip(1).step_by(2).collect()
}

fn line_of(text: &str, at: usize) -> usize {
    text[..at].matches('\n').count() + 1
}

/// `a/./b/../c` as `a/c`, with `/` separators; `None` when it leaves the crate (`../x`).
pub(crate) fn normalize(path: &Path) -> Option<String> {
    let mut parts: Vec<String> = Vec::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => parts.push(part.to_string_lossy().into_owned()),
            Component::ParentDir => {
                parts.pop()?;
            }
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_files_are_found_with_their_lines() {
        let text = "//! x\nconst A: &str = include_str!(\"../README.md\");\n\
                    #[path = \"../src/server.rs\"]\nmod server;\n\
                    const B: &[u8] = include_bytes!(concat!(\n    env!(\"CARGO_MANIFEST_DIR\"),\n    \"/tests/fixtures/\",\n    $name\n));\n";
        let found = named_files(text);
        assert_eq!(
            found,
            [
                (
                    2,
                    Named {
                        path: "../README.md".into(),
                        from_manifest_dir: false
                    }
                ),
                (
                    3,
                    Named {
                        path: "../src/server.rs".into(),
                        from_manifest_dir: false
                    }
                ),
                (
                    5,
                    Named {
                        path: "tests/fixtures/".into(),
                        from_manifest_dir: true
                    }
                ),
            ]
        );
    }

    #[test]
    fn a_file_outside_the_package_is_reported() {
        let dir = std::env::temp_dir().join(format!("xtask-package-{}", std::process::id()));
        fs::create_dir_all(dir.join("src")).unwrap();
        fs::write(
            dir.join("src/lib.rs"),
            "#![doc = include_str!(\"../../README.md\")]\nconst F: &str = include_str!(\"../data/a.txt\");\nconst G: &str = include_str!(\"../data/b.txt\");\n",
        )
        .unwrap();
        let member = Member {
            name: "demo".into(),
            dir: dir.clone(),
            publish: true,
        };
        let files: BTreeSet<String> = ["Cargo.toml", "src/lib.rs", "data/a.txt"]
            .into_iter()
            .map(String::from)
            .collect();
        let problems = missing_files(&member, &files);
        fs::remove_dir_all(&dir).unwrap();
        assert_eq!(
            problems,
            [
                "demo: src/lib.rs:1 names \"../../README.md\", which is not in the package",
                "demo: src/lib.rs:3 names \"../data/b.txt\", which is not in the package",
            ]
        );
    }

    #[test]
    fn the_members_are_read_and_the_unpublishable_known() {
        let members = members(&crate::root()).unwrap();
        let publish = |name: &str| members.iter().find(|m| m.name == name).map(|m| m.publish);
        assert_eq!(publish("permissions-core"), Some(true));
        assert_eq!(publish("xtask"), Some(false));
        assert_eq!(publish("permissions-tests"), Some(false));
    }
}
