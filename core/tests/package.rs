//! Update packages against independent tools: packages built by `scripts/make-package.py` (gcab),
//! listings and contents compared with `cabextract`, digests with `sha1sum`/`sha256sum`, and the
//! public CAB corpus in `shared/testdata/cab` (good ones must match cabextract byte for byte; malformed
//! ones must fail with an error, without a panic or a hang).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{mpsc, Arc};
use std::time::Duration;

use mediaprep_core::io::{FileSource, SharedReader, SliceSource};
use mediaprep_core::package::{
    open_package, Container, Expected, Package, PackageKind, PayloadLayout, PayloadStatus,
};
use mediaprep_core::Error;
use serde_json::{json, Value};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/make-package.py");
mod common;
use common::Rng;

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/testdata/cab");

fn make(dir: &Path, name: &str, spec: &Value) -> PathBuf {
    let spec_path = dir.join(format!("{name}.json"));
    std::fs::write(&spec_path, serde_json::to_vec_pretty(spec).unwrap()).unwrap();
    let out = dir.join(name);
    let st = Command::new("python3")
        .arg(SCRIPT)
        .arg(&spec_path)
        .arg(&out)
        .status()
        .expect("python3");
    assert!(st.success(), "make-package.py failed for {name}");
    out
}

fn open_file(path: &Path) -> mediaprep_core::Result<Package> {
    let src: SharedReader = Arc::new(FileSource::open(path)?);
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    open_package(src, &name)
}

fn tool_hex(tool: &str, path: &Path) -> String {
    let out = Command::new(tool).arg(path).output().expect(tool);
    String::from_utf8(out.stdout).unwrap()[..if tool == "sha1sum" { 40 } else { 64 }].to_string()
}

/// `cabextract -l` as (size, name with `\`) pairs, file names as raw bytes decoded lossily.
fn cabextract_list(path: &Path) -> Vec<(u64, String)> {
    let out = Command::new("cabextract")
        .arg("-l")
        .arg(path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.lines()
        .filter_map(|l| {
            let mut parts = l.splitn(3, " | ");
            let size = parts.next()?.trim().parse::<u64>().ok()?;
            let _date = parts.next()?;
            Some((size, parts.next()?.replace('/', "\\")))
        })
        .collect()
}

fn extract(path: &Path, dir: &Path) {
    let st = Command::new("cabextract")
        .arg("-q")
        .arg("-d")
        .arg(dir)
        .arg(path)
        .status()
        .unwrap();
    assert!(st.success(), "cabextract failed on {}", path.display());
}

/// Path cabextract wrote a member to: UTF-8 name bytes, or the Latin-1 bytes for legacy names.
fn extracted_path(dir: &Path, name: &str) -> PathBuf {
    use std::os::unix::ffi::OsStrExt;
    let rel = name.replace('\\', "/");
    let p = dir.join(&rel);
    if p.exists() {
        return p;
    }
    let latin1: Vec<u8> = rel.chars().map(|c| c as u32 as u8).collect();
    dir.join(std::ffi::OsStr::from_bytes(&latin1))
}

/// Every member we list equals cabextract's listing and bytes (members in Quantum folders must give
/// `Unsupported`).
fn compare_with_cabextract(path: &Path, pkg: &Package) {
    let theirs = cabextract_list(path);
    let ours: Vec<(u64, String)> = pkg
        .members
        .iter()
        .map(|m| (m.size, m.name.clone()))
        .collect();
    assert_eq!(ours.len(), theirs.len(), "{}: member count", path.display());
    for ((s1, n1), (s2, n2)) in ours.iter().zip(&theirs) {
        assert_eq!(s1, s2, "{}: size of {n1}", path.display());
        // Invalid UTF-8 in flagged names: cabextract's replacement scheme differs from ours.
        if !n1.contains('\u{fffd}') && !n2.contains('\u{fffd}') {
            assert_eq!(n1, n2, "{}: name", path.display());
        }
    }
    // The one-pass folder decoder (used by verification) must give the same bytes as the crate path.
    let plain: Vec<usize> = pkg
        .members
        .iter()
        .enumerate()
        .filter(|(_, m)| {
            !matches!(
                m.compression,
                mediaprep_core::package::FolderCompression::Quantum { .. }
            )
        })
        .map(|(i, _)| i)
        .collect();
    let mut streamed: Vec<Vec<u8>> = vec![Vec::new(); pkg.members.len()];
    pkg.archive()
        .stream_members(&plain, &mut |i, piece| {
            streamed[i].extend_from_slice(piece);
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{}: stream_members: {e}", path.display()));
    for &i in &plain {
        let m = &pkg.members[i];
        assert_eq!(
            streamed[i],
            pkg.read_member(&m.name, 1 << 24).unwrap(),
            "{}: one-pass bytes of {}",
            path.display(),
            m.name
        );
    }
    let tmp = tempfile::tempdir().unwrap();
    // cabextract skips Quantum-free members fine; it decodes Quantum too, which we do not.
    let _ = Command::new("cabextract")
        .arg("-q")
        .arg("-d")
        .arg(tmp.path())
        .arg(path)
        .status();
    for m in &pkg.members {
        let got = pkg.read_member(&m.name, 1 << 24);
        if matches!(
            m.compression,
            mediaprep_core::package::FolderCompression::Quantum { .. }
        ) && m.size > 0
        {
            assert!(
                matches!(got, Err(Error::Unsupported { .. })),
                "{}: Quantum member {} gave {got:?}",
                path.display(),
                m.name
            );
            continue;
        }
        let got = got.unwrap_or_else(|e| panic!("{}: {}: {e}", path.display(), m.name));
        let on_disk = extracted_path(tmp.path(), &m.name);
        // Names cabextract rewrites (invalid UTF-8, noncharacters) are compared by size only.
        if m.name.contains('\u{fffd}') || (!on_disk.exists() && m.size == 0) {
            assert_eq!(got.len() as u64, m.size);
            continue;
        }
        let want = std::fs::read(&on_disk).unwrap_or_else(|e| {
            panic!("{}: cabextract output for {}: {e}", path.display(), m.name)
        });
        assert_eq!(got, want, "{}: bytes of {}", path.display(), m.name);
    }
}

fn safe_os_spec() -> Value {
    json!({
        "kb": "KB5079471",
        "identity": {"name": "Package_for_SafeOSDU", "version": "26100.8037.1.0", "arch": "amd64"},
        "release_type": "Update",
        "parents": [{"name": "WinPE-Package", "version": "10.0.26100.1", "arch": "amd64"}],
        "components": [
            {"name": "Microsoft-Windows-Foo", "version": "10.0.26100.8037", "arch": "amd64",
             "files": [
                {"name": "foo.dll", "destinationPath": "$(runtime.system32)\\", "text": "foo payload\n".repeat(5000)},
                {"name": "bar.sys", "destinationPath": "$(runtime.drivers)\\", "text": "bar"}
             ]},
            {"name": "Microsoft-Windows-Bar-Deployment", "version": "10.0.26100.8037", "arch": "amd64",
             "language": "en-US",
             "files": [{"name": "bar.dll.mui", "destinationPath": "$(runtime.system32)\\en-US\\", "text": "mui"}]}
        ]
    })
}

#[test]
fn good_safe_os_du_parses_verifies_and_matches_cabextract() {
    let tmp = tempfile::tempdir().unwrap();
    let built = make(tmp.path(), "good.cab", &safe_os_spec());
    // Rename to an Update Catalog style name carrying the real SHA-1 (from sha1sum).
    let sha1 = tool_hex("sha1sum", &built);
    let sha256 = tool_hex("sha256sum", &built);
    let path = tmp
        .path()
        .join(format!("windows11.0-kb5079471-x64_{sha1}.cab"));
    std::fs::rename(&built, &path).unwrap();

    let pkg = open_file(&path).unwrap();
    assert_eq!(pkg.container, Container::Cab);
    assert_eq!(pkg.kind, PackageKind::SafeOsDu);
    assert_eq!(pkg.kb.as_deref(), Some("KB5079471"));
    assert_eq!(pkg.release_type.as_deref(), Some("Update"));
    let id = pkg.identity.as_ref().unwrap();
    assert_eq!(id.name, "Package_for_SafeOSDU");
    assert_eq!(id.version, "26100.8037.1.0");
    assert_eq!(pkg.parents.len(), 1);
    assert_eq!(pkg.parents[0].name, "WinPE-Package");
    assert_eq!(pkg.components.len(), 2);
    let foo = pkg
        .components
        .iter()
        .find(|c| c.identity.name == "Microsoft-Windows-Foo")
        .unwrap();
    assert_eq!(foo.files.len(), 2);
    assert_eq!(foo.files[0].name, "foo.dll");
    assert_eq!(foo.files[0].destination_path, "$(runtime.system32)\\");
    assert!(foo.files[0].sha256.is_some());
    let loc = pkg.payload_for(foo, &foo.files[0]).unwrap();
    assert_eq!(loc.layout, PayloadLayout::Folder);
    assert!(loc.member.ends_with("\\foo.dll"));
    // The digest in the manifest is the SHA-256 that sha256sum gives for cabextract's output.
    let x = tempfile::tempdir().unwrap();
    extract(&path, x.path());
    let payload_sha = tool_hex("sha256sum", &extracted_path(x.path(), &loc.member));
    assert_eq!(
        mediaprep_core::hash::hex(&foo.files[0].sha256.unwrap()),
        payload_sha
    );

    compare_with_cabextract(&path, &pkg);

    let v = pkg
        .verify(&Expected {
            sha256: Some(sha256.clone()),
            sha1: None,
            kb: Some("KB5079471".into()),
        })
        .unwrap();
    assert!(v.ok, "problems: {:?}", v.problems);
    assert_eq!(v.file_sha1, sha1);
    assert_eq!(v.file_sha256, sha256);
    assert_eq!(v.name_digest, Some((sha1.clone(), true)));
    assert_eq!(v.catalog_match, Some(true));
    assert_eq!(v.payloads.len(), 3);
    assert!(v.payloads.iter().all(|p| p.status == PayloadStatus::Match));

    // A wrong catalog digest, and a wrong name digest, are both caught.
    let v = pkg
        .verify(&Expected {
            sha1: Some("00".repeat(20)),
            ..Default::default()
        })
        .unwrap();
    assert!(!v.ok);
    assert_eq!(v.catalog_match, Some(false));
    let renamed = tmp
        .path()
        .join(format!("windows11.0-kb5079471-x64_{}.cab", "ab".repeat(20)));
    std::fs::copy(&path, &renamed).unwrap();
    let v = open_file(&renamed)
        .unwrap()
        .verify(&Expected::default())
        .unwrap();
    assert!(!v.ok);
    assert_eq!(v.name_digest, Some(("ab".repeat(20), false)));
}

#[test]
fn bounded_member_reads() {
    let tmp = tempfile::tempdir().unwrap();
    let path = make(tmp.path(), "good.cab", &safe_os_spec());
    let pkg = open_file(&path).unwrap();
    let big = pkg
        .members
        .iter()
        .find(|m| m.name.ends_with("foo.dll"))
        .unwrap();
    assert!(matches!(
        pkg.read_member(&big.name, big.size - 1),
        Err(Error::Limit { .. })
    ));
    assert!(matches!(
        pkg.read_member("nope", 10),
        Err(Error::NotFound { .. })
    ));
    // Case-insensitive, either separator.
    let upper = big.name.to_ascii_uppercase().replace('\\', "/");
    assert_eq!(
        pkg.read_member(&upper, 1 << 20).unwrap().len() as u64,
        big.size
    );
}

#[test]
fn tampered_payload_and_wrong_digest_are_caught() {
    let tmp = tempfile::tempdir().unwrap();
    let mut spec = safe_os_spec();
    spec["tamper"] = json!({"payload": {"bar.sys": "BAR"}});
    let pkg = open_file(&make(tmp.path(), "t1.cab", &spec)).unwrap();
    let v = pkg.verify(&Expected::default()).unwrap();
    assert!(!v.ok);
    let bad: Vec<_> = v
        .payloads
        .iter()
        .filter(|p| p.status == PayloadStatus::Mismatch)
        .collect();
    assert_eq!(bad.len(), 1);
    assert_eq!(bad[0].file, "bar.sys");
    assert!(!bad[0].ok);

    let mut spec = safe_os_spec();
    spec["tamper"] = json!({"wrong_digest": ["foo.dll"]});
    let v = open_file(&make(tmp.path(), "t2.cab", &spec))
        .unwrap()
        .verify(&Expected::default())
        .unwrap();
    assert!(!v.ok);
    assert!(v
        .payloads
        .iter()
        .any(|p| p.file == "foo.dll" && p.status == PayloadStatus::Mismatch));
}

#[test]
fn wrong_kb_is_a_problem() {
    let tmp = tempfile::tempdir().unwrap();
    let mut spec = safe_os_spec();
    spec["tamper"] = json!({"kb": "KB5000001"});
    let pkg = open_file(&make(tmp.path(), "kb.cab", &spec)).unwrap();
    assert_eq!(pkg.kb.as_deref(), Some("KB5000001"));
    let v = pkg
        .verify(&Expected {
            kb: Some("5079471".into()),
            ..Default::default()
        })
        .unwrap();
    assert!(!v.ok);
    assert!(
        v.problems.iter().any(|p| p.contains("KB5079471")),
        "{:?}",
        v.problems
    );
}

#[test]
fn traversal_names_are_rejected() {
    let tmp = tempfile::tempdir().unwrap();
    for (i, (from, to)) in [
        ("aa\\evil.txt", "..\\evil.txt"),
        ("aa\\evil.txt", "C:\\evil.txt"),
        ("aevil.txt", "\\evil.txt"),
        ("aa\\evil.txt", "a:evil.txt:"),
    ]
    .into_iter()
    .enumerate()
    {
        let mut spec = safe_os_spec();
        spec["extra"] = json!([{"name": from, "text": "x"}]);
        spec["tamper"] = json!({"rename_member": [[from, to]]});
        let path = make(tmp.path(), &format!("trav{i}.cab"), &spec);
        match open_file(&path) {
            Err(Error::Invalid { reason: msg, .. }) => assert!(msg.contains("evil"), "{msg}"),
            other => panic!("{to:?}: expected Invalid, got {other:?}"),
        }
    }
    let mut spec = safe_os_spec();
    spec["tamper"] = json!({"dotdot_destination": ["foo.dll"]});
    match open_file(&make(tmp.path(), "dest.cab", &spec)) {
        Err(Error::Invalid { reason: msg, .. }) => {
            assert!(msg.contains("destinationPath"), "{msg}")
        }
        other => panic!("expected Invalid, got {other:?}"),
    }
}

#[test]
fn dcm_manifest_is_detected_and_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let mut spec = safe_os_spec();
    spec["components"][1]["dcm_junk"] = json!(true);
    let pkg = open_file(&make(tmp.path(), "dcm.cab", &spec)).unwrap();
    let dcm: Vec<_> = pkg.components.iter().filter(|c| c.dcm_compressed).collect();
    assert_eq!(dcm.len(), 1);
    assert!(
        pkg.notes.iter().any(|n| n.contains("DCM")),
        "{:?}",
        pkg.notes
    );
    let v = pkg.verify(&Expected::default()).unwrap();
    assert!(v.ok, "{:?}", v.problems);
    assert!(v.notes.iter().any(|n| n.contains("DCM")));
}

#[test]
fn utf16_sha1_flat_and_stored_variants() {
    let tmp = tempfile::tempdir().unwrap();
    let mut spec = safe_os_spec();
    spec["components"][0]["utf16"] = json!(true);
    spec["components"][1]["sha1"] = json!(true);
    spec["components"][1]["flat"] = json!(true);
    spec["compress"] = json!(false);
    let path = make(tmp.path(), "var.cab", &spec);
    let pkg = open_file(&path).unwrap();
    compare_with_cabextract(&path, &pkg);
    let v = pkg.verify(&Expected::default()).unwrap();
    assert!(v.ok, "{:?}", v.problems);
    assert_eq!(v.payloads.len(), 3);
    let mui = pkg
        .components
        .iter()
        .find(|c| c.identity.language == "en-US")
        .unwrap();
    assert!(mui.files[0].sha1.is_some() && mui.files[0].sha256.is_none());
    assert_eq!(
        pkg.payload_for(mui, &mui.files[0]).unwrap().layout,
        PayloadLayout::Flat
    );
}

#[test]
fn setup_du_has_no_update_mum() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = json!({
        "no_mum": true,
        "extra": [{"name": "setuphost.exe", "text": "MZ..."}, {"name": "sources\\x.dll", "text": "x"}]
    });
    let path = make(tmp.path(), "windows11.0-kb5074110-x64.cab", &spec);
    let pkg = open_file(&path).unwrap();
    assert_eq!(pkg.kind, PackageKind::SetupDu);
    assert!(pkg.identity.is_none());
    assert_eq!(pkg.kb.as_deref(), Some("KB5074110"));
    compare_with_cabextract(&path, &pkg);
}

#[test]
fn msu_with_inner_package_and_ssu() {
    let tmp = tempfile::tempdir().unwrap();
    let lcu = json!({
        "kb": "KB5079473",
        "identity": {"name": "Package_for_RollupFix", "version": "26100.8037.1.9", "arch": "amd64"},
        "release_type": "Security Update",
        "psfx": true,
        "components": [{"name": "Microsoft-Windows-Foo", "version": "10.0.26100.8037", "arch": "amd64",
                        "files": [{"name": "foo.dll", "text": "foo"}]}]
    });
    let ssu = json!({
        "kb": "KB5079473",
        "identity": {"name": "Package_for_ServicingStack_8037", "version": "26100.8037.1.0", "arch": "amd64"},
        "components": [{"name": "Microsoft-Windows-ServicingStack", "version": "10.0.26100.8037", "arch": "amd64",
                        "files": [{"name": "wcp.dll", "text": "wcp"}]}]
    });
    let spec = json!({"mode": "msu", "kb": "KB5079473", "package": lcu, "ssu": ssu});
    let path = make(tmp.path(), "windows11.0-kb5079473-x64.msu", &spec);
    let pkg = open_file(&path).unwrap();
    assert_eq!(pkg.container, Container::Msu);
    assert_eq!(pkg.kind, PackageKind::Lcu);
    assert_eq!(pkg.kb.as_deref(), Some("KB5079473"));
    assert!(pkg.psfx);
    assert_eq!(
        pkg.properties.get("KB Article Number").map(String::as_str),
        Some("5079473")
    );
    let names: Vec<_> = cabextract_list(&path).into_iter().map(|(_, n)| n).collect();
    assert_eq!(
        pkg.members
            .iter()
            .map(|m| m.name.clone())
            .collect::<Vec<_>>(),
        names
    );
    let ssu_inner = pkg
        .inner_packages
        .iter()
        .find(|p| p.name.starts_with("SSU-"))
        .unwrap();
    assert_eq!(ssu_inner.name, "SSU-26100.8037-x64.cab");
    let ssu_pkg = ssu_inner.package.as_ref().unwrap();
    assert_eq!(ssu_pkg.kind, PackageKind::Ssu);
    assert_eq!(
        ssu_pkg.components[0].identity.name,
        "Microsoft-Windows-ServicingStack"
    );
    let main = pkg
        .inner_packages
        .iter()
        .find(|p| p.name == "Windows11.0-KB5079473-x64.cab")
        .unwrap();
    assert_eq!(main.package.as_ref().unwrap().kind, PackageKind::Lcu);
    // Inner CAB bytes read in place equal cabextract's extraction of the MSU.
    let x = tempfile::tempdir().unwrap();
    extract(&path, x.path());
    let inner_disk = extracted_path(x.path(), "SSU-26100.8037-x64.cab");
    let mut whole = Vec::new();
    ssu_pkg
        .source()
        .read_at(0, {
            whole.resize(ssu_pkg.source().size() as usize, 0);
            &mut whole
        })
        .unwrap();
    assert_eq!(whole, std::fs::read(inner_disk).unwrap());
    let v = pkg.verify(&Expected::default()).unwrap();
    assert!(v.ok, "{:?}", v.problems);
    assert_eq!(v.payloads.len(), 2);

    // A CAB .msu whose body is a .wim + .psf (22631.4541 on): the .wim's update.mum is read.
    let spec = json!({"mode": "msu", "kb": "KB5079473", "wim": true, "package": lcu, "ssu": ssu});
    let pkg = open_file(&make(tmp.path(), "wim.msu", &spec)).unwrap();
    assert_eq!(pkg.container, Container::Msu);
    assert_eq!(pkg.kind, PackageKind::Lcu);
    assert_eq!(pkg.kb.as_deref(), Some("KB5079473"));
    let body = pkg
        .inner_packages
        .iter()
        .find(|p| p.name == "Windows11.0-KB5079473-x64.wim")
        .unwrap();
    let body = body.package.as_ref().expect("the .wim body opens");
    assert_eq!(body.container, Container::Wim);
    assert_eq!(
        body.identity.as_ref().unwrap().name,
        "Package_for_RollupFix"
    );
    assert_eq!(
        pkg.format.as_ref().unwrap().package_format.as_deref(),
        Some("PSFX")
    );
    assert_eq!(
        pkg.format.as_ref().unwrap().psfx_delta_format.as_deref(),
        Some("ForwardOnly")
    );
}

#[test]
fn script_output_is_deterministic() {
    let tmp = tempfile::tempdir().unwrap();
    let a = std::fs::read(make(tmp.path(), "a.cab", &safe_os_spec())).unwrap();
    std::thread::sleep(Duration::from_millis(1100));
    let b = std::fs::read(make(tmp.path(), "b.cab", &safe_os_spec())).unwrap();
    assert_eq!(a, b);
}

/// Run `f` on another thread and fail if it takes longer than `secs`.
fn bounded<T: Send + 'static>(what: &str, secs: u64, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(secs))
        .unwrap_or_else(|_| panic!("{what}: no answer within {secs} s (hang?)"))
}

/// Open and read every member; Ok only if everything decoded.
fn open_and_read_all(bytes: Vec<u8>, name: String) -> mediaprep_core::Result<usize> {
    let src: SharedReader = Arc::new(SliceSource::new(bytes));
    let pkg = open_package(src, &name)?;
    // The one-pass decoder sees the same malformed data; it may fail but must not panic or hang.
    let all: Vec<usize> = (0..pkg.members.len()).collect();
    let _ = pkg.archive().stream_members(&all, &mut |_, _| Ok(()));
    for m in &pkg.members {
        pkg.read_member(&m.name, 1 << 26)?;
    }
    Ok(pkg.members.len())
}

/// The `.cab` files of the corpus, `(path, file name)`, that are (or, with `malformed` false, are
/// not) damaged on purpose, as their name's prefix says.
fn corpus_cabs(malformed: bool) -> Vec<(PathBuf, String)> {
    std::fs::read_dir(CORPUS)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (p, name)
        })
        .filter(|(_, name)| {
            let bad = ["bad_", "partial_", "cve-", "hidden-", "lzx-"]
                .iter()
                .any(|pre| name.starts_with(pre));
            name.ends_with(".cab") && bad == malformed
        })
        .collect()
}

#[test]
fn corpus_malformed_cabs_fail_cleanly() {
    let mut n = 0;
    for (p, name) in corpus_cabs(true) {
        n += 1;
        let bytes = std::fs::read(&p).unwrap();
        let label = name.clone();
        let r = bounded(&name, 20, move || open_and_read_all(bytes, label));
        assert!(r.is_err(), "{name}: accepted ({r:?})");
        eprintln!("{name}: {}", r.unwrap_err());
    }
    assert!(n >= 30, "only {n} malformed samples found");
}

#[test]
fn corpus_good_cabs_match_cabextract() {
    let mut n = 0;
    for (p, name) in corpus_cabs(false) {
        if name == "cabextract-large-files-cab.cab" {
            continue;
        }
        let bytes = std::fs::read(&p).unwrap();
        let label = name.clone();
        let opened = bounded(&name, 20, move || {
            let src: SharedReader = Arc::new(SliceSource::new(bytes));
            open_package(src, &label).map(|p| p.members.len())
        });
        if name.starts_with("search_") {
            // cabextract scans for a cabinet inside other data; a package must start with one.
            assert!(opened.is_err(), "{name}: {opened:?}");
            continue;
        }
        if name.starts_with("multi_basic_pt") || name.starts_with("cabextract-split-") {
            // Spanned sets: members continued from/into another cabinet are unsupported.
            match &opened {
                Ok(_) | Err(Error::Unsupported { .. }) => {}
                Err(e) => panic!("{name}: {e}"),
            }
            continue;
        }
        let pkg = open_file(&p).unwrap_or_else(|e| panic!("{name}: {e}"));
        compare_with_cabextract(&p, &pkg);
        n += 1;
    }
    assert!(n >= 15, "only {n} good samples compared");
}

#[test]
fn quantum_is_a_clear_unsupported_error() {
    let p = Path::new(CORPUS).join("mszip_lzx_qtm.cab");
    let pkg = open_file(&p).unwrap();
    let q = pkg
        .members
        .iter()
        .find(|m| {
            matches!(
                m.compression,
                mediaprep_core::package::FolderCompression::Quantum { .. }
            )
        })
        .expect("a Quantum member");
    match pkg.read_member(&q.name, 1 << 20) {
        Err(Error::Unsupported {
            what: "CAB",
            detail: msg,
        }) => assert!(msg.contains("Quantum"), "{msg}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn large_files_cab_lists_without_materializing() {
    let p = Path::new(CORPUS).join("cabextract-large-files-cab.cab");
    let outer = open_file(&p).unwrap();
    assert_eq!(outer.members.len(), 1);
    compare_with_cabextract(&p, &outer);
    let inner_bytes = outer.read_member(&outer.members[0].name, 32 << 20).unwrap();
    let inner_src: SharedReader = Arc::new(SliceSource::new(inner_bytes));
    let inner = open_package(inner_src, "large-files.cab").unwrap();
    let sizes: Vec<u64> = inner.members.iter().map(|m| m.size).collect();
    assert_eq!(sizes.len(), 3);
    assert!(sizes.iter().all(|&s| s > 2_000_000_000), "{sizes:?}");
    // A bounded read refuses before decoding anything.
    assert!(matches!(
        inner.read_member(&inner.members[1].name, 1 << 30),
        Err(Error::Limit { .. })
    ));
    // Streaming the first megabytes keeps memory bounded: stop early through the sink.
    let mut seen = 0u64;
    let r = inner.stream_member(&inner.members[2].name, &mut |piece| {
        seen += piece.len() as u64;
        if seen >= 4 << 20 {
            return Err(Error::Cancelled);
        }
        Ok(())
    });
    assert!(matches!(r, Err(Error::Cancelled)));
    assert!(seen >= 4 << 20);
}

/// Deterministic byte mutations of good cabinets (MSZIP from gcab, LZX and stored from the corpus):
/// every variant must open-and-read or fail with an error, without a panic or a hang.
#[test]
fn mutated_cabs_never_panic() {
    let tmp = tempfile::tempdir().unwrap();
    let mut seeds = vec![std::fs::read(make(tmp.path(), "seed.cab", &safe_os_spec())).unwrap()];
    for n in [
        "normal_2files_2folders.cab",
        "reserve_HFD.cab",
        "cabextract-simple.cab",
    ] {
        seeds.push(std::fs::read(Path::new(CORPUS).join(n)).unwrap());
    }
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut rnd = move || rng.next();
    let mut variants = Vec::new();
    for seed in &seeds {
        for _ in 0..150 {
            let mut v = seed.clone();
            match rnd() % 3 {
                0 => {
                    let at = (rnd() % v.len() as u64) as usize;
                    v[at] ^= 1 << (rnd() % 8);
                }
                1 => {
                    for _ in 0..4 {
                        let at = (rnd() % v.len() as u64) as usize;
                        v[at] = rnd() as u8;
                    }
                }
                _ => v.truncate((rnd() % v.len() as u64) as usize),
            }
            variants.push(v);
        }
    }
    let r = bounded("mutations", 120, move || {
        let mut errs = 0;
        for v in variants {
            let src: SharedReader = Arc::new(SliceSource::new(v));
            if let Ok(pkg) = open_package(src, "m.cab") {
                let all: Vec<usize> = (0..pkg.members.len()).collect();
                let _ = pkg.archive().stream_members(&all, &mut |_, _| Ok(()));
                for m in &pkg.members {
                    if pkg.read_member(&m.name, 1 << 24).is_err() {
                        errs += 1;
                    }
                }
                let _ = pkg.verify(&Expected::default());
            } else {
                errs += 1;
            }
        }
        errs
    });
    assert!(
        r > 0,
        "no mutation was rejected: the test is not exercising anything"
    );
}

/// Measurement, not a check: verification time for a 400-file, 25 MiB single-folder package
/// (run with `cargo test --test package measure_verify -- --ignored --nocapture`).
#[test]
#[ignore]
fn measure_verify_many_files() {
    let tmp = tempfile::tempdir().unwrap();
    let files: Vec<Value> = (0..400)
        .map(|i| json!({"name": format!("f{i}.dll"), "text": format!("{i:08} payload line\n").repeat(3000)}))
        .collect();
    let mut spec = safe_os_spec();
    spec["components"][0]["files"] = json!(files);
    let path = make(tmp.path(), "many.cab", &spec);
    let t = std::time::Instant::now();
    let pkg = open_file(&path).unwrap();
    let opened = t.elapsed();
    let v = pkg.verify(&Expected::default()).unwrap();
    assert!(v.ok, "{:?}", v.problems);
    eprintln!(
        "open {:?}, verify {:?} ({} payloads, {} bytes of CAB)",
        opened,
        t.elapsed() - opened,
        v.payloads.len(),
        std::fs::metadata(&path).unwrap().len()
    );
}
