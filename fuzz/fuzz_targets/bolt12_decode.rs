#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| lightning_fuzz::bolt12::decode(data));
