//! `mediaprep split` against wimlib: the set verifies, lists the same images, applies to the same
//! trees as the unsplit WIM, every part stays within the limit, and our own reader opens it.

mod common;

use common::cli::{mediaprep, s};
use common::{fixture, info_images, run, tmp_paths, wimlib_info};
use mediaprep_core::io::{FileSource, NoProgress, SharedReader};
use mediaprep_core::wim::Wim;
use std::path::Path;
use std::sync::Arc;

fn parts(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

#[test]
fn split_set_verifies_and_applies_like_the_source() {
    let src = fixture("install.wim");
    let (t, [first]) = tmp_paths(["install.swm"]);
    let limit: u64 = 3 << 20;
    let out = mediaprep(&["split", s(&src), "-o", s(&first), "--size-mib", "3"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let files = parts(t.path());
    assert!(files.len() >= 2, "expected several parts: {files:?}");
    for f in &files {
        let len = std::fs::metadata(f).unwrap().len();
        assert!(len <= limit, "{} is {len} bytes", f.display());
    }
    let reference = format!("--ref={}/install*.swm", t.path().display());
    run("wimlib-imagex", &["verify", s(&first), &reference]);

    // Same images (names, counts, sizes) as the unsplit WIM; part numbers and one GUID.
    let a = info_images(&wimlib_info(&src));
    let b = info_images(&wimlib_info(&first));
    assert_eq!(a, b);
    let guid = |p: &Path| {
        run("wimlib-imagex", &["info", s(p), "--header"])
            .lines()
            .find(|l| l.trim_start().starts_with("GUID"))
            .map(str::to_owned)
            .unwrap()
    };
    for (i, f) in files.iter().enumerate() {
        let h = run("wimlib-imagex", &["info", s(f), "--header"]);
        assert!(
            h.lines().any(|l| l.split_whitespace().collect::<Vec<_>>()
                == ["Part", "Number", "=", &(i + 1).to_string()]),
            "{h}"
        );
        assert!(h.lines().any(|l| l.split_whitespace().collect::<Vec<_>>()
            == ["Total", "Parts", "=", &files.len().to_string()]));
        assert_eq!(guid(f), guid(&first));
    }

    // Every image applies to the same tree from the set and from the source.
    for idx in 1..=a.len() {
        let x = t.path().join(format!("x{idx}"));
        let y = t.path().join(format!("y{idx}"));
        let i = idx.to_string();
        run("wimlib-imagex", &["apply", s(&src), &i, s(&x)]);
        run(
            "wimlib-imagex",
            &["apply", s(&first), &i, s(&y), &reference],
        );
        run("diff", &["-r", "--no-dereference", s(&x), s(&y)]);
    }

    // Our own reader opens the set and every blob's SHA-1 checks.
    let readers: Vec<SharedReader> = files
        .iter()
        .map(|f| Arc::new(FileSource::open(f).unwrap()) as SharedReader)
        .collect();
    let set = Wim::open_split(readers).unwrap();
    assert_eq!(set.part_count() as usize, files.len());
    let rep = set.verify_blobs(&NoProgress).unwrap();
    assert!(rep.failures.is_empty() && rep.ok > 0, "{rep:?}");
}

#[test]
fn a_blob_over_the_limit_gets_its_own_part_with_a_warning() {
    let src = fixture("install.wim");
    let (t, [first]) = tmp_paths(["install.swm"]);
    let out = mediaprep(&["split", s(&src), "-o", s(&first), "--size-mib", "1"]);
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("gets a part of its own"), "{err}");
    let reference = format!("--ref={}/install*.swm", t.path().display());
    run("wimlib-imagex", &["verify", s(&first), &reference]);
    // Only single-blob parts may pass the limit.
    for f in parts(t.path()) {
        let len = std::fs::metadata(&f).unwrap().len();
        if len > 1 << 20 {
            let h = run("wimlib-imagex", &["info", s(&f), "--header"]);
            let line = h
                .lines()
                .find(|l| l.starts_with("Blob Table Size"))
                .expect("wimlib prints the blob table size");
            assert!(
                line.trim_end().ends_with("= 50"),
                "{} holds more than one blob: {line}",
                f.display()
            );
        }
    }
}

#[test]
fn an_esd_is_refused_and_nothing_is_left() {
    let (t, [first]) = tmp_paths(["install.swm"]);
    let out = mediaprep(&[
        "split",
        s(&fixture("install.esd")),
        "-o",
        s(&first),
        "--size-mib",
        "1",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("solid"));
    assert!(parts(t.path()).is_empty());
}
