//! Which stream names a sink accepts.

use crate::SinkError;

/// Accepts non-empty ASCII letters, digits, `_`, `-` and `.`, not starting
/// with `.`: safe as a file name and as a quoted SQL identifier.
pub fn check(stream: &str) -> Result<(), SinkError> {
    let ok = !stream.is_empty()
        && stream
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        && !stream.starts_with('.');
    if ok {
        Ok(())
    } else {
        Err(SinkError::Usage(format!(
            "stream name {stream:?} must be non-empty ASCII letters, digits, '_', '-' or '.'"
        )))
    }
}
