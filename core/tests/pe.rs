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

fn ms_ls<T: Into<u32> + Copy>(v: [T; 4]) -> (u32, u32) {
    let v = v.map(Into::into);
    ((v[0] << 16) | v[1], (v[2] << 16) | v[3])
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
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut next = move || rng.next();
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

/// One `VS_VERSIONINFO`-style block; children start 4-aligned (relative to the block start, which
/// the caller places 4-aligned too).
fn blk(key: &str, wtype: u16, value: &[u8], vlen_field: u16, children: &[Vec<u8>]) -> Vec<u8> {
    let mut b = vec![0u8; 6];
    for u in key.encode_utf16().chain([0]) {
        b.extend_from_slice(&u.to_le_bytes());
    }
    while b.len() % 4 != 0 {
        b.push(0);
    }
    b.extend_from_slice(value);
    for c in children {
        while b.len() % 4 != 0 {
            b.push(0);
        }
        b.extend_from_slice(c);
    }
    let len = b.len() as u16;
    b[0..2].copy_from_slice(&len.to_le_bytes());
    b[2..4].copy_from_slice(&vlen_field.to_le_bytes());
    b[4..6].copy_from_slice(&wtype.to_le_bytes());
    b
}

fn string_blk(key: &str, val: &str) -> Vec<u8> {
    let mut v = Vec::new();
    for u in val.encode_utf16().chain([0]) {
        v.extend_from_slice(&u.to_le_bytes());
    }
    blk(key, 1, &v, (v.len() / 2) as u16, &[])
}

/// A minimal PE (one `.rsrc` section holding only a version resource), PE32 or PE32+.
fn synthetic_pe(machine: u16, plus: bool, file: [u16; 4], fstr: &str) -> Vec<u8> {
    let (ms, ls) = ms_ls(file);
    let mut fixed = Vec::new();
    for v in [
        0xFEEF04BDu32,
        0x10000,
        ms,
        ls,
        ms,
        ls,
        0x3F,
        0,
        0x40004,
        1,
        0,
        0,
        0,
    ] {
        fixed.extend_from_slice(&v.to_le_bytes());
    }
    let table = blk(
        "040904B0",
        1,
        &[],
        0,
        &[
            string_blk("CompanyName", "Example"),
            string_blk("FileVersion", fstr),
            string_blk("ProductVersion", "9.8.7.6"),
        ],
    );
    let sfi = blk("StringFileInfo", 1, &[], 0, &[table]);
    let vi = blk("VS_VERSION_INFO", 0, &fixed, 52, &[sfi]);

    let put32 =
        |d: &mut Vec<u8>, at: usize, v: u32| d[at..at + 4].copy_from_slice(&v.to_le_bytes());
    let mut rsrc = vec![0u8; 0x58];
    // root: type 16 → 0x18; name dir: id 1 → 0x30; language dir: 0x409 → data entry at 0x48.
    for (dir, id, target) in [
        (0, 16u32, 0x8000_0018u32),
        (0x18, 1, 0x8000_0030),
        (0x30, 0x409, 0x48),
    ] {
        rsrc[dir + 14] = 1;
        put32(&mut rsrc, dir + 16, id);
        put32(&mut rsrc, dir + 20, target);
    }
    put32(&mut rsrc, 0x48, 0x1000 + 0x58);
    put32(&mut rsrc, 0x4C, vi.len() as u32);
    rsrc.extend_from_slice(&vi);
    let raw = rsrc.len().div_ceil(0x200) * 0x200;

    let opt_size: usize = if plus { 240 } else { 224 };
    let mut d = vec![0u8; 0x200];
    d[0..2].copy_from_slice(b"MZ");
    put32(&mut d, 0x3C, 0x40);
    d[0x40..0x44].copy_from_slice(b"PE\0\0");
    d[0x44..0x46].copy_from_slice(&machine.to_le_bytes());
    d[0x46] = 1; // one section
    d[0x54..0x56].copy_from_slice(&(opt_size as u16).to_le_bytes());
    d[0x56..0x58].copy_from_slice(&0x0102u16.to_le_bytes());
    let o = 0x58;
    d[o..o + 2].copy_from_slice(&(if plus { 0x20Bu16 } else { 0x10B }).to_le_bytes());
    if plus {
        d[o + 24..o + 32].copy_from_slice(&0x1_4000_0000u64.to_le_bytes());
    } else {
        put32(&mut d, o + 28, 0x40_0000);
    }
    put32(&mut d, o + 32, 0x1000); // section alignment
    put32(&mut d, o + 36, 0x200); // file alignment
    d[o + 40] = 6; // OS version 6.0
    d[o + 48] = 6; // subsystem version 6.0
    put32(
        &mut d,
        o + 56,
        0x1000 + raw.div_ceil(0x1000) as u32 * 0x1000,
    );
    put32(&mut d, o + 60, 0x200);
    d[o + 68] = 2; // GUI subsystem
    let (count_at, dirs_at) = if plus { (108, 112) } else { (92, 96) };
    put32(&mut d, o + count_at, 16);
    put32(&mut d, o + dirs_at + 16, 0x1000);
    put32(&mut d, o + dirs_at + 20, rsrc.len() as u32);
    let s = o + opt_size;
    d[s..s + 5].copy_from_slice(b".rsrc");
    put32(&mut d, s + 8, rsrc.len() as u32);
    put32(&mut d, s + 12, 0x1000);
    put32(&mut d, s + 16, raw as u32);
    put32(&mut d, s + 20, 0x200);
    put32(&mut d, s + 36, 0x4000_0040);
    rsrc.resize(raw, 0);
    d.extend_from_slice(&rsrc);
    d
}

#[test]
fn synthetic_pe32_and_arm64_agree_with_pefile() {
    let dir = tempfile::tempdir().unwrap();
    for (machine, plus, want) in [
        (0x14cu16, false, Machine::X86),
        (0xaa64, true, Machine::Arm64),
        (0x8664, true, Machine::X64),
    ] {
        let ver = [6, 1, 7601, 17514];
        let img = synthetic_pe(machine, plus, ver, "6.1.7601.17514 (win7sp1_rtm)");
        let p = dir.path().join(format!("m{machine:x}.exe"));
        std::fs::write(&p, &img).unwrap();
        let got = ours(&p).expect("version resource");
        assert_eq!(got.machine, want);
        assert_eq!(got.pe32_plus, plus);
        assert_eq!(got.file_version.0, ver.map(u32::from));
        let (fms, fls) = ms_ls(ver);
        let magic = if plus { 0x20b } else { 0x10b };
        assert_eq!(
            oracle(&p),
            format!(
                "{machine} {magic} {fms} {fls} {fms} {fls}|6.1.7601.17514 (win7sp1_rtm)|9.8.7.6"
            )
        );
        assert_eq!(
            got.file_version_string.as_deref(),
            Some("6.1.7601.17514 (win7sp1_rtm)")
        );
        assert_eq!(got.product_version_string.as_deref(), Some("9.8.7.6"));
        // Every truncation of the small file fails or agrees; none panics.
        for c in 0..img.len() {
            if let Ok(v) = file_version(&SliceSource::new(img[..c].to_vec())) {
                assert_eq!(v.as_ref(), Some(&got), "cut {c}");
            }
        }
        // Every single-bit flip in the resource area: no panic.
        for pos in 0x200..img.len().min(0x200 + 0x200) {
            for bit in 0..8 {
                let mut d = img.clone();
                d[pos] ^= 1 << bit;
                let _ = file_version(&SliceSource::new(d));
            }
        }
    }
}
