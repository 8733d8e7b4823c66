//! The catalog kept between visits: a catalog file that loaded and is newer than the built-in one
//! (and than any kept before) is stored in the origin-private file system with a
//! [`KeptCatalogInfo`] record; at start the core's [`kept_catalog`] says whether it is used or
//! deleted. The decisions are pure functions (tested natively); the OPFS part runs in the worker.

use crate::jobs::{CatalogUse, ChosenCatalog};
use mediaprep_core::catalog::{
    kept_catalog, should_keep, Catalog, CatalogSource, KeptCatalog, KeptCatalogInfo,
};
use mediaprep_core::{Error, Result};
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

/// The kept catalog's bytes in OPFS.
pub const BYTES: &str = "catalog.json";
/// The record beside them (name it was loaded under, app version that kept it).
pub const INFO: &str = "catalog.kept.json";

/// What the start of a visit does with a kept catalog.
pub struct AtStart {
    /// The catalog to use.
    pub chosen: ChosenCatalog,
    /// Plain words for the page (kept one used, or why it was deleted); `None` when none was kept.
    pub note: Option<String>,
    /// Delete the kept files.
    pub discard: bool,
}

/// Decide at start: `stored` is the kept file's bytes and record, if any.
pub fn at_start(stored: Option<(Vec<u8>, KeptCatalogInfo)>, built_in: Catalog) -> AtStart {
    let builtin = |built_in, note, discard| AtStart {
        chosen: ChosenCatalog {
            catalog: built_in,
            source: CatalogSource::built_in(),
            used: CatalogUse::BuiltIn,
            problem: None,
            fresh: None,
        },
        note,
        discard,
    };
    let Some((bytes, info)) = stored else {
        return builtin(built_in, None, false);
    };
    match kept_catalog(&bytes, &info.name, &info.app_version, &built_in) {
        KeptCatalog::Use(catalog, source) => AtStart {
            chosen: ChosenCatalog {
                catalog,
                source,
                used: CatalogUse::Fallback,
                problem: None,
                fresh: None,
            },
            note: Some(
                "kept in this browser since an earlier visit (used until a newer catalog or a new \
                 mediaprep version comes)"
                    .into(),
            ),
            discard: false,
        },
        KeptCatalog::Discard(reason) => builtin(
            built_in,
            Some(format!("The kept catalog was deleted: {reason}.")),
            true,
        ),
    }
}

/// Whether a newly loaded catalog replaces the kept one, and the words for the page.
pub fn keep_decision(new: &Catalog, kept: Option<&Catalog>, built_in: &Catalog) -> (bool, String) {
    if should_keep(new, kept, built_in) {
        return (
            true,
            "kept in this browser for the next visits, until a newer catalog or a new mediaprep \
             version comes"
                .into(),
        );
    }
    let (what, other) = match kept {
        Some(k) => ("the catalog kept in this browser", k),
        None => ("the built-in catalog", built_in),
    };
    (
        false,
        format!(
            "used for this visit only: not newer than {what} ({})",
            other.version
        ),
    )
}

fn js_err(what: &str, e: wasm_bindgen::JsValue) -> Error {
    Error::browser(what, format!("{e:?}"))
}

/// An OPFS file's bytes, `None` when it does not exist (worker only: `FileReaderSync`).
async fn read(dir: &web_sys::FileSystemDirectoryHandle, name: &str) -> Result<Option<Vec<u8>>> {
    let Ok(h) = JsFuture::from(dir.get_file_handle(name)).await else {
        return Ok(None);
    };
    let h: web_sys::FileSystemFileHandle = h.unchecked_into();
    let file: web_sys::File = JsFuture::from(h.get_file())
        .await
        .map_err(|e| js_err(name, e))?
        .unchecked_into();
    if file.size() > (16 << 20) as f64 {
        return Err(Error::limit(
            file.size() as u64,
            16u64 << 20,
            format!(
                "the kept {name} is {} bytes, more than a catalog",
                file.size()
            ),
        ));
    }
    let ab = web_sys::FileReaderSync::new()
        .and_then(|r| r.read_as_array_buffer(&file))
        .map_err(|e| js_err(name, e))?;
    Ok(Some(js_sys::Uint8Array::new(&ab).to_vec()))
}

/// Write an OPFS file whole.
async fn write(dir: &web_sys::FileSystemDirectoryHandle, name: &str, bytes: &[u8]) -> Result<()> {
    use mediaprep_core::io::WriteAt;
    let fh = crate::save::file_handle(dir, name).await?;
    let mut sink = crate::save::OpfsSink::open(&fh).await?;
    sink.write_at(0, bytes)?;
    sink.close()
}

/// The kept catalog's bytes and record, if both are there and the record reads.
async fn stored(
    dir: &web_sys::FileSystemDirectoryHandle,
) -> Result<Option<(Vec<u8>, KeptCatalogInfo)>> {
    let (Some(info), Some(bytes)) = (read(dir, INFO).await?, read(dir, BYTES).await?) else {
        return Ok(None);
    };
    match serde_json::from_slice::<KeptCatalogInfo>(&info) {
        Ok(info) => Ok(Some((bytes, info))),
        // A record that does not read is treated as another app's: kept_catalog discards it.
        Err(_) => Ok(Some((
            bytes,
            KeptCatalogInfo {
                name: BYTES.into(),
                app_version: "an unreadable record".into(),
            },
        ))),
    }
}

/// Delete the kept catalog (record first, so a half-deleted state reads as none).
pub async fn forget(dir: &web_sys::FileSystemDirectoryHandle) {
    crate::save::remove(dir, INFO).await;
    crate::save::remove(dir, BYTES).await;
}

/// At the start of a visit: the kept catalog (if any) used or deleted.
pub async fn start() -> Result<AtStart> {
    let dir = crate::save::opfs_root().await?;
    let decision = at_start(stored(&dir).await?, Catalog::embedded()?);
    if decision.discard {
        forget(&dir).await;
    }
    Ok(decision)
}

/// A catalog file that just loaded: keep it when it is newer than what is kept (or built in).
/// Returns the words for the page.
pub async fn offer(new: &Catalog, name: &str, bytes: &[u8]) -> Result<String> {
    let dir = crate::save::opfs_root().await?;
    let built_in = Catalog::embedded()?;
    let kept = match at_start(stored(&dir).await?, built_in.clone()) {
        AtStart {
            chosen:
                ChosenCatalog {
                    catalog,
                    used: CatalogUse::Fallback,
                    ..
                },
            ..
        } => Some(catalog),
        _ => None,
    };
    let (keep, words) = keep_decision(new, kept.as_ref(), &built_in);
    if keep {
        // Record last: without it the bytes are never used.
        forget(&dir).await;
        write(&dir, BYTES, bytes).await?;
        let info = KeptCatalogInfo {
            name: name.to_string(),
            app_version: env!("CARGO_PKG_VERSION").to_string(),
        };
        let json = serde_json::to_vec(&info)
            .map_err(|e| Error::io("the kept catalog's record", e.into()))?;
        write(&dir, INFO, &json).await?;
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cat(version: &str) -> Catalog {
        Catalog::empty(version, "test")
    }

    fn info(name: &str, by: &str) -> KeptCatalogInfo {
        KeptCatalogInfo {
            name: name.into(),
            app_version: by.into(),
        }
    }

    #[test]
    fn a_kept_newer_catalog_is_used_and_anything_else_deleted_with_why() {
        let this = env!("CARGO_PKG_VERSION");
        let newer = cat("2026.12.09").to_json().unwrap().into_bytes();
        let s = at_start(
            Some((newer.clone(), info("dec.json", this))),
            cat("2026.11.23"),
        );
        assert_eq!(s.chosen.used, CatalogUse::Fallback);
        assert_eq!(
            s.chosen.source,
            CatalogSource::File {
                name: "dec.json".into()
            }
        );
        assert!(!s.discard && s.note.unwrap().contains("kept in this browser"));
        // None kept: the built-in one, nothing said.
        let s = at_start(None, cat("2026.11.23"));
        assert!(s.chosen.used == CatalogUse::BuiltIn && s.note.is_none() && !s.discard);
        // Another app version, not newer, broken: deleted, the reason said.
        for (bytes, by, why) in [
            (newer.clone(), "0.0.0-old", "0.0.0-old"),
            (
                cat("2026.11.01").to_json().unwrap().into_bytes(),
                this,
                "not newer",
            ),
            (b"{".to_vec(), this, "no longer loads"),
        ] {
            let s = at_start(Some((bytes, info("k.json", by))), cat("2026.11.23"));
            assert!(s.discard && s.chosen.used == CatalogUse::BuiltIn);
            let note = s.note.unwrap();
            assert!(
                note.starts_with("The kept catalog was deleted: ") && note.contains(why),
                "{note}"
            );
        }
    }

    #[test]
    fn only_a_newer_catalog_is_kept_and_the_words_say_why() {
        let own = cat("2026.11.23");
        let (keep, words) = keep_decision(&cat("2026.12.09"), None, &own);
        assert!(keep && words.starts_with("kept in this browser"), "{words}");
        let (keep, words) = keep_decision(&cat("2026.11.23"), None, &own);
        assert!(
            !keep && words.contains("built-in catalog (2026.11.23)"),
            "{words}"
        );
        let kept = cat("2027.01.13");
        let (keep, words) = keep_decision(&cat("2026.12.09"), Some(&kept), &own);
        assert!(
            !keep && words.contains("kept in this browser (2027.01.13)"),
            "{words}"
        );
    }
}
