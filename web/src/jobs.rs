//! Media jobs the worker runs through the core (inspect, list), shared with the wasm tests.

use crate::protocol::Request;
use mediaprep_core::io::{Progress, SharedReader};
use mediaprep_core::{Error, Result};

/// Run a media request over named readers.
pub fn run_media(
    request: Request,
    files: Vec<(String, SharedReader)>,
    _progress: &dyn Progress,
) -> Result<serde_json::Value> {
    if files.is_empty() {
        return Err(Error::Invalid("no file given".into()));
    }
    match request {
        _ => Err(Error::Unsupported(
            "media inspection is not wired into the browser yet".into(),
        )),
    }
}
