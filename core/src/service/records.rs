//! The package record servicing leaves behind: `Windows\servicing\Packages\<identity>.mum` (and
//! `.cat`), named `name~publickeytoken~arch~language~version` from the package's `update.mum`, as
//! Windows names them. [`crate::cbs::record`] names them and [`crate::wim::servicing`] reads them back, so `mediaprep inspect` of a
//! patched image reports the package, and DISM-based tooling sees it too.

use super::plan::PreparedPackage;

/// File names of the record: `.mum`, and `.cat` when the package has a catalog.
pub fn record_names(p: &PreparedPackage) -> (String, Option<String>) {
    (
        format!("{}.mum", p.record),
        p.cat.as_ref().map(|_| format!("{}.cat", p.record)),
    )
}

#[cfg(test)]
mod tests {
    use crate::cbs::{parse_record_name, PackageKind};
    use crate::package::AssemblyIdentity;

    #[test]
    fn record_name_parses_back() {
        let id = AssemblyIdentity {
            name: "Package_for_SafeOSDU".into(),
            version: "26100.8037.1.0".into(),
            processor_architecture: "amd64".into(),
            language: "neutral".into(),
            public_key_token: "31bf3856ad364e35".into(),
            ..Default::default()
        };
        let r = parse_record_name(&format!("{}.mum", id.package_name())).unwrap();
        assert_eq!(r.kind, PackageKind::SafeOsDu);
        assert_eq!(r.version.to_string(), "26100.8037.1.0");
        assert_eq!(r.language, "");
    }
}
