//! The layer rule of `src/lib.rs`: every `crate::<module>` path (and every `super::` chain
//! that climbs to the crate root) in a module's sources names a module that module may
//! use. Reads the sources as text, so it also catches paths in doc links and macros.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code states expectations by panicking

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The table of `src/lib.rs`, one row per top-level module.
const ALLOWED: &[(&str, &[&str])] = &[
    ("util", &[]),
    ("wire", &["util"]),
    ("net", &["wire", "util"]),
    ("capture", &["wire", "util"]),
    ("grimstream", &["wire", "util"]),
    ("record", &["wire", "util"]),
    ("timeline", &["grimstream", "wire", "util"]),
    (
        "session",
        &["capture", "net", "grimstream", "record", "wire", "util"],
    ),
    (
        "ui",
        &[
            "session",
            "timeline",
            "capture",
            "net",
            "grimstream",
            "record",
            "wire",
            "util",
        ],
    ),
    (
        "cli",
        &[
            "ui",
            "session",
            "timeline",
            "capture",
            "net",
            "grimstream",
            "record",
            "wire",
            "util",
        ],
    ),
];

fn rs_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            rs_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Module path of a source file below `src/`, e.g. `src/ui/live/mod.rs` → `[ui, live]`.
fn module_path(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .iter()
        .map(|c| c.to_string_lossy().into_owned())
        .collect();
    if let Some(last) = parts.pop() {
        let stem = last.trim_end_matches(".rs").to_owned();
        if stem != "mod" {
            parts.push(stem);
        }
    }
    parts
}

fn ident_at(s: &str) -> String {
    s.chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect()
}

/// Top-level modules a file's text refers to, with the line of each reference.
fn references(text: &str, module: &[String]) -> Vec<(String, usize)> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        for (i, _) in line.match_indices("crate::") {
            // `capdeck::crate::` cannot occur; skip `$crate::` of macros.
            if line[..i].ends_with('$') {
                continue;
            }
            let name = ident_at(&line[i + 7..]);
            if !name.is_empty() {
                out.push((name, n + 1));
            }
        }
        for (i, _) in line.match_indices("super::") {
            if i > 0 && line[..i].ends_with("super::") {
                continue; // counted from the start of the chain
            }
            let mut rest = &line[i..];
            let mut ups = 0;
            while let Some(r) = rest.strip_prefix("super::") {
                ups += 1;
                rest = r;
            }
            // A file's own module is `module`; `super` from a `mod tests` inside it is
            // the file's module again, so only chains longer than the depth escape.
            if ups >= module.len() {
                let name = ident_at(rest);
                if !name.is_empty() && name != "*" {
                    out.push((name, n + 1));
                }
            }
        }
    }
    out
}

#[test]
fn every_import_follows_the_layer_table() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
    let mut files = Vec::new();
    rs_files(&root, &mut files);
    assert!(files.len() > 50, "found only {} source files", files.len());
    let mut broken = Vec::new();
    let mut seen_top = std::collections::BTreeSet::new();
    for f in &files {
        let rel = f.strip_prefix(&root).unwrap_or(f);
        let module = module_path(rel);
        let Some(top) = module.first().cloned() else {
            continue; // lib.rs, main.rs
        };
        if top == "main" || top == "lib" {
            continue;
        }
        seen_top.insert(top.clone());
        let Some(ok) = allowed.get(top.as_str()) else {
            broken.push(format!(
                "{}: module `{top}` is not in the layer table",
                rel.display()
            ));
            continue;
        };
        let text = std::fs::read_to_string(f).unwrap_or_default();
        for (name, line) in references(&text, &module) {
            if name != top && allowed.contains_key(name.as_str()) && !ok.contains(&name.as_str()) {
                broken.push(format!(
                    "{}:{line}: `{top}` uses `{name}`, which it may not",
                    rel.display()
                ));
            }
        }
    }
    assert_eq!(
        seen_top.len(),
        ALLOWED.len(),
        "top-level modules found: {seen_top:?}"
    );
    assert!(
        broken.is_empty(),
        "layer rule broken:\n{}",
        broken.join("\n")
    );
}

#[test]
fn the_checker_sees_a_forbidden_import() {
    // The check above is only as good as this: a wire file using the network is caught,
    // whether written as a crate path or as a super chain that climbs to the root.
    let wire = vec!["wire".to_owned(), "grimstream".to_owned()];
    let refs = references(
        "use crate::net::push_link;\nuse super::super::ui::x;",
        &wire,
    );
    let names: Vec<_> = refs.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(names, ["net", "ui"]);
    // A `super` that stays inside the module is not a reference to another module.
    assert!(references("use super::decode_payload;", &wire).is_empty());
}
