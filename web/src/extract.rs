//! Extract one file from inside the media (any depth: ISO → WIM image → file) into the
//! origin-private file system, streamed in slices; a WIM file's SHA-1 is checked against the
//! image's record before the file gets its final name, so a download is never of bad bytes.

use crate::protocol::Extracted;
use crate::save::OpfsStore;
use mediaprep_core::hash::MultiHasher;
use mediaprep_core::io::{OutputStore, Part, Progress, ReadAt, SharedReader, WriteAt};
use mediaprep_core::media::{self, Target};
use mediaprep_core::{Error, Result};

/// Copy the file `layers` leads to into OPFS; `checked` in the result: the bytes matched the WIM's
/// SHA-1 (ISO files have none to check).
pub async fn extract(
    files: Vec<(String, SharedReader)>,
    layers: Vec<String>,
    progress: &dyn Progress,
) -> Result<Extracted> {
    let (_, root) = media::open_files(files)?;
    let (reader, expect) = match media::descend(root, &layers)? {
        Target::File(r, h) => (r, h),
        _ => {
            return Err(Error::invalid(
                "page request",
                "that is a folder or an image, not a file",
            ))
        }
    };
    let leaf = layers
        .last()
        .and_then(|l| l.rsplit(['/', ':']).next())
        .filter(|n| !n.is_empty())
        .unwrap_or("extracted")
        .to_string();
    // OPFS names are flat; keep the file's own name so the download is named as in the image.
    let out_name = format!("extract-{leaf}");
    let total = reader.size();
    let mut store = OpfsStore::open(&out_name, &[Part::Output]).await?;
    let copied = (|| {
        store.reserve(total.saturating_add(16 << 20))?;
        let mut sink = store.create(Part::Output)?;
        let mut hasher = MultiHasher::new();
        let mut buf = vec![0u8; (8u64 << 20).min(total) as usize];
        let mut at = 0u64;
        while at < total {
            if progress.cancelled() {
                return Err(Error::Cancelled);
            }
            let n = (total - at).min(buf.len() as u64) as usize;
            reader.read_at(at, &mut buf[..n])?;
            hasher.update(&buf[..n]);
            sink.write_at(at, &buf[..n])?;
            at += n as u64;
            progress.update("extract", at, total);
        }
        let d = hasher.finish();
        if let Some(want) = expect {
            if d.sha1 != want {
                return Err(Error::invalid(
                    "page request",
                    format!(
                        "{leaf}: its bytes do not match the SHA-1 the image records; not saved"
                    ),
                ));
            }
        }
        let back = store.reopen(Part::Output, sink)?;
        if back.size() != total {
            return Err(Error::browser(
                "OPFS read-back",
                format!(
                    "{leaf}: {} bytes landed in storage, {total} were written",
                    back.size()
                ),
            ));
        }
        drop(back);
        store.commit(Part::Output)?;
        Ok::<_, Error>(d.sha256)
    })();
    let name = store.settle().await;
    let sha256 = copied?;
    Ok(Extracted {
        path: layers.join(" "),
        name: leaf,
        opfs: name.unwrap_or_default(),
        size: total,
        sha256,
        checked: expect.is_some(),
    })
}
