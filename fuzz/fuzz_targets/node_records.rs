#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| lightning_fuzz::node_records::node_records(data));
