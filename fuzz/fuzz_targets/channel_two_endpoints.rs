#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| lightning_fuzz::channel::channel_two_endpoints(data));
