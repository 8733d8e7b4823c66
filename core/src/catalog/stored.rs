//! Which catalog a session uses when a front end keeps a user-supplied file between sessions (the
//! page keeps it in OPFS): the kept file wins over the built-in catalog while it is newer and was
//! kept by this very app version. A new app version (which may ship a newer catalog) or a built-in
//! catalog at least as new retires it. Pure decisions, so the page only stores and reads bytes.

use serde::{Deserialize, Serialize};

use super::age::CatalogSource;
use super::model::Catalog;

/// What to do with a catalog file kept from an earlier session.
#[derive(Debug, Clone, PartialEq)]
pub enum KeptCatalog {
    /// Use it instead of the built-in catalog.
    Use(Catalog, CatalogSource),
    /// Delete it and use the built-in catalog; the reason in plain words.
    Discard(String),
}

/// Decide about a kept catalog file: its bytes, the name it was loaded under, and the app version
/// that kept it. `built_in` is this build's catalog.
pub fn kept_catalog(bytes: &[u8], name: &str, kept_by: &str, built_in: &Catalog) -> KeptCatalog {
    let this = env!("CARGO_PKG_VERSION");
    if kept_by != this {
        return KeptCatalog::Discard(format!(
            "the kept catalog {name} was loaded by mediaprep {kept_by}; this is {this}, whose \
             built-in catalog {} is used instead",
            built_in.version
        ));
    }
    let cat = match Catalog::load(bytes) {
        Ok(c) => c,
        Err(e) => {
            return KeptCatalog::Discard(format!("the kept catalog {name} no longer loads: {e}"))
        }
    };
    match (cat.date(), built_in.date()) {
        (Ok(kept), Ok(own)) if kept > own => KeptCatalog::Use(
            cat,
            CatalogSource::File {
                name: name.to_string(),
            },
        ),
        _ => KeptCatalog::Discard(format!(
            "the kept catalog {name} ({}) is not newer than the built-in one ({})",
            cat.version, built_in.version
        )),
    }
}

/// Whether a newly loaded catalog file should replace the kept one (or be kept when none is):
/// only a newer catalog replaces what is kept. For the current session a loaded file is always used.
pub fn should_keep(new: &Catalog, kept: Option<&Catalog>, built_in: &Catalog) -> bool {
    let Ok(new_date) = new.date() else {
        return false;
    };
    let floor = kept.unwrap_or(built_in);
    floor.date().map_or(true, |d| new_date > d)
}

/// The record a front end stores next to the kept file's bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeptCatalogInfo {
    /// The file name it was loaded under.
    pub name: String,
    /// The app version that kept it ([`kept_catalog`] compares it with the running one).
    pub app_version: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cat(version: &str) -> Catalog {
        Catalog::empty(version, "test")
    }

    fn bytes(c: &Catalog) -> Vec<u8> {
        c.to_json().unwrap().into_bytes()
    }

    #[test]
    fn kept_catalog_is_used_while_newer_and_same_app_version() {
        let own = cat("2026.11.23");
        let newer = cat("2026.12.09");
        let this = env!("CARGO_PKG_VERSION");
        assert_eq!(
            kept_catalog(&bytes(&newer), "dec.json", this, &own),
            KeptCatalog::Use(
                newer.clone(),
                CatalogSource::File {
                    name: "dec.json".into()
                }
            )
        );
        // Another app version, an older or equal catalog, a broken file: discarded, with why.
        for (b, by, why) in [
            (bytes(&newer), "0.0.0-old", "loaded by mediaprep 0.0.0-old"),
            (bytes(&cat("2026.11.23")), this, "not newer"),
            (bytes(&cat("2026.10.01")), this, "not newer"),
            (b"{".to_vec(), this, "no longer loads"),
        ] {
            match kept_catalog(&b, "k.json", by, &own) {
                KeptCatalog::Discard(reason) => assert!(reason.contains(why), "{reason}"),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn only_a_newer_file_replaces_the_kept_one() {
        let own = cat("2026.11.23");
        let kept = cat("2026.12.09");
        assert!(should_keep(&kept, None, &own));
        assert!(!should_keep(&cat("2026.11.01"), None, &own));
        assert!(!should_keep(&cat("2026.12.01"), Some(&kept), &own));
        assert!(should_keep(&cat("2027.01.13"), Some(&kept), &own));
    }
}
