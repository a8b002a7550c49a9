//! The honest miner's fixed filter bank, twice: as ONNX nodes (what the
//! model computes at inference) and in plain `f64` Rust (what the trainer
//! fits on). Both compute the same channels from the same `f32` kernels, so
//! a model fitted on the Rust features sees the same inputs in tract or ONNX
//! Runtime up to `f32` rounding; a test checks the two agree.
//!
//! Every blur is a separable Gaussian over an edge-replicated border
//! (`Pad` mode `edge`, then a `1×K` and a `K×1` `Conv` without padding), so
//! borders, black occlusion boxes and affine fill do not darken the means.

use medmetric_model::writer::{Attr, GraphBuilder};

/// Blur scales in pixels at 256²; they scale with the image side, since the
/// phantoms' anatomy is drawn in resolution-independent units.
const SIGMAS_AT_256: [f64; 5] = [1.0, 2.0, 4.0, 8.0, 16.0];

/// Floors of the large- and small-scale local standard deviations (in
/// units of the image's own standard deviation), so flat regions (air,
/// occlusion boxes) do not blow the normalised channels up.
const SD_FLOORS: [f32; 2] = [0.08, 0.02];

/// Added to the global standard deviation before dividing by it.
const GLOBAL_EPS: f32 = 0.01;

/// Scales of the Hessian (blob and ridge) channels in pixels at 256².
const HESSIAN_AT_256: [f64; 3] = [2.0, 4.0, 8.0];

/// Number of per-pixel channels the bank produces.
pub(crate) const CHANNELS: usize = 13 + 2 * HESSIAN_AT_256.len() + POSITION;

/// Position channels: `u`, `v` in `[-½, ½]` and `u² + v²`.
const POSITION: usize = 3;

/// Number of whole-image statistics the bank produces.
pub(crate) const GLOBALS: usize = 2;

/// The bank for one image side.
#[derive(Debug, Clone)]
pub(crate) struct Bank {
    pub size: u32,
    /// One normalised Gaussian kernel per scale, `f32` as stored in the model.
    pub kernels: Vec<Vec<f32>>,
    /// Per Hessian scale: the Gaussian, its first and its second derivative,
    /// scale-normalised (`σ·g′`, `σ²·g″`).
    pub hessian: Vec<[Vec<f32>; 3]>,
}

/// The kernels of one Hessian scale.
fn derivative_kernels(sigma: f64) -> [Vec<f32>; 3] {
    let r = (3.0 * sigma).ceil().max(1.0) as i64;
    let raw: Vec<f64> = (-r..=r)
        .map(|j| libm::exp(-((j * j) as f64) / (2.0 * sigma * sigma)))
        .collect();
    let sum: f64 = raw.iter().sum();
    let g: Vec<f64> = raw.iter().map(|v| v / sum).collect();
    let s2 = sigma * sigma;
    let d1: Vec<f64> = (-r..=r)
        .zip(&g)
        .map(|(j, v)| -(j as f64) / s2 * v * sigma)
        .collect();
    let mut d2: Vec<f64> = (-r..=r)
        .zip(&g)
        .map(|(j, v)| ((j * j) as f64 / (s2 * s2) - 1.0 / s2) * v * s2)
        .collect();
    // A second derivative must not respond to a constant.
    let bias: f64 = d2.iter().sum();
    for (d, v) in d2.iter_mut().zip(&g) {
        *d -= bias * v;
    }
    let f = |v: &[f64]| v.iter().map(|&x| x as f32).collect::<Vec<f32>>();
    [f(&g), f(&d1), f(&d2)]
}

/// A normalised 1-D Gaussian of standard deviation `sigma` pixels, radius
/// `ceil(3σ)` (at least 1), rounded to `f32`.
pub(crate) fn gaussian(sigma: f64) -> Vec<f32> {
    let r = (3.0 * sigma).ceil().max(1.0) as i64;
    let raw: Vec<f64> = (-r..=r)
        .map(|j| libm::exp(-((j * j) as f64) / (2.0 * sigma * sigma)))
        .collect();
    let sum: f64 = raw.iter().sum();
    raw.iter().map(|v| (v / sum) as f32).collect()
}

impl Bank {
    pub fn new(size: u32) -> Self {
        let k = f64::from(size) / 256.0;
        Bank {
            size,
            kernels: SIGMAS_AT_256.iter().map(|s| gaussian(s * k)).collect(),
            hessian: HESSIAN_AT_256
                .iter()
                .map(|s| derivative_kernels(s * k))
                .collect(),
        }
    }

    /// Per-pixel channels (`CHANNELS` planes of `size²`, channel-major) and
    /// global statistics of one image, in `f32` like the model computes
    /// them (the order of every sum is fixed, so the values are too).
    pub fn compute(&self, image: &[f32]) -> (Vec<Vec<f32>>, [f32; GLOBALS]) {
        let n = self.size as usize;
        let count = image.len().max(1) as f64;
        let mean = image.iter().map(|&v| f64::from(v)).sum::<f64>() / count;
        let mean2 = image
            .iter()
            .map(|&v| f64::from(v) * f64::from(v))
            .sum::<f64>()
            / count;
        let (mean, std) = (mean as f32, (mean2 - mean * mean).max(0.0).sqrt() as f32);
        let den = std + GLOBAL_EPS;
        let x: Vec<f32> = image.iter().map(|&v| (v - mean) / den).collect();
        let floors = SD_FLOORS;
        let x2: Vec<f32> = x.iter().map(|v| v * v).collect();
        let b: Vec<Vec<f32>> = self.kernels.iter().map(|k| blur(&x, n, k)).collect();
        let q = blur(&x2, n, &self.kernels[4]);
        let qs = blur(&x2, n, &self.kernels[1]);
        let sd = local_sd(&q, &b[4], floors[0]);
        let sds = local_sd(&qs, &b[1], floors[1]);
        let mut out = Vec::with_capacity(CHANNELS);
        out.push(x.clone());
        for bi in b.iter().take(5) {
            out.push(bi.clone());
        }
        out.push(sd.clone());
        for bi in b.iter().take(4) {
            out.push(
                bi.iter()
                    .zip(&b[4])
                    .zip(&sd)
                    .map(|((v, m), d)| (v - m) / d)
                    .collect(),
            );
        }
        out.push(sds.iter().zip(&sd).map(|(a, d)| a / d).collect());
        out.push(sds);
        for [g0, g1, g2] in &self.hessian {
            let xx = separable(&x, n, g2, g0);
            let yy = separable(&x, n, g0, g2);
            let xy = separable(&x, n, g1, g1);
            let mut hi = Vec::with_capacity(n * n);
            let mut lo = Vec::with_capacity(n * n);
            for i in 0..n * n {
                let mid = (xx[i] + yy[i]) * 0.5;
                let d = (xx[i] - yy[i]) * 0.5;
                let r = (d * d + xy[i] * xy[i]).sqrt();
                hi.push((mid + r) / sd[i]);
                lo.push((mid - r) / sd[i]);
            }
            out.push(hi);
            out.push(lo);
        }
        out.extend(position(n));
        debug_assert_eq!(out.len(), CHANNELS);
        (out, [mean, std])
    }

    /// Emits the bank as ONNX nodes reading `input` (`[1,1,S,S]`). Returns
    /// the name of the `[1, CHANNELS, S, S]` feature tensor and of the
    /// `[1, GLOBALS, 1, 1]` global statistics. Names are prefixed with
    /// `prefix` so a graph may hold the bank twice.
    pub fn emit(&self, g: &mut GraphBuilder, raw: &str, prefix: &str) -> (String, String) {
        let p = |s: &str| format!("{prefix}{s}");
        let mean = p("g_mean");
        let mean2 = p("g_mean2");
        g.node("Mul", &[raw, raw], &[&p("raw2")], vec![]);
        for (src, dst) in [(raw, &mean), (p("raw2").as_str(), &mean2)] {
            g.node(
                "ReduceMean",
                &[src],
                &[dst],
                vec![Attr::ints("axes", &[2, 3]), Attr::int("keepdims", 1)],
            );
        }
        g.node("Mul", &[&mean, &mean], &[&p("g_mean_sq")], vec![]);
        g.node("Sub", &[&mean2, &p("g_mean_sq")], &[&p("g_var")], vec![]);
        g.node("Relu", &[&p("g_var")], &[&p("g_var_pos")], vec![]);
        g.node("Sqrt", &[&p("g_var_pos")], &[&p("g_std")], vec![]);
        let globals = p("globals");
        g.node(
            "Concat",
            &[&mean, &p("g_std")],
            &[&globals],
            vec![Attr::int("axis", 1)],
        );
        let standardised = p("x");
        g.scalar(&p("g_eps"), GLOBAL_EPS);
        g.node("Add", &[&p("g_std"), &p("g_eps")], &[&p("g_den")], vec![]);
        g.node("Sub", &[raw, &mean], &[&p("x_centred")], vec![]);
        g.node(
            "Div",
            &[&p("x_centred"), &p("g_den")],
            &[&standardised],
            vec![],
        );
        let input = standardised.as_str();
        let floors = SD_FLOORS;
        g.node("Mul", &[input, input], &[&p("x2")], vec![]);
        let b: Vec<String> = (0..5)
            .map(|i| emit_blur(g, input, &self.kernels[i], &p(&format!("b{i}"))))
            .collect();
        let q = emit_blur(g, &p("x2"), &self.kernels[4], &p("q"));
        let qs = emit_blur(g, &p("x2"), &self.kernels[1], &p("qs"));
        g.scalar(&p("sd_floor2"), floors[0] * floors[0]);
        g.scalar(&p("sds_floor2"), floors[1] * floors[1]);
        let sd = emit_sd(g, &q, &b[4], &p("sd_floor2"), &p("sd"));
        let sds = emit_sd(g, &qs, &b[1], &p("sds_floor2"), &p("sds"));
        let mut channels: Vec<String> = vec![input.to_string()];
        channels.extend(b.iter().cloned());
        channels.push(sd.clone());
        for (i, bi) in b.iter().take(4).enumerate() {
            let dev = p(&format!("dev{i}"));
            let norm = p(&format!("norm{i}"));
            g.node("Sub", &[bi, &b[4]], &[&dev], vec![]);
            g.node("Div", &[&dev, &sd], &[&norm], vec![]);
            channels.push(norm);
        }
        g.node("Div", &[&sds, &sd], &[&p("texture")], vec![]);
        channels.push(p("texture"));
        channels.push(sds);
        g.scalar(&p("half"), 0.5);
        for (h, [g0, g1, g2]) in self.hessian.iter().enumerate() {
            let q = |s: &str| p(&format!("h{h}_{s}"));
            let xx = emit_separable(g, input, g2, g0, &q("xx"));
            let yy = emit_separable(g, input, g0, g2, &q("yy"));
            let xy = emit_separable(g, input, g1, g1, &q("xy"));
            g.node("Add", &[&xx, &yy], &[&q("tr")], vec![]);
            g.node("Mul", &[&q("tr"), &p("half")], &[&q("mid")], vec![]);
            g.node("Sub", &[&xx, &yy], &[&q("df")], vec![]);
            g.node("Mul", &[&q("df"), &p("half")], &[&q("d")], vec![]);
            g.node("Mul", &[&q("d"), &q("d")], &[&q("d2")], vec![]);
            g.node("Mul", &[&xy, &xy], &[&q("xy2")], vec![]);
            g.node("Add", &[&q("d2"), &q("xy2")], &[&q("rr")], vec![]);
            g.node("Sqrt", &[&q("rr")], &[&q("r")], vec![]);
            g.node("Add", &[&q("mid"), &q("r")], &[&q("hi_raw")], vec![]);
            g.node("Sub", &[&q("mid"), &q("r")], &[&q("lo_raw")], vec![]);
            g.node("Div", &[&q("hi_raw"), &sd], &[&q("hi")], vec![]);
            g.node("Div", &[&q("lo_raw"), &sd], &[&q("lo")], vec![]);
            channels.push(q("hi"));
            channels.push(q("lo"));
        }
        let n = self.size as usize;
        let pos: Vec<f32> = position(n).concat();
        let s = i64::from(self.size);
        g.weights(&p("position"), &[1, POSITION as i64, s, s], &pos);
        channels.push(p("position"));
        debug_assert_eq!(channels.len() - 1 + POSITION, CHANNELS);
        let refs: Vec<&str> = channels.iter().map(String::as_str).collect();
        let features = p("features");
        g.node("Concat", &refs, &[&features], vec![Attr::int("axis", 1)]);
        (features, globals)
    }
}

/// The position planes of an `n × n` image: `u`, `v` (pixel centres in
/// `[-½, ½]`) and `u² + v²`.
fn position(n: usize) -> [Vec<f32>; POSITION] {
    let c = |i: usize| ((i as f64 + 0.5) / n as f64 - 0.5) as f32;
    let u: Vec<f32> = (0..n * n).map(|i| c(i % n)).collect();
    let v: Vec<f32> = (0..n * n).map(|i| c(i / n)).collect();
    let r: Vec<f32> = u.iter().zip(&v).map(|(a, b)| a * a + b * b).collect();
    [u, v, r]
}

/// `sqrt(relu(q − m²) + floor²)`.
fn emit_sd(g: &mut GraphBuilder, q: &str, m: &str, floor2: &str, out: &str) -> String {
    let m2 = format!("{out}_m2");
    let var = format!("{out}_var");
    let pos = format!("{out}_pos");
    let reg = format!("{out}_reg");
    g.node("Mul", &[m, m], &[&m2], vec![]);
    g.node("Sub", &[q, &m2], &[&var], vec![]);
    g.node("Relu", &[&var], &[&pos], vec![]);
    g.node("Add", &[&pos, floor2], &[&reg], vec![]);
    g.node("Sqrt", &[&reg], &[out], vec![]);
    out.to_string()
}

/// Separable blur of a one-channel `[1,1,S,S]` tensor with edge padding.
pub(crate) fn emit_blur(g: &mut GraphBuilder, input: &str, kernel: &[f32], out: &str) -> String {
    emit_separable(g, input, kernel, kernel, out)
}

/// `kx` along rows then `ky` along columns (equal odd lengths), over an
/// edge-replicated border, of a one-channel `[1,1,S,S]` tensor.
pub(crate) fn emit_separable(
    g: &mut GraphBuilder,
    input: &str,
    kx: &[f32],
    ky: &[f32],
    out: &str,
) -> String {
    debug_assert_eq!(kx.len(), ky.len());
    let k = kx.len() as i64;
    let r = k / 2;
    let pads = format!("{out}_pads");
    let padded = format!("{out}_padded");
    let wh = format!("{out}_wh");
    let wv = format!("{out}_wv");
    let rows = format!("{out}_rows");
    g.ints(&pads, &[0, 0, r, r, 0, 0, r, r]);
    g.node(
        "Pad",
        &[input, &pads],
        &[&padded],
        vec![Attr::str("mode", "edge")],
    );
    g.weights(&wh, &[1, 1, 1, k], kx);
    g.weights(&wv, &[1, 1, k, 1], ky);
    g.node(
        "Conv",
        &[&padded, &wh],
        &[&rows],
        vec![Attr::ints("kernel_shape", &[1, k])],
    );
    g.node(
        "Conv",
        &[&rows, &wv],
        &[out],
        vec![Attr::ints("kernel_shape", &[k, 1])],
    );
    out.to_string()
}

/// `sqrt(relu(q − m²) + floor²)` per pixel.
fn local_sd(q: &[f32], m: &[f32], floor: f32) -> Vec<f32> {
    q.iter()
        .zip(m)
        .map(|(q, m)| ((q - m * m).max(0.0) + floor * floor).sqrt())
        .collect()
}

/// Separable blur with clamped (edge-replicated) borders.
pub(crate) fn blur(x: &[f32], n: usize, kernel: &[f32]) -> Vec<f32> {
    separable(x, n, kernel, kernel)
}

/// `kx` along rows then `ky` along columns with clamped borders, `f32`.
/// Each output is a sum over taps in kernel order, so the result does not
/// depend on vectorisation.
pub(crate) fn separable(x: &[f32], n: usize, kx: &[f32], ky: &[f32]) -> Vec<f32> {
    let r = kx.len() / 2;
    let mut padded = vec![0f32; n + 2 * r];
    let mut rows = vec![0f32; n * n];
    for y in 0..n {
        let row = &x[y * n..(y + 1) * n];
        padded[..r].fill(row[0]);
        padded[r..r + n].copy_from_slice(row);
        padded[r + n..].fill(row[n - 1]);
        let dst = &mut rows[y * n..(y + 1) * n];
        for (j, &w) in kx.iter().enumerate() {
            for (d, s) in dst.iter_mut().zip(&padded[j..j + n]) {
                *d += w * s;
            }
        }
    }
    let mut out = vec![0f32; n * n];
    let last = n - 1;
    for y in 0..n {
        let dst = &mut out[y * n..(y + 1) * n];
        for (j, &w) in ky.iter().enumerate() {
            let sy = (y + j).saturating_sub(r).min(last);
            for (d, s) in dst.iter_mut().zip(&rows[sy * n..(sy + 1) * n]) {
                *d += w * s;
            }
        }
    }
    out
}
