#![no_main]

use libfuzzer_sys::fuzz_target;
use textparse::{Entry, PromParser};

fuzz_target!(|data: &[u8]| {
    let mut p = PromParser::new(data);
    while let Ok(Some(e)) = p.next() {
        if let Entry::Series { .. } = e {
            let _ = p.labels();
        }
    }
});
