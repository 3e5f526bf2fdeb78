//! The cheap-json reader on arbitrary bytes (`cargo fuzz run json`).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| cheap_fuzz::json(data));
