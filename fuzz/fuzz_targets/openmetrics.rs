#![no_main]

use libfuzzer_sys::fuzz_target;
use textparse::{Entry, OpenMetricsParser};

fuzz_target!(|data: &[u8]| {
    let mut p = OpenMetricsParser::new(data);
    while let Ok(Some(e)) = p.next() {
        if let Entry::Series { .. } = e {
            let _ = p.labels();
            let _ = p.exemplar();
        }
    }
});
