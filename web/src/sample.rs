//! The built-in sample: a small generated Windows-shaped ISO and a Safe OS Dynamic Update that
//! applies to its WinRE, served from the app's own origin (`sample/`, copied in by
//! www/post_build.py from the test fixtures). They are fetched, wrapped as `File`s and opened like
//! files the user chose. The service worker does not precache them; it keeps them once fetched.

use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{File, Response};

/// The sample files, in the order they are opened (media, then the package).
pub const FILES: [&str; 2] = ["media-udf.iso", "safeos-du.cab"];

fn describe(e: JsValue) -> String {
    e.as_string()
        .or_else(|| {
            js_sys::Reflect::get(&e, &"message".into())
                .ok()
                .and_then(|m| m.as_string())
        })
        .unwrap_or_else(|| format!("{e:?}"))
}

/// Fetch one sample file from `sample/` as a `File`.
async fn fetch(name: &str) -> Result<File, String> {
    let window = web_sys::window().ok_or("no window")?;
    let resp: Response = JsFuture::from(window.fetch_with_str(&format!("./sample/{name}")))
        .await
        .map_err(|e| format!("fetching sample/{name}: {}", describe(e)))?
        .unchecked_into();
    if !resp.ok() {
        return Err(format!(
            "sample/{name}: HTTP {} (this build has no sample; see scripts/build-web)",
            resp.status()
        ));
    }
    let blob: web_sys::Blob = JsFuture::from(resp.blob().map_err(describe)?)
        .await
        .map_err(|e| format!("reading sample/{name}: {}", describe(e)))?
        .unchecked_into();
    File::new_with_blob_sequence(&js_sys::Array::of1(&blob), name).map_err(describe)
}

/// Fetch every sample file.
pub async fn load() -> Result<Vec<File>, String> {
    let mut files = Vec::with_capacity(FILES.len());
    for name in FILES {
        files.push(fetch(name).await?);
    }
    Ok(files)
}
