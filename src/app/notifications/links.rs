//! Acknowledgement links: a token naming one notification (the incident, the page, the rule
//! and the method) and when it stops working, signed with the `[notifications]` secret. Short
//! enough for an SMS: 23 bytes of claim and a 16-byte HMAC-SHA256 tag, base64url, 52
//! characters. A link works once: the acknowledgement it makes ends the page it names.

use crate::domain::reach::Method;
use crate::domain::types::IncidentNumber;
use crate::secret::Secret;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

const VERSION: u8 = 1;
const CLAIM_LEN: usize = 23;
const TAG_LEN: usize = 16;

/// What a link claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckClaim {
    pub incident: IncidentNumber,
    /// The first 8 bytes of the SHA-256 of the page's dedup key: names the page without
    /// spelling it out.
    pub page: [u8; 8],
    pub rule: u32,
    pub method: Method,
    pub expires: DateTime<Utc>,
}

/// Why a link does not work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("this link is not a warroom acknowledgement link, or it was cut short; open it exactly as it came, or acknowledge with /ack in the incident's channel")]
    Malformed,
    #[error("this link was not made by this warroom (its signature does not match); acknowledge with /ack in the incident's channel")]
    Forged,
    #[error("this link expired at {0} UTC; acknowledge with /ack in the incident's channel")]
    Expired(String),
}

/// The page part of a claim, from the page's dedup key.
pub fn page_digest(dedup_key: &str) -> [u8; 8] {
    let hash = Sha256::digest(dedup_key.as_bytes());
    let mut out = [0u8; 8];
    out.copy_from_slice(&hash[..8]);
    out
}

fn method_code(method: Method) -> u8 {
    match method {
        Method::Email => 1,
        Method::Sms => 2,
        Method::Voice => 3,
        Method::Push => 4,
    }
}

fn method_of(code: u8) -> Option<Method> {
    Method::ALL.into_iter().find(|m| method_code(*m) == code)
}

fn tag(secret: &Secret, claim: &[u8]) -> [u8; 32] {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes())
        .expect("HMAC takes keys of any length");
    mac.update(b"warroom-ack-link\0");
    mac.update(claim);
    mac.finalize().into_bytes().into()
}

/// The token of a claim.
pub fn sign(claim: &AckClaim, secret: &Secret) -> String {
    let mut bytes = Vec::with_capacity(CLAIM_LEN + TAG_LEN);
    bytes.push(VERSION);
    bytes.extend_from_slice(&claim.incident.0.to_be_bytes());
    bytes.push(claim.rule.min(255) as u8);
    bytes.push(method_code(claim.method));
    let expires = claim.expires.timestamp().clamp(0, i64::from(u32::MAX)) as u32;
    bytes.extend_from_slice(&expires.to_be_bytes());
    bytes.extend_from_slice(&claim.page);
    let tag = tag(secret, &bytes);
    bytes.extend_from_slice(&tag[..TAG_LEN]);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Reads a token back, checking its signature (in constant time) and that it has not
/// expired at `now`.
pub fn verify(token: &str, secret: &Secret, now: DateTime<Utc>) -> Result<AckClaim, LinkError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(token.trim())
        .map_err(|_| LinkError::Malformed)?;
    if bytes.len() != CLAIM_LEN + TAG_LEN || bytes[0] != VERSION {
        return Err(LinkError::Malformed);
    }
    let (claim, presented) = bytes.split_at(CLAIM_LEN);
    let expected = tag(secret, claim);
    if !bool::from(subtle::ConstantTimeEq::ct_eq(
        &expected[..TAG_LEN],
        presented,
    )) {
        return Err(LinkError::Forged);
    }
    let number = u64::from_be_bytes(claim[1..9].try_into().expect("8 bytes"));
    let rule = u32::from(claim[9]);
    let method = method_of(claim[10]).ok_or(LinkError::Malformed)?;
    let expires = u32::from_be_bytes(claim[11..15].try_into().expect("4 bytes"));
    let expires = DateTime::from_timestamp(i64::from(expires), 0).ok_or(LinkError::Malformed)?;
    let mut page = [0u8; 8];
    page.copy_from_slice(&claim[15..23]);
    if now >= expires {
        return Err(LinkError::Expired(
            expires.format("%Y-%m-%d %H:%M").to_string(),
        ));
    }
    Ok(AckClaim {
        incident: IncidentNumber(number),
        page,
        rule,
        method,
        expires,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn claim() -> AckClaim {
        AckClaim {
            incident: IncidentNumber(7),
            page: page_digest("warroom-INC-7-e1-s1-rpark"),
            rule: 2,
            method: Method::Sms,
            expires: Utc.with_ymd_and_hms(2026, 12, 4, 12, 0, 0).unwrap(),
        }
    }

    #[test]
    fn a_token_reads_back_until_it_expires_and_fits_an_sms() {
        let secret = Secret::new("0123456789abcdef0123");
        let token = sign(&claim(), &secret);
        assert_eq!(token.len(), 52, "{token}");
        assert!(token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        let before = Utc.with_ymd_and_hms(2026, 12, 4, 11, 59, 59).unwrap();
        assert_eq!(verify(&token, &secret, before), Ok(claim()));
        let at = Utc.with_ymd_and_hms(2026, 12, 4, 12, 0, 0).unwrap();
        assert_eq!(
            verify(&token, &secret, at),
            Err(LinkError::Expired("2026-12-04 12:00".into()))
        );
    }

    #[test]
    fn a_changed_byte_or_another_secret_is_refused() {
        let secret = Secret::new("0123456789abcdef0123");
        let now = Utc.with_ymd_and_hms(2026, 12, 4, 10, 0, 0).unwrap();
        let token = sign(&claim(), &secret);
        assert_eq!(
            verify(&token, &Secret::new("another secret, long enough"), now),
            Err(LinkError::Forged)
        );
        // Another incident number under the same tag.
        let mut bytes = URL_SAFE_NO_PAD.decode(&token).unwrap();
        bytes[8] ^= 1;
        let tampered = URL_SAFE_NO_PAD.encode(bytes);
        assert_eq!(verify(&tampered, &secret, now), Err(LinkError::Forged));
        assert_eq!(
            verify(&token[..40], &secret, now),
            Err(LinkError::Malformed)
        );
        assert_eq!(
            verify("not a token!", &secret, now),
            Err(LinkError::Malformed)
        );
    }
}
