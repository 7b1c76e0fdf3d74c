//! [`Layout`]: the table of one stream and the SQL that reads and writes it.
//!
//! Identifiers are always double-quoted (with `"` doubled) and stream names
//! are validated before they reach SQL, so no configuration can inject SQL.

use crate::SinkError;
use crate::StreamConfig;

/// The column holding each record's JSON text, byte for byte as received.
pub(crate) const RECORD: &str = "_record";
/// The indexed column holding the configured watermark field.
pub(crate) const WATERMARK: &str = "_watermark";

/// The column holding each record's partition key (`''` for an unpartitioned stream).
pub(crate) const PARTITION: &str = "_partition";

/// Tables haul itself keeps in the database.
pub(crate) const META_DDL: &str = "\
CREATE TABLE IF NOT EXISTS _haul_streams (
    stream TEXT PRIMARY KEY NOT NULL,
    primary_key TEXT NOT NULL,
    watermark TEXT
);
CREATE TABLE IF NOT EXISTS _haul_state (
    stream TEXT PRIMARY KEY NOT NULL,
    checkpoint TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS _haul_partition_state (
    stream TEXT NOT NULL,
    partition TEXT NOT NULL,
    vals TEXT NOT NULL,
    checkpoint TEXT NOT NULL,
    PRIMARY KEY (stream, partition)
);";

/// Commits a named partition's values and checkpoint; runs in the batch's transaction.
pub(crate) const UPSERT_PARTITION_STATE: &str = "INSERT INTO _haul_partition_state \
     (stream, partition, vals, checkpoint) VALUES (?1, ?2, ?3, ?4) \
     ON CONFLICT (stream, partition) DO UPDATE SET vals = excluded.vals, checkpoint = excluded.checkpoint";

/// Commits a stream's checkpoint; runs in the batch's transaction.
pub(crate) const UPSERT_STATE: &str = "INSERT INTO _haul_state (stream, checkpoint) VALUES (?1, ?2) \
     ON CONFLICT (stream) DO UPDATE SET checkpoint = excluded.checkpoint";

/// A validated stream configuration and its SQL.
#[derive(Debug)]
pub(crate) struct Layout {
    pub(crate) stream: String,
    pub(crate) keys: Vec<String>,
    pub(crate) watermark: Option<String>,
    /// `CREATE TABLE` (and `CREATE INDEX`) for a new stream.
    pub(crate) create: String,
    /// Upsert (keyed) or append of one record: keys, then the watermark, then the record.
    pub(crate) insert: String,
}

impl Layout {
    pub(crate) fn new(config: &StreamConfig) -> Result<Self, SinkError> {
        check_stream(&config.name)?;
        let mut columns: Vec<String> = Vec::with_capacity(config.keys.len());
        for pointer in &config.keys {
            let column = column_of(pointer)?;
            if columns.iter().any(|c| c.eq_ignore_ascii_case(column))
                || column.eq_ignore_ascii_case(RECORD)
                || column.eq_ignore_ascii_case(WATERMARK)
                || column.eq_ignore_ascii_case(PARTITION)
            {
                return Err(SinkError::Usage(format!(
                    "primary key pointer {pointer:?} of stream {:?} names a column that is \
                     already taken (keys must be distinct, {RECORD:?}, {WATERMARK:?} and {PARTITION:?} are reserved)",
                    config.name
                )));
            }
            columns.push(column.to_owned());
        }
        if let Some(pointer) = &config.watermark {
            column_of(pointer)?;
        }
        let table = quote(&config.name);
        let key_cols: Vec<String> = columns.iter().map(|c| quote(c)).collect();
        let has_wm = config.watermark.is_some();

        let mut defs: Vec<String> = key_cols
            .iter()
            .map(|c| format!("{c} TEXT NOT NULL"))
            .collect();
        if has_wm {
            // No declared type: numbers stay numbers and text stays text, so
            // MAX compares numbers numerically and RFC 3339 strings as text.
            defs.push(quote(WATERMARK));
        }
        defs.push(format!("{} TEXT NOT NULL", quote(RECORD)));
        defs.push(format!("{} TEXT NOT NULL DEFAULT ''", quote(PARTITION)));
        if !key_cols.is_empty() {
            defs.push(format!("PRIMARY KEY ({})", key_cols.join(", ")));
        }
        let mut create = format!("CREATE TABLE {table} ({});", defs.join(", "));
        if has_wm {
            // '#' cannot appear in a stream name, so no table or index can clash.
            let index = quote(&format!("{}#{WATERMARK}", config.name));
            create.push_str(&format!(
                "\nCREATE INDEX {index} ON {table} ({});",
                quote(WATERMARK)
            ));
        }

        let mut insert_cols = key_cols.clone();
        if has_wm {
            insert_cols.push(quote(WATERMARK));
        }
        insert_cols.push(quote(RECORD));
        insert_cols.push(quote(PARTITION));
        let placeholders: Vec<String> = (1..=insert_cols.len()).map(|i| format!("?{i}")).collect();
        let mut insert = format!(
            "INSERT INTO {table} ({}) VALUES ({})",
            insert_cols.join(", "),
            placeholders.join(", ")
        );
        if !key_cols.is_empty() {
            let mut set = Vec::new();
            if has_wm {
                set.push(format!("{0} = excluded.{0}", quote(WATERMARK)));
            }
            set.push(format!("{0} = excluded.{0}", quote(RECORD)));
            set.push(format!("{0} = excluded.{0}", quote(PARTITION)));
            insert.push_str(&format!(
                " ON CONFLICT ({}) DO UPDATE SET {}",
                key_cols.join(", "),
                set.join(", ")
            ));
        }

        Ok(Self {
            stream: config.name.clone(),
            keys: config.keys.clone(),
            watermark: config.watermark.clone(),
            create,
            insert,
        })
    }

    /// The primary key as stored in `_haul_streams`, to detect a changed configuration.
    pub(crate) fn keys_json(&self) -> String {
        serde_json::Value::from(self.keys.clone()).to_string()
    }
}

/// A stream name usable as a table name: a valid file-safe name that is not
/// reserved by haul (`_haul…`) or SQLite (`sqlite_…`).
pub(crate) fn check_stream(stream: &str) -> Result<(), SinkError> {
    crate::stream_name::check(stream)?;
    let lower = stream.to_ascii_lowercase();
    if lower.starts_with("_haul") || lower.starts_with("sqlite_") {
        return Err(SinkError::Usage(format!(
            "stream name {stream:?} is reserved (names starting with `_haul` or `sqlite_`)"
        )));
    }
    Ok(())
}

/// `"/id"` → `id`: a column named after its pointer.
fn column_of(pointer: &str) -> Result<&str, SinkError> {
    match pointer.strip_prefix('/') {
        Some(column) if !column.is_empty() && !column.contains('\0') => Ok(column),
        _ => Err(SinkError::Usage(format!(
            "{pointer:?} is not a usable field pointer (it must start with '/' and name a field)"
        ))),
    }
}

/// A double-quoted SQL identifier.
pub(crate) fn quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn composite_keys_upsert_on_all_key_columns() {
        let layout = Layout::new(
            &StreamConfig::new("orders")
                .primary_key(["/shop", "/order/id"])
                .watermark("/updated_at"),
        )
        .unwrap();
        assert_eq!(
            layout.insert,
            "INSERT INTO \"orders\" (\"shop\", \"order/id\", \"_watermark\", \"_record\", \"_partition\") \
             VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (\"shop\", \"order/id\") DO UPDATE SET \
             \"_watermark\" = excluded.\"_watermark\", \"_record\" = excluded.\"_record\", \
             \"_partition\" = excluded.\"_partition\""
        );
        assert!(layout.create.contains("CREATE INDEX \"orders#_watermark\""));
    }

    #[test]
    fn append_only_streams_have_no_conflict_clause() {
        let layout = Layout::new(&StreamConfig::new("events").append_only()).unwrap();
        assert_eq!(
            layout.insert,
            "INSERT INTO \"events\" (\"_record\", \"_partition\") VALUES (?1, ?2)"
        );
    }

    #[test]
    fn quoting_doubles_quotes() {
        assert_eq!(quote("a\"b"), "\"a\"\"b\"");
    }

    #[test]
    fn bad_pointers_and_reserved_columns_are_rejected() {
        for keys in [
            vec!["id"],
            vec!["/"],
            vec!["/_record"],
            vec!["/a", "/A"],
            vec!["/_partition"],
        ] {
            let err = Layout::new(&StreamConfig::new("s").primary_key(keys.clone())).unwrap_err();
            assert!(matches!(err, SinkError::Usage(_)), "{keys:?}");
        }
    }
}
