//! The `X-Dialogue-Signature` of a delivery: `sha256=<hex HMAC-SHA256 of the raw body, keyed
//! with the hook's secret>`, as `../shared/contracts/server.md` fixes it.

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The header's name.
pub const HEADER: &str = "X-Dialogue-Signature";

/// The signature of `body` under `secret`.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Whether `signature` (the header's value) is that of `body` under `secret`, compared in
/// constant time: what a receiver does.
pub fn verify(secret: &[u8], body: &[u8], signature: &str) -> bool {
    let Some(hex_digest) = signature.strip_prefix("sha256=") else { return false };
    let Ok(digest) = hex::decode(hex_digest) else { return false };
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(body);
    mac.verify_slice(&digest).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_matches_the_rfc_4231_test_vector() {
        // RFC 4231, test case 2.
        let signature = sign(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(signature, "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    }

    #[test]
    fn a_receiver_accepts_the_signature_and_nothing_else() {
        let body = br#"{"id":"d1","event":"dialogue.changed"}"#;
        let signature = sign(b"secret", body);
        assert!(verify(b"secret", body, &signature));
        assert!(!verify(b"other secret", body, &signature), "another key");
        assert!(!verify(b"secret", b"{}", &signature), "another body");
        assert!(!verify(b"secret", body, signature.trim_start_matches("sha256=")), "no scheme");
        assert!(!verify(b"secret", body, "sha256=zz"), "not hex");
    }
}
