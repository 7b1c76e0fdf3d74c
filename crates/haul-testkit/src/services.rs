//! Real services (PostgreSQL, Redis, …) that some tests need: such a test
//! skips, saying why, when its service is unreachable — unless
//! `HAUL_REQUIRE_SERVICES=1` is set (as CI sets it), which turns a missing
//! service into a failure, so a green CI run cannot hide skipped tests.
//!
//! ```
//! use haul_testkit::services;
//!
//! fn connect() -> Result<(), String> {
//!     Err("connection refused".into())
//! }
//! # if !services::required() {
//! let Ok(conn) = connect() else {
//!     services::unavailable("PostgreSQL", "connection refused"); // prints why; panics if required
//!     return;
//! };
//! # let _ = conn;
//! # }
//! ```

use std::fmt::Display;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// The variable that makes a missing service a failure when set to `1`.
pub const REQUIRE_SERVICES: &str = "HAUL_REQUIRE_SERVICES";

/// Whether missing services fail tests (`HAUL_REQUIRE_SERVICES=1`).
pub fn required() -> bool {
    std::env::var(REQUIRE_SERVICES).is_ok_and(|v| v == "1")
}

/// Reports that `service` is unreachable: panics when services are
/// [`required`], else writes on stderr that the calling test is skipped
/// and why (the caller then returns). The line goes straight to the
/// process's stderr, past the test harness's output capture, so a skip is
/// seen even in a passing run.
pub fn unavailable(service: &str, why: impl Display) {
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("a test");
    if required() {
        panic!("{service} is required ({REQUIRE_SERVICES}=1) but unreachable: {why} (in {test})");
    }
    let line = format!(
        "SKIPPED {test}: {service} is unreachable: {why}. \
         Start it, or set {REQUIRE_SERVICES}=1 to make this a failure.\n"
    );
    let _ = std::io::Write::write_all(&mut std::io::stderr(), line.as_bytes());
}

/// A name no other test run uses at the same time (a database schema, a
/// key prefix): `prefix`, the process id, the time and a counter, in
/// lowercase ASCII letters, digits and `_`.
pub fn unique_name(prefix: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "{prefix}_{}_{nanos}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_names_differ_and_stay_identifiers() {
        let (a, b) = (unique_name("haul_t"), unique_name("haul_t"));
        assert_ne!(a, b);
        assert!(a.len() <= 63);
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_'));
    }
}
