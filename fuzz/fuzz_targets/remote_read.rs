#![no_main]

use libfuzzer_sys::fuzz_target;

// A remote-read body is whatever a client sends: snappy, then protobuf.
fuzz_target!(|data: &[u8]| {
    let _ = remote::read::decode(data);
});
