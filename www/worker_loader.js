// Loads the no-modules worker build and starts it; the worker posts {"event":"ready"} once its
// onmessage handler is installed, and the page waits for that before sending jobs.
importScripts("./worker.js");
wasm_bindgen({ module_or_path: "./worker_bg.wasm" });
