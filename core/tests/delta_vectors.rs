//! The delta engine against genuine Microsoft vectors (`../shared/testdata/msdelta`, never copied
//! into the repository). Expected outputs are the MD5s SOURCES.md gives (measured against
//! msdelta.dll) and the target files themselves.

mod common;

use common::{check_mutated_delta, msdelta_vectors, read, Rng};
use mediaprep_core::delta::{self, dcm, ApplyOptions};
use std::path::{Path, PathBuf};

fn vectors() -> Option<PathBuf> {
    msdelta_vectors()
}

fn md5_hex(b: &[u8]) -> String {
    use md5::Digest;
    md5::Md5::digest(b)
        .iter()
        .map(|x| format!("{x:02X}"))
        .collect()
}

/// (file-name prefix, target MD5) from SOURCES.md.
const DCM_MD5: &[(&str, &str)] = &[
    (
        "amd64_microsoft-windows-core_",
        "05CE391BCD42CC29C917F242AF7EEFC8",
    ),
    (
        "amd64_multipoint-srcres.resources_",
        "625E5A94109DEC39C60506B26F377CAF",
    ),
    (
        "amd64_microsoft-windows-font-truetype-gadugi_",
        "91FC84854C00CDB72644457E20D96CC7",
    ),
    (
        "amd64_dual_netvg63a.inf_",
        "906500830BF571878E536274CC1CE756",
    ),
    (
        "wow64_microsoft-windows-o..euapcommonproxystub_",
        "672F3A6D63609E3830089EB7763C31B7",
    ),
];

fn dcm_files(dir: &Path) -> Vec<(PathBuf, &'static str)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir.join("dcm")).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if !name.ends_with(".manifest") {
            continue;
        }
        let md5 = DCM_MD5
            .iter()
            .find(|(pre, _)| name.starts_with(pre))
            .unwrap_or_else(|| panic!("no expected MD5 for {name}"))
            .1;
        out.push((p, md5));
    }
    out.sort_by_key(|(p, _)| std::fs::metadata(p).unwrap().len());
    assert_eq!(
        out.len(),
        DCM_MD5.len(),
        "every manifest of SOURCES.md present"
    );
    out
}

#[test]
fn every_dcm_manifest_decodes_to_its_md5() {
    let Some(dir) = vectors() else { return };
    let base = read(&dir.join("dcm/base_manifest.bin"));
    let golden = read(&dir.join("dcm/wow64_golden.xml"));
    for (p, want) in dcm_files(&dir) {
        let m = read(&p);
        assert!(dcm::is_dcm(&m), "{}", p.display());
        let h = delta::parse_header(&m[4..]).unwrap();
        assert_eq!(
            (h.file_type, h.flags, h.hash_alg_id),
            (1, 0x20000, 0),
            "{}",
            p.display()
        );
        let out = dcm::decode(&base, &m, &ApplyOptions::default())
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        assert_eq!(out.len() as u64, h.target_size);
        assert_eq!(md5_hex(&out), want, "{}", p.display());
        if want == "672F3A6D63609E3830089EB7763C31B7" {
            assert!(
                out == golden,
                "largest manifest equals wow64_golden.xml byte for byte"
            );
        }
    }
}

const RAW: &[(&str, &str)] = &[
    ("cmd__to__where__raw.pa30", "where.exe"),
    ("cmd__to__notepad__raw.pa30", "notepad.exe"),
    ("cmd__to__notepad__raw_flag0x20000.pa30", "notepad.exe"),
    ("cmd__to__notepad__raw_bsdiff_flag0x100.pa30", "notepad.exe"),
];

#[test]
fn every_raw_delta_applies_to_cmd_exe() {
    let Some(dir) = vectors() else { return };
    let cmd = read(&dir.join("raw/cmd.exe"));
    assert_eq!(md5_hex(&cmd), "6D109A3A00F210C1AB89C3B08399ED48");
    for (d, t) in RAW {
        let delta = read(&dir.join("raw").join(d));
        let target = read(&dir.join("raw").join(t));
        let h = delta::parse_header(&delta).unwrap();
        assert_eq!(h.target_size, target.len() as u64, "{d}");
        let out = delta::apply(&cmd, &delta, &ApplyOptions::default())
            .unwrap_or_else(|e| panic!("{d}: {e}"));
        if let Some(i) = out.iter().zip(&target).position(|(a, b)| a != b) {
            panic!("{d}: first difference at byte {i}");
        }
        assert_eq!(out.len(), target.len(), "{d}");
    }
}

// PE-typed vectors: core/tests/delta_pe_vectors.rs.

#[test]
fn genuine_pe_headers_carry_sha256() {
    let Some(dir) = vectors() else { return };
    for sub in ["wow64_kbdmaori", "x86_mscordbi", "amd64_kbdwol"] {
        let h = delta::parse_header(&read(&dir.join("pe").join(sub).join("delta.pa30"))).unwrap();
        let target = read(&dir.join("pe").join(sub).join("target.bin"));
        assert_eq!(h.hash_alg_id, 0x800c, "{sub}");
        assert_eq!(h.target_size, target.len() as u64, "{sub}");
        use sha2::Digest;
        assert_eq!(
            h.target_hash,
            sha2::Sha256::digest(&target).to_vec(),
            "{sub}"
        );
    }
}

/// Apply a mutated delta: it must return (never panic), and any success must have the header's size.
fn check(reference: &[u8], delta: &[u8], what: &str) {
    check_mutated_delta(reference, delta, None, what);
}

#[test]
fn truncated_flipped_and_crafted_deltas_give_typed_errors() {
    let Some(dir) = vectors() else { return };
    let base = read(&dir.join("dcm/base_manifest.bin"));
    let cmd = read(&dir.join("raw/cmd.exe"));
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut small: Vec<Vec<u8>> = dcm_files(&dir)
        .into_iter()
        .filter(|(p, _)| std::fs::metadata(p).unwrap().len() < 4096)
        .map(|(p, _)| read(&p)[4..].to_vec())
        .collect();
    assert!(small.len() >= 4);
    for d in small.drain(..) {
        // Every truncation is an error (the stream ends before the target is complete).
        for n in 0..d.len() {
            assert!(
                delta::apply(&base, &d[..n], &ApplyOptions::default()).is_err(),
                "truncated to {n}"
            );
        }
        // Every single-bit flip, then random multi-byte damage: typed result, no panic.
        rng.mutations(&d, 300, 8, |m, what| check(&base, m, &what));
    }
    // A larger raw delta: sampled truncations and flips against cmd.exe.
    let d = read(&dir.join("raw/cmd__to__where__raw.pa30"));
    for k in 0..200 {
        let n = (rng.next() as usize) % d.len();
        assert!(
            delta::apply(&cmd, &d[..n], &ApplyOptions::default()).is_err(),
            "where truncated to {n}"
        );
        let mut m = d.clone();
        let i = 12 + (rng.next() as usize) % (m.len() - 12);
        m[i] ^= 1 << (rng.next() % 8);
        check(&cmd, &m, &format!("where flip {k} at byte {i}"));
    }
    // Crafted: the right delta against the wrong reference, an empty reference, and garbage.
    let d = read(&dir.join("raw/cmd__to__where__raw.pa30"));
    check(&base, &d, "wrong reference");
    check(&[], &d, "empty reference");
    for len in [0usize, 1, 4, 12, 13, 64, 4096] {
        let g: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        check(&cmd, &g, "garbage");
        let mut sig = b"PA30".to_vec();
        sig.extend_from_slice(&g);
        check(&cmd, &sig, "PA30 + garbage");
    }
}
