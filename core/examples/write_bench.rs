//! WIM writer benchmark: capture every regular file under DIR into an LZX WIM with the library's
//! writer at each thread count given, versus `wimlib-imagex capture --compress=LZX:20` (all cores,
//! its default). Every output passes `wimlib-imagex verify`.
//!
//! `cargo run --release -p mediaprep-core --example write_bench -- DIR [THREADS…]` (default 1 2);
//! `BENCH_SKIP_WIMLIB=1` skips the wimlib run. Prints seconds, MB/s and size per run.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use mediaprep_core::codec::Compression;
use mediaprep_core::io::{FileSource, NoProgress};
use mediaprep_core::wim::model::{attr, Dentry, ImageTree};
use mediaprep_core::wim::write::{write_wim_file, WriteOptions};
use mediaprep_core::wim::xml_write::ImageXml;

/// Directories and regular files under `dir` (sorted, so runs are comparable), as a tree whose
/// file nodes carry their path until the blobs are added.
fn walk(dir: &Path, tree: &mut ImageTree, parent: usize, files: &mut Vec<(usize, PathBuf)>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = rd.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let Ok(ft) = e.file_type() else { continue };
        if !ft.is_dir() && !ft.is_file() {
            continue;
        }
        let attributes = if ft.is_dir() {
            attr::DIRECTORY
        } else {
            attr::NORMAL
        };
        let name = e.file_name().to_string_lossy().encode_utf16().collect();
        let idx = tree.add_child(
            parent,
            Dentry {
                name,
                attributes,
                security_id: -1,
                ..Default::default()
            },
        );
        if ft.is_dir() {
            walk(&e.path(), tree, idx, files);
        } else {
            files.push((idx, e.path()));
        }
    }
}

fn verify(wim: &Path) {
    let o = Command::new("wimlib-imagex")
        .arg("verify")
        .arg(wim)
        .output()
        .expect("wimlib-imagex runs");
    assert!(
        o.status.success(),
        "verify failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

fn ours(dir: &Path, out: &Path, threads: usize) -> (f64, u64, u64) {
    let t = Instant::now();
    let mut tree = ImageTree::with_root();
    let mut files = Vec::new();
    walk(dir, &mut tree, 0, &mut files);
    let mut input = 0u64;
    let opts = WriteOptions {
        threads,
        ..WriteOptions::new(Compression::Lzx)
    };
    write_wim_file(out, opts, |w| {
        for (idx, path) in &files {
            let src = FileSource::open(path)?;
            input += mediaprep_core::io::ReadAt::size(&src);
            let h = w.add_blob_from(&src, None, &NoProgress)?;
            tree.nodes[*idx].data = Some(h);
        }
        w.add_image(&tree, ImageXml::new("bench", None))
    })
    .expect("write succeeds");
    let secs = t.elapsed().as_secs_f64();
    (secs, input, std::fs::metadata(out).unwrap().len())
}

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(dir) = args.next().map(PathBuf::from) else {
        eprintln!("usage: write_bench DIR [THREADS…]");
        std::process::exit(2);
    };
    let mut counts: Vec<usize> = args.filter_map(|a| a.parse().ok()).collect();
    if counts.is_empty() {
        counts = vec![1, 2];
    }
    let tmp = std::env::temp_dir().join(format!("write_bench_{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let mut base = None;
    let mut runs = Vec::new();
    for &n in &counts {
        let out = tmp.join(format!("ours-{n}.wim"));
        let (secs, input, size) = ours(&dir, &out, n);
        verify(&out);
        let mb = input as f64 / 1e6;
        let base_secs = *base.get_or_insert(secs);
        println!(
            "ours threads={n}: {secs:.2} s  {:.1} MB/s  {size} bytes  speedup vs threads={}: {:.2}x",
            mb / secs,
            counts[0],
            base_secs / secs
        );
        runs.push((n, secs));
        let _ = std::fs::remove_file(&out);
    }
    if std::env::var("BENCH_SKIP_WIMLIB").is_err() {
        let out = tmp.join("wimlib.wim");
        let t = Instant::now();
        let o = Command::new("wimlib-imagex")
            .arg("capture")
            .arg(&dir)
            .arg(&out)
            .args(["bench", "--compress=LZX:20", "--no-acls"])
            .output()
            .expect("wimlib-imagex runs");
        let secs = t.elapsed().as_secs_f64();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let size = std::fs::metadata(&out).unwrap().len();
        println!("wimlib LZX:20 (all cores): {secs:.2} s  {size} bytes");
        for (n, ours) in runs {
            println!("ours threads={n} speed / wimlib speed: {:.2}", secs / ours);
        }
        let _ = std::fs::remove_file(&out);
    }
    let _ = std::fs::remove_dir(&tmp);
}
