//! Shared machinery: seeded streams, value noise, the pixel ↔ anatomy frame,
//! soft-edged shape helpers and the per-pixel grain.
//!
//! Everything here is `f64` arithmetic in a fixed order plus `libm`, so the
//! same inputs give the same bits on every platform.

use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};
use sha2::{Digest, Sha256};

/// Domain separation for every sub-stream of a phantom.
const STREAM_DOMAIN: &[u8] = b"medmetric/phantom/v1";

/// A ChaCha stream for one purpose of one phantom.
pub(crate) struct Rand(ChaCha8Rng);

impl Rand {
    /// The stream `label` of the phantom with `seed`:
    /// `ChaCha8(SHA-256(domain ‖ 0 ‖ label ‖ 0 ‖ seed))`.
    pub(crate) fn new(seed: &[u8; 32], label: &str) -> Self {
        let mut h = Sha256::new();
        h.update(STREAM_DOMAIN);
        h.update([0]);
        h.update(label.as_bytes());
        h.update([0]);
        h.update(seed);
        Rand(ChaCha8Rng::from_seed(h.finalize().into()))
    }

    /// Uniform in `[0, 1)` with 53 random bits.
    pub(crate) fn unit(&mut self) -> f64 {
        (self.0.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in `[lo, hi)`.
    pub(crate) fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    /// Uniform integer in `lo..=hi`.
    pub(crate) fn int(&mut self, lo: u32, hi: u32) -> u32 {
        // Modulo bias is below 2^-32 for these tiny ranges, and it is the
        // same on every machine, which is what matters here.
        lo + (self.0.next_u64() % u64::from(hi - lo + 1)) as u32
    }

    /// `true` with probability `p`.
    pub(crate) fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// `-1.0` or `1.0`, evenly.
    pub(crate) fn sign(&mut self) -> f64 {
        if self.0.next_u32() & 1 == 0 {
            -1.0
        } else {
            1.0
        }
    }

    /// Cheap zero-mean, unit-variance noise (triangular: sum of two
    /// uniforms), used for per-pixel grain where the exact law is irrelevant.
    pub(crate) fn grain(&mut self) -> f64 {
        let v = self.0.next_u64();
        let a = (v >> 40) as f64 * (1.0 / (1u64 << 24) as f64);
        let b = (v & 0xff_ffff) as f64 * (1.0 / (1u64 << 24) as f64);
        (a + b - 1.0) * 2.449_489_742_783_178 // sqrt(6)
    }
}

/// Periodic 2-D value noise on a lattice of ChaCha values, quintic
/// interpolation, output in `[-1, 1]`.
pub(crate) struct Noise {
    freq: f64,
    n: usize,
    v: Vec<f32>,
}

impl Noise {
    /// `freq` lattice cells per anatomical unit. The lattice repeats every
    /// `n` cells with `n ≥ 5 · freq`, beyond the `[-2, 2]` span any phantom
    /// samples, so no repetition is visible.
    pub(crate) fn new(rng: &mut Rand, freq: f64) -> Self {
        let mut n = 8usize;
        while (n as f64) < freq * 5.0 && n < 512 {
            n *= 2;
        }
        let v = (0..n * n)
            .map(|_| (rng.unit() * 2.0 - 1.0) as f32)
            .collect();
        Noise { freq, n, v }
    }

    /// The noise at `(x, y)`.
    pub(crate) fn at(&self, x: f64, y: f64) -> f64 {
        let (fx, fy) = (x * self.freq, y * self.freq);
        let (x0, y0) = (floor_i(fx), floor_i(fy));
        let (tx, ty) = (fade(fx - x0 as f64), fade(fy - y0 as f64));
        // n is a power of two: masking is rem_euclid.
        let m = self.n as i64 - 1;
        let ix = (x0 & m) as usize;
        let iy = (y0 & m) as usize;
        let ix1 = (ix + 1) % self.n;
        let iy1 = (iy + 1) % self.n;
        let g = |i: usize, j: usize| f64::from(self.v[j * self.n + i]);
        let top = lerp(g(ix, iy), g(ix1, iy), tx);
        let bottom = lerp(g(ix, iy1), g(ix1, iy1), tx);
        lerp(top, bottom, ty)
    }
}

/// Fractal sum of value-noise octaves, normalised to roughly `[-1, 1]`.
pub(crate) struct Fbm {
    octaves: Vec<(Noise, f64)>,
    norm: f64,
}

impl Fbm {
    /// `octaves` layers from `base_freq` upwards, each twice the frequency
    /// and `gain` times the amplitude of the previous one.
    pub(crate) fn new(rng: &mut Rand, base_freq: f64, octaves: u32, gain: f64) -> Self {
        let mut out = Vec::new();
        let (mut f, mut a, mut norm) = (base_freq, 1.0, 0.0);
        for _ in 0..octaves {
            out.push((Noise::new(rng, f), a));
            norm += a;
            f *= 2.0;
            a *= gain;
        }
        // Interpolated value noise has about half the spread of its lattice;
        // 1.6 brings the sum back to roughly [-1, 1].
        Fbm {
            octaves: out,
            norm: 1.6 / norm,
        }
    }

    /// The sum at `(x, y)`.
    pub(crate) fn at(&self, x: f64, y: f64) -> f64 {
        let mut s = 0.0;
        for (n, a) in &self.octaves {
            s += a * n.at(x, y);
        }
        s * self.norm
    }
}

/// Maps pixel centres to anatomical coordinates and back.
///
/// Image coordinates `u, v` run over `[-1, 1]` across the image, `v`
/// downwards; anatomy is drawn in its own `[-1, 1]` square and placed on the
/// image by a similarity (scale, rotation, shift) and optional mirroring.
pub(crate) struct Frame {
    pub(crate) size: u32,
    /// One pixel, in anatomical units.
    pub(crate) px: f64,
    /// image → anatomy linear part, row-major.
    m: [f64; 4],
    /// anatomy → image linear part.
    inv: [f64; 4],
    t: [f64; 2],
}

impl Frame {
    pub(crate) fn new(
        size: u32,
        scale: f64,
        angle: f64,
        shift: [f64; 2],
        flip_x: bool,
        flip_y: bool,
    ) -> Self {
        let (s, c) = (libm::sin(angle), libm::cos(angle));
        let (fx, fy) = (
            if flip_x { -1.0 } else { 1.0 },
            if flip_y { -1.0 } else { 1.0 },
        );
        // anatomy = F · R(-angle) · (image - t) / scale
        let m = [
            fx * c / scale,
            fx * s / scale,
            -fy * s / scale,
            fy * c / scale,
        ];
        // image = scale · R(angle) · F · anatomy + t
        let inv = [
            scale * c * fx,
            -scale * s * fy,
            scale * s * fx,
            scale * c * fy,
        ];
        Frame {
            size,
            px: 2.0 / (f64::from(size.max(1)) * scale),
            m,
            inv,
            t: shift,
        }
    }

    /// Anatomical coordinates of the centre of pixel `(i, j)`.
    pub(crate) fn to_anat(&self, i: u32, j: u32) -> (f64, f64) {
        let n = f64::from(self.size);
        let u = (f64::from(i) + 0.5) * 2.0 / n - 1.0 - self.t[0];
        let v = (f64::from(j) + 0.5) * 2.0 / n - 1.0 - self.t[1];
        (self.m[0] * u + self.m[1] * v, self.m[2] * u + self.m[3] * v)
    }

    /// Continuous pixel coordinates (pixel `i` spans `[i, i + 1)`) of an
    /// anatomical point.
    pub(crate) fn to_pixel(&self, x: f64, y: f64) -> (f64, f64) {
        let n = f64::from(self.size);
        let u = self.inv[0] * x + self.inv[1] * y + self.t[0];
        let v = self.inv[2] * x + self.inv[3] * y + self.t[1];
        ((u + 1.0) * n / 2.0, (v + 1.0) * n / 2.0)
    }

    /// Adds `f(distance)` to every pixel of `buf` within `radius` of the
    /// anatomical segment `a`–`b`.
    pub(crate) fn splat_segment(
        &self,
        buf: &mut [f64],
        a: (f64, f64),
        b: (f64, f64),
        radius: f64,
        f: impl Fn(f64) -> f64,
    ) {
        let n = self.size as i64;
        let (pa, pb) = (self.to_pixel(a.0, a.1), self.to_pixel(b.0, b.1));
        let r = radius / self.px + 1.0;
        let clampi = |v: f64| (v.floor() as i64).clamp(0, n);
        let (i0, i1) = (clampi(pa.0.min(pb.0) - r), clampi(pa.0.max(pb.0) + r + 1.0));
        let (j0, j1) = (clampi(pa.1.min(pb.1) - r), clampi(pa.1.max(pb.1) + r + 1.0));
        for j in j0..j1 {
            for i in i0..i1 {
                let (x, y) = self.to_anat(i as u32, j as u32);
                let d = seg_dist(x, y, a, b);
                if d < radius {
                    buf[(j * n + i) as usize] += f(d);
                }
            }
        }
    }
}

/// `⌊v⌋` as an integer (exact for |v| < 2⁶³; saturates beyond, like `as`),
/// without the out-of-line `floor` call of targets lacking SSE 4.1.
pub(crate) fn floor_i(v: f64) -> i64 {
    let i = v as i64;
    if (i as f64) > v { i - 1 } else { i }
}

/// Quintic fade `6t⁵ − 15t⁴ + 10t³`.
pub(crate) fn fade(t: f64) -> f64 {
    t * t * t * (t * (t * 6.0 - 15.0) + 10.0)
}

pub(crate) fn lerp(a: f64, b: f64, t: f64) -> f64 {
    a + (b - a) * t
}

/// `v²`, spelled out (`powi` has no precision guarantee).
pub(crate) fn sq(v: f64) -> f64 {
    v * v
}

pub(crate) fn clamp01(v: f64) -> f64 {
    v.clamp(0.0, 1.0)
}

/// Hermite step from 0 at `e0` to 1 at `e1` (`e0 > e1` gives a falling step).
pub(crate) fn smoothstep(e0: f64, e1: f64, x: f64) -> f64 {
    let t = clamp01((x - e0) / (e1 - e0));
    t * t * (3.0 - 2.0 * t)
}

/// Soft inside-indicator of a signed distance (`> 0` inside) over `aa`.
pub(crate) fn inside(sd: f64, aa: f64) -> f64 {
    smoothstep(-aa, aa, sd)
}

pub(crate) fn len(x: f64, y: f64) -> f64 {
    (x * x + y * y).sqrt()
}

/// Distance from `(x, y)` to the segment `a`–`b`.
pub(crate) fn seg_dist(x: f64, y: f64, a: (f64, f64), b: (f64, f64)) -> f64 {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let l2 = dx * dx + dy * dy;
    let t = if l2 > 0.0 {
        clamp01(((x - a.0) * dx + (y - a.1) * dy) / l2)
    } else {
        0.0
    };
    len(x - a.0 - t * dx, y - a.1 - t * dy)
}

/// Signed distance (positive inside) of a capsule whose radius tapers from
/// `ra` at `a` to `rb` at `b`; exact enough for gentle tapers.
pub(crate) fn tapered_capsule(
    x: f64,
    y: f64,
    a: (f64, f64),
    b: (f64, f64),
    ra: f64,
    rb: f64,
) -> f64 {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let l2 = dx * dx + dy * dy;
    let t = if l2 > 0.0 {
        clamp01(((x - a.0) * dx + (y - a.1) * dy) / l2)
    } else {
        0.0
    };
    lerp(ra, rb, t) - len(x - a.0 - t * dx, y - a.1 - t * dy)
}

/// Approximate signed distance (positive inside) of an ellipse centred at
/// `c` with semi-axes `rx, ry`, rotated by `angle` (precomputed as
/// `cos`, `sin`). First-order `F / |∇F|`, good near the boundary.
pub(crate) fn ellipse(x: f64, y: f64, c: (f64, f64), rx: f64, ry: f64, cs: (f64, f64)) -> f64 {
    let (dx, dy) = (x - c.0, y - c.1);
    let u = (dx * cs.0 + dy * cs.1) / rx;
    let v = (-dx * cs.1 + dy * cs.0) / ry;
    let r = len(u, v);
    let g = len(u / rx, v / ry);
    if g < 1e-12 {
        return rx.min(ry);
    }
    ((1.0 - r) * r / g).min(rx.min(ry))
}

/// Path length through a cylinder of radius `r` at lateral depth `d`
/// inside its edge (`d = r - |offset|`), i.e. `2√(d(2r − d))`; zero outside.
pub(crate) fn chord(d: f64, r: f64) -> f64 {
    if d <= 0.0 || r <= 0.0 {
        return 0.0;
    }
    let d = d.min(r);
    2.0 * (d * (2.0 * r - d)).sqrt()
}

/// Smooth minimum (polynomial, blend width `k`).
pub(crate) fn smin(a: f64, b: f64, k: f64) -> f64 {
    let h = clamp01(0.5 + 0.5 * (b - a) / k);
    lerp(b, a, h) - k * h * (1.0 - h)
}

/// Smooth maximum.
pub(crate) fn smax(a: f64, b: f64, k: f64) -> f64 {
    -smin(-a, -b, k)
}

/// `(cos θ, sin θ)` via `libm`.
pub(crate) fn cs(theta: f64) -> (f64, f64) {
    (libm::cos(theta), libm::sin(theta))
}

/// Degrees to radians.
pub(crate) fn deg(d: f64) -> f64 {
    d * core::f64::consts::PI / 180.0
}
