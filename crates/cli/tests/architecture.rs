//! ARCHITECTURE.md's crate table says what each crate depends on; this
//! test holds it to what the manifests say (`cargo metadata`), so the
//! document a newcomer reads first cannot drift from the code. It also
//! holds the one-way rule: `core` depends on no workspace crate, and the
//! worker links only the evaluation crate.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

fn workspace_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .and_then(Path::parent)
        .unwrap()
}

/// crate short name → workspace crates it depends on (normal deps only).
fn manifests() -> BTreeMap<String, BTreeSet<String>> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(workspace_root())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let short = |name: &str| name.strip_prefix("medmetric-").map(str::to_string);
    let mut map = BTreeMap::new();
    for p in meta["packages"].as_array().unwrap() {
        let Some(name) = short(p["name"].as_str().unwrap()) else {
            continue;
        };
        let deps: BTreeSet<String> = p["dependencies"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["kind"].is_null())
            .filter_map(|d| short(d["name"].as_str().unwrap()))
            .collect();
        map.insert(name, deps);
    }
    map
}

/// The crate table of ARCHITECTURE.md: first backticked name of the
/// first cell → backticked names of the "depends on" cell.
fn documented() -> BTreeMap<String, BTreeSet<String>> {
    let text = std::fs::read_to_string(workspace_root().join("ARCHITECTURE.md")).unwrap();
    let ticked = |cell: &str| -> Vec<String> {
        cell.split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_string)
            .collect()
    };
    let mut rows = text.lines().skip_while(|l| !l.starts_with("| crate |"));
    let header: Vec<&str> = rows.next().unwrap().split('|').map(str::trim).collect();
    let deps_col = header.iter().position(|h| *h == "depends on").unwrap();
    let mut map = BTreeMap::new();
    for line in rows.skip(1).take_while(|l| l.starts_with('|')) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let name = ticked(cells[1]).into_iter().next().unwrap();
        map.insert(name, ticked(cells[deps_col]).into_iter().collect());
    }
    map
}

#[test]
fn architecture_table_matches_the_manifests() {
    let real = manifests();
    let doc = documented();
    assert_eq!(
        real.keys().collect::<Vec<_>>(),
        doc.keys().collect::<Vec<_>>(),
        "ARCHITECTURE.md lists other crates than the workspace has"
    );
    for (name, deps) in &real {
        assert_eq!(
            &doc[name], deps,
            "ARCHITECTURE.md: `{name}` depends on {deps:?} in its Cargo.toml"
        );
    }
}

#[test]
fn dependencies_point_one_way() {
    let real = manifests();
    assert!(
        real["core"].is_empty(),
        "core is the vocabulary: {:?}",
        real["core"]
    );
    assert_eq!(
        real["worker"],
        BTreeSet::from(["eval".to_string()]),
        "the worker runs next to hostile models and links only the evaluation crate"
    );
    // No cycles, and nothing below depends on what sits above it.
    for (name, deps) in &real {
        for d in deps {
            assert!(
                !real.get(d).is_some_and(|dd| dd.contains(name)),
                "{name} and {d} depend on each other"
            );
        }
    }
    for service in ["validator", "sim", "cli"] {
        for engine in ["core", "bench", "model", "eval", "scoring", "harness"] {
            assert!(
                !real[engine].contains(service),
                "{engine} reaches up into {service}"
            );
        }
    }
}
