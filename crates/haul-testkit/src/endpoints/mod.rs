//! The endpoints: one module per pagination style, plus the probes, the
//! OAuth2 token endpoint and the redirect.
//!
//! Every pagination endpoint serves the same [`Dataset`](crate::Dataset) as
//! a window `[start, start + size)` of its records, rendered by concatenating
//! the pre-rendered record texts. With `updated_since`, the window is taken
//! from the records updated since then, still in id order.

pub(crate) mod graphql;
pub(crate) mod header_cursor;
pub(crate) mod items;
pub(crate) mod last_record;
pub(crate) mod link;
pub(crate) mod next_url;
pub(crate) mod oauth;
pub(crate) mod offset;
pub(crate) mod page_number;
pub(crate) mod presets;
pub(crate) mod probes;
pub(crate) mod redirect;
pub(crate) mod tree;

use http::{HeaderMap, Response, StatusCode};
use url::Url;

use crate::body::Body;
use crate::params;
use crate::reply::{self, ApiError};
use crate::server::State;

/// A successful page, before faults and rate-limit headers are applied.
#[derive(Debug, Default)]
pub(crate) struct DataPage {
    /// The JSON body.
    pub(crate) body: String,
    /// Style-specific headers (`Link`, `X-Next-Cursor`).
    pub(crate) headers: HeaderMap,
    /// How many records the body holds.
    pub(crate) records: usize,
    /// Answer `204 No Content` (no body, the style's headers kept).
    pub(crate) no_content: bool,
}

impl DataPage {
    /// The page as a `200 application/json` response, or a `204` without a
    /// body for a `no_content_at` page.
    pub(crate) fn into_response(self) -> Response<Body> {
        let mut response = if self.no_content {
            let mut response = Response::new(crate::body::full(bytes::Bytes::new()));
            *response.status_mut() = StatusCode::NO_CONTENT;
            response
        } else {
            reply::json(StatusCode::OK, self.body)
        };
        response.headers_mut().extend(self.headers);
        response
    }

    /// Applies a hole to a rendered page: a `204` keeps only the headers.
    pub(crate) fn with_hole(mut self, hole: Option<Hole>) -> Self {
        if hole == Some(Hole::NoContent) {
            self.no_content = true;
            self.body.clear();
            self.records = 0;
        }
        self
    }
}

/// What a pagination endpoint needs from a request.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Call<'a> {
    pub(crate) state: &'a State,
    pub(crate) path: &'a str,
    pub(crate) query: Option<&'a str>,
    /// The records this request pages through: the whole dataset, or those
    /// updated since `updated_since`.
    pub(crate) records: &'a [String],
    /// With `updated_since`: the dataset index of each of `records`.
    pub(crate) indices: Option<&'a [usize]>,
}

impl<'a> Call<'a> {
    pub(crate) fn records(&self) -> &'a [String] {
        self.records
    }

    /// Counts a request for a window starting at `start` past the end of
    /// the data (the first page of an empty listing is not past it).
    pub(crate) fn note_start(&self, start: usize) {
        if start > 0 && start >= self.records.len() {
            crate::stats::Counters::bump(&self.state.counters.past_end, 1);
        }
    }

    /// The page size from the query parameter `name`.
    pub(crate) fn page_size(&self, name: &str) -> Result<usize, ApiError> {
        params::page_size(
            self.query,
            name,
            self.state.default_page_size,
            self.state.max_page_size,
        )
    }

    /// This request's URL (absolute on this server, or on the configured
    /// link base) with `name` set to `value`, every other query parameter
    /// kept in order except a required API key, which clients add themselves.
    pub(crate) fn url_with(&self, name: &str, value: &str) -> Url {
        let mut url = self.state.link_base.clone();
        url.set_path(self.path);
        let secret = self.state.auth.as_ref().and_then(|auth| auth.query_param());
        let mut pairs: Vec<(String, String)> =
            url::form_urlencoded::parse(self.query.unwrap_or_default().as_bytes())
                .into_owned()
                .filter(|(key, _)| key != name && Some(key.as_str()) != secret)
                .collect();
        pairs.push((name.to_owned(), value.to_owned()));
        url.query_pairs_mut().extend_pairs(pairs);
        url
    }
}

/// The records `[start, start + size)` (clipped to the dataset) and the
/// index just past them.
pub(crate) fn window(records: &[String], start: usize, size: usize) -> (&[String], usize) {
    let start = start.min(records.len());
    let end = start.saturating_add(size).min(records.len());
    (records.get(start..end).unwrap_or_default(), end)
}

/// Appends `[r1,r2,…]`, the records verbatim.
pub(crate) fn push_array(out: &mut String, page: &[String]) {
    out.reserve(page.iter().map(|r| r.len() + 1).sum::<usize>() + 2);
    out.push('[');
    for (i, record) in page.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(record);
    }
    out.push(']');
}

/// A string with room for `page` and `extra` bytes of framing.
pub(crate) fn buffer(page: &[String], extra: usize) -> String {
    String::with_capacity(page.iter().map(|r| r.len() + 1).sum::<usize>() + extra)
}

const CURSOR_PREFIX: &str = "c_";

/// An opaque-looking cursor for offset `offset`: `c_` plus lowercase hex.
pub(crate) fn encode_cursor(offset: usize) -> String {
    format!("{CURSOR_PREFIX}{offset:x}")
}

/// Accepts only cursors this server could have issued: canonical form, an
/// offset of at most `max`.
pub(crate) fn decode_cursor(cursor: &str, max: usize) -> Option<usize> {
    let hex = cursor.strip_prefix(CURSOR_PREFIX)?;
    let offset = usize::from_str_radix(hex, 16).ok()?;
    (offset <= max && encode_cursor(offset) == cursor).then_some(offset)
}

/// Reads an optional cursor parameter, for the cursor styles whose cursors
/// address a page inside the dataset (or the first page of an empty one),
/// or, with `endless`, any page past it.
pub(crate) fn start_from_cursor(
    call: &Call<'_>,
    name: &str,
    odd: &Misbehaviour,
) -> Result<usize, ApiError> {
    let max = if odd.endless {
        usize::MAX
    } else {
        call.records().len().saturating_sub(1)
    };
    let start = match params::param(call.query, name) {
        None => Ok(0),
        Some(raw) => decode_cursor(&raw, max).ok_or_else(|| {
            ApiError::bad_request("invalid_cursor", format!("unknown cursor {raw:?}"))
        }),
    }?;
    call.note_start(start);
    Ok(start)
}

/// The error code of a `fail_at` page.
pub(crate) const FAILED_PAGE: &str = "injected_failure";

/// How a `no_content_at` / `empty_at` page answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hole {
    /// `204 No Content`, no body; the style's headers are kept.
    NoContent,
    /// `200` with no records; every other field and header as usual (a
    /// cursor to the next page, the total).
    Empty,
}

/// The misbehaviour switches of the cursor and link styles.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Misbehaviour {
    /// Page `k` (1-based, `k >= 2`) points back to page 2, the first page
    /// reached through a cursor: a cycle (a self-loop when `k == 2`).
    pub(crate) cycle_at: Option<usize>,
    /// The last page points to itself instead of ending.
    pub(crate) repeat_last: bool,
    /// Page `k` (1-based) answers this status every time it is requested.
    pub(crate) fail: Option<(usize, StatusCode)>,
    /// After the real end, empty pages keep handing out a fresh cursor or
    /// link (`has_more: true` at `/last-record`), forever.
    pub(crate) endless: bool,
    /// Page `k` (1-based) answers a hole instead of its records.
    pub(crate) hole: Option<(usize, Hole)>,
    /// The hole is answered only to the first request for its page.
    pub(crate) once: bool,
}

impl Misbehaviour {
    /// Reads `cycle_at=k`, `repeat_last=1` and `fail_at=k&fail_status=s`.
    pub(crate) fn parse(query: Option<&str>) -> Result<Self, ApiError> {
        let cycle_at = match params::optional_u64(query, "cycle_at")? {
            Some(k) if k < 2 => {
                return Err(ApiError::bad_request(
                    "invalid_parameter",
                    "cycle_at must be at least 2: page 1 has no cursor to repeat",
                ));
            }
            k => k.map(params::index),
        };
        let fail = match params::optional_u64(query, "fail_at")? {
            None => None,
            Some(0) => {
                return Err(ApiError::bad_request(
                    "invalid_parameter",
                    "fail_at counts pages from 1",
                ));
            }
            Some(k) => {
                let status = params::optional_u64(query, "fail_status")?.unwrap_or(500);
                let status = u16::try_from(status)
                    .ok()
                    .filter(|s| (400..=599).contains(s))
                    .and_then(|s| StatusCode::from_u16(s).ok())
                    .ok_or_else(|| {
                        ApiError::bad_request(
                            "invalid_parameter",
                            format!("fail_status must be a 4xx or 5xx status, got {status}"),
                        )
                    })?;
                Some((params::index(k), status))
            }
        };
        let page = |name: &str| -> Result<Option<usize>, ApiError> {
            match params::optional_u64(query, name)? {
                Some(0) => Err(ApiError::bad_request(
                    "invalid_parameter",
                    format!("{name} counts pages from 1"),
                )),
                k => Ok(k.map(params::index)),
            }
        };
        let hole = match (page("no_content_at")?, page("empty_at")?) {
            (Some(k), None) => Some((k, Hole::NoContent)),
            (None, Some(k)) => Some((k, Hole::Empty)),
            (None, None) => None,
            (Some(_), Some(_)) => {
                return Err(ApiError::bad_request(
                    "invalid_parameter",
                    "no_content_at and empty_at exclude each other",
                ));
            }
        };
        Ok(Misbehaviour {
            cycle_at,
            repeat_last: params::flag(query, "repeat_last"),
            fail,
            endless: params::flag(query, "endless"),
            hole,
            once: params::flag(query, "once"),
        })
    }

    /// The hole page `page` (1-based) answers on this request, if any
    /// (counted in [`Stats::holes`](crate::Stats::holes)).
    pub(crate) fn hole_at(&self, call: &Call<'_>, page: usize) -> Option<Hole> {
        let (k, hole) = self.hole?;
        if k != page {
            return None;
        }
        if self.once {
            let mut served = call
                .state
                .holes_served
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if !served.insert((call.path.to_owned(), page)) {
                return None;
            }
        }
        crate::stats::Counters::bump(&call.state.counters.holes, 1);
        Some(hole)
    }

    /// The permanent failure of `fail_at`, if page `page` (1-based) is it.
    pub(crate) fn fail_page(&self, page: usize) -> Result<(), ApiError> {
        match self.fail {
            Some((k, status)) if k == page => Err(ApiError::new(
                status,
                FAILED_PAGE,
                format!("fail_at: page {k} fails every time"),
            )),
            _ => Ok(()),
        }
    }

    /// [`fail_page`](Self::fail_page) for the window starting at `start`.
    pub(crate) fn fail(&self, start: usize, size: usize) -> Result<(), ApiError> {
        self.fail_page(Misbehaviour::page_number(start, size))
    }

    /// The page number (1-based) of a window starting at `start`.
    pub(crate) fn page_number(start: usize, size: usize) -> usize {
        (start / size.max(1)).saturating_add(1)
    }

    /// Whether the page starting at `start` is the one that cycles.
    pub(crate) fn cycles_at(&self, start: usize, size: usize) -> bool {
        self.cycle_at == Some(Misbehaviour::page_number(start, size))
    }

    /// Where the page after `[start, end)` starts, or `None` at the end.
    pub(crate) fn next(&self, start: usize, end: usize, len: usize, size: usize) -> Option<usize> {
        if self.cycles_at(start, size) {
            Some(size)
        } else if end < len {
            Some(end)
        } else if self.endless {
            // A fresh position past the end every time.
            Some(start.saturating_add(size.max(1)))
        } else if self.repeat_last {
            Some(start)
        } else {
            None
        }
    }
}

/// A JSON string literal.
pub(crate) fn json_string(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| String::from("\"\""))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_foreign_values() {
        assert_eq!(encode_cursor(250), "c_fa");
        assert_eq!(decode_cursor("c_fa", 299), Some(250));
        assert_eq!(decode_cursor("c_0", 299), Some(0));
        assert_eq!(decode_cursor("c_fa", 249), None);
        for bad in [
            "", "fa", "250", "c_", "c_FA", "c_0fa", "c_+fa", "c_12c", "c_zz", "c_-1",
        ] {
            assert_eq!(decode_cursor(bad, 299), None, "{bad:?}");
        }
    }

    #[test]
    fn windows_clip_to_the_dataset() {
        let records: Vec<String> = (0..5).map(|i| i.to_string()).collect();
        assert_eq!(window(&records, 0, 2), (&records[0..2], 2));
        assert_eq!(window(&records, 4, 2), (&records[4..5], 5));
        assert_eq!(window(&records, 9, 2).0.len(), 0);
        assert_eq!(window(&records, 3, usize::MAX), (&records[3..5], 5));
        let mut out = String::new();
        push_array(&mut out, &records[1..3]);
        assert_eq!(out, "[1,2]");
    }

    #[test]
    fn misbehaviour_moves_the_next_page() {
        let normal = Misbehaviour::default();
        assert_eq!(normal.next(0, 10, 25, 10), Some(10));
        assert_eq!(normal.next(20, 25, 25, 10), None);
        let cycle = Misbehaviour {
            cycle_at: Some(3),
            ..Misbehaviour::default()
        };
        assert_eq!(cycle.next(10, 20, 25, 10), Some(20));
        assert_eq!(cycle.next(20, 25, 25, 10), Some(10));
        let repeat = Misbehaviour {
            repeat_last: true,
            ..Misbehaviour::default()
        };
        assert_eq!(repeat.next(20, 25, 25, 10), Some(20));
        assert_eq!(repeat.next(0, 0, 0, 10), Some(0));
        assert!(Misbehaviour::parse(Some("cycle_at=1")).is_err());
        assert_eq!(
            Misbehaviour::parse(Some("cycle_at=4&repeat_last=1")).unwrap(),
            Misbehaviour {
                cycle_at: Some(4),
                repeat_last: true,
                ..Misbehaviour::default()
            }
        );
    }
}
