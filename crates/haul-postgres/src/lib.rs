//! # haul-postgres
//!
//! PostgreSQL for haul, for running many workers against one API:
//!
//! - [`PostgresSink`]: a [`Sink`](haul_sink::Sink) writing a table per
//!   stream; each batch goes by binary `COPY` into a staging table and is
//!   merged by primary key, in one transaction with its checkpoint.
//! - [`Leases`]: partitions as units of work that workers claim
//!   (`FOR UPDATE SKIP LOCKED`), renew and complete, with a fencing epoch
//!   that [`PostgresSink::fenced`] checks in every batch's transaction, so
//!   a worker that lost its lease writes nothing.
//!
//! No TLS is compiled in: [`PostgresSink::connect`] and [`Leases::connect`]
//! suit loopback and trusted networks; for anything else connect a
//! [`tokio_postgres::Client`] with your TLS connector and pass it to
//! `from_client`.
//!
//! ```no_run
//! use haul_postgres::PostgresSink;
//! use haul_sink::{Batch, Sink};
//! use haul_core::{Checkpoint, Record};
//! # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
//! let sink = PostgresSink::connect("host=127.0.0.1 user=postgres dbname=test".parse()?, "haul").await?;
//! sink.open("items").await?;
//! let records = vec![Record::from_json(r#"{"id":"a","n":1}"#)?];
//! let checkpoint = Checkpoint::start("items");
//! sink.write(Batch { stream: "items", records: &records, checkpoint: &checkpoint }).await?;
//! assert_eq!(sink.open("items").await?, Some(checkpoint));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod conn;
mod jsonb;
mod lease;
mod names;
mod schema;
mod sink;

pub use lease::{Heartbeat, Lease, LeaseError, LeaseState, Leases, PartitionLease};
pub use sink::PostgresSink;
/// The PostgreSQL client haul-postgres is built on (for [`tokio_postgres::Config`] and [`tokio_postgres::Client`]).
pub use tokio_postgres;
