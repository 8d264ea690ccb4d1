//! The shape of the house, checked: the library's modules depend on each other without cycles
//! (read from the `crate::…` paths in the code of every file under `src/`, comments, the binary
//! and unit tests left out), and no function is longer than [`MAX_LINES`] lines except the numeric kernels listed in
//! [`LONG_KERNELS`].

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The longest function body allowed, in lines (signature to closing brace).
const MAX_LINES: usize = 80;

/// Numeric kernels allowed to be longer: one pass over the data each, clearer in one piece.
const LONG_KERNELS: &[&str] = &[];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The source of a file without its unit tests (everything from `#[cfg(test)]` on).
fn without_tests(text: &str) -> &str {
    text.find("#[cfg(test)]").map_or(text, |i| &text[..i])
}

/// The top-level module a file under `src/` belongs to (`src/train/trainer.rs` → `train`).
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap();
    let first = rel.components().next().unwrap().as_os_str().to_string_lossy().into_owned();
    first.trim_end_matches(".rs").to_string()
}

/// The module graph: for every top-level module, the top-level modules its code names.
fn module_graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files.iter().filter(|f| !f.starts_with(src.join("bin"))) {
        let module = module_of(src, file);
        if module == "lib" {
            continue;
        }
        let text = std::fs::read_to_string(file).unwrap();
        // Code only: comments may name any module.
        let code: String = without_tests(&text).lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n");
        let deps = graph.entry(module.clone()).or_default();
        for (i, _) in code.match_indices("crate::") {
            let rest = &code[i + "crate::".len()..];
            let name: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            if !name.is_empty() && name != module {
                deps.insert(name);
            }
        }
    }
    graph
}

/// A cycle of the graph, if there is one (depth-first search).
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(node: &str, graph: &BTreeMap<String, BTreeSet<String>>, path: &mut Vec<String>, done: &mut BTreeSet<String>) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|p| p == node) {
            let mut cycle = path[start..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(c) = visit(next, graph, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph.keys().find_map(|n| visit(n, graph, &mut Vec::new(), &mut done))
}

#[test]
fn the_module_graph_has_no_cycles() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let graph = module_graph(&src);
    assert!(graph.len() > 15, "only {} modules found", graph.len());
    assert!(graph["session"].contains("train") && graph["train"].contains("model"), "the graph lost known edges: {graph:?}");
    if let Some(cycle) = find_cycle(&graph) {
        panic!("module cycle: {}", cycle.join(" → "));
    }
    // The checker finds a cycle when there is one.
    let mut with_cycle = graph.clone();
    with_cycle.get_mut("model").unwrap().insert("session".into());
    assert!(find_cycle(&with_cycle).is_some());
}

#[test]
fn no_function_is_longer_than_the_limit() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut long = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let mut i = 0;
        while i < lines.len() {
            let line = lines[i];
            let indent = line.len() - line.trim_start().len();
            let code = line.trim_start();
            let is_fn = ["fn ", "pub fn ", "pub(crate) fn ", "unsafe fn ", "pub unsafe fn ", "const fn ", "pub const fn "].iter().any(|p| code.starts_with(p));
            if is_fn && !code.ends_with(';') {
                let name: String = code.split("fn ").nth(1).unwrap().chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                let close = format!("{}}}", " ".repeat(indent));
                let end = (i + 1..lines.len()).find(|&j| lines[j] == close).unwrap_or(i);
                let length = end - i + 1;
                if length > MAX_LINES && !LONG_KERNELS.contains(&name.as_str()) {
                    long.push(format!("{}:{} {name}: {length} lines", file.strip_prefix(&src).unwrap().display(), i + 1));
                }
                i = end;
            }
            i += 1;
        }
    }
    assert!(long.is_empty(), "functions longer than {MAX_LINES} lines:\n{}", long.join("\n"));
}
