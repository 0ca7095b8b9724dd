//! Stripe webhook signatures and events.
//!
//! `Stripe-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>…]` signs `"{t}.{raw body}"` with
//! HMAC-SHA256 under the endpoint's secret. Several `v1` appear while a secret is being
//! rolled; one right signature is enough. Each is compared in constant time, and a
//! timestamp more than [`TOLERANCE_SECS`] away from now (either way) is refused, so a
//! captured request cannot be replayed later.

use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::Value;
use sha2::Sha256;

/// How far a signature's timestamp may be from now, either way.
pub const TOLERANCE_SECS: i64 = 300;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("no Stripe-Signature header")]
    Missing,
    #[error("malformed Stripe-Signature header")]
    Malformed,
    #[error("signature timestamp outside the tolerance")]
    OutsideTolerance,
    #[error("no signature matches")]
    Mismatch,
}

fn mac(secret: &SecretString, timestamp: &str, body: &[u8]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose_secret().as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

fn hex_decode(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Checks `header` against `body` at time `now` (Unix seconds).
pub fn verify(
    header: Option<&str>,
    body: &[u8],
    secret: &SecretString,
    now: i64,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        let (key, value) = part
            .trim()
            .split_once('=')
            .ok_or(SignatureError::Malformed)?;
        match key {
            "t" => timestamp = Some(value),
            // A v1 that is not 32 bytes of hex can never match; it is skipped, not fatal.
            "v1" => signatures.extend(hex_decode(value).filter(|s| s.len() == 32)),
            // v0 (test-mode legacy) and schemes we do not know are ignored.
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed)?;
    let seconds: i64 = timestamp.parse().map_err(|_| SignatureError::Malformed)?;
    if signatures.is_empty() {
        return Err(SignatureError::Malformed);
    }
    let expected = mac(secret, timestamp, body);
    // Every candidate is checked (no early exit), each in constant time.
    let matched = signatures.iter().fold(false, |found, sig| {
        expected.clone().verify_slice(sig).is_ok() | found
    });
    if !matched {
        return Err(SignatureError::Mismatch);
    }
    if (now - seconds).abs() > TOLERANCE_SECS {
        return Err(SignatureError::OutsideTolerance);
    }
    Ok(())
}

/// The `Stripe-Signature` header Stripe would send for `body` at `timestamp`.
pub fn signature_header(secret: &SecretString, timestamp: i64, body: &[u8]) -> String {
    let digest = mac(secret, &timestamp.to_string(), body)
        .finalize()
        .into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("t={timestamp},v1={hex}")
}

/// A webhook event, as much of it as billing reads.
#[derive(Debug, Clone, Deserialize)]
pub struct Event {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    /// Unix seconds.
    pub created: i64,
    pub data: EventData,
}

#[derive(Debug, Clone, Deserialize)]
pub struct EventData {
    pub object: Value,
}

impl Event {
    fn text(&self, pointer: &str) -> Option<&str> {
        self.data.object.pointer(pointer).and_then(Value::as_str)
    }

    /// The subscription the event is about, where it names one.
    pub fn subscription_id(&self) -> Option<&str> {
        match self.kind.as_str() {
            "checkout.session.completed" => self.text("/subscription"),
            k if k.starts_with("customer.subscription.") => self.text("/id"),
            // Since 2025-03-31 an invoice names its subscription under its parent; older
            // payloads had it at the top.
            k if k.starts_with("invoice.") => self
                .text("/parent/subscription_details/subscription")
                .or_else(|| self.text("/subscription")),
            _ => None,
        }
    }

    pub fn customer(&self) -> Option<&str> {
        self.text("/customer")
    }

    /// `client_reference_id` of a Checkout Session: the user's id.
    pub fn client_reference_id(&self) -> Option<&str> {
        self.text("/client_reference_id")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] = br#"{"id":"evt_1"}"#;
    const NOW: i64 = 1_700_000_000;
    /// HMAC-SHA256("whsec_test_secret", "1700000000.{\"id\":\"evt_1\"}"), computed apart
    /// from this code (Python's hmac module).
    const KNOWN: &str = "248a374f50f943a28b0f6ab50faf9a7e7e29b710fa26df9fb1618b9bf8ea9c9a";

    fn secret() -> SecretString {
        SecretString::from("whsec_test_secret".to_string())
    }

    #[test]
    fn a_valid_signature_passes_and_matches_an_independent_computation() {
        let header = format!("t={NOW},v1={KNOWN}");
        assert_eq!(verify(Some(&header), BODY, &secret(), NOW), Ok(()));
        assert_eq!(signature_header(&secret(), NOW, BODY), header);
    }

    #[test]
    fn one_right_signature_among_several_v1_is_enough() {
        let wrong = "0".repeat(64);
        let header = format!("t={NOW},v1={wrong},v1={KNOWN},v0={wrong}");
        assert_eq!(verify(Some(&header), BODY, &secret(), NOW), Ok(()));
        let header = format!("t={NOW},v1={KNOWN},v1=zz");
        assert_eq!(verify(Some(&header), BODY, &secret(), NOW), Ok(()));
    }

    #[test]
    fn a_signature_301_seconds_old_is_refused() {
        let header = signature_header(&secret(), NOW - 301, BODY);
        assert_eq!(
            verify(Some(&header), BODY, &secret(), NOW),
            Err(SignatureError::OutsideTolerance)
        );
        let header = signature_header(&secret(), NOW - 300, BODY);
        assert_eq!(verify(Some(&header), BODY, &secret(), NOW), Ok(()));
    }

    #[test]
    fn a_signature_301_seconds_in_the_future_is_refused() {
        let header = signature_header(&secret(), NOW + 301, BODY);
        assert_eq!(
            verify(Some(&header), BODY, &secret(), NOW),
            Err(SignatureError::OutsideTolerance)
        );
        let header = signature_header(&secret(), NOW + 300, BODY);
        assert_eq!(verify(Some(&header), BODY, &secret(), NOW), Ok(()));
    }

    #[test]
    fn a_wrong_secret_is_refused() {
        let other = SecretString::from("whsec_other_secret".to_string());
        let header = signature_header(&other, NOW, BODY);
        assert_eq!(
            verify(Some(&header), BODY, &secret(), NOW),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn a_tampered_body_is_refused() {
        let header = signature_header(&secret(), NOW, BODY);
        assert_eq!(
            verify(Some(&header), br#"{"id":"evt_2"}"#, &secret(), NOW),
            Err(SignatureError::Mismatch)
        );
        // The timestamp is signed too.
        let moved = header.replace(&format!("t={NOW}"), &format!("t={}", NOW + 1));
        assert_eq!(
            verify(Some(&moved), BODY, &secret(), NOW),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn a_missing_or_garbled_header_is_refused() {
        assert_eq!(
            verify(None, BODY, &secret(), NOW),
            Err(SignatureError::Missing)
        );
        for garbled in [
            "",
            "garbage",
            "t=,v1=",
            &format!("v1={KNOWN}"),
            &format!("t=soon,v1={KNOWN}"),
            &format!("t={NOW}"),
            &format!("t={NOW},v1=not-hex"),
            &format!("t={NOW};v1={KNOWN}"),
        ] {
            assert!(
                verify(Some(garbled), BODY, &secret(), NOW).is_err(),
                "{garbled:?}"
            );
        }
    }

    #[test]
    fn events_name_their_subscription_in_basil_shapes() {
        let event = |kind: &str, object: Value| Event {
            id: "evt".into(),
            kind: kind.into(),
            created: NOW,
            data: EventData { object },
        };
        let invoice = event(
            "invoice.payment_failed",
            serde_json::json!({"customer": "cus_1",
                "parent": {"subscription_details": {"subscription": "sub_9"}}}),
        );
        assert_eq!(invoice.subscription_id(), Some("sub_9"));
        let updated = event(
            "customer.subscription.updated",
            serde_json::json!({"id": "sub_9", "customer": "cus_1"}),
        );
        assert_eq!(updated.subscription_id(), Some("sub_9"));
        assert_eq!(updated.customer(), Some("cus_1"));
        let completed = event(
            "checkout.session.completed",
            serde_json::json!({"id": "cs_1", "subscription": "sub_9", "client_reference_id": "7"}),
        );
        assert_eq!(completed.subscription_id(), Some("sub_9"));
        assert_eq!(completed.client_reference_id(), Some("7"));
    }
}
