//! Any bytes: decoding never panics, and whatever decodes survives a round trip.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lsp_chord::wire::Message;

fuzz_target!(|data: &[u8]| {
    if let Ok(msg) = Message::decode(data) {
        let again = Message::decode(&msg.encode().expect("encode")).expect("re-encoding must decode");
        assert_eq!(again, msg);
    }
});
