//! install.wim WinRE replacement and Setup DU expansion (issue #5 outputs 4b and 4c), checked with
//! wimlib-imagex, 7zz, cabextract and sha256sum rather than with our own reader.

mod common;

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use common::{
    diff_trees, dir_names, field, fixture, info_header, info_images, run, sevenzip_paths,
    wimlib_apply, wimlib_extract, wimlib_info, wimlib_verify,
};
use mediaprep_core::io::{FileSource, NoProgress, Progress, SharedReader};
use mediaprep_core::package::{open_package, Expected};
use mediaprep_core::service::install::{
    replace_winre, ImageOutcome, InstallOptions, InstallSummary, NewWinre, WinreReplacement,
    WINRE_PATH,
};
use mediaprep_core::service::setup::{self, SetupSink, ZipOptions};
use mediaprep_core::wim::read::Wim;
use mediaprep_core::wim::write::write_wim_file_checked;
use mediaprep_core::Error;

const WINRE_IN_IMAGE: &str = "/Windows/System32/Recovery/Winre.wim";
/// 2026-03-10 00:00:00 UTC as a FILETIME.
const MOD_TIME: u64 = 1_773_100_800 * 10_000_000 + 116_444_736_000_000_000;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn open_wim(paths: &[PathBuf]) -> Wim {
    let readers: Vec<SharedReader> = paths
        .iter()
        .map(|p| Arc::new(FileSource::open(p).unwrap()) as SharedReader)
        .collect();
    if readers.len() == 1 {
        Wim::open(readers[0].clone()).unwrap()
    } else {
        Wim::open_split(readers).unwrap()
    }
}

/// Write the replacement to `out` the way the CLI does: temp file, build, read back and verify, rename.
fn replace_to_file(
    src: &[PathBuf],
    new: &Path,
    opts: &InstallOptions,
    out: &Path,
    progress: &dyn Progress,
) -> mediaprep_core::Result<(InstallSummary, Vec<ImageOutcome>)> {
    let wim = open_wim(src);
    let bytes = std::fs::read(new).unwrap();
    let reader = FileSource::open(new).unwrap();
    let winre = NewWinre {
        src: &reader,
        size: bytes.len() as u64,
        sha1: mediaprep_core::hash::sha1(&bytes),
    };
    let job = WinreReplacement::new(&wim, winre, opts)?;
    let (write, images) = write_job(&job, out, progress)?;
    Ok((
        InstallSummary {
            write,
            images: images.clone(),
            dropped: Vec::new(),
            verify: None,
        },
        images,
    ))
}

/// Build `job` into `out` through a temporary file, read it back and verify it, then rename.
fn write_job(
    job: &WinreReplacement,
    out: &Path,
    progress: &dyn Progress,
) -> mediaprep_core::Result<(mediaprep_core::wim::write::WriteSummary, Vec<ImageOutcome>)> {
    let images = RefCell::new(Vec::new());
    let write = write_wim_file_checked(
        out,
        job.write_options().clone(),
        |w| {
            *images.borrow_mut() = job.build(w, progress)?;
            Ok(())
        },
        |tmp, _| {
            let back = Wim::open(Arc::new(FileSource::open(tmp)?))?;
            job.verify(&back, &images.borrow(), progress).map(|_| ())
        },
    )?;
    Ok((write, images.into_inner()))
}

#[derive(Debug, Clone)]
struct BlobRow {
    usize: u64,
    csize: u64,
    offset: u64,
    refcnt: u64,
    flags: String,
}

/// The blob table as `wimlib-imagex info --blobs` prints it, by hex hash.
fn wimlib_blobs(path: &Path) -> HashMap<String, BlobRow> {
    let text = run("wimlib-imagex", &["info", s(path), "--blobs"]);
    let mut out = HashMap::new();
    for block in text.split("\n\n") {
        let kv: HashMap<&str, &str> = block
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.trim(), v.trim()))
            .collect();
        let Some(h) = kv.get("Hash") else { continue };
        // Solid blobs have no own compressed size or offset (0 here; the layout check skips them).
        let num = |k: &str| -> u64 {
            kv.get(k).map_or(0, |v| {
                v.split_whitespace()
                    .next()
                    .unwrap()
                    .parse()
                    .unwrap_or_else(|_| panic!("{k} in {block}"))
            })
        };
        out.insert(
            h.trim_start_matches("0x").to_string(),
            BlobRow {
                usize: num("Uncompressed size"),
                csize: num("Compressed size"),
                offset: num("Offset in WIM"),
                refcnt: num("Reference Count"),
                flags: if kv.contains_key("Solid resource") {
                    "SOLID".to_string()
                } else {
                    kv.get("Flags").unwrap_or(&"").to_string()
                },
            },
        );
    }
    out
}

fn sha1_hex(data: &[u8]) -> String {
    mediaprep_core::hash::hex(&mediaprep_core::hash::sha1(data))
}

fn image_count(path: &Path) -> u32 {
    field(&info_header(&wimlib_info(path)), "Image Count")
        .unwrap()
        .parse()
        .unwrap()
}

/// Apply image `idx` with wimlib into `dir`, then remove the WinRE so the rest can be compared.
fn apply_without_winre(wim: &Path, idx: u32, dir: &Path) {
    wimlib_apply(wim, idx, dir, &["--no-acls"]);
    let w = dir.join(WINRE_PATH);
    assert!(w.exists(), "{} has no WinRE after apply", wim.display());
    std::fs::remove_file(w).unwrap();
}

/// Full check of one replacement against wimlib: verify, WinRE bytes per edition, every other file,
/// raw copies, the old blob's presence, XML times, boot index.
fn check_output(input: &Path, out: &Path, new: &Path, selected: &[u32], tmp: &Path) {
    wimlib_verify(out);
    let new_bytes = std::fs::read(new).unwrap();
    let n = image_count(input);
    assert_eq!(image_count(out), n);
    let info_in = wimlib_info(input);
    let info_out = wimlib_info(out);
    assert_eq!(
        field(&info_header(&info_in), "Boot Index"),
        field(&info_header(&info_out), "Boot Index")
    );
    let imgs_in = info_images(&info_in);
    let imgs_out = info_images(&info_out);
    let old_bytes = wimlib_extract(input, 1, WINRE_IN_IMAGE);
    for i in 1..=n {
        let got = wimlib_extract(out, i, WINRE_IN_IMAGE);
        let was = wimlib_extract(input, i, WINRE_IN_IMAGE);
        let k = i as usize - 1;
        if selected.contains(&i) {
            assert!(got == new_bytes, "image {i}: WinRE is not the new one");
            assert_eq!(
                field(&imgs_out[k], "Last Modification Time"),
                Some("Tue Mar 10 00:00:00 2026 UTC"),
                "image {i}"
            );
        } else {
            assert!(got == was, "image {i}: unselected WinRE changed");
            assert_eq!(
                field(&imgs_out[k], "Last Modification Time"),
                field(&imgs_in[k], "Last Modification Time")
            );
        }
        for key in [
            "Name",
            "Edition ID",
            "Directory Count",
            "File Count",
            "Build",
        ] {
            assert_eq!(
                field(&imgs_in[k], key),
                field(&imgs_out[k], key),
                "image {i} {key}"
            );
        }
        let want_total: i64 = field(&imgs_in[k], "Total Bytes").unwrap().parse().unwrap();
        let got_total: i64 = field(&imgs_out[k], "Total Bytes").unwrap().parse().unwrap();
        let delta = if selected.contains(&i) {
            new_bytes.len() as i64 - was.len() as i64
        } else {
            0
        };
        assert_eq!(got_total, want_total + delta, "image {i} Total Bytes");
        let a = tmp.join(format!("in-{i}"));
        let b = tmp.join(format!("out-{i}"));
        apply_without_winre(input, i, &a);
        apply_without_winre(out, i, &b);
        diff_trees(&a, &b);
        std::fs::remove_dir_all(&a).unwrap();
        std::fs::remove_dir_all(&b).unwrap();
    }

    let bin = wimlib_blobs(input);
    let bout = wimlib_blobs(out);
    let old = sha1_hex(&old_bytes);
    let unselected = (1..=n).filter(|i| !selected.contains(i)).count() as u64;
    if unselected == 0 {
        assert!(
            !bout.contains_key(&old),
            "old WinRE blob still in the output"
        );
    } else {
        assert_eq!(bout[&old].refcnt, unselected, "old WinRE reference count");
    }
    assert_eq!(bout[&sha1_hex(&new_bytes)].refcnt, selected.len() as u64);
    // Resources of the same layout are copied byte for byte.
    let same_layout = field(&info_header(&info_in), "Compression")
        == field(&info_header(&info_out), "Compression")
        && field(&info_header(&info_in), "Chunk Size")
            == field(&info_header(&info_out), "Chunk Size")
        && !bin.values().any(|b| b.flags.contains("SOLID"));
    if same_layout {
        let raw_in = std::fs::read(input).unwrap();
        let raw_out = std::fs::read(out).unwrap();
        let mut compared = 0;
        for (h, a) in &bin {
            if a.flags.contains("METADATA") || *h == old {
                continue;
            }
            let b = &bout[h];
            assert_eq!((a.usize, a.csize), (b.usize, b.csize), "blob {h}");
            assert!(
                raw_in[a.offset as usize..(a.offset + a.csize) as usize]
                    == raw_out[b.offset as usize..(b.offset + b.csize) as usize],
                "blob {h} not raw-copied"
            );
            compared += 1;
        }
        assert!(compared > 3, "only {compared} blobs compared");
    }
}

/// The replacement every edition test starts from: the fixture install.wim, the newer WinRE that
/// goes into it, a fresh temporary directory and the output path in it.
fn replacement() -> (PathBuf, PathBuf, tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("install.wim");
    (fixture("install.wim"), fixture("Winre-stale.wim"), tmp, out)
}

/// [`replace_to_file`] for a single (not split) input.
fn replace_one(
    input: &Path,
    new: &Path,
    opts: &InstallOptions,
    out: &Path,
    progress: &dyn Progress,
) -> mediaprep_core::Result<(InstallSummary, Vec<ImageOutcome>)> {
    replace_to_file(&[input.to_path_buf()], new, opts, out, progress)
}

fn opts(indices: &[u32]) -> InstallOptions {
    InstallOptions {
        indices: indices.to_vec(),
        modification_time: Some(MOD_TIME),
        ..Default::default()
    }
}

/// Two new WinREs in one pass: editions 1 and 3 get one, edition 2 the other (wimlib checks the
/// output and extracts each edition's Winre.wim); an edition named in two groups is refused.
#[test]
fn grouped_replacement_gives_each_edition_its_groups_winre() {
    let src = fixture("install.wim");
    let wim = open_wim(std::slice::from_ref(&src));
    let (a, b) = (fixture("Winre-stale.wim"), fixture("Winre-norecords.wim"));
    let (ra, rb) = (FileSource::open(&a).unwrap(), FileSource::open(&b).unwrap());
    let (ba, bb) = (std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    fn new<'a>(r: &'a FileSource, bytes: &[u8]) -> NewWinre<'a> {
        NewWinre {
            src: r,
            size: bytes.len() as u64,
            sha1: mediaprep_core::hash::sha1(bytes),
        }
    }
    let opts = InstallOptions {
        modification_time: Some(MOD_TIME),
        ..Default::default()
    };
    let twice = WinreReplacement::grouped(
        &wim,
        vec![(new(&ra, &ba), vec![1, 2]), (new(&rb, &bb), vec![2])],
        &opts,
    );
    assert!(
        matches!(&twice, Err(Error::Invalid { reason, .. }) if reason.contains("index 2 given twice")),
        "{:?}",
        twice.err()
    );
    let job = WinreReplacement::grouped(
        &wim,
        vec![(new(&ra, &ba), vec![1, 3]), (new(&rb, &bb), vec![2])],
        &opts,
    )
    .unwrap();
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("install.wim");
    write_job(&job, &out, &NoProgress).unwrap();
    wimlib_verify(&out);
    for (i, want) in [(1, &ba), (2, &bb), (3, &ba)] {
        assert!(
            wimlib_extract(&out, i, WINRE_IN_IMAGE) == *want,
            "edition {i} carries the wrong WinRE"
        );
    }
    let blobs = wimlib_blobs(&out);
    let refs =
        |bytes: &[u8]| blobs[&mediaprep_core::hash::hex(&mediaprep_core::hash::sha1(bytes))].refcnt;
    assert_eq!((refs(&ba), refs(&bb)), (2, 1));
    // The old WinRE is referenced by no edition any more, so it is gone.
    let old = wimlib_extract(&src, 1, WINRE_IN_IMAGE);
    assert!(
        !blobs.contains_key(&mediaprep_core::hash::hex(&mediaprep_core::hash::sha1(
            &old
        )))
    );
}

#[test]
fn all_editions_get_the_new_winre_and_the_rest_is_raw_copied() {
    let (input, new, tmp, out) = replacement();
    assert_ne!(
        sha1_hex(&std::fs::read(&new).unwrap()),
        sha1_hex(&wimlib_extract(&input, 1, WINRE_IN_IMAGE)),
        "fixture WinREs must differ"
    );
    let (sum, images) = replace_one(&input, &new, &opts(&[]), &out, &NoProgress).unwrap();
    assert!(images.iter().all(|o| o.updated));
    assert!(sum.write.raw_copied_blobs > 3);
    check_output(&input, &out, &new, &[1, 2, 3], tmp.path());

    // Determinism: a second run, and the in-memory sink path (read back + verified), give the
    // same bytes.
    let again = tmp.path().join("again.wim");
    replace_one(&input, &new, &opts(&[]), &again, &NoProgress).unwrap();
    let first = std::fs::read(&out).unwrap();
    assert!(first == std::fs::read(&again).unwrap(), "two runs differ");
    let wim = open_wim(std::slice::from_ref(&input));
    let bytes = std::fs::read(&new).unwrap();
    let reader = FileSource::open(&new).unwrap();
    let (summary, mem) = replace_winre(
        &wim,
        NewWinre {
            src: &reader,
            size: bytes.len() as u64,
            sha1: mediaprep_core::hash::sha1(&bytes),
        },
        &opts(&[]),
        Vec::new(),
        &NoProgress,
    )
    .unwrap();
    assert!(
        mem == first,
        "in-memory output differs from the file output"
    );
    let v = summary.verify.expect("verified");
    assert!(v.failures.is_empty() && v.ok > 3);
    assert_eq!(
        summary.dropped,
        vec![sha1_hex(&wimlib_extract(&input, 1, WINRE_IN_IMAGE))]
    );
}

#[test]
fn subset_keeps_the_old_winre_elsewhere() {
    let (input, new, tmp, out) = replacement();
    // This run also compresses the new WinRE blob instead of storing it.
    let recompress = InstallOptions {
        recompress_winre: true,
        ..opts(&[3, 1])
    };
    let (_, images) = replace_one(&input, &new, &recompress, &out, &NoProgress).unwrap();
    assert_eq!(
        images.iter().map(|o| o.updated).collect::<Vec<_>>(),
        [true, false, true]
    );
    check_output(&input, &out, &new, &[1, 3], tmp.path());
}

#[test]
fn esd_and_split_inputs_are_written_as_lzx() {
    let new = fixture("Winre-stale.wim");
    let tmp = tempfile::tempdir().unwrap();
    let esd = fixture("install.esd");
    let out = tmp.path().join("from-esd.wim");
    replace_one(&esd, &new, &opts(&[2]), &out, &NoProgress).unwrap();
    assert_eq!(
        field(&info_header(&wimlib_info(&out)), "Compression"),
        Some("LZX")
    );
    check_output(&esd, &out, &new, &[2], tmp.path());

    let parts: Vec<PathBuf> = std::iter::once(fixture("install.swm"))
        .chain((2..=5).map(|k| fixture(&format!("install{k}.swm"))))
        .collect();
    let out = tmp.path().join("from-swm.wim");
    replace_to_file(&parts, &new, &opts(&[]), &out, &NoProgress).unwrap();
    wimlib_verify(&out);
    for i in 1..=image_count(&out) {
        assert!(wimlib_extract(&out, i, WINRE_IN_IMAGE) == std::fs::read(&new).unwrap());
    }
}

struct CancelAfter {
    calls: AtomicU64,
    limit: u64,
}

impl Progress for CancelAfter {
    fn update(&self, _stage: &str, _done: u64, _total: u64) {
        self.calls.fetch_add(1, Ordering::Relaxed);
    }
    fn cancelled(&self) -> bool {
        self.calls.load(Ordering::Relaxed) >= self.limit
    }
}

#[test]
fn cancelled_or_refused_writes_leave_nothing() {
    let (input, new, tmp, out) = replacement();
    // Count the progress calls of a whole run (build and read-back check), then cancel at points
    // spread over it, the last one inside the check of the finished temporary file.
    let count = CancelAfter {
        calls: AtomicU64::new(0),
        limit: u64::MAX,
    };
    replace_one(&input, &new, &opts(&[]), &out, &count).unwrap();
    std::fs::remove_file(&out).unwrap();
    let total = count.calls.load(Ordering::Relaxed);
    assert!(total > 10, "{total} progress calls");
    for limit in [0, 2, total / 2, total - 1] {
        let p = CancelAfter {
            calls: AtomicU64::new(0),
            limit,
        };
        let r = replace_one(&input, &new, &opts(&[]), &out, &p);
        assert!(matches!(r, Err(Error::Cancelled)), "limit {limit}: {r:?}");
        assert!(
            dir_names(tmp.path()).is_empty(),
            "{:?}",
            dir_names(tmp.path())
        );
    }

    // Bad requests are refused before anything is written.
    for (idx, what) in [(vec![0], "0"), (vec![4], "4"), (vec![2, 2], "twice")] {
        let r = replace_one(&input, &new, &opts(&idx), &out, &NoProgress);
        assert!(matches!(r, Err(Error::Invalid { .. })), "{what}: {r:?}");
    }
    let not_wim = fixture("setup-du.cab");
    let r = replace_one(&input, &not_wim, &opts(&[]), &out, &NoProgress);
    assert!(matches!(r, Err(Error::Invalid { .. })), "{r:?}");

    // A WinRE whose bytes do not match the SHA-1 the caller gave is refused mid-write.
    let wim = open_wim(std::slice::from_ref(&input));
    let reader = FileSource::open(&new).unwrap();
    let winre = NewWinre {
        src: &reader,
        size: std::fs::metadata(&new).unwrap().len(),
        sha1: [7; 20],
    };
    let job = WinreReplacement::new(&wim, winre, &opts(&[])).unwrap();
    let r = write_wim_file_checked(
        &out,
        job.write_options().clone(),
        |w| job.build(w, &NoProgress).map(|_| ()),
        |_, _| Ok(()),
    );
    assert!(matches!(r, Err(Error::DigestMismatch { .. })), "{r:?}");
    assert!(dir_names(tmp.path()).is_empty());
}

// ---------------------------------------------------------------------------------------------
// Setup DU

fn open_pkg(name: &str) -> mediaprep_core::Result<mediaprep_core::package::Package> {
    let p = fixture(name);
    open_package(Arc::new(FileSource::open(&p).unwrap()), name)
}

/// SHA-256 of every file cabextract produces, keyed by `/`-separated relative path.
fn cabextract_digests(cab: &Path, tmp: &Path) -> HashMap<String, String> {
    let d = tmp.join("cabextract");
    run("cabextract", &["-q", "-d", s(&d), s(cab)]);
    sha256sum_tree(&d)
}

fn sha256sum_tree(d: &Path) -> HashMap<String, String> {
    let list = run(
        "sh",
        &[
            "-c",
            &format!(
                "cd '{}' && find . -type f -print0 | xargs -0 sha256sum",
                s(d)
            ),
        ],
    );
    list.lines()
        .map(|l| {
            let (h, p) = l.split_once("  ").unwrap();
            (p.trim_start_matches("./").to_string(), h.to_string())
        })
        .collect()
}

#[test]
fn setup_du_zip_has_every_file_with_its_digest() {
    let pkg = open_pkg("setup-du.cab").unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let want = cabextract_digests(&fixture("setup-du.cab"), tmp.path());
    assert_eq!(want.len(), 6);
    let zopts = ZipOptions {
        modification_time: Some(MOD_TIME),
    };
    let expand = || {
        let (exp, cur) = setup::expand_to_zip(
            &pkg,
            &Expected::default(),
            std::io::Cursor::new(Vec::new()),
            &zopts,
            &NoProgress,
        )
        .unwrap();
        (exp, cur.into_inner())
    };
    let (exp, zip) = expand();
    let zpath = tmp.path().join("sources.zip");
    std::fs::write(&zpath, &zip).unwrap();
    let listed = sevenzip_paths(&zpath);
    let mut sorted = listed.clone();
    sorted.sort();
    let mut keys: Vec<String> = want.keys().cloned().collect();
    keys.sort();
    assert_eq!(sorted, keys);
    assert!(run("7zz", &["l", s(&zpath)]).contains("2026-03-10 00:00:00"));
    let x = tmp.path().join("unzipped");
    run("7zz", &["x", "-y", &format!("-o{}", s(&x)), s(&zpath)]);
    assert_eq!(sha256sum_tree(&x), want);
    for f in &exp.files {
        assert_eq!(want[&f.path], f.sha256, "{}", f.path);
    }
    assert!(exp.verification.ok);

    // Same package and options, same ZIP.
    assert!(expand().1 == zip);
}

struct DirSink {
    root: PathBuf,
    cur: Option<std::fs::File>,
}

impl SetupSink for DirSink {
    fn begin(&mut self, path: &str, _size: u64) -> mediaprep_core::Result<()> {
        let p = self.root.join(path);
        std::fs::create_dir_all(p.parent().unwrap())?;
        self.cur = Some(std::fs::File::create(p)?);
        Ok(())
    }
    fn write(&mut self, data: &[u8]) -> mediaprep_core::Result<()> {
        use std::io::Write;
        self.cur.as_mut().unwrap().write_all(data)?;
        Ok(())
    }
    fn end(&mut self, _sha256: &str) -> mediaprep_core::Result<()> {
        self.cur = None;
        Ok(())
    }
}

#[test]
fn setup_du_into_a_directory_and_refusals() {
    let tmp = tempfile::tempdir().unwrap();
    let want = cabextract_digests(&fixture("setup-du.cab"), tmp.path());
    let pkg = open_pkg("setup-du.cab").unwrap();
    let root = tmp.path().join("sources");
    let mut sink = DirSink {
        root: root.clone(),
        cur: None,
    };
    setup::expand(&pkg, &Expected::default(), &mut sink, &NoProgress).unwrap();
    assert_eq!(sha256sum_tree(&root), want);

    // A wrong catalog digest: nothing is written.
    let bad = Expected {
        sha256: Some("00".repeat(32)),
        ..Default::default()
    };
    let root2 = tmp.path().join("refused");
    let mut sink = DirSink {
        root: root2.clone(),
        cur: None,
    };
    let r = setup::expand(&pkg, &bad, &mut sink, &NoProgress);
    assert!(matches!(r, Err(Error::Invalid { .. })), "{r:?}");
    assert!(!root2.exists());

    // A Safe OS DU is not a Setup DU.
    let safeos = open_pkg("safeos-du.cab").unwrap();
    let r = setup::expand_to_zip(
        &safeos,
        &Expected::default(),
        std::io::Cursor::new(Vec::new()),
        &ZipOptions::default(),
        &NoProgress,
    );
    assert!(matches!(r, Err(Error::Invalid { .. })), "{:?}", r.err());

    // Traversal: 7zz sees the "..\evil.txt" member; we refuse the package.
    let trav = fixture("setup-du-traversal.cab");
    assert!(run("7zz", &["l", "-slt", "-ba", s(&trav)]).contains("evil.txt"));
    let r = open_pkg("setup-du-traversal.cab").and_then(|p| {
        setup::expand_to_zip(
            &p,
            &Expected::default(),
            std::io::Cursor::new(Vec::new()),
            &ZipOptions::default(),
            &NoProgress,
        )
        .map(|_| ())
    });
    match r {
        Err(Error::Invalid { reason: m, .. }) => assert!(m.contains(".."), "{m}"),
        other => panic!("traversal not refused: {other:?}"),
    }
}
