//! A deterministic fake HTTP API for haul's tests, demo and benchmarks.
//!
//! [`Dataset::generate`] builds a seed-determined list of JSON records, each
//! rendered once, with the traps real APIs set: non-ASCII names, escaped
//! quotes, backslashes and newlines, integers above 2^53, and many records
//! sharing one `updated_at`. [`FakeApi`] serves them over HTTP/1.1 with cursor
//! pagination on `127.0.0.1`, and counts what it served in [`Stats`].
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

mod body;
mod dataset;
mod routes;
mod server;
mod stats;

pub use dataset::Dataset;
pub use server::{FakeApi, FakeApiBuilder, RunningServer};
pub use stats::Stats;
