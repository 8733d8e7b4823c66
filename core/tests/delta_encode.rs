//! The delta encoder against the decoder on the shared msdelta vectors' files (genuine Windows
//! binaries and manifests, read from `../shared/testdata/msdelta`, never copied here). The
//! decoder itself is judged by Microsoft's deltas in `delta_vectors.rs`.

mod common;

use common::{msdelta_vectors, read};
use mediaprep_core::delta::encode::{create, create_dcm, CreateOptions};
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
