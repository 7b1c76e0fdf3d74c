//! Record bytes sent to PostgreSQL as `jsonb` without parsing them here.

use bytes::{BufMut, BytesMut};
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};

/// A record's JSON text as a `jsonb` value: the binary format is a version
/// byte (1) followed by the text, which the server parses. No
/// `serde_json::Value` tree is built on the way.
#[derive(Debug)]
pub(crate) struct RawJsonb<'a>(pub(crate) &'a str);

impl ToSql for RawJsonb<'_> {
    fn to_sql(
        &self,
        _ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        out.put_u8(1);
        out.put_slice(self.0.as_bytes());
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::JSONB
    }

    to_sql_checked!();
}
