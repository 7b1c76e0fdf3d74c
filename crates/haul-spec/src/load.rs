//! Loading: TOML → the typed spec, with every problem collected.
//!
//! Each section, input and stream is deserialized on its own, so one bad
//! stream does not hide the problems of the others; an unknown key is
//! reported, removed, and the table read again, so every unknown key of a
//! table is reported, not just the first. Then the checks that span
//! sections run: templates, secrets, parents, pointers, durations.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use serde::de::{Deserialize, IntoDeserializer};
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::diag::{Diagnostic, did_you_mean};
use crate::model::{
    AuthDef, InputDef, InputType, PaginatorDef, PartitionsDef, STYLE_KEYS, SinkDef, SourceDef,
    StreamDefaults, StreamSpec, TOP_KEYS, Text,
};
use crate::template::{self, Ns, Piece};

/// The spec, typed and checked, before inputs are filled in.
#[derive(Debug, Clone)]
pub(crate) struct Loaded {
    pub(crate) name: String,
    pub(crate) inputs: BTreeMap<String, (Range<usize>, InputDef)>,
    pub(crate) source: SourceDef,
    /// Streams with the defaults merged in, parents before children.
    pub(crate) streams: Vec<(String, StreamSpec)>,
    pub(crate) sink: Option<SinkDef>,
}

type Raw<'a> = Spanned<DeValue<'a>>;

pub(crate) fn load(text: &str, diags: &mut Vec<Diagnostic>) -> Option<Loaded> {
    let doc = match DeTable::parse(text) {
        Ok(doc) => doc,
        Err(e) => {
            diags.push(Diagnostic::new(
                format!("invalid TOML: {}", e.message().trim()),
                e.span(),
            ));
            return None;
        }
    };
    let doc = doc.into_inner();
    for (key, _) in doc.iter() {
        if !TOP_KEYS.contains(&key.get_ref().as_ref()) {
            diags.push(unknown_key(key.get_ref(), key.span(), TOP_KEYS));
        }
    }
    let whole = Some(0..0);
    let version: Option<u32> = section(&doc, "version", diags);
    match version {
        Some(1) => {}
        Some(v) => {
            let span = doc.get("version").map(Spanned::span);
            diags.push(
                Diagnostic::new(format!("unsupported spec version {v}"), span)
                    .help("this haul reads `version = 1`"),
            );
        }
        None if doc.get("version").is_none() => diags
            .push(Diagnostic::new("missing `version`", whole.clone()).help("add `version = 1`")),
        None => {}
    }
    let name: Option<String> = section(&doc, "name", diags);
    if let Some(n) = &name
        && (n.is_empty()
            || !n
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b)))
    {
        let span = doc.get("name").map(Spanned::span);
        diags.push(Diagnostic::new(
            format!("connector name {n:?} must be ASCII letters, digits or `_-.`"),
            span,
        ));
    }
    if doc.get("name").is_none() {
        diags.push(Diagnostic::new("missing `name`", whole.clone()));
    }

    let mut inputs = BTreeMap::new();
    if let Some(raw) = doc.get("inputs") {
        match raw.get_ref().as_table() {
            Some(table) => {
                for (key, value) in table.iter() {
                    if let Some(def) = typed::<InputDef>(value, diags) {
                        check_input(key.get_ref(), key.span(), &def, diags);
                        inputs.insert(key.get_ref().to_string(), (key.span(), def));
                    }
                }
            }
            None => diags.push(Diagnostic::new(
                "`inputs` must be a table of inputs",
                Some(raw.span()),
            )),
        }
    }
    let source: Option<SourceDef> = section(&doc, "source", diags);
    if doc.get("source").is_none() {
        diags.push(
            Diagnostic::new("missing `[source]`", whole.clone())
                .help("add `[source]` with `base_url = \"https://…\"`"),
        );
    }
    let defaults: StreamDefaults = section(&doc, "defaults", diags).unwrap_or_default();
    let sink: Option<SinkDef> = section(&doc, "sink", diags);

    let mut streams: Vec<(String, Range<usize>, StreamSpec)> = Vec::new();
    match doc.get("streams") {
        None => diags.push(
            Diagnostic::new("missing `[streams]`", whole)
                .help("add at least one `[streams.NAME]` with a `path`"),
        ),
        Some(raw) => match raw.get_ref().as_table() {
            Some(table) => {
                let mut entries: Vec<_> = table.iter().collect();
                entries.sort_by_key(|(k, _)| k.span().start);
                for (key, value) in entries {
                    if let Some(spec) = typed::<StreamSpec>(value, diags) {
                        streams.push((key.get_ref().to_string(), key.span(), spec));
                    }
                }
                if table.is_empty() {
                    diags.push(Diagnostic::new("`streams` is empty", Some(raw.span())));
                }
            }
            None => diags.push(Diagnostic::new(
                "`streams` must be a table of streams",
                Some(raw.span()),
            )),
        },
    }

    let streams: Vec<(String, Range<usize>, StreamSpec)> = streams
        .into_iter()
        .map(|(n, s, spec)| (n, s, merge(spec, &defaults)))
        .collect();
    let mut checker = Checker {
        inputs: &inputs,
        diags,
    };
    if let Some(source) = &source {
        checker.source(source);
    }
    let order = checker.streams(&streams);
    if let Some(sink) = &sink {
        checker.text(&sink.url, &Scope::source());
        if let Err(e) = crate::sink::SinkUrl::parse(&template::render(
            &template::parse(sink.url.get_ref()).unwrap_or_default(),
            &BTreeMap::new(),
            true,
        )) && !sink.url.get_ref().contains("{input.")
        {
            checker
                .diags
                .push(Diagnostic::new(e.to_string(), Some(sink.url.span())));
        }
    }
    let mut by_name: BTreeMap<String, StreamSpec> =
        streams.into_iter().map(|(n, _, s)| (n, s)).collect();
    let ordered = order
        .into_iter()
        .filter_map(|n| by_name.remove(&n).map(|s| (n, s)))
        .collect();
    Some(Loaded {
        name: name?,
        inputs,
        source: source?,
        streams: ordered,
        sink,
    })
}

/// A top-level section, typed; `None` when absent or invalid (reported).
fn section<T: for<'de> Deserialize<'de>>(
    doc: &DeTable<'_>,
    key: &str,
    diags: &mut Vec<Diagnostic>,
) -> Option<T> {
    doc.get(key).and_then(|raw| typed(raw, diags))
}

/// Deserializes `raw` as `T`, reporting every unknown key (each is removed
/// and the value read again) and the first other error.
fn typed<T: for<'de> Deserialize<'de>>(raw: &Raw<'_>, diags: &mut Vec<Diagnostic>) -> Option<T> {
    let mut value = raw.clone();
    let mut removed: Vec<String> = Vec::new();

    for _ in 0..64 {
        let attempt = T::deserialize(value.clone().into_deserializer());
        let e = match attempt {
            // Even after a removed bad key: the rest still gets checked.
            Ok(t) => return Some(t),
            Err(e) => e,
        };
        let message = e.message().trim().to_owned();
        let span = e.span().unwrap_or_else(|| raw.span());
        if let Some((word, expected)) = parse_unknown(&message, "unknown field") {
            let key_span = find_key(&value, &word, &span).unwrap_or(span);
            let mut d = unknown_key(&word, key_span.clone(), &expected);
            if !expected.contains(&word)
                && did_you_mean(&word, expected.iter().map(String::as_str)).is_none()
                && let Some(styles) = styles_with(&word)
            {
                d.help = Some(format!(
                    "`{word}` is an option of paginator style {styles}, not of this one; this style takes {}",
                    quoted(&expected)
                ));
            }
            diags.push(d);
            if !remove_key(&mut value, &word, &key_span) {
                return None;
            }
            continue;
        }
        // A required key removed because it was wrong is not also "missing".
        if let Some((word, _)) = parse_unknown(&message, "missing field")
            && removed.contains(&word)
        {
            return None;
        }

        if let Some((word, expected)) = parse_unknown(&message, "unknown variant") {
            let mut d = Diagnostic::new(
                format!(
                    "unknown value `{word}`; expected one of {}",
                    quoted(&expected)
                ),
                Some(span.clone()),
            );
            if let Some(best) = did_you_mean(&word, expected.iter().map(String::as_str)) {
                d = d.help(format!("did you mean `{best}`?"));
            }
            diags.push(d);
        } else {
            diags.push(Diagnostic::new(message, Some(span.clone())));
        }
        // Drop the key holding the bad value and read on, to find the
        // other problems of the same table.
        match key_of_value(&value, &span) {
            Some(key) if remove_key_with_value(&mut value, &span) => removed.push(key),
            _ => return None,
        }
    }
    None
}

/// The name of the key whose value is at `span`.
fn key_of_value(value: &Raw<'_>, span: &Range<usize>) -> Option<String> {
    match value.get_ref() {
        DeValue::Table(table) => table.iter().find_map(|(k, v)| {
            if v.span() == *span {
                Some(k.get_ref().to_string())
            } else {
                key_of_value(v, span)
            }
        }),
        DeValue::Array(items) => items.iter().find_map(|v| key_of_value(v, span)),
        _ => None,
    }
}

/// Removes the key whose value is at `span`; whether one was.
fn remove_key_with_value(value: &mut Raw<'_>, span: &Range<usize>) -> bool {
    match value.get_mut() {
        DeValue::Table(table) => {
            let here = table
                .iter()
                .find(|(_, v)| v.span() == *span)
                .map(|(k, _)| k.get_ref().to_string());
            if let Some(k) = here {
                table.remove(k.as_str());
                return true;
            }
            table
                .iter_mut()
                .any(|(_, v)| remove_key_with_value(v, span))
        }
        DeValue::Array(items) => items.iter_mut().any(|v| remove_key_with_value(v, span)),
        _ => false,
    }
}

/// `unknown field `x`, expected one of `a`, `b`` → (`x`, [`a`, `b`]).
fn parse_unknown(message: &str, prefix: &str) -> Option<(String, Vec<String>)> {
    let rest = message.strip_prefix(prefix)?;
    let words: Vec<String> = rest
        .split('`')
        .enumerate()
        .filter(|(i, _)| i % 2 == 1)
        .map(|(_, w)| w.to_owned())
        .collect();
    let (first, expected) = words.split_first()?;
    Some((first.clone(), expected.to_vec()))
}

fn quoted(words: &[String]) -> String {
    words
        .iter()
        .map(|w| format!("`{w}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn unknown_key<S: AsRef<str>>(word: &str, span: Range<usize>, expected: &[S]) -> Diagnostic {
    let names: Vec<&str> = expected.iter().map(AsRef::as_ref).collect();
    let mut d = Diagnostic::new(format!("unknown key `{word}`"), Some(span));
    match did_you_mean(word, names.iter().copied()) {
        Some(best) => d = d.help(format!("did you mean `{best}`?")),
        None if !names.is_empty() => {
            d = d.help(format!(
                "expected one of {}",
                names
                    .iter()
                    .map(|n| format!("`{n}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        None => {}
    }
    d
}

fn styles_with(word: &str) -> Option<String> {
    let styles: Vec<String> = STYLE_KEYS
        .iter()
        .filter(|(_, keys)| keys.contains(&word))
        .map(|(s, _)| format!("`{s}`"))
        .collect();
    (!styles.is_empty()).then(|| styles.join(", "))
}

/// The span of key `word` inside `within`, searching tables depth first.
fn find_key(value: &Raw<'_>, word: &str, within: &Range<usize>) -> Option<Range<usize>> {
    let in_range = |s: &Range<usize>| s.start >= within.start && s.end <= within.end;
    match value.get_ref() {
        DeValue::Table(table) => {
            for (k, v) in table.iter() {
                if k.get_ref().as_ref() == word && in_range(&k.span()) {
                    return Some(k.span());
                }
                if let Some(found) = find_key(v, word, within) {
                    return Some(found);
                }
            }
            None
        }
        DeValue::Array(items) => items.iter().find_map(|v| find_key(v, word, within)),
        _ => None,
    }
}

/// Removes key `word` whose key span is `at` (or, failing that, the first
/// key `word` found); whether one was removed.
fn remove_key(value: &mut Raw<'_>, word: &str, at: &Range<usize>) -> bool {
    match value.get_mut() {
        DeValue::Table(table) => {
            let here = table
                .iter()
                .any(|(k, _)| k.get_ref().as_ref() == word && k.span() == *at);
            if here {
                table.remove(word);
                return true;
            }
            let mut removed = false;
            for (_, v) in table.iter_mut() {
                if remove_key(v, word, at) {
                    removed = true;
                    break;
                }
            }
            if !removed && table.contains_key(word) {
                table.remove(word);
                removed = true;
            }
            removed
        }
        DeValue::Array(items) => items.iter_mut().any(|v| remove_key(v, word, at)),
        _ => false,
    }
}

fn merge(mut s: StreamSpec, d: &StreamDefaults) -> StreamSpec {
    for (k, v) in &d.params {
        s.params.entry(k.clone()).or_insert_with(|| v.clone());
    }
    for (k, v) in &d.headers {
        s.headers.entry(k.clone()).or_insert_with(|| v.clone());
    }
    s.records = s.records.or_else(|| d.records.clone());
    s.primary_key = s.primary_key.or_else(|| d.primary_key.clone());
    s.paginator = s.paginator.or_else(|| d.paginator.clone());
    s.rules = s.rules.or_else(|| d.rules.clone());
    s.batch_size = s.batch_size.or(d.batch_size);
    s.max_pages = s.max_pages.or(d.max_pages);
    s
}

fn check_input(name: &str, span: Range<usize>, def: &InputDef, diags: &mut Vec<Diagnostic>) {
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        diags.push(Diagnostic::new(
            format!("input name `{name}` must be ASCII letters, digits or `_`"),
            Some(span.clone()),
        ));
    }
    if def.kind == InputType::Secret {
        if let Some(default) = &def.default {
            diags.push(
                Diagnostic::new(
                    format!("secret input `{name}` cannot have a default: secrets are never written in a spec"),
                    Some(default.span()),
                )
                .help(
                    "remove `default`; give the value in the environment (`env = \"…\"`) or a file (`file = \"…\"`)",
                ),
            );
        }
    } else if def.file.is_some() {
        diags.push(Diagnostic::new(
            format!(
                "`file` is for secret inputs only; `{name}` is a {}",
                def.kind
            ),
            Some(span.clone()),
        ));
    }
    if let Some(default) = &def.default
        && def.kind != InputType::Secret
        && let Err(why) = crate::inputs::check_value(def.kind, default.get_ref())
    {
        diags.push(Diagnostic::new(
            format!("default of input `{name}`: {why}"),
            Some(default.span()),
        ));
    }
}

/// Which template namespaces a place accepts.
struct Scope {
    partition: BTreeSet<String>,
    parent: Option<BTreeSet<String>>,
    stream: bool,
    secret_ok: bool,
}

impl Scope {
    fn source() -> Self {
        Self {
            partition: BTreeSet::new(),
            parent: None,
            stream: false,
            secret_ok: false,
        }
    }
}

struct Checker<'a> {
    inputs: &'a BTreeMap<String, (Range<usize>, InputDef)>,
    diags: &'a mut Vec<Diagnostic>,
}

impl Checker<'_> {
    /// Checks the templates of one string; returns its pieces.
    fn text(&mut self, text: &Text, scope: &Scope) -> Vec<Piece> {
        // The string's content starts after its opening quote.
        let base = text.span().start + 1;
        let at = |r: &Range<usize>| {
            let end = (base + r.end).min(text.span().end);
            (base + r.start).min(end)..end
        };
        let pieces = match template::parse(text.get_ref()) {
            Ok(p) => p,
            Err((msg, r, hint)) => {
                let mut d = Diagnostic::new(msg, Some(at(&r)));
                if let Some(h) = hint {
                    d = d.help(h);
                }
                self.diags.push(d);
                return Vec::new();
            }
        };
        for piece in &pieces {
            let Piece::Ref { ns, name, at: r } = piece else {
                continue;
            };
            let span = Some(at(r));
            match ns {
                Ns::Input => match self.inputs.get(name) {
                    None => {
                        let mut d = Diagnostic::new(
                            format!("`{{input.{name}}}` names no declared input"),
                            span,
                        );
                        d = match did_you_mean(name, self.inputs.keys().map(String::as_str)) {
                            Some(best) => d.help(format!("did you mean `{{input.{best}}}`?")),
                            None => d.help(format!("declare it: `[inputs.{name}]` with a `type`")),
                        };
                        self.diags.push(d);
                    }
                    Some((_, def)) if def.kind == InputType::Secret && !scope.secret_ok => {
                        self.diags.push(
                            Diagnostic::new(
                                format!("secret input `{name}` can only be used as a credential in `[source.auth]`"),
                                span,
                            )
                            .help("secrets never go into URLs, parameters, headers or bodies written in a spec: they would leak into logs"),
                        );
                    }
                    Some(_) => {}
                },
                Ns::Partition | Ns::Parent if !scope.stream => {
                    self.diags.push(Diagnostic::new(
                        format!("`{{{}.{name}}}` cannot be used here: only stream requests have partitions", if *ns == Ns::Partition { "partition" } else { "parent" }),
                        span,
                    ));
                }
                Ns::Partition => {
                    if !scope.partition.contains(name) {
                        let mut d = Diagnostic::new(
                            format!("`{{partition.{name}}}` is not a value of this stream's partitions"),
                            span,
                        );
                        d = match did_you_mean(name, scope.partition.iter().map(String::as_str)) {
                            Some(best) => d.help(format!("did you mean `{{partition.{best}}}`?")),
                            None if scope.partition.is_empty() => d.help("this stream has no list or windows partitions; add `partitions = { kind = \"list\", … }`"),
                            None => d.help(format!("its partitions have: {}", names(&scope.partition))),
                        };
                        self.diags.push(d);
                    }
                }
                Ns::Parent => match &scope.parent {
                    None => self.diags.push(
                        Diagnostic::new(
                            format!("`{{parent.{name}}}` used in a stream without a parent"),
                            span,
                        )
                        .help("add `partitions = { kind = \"parent\", stream = \"…\", fields = { … } }`"),
                    ),
                    Some(available) if !available.contains(name) => {
                        let mut d = Diagnostic::new(
                            format!("`{{parent.{name}}}` is not a field the parent provides"),
                            span,
                        );
                        d = match did_you_mean(name, available.iter().map(String::as_str)) {
                            Some(best) => d.help(format!("did you mean `{{parent.{best}}}`?")),
                            None => d.help(format!(
                                "the parent provides: {}; add it to `fields`",
                                names(available)
                            )),
                        };
                        self.diags.push(d);
                    }
                    Some(_) => {}
                },
            }
        }
        pieces
    }

    /// A credential: exactly `"{input.NAME}"` of a secret input.
    fn secret(&mut self, text: &Text, what: &str) {
        let pieces = self.text(
            text,
            &Scope {
                secret_ok: true,
                ..Scope::source()
            },
        );
        let ok = match pieces.as_slice() {
            [
                Piece::Ref {
                    ns: Ns::Input,
                    name,
                    ..
                },
            ] => self
                .inputs
                .get(name)
                .is_none_or(|(_, d)| d.kind == InputType::Secret),
            _ => false,
        };
        if !ok && !pieces.is_empty() {
            self.diags.push(
                Diagnostic::new(
                    format!("{what} must be given as `\"{{input.NAME}}\"` of a secret input, not inline"),
                    Some(text.span()),
                )
                .help("declare `[inputs.NAME]` with `type = \"secret\"` and `env = \"…\"`, then write `\"{input.NAME}\"`"),
            );
        }
    }

    fn duration(&mut self, text: Option<&Text>) {
        if let Some(t) = text
            && let Err(e) = crate::inputs::parse_duration(t.get_ref())
        {
            self.diags.push(Diagnostic::new(e, Some(t.span())));
        }
    }

    fn source(&mut self, source: &SourceDef) {
        let scope = Scope::source();
        let pieces = self.text(&source.base_url, &scope);
        let literal = template::render(&pieces, &BTreeMap::new(), true);
        if !pieces.iter().any(|p| matches!(p, Piece::Ref { .. }))
            && url::Url::parse(&literal).is_err()
        {
            self.diags.push(
                Diagnostic::new(
                    format!("`base_url` {literal:?} is not an absolute URL"),
                    Some(source.base_url.span()),
                )
                .help("write it with its scheme: `https://api.example.com`"),
            );
        }
        for (name, value) in &source.headers {
            self.header_name(name, value);
            self.text(value, &scope);
        }
        if let Some(auth) = &source.auth {
            match auth {
                AuthDef::Bearer { token } => self.secret(token, "the bearer token"),
                AuthDef::Basic { user, password } => {
                    self.text(user, &scope);
                    self.secret(password, "the password");
                }
                AuthDef::ApiKey { header, query, key } => {
                    self.secret(key, "the API key");
                    if header.is_some() == query.is_some() {
                        self.diags.push(Diagnostic::new(
                            "an `api_key` auth needs exactly one of `header` or `query`",
                            Some(key.span()),
                        ));
                    }
                    if let Some(h) = header
                        && http::HeaderName::from_bytes(h.as_bytes()).is_err()
                    {
                        self.diags.push(Diagnostic::new(
                            format!("{h:?} is not a valid header name"),
                            Some(key.span()),
                        ));
                    }
                }
                AuthDef::Oauth2ClientCredentials {
                    token_url,
                    client_id,
                    client_secret,
                    ..
                } => {
                    self.text(token_url, &scope);
                    self.text(client_id, &scope);
                    self.secret(client_secret, "the client secret");
                }
            }
        }
        if let Some(r) = &source.retry {
            for d in [&r.base, &r.cap, &r.max_elapsed, &r.max_retry_after] {
                self.duration(d.as_ref());
            }
        }
        if let Some(t) = &source.timeouts {
            for d in [&t.connect, &t.read, &t.request] {
                self.duration(d.as_ref());
            }
        }
        if let Some(rl) = &source.rate_limit {
            self.duration(rl.period.as_ref());
            if rl.requests.is_some() != rl.period.is_some() {
                self.diags.push(Diagnostic::new(
                    "`requests` and `period` go together (`requests = 100, period = \"1m\"`)",
                    rl.period.as_ref().map(Spanned::span),
                ));
            }
            if rl.requests.is_some() && rl.requests_per_second.is_some() {
                self.diags.push(Diagnostic::new(
                    "give either `requests_per_second` or `requests` + `period`, not both",
                    rl.period.as_ref().map(Spanned::span),
                ));
            }
        }
    }

    fn header_name(&mut self, name: &str, value: &Text) {
        if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
            self.diags.push(Diagnostic::new(
                format!("{name:?} is not a valid header name"),
                Some(value.span()),
            ));
        }
    }

    fn pointer(&mut self, pointer: &str, what: &str, span: Range<usize>) {
        if !pointer.is_empty() && !pointer.starts_with('/') {
            self.diags.push(
                Diagnostic::new(
                    format!("{what} {pointer:?} is not a JSON pointer"),
                    Some(span),
                )
                .help(format!("JSON pointers start with `/`: \"/{pointer}\"")),
            );
        }
    }

    /// Checks every stream; returns the names parents first.
    fn streams(&mut self, streams: &[(String, Range<usize>, StreamSpec)]) -> Vec<String> {
        let known: BTreeMap<&str, &StreamSpec> =
            streams.iter().map(|(n, _, s)| (n.as_str(), s)).collect();
        // Parent links: exist, no cycles.
        let parent_of = |s: &StreamSpec| match &s.partitions {
            Some(PartitionsDef::Parent { stream, .. }) => Some(stream.clone()),
            _ => None,
        };
        let mut cyclic = BTreeSet::new();
        for (name, _, spec) in streams {
            if let Some(p) = parent_of(spec)
                && !known.contains_key(p.get_ref().as_str())
            {
                let mut d = Diagnostic::new(
                    format!(
                        "stream `{name}` names parent `{}`, which is not a stream",
                        p.get_ref()
                    ),
                    Some(p.span()),
                );
                if let Some(best) = did_you_mean(p.get_ref(), known.keys().copied()) {
                    d = d.help(format!("did you mean `{best}`?"));
                }
                self.diags.push(d);
            }
            // Walk up; a walk longer than the number of streams is a cycle.
            let mut at = parent_of(spec);
            let mut seen = vec![name.clone()];
            while let Some(p) = at {
                if seen.contains(p.get_ref()) {
                    if !cyclic.contains(name) {
                        seen.push(p.get_ref().clone());
                        for s in &seen {
                            cyclic.insert(s.clone());
                        }
                        self.diags.push(
                            Diagnostic::new(
                                format!("parent cycle: {}", seen.join(" → ")),
                                Some(p.span()),
                            )
                            .help("a stream's parents must lead to a stream without a parent"),
                        );
                    }
                    break;
                }
                seen.push(p.get_ref().clone());
                at = known.get(p.get_ref().as_str()).and_then(|s| parent_of(s));
            }
        }
        // Values each stream's partitions provide, own and inherited.
        let mut provided: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut order: Vec<String> = Vec::new();
        let mut pending: Vec<&(String, Range<usize>, StreamSpec)> = streams.iter().collect();
        while !pending.is_empty() {
            let before = pending.len();
            let mut rest = Vec::new();
            for entry in pending {
                let (name, _, spec) = entry;
                let ready = match parent_of(spec) {
                    None => true,
                    Some(p) => {
                        provided.contains_key(p.get_ref())
                            || !known.contains_key(p.get_ref().as_str())
                            || cyclic.contains(name)
                    }
                };
                if !ready {
                    rest.push(entry);
                    continue;
                }
                let own = self.partitions(name, spec);
                let inherited = parent_of(spec).and_then(|p| provided.get(p.get_ref()).cloned());
                self.stream(spec, &own, inherited.as_ref());
                let mut all = own;
                if let Some(i) = &inherited {
                    all.extend(i.iter().cloned());
                }
                provided.insert(name.clone(), all);
                order.push(name.clone());
            }
            pending = rest;
            if pending.len() == before {
                break;
            }
        }
        order
    }

    /// Checks a stream's partitions; returns the values they provide.
    fn partitions(&mut self, name: &str, spec: &StreamSpec) -> BTreeSet<String> {
        match &spec.partitions {
            None => BTreeSet::new(),
            Some(PartitionsDef::List { values }) => {
                let mut keys: Option<BTreeSet<String>> = None;
                for entry in values {
                    let these: BTreeSet<String> = entry.keys().cloned().collect();
                    for v in entry.values() {
                        self.text(v, &Scope::source());
                    }
                    match &keys {
                        None => keys = Some(these),
                        Some(k) if *k != these => {
                            let span = entry.values().next().map(Spanned::span);
                            self.diags.push(Diagnostic::new(
                                format!("every partition of `{name}` must have the same values: {} here, {} in the first", names(&these), names(k)),
                                span,
                            ));
                        }
                        Some(_) => {}
                    }
                }
                if values.is_empty() {
                    self.diags.push(Diagnostic::new(
                        format!("stream `{name}` lists no partitions"),
                        Some(spec.path.span()),
                    ));
                }
                keys.unwrap_or_default()
            }
            Some(PartitionsDef::Windows {
                start, end, step, ..
            }) => {
                for t in [Some(start), end.as_ref()].into_iter().flatten() {
                    let pieces = self.text(t, &Scope::source());
                    let literal = !pieces.iter().any(|p| matches!(p, Piece::Ref { .. }));
                    if literal
                        && crate::inputs::check_value(
                            InputType::Datetime,
                            &toml::Value::String(t.get_ref().clone()),
                        )
                        .is_err()
                    {
                        self.diags.push(Diagnostic::new(
                            format!("{:?} is not an RFC 3339 date-time", t.get_ref()),
                            Some(t.span()),
                        ));
                    }
                }
                if let Err(e) = crate::inputs::parse_step(step.get_ref()) {
                    self.diags.push(Diagnostic::new(e, Some(step.span())));
                }
                BTreeSet::from(["start".to_owned(), "end".to_owned()])
            }
            Some(PartitionsDef::Parent { fields, stream }) => {
                if fields.is_empty() {
                    self.diags.push(
                        Diagnostic::new(
                            format!("stream `{name}` takes no field from its parent"),
                            Some(stream.span()),
                        )
                        .help("add `fields = { id = \"/id\" }`"),
                    );
                }
                for (field, pointer) in fields {
                    self.pointer(
                        pointer.get_ref(),
                        &format!("field `{field}`"),
                        pointer.span(),
                    );
                }
                fields.keys().cloned().collect()
            }
        }
    }

    fn stream(
        &mut self,
        spec: &StreamSpec,
        own: &BTreeSet<String>,
        inherited: Option<&BTreeSet<String>>,
    ) {
        let is_child = matches!(spec.partitions, Some(PartitionsDef::Parent { .. }));
        let scope = Scope {
            partition: if is_child {
                BTreeSet::new()
            } else {
                own.clone()
            },
            parent: is_child.then(|| {
                let mut all = own.clone();
                all.extend(inherited.into_iter().flatten().cloned());
                all
            }),
            stream: true,
            secret_ok: false,
        };
        self.text(&spec.path, &scope);
        for value in spec.params.values() {
            if let Some(s) = value.get_ref().as_str() {
                let text = Spanned::new(value.span(), s.to_owned());
                self.text(&text, &scope);
            } else if value.get_ref().is_table() || value.get_ref().is_array() {
                self.diags.push(Diagnostic::new(
                    "a query parameter must be a string, a number or a boolean",
                    Some(value.span()),
                ));
            }
        }
        for (name, value) in &spec.headers {
            self.header_name(name, value);
            self.text(value, &scope);
        }
        if let Some(body) = &spec.body {
            self.body_strings(body.get_ref(), body.span(), &scope);
            if spec.method != Some(crate::model::Method::Post) {
                self.diags.push(Diagnostic::new(
                    "a `body` needs `method = \"POST\"`",
                    Some(body.span()),
                ));
            }
        }
        if let Some(r) = &spec.records {
            self.pointer(r, "`records`", spec.path.span());
        }
        for k in spec.primary_key.iter().flatten() {
            self.pointer(k, "primary key", spec.path.span());
        }
        if let Some(inc) = &spec.incremental {
            let places = [&inc.param, &inc.header, &inc.body]
                .iter()
                .filter(|p| p.is_some())
                .count();
            if places != 1 {
                self.diags.push(
                    Diagnostic::new(
                        "`incremental` needs exactly one of `param`, `header` or `body` to carry the lower bound",
                        Some(spec.path.span()),
                    ),
                );
            }
            self.pointer(&inc.field, "incremental `field`", spec.path.span());
            self.duration(inc.lookback.as_ref());
            if let Some(t) = &inc.template
                && !t.contains("{bound}")
            {
                self.diags.push(Diagnostic::new(
                    format!("incremental `template` {t:?} has no `{{bound}}`"),
                    Some(spec.path.span()),
                ));
            }
        }
        if let Some(p) = &spec.paginator {
            self.paginator(p, spec.path.span());
        }
    }

    fn body_strings(&mut self, value: &toml::Value, span: Range<usize>, scope: &Scope) {
        match value {
            toml::Value::String(s) => {
                // Inner spans of a body are not kept: point at the body.
                let text = Spanned::new(span.start.saturating_sub(1)..span.end, s.clone());
                self.text(&text, scope);
            }
            toml::Value::Array(items) => {
                for v in items {
                    self.body_strings(v, span.clone(), scope);
                }
            }
            toml::Value::Table(t) => {
                for v in t.values() {
                    self.body_strings(v, span.clone(), scope);
                }
            }
            _ => {}
        }
    }

    fn paginator(&mut self, p: &PaginatorDef, span: Range<usize>) {
        let (param, size) = match p {
            PaginatorDef::LinkHeader {
                page_size_param,
                page_size,
                ..
            }
            | PaginatorDef::NextUrl {
                page_size_param,
                page_size,
                ..
            }
            | PaginatorDef::Cursor {
                page_size_param,
                page_size,
                ..
            }
            | PaginatorDef::HeaderCursor {
                page_size_param,
                page_size,
                ..
            }
            | PaginatorDef::LastRecord {
                page_size_param,
                page_size,
                ..
            }
            | PaginatorDef::PageNumber {
                page_size_param,
                page_size,
                ..
            } => (page_size_param.is_some(), page_size.is_some()),
            _ => (false, false),
        };
        if param != size {
            self.diags.push(
                Diagnostic::new(
                    "`page_size` and `page_size_param` go together",
                    Some(span.clone()),
                )
                .help("write both: `page_size_param = \"per_page\", page_size = 100`"),
            );
        }
        let pointers: Vec<(&str, &String)> = match p {
            PaginatorDef::NextUrl { next_url, .. } => vec![("`next_url`", next_url)],
            PaginatorDef::Cursor { cursor, .. } => vec![("`cursor`", cursor)],
            PaginatorDef::LastRecord { field, .. } => vec![("`field`", field)],
            _ => Vec::new(),
        };
        for (what, ptr) in pointers {
            self.pointer(ptr, what, span.clone());
        }
    }
}

fn names(set: &BTreeSet<String>) -> String {
    set.iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}
