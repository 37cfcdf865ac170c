//! The dependency direction of DESIGN.md §2, checked over `cargo metadata`:
//! `apimachinery ← storage ← apiserver ← cli`, and the controllers are API clients only.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

/// Each workspace crate and the workspace crates it depends on (normal dependencies).
fn workspace_dependencies() -> BTreeMap<String, BTreeSet<String>> {
    let output = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("metadata is JSON");
    let packages = metadata["packages"].as_array().expect("packages");
    let names: BTreeSet<String> = packages
        .iter()
        .filter_map(|p| p["name"].as_str().map(String::from))
        .collect();
    packages
        .iter()
        .map(|p| {
            let deps = p["dependencies"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|d| d["kind"].is_null())
                .filter_map(|d| d["name"].as_str())
                .filter(|d| names.contains(*d))
                .map(String::from)
                .collect();
            (p["name"].as_str().unwrap_or_default().to_string(), deps)
        })
        .collect()
}

#[test]
fn crates_depend_only_in_the_designed_direction() {
    let deps = workspace_dependencies();
    let allowed: &[(&str, &[&str])] = &[
        ("den-apimachinery", &[]),
        ("den-storage", &["den-apimachinery"]),
        ("den-apiserver", &["den-apimachinery", "den-storage"]),
        ("den-controllers", &["den-apimachinery"]),
        ("den-loadgen", &[]),
        (
            "den",
            &[
                "den-apimachinery",
                "den-storage",
                "den-apiserver",
                "den-controllers",
            ],
        ),
    ];
    for (krate, uses) in &deps {
        let allowed_here = allowed
            .iter()
            .find(|(name, _)| name == krate)
            .unwrap_or_else(|| panic!("{krate} is not in the layering table"))
            .1;
        for dep in uses {
            assert!(
                allowed_here.contains(&dep.as_str()),
                "{krate} must not depend on {dep}"
            );
        }
    }
}

#[test]
fn the_apimachinery_crate_stays_free_of_runtimes_and_servers() {
    let output = Command::new(env!("CARGO"))
        .args([
            "tree",
            "--offline",
            "-p",
            "den-apimachinery",
            "-e",
            "normal",
            "--prefix",
            "none",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo tree runs");
    let tree = String::from_utf8_lossy(&output.stdout);
    for banned in ["tokio ", "axum ", "hyper "] {
        assert!(!tree.contains(banned), "den-apimachinery pulls in {banned}");
    }
}
