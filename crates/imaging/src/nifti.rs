//! NIfTI-1 volumes (`.nii`, `.nii.gz`) in, axial slices out: the one NIfTI
//! preprocessing function that the validator, `eval` and `infer` share.
//!
//! [`decode_volume`] reads a single-file NIfTI-1 volume (`n+1` magic, either
//! byte order, optionally gzip-compressed) with bounded memory:
//!
//! - the 348-byte header is parsed by the `nifti` crate, then checked here
//!   before any voxel is read: `dim[0]` in `1..=7`, every used dimension in
//!   `1..=32767` (NIfTI stores them as signed 16-bit, so a larger value is a
//!   negative dimension), in-plane sides within [`ReadLimits::max_side`], and
//!   the first volume's byte size within [`ReadLimits::max_decoded_bytes`];
//! - gzip streams are inflated only up to the bytes that volume needs, so a
//!   decompression bomb stops at the cap;
//! - of 4-D and higher data only the first volume (`t = 0`) is read;
//! - voxel values are converted to `f32` and scaled by `scl_slope`/`scl_inter`
//!   when the slope is non-zero and finite.
//!
//! A slice is the plane `k` of the third array axis; for axially acquired
//! volumes such as BraTS this is an axial slice. It is shown in radiological
//! convention when the header has an orientation (sform, else qform): the
//! image's top row is the most anterior voxel row and its left column the
//! patient's right. Without one, the array is shown as stored (`x = i`,
//! `y = j`).
//!
//! Images are normalised per slice with the shared min-max stretch
//! ([`crate::pool::normalise_min_max`]: `(v − min) / (max − min)`, a constant
//! slice gives zeros, non-finite voxels count as the minimum). Label volumes
//! become masks with `nonzero = lesion`.
//!
//! ```
//! use medmetric_imaging::nifti::{self, NiftiError};
//! use medmetric_imaging::pool::ReadLimits;
//!
//! let err = nifti::decode_volume(&[0u8; 10], &ReadLimits::default()).unwrap_err();
//! assert!(matches!(err, NiftiError::Malformed(_)));
//! ```

use std::io::Read;

use nifti::{DataElement, Endianness, NiftiHeader, NiftiType};

use crate::pool::{ReadLimits, normalise_min_max};
use crate::{GrayImage, Mask};

const HEADER_BYTES: usize = 348;

/// Why NIfTI bytes could not be turned into a volume. One line each; the
/// caller adds the path.
#[derive(Debug, thiserror::Error)]
pub enum NiftiError {
    /// Not a readable NIfTI-1 single-file volume.
    #[error("malformed NIfTI: {0}")]
    Malformed(String),
    /// A valid file MedMetric does not read (NIfTI-2, RGB, complex, ...).
    #[error("unsupported NIfTI: {0}")]
    Unsupported(String),
    /// Declared sizes beyond the limits.
    #[error("{0} exceeds the read limits")]
    TooLarge(String),
    /// A slice index outside the volume.
    #[error("slice {index} is outside the volume's {count} slices")]
    SliceOutOfRange {
        /// Requested slice.
        index: u32,
        /// Slices in the volume.
        count: u32,
    },
}

/// The first 3-D volume of a NIfTI file, values as `f32` after
/// `scl_slope`/`scl_inter`, in the file's column-major order.
#[derive(Debug, Clone, PartialEq)]
pub struct Volume {
    /// Size along the first axis (image columns).
    pub nx: u32,
    /// Size along the second axis (image rows).
    pub ny: u32,
    /// Number of slices along the third axis.
    pub nz: u32,
    /// `nx · ny · nz` values, index `i + nx·(j + ny·k)`.
    pub data: Vec<f32>,
    /// Mirror columns when displaying (see the module docs).
    pub flip_x: bool,
    /// Mirror rows when displaying (see the module docs).
    pub flip_y: bool,
}

impl Volume {
    /// The middle slice, `nz / 2`: the default when a manifest names none.
    pub fn middle_slice(&self) -> u32 {
        self.nz / 2
    }

    /// Slice `k` as raw values, row-major `nx × ny`, display-oriented.
    pub fn slice_values(&self, k: u32) -> Result<Vec<f32>, NiftiError> {
        if k >= self.nz {
            return Err(NiftiError::SliceOutOfRange {
                index: k,
                count: self.nz,
            });
        }
        let (nx, ny) = (self.nx as usize, self.ny as usize);
        let base = nx * ny * k as usize;
        let mut out = Vec::with_capacity(nx * ny);
        for y in 0..ny {
            let j = if self.flip_y { ny - 1 - y } else { y };
            for x in 0..nx {
                let i = if self.flip_x { nx - 1 - x } else { x };
                out.push(self.data[base + j * nx + i]);
            }
        }
        Ok(out)
    }

    /// Slice `k` normalised to `[0, 1]` by the min-max stretch.
    pub fn slice_image(&self, k: u32) -> Result<GrayImage, NiftiError> {
        let values = self.slice_values(k)?;
        Ok(GrayImage {
            width: self.nx,
            height: self.ny,
            data: normalise_min_max(&values),
        })
    }

    /// Slice `k` of a label volume as a mask: nonzero = lesion.
    pub fn slice_mask(&self, k: u32) -> Result<Mask, NiftiError> {
        let values = self.slice_values(k)?;
        Ok(Mask {
            width: self.nx,
            height: self.ny,
            data: values.iter().map(|&v| u8::from(v != 0.0)).collect(),
        })
    }

    /// Nonzero voxels in each slice (a label volume's lesion area per slice,
    /// or an image's foreground area).
    pub fn nonzero_per_slice(&self) -> Vec<u64> {
        let plane = self.nx as usize * self.ny as usize;
        self.data
            .chunks(plane.max(1))
            .map(|s| s.iter().filter(|&&v| v != 0.0).count() as u64)
            .collect()
    }
}

/// Decodes the first volume of a `.nii` or `.nii.gz` file held in memory.
pub fn decode_volume(bytes: &[u8], limits: &ReadLimits) -> Result<Volume, NiftiError> {
    if bytes.len() as u64 > limits.max_file_bytes {
        return Err(NiftiError::TooLarge(format!("a {}-byte file", bytes.len())));
    }
    if bytes.starts_with(&[0x1F, 0x8B]) {
        let cap = limits
            .max_decoded_bytes
            .saturating_add(HEADER_BYTES as u64 + MAX_EXTENSION_BYTES);
        decode_stream(flate2::read::MultiGzDecoder::new(bytes), limits, cap)
    } else {
        decode_stream(bytes, limits, u64::MAX)
    }
}

/// Largest gap between the header and the voxels (NIfTI extensions).
const MAX_EXTENSION_BYTES: u64 = 16 << 20;

fn decode_stream<R: Read>(mut src: R, limits: &ReadLimits, cap: u64) -> Result<Volume, NiftiError> {
    let malformed = |what: String| NiftiError::Malformed(what);
    let mut head = [0u8; HEADER_BYTES];
    read_full(&mut src, &mut head).map_err(|e| malformed(format!("header: {e}")))?;
    let sizeof = i32::from_le_bytes([head[0], head[1], head[2], head[3]]);
    if sizeof == 540 || sizeof.swap_bytes() == 540 {
        return Err(NiftiError::Unsupported("NIfTI-2 header".into()));
    }
    if sizeof != 348 && sizeof.swap_bytes() != 348 {
        return Err(malformed("header size is not 348".into()));
    }
    let header = NiftiHeader::from_reader(&head[..]).map_err(|e| malformed(e.to_string()))?;
    if &header.magic != b"n+1\0" {
        return Err(NiftiError::Unsupported(
            "not a single-file volume (magic is not n+1; .hdr/.img pairs are not read)".into(),
        ));
    }
    let rank = usize::from(header.dim[0]);
    if !(1..=7).contains(&rank) {
        return Err(malformed(format!("dim[0] = {rank}")));
    }
    for (axis, &d) in header.dim[1..=rank].iter().enumerate() {
        if d == 0 || d > i16::MAX as u16 {
            return Err(malformed(format!(
                "dimension {} is {} (must be 1..=32767)",
                axis + 1,
                d as i16
            )));
        }
    }
    let dim = |a: usize| {
        if a <= rank {
            u32::from(header.dim[a])
        } else {
            1
        }
    };
    let (nx, ny, nz) = (dim(1), dim(2), dim(3));
    if nx > limits.max_side || ny > limits.max_side {
        return Err(NiftiError::TooLarge(format!(
            "slice {nx}x{ny} (side limit {})",
            limits.max_side
        )));
    }
    let datatype = header
        .data_type()
        .map_err(|_| malformed(format!("datatype code {}", header.datatype)))?;
    let bytes_per_voxel = match datatype {
        NiftiType::Uint8
        | NiftiType::Int8
        | NiftiType::Int16
        | NiftiType::Uint16
        | NiftiType::Int32
        | NiftiType::Uint32
        | NiftiType::Float32
        | NiftiType::Int64
        | NiftiType::Uint64
        | NiftiType::Float64 => datatype.size_of() as u64,
        other => {
            return Err(NiftiError::Unsupported(format!(
                "datatype {other:?} (only scalar integers and floats)"
            )));
        }
    };
    let voxels = u64::from(nx) * u64::from(ny) * u64::from(nz);
    let nbytes = voxels * bytes_per_voxel;
    if nbytes > limits.max_decoded_bytes {
        return Err(NiftiError::TooLarge(format!(
            "a {nx}x{ny}x{nz} volume ({nbytes} bytes)"
        )));
    }
    let offset = header.vox_offset;
    if !offset.is_finite() || offset < HEADER_BYTES as f32 || offset.fract() != 0.0 {
        return Err(malformed(format!("vox_offset {offset}")));
    }
    let skip = offset as u64 - HEADER_BYTES as u64;
    if skip > MAX_EXTENSION_BYTES || HEADER_BYTES as u64 + skip + nbytes > cap {
        return Err(NiftiError::TooLarge(format!("vox_offset {offset}")));
    }
    std::io::copy(&mut (&mut src).take(skip), &mut std::io::sink())
        .map_err(|e| malformed(format!("extensions: {e}")))?;
    let mut raw = Vec::new();
    (&mut src)
        .take(nbytes)
        .read_to_end(&mut raw)
        .map_err(|e| malformed(format!("voxel data: {e}")))?;
    if raw.len() as u64 != nbytes {
        return Err(malformed(format!(
            "voxel data truncated ({} of {nbytes} bytes)",
            raw.len()
        )));
    }
    let mut data = to_f32(raw, header.endianness, datatype)?;
    let (slope, inter) = (header.scl_slope, header.scl_inter);
    if slope != 0.0 && slope.is_finite() && inter.is_finite() && (slope != 1.0 || inter != 0.0) {
        for v in &mut data {
            *v = *v * slope + inter;
        }
    }
    let (flip_x, flip_y) = display_flips(&header);
    Ok(Volume {
        nx,
        ny,
        nz,
        data,
        flip_x,
        flip_y,
    })
}

fn read_full<R: Read>(src: &mut R, buf: &mut [u8]) -> std::io::Result<()> {
    let mut done = 0;
    while done < buf.len() {
        match src.read(&mut buf[done..])? {
            0 => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "truncated",
                ));
            }
            n => done += n,
        }
    }
    Ok(())
}

fn to_f32(raw: Vec<u8>, e: Endianness, t: NiftiType) -> Result<Vec<f32>, NiftiError> {
    fn conv<T: DataElement + Copy>(
        raw: Vec<u8>,
        e: Endianness,
        t: NiftiType,
        f: impl Fn(T) -> f32,
    ) -> Result<Vec<f32>, NiftiError> {
        T::from_raw_vec_validated(raw, e, t)
            .map(|v| v.into_iter().map(f).collect())
            .map_err(|err| NiftiError::Malformed(err.to_string()))
    }
    match t {
        NiftiType::Uint8 => conv(raw, e, t, |v: u8| f32::from(v)),
        NiftiType::Int8 => conv(raw, e, t, |v: i8| f32::from(v)),
        NiftiType::Int16 => conv(raw, e, t, |v: i16| f32::from(v)),
        NiftiType::Uint16 => conv(raw, e, t, |v: u16| f32::from(v)),
        NiftiType::Int32 => conv(raw, e, t, |v: i32| v as f32),
        NiftiType::Uint32 => conv(raw, e, t, |v: u32| v as f32),
        NiftiType::Int64 => conv(raw, e, t, |v: i64| v as f32),
        NiftiType::Uint64 => conv(raw, e, t, |v: u64| v as f32),
        NiftiType::Float32 => conv(raw, e, t, |v: f32| v),
        NiftiType::Float64 => conv(raw, e, t, |v: f64| v as f32),
        other => Err(NiftiError::Unsupported(format!("datatype {other:?}"))),
    }
}

/// Radiological display: column 0 = patient right (largest RAS x), row 0 =
/// anterior (largest RAS y). Decided from the diagonal of the sform (or the
/// qform rotation) in RAS space.
fn display_flips(h: &NiftiHeader) -> (bool, bool) {
    let (xi, yj) = if h.sform_code > 0 {
        (h.srow_x[0], h.srow_y[1])
    } else if h.qform_code > 0 {
        let (b, c, d) = (
            f64::from(h.quatern_b),
            f64::from(h.quatern_c),
            f64::from(h.quatern_d),
        );
        let a = (1.0 - (b * b + c * c + d * d)).max(0.0).sqrt();
        (
            (a * a + b * b - c * c - d * d) as f32,
            (a * a + c * c - b * b - d * d) as f32,
        )
    } else {
        return (false, false);
    };
    // RAS: +x is the patient's right, +y anterior. Column 0 must be the
    // largest x and row 0 the largest y, so an axis running toward + is
    // mirrored.
    (xi > 0.0, yj > 0.0)
}

/// The preprocessing used for NIfTI images in pools: slice `slice` (or the
/// middle one) of the first volume, min-max normalised.
pub fn decode_slice(
    bytes: &[u8],
    slice: Option<u32>,
    limits: &ReadLimits,
) -> Result<GrayImage, NiftiError> {
    let vol = decode_volume(bytes, limits)?;
    vol.slice_image(slice.unwrap_or_else(|| vol.middle_slice()))
}

/// Slice `slice` (or the middle one) of a label volume as a mask.
pub fn decode_label_slice(
    bytes: &[u8],
    slice: Option<u32>,
    limits: &ReadLimits,
) -> Result<Mask, NiftiError> {
    let vol = decode_volume(bytes, limits)?;
    vol.slice_mask(slice.unwrap_or_else(|| vol.middle_slice()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal little-endian NIfTI-1 header.
    pub(crate) fn header(dims: &[i16], datatype: i16, bitpix: i16) -> Vec<u8> {
        let mut h = vec![0u8; 352];
        h[0..4].copy_from_slice(&348i32.to_le_bytes());
        h[40..42].copy_from_slice(&(dims.len() as i16).to_le_bytes());
        for (i, d) in dims.iter().enumerate() {
            h[42 + 2 * i..44 + 2 * i].copy_from_slice(&d.to_le_bytes());
        }
        h[70..72].copy_from_slice(&datatype.to_le_bytes());
        h[72..74].copy_from_slice(&bitpix.to_le_bytes());
        h[76..80].copy_from_slice(&1f32.to_le_bytes());
        h[108..112].copy_from_slice(&352f32.to_le_bytes());
        h[344..348].copy_from_slice(b"n+1\0");
        h
    }

    #[test]
    fn reads_uint8_volume_and_slices() {
        let mut f = header(&[3, 2, 4], 2, 8);
        f.extend((0..24u8).collect::<Vec<_>>());
        let v = decode_volume(&f, &ReadLimits::default()).unwrap();
        assert_eq!((v.nx, v.ny, v.nz), (3, 2, 4));
        assert_eq!(v.slice_values(1).unwrap(), vec![6., 7., 8., 9., 10., 11.]);
        let img = v.slice_image(1).unwrap();
        assert_eq!(img.data[0], 0.0);
        assert_eq!(img.data[5], 1.0);
        assert!(matches!(
            v.slice_values(4),
            Err(NiftiError::SliceOutOfRange { .. })
        ));
    }

    #[test]
    fn absurd_dims_are_refused_before_reading() {
        let f = header(&[32767, 32767, 32767], 16, 32);
        assert!(matches!(
            decode_volume(&f, &ReadLimits::default()),
            Err(NiftiError::TooLarge(_))
        ));
        let f = header(&[-4, 2, 2], 2, 8);
        let e = decode_volume(&f, &ReadLimits::default()).unwrap_err();
        assert!(e.to_string().contains("-4"), "{e}");
    }
}
