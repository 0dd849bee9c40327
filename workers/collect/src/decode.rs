//! Strict helpers for reading the JSON replies of the REST sources: every missing or null field,
//! wrong type or unparsable number becomes a [`SourceError::Decode`] that names the field.
//! Decimals are always parsed from their text, never through `f64`.

use crate::error::SourceError;
use rust_decimal::Decimal;
use serde_json::{Map, Value};
use std::str::FromStr;

/// A decoding context: where the document came from, for error messages.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ctx<'a>(pub(crate) &'a str);

impl Ctx<'_> {
    /// A decode error in this context.
    pub(crate) fn err(&self, message: impl Into<String>) -> SourceError {
        SourceError::decode(self.0, message)
    }

    /// Parses a whole body as JSON.
    pub(crate) fn parse(&self, body: &[u8]) -> Result<Value, SourceError> {
        serde_json::from_slice(body).map_err(|e| self.err(format!("invalid JSON: {e}")))
    }

    /// The value as an object.
    pub(crate) fn object<'v>(&self, value: &'v Value, what: &str) -> Result<&'v Map<String, Value>, SourceError> {
        value.as_object().ok_or_else(|| self.err(format!("{what}: expected an object, got {}", kind(value))))
    }

    /// The value as an array.
    pub(crate) fn array<'v>(&self, value: &'v Value, what: &str) -> Result<&'v [Value], SourceError> {
        value
            .as_array()
            .map(Vec::as_slice)
            .ok_or_else(|| self.err(format!("{what}: expected an array, got {}", kind(value))))
    }

    /// A top-level field that must be present and not null.
    pub(crate) fn field<'v>(&self, obj: &'v Map<String, Value>, name: &str) -> Result<&'v Value, SourceError> {
        self.field_at(obj, "", name)
    }

    /// A field of the object at `parent` (e.g. `trades[3]`) that must be present and not null;
    /// errors name the full path.
    pub(crate) fn field_at<'v>(
        &self,
        obj: &'v Map<String, Value>,
        parent: &str,
        name: &str,
    ) -> Result<&'v Value, SourceError> {
        let path = if parent.is_empty() { name.to_owned() } else { format!("{parent}.{name}") };
        match obj.get(name) {
            None => Err(self.err(format!("missing field `{path}`"))),
            Some(Value::Null) => Err(self.err(format!("field `{path}` is null"))),
            Some(v) => Ok(v),
        }
    }

    /// A decimal given as a JSON string (`"43123.45"`) or number (`43123.45`, `1e-7`).
    pub(crate) fn decimal(&self, value: &Value, what: &str) -> Result<Decimal, SourceError> {
        let text = match value {
            Value::String(s) => s.trim().to_owned(),
            Value::Number(n) => n.to_string(),
            Value::Null => return Err(self.err(format!("{what} is null"))),
            other => return Err(self.err(format!("{what}: expected a decimal, got {}", kind(other)))),
        };
        parse_decimal(&text).ok_or_else(|| self.err(format!("{what}: {text:?} is not a decimal number")))
    }

    /// A non-negative integer that fits in `u64` (JSON integer, integral float or digit string).
    pub(crate) fn uint(&self, value: &Value, what: &str) -> Result<u64, SourceError> {
        let parsed = match value {
            Value::Number(n) => n
                .as_u64()
                .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f < 1.8e19).map(|f| f as u64)),
            Value::String(s) => s.trim().parse::<u64>().ok(),
            Value::Null => return Err(self.err(format!("{what} is null"))),
            _ => None,
        };
        parsed.ok_or_else(|| self.err(format!("{what}: expected a non-negative integer, got {value}")))
    }

    /// Like [`Ctx::uint`] but bounded to `u32` (order counts).
    pub(crate) fn count(&self, value: &Value, what: &str) -> Result<u32, SourceError> {
        let n = self.uint(value, what)?;
        u32::try_from(n).map_err(|_| self.err(format!("{what}: {n} is too large")))
    }

    /// One `[price, size, num_orders]` book entry.
    pub(crate) fn level_triple(&self, value: &Value, what: &str) -> Result<(Decimal, Decimal, u32), SourceError> {
        let items = self.array(value, what)?;
        if items.len() < 3 {
            return Err(self.err(format!("{what}: expected [price, size, num_orders], got {} element(s)", items.len())));
        }
        let price = self.decimal(&items[0], &format!("{what}[0] (price)"))?;
        let size = self.decimal(&items[1], &format!("{what}[1] (size)"))?;
        let orders = self.count(&items[2], &format!("{what}[2] (num_orders)"))?;
        if size.is_sign_negative() && !size.is_zero() {
            return Err(self.err(format!("{what}: negative size {size}")));
        }
        Ok((price, size, orders))
    }
}

/// Parses a decimal from text: plain (`"0.01825"`) or scientific (`"1e-7"`, `"2.5E3"`).
/// Returns the normalised value (no trailing zeros).
pub(crate) fn parse_decimal(text: &str) -> Option<Decimal> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    let parsed =
        if text.contains(['e', 'E']) { Decimal::from_scientific(text).ok() } else { Decimal::from_str(text).ok() };
    parsed.map(|d| d.normalize())
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn decimals_from_strings_and_numbers() {
        let c = Ctx("test");
        assert_eq!(c.decimal(&json!("43123.455"), "p").unwrap(), Decimal::from_str("43123.455").unwrap());
        assert_eq!(c.decimal(&json!("0.52000000"), "p").unwrap(), Decimal::from_str("0.52").unwrap());
        assert_eq!(c.decimal(&json!(0.0), "p").unwrap(), Decimal::ZERO);
        assert_eq!(c.decimal(&json!(43123.456789), "p").unwrap(), Decimal::from_str("43123.456789").unwrap());
        assert_eq!(c.decimal(&json!(1e-7), "p").unwrap(), Decimal::from_str("0.0000001").unwrap());
        assert_eq!(c.decimal(&json!(7), "p").unwrap(), Decimal::from(7));
        assert!(matches!(c.decimal(&json!("abc"), "p"), Err(SourceError::Decode { .. })));
        assert!(matches!(c.decimal(&json!(""), "p"), Err(SourceError::Decode { .. })));
        assert!(matches!(c.decimal(&Value::Null, "p"), Err(SourceError::Decode { .. })));
        assert!(matches!(c.decimal(&json!([1]), "p"), Err(SourceError::Decode { .. })));
    }

    #[test]
    fn fields_missing_or_null() {
        let c = Ctx("test");
        let v = json!({"a": null, "b": 1});
        let o = c.object(&v, "root").unwrap();
        assert!(c.field(o, "b").is_ok());
        let e = c.field(o, "a").unwrap_err().to_string();
        assert!(e.contains("`a` is null"), "{e}");
        let e = c.field(o, "z").unwrap_err().to_string();
        assert!(e.contains("missing field `z`"), "{e}");
        let e = c.field_at(o, "buy", "a").unwrap_err().to_string();
        assert!(e.contains("field `buy.a` is null"), "{e}");
    }

    #[test]
    fn integers() {
        let c = Ctx("test");
        assert_eq!(c.uint(&json!(123456789), "s").unwrap(), 123456789);
        assert_eq!(c.uint(&json!(3.0), "s").unwrap(), 3);
        assert_eq!(c.uint(&json!("42"), "s").unwrap(), 42);
        assert!(c.uint(&json!(-1), "s").is_err());
        assert!(c.uint(&json!(1.5), "s").is_err());
        assert!(c.count(&json!(5_000_000_000u64), "s").is_err());
    }

    #[test]
    fn level_triples() {
        let c = Ctx("test");
        let (p, s, n) = c.level_triple(&json!(["0.01825", "24.34811287", 2]), "bids[0]").unwrap();
        assert_eq!(p.to_string(), "0.01825");
        assert_eq!(s.to_string(), "24.34811287");
        assert_eq!(n, 2);
        assert!(c.level_triple(&json!(["1", "2"]), "x").is_err());
        assert!(c.level_triple(&json!(["1", null, 1]), "x").is_err());
        assert!(c.level_triple(&json!(["1", "-2", 1]), "x").is_err());
    }
}
