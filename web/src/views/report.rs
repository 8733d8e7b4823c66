//! Report export: the session as JSON, HTML, Markdown, a ZIP bundle, or the DISM hand-off script.

use crate::protocol::ReportFormat;
use yew::prelude::*;

/// Props of [`ReportPanel`].
#[derive(Properties, PartialEq)]
pub struct ReportProps {
    /// Export in a form.
    pub on_export: Callback<ReportFormat>,
    /// Last file exported: (name, size).
    pub last: Option<(String, u64)>,
}

/// Buttons that download the report; the worker builds it, nothing leaves the machine.
#[function_component(ReportPanel)]
pub fn report_panel(props: &ReportProps) -> Html {
    let button = |id: &'static str, label: &'static str, f: ReportFormat| {
        let cb = props.on_export.clone();
        html! { <button class="secondary" id={id} onclick={Callback::from(move |_| cb.emit(f))}>{ label }</button> }
    };
    html! {
        <section class="card" id="report-view" aria-labelledby="report-title">
            <h2 id="report-title">{"Report"}</h2>
            <p class="muted">{"Save what was found, for a ticket or for the machine that runs DISM."}</p>
            <div class="row">
                { button("export-json", "JSON", ReportFormat::Json) }
                { button("export-html", "HTML", ReportFormat::Html) }
                { button("export-md", "Markdown", ReportFormat::Markdown) }
                { button("export-zip", "ZIP bundle", ReportFormat::Zip) }
                { button("export-dism", "DISM script", ReportFormat::Dism) }
            </div>
            if let Some((name, size)) = &props.last {
                <p class="ok" id="export-done" role="status">{ format!("Saved {name} ({size} bytes).") }</p>
            }
        </section>
    }
}
