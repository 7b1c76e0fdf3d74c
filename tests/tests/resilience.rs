//! resilience tests (being written).
