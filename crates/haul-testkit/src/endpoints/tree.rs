//! The [`OrgTree`](crate::OrgTree)'s endpoints, paged like `/link` (GitHub's
//! `Link` header, `per_page` and `page`):
//!
//! - `GET /orgs`
//! - `GET /orgs/{org}/repos`
//! - `GET /orgs/{org}/repos/{repo}/events` (`404` for the deleted repository)
//! - `GET /audit-log?since=&until=` (half-open, RFC 3339 or Unix seconds)

use http::Method;

use super::{Call, DataPage, link};
use crate::instant::parse_instant;
use crate::params;
use crate::reply::ApiError;
use crate::tree::OrgTree;

/// A request on the tree, resolved to indices (so it is `Copy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TreeRoute {
    Orgs,
    Repos { org: usize },
    Events { org: usize, repo: usize },
    AuditLog,
}

impl TreeRoute {
    /// The route of `method path` on `tree`, or `None` (then a `404`)
    /// for anything else, unknown organisations and repositories included.
    pub(crate) fn resolve(tree: &OrgTree, method: &Method, path: &str) -> Option<TreeRoute> {
        if method != Method::GET || tree.orgs().is_empty() && tree.audit_log().is_empty() {
            return None;
        }
        if path == "/audit-log" {
            return Some(TreeRoute::AuditLog);
        }
        let rest = path.strip_prefix("/orgs")?;
        if rest.is_empty() {
            return Some(TreeRoute::Orgs);
        }
        let segments: Vec<&str> = rest.strip_prefix('/')?.split('/').collect();
        let (org, tail) = segments.split_first()?;
        let org_login = decode_segment(org)?;
        let org = tree.orgs().iter().position(|o| o.login() == org_login)?;
        match tail {
            ["repos"] => Some(TreeRoute::Repos { org }),
            ["repos", repo, "events"] => {
                let name = decode_segment(repo)?;
                let repo = tree
                    .orgs()
                    .get(org)?
                    .repos()
                    .iter()
                    .position(|r| r.name() == name)?;
                Some(TreeRoute::Events { org, repo })
            }
            _ => None,
        }
    }
}

/// Serves `route` from `tree`, paged as `/link` pages.
pub(crate) fn serve(
    route: TreeRoute,
    tree: &OrgTree,
    call: &Call<'_>,
) -> Result<DataPage, ApiError> {
    let missing = || ApiError::not_found(format!("nothing at {}", call.path));
    let owned: Vec<String>;
    let records: &[String] = match route {
        TreeRoute::Orgs => {
            owned = tree.orgs().iter().map(|o| o.record().to_owned()).collect();
            &owned
        }
        TreeRoute::Repos { org } => {
            let org = tree.orgs().get(org).ok_or_else(missing)?;
            owned = org.repos().iter().map(|r| r.record().to_owned()).collect();
            &owned
        }
        TreeRoute::Events { org, repo } => {
            let repo = tree
                .orgs()
                .get(org)
                .and_then(|o| o.repos().get(repo))
                .ok_or_else(missing)?;
            if repo.is_deleted() {
                return Err(ApiError::not_found(format!(
                    "repository {} was deleted",
                    repo.name()
                )));
            }
            repo.events()
        }
        TreeRoute::AuditLog => {
            let (start, end) = tree.audit_span();
            let since = bound(call.query, "since")?.unwrap_or(start);
            let until = bound(call.query, "until")?.unwrap_or(end);
            tree.audit_between(since, until)
        }
    };
    link::serve(&Call {
        records,
        indices: None,
        ..*call
    })
}

/// An optional time bound: RFC 3339 or Unix seconds.
fn bound(query: Option<&str>, name: &str) -> Result<Option<u64>, ApiError> {
    match params::param(query, name) {
        None => Ok(None),
        Some(raw) => parse_instant(&raw).map(Some).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_parameter",
                format!("{name} must be RFC 3339 or Unix seconds, got {raw:?}"),
            )
        }),
    }
}

/// Percent-decodes one path segment; `None` for a bad escape or bytes that
/// are not UTF-8.
fn decode_segment(segment: &str) -> Option<String> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = segment.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::TreeShape;

    #[test]
    fn segments_decode_or_refuse() {
        assert_eq!(
            decode_segment("caf%C3%A9.rs-3").as_deref(),
            Some("café.rs-3")
        );
        assert_eq!(decode_segment("plain").as_deref(), Some("plain"));
        for bad in ["%", "%4", "%zz", "%FF", "a%C3"] {
            assert_eq!(decode_segment(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn routes_resolve_by_name() {
        let tree = OrgTree::generate(3, &TreeShape::new([1, 4], 5));
        let get = |path| TreeRoute::resolve(&tree, &Method::GET, path);
        assert_eq!(get("/orgs"), Some(TreeRoute::Orgs));
        assert_eq!(get("/orgs/duo/repos"), Some(TreeRoute::Repos { org: 1 }));
        assert_eq!(
            get("/orgs/duo/repos/caf%C3%A9.rs-3/events"),
            Some(TreeRoute::Events { org: 1, repo: 3 })
        );
        assert_eq!(get("/audit-log"), Some(TreeRoute::AuditLog));
        for missing in [
            "/orgs/",
            "/orgs/nobody/repos",
            "/orgs/duo",
            "/orgs/duo/repos/",
            "/orgs/duo/repos/nothing/events",
            "/orgs/duo/repos/repo-0/events/x",
            "/orgsx",
        ] {
            assert_eq!(get(missing), None, "{missing}");
        }
        assert_eq!(TreeRoute::resolve(&tree, &Method::POST, "/orgs"), None);
        assert_eq!(
            TreeRoute::resolve(&OrgTree::default(), &Method::GET, "/orgs"),
            None
        );
    }
}
