//! The server's request decoding on arbitrary requests (`cargo fuzz run request`).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| cheap_fuzz::request(data));
