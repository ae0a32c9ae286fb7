#![no_main]

use libfuzzer_sys::fuzz_target;

// Rule files come from users: YAML, then rule validation (PromQL included).
fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = rules::rulefmt::parse(text, model::ValidationScheme::Utf8);
    }
});
