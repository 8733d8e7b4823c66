//! Name decoding and path handling shared by the ISO 9660, Joliet and UDF trees.
//!
//! Windows media are looked up with Windows paths, so comparison is case-insensitive and both `/` and
//! `\` separate components. Decoding never fails: an odd byte becomes U+FFFD, because a name we cannot
//! display should still be listable and reachable by its displayed form.

use crate::{Error, Result};

/// Decode an OSTA CS0 name (UDF 2.1.1): first byte 8 = one byte per char, 16 = UTF-16BE.
///
/// 254/255 are the UDF 2.00+ forms used for deleted entries; they decode like 8/16.
pub fn decode_cs0(raw: &[u8]) -> Result<String> {
    let Some((&id, rest)) = raw.split_first() else {
        return Ok(String::new());
    };
    match id {
        8 | 254 => Ok(rest.iter().map(|&b| char::from(b)).collect()),
        16 | 255 => Ok(decode_utf16be(rest)),
        other => Err(Error::unsupported(
            "UDF",
            format!("UDF name with OSTA CS0 compression id {other} (only 8 and 16 exist)"),
        )),
    }
}

/// Decode a UDF `dstring` field: CS0 text whose last byte is the number of used bytes.
pub fn decode_dstring(field: &[u8]) -> Option<String> {
    let (&used, body) = field.split_last()?;
    let used = usize::from(used);
    if used == 0 {
        return None;
    }
    let text = decode_cs0(body.get(..used)?).ok()?;
    let text = text.trim_end_matches(['\0', ' ']).to_string();
    (!text.is_empty()).then_some(text)
}

/// Decode UCS-2/UTF-16 big-endian bytes (Joliet, CS0 id 16); a trailing odd byte is dropped.
pub fn decode_utf16be(raw: &[u8]) -> String {
    let units = raw
        .chunks_exact(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]));
    char::decode_utf16(units)
        .map(|r| r.unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect()
}

/// Turn an ISO 9660 / Joliet file identifier into the name a user sees: drop the `;N` version
/// suffix and the lone trailing dot of a name without extension (`README.` → `README`).
pub fn clean_iso_name(name: &str, is_dir: bool) -> String {
    let mut n = name;
    if !is_dir {
        if let Some(pos) = n.rfind(';') {
            if n[pos + 1..].bytes().all(|b| b.is_ascii_digit()) {
                n = &n[..pos];
            }
        }
        if let Some(stripped) = n.strip_suffix('.') {
            if !stripped.is_empty() {
                n = stripped;
            }
        }
    }
    n.to_string()
}

/// Case-insensitive name equality as Windows would see it (simple Unicode uppercase folding).
pub fn names_equal(a: &str, b: &str) -> bool {
    a.chars()
        .flat_map(char::to_uppercase)
        .eq(b.chars().flat_map(char::to_uppercase))
}

/// Split a user path into components; `/` and `\` both separate, empty and `.` parts are ignored.
///
/// `..` is refused: a path inside a medium never climbs out of where it starts.
pub fn split_path(path: &str) -> Result<Vec<&str>> {
    let mut out = Vec::new();
    for part in path.split(['/', '\\']) {
        match part {
            "" | "." => {}
            ".." => {
                return Err(Error::invalid(
                    "ISO name",
                    format!("path {path:?} contains '..'"),
                ))
            }
            p => out.push(p),
        }
    }
    if out.len() > super::MAX_DEPTH {
        return Err(Error::limit(
            out.len(),
            super::MAX_DEPTH,
            format!(
                "path {path:?} has more than {} components",
                super::MAX_DEPTH
            ),
        ));
    }
    Ok(out)
}

/// Join a parent path (`/` for the root) and a child name.
pub fn join(parent: &str, name: &str) -> String {
    if parent == "/" {
        format!("/{name}")
    } else {
        format!("{parent}/{name}")
    }
}

/// Seconds since the Unix epoch for a UTC civil date (proleptic Gregorian).
pub fn unix_time(year: i64, month: u32, day: u32, hour: u32, min: u32, sec: u32) -> Option<i64> {
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || min > 59 || sec > 60 {
        return None;
    }
    let days = crate::civil::days_from_civil(year, month, day);
    Some(days * 86_400 + i64::from(hour) * 3600 + i64::from(min) * 60 + i64::from(sec))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cs0_forms() {
        assert_eq!(decode_cs0(b"\x08abc").unwrap(), "abc");
        assert_eq!(decode_cs0(b"\x08\xdcber").unwrap(), "Über");
        assert_eq!(decode_cs0(b"\x10\x65\xe5\x67\x2c").unwrap(), "日本");
        assert!(decode_cs0(b"\x07x").is_err());
        assert_eq!(decode_cs0(b"").unwrap(), "");
    }

    #[test]
    fn dstring_uses_length_byte() {
        let mut f = [0u8; 32];
        f[..4].copy_from_slice(b"\x08ABC");
        f[31] = 4;
        assert_eq!(decode_dstring(&f).as_deref(), Some("ABC"));
        f[31] = 0;
        assert_eq!(decode_dstring(&f), None);
        f[31] = 200;
        assert_eq!(decode_dstring(&f), None);
    }

    #[test]
    fn iso_names() {
        assert_eq!(clean_iso_name("SETUP.EXE;1", false), "SETUP.EXE");
        assert_eq!(clean_iso_name("README.;1", false), "README");
        assert_eq!(clean_iso_name("DIR", true), "DIR");
    }

    #[test]
    fn paths() {
        assert_eq!(
            split_path("\\sources//boot.wim").unwrap(),
            ["sources", "boot.wim"]
        );
        assert!(split_path("/a/../b").is_err());
        assert!(names_equal("Überprüfung.TXT", "überPRÜFUNG.txt"));
        assert_eq!(join("/", "a"), "/a");
        assert_eq!(join("/a", "b"), "/a/b");
    }

    #[test]
    fn epoch() {
        assert_eq!(unix_time(1970, 1, 1, 0, 0, 0), Some(0));
        assert_eq!(unix_time(2000, 3, 1, 0, 0, 0), Some(951_868_800));
        assert_eq!(unix_time(2026, 13, 1, 0, 0, 0), None);
    }
}
