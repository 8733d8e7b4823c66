// Browser benchmark: inspect and patch of the largest fixture ISO in headless Chromium (built
// dist/), against the native CLI on the same input. Usage: MEDIAPREP_CLI=path/to/release/mediaprep
// node e2e/bench.mjs [runs]. Prints one line per measurement (median of the runs) and the ratio.
import { chromium } from "playwright-core";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
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

const server = await serve(path.join(ROOT, "dist"), 0);
const BASE = `http://127.0.0.1:${server.address().port}/`;
const context = await chromium.launchPersistentContext(fs.mkdtempSync(path.join(os.tmpdir(), "mediaprep-bench-")), {
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium", headless: true, acceptDownloads: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
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
  await page.click("#patch-winre");
  await page.waitForSelector("#patch-result", { timeout: 600000 });
  patch.push(Date.now() - t0);
  await page.close();
}
await context.close();
server.closeAllConnections?.();
server.close();
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "mediaprep-bench-"));
const cliInspect = timeCli(["check", "--json", iso]);
const cliPatch = timeCli(["patch", iso, "--package", pkg, "-o", path.join(tmp, "winre.wim")]);
const b = { inspect: median(inspect), patch: median(patch) };
console.log(`input: ${path.basename(iso)} (${fs.statSync(iso).size} bytes) + ${path.basename(pkg)}; ${RUNS} runs, medians`);
console.log(`inspect+evaluate: browser ${b.inspect} ms, CLI ${cliInspect.toFixed(0)} ms, ratio ${(b.inspect / cliInspect).toFixed(2)}`);
console.log(`patch WinRE (+verify, +SHA-256 in browser): browser ${b.patch} ms, CLI ${cliPatch.toFixed(0)} ms, ratio ${(b.patch / cliPatch).toFixed(2)}`);
