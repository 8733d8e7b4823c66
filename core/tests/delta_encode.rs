//! The delta encoder against the decoder on the shared msdelta vectors' files (genuine Windows
//! binaries and manifests, read from `../shared/testdata/msdelta`, never copied here). The
//! decoder itself is judged by Microsoft's deltas in `delta_vectors.rs`.

mod common;

use common::{msdelta_vectors, read};
use mediaprep_core::delta::encode::{
    create, create_dcm, create_pe, CreateOptions, AMD64_FLAGS, I386_FLAGS,
};
use mediaprep_core::delta::{self, dcm, ApplyOptions};
use std::path::PathBuf;

fn vectors() -> Option<PathBuf> {
    msdelta_vectors()
}

/// Create, apply through the decoder, compare; returns the delta's size.
fn check(name: &str, r: &[u8], t: &[u8]) -> usize {
    let d = create(r, t, &CreateOptions::default()).unwrap();
    let out = delta::apply(r, &d, &ApplyOptions::default()).unwrap();
    assert!(out == t, "{name}: applied delta differs from the target");
    let h = delta::parse_header(&d).unwrap();
    assert_eq!((h.file_type, h.target_size), (1, t.len() as u64), "{name}");
    eprintln!(
        "{name}: target {} bytes, delta {} bytes ({:.2} %)",
        t.len(),
        d.len(),
        100.0 * d.len() as f64 / t.len().max(1) as f64
    );
    d.len()
}

#[test]
fn vector_files_round_trip_and_similar_files_give_small_deltas() {
    let Some(dir) = vectors() else { return };
    let cmd = read(&dir.join("raw/cmd.exe"));
    let notepad = read(&dir.join("raw/notepad.exe"));
    let where_ = read(&dir.join("raw/where.exe"));
    let patched = read(&dir.join("raw/cmd_patched.exe"));
    let base = read(&dir.join("dcm/base_manifest.bin"));
    let golden = read(&dir.join("dcm/wow64_golden.xml"));

    check("cmd -> notepad", &cmd, &notepad);
    check("cmd -> where", &cmd, &where_);
    let n = check("cmd -> cmd_patched", &cmd, &patched);
    assert!(
        n * 20 < patched.len(),
        "cmd -> cmd_patched delta of {n} bytes is not below 5 % of {}",
        patched.len()
    );
    let n = check("cmd -> cmd", &cmd, &cmd);
    assert!(n < 200, "identical files: {n} bytes");
    check("empty -> notepad", &[], &notepad);
    check("notepad -> empty", &notepad, &[]);
    let n = check("base -> wow64_golden", &base, &golden);
    assert!(n * 4 < golden.len(), "manifest delta of {n} bytes");

    // DCM, the way Windows stores manifests; decodes like Microsoft's DCM files do.
    let m = create_dcm(&base, &golden).unwrap();
    assert!(dcm::is_dcm(&m));
    let h = delta::parse_header(&m[4..]).unwrap();
    assert_eq!((h.file_type, h.flags, h.hash_alg_id), (1, 0x20000, 0));
    assert!(dcm::decode(&base, &m, &ApplyOptions::default()).unwrap() == golden);
    // Against another base the same bytes do not give the manifest back.
    let other = &cmd[..base.len().min(cmd.len())];
    assert!(dcm::decode(other, &m, &ApplyOptions::default())
        .map(|x| x != golden)
        .unwrap_or(true));
}

/// A PE-typed delta from our encoder: applied through the decoder (which the genuine PE vectors
/// judge) it gives the target; its header is a servicing delta's; returns its size.
fn check_pe(name: &str, r: &[u8], t: &[u8], file_type: u64) -> usize {
    let d = create_pe(r, t, &CreateOptions::default()).unwrap_or_else(|e| panic!("{name}: {e}"));
    let a = delta::apply_detailed(r, &d, &ApplyOptions::default()).unwrap();
    assert!(
        a.target == t,
        "{name}: applied delta differs from the target"
    );
    let h = delta::parse_header(&d).unwrap();
    let flags = if file_type == 2 {
        I386_FLAGS
    } else {
        AMD64_FLAGS
    };
    assert_eq!(
        (h.file_type_set, h.file_type, h.flags, h.target_size),
        (0xf, file_type, flags, t.len() as u64),
        "{name}"
    );
    assert_eq!(h.target_hash.len(), 32, "{name}: SHA-256");
    eprintln!(
        "{name}: target {} bytes, PE-typed delta {} bytes, {} decode(s)",
        t.len(),
        d.len(),
        a.pe.map_or(0, |p| p.decodes)
    );
    d.len()
}

#[test]
fn pe_typed_deltas_of_the_vector_files_apply_and_stay_small() {
    // Every genuine PE vector's pair (reference → target) as a PE-typed delta of ours: the
    // decoder's transforms (checksum, timestamps, the composed copy rift) and the encoder's
    // source prediction through that rift must agree. Sizes beside Microsoft's delta of the
    // same pair (which also moves RVAs where the code moved).
    let Some(dir) = vectors() else { return };
    let pe = dir.join("pe");
    let mut cases = vec![(
        "cmd -> cmd_patched".to_string(),
        read(&dir.join("raw/cmd.exe")),
        read(&dir.join("raw/cmd_patched.exe")),
        read(&pe.join("cmd__to__cmd_patched__pe_amd64_genuine.pa30")).len(),
    )];
    for sub in ["wow64_kbdmaori", "x86_mscordbi", "amd64_kbdwol"] {
        let d = pe.join(sub);
        cases.push((
            sub.to_string(),
            read(&d.join("base.bin")),
            read(&d.join("target.bin")),
            read(&d.join("delta.pa30")).len(),
        ));
    }
    for (name, r, t, ms) in &cases {
        let ft = delta::parse_header(&read(&if name.starts_with("cmd") {
            pe.join("cmd__to__cmd_patched__pe_amd64_genuine.pa30")
        } else {
            pe.join(name).join("delta.pa30")
        }))
        .unwrap()
        .file_type;
        let n = check_pe(name, r, t, ft);
        let raw = create(r, t, &CreateOptions::default()).unwrap().len();
        eprintln!("  {name}: Microsoft's {ms} bytes, our RAW delta {raw} bytes");
        // The PE-typed delta must not lose to our RAW one by more than its preprocess buffer.
        assert!(n <= raw + 200, "{name}: PE-typed {n} bytes vs RAW {raw}");
        // Identical images: a few hundred bytes at most.
        assert!(check_pe(&format!("{name} (same)"), t, t, ft) < 400);
    }
    // Machines must match, both must be PE, and a hash is required.
    let (cmd, mscordbi) = (&cases[0].1, &cases[2].1);
    let e = create_pe(cmd, mscordbi, &CreateOptions::default()).unwrap_err();
    assert_eq!(e.kind(), "unsupported", "{e}");
    let e = create_pe(b"not a PE", cmd, &CreateOptions::default()).unwrap_err();
    assert_eq!(e.kind(), "malformed", "{e}");
    let e = create_pe(cmd, b"not a PE either", &CreateOptions::default()).unwrap_err();
    assert!(e.to_string().contains("PE target image"), "{e}");
    let none = CreateOptions {
        hash_alg_id: 0,
        ..CreateOptions::default()
    };
    assert_eq!(create_pe(cmd, cmd, &none).unwrap_err().kind(), "invalid");
}

#[test]
fn pe_typed_deltas_predict_copies_through_a_moved_layout() {
    // libwine aclui.dll with 0x1000 bytes inserted inside `.rsrc` by pefile
    // (scripts/pe-rva-shift.py insert): every section after it sits elsewhere in the file and in
    // RVAs, so the copy rift the decoder composes is not the identity and the encoder's source
    // addresses must follow it. Both directions, against our RAW delta of the same pair.
    let Some(target) = common::libwine_dll("aclui.dll") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let moved = dir.path().join("moved.dll");
    let t = read(&target);
    let pe32 = u32::from_le_bytes(t[0x3c..0x40].try_into().unwrap()) as usize;
    let nsec = u16::from_le_bytes([t[pe32 + 6], t[pe32 + 7]]) as usize;
    let sec = pe32 + 24 + u16::from_le_bytes([t[pe32 + 20], t[pe32 + 21]]) as usize;
    let rsrc = (0..nsec)
        .find(|i| &t[sec + 40 * i..sec + 40 * i + 5] == b".rsrc")
        .map(|i| u32::from_le_bytes(t[sec + 40 * i + 12..sec + 40 * i + 16].try_into().unwrap()))
        .expect(".rsrc");
    common::run(
        "python3",
        &[
            common::s(&common::workspace().join("scripts/pe-rva-shift.py")),
            "insert",
            common::s(&target),
            common::s(&moved),
            &format!("{:#x}", rsrc + 0x58),
            "0x1000",
        ],
    );
    let m = read(&moved);
    for (name, r, tg) in [("aclui -> moved", &t, &m), ("moved -> aclui", &m, &t)] {
        let n = check_pe(name, r, tg, 8);
        let raw = create(r, tg, &CreateOptions::default()).unwrap().len();
        eprintln!("  {name}: our RAW delta {raw} bytes");
        assert!(n <= raw + 200, "{name}: PE-typed {n} vs RAW {raw}");
    }
    // advapi32.dll with every section's RVAs moved up 0x3000 (pefile, `shift`: file offsets
    // unchanged): the section map puts them back, so the address transforms (imports, exports,
    // resources, relocations, RIP-relative operands, .pdata) run in the decoder and leave next to
    // nothing for the codec, where a RAW delta must spell out every moved RVA.
    let Some(adv) = common::libwine_dll("advapi32.dll") else {
        return;
    };
    let t = read(&adv);
    let shifted = dir.path().join("shifted.dll");
    common::run(
        "python3",
        &[
            common::s(&common::workspace().join("scripts/pe-rva-shift.py")),
            "shift",
            common::s(&adv),
            common::s(&shifted),
            "0x1000",
            "0x3000",
        ],
    );
    let sh = read(&shifted);
    for (name, r, tg) in [
        ("shifted -> advapi32", &sh, &t),
        ("advapi32 -> shifted", &t, &sh),
    ] {
        let n = check_pe(name, r, tg, 8);
        let a = delta::apply_detailed(
            r,
            &create_pe(r, tg, &CreateOptions::default()).unwrap(),
            &ApplyOptions::default(),
        )
        .unwrap();
        assert_eq!(
            a.rip_variant,
            Some(delta::RipVariant::V1),
            "{name}: no RVA moved"
        );
        let raw = create(r, tg, &CreateOptions::default()).unwrap().len();
        eprintln!("  {name}: our RAW delta {raw} bytes");
        assert!(
            n * 2 < raw,
            "{name}: PE-typed {n} bytes is not below half of RAW {raw}"
        );
    }
}
