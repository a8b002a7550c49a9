//! Small, deterministic fitting routines in `f64`: a one-hidden-layer
//! perceptron trained with full-batch Adam on weighted logistic loss, and a
//! plain logistic regression fitted by Newton's method. Sums run in index
//! order and every random draw comes from a seeded ChaCha stream, so the
//! same samples give the same weights bit for bit on every machine.

use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};

/// Weighted binary samples, row-major features.
#[derive(Debug, Clone, Default)]
pub(crate) struct Samples {
    /// Feature width.
    pub d: usize,
    /// `n × d` features.
    pub x: Vec<f64>,
    /// Labels, 0 or 1.
    pub y: Vec<f64>,
    /// Non-negative weights.
    pub w: Vec<f64>,
}

impl Samples {
    pub fn new(d: usize) -> Self {
        Samples {
            d,
            ..Default::default()
        }
    }

    pub fn len(&self) -> usize {
        self.y.len()
    }

    /// Appends another sample set of the same width.
    pub fn append(&mut self, mut other: Samples) {
        debug_assert_eq!(other.d, self.d);
        self.x.append(&mut other.x);
        self.y.append(&mut other.y);
        self.w.append(&mut other.w);
    }

    pub fn push(&mut self, x: &[f64], y: bool, w: f64) {
        debug_assert_eq!(x.len(), self.d);
        self.x.extend_from_slice(x);
        self.y.push(if y { 1.0 } else { 0.0 });
        self.w.push(w);
    }

    fn row(&self, i: usize) -> &[f64] {
        &self.x[i * self.d..(i + 1) * self.d]
    }
}

/// Per-feature affine standardisation `(x − mean) / scale`.
#[derive(Debug, Clone)]
pub(crate) struct Standardise {
    pub mean: Vec<f64>,
    pub scale: Vec<f64>,
}

impl Standardise {
    /// Weighted mean and standard deviation of each feature.
    pub fn fit(s: &Samples) -> Self {
        let d = s.d;
        let total: f64 = s.w.iter().sum::<f64>().max(f64::MIN_POSITIVE);
        let mut mean = vec![0.0; d];
        for i in 0..s.len() {
            for (m, v) in mean.iter_mut().zip(s.row(i)) {
                *m += s.w[i] * v;
            }
        }
        mean.iter_mut().for_each(|m| *m /= total);
        let mut var = vec![0.0; d];
        for i in 0..s.len() {
            for ((acc, v), m) in var.iter_mut().zip(s.row(i)).zip(&mean) {
                *acc += s.w[i] * (v - m) * (v - m);
            }
        }
        let scale = var.iter().map(|v| (v / total).sqrt().max(1e-6)).collect();
        Standardise { mean, scale }
    }

    pub fn apply(&self, s: &Samples) -> Samples {
        let mut out = s.clone();
        for i in 0..s.len() {
            for k in 0..s.d {
                let v = &mut out.x[i * s.d + k];
                *v = (*v - self.mean[k]) / self.scale[k];
            }
        }
        out
    }
}

/// `z = b2 + Σ_j w2_j · relu(b1_j + Σ_k w1_jk · x_k)`.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Mlp {
    pub d: usize,
    pub h: usize,
    /// `h × d`, row per hidden unit.
    pub w1: Vec<f64>,
    pub b1: Vec<f64>,
    pub w2: Vec<f64>,
    pub b2: f64,
}

pub(crate) fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + libm::exp(-z))
    } else {
        let e = libm::exp(z);
        e / (1.0 + e)
    }
}

/// `ln(1 + e^z)` without overflow.
fn softplus(z: f64) -> f64 {
    if z > 30.0 {
        z
    } else if z < -30.0 {
        libm::exp(z)
    } else {
        libm::log1p(libm::exp(z))
    }
}

impl Mlp {
    fn seeded(d: usize, h: usize, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut uniform = |bound: f64| {
            let u = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
            (u * 2.0 - 1.0) * bound
        };
        let b1_bound = (6.0 / d as f64).sqrt();
        let w1 = (0..h * d).map(|_| uniform(b1_bound)).collect();
        let b1 = (0..h).map(|_| uniform(0.1)).collect();
        let b2_bound = (6.0 / h as f64).sqrt() * 0.5;
        let w2 = (0..h).map(|_| uniform(b2_bound)).collect();
        Mlp {
            d,
            h,
            w1,
            b1,
            w2,
            b2: 0.0,
        }
    }

    /// The output logit for one feature row; `hidden` (length `h`) receives
    /// the hidden pre-activations.
    pub fn logit(&self, x: &[f64], hidden: &mut [f64]) -> f64 {
        let mut z = self.b2;
        let rows = self.w1.chunks_exact(self.d);
        for (((row, b), w2), out) in rows.zip(&self.b1).zip(&self.w2).zip(hidden.iter_mut()) {
            let mut a = *b;
            for (w, v) in row.iter().zip(x) {
                a += w * v;
            }
            *out = a;
            z += w2 * a.max(0.0);
        }
        z
    }

    /// Weighted mean logistic loss over the rows `batch` plus `l2 · ‖w1‖²`,
    /// and its gradient in the parameter order `w1, b1, w2, b2`.
    fn loss_grad(&self, s: &Samples, batch: &[usize], l2: f64, grad: &mut [f64]) -> f64 {
        grad.iter_mut().for_each(|g| *g = 0.0);
        let (d, h) = (self.d, self.h);
        let (gw1, rest) = grad.split_at_mut(h * d);
        let (gb1, rest) = rest.split_at_mut(h);
        let (gw2, gb2) = rest.split_at_mut(h);
        let total: f64 = batch
            .iter()
            .map(|&i| s.w[i])
            .sum::<f64>()
            .max(f64::MIN_POSITIVE);
        let mut hidden = vec![0.0; h];
        let mut loss = 0.0;
        for &i in batch {
            let x = s.row(i);
            let z = self.logit(x, &mut hidden);
            let wi = s.w[i] / total;
            let y = s.y[i];
            loss += wi * (softplus(z) - y * z);
            let dz = wi * (sigmoid(z) - y);
            gb2[0] += dz;
            for j in 0..h {
                let a = hidden[j];
                if a > 0.0 {
                    gw2[j] += dz * a;
                    let da = dz * self.w2[j];
                    gb1[j] += da;
                    let g = &mut gw1[j * d..(j + 1) * d];
                    for (gk, xk) in g.iter_mut().zip(x) {
                        *gk += da * xk;
                    }
                }
            }
        }
        for (g, w) in gw1.iter_mut().zip(&self.w1) {
            loss += l2 * w * w;
            *g += 2.0 * l2 * w;
        }
        loss
    }

    fn params(&self) -> Vec<f64> {
        let mut p = self.w1.clone();
        p.extend_from_slice(&self.b1);
        p.extend_from_slice(&self.w2);
        p.push(self.b2);
        p
    }

    fn set_params(&mut self, p: &[f64]) {
        let (d, h) = (self.d, self.h);
        self.w1.copy_from_slice(&p[..h * d]);
        self.b1.copy_from_slice(&p[h * d..h * d + h]);
        self.w2.copy_from_slice(&p[h * d + h..h * d + 2 * h]);
        self.b2 = p[h * d + 2 * h];
    }
}

/// Rows per Adam step.
const BATCH: usize = 1024;

/// Adam's initial step size; it decays linearly to 5 % of this.
const LEARNING_RATE: f64 = 0.01;

/// Weight decay on the first layer.
const L2: f64 = 1e-5;

/// Fits an [`Mlp`] with `hidden` units by mini-batch Adam over `epochs`
/// passes; each pass visits the rows in a seeded random order.
pub(crate) fn fit_mlp(s: &Samples, hidden: usize, epochs: usize, seed: u64) -> Mlp {
    let mut m = Mlp::seeded(s.d, hidden, seed);
    // Start the output bias at the base rate so early steps shape features,
    // not the prior.
    let total: f64 = s.w.iter().sum::<f64>().max(f64::MIN_POSITIVE);
    let pos: f64 = s.w.iter().zip(&s.y).map(|(w, y)| w * y).sum::<f64>() / total;
    let pos = pos.clamp(1e-6, 1.0 - 1e-6);
    m.b2 = libm::log(pos / (1.0 - pos));
    let mut p = m.params();
    let mut grad = vec![0.0; p.len()];
    let (mut m1, mut m2) = (vec![0.0; p.len()], vec![0.0; p.len()]);
    let (beta1, beta2, eps) = (0.9f64, 0.999f64, 1e-8);
    let (mut b1t, mut b2t) = (1.0f64, 1.0f64);
    let lr0 = LEARNING_RATE;
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x42_4154_4348);
    let mut order: Vec<usize> = (0..s.len()).collect();
    let steps_per_epoch = s.len().div_ceil(BATCH).max(1);
    let steps = epochs * steps_per_epoch;
    let mut t = 0usize;
    for _ in 0..epochs {
        for i in (1..order.len()).rev() {
            let j = (rng.next_u64() % (i as u64 + 1)) as usize;
            order.swap(i, j);
        }
        for batch in order.chunks(BATCH) {
            let lr = lr0 * (1.0 - 0.95 * t as f64 / steps as f64);
            t += 1;
            m.set_params(&p);
            m.loss_grad(s, batch, L2, &mut grad);
            b1t *= beta1;
            b2t *= beta2;
            for k in 0..p.len() {
                m1[k] = beta1 * m1[k] + (1.0 - beta1) * grad[k];
                m2[k] = beta2 * m2[k] + (1.0 - beta2) * grad[k] * grad[k];
                let mh = m1[k] / (1.0 - b1t);
                let vh = m2[k] / (1.0 - b2t);
                p[k] -= lr * mh / (vh.sqrt() + eps);
            }
        }
    }
    m.set_params(&p);
    m
}

/// Weighted logistic regression `σ(b + Σ w_k x_k)` by Newton's method with a
/// small ridge; returns `[w_0 … w_{d−1}, b]`.
pub(crate) fn fit_logistic(s: &Samples, ridge: f64, iters: usize) -> Vec<f64> {
    let d = s.d + 1;
    let mut beta = vec![0.0; d];
    let total: f64 = s.w.iter().sum::<f64>().max(f64::MIN_POSITIVE);
    for _ in 0..iters {
        let mut g = vec![0.0; d];
        let mut hess = vec![0.0; d * d];
        for i in 0..s.len() {
            let x = s.row(i);
            let mut z = beta[d - 1];
            for (b, v) in beta.iter().zip(x) {
                z += b * v;
            }
            let p = sigmoid(z);
            let wi = s.w[i] / total;
            let r = wi * (p - s.y[i]);
            let c = wi * p * (1.0 - p);
            for a in 0..d {
                let xa = if a < s.d { x[a] } else { 1.0 };
                g[a] += r * xa;
                for b in 0..=a {
                    let xb = if b < s.d { x[b] } else { 1.0 };
                    hess[a * d + b] += c * xa * xb;
                }
            }
        }
        for a in 0..d {
            for b in 0..a {
                hess[b * d + a] = hess[a * d + b];
            }
            if a < s.d {
                g[a] += 2.0 * ridge * beta[a];
                hess[a * d + a] += 2.0 * ridge;
            }
            hess[a * d + a] += 1e-12;
        }
        let step = solve(&mut hess, &mut g, d);
        for (b, s) in beta.iter_mut().zip(step) {
            *b -= s;
        }
    }
    beta
}

/// Solves `A x = b` by Gaussian elimination with partial pivoting (`A` is
/// small and symmetric positive definite here); consumes `a` and `b`.
fn solve(a: &mut [f64], b: &mut [f64], n: usize) -> Vec<f64> {
    for col in 0..n {
        let mut piv = col;
        for r in col + 1..n {
            if a[r * n + col].abs() > a[piv * n + col].abs() {
                piv = r;
            }
        }
        if piv != col {
            for k in 0..n {
                a.swap(col * n + k, piv * n + k);
            }
            b.swap(col, piv);
        }
        let d = a[col * n + col];
        if d.abs() < 1e-300 {
            continue;
        }
        for r in col + 1..n {
            let f = a[r * n + col] / d;
            if f != 0.0 {
                for k in col..n {
                    a[r * n + k] -= f * a[col * n + k];
                }
                b[r] -= f * b[col];
            }
        }
    }
    let mut x = vec![0.0; n];
    for r in (0..n).rev() {
        let mut acc = b[r];
        for k in r + 1..n {
            acc -= a[r * n + k] * x[k];
        }
        let d = a[r * n + r];
        x[r] = if d.abs() < 1e-300 { 0.0 } else { acc / d };
    }
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logistic_recovers_a_separating_direction() {
        let mut s = Samples::new(2);
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for _ in 0..400 {
            let a = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * 4.0 - 2.0;
            let b = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * 4.0 - 2.0;
            let p = sigmoid(3.0 * a - 1.0);
            let u = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
            s.push(&[a, b], u < p, 1.0);
        }
        let beta = fit_logistic(&s, 1e-6, 12);
        assert!((beta[0] - 3.0).abs() < 1.0, "{beta:?}");
        assert!(beta[1].abs() < 0.6, "{beta:?}");
    }

    #[test]
    fn mlp_learns_xor_like_data_deterministically() {
        let mut s = Samples::new(2);
        for i in 0..200 {
            let a = (i % 20) as f64 / 10.0 - 0.95;
            let b = (i / 20) as f64 / 5.0 - 0.9;
            s.push(&[a, b], (a > 0.0) != (b > 0.0), 1.0);
        }
        let m = fit_mlp(&s, 8, 600, 1);
        assert_eq!(m, fit_mlp(&s, 8, 600, 1));
        let mut h = vec![0.0; 8];
        let correct = (0..s.len())
            .filter(|&i| (m.logit(s.row(i), &mut h) > 0.0) == (s.y[i] > 0.5))
            .count();
        assert!(correct >= 180, "{correct}");
    }
}
