//! Presets for well-known APIs: the pagination, record selector,
//! incremental "updated since" bound (parameter and time format) and
//! rate-limit header family each API documents, bundled so an embedder
//! writes the URL and the stream name and nothing else.
//!
//! | preset | pagination | records | incremental bound | throttling |
//! |---|---|---|---|---|
//! | [`github`] | `Link` header, `per_page=100` | the root array | `since` (RFC 3339) | `X-RateLimit-*`, `403` + `Remaining: 0` |
//! | [`stripe`] | `starting_after=<last id>`, `has_more`, `limit=100` | `/data` | `created[gte]` (epoch seconds) | `429` |
//! | [`hubspot`] | `/paging/next/after` (pre-encoded), `limit=100` | `/results` | — (the listing takes none) | `X-HubSpot-RateLimit-*` |
//! | [`zendesk`] | `/links/next` until `/meta/has_more` is false, `page[size]=100` | `/<resource>` | `start_time` (epoch seconds) | `X-Rate-Limit`, `429` + `Retry-After` |
//! | [`shopify`] | `Link` header with `page_info`, `limit=250` | `/<resource>` | `updated_at_min` (RFC 3339) | `X-Shopify-Shop-Api-Call-Limit`, `429` + `Retry-After` |
//! | [`salesforce`] | relative `/nextRecordsUrl` until it is absent (`done`) | `/records` | `SystemModstamp >= …` inside the SOQL | `Sforce-Limit-Info` |
//! | [`jira`] | `startAt` / `maxResults=100`, `total` | `/issues` or `/values` | `updated >= "yyyy/MM/dd HH:mm"` inside the JQL | `X-RateLimit-*`, `429` + `Retry-After` |
//! | [`odata`] | `/@odata.nextLink`, `$top=100` | `/value` | `$filter=lastModifiedDateTime ge …` | `429` + `Retry-After` |
//!
//! Every part stays overridable: [`Preset::map_paginator`] reaches the
//! paginator's own builder (`.page_size(…)`, `.records_at(…)`),
//! [`Preset::map_incremental`] the incremental settings (lookback, field),
//! [`Preset::rate_limiter`] the limiter; and anything set on the builder
//! after [`PresetExt::preset`] wins.
//!
//! ```
//! use haul::presets::{self, PresetExt};
//! use haul::{Extractor, MemorySink};
//! use std::time::Duration;
//! # use haul_testkit::{Dataset, Emulation, FakeApi};
//!
//! # tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(async {
//! # let server = FakeApi::builder().dataset(Dataset::generate(1, 250)).build().start().await?;
//! # let url = server.url(Emulation::GitHub.path()).to_string();
//! let extractor = Extractor::builder()
//!     .url(url) // https://api.github.com/repos/OWNER/REPO/issues?state=all
//!     .preset(
//!         presets::github()
//!             .map_paginator(|p| p.page_size("per_page", 50))
//!             .map_incremental(|i| i.lookback(Duration::from_secs(300))),
//!     )
//!     .stream("issues")
//!     .build()?;
//! let sink = MemorySink::new();
//! assert_eq!(extractor.run(&sink).await?.records, 250);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::sync::Arc;

use haul_extractor::{BoundFormat, BoundPlacement, ExtractorBuilder, Incremental};
use haul_paginate::{
    CursorPaginator, LastRecordCursor, LinkHeaderPaginator, NextUrlPaginator, OffsetPaginator,
    Paginator,
};
use haul_ratelimit::{HeaderAdaptive, HeaderFamily, RateLimiter, VendorHeaders};

/// One API's configuration: a paginator of type `P` (with its record
/// selector and page size), an optional incremental bound, and a rate
/// limiter reading the API's header family. Apply it with
/// [`PresetExt::preset`] or [`Preset::apply`].
///
/// Cloning shares the limiter: extractors built from clones of one preset
/// share one rate budget, as requests to one API account do.
#[derive(Clone)]
#[must_use]
pub struct Preset<P> {
    name: &'static str,
    docs: &'static str,
    paginator: P,
    incremental: Option<Incremental>,
    limiter: Arc<dyn RateLimiter>,
}

impl<P> std::fmt::Debug for Preset<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Preset")
            .field("name", &self.name)
            .field("docs", &self.docs)
            .field("incremental", &self.incremental)
            .finish_non_exhaustive()
    }
}

impl<P: Paginator + 'static> Preset<P> {
    fn new(name: &'static str, docs: &'static str, paginator: P) -> Self {
        Self {
            name,
            docs,
            paginator,
            incremental: None,
            limiter: Arc::new(HeaderAdaptive::new()),
        }
    }

    fn family(mut self, family: HeaderFamily) -> Self {
        self.limiter = Arc::new(VendorHeaders::adaptive(family));
        self
    }

    fn incremental(mut self, incremental: Incremental) -> Self {
        self.incremental = Some(incremental);
        self
    }

    /// The API's short name (`"github"`).
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The API documentation this preset follows.
    pub fn docs(&self) -> &'static str {
        self.docs
    }

    /// The paginator.
    pub fn paginator(&self) -> &P {
        &self.paginator
    }

    /// The incremental configuration, if the preset has one.
    pub fn incremental_config(&self) -> Option<&Incremental> {
        self.incremental.as_ref()
    }

    /// Changes or replaces the paginator: `|p| p.page_size("per_page", 30)`.
    pub fn map_paginator<Q: Paginator + 'static>(self, f: impl FnOnce(P) -> Q) -> Preset<Q> {
        Preset {
            name: self.name,
            docs: self.docs,
            paginator: f(self.paginator),
            incremental: self.incremental,
            limiter: self.limiter,
        }
    }

    /// Changes the incremental configuration (lookback, watermark field…);
    /// no-op for a preset without one.
    pub fn map_incremental(mut self, f: impl FnOnce(Incremental) -> Incremental) -> Self {
        self.incremental = self.incremental.map(f);
        self
    }

    /// Sets (or replaces) the incremental configuration.
    pub fn with_incremental(mut self, incremental: Incremental) -> Self {
        self.incremental = Some(incremental);
        self
    }

    /// Full passes only: drops the incremental configuration.
    pub fn without_incremental(mut self) -> Self {
        self.incremental = None;
        self
    }

    /// Replaces the rate limiter (pass an `Arc` to share one).
    pub fn rate_limiter(mut self, limiter: impl RateLimiter + 'static) -> Self {
        self.limiter = Arc::new(limiter);
        self
    }

    /// Sets the paginator, the rate limiter and the incremental
    /// configuration (if any) on `builder`; later builder calls override them.
    pub fn apply(self, builder: ExtractorBuilder) -> ExtractorBuilder {
        let builder = builder.paginator(self.paginator).rate_limiter(self.limiter);
        match self.incremental {
            Some(incremental) => builder.incremental(incremental),
            None => builder,
        }
    }
}

/// `ExtractorBuilder::preset`: applies a [`Preset`] in a builder chain.
pub trait PresetExt: Sized {
    /// Applies `preset` (see [`Preset::apply`]).
    fn preset<P: Paginator + 'static>(self, preset: Preset<P>) -> Self;
}

impl PresetExt for ExtractorBuilder {
    fn preset<P: Paginator + 'static>(self, preset: Preset<P>) -> Self {
        preset.apply(self)
    }
}

/// GitHub REST API list endpoints (issues, pulls, commits, repos…).
///
/// - pagination: the `Link` header's `rel="next"`, `per_page=100` (the maximum);
/// - records: the root array;
/// - incremental: `since` as an ISO 8601 timestamp on the `updated_at` field
///   (issues, comments, notifications);
/// - throttling: `X-RateLimit-Limit` / `-Remaining` / `-Reset` (epoch
///   seconds); an exhausted budget answers **403** with
///   `X-RateLimit-Remaining: 0`, waited out until the reset; secondary
///   limits send `Retry-After`.
///
/// Follows <https://docs.github.com/en/rest/using-the-rest-api/using-pagination-in-the-rest-api>,
/// <https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api> and
/// <https://docs.github.com/en/rest/issues/issues#list-repository-issues> (`since`).
pub fn github() -> Preset<LinkHeaderPaginator> {
    Preset::new(
        "github",
        "https://docs.github.com/en/rest/using-the-rest-api/using-pagination-in-the-rest-api",
        LinkHeaderPaginator::new().page_size("per_page", 100),
    )
    .incremental(Incremental::new("/updated_at", "since"))
}

/// Stripe list endpoints (`/v1/customers`, `/v1/charges`…).
///
/// - pagination: `starting_after=<id of the last record>` while `has_more`
///   is true, `limit=100` (the maximum);
/// - records: `/data`;
/// - incremental: `created[gte]` in epoch seconds on the `created` field
///   (Stripe lists filter on creation time only: updates to older objects
///   need the Events API);
/// - throttling: `429` (no rate-limit headers): retried with backoff.
///
/// Follows <https://docs.stripe.com/api/pagination>,
/// <https://docs.stripe.com/api/customers/list> (`created`) and
/// <https://docs.stripe.com/rate-limits>.
pub fn stripe() -> Preset<LastRecordCursor> {
    Preset::new(
        "stripe",
        "https://docs.stripe.com/api/pagination",
        LastRecordCursor::new("/id", "starting_after")
            .has_more_at("/has_more")
            .records_at("/data")
            .page_size("limit", 100),
    )
    .incremental(Incremental::new("/created", "created[gte]").format(BoundFormat::EpochSeconds))
}

/// HubSpot CRM v3 object listings (`GET /crm/v3/objects/contacts`…).
///
/// - pagination: the cursor at `/paging/next/after`, sent as `after`
///   **as it came** (HubSpot may hand it out already percent-encoded;
///   encoding it again breaks it), `limit=100` (the maximum); no `paging`
///   on the last page;
/// - records: `/results`;
/// - incremental: none — the listing takes no "updated since" filter; use
///   HubSpot's search endpoint (`POST …/search`, `hs_lastmodifieddate GTE
///   <epoch ms>` in the body) with `Incremental::placed` and
///   `BoundPlacement::body`;
/// - throttling: `X-HubSpot-RateLimit-Max` / `-Remaining` /
///   `-Interval-Milliseconds`, and `429`.
///
/// Follows <https://developers.hubspot.com/docs/api/crm/understanding-the-crm>
/// and <https://developers.hubspot.com/docs/api/usage-details>.
pub fn hubspot() -> Preset<CursorPaginator> {
    Preset::new(
        "hubspot",
        "https://developers.hubspot.com/docs/api/crm/understanding-the-crm",
        CursorPaginator::new("/paging/next/after", "after")
            .cursor_pre_encoded(true)
            .records_at("/results")
            .page_size("limit", 100),
    )
    .family(HeaderFamily::HubSpot)
}

/// Zendesk Support list endpoints with cursor pagination
/// (`/api/v2/tickets`, `/api/v2/users`…); `resource` names the array
/// (`"tickets"`).
///
/// - pagination: follow `/links/next` until `/meta/has_more` is false (the
///   last page still carries a next link and an `after_cursor`),
///   `page[size]=100` (the maximum);
/// - records: `/<resource>`;
/// - incremental: `start_time` in epoch seconds on `updated_at`, the bound
///   Zendesk's incremental exports take;
/// - throttling: `X-Rate-Limit` / `X-Rate-Limit-Remaining`, and `429` with
///   `Retry-After`.
///
/// Follows <https://developer.zendesk.com/api-reference/introduction/pagination/#using-cursor-pagination>,
/// <https://developer.zendesk.com/api-reference/ticketing/ticket-management/incremental_exports/>
/// and <https://developer.zendesk.com/api-reference/introduction/rate-limits/>.
pub fn zendesk(resource: &str) -> Preset<NextUrlPaginator> {
    Preset::new(
        "zendesk",
        "https://developer.zendesk.com/api-reference/introduction/pagination/",
        NextUrlPaginator::new("/links/next")
            .has_more_at("/meta/has_more")
            .records_at(format!("/{resource}"))
            .page_size("page[size]", 100),
    )
    .family(HeaderFamily::Zendesk)
    .incremental(
        Incremental::new("/updated_at", "start_time").bound_format(BoundFormat::EpochSeconds),
    )
}

/// Shopify Admin REST list endpoints (`/admin/api/<version>/products.json`…);
/// `resource` names the array (`"products"`).
///
/// - pagination: the `Link` header's `rel="next"`, whose URL carries an
///   opaque `page_info` and the `limit` and must be followed as is (other
///   filters may not be repeated), `limit=250` (the maximum);
/// - records: `/<resource>`;
/// - incremental: `updated_at_min` as ISO 8601 on `updated_at`;
/// - throttling: the leaky bucket `X-Shopify-Shop-Api-Call-Limit: 32/40`
///   (2 calls a second drain), and `429` with `Retry-After: 2.0`.
///
/// Follows <https://shopify.dev/docs/api/usage/pagination-rest> and
/// <https://shopify.dev/docs/api/usage/rate-limits>.
pub fn shopify(resource: &str) -> Preset<LinkHeaderPaginator> {
    Preset::new(
        "shopify",
        "https://shopify.dev/docs/api/usage/pagination-rest",
        LinkHeaderPaginator::new()
            .records_at(format!("/{resource}"))
            .page_size("limit", 250),
    )
    .family(HeaderFamily::ShopifyBucket { leak_per_second: 2 })
    .incremental(Incremental::new("/updated_at", "updated_at_min"))
}

/// Salesforce REST queries (`GET /services/data/vXX.X/query?q=<SOQL>`).
///
/// - pagination: the **relative** `/nextRecordsUrl`, resolved against the
///   page's URL, until it is absent (`done: true`); the batch size is the
///   `Sforce-Query-Options: batchSize=` header's;
/// - records: `/records`;
/// - incremental: inside the SOQL: `q` becomes `<select_from> WHERE
///   SystemModstamp >= <RFC 3339> ORDER BY SystemModstamp`, on the
///   `SystemModstamp` field (`select_from` is the query without `WHERE` or
///   `ORDER BY`, and the same as the first request's `q`);
/// - throttling: `Sforce-Limit-Info: api-usage=<used>/<limit>`; an
///   exhausted daily allowance is a `403 REQUEST_LIMIT_EXCEEDED`, which no
///   wait fixes.
///
/// Follows <https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_query.htm>,
/// <https://developer.salesforce.com/docs/atlas.en-us.soql_sosl.meta/soql_sosl/sforce_api_calls_soql_select_dateformats.htm>
/// and <https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/headers_api_usage.htm>.
pub fn salesforce(select_from: &str) -> Preset<NextUrlPaginator> {
    Preset::new(
        "salesforce",
        "https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_query.htm",
        NextUrlPaginator::new("/nextRecordsUrl").records_at("/records"),
    )
    .family(HeaderFamily::Salesforce)
    .incremental(Incremental::placed(
        "/SystemModstamp",
        BoundPlacement::query("q").template(format!(
            "{} WHERE SystemModstamp >= {{bound}} ORDER BY SystemModstamp",
            select_from.trim()
        )),
    ))
}

/// Jira Cloud REST issue search (`GET /rest/api/3/search?jql=…`), and with
/// `.map_paginator(|p| p.records_at("/values"))` the endpoints that list
/// `values` (projects, boards…).
///
/// - pagination: `startAt` (0-based) advanced by the records received
///   (Jira may return fewer than `maxResults` without being at the end),
///   `maxResults=100`, until `startAt + received ≥ total`;
/// - records: `/issues`;
/// - incremental: inside the JQL: `jql` becomes `<jql> AND updated >=
///   "yyyy/MM/dd HH:mm"` (minutes, rounded down; JQL reads dates in the API
///   user's time zone: keep that user on UTC), on the `fields.updated` field
///   (`jql` is the first request's, without `ORDER BY`);
/// - throttling: `X-RateLimit-*` and `429` with `Retry-After`.
///
/// Follows <https://developer.atlassian.com/cloud/jira/platform/rest/v3/intro/#pagination>,
/// <https://support.atlassian.com/jira-software-cloud/docs/jql-fields/#Updated>
/// and <https://developer.atlassian.com/cloud/jira/platform/rate-limiting/>.
pub fn jira(jql: &str) -> Preset<OffsetPaginator> {
    let jql = jql.trim().to_owned();
    Preset::new(
        "jira",
        "https://developer.atlassian.com/cloud/jira/platform/rest/v3/intro/#pagination",
        OffsetPaginator::new("startAt")
            .limit("maxResults", 100)
            .total_at("/total")
            .records_at("/issues"),
    )
    .incremental(Incremental::placed(
        "/fields/updated",
        BoundPlacement::custom(move |request, bound| {
            let clause = format!("updated >= \"{}\"", jql_minutes(bound));
            let full = match jql.is_empty() {
                true => clause,
                false => format!("{jql} AND {clause}"),
            };
            request.set_query("jql", &full);
        }),
    ))
}

/// An RFC 3339 UTC bound (`2026-01-01T00:00:30Z`) as JQL's `2026/01/01 00:00`:
/// rounded down to the minute, so never later than the bound.
fn jql_minutes(bound: &str) -> String {
    match (
        bound.get(0..4),
        bound.get(5..7),
        bound.get(8..10),
        bound.get(11..16),
    ) {
        (Some(y), Some(m), Some(d), Some(hm)) => format!("{y}/{m}/{d} {hm}"),
        _ => bound.to_owned(),
    }
}

/// OData v4 services, Microsoft Graph among them (`/v1.0/users`…).
///
/// - pagination: follow `/@odata.nextLink` (absolute, carrying a
///   `$skiptoken`) until it is absent; `$top=100`;
/// - records: `/value`;
/// - incremental: `$filter=lastModifiedDateTime ge <RFC 3339>` on the
///   `lastModifiedDateTime` field (Graph's name; other services name it
///   otherwise: `with_incremental` replaces it);
/// - throttling: `429` with `Retry-After`.
///
/// Follows <https://learn.microsoft.com/en-us/graph/paging>,
/// <https://learn.microsoft.com/en-us/graph/filter-query-parameter>,
/// <https://docs.oasis-open.org/odata/odata/v4.01/odata-v4.01-part1-protocol.html#sec_ServerDrivenPaging>
/// and <https://learn.microsoft.com/en-us/graph/throttling>.
pub fn odata() -> Preset<NextUrlPaginator> {
    Preset::new(
        "odata",
        "https://learn.microsoft.com/en-us/graph/paging",
        NextUrlPaginator::new("/@odata.nextLink")
            .records_at("/value")
            .page_size("$top", 100),
    )
    .incremental(Incremental::placed(
        "/lastModifiedDateTime",
        BoundPlacement::query("$filter").template("lastModifiedDateTime ge {bound}"),
    ))
}
