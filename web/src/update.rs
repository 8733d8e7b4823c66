//! "A new version is ready": when a new service worker has installed and waits behind the one
//! controlling this page, offer a reload. The click tells the waiting worker to take over
//! (`skip-waiting`, see www/sw.js) and the page reloads once it controls it (`controllerchange`).
//! Nothing is shown on the first visit: a page that no worker controls yet has nothing to update.

use std::cell::Cell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{ServiceWorker, ServiceWorkerRegistration, ServiceWorkerState};
use yew::prelude::*;

/// Watch the registration and call `found` with a worker that is installed and waiting while
/// this page is controlled by an older one (now, or whenever an update finishes installing).
async fn watch(found: Rc<dyn Fn(ServiceWorker)>) -> Result<(), JsValue> {
    let Some(window) = web_sys::window() else {
        return Ok(());
    };
    let container = window.navigator().service_worker();
    // Resolves once a worker is active (never in debug builds, which register none).
    let reg: ServiceWorkerRegistration = JsFuture::from(container.ready()?).await?.unchecked_into();
    let check = {
        let (reg, container, found) = (reg.clone(), container.clone(), found.clone());
        Rc::new(move || {
            if container.controller().is_some() {
                if let Some(w) = reg.waiting() {
                    found(w);
                }
            }
        })
    };
    check();
    let on_update = {
        let reg = reg.clone();
        Closure::<dyn FnMut()>::new(move || {
            let Some(installing) = reg.installing() else {
                return;
            };
            let (check, w) = (check.clone(), installing.clone());
            let on_state = Closure::<dyn FnMut()>::new(move || {
                if w.state() == ServiceWorkerState::Installed {
                    check();
                }
            });
            installing.set_onstatechange(Some(on_state.as_ref().unchecked_ref()));
            on_state.forget();
        })
    };
    reg.set_onupdatefound(Some(on_update.as_ref().unchecked_ref()));
    // One registration per page, watched for the page's lifetime.
    on_update.forget();
    Ok(())
}

/// Hand control to `waiting` and reload the page once it has taken over.
fn activate(waiting: &ServiceWorker) {
    let Some(window) = web_sys::window() else {
        return;
    };
    let container = window.navigator().service_worker();
    let reloaded = Cell::new(false);
    let on_change = Closure::<dyn FnMut()>::new(move || {
        if !reloaded.replace(true) {
            if let Some(w) = web_sys::window() {
                let _ = w.location().reload();
            }
        }
    });
    container.set_oncontrollerchange(Some(on_change.as_ref().unchecked_ref()));
    on_change.forget();
    if let Err(e) = waiting.post_message(&"skip-waiting".into()) {
        web_sys::console::error_1(&e);
    }
}

/// The banner: hidden until a new version waits.
#[function_component(UpdateBanner)]
pub fn update_banner() -> Html {
    let waiting = use_state(|| None::<ServiceWorker>);
    let busy = use_state(|| false);
    {
        let waiting = waiting.clone();
        use_effect_with((), move |_| {
            let found: Rc<dyn Fn(ServiceWorker)> = Rc::new(move |w| waiting.set(Some(w)));
            wasm_bindgen_futures::spawn_local(async move {
                if let Err(e) = watch(found).await {
                    web_sys::console::error_1(&e);
                }
            });
        });
    }
    let Some(w) = (*waiting).clone() else {
        return html! {};
    };
    let onclick = {
        let busy = busy.clone();
        Callback::from(move |_: MouseEvent| {
            busy.set(true);
            activate(&w);
        })
    };
    html! {
        <div class="card update" id="update-banner" role="status">
            <span>{"A new version of mediaprep is ready."}</span>{" "}
            <button id="update-reload" {onclick} disabled={*busy}>{ if *busy { "Reloading…" } else { "Reload" } }</button>
        </div>
    }
}
