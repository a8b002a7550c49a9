//! Contrast-limited adaptive histogram equalisation, equal to OpenCV's
//! `cv::createCLAHE(clipLimit, tileGridSize).apply(src)` byte for byte on
//! 8-bit (256 bins) and 16-bit (65536 bins) images.
//!
//! The algorithm, as OpenCV defines it:
//!
//! 1. When the width is not a multiple of `tiles_x` *or* the height is not a
//!    multiple of `tiles_y`, the image is extended on the right by
//!    `tiles_x - width % tiles_x` columns and at the bottom by
//!    `tiles_y - height % tiles_y` rows (a whole extra tile's worth on an axis
//!    that already divided), mirrored without repeating the edge
//!    (`BORDER_REFLECT_101`, bouncing back and forth when the border is wider
//!    than the image). Tiles are `padded / tiles` pixels on each side.
//! 2. Each tile's histogram is clipped at
//!    `max(trunc(clip_limit * tile_area / bins), 1)` when `clip_limit > 0`;
//!    the excess is spread evenly over every bin, and the remainder one count
//!    each to bins `0, s, 2s, …` with `s = max(bins / remainder, 1)`.
//! 3. The tile's lookup table is the cumulative histogram times
//!    `(bins - 1) / tile_area` in `f32`, rounded half to even.
//! 4. Each pixel blends the lookup tables of the four nearest tiles with `f32`
//!    weights from `x / tile_width - 0.5` (tile centres at half a tile, the
//!    tables of edge tiles extended outwards) and rounds half to even.
//!
//! The 16-bit path never builds 65536-entry tables: it keeps one entry per
//! grey value that occurs in the image and evaluates the clipped cumulative
//! histogram at those values in closed form, which gives the same numbers.

use serde::{Deserialize, Serialize};

use super::{AugmentError, check_image};
use crate::GrayImage;

/// Largest tile count per axis. OpenCV has no limit; beyond this the tile
/// grid is finer than any CLAHE use and only costs memory.
pub const MAX_TILES: u32 = 1024;

/// Largest number of lookup-table entries one call may allocate: 2^26
/// (128 MiB). A call needs `tiles_x * tiles_y` tables of 256 entries at
/// 8 bits (or, when that is too many, one entry per distinct grey value, as
/// always at 16 bits).
pub const MAX_LUT_ENTRIES: u64 = 1 << 26;

fn default_bit_depth() -> u8 {
    16
}

/// CLAHE parameters, as recorded in a round manifest.
///
/// `clip_limit` and the tile grid mean exactly what they mean to OpenCV: the
/// per-bin limit is `clip_limit * tile_area / bins`, so the same clip limit is
/// 256 times stronger on 16-bit data than on 8-bit data. `bit_depth` (8 or
/// 16) only matters for [`ClaheParams::apply_gray`], which quantises a float
/// image to that many bits first.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaheParams {
    /// OpenCV's `clipLimit`; `<= 0` disables clipping (plain tiled
    /// histogram equalisation).
    pub clip_limit: f64,
    /// Tiles across (OpenCV's `tileGridSize.width`), `1..=MAX_TILES`.
    pub tiles_x: u32,
    /// Tiles down (OpenCV's `tileGridSize.height`), `1..=MAX_TILES`.
    pub tiles_y: u32,
    /// Quantisation used by [`ClaheParams::apply_gray`]: 8 or 16 bits.
    #[serde(default = "default_bit_depth")]
    pub bit_depth: u8,
}

impl ClaheParams {
    /// A square `tiles × tiles` grid with `clip_limit`, 16-bit float path.
    pub fn new(clip_limit: f64, tiles: u32) -> Self {
        ClaheParams {
            clip_limit,
            tiles_x: tiles,
            tiles_y: tiles,
            bit_depth: 16,
        }
    }

    /// Checks the parameters without running anything.
    pub fn validate(&self) -> Result<(), AugmentError> {
        if !self.clip_limit.is_finite() {
            return Err(AugmentError::param(
                "clahe",
                format!("clip_limit must be finite, got {}", self.clip_limit),
            ));
        }
        for (name, t) in [("tiles_x", self.tiles_x), ("tiles_y", self.tiles_y)] {
            if t == 0 || t > MAX_TILES {
                return Err(AugmentError::param(
                    "clahe",
                    format!("{name} must be in 1..={MAX_TILES}, got {t}"),
                ));
            }
        }
        if self.bit_depth != 8 && self.bit_depth != 16 {
            return Err(AugmentError::param(
                "clahe",
                format!("bit_depth must be 8 or 16, got {}", self.bit_depth),
            ));
        }
        Ok(())
    }

    /// CLAHE on 8-bit samples (row-major, `width * height` of them), equal to
    /// OpenCV on a `CV_8UC1` image.
    pub fn apply_u8(&self, src: &[u8], width: u32, height: u32) -> Result<Vec<u8>, AugmentError> {
        let (w, h) = self.check(src.len(), width, height)?;
        if src.is_empty() {
            return Ok(Vec::new());
        }
        if lut_entries(self, 256) <= MAX_LUT_ENTRIES {
            clahe_direct(src, w, h, self)
        } else {
            clahe_ranked(src, w, h, 256, self)
        }
    }

    /// CLAHE on 16-bit samples, equal to OpenCV on a `CV_16UC1` image.
    pub fn apply_u16(
        &self,
        src: &[u16],
        width: u32,
        height: u32,
    ) -> Result<Vec<u16>, AugmentError> {
        let (w, h) = self.check(src.len(), width, height)?;
        if src.is_empty() {
            return Ok(Vec::new());
        }
        clahe_ranked(src, w, h, 65536, self)
    }

    /// CLAHE on a float image: each value is clamped to `[0, 1]`, quantised
    /// to `bit_depth` bits exactly as [`crate::png_io`] stores it
    /// (`round(v * max)`, NaN as 0), equalised, and divided back by `max`.
    /// On an image read from a PNG of that depth the result is OpenCV's
    /// output on the PNG's samples.
    pub fn apply_gray(&self, img: &GrayImage) -> Result<GrayImage, AugmentError> {
        self.validate()?;
        check_image(img)?;
        let data = if self.bit_depth == 8 {
            let q: Vec<u8> = img.data.iter().map(|&v| quantise(v, 255.0) as u8).collect();
            let out = self.apply_u8(&q, img.width, img.height)?;
            out.into_iter().map(|v| f32::from(v) / 255.0).collect()
        } else {
            let q: Vec<u16> = img.data.iter().map(|&v| quantise(v, 65535.0)).collect();
            let out = self.apply_u16(&q, img.width, img.height)?;
            out.into_iter().map(|v| f32::from(v) / 65535.0).collect()
        };
        Ok(GrayImage {
            width: img.width,
            height: img.height,
            data,
        })
    }

    fn check(&self, len: usize, width: u32, height: u32) -> Result<(usize, usize), AugmentError> {
        self.validate()?;
        let (w, h) = (width as usize, height as usize);
        if w.checked_mul(h) != Some(len) {
            return Err(AugmentError::BadImage { width, height, len });
        }
        Ok((w, h))
    }
}

/// Float to integer quantisation used by the PNG writer.
pub(crate) fn quantise(v: f32, max: f32) -> u16 {
    // NaN survives clamp and then casts to 0
    (v.clamp(0.0, 1.0) * max).round() as u16
}

/// OpenCV's `borderInterpolate` for `BORDER_REFLECT_101`: `gfedcb|abcdefgh|gfedcba`,
/// repeated when `p` lies more than one image width outside.
fn reflect101(mut p: i64, len: i64) -> usize {
    if len == 1 {
        return 0;
    }
    while p < 0 || p >= len {
        if p < 0 {
            p = -p;
        } else {
            p = 2 * (len - 1) - p;
        }
    }
    p as usize
}

/// Per-axis geometry of the tile grid.
struct Axis {
    /// Source index of every padded coordinate.
    map: Vec<usize>,
    /// Tile size in pixels.
    tile: usize,
}

fn axis(len: usize, tiles: usize, pad: bool) -> Axis {
    let padded = if pad { len + tiles - len % tiles } else { len };
    let map = (0..padded)
        .map(|p| reflect101(p as i64, len as i64))
        .collect();
    Axis {
        map,
        tile: padded / tiles,
    }
}

/// Interpolation coordinates of one output row or column, as OpenCV computes
/// them: `t = p * (1 / tile) - 0.5` in `f32`, blending tiles `lo` and `hi`.
#[derive(Clone, Copy)]
struct Blend {
    lo: usize,
    hi: usize,
    w_hi: f32,
    w_lo: f32,
}

fn blend(p: usize, inv_tile: f32, tiles: usize) -> Blend {
    let t = p as f32 * inv_tile - 0.5;
    let t1 = t.floor();
    let w_hi = t - t1;
    let t1 = t1 as i64;
    let last = tiles as i64 - 1;
    Blend {
        lo: t1.clamp(0, last) as usize,
        hi: (t1 + 1).clamp(0, last) as usize,
        w_hi,
        w_lo: 1.0 - w_hi,
    }
}

/// OpenCV's `cvRound` (half to even) for `0 <= x < 2^23`: adding 2^23
/// pushes every fraction bit out of the mantissa (IEEE addition rounds ties
/// to even), and the mantissa is then the rounded integer. Much cheaper than
/// `round_ties_even` and a saturating cast on CPUs without SSE4.1.
fn round_even(x: f32) -> u32 {
    const MAGIC: f32 = 8_388_608.0;
    (x + MAGIC).to_bits() & 0x007f_ffff
}

/// An output sample type.
trait Sample: Copy + Default {
    /// `v` is within the type's range.
    fn from_u32(v: u32) -> Self;
}

impl Sample for u8 {
    fn from_u32(v: u32) -> Self {
        v as u8
    }
}

impl Sample for u16 {
    fn from_u32(v: u32) -> Self {
        v as u16
    }
}

/// CLAHE on samples that are their own table index (8-bit: 256 entries).
fn clahe_direct(src: &[u8], w: usize, h: usize, p: &ClaheParams) -> Result<Vec<u8>, AugmentError> {
    let values: Vec<u32> = (0..256).collect();
    equalise(src, &values, w, h, 256, p)
}

/// CLAHE indexing the tables by rank among the grey values present, so a
/// 16-bit image needs one entry per distinct value rather than 65536.
fn clahe_ranked<T: Copy + Into<usize>, O: Sample>(
    src: &[T],
    w: usize,
    h: usize,
    bins: usize,
    p: &ClaheParams,
) -> Result<Vec<O>, AugmentError> {
    let mut present = vec![false; bins];
    for &v in src {
        present[v.into()] = true;
    }
    let values: Vec<u32> = (0..bins as u32).filter(|&v| present[v as usize]).collect();
    let mut rank = vec![0u16; bins];
    for (r, &v) in values.iter().enumerate() {
        rank[v as usize] = r as u16;
    }
    let ranked: Vec<u16> = src.iter().map(|&v| rank[v.into()]).collect();
    equalise(&ranked, &values, w, h, bins, p)
}

fn lut_entries(p: &ClaheParams, per_tile: usize) -> u64 {
    u64::from(p.tiles_x) * u64::from(p.tiles_y) * per_tile as u64
}

/// One run of output columns that blend the same four tile tables.
struct Row<'a, S> {
    idx: &'a [S],
    xa: &'a [f32],
    xa1: &'a [f32],
    ya: f32,
    ya1: f32,
    max: f32,
}

/// Pixels blended per batch: table lookups first, then the arithmetic on
/// whole arrays, which the compiler turns into SIMD (lane by lane the same
/// IEEE operations, so the same results).
const BATCH: usize = 64;

impl<S: Copy + Into<usize>> Row<'_, S> {
    /// `tables`: top-left, top-right, bottom-left, bottom-right.
    fn blend<T, O>(&self, [a1, b1, a2, b2]: [&T; 4], out: &mut [O])
    where
        T: std::ops::Index<usize, Output = u16> + ?Sized,
        O: Sample,
    {
        let mut g = [[0u16; BATCH]; 4];
        let chunks = out
            .chunks_mut(BATCH)
            .zip(self.idx.chunks(BATCH))
            .zip(self.xa.chunks(BATCH).zip(self.xa1.chunks(BATCH)));
        for ((out, idx), (xa, xa1)) in chunks {
            let n = out.len();
            for (i, &s) in idx.iter().enumerate() {
                let r: usize = s.into();
                g[0][i] = a1[r];
                g[1][i] = b1[r];
                g[2][i] = a2[r];
                g[3][i] = b2[r];
            }
            let [l11, l12, l21, l22] = &g;
            let (l11, l12, l21, l22) = (&l11[..n], &l12[..n], &l21[..n], &l22[..n]);
            let (xa, xa1) = (&xa[..n], &xa1[..n]);
            for i in 0..n {
                // OpenCV's expression and evaluation order, in f32
                let (v11, v12) = (f32::from(l11[i]), f32::from(l12[i]));
                let (v21, v22) = (f32::from(l21[i]), f32::from(l22[i]));
                let res = (v11 * xa1[i] + v12 * xa[i]) * self.ya1
                    + (v21 * xa1[i] + v22 * xa[i]) * self.ya;
                out[i] = O::from_u32(round_even(res.clamp(0.0, self.max)));
            }
        }
    }
}

/// The algorithm proper. `idx[i]` is pixel i's index into a tile's table,
/// whose entries stand for the grey values `values` (ascending).
fn equalise<S: Copy + Into<usize>, O: Sample>(
    idx: &[S],
    values: &[u32],
    w: usize,
    h: usize,
    bins: usize,
    p: &ClaheParams,
) -> Result<Vec<O>, AugmentError> {
    let (tiles_x, tiles_y) = (p.tiles_x as usize, p.tiles_y as usize);
    let d = values.len();
    let entries = lut_entries(p, d);
    if entries > MAX_LUT_ENTRIES {
        return Err(AugmentError::TooLarge {
            what: "CLAHE lookup tables",
            size: entries,
            limit: MAX_LUT_ENTRIES,
        });
    }
    let pad = !w.is_multiple_of(tiles_x) || !h.is_multiple_of(tiles_y);
    let ax = axis(w, tiles_x, pad);
    let ay = axis(h, tiles_y, pad);
    let area = ax.tile * ay.tile;
    if area as u64 > i32::MAX as u64 {
        // OpenCV counts in `int`
        return Err(AugmentError::TooLarge {
            what: "CLAHE tile",
            size: area as u64,
            limit: i32::MAX as u64,
        });
    }
    let lut_scale = (bins - 1) as f32 / area as f32;
    let max = (bins - 1) as f32;
    let clip = if p.clip_limit > 0.0 {
        // `as` saturates where OpenCV's int conversion would be undefined
        ((p.clip_limit * area as f64 / bins as f64) as i32).max(1) as i64
    } else {
        0
    };

    let mut lut = vec![0u16; tiles_x * tiles_y * d];
    let mut hist = vec![0u32; d];
    for ty in 0..tiles_y {
        for tx in 0..tiles_x {
            hist.fill(0);
            let (x0, x1) = (tx * ax.tile, (tx + 1) * ax.tile);
            for &sy in &ay.map[ty * ay.tile..(ty + 1) * ay.tile] {
                let row = &idx[sy * w..(sy + 1) * w];
                if x1 <= w {
                    for &r in &row[x0..x1] {
                        hist[r.into()] += 1;
                    }
                } else {
                    for &sx in &ax.map[x0..x1] {
                        hist[row[sx].into()] += 1;
                    }
                }
            }
            let (mut batch, mut residual, mut step) = (0i64, 0i64, 1i64);
            if clip > 0 {
                let mut clipped = 0i64;
                for c in hist.iter_mut() {
                    if i64::from(*c) > clip {
                        clipped += i64::from(*c) - clip;
                        *c = clip as u32;
                    }
                }
                batch = clipped / bins as i64;
                residual = clipped - batch * bins as i64;
                if residual > 0 {
                    step = (bins as i64 / residual).max(1);
                }
            }
            // cumulative count up to bin v: the clipped counts, `batch` on
            // each of bins 0..=v, and one residual count on each of bins
            // 0, step, 2·step, … (`residual` of them) up to v
            let table = &mut lut[(ty * tiles_x + tx) * d..(ty * tiles_x + tx + 1) * d];
            let (mut running, mut extra, mut next_extra) = (0i64, 0i64, 0i64);
            for ((&v, &c), out) in values.iter().zip(&hist).zip(table.iter_mut()) {
                let v = i64::from(v);
                running += i64::from(c);
                while extra < residual && next_extra <= v {
                    extra += 1;
                    next_extra += step;
                }
                let sum = running + batch * (v + 1) + extra;
                *out = round_even((sum as f32 * lut_scale).clamp(0.0, max)) as u16;
            }
        }
    }

    let inv_tw = 1.0f32 / ax.tile as f32;
    let inv_th = 1.0f32 / ay.tile as f32;
    let xb: Vec<Blend> = (0..w).map(|x| blend(x, inv_tw, tiles_x)).collect();
    let xa: Vec<f32> = xb.iter().map(|b| b.w_hi).collect();
    let xa1: Vec<f32> = xb.iter().map(|b| b.w_lo).collect();
    // runs of columns that blend the same two tiles
    let mut runs: Vec<(usize, usize, usize, usize)> = Vec::new();
    for (x, b) in xb.iter().enumerate() {
        match runs.last_mut() {
            Some(run) if (run.2, run.3) == (b.lo, b.hi) => run.1 = x + 1,
            _ => runs.push((x, x + 1, b.lo, b.hi)),
        }
    }
    let mut out = vec![O::default(); w * h];
    for (y, (out_row, idx_row)) in out.chunks_exact_mut(w).zip(idx.chunks_exact(w)).enumerate() {
        let yb = blend(y, inv_th, tiles_y);
        let plane1 = &lut[yb.lo * tiles_x * d..(yb.lo + 1) * tiles_x * d];
        let plane2 = &lut[yb.hi * tiles_x * d..(yb.hi + 1) * tiles_x * d];
        let (ya, ya1) = (yb.w_hi, yb.w_lo);
        for &(x0, x1, lo, hi) in &runs {
            let tables = [
                &plane1[lo * d..(lo + 1) * d],
                &plane1[hi * d..(hi + 1) * d],
                &plane2[lo * d..(lo + 1) * d],
                &plane2[hi * d..(hi + 1) * d],
            ];
            let row = Row {
                idx: &idx_row[x0..x1],
                xa: &xa[x0..x1],
                xa1: &xa1[x0..x1],
                ya,
                ya1,
                max,
            };
            // 256-entry tables indexed by bytes need no bounds checks
            match tables.map(<&[u16; 256]>::try_from) {
                [Ok(a1), Ok(b1), Ok(a2), Ok(b2)] => {
                    row.blend([a1, b1, a2, b2], &mut out_row[x0..x1])
                }
                _ => row.blend(tables, &mut out_row[x0..x1]),
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reflect101_matches_opencv_border_interpolate() {
        // gfedcb|abcdefgh|gfedcba for len 8
        let got: Vec<usize> = (-6..14).map(|p| reflect101(p, 8)).collect();
        assert_eq!(
            got,
            [6, 5, 4, 3, 2, 1, 0, 1, 2, 3, 4, 5, 6, 7, 6, 5, 4, 3, 2, 1]
        );
        // bounces when the border is wider than the image
        let got: Vec<usize> = (0..12).map(|p| reflect101(p, 3)).collect();
        assert_eq!(got, [0, 1, 2, 1, 0, 1, 2, 1, 0, 1, 2, 1]);
        assert_eq!(reflect101(5, 1), 0);
    }

    #[test]
    fn direct_and_ranked_tables_agree() {
        // an LCG keeps the test free of extra dependencies
        let mut state = 12345u32;
        let src: Vec<u8> = (0..37 * 23)
            .map(|_| {
                state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                // a narrow band so clipping and the residual matter
                100 + (state >> 27) as u8
            })
            .collect();
        for (clip, tiles) in [(0.0, 1), (0.5, 3), (2.0, 4), (40.0, 8), (1.0, 16)] {
            let p = ClaheParams::new(clip, tiles);
            let direct: Vec<u8> = clahe_direct(&src, 37, 23, &p).unwrap();
            let ranked: Vec<u8> = clahe_ranked(&src, 37, 23, 256, &p).unwrap();
            assert_eq!(direct, ranked, "clip {clip} tiles {tiles}");
        }
    }

    #[test]
    fn round_even_is_cv_round() {
        for (x, want) in [
            (0.0, 0),
            (0.5, 0),
            (1.5, 2),
            (2.5, 2),
            (2.4999, 2),
            (254.5, 254),
            (255.0, 255),
            (65534.5, 65534),
            (65535.0, 65535),
        ] {
            assert_eq!(round_even(x), want, "{x}");
        }
    }

    #[test]
    fn constant_image_is_well_defined() {
        let p = ClaheParams::new(2.0, 8);
        let out = p.apply_u8(&[100; 35], 7, 5).unwrap();
        assert!(out.iter().all(|&v| v == out[0]));
    }

    #[test]
    fn bad_parameters_are_errors() {
        let img = [0u8; 4];
        for p in [
            ClaheParams::new(f64::NAN, 2),
            ClaheParams::new(2.0, 0),
            ClaheParams::new(2.0, MAX_TILES + 1),
        ] {
            assert!(p.apply_u8(&img, 2, 2).is_err(), "{p:?}");
        }
        assert!(ClaheParams::new(2.0, 2).apply_u8(&img, 3, 2).is_err());
        let mut p = ClaheParams::new(2.0, 2);
        p.bit_depth = 12;
        assert!(p.apply_gray(&GrayImage::filled(2, 2, 0.5)).is_err());
    }

    #[test]
    fn huge_grids_are_refused_not_allocated() {
        let src: Vec<u16> = (0..=65535).collect();
        let p = ClaheParams::new(2.0, MAX_TILES);
        assert!(matches!(
            p.apply_u16(&src, 256, 256),
            Err(AugmentError::TooLarge { .. })
        ));
    }
}
