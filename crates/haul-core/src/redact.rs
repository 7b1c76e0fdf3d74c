//! Masking of URLs and headers before they reach logs, errors or checkpoints.

use std::fmt;

use http::HeaderName;
use url::Url;

/// Query parameter names whose values are masked by default (compared case-insensitively).
pub const DEFAULT_SENSITIVE_PARAMS: &[&str] = &[
    "api_key",
    "apikey",
    "api-key",
    "key",
    "token",
    "access_token",
    "refresh_token",
    "id_token",
    "client_secret",
    "password",
    "passwd",
    "secret",
    "signature",
    "sig",
    "code",
    "auth",
];

/// Header names whose values are masked (compared case-insensitively).
pub const SENSITIVE_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
    "api-key",
    "x-auth-token",
];

/// The text that replaces a masked value.
pub const MASK: &str = "***";

/// Whether a query parameter name is sensitive under the default list.
pub fn is_sensitive_param(name: &str) -> bool {
    DEFAULT_SENSITIVE_PARAMS
        .iter()
        .any(|p| p.eq_ignore_ascii_case(name))
}

/// Whether a header carries credentials and must be masked.
pub fn is_sensitive_header(name: &HeaderName) -> bool {
    SENSITIVE_HEADERS
        .iter()
        .any(|h| h.eq_ignore_ascii_case(name.as_str()))
}

/// A URL rendered for humans: password and sensitive query values replaced by `***`.
///
/// This is the only form in which haul puts a URL into a log line or an error.
///
/// ```
/// use haul_core::MaskedUrl;
/// let url = url::Url::parse("https://user:pw@api.example.com/v1/items?api_key=abc&limit=10")?;
/// assert_eq!(
///     MaskedUrl::new(&url).to_string(),
///     "https://user:***@api.example.com/v1/items?api_key=***&limit=10"
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct MaskedUrl(String);

impl MaskedUrl {
    /// Masks `url` with the default sensitive parameter list.
    pub fn new(url: &Url) -> Self {
        Self(mask_url(url, &[]))
    }

    /// Masks `url` with the default list plus the parameter names in `extra`
    /// (e.g. the name an API-key auth sends its key under).
    pub fn with_extra(url: &Url, extra: &[String]) -> Self {
        Self(mask_url(url, extra))
    }

    /// Masks a URL given as text; text that is not a URL is masked entirely.
    pub fn parse(text: &str) -> Self {
        match Url::parse(text) {
            Ok(url) => Self::new(&url),
            Err(_) => Self(MASK.to_owned()),
        }
    }

    /// The masked text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&Url> for MaskedUrl {
    fn from(url: &Url) -> Self {
        Self::new(url)
    }
}

impl fmt::Display for MaskedUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for MaskedUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

fn mask_url(url: &Url, extra: &[String]) -> String {
    let is_sensitive_param =
        |name: &str| is_sensitive_param(name) || extra.iter().any(|e| e == name);
    let mut out = url.clone();
    if out.password().is_some() {
        // Infallible for URLs that already carry a password (they have a host).
        let _ = out.set_password(Some(MASK));
    }
    if url.query().is_some() {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| {
                let v = if is_sensitive_param(&k) {
                    MASK.to_owned()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        if pairs.iter().any(|(k, _)| is_sensitive_param(k)) {
            let mut q = out.query_pairs_mut();
            q.clear();
            for (k, v) in &pairs {
                q.append_pair(k, v);
            }
            drop(q);
            // `append_pair` percent-encodes `*`; keep the mask readable.
            let rendered = out.to_string().replace("%2A%2A%2A", MASK);
            return rendered;
        }
    }
    out.to_string()
}

/// Masks a free-form value (a cursor, a token) for an error message: short
/// values are shown, long ones are cut to a prefix, so an opaque cursor is
/// recognizable without being copied whole into logs.
pub fn mask_value(value: &str) -> String {
    const SHOW: usize = 24;
    if value.chars().count() <= SHOW {
        value.to_owned()
    } else {
        let prefix: String = value.chars().take(SHOW).collect();
        format!("{prefix}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_password_and_sensitive_params_only() {
        let url =
            Url::parse("https://u:secret@h.example/p?token=t0k&page=2&Access_Token=zz").unwrap();
        let masked = MaskedUrl::new(&url).to_string();
        assert!(!masked.contains("secret"));
        assert!(!masked.contains("t0k"));
        assert!(!masked.contains("zz"));
        assert!(masked.contains("page=2"));
    }

    #[test]
    fn url_without_secrets_is_unchanged() {
        let url = Url::parse("https://h.example/p?cursor=abc").unwrap();
        assert_eq!(
            MaskedUrl::new(&url).as_str(),
            "https://h.example/p?cursor=abc"
        );
    }

    #[test]
    fn headers_are_classified() {
        assert!(is_sensitive_header(&http::header::AUTHORIZATION));
        assert!(!is_sensitive_header(&http::header::ACCEPT));
    }
}
