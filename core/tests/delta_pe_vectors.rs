//! PE-typed deltas (file types I386 / AMD64) against the genuine vectors in
//! `../shared/testdata/msdelta/pe` (never copied into the repository): each applies to its target
//! byte for byte; damaged deltas and wrong references give typed errors, never a panic or an
//! output that is not the target.

mod common;

use common::{check_mutated_delta, msdelta_vectors, read, Rng};
use mediaprep_core::delta::{self, ApplyOptions};
use mediaprep_core::Error;
use std::path::{Path, PathBuf};

fn vectors() -> Option<PathBuf> {
    msdelta_vectors().map(|d| d.join("pe"))
}

/// (name, reference, delta, target).
type Case = (String, Vec<u8>, Vec<u8>, Vec<u8>);

/// Every PE vector.
fn cases(dir: &Path) -> Vec<Case> {
    let mut v = vec![(
        "cmd_amd64".to_string(),
        read(&dir.join("../raw/cmd.exe")),
        read(&dir.join("cmd__to__cmd_patched__pe_amd64_genuine.pa30")),
        read(&dir.join("../raw/cmd_patched.exe")),
    )];
    for sub in ["wow64_kbdmaori", "x86_mscordbi", "amd64_kbdwol"] {
        let d = dir.join(sub);
        v.push((
            sub.to_string(),
            read(&d.join("base.bin")),
            read(&d.join("delta.pa30")),
            read(&d.join("target.bin")),
        ));
    }
    v
}

#[test]
fn every_pe_vector_applies_byte_for_byte() {
    let Some(dir) = vectors() else { return };
    for (name, reference, d, target) in cases(&dir) {
        let h = delta::parse_header(&d).unwrap();
        assert!(h.file_type == 2 || h.file_type == 8, "{name}");
        let out = delta::apply(&reference, &d, &ApplyOptions::default())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(out == target, "{name}: output differs from the target");
    }
}

#[test]
fn flags_select_the_documented_transforms() {
    let Some(dir) = vectors() else { return };
    for (name, _, d, _) in cases(&dir) {
        let h = delta::parse_header(&d).unwrap();
        let want = if h.file_type == 8 { 0xe63e } else { 0xe1fe };
        assert_eq!(h.flags, want, "{name}");
        let names = delta::transform_names(h.file_type, h.flags);
        assert!(names.contains(&"relocations"), "{name}: {names:?}");
    }
}

#[test]
fn i386_deltas_need_their_hash() {
    // The I386 flag 0x40 is described nowhere public, so an I386 output whose flags select it is
    // only accepted when the target hash confirms it: without the check the apply is refused by
    // name.
    let Some(dir) = vectors() else { return };
    let lax = ApplyOptions {
        verify_hash: false,
        ..ApplyOptions::default()
    };
    for (name, reference, d, _) in cases(&dir) {
        let h = delta::parse_header(&d).unwrap();
        if h.file_type != 2 {
            continue;
        }
        match delta::apply(&reference, &d, &lax) {
            Err(Error::Unsupported {
                what: "PE-typed delta",
                detail: m,
            }) => {
                assert!(
                    m.contains("I386") && m.contains("0x40") && !m.contains("x86 relative calls"),
                    "{m}"
                )
            }
            other => panic!("{name}: {:?}", other.map(|v| v.len())),
        }
    }
}

#[test]
fn a_rebased_reference_takes_each_genuine_delta_back() {
    // The reference rebased by pefile (an independent rebaser: every base relocation applied,
    // ImageBase set) no longer has the target's base, so the delta must rebase it back through
    // its relocations (decision 36) before the codec copies from it. With a target hash the
    // output is the genuine target byte for byte and the rebase is reported; the hashless cmd
    // vector is refused naming the rebase, as is every vector with hash checking off.
    let Some(dir) = vectors() else { return };
    let script = common::workspace().join("scripts/pe-rva-shift.py");
    let tmp = tempfile::tempdir().unwrap();
    let lax = ApplyOptions {
        verify_hash: false,
        ..ApplyOptions::default()
    };
    let mut rebased_ok = 0;
    for (name, reference, d, target) in cases(&dir) {
        let src = tmp.path().join(format!("{name}.in"));
        let out = tmp.path().join(format!("{name}.rebased"));
        std::fs::write(&src, &reference).unwrap();
        let h = delta::parse_header(&d).unwrap();
        let new_base: u64 = if h.file_type == 2 {
            0x2340_0000
        } else {
            0x7ff6_1230_0000
        };
        let st = std::process::Command::new("python3")
            .arg(&script)
            .args(["rebase", common::s(&src), common::s(&out)])
            .arg(format!("{new_base:#x}"))
            .output()
            .unwrap();
        if !st.status.success() {
            let err = String::from_utf8_lossy(&st.stderr);
            assert!(err.contains("no base relocations"), "{name}: {err}");
            eprintln!("{name}: no base relocations, not rebased");
            continue;
        }
        let moved = read(&out);
        assert!(moved != reference, "{name}: pefile changed nothing");
        let hashed = !delta::parse_header(&d).unwrap().target_hash.is_empty();
        match delta::apply_detailed(&moved, &d, &ApplyOptions::default()) {
            Ok(a) => {
                assert!(hashed, "{name}: accepted without a hash");
                assert!(a.target == target, "{name}: output differs from the target");
                let pe = a.pe.expect("PE-typed");
                assert_eq!(pe.rebased.map(|r| r.0), Some(new_base), "{name}");
                rebased_ok += 1;
            }
            Err(e) => {
                assert!(!hashed, "{name}: {e}");
                assert!(e.to_string().contains("image base change"), "{name}: {e}");
            }
        }
        let e = delta::apply(&moved, &d, &lax).unwrap_err();
        assert!(e.to_string().contains("image base change"), "{name}: {e}");
    }
    // The three hashed vectors (x86_mscordbi's RVA map also moves) all have relocations.
    assert!(
        rebased_ok >= 3,
        "only {rebased_ok} hashed vectors were rebased"
    );
}

#[test]
fn wrong_reference_is_a_typed_error() {
    let Some(dir) = vectors() else { return };
    let all = cases(&dir);
    for (name, _, d, target) in &all {
        for (other, reference, _, _) in &all {
            if other == name {
                continue;
            }
            match delta::apply(reference, d, &ApplyOptions::default()) {
                Ok(out) => assert!(&out == target, "{name} on {other}: wrong output accepted"),
                Err(e) => assert!(!e.to_string().is_empty()),
            }
        }
        // Not a PE at all.
        let e = delta::apply(&[0u8; 4096], d, &ApplyOptions::default()).unwrap_err();
        assert_eq!(e.kind(), "malformed", "{name}: {e}");
    }
}

/// A mutated delta or reference must give a typed result, never a panic; an output must be the
/// target (hash-checked vectors) or at least have the header's size (the hashless cmd vector).
fn check(reference: &[u8], d: &[u8], target: &[u8], what: &str) {
    check_mutated_delta(reference, d, Some(target), what);
}

#[test]
fn truncated_flipped_and_damaged_pe_deltas_give_typed_errors() {
    let Some(dir) = vectors() else { return };
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    for (name, reference, d, target) in cases(&dir) {
        for n in 0..d.len() {
            assert!(
                delta::apply(&reference, &d[..n], &ApplyOptions::default()).is_err(),
                "{name} truncated to {n}"
            );
        }
        rng.mutations(&d, 200, 6, |m, what| {
            check(&reference, m, &target, &format!("{name}: {what}"))
        });
    }
}

#[test]
fn damaged_pe_references_give_typed_errors() {
    // The PE header and the tables the transforms read (sections, directories, debug entries,
    // relocations) are bounds-checked: random damage to the first pages and the .reloc data of a
    // small reference never panics.
    let Some(dir) = vectors() else { return };
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for (name, reference, d, target) in cases(&dir) {
        if reference.len() > 64 * 1024 {
            continue;
        }
        for k in 0..300 {
            let mut m = reference.clone();
            for _ in 0..1 + rng.next() % 4 {
                let i = if rng.next() % 2 == 0 {
                    (rng.next() as usize) % 0x400
                } else {
                    (rng.next() as usize) % m.len()
                };
                m[i] = rng.next() as u8;
            }
            check(&m, &d, &target, &format!("{name}: reference damage {k}"));
        }
        for n in [0, 2, 0x40, 0x100, 0x200, reference.len() / 2] {
            check(
                &reference[..n],
                &d,
                &target,
                &format!("{name}: reference cut to {n}"),
            );
        }
    }
}
