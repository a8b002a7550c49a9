//! Tests for `medmetric_scoring::weights`.
//!
//! Every expected number here comes from outside this crate: the two SDK
//! examples, and fixtures produced by the Bittensor SDK's own
//! `weight_utils.py` on NumPy (`scripts/gen_weight_fixtures.py`, see
//! `fixtures/weights/`). Whether the chain accepts the result is tested with
//! the chain's rules, in `crates/chain/tests/validity.rs`.

use std::path::PathBuf;

use medmetric_scoring::weights::{
    DEFAULT_MAX_WEIGHT_LIMIT, DEFAULT_MIN_ALLOWED_WEIGHTS, MAX_UIDS, Precision, ProcessBranch,
    ScoresFile, WeightError, WeightParams, WeightsFile, convert_weights_and_uids_for_emit,
    max_weight_limit_to_u16, numpy_sum_f32, numpy_sum_f64, process_weights, weights_for_emit,
    weights_for_emit_with,
};
use proptest::prelude::*;
use serde::Deserialize;

// ---------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------

fn fixture_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("fixtures")
        .join("weights")
        .join(name)
}

fn read_fixture<T: for<'de> Deserialize<'de>>(name: &str) -> T {
    let path = fixture_path(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
}

#[derive(Deserialize)]
struct ProcessFixture {
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    uids: Vec<u16>,
    scores_f32_bits: Vec<u32>,
    max_weight_limit_f64_bits: u64,
    min_allowed_weights: usize,
    branch: ProcessBranch,
    processed_dtype: String,
    processed_uids: Vec<u16>,
    processed_weights_f64_bits: Vec<u64>,
    emit: Emit,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Emit {
    Ok { uids: Vec<u16>, weights: Vec<u16> },
    Err { error: String },
}

impl Case {
    fn scores(&self) -> Vec<f32> {
        self.scores_f32_bits
            .iter()
            .map(|&b| f32::from_bits(b))
            .collect()
    }

    fn limit(&self) -> f64 {
        f64::from_bits(self.max_weight_limit_f64_bits)
    }
}

#[derive(Deserialize)]
struct SumsFixture {
    sums: Vec<SumCase>,
}

#[derive(Deserialize)]
struct SumCase {
    dtype: String,
    values_bits: Vec<u64>,
    sum_bits: u64,
}

fn process_cases() -> Vec<Case> {
    read_fixture::<ProcessFixture>("process.json").cases
}

// ---------------------------------------------------------------------------
// The SDK's documented results
// ---------------------------------------------------------------------------

#[test]
fn sdk_example_increasing_scores() {
    let (uids, weights) = weights_for_emit(
        &[0, 1, 2, 3],
        &[0.1, 0.2, 0.3, 0.4],
        DEFAULT_MAX_WEIGHT_LIMIT,
        DEFAULT_MIN_ALLOWED_WEIGHTS,
    )
    .unwrap();
    assert_eq!(uids, [0, 1, 2, 3]);
    assert_eq!(weights, [16384, 32768, 49151, 65535]);
}

#[test]
fn sdk_example_zero_and_tiny_scores_are_dropped() {
    let (uids, weights) = weights_for_emit(
        &[0, 1, 2, 3],
        &[0.5, 0.25, 0.0, 1e-6],
        DEFAULT_MAX_WEIGHT_LIMIT,
        DEFAULT_MIN_ALLOWED_WEIGHTS,
    )
    .unwrap();
    assert_eq!(uids, [0, 1]);
    assert_eq!(weights, [65535, 32768]);
}

#[test]
fn defaults_match_chain_defaults() {
    assert_eq!(DEFAULT_MAX_WEIGHT_LIMIT, 1.0);
    assert_eq!(max_weight_limit_to_u16(DEFAULT_MAX_WEIGHT_LIMIT), u16::MAX);
    assert_eq!(DEFAULT_MIN_ALLOWED_WEIGHTS, 0);
    let params = WeightParams::default();
    assert_eq!(params.max_weight_limit, DEFAULT_MAX_WEIGHT_LIMIT);
    assert_eq!(params.min_allowed_weights, DEFAULT_MIN_ALLOWED_WEIGHTS);
    assert_eq!(max_weight_limit_to_u16(6553.0 / 65535.0), 6553);
}

// ---------------------------------------------------------------------------
// Fixture cases produced by the SDK's own code
// ---------------------------------------------------------------------------

#[test]
fn fixtures_cover_every_branch_and_pairwise_sizes() {
    let cases = process_cases();
    for branch in [
        ProcessBranch::Normalize,
        ProcessBranch::UniformFallback,
        ProcessBranch::MinAllowedFallback,
    ] {
        assert!(
            cases.iter().filter(|c| c.branch == branch).count() >= 5,
            "too few {branch:?} cases"
        );
    }
    let normalized_len = |c: &Case| c.processed_uids.len();
    assert!(cases.iter().any(|c| c.branch == ProcessBranch::Normalize
        && normalized_len(c) > 8
        && normalized_len(c) <= 128));
    assert!(
        cases
            .iter()
            .any(|c| c.branch == ProcessBranch::Normalize && normalized_len(c) > 1000)
    );
    assert!(
        cases
            .iter()
            .any(|c| c.branch == ProcessBranch::MinAllowedFallback && c.uids.len() > 128)
    );
    // The max-weight limit is active (clamping) in some normalised cases:
    // the largest processed weight then sits at the limit, not above it.
    let clamped = cases
        .iter()
        .filter(|c| {
            c.branch == ProcessBranch::Normalize
                && c.uids.len() as f64 * c.limit() > 1.0
                && c.limit() < 1.0
                && {
                    let scores = c.scores();
                    let positive: Vec<f64> = scores
                        .iter()
                        .filter(|&&s| s > 0.0)
                        .map(|&s| f64::from(s))
                        .collect();
                    let total: f64 = positive.iter().sum();
                    positive.iter().any(|&s| s / total > c.limit())
                }
        })
        .count();
    assert!(clamped >= 10, "only {clamped} cases exercise the cutoff");
}

#[test]
fn process_weights_matches_sdk_bit_for_bit() {
    let cases = process_cases();
    assert!(cases.len() >= 100);
    for case in &cases {
        let scores = case.scores();
        let processed =
            process_weights(&case.uids, &scores, case.limit(), case.min_allowed_weights)
                .unwrap_or_else(|e| panic!("{}: {e}", case.name));
        assert_eq!(processed.branch, case.branch, "{}: branch", case.name);
        let expected_precision = match case.processed_dtype.as_str() {
            "float32" => Precision::Float32,
            "float64" => Precision::Float64,
            other => panic!("{}: unexpected dtype {other}", case.name),
        };
        assert_eq!(
            processed.precision, expected_precision,
            "{}: dtype",
            case.name
        );
        assert_eq!(processed.uids, case.processed_uids, "{}: uids", case.name);
        let got: Vec<u64> = processed.weights.iter().map(|w| w.to_bits()).collect();
        if got != case.processed_weights_f64_bits {
            let first = got
                .iter()
                .zip(&case.processed_weights_f64_bits)
                .position(|(a, b)| a != b);
            panic!(
                "{}: processed weights differ (lengths {} vs {}), first at {:?}: {:?} vs {:?}",
                case.name,
                got.len(),
                case.processed_weights_f64_bits.len(),
                first,
                first.map(|i| processed.weights[i]),
                first.map(|i| f64::from_bits(case.processed_weights_f64_bits[i])),
            );
        }
    }
}

#[test]
fn convert_for_emit_matches_sdk() {
    for case in process_cases() {
        let uids: Vec<i64> = case.processed_uids.iter().map(|&u| i64::from(u)).collect();
        let weights: Vec<f64> = case
            .processed_weights_f64_bits
            .iter()
            .map(|&b| f64::from_bits(b))
            .collect();
        let got = convert_weights_and_uids_for_emit(&uids, &weights);
        match &case.emit {
            Emit::Ok { uids, weights } => {
                assert_eq!(got, Ok((uids.clone(), weights.clone())), "{}", case.name)
            }
            Emit::Err { error } => assert!(got.is_err(), "{}: SDK raised {error}", case.name),
        }
    }
}

/// The entry point gives exactly the SDK's emitted weights, whatever the
/// chain will make of them.
#[test]
fn weights_for_emit_is_the_sdk_result() {
    let cases = process_cases();
    let mut compared = 0;
    for case in &cases {
        let Emit::Ok { uids, weights } = &case.emit else {
            continue;
        };
        let params = WeightParams {
            max_weight_limit: case.limit(),
            min_allowed_weights: case.min_allowed_weights,
        };
        assert_eq!(
            weights_for_emit_with(&case.uids, &case.scores(), &params),
            Ok((uids.clone(), weights.clone())),
            "{}",
            case.name
        );
        assert_eq!(
            weights_for_emit(
                &case.uids,
                &case.scores(),
                case.limit(),
                case.min_allowed_weights
            ),
            Ok((uids.clone(), weights.clone())),
            "{}",
            case.name
        );
        compared += 1;
    }
    assert!(compared + 2 >= cases.len(), "{compared} of {}", cases.len());
}

#[test]
fn numpy_pairwise_sums_match() {
    let sums = read_fixture::<SumsFixture>("sums.json").sums;
    assert!(sums.iter().any(|s| s.values_bits.len() > 1000));
    for case in sums {
        match case.dtype.as_str() {
            "float32" => {
                let values: Vec<f32> = case
                    .values_bits
                    .iter()
                    .map(|&b| f32::from_bits(u32::try_from(b).unwrap()))
                    .collect();
                let sum = numpy_sum_f32(&values);
                assert_eq!(
                    u64::from(sum.to_bits()),
                    case.sum_bits,
                    "float32 sum of {} values",
                    values.len()
                );
            }
            "float64" => {
                let values: Vec<f64> = case
                    .values_bits
                    .iter()
                    .map(|&b| f64::from_bits(b))
                    .collect();
                let sum = numpy_sum_f64(&values);
                assert_eq!(
                    sum.to_bits(),
                    case.sum_bits,
                    "float64 sum of {} values",
                    values.len()
                );
            }
            other => panic!("unexpected dtype {other}"),
        }
    }
}

// ---------------------------------------------------------------------------
// convert_weights_and_uids_for_emit: the SDK's validation
// ---------------------------------------------------------------------------

#[test]
fn emit_rejects_what_the_sdk_rejects() {
    assert_eq!(
        convert_weights_and_uids_for_emit(&[0, 1], &[0.5, -0.1]),
        Err(WeightError::NegativeWeight {
            index: 1,
            value: -0.1
        })
    );
    assert_eq!(
        convert_weights_and_uids_for_emit(&[0, -3], &[0.5, 0.1]),
        Err(WeightError::NegativeUid { index: 1, uid: -3 })
    );
    assert_eq!(
        convert_weights_and_uids_for_emit(&[0, 1, 2], &[0.5, 0.1]),
        Err(WeightError::LengthMismatch { uids: 3, values: 2 })
    );
    // The SDK checks negative weights before uids and lengths.
    assert!(matches!(
        convert_weights_and_uids_for_emit(&[-1], &[-1.0, 2.0]),
        Err(WeightError::NegativeWeight { .. })
    ));
    assert_eq!(
        convert_weights_and_uids_for_emit(&[], &[]),
        Err(WeightError::Empty)
    );
    assert!(matches!(
        convert_weights_and_uids_for_emit(&[0, 1], &[f64::NAN, 1.0]),
        Err(WeightError::NonFiniteWeight { index: 0, .. })
    ));
    assert!(matches!(
        convert_weights_and_uids_for_emit(&[0], &[f64::INFINITY]),
        Err(WeightError::NonFiniteWeight { .. })
    ));
    assert_eq!(
        convert_weights_and_uids_for_emit(&[0, 70_000], &[1.0, 1.0]),
        Err(WeightError::UidTooLarge {
            index: 1,
            uid: 70_000
        })
    );
    // "Nothing to set on chain."
    assert_eq!(
        convert_weights_and_uids_for_emit(&[4, 5], &[0.0, 0.0]),
        Ok((vec![], vec![]))
    );
}

// ---------------------------------------------------------------------------
// Hostile input to the entry point
// ---------------------------------------------------------------------------

#[test]
fn hostile_scores_are_typed_errors() {
    let uids = [0, 1, 2];
    assert!(matches!(
        weights_for_emit(&uids, &[0.1, f32::NAN, 0.2], 1.0, 0),
        Err(WeightError::NonFiniteScore {
            index: 1,
            uid: 1,
            ..
        })
    ));
    assert!(matches!(
        weights_for_emit(&uids, &[0.1, 0.3, f32::INFINITY], 1.0, 0),
        Err(WeightError::NonFiniteScore { index: 2, .. })
    ));
    assert!(matches!(
        weights_for_emit(&uids, &[f32::NEG_INFINITY, 0.3, 0.1], 1.0, 0),
        Err(WeightError::NonFiniteScore { index: 0, .. })
    ));
    assert_eq!(
        weights_for_emit(&uids, &[0.1, -0.5, 0.2], 1.0, 0),
        Err(WeightError::NegativeScore {
            index: 1,
            uid: 1,
            value: -0.5
        })
    );
    // Negative zero is zero.
    assert_eq!(
        weights_for_emit(&uids, &[0.5, -0.0, 1.0], 1.0, 0),
        weights_for_emit(&uids, &[0.5, 0.0, 1.0], 1.0, 0)
    );
    assert_eq!(
        weights_for_emit(&uids, &[0.1, 0.2], 1.0, 0),
        Err(WeightError::LengthMismatch { uids: 3, values: 2 })
    );
    assert_eq!(
        weights_for_emit(&[0, 1, 1], &[0.1, 0.2, 0.3], 1.0, 0),
        Err(WeightError::DuplicateUid { uid: 1 })
    );
    assert_eq!(
        weights_for_emit(&[0, 1, 7], &[0.1, 0.2, 0.3], 1.0, 0),
        Err(WeightError::UidOutOfRange { uid: 7, n: 3 })
    );
    assert_eq!(weights_for_emit(&[], &[], 1.0, 0), Err(WeightError::Empty));
    let many_uids: Vec<u16> = (0..=MAX_UIDS).map(|i| i as u16).collect();
    let many_scores = vec![1.0_f32; MAX_UIDS + 1];
    assert_eq!(
        weights_for_emit(&many_uids, &many_scores, 1.0, 0),
        Err(WeightError::TooManyUids {
            len: MAX_UIDS + 1,
            max: MAX_UIDS
        })
    );
    for bad in [0.0, -0.1, 1.5, f64::NAN, f64::INFINITY] {
        assert!(
            matches!(
                weights_for_emit(&uids, &[0.1, 0.2, 0.3], bad, 0),
                Err(WeightError::InvalidMaxWeightLimit(_))
            ),
            "limit {bad}"
        );
    }
    assert_eq!(
        weights_for_emit(&[0, 1], &[3e38, 3e38], 1.0, 0),
        Err(WeightError::ScoreSumOverflow)
    );
}

#[test]
fn full_range_of_uids_is_accepted() {
    let uids: Vec<u16> = (0..MAX_UIDS).map(|i| i as u16).rev().collect();
    let scores: Vec<f32> = (0..MAX_UIDS).map(|i| (i % 97) as f32).collect();
    let (out_uids, out_weights) = weights_for_emit(&uids, &scores, 1.0, 0).unwrap();
    assert_eq!(out_uids.len(), out_weights.len());
    assert!(!out_uids.is_empty());
    assert_eq!(out_weights.iter().copied().max(), Some(u16::MAX));
}

#[test]
fn error_messages_are_readable() {
    let err = weights_for_emit(&[0, 1, 1], &[0.1, 0.2, 0.3], 1.0, 0).unwrap_err();
    assert_eq!(err.to_string(), "uid 1 occurs more than once");
}

/// The SDK's output where the tiny score rounds to 0 and is dropped: one
/// weight although two are the minimum (the chain will refuse it; see the
/// chain's validity tests).
#[test]
fn sdk_output_may_fall_below_min_allowed() {
    assert_eq!(
        weights_for_emit(&[0, 1], &[1.0, 1e-6], 1.0, 2),
        Ok((vec![0], vec![65535]))
    );
}

// ---------------------------------------------------------------------------
// JSON types of `medmetric weights`
// ---------------------------------------------------------------------------

#[test]
fn json_round_trip() {
    let input: ScoresFile =
        serde_json::from_str(r#"{"uids":[0,1,2,3],"scores":[0.1,0.2,0.3,0.4]}"#).unwrap();
    let output = input.to_weights(&WeightParams::default()).unwrap();
    assert_eq!(
        output,
        WeightsFile {
            uids: vec![0, 1, 2, 3],
            weights: vec![16384, 32768, 49151, 65535]
        }
    );
    assert_eq!(
        serde_json::to_string(&output).unwrap(),
        r#"{"uids":[0,1,2,3],"weights":[16384,32768,49151,65535]}"#
    );
    assert!(serde_json::from_str::<ScoresFile>(r#"{"uids":[0],"scores":[1],"x":1}"#).is_err());
    assert!(serde_json::from_str::<ScoresFile>(r#"{"uids":[-1],"scores":[1]}"#).is_err());
    assert!(serde_json::from_str::<ScoresFile>(r#"{"uids":[65536],"scores":[1]}"#).is_err());
    // Out-of-range numbers are refused: by the parser, or as infinite f32.
    match serde_json::from_str::<ScoresFile>(r#"{"uids":[0,1],"scores":[1e39,1]}"#) {
        Err(e) => assert!(e.to_string().contains("out of range"), "{e}"),
        Ok(huge) => assert!(matches!(
            huge.to_weights(&WeightParams::default()),
            Err(WeightError::NonFiniteScore { index: 0, .. })
        )),
    }
}

#[test]
fn limit_ratio_to_u16() {
    // The inverse of the SDK's `u16_normalized_float`, for every u16.
    for k in 0..=u16::MAX {
        assert_eq!(max_weight_limit_to_u16(f64::from(k) / 65535.0), k);
    }
    // Other ratios go to the next chain value above.
    assert_eq!(max_weight_limit_to_u16(0.1), 6554);
    assert_eq!(max_weight_limit_to_u16(0.3), 19661);
    assert_eq!(max_weight_limit_to_u16(0.5), 32768);
    assert_eq!(max_weight_limit_to_u16(1e-9), 1);
    assert_eq!(max_weight_limit_to_u16(2.0), u16::MAX);
    assert_eq!(max_weight_limit_to_u16(-1.0), 0);
    assert_eq!(max_weight_limit_to_u16(f64::NAN), 0);
}

// ---------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------

fn score_strategy() -> impl Strategy<Value = f32> {
    prop_oneof![
        3 => Just(0.0_f32),
        6 => 0.0_f32..1.0,
        2 => 0.0_f32..1e6,
        1 => 1e-30_f32..1e-20,
        1 => prop::num::f32::POSITIVE | prop::num::f32::NORMAL | prop::num::f32::SUBNORMAL,
    ]
}

fn case_strategy() -> impl Strategy<Value = (Vec<u16>, Vec<f32>, WeightParams)> {
    (1_usize..300)
        .prop_flat_map(|n| {
            (
                Just((0..n as u16).collect::<Vec<u16>>()).prop_shuffle(),
                prop::collection::vec(score_strategy(), n),
                // Either the default or a chain value k / 65535.
                prop_oneof![
                    Just(1.0_f64),
                    (1_u16..=u16::MAX).prop_map(|k| f64::from(k) / 65535.0),
                ],
                0_usize..(n + 3),
            )
        })
        .prop_map(|(uids, scores, max_weight_limit, min_allowed_weights)| {
            let params = WeightParams {
                max_weight_limit,
                min_allowed_weights,
            };
            (uids, scores, params)
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn emitted_weights_are_valid(
        (uids, scores, params) in case_strategy()
    ) {
        let result = weights_for_emit_with(&uids, &scores, &params);
        // Deterministic.
        prop_assert_eq!(&result, &weights_for_emit_with(&uids, &scores, &params));
        match result {
            Ok((out_uids, out_weights)) => {
                prop_assert_eq!(out_uids.len(), out_weights.len());
                // Zeros are dropped; the largest weight is max-upscaled.
                prop_assert!(out_weights.iter().all(|&w| w > 0));
                prop_assert_eq!(out_weights.iter().copied().max(), Some(u16::MAX));
                // Uids come from the input, in input order.
                let positions: Vec<usize> = out_uids
                    .iter()
                    .map(|u| uids.iter().position(|x| x == u).unwrap())
                    .collect();
                prop_assert!(positions.windows(2).all(|w| w[0] < w[1]));
            }
            // Valid input can only fail where the scores overflow float32.
            Err(WeightError::ScoreSumOverflow) => {}
            Err(other) => prop_assert!(false, "unexpected error {other}"),
        }
    }

    #[test]
    fn default_params_always_succeed_on_moderate_scores(
        scores in prop::collection::vec(0.0_f32..1000.0, 1..400)
    ) {
        let uids: Vec<u16> = (0..scores.len() as u16).collect();
        let (out_uids, out_weights) =
            weights_for_emit(&uids, &scores, DEFAULT_MAX_WEIGHT_LIMIT, DEFAULT_MIN_ALLOWED_WEIGHTS)
                .unwrap();
        prop_assert!(!out_uids.is_empty());
        // Exactly the uids whose score survives rounding are kept.
        prop_assert!(out_uids.iter().all(|&u| scores[usize::from(u)] > 0.0));
        prop_assert!(out_weights.iter().all(|&w| w >= 1));
    }

    #[test]
    fn processed_weights_sum_to_about_one(
        (uids, scores, params) in case_strategy()
    ) {
        let processed =
            process_weights(&uids, &scores, params.max_weight_limit, params.min_allowed_weights);
        if let Ok(processed) = processed {
            let total: f64 = processed.weights.iter().sum();
            prop_assert!((total - 1.0).abs() < 1e-3, "sum {}", total);
            prop_assert!(processed.weights.iter().all(|&w| (0.0..=1.0).contains(&w)));
        }
    }
}
