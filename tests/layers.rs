//! The library's layers: each top-level module imports only from the modules of the layers
//! before its own (`docs/architecture.md`, "Layers"). A module's unit tests may import more
//! (the collectors' tests take their settings from `config`); comments do not count.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Lowest first. A module may use the modules of its own layer's earlier entries and of every
/// earlier layer.
const LAYERS: &[&str] = &[
    "sync", "panics", "web", "snapshot", "metrics", "collect", "alerts", "config", "live", "sampler", "api", "forward",
    "process",
];

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level modules `text` names as `crate::<module>`, outside comments and outside its
/// `mod tests`.
fn imports(text: &str) -> BTreeSet<String> {
    // The unit tests: `mod tests` after its `#[cfg(...test...)]` line.
    let code = match text.find("\nmod tests {") {
        Some(at) => {
            let attribute = text[..at].rfind('\n').map_or(0, |n| n + 1);
            if text[attribute..at].starts_with("#[cfg(") { &text[..attribute] } else { &text[..at] }
        }
        None => text,
    };
    let mut found = BTreeSet::new();
    for line in code.lines().filter(|l| !l.trim_start().starts_with("//")) {
        for (at, _) in line.match_indices("crate::") {
            if at > 0 && line[..at].ends_with('$') {
                continue; // `$crate::` in a macro: the crate that invokes it
            }
            let name: String =
                line[at + "crate::".len()..].chars().take_while(|c| c.is_ascii_lowercase() || *c == '_').collect();
            if !name.is_empty() && !line[at + "crate::".len() + name.len()..].starts_with('!') {
                found.insert(name); // not an item of the crate's root (`crate::VERSION`, a macro)
            }
        }
    }
    found
}

/// Which top-level module of `src/` a file belongs to.
fn module_of(src: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(src).unwrap();
    let first = relative.components().next().unwrap().as_os_str().to_string_lossy().into_owned();
    first.trim_end_matches(".rs").to_string()
}

#[test]
fn each_module_imports_only_from_the_layers_below_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    files.sort();
    let mut wrong = Vec::new();
    let mut seen = BTreeSet::new();
    for file in &files {
        let module = module_of(&src, file);
        if module == "lib" || module == "bin" {
            continue;
        }
        seen.insert(module.clone());
        let Some(rank) = LAYERS.iter().position(|m| *m == module) else {
            wrong.push(format!("{}: module `{module}` is in no layer (add it to LAYERS and the docs)", file.display()));
            continue;
        };
        let text = std::fs::read_to_string(file).unwrap();
        for used in imports(&text) {
            if used == module {
                continue;
            }
            match LAYERS.iter().position(|m| *m == used) {
                Some(r) if r < rank => {}
                Some(_) => {
                    wrong.push(format!("{}: `{module}` imports `crate::{used}`, a layer above it", file.display()))
                }
                None => wrong.push(format!("{}: `crate::{used}` is in no layer", file.display())),
            }
        }
    }
    assert!(wrong.is_empty(), "imports against the layers:\n{}", wrong.join("\n"));
    let missing: Vec<_> = LAYERS.iter().filter(|m| !seen.contains(**m)).collect();
    assert!(missing.is_empty(), "LAYERS names modules src/ does not have: {missing:?}");
}

/// The check sees what it must: an import in code, not one in a comment or a unit test.
#[test]
fn the_check_reads_code_not_comments_or_tests() {
    let text = "use crate::web::x;\n// crate::api\n    /// [`crate::forward`]\nfn f() { crate::metrics::g(); $crate::process::h(); crate::VERSION }\n#[cfg(all(test, unix))]\nmod tests { use crate::config; }\n";
    let found: Vec<_> = imports(text).into_iter().collect();
    assert_eq!(found, ["metrics", "web"]);
}
