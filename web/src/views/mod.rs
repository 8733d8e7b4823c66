//! The app's views, one small function component per thing shown.

pub mod browse;
pub mod catalog;
pub mod common;
pub mod media;
pub mod package;
pub mod patch;
pub mod report;
pub mod summary;
pub mod updates;

use serde_json::Value;

/// A string field of a JSON object ("" when absent).
pub fn text(v: &Value, key: &str) -> String {
    match v.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

/// A number field of a JSON object.
pub fn num(v: &Value, key: &str) -> Option<u64> {
    v.get(key).and_then(Value::as_u64)
}

/// An array field of a JSON object (empty when absent).
pub fn list<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// Bytes in the unit a technician reads at a glance.
pub fn human_size(n: u64) -> String {
    const UNITS: [&str; 5] = ["bytes", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} bytes")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_fields() {
        assert_eq!(human_size(512), "512 bytes");
        assert_eq!(human_size(3 << 20), "3.0 MiB");
        assert_eq!(human_size(5 << 30), "5.0 GiB");
        let v = serde_json::json!({"a": "x", "n": 3, "z": null, "l": [1, 2]});
        assert_eq!(text(&v, "a"), "x");
        assert_eq!(text(&v, "n"), "3");
        assert_eq!(text(&v, "z"), "");
        assert_eq!(num(&v, "n"), Some(3));
        assert_eq!(list(&v, "l").len(), 2);
        assert!(list(&v, "missing").is_empty());
    }
}
