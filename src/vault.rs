//! Secrets encrypted at rest: AES-256-GCM under `DIALOGUE_SECRET_KEY`, with
//! `DIALOGUE_SECRET_KEY_PREVIOUS` accepted for decryption during a key rotation. Each sealed
//! value records which key sealed it (a fingerprint, never the key) and is bound to the record
//! it belongs to (associated data), so it cannot be copied onto another record.

use aes_gcm::aead::{Aead, Generate, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// A secret as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sealed {
    /// Fingerprint of the key that sealed it.
    pub key_id: String,
    /// The 96-bit nonce, base64.
    pub nonce: String,
    /// Ciphertext with its authentication tag, base64.
    pub ciphertext: String,
}

/// Why a secret could not be sealed or opened.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// No `DIALOGUE_SECRET_KEY` is configured.
    #[error("no secret key is configured (DIALOGUE_SECRET_KEY)")]
    NoKey,
    /// No configured key matches, or the data was tampered with.
    #[error("the secret cannot be decrypted with the configured keys")]
    Undecryptable,
}

struct Key {
    id: String,
    cipher: Aes256Gcm,
}

impl Key {
    fn parse(text: &SecretString, name: &str) -> anyhow::Result<Self> {
        let bytes = STANDARD
            .decode(text.expose_secret().trim())
            .map_err(|_| anyhow::anyhow!("{name} must be 32 bytes, base64-encoded"))?;
        if bytes.len() != 32 {
            anyhow::bail!("{name} must be 32 bytes, base64-encoded (it is {} bytes)", bytes.len());
        }
        let digest = Sha256::digest(&bytes);
        let id = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
        let cipher = Aes256Gcm::new_from_slice(&bytes).map_err(|_| anyhow::anyhow!("{name} is not a valid key"))?;
        Ok(Self { id, cipher })
    }
}

/// The configured keys.
pub struct Vault {
    current: Option<Key>,
    previous: Option<Key>,
}

impl Vault {
    /// Loads the keys; a malformed key stops start-up.
    pub fn new(current: Option<&SecretString>, previous: Option<&SecretString>) -> anyhow::Result<Self> {
        Ok(Self {
            current: current.map(|key| Key::parse(key, "DIALOGUE_SECRET_KEY")).transpose()?,
            previous: previous.map(|key| Key::parse(key, "DIALOGUE_SECRET_KEY_PREVIOUS")).transpose()?,
        })
    }

    /// Whether secrets can be stored.
    pub fn can_seal(&self) -> bool {
        self.current.is_some()
    }

    /// Encrypts a JSON value for the record `owner`.
    pub fn seal(&self, value: &Value, owner: &str) -> Result<Sealed, VaultError> {
        let key = self.current.as_ref().ok_or(VaultError::NoKey)?;
        let nonce = Nonce::generate();
        let plaintext = serde_json::to_vec(value).map_err(|_| VaultError::Undecryptable)?;
        let ciphertext = key
            .cipher
            .encrypt(&nonce, Payload { msg: &plaintext, aad: owner.as_bytes() })
            .map_err(|_| VaultError::Undecryptable)?;
        Ok(Sealed { key_id: key.id.clone(), nonce: STANDARD.encode(nonce), ciphertext: STANDARD.encode(ciphertext) })
    }

    /// Decrypts a sealed value of the record `owner`, with whichever configured key sealed it.
    pub fn open(&self, sealed: &Sealed, owner: &str) -> Result<Value, VaultError> {
        let key = [self.current.as_ref(), self.previous.as_ref()]
            .into_iter()
            .flatten()
            .find(|key| key.id == sealed.key_id)
            .ok_or(VaultError::Undecryptable)?;
        let nonce_bytes = STANDARD.decode(&sealed.nonce).map_err(|_| VaultError::Undecryptable)?;
        let nonce = Nonce::try_from(nonce_bytes.as_slice()).map_err(|_| VaultError::Undecryptable)?;
        let ciphertext = STANDARD.decode(&sealed.ciphertext).map_err(|_| VaultError::Undecryptable)?;
        let plaintext = key
            .cipher
            .decrypt(&nonce, Payload { msg: &ciphertext, aad: owner.as_bytes() })
            .map_err(|_| VaultError::Undecryptable)?;
        serde_json::from_slice(&plaintext).map_err(|_| VaultError::Undecryptable)
    }

    /// The fingerprint of the current key, which new seals carry.
    pub fn current_key_id(&self) -> Option<&str> {
        self.current.as_ref().map(|key| key.id.as_str())
    }

    /// Whether a sealed value should be re-encrypted with the current key (it was sealed with
    /// the previous one).
    pub fn is_stale(&self, sealed: &Sealed) -> bool {
        self.current.as_ref().is_some_and(|key| key.id != sealed.key_id)
    }

    /// Re-encrypts a value sealed with the previous key under the current one.
    pub fn reseal(&self, sealed: &Sealed, owner: &str) -> Result<Sealed, VaultError> {
        let value = self.open(sealed, owner)?;
        self.seal(&value, owner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key(byte: u8) -> SecretString {
        SecretString::from(STANDARD.encode([byte; 32]))
    }

    #[test]
    fn seal_open_and_rotate() {
        let old = Vault::new(Some(&key(1)), None).unwrap();
        let secret = json!({ "api_key": "s3cr3t" });
        let sealed = old.seal(&secret, "channel-1").unwrap();
        assert!(!sealed.ciphertext.contains("s3cr3t"));
        assert_eq!(old.open(&sealed, "channel-1").unwrap(), secret);
        assert!(old.open(&sealed, "channel-2").is_err(), "bound to its record");

        let rotated = Vault::new(Some(&key(2)), Some(&key(1))).unwrap();
        assert!(rotated.is_stale(&sealed));
        let resealed = rotated.reseal(&sealed, "channel-1").unwrap();
        assert!(!rotated.is_stale(&resealed));
        let new_only = Vault::new(Some(&key(2)), None).unwrap();
        assert_eq!(new_only.open(&resealed, "channel-1").unwrap(), secret);
        assert!(new_only.open(&sealed, "channel-1").is_err());
    }

    #[test]
    fn keys_are_checked() {
        assert!(Vault::new(Some(&SecretString::from("short")), None).is_err());
        assert!(Vault::new(Some(&SecretString::from(STANDARD.encode([0u8; 16]))), None).is_err());
        let none = Vault::new(None, None).unwrap();
        assert!(matches!(none.seal(&json!({}), "x"), Err(VaultError::NoKey)));
    }
}
