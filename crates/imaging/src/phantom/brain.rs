//! Brain MRI, axial slice through the basal ganglia.
//!
//! Each pixel is a mix of tissue fractions — air, skin, scalp fat, cortical
//! bone, diploë, CSF, grey and white matter, deep grey nuclei, dura and the
//! tumour compartments — and its intensity is the fractions times a
//! per-weighting table (T1, T1c, T2, FLAIR), under a smooth bias field and
//! Rician noise. The cortex folds into sulci radiating from the surface, the
//! interhemispheric fissure holds the falx, the Sylvian fissures run in to the
//! insula, and the lateral ventricles show frontal horns (indented by the
//! caudate heads), a slit-like third ventricle and the atria.

use super::common::{
    Fbm, Frame, Rand, clamp01, cs, deg, ellipse, inside, len, lerp, seg_dist, smin, smoothstep,
    tapered_capsule,
};
use super::{LesionKind, MrContrast, PhantomInfo, Rendered, finish};

const AIR: usize = 0;
const SKIN: usize = 1;
const FAT: usize = 2;
const BONE: usize = 3;
const DIPLOE: usize = 4;
const CSF: usize = 5;
const GM: usize = 6;
const WM: usize = 7;
const DEEP: usize = 8;
const ENH: usize = 9;
const NEC: usize = 10;
const OED: usize = 11;
const DURA: usize = 12;
const N_TISSUE: usize = 13;

/// Intensity of each tissue under each weighting (before per-case jitter).
fn table(c: MrContrast) -> [f64; N_TISSUE] {
    //  air  skin  fat  bone diploe csf  gm   wm   deep enh  nec  oed  dura
    match c {
        MrContrast::T1 => [
            0.0, 0.45, 0.9, 0.04, 0.72, 0.1, 0.45, 0.68, 0.52, 0.36, 0.2, 0.38, 0.15,
        ],
        MrContrast::T1c => [
            0.0, 0.45, 0.88, 0.04, 0.7, 0.1, 0.45, 0.68, 0.52, 0.93, 0.16, 0.38, 0.55,
        ],
        MrContrast::T2 => [
            0.0, 0.35, 0.62, 0.03, 0.45, 0.95, 0.56, 0.36, 0.45, 0.62, 0.88, 0.78, 0.1,
        ],
        MrContrast::Flair => [
            0.0, 0.35, 0.55, 0.03, 0.4, 0.07, 0.58, 0.42, 0.5, 0.68, 0.35, 0.88, 0.1,
        ],
    }
}

struct Tumour {
    c: (f64, f64),
    r: f64,
    nec: Option<f64>,
    oedema: f64,
    rim: Fbm,
    spread: Fbm,
}

struct Head {
    table: [f64; N_TISSUE],
    a: f64,
    b: f64,
    cy: f64,
    egg: f64,
    shape: Fbm,
    layers: [f64; 6],
    // Folding.
    n_gyri: f64,
    phase0: f64,
    warp: Fbm,
    warp_amp: f64,
    /// Depth of each primary sulcus and of the shallow one after it.
    sulc_depth: Vec<(f64, f64)>,
    sulc_w: f64,
    gm_t: f64,
    // Midline and fissures, in local units.
    mid_x: f64,
    mid_bend: f64,
    genu: f64,
    splenium: f64,
    sylvian: [[(f64, f64); 3]; 2],
    // Deep structures.
    sx: f64,
    sy: f64,
    vent: f64,
    deep_jit: [f64; 4],
    tex: Fbm,
    bias: Fbm,
    bias_amp: f64,
    gain: f64,
    tumour: Option<Tumour>,
}

impl Head {
    fn new(rng: &mut Rand, contrast: MrContrast) -> Self {
        let mut table = table(contrast);
        for v in table.iter_mut().skip(1) {
            *v *= rng.range(0.94, 1.06);
        }
        let a = rng.range(0.68, 0.76);
        let b = rng.range(0.84, 0.92);
        let skin = rng.range(0.006, 0.01);
        let fat = rng.range(0.015, 0.035);
        let outer = rng.range(0.008, 0.012);
        let diploe = rng.range(0.01, 0.022);
        let inner = rng.range(0.007, 0.01);
        let csf = rng.range(0.005, 0.014);
        let mut layers = [skin, fat, outer, diploe, inner, csf];
        for i in 1..6 {
            layers[i] += layers[i - 1];
        }
        let n_gyri = f64::from(rng.int(30, 40));
        let sulc_depth = (0..n_gyri as usize)
            .map(|_| (rng.range(0.06, 0.22), rng.range(0.015, 0.08)))
            .collect();
        let sx = a / 0.72;
        let sy = b / 0.88;
        let syl_y = rng.range(-0.1, 0.0);
        let sylvian = [-1.0, 1.0].map(|s: f64| {
            let bend = (s * 0.52, syl_y + rng.range(-0.02, 0.04));
            [
                (s * 0.7, syl_y + rng.range(-0.03, 0.03)),
                bend,
                (s * rng.range(0.36, 0.4), bend.1 + rng.range(-0.06, 0.06)),
            ]
        });
        Head {
            table,
            a,
            b,
            cy: rng.range(-0.02, 0.04),
            egg: rng.range(0.03, 0.09),
            shape: Fbm::new(rng, 1.5, 2, 0.5),
            layers,
            n_gyri,
            phase0: rng.range(0.0, 2.0 * core::f64::consts::PI),
            warp: Fbm::new(rng, 3.5, 3, 0.6),
            warp_amp: rng.range(3.0, 4.0),
            sulc_depth,
            sulc_w: rng.range(0.006, 0.01),
            gm_t: rng.range(0.024, 0.032),
            mid_x: rng.range(-0.02, 0.02),
            mid_bend: rng.range(-0.04, 0.04),
            genu: rng.range(-0.4, -0.34),
            splenium: rng.range(0.3, 0.36),
            sylvian,
            sx,
            sy,
            vent: rng.range(0.8, 1.3),
            deep_jit: [0; 4].map(|_| rng.range(-0.015, 0.015)),
            tex: Fbm::new(rng, 18.0, 2, 0.5),
            bias: Fbm::new(rng, 0.8, 2, 0.5),
            bias_amp: rng.range(0.04, 0.12),
            gain: rng.range(0.88, 1.0),
            tumour: None,
        }
    }

    /// Local brain coordinates: centred, and scaled to a standard head.
    fn local(&self, x: f64, y: f64) -> (f64, f64) {
        (x / self.sx, (y - self.cy) / self.sy)
    }

    /// Depth below the outer skin (negative outside the head) and the
    /// distance from the head centre.
    fn skin_depth(&self, x: f64, y: f64) -> (f64, f64) {
        let dy = y - self.cy;
        let a = self.a * (1.0 + self.egg * dy / self.b);
        let rr = len(x / a, dy / self.b);
        let pl = len(x, dy);
        if rr > 1.2 {
            // Well outside: the wobble cannot bring the skin this far.
            return (-0.1, pl);
        }
        let dir = if pl > 1e-9 {
            (x / pl, dy / pl)
        } else {
            (0.0, -1.0)
        };
        let wob = 1.0 + 0.012 * self.shape.at(dir.0 * 1.3, dir.1 * 1.3);
        let r = if rr > 1e-9 { pl / rr * wob } else { a * wob };
        (r - pl, pl)
    }

    fn midline(&self, ly: f64) -> f64 {
        self.mid_x + self.mid_bend * ly * ly
    }

    /// Signed distance (positive inside) of the lateral and third
    /// ventricles, in local units.
    fn ventricles(&self, lx: f64, ly: f64) -> f64 {
        let v = self.vent;
        // Far from every ventricle (the bound is loose): skip the shapes.
        if lx.abs() > 0.3 * v + 0.15 || ly < -0.3 * v - 0.15 || ly > 0.4 * v + 0.15 {
            return -0.1;
        }
        let (vx, vy) = (lx / v, ly / v);
        let mut sd = tapered_capsule(vx, vy, (0.0, -0.03), (0.0, 0.1), 0.011, 0.008);
        for s in [-1.0, 1.0] {
            let frontal =
                tapered_capsule(vx, vy, (s * 0.045, -0.05), (s * 0.12, -0.25), 0.032, 0.02);
            let atrium = tapered_capsule(vx, vy, (s * 0.1, 0.1), (s * 0.155, 0.22), 0.036, 0.038);
            let occipital =
                tapered_capsule(vx, vy, (s * 0.155, 0.22), (s * 0.125, 0.34), 0.03, 0.01);
            sd = sd.max(frontal).max(atrium).max(occipital);
        }
        sd *= v;
        // The caudate heads bulge into the frontal horns' lateral walls.
        for s in [-1.0, 1.0] {
            let caudate = ellipse(
                lx,
                ly,
                (s * (0.1 + 0.03 * v), -0.15),
                0.05,
                0.075,
                (1.0, 0.0),
            );
            sd = sd.min(-caudate);
        }
        sd
    }

    /// Signed distance of the deep grey nuclei (caudate heads, thalami,
    /// lentiform nuclei), in local units.
    fn deep_grey(&self, lx: f64, ly: f64) -> f64 {
        let j = self.deep_jit;
        if lx.abs() > 0.45 || !(-0.4..=0.35).contains(&ly) {
            return -0.05;
        }
        let mut sd = f64::NEG_INFINITY;
        for s in [-1.0, 1.0] {
            let caudate = ellipse(
                lx,
                ly,
                (s * (0.1 + 0.03 * self.vent), -0.15),
                0.05,
                0.075,
                (1.0, 0.0),
            );
            let thal = ellipse(
                lx,
                ly,
                (s * (0.09 + j[0]), 0.06 + j[1]),
                0.068,
                0.1,
                (1.0, 0.0),
            );
            let lent = ellipse(
                lx,
                ly,
                (s * (0.25 + j[2]), -0.04 + j[3]),
                0.05,
                0.14,
                cs(s * 0.25),
            );
            sd = sd.max(caudate).max(thal).max(lent);
        }
        sd
    }

    /// Distance to CSF inside the brain (negative in sulci and fissures),
    /// given the depth `d` below the brain surface.
    fn csf_distance(&self, x: f64, y: f64, d: f64, pl: f64) -> f64 {
        let (lx, ly) = self.local(x, y);
        let two_pi = 2.0 * core::f64::consts::PI;
        let theta = libm::atan2(y - self.cy, x);
        let phi = self.n_gyri * theta + self.warp_amp * self.warp.at(x, y) + self.phase0;
        let u = phi / two_pi;
        let scale = two_pi / self.n_gyri * pl;
        let n = self.n_gyri as i64;
        let mut c = d;
        // Primary sulci at integer phase, shallow secondary ones halfway.
        for (half, secondary) in [(0.0, false), (0.5, true)] {
            let k = (u + half).round();
            let dist = (u + half - k).abs() * scale;
            let (deep, shallow) = self.sulc_depth[(k as i64).rem_euclid(n) as usize];
            let depth = if secondary { shallow } else { deep };
            let w =
                self.sulc_w * if secondary { 0.7 } else { 1.0 } * (1.0 - 0.6 * clamp01(d / depth));
            // Distance to the sulcus as a capsule from the surface down to
            // its depth: rounded fundus, rounded grey-matter ribbon; the
            // smooth minimum rounds the lips where it opens.
            let sulcus = len(dist, (d - depth).max(0.0)) - w;
            c = smin(c, sulcus, 0.015);
        }
        // Interhemispheric fissure, in front of the genu and behind the
        // splenium of the corpus callosum.
        let mx = self.midline(ly);
        let across = (lx - mx) * self.sx;
        let front = len(across, (ly - self.genu).max(0.0) * self.sy);
        let back = len(across, (self.splenium - ly).max(0.0) * self.sy);
        c = smin(c, front.min(back) - 0.008, 0.015);
        for [p, q, r] in self.sylvian {
            let dist = seg_dist(lx, ly, p, q).min(seg_dist(lx, ly, q, r));
            c = smin(c, dist * self.sx - 0.01, 0.015);
        }
        c
    }

    /// Intensity at an anatomical point (before bias and noise) and the
    /// lesion weight there.
    fn shade(&self, x: f64, y: f64, aa: f64) -> (f64, f64) {
        let (d_out, pl) = self.skin_depth(x, y);
        let st = |b: f64| smoothstep(b - aa, b + aa, d_out);
        let l = self.layers;
        let mut mix = [0.0f64; N_TISSUE];
        let s0 = st(0.0);
        if s0 <= 0.0 {
            return (0.0, 0.0);
        }
        let s: [f64; 6] = l.map(st);
        mix[AIR] = 1.0 - s0;
        mix[SKIN] = s0 - s[0];
        mix[FAT] = s[0] - s[1];
        mix[BONE] = (s[1] - s[2]) + (s[3] - s[4]);
        mix[DIPLOE] = s[2] - s[3];
        mix[CSF] = s[4] - s[5];
        let brain = s[5];
        let mut weight = 0.0;
        if brain > 0.0 {
            let d = d_out - l[5];
            let c = self.csf_distance(x, y, d, pl);
            let csf = smoothstep(aa, -aa, c);
            let wm = smoothstep(self.gm_t - aa, self.gm_t + aa, c);
            let gm = (1.0 - csf - wm).max(0.0);
            let mut b = [0.0f64; N_TISSUE];
            b[CSF] = csf;
            b[GM] = gm;
            b[WM] = wm;
            let (lx, ly) = self.local(x, y);
            let deep = inside(self.deep_grey(lx, ly), 3.0 * aa);
            let moved = b[WM] * deep;
            b[WM] -= moved;
            b[DEEP] += moved;
            let vent = inside(self.ventricles(lx, ly), aa);
            for (t, v) in b.iter_mut().enumerate() {
                *v = lerp(*v, if t == CSF { 1.0 } else { 0.0 }, vent);
            }
            // The falx: a dural sheet in the interhemispheric fissure.
            let off = (lx - self.midline(ly)).abs() * self.sx;
            let in_fissure = smoothstep(0.0, 0.02, (self.genu - ly).max(ly - self.splenium));
            let falx = smoothstep(0.003 + aa, 0.003, off) * b[CSF] * in_fissure;
            b[CSF] -= falx;
            b[DURA] += falx;
            if let Some(t) = &self.tumour {
                weight = t.paint(&mut b, x, y, aa);
            }
            for (m, v) in mix.iter_mut().zip(b) {
                *m += brain * v;
            }
            weight *= brain;
        }
        let mut v = 0.0;
        for (m, i) in mix.iter().zip(self.table) {
            v += m * i;
        }
        // Fine texture in the parenchyma only.
        let paren = mix[GM] + mix[WM] + mix[DEEP] + mix[OED];
        if paren > 0.0 {
            v *= 1.0 + 0.035 * paren * self.tex.at(x, y);
        }
        (v, weight)
    }
}

impl Tumour {
    /// Replaces brain tissue fractions `b` by oedema and tumour; returns the
    /// lesion weight (whole tumour: core or oedema).
    fn paint(&self, b: &mut [f64; N_TISSUE], x: f64, y: f64, aa: f64) -> f64 {
        let (dx, dy) = (x - self.c.0, y - self.c.1);
        let d = len(dx, dy);
        let dir = if d > 1e-9 {
            (dx / d, dy / d)
        } else {
            (1.0, 0.0)
        };
        let lobes = self.rim.at(self.c.0 + 0.4 * dir.0, self.c.1 + 0.4 * dir.1);
        let r = self.r * (1.0 + 0.22 * lobes);
        let core = smoothstep(r + aa, r - aa, d);
        // Oedema spreads along white matter and spares the cortex, giving
        // the finger-like pattern.
        let e = d / (self.r * self.oedema) - 0.45 * self.spread.at(x, y);
        let reach = smoothstep(1.05, 0.85, e);
        let ow = reach * (b[WM] + b[DEEP] + 0.3 * b[GM]);
        for t in [WM, DEEP] {
            let m = b[t] * reach;
            b[t] -= m;
            b[OED] += m;
        }
        let m = b[GM] * reach * 0.3;
        b[GM] -= m;
        b[OED] += m;
        if core > 0.0 {
            let nec = match self.nec {
                Some(f) => smoothstep(f * r + aa, f * r - aa, d + 0.01 * lobes),
                None => 0.0,
            };
            let total: f64 = b.iter().sum();
            for v in b.iter_mut() {
                *v *= 1.0 - core;
            }
            b[ENH] += core * total * (1.0 - nec);
            b[NEC] += core * total * nec;
        }
        core.max(ow)
    }
}

/// Brain depth (below the brain surface) and distance to the ventricles,
/// for placing a tumour.
fn placement_ok(h: &Head, x: f64, y: f64, r: f64) -> bool {
    let (d_out, _) = h.skin_depth(x, y);
    let d = d_out - h.layers[5];
    let (lx, ly) = h.local(x, y);
    d > 0.6 * r + 0.02
        && h.ventricles(lx, ly) < -(0.4 * r + 0.02)
        && (lx - h.midline(ly)).abs() * h.sx > 0.8 * r + 0.03
}

pub(super) fn render(size: u32, seed: &[u8; 32], abnormal: bool) -> Rendered {
    let mut rng = Rand::new(seed, "brain/anatomy");
    let frame = Frame::new(
        size,
        rng.range(0.94, 1.06),
        deg(rng.range(-8.0, 8.0)),
        [rng.range(-0.04, 0.04), rng.range(-0.04, 0.04)],
        false,
        false,
    );
    let contrast = {
        let mut cr = Rand::new(seed, "brain/contrast");
        MrContrast::ALL[cr.int(0, 3) as usize]
    };
    let mut head = Head::new(&mut rng, contrast);
    let px = frame.px;
    let aa = px.max(0.003);
    let mut info = PhantomInfo {
        kind: None,
        lesions: 0,
        contrast: Some(contrast),
    };
    if abnormal {
        let mut lr = Rand::new(seed, "brain/lesion");
        let r = lr.range(0.06, 0.13).max(2.5 * px);
        let side = lr.sign();
        let mut c = (side * 0.3 * head.sx, head.cy - 0.25 * head.sy);
        for _ in 0..300 {
            let p = (
                side * lr.range(0.08, 0.55) * head.sx,
                head.cy + lr.range(-0.6, 0.6) * head.sy,
            );
            if placement_ok(&head, p.0, p.1, r) {
                c = p;
                break;
            }
        }
        let nec = (r > 0.08 && lr.chance(0.85)).then(|| lr.range(0.4, 0.7));
        head.tumour = Some(Tumour {
            c,
            r,
            nec,
            oedema: lr.range(1.5, 2.4),
            rim: Fbm::new(&mut lr, 2.5, 2, 0.5),
            spread: Fbm::new(&mut lr, 5.0, 3, 0.55),
        });
        info.kind = Some(LesionKind::Tumour);
        info.lesions = 1;
    }

    let n = size as usize;
    let mut grain = Rand::new(seed, "brain/grain");
    let sigma = rng.range(0.012, 0.025);
    let mut image = Vec::with_capacity(n * n);
    let mut mask = vec![0u8; n * n];
    for j in 0..size {
        for i in 0..size {
            let (x, y) = frame.to_anat(i, j);
            let (v, w) = head.shade(x, y, aa);
            let signal = if v > 0.0 {
                v * head.gain * (1.0 + head.bias_amp * head.bias.at(x, y))
            } else {
                0.0
            };
            // Magnitude of a complex signal with Gaussian noise on both
            // channels: Rician, with its noise floor in the background.
            let (n1, n2) = (grain.grain() * sigma, grain.grain() * sigma);
            image.push(len(signal + n1, n2));
            if w >= 0.5 {
                mask[j as usize * n + i as usize] = 1;
            }
        }
    }
    Rendered {
        image: finish(image),
        mask,
        info,
    }
}
