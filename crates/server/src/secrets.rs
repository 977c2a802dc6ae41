//! Hashing of station passwords and API tokens.
//!
//! Both are high-entropy machine secrets (OCPP asks for 16+ character station passwords;
//! API tokens are 256 random bits), so a salted SHA-256 is enough and keeps the reconnect
//! storm after a restart cheap: a slow password hash would cost seconds of CPU per thousand
//! chargers re-admitted.

use rand::RngCore;
use sha2::{Digest, Sha256};

const PASSWORD_SCHEME: &str = "sha256";

/// Hashes a station password as `sha256$<salt hex>$<digest hex>`.
pub fn hash_station_password(password: &str) -> String {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let digest = salted_digest(&salt, password);
    format!(
        "{PASSWORD_SCHEME}${}${}",
        hex::encode(salt),
        hex::encode(digest)
    )
}

/// Checks `password` against a hash made by [`hash_station_password`].
pub fn verify_station_password(stored: &str, password: &str) -> bool {
    let mut parts = stored.split('$');
    let (Some(PASSWORD_SCHEME), Some(salt), Some(expected), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let (Ok(salt), Ok(expected)) = (hex::decode(salt), hex::decode(expected)) else {
        return false;
    };
    constant_time_eq(&salted_digest(&salt, password), &expected)
}

/// The stored form of an API token: its SHA-256, hex.
pub fn hash_api_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A new random API token (256 bits, hex), prefixed so that it is recognizable in leaks.
pub fn generate_api_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("zry_{}", hex::encode(bytes))
}

/// Compares in time independent of where the inputs differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn salted_digest(salt: &[u8], password: &str) -> Vec<u8> {
    let mut hasher = Sha256::new();
    hasher.update(salt);
    hasher.update(password.as_bytes());
    hasher.finalize().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_and_salts_differ() {
        let first = hash_station_password("correct horse battery");
        let second = hash_station_password("correct horse battery");
        assert_ne!(first, second);
        assert!(verify_station_password(&first, "correct horse battery"));
        assert!(!verify_station_password(&first, "correct horse batterY"));
        assert!(!verify_station_password(&first, ""));
        assert!(!verify_station_password("garbage", "x"));
        assert!(!verify_station_password("sha256$zz$zz", "x"));
    }

    #[test]
    fn api_tokens_hash_stably() {
        let token = generate_api_token();
        assert!(token.starts_with("zry_"));
        assert_eq!(hash_api_token(&token), hash_api_token(&token));
        assert_ne!(hash_api_token(&token), hash_api_token("other"));
        assert_eq!(hash_api_token("abc").len(), 64);
    }
}
