//! Running the `mediaprep` binary from the tests that need it (test targets with the `cli`
//! feature; `CARGO_BIN_EXE_mediaprep` exists only there, so this is not part of `common`).

use std::path::Path;
use std::process::Command;

use super::fixtures;

/// Run `mediaprep` with `args`.
pub fn mediaprep(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_mediaprep"))
        .args(args)
        .output()
        .unwrap()
}

/// A path as `&str` (the fixtures' paths are UTF-8).
pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `mediaprep patch INPUT --package FIXTURE… -o OUT EXTRA…`.
pub fn patch(input: &Path, packages: &[&str], out: &Path, extra: &[&str]) -> std::process::Output {
    let fx = fixtures();
    let mut args = vec!["patch".to_string(), s(input).to_string()];
    for p in packages {
        args.push("--package".into());
        args.push(s(&fx.join(p)).to_string());
    }
    args.push("-o".into());
    args.push(s(out).to_string());
    args.extend(extra.iter().map(|x| x.to_string()));
    let a: Vec<&str> = args.iter().map(|x| x.as_str()).collect();
    mediaprep(&a)
}

/// The stdout of a run that must succeed (else the test fails with its stderr).
pub fn ok(o: &std::process::Output) -> String {
    assert!(
        o.status.success(),
        "mediaprep failed: {}\n{}",
        String::from_utf8_lossy(&o.stderr),
        String::from_utf8_lossy(&o.stdout)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}
