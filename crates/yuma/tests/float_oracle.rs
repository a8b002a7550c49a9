//! Property test: the fixed-point epoch agrees with the `f64` oracle
//! (`tests/oracle`) on random subnets, up to rounding.

mod oracle;

use medmetric_yuma::{EpochInput, EpochOutput, EpochParams, run_epoch, stake_from_u64};
use proptest::prelude::*;

/// Tolerance on fractions (consensus, incentive, dividends, trust, stake).
const FRAC_TOL: f64 = 1e-6;
/// Tolerance on stored u16 bonds.
const BOND_TOL: i64 = 2;

/// One uid's random state: stake, last update, registration, permit,
/// weight row and bond row (`None` = no entry; an all-`None` row is empty).
type UidState = (u64, u64, u64, bool, Vec<Option<u16>>, Vec<Option<u16>>);

fn sparse_row(cells: &[Option<u16>]) -> Vec<(u16, u16)> {
    cells
        .iter()
        .enumerate()
        .filter_map(|(j, c)| c.map(|v| (j as u16, v)))
        .collect()
}

fn arb_params(n: usize) -> impl Strategy<Value = EpochParams> {
    (
        any::<u16>(),
        0u64..=1_000_000,
        prop_oneof![Just(0u16), Just(u16::MAX), any::<u16>()],
        any::<bool>(),
        any::<bool>(),
        (any::<u16>(), any::<u16>()),
        -3000i16..=3000,
        0u16..=(n as u16 + 2),
        1u64..=12,
        prop_oneof![Just(0u64), 0u64..=300],
        0u64..=5,
        proptest::option::weighted(0.2, 0u16..n as u16),
    )
        .prop_map(
            |(
                kappa,
                bma,
                penalty,
                yuma3,
                liquid,
                (a, b),
                steep,
                maxv,
                cutoff,
                thr,
                tempo,
                owner,
            )| {
                EpochParams {
                    kappa,
                    bonds_moving_average: bma,
                    bonds_penalty: penalty,
                    yuma3,
                    liquid_alpha: liquid,
                    alpha_low: a.min(b),
                    alpha_high: a.max(b),
                    alpha_sigmoid_steepness: steep,
                    max_allowed_validators: maxv,
                    activity_cutoff: cutoff,
                    stake_threshold: thr,
                    tempo,
                    owner_uid: owner,
                }
            },
        )
}

fn arb_uid(n: usize) -> impl Strategy<Value = UidState> {
    let cell = proptest::option::weighted(0.6, prop_oneof![Just(0u16), any::<u16>()]);
    (
        prop_oneof![Just(0u64), 1u64..=1000],
        0u64..=12,
        0u64..=6,
        proptest::bool::weighted(0.6),
        proptest::collection::vec(cell.clone(), n),
        proptest::collection::vec(cell, n),
    )
}

fn arb_input() -> impl Strategy<Value = EpochInput> {
    (1usize..=10)
        .prop_flat_map(|n| {
            (
                proptest::collection::vec(arb_uid(n), n),
                arb_params(n),
                5u64..=15,
                0u64..=12,
                0u64..=1_000_000_000_000,
            )
        })
        .prop_map(|(uids, params, block, lms, emission)| {
            let mut input = EpochInput::new(uids.len(), params);
            for (i, (stake, upd, reg, permit, w, b)) in uids.into_iter().enumerate() {
                input.stake[i] = stake_from_u64(stake);
                input.last_update[i] = upd;
                input.block_at_registration[i] = reg;
                input.validator_permit[i] = permit;
                input.weights[i] = sparse_row(&w);
                input.bonds[i] = sparse_row(&b);
            }
            input.current_block = block;
            input.last_mechanism_step_block = lms;
            input.emission = emission;
            input
        })
}

fn close(
    label: &str,
    fixed: &[medmetric_yuma::math::I32F32],
    float: &[f64],
) -> Result<(), TestCaseError> {
    prop_assert_eq!(fixed.len(), float.len());
    for (i, (a, b)) in fixed.iter().zip(float).enumerate() {
        let a = a.to_num::<f64>();
        prop_assert!(
            (a - b).abs() <= FRAC_TOL,
            "{}[{}]: fixed {} vs float {}",
            label,
            i,
            a,
            b
        );
    }
    Ok(())
}

fn close_rao(
    label: &str,
    fixed: &[u64],
    float: &[f64],
    emission: u64,
) -> Result<(), TestCaseError> {
    let tol = 1e-6 * emission as f64 + 2.0;
    for (i, (&a, &b)) in fixed.iter().zip(float).enumerate() {
        prop_assert!(
            (a as f64 - b).abs() <= tol,
            "{}[{}]: fixed {} vs float {}",
            label,
            i,
            a,
            b
        );
    }
    Ok(())
}

fn compare(input: &EpochInput, out: &EpochOutput) -> Result<(), TestCaseError> {
    let f = oracle::float_epoch(input);
    prop_assume!(!f.ambiguous);
    prop_assert_eq!(&out.validator_permit, &f.validator_permit);
    close("stake", &out.stake, &f.stake)?;
    close("active_stake", &out.active_stake, &f.active_stake)?;
    close("consensus", &out.consensus, &f.consensus)?;
    close("validator_trust", &out.validator_trust, &f.validator_trust)?;
    close("incentive", &out.incentive, &f.incentive)?;
    close("dividends", &out.dividends, &f.dividends)?;
    close_rao(
        "server_emission",
        &out.server_emission,
        &f.server_emission,
        input.emission,
    )?;
    close_rao(
        "validator_emission",
        &out.validator_emission,
        &f.validator_emission,
        input.emission,
    )?;
    close_rao("emission", &out.emission, &f.emission, input.emission)?;
    for (i, (ra, rb)) in out.bonds_dense().iter().zip(&f.bonds).enumerate() {
        for (j, (&a, &b)) in ra.iter().zip(rb).enumerate() {
            prop_assert!(
                (i64::from(a) - i64::from(b)).abs() <= BOND_TOL,
                "bonds[{}][{}]: fixed {} vs float {}",
                i,
                j,
                a,
                b
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, max_global_rejects: 4096, ..ProptestConfig::default() })]

    /// One epoch from a random state.
    #[test]
    fn fixed_point_epoch_matches_float_oracle(input in arb_input()) {
        let out = run_epoch(&input).expect("generated input is valid");
        compare(&input, &out)?;
    }

    /// Three consecutive epochs, carrying the fixed-point bonds and permits
    /// forward (both models see the same state each epoch).
    #[test]
    fn fixed_point_epochs_match_float_oracle_over_time(input in arb_input()) {
        let mut state = input;
        for _ in 0..3 {
            let out = run_epoch(&state).expect("generated input is valid");
            compare(&state, &out)?;
            state.apply(&out);
            state.last_mechanism_step_block = state.current_block;
            state.current_block += 1;
        }
    }
}
