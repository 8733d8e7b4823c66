//! mediaprep in the browser: a Yew UI on the page and a worker that runs `mediaprep-core` over
//! the user's files. Nothing is uploaded; the page talks only to its own origin.

pub mod app;
pub mod client;
pub mod download;
pub mod extract;
pub mod jobs;
pub mod kept;
pub mod pool;
pub mod protocol;
pub mod sample;
pub mod save;
pub mod source;
pub mod update;
pub mod usb;
pub mod views;
pub mod worker;

/// Mount the app and register the service worker (release builds only, so a cache-first worker
/// never gets in the way of `trunk serve`).
pub fn run() {
    yew::Renderer::<app::App>::new().render();
    if !cfg!(debug_assertions) {
        if let Some(w) = web_sys::window() {
            let _ = w.navigator().service_worker().register("./sw.js");
        }
    }
}
