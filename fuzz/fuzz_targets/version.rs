//! Server version strings (`SELECT VERSION()`, the handshake).
#![no_main]

use db_secret_rotator::db::mysql::version::parse_version;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(v) = parse_version(text) {
        // Deterministic: the same text reads the same.
        assert_eq!(parse_version(text), Some(v));
    }
});
