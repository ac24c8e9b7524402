#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| lightning_fuzz::onion::peel(data));
