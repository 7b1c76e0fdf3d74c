//! A resolved spec → the library's connector model.

use std::collections::BTreeMap;
use std::sync::Arc;

use haul::extractor::BoundPlacement;
use haul::paginate::CursorPaginator;
use haul::{
    AdaptiveRate, AllOf, ApiKey, Basic, Bearer, ConnectorBuilder, ExponentialBackoff, FixedRate,
    HeaderAdaptive, HeaderFamily, Incremental, LastRecordCursor, LinkHeaderPaginator, MaxInFlight,
    NextUrlPaginator, OAuth2ClientCredentials, OffsetPaginator, PageNumberPaginator, Paginator,
    ParentLink, Partition, Partitions, RateLimiter, RequestTemplate, ReqwestTransport,
    ResponseRule, RuleAction, Secret, SinglePage, StreamDef, TimeFormat, TimeWindows, Transport,
    VendorHeaders,
};

use crate::SpecError;
use crate::inputs::{Values, parse_duration, parse_step};
use crate::model::{
    AuthDef, HeadersFamily, Method, PaginatorDef, PartitionsDef, RuleActionDef, SourceDef,
    StreamSpec, Text, TimeFormatDef,
};
use crate::template;

/// How a spec becomes a connector: what the command line (or an embedder)
/// changes about the run.
#[derive(Clone, Default)]
#[must_use]
pub struct BuildOptions {
    /// Ignore incremental watermarks.
    pub full_refresh: bool,
    /// Override every stream's max-pages guard.
    pub max_pages: Option<u64>,
    /// Use this transport instead of one built from `[source.timeouts]` and `[source.limits]`.
    pub transport: Option<Arc<dyn Transport>>,
}

impl std::fmt::Debug for BuildOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BuildOptions")
            .field("full_refresh", &self.full_refresh)
            .field("max_pages", &self.max_pages)
            .field("transport", &self.transport.is_some())
            .finish()
    }
}

fn fill(text: &Text, values: &Values) -> String {
    let pieces = template::parse(text.get_ref()).unwrap_or_default();
    template::render(&pieces, &values.plain, false)
}

fn fill_raw(text: &str, values: &Values) -> String {
    let pieces = template::parse(text).unwrap_or_default();
    template::render(&pieces, &values.plain, true)
}

fn secret(text: &Text, values: &Values) -> Secret {
    let pieces = template::parse(text.get_ref()).unwrap_or_default();
    match pieces.as_slice() {
        [template::Piece::Ref { name, .. }] => values
            .secrets
            .get(name)
            .cloned()
            .unwrap_or_else(|| Secret::new(String::new())),
        _ => Secret::new(String::new()),
    }
}

fn duration(text: Option<&Text>) -> Result<Option<std::time::Duration>, SpecError> {
    text.map(|t| parse_duration(t.get_ref()).map_err(SpecError::Build))
        .transpose()
}

fn time_format(f: Option<TimeFormatDef>) -> TimeFormat {
    match f {
        None | Some(TimeFormatDef::Rfc3339) => TimeFormat::Rfc3339,
        Some(TimeFormatDef::Rfc3339Millis) => TimeFormat::Rfc3339Millis,
        Some(TimeFormatDef::EpochSeconds) => TimeFormat::EpochSeconds,
        Some(TimeFormatDef::EpochMillis) => TimeFormat::EpochMillis,
    }
}

pub(crate) fn transport(source: &SourceDef) -> Result<ReqwestTransport, SpecError> {
    let mut b = ReqwestTransport::builder();
    if let Some(t) = &source.timeouts {
        if let Some(d) = duration(t.connect.as_ref())? {
            b = b.connect_timeout(d);
        }
        if let Some(d) = duration(t.read.as_ref())? {
            b = b.read_timeout(d);
        }
        if let Some(d) = duration(t.request.as_ref())? {
            b = b.request_timeout(d);
        }
    }
    if let Some(l) = &source.limits {
        if let Some(n) = l.max_body_bytes {
            b = b.max_body_bytes(n);
        }
        if let Some(n) = l.max_redirects {
            b = b.max_redirects(n);
        }
    }
    b.build().map_err(|e| SpecError::Build(e.to_string()))
}

/// The connector's shared parts: transport, auth, retry, rate limiter.
pub(crate) fn shared(
    name: &str,
    source: &SourceDef,
    values: &Values,
    options: &BuildOptions,
) -> Result<ConnectorBuilder, SpecError> {
    let transport: Arc<dyn Transport> = match &options.transport {
        Some(t) => Arc::clone(t),
        None => Arc::new(transport(source)?),
    };
    let mut b = haul::Connector::builder(name)
        .transport(Arc::clone(&transport))
        .allow_insecure_http(source.allow_insecure_http)
        .fail_fast(source.fail_fast)
        .full_refresh(options.full_refresh);
    if let Some(n) = source.max_in_flight {
        b = b.max_in_flight(n);
    }
    if let Some(n) = source.max_active_partitions {
        b = b.max_active_partitions(n);
    }
    if let Some(auth) = &source.auth {
        b = match auth {
            AuthDef::Bearer { token } => b.auth(Bearer(secret(token, values))),
            AuthDef::Basic { user, password } => b.auth(Basic {
                user: fill_raw(user.get_ref(), values),
                password: secret(password, values),
            }),
            AuthDef::ApiKey { header, query, key } => {
                let key = secret(key, values);
                match (header, query) {
                    (Some(h), _) => b.auth(ApiKey::header(
                        http::HeaderName::from_bytes(h.as_bytes())
                            .map_err(|e| SpecError::Build(format!("header {h:?}: {e}")))?,
                        key,
                    )),
                    (None, Some(q)) => b.auth(ApiKey::query(q.clone(), key)),
                    (None, None) => {
                        return Err(SpecError::Build(
                            "an api_key auth needs `header` or `query`".into(),
                        ));
                    }
                }
            }
            AuthDef::Oauth2ClientCredentials {
                token_url,
                client_id,
                client_secret,
                scope,
            } => {
                let url = fill_raw(token_url.get_ref(), values);
                let url = url::Url::parse(&url)
                    .map_err(|e| SpecError::Build(format!("token_url {url:?}: {e}")))?;
                let mut o = OAuth2ClientCredentials::new(
                    url,
                    fill_raw(client_id.get_ref(), values),
                    secret(client_secret, values),
                    Arc::clone(&transport),
                )
                .allow_insecure_http(source.allow_insecure_http);
                if let Some(s) = scope {
                    o = o.scope(s.clone());
                }
                b.auth(o)
            }
        };
    }
    if let Some(r) = &source.retry {
        let mut p = ExponentialBackoff::default();
        if let Some(n) = r.max_attempts {
            p = p.max_attempts(n);
        }
        if let Some(d) = duration(r.base.as_ref())? {
            p = p.base(d);
        }
        if let Some(d) = duration(r.cap.as_ref())? {
            p = p.cap(d);
        }
        if let Some(d) = duration(r.max_elapsed.as_ref())? {
            p = p.max_elapsed(d);
        }
        if let Some(d) = duration(r.max_retry_after.as_ref())? {
            p = p.max_retry_after(d);
        }
        b = b.retry(p);
    }
    b = b.rate_limiter(rate_limiter(source)?);
    Ok(b)
}

pub(crate) fn connector(
    name: &str,
    source: &SourceDef,
    streams: &[(String, StreamSpec)],
    values: &Values,
    options: &BuildOptions,
) -> Result<ConnectorBuilder, SpecError> {
    let mut b = shared(name, source, values, options)?;
    for (name, spec) in streams {
        b = b.stream(stream(name, spec, source, values, options)?);
    }
    Ok(b)
}

fn rate_limiter(source: &SourceDef) -> Result<Arc<dyn RateLimiter>, SpecError> {
    let mut all = AllOf::new();
    let rl = source.rate_limit.as_ref();
    let family = rl
        .and_then(|r| r.headers)
        .unwrap_or(HeadersFamily::Standard);
    all = match family {
        HeadersFamily::Standard => all.with(HeaderAdaptive::new()),
        HeadersFamily::Hubspot => all.with(VendorHeaders::adaptive(HeaderFamily::HubSpot)),
        HeadersFamily::Zendesk => all.with(VendorHeaders::adaptive(HeaderFamily::Zendesk)),
        HeadersFamily::Salesforce => all.with(VendorHeaders::adaptive(HeaderFamily::Salesforce)),
        HeadersFamily::Shopify => all.with(VendorHeaders::adaptive(HeaderFamily::ShopifyBucket {
            leak_per_second: 2,
        })),
        HeadersFamily::None => all,
    };
    if let Some(r) = rl {
        let fixed = match (r.requests_per_second, r.requests, &r.period) {
            (Some(n), _, _) => Some(FixedRate::per_second(n)),
            (None, Some(n), Some(p)) => Some(FixedRate::new(
                n,
                parse_duration(p.get_ref()).map_err(SpecError::Build)?,
            )),
            _ => None,
        };
        if let Some(mut f) = fixed {
            if let Some(burst) = r.burst {
                f = f.burst(burst);
            }
            all = all.with(f);
        }
        if r.adaptive {
            all = all.with(AdaptiveRate::new());
        }
        if let Some(n) = r.max_in_flight {
            all = all.with(MaxInFlight::new(n));
        }
    }
    Ok(Arc::new(all))
}

pub(crate) fn stream(
    name: &str,
    spec: &StreamSpec,
    source: &SourceDef,
    values: &Values,
    options: &BuildOptions,
) -> Result<StreamDef, SpecError> {
    let base = &fill_raw(source.base_url.get_ref(), values);
    let path = fill(&spec.path, values);
    let url = if path.starts_with("http://") || path.starts_with("https://") {
        path
    } else {
        // The base URL is filled raw; escape its braces for the library template.
        format!(
            "{}{}{}",
            template::escape(base.trim_end_matches('/')),
            if path.starts_with('/') { "" } else { "/" },
            path
        )
    };
    let mut t = match (spec.method, &spec.body) {
        (Some(Method::Post), body) => {
            let json = body
                .as_ref()
                .map(|b| to_json(b.get_ref(), values))
                .unwrap_or(serde_json::Value::Object(serde_json::Map::new()));
            RequestTemplate::post_json(url, json)
        }
        _ => RequestTemplate::get(url),
    };
    for (k, v) in &spec.params {
        let value = match v.get_ref() {
            toml::Value::String(s) => fill(&Text::new(v.span(), s.clone()), values),
            other => template::escape(&crate::inputs::value_text(other)),
        };
        t = t.query(k.clone(), value);
    }
    let mut headers: BTreeMap<&String, &Text> = source.headers.iter().collect();
    for (k, v) in &spec.headers {
        headers.insert(k, v);
    }
    for (k, v) in headers {
        t = t.header(k.clone(), fill(v, values));
    }
    let paginator = paginator(spec.paginator.as_ref(), spec.records.as_deref());
    let mut def = StreamDef::new(name, t, paginator);
    if let Some(p) = &spec.partitions {
        def = def.partitions(partitions(p, values)?);
    }
    if let Some(inc) = &spec.incremental {
        let placement = match (&inc.param, &inc.header, &inc.body) {
            (Some(p), _, _) => BoundPlacement::query(p.clone()),
            (None, Some(h), _) => BoundPlacement::header(h.clone()),
            (None, None, Some(b)) => BoundPlacement::body(b.clone()),
            _ => {
                return Err(SpecError::Build(format!(
                    "stream {name:?}: incremental needs param, header or body"
                )));
            }
        };
        let placement = match &inc.template {
            // `{bound}` is the library's placeholder, not a spec template.
            Some(tpl) => placement.template(tpl.clone()),
            None => placement,
        };
        let mut i =
            Incremental::placed(inc.field.clone(), placement).format(time_format(inc.format));
        if let Some(bf) = inc.bound_format {
            i = i.bound_format(time_format(Some(bf)));
        }
        if let Some(d) = duration(inc.lookback.as_ref())? {
            i = i.lookback(d);
        }
        def = def.incremental(i);
    }
    for r in spec.rules.iter().flatten() {
        let action = match r.action {
            RuleActionDef::SkipPartition => RuleAction::SkipPartition,
            RuleActionDef::EndOfData => RuleAction::EndOfData,
            RuleActionDef::Retry => RuleAction::Retry,
            RuleActionDef::Fail => RuleAction::Fail,
        };
        let mut rule = ResponseRule::status(r.status, action);
        if let (Some(f), Some(v)) = (&r.field, &r.equals) {
            rule = rule.when_field(f.clone(), v.clone());
        }
        def = def.rule(rule);
    }
    if let Some(n) = spec.batch_size {
        def = def.batch_size(n);
    }
    if let Some(n) = options.max_pages.or(spec.max_pages) {
        def = def.max_pages(Some(n));
    }
    Ok(def)
}

fn to_json(value: &toml::Value, values: &Values) -> serde_json::Value {
    use serde_json::Value as J;
    match value {
        toml::Value::String(s) => J::String(fill(&Text::new(0..0, s.clone()), values)),
        toml::Value::Integer(i) => J::from(*i),
        toml::Value::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
        toml::Value::Boolean(b) => J::Bool(*b),
        toml::Value::Datetime(d) => J::String(d.to_string()),
        toml::Value::Array(a) => J::Array(a.iter().map(|v| to_json(v, values)).collect()),
        toml::Value::Table(t) => J::Object(
            t.iter()
                .map(|(k, v)| (k.clone(), to_json(v, values)))
                .collect(),
        ),
    }
}

pub(crate) fn partitions(p: &PartitionsDef, values: &Values) -> Result<Partitions, SpecError> {
    Ok(match p {
        PartitionsDef::List { values: list } => Partitions::list(list.iter().map(|entry| {
            Partition::new(
                entry
                    .iter()
                    .map(|(k, v)| (k.clone(), fill_raw(v.get_ref(), values))),
            )
        })),
        PartitionsDef::Windows {
            start,
            end,
            step,
            format,
        } => {
            let step = parse_step(step.get_ref()).map_err(SpecError::Build)?;
            let start = fill_raw(start.get_ref(), values);
            let mut w = TimeWindows::new(&start, step, time_format(*format))
                .map_err(|e| SpecError::Build(format!("windows start {start:?}: {e}")))?;
            if let Some(end) = end {
                let end = fill_raw(end.get_ref(), values);
                w = w
                    .end(&end)
                    .map_err(|e| SpecError::Build(format!("windows end {end:?}: {e}")))?;
            }
            Partitions::Windows(w)
        }
        PartitionsDef::Parent { stream, fields } => {
            let mut link = ParentLink::new(stream.get_ref().clone());
            for (k, v) in fields {
                link = link.field(k.clone(), v.get_ref().clone());
            }
            Partitions::Parent(link)
        }
    })
}

/// The paginator of a stream, with its record selector.
pub(crate) fn paginator(p: Option<&PaginatorDef>, records: Option<&str>) -> Arc<dyn Paginator> {
    macro_rules! sel {
        ($p:expr) => {{
            let p = $p;
            match records {
                Some(r) => p.records_at(r),
                None => p,
            }
        }};
    }
    macro_rules! size {
        ($p:expr, $param:expr, $size:expr) => {{
            let p = $p;
            match ($param, $size) {
                (Some(param), Some(size)) => p.page_size(param.clone(), *size),
                _ => p,
            }
        }};
    }
    match p {
        None | Some(PaginatorDef::Single {}) => Arc::new(sel!(SinglePage::new())),
        Some(PaginatorDef::LinkHeader {
            page_size_param,
            page_size,
            rel,
        }) => {
            let mut l = LinkHeaderPaginator::new();
            if let Some(rel) = rel {
                l = l.rel(rel.clone());
            }
            Arc::new(size!(sel!(l), page_size_param, page_size))
        }
        Some(PaginatorDef::NextUrl {
            next_url,
            has_more,
            page_size_param,
            page_size,
        }) => {
            let mut n = NextUrlPaginator::new(next_url.clone());
            if let Some(h) = has_more {
                n = n.has_more_at(h.clone());
            }
            Arc::new(size!(sel!(n), page_size_param, page_size))
        }
        Some(PaginatorDef::Cursor {
            cursor,
            param,
            has_more,
            pre_encoded,
            page_size_param,
            page_size,
        }) => {
            let mut c = CursorPaginator::new(cursor.clone(), param.clone())
                .cursor_pre_encoded(*pre_encoded);
            if let Some(h) = has_more {
                c = c.has_more_at(h.clone());
            }
            Arc::new(size!(sel!(c), page_size_param, page_size))
        }
        Some(PaginatorDef::HeaderCursor {
            header,
            param,
            pre_encoded,
            page_size_param,
            page_size,
        }) => {
            let c = haul::HeaderCursor::new(header.clone(), param.clone())
                .cursor_pre_encoded(*pre_encoded);
            Arc::new(size!(sel!(c), page_size_param, page_size))
        }
        Some(PaginatorDef::LastRecord {
            field,
            param,
            has_more,
            page_size_param,
            page_size,
        }) => {
            let mut c = LastRecordCursor::new(field.clone(), param.clone());
            if let Some(h) = has_more {
                c = c.has_more_at(h.clone());
            }
            Arc::new(size!(sel!(c), page_size_param, page_size))
        }
        Some(PaginatorDef::Offset {
            param,
            limit_param,
            limit,
            start,
            total,
            has_more,
            stop_on_short_page,
        }) => {
            let mut o = OffsetPaginator::new(param.clone()).limit(limit_param.clone(), *limit);
            if let Some(s) = start {
                o = o.start_at(*s);
            }
            if let Some(t) = total {
                o = o.total_at(t.clone());
            }
            if let Some(h) = has_more {
                o = o.has_more_at(h.clone());
            }
            if let Some(s) = stop_on_short_page {
                o = o.stop_on_short_page(*s);
            }
            Arc::new(sel!(o))
        }
        Some(PaginatorDef::PageNumber {
            param,
            first_page,
            page_size_param,
            page_size,
            total_pages,
            total,
            has_more,
            stop_on_short_page,
        }) => {
            let mut n = PageNumberPaginator::new(param.clone());
            if let Some(f) = first_page {
                n = n.first_page(*f);
            }
            if let Some(t) = total_pages {
                n = n.total_pages_at(t.clone());
            }
            if let Some(t) = total {
                n = n.total_at(t.clone());
            }
            if let Some(h) = has_more {
                n = n.has_more_at(h.clone());
            }
            if let Some(s) = stop_on_short_page {
                n = n.stop_on_short_page(*s);
            }
            Arc::new(size!(sel!(n), page_size_param, page_size))
        }
    }
}
