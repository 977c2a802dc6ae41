//! One webhook delivery attempt by the Standard Webhooks convention: the event envelope as the
//! body, `webhook-id` (the event id, the same on every retry), `webhook-timestamp` (Unix
//! seconds of this attempt) and `webhook-signature: v1,<base64 HMAC-SHA256>` over
//! `<id>.<timestamp>.<body>`, keyed with the webhook's secret.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::Utc;
use hmac::{Hmac, Mac};
use rand::Rng;
use sha2::Sha256;
use zaryad_store::{AttemptOutcome, DeliveryAttempt, DueDelivery};

use crate::config::WebhooksConfig;

/// The prefix of a Standard Webhooks secret; the rest is the base64 of the key.
pub const SECRET_PREFIX: &str = "whsec_";

/// Most characters of a receiver's answer (or of an error) kept in the delivery log.
const LOGGED_ANSWER_CHARS: usize = 200;

/// Why a secret cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// Nothing to sign with.
    #[error("the secret must not be empty")]
    Empty,
    /// `whsec_…` whose rest is not base64.
    #[error("a secret starting with whsec_ must continue in base64: {0}")]
    NotBase64(#[from] base64::DecodeError),
}

/// The HMAC key of a secret: the base64-decoded rest of `whsec_<base64>`, or the bytes of any
/// other (plain) secret as they are.
pub fn secret_key(secret: &str) -> Result<Vec<u8>, SecretError> {
    let key = match secret.strip_prefix(SECRET_PREFIX) {
        Some(encoded) => BASE64.decode(encoded.trim())?,
        None => secret.as_bytes().to_vec(),
    };
    if key.is_empty() {
        return Err(SecretError::Empty);
    }
    Ok(key)
}

/// A new random secret: `whsec_` and the base64 of 32 random bytes.
pub fn generate_secret() -> String {
    let key: [u8; 32] = rand::rng().random();
    format!("{SECRET_PREFIX}{}", BASE64.encode(key))
}

/// The `webhook-signature` header value for one message.
pub fn signature(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    // HMAC accepts keys of any length; `new_from_slice` only fails for fixed-size MACs.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        return String::new();
    };
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", BASE64.encode(mac.finalize().into_bytes()))
}

/// How long to wait before attempt number `attempts + 1`, `attempts` (≥ 1) having failed:
/// `base · 2^(attempts−1)` capped at `max`, of which a random half is taken off (jitter, so
/// that deliveries failed together do not retry together).
pub fn backoff(attempts: u32, config: &WebhooksConfig) -> Duration {
    let base = Duration::from_millis(config.backoff_base_ms.max(1));
    let max = Duration::from_secs(config.backoff_max_secs).max(base);
    let exponent = attempts.saturating_sub(1).min(31);
    let delay = base.saturating_mul(1 << exponent).min(max);
    let half = delay / 2;
    half + half.mul_f64(rand::rng().random::<f64>())
}

/// Sends `due` once and says what comes next.
pub async fn attempt(
    http: &reqwest::Client,
    config: &WebhooksConfig,
    due: &DueDelivery,
) -> DeliveryAttempt {
    let event = &due.event.event;
    let (response_status, error) = match send(http, config, due).await {
        Ok(status) => (Some(status), None),
        Err(Failure::Status(status, answer)) => (Some(status), Some(answer)),
        Err(Failure::Transport(error)) => (None, Some(error)),
    };
    let delivered = error.is_none();
    let now = Utc::now();
    let outcome = if delivered {
        AttemptOutcome::Delivered
    } else {
        let max_age = chrono::TimeDelta::from_std(Duration::from_secs(config.max_age_secs))
            .unwrap_or(chrono::TimeDelta::MAX);
        let give_up_at = due
            .queued_at
            .checked_add_signed(max_age)
            .unwrap_or(chrono::DateTime::<Utc>::MAX_UTC);
        if now >= give_up_at {
            AttemptOutcome::Failed
        } else {
            let wait = chrono::TimeDelta::from_std(backoff(due.attempts + 1, config))
                .unwrap_or(chrono::TimeDelta::MAX);
            // The last attempt is made at the maximum age, not skipped past it.
            let next = now
                .checked_add_signed(wait)
                .unwrap_or(give_up_at)
                .min(give_up_at);
            AttemptOutcome::Retry(next)
        }
    };
    DeliveryAttempt {
        webhook_id: due.webhook_id.clone(),
        event_seq: due.event.seq,
        at: now,
        outcome,
        response_status,
        error: error.inspect(|error| {
            tracing::debug!(webhook = %due.webhook_id, event = %event.id, %error, "webhook delivery failed");
        }),
    }
}

enum Failure {
    /// The receiver answered with a status other than 2xx (and this start of its body).
    Status(u16, String),
    /// No answer: refused, reset, timed out, bad URL.
    Transport(String),
}

/// Answers the receiver's 2xx status.
async fn send(
    http: &reqwest::Client,
    config: &WebhooksConfig,
    due: &DueDelivery,
) -> Result<u16, Failure> {
    let event = &due.event.event;
    let body = serde_json::to_vec(event).map_err(|error| Failure::Transport(error.to_string()))?;
    let key = secret_key(&due.secret).map_err(|error| Failure::Transport(error.to_string()))?;
    let timestamp = Utc::now().timestamp();
    let response = http
        .post(&due.url)
        .timeout(Duration::from_secs(config.timeout_secs.max(1)))
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header("webhook-id", &event.id)
        .header("webhook-timestamp", timestamp.to_string())
        .header(
            "webhook-signature",
            signature(&key, &event.id, timestamp, &body),
        )
        .body(body)
        .send()
        .await
        .map_err(|error| Failure::Transport(shorten(&error_chain(&error))))?;
    let status = response.status();
    if status.is_success() {
        return Ok(status.as_u16());
    }
    let answer = response.text().await.unwrap_or_default();
    Err(Failure::Status(status.as_u16(), shorten(&answer)))
}

/// An error with its causes ("error sending request: connection refused"), as reqwest's own
/// message names only the outermost.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn shorten(text: &str) -> String {
    match text.char_indices().nth(LOGGED_ANSWER_CHARS) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The test vector of the Standard Webhooks specification.
    #[test]
    fn the_standard_webhooks_example_holds() {
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let id = "msg_p5jXN8AQM9LWM0D4loKWxJek";
        let timestamp = 1_614_265_330;
        let body = br#"{"test": 2432232314}"#;
        let key = secret_key(secret).unwrap();
        // The example of the Standard Webhooks specification, so that any of its libraries
        // checks Zaryad's signatures.
        assert_eq!(
            signature(&key, id, timestamp, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    /// The README's example, a Zaryad event: the body is exactly what the server sends.
    #[test]
    fn the_readme_example_holds() {
        use chrono::TimeZone;
        use zaryad_model::{DomainEvent, EventType, StationId};

        let event = DomainEvent {
            id: "0193a8c4-5e00-7000-8000-000000000001".into(),
            event_type: EventType::ConnectorStatusChanged,
            occurred_at: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
            station_id: StationId::parse("CP-001").unwrap(),
            session_id: None,
            data: serde_json::json!({
                "evse_id": 1,
                "connector_id": 1,
                "status": "occupied",
                "previous_status": "available",
                "error_code": null,
            }),
        };
        let body = serde_json::to_vec(&event).unwrap();
        assert_eq!(
            String::from_utf8(body.clone()).unwrap(),
            r#"{"id":"0193a8c4-5e00-7000-8000-000000000001","type":"connector.status_changed","occurred_at":"2026-01-01T00:00:00Z","station_id":"CP-001","data":{"connector_id":1,"error_code":null,"evse_id":1,"previous_status":"available","status":"occupied"}}"#
        );
        let key = secret_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert_eq!(
            signature(&key, &event.id, 1_767_225_600, &body),
            "v1,G3iZ1SF/fbGGyOVqjGr0UnTWyhmTnCbZBJYbMwshFlo="
        );
    }

    #[test]
    fn plain_secrets_are_their_own_key() {
        assert_eq!(secret_key("s3cret").unwrap(), b"s3cret");
        assert!(matches!(secret_key(""), Err(SecretError::Empty)));
        assert!(matches!(
            secret_key("whsec_***"),
            Err(SecretError::NotBase64(_))
        ));
        let generated = generate_secret();
        assert!(generated.starts_with(SECRET_PREFIX));
        assert_eq!(secret_key(&generated).unwrap().len(), 32);
    }

    #[test]
    fn backoff_doubles_with_jitter_up_to_the_maximum() {
        let config = WebhooksConfig {
            backoff_base_ms: 1000,
            backoff_max_secs: 60,
            ..WebhooksConfig::default()
        };
        for (attempts, full) in [(1, 1000), (2, 2000), (3, 4000), (7, 60_000), (40, 60_000)] {
            let full = Duration::from_millis(full);
            for _ in 0..20 {
                let wait = backoff(attempts, &config);
                assert!(wait >= full / 2 && wait <= full, "{attempts}: {wait:?}");
            }
        }
    }
}
