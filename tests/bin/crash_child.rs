//! Crash-test child (being written).
fn main() {}
