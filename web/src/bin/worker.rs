//! Worker entry point (built by trunk as a no-modules worker).
fn main() {
    mediaprep_web::worker::start();
}
