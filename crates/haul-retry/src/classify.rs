//! Classification: what went wrong with one attempt.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use haul_core::{Response, TransportError, TransportErrorKind};
use http::StatusCode;

use crate::retry_after::parse_retry_after;

/// The result of one attempt, as seen by the classifier.
#[derive(Debug, Clone, Copy)]
pub enum Outcome<'a> {
    /// The server answered (any status).
    Response(&'a Response),
    /// No usable response arrived.
    Error(&'a TransportError),
}

/// What went wrong (or didn't) with one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Classification {
    /// 2xx: a page (204 and empty bodies are empty pages).
    Success,
    /// The server asked us to slow down (429, 503 with `Retry-After`, or a
    /// 403 with `X-RateLimit-Remaining: 0` as GitHub sends).
    Throttled {
        /// The status that said so.
        status: StatusCode,
        /// How long the server asked us to wait, if it said.
        retry_after: Option<Duration>,
    },
    /// A transient transport failure (connect, timeout, reset, truncated body).
    Transient(TransportErrorKind),
    /// A server error that may clear up (408, 500, 502, 503, 504).
    ServerError {
        /// The status.
        status: StatusCode,
        /// `Retry-After`, when the server sent one.
        retry_after: Option<Duration>,
    },
    /// A failure a retry cannot fix (other 4xx, other statuses, fatal transport errors).
    Permanent,
}

impl Classification {
    /// Whether this outcome may succeed if tried again.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::Throttled { .. } | Self::Transient(_) | Self::ServerError { .. }
        )
    }

    /// The server's requested wait, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Throttled { retry_after, .. } | Self::ServerError { retry_after, .. } => {
                *retry_after
            }
            _ => None,
        }
    }
}

/// Decides what an outcome means. Synchronous, no I/O; time comes from the caller.
pub trait Classifier: Send + Sync {
    /// Classifies one attempt's outcome; `now` is the wall-clock time (for HTTP-date `Retry-After`).
    fn classify(&self, outcome: Outcome<'_>, now: SystemTime) -> Classification;
}

impl<C: Classifier + ?Sized> Classifier for &C {
    fn classify(&self, outcome: Outcome<'_>, now: SystemTime) -> Classification {
        (**self).classify(outcome, now)
    }
}
impl<C: Classifier + ?Sized> Classifier for Box<C> {
    fn classify(&self, outcome: Outcome<'_>, now: SystemTime) -> Classification {
        (**self).classify(outcome, now)
    }
}
impl<C: Classifier + ?Sized> Classifier for Arc<C> {
    fn classify(&self, outcome: Outcome<'_>, now: SystemTime) -> Classification {
        (**self).classify(outcome, now)
    }
}

/// haul's default classification of HTTP outcomes.
///
/// - 2xx → success (204 is an empty page);
/// - 429, and 403 with `X-RateLimit-Remaining: 0` → throttled;
/// - 408, 500, 502, 503, 504 → server error (503 with `Retry-After` → throttled);
/// - connect errors, timeouts, resets, truncated bodies → transient;
/// - everything else (other 4xx, 3xx that were not followed, TLS, body too large) → permanent.
///
/// ```
/// use haul_retry::{Classification, Classifier, HttpClassifier, Outcome};
/// use haul_core::Response;
/// let resp = Response::new(http::StatusCode::TOO_MANY_REQUESTS, "https://h.example/".parse()?, "")
///     .with_header("retry-after", "7");
/// let class = HttpClassifier.classify(Outcome::Response(&resp), std::time::SystemTime::now());
/// assert_eq!(class.retry_after(), Some(std::time::Duration::from_secs(7)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct HttpClassifier;

impl Classifier for HttpClassifier {
    fn classify(&self, outcome: Outcome<'_>, now: SystemTime) -> Classification {
        match outcome {
            Outcome::Error(e) => match e.kind() {
                k @ (TransportErrorKind::Connect
                | TransportErrorKind::Timeout
                | TransportErrorKind::Reset
                | TransportErrorKind::Truncated) => Classification::Transient(k),
                _ => Classification::Permanent,
            },
            Outcome::Response(resp) => {
                let status = resp.status;
                let retry_after = resp
                    .header("retry-after")
                    .and_then(|v| parse_retry_after(v, now));
                if status.is_success() {
                    Classification::Success
                } else if status == StatusCode::TOO_MANY_REQUESTS
                    || (status == StatusCode::FORBIDDEN && rate_limit_exhausted(resp))
                    || (status == StatusCode::SERVICE_UNAVAILABLE && retry_after.is_some())
                {
                    Classification::Throttled {
                        status,
                        retry_after,
                    }
                } else if matches!(status.as_u16(), 408 | 500 | 502 | 503 | 504) {
                    Classification::ServerError {
                        status,
                        retry_after,
                    }
                } else if status == StatusCode::FORBIDDEN && retry_after.is_some() {
                    // GitHub's secondary rate limits: 403 with Retry-After.
                    Classification::Throttled {
                        status,
                        retry_after,
                    }
                } else {
                    Classification::Permanent
                }
            }
        }
    }
}

fn rate_limit_exhausted(resp: &Response) -> bool {
    ["x-ratelimit-remaining", "ratelimit-remaining"]
        .iter()
        .filter_map(|h| resp.header(h))
        .any(|v| v.trim() == "0")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn resp(status: u16) -> Response {
        Response::new(
            StatusCode::from_u16(status).unwrap(),
            "https://h.example/".parse().unwrap(),
            "",
        )
    }

    #[test]
    fn statuses() {
        let now = SystemTime::now();
        let c = |r: &Response| HttpClassifier.classify(Outcome::Response(r), now);
        assert_eq!(c(&resp(200)), Classification::Success);
        assert_eq!(c(&resp(204)), Classification::Success);
        for s in [408, 500, 502, 503, 504] {
            assert!(
                matches!(c(&resp(s)), Classification::ServerError { .. }),
                "{s}"
            );
        }
        for s in [400, 401, 403, 404, 409, 422, 501] {
            assert_eq!(c(&resp(s)), Classification::Permanent, "{s}");
        }
        assert!(matches!(c(&resp(429)), Classification::Throttled { .. }));
        let github = resp(403).with_header("x-ratelimit-remaining", "0");
        assert!(matches!(c(&github), Classification::Throttled { .. }));
    }

    #[test]
    fn transport_errors() {
        let url = haul_core::MaskedUrl::parse("https://h.example/");
        let now = SystemTime::now();
        let reset = TransportError::Reset {
            url: url.clone(),
            reason: "x".into(),
        };
        assert!(
            HttpClassifier
                .classify(Outcome::Error(&reset), now)
                .is_retryable()
        );
        let big = TransportError::BodyTooLarge {
            url: url.clone(),
            limit: 1,
        };
        assert_eq!(
            HttpClassifier.classify(Outcome::Error(&big), now),
            Classification::Permanent
        );
        // A refused certificate will be refused again: never retried.
        let cert = TransportError::Certificate {
            url,
            host: "h.example".into(),
            check: haul_core::CertificateCheck::UnknownIssuer,
            reason: "x".into(),
        };
        assert_eq!(
            HttpClassifier.classify(Outcome::Error(&cert), now),
            Classification::Permanent
        );
    }
}
