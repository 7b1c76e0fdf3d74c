//! Error kinds shared across crates.

use std::time::Duration;

use crate::MaskedUrl;

/// Why the transport could not deliver a response.
///
/// Every variant names the masked URL. The retry layer reads [`TransportError::kind`]
/// to decide whether a retry can help.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// No connection could be established (DNS, refused, connect timeout).
    #[error("could not connect to {url}: {reason}")]
    Connect {
        /// Masked URL.
        url: MaskedUrl,
        /// What the connector reported.
        reason: String,
    },
    /// The server did not answer in time.
    #[error("request to {url} timed out ({phase})")]
    Timeout {
        /// Masked URL.
        url: MaskedUrl,
        /// Which deadline fired.
        phase: TimeoutPhase,
    },
    /// The connection broke after it was established.
    #[error("connection to {url} was reset: {reason}")]
    Reset {
        /// Masked URL.
        url: MaskedUrl,
        /// What the connection reported.
        reason: String,
    },
    /// The body ended before the length the server announced.
    #[error("response body from {url} was truncated: {reason}")]
    Truncated {
        /// Masked URL.
        url: MaskedUrl,
        /// What the decoder reported.
        reason: String,
    },
    /// The body exceeded the configured maximum (counted while reading).
    #[error("response body from {url} exceeds the limit of {limit} bytes")]
    BodyTooLarge {
        /// Masked URL.
        url: MaskedUrl,
        /// The limit in bytes.
        limit: u64,
    },
    /// TLS handshake or certificate failure.
    #[error("TLS failure talking to {url}: {reason}")]
    Tls {
        /// Masked URL.
        url: MaskedUrl,
        /// What the TLS layer reported.
        reason: String,
    },
    /// The server's certificate failed verification: the host it was checked
    /// for and which check refused it. Its [`kind`](Self::kind) is
    /// [`TransportErrorKind::Tls`], so it is never retried: the same
    /// certificate will be refused again.
    #[error("certificate of {host} refused ({check}) for {url}: {reason}")]
    Certificate {
        /// Masked URL.
        url: MaskedUrl,
        /// The host name (or IP address) the certificate was checked for.
        host: String,
        /// Which check failed.
        check: CertificateCheck,
        /// What the TLS layer reported.
        reason: String,
    },
    /// Credentials could not be obtained or attached (token endpoint failure,
    /// credentials refused for an insecure origin).
    #[error("authentication for {url} failed: {reason}")]
    Auth {
        /// Masked URL.
        url: MaskedUrl,
        /// What went wrong (never contains the secret).
        reason: String,
    },
    /// The server sent something that is not valid HTTP, or the request could not be built.
    #[error("invalid response from {url}: {reason}")]
    InvalidResponse {
        /// Masked URL.
        url: MaskedUrl,
        /// What was wrong.
        reason: String,
    },
}

/// Which check refused a server certificate (see [`TransportError::Certificate`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CertificateCheck {
    /// The chain does not lead to a trusted root (a private CA that was not
    /// added, or a self-signed certificate).
    UnknownIssuer,
    /// The certificate (or one in its chain) has expired.
    Expired,
    /// The certificate is not valid yet.
    NotYetValid,
    /// The certificate is not valid for the host name (or IP address) connected to.
    NameMismatch,
    /// The certificate was revoked.
    Revoked,
    /// Another verification failure (bad signature, wrong key usage, unsupported algorithm…).
    Other,
}

impl std::fmt::Display for CertificateCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::UnknownIssuer => "unknown issuer",
            Self::Expired => "expired",
            Self::NotYetValid => "not yet valid",
            Self::NameMismatch => "name mismatch",
            Self::Revoked => "revoked",
            Self::Other => "invalid certificate",
        })
    }
}

/// Which deadline fired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TimeoutPhase {
    /// Establishing the TCP/TLS connection.
    Connect(Duration),
    /// Waiting for response bytes (the read timeout).
    Read(Duration),
    /// The whole request's deadline.
    Total(Duration),
}

impl std::fmt::Display for TimeoutPhase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Connect(d) => write!(f, "connect timeout of {d:?}"),
            Self::Read(d) => write!(f, "read timeout of {d:?}"),
            Self::Total(d) => write!(f, "request deadline of {d:?}"),
        }
    }
}

/// The coarse kind of a [`TransportError`], for retry classification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TransportErrorKind {
    /// See [`TransportError::Connect`].
    Connect,
    /// See [`TransportError::Timeout`].
    Timeout,
    /// See [`TransportError::Reset`].
    Reset,
    /// See [`TransportError::Truncated`].
    Truncated,
    /// See [`TransportError::BodyTooLarge`].
    BodyTooLarge,
    /// See [`TransportError::Tls`] and [`TransportError::Certificate`].
    Tls,
    /// See [`TransportError::InvalidResponse`].
    InvalidResponse,
    /// See [`TransportError::Auth`].
    Auth,
}

impl TransportError {
    /// The coarse kind of this error.
    pub fn kind(&self) -> TransportErrorKind {
        match self {
            Self::Connect { .. } => TransportErrorKind::Connect,
            Self::Timeout { .. } => TransportErrorKind::Timeout,
            Self::Reset { .. } => TransportErrorKind::Reset,
            Self::Truncated { .. } => TransportErrorKind::Truncated,
            Self::BodyTooLarge { .. } => TransportErrorKind::BodyTooLarge,
            Self::Tls { .. } | Self::Certificate { .. } => TransportErrorKind::Tls,
            Self::InvalidResponse { .. } => TransportErrorKind::InvalidResponse,
            Self::Auth { .. } => TransportErrorKind::Auth,
        }
    }

    /// The masked URL of the failed request.
    pub fn url(&self) -> &MaskedUrl {
        match self {
            Self::Connect { url, .. }
            | Self::Timeout { url, .. }
            | Self::Reset { url, .. }
            | Self::Truncated { url, .. }
            | Self::BodyTooLarge { url, .. }
            | Self::Tls { url, .. }
            | Self::Certificate { url, .. }
            | Self::InvalidResponse { url, .. }
            | Self::Auth { url, .. } => url,
        }
    }
}

/// At most 500 bytes of a body as text, cut on a character boundary, for error messages.
///
/// ```
/// let long = "é".repeat(400);
/// let preview = haul_core::body_preview(long.as_bytes());
/// assert!(preview.len() <= 500 + "…".len());
/// ```
pub fn body_preview(body: &[u8]) -> String {
    const MAX: usize = 500;
    if body.len() <= MAX {
        return String::from_utf8_lossy(body).into_owned();
    }
    let mut end = MAX;
    // Step back to a UTF-8 boundary so the preview never splits a character.
    while end > 0 && (body[end] & 0b1100_0000) == 0b1000_0000 {
        end -= 1;
    }
    let mut s = String::from_utf8_lossy(&body[..end]).into_owned();
    s.push('…');
    s
}
