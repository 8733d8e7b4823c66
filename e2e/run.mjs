// Playwright e2e suite against the built dist/ in Debian's headless Chromium.
// Prints one line per test and, last, "N passed, N failed".
import { chromium } from "playwright-core";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import crypto from "node:crypto";
import { execFileSync } from "node:child_process";
import { serve } from "./serve.mjs";

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");
const DIST = path.join(ROOT, "dist");
const OUT = path.join(ROOT, "e2e", "out");
const FIX = path.join(ROOT, "target", "fixtures");
fs.mkdirSync(OUT, { recursive: true });

const tests = [];
const test = (name, fn) => tests.push({ name, fn });
const only = process.env.E2E_ONLY;

function sha256File(p) {
  return execFileSync("sha256sum", [p]).toString().split(/\s+/)[0];
}
function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}

const server = await serve(DIST, 0);
const BASE = `http://127.0.0.1:${server.address().port}/`;
const userDir = fs.mkdtempSync(path.join(os.tmpdir(), "mediaprep-e2e-"));
const context = await chromium.launchPersistentContext(userDir, {
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  acceptDownloads: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});

async function openApp() {
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(BASE);
  await page.waitForSelector("#worker-status:has-text('ready')", { timeout: 30000 });
  page.errors = errors;
  return page;
}

async function chooseFiles(page, files) {
  await page.setInputFiles("#file-input", files);
}

test("app loads, engine ready, no page errors, privacy statement shown", async () => {
  const page = await openApp();
  const privacy = await page.textContent("#privacy");
  assert(/no file or data leaves/i.test(privacy), "privacy statement missing");
  const csp = await page.getAttribute("meta[http-equiv='Content-Security-Policy']", "content");
  assert(csp.includes("connect-src 'self'") && !csp.includes("__CSP__"), `CSP not filled: ${csp}`);
  await page.screenshot({ path: path.join(OUT, "01-start.png"), fullPage: true });
  assert(page.errors.length === 0, `page errors: ${page.errors}`);
  await page.close();
});

test("a chosen file is hashed in the worker and matches sha256sum", async () => {
  const f = path.join(OUT, "random-24m.bin");
  if (!fs.existsSync(f)) fs.writeFileSync(f, crypto.randomBytes(24 << 20));
  const page = await openApp();
  await chooseFiles(page, [f]);
  await page.waitForSelector("#sha256:not(:empty)", { timeout: 60000 });
  const got = (await page.textContent("#sha256")).trim();
  const sha1 = (await page.textContent("#sha1")).trim();
  assert(got === sha256File(f), `sha256 ${got} != sha256sum`);
  assert(sha1 === execFileSync("sha1sum", [f]).toString().split(/\s+/)[0], "sha1 mismatch");
  await page.screenshot({ path: path.join(OUT, "02-hashed.png"), fullPage: true });
  await page.close();
});

test("the app loads again offline from the service worker", async () => {
  const page = await openApp();
  await page.evaluate(async () => { await navigator.serviceWorker.ready; });
  // The first load installs the worker; a reload is controlled by it.
  await page.reload();
  await page.waitForFunction(() => navigator.serviceWorker.controller !== null, null, { timeout: 30000 });
  await context.setOffline(true);
  try {
    await page.goto("about:blank");
    await page.goto(BASE);
    await page.waitForSelector("#worker-status:has-text('ready')", { timeout: 30000 });
    const f = path.join(OUT, "offline-1m.bin");
    fs.writeFileSync(f, crypto.randomBytes(1 << 20));
    await chooseFiles(page, [f]);
    await page.waitForSelector("#sha256:not(:empty)", { timeout: 30000 });
    assert((await page.textContent("#sha256")).trim() === sha256File(f), "offline hash mismatch");
    await page.screenshot({ path: path.join(OUT, "03-offline.png"), fullPage: true });
  } finally {
    await context.setOffline(false);
  }
  await page.close();
});

let passed = 0, failed = 0;
for (const t of tests) {
  if (only && !t.name.includes(only)) continue;
  const t0 = Date.now();
  try {
    await t.fn();
    passed++;
    console.log(`ok   ${t.name} (${Date.now() - t0} ms)`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${t.name}\n     ${String(e && e.stack || e).split("\n").join("\n     ")}`);
  }
}
await context.close();
server.closeAllConnections?.();
server.close();
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
