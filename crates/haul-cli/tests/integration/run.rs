//! Runs against the testkit's emulations.
