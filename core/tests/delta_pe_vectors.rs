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
