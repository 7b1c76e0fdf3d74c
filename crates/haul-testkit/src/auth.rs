//! Protected data: the credentials a server requires, the tokens its OAuth2
//! endpoint issued, and the check every data request passes.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use http::{HeaderMap, HeaderValue, Response, StatusCode, header};
use tokio::time::Instant;

use crate::body::Body;
use crate::params;
use crate::reply::ApiError;
use crate::rng::SplitMix64;
use crate::stats::Counters;

/// The credentials data requests must carry once
/// [`FakeApiBuilder::require_auth`](crate::FakeApiBuilder::require_auth) is
/// set; without them every pagination endpoint answers `401`. The probes,
/// `/redirect` and `POST /oauth/token` stay open.
///
/// ```
/// use haul_testkit::{AuthRequirement, FakeApi};
///
/// let api = FakeApi::builder()
///     .require_auth(AuthRequirement::ApiKeyHeader {
///         name: "x-api-key".into(),
///         value: "k-123".into(),
///     })
///     .build();
/// # drop(api);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthRequirement {
    /// `Authorization: Bearer <token>` with exactly this token.
    Bearer(String),
    /// `Authorization: Basic <base64(user:password)>`.
    Basic {
        /// The user name.
        user: String,
        /// The password.
        password: String,
    },
    /// Header `name` (case-insensitive) with exactly `value`.
    ApiKeyHeader {
        /// The header name, e.g. `x-api-key`.
        name: String,
        /// The key.
        value: String,
    },
    /// Query parameter `name` with exactly `value`. Links the server
    /// generates leave this parameter out: the client adds it to each request.
    ApiKeyQuery {
        /// The parameter name, e.g. `api_key`.
        name: String,
        /// The key.
        value: String,
    },
    /// `Authorization: Bearer <token>` with a token this server's
    /// `POST /oauth/token` issued, not expired (on tokio's clock) and not
    /// revoked (see [`RunningServer::revoke_tokens`](crate::RunningServer::revoke_tokens)).
    OAuth2,
}

impl AuthRequirement {
    /// The query parameter carrying the key, for [`ApiKeyQuery`](Self::ApiKeyQuery).
    pub(crate) fn query_param(&self) -> Option<&str> {
        match self {
            AuthRequirement::ApiKeyQuery { name, .. } => Some(name),
            _ => None,
        }
    }

    /// The header carrying the key, for [`ApiKeyHeader`](Self::ApiKeyHeader).
    pub(crate) fn header_name(&self) -> Option<&str> {
        match self {
            AuthRequirement::ApiKeyHeader { name, .. } => Some(name),
            _ => None,
        }
    }
}

/// The OAuth2 client `POST /oauth/token` accepts (client credentials grant,
/// RFC 6749 §4.4), and the lifetime of the tokens it issues.
///
/// The defaults: client id `haul-test-client`, secret `haul-test-secret`,
/// tokens valid for one hour.
///
/// ```
/// use std::time::Duration;
/// use haul_testkit::OAuthClient;
///
/// let client = OAuthClient::new("id-1", "s3cret").expires_in(Duration::from_secs(60));
/// assert_eq!(client.client_id(), "id-1");
/// assert_eq!(client.token_lifetime(), Duration::from_secs(60));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthClient {
    client_id: String,
    client_secret: String,
    expires_in: Duration,
}

impl Default for OAuthClient {
    fn default() -> Self {
        OAuthClient::new("haul-test-client", "haul-test-secret")
    }
}

impl OAuthClient {
    /// A client with these credentials; tokens last one hour.
    pub fn new(client_id: impl Into<String>, client_secret: impl Into<String>) -> Self {
        OAuthClient {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            expires_in: Duration::from_secs(3600),
        }
    }

    /// How long issued tokens are valid (whole seconds are announced in
    /// `expires_in`; at least one second).
    pub fn expires_in(mut self, lifetime: Duration) -> Self {
        self.expires_in = lifetime.max(Duration::from_secs(1));
        self
    }

    /// The accepted client id.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The accepted client secret.
    pub fn client_secret(&self) -> &str {
        &self.client_secret
    }

    /// How long issued tokens are valid.
    pub fn token_lifetime(&self) -> Duration {
        self.expires_in
    }
}

/// Tokens issued by `POST /oauth/token`.
#[derive(Debug)]
pub(crate) struct TokenStore {
    pub(crate) client: OAuthClient,
    state: Mutex<Tokens>,
}

#[derive(Debug, Default)]
struct Tokens {
    /// Valid tokens and when they expire.
    live: HashMap<String, Instant>,
    /// Every token ever issued, in order.
    issued: Vec<String>,
}

impl TokenStore {
    pub(crate) fn new(client: OAuthClient) -> Self {
        TokenStore {
            client,
            state: Mutex::default(),
        }
    }

    fn tokens(&self) -> std::sync::MutexGuard<'_, Tokens> {
        // Plain maps: a panic elsewhere cannot leave them half-updated.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Issues a new token valid from `now` for the client's lifetime.
    pub(crate) fn issue(&self, now: Instant) -> String {
        let mut tokens = self.tokens();
        tokens.live.retain(|_, expires| now < *expires);
        let n = tokens.issued.len() as u64;
        let token = format!(
            "tk_{n}_{:016x}",
            SplitMix64::for_index(0x70_6b_65_6e, n).next_u64()
        );
        tokens
            .live
            .insert(token.clone(), now + self.client.expires_in);
        tokens.issued.push(token.clone());
        token
    }

    /// Whether `token` was issued here, is not revoked and has not expired.
    fn accepts(&self, token: &str, now: Instant) -> bool {
        self.tokens()
            .live
            .get(token)
            .is_some_and(|expires| now < *expires)
    }

    /// Revokes every token; returns how many had not expired at `now`.
    pub(crate) fn revoke_all(&self, now: Instant) -> usize {
        let mut tokens = self.tokens();
        let live = tokens
            .live
            .values()
            .filter(|expires| now < **expires)
            .count();
        tokens.live.clear();
        live
    }

    pub(crate) fn issued(&self) -> Vec<String> {
        self.tokens().issued.clone()
    }
}

/// The `401` for a data request without the required credentials; `None`
/// when it carries them.
pub(crate) fn rejection(
    requirement: &AuthRequirement,
    tokens: &TokenStore,
    headers: &HeaderMap,
    query: Option<&str>,
    counters: &Counters,
) -> Option<Response<Body>> {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let bearer = authorization.and_then(|v| {
        let (scheme, token) = v.split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
    });
    let (ok, challenge) = match requirement {
        AuthRequirement::Bearer(expected) => (bearer == Some(expected.as_str()), Some("Bearer")),
        AuthRequirement::OAuth2 => (
            bearer.is_some_and(|token| tokens.accepts(token, Instant::now())),
            Some("Bearer"),
        ),
        AuthRequirement::Basic { user, password } => {
            let expected = format!("{user}:{password}");
            let ok =
                authorization
                    .and_then(|v| v.split_once(' '))
                    .is_some_and(|(scheme, value)| {
                        scheme.eq_ignore_ascii_case("basic")
                            && value.trim() == base64(expected.as_bytes())
                    });
            (ok, Some("Basic"))
        }
        AuthRequirement::ApiKeyHeader { name, value } => (
            headers
                .get(name.as_str())
                .is_some_and(|v| v.as_bytes() == value.as_bytes()),
            None,
        ),
        AuthRequirement::ApiKeyQuery { name, value } => (
            params::param(query, name).is_some_and(|v| v == value.as_str()),
            None,
        ),
    };
    if ok {
        return None;
    }
    Counters::bump(&counters.unauthorized, 1);
    let presented = bearer.is_some() && challenge == Some("Bearer");
    let (code, message) = if presented {
        (
            "invalid_token",
            "the access token is invalid, expired or revoked",
        )
    } else {
        ("unauthorized", "missing or wrong credentials")
    };
    let mut response =
        ApiError::new(StatusCode::UNAUTHORIZED, code, message).into_response(counters);
    if let Some(scheme) = challenge {
        let value = if presented {
            format!("{scheme} realm=\"haul-testkit\", error=\"invalid_token\"")
        } else {
            format!("{scheme} realm=\"haul-testkit\"")
        };
        if let Ok(value) = HeaderValue::from_str(&value) {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, value);
        }
    }
    Some(response)
}

/// Standard base64 with padding (RFC 4648 §4).
pub(crate) fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk.first().copied().unwrap_or(0),
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18u32, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> shift) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Decodes standard base64 (padding optional); `None` if malformed.
pub(crate) fn base64_decode(input: &str) -> Option<Vec<u8>> {
    let value = |c: u8| -> Option<u32> {
        Some(u32::from(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        }))
    };
    let trimmed = input.trim_end_matches('=');
    let mut out = Vec::with_capacity(trimmed.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in trimmed.bytes() {
        acc = (acc << 6) | value(c)?;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn base64_matches_rfc_4648_vectors() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(plain.as_bytes()), encoded);
            assert_eq!(base64_decode(encoded).unwrap(), plain.as_bytes());
        }
        assert_eq!(base64_decode("Zm9v!"), None);
        // The proxy's `Proxy-Authorization: Basic` uses the same encoder.
        assert_eq!(
            base64(b"Aladdin:open sesame"),
            "QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
    }

    #[test]
    fn tokens_expire_and_are_revoked() {
        let store = TokenStore::new(OAuthClient::default().expires_in(Duration::from_secs(10)));
        let now = Instant::now();
        let a = store.issue(now);
        let b = store.issue(now);
        assert_ne!(a, b);
        assert!(store.accepts(&a, now + Duration::from_secs(9)));
        assert!(!store.accepts(&a, now + Duration::from_secs(10)));
        assert!(!store.accepts("tk_9_0000000000000000", now));
        assert_eq!(store.revoke_all(now + Duration::from_secs(10)), 0);
        let c = store.issue(now);
        assert_eq!(store.revoke_all(now), 1);
        assert!(!store.accepts(&c, now));
        assert_eq!(store.issued(), [a, b, c]);
    }
}
