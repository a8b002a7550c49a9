//! Times CLAHE on a 512×512 image (clip 2, 8×8 tiles), 8- and 16-bit.
//!
//! ```text
//! cargo run --release -p medmetric-imaging --no-default-features --example clahe_bench -- [DIR]
//! ```
//!
//! With `DIR`, the two test images are also written there as
//! `bench8.png` and `bench16.png` so OpenCV can be timed on the same pixels
//! (see `docs/augmentation.md`).

use std::time::Instant;

use medmetric_imaging::GrayImage;
use medmetric_imaging::augment::ClaheParams;
use medmetric_imaging::png_io;

const SIDE: u32 = 512;
const RUNS: usize = 200;

/// A smooth field with texture: a fixed, radiograph-like test image.
fn test_image() -> GrayImage {
    GrayImage::from_fn(SIDE, SIDE, |x, y| {
        let (fx, fy) = (x as f32 / SIDE as f32, y as f32 / SIDE as f32);
        let smooth = 0.5 + 0.3 * libm::sinf(fx * 7.0) * libm::cosf(fy * 5.0);
        // cheap deterministic hash noise
        let h = (x.wrapping_mul(73_856_093) ^ y.wrapping_mul(19_349_663)) % 1000;
        (smooth + (h as f32 / 1000.0 - 0.5) * 0.1).clamp(0.0, 1.0)
    })
}

fn median_ms(mut f: impl FnMut()) -> f64 {
    f(); // warm-up
    let mut times: Vec<f64> = (0..RUNS)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[RUNS / 2]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let img = test_image();
    let p8: Vec<u8> = img
        .data
        .iter()
        .map(|&v| (v * 255.0).round() as u8)
        .collect();
    let p16: Vec<u16> = img
        .data
        .iter()
        .map(|&v| (v * 65535.0).round() as u16)
        .collect();
    if let Some(dir) = std::env::args_os().nth(1) {
        let dir = std::path::PathBuf::from(dir);
        std::fs::write(dir.join("bench8.png"), png_io::encode_gray8(&img)?)?;
        std::fs::write(dir.join("bench16.png"), png_io::encode_gray16(&img)?)?;
    }
    let params = ClaheParams::new(2.0, 8);
    let ms8 = median_ms(|| {
        std::hint::black_box(params.apply_u8(&p8, SIDE, SIDE).unwrap());
    });
    let ms16 = median_ms(|| {
        std::hint::black_box(params.apply_u16(&p16, SIDE, SIDE).unwrap());
    });
    println!("clahe 512x512 clip 2 tiles 8x8, median of {RUNS}: u8 {ms8:.3} ms, u16 {ms16:.3} ms");
    Ok(())
}
