//! Tells the wasm tests whether the shared msdelta vectors (Microsoft's files, never copied into the
//! repository) are next to the checkout, so `tests/delta_in_worker.rs` can embed them at build time.

fn main() {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/testdata/msdelta");
    println!("cargo:rustc-check-cfg=cfg(msdelta_vectors)");
    println!(
        "cargo:rerun-if-changed={}",
        dir.join("SOURCES.md").display()
    );
    println!("cargo:rerun-if-env-changed=CI");
    if dir.join("SOURCES.md").is_file() {
        println!("cargo:rustc-cfg=msdelta_vectors");
    }
}
