//! Emulations of well-known APIs: each serves the dataset in one API's
//! documented shape — its paths, parameter names, pagination, record
//! envelope, "updated since" filter and rate-limit headers — so presets can
//! be tested end to end against something that behaves like the real thing.

mod github;
mod hubspot;
mod jira;
mod odata;
mod salesforce;
mod shopify;
mod stripe;
mod zendesk;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{HeaderMap, HeaderName, HeaderValue, Method, Response, StatusCode};

use super::{Call, DataPage};
use crate::body::Body;
use crate::instant::{format_rfc3339, parse_instant};
use crate::ratelimit::{Admission, RateLimit, ceil_secs};
use crate::reply::{self, ApiError};
use crate::stats::Counters;

/// A well-known API [`FakeApi`](crate::FakeApi) emulates, at the path its
/// documentation gives (see the [crate docs](crate#emulated-apis)).
///
/// Every emulation serves the same dataset records, in id order, inside the
/// API's envelope; some APIs add fields of their own to each record (Stripe's
/// `created`, Salesforce's `SystemModstamp`…): [`render`](Emulation::render)
/// says how a dataset record appears in the listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Emulation {
    /// GitHub REST: `GET /repos/haul-rs/haul/issues?per_page=&page=&since=`.
    GitHub,
    /// Stripe: `GET /v1/customers?limit=&starting_after=&created[gte]=`.
    Stripe,
    /// HubSpot CRM v3: `GET /crm/v3/objects/contacts?limit=&after=`, and
    /// `POST /crm/v3/objects/contacts/search`.
    HubSpot,
    /// Zendesk cursor pagination: `GET /api/v2/tickets?page[size]=&page[after]=&start_time=`.
    Zendesk,
    /// Salesforce: `GET /services/data/v60.0/query?q=<SOQL>`, then `nextRecordsUrl`.
    Salesforce,
    /// Shopify Admin REST: `GET /admin/api/2024-01/products.json?limit=&page_info=&updated_at_min=`.
    Shopify,
    /// Jira Cloud: `GET /rest/api/3/search?jql=&startAt=&maxResults=`.
    Jira,
    /// OData v4 / Microsoft Graph: `GET /v1.0/users?$top=&$filter=`, then `@odata.nextLink`.
    OData,
}

impl Emulation {
    /// Every emulated API.
    pub const ALL: [Emulation; 8] = [
        Emulation::GitHub,
        Emulation::Stripe,
        Emulation::HubSpot,
        Emulation::Zendesk,
        Emulation::Salesforce,
        Emulation::Shopify,
        Emulation::Jira,
        Emulation::OData,
    ];

    /// The lowercase name (`"github"`, `"odata"`…).
    pub fn name(self) -> &'static str {
        match self {
            Emulation::GitHub => "github",
            Emulation::Stripe => "stripe",
            Emulation::HubSpot => "hubspot",
            Emulation::Zendesk => "zendesk",
            Emulation::Salesforce => "salesforce",
            Emulation::Shopify => "shopify",
            Emulation::Jira => "jira",
            Emulation::OData => "odata",
        }
    }

    /// The emulation called `name` (as [`name`](Emulation::name) spells it).
    pub fn from_name(name: &str) -> Option<Emulation> {
        Emulation::ALL.into_iter().find(|api| api.name() == name)
    }

    /// The path of the listing (the first request's path).
    pub fn path(self) -> &'static str {
        match self {
            Emulation::GitHub => github::PATH,
            Emulation::Stripe => stripe::PATH,
            Emulation::HubSpot => hubspot::PATH,
            Emulation::Zendesk => zendesk::PATH,
            Emulation::Salesforce => salesforce::PATH,
            Emulation::Shopify => shopify::PATH,
            Emulation::Jira => jira::PATH,
            Emulation::OData => odata::PATH,
        }
    }

    /// How dataset record `record` appears in this API's listing: verbatim,
    /// or with the API's own fields first (Stripe `"created":<epoch s>`,
    /// HubSpot `"updatedAt"`, Salesforce `"attributes"` and
    /// `"SystemModstamp"`, Jira `"key"` and `"fields":{"updated"}`, OData
    /// `"lastModifiedDateTime"`), derived from the record's `updated_at`.
    pub fn render(self, record: &str) -> String {
        let secs = updated_secs(record);
        let prefix = match self {
            Emulation::GitHub | Emulation::Zendesk | Emulation::Shopify => {
                return record.to_owned();
            }
            Emulation::Stripe => format!("\"object\":\"customer\",\"created\":{secs},"),
            Emulation::HubSpot => format!("\"updatedAt\":\"{}\",", millis_z(secs)),
            Emulation::Salesforce => format!(
                "\"attributes\":{{\"type\":\"Account\",\"url\":\"{}/sobjects/Account/{}\"}},\"SystemModstamp\":\"{}\",",
                salesforce::BASE,
                record_id(record),
                millis_z(secs)
            ),
            Emulation::Jira => format!(
                "\"key\":\"HAUL-{}\",\"fields\":{{\"updated\":\"{}\"}},",
                record_id(record),
                millis_z(secs)
            ),
            Emulation::OData => {
                format!("\"lastModifiedDateTime\":\"{}\",", format_rfc3339(secs))
            }
        };
        match record.strip_prefix('{') {
            Some(rest) => format!("{{{prefix}{rest}"),
            None => record.to_owned(),
        }
    }

    /// The emulation serving `method path`, if any.
    pub(crate) fn route(method: &Method, path: &str) -> Option<Emulation> {
        let api = match (method, path) {
            (&Method::GET, github::PATH) => Emulation::GitHub,
            (&Method::GET, stripe::PATH) => Emulation::Stripe,
            (&Method::GET, hubspot::PATH) | (&Method::POST, hubspot::SEARCH) => Emulation::HubSpot,
            (&Method::GET, zendesk::PATH) => Emulation::Zendesk,
            (&Method::GET, path) if salesforce::routes(path) => Emulation::Salesforce,
            (&Method::GET, shopify::PATH) => Emulation::Shopify,
            (&Method::GET, jira::PATH) => Emulation::Jira,
            (&Method::GET, odata::PATH) => Emulation::OData,
            _ => return None,
        };
        Some(api)
    }

    /// Whether requests to this emulation carry a body to read.
    pub(crate) fn reads_body(self, method: &Method) -> bool {
        self == Emulation::HubSpot && method == Method::POST
    }

    /// The "updated since" bound of a request, as Unix seconds, read from
    /// where and how this API takes it.
    pub(crate) fn since(
        self,
        path: &str,
        query: Option<&str>,
        body: &[u8],
    ) -> Result<Option<u64>, ApiError> {
        match self {
            Emulation::GitHub => instant_param(query, "since"),
            Emulation::Stripe => epoch_param(query, "created[gte]"),
            Emulation::HubSpot => hubspot::since(body),
            Emulation::Zendesk => epoch_param(query, "start_time"),
            Emulation::Salesforce => salesforce::since(path, query),
            Emulation::Shopify => shopify::since(query),
            Emulation::Jira => jira::since(query),
            Emulation::OData => odata::since(query),
        }
    }

    /// One page of the listing.
    pub(crate) fn serve(self, call: &Call<'_>, body: &[u8]) -> Result<DataPage, ApiError> {
        match self {
            Emulation::GitHub => super::link::serve(call),
            Emulation::Stripe => stripe::serve(call),
            Emulation::HubSpot => hubspot::serve(call, body),
            Emulation::Zendesk => zendesk::serve(call),
            Emulation::Salesforce => salesforce::serve(call),
            Emulation::Shopify => shopify::serve(call),
            Emulation::Jira => jira::serve(call),
            Emulation::OData => odata::serve(call),
        }
    }

    /// The rate-limit headers of this API for `admission` under `config`.
    pub(crate) fn limit_headers(
        self,
        config: &RateLimit,
        admission: Admission,
        wall: SystemTime,
        headers: &mut HeaderMap,
    ) {
        let limit = config.limit;
        let used = limit.saturating_sub(admission.remaining);
        let reset_epoch = wall
            .checked_add(admission.reset_in)
            .and_then(|at| at.duration_since(UNIX_EPOCH).ok())
            .map_or(u64::MAX, ceil_secs);
        let mut put = |name: &'static str, value: String| {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(HeaderName::from_static(name), value);
            }
        };
        match self {
            Emulation::GitHub => {
                put("x-ratelimit-limit", limit.to_string());
                put("x-ratelimit-remaining", admission.remaining.to_string());
                put("x-ratelimit-reset", reset_epoch.to_string());
                put("x-ratelimit-used", used.to_string());
                put("x-ratelimit-resource", "core".into());
            }
            Emulation::HubSpot => {
                put("x-hubspot-ratelimit-max", limit.to_string());
                put(
                    "x-hubspot-ratelimit-remaining",
                    admission.remaining.to_string(),
                );
                put(
                    "x-hubspot-ratelimit-interval-milliseconds",
                    config.window.as_millis().to_string(),
                );
            }
            Emulation::Zendesk => {
                put("x-rate-limit", limit.to_string());
                put("x-rate-limit-remaining", admission.remaining.to_string());
            }
            Emulation::Salesforce => {
                put("sforce-limit-info", format!("api-usage={used}/{limit}"));
            }
            Emulation::Shopify => {
                put("x-shopify-shop-api-call-limit", format!("{used}/{limit}"));
            }
            Emulation::Jira => {
                put("x-ratelimit-limit", limit.to_string());
                put("x-ratelimit-remaining", admission.remaining.to_string());
                // Jira sends the reset as an ISO 8601 timestamp.
                put("x-ratelimit-reset", format_rfc3339(reset_epoch));
            }
            Emulation::Stripe | Emulation::OData => {}
        }
    }

    /// The answer to a request over the limit, the way this API throttles:
    /// GitHub `403` with `X-RateLimit-Remaining: 0`, Salesforce `403
    /// REQUEST_LIMIT_EXCEEDED`, Shopify `429` with `Retry-After: 2.0`, Stripe
    /// and HubSpot a bare `429`, Zendesk, Jira and OData `429` with
    /// `Retry-After` in whole seconds. Counted in
    /// [`Stats::over_limit_429`](crate::Stats::over_limit_429) whatever the status.
    pub(crate) fn over_limit(self, reset_in: Duration, counters: &Counters) -> Response<Body> {
        Counters::bump(&counters.over_limit_429, 1);
        let secs = ceil_secs(reset_in).max(1);
        let (status, body, retry_after) = match self {
            Emulation::GitHub => (
                StatusCode::FORBIDDEN,
                r#"{"message":"API rate limit exceeded for installation.","documentation_url":"https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"}"#.to_owned(),
                None,
            ),
            Emulation::Salesforce => (
                StatusCode::FORBIDDEN,
                r#"[{"message":"TotalRequests Limit exceeded.","errorCode":"REQUEST_LIMIT_EXCEEDED"}]"#.to_owned(),
                None,
            ),
            Emulation::Shopify => (
                StatusCode::TOO_MANY_REQUESTS,
                r#"{"errors":"Exceeded 2 calls per second for api client. Reduce request rates to resume uninterrupted service."}"#.to_owned(),
                Some(format!("{secs}.0")),
            ),
            Emulation::Stripe => (
                StatusCode::TOO_MANY_REQUESTS,
                r#"{"error":{"type":"invalid_request_error","code":"rate_limit","message":"Too many requests hit the API too quickly."}}"#.to_owned(),
                None,
            ),
            Emulation::HubSpot => (
                StatusCode::TOO_MANY_REQUESTS,
                r#"{"status":"error","message":"You have reached your secondly limit.","errorType":"RATE_LIMIT","policyName":"SECONDLY"}"#.to_owned(),
                None,
            ),
            Emulation::Zendesk | Emulation::Jira | Emulation::OData => (
                StatusCode::TOO_MANY_REQUESTS,
                r#"{"error":"TooManyRequests","message":"Rate limit exceeded"}"#.to_owned(),
                Some(secs.to_string()),
            ),
        };
        let mut response = reply::json(status, body);
        if let Some(value) = retry_after.and_then(|v| HeaderValue::from_str(&v).ok()) {
            response
                .headers_mut()
                .insert(http::header::RETRY_AFTER, value);
        }
        if self == Emulation::GitHub {
            response
                .headers_mut()
                .insert("x-ratelimit-remaining", HeaderValue::from_static("0"));
        }
        response
    }
}

/// The record's `updated_at` as Unix seconds (0 if it has none).
fn updated_secs(record: &str) -> u64 {
    const KEY: &str = "\"updated_at\":\"";
    record
        .find(KEY)
        .and_then(|at| {
            let rest = record.get(at + KEY.len()..)?;
            parse_instant(rest.get(..rest.find('"')?)?)
        })
        .unwrap_or(0)
}

/// The record's `id` (its leading `"id":N`), as text.
fn record_id(record: &str) -> &str {
    record
        .strip_prefix("{\"id\":")
        .and_then(|rest| rest.get(..rest.find(|c: char| !c.is_ascii_digit())?))
        .unwrap_or("0")
}

/// `YYYY-MM-DDTHH:MM:SS.000Z`: a timestamp with milliseconds.
fn millis_z(secs: u64) -> String {
    let text = format_rfc3339(secs);
    format!("{}.000Z", text.trim_end_matches('Z'))
}

/// A query parameter holding an RFC 3339 instant.
fn instant_param(query: Option<&str>, name: &str) -> Result<Option<u64>, ApiError> {
    match crate::params::param(query, name) {
        None => Ok(None),
        Some(raw) => parse_instant(&raw)
            .filter(|_| !raw.bytes().all(|b| b.is_ascii_digit()))
            .map(Some)
            .ok_or_else(|| bad_since(name, &raw, "an ISO 8601 timestamp")),
    }
}

/// A query parameter holding Unix seconds.
fn epoch_param(query: Option<&str>, name: &str) -> Result<Option<u64>, ApiError> {
    match crate::params::param(query, name) {
        None => Ok(None),
        Some(raw) => raw
            .parse::<u64>()
            .ok()
            // Milliseconds are a client bug this API would read as the far future.
            .filter(|secs| *secs < 100_000_000_000)
            .map(Some)
            .ok_or_else(|| bad_since(name, &raw, "Unix seconds")),
    }
}

fn bad_since(name: &str, raw: &str, want: &str) -> ApiError {
    ApiError::bad_request(
        "invalid_parameter",
        format!("{name} must be {want}, got {raw:?}"),
    )
}

/// The records of the listing rendered for `api`, as a JSON array.
fn push_rendered(out: &mut String, api: Emulation, page: &[String]) {
    out.push('[');
    for (i, record) in page.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&api.render(record));
    }
    out.push(']');
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn rendering_keeps_the_record_and_adds_the_api_fields() {
        let record = crate::Dataset::generate(3, 2).records()[1].clone();
        for api in Emulation::ALL {
            let text = api.render(&record);
            let value: serde_json::Value = serde_json::from_str(&text).unwrap();
            assert_eq!(value["id"], 2, "{api:?}");
            assert_eq!(Emulation::from_name(api.name()), Some(api));
        }
        let stripe: serde_json::Value =
            serde_json::from_str(&Emulation::Stripe.render(&record)).unwrap();
        assert_eq!(
            stripe["created"].as_u64(),
            parse_instant(stripe["updated_at"].as_str().unwrap())
        );
        let jira: serde_json::Value =
            serde_json::from_str(&Emulation::Jira.render(&record)).unwrap();
        assert_eq!(jira["key"], "HAUL-2");
    }
}
