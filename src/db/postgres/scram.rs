//! SCRAM-SHA-256 verifiers in PostgreSQL's format (RFC 5802, RFC 7677), computed here so the
//! plaintext never reaches SQL text.
//!
//! postgres-protocol has the same function, but its Hi() keys a new HMAC for every one of the
//! 4,096 rounds (four SHA-256 compressions a round). RustCrypto's `pbkdf2` keys once and
//! clones the keyed state (two a round), which halves the cost of the one derivation a
//! password change needs.

use crate::failure::Failure;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

/// PostgreSQL's default iteration count (`scram_iterations`) and salt length.
const ITERATIONS: u32 = 4096;
const SALT_LEN: usize = 16;

/// Hi() of RFC 5802: PBKDF2-HMAC-SHA-256 with one output block.
pub fn salted_password(password: &[u8], salt: &[u8], iterations: u32) -> [u8; 32] {
    let mut hi = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut hi);
    hi
}

/// The verifier PostgreSQL stores for `password` (`SCRAM-SHA-256$4096:salt$StoredKey:ServerKey`),
/// with a fresh random salt.
pub fn verifier(password: &str) -> Result<String, Failure> {
    let mut salt = [0u8; SALT_LEN];
    getrandom::fill(&mut salt)
        .map_err(|e| Failure::internal("drawing a salt for the SCRAM verifier", &e))?;
    Ok(verifier_with(password, &salt, ITERATIONS))
}

fn verifier_with(password: &str, salt: &[u8], iterations: u32) -> String {
    // As PostgreSQL and libpq do: SASLprep when the password allows it, the bytes otherwise.
    let prepared = match stringprep::saslprep(password) {
        Ok(p) => p.into_owned().into_bytes(),
        Err(_) => password.as_bytes().to_vec(),
    };
    let salted = salted_password(&prepared, salt, iterations);
    let keyed = Hmac::<Sha256>::new_from_slice(&salted).expect("HMAC takes keys of any length");
    let mut mac = keyed.clone();
    mac.update(b"Client Key");
    let stored_key = Sha256::digest(mac.finalize().into_bytes());
    let mut mac = keyed;
    mac.update(b"Server Key");
    let server_key = mac.finalize().into_bytes();
    format!(
        "SCRAM-SHA-256${iterations}:{}${}:{}",
        STANDARD.encode(salt),
        STANDARD.encode(stored_key),
        STANDARD.encode(server_key)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn pbkdf2_hmac_sha256_test_vectors() {
        // RFC 7914, section 11 (P = "password", S = "salt"), c = 1 and c = 2.
        assert_eq!(
            hex(&salted_password(b"password", b"salt", 1)),
            "120fb6cffcf8b32c43e7225256c4f837a86548c92ccc35480805987cb70be17b"
        );
        assert_eq!(
            hex(&salted_password(b"password", b"salt", 2)),
            "ae4d0c95af6b46d32d0adff928f06dd02a303f8ef3c251dfd6e2d85a95474c43"
        );
    }

    #[test]
    fn verifier_matches_an_independent_computation() {
        // Python: hashlib.pbkdf2_hmac, hmac and hashlib.sha256 over the same inputs.
        let salt: Vec<u8> = (0u8..16).collect();
        assert_eq!(
            verifier_with("correct horse battery staple", &salt, 4096),
            "SCRAM-SHA-256$4096:AAECAwQFBgcICQoLDA0ODw==$ONYbSJBXtKl6bP6PVqw8pm9e7EiacprLnoUQPFS80Hw=:IPOtHuGJ2HifEQg74W2XXqqCrCyQG55GbPRHa6g6n9w="
        );
    }

    #[test]
    fn fresh_salt_every_time() {
        let a = verifier("pw").unwrap();
        let b = verifier("pw").unwrap();
        assert!(a.starts_with("SCRAM-SHA-256$4096:"));
        assert_ne!(a, b);
    }
}
