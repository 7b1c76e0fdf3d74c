//! # haul-core
//!
//! The shared vocabulary of [haul](https://github.com/haul-rs/haul): every other
//! haul crate speaks in these types, and this crate depends on no other haul crate.
//!
//! - [`Request`] / [`Response`]: thin wrappers over the `http` crate's types,
//!   with `Debug` that masks credentials.
//! - [`Record`]: one record as raw JSON, parsed only where a field is needed.
//! - [`Page`]: the records of one response.
//! - [`Checkpoint`] / [`Position`]: where a stream stands, committed with its records.
//! - [`Secret`]: a credential whose `Debug`/`Display` print `***`.
//! - [`Clock`] / [`Sleeper`]: injected time, so decisions are testable without waiting.
//! - [`TransportError`] and friends: typed error kinds naming a [`MaskedUrl`].
//! - [`json`]: JSON-pointer lookups over raw text without a `Value` tree.
//!
//! ```
//! use haul_core::{Record, Request, Secret};
//!
//! let req = Request::get(url::Url::parse("https://api.example.com/items?token=abc")?);
//! assert!(format!("{req:?}").contains("token=***"));
//!
//! let body = r#"{"data":[{"id":1},{"id":2}],"next":"c2"}"#;
//! let items = haul_core::json::pointer(body, "/data")?.expect("present");
//! let records: Vec<Record> = haul_core::json::array_items(items.get())?
//!     .into_iter()
//!     .map(Record::from_borrowed)
//!     .collect();
//! assert_eq!(records[1].as_str(), r#"{"id":2}"#);
//!
//! let key = Secret::new("k");
//! assert_eq!(key.to_string(), "***");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod checkpoint;
mod clock;
mod error;
pub mod json;
mod message;
mod record;
pub mod redact;
mod secret;

pub use checkpoint::{Checkpoint, CheckpointError, Position, SavedRequest};
pub use clock::{Clock, ManualClock, Sleeper, SystemClock, TokioSleeper};
pub use error::{CertificateCheck, TimeoutPhase, TransportError, TransportErrorKind, body_preview};
pub use message::{MaskedHeaders, Request, Response};
pub use record::{Page, Record};
pub use redact::MaskedUrl;
pub use secret::Secret;

/// Re-exported so users need not depend on these crates directly.
pub use {bytes, http, url};
