//! The layers hold: every `crate::` path in `src/` points at the module's own layer or one
//! below it, and no two modules use each other, directly or round a loop. The order is the
//! one the README's Development section lists (highest first; modules named on one line share
//! a layer), so the map a newcomer reads is the one the code keeps.
//!
//! A node is a top-level module (`src/db/`, `src/net.rs`), or one command under
//! `src/commands/`, so that commands may not quietly lean on each other either.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// One `crate::` use: from which node, to which, and where it is written.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Edge {
    from: String,
    to: String,
    file: String,
    line: usize,
}

/// The layers as the README lists them, highest first: each line of the fenced block under
/// "## Development" that starts with `src/` names one layer's modules (`src/a/`, `b.rs`, ...).
fn layers_from_readme(readme: &str) -> Vec<Vec<String>> {
    let dev = readme.split("\n## Development").nth(1).unwrap_or_default();
    let block = dev.split("```").nth(1).unwrap_or_default();
    block
        .lines()
        .filter(|l| l.starts_with("src/"))
        .map(|l| {
            let names = l.split("  ").next().unwrap_or_default();
            names
                .split(',')
                .map(|n| {
                    let n = n.trim().trim_start_matches("src/");
                    n.trim_end_matches('/').trim_end_matches(".rs").to_string()
                })
                .filter(|n| !n.is_empty())
                .collect()
        })
        .collect()
}

/// The node a file of `src/` belongs to (`db/mysql/sql.rs` → `db`, `commands/logs/mod.rs` →
/// `commands::logs`).
fn node_of(rel: &str) -> String {
    let parts: Vec<&str> = rel.split('/').collect();
    let strip = |p: &str| p.trim_end_matches(".rs").to_string();
    if parts[0] == "commands" && parts.len() >= 2 && parts[1] != "mod.rs" {
        format!("commands::{}", strip(parts[1]))
    } else {
        strip(parts[0])
    }
}

/// The node a `crate::` path names (`db::tls::X` → `db`, `commands::audit::run` →
/// `commands::audit`).
fn node_of_path(path: &str) -> String {
    let mut segs = path.split("::").map(str::trim);
    let first = segs.next().unwrap_or_default().to_string();
    if first == "commands" {
        match segs.next() {
            Some(cmd) if !cmd.is_empty() && cmd != "self" && !cmd.starts_with('{') => {
                format!("commands::{cmd}")
            }
            _ => first,
        }
    } else {
        first
    }
}

/// Source text without comments (line comments, doc comments and block comments), keeping
/// line numbers.
fn strip_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_block = false;
    for line in text.lines() {
        let mut kept = String::new();
        let mut rest = line;
        loop {
            if in_block {
                match rest.find("*/") {
                    Some(i) => {
                        rest = &rest[i + 2..];
                        in_block = false;
                    }
                    None => break,
                }
            } else {
                let line_comment = rest.find("//");
                let block = rest.find("/*");
                match (line_comment, block) {
                    (Some(l), Some(b)) if b < l => {
                        kept.push_str(&rest[..b]);
                        rest = &rest[b + 2..];
                        in_block = true;
                    }
                    (Some(l), _) => {
                        kept.push_str(&rest[..l]);
                        break;
                    }
                    (None, Some(b)) => {
                        kept.push_str(&rest[..b]);
                        rest = &rest[b + 2..];
                        in_block = true;
                    }
                    (None, None) => {
                        kept.push_str(rest);
                        break;
                    }
                }
            }
        }
        out.push_str(&kept);
        out.push('\n');
    }
    out
}

/// The top-level items of a brace group `a, b::{c, d}, e` (nested braces kept whole).
fn group_items(group: &str) -> Vec<&str> {
    let mut items = Vec::new();
    let (mut depth, mut start) = (0usize, 0usize);
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                items.push(group[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(group[start..].trim());
    items.into_iter().filter(|s| !s.is_empty()).collect()
}

/// Every `crate::` edge written in one file.
fn edges_of(rel: &str, text: &str) -> Vec<Edge> {
    let from = node_of(rel);
    let code = strip_comments(text);
    let mut edges = Vec::new();
    let mut push = |path: &str, at: usize| {
        let to = node_of_path(path);
        if !to.is_empty() && to != from && to != "self" && to != "super" {
            let line = code[..at].matches('\n').count() + 1;
            edges.push(Edge {
                from: from.clone(),
                to,
                file: format!("src/{rel}"),
                line,
            });
        }
    };
    let mut at = 0;
    while let Some(i) = code[at..].find("crate::") {
        let start = at + i;
        // `db_secret_rotator::` and other `..crate::` names are not this crate's paths.
        let prev = code[..start].chars().next_back();
        at = start + "crate::".len();
        if prev.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let rest = &code[at..];
        if let Some(group) = rest.strip_prefix('{') {
            // `crate::{a, b::c}`: each item is a path of its own.
            let mut depth = 1;
            let end = group
                .char_indices()
                .find(|&(_, c)| {
                    match c {
                        '{' => depth += 1,
                        '}' => depth -= 1,
                        _ => {}
                    }
                    depth == 0
                })
                .map(|(i, _)| i)
                .unwrap_or(group.len());
            for item in group_items(&group[..end]) {
                push(item, start);
            }
        } else {
            let end = rest
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .unwrap_or(rest.len());
            push(&rest[..end], start);
        }
    }
    edges
}

/// What breaks the layering: edges against the order, then cycles. Empty when it holds.
fn violations(layers: &[Vec<String>], edges: &[Edge]) -> Vec<String> {
    let rank = |node: &str| -> Option<usize> {
        let top = node.split("::").next().unwrap_or(node);
        layers
            .iter()
            .position(|l| l.iter().any(|m| m == node))
            .or_else(|| layers.iter().position(|l| l.iter().any(|m| m == top)))
    };
    let mut found = Vec::new();
    for e in edges {
        match (rank(&e.from), rank(&e.to)) {
            (None, _) => found.push(format!(
                "{}:{}: module `{}` is not in the README's layer list",
                e.file, e.line, e.from
            )),
            (_, None) => found.push(format!(
                "{}:{}: `{}` uses `{}`, which is not in the README's layer list",
                e.file, e.line, e.from, e.to
            )),
            (Some(f), Some(t)) if t < f => found.push(format!(
                "{}:{}: `{}` uses `{}`, a layer above it",
                e.file, e.line, e.from, e.to
            )),
            _ => {}
        }
    }
    // Cycles: a depth-first search over the module graph; each edge of a cycle found is named.
    let mut graph: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for e in edges {
        graph.entry(&e.from).or_default().insert(&e.to);
    }
    let mut state: BTreeMap<&str, u8> = BTreeMap::new(); // 1 on the stack, 2 done
    let mut stack: Vec<&str> = Vec::new();
    fn visit<'a>(
        n: &'a str,
        graph: &BTreeMap<&'a str, BTreeSet<&'a str>>,
        state: &mut BTreeMap<&'a str, u8>,
        stack: &mut Vec<&'a str>,
        cycles: &mut Vec<Vec<&'a str>>,
    ) {
        state.insert(n, 1);
        stack.push(n);
        for &m in graph.get(n).into_iter().flatten() {
            match state.get(m) {
                Some(1) => {
                    let from = stack.iter().position(|&s| s == m).unwrap_or(0);
                    let mut cycle = stack[from..].to_vec();
                    cycle.push(m);
                    cycles.push(cycle);
                }
                Some(_) => {}
                None => visit(m, graph, state, stack, cycles),
            }
        }
        stack.pop();
        state.insert(n, 2);
    }
    let mut cycles = Vec::new();
    let nodes: Vec<&str> = graph.keys().copied().collect();
    for n in nodes {
        if !state.contains_key(n) {
            visit(n, &graph, &mut state, &mut stack, &mut cycles);
        }
    }
    for cycle in cycles {
        let at: Vec<String> = cycle
            .windows(2)
            .filter_map(|w| edges.iter().find(|e| e.from == w[0] && e.to == w[1]))
            .map(|e| format!("{}:{}", e.file, e.line))
            .collect();
        found.push(format!(
            "import cycle {} (at {})",
            cycle.join(" -> "),
            at.join(", ")
        ));
    }
    found
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = entry.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn the_code_keeps_the_readme_layers() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    let layers = layers_from_readme(&readme);
    assert!(
        layers.len() >= 5,
        "the README's Development section lists no layers: {layers:?}"
    );
    let src = root.join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut edges = Vec::new();
    for f in &files {
        let rel = f
            .strip_prefix(&src)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        // The binary crate's root, the library root and this test are above every layer.
        if rel == "main.rs" || rel == "lib.rs" || rel == "layering.rs" {
            continue;
        }
        let text = std::fs::read_to_string(f).unwrap();
        edges.extend(edges_of(&rel, &text));
    }
    assert!(edges.len() > 50, "too few edges read: {}", edges.len());
    let mut found = violations(&layers, &edges);
    // A module that uses nothing of the crate is still placed.
    for f in &files {
        let rel = f
            .strip_prefix(&src)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        let node = node_of(&rel);
        let top = node.split("::").next().unwrap_or_default().to_string();
        let listed = layers.iter().flatten().any(|m| *m == node || *m == top);
        if !listed && rel != "main.rs" && rel != "lib.rs" && rel != "layering.rs" {
            found.push(format!(
                "src/{rel}: module `{node}` is not in the README's layer list"
            ));
        }
    }
    found.dedup();
    assert!(
        found.is_empty(),
        "the layering is broken:\n{}",
        found.join("\n")
    );
}

mod checker {
    use super::*;

    fn layers() -> Vec<Vec<String>> {
        layers_from_readme(
            "# x\n\n## Development\n\ntext\n\n```\nsrc/cli.rs, lambda.rs   faces\nsrc/commands/   commands\n  sub/   ignored\nsrc/db/          drivers\nsrc/net.rs, text.rs   leaves\n```\n",
        )
    }

    #[test]
    fn layers_are_read_from_the_readme_block() {
        assert_eq!(
            layers(),
            vec![
                vec!["cli".to_string(), "lambda".into()],
                vec!["commands".into()],
                vec!["db".into()],
                vec!["net".into(), "text".into()],
            ]
        );
    }

    #[test]
    fn paths_in_groups_and_expressions_are_edges() {
        let text = "//! uses crate::cli in a comment only\nuse crate::{db::{self, X}, net};\nfn f() { crate::text::quote(\"\"); other_crate::cli::x(); }\n";
        let e = edges_of("db/mysql/mod.rs", text);
        let to: Vec<(&str, usize)> = e.iter().map(|e| (e.to.as_str(), e.line)).collect();
        assert_eq!(to, vec![("net", 2), ("text", 3)]);
        assert_eq!(node_of("commands/logs/read.rs"), "commands::logs");
        assert_eq!(node_of("commands/mod.rs"), "commands");
        assert_eq!(node_of_path("commands::audit::run"), "commands::audit");
    }

    #[test]
    fn an_upward_edge_and_a_planted_cycle_are_named_with_file_and_line() {
        let edges = [
            edges_of("net.rs", "\n\nuse crate::db::Session;\n"),
            edges_of("db/mod.rs", "use crate::net::Phase;\n"),
            edges_of("cli.rs", "use crate::lambda::serve;\n"),
            edges_of("lambda.rs", "fn f() { crate::cli::run(); }\n"),
        ]
        .concat();
        let found = violations(&layers(), &edges);
        assert!(
            found.contains(&"src/net.rs:3: `net` uses `db`, a layer above it".to_string()),
            "{found:?}"
        );
        assert!(
            found.iter().any(|f| f.starts_with(
                "import cycle cli -> lambda -> cli (at src/cli.rs:1, src/lambda.rs:1)"
            )),
            "{found:?}"
        );
        assert!(
            found
                .iter()
                .any(|f| f.starts_with("import cycle db -> net -> db")),
            "{found:?}"
        );
    }

    #[test]
    fn a_module_missing_from_the_list_is_named() {
        let edges = edges_of("extra.rs", "use crate::net::Phase;\n");
        assert_eq!(
            violations(&layers(), &edges),
            vec!["src/extra.rs:1: module `extra` is not in the README's layer list".to_string()]
        );
    }
}
