//! GitHub REST: a root array paged by the `Link` header (served by the
//! `/link` style at GitHub's path), `since` as an ISO 8601 timestamp.
//! <https://docs.github.com/en/rest/using-the-rest-api/using-pagination-in-the-rest-api>

/// A repository's issues.
pub(super) const PATH: &str = "/repos/haul-rs/haul/issues";
