//! What the styles share to build, written once: their common builder
//! methods (`records_at`, `selector`, `page_size`) and the requests they send
//! (page size, position, cursor, next URL).

use haul_core::Request;
use url::Url;

use crate::Next;
use crate::signals::set_cursor_param;

/// Expands to the `records_at` and `selector` builder methods of a style
/// whose records are chosen by a `selector: RecordSelector` field.
macro_rules! selector_builders {
    () => {
        /// Where the records are: a JSON pointer to an array.
        pub fn records_at(mut self, pointer: impl Into<String>) -> Self {
            self.selector = $crate::RecordSelector::pointer(pointer);
            self
        }

        /// Where the records are, as any [`RecordSelector`].
        pub fn selector(mut self, selector: $crate::RecordSelector) -> Self {
            self.selector = selector;
            self
        }
    };
}

/// Expands to the `page_size` builder method of a style with a
/// `page_size: Option<(String, u64)>` field, documented as sent on every
/// request unless other docs are given.
macro_rules! page_size_builder {
    () => {
        $crate::builders::page_size_builder! {
            /// Sends the page size as query parameter `param` on every request.
        }
    };
    ($(#[$doc:meta])+) => {
        $(#[$doc])+
        pub fn page_size(mut self, param: impl Into<String>, size: u64) -> Self {
            self.page_size = Some((param.into(), size));
            self
        }
    };
}

pub(crate) use {page_size_builder, selector_builders};

/// Sets the page-size query parameter on `request`, when one is configured.
pub(crate) fn set_page_size(request: &mut Request, page_size: Option<&(String, u64)>) {
    if let Some((param, size)) = page_size {
        request.set_query(param, &size.to_string());
    }
}

/// `request` at position `value` of query parameter `param` (an offset, a
/// page number), with the page size when one is configured.
pub(crate) fn at_position(
    request: &Request,
    param: &str,
    value: u64,
    page_size: Option<&(String, u64)>,
) -> Request {
    let mut next = request.clone();
    next.set_query(param, &value.to_string());
    set_page_size(&mut next, page_size);
    next
}

/// The next request: `request` with query parameter `param` set to `cursor`
/// (verbatim when `pre_encoded`, see [`set_cursor_param`]).
pub(crate) fn next_with_cursor(
    request: &Request,
    param: &str,
    cursor: &str,
    pre_encoded: bool,
) -> Next {
    let mut next = request.clone();
    set_cursor_param(&mut next, param, cursor, pre_encoded);
    Next::Request(next)
}

/// The next request: `request` sent to `url` instead (a next link or URL).
pub(crate) fn next_at_url(request: &Request, url: Url) -> Next {
    let mut next = request.clone();
    next.url = url;
    Next::Request(next)
}
