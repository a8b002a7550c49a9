//! Grayscale PNG reading and writing with bounded memory.
//!
//! Accepted: grayscale PNG at 1, 2, 4, 8 or 16 bits. Low bit depths are
//! expanded to 8 bits (so a 1-bit mask reads as 0/255). Colour, palette and
//! alpha images are refused: MedMetric never guesses how to turn colour into
//! intensity.

use crate::{GrayImage, Mask};

/// Bounds on what a PNG may make us allocate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PngLimits {
    /// Largest accepted width or height.
    pub max_side: u32,
    /// Largest decoded buffer, in bytes.
    pub max_bytes: usize,
}

impl Default for PngLimits {
    fn default() -> Self {
        PngLimits {
            max_side: 8192,
            max_bytes: 8192 * 8192 * 2,
        }
    }
}

/// Why a PNG could not be used.
#[derive(Debug, thiserror::Error)]
pub enum PngError {
    /// Not a decodable PNG.
    #[error("not a readable PNG: {0}")]
    Decode(String),
    /// A colour, palette or alpha image.
    #[error("not a grayscale PNG (colour type {0})")]
    NotGray(String),
    /// Too large to decode.
    #[error("image {width}x{height} exceeds the {max}-pixel side limit")]
    TooLarge {
        /// Declared width.
        width: u32,
        /// Declared height.
        height: u32,
        /// Limit in force.
        max: u32,
    },
    /// Zero-sized image.
    #[error("image has no pixels")]
    Empty,
    /// Encoding failed.
    #[error("cannot encode PNG: {0}")]
    Encode(String),
}

/// A decoded grayscale image with the bit depth it was stored at.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedGray {
    /// Values divided by the format's maximum (255 or 65535).
    pub image: GrayImage,
    /// 8 or 16 (after expansion of low bit depths).
    pub bit_depth: u8,
    /// The raw integer samples.
    pub raw: Vec<u16>,
}

/// Decodes a grayscale PNG.
pub fn decode_gray(bytes: &[u8], limits: &PngLimits) -> Result<DecodedGray, PngError> {
    let mut decoder = png::Decoder::new_with_limits(
        std::io::Cursor::new(bytes),
        png::Limits {
            bytes: limits.max_bytes,
        },
    );
    decoder.set_transformations(png::Transformations::EXPAND);
    let mut reader = decoder
        .read_info()
        .map_err(|e| PngError::Decode(e.to_string()))?;
    let info = reader.info();
    let (width, height) = (info.width, info.height);
    if width == 0 || height == 0 {
        return Err(PngError::Empty);
    }
    if width > limits.max_side || height > limits.max_side {
        return Err(PngError::TooLarge {
            width,
            height,
            max: limits.max_side,
        });
    }
    let (color, depth) = reader.output_color_type();
    if color != png::ColorType::Grayscale {
        return Err(PngError::NotGray(format!("{color:?}")));
    }
    let size = reader
        .output_buffer_size()
        .ok_or_else(|| PngError::Decode("image too large".into()))?;
    let mut buf = vec![0u8; size];
    let frame = reader
        .next_frame(&mut buf)
        .map_err(|e| PngError::Decode(e.to_string()))?;
    let n = width as usize * height as usize;
    let (raw, max, bit_depth): (Vec<u16>, f32, u8) = match depth {
        png::BitDepth::Sixteen => (
            buf[..frame.buffer_size()]
                .chunks_exact(2)
                .take(n)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect(),
            65535.0,
            16,
        ),
        _ => (
            buf[..frame.buffer_size()]
                .iter()
                .take(n)
                .map(|&v| u16::from(v))
                .collect(),
            255.0,
            8,
        ),
    };
    if raw.len() != n {
        return Err(PngError::Decode("truncated image data".into()));
    }
    let data = raw.iter().map(|&v| f32::from(v) / max).collect();
    Ok(DecodedGray {
        image: GrayImage {
            width,
            height,
            data,
        },
        bit_depth,
        raw,
    })
}

fn encode(width: u32, height: u32, depth: png::BitDepth, data: &[u8]) -> Result<Vec<u8>, PngError> {
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, width, height);
        enc.set_color(png::ColorType::Grayscale);
        enc.set_depth(depth);
        // Rounds write thousands of images; fdeflate's fast mode is several
        // times quicker than zlib's default level for slightly larger files.
        enc.set_compression(png::Compression::Fast);
        let mut w = enc
            .write_header()
            .map_err(|e| PngError::Encode(e.to_string()))?;
        w.write_image_data(data)
            .map_err(|e| PngError::Encode(e.to_string()))?;
        w.finish().map_err(|e| PngError::Encode(e.to_string()))?;
    }
    Ok(out)
}

/// The integer sample an intensity is stored as: `floor(v·max + 1/2)` on the
/// clamped value, computed exactly in `f64` (NaN stores as 0). A truncating
/// cast instead of `round` keeps it a single instruction on every x86-64.
pub fn quantise(v: f32, max: f32) -> f32 {
    let v = if v.is_nan() { 0.0 } else { v.clamp(0.0, 1.0) };
    (f64::from(v) * f64::from(max) + 0.5) as u32 as f32
}

/// Encodes an image as 8-bit grayscale (values clamped to `[0, 1]`).
pub fn encode_gray8(img: &GrayImage) -> Result<Vec<u8>, PngError> {
    let data: Vec<u8> = img.data.iter().map(|&v| quantise(v, 255.0) as u8).collect();
    encode(img.width, img.height, png::BitDepth::Eight, &data)
}

/// Encodes an image as 16-bit grayscale (values clamped to `[0, 1]`).
pub fn encode_gray16(img: &GrayImage) -> Result<Vec<u8>, PngError> {
    let data: Vec<u8> = img
        .data
        .iter()
        .flat_map(|&v| (quantise(v, 65535.0) as u16).to_be_bytes())
        .collect();
    encode(img.width, img.height, png::BitDepth::Sixteen, &data)
}

/// Encodes a mask as 8-bit grayscale, lesion = 255.
pub fn encode_mask(mask: &Mask) -> Result<Vec<u8>, PngError> {
    let data: Vec<u8> = mask
        .data
        .iter()
        .map(|&v| if v != 0 { 255 } else { 0 })
        .collect();
    encode(mask.width, mask.height, png::BitDepth::Eight, &data)
}

/// Reads a mask: any non-zero sample is lesion.
pub fn decode_mask(bytes: &[u8], limits: &PngLimits) -> Result<Mask, PngError> {
    let d = decode_gray(bytes, limits)?;
    Ok(Mask {
        width: d.image.width,
        height: d.image.height,
        data: d.raw.iter().map(|&v| u8::from(v != 0)).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eight_and_sixteen_bit_round_trip() {
        let img = GrayImage::from_fn(5, 7, |x, y| ((x * 7 + y) % 11) as f32 / 10.0);
        for (bytes, depth, tol) in [
            (encode_gray8(&img).unwrap(), 8, 0.5 / 255.0),
            (encode_gray16(&img).unwrap(), 16, 0.5 / 65535.0),
        ] {
            let d = decode_gray(&bytes, &PngLimits::default()).unwrap();
            assert_eq!(d.bit_depth, depth);
            for (a, b) in img.data.iter().zip(&d.image.data) {
                assert!((a - b).abs() <= tol + 1e-7, "{a} vs {b}");
            }
        }
    }

    #[test]
    fn colour_and_garbage_are_refused() {
        let mut out = Vec::new();
        {
            let mut enc = png::Encoder::new(&mut out, 2, 2);
            enc.set_color(png::ColorType::Rgb);
            enc.set_depth(png::BitDepth::Eight);
            let mut w = enc.write_header().unwrap();
            w.write_image_data(&[0u8; 12]).unwrap();
        }
        assert!(matches!(
            decode_gray(&out, &PngLimits::default()),
            Err(PngError::NotGray(_))
        ));
        assert!(matches!(
            decode_gray(b"\x89PNG\r\n\x1a\nnope", &PngLimits::default()),
            Err(PngError::Decode(_))
        ));
        assert!(decode_gray(&[], &PngLimits::default()).is_err());
    }

    #[test]
    fn oversized_declarations_are_refused_before_allocation() {
        let img = GrayImage::filled(64, 64, 0.5);
        let bytes = encode_gray8(&img).unwrap();
        let small = PngLimits {
            max_side: 32,
            max_bytes: 1 << 20,
        };
        assert!(matches!(
            decode_gray(&bytes, &small),
            Err(PngError::TooLarge { .. })
        ));
    }

    #[test]
    fn masks_read_nonzero_as_lesion() {
        let mask = Mask {
            width: 3,
            height: 1,
            data: vec![0, 1, 1],
        };
        let back = decode_mask(&encode_mask(&mask).unwrap(), &PngLimits::default()).unwrap();
        assert_eq!(back, mask);
    }
}
