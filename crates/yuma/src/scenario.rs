//! JSON scenarios: a fixed set of stakes and a sequence of weight matrices,
//! run through consecutive epochs with bonds and permits carried over.
//!
//! This is what `medmetric yuma --scenario S.json` runs. Input schema
//! (every `params` field optional, defaults shown):
//!
//! ```json
//! {
//!   "stakes": [1.0, 2.0, 3.0],
//!   "params": {
//!     "kappa": 32767, "bonds_moving_average": 900000, "bonds_penalty": 65535,
//!     "yuma3": false, "liquid_alpha": false,
//!     "alpha_low": 0.7, "alpha_high": 0.9, "alpha_sigmoid_steepness": 1000,
//!     "max_allowed_validators": 64, "emission_per_epoch": 1000000000
//!   },
//!   "epochs": [ { "weights": [[0, 1, 0], [0, 0, 1], [0, 0, 0]] } ]
//! }
//! ```
//!
//! How it maps onto [`EpochInput`]:
//!
//! * every uid is registered at block 0; epoch `e` (0-based) runs at block
//!   `e + 1` with tempo 1, and every uid counts as having updated its weights
//!   at that block, so all uids are active and no weight or bond is masked as
//!   outdated;
//! * stakes are converted to [`I64F64`] stake weights; validator permits are
//!   the top-`max_allowed_validators` non-zero stakes, assigned before the
//!   first epoch (as if an epoch had already run) and then carried forward;
//! * weight row `i` is what uid `i` has stored: an all-zero row means it set
//!   no weights (empty storage row); any other row is converted to
//!   [`I32F32`], max-upscaled to u16 like `set_weights` does
//!   ([`crate::math::vec_max_upscale_to_u16`]) and stored with an entry for
//!   *every* uid, zeros included;
//! * `alpha_low` / `alpha_high` are fractions converted to the chain's u16
//!   `AlphaValues` the way `set_alpha_values_32` does (truncating, so 0.7
//!   becomes 45874 — one less than the chain's genesis default 45875);
//! * bonds start empty and carry over from epoch to epoch.
//!
//! Output (one entry per epoch): `consensus`, `incentive`, `dividends` and
//! `validator_trust` as exact decimal renderings of the [`I32F32`] fractions,
//! `bonds` as the dense `n × n` u16 bond storage after the epoch, and
//! `emission` as each uid's combined emission in rao (the chain's
//! `Emission` value).

use serde::{Deserialize, Serialize};
use substrate_fixed::types::{I32F32, I64F64};

use crate::epoch::{self, EpochInput, EpochParams};
use crate::error::YumaError;
use crate::{MAX_SCENARIO_EPOCHS, MAX_UIDS, math};

/// Largest accepted weight value: weights are converted to [`I32F32`],
/// whose integer range ends at 2^31.
pub const MAX_WEIGHT_VALUE: f64 = 2_147_483_647.0;

/// A scenario document.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Stake per uid (rao or any consistent unit); also fixes the number of uids.
    pub stakes: Vec<f64>,
    /// Hyperparameters; any subset may be given.
    #[serde(default)]
    pub params: ScenarioParams,
    /// Weight matrices, one per epoch.
    pub epochs: Vec<ScenarioEpoch>,
}

/// Scenario hyperparameters (see the module docs for their meaning).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScenarioParams {
    /// Consensus majority as a u16 proportion.
    pub kappa: u16,
    /// Bond EMA memory in parts per million.
    pub bonds_moving_average: u64,
    /// Bonds penalty as a u16 proportion.
    pub bonds_penalty: u16,
    /// Yuma3 bonds.
    pub yuma3: bool,
    /// Liquid alpha (Yuma3 only).
    pub liquid_alpha: bool,
    /// Lower liquid-alpha bound, a fraction in `[0, 1]`.
    pub alpha_low: f64,
    /// Upper liquid-alpha bound, a fraction in `[alpha_low, 1]`.
    pub alpha_high: f64,
    /// Liquid-alpha sigmoid steepness.
    pub alpha_sigmoid_steepness: i16,
    /// Number of validator permits.
    pub max_allowed_validators: u16,
    /// Rao distributed per epoch.
    pub emission_per_epoch: u64,
}

impl Default for ScenarioParams {
    fn default() -> Self {
        Self {
            kappa: epoch::DEFAULT_KAPPA,
            bonds_moving_average: epoch::DEFAULT_BONDS_MOVING_AVERAGE,
            bonds_penalty: epoch::DEFAULT_BONDS_PENALTY,
            yuma3: false,
            liquid_alpha: false,
            alpha_low: 0.7,
            alpha_high: 0.9,
            alpha_sigmoid_steepness: epoch::DEFAULT_ALPHA_SIGMOID_STEEPNESS,
            max_allowed_validators: epoch::DEFAULT_MAX_ALLOWED_VALIDATORS,
            emission_per_epoch: 1_000_000_000,
        }
    }
}

/// The weights of one epoch: row `i` holds uid `i`'s weight on every uid.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioEpoch {
    /// `n` rows of `n` non-negative weights.
    pub weights: Vec<Vec<f64>>,
}

/// Scenario results.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScenarioOutput {
    /// One entry per scenario epoch.
    pub epochs: Vec<ScenarioEpochOutput>,
}

/// Results of one scenario epoch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScenarioEpochOutput {
    /// Consensus per uid.
    pub consensus: Vec<f64>,
    /// Incentive per uid.
    pub incentive: Vec<f64>,
    /// Dividends per uid.
    pub dividends: Vec<f64>,
    /// Validator trust (row sums of the clipped weights) per uid.
    pub validator_trust: Vec<f64>,
    /// Bond storage after the epoch, dense `n × n`.
    pub bonds: Vec<Vec<u16>>,
    /// Combined emission per uid, in rao.
    pub emission: Vec<u64>,
}

/// A fraction the way `set_alpha_values_32` stores it.
fn alpha_to_u16(x: f64) -> u16 {
    math::fixed_to_u16(I32F32::saturating_from_num(x).saturating_mul(math::U16_MAX_FIXED))
}

fn invalid(msg: String) -> YumaError {
    YumaError::InvalidScenario(msg)
}

/// Semantic checks that serde cannot express.
fn check_scenario(s: &Scenario) -> Result<(), YumaError> {
    let n = s.stakes.len();
    if n == 0 {
        return Err(invalid(
            "`stakes` is empty: a scenario needs at least one uid".into(),
        ));
    }
    if n > MAX_UIDS {
        return Err(YumaError::TooManyUids {
            got: n,
            max: MAX_UIDS,
        });
    }
    if s.epochs.len() > MAX_SCENARIO_EPOCHS {
        return Err(invalid(format!(
            "{} epochs given, at most {MAX_SCENARIO_EPOCHS} are supported",
            s.epochs.len()
        )));
    }
    for (uid, &x) in s.stakes.iter().enumerate() {
        if !x.is_finite() || x < 0.0 {
            return Err(invalid(format!(
                "stake of uid {uid} is {x}; stakes must be finite and non-negative"
            )));
        }
    }
    let p = &s.params;
    for (name, x) in [("alpha_low", p.alpha_low), ("alpha_high", p.alpha_high)] {
        if !x.is_finite() || !(0.0..=1.0).contains(&x) {
            return Err(invalid(format!("`{name}` is {x}; it must lie in [0, 1]")));
        }
    }
    if p.alpha_low > p.alpha_high {
        return Err(invalid(format!(
            "`alpha_low` ({}) exceeds `alpha_high` ({})",
            p.alpha_low, p.alpha_high
        )));
    }
    for (e, epoch) in s.epochs.iter().enumerate() {
        if epoch.weights.len() != n {
            return Err(invalid(format!(
                "epoch {e}: `weights` has {} rows, expected {n} (one per uid)",
                epoch.weights.len()
            )));
        }
        for (i, row) in epoch.weights.iter().enumerate() {
            if row.len() != n {
                return Err(invalid(format!(
                    "epoch {e}: weight row {i} has {} entries, expected {n} (the matrix must be square)",
                    row.len()
                )));
            }
            for (j, &w) in row.iter().enumerate() {
                if !w.is_finite() || !(0.0..=MAX_WEIGHT_VALUE).contains(&w) {
                    return Err(invalid(format!(
                        "epoch {e}: weight [{i}][{j}] is {w}; weights must be finite, non-negative and at most {MAX_WEIGHT_VALUE}"
                    )));
                }
            }
        }
    }
    Ok(())
}

/// Weight row as storage: empty for an all-zero row, else every uid with
/// its max-upscaled u16 weight.
fn stored_row(row: &[f64]) -> Vec<(u16, u16)> {
    if row.iter().all(|&w| w == 0.0) {
        return Vec::new();
    }
    let fixed: Vec<I32F32> = row
        .iter()
        .map(|&w| I32F32::saturating_from_num(w))
        .collect();
    math::vec_max_upscale_to_u16(&fixed)
        .into_iter()
        .enumerate()
        .map(|(j, w)| (j as u16, w))
        .collect()
}

/// The [`EpochInput`] state a scenario starts from (before the first epoch,
/// permits already assigned).
///
/// # Errors
///
/// [`YumaError`] if the scenario is malformed.
pub fn initial_state(s: &Scenario) -> Result<EpochInput, YumaError> {
    check_scenario(s)?;
    let p = &s.params;
    let params = EpochParams {
        kappa: p.kappa,
        bonds_moving_average: p.bonds_moving_average,
        bonds_penalty: p.bonds_penalty,
        yuma3: p.yuma3,
        liquid_alpha: p.liquid_alpha,
        alpha_low: alpha_to_u16(p.alpha_low),
        alpha_high: alpha_to_u16(p.alpha_high),
        alpha_sigmoid_steepness: p.alpha_sigmoid_steepness,
        max_allowed_validators: p.max_allowed_validators,
        tempo: 1,
        ..EpochParams::default()
    };
    let mut state = EpochInput::new(s.stakes.len(), params);
    state.stake = s
        .stakes
        .iter()
        .map(|&x| I64F64::saturating_from_num(x))
        .collect();
    state.emission = p.emission_per_epoch;
    state.validator_permit = epoch::validator_permits_from_stake(&state)?;
    Ok(state)
}

/// Run a parsed scenario.
///
/// # Errors
///
/// [`YumaError`] if the scenario is malformed (shape, ranges, limits).
pub fn run_scenario(s: &Scenario) -> Result<ScenarioOutput, YumaError> {
    let mut state = initial_state(s)?;
    let n = state.n();
    let frac = |v: &[I32F32]| v.iter().map(|x| x.to_num::<f64>()).collect::<Vec<f64>>();
    let mut epochs = Vec::with_capacity(s.epochs.len());
    for (e, epoch) in s.epochs.iter().enumerate() {
        let block = e as u64 + 1;
        state.current_block = block;
        state.last_mechanism_step_block = e as u64;
        state.last_update = vec![block; n];
        state.weights = epoch.weights.iter().map(|row| stored_row(row)).collect();
        let out = epoch::run_epoch(&state)?;
        state.apply(&out);
        epochs.push(ScenarioEpochOutput {
            consensus: frac(&out.consensus),
            incentive: frac(&out.incentive),
            dividends: frac(&out.dividends),
            validator_trust: frac(&out.validator_trust),
            bonds: out.bonds_dense(),
            emission: out.emission,
        });
    }
    Ok(ScenarioOutput { epochs })
}

/// Parse a scenario from JSON, run it and render the results as
/// pretty-printed JSON.
///
/// # Errors
///
/// [`YumaError::Json`] for text that does not match the schema (including
/// unknown fields and out-of-range integers), other [`YumaError`] variants
/// for semantically invalid scenarios.
pub fn run_scenario_json(input: &str) -> Result<String, YumaError> {
    let scenario: Scenario =
        serde_json::from_str(input).map_err(|e| YumaError::Json(e.to_string()))?;
    let output = run_scenario(&scenario)?;
    serde_json::to_string_pretty(&output).map_err(|e| YumaError::Json(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(json: &str) -> Result<ScenarioOutput, YumaError> {
        let s: Scenario = serde_json::from_str(json).map_err(|e| YumaError::Json(e.to_string()))?;
        run_scenario(&s)
    }

    #[test]
    fn defaults_apply() {
        let s: Scenario = serde_json::from_str(r#"{"stakes":[1],"epochs":[]}"#).unwrap();
        assert_eq!(s.params, ScenarioParams::default());
        let s: Scenario =
            serde_json::from_str(r#"{"stakes":[1],"params":{"kappa":1},"epochs":[]}"#).unwrap();
        assert_eq!(s.params.kappa, 1);
        assert_eq!(s.params.emission_per_epoch, 1_000_000_000);
    }

    /// subtensor's `test_10_graph` expressed as a scenario: ten uids with
    /// stake 1 and only self-weights each get 99,999,999 of 1e9.
    #[test]
    fn ten_self_weights_get_stake_share() {
        let rows: Vec<Vec<f64>> = (0..10)
            .map(|i| (0..10).map(|j| if i == j { 1.0 } else { 0.0 }).collect())
            .collect();
        let s = Scenario {
            stakes: vec![1.0; 10],
            params: ScenarioParams::default(),
            epochs: vec![ScenarioEpoch { weights: rows }],
        };
        let out = run_scenario(&s).unwrap();
        assert_eq!(out.epochs[0].emission, vec![99_999_999; 10]);
        assert_eq!(out.epochs[0].consensus, vec![0.0; 10]);
    }

    #[test]
    fn bonds_carry_over() {
        let json = r#"{"stakes":[1,1,0,0],
            "epochs":[{"weights":[[0,0,1,1],[0,0,1,0],[0,0,0,0],[0,0,0,0]]},
                      {"weights":[[0,0,1,1],[0,0,1,0],[0,0,0,0],[0,0,0,0]]}]}"#;
        let out = run(json).unwrap();
        assert_eq!(out.epochs.len(), 2);
        let first = &out.epochs[0];
        assert_eq!(first.bonds.len(), 4);
        assert!(first.bonds.iter().all(|r| r.len() == 4));
        assert!(first.bonds[0][2] > 0 && first.bonds[1][2] > 0);
        assert_eq!(first.bonds[2], vec![0; 4]);
        // Validator trust is the row sum of the clipped weights.
        assert!(first.validator_trust[0] > 0.0 && first.validator_trust[0] <= 1.0);
        let json_out = run_scenario_json(json).unwrap();
        let back: ScenarioOutput = serde_json::from_str(&json_out).unwrap();
        assert_eq!(back, out);
    }

    #[test]
    fn alpha_conversion_matches_set_alpha_values_32() {
        assert_eq!(alpha_to_u16(0.1), 6553);
        assert_eq!(alpha_to_u16(0.3), 19660);
        assert_eq!(alpha_to_u16(0.7), 45874);
        assert_eq!(alpha_to_u16(1.0), 65535);
        assert_eq!(alpha_to_u16(0.0), 0);
    }

    #[test]
    fn stored_rows() {
        assert!(stored_row(&[0.0, 0.0]).is_empty());
        assert_eq!(
            stored_row(&[0.0, 0.5, 1.0]),
            vec![(0, 0), (1, 32768), (2, 65535)]
        );
    }

    #[test]
    fn rejects_malformed() {
        let bad = [
            (
                r#"{"stakes":[1,1],"epochs":[{"weights":[[0,1],[0]]}]}"#,
                "square",
            ),
            (r#"{"stakes":[1,1],"epochs":[{"weights":[[0,1]]}]}"#, "rows"),
            (r#"{"stakes":[1,-1],"epochs":[]}"#, "non-negative"),
            (
                r#"{"stakes":[1,1],"epochs":[{"weights":[[0,-1],[0,0]]}]}"#,
                "non-negative",
            ),
            (
                r#"{"stakes":[1,1],"epochs":[{"weights":[[0,3e9],[0,0]]}]}"#,
                "at most",
            ),
            (r#"{"stakes":[],"epochs":[]}"#, "at least one uid"),
            (
                r#"{"stakes":[1],"params":{"alpha_low":0.9,"alpha_high":0.1},"epochs":[]}"#,
                "exceeds",
            ),
            (
                r#"{"stakes":[1],"params":{"alpha_low":2},"epochs":[]}"#,
                "[0, 1]",
            ),
        ];
        for (json, needle) in bad {
            let err = run(json).unwrap_err();
            assert!(
                matches!(err, YumaError::InvalidScenario(_)),
                "{json}: {err}"
            );
            assert!(err.to_string().contains(needle), "{json}: {err}");
        }
        for json in [
            r#"{"stakes":[1],"epochs":[],"extra":1}"#,
            r#"{"stakes":[1],"params":{"kapa":1},"epochs":[]}"#,
            r#"{"stakes":[1],"params":{"kappa":70000},"epochs":[]}"#,
            r#"{"stakes":[1e999],"epochs":[]}"#,
            r#"{"stakes":[NaN],"epochs":[]}"#,
            r#"{"epochs":[]}"#,
            "not json",
        ] {
            assert!(
                matches!(run_scenario_json(json), Err(YumaError::Json(_))),
                "{json}"
            );
        }
    }

    #[test]
    fn rejects_oversized() {
        let s = Scenario {
            stakes: vec![1.0; MAX_UIDS + 1],
            params: ScenarioParams::default(),
            epochs: vec![],
        };
        assert!(matches!(
            run_scenario(&s),
            Err(YumaError::TooManyUids { .. })
        ));
        let s = Scenario {
            stakes: vec![1.0],
            params: ScenarioParams::default(),
            epochs: vec![
                ScenarioEpoch {
                    weights: vec![vec![0.0]]
                };
                MAX_SCENARIO_EPOCHS + 1
            ],
        };
        assert!(matches!(
            run_scenario(&s),
            Err(YumaError::InvalidScenario(_))
        ));
    }

    #[test]
    fn stake_overflow_is_an_error() {
        let s = Scenario {
            stakes: vec![9e18, 9e18],
            params: ScenarioParams::default(),
            epochs: vec![],
        };
        assert_eq!(run_scenario(&s), Err(YumaError::StakeOverflow));
    }
}
