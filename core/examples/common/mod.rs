//! Helpers shared by the benchmark examples.

use std::path::{Path, PathBuf};

/// Every regular file below `dir` (unreadable entries skipped: a corpus is whatever is readable).
pub fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let Ok(ft) = e.file_type() else { continue };
        if ft.is_dir() {
            walk(&e.path(), out);
        } else if ft.is_file() {
            out.push(e.path());
        }
    }
}
