//! Four-part Windows versions (`10.0.26100.8037`, `26100.8037.1.0`): parsed, compared part by part,
//! shown dotted.

use std::fmt;

/// A four-part version `a.b.c.d`, ordered numerically part by part.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Version4(pub [u32; 4]);

impl Version4 {
    /// Parse `a.b.c.d` (exactly four decimal parts, each fitting in u32), as package record names
    /// and WinSxS folder names carry them.
    pub fn parse(s: &str) -> Option<Version4> {
        let mut out = [0u32; 4];
        let mut parts = s.split('.');
        for slot in out.iter_mut() {
            let p = parts.next()?;
            if p.is_empty() || p.len() > 10 || !p.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            *slot = p.parse().ok()?;
        }
        if parts.next().is_some() {
            return None;
        }
        Some(Version4(out))
    }

    /// Parse `a[.b[.c[.d]]]` (1–4 parts, the missing ones 0), as manifests' `version` attributes
    /// are read.
    pub fn parse_partial(v: &str) -> Option<Version4> {
        let mut out = [0u32; 4];
        let mut n = 0;
        for part in v.split('.') {
            *out.get_mut(n)? = part.parse().ok()?;
            n += 1;
        }
        (n > 0).then_some(Version4(out))
    }

    /// The binary form of `VS_FIXEDFILEINFO`: two 32-bit words, each two 16-bit parts.
    pub fn from_ms_ls(ms: u32, ls: u32) -> Version4 {
        Version4([ms >> 16, ms & 0xFFFF, ls >> 16, ls & 0xFFFF])
    }
}

impl fmt::Display for Version4 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d] = self.0;
        write!(f, "{a}.{b}.{c}.{d}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_compares_and_shows() {
        let a = Version4::parse("26100.8037.1.0").unwrap();
        assert_eq!(a, Version4([26100, 8037, 1, 0]));
        assert_eq!(a.to_string(), "26100.8037.1.0");
        // Numeric, not textual, order.
        assert!(Version4::parse("26100.999.1.0").unwrap() < a);
        for bad in [
            "26100.1.1",
            "1.2.3.4.5",
            "1..2.3",
            "1.-2.3.4",
            "1.2.3.99999999999",
            "",
        ] {
            assert_eq!(Version4::parse(bad), None, "{bad}");
        }
        assert_eq!(
            Version4::parse_partial("10.0"),
            Some(Version4([10, 0, 0, 0]))
        );
        assert_eq!(Version4::parse_partial("1.2.3.4.5"), None);
        assert_eq!(Version4::parse_partial("x"), None);
        assert_eq!(
            Version4::from_ms_ls(0x000A_0000, 0x65F4_1F65),
            Version4([10, 0, 26100, 8037])
        );
    }
}
