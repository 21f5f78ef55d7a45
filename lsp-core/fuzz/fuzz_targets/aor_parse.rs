//! Any text: parsing never panics, and a canonical form parses to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lsp_core::Aor;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(aor) = Aor::parse(&text) {
        let again = Aor::parse_canonical(aor.as_str()).expect("canonical form must re-parse");
        assert_eq!(again, aor);
    }
});
