//! Page entry point.
fn main() {
    mediaprep_web::run();
}
