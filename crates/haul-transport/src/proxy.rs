//! Forward proxies for the [`ReqwestTransport`](crate::ReqwestTransport).

use std::fmt;

use haul_core::{MaskedUrl, Secret};
use url::Url;

use crate::BuildError;

/// An HTTP(S) forward proxy: its URL, optional Basic credentials, and the
/// hosts that bypass it.
///
/// `https` targets go through a `CONNECT` tunnel: the proxy sees the target
/// host and port and the `Proxy-Authorization` header, never the request's
/// own headers (an API's `Authorization` stays inside TLS). `http` targets
/// are forwarded in clear, headers included; haul's authentication refuses to
/// send credentials to `http` origins other than loopback anyway.
///
/// Credentials are held as a [`Secret`]; `Debug`, logs and errors show the
/// proxy URL masked (`http://user:***@proxy:3128/`).
///
/// ```
/// use haul_transport::ProxyConfig;
/// let proxy = ProxyConfig::new("http://alice:s3cr3t@proxy.corp.example:3128")?
///     .no_proxy(["internal.example", ".svc.cluster.local", "10.0.0.0/8"]);
/// assert!(!format!("{proxy:?}").contains("s3cr3t"));
/// # Ok::<(), haul_transport::BuildError>(())
/// ```
#[derive(Clone)]
pub struct ProxyConfig {
    url: Url,
    username: String,
    password: Option<Secret>,
    no_proxy: Vec<String>,
}

impl ProxyConfig {
    /// A proxy at `url` (`http://` or `https://`); credentials in the URL
    /// (`http://user:password@host:port`) are taken out of it and sent as
    /// Basic `Proxy-Authorization`.
    pub fn new(url: &str) -> Result<Self, BuildError> {
        let mut parsed = Url::parse(url).map_err(|err| BuildError::Proxy {
            proxy: MaskedUrl::parse(url),
            reason: err.to_string(),
        })?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
            return Err(BuildError::Proxy {
                proxy: MaskedUrl::new(&parsed),
                reason: "a proxy URL must be http:// or https:// with a host".to_owned(),
            });
        }
        let username = percent_decode(parsed.username());
        let password = parsed.password().map(|p| Secret::new(percent_decode(p)));
        // Infallible for http(s) URLs with a host, checked above.
        let _ = parsed.set_username("");
        let _ = parsed.set_password(None);
        Ok(Self {
            url: parsed,
            username,
            password,
            no_proxy: Vec::new(),
        })
    }

    /// Sends Basic `Proxy-Authorization` with these credentials.
    #[must_use]
    pub fn basic_auth(mut self, username: impl Into<String>, password: impl Into<Secret>) -> Self {
        self.username = username.into();
        self.password = Some(password.into());
        self
    }

    /// Hosts that bypass the proxy, as in `NO_PROXY`: a host name matches
    /// itself and its subdomains (`example.com`, `.example.com`), an IP
    /// address or CIDR range matches addresses, `*` matches everything.
    #[must_use]
    pub fn no_proxy<I, S>(mut self, hosts: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.no_proxy.extend(hosts.into_iter().map(Into::into));
        self
    }

    /// The proxy URL, masked (credentials show as `***`).
    pub fn masked_url(&self) -> MaskedUrl {
        let mut url = self.url.clone();
        if !self.username.is_empty() || self.password.is_some() {
            // Infallible for http(s) URLs with a host.
            let _ = url.set_username(&self.username);
            let _ = url.set_password(Some(haul_core::redact::MASK));
        }
        MaskedUrl::new(&url)
    }

    /// The hosts that bypass the proxy.
    pub fn no_proxy_hosts(&self) -> &[String] {
        &self.no_proxy
    }

    /// The password as typed and as it appears percent-encoded in a URL
    /// (at least 3 characters, so masking never shreds ordinary text).
    pub(crate) fn secret_texts(&self) -> Vec<String> {
        let Some(password) = &self.password else {
            return Vec::new();
        };
        let mut url = self.url.clone();
        let _ = url.set_password(Some(password.expose()));
        let mut out = vec![password.expose().to_owned()];
        if let Some(encoded) = url.password() {
            out.push(encoded.to_owned());
        }
        out.retain(|s| s.len() >= 3);
        out.dedup();
        out
    }

    pub(crate) fn to_reqwest(&self) -> Result<reqwest::Proxy, BuildError> {
        let mut proxy =
            reqwest::Proxy::all(self.url.as_str()).map_err(|err| BuildError::Proxy {
                proxy: self.masked_url(),
                reason: err.without_url().to_string(),
            })?;
        if !self.username.is_empty() || self.password.is_some() {
            let password = self
                .password
                .as_ref()
                .map(Secret::expose)
                .unwrap_or_default();
            proxy = proxy.basic_auth(&self.username, password);
        }
        let no_proxy = reqwest::NoProxy::from_string(&self.no_proxy.join(","));
        Ok(proxy.no_proxy(no_proxy))
    }
}

impl fmt::Debug for ProxyConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProxyConfig")
            .field("url", &self.masked_url())
            .field("no_proxy", &self.no_proxy)
            .finish()
    }
}

/// Decodes `%XX` escapes of URL userinfo (invalid escapes stay as they are).
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = text.get(i + 1..i + 3)
            && let Ok(b) = u8::from_str_radix(hex, 16)
        {
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn credentials_leave_the_url_and_stay_masked() {
        let proxy = ProxyConfig::new("http://alice:p%40ss@proxy.example:3128").unwrap();
        assert_eq!(proxy.username, "alice");
        assert_eq!(proxy.password.as_ref().unwrap().expose(), "p@ss");
        assert_eq!(proxy.url.as_str(), "http://proxy.example:3128/");
        assert_eq!(
            proxy.masked_url().as_str(),
            "http://alice:***@proxy.example:3128/"
        );
        let debug = format!("{proxy:?}");
        assert!(
            !debug.contains("p@ss") && !debug.contains("p%40ss"),
            "{debug}"
        );
    }

    #[test]
    fn bad_proxy_urls_are_refused_masked() {
        let err = ProxyConfig::new("socks5://bob:hunter2@proxy.example:1080").unwrap_err();
        assert!(matches!(err, BuildError::Proxy { .. }), "{err}");
        assert!(!err.to_string().contains("hunter2"), "{err}");
        assert!(ProxyConfig::new("not a url").is_err());
    }
}
