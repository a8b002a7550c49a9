//! Grayscale PNG decoding on arbitrary bytes: decode or refuse, never panic,
//! never allocate past the limits.
#![no_main]

use libfuzzer_sys::fuzz_target;
use medmetric_imaging::png_io::{PngLimits, decode_gray};

fuzz_target!(|data: &[u8]| {
    let limits = PngLimits {
        max_side: 1024,
        max_bytes: 4 << 20,
    };
    if let Ok(d) = decode_gray(data, &limits) {
        assert_eq!(d.image.data.len(), (d.image.width * d.image.height) as usize);
        assert!(d.image.data.iter().all(|v| (0.0..=1.0).contains(v)));
    }
});
