//! The catalog line: which Dynamic Update catalog the verdicts rest on, how old it is, whether it
//! is kept in this browser, and an export of it as JSON.

use mediaprep_core::catalog::{CatalogAge, CatalogSource};
use yew::prelude::*;

/// Props of [`CatalogBar`].
#[derive(Properties, PartialEq)]
pub struct CatalogProps {
    /// The age of the catalog in use, once the worker has said.
    pub catalog: Option<CatalogAge>,
    /// Kept in this browser, or why a kept one was deleted.
    pub note: Option<String>,
    /// Export the catalog in use.
    pub on_export: Callback<MouseEvent>,
    /// A job is running (the export waits behind it).
    pub busy: bool,
}

/// "Catalog file b.json loaded, up to date as of 2026-11-24 (9 days old)".
pub fn catalog_line(age: &CatalogAge) -> String {
    let days = match age.age_days {
        0 => "dated today".to_string(),
        1 => "1 day old".to_string(),
        n if n > 0 => format!("{n} days old"),
        n => format!("dated {} days after today: check the clock", -n),
    };
    let what = match &age.source {
        CatalogSource::File { .. } => format!("{} loaded", age.source.describe()),
        CatalogSource::BuiltIn { .. } => age.source.describe(),
    };
    format!("Catalog {what}, up to date as of {} ({days})", age.date)
}

/// One line above everything the catalog decides, present before any media is opened.
#[function_component(CatalogBar)]
pub fn catalog_bar(props: &CatalogProps) -> Html {
    let age = props.catalog.clone();
    html! {
        <section class="catalog-bar row" id="catalog-bar" aria-label="Update catalog">
            if let Some(a) = &age {
                <p id="catalog-source" class={if a.stale { "warn" } else { "muted" }}
                   data-version={a.version.clone()}>{ catalog_line(a) }</p>
            } else {
                <p class="muted">{"Catalog: checking…"}</p>
            }
            if let Some(n) = &props.note {
                <p class="muted" id="catalog-kept">{ n.clone() }</p>
            }
            <button class="secondary small" id="catalog-export" onclick={props.on_export.clone()}
                disabled={props.busy || age.is_none()}>{"Export catalog (JSON)"}</button>
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mediaprep_core::catalog::{Catalog, Date};

    #[test]
    fn the_line_names_the_file_its_date_and_age() {
        let cat = Catalog::empty("2026.11.24", "t");
        let today = Date::new(2026, 12, 3).unwrap();
        let file = CatalogSource::File {
            name: "b.json".into(),
        };
        let age = CatalogAge::new(&cat, file, today).unwrap();
        assert_eq!(
            catalog_line(&age),
            "Catalog file b.json loaded, up to date as of 2026-11-24 (9 days old)"
        );
        let age = CatalogAge::new(&cat, CatalogSource::built_in(), today).unwrap();
        assert!(catalog_line(&age).starts_with("Catalog built into mediaprep "));
    }
}
