//! [`Checkpoint`]: where a stream stands, committed atomically with its records.

use serde::{Deserialize, Serialize};
use url::Url;

use crate::Request;

/// The position of a stream after a committed batch.
///
/// It is written by the sink in the same transaction as the records it
/// follows, and read back on the next run to resume where the last one stopped.
///
/// ```
/// use haul_core::{Checkpoint, Position};
/// let cp = Checkpoint::start("items");
/// assert_eq!(cp.position, Position::Start);
/// let text = serde_json::to_string(&cp)?;
/// assert_eq!(serde_json::from_str::<Checkpoint>(&text)?, cp);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Stream name (one per endpoint or partition).
    pub stream: String,
    /// Where the next request starts.
    pub position: Position,
    /// Pages committed so far in this pass.
    pub pages: u64,
    /// Records committed so far in this pass.
    pub records: u64,
    /// The incremental lower bound in force for this pass, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lower_bound: Option<String>,
    /// Paginator-specific state needed to resume (opaque to everyone else).
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub paginator: serde_json::Value,
}

impl Checkpoint {
    /// A checkpoint at the start of a stream.
    pub fn start(stream: impl Into<String>) -> Self {
        Self {
            stream: stream.into(),
            position: Position::Start,
            pages: 0,
            records: 0,
            lower_bound: None,
            paginator: serde_json::Value::Null,
        }
    }

    /// Whether the pass this checkpoint belongs to has finished.
    pub fn is_done(&self) -> bool {
        matches!(self.position, Position::Done)
    }
}

/// Where a stream's next request starts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "at", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Position {
    /// Nothing committed yet: start from the first request.
    Start,
    /// Continue with this request.
    Next(SavedRequest),
    /// The pass finished; the next run starts a new pass.
    Done,
}

/// A request stored in a checkpoint: method, URL and body, never headers
/// (credentials are re-attached from configuration on resume).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedRequest {
    /// HTTP method.
    pub method: String,
    /// Absolute URL.
    pub url: String,
    /// Body as UTF-8 text, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Whether the request opted in to retries despite a non-idempotent method.
    #[serde(default)]
    pub retry_non_idempotent: bool,
}

impl SavedRequest {
    /// Captures a request for a checkpoint.
    pub fn from_request(req: &Request) -> Self {
        Self {
            method: req.method.as_str().to_owned(),
            url: req.url.to_string(),
            body: req
                .body
                .as_ref()
                .map(|b| String::from_utf8_lossy(b).into_owned()),
            retry_non_idempotent: req.retry_non_idempotent,
        }
    }

    /// Captures a request for a checkpoint, dropping query parameters for which
    /// `sensitive` is true (credentials are re-attached from configuration on resume).
    pub fn from_request_without(req: &Request, sensitive: &dyn Fn(&str) -> bool) -> Self {
        let mut saved = Self::from_request(req);
        if req.url.query_pairs().any(|(k, _)| sensitive(&k)) {
            let mut url = req.url.clone();
            let kept: Vec<(String, String)> = req
                .url
                .query_pairs()
                .filter(|(k, _)| !sensitive(k))
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            if kept.is_empty() {
                url.set_query(None);
            } else {
                url.query_pairs_mut().clear().extend_pairs(kept);
            }
            saved.url = url.to_string();
        }
        saved
    }

    /// Rebuilds the request on top of `template` (which supplies headers).
    pub fn to_request(&self, template: &Request) -> Result<Request, CheckpointError> {
        let url = Url::parse(&self.url).map_err(|e| CheckpointError::Invalid(e.to_string()))?;
        let method = self
            .method
            .parse::<http::Method>()
            .map_err(|e| CheckpointError::Invalid(e.to_string()))?;
        let mut req = template.clone();
        req.method = method;
        req.url = url;
        req.body = self.body.clone().map(bytes::Bytes::from);
        req.retry_non_idempotent = self.retry_non_idempotent;
        Ok(req)
    }
}

/// A stored checkpoint that cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// The stored request is malformed.
    #[error("stored checkpoint is invalid: {0}")]
    Invalid(String),
}
