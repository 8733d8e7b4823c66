//! Issue 15: packages in Microsoft's real layout (DCM manifests, `f\`/`n\` payload deltas with
//! CRC32 prefixes, PSFX attributes) serviced into the WinRE fixture, whose component store holds
//! current files with `r\` deltas and a component still at RTM.
//!
//! Independent checks: the output is extracted with `wimlib-imagex apply`/`extract` and verified
//! with `wimlib-imagex verify`; each file's SHA-256 is computed here from wimlib's extraction and
//! compared with the digest in its manifest (decoded from the output's WinSxS\Manifests); each
//! written `r\` delta is applied back and compared with the RTM file the fixture generator made
//! (pe_version.py over the libwine source, hashed in the fixture spec).

mod common;

use common::cli::{mediaprep, ok, patch, patch_fixture, refused_on_winre, s};

use base64::Engine;
use common::*;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use mediaprep_core::io::{FileSource, FsStore, NoProgress, SharedReader};
use mediaprep_core::service::{run_patch, PatchRequest, PatchTarget};
use mediaprep_core::Error;

const NEW: &str = "10.0.26100.8037";
const BASE_1000: &str = "wcp/base-10.0.26100.1000.bin";
const BASE_SSU: &str = "ssu/base-10.0.26100.8037.bin";

fn sha256_hex(b: &[u8]) -> String {
    Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

fn spec() -> serde_json::Value {
    serde_json::from_slice(&read(&fixtures().join("spec/Winre.wim.json"))).unwrap()
}

/// The (file name → SHA-256 hex) digests of a decoded manifest, read with a plain text scan.
fn digests(xml: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for part in xml.split("<file ").skip(1) {
        let name = part
            .split("name=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        let b64 = part
            .split("<dsig:DigestValue>")
            .nth(1)
            .unwrap()
            .split('<')
            .next()
            .unwrap();
        let raw = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        out.insert(
            name.to_string(),
            raw.iter().map(|x| format!("{x:02x}")).collect(),
        );
    }
    out
}

/// Every `*8037*` component of an applied WinRE tree: each file's SHA-256 (from wimlib's
/// extraction) equals its manifest's digest, the manifest being decoded with `base`; each `r\`
/// delta applies back to the RTM file the fixture spec names. Returns the components seen.
fn check_components(root: &Path, base: &Path, work: &Path) -> Vec<String> {
    let sxs = root.join("Windows/WinSxS");
    let rtm: BTreeMap<String, String> = spec()["components"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| {
            Some((
                c["file"].as_str()?.to_string(),
                c["rtm_sha256"].as_str()?.to_string(),
            ))
        })
        .collect();
    let mut seen = Vec::new();
    for folder in dir_names(&sxs).into_iter().filter(|f| f.contains(NEW)) {
        let manifest = sxs.join("Manifests").join(format!("{folder}.manifest"));
        let raw = read(&manifest);
        assert!(
            raw.starts_with(b"DCM\x01"),
            "{folder}: the manifest is stored as shipped (DCM)"
        );
        let xml_path = work.join(format!("{folder}.xml"));
        ok(&mediaprep(&[
            "manifest",
            s(&manifest),
            "--base",
            s(base),
            "-o",
            s(&xml_path),
        ]));
        let want = digests(&String::from_utf8_lossy(&read(&xml_path)));
        assert!(!want.is_empty(), "{folder}: no files in its manifest");
        for (name, digest) in &want {
            let got = sha256_hex(&read(&sxs.join(&folder).join(name)));
            assert_eq!(
                &got, digest,
                "{folder}\\{name}: SHA-256 differs from its manifest"
            );
            let r = sxs.join(&folder).join("r").join(name);
            if let Some(rtm_sha) = rtm.get(name) {
                assert!(
                    r.is_file(),
                    "{folder}: no r\\{name} for a file with an RTM base"
                );
                let back = work.join(format!("{name}.rtm"));
                ok(&mediaprep(&[
                    "delta",
                    "apply",
                    s(&r),
                    "--reference",
                    s(&sxs.join(&folder).join(name)),
                    "-o",
                    s(&back),
                ]));
                let back = read(&back);
                assert_eq!(
                    &sha256_hex(&back),
                    rtm_sha,
                    "{folder}: r\\{name} does not give RTM"
                );
                assert_eq!(back, read(&fixtures().join("rtm").join(name)));
            } else {
                assert!(
                    !r.exists(),
                    "{folder}: r\\{name} for a file without an RTM base"
                );
            }
        }
        seen.push(folder);
    }
    seen.sort();
    seen
}

fn catalog(dir: &Path, kb: &str) -> PathBuf {
    let p = dir.join("catalog.json");
    let cat = serde_json::json!({
        "schema": 1, "version": "2026.03.10",
        "generated": "test: one synthetic entry matching the safeos-du-real.cab fixture",
        "updates": [{
            "kb": kb, "kind": "safeos-du",
            "title": format!("{kb}: synthetic Safe OS Dynamic Update in the real layout (fixture)"),
            "release_date": "2026-03-10", "products": ["Windows 11, version 24H2"],
            "build_family": 26100, "os_builds": [26100], "revision": 8037,
            "architectures": ["x64"], "targets": ["winre"],
            "source": "https://example.invalid/scripts/fixtures.d/safeos-du-real.json",
            "confidence": "third-party"
        }]
    });
    std::fs::write(&p, serde_json::to_string(&cat).unwrap()).unwrap();
    p
}

fn verdict(wim: &Path, cat: &Path, kb: &str) -> String {
    let out = ok(&mediaprep(&[
        "check",
        s(wim),
        "--catalog",
        s(cat),
        "--json",
    ]));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    v["evaluation"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kb"] == kb)
        .unwrap_or_else(|| panic!("no finding for {kb}: {out}"))["verdict"]
        .as_str()
        .unwrap()
        .to_string()
}

fn applied(wim: &Path, dir: &Path) -> PathBuf {
    run("wimlib-imagex", &["verify", s(wim)]);
    let root = dir.join("applied");
    run("wimlib-imagex", &["apply", s(wim), "1", s(&root)]);
    root
}

/// A patch that must be refused: exit 1, stderr naming every `needle`, nothing left in `dir`.
fn assert_refused(o: &std::process::Output, needles: &[&str], dir: &Path) {
    assert_eq!(o.status.code(), Some(1), "not refused");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        needles.iter().all(|n| err.contains(n)),
        "{needles:?}: {err}"
    );
    assert_empty_dir(dir, "");
}

#[test]
fn real_layout_safe_os_du_services_the_winre() {
    let fx = fixtures();
    let t = tempfile::tempdir().unwrap();
    let cat = catalog(t.path(), "KB5079600");
    assert_eq!(verdict(&fx.join("Winre.wim"), &cat, "KB5079600"), "applies");
    let out = t.path().join("WinRE.wim");
    let json = ok(&patch_fixture(
        "Winre.wim",
        &["safeos-du-real.cab"],
        &out,
        &["--json"],
    ));
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let notes = v["outcome"]["notes"].to_string();
    assert!(notes.contains("DCM manifests decoded"), "{notes}");
    // The package's f\ deltas of PE files are PE-typed (AMD64), as Microsoft's are, so the rebuild
    // went through the PE path (preprocess, transforms, composed copy rift); cabextract reads them.
    for member in ["*/f/ntdll.dll", "*/f/cmd.exe"] {
        let d = run_bytes(
            "cabextract",
            &["-q", "-p", "-F", member, s(&fx.join("safeos-du-real.cab"))],
        );
        let h = mediaprep_core::delta::parse_header(&d).unwrap();
        assert_eq!((h.file_type, h.flags), (8, 0xe63e), "{member}");
        // cmd.exe's new build has every RVA from .rsrc on 0x1000 higher (scripts/fixtures), so
        // its delta moves addresses: the transforms ran, in the default reading.
        if member.ends_with("cmd.exe") {
            let rtm = std::fs::read(fx.join("rtm/cmd.exe")).unwrap();
            let a = mediaprep_core::delta::apply_detailed(
                &rtm,
                &d,
                &mediaprep_core::delta::ApplyOptions::default(),
            )
            .unwrap();
            assert_eq!(
                a.rip_variant,
                Some(mediaprep_core::delta::RipVariant::V1),
                "cmd.exe: no RVA moved"
            );
        }
    }

    let root = applied(&out, t.path());
    let comps = check_components(&root, &fx.join(BASE_1000), t.path());
    assert_eq!(comps.len(), 4, "{comps:?}");
    let sxs = root.join("Windows/WinSxS");
    let names = dir_names(&sxs);
    // ResetBase: the serviced ntdll folder (with its r\) and the RTM cmd folder are gone.
    for old in [
        "ntdll_31bf3856ad364e35_10.0.26100.1000",
        "commandprompt_31bf3856ad364e35_10.0.26100.1_",
    ] {
        assert!(
            !names.iter().any(|n| n.contains(old)),
            "{old} still in {names:?}"
        );
    }
    // The n\ file has no r\ (no RTM base), and the projections are the new files.
    let tools = names
        .iter()
        .find(|n| n.contains("winpe-tools") && n.contains(NEW))
        .unwrap();
    assert!(!sxs.join(tools).join("r").exists());
    for (sys, folder) in [
        ("ntdll.dll", "ntdll"),
        ("cmd.exe", "commandprompt"),
        ("safeosdu-new.txt", "winpe-tools"),
    ] {
        let f = names
            .iter()
            .find(|n| n.contains(folder) && n.contains(NEW))
            .unwrap();
        assert_eq!(
            read(&root.join("Windows/System32").join(sys)),
            read(&sxs.join(f).join(sys)),
            "{sys}"
        );
    }
    // Version signals and the catalog verdict read the result back.
    let v: serde_json::Value =
        serde_json::from_str(&ok(&mediaprep(&["inspect", s(&out), "--json"]))).unwrap();
    let sig = &v["wims"][0]["images"][0]["version_signals"];
    assert_eq!(sig["xml"], NEW, "{sig}");
    assert_eq!(sig["safe_os_du"], "26100.8037.1.0", "{sig}");
    assert_eq!(verdict(&out, &cat, "KB5079600"), "already-current");
}

#[test]
fn refusals_name_the_file_and_leave_nothing() {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("WinRE.wim");
    for (pkg, file, why) in [
        ("safeos-du-real-badcrc.cab", "ntdll.dll", "CRC32"),
        ("safeos-du-real-truncated.cab", "cmd.exe", "PA30"),
        ("safeos-du-real-nobase.cab", "absent.dll", "no RTM base"),
        ("safeos-du-real-badrtm.cab", "ntdll.dll", "digest mismatch"),
        // An f\ delta whose header names IA64: a delta type the engine does not implement.
        ("safeos-du-real-unsupported.cab", "ntdll.dll", "IA64"),
        ("safeos-du-real-newbase.cab", ".manifest", "not decoded"),
    ] {
        let o = refused_on_winre(&[pkg], &out);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(file) && err.contains(why), "{pkg}: {err}");
        let script = String::from_utf8_lossy(&o.stdout);
        assert!(
            script.contains("Add-WindowsPackage") || script.contains("dism"),
            "{pkg}: {script}"
        );
    }
    // Good and refused together: nothing is half-applied.
    refused_on_winre(&["safeos-du-real.cab", "safeos-du-real-badcrc.cab"], &out);
}

#[test]
fn ssu_first_switches_the_manifest_base() {
    let fx = fixtures();
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("WinRE.wim");
    // Given after the DU: the SSU is still serviced first, and the DU decodes with its base.
    let json = ok(&patch_fixture(
        "Winre.wim",
        &["safeos-du-real-newbase.cab", "ssu-real.cab"],
        &out,
        &["--json"],
    ));
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let pk = v["outcome"]["packages"].to_string();
    assert!(
        pk.find("ssu-real.cab") < pk.find("safeos-du-real-newbase.cab"),
        "{pk}"
    );
    let root = applied(&out, t.path());
    check_after_real_ssu(&root, t.path());
    // The image's base is now the SSU's.
    let b = ok(&mediaprep(&["base-manifest", s(&out), "--json"]));
    let b: serde_json::Value = serde_json::from_str(&b).unwrap();
    assert_eq!(
        b["sha256"].as_str().unwrap(),
        sha256_hex(&read(&fx.join(BASE_SSU))),
        "{b}"
    );
}

#[test]
fn install_target_from_the_iso_and_the_library_path() {
    let fx = fixtures();
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("install.wim");
    let json = ok(&patch_fixture(
        "media-udf.iso",
        &["safeos-du-real.cab"],
        &out,
        &["--target", "install", "--json"],
    ));
    assert!(json.contains("safeos-du-real.cab"), "{json}");
    run("wimlib-imagex", &["verify", s(&out)]);
    let winre = t.path().join("Winre.wim");
    std::fs::write(
        &winre,
        wimlib_extract(&out, 1, "/Windows/System32/Recovery/Winre.wim"),
    )
    .unwrap();
    let dir = t.path().join("winre");
    std::fs::create_dir(&dir).unwrap();
    let root = applied(&winre, &dir);
    assert_eq!(check_components(&root, &fx.join(BASE_1000), &dir).len(), 4);

    // The library entry point (what the browser worker runs) writes the same WinRE as the CLI.
    let cli = t.path().join("cli.wim");
    ok(&patch_fixture(
        "Winre.wim",
        &["safeos-du-real.cab"],
        &cli,
        &[],
    ));
    let lib = t.path().join("lib.wim");
    let open = |p: &Path| -> (String, SharedReader) {
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        (name, Arc::new(FileSource::open(p).unwrap()) as SharedReader)
    };
    let mut store = FsStore::new(&lib);
    run_patch(
        &PatchRequest {
            target: PatchTarget::Winre,
            ..Default::default()
        },
        vec![open(&fx.join("Winre.wim"))],
        vec![open(&fx.join("safeos-du-real.cab"))],
        &mut store,
        &NoProgress,
    )
    .unwrap();
    assert_eq!(read(&lib), read(&cli));
    // A refusal through the library is Error::Refused, naming the file, with the hand-off.
    let mut store = FsStore::new(t.path().join("refused.wim"));
    let e = run_patch(
        &PatchRequest::default(),
        vec![open(&fx.join("Winre.wim"))],
        vec![open(&fx.join("safeos-du-real-badrtm.cab"))],
        &mut store,
        &NoProgress,
    )
    .unwrap_err();
    match e {
        Error::Refused(r) => {
            assert!(r.packages[0].reason.contains("ntdll.dll"), "{r:?}");
            assert!(!r.script.is_empty());
        }
        other => panic!("not a refusal: {other}"),
    }
    assert!(!t.path().join("refused.wim").exists());
}

/// Microsoft's genuine DCM manifests decode through an image whose servicing stack carries the
/// genuine base (wrapped into a synthetic wcp.dll and captured by wimlib in the temp dir only).
#[test]
fn genuine_manifests_decode_through_the_image_base() {
    let Some(vectors) = msdelta_vectors() else {
        return;
    };
    let t = tempfile::tempdir().unwrap();
    let tree = t.path().join("tree");
    let stack = tree.join(
        "Windows/WinSxS/amd64_microsoft-windows-servicingstack_31bf3856ad364e35_10.0.26100.1_none_0000000000000000",
    );
    std::fs::create_dir_all(&stack).unwrap();
    let dcm = vectors.join("dcm");
    run(
        "python3",
        &[
            s(&workspace().join("scripts/fixtures.d/wcp_dll.py")),
            s(&stack.join("wcp.dll")),
            "--version",
            "10.0.26100.1",
            "--base",
            s(&dcm.join("base_manifest.bin")),
        ],
    );
    let wim = t.path().join("genuine.wim");
    run(
        "wimlib-imagex",
        &[
            "capture",
            s(&tree),
            s(&wim),
            "genuine base",
            "--compress=none",
        ],
    );

    // A package holding the genuine manifests (gcab, in the temp dir).
    let stage = t.path().join("stage");
    std::fs::create_dir(&stage).unwrap();
    let mut members = vec!["update.mum".to_string()];
    std::fs::write(
        stage.join("update.mum"),
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><assembly xmlns=\"urn:schemas-microsoft-com:asm.v3\" \
         manifestVersion=\"1.0\"><assemblyIdentity name=\"Package_for_SafeOSDU\" version=\"26100.1.1.0\" \
         processorArchitecture=\"amd64\" language=\"neutral\" publicKeyToken=\"31bf3856ad364e35\"/>\
         <package identifier=\"KB0000001\" releaseType=\"Update\"/></assembly>",
    )
    .unwrap();
    let mut manifests = Vec::new();
    for n in dir_names(&dcm)
        .into_iter()
        .filter(|n| n.ends_with(".manifest"))
    {
        std::fs::copy(dcm.join(&n), stage.join(&n)).unwrap();
        members.push(n.clone());
        manifests.push(n);
    }
    let cab = t.path().join("genuine.cab");
    let mut args = vec!["-c".to_string(), s(&cab).to_string()];
    args.extend(members);
    let st = Command::new("gcab")
        .args(&args)
        .current_dir(&stage)
        .status()
        .unwrap();
    assert!(st.success());

    let src: SharedReader = Arc::new(FileSource::open(&cab).unwrap());
    let mut pkgs = vec![mediaprep_core::package::open_package(src, "genuine.cab").unwrap()];
    let image = mediaprep_core::wim::Wim::open(Arc::new(FileSource::open(&wim).unwrap())).unwrap();
    let finder = mediaprep_core::service::rebuild::RtmFinder::new(&image, 1).unwrap();
    let notes = mediaprep_core::service::manifests::decode_for_image(&mut pkgs, &finder);
    let base_sha = sha256_hex(&read(&dcm.join("base_manifest.bin")));
    assert_eq!(pkgs[0].components.len(), manifests.len());
    for c in &pkgs[0].components {
        assert_eq!(c.decode_error, None, "{}", c.manifest_name);
        let d = c.decoded.as_ref().expect("decoded");
        assert_eq!(d.base_sha256, base_sha);
        assert_eq!(d.stack_version.as_deref(), Some("10.0.26100.1"));
        // The decoded identity is the one the member name spells.
        let lower = c.manifest_name.to_ascii_lowercase();
        assert!(
            lower.contains(&c.identity.version),
            "{}: {:?}",
            c.manifest_name,
            c.identity
        );
    }
    assert!(notes.iter().any(|n| n.contains(&base_sha)), "{notes:?}");
}

/// Reading: the `.mum`'s PSFX attributes, the manifests decoded with a given base (and which base
/// it was), and the form of each payload member.
#[test]
fn package_reading_psfx_dcm_and_payload_forms() {
    use mediaprep_core::manifest_base::BaseManifest;
    use mediaprep_core::package::{open_package, PayloadForm};
    let fx = fixtures();
    let json = ok(&mediaprep(&[
        "package",
        s(&fx.join("safeos-du-real.cab")),
        "--json",
    ]));
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let f = v["package"]["format"].clone();
    let f = if f.is_null() { v["format"].clone() } else { f };
    assert_eq!(f["package_format"], "PSFX", "{json}");
    assert_eq!(f["psfx_version"], "2", "{json}");
    assert_eq!(f["psfx_delta_format"], "ForwardOnly", "{json}");

    let open = |name: &str| {
        let src: SharedReader = Arc::new(FileSource::open(fx.join(name)).unwrap());
        open_package(src, name).unwrap()
    };
    let mut p = open("safeos-du-real.cab");
    assert!(p
        .components
        .iter()
        .all(|c| c.dcm_compressed && c.files.is_empty()));
    // The SSU's base is not the one these manifests were made against: refused, naming each.
    let ssu_base = fx.join(BASE_SSU);
    let wrong =
        BaseManifest::from_reader(&FileSource::open(&ssu_base).unwrap(), s(&ssu_base)).unwrap();
    assert!(p.decode_manifests(&wrong).is_err());
    assert!(p.components.iter().all(|c| c.decoded.is_none()
        && c.decode_error
            .as_deref()
            .is_some_and(|e| e.contains(&c.manifest_name))));
    let mut p = open("safeos-du-real.cab");
    let good = fx.join(BASE_1000);
    let base = BaseManifest::from_reader(&FileSource::open(&good).unwrap(), s(&good)).unwrap();
    p.decode_manifests(&base).unwrap();
    let mut forms = BTreeMap::new();
    for c in &p.components {
        let d = c.decoded.as_ref().unwrap();
        assert_eq!(d.base_sha256, sha256_hex(&read(&good)));
        for f in &c.files {
            let loc = p.payload_for(c, f).unwrap();
            forms.insert(f.name.clone(), loc.form);
        }
    }
    assert_eq!(forms["ntdll.dll"], PayloadForm::Forward);
    assert_eq!(forms["cmd.exe"], PayloadForm::Forward);
    assert_eq!(forms["safeosdu-new.txt"], PayloadForm::Null);
    assert_eq!(forms["MOUNTMGR.SYS"], PayloadForm::Full);
    assert_eq!(forms["winpeshl.exe"], PayloadForm::Full);
}

/// Payloads rebuilt from deltas that the pass-1 cache did not keep are rebuilt again in the write
/// pass (same bytes, SHA-1 checked): the output equals the CLI's, where the cache held them.
#[test]
fn write_pass_rebuilds_what_the_cache_did_not_keep() {
    use mediaprep_core::service::{self, rebuild::RtmFinder, PatchOptions};
    let fx = fixtures();
    let t = tempfile::tempdir().unwrap();
    // The f\ package (rebuilt files and their r\) and the full-file one (r\ of full files).
    for pkg in ["safeos-du-real.cab", FULL_DU] {
        let cli = t.path().join(format!("{pkg}.wim"));
        ok(&patch_fixture("Winre.wim", &[pkg], &cli, &[]));

        let src: SharedReader = Arc::new(FileSource::open(fx.join("Winre.wim")).unwrap());
        let wim = mediaprep_core::wim::Wim::open(src).unwrap();
        let pr: SharedReader = Arc::new(FileSource::open(fx.join(pkg)).unwrap());
        let mut pkgs = vec![mediaprep_core::package::open_package(pr, pkg).unwrap()];
        let finder = RtmFinder::new(&wim, 1).unwrap();
        service::manifests::decode_for_image(&mut pkgs, &finder);
        let sel = service::select_packages(&pkgs);
        let mut prepared = service::prepare_in(&sel, Some(&finder), &NoProgress).unwrap();
        let p = &mut prepared.packages[0];
        assert!(!p.reverses.is_empty(), "{pkg}: no r\\ made");
        p.rebuilt.clear();
        p.reverses.clear();
        p.payloads.clear();
        let (_, bytes) = service::patch_wim(
            &wim,
            &prepared,
            &PatchOptions::default(),
            Vec::new(),
            &NoProgress,
        )
        .unwrap();
        assert!(
            bytes == read(&cli),
            "{pkg}: the write pass gave other bytes"
        );
    }
}

/// The real DU with ntdll and cmd.exe shipped as full files (issue 15 item 3): their new folders
/// hold the file and an `r\` made by our encoder that applies back to the fixture's RTM file;
/// the full file without an RTM base in the image (MOUNTMGR.SYS, winpeshl.exe) gets none.
const FULL_DU: &str = "safeos-du-real-full.cab";

#[test]
fn full_file_payloads_get_an_r_delta_to_the_image_rtm() {
    let fx = fixtures();
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("WinRE.wim");
    ok(&patch_fixture("Winre.wim", &[FULL_DU], &out, &[]));
    let root = applied(&out, t.path());
    // check_components: every digest = its manifest's, r\ exactly for the files with an RTM
    // (ntdll.dll: current + r\ in the image; cmd.exe: the RTM folder), each applied back.
    let comps = check_components(&root, &fx.join(BASE_1000), t.path());
    assert_eq!(comps.len(), 4, "{comps:?}");
    let sxs = root.join("Windows/WinSxS");
    for (family, file, has_r) in [
        ("ntdll", "ntdll.dll", true),
        ("commandprompt", "cmd.exe", true),
        ("mountmgr", "MOUNTMGR.SYS", false),
        ("winpe-tools", "winpeshl.exe", false),
    ] {
        let folder = dir_names(&sxs)
            .into_iter()
            .find(|n| n.contains(family) && n.contains(NEW))
            .unwrap();
        assert_eq!(
            sxs.join(&folder).join("r").join(file).is_file(),
            has_r,
            "{folder}\\r\\{file}"
        );
    }
    // The same files as from the f\ package: the new file bytes do not depend on the form.
    let from_f = t.path().join("f.wim");
    ok(&patch_fixture(
        "Winre.wim",
        &["safeos-du-real.cab"],
        &from_f,
        &[],
    ));
    for p in ["/Windows/System32/ntdll.dll", "/Windows/System32/cmd.exe"] {
        assert!(
            wimlib_extract(&out, 1, p) == wimlib_extract(&from_f, 1, p),
            "{p}"
        );
    }
}

/// The third target (issue 15 "all three targets"): the ISO target carries the install target's
/// install.wim, for the real DU alone and after each `.msu`'s SSU (7-Zip extracts it from the ISO
/// byte-identical to `--target install`'s output, which wimlib verifies); the Setup target expands
/// a Setup DU only, so it refuses a Safe OS DU by name and writes nothing.
#[test]
fn iso_target_services_the_real_du_and_setup_target_refuses_it() {
    let fx = fixtures();
    let t = tempfile::tempdir().unwrap();
    let iso = fx.join("media-udf.iso");
    let runs: Vec<Vec<&str>> = std::iter::once(vec!["safeos-du-real.cab"])
        .chain(
            REAL_MSUS
                .iter()
                .map(|m| vec![*m, "safeos-du-real-newbase.cab"]),
        )
        .collect();
    for (k, pkgs) in runs.iter().enumerate() {
        let dir = t.path().join(k.to_string());
        std::fs::create_dir(&dir).unwrap();
        let out_iso = dir.join("new.iso");
        ok(&patch(&iso, pkgs, &out_iso, &["--target", "iso"]));
        let inst = dir.join("install.wim");
        ok(&patch(&iso, pkgs, &inst, &["--target", "install"]));
        run("wimlib-imagex", &["verify", s(&inst)]);
        let from_iso = run_bytes("7zz", &["e", "-so", s(&out_iso), "sources/install.wim"]);
        assert!(
            from_iso == read(&inst),
            "{pkgs:?}: the ISO's install.wim differs from --target install"
        );
    }
    let out = t.path().join("setup");
    std::fs::create_dir(&out).unwrap();
    let o = patch(
        &iso,
        &["safeos-du-real.cab"],
        &out.join("sources.zip"),
        &["--target", "setup"],
    );
    assert_refused(
        &o,
        &["safeos-du-real.cab", "not a Setup Dynamic Update"],
        &out,
    );
}

/// A payload present only as an `r\` delta cannot be rebuilt: the package is refused, naming it.
#[test]
fn reverse_only_payload_is_refused() {
    let fx = fixtures();
    let t = tempfile::tempdir().unwrap();
    let mut spec: serde_json::Value = serde_json::from_slice(&read(
        &workspace().join("scripts/fixtures.d/safeos-du-real.json"),
    ))
    .unwrap();
    spec["dcm_base"] = serde_json::json!(s(&fx.join(BASE_1000)));
    let cmd = &mut spec["components"][1]["files"][0];
    cmd["form"] = serde_json::json!("r");
    cmd["source"] = serde_json::json!(s(&fx.join("rtm/cmd.exe")));
    cmd["rtm"] = serde_json::json!(s(&fx.join("rtm/cmd.exe")));
    // The other files' sources do not matter for this refusal; point them at files that exist.
    for c in spec["components"].as_array_mut().unwrap() {
        for f in c["files"].as_array_mut().unwrap() {
            if f.get("source").is_some() {
                f["source"] = serde_json::json!(s(&fx.join("rtm/cmd.exe")));
            }
            if f.get("rtm").is_some() {
                f["rtm"] = serde_json::json!(s(&fx.join("rtm/cmd.exe")));
            }
        }
    }
    let spec_path = t.path().join("r-only.json");
    std::fs::write(&spec_path, serde_json::to_vec(&spec).unwrap()).unwrap();
    let cab = t.path().join("r-only.cab");
    let st = Command::new("python3")
        .arg(workspace().join("scripts/make-package.py"))
        .arg(&spec_path)
        .arg(&cab)
        .args(["--mediaprep", env!("CARGO_BIN_EXE_mediaprep")])
        .status()
        .unwrap();
    assert!(st.success());
    let out = t.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let o = mediaprep(&[
        "patch",
        s(&fx.join("Winre.wim")),
        "--package",
        s(&cab),
        "-o",
        s(&out.join("WinRE.wim")),
    ]);
    assert_refused(&o, &["cmd.exe", "reverse (r\\) delta"], &out);
}

/// The `.msu` fixtures carrying the real-layout SSU (`ssu-real.json`): a CAB and a WIM container.
const REAL_MSUS: [&str; 2] = ["lcu-ssu-real.msu", "lcu-ssu-real-wim.msu"];
const SSU_MEMBER: &str = "SSU-26100.8037-x64.cab";

/// The serviced image's servicing stack `wcp.dll` is the SSU's, and every `8037` component (the
/// DU's four and the stack) checks out against the SSU's base.
fn check_after_real_ssu(root: &Path, work: &Path) {
    let sxs = root.join("Windows/WinSxS");
    let stack = dir_names(&sxs)
        .into_iter()
        .find(|n| n.contains("servicingstack") && n.contains(NEW))
        .expect("the SSU's servicing stack folder");
    assert_eq!(
        read(&sxs.join(&stack).join("wcp.dll")),
        read(&fixtures().join("ssu/wcp-10.0.26100.8037.dll")),
        "the SSU's wcp.dll is not in the output"
    );
    assert_eq!(
        check_components(root, &fixtures().join(BASE_SSU), work).len(),
        5
    );
}

/// The DU encoded against the new stack's base, after the SSU from each `.msu` kind: serviced
/// into WinRE and into the install image's WinRE (from the ISO), verified by wimlib, checked
/// file by file, and the two kinds give the same bytes.
#[test]
fn newbase_du_after_the_ssu_of_each_msu_kind() {
    let fx = fixtures();
    let t = tempfile::tempdir().unwrap();
    let mut winre_outs = Vec::new();
    let mut install_outs = Vec::new();
    for msu in REAL_MSUS {
        let dir = t.path().join(msu);
        std::fs::create_dir(&dir).unwrap();
        // The .msu given after the DU: its SSU is still serviced first.
        let out = dir.join("WinRE.wim");
        let o = patch_fixture(
            "Winre.wim",
            &["safeos-du-real-newbase.cab", msu],
            &out,
            &["--json"],
        );
        let v: serde_json::Value = serde_json::from_str(&ok(&o)).unwrap();
        let pk = v["outcome"]["packages"].to_string();
        assert!(pk.contains(SSU_MEMBER), "{msu}: {pk}");
        let root = applied(&out, &dir);
        check_after_real_ssu(&root, &dir);
        let b = ok(&mediaprep(&["base-manifest", s(&out), "--json"]));
        let b: serde_json::Value = serde_json::from_str(&b).unwrap();
        assert_eq!(
            b["sha256"].as_str().unwrap(),
            sha256_hex(&read(&fx.join(BASE_SSU))),
            "{msu}: {b}"
        );
        winre_outs.push(read(&out));

        let inst = dir.join("install.wim");
        ok(&patch_fixture(
            "media-udf.iso",
            &[msu, "safeos-du-real-newbase.cab"],
            &inst,
            &["--target", "install"],
        ));
        run("wimlib-imagex", &["verify", s(&inst)]);
        let nested = dir.join("nested");
        std::fs::create_dir(&nested).unwrap();
        let winre = nested.join("Winre.wim");
        std::fs::write(
            &winre,
            wimlib_extract(&inst, 1, "/Windows/System32/Recovery/Winre.wim"),
        )
        .unwrap();
        let root = applied(&winre, &nested);
        check_after_real_ssu(&root, &nested);
        install_outs.push(read(&inst));
    }
    assert!(
        winre_outs[0] == winre_outs[1],
        "WinRE: CAB .msu and WIM .msu outputs differ"
    );
    assert!(
        install_outs[0] == install_outs[1],
        "install: CAB .msu and WIM .msu outputs differ"
    );
}

/// Each `.msu` kind rebuilt (by cabextract/gcab or wimlib-imagex) with one byte of its SSU's
/// `wcp.dll` changed inside the SSU CAB: the SSU and so the newbase DU are refused, nothing written.
#[test]
fn corrupt_real_ssu_in_either_msu_kind_is_refused() {
    let fx = fixtures();
    let t = tempfile::tempdir().unwrap();
    for msu in REAL_MSUS {
        let dir = t.path().join(msu);
        let stage = dir.join("stage");
        std::fs::create_dir_all(&stage).unwrap();
        let wim = msu.ends_with("-wim.msu");
        if wim {
            run(
                "wimlib-imagex",
                &["apply", s(&fx.join(msu)), "1", s(&stage)],
            );
        } else {
            run("cabextract", &["-q", "-d", s(&stage), s(&fx.join(msu))]);
        }
        let broken_ssu = corrupt_ssu_cab(&stage.join(SSU_MEMBER), &dir);
        std::fs::write(stage.join(SSU_MEMBER), broken_ssu).unwrap();
        let bad = dir.join(format!("bad-{msu}"));
        if wim {
            run(
                "wimlib-imagex",
                &["capture", s(&stage), s(&bad), "--compress=LZX", "--no-acls"],
            );
        } else {
            gcab(&stage, &dir_names(&stage), &bad, false);
        }
        let out_dir = dir.join("out");
        std::fs::create_dir(&out_dir).unwrap();
        let o = mediaprep(&[
            "patch",
            s(&fx.join("Winre.wim")),
            "--package",
            s(&bad),
            "--package",
            s(&fx.join("safeos-du-real-newbase.cab")),
            "-o",
            s(&out_dir.join("WinRE.wim")),
        ]);
        assert_eq!(o.status.code(), Some(1), "{msu} was not refused");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("wcp.dll"), "{msu}: {err}");
        assert!(dir_names(&out_dir).is_empty(), "{msu} left output");
    }
}

/// The SSU CAB rebuilt by gcab with its `wcp.dll` carrying one changed byte (so its SHA-256 no
/// longer matches the SSU's manifest); the other members are kept as extracted.
fn corrupt_ssu_cab(cab: &Path, work: &Path) -> Vec<u8> {
    let x = work.join("ssu-x");
    std::fs::create_dir_all(&x).unwrap();
    run("cabextract", &["-q", "-d", s(&x), s(cab)]);
    let mut members = Vec::new();
    let mut stack = vec![x.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                members.push(p);
            }
        }
    }
    let wcp = members
        .iter()
        .find(|p| p.file_name().unwrap().eq_ignore_ascii_case("wcp.dll"))
        .expect("wcp.dll in the SSU cab");
    let mut b = read(wcp);
    let at = b.len() / 2;
    b[at] ^= 0x5a;
    std::fs::write(wcp, b).unwrap();
    let out = work.join("ssu-bad.cab");
    let mut names: Vec<String> = members
        .iter()
        .map(|m| m.strip_prefix(&x).unwrap().to_str().unwrap().to_string())
        .collect();
    names.sort();
    gcab(&x, &names, &out, true);
    read(&out)
}

/// `gcab -c [-z] OUT NAMES…` run in `dir`, so members keep their paths relative to it.
fn gcab(dir: &Path, names: &[String], out: &Path, compress: bool) {
    let mut cmd = Command::new("gcab");
    cmd.arg("-c");
    if compress {
        cmd.arg("-z");
    }
    let st = cmd.arg(out).args(names).current_dir(dir).status().unwrap();
    assert!(st.success(), "gcab failed for {}", out.display());
}

/// Issue 15 item 5: a WinRE WIM with two images (wimlib exports of the fixture's image) takes the
/// real DU in one run, both images rebuilt on their common RTM bases (each image applied by wimlib
/// and checked file by file, `r\` back to RTM); when image 2's RTM cmd.exe differs (wimlib
/// `update`), the package is refused naming the file and both images, nothing written.
#[test]
fn several_images_with_delta_payloads() {
    let fx = fixtures();
    let t = tempfile::tempdir().unwrap();
    let multi = t.path().join("multi.wim");
    for name in ["WinRE A", "WinRE B"] {
        run(
            "wimlib-imagex",
            &["export", s(&fx.join("Winre.wim")), "1", s(&multi), name],
        );
    }
    let out = t.path().join("out.wim");
    ok(&patch(&multi, &["safeos-du-real.cab"], &out, &[]));
    run("wimlib-imagex", &["verify", s(&out)]);
    for idx in ["1", "2"] {
        let dir = t.path().join(format!("image{idx}"));
        std::fs::create_dir(&dir).unwrap();
        let root = dir.join("applied");
        run("wimlib-imagex", &["apply", s(&out), idx, s(&root)]);
        let comps = check_components(&root, &fx.join(BASE_1000), &dir);
        assert_eq!(comps.len(), 4, "image {idx}: {comps:?}");
    }

    // Image 2's RTM cmd.exe replaced by other bytes: the bases disagree.
    let cmd_rtm = spec()["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["file"] == "cmd.exe")
        .unwrap()["folder"]
        .as_str()
        .unwrap()
        .to_string();
    let other = t.path().join("other-cmd.exe");
    std::fs::write(&other, b"not the RTM cmd.exe").unwrap();
    let mut update = Command::new("wimlib-imagex")
        .args(["update", s(&multi), "2"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let cmd = format!("add '{}' '/Windows/WinSxS/{cmd_rtm}/cmd.exe'\n", s(&other));
        update
            .stdin
            .take()
            .unwrap()
            .write_all(cmd.as_bytes())
            .unwrap();
    }
    assert!(update.wait().unwrap().success());
    let refused = t.path().join("refused");
    std::fs::create_dir(&refused).unwrap();
    let o = patch(
        &multi,
        &["safeos-du-real.cab"],
        &refused.join("out.wim"),
        &[],
    );
    assert_refused(
        &o,
        &["cmd.exe", "images 1 and 2 hold different RTM bases"],
        &refused,
    );
    // Each image alone is still serviced (image 2's f\ delta does not rebuild on its base).
    ok(&patch(
        &multi,
        &["safeos-du-real.cab"],
        &refused.join("one.wim"),
        &["--index", "1"],
    ));
}
