//! The model gate on arbitrary bytes: it must answer (accept or refuse),
//! never panic, and stay within its time and memory bounds.
#![no_main]

use libfuzzer_sys::fuzz_target;
use medmetric_model::gate::{GateLimits, check_bytes};

fuzz_target!(|data: &[u8]| {
    let limits = GateLimits {
        // Keep each run cheap; the bound itself is tested elsewhere.
        max_decoded_bytes: 64 << 20,
        ..GateLimits::default()
    };
    if let Ok(report) = check_bytes(data, &limits) {
        assert!(report.outputs.mask || report.outputs.cls);
        assert_eq!(report.input.shape.len(), 4);
    }
});
