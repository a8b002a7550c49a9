//! Copy detection (docs/mechanism.md#5-copy-detection): two layers, the earliest commitment keeps its
//! score, duplicates get 0.
//!
//! **Outputs.** Two models' outputs on the same round (the same elements in
//! the same order) are compared in logit space, `z = ln(p / (1 − p))` with
//! `p` clamped to `[1e-6, 1 − 1e-6]`. An element where both models are
//! saturated at the same end says nothing (two good models both output 0
//! on healthy background) and is left out; the rest are *informative*. The
//! pair is near-identical when, over at least `output_min_informative`
//! informative elements, the mean `|z_a − z_b|` is at most
//! `output_mean_logit_diff` **and** at most a fraction
//! `output_max_far_fraction` of them differ by more than
//! `output_far_logit_diff`.
//!
//! Why logits: weight noise moves a logit by a small relative amount at
//! every element, while two independently trained models disagree by a
//! logit or more almost everywhere, even where both probabilities look
//! "close to 0". Comparing raw probabilities would call two confident
//! honest models copies on a mostly-normal round; comparing thresholded
//! masks would let a copy escape whenever a few elements sit near 0.5.
//!
//! **Weights.** Each float initializer with at least
//! `weight_min_tensor_elements` elements and non-zero variance is z-scored;
//! two tensors' similarity is then their Pearson correlation (the cosine of
//! the z-scored vectors), which ignores rescaling and shifting a tensor.
//! Tensors are matched only with tensors of the same size, greedily by best
//! similarity, so reordering or renaming initializers does not help. The
//! model similarity is the element-weighted mean correlation over matched
//! pairs, divided by the smaller model's eligible elements (so unmatched
//! padding tensors in a copy do not dilute it); at least
//! `weight_similarity` is a copy. Matching uses a 256-element sketch of each
//! tensor; the exact correlation is computed only for pairs whose sketch
//! estimate comes within 0.1 of the threshold.
//!
//! Not caught: a copy whose channels are permuted *and* whose outputs are
//! transformed (the permutation keeps the outputs, so layer 1 catches it
//! alone; a temperature on the outputs keeps the weights, so layer 2
//! catches that alone).
//!
//! **Who is the original.** Flagged pairs form groups (connected
//! components); in each group the earliest `commit_block` is the original
//! (ties: the lexicographically smaller hotkey), every other member is a
//! duplicate.
//!
//! **Across rounds** ([`CopyLedger`]): a verdict sticks to the copier's
//! hotkey *and* commitment block. In every later round the same commitment
//! is flagged again even when that round's evidence is weaker or missing; a
//! new commitment from that hotkey starts clean, and deregistered hotkeys
//! are forgotten ([`CopyLedger::retain_registered`]).

use std::collections::BTreeMap;

use medmetric_core::Hotkey;
use serde::{Deserialize, Serialize};

use super::config::{CopyTolerances, MechanismConfig};

/// Probabilities are clamped to `[LOGIT_CLAMP, 1 − LOGIT_CLAMP]` before the
/// logit, so a saturated output has a finite logit (about ±13.8).
const LOGIT_CLAMP: f64 = 1e-6;
/// Elements in a tensor's sketch.
const SKETCH: usize = 256;
/// How far below the threshold a sketch estimate may be and still get an
/// exact check.
const PREFILTER_MARGIN: f64 = 0.1;

/// One model's material for copy detection on one round.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CopyEntry {
    /// The miner's hotkey.
    pub hotkey: Hotkey,
    /// Block of the model's commitment.
    pub commit_block: u64,
    /// The model's outputs on this round (probabilities), concatenated in
    /// the same order for every model.
    pub outputs: Vec<f32>,
    /// The model's float initializers, if available
    /// (`medmetric_model::initializers::float_initializers`).
    pub weights: Option<Vec<Vec<f32>>>,
}

/// Layer-1 evidence between two models.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct OutputEvidence {
    /// Mean absolute logit difference over informative elements.
    pub mean_logit_diff: f64,
    /// Fraction of informative elements whose logits differ by more than
    /// `output_far_logit_diff`.
    pub far_fraction: f64,
    /// Informative elements compared.
    pub informative: u64,
    /// Spearman rank correlation over the elements where either model's
    /// probability reaches `output_floor` (`None` when the rule is off or
    /// too few elements qualify).
    #[serde(default)]
    pub rank_correlation: Option<f64>,
    /// Whether this evidence alone makes the pair copies.
    pub flagged: bool,
}

/// Layer-2 evidence between two models.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct WeightEvidence {
    /// Element-weighted mean correlation of matched tensors, over the
    /// smaller model's eligible elements.
    pub similarity: f64,
    /// Whether `similarity` is exact (`false`: the sketch estimate, which
    /// was too far below the threshold to check exactly).
    pub exact: bool,
    /// Tensor pairs matched.
    pub matched_tensors: usize,
    /// Elements in the matched tensors (of the smaller model).
    pub matched_elements: u64,
    /// Whether this evidence alone makes the pair copies.
    pub flagged: bool,
}

/// Why a model is treated as a duplicate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CopyVerdict {
    /// The hotkey treated as the original (earliest commitment of the group).
    pub original: Hotkey,
    /// The hotkey the evidence below was measured against (the original
    /// itself unless the link is indirect).
    pub matched: Hotkey,
    /// This round's output evidence against `matched`, if comparable.
    pub outputs: Option<OutputEvidence>,
    /// This round's weight evidence against `matched`, if comparable.
    pub weights: Option<WeightEvidence>,
    /// Round in which this commitment was first flagged ([`CopyLedger`]
    /// only; `None` from [`detect`]).
    pub flagged_since_round: Option<u64>,
}

/// Compares two models' outputs; `None` when they are not comparable
/// (different lengths or too few informative elements).
pub fn compare_outputs(tol: &CopyTolerances, a: &[f32], b: &[f32]) -> Option<OutputEvidence> {
    if a.len() != b.len() {
        return None;
    }
    let la: Vec<f32> = a.iter().map(|&p| logit(p)).collect();
    let lb: Vec<f32> = b.iter().map(|&p| logit(p)).collect();
    compare_logits(tol, &la, &lb)
}

/// Average ranks (ties share the mean of their positions), from 1.
fn ranks(v: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|&i, &j| v[i].total_cmp(&v[j]).then(i.cmp(&j)));
    let mut r = vec![0.0; v.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && v[idx[j + 1]] == v[idx[i]] {
            j += 1;
        }
        let mean = (i + j) as f64 / 2.0 + 1.0;
        for &k in &idx[i..=j] {
            r[k] = mean;
        }
        i = j + 1;
    }
    r
}

fn pearson(a: &[f64], b: &[f64]) -> Option<f64> {
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        let (dx, dy) = (x - ma, y - mb);
        sab += dx * dy;
        saa += dx * dx;
        sbb += dy * dy;
    }
    let den = (saa * sbb).sqrt();
    (den > 0.0 && den.is_finite()).then(|| (sab / den).clamp(-1.0, 1.0))
}

/// Spearman rank correlation of two models' logits over the elements where
/// either probability reaches `floor` (logits of `floor` and above). Ranks
/// are what a monotone recalibration cannot change, so a temperature or an
/// affine shift of the logits leaves this at 1.
fn rank_correlation(tol: &CopyTolerances, a: &[f32], b: &[f32]) -> Option<f64> {
    tol.output_rank_correlation?;
    let floor = logit(tol.output_floor.unwrap_or(0.0) as f32);
    let (x, y): (Vec<f64>, Vec<f64>) = a
        .iter()
        .zip(b)
        .filter(|&(&p, &q)| p >= floor || q >= floor)
        .map(|(&p, &q)| (f64::from(p), f64::from(q)))
        .unzip();
    if (x.len() as u64) < tol.output_min_informative.max(2) {
        return None;
    }
    pearson(&ranks(&x), &ranks(&y))
}

fn logit(p: f32) -> f32 {
    let p = f64::from(p);
    let p = if p.is_nan() {
        0.5
    } else {
        p.clamp(LOGIT_CLAMP, 1.0 - LOGIT_CLAMP)
    };
    (libm::log(p) - libm::log1p(-p)) as f32
}

fn compare_logits(tol: &CopyTolerances, a: &[f32], b: &[f32]) -> Option<OutputEvidence> {
    if a.len() != b.len() {
        return None;
    }
    let z_max = logit(1.0);
    let (mut sum, mut far, mut informative) = (0.0f64, 0u64, 0u64);
    for (&x, &y) in a.iter().zip(b) {
        if x == y && x.abs() == z_max {
            continue;
        }
        let d = (f64::from(x) - f64::from(y)).abs();
        sum += d;
        far += u64::from(d > tol.output_far_logit_diff);
        informative += 1;
    }
    if informative < tol.output_min_informative.max(1) {
        return None;
    }
    let mean_logit_diff = sum / informative as f64;
    let far_fraction = far as f64 / informative as f64;
    let rank_correlation = rank_correlation(tol, a, b);
    let same_function = matches!(
        (rank_correlation, tol.output_rank_correlation),
        (Some(r), Some(min)) if r >= min
    );
    Some(OutputEvidence {
        mean_logit_diff,
        far_fraction,
        informative,
        rank_correlation,
        flagged: same_function
            || (mean_logit_diff <= tol.output_mean_logit_diff
                && far_fraction <= tol.output_max_far_fraction),
    })
}

/// A tensor prepared for comparison.
struct Tensor<'a> {
    values: &'a [f32],
    mean: f64,
    /// `1 / ‖x − mean‖`.
    inv_norm: f64,
    /// Centred values at evenly spaced positions, and their norm.
    sketch: Vec<f64>,
    sketch_norm: f64,
}

fn prepare<'a>(tol: &CopyTolerances, tensors: &'a [Vec<f32>]) -> Vec<Tensor<'a>> {
    let mut out = Vec::new();
    for t in tensors {
        let n = t.len();
        if (n as u64) < tol.weight_min_tensor_elements || t.iter().any(|v| !v.is_finite()) {
            continue;
        }
        let mean = t.iter().map(|&v| f64::from(v)).sum::<f64>() / n as f64;
        let ss: f64 = t
            .iter()
            .map(|&v| {
                let d = f64::from(v) - mean;
                d * d
            })
            .sum();
        if !(ss > 0.0 && ss.is_finite()) {
            continue;
        }
        let s = n.min(SKETCH);
        let sketch: Vec<f64> = (0..s).map(|j| f64::from(t[j * n / s]) - mean).collect();
        let sketch_norm = sketch.iter().map(|v| v * v).sum::<f64>().sqrt();
        out.push(Tensor {
            values: t,
            mean,
            inv_norm: 1.0 / ss.sqrt(),
            sketch,
            sketch_norm,
        });
    }
    out
}

fn sketch_similarity(a: &Tensor, b: &Tensor) -> f64 {
    let den = a.sketch_norm * b.sketch_norm;
    if den == 0.0 {
        return 0.0;
    }
    a.sketch
        .iter()
        .zip(&b.sketch)
        .map(|(x, y)| x * y)
        .sum::<f64>()
        / den
}

fn exact_similarity(a: &Tensor, b: &Tensor) -> f64 {
    let dot: f64 = a
        .values
        .iter()
        .zip(b.values)
        .map(|(&x, &y)| (f64::from(x) - a.mean) * (f64::from(y) - b.mean))
        .sum();
    (dot * a.inv_norm * b.inv_norm).clamp(-1.0, 1.0)
}

/// Compares two models' float initializers; `None` when either has no
/// eligible tensor.
pub fn compare_weights(
    tol: &CopyTolerances,
    a: &[Vec<f32>],
    b: &[Vec<f32>],
) -> Option<WeightEvidence> {
    compare_prepared(tol, &prepare(tol, a), &prepare(tol, b))
}

fn compare_prepared(tol: &CopyTolerances, a: &[Tensor], b: &[Tensor]) -> Option<WeightEvidence> {
    let total = |ts: &[Tensor]| ts.iter().map(|t| t.values.len() as u64).sum::<u64>();
    // Relative to the larger model: a small model that carries one tensor
    // of a large one shares a sliver of it, not all of itself.
    let denom = total(a).max(total(b));
    if denom == 0 {
        return None;
    }
    // Candidate pairs: same size only, best sketch similarity first.
    let mut candidates: Vec<(f64, usize, usize)> = Vec::new();
    for (i, ta) in a.iter().enumerate() {
        for (j, tb) in b.iter().enumerate() {
            if ta.values.len() == tb.values.len() {
                candidates.push((sketch_similarity(ta, tb), i, j));
            }
        }
    }
    candidates.sort_by(|x, y| y.0.total_cmp(&x.0).then(x.1.cmp(&y.1)).then(x.2.cmp(&y.2)));
    let (mut used_a, mut used_b) = (vec![false; a.len()], vec![false; b.len()]);
    let mut matched: Vec<(f64, usize, usize)> = Vec::new();
    for (s, i, j) in candidates {
        if !used_a[i] && !used_b[j] {
            used_a[i] = true;
            used_b[j] = true;
            matched.push((s, i, j));
        }
    }
    let weighted = |f: &dyn Fn(f64, usize, usize) -> f64| {
        matched
            .iter()
            .map(|&(s, i, j)| a[i].values.len() as f64 * f(s, i, j))
            .sum::<f64>()
            / denom as f64
    };
    let estimate = weighted(&|s, _, _| s);
    let exact = estimate >= tol.weight_similarity - PREFILTER_MARGIN;
    let similarity = if exact {
        weighted(&|_, i, j| exact_similarity(&a[i], &b[j]))
    } else {
        estimate
    };
    Some(WeightEvidence {
        similarity,
        exact,
        matched_tensors: matched.len(),
        matched_elements: matched
            .iter()
            .map(|&(_, i, _)| a[i].values.len() as u64)
            .sum(),
        flagged: exact && similarity >= tol.weight_similarity,
    })
}

/// Shrinks float initializers for keeping between evaluation and copy
/// detection: a tensor longer than `max_per_tensor` is replaced by every
/// `s`-th element, `s = ⌈n / max_per_tensor⌉`. Tensors of equal length
/// keep equal lengths and the same positions, so a copy still lines up
/// with its original, and correlations change only by sampling noise
/// (about `1/√max_per_tensor` for unrelated tensors). With 16 384 a 100 MB
/// model keeps a few MB.
pub fn reduce_weights(tensors: &[Vec<f32>], max_per_tensor: usize) -> Vec<Vec<f32>> {
    let max = max_per_tensor.max(1);
    tensors
        .iter()
        .map(|t| {
            if t.len() <= max {
                t.clone()
            } else {
                t.iter().step_by(t.len().div_ceil(max)).copied().collect()
            }
        })
        .collect()
}

/// Finds duplicates among one round's models. Returns a verdict for every
/// duplicate, keyed by hotkey; originals and unrelated models are absent.
/// If a hotkey appears twice, only its first entry is used.
pub fn detect(cfg: &MechanismConfig, entries: &[CopyEntry]) -> BTreeMap<Hotkey, CopyVerdict> {
    let tol = &cfg.copies;
    let mut seen = std::collections::BTreeSet::new();
    let mut models: Vec<&CopyEntry> = entries
        .iter()
        .filter(|e| seen.insert(e.hotkey.as_str()))
        .collect();
    models.sort_by(|x, y| {
        x.commit_block
            .cmp(&y.commit_block)
            .then_with(|| x.hotkey.cmp(&y.hotkey))
    });
    let logits: Vec<Vec<f32>> = models
        .iter()
        .map(|e| e.outputs.iter().map(|&p| logit(p)).collect())
        .collect();
    let tensors: Vec<Option<Vec<Tensor>>> = models
        .iter()
        .map(|e| e.weights.as_deref().map(|w| prepare(tol, w)))
        .collect();

    let n = models.len();
    let mut parent: Vec<usize> = (0..n).collect();
    // Edges (i < j in commit order) with their evidence.
    let mut edges: Vec<(usize, usize, Option<OutputEvidence>, Option<WeightEvidence>)> = Vec::new();
    for i in 0..n {
        for j in i + 1..n {
            let out = compare_logits(tol, &logits[i], &logits[j]);
            let w = match (&tensors[i], &tensors[j]) {
                (Some(a), Some(b)) => compare_prepared(tol, a, b),
                _ => None,
            };
            if out.is_some_and(|e| e.flagged) || w.is_some_and(|e| e.flagged) {
                union(&mut parent, i, j);
                edges.push((i, j, out, w));
            }
        }
    }

    let mut verdicts = BTreeMap::new();
    for d in 0..n {
        // Models are in commit order and every group's root is its
        // smallest index (see `union`): the root is the original.
        let original = find(&mut parent, d);
        if original == d {
            continue;
        }
        // The evidence shown: the direct link to the original if there is
        // one, else the link to the earliest partner.
        let mut best: Option<(usize, Option<OutputEvidence>, Option<WeightEvidence>)> = None;
        for &(i, j, out, w) in &edges {
            let partner = if i == d {
                j
            } else if j == d {
                i
            } else {
                continue;
            };
            let better = match &best {
                None => true,
                Some((p, _, _)) => *p != original && (partner == original || partner < *p),
            };
            if better {
                best = Some((partner, out, w));
            }
        }
        let (partner, outputs, weights) = best.unwrap_or((original, None, None));
        verdicts.insert(
            models[d].hotkey.clone(),
            CopyVerdict {
                original: models[original].hotkey.clone(),
                matched: models[partner].hotkey.clone(),
                outputs,
                weights,
                flagged_since_round: None,
            },
        );
    }
    verdicts
}

fn find(parent: &mut [usize], mut x: usize) -> usize {
    while parent[x] != x {
        parent[x] = parent[parent[x]];
        x = parent[x];
    }
    x
}

fn union(parent: &mut [usize], a: usize, b: usize) {
    let (ra, rb) = (find(parent, a), find(parent, b));
    if ra != rb {
        // The smaller index stays root, so a root is always its group's
        // smallest index.
        let (lo, hi) = if ra < rb { (ra, rb) } else { (rb, ra) };
        parent[hi] = lo;
    }
}

/// Sets the composite of every duplicate to 0 before the score book sees it.
pub fn zero_copies(results: &mut BTreeMap<Hotkey, f64>, verdicts: &BTreeMap<Hotkey, CopyVerdict>) {
    for hotkey in verdicts.keys() {
        if let Some(v) = results.get_mut(hotkey) {
            *v = 0.0;
        }
    }
}

/// Rounds of fresh evidence after which a verdict holds without any.
pub const CONFIRMING_ROUNDS: u32 = 2;
/// Rounds in a row in which a confirmed copier and its original were
/// compared and did not match, after which the verdict is dropped.
pub const CLEARING_ROUNDS: u32 = 2;

fn confirmed() -> u32 {
    CONFIRMING_ROUNDS
}

/// A remembered verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerRecord {
    /// The copier's commitment block the verdict belongs to.
    pub commit_block: u64,
    /// The original named when the verdict was made.
    pub original: Hotkey,
    /// Round of the first verdict.
    pub first_round: u64,
    /// Last round with fresh evidence.
    pub last_evidence_round: u64,
    /// Rounds with fresh evidence (records written before this field
    /// existed count as confirmed).
    #[serde(default = "confirmed")]
    pub evidence_rounds: u32,
    /// Rounds in a row since the last evidence in which the pair was
    /// compared and did not match.
    #[serde(default)]
    pub clean_rounds: u32,
}

/// Copy verdicts remembered across rounds (see the module docs for the rule).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CopyLedger {
    records: BTreeMap<Hotkey, LedgerRecord>,
}

/// Whether two entries match under either layer; `None` when neither layer
/// could compare them.
fn pair_matches(cfg: &MechanismConfig, a: &CopyEntry, b: &CopyEntry) -> Option<bool> {
    let tol = &cfg.copies;
    let out = compare_outputs(tol, &a.outputs, &b.outputs);
    let w = match (&a.weights, &b.weights) {
        (Some(x), Some(y)) => compare_weights(tol, x, y),
        _ => None,
    };
    match (out, w) {
        (None, None) => None,
        (o, w) => Some(o.is_some_and(|e| e.flagged) || w.is_some_and(|e| e.flagged)),
    }
}

impl CopyLedger {
    /// An empty ledger.
    pub fn new() -> CopyLedger {
        CopyLedger::default()
    }

    /// Runs [`detect`] on this round and merges it with what is remembered.
    ///
    /// - A fresh verdict is returned and recorded (one more round of
    ///   evidence).
    /// - A remembered copier without fresh evidence is flagged again once
    ///   its verdict is confirmed ([`CONFIRMING_ROUNDS`] rounds of
    ///   evidence); an unconfirmed suspicion is not.
    /// - A verdict can be revisited: when the copier and its original were
    ///   both compared this round and did not match, an unconfirmed record
    ///   is dropped at once and a confirmed one after [`CLEARING_ROUNDS`]
    ///   such rounds in a row, so a wrongly flagged miner recovers.
    /// - A record whose hotkey now has a different commitment block is
    ///   dropped first: a new commitment starts clean.
    pub fn detect(
        &mut self,
        cfg: &MechanismConfig,
        round_id: u64,
        entries: &[CopyEntry],
    ) -> BTreeMap<Hotkey, CopyVerdict> {
        for e in entries {
            if self
                .records
                .get(&e.hotkey)
                .is_some_and(|r| r.commit_block != e.commit_block)
            {
                self.records.remove(&e.hotkey);
            }
        }
        let mut verdicts = detect(cfg, entries);
        for (hotkey, v) in verdicts.iter_mut() {
            let Some(entry) = entries.iter().find(|e| &e.hotkey == hotkey) else {
                continue;
            };
            let record = self
                .records
                .entry(hotkey.clone())
                .or_insert_with(|| LedgerRecord {
                    commit_block: entry.commit_block,
                    original: v.original.clone(),
                    first_round: round_id,
                    last_evidence_round: round_id,
                    evidence_rounds: 0,
                    clean_rounds: 0,
                });
            if record.evidence_rounds == 0 || round_id > record.last_evidence_round {
                record.evidence_rounds = record.evidence_rounds.saturating_add(1);
            }
            record.original = v.original.clone();
            record.last_evidence_round = record.last_evidence_round.max(round_id);
            record.first_round = record.first_round.min(round_id);
            record.clean_rounds = 0;
            v.flagged_since_round = Some(record.first_round);
        }
        for e in entries {
            if verdicts.contains_key(&e.hotkey) {
                continue;
            }
            let Some(r) = self.records.get_mut(&e.hotkey) else {
                continue;
            };
            let original = entries.iter().find(|o| o.hotkey == r.original);
            let clean = original.and_then(|o| pair_matches(cfg, e, o)) == Some(false);
            if clean {
                r.clean_rounds = r.clean_rounds.saturating_add(1);
                if r.evidence_rounds < CONFIRMING_ROUNDS || r.clean_rounds >= CLEARING_ROUNDS {
                    self.records.remove(&e.hotkey);
                    continue;
                }
            }
            if r.evidence_rounds >= CONFIRMING_ROUNDS {
                verdicts.insert(
                    e.hotkey.clone(),
                    CopyVerdict {
                        original: r.original.clone(),
                        matched: r.original.clone(),
                        outputs: None,
                        weights: None,
                        flagged_since_round: Some(r.first_round),
                    },
                );
            }
        }
        verdicts
    }

    /// Forgets hotkeys that are no longer registered.
    pub fn retain_registered(&mut self, registered: &[Hotkey]) {
        let keep: std::collections::BTreeSet<&Hotkey> = registered.iter().collect();
        self.records.retain(|h, _| keep.contains(h));
    }

    /// The record for a hotkey, if it is a remembered copier.
    pub fn record(&self, hotkey: &str) -> Option<&LedgerRecord> {
        self.records.get(hotkey)
    }

    /// Number of remembered copiers.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sigmoid(z: f64) -> f32 {
        (1.0 / (1.0 + libm::exp(-z))) as f32
    }

    fn entry(hotkey: &str, block: u64, shift: f64) -> CopyEntry {
        CopyEntry {
            hotkey: Hotkey::from(hotkey),
            commit_block: block,
            outputs: (0..200)
                .map(|i| sigmoid(f64::from(i % 13) - 6.0 + shift))
                .collect(),
            weights: None,
        }
    }

    #[test]
    fn a_chain_of_copies_names_the_earliest_and_shows_the_direct_link() {
        // The logit-distance rule alone (a constant logit shift is the same
        // function, so the rank rule would pair all three).
        let mut cfg = MechanismConfig::builtin("medmetric").unwrap();
        cfg.copies.output_rank_correlation = None;
        // a–b and b–c are within tolerance, a–c is not.
        let entries = [
            entry("a", 10, 0.0),
            entry("b", 30, 0.03),
            entry("c", 20, 0.06),
        ];
        let tol = &cfg.copies;
        let mld =
            |x: &CopyEntry, y: &CopyEntry| compare_outputs(tol, &x.outputs, &y.outputs).unwrap();
        assert!(mld(&entries[0], &entries[1]).flagged);
        assert!(mld(&entries[1], &entries[2]).flagged);
        assert!(!mld(&entries[0], &entries[2]).flagged);
        let v = detect(&cfg, &entries);
        assert_eq!(v.len(), 2);
        assert_eq!(
            (v["b"].original.as_str(), v["b"].matched.as_str()),
            ("a", "a")
        );
        assert_eq!(
            (v["c"].original.as_str(), v["c"].matched.as_str()),
            ("a", "b")
        );
        assert!(v["c"].outputs.unwrap().mean_logit_diff < tol.output_mean_logit_diff);
    }

    #[test]
    fn duplicate_hotkeys_use_the_first_entry() {
        let cfg = MechanismConfig::builtin("medmetric").unwrap();
        let v = detect(
            &cfg,
            &[entry("a", 10, 0.0), entry("a", 5, 3.0), entry("b", 20, 0.0)],
        );
        assert_eq!(v["b"].original, "a");
        assert!(detect(&cfg, &[]).is_empty());
    }

    #[test]
    fn weights_need_eligible_tensors() {
        let cfg = MechanismConfig::builtin("medmetric").unwrap();
        let tiny = vec![vec![1.0f32; 8]];
        let flat = vec![vec![0.5f32; 1000]];
        assert!(compare_weights(&cfg.copies, &tiny, &tiny).is_none());
        assert!(compare_weights(&cfg.copies, &flat, &flat).is_none());
        let nan = vec![vec![f32::NAN; 1000]];
        assert!(compare_weights(&cfg.copies, &nan, &nan).is_none());
    }
}
