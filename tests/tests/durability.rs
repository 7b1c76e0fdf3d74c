//! durability tests (being written).
