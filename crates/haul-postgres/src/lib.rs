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
//! ```
//! use haul_postgres::PostgresSink;
//! use haul_sink::{Batch, Sink};
//! use haul_core::{Checkpoint, Record};
//! # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
//! # let schema = haul_testkit::services::unique_name("haul_doc");
//! let config: haul_postgres::tokio_postgres::Config =
//!     "host=127.0.0.1 user=postgres dbname=test".parse()?;
//! # let connected = PostgresSink::connect(config.clone(), &schema).await;
//! # let Ok(sink) = connected else {
//! #     haul_testkit::services::unavailable("PostgreSQL", format!("{:?}", connected.err()));
//! #     return Ok(());
//! # };
//! # /*
//! let sink = PostgresSink::connect(config, "haul").await?;
//! # */
//! sink.open("items").await?;
//! let records = vec![Record::from_json(r#"{"id":"a","n":1}"#)?];
//! let checkpoint = Checkpoint::start("items");
//! sink.write(Batch { stream: "items", records: &records, checkpoint: &checkpoint }).await?;
//! sink.write(Batch { stream: "items", records: &records, checkpoint: &checkpoint }).await?; // a replay
//! assert_eq!(sink.count("items").await?, 1);
//! assert_eq!(sink.open("items").await?, Some(checkpoint));
//! # let (admin, connection) = config.connect(haul_postgres::tokio_postgres::NoTls).await?;
//! # tokio::spawn(connection);
//! # admin.batch_execute(&format!("DROP SCHEMA \"{schema}\" CASCADE")).await?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! (The example runs against the local PostgreSQL of haul's machines, in a
//! schema of its own; where there is none it skips.)
//!
//! Scale-out — deployment, what each failure does, the guarantees and the
//! tests proving them — is described in the repository's `docs/scale-out.md`.

mod conn;
mod jsonb;
mod lease;
mod names;
mod schema;
mod sink;
mod work;

pub use haul_sink::{Lease, QueueOutlook};
pub use lease::{Heartbeat, LeaseError, LeaseState, Leases, PartitionLease};
pub use sink::PostgresSink;
/// The PostgreSQL client haul-postgres is built on (for [`tokio_postgres::Config`] and [`tokio_postgres::Client`]).
pub use tokio_postgres;
pub use work::PostgresWorkQueue;
