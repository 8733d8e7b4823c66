//! `mediaprep delta info|apply|create` and `mediaprep manifest`: outputs checked against the
//! genuine msdelta vectors (`../shared/testdata/msdelta`, never copied here) and the fixture
//! WinRE's DCM manifests (made by `scripts/fixtures` with our encoder against the synthetic base of
//! the image's newest servicing stack, whose XML is kept as `wcp/dcm-sample.xml`); every error
//! exits 1 with a message and leaves no output file.

mod common;

use common::cli::mediaprep;
use common::*;
use std::path::{Path, PathBuf};
use std::process::Output;

fn ok(args: &[&str]) -> Output {
    let o = mediaprep(args);
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

/// Exit 1 (not a panic's 101) with a `mediaprep: error:` line naming `needle`.
fn fails(args: &[&str], needle: &str) -> String {
    let o = mediaprep(args);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
    assert!(err.starts_with("mediaprep: error: "), "{args:?}: {err}");
    assert!(err.contains(needle), "{args:?}: {err} lacks {needle:?}");
    err
}

fn vectors() -> Option<PathBuf> {
    msdelta_vectors()
}

/// Nothing but `keep` in `dir` (no output, no temporary file).
fn only(dir: &Path, keep: &[&str]) {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !keep.contains(&n.as_str()))
        .collect();
    names.sort();
    assert!(names.is_empty(), "left behind: {names:?}");
}

#[test]
fn delta_info_reports_header_fields() {
    let Some(v) = vectors() else { return };
    let o = ok(&[
        "delta",
        "info",
        s(&v.join("raw/cmd__to__notepad__raw_flag0x20000.pa30")),
    ]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert_contains_all(
        &text,
        &[
            "PA30",
            "RAW",
            "0x20000 (IGNORE_FILE_SIZE_LIMIT)",
            "codec         PseudoLzx",
            "360448 bytes",
            "hash          none",
            "crc32 prefix  none",
        ],
    );
    let dcm = std::fs::read_dir(v.join("dcm"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().contains("microsoft-windows-core_"))
        .unwrap();
    let o = ok(&["delta", "info", "--json", s(&dcm)]);
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["dcm"], true);
    assert_eq!(j["file_type_name"], "RAW");
    assert_eq!(j["flags"], "0x20000");
    assert_eq!(
        j["flag_names"],
        serde_json::json!(["IGNORE_FILE_SIZE_LIMIT"])
    );
    assert_eq!(j["codec"], "PseudoLzx");
    assert_eq!(j["hash_alg"], "none");
    assert_eq!(j["target_time_utc"], "1970-01-01 00:00:01 UTC");

    // Our own delta with a SHA-256 and a CRC32 prefix (as update packages' payload deltas have).
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("d.pa30");
    ok(&[
        "delta",
        "create",
        s(&v.join("raw/cmd.exe")),
        s(&v.join("raw/where.exe")),
        "-o",
        s(&d),
    ]);
    let bytes = std::fs::read(&d).unwrap();
    let mut with_crc = crc32fast::hash(&bytes).to_le_bytes().to_vec();
    with_crc.extend_from_slice(&bytes);
    let dc = t.path().join("crc.pa30");
    std::fs::write(&dc, &with_crc).unwrap();
    let o = ok(&["delta", "info", "--json", s(&dc)]);
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let where_ = std::fs::read(v.join("raw/where.exe")).unwrap();
    assert_eq!(j["hash_alg"], "SHA-256");
    assert_eq!(
        j["target_hash"],
        mediaprep_core::hash::hex(&mediaprep_core::hash::sha256(&where_))
    );
    assert_eq!(j["crc32_checked"], true);
    assert_eq!(j["target_size"], where_.len());
    // The prefix is checked: a wrong one is an error.
    with_crc[0] ^= 1;
    std::fs::write(&dc, &with_crc).unwrap();
    fails(&["delta", "info", s(&dc)], "CRC32");
    let out = t.path().join("out");
    fails(
        &[
            "delta",
            "apply",
            s(&dc),
            "--reference",
            s(&v.join("raw/cmd.exe")),
            "-o",
            s(&out),
        ],
        "CRC32",
    );
    only(t.path(), &["d.pa30", "crc.pa30"]);
}

#[test]
fn delta_apply_and_create_round_trip() {
    let Some(v) = vectors() else { return };
    let t = tempfile::tempdir().unwrap();
    let cmd = v.join("raw/cmd.exe");
    // Microsoft's deltas.
    for (d, target) in [
        ("cmd__to__notepad__raw.pa30", "notepad.exe"),
        ("cmd__to__where__raw.pa30", "where.exe"),
    ] {
        let out = t.path().join(target);
        ok(&[
            "delta",
            "apply",
            s(&v.join("raw").join(d)),
            "--reference",
            s(&cmd),
            "-o",
            s(&out),
        ]);
        assert!(std::fs::read(&out).unwrap() == std::fs::read(v.join("raw").join(target)).unwrap());
    }
    // Ours, including an empty reference (`n\` style: apply without --reference).
    let empty = t.path().join("empty");
    std::fs::write(&empty, b"").unwrap();
    let patched = v.join("raw/cmd_patched.exe");
    for (r, hash) in [(&cmd, "sha256"), (&empty, "md5"), (&cmd, "none")] {
        let d = t.path().join("ours.pa30");
        ok(&[
            "delta",
            "create",
            s(r),
            s(&patched),
            "--hash",
            hash,
            "-o",
            s(&d),
        ]);
        let out = t.path().join("ours.out");
        let mut args = vec!["delta", "apply", s(&d), "-o", s(&out)];
        if r != &empty {
            args.extend(["--reference", s(r)]);
        }
        ok(&args);
        assert!(std::fs::read(&out).unwrap() == std::fs::read(&patched).unwrap());
        if r == &cmd {
            let n = std::fs::metadata(&d).unwrap().len();
            assert!(n * 20 < 339_968, "cmd -> cmd_patched: {n} bytes");
        }
    }
    // A DCM made by `create --dcm` applies with the base as reference, and is what `manifest`
    // decodes with --base.
    let base = v.join("dcm/base_manifest.bin");
    let golden = v.join("dcm/wow64_golden.xml");
    let m = t.path().join("golden.manifest");
    ok(&[
        "delta",
        "create",
        "--dcm",
        s(&base),
        s(&golden),
        "-o",
        s(&m),
    ]);
    assert!(std::fs::read(&m).unwrap().starts_with(b"DCM\x01"));
    let x = t.path().join("golden.xml");
    ok(&["manifest", s(&m), "--base", s(&base), "-o", s(&x)]);
    assert!(std::fs::read(&x).unwrap() == std::fs::read(&golden).unwrap());
    fails(
        &[
            "delta",
            "create",
            s(&cmd),
            s(&patched),
            "--hash",
            "crc",
            "-o",
            s(&x),
        ],
        "--hash",
    );
}

#[test]
fn bad_deltas_exit_1_and_leave_no_output() {
    let Some(v) = vectors() else { return };
    let t = tempfile::tempdir().unwrap();
    let cmd = v.join("raw/cmd.exe");
    let where_ = std::fs::read(v.join("raw/where.exe")).unwrap();
    let d = t.path().join("good.pa30");
    ok(&[
        "delta",
        "create",
        s(&cmd),
        s(&v.join("raw/where.exe")),
        "-o",
        s(&d),
    ]);
    let good = std::fs::read(&d).unwrap();
    let bad = t.path().join("bad.pa30");
    let out = t.path().join("out.exe");
    let apply = |bytes: &[u8]| {
        std::fs::write(&bad, bytes).unwrap();
        mediaprep(&[
            "delta",
            "apply",
            s(&bad),
            "--reference",
            s(&cmd),
            "-o",
            s(&out),
        ])
    };
    // Truncations.
    for n in [0, 3, 4, 12, 13, 20, good.len() / 2, good.len() - 1] {
        let o = apply(&good[..n]);
        assert_eq!(o.status.code(), Some(1), "truncated to {n}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains("bad.pa30") && err.contains("mediaprep: error:"),
            "{err}"
        );
        only(t.path(), &["good.pa30", "bad.pa30"]);
    }
    // Bit flips past the FILETIME: the SHA-256 in the header means a flip gives either the exact
    // target (a flag bit the RAW decoder ignores) or exit 1 with nothing written; never wrong bytes.
    let mut failed = 0;
    let step = (good.len() - 12) / 40 + 1;
    for (k, at) in (12..good.len()).step_by(step).enumerate() {
        let mut b = good.clone();
        b[at] ^= 1 << (k % 8);
        let o = apply(&b);
        match o.status.code() {
            Some(0) => {
                assert!(
                    std::fs::read(&out).unwrap() == where_,
                    "flip at {at}: wrong output"
                );
                std::fs::remove_file(&out).unwrap();
            }
            Some(1) => {
                failed += 1;
                only(t.path(), &["good.pa30", "bad.pa30"]);
            }
            c => panic!(
                "flip at {at}: exit {c:?}: {}",
                String::from_utf8_lossy(&o.stderr)
            ),
        }
    }
    assert!(failed >= 30, "only {failed} of the flips were caught");
    // Crafted: a target size past the cap, a PA19 signature, an unknown hash algorithm, junk.
    for (bytes, needle) in [
        (crafted_header(1 << 40, 0, &[]), "limit"),
        (crafted_header(5, 0x8099, &[1, 2, 3]), "0x8099"),
        (b"PA19xxxxxxxxxxxxxxxx".to_vec(), "PA19"),
        (vec![0xff; 64], "signature"),
    ] {
        let o = apply(&bytes);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{err}");
        assert!(err.contains(needle), "{err} lacks {needle}");
        only(t.path(), &["good.pa30", "bad.pa30"]);
    }
    fails(
        &[
            "delta",
            "apply",
            s(&d),
            "--reference",
            s(&t.path().join("nope")),
            "-o",
            s(&out),
        ],
        "nope",
    );
    fails(&["delta", "info", s(&t.path().join("nope"))], "nope");
    only(t.path(), &["good.pa30", "bad.pa30"]);
}

/// A PA30 header (RAW, flags 0) with the given target size and hash, and an empty patch buffer.
fn crafted_header(target_size: u64, alg: u64, hash: &[u8]) -> Vec<u8> {
    let mut bits: Vec<bool> = vec![false; 3];
    let mut put = |bits: &mut Vec<bool>, v: u64, n: u32| {
        for i in 0..n {
            bits.push(v >> i & 1 == 1);
        }
    };
    let number = |bits: &mut Vec<bool>, put: &mut dyn FnMut(&mut Vec<bool>, u64, u32), v: u64| {
        let nib = ((64 - (v | 1).leading_zeros()).div_ceil(4)).max(1);
        put(bits, 1 << (nib - 1), nib);
        if nib * 4 > 32 {
            put(bits, v & 0xffff_ffff, 32);
            put(bits, v >> 32, nib * 4 - 32);
        } else {
            put(bits, v, nib * 4);
        }
    };
    for v in [1, 1, 0, target_size, alg] {
        number(&mut bits, &mut put, v);
    }
    let buffer = |bits: &mut Vec<bool>, put: &mut dyn FnMut(&mut Vec<bool>, u64, u32), b: &[u8]| {
        number(bits, put, b.len() as u64);
        while bits.len() % 8 != 0 {
            bits.push(false);
        }
        for &x in b {
            put(bits, u64::from(x), 8);
        }
    };
    buffer(&mut bits, &mut put, hash);
    buffer(&mut bits, &mut put, &[]);
    buffer(&mut bits, &mut put, &[0x00]);
    let mut out = b"PA30".to_vec();
    out.extend_from_slice(&0u64.to_le_bytes());
    out.extend(bits.chunks(8).map(|c| {
        c.iter()
            .enumerate()
            .fold(0u8, |a, (i, &b)| a | (b as u8) << i)
    }));
    out
}

fn dcm_paths() -> (String, String, Vec<u8>) {
    let fx = fixtures();
    let spec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fx.join("spec/Winre.wim.json")).unwrap()).unwrap();
    let m = spec["dcm_manifests"]
        .as_array()
        .expect("dcm_manifests in the Winre spec");
    let stacks = spec["servicing_stacks"].as_array().unwrap();
    let newest = stacks[1]["version"].as_str().unwrap();
    assert_eq!(m[0]["base_version"], newest);
    assert_ne!(m[1]["base_version"], newest);
    let xml = std::fs::read(fx.join("wcp").join(m[0]["xml"].as_str().unwrap())).unwrap();
    (
        format!("1:/{}", m[0]["path"].as_str().unwrap()),
        format!("1:/{}", m[1]["path"].as_str().unwrap()),
        xml,
    )
}

#[test]
fn manifest_in_an_image_decodes_with_that_images_newest_base() {
    let fx = fixtures();
    let (own, old, xml) = dcm_paths();
    // The file in the image really is DCM (wimlib extracts it as stored).
    let raw = wimlib_extract(&fx.join("Winre.wim"), 1, &own[2..]);
    assert!(raw.starts_with(b"DCM\x01") && raw.len() < xml.len() / 4);

    let winre = s(&fx.join("Winre.wim")).to_string();
    let iso = s(&fx.join("media-udf.iso")).to_string();
    let via_iso = [
        iso.as_str(),
        "/sources/install.wim",
        "1:/Windows/System32/Recovery/Winre.wim",
    ];
    for prefix in [vec![winre.as_str()], via_iso.to_vec()] {
        let mut args = vec!["manifest"];
        args.extend(&prefix);
        args.push(&own);
        let o = ok(&args);
        assert!(
            o.stdout == xml,
            "{prefix:?}: decoded XML differs from dcm-sample.xml"
        );
        assert!(String::from_utf8_lossy(&o.stderr).contains("servicing stack 10.0.26100.1000"));
        // Made against the older stack's base, the same XML does not come back with the image's.
        let mut args = vec!["manifest"];
        args.extend(&prefix);
        args.push(&old);
        let o = mediaprep(&args);
        assert!(
            o.stdout != xml,
            "{prefix:?}: the old-base manifest decoded with the newest base"
        );
    }
    // With the older stack's wcp.dll given as --base, it does.
    let old_dll = fx.join("wcp/wcp-10.0.26100.863.dll");
    let o = ok(&["manifest", &winre, &old, "--base", s(&old_dll)]);
    assert!(o.stdout == xml);
    // A plain XML manifest in the image comes out as it is.
    let dir = run("wimlib-imagex", &["dir", &winre, "1"]);
    let k32 = dir
        .lines()
        .find(|l| l.contains("Manifests/amd64_microsoft-windows-kernel32_"))
        .unwrap();
    let o = ok(&["manifest", &winre, &format!("1:{k32}")]);
    assert_eq!(o.stdout, wimlib_extract(&fx.join("Winre.wim"), 1, k32));
    // -o writes the same bytes; errors leave nothing.
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("m.xml");
    ok(&["manifest", &winre, &own, "-o", s(&out)]);
    assert!(std::fs::read(&out).unwrap() == xml);
    std::fs::remove_file(&out).unwrap();
    fails(
        &[
            "manifest",
            &winre,
            "1:/Windows/WinSxS/Manifests/nope.manifest",
            "-o",
            s(&out),
        ],
        "nope",
    );
    fails(
        &[
            "manifest",
            &winre,
            "/Windows/WinSxS/Manifests",
            "-o",
            s(&out),
        ],
        "IMAGE:PATH",
    );
    fails(
        &["manifest", &winre, "1:/Windows/WinSxS/Manifests"],
        "directory",
    );
    only(t.path(), &[]);
}

#[test]
fn manifest_files_with_a_base_file() {
    let fx = fixtures();
    let (own, _, xml) = dcm_paths();
    let t = tempfile::tempdir().unwrap();
    let m = t.path().join("sample.manifest");
    std::fs::write(&m, wimlib_extract(&fx.join("Winre.wim"), 1, &own[2..])).unwrap();
    // The base as a wcp.dll and as the raw bytes give the same XML.
    for base in [
        "wcp/wcp-10.0.26100.1000.dll",
        "wcp/base-10.0.26100.1000.bin",
    ] {
        let o = ok(&["manifest", s(&m), "--base", s(&fx.join(base))]);
        assert!(o.stdout == xml, "{base}");
    }
    fails(&["manifest", s(&m)], "--base");
    // A DCM file given as the base is refused by name.
    fails(&["manifest", s(&m), "--base", s(&m)], "not a base manifest");
    // Plain XML passes through; junk is refused.
    let x = t.path().join("plain.manifest");
    std::fs::write(&x, &xml).unwrap();
    assert_eq!(ok(&["manifest", s(&x)]).stdout, xml);
    let junk = t.path().join("junk.manifest");
    std::fs::write(&junk, [0u8, 1, 2, 3, 4]).unwrap();
    fails(&["manifest", s(&junk)], "neither");
    // A damaged DCM: error, no output.
    let mut bytes = std::fs::read(&m).unwrap();
    bytes.truncate(bytes.len() - 5);
    let bad = t.path().join("bad.manifest");
    std::fs::write(&bad, &bytes).unwrap();
    let out = t.path().join("bad.xml");
    fails(
        &[
            "manifest",
            s(&bad),
            "--base",
            s(&fx.join("wcp/base-10.0.26100.1000.bin")),
            "-o",
            s(&out),
        ],
        "bad.manifest",
    );
    assert!(!out.exists());
}

#[test]
fn pe_typed_delta_info_names_transforms_and_apply_gives_the_target() {
    let Some(v) = vectors() else { return };
    let d = v.join("pe/x86_mscordbi/delta.pa30");
    let o = ok(&["delta", "info", s(&d)]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert_contains_all(
        &text,
        &[
            "I386",
            "0xe1fe",
            "transforms",
            "relocations",
            "x86 relative calls",
        ],
    );
    // The preprocess buffer: the target's base and timestamp, and the RVA map (+8 from 0x10f0
    // up to 0x1e40, as the vector's relocation table shows).
    assert_contains_all(
        &text,
        &[
            "image base 0x10000000",
            "rva map       2 breakpoints (reference → target): 0x10f0→0x10f8, 0x1e40→0x1e40",
        ],
    );
    let o = ok(&["delta", "info", "--json", s(&d)]);
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let names = str_array(&j["transforms"]);
    assert!(names.contains(&"relocations"), "{names:?}");
    assert_eq!(j["pe_preprocess"]["image_base"], "0x10000000");
    assert_eq!(
        j["pe_preprocess"]["rva_map"],
        serde_json::json!([[0x10f0, 0x10f8], [0x1e40, 0x1e40]])
    );
    let raw = ok(&[
        "delta",
        "info",
        "--json",
        s(&v.join("raw/cmd__to__where__raw.pa30")),
    ]);
    let j: serde_json::Value = serde_json::from_slice(&raw.stdout).unwrap();
    assert!(j["pe_preprocess"].is_null(), "{j}");
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("mscordbi.dll");
    ok(&[
        "delta",
        "apply",
        s(&d),
        "--reference",
        s(&v.join("pe/x86_mscordbi/base.bin")),
        "-o",
        s(&out),
    ]);
    assert!(
        std::fs::read(&out).unwrap()
            == std::fs::read(v.join("pe/x86_mscordbi/target.bin")).unwrap()
    );
    // A wrong reference: the transformed output misses the header's SHA-256 and nothing is left.
    let bad = t.path().join("bad.dll");
    fails(
        &[
            "delta",
            "apply",
            s(&d),
            "--reference",
            s(&v.join("pe/amd64_kbdwol/base.bin")),
            "-o",
            s(&bad),
        ],
        "",
    );
    only(t.path(), &["mscordbi.dll"]);

    // `delta create --pe`: our own I386 delta of the same pair, shown and applied like theirs.
    let ours = t.path().join("ours.pa30");
    let base = v.join("pe/x86_mscordbi/base.bin");
    let target = v.join("pe/x86_mscordbi/target.bin");
    ok(&[
        "delta",
        "create",
        "--pe",
        s(&base),
        s(&target),
        "-o",
        s(&ours),
    ]);
    let text = String::from_utf8_lossy(&ok(&["delta", "info", s(&ours)]).stdout).into_owned();
    assert_contains_all(&text, &["I386", "0xe1fe", "x86 relative calls"]);
    let again = t.path().join("again.dll");
    ok(&[
        "delta",
        "apply",
        s(&ours),
        "--reference",
        s(&base),
        "-o",
        s(&again),
    ]);
    assert!(std::fs::read(&again).unwrap() == std::fs::read(&target).unwrap());
    // No hash, a non-PE input, --pe with --dcm: exit 1, nothing written.
    let bad = t.path().join("bad.pa30");
    fails(
        &[
            "delta",
            "create",
            "--pe",
            "--hash",
            "none",
            s(&base),
            s(&target),
            "-o",
            s(&bad),
        ],
        "needs a target hash",
    );
    fails(
        &["delta", "create", "--pe", s(&d), s(&target), "-o", s(&bad)],
        "PE reference image",
    );
    let o = mediaprep(&[
        "delta",
        "create",
        "--pe",
        "--dcm",
        s(&base),
        s(&target),
        "-o",
        s(&bad),
    ]);
    // A usage error (clap's exit status), not a panic, naming the conflict.
    assert!(matches!(o.status.code(), Some(1 | 2)), "{o:?}");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("--dcm"),
        "{o:?}"
    );
    only(t.path(), &["mscordbi.dll", "ours.pa30", "again.dll"]);
}

#[test]
fn pe_delta_on_a_rebased_reference_names_the_rebase() {
    // x86_mscordbi's base.bin rebased by pefile (scripts/pe-rva-shift.py rebase): the delta
    // rebases it back through its relocations, the output is the genuine target, and `delta
    // apply` says so; the hashless cmd vector on a rebased cmd.exe exits 1 naming the rebase.
    let Some(v) = vectors() else { return };
    let t = tempfile::tempdir().unwrap();
    let script = workspace().join("scripts/pe-rva-shift.py");
    let rebased = t.path().join("base.rebased");
    run(
        "python3",
        &[
            s(&script),
            "rebase",
            s(&v.join("pe/x86_mscordbi/base.bin")),
            s(&rebased),
            "0x23400000",
        ],
    );
    let out = t.path().join("mscordbi.dll");
    let o = ok(&[
        "delta",
        "apply",
        s(&v.join("pe/x86_mscordbi/delta.pa30")),
        "--reference",
        s(&rebased),
        "-o",
        s(&out),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("image rebased 0x23400000 → 0x10000000 through its relocations"),
        "{err}"
    );
    assert!(
        std::fs::read(&out).unwrap()
            == std::fs::read(v.join("pe/x86_mscordbi/target.bin")).unwrap()
    );
    let cmd = t.path().join("cmd.rebased");
    run(
        "python3",
        &[
            s(&script),
            "rebase",
            s(&v.join("raw/cmd.exe")),
            s(&cmd),
            "0x150000000",
        ],
    );
    let bad = t.path().join("cmd_patched.exe");
    fails(
        &[
            "delta",
            "apply",
            s(&v.join("pe/cmd__to__cmd_patched__pe_amd64_genuine.pa30")),
            "--reference",
            s(&cmd),
            "-o",
            s(&bad),
        ],
        "image base change 0x150000000 → 0x140000000 (rebasing)",
    );
    only(t.path(), &["base.rebased", "mscordbi.dll", "cmd.rebased"]);
}

#[test]
fn e8_flagged_raw_delta_applies_through_the_hash_or_leaves_nothing() {
    use mediaprep_core::delta::{self, e8, encode};
    // E8-rich bytes (calls with small targets between filler), filtered by W1 and encoded; the
    // header carries flag 0x1 and SHA-256 of the unfiltered bytes (docs/formats/pa30.md 5.3).
    let mut rng = Rng(0x0e8c_1100_2233_4455);
    let mut t = Vec::new();
    while t.len() < 50_000 {
        t.push(0xe8);
        t.extend_from_slice(&(rng.below(20_000) as i32 - 10_000).to_le_bytes());
        let n = 3 + rng.below(20);
        t.extend(rng.bytes(n, 60).iter().map(|b| b & 0x7f));
    }
    let mut filtered = t.clone();
    e8::forward(e8::Variant::WholeOutput, &mut filtered);
    let opts = encode::CreateOptions {
        flags: delta::FLAG_E8,
        ..encode::CreateOptions::default()
    };
    let patch = encode::create_patch(&[], &filtered, &opts).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.pa30");
    std::fs::write(&good, encode::wrap_patch(&t, &patch, &opts).unwrap()).unwrap();
    let mut other = t.clone();
    other[7] ^= 1;
    let bad = dir.path().join("bad.pa30");
    std::fs::write(&bad, encode::wrap_patch(&other, &patch, &opts).unwrap()).unwrap();

    let info = ok(&["delta", "info", s(&good)]);
    assert!(String::from_utf8_lossy(&info.stdout).contains("E8"));
    let out = dir.path().join("out.bin");
    let o = ok(&["delta", "apply", s(&good), "-o", s(&out)]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("x86 E8 filter read as W1"), "{err}");
    assert!(std::fs::read(&out).unwrap() == t);
    std::fs::remove_file(&out).unwrap();
    fails(
        &["delta", "apply", s(&bad), "-o", s(&out)],
        "x86 E8 filter on a RAW delta (variants W1–W3 tried: target hash mismatch)",
    );
    only(dir.path(), &["good.pa30", "bad.pa30"]);
}

/// LSB-first bits of a PA30 bitstream (3-bit padding count first), for the crafted AMD64 delta.
struct Bits(Vec<bool>);

impl Bits {
    fn new() -> Self {
        Bits(vec![false; 3])
    }
    fn put(&mut self, v: u64, n: u32) -> &mut Self {
        self.0.extend((0..n).map(|i| v >> i & 1 == 1));
        self
    }
    fn number(&mut self, v: u64) -> &mut Self {
        let nib = ((64 - (v | 1).leading_zeros()).div_ceil(4)).max(1);
        self.put(1 << (nib - 1), nib).put(v, nib * 4)
    }
    fn buffer(&mut self, b: &[u8]) -> &mut Self {
        self.number(b.len() as u64);
        while self.0.len() % 8 != 0 {
            self.0.push(false);
        }
        b.iter().for_each(|&x| {
            self.put(u64::from(x), 8);
        });
        self
    }
    /// A one-entry rift table `key → other` (values under 2^31): both integer codes give every
    /// symbol an 8-bit codeword equal to it (fill length 8 for 248 symbols); a value is symbol
    /// m (+ 126 when negative, coding !v) with m = |v| for |v| ≤ 3, else 2·(e+1) + bit e of |v|
    /// followed by its e low bits.
    fn rift(&mut self, key: i64, other: i64) -> &mut Self {
        self.put(1, 1);
        for _ in 0..2 {
            self.put(0, 16).put(248, 8).put(7, 4);
        }
        self.number(1);
        for v in [key, other - key] {
            let (mag, neg) = if v < 0 {
                (!v as u64, 126)
            } else {
                (v as u64, 0)
            };
            let e = 63 - (mag | 1).leading_zeros();
            let (sym, extra) = if mag <= 3 {
                (mag, 0)
            } else {
                (2 * u64::from(e) + (mag >> (e - 1) & 1), e - 1)
            };
            (0..8).rev().for_each(|i| {
                self.put((sym + neg) >> i & 1, 1);
            });
            self.put(mag & ((1 << extra) - 1), extra);
        }
        self
    }
    fn finish(&self) -> Vec<u8> {
        let mut bits = self.0.clone();
        let pad = (8 - bits.len() % 8) % 8;
        bits.extend(std::iter::repeat_n(false, pad));
        let mut out: Vec<u8> = bits
            .chunks(8)
            .map(|c| c.iter().rev().fold(0u8, |a, &b| a << 1 | b as u8))
            .collect();
        out[0] |= pad as u8;
        out
    }
}

/// An AMD64 delta (flags 0xe63e) for a reference with image base 0x180000000 whose RVAs from
/// 0x1000 on sit 0x10 higher than the target's (so the x64 RIP-relative transform runs), with a
/// patch that spells `text` in literals and the SHA-256 `hash`.
fn amd64_moved_delta(text: &[u8], hash: &[u8]) -> Vec<u8> {
    let mut pp = Bits::new();
    pp.put(0x1_8000_0000, 64).put(0, 64).rift(0x1000, 0x400);
    pp.put(0, 1).rift(0x1010, 0x1000).put(0, 1);
    let mut patch = Bits::new();
    patch.put(0, 1).put(1, 1); // no rift table, default code tables
    for &b in text {
        // Default main code: literal b is 9 bits, 88 + b, most significant bit first.
        (0..9).rev().for_each(|i| {
            patch.put((88 + u64::from(b)) >> i & 1, 1);
        });
    }
    let mut w = Bits::new();
    w.number(1)
        .number(8)
        .number(0xe63e)
        .number(text.len() as u64);
    w.number(0x800c)
        .buffer(hash)
        .buffer(&pp.finish())
        .buffer(&patch.finish());
    let mut out = b"PA30".to_vec();
    out.extend_from_slice(&0u64.to_le_bytes());
    out.extend(w.finish());
    out
}

#[test]
fn amd64_delta_whose_code_moves_names_the_accepted_reading_or_leaves_no_output() {
    use sha2::Digest;
    let Some(v) = vectors() else { return };
    let reference = v.join("pe/amd64_kbdwol/base.bin");
    let t = tempfile::tempdir().unwrap();
    let good = t.path().join("good.pa30");
    let text = b"hash-judged readings";
    std::fs::write(&good, amd64_moved_delta(text, &sha2::Sha256::digest(text))).unwrap();
    let out = t.path().join("out.bin");
    let o = ok(&[
        "delta",
        "apply",
        s(&good),
        "--reference",
        s(&reference),
        "-o",
        s(&out),
    ]);
    assert_eq!(std::fs::read(&out).unwrap(), text);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("x64 RIP-relative disassembly: reading V1"),
        "{err}"
    );
    let o = ok(&["delta", "info", s(&good)]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("x64 RIP-relative disassembly"));

    let bad = t.path().join("bad.pa30");
    std::fs::write(&bad, amd64_moved_delta(text, &[0x55; 32])).unwrap();
    let no = t.path().join("no.bin");
    fails(
        &[
            "delta",
            "apply",
            s(&bad),
            "--reference",
            s(&reference),
            "-o",
            s(&no),
        ],
        "x64 RIP-relative disassembly (variants V1, V2, V3 tried: target hash mismatch)",
    );
    only(t.path(), &["good.pa30", "bad.pa30", "out.bin"]);
}
