//! Query-string parameters and their validation.

use std::borrow::Cow;

use url::form_urlencoded;

use crate::reply::ApiError;

/// The first value of `name`, percent-decoded.
pub(crate) fn param<'q>(query: Option<&'q str>, name: &str) -> Option<Cow<'q, str>> {
    form_urlencoded::parse(query?.as_bytes())
        .find(|(key, _)| key == name)
        .map(|(_, value)| value)
}

/// A page size: `default` when absent, clamped to `max`; 0 or a non-number
/// is an `invalid_limit` 400.
pub(crate) fn page_size(
    query: Option<&str>,
    name: &str,
    default: usize,
    max: usize,
) -> Result<usize, ApiError> {
    match param(query, name) {
        None => Ok(default),
        Some(raw) => match raw.parse::<u64>() {
            Ok(size) => checked_size(size, max),
            Err(_) => Err(ApiError::bad_request(
                "invalid_limit",
                format!("{name} must be a positive integer, got {raw:?}"),
            )),
        },
    }
}

/// Validates a page size from a request (0 is an error) and clamps it.
pub(crate) fn checked_size(size: u64, max: usize) -> Result<usize, ApiError> {
    if size == 0 {
        return Err(ApiError::bad_request(
            "invalid_limit",
            "page size must be at least 1",
        ));
    }
    Ok(usize::try_from(size).map_or(max, |size| size.min(max)))
}

/// An optional non-negative integer; a non-number is an `invalid_parameter` 400.
pub(crate) fn optional_u64(query: Option<&str>, name: &str) -> Result<Option<u64>, ApiError> {
    let Some(raw) = param(query, name) else {
        return Ok(None);
    };
    raw.parse().map(Some).map_err(|_| {
        ApiError::bad_request(
            "invalid_parameter",
            format!("{name} must be a non-negative integer, got {raw:?}"),
        )
    })
}

/// A required non-negative integer.
pub(crate) fn required_u64(query: Option<&str>, name: &str) -> Result<u64, ApiError> {
    optional_u64(query, name)?.ok_or_else(|| {
        ApiError::bad_request("invalid_parameter", format!("missing parameter {name:?}"))
    })
}

/// A boolean switch: `1` or `true` turns it on.
pub(crate) fn flag(query: Option<&str>, name: &str) -> bool {
    param(query, name).is_some_and(|v| v == "1" || v == "true")
}

/// `usize` from a request integer, saturating (datasets fit in memory, so
/// a saturated value is simply past the end).
pub(crate) fn index(value: u64) -> usize {
    usize::try_from(value).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn params_are_percent_decoded() {
        assert_eq!(
            param(Some("a=1&cursor=c%5Ffa"), "cursor").as_deref(),
            Some("c_fa")
        );
        assert_eq!(param(Some("a=1"), "cursor"), None);
        assert_eq!(param(None, "cursor"), None);
    }

    #[test]
    fn page_sizes_default_clamp_and_reject() {
        assert_eq!(page_size(None, "limit", 7, 10).unwrap(), 7);
        assert_eq!(page_size(Some("limit=3"), "limit", 7, 10).unwrap(), 3);
        assert_eq!(page_size(Some("limit=99"), "limit", 7, 10).unwrap(), 10);
        for bad in ["limit=0", "limit=-1", "limit=x", "limit="] {
            assert_eq!(
                page_size(Some(bad), "limit", 7, 10).unwrap_err().code,
                "invalid_limit"
            );
        }
    }

    #[test]
    fn flags_and_integers() {
        assert!(flag(Some("relative=1"), "relative"));
        assert!(flag(Some("relative=true"), "relative"));
        assert!(!flag(Some("relative=0"), "relative"));
        assert_eq!(optional_u64(Some("n=5"), "n").unwrap(), Some(5));
        assert!(optional_u64(Some("n=five"), "n").is_err());
        assert!(required_u64(None, "n").is_err());
    }
}
