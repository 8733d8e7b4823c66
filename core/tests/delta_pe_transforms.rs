//! The address transforms of PE-typed deltas checked against independent parsers (issue #14).
//! No genuine vector moves an import, export, resource, `.pdata` entry or x86 branch, so each
//! transform is checked on a pair whose RVAs move: `scripts/pe-rva-shift.py` (Python pefile
//! locates every field) makes a reference from a real PE by moving every RVA at or above a
//! section by a fixed amount; our transforms map it back; pefile (tables) and objdump (x86
//! branches) then read, at every entry the transforms cover, the target's value.

mod common;

use common::{libwine_dll, run, s, workspace};
use mediaprep_core::delta;
use std::path::Path;

fn script() -> String {
    workspace()
        .join("scripts/pe-rva-shift.py")
        .display()
        .to_string()
}

/// Every table in the report was checked at least `min` times and holds no mismatch.
fn assert_report(json: &str, tables: &[(&str, usize)]) {
    let v: serde_json::Value = serde_json::from_str(json).expect("script prints JSON");
    for (t, min) in tables {
        let e = &v[*t];
        let n = e["checked"].as_u64().unwrap_or(0) as usize;
        assert!(n >= *min, "{t}: only {n} entries checked\n{json}");
        let m = e["mismatches"]
            .as_array()
            .map(Vec::len)
            .unwrap_or(usize::MAX);
        assert_eq!(m, 0, "{t}: mismatches\n{json}");
    }
}

/// pefile's comparison of `transformed` (our transforms applied to `reference`) with `target`
/// for the pair's map `{at + by → at}`, data entries checked by `rule` ("tree" or "rva").
fn compare(
    target: &Path,
    reference: &Path,
    transformed: &Path,
    at: u32,
    by: u32,
    rule: &str,
) -> String {
    let (at_s, by_s) = (format!("{at:#x}"), format!("{by:#x}"));
    let (t, r, x) = (s(target), s(reference), s(transformed));
    run(
        "python3",
        &[&script(), "compare", t, r, x, &at_s, &by_s, rule],
    )
}

/// Make the reference from `target` with the script's `mode` ("shift": every RVA from `at` on
/// moves up by `by`; "insert": `by` bytes inserted at `at`), run our AMD64 address transforms
/// selected by `flags` with the pair's map `{at + by → at}`, and return pefile's comparison.
fn pair_report(mode: &str, target: &Path, at: u32, by: u32, flags: u64) -> String {
    pair_report_with(
        mode,
        target,
        at,
        by,
        flags,
        delta::PeReading::default(),
        None,
    )
}

/// As [`pair_report`], with the transforms' `reading` (its resource rule also picks the
/// script's check of data entries) and, when `target_base` is given, the relocation
/// transform's rebase onto it (the target then has that base).
fn pair_report_with(
    mode: &str,
    target: &Path,
    at: u32,
    by: u32,
    flags: u64,
    reading: delta::PeReading,
    target_base: Option<u64>,
) -> String {
    let dir = tempfile::tempdir().unwrap();
    let reference = dir.path().join("reference.dll");
    let transformed = dir.path().join("transformed.dll");
    let (at_s, by_s) = (format!("{at:#x}"), format!("{by:#x}"));
    let (t, r) = (s(target), s(&reference));
    run("python3", &[&script(), mode, t, r, &at_s, &by_s]);
    let bytes = std::fs::read(&reference).unwrap();
    assert_ne!(
        bytes,
        std::fs::read(target).unwrap(),
        "{mode} changed nothing"
    );
    let map = [(at + by, at)];
    let out = match target_base {
        Some(b) => delta::pe_address_transforms_rebased(8, flags, &bytes, &map, reading, b),
        None => delta::pe_address_transforms(8, flags, &bytes, &map, reading),
    }
    .unwrap();
    std::fs::write(&transformed, &out).unwrap();
    let x = s(&transformed);
    let rule = match reading.resources {
        delta::ResourceVariant::TreeRelative => "tree",
        delta::ResourceVariant::Rva => "rva",
    };
    run(
        "python3",
        &[&script(), "compare", t, r, x, &at_s, &by_s, rule],
    )
}

/// Shift the RVAs of `dll` at or above the section `at_section` by 0x3000, transform the
/// reference with the AMD64 flags, and let pefile compare every covered table with the target.
fn shifted_pair_matches(dll: &str, at_section: usize) {
    let Some(target) = libwine_dll(dll) else {
        return;
    };
    let at = pe_sections(&std::fs::read(&target).unwrap())[at_section];
    let by = 0x3000u32;
    // AMD64 flags as in the genuine vectors (0xe63e): imports, exports, resources, relocations,
    // RIP-relative (reading V1), .pdata.
    let json = pair_report("shift", &target, at, by, 0xe63e);
    eprintln!("{dll} from section {at_section} (RVA {at:#x}) + {by:#x}:\n{json}");
    assert_report(
        &json,
        &[
            ("imports", 20),
            ("exports", 5),
            ("resources", 2),
            ("resources-data-entry (described rule)", 1),
            ("pdata", 10),
            ("relocations", 1),
        ],
    );
}

/// Section RVAs of a PE (read here only to pick the shift point; the checks use pefile).
fn pe_sections(b: &[u8]) -> Vec<u32> {
    let rd16 = |o: usize| u16::from_le_bytes([b[o], b[o + 1]]) as usize;
    let rd32 = |o: usize| u32::from_le_bytes(b[o..o + 4].try_into().unwrap());
    let pe = rd32(0x3c) as usize;
    let n = rd16(pe + 6);
    let sec = pe + 24 + rd16(pe + 20);
    (0..n).map(|i| rd32(sec + 40 * i + 12)).collect()
}

#[test]
fn tables_of_a_pe_whose_later_sections_moved_match_pefile() {
    // aclui.dll: .text .data .rodata .rdata .pdata .xdata .bss .edata .idata .rsrc .reloc …;
    // from .pdata on everything moves (the code and its .pdata begin addresses do not).
    shifted_pair_matches("aclui.dll", 4);
}

#[test]
fn tables_of_a_pe_whose_every_section_moved_match_pefile() {
    // Every section moves: export function RVAs and .pdata begin/end addresses change too.
    shifted_pair_matches("aclui.dll", 0);
    shifted_pair_matches("advapi32.dll", 0);
}

#[test]
fn resource_tree_split_by_a_map_breakpoint_matches_pefile() {
    // A uniform shift leaves every tree-relative offset as it is, so it cannot tell whether the
    // resource transform ran: here the breakpoint lies inside `.rsrc`. aclui.dll's tree holds
    // the type-2 subtree below 0x58 and the type-5 subtree from 0x58 on; 0x1000 bytes inserted
    // there move the second subtree, its leaves and the data after them.
    let Some(target) = libwine_dll("aclui.dll") else {
        return;
    };
    let rsrc = pe_sections(&std::fs::read(&target).unwrap())[9];
    let (at, by) = (rsrc + 0x58, 0x1000u32);
    let json = pair_report("insert", &target, at, by, 0x10);
    eprintln!("resources split at {at:#x} + {by:#x}:\n{json}");
    // Only the tree is compared: the file layout after the insertion differs from the target's.
    assert_report(
        &json,
        &[
            ("resources", 40),
            ("resources-data-entry (described rule)", 40),
        ],
    );
}

#[test]
fn resource_data_entries_read_as_rvas_match_pefile() {
    // The second resource reading (decision 36): a data entry's OffsetToData as the RVA the
    // PE/COFF specification says it is, so after a uniform shift it holds the target's value.
    // The described (tree-relative) rule leaves those entries as they were, so the two readings
    // differ here and the check fails with the wrong one.
    let Some(target) = libwine_dll("aclui.dll") else {
        return;
    };
    let at = pe_sections(&std::fs::read(&target).unwrap())[4];
    let rva = delta::PeReading {
        resources: delta::ResourceVariant::Rva,
        ..delta::PeReading::default()
    };
    let json = pair_report_with("shift", &target, at, 0x3000, 0xe63e, rva, None);
    eprintln!("{json}");
    assert_report(
        &json,
        &[
            ("resources", 2),
            ("resources-data-entry (RVA rule)", 1),
            ("imports", 20),
        ],
    );
    // The default reading checked by the RVA rule: every data entry mismatches.
    let dir = tempfile::tempdir().unwrap();
    let reference = dir.path().join("reference.dll");
    let transformed = dir.path().join("transformed.dll");
    let (at_s, by_s) = (format!("{at:#x}"), "0x3000".to_string());
    run(
        "python3",
        &[&script(), "shift", s(&target), s(&reference), &at_s, &by_s],
    );
    let bytes = std::fs::read(&reference).unwrap();
    let tree = delta::pe_address_transforms(
        8,
        0xe63e,
        &bytes,
        &[(at + 0x3000, at)],
        delta::PeReading::default(),
    )
    .unwrap();
    std::fs::write(&transformed, tree).unwrap();
    let json = compare(&target, &reference, &transformed, at, 0x3000, "rva");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let e = &v["resources-data-entry (RVA rule)"];
    assert!(e["checked"].as_u64().unwrap() >= 1, "{json}");
    // (the script lists at most 20 mismatches)
    let n = e["checked"].as_u64().unwrap().min(20);
    assert_eq!(
        e["mismatches"].as_array().unwrap().len() as u64,
        n,
        "{json}"
    );
}

/// The `ImageBase` field of a PE's optional header: file offset and width.
fn image_base_field(b: &[u8]) -> (usize, usize) {
    let pe = u32::from_le_bytes(b[0x3c..0x40].try_into().unwrap()) as usize;
    let opt = pe + 24;
    if u16::from_le_bytes([b[opt], b[opt + 1]]) == 0x20b {
        (opt + 24, 8)
    } else {
        (opt + 28, 4)
    }
}

#[test]
fn rebase_through_relocations_matches_pefile() {
    // The relocation transform's rebase (a target image base other than the reference's) is a
    // plain PE rebase when nothing moves: pefile's relocate_image, an independent rebaser, must
    // give the same bytes at every fixup; the header field is set by the delta's preprocess
    // step, not here, so it alone may differ.
    let Some(target) = libwine_dll("advapi32.dll") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let orig = std::fs::read(&target).unwrap();
    let (at, width) = image_base_field(&orig);
    let base = u64::from_le_bytes({
        let mut b = [0u8; 8];
        b[..width].copy_from_slice(&orig[at..at + width]);
        b
    });
    for new_base in [base + 0x1000_0000, base - 0x10_0000, 0x7ff0_0000_0000] {
        let rebased = dir.path().join("rebased.dll");
        run(
            "python3",
            &[
                &script(),
                "rebase",
                s(&target),
                s(&rebased),
                &format!("{new_base:#x}"),
            ],
        );
        let want = std::fs::read(&rebased).unwrap();
        let diff = orig.iter().zip(&want).filter(|(a, b)| a != b).count();
        assert!(diff > 100, "pefile changed only {diff} bytes");
        // 0x20 alone (relocations), and the AMD64 flags: nothing else may move a byte.
        for flags in [0x20, 0xe63e] {
            let mut got = delta::pe_address_transforms_rebased(
                8,
                flags,
                &orig,
                &[],
                delta::PeReading::default(),
                new_base,
            )
            .unwrap();
            got[at..at + width].copy_from_slice(&want[at..at + width]);
            let first = got.iter().zip(&want).position(|(a, b)| a != b);
            assert_eq!(
                first, None,
                "{new_base:#x} flags {flags:#x}: first difference"
            );
        }
        // And back: the rebased image rebased onto the original base is the original.
        let mut back =
            delta::pe_address_transforms_rebased(8, 0x20, &want, &[], delta::RipVariant::V1, base)
                .unwrap();
        back[at..at + width].copy_from_slice(&orig[at..at + width]);
        assert!(back == orig, "{new_base:#x} back to {base:#x}");
    }
    // Without the relocation transform nothing is rebased.
    let none = delta::pe_address_transforms_rebased(
        8,
        0xe63e & !0x20,
        &orig,
        &[],
        delta::RipVariant::V1,
        base + 0x1000_0000,
    )
    .unwrap();
    assert!(none == orig);
}

#[test]
fn rebase_and_moved_rvas_together_match_pefile() {
    // Target: aclui.dll rebased by pefile; reference: the original with every RVA from .pdata on
    // moved up 0x3000. Our transforms map and rebase at once; pefile reads the target's values at
    // every table entry, the relocations' stored addresses included.
    let Some(orig) = libwine_dll("aclui.dll") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("target.dll");
    let bytes = std::fs::read(&orig).unwrap();
    let (at_f, width) = image_base_field(&bytes);
    let mut b = [0u8; 8];
    b[..width].copy_from_slice(&bytes[at_f..at_f + width]);
    let new_base = u64::from_le_bytes(b) + 0x2000_0000;
    run(
        "python3",
        &[
            &script(),
            "rebase",
            s(&orig),
            s(&target),
            &format!("{new_base:#x}"),
        ],
    );
    let at = pe_sections(&bytes)[4];
    let (at_s, by_s) = (format!("{at:#x}"), "0x3000".to_string());
    let reference = dir.path().join("reference.dll");
    run(
        "python3",
        &[&script(), "shift", s(&orig), s(&reference), &at_s, &by_s],
    );
    let out = delta::pe_address_transforms_rebased(
        8,
        0xe63e,
        &std::fs::read(&reference).unwrap(),
        &[(at + 0x3000, at)],
        delta::PeReading::default(),
        new_base,
    )
    .unwrap();
    let transformed = dir.path().join("transformed.dll");
    std::fs::write(&transformed, out).unwrap();
    let json = compare(&target, &reference, &transformed, at, 0x3000, "tree");
    eprintln!("{json}");
    assert_report(
        &json,
        &[("relocations", 10), ("imports", 20), ("pdata", 10)],
    );
}

#[test]
fn x86_branches_match_objdump_on_the_target() {
    let dir = tempfile::tempdir().unwrap();
    run("python3", &[&script(), "x86pair", s(dir.path())]);
    let reference = std::fs::read(dir.path().join("reference.exe")).unwrap();
    let sites: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("sites.json")).unwrap()).unwrap();
    let map: Vec<(u32, u32)> = sites["map"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p[0].as_u64().unwrap() as u32, p[1].as_u64().unwrap() as u32))
        .collect();
    // I386 flags without the undescribed 0x40: MarkNonExe, tables, relocations, jumps, calls.
    let out =
        delta::pe_address_transforms(2, 0xe1fe & !0x40, &reference, &map, delta::RipVariant::V1)
            .unwrap();
    assert_ne!(out, reference, "no branch moved");
    let transformed = dir.path().join("transformed.exe");
    std::fs::write(&transformed, &out).unwrap();
    let json = run(
        "python3",
        &[
            &script(),
            "branches",
            s(&dir.path().join("target.exe")),
            s(&transformed),
            s(&dir.path().join("sites.json")),
        ],
    );
    eprintln!("{json}");
    assert_report(&json, &[("x86 branches", 14), ("x86 non-executable", 1)]);
    // Without the jump and call transforms the branches keep the reference's destinations.
    let only_tables =
        delta::pe_address_transforms(2, 0x3e, &reference, &map, delta::RipVariant::V1).unwrap();
    assert_eq!(only_tables, reference);
}

/// One rel32 / RIP-relative site of the x64 pair: the file offsets of its 4 displacement bytes
/// in the target and in the reference, its kind, and whether its displacement differs between
/// them.
struct X64Site {
    target_off: usize,
    ref_off: usize,
    branch: bool,
    moved: bool,
}

fn x64_sites(v: &serde_json::Value) -> Vec<X64Site> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|e| X64Site {
            target_off: e["target_off"].as_u64().unwrap() as usize,
            ref_off: e["ref_off"].as_u64().unwrap() as usize,
            branch: e["kind"] == "branch",
            moved: e["moved"].as_bool().unwrap(),
        })
        .collect()
}

/// Sites whose 4 displacement bytes in `out` differ from the target's.
fn x64_mismatches<'a>(sites: &'a [X64Site], out: &[u8], target: &[u8]) -> Vec<&'a X64Site> {
    sites
        .iter()
        .filter(|s| out[s.ref_off..s.ref_off + 4] != target[s.target_off..s.target_off + 4])
        .collect()
}

#[test]
fn x64_rip_relative_operands_and_branches_match_objdump_on_the_target() {
    // advapi32.dll with 0x3000 bytes inserted at a function start in the middle of `.text`:
    // calls and jumps across that point, and every RIP-relative operand of the first half that
    // reaches data, have other displacements in the reference; objdump (not our decoder) finds
    // the sites and what they reach.
    let Some(target) = libwine_dll("advapi32.dll") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    run(
        "python3",
        &[&script(), "x64pair", s(&target), s(dir.path())],
    );
    let t = std::fs::read(&target).unwrap();
    let reference = std::fs::read(dir.path().join("reference.dll")).unwrap();
    let j: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("sites.json")).unwrap()).unwrap();
    let (at, by) = (
        j["at"].as_u64().unwrap() as u32,
        j["by"].as_u64().unwrap() as u32,
    );
    let map = [(at + by, at)];
    let sites = x64_sites(&j["sites"]);
    let outside = x64_sites(&j["outside"]);
    let moved = |branch: bool| {
        sites
            .iter()
            .filter(|s| s.moved && s.branch == branch)
            .count()
    };
    let (moved_mem, moved_branch) = (moved(false), moved(true));
    eprintln!(
        "x64 pair at {at:#x} + {by:#x}: {} sites in .pdata functions ({moved_mem} RIP-relative \
         and {moved_branch} branches move), {} moved sites outside, {} ambiguous",
        sites.len(),
        outside.len(),
        j["ambiguous"]
    );
    assert!(
        moved_mem >= 500 && moved_branch >= 100,
        "too few moved sites"
    );
    // The pair itself, as objdump reads the reference: every site reaches the moved destination.
    let c = &j["consistent"];
    assert_eq!(
        c["checked"].as_u64(),
        Some((sites.len() + outside.len()) as u64)
    );
    assert_eq!(c["mismatches"].as_array().map(Vec::len), Some(0), "{c}");

    // The AMD64 flags of the genuine vectors (0xe63e), RIP-relative reading V1.
    let out =
        delta::pe_address_transforms(8, 0xe63e, &reference, &map, delta::RipVariant::V1).unwrap();
    let bad = x64_mismatches(&sites, &out, &t);
    assert!(
        bad.is_empty(),
        "{} of {} sites differ",
        bad.len(),
        sites.len()
    );

    // The code section equals the target's (the inserted gap left out) except at the moved
    // sites outside every `.pdata` function, which the transform leaves as they are.
    let c = &j["code"];
    let (t_off, size, gap) = (
        c["target_off"].as_u64().unwrap() as usize,
        c["size"].as_u64().unwrap() as usize,
        c["gap_off"].as_u64().unwrap() as usize,
    );
    let by = by as usize;
    let in_ref = |o: usize| if o >= gap { o + by } else { o };
    let differ: Vec<usize> = (t_off..t_off + size)
        .filter(|&o| out[in_ref(o)] != t[o])
        .collect();
    let mut expected: Vec<usize> = outside
        .iter()
        .flat_map(|s| s.target_off..s.target_off + 4)
        .filter(|&o| reference[in_ref(o)] != t[o])
        .collect();
    expected.sort_unstable();
    assert_eq!(differ, expected, "code bytes differing from the target");
    // V1 reading: an instruction outside every `.pdata` function is not touched.
    assert!(!outside.is_empty());
    for s in &outside {
        assert_eq!(
            out[s.ref_off..s.ref_off + 4],
            reference[s.ref_off..s.ref_off + 4]
        );
    }

    // Without 0x200 every moved site keeps the reference's displacement; reading V2 maps the
    // RIP-relative operands only.
    let without =
        delta::pe_address_transforms(8, 0xe63e & !0x200, &reference, &map, delta::RipVariant::V1)
            .unwrap();
    assert_eq!(
        x64_mismatches(&sites, &without, &t).len(),
        moved_mem + moved_branch
    );
    let v2 =
        delta::pe_address_transforms(8, 0xe63e, &reference, &map, delta::RipVariant::V2).unwrap();
    let bad = x64_mismatches(&sites, &v2, &t);
    assert_eq!(bad.len(), moved_branch);
    assert!(bad.iter().all(|s| s.branch));
}
