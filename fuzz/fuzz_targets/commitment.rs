//! Commitment and CID parsing on arbitrary bytes: never a panic, and
//! whatever is accepted prints back to exactly the bytes that were parsed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use medmetric_store::cid;
use medmetric_store::commitment::{Commitment, MAX_FIELD0_BYTES};

fuzz_target!(|data: &[u8]| {
    // First byte: how much of the rest is field 0; the remainder is field 1.
    let (split, rest) = match data.split_first() {
        Some((&s, rest)) => (usize::from(s).min(rest.len()), rest),
        None => (0, data),
    };
    let (field0, field1) = rest.split_at(split);
    match Commitment::parse(field0, field1) {
        Ok(c) => {
            let (raw, binding) = c.fields();
            assert_eq!(raw, field0);
            assert_eq!(&binding[..], field1);
            assert!(raw.len() <= MAX_FIELD0_BYTES);
            assert_eq!(Commitment::parse(&raw, &binding), Ok(c));
        }
        Err(e) => {
            let line = e.to_string();
            assert!(!line.contains('\n') && !e.kind().is_empty());
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(parsed) = cid::parse(text) {
            assert_eq!(parsed.to_string(), text);
            assert_eq!(cid::parse(&parsed.to_string()), Ok(parsed));
        }
    }
});
