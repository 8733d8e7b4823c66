//! Shared helpers for integration tests: locate (or build) the generated fixtures and run the
//! third-party oracle tools (wimlib-imagex, 7zz, isoinfo) whose output the tests compare against.
//!
//! Fixtures are built by `scripts/fixtures` into `<workspace>/target/fixtures` (override with
//! `MEDIAPREP_FIXTURES=<dir>` to use a prebuilt set). The script serializes concurrent callers with
//! `flock`, so parallel test binaries do not race; within one process a `OnceLock` runs it once.
#![allow(dead_code)] // each test binary uses a different subset of these helpers

#[cfg(feature = "cli")]
pub mod cli;
pub mod schema;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The workspace root (parent of the `core` crate).
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("core/ has a parent")
        .to_path_buf()
}

/// The fixture directory, generated on first use in this process.
pub fn fixtures() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        if let Some(d) = std::env::var_os("MEDIAPREP_FIXTURES") {
            return PathBuf::from(d);
        }
        let out = workspace().join("target").join("fixtures");
        let script = workspace().join("scripts").join("fixtures");
        let st = Command::new(&script)
            .arg(&out)
            .status()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
        assert!(
            st.success(),
            "{} {} failed: {st}",
            script.display(),
            out.display()
        );
        out
    })
    .clone()
}

/// Path of one generated fixture file; panics with a clear message when it is missing.
pub fn fixture(name: &str) -> PathBuf {
    let p = fixtures().join(name);
    assert!(p.exists(), "fixture {} missing", p.display());
    p
}

/// Run a tool and return its stdout (lossy UTF-8); panics with stderr when it fails.
pub fn run(cmd: &str, args: &[&str]) -> String {
    String::from_utf8_lossy(&run_bytes(cmd, args)).into_owned()
}

/// Run a tool and return its raw stdout; panics with stderr when it fails.
pub fn run_bytes(cmd: &str, args: &[&str]) -> Vec<u8> {
    run_cmd(Command::new(cmd).args(args)).stdout
}

/// Run a prepared command (arguments, directory, environment set by the caller) and return its
/// output; panics, naming the command and showing both streams, when it cannot start or fails.
pub fn run_cmd(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e} (oracle tool missing?)"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}): {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// [`run_cmd`]'s stdout as (lossy UTF-8) text.
pub fn run_cmd_text(cmd: &mut Command) -> String {
    String::from_utf8_lossy(&run_cmd(cmd).stdout).into_owned()
}

/// A path as `&str` (the test paths are UTF-8).
pub fn s(p: &Path) -> &str {
    p.to_str().expect("test paths are UTF-8")
}

/// `wimlib-imagex verify <path>` must pass.
pub fn wimlib_verify(path: &Path) {
    run("wimlib-imagex", &["verify", s(path)]);
}

/// `wimlib-imagex ARGS…`, which must succeed: its stdout.
pub fn wimlib(args: &[&str]) -> String {
    run("wimlib-imagex", args)
}

/// `wimlib-imagex ARGS…` where failing is an answer (damaged or unfinished files): whether it
/// succeeded, and its stdout and stderr together.
pub fn wimlib_try(args: &[&str]) -> (bool, String) {
    let out = Command::new("wimlib-imagex")
        .args(args)
        .output()
        .expect("wimlib-imagex is installed");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Whether `wimlib-imagex verify` accepts the file (for files a test damaged on purpose).
pub fn wimlib_accepts(path: &Path) -> bool {
    wimlib_try(&["verify", s(path)]).0
}

/// `wimlib-imagex capture <src> <wim> ARGS…` must pass.
pub fn wimlib_capture(src: &Path, wim: &Path, args: &[&str]) {
    let mut all = vec!["capture", s(src), s(wim)];
    all.extend_from_slice(args);
    run("wimlib-imagex", &all);
}

/// `wimlib-imagex apply <path> <idx> <dest> EXTRA…` must pass.
pub fn wimlib_apply(path: &Path, idx: u32, dest: &Path, extra: &[&str]) {
    let idx = idx.to_string();
    let mut args = vec!["apply", s(path), &idx, s(dest)];
    args.extend_from_slice(extra);
    run("wimlib-imagex", &args);
}

/// Two directory trees are the same (`diff -r --no-dereference`: names, bytes, link targets).
pub fn diff_trees(a: &Path, b: &Path) {
    run("diff", &["-r", "--no-dereference", s(a), s(b)]);
}

/// `sha256sum -c SHA256SUMS` in `dir` must pass; its report (`name: OK` lines).
pub fn sha256sum_check(dir: &Path) -> String {
    run_cmd_text(
        Command::new("sha256sum")
            .args(["-c", "SHA256SUMS"])
            .current_dir(dir),
    )
}

/// The strings of a JSON array (panics when it is not an array of strings).
pub fn str_array(v: &serde_json::Value) -> Vec<&str> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|x| x.as_str().unwrap_or_else(|| panic!("not a string: {x}")))
        .collect()
}

/// `text` contains every one of `wants`; the failure names the first missing one.
pub fn assert_contains_all(text: &str, wants: &[&str]) {
    for want in wants {
        assert!(text.contains(want), "{text} lacks {want}");
    }
}

/// Nothing is left in `dir` (no output, no temporary file); `what` names the case.
pub fn assert_empty_dir(dir: &Path, what: &str) {
    let left = dir_names(dir);
    assert!(left.is_empty(), "{what} left {left:?}");
}

/// A fresh temporary directory and the paths of `names` in it.
pub fn tmp_paths<const N: usize>(names: [&str; N]) -> (tempfile::TempDir, [PathBuf; N]) {
    let t = tempfile::tempdir().unwrap();
    let paths = names.map(|n| t.path().join(n));
    (t, paths)
}

/// The names of the entries in `dir`, sorted.
pub fn dir_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// `wimlib-imagex info <path>`.
pub fn wimlib_info(path: &Path) -> String {
    run("wimlib-imagex", &["info", s(path)])
}

/// The image XML as wimlib-imagex reports it (`info --xml`, UTF-16LE decoded).
pub fn wimlib_xml(path: &Path) -> String {
    let raw = run_bytes("wimlib-imagex", &["info", s(path), "--xml"]);
    let units: Vec<u16> = raw
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    String::from_utf16_lossy(&units)
        .trim_start_matches('\u{feff}')
        .to_string()
}

/// Every path in image `idx` (1-based) as `wimlib-imagex dir` lists it (`/`-separated, leading `/`).
pub fn wimlib_dir(path: &Path, idx: u32) -> Vec<String> {
    run("wimlib-imagex", &["dir", s(path), &idx.to_string()])
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// The contents of one file of image `idx`, extracted by wimlib-imagex.
pub fn wimlib_extract(path: &Path, idx: u32, inner: &str) -> Vec<u8> {
    run_bytes(
        "wimlib-imagex",
        &["extract", s(path), &idx.to_string(), inner, "--to-stdout"],
    )
}

/// The `Key: value` fields of a `wimlib-imagex info` header (before "Available Images").
pub fn info_header(info: &str) -> Vec<(String, String)> {
    let head = info.split("Available Images:").next().unwrap_or("");
    kv_lines(head)
}

/// The per-image `Key: value` blocks of `wimlib-imagex info` output, in index order.
pub fn info_images(info: &str) -> Vec<Vec<(String, String)>> {
    let rest = info.split("Available Images:").nth(1).unwrap_or("");
    rest.split("\n\n")
        .filter(|b| b.contains("Index:"))
        .map(kv_lines)
        .collect()
}

/// Look a field up in a list of `Key: value` pairs.
pub fn field<'a>(kv: &'a [(String, String)], key: &str) -> Option<&'a str> {
    kv.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

fn kv_lines(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

/// Paths 7zz lists in an archive or image (`7zz l -slt -ba`), `/`-separated.
pub fn sevenzip_paths(path: &Path) -> Vec<String> {
    run("7zz", &["l", "-slt", "-ba", s(path)])
        .lines()
        .filter_map(|l| l.strip_prefix("Path = "))
        .map(|p| p.replace('\\', "/"))
        .collect()
}

/// Paths in the plain ISO 9660 tree (`isoinfo -f`), e.g. `/README.TXT;1`.
pub fn iso9660_paths(path: &Path) -> Vec<String> {
    run("isoinfo", &["-f", "-i", s(path)])
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// The facts of a 25H2 install.wim's WinRE whose XML still says revision 1 (an old SPBUILD), as
/// the inspection gives them to the catalog.
pub fn old_25h2_winre() -> mediaprep_core::catalog::ImageFacts {
    use mediaprep_core::catalog::{ImageFacts, ImageRole};
    ImageFacts {
        label: "Winre.wim in install.wim #1".into(),
        role: ImageRole::Winre,
        arch: Some("x64".into()),
        build: Some(26100),
        revision: Some(1),
        revision_source: Some("WIM XML SPBUILD".into()),
        installed_safeos_revision: None,
        installation_type: Some("WindowsPE".into()),
        edition: Some("WindowsPE".into()),
        product_hint: Some("Windows 11, version 25H2".into()),
    }
}

/// `MANIFEST.json` of the fixture directory.
pub fn manifest() -> serde_json::Value {
    let p = fixture("MANIFEST.json");
    let text = std::fs::read_to_string(&p).expect("read MANIFEST.json");
    serde_json::from_str(&text).expect("MANIFEST.json parses")
}

/// Microsoft's genuine delta vectors (`../shared/testdata/msdelta`, never copied into the
/// repository). `None` (the test prints that it skipped) when they are absent; a panic under `CI`,
/// where they are required.
pub fn msdelta_vectors() -> Option<PathBuf> {
    let dir = workspace().join("../shared/testdata/msdelta");
    let what = format!("msdelta vectors at {}", dir.display());
    skip_unless(dir.join("SOURCES.md").is_file(), dir, &what)
}

/// Data a test needs but the repository does not hold: `found` when `present`; otherwise `None`
/// (the test prints that it skipped), or a panic under `CI`, where `what` is required.
pub fn skip_unless(present: bool, found: PathBuf, what: &str) -> Option<PathBuf> {
    if present {
        return Some(found);
    }
    if std::env::var_os("CI").is_some() {
        panic!("{what} missing (required in CI)");
    }
    eprintln!("skipped: {what} not found");
    None
}

/// Apply a mutated delta: it must return (never panic), and any success must have the header's
/// target size and, when the header carries a target hash and `target` is given, be `target`.
pub fn check_mutated_delta(reference: &[u8], d: &[u8], target: Option<&[u8]>, what: &str) {
    use mediaprep_core::delta::{self, ApplyOptions};
    let r = std::panic::catch_unwind(|| delta::apply(reference, d, &ApplyOptions::default()));
    match r {
        Err(_) => panic!("{what}: panicked"),
        Ok(Ok(out)) => {
            let h = delta::parse_header(d).unwrap();
            assert_eq!(out.len() as u64, h.target_size, "{what}");
            if let Some(target) = target.filter(|_| !h.target_hash.is_empty()) {
                assert!(
                    out == target,
                    "{what}: hash-checked output is not the target"
                );
            }
        }
        Ok(Err(e)) => assert!(!e.to_string().is_empty(), "{what}"),
    }
}

/// A file's bytes; a test fails naming the path when it cannot be read.
pub fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Deterministic xorshift generator for corpus bytes and mutations, so a failure names a
/// reproducible case.
pub struct Rng(pub u64);

impl Rng {
    /// The next 64 pseudo-random bits.
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    /// `len` bytes, each the low byte of the next value shifted right by `shift` bits.
    pub fn bytes(&mut self, len: usize, shift: u32) -> Vec<u8> {
        (0..len).map(|_| (self.next() >> shift) as u8).collect()
    }
    /// Every single-bit flip of `d`, then `rounds` copies with 1 to `most` random bytes overwritten,
    /// each given to `each` with words saying which ("bit 9 flipped", "damage 3").
    pub fn mutations(
        &mut self,
        d: &[u8],
        rounds: usize,
        most: u64,
        mut each: impl FnMut(&[u8], String),
    ) {
        for i in 0..d.len() * 8 {
            let mut m = d.to_vec();
            m[i / 8] ^= 1 << (i % 8);
            each(&m, format!("bit {i} flipped"));
        }
        for k in 0..rounds {
            let mut m = d.to_vec();
            for _ in 0..1 + self.next() % most {
                let i = (self.next() as usize) % m.len();
                m[i] = self.next() as u8;
            }
            each(&m, format!("damage {k}"));
        }
    }
    /// A value in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// A 64-bit libwine DLL (real PE32+ code with exports, imports, resources, `.pdata` and
/// relocations), unpacked by `scripts/fixtures` into its cache. `None` outside CI when the cache
/// is absent.
pub fn libwine_dll(name: &str) -> Option<PathBuf> {
    let cache = std::env::var_os("MEDIAPREP_FIXTURE_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                .join(".cache/mediaprep-fixtures")
        });
    let p = cache
        .join("libwine/usr/lib/x86_64-linux-gnu/wine/x86_64-windows")
        .join(name);
    let what = format!("{} (scripts/fixtures unpacks it)", p.display());
    skip_unless(p.is_file(), p, &what)
}
