//! What an image is (install edition, WinRE, setup boot image), decided from its WIM XML, its
//! name and, where those do not settle it, a few paths of its own tree: a Winre.wim saved under
//! any name, or with its XML fields stripped, is still WinRE, and a boot.wim saved under another
//! name is not (docs/decisions.md, "WinRE by what it is").

use super::inspect::ImageReport;
use crate::catalog::ImageRole;
use crate::wim::model::ImageTree;
use crate::wim::ImageInfo;
use serde::{Deserialize, Serialize};

/// What a few paths of an image's tree say about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PeContent {
    /// Windows PE (`Windows\System32\winpeshl.exe`) with `sources\recovery` and no
    /// `sources\setup.exe`: a recovery environment.
    Recovery,
    /// Windows PE holding `sources\setup.exe`: the Setup image of a boot.wim. Setup's own image
    /// carries `sources\recovery` too (for "Repair your computer"), so setup.exe decides.
    Setup,
    /// Windows PE with neither: a plain WinPE (boot.wim's first image).
    PlainPe,
    /// No `winpeshl.exe`: not Windows PE by content.
    NotPe,
}

const WINPESHL: &str = "/Windows/System32/winpeshl.exe";
const SETUP: &str = "/sources/setup.exe";
const RECOVERY: &str = "/sources/recovery";

/// Is `v` the XML value `WindowsPE`?
fn says_pe(v: &Option<String>) -> bool {
    v.as_deref()
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("WindowsPE"))
}

fn blank(v: &Option<String>) -> bool {
    v.as_deref().is_none_or(|t| t.trim().is_empty())
}

/// INSTALLATIONTYPE or EDITIONID says `WindowsPE`.
pub fn xml_says_pe(info: &ImageInfo) -> bool {
    says_pe(&info.installation_type) || says_pe(&info.edition)
}

/// Whether image `info`'s tree must be looked at to know what it is: its XML says Windows PE
/// (WinRE, WinPE or Setup: only content tells them apart) or says nothing (neither
/// INSTALLATIONTYPE nor EDITIONID). An install edition's XML names its type (Client, Server), so
/// its metadata is never decoded for this: on an ESD of a dozen editions that would decode a
/// dozen metadata resources of tens of MB each, for nothing.
pub fn needs_content(info: &ImageInfo) -> bool {
    xml_says_pe(info) || (blank(&info.installation_type) && blank(&info.edition))
}

/// Three lookups in an already decoded tree (no file data is read).
pub fn pe_content(tree: &ImageTree) -> PeContent {
    let file = |p: &str| tree.lookup(p).is_ok_and(|n| !tree.nodes[n].is_dir());
    let dir = |p: &str| tree.lookup(p).is_ok_and(|n| tree.nodes[n].is_dir());
    if !file(WINPESHL) {
        PeContent::NotPe
    } else if file(SETUP) {
        PeContent::Setup
    } else if dir(RECOVERY) {
        PeContent::Recovery
    } else {
        PeContent::PlainPe
    }
}

/// The file name at the end of a layer path (`/sources/boot.wim`, `C:\x\boot.wim`).
fn file_name(path: &str) -> &str {
    path.rsplit(['/', '\\']).next().unwrap_or(path)
}

/// The role of image `img` of the WIM at `path`. In order:
/// 1. a file named boot.wim holds boot images (Setup media's own name for them);
/// 2. content, when it was read and shows Windows PE: `sources\setup.exe` → boot (Setup image),
///    `sources\recovery` → WinRE, neither → WinRE only if its name says so, else boot (a plain
///    WinPE is not a recovery environment);
/// 3. otherwise the XML: INSTALLATIONTYPE or EDITIONID `WindowsPE`, or the recovery
///    environment's image name → WinRE; anything else is an install image.
pub fn role_of(path: &str, img: &ImageReport) -> ImageRole {
    let named_re = img.name.as_deref().is_some_and(|n| {
        n.to_ascii_lowercase()
            .contains("windows recovery environment")
    });
    if file_name(path).eq_ignore_ascii_case("boot.wim") {
        return ImageRole::Boot;
    }
    match img.pe_content {
        Some(PeContent::Setup) => ImageRole::Boot,
        Some(PeContent::Recovery) => ImageRole::Winre,
        Some(PeContent::PlainPe) if !named_re => ImageRole::Boot,
        _ if says_pe(&img.installation_type) || says_pe(&img.edition) || named_re => {
            ImageRole::Winre
        }
        _ => ImageRole::Install,
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::wim::model::{attr, Dentry};

    /// A tree holding exactly `paths` (directories end in `/`).
    fn tree(paths: &[&str]) -> ImageTree {
        let mut t = ImageTree::with_root();
        for p in paths {
            let is_dir = p.ends_with('/');
            let parts: Vec<&str> = p.split('/').filter(|c| !c.is_empty()).collect();
            let mut cur = 0;
            for (i, comp) in parts.iter().enumerate() {
                let name: Vec<u16> = comp.encode_utf16().collect();
                cur = match t.child(cur, &name) {
                    Some(c) => c,
                    None => {
                        let leaf = i + 1 == parts.len() && !is_dir;
                        let attributes = if leaf { 0 } else { attr::DIRECTORY };
                        t.add_child(
                            cur,
                            Dentry {
                                name,
                                attributes,
                                ..Default::default()
                            },
                        )
                    }
                };
            }
        }
        t
    }

    pub(crate) fn image(
        name: &str,
        edition: Option<&str>,
        kind: Option<&str>,
        content: Option<PeContent>,
    ) -> ImageReport {
        ImageReport {
            index: 1,
            name: Some(name.into()),
            edition: edition.map(str::to_string),
            arch: Some("x64".into()),
            version: Some("10.0.26100.1000".into()),
            build: Some(26100),
            spbuild: Some(1000),
            languages: Vec::new(),
            installation_type: kind.map(str::to_string),
            dir_count: None,
            file_count: None,
            total_bytes: None,
            pe_content: content,
            role: ImageRole::Install,
            version_signals: None,
        }
    }

    #[test]
    fn content_is_read_from_three_paths_case_insensitively() {
        let re = tree(&["WINDOWS/system32/WinPeShl.exe", "Sources/Recovery/"]);
        assert_eq!(pe_content(&re), PeContent::Recovery);
        let setup = tree(&[
            "Windows/System32/winpeshl.exe",
            "sources/recovery/",
            "sources/SETUP.EXE",
        ]);
        assert_eq!(pe_content(&setup), PeContent::Setup);
        let plain = tree(&["Windows/System32/winpeshl.exe", "sources/boot.sdi"]);
        assert_eq!(pe_content(&plain), PeContent::PlainPe);
        // A captured media folder holds sources\setup.exe but is no Windows PE.
        let media = tree(&["sources/setup.exe", "sources/recovery/"]);
        assert_eq!(pe_content(&media), PeContent::NotPe);
        // A file where the directory should be, and a directory named like the file.
        let odd = tree(&["Windows/System32/winpeshl.exe/", "sources/recovery"]);
        assert_eq!(pe_content(&odd), PeContent::NotPe);
        let odd = tree(&["Windows/System32/winpeshl.exe", "sources/recovery"]);
        assert_eq!(pe_content(&odd), PeContent::PlainPe);
    }

    #[test]
    fn a_winre_is_recognised_by_what_it_is_under_any_file_name() {
        let re = "Microsoft Windows Recovery Environment (amd64)";
        for (path, img) in [
            (
                "recovery-image.wim",
                image(re, Some("WindowsPE"), Some("WindowsPE"), None),
            ),
            // One XML field missing: the other, or the image name, still says what it is.
            (
                "backup/re.wim",
                image("WinRE", Some("WindowsPE"), None, None),
            ),
            ("x.wim", image(re, None, None, None)),
            // Nothing in the XML or the name: the content does.
            (
                "backup-image.wim",
                image("Backup image", None, None, Some(PeContent::Recovery)),
            ),
        ] {
            assert_eq!(role_of(path, &img), ImageRole::Winre, "{path}");
        }
        let pe = image(
            "Microsoft Windows PE (amd64)",
            Some("WindowsPE"),
            Some("WindowsPE"),
            Some(PeContent::Recovery),
        );
        assert_eq!(role_of("/sources/boot.wim", &pe), ImageRole::Boot);
        assert_eq!(role_of("D:\\media\\BOOT.WIM", &pe), ImageRole::Boot);
        let home = image("Windows 11 Home", Some("Core"), Some("Client"), None);
        assert_eq!(role_of("/sources/install.wim", &home), ImageRole::Install);
        let silent = image("Backup image", None, None, Some(PeContent::NotPe));
        assert_eq!(role_of("backup-image.wim", &silent), ImageRole::Install);
    }

    #[test]
    fn a_renamed_boot_wim_is_not_taken_for_winre() {
        let xml_pe = |name: &str, c| image(name, Some("WindowsPE"), Some("WindowsPE"), Some(c));
        let setup = xml_pe("Microsoft Windows Setup (amd64)", PeContent::Setup);
        assert_eq!(role_of("winpe-setup.wim", &setup), ImageRole::Boot);
        let plain = xml_pe("Microsoft Windows PE (amd64)", PeContent::PlainPe);
        assert_eq!(role_of("winpe-setup.wim", &plain), ImageRole::Boot);
        // Without the content (not read), the XML alone still says WinRE, as before.
        let unread = image(
            "Microsoft Windows PE (amd64)",
            Some("WindowsPE"),
            None,
            None,
        );
        assert_eq!(role_of("winpe-setup.wim", &unread), ImageRole::Winre);
    }

    #[test]
    fn only_pe_or_silent_xml_asks_for_the_tree() {
        let info = |edition: Option<&str>, kind: Option<&str>| ImageInfo {
            edition: edition.map(str::to_string),
            installation_type: kind.map(str::to_string),
            ..Default::default()
        };
        assert!(needs_content(&info(Some("WindowsPE"), None)));
        assert!(needs_content(&info(None, Some("windowspe"))));
        assert!(needs_content(&info(None, None)));
        assert!(needs_content(&info(Some(" "), None)));
        assert!(!needs_content(&info(Some("Professional"), Some("Client"))));
        assert!(!needs_content(&info(None, Some("Server"))));
    }
}
