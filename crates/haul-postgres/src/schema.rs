//! The tables haul keeps in its schema, and [`Layout`]: one stream's table
//! and the SQL that writes it.

use haul_sink::{SinkError, StreamConfig};

use crate::names::{check_stream, column_of, quote};

/// Column of each record's JSON (`jsonb`).
pub(crate) const RECORD: &str = "_record";
/// Column of each record's partition key (`''` for an unpartitioned stream).
pub(crate) const PARTITION: &str = "_partition";
/// Insertion order (an identity column; an upsert keeps the row's first value).
pub(crate) const SEQ: &str = "_seq";
/// The configured watermark field when it is not a number (`text COLLATE "C"`: byte order).
pub(crate) const WM_TEXT: &str = "_wm_text";
/// The configured watermark field when it is a number (`numeric`).
pub(crate) const WM_NUM: &str = "_wm_num";
const RESERVED: [&str; 5] = [RECORD, PARTITION, SEQ, WM_TEXT, WM_NUM];

/// haul's own tables in `schema`: stream layouts, and one row per (stream,
/// partition) holding both its checkpoint and its lease.
pub(crate) fn meta_ddl(schema: &str) -> String {
    let s = quote(schema);
    format!(
        "CREATE SCHEMA IF NOT EXISTS {s};
CREATE TABLE IF NOT EXISTS {s}._haul_streams (
    stream text PRIMARY KEY,
    primary_key text NOT NULL,
    watermark text
);
CREATE TABLE IF NOT EXISTS {s}._haul_partitions (
    stream text NOT NULL,
    partition text NOT NULL,
    vals text NOT NULL DEFAULT '{{}}',
    checkpoint text,
    state text NOT NULL DEFAULT 'pending'
        CHECK (state IN ('pending', 'leased', 'done', 'failed')),
    owner text,
    epoch bigint NOT NULL DEFAULT 0,
    lease_expires timestamptz,
    attempts integer NOT NULL DEFAULT 0,
    last_error text,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (stream, partition)
);
CREATE INDEX IF NOT EXISTS _haul_partitions_by_state ON {s}._haul_partitions (stream, state);"
    )
}

/// Upserts a partition's values and checkpoint, leaving its lease alone.
pub(crate) fn upsert_state(schema: &str) -> String {
    format!(
        "INSERT INTO {}._haul_partitions (stream, partition, vals, checkpoint) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (stream, partition) DO UPDATE \
         SET vals = excluded.vals, checkpoint = excluded.checkpoint, updated_at = now()",
        quote(schema)
    )
}

/// Locks a lease row if (owner, epoch) still hold it, unexpired: 0 rows
/// means fenced. It runs last in a batch's transaction, so expiry is judged
/// by the clock at this statement (`clock_timestamp()`), not at the
/// transaction's start (`now()`).
pub(crate) fn fence_check(schema: &str) -> String {
    format!(
        "UPDATE {}._haul_partitions SET updated_at = now() \
         WHERE stream = $1 AND partition = $2 AND owner = $3 AND epoch = $4 \
         AND state = 'leased' AND lease_expires > clock_timestamp()",
        quote(schema)
    )
}

/// A validated stream configuration and its SQL.
#[derive(Debug)]
pub(crate) struct Layout {
    pub(crate) stream: String,
    pub(crate) keys: Vec<String>,
    pub(crate) watermark: Option<String>,
    /// The member names of the key pointers then the watermark pointer,
    /// when each names a top-level member (`/id` → `id`): a record's
    /// fields are then read in one pass.
    pub(crate) members: Option<Vec<String>>,
    /// `CREATE TABLE` and its indexes.
    pub(crate) create: String,
    /// The session's staging table (temporary, emptied at each commit).
    pub(crate) stage: String,
    pub(crate) create_stage: String,
    /// `COPY … FROM STDIN BINARY` into the staging table.
    pub(crate) copy: String,
    /// Staging → table: the last version of each key, upserted only where it
    /// differs; `$1` is the partition key.
    pub(crate) merge: String,
    /// As `merge`, for a batch whose keys are known to be distinct: no sort.
    pub(crate) merge_distinct: String,
    /// The table, qualified and quoted.
    pub(crate) table: String,
}

impl Layout {
    pub(crate) fn new(schema: &str, config: &StreamConfig, id: u64) -> Result<Self, SinkError> {
        let stream = config.stream();
        check_stream(stream)?;
        let mut columns: Vec<String> = Vec::with_capacity(config.keys().len());
        for pointer in config.keys() {
            let column = column_of(pointer)?;
            if columns.iter().any(|c| c == column) || RESERVED.contains(&column) {
                return Err(SinkError::Usage(format!(
                    "primary key pointer {pointer:?} of stream {stream:?} names a column that is \
                     already taken (keys must be distinct; {RESERVED:?} are reserved)"
                )));
            }
            columns.push(column.to_owned());
        }
        if let Some(pointer) = config.watermark_pointer() {
            column_of(pointer)?;
        }
        let table = format!("{}.{}", quote(schema), quote(stream));
        let keys: Vec<String> = columns.iter().map(|c| quote(c)).collect();
        let (record, partition, seq) = (quote(RECORD), quote(PARTITION), quote(SEQ));
        let (wm_text, wm_num) = (quote(WM_TEXT), quote(WM_NUM));
        let has_wm = config.watermark_pointer().is_some();

        // A cached sequence: fewer sequence writes per row. Numbers stay
        // increasing for any one writer of a partition (a new session takes
        // a higher block), which is all the order the sink relies on.
        let mut defs = vec![format!(
            "{seq} bigint GENERATED ALWAYS AS IDENTITY (CACHE 1000)"
        )];
        // Byte order for keys: equality is the same under any deterministic
        // collation, and the primary-key index then compares with memcmp
        // instead of the locale's strcoll (a tenth of the server's work per
        // new row under C.UTF-8; more under en_US and the like).
        defs.extend(
            keys.iter()
                .map(|k| format!("{k} text COLLATE \"C\" NOT NULL")),
        );
        if has_wm {
            defs.push(format!("{wm_text} text COLLATE \"C\""));
            defs.push(format!("{wm_num} numeric"));
        }
        defs.push(format!("{record} jsonb NOT NULL"));
        defs.push(format!("{partition} text NOT NULL DEFAULT ''"));
        defs.push(if keys.is_empty() {
            format!("PRIMARY KEY ({seq})")
        } else {
            format!("PRIMARY KEY ({})", keys.join(", "))
        });
        let mut create = format!("CREATE TABLE {table} ({});", defs.join(", "));
        if keys.is_empty() {
            // An append-only replay is recognised by a partition's last rows.
            create.push_str(&format!("\nCREATE INDEX ON {table} ({partition}, {seq});"));
        }
        if has_wm {
            // Text ranks above numbers, as in the SQLite sink.
            create.push_str(&format!(
                "\nCREATE INDEX ON {table} ({wm_text} DESC NULLS LAST, {wm_num} DESC NULLS LAST);"
            ));
        }

        let stage = quote(&format!("_haul_stage_{id}"));
        let mut stage_defs = vec!["_ord bigint".to_owned()];
        stage_defs.extend(keys.iter().map(|k| format!("{k} text COLLATE \"C\"")));
        stage_defs.push(format!("{wm_text} text"));
        stage_defs.push(format!("{wm_num} text"));
        stage_defs.push(format!("{record} jsonb"));
        let create_stage = format!(
            "CREATE TEMPORARY TABLE IF NOT EXISTS {stage} ({}) ON COMMIT DELETE ROWS",
            stage_defs.join(", ")
        );
        let copy = format!("COPY pg_temp.{stage} FROM STDIN BINARY");

        let mut target = keys.clone();
        let mut source = keys.clone();
        if has_wm {
            target.extend([wm_text.clone(), wm_num.clone()]);
            source.extend([wm_text.clone(), format!("{wm_num}::numeric")]);
        }
        target.extend([record.clone(), partition.clone()]);
        source.extend([record.clone(), "$1::text".to_owned()]);
        let (merge, merge_distinct) = if keys.is_empty() {
            let insert = format!(
                "INSERT INTO {table} ({}) SELECT {} FROM pg_temp.{stage} ORDER BY _ord",
                target.join(", "),
                source.join(", ")
            );
            (insert.clone(), insert)
        } else {
            let key_list = keys.join(", ");
            let mut set: Vec<String> = Vec::new();
            if has_wm {
                set.push(format!("{wm_text} = excluded.{wm_text}"));
                set.push(format!("{wm_num} = excluded.{wm_num}"));
            }
            set.push(format!("{record} = excluded.{record}"));
            set.push(format!("{partition} = excluded.{partition}"));
            let upsert = format!(
                "ON CONFLICT ({key_list}) DO UPDATE SET {} \
                 WHERE (t.{record}, t.{partition}) IS DISTINCT FROM (excluded.{record}, excluded.{partition})",
                set.join(", ")
            );
            let (target, source) = (target.join(", "), source.join(", "));
            (
                format!(
                    "INSERT INTO {table} AS t ({target}) SELECT {source} FROM \
                     (SELECT DISTINCT ON ({key_list}) * FROM pg_temp.{stage} ORDER BY {key_list}, _ord DESC) d \
                     ORDER BY _ord {upsert}"
                ),
                format!(
                    "INSERT INTO {table} AS t ({target}) SELECT {source} FROM pg_temp.{stage} {upsert}"
                ),
            )
        };
        let members = config
            .keys()
            .iter()
            .map(String::as_str)
            .chain(config.watermark_pointer())
            .map(top_level_name)
            .collect();
        Ok(Self {
            stream: stream.to_owned(),
            keys: config.keys().to_vec(),
            watermark: config.watermark_pointer().map(str::to_owned),
            members,
            create,
            stage,
            create_stage,
            copy,
            merge,
            merge_distinct,
            table,
        })
    }

    /// The primary key as stored in `_haul_streams`, to detect a changed configuration.
    pub(crate) fn keys_json(&self) -> String {
        serde_json::Value::from(self.keys.clone()).to_string()
    }
}

/// The member a pointer names when it is one level deep (`/a~1b` → `a/b`).
fn top_level_name(pointer: &str) -> Option<String> {
    let name = pointer.strip_prefix('/')?;
    (!name.contains('/')).then(|| name.replace("~1", "/").replace("~0", "~"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_streams_merge_the_last_version_of_each_key_where_it_differs() {
        let layout = Layout::new(
            "s",
            &StreamConfig::new("orders")
                .primary_key(["/shop", "/order/id"])
                .watermark("/updated_at"),
            3,
        )
        .unwrap();
        assert!(
            layout
                .merge
                .contains("DISTINCT ON (\"shop\", \"order/id\")")
        );
        assert!(
            layout
                .merge
                .contains("ON CONFLICT (\"shop\", \"order/id\") DO UPDATE")
        );
        assert!(layout.merge.contains("IS DISTINCT FROM"));
        assert!(!layout.merge_distinct.contains("DISTINCT ON"));
        assert!(layout.merge_distinct.contains("IS DISTINCT FROM"));
        assert_eq!(layout.stage, "\"_haul_stage_3\"");
        assert_eq!(layout.members, None, "/order/id is not top-level");
        assert!(
            layout
                .create
                .contains("\"shop\" text COLLATE \"C\" NOT NULL")
        );
        assert!(layout.create.starts_with("CREATE TABLE \"s\".\"orders\""));
    }

    #[test]
    fn top_level_keys_and_watermark_are_read_in_one_pass() {
        let layout = Layout::new(
            "s",
            &StreamConfig::new("t")
                .primary_key(["/id", "/a~1b"])
                .watermark("/updated~0at"),
            0,
        )
        .unwrap();
        assert_eq!(
            layout.members,
            Some(vec!["id".into(), "a/b".into(), "updated~at".into()])
        );
    }

    #[test]
    fn append_only_streams_insert_in_page_order() {
        let layout = Layout::new("s", &StreamConfig::new("events").append_only(), 0).unwrap();
        assert!(!layout.merge.contains("ON CONFLICT"));
        assert!(layout.merge.ends_with("ORDER BY _ord"));
    }

    #[test]
    fn reserved_and_duplicate_key_columns_are_refused() {
        for keys in [
            vec!["/_record"],
            vec!["/a", "/a"],
            vec!["/_seq"],
            vec!["id"],
        ] {
            let err = Layout::new("s", &StreamConfig::new("t").primary_key(keys.clone()), 0);
            assert!(matches!(err, Err(SinkError::Usage(_))), "{keys:?}");
        }
    }
}
