//! security tests (being written).
