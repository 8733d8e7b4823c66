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

/// A value as its JSON form shows it: an enum by its serde name ("SafeOsDu", "already-current"),
/// `None` as nothing, a number as digits. The page shows these names as the JSON report does, so
/// they are rendered through the same serde names rather than a second table of words.
pub fn wire<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(serde_json::Value::Null) | Err(_) => String::new(),
        Ok(other) => other.to_string(),
    }
}

/// An optional string, or nothing.
pub fn opt(v: &Option<String>) -> String {
    v.clone().unwrap_or_default()
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
        assert_eq!(
            wire(&mediaprep_core::cbs::PackageKind::SafeOsDu),
            "SafeOsDu"
        );
        assert_eq!(
            wire(&mediaprep_core::catalog::Verdict::AlreadyCurrent),
            "already-current"
        );
        assert_eq!(wire(&None::<u32>), "");
        assert_eq!(wire(&3u32), "3");
        assert_eq!(opt(&Some("x".into())), "x");
    }
}
