// Browser benchmark: inspect and patch of the largest fixture ISO in headless Chromium (built
// dist/), against the native CLI on the same input; and the patch with the compression worker
// pool (server with COOP/COEP) against one worker (no isolation: a server without the headers and
// no service worker, which would add them). Usage: MEDIAPREP_CLI=path/to/release/mediaprep
// node e2e/bench.mjs [runs]. Prints one line per measurement (median of the runs) and the ratio.
// The second patch input is compression-bound: the fixture WinRE plus 48 MiB of text-like data,
// XPRESS-compressed, so the patch recompresses all of it to LZX (an uncompressed source would be
// copied as is); built with wimlib, cached in e2e/out/bench.
import { chromium } from "playwright-core";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import crypto from "node:crypto";
import { execFileSync } from "node:child_process";
import { serve } from "./serve.mjs";

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");
const FIX = process.env.MEDIAPREP_FIXTURES || path.join(ROOT, "target", "fixtures");
const CLI = process.env.MEDIAPREP_CLI || path.join(ROOT, "target", "release", "mediaprep");
const RUNS = Number(process.argv[2] || 3);
const isos = fs.readdirSync(FIX).filter((f) => f.endsWith(".iso") && f.startsWith("media-"))
  .map((f) => path.join(FIX, f)).sort((a, b) => fs.statSync(b).size - fs.statSync(a).size);
const iso = isos[0];
const pkg = path.join(FIX, "safeos-du.cab");
const median = (xs) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function timeCli(args) {
  const t = [];
  for (let i = 0; i < RUNS; i++) {
    const t0 = process.hrtime.bigint();
    execFileSync(CLI, args, { stdio: "ignore" });
    t.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return median(t);
}

// The fixture WinRE, XPRESS, with 48 MiB of word salad under Windows/System32/Logs.
function heavyWinre() {
  const out = path.join(ROOT, "e2e", "out", "bench", "Winre-xpress-48m.wim");
  const src = path.join(FIX, "Winre.wim");
  if (fs.existsSync(out) && fs.statSync(out).mtimeMs > fs.statSync(src).mtimeMs) return out;
  fs.mkdirSync(path.dirname(out), { recursive: true });
  const d = fs.mkdtempSync(path.join(os.tmpdir(), "mediaprep-bench-heavy-"));
  const words = ["setup ", "windows ", "driver ", "servicing ", "stack ", "<file name=\"", "\"/>\r\n", "0x"];
  for (let f = 0; f < 6; f++) {
    const r = crypto.randomBytes(8 << 20);
    const parts = [];
    let n = 0;
    for (let i = 0; n < 8 << 20; i++) {
      const w = words[r[i % r.length] & 7] + (r[(i * 7) % r.length] % 97);
      parts.push(w);
      n += w.length;
    }
    fs.writeFileSync(path.join(d, `log${f}.txt`), parts.join("").slice(0, 8 << 20));
  }
  const run = (args) => execFileSync("wimlib-imagex", args, { stdio: ["ignore", "ignore", "inherit"] });
  run(["export", src, "1", `${out}.tmp`, "--compress=XPRESS"]);
  run(["update", `${out}.tmp`, "1", `--command=add ${d} /Windows/System32/Logs`]);
  fs.renameSync(`${out}.tmp`, out);
  fs.rmSync(d, { recursive: true, force: true });
  return out;
}

const LAUNCH = {
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium", headless: true, acceptDownloads: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
};

// Open `files` in a fresh page, patch WinRE, return the time and what the result says.
async function browserPatch(context, base, files) {
  const page = await context.newPage();
  await page.goto(base);
  await page.waitForSelector("#worker-status:has-text('ready')");
  await page.setInputFiles("#file-input", files);
  await page.waitForSelector(".package-view", { timeout: 300000 });
  await page.waitForSelector("#patch-view");
  const t0 = Date.now();
  await page.click("#patch-start");
  await page.waitForSelector("#patch-result, #error", { timeout: 900000 });
  const ms = Date.now() - t0;
  if (await page.$("#error")) throw new Error(`patch failed: ${await page.textContent("#error")}`);
  const how = (await page.textContent("#patch-compression")).trim();
  const sha = (await page.textContent("#patch-sha256")).trim();
  await page.close();
  return { ms, how, sha };
}

const server = await serve(path.join(ROOT, "dist"), 0, { isolate: true });
const plain = await serve(path.join(ROOT, "dist"), 0, { isolate: false });
const BASE = `http://127.0.0.1:${server.address().port}/`;
const PLAIN = `http://127.0.0.1:${plain.address().port}/`;
const context = await chromium.launchPersistentContext(fs.mkdtempSync(path.join(os.tmpdir(), "mediaprep-bench-")), LAUNCH);
const single = await chromium.launchPersistentContext(fs.mkdtempSync(path.join(os.tmpdir(), "mediaprep-bench-")),
  { ...LAUNCH, serviceWorkers: "block" });
const inspect = [], patch = [];
for (let i = 0; i < RUNS; i++) {
  const page = await context.newPage();
  await page.goto(BASE);
  await page.waitForSelector("#worker-status:has-text('ready')");
  let t0 = Date.now();
  await page.setInputFiles("#file-input", [iso]);
  await page.waitForSelector("#updates-view", { timeout: 300000 });
  inspect.push(Date.now() - t0);
  await page.setInputFiles("#file-input", [pkg]);
  await page.waitForSelector(".package-view");
  t0 = Date.now();
  await page.waitForSelector("#patch-view");
  await page.click("#patch-start");
  await page.waitForSelector("#patch-result", { timeout: 600000 });
  patch.push(Date.now() - t0);
  await page.close();
}
// Pool against one worker, alternating so machine load hits both alike.
const heavy = heavyWinre();
const poolRuns = [];
for (const [name, files] of [["fixture ISO", [iso, pkg]], [`${path.basename(heavy)} (LZX-bound)`, [heavy, pkg]]]) {
  const pooled = [], alone = [];
  let howPool = "", howAlone = "", shas = new Set();
  for (let i = 0; i < RUNS; i++) {
    const a = await browserPatch(context, BASE, files);
    const b = await browserPatch(single, PLAIN, files);
    pooled.push(a.ms);
    alone.push(b.ms);
    howPool = a.how;
    howAlone = b.how;
    shas.add(a.sha).add(b.sha);
  }
  poolRuns.push({ name, pool: median(pooled), alone: median(alone), howPool, howAlone, same: shas.size === 1 });
}
await context.close();
await single.close();
for (const s of [server, plain]) {
  s.closeAllConnections?.();
  s.close();
}
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "mediaprep-bench-"));
const cliInspect = timeCli(["check", "--json", iso]);
const cliPatch = timeCli(["patch", iso, "--package", pkg, "-o", path.join(tmp, "winre.wim")]);
const b = { inspect: median(inspect), patch: median(patch) };
console.log(`input: ${path.basename(iso)} (${fs.statSync(iso).size} bytes) + ${path.basename(pkg)}; ${RUNS} runs, medians; ${os.cpus().length} CPUs`);
console.log(`inspect+evaluate: browser ${b.inspect} ms, CLI ${cliInspect.toFixed(0)} ms, ratio ${(b.inspect / cliInspect).toFixed(2)}`);
console.log(`patch WinRE (+verify, +SHA-256 in browser): browser ${b.patch} ms, CLI ${cliPatch.toFixed(0)} ms, ratio ${(b.patch / cliPatch).toFixed(2)}`);
for (const r of poolRuns) {
  console.log(`patch ${r.name}: pool ${r.pool} ms [${r.howPool}], one worker ${r.alone} ms [${r.howAlone}], ` +
    `pool/one ${(r.pool / r.alone).toFixed(2)}, same bytes: ${r.same}`);
}
