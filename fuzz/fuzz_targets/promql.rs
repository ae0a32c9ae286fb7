#![no_main]

use libfuzzer_sys::fuzz_target;

// Queries come from any API client. Whatever parses must print and
// prettify, and the printed form must parse again.
fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    if let Ok(e) = promql::parser::parse(s) {
        let printed = e.to_string();
        let _ = promql::parser::prettify(&e);
        assert!(promql::parser::parse(&printed).is_ok(), "printed form does not parse: {printed}");
    }
    let _ = promql::parser::parse_metric_selector(s);
});
