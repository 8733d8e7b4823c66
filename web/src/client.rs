//! The page's side of the worker: spawn it, send typed requests with files, receive events.

use crate::protocol::{Envelope, Event, Request};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{MessageEvent, Worker};

/// A running worker and the id counter for its jobs.
pub struct WorkerClient {
    worker: Worker,
    next_id: Cell<u32>,
    /// Messages sent before the worker said it is ready: its handler is installed only after the
    /// wasm is instantiated, and a message that arrives earlier would be lost.
    pending: Rc<RefCell<Option<Vec<js_sys::Object>>>>,
    _onmessage: Closure<dyn FnMut(MessageEvent)>,
}

impl WorkerClient {
    /// Start `./worker_loader.js`; every event is passed to `on_event`, with the bytes of a
    /// [`Event::Download`] beside it.
    pub fn spawn(
        on_event: Rc<dyn Fn(Event, Option<js_sys::Uint8Array>)>,
    ) -> Result<Rc<Self>, JsValue> {
        let worker = Worker::new("./worker_loader.js")?;
        let pending: Rc<RefCell<Option<Vec<js_sys::Object>>>> =
            Rc::new(RefCell::new(Some(Vec::new())));
        let (queue, w) = (pending.clone(), worker.clone());
        let onmessage = Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| {
            let data = e.data();
            let (json, bytes) = match data.as_string() {
                Some(s) => (Some(s), None),
                None => (
                    js_sys::Reflect::get(&data, &"json".into())
                        .ok()
                        .and_then(|v| v.as_string()),
                    js_sys::Reflect::get(&data, &"bytes".into())
                        .ok()
                        .and_then(|v| v.dyn_into::<js_sys::Uint8Array>().ok()),
                ),
            };
            if let Some(s) = json {
                match serde_json::from_str::<Event>(&s) {
                    Ok(ev) => {
                        if matches!(ev, Event::Ready { .. }) {
                            // Listening now: send what was queued, in order.
                            for msg in queue.borrow_mut().take().unwrap_or_default() {
                                if let Err(err) = w.post_message(&msg) {
                                    web_sys::console::error_1(&err);
                                }
                            }
                        }
                        on_event(ev, bytes)
                    }
                    Err(err) => web_sys::console::error_1(&format!("bad event {err}").into()),
                }
            }
        });
        worker.set_onmessage(Some(onmessage.as_ref().unchecked_ref()));
        Ok(Rc::new(WorkerClient {
            worker,
            next_id: Cell::new(1),
            pending,
            _onmessage: onmessage,
        }))
    }

    /// Send a request with files; returns the job id. Sent at once when the worker is ready,
    /// otherwise queued until it is.
    pub fn send(&self, request: Request, files: &[web_sys::File]) -> Result<u32, JsValue> {
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        let to_folder = matches!(
            &request,
            Request::Patch {
                target: crate::protocol::PatchTarget::Folder,
                ..
            }
        );
        let json = serde_json::to_string(&Envelope { id, request })
            .map_err(|e| JsValue::from_str(&e.to_string()))?;
        let msg = js_sys::Object::new();
        js_sys::Reflect::set(&msg, &"json".into(), &json.into())?;
        let arr = js_sys::Array::new();
        for f in files {
            arr.push(f);
        }
        js_sys::Reflect::set(&msg, &"files".into(), &arr)?;
        if to_folder {
            // The folder the user picked travels beside the JSON (structured clone).
            if let Some(p) = crate::usb::take_picked() {
                js_sys::Reflect::set(&msg, &"dir".into(), &p.dir)?;
                if let Some(mib) = p.split_mib {
                    js_sys::Reflect::set(&msg, &"split_mib".into(), &(mib as f64).into())?;
                }
            }
        }
        if let Some(queue) = self.pending.borrow_mut().as_mut() {
            queue.push(msg);
            return Ok(id);
        }
        self.worker.post_message(&msg)?;
        Ok(id)
    }

    /// Stop the worker at once (cancel): a synchronous job cannot read messages mid-run.
    pub fn terminate(&self) {
        self.worker.terminate();
    }
}
