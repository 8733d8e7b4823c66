//! The DCM base manifest and the PE resource lookup under it.
//!
//! Oracles: python `pefile` reads the same resources (offset, size, bytes) from the fixture's
//! synthetic `wcp.dll` files and from Debian libwine's real PE files; wimlib captured the images the
//! base is taken from; the expected bases are the files `scripts/fixtures` wrote next to the images.
//! Microsoft's genuine base (`../shared/testdata/msdelta/dcm/base_manifest.bin`) is wrapped into a PE
//! and a WIM in a temporary directory at test time, never copied into the repository.

mod common;

use common::*;
use mediaprep_core::io::{FileSource, SharedReader, SliceSource};
use mediaprep_core::manifest_base::{base_from_media, BaseManifest, BaseSource};
use mediaprep_core::pe::{find_resource, find_resource_lang, locate_resource, read_resource};
use mediaprep_core::Error;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// pefile's view of every integer-id resource leaf: "type name lang offset size", in file order.
const ORACLE: &str = r#"
import sys, pefile
for path in sys.argv[1:]:
    pe = pefile.PE(path, fast_load=True)
    pe.parse_data_directories(directories=[pefile.DIRECTORY_ENTRY["IMAGE_DIRECTORY_ENTRY_RESOURCE"]])
    print("file", path)
    for t in getattr(pe, "DIRECTORY_ENTRY_RESOURCE", None).entries if hasattr(pe, "DIRECTORY_ENTRY_RESOURCE") else []:
        if t.id is None or not hasattr(t, "directory"):
            continue
        for n in t.directory.entries:
            if n.id is None or not hasattr(n, "directory"):
                continue
            for l in n.directory.entries:
                if not hasattr(l, "data"):
                    continue
                d = l.data.struct
                print(t.id, n.id, l.id if l.id is not None else -1,
                      pe.get_offset_from_rva(d.OffsetToData), d.Size)
"#;

/// (type, name) → [(lang, offset, size)] per file, from pefile.
type Leaves = BTreeMap<(u16, u16), Vec<(i64, u64, u32)>>;

fn oracle(files: &[PathBuf]) -> Vec<(PathBuf, Leaves)> {
    let mut args = vec!["-c", ORACLE];
    let names: Vec<&str> = files.iter().map(|p| p.to_str().unwrap()).collect();
    args.extend(&names);
    let text = run("python3", &args);
    let mut out: Vec<(PathBuf, Leaves)> = Vec::new();
    for line in text.lines() {
        if let Some(p) = line.strip_prefix("file ") {
            out.push((PathBuf::from(p), Leaves::new()));
            continue;
        }
        let f: Vec<i64> = line.split(' ').map(|x| x.parse().unwrap()).collect();
        out.last_mut()
            .unwrap()
            .1
            .entry((f[0] as u16, f[1] as u16))
            .or_default()
            .push((f[2], f[3] as u64, f[4] as u32));
    }
    out
}

/// Debian libwine's PE files (up to `max`, every DLL/EXE/SYS of the unpacked package), found where
/// `scripts/fixtures` unpacked them.
fn libwine_files(max: usize) -> Vec<PathBuf> {
    let cache = std::env::var_os("MEDIAPREP_FIXTURE_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                .join(".cache/mediaprep-fixtures")
        });
    let dir = cache.join("libwine/usr/lib/x86_64-linux-gnu/wine/x86_64-windows");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    v.retain(|p| {
        let e = p.extension().and_then(|e| e.to_str()).unwrap_or("");
        matches!(e, "dll" | "exe" | "sys" | "drv" | "ocx" | "cpl")
    });
    v.sort();
    // Spread the sample over the whole alphabet rather than the first `max` names.
    let step = (v.len() / max.max(1)).max(1);
    v.into_iter().step_by(step).take(max).collect()
}

fn wcp_dir() -> PathBuf {
    fixtures().join("wcp")
}

/// The stacks the fixture generator put into Winre.wim, oldest first: (version, folder).
fn spec_stacks(wim: &str) -> Vec<(String, String)> {
    let spec: serde_json::Value = serde_json::from_slice(
        &std::fs::read(fixtures().join("spec").join(format!("{wim}.json"))).unwrap(),
    )
    .unwrap();
    spec["servicing_stacks"]
        .as_array()
        .unwrap_or_else(|| panic!("{wim}: no servicing_stacks in the spec"))
        .iter()
        .map(|s| {
            (
                s["version"].as_str().unwrap().to_string(),
                s["folder"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn compare_with_pefile(files: &[PathBuf]) -> (usize, usize) {
    let (mut leaves, mut with_res) = (0, 0);
    for (path, want) in oracle(files) {
        let data = std::fs::read(&path).unwrap();
        let src = SliceSource::new(data.clone());
        if !want.is_empty() {
            with_res += 1;
        }
        for (&(t, n), langs) in &want {
            // The first leaf in file order is what a lookup without a language returns.
            let (lang0, off0, size0) = langs[0];
            let got = locate_resource(&src, t, n, None)
                .unwrap_or_else(|e| panic!("{}: {t}/{n}: {e}", path.display()))
                .unwrap_or_else(|| panic!("{}: {t}/{n} not found", path.display()));
            assert_eq!(
                (got.offset, got.size),
                (off0, size0),
                "{} {t}/{n}",
                path.display()
            );
            assert_eq!(i64::from(got.language), lang0, "{} {t}/{n}", path.display());
            let bytes = find_resource(&data, t, n).unwrap().unwrap();
            assert_eq!(bytes, &data[off0 as usize..off0 as usize + size0 as usize]);
            for &(lang, off, size) in langs {
                let got = locate_resource(&src, t, n, Some(lang as u16))
                    .unwrap()
                    .unwrap();
                assert_eq!(
                    (got.offset, got.size),
                    (off, size),
                    "{} {t}/{n}/{lang}",
                    path.display()
                );
                leaves += 1;
            }
        }
        // Ids pefile does not list are absent for us too.
        for (t, n) in [(614u16, 3u16), (9999, 1), (16, 999)] {
            if !want.contains_key(&(t, n)) {
                assert_eq!(locate_resource(&src, t, n, None).unwrap(), None);
            }
        }
    }
    (leaves, with_res)
}

#[test]
fn lookup_matches_pefile_on_fixture_wcp_dlls() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(wcp_dir())
        .expect("fixtures/wcp")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "dll"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 2, "{files:?}");
    let (leaves, with_res) = compare_with_pefile(&files);
    // Each carries RT_VERSION 16/1, the base 614/1 and the decoy 614/2.
    assert_eq!((leaves, with_res), (6, 2));
    // A second, independent reader (GNU binutils) sees the same three leaves where we do.
    for f in &files {
        let Some(od) = objdump_leaves(f) else {
            eprintln!("SKIPPED: objdump (binutils) not installed");
            break;
        };
        assert_eq!(od.len(), 3, "{}: {od:?}", f.display());
        let src = SliceSource::new(std::fs::read(f).unwrap());
        for (&(t, n, l), &(rva, size)) in &od {
            let got = locate_resource(&src, t as u16, n as u16, Some(l as u16))
                .unwrap()
                .unwrap();
            assert_eq!(
                (got.rva, got.size),
                (rva, size),
                "{} {t}/{n}/{l}",
                f.display()
            );
        }
    }
    // 614/1 is the base file written beside it, byte for byte.
    for (ver, _) in spec_stacks("Winre.wim") {
        let dll = std::fs::read(wcp_dir().join(format!("wcp-{ver}.dll"))).unwrap();
        let base = std::fs::read(wcp_dir().join(format!("base-{ver}.bin"))).unwrap();
        assert_eq!(find_resource(&dll, 614, 1).unwrap(), Some(&base[..]));
        assert_ne!(find_resource(&dll, 614, 2).unwrap(), Some(&base[..]));
        // Language choice: the base's leaf is 0 (older stack) or 0x409; the other is absent.
        let lang = locate_resource(&SliceSource::new(dll.clone()), 614, 1, None)
            .unwrap()
            .unwrap()
            .language;
        let other = if lang == 0 { 0x409 } else { 0 };
        assert_eq!(
            find_resource_lang(&dll, 614, 1, Some(lang)).unwrap(),
            Some(&base[..])
        );
        assert_eq!(find_resource_lang(&dll, 614, 1, Some(other)).unwrap(), None);
        // Through the WIM blob reader path too (ReadAt, limit honoured).
        let src = SliceSource::new(dll.clone());
        assert_eq!(
            read_resource(&src, 614, 1, None, 1 << 20).unwrap().unwrap(),
            base
        );
        let e = read_resource(&src, 614, 1, None, 100).unwrap_err();
        assert!(matches!(e, Error::Limit { .. }), "{e}");
    }
}

#[test]
fn lookup_matches_pefile_on_libwine_pe_files() {
    let mut files = libwine_files(250);
    files.extend(
        std::fs::read_dir(fixtures().join("pe"))
            .unwrap()
            .map(|e| e.unwrap().path()),
    );
    assert!(files.len() >= 100, "only {} libwine files", files.len());
    // Genuine Windows PE files (Microsoft's, read from ../shared, never copied here).
    if let Some(v) = msdelta_vectors() {
        let shared = [
            "raw/cmd.exe",
            "raw/notepad.exe",
            "raw/where.exe",
            "raw/cmd_patched.exe",
            "pe/amd64_kbdwol/base.bin",
            "pe/amd64_kbdwol/target.bin",
            "pe/wow64_kbdmaori/base.bin",
            "pe/x86_mscordbi/base.bin",
            "pe/x86_mscordbi/target.bin",
        ];
        files.extend(shared.iter().map(|p| v.join(p)));
    }
    let (leaves, with_res) = compare_with_pefile(&files);
    eprintln!(
        "{} PE files, {with_res} with resources, {leaves} resource leaves agree with pefile",
        files.len()
    );
    assert!(
        with_res >= 50 && leaves >= 200,
        "{with_res} files, {leaves} leaves"
    );
}

/// (type, name, lang) → (RVA, size).
type ObjdumpLeaves = BTreeMap<(u32, u32, u32), (u32, u32)>;

/// GNU objdump's view of the resource leaves: (type, name, lang) → (RVA, size). `None` when binutils'
/// objdump is not installed.
fn objdump_leaves(path: &Path) -> Option<ObjdumpLeaves> {
    let out = std::process::Command::new("objdump")
        .arg("-p")
        .arg(path)
        .output()
        .ok()?;
    assert!(out.status.success(), "objdump -p {}", path.display());
    let text = String::from_utf8_lossy(&out.stdout);
    let hex = |s: &str| {
        u32::from_str_radix(s.trim_start_matches("0x").trim_end_matches(','), 16).unwrap()
    };
    let (mut ids, mut leaves) = ([0u32; 3], BTreeMap::new());
    for line in text
        .lines()
        .skip_while(|l| !l.contains(".rsrc Resource Directory section"))
    {
        let body = line.get(3..).unwrap_or("");
        let depth = body.len() - body.trim_start().len();
        let words: Vec<&str> = body.split_whitespace().collect();
        if words.first() == Some(&"Entry:") && words.get(1) == Some(&"ID:") {
            // Type entries are indented 3, names 5, languages 7.
            ids[(depth.saturating_sub(3) / 2).min(2)] = hex(words[2]);
        } else if words.first() == Some(&"Leaf:") {
            leaves.insert((ids[0], ids[1], ids[2]), (hex(words[2]), hex(words[4])));
        }
    }
    Some(leaves)
}

fn typed(e: &Error) -> bool {
    matches!(
        e,
        Error::Malformed { .. } | Error::Truncated { .. } | Error::Limit { .. }
    )
}

#[test]
fn truncated_and_mutated_wcp_dlls_give_typed_errors() {
    let ver = &spec_stacks("Winre.wim")[1].0;
    let dll = std::fs::read(wcp_dir().join(format!("wcp-{ver}.dll"))).unwrap();
    let base = std::fs::read(wcp_dir().join(format!("base-{ver}.bin"))).unwrap();
    let loc = locate_resource(&SliceSource::new(dll.clone()), 614, 1, None)
        .unwrap()
        .unwrap();
    let data_end = (loc.offset + u64::from(loc.size)) as usize;
    // Every truncation: an error before the base's last byte, the same base from then on.
    for cut in 0..dll.len() {
        match find_resource(&dll[..cut], 614, 1) {
            Ok(Some(b)) => {
                assert!(cut >= data_end, "cut {cut}: found a base before its end");
                assert_eq!(b, &base[..]);
            }
            Ok(None) => panic!("cut {cut}: a truncated PE reported 'no resource'"),
            Err(e) => {
                assert!(typed(&e), "cut {cut}: {e}");
                assert!(cut < data_end, "cut {cut}: {e}");
            }
        }
    }
    // Every single-bit flip of the headers and the resource directory: no panic, and anything that
    // is not an error is either the base or "absent" (a flipped id), never other bytes claimed as it.
    let rsrc = {
        let l = locate_resource(&SliceSource::new(dll.clone()), 16, 1, None)
            .unwrap()
            .unwrap();
        // The tree sits in front of the first data; the version resource is the first data.
        (l.offset as usize).saturating_sub(0x200)..l.offset as usize
    };
    let mut errors = 0;
    for pos in (0..0x200).chain(rsrc) {
        for bit in 0..8 {
            let mut d = dll.clone();
            d[pos] ^= 1 << bit;
            match find_resource(&d, 614, 1) {
                Err(e) => {
                    assert!(typed(&e), "byte {pos:#x} bit {bit}: {e}");
                    errors += 1;
                }
                Ok(Some(b)) if b == &base[..] => {}
                Ok(None) => {}
                Ok(Some(b)) => {
                    // A flipped size or RVA: still inside the file (checked), just not the base.
                    assert!(b.len() <= d.len(), "byte {pos:#x} bit {bit}");
                }
            }
        }
    }
    assert!(errors > 100, "only {errors} flips were errors");
}

/// Write `u32` at `at`.
fn put32(d: &mut [u8], at: usize, v: u32) {
    d[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

fn get32(d: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(d[at..at + 4].try_into().unwrap())
}

#[test]
fn crafted_resource_trees_are_malformed_with_offsets() {
    let ver = &spec_stacks("Winre.wim")[1].0;
    let dll = std::fs::read(wcp_dir().join(format!("wcp-{ver}.dll"))).unwrap();
    // Where things are, read from the headers independently of the code under test.
    let pe = get32(&dll, 0x3C) as usize;
    let opt = pe + 24;
    let nsec = u16::from_le_bytes([dll[pe + 6], dll[pe + 7]]) as usize;
    let opt_size = u16::from_le_bytes([dll[pe + 20], dll[pe + 21]]) as usize;
    let res_rva = get32(&dll, opt + 112 + 16);
    let sec = (0..nsec)
        .map(|i| opt + opt_size + 40 * i)
        .find(|&s| get32(&dll, s + 12) == res_rva)
        .unwrap();
    let rsrc = get32(&dll, sec + 20) as usize; // file offset of the table
    let malformed = |d: &[u8], want: &str| {
        let e = find_resource(d, 614, 1).unwrap_err();
        match &e {
            Error::Malformed {
                structure, offset, ..
            } => {
                assert!(structure.contains(want), "{e}");
                assert!(*offset <= d.len() as u64, "{e}");
            }
            _ => panic!("expected malformed {want}: {e}"),
        }
        e
    };
    let at = |e: Error| match e {
        Error::Malformed { offset, .. } => offset,
        _ => unreachable!(),
    };
    // The root's entry for 614 is its second (ids ascending: 16, 614).
    let root_614 = rsrc + 16 + 8;
    assert_eq!(get32(&dll, root_614), 614);

    // Its subdirectory offset beyond the table.
    let mut d = dll.clone();
    put32(&mut d, root_614 + 4, 0x8000_0000 | 0x00FF_FFF0);
    assert_eq!(at(malformed(&d, "PE resource directory")), root_614 as u64);
    // A data entry where the name directory belongs.
    let mut d = dll.clone();
    let sub = get32(&dll, root_614 + 4);
    put32(&mut d, root_614 + 4, sub & 0x7FFF_FFFF);
    let e = malformed(&d, "PE resource directory entry");
    assert!(
        matches!(e, Error::Malformed { offset, .. } if offset == (root_614) as u64),
        "{e}"
    );
    // A fourth level: the language entry pointing at a subdirectory.
    let name_dir = rsrc + (sub & 0x7FFF_FFFF) as usize;
    let lang_dir = rsrc + (get32(&dll, name_dir + 16 + 4) & 0x7FFF_FFFF) as usize;
    let mut d = dll.clone();
    let leaf = get32(&dll, lang_dir + 16 + 4);
    put32(&mut d, lang_dir + 16 + 4, 0x8000_0000 | leaf);
    malformed(&d, "PE resource directory entry");
    // The data RVA outside every section, and a size that runs past its section.
    let data_entry = rsrc + leaf as usize;
    let mut d = dll.clone();
    put32(&mut d, data_entry, 0x7000_0000);
    assert_eq!(at(malformed(&d, "PE resource data")), data_entry as u64);
    let mut d = dll.clone();
    put32(&mut d, data_entry + 4, 0x0100_0000);
    assert_eq!(at(malformed(&d, "PE resource data")), data_entry as u64);
    // An entry count that runs the entry array past the table.
    let mut d = dll.clone();
    d[rsrc + 14..rsrc + 16].copy_from_slice(&0xFFFFu16.to_le_bytes());
    malformed(&d, "PE resource directory entries");
    // The resource data directory pointing outside the file's sections.
    let mut d = dll.clone();
    put32(&mut d, opt + 112 + 16, 0x00F0_0000);
    assert_eq!(
        at(malformed(&d, "PE resource directory")),
        (opt + 112 + 16) as u64
    );
    // Not a PE at all, and a PE without resources.
    assert!(matches!(
        find_resource(b"MZ", 614, 1),
        Err(Error::Truncated { .. })
    ));
    let mut d = dll.clone();
    put32(&mut d, opt + 112 + 16, 0);
    put32(&mut d, opt + 112 + 20, 0);
    assert_eq!(find_resource(&d, 614, 1).unwrap(), None);
}

fn open(p: &Path) -> SharedReader {
    Arc::new(FileSource::open(p).unwrap())
}

fn base_of(path: &Path, layers: &[&str]) -> mediaprep_core::Result<BaseManifest> {
    let layers: Vec<String> = layers.iter().map(|s| s.to_string()).collect();
    base_from_media(open(path), &path.display().to_string(), &layers, 1)
}

#[test]
fn base_from_winre_is_the_newest_stacks() {
    let stacks = spec_stacks("Winre.wim");
    assert_eq!(stacks.len(), 2);
    let (old_ver, old_folder) = &stacks[0];
    let (new_ver, new_folder) = &stacks[1];
    // Text comparison would pick the older one: the fixture is built so.
    assert!(old_ver > new_ver, "{old_ver} vs {new_ver}");
    let want = std::fs::read(wcp_dir().join(format!("base-{new_ver}.bin"))).unwrap();
    let older = std::fs::read(wcp_dir().join(format!("base-{old_ver}.bin"))).unwrap();
    assert_ne!(want, older);

    let wim = fixture("Winre.wim");
    // Both stacks are really in the image, per wimlib.
    let dir = wimlib_dir(&wim, 1);
    for f in [old_folder, new_folder] {
        assert!(dir.contains(&format!("/Windows/WinSxS/{f}/wcp.dll")), "{f}");
    }
    let b = base_of(&wim, &[]).unwrap();
    assert_eq!(b.bytes, want);
    assert_eq!(b.sha256_hex(), hex(&sha256(&want)));
    let BaseSource::Image { wcp, stack, stacks } = &b.source else {
        panic!("{:?}", b.source)
    };
    assert_eq!(wcp.path, format!("/Windows/WinSxS/{new_folder}/wcp.dll"));
    assert_eq!(&stack.version, new_ver);
    assert_eq!(&stack.folder, new_folder);
    assert_eq!(wcp.file_version.as_deref(), Some(new_ver.as_str()));
    // The wcp.dll read is the one wimlib extracts.
    let dll = wimlib_extract(&wim, 1, &wcp.path);
    assert_eq!(wcp.size, dll.len() as u64);
    assert_eq!(
        &dll[wcp.resource_offset as usize..][..want.len()],
        &want[..]
    );
    let names: Vec<&str> = stacks.iter().map(|s| s.folder.as_str()).collect();
    assert_eq!(names, vec![new_folder.as_str(), old_folder.as_str()]);

    // The same WinRE nested in install.wim inside the UDF ISO, and the stale variant (8037).
    let nested = base_of(
        &fixture("media-udf.iso"),
        &[
            "/sources/install.wim",
            "1:/Windows/System32/Recovery/Winre.wim",
        ],
    )
    .unwrap();
    assert_eq!(nested.bytes, want);
    let stale = base_of(&fixture("Winre-stale.wim"), &[]).unwrap();
    let BaseSource::Image { stack, .. } = &stale.source else {
        panic!()
    };
    assert_eq!(stack.version, "10.0.26100.8037");
    assert_eq!(stale.bytes, want, "same synthetic revision, newer stack");
}

#[test]
fn images_without_a_usable_stack_are_refused_by_name() {
    // Winre-fileonly.wim has a WinSxS but no servicing stack.
    let e = base_of(&fixture("Winre-fileonly.wim"), &[]).unwrap_err();
    assert!(
        matches!(&e, Error::NotFound { name: m, .. } if m.contains("no servicing stack")),
        "{e}"
    );
    // install.wim's editions have no WinSxS at all.
    let e = base_of(&fixture("install.wim"), &[]).unwrap_err();
    assert!(matches!(&e, Error::NotFound { .. }), "{e}");
    // An ISO without layers names what to add.
    let e = base_of(&fixture("media-udf.iso"), &[]).unwrap_err();
    assert!(e.to_string().contains("add layers"), "{e}");

    // A wcp.dll without resource 614/1: a WIM whose only stack holds libwine's kernel32.dll as wcp.dll.
    let t = tempfile::tempdir().unwrap();
    let folder = "amd64_microsoft-windows-servicingstack_31bf3856ad364e35_10.0.26100.5_none_0123456789abcdef";
    let d = t.path().join("tree/Windows/WinSxS").join(folder);
    std::fs::create_dir_all(&d).unwrap();
    std::fs::copy(fixtures().join("pe/kernel32.dll"), d.join("wcp.dll")).unwrap();
    let wim = t.path().join("nores.wim");
    wimlib_capture(&t.path().join("tree"), &wim, &["x"]);
    let e = base_of(&wim, &[]).unwrap_err();
    assert!(
        matches!(&e, Error::NotFound { name: m, .. } if m.contains(folder) && m.contains("614") && m.contains("10.0.26100.5")),
        "{e}"
    );
}

#[test]
fn raw_base_and_wcp_dll_files_both_work() {
    let ver = &spec_stacks("Winre.wim")[1].0;
    let base_path = wcp_dir().join(format!("base-{ver}.bin"));
    let dll_path = wcp_dir().join(format!("wcp-{ver}.dll"));
    let want = std::fs::read(&base_path).unwrap();
    let raw = base_of(&base_path, &[]).unwrap();
    assert_eq!(raw.bytes, want);
    assert!(matches!(raw.source, BaseSource::RawFile { .. }));
    let wcp = base_of(&dll_path, &[]).unwrap();
    assert_eq!(wcp.bytes, want);
    let BaseSource::WcpFile { wcp: info } = &wcp.source else {
        panic!("{:?}", wcp.source)
    };
    assert_eq!(info.file_version.as_deref(), Some(ver.as_str()));
    assert_eq!(info.size, std::fs::metadata(&dll_path).unwrap().len());
    // A PE without 614/1 given as a file: named, not found.
    let e = base_of(&fixtures().join("pe/kernel32.dll"), &[]).unwrap_err();
    assert!(
        matches!(&e, Error::NotFound { name: m, .. } if m.contains("kernel32.dll")),
        "{e}"
    );
}

/// `../shared/testdata/msdelta/dcm/base_manifest.bin`, or `None` (skip) when the folder is missing
/// outside CI.
fn genuine_base() -> Option<Vec<u8>> {
    let p = workspace().join("../shared/testdata/msdelta/dcm/base_manifest.bin");
    match std::fs::read(&p) {
        Ok(b) => Some(b),
        Err(e) if std::env::var_os("CI").is_none() => {
            eprintln!("SKIPPED: {} unavailable ({e})", p.display());
            None
        }
        Err(e) => panic!("{}: {e} (required when CI is set)", p.display()),
    }
}

#[test]
fn genuine_base_wrapped_in_a_pe_and_an_image_reads_back_byte_for_byte() {
    let Some(genuine) = genuine_base() else {
        return;
    };
    assert_eq!(genuine.len(), 9066, "SOURCES.md gives 9,066 bytes");
    let t = tempfile::tempdir().unwrap();
    let folder = "amd64_microsoft-windows-servicingstack_31bf3856ad364e35_10.0.26100.7309_none_0123456789abcdef";
    let sxs = t.path().join("tree/Windows/WinSxS").join(folder);
    std::fs::create_dir_all(&sxs).unwrap();
    let dll = sxs.join("wcp.dll");
    let src = workspace().join("../shared/testdata/msdelta/dcm/base_manifest.bin");
    run(
        "python3",
        &[
            workspace()
                .join("scripts/fixtures.d/wcp_dll.py")
                .to_str()
                .unwrap(),
            dll.to_str().unwrap(),
            "--version",
            "10.0.26100.7309",
            "--base",
            src.to_str().unwrap(),
        ],
    );
    let bytes = std::fs::read(&dll).unwrap();
    assert_eq!(find_resource(&bytes, 614, 1).unwrap(), Some(&genuine[..]));
    // pefile agrees on where it is.
    let (_, leaves) = oracle(std::slice::from_ref(&dll)).remove(0);
    let (_, off, size) = leaves[&(614, 1)][0];
    assert_eq!(&bytes[off as usize..][..size as usize], &genuine[..]);

    // Through an image, as a manifest decoder will take it.
    let wim = t.path().join("genuine.wim");
    wimlib_capture(&t.path().join("tree"), &wim, &["x", "--compress=LZX"]);
    let b = base_of(&wim, &[]).unwrap();
    assert_eq!(b.bytes, genuine);
    assert_eq!(b.sha256_hex(), hex(&sha256(&genuine)));
}

fn sha256(d: &[u8]) -> [u8; 32] {
    mediaprep_core::hash::sha256(d)
}

fn hex(d: &[u8]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}
