//! haul-postgres against a real PostgreSQL (`HAUL_POSTGRES`, default
//! `host=127.0.0.1 port=5432 user=postgres dbname=test`). Without one the
//! tests skip and say why; `HAUL_REQUIRE_SERVICES=1` makes that a failure.
//! Each test works in its own schema, dropped at its end.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod fencing;
mod laws;
mod leases;
mod sink;
