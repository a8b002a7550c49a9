//! `medmetric augment IN.png OUT.png [--clahe CLIP,TILES] [--affine ROT,SCALE,TX,TY]
//! [--noise SIGMA] [--seed HEX]`: previews augmentations on one image.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, anyhow, bail, ensure};
use clap::Args;
use medmetric_imaging::GrayImage;
use medmetric_imaging::augment::{
    self, AffineParams, Augmentation, ClaheParams, MAX_TILES, NoiseParams,
};
use medmetric_imaging::png_io::{self, PngLimits};

use super::{print_json, read_capped};

/// Largest PNG file accepted, in bytes.
const MAX_PNG_BYTES: u64 = 256 << 20;

#[derive(Debug, Args)]
#[command(after_help = "\
Operations run in the order affine, CLAHE, noise, whatever the order of the \
flags; at least one is required. The output has the input's bit depth (8-bit \
in, 8-bit out; 16-bit PNGs are accepted too). With --clahe alone the output is \
exactly OpenCV's cv2.createCLAHE(clipLimit=CLIP, tileGridSize=(TILES, TILES)).apply(img). \
Prints one line of JSON: the operations as a round manifest records them, the \
seed and the 2x3 matrix mapping input pixel coordinates to output ones.")]
pub struct AugmentArgs {
    /// Input image: grayscale PNG, normally 8-bit.
    pub input: PathBuf,
    /// Where to write the augmented PNG (overwritten if it exists).
    pub output: PathBuf,
    /// CLAHE with OpenCV's clip limit CLIP (>= 0; 0 disables clipping) on a
    /// TILES x TILES grid (1 to 1024), e.g. `--clahe 2,8`.
    #[arg(long, value_name = "CLIP,TILES", allow_hyphen_values = true)]
    pub clahe: Option<String>,
    /// Affine warp about the image centre: rotation in degrees
    /// (counter-clockwise), scale factor (0.01 to 100), and a shift to the
    /// right and down as fractions of the width and height (-10 to 10),
    /// e.g. `--affine -15,1.1,0.05,0`. Bilinear, black outside the image.
    #[arg(long, value_name = "ROT_DEG,SCALE,TX,TY", allow_hyphen_values = true)]
    pub affine: Option<String>,
    /// Additive Gaussian noise with standard deviation SIGMA in units of full
    /// scale (0 to 1; 0.02 is 2% of white), clamped to black and white.
    #[arg(long, value_name = "SIGMA", allow_hyphen_values = true)]
    pub noise: Option<String>,
    /// Seed of the noise: up to 64 hex digits (optional 0x), zero-padded on
    /// the left to 32 bytes. Default: all zeros.
    #[arg(long, value_name = "HEX")]
    pub seed: Option<String>,
}

fn numbers(flag: &str, raw: &str, names: &[&str]) -> anyhow::Result<Vec<f64>> {
    let parts: Vec<&str> = raw.split(',').map(str::trim).collect();
    ensure!(
        parts.len() == names.len(),
        "--{flag} takes {} comma-separated values ({}), got '{raw}'",
        names.len(),
        names.join(",")
    );
    parts
        .iter()
        .zip(names)
        .map(|(p, name)| {
            let v: f64 = p
                .parse()
                .map_err(|_| anyhow!("--{flag}: {name} '{p}' is not a number"))?;
            ensure!(v.is_finite(), "--{flag}: {name} must be finite, got '{p}'");
            Ok(v)
        })
        .collect()
}

fn parse_clahe(raw: &str, bit_depth: u8) -> anyhow::Result<ClaheParams> {
    let v = numbers("clahe", raw, &["CLIP", "TILES"])?;
    ensure!(v[0] >= 0.0, "--clahe: CLIP must be >= 0, got {}", v[0]);
    ensure!(
        v[1].fract() == 0.0 && (1.0..=f64::from(MAX_TILES)).contains(&v[1]),
        "--clahe: TILES must be a whole number from 1 to {MAX_TILES}, got {}",
        v[1]
    );
    let p = ClaheParams {
        bit_depth,
        ..ClaheParams::new(v[0], v[1] as u32)
    };
    p.validate().context("--clahe")?;
    Ok(p)
}

fn parse_affine(raw: &str) -> anyhow::Result<AffineParams> {
    let v = numbers("affine", raw, &["ROT_DEG", "SCALE", "TX", "TY"])?;
    let p = AffineParams {
        rotation_deg: v[0],
        scale: v[1],
        translate_x: v[2],
        translate_y: v[3],
        ..AffineParams::default()
    };
    p.validate().context("--affine")?;
    Ok(p)
}

fn parse_noise(raw: &str) -> anyhow::Result<NoiseParams> {
    let v = numbers("noise", raw, &["SIGMA"])?;
    let p = NoiseParams { sigma: v[0] };
    p.validate().context("--noise")?;
    Ok(p)
}

fn parse_seed(raw: Option<&str>) -> anyhow::Result<[u8; 32]> {
    let Some(raw) = raw else {
        return Ok([0; 32]);
    };
    let t = raw.strip_prefix("0x").unwrap_or(raw);
    ensure!(
        !t.is_empty() && t.len() <= 64 && t.bytes().all(|b| b.is_ascii_hexdigit()),
        "--seed must be 1 to 64 hex digits, got '{raw}'"
    );
    let padded = format!("{t:0>64}");
    let mut seed = [0u8; 32];
    for (i, byte) in seed.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&padded[2 * i..2 * i + 2], 16)?;
    }
    Ok(seed)
}

fn read_png(path: &Path) -> anyhow::Result<png_io::DecodedGray> {
    let bytes = read_capped(path, MAX_PNG_BYTES)?;
    png_io::decode_gray(&bytes, &PngLimits::default())
        .with_context(|| format!("input {}", path.display()))
}

#[derive(serde::Serialize)]
struct Report<'a> {
    input: &'a Path,
    output: &'a Path,
    width: u32,
    height: u32,
    bit_depth: u8,
    seed: String,
    ops: &'a [Augmentation],
    transform: augment::AffineMatrix,
}

/// Applies the requested operations and writes the result.
pub fn run(args: AugmentArgs) -> anyhow::Result<ExitCode> {
    // check the arguments before touching any file
    let seed = parse_seed(args.seed.as_deref())?;
    let affine = args.affine.as_deref().map(parse_affine).transpose()?;
    let noise = args.noise.as_deref().map(parse_noise).transpose()?;
    if let Some(raw) = &args.clahe {
        parse_clahe(raw, 8)?;
    }
    if affine.is_none() && noise.is_none() && args.clahe.is_none() {
        bail!("nothing to do: give at least one of --clahe, --affine, --noise");
    }

    let input = read_png(&args.input)?;
    let depth = input.bit_depth;
    let clahe = args
        .clahe
        .as_deref()
        .map(|raw| parse_clahe(raw, depth))
        .transpose()?;
    let mut ops = Vec::new();
    ops.extend(affine.map(Augmentation::Affine));
    ops.extend(clahe.map(Augmentation::Clahe));
    ops.extend(noise.map(Augmentation::Noise));

    let (w, h) = (input.image.width, input.image.height);
    let max = if depth == 16 { 65535.0 } else { 255.0 };
    let (image, transform) = match (&ops[..], clahe) {
        // CLAHE alone runs on the stored integers: OpenCV's output exactly
        ([Augmentation::Clahe(_)], Some(p)) => {
            let out: Vec<u16> = if depth == 16 {
                p.apply_u16(&input.raw, w, h)?
            } else {
                let src: Vec<u8> = input.raw.iter().map(|&v| v.min(255) as u8).collect();
                p.apply_u8(&src, w, h)?.into_iter().map(u16::from).collect()
            };
            let data = out.into_iter().map(|v| f32::from(v) / max).collect();
            let image = GrayImage {
                width: w,
                height: h,
                data,
            };
            (image, augment::AffineMatrix::IDENTITY)
        }
        _ => {
            let out = augment::apply_pipeline(&input.image, None, &ops, seed)?;
            (out.image, out.transform)
        }
    };
    let bytes = if depth == 16 {
        png_io::encode_gray16(&image)?
    } else {
        png_io::encode_gray8(&image)?
    };
    std::fs::write(&args.output, bytes)
        .with_context(|| format!("cannot write {}", args.output.display()))?;
    print_json(&Report {
        input: &args.input,
        output: &args.output,
        width: w,
        height: h,
        bit_depth: depth,
        seed: seed.iter().map(|b| format!("{b:02x}")).collect(),
        ops: &ops,
        transform,
    })?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_are_left_padded_hex() {
        let s = parse_seed(Some("0x0102")).unwrap();
        assert_eq!(&s[30..], &[1, 2]);
        assert!(s[..30].iter().all(|&b| b == 0));
        assert_eq!(parse_seed(None).unwrap(), [0; 32]);
        assert_eq!(parse_seed(Some("f")).unwrap()[31], 15);
        for bad in ["", "0x", "xyz", &"1".repeat(65)] {
            assert!(parse_seed(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn flag_values_are_validated() {
        assert_eq!(
            parse_clahe("2,8", 8).unwrap(),
            ClaheParams {
                bit_depth: 8,
                ..ClaheParams::new(2.0, 8)
            }
        );
        for bad in [
            "2", "2,8,1", "x,8", "2,0", "2,1.5", "-1,8", "inf,8", "2,100000",
        ] {
            assert!(parse_clahe(bad, 8).is_err(), "{bad}");
        }
        assert_eq!(
            parse_affine("-10, 1.2, 0.1, 0").unwrap().rotation_deg,
            -10.0
        );
        for bad in ["1,2,3", "0,0,0,0", "0,1,20,0", "nan,1,0,0"] {
            assert!(parse_affine(bad).is_err(), "{bad}");
        }
        assert!(parse_noise("0.05").is_ok());
        for bad in ["-0.1", "2", "a", "0.1,0.2"] {
            assert!(parse_noise(bad).is_err(), "{bad}");
        }
    }
}
