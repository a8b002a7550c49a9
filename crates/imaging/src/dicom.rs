//! DICOM images in, normalised [`GrayImage`]s out: the one DICOM
//! preprocessing function that the validator, `eval` and `infer` share.
//!
//! [`decode`] takes the bytes of a DICOM Part 10 file and returns the first
//! frame as intensities in `[0, 1]`:
//!
//! 1. **Parse.** The file must carry the `DICM` marker (at offset 128, or at 0
//!    for preamble-less files). Before dicom-rs sees the data set, a
//!    structural pre-scan checks that every declared element length fits in
//!    the bytes that are actually there and that sequences nest at most
//!    [`MAX_NESTING`] deep, so a hostile length field cannot make the parser
//!    allocate gigabytes and a hostile nesting cannot overflow the stack.
//!    Deflated data sets are inflated here under the
//!    [`ReadLimits::max_decoded_bytes`] cap.
//! 2. **Check.** One sample per pixel (`MONOCHROME1` or `MONOCHROME2`),
//!    8 or 16 bits allocated, rows and columns in `1..=max_side`; the frame's
//!    byte size within the decoded-bytes cap. For JPEG transfer syntaxes the
//!    JPEG frame header is read first and must agree with the DICOM
//!    attributes; RLE frames must have a well-formed segment table and
//!    segments long enough for the frame. Anything else is refused with a
//!    one-line [`DicomError`].
//! 3. **Decode** the first frame (native, deflate, RLE lossless, JPEG
//!    baseline / extended / lossless through dicom-pixeldata's pure-Rust
//!    codecs). JPEG-LS and JPEG 2000 are refused as unsupported transfer
//!    syntaxes: their codecs need C libraries that MedMetric does not link.
//! 4. **Modality LUT:** stored values are masked to *Bits Stored*,
//!    sign-extended when *Pixel Representation* is 1, then
//!    `v = slope · stored + intercept` (*Rescale Slope/Intercept*, default
//!    1 and 0). A *Modality LUT Sequence* is not applied.
//! 5. **VOI window**, first of: the caller's [`Window`] (the pool manifest's
//!    window/level), the file's first *Window Center/Width* pair, else a
//!    min-max stretch over the frame. The window is the DICOM linear function
//!    (PS3.3 C.11.2.1.2.1): `y = ((v − (c − 0.5)) / (w − 1) + 0.5)` clamped
//!    to `[0, 1]` (a step at `c − 0.5` when `w ≤ 1`); *VOI LUT Function* and
//!    *VOI LUT Sequence* are ignored. The min-max stretch is
//!    `(v − min) / (max − min)`, and a constant frame gives zeros.
//! 6. **MONOCHROME1** images are inverted, `y ← 1 − y`, so that high
//!    attenuation (bone) is bright in every output.
//!
//! Arithmetic is `f64` in a fixed order, then rounded to `f32`: two machines
//! produce the same bits.
//!
//! ```
//! use medmetric_imaging::dicom::{self, DicomError};
//! use medmetric_imaging::pool::ReadLimits;
//!
//! // Garbage is refused with a one-line reason, never a panic.
//! let err = dicom::decode(b"not a dicom file", None, &ReadLimits::default()).unwrap_err();
//! assert!(matches!(err, DicomError::NotDicom));
//! ```

use std::io::Read;
use std::panic::{AssertUnwindSafe, catch_unwind};

use dicom_dictionary_std::tags;
use dicom_object::OpenFileOptions;
use dicom_object::file::ReadPreamble;
use dicom_pixeldata::PixelDecoder;

use crate::GrayImage;
use crate::pool::{ReadLimits, Window, normalise_min_max};

/// Deepest sequence/item nesting accepted in a data set.
pub const MAX_NESTING: usize = 16;

const UNDEFINED: u32 = 0xFFFF_FFFF;
const TS_IMPLICIT_LE: &str = "1.2.840.10008.1.2";
const TS_EXPLICIT_LE: &str = "1.2.840.10008.1.2.1";
const TS_EXPLICIT_BE: &str = "1.2.840.10008.1.2.2";
const TS_DEFLATED: &str = "1.2.840.10008.1.2.1.99";
const TS_RLE: &str = "1.2.840.10008.1.2.5";
const JPEG_TRANSFER_SYNTAXES: [&str; 4] = [
    "1.2.840.10008.1.2.4.50",
    "1.2.840.10008.1.2.4.51",
    "1.2.840.10008.1.2.4.57",
    "1.2.840.10008.1.2.4.70",
];

/// Why DICOM bytes could not be turned into an image. Every message is one
/// line; the caller adds the path.
#[derive(Debug, thiserror::Error)]
pub enum DicomError {
    /// No `DICM` marker at offset 128 or 0.
    #[error("not a DICOM Part 10 file (no DICM marker)")]
    NotDicom,
    /// The bytes break the DICOM encoding rules.
    #[error("malformed DICOM: {0}")]
    Malformed(String),
    /// A required attribute is missing or has an unusable value.
    #[error("unusable DICOM attribute {name}: {reason}")]
    Attribute {
        /// Attribute keyword.
        name: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// Valid DICOM that MedMetric does not read (colour, 32-bit, ...).
    #[error("unsupported DICOM image: {0}")]
    Unsupported(String),
    /// A transfer syntax without a codec in this build.
    #[error("unsupported transfer syntax {uid} ({name}): no pure-Rust decoder in this build")]
    UnsupportedTransferSyntax {
        /// Transfer syntax UID.
        uid: String,
        /// Its usual name.
        name: &'static str,
    },
    /// Dimensions or decoded size beyond the limits.
    #[error("{0} exceeds the read limits")]
    TooLarge(String),
    /// The pixel data codec failed.
    #[error("cannot decode pixel data: {0}")]
    Decode(String),
}

/// Photometric interpretation of an accepted image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Photometric {
    /// Minimum value displayed white; inverted during preprocessing.
    Monochrome1,
    /// Minimum value displayed black.
    Monochrome2,
}

/// Which VOI transformation produced the output intensities.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum VoiApplied {
    /// The caller's window (a manifest's window/level).
    Override(Window),
    /// The file's first Window Center/Width pair.
    File(Window),
    /// Min-max stretch between these modality values.
    MinMax {
        /// Smallest modality value in the frame.
        min: f64,
        /// Largest modality value in the frame.
        max: f64,
    },
}

/// The first frame of a DICOM image after preprocessing.
#[derive(Debug, Clone, PartialEq)]
pub struct DicomImage {
    /// Intensities in `[0, 1]`, bright = high attenuation / signal.
    pub image: GrayImage,
    /// Frames in the object (only the first is decoded).
    pub frames: u32,
    /// Transfer syntax UID of the file.
    pub transfer_syntax: String,
    /// Photometric interpretation of the stored pixels.
    pub photometric: Photometric,
    /// How stored values became `[0, 1]`.
    pub voi: VoiApplied,
    /// The *Modality* attribute (`CR`, `CT`, `MR`, ...), when present.
    pub modality: Option<String>,
}

/// Decodes the first frame of a DICOM file and normalises it as described
/// in the [module documentation](self). `window` overrides the file's
/// window (a manifest's window/level).
pub fn decode(
    bytes: &[u8],
    window: Option<Window>,
    limits: &ReadLimits,
) -> Result<DicomImage, DicomError> {
    if bytes.len() as u64 > limits.max_file_bytes {
        return Err(DicomError::TooLarge(format!("{} bytes", bytes.len())));
    }
    let (part10, inflated_from) = prepare(bytes, limits)?;
    // dicom-rs and its codecs are well tested but not written for hostile
    // input; a panic deep inside them becomes an error here.
    let mut image = catch_unwind(AssertUnwindSafe(|| {
        decode_prepared(&part10, window, limits)
    }))
    .unwrap_or_else(|_| Err(DicomError::Decode("decoder panicked".into())))?;
    if let Some(ts) = inflated_from {
        image.transfer_syntax = ts;
    }
    Ok(image)
}

/// Decodes a standalone JPEG (as in CheXpert) with the same JPEG codec and
/// the same preprocessing as DICOM: the stream is wrapped in a minimal
/// encapsulated DICOM data set (MONOCHROME2, no window, so the min-max
/// stretch applies, as for PNG). Colour JPEGs are refused.
pub fn decode_jpeg(bytes: &[u8], limits: &ReadLimits) -> Result<GrayImage, DicomError> {
    if bytes.len() as u64 > limits.max_file_bytes {
        return Err(DicomError::TooLarge(format!("{} bytes", bytes.len())));
    }
    let sof = jpeg_frame_header(bytes)?;
    if sof.components != 1 {
        return Err(DicomError::Unsupported(format!(
            "JPEG with {} components (only grayscale)",
            sof.components
        )));
    }
    let part10 = wrap_jpeg(bytes, &sof);
    Ok(decode(&part10, None, limits)?.image)
}

/// The bytes dicom-rs will parse: the original file, or for a deflated data
/// set a rebuilt file with the data set inflated (under the cap) and the
/// transfer syntax rewritten to explicit VR little endian (the original
/// transfer syntax is returned beside it).
fn prepare(bytes: &[u8], limits: &ReadLimits) -> Result<(Vec<u8>, Option<String>), DicomError> {
    let start = if bytes.len() >= 132 && &bytes[128..132] == b"DICM" {
        128
    } else if bytes.starts_with(b"DICM") {
        0
    } else {
        return Err(DicomError::NotDicom);
    };
    let after_magic = start + 4;
    let meta = scan_meta(&bytes[after_magic..])?;
    let dataset = &bytes[after_magic + meta.len..];
    let ts = meta.transfer_syntax.as_str();
    if ts == TS_DEFLATED {
        let inflated = inflate_capped(dataset, limits.max_decoded_bytes)?;
        scan_dataset(&inflated, Encoding::EXPLICIT_LE)?;
        let mut out = b"DICM".to_vec();
        let mut group = Vec::new();
        for (tag, vr, value) in &meta.elements {
            match *tag {
                (2, 0) | (2, 0x10) => {}
                (g, e) => put_element(&mut group, g, e, *vr, value),
            }
        }
        put_element(&mut group, 2, 0x10, *b"UI", &ui_value(TS_EXPLICIT_LE));
        put_element(&mut out, 2, 0, *b"UL", &(group.len() as u32).to_le_bytes());
        out.extend_from_slice(&group);
        out.extend_from_slice(&inflated);
        Ok((out, Some(TS_DEFLATED.to_string())))
    } else {
        let enc = match ts {
            TS_IMPLICIT_LE => Encoding::IMPLICIT_LE,
            TS_EXPLICIT_BE => Encoding::EXPLICIT_BE,
            _ => Encoding::EXPLICIT_LE,
        };
        scan_dataset(dataset, enc)?;
        Ok((bytes[start..].to_vec(), None))
    }
}

fn decode_prepared(
    part10: &[u8],
    window: Option<Window>,
    limits: &ReadLimits,
) -> Result<DicomImage, DicomError> {
    let obj = OpenFileOptions::new()
        .read_preamble(ReadPreamble::Never)
        .from_reader(part10)
        .map_err(|e| DicomError::Malformed(chain(&e)))?;
    let ts = obj.meta().transfer_syntax().to_string();

    let rows = int_attr(&obj, tags::ROWS, "Rows")?;
    let cols = int_attr(&obj, tags::COLUMNS, "Columns")?;
    if rows == 0 || cols == 0 {
        return Err(attr("Rows/Columns", format!("{cols}x{rows} has no pixels")));
    }
    if rows > limits.max_side || cols > limits.max_side {
        return Err(DicomError::TooLarge(format!(
            "image {cols}x{rows} (side limit {})",
            limits.max_side
        )));
    }
    let spp = opt_int_attr(&obj, tags::SAMPLES_PER_PIXEL, "SamplesPerPixel")?.unwrap_or(1);
    if spp != 1 {
        return Err(DicomError::Unsupported(format!(
            "{spp} samples per pixel (only grayscale)"
        )));
    }
    let photometric = match str_attr(&obj, tags::PHOTOMETRIC_INTERPRETATION)?.as_deref() {
        Some("MONOCHROME1") => Photometric::Monochrome1,
        Some("MONOCHROME2") => Photometric::Monochrome2,
        Some(other) => {
            return Err(DicomError::Unsupported(format!(
                "photometric interpretation {other} (only MONOCHROME1/2)"
            )));
        }
        None => return Err(attr("PhotometricInterpretation", "missing".into())),
    };
    let bits_allocated = opt_int_attr(&obj, tags::BITS_ALLOCATED, "BitsAllocated")?
        .ok_or_else(|| attr("BitsAllocated", "missing".into()))?;
    if bits_allocated != 8 && bits_allocated != 16 {
        return Err(DicomError::Unsupported(format!(
            "{bits_allocated} bits allocated (only 8 or 16)"
        )));
    }
    let bits_stored =
        opt_int_attr(&obj, tags::BITS_STORED, "BitsStored")?.unwrap_or(bits_allocated);
    let high_bit = opt_int_attr(&obj, tags::HIGH_BIT, "HighBit")?.unwrap_or(bits_stored - 1);
    if bits_stored == 0
        || bits_stored > bits_allocated
        || high_bit >= bits_allocated
        || high_bit + 1 < bits_stored
    {
        return Err(attr(
            "BitsStored/HighBit",
            format!("{bits_stored} stored, high bit {high_bit}, {bits_allocated} allocated"),
        ));
    }
    let signed =
        opt_int_attr(&obj, tags::PIXEL_REPRESENTATION, "PixelRepresentation")?.unwrap_or(0) == 1;
    let frames = match str_attr(&obj, tags::NUMBER_OF_FRAMES)? {
        Some(s) if !s.is_empty() => s
            .parse::<u32>()
            .map_err(|_| attr("NumberOfFrames", format!("'{s}' is not a count")))?,
        _ => 1,
    };
    if frames == 0 {
        return Err(attr("NumberOfFrames", "0".into()));
    }
    let frame_bytes = u64::from(rows) * u64::from(cols) * u64::from(bits_allocated / 8);
    if frame_bytes > limits.max_decoded_bytes {
        return Err(DicomError::TooLarge(format!("a {frame_bytes}-byte frame")));
    }

    let pixel = obj
        .element_opt(tags::PIXEL_DATA)
        .map_err(|e| DicomError::Malformed(chain(&e)))?
        .ok_or_else(|| attr("PixelData", "missing".into()))?;
    if let Some(fragments) = pixel.value().fragments() {
        let first = fragments
            .first()
            .ok_or_else(|| attr("PixelData", "encapsulated without fragments".into()))?;
        if ts == TS_RLE {
            check_rle(
                first,
                usize::from(bits_allocated / 8),
                rows as usize * cols as usize,
            )?;
        }
        if JPEG_TRANSFER_SYNTAXES.contains(&ts.as_str()) {
            let sof = jpeg_frame_header(first)?;
            let want_precision_16 = bits_allocated == 16;
            if sof.width != cols
                || sof.height != rows
                || sof.components != 1
                || (sof.precision > 8) != want_precision_16
            {
                return Err(DicomError::Malformed(format!(
                    "JPEG frame {}x{} ({} components, {} bits) disagrees with {cols}x{rows}, \
                     {bits_allocated} bits allocated",
                    sof.width, sof.height, sof.components, sof.precision
                )));
            }
        }
    }
    if let Some(name) = unsupported_ts_name(&ts) {
        return Err(DicomError::UnsupportedTransferSyntax {
            uid: ts.clone(),
            name,
        });
    }

    let decoded = obj
        .decode_pixel_data_frame(0)
        .map_err(|e| map_pixel_error(&ts, &e))?;
    let data = decoded
        .frame_data(0)
        .map_err(|e| DicomError::Decode(chain(&e)))?;
    let n = rows as usize * cols as usize;
    if data.len() < n * usize::from(bits_allocated / 8) {
        return Err(DicomError::Decode(
            "pixel data shorter than one frame".into(),
        ));
    }
    let rescale = decoded
        .rescale()
        .ok()
        .and_then(|r| r.first().copied())
        .map(|r| (r.slope, r.intercept))
        .unwrap_or((1.0, 0.0));
    let (slope, intercept) = if rescale.0.is_finite() && rescale.1.is_finite() && rescale.0 != 0.0 {
        rescale
    } else {
        return Err(attr(
            "RescaleSlope/RescaleIntercept",
            format!("slope {} intercept {}", rescale.0, rescale.1),
        ));
    };
    let shift = u32::from(high_bit + 1 - bits_stored);
    let mask: u32 = if bits_stored >= 32 {
        u32::MAX
    } else {
        (1u32 << bits_stored) - 1
    };
    let values: Vec<f64> = (0..n)
        .map(|i| {
            let raw = if bits_allocated == 8 {
                u32::from(data[i])
            } else {
                u32::from(u16::from_ne_bytes([data[2 * i], data[2 * i + 1]]))
            };
            let stored = (raw >> shift) & mask;
            let v = if signed && stored & (1 << (bits_stored - 1)) != 0 {
                i64::from(stored) - (1i64 << bits_stored)
            } else {
                i64::from(stored)
            };
            slope * v as f64 + intercept
        })
        .collect();

    let file_window = decoded
        .window()
        .ok()
        .flatten()
        .and_then(|w| w.first().copied())
        .map(|w| Window {
            center: w.center,
            width: w.width,
        })
        .filter(Window::is_valid);
    let (mut out, voi) = match (window, file_window) {
        (Some(w), _) => (apply_window(&values, w), VoiApplied::Override(w)),
        (None, Some(w)) => (apply_window(&values, w), VoiApplied::File(w)),
        (None, None) => {
            let (min, max) = min_max(&values);
            (normalise_min_max(&values), VoiApplied::MinMax { min, max })
        }
    };
    let constant = matches!(voi, VoiApplied::MinMax { min, max } if min >= max);
    if photometric == Photometric::Monochrome1 && !constant {
        for v in &mut out {
            *v = 1.0 - *v;
        }
    }
    let modality = str_attr(&obj, tags::MODALITY)?.filter(|s| !s.is_empty());
    Ok(DicomImage {
        image: GrayImage {
            width: cols,
            height: rows,
            data: out,
        },
        frames,
        transfer_syntax: ts,
        photometric,
        voi,
        modality,
    })
}

/// The DICOM linear VOI function (PS3.3 C.11.2.1.2.1) onto `[0, 1]`.
pub fn apply_window(values: &[f64], w: Window) -> Vec<f32> {
    let (c, width) = (w.center, w.width);
    values
        .iter()
        .map(|&v| {
            let y = if width <= 1.0 {
                if v > c - 0.5 { 1.0 } else { 0.0 }
            } else {
                ((v - (c - 0.5)) / (width - 1.0) + 0.5).clamp(0.0, 1.0)
            };
            y as f32
        })
        .collect()
}

fn min_max(values: &[f64]) -> (f64, f64) {
    values
        .iter()
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        })
}

fn unsupported_ts_name(ts: &str) -> Option<&'static str> {
    Some(match ts {
        "1.2.840.10008.1.2.4.80" => "JPEG-LS lossless",
        "1.2.840.10008.1.2.4.81" => "JPEG-LS near-lossless",
        "1.2.840.10008.1.2.4.90" => "JPEG 2000 lossless",
        "1.2.840.10008.1.2.4.91" => "JPEG 2000",
        "1.2.840.10008.1.2.4.92" | "1.2.840.10008.1.2.4.93" => "JPEG 2000 part 2",
        "1.2.840.10008.1.2.4.201" | "1.2.840.10008.1.2.4.202" | "1.2.840.10008.1.2.4.203" => {
            "High-Throughput JPEG 2000"
        }
        "1.2.840.10008.1.2.4.110" | "1.2.840.10008.1.2.4.111" | "1.2.840.10008.1.2.4.112" => {
            "JPEG XL"
        }
        "1.2.840.10008.1.2.4.100"
        | "1.2.840.10008.1.2.4.101"
        | "1.2.840.10008.1.2.4.102"
        | "1.2.840.10008.1.2.4.103"
        | "1.2.840.10008.1.2.4.104"
        | "1.2.840.10008.1.2.4.105"
        | "1.2.840.10008.1.2.4.106"
        | "1.2.840.10008.1.2.4.107"
        | "1.2.840.10008.1.2.4.108" => "MPEG video",
        _ => return None,
    })
}

fn map_pixel_error(ts: &str, e: &dicom_pixeldata::Error) -> DicomError {
    let msg = chain(e);
    if msg.contains("nsupported") || msg.contains("nknown transfer syntax") {
        DicomError::UnsupportedTransferSyntax {
            uid: ts.to_string(),
            name: "unknown to this build",
        }
    } else {
        DicomError::Decode(msg)
    }
}

fn attr(name: &'static str, reason: String) -> DicomError {
    DicomError::Attribute { name, reason }
}

type Obj = dicom_object::DefaultDicomObject;

fn element(
    obj: &Obj,
    tag: dicom_object::Tag,
) -> Result<Option<&dicom_object::mem::InMemElement>, DicomError> {
    obj.element_opt(tag)
        .map_err(|e| DicomError::Malformed(chain(&e)))
}

fn opt_int_attr(
    obj: &Obj,
    tag: dicom_object::Tag,
    name: &'static str,
) -> Result<Option<u16>, DicomError> {
    match element(obj, tag)? {
        None => Ok(None),
        Some(e)
            if e.value()
                .primitive()
                .is_some_and(|p| p.to_bytes().is_empty()) =>
        {
            Ok(None)
        }
        Some(e) => e
            .to_int::<u16>()
            .map(Some)
            .map_err(|err| attr(name, chain(&err))),
    }
}

fn int_attr(obj: &Obj, tag: dicom_object::Tag, name: &'static str) -> Result<u32, DicomError> {
    opt_int_attr(obj, tag, name)?
        .map(u32::from)
        .ok_or_else(|| attr(name, "missing".into()))
}

fn str_attr(obj: &Obj, tag: dicom_object::Tag) -> Result<Option<String>, DicomError> {
    Ok(element(obj, tag)?.and_then(|e| {
        e.to_str()
            .ok()
            .map(|s| s.trim_matches(|c: char| c == '\0' || c == ' ').to_string())
    }))
}

/// Formats an error and its sources on one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        let t = inner.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        src = inner.source();
    }
    s.replace(['\n', '\r'], " ")
}

fn inflate_capped(data: &[u8], cap: u64) -> Result<Vec<u8>, DicomError> {
    let mut out = Vec::new();
    flate2::read::DeflateDecoder::new(data)
        .take(cap.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| DicomError::Malformed(format!("deflated data set: {e}")))?;
    if out.len() as u64 > cap {
        return Err(DicomError::TooLarge(format!(
            "the deflated data set (inflates past {cap} bytes)"
        )));
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// Structural pre-scan.

#[derive(Clone, Copy)]
struct Encoding {
    explicit: bool,
    big_endian: bool,
}

impl Encoding {
    const IMPLICIT_LE: Encoding = Encoding {
        explicit: false,
        big_endian: false,
    };
    const EXPLICIT_LE: Encoding = Encoding {
        explicit: true,
        big_endian: false,
    };
    const EXPLICIT_BE: Encoding = Encoding {
        explicit: true,
        big_endian: true,
    };

    fn u16(self, b: &[u8]) -> u16 {
        if self.big_endian {
            u16::from_be_bytes([b[0], b[1]])
        } else {
            u16::from_le_bytes([b[0], b[1]])
        }
    }

    fn u32(self, b: &[u8]) -> u32 {
        if self.big_endian {
            u32::from_be_bytes([b[0], b[1], b[2], b[3]])
        } else {
            u32::from_le_bytes([b[0], b[1], b[2], b[3]])
        }
    }
}

fn long_form_vr(vr: [u8; 2]) -> bool {
    matches!(
        &vr,
        b"OB"
            | b"OD"
            | b"OF"
            | b"OL"
            | b"OV"
            | b"OW"
            | b"SQ"
            | b"UC"
            | b"UN"
            | b"UR"
            | b"UT"
            | b"SV"
            | b"UV"
    )
}

fn known_vr(vr: [u8; 2]) -> bool {
    long_form_vr(vr)
        || matches!(
            &vr,
            b"AE"
                | b"AS"
                | b"AT"
                | b"CS"
                | b"DA"
                | b"DS"
                | b"DT"
                | b"FL"
                | b"FD"
                | b"IS"
                | b"LO"
                | b"LT"
                | b"PN"
                | b"SH"
                | b"SL"
                | b"SS"
                | b"ST"
                | b"TM"
                | b"UI"
                | b"UL"
                | b"US"
        )
}

/// `((group, element), VR, value)` of a file meta element.
type MetaElement = ((u16, u16), [u8; 2], Vec<u8>);

struct Meta {
    /// Bytes of the meta group after `DICM`.
    len: usize,
    transfer_syntax: String,
    elements: Vec<MetaElement>,
}

/// Walks the file meta group (always explicit VR little endian).
fn scan_meta(b: &[u8]) -> Result<Meta, DicomError> {
    let mut pos = 0;
    let mut ts = None;
    let mut elements = Vec::new();
    while b.len() - pos >= 8 && u16::from_le_bytes([b[pos], b[pos + 1]]) == 2 {
        let elem = u16::from_le_bytes([b[pos + 2], b[pos + 3]]);
        let vr = [b[pos + 4], b[pos + 5]];
        if !known_vr(vr) {
            return Err(DicomError::Malformed(format!(
                "file meta element (0002,{elem:04X}) has an invalid VR"
            )));
        }
        let (len, header) = if long_form_vr(vr) {
            if b.len() - pos < 12 {
                return Err(DicomError::Malformed("truncated file meta group".into()));
            }
            (
                u32::from_le_bytes([b[pos + 8], b[pos + 9], b[pos + 10], b[pos + 11]]) as usize,
                12,
            )
        } else {
            (u16::from_le_bytes([b[pos + 6], b[pos + 7]]) as usize, 8)
        };
        if len > b.len() - pos - header {
            return Err(DicomError::Malformed(format!(
                "file meta element (0002,{elem:04X}) claims {len} bytes past the end of the file"
            )));
        }
        let value = &b[pos + header..pos + header + len];
        if elem == 0x10 {
            ts = Some(
                String::from_utf8_lossy(value)
                    .trim_end_matches(['\0', ' '])
                    .to_string(),
            );
        }
        elements.push(((2, elem), vr, value.to_vec()));
        pos += header + len;
    }
    let transfer_syntax = ts.ok_or_else(|| {
        attr(
            "TransferSyntaxUID",
            "missing from the file meta group".into(),
        )
    })?;
    Ok(Meta {
        len: pos,
        transfer_syntax,
        elements,
    })
}

#[derive(Clone, Copy, PartialEq)]
enum Frame {
    /// A sequence of items holding data sets.
    Sequence,
    /// An item holding a data set.
    Item,
    /// Encapsulated pixel data: items hold raw fragments.
    Fragments,
}

struct Open {
    kind: Frame,
    end: Option<usize>,
    enc: Encoding,
}

/// Checks that every declared length fits in the bytes present, and bounds
/// the nesting depth, before dicom-rs allocates anything.
fn scan_dataset(b: &[u8], root: Encoding) -> Result<(), DicomError> {
    let err = |pos: usize, what: &str| DicomError::Malformed(format!("{what} at byte {pos}"));
    let mut stack: Vec<Open> = Vec::new();
    let mut pos = 0usize;
    loop {
        while let Some(top) = stack.last() {
            match top.end {
                Some(end) if end == pos => {
                    stack.pop();
                }
                Some(end) if end < pos => return Err(err(pos, "element overruns its sequence")),
                _ => break,
            }
        }
        if pos == b.len() {
            return Ok(());
        }
        let bound = stack.iter().filter_map(|f| f.end).min().unwrap_or(b.len());
        let enc = stack.last().map_or(root, |f| f.enc);
        if bound - pos < 8 {
            // Trailing padding shorter than a header is ignored by parsers.
            if stack.is_empty() && b[pos..].iter().all(|&x| x == 0) {
                return Ok(());
            }
            return Err(err(pos, "truncated element header"));
        }
        let group = enc.u16(&b[pos..]);
        let elem = enc.u16(&b[pos + 2..]);
        if group == 0xFFFE {
            let len = enc.u32(&b[pos + 4..]);
            pos += 8;
            let parent = stack.last().map(|f| f.kind);
            match elem {
                0xE000 => match parent {
                    Some(Frame::Fragments) => {
                        if len == UNDEFINED || len as usize > bound - pos {
                            return Err(err(pos, "pixel data fragment past the end"));
                        }
                        pos += len as usize;
                    }
                    Some(Frame::Sequence) => {
                        let end = if len == UNDEFINED {
                            None
                        } else if len as usize > bound - pos {
                            return Err(err(pos, "item length past the end"));
                        } else {
                            Some(pos + len as usize)
                        };
                        stack.push(Open {
                            kind: Frame::Item,
                            end,
                            enc,
                        });
                    }
                    _ => return Err(err(pos, "item outside a sequence")),
                },
                0xE00D => match stack.last() {
                    Some(Open {
                        kind: Frame::Item,
                        end: None,
                        ..
                    }) => {
                        stack.pop();
                    }
                    _ => return Err(err(pos, "stray item delimiter")),
                },
                0xE0DD => match stack.last() {
                    Some(Open {
                        kind: Frame::Sequence | Frame::Fragments,
                        end: None,
                        ..
                    }) => {
                        stack.pop();
                    }
                    _ => return Err(err(pos, "stray sequence delimiter")),
                },
                _ => return Err(err(pos, "unknown item tag")),
            }
        } else {
            if matches!(
                stack.last().map(|f| f.kind),
                Some(Frame::Sequence | Frame::Fragments)
            ) {
                return Err(err(pos, "data element directly inside a sequence"));
            }
            let (len, vr, header) = if enc.explicit {
                let vr = [b[pos + 4], b[pos + 5]];
                if !known_vr(vr) {
                    return Err(err(pos, "invalid VR"));
                }
                if long_form_vr(vr) {
                    if bound - pos < 12 {
                        return Err(err(pos, "truncated element header"));
                    }
                    (enc.u32(&b[pos + 8..]), Some(vr), 12)
                } else {
                    (u32::from(enc.u16(&b[pos + 6..])), Some(vr), 8)
                }
            } else {
                (enc.u32(&b[pos + 4..]), None, 8)
            };
            pos += header;
            if len == UNDEFINED {
                let (kind, inner) = if (group, elem) == (0x7FE0, 0x0010) {
                    (Frame::Fragments, enc)
                } else if vr == Some(*b"UN") {
                    // An undefined-length UN is an implicit VR LE sequence.
                    (Frame::Sequence, Encoding::IMPLICIT_LE)
                } else if vr.is_none() || vr == Some(*b"SQ") {
                    (Frame::Sequence, enc)
                } else {
                    return Err(err(pos, "undefined length on a non-sequence element"));
                };
                stack.push(Open {
                    kind,
                    end: None,
                    enc: inner,
                });
            } else {
                let len = len as usize;
                if len > bound - pos {
                    return Err(DicomError::Malformed(format!(
                        "element ({group:04X},{elem:04X}) claims {len} bytes past the end of \
                         the data"
                    )));
                }
                let looks_like_items =
                    len >= 8 && enc.u16(&b[pos..]) == 0xFFFE && enc.u16(&b[pos + 2..]) == 0xE000;
                if vr == Some(*b"SQ") || (vr.is_none() && looks_like_items) {
                    stack.push(Open {
                        kind: Frame::Sequence,
                        end: Some(pos + len),
                        enc,
                    });
                } else {
                    pos += len;
                }
            }
        }
        if stack.len() > 2 * MAX_NESTING {
            return Err(err(pos, "sequences nested too deeply"));
        }
    }
}

/// Checks an RLE Lossless frame (PS3.5 G) before the codec sees it: a
/// 64-byte header with exactly `segments` ascending offsets inside the
/// fragment, and PackBits runs in each segment that yield at least `pixels`
/// bytes without running off the segment's end.
fn check_rle(fragment: &[u8], segments: usize, pixels: usize) -> Result<(), DicomError> {
    let bad = |what: String| DicomError::Malformed(format!("RLE frame: {what}"));
    if fragment.len() < 64 {
        return Err(bad("shorter than its 64-byte header".into()));
    }
    let word = |i: usize| {
        u32::from_le_bytes([
            fragment[4 * i],
            fragment[4 * i + 1],
            fragment[4 * i + 2],
            fragment[4 * i + 3],
        ]) as usize
    };
    let n = word(0);
    if n != segments {
        return Err(bad(format!("{n} segments, expected {segments}")));
    }
    let mut bounds: Vec<usize> = (1..=n).map(word).collect();
    bounds.push(fragment.len());
    if bounds[0] != 64 || bounds.windows(2).any(|w| w[0] > w[1]) {
        return Err(bad("segment offsets out of order or past the end".into()));
    }
    for (i, w) in bounds.windows(2).enumerate() {
        let seg = &fragment[w[0]..w[1]];
        let (mut pos, mut out) = (0usize, 0usize);
        while out < pixels {
            let Some(&h) = seg.get(pos) else {
                return Err(bad(format!(
                    "segment {i} decodes to {out} of {pixels} bytes"
                )));
            };
            pos += 1;
            match h {
                0..=127 => {
                    let run = usize::from(h) + 1;
                    if pos + run > seg.len() && out + (seg.len() - pos) < pixels {
                        return Err(bad(format!("segment {i} ends inside a literal run")));
                    }
                    pos += run;
                    out += run;
                }
                128 => {}
                _ => {
                    if pos >= seg.len() {
                        return Err(bad(format!("segment {i} ends inside a repeat run")));
                    }
                    pos += 1;
                    out += 257 - usize::from(h);
                }
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// JPEG frame headers and the standalone-JPEG wrapper.

/// The fields of a JPEG SOFn segment that bound decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct JpegFrame {
    width: u32,
    height: u32,
    components: u8,
    precision: u8,
}

/// Walks JPEG marker segments up to the first SOFn.
fn jpeg_frame_header(b: &[u8]) -> Result<JpegFrame, DicomError> {
    let bad = |what: &str| DicomError::Malformed(format!("JPEG stream: {what}"));
    if b.len() < 4 || b[0] != 0xFF || b[1] != 0xD8 {
        return Err(bad("no SOI marker"));
    }
    let mut pos = 2;
    loop {
        // Fill bytes (0xFF) may precede a marker.
        while pos < b.len() && b[pos] == 0xFF && b.get(pos + 1) == Some(&0xFF) {
            pos += 1;
        }
        if pos + 4 > b.len() || b[pos] != 0xFF {
            return Err(bad("no frame header before the end"));
        }
        let marker = b[pos + 1];
        let len = usize::from(u16::from_be_bytes([b[pos + 2], b[pos + 3]]));
        if len < 2 || pos + 2 + len > b.len() {
            return Err(bad("segment length past the end"));
        }
        let is_sof = matches!(marker, 0xC0..=0xCF) && !matches!(marker, 0xC4 | 0xC8 | 0xCC);
        if is_sof {
            if len < 8 {
                return Err(bad("short frame header"));
            }
            let s = &b[pos + 4..];
            let frame = JpegFrame {
                precision: s[0],
                height: u32::from(u16::from_be_bytes([s[1], s[2]])),
                width: u32::from(u16::from_be_bytes([s[3], s[4]])),
                components: s[5],
            };
            if frame.width == 0 || frame.height == 0 {
                return Err(bad("zero width or height (DNL not supported)"));
            }
            if !(2..=16).contains(&frame.precision) {
                return Err(bad("sample precision outside 2..=16"));
            }
            return Ok(frame);
        }
        if marker == 0xDA || marker == 0xD9 {
            return Err(bad("scan before the frame header"));
        }
        pos += 2 + len;
    }
}

fn put_element(out: &mut Vec<u8>, group: u16, elem: u16, vr: [u8; 2], value: &[u8]) {
    out.extend_from_slice(&group.to_le_bytes());
    out.extend_from_slice(&elem.to_le_bytes());
    out.extend_from_slice(&vr);
    if long_form_vr(vr) {
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&(value.len() as u32).to_le_bytes());
    } else {
        out.extend_from_slice(&(value.len() as u16).to_le_bytes());
    }
    out.extend_from_slice(value);
}

fn ui_value(uid: &str) -> Vec<u8> {
    let mut v = uid.as_bytes().to_vec();
    if v.len() % 2 == 1 {
        v.push(0);
    }
    v
}

fn wrap_jpeg(jpeg: &[u8], sof: &JpegFrame) -> Vec<u8> {
    let lossless = jpeg.windows(2).any(|w| w == [0xFF, 0xC3]);
    let ts = if lossless {
        "1.2.840.10008.1.2.4.70"
    } else if sof.precision > 8 {
        "1.2.840.10008.1.2.4.51"
    } else {
        "1.2.840.10008.1.2.4.50"
    };
    let mut group = Vec::new();
    put_element(&mut group, 2, 1, *b"OB", &[0, 1]);
    put_element(
        &mut group,
        2,
        2,
        *b"UI",
        &ui_value("1.2.840.10008.5.1.4.1.1.7"),
    );
    put_element(&mut group, 2, 3, *b"UI", &ui_value("2.25.1"));
    put_element(&mut group, 2, 0x10, *b"UI", &ui_value(ts));
    put_element(&mut group, 2, 0x12, *b"UI", &ui_value("2.25.2"));
    let mut out = b"DICM".to_vec();
    put_element(&mut out, 2, 0, *b"UL", &(group.len() as u32).to_le_bytes());
    out.extend_from_slice(&group);
    let bits_allocated: u16 = if sof.precision > 8 { 16 } else { 8 };
    let us = |v: u32| (v as u16).to_le_bytes();
    put_element(&mut out, 0x28, 0x02, *b"US", &us(1));
    put_element(&mut out, 0x28, 0x04, *b"CS", b"MONOCHROME2 ");
    put_element(&mut out, 0x28, 0x10, *b"US", &us(sof.height));
    put_element(&mut out, 0x28, 0x11, *b"US", &us(sof.width));
    put_element(&mut out, 0x28, 0x100, *b"US", &bits_allocated.to_le_bytes());
    put_element(&mut out, 0x28, 0x101, *b"US", &us(u32::from(sof.precision)));
    put_element(
        &mut out,
        0x28,
        0x102,
        *b"US",
        &us(u32::from(sof.precision) - 1),
    );
    put_element(&mut out, 0x28, 0x103, *b"US", &us(0));
    // Encapsulated pixel data: empty offset table, one fragment, delimiter.
    out.extend_from_slice(&[
        0xE0, 0x7F, 0x10, 0x00, b'O', b'B', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF,
    ]);
    out.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0, 0, 0, 0, 0]);
    let padded = jpeg.len() + jpeg.len() % 2;
    out.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0]);
    out.extend_from_slice(&(padded as u32).to_le_bytes());
    out.extend_from_slice(jpeg);
    if jpeg.len() % 2 == 1 {
        out.push(0);
    }
    out.extend_from_slice(&[0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_window_matches_the_standard() {
        let w = Window {
            center: 40.0,
            width: 400.0,
        };
        let out = apply_window(&[-1000.0, -160.0, 39.5, 240.0, 3000.0], w);
        assert_eq!(out[0], 0.0);
        assert!(out[1] < 0.01);
        assert!((out[2] - 0.5).abs() < 1e-6);
        assert!(out[3] > 0.99);
        assert_eq!(out[4], 1.0);
    }

    #[test]
    fn prescan_refuses_oversized_lengths_and_deep_nesting() {
        // (0010,0010) PN claiming 0xFFFF bytes in a 10-byte data set.
        let mut ds = Vec::new();
        ds.extend_from_slice(&[0x10, 0, 0x10, 0, b'P', b'N', 0xFF, 0xFF, b'a', b'b']);
        assert!(scan_dataset(&ds, Encoding::EXPLICIT_LE).is_err());
        // Implicit VR: a 4 GiB value.
        let ds = [0x10, 0, 0x10, 0, 0xFE, 0xFF, 0xFF, 0xFF];
        assert!(scan_dataset(&ds, Encoding::IMPLICIT_LE).is_err());
        // 100 nested undefined-length sequences.
        let mut ds = Vec::new();
        for _ in 0..100 {
            ds.extend_from_slice(&[
                0x08, 0, 0x15, 0x11, b'S', b'Q', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF,
            ]);
            ds.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0, 0xFF, 0xFF, 0xFF, 0xFF]);
        }
        let e = scan_dataset(&ds, Encoding::EXPLICIT_LE).unwrap_err();
        assert!(e.to_string().contains("nested"), "{e}");
    }

    #[test]
    fn jpeg_header_walk() {
        assert!(jpeg_frame_header(&[0xFF, 0xD8, 0xFF, 0xD9]).is_err());
        let sof = [
            0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x04, 0x00, 0x00, 0xFF, 0xC0, 0x00, 0x0B, 8, 0, 3, 0, 5,
            1, 1, 0x11, 0,
        ];
        let f = jpeg_frame_header(&sof).unwrap();
        assert_eq!((f.width, f.height, f.components, f.precision), (5, 3, 1, 8));
    }
}
