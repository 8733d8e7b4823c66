//! The package view: identity, KB, components and the verification verdict of a .cab/.msu.

use super::{human_size, wire};
use crate::protocol::PackageResult;
use yew::prelude::*;

/// Props of [`PackageView`].
#[derive(Properties, PartialEq)]
pub struct PackageProps {
    /// The package and its verification.
    pub result: PackageResult,
}

/// One verified package.
#[function_component(PackageView)]
pub fn package_view(props: &PackageProps) -> Html {
    let r = &props.result;
    let (pkg, ver) = (&*r.package, &*r.verification);
    let ok = ver.ok;
    let ident = pkg.identity.clone().unwrap_or_default();
    let payloads = &ver.payloads;
    let matched = payloads.iter().filter(|p| p.ok).count();
    html! {
        <section class="card package-view" data-file={r.file.clone()} aria-label={format!("Package {}", r.file)}>
            <h2>{ r.file.clone() }</h2>
            <p class={classes!("verdict", if ok { "ok" } else { "bad" })} role="status">
                { if ok {
                    format!("Verified: all {} payload files match their manifests.", payloads.len())
                } else {
                    format!("Do not use this package: {}", ver.problems.join("; "))
                } }
            </p>
            <table>
                <tr><th scope="row">{"KB"}</th><td class="kb">{ pkg.kb.clone().unwrap_or_default() }</td></tr>
                <tr><th scope="row">{"Kind"}</th><td class="kind">{ wire(&pkg.kind) }</td></tr>
                <tr><th scope="row">{"Identity"}</th><td class="identity mono">{ format!("{} {} {} {}",
                    ident.name, ident.version, ident.processor_architecture, ident.language) }</td></tr>
                <tr><th scope="row">{"Container"}</th><td>{ format!("{} · {} members", wire(&pkg.container), pkg.members.len()) }</td></tr>
                <tr><th scope="row">{"SHA-256"}</th><td><code class="file-sha256">{ ver.file_sha256.clone() }</code></td></tr>
                <tr><th scope="row">{"Payloads"}</th><td class="payload-count">{ format!("{matched} of {} match", payloads.len()) }</td></tr>
            </table>
            <details><summary>{ format!("{} components", pkg.components.len()) }</summary>
                <ul class="components">{ for pkg.components.iter().map(|c| html! {
                    <li class="mono">{ c.identity.name.clone() }</li>
                }) }</ul>
            </details>
            <details open={!ok}><summary>{"Payload checks"}</summary>
                <table><tbody>{ for payloads.iter().map(|p| {
                    html! { <tr class={classes!("payload", if p.ok { "ok" } else { "bad" })}>
                        <td class="mono">{ p.file.clone() }</td>
                        <td>{ wire(&p.status) }</td>
                    </tr> }
                }) }</tbody></table>
            </details>
            <p class="muted">{ human_size(pkg.members.iter().map(|m| m.size).sum()) }{" uncompressed"}</p>
        </section>
    }
}
