//! Secrets (bearer tokens, HMAC keys, pager routing keys): read from the environment or a
//! file, never printed. `Debug` and `Display` show `[redacted]`, so a secret that ends up
//! in a log line or an error by mistake still does not leak.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::fmt;

/// A secret value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value, for the one place that must send or compare it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// `sha256=<hex>`: the HMAC-SHA256 of `body` under this secret, as signed webhooks carry
    /// it (warroom's own pages, and what alert senders put in their signature header).
    pub fn sign(&self, body: &[u8]) -> String {
        let mut mac = self.mac();
        mac.update(body);
        format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
    }

    /// Whether `signature` (raw bytes) is the HMAC-SHA256 of `body`, compared in constant time.
    pub fn verifies(&self, body: &[u8], signature: &[u8]) -> bool {
        let mut mac = self.mac();
        mac.update(body);
        mac.verify_slice(signature).is_ok()
    }

    fn mac(&self) -> Hmac<Sha256> {
        Hmac::<Sha256>::new_from_slice(self.0.as_bytes()).expect("HMAC takes keys of any length")
    }
}

/// Whether a presented token is the one whose SHA-256 the configuration holds (agents, the
/// HTTP console: the server keeps only the hash). Compared in constant time.
pub fn token_matches(token: &str, sha256: &[u8; 32]) -> bool {
    use sha2::Digest;
    let hash = Sha256::digest(token.as_bytes());
    bool::from(subtle::ConstantTimeEq::ct_eq(
        hash.as_slice(),
        sha256.as_slice(),
    ))
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?} {s}"), "[redacted] [redacted]");
        assert_eq!(s.expose(), "hunter2");
    }
}
