#![no_main]

use libfuzzer_sys::fuzz_target;
use tsdb::record;

// WAL records come from disk, possibly another server's or a damaged one.
fuzz_target!(|data: &[u8]| {
    let _ = record::decode_series(data, &mut Vec::new());
    let _ = record::decode_samples(data, &mut Vec::new());
    let _ = record::decode_tombstones(data, &mut Vec::new());
    let _ = record::decode_exemplars(data, &mut Vec::new());
    let _ = record::decode_metadata(data, &mut Vec::new());
    let _ = record::decode_mmap_markers(data, &mut Vec::new());
});
