//! Identifiers: validation and quoting. Every identifier reaching SQL is
//! validated first and double-quoted, so no configuration can inject SQL.

use haul_sink::SinkError;

/// PostgreSQL truncates identifiers longer than this many bytes.
const MAX_IDENT: usize = 63;

/// A double-quoted SQL identifier.
pub(crate) fn quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

/// A schema name haul may use: 1–63 bytes of ASCII letters, digits and `_`,
/// not starting with `pg_` (reserved by PostgreSQL).
pub(crate) fn check_schema(schema: &str) -> Result<(), String> {
    let ok = !schema.is_empty()
        && schema.len() <= MAX_IDENT
        && schema
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !schema.to_ascii_lowercase().starts_with("pg_");
    if ok {
        Ok(())
    } else {
        Err(format!(
            "schema name {schema:?} must be 1-{MAX_IDENT} ASCII letters, digits or '_', not starting with 'pg_'"
        ))
    }
}

/// A stream name usable as a table name: what every haul sink accepts
/// ([`haul_sink::check_stream_name`]), at most 63 bytes, and not reserved
/// by haul (`_haul…`) or PostgreSQL (`pg_…`).
pub(crate) fn check_stream(stream: &str) -> Result<(), SinkError> {
    haul_sink::check_stream_name(stream)?;
    let lower = stream.to_ascii_lowercase();
    if lower.starts_with("_haul") || lower.starts_with("pg_") {
        return Err(SinkError::Usage(format!(
            "stream name {stream:?} is reserved (names starting with `_haul` or `pg_`)"
        )));
    }
    if stream.len() > MAX_IDENT {
        return Err(SinkError::Usage(format!(
            "stream name {stream:?} is longer than PostgreSQL's {MAX_IDENT}-byte identifiers"
        )));
    }
    Ok(())
}

/// `"/id"` → `id`: a key column named after its pointer.
pub(crate) fn column_of(pointer: &str) -> Result<&str, SinkError> {
    match pointer.strip_prefix('/') {
        Some(column)
            if !column.is_empty() && !column.contains('\0') && column.len() <= MAX_IDENT =>
        {
            Ok(column)
        }
        _ => Err(SinkError::Usage(format!(
            "{pointer:?} is not a usable field pointer (it must start with '/' and name a field in at most {MAX_IDENT} bytes)"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_doubles_quotes() {
        assert_eq!(quote("a\"b"), "\"a\"\"b\"");
    }

    #[test]
    fn schemas_and_streams_are_checked() {
        assert!(check_schema("haul_test_1").is_ok());
        for bad in ["", "a-b", "pg_x", "a\"b", &"x".repeat(64)] {
            assert!(check_schema(bad).is_err(), "{bad:?}");
        }
        assert!(check_stream("orders.v2").is_ok());
        for bad in ["_haul_partitions", "pg_class", "../x", &"s".repeat(64)] {
            assert!(check_stream(bad).is_err(), "{bad:?}");
        }
        assert_eq!(column_of("/order/id").unwrap(), "order/id");
        assert!(column_of("id").is_err());
    }
}
