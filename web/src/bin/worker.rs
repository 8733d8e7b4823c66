//! Worker entry point (built by trunk as a no-modules worker). The same module also runs the
//! compression pool's workers (`www/pool_loader.js` calls [`pool_serve`]).
use wasm_bindgen::prelude::*;

fn main() {
    mediaprep_web::worker::start();
}

/// A compression pool worker's loop over the job worker's shared buffer (see
/// `mediaprep_web::pool`); returns only on an error.
#[wasm_bindgen]
pub fn pool_serve(shared: JsValue) -> Result<(), JsValue> {
    mediaprep_web::pool::serve(shared)
}
