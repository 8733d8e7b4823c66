// Real-size browser rows of scripts/bench-all (issue #16), in headless Chromium on the built dist/
// with cross-origin isolation (the worker pool on):
//  - patch a WinRE-sized WIM with a package: from the click on Start to "patched and verified",
//    with the job worker's phase times and the wasm memory of the job worker and the pool workers
//    (the worker logs one `mediaprep-phases {json}` console line per patch);
//  - inspect a large ISO: from choosing the file to the media tree showing its nested WinRE.
// Usage: node e2e/bench-real.mjs RUNS WINRE.wim PACKAGE.cab ISO [CLI_SHA256]. Prints one JSON
// object on stdout (best run of each; the phases and memory of the best patch run).
import { chromium } from "playwright-core";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { serve } from "./serve.mjs";

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");
const [runsArg, winre, pkg, iso, cliSha] = process.argv.slice(2);
const RUNS = Number(runsArg || 3);
if (!winre || !pkg || !iso) {
  console.error("usage: node e2e/bench-real.mjs RUNS WINRE.wim PACKAGE.cab ISO [CLI_SHA256]");
  process.exit(2);
}
const LAUNCH = {
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium", headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
};

const server = await serve(path.join(ROOT, "dist"), 0, { isolate: true });
const BASE = `http://127.0.0.1:${server.address().port}/`;
const context = await chromium.launchPersistentContext(
  fs.mkdtempSync(path.join(os.tmpdir(), "mediaprep-bench-real-")), LAUNCH);

// A fresh page whose workers' `mediaprep-phases` lines land in `lines`.
async function freshPage(lines) {
  const page = await context.newPage();
  const take = (m) => {
    const t = m.text();
    if (t.startsWith("mediaprep-phases ")) lines.push(JSON.parse(t.slice("mediaprep-phases ".length)));
  };
  page.on("worker", (w) => w.on("console", take));
  await page.goto(BASE);
  await page.waitForSelector("#worker-status:has-text('ready')");
  return page;
}

async function patchOnce() {
  const lines = [];
  const page = await freshPage(lines);
  await page.setInputFiles("#file-input", [winre, pkg]);
  await page.waitForSelector(".package-view", { timeout: 300000 });
  await page.waitForSelector("#patch-view");
  const t0 = Date.now();
  await page.click("#patch-start");
  await page.waitForSelector("#patch-result, #error", { timeout: 900000 });
  const ms = Date.now() - t0;
  if (await page.$("#error")) throw new Error(`patch failed: ${await page.textContent("#error")}`);
  const sha = (await page.textContent("#patch-sha256")).trim();
  for (let i = 0; i < 50 && lines.length === 0; i++) await page.waitForTimeout(100);
  await page.close();
  return { ms, sha, line: lines[0] };
}

async function inspectOnce() {
  const page = await freshPage([]);
  const t0 = Date.now();
  await page.setInputFiles("#file-input", [iso]);
  await page.waitForSelector("li.winre", { timeout: 300000 });
  const ms = Date.now() - t0;
  const text = (await page.textContent("li.winre")).replace(/\s+/g, " ").trim();
  await page.close();
  return { ms, text };
}

const patches = [];
const inspects = [];
for (let i = 0; i < RUNS; i++) {
  patches.push(await patchOnce());
  inspects.push(await inspectOnce());
}
await context.close();
server.closeAllConnections?.();
server.close();

const bestPatch = patches.reduce((a, b) => (b.ms < a.ms ? b : a));
const bestInspect = inspects.reduce((a, b) => (b.ms < a.ms ? b : a));
const line = bestPatch.line || {};
const pool = line.pool || {};
const poolWorkers = pool.pool_workers || 0;
const job = line.job_worker_memory_mib || 0;
const perPool = pool.pool_worker_memory_mib || 0;
console.log(JSON.stringify({
  patch: {
    best_s: bestPatch.ms / 1000,
    runs_s: patches.map((p) => p.ms / 1000),
    sha256: bestPatch.sha,
    same_as_cli: cliSha ? patches.every((p) => p.sha.includes(cliSha)) : null,
    phases: line.phases || [],
  },
  memory: {
    job_worker_mib: job, pool_workers: poolWorkers, pool_worker_mib: perPool,
    total_mib: job + poolWorkers * perPool, pool,
  },
  inspect: { best_s: bestInspect.ms / 1000, runs_s: inspects.map((p) => p.ms / 1000), winre: bestInspect.text },
}, null, 1));
