//! The `mediaprep` command-line tool.
fn main() {
    println!("mediaprep {}", env!("CARGO_PKG_VERSION"));
}
