//! Authenticating alert senders: a bearer token or an HMAC-SHA256 of the raw body, both
//! compared in constant time, so a wrong guess takes as long as a near miss.

use crate::config::SourceAuth;
use axum::http::HeaderMap;
use subtle::ConstantTimeEq;

/// The token of an `Authorization: Bearer <token>` header.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
}

/// Whether the request's bearer token hashes to `expected` (the SHA-256 a door's setting
/// holds): the console, the deploys door.
pub fn bearer_matches(headers: &HeaderMap, expected: &[u8; 32]) -> bool {
    let token = bearer(headers).unwrap_or_default();
    !token.is_empty() && crate::secret::token_matches(token, expected)
}

/// Checks a request against its source's credential; the error says what to fix without
/// revealing anything about the secret.
pub fn check(
    auth: Option<&SourceAuth>,
    source: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), String> {
    match auth {
        None => Err(format!(
            "the {source} endpoint has no usable credential: set alerts.sources.{source} in warroom.toml with a secret that is present (`warroom check` says what is missing)"
        )),
        Some(SourceAuth::Open) => Ok(()),
        Some(SourceAuth::Bearer(secret)) => {
            let given =
                bearer(headers).ok_or("send the token as 'Authorization: Bearer <token>'")?;
            if bool::from(given.as_bytes().ct_eq(secret.expose().as_bytes())) {
                Ok(())
            } else {
                Err("the bearer token is wrong".into())
            }
        }
        Some(SourceAuth::Hmac { secret, header }) => {
            let given = headers
                .get(header.as_str())
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| format!("sign the body with HMAC-SHA256 in the {header} header"))?;
            let hex_digest = given.trim();
            let hex_digest = hex_digest.strip_prefix("sha256=").unwrap_or(hex_digest);
            let signature = hex::decode(hex_digest)
                .map_err(|_| format!("the {header} header is not a hex HMAC-SHA256"))?;
            if secret.verifies(body, &signature) {
                Ok(())
            } else {
                Err("the signature does not match the body".to_string())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    fn headers(name: &'static str, value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(name, value.parse().unwrap());
        h
    }

    #[test]
    fn bearer_tokens_must_match_exactly() {
        let auth = SourceAuth::Bearer(Secret::new("t0ken"));
        assert!(check(
            Some(&auth),
            "x",
            &headers("authorization", "Bearer t0ken"),
            b""
        )
        .is_ok());
        assert!(check(
            Some(&auth),
            "x",
            &headers("authorization", "Bearer t0ke"),
            b""
        )
        .is_err());
        assert!(check(Some(&auth), "x", &headers("authorization", "t0ken"), b"").is_err());
        assert!(check(Some(&auth), "x", &HeaderMap::new(), b"").is_err());
        assert!(check(None, "x", &headers("authorization", "Bearer t0ken"), b"").is_err());
    }

    #[test]
    fn hmac_signatures_cover_the_exact_body() {
        let auth = SourceAuth::Hmac {
            secret: Secret::new("k"),
            header: "X-Warroom-Signature".into(),
        };
        let body = br#"{"name":"DiskLow"}"#;
        let good = Secret::new("k").sign(body);
        assert!(check(
            Some(&auth),
            "x",
            &headers("x-warroom-signature", &good),
            body
        )
        .is_ok());
        let bare = good.trim_start_matches("sha256=").to_string();
        assert!(check(
            Some(&auth),
            "x",
            &headers("x-warroom-signature", &bare),
            body
        )
        .is_ok());
        let err = check(
            Some(&auth),
            "x",
            &headers("x-warroom-signature", &good),
            b"{}",
        )
        .unwrap_err();
        assert!(err.contains("does not match"));
        assert!(check(
            Some(&auth),
            "x",
            &headers("x-warroom-signature", "zz"),
            body
        )
        .is_err());
    }
}
