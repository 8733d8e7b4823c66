//! The package view: identity, KB, components and the verification verdict of a .cab/.msu.

use super::{human_size, list, text};
use serde_json::Value;
use yew::prelude::*;

/// Props of [`PackageView`].
#[derive(Properties, PartialEq)]
pub struct PackageProps {
    /// `{file, package, verification}`.
    pub result: Value,
}

/// One verified package.
#[function_component(PackageView)]
pub fn package_view(props: &PackageProps) -> Html {
    let r = &props.result;
    let pkg = r.get("package").cloned().unwrap_or(Value::Null);
    let ver = r.get("verification").cloned().unwrap_or(Value::Null);
    let ok = ver.get("ok").and_then(Value::as_bool) == Some(true);
    let ident = pkg.get("identity").cloned().unwrap_or(Value::Null);
    let payloads = list(&ver, "payloads");
    let matched = payloads
        .iter()
        .filter(|p| p.get("ok").and_then(Value::as_bool) == Some(true))
        .count();
    html! {
        <section class="card package-view" data-file={text(r, "file")} aria-label={format!("Package {}", text(r, "file"))}>
            <h2>{ text(r, "file") }</h2>
            <p class={classes!("verdict", if ok { "ok" } else { "bad" })} role="status">
                { if ok {
                    format!("Verified: all {} payload files match their manifests.", payloads.len())
                } else {
                    format!("Do not use this package: {}", list(&ver, "problems").iter().filter_map(Value::as_str).collect::<Vec<_>>().join("; "))
                } }
            </p>
            <table>
                <tr><th scope="row">{"KB"}</th><td class="kb">{ text(&pkg, "kb") }</td></tr>
                <tr><th scope="row">{"Kind"}</th><td class="kind">{ text(&pkg, "kind") }</td></tr>
                <tr><th scope="row">{"Identity"}</th><td class="identity mono">{ format!("{} {} {} {}",
                    text(&ident, "name"), text(&ident, "version"), text(&ident, "processor_architecture"), text(&ident, "language")) }</td></tr>
                <tr><th scope="row">{"Container"}</th><td>{ format!("{} · {} members", text(&pkg, "container"), list(&pkg, "members").len()) }</td></tr>
                <tr><th scope="row">{"SHA-256"}</th><td><code class="file-sha256">{ text(&ver, "file_sha256") }</code></td></tr>
                <tr><th scope="row">{"Payloads"}</th><td class="payload-count">{ format!("{matched} of {} match", payloads.len()) }</td></tr>
            </table>
            <details><summary>{ format!("{} components", list(&pkg, "components").len()) }</summary>
                <ul class="components">{ for list(&pkg, "components").iter().map(|c| html! {
                    <li class="mono">{ text(c.get("identity").unwrap_or(c), "name") }</li>
                }) }</ul>
            </details>
            <details open={!ok}><summary>{"Payload checks"}</summary>
                <table><tbody>{ for payloads.iter().map(|p| {
                    let good = p.get("ok").and_then(Value::as_bool) == Some(true);
                    html! { <tr class={classes!("payload", if good { "ok" } else { "bad" })}>
                        <td class="mono">{ text(p, "file") }</td>
                        <td>{ p.get("status").map(|s| s.as_str().map(String::from).unwrap_or_else(|| s.to_string())).unwrap_or_default() }</td>
                    </tr> }
                }) }</tbody></table>
            </details>
            <p class="muted">{ human_size(list(&pkg, "members").iter().filter_map(|m| m.get("size").and_then(Value::as_u64)).sum()) }{" uncompressed"}</p>
        </section>
    }
}
