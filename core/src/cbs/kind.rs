//! What a package is for, as media servicing cares.

/// What the package is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum PackageKind {
    /// Safe OS Dynamic Update (`Package_for_SafeOSDU`): services WinRE.
    SafeOsDu,
    /// Setup Dynamic Update: a plain CAB of Setup files, no `update.mum`.
    SetupDu,
    /// Servicing stack update (`Package_for_ServicingStack_*`).
    Ssu,
    /// Latest cumulative update (`Package_for_RollupFix`, or an MSU carrying one).
    Lcu,
    /// Any other package (feature packages, language packs, KB packages).
    Other,
}

impl PackageKind {
    /// Kind implied by a package identity name (case-insensitively, as CBS compares names).
    pub fn from_identity_name(name: &str) -> PackageKind {
        let n = name.to_ascii_lowercase();
        if n == "package_for_safeosdu" {
            PackageKind::SafeOsDu
        } else if n.starts_with("package_for_servicingstack") {
            PackageKind::Ssu
        } else if n == "package_for_rollupfix" {
            PackageKind::Lcu
        } else {
            PackageKind::Other
        }
    }

    /// Where packages of this kind go when several are serviced together: the servicing stack
    /// first (later packages may need it), then the Safe OS DU, then the rest.
    pub fn servicing_order(self) -> u8 {
        match self {
            PackageKind::Ssu => 0,
            PackageKind::SafeOsDu => 1,
            _ => 2,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_from_names() {
        let names = [
            "Package_for_SafeOSDU",
            "Package_for_ServicingStack_3624",
            "package_for_rollupfix",
            "Package_for_RollupFix_Wrapper",
        ];
        use PackageKind::*;
        assert_eq!(
            names.map(PackageKind::from_identity_name),
            [SafeOsDu, Ssu, Lcu, Other]
        );
        assert!(PackageKind::Ssu.servicing_order() < PackageKind::SafeOsDu.servicing_order());
        assert!(PackageKind::SafeOsDu.servicing_order() < PackageKind::Lcu.servicing_order());
    }
}
