//! Safe names: every CAB member name and every manifest path is checked here before anything uses it.
//!
//! Update packages come from the network; a name such as `..\..\Windows\System32\x.dll`, `C:\x`,
//! `file:stream` or one with a NUL must never reach code that builds paths from it. The checks are
//! deliberately strict (Windows rules, both separators) because the names end up on Windows media.

use crate::{Error, Result};

/// Longest member name or manifest path accepted, in bytes (CAB names are at most 255 bytes; manifest
/// paths are longer only through `$(runtime.*)` expansion, which happens after this check).
pub const MAX_NAME_LEN: usize = 1024;

/// Check a relative path made of `\` or `/` separated components.
///
/// Rejects: empty names, NUL and other control characters, absolute paths (leading separator), drive
/// letters (`C:`), alternate-stream syntax (any `:`), `..` components, and names longer than
/// [`MAX_NAME_LEN`]. `what` names the entry in the error (e.g. `CAB member "a\b"`).
pub fn check_relative_path(path: &str, what: &str) -> Result<()> {
    let bad = |why: &str| {
        Err(Error::invalid(
            "package name",
            format!("{what} {path:?}: {why}"),
        ))
    };
    if path.is_empty() {
        return bad("empty name");
    }
    if path.len() > MAX_NAME_LEN {
        return bad("name too long");
    }
    if path.chars().any(|c| c < '\u{20}') {
        return bad("control character or NUL in name");
    }
    if path.starts_with('\\') || path.starts_with('/') {
        return bad("absolute path");
    }
    if path.contains(':') {
        // Covers drive letters ("C:\x", "C:x") and NTFS stream syntax ("a:b", "a::$DATA").
        return bad("':' (drive letter or stream syntax) in name");
    }
    for comp in path.split(['\\', '/']) {
        if comp == ".." {
            return bad("'..' path component");
        }
        // Windows strips trailing dots and spaces, so "..." or ".. " would act as "..".
        if !comp.is_empty() && comp.trim_end_matches(['.', ' ']).is_empty() && comp != "." {
            return bad("path component made only of dots/spaces");
        }
    }
    Ok(())
}

/// Check a manifest `destinationPath`/`sourcePath`, which may start with `$(runtime.xxx)` variables.
///
/// The variable part is checked to be a well-formed `$(name)` and the rest must pass
/// [`check_relative_path`] (an empty rest, e.g. `$(runtime.system32)\`, is fine).
pub fn check_manifest_path(path: &str, what: &str) -> Result<()> {
    let mut rest = path;
    while let Some(after) = rest.strip_prefix("$(") {
        let Some(end) = after.find(')') else {
            return Err(Error::invalid(
                "package name",
                format!("{what} {path:?}: unterminated $( variable"),
            ));
        };
        let var = &after[..end];
        if var.is_empty()
            || !var
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_')
        {
            return Err(Error::invalid(
                "package name",
                format!("{what} {path:?}: bad variable name {var:?}"),
            ));
        }
        rest = &after[end + 1..];
        rest = rest.trim_start_matches(['\\', '/']);
    }
    if rest.is_empty() || rest == "." || rest == ".\\" || rest == "./" {
        // "$(runtime.system32)\" or sourcePath=".\"
        if path.contains('\0') {
            return Err(Error::invalid(
                "package name",
                format!("{what} {path:?}: NUL in name"),
            ));
        }
        return Ok(());
    }
    check_relative_path(rest, what)
}

/// Check a single file name (no separators allowed at all).
pub fn check_file_name(name: &str, what: &str) -> Result<()> {
    check_relative_path(name, what)?;
    if name.contains(['\\', '/']) {
        return Err(Error::invalid(
            "package name",
            format!("{what} {name:?}: separator in a plain file name"),
        ));
    }
    if name == "." {
        return Err(Error::invalid(
            "package name",
            format!("{what} {name:?}: not a file name"),
        ));
    }
    Ok(())
}

/// Normalise a member name for case-insensitive lookups: `/` → `\`, ASCII-lowercased, no `.\` prefix.
pub fn fold(name: &str) -> String {
    let n = name.replace('/', "\\");
    let n = n.strip_prefix(".\\").unwrap_or(&n);
    n.to_ascii_lowercase()
}

/// Index of `name` among `names`: an exact match first, then the only one equal after [`fold`]
/// (`None` when several are).
pub fn find<'a>(names: impl Iterator<Item = &'a str> + Clone, name: &str) -> Option<usize> {
    if let Some(i) = names.clone().position(|n| n == name) {
        return Some(i);
    }
    let want = fold(name);
    let mut hits = names.enumerate().filter(|(_, n)| fold(n) == want);
    let first = hits.next()?;
    hits.next().is_none().then_some(first.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_traversal_and_friends() {
        for bad in [
            "..\\x",
            "a\\..\\b",
            "a/../b",
            "\\abs",
            "/abs",
            "C:\\x",
            "C:x",
            "a:stream",
            "a\0b",
            "",
            "a\\...\\b",
            "a\\.. \\b",
        ] {
            assert!(
                matches!(check_relative_path(bad, "m"), Err(Error::Invalid { .. })),
                "{bad:?} accepted"
            );
        }
        for good in ["a", "a\\b.dll", "amd64_x_1\\f\\y.dll", ".\\a", "a..b"] {
            check_relative_path(good, "m").unwrap();
        }
    }

    #[test]
    fn manifest_paths() {
        check_manifest_path("$(runtime.system32)\\", "d").unwrap();
        check_manifest_path("$(runtime.system32)\\lt-LT\\", "d").unwrap();
        check_manifest_path(".\\", "d").unwrap();
        assert!(check_manifest_path("$(runtime.system32)\\..\\..\\x", "d").is_err());
        assert!(check_manifest_path("C:\\Windows", "d").is_err());
        assert!(check_manifest_path("$(runtime.system32", "d").is_err());
        assert!(check_file_name("a\\b", "f").is_err());
    }
}
