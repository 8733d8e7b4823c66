// A compression worker of a patch job's pool (web/src/pool.rs). The job's worker sends its
// compiled wasm module and the shared buffer; pool_serve answers {pool: "ready"} and then serves
// batches until this worker is terminated. If it stops on an error, the job's worker, blocked in
// Atomics.wait, learns it from the shared control words (failed count at word 4, then a wake-up
// of word 1, the done counter) and compresses the rest itself.
importScripts("./worker.js");
self.onmessage = async (e) => {
  self.onmessage = null;
  const { module, shared } = e.data;
  try {
    await wasm_bindgen({ module_or_path: module });
    wasm_bindgen.pool_serve(shared);
  } catch (err) {
    const ctrl = new Int32Array(shared, 0, 8);
    Atomics.add(ctrl, 4, 1);
    Atomics.notify(ctrl, 1);
    self.postMessage({ pool: "failed", message: String(err) });
  }
};
