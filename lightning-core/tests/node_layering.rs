//! Issue 14: "no two modules import each other" in `lightning-core/src/node/`.
//!
//! Reads the node's source files and builds the graph of which child
//! module uses which: `use super::...` items (through `mod.rs`'s
//! re-exports to the module that defines them), `module::` paths, and
//! calls of `Node` methods defined in another file (`self.method(` or
//! `node.method(`). `mod.rs` is the hub every file may call into (the
//! `Node` struct and `Node::finish`) and is left out. The graph must have
//! no cycle: each module depends one way.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The file's code without its `#[cfg(test)]` tail and without comments.
fn code(text: &str) -> String {
    let text = text.split("#[cfg(test)]").next().unwrap_or("");
    text.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Identifiers in `s`, in order.
fn idents(s: &str) -> Vec<&str> {
    s.split(|c: char| !is_ident(c))
        .filter(|w| !w.is_empty())
        .collect()
}

/// Every `use super::...;` statement's body (after `super::`).
fn super_uses(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("use super::") {
        let after = &rest[at + "use super::".len()..];
        let end = after.find(';').unwrap_or(after.len());
        out.push(after[..end].to_string());
        rest = &after[end..];
    }
    out
}

/// Names of the functions defined at method indentation (in `impl` blocks).
fn methods(code: &str) -> Vec<String> {
    code.lines()
        .filter_map(|l| {
            let l = l.strip_prefix("    ")?;
            if l.starts_with(' ') {
                return None;
            }
            let l = l
                .strip_prefix("pub(super) ")
                .or_else(|| l.strip_prefix("pub(crate) "))
                .or_else(|| l.strip_prefix("pub "))
                .unwrap_or(l);
            let name = l.strip_prefix("fn ")?;
            Some(name.chars().take_while(|c| is_ident(*c)).collect())
        })
        .collect()
}

/// `name` followed by `(` right after `self.` or `node.` somewhere in `code`.
fn calls(code: &str, name: &str) -> bool {
    ["self.", "node."].iter().any(|recv| {
        let pat = format!("{recv}{name}(");
        code.match_indices(&pat)
            .any(|(i, _)| i == 0 || !code[..i].ends_with(|c: char| is_ident(c) || c == '.'))
    })
}

/// Whether `code` names `module::` as a path of this crate's `node` (at the
/// start of a path, or after `super::`).
fn names_module(code: &str, module: &str) -> bool {
    let pat = format!("{module}::");
    code.match_indices(&pat).any(|(i, _)| {
        let before = &code[..i];
        before.ends_with("super::") || !before.ends_with(|c: char| is_ident(c) || c == ':')
    })
}

#[test]
fn node_modules_depend_one_way() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/node");
    let mut files: BTreeMap<String, String> = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "rs") {
            let name = path.file_stem().unwrap().to_string_lossy().to_string();
            files.insert(name, code(&std::fs::read_to_string(&path).unwrap()));
        }
    }
    assert!(files.len() > 10, "read the node's files from {dir:?}");
    let modules: BTreeSet<String> = files.keys().filter(|m| *m != "mod").cloned().collect();

    // mod.rs's re-exports: item name -> the module defining it.
    let mut reexports: BTreeMap<String, String> = BTreeMap::new();
    let hub = &files["mod"];
    for stmt in hub.split(';') {
        let stmt = stmt.trim();
        let Some(body) = stmt
            .strip_prefix("pub use ")
            .or_else(|| stmt.strip_prefix("use "))
        else {
            continue;
        };
        let words = idents(body);
        if let Some((first, items)) = words.split_first() {
            if modules.contains(*first) {
                for item in items {
                    reexports.insert((*item).to_string(), (*first).to_string());
                }
            }
        }
    }

    // Methods defined per module.
    let mut defined: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for m in &modules {
        for f in methods(&files[m]) {
            defined.entry(f).or_default().insert(m.clone());
        }
    }

    let mut edges: BTreeMap<String, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for m in &modules {
        let code = &files[m];
        let mut add = |to: &str, why: String| {
            if to != m && modules.contains(to) {
                edges
                    .entry(m.clone())
                    .or_default()
                    .entry(to.to_string())
                    .or_default()
                    .insert(why);
            }
        };
        for body in super_uses(code) {
            let words = idents(&body);
            match words.first() {
                Some(first) if modules.contains(*first) => add(first, format!("use {body}")),
                _ => {
                    for w in words {
                        if let Some(to) = reexports.get(w) {
                            add(to, format!("use {w}"));
                        }
                    }
                }
            }
        }
        for other in &modules {
            if names_module(code, other) {
                add(other, format!("path {other}::"));
            }
        }
        for (name, owners) in &defined {
            if owners.contains(m) || !calls(code, name) {
                continue;
            }
            for owner in owners {
                add(owner, format!("calls {name}"));
            }
        }
    }

    // A cycle, if any (depth-first search).
    fn visit(
        at: &str,
        edges: &BTreeMap<String, BTreeMap<String, BTreeSet<String>>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|p| p == at) {
            let mut cycle = path[i..].to_vec();
            cycle.push(at.to_string());
            return Some(cycle);
        }
        if done.contains(at) {
            return None;
        }
        path.push(at.to_string());
        for next in edges.get(at).map(|e| e.keys()).into_iter().flatten() {
            if let Some(c) = visit(next, edges, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(at.to_string());
        None
    }
    let mut done = BTreeSet::new();
    for m in &modules {
        if let Some(cycle) = visit(m, &edges, &mut Vec::new(), &mut done) {
            let why: Vec<String> = cycle
                .windows(2)
                .map(|w| format!("{} -> {}: {:?}", w[0], w[1], edges[&w[0]][&w[1]]))
                .collect();
            panic!(
                "node/ modules depend on each other in a cycle:\n{}",
                why.join("\n")
            );
        }
    }
    // The check sees the dependencies it is meant to see.
    assert!(
        edges["peers"].contains_key("channel_events"),
        "peers.rs applies channel outputs: {:?}",
        edges.get("peers")
    );
}
