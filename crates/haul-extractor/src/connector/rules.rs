//! [`ResponseRule`]: what a status (and optionally a body field) means for a
//! stream, decided before the classifier.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use haul_retry::{Classification, Classifier, Outcome};
use http::StatusCode;

/// What a matching response means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RuleAction {
    /// The partition has nothing to fetch (a child whose parent was deleted
    /// between the two requests answers 404): record it as skipped, finished.
    SkipPartition,
    /// The partition's data ends here: commit what was fetched and finish.
    EndOfData,
    /// Try again, as for a server error.
    Retry,
    /// Fail the partition with the response's typed error.
    Fail,
}

/// Maps a status, and optionally the text of a body field, to a
/// [`RuleAction`]. Rules are evaluated in order before the classifier.
///
/// ```
/// use haul_extractor::{ResponseRule, RuleAction};
/// let gone = ResponseRule::status(404, RuleAction::SkipPartition);
/// let soft_error = ResponseRule::status(200, RuleAction::Fail).when_field("/error/code", "RATE");
/// # let _ = (gone, soft_error);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseRule {
    status: u16,
    field: Option<(String, String)>,
    action: RuleAction,
}

impl ResponseRule {
    /// Responses with this status.
    pub fn status(status: u16, action: RuleAction) -> Self {
        Self {
            status,
            field: None,
            action,
        }
    }

    /// Only when the body's field at `pointer` equals `value` (as text).
    pub fn when_field(mut self, pointer: impl Into<String>, value: impl Into<String>) -> Self {
        self.field = Some((pointer.into(), value.into()));
        self
    }

    /// The action.
    pub fn action(&self) -> RuleAction {
        self.action
    }

    pub(crate) fn status_is(&self, status: StatusCode) -> bool {
        status.as_u16() == self.status
    }

    /// Whether a response with `status` and `body` matches.
    pub fn matches(&self, status: StatusCode, body: &[u8]) -> bool {
        if status.as_u16() != self.status {
            return false;
        }
        match &self.field {
            None => true,
            Some((pointer, value)) => std::str::from_utf8(body)
                .ok()
                .and_then(|text| haul_core::json::scalar_at(text, pointer).ok().flatten())
                .is_some_and(|v| v == *value),
        }
    }
}

/// The first rule matching, if any.
pub(crate) fn first_match(
    rules: &[ResponseRule],
    status: StatusCode,
    body: &[u8],
) -> Option<RuleAction> {
    rules
        .iter()
        .find(|r| r.matches(status, body))
        .map(ResponseRule::action)
}

/// Applies a stream's rules before its classifier: `Retry` becomes a
/// retryable server error, the others a permanent failure that the
/// connector then maps to skip, end of data or failure.
pub(crate) struct RuleClassifier {
    pub(crate) rules: Vec<ResponseRule>,
    pub(crate) inner: Arc<dyn Classifier>,
}

impl Classifier for RuleClassifier {
    fn classify(&self, outcome: Outcome<'_>, now: SystemTime) -> Classification {
        if let Outcome::Response(response) = &outcome
            && let Some(action) = first_match(&self.rules, response.status, &response.body)
        {
            return match action {
                RuleAction::Retry => Classification::ServerError {
                    status: response.status,
                    retry_after: None::<Duration>,
                },
                _ => Classification::Permanent,
            };
        }
        self.inner.classify(outcome, now)
    }
}
