//! The spec's shape: the serde (and JSON Schema) types of every section.
//!
//! Every table denies unknown keys. Values that may hold templates keep
//! their span, so a template naming an unknown value is reported where it
//! is written.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;
use toml::Spanned;

/// A string that keeps where it was written.
pub(crate) type Text = Spanned<String>;

/// The top-level keys, in the order they are documented.
pub(crate) const TOP_KEYS: &[&str] = &[
    "version", "name", "inputs", "source", "defaults", "streams", "sink",
];

/// A whole spec, as JSON Schema sees it (the loader reads it section by
/// section so that one bad section does not hide the errors of the others).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // Read section by section; this type describes the whole for the schema.
pub(crate) struct SpecFile {
    /// The spec format version: `1`.
    pub(crate) version: u32,
    /// The connector's name (ASCII letters, digits, `_-.`): keys its run state.
    pub(crate) name: String,
    /// Typed inputs, filled from `--set NAME=VALUE`, the environment or a default.
    #[serde(default)]
    pub(crate) inputs: BTreeMap<String, InputDef>,
    /// The API: base URL, headers, auth, retry, rate limit, timeouts, limits.
    pub(crate) source: SourceDef,
    /// Settings every stream inherits unless it sets its own.
    #[serde(default)]
    pub(crate) defaults: Option<StreamDefaults>,
    /// The streams, by name.
    pub(crate) streams: BTreeMap<String, StreamSpec>,
    /// Where records go (default: SQLite `<name>.db`).
    #[serde(default)]
    pub(crate) sink: Option<SinkDef>,
}

/// The type of an input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum InputType {
    /// Any text.
    String,
    /// A whole number.
    Integer,
    /// An RFC 3339 date-time (`2024-01-01T00:00:00Z`).
    Datetime,
    /// A credential: only from the environment or a file, never inline,
    /// never printed; usable only in `source.auth`.
    Secret,
}

impl std::fmt::Display for InputType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            InputType::String => "string",
            InputType::Integer => "integer",
            InputType::Datetime => "datetime",
            InputType::Secret => "secret",
        })
    }
}

/// One input.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct InputDef {
    /// Its type.
    #[serde(rename = "type")]
    pub(crate) kind: InputType,
    /// The value when neither `--set` nor the environment gives one (not for secrets).
    #[serde(default)]
    #[schemars(with = "Option<serde_json::Value>")]
    pub(crate) default: Option<Spanned<toml::Value>>,
    /// The environment variable to read (default `HAUL_INPUT_<NAME>`).
    #[serde(default)]
    pub(crate) env: Option<String>,
    /// Secrets only: a file holding the value (trailing newline trimmed).
    #[serde(default)]
    pub(crate) file: Option<String>,
    /// What the input is for.
    #[serde(default)]
    #[allow(dead_code)] // Documentation for humans and editors.
    pub(crate) description: Option<String>,
}

/// The API every stream talks to.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SourceDef {
    /// Absolute base URL (`https://api.github.com`); stream paths are appended.
    #[schemars(with = "String")]
    pub(crate) base_url: Text,
    /// Headers sent on every request.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, String>")]
    pub(crate) headers: BTreeMap<String, Text>,
    /// Credentials, sent only to the base URL's origin.
    #[serde(default)]
    pub(crate) auth: Option<AuthDef>,
    /// Allow credentials over plain `http` to a non-loopback host.
    #[serde(default)]
    pub(crate) allow_insecure_http: bool,
    /// Retries of transient failures (429, 5xx, timeouts).
    #[serde(default)]
    pub(crate) retry: Option<RetryDef>,
    /// Pacing and header-adaptive throttling.
    #[serde(default)]
    pub(crate) rate_limit: Option<RateLimitDef>,
    /// Connect, read and whole-request timeouts.
    #[serde(default)]
    pub(crate) timeouts: Option<TimeoutsDef>,
    /// Size limits.
    #[serde(default)]
    pub(crate) limits: Option<LimitsDef>,
    /// At most this many requests in flight across all streams (default 8).
    #[serde(default)]
    pub(crate) max_in_flight: Option<usize>,
    /// At most this many partitions started and not ended (default twice `max_in_flight`).
    #[serde(default)]
    pub(crate) max_active_partitions: Option<usize>,
    /// Stop every partition at the first failure (default: record it and go on).
    #[serde(default)]
    pub(crate) fail_fast: bool,
}

/// Credentials of every kind haul has. Secret fields must be
/// `"{input.NAME}"` of a `secret` input.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "AuthTable")]
pub(crate) enum AuthDef {
    /// `Authorization: Bearer <token>`.
    Bearer {
        /// The token: `"{input.NAME}"` of a secret input.
        token: Text,
    },
    /// HTTP Basic.
    Basic {
        /// The user name (may use string inputs).
        user: Text,
        /// The password: `"{input.NAME}"` of a secret input.
        password: Text,
    },
    /// An API key in a header or a query parameter (exactly one of them).
    ApiKey {
        /// Header to send the key in (`X-Api-Key`).
        header: Option<String>,
        /// Query parameter to send the key as (`api_key`); masked in every URL haul prints.
        query: Option<String>,
        /// The key: `"{input.NAME}"` of a secret input.
        key: Text,
    },
    /// OAuth 2.0 client credentials: tokens fetched and refreshed from `token_url`.
    Oauth2ClientCredentials {
        /// The token endpoint (absolute URL).
        token_url: Text,
        /// The client id (may use string inputs).
        client_id: Text,
        /// The client secret: `"{input.NAME}"` of a secret input.
        client_secret: Text,
        /// The scope to request.
        scope: Option<String>,
    },
}

/// The kinds of auth.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum AuthKind {
    /// `Authorization: Bearer <token>`: needs `token`.
    Bearer,
    /// HTTP Basic: needs `user` and `password`.
    Basic,
    /// An API key: needs `key` and one of `header` or `query`.
    ApiKey,
    /// OAuth 2.0 client credentials: needs `token_url`, `client_id`,
    /// `client_secret`; `scope` optional.
    Oauth2ClientCredentials,
}

/// `[source.auth]` as written: `type` and the options of that type.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AuthTable {
    /// The kind of credentials.
    #[serde(rename = "type")]
    kind: AuthKind,
    /// `bearer`: the token, `"{input.NAME}"` of a secret input.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    token: Option<Text>,
    /// `basic`: the user name.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    user: Option<Text>,
    /// `basic`: the password, `"{input.NAME}"` of a secret input.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    password: Option<Text>,
    /// `api_key`: the header to send it in.
    #[serde(default)]
    header: Option<String>,
    /// `api_key`: the query parameter to send it as (masked in every URL haul prints).
    #[serde(default)]
    query: Option<String>,
    /// `api_key`: the key, `"{input.NAME}"` of a secret input.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    key: Option<Text>,
    /// `oauth2_client_credentials`: the token endpoint.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    token_url: Option<Text>,
    /// `oauth2_client_credentials`: the client id.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    client_id: Option<Text>,
    /// `oauth2_client_credentials`: the client secret, `"{input.NAME}"` of a secret input.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    client_secret: Option<Text>,
    /// `oauth2_client_credentials`: the scope.
    #[serde(default)]
    scope: Option<String>,
}

/// Takes the options `kind` needs and refuses the others.
fn take_options(
    kind: &str,
    present: &[(&str, bool)],
    needed: &[&str],
    allowed: &[&str],
) -> Result<(), String> {
    for (name, is) in present {
        if *is && !needed.contains(name) && !allowed.contains(name) {
            let takes: Vec<String> = needed
                .iter()
                .chain(allowed)
                .map(|n| format!("`{n}`"))
                .collect();
            return Err(format!(
                "`{name}` is not an option of {kind}; it takes {}",
                takes.join(", ")
            ));
        }
    }
    for n in needed {
        if !present.iter().any(|(p, is)| p == n && *is) {
            return Err(format!("{kind} needs `{n}`"));
        }
    }
    Ok(())
}

impl TryFrom<AuthTable> for AuthDef {
    type Error = String;

    fn try_from(t: AuthTable) -> Result<Self, String> {
        let present = [
            ("token", t.token.is_some()),
            ("user", t.user.is_some()),
            ("password", t.password.is_some()),
            ("header", t.header.is_some()),
            ("query", t.query.is_some()),
            ("key", t.key.is_some()),
            ("token_url", t.token_url.is_some()),
            ("client_id", t.client_id.is_some()),
            ("client_secret", t.client_secret.is_some()),
            ("scope", t.scope.is_some()),
        ];
        let missing = || "a required option is missing".to_owned();
        match t.kind {
            AuthKind::Bearer => {
                take_options("auth type `bearer`", &present, &["token"], &[])?;
                Ok(AuthDef::Bearer {
                    token: t.token.ok_or_else(missing)?,
                })
            }
            AuthKind::Basic => {
                take_options("auth type `basic`", &present, &["user", "password"], &[])?;
                Ok(AuthDef::Basic {
                    user: t.user.ok_or_else(missing)?,
                    password: t.password.ok_or_else(missing)?,
                })
            }
            AuthKind::ApiKey => {
                take_options(
                    "auth type `api_key`",
                    &present,
                    &["key"],
                    &["header", "query"],
                )?;
                Ok(AuthDef::ApiKey {
                    header: t.header,
                    query: t.query,
                    key: t.key.ok_or_else(missing)?,
                })
            }
            AuthKind::Oauth2ClientCredentials => {
                take_options(
                    "auth type `oauth2_client_credentials`",
                    &present,
                    &["token_url", "client_id", "client_secret"],
                    &["scope"],
                )?;
                Ok(AuthDef::Oauth2ClientCredentials {
                    token_url: t.token_url.ok_or_else(missing)?,
                    client_id: t.client_id.ok_or_else(missing)?,
                    client_secret: t.client_secret.ok_or_else(missing)?,
                    scope: t.scope,
                })
            }
        }
    }
}

/// Exponential backoff with full jitter.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RetryDef {
    /// Attempts in all, the first included.
    #[serde(default)]
    pub(crate) max_attempts: Option<u32>,
    /// The first delay's ceiling (`"500ms"`).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub(crate) base: Option<Text>,
    /// No delay exceeds this (`"30s"`).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub(crate) cap: Option<Text>,
    /// Give up once this much time has passed since the first attempt (`"5m"`).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub(crate) max_elapsed: Option<Text>,
    /// Honour `Retry-After` up to this long.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub(crate) max_retry_after: Option<Text>,
}

/// Rate-limit header family read by the header-adaptive limiter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum HeadersFamily {
    /// `X-RateLimit-*`, IETF `RateLimit-*`, `Retry-After` (GitHub, most APIs).
    Standard,
    /// `X-HubSpot-RateLimit-*`.
    Hubspot,
    /// `X-Rate-Limit`, `X-Rate-Limit-Remaining`.
    Zendesk,
    /// `Sforce-Limit-Info`.
    Salesforce,
    /// `X-Shopify-Shop-Api-Call-Limit` (2 calls a second drain).
    Shopify,
    /// Read no rate-limit headers.
    None,
}

/// Proactive pacing and reactive throttling, combined.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RateLimitDef {
    /// Pace to at most this many requests a second.
    #[serde(default)]
    pub(crate) requests_per_second: Option<u32>,
    /// Or this many requests per `period`.
    #[serde(default)]
    pub(crate) requests: Option<u32>,
    /// The period of `requests` (`"1m"`).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub(crate) period: Option<Text>,
    /// Requests that may go at once above the pace.
    #[serde(default)]
    pub(crate) burst: Option<u32>,
    /// Which rate-limit headers to obey (default `standard`).
    #[serde(default)]
    pub(crate) headers: Option<HeadersFamily>,
    /// Slow down on 429/503 and probe back up (AIMD).
    #[serde(default)]
    pub(crate) adaptive: bool,
    /// At most this many requests in flight (a concurrency cap in the limiter).
    #[serde(default)]
    pub(crate) max_in_flight: Option<usize>,
}

/// Timeouts (`"10s"`, `"500ms"`).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TimeoutsDef {
    /// Connecting.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub(crate) connect: Option<Text>,
    /// Between two reads of the body.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub(crate) read: Option<Text>,
    /// One whole request.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub(crate) request: Option<Text>,
}

/// Size limits.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LimitsDef {
    /// Largest response body, in bytes.
    #[serde(default)]
    pub(crate) max_body_bytes: Option<u64>,
    /// Redirects followed.
    #[serde(default)]
    pub(crate) max_redirects: Option<usize>,
}

/// Settings merged into every stream (a stream's own value wins; `params`
/// and `headers` merge key by key).
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct StreamDefaults {
    /// Query parameters.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, serde_json::Value>")]
    pub(crate) params: BTreeMap<String, Spanned<toml::Value>>,
    /// Headers.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, String>")]
    pub(crate) headers: BTreeMap<String, Text>,
    /// Where the records are: a JSON pointer to an array (default: the root).
    #[serde(default)]
    pub(crate) records: Option<String>,
    /// Primary key: JSON pointers (`["/id"]`).
    #[serde(default)]
    pub(crate) primary_key: Option<Vec<String>>,
    /// How to page.
    #[serde(default)]
    pub(crate) paginator: Option<PaginatorDef>,
    /// Response rules, tried in order before the default classification.
    #[serde(default)]
    pub(crate) rules: Option<Vec<RuleDef>>,
    /// Records per committed batch.
    #[serde(default)]
    pub(crate) batch_size: Option<usize>,
    /// The max-pages guard per partition (exceeding it is an error).
    #[serde(default)]
    pub(crate) max_pages: Option<u64>,
}

/// One stream.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct StreamSpec {
    /// The path after the base URL (`/repos/{partition.owner}/{parent.repo}/issues`),
    /// or an absolute URL on the same origin.
    #[schemars(with = "String")]
    pub(crate) path: Text,
    /// `GET` (default) or `POST` (with a JSON `body`).
    #[serde(default)]
    pub(crate) method: Option<Method>,
    /// Query parameters (strings may hold templates; numbers are sent as written).
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, serde_json::Value>")]
    pub(crate) params: BTreeMap<String, Spanned<toml::Value>>,
    /// Headers (may hold templates).
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, String>")]
    pub(crate) headers: BTreeMap<String, Text>,
    /// A JSON body (POST), as a TOML table; strings may hold templates.
    #[serde(default)]
    #[schemars(with = "Option<serde_json::Value>")]
    pub(crate) body: Option<Spanned<toml::Value>>,
    /// Where the records are: a JSON pointer to an array (default: the root).
    #[serde(default)]
    pub(crate) records: Option<String>,
    /// Primary key: JSON pointers (`["/id"]`); records are upserted on it.
    #[serde(default)]
    pub(crate) primary_key: Option<Vec<String>>,
    /// How to page (default: from `defaults`, else a single page).
    #[serde(default)]
    pub(crate) paginator: Option<PaginatorDef>,
    /// Incremental extraction: a watermark per partition.
    #[serde(default)]
    pub(crate) incremental: Option<IncrementalDef>,
    /// Where the partitions come from (default: one).
    #[serde(default)]
    pub(crate) partitions: Option<PartitionsDef>,
    /// Response rules, tried in order before the default classification.
    #[serde(default)]
    pub(crate) rules: Option<Vec<RuleDef>>,
    /// Records per committed batch.
    #[serde(default)]
    pub(crate) batch_size: Option<usize>,
    /// The max-pages guard per partition (exceeding it is an error).
    #[serde(default)]
    pub(crate) max_pages: Option<u64>,
}

/// HTTP method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
pub(crate) enum Method {
    /// GET.
    #[serde(rename = "GET")]
    Get,
    /// POST with a JSON body.
    #[serde(rename = "POST")]
    Post,
}

/// Every built-in pagination style with its options.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(tag = "style", rename_all = "snake_case", deny_unknown_fields)]
pub(crate) enum PaginatorDef {
    /// One request, no paging.
    Single {},
    /// The `Link` header's `rel="next"` (GitHub, Shopify).
    LinkHeader {
        /// Page-size parameter name (`per_page`).
        #[serde(default)]
        page_size_param: Option<String>,
        /// Page size.
        #[serde(default)]
        page_size: Option<u64>,
        /// The relation to follow (default `next`).
        #[serde(default)]
        rel: Option<String>,
    },
    /// A next URL in the body (`/links/next`, `/nextRecordsUrl`, `/@odata.nextLink`).
    NextUrl {
        /// JSON pointer to the next URL (absolute or relative).
        next_url: String,
        /// JSON pointer to a "has more" boolean; `false` ends even with a next URL.
        #[serde(default)]
        has_more: Option<String>,
        /// Page-size parameter name.
        #[serde(default)]
        page_size_param: Option<String>,
        /// Page size.
        #[serde(default)]
        page_size: Option<u64>,
    },
    /// An opaque cursor in the body, sent back as a query parameter (HubSpot `after`).
    Cursor {
        /// JSON pointer to the cursor.
        cursor: String,
        /// The query parameter that carries it.
        param: String,
        /// JSON pointer to a "has more" boolean.
        #[serde(default)]
        has_more: Option<String>,
        /// Send the cursor as it came: it is already percent-encoded.
        #[serde(default)]
        pre_encoded: bool,
        /// Page-size parameter name.
        #[serde(default)]
        page_size_param: Option<String>,
        /// Page size.
        #[serde(default)]
        page_size: Option<u64>,
    },
    /// A cursor in a response header, sent back as a query parameter.
    HeaderCursor {
        /// The response header holding the cursor.
        header: String,
        /// The query parameter that carries it.
        param: String,
        /// Send the cursor as it came.
        #[serde(default)]
        pre_encoded: bool,
        /// Page-size parameter name.
        #[serde(default)]
        page_size_param: Option<String>,
        /// Page size.
        #[serde(default)]
        page_size: Option<u64>,
    },
    /// A field of the last record is the cursor (Stripe `starting_after=<id>`).
    LastRecord {
        /// JSON pointer into the last record (`/id`).
        field: String,
        /// The query parameter that carries it.
        param: String,
        /// JSON pointer to a "has more" boolean.
        #[serde(default)]
        has_more: Option<String>,
        /// Page-size parameter name.
        #[serde(default)]
        page_size_param: Option<String>,
        /// Page size.
        #[serde(default)]
        page_size: Option<u64>,
    },
    /// `offset` + `limit`.
    Offset {
        /// The offset parameter (`offset`, `startAt`).
        param: String,
        /// The limit parameter (`limit`, `maxResults`).
        limit_param: String,
        /// The limit.
        limit: u64,
        /// The first offset (default 0).
        #[serde(default)]
        start: Option<u64>,
        /// JSON pointer to the total number of records.
        #[serde(default)]
        total: Option<String>,
        /// JSON pointer to a "has more" boolean.
        #[serde(default)]
        has_more: Option<String>,
        /// A page shorter than the limit ends the listing.
        #[serde(default)]
        stop_on_short_page: Option<bool>,
    },
    /// Page numbers.
    PageNumber {
        /// The page parameter (`page`).
        param: String,
        /// The first page: 1 (default) or 0.
        #[serde(default)]
        first_page: Option<u64>,
        /// Page-size parameter name.
        #[serde(default)]
        page_size_param: Option<String>,
        /// Page size.
        #[serde(default)]
        page_size: Option<u64>,
        /// JSON pointer to the total number of pages.
        #[serde(default)]
        total_pages: Option<String>,
        /// JSON pointer to the total number of records.
        #[serde(default)]
        total: Option<String>,
        /// JSON pointer to a "has more" boolean.
        #[serde(default)]
        has_more: Option<String>,
        /// A page shorter than the page size ends the listing.
        #[serde(default)]
        stop_on_short_page: Option<bool>,
    },
}

/// Which options each paginator style takes (for "belongs to style" hints).
pub(crate) const STYLE_KEYS: &[(&str, &[&str])] = &[
    ("single", &[]),
    ("link_header", &["page_size_param", "page_size", "rel"]),
    (
        "next_url",
        &["next_url", "has_more", "page_size_param", "page_size"],
    ),
    (
        "cursor",
        &[
            "cursor",
            "param",
            "has_more",
            "pre_encoded",
            "page_size_param",
            "page_size",
        ],
    ),
    (
        "header_cursor",
        &[
            "header",
            "param",
            "pre_encoded",
            "page_size_param",
            "page_size",
        ],
    ),
    (
        "last_record",
        &["field", "param", "has_more", "page_size_param", "page_size"],
    ),
    (
        "offset",
        &[
            "param",
            "limit_param",
            "limit",
            "start",
            "total",
            "has_more",
            "stop_on_short_page",
        ],
    ),
    (
        "page_number",
        &[
            "param",
            "first_page",
            "page_size_param",
            "page_size",
            "total_pages",
            "total",
            "has_more",
            "stop_on_short_page",
        ],
    ),
];

/// Time formats of watermarks, bounds and windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum TimeFormatDef {
    /// RFC 3339 (`2026-01-01T00:00:30Z`).
    Rfc3339,
    /// RFC 3339 with milliseconds.
    Rfc3339Millis,
    /// Seconds since the epoch.
    EpochSeconds,
    /// Milliseconds since the epoch.
    EpochMillis,
}

/// Incremental extraction.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct IncrementalDef {
    /// JSON pointer to the record field that is the watermark (`/updated_at`).
    pub(crate) field: String,
    /// The query parameter that takes the lower bound (`since`).
    #[serde(default)]
    pub(crate) param: Option<String>,
    /// Or: a header that takes it.
    #[serde(default)]
    pub(crate) header: Option<String>,
    /// Or: a JSON pointer in the body that takes it.
    #[serde(default)]
    pub(crate) body: Option<String>,
    /// The parameter's value around the bound: `"… WHERE SystemModstamp >= {bound}"`.
    #[serde(default)]
    pub(crate) template: Option<String>,
    /// How the field and the bound are written (default `rfc3339`).
    #[serde(default)]
    pub(crate) format: Option<TimeFormatDef>,
    /// How the bound is written, when it differs from the field.
    #[serde(default)]
    pub(crate) bound_format: Option<TimeFormatDef>,
    /// Start this much before the watermark (`"5m"`); the overlap is removed by primary key.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub(crate) lookback: Option<Text>,
}

/// Where a stream's partitions come from.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "PartitionsTable")]
pub(crate) enum PartitionsDef {
    /// A fixed list.
    List {
        /// The partitions.
        values: Vec<BTreeMap<String, Text>>,
    },
    /// Half-open time windows.
    Windows {
        /// The first window's start.
        start: Text,
        /// The last window's end.
        end: Option<Text>,
        /// Window length.
        step: Text,
        /// How bounds are written.
        format: Option<TimeFormatDef>,
    },
    /// One partition per record of the parent stream.
    Parent {
        /// The parent stream.
        stream: Text,
        /// Values taken from each parent record.
        fields: BTreeMap<String, Text>,
    },
}

/// The kinds of partitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum PartitionsKind {
    /// A fixed list: `values = [{ org = "rust-lang" }, …]`.
    List,
    /// Time windows: `start`, `step`, optional `end` and `format`; values
    /// `{partition.start}` and `{partition.end}`.
    Windows,
    /// One partition per parent record: `stream`, `fields = { name = "/pointer" }`.
    Parent,
}

/// `partitions = { kind = …, … }` as written.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PartitionsTable {
    /// Where the partitions come from.
    kind: PartitionsKind,
    /// `list`: each entry is a table of values (`{ org = "rust-lang" }`).
    #[serde(default)]
    #[schemars(with = "Option<Vec<BTreeMap<String, String>>>")]
    values: Option<Vec<BTreeMap<String, Text>>>,
    /// `windows`: the first window's start (RFC 3339, or a datetime input).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    start: Option<Text>,
    /// `windows`: the last window's end (default: the time of the run).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    end: Option<Text>,
    /// `windows`: window length: `"3600s"`, `"1d"`, `"1mo"`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    step: Option<Text>,
    /// `windows`: how bounds are written (default `rfc3339`).
    #[serde(default)]
    format: Option<TimeFormatDef>,
    /// `parent`: the parent stream.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    stream: Option<Text>,
    /// `parent`: values taken from each parent record: name → JSON pointer (`{ repo = "/name" }`).
    #[serde(default)]
    #[schemars(with = "Option<BTreeMap<String, String>>")]
    fields: Option<BTreeMap<String, Text>>,
}

impl TryFrom<PartitionsTable> for PartitionsDef {
    type Error = String;

    fn try_from(t: PartitionsTable) -> Result<Self, String> {
        let present = [
            ("values", t.values.is_some()),
            ("start", t.start.is_some()),
            ("end", t.end.is_some()),
            ("step", t.step.is_some()),
            ("format", t.format.is_some()),
            ("stream", t.stream.is_some()),
            ("fields", t.fields.is_some()),
        ];
        let missing = || "a required option is missing".to_owned();
        match t.kind {
            PartitionsKind::List => {
                take_options("partitions of kind `list`", &present, &["values"], &[])?;
                Ok(PartitionsDef::List {
                    values: t.values.ok_or_else(missing)?,
                })
            }
            PartitionsKind::Windows => {
                take_options(
                    "partitions of kind `windows`",
                    &present,
                    &["start", "step"],
                    &["end", "format"],
                )?;
                Ok(PartitionsDef::Windows {
                    start: t.start.ok_or_else(missing)?,
                    end: t.end,
                    step: t.step.ok_or_else(missing)?,
                    format: t.format,
                })
            }
            PartitionsKind::Parent => {
                take_options(
                    "partitions of kind `parent`",
                    &present,
                    &["stream", "fields"],
                    &[],
                )?;
                Ok(PartitionsDef::Parent {
                    stream: t.stream.ok_or_else(missing)?,
                    fields: t.fields.ok_or_else(missing)?,
                })
            }
        }
    }
}

/// What a response rule does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RuleActionDef {
    /// Record the partition as skipped (e.g. 404 for a deleted parent).
    SkipPartition,
    /// Commit and finish the partition.
    EndOfData,
    /// Retry like a transient failure.
    Retry,
    /// Fail the partition.
    Fail,
}

/// A response rule.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RuleDef {
    /// The HTTP status.
    pub(crate) status: u16,
    /// Only when this JSON pointer in the body…
    #[serde(default)]
    pub(crate) field: Option<String>,
    /// …equals this value.
    #[serde(default)]
    pub(crate) equals: Option<String>,
    /// What to do.
    pub(crate) action: RuleActionDef,
}

/// The destination.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SinkDef {
    /// `sqlite:PATH` (default `sqlite:<name>.db`) or `jsonl:DIR`.
    #[schemars(with = "String")]
    pub(crate) url: Text,
}

/// The schema of a type read through another: that other's.
macro_rules! schema_as {
    ($ty:ty, $table:ty) => {
        impl JsonSchema for $ty {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                <$table>::schema_name()
            }

            fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
                <$table>::json_schema(generator)
            }
        }
    };
}

schema_as!(AuthDef, AuthTable);
schema_as!(PartitionsDef, PartitionsTable);
