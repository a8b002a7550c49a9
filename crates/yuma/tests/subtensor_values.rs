//! Values from subtensor's own test-suite (`pallets/subtensor/src/tests/math.rs`
//! and `pallets/subtensor/src/tests/epoch.rs`), reproduced against this crate.
//!
//! Each test is named after the subtensor test it transcribes. Expected
//! values are copied from those tests; where subtensor compares with a
//! tolerance, the same tolerance is used here. Epoch tests rebuild the
//! chain state the subtensor test creates (registration blocks, weight
//! updates, permits, bonds carried between epochs) with a small harness,
//! [`Chain`], that mirrors the relevant extrinsics.

// subtensor writes many expected values as `f32` literals with more digits
// than `f32` holds; they are kept verbatim so that they convert to exactly
// the same fixed-point values as in subtensor's tests.
#![allow(clippy::excessive_precision)]

use medmetric_yuma::math::*;
use medmetric_yuma::{
    EpochInput, EpochOutput, EpochParams, activity_cutoff_blocks, run_epoch, stake_from_u64,
};

// ---------------------------------------------------------------------------
// Helpers (same meaning as the helpers in subtensor's tests/math.rs)
// ---------------------------------------------------------------------------

/// f32 literals to fixed, as subtensor's `vec_to_fixed`.
fn vf(values: &[f32]) -> Vec<I32F32> {
    values.iter().map(|&x| I32F32::from_num(x)).collect()
}

/// Row-major f32 data to a dense fixed matrix with `rows` rows, optionally
/// transposed (subtensor's `vec_to_mat_fixed`).
fn mat(values: &[f32], rows: usize, transpose: bool) -> Vec<Vec<I32F32>> {
    let cols = values.len() / rows;
    let at = |r: usize, c: usize| I32F32::from_num(values[r * cols + c]);
    if transpose {
        (0..cols)
            .map(|c| (0..rows).map(|r| at(r, c)).collect())
            .collect()
    } else {
        (0..rows)
            .map(|r| (0..cols).map(|c| at(r, c)).collect())
            .collect()
    }
}

/// Like [`mat`] but sparse, keeping only positive entries
/// (subtensor's `vec_to_sparse_mat_fixed`).
fn smat(values: &[f32], rows: usize, transpose: bool) -> SparseMatrix {
    let cols = values.len() / rows;
    let entry = |r: usize, c: usize, idx: usize| {
        let v = values[r * cols + c];
        (v > 0.).then(|| (idx as u16, I32F32::from_num(v)))
    };
    if transpose {
        (0..cols)
            .map(|c| (0..rows).filter_map(|r| entry(r, c, r)).collect())
            .collect()
    } else {
        (0..rows)
            .map(|r| (0..cols).filter_map(|c| entry(r, c, c)).collect())
            .collect()
    }
}

fn eps(x: f64) -> I32F32 {
    I32F32::from_num(x)
}

fn assert_close(a: I32F32, b: I32F32, tol: I32F32) {
    assert!((a - b).abs() <= tol, "{a} != {b} (tolerance {tol})");
}

fn assert_vec_close(a: &[I32F32], b: &[I32F32], tol: I32F32) {
    assert_eq!(a.len(), b.len(), "length mismatch: {a:?} vs {b:?}");
    for (x, y) in a.iter().zip(b) {
        assert_close(*x, *y, tol);
    }
}

fn assert_mat_close(a: &[Vec<I32F32>], b: &[Vec<I32F32>], tol: I32F32) {
    assert_eq!(a.len(), b.len());
    for (ra, rb) in a.iter().zip(b) {
        assert_vec_close(ra, rb, tol);
    }
}

fn assert_sparse_close(a: &[SparseRow], b: &[SparseRow], tol: I32F32) {
    assert_eq!(a.len(), b.len(), "row count: {a:?} vs {b:?}");
    for (ra, rb) in a.iter().zip(b) {
        assert_eq!(ra.len(), rb.len(), "row: {ra:?} vs {rb:?}");
        for ((ja, va), (jb, vb)) in ra.iter().zip(rb) {
            assert_eq!(ja, jb);
            assert_close(*va, *vb, tol);
        }
    }
}

// ---------------------------------------------------------------------------
// tests/math.rs
// ---------------------------------------------------------------------------

#[test]
fn test_vec_max_upscale_to_u16() {
    let cases: &[(&[f32], &[u16])] = &[
        (&[], &[]),
        (&[0.], &[0]),
        (&[0., 0.], &[0, 0]),
        (&[0., 1.], &[0, 65535]),
        (&[0., 0.000000001], &[0, 65535]),
        (&[0., 0.000016, 1.], &[0, 1, 65535]),
        (&[0.000000001, 0.000000001], &[65535, 65535]),
        (
            &[
                0.000001, 0.000006, 0.000007, 0.0001, 0.001, 0.01, 0.1, 0.2, 0.3, 0.4,
            ],
            &[0, 1, 1, 16, 164, 1638, 16384, 32768, 49151, 65535],
        ),
        (&[0., 1., 65535.], &[0, 1, 65535]),
        (&[0., 0.5, 1., 1.5, 2., 32768.], &[0, 1, 2, 3, 4, 65535]),
        (
            &[0., 0.5, 1., 1.5, 2., 32768., 32769.],
            &[0, 1, 2, 3, 4, 65533, 65535],
        ),
    ];
    for (input, target) in cases {
        assert_eq!(
            vec_max_upscale_to_u16(&vf(input)),
            *target,
            "input {input:?}"
        );
    }
    for single in [
        I32F32::from_num(16384),
        I32F32::from_num(32768),
        I32F32::from_num(32769),
        I32F32::from_num(65535),
        I32F32::max_value(),
    ] {
        assert_eq!(vec_max_upscale_to_u16(&[single]), vec![65535]);
    }
    let v = vec![
        I32F32::from_num(0),
        I32F32::from_num(1),
        I32F32::from_num(32768),
        I32F32::from_num(32769),
        I32F32::max_value(),
    ];
    assert_eq!(vec_max_upscale_to_u16(&v), vec![0, 0, 1, 1, 65535]);
}

#[test]
fn test_vec_u16_max_upscale_to_u16() {
    let same: &[&[u16]] = &[
        &[],
        &[0],
        &[0, 0],
        &[65535],
        &[65535, 65535],
        &[0, 1, 2, 3, 4, 65533, 65535],
    ];
    for v in same {
        assert_eq!(vec_u16_max_upscale_to_u16(v), *v);
    }
    let cases: &[(&[u16], &[u16])] = &[
        (&[1], &[65535]),
        (&[0, 1], &[0, 65535]),
        (&[65534], &[65535]),
        (&[0, 1, 65534], &[0, 1, 65535]),
    ];
    for (input, target) in cases {
        assert_eq!(vec_u16_max_upscale_to_u16(input), *target);
    }
}

#[test]
fn test_check_vec_max_limited() {
    let m = u16::MAX;
    let cases: &[(&[u16], u16, bool)] = &[
        (&[], 0, true),
        (&[], m, true),
        (&[m], m, true),
        (&[m], m - 1, false),
        (&[m], 0, false),
        (&[0], m, true),
        (&[0, m], m, true),
        (&[0, m, m], m / 2, false),
        (&[0, m, m], m / 2 + 1, true),
        (&[0, m, m, m], m / 3 - 1, false),
        (&[0, m, m, m], m / 3, true),
    ];
    for (v, limit, expected) in cases {
        assert_eq!(check_vec_max_limited(v, *limit), *expected, "{v:?} {limit}");
    }
}

#[test]
fn test_math_fixed_overflow() {
    // The bonds EMA coefficient for the default moving average of 900_000.
    assert_eq!(
        ema_alpha_from_moving_average(900_000),
        I32F32::from_num(0.1)
    );
    // A moving average of exactly one (bma / 10^6 = 1) gives alpha 0.
    assert_eq!(
        ema_alpha_from_moving_average(1_000_000),
        I32F32::from_num(0)
    );
}

#[test]
fn test_math_exp_safe() {
    let one = I32F32::from_num(1);
    let exp = |x: I32F32| -> I32F32 { substrate_fixed::transcendental::exp(x).unwrap() };
    assert_eq!(exp_safe(I32F32::from_num(0)), exp(I32F32::from_num(0)));
    assert_eq!(exp_safe(one), exp(one));
    let lo = I32F32::from_num(-20);
    let hi = I32F32::from_num(20);
    for x in [lo, lo - one, I32F32::min_value()] {
        assert_eq!(exp_safe(x), exp(lo));
    }
    for x in [hi, hi + one, I32F32::max_value()] {
        assert_eq!(exp_safe(x), exp(hi));
    }
}

#[test]
fn test_math_sigmoid_safe() {
    let trust = [
        I32F32::min_value(),
        I32F32::from_num(0),
        I32F32::from_num(0.4),
        I32F32::from_num(0.5),
        I32F32::from_num(0.6),
        I32F32::from_num(1),
        I32F32::max_value(),
    ];
    let run = |rho: I32F32, kappa: I32F32| -> Vec<I32F32> {
        trust.iter().map(|&t| sigmoid_safe(t, rho, kappa)).collect()
    };
    let tiny = 0.0000000019_f32;
    assert_eq!(
        run(I32F32::max_value(), I32F32::max_value()),
        vf(&[tiny, tiny, tiny, tiny, tiny, tiny, 0.5])
    );
    assert_eq!(
        run(I32F32::min_value(), I32F32::min_value()),
        vf(&[0.5, tiny, tiny, tiny, tiny, tiny, tiny])
    );
    let f64s = |v: &[f64]| v.iter().map(|&x| I32F32::from_num(x)).collect::<Vec<_>>();
    assert_eq!(
        run(I32F32::from_num(30), I32F32::from_num(0.5)),
        f64s(&[
            0.0000000019,
            0.0000003057,
            0.0474258729,
            0.5,
            0.952574127,
            0.9999996943,
            0.9999999981
        ])
    );
    let trust = vf(&[0., 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.]);
    let got: Vec<I32F32> = trust
        .iter()
        .map(|&t| sigmoid_safe(t, I32F32::from_num(40), I32F32::from_num(0.5)))
        .collect();
    assert_eq!(
        got,
        f64s(&[
            0.0000000019,
            0.0000001125,
            0.0000061442,
            0.0003353502,
            0.017986214,
            0.5,
            0.9820138067,
            0.9996646498,
            0.9999938558,
            0.9999998875,
            0.9999999981
        ])
    );
}

#[test]
fn test_math_is_topk() {
    assert!(is_topk(&vf(&[]), 5).is_empty());
    let v = vf(&[0., 1., 2., 3., 4., 5., 6., 7., 8., 9.]);
    assert_eq!(is_topk(&v, 0), vec![false; 10]);
    let (f, t) = (false, true);
    assert_eq!(is_topk(&v, 5), vec![f, f, f, f, f, t, t, t, t, t]);
    assert_eq!(is_topk(&v, 10), vec![t; 10]);
    assert_eq!(is_topk(&v, 100), vec![t; 10]);
    let v = vf(&[9., 8., 7., 6., 5., 4., 3., 2., 1., 0.]);
    assert_eq!(is_topk(&v, 5), vec![t, t, t, t, t, f, f, f, f, f]);
    let v = vf(&[9., 0., 8., 1., 7., 2., 6., 3., 5., 4.]);
    assert_eq!(is_topk(&v, 5), vec![t, f, t, f, t, f, t, f, t, f]);
    let v = vf(&[0.9, 0., 0.8, 0.1, 0.7, 0.2, 0.6, 0.3, 0.5, 0.4]);
    assert_eq!(is_topk(&v, 5), vec![t, f, t, f, t, f, t, f, t, f]);
    let v = vf(&[0., 1., 2., 3., 4., 5., 5., 5., 5., 6.]);
    assert_eq!(is_topk(&v, 5), vec![f, f, f, f, f, t, t, t, t, t]);
}

#[test]
fn test_math_sum() {
    assert_eq!(sum(&[]), I32F32::from_num(0));
    assert_eq!(sum(&vf(&[1., 10., 30.])), I32F32::from_num(41));
    assert_eq!(sum(&vf(&[-1., 10., 30.])), I32F32::from_num(39));
}

#[test]
fn test_math_normalize() {
    let e = eps(0.0001);
    assert!(normalize(&[]).is_empty());
    let y = normalize(&vf(&[1., 10., 30.]));
    assert_vec_close(&y, &vf(&[0.0243902437, 0.243902439, 0.7317073171]), e);
    assert_close(sum(&y), I32F32::from_num(1), e);
    let y = normalize(&vf(&[-1., 10., 30.]));
    assert_vec_close(&y, &vf(&[-0.0256410255, 0.2564102563, 0.769230769]), e);
    assert_close(sum(&y), I32F32::from_num(1), e);
}

#[test]
fn test_math_inplace_normalize() {
    let e = eps(0.0001);
    let mut x = vf(&[1., 10., 30.]);
    inplace_normalize(&mut x);
    assert_vec_close(&x, &vf(&[0.0243902437, 0.243902439, 0.7317073171]), e);
    let mut x = vf(&[-1., 10., 30.]);
    inplace_normalize(&mut x);
    assert_vec_close(&x, &vf(&[-0.0256410255, 0.2564102563, 0.769230769]), e);
}

#[test]
fn test_math_inplace_normalize_64() {
    let e = I64F64::from_num(0.0001);
    let to64 = |v: &[f64]| v.iter().map(|&x| I64F64::from_num(x)).collect::<Vec<_>>();
    let check = |input: &[f64], target: &[f64]| {
        let mut x = to64(input);
        inplace_normalize_64(&mut x);
        for (a, b) in x.iter().zip(to64(target)) {
            assert!((*a - b).abs() <= e, "{a} vs {b}");
        }
    };
    check(&[1., 10., 30.], &[0.0243902437, 0.243902439, 0.7317073171]);
    check(
        &[-1., 10., 30.],
        &[-0.0256410255, 0.2564102563, 0.769230769],
    );
}

#[test]
fn test_math_vecdiv() {
    assert!(vecdiv(&[], &[]).is_empty());
    assert_eq!(
        vecdiv(&vf(&[0., 1., 0., 1.]), &vf(&[0., 1., 1., 0.])),
        vf(&[0., 1., 0., 0.])
    );
    let f = |x: f32| fixed(x);
    assert_eq!(
        vecdiv(&vf(&[1., 1., 10.]), &vf(&[2., 3., 2.])),
        vec![f(1.) / f(2.), f(1.) / f(3.), f(5.)]
    );
}

const ROW_NORM_INPUT: [f32; 20] = [
    0., 1., 2., 3., 4., 0., 10., 100., 1000., 10000., 0., 0., 0., 0., 0., 1., 1., 1., 1., 1.,
];
const ROW_NORM_TARGET: [f32; 20] = [
    0., 0.1, 0.2, 0.3, 0.4, 0., 0.0009, 0.009, 0.09, 0.9, 0., 0., 0., 0., 0., 0.2, 0.2, 0.2, 0.2,
    0.2,
];
const SPARSE_NORM_INPUT: [f32; 42] = [
    0., 1., 0., 2., 0., 3., 4., 0., 1., 0., 2., 0., 3., 0., 1., 0., 0., 2., 0., 3., 4., 0., 10.,
    0., 100., 1000., 0., 10000., 0., 0., 0., 0., 0., 0., 0., 1., 1., 1., 1., 1., 1., 1.,
];
const SPARSE_NORM_TARGET: [f32; 42] = [
    0., 0.1, 0., 0.2, 0., 0.3, 0.4, 0., 0.166666, 0., 0.333333, 0., 0.5, 0., 0.1, 0., 0., 0.2, 0.,
    0.3, 0.4, 0., 0.0009, 0., 0.009, 0.09, 0., 0.9, 0., 0., 0., 0., 0., 0., 0., 0.142857, 0.142857,
    0.142857, 0.142857, 0.142857, 0.142857, 0.142857,
];
const ZEROS_12: [f32; 12] = [0.; 12];

#[test]
fn test_math_inplace_row_normalize() {
    let mut m = mat(&ROW_NORM_INPUT, 4, false);
    inplace_row_normalize(&mut m);
    assert_mat_close(&m, &mat(&ROW_NORM_TARGET, 4, false), eps(0.0001));
}

#[test]
fn test_math_inplace_row_normalize_sparse() {
    let mut m = smat(&SPARSE_NORM_INPUT, 6, false);
    inplace_row_normalize_sparse(&mut m);
    assert_sparse_close(&m, &smat(&SPARSE_NORM_TARGET, 6, false), eps(0.0001));
    let mut m = smat(&ZEROS_12, 3, false);
    inplace_row_normalize_sparse(&mut m);
    assert_sparse_close(&m, &smat(&ZEROS_12, 3, false), eps(0.));
}

#[test]
fn test_math_inplace_col_normalize() {
    let mut m = mat(&ROW_NORM_INPUT, 4, true);
    inplace_col_normalize(&mut m);
    assert_mat_close(&m, &mat(&ROW_NORM_TARGET, 4, true), eps(0.0001));
}

#[test]
fn test_math_inplace_col_normalize_sparse() {
    let mut m = smat(&SPARSE_NORM_INPUT, 6, true);
    inplace_col_normalize_sparse(&mut m, 6);
    assert_sparse_close(&m, &smat(&SPARSE_NORM_TARGET, 6, true), eps(0.0001));
    let mut m = smat(&ZEROS_12, 3, false);
    inplace_col_normalize_sparse(&mut m, 6);
    assert_sparse_close(&m, &smat(&ZEROS_12, 3, false), eps(0.));
    let mut m: SparseMatrix = vec![];
    inplace_col_normalize_sparse(&mut m, 0);
    assert!(m.is_empty());
}

#[test]
fn test_math_inplace_col_max_upscale() {
    let mut m: Vec<Vec<I32F32>> = vec![vec![]];
    inplace_col_max_upscale(&mut m);
    assert_eq!(m, vec![Vec::<I32F32>::new()]);
    let mut m = vec![vec![I32F32::from_num(0)]];
    inplace_col_max_upscale(&mut m);
    assert_eq!(m, vec![vec![I32F32::from_num(0)]]);
    let mut m = mat(&ROW_NORM_INPUT, 4, true);
    inplace_col_max_upscale(&mut m);
    let target = [
        0., 0.25, 0.5, 0.75, 1., 0., 0.001, 0.01, 0.1, 1., 0., 0., 0., 0., 0., 1., 1., 1., 1., 1.,
    ];
    assert_mat_close(&m, &mat(&target, 4, true), eps(0.0001));
}

#[test]
fn test_math_inplace_col_max_upscale_sparse() {
    let mut m: SparseMatrix = vec![vec![]];
    inplace_col_max_upscale_sparse(&mut m, 0);
    assert_eq!(m, vec![SparseRow::new()]);
    let mut m = vec![vec![(0u16, I32F32::from_num(0))]];
    inplace_col_max_upscale_sparse(&mut m, 1);
    assert_eq!(m, vec![vec![(0u16, I32F32::from_num(0))]]);
    let mut m = smat(&SPARSE_NORM_INPUT, 6, true);
    inplace_col_max_upscale_sparse(&mut m, 6);
    let target = [
        0., 0.25, 0., 0.5, 0., 0.75, 1., 0., 0.333333, 0., 0.666666, 0., 1., 0., 0.25, 0., 0., 0.5,
        0., 0.75, 1., 0., 0.001, 0., 0.01, 0.1, 0., 1., 0., 0., 0., 0., 0., 0., 0., 1., 1., 1., 1.,
        1., 1., 1.,
    ];
    assert_sparse_close(&m, &smat(&target, 6, true), eps(0.0001));
    let mut m = smat(&ZEROS_12, 3, false);
    inplace_col_max_upscale_sparse(&mut m, 6);
    assert_sparse_close(&m, &smat(&ZEROS_12, 3, false), eps(0.));
}

#[test]
fn test_math_inplace_mask_vector() {
    let cases: &[(&[bool], &[f32])] = &[
        (&[false, false, false], &[0., 1., 2.]),
        (&[false, true, false], &[0., 0., 2.]),
        (&[true, true, true], &[0., 0., 0.]),
    ];
    for (mask, target) in cases {
        let mut v = vf(&[0., 1., 2.]);
        inplace_mask_vector(mask, &mut v);
        assert_eq!(v, vf(target));
    }
}

const NINE: [f32; 9] = [1., 2., 3., 4., 5., 6., 7., 8., 9.];
const NINE_DIAG_ZERO: [f32; 9] = [0., 2., 3., 4., 0., 6., 7., 8., 0.];

#[test]
fn test_math_inplace_mask_matrix() {
    let input = [0., 1., 2., 3., 4., 5., 6., 7., 8.];
    let (f, t) = (false, true);
    let cases: Vec<(Vec<Vec<bool>>, [f32; 9])> = vec![
        (vec![vec![f; 3]; 3], input),
        (
            vec![vec![t, f, f], vec![f, t, f], vec![f, f, t]],
            [0., 1., 2., 3., 0., 5., 6., 7., 0.],
        ),
        (vec![vec![t; 3]; 3], [0.; 9]),
    ];
    for (mask, target) in cases {
        let mut m = mat(&input, 3, false);
        inplace_mask_matrix(&mask, &mut m);
        assert_eq!(m, mat(&target, 3, false));
    }
}

#[test]
fn test_math_inplace_mask_rows() {
    let cases: &[(&[bool], [f32; 9])] = &[
        (&[false, false, false], NINE),
        (&[true, true, true], [0.; 9]),
        (&[true, false, true], [0., 0., 0., 4., 5., 6., 0., 0., 0.]),
    ];
    for (mask, target) in cases {
        let mut m = mat(&NINE, 3, false);
        inplace_mask_rows(mask, &mut m);
        assert_eq!(m, mat(target, 3, false));
    }
    let mut m = mat(&[0.; 9], 3, false);
    inplace_mask_rows(&[false, false, false], &mut m);
    assert_eq!(m, mat(&[0.; 9], 3, false));
}

#[test]
fn test_math_inplace_mask_diag() {
    let mut m = mat(&NINE, 3, false);
    inplace_mask_diag(&mut m);
    assert_eq!(m, mat(&NINE_DIAG_ZERO, 3, false));
}

#[test]
fn test_math_inplace_mask_diag_except_index() {
    for i in 0..3usize {
        let mut target = NINE_DIAG_ZERO;
        target[i * 3 + i] = NINE[i * 3 + i];
        let mut m = mat(&NINE, 3, false);
        inplace_mask_diag_except_index(&mut m, i as u16);
        assert_eq!(m, mat(&target, 3, false));
    }
}

#[test]
fn test_math_mask_rows_sparse() {
    let m = smat(&NINE, 3, false);
    let cases: &[(&[bool], [f32; 9])] = &[
        (&[false, false, false], NINE),
        (&[true, true, true], [0.; 9]),
        (&[true, false, true], [0., 0., 0., 4., 5., 6., 0., 0., 0.]),
    ];
    for (mask, target) in cases {
        assert_eq!(mask_rows_sparse(mask, &m), smat(target, 3, false));
    }
    let zeros = smat(&[0.; 9], 3, false);
    assert_eq!(mask_rows_sparse(&[false, false, false], &zeros), zeros);
}

#[test]
fn test_math_mask_diag_sparse() {
    assert_eq!(
        mask_diag_sparse(&smat(&NINE, 3, false)),
        smat(&NINE_DIAG_ZERO, 3, false)
    );
    let diag = [1., 0., 0., 0., 5., 0., 0., 0., 9.];
    assert_eq!(
        mask_diag_sparse(&smat(&diag, 3, false)),
        smat(&[0.; 9], 3, false)
    );
    assert_eq!(
        mask_diag_sparse(&smat(&[0.; 9], 3, false)),
        smat(&[0.; 9], 3, false)
    );
}

#[test]
fn test_math_mask_diag_sparse_except_index() {
    let diag = [1., 0., 0., 0., 5., 0., 0., 0., 9.];
    for (input, base) in [(NINE, NINE_DIAG_ZERO), (diag, [0.; 9]), ([0.; 9], [0.; 9])] {
        let m = smat(&input, 3, false);
        for i in 0..3usize {
            let mut target = base;
            target[i * 3 + i] = input[i * 3 + i];
            assert_eq!(
                mask_diag_sparse_except_index(&m, i as u16),
                smat(&target, 3, false)
            );
        }
    }
}

#[test]
fn test_math_vec_mask_sparse_matrix() {
    let first = [1u64, 2, 3];
    let second = [1u64, 2, 3];
    let m = smat(&NINE, 3, false);
    assert_eq!(
        vec_mask_sparse_matrix(&m, &first, &second, &|a, b| a == b),
        smat(&NINE_DIAG_ZERO, 3, false)
    );
    assert_eq!(
        vec_mask_sparse_matrix(&m, &first, &second, &|a, b| a < b),
        smat(&[1., 0., 0., 4., 5., 0., 7., 8., 9.], 3, false)
    );
    let z = smat(&[0.; 9], 3, false);
    assert_eq!(
        vec_mask_sparse_matrix(&z, &first, &second, &|a, b| a == b),
        z
    );
}

const TWELVE: [f32; 12] = [1., 2., 3., 4., 5., 6., 7., 8., 9., 10., 11., 12.];

#[test]
fn test_math_vec_mul() {
    let v = vf(&[1., 2., 3., 4.]);
    assert_eq!(vec_mul(&v, &v), vf(&[1., 4., 9., 16.]));
    assert!(vec_mul(&[], &v).is_empty());
    assert_eq!(vec_mul(&vf(&[0.; 8]), &v), vf(&[0.; 4]));
}

#[test]
fn test_math_mat_vec_mul() {
    let m = mat(&TWELVE, 4, false);
    let target = [1., 4., 9., 4., 10., 18., 7., 16., 27., 10., 22., 36.];
    assert_eq!(mat_vec_mul(&m, &vf(&[1., 2., 3.])), mat(&target, 4, false));
    let target = [1., 0., 0., 4., 0., 0., 7., 0., 0., 10., 0., 0.];
    assert_eq!(mat_vec_mul(&m, &vf(&[1., 0., 0.])), mat(&target, 4, false));
    assert_eq!(mat_vec_mul(&m, &[]), vec![Vec::<I32F32>::new(); 4]);
}

#[test]
fn test_math_mat_vec_mul_sparse() {
    let m = smat(&TWELVE, 4, false);
    let target = [1., 4., 9., 4., 10., 18., 7., 16., 27., 10., 22., 36.];
    assert_eq!(
        mat_vec_mul_sparse(&m, &vf(&[1., 2., 3.])),
        smat(&target, 4, false)
    );
    let target = [1., 0., 0., 4., 0., 0., 7., 0., 0., 10., 0., 0.];
    assert_eq!(
        mat_vec_mul_sparse(&m, &vf(&[1., 0., 0.])),
        smat(&target, 4, false)
    );
    assert_eq!(mat_vec_mul_sparse(&m, &[]), vec![SparseRow::new(); 4]);
}

#[test]
fn test_math_row_hadamard() {
    let result = row_hadamard(&mat(&TWELVE, 4, false), &vf(&[1., 2., 3., 4.]));
    let target = [1., 2., 3., 8., 10., 12., 21., 24., 27., 40., 44., 48.];
    assert_eq!(result, mat(&target, 4, false));
}

#[test]
fn test_math_row_hadamard_sparse() {
    let v = vf(&[1., 2., 3., 4.]);
    let cases: [([f32; 12], [f32; 12]); 3] = [
        (
            TWELVE,
            [1., 2., 3., 8., 10., 12., 21., 24., 27., 40., 44., 48.],
        ),
        (
            [0., 2., 3., 4., 0., 6., 7., 8., 0., 10., 11., 12.],
            [0., 2., 3., 8., 0., 12., 21., 24., 0., 40., 44., 48.],
        ),
        ([0.; 12], [0.; 12]),
    ];
    for (input, target) in cases {
        assert_eq!(
            row_hadamard_sparse(&smat(&input, 4, false), &v),
            smat(&target, 4, false)
        );
    }
}

#[test]
fn test_math_row_sum() {
    assert_eq!(row_sum(&mat(&TWELVE, 4, false)), vf(&[6., 15., 24., 33.]));
}

#[test]
fn test_math_row_sum_sparse() {
    let cases: [([f32; 12], [f32; 4]); 4] = [
        (TWELVE, [6., 15., 24., 33.]),
        (
            [0., 2., 3., 4., 0., 6., 7., 8., 0., 10., 11., 12.],
            [5., 10., 15., 33.],
        ),
        (
            [1., 2., 3., 0., 0., 0., 7., 8., 9., 10., 11., 12.],
            [6., 0., 24., 33.],
        ),
        ([0.; 12], [0.; 4]),
    ];
    for (input, target) in cases {
        assert_eq!(row_sum_sparse(&smat(&input, 4, false)), vf(&target));
    }
}

#[test]
fn test_math_matmul() {
    assert_eq!(
        matmul(&mat(&TWELVE, 4, false), &vf(&[1., 2., 3., 4.])),
        vf(&[70., 80., 90.])
    );
}

#[test]
fn test_math_matmul_transpose() {
    assert_eq!(
        matmul_transpose(&mat(&TWELVE, 4, false), &vf(&[1., 2., 3.])),
        vf(&[14., 32., 50., 68.])
    );
}

#[test]
fn test_math_sparse_matmul() {
    let v = vf(&[1., 2., 3., 4.]);
    let cases: [([f32; 12], [f32; 3]); 3] = [
        (TWELVE, [70., 80., 90.]),
        (
            [0., 2., 3., 4., 0., 6., 7., 8., 0., 10., 11., 12.],
            [69., 70., 63.],
        ),
        ([0.; 12], [0.; 3]),
    ];
    for (input, target) in cases {
        assert_eq!(matmul_sparse(&smat(&input, 4, false), &v, 3), vf(&target));
    }
}

#[test]
fn test_math_sparse_matmul_transpose() {
    let v = vf(&[1., 2., 3.]);
    let cases: [([f32; 12], [f32; 4]); 3] = [
        (TWELVE, [14., 32., 50., 68.]),
        (
            [0., 2., 3., 4., 0., 6., 7., 8., 0., 10., 11., 12.],
            [13., 22., 23., 68.],
        ),
        ([0.; 12], [0.; 4]),
    ];
    for (input, target) in cases {
        assert_eq!(
            matmul_transpose_sparse(&smat(&input, 4, false), &v),
            vf(&target)
        );
    }
}

#[test]
fn test_math_matmul2() {
    let e = eps(0.0001);
    let ones = vec![vec![I32F32::from_num(1.0); 3]; 3];
    let neg = vec![vec![I32F32::from_num(-1.0); 3]; 3];
    for (m, x, y) in [
        (&ones, 1.0, 3.),
        (&ones, 2.0, 6.),
        (&ones, 3.0, 9.),
        (&ones, -1.0, -3.),
        (&neg, 1.0, -3.),
        (&neg, 2.0, -6.),
        (&neg, 3.0, -9.),
        (&neg, -1.0, 3.),
    ] {
        assert_vec_close(&matmul(m, &vf(&[x; 3])), &vf(&[y; 3]), e);
    }
    let rows = mat(&[1., 1., 1., 2., 2., 2., 3., 3., 3.], 3, false);
    assert_vec_close(&matmul(&rows, &vf(&[0.; 3])), &vf(&[0.; 3]), e);
    assert_vec_close(&matmul(&rows, &vf(&[2.; 3])), &vf(&[12.; 3]), e);
    let cols = mat(&[1., 2., 3., 1., 2., 3., 1., 2., 3.], 3, false);
    assert_vec_close(&matmul(&cols, &vf(&[0.; 3])), &vf(&[0.; 3]), e);
    assert_vec_close(&matmul(&cols, &vf(&[2.; 3])), &vf(&[6., 12., 18.]), e);
}

#[test]
fn test_math_inplace_col_clip() {
    let mut m = mat(
        &[0., 2., 3., 4., 5., 6., 7., 8., 9., 10., 11., 12.],
        4,
        false,
    );
    inplace_col_clip(&mut m, &vf(&[0., 5., 12.]));
    let target = [0., 2., 3., 0., 5., 6., 0., 5., 9., 0., 5., 12.];
    assert_eq!(m, mat(&target, 4, false));
}

#[test]
fn test_math_col_clip_sparse() {
    let thresholds = vf(&[0., 5., 12.]);
    let cases: [([f32; 12], [f32; 12]); 3] = [
        (
            [0., 2., 3., 4., 5., 6., 7., 8., 9., 10., 11., 12.],
            [0., 2., 3., 0., 5., 6., 0., 5., 9., 0., 5., 12.],
        ),
        (
            [0., 2., 3., 4., 5., 6., 0., 0., 0., 10., 11., 12.],
            [0., 2., 3., 0., 5., 6., 0., 0., 0., 0., 5., 12.],
        ),
        ([0.; 12], [0.; 12]),
    ];
    for (input, target) in cases {
        assert_eq!(
            col_clip_sparse(&smat(&input, 4, false), &thresholds),
            smat(&target, 4, false)
        );
    }
}

/// The deterministic cases of subtensor's `test_math_weighted_median`
/// (its randomised part is replaced by the property test in
/// `tests/float_oracle.rs`).
#[test]
fn test_math_weighted_median() {
    let zero = fixed(0.);
    let one = fixed(1.);
    let median = |stake: &[I32F32], score: &[I32F32], majority: f32| {
        let idx: Vec<usize> = (0..stake.len()).collect();
        weighted_median(stake, score, &idx, one - fixed(majority), zero, sum(stake))
    };
    assert_eq!(median(&[], &[], 0.51), zero);
    assert_eq!(median(&normalize(&vf(&[0.51])), &vf(&[1.]), 0.51), one);
    let cases: &[(&[f32], &[f32], f32)] = &[
        (&[0.49, 0.51], &[0.5, 1.], 1.),
        (&[0.51, 0.49], &[0.5, 1.], 0.5),
        (&[0.49, 0., 0.51], &[0.5, 0.7, 1.], 1.),
        (&[0.49, 0.01, 0.5], &[0.5, 0.7, 1.], 0.7),
        (&[0.49, 0.51, 0.0], &[0.5, 0.7, 1.], 0.7),
        (&[0.0, 0.49, 0.51], &[0.5, 0.7, 1.], 1.),
        (&[0.0, 0.49, 0.0, 0.51], &[0.5, 0.5, 1., 1.], 1.),
        (&[0.0, 0.49, 0.0, 0.51, 0.0], &[0.5, 0.5, 1., 1., 0.5], 1.),
        (&[0.2, 0.2, 0.2, 0.2, 0.2], &[0.8, 0.2, 1., 0.6, 0.4], 0.6),
        (
            &[0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1],
            &[0.8, 0.8, 0.2, 0.2, 1.0, 1.0, 0.6, 0.6, 0.4, 0.4],
            0.6,
        ),
    ];
    for (stake, score, expected) in cases {
        assert_eq!(
            median(&vf(stake), &vf(score), 0.51),
            fixed(*expected),
            "{stake:?} {score:?}"
        );
    }
}

#[test]
fn test_math_weighted_median_col() {
    assert!(weighted_median_col(&[], &[vec![]], fixed(0.5)).is_empty());
    let w = mat(&[0., 0., 0., 0.], 2, false);
    assert_eq!(
        weighted_median_col(&vf(&[0., 0.]), &w, fixed(0.5)),
        vf(&[0., 0.])
    );

    let stake = vf(&[0., 0.75, 0.25, 0.]);
    let w = mat(
        &[0., 0.1, 0., 0., 0.2, 0.4, 0., 0.3, 0.1, 0., 0.4, 0.5],
        4,
        false,
    );
    assert_eq!(
        weighted_median_col(&stake, &w, fixed(0.24)),
        vf(&[0., 0.3, 0.4])
    );
    assert_eq!(
        weighted_median_col(&stake, &w, fixed(0.26)),
        vf(&[0., 0.2, 0.4])
    );
    assert_eq!(
        weighted_median_col(&stake, &w, fixed(0.76)),
        vf(&[0., 0.2, 0.1])
    );

    let stake = vf(&[0., 0.3, 0.2, 0.5]);
    let w = mat(
        &[0., 0.1, 0., 0., 0.2, 0.4, 0., 0.3, 0.1, 0., 0., 0.5],
        4,
        false,
    );
    assert_eq!(
        weighted_median_col(&stake, &w, fixed(0.51)),
        vf(&[0., 0., 0.4])
    );
}

#[test]
fn test_math_weighted_median_col_sparse() {
    assert!(weighted_median_col_sparse(&[], &[vec![]], 0, fixed(0.5)).is_empty());
    let w = smat(&[0., 0., 0., 0.], 2, false);
    assert_eq!(
        weighted_median_col_sparse(&vf(&[0., 0.]), &w, 2, fixed(0.5)),
        vf(&[0., 0.])
    );

    let stake = vf(&[0., 0.75, 0.25, 0.]);
    let w = smat(
        &[0., 0.1, 0., 0., 0.2, 0.4, 0., 0.3, 0.1, 0., 0.4, 0.5],
        4,
        false,
    );
    let m = |k: f32| weighted_median_col_sparse(&stake, &w, 3, fixed(k));
    assert_eq!(m(0.24), vf(&[0., 0.3, 0.4]));
    assert_eq!(m(0.26), vf(&[0., 0.2, 0.4]));
    assert_eq!(m(0.76), vf(&[0., 0.2, 0.1]));

    let stake = vf(&[0., 0.3, 0.2, 0.5]);
    let w = smat(
        &[0., 0.1, 0., 0., 0.2, 0.4, 0., 0.3, 0.1, 0., 0., 0.5],
        4,
        false,
    );
    assert_eq!(
        weighted_median_col_sparse(&stake, &w, 3, fixed(0.51)),
        vf(&[0., 0., 0.4])
    );
}

#[test]
fn test_math_interpolate() {
    let r = |x: f64| I32F32::from_num(x);
    assert_eq!(
        interpolate(&[vec![]], &[vec![]], r(0.)),
        vec![Vec::<I32F32>::new()]
    );
    let a = vec![vec![r(0.)]];
    let b = vec![vec![r(1.)]];
    assert_eq!(interpolate(&a, &b, r(0.)), a);
    assert_eq!(interpolate(&a, &b, r(1.)), b);

    let z = mat(&ZEROS_12, 4, false);
    assert_eq!(interpolate(&z, &z, r(0.)), z);
    assert_eq!(interpolate(&z, &z, r(1.)), z);

    let a = mat(&[1., 10., 100., 1000., 10000., 100000.], 3, false);
    let b = mat(&[10., 100., 1000., 10000., 100000., 1000000.], 3, false);
    assert_eq!(interpolate(&a, &b, r(0.)), a);
    let target = mat(&[9.1, 91., 910., 9100., 91000., 910000.], 3, false);
    assert_mat_close(&interpolate(&a, &b, r(0.9)), &target, eps(0.0001));

    let a = mat(&ZEROS_12, 4, false);
    let b = mat(&[1.; 12], 4, false);
    assert_eq!(interpolate(&a, &b, r(0.)), a);
    assert_eq!(
        interpolate(&a, &b, r(0.000000001)),
        mat(&[0.000000001; 12], 4, false)
    );
    assert_eq!(interpolate(&a, &b, r(0.5)), mat(&[0.5; 12], 4, false));
    assert_eq!(
        interpolate(&a, &b, r(0.9999998808)),
        mat(&[0.999_999_9; 12], 4, false)
    );
    assert_eq!(interpolate(&a, &b, r(1.)), mat(&[1.; 12], 4, false));
}

#[test]
fn test_math_interpolate_sparse() {
    let r = |x: f64| I32F32::from_num(x);
    assert_eq!(
        interpolate_sparse(&[vec![]], &[vec![]], 0, r(0.)),
        vec![SparseRow::new()]
    );
    let a = smat(&[0.], 1, false);
    let b = smat(&[1.], 1, false);
    assert_eq!(interpolate_sparse(&a, &b, 1, r(0.)), smat(&[0.], 1, false));
    assert_eq!(
        interpolate_sparse(&a, &b, 1, r(0.5)),
        smat(&[0.5], 1, false)
    );
    assert_eq!(interpolate_sparse(&a, &b, 1, r(1.)), smat(&[1.], 1, false));

    let z = smat(&ZEROS_12, 4, false);
    assert_eq!(interpolate_sparse(&z, &z, 3, r(0.)), z);
    assert_eq!(interpolate_sparse(&z, &z, 3, r(1.)), z);

    let a = smat(&[1., 0., 100., 1000., 10000., 100000.], 3, false);
    let b = smat(&[10., 100., 1000., 10000., 100000., 0.], 3, false);
    assert_eq!(interpolate_sparse(&a, &b, 2, r(0.)), a);
    let target = smat(&[9.1, 90., 910., 9100., 91000., 10000.], 3, false);
    assert_sparse_close(&interpolate_sparse(&a, &b, 2, r(0.9)), &target, eps(0.0001));

    let a = smat(&ZEROS_12, 4, false);
    let b = smat(&[1.; 12], 4, false);
    let cases: [(f64, f32); 5] = [
        (0., 0.),
        (0.000000001, 0.000000001),
        (0.5, 0.5),
        (0.9999998808, 0.999_999_9),
        (1., 1.),
    ];
    for (ratio, value) in cases {
        assert_eq!(
            interpolate_sparse(&a, &b, 3, r(ratio)),
            smat(&[value; 12], 4, false),
            "ratio {ratio}"
        );
    }
}

/// `(new, old, alpha, target)` on 4×3 matrices.
type EmaCase = ([f32; 12], [f32; 12], f32, [f32; 12]);
/// `(new, old, target, tolerance)` on 4×3 matrices, alpha 0.1.
type SparseEmaCase = ([f32; 12], [f32; 12], [f32; 12], f64);

#[test]
fn test_math_mat_ema_alpha() {
    let e = eps(1e-4);
    let cases: [EmaCase; 3] = [
        (
            [1., 2., 3., 4., 5., 6., 7., 8., 9., 10., 11., 12.],
            [
                0.1, 0.2, 3., 0.04, 0.05, 0.06, 0.07, 0.08, 0.09, 0.10, 0.11, 0.12,
            ],
            0.1,
            [
                0.19, 0.38, 1., 0.436, 0.545, 0.6539, 0.763, 0.8719, 0.981, 1., 1., 1.,
            ],
        ),
        (
            [
                10., 20., 30., 40., 50., 60., 70., 80., 90., 100., 110., 120.,
            ],
            [
                0.1, 0.2, 3., 0.04, 0.05, 0.06, 0.07, 0.08, 0.09, 0.10, 0.11, 0.12,
            ],
            0.,
            [
                0.10, 0.2, 1., 0.0399, 0.05, 0.0599, 0.07, 0.07999, 0.09, 0.1, 0.10999, 0.11999,
            ],
        ),
        (
            [
                0.1, 0.2, 3., 0.04, 0.05, 0.06, 0.07, 0.08, 0.09, 0.10, 0.11, 0.12,
            ],
            [
                0.001, 0.002, 0.003, 0.004, 0.05, 0.006, 0.007, 0.008, 0.009, 0.010, 0.011, 0.012,
            ],
            1.,
            [
                0.10, 0.2, 1., 0.0399, 0.05, 0.0599, 0.07, 0.07999, 0.09, 0.1, 0.10999, 0.11999,
            ],
        ),
    ];
    for (new, old, alpha, target) in cases {
        let result = mat_ema_alpha(
            &mat(&new, 4, false),
            &mat(&old, 4, false),
            &mat(&[alpha; 12], 4, false),
        );
        assert_mat_close(&result, &mat(&target, 4, false), e);
    }
}

#[test]
fn test_math_sparse_mat_ema_alpha() {
    let cases: [SparseEmaCase; 5] = [
        (
            [1., 2., 3., 4., 5., 6., 7., 8., 9., 10., 11., 12.],
            [
                0.1, 0.2, 3., 0.04, 0.05, 0.06, 0.07, 0.08, 0.09, 0.10, 0.11, 0.12,
            ],
            [
                0.19, 0.38, 1., 0.43599, 0.545, 0.65399, 0.763, 0.87199, 0.981, 1., 1., 1.,
            ],
            1e-4,
        ),
        (
            [
                0.1, 0.2, 3., 0.04, 0.05, 0.06, 0.07, 0.08, 0.09, 0.10, 0.11, 0.12,
            ],
            [
                0.001, 0.002, 0.003, 0.004, 0.05, 0.006, 0.007, 0.008, 0.009, 0.010, 0.011, 0.012,
            ],
            [
                0.0109, 0.0218, 0.30270, 0.007599, 0.05, 0.01139, 0.0133, 0.01519, 0.017, 0.01899,
                0.02089, 0.0227,
            ],
            1e-4,
        ),
        (
            [
                0.1, 0.2, 3., 0.04, 0.05, 0.06, 0.07, 0.08, 0.09, 0.10, 0.11, 0.12,
            ],
            [0.; 12],
            [
                0.01, 0.02, 0.3, 0.00399, 0.005, 0.00599, 0.007, 0.00799, 0.009, 0.01, 0.011,
                0.01199,
            ],
            1e-4,
        ),
        ([0.; 12], [0.; 12], [0.; 12], 1e-4),
        (
            [0., 0., 0., 0., 2., 0., 0., 0., 0., 0., 0., 0.],
            [1., 0., 0., 0., 0., 0., 0., 0., 0., 0., 0., 0.],
            [0.0, 0., 0., 0., 0.2, 0., 0., 0., 0., 0., 0., 0.],
            1e-1,
        ),
    ];
    for (new, old, target, tol) in cases {
        let result = mat_ema_alpha_sparse(
            &smat(&new, 4, false),
            &smat(&old, 4, false),
            &mat(&[0.1; 12], 4, false),
        );
        assert_sparse_close(&result, &smat(&target, 4, false), eps(tol));
    }
}

fn sp(rows: &[&[(u16, f64)]]) -> SparseMatrix {
    rows.iter()
        .map(|r| r.iter().map(|&(j, v)| (j, I32F32::from_num(v))).collect())
        .collect()
}

fn dm(rows: &[&[f64]]) -> Vec<Vec<I32F32>> {
    rows.iter()
        .map(|r| r.iter().map(|&v| I32F32::from_num(v)).collect())
        .collect()
}

#[test]
fn test_mat_ema_alpha_sparse_empty() {
    assert!(mat_ema_alpha_sparse(&[], &[], &[]).is_empty());
}

#[test]
fn test_mat_ema_alpha_sparse_single_element() {
    let r = mat_ema_alpha_sparse(&sp(&[&[(0, 1.0)]]), &sp(&[&[(0, 2.0)]]), &dm(&[&[0.5]]));
    assert_eq!(r, sp(&[&[(0, 1.0)]]));
}

#[test]
fn test_mat_ema_alpha_sparse_multiple_elements() {
    let new = sp(&[&[(0, 1.0), (1, 2.0)], &[(0, 3.0), (1, 4.0)]]);
    let old = sp(&[&[(0, 5.0), (1, 6.0)], &[(0, 7.0), (1, 8.0)]]);
    let r = mat_ema_alpha_sparse(&new, &old, &dm(&[&[0.1, 0.2], &[0.1, 0.2]]));
    let ones = sp(&[&[(0, 1.0), (1, 1.0)], &[(0, 1.0), (1, 1.0)]]);
    assert_sparse_close(&r, &ones, eps(0.000001));
}

#[test]
fn test_mat_ema_alpha_sparse_zero_alpha() {
    let r = mat_ema_alpha_sparse(
        &sp(&[&[(0, 1.0)]]),
        &sp(&[&[(0, 2.0)]]),
        &dm(&[&[0.1, 0.0]]),
    );
    assert_eq!(r, sp(&[&[(0, 1.0)]]));
}

#[test]
fn test_mat_ema_alpha_sparse_one_alpha() {
    let r = mat_ema_alpha_sparse(
        &sp(&[&[(0, 1.0)]]),
        &sp(&[&[(0, 2.0)]]),
        &dm(&[&[1.0, 0.0]]),
    );
    assert_eq!(r, sp(&[&[(0, 1.0)]]));
}

#[test]
fn test_mat_ema_alpha_sparse_mixed_alpha() {
    let new = sp(&[&[(0, 1.0), (1, 2.0)], &[(0, 3.0), (1, 4.0)]]);
    let old = sp(&[&[(0, 5.0), (1, 6.0)], &[(0, 7.0), (1, 8.0)]]);
    let r = mat_ema_alpha_sparse(&new, &old, &dm(&[&[0.3, 0.7], &[0.3, 0.7]]));
    let ones = sp(&[&[(0, 1.0), (1, 1.0)], &[(0, 1.0), (1, 1.0)]]);
    assert_sparse_close(&r, &ones, eps(0.000001));
}

#[test]
fn test_mat_ema_alpha_sparse_sparse_matrix() {
    let new = sp(&[&[(0, 1.0)], &[(1, 4.0)]]);
    let old = sp(&[&[(0, 5.0)], &[(1, 8.0)]]);
    let r = mat_ema_alpha_sparse(&new, &old, &dm(&[&[0.5, 0.5], &[0.5, 0.5]]));
    assert_eq!(r, sp(&[&[(0, 1.0)], &[(1, 1.0)]]));
}

#[test]
fn test_mat_ema_alpha_basic() {
    let new = dm(&[&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0]]);
    let old = dm(&[&[0.5, 1.5, 2.5], &[3.5, 4.5, 5.5]]);
    let r = mat_ema_alpha(&new, &old, &dm(&[&[0.5; 3], &[0.5; 3]]));
    assert_eq!(r, dm(&[&[0.75, 1.0, 1.0], &[1.0, 1.0, 1.0]]));
}

#[test]
fn test_mat_ema_alpha_varying_alpha() {
    let new = dm(&[&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0]]);
    let old = dm(&[&[0.5, 1.5, 2.5], &[3.5, 4.5, 5.5]]);
    let alpha = dm(&[&[0.2, 0.5, 0.8], &[0.2, 0.5, 0.8]]);
    let r = mat_ema_alpha(&new, &old, &alpha);
    assert_mat_close(&r, &dm(&[&[0.6, 1.0, 1.0], &[1.0, 1.0, 1.0]]), eps(1e-6));
}

#[test]
fn test_mat_ema_alpha_sparse_varying_alpha() {
    let w = sp(&[&[(0, 0.1), (1, 0.2)], &[(0, 0.3), (1, 0.4)]]);
    let b = sp(&[&[(0, 0.5), (1, 0.6)], &[(0, 0.7), (1, 0.8)]]);
    let alpha = dm(&[&[0.9, 0.8], &[0.5, 0.7]]);
    let expected = sp(&[&[(0, 0.14), (1, 0.28)], &[(0, 0.499999), (1, 0.519999)]]);
    assert_sparse_close(&mat_ema_alpha_sparse(&w, &b, &alpha), &expected, eps(1e-6));
}

#[test]
fn test_mat_ema_alpha_empty_matrices() {
    assert_eq!(mat_ema_alpha(&[], &[], &[]), vec![Vec::<I32F32>::new()]);
}

#[test]
fn test_mat_ema_alpha_single_element() {
    let r = mat_ema_alpha(&dm(&[&[1.0]]), &dm(&[&[0.5]]), &dm(&[&[0.5]]));
    assert_eq!(r, dm(&[&[0.75]]));
}

#[test]
fn test_mat_ema_alpha_mismatched_dimensions() {
    let new = dm(&[&[1.0, 2.0], &[3.0, 4.0]]);
    let old = dm(&[&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0]]);
    let r = mat_ema_alpha(&new, &old, &dm(&[&[0.5; 3], &[0.5; 3]]));
    assert_eq!(r[0][0], old[0][0]);
}

#[test]
fn test_math_fixed_to_u16() {
    for x in [u16::MIN, u16::MAX / 2, u16::MAX] {
        assert_eq!(fixed_to_u16(I32F32::from_num(x)), x);
    }
}

#[test]
fn test_math_fixed_to_u64_saturates() {
    assert_eq!(fixed_to_u64(I32F32::from_num(-1)), 0);
}

#[test]
fn test_math_fixed64_to_u64() {
    assert_eq!(fixed64_to_u64(I64F64::from_num(0)), 0);
    for x in [i64::MAX / 2, i64::MAX] {
        assert_eq!(fixed64_to_u64(I64F64::from_num(x)), x as u64);
    }
    assert_eq!(fixed64_to_u64(I64F64::from_num(-1)), 0);
}

#[test]
fn test_math_fixed64_to_fixed32_saturates() {
    assert_eq!(
        fixed64_to_fixed32(I64F64::from_num(u32::MAX)),
        I32F32::max_value()
    );
    assert_eq!(
        vec_fixed64_to_fixed32(&[I64F64::from_num(i64::MAX)]),
        vec![I32F32::max_value()]
    );
    assert_eq!(
        vec_fixed64_to_fixed32(&[I64F64::from_num(i32::MIN), I64F64::from_num(i32::MAX)]),
        vec![I32F32::from_num(i32::MIN), I32F32::from_num(i32::MAX)]
    );
}

#[test]
fn test_fixed_proportion_to_u16_saturates() {
    assert_eq!(fixed_proportion_to_u16(I32F32::from_num(0)), 0);
    assert_eq!(
        fixed_proportion_to_u16(I32F32::from_num(u16::MAX)),
        u16::MAX
    );
    assert_eq!(u16_proportion_to_fixed(0), I32F32::from_num(0));
}

// ---------------------------------------------------------------------------
// tests/epoch.rs
// ---------------------------------------------------------------------------

/// Default activity-cutoff factor (per mille of tempo).
const CUTOFF_FACTOR: u32 = 13_889;
const EMISSION: u64 = 1_000_000_000;

/// Hyperparameters of subtensor's test runtime (`tests/mock.rs`) for a
/// subnet created with the given tempo.
fn mock_params(tempo: u64) -> EpochParams {
    EpochParams {
        tempo,
        activity_cutoff: activity_cutoff_blocks(CUTOFF_FACTOR, tempo),
        max_allowed_validators: 100,
        ..EpochParams::default()
    }
}

/// A subnet plus a block clock, driven like the chain in subtensor's tests.
struct Chain {
    state: EpochInput,
    block: u64,
}

impl Chain {
    /// `stakes.len()` uids registered (and last updated) at `block`.
    fn new(stakes: &[u64], params: EpochParams, block: u64) -> Self {
        let mut state = EpochInput::with_stakes(stakes, params);
        state.block_at_registration = vec![block; stakes.len()];
        state.last_update = vec![block; stakes.len()];
        Self { state, block }
    }

    /// `SubtensorModule::epoch(netuid, 1_000_000_000)`: run and persist.
    fn epoch(&mut self) -> EpochOutput {
        self.state.current_block = self.block;
        self.state.emission = EMISSION;
        let out = run_epoch(&self.state).expect("valid epoch input");
        self.state.apply(&out);
        out
    }

    fn next_block(&mut self) {
        self.block += 1;
    }

    fn set_weights(&mut self, uid: u16, uids: &[u16], values: &[u16]) {
        self.state
            .set_weights(uid, uids, values, self.block)
            .expect("valid weights");
    }

    /// Registration of a new hotkey over `uid` (`replace_neuron` +
    /// `clear_neuron`): new registration block, no stake, no permit, no
    /// bonds, no weights, and every weight on `uid` zeroed.
    fn replace_neuron(&mut self, uid: u16) {
        let i = usize::from(uid);
        let s = &mut self.state;
        s.block_at_registration[i] = self.block;
        s.last_update[i] = self.block;
        s.stake[i] = stake_from_u64(0);
        s.validator_permit[i] = false;
        s.bonds[i].clear();
        s.weights[i].clear();
        for row in s.weights.iter_mut() {
            for (j, w) in row.iter_mut() {
                if *j == uid {
                    *w = 0;
                }
            }
        }
    }

    /// Stored bonds as a dense u16 matrix (`get_bonds`).
    fn bonds(&self) -> Vec<Vec<u16>> {
        let n = self.state.n();
        self.state
            .bonds
            .iter()
            .map(|row| {
                let mut d = vec![0u16; n];
                for &(j, b) in row {
                    d[usize::from(j)] = b;
                }
                d
            })
            .collect()
    }
}

#[test]
fn test_1_graph() {
    let mut chain = Chain::new(&[1_000_000_000], mock_params(65534), 1);
    chain.set_weights(0, &[0], &[u16::MAX]);
    let out = chain.epoch();
    let stored = out.stored();
    assert_eq!(stored.consensus, vec![0]);
    assert_eq!(stored.incentive, vec![0]);
    assert_eq!(stored.dividends, vec![0]);
}

#[test]
fn test_10_graph() {
    // Ten uids appended at block 0 with stake 1, self-weights set at block 1.
    let mut chain = Chain::new(&[1; 10], mock_params(65534), 0);
    chain.next_block();
    for i in 0..10u16 {
        chain.set_weights(i, &[i], &[u16::MAX]);
    }
    let out = chain.epoch();
    let stored = out.stored();
    for i in 0..10 {
        assert_eq!(stored.consensus[i], 0);
        assert_eq!(stored.incentive[i], 0);
        assert_eq!(stored.dividends[i], 0);
        assert_eq!(out.emission[i], 99_999_999);
    }
}

/// subtensor's `distribute_nodes`; the "random" interleaving uses a fixed
/// permutation instead of a random one (the assertions do not depend on it).
fn distribute_nodes(
    validators_n: usize,
    network_n: usize,
    interleave: usize,
) -> (Vec<u16>, Vec<u16>) {
    let all: Vec<u16> = (0..network_n as u16).collect();
    match interleave {
        0 => (all[..validators_n].to_vec(), all[validators_n..].to_vec()),
        1 => all
            .iter()
            .partition(|&&i| usize::from(i) % (network_n / validators_n) == 0),
        _ => {
            let mut perm = all;
            let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
            for i in (1..perm.len()).rev() {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                perm.swap(i, (seed >> 33) as usize % (i + 1));
            }
            (perm[..validators_n].to_vec(), perm[validators_n..].to_vec())
        }
    }
}

#[test]
fn test_512_graph() {
    let network_n = 512usize;
    let validators_n = 64usize;
    let stake_per_validator: u64 = 328_125_000_000_000;
    for interleave in 0..3 {
        for server_self in [false, true] {
            let (validators, servers) = distribute_nodes(validators_n, network_n, interleave);
            let mut stakes = vec![0u64; network_n];
            for &v in &validators {
                stakes[usize::from(v)] = stake_per_validator;
            }
            let mut params = mock_params(u64::from(u16::MAX - 1));
            params.max_allowed_validators = validators_n as u16;
            // `init_run_epochs`: uids appended at block 0, chain at block 1.
            let mut chain = Chain::new(&stakes, params, 0);
            chain.block = 1;
            chain.epoch(); // assigns validator permits
            let weights = vec![u16::MAX / network_n as u16; servers.len()];
            for &v in &validators {
                chain.set_weights(v, &servers, &weights);
            }
            if server_self {
                for &s in &servers {
                    chain.set_weights(s, &[s], &[u16::MAX]);
                }
            }
            let mut out = chain.epoch();
            for _ in 1..3 {
                out = chain.epoch();
            }
            let stored = out.stored();
            let bonds = chain.bonds();
            let (validator, server) = (usize::from(validators[0]), usize::from(servers[0]));
            for &v in &validators {
                let v = usize::from(v);
                assert_eq!(stored.consensus[v], 0);
                assert_eq!(stored.incentive[v], 0);
                assert_eq!(stored.dividends[v], 1023);
                assert_eq!(out.emission[v], 7_812_500);
                assert_eq!(bonds[v][validator], 0);
                assert_eq!(bonds[v][server], 65_535);
            }
            for &s in &servers {
                let s = usize::from(s);
                assert_eq!(stored.consensus[s], 146);
                assert_eq!(stored.incentive[s], 146);
                assert_eq!(stored.dividends[s], 0);
                assert_eq!(out.emission[s], 1_116_071);
                assert_eq!(bonds[s][validator], 0);
                assert_eq!(bonds[s][server], 0);
            }
        }
    }
}

#[test]
fn test_bonds() {
    let mut params = mock_params(1);
    params.bonds_penalty = u16::MAX;
    params.max_allowed_validators = 8;
    let mut chain = Chain::new(&[1, 2, 3, 4, 0, 0, 0, 0], params, 1);
    chain.epoch(); // validator permits
    chain.next_block();
    let servers = [4u16, 5, 6, 7];
    let m = u16::MAX;
    for uid in 0..4 {
        chain.set_weights(uid, &servers, &[m / 4, m / 2, (m / 4) * 3, m]);
    }
    let column = |chain: &Chain, j: usize| -> Vec<u16> {
        chain.bonds().iter().take(4).map(|r| r[j]).collect()
    };

    chain.epoch();
    assert_eq!(column(&chain, 4), vec![16383, 32767, 49151, 65535]);

    // Self-weight only on val1.
    chain.set_weights(0, &[0], &[m]);
    chain.next_block();
    chain.epoch();
    assert_eq!(column(&chain, 4), vec![14582, 32767, 49151, 65535]);

    // Self-weight only on val2.
    chain.set_weights(1, &[1], &[m]);
    chain.next_block();
    chain.epoch();
    assert_eq!(column(&chain, 4), vec![12603, 28321, 49151, 65535]);

    // Self-weight only on val3.
    chain.set_weights(2, &[2], &[m]);
    chain.next_block();
    chain.epoch();
    assert_eq!(column(&chain, 7), vec![12602, 28320, 49150, 65535]);

    // val3 -> srv4: 1.
    chain.set_weights(2, &[7], &[m]);
    chain.next_block();
    chain.epoch();
    assert_eq!(column(&chain, 7), vec![10951, 24609, 49150, 65535]);

    chain.next_block();
    chain.epoch();
    assert_eq!(column(&chain, 7), vec![9559, 21482, 49150, 65535]);

    chain.next_block();
    chain.epoch();
    assert_eq!(column(&chain, 7), vec![8376, 18824, 49150, 65535]);
}

#[test]
fn test_active_stake() {
    let mut params = mock_params(1);
    params.max_allowed_validators = 4;
    let mut chain = Chain::new(&[1, 1, 1, 1], params, 0);
    chain.epoch(); // validator permits
    chain.next_block();
    let servers = [2u16, 3];
    let half = u16::MAX / 2;
    for uid in 0..2 {
        chain.set_weights(uid, &servers, &[half, half]);
    }
    let out = chain.epoch();
    let bonds = chain.bonds();
    for uid in 0..4 {
        if uid < 2 {
            assert_eq!(out.stored().dividends[uid], 32767);
        }
        assert_eq!(out.emission[uid], 250_000_000);
    }
    for row in bonds.iter().take(2) {
        assert_eq!(&row[..2], &[0, 0]);
        assert_eq!(&row[2..], &[65_535, 65_535]);
    }

    // Validator weights become outdated (beyond the activity cutoff).
    chain.block = 5000 + 2;
    chain.set_weights(0, &servers, &[half, half]);
    let out = chain.epoch();
    let bonds = chain.bonds();
    let d = out.stored().dividends;
    assert_eq!(d[0], 36044);
    assert_eq!(out.emission[0], 274_999_999);
    assert_eq!(&bonds[0][2..], &[65_535, 65_535]);
    assert_eq!(d[1], 29490);
    assert_eq!(out.emission[1], 224_999_999);
    assert_eq!(&bonds[1][2..], &[53_619, 53_619]);

    // uid 1 updates as well.
    chain.set_weights(1, &servers, &[half, half]);
    chain.block = 5000 + 3;
    let out = chain.epoch();
    let bonds = chain.bonds();
    let d = out.stored().dividends;
    assert_eq!(d[0], 35716);
    assert_eq!(out.emission[0], 272_501_132);
    assert_eq!(&bonds[0][2..], &[65_535, 65_535]);
    assert_eq!(d[1], 29818);
    assert_eq!(out.emission[1], 227_498_866);
    assert_eq!(&bonds[1][2..], &[54_712, 54_712]);
}

#[test]
fn test_outdated_weights() {
    let mut params = mock_params(0);
    params.bonds_penalty = u16::MAX;
    params.max_allowed_validators = 4;
    let mut chain = Chain::new(&[1, 1, 1, 1], params, 1);
    chain.epoch(); // validator permits
    chain.next_block();
    let servers = [2u16, 3];
    let m = u16::MAX;
    for uid in 0..2 {
        chain.set_weights(uid, &servers, &[2 * (m / 3), m / 3]);
    }
    for uid in 2..4 {
        chain.set_weights(uid, &[uid], &[m]);
    }
    chain.epoch();

    // A new key registers over uid 3 (least emission), then one block later
    // only uid 0 refreshes its weights.
    chain.replace_neuron(3);
    chain.next_block();
    chain.set_weights(0, &servers, &[2 * (m / 3), m / 3]);
    let out = chain.epoch();
    let bonds = chain.bonds();
    assert_eq!(out.stored().dividends[0], 32767);
    assert_eq!(out.emission[0], 250_000_000);
    assert_eq!(bonds[0][2], 65_535);
    assert_eq!(bonds[0][3], 65_535);
}

#[test]
fn test_zero_weights() {
    let tempo = u64::from(u16::MAX - 1);
    let mut chain = Chain::new(&[1, 0], mock_params(tempo), 1);

    // No weights at all: emission follows stake.
    let out = chain.epoch();
    assert_eq!(out.emission, vec![1_000_000_000, 0]);

    // Self-weight of the server only.
    chain.set_weights(1, &[1], &[u16::MAX]);
    let out = chain.epoch();
    assert_eq!(out.emission, vec![1_000_000_000, 0]);

    // Validator weights the server, but the server re-registers in the same
    // block, which outdates those weights.
    chain.block = 2;
    chain.set_weights(0, &[1], &[u16::MAX]);
    chain.replace_neuron(1);
    let out = chain.epoch();
    assert_eq!(out.emission, vec![1_000_000_000, 0]);

    // Fresh weights produce incentive again.
    chain.block = 3;
    chain.set_weights(0, &[1], &[u16::MAX]);
    let out = chain.epoch();
    assert_eq!(out.emission, vec![500_000_000, 500_000_000]);
}

#[test]
fn test_validator_permits() {
    for interleave in 0..3 {
        for (network_n, validators_n) in [(2usize, 1usize), (4, 2), (8, 4)] {
            let min_stake = validators_n as u64;
            for assignment in 0..=1 {
                let (validators, servers) = distribute_nodes(validators_n, network_n, interleave);
                let mut stake = vec![0u64; network_n];
                for &v in &validators {
                    stake[usize::from(v)] = if assignment == 1 {
                        u64::from(v) + network_n as u64
                    } else {
                        1
                    };
                }
                for &s in &servers {
                    stake[usize::from(s)] = if assignment == 1 { u64::from(s) } else { 0 };
                }
                let mut params = mock_params(u64::from(u16::MAX - 1));
                params.stake_threshold = min_stake;
                params.max_allowed_validators = validators_n as u16;
                let mut chain = Chain::new(&stake, params, 1);
                chain.epoch();
                for &v in &validators {
                    let v = usize::from(v);
                    assert_eq!(stake[v] >= min_stake, chain.state.validator_permit[v]);
                }
                for &s in &servers {
                    assert!(!chain.state.validator_permit[usize::from(s)]);
                }

                // Servers' stake rises above the validators'.
                for &s in &servers {
                    let s = usize::from(s);
                    chain.state.stake[s] = stake_from_u64(stake[s] + 2 * network_n as u64);
                }
                chain.block = 1;
                chain.epoch();
                for &v in &validators {
                    assert!(!chain.state.validator_permit[usize::from(v)]);
                }
                for &s in &servers {
                    let s = usize::from(s);
                    assert_eq!(
                        stake[s] + 2 * network_n as u64 >= min_stake,
                        chain.state.validator_permit[s]
                    );
                }
            }
        }
    }
}

#[test]
fn test_liquid_alpha_equal_values_against_itself() {
    let weights = mat(
        &[0., 0.1, 0., 0., 0.2, 0.4, 0., 0.3, 0.1, 0., 0.4, 0.5],
        4,
        false,
    );
    let bonds = mat(
        &[0.1, 0.1, 0.5, 0., 0., 0.4, 0.5, 0.1, 0.1, 0., 0.4, 0.2],
        4,
        false,
    );
    let consensus = vf(&[0.3, 0.2, 0.1, 0.4]);
    let alpha = u16::MAX / 10;
    let liquid = LiquidAlpha::from_chain(alpha, alpha, 1000);
    let on = compute_bonds(&weights, &bonds, &consensus, Some(&liquid), 900_000);
    let off = compute_bonds(&weights, &bonds, &consensus, None, 900_000);
    assert_mat_close(&on, &off, eps(1e-3));
    // The same through the sparse path the epoch uses.
    let to_sparse = |m: &[Vec<I32F32>]| -> SparseMatrix {
        m.iter()
            .map(|r| r.iter().enumerate().map(|(j, &v)| (j as u16, v)).collect())
            .collect()
    };
    let on = compute_bonds_sparse(
        &to_sparse(&weights),
        &to_sparse(&bonds),
        &consensus,
        Some(&liquid),
        900_000,
    );
    let off = compute_bonds_sparse(
        &to_sparse(&weights),
        &to_sparse(&bonds),
        &consensus,
        None,
        900_000,
    );
    assert_sparse_close(&on, &off, eps(1e-3));
}

// --- Yuma3 scenarios (`setup_yuma_3_scenario` and friends) ---------------

/// `set_alpha_values_32`: a fraction to the stored u16.
fn alpha_u16(x: f64) -> u16 {
    fixed_proportion_to_u16(I32F32::from_num(x))
}

/// `setup_yuma_3_scenario`: uids registered at block 1, first epoch at
/// block 2 assigns three validator permits.
fn setup_yuma_3(stakes: &[u64]) -> Chain {
    let params = EpochParams {
        bonds_penalty: 0,
        alpha_sigmoid_steepness: 1000,
        bonds_moving_average: 975_000,
        kappa: u16::MAX / 2,
        liquid_alpha: true,
        alpha_low: alpha_u16(0.1),
        alpha_high: alpha_u16(0.3),
        yuma3: true,
        max_allowed_validators: 3,
        ..mock_params(1)
    };
    let mut chain = Chain::new(stakes, params, 1);
    chain.next_block();
    chain.epoch();
    chain
}

/// `set_yuma_3_weights`: validators 0, 1, 2 set the given rows on `servers`.
fn set_yuma_3_weights(chain: &mut Chain, rows: &[Vec<u16>], servers: &[u16]) {
    for (uid, row) in rows.iter().enumerate() {
        chain.set_weights(uid as u16, servers, row);
    }
}

/// `run_epoch_and_check_bonds_dividends`: next block, epoch, then compare
/// dividends (u16 / 65535) with the targets at tolerance 1e-3.
///
/// Bonds are compared too, at the same tolerance: validator `i`'s bond on
/// `columns[k]` against `bonds[i][k]`. (subtensor's helper zips each dense
/// bond row with `target.skip(3)`, which is empty for these two- and
/// three-column targets, so it never actually compares bonds.)
fn run_and_check(
    chain: &mut Chain,
    columns: &[u16],
    bonds: &[Vec<f32>],
    dividends: &[f32],
    epoch: usize,
) {
    chain.next_block();
    let out = chain.epoch();
    let tol = eps(1e-3);
    for (uid, (&d, &t)) in out.stored().dividends.iter().zip(dividends).enumerate() {
        let got = u16_proportion_to_fixed(d);
        assert!(
            (got - fixed(t)).abs() <= tol,
            "epoch {epoch}: dividend of uid {uid} is {got}, expected {t}"
        );
    }
    let stored = chain.bonds();
    for (uid, targets) in bonds.iter().enumerate() {
        assert_eq!(targets.len(), columns.len(), "bond targets vs columns");
        for (&server, &t) in columns.iter().zip(targets) {
            let got = u16_proportion_to_fixed(stored[uid][usize::from(server)]);
            assert!(
                (got - fixed(t)).abs() <= tol,
                "epoch {epoch}: bond {uid}->{server} is {got}, expected {t}"
            );
        }
    }
}

struct Yuma3Case {
    stakes: &'static [u64],
    servers: &'static [u16],
    /// Columns the bond targets refer to.
    bond_columns: &'static [u16],
    liquid_alpha: bool,
    /// Weight rows set before each epoch (`None`: keep the previous weights).
    weights: Vec<Option<Vec<Vec<u16>>>>,
    bonds: Vec<Vec<Vec<f32>>>,
    dividends: Vec<Vec<f32>>,
}

fn run_yuma3_case(case: &Yuma3Case) {
    let mut chain = setup_yuma_3(case.stakes);
    chain.state.params.liquid_alpha = case.liquid_alpha;
    for (epoch, ((w, b), d)) in case
        .weights
        .iter()
        .zip(&case.bonds)
        .zip(&case.dividends)
        .enumerate()
    {
        if let Some(rows) = w {
            set_yuma_3_weights(&mut chain, rows, case.servers);
        }
        run_and_check(&mut chain, case.bond_columns, b, d, epoch);
    }
}

const M: u16 = u16::MAX;

fn to_s1() -> Vec<u16> {
    vec![M, 0]
}
fn to_s2() -> Vec<u16> {
    vec![0, M]
}

#[test]
fn test_yuma_3_kappa_moves_first() {
    run_yuma3_case(&Yuma3Case {
        stakes: &[8, 1, 1, 0, 0],
        servers: &[3, 4],
        bond_columns: &[3, 4],
        liquid_alpha: true,
        weights: vec![
            Some(vec![to_s1(), to_s1(), to_s1()]),
            Some(vec![to_s2(), to_s1(), to_s1()]),
            Some(vec![to_s2(), to_s2(), to_s1()]),
            Some(vec![to_s2(), to_s2(), to_s2()]),
            None,
            None,
        ],
        bonds: vec![
            vec![
                vec![0.1013, 0.0000],
                vec![0.1013, 0.0000],
                vec![0.1013, 0.0000],
            ],
            vec![
                vec![0.0908, 0.1013],
                vec![0.3697, 0.0000],
                vec![0.3697, 0.0000],
            ],
            vec![
                vec![0.0815, 0.1924],
                vec![0.3170, 0.1013],
                vec![0.5580, 0.0000],
            ],
            vec![
                vec![0.0731, 0.2742],
                vec![0.2765, 0.1924],
                vec![0.4306, 0.1013],
            ],
            vec![
                vec![0.0656, 0.3478],
                vec![0.2435, 0.2742],
                vec![0.3589, 0.1924],
            ],
            vec![
                vec![0.0588, 0.4139],
                vec![0.2157, 0.3478],
                vec![0.3089, 0.2742],
            ],
        ],
        dividends: vec![
            vec![0.8000, 0.1000, 0.1000, 0.0000, 0.0000],
            vec![1.0000, 0.0000, 0.0000, 0.0000, 0.0000],
            vec![0.9382, 0.0618, 0.0000, 0.0000, 0.0000],
            vec![0.8819, 0.0773, 0.0407, 0.0000, 0.0000],
            vec![0.8564, 0.0844, 0.0592, 0.0000, 0.0000],
            vec![0.8418, 0.0884, 0.0697, 0.0000, 0.0000],
        ],
    });
}

#[test]
fn test_yuma_3_kappa_moves_second() {
    run_yuma3_case(&Yuma3Case {
        stakes: &[8, 1, 1, 0, 0],
        servers: &[3, 4],
        bond_columns: &[3, 4],
        liquid_alpha: true,
        weights: vec![
            Some(vec![to_s1(), to_s1(), to_s1()]),
            Some(vec![to_s1(), to_s2(), to_s1()]),
            Some(vec![to_s2(), to_s2(), to_s1()]),
            Some(vec![to_s2(), to_s2(), to_s2()]),
            None,
            None,
        ],
        bonds: vec![
            vec![
                vec![0.1013, 0.0000],
                vec![0.1013, 0.0000],
                vec![0.1013, 0.0000],
            ],
            vec![
                vec![0.1924, 0.0000],
                vec![0.0908, 0.2987],
                vec![0.1924, 0.0000],
            ],
            vec![
                vec![0.1715, 0.1013],
                vec![0.0815, 0.3697],
                vec![0.4336, 0.0000],
            ],
            vec![
                vec![0.1531, 0.1924],
                vec![0.0731, 0.4336],
                vec![0.3608, 0.1013],
            ],
            vec![
                vec![0.1369, 0.2742],
                vec![0.0656, 0.4910],
                vec![0.3103, 0.1924],
            ],
            vec![
                vec![0.1225, 0.3478],
                vec![0.0588, 0.5426],
                vec![0.2712, 0.2742],
            ],
        ],
        dividends: vec![
            vec![0.8000, 0.1000, 0.1000, 0.0000, 0.0000],
            vec![0.8446, 0.0498, 0.1056, 0.0000, 0.0000],
            vec![0.6868, 0.3132, 0.0000, 0.0000, 0.0000],
            vec![0.7421, 0.2090, 0.0489, 0.0000, 0.0000],
            vec![0.7625, 0.1706, 0.0669, 0.0000, 0.0000],
            vec![0.7730, 0.1508, 0.0762, 0.0000, 0.0000],
        ],
    });
}

#[test]
fn test_yuma_3_kappa_moves_last() {
    run_yuma3_case(&Yuma3Case {
        stakes: &[8, 1, 1, 0, 0],
        servers: &[3, 4],
        bond_columns: &[3, 4],
        liquid_alpha: true,
        weights: vec![
            Some(vec![to_s1(), to_s1(), to_s1()]),
            Some(vec![to_s1(), to_s2(), to_s1()]),
            Some(vec![to_s1(), to_s2(), to_s2()]),
            Some(vec![to_s2(), to_s2(), to_s2()]),
            None,
            None,
        ],
        bonds: vec![
            vec![
                vec![0.1013, 0.0000],
                vec![0.1013, 0.0000],
                vec![0.1013, 0.0000],
            ],
            vec![
                vec![0.1924, 0.0000],
                vec![0.0908, 0.2987],
                vec![0.1924, 0.0000],
            ],
            vec![
                vec![0.2742, 0.0000],
                vec![0.0815, 0.5081],
                vec![0.1715, 0.2987],
            ],
            vec![
                vec![0.2416, 0.1013],
                vec![0.0731, 0.5580],
                vec![0.1531, 0.3697],
            ],
            vec![
                vec![0.2141, 0.1924],
                vec![0.0656, 0.6028],
                vec![0.1369, 0.4336],
            ],
            vec![
                vec![0.1903, 0.2742],
                vec![0.0588, 0.6430],
                vec![0.1225, 0.4910],
            ],
        ],
        dividends: vec![
            vec![0.8000, 0.1000, 0.1000, 0.0000, 0.0000],
            vec![0.8446, 0.0498, 0.1056, 0.0000, 0.0000],
            vec![0.8966, 0.0333, 0.0701, 0.0000, 0.0000],
            vec![0.4663, 0.3210, 0.2127, 0.0000, 0.0000],
            vec![0.5976, 0.2340, 0.1683, 0.0000, 0.0000],
            vec![0.6592, 0.1932, 0.1475, 0.0000, 0.0000],
        ],
    });
}

#[test]
fn test_yuma_3_one_epoch_switch() {
    let all_s1 = || Some(vec![to_s1(), to_s1(), to_s1()]);
    run_yuma3_case(&Yuma3Case {
        stakes: &[33, 33, 34, 0, 0],
        servers: &[3, 4],
        bond_columns: &[3, 4],
        liquid_alpha: true,
        weights: vec![
            all_s1(),
            all_s1(),
            Some(vec![to_s1(), to_s1(), to_s2()]),
            all_s1(),
            all_s1(),
            all_s1(),
        ],
        bonds: vec![
            vec![
                vec![0.1013, 0.0000],
                vec![0.1013, 0.0000],
                vec![0.1013, 0.0000],
            ],
            vec![
                vec![0.1924, 0.0000],
                vec![0.1924, 0.0000],
                vec![0.1924, 0.0000],
            ],
            vec![
                vec![0.2742, 0.0000],
                vec![0.2742, 0.0000],
                vec![0.1715, 0.2987],
            ],
            vec![
                vec![0.3478, 0.0000],
                vec![0.3478, 0.0000],
                vec![0.2554, 0.2618],
            ],
            vec![
                vec![0.4139, 0.0000],
                vec![0.4139, 0.0000],
                vec![0.3309, 0.2312],
            ],
            vec![
                vec![0.4733, 0.0000],
                vec![0.4733, 0.0000],
                vec![0.3987, 0.2051],
            ],
        ],
        dividends: vec![
            vec![0.3300, 0.3300, 0.3400, 0.0000, 0.0000],
            vec![0.3300, 0.3300, 0.3400, 0.0000, 0.0000],
            vec![0.3782, 0.3782, 0.2436, 0.0000, 0.0000],
            vec![0.3628, 0.3628, 0.2745, 0.0000, 0.0000],
            vec![0.3541, 0.3541, 0.2917, 0.0000, 0.0000],
            vec![0.3487, 0.3487, 0.3026, 0.0000, 0.0000],
        ],
    });
}

#[test]
fn test_yuma_3_liquid_alpha_disabled() {
    let all_s1 = || Some(vec![to_s1(), to_s1(), to_s1()]);
    run_yuma3_case(&Yuma3Case {
        stakes: &[33, 33, 34, 0, 0],
        servers: &[3, 4],
        liquid_alpha: false,
        weights: vec![
            all_s1(),
            all_s1(),
            Some(vec![to_s1(), to_s1(), to_s2()]),
            all_s1(),
            all_s1(),
            all_s1(),
        ],
        // subtensor lists three bond columns here; they fit uids 2, 3, 4 (the
        // last validator, on which nobody bonds, and the two servers).
        bond_columns: &[2, 3, 4],
        bonds: vec![
            vec![
                vec![0.0000, 0.0250, 0.0000],
                vec![0.0000, 0.0250, 0.0000],
                vec![0.0000, 0.0250, 0.0000],
            ],
            vec![
                vec![0.0000, 0.0494, 0.0000],
                vec![0.0000, 0.0494, 0.0000],
                vec![0.0000, 0.0494, 0.0000],
            ],
            vec![
                vec![0.0000, 0.0731, 0.0000],
                vec![0.0000, 0.0731, 0.0000],
                vec![0.0000, 0.0481, 0.0250],
            ],
            vec![
                vec![0.0000, 0.0963, 0.0000],
                vec![0.0000, 0.0963, 0.0000],
                vec![0.0000, 0.0719, 0.0244],
            ],
            vec![
                vec![0.0000, 0.1189, 0.0000],
                vec![0.0000, 0.1189, 0.0000],
                vec![0.0000, 0.0951, 0.0238],
            ],
            vec![
                vec![0.0000, 0.1409, 0.0000],
                vec![0.0000, 0.1409, 0.0000],
                vec![0.0000, 0.1178, 0.0232],
            ],
        ],
        dividends: vec![
            vec![0.3300, 0.3300, 0.3400, 0.0000, 0.0000],
            vec![0.3300, 0.3300, 0.3400, 0.0000, 0.0000],
            vec![0.3734, 0.3734, 0.2532, 0.0000, 0.0000],
            vec![0.3611, 0.3611, 0.2779, 0.0000, 0.0000],
            vec![0.3541, 0.3541, 0.2919, 0.0000, 0.0000],
            vec![0.3495, 0.3495, 0.3009, 0.0000, 0.0000],
        ],
    });
}

#[test]
fn test_yuma_3_stable_miner() {
    let h = M / 2;
    let a = || vec![h, 0, h];
    let b = || vec![0, h, h];
    run_yuma3_case(&Yuma3Case {
        stakes: &[8, 1, 1, 0, 0, 0],
        servers: &[3, 4, 5],
        bond_columns: &[3, 4, 5],
        liquid_alpha: true,
        weights: vec![
            Some(vec![a(), a(), a()]),
            Some(vec![a(), b(), a()]),
            Some(vec![b(), b(), a()]),
            Some(vec![b(), b(), b()]),
            None,
            None,
        ],
        bonds: vec![
            vec![
                vec![0.0507, 0.0000, 0.0507],
                vec![0.0507, 0.0000, 0.0507],
                vec![0.0507, 0.0000, 0.0507],
            ],
            vec![
                vec![0.0962, 0.0000, 0.0962],
                vec![0.0455, 0.1000, 0.0962],
                vec![0.0962, 0.0000, 0.0962],
            ],
            vec![
                vec![0.0863, 0.0507, 0.1371],
                vec![0.0408, 0.1405, 0.1371],
                vec![0.1770, 0.0000, 0.1371],
            ],
            vec![
                vec![0.0774, 0.0962, 0.1739],
                vec![0.0367, 0.1770, 0.1739],
                vec![0.1579, 0.0507, 0.1739],
            ],
            vec![
                vec![0.0694, 0.1371, 0.2069],
                vec![0.0329, 0.2097, 0.2069],
                vec![0.1411, 0.0962, 0.2069],
            ],
            vec![
                vec![0.0623, 0.1739, 0.2366],
                vec![0.0296, 0.2391, 0.2366],
                vec![0.1263, 0.1371, 0.2366],
            ],
        ],
        dividends: vec![
            vec![0.8000, 0.1000, 0.1000, 0.0000, 0.0000, 0.0000],
            vec![0.8226, 0.0745, 0.1028, 0.0000, 0.0000, 0.0000],
            vec![0.7750, 0.1685, 0.0565, 0.0000, 0.0000, 0.0000],
            vec![0.7864, 0.1372, 0.0764, 0.0000, 0.0000, 0.0000],
            vec![0.7912, 0.1241, 0.0847, 0.0000, 0.0000, 0.0000],
            vec![0.7937, 0.1173, 0.0890, 0.0000, 0.0000, 0.0000],
        ],
    });
}

#[test]
fn test_yuma_3_bonds_reset() {
    let servers: &[u16] = &[3, 4];
    let mut chain = setup_yuma_3(&[8, 1, 1, 0, 0]);
    let targets: [(usize, [f32; 5], [[f32; 2]; 3]); 7] = [
        (
            0,
            [0.8000, 0.1000, 0.1000, 0.0, 0.0],
            [[0.1013, 0.0000], [0.1013, 0.0000], [0.1013, 0.0000]],
        ),
        (
            1,
            [0.8944, 0.0528, 0.0528, 0.0, 0.0],
            [[0.1924, 0.0000], [0.0908, 0.2987], [0.0908, 0.2987]],
        ),
        (
            2,
            [0.5230, 0.2385, 0.2385, 0.0, 0.0],
            [[0.1715, 0.1013], [0.0815, 0.3697], [0.0815, 0.3697]],
        ),
        (
            19,
            [0.7919, 0.1040, 0.1040, 0.0, 0.0],
            [[0.0269, 0.8539], [0.0131, 0.8975], [0.0131, 0.8975]],
        ),
        (
            20,
            [0.7928, 0.1036, 0.1036, 0.0, 0.0],
            [[0.0000, 0.8687], [0.0000, 0.9079], [0.0000, 0.9079]],
        ),
        (
            21,
            [0.8467, 0.0766, 0.0766, 0.0, 0.0],
            [[0.0000, 0.8820], [0.2987, 0.6386], [0.2987, 0.6386]],
        ),
        (
            40,
            [0.7928, 0.1036, 0.1036, 0.0, 0.0],
            [[0.8687, 0.0578], [0.9079, 0.0523], [0.9079, 0.0523]],
        ),
    ];
    for epoch in 0..=40usize {
        let rows = match epoch {
            0 => vec![to_s1(), to_s1(), to_s1()],
            1 => vec![to_s1(), to_s2(), to_s2()],
            2..=20 => vec![to_s2(), to_s2(), to_s2()],
            21 => vec![to_s2(), to_s1(), to_s1()],
            _ => vec![to_s1(), to_s1(), to_s1()],
        };
        set_yuma_3_weights(&mut chain, &rows, servers);
        if epoch == 20 {
            // `do_reset_bonds` for the hotkey of uid 3: every bond on uid 3
            // is removed.
            for row in chain.state.bonds.iter_mut() {
                row.retain(|&(j, _)| j != 3);
            }
        }
        match targets.iter().find(|t| t.0 == epoch) {
            Some((_, dividends, bonds)) => {
                let bonds: Vec<Vec<f32>> = bonds.iter().map(|r| r.to_vec()).collect();
                run_and_check(&mut chain, servers, &bonds, dividends, epoch);
            }
            None => {
                chain.next_block();
                chain.epoch();
            }
        }
    }
}
