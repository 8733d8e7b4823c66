//! Running the `mediaprep` binary (test binaries built with the `cli` feature only: the binary's
//! path is known to them alone).

use std::process::{Command, Output};

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
