//! styles tests (being written).
