//! [`VendorHeaders`]: an API's own rate-limit headers, read into the
//! standard ones a wrapped limiter understands.

use std::time::{Duration, SystemTime};

use haul_core::Response;

use crate::{HeaderAdaptive, Permit, RateLimiter, Reservation};

/// A family of vendor-specific rate-limit headers [`VendorHeaders`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HeaderFamily {
    /// HubSpot: `X-HubSpot-RateLimit-Max`, `X-HubSpot-RateLimit-Remaining`
    /// and `X-HubSpot-RateLimit-Interval-Milliseconds` (the rolling window's
    /// length, read as the time to the reset: never early).
    /// <https://developers.hubspot.com/docs/api/usage-details>
    HubSpot,
    /// Zendesk: `X-Rate-Limit` and `X-Rate-Limit-Remaining` (no reset; a
    /// `429` carries `Retry-After`).
    /// <https://developer.zendesk.com/api-reference/introduction/rate-limits/>
    Zendesk,
    /// Shopify's leaky bucket: `X-Shopify-Shop-Api-Call-Limit: <used>/<size>`
    /// draining `leak_per_second` calls a second. A full bucket frees one
    /// slot after `1 / leak_per_second` seconds, read as the reset.
    /// <https://shopify.dev/docs/api/usage/rate-limits>
    ShopifyBucket {
        /// Calls the bucket drains per second (2 on standard plans).
        leak_per_second: u32,
    },
    /// Salesforce: `Sforce-Limit-Info: api-usage=<used>/<limit>`, a rolling
    /// 24-hour allowance (no reset is announced).
    /// <https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/headers_api_usage.htm>
    Salesforce,
}

/// What one response said, in the standard terms.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
struct Budget {
    limit: Option<u64>,
    remaining: Option<u64>,
    reset_in: Option<Duration>,
}

impl HeaderFamily {
    fn read(self, response: &Response) -> Budget {
        let num = |name: &str| {
            response
                .header(name)
                .and_then(|v| v.trim().parse::<u64>().ok())
        };
        match self {
            HeaderFamily::HubSpot => Budget {
                limit: num("x-hubspot-ratelimit-max"),
                remaining: num("x-hubspot-ratelimit-remaining"),
                reset_in: num("x-hubspot-ratelimit-interval-milliseconds")
                    .map(Duration::from_millis),
            },
            HeaderFamily::Zendesk => Budget {
                limit: num("x-rate-limit"),
                remaining: num("x-rate-limit-remaining"),
                reset_in: None,
            },
            HeaderFamily::ShopifyBucket { leak_per_second } => {
                let Some((used, size)) = response
                    .header("x-shopify-shop-api-call-limit")
                    .and_then(used_of)
                else {
                    return Budget::default();
                };
                Budget {
                    limit: Some(size),
                    remaining: Some(size.saturating_sub(used)),
                    reset_in: Some(Duration::from_secs_f64(
                        1.0 / f64::from(leak_per_second.max(1)),
                    )),
                }
            }
            HeaderFamily::Salesforce => {
                let usage = response.header("sforce-limit-info").and_then(|v| {
                    v.split(',')
                        .find_map(|part| part.trim().strip_prefix("api-usage="))
                        .and_then(used_of)
                });
                match usage {
                    Some((used, limit)) => Budget {
                        limit: Some(limit),
                        remaining: Some(limit.saturating_sub(used)),
                        reset_in: None,
                    },
                    None => Budget::default(),
                }
            }
        }
    }
}

/// Parses `<used>/<limit>`.
fn used_of(text: &str) -> Option<(u64, u64)> {
    let (used, limit) = text.trim().split_once('/')?;
    Some((used.trim().parse().ok()?, limit.trim().parse().ok()?))
}

/// Wraps a limiter (by default [`HeaderAdaptive`]) so that it also learns
/// from an API's own rate-limit headers: each response's vendor headers
/// are read as `X-RateLimit-Limit` / `-Remaining` / `-Reset` (delta seconds)
/// before the inner limiter observes it. Standard headers the response
/// already carries win; a response without vendor headers passes unchanged.
///
/// ```
/// use haul_ratelimit::{HeaderFamily, Permit, RateLimiter, VendorHeaders};
/// use haul_core::Response;
/// use std::time::{Duration, SystemTime};
///
/// let limiter = VendorHeaders::adaptive(HeaderFamily::ShopifyBucket { leak_per_second: 2 });
/// let full = Response::new(http::StatusCode::OK, "https://shop.example/".parse()?, "")
///     .with_header("x-shopify-shop-api-call-limit", "40/40");
/// assert_eq!(limiter.try_acquire(Duration::ZERO), Permit::Granted);
/// limiter.observe(&full, Duration::ZERO, SystemTime::now());
/// // The bucket is full: wait for it to drain one call (0.5 s, plus a margin).
/// assert!(matches!(limiter.try_acquire(Duration::ZERO), Permit::Wait(d) if d >= Duration::from_millis(500)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct VendorHeaders<L = HeaderAdaptive> {
    inner: L,
    family: HeaderFamily,
}

impl VendorHeaders<HeaderAdaptive> {
    /// A [`HeaderAdaptive`] limiter that also reads `family`.
    pub fn adaptive(family: HeaderFamily) -> Self {
        Self::new(HeaderAdaptive::new(), family)
    }
}

impl<L: RateLimiter> VendorHeaders<L> {
    /// `inner`, fed `family`'s headers as standard ones.
    pub fn new(inner: L, family: HeaderFamily) -> Self {
        Self { inner, family }
    }

    /// The header family read.
    pub fn family(&self) -> HeaderFamily {
        self.family
    }

    /// The wrapped limiter.
    pub fn inner(&self) -> &L {
        &self.inner
    }
}

impl<L: RateLimiter> RateLimiter for VendorHeaders<L> {
    fn try_acquire(&self, now: Duration) -> Permit {
        self.inner.try_acquire(now)
    }

    fn reserve(&self, now: Duration) -> Reservation {
        self.inner.reserve(now)
    }

    fn throttled(&self, response: &Response, now: Duration, wall: SystemTime) {
        self.inner.throttled(response, now, wall);
    }

    fn observe(&self, response: &Response, now: Duration, wall: SystemTime) {
        let budget = self.family.read(response);
        if budget == Budget::default() {
            return self.inner.observe(response, now, wall);
        }
        // Cheap: the body is reference-counted; only the headers are copied.
        let mut translated = response.clone();
        let mut put = |name: &'static str, value: Option<String>| {
            if let Some(value) = value
                && !translated.headers.contains_key(name)
                && let Ok(value) = http::HeaderValue::from_str(&value)
            {
                translated.headers.insert(name, value);
            }
        };
        put("x-ratelimit-limit", budget.limit.map(|l| l.to_string()));
        put(
            "x-ratelimit-remaining",
            budget.remaining.map(|r| r.to_string()),
        );
        put(
            "x-ratelimit-reset",
            budget.reset_in.map(|d| format!("{:.3}", d.as_secs_f64())),
        );
        self.inner.observe(&translated, now, wall);
    }

    fn cancel(&self, at: Duration) {
        self.inner.cancel(at);
    }

    fn release(&self) {
        self.inner.release();
    }

    fn server_pause(&self, now: Duration) -> Option<Duration> {
        self.inner.server_pause(now)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn resp(headers: &[(&'static str, &str)]) -> Response {
        let mut r = Response::new(
            http::StatusCode::OK,
            "https://api.example.com/".parse().unwrap(),
            "",
        );
        for (k, v) in headers {
            r = r.with_header(k, v);
        }
        r
    }

    #[test]
    fn each_family_reads_its_headers() {
        let hubspot = HeaderFamily::HubSpot.read(&resp(&[
            ("x-hubspot-ratelimit-max", "100"),
            ("x-hubspot-ratelimit-remaining", "0"),
            ("x-hubspot-ratelimit-interval-milliseconds", "10000"),
        ]));
        assert_eq!(
            hubspot,
            Budget {
                limit: Some(100),
                remaining: Some(0),
                reset_in: Some(Duration::from_secs(10)),
            }
        );
        let zendesk = HeaderFamily::Zendesk.read(&resp(&[
            ("x-rate-limit", "700"),
            ("x-rate-limit-remaining", "699"),
        ]));
        assert_eq!((zendesk.limit, zendesk.remaining), (Some(700), Some(699)));
        let shopify = HeaderFamily::ShopifyBucket { leak_per_second: 2 }
            .read(&resp(&[("x-shopify-shop-api-call-limit", "32/40")]));
        assert_eq!(
            (shopify.limit, shopify.remaining, shopify.reset_in),
            (Some(40), Some(8), Some(Duration::from_millis(500)))
        );
        let salesforce =
            HeaderFamily::Salesforce.read(&resp(&[("sforce-limit-info", "api-usage=4990/5000")]));
        assert_eq!(
            (salesforce.limit, salesforce.remaining),
            (Some(5000), Some(10))
        );
        for family in [
            HeaderFamily::HubSpot,
            HeaderFamily::Zendesk,
            HeaderFamily::ShopifyBucket { leak_per_second: 2 },
            HeaderFamily::Salesforce,
        ] {
            assert_eq!(family.read(&resp(&[])), Budget::default());
            assert_eq!(
                family.read(&resp(&[
                    ("x-shopify-shop-api-call-limit", "junk"),
                    ("sforce-limit-info", "api-usage=x/y"),
                    ("x-rate-limit", "-1"),
                    ("x-hubspot-ratelimit-max", "")
                ])),
                Budget::default()
            );
        }
    }

    #[test]
    fn an_exhausted_vendor_budget_blocks_until_its_reset() {
        let limiter = VendorHeaders::new(
            HeaderAdaptive::new().reset_margin(Duration::ZERO),
            HeaderFamily::HubSpot,
        );
        assert_eq!(limiter.try_acquire(Duration::ZERO), Permit::Granted);
        limiter.observe(
            &resp(&[
                ("x-hubspot-ratelimit-max", "10"),
                ("x-hubspot-ratelimit-remaining", "0"),
                ("x-hubspot-ratelimit-interval-milliseconds", "10000"),
            ]),
            Duration::ZERO,
            SystemTime::now(),
        );
        limiter.release();
        assert_eq!(
            limiter.try_acquire(Duration::from_secs(4)),
            Permit::Wait(Duration::from_secs(6))
        );
        assert_eq!(
            limiter.try_acquire(Duration::from_secs(10)),
            Permit::Granted
        );
    }
}
