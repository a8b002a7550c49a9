//! `medmetric metrics` against scikit-learn.
//!
//! The expected values come from `scripts/gen_metrics_fixtures.py`. The
//! committed set lives in `tests/fixtures/metrics`; the test command also
//! generates a fresh random set each run and points
//! `MEDMETRIC_METRICS_FIXTURES` at it, so CI compares on new cases every time.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

fn fixture_dirs() -> Vec<PathBuf> {
    let mut dirs = vec![PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/metrics")];
    if let Some(extra) = std::env::var_os("MEDMETRIC_METRICS_FIXTURES") {
        dirs.push(PathBuf::from(extra));
    }
    dirs
}

#[test]
fn metrics_agree_with_scikit_learn() {
    let mut checked = 0;
    for dir in fixture_dirs() {
        let expected: Value =
            serde_json::from_slice(&std::fs::read(dir.join("expected.json")).unwrap()).unwrap();
        for case in expected["cases"].as_array().unwrap() {
            let out = Command::new(env!("CARGO_BIN_EXE_medmetric"))
                .arg("metrics")
                .arg("--pred")
                .arg(dir.join(case["pred"].as_str().unwrap()))
                .arg("--truth")
                .arg(dir.join(case["truth"].as_str().unwrap()))
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{case}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let got: Value = serde_json::from_slice(&out.stdout).unwrap();
            for key in ["dice", "iou", "bce", "mcc", "precision", "recall"] {
                let (g, e) = (got[key].as_f64().unwrap(), case[key].as_f64().unwrap());
                let tol = 1e-9 * e.abs().max(1.0);
                assert!(
                    (g - e).abs() <= tol,
                    "{} {key}: got {g}, sklearn {e}",
                    case["pred"]
                );
            }
            checked += 1;
        }
    }
    assert!(checked >= 100, "only {checked} cases checked");
}
