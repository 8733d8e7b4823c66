//! The component store: `Windows\WinSxS`, its folder names, and what makes two components "the same
//! component" across versions.

use super::Version4;

/// Component store folder, relative to the image root (image paths accept `\` and `/`).
pub const WINSXS: &str = "Windows\\WinSxS";
/// Where the store keeps each component's manifest, relative to the image root.
pub const WINSXS_MANIFESTS: &str = "Windows\\WinSxS\\Manifests";

/// What identifies "the same component" across versions: name, architecture, culture, key token.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IdentityKey {
    /// Lower-case name.
    pub name: String,
    /// Lower-case architecture.
    pub arch: String,
    /// Lower-case culture, `none` for neutral.
    pub culture: String,
    /// Lower-case public key token.
    pub token: String,
}

impl IdentityKey {
    /// The key of an identity's attributes, case-folded; `language` neutral, `*` or empty is `none`,
    /// as the store names it.
    pub fn new(name: &str, arch: &str, language: &str, token: &str) -> IdentityKey {
        let l = language.to_ascii_lowercase();
        IdentityKey {
            name: name.to_ascii_lowercase(),
            arch: arch.to_ascii_lowercase(),
            culture: if l.is_empty() || l == "neutral" || l == "*" {
                "none".into()
            } else {
                l
            },
            token: token.to_ascii_lowercase(),
        }
    }
}

/// The parts of a WinSxS folder (or manifest) name:
/// `<arch>_<name>_<token>_<version>_<culture|none>_<16 hex>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SxsName {
    /// Architecture.
    pub arch: String,
    /// Component name (possibly shortened by Windows with `..`).
    pub name: String,
    /// Public key token.
    pub token: String,
    /// Version.
    pub version: String,
    /// Culture or `none`.
    pub culture: String,
    /// The 16-hex identity hash.
    pub hash: String,
}

impl SxsName {
    /// Parse a WinSxS folder name; a trailing `.manifest` is ignored. The component name may itself
    /// contain `_`, so the fixed fields are taken from both ends.
    pub fn parse(folder: &str) -> Option<SxsName> {
        let s = folder
            .strip_suffix(".manifest")
            .or_else(|| folder.strip_suffix(".MANIFEST"))
            .unwrap_or(folder);
        let (arch, rest) = s.split_once('_')?;
        let mut tail = rest.rsplitn(5, '_');
        let hash = tail.next()?;
        let culture = tail.next()?;
        let version = tail.next()?;
        let token = tail.next()?;
        let name = tail.next()?;
        if hash.len() != 16 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        Version4::parse_partial(version)?;
        Some(SxsName {
            arch: arch.into(),
            name: name.into(),
            token: token.into(),
            version: version.into(),
            culture: culture.into(),
            hash: hash.into(),
        })
    }

    /// True when this folder holds a version of the component `key` names.
    pub fn is_of(&self, key: &IdentityKey) -> bool {
        self.arch.eq_ignore_ascii_case(&key.arch)
            && sxs_name_matches(&self.name, &key.name)
            && self.token.eq_ignore_ascii_case(&key.token)
            && self.culture.eq_ignore_ascii_case(&key.culture)
    }

    /// The folder's version (1–4 parts, as [`Version4::parse_partial`] reads them).
    pub fn version4(&self) -> Option<Version4> {
        Version4::parse_partial(&self.version)
    }
}

/// True when a WinSxS folder's component name stands for `full` (lower-case). Windows shortens
/// long names to `prefix..suffix`, so such a name matches by its two ends.
pub fn sxs_name_matches(folder_name: &str, full: &str) -> bool {
    let f = folder_name.to_ascii_lowercase();
    match f.split_once("..") {
        None => f == full,
        Some((pre, suf)) => {
            full.len() >= pre.len() + suf.len() && full.starts_with(pre) && full.ends_with(suf)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_names_parse_and_match_their_component() {
        let n = SxsName::parse("amd64_microsoft-windows-foo_bar_31bf3856ad364e35_10.0.26100.8037_none_0123456789abcdef.manifest").unwrap();
        assert_eq!(n.name, "microsoft-windows-foo_bar");
        assert_eq!(n.version4(), Some(Version4([10, 0, 26100, 8037])));
        assert!(SxsName::parse("update.mum").is_none());
        let key = IdentityKey::new(
            "Microsoft-Windows-Foo_Bar",
            "AMD64",
            "neutral",
            "31BF3856AD364E35",
        );
        assert_eq!(key.culture, "none");
        assert!(n.is_of(&key));
        assert!(!n.is_of(&IdentityKey::new(
            "Microsoft-Windows-Foo_Bar",
            "x86",
            "",
            "31bf3856ad364e35"
        )));
        assert!(!n.is_of(&IdentityKey::new(
            "Microsoft-Windows-Foo_Bar",
            "amd64",
            "en-US",
            "31bf3856ad364e35"
        )));
    }

    #[test]
    fn shortened_store_names_match_their_component() {
        let full = "microsoft-windows-servicingstack-onecore";
        assert!(sxs_name_matches(
            "Microsoft-Windows-ServicingStack-OneCore",
            full
        ));
        assert!(sxs_name_matches("microsoft-windows-s..stack-onecore", full));
        assert!(!sxs_name_matches("microsoft-windows-s..stack-onecor", full));
        assert!(!sxs_name_matches("microsoft-windows-servicingstack", full));
        assert!(!sxs_name_matches(
            "microsoft-windows-servicingstack-onecore..x",
            full
        ));
    }
}
