//! `mediaprep patch` against wimlib: the patched WinRE verifies, applies to the expected tree (input
//! tree + package changes, computed here from wimlib's apply of the input and cabextract's view of
//! the package), keeps hard links, records the package, and is reproducible; refused packages and
//! cancelled writes leave nothing behind.

mod common;

use common::cli::{mediaprep, ok, patch, patch_fixture, refused_on_winre, s};
use common::*;
use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use mediaprep_core::io::{FileSource, Progress, SharedReader};
use mediaprep_core::package::open_package;
use mediaprep_core::service::{self, PatchOptions};
use mediaprep_core::wim::Wim;
use mediaprep_core::Error;

const OLD: &str = "10.0.26100.1000";
const SERVICED: [&str; 3] = [
    "microsoft-windows-kernel32",
    "microsoft-windows-winpe-tools",
    "microsoft-windows-mountmgr",
];

/// Every regular file below `root`: relative path → bytes.
fn files(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let m = std::fs::symlink_metadata(&p).unwrap();
            if m.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(root).unwrap().to_str().unwrap().to_string();
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

fn wim_apply(wim: &Path, dir: &Path) {
    run("wimlib-imagex", &["apply", s(wim), "1", s(dir)]);
}

fn cabextract(cab: &Path, dir: &Path) -> BTreeMap<String, Vec<u8>> {
    run("cabextract", &["-q", "-d", s(dir), s(cab)]);
    files(dir)
}

/// The tree the Safe OS DU fixture must produce from the WinRE fixture, built from wimlib's apply
/// of the input and cabextract's members of the package.
fn expected_tree(
    input: &BTreeMap<String, Vec<u8>>,
    cab: &BTreeMap<String, Vec<u8>>,
) -> BTreeMap<String, Vec<u8>> {
    let mut want: BTreeMap<String, Vec<u8>> = input
        .iter()
        .filter(|(p, _)| {
            !SERVICED
                .iter()
                .any(|c| p.contains(&format!("amd64_{c}_31bf3856ad364e35_{OLD}_none_")))
        })
        .map(|(p, b)| (p.clone(), b.clone()))
        .collect();
    let mut folders = Vec::new();
    for (m, b) in cab {
        if let Some(folder) = m.strip_suffix(".manifest") {
            want.insert(format!("Windows/WinSxS/Manifests/{m}"), b.clone());
            folders.push(folder.to_string());
        } else if let Some((folder, name)) = m.split_once('/') {
            want.insert(format!("Windows/WinSxS/{folder}/{name}"), b.clone());
        }
    }
    assert_eq!(folders.len(), 3, "the fixture package has three components");
    let payload = |name: &str| {
        cab.iter()
            .find(|(m, _)| m.ends_with(&format!("/{name}")))
            .unwrap_or_else(|| panic!("{name} in the CAB"))
            .1
            .clone()
    };
    want.insert(
        "Windows/System32/kernel32.dll".into(),
        payload("kernel32.dll"),
    );
    want.insert(
        "Windows/System32/winpeshl.exe".into(),
        payload("winpeshl.exe"),
    );
    want.insert(
        "Windows/System32/safeosdu-new.txt".into(),
        payload("safeosdu-new.txt"),
    );
    // The image has drivers/mountmgr.sys; the manifest says Drivers\MOUNTMGR.SYS.
    want.insert(
        "Windows/System32/drivers/mountmgr.sys".into(),
        payload("MOUNTMGR.SYS"),
    );
    let rec =
        "Windows/servicing/Packages/Package_for_SafeOSDU~31bf3856ad364e35~amd64~~26100.8037.1.0";
    want.insert(format!("{rec}.mum"), cab["update.mum"].clone());
    want.insert(format!("{rec}.cat"), cab["update.cat"].clone());
    want
}

/// A temporary directory, the WinRE fixture patched with safeos-du.cab into `name` in it, and what
/// `mediaprep patch` printed.
fn patched_winre(name: &str) -> (tempfile::TempDir, PathBuf, String) {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join(name);
    let text = patch_winre(&out, &[]);
    (t, out, text)
}

/// `mediaprep patch Winre.wim --package safeos-du.cab -o OUT EXTRA…`, which must succeed: its stdout.
fn patch_winre(out: &Path, extra: &[&str]) -> String {
    ok(&patch(
        &fixture("Winre.wim"),
        &["safeos-du.cab"],
        out,
        extra,
    ))
}

#[test]
fn patched_winre_verifies_and_applies_to_the_expected_tree() {
    let fx = fixtures();
    let (t, out, text) = patched_winre("WinRE.wim");
    assert!(
        text.contains("10.0.26100.1000 -> 10.0.26100.8037"),
        "{text}"
    );
    run("wimlib-imagex", &["verify", s(&out)]);

    let (a, b, c) = (
        t.path().join("in"),
        t.path().join("out"),
        t.path().join("cab"),
    );
    wim_apply(&fx.join("Winre.wim"), &a);
    wim_apply(&out, &b);
    let want = expected_tree(&files(&a), &cabextract(&fx.join("safeos-du.cab"), &c));
    let got = files(&b);
    let missing: Vec<&String> = want.keys().filter(|k| !got.contains_key(*k)).collect();
    let extra: Vec<&String> = got.keys().filter(|k| !want.contains_key(*k)).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "missing {missing:?}, extra {extra:?}"
    );
    for (p, bytes) in &want {
        assert!(got[p] == *bytes, "{p} differs from the expected contents");
    }
    // Case: no second "Drivers" directory next to the image's "drivers".
    let s32 = b.join("Windows/System32");
    assert!(
        dir_names(&s32)
            .iter()
            .filter(|n| n.eq_ignore_ascii_case("drivers"))
            .count()
            == 1
    );

    // Hard links: each projection is the WinSxS copy (same inode, two links), new and untouched.
    let sxs = b.join("Windows/WinSxS");
    let folder = |c: &str, v: &str| {
        dir_names(&sxs)
            .into_iter()
            .find(|n| n.starts_with(&format!("amd64_{c}_31bf3856ad364e35_{v}_")))
            .unwrap_or_else(|| panic!("{c} {v} in WinSxS"))
    };
    for (c, v, name, proj) in [
        (
            "microsoft-windows-kernel32",
            "10.0.26100.8037",
            "kernel32.dll",
            "kernel32.dll",
        ),
        (
            "microsoft-windows-winpe-tools",
            "10.0.26100.8037",
            "winpeshl.exe",
            "winpeshl.exe",
        ),
        (
            "microsoft-windows-winpe-tools",
            "10.0.26100.8037",
            "safeosdu-new.txt",
            "safeosdu-new.txt",
        ),
        (
            "microsoft-windows-mountmgr",
            "10.0.26100.8037",
            "MOUNTMGR.SYS",
            "drivers/mountmgr.sys",
        ),
        ("microsoft-windows-ntdll", OLD, "ntdll.dll", "ntdll.dll"),
        (
            "microsoft-windows-scsiport",
            OLD,
            "scsiport.sys",
            "drivers/scsiport.sys",
        ),
    ] {
        let w = std::fs::metadata(sxs.join(folder(c, v)).join(name)).unwrap();
        let p = std::fs::metadata(s32.join(proj)).unwrap();
        assert_eq!(
            (w.ino(), w.nlink()),
            (p.ino(), 2),
            "{proj} is not linked to WinSxS"
        );
    }

    // Inode fields as wimlib reads them: a replaced file keeps its attributes and creation time
    // (its contents were written at the package's time); a new file is FILE_ATTRIBUTE_ARCHIVE.
    let detail = |wim: &Path, path: &str| -> BTreeMap<String, String> {
        run(
            "wimlib-imagex",
            &["dir", s(wim), "1", &format!("--path={path}"), "--detailed"],
        )
        .lines()
        .filter_map(|l| l.split_once(" = "))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
    };
    let before = detail(&fx.join("Winre.wim"), "/Windows/System32/kernel32.dll");
    let after = detail(&out, "/Windows/System32/kernel32.dll");
    for k in ["Attributes", "Creation Time", "Short Name"] {
        assert_eq!(
            before.get(k),
            after.get(k),
            "{k} of the replaced kernel32.dll"
        );
    }
    assert_eq!(after["Last Write Time"], "Tue Mar 10 00:00:00 2026 UTC");
    assert_eq!(after["Link Count"], "2");
    let new = detail(&out, "/Windows/System32/safeosdu-new.txt");
    assert_eq!(new["Attributes"], "0x00000020");
    assert_eq!(new["Link Count"], "2");

    // XML: wimlib reads the new SPBUILD and the package's time.
    let info = run("wimlib-imagex", &["info", s(&out), "1"]);
    assert!(info.contains("Service Pack Build:     8037"), "{info}");
    assert!(
        info.contains("Last Modification Time: Tue Mar 10 00:00:00 2026 UTC"),
        "{info}"
    );
    assert!(info.contains("Build:                  26100"), "{info}");
}

#[test]
fn unchanged_resources_are_copied_byte_for_byte() {
    let fx = fixtures();
    let (_t, out, _) = patched_winre("WinRE.wim");
    let open = |p: &Path| {
        let r: SharedReader = Arc::new(FileSource::open(p).unwrap());
        (Wim::open(r).unwrap(), std::fs::read(p).unwrap())
    };
    let (win, bin) = open(&fx.join("Winre.wim"));
    let (wout, bout) = open(&out);
    let mut same = 0;
    for blob in wout.blobs() {
        let Some(a) = win.raw_resource(&blob.hash) else {
            continue;
        };
        let b = wout.raw_resource(&blob.hash).unwrap();
        let (ra, rb) = (a.reshdr, b.reshdr);
        assert_eq!(ra.size_in_wim, rb.size_in_wim);
        assert!(
            bin[ra.offset as usize..(ra.offset + ra.size_in_wim) as usize]
                == bout[rb.offset as usize..(rb.offset + rb.size_in_wim) as usize],
            "resource of an unchanged blob differs"
        );
        same += 1;
    }
    // Everything but the new payloads, manifests and records comes from the input.
    assert!(same >= 20, "only {same} blobs were shared");
}

#[test]
fn output_is_reproducible_and_install_wim_input_finds_winre() {
    let (t, [o1, o2, o3]) = tmp_paths(["a.wim", "b.wim", "c.wim"]);
    patch_winre(&o1, &[]);
    patch_winre(&o2, &[]);
    assert!(
        std::fs::read(&o1).unwrap() == std::fs::read(&o2).unwrap(),
        "two runs differ"
    );
    // install.wim carries the same Winre.wim: the same WinRE comes out.
    let text = ok(&patch_fixture("install.wim", &["safeos-du.cab"], &o3, &[]));
    assert!(text.contains("Recovery/Winre.wim"), "{text}");
    assert!(std::fs::read(&o1).unwrap() == std::fs::read(&o3).unwrap());
    // Another time gives another image (and GUID).
    let o4 = t.path().join("d.wim");
    patch_winre(&o4, &["--time", "1800000000"]);
    assert!(std::fs::read(&o1).unwrap() != std::fs::read(&o4).unwrap());
    run("wimlib-imagex", &["verify", s(&o4)]);
}

#[test]
fn refused_packages_leave_no_output() {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("WinRE.wim");
    for (pkg, why) in [
        ("safeos-du-tampered.cab", "digest mismatch"),
        ("safeos-du-traversal.cab", ".."),
        ("safeos-du-psf.cab", "DCM-compressed"),
    ] {
        let o = refused_on_winre(&[pkg], &out);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(why), "{pkg}: {err}");
    }
    // The refusal comes with the DISM hand-off script (PSFX: DISM can apply it).
    let o = patch_fixture("Winre.wim", &["safeos-du-psf.cab"], &out, &[]);
    let script = String::from_utf8_lossy(&o.stdout);
    assert!(
        script.contains("dism") || script.contains("DISM"),
        "{script}"
    );
    assert!(script.contains("KB5079500"), "{script}");
    assert!(String::from_utf8_lossy(&o.stderr).contains("PSFX"));
    // An LCU whose SSU is not plain: refused, and the script adds the LCU to WinRE for its SSU.
    let o = refused_on_winre(&["lcu-ssu-psf.msu", "safeos-du.cab"], &out);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("SSU-26100.8037-x64.cab") && err.contains("PSFX"),
        "{err}"
    );
    let script = String::from_utf8_lossy(&o.stdout);
    assert!(script.contains("KB5079473"), "{script}");
    // The Safe OS DU given with it is not applied either, so the script carries it too.
    assert!(script.contains("KB5079500"), "{script}");
    // A good package together with a refused one: nothing is half-applied.
    refused_on_winre(&["safeos-du.cab", "safeos-du-psf.cab"], &out);
}

#[test]
fn dry_run_writes_nothing() {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("WinRE.wim");
    let o = patch_fixture(
        "Winre.wim",
        &["safeos-du.cab"],
        &out,
        &["--dry-run", "--json"],
    );
    let v: serde_json::Value = serde_json::from_str(&ok(&o)).unwrap();
    let ch = &v["outcome"]["images"][0]["changes"];
    let replaced: Vec<&str> = ch["replaced"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|x| x.as_str())
        .collect();
    assert!(
        replaced.contains(&"/Windows/System32/drivers/mountmgr.sys"),
        "{replaced:?}"
    );
    assert_eq!(ch["removed"].as_array().unwrap().len(), 6);
    assert_empty_dir(t.path(), "");
}

struct CancelAfter(std::sync::atomic::AtomicU64, u64);
impl Progress for CancelAfter {
    fn update(&self, _: &str, _: u64, _: u64) {}
    fn cancelled(&self) -> bool {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed) >= self.1
    }
}

/// The WinRE fixture opened, and the Safe OS DU fixture opened as the one package to service it.
fn winre_and_du() -> (Wim, Vec<mediaprep_core::package::Package>) {
    let fx = fixtures();
    let src: SharedReader = Arc::new(FileSource::open(fx.join("Winre.wim")).unwrap());
    let pr: SharedReader = Arc::new(FileSource::open(fx.join("safeos-du.cab")).unwrap());
    let pkg = open_package(pr, "safeos-du.cab").unwrap();
    (Wim::open(src).unwrap(), vec![pkg])
}

#[test]
fn cancelled_write_leaves_nothing() {
    let t = tempfile::tempdir().unwrap();
    let (wim, pkgs) = winre_and_du();
    let sel = service::select_packages(&pkgs);
    let prepared = service::prepare(&sel, &mediaprep_core::io::NoProgress).unwrap();
    let plan = service::plan_patch(&wim, &prepared, &PatchOptions::default()).unwrap();
    let out = t.path().join("WinRE.wim");
    // Cancel at several points: among the copies, among the payloads, before the image.
    for after in [1u64, 10, 30] {
        let cancel = CancelAfter(Default::default(), after);
        let r = mediaprep_core::wim::write::write_wim_file_checked(
            &out,
            plan.write_options.clone(),
            |w| service::write_patch(&wim, &prepared, &plan, w, &cancel),
            |_, _| Ok(()),
        );
        assert!(matches!(r, Err(Error::Cancelled)), "{after}: {r:?}");
        assert_empty_dir(t.path(), "");
    }
}

fn catalog_with_kb5079500(dir: &Path) -> PathBuf {
    let p = dir.join("catalog.json");
    let cat = serde_json::json!({
        "schema": 1,
        "version": "2026.03.10",
        "generated": "test: one synthetic entry matching the safeos-du.cab fixture",
        "updates": [{
            "kb": "KB5079500", "kind": "safeos-du",
            "title": "KB5079500: synthetic Safe OS Dynamic Update (fixture)",
            "release_date": "2026-03-10",
            "products": ["Windows 11, version 24H2"],
            "build_family": 26100, "os_builds": [26100], "revision": 8037,
            "architectures": ["x64"], "targets": ["winre"],
            "source": "https://example.invalid/scripts/fixtures.d/safeos-du.json",
            "confidence": "third-party"
        }]
    });
    std::fs::write(&p, serde_json::to_string(&cat).unwrap()).unwrap();
    p
}

fn verdict(check_json: &str, kb: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(check_json).unwrap();
    let f = v["evaluation"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kb"] == kb)
        .unwrap_or_else(|| panic!("no finding for {kb}: {check_json}"));
    f["verdict"].as_str().unwrap().to_string()
}

#[test]
fn patch_then_inspect_and_check_round_trip() {
    let fx = fixtures();
    let t = tempfile::tempdir().unwrap();
    let cat = catalog_with_kb5079500(t.path());
    let check = |wim: &Path| {
        ok(&mediaprep(&[
            "check",
            s(wim),
            "--catalog",
            s(&cat),
            "--json",
        ]))
    };
    assert_eq!(
        verdict(&check(&fx.join("Winre.wim")), "KB5079500"),
        "applies"
    );

    let out = t.path().join("WinRE.wim");
    ok(&patch_fixture(
        "Winre.wim",
        &["lcu-ssu.msu", "safeos-du.cab"],
        &out,
        &[],
    ));
    run("wimlib-imagex", &["verify", s(&out)]);
    let v: serde_json::Value =
        serde_json::from_str(&ok(&mediaprep(&["inspect", s(&out), "--json"]))).unwrap();
    let sig = &v["wims"][0]["images"][0]["version_signals"];
    assert_eq!(sig["xml"], "10.0.26100.8037", "{sig}");
    assert_eq!(sig["safe_os_du"], "26100.8037.1.0", "{sig}");
    assert_eq!(sig["servicing_stack"], "26100.8037.1.0", "{sig}");
    assert_eq!(sig["effective"], "10.0.26100.8037", "{sig}");
    assert!(sig["disagreements"]
        .as_array()
        .unwrap()
        .iter()
        .all(|d| !d.as_str().unwrap().contains("XML")));
    assert_eq!(verdict(&check(&out), "KB5079500"), "already-current");

    // The servicing stack from the LCU's SSU CAB, projected into the image's "servicing" folder
    // (the manifest says Servicing\ and SERVICING\); the LCU body itself is not applied.
    let b = t.path().join("applied");
    wim_apply(&out, &b);
    let win = b.join("Windows");
    assert_eq!(
        dir_names(&win)
            .iter()
            .filter(|n| n.eq_ignore_ascii_case("servicing"))
            .count(),
        1
    );
    let sv = win.join("servicing");
    assert_eq!(
        std::fs::read(sv.join("CbsCore.dll")).unwrap(),
        b"servicing stack 8037 placeholder\r\n"
    );
    assert!(sv.join("TrustedInstaller.exe").exists());
    assert!(!b.join("Windows/System32/rollup.txt").exists());
    assert!(sv
        .join("Packages/Package_for_ServicingStack_8037~31bf3856ad364e35~amd64~~26100.8037.1.0.mum")
        .exists());
}

#[test]
fn install_target_puts_the_patched_winre_in_every_edition() {
    let fx = fixtures();
    let (t, [winre, install]) = tmp_paths(["winre.wim", "install.wim"]);
    patch_winre(&winre, &[]);
    let text = ok(&patch_fixture(
        "media-udf.iso",
        &["safeos-du.cab"],
        &install,
        &["--target", "install"],
    ));
    assert!(text.contains("replaced in images [1, 2, 3]"), "{text}");
    run("wimlib-imagex", &["verify", s(&install)]);
    assert_eq!(dir_names(t.path()), vec!["install.wim", "winre.wim"]);
    let want = std::fs::read(&winre).unwrap();
    for i in 1..=3 {
        let got = wimlib_extract(&install, i, "/Windows/System32/Recovery/Winre.wim");
        assert!(got == want, "edition {i} does not carry the patched WinRE");
        // Everything else of the edition is as it was.
        for f in ["/Windows/System32/kernel32.dll", "/Windows/edition.txt"] {
            assert_eq!(
                wimlib_extract(&install, i, f),
                wimlib_extract(&fx.join("install.wim"), i, f)
            );
        }
    }
    let v: serde_json::Value =
        serde_json::from_str(&ok(&mediaprep(&["inspect", s(&install), "--json"]))).unwrap();
    let sig = &v["wims"][0]["winre"][0]["wim"]["images"][0]["version_signals"];
    assert_eq!(sig["effective"], "10.0.26100.8037", "{sig}");
    assert_eq!(sig["safe_os_du"], "26100.8037.1.0", "{sig}");
}

/// SHA-256 of a file, by coreutils' `sha256sum`.
fn sha256sum(path: &Path) -> String {
    run("sha256sum", &[s(path)])
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

/// The `wimlib-imagex info --blobs` entries of `wim`: SHA-1 (hex, no 0x) → reference count.
fn wimlib_blob_refs(wim: &Path) -> BTreeMap<String, u64> {
    let text = run("wimlib-imagex", &["info", s(wim), "--blobs"]);
    let mut out = BTreeMap::new();
    let mut hash = None;
    for l in text.lines() {
        let Some((k, v)) = l.split_once('=') else {
            continue;
        };
        match k.trim() {
            "Hash" => hash = Some(v.trim().trim_start_matches("0x").to_string()),
            "Reference Count" => {
                if let Some(h) = hash.take() {
                    out.insert(h, v.trim().parse().unwrap());
                }
            }
            _ => {}
        }
    }
    out
}

/// install-multire.wim (fixture): editions 1 and 2 carry Winre.wim, 3 the "norecords" WinRE
/// (same build, other bytes), 4 a build-22621 WinRE the Safe OS DU does not apply to.
#[test]
fn install_target_services_each_distinct_winre_once() {
    let fx = fixtures();
    let src = fx.join("install-multire.wim");
    let (t, [out, bad, x]) = tmp_paths(["install.wim", "bad.wim", "x"]);
    let original = |i| wimlib_extract(&src, i, "/Windows/System32/Recovery/Winre.wim");
    assert_eq!(original(1), original(2));
    assert_ne!(original(1), original(3));
    let o = patch(
        &src,
        &["safeos-du.cab"],
        &out,
        &[
            "--target", "install", "--index", "1", "--index", "2", "--index", "3", "--json",
        ],
    );
    let rep: serde_json::Value = serde_json::from_str(&ok(&o)).unwrap();
    run("wimlib-imagex", &["verify", s(&out)]);
    assert_eq!(dir_names(t.path()), vec!["install.wim"]);

    // Two groups, in the order of their first edition, each serviced once.
    let groups = rep["winre_groups"].as_array().expect("winre_groups");
    assert_eq!(groups.len(), 2, "{rep}");
    assert_eq!(groups[0]["editions"], serde_json::json!([1, 2]));
    assert_eq!(groups[1]["editions"], serde_json::json!([3]));
    let refs = wimlib_blob_refs(&out);
    std::fs::create_dir(&x).unwrap();
    let mut serviced = Vec::new();
    for (g, editions) in groups.iter().zip([&[1u32, 2][..], &[3]]) {
        let img = &g["winre"]["images"][0];
        assert_eq!(img["version_before"], OLD, "{g}");
        assert_eq!(img["version_after"], "10.0.26100.8037", "{g}");
        let want = g["serviced"]["sha256"].as_str().unwrap();
        let sha1 = g["serviced"]["sha1"].as_str().unwrap();
        // One blob per group in the output, referenced by each of its editions.
        assert_eq!(refs.get(sha1), Some(&(editions.len() as u64)), "{refs:?}");
        for &i in editions {
            let w = x.join(format!("winre-{i}.wim"));
            std::fs::write(
                &w,
                wimlib_extract(&out, i, "/Windows/System32/Recovery/Winre.wim"),
            )
            .unwrap();
            assert_eq!(sha256sum(&w), want, "edition {i}");
            run("wimlib-imagex", &["verify", s(&w)]);
            let info = info_images(&wimlib_info(&w));
            assert_eq!(field(&info[0], "Build"), Some("26100"));
            assert_eq!(field(&info[0], "Service Pack Build"), Some("8037"));
            // The serviced file is the package's (cabextract's view of the CAB).
            let kernel32 = wimlib_extract(&w, 1, "/Windows/System32/kernel32.dll");
            let cab = cabextract(&fx.join("safeos-du.cab"), &x.join(format!("cab-{i}")));
            let shipped = cab
                .iter()
                .find(|(p, _)| p.ends_with("/kernel32.dll"))
                .map(|(_, b)| b)
                .unwrap();
            assert!(
                kernel32 == *shipped,
                "edition {i}: kernel32.dll not serviced"
            );
        }
        serviced.push(want.to_string());
    }
    assert_ne!(serviced[0], serviced[1], "two groups, two serviced WinREs");
    // The unselected edition keeps its WinRE and files, and its image metadata as wimlib lists it.
    assert!(wimlib_extract(&out, 4, "/Windows/System32/Recovery/Winre.wim") == original(4));
    assert_eq!(wimlib_dir(&out, 4), wimlib_dir(&src, 4));
    for i in 1..=4 {
        assert_eq!(
            wimlib_extract(&out, i, "/Windows/edition.txt"),
            wimlib_extract(&src, i, "/Windows/edition.txt")
        );
    }
    let eds: Vec<(u64, bool)> = rep["editions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["index"].as_u64().unwrap(),
                e["updated"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(eds, vec![(1, true), (2, true), (3, true), (4, false)]);

    // The browser opens one OPFS stage per group before the job: the core's count of them.
    let media = |name: &str| {
        let r: SharedReader = Arc::new(FileSource::open(fx.join(name)).unwrap());
        vec![(name.to_string(), r)]
    };
    let stages = |target, indices: &[u32], name: &str| {
        let request = service::PatchRequest {
            target,
            options: PatchOptions {
                indices: indices.to_vec(),
                ..Default::default()
            },
            ..Default::default()
        };
        service::winre_stages(&request, &media(name)).len()
    };
    use service::PatchTarget::{Install, Iso, Winre};
    assert_eq!(stages(Install, &[1, 2, 3], "install-multire.wim"), 2);
    assert_eq!(stages(Install, &[], "install-multire.wim"), 3);
    assert_eq!(stages(Install, &[2, 1], "install-multire.wim"), 1);
    assert_eq!(stages(Iso, &[], "media-udf.iso"), 1);
    assert_eq!(stages(Winre, &[], "install-multire.wim"), 0);

    // Every edition: the Safe OS DU is for build 26100 and edition 4's WinRE is 22621, so the
    // run is refused before anything is serviced, naming edition 4, and nothing is left.
    std::fs::remove_dir_all(&x).unwrap();
    let o = patch(&src, &["safeos-du.cab"], &bad, &["--target", "install"]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("edition 4 "), "{err}");
    assert!(err.contains("build 22621"), "{err}");
    assert!(err.contains("nothing was written"), "{err}");
    assert_eq!(dir_names(t.path()), vec!["install.wim"]);
}

#[test]
fn setup_target_expands_the_setup_du_into_a_zip() {
    let fx = fixtures();
    let t = tempfile::tempdir().unwrap();
    let zip = t.path().join("sources.zip");
    ok(&patch_fixture(
        "media-udf.iso",
        &["setup-du.cab"],
        &zip,
        &["--target", "setup"],
    ));
    let x = t.path().join("x");
    let cab = cabextract(&fx.join("setup-du.cab"), &t.path().join("c"));
    run("7zz", &["x", "-y", &format!("-o{}", s(&x)), s(&zip)]);
    assert_eq!(files(&x), cab);
    // A Safe OS DU is not a Setup DU.
    let o = patch_fixture(
        "media-udf.iso",
        &["safeos-du.cab"],
        &t.path().join("bad.zip"),
        &["--target", "setup"],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(!t.path().join("bad.zip").exists());
}

#[test]
fn compression_choice_layers_and_partition_check() {
    let fx = fixtures();
    let t = tempfile::tempdir().unwrap();
    // An XPRESS WinRE (exported by wimlib): LZX by default (every blob recompressed), XPRESS kept
    // on request (then the unchanged resources are copied).
    let xp = t.path().join("xpress.wim");
    run(
        "wimlib-imagex",
        &[
            "export",
            s(&fx.join("Winre.wim")),
            "1",
            s(&xp),
            "--compress=XPRESS",
        ],
    );
    let (lzx, kept) = (t.path().join("lzx.wim"), t.path().join("kept.wim"));
    let j =
        |o: &std::process::Output| -> serde_json::Value { serde_json::from_str(&ok(o)).unwrap() };
    let a = j(&patch(&xp, &["safeos-du.cab"], &lzx, &["--json"]));
    let b = j(&patch(
        &xp,
        &["safeos-du.cab"],
        &kept,
        &["--json", "--keep-compression"],
    ));
    assert_eq!(a["outcome"]["compression"], "LZX");
    // Only resources wimlib stored uncompressed can be copied into an LZX WIM.
    let raw = |v: &serde_json::Value| v["outcome"]["raw_copied_blobs"].as_u64().unwrap();
    assert!(raw(&a) < raw(&b), "{} vs {}", raw(&a), raw(&b));
    assert_eq!(b["outcome"]["compression"], "XPRESS");
    assert!(raw(&b) >= 20);
    for (w, c) in [(&lzx, "LZX"), (&kept, "XPRESS")] {
        run("wimlib-imagex", &["verify", s(w)]);
        let info = wimlib_info(w);
        assert!(info.contains(&format!("Compression:    {c}")), "{info}");
        let (x, y) = (
            t.path().join(format!("{c}-a")),
            t.path().join(format!("{c}-b")),
        );
        wim_apply(w, &x);
        if c == "LZX" {
            wim_apply(&kept, &y);
            assert!(
                files(&x) == files(&y),
                "the two compressions hold different trees"
            );
        }
    }

    // Explicit layers down to the nested WinRE give the same image as the bare Winre.wim.
    let (bare, layered) = (t.path().join("bare.wim"), t.path().join("layered.wim"));
    patch_winre(&bare, &[]);
    let o = mediaprep(&[
        "patch",
        s(&fx.join("media-udf.iso")),
        "/sources/install.wim",
        "2:/Windows/System32/Recovery/Winre.wim",
        "--package",
        s(&fx.join("safeos-du.cab")),
        "-o",
        s(&layered),
    ]);
    ok(&o);
    assert!(std::fs::read(&bare).unwrap() == std::fs::read(&layered).unwrap());

    // Recovery partition: 1 GB with 600 MB free fits; 3 MB free does not.
    let fit = |free: &str| {
        let out = t.path().join(format!("fit-{free}.wim"));
        let v = j(&patch_fixture(
            "Winre.wim",
            &["safeos-du.cab"],
            &out,
            &[
                "--json",
                "--recovery-partition",
                "1000000000",
                "--recovery-free",
                free,
            ],
        ));
        v["recovery_partition"]["fit"].as_str().unwrap().to_string()
    };
    assert_eq!(fit("600000000"), "fits");
    assert_eq!(fit("2000000"), "does-not-fit");
}

/// The browser worker's path (library into an in-memory sink, checked from memory) gives the same
/// bytes as the CLI's file path.
#[test]
fn in_memory_patch_equals_the_cli_output() {
    let (_t, out, _) = patched_winre("cli.wim");

    let (wim, pkgs) = winre_and_du();
    let sel = service::select_packages(&pkgs);
    let prepared = service::prepare(&sel, &mediaprep_core::io::NoProgress).unwrap();
    let (outcome, bytes) = service::patch_wim(
        &wim,
        &prepared,
        &PatchOptions::default(),
        Vec::new(),
        &mediaprep_core::io::NoProgress,
    )
    .unwrap();
    let back: SharedReader = Arc::new(mediaprep_core::io::SliceSource::new(bytes.clone()));
    let rep = service::verify_output(back, &mediaprep_core::io::NoProgress).unwrap();
    assert!(rep.ok > 0 && rep.failures.is_empty());
    assert_eq!(outcome.size, bytes.len() as u64);
    assert!(bytes == std::fs::read(&out).unwrap());
}

/// Servicing an already-serviced image with the same package reinstalls the same components: the
/// applied tree is the same, and wimlib still verifies it.
#[test]
fn servicing_twice_gives_the_same_tree() {
    let (t, [o1, o2]) = tmp_paths(["once.wim", "twice.wim"]);
    patch_winre(&o1, &[]);
    let v: serde_json::Value =
        serde_json::from_str(&ok(&patch(&o1, &["safeos-du.cab"], &o2, &["--json"]))).unwrap();
    let ch = &v["outcome"]["images"][0]["changes"];
    assert_eq!(ch["removed"].as_array().unwrap().len(), 0, "{ch}");
    assert!(ch["replaced"].as_array().unwrap().len() >= 8, "{ch}");
    run("wimlib-imagex", &["verify", s(&o2)]);
    let (a, b) = (t.path().join("a"), t.path().join("b"));
    wim_apply(&o1, &a);
    wim_apply(&o2, &b);
    assert!(files(&a) == files(&b));
    let n = std::fs::metadata(b.join("Windows/System32/kernel32.dll"))
        .unwrap()
        .nlink();
    assert_eq!(n, 2);
}

/// `--best` trades speed for size only: wimlib verifies both and they apply to exactly the same
/// tree; the default is the lazy parse (`--fast` says so explicitly and gives the same bytes), and
/// `--best` is smaller.
#[test]
fn best_parse_gives_the_same_tree_smaller() {
    let (t, [best, plain, fast]) = tmp_paths(["best.wim", "plain.wim", "fast.wim"]);
    patch_winre(&best, &["--best"]);
    patch_winre(&plain, &[]);
    patch_winre(&fast, &["--fast"]);
    run("wimlib-imagex", &["verify", s(&best)]);
    run("wimlib-imagex", &["verify", s(&plain)]);
    let (a, b) = (t.path().join("a"), t.path().join("b"));
    wim_apply(&best, &a);
    wim_apply(&plain, &b);
    assert!(
        files(&a) == files(&b),
        "best and default outputs apply to different trees"
    );
    let (best, plain) = (
        std::fs::read(&best).unwrap(),
        std::fs::read(&plain).unwrap(),
    );
    assert!(
        best.len() < plain.len(),
        "--best ({}) is not smaller than the default ({})",
        best.len(),
        plain.len()
    );
    assert!(
        plain == std::fs::read(&fast).unwrap(),
        "--fast is the default"
    );
    let o = patch_fixture(
        "Winre.wim",
        &["safeos-du.cab"],
        &t.path().join("x.wim"),
        &["--best", "--fast"],
    );
    assert!(
        !o.status.success(),
        "--best and --fast together are refused"
    );
}

#[test]
fn integrity_table_on_request_and_kept_from_the_input() {
    let (t, [plain, with, again]) = tmp_paths(["plain.wim", "with.wim", "again.wim"]);
    patch_winre(&plain, &[]);
    patch_winre(&with, &["--integrity"]);
    let has_table = |p: &Path| {
        let o = Command::new("wimlib-imagex")
            .args(["verify", s(p)])
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(o.status.success(), "wimlib verify {}: {text}", p.display());
        !text.contains("does not contain integrity information")
    };
    assert!(!has_table(&plain), "no table unless asked");
    assert!(has_table(&with), "--integrity writes a table wimlib checks");
    // Our reader agrees, and a flipped byte inside the covered range is caught by wimlib.
    let w = Wim::open(Arc::new(FileSource::open(&with).unwrap())).unwrap();
    assert_eq!(
        w.check_integrity(&mediaprep_core::io::NoProgress).unwrap(),
        Some(true)
    );
    let mut bad = std::fs::read(&with).unwrap();
    bad[300] ^= 0x55;
    let bad_path = t.path().join("bad.wim");
    std::fs::write(&bad_path, &bad).unwrap();
    let o = Command::new("wimlib-imagex")
        .args(["verify", s(&bad_path)])
        .output()
        .unwrap();
    assert!(!o.status.success(), "wimlib accepts a corrupted file");
    // An input with a table gives an output with one, without the flag.
    ok(&patch(&with, &["safeos-du.cab"], &again, &[]));
    assert!(has_table(&again), "the input's integrity table is kept");
}
