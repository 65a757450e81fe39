//! Random bearer secrets (tokens, reset codes, invite codes) and the hashes they are stored as.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};

/// Bytes of randomness in every secret: 256 bits, twice the contract's minimum.
const SECRET_BYTES: usize = 32;

/// A fresh random secret, URL-safe.
pub fn generate() -> String {
    let mut bytes = [0u8; SECRET_BYTES];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The hex SHA-256 of a secret: what the store keeps instead of the secret. A fast hash is right
/// here because the secrets are random and long, unlike passwords.
pub fn digest(secret: &str) -> String {
    let hash = Sha256::digest(secret.as_bytes());
    hash.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// The CSRF token of a browser session: derived from the session's secret (HMAC-SHA256), so a
/// page reloaded under the same cookie can ask for it again (`GET /auth/sessions/current`) and no
/// one without the cookie can compute it. Only its digest is stored.
pub fn csrf_for(session_secret: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(session_secret.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(b"dialogue-server session csrf v1");
    URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_long_and_distinct() {
        let a = generate();
        let b = generate();
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
    }

    #[test]
    fn a_session_csrf_token_is_stable_per_secret_and_differs_between_secrets() {
        assert_eq!(csrf_for("a"), csrf_for("a"));
        assert_ne!(csrf_for("a"), csrf_for("b"));
        assert_ne!(csrf_for("a"), "a");
        assert_eq!(csrf_for("a").len(), 43);
    }

    #[test]
    fn digest_is_stable_hex() {
        assert_eq!(digest("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
