//! Subtensor's weight validity rules (`medmetric_chain::validity`): the
//! chain's own unit-test vectors, and the SDK's output on the fixtures
//! `scripts/gen_weight_fixtures.py` produced from the SDK's own
//! `weight_utils.py` (kept with the SDK port in
//! `crates/scoring/tests/fixtures/weights/`), checked the way the chain
//! checks it.

use std::path::PathBuf;

use medmetric_chain::Rejection;
use medmetric_chain::validity::{
    CHAIN_ENFORCED_MAX_WEIGHT_LIMIT, ChainWeightParams, check_length, check_set_weights,
    check_vec_max_limited, is_self_weight, max_weight_limited, vec_u16_max_upscale_to_u16,
};
use medmetric_scoring::weights::{
    DEFAULT_MAX_WEIGHT_LIMIT, ProcessBranch, WeightError, WeightParams, max_weight_limit_to_u16,
    weights_for_emit, weights_for_emit_with,
};
use proptest::prelude::*;
use serde::Deserialize;

// ---------------------------------------------------------------------------
// Chain-side checks, against subtensor's own test vectors
// ---------------------------------------------------------------------------

#[test]
fn subtensor_check_vec_max_limited_vectors() {
    let max = u16::MAX;
    assert!(check_vec_max_limited(&[], 0));
    assert!(check_vec_max_limited(&[], max));
    assert!(check_vec_max_limited(&[max], max));
    assert!(!check_vec_max_limited(&[max], max - 1));
    assert!(!check_vec_max_limited(&[max], 0));
    assert!(check_vec_max_limited(&[0], max));
    assert!(check_vec_max_limited(&[0, max], max));
    assert!(!check_vec_max_limited(&[0, max, max], max / 2));
    assert!(check_vec_max_limited(&[0, max, max], max / 2 + 1));
    assert!(!check_vec_max_limited(&[0, max, max, max], max / 3 - 1));
    assert!(check_vec_max_limited(&[0, max, max, max], max / 3));
}

#[test]
fn subtensor_vec_u16_max_upscale_vectors() {
    let cases: [(&[u16], &[u16]); 10] = [
        (&[], &[]),
        (&[0], &[0]),
        (&[0, 0], &[0, 0]),
        (&[1], &[65535]),
        (&[0, 1], &[0, 65535]),
        (&[65534], &[65535]),
        (&[65535], &[65535]),
        (&[65535, 65535], &[65535, 65535]),
        (&[0, 1, 65534], &[0, 1, 65535]),
        (
            &[0, 1, 2, 3, 4, 65533, 65535],
            &[0, 1, 2, 3, 4, 65533, 65535],
        ),
    ];
    for (input, expected) in cases {
        assert_eq!(vec_u16_max_upscale_to_u16(input), expected, "{input:?}");
    }
}

#[test]
fn subtensor_length_and_self_weight_vectors() {
    // test_check_length_allows_singleton / _weights_length_exceeds_min_allowed
    let params = |n, min| ChainWeightParams {
        subnet_n: n,
        min_allowed_weights: min,
        max_weight_limit: u16::MAX,
    };
    assert!(check_length(&params(8, 1), Some(1), &[1], &[1]));
    assert!(check_length(&params(8, 3), Some(1), &[1, 2, 3], &[1, 2, 3]));
    // test_check_length_to_few_weights: 7 registered, minimum 3, 2 weights.
    assert!(!check_length(&params(7, 3), Some(1), &[1, 2], &[1, 2]));
    // The minimum is capped at the subnet size.
    assert!(check_length(&params(2, 3), None, &[0, 1], &[1, 2]));
    // A lone weight on oneself is always allowed, on anyone else it is not.
    assert!(check_length(&params(8, 5), Some(4), &[4], &[7]));
    assert!(!check_length(&params(8, 5), Some(3), &[4], &[7]));
    assert!(!check_length(&params(8, 5), None, &[4], &[7]));
    assert!(is_self_weight(Some(2), &[2], &[0]));
    assert!(!is_self_weight(Some(2), &[2, 3], &[1, 1]));
    // test_max_weight_limited_allow_self_weights_to_exceed_max_weight_limit
    assert!(max_weight_limited(0, Some(1), &[1], &[0]));
    // test_max_weight_limited_when_weight_limit_is_u16_max
    assert!(max_weight_limited(
        u16::MAX,
        Some(1),
        &[1, 2, 3],
        &[u16::MAX; 3]
    ));
    assert!(!max_weight_limited(
        u16::MAX / 2,
        None,
        &[1, 2],
        &[u16::MAX, 1]
    ));
}

#[test]
fn check_set_weights_reports_the_pallet_error() {
    let params = ChainWeightParams {
        subnet_n: 4,
        min_allowed_weights: 2,
        max_weight_limit: u16::MAX / 2,
    };
    assert_eq!(
        check_set_weights(&params, None, &[0, 1], &[1]),
        Err(Rejection::WeightVecNotEqualSize { uids: 2, values: 1 })
    );
    assert_eq!(
        check_set_weights(&params, None, &[0, 1, 2, 3, 0], &[1; 5]),
        Err(Rejection::UidsLengthExceedUidsInSubNet {
            len: 5,
            subnet_n: 4
        })
    );
    assert_eq!(
        check_set_weights(&params, None, &[0, 2, 2], &[1; 3]),
        Err(Rejection::DuplicateUids { uid: 2 })
    );
    assert_eq!(
        check_set_weights(&params, None, &[0, 4], &[1; 2]),
        Err(Rejection::UidVecContainInvalidOne {
            uid: 4,
            subnet_n: 4
        })
    );
    assert_eq!(
        check_set_weights(&params, None, &[0], &[1]),
        Err(Rejection::WeightVecLengthIsLow {
            len: 1,
            min_allowed: 2
        })
    );
    assert!(matches!(
        check_set_weights(&params, None, &[0, 1], &[65535, 10]),
        Err(Rejection::MaxWeightExceeded { limit: 32767, .. })
    ));
    // Values come back max-upscaled, as the chain stores them.
    assert_eq!(
        check_set_weights(&params, None, &[0, 1, 3], &[1, 1, 1]),
        Ok(vec![65535, 65535, 65535])
    );
    assert_eq!(
        check_set_weights(&params, Some(3), &[3], &[9]),
        Ok(vec![65535])
    );
}

#[test]
fn the_chain_enforces_no_max_weight_limit_today() {
    // Current subtensor hard-codes `get_max_weight_limit` to u16::MAX, the
    // SDK's default ratio of 1.0.
    assert_eq!(CHAIN_ENFORCED_MAX_WEIGHT_LIMIT, u16::MAX);
    assert_eq!(
        max_weight_limit_to_u16(DEFAULT_MAX_WEIGHT_LIMIT),
        CHAIN_ENFORCED_MAX_WEIGHT_LIMIT
    );
    assert!(max_weight_limited(
        CHAIN_ENFORCED_MAX_WEIGHT_LIMIT,
        None,
        &[0, 1],
        &[u16::MAX, 0]
    ));
}

#[test]
fn rejections_read_like_the_pallet() {
    let err = Rejection::WeightVecLengthIsLow {
        len: 1,
        min_allowed: 2,
    };
    assert!(err.to_string().starts_with("WeightVecLengthIsLow"));
    let err = check_set_weights(
        &ChainWeightParams {
            subnet_n: 2,
            min_allowed_weights: 0,
            max_weight_limit: 100,
        },
        None,
        &[0, 1],
        &[65535, 1],
    )
    .unwrap_err();
    assert!(err.to_string().contains("MaxWeightExceeded"), "{err}");
    // The chain's error crosses the wire in this shape.
    assert_eq!(
        serde_json::to_value(&err).unwrap(),
        serde_json::json!({"error": "MaxWeightExceeded", "limit": 100})
    );
}

// ---------------------------------------------------------------------------
// The SDK's output, checked as the chain checks it
// ---------------------------------------------------------------------------

fn fixture_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../scoring/tests/fixtures/weights")
        .join(name)
}

#[derive(Deserialize)]
struct ProcessFixture {
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    uids: Vec<u16>,
    max_weight_limit_f64_bits: u64,
    min_allowed_weights: usize,
    branch: ProcessBranch,
    emit: Emit,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Emit {
    Ok { uids: Vec<u16>, weights: Vec<u16> },
    Err {},
}

impl Case {
    fn limit(&self) -> f64 {
        f64::from_bits(self.max_weight_limit_f64_bits)
    }
}

fn process_cases() -> Vec<Case> {
    let path = fixture_path("process.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str::<ProcessFixture>(&text)
        .unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
        .cases
}

/// What the chain says to the SDK's result for a fixture case, with the
/// max-weight limit as today (`u16::MAX`) or enforced as the SDK read it.
fn verdict(
    case: &Case,
    uids: &[u16],
    weights: &[u16],
    strict: bool,
) -> Result<Vec<u16>, Rejection> {
    let chain = ChainWeightParams {
        subnet_n: case.uids.len(),
        min_allowed_weights: case.min_allowed_weights,
        max_weight_limit: if strict {
            max_weight_limit_to_u16(case.limit())
        } else {
            CHAIN_ENFORCED_MAX_WEIGHT_LIMIT
        },
    };
    check_set_weights(&chain, None, uids, weights)
}

/// The SDK's emitted weights pass the chain's checks as they are today
/// except where `min_allowed_weights` cannot be met; with the max-weight
/// limit enforced on chain, u16 rounding pushes capped shares over it.
#[test]
fn sdk_results_against_the_chain_rules() {
    let cases = process_cases();
    let mut accepted_today = 0;
    let mut accepted_strict = 0;
    let mut binding_limit_rejected = 0;
    for case in &cases {
        let Emit::Ok { uids, weights } = &case.emit else {
            continue;
        };
        // (That the port gives exactly these SDK results is scoring's test.)
        match verdict(case, uids, weights, false) {
            Ok(stored) => {
                accepted_today += 1;
                // Already max-upscaled: the chain stores what was sent.
                assert_eq!(&stored, weights, "{}", case.name);
            }
            Err(reason) => assert!(
                matches!(reason, Rejection::WeightVecLengthIsLow { .. }),
                "{}: {reason}",
                case.name
            ),
        }
        match verdict(case, uids, weights, true) {
            Ok(_) => accepted_strict += 1,
            Err(Rejection::MaxWeightExceeded { .. })
                if case.branch == ProcessBranch::Normalize
                    && case.uids.len() as f64 * case.limit() > 1.0 =>
            {
                binding_limit_rejected += 1;
            }
            Err(_) => {}
        }
    }
    // Today only `min_allowed_weights` can make the chain refuse.
    assert!(
        accepted_today + 2 >= cases.len(),
        "{accepted_today} of {}",
        cases.len()
    );
    assert!(
        accepted_strict >= 90,
        "{accepted_strict} of {}",
        cases.len()
    );
    assert!(binding_limit_rejected >= 1);
}

/// A minimum the SDK's output cannot meet: the tiny score rounds to 0 and is
/// dropped, leaving one weight where two are required.
#[test]
fn sdk_output_below_min_allowed_is_rejected() {
    let (uids, weights) = weights_for_emit(&[0, 1], &[1.0, 1e-6], 1.0, 2).unwrap();
    assert_eq!(
        (uids.as_slice(), weights.as_slice()),
        (&[0][..], &[65535][..])
    );
    let params = ChainWeightParams {
        subnet_n: 2,
        min_allowed_weights: 2,
        max_weight_limit: CHAIN_ENFORCED_MAX_WEIGHT_LIMIT,
    };
    assert_eq!(
        check_set_weights(&params, None, &uids, &weights),
        Err(Rejection::WeightVecLengthIsLow {
            len: 1,
            min_allowed: 2
        })
    );
    // Unless the one weight is the validator's own.
    assert!(check_set_weights(&params, Some(0), &uids, &weights).is_ok());
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

/// Uids, scores, the SDK's parameters and the chain's max-weight limit
/// (today's, or the SDK's ratio enforced).
fn case_strategy() -> impl Strategy<Value = (Vec<u16>, Vec<f32>, WeightParams, u16)> {
    (1_usize..300).prop_flat_map(|n| {
        (
            Just((0..n as u16).collect::<Vec<u16>>()).prop_shuffle(),
            prop::collection::vec(score_strategy(), n),
            // Either the default or a chain value k / 65535.
            prop_oneof![
                Just(1.0_f64),
                (1_u16..=u16::MAX).prop_map(|k| f64::from(k) / 65535.0),
            ],
            0_usize..(n + 3),
            any::<bool>(),
        )
            .prop_map(
                |(uids, scores, max_weight_limit, min_allowed_weights, strict)| {
                    let chain_limit = if strict {
                        max_weight_limit_to_u16(max_weight_limit)
                    } else {
                        CHAIN_ENFORCED_MAX_WEIGHT_LIMIT
                    };
                    let params = WeightParams {
                        max_weight_limit,
                        min_allowed_weights,
                    };
                    (uids, scores, params, chain_limit)
                },
            )
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Whatever the SDK emits is well formed, and the chain either stores it
    /// unchanged or refuses it for a reason the SDK cannot see.
    #[test]
    fn emitted_weights_are_stored_as_sent_or_refused_for_cause(
        (uids, scores, params, chain_limit) in case_strategy()
    ) {
        match weights_for_emit_with(&uids, &scores, &params) {
            Ok((out_uids, out_weights)) => {
                prop_assert_eq!(out_uids.len(), out_weights.len());
                prop_assert!(out_weights.iter().all(|&w| w > 0));
                let chain = ChainWeightParams {
                    subnet_n: uids.len(),
                    min_allowed_weights: params.min_allowed_weights,
                    max_weight_limit: chain_limit,
                };
                match check_set_weights(&chain, None, &out_uids, &out_weights) {
                    Ok(stored) => prop_assert_eq!(stored, out_weights),
                    Err(Rejection::WeightVecLengthIsLow { len, min_allowed }) => {
                        prop_assert_eq!(len, out_weights.len());
                        prop_assert!(len < min_allowed);
                    }
                    Err(Rejection::MaxWeightExceeded { limit }) => {
                        prop_assert!(limit < u16::MAX);
                        prop_assert!(!check_vec_max_limited(&out_weights, limit));
                    }
                    Err(other) => prop_assert!(false, "unexpected rejection {other}"),
                }
            }
            Err(WeightError::ScoreSumOverflow) => {}
            Err(other) => prop_assert!(false, "unexpected error {other}"),
        }
    }

    /// A vector already max-upscaled is stored unchanged, and upscaling is
    /// idempotent.
    #[test]
    fn upscaling_is_idempotent(values in prop::collection::vec(any::<u16>(), 0..200)) {
        let once = vec_u16_max_upscale_to_u16(&values);
        prop_assert_eq!(vec_u16_max_upscale_to_u16(&once), once.clone());
        if values.iter().any(|&v| v > 0) {
            prop_assert_eq!(once.iter().copied().max(), Some(u16::MAX));
        }
    }

    /// The chain's fixed point, against substrate-fixed's (through Yuma).
    #[test]
    fn fixed_point_matches_substrate_fixed(
        values in prop::collection::vec(any::<u16>(), 0..300),
        limit in any::<u16>(),
    ) {
        prop_assert_eq!(
            vec_u16_max_upscale_to_u16(&values),
            medmetric_yuma::math::vec_u16_max_upscale_to_u16(&values)
        );
        prop_assert_eq!(
            check_vec_max_limited(&values, limit),
            medmetric_yuma::math::check_vec_max_limited(&values, limit)
        );
    }
}
