//! Media jobs the worker runs through the core (inspect, list), shared with the wasm tests.

use crate::protocol::Request;
use mediaprep_core::io::{Progress, SharedReader};
use mediaprep_core::media::{self, Target};
use mediaprep_core::{Error, Result};

fn to_json<T: serde::Serialize>(v: &T) -> Result<serde_json::Value> {
    serde_json::to_value(v).map_err(|e| Error::Io(format!("serializing the result: {e}")))
}

/// Run a media request over named readers.
pub fn run_media(
    request: Request,
    files: Vec<(String, SharedReader)>,
    progress: &dyn Progress,
) -> Result<serde_json::Value> {
    match request {
        Request::Inspect => {
            let rep = media::inspect(files, progress)?;
            let cat = mediaprep_core::catalog::Catalog::embedded()?;
            let eval = mediaprep_core::catalog::evaluate(&cat, &media::image_facts(&rep));
            Ok(serde_json::json!({ "inspection": to_json(&rep)?, "evaluation": to_json(&eval)? }))
        }
        Request::List { layers } => {
            let (_, node) = media::open_files(files)?;
            let entries = match media::descend(node, &layers)? {
                Target::Dir(e) => e,
                Target::Node(n) => media::list_node(&n)?,
                Target::File(r, _) => media::list_node(&media::open_node(r, "file")?)?,
            };
            to_json(&entries)
        }
        Request::Hash { .. } => Err(Error::Invalid("hash is not a media job".into())),
    }
}
