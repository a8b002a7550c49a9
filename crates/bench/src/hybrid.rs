//! Lesion hybridization: a lesion cut from an abnormal donor image is
//! transplanted onto healthy tissue of another image with gradient-domain
//! blending, so the lesion keeps its own texture and contrast while the
//! surrounding intensities come from the recipient. The new mask is known by
//! construction: it is the donor's lesion mask, moved.
//!
//! The blend solves a Poisson equation over the lesion dilated by a margin,
//! with the recipient's pixels as the boundary condition and a guidance
//! field that fades from the donor's gradients (on the lesion) to the
//! recipient's own (at the margin): a feathered seamless clone. The solver is
//! successive over-relaxation for a fixed number of sweeps in raster order,
//! single-threaded, so the result is the same bytes everywhere.

use medmetric_imaging::{GrayImage, Mask};
use rand_core::Rng;
use serde::{Deserialize, Serialize};

use crate::seed::{below, unit_f64};

/// Tunables of the transplant.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HybridConfig {
    /// Feather margin around the lesion, as a fraction of the image side
    /// (at least 2 pixels).
    pub margin_fraction: f64,
    /// SOR sweeps.
    pub iterations: u32,
    /// Placement attempts before the best seen is taken.
    pub placement_tries: u32,
    /// Recipient tissue must have a mean intensity in this range where the
    /// lesion lands (keeps lesions off air and off the image border).
    pub tissue_range: (f64, f64),
}

impl Default for HybridConfig {
    fn default() -> Self {
        HybridConfig {
            margin_fraction: 1.0 / 64.0,
            iterations: 200,
            placement_tries: 24,
            tissue_range: (0.12, 0.88),
        }
    }
}

/// What a transplant did, for the round manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransplantRecord {
    /// Donor lesion bounding box `[x0, y0, x1, y1)` in donor coordinates.
    pub donor_box: [u32; 4],
    /// Where the box's top-left corner landed in the recipient.
    pub placed_at: [u32; 2],
    /// Feather margin, pixels.
    pub margin: u32,
    /// Lesion pixels transplanted.
    pub lesion_pixels: u64,
}

fn bbox(mask: &Mask) -> Option<[u32; 4]> {
    let (mut x0, mut y0, mut x1, mut y1) = (u32::MAX, u32::MAX, 0, 0);
    for y in 0..mask.height {
        for x in 0..mask.width {
            if mask.data[(y * mask.width + x) as usize] != 0 {
                x0 = x0.min(x);
                y0 = y0.min(y);
                x1 = x1.max(x + 1);
                y1 = y1.max(y + 1);
            }
        }
    }
    (x0 != u32::MAX).then_some([x0, y0, x1, y1])
}

/// Chessboard distance to the nearest lesion pixel inside a `w × h` patch,
/// capped at `cap`; two-pass chamfer, deterministic.
fn distance(lesion: &[bool], w: usize, h: usize, cap: u32) -> Vec<u32> {
    let mut d: Vec<u32> = lesion.iter().map(|&l| if l { 0 } else { cap }).collect();
    for y in 0..h {
        for x in 0..w {
            let i = y * w + x;
            let mut v = d[i];
            if x > 0 {
                v = v.min(d[i - 1] + 1);
            }
            if y > 0 {
                v = v.min(d[i - w] + 1);
                if x > 0 {
                    v = v.min(d[i - w - 1] + 1);
                }
                if x + 1 < w {
                    v = v.min(d[i - w + 1] + 1);
                }
            }
            d[i] = v.min(cap);
        }
    }
    for y in (0..h).rev() {
        for x in (0..w).rev() {
            let i = y * w + x;
            let mut v = d[i];
            if x + 1 < w {
                v = v.min(d[i + 1] + 1);
            }
            if y + 1 < h {
                v = v.min(d[i + w] + 1);
                if x + 1 < w {
                    v = v.min(d[i + w + 1] + 1);
                }
                if x > 0 {
                    v = v.min(d[i + w - 1] + 1);
                }
            }
            d[i] = v.min(cap);
        }
    }
    d
}

/// Transplants the donor's lesion onto `recipient`. Returns `None` when the
/// donor has no lesion or the lesion (with its margin) does not fit.
pub fn transplant(
    recipient: &GrayImage,
    recipient_mask: &Mask,
    donor: &GrayImage,
    donor_mask: &Mask,
    config: &HybridConfig,
    rng: &mut impl Rng,
) -> Option<(GrayImage, Mask, TransplantRecord)> {
    let [bx0, by0, bx1, by1] = bbox(donor_mask)?;
    let side = recipient.width.min(recipient.height);
    let margin = ((f64::from(side) * config.margin_fraction) as u32).max(2);
    // Patch = lesion box + margin, clipped to the donor image.
    let px0 = bx0.saturating_sub(margin);
    let py0 = by0.saturating_sub(margin);
    let px1 = (bx1 + margin).min(donor.width);
    let py1 = (by1 + margin).min(donor.height);
    let (pw, ph) = (px1 - px0, py1 - py0);
    // One pixel of recipient boundary all round.
    if pw + 2 > recipient.width || ph + 2 > recipient.height {
        return None;
    }
    let (w, h) = (pw as usize, ph as usize);
    let lesion: Vec<bool> = (0..h)
        .flat_map(|y| (0..w).map(move |x| (x, y)))
        .map(|(x, y)| {
            donor_mask.data[(py0 as usize + y) * donor_mask.width as usize + px0 as usize + x] != 0
        })
        .collect();
    let dist = distance(&lesion, w, h, margin + 1);
    let weight: Vec<f64> = dist
        .iter()
        .map(|&d| (1.0 - f64::from(d) / f64::from(margin)).clamp(0.0, 1.0))
        .collect();
    let inside: Vec<bool> = dist.iter().map(|&d| d < margin).collect();

    let place = choose_place(recipient, recipient_mask, pw, ph, config, rng);
    let (ox, oy) = (place[0] as usize, place[1] as usize);
    let rw = recipient.width as usize;
    let t = |x: usize, y: usize| f64::from(recipient.data[(oy + y) * rw + ox + x]);
    let g = |x: usize, y: usize| {
        f64::from(donor.data[(py0 as usize + y) * donor.width as usize + px0 as usize + x])
    };

    // Start from an alpha blend of the donor's deviation from its own
    // boundary mean: a good first guess that SOR then refines.
    let (mut edge_sum, mut edge_n) = (0.0, 0u32);
    for y in 0..h {
        for x in 0..w {
            if !inside[y * w + x] {
                edge_sum += g(x, y) - t(x, y);
                edge_n += 1;
            }
        }
    }
    let shift = if edge_n > 0 {
        edge_sum / f64::from(edge_n)
    } else {
        0.0
    };
    let mut f: Vec<f64> = (0..h)
        .flat_map(|y| (0..w).map(move |x| (x, y)))
        .map(|(x, y)| {
            let a = weight[y * w + x];
            a * (g(x, y) - shift) + (1.0 - a) * t(x, y)
        })
        .collect();

    // Right-hand side: divergence of the feathered guidance field.
    let mut rhs = vec![0.0; w * h];
    for y in 0..h {
        for x in 0..w {
            let i = y * w + x;
            if !inside[i] {
                continue;
            }
            let mut b = 0.0;
            for (dx, dy) in [(-1i64, 0i64), (1, 0), (0, -1), (0, 1)] {
                let (qx, qy) = (x as i64 + dx, y as i64 + dy);
                // Neighbours outside the patch are recipient pixels: the
                // patch always has a 1-pixel recipient ring available.
                let (tq, gq, wq) = if qx < 0 || qy < 0 || qx >= w as i64 || qy >= h as i64 {
                    let (rx, ry) = (ox as i64 + qx, oy as i64 + qy);
                    let v = f64::from(recipient.data[ry as usize * rw + rx as usize]);
                    (v, v, 0.0)
                } else {
                    let (qx, qy) = (qx as usize, qy as usize);
                    (t(qx, qy), g(qx, qy), weight[qy * w + qx])
                };
                let wm = 0.5 * (weight[i] + wq);
                b += wm * (g(x, y) - gq) + (1.0 - wm) * (t(x, y) - tq);
            }
            rhs[i] = b;
        }
    }
    const OMEGA: f64 = 1.8;
    for _ in 0..config.iterations {
        for y in 0..h {
            for x in 0..w {
                let i = y * w + x;
                if !inside[i] {
                    continue;
                }
                let mut sum = rhs[i];
                for (dx, dy) in [(-1i64, 0i64), (1, 0), (0, -1), (0, 1)] {
                    let (qx, qy) = (x as i64 + dx, y as i64 + dy);
                    sum += if qx < 0 || qy < 0 || qx >= w as i64 || qy >= h as i64 {
                        let (rx, ry) = (ox as i64 + qx, oy as i64 + qy);
                        f64::from(recipient.data[ry as usize * rw + rx as usize])
                    } else {
                        let j = qy as usize * w + qx as usize;
                        if inside[j] {
                            f[j]
                        } else {
                            t(qx as usize, qy as usize)
                        }
                    };
                }
                f[i] += OMEGA * (sum / 4.0 - f[i]);
            }
        }
    }

    let mut image = recipient.clone();
    let mut mask = recipient_mask.clone();
    let mut lesion_pixels = 0;
    for y in 0..h {
        for x in 0..w {
            let i = y * w + x;
            let r = (oy + y) * rw + ox + x;
            if inside[i] {
                image.data[r] = f[i].clamp(0.0, 1.0) as f32;
            }
            if lesion[i] {
                mask.data[r] = 1;
                lesion_pixels += 1;
            }
        }
    }
    let record = TransplantRecord {
        donor_box: [bx0, by0, bx1, by1],
        placed_at: [place[0] + (bx0 - px0), place[1] + (by0 - py0)],
        margin,
        lesion_pixels,
    };
    Some((image, mask, record))
}

/// Picks where the patch's top-left corner lands: on tissue (mean intensity
/// in range, no existing lesion), the first acceptable of a few seeded
/// tries, else the try whose mean is closest to mid-grey.
fn choose_place(
    recipient: &GrayImage,
    recipient_mask: &Mask,
    pw: u32,
    ph: u32,
    config: &HybridConfig,
    rng: &mut impl Rng,
) -> [u32; 2] {
    let span_x = u64::from(recipient.width - pw - 1);
    let span_y = u64::from(recipient.height - ph - 1);
    let mut best = ([1, 1], f64::INFINITY);
    for _ in 0..config.placement_tries.max(1) {
        let x = 1 + below(rng, span_x) as u32;
        let y = 1 + below(rng, span_y) as u32;
        let (mut sum, mut overlap) = (0.0, false);
        for yy in y..y + ph {
            for xx in x..x + pw {
                let i = (yy * recipient.width + xx) as usize;
                sum += f64::from(recipient.data[i]);
                overlap |= recipient_mask.data[i] != 0;
            }
        }
        let mean = sum / f64::from(pw * ph);
        let (lo, hi) = config.tissue_range;
        if !overlap && (lo..=hi).contains(&mean) {
            return [x, y];
        }
        let score = (mean - 0.5).abs() + if overlap { 1.0 } else { 0.0 } + unit_f64(rng) * 1e-9;
        if score < best.1 {
            best = ([x, y], score);
        }
    }
    best.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha8Rng;
    use rand_core::SeedableRng;

    fn disk_case(size: u32, cx: f32, cy: f32, r: f32, bg: f32, fg: f32) -> (GrayImage, Mask) {
        let mut mask = Mask::empty(size, size);
        let img = GrayImage::from_fn(size, size, |x, y| {
            let inside = (x as f32 - cx).powi(2) + (y as f32 - cy).powi(2) <= r * r;
            if inside {
                mask.data[(y * size + x) as usize] = 1;
            }
            if inside {
                fg
            } else {
                bg + 0.001 * ((x * 7 + y * 3) % 11) as f32
            }
        });
        (img, mask)
    }

    #[test]
    fn lesion_moves_with_its_mask_and_contrast() {
        let (donor, dmask) = disk_case(128, 40.0, 50.0, 8.0, 0.3, 0.7);
        let recipient = GrayImage::from_fn(128, 128, |x, _| 0.4 + 0.2 * x as f32 / 128.0);
        let rmask = Mask::empty(128, 128);
        let mut rng = ChaCha8Rng::from_seed([3; 32]);
        let (img, mask, rec) = transplant(
            &recipient,
            &rmask,
            &donor,
            &dmask,
            &HybridConfig::default(),
            &mut rng,
        )
        .unwrap();
        let n = dmask.data.iter().filter(|&&v| v != 0).count() as u64;
        assert_eq!(rec.lesion_pixels, n);
        assert_eq!(mask.data.iter().filter(|&&v| v != 0).count() as u64, n);
        // The lesion is brighter than its new surroundings by about the
        // donor's contrast (0.4), not by the donor's absolute level.
        let (mut inside, mut ni, mut outside, mut no) = (0.0, 0, 0.0, 0);
        for i in 0..img.data.len() {
            if mask.data[i] != 0 {
                inside += f64::from(img.data[i]);
                ni += 1;
            } else if (f64::from(img.data[i]) - f64::from(recipient.data[i])).abs() > 0.0 {
                outside += f64::from(img.data[i]) - f64::from(recipient.data[i]);
                no += 1;
            }
        }
        let [x, y] = rec.placed_at;
        let local = f64::from(recipient.get(x, y));
        let contrast = inside / f64::from(ni) - local;
        assert!(contrast > 0.25 && contrast < 0.55, "contrast {contrast}");
        // The halo in the feather margin stays small.
        assert!(no == 0 || (outside / f64::from(no)).abs() < 0.15);
    }

    #[test]
    fn transplant_is_deterministic_and_seed_dependent() {
        let (donor, dmask) = disk_case(96, 30.0, 30.0, 6.0, 0.2, 0.6);
        let recipient = GrayImage::filled(96, 96, 0.5);
        let rmask = Mask::empty(96, 96);
        let run = |s: u8| {
            let mut rng = ChaCha8Rng::from_seed([s; 32]);
            transplant(
                &recipient,
                &rmask,
                &donor,
                &dmask,
                &HybridConfig::default(),
                &mut rng,
            )
            .unwrap()
        };
        assert_eq!(run(1), run(1));
        assert_ne!(run(1).2.placed_at, run(2).2.placed_at);
    }

    #[test]
    fn empty_or_oversized_donors_are_skipped() {
        let img = GrayImage::filled(32, 32, 0.5);
        let empty = Mask::empty(32, 32);
        let mut rng = ChaCha8Rng::from_seed([0; 32]);
        let cfg = HybridConfig::default();
        assert!(transplant(&img, &empty, &img, &empty, &cfg, &mut rng).is_none());
        let full = Mask {
            width: 32,
            height: 32,
            data: vec![1; 1024],
        };
        assert!(transplant(&img, &empty, &img, &full, &cfg, &mut rng).is_none());
    }
}
