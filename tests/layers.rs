//! The server's modules form layers, and a module only imports the layers below it
//! (`http → graphql → domain → tenant → db`, the worker runtime `jobs` calling down into
//! `domain`). This test reads every source file of `api/src` and fails on any `crate::` path that
//! reaches up, so an import circle cannot come back. The order is written down here and in
//! `docs/adding-a-domain.md`.

#![allow(clippy::unwrap_used, missing_docs)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Top-level modules of `api/src`, lowest first. A module may use modules listed before it.
const LAYERS: &[&str] = &[
    // Foundation: no I/O of their own, no knowledge of callers.
    "error",
    "ids",
    "keys",
    "config",
    // The connector registry (platform → connector from configuration).
    "marketplaces",
    "breaker",
    "telemetry",
    "metrics",
    "effects",
    // Postgres: pool, runtime-role check, the RLS settings primitive.
    "db",
    // Who the caller is: passwords, JWTs, API tokens, permissions.
    "auth",
    // The tenant transaction and the caller's access in it.
    "tenant",
    // Business rules, rows and SQL, the job ledger and schedules.
    "domain",
    // Services over Redis and limits.
    "cache",
    "events",
    "limits",
    // Everything shared, built once.
    "state",
    // Runs committed effects against Redis.
    "after_commit",
    // Store connections over the connectors: the OAuth callback, the token vault, store contexts.
    "connect",
    // Worker runtime: claim, lease, run, reconcile, sweep.
    "jobs",
    // The GraphQL schema: thin resolvers over the domain.
    "graphql",
    // HTTP and WebSocket transport.
    "http",
    // Tools (demo data).
    "seed",
];

/// Layers that must not be reached from a higher one even though they are lower: resolvers and
/// transport reach the database only through the domain and the tenant transaction.
const SKIPS_FORBIDDEN: &[(&str, &str)] = &[("graphql", "db"), ("http", "db"), ("http", "domain")];

fn rank(module: &str) -> Option<usize> {
    LAYERS.iter().position(|m| *m == module)
}

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

/// The top-level modules `code` names through `crate::…` (comments ignored).
fn imports(code: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (n, line) in code.lines().enumerate() {
        let line = match line.find("//") {
            Some(i) => &line[..i],
            None => line,
        };
        let mut rest = line;
        while let Some(i) = rest.find("crate::") {
            rest = &rest[i + "crate::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                found.push((n + 1, name));
            }
        }
    }
    found
}

/// Every upward or forbidden import under `root`, as `file:line: a -> b`.
fn violations(root: &Path) -> Vec<String> {
    let mut files = Vec::new();
    sources(root, &mut files);
    files.sort();
    let mut bad = Vec::new();
    for file in files {
        let rel = file.strip_prefix(root).unwrap();
        let first = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let module = first.trim_end_matches(".rs").to_owned();
        if module == "lib" || module == "main" {
            continue; // the crate root wires everything together
        }
        let Some(own) = rank(&module) else {
            bad.push(format!(
                "{}: module `{module}` has no layer in tests/layers.rs",
                rel.display()
            ));
            continue;
        };
        let code = std::fs::read_to_string(&file).unwrap();
        for (line, dep) in imports(&code) {
            if dep == module {
                continue;
            }
            let Some(theirs) = rank(&dep) else {
                // `crate::AppState` and other root re-exports.
                if dep.chars().next().is_some_and(char::is_uppercase) {
                    continue;
                }
                bad.push(format!(
                    "{}:{line}: `{dep}` has no layer in tests/layers.rs",
                    rel.display()
                ));
                continue;
            };
            if theirs > own {
                bad.push(format!(
                    "{}:{line}: `{module}` imports `{dep}`, a layer above it",
                    rel.display()
                ));
            } else if SKIPS_FORBIDDEN.contains(&(module.as_str(), dep.as_str())) {
                bad.push(format!(
                    "{}:{line}: `{module}` reaches `{dep}` directly; go through the layer between",
                    rel.display()
                ));
            }
        }
    }
    bad
}

#[test]
fn no_module_imports_a_layer_above_it() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("api/src");
    let bad = violations(&root);
    assert!(
        bad.is_empty(),
        "imports against the layer order (tests/layers.rs):\n{}",
        bad.join("\n")
    );
}

#[test]
fn the_check_sees_an_upward_import() {
    // A throwaway tree with one upward import (domain → graphql) and one skip (graphql → db).
    let dir = std::env::temp_dir().join(format!("mercato-layers-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("domain")).unwrap();
    std::fs::write(
        dir.join("domain/orders.rs"),
        "use crate::error::AppError;\n// crate::http in a comment is fine\nuse crate::graphql::RequestCtx;\n",
    )
    .unwrap();
    std::fs::write(dir.join("graphql.rs"), "fn f() { crate::db::connect(); }\n").unwrap();
    let found: BTreeMap<_, _> = violations(&dir)
        .into_iter()
        .map(|v| (v.split(':').next().unwrap().to_owned(), v))
        .collect();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(found["domain/orders.rs"].contains("`domain` imports `graphql`, a layer above it"));
    assert!(found["graphql.rs"].contains("reaches `db` directly"));
}
