//! Any bytes: decoding never panics, and whatever decodes survives a round trip.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lsp_core::SignedRecord;

fuzz_target!(|data: &[u8]| {
    if let Ok(rec) = SignedRecord::from_bytes(data) {
        let _ = rec.verify();
        let again = SignedRecord::from_bytes(&rec.to_bytes().expect("encode")).expect("re-encoding must decode");
        assert_eq!(again, rec);
    }
});
