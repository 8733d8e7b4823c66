//! Checks that `scripts/fixtures` produced the media it promises, as seen by independent tools
//! (wimlib-imagex, 7zz, isoinfo). Other tests build on these facts, so a broken generator shows up
//! here first rather than as a confusing reader failure.

mod common;

use common::*;

const WINRE_NAME: &str = "Microsoft Windows Recovery Environment (amd64)";

#[test]
fn every_fixture_exists_and_is_in_the_manifest() {
    let m = manifest();
    for name in [
        "Winre.wim",
        "Winre-stale.wim",
        "Winre-norecords.wim",
        "Winre-fileonly.wim",
        "install.wim",
        "install.esd",
        "install.swm",
        "boot.wim",
    ] {
        let p = fixture(name);
        assert!(std::fs::metadata(&p).unwrap().len() > 0, "{name} empty");
        assert!(m["wims"][name].is_object(), "{name} not in MANIFEST.json");
    }
    for name in ["media-udf.iso", "media-esd.iso", "media-msft.iso"] {
        fixture(name);
        assert!(m["isos"][name].is_object(), "{name} not in MANIFEST.json");
    }
    assert!(fixture("winre").join("Windows/System32").is_dir());
}

#[test]
fn manifest_agrees_with_wimlib() {
    let m = manifest();
    for (name, entry) in m["wims"].as_object().unwrap() {
        let info = wimlib_info(&fixture(name));
        let head = info_header(&info);
        let images = info_images(&info);
        assert_eq!(
            entry["image_count"].as_u64().unwrap().to_string(),
            field(&head, "Image Count").unwrap(),
            "{name}"
        );
        assert_eq!(images.len() as u64, entry["image_count"].as_u64().unwrap());
        let names: Vec<&str> = images.iter().map(|i| field(i, "Name").unwrap()).collect();
        assert_eq!(names, str_array(&entry["names"]), "{name}");
    }
}

#[test]
fn winre_has_windows_xml_and_servicing_shape() {
    let wim = fixture("Winre.wim");
    let info = wimlib_info(&wim);
    let images = info_images(&info);
    assert_eq!(images.len(), 1);
    let img = &images[0];
    assert_eq!(field(img, "Name"), Some(WINRE_NAME));
    assert_eq!(field(img, "Build"), Some("26100"));
    assert_eq!(field(img, "Service Pack Build"), Some("1000"));
    assert_eq!(field(img, "Edition ID"), Some("WindowsPE"));
    assert_eq!(field(img, "Architecture"), Some("x86_64"));
    assert_eq!(field(&info_header(&info), "Compression"), Some("LZX"));
    let hard_link_bytes: u64 = field(img, "Hard Link Bytes").unwrap().parse().unwrap();
    assert!(hard_link_bytes > 0, "WinSxS payloads must be hard-linked");

    let dir = wimlib_dir(&wim, 1);
    let has = |p: &str| dir.iter().any(|d| d == p);
    for p in [
        "/Windows/System32/kernel32.dll",
        "/Windows/System32/ntoskrnl.exe",
        "/Windows/System32/winpeshl.exe",
        "/Windows/System32/drivers/mountmgr.sys",
        "/Windows/System32/config/SYSTEM",
        "/Windows/Fonts/Ärger-日本語.txt",
        "/Windows/Temp/🚀 rocket.log",
        "/Windows/servicing/Packages/Package_for_SafeOSDU~31bf3856ad364e35~amd64~~26100.1000.1.0.mum",
    ] {
        assert!(has(p), "{p} missing from wimlib dir listing");
    }
    assert!(dir.iter().any(|d| d.starts_with(
        "/Windows/WinSxS/amd64_microsoft-windows-kernel32_31bf3856ad364e35_10.0.26100.1000_none_"
    ) && d.ends_with("/kernel32.dll")));
    assert!(dir
        .iter()
        .any(|d| d.starts_with("/Windows/WinSxS/Manifests/") && d.ends_with(".manifest")));
    let deepest = dir.iter().map(|d| d.matches('/').count()).max().unwrap();
    assert!(deepest > 20, "deepest path has {deepest} levels");

    // The System32 copy and the WinSxS copy are one inode (link count 2) in wimlib's view.
    let detail = run(
        "wimlib-imagex",
        &[
            "dir",
            wim.to_str().unwrap(),
            "1",
            "--detailed",
            "--path=/Windows/System32/kernel32.dll",
        ],
    );
    assert!(detail.contains("Link Count          = 2"), "{detail}");
    // Empty files stay empty.
    assert!(wimlib_extract(&wim, 1, "/Windows/System32/config/SYSTEM").is_empty());
    // The manifest's digest is the SHA-256 of the payload wimlib extracts.
    let k32 = wimlib_extract(&wim, 1, "/Windows/System32/kernel32.dll");
    let man = dir
        .iter()
        .find(|d| d.contains("Manifests/amd64_microsoft-windows-kernel32_"))
        .unwrap();
    let man = String::from_utf8(wimlib_extract(&wim, 1, man)).unwrap();
    let digest = base64_sha256(&k32);
    assert!(man.contains(&digest), "manifest lacks {digest}");
}

fn base64_sha256(data: &[u8]) -> String {
    use base64::Engine;
    let d = mediaprep_core::hash::sha256(data);
    base64::engine::general_purpose::STANDARD.encode(d)
}

#[test]
fn winre_variants_disagree_as_designed() {
    let stale = fixture("Winre-stale.wim");
    let img = info_images(&wimlib_info(&stale)).remove(0);
    assert_eq!(field(&img, "Service Pack Build"), Some("1000"));
    let dir = wimlib_dir(&stale, 1);
    assert!(dir
        .iter()
        .any(|d| d.ends_with("/Package_for_SafeOSDU~31bf3856ad364e35~amd64~~26100.8037.1.0.mum")));

    let norec = fixture("Winre-norecords.wim");
    assert!(!wimlib_dir(&norec, 1)
        .iter()
        .any(|d| d.starts_with("/Windows/servicing/Packages")));
    let img = info_images(&wimlib_info(&norec)).remove(0);
    assert_eq!(field(&img, "Service Pack Build"), Some("1000"));

    let fileonly = fixture("Winre-fileonly.wim");
    let xml = wimlib_xml(&fileonly);
    assert!(!xml.contains("<VERSION>"), "{xml}");
    assert!(!wimlib_dir(&fileonly, 1)
        .iter()
        .any(|d| d.starts_with("/Windows/servicing/Packages")));
    assert!(wimlib_dir(&fileonly, 1)
        .iter()
        .any(|d| d == "/Windows/System32/ntoskrnl.exe"));
}

#[test]
fn install_wim_editions_share_one_nested_winre() {
    let wim = fixture("install.wim");
    let info = wimlib_info(&wim);
    let images = info_images(&info);
    let names: Vec<_> = images.iter().map(|i| field(i, "Name").unwrap()).collect();
    assert_eq!(
        names,
        ["Windows 11 Home", "Windows 11 Pro", "Windows 11 Education"]
    );
    let ids: Vec<_> = images
        .iter()
        .map(|i| field(i, "Edition ID").unwrap())
        .collect();
    assert_eq!(ids, ["Core", "Professional", "Education"]);
    for img in &images {
        assert_eq!(field(img, "Build"), Some("26200"));
        assert_eq!(field(img, "Service Pack Build"), Some("8037"));
    }
    let winre = std::fs::read(fixture("Winre.wim")).unwrap();
    for idx in 1..=3 {
        let nested = wimlib_extract(&wim, idx, "/Windows/System32/Recovery/Winre.wim");
        assert!(nested == winre, "edition {idx}: nested Winre.wim differs");
    }
    // Stored once: three copies would make install.wim larger than 3 x Winre.wim.
    let size = std::fs::metadata(&wim).unwrap().len();
    assert!(size < 3 * winre.len() as u64, "install.wim {size} bytes");
}

#[test]
fn boot_esd_and_split_set() {
    let boot = wimlib_info(&fixture("boot.wim"));
    assert_eq!(field(&info_header(&boot), "Boot Index"), Some("2"));
    let names: Vec<_> = info_images(&boot)
        .iter()
        .map(|i| field(i, "Name").unwrap().to_string())
        .collect();
    assert_eq!(
        names,
        [
            "Microsoft Windows PE (amd64)",
            "Microsoft Windows Setup (amd64)"
        ]
    );

    let esd = wimlib_info(&fixture("install.esd"));
    assert_eq!(field(&info_header(&esd), "Compression"), Some("LZMS"));
    assert_eq!(field(&info_header(&esd), "Image Count"), Some("3"));

    let swm = wimlib_info(&fixture("install.swm"));
    let part = field(&info_header(&swm), "Part Number")
        .unwrap()
        .to_string();
    let (first, total) = part.split_once('/').unwrap();
    assert_eq!(first, "1");
    let total: u32 = total.parse().unwrap();
    assert!(total > 1, "split set has {total} parts");
    for n in 2..=total {
        fixture(&format!("install{n}.swm"));
    }
}

#[test]
fn isos_visible_to_7zz_and_isoinfo() {
    for (iso, inst) in [
        ("media-udf.iso", "sources/install.wim"),
        ("media-esd.iso", "sources/install.esd"),
        ("media-msft.iso", "sources/install.wim"),
    ] {
        let p = fixture(iso);
        let paths = sevenzip_paths(&p);
        for want in [
            inst,
            "sources/boot.wim",
            "setup.exe",
            "efi/microsoft/boot/efisys.bin",
        ] {
            assert!(
                paths.iter().any(|x| x == want),
                "{iso}: 7zz lacks {want}: {paths:?}"
            );
        }
        let pvd = run("isoinfo", &["-d", "-i", p.to_str().unwrap()]);
        assert!(
            pvd.contains("Volume id: CCCOMA_X64FRE_EN-US_DV9"),
            "{iso}: {pvd}"
        );
    }
    // genisoimage media: the ISO 9660 tree has everything too.
    let plain = iso9660_paths(&fixture("media-udf.iso"));
    assert!(
        plain.iter().any(|p| p == "/SOURCES/INSTALL.WIM;1"),
        "{plain:?}"
    );
    // Microsoft's layout: ISO 9660 holds only README.TXT; the tree lives in UDF alone.
    let msft = iso9660_paths(&fixture("media-msft.iso"));
    assert_eq!(msft, ["/README.TXT;1"]);
    // The UDF copy of install.wim is byte-identical to the fixture.
    let out = run_bytes(
        "7zz",
        &[
            "e",
            "-so",
            fixture("media-msft.iso").to_str().unwrap(),
            "sources/install.wim",
        ],
    );
    assert!(out == std::fs::read(fixture("install.wim")).unwrap());
}

#[test]
fn big_iso_only_when_slow() {
    if std::env::var("MEDIAPREP_SLOW_TESTS").as_deref() != Ok("1") {
        return;
    }
    const SIZE: u64 = 4_700_000_000;
    for iso in ["big.iso", "big-iso9660.iso"] {
        let p = fixture(iso);
        let list = run("7zz", &["l", "-slt", "-ba", p.to_str().unwrap()]);
        let size: u64 = list
            .split("\n\n")
            .find(|b| b.contains("Path = sources/install.wim"))
            .and_then(|b| b.lines().find_map(|l| l.strip_prefix("Size = ")))
            .and_then(|s| s.trim().parse().ok())
            .expect("install.wim listed");
        assert_eq!(size, SIZE, "{iso}");
        // isoinfo prints one line per ISO 9660 directory record of the file.
        let records: Vec<u64> = run("isoinfo", &["-l", "-i", p.to_str().unwrap()])
            .lines()
            .filter(|l| l.contains("INSTALL.WIM;1"))
            .map(|l| l.split_whitespace().nth(4).unwrap().parse().unwrap())
            .collect();
        if iso == "big-iso9660.iso" {
            assert!(records.len() > 1, "not multi-extent: {records:?}");
            assert_eq!(records.iter().sum::<u64>(), SIZE);
        } else {
            // genisoimage -allow-limited-size: the ISO 9660 record keeps only the low 32 bits.
            assert_eq!(records, [SIZE % (1 << 32)]);
        }
    }
}

/// The synthetic Safe OS DU (built only when scripts/make-package.py exists), as cabextract sees it.
#[test]
fn safeos_du_cabs() {
    if !workspace().join("scripts/make-package.py").exists() {
        eprintln!("scripts/make-package.py absent: no safeos-du*.cab to check");
        return;
    }
    let good = fixture("safeos-du.cab");
    let list = run("cabextract", &["-l", good.to_str().unwrap()]);
    assert!(list.contains("update.mum"), "{list}");
    assert!(list.contains("_10.0.26100.8037_none_"), "{list}");
    assert!(list.contains("/MOUNTMGR.SYS"), "{list}");
    assert!(list.contains("/safeosdu-new.txt"), "{list}");

    // In the good CAB every manifest digest matches its payload; in the tampered one kernel32's
    // does not. Checked by extracting with cabextract and hashing.
    for (name, want_ok) in [("safeos-du.cab", true), ("safeos-du-tampered.cab", false)] {
        let dir = tempfile::tempdir().unwrap();
        let cab = fixture(name);
        run(
            "cabextract",
            &[
                "-q",
                "-d",
                dir.path().to_str().unwrap(),
                cab.to_str().unwrap(),
            ],
        );
        let man = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| {
                let n = p.file_name().unwrap().to_string_lossy().into_owned();
                n.contains("microsoft-windows-kernel32_") && n.ends_with(".manifest")
            })
            .expect("kernel32 manifest");
        let payload = man.with_extension("").join("kernel32.dll");
        let digest = base64_sha256(&std::fs::read(&payload).unwrap());
        let text = std::fs::read_to_string(&man).unwrap();
        assert_eq!(text.contains(&digest), want_ok, "{name}");
    }

    // The traversal variant has a member named "..\evil.txt" (cabextract refuses to write it
    // outside the target; its listing shows the name).
    let trav = run(
        "gcab",
        &["-l", fixture("safeos-du-traversal.cab").to_str().unwrap()],
    );
    assert!(
        trav.lines().any(|l| l.starts_with("..\\evil.txt")),
        "{trav}"
    );
}

/// Build an [`ImageTree`] from wimlib's listing of an image (names only; every file gets a
/// distinct fake hash), so code that walks trees can be checked against a tree we did not parse.
fn tree_from_wimlib(wim: &std::path::Path, idx: u32) -> mediaprep_core::wim::model::ImageTree {
    use mediaprep_core::wim::model::{attr, Dentry, ImageTree};
    let detailed = run(
        "wimlib-imagex",
        &["dir", wim.to_str().unwrap(), &idx.to_string(), "--detailed"],
    );
    let mut t = ImageTree::with_root();
    for block in detailed.split("Full Path           = \"").skip(1) {
        let path = block.split('"').next().unwrap();
        let is_dir = block.contains("FILE_ATTRIBUTE_DIRECTORY is set");
        let Some((parent, name)) = path.rsplit_once('/') else {
            continue;
        };
        if name.is_empty() {
            continue;
        }
        let p = t.lookup(parent).unwrap();
        let mut h = [0u8; 20];
        h[..8].copy_from_slice(&(t.nodes.len() as u64).to_le_bytes());
        let (attributes, data) = match is_dir {
            true => (attr::DIRECTORY, None),
            false => (attr::NORMAL, Some(h)),
        };
        t.add_child(
            p,
            Dentry {
                name: name.encode_utf16().collect(),
                attributes,
                data,
                ..Default::default()
            },
        );
    }
    t
}

#[test]
fn servicing_records_of_winre_variants() {
    use mediaprep_core::cbs::Version4;
    use mediaprep_core::wim::servicing::servicing_state;
    let st = servicing_state(&tree_from_wimlib(&fixture("Winre.wim"), 1), None).unwrap();
    assert!(st.has_packages_dir);
    assert_eq!(
        st.safe_os_du.unwrap().record.version,
        Version4([26100, 1000, 1, 0])
    );
    assert_eq!(
        st.rollup_fix.unwrap().record.version,
        Version4([26100, 1000, 1, 0])
    );
    let stale = servicing_state(&tree_from_wimlib(&fixture("Winre-stale.wim"), 1), None).unwrap();
    assert_eq!(
        stale.safe_os_du.unwrap().record.version,
        Version4([26100, 8037, 1, 0])
    );
    assert_eq!(
        stale.servicing_stack.unwrap().record.name,
        "Package_for_ServicingStack_8037"
    );
    let none =
        servicing_state(&tree_from_wimlib(&fixture("Winre-norecords.wim"), 1), None).unwrap();
    assert!(!none.has_packages_dir && none.safe_os_du.is_none());
}
