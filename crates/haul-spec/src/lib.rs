//! Declarative connector specs for haul: a TOML file that says what a
//! connector is — base URL, auth, retry, rate limit, streams, paginators,
//! incremental fields, partitions, sink — turned into the library's
//! [`haul::Connector`]. Everything a spec says maps onto the builder types;
//! what it cannot say is written in Rust against the same types.
//!
//! The spec is **strict**: an unknown key is an error with a did-you-mean;
//! every error names `file:line:col` with the span underlined, and all of
//! them are reported at once. It is **typed**: inputs are strings, integers,
//! datetimes or secrets; templates (`{input.x}`, `{partition.x}`,
//! `{parent.x}`) are checked when the spec loads, so a template naming an
//! unknown value fails validation, not a request. Secrets come only from the
//! environment or a file, are wrapped in [`haul::Secret`], and can only be
//! used as credentials.
//!
//! ```
//! use haul_spec::{Inputs, Spec};
//!
//! let text = r#"
//! version = 1
//! name = "github"
//!
//! [inputs.base_url]
//! type = "string"
//! default = "https://api.github.com"
//!
//! [inputs.token]
//! type = "secret"
//! env = "GITHUB_TOKEN"
//!
//! [source]
//! base_url = "{input.base_url}"
//! auth = { type = "bearer", token = "{input.token}" }
//!
//! [streams.repos]
//! path = "/orgs/{partition.org}/repos"
//! partitions = { kind = "list", values = [{ org = "rust-lang" }] }
//! paginator = { style = "link_header", page_size_param = "per_page", page_size = 100 }
//! primary_key = ["/id"]
//!
//! [streams.issues]
//! path = "/repos/{parent.org}/{parent.repo}/issues"
//! partitions = { kind = "parent", stream = "repos", fields = { repo = "/name" } }
//! paginator = { style = "link_header" }
//! "#;
//! let spec = Spec::parse("github.toml", text)?;
//! assert_eq!(spec.stream_names(), ["repos", "issues"]);
//!
//! // A typo is an error with its place and a suggestion.
//! let err = Spec::parse("bad.toml", &text.replace("paginator =", "paginatr =")).unwrap_err();
//! let shown = err.to_string();
//! assert!(shown.contains("bad.toml:20:1: unknown key `paginatr`"), "{shown}");
//! assert!(shown.contains("did you mean `paginator`?"));
//!
//! // Inputs fill the templates; the connector is the library's. (The token
//! // would come from `GITHUB_TOKEN` with `.from_env(true)`; building sends nothing.)
//! let inputs = Inputs::new()
//!     .set("base_url", "http://127.0.0.1:9")
//!     .placeholder_secret("token");
//! let resolved = spec.resolve(&inputs)?;
//! let connector = resolved.connector(&Default::default())?.build()?;
//! assert_eq!(connector.name(), "github");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod build;
mod check;
mod diag;
mod inputs;
mod load;
mod model;
mod sink;
mod template;

use std::collections::BTreeMap;
use std::path::Path;

pub use build::BuildOptions;
pub use check::{CHECK_PAGES, CheckReport, CheckRequest, StreamCheck};
pub use diag::{Diagnostic, Diagnostics};
pub use inputs::Inputs;
pub use model::InputType;
pub use sink::SinkUrl;

use crate::diag::did_you_mean;
use crate::inputs::Values;
use crate::model::PartitionsDef;

/// Why a spec cannot be loaded, resolved or built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SpecError {
    /// The spec file cannot be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The spec is invalid: every problem, with its place.
    #[error("{0}")]
    Invalid(Diagnostics),
    /// The spec is valid but the library refused what it describes.
    #[error("cannot build the connector: {0}")]
    Build(String),
    /// The sink URL or the sink itself.
    #[error("sink: {0}")]
    Sink(String),
}

impl From<haul::BuildError> for SpecError {
    fn from(e: haul::BuildError) -> Self {
        SpecError::Build(e.to_string())
    }
}

impl SpecError {
    /// The diagnostics, when the spec itself is invalid.
    pub fn diagnostics(&self) -> Option<&Diagnostics> {
        match self {
            SpecError::Invalid(d) => Some(d),
            _ => None,
        }
    }
}

/// A loaded, checked spec (inputs not yet filled in).
#[derive(Debug, Clone)]
pub struct Spec {
    file: String,
    text: String,
    loaded: load::Loaded,
}

/// One stream as the spec declares it (for listings).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamInfo {
    /// The stream name.
    pub name: String,
    /// The parent stream, for `kind = "parent"` partitions.
    pub parent: Option<String>,
    /// Where its partitions come from: `single`, `list (N)`, `windows (STEP)`, `parent`.
    pub partitions: String,
    /// Primary key pointers.
    pub primary_key: Vec<String>,
    /// The incremental field, if any.
    pub incremental_field: Option<String>,
}

impl Spec {
    /// Reads and checks the spec at `path`.
    pub fn from_path(path: impl AsRef<Path>) -> Result<Self, SpecError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| SpecError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&path.display().to_string(), &text)
    }

    /// Checks spec `text`, naming it `file` in diagnostics. Every problem
    /// is reported, not just the first.
    pub fn parse(file: &str, text: &str) -> Result<Self, SpecError> {
        let mut diags = Vec::new();
        let loaded = load::load(text, &mut diags);
        match loaded {
            Some(loaded) if diags.is_empty() => Ok(Self {
                file: file.to_owned(),
                text: text.to_owned(),
                loaded,
            }),
            _ => {
                if diags.is_empty() {
                    diags.push(Diagnostic::new("invalid spec", None));
                }
                Err(SpecError::Invalid(Diagnostics::new(file, text, diags)))
            }
        }
    }

    /// The connector's name.
    pub fn name(&self) -> &str {
        &self.loaded.name
    }

    /// The stream names, parents before children.
    pub fn stream_names(&self) -> Vec<&str> {
        self.loaded
            .streams
            .iter()
            .map(|(n, _)| n.as_str())
            .collect()
    }

    /// The streams as declared.
    pub fn streams(&self) -> Vec<StreamInfo> {
        self.loaded
            .streams
            .iter()
            .map(|(name, s)| StreamInfo {
                name: name.clone(),
                parent: match &s.partitions {
                    Some(PartitionsDef::Parent { stream, .. }) => Some(stream.get_ref().clone()),
                    _ => None,
                },
                partitions: match &s.partitions {
                    None => "single".into(),
                    Some(PartitionsDef::List { values }) => format!("list ({})", values.len()),
                    Some(PartitionsDef::Windows { step, .. }) => {
                        format!("windows ({})", step.get_ref())
                    }
                    Some(PartitionsDef::Parent { stream, .. }) => {
                        format!("parent ({})", stream.get_ref())
                    }
                },
                primary_key: s.primary_key.clone().unwrap_or_default(),
                incremental_field: s.incremental.as_ref().map(|i| i.field.clone()),
            })
            .collect()
    }

    /// The input names and types.
    pub fn inputs(&self) -> Vec<(&str, InputType)> {
        self.loaded
            .inputs
            .iter()
            .map(|(n, (_, d))| (n.as_str(), d.kind))
            .collect()
    }

    /// The environment variable each input is read from (its `env`, else
    /// `HAUL_INPUT_<NAME>`), by input name.
    pub fn input_env_vars(&self) -> Vec<(&str, InputType, String)> {
        self.loaded
            .inputs
            .iter()
            .map(|(n, (_, d))| {
                (
                    n.as_str(),
                    d.kind,
                    d.env.clone().unwrap_or_else(|| inputs::default_env(n)),
                )
            })
            .collect()
    }

    /// Fills the inputs: `--set` values, then the environment (if enabled),
    /// then secret files, then defaults. Every missing or ill-typed value is
    /// reported; a secret given with `--set` is refused.
    pub fn resolve(&self, inputs: &Inputs) -> Result<Resolved, SpecError> {
        let mut diags = Vec::new();
        for name in inputs.sets().keys() {
            if !self.loaded.inputs.contains_key(name) {
                let mut d = Diagnostic::new(
                    format!("--set {name}: the spec declares no input `{name}`"),
                    None,
                );
                if let Some(best) =
                    did_you_mean(name, self.loaded.inputs.keys().map(String::as_str))
                {
                    d = d.help(format!("did you mean `{best}`?"));
                }
                diags.push(d);
            }
        }
        let mut values = Values::default();
        for (name, (span, def)) in &self.loaded.inputs {
            let env_name = def.env.clone().unwrap_or_else(|| inputs::default_env(name));
            let from_env = || {
                inputs
                    .env_enabled()
                    .then(|| std::env::var(&env_name).ok())
                    .flatten()
            };
            if def.kind == InputType::Secret {
                if inputs.get_set(name).is_some() {
                    diags.push(
                        Diagnostic::new(
                            format!("secret input `{name}` cannot be given with --set (it would show in the process list and shell history)"),
                            Some(span.clone()),
                        )
                        .help(format!("export {env_name}=… instead")),
                    );
                    continue;
                }
                let value = match from_env() {
                    Some(v) => Some(v),
                    None => match &def.file {
                        Some(f) => match std::fs::read_to_string(f) {
                            Ok(v) => Some(v.trim_end_matches(['\n', '\r']).to_owned()),
                            Err(e) => {
                                diags.push(Diagnostic::new(
                                    format!("secret input `{name}`: cannot read {f}: {e}"),
                                    Some(span.clone()),
                                ));
                                continue;
                            }
                        },
                        None => None,
                    },
                };
                match value {
                    Some(v) => {
                        values.secrets.insert(name.clone(), haul::Secret::new(v));
                    }
                    None if inputs.is_placeholder(name) => {
                        values
                            .secrets
                            .insert(name.clone(), haul::Secret::new(String::new()));
                    }
                    None => diags.push(
                        Diagnostic::new(
                            format!("secret input `{name}` has no value"),
                            Some(span.clone()),
                        )
                        .help(format!(
                            "export {env_name}=…{}",
                            def.file
                                .as_ref()
                                .map_or(String::new(), |f| format!(" or write it to {f}"))
                        )),
                    ),
                }
                continue;
            }
            let given = inputs.get_set(name).map(str::to_owned).or_else(from_env);
            let value = match given {
                Some(v) => {
                    let v = toml::Value::String(v);
                    if let Err(why) = inputs::check_value(def.kind, &v) {
                        diags.push(Diagnostic::new(
                            format!("input `{name}`: {why}"),
                            Some(span.clone()),
                        ));
                        continue;
                    }
                    inputs::value_text(&v)
                }
                None => match &def.default {
                    Some(d) => inputs::value_text(d.get_ref()),
                    None => {
                        diags.push(
                            Diagnostic::new(
                                format!("input `{name}` has no value"),
                                Some(span.clone()),
                            )
                            .help(format!("give it with --set {name}=… or {env_name}=…")),
                        );
                        continue;
                    }
                },
            };
            values.plain.insert(name.clone(), value);
        }
        if !diags.is_empty() {
            return Err(SpecError::Invalid(Diagnostics::new(
                &self.file, &self.text, diags,
            )));
        }
        Ok(Resolved {
            spec: self.clone(),
            values,
        })
    }

    /// Checks the values `inputs` gives with `set` (names and types) without
    /// requiring the others: what `haul validate --set` checks offline.
    pub fn check_inputs(&self, inputs: &Inputs) -> Result<(), SpecError> {
        let mut diags = Vec::new();
        for (name, value) in inputs.sets() {
            match self.loaded.inputs.get(name) {
                None => {
                    let mut d = Diagnostic::new(
                        format!("--set {name}: the spec declares no input `{name}`"),
                        None,
                    );
                    if let Some(best) =
                        did_you_mean(name, self.loaded.inputs.keys().map(String::as_str))
                    {
                        d = d.help(format!("did you mean `{best}`?"));
                    }
                    diags.push(d);
                }
                Some((span, def)) if def.kind == InputType::Secret => diags.push(
                    Diagnostic::new(
                        format!("secret input `{name}` cannot be given with --set"),
                        Some(span.clone()),
                    )
                    .help("give it in the environment or a file"),
                ),
                Some((span, def)) => {
                    if let Err(why) =
                        inputs::check_value(def.kind, &toml::Value::String(value.clone()))
                    {
                        diags.push(Diagnostic::new(
                            format!("--set {name}: {why}"),
                            Some(span.clone()),
                        ));
                    }
                }
            }
        }
        if diags.is_empty() {
            Ok(())
        } else {
            Err(SpecError::Invalid(Diagnostics::new(
                &self.file, &self.text, diags,
            )))
        }
    }

    /// The spec's JSON Schema (for editors: taplo reads a `#:schema` comment).
    pub fn json_schema() -> serde_json::Value {
        serde_json::to_value(schemars::schema_for!(model::SpecFile)).unwrap_or_default()
    }
}

/// A spec with its inputs filled in: ready to build a connector and open a sink.
#[derive(Debug, Clone)]
pub struct Resolved {
    spec: Spec,
    values: Values,
}

impl Resolved {
    /// The spec.
    pub fn spec(&self) -> &Spec {
        &self.spec
    }

    /// The library connector builder the spec describes. Add an observer,
    /// a clock or anything else before `build()`.
    pub fn connector(&self, options: &BuildOptions) -> Result<haul::ConnectorBuilder, SpecError> {
        let l = &self.spec.loaded;
        build::connector(&l.name, &l.source, &l.streams, &self.values, options)
    }

    /// The sink: `override_url` if given, else the spec's `[sink] url`, else
    /// `sqlite:<name>.db`.
    pub fn sink_url(&self, override_url: Option<&str>) -> Result<SinkUrl, SpecError> {
        let l = &self.spec.loaded;
        let url = match (override_url, &l.sink) {
            (Some(u), _) => u.to_owned(),
            (None, Some(s)) => {
                let pieces = template::parse(s.url.get_ref()).unwrap_or_default();
                template::render(&pieces, &self.values.plain, true)
            }
            (None, None) => format!("sqlite:{}.db", l.name),
        };
        SinkUrl::parse(&url)
    }

    /// Opens the sink at `url` with every stream's primary key.
    pub fn open_sink(&self, url: &SinkUrl) -> Result<Box<dyn haul::Sink>, SpecError> {
        let keys: Vec<(String, Vec<String>)> = self
            .spec
            .loaded
            .streams
            .iter()
            .map(|(n, s)| (n.clone(), s.primary_key.clone().unwrap_or_default()))
            .collect();
        url.open(&keys)
    }

    /// Primary keys by stream.
    pub fn primary_keys(&self) -> BTreeMap<String, Vec<String>> {
        self.spec
            .loaded
            .streams
            .iter()
            .map(|(n, s)| (n.clone(), s.primary_key.clone().unwrap_or_default()))
            .collect()
    }
}

/// The stream holding each connector's run marker (the library's).
const RUN_STATE: &str = "_haul_connector";

impl Resolved {
    /// The stored state of `streams` (all when empty): each partition's
    /// values and checkpoint, and the connector's run marker.
    pub async fn state(
        &self,
        sink: &dyn haul::Sink,
        streams: &[String],
    ) -> Result<Vec<haul::sink::PartitionState>, SpecError> {
        let mut out = Vec::new();
        for name in self.selected(streams)? {
            out.extend(
                sink.partitions(&name)
                    .await
                    .map_err(|e| SpecError::Sink(e.to_string()))?,
            );
        }
        out.extend(
            sink.partitions(RUN_STATE)
                .await
                .map_err(|e| SpecError::Sink(e.to_string()))?
                .into_iter()
                .filter(|p| p.partition == self.spec.loaded.name),
        );
        Ok(out)
    }

    /// Forgets where the partitions of `streams` (all when empty) stand:
    /// each goes back to its first page, and the connector's run marker is
    /// closed, so the next run is a fresh pass rather than a resume.
    /// Records stay, and so do incremental watermarks (they are the stored
    /// records' own maximum): run with `full_refresh` to fetch everything
    /// again. Returns how many partitions were reset.
    pub async fn reset_state(
        &self,
        sink: &dyn haul::Sink,
        streams: &[String],
    ) -> Result<usize, SpecError> {
        let mut states = Vec::new();
        for name in self.selected(streams)? {
            for mut p in sink
                .partitions(&name)
                .await
                .map_err(|e| SpecError::Sink(e.to_string()))?
            {
                p.checkpoint = haul::Checkpoint::start(name.clone());
                states.push(p);
            }
        }
        let n = states.len();
        let mut marker = haul::Checkpoint::start(RUN_STATE);
        marker.position = haul::Position::Done;
        states.push(haul::sink::PartitionState {
            stream: RUN_STATE.to_owned(),
            partition: self.spec.loaded.name.clone(),
            values: BTreeMap::new(),
            checkpoint: marker,
        });
        sink.write_state(&states)
            .await
            .map_err(|e| SpecError::Sink(e.to_string()))?;
        Ok(n)
    }

    fn selected(&self, streams: &[String]) -> Result<Vec<String>, SpecError> {
        let names = self.spec.stream_names();
        for s in streams {
            if !names.contains(&s.as_str()) {
                let hint = did_you_mean(s, names.iter().copied())
                    .map(|b| format!("; did you mean {b:?}?"))
                    .unwrap_or_default();
                return Err(SpecError::Build(format!("no stream named {s:?}{hint}")));
            }
        }
        Ok(names
            .into_iter()
            .filter(|n| streams.is_empty() || streams.iter().any(|s| s == n))
            .map(str::to_owned)
            .collect())
    }
}
