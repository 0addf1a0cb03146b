//! The daemon's layers, checked against its sources (like rust-analyzer's `tidy` tests): a
//! module may use the modules of the layers below its own, never one of its own layer or of a
//! layer above. The layers are written once, in the `layers` block of docs/ARCHITECTURE.md,
//! which this test reads.
//!
//! What counts as a use is every path that names a module through the crate root (`crate::x`,
//! `crate::{x, y}`, `super::x` from a top-level module), in code outside the module's tests:
//! files named `tests.rs` and whatever follows a file's first `#[cfg(test)]` are left out, as
//! tests may wire any layers together.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The workspace's root.
fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the daemon is in the workspace")
        .to_path_buf()
}

/// The daemon's `src/`.
fn sources() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The layers from docs/ARCHITECTURE.md, top first: each a list of the crate's top-level
/// modules (`lib` and `main` are the crate roots).
fn layers() -> Vec<Vec<String>> {
    let doc = workspace().join("docs/ARCHITECTURE.md");
    let text = std::fs::read_to_string(&doc).expect("docs/ARCHITECTURE.md");
    let block = text
        .split("```layers\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("docs/ARCHITECTURE.md has a ```layers block");
    block
        .lines()
        .map(|line| line.split('#').next().unwrap_or_default())
        .map(|line| {
            line.split([',', ' '])
                .filter(|name| !name.is_empty())
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .filter(|layer| !layer.is_empty())
        .collect()
}

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file belongs to (`lib` and `main` for the roots).
fn module_of(file: &Path) -> String {
    let relative = file.strip_prefix(sources()).expect("under src");
    let first = relative
        .components()
        .next()
        .expect("a component")
        .as_os_str()
        .to_string_lossy()
        .into_owned();
    first.trim_end_matches(".rs").to_string()
}

/// The file without comments and without its test modules (a `#[cfg(test)]` module and
/// everything after it: test modules close a file).
fn code(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let mut kept = Vec::new();
    for (at, line) in lines.iter().enumerate() {
        let test_module = line.trim() == "#[cfg(test)]"
            && lines[at + 1..]
                .iter()
                .find(|next| !next.trim().is_empty())
                .is_some_and(|next| {
                    let next = next.trim_start();
                    next.starts_with("mod ") || next.starts_with("pub(crate) mod ")
                });
        if test_module {
            break;
        }
        kept.push(match line.find("//") {
            Some(cut) => &line[..cut],
            None => line,
        });
    }
    kept.join("\n")
}

/// The top-level modules `code` names through the crate root, with the line of each use.
fn uses(code: &str, top_level_file: bool) -> Vec<(String, usize)> {
    let mut found = Vec::new();
    for (number, line) in code.lines().enumerate() {
        let mut prefixes = vec!["crate::"];
        if top_level_file {
            // In `src/x.rs` or `src/x/mod.rs`, `super::` is the crate root.
            prefixes.push("super::");
        }
        for prefix in prefixes {
            for (at, _) in line.match_indices(prefix) {
                let before = line[..at].chars().last();
                if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                    continue;
                }
                let rest = &line[at + prefix.len()..];
                let names: Vec<&str> = match rest.strip_prefix('{') {
                    // `crate::{a, b::c}` (on one line).
                    Some(group) => group
                        .split('}')
                        .next()
                        .unwrap_or_default()
                        .split(',')
                        .map(|item| item.trim().split("::").next().unwrap_or_default())
                        .collect(),
                    None => vec![
                        rest.split(|c: char| !(c.is_alphanumeric() || c == '_'))
                            .next()
                            .unwrap_or_default(),
                    ],
                };
                for name in names.into_iter().filter(|n| !n.is_empty()) {
                    found.push((name.to_string(), number + 1));
                }
            }
        }
    }
    found
}

#[test]
fn no_module_uses_a_layer_above_its_own_or_a_neighbour_in_its_layer() {
    let layers = layers();
    let layer_of: BTreeMap<&str, usize> = layers
        .iter()
        .enumerate()
        .flat_map(|(depth, layer)| layer.iter().map(move |m| (m.as_str(), depth)))
        .collect();
    let mut files = Vec::new();
    rust_files(&sources(), &mut files);
    files.sort();
    let mut modules_seen = std::collections::BTreeSet::new();
    let mut violations = Vec::new();
    for file in &files {
        if file.file_name().is_some_and(|n| n == "tests.rs") {
            continue;
        }
        let module = module_of(file);
        modules_seen.insert(module.clone());
        let Some(&depth) = layer_of.get(module.as_str()) else {
            violations.push(format!(
                "{}: module `{module}` is in no layer of docs/ARCHITECTURE.md",
                file.display()
            ));
            continue;
        };
        let relative = file.strip_prefix(sources()).expect("under src");
        let top_level_file = relative.components().count() == 1
            || relative.file_name().is_some_and(|n| n == "mod.rs")
                && relative.components().count() == 2;
        let text = std::fs::read_to_string(file).expect("read source");
        for (used, line) in uses(&code(&text), top_level_file) {
            if used == module {
                continue;
            }
            let Some(&used_depth) = layer_of.get(used.as_str()) else {
                continue;
            };
            if used_depth <= depth {
                let how = if used_depth == depth {
                    "its own layer"
                } else {
                    "a layer above"
                };
                violations.push(format!(
                    "{}:{line}: `{module}` (layer {}: {}) uses `crate::{used}` from {how} (layer {}: {})",
                    file.strip_prefix(workspace()).unwrap_or(file).display(),
                    depth + 1,
                    layers[depth].join(", "),
                    used_depth + 1,
                    layers[used_depth].join(", "),
                ));
            }
        }
    }
    for (depth, layer) in layers.iter().enumerate() {
        for module in layer {
            assert!(
                modules_seen.contains(module),
                "docs/ARCHITECTURE.md names `{module}` (layer {}), which is no module of daemon/src",
                depth + 1
            );
        }
    }
    assert!(
        violations.is_empty(),
        "imports against the layers of docs/ARCHITECTURE.md:\n{}",
        violations.join("\n")
    );
}

#[test]
fn the_check_sees_every_form_of_use() {
    let source = "use crate::store::Tx;\nuse crate::{clock, model::job};\nlet x = crate::web::log();\nuse super::queue;\nmy_crate::nothing();";
    let found: Vec<String> = uses(source, true).into_iter().map(|(m, _)| m).collect();
    assert_eq!(found, ["store", "clock", "model", "web", "queue"]);
    let nested: Vec<String> = uses("use super::queue;", false)
        .into_iter()
        .map(|(m, _)| m)
        .collect();
    assert!(
        nested.is_empty(),
        "`super::` below the top level is not the root: {nested:?}"
    );
    let without_tests = code(
        "use crate::store::Tx; // crate::web\n#[cfg(test)]\nfn helper() { crate::queue::x(); }\n\
         #[cfg(test)]\nmod tests { use crate::web; }",
    );
    let found: Vec<String> = uses(&without_tests, false)
        .into_iter()
        .map(|(m, _)| m)
        .collect();
    assert_eq!(
        found,
        ["store", "queue"],
        "comments and test modules are left out"
    );
}
