//! PE version resources read by `mediaprep_core::pe` compared with python `pefile` (the oracle) on
//! Debian libwine's real PE files, unmodified and with the fixture generator's rewritten versions,
//! plus truncated and bit-flipped copies that must fail cleanly, never panic.

mod common;

use common::*;
use mediaprep_core::io::SliceSource;
use mediaprep_core::pe::{file_version, Machine, PeVersion};
use std::path::{Path, PathBuf};

/// pefile's view: "machine magic fileMS fileLS prodMS prodLS|FileVersion|ProductVersion" or "none".
const ORACLE: &str = r#"
import sys, pefile
pe = pefile.PE(sys.argv[1])
m, magic = pe.FILE_HEADER.Machine, pe.OPTIONAL_HEADER.Magic
if not hasattr(pe, "VS_FIXEDFILEINFO"):
    print("none %d %d" % (m, magic)); sys.exit(0)
f = pe.VS_FIXEDFILEINFO[0]
strs = {}
for fi in getattr(pe, "FileInfo", []):
    for e in fi:
        for t in getattr(e, "StringTable", [])[:1]:
            for k, v in t.entries.items():
                strs[k.decode()] = v.decode("utf-8", "replace")
print("%d %d %d %d %d %d|%s|%s" % (m, magic, f.FileVersionMS, f.FileVersionLS, f.ProductVersionMS,
      f.ProductVersionLS, strs.get("FileVersion", "<none>"), strs.get("ProductVersion", "<none>")))
"#;

fn oracle(path: &Path) -> String {
    run("python3", &["-c", ORACLE, path.to_str().unwrap()])
        .trim()
        .to_string()
}

fn ours(path: &Path) -> Option<PeVersion> {
    let data = std::fs::read(path).unwrap();
    file_version(&SliceSource::new(data)).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn machine_raw(m: Machine) -> u16 {
    match m {
        Machine::X86 => 0x14c,
        Machine::X64 => 0x8664,
        Machine::Arm64 => 0xaa64,
        Machine::ArmNt => 0x1c4,
        Machine::Other(v) => v,
    }
}

fn ms_ls(v: [u16; 4]) -> (u32, u32) {
    (
        (u32::from(v[0]) << 16) | u32::from(v[1]),
        (u32::from(v[2]) << 16) | u32::from(v[3]),
    )
}

fn pe_files() -> Vec<PathBuf> {
    let fx = fixtures();
    let mut v: Vec<PathBuf> = std::fs::read_dir(fx.join("pe"))
        .expect("fixtures/pe (unmodified libwine files)")
        .map(|e| e.unwrap().path())
        .collect();
    for f in [
        "kernel32.dll",
        "ntdll.dll",
        "ntoskrnl.exe",
        "winpeshl.exe",
        "drivers/mountmgr.sys",
    ] {
        v.push(fx.join("winre/Windows/System32").join(f));
    }
    v.sort();
    v
}

#[test]
fn matches_pefile_on_libwine_files() {
    let files = pe_files();
    let mut with_version = 0;
    for p in &files {
        let want = oracle(p);
        let got = ours(p);
        match got {
            None => assert!(
                want.starts_with("none "),
                "{}: pefile says {want}",
                p.display()
            ),
            Some(v) => {
                with_version += 1;
                let (fms, fls) = ms_ls(v.file_version.0);
                let (pms, pls) = ms_ls(v.product_version.0);
                let magic = if v.pe32_plus { 0x20b } else { 0x10b };
                let line = format!(
                    "{} {} {fms} {fls} {pms} {pls}|{}|{}",
                    machine_raw(v.machine),
                    magic,
                    v.file_version_string.as_deref().unwrap_or("<none>"),
                    v.product_version_string.as_deref().unwrap_or("<none>")
                );
                assert_eq!(line, want, "{}", p.display());
            }
        }
    }
    assert!(with_version >= 5, "only {with_version} files had versions");
}

#[test]
fn fixture_versions_are_the_rewritten_ones() {
    let fx = fixtures();
    let k = ours(&fx.join("winre/Windows/System32/kernel32.dll")).unwrap();
    assert_eq!(k.machine, Machine::X64);
    assert!(k.pe32_plus);
    assert_eq!(k.file_version.to_string(), "10.0.26100.1000");
    assert_eq!(k.file_version_string.as_deref(), Some("10.0.26100.1000"));
    let orig = ours(&fx.join("pe/kernel32.dll")).unwrap();
    assert_ne!(orig.file_version, k.file_version);
    // A PE without a version resource is Ok(None), not an error.
    assert!(ours(&fx.join("pe/mountmgr.sys")).is_none());
}

#[test]
fn nested_in_wim_same_as_on_disk() {
    // The copy wimlib extracts from Winre-stale.wim carries the stale variant's file version.
    let data = wimlib_extract(
        &fixture("Winre-stale.wim"),
        1,
        "/Windows/System32/ntoskrnl.exe",
    );
    let v = file_version(&SliceSource::new(data)).unwrap().unwrap();
    assert_eq!(v.file_version.to_string(), "10.0.26100.8037");
}

#[test]
fn truncated_copies_fail_cleanly() {
    let data = std::fs::read(fixtures().join("pe/kernel32.dll")).unwrap();
    let full = file_version(&SliceSource::new(data.clone())).unwrap();
    let mut cuts: Vec<usize> = (0..1024).collect();
    cuts.extend((1..400).map(|i| i * data.len() / 400));
    let mut errors = 0;
    for &c in &cuts {
        match file_version(&SliceSource::new(data[..c].to_vec())) {
            Err(_) => errors += 1,
            Ok(v) => assert_eq!(v, full, "cut at {c} gave a different answer"),
        }
    }
    // Everything before the end of the headers must be rejected.
    assert!(errors >= 1024, "{errors} errors");
}

#[test]
fn bit_flips_never_panic() {
    let data = std::fs::read(fixtures().join("pe/ntoskrnl.exe")).unwrap();
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    // Headers, section table and the resource tree are where damage matters; hit them hardest.
    let rsrc_hot = data.len().saturating_sub(64 * 1024);
    for i in 0..3000 {
        let mut d = data.clone();
        for _ in 0..(1 + next() % 4) {
            let pos = if i % 2 == 0 {
                (next() % 1024) as usize
            } else {
                rsrc_hot + (next() as usize % (data.len() - rsrc_hot))
            };
            d[pos] ^= 1 << (next() % 8);
        }
        let _ = file_version(&SliceSource::new(d));
    }
}

#[test]
fn not_a_pe_is_an_error() {
    for bad in [
        &b""[..],
        b"MZ",
        b"hello, world, this is not a PE file at all.......................!",
    ] {
        assert!(file_version(&SliceSource::new(bad.to_vec())).is_err());
    }
    let mut d = std::fs::read(fixtures().join("pe/winver.exe")).unwrap();
    let lfanew = u32::from_le_bytes(d[0x3c..0x40].try_into().unwrap()) as usize;
    d[lfanew] = b'X';
    let e = file_version(&SliceSource::new(d)).unwrap_err();
    assert!(e.to_string().contains("PE header"), "{e}");
}
