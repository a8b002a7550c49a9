//! The incentive mechanism on synthetic rounds: the invariants of docs/design.md#6-scoring for
//! the `medmetric` profile against a red team of strategies, copy
//! detection, and property tests of every stage.

use std::collections::BTreeMap;

use medmetric_core::Hotkey;
use medmetric_scoring::mechanism::copies::{self, CopyEntry, CopyLedger};
use medmetric_scoring::mechanism::{
    self, ImageMetrics, MechanismConfig, MinerType, ProbeOutcome, RoundScore, ScoreBook,
    apply_incumbency, reward,
};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

// ---------------------------------------------------------------------------
// A tiny deterministic world: square images with disc-shaped lesions.

/// SplitMix64: enough randomness for synthetic rounds, identical everywhere.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }
    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
    fn normal(&mut self) -> f64 {
        let u = self.unit().max(1e-12);
        let v = self.unit();
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

const SIDE: usize = 40;
const GROUPS: [&str; 3] = ["cxr", "brain", "bone"];

#[derive(Clone)]
struct Image {
    group: &'static str,
    abnormal: bool,
    center: (f64, f64),
    radius: f64,
    truth: Vec<u8>,
}

struct Round {
    images: Vec<Image>,
    /// Base images of the robustness probes (abnormal).
    probes: Vec<Image>,
    variants: usize,
}

fn disc(center: (f64, f64), radius: f64, inside: f32, outside: f32) -> Vec<f32> {
    let mut out = vec![outside; SIDE * SIDE];
    for y in 0..SIDE {
        for x in 0..SIDE {
            let (dx, dy) = (x as f64 + 0.5 - center.0, y as f64 + 0.5 - center.1);
            if dx * dx + dy * dy <= radius * radius {
                out[y * SIDE + x] = inside;
            }
        }
    }
    out
}

fn lesion_image(rng: &mut Rng, group: &'static str, radius: (f64, f64)) -> Image {
    let r = rng.range(radius.0, radius.1);
    let c = (
        rng.range(r + 1.0, SIDE as f64 - r - 1.0),
        rng.range(r + 1.0, SIDE as f64 - r - 1.0),
    );
    let truth = disc(c, r, 1.0, 0.0).iter().map(|&v| v as u8).collect();
    Image {
        group,
        abnormal: true,
        center: c,
        radius: r,
        truth,
    }
}

fn make_round(seed: u64, normal_fraction: f64, radius: (f64, f64), n: usize) -> Round {
    let mut rng = Rng(seed);
    let normals = (n as f64 * normal_fraction).round() as usize;
    let mut images = Vec::with_capacity(n);
    for i in 0..n {
        let group = GROUPS[i % GROUPS.len()];
        if i < normals {
            images.push(Image {
                group,
                abnormal: false,
                center: (0.0, 0.0),
                radius: 0.0,
                truth: vec![0; SIDE * SIDE],
            });
        } else {
            images.push(lesion_image(&mut rng, group, radius));
        }
    }
    // Interleave normal and abnormal images deterministically.
    for i in (1..images.len()).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        images.swap(i, j);
    }
    let probes = (0..6)
        .map(|i| lesion_image(&mut rng, GROUPS[i % GROUPS.len()], radius))
        .collect();
    Round {
        images,
        probes,
        variants: 4,
    }
}

// ---------------------------------------------------------------------------
// The red team.

#[derive(Debug, Clone, Copy, PartialEq)]
enum Miner {
    /// Empty mask, `cls = 0`.
    Null,
    /// No mask output, a perfect classifier.
    ClsOnly,
    /// A perfect classifier beside an all-zero mask.
    ClsEmptyMask,
    /// A perfect classifier that paints a fixed central disc on abnormal
    /// images.
    ClsCentralBlob,
    /// Near-perfect masks, 2 s per image.
    SlowAccurate,
    /// Random masks and class probabilities, 5 ms.
    FastRandom,
    /// A faint constant mask, 5 ms.
    FastNullish,
    /// Honest, Dice around 0.7, 100 ms.
    Honest,
    /// Honest on plain images, falls apart under augmentation.
    Fragile,
}

const RED_TEAM: [Miner; 9] = [
    Miner::Null,
    Miner::ClsOnly,
    Miner::ClsEmptyMask,
    Miner::ClsCentralBlob,
    Miner::SlowAccurate,
    Miner::FastRandom,
    Miner::FastNullish,
    Miner::Honest,
    Miner::Fragile,
];

type Prediction = (Option<Vec<f32>>, Option<f32>);

impl Miner {
    fn latency_ms(self) -> f64 {
        match self {
            Miner::SlowAccurate => 2000.0,
            Miner::Honest | Miner::Fragile => 100.0,
            _ => 5.0,
        }
    }

    fn perfect_cls(img: &Image) -> Option<f32> {
        Some(if img.abnormal { 0.99 } else { 0.01 })
    }

    /// The honest model's lesion estimate for an image.
    fn honest_guess(img: &Image, rng: &mut Rng) -> ((f64, f64), f64) {
        let r = img.radius;
        let c = (
            img.center.0 + rng.range(-0.3, 0.3) * r,
            img.center.1 + rng.range(-0.3, 0.3) * r,
        );
        (c, r * rng.range(0.8, 1.15))
    }

    fn honest_cls(img: &Image, rng: &mut Rng) -> f32 {
        let wrong = rng.chance(0.1);
        match (img.abnormal, wrong) {
            (true, false) => 0.8,
            (true, true) => 0.35,
            (false, false) => 0.15,
            (false, true) => 0.6,
        }
    }

    fn predict(self, img: &Image, rng: &mut Rng) -> Prediction {
        let zeros = vec![0.0f32; SIDE * SIDE];
        match self {
            Miner::Null => (Some(zeros), Some(0.0)),
            Miner::ClsOnly => (None, Self::perfect_cls(img)),
            Miner::ClsEmptyMask => (Some(zeros), Self::perfect_cls(img)),
            Miner::ClsCentralBlob => {
                let c = SIDE as f64 / 2.0;
                let mask = if img.abnormal {
                    disc((c, c), SIDE as f64 / 6.0, 0.9, 0.02)
                } else {
                    vec![0.02; SIDE * SIDE]
                };
                (Some(mask), Self::perfect_cls(img))
            }
            Miner::SlowAccurate => {
                let mask = if img.abnormal {
                    let r = img.radius;
                    let c = (
                        img.center.0 + rng.range(-0.08, 0.08) * r,
                        img.center.1 + rng.range(-0.08, 0.08) * r,
                    );
                    disc(c, r * rng.range(0.95, 1.05), 0.97, 0.005)
                } else {
                    vec![0.005; SIDE * SIDE]
                };
                (Some(mask), Some(if img.abnormal { 0.95 } else { 0.05 }))
            }
            Miner::FastRandom => (
                Some((0..SIDE * SIDE).map(|_| rng.unit() as f32).collect()),
                Some(rng.unit() as f32),
            ),
            Miner::FastNullish => (Some(vec![0.02; SIDE * SIDE]), Some(0.3)),
            Miner::Honest | Miner::Fragile => {
                let mask = if img.abnormal {
                    let (c, r) = Self::honest_guess(img, rng);
                    disc(c, r, 0.85, 0.03)
                } else if rng.chance(0.1) {
                    let c = (rng.range(5.0, 35.0), rng.range(5.0, 35.0));
                    disc(c, 2.0, 0.7, 0.03)
                } else {
                    vec![0.03; SIDE * SIDE]
                };
                (Some(mask), Some(Self::honest_cls(img, rng)))
            }
        }
    }

    /// The `k` variants' predictions for a probe, already mapped back.
    fn probe(
        self,
        img: &Image,
        k: usize,
        rng: &mut Rng,
    ) -> (Vec<Option<Vec<f32>>>, Vec<Option<f32>>) {
        let mut masks = Vec::new();
        let mut calls = Vec::new();
        match self {
            Miner::Honest | Miner::SlowAccurate => {
                let (c, r) = if self == Miner::Honest {
                    Self::honest_guess(img, rng)
                } else {
                    (img.center, img.radius)
                };
                let cls = if self == Miner::Honest { 0.8 } else { 0.95 };
                for _ in 0..k {
                    let cj = (c.0 + rng.range(-0.6, 0.6), c.1 + rng.range(-0.6, 0.6));
                    masks.push(Some(disc(cj, r, 0.85, 0.03)));
                    calls.push(Some(cls));
                }
            }
            Miner::Fragile => {
                for v in 0..k {
                    let r = img.radius;
                    let c = (
                        img.center.0 + rng.range(-1.5, 1.5) * r,
                        img.center.1 + rng.range(-1.5, 1.5) * r,
                    );
                    masks.push(Some(disc(c, r, 0.85, 0.03)));
                    calls.push(Some(if v % 2 == 0 { 0.8 } else { 0.3 }));
                }
            }
            _ => {
                for _ in 0..k {
                    let (m, c) = self.predict(img, rng);
                    masks.push(m);
                    calls.push(c);
                }
            }
        }
        (masks, calls)
    }
}

struct Measured {
    images: Vec<ImageMetrics>,
    null: Vec<ImageMetrics>,
    probes: Vec<ProbeOutcome>,
    latency: f64,
}

fn measure(strategy: Miner, round: &Round, seed: u64) -> Measured {
    let mut rng = Rng(seed ^ 0xA5A5);
    let mut images = Vec::new();
    let mut null = Vec::new();
    for img in &round.images {
        let (mask, cls) = strategy.predict(img, &mut rng);
        images.push(
            ImageMetrics::measure(img.group, mask.as_deref(), cls, &img.truth, img.abnormal)
                .unwrap(),
        );
        null.push(ImageMetrics::null(img.group, &img.truth, img.abnormal).unwrap());
    }
    let probes = round
        .probes
        .iter()
        .map(|p| {
            let (masks, calls) = strategy.probe(p, round.variants, &mut rng);
            ProbeOutcome::measure(&masks, &calls, &p.truth)
                .unwrap()
                .with_group(p.group)
        })
        .collect();
    Measured {
        images,
        null,
        probes,
        latency: strategy.latency_ms(),
    }
}

fn score_all(cfg: &MechanismConfig, round: &Round, seed: u64) -> Vec<(Miner, RoundScore)> {
    RED_TEAM
        .iter()
        .map(|&s| {
            let m = measure(s, round, seed);
            (
                s,
                mechanism::score(cfg, &m.images, &m.null, &m.probes, Some(m.latency)),
            )
        })
        .collect()
}

/// Rounds that differ in seed, fraction of normal images and lesion size.
fn rounds() -> Vec<(String, Round, u64)> {
    [
        (11, 0.5, (3.0, 6.0)),
        (22, 0.3, (6.0, 11.0)),
        (33, 0.7, (2.5, 4.0)),
        (44, 0.85, (4.0, 8.0)),
    ]
    .into_iter()
    .map(|(seed, frac, r)| {
        (
            format!(
                "seed {seed}, {:.0}% normal, radius {}-{}",
                frac * 100.0,
                r.0,
                r.1
            ),
            make_round(seed, frac, r, 36),
            seed,
        )
    })
    .collect()
}

fn composite(table: &[(Miner, RoundScore)], s: Miner) -> f64 {
    table.iter().find(|(k, _)| *k == s).unwrap().1.composite
}

fn check_range(s: &RoundScore) {
    for v in [s.accuracy, s.speed, s.robustness, s.composite] {
        assert!(v.is_finite() && (0.0..=1.0).contains(&v), "{s:?}");
    }
    for g in s.per_group.values() {
        for v in [g.accuracy, g.speed, g.robustness, g.composite] {
            assert!(v.is_finite() && (0.0..=1.0).contains(&v), "{s:?}");
        }
    }
}

#[test]
fn medmetric_invariants_hold_on_every_round() {
    let cfg = MechanismConfig::builtin("medmetric").unwrap();
    for (name, round, seed) in rounds() {
        let table = score_all(&cfg, &round, seed);
        println!("\n{name}");
        for (s, r) in &table {
            println!(
                "  {s:<16?} acc {:.3} speed {:.3} robust {:.3} composite {:.3}",
                r.accuracy, r.speed, r.robustness, r.composite
            );
            check_range(r);
            assert_eq!(r.per_group.len(), 3);
        }
        let c = |s| composite(&table, s);
        assert!(c(Miner::Null) <= 0.05, "{name}: null {}", c(Miner::Null));
        assert!(c(Miner::ClsOnly) <= 0.35, "{name}");
        assert!(c(Miner::ClsEmptyMask) <= 0.35, "{name}");
        for useless in [Miner::FastRandom, Miner::FastNullish] {
            assert!(c(Miner::SlowAccurate) > c(useless), "{name}: {useless:?}");
        }
        let cheaters = [
            Miner::Null,
            Miner::ClsOnly,
            Miner::ClsEmptyMask,
            Miner::ClsCentralBlob,
            Miner::FastRandom,
            Miner::FastNullish,
        ];
        for cheat in cheaters {
            assert!(
                c(Miner::Honest) > c(cheat) + 0.25,
                "{name}: honest {} vs {cheat:?} {}",
                c(Miner::Honest),
                c(cheat)
            );
        }
        // The honest reference ranks first of the whole red team.
        for (s, r) in &table {
            if *s != Miner::Honest {
                assert!(c(Miner::Honest) > r.composite, "{name}: {s:?}");
            }
        }
        assert!(c(Miner::Fragile) < c(Miner::Honest));
    }
}

#[test]
fn the_seed_profile_pays_the_null_model() {
    // The seed design's literal formula (docs/design.md#6-scoring) is kept for comparison; this is its known
    // weakness, which the medmetric profile removes.
    let seed = MechanismConfig::builtin("seed").unwrap();
    let medmetric = MechanismConfig::builtin("medmetric").unwrap();
    let round = make_round(11, 0.5, (3.0, 6.0), 36);
    let m = measure(Miner::Null, &round, 11);
    let literal = mechanism::score(&seed, &m.images, &m.null, &m.probes, Some(m.latency));
    // Half the images are normal: R_acc = 0.5, R_speed = 1, probes fail.
    assert!((literal.accuracy - 0.5).abs() < 1e-6, "{literal:?}");
    assert!((literal.composite - 0.55).abs() < 1e-6, "{literal:?}");
    let fixed = mechanism::score(&medmetric, &m.images, &m.null, &m.probes, Some(m.latency));
    assert_eq!(fixed.composite, 0.0);
}

#[test]
fn every_profile_scores_the_red_team_in_range() {
    let profiles = ["seed", "medmetric", "sn34", "sn87"];
    let mut table: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for name in profiles {
        let cfg = MechanismConfig::builtin(name).unwrap();
        for (i, (_, round, seed)) in rounds().into_iter().enumerate() {
            for (s, r) in score_all(&cfg, &round, seed) {
                if i == 0 {
                    table.entry(format!("{s:?}")).or_default().push(r.composite);
                }
                check_range(&r);
                let want = if s == Miner::ClsOnly {
                    MinerType::Detector
                } else {
                    MinerType::Segmenter
                };
                assert_eq!(r.miner_type, Some(want));
            }
        }
    }
    println!("| miner | {} |", profiles.join(" | "));
    for miner in RED_TEAM {
        let scores = &table[&format!("{miner:?}")];
        let cells: Vec<String> = scores.iter().map(|v| format!("{v:.3}")).collect();
        println!("| {miner:?} | {} |", cells.join(" | "));
    }
}

#[test]
fn composite_is_the_weighted_mean_of_its_components() {
    for name in ["seed", "medmetric", "sn34", "sn87"] {
        let cfg = MechanismConfig::builtin(name).unwrap();
        let w = cfg.components;
        let round = make_round(5, 0.5, (4.0, 8.0), 24);
        for (_, r) in score_all(&cfg, &round, 5) {
            let want = (w.accuracy * r.accuracy + w.speed * r.speed + w.robustness * r.robustness)
                / (w.accuracy + w.speed + w.robustness);
            assert!((r.composite - want).abs() < 1e-12, "{name}");
        }
    }
}

/// The worked example of docs/mechanism.md, number for number.
#[test]
fn worked_example_in_the_docs() {
    let medmetric = MechanismConfig::builtin("medmetric").unwrap();
    let seed = MechanismConfig::builtin("seed").unwrap();
    // Four 10-pixel images: two normal, two with a lesion on pixels 0 and 1.
    let normal = [0u8; 10];
    let lesion = [1u8, 1, 0, 0, 0, 0, 0, 0, 0, 0];
    let labels = [
        (&normal, false),
        (&normal, false),
        (&lesion, true),
        (&lesion, true),
    ];
    let null: Vec<ImageMetrics> = labels
        .iter()
        .map(|(t, a)| ImageMetrics::null("cxr", &t[..], *a).unwrap())
        .collect();
    let mut found = [0.0f32; 10];
    found[..2].copy_from_slice(&[0.9, 0.9]);
    let mut half = [0.0f32; 10];
    half[..2].copy_from_slice(&[0.9, 0.2]);
    let model = [
        ImageMetrics::measure("cxr", Some(&[0.0; 10]), Some(0.1), &normal, false).unwrap(),
        ImageMetrics::measure("cxr", Some(&[0.0; 10]), Some(0.1), &normal, false).unwrap(),
        ImageMetrics::measure("cxr", Some(&found), Some(0.8), &lesion, true).unwrap(),
        ImageMetrics::measure("cxr", Some(&half), Some(0.8), &lesion, true).unwrap(),
    ];
    let near = |got: f64, want: f64| assert!((got - want).abs() < 5e-5, "{got} vs {want}");
    near(model[2].seg_loss(), 0.0211);
    near(model[3].seg_loss(), 1.0 / 3.0 + 0.1715);
    near(model[0].cls_loss(), 0.1520);
    near(model[2].cls_loss(), 0.3219);
    let probe = ProbeOutcome::measure(
        &[Some(found.to_vec()), Some(found.to_vec())],
        &[Some(0.8), Some(0.8)],
        &lesion,
    )
    .unwrap();
    let probes = [probe];
    let s = mechanism::score(&medmetric, &model, &null, &probes, Some(475.0));
    // S_seg = (0.8685 − 0.5) / 0.5 = 0.7371, S_cls = (0.7630 − 0.5) / 0.5 = 0.5261
    near(s.accuracy, 0.6 * 0.7371 + 0.4 * 0.5261);
    near(s.speed, 0.5);
    near(s.robustness, 1.0);
    near(s.composite, 0.6763);
    let literal = mechanism::score(&seed, &model, &null, &probes, Some(475.0));
    near(literal.accuracy, 0.8263);
    near(literal.composite, 0.7632);
    // The null predictor, fast: 0.55 under seed, 0 under medmetric.
    near(
        mechanism::score(&seed, &null, &null, &[], Some(5.0)).composite,
        0.55,
    );
    assert_eq!(
        mechanism::score(&medmetric, &null, &null, &[], Some(5.0)).composite,
        0.0
    );
    // A weaker segmenter: image 3 half found, image 4 missed entirely.
    // S_seg = (0.6238 − 0.5) / 0.5 = 0.2476, so speed and robustness are
    // credited at g = 0.2476 / 0.5 = 0.4952.
    let weaker = [
        model[0].clone(),
        model[1].clone(),
        model[3].clone(),
        ImageMetrics::measure("cxr", Some(&[0.0; 10]), Some(0.8), &lesion, true).unwrap(),
    ];
    let w = mechanism::score(&medmetric, &weaker, &null, &probes, Some(475.0));
    near(w.accuracy, 0.6 * 0.2476 + 0.4 * 0.5261);
    near(w.speed, 0.4952 * 0.5);
    near(w.robustness, 0.4952);
    near(w.composite, 0.3528);
}

// ---------------------------------------------------------------------------
// Copy detection.

/// A model's per-pixel logits on a round: a smooth function of the
/// distance to its own lesion estimate, plus its own texture.
fn model_logits(round: &Round, style: u64, confident: bool) -> Vec<f32> {
    let mut rng = Rng(style);
    let sharp = rng.range(0.8, 2.0);
    let bias = if confident {
        -16.0
    } else {
        rng.range(-6.0, -3.0)
    };
    let mut out = Vec::new();
    for img in &round.images {
        let (c, r) = if img.abnormal {
            Miner::honest_guess(img, &mut rng)
        } else {
            ((0.0, 0.0), 0.0)
        };
        for y in 0..SIDE {
            for x in 0..SIDE {
                let d = ((x as f64 + 0.5 - c.0).powi(2) + (y as f64 + 0.5 - c.1).powi(2)).sqrt();
                let inside = if r > 0.0 {
                    sharp * (r - d) * 3.0
                } else {
                    -30.0
                };
                let z = inside.max(bias) + 0.3 * rng.normal();
                out.push(z as f32);
            }
        }
        out.push(if img.abnormal { 1.5 } else { -1.5 } + 0.5 * rng.normal() as f32);
    }
    out
}

fn sigmoid(z: &[f32]) -> Vec<f32> {
    z.iter().map(|&z| 1.0 / (1.0 + (-z).exp())).collect()
}

/// Relative logit noise of the size tiny weight noise causes.
fn perturb(z: &[f32], seed: u64, scale: f64) -> Vec<f32> {
    let mut rng = Rng(seed);
    z.iter()
        .map(|&v| (f64::from(v) * (1.0 + scale * rng.normal()) + scale * rng.normal()) as f32)
        .collect()
}

/// Mean-pools each image's mask to 8×8 and keeps the class output, like
/// a validator's fingerprint.
fn pooled(p: &[f32]) -> Vec<f32> {
    let per = SIDE * SIDE + 1;
    let mut out = Vec::new();
    for img in p.chunks(per) {
        let b = SIDE / 8;
        for by in 0..8 {
            for bx in 0..8 {
                let mut s = 0.0f32;
                for y in 0..b {
                    for x in 0..b {
                        s += img[(by * b + y) * SIDE + bx * b + x];
                    }
                }
                out.push(s / (b * b) as f32);
            }
        }
        out.push(img[per - 1]);
    }
    out
}

fn weights(seed: u64, shapes: &[usize]) -> Vec<Vec<f32>> {
    let mut rng = Rng(seed);
    shapes
        .iter()
        .map(|&n| (0..n).map(|_| (0.05 * rng.normal()) as f32).collect())
        .collect()
}

fn entry(hotkey: &str, block: u64, outputs: Vec<f32>, w: Option<Vec<Vec<f32>>>) -> CopyEntry {
    CopyEntry {
        hotkey: Hotkey::from(hotkey),
        commit_block: block,
        outputs,
        weights: w,
    }
}

#[test]
fn output_layer_separates_copies_from_honest_models() {
    let cfg = MechanismConfig::builtin("medmetric").unwrap();
    for (name, round, seed) in rounds() {
        for confident in [false, true] {
            let a = model_logits(&round, seed * 7 + 1, confident);
            let b = model_logits(&round, seed * 7 + 2, confident);
            let copy = perturb(&a, seed, 0.003);
            let (pa, pb, pc) = (sigmoid(&a), sigmoid(&b), sigmoid(&copy));
            for (label, fa, fb, fc) in [
                ("raw", pa.clone(), pb.clone(), pc.clone()),
                ("pooled", pooled(&pa), pooled(&pb), pooled(&pc)),
            ] {
                let honest = copies::compare_outputs(&cfg.copies, &fa, &fb).unwrap();
                let dup = copies::compare_outputs(&cfg.copies, &fa, &fc).unwrap();
                println!(
                    "{name} confident={confident} {label}: honest {:.3}/{:.3} copy {:.4}/{:.4}",
                    honest.mean_logit_diff,
                    honest.far_fraction,
                    dup.mean_logit_diff,
                    dup.far_fraction
                );
                assert!(!honest.flagged, "{name} {label}: {honest:?}");
                assert!(dup.flagged, "{name} {label}: {dup:?}");
            }
            let v = copies::detect(
                &cfg,
                &[
                    entry("b-honest", 120, pb.clone(), None),
                    entry("z-copy", 150, pc.clone(), None),
                    entry("a-orig", 100, pa.clone(), None),
                ],
            );
            assert_eq!(v.len(), 1, "{v:?}");
            assert_eq!(v["z-copy"].original, "a-orig");
        }
    }
}

#[test]
fn saturated_identical_outputs_are_no_evidence() {
    let cfg = MechanismConfig::builtin("medmetric").unwrap();
    // Two models that output exact zeros and ones agree everywhere, but
    // only at saturation: nothing to judge from outputs alone.
    let hard: Vec<f32> = (0..4096)
        .map(|i| if i % 97 == 0 { 1.0 } else { 0.0 })
        .collect();
    assert!(copies::compare_outputs(&cfg.copies, &hard, &hard).is_none());
    assert!(
        copies::detect(
            &cfg,
            &[entry("a", 1, hard.clone(), None), entry("b", 2, hard, None)]
        )
        .is_empty()
    );
    // Different lengths are not comparable either.
    assert!(copies::compare_outputs(&cfg.copies, &[0.3; 100], &[0.3; 99]).is_none());
}

#[test]
fn weight_layer_sees_through_reordering_and_rescaling() {
    let cfg = MechanismConfig::builtin("medmetric").unwrap();
    let shapes = [64 * 9, 64 * 64 * 9, 64 * 64 * 9, 128, 64 * 64 * 9, 1, 10];
    let a = weights(1, &shapes);
    let b = weights(2, &shapes);
    let mut rng = Rng(3);
    // Tiny noise, every tensor rescaled, order reversed, a padding tensor.
    let mut copy: Vec<Vec<f32>> = a
        .iter()
        .map(|t| {
            t.iter()
                .map(|&v| (2.5 * (f64::from(v) + 1e-3 * 0.05 * rng.normal()) + 0.1) as f32)
                .collect()
        })
        .collect();
    copy.reverse();
    let honest = copies::compare_weights(&cfg.copies, &a, &b).unwrap();
    let dup = copies::compare_weights(&cfg.copies, &a, &copy).unwrap();
    // Similarity is relative to the larger model: a model that carries one
    // of another's tensors is not its copy (nor its original), and padding
    // a copy with extra used weights dilutes this layer (the output layer
    // still sees the same function).
    let bait = vec![a[1].clone()];
    let sliver = copies::compare_weights(&cfg.copies, &bait, &a).unwrap();
    assert!(!sliver.flagged && sliver.similarity < 0.9, "{sliver:?}");
    let mut padded = copy.clone();
    padded.push(weights(4, &[64 * 64 * 9 * 4]).remove(0));
    let diluted = copies::compare_weights(&cfg.copies, &a, &padded).unwrap();
    assert!(diluted.similarity < dup.similarity, "{diluted:?}");
    println!("weights: honest {honest:?}\n copy {dup:?}");
    assert!(
        !honest.flagged && honest.similarity.abs() < 0.2,
        "{honest:?}"
    );
    assert!(
        dup.flagged && dup.exact && dup.similarity > 0.999,
        "{dup:?}"
    );
    assert_eq!(dup.matched_tensors, 5);
    // Reduced weights give the same verdicts.
    let small = |w: &[Vec<f32>]| copies::reduce_weights(w, 4096);
    assert!(small(&a).iter().all(|t| t.len() <= 4096));
    // a[1] is copy[5] after the reversal: same length, same positions.
    assert_eq!(small(&a)[1].len(), small(&copy)[5].len());
    let honest_small = copies::compare_weights(&cfg.copies, &small(&a), &small(&b)).unwrap();
    let dup_small = copies::compare_weights(&cfg.copies, &small(&a), &small(&copy)).unwrap();
    assert!(
        !honest_small.flagged && dup_small.flagged,
        "{honest_small:?} {dup_small:?}"
    );
    assert!((dup_small.similarity - dup.similarity).abs() < 1e-4);
    // A real fine-tune moves weights by much more than noise.
    let mut rng = Rng(5);
    let tuned: Vec<Vec<f32>> = a
        .iter()
        .map(|t| {
            t.iter()
                .map(|&v| v + (0.05 * 0.5 * rng.normal()) as f32)
                .collect()
        })
        .collect();
    let t = copies::compare_weights(&cfg.copies, &a, &tuned).unwrap();
    assert!(!t.flagged && t.similarity < 0.95, "{t:?}");
    // A temperature on a copied model's outputs: both layers see it now,
    // the weights as before and the outputs by their ranks.
    let round = make_round(9, 0.5, (4.0, 8.0), 12);
    let z = model_logits(&round, 9, false);
    let hot: Vec<f32> = z.iter().map(|v| v * 1.3).collect();
    let v = copies::detect(
        &cfg,
        &[
            entry("orig", 10, sigmoid(&z), Some(a.clone())),
            entry("copier", 20, sigmoid(&hot), Some(copy.clone())),
            entry(
                "other",
                5,
                sigmoid(&model_logits(&round, 10, false)),
                Some(b.clone()),
            ),
        ],
    );
    assert_eq!(v.len(), 1, "{v:?}");
    let verdict = &v["copier"];
    assert_eq!(verdict.original, "orig");
    let out = verdict.outputs.unwrap();
    assert!(out.mean_logit_diff > cfg.copies.output_mean_logit_diff);
    assert!(
        out.flagged && out.rank_correlation.unwrap() > 0.999,
        "{out:?}"
    );
    assert!(verdict.weights.unwrap().flagged);
}

#[test]
fn earliest_commitment_is_the_original_and_ties_go_to_the_smaller_hotkey() {
    let cfg = MechanismConfig::builtin("medmetric").unwrap();
    let out: Vec<f32> = (0..500).map(|i| (i % 17) as f32 / 20.0 + 0.05).collect();
    let v = copies::detect(
        &cfg,
        &[
            entry("carol", 300, out.clone(), None),
            entry("bob", 200, out.clone(), None),
            entry("alice", 200, out.clone(), None),
        ],
    );
    assert_eq!(v.keys().collect::<Vec<_>>(), ["bob", "carol"]);
    assert!(
        v.values()
            .all(|x| x.original == "alice" && x.matched == "alice")
    );
    let mut results: BTreeMap<Hotkey, f64> = [("alice", 0.7), ("bob", 0.7), ("carol", 0.7)]
        .iter()
        .map(|(h, s)| (Hotkey::from(*h), *s))
        .collect();
    copies::zero_copies(&mut results, &v);
    assert_eq!(results["alice"], 0.7);
    assert_eq!((results["bob"], results["carol"]), (0.0, 0.0));
}

#[test]
fn the_ledger_keeps_a_copier_flagged_until_it_recommits() {
    let cfg = MechanismConfig::builtin("medmetric").unwrap();
    let round = make_round(21, 0.5, (4.0, 8.0), 12);
    let z = model_logits(&round, 1, false);
    let orig = sigmoid(&z);
    let mut ledger = CopyLedger::new();
    let v = ledger.detect(
        &cfg,
        1,
        &[
            entry("orig", 10, orig.clone(), None),
            entry("copier", 20, sigmoid(&perturb(&z, 2, 0.003)), None),
        ],
    );
    assert_eq!(v["copier"].flagged_since_round, Some(1));
    // Round 2: fresh evidence again confirms the verdict.
    let v = ledger.detect(
        &cfg,
        2,
        &[
            entry("orig", 10, orig.clone(), None),
            entry("copier", 20, sigmoid(&perturb(&z, 4, 0.003)), None),
        ],
    );
    assert!(v.contains_key("copier"));
    assert_eq!(ledger.record("copier").unwrap().evidence_rounds, 2);
    // Round 3: outputs noisy enough to pass both output rules on one
    // round; a confirmed verdict holds.
    let noisy = sigmoid(&perturb(&z, 3, 0.2));
    let e = copies::compare_outputs(&cfg.copies, &orig, &noisy).unwrap();
    assert!(!e.flagged, "{e:?}");
    let entries = [
        entry("orig", 10, orig.clone(), None),
        entry("copier", 20, noisy.clone(), None),
    ];
    let v = ledger.detect(&cfg, 3, &entries);
    assert_eq!(v["copier"].original, "orig");
    assert_eq!(v["copier"].flagged_since_round, Some(1));
    assert!(v["copier"].outputs.is_none());
    // The ledger survives serialisation.
    let json = serde_json::to_string(&ledger).unwrap();
    let mut back: CopyLedger = serde_json::from_str(&json).unwrap();
    assert_eq!(back, ledger);
    // A new commitment starts clean.
    let fresh = [
        entry("orig", 10, orig.clone(), None),
        entry("copier", 500, noisy, None),
    ];
    assert!(back.detect(&cfg, 4, &fresh).is_empty());
    assert!(back.is_empty());
    // A second clean round in a row clears the verdict.
    let mut cleared = ledger.clone();
    assert!(cleared.detect(&cfg, 4, &entries).is_empty());
    assert!(cleared.is_empty());
    // Deregistration forgets.
    ledger.retain_registered(&[Hotkey::from("orig")]);
    assert!(ledger.record("copier").is_none());
}

#[test]
fn a_suspicion_needs_a_second_round_and_a_wrongly_flagged_miner_recovers() {
    let cfg = MechanismConfig::builtin("medmetric").unwrap();
    let round = make_round(22, 0.5, (4.0, 8.0), 12);
    let z = model_logits(&round, 1, false);
    let orig = sigmoid(&z);
    let mut ledger = CopyLedger::new();
    // One round where the two happen to match: credit withheld that round.
    let v = ledger.detect(
        &cfg,
        1,
        &[
            entry("orig", 10, orig.clone(), None),
            entry("other", 20, sigmoid(&perturb(&z, 2, 0.003)), None),
        ],
    );
    assert!(v.contains_key("other"));
    // Next round they are compared and differ: the suspicion is dropped at
    // once, and nothing is remembered.
    let independent = sigmoid(&model_logits(&round, 9, false));
    let v = ledger.detect(
        &cfg,
        2,
        &[
            entry("orig", 10, orig.clone(), None),
            entry("other", 20, independent, None),
        ],
    );
    assert!(v.is_empty(), "{v:?}");
    assert!(ledger.is_empty());
    // Without the original in the round, an unconfirmed suspicion does not
    // zero anyone either.
    let mut pending = CopyLedger::new();
    pending.detect(
        &cfg,
        1,
        &[
            entry("orig", 10, orig.clone(), None),
            entry("other", 20, sigmoid(&perturb(&z, 2, 0.003)), None),
        ],
    );
    let v = pending.detect(&cfg, 2, &[entry("other", 20, orig, None)]);
    assert!(v.is_empty());
}

// ---------------------------------------------------------------------------
// Rewards and the score book end to end.

#[test]
fn a_round_end_to_end_pays_the_honest_model_most() {
    let cfg = MechanismConfig::builtin("medmetric").unwrap();
    let mut book = ScoreBook::new();
    let registered: Vec<Hotkey> = RED_TEAM.iter().map(|s| Hotkey(format!("{s:?}"))).collect();
    for (i, (_, round, seed)) in rounds().into_iter().enumerate() {
        let results: BTreeMap<Hotkey, f64> = score_all(&cfg, &round, seed)
            .into_iter()
            .map(|(s, r)| (Hotkey(format!("{s:?}")), r.composite))
            .collect();
        assert!(book.update(&cfg, i as u64 + 1, &results, &registered));
    }
    let shares = reward::apply(&cfg, &book.scores());
    let best = shares.iter().max_by(|a, b| a.1.total_cmp(&b.1)).unwrap();
    assert_eq!(best.0, "Honest");
    let sum: f64 = shares.iter().map(|(_, w)| w).sum();
    assert!((sum - 1.0).abs() < 1e-12);
    assert_eq!(shares.iter().find(|(h, _)| h == "Null").unwrap().1, 0.0);
}

// ---------------------------------------------------------------------------
// Properties.

fn any_profile() -> impl Strategy<Value = MechanismConfig> {
    prop::sample::select(vec!["seed", "medmetric", "sn34", "sn87"])
        .prop_map(|n| MechanismConfig::builtin(n).unwrap())
}

fn any_prob() -> impl Strategy<Value = f32> {
    prop_oneof![0.0f32..=1.0, Just(0.0), Just(1.0), Just(0.5), any::<f32>()]
}

prop_compose! {
    fn any_image()(
        group in prop::sample::select(vec!["cxr", "brain", "bone"]),
        truth in prop::collection::vec(0u8..=1, 16),
        mask in prop::option::of(prop::collection::vec(any_prob(), 16)),
        cls in prop::option::of(any_prob()),
    ) -> (ImageMetrics, ImageMetrics) {
        let abnormal = truth.iter().any(|&t| t != 0);
        (
            ImageMetrics::measure(group, mask.as_deref(), cls, &truth, abnormal).unwrap(),
            ImageMetrics::null(group, &truth, abnormal).unwrap(),
        )
    }
}

prop_compose! {
    fn any_probe()(
        truth in prop::collection::vec(0u8..=1, 16),
        variants in prop::collection::vec(
            (prop::option::of(prop::collection::vec(any_prob(), 16)), prop::option::of(any_prob())),
            1..5,
        ),
    ) -> ProbeOutcome {
        let (masks, calls): (Vec<_>, Vec<_>) = variants.into_iter().unzip();
        ProbeOutcome::measure(&masks, &calls, &truth).unwrap()
    }
}

fn curves() -> impl Strategy<Value = MechanismConfig> {
    use medmetric_scoring::mechanism::config::RewardCurve;
    let curve = prop_oneof![
        (1u32..10, 0.01f64..=1.0)
            .prop_map(|(top_k, ratio)| RewardCurve::Geometric { top_k, ratio }),
        Just(RewardCurve::Wta {}),
        (1e-3f64..10.0).prop_map(|temperature| RewardCurve::Softmax { temperature }),
        Just(RewardCurve::Proportional {}),
    ];
    curve.prop_map(|c| {
        let mut cfg = MechanismConfig::builtin("medmetric").unwrap();
        cfg.reward = c;
        cfg
    })
}

fn any_score() -> impl Strategy<Value = f64> {
    prop_oneof![0.0f64..=1.0, Just(0.0), Just(0.5), any::<f64>()]
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("proptest-regressions"))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn scores_are_always_finite_and_in_range(
        cfg in any_profile(),
        images in prop::collection::vec(any_image(), 1..12),
        probes in prop::collection::vec(any_probe(), 0..4),
        latency in prop::option::of(any::<f64>()),
    ) {
        let (model, null): (Vec<_>, Vec<_>) = images.into_iter().unzip();
        let s = mechanism::score(&cfg, &model, &null, &probes, latency);
        prop_assert!(s.failure.is_none());
        for v in [s.accuracy, s.speed, s.robustness, s.composite] {
            prop_assert!(v.is_finite() && (0.0..=1.0).contains(&v), "{:?}", s);
        }
        for g in s.per_group.values() {
            for v in [g.accuracy, g.speed, g.robustness, g.composite] {
                prop_assert!(v.is_finite() && (0.0..=1.0).contains(&v), "{:?}", s);
            }
        }
        // The null predictor never earns anything under medmetric.
        if cfg.profile == mechanism::Profile::Medmetric {
            let n = mechanism::score(&cfg, &null, &null, &probes, latency);
            prop_assert_eq!(n.composite, 0.0);
        }
    }

    #[test]
    fn rewards_are_shares(
        cfg in curves(),
        scores in prop::collection::btree_map("[a-e]{1,3}", any_score(), 0..20),
    ) {
        // Distinct hotkeys, in a non-sorted order.
        let mut input: Vec<(Hotkey, f64)> = scores.into_iter().map(|(h, s)| (Hotkey(h), s)).collect();
        let half = input.len() / 2;
        input.rotate_left(half);
        let out = reward::apply(&cfg, &input);
        prop_assert_eq!(out.len(), input.len());
        let sum: f64 = out.iter().map(|(_, w)| *w).sum();
        prop_assert!(out.iter().all(|(_, w)| w.is_finite() && *w >= 0.0));
        // The leader always clears the relative floor, so someone is paid
        // exactly when some score is positive and clears the absolute one.
        let absolute = cfg.skill_floor.map_or(0.0, |f| f.absolute);
        let anyone = input
            .iter()
            .any(|(_, s)| s.is_finite() && *s > 0.0 && *s >= absolute);
        if anyone {
            prop_assert!((sum - 1.0).abs() < 1e-9, "sum {}", sum);
        } else {
            prop_assert_eq!(sum, 0.0);
        }
        // Input order does not matter.
        let mut rev = input.clone();
        rev.reverse();
        let mut back = reward::apply(&cfg, &rev);
        back.reverse();
        prop_assert_eq!(back, out);
    }

    #[test]
    fn shares_by_type_are_shares(
        scores in prop::collection::vec(("[a-e]{1,3}", any::<bool>(), any_score()), 0..20),
    ) {
        let cfg = MechanismConfig::builtin("sn34").unwrap();
        let input: Vec<(Hotkey, MinerType, f64)> = scores
            .into_iter()
            .map(|(h, seg, s)| (Hotkey(h), if seg { MinerType::Segmenter } else { MinerType::Detector }, s))
            .collect();
        let out = reward::apply_by_type(&cfg, &input);
        let sum: f64 = out.iter().map(|(_, w)| *w).sum();
        prop_assert!(out.iter().all(|(_, w)| w.is_finite() && *w >= 0.0));
        prop_assert!(sum == 0.0 || (sum - 1.0).abs() < 1e-9, "sum {}", sum);
    }

    #[test]
    fn the_score_book_is_deterministic(
        rounds in prop::collection::vec(
            (1u64..4, prop::collection::btree_map("[a-f]", any_score(), 0..6), prop::collection::vec("[a-f]", 0..6)),
            1..12,
        ),
    ) {
        let cfg = MechanismConfig::builtin("medmetric").unwrap();
        let (mut a, mut b) = (ScoreBook::new(), ScoreBook::new());
        let mut id = 0;
        for (step, results, registered) in &rounds {
            id += step;
            let results: BTreeMap<Hotkey, f64> =
                results.iter().map(|(h, s)| (Hotkey(h.clone()), *s)).collect();
            let results = &results;
            let registered: Vec<Hotkey> = registered.iter().map(|h| Hotkey(h.clone())).collect();
            let registered = &registered;
            let mut reversed = registered.clone();
            reversed.reverse();
            let applied = a.update(&cfg, id, results, registered);
            prop_assert_eq!(applied, b.update(&cfg, id, results, &reversed));
            prop_assert!(!a.update(&cfg, id, results, registered));
        }
        prop_assert_eq!(serde_json::to_vec(&a).unwrap(), serde_json::to_vec(&b).unwrap());
        for e in a.entries().values() {
            prop_assert!(e.ema.is_finite() && (0.0..=1.0).contains(&e.ema));
        }
        let back: ScoreBook = serde_json::from_slice(&serde_json::to_vec(&a).unwrap()).unwrap();
        prop_assert_eq!(back, a);
    }

    #[test]
    fn incumbency_is_order_free_and_never_raises_a_score(
        items in prop::collection::btree_map("[a-h]", (0u64..50, any_score()), 0..8),
        now in 0u64..20_000,
    ) {
        let cfg = MechanismConfig::builtin("medmetric").unwrap();
        let input: Vec<(Hotkey, u64, f64)> = items.into_iter().map(|(h, (b, s))| (Hotkey(h), b * 300, s)).collect();
        let out = apply_incumbency(&cfg, &input, now);
        let mut rev = input.clone();
        rev.reverse();
        let mut back = apply_incumbency(&cfg, &rev, now);
        back.reverse();
        prop_assert_eq!(&back, &out);
        for ((_, _, raw), (_, eff)) in input.iter().zip(&out) {
            prop_assert!(eff.is_finite() && *eff >= 0.0);
            let raw = if raw.is_finite() && *raw > 0.0 { *raw } else { 0.0 };
            prop_assert!(*eff <= raw);
        }
    }

    #[test]
    fn copy_verdicts_do_not_depend_on_entry_order(
        outputs in prop::collection::vec(prop::collection::vec(0.0f32..=1.0, 80), 1..5),
        dup_of in prop::collection::vec(0usize..5, 0..3),
    ) {
        let cfg = MechanismConfig::builtin("medmetric").unwrap();
        let mut entries: Vec<CopyEntry> = outputs
            .iter()
            .enumerate()
            .map(|(i, o)| entry(&format!("m{i}"), (i as u64 % 3) * 10, o.clone(), None))
            .collect();
        for (k, &d) in dup_of.iter().enumerate() {
            let src = entries[d % entries.len()].outputs.clone();
            entries.push(entry(&format!("d{k}"), 100 + k as u64, src, None));
        }
        let forward = copies::detect(&cfg, &entries);
        entries.reverse();
        prop_assert_eq!(&copies::detect(&cfg, &entries), &forward);
        for d in 0..dup_of.len() {
            let key = format!("d{d}");
            prop_assert!(forward.contains_key(key.as_str()), "{} not flagged", key);
        }
    }
}
