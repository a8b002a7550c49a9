//! Renders the phantom montage in `docs/phantoms.png` and times the
//! generator.
//!
//! ```text
//! cargo run --release -p medmetric-imaging --no-default-features --example montage [OUT.png]
//! cargo run --release -p medmetric-imaging --no-default-features --example montage -- --modality bone [--size 256] [--first 0] OUT.png
//! cargo run --release -p medmetric-imaging --no-default-features --example montage -- --modality bone --one [--normal] [--size 512] [--first 3] OUT.png
//! ```
//!
//! The montage has one row per modality and four columns: a normal case, two
//! abnormal cases (two pathologies for chest and bone, two MRI weightings for
//! brain), and the third column again with its mask outlined (white inside
//! edge, black outside edge). With `--modality`, it instead writes a sheet
//! of eight consecutive abnormal seeds of one modality, outlined below, to
//! eyeball variety; with `--one` as well, a single case at full size.

use std::time::Instant;

use medmetric_imaging::phantom::{self, LesionKind, MrContrast, PhantomInfo};
use medmetric_imaging::{Case, GrayImage, Modality, png_io};
use sha2::{Digest, Sha256};

const TILE: u32 = 256;
const GAP: u32 = 2;

fn seed(label: &str, i: u32) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(format!("medmetric/montage/{label}/{i}"));
    h.finalize().into()
}

/// The first montage seed whose case satisfies `want`.
fn find(m: Modality, abnormal: bool, want: impl Fn(&PhantomInfo) -> bool) -> (Case, PhantomInfo) {
    (0..)
        .map(|i| phantom::generate_with_info(m, TILE, seed(m.name(), i), abnormal))
        .find(|(_, info)| want(info))
        .expect("some seed matches")
}

/// The image with the mask's boundary drawn white and the pixels just
/// outside it black, so it shows on any background.
fn outlined(case: &Case) -> GrayImage {
    let (w, h) = (case.mask.width as i64, case.mask.height as i64);
    let m = |x: i64, y: i64| {
        x >= 0 && y >= 0 && x < w && y < h && case.mask.data[(y * w + x) as usize] != 0
    };
    let near = |x: i64, y: i64, v: bool| {
        [(-1, 0), (1, 0), (0, -1), (0, 1)]
            .iter()
            .any(|&(dx, dy)| m(x + dx, y + dy) == v)
    };
    let mut img = case.image.clone();
    for y in 0..h {
        for x in 0..w {
            let i = (y * w + x) as usize;
            if m(x, y) && near(x, y, false) {
                img.data[i] = 1.0;
            } else if !m(x, y) && near(x, y, true) {
                img.data[i] = 0.0;
            }
        }
    }
    img
}

fn compose(rows: &[Vec<GrayImage>]) -> GrayImage {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0) as u32;
    let (w, h) = (
        cols * TILE + (cols.saturating_sub(1)) * GAP,
        rows.len() as u32 * TILE + (rows.len() as u32).saturating_sub(1) * GAP,
    );
    let mut out = GrayImage::filled(w, h, 1.0);
    for (r, row) in rows.iter().enumerate() {
        for (c, tile) in row.iter().enumerate() {
            let (ox, oy) = (c as u32 * (TILE + GAP), r as u32 * (TILE + GAP));
            for y in 0..TILE {
                for x in 0..TILE {
                    out.data[((oy + y) * w + ox + x) as usize] = tile.get(x, y);
                }
            }
        }
    }
    out
}

fn write(path: &str, img: &GrayImage) {
    let bytes = png_io::encode_gray8(img).expect("encodable");
    std::fs::write(path, bytes).unwrap_or_else(|e| panic!("cannot write {path}: {e}"));
    println!("wrote {path} ({}x{})", img.width, img.height);
}

fn montage() -> Vec<Vec<GrayImage>> {
    let kind = |k: LesionKind| move |i: &PhantomInfo| i.kind == Some(k);
    let contrast = |c: MrContrast| move |i: &PhantomInfo| i.contrast == Some(c);
    let mut rows = Vec::new();
    for m in Modality::ALL {
        let (normal, (a, _), (b, _)) = match m {
            Modality::Cxr => (
                find(m, false, |_| true).0,
                find(m, true, |i| {
                    i.kind == Some(LesionKind::Nodule) && i.lesions >= 2
                }),
                find(m, true, kind(LesionKind::Consolidation)),
            ),
            Modality::Brain => (
                find(m, false, contrast(MrContrast::T1)).0,
                find(m, true, contrast(MrContrast::Flair)),
                find(m, true, contrast(MrContrast::T1c)),
            ),
            Modality::Bone => (
                find(m, false, |_| true).0,
                find(m, true, kind(LesionKind::Fracture)),
                find(m, true, kind(LesionKind::LyticLesion)),
            ),
        };
        rows.push(vec![normal.image, a.image, b.image.clone(), outlined(&b)]);
    }
    rows
}

fn sheet(m: Modality, size: u32, first: u32) -> Vec<Vec<GrayImage>> {
    let cases: Vec<(Case, PhantomInfo)> = (first..first + 8)
        .map(|i| phantom::generate_with_info(m, size, seed(m.name(), i), true))
        .collect();
    for (i, (c, info)) in cases.iter().enumerate() {
        let px = c.mask.data.iter().filter(|&&v| v != 0).count();
        println!(
            "seed {}: {:?} x{} {:?} mask {:.2}%",
            first + i as u32,
            info.kind,
            info.lesions,
            info.contrast,
            100.0 * px as f64 / c.mask.data.len() as f64
        );
    }
    let fit = |img: &GrayImage| img.resize_bilinear(TILE, TILE);
    let mut rows = Vec::new();
    for half in cases.chunks(4) {
        rows.push(half.iter().map(|(c, _)| fit(&c.image)).collect());
        rows.push(half.iter().map(|(c, _)| fit(&outlined(c))).collect());
    }
    rows
}

fn timing() {
    for size in [256, 512] {
        for m in Modality::ALL {
            let runs = 5u32;
            let start = Instant::now();
            for i in 0..runs {
                std::hint::black_box(phantom::generate(m, size, seed("timing", i), i % 2 == 1));
            }
            let ms = start.elapsed().as_secs_f64() * 1000.0 / f64::from(runs);
            println!("{m:>5} {size}x{size}: {ms:7.1} ms per phantom");
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut modality = None;
    let (mut size, mut first) = (TILE, 0);
    let mut out = None;
    let (mut one, mut normal) = (false, false);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || it.next().expect("flag needs a value").clone();
        match a.as_str() {
            "--modality" => modality = Some(value().parse::<Modality>().expect("modality")),
            "--size" => size = value().parse().expect("size"),
            "--first" => first = value().parse().expect("first"),
            "--one" => one = true,
            "--normal" => normal = true,
            _ => out = Some(a.clone()),
        }
    }
    match modality {
        Some(m) if one => {
            let path = out.unwrap_or_else(|| format!("phantom-{m}.png"));
            let case = phantom::generate(m, size, seed(m.name(), first), !normal);
            write(&path, &case.image);
        }
        Some(m) => {
            let path = out.unwrap_or_else(|| format!("phantoms-{m}.png"));
            write(&path, &compose(&sheet(m, size, first)));
        }
        None => {
            let path = out.unwrap_or_else(|| {
                let docs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs");
                let docs = docs.canonicalize().unwrap_or(docs);
                docs.join("phantoms.png").display().to_string()
            });
            write(&path, &compose(&montage()));
            timing();
        }
    }
}
