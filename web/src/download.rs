//! Hand a finished file to the browser's download machinery.

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

/// Offer `bytes` as a download named `name`. The object URL is revoked on the next tick, after
/// the click has started the download.
pub fn offer(bytes: &js_sys::Uint8Array, name: &str, mime: &str) -> Result<(), JsValue> {
    let parts = js_sys::Array::of1(bytes);
    let opts = web_sys::BlobPropertyBag::new();
    opts.set_type(mime);
    let blob = web_sys::Blob::new_with_u8_array_sequence_and_options(&parts, &opts)?;
    offer_blob(&blob, name)
}

/// Offer a file from the origin-private file system: the browser streams it from disk, nothing
/// is loaded into memory.
pub async fn offer_opfs(name: &str) -> Result<(), JsValue> {
    offer_opfs_as(name, name.trim_end_matches(crate::save::PARTIAL)).await
}

/// Offer the OPFS file `name` as a download called `download_name`.
pub async fn offer_opfs_as(name: &str, download_name: &str) -> Result<(), JsValue> {
    let dir = crate::save::opfs_root()
        .await
        .map_err(|e| JsValue::from_str(&e.to_string()))?;
    let fh: web_sys::FileSystemFileHandle =
        wasm_bindgen_futures::JsFuture::from(dir.get_file_handle(name))
            .await?
            .unchecked_into();
    let file: web_sys::Blob = wasm_bindgen_futures::JsFuture::from(fh.get_file())
        .await?
        .unchecked_into();
    offer_blob(&file, download_name)
}

/// Offer any blob (or `File`) as a download.
pub fn offer_blob(blob: &web_sys::Blob, name: &str) -> Result<(), JsValue> {
    let url = web_sys::Url::create_object_url_with_blob(blob)?;
    let doc = web_sys::window()
        .and_then(|w| w.document())
        .ok_or_else(|| JsValue::from_str("no document"))?;
    let a: web_sys::HtmlAnchorElement = doc.create_element("a")?.unchecked_into();
    a.set_href(&url);
    a.set_download(name);
    a.click();
    let revoke = Closure::once_into_js(move || {
        let _ = web_sys::Url::revoke_object_url(&url);
    });
    if let Some(w) = web_sys::window() {
        w.set_timeout_with_callback_and_timeout_and_arguments_0(revoke.unchecked_ref(), 1000)?;
    }
    Ok(())
}
