//! The red team against the `medmetric` mechanism on three rounds: every
//! strategy is a real ONNX model evaluated in the sandboxed worker, and the
//! invariants must hold (`docs/redteam.md`).
//!
//! This binary is its own sandboxed worker: started with the worker-mode
//! argument it runs the worker's entry point, so the models are evaluated
//! by exactly the code this build contains.

use std::collections::BTreeSet;

use medmetric_core::Modality;
use medmetric_eval::sandbox::{Backend, SandboxConfig};
use medmetric_harness::runtime::WORKER_MODE_ARG;
use medmetric_sim::redteam::{self, RedteamConfig};

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.len() == 2 && args[1] == WORKER_MODE_ARG {
        return medmetric_eval::sandbox::worker::main();
    }
    medmetric_profile_resists_the_red_team_on_three_rounds();
    println!("test result: ok. 1 passed; 0 failed; 0 ignored");
    std::process::ExitCode::SUCCESS
}

fn medmetric_profile_resists_the_red_team_on_three_rounds() {
    let exe = std::env::current_exe().unwrap();
    let mut sandbox = SandboxConfig::new(exe, Backend::Tract, None);
    sandbox.worker_args = vec![WORKER_MODE_ARG.to_string()];
    let cfg = RedteamConfig {
        rounds: 3,
        size: 128,
        cases: 8,
        modality: Modality::Cxr,
        sandbox,
    };
    let report = redteam::run(&cfg, &|_| {}).unwrap();
    let json = report.to_json();
    assert_eq!(report.invariants.len(), 8);
    for (name, ok) in &report.invariants {
        assert!(*ok, "invariant failed: {name}\n{json:#}");
    }
    assert!(report.ok());
    let rounds = json["rounds"].as_array().unwrap();
    assert_eq!(rounds.len(), 3);
    // Honest is strictly first on at least one single round too.
    assert!(report.honest_first_rounds >= 1);
    // Three different rounds, each checked on its own numbers.
    let seeds: BTreeSet<_> = rounds.iter().map(|r| r["seed"].as_str().unwrap()).collect();
    assert_eq!(seeds.len(), 3);
    for r in rounds {
        let med = &r["scores"]["medmetric"];
        let c = |s: &str, k: &str| med[s][k].as_f64().unwrap();
        assert!(c("null", "composite") <= 0.05);
        assert!(c("cls-only", "composite") <= 0.35);
        assert!(c("cls-empty-mask", "composite") <= 0.35);
        for copy in [
            "copy",
            "cast-copy",
            "temperature-copy",
            "sparse-copy",
            "retuned-copy",
        ] {
            assert_eq!(c(copy, "credited"), 0.0, "{copy}: {med:#}");
            assert_eq!(med[copy]["copy_of"], "honest", "{copy}: {med:#}");
        }
        // The bait, committed first, is nobody's original.
        assert!(med["honest"]["copy_of"].is_null(), "{med:#}");
        assert_eq!(c("bait", "credited"), 0.0);
        // Nobody but the honest model's copies earns more than it does.
        for s in ["null", "cls-only", "cls-empty-mask", "fast-useless"] {
            assert!(
                c("honest", "composite") >= c(s, "composite"),
                "{s} beat honest: {med:#}"
            );
        }
        // Load-time compute never reaches a runtime.
        assert!(
            med["load-time"]["failure"]
                .as_str()
                .is_some_and(|f| f.contains("at load")),
            "{med:#}"
        );
        // The seed profile's weakness: doing nothing scores well there.
        assert!(r["scores"]["seed"]["null"]["composite"].as_f64().unwrap() > 0.3);
    }
}
