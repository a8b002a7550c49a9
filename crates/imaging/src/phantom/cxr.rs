//! Chest radiograph, PA view.
//!
//! Intensity is `1 − exp(−g·A)` of a summed attenuation `A`: an elliptic
//! soft-tissue body with neck and shoulders, hollowed by two air-filled
//! lungs (bounded by the rib cage, apices, diaphragm domes, mediastinum and
//! heart), plus ribs, clavicles, spine and humeral heads as hollow bone
//! tubes, branching vessels fanning out of the hila, trachea, main bronchi
//! and a gastric bubble. The image's left is the patient's right.

use super::common::{
    Fbm, Frame, Rand, chord, clamp01, cs, deg, ellipse, inside, len, lerp, smax, smoothstep, sq,
    tapered_capsule,
};
use super::{LesionKind, PhantomInfo, Rendered, finish, pick_kind};
use crate::Modality;

/// A vessel or bronchus: end points and radius.
type Segment = ((f64, f64), (f64, f64), f64);

/// `σ` for side index 0 (patient's right, image left) and 1.
const SIDES: [f64; 2] = [-1.0, 1.0];

/// One rib: posterior arc (upper half-ellipse from the spine to the lateral
/// wall) and anterior arc (falling line from the wall towards the sternum).
struct Rib {
    sc: f64,
    yc: f64,
    a: f64,
    b: f64,
    h_post: f64,
    h_ant: f64,
    drop: f64,
    anterior: bool,
}

enum Lesion {
    Nodules(Vec<Nodule>),
    Consolidation(Consolidation),
}

struct Nodule {
    c: (f64, f64),
    r: f64,
    amp: f64,
}

struct Consolidation {
    side: usize,
    c: (f64, f64),
    rx: f64,
    ry: f64,
    /// Lower border along the horizontal fissure (right upper lobe).
    fissure: Option<f64>,
}

struct LesionFields {
    lesion: Lesion,
    shape: Fbm,
    patch: Fbm,
}

struct Chest {
    // Inner rib-cage ellipse (centre `(0, yc)`), which bounds the lungs.
    rx: f64,
    ry: f64,
    yc: f64,
    chest_w: f64,
    apex_y: [f64; 2],
    dome_y: [f64; 2],
    s_med: [f64; 2],
    heart_c: (f64, f64),
    heart_r: (f64, f64),
    heart_cs: (f64, f64),
    knob_c: (f64, f64),
    knob_r: f64,
    carina: (f64, f64),
    hila: [(f64, f64); 2],
    ribs: Vec<Rib>,
    clav: [((f64, f64), (f64, f64)); 2],
    spine_w: f64,
    vert_period: f64,
    vert_phase: f64,
    humeral: [(f64, f64); 2],
    humeral_r: f64,
    bubble: Option<((f64, f64), f64, f64)>,
    lung_tex: Fbm,
    heart_tex: Fbm,
    soft_tex: Fbm,
    air_k: f64,
    bone_k: f64,
    gain: f64,
    lesion: Option<LesionFields>,
}

impl Chest {
    fn new(rng: &mut Rand) -> Self {
        let rx = rng.range(0.70, 0.80);
        let ry = rng.range(0.95, 1.05);
        let yc = rng.range(0.06, 0.14);
        let dome_r = rng.range(0.36, 0.48);
        let heart_c = (rng.range(0.1, 0.15), rng.range(0.24, 0.3));
        let heart_r = (rng.range(0.28, 0.33), rng.range(0.24, 0.28));
        let heart_cs = cs(rng.range(deg(20.0), deg(35.0)));
        let y_first = rng.range(-0.82, -0.76);
        let sp = rng.range(0.125, 0.145);
        let s_lat = |y: f64| rx * (1.0 - sq((y - yc) / ry)).max(0.0).sqrt();
        let mut ribs = Vec::new();
        let mut peak = y_first;
        for k in 0..10 {
            let kf = f64::from(k);
            let b = 0.20 - 0.004 * kf + rng.range(-0.01, 0.01);
            let ycr = peak + b;
            // Intercostal spaces widen towards the bases.
            peak += sp * (0.86 + 0.03 * kf) + rng.range(-0.008, 0.008);
            let sc = 0.1;
            ribs.push(Rib {
                sc,
                yc: ycr,
                a: s_lat(ycr) - sc + 0.02,
                b,
                h_post: rng.range(0.034, 0.042),
                h_ant: rng.range(0.028, 0.034),
                drop: rng.range(0.22, 0.3),
                anterior: k <= 6,
            });
        }
        let clav_y = rng.range(-0.70, -0.62);
        let clav = [0, 1].map(|_| {
            (
                (rng.range(0.05, 0.08), clav_y + rng.range(-0.01, 0.01)),
                (rng.range(0.6, 0.68), clav_y - rng.range(0.08, 0.16)),
            )
        });
        let hy = rng.range(-0.72, -0.6);
        let bubble = rng.chance(0.7).then(|| {
            (
                (rng.range(0.3, 0.45), 0.0),
                rng.range(0.07, 0.12),
                rng.range(0.04, 0.07),
            )
        });
        let carina = (rng.range(-0.02, 0.02), rng.range(-0.34, -0.24));
        Chest {
            rx,
            ry,
            yc,
            chest_w: rx + rng.range(0.1, 0.18),
            apex_y: [rng.range(-0.8, -0.72), rng.range(-0.8, -0.72)],
            dome_y: [dome_r, dome_r + rng.range(0.02, 0.08)],
            s_med: [rng.range(0.08, 0.11), rng.range(0.07, 0.1)],
            heart_c,
            heart_r,
            heart_cs,
            knob_c: (rng.range(0.05, 0.08), rng.range(-0.38, -0.3)),
            knob_r: rng.range(0.06, 0.08),
            carina,
            hila: [
                (-rng.range(0.15, 0.19), rng.range(-0.06, 0.02)),
                (rng.range(0.15, 0.19), rng.range(-0.1, -0.02)),
            ],
            ribs,
            clav,
            spine_w: rng.range(0.065, 0.085),
            vert_period: rng.range(0.1, 0.12),
            vert_phase: rng.unit(),
            humeral: [
                (-rng.range(0.94, 1.02), hy),
                (rng.range(0.94, 1.02), hy + rng.range(-0.02, 0.02)),
            ],
            humeral_r: rng.range(0.11, 0.14),
            bubble,
            lung_tex: Fbm::new(rng, 6.0, 3, 0.55),
            heart_tex: Fbm::new(rng, 4.0, 2, 0.5),
            soft_tex: Fbm::new(rng, 1.5, 2, 0.5),
            air_k: rng.range(0.74, 0.82),
            bone_k: rng.range(0.85, 1.15),
            gain: rng.range(1.0, 1.4),
            lesion: None,
        }
    }

    /// Signed distance-like lung indicator of one side (`> 0` inside).
    fn lung_sd(&self, x: f64, y: f64, k: usize) -> f64 {
        self.lung_sd_with(x, y, k, self.heart_sd(x, y))
    }

    /// [`Self::lung_sd`] with the heart's signed distance already known.
    fn lung_sd_with(&self, x: f64, y: f64, k: usize, heart: f64) -> f64 {
        let s = SIDES[k] * x;
        let f_lat = ellipse(s, y, (0.0, self.yc), self.rx, self.ry, (1.0, 0.0));
        let f_med = s - self.s_med[k] - 0.04 * smoothstep(-0.6, 0.1, y);
        let f_top = y - (self.apex_y[k] + 1.4 * (s - 0.3) * (s - 0.3));
        // Circular dome peaking at mid-clavicular line, falling into the
        // costophrenic recess laterally.
        let ds = (s - 0.35).abs().min(0.4);
        let dome = self.dome_y[k] + 0.4 - (0.16 - ds * ds).sqrt();
        let f_dia = dome - y;
        let mut f = f_lat.min(f_med).min(f_top).min(f_dia);
        f = f.min(-heart);
        if k == 1 {
            f = f.min(len(x - self.knob_c.0, y - self.knob_c.1) - self.knob_r);
        }
        f
    }

    /// Cardiac silhouette: left ventricle and right atrium, smoothly joined,
    /// with a gently irregular border.
    fn heart_sd(&self, x: f64, y: f64) -> f64 {
        let (c, r) = (self.heart_c, self.heart_r);
        let lv = ellipse(x, y, c, r.0, r.1, self.heart_cs);
        let ra_c = (c.0 - r.0 * 0.72, c.1 + 0.03);
        let ra = ellipse(x, y, ra_c, 0.12, 0.17, (1.0, 0.0));
        let sd = smax(lv, ra, 0.08);
        // The border wobble only matters near the border.
        if sd.abs() < 0.05 {
            sd + 0.01 * self.heart_tex.at(x, y)
        } else {
            sd
        }
    }

    /// Half-width of the body's soft tissue at height `y`.
    fn body_w(&self, y: f64) -> f64 {
        let upper = lerp(0.3, self.chest_w + 0.25, smoothstep(-1.05, -0.7, y));
        lerp(upper, self.chest_w, smoothstep(-0.6, -0.15, y))
    }

    /// Bone density of the ribs at `(s, y)` on one side.
    fn ribs(&self, s: f64, y: f64) -> f64 {
        let mut total = 0.0;
        for rib in &self.ribs {
            if y < rib.yc - rib.b - rib.h_post || y > rib.yc + rib.drop + rib.h_ant {
                continue;
            }
            if y < rib.yc {
                if s < 0.05 {
                    continue;
                }
                let u = (s - rib.sc) / rib.a;
                let v = (y - rib.yc) / rib.b;
                let r = len(u, v);
                let g = len(u / rib.a, v / rib.b);
                if g < 1e-9 {
                    continue;
                }
                let d = ((r - 1.0) * r / g).abs();
                total += tube(d, rib.h_post * 0.5) * smoothstep(0.05, 0.12, s);
            }
            if rib.anterior {
                let s_l = rib.sc + rib.a;
                let s_m = 0.18;
                if s > s_l || s < s_m - 0.05 {
                    continue;
                }
                let span = s_l - s_m;
                let t = (s_l - s) / span;
                let yr = rib.yc + rib.drop * t - 0.05 * t * (1.0 - t);
                let slope = (rib.drop - 0.05 + 0.1 * t) / span;
                let d = (y - yr).abs() / (1.0 + slope * slope).sqrt();
                // Fades medially where the costal cartilage is not calcified.
                total += 0.55 * tube(d, rib.h_ant * 0.5) * smoothstep(0.0, 0.35, 1.0 - t);
            }
        }
        total
    }

    fn clavicles(&self, x: f64, y: f64) -> f64 {
        let mut total = 0.0;
        for (k, &(a, b)) in self.clav.iter().enumerate() {
            if y < a.1.min(b.1) - 0.1 || y > a.1.max(b.1) + 0.1 {
                continue;
            }
            let s = SIDES[k] * x;
            let t = (s - a.0) / (b.0 - a.0);
            if !(-0.05..=1.05).contains(&t) {
                continue;
            }
            let tc = clamp01(t);
            let two_pi = 2.0 * core::f64::consts::PI;
            let yc = lerp(a.1, b.1, tc) - 0.03 * libm::sin(two_pi * tc);
            let slope = ((b.1 - a.1) - 0.03 * two_pi * libm::cos(two_pi * tc)) / (b.0 - a.0);
            let d = (y - yc).abs() / (1.0 + slope * slope).sqrt();
            let end = smoothstep(-0.05, 0.02, t) * smoothstep(1.05, 0.98, t);
            total += 1.3 * tube(d, lerp(0.036, 0.026, tc)) * end;
        }
        total
    }

    fn spine(&self, x: f64, y: f64) -> f64 {
        let w = self.spine_w;
        let c = chord(w - x.abs(), w) / (2.0 * w);
        if c <= 0.0 {
            return 0.0;
        }
        let ph = (y / self.vert_period + self.vert_phase).rem_euclid(1.0);
        let disc = smoothstep(0.8, 0.95, (ph - 0.5).abs() * 2.0);
        let ped_y = (ph - 0.35) * self.vert_period;
        let ped = tube(len((x.abs() - 0.7 * w) * 1.4, ped_y), 0.02);
        0.5 * c * (1.0 - 0.45 * disc) + 0.25 * ped
    }

    fn humeri(&self, x: f64, y: f64) -> f64 {
        let mut total = 0.0;
        for &c in &self.humeral {
            total += tube(len(x - c.0, y - c.1), self.humeral_r);
            // The shaft, leaving the image at the top corner.
            let sd = tapered_capsule(
                x,
                y,
                c,
                (c.0 * 1.15, c.1 + 0.9),
                self.humeral_r * 0.6,
                self.humeral_r * 0.5,
            );
            total += tube((self.humeral_r * 0.6 - sd).max(0.0), self.humeral_r * 0.6);
        }
        total
    }

    /// Air-way lucency (trachea and main bronchi), 0..1.
    fn airway(&self, x: f64, y: f64) -> f64 {
        let ca = self.carina;
        let tr = tapered_capsule(x, y, (ca.0 * 0.3, -1.3), ca, 0.038, 0.034);
        let mut a = inside(tr, 0.01);
        for k in 0..2 {
            let h = self.hila[k];
            let b = tapered_capsule(x, y, ca, (h.0 * 0.85, h.1 - 0.02), 0.026, 0.016);
            a = a.max(inside(b, 0.01) * 0.8);
        }
        a
    }

    /// Attenuation at an anatomical point plus the lesion weight there.
    fn attenuation(&self, x: f64, y: f64, vessels: f64, bronchi: f64, aa: f64) -> (f64, f64) {
        let w_body = self.body_w(y);
        // The neck and shoulders are thinner front to back than the chest.
        let t_soft =
            (1.0 - sq(x / w_body)).max(0.0).sqrt() * lerp(0.7, 1.0, smoothstep(-0.95, -0.45, y));
        let body = t_soft * (1.0 + 0.05 * self.soft_tex.at(x, y));

        let heart_sd = self.heart_sd(x, y);
        // Each lung lies on its own side of the midline (`s > s_med > 0`).
        let side = usize::from(x >= 0.0);
        let f_lung = self.lung_sd_with(x, y, side, heart_sd);
        let edge = inside(f_lung, aa);
        let mut air = if edge > 0.0 {
            edge * (0.45 + 0.55 * smoothstep(0.0, 0.2, f_lung))
                * (1.0 + 0.08 * self.lung_tex.at(x, y))
        } else {
            0.0
        };
        let mut extra = 0.0;
        let mut weight = 0.0;
        if let Some(les) = &self.lesion {
            match &les.lesion {
                Lesion::Nodules(ns) => {
                    for n in ns {
                        let (dx, dy) = (x - n.c.0, y - n.c.1);
                        let d = len(dx, dy);
                        let dir = if d > 1e-9 {
                            (dx / d, dy / d)
                        } else {
                            (1.0, 0.0)
                        };
                        let rr = n.r
                            * (1.0 + 0.15 * les.shape.at(n.c.0 + 0.3 * dir.0, n.c.1 + 0.3 * dir.1));
                        let w = smoothstep(rr, 0.3 * rr, d);
                        extra += n.amp * w;
                        weight = f64::max(weight, w);
                    }
                }
                Lesion::Consolidation(c) => {
                    let e = len((x - c.c.0) / c.rx, (y - c.c.1) / c.ry);
                    let v = 1.0 - e + 0.45 * les.shape.at(x * 1.5, y * 1.5);
                    let own = if c.side == side { f_lung } else { -1.0 };
                    let mut w = smoothstep(-0.25, 0.2, v) * smoothstep(0.0, 0.03, own);
                    if let Some(fy) = c.fissure {
                        w *= smoothstep(fy + aa, fy - aa, y);
                    }
                    let patch = 0.6 + 0.4 * smoothstep(-0.5, 0.5, les.patch.at(x, y));
                    // Air bronchograms: bronchi stay aerated inside the opacity.
                    let open = 1.0 - 0.5 * bronchi.min(1.0);
                    air *= 1.0 - 0.8 * w * patch * open;
                    extra += 0.04 * w;
                    weight = w;
                }
            }
        }
        let airway = self.airway(x, y);
        let bubble = match self.bubble {
            Some((c, brx, bry)) => {
                let c = (c.0, self.dome_y[1] + 0.02 + bry);
                0.4 * inside(ellipse(x, y, c, brx, bry, (1.0, 0.0)), 0.015)
            }
            None => 0.0,
        };
        let soft = body * (1.0 - self.air_k * air.max(0.4 * airway).max(bubble));
        let heart = 0.04 * inside(heart_sd, aa);
        let hila: f64 = self
            .hila
            .iter()
            .map(|h| 0.08 * smoothstep(0.14, 0.0, len((x - h.0) * 1.3, (y - h.1) * 0.8)))
            .sum();
        let s = x.abs();
        let bones = 0.13 * (self.ribs(s, y) + self.clavicles(x, y))
            + 0.1 * self.spine(x, y)
            + 0.25 * self.humeri(x, y);
        // Overlapping vessels saturate instead of piling up at the hila.
        let vessels = if vessels > 0.0 {
            0.14 * (1.0 - libm::exp(-vessels / 0.14)) * edge * (1.0 - 0.7 * weight)
        } else {
            0.0
        };
        let a = soft
            + (heart + hila * edge.max(0.3)) * smoothstep(0.0, 0.05, t_soft)
            + self.bone_k * bones * smoothstep(0.0, 0.08, t_soft)
            + vessels
            + extra;
        (a, weight)
    }
}

/// Projected density of a bone tube of radius `r` at distance `d` from its
/// axis, normalised to ~1 at the bright cortical edges.
fn tube(d: f64, r: f64) -> f64 {
    if d >= r {
        return 0.0;
    }
    let outer = chord(r - d, r);
    let inner_r = 0.62 * r;
    let inner = chord(inner_r - d, inner_r);
    ((outer - inner) + 0.35 * inner) / (1.6 * r)
}

/// Vessel tree of one lung, as segments `(a, b, radius)`.
fn grow_vessels(chest: &Chest, rng: &mut Rand, k: usize, out: &mut Vec<Segment>) {
    let sigma = SIDES[k];
    let h = chest.hila[k];
    let trunks = rng.int(6, 8);
    for t in 0..trunks {
        let f = (f64::from(t) + rng.range(0.2, 0.8)) / f64::from(trunks);
        let ang = lerp(deg(-80.0), deg(85.0), f);
        let dir = (sigma * libm::cos(ang), libm::sin(ang));
        // Trunks leave the hilum along its height, not from one point.
        let start = (h.0 + sigma * rng.range(0.0, 0.03), h.1 + (f - 0.5) * 0.16);
        grow(chest, rng, k, start, dir, 0.1, 0.02, 0, out);
    }
}

#[allow(clippy::too_many_arguments)]
fn grow(
    chest: &Chest,
    rng: &mut Rand,
    k: usize,
    p: (f64, f64),
    dir: (f64, f64),
    length: f64,
    radius: f64,
    depth: u32,
    out: &mut Vec<Segment>,
) {
    let jitter = rng.range(-0.25, 0.25);
    let (c, s) = cs(jitter);
    let dir = (dir.0 * c - dir.1 * s, dir.0 * s + dir.1 * c);
    let mut l = length;
    let mut end = (p.0 + dir.0 * l, p.1 + dir.1 * l);
    if chest.lung_sd(end.0, end.1, k) < 0.01 {
        l *= 0.5;
        end = (p.0 + dir.0 * l, p.1 + dir.1 * l);
        if chest.lung_sd(end.0, end.1, k) < 0.01 {
            return;
        }
    }
    out.push((p, end, radius));
    if depth >= 5 || radius < 0.003 {
        return;
    }
    let spread = rng.range(0.3, 0.55);
    let bias = rng.range(-0.1, 0.1);
    for sgn in [-1.0, 1.0] {
        let (c, s) = cs(sgn * spread + bias);
        let nd = (dir.0 * c - dir.1 * s, dir.0 * s + dir.1 * c);
        let shrink = rng.range(0.7, 0.82);
        grow(
            chest,
            rng,
            k,
            end,
            nd,
            l * shrink,
            radius * 0.72,
            depth + 1,
            out,
        );
    }
}

/// Places a point inside lung `k` at least `margin` from its edge, in the
/// vertical band `ylo..yhi` (falls back to a safe mid-lung point).
fn place_in_lung(
    chest: &Chest,
    rng: &mut Rand,
    k: usize,
    margin: f64,
    ylo: f64,
    yhi: f64,
) -> (f64, f64) {
    for _ in 0..200 {
        let s = rng.range(0.12, 0.75);
        let y = rng.range(ylo, yhi);
        let p = (SIDES[k] * s, y);
        if chest.lung_sd(p.0, p.1, k) > margin {
            return p;
        }
    }
    (SIDES[k] * 0.42, -0.2)
}

pub(super) fn render(size: u32, seed: &[u8; 32], abnormal: bool) -> Rendered {
    let mut rng = Rand::new(seed, "cxr/anatomy");
    let frame = Frame::new(
        size,
        rng.range(0.9, 1.02),
        deg(rng.range(-3.0, 3.0)),
        [rng.range(-0.04, 0.04), rng.range(-0.02, 0.05)],
        false,
        false,
    );
    let mut chest = Chest::new(&mut rng);
    let px = frame.px;
    let aa = px.max(0.004);

    let mut info = PhantomInfo {
        kind: None,
        lesions: 0,
        contrast: None,
    };
    if abnormal {
        let kind = pick_kind(Modality::Cxr, seed);
        let mut lr = Rand::new(seed, "cxr/lesion");
        let lesion = match kind {
            LesionKind::Nodule => {
                let n = match lr.unit() {
                    u if u < 0.5 => 1,
                    u if u < 0.8 => 2,
                    _ => 3,
                };
                let mut ns: Vec<Nodule> = Vec::new();
                for _ in 0..n {
                    // Never so small that the mask (w ≥ ½ at 0.72 r) misses
                    // every pixel centre.
                    let r = lr.range(0.04, 0.085).max(2.0 * px);
                    let side = lr.int(0, 1) as usize;
                    let mut c = place_in_lung(&chest, &mut lr, side, r + 0.03, -0.65, 0.45);
                    for _ in 0..20 {
                        if ns
                            .iter()
                            .all(|o| len(o.c.0 - c.0, o.c.1 - c.1) > o.r + r + 0.05)
                        {
                            break;
                        }
                        c = place_in_lung(&chest, &mut lr, side, r + 0.03, -0.65, 0.45);
                    }
                    ns.push(Nodule {
                        c,
                        r,
                        amp: lr.range(0.16, 0.3),
                    });
                }
                Lesion::Nodules(ns)
            }
            _ => {
                let side = lr.int(0, 1) as usize;
                let zone = lr.int(0, 2);
                let (ylo, yhi) = [(-0.55, -0.25), (-0.2, 0.1), (0.1, 0.35)][zone as usize];
                let c = place_in_lung(&chest, &mut lr, side, 0.07, ylo, yhi);
                let fissure =
                    (side == 0 && zone == 0 && lr.chance(0.6)).then(|| c.1 + lr.range(0.06, 0.12));
                Lesion::Consolidation(Consolidation {
                    side,
                    c,
                    rx: lr.range(0.11, 0.2),
                    ry: lr.range(0.09, 0.17),
                    fissure,
                })
            }
        };
        info.kind = Some(kind);
        info.lesions = match &lesion {
            Lesion::Nodules(ns) => ns.len() as u32,
            Lesion::Consolidation(_) => 1,
        };
        chest.lesion = Some(LesionFields {
            lesion,
            shape: Fbm::new(&mut lr, 3.0, 3, 0.5),
            patch: Fbm::new(&mut lr, 4.0, 3, 0.6),
        });
    }

    let n = size as usize;
    let mut vessels = vec![0.0f64; n * n];
    let mut vr = Rand::new(seed, "cxr/vessels");
    let mut segs = Vec::new();
    for k in 0..2 {
        grow_vessels(&chest, &mut vr, k, &mut segs);
    }
    for &(a, b, r) in &segs {
        let r_eff = r.max(0.5 * px);
        let amp = 6.0 * r * r / r_eff;
        frame.splat_segment(&mut vessels, a, b, r_eff, |d| {
            let t = 1.0 - sq(d / r_eff);
            amp * t * t
        });
    }

    let mut bronchi = vec![0.0f64; n * n];
    if let Some(LesionFields {
        lesion: Lesion::Consolidation(c),
        ..
    }) = &chest.lesion
    {
        let mut br = Rand::new(seed, "cxr/bronchi");
        let h = chest.hila[c.side];
        let (dx, dy) = (c.c.0 - h.0, c.c.1 - h.1);
        let l = len(dx, dy).max(1e-9);
        let dir = (dx / l, dy / l);
        let start = (c.c.0 - dir.0 * c.rx * 0.6, c.c.1 - dir.1 * c.ry * 0.6);
        let mut segs = Vec::new();
        for _ in 0..2 {
            grow(
                &chest, &mut br, c.side, start, dir, 0.06, 0.008, 1, &mut segs,
            );
        }
        for &(a, b, r) in &segs {
            let r_eff = r.max(0.7 * px);
            let amp = r / r_eff;
            frame.splat_segment(&mut bronchi, a, b, r_eff, |d| amp * (1.0 - sq(d / r_eff)));
        }
    }

    let mut grain = Rand::new(seed, "cxr/grain");
    let mut tr = Rand::new(seed, "cxr/texture");
    let detector = Fbm::new(&mut tr, 24.0, 2, 0.6);
    let norm = 1.0 - libm::exp(-chest.gain * 2.1);
    let mut image = Vec::with_capacity(n * n);
    let mut mask = vec![0u8; n * n];
    for j in 0..size {
        for i in 0..size {
            let idx = j as usize * n + i as usize;
            let (x, y) = frame.to_anat(i, j);
            let (a, w) = chest.attenuation(x, y, vessels[idx], bronchi[idx], aa);
            let t = clamp01((1.0 - libm::exp(-chest.gain * a)) / norm);
            let mut v = t;
            v += 0.012 * detector.at(x, y) + 0.008 * grain.grain();
            image.push(v);
            if w >= 0.5 {
                mask[idx] = 1;
            }
        }
    }
    Rendered {
        image: finish(image),
        mask,
        info,
    }
}
