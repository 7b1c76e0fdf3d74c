//! [`BoundPlacement`]: where the incremental lower bound goes in the request.

use std::fmt;
use std::sync::Arc;

use haul_core::Request;
use http::{HeaderName, HeaderValue};

use crate::IncrementalError;

/// The placeholder a [`BoundPlacement::template`] replaces with the bound.
pub const BOUND_PLACEHOLDER: &str = "{bound}";

type PlaceFn = dyn Fn(&mut Request, &str) + Send + Sync;

/// Where an incremental pass puts its lower bound: a query parameter (the
/// default of [`Incremental::new`](crate::Incremental::new)), a header, a
/// field of a JSON body (a GraphQL variable), or anywhere a closure says.
/// With [`template`](Self::template) the value placed is a text around the
/// bound, such as a SOQL query or a filter expression.
///
/// The bound is placed only in the first request of a pass that has a
/// watermark (a destination with no data gets the configured request as it
/// is). The bound is recorded in the checkpoint, and a resumed pass places the
/// same bound again where the stored request does not carry it (headers are
/// not stored; a [`custom`](Self::custom) closure runs again, so make it
/// idempotent).
///
/// ```
/// use haul_extractor::{BoundPlacement, Incremental, TimeFormat};
/// use haul_core::Request;
///
/// // Salesforce: the bound lives inside the SOQL text of `q`.
/// let soql = Incremental::placed(
///     "/SystemModstamp",
///     BoundPlacement::query("q")
///         .template("SELECT Id, Name FROM Account WHERE SystemModstamp > {bound} ORDER BY SystemModstamp"),
/// );
/// let mut request = Request::get("https://x.my.salesforce.com/services/data/v60.0/query?q=SELECT+Id%2C+Name+FROM+Account".parse()?);
/// soql.place(&mut request, "2026-01-01T00:00:00Z")?;
/// assert_eq!(
///     request.query("q").as_deref(),
///     Some("SELECT Id, Name FROM Account WHERE SystemModstamp > 2026-01-01T00:00:00Z ORDER BY SystemModstamp")
/// );
///
/// // GraphQL: a variable of the JSON body; HubSpot-style milliseconds.
/// let graphql = Incremental::placed("/updatedAt", BoundPlacement::body("/variables/since"))
///     .format(TimeFormat::EpochMillis);
/// let mut request = Request::post_json("https://api.example.com/graphql".parse()?, r#"{"query":"q","variables":{"first":100}}"#);
/// graphql.place(&mut request, &graphql.lower_bound("1767225690123")?)?;
/// assert_eq!(request.body.as_deref(), Some(&br#"{"query":"q","variables":{"first":100,"since":"1767225630123"}}"#[..]));
///
/// // Anything else: a closure over the request.
/// let custom = Incremental::placed(
///     "/modified",
///     BoundPlacement::custom(|request, bound| request.set_query("filter", &format!("modified ge {bound}"))),
/// );
/// # let _ = custom;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct BoundPlacement {
    target: Target,
    template: Option<String>,
}

#[derive(Clone)]
enum Target {
    Query(String),
    Header(String),
    Body(String),
    Custom(Arc<PlaceFn>),
}

impl BoundPlacement {
    /// Query parameter `name`, replacing any configured value of it.
    pub fn query(name: impl Into<String>) -> Self {
        Self::at(Target::Query(name.into()))
    }

    /// Header `name`, replacing any configured value of it.
    pub fn header(name: impl Into<String>) -> Self {
        Self::at(Target::Header(name.into()))
    }

    /// The field at JSON pointer `pointer` of the request's JSON body (a
    /// GraphQL variable: `/variables/since`), set as a JSON string. The
    /// field's parent must exist and be an object; the field is created or
    /// replaced.
    pub fn body(pointer: impl Into<String>) -> Self {
        Self::at(Target::Body(pointer.into()))
    }

    /// Whatever `place` does with the request and the value (the bound, or
    /// the rendered [`template`](Self::template)). It runs for the first
    /// request of a pass and again when a pass resumes, so it must be
    /// idempotent (set a value, never append one).
    pub fn custom(place: impl Fn(&mut Request, &str) + Send + Sync + 'static) -> Self {
        Self::at(Target::Custom(Arc::new(place)))
    }

    /// Place `template` with every [`BOUND_PLACEHOLDER`] (`{bound}`) replaced
    /// by the bound, rather than the bound alone: a SOQL `WHERE` clause, a
    /// filter expression, a quoted literal (`'{bound}'`).
    pub fn template(mut self, template: impl Into<String>) -> Self {
        self.template = Some(template.into());
        self
    }

    fn at(target: Target) -> Self {
        Self {
            target,
            template: None,
        }
    }

    /// Checks what can be checked before a request exists.
    pub(crate) fn validate(&self) -> Result<(), String> {
        if let Some(template) = &self.template
            && !template.contains(BOUND_PLACEHOLDER)
        {
            return Err(format!(
                "the incremental template {template:?} has no {BOUND_PLACEHOLDER} placeholder"
            ));
        }
        match &self.target {
            Target::Header(name) => HeaderName::try_from(name.as_str()).map(drop).map_err(|e| {
                format!("the incremental bound's header name {name:?} is invalid: {e}")
            }),
            Target::Body(pointer) if !pointer.starts_with('/') => Err(format!(
                "the incremental bound's body pointer {pointer:?} must start with '/'"
            )),
            _ => Ok(()),
        }
    }

    /// Whether a checkpoint's stored request lacks the bound, so a resumed
    /// pass must place it again.
    pub(crate) fn reapply_on_resume(&self) -> bool {
        matches!(self.target, Target::Header(_) | Target::Custom(_))
    }

    /// Puts `bound` into `request`.
    pub(crate) fn apply(&self, request: &mut Request, bound: &str) -> Result<(), IncrementalError> {
        let value = match &self.template {
            Some(template) => template.replace(BOUND_PLACEHOLDER, bound),
            None => bound.to_owned(),
        };
        let fail = |reason: String| IncrementalError::Placement {
            bound: value.clone(),
            placement: self.to_string(),
            reason,
        };
        match &self.target {
            Target::Query(name) => request.set_query(name, &value),
            Target::Header(name) => {
                let name = HeaderName::try_from(name.as_str()).map_err(|e| fail(e.to_string()))?;
                let header =
                    HeaderValue::try_from(value.as_str()).map_err(|e| fail(e.to_string()))?;
                request.headers.insert(name, header);
            }
            Target::Body(pointer) => {
                let body = request
                    .body
                    .as_deref()
                    .ok_or_else(|| fail("the request has no body".into()))?;
                let mut json: serde_json::Value = serde_json::from_slice(body)
                    .map_err(|e| fail(format!("the request body is not JSON: {e}")))?;
                set_at(&mut json, pointer, serde_json::Value::String(value.clone()))
                    .map_err(fail)?;
                let text = serde_json::to_vec(&json).map_err(|e| fail(e.to_string()))?;
                request.body = Some(text.into());
            }
            Target::Custom(place) => place(request, &value),
        }
        Ok(())
    }
}

/// Sets the value at RFC 6901 `pointer`, creating its last segment.
fn set_at(
    json: &mut serde_json::Value,
    pointer: &str,
    value: serde_json::Value,
) -> Result<(), String> {
    let (parent, last) = pointer
        .rsplit_once('/')
        .ok_or_else(|| format!("{pointer:?} is not a JSON pointer"))?;
    let key = last.replace("~1", "/").replace("~0", "~");
    match json.pointer_mut(parent) {
        Some(serde_json::Value::Object(map)) => {
            map.insert(key, value);
            Ok(())
        }
        Some(_) => Err(format!("the body's value at {parent:?} is not an object")),
        None => Err(format!("the body has no object at {parent:?}")),
    }
}

impl fmt::Display for BoundPlacement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.target {
            Target::Query(name) => write!(f, "query parameter {name:?}")?,
            Target::Header(name) => write!(f, "header {name:?}")?,
            Target::Body(pointer) => write!(f, "body field {pointer:?}")?,
            Target::Custom(_) => f.write_str("a custom placement")?,
        }
        if let Some(template) = &self.template {
            write!(f, " with template {template:?}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for BoundPlacement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BoundPlacement({self})")
    }
}

impl PartialEq for BoundPlacement {
    fn eq(&self, other: &Self) -> bool {
        let same_target = match (&self.target, &other.target) {
            (Target::Query(a), Target::Query(b))
            | (Target::Header(a), Target::Header(b))
            | (Target::Body(a), Target::Body(b)) => a == b,
            (Target::Custom(a), Target::Custom(b)) => Arc::ptr_eq(a, b),
            _ => false,
        };
        same_target && self.template == other.template
    }
}

impl Eq for BoundPlacement {}

#[cfg(test)]
mod tests {
    use super::*;

    fn get() -> Request {
        Request::get("https://api.example.com/items?limit=10".parse().unwrap())
    }

    #[test]
    fn query_and_header_and_template() {
        let mut r = get();
        BoundPlacement::query("since").apply(&mut r, "B").unwrap();
        BoundPlacement::query("since").apply(&mut r, "B").unwrap();
        assert_eq!(
            r.url.as_str(),
            "https://api.example.com/items?limit=10&since=B"
        );
        BoundPlacement::header("X-Since")
            .template("gt:{bound}")
            .apply(&mut r, "B")
            .unwrap();
        assert_eq!(r.headers.get("x-since").unwrap(), "gt:B");
        let error = BoundPlacement::header("X-Since")
            .apply(&mut r, "line\nbreak")
            .unwrap_err();
        assert!(
            matches!(error, IncrementalError::Placement { .. }),
            "{error}"
        );
    }

    #[test]
    fn body_fields_are_created_inside_existing_objects() {
        let mut r = Request::post_json(
            "https://api.example.com/graphql".parse().unwrap(),
            r#"{"query":"q","variables":{}}"#,
        );
        BoundPlacement::body("/variables/a~1b")
            .apply(&mut r, "B")
            .unwrap();
        assert_eq!(
            r.body.as_deref(),
            Some(&br#"{"query":"q","variables":{"a/b":"B"}}"#[..])
        );
        let error = BoundPlacement::body("/missing/since")
            .apply(&mut r, "B")
            .unwrap_err();
        assert!(
            error.to_string().contains("no object at \"/missing\""),
            "{error}"
        );
        let error = BoundPlacement::body("/since")
            .apply(&mut get(), "B")
            .unwrap_err();
        assert!(error.to_string().contains("no body"), "{error}");
    }

    #[test]
    fn configuration_is_checked_early() {
        assert!(
            BoundPlacement::query("q")
                .template("no placeholder")
                .validate()
                .is_err()
        );
        assert!(BoundPlacement::header("bad header").validate().is_err());
        assert!(BoundPlacement::body("variables").validate().is_err());
        assert!(BoundPlacement::body("/variables/since").validate().is_ok());
        assert!(BoundPlacement::custom(|_, _| {}).validate().is_ok());
    }
}
