//! Running the `mediaprep` binary (test binaries built with the `cli` feature only: the binary's
//! path is known to them alone).

use std::path::Path;
use std::process::{Command, Output};

use super::fixtures;

/// Run `mediaprep ARGS…`.
pub fn mediaprep(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mediaprep"))
        .args(args)
        .output()
        .unwrap()
}

/// The stdout of a run that must have succeeded; panics with both streams otherwise.
pub fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "mediaprep failed: {}\n{}",
        String::from_utf8_lossy(&o.stderr),
        String::from_utf8_lossy(&o.stdout)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub use super::s;

/// A fixture's path as a command-line argument.
pub fn fx_arg(name: &str) -> String {
    s(&super::fixture(name)).to_string()
}

/// `mediaprep patch FIXTURE --package FIXTURE… -o OUT EXTRA…`.
pub fn patch_fixture(input: &str, packages: &[&str], out: &Path, extra: &[&str]) -> Output {
    patch(&super::fixture(input), packages, out, extra)
}

/// `mediaprep patch Winre.wim --package FIXTURE… -o OUT`, which must be refused (exit 1, not a
/// panic) and leave nothing in OUT's directory; its output.
pub fn refused_on_winre(packages: &[&str], out: &Path) -> Output {
    let o = patch_fixture("Winre.wim", packages, out, &[]);
    assert_eq!(o.status.code(), Some(1), "{packages:?} was not refused");
    super::assert_empty_dir(out.parent().unwrap(), &format!("{packages:?}"));
    o
}

/// `mediaprep patch INPUT --package FIXTURE… -o OUT EXTRA…`.
pub fn patch(input: &Path, packages: &[&str], out: &Path, extra: &[&str]) -> Output {
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
