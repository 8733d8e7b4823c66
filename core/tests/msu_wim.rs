//! WIM-format `.msu` files (24H2+ cumulative updates, issue #15 item 4): the fixture
//! `lcu-ssu-wim.msu` is written by wimlib-imagex, so its member list and bytes are checked against
//! wimlib's view; its SSU is serviced into WinRE exactly as the CAB `.msu` (`lcu-ssu.msu`, same SSU
//! CAB bytes) services it; a corrupt SSU or a malformed WIM is refused with a typed error.

mod common;

use common::cli::{mediaprep, ok};
use common::*;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;

use mediaprep_core::io::{FileSource, SharedReader, SliceSource};
use mediaprep_core::package::{open_package, Container, Package, PackageKind};

const WIM_MSU: &str = "lcu-ssu-wim.msu";
const CAB_MSU: &str = "lcu-ssu.msu";
const SSU_CAB: &str = "SSU-26100.8037-x64.cab";
const BODY_WIM: &str = "Windows11.0-KB5079473-x64.wim";
const REFUSAL: &str = "WinRE takes the SSU and the Safe OS DU only";

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The opened inner package named `name`.
fn opened_inner<'a>(pkg: &'a Package, name: &str) -> &'a Package {
    pkg.inner_packages
        .iter()
        .find(|i| i.name == name)
        .and_then(|i| i.package.as_deref())
        .unwrap_or_else(|| panic!("{name} not opened in {}", pkg.file_name))
}

fn spec(name: &str) -> serde_json::Value {
    let p = workspace().join("scripts/fixtures.d").join(name);
    serde_json::from_slice(&read(&p)).unwrap()
}

/// wimlib's file list of image 1 as member names (`\`-separated, no leading separator), sorted.
fn wimlib_members(path: &Path) -> Vec<String> {
    let mut v: Vec<String> = wimlib_dir(path, 1)
        .into_iter()
        .filter(|l| l != "/")
        .map(|l| l.trim_start_matches('/').replace('/', "\\"))
        .collect();
    v.sort();
    v
}

fn patch(packages: &[&Path], out: &Path) -> Output {
    let winre = fixture("Winre.wim");
    let mut args = vec!["patch".to_string(), s(&winre).to_string()];
    for p in packages {
        args.push("--package".into());
        args.push(s(p).to_string());
    }
    args.extend(["-o".to_string(), s(out).to_string()]);
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    mediaprep(&a)
}

#[test]
fn package_json_lists_members_ssu_and_psfx_attributes() {
    let msu = fixture(WIM_MSU);
    let v: serde_json::Value =
        serde_json::from_str(&ok(&mediaprep(&["package", s(&msu), "--json"]))).unwrap();
    let p = &v["package"];
    assert_eq!(p["container"], "MsuWim");
    assert_eq!(p["kind"], "Lcu");
    assert_eq!(v["verification"]["ok"], true, "{}", v["verification"]);

    // Members: as wimlib-imagex dir lists the image.
    let mut members: Vec<String> = p["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap().to_string())
        .collect();
    members.sort();
    assert_eq!(members, wimlib_members(&msu));
    assert_eq!(members.len(), 5, "{members:?}");

    // The LCU's identity and PSFX attributes: what the spec put into the body's update.mum.
    let lcu = spec("lcu-ssu-wim.json");
    let id = &lcu["package"]["identity"];
    assert_eq!(p["identity"]["name"], id["name"]);
    assert_eq!(p["identity"]["version"], id["version"]);
    assert_eq!(p["kb"], lcu["package"]["kb"]);
    assert_eq!(p["psfx"], true);
    assert_eq!(p["format"]["package_format"], "PSFX");
    assert_eq!(p["format"]["psfx_version"], "2");
    assert_eq!(p["format"]["psfx_delta_format"], "ForwardOnly");

    // Inner packages: one per CAB and the body .wim, each opened.
    let inner = p["inner_packages"].as_array().unwrap();
    let role = |name: &str| {
        inner
            .iter()
            .find(|i| i["name"] == name)
            .unwrap_or_else(|| panic!("no inner {name}: {inner:?}"))
    };
    for i in inner {
        assert!(i["error"].is_null(), "{i}");
    }
    let ssu = role(SSU_CAB);
    assert_eq!(ssu["role"], "SsuCab");
    let ssu_spec = spec("ssu.json");
    assert_eq!(ssu["package"]["kind"], "Ssu");
    assert_eq!(
        ssu["package"]["identity"]["name"],
        ssu_spec["identity"]["name"]
    );
    assert_eq!(ssu["package"]["kb"], ssu_spec["kb"]);
    let body = role(BODY_WIM);
    assert_eq!(body["role"], "PackageWim");
    assert_eq!(body["package"]["container"], "Wim");
    assert_eq!(body["package"]["delta_payloads"], true);
    assert_eq!(role("DesktopDeployment.cab")["role"], "DesktopDeployment");
    assert_eq!(
        role("Windows11.0-KB5079473-x64.AggregatedMetadata.cab")["role"],
        "AggregatedMetadata"
    );
    assert_eq!(inner.len(), 4, "the .psf is a member, not a package");
    // The .psf starts with the PSTREAM magic, so no note about it.
    assert!(
        !p["notes"].to_string().contains("PSTREAM"),
        "{}",
        p["notes"]
    );
}

#[test]
fn members_read_as_wimlib_extracts_them() {
    let msu = fixture(WIM_MSU);
    let src: SharedReader = Arc::new(FileSource::open(&msu).unwrap());
    let pkg = open_package(src, WIM_MSU).unwrap();
    assert_eq!(pkg.container, Container::MsuWim);
    // Nothing of a WIM is in the CAB directory; the members read through the WIM.
    assert!(pkg.archive().files.is_empty());
    for m in &pkg.members {
        let want = wimlib_extract(&msu, 1, &m.name);
        assert_eq!(m.size, want.len() as u64, "{}", m.name);
        assert_eq!(
            pkg.read_member(&m.name, 1 << 20).unwrap(),
            want,
            "{}",
            m.name
        );
    }
    let psf = pkg
        .read_member("Windows11.0-KB5079473-x64.psf", 1 << 20)
        .unwrap();
    assert_eq!(&psf[..12], b"PSTREAM\0\x02\0\x02\0");

    // The SSU is opened in place (its source is the WIM resource), with the bytes wimlib extracts,
    // which are also the bytes the CAB .msu carries (so both patches below must agree).
    let ssu = opened_inner(&pkg, SSU_CAB);
    assert_eq!(ssu.kind, PackageKind::Ssu);
    let mut whole = vec![0u8; ssu.source().size() as usize];
    ssu.source().read_at(0, &mut whole).unwrap();
    assert_eq!(whole, wimlib_extract(&msu, 1, SSU_CAB));
    let t = tempfile::tempdir().unwrap();
    run(
        "cabextract",
        &["-q", "-d", s(t.path()), "-F", SSU_CAB, s(&fixture(CAB_MSU))],
    );
    assert_eq!(whole, read(&t.path().join(SSU_CAB)));

    // The body .wim: its file list as wimlib lists the extracted .wim.
    let body_path = t.path().join(BODY_WIM);
    std::fs::write(&body_path, wimlib_extract(&msu, 1, BODY_WIM)).unwrap();
    let body = opened_inner(&pkg, BODY_WIM);
    let mut names: Vec<String> = body.members.iter().map(|m| m.name.clone()).collect();
    names.sort();
    assert_eq!(names, wimlib_members(&body_path));
    assert!(names.iter().any(|n| n == "express.psf.cix.xml"));
    let cix = body.read_member("express.psf.cix.xml", 1 << 20).unwrap();
    let cix = String::from_utf8(cix).unwrap();
    assert!(
        cix.contains("urn:ContainerIndex") && cix.contains("<File "),
        "{cix}"
    );
}

#[test]
fn wim_msu_patch_equals_cab_msu_patch() {
    let t = tempfile::tempdir().unwrap();
    let du = fixture("safeos-du.cab");
    let (a, b) = (t.path().join("a.wim"), t.path().join("b.wim"));
    let o = patch(&[&fixture(WIM_MSU), &du], &a);
    ok(&o);
    let said = String::from_utf8_lossy(&o.stdout);
    assert!(said.contains(REFUSAL) && said.contains(BODY_WIM), "{said}");
    ok(&patch(&[&fixture(CAB_MSU), &du], &b));
    assert!(read(&a) == read(&b), "WIM .msu and CAB .msu outputs differ");
    run("wimlib-imagex", &["verify", s(&a)]);
    let dir = wimlib_dir(&a, 1);
    let has = |p: &str| dir.iter().any(|l| l.eq_ignore_ascii_case(p));
    assert!(has("/Windows/servicing/CbsCore.dll"), "SSU file missing");
    assert!(has("/Windows/servicing/TrustedInstaller.exe"));
    assert!(
        !has("/Windows/System32/rollup.txt"),
        "the LCU body was applied"
    );
    assert_eq!(
        wimlib_extract(&a, 1, "/Windows/servicing/CbsCore.dll"),
        b"servicing stack 8037 placeholder\r\n"
    );
}

/// A copy of the WIM .msu whose SSU CAB is cut to `keep` bytes, re-captured by wimlib-imagex.
fn with_broken_ssu(dir: &Path, keep: usize) -> std::path::PathBuf {
    let stage = dir.join("stage");
    run(
        "wimlib-imagex",
        &["apply", s(&fixture(WIM_MSU)), "1", s(&stage)],
    );
    let cab = stage.join(SSU_CAB);
    let mut bytes = read(&cab);
    bytes.truncate(keep);
    std::fs::write(&cab, bytes).unwrap();
    let out = dir.join("broken-ssu.msu");
    run(
        "wimlib-imagex",
        &["capture", s(&stage), s(&out), "--compress=LZX", "--no-acls"],
    );
    out
}

#[test]
fn corrupt_ssu_in_wim_msu_is_refused_and_leaves_nothing() {
    let t = tempfile::tempdir().unwrap();
    let msu = with_broken_ssu(t.path(), 200);
    let out_dir = t.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let o = patch(
        &[&msu, &fixture("safeos-du.cab")],
        &out_dir.join("WinRE.wim"),
    );
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(SSU_CAB) && err.contains("could not be opened"),
        "{err}"
    );
    // The DISM hand-off names the LCU (its SSU goes in with it).
    assert!(String::from_utf8_lossy(&o.stdout).contains("KB5079473"));
    assert!(std::fs::read_dir(&out_dir).unwrap().next().is_none());
}

#[test]
fn malformed_wim_msu_is_a_typed_error() {
    let good = read(&fixture(WIM_MSU));
    let open = |bytes: Vec<u8>| {
        let src: SharedReader = Arc::new(SliceSource::new(bytes));
        open_package(src, WIM_MSU)
    };
    // Every truncation loses the blob table, the XML or a resource: an error, never a panic.
    for len in (0..good.len()).step_by(61).chain([8, 207, 208]) {
        let e = open(good[..len].to_vec());
        assert!(e.is_err(), "a {len}-byte prefix opened");
    }
    // The magic followed by garbage.
    let mut rng = Rng(0x5eed_f4d5);
    for n in [0usize, 100, 208, 4096] {
        let mut b = b"MSWIM\0\0\0".to_vec();
        b.extend((0..n).map(|_| rng.next() as u8));
        assert!(open(b).is_err(), "{n} garbage bytes opened");
    }
    // Byte flips anywhere: an error or a package, and every member then reads or fails cleanly.
    for _ in 0..300 {
        let mut b = good.clone();
        for _ in 0..1 + rng.below(4) {
            let at = rng.below(b.len());
            b[at] ^= 1 << rng.below(8);
        }
        if let Ok(p) = open(b) {
            for m in &p.members {
                let _ = p.read_member(&m.name, 1 << 20);
            }
            let _ = p.verify(&Default::default());
        }
    }
}

#[test]
fn only_top_level_members_of_a_wim_are_msu_members() {
    // An SSU CAB one folder down is not the MSU's SSU; an install.wim given as a package is a WIM
    // container with no MSU members (and nothing in its tree is opened).
    let t = tempfile::tempdir().unwrap();
    let stage = t.path().join("stage");
    std::fs::create_dir_all(stage.join("sub")).unwrap();
    std::fs::write(
        stage.join("sub").join(SSU_CAB),
        wimlib_extract(&fixture(WIM_MSU), 1, SSU_CAB),
    )
    .unwrap();
    let nested = t.path().join("nested.msu");
    run(
        "wimlib-imagex",
        &[
            "capture",
            s(&stage),
            s(&nested),
            "--compress=LZX",
            "--no-acls",
        ],
    );
    for path in [nested, fixture("install.wim")] {
        let src: SharedReader = Arc::new(FileSource::open(&path).unwrap());
        let wim = Command::new("wimlib-imagex")
            .args(["info", s(&path)])
            .output()
            .unwrap();
        let one_image = String::from_utf8_lossy(&wim.stdout).contains("Image Count:    1");
        match open_package(src, "x.msu") {
            Ok(p) => {
                assert!(one_image, "{}: a multi-image WIM opened", path.display());
                assert_eq!(p.container, Container::MsuWim);
                assert!(p.inner_packages.is_empty(), "{:?}", p.inner_packages);
                assert_eq!(p.kind, PackageKind::Other);
                let names: Vec<&str> = p.members.iter().map(|m| m.name.as_str()).collect();
                assert_eq!(names, [format!("sub\\{SSU_CAB}")]);
            }
            Err(e) => {
                assert!(!one_image, "{}: {e}", path.display());
                assert!(e.to_string().contains("exactly one"), "{e}");
            }
        }
    }
}

/// The shared malformed/odd WIMs (`../shared/testdata/wim`, see its SOURCES.md), given to the
/// WIM `.msu` opener. `None` (printed skip) without them; a panic under `CI`.
fn shared_wims() -> Option<Vec<std::path::PathBuf>> {
    let dir = workspace().join("../shared/testdata/wim");
    if !dir.is_dir() {
        assert!(
            std::env::var_os("CI").is_none(),
            "{} missing (required in CI)",
            dir.display()
        );
        eprintln!(
            "skipped: shared WIM test data not found at {}",
            dir.display()
        );
        return None;
    }
    let mut v: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    v.sort();
    Some(v)
}

/// Every shared WIM given to `open_package` and to `mediaprep package`: a typed error (exit 1,
/// never a panic's 101, never a hang) or a listing equal to wimlib's, whose members read as wimlib
/// extracts them; each file's truncations are errors or listings too, never a panic.
#[test]
fn shared_malformed_wims_are_typed_errors_or_correct_listings() {
    let Some(files) = shared_wims() else {
        return;
    };
    assert!(files.len() >= 10, "{files:?}");
    let (mut listed, mut refused) = (0, 0);
    for path in &files {
        let name = path.file_name().unwrap().to_str().unwrap();
        // The CLI in a child process: a panic would exit 101, a hang would never exit.
        let mut child = Command::new(env!("CARGO_BIN_EXE_mediaprep"))
            .args(["package", s(path), "--json"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut waited = 0;
        let status = loop {
            if let Some(st) = child.try_wait().unwrap() {
                break st;
            }
            if waited >= 1200 {
                let _ = child.kill();
                panic!("{name}: `mediaprep package` still running after 120 s");
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
            waited += 1;
        };
        assert!(
            matches!(status.code(), Some(0) | Some(1)),
            "{name}: exit {status:?}"
        );

        let bytes = read(path);
        let src: SharedReader = Arc::new(SliceSource::new(bytes.clone()));
        match open_package(src, name) {
            Ok(p) => {
                listed += 1;
                assert_eq!(p.container, Container::MsuWim, "{name}");
                assert_eq!(p.kind, PackageKind::Other, "{name}");
                let mut names: Vec<String> = p.members.iter().map(|m| m.name.clone()).collect();
                names.sort();
                // wimlib lists directories too; members are the files.
                let files_only: Vec<String> = wimlib_members(path)
                    .into_iter()
                    .filter(|n| {
                        p.members.iter().any(|m| &m.name == n)
                            || !wimlib_members(path)
                                .iter()
                                .any(|o| o.starts_with(&format!("{n}\\")))
                    })
                    .collect();
                assert_eq!(names, files_only, "{name}: members differ from wimlib's");
                for m in &p.members {
                    // wimlib refuses to extract a file whose data is corrupt; ours must fail too.
                    let want = Command::new("wimlib-imagex")
                        .args([
                            "extract",
                            s(path),
                            "1",
                            &m.name.replace('\\', "/"),
                            "--to-stdout",
                        ])
                        .output()
                        .unwrap();
                    match p.read_member(&m.name, 1 << 20) {
                        Ok(got) => {
                            assert!(
                                want.status.success(),
                                "{name}: {} read, wimlib fails",
                                m.name
                            );
                            assert_eq!(got, want.stdout, "{name}: {}", m.name);
                        }
                        Err(e) => {
                            assert!(!want.status.success(), "{name}: {}: {e}", m.name);
                        }
                    }
                }
            }
            Err(e) => {
                refused += 1;
                assert!(!e.to_string().is_empty(), "{name}");
            }
        }
        // Every truncation (a few hundred bytes apart, and the header edges): typed, no panic.
        for len in (0..bytes.len()).step_by(97).chain([0, 8, 207, 208, 209]) {
            let src: SharedReader =
                Arc::new(SliceSource::new(bytes[..len.min(bytes.len())].to_vec()));
            if let Ok(p) = open_package(src, name) {
                for m in &p.members {
                    let _ = p.read_member(&m.name, 1 << 20);
                }
            }
        }
    }
    eprintln!("{listed} listed, {refused} refused of {}", files.len());
    assert!(
        listed > 0 && refused > 0,
        "{listed} listed, {refused} refused"
    );
}
