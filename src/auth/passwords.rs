//! Password hashing with Argon2id. Hashing is CPU-heavy, so it runs on the blocking pool and
//! never stalls the async workers.

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use secrecy::{ExposeSecret, SecretString};

use crate::error::ApiError;

/// Longest password accepted, to bound the cost of hashing attacker-chosen input.
pub const MAX_PASSWORD_LENGTH: usize = 1024;

/// A stand-in hash verified when no user matches, so that a wrong e-mail takes as long to refuse
/// as a wrong password.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$cPo84i4XhrUG3f5CxNWkvsYZzVSGqq8TywEfdfyQ7qY";

/// Hashes a password into an Argon2id PHC string.
pub async fn hash(password: SecretString) -> Result<String, ApiError> {
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .hash_password(password.expose_secret().as_bytes())
            .map(|hash| hash.to_string())
            .map_err(|e| ApiError::internal(anyhow::anyhow!("hashing a password failed: {e}")))
    })
    .await
    .map_err(ApiError::internal)?
}

/// Checks a password against a stored hash; `None` checks against a dummy hash and fails, in the
/// same time a real check takes.
pub async fn verify(password: SecretString, stored: Option<String>) -> Result<bool, ApiError> {
    tokio::task::spawn_blocking(move || {
        let known = stored.is_some();
        let stored = stored.unwrap_or_else(|| DUMMY_HASH.to_owned());
        let Ok(parsed) = PasswordHash::new(&stored) else {
            tracing::error!("a stored password hash does not parse");
            return false;
        };
        let matches = Argon2::default().verify_password(password.expose_secret().as_bytes(), &parsed).is_ok();
        known && matches
    })
    .await
    .map_err(ApiError::internal)
}

/// Refuses passwords that are too short or too long, as a `422` at `path`.
pub fn check_strength(password: &str, min_length: usize, path: &str) -> Result<(), ApiError> {
    let length = password.chars().count();
    if length < min_length {
        return Err(ApiError::invalid(
            "minLength",
            path,
            format!("The password must have at least {min_length} characters"),
        ));
    }
    if password.len() > MAX_PASSWORD_LENGTH {
        return Err(ApiError::invalid(
            "maxLength",
            path,
            format!("The password must have at most {MAX_PASSWORD_LENGTH} bytes"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hash_then_verify() {
        let hash = hash(SecretString::from("correct horse")).await.unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify(SecretString::from("correct horse"), Some(hash.clone())).await.unwrap());
        assert!(!verify(SecretString::from("wrong horse"), Some(hash)).await.unwrap());
    }

    #[tokio::test]
    async fn unknown_user_never_verifies() {
        assert!(!verify(SecretString::from("anything"), None).await.unwrap());
    }

    #[test]
    fn strength_limits() {
        assert!(check_strength("short", 8, "/password").is_err());
        assert!(check_strength("long enough", 8, "/password").is_ok());
        assert!(check_strength(&"x".repeat(MAX_PASSWORD_LENGTH + 1), 8, "/password").is_err());
    }
}
