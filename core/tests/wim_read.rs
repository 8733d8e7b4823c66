//! WIM reader tests against wimlib-imagex (the independent oracle): header/XML facts vs `info`,
//! file lists vs `dir`, file bytes, sizes and link counts vs `apply`, on shared samples and on WIMs
//! that wimlib generates here from trees built in a temp dir. Plus malformed inputs: every one must
//! give an `Err`, never a panic or a hang.

use mediaprep_core::codec::Compression;
use mediaprep_core::hash::sha1;
use mediaprep_core::io::{FileSource, NoProgress, ReadAt, SharedReader, SliceSource};
use mediaprep_core::wim::model::{ImageTree, ZERO_HASH};
use mediaprep_core::wim::{Arch, Wim};
use mediaprep_core::Error;
use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

mod common;

use common::{s, wimlib, wimlib_accepts, Rng};
use std::sync::Arc;

const SAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/testdata/wim");

fn sample(name: &str) -> PathBuf {
    Path::new(SAMPLES).join(name)
}

fn src(p: &Path) -> SharedReader {
    Arc::new(FileSource::open(p).unwrap())
}

/// `wimlib-imagex info` → (WIM-level fields, per-image fields).
type InfoMap = HashMap<String, String>;
fn oracle_info(p: &Path) -> (InfoMap, Vec<InfoMap>) {
    let text = wimlib(&["info", s(p)]);
    let mut top = HashMap::new();
    let mut images: Vec<HashMap<String, String>> = Vec::new();
    for line in text.lines() {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let (k, v) = (k.trim().to_string(), v.trim().to_string());
        if k == "Index" {
            images.push(HashMap::new());
        }
        match images.last_mut() {
            Some(m) => {
                m.insert(k, v);
            }
            None => {
                top.insert(k, v);
            }
        }
    }
    (top, images)
}

fn oracle_header(p: &Path) -> HashMap<String, String> {
    wimlib(&["info", "--header", s(p)])
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

fn oracle_dir(p: &Path, image: u32) -> Vec<String> {
    let mut v: Vec<String> = wimlib(&["dir", s(p), &image.to_string()])
        .lines()
        .map(|l| l.to_string())
        .collect();
    v.sort();
    v
}

/// Compare WIM-level and per-image facts with `wimlib-imagex info` and `info --header`.
fn check_info(w: &Wim, p: &Path) {
    let (top, imgs) = oracle_info(p);
    let hdr = oracle_header(p);
    assert_eq!(top["Image Count"], w.images().len().to_string());
    assert_eq!(top["Compression"], w.compression().name());
    assert_eq!(top["Boot Index"], w.boot_index().to_string());
    assert_eq!(top["Chunk Size"], format!("{} bytes", w.chunk_size()));
    assert_eq!(
        top["Part Number"],
        format!("{}/{}", w.header().part_number, w.header().total_parts)
    );
    assert_eq!(hdr["Flags"], format!("{:#x}", w.header().flags));
    assert_eq!(
        hdr["Blob Table Offset"],
        w.header().blob_table.offset.to_string()
    );
    assert_eq!(hdr["GUID"], mediaprep_core::hash::hex(&w.header().guid));
    assert_eq!(imgs.len(), w.images().len());
    for (o, i) in imgs.iter().zip(w.images()) {
        assert_eq!(o["Index"], i.index.to_string());
        assert_eq!(o["Name"], i.name.clone().unwrap_or_default());
        assert_eq!(o["Directory Count"], i.dir_count.unwrap().to_string());
        assert_eq!(o["File Count"], i.file_count.unwrap().to_string());
        assert_eq!(o["Total Bytes"], i.total_bytes.unwrap().to_string());
        assert_eq!(o["Hard Link Bytes"], i.hardlink_bytes.unwrap().to_string());
        if let Some(a) = o.get("Architecture") {
            assert_eq!(a, &arch_name_wimlib(i.arch));
        }
        if let Some(b) = o.get("Build") {
            assert_eq!(b, &i.build.unwrap().to_string());
        }
        if let Some(b) = o.get("Service Pack Build") {
            assert_eq!(b, &i.spbuild.unwrap().to_string());
        }
        if let Some(e) = o.get("Edition ID") {
            assert_eq!(e, i.edition.as_deref().unwrap());
        }
        if let Some(e) = o.get("Default Language") {
            assert_eq!(e, i.default_language.as_deref().unwrap());
        }
        if let Some(e) = o.get("Languages") {
            assert_eq!(e, &i.languages.join(" "));
        }
    }
}

fn arch_name_wimlib(a: Option<Arch>) -> String {
    match a {
        Some(Arch::X86) => "x86",
        Some(Arch::X64) => "x86_64",
        Some(Arch::Arm) => "ARM",
        Some(Arch::Arm64) => "ARM64",
        Some(Arch::Ia64) => "ia64",
        None => "?",
    }
    .to_string()
}

/// Our paths, sorted, in wimlib `dir` form.
fn our_paths(t: &ImageTree) -> Vec<String> {
    let mut v: Vec<String> = t.walk().into_iter().map(|i| t.path_of(i)).collect();
    v.sort();
    v
}

/// Link count of every node per the hard-link rules (same non-zero group and same data hash).
fn link_counts(t: &ImageTree) -> Vec<u64> {
    let mut groups: HashMap<(u64, [u8; 20]), u64> = HashMap::new();
    for d in &t.nodes {
        if d.hard_link_group != 0 && !d.is_dir() && !d.is_reparse() {
            *groups
                .entry((d.hard_link_group, d.data.unwrap_or(ZERO_HASH)))
                .or_default() += 1;
        }
    }
    t.nodes
        .iter()
        .map(|d| {
            if d.hard_link_group != 0 && !d.is_dir() && !d.is_reparse() {
                groups[&(d.hard_link_group, d.data.unwrap_or(ZERO_HASH))]
            } else {
                1
            }
        })
        .collect()
}

/// Full comparison of one image: `dir` listing, then `apply` and compare every node.
fn check_image(w: &Wim, p: &Path, image: u32) -> ImageTree {
    let t = w.image_tree(image).unwrap();
    assert_eq!(
        our_paths(&t),
        oracle_dir(p, image),
        "dir listing of image {image}"
    );
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("out");
    wimlib(&["apply", s(p), &image.to_string(), s(&dest)]);
    compare_tree_with_dir(w, &t, &dest);
    t
}

fn compare_tree_with_dir(w: &Wim, t: &ImageTree, dest: &Path) {
    let links = link_counts(t);
    let mut files = 0;
    for i in t.walk().into_iter().skip(1) {
        let d = &t.nodes[i];
        let rel = t.path_of(i);
        let fp = dest.join(rel.trim_start_matches('/'));
        let md = fs::symlink_metadata(&fp).unwrap_or_else(|e| panic!("{rel}: {e}"));
        if d.is_reparse() {
            assert!(md.file_type().is_symlink(), "{rel} should be a symlink");
            assert!(d.reparse.is_some());
            continue;
        }
        if d.is_dir() {
            assert!(md.is_dir(), "{rel} should be a directory");
            continue;
        }
        assert!(md.is_file(), "{rel} should be a file");
        let want = fs::read(&fp).unwrap();
        let r = w.open_data(d).unwrap();
        assert_eq!(r.size(), want.len() as u64, "size of {rel}");
        let mut got = vec![0u8; want.len()];
        r.read_at(0, &mut got).unwrap();
        assert!(got == want, "content of {rel}");
        if let Some(h) = d.data.filter(|h| *h != ZERO_HASH) {
            assert_eq!(h, sha1(&want), "hash of {rel}");
            let mut out = Vec::new();
            assert_eq!(
                w.copy_blob(&h, &mut out, &NoProgress).unwrap(),
                want.len() as u64
            );
            assert!(out == want);
            // Random access: a few unaligned windows.
            for (off, len) in [
                (1usize, 7usize),
                (want.len() / 3, 5000),
                (want.len().saturating_sub(3), 3),
            ] {
                if off + len <= want.len() {
                    let mut b = vec![0u8; len];
                    r.read_at(off as u64, &mut b).unwrap();
                    assert!(b[..] == want[off..off + len], "window {off}+{len} of {rel}");
                }
            }
        }
        assert_eq!(md.nlink(), links[i], "link count of {rel}");
        files += 1;
    }
    assert!(files > 0 || t.nodes.len() == 1);
}

/// Deterministic pseudo-random bytes (incompressible test data).
fn noise(seed: u64, len: usize) -> Vec<u8> {
    Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1).bytes(len, 24)
}

/// A tree with the cases that matter: hard links, symlinks, empty files and dirs, unicode names,
/// a deep path, many files, compressible and incompressible data spanning several chunks.
fn make_tree(root: &Path, many: usize, big: usize) {
    fs::create_dir_all(root.join("Windows/System32/Recovery")).unwrap();
    fs::create_dir_all(root.join("empty_dir")).unwrap();
    fs::write(root.join("empty.txt"), b"").unwrap();
    fs::write(root.join("hello.txt"), b"hello world\n").unwrap();
    let text: Vec<u8> = (0..(big / 4) as u32)
        .flat_map(|i| format!("line {i} of some compressible text\n").into_bytes())
        .collect();
    fs::write(root.join("Windows/System32/text.log"), &text).unwrap();
    fs::write(root.join("Windows/System32/noise.bin"), noise(7, big)).unwrap();
    fs::write(root.join("Windows/dup_a.bin"), noise(9, 70_000)).unwrap();
    fs::write(root.join("Windows/dup_b.bin"), noise(9, 70_000)).unwrap();
    fs::write(root.join("linked.txt"), b"I have three names").unwrap();
    fs::hard_link(root.join("linked.txt"), root.join("Windows/link2.txt")).unwrap();
    fs::hard_link(root.join("linked.txt"), root.join("empty_dir/../link3.txt")).unwrap();
    std::os::unix::fs::symlink("hello.txt", root.join("sym_rel")).unwrap();
    std::os::unix::fs::symlink("Windows", root.join("sym_dir")).unwrap();
    std::os::unix::fs::symlink("does/not/exist", root.join("sym_dangling")).unwrap();
    for name in [
        "Ärger.txt",
        "日本語のファイル.txt",
        "emoji_😀.bin",
        "MiXeD CaSe.TXT",
    ] {
        fs::write(root.join(name), name.as_bytes()).unwrap();
    }
    let mut deep = root.join("deep");
    for i in 0..40 {
        deep = deep.join(format!("level{i:02}"));
    }
    fs::create_dir_all(&deep).unwrap();
    fs::write(deep.join("bottom.txt"), b"deep").unwrap();
    let many_dir = root.join("many");
    fs::create_dir_all(&many_dir).unwrap();
    for i in 0..many {
        fs::write(
            many_dir.join(format!("f{i:05}.dat")),
            format!("file {i}").repeat(i % 13),
        )
        .unwrap();
    }
}

fn capture(dir: &Path, wim: &Path, extra: &[&str]) {
    let mut args = vec!["capture", s(dir), s(wim), "img1"];
    args.extend_from_slice(extra);
    wimlib(&args);
}

fn generated(extra: &[&str], many: usize, big: usize) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let tree = tmp.path().join("tree");
    make_tree(&tree, many, big);
    let wim = tmp.path().join("t.wim");
    capture(&tree, &wim, extra);
    (tmp, wim)
}

fn full_check(p: &Path) -> Wim {
    let w = Wim::open(src(p)).unwrap();
    check_info(&w, p);
    for i in 1..=w.images().len() as u32 {
        check_image(&w, p, i);
    }
    let rep = w.verify_blobs(&NoProgress).unwrap();
    assert!(rep.failures.is_empty(), "{:?}", rep.failures);
    assert_eq!(rep.ok as usize, w.blobs().count());
    w
}

// ---------- generated WIMs ----------

#[test]
fn uncompressed_tree() {
    let (_t, p) = generated(&["--compress=none"], 300, 300_000);
    let w = full_check(&p);
    assert_eq!(w.compression(), Compression::None);
    assert_eq!(w.check_integrity(&NoProgress).unwrap(), None);
    // open_file convenience and case-insensitive lookup.
    let (d, r) = w.open_file(1, "/HELLO.TXT").unwrap();
    assert_eq!(d.name_string(), "hello.txt");
    let mut b = vec![0u8; r.size() as usize];
    r.read_at(0, &mut b).unwrap();
    assert_eq!(b, b"hello world\n");
    assert!(matches!(
        w.open_file(1, "/nope"),
        Err(Error::NotFound { .. })
    ));
    assert!(w.image_tree(2).is_err());
    assert!(w.image_tree(0).is_err());
}

#[test]
fn xpress_tree() {
    let (_t, p) = generated(&["--compress=XPRESS"], 100, 200_000);
    let w = full_check(&p);
    assert_eq!(w.compression(), Compression::Xpress);
}

#[test]
fn lzx_tree() {
    let (_t, p) = generated(&["--compress=LZX"], 100, 200_000);
    let w = full_check(&p);
    assert_eq!(w.compression(), Compression::Lzx);
}

#[test]
fn lzms_tree() {
    let (_t, p) = generated(&["--compress=LZMS"], 100, 200_000);
    let w = full_check(&p);
    assert_eq!(w.compression(), Compression::Lzms);
    assert!(!w.is_solid());
}

#[test]
fn solid_tree() {
    let (_t, p) = generated(&["--solid"], 200, 300_000);
    let w = full_check(&p);
    assert!(w.is_solid());
    assert_eq!(w.header().version, 0xE00);
    let h = w.blobs().find(|b| !b.is_metadata).unwrap().hash;
    let raw = w.raw_resource(&h).unwrap();
    assert!(raw.solid);
}

#[test]
fn many_files_uncompressed() {
    let (_t, p) = generated(&["--compress=none"], 5000, 1000);
    let w = Wim::open(src(&p)).unwrap();
    let t = w.image_tree(1).unwrap();
    assert_eq!(our_paths(&t), oracle_dir(&p, 1));
}

#[test]
fn multi_image_and_properties() {
    let (tmp, p) = generated(&["--compress=none"], 10, 1000);
    let other = tmp.path().join("other");
    fs::create_dir_all(other.join("sub")).unwrap();
    fs::write(other.join("sub/x.txt"), b"second image").unwrap();
    wimlib(&["append", s(&other), s(&p), "second", "--compress=none"]);
    wimlib(&["append", s(&other), s(&p), "third"]);
    for (k, v) in [
        ("WINDOWS/VERSION/MAJOR", "10"),
        ("WINDOWS/VERSION/MINOR", "0"),
        ("WINDOWS/VERSION/BUILD", "26100"),
        ("WINDOWS/VERSION/SPBUILD", "1742"),
        ("WINDOWS/ARCH", "9"),
        ("WINDOWS/EDITIONID", "WindowsPE"),
        ("WINDOWS/LANGUAGES/LANGUAGE", "en-US"),
        ("WINDOWS/LANGUAGES/DEFAULT", "en-US"),
        ("WINDOWS/INSTALLATIONTYPE", "WindowsPE"),
    ] {
        wimlib(&["info", s(&p), "2", "--image-property", &format!("{k}={v}")]);
    }
    wimlib(&["info", s(&p), "3", "--image-property", "WINDOWS/ARCH=12"]);
    wimlib(&["info", s(&p), "--boot", "2"]);
    let w = full_check(&p);
    assert_eq!(w.images().len(), 3);
    assert_eq!(w.boot_index(), 2);
    let i2 = &w.images()[1];
    assert_eq!(i2.name.as_deref(), Some("second"));
    assert_eq!(i2.version_string().as_deref(), Some("10.0.26100.1742"));
    assert_eq!(i2.arch, Some(Arch::X64));
    assert_eq!(i2.edition.as_deref(), Some("WindowsPE"));
    assert_eq!(i2.installation_type.as_deref(), Some("WindowsPE"));
    assert_eq!(i2.languages, vec!["en-US"]);
    assert_eq!(w.images()[2].arch, Some(Arch::Arm64));
    assert_eq!(w.images()[0].arch, None);
    assert!(w.xml_text().contains("<BUILD>26100</BUILD>"));
    // Images 2 and 3 hold the same tree.
    assert_eq!(
        our_paths(&w.image_tree(2).unwrap()),
        our_paths(&w.image_tree(3).unwrap())
    );
}

/// `bytes` (a damaged copy of the WIM at `p`) written beside it; wimlib must reject it before the
/// test asks our reader.
fn damaged_copy(p: &Path, bytes: &[u8]) -> PathBuf {
    let bad = p.with_extension("bad.wim");
    fs::write(&bad, bytes).unwrap();
    assert!(
        !wimlib_accepts(&bad),
        "wimlib must reject {}",
        bad.display()
    );
    bad
}

#[test]
fn integrity_table() {
    let (_t, p) = generated(&["--compress=none", "--check"], 20, 50_000);
    let w = Wim::open(src(&p)).unwrap();
    assert_eq!(w.check_integrity(&NoProgress).unwrap(), Some(true));
    // Flip a byte inside a file resource: wimlib's verdict, then ours.
    let mut bytes = fs::read(&p).unwrap();
    bytes[300] ^= 0x40;
    let bad = damaged_copy(&p, &bytes);
    let w = Wim::open(src(&bad)).unwrap();
    assert_eq!(w.check_integrity(&NoProgress).unwrap(), Some(false));
    let rep = w.verify_blobs(&NoProgress).unwrap();
    assert_eq!(rep.failures.len(), 1, "one blob's SHA-1 must mismatch");
    let h = mediaprep_core::hash::unhex(&rep.failures[0].0).unwrap();
    let h: [u8; 20] = h.try_into().unwrap();
    assert!(matches!(
        w.copy_blob(&h, &mut Vec::new(), &NoProgress),
        Err(Error::DigestMismatch { .. })
    ));
}

#[test]
fn split_set() {
    let (tmp, p) = generated(&["--compress=none"], 30, 3_000_000);
    let swm = tmp.path().join("set.swm");
    wimlib(&["split", s(&p), s(&swm), "1"]);
    let mut parts: Vec<PathBuf> = fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "swm"))
        .collect();
    parts.sort();
    assert!(parts.len() >= 3, "expected several parts, got {parts:?}");
    // Any order.
    let readers: Vec<SharedReader> = parts.iter().rev().map(|p| src(p)).collect();
    let w = Wim::open_split(readers).unwrap();
    assert_eq!(w.part_count() as usize, parts.len());
    let t = check_image(&w, &p, 1);
    assert_eq!(our_paths(&t), oracle_dir(&swm, 1));
    assert!(w.blobs().any(|b| b.part > 1));
    // One part alone, or a set with a part missing, is a clear error naming it.
    let e = Wim::open(src(&swm)).err().unwrap().to_string();
    assert!(e.contains("missing part"), "{e}");
    let readers: Vec<SharedReader> = parts[..parts.len() - 1].iter().map(|p| src(p)).collect();
    let e = Wim::open_split(readers).err().unwrap().to_string();
    assert!(e.contains(&format!("{}", parts.len())), "{e}");
}

#[test]
fn nested_wim() {
    let tmp = tempfile::tempdir().unwrap();
    let inner_tree = tmp.path().join("inner");
    make_tree(&inner_tree, 20, 100_000);
    let inner = tmp.path().join("inner.wim");
    capture(&inner_tree, &inner, &["--compress=none"]);
    let outer_tree = tmp.path().join("outer");
    let rec = outer_tree.join("Windows/System32/Recovery");
    fs::create_dir_all(&rec).unwrap();
    fs::copy(&inner, rec.join("Winre.wim")).unwrap();
    let outer = tmp.path().join("outer.wim");
    capture(&outer_tree, &outer, &["--compress=none"]);
    let w = Wim::open(src(&outer)).unwrap();
    let (_d, r) = w
        .open_file(1, "/windows/system32/recovery/winre.wim")
        .unwrap();
    let nested = Wim::open(Arc::new(r)).unwrap();
    let t = nested.image_tree(1).unwrap();
    assert_eq!(our_paths(&t), oracle_dir(&inner, 1));
    let dest = tmp.path().join("applied");
    wimlib(&["apply", s(&inner), "1", s(&dest)]);
    compare_tree_with_dir(&nested, &t, &dest);
}

// ---------- shared samples ----------

#[test]
fn sample_headers_and_xml() {
    for name in [
        "BootLZX.wim",
        "BootXPRESS.wim",
        "LZMS.wim",
        "LZX.wim",
        "XPRESS.wim",
        "MultiImage.wim",
        "VerifySuccess.wim",
    ] {
        let p = sample(name);
        let w = Wim::open(src(&p)).unwrap_or_else(|e| panic!("{name}: {e}"));
        check_info(&w, &p);
    }
    let w = Wim::open(src(&sample("BootLZX.wim"))).unwrap();
    assert_eq!(w.boot_index(), 1);
    let w = Wim::open(src(&sample("LZMS.wim"))).unwrap();
    assert!(w.is_solid());
    let w = Wim::open(src(&sample("MultiImage.wim"))).unwrap();
    assert_eq!(w.images().len(), 3);
    assert_eq!(w.check_integrity(&NoProgress).unwrap(), Some(true));
}

#[test]
fn sample_uncompressed_contents() {
    // wimlib-corrupted_file_1.wim is uncompressed; its one file's data is damaged, which only
    // the SHA-1 check reveals.
    let p = sample("wimlib-corrupted_file_1.wim");
    let w = Wim::open(src(&p)).unwrap();
    let t = w.image_tree(1).unwrap();
    assert_eq!(our_paths(&t), oracle_dir(&p, 1));
    let rep = w.verify_blobs(&NoProgress).unwrap();
    assert_eq!(
        rep.failures.is_empty(),
        wimlib_accepts(&p),
        "{:?}",
        rep.failures
    );
}

#[test]
fn sample_split_set() {
    let p1 = sample("Split.swm");
    let p2 = sample("Split2.swm");
    let e = Wim::open(src(&p1))
        .err()
        .expect("part 1 alone must fail")
        .to_string();
    assert!(
        e.contains("part 1 of a 2-part") && e.contains("missing part 2"),
        "{e}"
    );
    let e = Wim::open_split(vec![src(&p1)]).err().unwrap().to_string();
    assert!(e.contains("part 2 of 2"), "{e}");
    let w = Wim::open_split(vec![src(&p2), src(&p1)]).unwrap();
    assert_eq!(w.part_count(), 2);
    assert_eq!(w.images().len(), 1);
}

#[test]
fn sample_duplicate_names_rejected() {
    let w = Wim::open(src(&sample("wimlib-duplicate_names.wim"))).unwrap();
    let e = w.image_tree(1).expect_err("duplicate names are invalid");
    assert!(e.to_string().contains("duplicate"), "{e}");
}

// Compressed samples: need the codecs.
#[test]
fn sample_contents_compressed() {
    for name in [
        "BootLZX.wim",
        "BootXPRESS.wim",
        "LZX.wim",
        "XPRESS.wim",
        "MultiImage.wim",
        "LZMS.wim",
        "wimlib-empty_dacl.wim",
        "wimlib-linux_xattrs_old.wim",
    ] {
        let p = sample(name);
        let w = Wim::open(src(&p)).unwrap();
        for i in 1..=w.images().len() as u32 {
            let t = w
                .image_tree(i)
                .unwrap_or_else(|e| panic!("{name} image {i}: {e}"));
            assert_eq!(our_paths(&t), oracle_dir(&p, i), "{name}");
        }
        let rep = w.verify_blobs(&NoProgress).unwrap();
        assert!(rep.failures.is_empty(), "{name}: {:?}", rep.failures);
    }
    let w = Wim::open(src(&sample("VerifyFail.wim"))).unwrap();
    let bad = w.verify_blobs(&NoProgress).unwrap().failures.len()
        + usize::from(w.check_integrity(&NoProgress).unwrap() == Some(false));
    assert!(bad > 0, "VerifyFail.wim must fail verification");
    let w = Wim::open(src(&sample("wimlib-corrupted_file_2.wim"))).unwrap();
    assert!(!w.verify_blobs(&NoProgress).unwrap().failures.is_empty());
}

// ---------- malformed ----------

/// Exercise everything a reader does; any `Err` is fine, a panic or hang is not.
fn poke(bytes: Vec<u8>) {
    let Ok(w) = Wim::open(Arc::new(SliceSource::new(bytes))) else {
        return;
    };
    for i in 1..=w.images().len() as u32 {
        if let Ok(t) = w.image_tree(i) {
            for d in &t.nodes {
                if let Ok(r) = w.open_data(d) {
                    let mut b = vec![0u8; r.size().min(1 << 16) as usize];
                    let _ = r.read_at(0, &mut b);
                }
            }
        }
    }
    let _ = w.verify_blobs(&NoProgress);
    let _ = w.check_integrity(&NoProgress);
}

fn mutations(p: &Path, seed: u64) {
    let orig = fs::read(p).unwrap();
    let w = Wim::open(src(p)).unwrap();
    let h = w.header().clone();
    // Truncations at many points, including inside each structure.
    let mut cuts: Vec<usize> = (0..orig.len()).step_by((orig.len() / 200).max(1)).collect();
    for r in [h.blob_table, h.xml, h.integrity] {
        cuts.extend([r.offset as usize, (r.offset + r.size_in_wim / 2) as usize]);
    }
    for c in cuts {
        let c = c.min(orig.len().saturating_sub(1));
        let res = Wim::open(Arc::new(SliceSource::new(orig[..c].to_vec())));
        assert!(res.is_err() || c >= h.xml.offset as usize + h.xml.size_in_wim as usize);
        poke(orig[..c].to_vec());
    }
    // Seeded bit flips, focused on the header, blob table, XML and everything else.
    let mut rng = noise(seed, 4096).into_iter();
    let mut next = || {
        let mut v = 0u64;
        for _ in 0..4 {
            v = v << 8 | rng.next().unwrap_or(1) as u64;
        }
        v
    };
    let regions = [
        (0usize, 208usize),
        (
            h.blob_table.offset as usize,
            h.blob_table.size_in_wim as usize,
        ),
        (h.xml.offset as usize, h.xml.size_in_wim as usize),
        (208, orig.len() - 208),
    ];
    // WIMREAD_FUZZ_ROUNDS raises the count for a longer local soak.
    let rounds: usize = std::env::var("WIMREAD_FUZZ_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(400);
    for round in 0..rounds {
        let (start, len) = regions[round % regions.len()];
        if len == 0 {
            continue;
        }
        let mut b = orig.clone();
        for _ in 0..(1 + round % 3) {
            let at = start + (next() as usize % len);
            if at < b.len() {
                b[at] ^= 1 << (next() % 8);
            }
        }
        poke(b);
    }
}

#[test]
fn malformed_generated() {
    let (_t, p) = generated(&["--compress=none", "--check"], 5, 3000);
    mutations(&p, 1);
    let (_t, p) = generated(&["--solid"], 5, 3000);
    mutations(&p, 2);
    let (_t, p) = generated(&["--compress=LZX"], 5, 3000);
    mutations(&p, 3);
}

#[test]
fn malformed_samples_and_junk() {
    for name in ["MultiImage.wim", "LZMS.wim", "BootXPRESS.wim"] {
        mutations(&sample(name), name.len() as u64);
    }
    assert!(Wim::open(Arc::new(SliceSource::new(Vec::new()))).is_err());
    for seed in 0..50 {
        let mut junk = noise(seed, 4096);
        poke(junk.clone());
        // Junk behind a valid-looking magic.
        junk[..8].copy_from_slice(b"MSWIM\0\0\0");
        junk[8..12].copy_from_slice(&208u32.to_le_bytes());
        poke(junk);
    }
}

#[test]
fn nested_reader_is_shareable_across_threads() {
    let p = sample("MultiImage.wim");
    let w = Arc::new(Wim::open(src(&p)).unwrap());
    let handles: Vec<_> = (0..2)
        .map(|_| {
            let w = w.clone();
            std::thread::spawn(move || w.check_integrity(&NoProgress).unwrap())
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), Some(true));
    }
    let _unused: BTreeMap<u8, u8> = BTreeMap::new();
}

#[test]
fn corrupt_chunk_is_a_codec_error() {
    let (_t, p) = generated(&["--compress=LZX"], 5, 40_000);
    let w = Wim::open(src(&p)).unwrap();
    let t = w.image_tree(1).unwrap();
    let d = &t.nodes[t.lookup("/Windows/System32/text.log").unwrap()];
    let h = d.data.unwrap();
    let raw = w.raw_resource(&h).unwrap();
    assert_eq!(raw.compression, Compression::Lzx);
    assert!(
        raw.reshdr.flags & 0x04 != 0,
        "text.log must be stored compressed"
    );
    let n = raw.size.div_ceil(raw.chunk_size as u64);
    let first_chunk = raw.reshdr.offset + (n - 1) * 4;
    let mut bytes = fs::read(&p).unwrap();
    for b in &mut bytes[first_chunk as usize..first_chunk as usize + 64] {
        *b = 0xFF;
    }
    let bad = damaged_copy(&p, &bytes);
    let w = Wim::open(src(&bad)).unwrap();
    let r = w.open_blob(&h).unwrap();
    let mut buf = vec![0u8; 100];
    match r.read_at(0, &mut buf) {
        Err(Error::Codec { .. }) => {}
        other => panic!("expected a codec error, got {other:?}"),
    }
    // Later chunks are independent and still readable.
    let mut tail = vec![0u8; 10];
    r.read_at(r.size() - 10, &mut tail).unwrap();
    assert!(w.copy_blob(&h, &mut Vec::new(), &NoProgress).is_err());
    assert_eq!(w.verify_blobs(&NoProgress).unwrap().failures.len(), 1);
}

/// Throughput of `verify_blobs` (read + decode + SHA-1) vs `wimlib-imagex verify` on the same WIM.
/// Run with `--ignored --nocapture`; it prints numbers, it does not assert on speed.
#[test]
#[ignore]
fn throughput() {
    for comp in ["LZX", "XPRESS", "LZMS --solid"] {
        let tmp = tempfile::tempdir().unwrap();
        let tree = tmp.path().join("tree");
        fs::create_dir_all(&tree).unwrap();
        for lib in fs::read_dir("/usr/lib/x86_64-linux-gnu")
            .unwrap()
            .flatten()
            .take(400)
        {
            if lib.file_type().unwrap().is_file() {
                let _ = fs::copy(lib.path(), tree.join(lib.file_name()));
            }
        }
        let wim = tmp.path().join("t.wim");
        let mut args = vec!["capture", s(&tree), s(&wim), "x"];
        let flags = [format!("--compress={}", comp.split(' ').next().unwrap())];
        args.push(&flags[0]);
        if comp.contains("--solid") {
            args.push("--solid");
        }
        wimlib(&args);
        let w = Wim::open(src(&wim)).unwrap();
        let t0 = std::time::Instant::now();
        let rep = w.verify_blobs(&NoProgress).unwrap();
        let ours = t0.elapsed().as_secs_f64();
        assert!(rep.failures.is_empty());
        let t0 = std::time::Instant::now();
        wimlib(&["verify", s(&wim)]);
        let theirs = t0.elapsed().as_secs_f64();
        let mb = rep.bytes as f64 / 1e6;
        eprintln!(
            "{comp}: {mb:.0} MB: ours {:.0} MB/s ({ours:.2}s), wimlib verify {:.0} MB/s ({theirs:.2}s)",
            mb / ours,
            mb / theirs
        );
    }
}
