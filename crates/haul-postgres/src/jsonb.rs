//! Binary `COPY` rows: records go to PostgreSQL as `jsonb` without being
//! parsed here (the `jsonb` binary format is a version byte, 1, followed by
//! the JSON text, which the server parses).

use bytes::{BufMut, BytesMut};

/// Rows in PostgreSQL's binary `COPY` format, written straight into one
/// buffer (what `BinaryCopyInWriter` writes, without a `dyn ToSql` per field).
#[derive(Debug)]
pub(crate) struct CopyRows {
    buf: BytesMut,
}

impl CopyRows {
    /// The header: signature, flags, extension length.
    pub(crate) fn new(capacity: usize) -> Self {
        let mut buf = BytesMut::with_capacity(capacity + 19);
        buf.put_slice(b"PGCOPY\n\xff\r\n\0");
        buf.put_i32(0);
        buf.put_i32(0);
        Self { buf }
    }

    /// Starts a row of `fields` fields.
    pub(crate) fn row(&mut self, fields: i16) {
        self.buf.put_i16(fields);
    }

    /// An `int8` field.
    pub(crate) fn int8(&mut self, value: i64) {
        self.buf.put_i32(8);
        self.buf.put_i64(value);
    }

    /// A `text` field, or NULL.
    pub(crate) fn text(&mut self, value: Option<&str>) -> Result<(), std::num::TryFromIntError> {
        match value {
            None => self.buf.put_i32(-1),
            Some(text) => {
                self.buf.put_i32(i32::try_from(text.len())?);
                self.buf.put_slice(text.as_bytes());
            }
        }
        Ok(())
    }

    /// A `jsonb` field: version 1, then the JSON text.
    pub(crate) fn jsonb(&mut self, json: &str) -> Result<(), std::num::TryFromIntError> {
        self.buf.put_i32(i32::try_from(json.len() + 1)?);
        self.buf.put_u8(1);
        self.buf.put_slice(json.as_bytes());
        Ok(())
    }

    /// Bytes written so far.
    pub(crate) fn len(&self) -> usize {
        self.buf.len()
    }

    /// Takes what was written (to send it), leaving the buffer empty.
    pub(crate) fn take(&mut self) -> bytes::Bytes {
        self.buf.split().freeze()
    }

    /// Writes the trailer.
    pub(crate) fn finish(&mut self) {
        self.buf.put_i16(-1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_follow_the_binary_copy_format() {
        let mut rows = CopyRows::new(64);
        rows.row(3);
        rows.int8(7);
        rows.text(None).unwrap();
        rows.jsonb("{}").unwrap();
        rows.finish();
        let bytes = rows.take();
        let mut expected = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0".to_vec();
        expected.extend([0, 3, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 7]);
        expected.extend([0xff, 0xff, 0xff, 0xff]);
        expected.extend([0, 0, 0, 3, 1, b'{', b'}']);
        expected.extend([0xff, 0xff]);
        assert_eq!(&bytes[..], &expected[..]);
    }
}
