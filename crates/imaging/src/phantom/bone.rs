//! Long-bone radiograph: knee and proximal leg, AP view.
//!
//! Intensity is `1 − exp(−g·A)` of the summed attenuation `A` along an
//! antero-posterior ray: an elliptic leg of muscle under a fat layer, and
//! bones as elliptic tubes whose cortex (a shell) and marrow (cancellous
//! near the joint, fatty in the shaft) are integrated separately, so the
//! cortex shows as bright parallel lines thickest mid-shaft. The tibia
//! carries a plateau with intercondylar spines, a subchondral plate and a
//! physeal scar; the femoral condyles, patella and fibula (head and shaft)
//! complete the knee. The leg may be mirrored, upside down and rotated.

use super::common::{
    Fbm, Frame, Noise, Rand, clamp01, deg, ellipse, inside, len, lerp, smoothstep, sq,
};
use super::{LesionKind, PhantomInfo, Rendered, finish, pick_kind};
use crate::Modality;

enum BoneLesion {
    Fracture {
        y: f64,
        tan: f64,
        cos: f64,
        hw: f64,
        shift: (f64, f64),
        jag: Fbm,
    },
    Lytic {
        c: (f64, f64),
        rx: f64,
        ry: f64,
        shape: Fbm,
        holes: Noise,
    },
}

struct Leg {
    x0: f64,
    bow: f64,
    yp: f64,
    r_s: f64,
    r_p: f64,
    flare: f64,
    c_shaft: f64,
    spines: f64,
    physis: f64,
    // Femur.
    fx: f64,
    r_fs: f64,
    r_fc: f64,
    gap: f64,
    condyle: f64,
    // Fibula.
    r_fib: f64,
    // Patella.
    pat_c: (f64, f64),
    pat_r: (f64, f64),
    // Soft tissue.
    leg_dx: f64,
    leg_w: f64,
    fat: f64,
    trab: [Noise; 2],
    soft_tex: Fbm,
    mu_soft: f64,
    mu_fat: f64,
    mu_c: f64,
    mu_m: f64,
    gain: f64,
    lesion: Option<BoneLesion>,
}

/// Antero-posterior path length through an elliptic cross-section with
/// half-width `w` and half-depth `h` at lateral offset `dx`.
fn ell_chord(dx: f64, w: f64, h: f64) -> f64 {
    if w <= 0.0 || h <= 0.0 {
        return 0.0;
    }
    2.0 * h * (1.0 - sq(dx / w)).max(0.0).sqrt()
}

/// Path lengths `(cortex, marrow)` through a tube with an elliptic
/// cross-section and cortical thickness `c`, cut off (softly) where `cap`
/// (a signed distance to the articular end) is negative.
fn tube(dx: f64, w: f64, h: f64, c: f64, cap: f64, aa: f64) -> (f64, f64) {
    let end = inside(cap, aa);
    if end <= 0.0 || dx.abs() >= w {
        return (0.0, 0.0);
    }
    let total = ell_chord(dx, w, h);
    let marrow = ell_chord(dx, w - c, h - c);
    // Subchondral plate: the end surface is cortex too.
    let plate = smoothstep(c.min(0.02), 0.0, cap) * marrow;
    ((total - marrow + plate) * end, (marrow - plate) * end)
}

impl Leg {
    fn new(rng: &mut Rand) -> Self {
        let r_s = rng.range(0.13, 0.16);
        let r_p = r_s * rng.range(2.1, 2.5);
        Leg {
            x0: rng.range(-0.12, -0.04),
            bow: rng.range(-0.03, 0.03),
            yp: rng.range(-0.45, -0.3),
            r_s,
            r_p,
            flare: rng.range(0.1, 0.14),
            c_shaft: rng.range(0.035, 0.05),
            spines: rng.range(0.02, 0.035),
            physis: rng.range(0.1, 0.16),
            fx: rng.range(-0.02, 0.02),
            r_fs: r_s * rng.range(1.0, 1.15),
            r_fc: r_p * rng.range(0.92, 1.0),
            gap: rng.range(0.03, 0.05),
            condyle: rng.range(0.04, 0.06),
            r_fib: rng.range(0.04, 0.05),
            pat_c: (rng.range(0.0, 0.05), rng.range(0.16, 0.24)),
            pat_r: (rng.range(0.09, 0.11), rng.range(0.12, 0.14)),
            leg_dx: rng.range(0.04, 0.1),
            leg_w: rng.range(0.58, 0.68),
            fat: rng.range(0.03, 0.09),
            trab: [Noise::new(rng, 45.0), Noise::new(rng, 60.0)],
            soft_tex: Fbm::new(rng, 3.0, 3, 0.5),
            mu_soft: rng.range(0.85, 1.0),
            mu_fat: rng.range(0.6, 0.72),
            mu_c: rng.range(5.0, 6.5),
            mu_m: rng.range(1.1, 1.5),
            gain: rng.range(0.9, 1.15),
            lesion: None,
        }
    }

    fn tibia_x(&self, y: f64) -> f64 {
        self.x0 + self.bow * sq(y - self.yp)
    }

    fn tibia_r(&self, y: f64) -> f64 {
        // Trumpet-shaped metaphysis: concave flare towards the plateau.
        let k = (y - self.yp - 0.04).max(0.0) / self.flare;
        let t = if k > 20.0 { 0.0 } else { libm::exp(-k) };
        self.r_s + (self.r_p - self.r_s) * t
    }

    fn cortex(&self, y: f64) -> f64 {
        lerp(
            0.01,
            self.c_shaft,
            smoothstep(self.yp + 0.15, self.yp + 0.55, y),
        )
    }

    /// Height of the tibial plateau surface at `x`.
    fn plateau(&self, x: f64) -> f64 {
        let u = (x - self.tibia_x(self.yp)) / self.r_p;
        let bump = |v: f64| smoothstep(0.07, 0.0, v.abs());
        self.yp + 0.02 + 0.012 * u * u - self.spines * (bump(u - 0.06) + bump(u + 0.07)).min(1.0)
            + 0.05 * smoothstep(0.8, 1.05, u.abs())
    }

    /// `(cortex, marrow)` path lengths through the tibia, and whether the
    /// point lies inside its outline.
    fn tibia(&self, x: f64, y: f64, aa: f64) -> (f64, f64, bool) {
        let w = self.tibia_r(y);
        let dx = x - self.tibia_x(y);
        let cap = y - self.plateau(x);
        let h = w.min(self.r_s * 1.5);
        let (c, m) = tube(dx, w, h, self.cortex(y), cap, aa);
        (c, m, dx.abs() < w && cap > 0.0)
    }

    fn femur(&self, x: f64, y: f64, aa: f64) -> (f64, f64) {
        let xc = self.tibia_x(self.yp) + self.fx;
        let k = (self.yp - 0.12 - y).max(0.0) / self.flare;
        let t = if k > 20.0 { 0.0 } else { libm::exp(-k) };
        let w = self.r_fs + (self.r_fc - self.r_fs) * t;
        let dx = x - xc;
        let u = dx / self.r_fc;
        let v = (u.abs() - 0.55) / 0.45;
        let notch = 0.035 * smoothstep(0.12, 0.02, u.abs());
        let bottom =
            self.yp - self.gap - self.condyle * (1.0 - (1.0 - v * v).max(0.0).sqrt()) - notch;
        let c = lerp(
            0.01,
            self.c_shaft * 0.9,
            smoothstep(self.yp - 0.2, self.yp - 0.6, y),
        );
        let h = w.min(self.r_fs * 1.5);
        tube(dx, w, h, c, bottom - y, aa)
    }

    fn fibula(&self, x: f64, y: f64, aa: f64) -> (f64, f64) {
        let head = smoothstep(self.yp + 0.34, self.yp + 0.14, y);
        let xc = self.tibia_x(y) + lerp(self.r_s + 0.11, self.r_p * 0.82, head);
        let r = lerp(self.r_fib, self.r_fib * 1.9, head);
        // Rounded head: a semicircular cap.
        let top = self.yp + 0.09 + r - (r * r - sq(x - xc)).max(0.0).sqrt();
        tube(x - xc, r, r, 0.012, y - top, aa)
    }

    fn patella(&self, x: f64, y: f64, aa: f64) -> f64 {
        let c = (self.tibia_x(self.yp) + self.pat_c.0, self.yp - self.pat_c.1);
        let sd = ellipse(x, y, c, self.pat_r.0, self.pat_r.1, (1.0, 0.0));
        let depth = clamp01(sd / self.pat_r.0 * 2.0).sqrt();
        inside(sd, aa)
            * (0.12 * depth + 0.1 * smoothstep(0.0, 0.01, sd) * smoothstep(0.03, 0.01, sd))
    }

    /// Attenuation at an anatomical point and the lesion weight there.
    fn attenuation(&self, x: f64, y: f64, aa: f64) -> (f64, f64) {
        // Soft tissue: muscle inside a fat layer.
        let xl = self.tibia_x(y) + self.leg_dx;
        let w = self.leg_w * (1.0 + 0.08 * smoothstep(self.yp + 0.4, self.yp, y));
        let t_all = ell_chord(x - xl, w, 0.5);
        let t_musc = ell_chord(x - xl, w - self.fat, 0.5 - self.fat);
        let soft = (self.mu_soft * t_musc + self.mu_fat * (t_all - t_musc))
            * (1.0 + 0.04 * self.soft_tex.at(x, y));

        // Trabeculae: two families of oblique, stretched struts.
        let (u1, v1) = (0.94 * x + 0.34 * y, -0.34 * x + 0.94 * y);
        let (u2, v2) = (0.9 * x - 0.44 * y, 0.44 * x + 0.9 * y);
        let tr = self.trab[0]
            .at(u1, v1 * 0.25)
            .abs()
            .min(self.trab[1].at(u2, v2 * 0.3).abs());
        let trab = 0.8 + 0.4 * smoothstep(0.25, 0.0, tr);
        let cancellous = |yy: f64| lerp(1.0, 0.35, smoothstep(self.yp + 0.2, self.yp + 0.6, yy));

        let (mut tc, mut tm, mut weight) = (0.0, 0.0, 0.0);
        let (mut bx, mut by) = (x, y);
        let mut gap = 0.0;
        match &self.lesion {
            Some(BoneLesion::Fracture {
                y: yf,
                tan,
                cos,
                hw,
                shift,
                jag,
            }) => {
                let g = (y - yf) - tan * (x - self.tibia_x(*yf)) - 0.012 * jag.at(x, *yf);
                if g > 0.0 {
                    bx -= shift.0;
                    by -= shift.1;
                }
                gap = smoothstep(hw + aa, hw - aa, g.abs() * cos);
            }
            Some(BoneLesion::Lytic { .. }) | None => {}
        }
        let (c, m, inside_tibia) = self.tibia(bx, by, aa);
        let mut loss = 0.92 * gap;
        if let Some(BoneLesion::Lytic {
            c: lc,
            rx,
            ry,
            shape,
            holes,
        }) = &self.lesion
        {
            let e = len((x - lc.0) / rx, (y - lc.1) / ry);
            let s = 0.25 * shape.at(x, y);
            let core = smoothstep(-0.05, 0.15, 1.0 - e + s);
            let moth = smoothstep(0.15, 0.4, holes.at(x, y)) * smoothstep(-0.1, 0.1, 1.5 - e + s);
            let w = core.max(moth);
            loss = w * (0.55 + 0.2 * holes.at(y, x));
            if inside_tibia {
                weight = w;
            }
        } else if inside_tibia {
            weight = gap;
        }
        tc += c * (1.0 - loss);
        tm += m * (1.0 - loss) * cancellous(by) * trab;
        // Physeal scar: a faint sclerotic line across the metaphysis.
        let scar = smoothstep(0.006, 0.0, (by - self.yp - self.physis).abs()) * m;
        let (fc, fm) = self.femur(x, y, aa);
        let (pc, pm) = self.fibula(x, y, aa);
        tc += fc + pc;
        tm += fm * cancellous(2.0 * self.yp - y) * trab + pm * 0.6 * trab;
        let a = 0.36 * soft + self.mu_c * tc + self.mu_m * tm + 0.6 * scar + self.patella(x, y, aa);
        (a, weight)
    }
}

pub(super) fn render(size: u32, seed: &[u8; 32], abnormal: bool) -> Rendered {
    let mut rng = Rand::new(seed, "bone/anatomy");
    let frame = Frame::new(
        size,
        rng.range(0.85, 1.02),
        deg(rng.range(-12.0, 12.0)),
        [rng.range(-0.05, 0.05), rng.range(-0.04, 0.04)],
        rng.chance(0.5),
        rng.chance(0.3),
    );
    let mut leg = Leg::new(&mut rng);
    let px = frame.px;
    let aa = px.max(0.003);
    let mut info = PhantomInfo {
        kind: None,
        lesions: 0,
        contrast: None,
    };
    if abnormal {
        let kind = pick_kind(Modality::Bone, seed);
        let mut lr = Rand::new(seed, "bone/lesion");
        leg.lesion = Some(match kind {
            LesionKind::Fracture => {
                let a = deg(lr.range(-35.0, 35.0));
                let displaced = lr.chance(0.5);
                let shift = if displaced {
                    (
                        lr.sign() * lr.range(0.3, 1.0) * leg.c_shaft,
                        lr.range(-0.01, 0.02),
                    )
                } else {
                    (0.0, 0.0)
                };
                BoneLesion::Fracture {
                    y: lr.range(leg.yp + 0.6, 0.75),
                    tan: libm::tan(a),
                    cos: libm::cos(a),
                    hw: lr.range(0.01, 0.016).max(0.8 * px),
                    shift,
                    jag: Fbm::new(&mut lr, 14.0, 2, 0.5),
                }
            }
            _ => {
                let y = lr.range(leg.yp + 0.15, leg.yp + 0.9);
                let r = leg.tibia_r(y);
                let rx = (r * lr.range(0.35, 0.65)).max(2.0 * px);
                let c = (leg.tibia_x(y) + (r - rx) * lr.range(-0.5, 0.5), y);
                BoneLesion::Lytic {
                    c,
                    rx,
                    ry: rx * lr.range(1.0, 2.2),
                    shape: Fbm::new(&mut lr, 9.0, 2, 0.5),
                    holes: Noise::new(&mut lr, 40.0),
                }
            }
        });
        info.kind = Some(kind);
        info.lesions = 1;
    }

    let n = size as usize;
    let mut grain = Rand::new(seed, "bone/grain");
    let norm = 1.0 - libm::exp(-leg.gain * 2.2);
    let mut image = Vec::with_capacity(n * n);
    let mut mask = vec![0u8; n * n];
    for j in 0..size {
        for i in 0..size {
            let (x, y) = frame.to_anat(i, j);
            let (a, w) = leg.attenuation(x, y, aa);
            let v = (1.0 - libm::exp(-leg.gain * a)) / norm;
            image.push(v + 0.01 * grain.grain());
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
