//! The red team against the `medmetric` mechanism on three rounds: every
//! strategy is a real ONNX model evaluated in the sandboxed worker, and the
//! invariants of issue #5 / SPEC §6 must hold on every round.

use std::process::Command;

use serde_json::Value;

#[test]
fn medmetric_profile_resists_the_red_team_on_three_rounds() {
    let out = Command::new(env!("CARGO_BIN_EXE_medmetric"))
        .args([
            "sim", "redteam", "--rounds", "3", "--cases", "8", "--size", "128",
        ])
        .args(["--backend", "tract", "--json"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let v: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let invariants = v["invariants"].as_object().unwrap();
    assert_eq!(invariants.len(), 5);
    for (name, ok) in invariants {
        assert_eq!(ok, &Value::Bool(true), "invariant failed: {name}\n{v:#}");
    }
    assert!(out.status.success());
    let rounds = v["rounds"].as_array().unwrap();
    assert_eq!(rounds.len(), 3);
    // Honest is strictly first on at least one single round too.
    assert!(v["honest_first_rounds"].as_u64().unwrap() >= 1);
    // Three different rounds, each checked on its own numbers.
    let seeds: std::collections::BTreeSet<_> =
        rounds.iter().map(|r| r["seed"].as_str().unwrap()).collect();
    assert_eq!(seeds.len(), 3);
    for r in rounds {
        let med = &r["scores"]["medmetric"];
        let c = |s: &str, k: &str| med[s][k].as_f64().unwrap();
        assert!(c("null", "composite") <= 0.05);
        assert!(c("cls-only", "composite") <= 0.35);
        assert!(c("cls-empty-mask", "composite") <= 0.35);
        assert_eq!(c("copy", "credited"), 0.0);
        assert!(!med["copy"]["copy_of"].is_null());
        // Nobody but the honest model's copies earns more than it does.
        for s in ["null", "cls-only", "cls-empty-mask", "fast-useless"] {
            assert!(
                c("honest", "composite") >= c(s, "composite"),
                "{s} beat honest: {med:#}"
            );
        }
        // The seed profile's weakness: doing nothing scores well there.
        assert!(r["scores"]["seed"]["null"]["composite"].as_f64().unwrap() > 0.3);
    }
}
