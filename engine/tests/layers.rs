//! The engine's layer rule, read off the source tree: each module imports
//! only from its own layer or those below it, and `store`'s topic files
//! never import each other (they share SQL through `store::tx`).
//!
//! domain (with error, time, shell, auth, audit, webhooks, secrets, keyfile)
//! ← store ←
//! runtime (with git) ← backends ← jobs ← service (the `Engine` facade)
//! and demo.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// The layer of each top-level module of `engine/src`; `testing` (test
/// support behind a feature) may reach anything and is left out.
fn layer_of(module: &str) -> Option<usize> {
    Some(match module {
        "domain" | "error" | "time" | "shell" | "auth" | "audit" | "webhooks" | "secrets"
        | "keyfile" => 0,
        "store" => 1,
        "runtime" | "git" => 2,
        "backends" => 3,
        "jobs" => 4,
        "service" | "demo" => 5,
        "testing" => return None,
        other => panic!("engine/src/{other} has no layer: give it one in tests/layers.rs"),
    })
}

const LAYER_NAMES: [&str; 6] = ["domain", "store", "runtime", "backends", "jobs", "service"];

struct Source {
    /// The path under `engine/src`, as module names (`store/tx/jobs`).
    module_path: Vec<String>,
    /// The code with comment lines dropped.
    code: String,
}

fn sources() -> Vec<Source> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    collect(&root, &mut files);
    files
        .into_iter()
        .map(|path| {
            let relative = path.strip_prefix(&root).expect("under src");
            let mut module_path: Vec<String> = relative
                .with_extension("")
                .iter()
                .map(|part| part.to_string_lossy().into_owned())
                .collect();
            if module_path.last().is_some_and(|last| last == "mod") {
                module_path.pop();
            }
            let text = fs::read_to_string(&path).expect("readable source");
            let code = text
                .lines()
                .filter(|line| !line.trim_start().starts_with("//"))
                .collect::<Vec<_>>()
                .join("\n");
            Source { module_path, code }
        })
        .collect()
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("readable dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            collect(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
}

/// Every `crate::a::b…` path the code names, as its segments, with
/// `use crate::{a, b::{c, d}}` groups expanded.
fn crate_paths(code: &str) -> Vec<Vec<String>> {
    let mut paths = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        let before = rest[..at].chars().next_back();
        rest = &rest[at + "crate::".len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
            continue; // `$crate::` or part of a longer name
        }
        expand_use_tree(rest, Vec::new(), &mut paths);
    }
    paths.into_iter().filter(|p| !p.is_empty()).collect()
}

/// Reads one path (`a::b::c`, or `a::{b, c::d}`) from the start of `text`.
fn expand_use_tree(text: &str, mut prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
    let mut rest = text.trim_start();
    loop {
        if let Some(group) = rest.strip_prefix('{') {
            let end = matching_brace(group);
            for item in split_top_level(&group[..end]) {
                expand_use_tree(item, prefix.clone(), out);
            }
            return;
        }
        let len = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        if len == 0 {
            break;
        }
        prefix.push(rest[..len].to_owned());
        match rest[len..].strip_prefix("::") {
            Some(next) => rest = next,
            None => break,
        }
    }
    out.push(prefix);
}

fn matching_brace(text: &str) -> usize {
    let mut depth = 0usize;
    for (i, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => return i,
            '}' => depth -= 1,
            _ => {}
        }
    }
    text.len()
}

fn split_top_level(text: &str) -> Vec<&str> {
    let mut items = Vec::new();
    let (mut depth, mut start) = (0usize, 0usize);
    for (i, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                items.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(&text[start..]);
    items
        .into_iter()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect()
}

/// The module each name `lib.rs` re-exports comes from (`Engine` →
/// `service`), so `crate::Engine` counts as an import of that layer.
fn root_reexports() -> BTreeMap<String, String> {
    let lib = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs");
    let text = fs::read_to_string(lib).expect("readable lib.rs");
    let mut names = BTreeMap::new();
    let mut rest = text.as_str();
    while let Some(at) = rest.find("pub use ") {
        rest = &rest[at + "pub use ".len()..];
        let mut paths = Vec::new();
        expand_use_tree(rest, Vec::new(), &mut paths);
        for path in paths.into_iter().filter(|p| p.len() > 1) {
            let name = path.last().expect("non-empty").clone();
            names.insert(name, path[0].clone());
        }
    }
    names
}

#[test]
fn no_module_imports_from_a_layer_above_it() {
    let reexports = root_reexports();
    let mut breaks = Vec::new();
    for source in sources() {
        let Some(top) = source.module_path.first() else {
            continue;
        };
        if top == "lib" {
            continue;
        }
        let Some(own) = layer_of(top) else { continue };
        for path in crate_paths(&source.code) {
            let module = reexports.get(&path[0]).unwrap_or(&path[0]);
            let Some(theirs) = layer_of(module) else {
                continue;
            };
            if theirs > own {
                breaks.push(format!(
                    "{} ({}) imports crate::{} ({})",
                    source.module_path.join("/"),
                    LAYER_NAMES[own],
                    path.join("::"),
                    LAYER_NAMES[theirs],
                ));
            }
        }
    }
    assert!(breaks.is_empty(), "upward imports:\n{}", breaks.join("\n"));
}

/// The store module a `crate::store::…` or `super::…` path in a store file
/// names, if it names one of the store's files (not `Store` or a re-export).
fn store_module_named(source: &Source, files: &BTreeSet<String>) -> BTreeSet<String> {
    let mut named = BTreeSet::new();
    for path in crate_paths(&source.code) {
        if path.len() > 1 && path[0] == "store" {
            let module = if path[1] == "tx" && path.len() > 2 {
                format!("tx/{}", path[2])
            } else {
                path[1].clone()
            };
            if files.contains(&module) {
                named.insert(module);
            }
        }
    }
    let in_tx = source.module_path.get(1).is_some_and(|m| m == "tx");
    for line in source.code.lines() {
        let mut rest = line;
        while let Some(at) = rest.find("super::") {
            rest = &rest[at + "super::".len()..];
            let mut paths = Vec::new();
            expand_use_tree(rest, Vec::new(), &mut paths);
            for path in paths {
                let Some(first) = path.first() else { continue };
                let module = if in_tx {
                    format!("tx/{first}")
                } else if first == "tx" && path.len() > 1 {
                    format!("tx/{}", path[1])
                } else {
                    first.clone()
                };
                if files.contains(&module) {
                    named.insert(module);
                }
            }
        }
    }
    named
}

#[test]
fn store_files_import_no_other_topic_and_tx_helpers_have_no_cycles() {
    let store: Vec<Source> = sources()
        .into_iter()
        .filter(|s| s.module_path.first().is_some_and(|m| m == "store") && s.module_path.len() > 1)
        .collect();
    let files: BTreeSet<String> = store.iter().map(|s| s.module_path[1..].join("/")).collect();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut breaks = Vec::new();
    for source in &store {
        let own = source.module_path[1..].join("/");
        let named = store_module_named(source, &files);
        for other in named.iter().filter(|other| **other != own) {
            let own_is_tx = own.starts_with("tx");
            let other_is_tx = other.starts_with("tx");
            // `db` is what every statement runs through: both databases.
            if other == "db" {
                continue;
            }
            if !other_is_tx && other != "tx" {
                breaks.push(format!("store/{own} imports store/{other}"));
            } else if own_is_tx || !other_is_tx {
                edges.entry(own.clone()).or_default().insert(other.clone());
            }
        }
    }
    for start in edges.keys() {
        if reaches(&edges, start, start, &mut BTreeSet::new()) {
            breaks.push(format!("store/{start} is part of an import cycle"));
        }
    }
    assert!(breaks.is_empty(), "store imports:\n{}", breaks.join("\n"));
}

fn reaches(
    edges: &BTreeMap<String, BTreeSet<String>>,
    from: &str,
    target: &str,
    seen: &mut BTreeSet<String>,
) -> bool {
    for next in edges.get(from).into_iter().flatten() {
        if next == target {
            return true;
        }
        if seen.insert(next.clone()) && reaches(edges, next, target, seen) {
            return true;
        }
    }
    false
}

#[test]
fn the_path_reader_sees_grouped_and_nested_imports() {
    let paths = crate_paths(
        "use crate::{domain::Job, store::{tx, Store}};\nlet x = crate::jobs::runner::go();\n$crate::x",
    );
    let expected: Vec<Vec<&str>> = vec![
        vec!["domain", "Job"],
        vec!["store", "tx"],
        vec!["store", "Store"],
        vec!["jobs", "runner", "go"],
    ];
    assert_eq!(paths, expected);
}
