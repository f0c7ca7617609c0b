//! ARCHITECTURE.md's crate rules, read from the resolved dependency graph
//! (`cargo metadata`): a new edge that breaks one fails here, not in review.

use serde_json::Value;
use std::collections::{BTreeSet, HashMap};

/// Every workspace crate's normal (non-dev) dependencies: the workspace
/// crates it reaches, and the outside crates any of those names directly.
/// (`--no-deps`: the manifests alone, no registry needed.)
fn closures() -> HashMap<String, BTreeSet<String>> {
    let direct = direct();
    let direct: HashMap<&str, Vec<&str>> = direct
        .iter()
        .map(|(name, deps)| (name.as_str(), deps.iter().map(String::as_str).collect()))
        .collect();
    direct
        .keys()
        .map(|name| (name.to_string(), reachable(name, &direct)))
        .collect()
}

/// Every workspace crate's own normal dependencies.
fn direct() -> HashMap<String, Vec<String>> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = std::process::Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: Value = serde_json::from_slice(&out.stdout).unwrap();
    meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let deps = normal_deps(p).into_iter().map(str::to_string).collect();
            (p["name"].as_str().unwrap().to_string(), deps)
        })
        .collect()
}

fn normal_deps(package: &Value) -> Vec<&str> {
    package["dependencies"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["kind"].is_null() || d["kind"] == "build")
        .map(|d| d["name"].as_str().unwrap())
        .collect()
}

fn reachable(from: &str, direct: &HashMap<&str, Vec<&str>>) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut stack = vec![from];
    while let Some(name) = stack.pop() {
        for dep in direct.get(name).into_iter().flatten() {
            if seen.insert(dep.to_string()) {
                stack.push(dep);
            }
        }
    }
    seen
}

#[test]
fn the_crate_graph_keeps_the_rules_architecture_md_states() {
    let all = closures();
    let uses = |krate: &str, dep: &str| all[krate].contains(dep);
    assert!(uses("canvas-node", "rquickjs"), "the graph was read");

    for io in ["tokio", "sqlx", "reqwest", "axum", "object_store"] {
        assert!(!uses("canvas-domain", io), "the domain does no I/O: {io}");
    }
    for krate in ["canvas-api", "canvas-connectors", "canvas-blocks"] {
        assert!(!uses(krate, "rquickjs"), "{krate} pulls in QuickJS");
        assert!(
            !uses(krate, "canvas-engine"),
            "{krate} depends on the engine"
        );
    }
    let knows_axum: Vec<_> = all
        .iter()
        .filter(|(_, deps)| deps.contains("axum") && !deps.contains("canvas-api"))
        .map(|(name, _)| name.as_str())
        .collect();
    assert_eq!(knows_axum, ["canvas-api"], "only the API crate knows axum");
    assert!(
        !uses("canvas-scheduler", "canvas-engine"),
        "the scheduler only enqueues"
    );

    let naming = |dep: &str| -> Vec<String> {
        let named: BTreeSet<String> = direct()
            .into_iter()
            .filter(|(_, deps)| deps.iter().any(|d| d == dep))
            .map(|(name, _)| name)
            .collect();
        named.into_iter().collect()
    };
    assert_eq!(
        naming("sqlx"),
        ["canvas-connectors", "canvas-store"],
        "who names sqlx"
    );
    for config in ["clap", "figment"] {
        // The server and the bench harness: the binaries.
        let binaries = ["canvas", "canvas-bench"];
        let readers = naming(config);
        assert!(
            readers.iter().all(|c| binaries.contains(&c.as_str())),
            "{config}: {readers:?}"
        );
    }
}
