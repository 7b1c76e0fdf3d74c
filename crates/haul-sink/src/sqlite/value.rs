//! How a watermark field is stored so that SQL `MAX` agrees with [`max_watermark`](crate::max_watermark).

use rusqlite::types::Value;

/// Numbers (JSON numbers or numeric strings such as epoch seconds) become SQL
/// numbers and compare numerically; anything else stays text and compares as
/// text. In a column holding both, SQLite ranks every text above every number.
pub(crate) fn watermark_value(field: Option<String>) -> Value {
    let Some(text) = field else {
        return Value::Null;
    };
    if let Ok(i) = text.parse::<i64>() {
        return Value::Integer(i);
    }
    if looks_numeric(&text)
        && let Ok(f) = text.parse::<f64>()
        && f.is_finite()
    {
        return Value::Real(f);
    }
    Value::Text(text)
}

/// Rejects what Rust's float parser accepts but JSON does not (`inf`, `NaN`).
fn looks_numeric(text: &str) -> bool {
    text.starts_with(|c: char| c.is_ascii_digit() || c == '-' || c == '.')
        && text
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '-' | '+' | '.' | 'e' | 'E'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_become_numbers_and_the_rest_text() {
        let v = |s: &str| watermark_value(Some(s.to_owned()));
        assert_eq!(v("42"), Value::Integer(42));
        assert_eq!(v("-1.5e3"), Value::Real(-1500.0));
        assert_eq!(
            v("18446744073709551616"),
            Value::Real(18446744073709551616.0)
        );
        assert_eq!(v("NaN"), Value::Text("NaN".into()));
        assert_eq!(v("inf"), Value::Text("inf".into()));
        assert_eq!(
            v("2026-01-02T00:00:00Z"),
            Value::Text("2026-01-02T00:00:00Z".into())
        );
        assert_eq!(watermark_value(None), Value::Null);
    }
}
