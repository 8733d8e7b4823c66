//! The compression pool of a patch job (issue #6): where the page is cross-origin isolated, the
//! job's worker starts a few more workers running the same wasm module and compresses each run of
//! WIM chunks together with them through a `SharedArrayBuffer`; elsewhere it compresses alone.
//!
//! The job runs synchronously in its worker, so it cannot await messages mid-write. Instead it
//! copies a batch of chunks into the shared buffer, publishes the batch in one control word, takes
//! chunks itself, and blocks in `Atomics.wait` until the pool workers have compressed the rest.
//! Everyone claims the next chunk with a compare-and-swap on that word, so no chunk is done
//! twice and a slow worker holds up nobody. Every chunk is compressed by the core's
//! [`Encoder`] at the writer's compression and effort, so the bytes do not depend on who did it
//! ([`mediaprep_core::codec::parallel::ChunkBackend`]). A worker that fails says so in the
//! control words (`www/pool_loader.js`); a batch that makes no progress for [`STALL_MS`]
//! retires the pool. Either way the job worker compresses what is missing itself and carries on
//! alone. Cancel terminates the job worker, and the pool workers with it (they are its own).
//!
//! Layout of the shared buffer: [`HEAD_WORDS`] control words, [`SLOT_WORDS`] per chunk slot,
//! then the input bytes and the output bytes, [`DATA_BYTES`] each; a chunk's output goes at the
//! same offset as its input (it is only kept when smaller).

use mediaprep_core::codec::parallel::{Backend, ChunkBackend, ChunkOut};
use mediaprep_core::codec::{Compression, Effort, Encoder};
use std::cell::RefCell;
use std::ops::Range;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

/// Control word: `count << 16 | next`, the batch's chunk count and the next unclaimed index.
const W_CLAIM: u32 = 0;
/// Control word: chunks of the current batch finished (by anyone).
const W_DONE: u32 = 1;
/// Control word: the batch's compression ([`Compression::solid_id`]).
const W_KIND: u32 = 2;
/// Control word: the batch's effort (0 best, 1 fast).
const W_EFFORT: u32 = 3;
/// Control word: pool workers that stopped on an error (`www/pool_loader.js` adds to it and
/// notifies [`W_DONE`]; keep the two indexes in step with it).
const W_FAILED: u32 = 4;
/// Control word: the largest wasm memory of any pool worker so far, in MiB (benchmarks).
const W_POOL_MEM: u32 = 5;
/// Control words before the chunk slots.
const HEAD_WORDS: u32 = 8;
/// Words per chunk slot: input offset, input length, output length (-1: stored raw), state
/// (1 once a pool worker has written the result).
const SLOT_WORDS: u32 = 4;
/// Chunk slots: a batch holds at most this many chunks.
pub const MAX_CHUNKS: usize = 64;
/// Bytes of input (and as many of output) a batch holds: 64 chunks of 32 KiB (LZX).
pub const DATA_BYTES: usize = 2 << 20;
const IN_BASE: usize = ((HEAD_WORDS + SLOT_WORDS * MAX_CHUNKS as u32) * 4) as usize;
const OUT_BASE: usize = IN_BASE + DATA_BYTES;
const TOTAL_BYTES: usize = OUT_BASE + DATA_BYTES;
// Chunk counts and indexes fit the claim word's 16-bit halves; offsets fit the JS u32 views.
const _: () = assert!(MAX_CHUNKS < 1 << 15 && TOTAL_BYTES < u32::MAX as usize && IN_BASE % 8 == 0);
/// The most pool workers started (each holds a wasm instance and LZX tables).
pub const MAX_WORKERS: usize = 4;
/// A batch that finishes no chunk for this long retires the pool (a worker died silently).
pub const STALL_MS: f64 = 30_000.0;
/// How long the pool workers get to load before the job goes on without the late ones.
const START_MS: i32 = 15_000;
/// Pool workers are named `mediaprep-pool-N`; the worker entry point checks the prefix.
pub const WORKER_NAME: &str = "mediaprep-pool";

/// The claim word for `count` chunks with `next` the first unclaimed one.
fn pack(count: usize, next: usize) -> i32 {
    ((count as i32) << 16) | next as i32
}

/// `(count, next)` of a claim word.
fn unpack(word: i32) -> (usize, usize) {
    (((word >> 16) & 0xFFFF) as usize, (word & 0xFFFF) as usize)
}

/// Split chunks of these lengths into consecutive batches that fit the shared buffer: at most
/// [`MAX_CHUNKS`] chunks and [`DATA_BYTES`] bytes each. A chunk larger than [`DATA_BYTES`] gets
/// a batch of its own (which the caller compresses itself).
fn batches(lens: &[usize]) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut bytes = 0;
    for (k, &len) in lens.iter().enumerate() {
        if k > start && (k - start == MAX_CHUNKS || bytes + len > DATA_BYTES) {
            out.push(start..k);
            start = k;
            bytes = 0;
        }
        bytes += len;
    }
    if start < lens.len() {
        out.push(start..lens.len());
    }
    out
}

fn slot(k: usize, field: u32) -> u32 {
    HEAD_WORDS + k as u32 * SLOT_WORDS + field
}

const S_IN_OFF: u32 = 0;
const S_IN_LEN: u32 = 1;
const S_OUT_LEN: u32 = 2;
const S_STATE: u32 = 3;

/// What a claim attempt found.
enum Claim {
    /// This chunk index is ours.
    Chunk(usize),
    /// Nothing left to claim under this word (wait for it to change).
    Empty(i32),
}

/// Claim the next chunk of the published batch.
fn claim(ctrl: &js_sys::Int32Array) -> Result<Claim, JsValue> {
    loop {
        let word = js_sys::Atomics::load(ctrl, W_CLAIM)?;
        let (count, next) = unpack(word);
        if next >= count {
            return Ok(Claim::Empty(word));
        }
        if js_sys::Atomics::compare_exchange(ctrl, W_CLAIM, word, pack(count, next + 1))? == word {
            return Ok(Claim::Chunk(next));
        }
    }
}

fn view(sab: &js_sys::SharedArrayBuffer, offset: usize, len: usize) -> js_sys::Uint8Array {
    js_sys::Uint8Array::new_with_byte_offset_and_length(sab, offset as u32, len as u32)
}

fn effort_word(effort: Effort) -> i32 {
    match effort {
        Effort::Best => 0,
        Effort::Fast => 1,
    }
}

/// What the pool did in the current job (reported with the patch result).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PoolReport {
    /// `crossOriginIsolated` in the job's worker.
    pub isolated: bool,
    /// Pool workers compressing besides the job's worker (0: the job compressed alone).
    pub pool_workers: usize,
    /// Chunks the pool workers compressed.
    pub pool_chunks: u64,
    /// Chunks the job's worker compressed itself.
    pub local_chunks: u64,
    /// Why there is no pool, or why it was retired, when that happened.
    pub note: Option<String>,
    /// Largest wasm memory of one pool worker, MiB (0 without a pool). A wasm memory only grows,
    /// so this is each worker's peak.
    #[serde(default)]
    pub pool_worker_memory_mib: u32,
}

/// The job worker's side of the pool.
struct Pool {
    workers: Vec<web_sys::Worker>,
    sab: js_sys::SharedArrayBuffer,
    ctrl: js_sys::Int32Array,
}

impl Pool {
    /// Terminate the workers (a retired pool is never used again).
    fn retire(&mut self) {
        for w in self.workers.drain(..) {
            w.terminate();
        }
    }

    /// Compress one batch (it fits the buffer) with the pool; chunks the pool did not finish are
    /// compressed through `local`. Errors and stalls leave the pool to be retired by the caller.
    fn run_batch(
        &self,
        kind: Compression,
        effort: Effort,
        chunks: &[&[u8]],
        outs: &mut [ChunkOut],
        local: &mut dyn FnMut(&[u8], &mut ChunkOut),
        report: &mut PoolReport,
    ) -> Result<(), String> {
        let mut mine = vec![false; chunks.len()];
        let mut published = false;
        let r = self.share(kind, effort, chunks, outs, local, &mut mine, &mut published);
        // Collect what the pool finished (the slots hold this batch only once it was
        // published); whatever it did not finish is done here.
        for (k, (input, out)) in chunks.iter().zip(outs.iter_mut()).enumerate() {
            if mine[k] {
                report.local_chunks += 1;
            } else if published && matches!(self.result(k, out), Ok(true)) {
                report.pool_chunks += 1;
            } else {
                local(input, out);
                report.local_chunks += 1;
            }
        }
        r
    }

    /// Publish the batch, take part (`mine` marks the chunks compressed here), and wait for
    /// the pool to finish it.
    #[allow(clippy::too_many_arguments)]
    fn share(
        &self,
        kind: Compression,
        effort: Effort,
        chunks: &[&[u8]],
        outs: &mut [ChunkOut],
        local: &mut dyn FnMut(&[u8], &mut ChunkOut),
        mine: &mut [bool],
        published: &mut bool,
    ) -> Result<(), String> {
        let js = |e: JsValue| format!("shared memory: {e:?}");
        let c = &self.ctrl;
        let failed = js_sys::Atomics::load(c, W_FAILED).map_err(js)?;
        if failed > 0 {
            return Err(format!("{failed} compression worker(s) failed"));
        }
        // The previous batch is complete (or the pool retired), so nobody touches the slots.
        let mut off = 0;
        for (k, input) in chunks.iter().enumerate() {
            view(&self.sab, IN_BASE + off, input.len()).copy_from(input);
            js_sys::Atomics::store(c, slot(k, S_IN_OFF), off as i32).map_err(js)?;
            js_sys::Atomics::store(c, slot(k, S_IN_LEN), input.len() as i32).map_err(js)?;
            js_sys::Atomics::store(c, slot(k, S_OUT_LEN), -1).map_err(js)?;
            js_sys::Atomics::store(c, slot(k, S_STATE), 0).map_err(js)?;
            off += input.len();
        }
        js_sys::Atomics::store(c, W_KIND, kind.solid_id() as i32).map_err(js)?;
        js_sys::Atomics::store(c, W_EFFORT, effort_word(effort)).map_err(js)?;
        js_sys::Atomics::store(c, W_DONE, 0).map_err(js)?;
        // Publishing the claim word makes everything above visible to whoever claims a chunk.
        js_sys::Atomics::store(c, W_CLAIM, pack(chunks.len(), 0)).map_err(js)?;
        *published = true;
        js_sys::Atomics::notify(c, W_CLAIM).map_err(js)?;
        while let Claim::Chunk(k) = claim(c).map_err(js)? {
            local(chunks[k], &mut outs[k]);
            mine[k] = true;
            js_sys::Atomics::add(c, W_DONE, 1).map_err(js)?;
        }
        let n = chunks.len() as i32;
        let mut seen = -1;
        let mut since = js_sys::Date::now();
        loop {
            let done = js_sys::Atomics::load(c, W_DONE).map_err(js)?;
            if done >= n {
                return Ok(());
            }
            let failed = js_sys::Atomics::load(c, W_FAILED).map_err(js)?;
            if failed > 0 {
                return Err(format!("{failed} compression worker(s) failed"));
            }
            let now = js_sys::Date::now();
            if done != seen {
                seen = done;
                since = now;
            } else if now - since > STALL_MS {
                return Err(format!(
                    "the compression workers finished nothing for {} s",
                    STALL_MS / 1000.0
                ));
            }
            js_sys::Atomics::wait_with_timeout(c, W_DONE, done, 500.0).map_err(js)?;
        }
    }

    /// Copy the pool's result for chunk `k` into `out`; false when the pool did not finish it.
    fn result(&self, k: usize, out: &mut ChunkOut) -> Result<bool, JsValue> {
        let c = &self.ctrl;
        if js_sys::Atomics::load(c, slot(k, S_STATE))? != 1 {
            return Ok(false);
        }
        let off = js_sys::Atomics::load(c, slot(k, S_IN_OFF))?;
        let len = js_sys::Atomics::load(c, slot(k, S_OUT_LEN))?;
        out.data.clear();
        out.compressed = false;
        if len >= 0 {
            let (off, len) = (off as usize, len as usize);
            if off + len > DATA_BYTES {
                return Ok(false);
            }
            out.data.resize(len, 0);
            view(&self.sab, OUT_BASE + off, len).copy_to(&mut out.data);
            out.compressed = true;
        }
        Ok(true)
    }
}

/// The pool of this job worker and what it did in the current job.
#[derive(Default)]
struct State {
    pool: Option<Pool>,
    /// Set once starting a pool was tried and gave none (not retried in this worker).
    unavailable: bool,
    report: PoolReport,
}

thread_local! {
    static STATE: RefCell<State> = RefCell::new(State::default());
}

/// The [`ChunkBackend`] over this worker's pool (a handle: the pool itself lives in the worker's
/// thread-local state, since JS objects cannot be shared).
struct PoolBackend;

impl ChunkBackend for PoolBackend {
    fn helpers(&self) -> usize {
        STATE.with(|s| {
            s.try_borrow()
                .ok()
                .and_then(|s| s.pool.as_ref().map(|p| p.workers.len()))
                .unwrap_or(0)
        })
    }

    fn compress(
        &self,
        kind: Compression,
        effort: Effort,
        chunks: &[&[u8]],
        outs: &mut [ChunkOut],
        local: &mut dyn FnMut(&[u8], &mut ChunkOut),
    ) {
        STATE.with(|s| {
            let Ok(mut s) = s.try_borrow_mut() else {
                // Not reachable (nothing here calls back into the pool); compress alone anyway.
                for (input, out) in chunks.iter().zip(outs.iter_mut()) {
                    local(input, out);
                }
                return;
            };
            let State { pool, report, .. } = &mut *s;
            let lens: Vec<usize> = chunks.iter().map(|c| c.len()).collect();
            for range in batches(&lens) {
                let (cs, os) = (&chunks[range.clone()], &mut outs[range]);
                let usable = pool.as_ref().filter(|p| !p.workers.is_empty());
                let fits = cs.iter().map(|c| c.len()).sum::<usize>() <= DATA_BYTES;
                let Some(p) = usable.filter(|_| fits && cs.len() > 1) else {
                    for (input, out) in cs.iter().zip(os.iter_mut()) {
                        local(input, out);
                        report.local_chunks += 1;
                    }
                    continue;
                };
                if let Err(why) = p.run_batch(kind, effort, cs, os, local, report) {
                    report.note = Some(format!("compression pool retired: {why}"));
                    if let Some(p) = pool.as_mut() {
                        p.retire();
                    }
                }
            }
        });
    }
}

/// `crossOriginIsolated` (and `SharedArrayBuffer`) in this worker.
fn isolated() -> bool {
    let g = js_sys::global();
    js_sys::Reflect::get(&g, &"crossOriginIsolated".into())
        .ok()
        .and_then(|v| v.as_bool())
        .unwrap_or(false)
        && js_sys::Reflect::has(&g, &"SharedArrayBuffer".into()).unwrap_or(false)
}

/// Pool workers to start: one per core beyond this worker's, at least one, at most
/// [`MAX_WORKERS`].
fn wanted_workers() -> usize {
    let scope: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
    let cores = scope.navigator().hardware_concurrency();
    let cores = if cores.is_finite() && cores >= 1.0 {
        cores as usize
    } else {
        1
    };
    cores.saturating_sub(1).clamp(1, MAX_WORKERS)
}

/// Resolves with the worker's first message, or "error" if it fails to load, or "timeout".
fn first_message(w: &web_sys::Worker) -> js_sys::Promise {
    let started = js_sys::Promise::new(&mut |resolve, _reject| {
        let r = resolve.clone();
        let on_message = Closure::once_into_js(move |e: web_sys::MessageEvent| {
            let _ = resolve.call1(&JsValue::NULL, &e.data());
        });
        let on_error = Closure::once_into_js(move |_e: JsValue| {
            let _ = r.call1(&JsValue::NULL, &"error".into());
        });
        w.set_onmessage(Some(on_message.unchecked_ref()));
        w.set_onerror(Some(on_error.unchecked_ref()));
    });
    let timeout = js_sys::Promise::new(&mut |resolve, _reject| {
        let scope: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
        let _ = scope.set_timeout_with_callback_and_timeout_and_arguments_1(
            &resolve,
            START_MS,
            &"timeout".into(),
        );
    });
    js_sys::Promise::race(&js_sys::Array::of2(&started, &timeout))
}

/// Start the pool: `n` workers given this worker's compiled module and the shared buffer, each
/// answering "ready" once it serves. Workers that do not are terminated; `Err` when none is.
async fn start_pool(n: usize) -> Result<Pool, String> {
    let module = wasm_bindgen::module();
    if !module.is_instance_of::<js_sys::WebAssembly::Module>() {
        return Err("the worker's wasm module is not available to share".into());
    }
    let sab = js_sys::SharedArrayBuffer::new(TOTAL_BYTES as u32);
    let ctrl = js_sys::Int32Array::new_with_byte_offset_and_length(&sab, 0, IN_BASE as u32 / 4);
    let mut workers = Vec::new();
    let mut waits = Vec::new();
    for i in 0..n {
        let opts = web_sys::WorkerOptions::new();
        opts.set_name(&format!("{WORKER_NAME}-{i}"));
        let w = match web_sys::Worker::new_with_options("./pool_loader.js", &opts) {
            Ok(w) => w,
            Err(e) => {
                workers.iter().for_each(web_sys::Worker::terminate);
                return Err(format!("starting a compression worker: {e:?}"));
            }
        };
        let msg = js_sys::Object::new();
        let set = js_sys::Reflect::set(&msg, &"module".into(), &module).is_ok()
            && js_sys::Reflect::set(&msg, &"shared".into(), &sab).is_ok();
        waits.push(first_message(&w));
        workers.push(w);
        if !set
            || workers
                .last()
                .is_some_and(|w| w.post_message(&msg).is_err())
        {
            workers.iter().for_each(web_sys::Worker::terminate);
            return Err("could not hand the module to a compression worker".into());
        }
    }
    let answers = match wasm_bindgen_futures::JsFuture::from(js_sys::Promise::all(
        &js_sys::Array::from_iter(waits),
    ))
    .await
    {
        Ok(a) => a,
        Err(e) => {
            workers.iter().for_each(web_sys::Worker::terminate);
            return Err(format!("waiting for the compression workers: {e:?}"));
        }
    };
    let answers = js_sys::Array::from(&answers);
    let mut ready = Vec::new();
    let mut problems = Vec::new();
    for (w, a) in workers.into_iter().zip(answers.iter()) {
        w.set_onmessage(None);
        w.set_onerror(None);
        let ok = js_sys::Reflect::get(&a, &"pool".into())
            .ok()
            .and_then(|v| v.as_string())
            .is_some_and(|s| s == "ready");
        if ok {
            ready.push(w);
        } else {
            w.terminate();
            let why = js_sys::Reflect::get(&a, &"message".into())
                .ok()
                .and_then(|v| v.as_string())
                .or_else(|| a.as_string())
                .unwrap_or_else(|| "no answer".into());
            problems.push(why);
        }
    }
    if ready.is_empty() {
        return Err(format!(
            "no compression worker started ({})",
            problems.join("; ")
        ));
    }
    Ok(Pool {
        workers: ready,
        sab,
        ctrl,
    })
}

/// Get this worker's pool ready for a job (started the first time, where the page is
/// cross-origin isolated) and reset the job's report. `None` means compress alone.
pub async fn prepare() -> Option<Backend> {
    let (have, unavailable) = STATE.with(|s| {
        let mut s = s.borrow_mut();
        let live = s.pool.as_ref().map_or(0, |p| p.workers.len());
        s.report = PoolReport {
            isolated: isolated(),
            pool_workers: live,
            note: s.report.note.take().filter(|_| live == 0),
            ..PoolReport::default()
        };
        (live > 0, s.unavailable || s.pool.is_some())
    });
    if have {
        return Some(Backend::new(PoolBackend));
    }
    if unavailable {
        return None;
    }
    let started = if isolated() {
        start_pool(wanted_workers()).await
    } else {
        Err("the page is not cross-origin isolated (no SharedArrayBuffer)".into())
    };
    STATE.with(|s| {
        let mut s = s.borrow_mut();
        match started {
            Ok(pool) => {
                s.report.pool_workers = pool.workers.len();
                s.pool = Some(pool);
                Some(Backend::new(PoolBackend))
            }
            Err(why) => {
                s.unavailable = true;
                s.report.note = Some(why);
                None
            }
        }
    })
}

/// What the pool did in the job since [`prepare`].
pub fn report() -> PoolReport {
    STATE.with(|s| {
        let s = s.borrow();
        let mut r = s.report.clone();
        if let Some(p) = &s.pool {
            r.pool_worker_memory_mib =
                js_sys::Atomics::load(&p.ctrl, W_POOL_MEM).map_or(0, |v| v.max(0) as u32);
        }
        r
    })
}

/// This wasm instance's linear memory, MiB.
pub fn memory_mib() -> u32 {
    let mem: js_sys::WebAssembly::Memory = wasm_bindgen::memory().unchecked_into();
    let buf: js_sys::ArrayBuffer = mem.buffer().unchecked_into();
    (buf.byte_length() >> 20) as u32
}

/// Raise [`W_POOL_MEM`] to this worker's memory if it is larger.
fn note_memory(ctrl: &js_sys::Int32Array) -> Result<(), JsValue> {
    let mine = memory_mib() as i32;
    loop {
        let seen = js_sys::Atomics::load(ctrl, W_POOL_MEM)?;
        if seen >= mine || js_sys::Atomics::compare_exchange(ctrl, W_POOL_MEM, seen, mine)? == seen
        {
            return Ok(());
        }
    }
}

/// A pool worker's life (called by `www/pool_loader.js` through the worker module's
/// `pool_serve` export): say "ready", then claim and compress chunks of every batch the job's
/// worker publishes, sleeping in `Atomics.wait` in between. Returns only on an error.
pub fn serve(shared: JsValue) -> Result<(), JsValue> {
    let sab: js_sys::SharedArrayBuffer = shared.dyn_into()?;
    if (sab.byte_length() as usize) < TOTAL_BYTES {
        return Err("shared buffer too small".into());
    }
    let ctrl = js_sys::Int32Array::new_with_byte_offset_and_length(&sab, 0, IN_BASE as u32 / 4);
    let scope: web_sys::DedicatedWorkerGlobalScope = js_sys::global().unchecked_into();
    let ready = js_sys::Object::new();
    js_sys::Reflect::set(&ready, &"pool".into(), &"ready".into())?;
    scope.post_message(&ready)?;
    let mut encoder: Option<(i32, i32, Encoder)> = None;
    let mut input = Vec::new();
    let mut out = Vec::new();
    loop {
        let k = match claim(&ctrl)? {
            Claim::Chunk(k) => k,
            Claim::Empty(word) => {
                // Sleeps only while the word is still this exhausted one: a batch published in
                // between changed it, so no wake-up is lost.
                js_sys::Atomics::wait(&ctrl, W_CLAIM, word)?;
                continue;
            }
        };
        let kind = js_sys::Atomics::load(&ctrl, W_KIND)?;
        let effort = js_sys::Atomics::load(&ctrl, W_EFFORT)?;
        let off = js_sys::Atomics::load(&ctrl, slot(k, S_IN_OFF))?;
        let len = js_sys::Atomics::load(&ctrl, slot(k, S_IN_LEN))?;
        let mut out_len = -1;
        if off >= 0 && len >= 0 && (off as usize + len as usize) <= DATA_BYTES {
            let (off, len) = (off as usize, len as usize);
            input.resize(len, 0);
            view(&sab, IN_BASE + off, len).copy_to(&mut input);
            let enc = match &mut encoder {
                Some((k0, e0, enc)) if *k0 == kind && *e0 == effort => enc,
                cached => {
                    let c = Compression::from_solid_id(kind as u32)
                        .ok_or_else(|| JsValue::from_str("unknown compression"))?;
                    let e = if effort == 1 {
                        Effort::Fast
                    } else {
                        Effort::Best
                    };
                    &mut cached.insert((kind, effort, Encoder::with_effort(c, e))).2
                }
            };
            if enc.compress(&input, &mut out) && out.len() < len {
                view(&sab, OUT_BASE + off, out.len()).copy_from(&out);
                out_len = out.len() as i32;
            }
        }
        note_memory(&ctrl)?;
        js_sys::Atomics::store(&ctrl, slot(k, S_OUT_LEN), out_len)?;
        js_sys::Atomics::store(&ctrl, slot(k, S_STATE), 1)?;
        js_sys::Atomics::add(&ctrl, W_DONE, 1)?;
        js_sys::Atomics::notify(&ctrl, W_DONE)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claim_words_round_trip() {
        for (count, next) in [(0, 0), (1, 0), (64, 63), (64, 64), (40, 7)] {
            assert_eq!(unpack(pack(count, next)), (count, next));
        }
        assert_ne!(pack(5, 5), pack(6, 5));
    }

    #[test]
    fn batches_fit_the_shared_buffer() {
        let lzx = vec![32768; 150];
        let b = batches(&lzx);
        assert_eq!(b, vec![0..64, 64..128, 128..150]);
        // 64 KiB XPRESS chunks: bytes, not slots, end a batch.
        let xp = vec![65536; 40];
        assert_eq!(batches(&xp), vec![0..32, 32..40]);
        // An oversized chunk stands alone; the last short chunk joins its batch.
        let odd = [100, DATA_BYTES + 1, 5, 7];
        assert_eq!(batches(&odd), vec![0..1, 1..2, 2..4]);
        assert!(batches(&[]).is_empty());
        for lens in [&lzx, &xp] {
            let b = batches(lens);
            assert_eq!(b.first().map(|r| r.start), Some(0));
            assert_eq!(b.last().map(|r| r.end), Some(lens.len()));
            for (r, next) in b.iter().zip(b.iter().skip(1)) {
                assert_eq!(r.end, next.start, "consecutive");
            }
            for r in b {
                assert!(r.len() <= MAX_CHUNKS);
                assert!(lens[r].iter().sum::<usize>() <= DATA_BYTES);
            }
        }
    }
}
