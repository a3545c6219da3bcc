//! Secret JSON: validation by role, and what is written back (every key kept, in order,
//! with the new credentials).
#![no_main]

use db_secret_rotator::secret::{DbSecret, Password, SecretRole};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| db_secret_rotator::telemetry::scoped_sync(|| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for role in [
        SecretRole::Current,
        SecretRole::Pending,
        SecretRole::Previous,
        SecretRole::Master,
    ] {
        let Ok(secret) = DbSecret::parse(text, role) else {
            continue;
        };
        let next = secret.with_credentials("fuzz_user", Password::new("fuzz-password-1"));
        let back =
            DbSecret::parse(&next.to_secret_string(), role).expect("what is written back parses");
        assert_eq!(back.keys(), secret.keys());
        assert_eq!(back.username, "fuzz_user");
        assert_eq!(back.password.expose(), "fuzz-password-1");
        assert_eq!((back.port, back.ssl), (secret.port, secret.ssl));
    }
}));
