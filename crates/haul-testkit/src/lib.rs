//! A deterministic fake HTTP API for haul's tests, demo and benchmarks.
//!
//! [`Dataset::generate`] builds a seed-determined list of JSON records, each
//! rendered once, with the traps real APIs set: non-ASCII names, escaped
//! quotes, backslashes and newlines, integers above 2^53, and many records
//! sharing one `updated_at`. [`FakeApi`] serves them over HTTP/1.1 on
//! `127.0.0.1` in every pagination style real APIs use, injects seeded
//! [`Faults`], enforces an optional [`RateLimit`], and counts what it served
//! in [`Stats`]. Its data can change between runs
//! ([`RunningServer::mutate`]), its data endpoints can require credentials
//! ([`AuthRequirement`], with an OAuth2 token endpoint), and it records the
//! credentials each request carried ([`RunningServer::seen_credentials`]).
//!
//! # Endpoints
//!
//! Every pagination endpoint serves the same records, verbatim and in id
//! order, as the window `[start, start + size)`. The page size defaults to
//! the configured default and is clamped to the maximum; `0` or a non-number
//! is a 400. Errors are `{"error":"<code>","message":"<text>"}` (400 codes:
//! `invalid_limit`, `invalid_cursor`, `invalid_page`, `invalid_parameter`,
//! `invalid_request`); unknown paths and methods are 404 `not_found`.
//! Cursors are `c_<lowercase hex offset>`; only ones the server could have
//! issued are accepted.
//!
//! | request | response | end |
//! |---|---|---|
//! | `GET /items?limit=&cursor=` | `{"data":[…],"next_cursor":"c_…"}` | `"next_cursor":null` |
//! | `GET /last-record?limit=&starting_after=<id>` | `{"object":"list","data":[…],"has_more":true,"url":"/last-record"}` | `"has_more":false` |
//! | `GET /header-cursor?limit=&cursor=` | `[…]` with header `X-Next-Cursor: c_…` | no header |
//! | `GET /next-url?limit=&skiptoken=` | `{"value":[…],"@odata.nextLink":"http://…/next-url?…&skiptoken=c_…"}` | no `@odata.nextLink` key |
//! | `GET /link?per_page=&page=` | `[…]` with a GitHub `Link` header | no `rel="next"`; no header at all on a single page |
//! | `GET /offset?offset=&limit=` | `{"results":[…],"total":N}` | an empty page, or `offset >= total` |
//! | `GET /page?page=&page_size=&base=` | `{"items":[…],"page":p,"total_pages":T}` | an empty page, or past `T` |
//! | `POST /graphql` | `{"data":{"items":{"nodes":[…],"pageInfo":{"hasNextPage":true,"endCursor":"c_…"}}}}` | `"hasNextPage":false` |
//!
//! Every pagination endpoint takes `updated_since=<RFC 3339 or Unix
//! seconds>` (or `updated_since_ms=<Unix milliseconds>`): it then pages
//! through only the records whose `updated_at` is at or after it, still in
//! id order, and cursors, offsets and page numbers
//! count within that view (at `/last-record`, `starting_after=<id>` starts
//! after that id). A bad value is a 400 `invalid_parameter`.
//!
//! Details:
//!
//! - `/last-record`: record ids are `index + 1`; `starting_after` must be
//!   an existing id.
//! - `/next-url`: the link keeps every other query parameter; `&relative=1`
//!   makes it relative (`/next-url?…`, Salesforce-style).
//! - `/link`: pages start at 1; the header lists `prev`, `next`, `last`,
//!   `first` in that order (`prev` and `first` from page 2 on, `last` before
//!   the last page), as absolute URLs keeping the other query parameters.
//! - Absolute links point to this server, or to the
//!   [`link_base`](FakeApiBuilder::link_base) if set, and leave out a
//!   required API-key query parameter (the client adds it per request).
//! - `/offset`: `&total=first` sends `total` only with `offset=0`,
//!   `&total=none` never (the end is then an empty page).
//! - `/page`: `&base=0` counts pages from 0 (default 1); `T` is
//!   `ceil(len / page_size)`; `&total=none` leaves `total_pages` out.
//! - `/graphql`: the body is `{"query":"…","variables":{"first":N,
//!   "after":"c_…"|null}}` (the query text is ignored); `endCursor` is null
//!   on an empty page.
//!
//! Misbehaviour switches, on the cursor and link styles (`/items`,
//! `/last-record`, `/header-cursor`, `/next-url`, `/link`, `/graphql` — for
//! GraphQL in the URL's query), and carried along in generated links:
//!
//! - `cycle_at=k` (`k >= 2`): page `k` points back to page 2 (the cursor
//!   page 1 handed out), a cycle; `k = 2` points to itself. At `/last-record`
//!   page `k` serves page 1's records again with `has_more: true`.
//! - `repeat_last=1`: the last page hands back its own cursor or link
//!   (`c_0` or `page=1` when it is also the first page) instead of ending.
//!   At `/last-record` the last page says `has_more: true` and
//!   `starting_after=<last id>` serves it again (not possible when empty).
//! - `fail_at=k[&fail_status=s]` (`k >= 1`): page `k` answers status `s`
//!   (any 4xx or 5xx, default 500) every time, with the JSON error code
//!   `injected_failure`, counted in [`Stats::failed_pages`]: a server that
//!   fails permanently at page `k`, behind retries or not.
//! - `endless=1`: after the real end, every page is empty and still hands
//!   out a fresh cursor or link (a new offset each time; at `/last-record`
//!   `has_more: true`), forever — an API that never ends.
//! - `no_content_at=k` (`k >= 1`): page `k` answers `204 No Content` with
//!   no body, keeping the style's headers (`Link`, `X-Next-Cursor`), as if
//!   the listing ended there; `empty_at=k`: page `k` answers `200` with no
//!   records, everything else (cursor, total) as usual. With `once=1` only
//!   the first request for that page does (a transient hiccup); counted in
//!   [`Stats::holes`]. These three also apply to `/offset` and `/page`,
//!   where pages count windows of the served size.
//!
//! Past the end, `/offset` and `/page` take `past_end=404`: a window past
//! the data answers `404 {"error":"invalid_page","message":"Invalid page."}`
//! as Django REST framework does; `/page?total=count` sends DRF's `"count":N`
//! (records) instead of `total_pages`. With
//! [`max_page_size`](FakeApiBuilder::max_page_size) below the size asked
//! for, that is DRF's `max_page_size` clamp. Requests for a window past the
//! end of the data are counted in [`Stats::past_end`].
//!
//! Probes, never faulted, rate limited or authenticated: `GET /bytes?n=N[&chunked=true]`
//! streams `N` bytes of `x`; `GET /slow?ms=M` answers `{}` after `M` ms;
//! `GET /redirect?to=<url>[&status=301|302|303|307|308]` answers that
//! redirect (default 302) to `<url>` verbatim.
//!
//! # A parent/child API
//!
//! [`FakeApiBuilder::org_tree`] adds a GitHub-shaped API of three levels
//! and a time-filtered log, generated by [`OrgTree::generate`], for
//! connectors (streams whose partitions come from a parent's records) and
//! windowed backfills. Every endpoint pages like `/link` (`per_page`,
//! `page`, a `Link` header, its misbehaviour switches) and goes through
//! the same faults, rate limit and throttle as the others:
//!
//! | request | records |
//! |---|---|
//! | `GET /orgs` | the organisations |
//! | `GET /orgs/{org}/repos` | the organisation's repositories (1 to 150 by default) |
//! | `GET /orgs/{org}/repos/{repo}/events` | the repository's events, newest first; `404 not_found` for the [deleted](TreeRepo::is_deleted) one |
//! | `GET /audit-log?since=&until=` | entries with `since <= created_at < until` (RFC 3339 or Unix seconds; each optional) |
//!
//! Path segments are percent-decoded (some repository names are not
//! ASCII); an unknown organisation or repository is a `404`.
//!
//! # Emulated APIs
//!
//! Each [`Emulation`] serves the same records the way one well-known API
//! documents it — its path, parameters, envelope, "updated since" filter,
//! rate-limit headers and way of throttling — for testing presets end to end:
//!
//! | API | request | response | since | over the limit |
//! |---|---|---|---|---|
//! | GitHub | `GET /repos/haul-rs/haul/issues?per_page=&page=` | `/link`'s array and `Link` header | `since` (RFC 3339) | `403`, `X-RateLimit-Remaining: 0` |
//! | Stripe | `GET /v1/customers?limit=&starting_after=` | `{"object":"list","data","has_more","url"}` | `created[gte]` (epoch s) | `429` |
//! | HubSpot | `GET /crm/v3/objects/contacts?limit=&after=`, `POST …/search` | `{"results","paging":{"next":{"after","link"}}}`, `after` percent-encoded | search body: `hs_lastmodifieddate GTE <epoch ms>` | `429`; `X-HubSpot-RateLimit-*` |
//! | Zendesk | `GET /api/v2/tickets?page[size]=&page[after]=` | `{"tickets","meta":{"has_more",…},"links":{"next",…}}`, a next link on the last page too | `start_time` (epoch s) | `429` + `Retry-After`; `X-Rate-Limit*` |
//! | Salesforce | `GET /services/data/v60.0/query?q=SELECT…` | `{"totalSize","done","records","nextRecordsUrl"}` (relative) | `SystemModstamp >= <datetime>` in the SOQL | `403 REQUEST_LIMIT_EXCEEDED`; `Sforce-Limit-Info` |
//! | Shopify | `GET /admin/api/2024-01/products.json?limit=` | `{"products"}`, `Link` with `page_info` (no other filter beside it) | `updated_at_min` (RFC 3339) | `429` + `Retry-After: 2.0`; `X-Shopify-Shop-Api-Call-Limit` |
//! | Jira | `GET /rest/api/3/search?jql=&startAt=&maxResults=` | `{"startAt","maxResults","total","isLast","issues"}`, at most 37 a page | `updated >= "yyyy/MM/dd HH:mm"` in the JQL | `429` + `Retry-After`; `X-RateLimit-*` |
//! | OData | `GET /v1.0/users?$top=` | `{"@odata.context","value","@odata.nextLink"}` | `$filter=lastModifiedDateTime ge <RFC 3339>` | `429` + `Retry-After` |
//!
//! Some APIs add fields of their own to each record; [`Emulation::render`]
//! says how a dataset record appears. The rate-limit headers and the answer
//! over the limit follow the API when a [`RateLimit`] is configured.
//!
//! # Credentials
//!
//! [`FakeApiBuilder::require_auth`] makes the pagination endpoints answer
//! `401` (with a `WWW-Authenticate` challenge for the `Authorization`
//! schemes) unless a request carries the [`AuthRequirement`]: a bearer
//! token, HTTP Basic, an API key in a header or the query, or an OAuth2
//! token this server issued. `POST /oauth/token` implements the client
//! credentials grant for the [`OAuthClient`] configured with
//! [`FakeApiBuilder::oauth_client`] (form fields or HTTP Basic), issuing
//! tokens that expire on tokio's clock and that
//! [`RunningServer::revoke_tokens`] invalidates at once.
//!
//! Every request carrying something that looks like a credential is kept,
//! with the raw values, in [`RunningServer::seen_credentials`]. A trap
//! server is a second `FakeApi`: point the first one's next links at it
//! with [`FakeApiBuilder::link_base`], or redirect to it through
//! `/redirect`, and assert that it saw no credentials.
//!
//! # Faults and rate limits
//!
//! [`FakeApiBuilder::faults`] injects [`Faults`] into data requests, each
//! decided by a pure function of the seed and the request's arrival number;
//! [`FakeApiBuilder::rate_limit`] adds `X-RateLimit-*` headers to every data
//! response and a `429` beyond the limit. [`Stats`] tells injected faults
//! and over-limit 429s apart. [`FakeApiBuilder::throttle`] adds a limit
//! that advertises nothing, a sliding window answering only `429` with
//! `Retry-After` (Django REST framework's throttles), whose limit can change
//! mid-run through [`RunningServer::throttle`].
//!
//! # Example
//!
//! ```
//! use haul_testkit::{Dataset, FakeApi};
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
//! let dataset = Dataset::generate(7, 250);
//! let server = FakeApi::builder()
//!     .dataset(dataset.clone())
//!     .default_page_size(100)
//!     .build()
//!     .start()
//!     .await?;
//! assert_eq!(server.url("/items?limit=2").path(), "/items");
//!
//! // Any HTTP client works; a raw request keeps this example dependency-free.
//! let mut stream = tokio::net::TcpStream::connect(server.addr()).await?;
//! stream
//!     .write_all(b"GET /items?limit=2 HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
//!     .await?;
//! let mut response = String::new();
//! stream.read_to_string(&mut response).await?;
//! let expected = format!(
//!     "{{\"data\":[{},{}],\"next_cursor\":\"c_2\"}}",
//!     dataset.records()[0],
//!     dataset.records()[1],
//! );
//! assert!(response.ends_with(&expected));
//!
//! assert_eq!(server.stats().pages_served, 1);
//! server.shutdown().await;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod auth;
mod body;
mod dataset;
mod endpoints;
mod faults;
mod inject;
mod instant;
mod live;
mod params;
mod proxy;
mod ratelimit;
mod reply;
mod rng;
mod routes;
mod seen;
mod server;
pub mod services;
mod stats;
mod throttle;
mod tls;
mod tree;

pub use auth::{AuthRequirement, OAuthClient};
pub use dataset::{Dataset, Mutation};
pub use endpoints::presets::Emulation;
pub use faults::{FaultKind, Faults, RetryAfterStyle};
pub use proxy::{ForwardProxy, ProxiedRequest};
pub use ratelimit::{RateLimit, ResetStyle};
pub use seen::{CredentialPlace, SeenCredential, SeenRequest};
pub use server::{FakeApi, FakeApiBuilder, RunningServer};
pub use stats::Stats;
pub use throttle::{Throttle, ThrottleHandle};
pub use tls::{CertifiedPem, ServerTls, TestPki};
pub use tree::{OrgTree, TreeOrg, TreeRepo, TreeShape};
