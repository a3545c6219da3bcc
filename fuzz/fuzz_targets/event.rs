//! Lambda events: rotation steps and diagnose requests, from any JSON.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| db_secret_rotator::telemetry::scoped_sync(|| {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let _ = db_secret_rotator::event::parse(&value);
}));
