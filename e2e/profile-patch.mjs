// By hand, not in CI (issue #16): CPU-profile the job worker (and any pool worker) during one
// browser patch of a real-size WinRE, to show where the browser's time goes against the CLI.
// Needs a build whose worker wasm keeps its name section (see docs/benchmarks.md "Browser patch
// profile" for the command); DIST picks that build (default dist/).
// Usage: node e2e/profile-patch.mjs WINRE.wim PACKAGE.cab [OUT_DIR]
// Writes OUT_DIR/<worker>.cpuprofile (open in Chromium DevTools) and prints the wall time and the job
// worker's phases of the patch, then per worker self time by category and the top 15 functions.
import { chromium } from "playwright-core";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { serve } from "./serve.mjs";

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");
const [winre, pkg, outArg] = process.argv.slice(2);
if (!winre || !pkg) {
  console.error("usage: node e2e/profile-patch.mjs WINRE.wim PACKAGE.cab [OUT_DIR]");
  process.exit(2);
}
const OUT = outArg || fs.mkdtempSync(path.join(os.tmpdir(), "mediaprep-profile-"));
fs.mkdirSync(OUT, { recursive: true });
const DIST = path.resolve(ROOT, process.env.DIST || "dist");
const LAUNCH = {
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium", headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
};

const server = await serve(DIST, 0, { isolate: true });
const BASE = `http://127.0.0.1:${server.address().port}/`;
const context = await chromium.launchPersistentContext(
  fs.mkdtempSync(path.join(os.tmpdir(), "mediaprep-profile-ctx-")), LAUNCH);
const page = await context.newPage();
// The job worker's phase times (one `mediaprep-phases {json}` console line per patch), to read the
// profile against them.
const phaseLines = [];
page.on("worker", (w) => w.on("console", (m) => {
  const t = m.text();
  if (t.startsWith("mediaprep-phases ")) phaseLines.push(JSON.parse(t.slice("mediaprep-phases ".length)));
}));
const cdp = await context.newCDPSession(page);

// Non-flattened auto-attach: each dedicated worker gets a child session that is spoken to through
// Target.sendMessageToTarget (Playwright's CDPSession cannot address flattened child sessions).
const workers = new Map(); // sessionId -> { url, pending: Map(id -> resolve) }
let nextId = 1;
function send(sessionId, method, params = {}) {
  const id = nextId++;
  const w = workers.get(sessionId);
  return new Promise((resolve, reject) => {
    w.pending.set(id, { resolve, reject });
    cdp.send("Target.sendMessageToTarget", { sessionId, message: JSON.stringify({ id, method, params }) })
      .catch(reject);
  });
}
cdp.on("Target.receivedMessageFromTarget", ({ sessionId, message }) => {
  const m = JSON.parse(message);
  const w = workers.get(sessionId);
  if (!w || m.id === undefined || !w.pending.has(m.id)) return;
  const p = w.pending.get(m.id);
  w.pending.delete(m.id);
  if (m.error) p.reject(new Error(`${m.error.message}`));
  else p.resolve(m.result);
});
cdp.on("Target.attachedToTarget", async ({ sessionId, targetInfo }) => {
  workers.set(sessionId, { url: targetInfo.url, type: targetInfo.type, pending: new Map() });
  // Nested workers (the pool, if the job worker spawns it) attach through the worker's session.
  try {
    await send(sessionId, "Runtime.runIfWaitingForDebugger");
  } catch { /* not paused */ }
});
await cdp.send("Target.setAutoAttach", { autoAttach: true, waitForDebuggerOnStart: false, flatten: false });

await page.goto(BASE);
await page.waitForSelector("#worker-status:has-text('ready')");
await page.setInputFiles("#file-input", [winre, pkg]);
await page.waitForSelector(".package-view", { timeout: 300000 });
await page.waitForSelector("#patch-view");

const sessions = [...workers.keys()];
for (const s of sessions) {
  await send(s, "Profiler.enable");
  await send(s, "Profiler.setSamplingInterval", { interval: 200 });
  await send(s, "Profiler.start");
}
const t0 = Date.now();
await page.click("#patch-start");
await page.waitForSelector("#patch-result, #error", { timeout: 900000 });
const wallMs = Date.now() - t0;
if (await page.$("#error")) throw new Error(`patch failed: ${await page.textContent("#error")}`);
const sha = (await page.textContent("#patch-sha256")).trim();

// Categories asked for by issue #16's profile, matched on the function name (wasm names come from
// the name section: Rust symbols, demangled by V8).
const CATEGORIES = [
  ["idle (waiting: File reads, OPFS, messages)", (n) => n === "(idle)"],
  ["SHA-256 compression", (n) => /sha2|sha256|compress256/i.test(n)],
  ["SHA-1", (n) => /sha1/i.test(n)],
  ["CRC-32", (n) => /crc/i.test(n)],
  ["memcpy/memmove/memset (wasm)", (n) => /memcpy|memmove|memset|copy_from_slice|copy_nonoverlapping/i.test(n)],
  ["decoder (LZX/XPRESS/LZMS decompress)", (n) => /lzx|xpress|lzms|decod|decompress|huffman/i.test(n) && !/encod|compress_/i.test(n)],
  ["encoder (compress)", (n) => /encod|compress_|matchfind|parse/i.test(n)],
  ["JS<->wasm copies (typed arrays, bindgen)", (n) => /Uint8Array|TypedArray|__wbg|wbindgen|passArray|getArrayU8|subarray/i.test(n)],
  ["File.slice/arrayBuffer/readAsArrayBuffer", (n) => /arrayBuffer|FileReader|readAs|Blob|^slice$/i.test(n)],
  ["OPFS SyncAccessHandle write/read/flush", (n) => /^(write|read|flush|truncate|getSize|close) \(import\)$/.test(n)],
  ["GC", (n) => n === "(garbage collector)"],
  ["(program)", (n) => n === "(program)"],
];

for (let k = 0; k < 50 && phaseLines.length === 0; k++) await page.waitForTimeout(100);
const report = {
  wall_ms: wallMs, sha256: sha, out_dir: OUT, phases: phaseLines[0]?.phases || [], workers: [],
};
let i = 0;
for (const s of sessions) {
  const w = workers.get(s);
  const { profile } = await send(s, "Profiler.stop");
  const name = `${i++}-${path.basename(w.url) || w.type}`;
  fs.writeFileSync(path.join(OUT, `${name}.cpuprofile`), JSON.stringify(profile));
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children || []) parent.set(c, n.id);
  // wasm-bindgen's import shims run the browser call in an anonymous closure (under handleError):
  // name it after the nearest `__wbg_<api>_<hash>` ancestor, e.g. `write (import)`.
  const label = (id) => {
    const cf = byId.get(id).callFrame;
    if (cf.functionName) return cf.functionName;
    for (let p = parent.get(id); p !== undefined; p = parent.get(p)) {
      const m = /^__wbg_([A-Za-z0-9]+)_[0-9a-f]+$/.exec(byId.get(p).callFrame.functionName);
      if (m) return `${m[1]} (import)`;
    }
    return `(anonymous ${path.basename(cf.url)}:${cf.lineNumber})`;
  };
  const self = new Map(); // node id -> microseconds
  profile.samples.forEach((id, k) => self.set(id, (self.get(id) || 0) + (profile.timeDeltas[k] || 0)));
  const byFn = new Map();
  let total = 0;
  for (const [id, us] of self) {
    const key = label(id);
    byFn.set(key, (byFn.get(key) || 0) + us);
    total += us;
  }
  const cats = CATEGORIES.map(([label]) => [label, 0]);
  let other = 0;
  for (const [fn, us] of byFn) {
    const c = CATEGORIES.findIndex(([, test]) => test(fn));
    if (c >= 0) cats[c][1] += us;
    else other += us;
  }
  cats.push(["other", other]);
  const ms = (us) => Math.round(us / 100) / 10;
  report.workers.push({
    url: w.url,
    profile: `${name}.cpuprofile`,
    sampled_ms: ms(total),
    categories: cats.map(([label, us]) => ({ label, ms: ms(us), share: Math.round((1000 * us) / total) / 10 })),
    top: [...byFn].sort((a, b) => b[1] - a[1]).slice(0, 15)
      .map(([fn, us]) => ({ fn, ms: ms(us), share: Math.round((1000 * us) / total) / 10 })),
  });
}
await context.close();
server.closeAllConnections?.();
server.close();
console.log(JSON.stringify(report, null, 1));
