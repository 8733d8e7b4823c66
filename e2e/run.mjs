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
const FIX = process.env.MEDIAPREP_FIXTURES || path.join(ROOT, "target", "fixtures");
fs.mkdirSync(OUT, { recursive: true });
// Fixtures are written by wimlib/genisoimage/gcab (scripts/fixtures, idempotent, flock-serialized).
if (!process.env.MEDIAPREP_FIXTURES) {
  execFileSync(path.join(ROOT, "scripts", "fixtures"), [FIX], { stdio: ["ignore", "ignore", "inherit"] });
}
const fix = (name) => path.join(FIX, name);

const tests = [];
const test = (name, fn) => tests.push({ name, fn });
const only = process.env.E2E_ONLY;

function sha256File(p) {
  return execFileSync("sha256sum", [p]).toString().split(/\s+/)[0];
}
function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}

// Served with COOP/COEP (cross-origin isolated from the first load): patches use the worker pool.
const server = await serve(DIST, 0, { isolate: true });
const BASE = `http://127.0.0.1:${server.address().port}/`;
const userDir = fs.mkdtempSync(path.join(os.tmpdir(), "mediaprep-e2e-"));
const context = await chromium.launchPersistentContext(userDir, {
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  acceptDownloads: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});

async function openApp(init, base = BASE) {
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  // The patch job's compression workers (nested in the job's worker) that are alive now, and
  // how many were ever started.
  page.pool = new Set();
  page.poolStarted = 0;
  page.on("worker", (w) => {
    if (!w.url().endsWith("/pool_loader.js")) return;
    page.pool.add(w);
    page.poolStarted++;
    w.on("close", () => page.pool.delete(w));
  });
  if (init) await page.addInitScript(init);
  await page.goto(base);
  await page.waitForSelector("#worker-status:has-text('ready')", { timeout: 30000 });
  page.errors = errors;
  return page;
}

async function chooseFiles(page, files) {
  await page.setInputFiles("#file-input", files);
}

// Make sure the page is controlled by the service worker (the first load of a fresh profile
// installs it; clients.claim() then takes the page over, and a reload is controlled anyway).
async function controlled(page) {
  await page.evaluate(async () => { await navigator.serviceWorker.ready; });
  if (!(await page.evaluate(() => navigator.serviceWorker.controller !== null))) {
    await page.reload();
    await page.waitForFunction(() => navigator.serviceWorker.controller !== null, null, { timeout: 30000 });
    await page.waitForSelector("#worker-status:has-text('ready')", { timeout: 30000 });
  }
}

// Evaluate `fn(arg)` in the page (async allowed, unlike waitForFunction's predicate) until it
// returns something truthy; fails after `timeout` ms saying `what`.
async function pollPage(page, fn, arg, timeout, what) {
  const t0 = Date.now();
  for (;;) {
    const v = await page.evaluate(fn, arg);
    if (v) return v;
    if (Date.now() - t0 > timeout) throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

// Names in the origin-private file system's root.
async function opfsNames(page) {
  return page.evaluate(async () => {
    const names = [];
    for await (const k of (await navigator.storage.getDirectory()).keys()) names.push(k);
    return names;
  });
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


// ---- independent oracles -------------------------------------------------------------------

const ARCH = { x86_64: "x64", x86: "x86", ARM64: "arm64", ARM: "arm" };
// wimlib-imagex info: one record per image.
function wimlibImages(file) {
  const out = execFileSync("wimlib-imagex", ["info", file]).toString();
  const images = [];
  for (const block of out.split(/\n(?=Index:)/).slice(1)) {
    const f = {};
    for (const line of block.split("\n")) {
      const m = line.match(/^([A-Za-z ]+):\s*(.*)$/);
      if (m) f[m[1].trim()] = m[2].trim();
    }
    images.push({
      index: f["Index"], name: f["Name"], edition: f["Edition ID"] || f["Flags"] || "",
      arch: ARCH[f["Architecture"]] || f["Architecture"],
      version: `${f["Major Version"]}.${f["Minor Version"]}.${f["Build"]}.${f["Service Pack Build"]}`,
      languages: (f["Languages"] || "").split(/\s+/).filter(Boolean).join(", "),
    });
  }
  return images;
}
function tmpDir(tag) {
  return fs.mkdtempSync(path.join(os.tmpdir(), `mediaprep-e2e-${tag}-`));
}
// Files out of an ISO with 7-Zip, out of a WIM with wimlib.
function isoExtract(iso, inner) {
  const d = tmpDir("iso");
  execFileSync("7zz", ["e", "-y", `-o${d}`, iso, inner], { stdio: "ignore" });
  return path.join(d, path.basename(inner));
}
function wimExtract(wim, index, inner) {
  const d = tmpDir("wim");
  execFileSync("wimlib-imagex", ["extract", wim, String(index), inner, `--dest-dir=${d}`, "--no-acls"], { stdio: "ignore" });
  return path.join(d, path.basename(inner));
}
// Package records in a WIM image, as wimlib lists them: the revisions a WinRE claims.
function recordRevisions(wim) {
  const out = execFileSync("wimlib-imagex", ["dir", wim, "1", "--path=/Windows/servicing/Packages"]).toString();
  return [...out.matchAll(/~(\d+)\.(\d+)\.\d+\.\d+\.mum$/gm)].map((m) => `${m[1]}.${m[2]}`);
}

async function openFiles(page, files, selector) {
  await chooseFiles(page, files);
  await page.waitForSelector(`${selector}, #error`, { timeout: 120000 });
  if (await page.$("#error")) throw new Error(`error card: ${await page.textContent("#error")}`);
}

// What the media view shows, one row per image.
async function shownImages(page) {
  return page.$$eval("li.image", (els) => els.map((el) => {
    const t = (c) => (el.querySelector(c)?.textContent || "").trim();
    return { wim: el.dataset.wim, index: el.dataset.index, edition: t(".edition"), arch: t(".arch"),
             version: t(".version"), xml: t(".xml-version") || t(".version"), source: t(".version-source"),
             languages: t(".langs") };
  }));
}

function compareImages(shown, expect, what) {
  assert(shown.length === expect.length, `${what}: ${shown.length} images shown, wimlib has ${expect.length}`);
  for (const e of expect) {
    const s = shown.find((x) => x.index === e.index);
    assert(s, `${what}: image ${e.index} not shown`);
    for (const k of ["edition", "arch"]) {
      assert(s[k] === e[k], `${what} #${e.index} ${k}: shown ${s[k]}, wimlib ${e[k]}`);
    }
    assert(s.xml === e.version, `${what} #${e.index} version: shown ${s.xml}, wimlib ${e.version}`);
    if (e.languages) assert(s.languages === e.languages, `${what} #${e.index} languages: ${s.languages} vs ${e.languages}`);
  }
}

// The WinRE rows: XML facts vs wimlib, and the effective version must be one that a package
// record in the image (listed by wimlib) names.
function checkWinre(shown, winreWim, what) {
  compareImages(shown, wimlibImages(winreWim), what);
  const revs = recordRevisions(winreWim);
  for (const s of shown) {
    const m = s.version.match(/^10\.0\.(\d+\.\d+)$/);
    assert(m && revs.includes(m[1]), `${what}: effective ${s.version} not among records ${revs}`);
    assert(/record|XML|PE/i.test(s.source), `${what}: no version source shown (${s.source})`);
  }
}

test("media view: editions, versions, WinRE of install.wim / install.esd match wimlib", async () => {
  const page = await openApp();
  for (const name of ["install.wim", "install.esd"]) {
    await openFiles(page, [fix(name)], "#media-view");
    await page.waitForFunction((n) => document.querySelector("#media-title")?.textContent.includes(n), name);
    const shown = await shownImages(page);
    compareImages(shown.filter((s) => !s.wim.includes("→")), wimlibImages(fix(name)), name);
    const winre = wimExtract(fix(name), 1, "/Windows/System32/Recovery/Winre.wim");
    checkWinre(shown.filter((s) => s.wim.includes("→")), winre, `${name} WinRE`);
    await page.locator("#media-view").screenshot({ path: path.join(OUT, `10-media-${name}.png`) });
  }
  assert(page.errors.length === 0, `page errors: ${page.errors}`);
  await page.close();
});

test("media view: ISO layers (install.wim, nested WinRE, boot.wim) match 7-Zip + wimlib", async () => {
  const page = await openApp();
  for (const iso of ["media-udf.iso", "media-esd.iso"]) {
    await openFiles(page, [fix(iso)], "#media-view");
    await page.waitForFunction((n) => document.querySelector("#media-title")?.textContent.includes(n), iso);
    const shown = await shownImages(page);
    const wims = await page.$$eval("li.wim", (els) => els.map((e) => e.dataset.path));
    const install = wims.find((p) => /^\/sources\/install\.(wim|esd)$/.test(p));
    assert(install && wims.includes("/sources/boot.wim"), `layers shown: ${wims}`);
    const installFile = isoExtract(fix(iso), install.slice(1));
    compareImages(shown.filter((s) => s.wim === install), wimlibImages(installFile), `${iso} ${install}`);
    const boot = isoExtract(fix(iso), "sources/boot.wim");
    compareImages(shown.filter((s) => s.wim === "/sources/boot.wim"), wimlibImages(boot), `${iso} boot.wim`);
    const winre = wimExtract(installFile, 1, "/Windows/System32/Recovery/Winre.wim");
    checkWinre(shown.filter((s) => s.wim.startsWith(`${install} →`)), winre, `${iso} WinRE`);
    await page.screenshot({ path: path.join(OUT, `11-media-${iso}.png`), fullPage: true });
  }
  await page.close();
});

test("updates view: verdicts per image with reasons, recommendation, partition fit", async () => {
  const page = await openApp();
  await openFiles(page, [fix("media-udf.iso")], "#updates-view");
  const shownLabels = await page.$$eval(".image-verdicts", (els) => els.map((e) => e.dataset.image));
  const imageCount = (await shownImages(page)).length;
  assert(shownLabels.length === imageCount, `verdict groups ${shownLabels.length} != images ${imageCount}`);
  // Every verdict that is not "not applicable" carries a reason.
  const rows = await page.$$eval("tr.finding", (els) => els.map((e) => ({
    kb: e.dataset.kb, verdict: e.dataset.verdict, reason: e.lastElementChild.textContent.trim() })));
  assert(rows.length > 0 && rows.every((r) => /^KB\d+$/.test(r.kb) && r.reason.length > 0), "findings without KB or reason");
  // The fixture WinRE is at 26100.1000 per its records (wimlib listing): an older image, so the
  // newest Safe OS DU of the catalog for 26100 must be recommended and must say "applies".
  const recs = await page.$$eval("tr.recommendation", (els) => els.map((e) => e.dataset.kb));
  assert(recs.length > 0, "no recommendation for an old WinRE");
  for (const kb of recs) {
    assert(rows.some((r) => r.kb === kb && r.verdict === "applies"), `${kb} recommended but no 'applies' verdict`);
  }
  // Partition fit reacts to the numbers typed in.
  await page.fill("#part-size", "1024");
  await page.fill("#part-free", "2");
  await page.waitForSelector("#fit-verdict.bad");
  await page.fill("#part-free", "900");
  await page.waitForSelector("#fit-verdict.ok");
  await page.locator("#updates-view").screenshot({ path: path.join(OUT, "12-updates.png") });
  await page.close();
});

// The catalog's age is measured against the page's `?today=` (a documented test hook), never the
// real clock: the built-in catalog is dated 2026-11-23; November 2026's release day was 11-10 and
// December's is 12-08.
test("catalog age: the line above the verdicts says the catalog's date and age; stale after the next release day", async () => {
  const fresh = await openApp(undefined, `${BASE}?today=2026-11-30`);
  await openFiles(fresh, [fix("Winre.wim")], "#updates-view");
  const line = await fresh.textContent("#catalog-age");
  assert(line === "Catalog of 2026-11-23 (7 days old): updates released after that date are unknown to it.",
    `fresh age line: ${line}`);
  assert(!(await fresh.getAttribute("#catalog-age", "class")).includes("warn"), "a fresh catalog is flagged stale");
  assert(fresh.errors.length === 0, `page errors: ${fresh.errors}`);
  await fresh.close();

  const stale = await openApp(undefined, `${BASE}?today=2026-12-09`);
  await openFiles(stale, [fix("Winre.wim")], "#updates-view");
  await stale.waitForSelector("#catalog-age.warn");
  const warn = await stale.textContent("#catalog-age");
  assert(warn.startsWith("Catalog of 2026-11-23 (16 days old): updates released after that date are unknown to it.")
    && warn.includes("2026-12-08"), `stale age line: ${warn}`);
  await stale.locator("#updates-view").screenshot({ path: path.join(OUT, "19-catalog-age.png") });
  await stale.close();
});

// A catalog for the WinRE fixture (26100.1000), as core/tests/cli.rs `safeos_catalog` builds them.
function safeosCatalog(dir, name, version, dus, misspell) {
  const updates = dus.map(([kb, date, rev]) => ({
    kb, kind: "safeos-du", title: null, release_date: date,
    products: ["Windows 11, version 24H2"], build_family: 26100, os_builds: [26100],
    [misspell ? "revison" : "revision"]: rev, architectures: ["x64"], targets: ["winre"],
    source: "https://example.invalid/scripts/fixtures.d/safeos-du.json",
    confidence: "third-party", notes: "test entry for the WinRE fixture",
  }));
  const p = path.join(dir, name);
  fs.writeFileSync(p, JSON.stringify({ schema: 1, version, generated: "test", updates }, null, 2));
  return p;
}

test("catalog file: chosen with the media it replaces the built-in one; a newer Safe OS DU turns already-current into applies; a broken one names the field", async () => {
  const d = tmpDir("catalog");
  const oldDu = ["KB5040530", "2024-07-09", 1000];
  const a = safeosCatalog(d, "a.json", "2026.11.23", [oldDu]);
  const b = safeosCatalog(d, "b.json", "2026.11.24", [oldDu, ["KB5079500", "2026-03-10", 8037]]);
  const bad = safeosCatalog(d, "bad.json", "2026.11.25", [oldDu], true);
  // After December's release day: the catalog is stale, so "already current" holds only as of its date.
  const page = await openApp(undefined, `${BASE}?today=2026-12-09`);
  await chooseFiles(page, [fix("Winre.wim"), a]);
  await page.waitForSelector("#catalog-source:has-text('file a.json')", { timeout: 120000 });
  const cell = await page.textContent("tr.finding[data-kb='KB5040530'][data-verdict='already-current'] td:nth-child(3)");
  assert(cell === "up to date as of 2026-11-23", `stale already-current words: ${cell}`);
  assert((await page.$$("tr.recommendation")).length === 0, "recommendation with a catalog the image is current with");
  await page.waitForSelector("#catalog-age.warn");
  // A newer catalog alone re-evaluates the open media.
  await chooseFiles(page, [b]);
  await page.waitForSelector("tr.finding[data-kb='KB5079500'][data-verdict='applies']", { state: "attached", timeout: 120000 });
  assert(await page.$("tr.recommendation[data-kb='KB5079500']"), "the newer Safe OS DU is not recommended");
  assert((await page.textContent("#catalog-source")).includes("file b.json"), "catalog source not b.json");
  try {
    // A misspelt field: the error names it; the page goes back to the last good catalog (b.json),
    // not the built-in one.
    await chooseFiles(page, [bad]);
    await page.waitForSelector("#error", { timeout: 120000 });
    const err = await page.textContent("#error");
    assert(/catalog/i.test(err) && err.includes("revison") && err.includes("bad.json"), `error does not name the field: ${err}`);
    assert(err.includes("file b.json"), `error does not say which catalog stays in use: ${err}`);
    assert((await page.textContent("#catalog-source")).includes("file b.json"), "bad file: not back to b.json");
    // Dropped with media, the bad file still names its field, and the media is checked under b.json.
    await chooseFiles(page, [fix("Winre.wim"), bad]);
    await page.waitForSelector("#error", { timeout: 120000 });
    assert((await page.textContent("#error")).includes("revison"), "bad file with media: field not named");
    assert(await page.$("tr.finding[data-kb='KB5079500'][data-verdict='applies']"), "bad file with media: not b.json's verdicts");
    await chooseFiles(page, [fix("Winre.wim")]);
    await page.waitForFunction(() => document.querySelector("#chosen")?.textContent === "Opened: Winre.wim"
      && !document.querySelector("#job") && !document.querySelector("#error"), null, { timeout: 120000 });
    assert((await page.textContent("#catalog-source")).includes("file b.json"), "the last good catalog is not used for the next open");
    assert(await page.$("tr.finding[data-kb='KB5079500'][data-verdict='applies']"), "next open: not b.json's verdicts");
    assert(!(await page.$("#error")), "error card stays after a good open");
    assert(page.errors.length === 0, `page errors: ${page.errors}`);
  } finally {
    await forgetKeptCatalog(page);
    await page.close();
  }
});

test("package view: Safe OS DU verifies; tampered copy fails naming the altered payload", async () => {
  const page = await openApp();
  await openFiles(page, [fix("safeos-du.cab"), fix("safeos-du-tampered.cab")], ".package-view[data-file='safeos-du-tampered.cab']");
  await page.waitForSelector(".package-view[data-file='safeos-du.cab']");
  const good = page.locator(".package-view[data-file='safeos-du.cab']");
  const bad = page.locator(".package-view[data-file='safeos-du-tampered.cab']");
  assert(await good.locator(".verdict.ok").count() === 1, "good package not verified");
  assert(await bad.locator(".verdict.bad").count() === 1, "tampered package not rejected");
  assert((await good.locator(".file-sha256").textContent()).trim() === sha256File(fix("safeos-du.cab")), "package sha256");
  // cabextract both; the member that differs must be named in the tampered card's problems.
  const a = tmpDir("cab"), b = tmpDir("cab");
  execFileSync("cabextract", ["-q", "-d", a, fix("safeos-du.cab")]);
  execFileSync("cabextract", ["-q", "-d", b, fix("safeos-du-tampered.cab")]);
  const walk = (d, r = "") => fs.readdirSync(path.join(d, r), { withFileTypes: true })
    .flatMap((e) => e.isDirectory() ? walk(d, path.join(r, e.name)) : [path.join(r, e.name)]);
  const changed = walk(a).filter((f) => fs.existsSync(path.join(b, f)) && sha256File(path.join(a, f)) !== sha256File(path.join(b, f)));
  assert(changed.length > 0, "cabextract sees no difference between the fixtures");
  const problems = await bad.locator(".verdict").textContent();
  assert(changed.some((f) => problems.toLowerCase().includes(path.basename(f).toLowerCase())),
    `problems "${problems}" do not name any of ${changed}`);
  await good.screenshot({ path: path.join(OUT, "13-package-ok.png") });
  await bad.screenshot({ path: path.join(OUT, "14-package-tampered.png") });
  await page.close();
});

// What the sample button must show, checked against wimlib/7-Zip on the very files the build
// serves (dist/sample/, copied from the fixtures by www/post_build.py).
const SAMPLE_DIR = path.join(DIST, "sample");
async function checkSampleShown(page) {
  const iso = path.join(SAMPLE_DIR, "media-udf.iso"), cab = path.join(SAMPLE_DIR, "safeos-du.cab");
  await page.waitForSelector(".package-view[data-file='safeos-du.cab'], #error", { timeout: 120000 });
  await page.waitForSelector("#media-view, #error", { timeout: 120000 });
  if (await page.$("#error")) throw new Error(`error card: ${await page.textContent("#error")}`);
  assert((await page.textContent("#media-title")).includes("media-udf.iso"), "sample ISO not opened");
  const shown = await shownImages(page);
  const installFile = isoExtract(iso, "sources/install.wim");
  const editions = wimlibImages(installFile);
  compareImages(shown.filter((x) => x.wim === "/sources/install.wim"), editions, "sample install.wim");
  assert(editions.length === 3, `sample has ${editions.length} editions`);
  checkWinre(shown.filter((x) => x.wim.startsWith("/sources/install.wim →")),
    wimExtract(installFile, 1, "/Windows/System32/Recovery/Winre.wim"), "sample WinRE");
  assert(await page.locator("tr.recommendation").count() > 0, "no update recommended for the sample's WinRE");
  const pkg = page.locator(".package-view[data-file='safeos-du.cab']");
  assert(await pkg.locator(".verdict.ok").count() === 1, "sample package not verified");
  assert((await pkg.locator(".file-sha256").textContent()).trim() === sha256File(cab), "sample package sha256");
}

test("sample media button: media tree, verdicts, package and patch on the built-in sample; cached on first use, then offline", async () => {
  const sw = fs.readFileSync(path.join(DIST, "sw.js"), "utf8");
  const assets = JSON.parse(sw.match(/const ASSETS = (\[.*\]);/)[1]);
  assert(assets.length > 3 && !assets.some((a) => a.includes("sample")), `the sample is precached: ${assets}`);
  const page = await openApp();
  await controlled(page);
  const cached = () => page.evaluate(async () =>
    Promise.all(["./sample/media-udf.iso", "./sample/safeos-du.cab"].map(async (u) => !!(await caches.match(u)))));
  assert((await cached()).every((c) => !c), "the sample is in the cache before its first use");
  await page.click("#sample-open");
  await checkSampleShown(page);
  assert((await page.textContent("#chosen")).includes("media-udf.iso, safeos-du.cab"), "opened files not listed");
  await page.screenshot({ path: path.join(OUT, "04-sample.png"), fullPage: true });
  // The whole flow: the patch of the sample equals the CLI's.
  await page.click("#patch-start");
  await page.waitForSelector("#patch-result, #error", { timeout: 300000 });
  if (await page.$("#error")) throw new Error(`sample patch failed: ${await page.textContent("#error")}`);
  const ref = cliWinre(path.join(SAMPLE_DIR, "media-udf.iso"), path.join(SAMPLE_DIR, "safeos-du.cab"));
  assert((await page.textContent("#patch-sha256")).trim() === sha256File(ref), "sample patch differs from `mediaprep patch`");
  // Cached at first use (the service worker writes the cache while the page reads the body).
  await pollPage(page, async () =>
    (await Promise.all(["./sample/media-udf.iso", "./sample/safeos-du.cab"].map((u) => caches.match(u)))).every(Boolean),
    null, 30000, "the sample in the service worker's cache");
  await context.setOffline(true);
  try {
    await page.goto("about:blank");
    await page.goto(BASE);
    await page.waitForSelector("#worker-status:has-text('ready')", { timeout: 30000 });
    await page.click("#sample-open");
    await checkSampleShown(page);
  } finally {
    await context.setOffline(false);
  }
  assert(page.errors.length === 0, `page errors: ${page.errors}`);
  await page.close();
});

test("a malformed file shows an error in plain words; the app keeps working", async () => {
  const page = await openApp();
  const junk = path.join(OUT, "damaged.iso");
  fs.writeFileSync(junk, crypto.randomBytes(300 * 1024));
  await chooseFiles(page, [junk]);
  await page.waitForSelector("#error", { timeout: 60000 });
  const plain = await page.textContent("#error h2");
  assert(/damaged|not the kind/i.test(plain), `not plain words: ${plain}`);
  assert(!(await page.isVisible("#error-detail")), "technical detail should be folded");
  assert((await page.textContent("#error-detail")).trim().length > 0, "no technical detail");
  await page.screenshot({ path: path.join(OUT, "15-error.png"), fullPage: true });
  await openFiles(page, [fix("install.wim")], "#media-view");
  assert((await shownImages(page)).length > 0, "app did not recover");
  assert(page.errors.length === 0, `page errors: ${page.errors}`);
  await page.close();
});

// A drop of files (DataTransfer built in the page) on `selector`; true when the page took it
// (the drop event's default, the browser opening the file, was prevented).
async function dropFiles(page, selector, files) {
  const payload = files.map((f) => ({ name: path.basename(f), b64: fs.readFileSync(f).toString("base64") }));
  const dt = await page.evaluateHandle((files) => {
    const dt = new DataTransfer();
    for (const f of files) {
      const bin = atob(f.b64), bytes = new Uint8Array(bin.length);
      for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
      dt.items.add(new File([bytes], f.name));
    }
    return dt;
  }, payload);
  return page.$eval(selector, (el, dt) => {
    const fire = (type) => el.dispatchEvent(new DragEvent(type, { bubbles: true, cancelable: true, dataTransfer: dt }));
    fire("dragenter");
    fire("dragover");
    return !fire("drop");
  }, dt);
}

test("drag and drop anywhere: files dropped on the page header open like chosen ones; the page stays", async () => {
  const page = await openApp();
  const url = page.url();
  // While a file is dragged over the page the whole page is highlighted; leaving clears it.
  await page.$eval("header.top h1", (el) => {
    const dt = new DataTransfer();
    dt.items.add(new File(["x"], "x.iso"));
    for (const t of ["dragenter", "dragover"]) el.dispatchEvent(new DragEvent(t, { bubbles: true, cancelable: true, dataTransfer: dt }));
  });
  await page.waitForSelector("#drop-overlay", { state: "visible" });
  assert(await page.$eval("section.drop", (s) => s.classList.contains("over")), "drop zone not highlighted");
  await page.screenshot({ path: path.join(OUT, "05-drag-over.png") });
  await page.$eval("header.top h1", (el) => {
    const dt = new DataTransfer();
    dt.items.add(new File(["x"], "x.iso"));
    el.dispatchEvent(new DragEvent("dragleave", { bubbles: true, cancelable: true, dataTransfer: dt }));
  });
  await page.waitForSelector("#drop-overlay", { state: "detached" });
  // Dropped outside the drop zone: an ISO and a package, opened as one flow.
  const prevented = await dropFiles(page, "header.top h1", [fix("install.wim"), fix("safeos-du.cab")]);
  assert(prevented, "the drop's default (navigating to the file) was not prevented");
  await page.waitForSelector("#media-view, #error", { timeout: 120000 });
  if (await page.$("#error")) throw new Error(`error card: ${await page.textContent("#error")}`);
  await page.waitForSelector(".package-view[data-file='safeos-du.cab'] .verdict.ok", { timeout: 120000 });
  assert(!(await page.$("#drop-overlay")), "highlight left after the drop");
  assert((await page.textContent("#chosen")).includes("install.wim, safeos-du.cab"), "dropped files not listed");
  const shown = await shownImages(page);
  compareImages(shown.filter((s) => !s.wim.includes("→")), wimlibImages(fix("install.wim")), "dropped install.wim");
  // A real (trusted) drop of a file from disk through DevTools' input domain, on the body
  // below everything: a browser opens a dropped file in the tab unless the page prevents the
  // drop's default. Headless Chromium never navigates on a drop by itself, so the prevented
  // default is what is checked (read once the event has gone through every listener).
  await page.evaluate(() => {
    window.__drop = null;
    addEventListener("drop", (e) => setTimeout(() => { window.__drop = { trusted: e.isTrusted, prevented: e.defaultPrevented }; }), true);
  });
  const cdp = await page.context().newCDPSession(page);
  const { height } = page.viewportSize();
  const data = { items: [], files: [fix("install.esd")], dragOperationsMask: 1 };
  for (const type of ["dragEnter", "dragOver", "drop"]) {
    await cdp.send("Input.dispatchDragEvent", { type, x: 20, y: height - 5, data });
  }
  await page.waitForFunction(() => document.querySelector("#media-title")?.textContent.includes("install.esd"), null, { timeout: 120000 });
  const drop = await page.evaluate(() => window.__drop);
  assert(drop && drop.trusted && drop.prevented, `trusted drop: ${JSON.stringify(drop)}`);
  assert(page.url() === url, `the drop navigated to ${page.url()}`);
  assert(await page.$eval("#file-input", (i) => i.files.length === 0), "file input touched");
  assert(page.errors.length === 0, `page errors: ${page.errors}`);
  await page.close();
});

test("catalog file dropped with the media on the page header is used like a chosen one", async () => {
  const d = tmpDir("catalog-drop");
  const a = safeosCatalog(d, "dropped.json", "2026.11.23", [["KB5040530", "2024-07-09", 1000]]);
  const page = await openApp(undefined, `${BASE}?today=2026-11-30`);
  await dropFiles(page, "header.top h1", [fix("Winre.wim"), a]);
  await page.waitForSelector("#catalog-source:has-text('file dropped.json')", { timeout: 120000 });
  const cell = await page.textContent("tr.finding[data-kb='KB5040530'][data-verdict='already-current'] td:nth-child(3)");
  assert(cell === "already current", `fresh already-current words: ${cell}`);
  assert(!(await page.getAttribute("#catalog-age", "class")).includes("warn"), "fresh catalog flagged stale");
  await page.close();
});

// The catalog a visit keeps in the origin-private file system (docs/catalog.md), read or removed.
async function keptCatalogFiles(page) {
  return page.evaluate(async () => {
    const d = await navigator.storage.getDirectory();
    const read = async (n) => { try { return await (await (await d.getFileHandle(n)).getFile()).text(); } catch { return null; } };
    return { bytes: await read("catalog.json"), info: await read("catalog.kept.json") };
  });
}
async function forgetKeptCatalog(page) {
  await page.evaluate(async () => {
    const d = await navigator.storage.getDirectory();
    for (const n of ["catalog.kept.json", "catalog.json"]) { try { await d.removeEntry(n); } catch {} }
  });
}

test("kept catalog: a catalog chosen before any media is shown loaded at once and kept; the next visit uses it; one kept by another app version is deleted, saying why", async () => {
  const d = tmpDir("catalog-kept");
  const newer = safeosCatalog(d, "newer.json", "2026.11.30",
    [["KB5040530", "2024-07-09", 1000], ["KB5079500", "2026-03-10", 8037]]);
  const url = `${BASE}?today=2026-12-01`;
  const page = await openApp(undefined, url);
  try {
    await page.waitForSelector("#catalog-source:has-text('built into')", { timeout: 60000 });
    assert(!(await page.$("#catalog-kept")), "a note about a kept catalog on a fresh profile");
    await chooseFiles(page, [newer]);
    await page.waitForSelector("#catalog-source:has-text('file newer.json')", { timeout: 60000 });
    const line = await page.textContent("#catalog-source");
    assert(line === "Catalog file newer.json loaded, up to date as of 2026-11-30 (1 day old)", `loaded line: ${line}`);
    assert((await page.textContent("#catalog-kept")).startsWith("kept in this browser"), "not said to be kept");
    assert(!(await page.$("#media-view")) && !(await page.$("#error")), "a catalog alone opened something else");
    const kept = await keptCatalogFiles(page);
    assert(kept.bytes === fs.readFileSync(newer, "utf8"), "OPFS does not hold the file's bytes");
    assert(JSON.parse(kept.info).name === "newer.json", `kept record: ${kept.info}`);
    await page.screenshot({ path: path.join(OUT, "24-catalog-kept.png") });

    // The next visit starts with it, and its verdicts are the kept catalog's.
    const next = await openApp(undefined, url);
    await next.waitForSelector("#catalog-source:has-text('file newer.json')", { timeout: 60000 });
    assert((await next.textContent("#catalog-kept")).includes("since an earlier visit"), "kept catalog not said to be kept");
    await openFiles(next, [fix("Winre.wim")], "#updates-view");
    await next.waitForSelector("tr.finding[data-kb='KB5079500'][data-verdict='applies']", { state: "attached", timeout: 60000 });
    // Kept by another app version: deleted at the next start, the reason said, the built-in one used.
    await next.evaluate(async () => {
      const d = await navigator.storage.getDirectory();
      const w = await (await d.getFileHandle("catalog.kept.json")).createWritable();
      await w.write(JSON.stringify({ name: "newer.json", app_version: "0.0.0-old" }));
      await w.close();
    });
    await next.close();
    const third = await openApp(undefined, url);
    await third.waitForSelector("#catalog-kept:has-text('The kept catalog was deleted')", { timeout: 60000 });
    const why = await third.textContent("#catalog-kept");
    assert(why.includes("0.0.0-old") && why.includes("newer.json"), `deletion reason: ${why}`);
    assert((await third.textContent("#catalog-source")).includes("built into"), "built-in catalog not used after the deletion");
    const left = await keptCatalogFiles(third);
    assert(left.bytes === null && left.info === null, "the discarded catalog is still in OPFS");
    assert(page.errors.length + third.errors.length === 0, `page errors: ${page.errors} ${third.errors}`);
    await third.close();
  } finally {
    await forgetKeptCatalog(page);
    await page.close();
  }
});

test("catalog export: the catalog in use downloads as JSON; mediaprep catalog --check accepts it and --json exports the same", async () => {
  const d = tmpDir("catalog-export");
  const page = await openApp(undefined, `${BASE}?today=2026-11-30`);
  const grab = async () => {
    await page.waitForSelector("#catalog-export:not([disabled])", { timeout: 60000 });
    const [dl] = await Promise.all([page.waitForEvent("download", { timeout: 60000 }), page.click("#catalog-export")]);
    const p = path.join(d, dl.suggestedFilename());
    await dl.saveAs(p);
    return p;
  };
  const same = (a, b) => JSON.stringify(JSON.parse(a)) === JSON.stringify(JSON.parse(b));
  try {
    await page.waitForSelector("#catalog-source:has-text('built into')", { timeout: 60000 });
    const builtIn = await grab();
    const version = await page.getAttribute("#catalog-source", "data-version");
    assert(path.basename(builtIn) === `catalog-${version}.json`, `export name ${builtIn}`);
    const check = execFileSync(cli(), ["catalog", "--check", builtIn]).toString();
    assert(check.includes("passes every check"), `catalog --check: ${check}`);
    assert(same(fs.readFileSync(builtIn, "utf8"), execFileSync(cli(), ["catalog", "--json"]).toString()),
      "the page's export of the built-in catalog differs from `mediaprep catalog --json`");
    // After a file loads (not newer than the built-in one: used for this visit, not kept), the
    // export is that catalog, as the CLI exports it from the file.
    const file = safeosCatalog(d, "older.json", "2026.11.20", [["KB5040530", "2024-07-09", 1000]]);
    await chooseFiles(page, [file]);
    await page.waitForSelector("#catalog-source:has-text('file older.json')", { timeout: 60000 });
    assert((await page.textContent("#catalog-kept")).includes("for this visit only"), "older file said to be kept");
    const exported = await grab();
    assert(path.basename(exported) === "catalog-2026.11.20.json", `export name ${exported}`);
    execFileSync(cli(), ["catalog", "--check", exported]);
    assert(same(fs.readFileSync(exported, "utf8"), execFileSync(cli(), ["catalog", "--json", "--catalog", file]).toString()),
      "the page's export differs from `mediaprep catalog --json --catalog FILE`");
    assert(page.errors.length === 0, `page errors: ${page.errors}`);
  } finally {
    await forgetKeptCatalog(page);
    await page.close();
  }
});

// The summary rows as shown: role, status, the KBs linked, the evaluation positions of the images.
async function glanceRows(page) {
  return page.$$eval("li.glance-row", (els) => els.map((e) => ({
    role: e.dataset.role, status: e.dataset.status, images: e.dataset.images.split(",").map(Number),
    words: e.querySelector(".glance-status").textContent, version: e.querySelector(".glance-version").textContent,
    kbs: [...e.querySelectorAll("a.kb-link")].map((a) => a.dataset.kb) })));
}
// Is the element entirely inside the viewport without scrolling?
async function inFirstScreen(page, selector) {
  return page.$eval(selector, (e) => { const r = e.getBoundingClientRect();
    return r.top >= 0 && r.bottom <= window.innerHeight && r.left >= 0 && r.right <= window.innerWidth && r.height > 0; });
}

// Every fixture ISO (by glob), and at the laptop size also a lone WinRE, install.wim and install.esd.
const FIXTURE_ISOS = fs.readdirSync(FIX).filter((n) => n.toLowerCase().endsWith(".iso")).sort();
const LONE_WIMS = ["Winre.wim", "install.wim", "install.esd"];

test("at a glance: one row per image group with status words and the needed KBs (as `mediaprep check`), packages, one action; every row and the action in the first screen at 1366×768 (sample, every fixture ISO, a lone WinRE / install.wim / install.esd) and 414×896 (sample, ISOs)", async () => {
  assert(FIXTURE_ISOS.length >= 3, `fixture ISOs: ${FIXTURE_ISOS}`);
  for (const [width, height] of [[1366, 768], [414, 896]]) {
    const page = await openApp(undefined, `${BASE}?today=2026-11-30`);
    await page.setViewportSize({ width, height });
    const files = width > 1000 ? [...FIXTURE_ISOS, ...LONE_WIMS] : FIXTURE_ISOS;
    const inputs = [["sample", null], ...files.map((i) => [i, fix(i)])];
    for (const [name, iso] of inputs) {
      await page.goto(`${BASE}?today=2026-11-30`);
      await page.waitForSelector("#worker-status:has-text('ready')", { timeout: 30000 });
      if (iso) {
        await chooseFiles(page, [iso]);
        await page.waitForSelector("#summary, #error", { timeout: 120000 });
        if (await page.$("#error")) throw new Error(`${name}: ${await page.textContent("#error")}`);
        // Without a package the action is disabled and says what to bring.
        assert(await page.$eval("#glance-patch", (b) => b.disabled), `${name}: action enabled without packages`);
        assert(/Bring /.test(await page.textContent("#glance-why")), `${name}: no reason for the disabled action`);
        await chooseFiles(page, [fix("safeos-du.cab")]);
      } else {
        await page.click("#sample-open");
      }
      await page.waitForSelector(".glance-package[data-file='safeos-du.cab']", { timeout: 120000 });
      await page.waitForFunction(() => !document.querySelector("#job"), null, { timeout: 120000 });
      const rows = await glanceRows(page);
      const src = iso || path.join(SAMPLE_DIR, "media-udf.iso");
      const check = JSON.parse(execFileSync(cli(), ["check", src, "--json", "--today", "2026-11-30"]).toString());
      const positions = rows.flatMap((r) => r.images).sort((a, b) => a - b);
      const nImages = new Set(check.evaluation.findings.map((f) => f.image)).size;
      assert(positions.length === nImages && positions.every((p, i) => p === i), `${name}: rows cover ${positions}, ${nImages} images`);
      assert(rows.length < nImages || nImages <= 2, `${name}: editions not grouped (${rows.length} rows for ${nImages} images)`);
      for (const r of rows) {
        const recs = [...new Set(check.evaluation.recommendations.filter((x) => r.images.includes(x.image)).map((x) => x.kb))];
        assert(JSON.stringify(r.kbs.slice().sort()) === JSON.stringify(recs.slice().sort()), `${name} ${r.role}: links ${r.kbs} vs CLI ${recs}`);
        const words = recs.length ? `needs ${recs.length} update${recs.length > 1 ? "s" : ""}` : null;
        if (words) assert(r.status === "needs" && r.words === words, `${name} ${r.role}: ${r.words}, expected ${words}`);
        else assert(/^(up to date|cannot tell: .+)$/.test(r.words), `${name} ${r.role}: ${r.words}`);
      }
      assert(rows.some((r) => r.role === "winre"), `${name}: no WinRE row`);
      assert((await page.getAttribute(".glance-package[data-file='safeos-du.cab']", "data-status")) === "ok", `${name}: package not verified for this media`);
      assert(!(await page.$eval("#glance-patch", (b) => b.disabled)), `${name}: action disabled with a verified package`);
      // A lone install.wim/.esd leads to patching install.wim (decisions.md 28); the rest to WinRE.
      const action = /^install\.(wim|esd)$/.test(name) ? "Patch install.wim" : "Patch WinRE";
      assert((await page.textContent("#glance-patch")) === action, `${name}: primary action`);
      for (const sel of ["#summary-title", "#glance-patch"]) {
        assert(await inFirstScreen(page, sel), `${name} at ${width}×${height}: ${sel} is not in the first screen`);
      }
      for (let i = 1; i <= rows.length; i++) {
        const sel = `li.glance-row:nth-child(${i}) .glance-head`;
        assert(await inFirstScreen(page, sel), `${name} at ${width}×${height}: status row ${i} is not in the first screen`);
      }
      // Details are one click away and keyboard accessible; the superseded rows are folded.
      const details = page.locator("li.glance-row[data-role='winre'] details.glance-details").first();
      await details.locator(":scope > summary").focus();
      await page.keyboard.press("Enter");
      assert(await details.evaluate((d) => d.open), `${name}: details do not open with the keyboard`);
      assert(await details.locator("tr.finding").first().isVisible(), `${name}: verdicts not shown when opened`);
      if (await details.locator("details.superseded").count()) {
        assert(!(await details.locator("details.superseded tr.finding").first().isVisible()), `${name}: superseded rows not folded`);
      }
      await page.keyboard.press("Enter");
      await page.screenshot({ path: path.join(OUT, `25-glance-${name}-${width}x${height}.png`) });
      if (name === "install.wim") {
        // The action patches install.wim: every edition carries the patched WinRE.
        await page.click("#glance-patch");
        await page.waitForSelector("#patch-result, #error", { timeout: 600000 });
        if (await page.$("#error")) throw new Error(`${name}: ${await page.textContent("#error")}`);
        assert((await page.locator(".patch-edition").count()) === 3, `${name}: editions in the result`);
      }
    }
    assert(page.errors.length === 0, `page errors: ${page.errors}`);
    await page.close();
  }
});

// Open fixture `name` saved as `as` alone in a fresh page; the summary rows and `mediaprep check` of it.
async function openRenamed(page, name, as) {
  const file = path.join(tmpDir("renamed"), as);
  fs.copyFileSync(fix(name), file);
  await page.goto(`${BASE}?today=2026-11-30`);
  await page.waitForSelector("#worker-status:has-text('ready')", { timeout: 30000 });
  await openFiles(page, [file], "#summary");
  const check = JSON.parse(execFileSync(cli(), ["check", file, "--json", "--today", "2026-11-30"]).toString());
  return { rows: await glanceRows(page), check };
}

// The page shows every Safe OS DU verdict the CLI gives (not "not applicable"), and no other one.
async function assertSafeosAsCli(page, check, rows, what) {
  const shown = await page.$$eval("tr.finding", (els) => els.map((e) => ({ kb: e.dataset.kb, verdict: e.dataset.verdict })));
  const cliSafeos = check.evaluation.findings.filter((f) => f.kind === "safeos-du" && f.verdict !== "not-applicable");
  const pageSafeos = shown.filter((f) => cliSafeos.some((c) => c.kb === f.kb));
  assert(cliSafeos.length > 0 && cliSafeos.every((f) => pageSafeos.some((s) => s.kb === f.kb))
    && pageSafeos.every((s) => cliSafeos.some((f) => s.kb === f.kb && s.verdict === f.verdict)),
    `${what}: Safe OS DU verdicts differ: page ${JSON.stringify(pageSafeos)}, CLI ${JSON.stringify(cliSafeos.map((f) => [f.kb, f.verdict]))}`);
  assert(cliSafeos.some((f) => f.verdict === "applies" && rows[0].kbs.includes(f.kb)), `${what}: no Safe OS DU linked`);
}

test("a WinRE under another name is WinRE and gets the CLI's Safe OS DU verdicts: as recovery-image.wim, and with its XML type fields and name stripped (by content); a boot.wim under another name is no WinRE", async () => {
  const page = await openApp(undefined, `${BASE}?today=2026-11-30`);
  for (const [name, as] of [["Winre.wim", "recovery-image.wim"], ["backup-image.wim", "old-recovery-backup.wim"]]) {
    const { rows, check } = await openRenamed(page, name, as);
    assert(rows.length === 1 && rows[0].role === "winre", `${as} rows: ${JSON.stringify(rows)}`);
    assert(check.inspection.wims[0].images[0].role === "winre", `${as}: the CLI does not take it for WinRE`);
    await assertSafeosAsCli(page, check, rows, as);
    const recs = [...new Set(check.evaluation.recommendations.map((r) => r.kb))].sort();
    assert(JSON.stringify(rows[0].kbs.slice().sort()) === JSON.stringify(recs), `${as}: links ${rows[0].kbs} vs CLI ${recs}`);
    assert((await page.textContent("#glance-patch")) === "Patch WinRE", `${as}: primary action`);
  }
  const { rows, check: bootCheck } = await openRenamed(page, "winpe-setup.wim", "pe-and-setup.wim");
  assert(rows.length > 0 && rows.every((r) => r.role === "boot"), `renamed boot.wim rows: ${JSON.stringify(rows)}`);
  const bootRecs = [...new Set(bootCheck.evaluation.recommendations.map((r) => r.kb))].sort();
  assert(JSON.stringify([...new Set(rows.flatMap((r) => r.kbs))].sort()) === JSON.stringify(bootRecs), `links vs CLI ${bootRecs}`);
  assert(!bootCheck.evaluation.findings.some((f) => f.kind === "safeos-du" && f.verdict !== "not-applicable"), "Safe OS DU for a boot image");
  assert(page.errors.length === 0, `page errors: ${page.errors}`);
  await page.close();
});

// axe-core (npm, e2e/package.json) injected through DevTools (the page's CSP allows no injected
// script tag; Runtime.evaluate is not subject to it).
const AXE = fs.readFileSync(path.join(ROOT, "e2e", "node_modules", "axe-core", "axe.min.js"), "utf8");
async function seriousA11y(page) {
  await page.evaluate(AXE);
  const found = await page.evaluate(async () => (await window.axe.run(document, { resultTypes: ["violations"] }))
    .violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 4).map((n) => n.target.join(" ")) })));
  return found.filter((v) => v.impact === "serious" || v.impact === "critical");
}

test("accessibility: axe-core reports no serious or critical violation on the start page and on the sample's summary with details open", async () => {
  const page = await openApp(undefined, `${BASE}?today=2026-11-30`);
  await page.waitForSelector("#catalog-source", { timeout: 60000 });
  let v = await seriousA11y(page);
  assert(v.length === 0, `start page: ${JSON.stringify(v)}`);
  await page.click("#sample-open");
  await page.waitForSelector(".glance-package[data-file='safeos-du.cab']", { timeout: 120000 });
  await page.waitForFunction(() => !document.querySelector("#job"), null, { timeout: 120000 });
  await page.$$eval("details", (ds) => ds.forEach((d) => { d.open = true; }));
  v = await seriousA11y(page);
  assert(v.length === 0, `sample summary: ${JSON.stringify(v, null, 1)}`);
  await page.close();
});

test("accessibility: no serious or critical axe-core violation on the package view, the patch result, the file browser and an error, in the light and the dark colour scheme", async () => {
  for (const scheme of ["light", "dark"]) {
    const page = await openApp(undefined, `${BASE}?today=2026-11-30`);
    // prefers-color-scheme through DevTools (Emulation.setEmulatedMedia).
    await page.emulateMedia({ colorScheme: scheme });
    assert(await page.evaluate((s) => matchMedia(`(prefers-color-scheme: ${s})`).matches, scheme), `${scheme} not emulated`);
    const check = async (what) => {
      await page.$$eval("details", (ds) => ds.forEach((d) => { d.open = true; }));
      const v = await seriousA11y(page);
      assert(v.length === 0, `${what} (${scheme}): ${JSON.stringify(v, null, 1)}`);
      await page.screenshot({ path: path.join(OUT, `26-a11y-${what.replace(/\W+/g, "-")}-${scheme}.png`), fullPage: true });
    };
    // The summary with a WinRE and its package; then the package view; then the patch result.
    await openFiles(page, [fix("Winre.wim"), fix("safeos-du.cab")], ".package-view");
    await page.waitForFunction(() => !document.querySelector("#job"), null, { timeout: 120000 });
    await check("summary and package view");
    await page.click("#glance-patch");
    await page.waitForSelector("#patch-result, #error", { timeout: 600000 });
    if (await page.$("#error")) throw new Error(`patch failed: ${await page.textContent("#error")}`);
    await check("patch result");
    // The file browser inside an ISO's install.wim.
    await page.goto(`${BASE}?today=2026-11-30`);
    await page.waitForSelector("#worker-status:has-text('ready')", { timeout: 30000 });
    await openFiles(page, [fix("media-udf.iso")], "#media-view");
    await page.click("#browse-open");
    await page.waitForSelector(".browse-entry");
    await browseInto(page, "sources");
    await check("file browser");
    // An error in plain words.
    const junk = path.join(tmpDir("a11y"), "damaged.iso");
    fs.writeFileSync(junk, crypto.randomBytes(64 * 1024));
    await chooseFiles(page, [junk]);
    await page.waitForSelector("#error", { timeout: 60000 });
    await check("error");
    assert(page.errors.length === 0, `page errors: ${page.errors}`);
    await page.close();
  }
});

test("split WIM set: a set with a part missing says which in plain words; all five .swm parts chosen at once show wimlib's editions", async () => {
  const page = await openApp();
  const parts = ["install.swm", "install2.swm", "install3.swm", "install4.swm", "install5.swm"].map(fix);
  // Part 3 left out.
  await chooseFiles(page, [parts[0], parts[1], parts[3], parts[4]]);
  await page.waitForSelector("#error", { timeout: 60000 });
  const plain = (await page.textContent("#error h2")).trim();
  assert(/^Part 3 of 5 of this split WIM \(\.swm\) set is missing\./.test(plain), `not plain words: ${plain}`);
  assert(/choose all 5 parts/i.test(plain), `no way out named: ${plain}`);
  assert(/part 3 of 5/.test(await page.textContent("#error-detail")), "technical detail lost");
  await page.screenshot({ path: path.join(OUT, "16-swm-missing.png"), fullPage: true });
  // Only the first part.
  await chooseFiles(page, [parts[0]]);
  await page.waitForFunction(() => /^Parts 2, 3, 4 and 5 of 5 /.test(document.querySelector("#error h2")?.textContent || ""), null, { timeout: 60000 });
  // The app keeps working: the whole set, in a shuffled order (parts are sorted by their headers).
  await chooseFiles(page, [parts[2], parts[0], parts[4], parts[1], parts[3]]);
  await page.waitForSelector("#media-view", { timeout: 120000 });
  if (await page.$("#error")) throw new Error(`error card: ${await page.textContent("#error")}`);
  // wimlib reads the image list (XML) from part 1 of the set.
  const expect = wimlibImages(fix("install.swm"));
  assert(expect.length === 3, `wimlib lists ${expect.length} images in the set`);
  compareImages((await shownImages(page)).filter((s) => !s.wim.includes("→")), expect, "install.swm set");
  const names = await page.$$eval("li.image", (els) => els.filter((e) => !e.dataset.wim.includes("→"))
    .map((e) => e.querySelector(".name").textContent.trim()));
  assert(names.join("|") === expect.map((e) => `${e.index}. ${e.name}`).join("|"),
    `names ${names} vs wimlib ${expect.map((e) => e.name)}`);
  await page.locator("#media-view").screenshot({ path: path.join(OUT, "17-swm-set.png") });
  assert(page.errors.length === 0, `page errors: ${page.errors}`);
  await page.close();
});

test("report export: JSON, HTML, Markdown, ZIP (sha256sum -c), DISM script as downloads", async () => {
  const page = await openApp();
  await openFiles(page, [fix("media-udf.iso")], "#report-view");
  await openFiles(page, [fix("safeos-du.cab")], ".package-view");
  const grab = async (id) => {
    const [dl] = await Promise.all([page.waitForEvent("download", { timeout: 60000 }), page.click(id)]);
    const p = path.join(OUT, dl.suggestedFilename());
    await dl.saveAs(p);
    return p;
  };
  const json = JSON.parse(fs.readFileSync(await grab("#export-json"), "utf8"));
  const install = json.inputs.wims.find((w) => w.path === "/sources/install.wim");
  const expect = wimlibImages(isoExtract(fix("media-udf.iso"), "sources/install.wim"));
  assert(install && install.images.map((i) => i.edition).join() === expect.map((e) => e.edition).join(), "report editions != wimlib");
  assert(json.evaluation && json.evaluation.findings.length > 0, "report has no verdicts");
  assert(json.catalog && json.catalog.date === "2026-11-23" && /^Catalog of 2026-11-23 /.test(json.catalog.notice)
    && json.catalog.version === json.evaluation.catalog_version, `report lacks the catalog: ${JSON.stringify(json.catalog)}`);
  assert(Array.isArray(json.package) && json.package[0].verification.ok === true, "report lacks the package verification");
  const html = fs.readFileSync(await grab("#export-html"), "utf8");
  assert(/<html/i.test(html) && html.includes("KB"), "HTML report");
  const md = fs.readFileSync(await grab("#export-md"), "utf8");
  assert(md.startsWith("# mediaprep report"), "Markdown report");
  const zip = await grab("#export-zip");
  const d = tmpDir("zip");
  execFileSync("unzip", ["-q", zip, "-d", d]);
  execFileSync("sha256sum", ["-c", "--quiet", "SHA256SUMS"], { cwd: d });
  const ps1 = fs.readFileSync(await grab("#export-dism"), "utf8");
  assert(/dism/i.test(ps1), "DISM script");
  await page.waitForSelector("#export-done");
  await page.locator("#report-view").screenshot({ path: path.join(OUT, "16-report.png") });
  await page.close();
});

// The native CLI for byte-for-byte comparisons: MEDIAPREP_CLI, or the workspace's debug build
// (built here when missing; CI has built it for the CLI tests already).
function cli() {
  if (process.env.MEDIAPREP_CLI) return process.env.MEDIAPREP_CLI;
  const target = process.env.CARGO_TARGET_DIR || path.join(ROOT, "target");
  execFileSync("cargo", ["build", "-q", "-p", "mediaprep-core", "--features", "cli", "--bin", "mediaprep"],
    { cwd: ROOT, stdio: ["ignore", "ignore", "inherit"] });
  return path.join(target, "debug", "mediaprep");
}

// `mediaprep patch ISO --package PKG -o OUT` (the WinRE target), once per input pair.
const cliWinreRefs = new Map();
function cliWinre(iso, pkg) {
  const key = `${iso}\n${pkg}`;
  if (!cliWinreRefs.has(key)) {
    const ref = path.join(tmpDir("cli"), "winre.wim");
    execFileSync(cli(), ["patch", iso, "--package", pkg, "-o", ref], { stdio: "ignore" });
    cliWinreRefs.set(key, ref);
  }
  return cliWinreRefs.get(key);
}

// How the patch result says its chunks were compressed (#patch-compression).
async function shownCompression(page) {
  const el = await page.$("#patch-compression");
  if (!el) return null;
  return {
    workers: Number(await el.getAttribute("data-pool-workers")),
    chunks: Number(await el.getAttribute("data-pool-chunks")),
    isolated: (await el.getAttribute("data-isolated")) === "true",
    text: (await el.textContent()).trim(),
  };
}

// The pool size the app picks: one worker per core beyond the job's own, 1 to 4.
async function expectedPool(page) {
  return page.evaluate(() => Math.min(Math.max((navigator.hardwareConcurrency || 1) - 1, 1), 4));
}

// With cross-origin isolation, the patch compressed with the pool: the result names the workers
// and the chunks they did, and the workers are alive in the page's worker tree.
async function assertPoolUsed(page, what) {
  assert(await page.evaluate(() => crossOriginIsolated === true), `${what}: the page is not crossOriginIsolated`);
  const c = await shownCompression(page);
  const n = await expectedPool(page);
  assert(c && c.isolated && c.workers === n && c.chunks > 0,
    `${what}: expected ${n} pool worker(s) compressing chunks, the result says ${JSON.stringify(c)}`);
  assert(page.pool.size === n, `${what}: ${page.pool.size} pool workers alive, expected ${n}`);
  assert(c.text.startsWith(`${n + 1} workers in parallel`), `${what}: shown as "${c.text}"`);
  return c;
}

test("patch WinRE in the browser through OPFS: wimlib verifies it, and it equals the CLI's output", async () => {
  const page = await openApp();
  await openFiles(page, [fix("media-udf.iso"), fix("safeos-du.cab")], ".package-view");
  await page.waitForSelector("#media-view");
  await page.click("#patch-start");
  await page.waitForSelector("#patch-result, #error", { timeout: 300000 });
  if (await page.$("#error")) throw new Error(`patch failed: ${await page.textContent("#error")}`);
  // The test server sends COOP/COEP: the chunks were compressed by the worker pool as well.
  const c = await assertPoolUsed(page, "WinRE patch");
  console.log(`     ${c.text}`);
  // Headless Chromium has showSaveFilePicker but aborts every call: only the cancel path shows.
  if (await page.$("#patch-save-as")) {
    await page.click("#patch-save-as");
    await page.waitForSelector("#save-status");
    assert(/cancelled/i.test(await page.textContent("#save-status")), "picker abort not handled as a cancel");
  }
  const [dl] = await Promise.all([page.waitForEvent("download", { timeout: 60000 }), page.click("#patch-download")]);
  const got = path.join(OUT, "winre-patched.wim");
  await dl.saveAs(got);
  execFileSync("wimlib-imagex", ["verify", got], { stdio: "ignore" });
  const shown = (await page.textContent("#patch-sha256")).trim();
  assert(shown === sha256File(got), `shown SHA-256 ${shown} != sha256sum of the download`);
  const ref = cliWinre(fix("media-udf.iso"), fix("safeos-du.cab"));
  assert(sha256File(ref) === sha256File(got), "browser output differs from `mediaprep patch`");
  // The new WinRE carries the package's record, as wimlib lists it.
  assert(recordRevisions(got).some((r) => !recordRevisions(wimExtract(isoExtract(fix("media-udf.iso"), "sources/install.wim"), 1,
    "/Windows/System32/Recovery/Winre.wim")).includes(r)), "no new package record in the patched WinRE");
  // Nothing temporary is left in the private file system.
  const left = await page.evaluate(async () => {
    const names = [];
    for await (const k of (await navigator.storage.getDirectory()).keys()) names.push(k);
    return names;
  });
  assert(!left.some((n) => n.endsWith(".partial")), `temporary files left: ${left}`);
  await page.locator("#patch-view").screenshot({ path: path.join(OUT, "17-patched.png") });
  await page.close();
});


test("no cross-origin isolation (plain host): one worker, the same bytes; the service worker then isolates the page and the pool is used", async () => {
  // A host without COOP/COEP: the first visit's page was not served by the service worker (it
  // may take control of it at once, but isolation is decided when a document loads), so it has
  // no SharedArrayBuffer and the job compresses alone.
  const plain = await serve(DIST, 0, { isolate: false });
  const base = `http://127.0.0.1:${plain.address().port}/`;
  try {
    const page = await openApp(undefined, base);
    assert(await page.evaluate(() => crossOriginIsolated === false && typeof SharedArrayBuffer === "undefined"),
      "the plain host's first load is isolated");
    const ref = cliWinre(fix("media-udf.iso"), fix("safeos-du.cab"));
    const patchOnce = async (tag) => {
      await openFiles(page, [fix("media-udf.iso"), fix("safeos-du.cab")], ".package-view");
      await page.waitForSelector("#patch-view");
      await page.click("#patch-start");
      await page.waitForSelector("#patch-result, #error", { timeout: 300000 });
      if (await page.$("#error")) throw new Error(`${tag} patch failed: ${await page.textContent("#error")}`);
      const [dl] = await Promise.all([page.waitForEvent("download", { timeout: 60000 }), page.click("#patch-download")]);
      const got = path.join(OUT, `winre-patched-${tag}.wim`);
      await dl.saveAs(got);
      execFileSync("wimlib-imagex", ["verify", got], { stdio: "ignore" });
      assert(sha256File(got) === sha256File(ref), `${tag}: browser output differs from \`mediaprep patch\``);
      return shownCompression(page);
    };
    const alone = await patchOnce("one-worker");
    assert(alone && !alone.isolated && alone.workers === 0 && alone.chunks === 0,
      `without isolation: ${JSON.stringify(alone)}`);
    assert(/^1 worker; the page is not cross-origin isolated/.test(alone.text), `shown as "${alone.text}"`);
    assert(page.poolStarted === 0, `${page.poolStarted} pool workers started without isolation`);
    console.log(`     plain host: ${alone.text}`);
    // Once the service worker controls the page, a reload is served with COOP/COEP by it.
    await controlled(page);
    await page.goto("about:blank");
    await page.goto(base);
    await page.waitForSelector("#worker-status:has-text('ready')", { timeout: 30000 });
    assert(await page.evaluate(() => navigator.serviceWorker.controller !== null), "not controlled after reload");
    const headers = await page.evaluate(async () => {
      const r = await fetch("./worker_loader.js");
      return [r.headers.get("cross-origin-opener-policy"), r.headers.get("cross-origin-embedder-policy")];
    });
    assert(headers[0] === "same-origin" && headers[1] === "require-corp", `service worker headers: ${headers}`);
    await patchOnce("sw-isolated");
    const c = await assertPoolUsed(page, "plain host under the service worker");
    console.log(`     same host under the service worker: ${c.text}`);
    assert(page.errors.length === 0, `page errors: ${page.errors}`);
    await page.close();
  } finally {
    plain.closeAllConnections?.();
    plain.close();
  }
});

test("a compression worker that dies holding a chunk: the job finishes it alone, retires the pool, same bytes", async () => {
  // This host's pool_loader.js says "ready", claims one chunk the way the real one does (the
  // claim word: count << 16 | next), then throws, which its catch reports in the control words.
  const failing = await serve(DIST, 0, { isolate: true });
  failing.transforms.set("/pool_loader.js", (bytes) => {
    const text = bytes.toString("utf8");
    const call = "wasm_bindgen.pool_serve(shared);";
    if (!text.includes(call)) throw new Error("pool_loader.js does not call pool_serve");
    return text.replace(call, `self.postMessage({ pool: "ready" });
      const claim = new Int32Array(shared, 0, 8);
      for (;;) {
        const w = Atomics.load(claim, 0), count = w >> 16, next = w & 0xffff;
        if (next >= count) { Atomics.wait(claim, 0, w); continue; }
        if (Atomics.compareExchange(claim, 0, w, (count << 16) | (next + 1)) === w)
          throw new Error("e2e: this compression worker dies holding chunk " + next);
      }`);
  });
  try {
    const page = await openApp(undefined, `http://127.0.0.1:${failing.address().port}/`);
    await openFiles(page, [fix("media-udf.iso"), fix("safeos-du.cab")], ".package-view");
    await page.waitForSelector("#patch-view");
    await page.click("#patch-start");
    await page.waitForSelector("#patch-result, #error", { timeout: 300000 });
    if (await page.$("#error")) throw new Error(`patch failed: ${await page.textContent("#error")}`);
    const c = await shownCompression(page);
    assert(c && c.isolated && c.chunks === 0 && /compression pool retired: 1 compression worker\(s\) failed/.test(c.text),
      `result: ${JSON.stringify(c)}`);
    const t0 = Date.now();
    while (page.pool.size > 0 && Date.now() - t0 < 15000) await new Promise((r) => setTimeout(r, 100));
    assert(page.poolStarted > 0 && page.pool.size === 0, `pool workers: ${page.poolStarted} started, ${page.pool.size} alive`);
    const [dl] = await Promise.all([page.waitForEvent("download", { timeout: 60000 }), page.click("#patch-download")]);
    const got = path.join(OUT, "winre-patched-pool-failed.wim");
    await dl.saveAs(got);
    execFileSync("wimlib-imagex", ["verify", got], { stdio: "ignore" });
    assert(sha256File(got) === sha256File(cliWinre(fix("media-udf.iso"), fix("safeos-du.cab"))),
      "output differs from `mediaprep patch` after the pool failed");
    console.log(`     ${c.text}`);
    await page.close();
  } finally {
    failing.closeAllConnections?.();
    failing.close();
  }
});

test("Save to…: the picked handle (an OPFS file standing in for the picker) gets the WinRE; wimlib verifies it, equals the CLI", async () => {
  // Headless Chromium aborts every real picker; this one hands back an OPFS file handle, which
  // is the same FileSystemFileHandle type the real picker returns.
  const page = await openApp(() => {
    window.showSaveFilePicker = async (opts) => {
      window.__pickerOptions = opts;
      const root = await navigator.storage.getDirectory();
      return root.getFileHandle(`saved-${opts.suggestedName}`, { create: true });
    };
  });
  await page.evaluate(async () => {
    await (await navigator.storage.getDirectory()).removeEntry("saved-winre-patched.wim").catch(() => {});
  });
  await openFiles(page, [fix("media-udf.iso"), fix("safeos-du.cab")], ".package-view");
  await page.waitForSelector("#patch-view");
  await page.click("#patch-start");
  await page.waitForSelector("#patch-result, #error", { timeout: 300000 });
  if (await page.$("#error")) throw new Error(`patch failed: ${await page.textContent("#error")}`);
  await page.click("#patch-save-as");
  await page.waitForSelector("#save-status", { timeout: 60000 });
  const status = await page.textContent("#save-status");
  assert(/^Saved saved-winre-patched\.wim/.test(status.trim()), `save status: ${status}`);
  const opts = await page.evaluate(() => window.__pickerOptions);
  assert(opts && opts.suggestedName === "winre-patched.wim", `picker asked with ${JSON.stringify(opts)}`);
  // Read the saved file back in the page and hand its bytes to node.
  const b64 = await page.evaluate(async () => {
    const root = await navigator.storage.getDirectory();
    const buf = new Uint8Array(await (await (await root.getFileHandle("saved-winre-patched.wim")).getFile()).arrayBuffer());
    let s = "";
    for (let i = 0; i < buf.length; i += 0x8000) s += String.fromCharCode.apply(null, buf.subarray(i, i + 0x8000));
    return btoa(s);
  });
  const got = path.join(OUT, "winre-saved.wim");
  fs.writeFileSync(got, Buffer.from(b64, "base64"));
  assert(fs.statSync(got).size > 0, "nothing saved");
  execFileSync("wimlib-imagex", ["verify", got], { stdio: "ignore" });
  assert(sha256File(got) === (await page.textContent("#patch-sha256")).trim(), "saved bytes differ from the shown SHA-256");
  assert(sha256File(got) === sha256File(cliWinre(fix("media-udf.iso"), fix("safeos-du.cab"))),
    "saved WinRE differs from `mediaprep patch`");
  assert(page.errors.length === 0, `page errors: ${page.errors}`);
  await page.close();
});

// The install.wim edition checkboxes: one per edition (wimlib's index and name, as the accessible
// name), all checked at first; none checked disables Start with a message. Then, by keyboard
// only (Tab between boxes, Space to toggle), leave exactly `want` checked ([] = all).
async function chooseEditions(page, iso, want) {
  const editions = wimlibImages(iso.endsWith(".iso") ? isoExtract(iso, "sources/install.wim") : iso);
  const boxes = await page.$$eval("#patch-editions input[type=checkbox]", (els) => els.map((e) => e.id));
  assert(boxes.length === editions.length, `${boxes.length} edition checkboxes, wimlib has ${editions.length} editions`);
  for (const e of editions) {
    const box = page.getByRole("checkbox", { name: `${e.index}: ${e.name}`, exact: true });
    assert(await box.count() === 1, `no checkbox labelled "${e.index}: ${e.name}"`);
    assert(await box.isChecked(), `edition ${e.index} not checked by default`);
  }
  const keyboardTo = async (checked) => {
    await page.focus(`#${boxes[0]}`);
    for (let k = 0; k < boxes.length; k++) {
      const id = await page.evaluate(() => document.activeElement.id);
      assert(id === boxes[k], `keyboard focus on "${id}", expected ${boxes[k]}`);
      const idx = Number(id.replace("edition-", ""));
      if ((await page.isChecked(`#${id}`)) !== checked(idx)) await page.keyboard.press("Space");
      if (k + 1 < boxes.length) await page.keyboard.press("Tab");
    }
  };
  await keyboardTo(() => false);
  assert(await page.isDisabled("#patch-start"), "Start enabled with no edition chosen");
  assert(/at least one edition/i.test(await page.textContent("#patch-editions-error")), "no message for no edition");
  await keyboardTo((i) => want.length === 0 || want.includes(i));
  for (const e of editions) {
    const on = await page.isChecked(`#edition-${e.index}`);
    assert(on === (want.length === 0 || want.includes(Number(e.index))), `edition ${e.index} checked=${on}`);
  }
  assert(!(await page.$("#patch-editions-error")) && await page.isEnabled("#patch-start"), "Start not enabled again");
}

// Start a patch of the given target in a fresh page; returns the page and the downloaded output.
async function patchInBrowser(files, target, editions, outName) {
  const page = await openApp();
  await openFiles(page, files, ".package-view");
  await page.waitForSelector("#patch-view");
  await page.check(`#target-${target}`);
  if (editions !== undefined) await chooseEditions(page, files[0], editions);
  await page.click("#patch-start");
  await page.waitForSelector("#patch-result, #error", { timeout: 600000 });
  if (await page.$("#error")) throw new Error(`patch failed: ${await page.textContent("#error")}`);
  const [dl] = await Promise.all([page.waitForEvent("download", { timeout: 120000 }), page.click("#patch-download")]);
  const got = path.join(OUT, outName);
  await dl.saveAs(got);
  const shown = (await page.textContent("#patch-sha256")).trim();
  assert(shown === sha256File(got), `shown SHA-256 ${shown} != sha256sum of the download`);
  const left = await page.evaluate(async () => {
    const names = [];
    for await (const k of (await navigator.storage.getDirectory()).keys()) names.push(k);
    return names;
  });
  assert(!left.some((n) => n.endsWith(".partial")), `temporary files left: ${left}`);
  return { page, got };
}

test("patch install.wim in the browser (all editions, then edition 2 by checkbox): wimlib verifies, equals the CLI", async () => {
  const iso = fix("media-udf.iso");
  const srcWim = isoExtract(iso, "sources/install.wim");
  const d = tmpDir("cli-install");
  for (const [editions, cliIdx, name] of [[[], [], "install-patched.wim"], [[2], ["--index", "2"], "install-patched-2.wim"]]) {
    const { page, got } = await patchInBrowser([iso, fix("safeos-du.cab")], "install", editions, name);
    execFileSync("wimlib-imagex", ["verify", got], { stdio: "ignore" });
    const ref = path.join(d, name);
    execFileSync(cli(), ["patch", iso, "--package", fix("safeos-du.cab"), "--target", "install", ...cliIdx, "-o", ref],
      { stdio: "ignore" });
    assert(sha256File(ref) === sha256File(got), `browser install.wim (editions [${editions}]) differs from \`mediaprep patch --target install\``);
    // Every chosen edition's WinRE (as wimlib extracts it) carries a package record the source's lacks.
    const before = recordRevisions(wimExtract(srcWim, 1, "/Windows/System32/Recovery/Winre.wim"));
    for (const idx of [1, 2, 3]) {
      const revs = recordRevisions(wimExtract(got, idx, "/Windows/System32/Recovery/Winre.wim"));
      const updated = revs.some((r) => !before.includes(r));
      assert(updated === (editions.length === 0 || editions.includes(idx)),
        `edition ${idx}: WinRE ${updated ? "updated" : "unchanged"} with editions [${editions}]`);
    }
    const rows = await page.locator(".patch-edition").allTextContents();
    assert(rows.length === 3, `edition rows shown: ${rows}`);
    if (editions.length === 0) await page.locator("#patch-view").screenshot({ path: path.join(OUT, "18-patched-install.png") });
    await page.close();
  }
  // install-multire.wim: editions 1 and 2 share a WinRE, 3 carries another, 4 one of build 22621
  // (the Safe OS DU does not apply). Editions 1-3: each WinRE serviced once, one row per group
  // whose SHA-256 is that of wimlib's extract of its editions' Winre.wim; equals the CLI.
  const multi = fix("install-multire.wim");
  const { page, got } = await patchInBrowser([multi, fix("safeos-du.cab")], "install", [1, 2, 3], "install-multire-patched.wim");
  execFileSync("wimlib-imagex", ["verify", got], { stdio: "ignore" });
  const ref = path.join(d, "install-multire.wim");
  execFileSync(cli(), ["patch", multi, "--package", fix("safeos-du.cab"), "--target", "install",
    "--index", "1", "--index", "2", "--index", "3", "-o", ref], { stdio: "ignore" });
  assert(sha256File(ref) === sha256File(got), "browser install.wim (editions 1-3 of install-multire.wim) differs from the CLI");
  const groups = await page.$$eval(".patch-winre-group", (rs) => rs.map((r) => ({
    editions: r.dataset.editions, sha256: r.querySelector(".patch-winre-sha256").textContent.trim() })));
  assert(JSON.stringify(groups.map((g) => g.editions)) === JSON.stringify(["1, 2", "3"]), `WinRE groups shown: ${JSON.stringify(groups)}`);
  const winreSha = (idx) => sha256File(wimExtract(got, idx, "/Windows/System32/Recovery/Winre.wim"));
  for (const [g, idx] of [[groups[0], 1], [groups[0], 2], [groups[1], 3]]) {
    assert(g.sha256 === winreSha(idx), `edition ${idx}: shown WinRE SHA-256 ${g.sha256} != wimlib's extract`);
  }
  assert(groups[0].sha256 !== groups[1].sha256, "the two groups show one serviced WinRE");
  await page.locator("#patch-view").screenshot({ path: path.join(OUT, "18-patched-install-multire.png") });
  await page.close();
  // Every edition: edition 4's WinRE is refused by name, and nothing is left in OPFS.
  const p2 = await openApp();
  const opfsFiles = () => p2.evaluate(async () => {
    const out = [];
    for await (const [k, h] of (await navigator.storage.getDirectory()).entries()) {
      out.push(`${k}:${h.kind === "file" ? (await h.getFile()).size : "dir"}`);
    }
    return out.sort();
  });
  const before = await opfsFiles();
  await openFiles(p2, [multi, fix("safeos-du.cab")], ".package-view");
  await p2.waitForSelector("#patch-view");
  await p2.check("#target-install");
  await p2.click("#patch-start");
  await p2.waitForSelector("#patch-result, #error", { timeout: 600000 });
  const err = (await p2.$("#error")) ? await p2.textContent("#error") : "";
  assert(/edition 4\b/.test(err) && err.includes("22621"), `no refusal naming edition 4: ${err}`);
  const after = await opfsFiles();
  assert(JSON.stringify(after) === JSON.stringify(before), `OPFS before the refusal ${before}, after ${after}`);
  await p2.locator("#error").screenshot({ path: path.join(OUT, "18-refused-install-multire.png") });
  await p2.close();
});

// A WinRE big enough that patching it takes seconds in the browser: the fixture Winre.wim (so the
// Safe OS DU applies as to the small one) plus 192 MiB of 4-bit-entropy bytes and 16 MiB of random
// bytes under Windows/System32/Logs. LZX only halves the former and decoding it is literal after
// literal, so the worker's read-back check of the output ("verify") runs for seconds. Built with
// wimlib (uncompressed export, update, LZX:20 export: the image's XML facts carry over); cached
// in e2e/out/cancel until the fixture changes.
function bigWinre() {
  const src = fix("Winre.wim");
  const out = path.join(OUT, "cancel", "Winre-big.wim");
  if (fs.existsSync(out) && fs.statSync(out).mtimeMs > fs.statSync(src).mtimeMs) return out;
  fs.mkdirSync(path.dirname(out), { recursive: true });
  const d = tmpDir("bigwinre");
  const data = path.join(d, "data");
  fs.mkdirSync(data);
  const fd = fs.openSync(path.join(data, "nibbles.bin"), "w");
  for (let i = 0; i < 12; i++) {
    const b = crypto.randomBytes(16 << 20);
    for (let j = 0; j < b.length; j++) b[j] = 0x41 + (b[j] & 15);
    fs.writeSync(fd, b);
  }
  fs.closeSync(fd);
  fs.writeFileSync(path.join(data, "random.bin"), crypto.randomBytes(16 << 20));
  const plain = path.join(d, "plain.wim");
  const run = (args) => execFileSync("wimlib-imagex", args, { stdio: ["ignore", "ignore", "inherit"] });
  run(["export", src, "1", plain, "--compress=none"]);
  run(["update", plain, "1", `--command=add ${data} /Windows/System32/Logs`]);
  run(["export", plain, "1", `${out}.tmp`, "--compress=LZX:20"]);
  fs.renameSync(`${out}.tmp`, out);
  fs.rmSync(d, { recursive: true, force: true });
  return out;
}

test("cancel mid-patch: Cancel while the written output is being checked leaves no file; a later patch works", async () => {
  const big = bigWinre();
  const page = await openApp();
  await page.evaluate(async () => {
    await (await navigator.storage.getDirectory()).removeEntry("winre-patched.wim").catch(() => {});
  });
  await openFiles(page, [big, fix("safeos-du.cab")], ".package-view");
  await page.waitForSelector("#patch-view");
  await page.click("#patch-start");
  // In the page: wait until the job has written its output (a .partial exists, no final file yet)
  // and is hashing it, progress strictly between 0 and the total; then, in the same task as that
  // last look at the progress, click Cancel. After "hash" the job still has the "verify" pass
  // over the 192 MiB blob ahead (seconds), so the click lands mid-job. What was seen is returned.
  const at = await page.evaluate(async () => {
    const deadline = Date.now() + 300000;
    while (Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
      const job = document.querySelector("#job");
      if (!job) return { finished: true, result: !!document.querySelector("#patch-result") };
      if (job.dataset.stage !== "hash") continue;
      const names = [];
      for await (const k of (await navigator.storage.getDirectory()).keys()) names.push(k);
      const j = document.querySelector("#job"); // after the await: look again, then click at once
      if (!j) return { finished: true, result: !!document.querySelector("#patch-result") };
      const done = Number(j.dataset.done), total = Number(j.dataset.total);
      if (!(done > 0 && done < total)) continue;
      document.querySelector("#cancel").click();
      return { stage: j.dataset.stage, done, total, names, t: Date.now() };
    }
    return { timeout: true };
  });
  assert(!at.finished && !at.timeout, `no mid-way progress seen before the job ended: ${JSON.stringify(at)}`);
  assert(at.done > 0 && at.done < at.total, `cancelled at ${at.done}/${at.total}`);
  assert(at.names.includes("winre-patched.wim.partial") && !at.names.includes("winre-patched.wim"),
    `not mid-write when cancelled: OPFS held ${at.names}`);
  console.log(`     cancelled during "${at.stage}" at ${(100 * at.done / at.total).toFixed(1)}%`);
  // The job's compression workers go with the terminated job worker.
  const started = page.poolStarted;
  assert(started === await expectedPool(page), `${started} pool workers were started for the cancelled job`);
  const t0 = Date.now();
  while (page.pool.size > 0 && Date.now() - t0 < 15000) await new Promise((r) => setTimeout(r, 100));
  assert(page.pool.size === 0, `${page.pool.size} pool workers still alive after Cancel`);
  await page.waitForSelector("#patch-cleaned", { timeout: 15000 });
  assert(!(await page.$("#job")), "job still shown after cancel");
  assert(!(await page.$("#patch-result")), "a result was shown for the cancelled patch");
  const left = await opfsNames(page);
  assert(!left.some((n) => n.endsWith(".partial") || n === "winre-patched.wim"), `left in OPFS after cancel: ${left}`);
  await page.screenshot({ path: path.join(OUT, "21-cancelled.png"), fullPage: true });
  // Usable again: a fresh engine, and the same patch now runs to the end.
  await page.waitForSelector("#worker-status:has-text('ready')", { timeout: 30000 });
  await page.click("#patch-start");
  await page.waitForSelector("#patch-result, #error", { timeout: 600000 });
  if (await page.$("#error")) throw new Error(`patch after cancel failed: ${await page.textContent("#error")}`);
  await assertPoolUsed(page, "patch after cancel");
  assert(page.poolStarted === 2 * started, "the fresh job worker did not start its own pool");
  const [dl] = await Promise.all([page.waitForEvent("download", { timeout: 120000 }), page.click("#patch-download")]);
  const got = path.join(OUT, "cancel", "winre-big-patched.wim");
  await dl.saveAs(got);
  execFileSync("wimlib-imagex", ["verify", got], { stdio: "ignore" });
  assert((await page.textContent("#patch-sha256")).trim() === sha256File(got), "shown SHA-256 != the download");
  const names = await opfsNames(page);
  assert(names.includes("winre-patched.wim") && !names.some((n) => n.endsWith(".partial")), `OPFS after the patch: ${names}`);
  assert(page.errors.length === 0, `page errors: ${page.errors}`);
  await page.close();
});

// Relative path → SHA-256 of every file under `dir`.
function treeDigests(dir) {
  const out = new Map();
  const walk = (d, rel) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) walk(path.join(d, e.name), r);
      else out.set(r.toLowerCase(), sha256File(path.join(d, e.name)));
    }
  };
  walk(dir, "");
  return out;
}

test("Setup DU target: the sources\\ ZIP holds exactly cabextract's files, and equals the CLI's ZIP", async () => {
  const iso = fix("media-udf.iso");
  const { page, got } = await patchInBrowser([iso, fix("setup-du.cab")], "setup", undefined, "setup-du-sources.zip");
  const zipDir = tmpDir("zip");
  execFileSync("7zz", ["x", "-y", `-o${zipDir}`, got], { stdio: "ignore" });
  const cabDir = tmpDir("cab");
  execFileSync("cabextract", ["-q", "-d", cabDir, fix("setup-du.cab")], { stdio: "ignore" });
  const a = treeDigests(zipDir), b = treeDigests(cabDir);
  assert(b.size > 0, "cabextract found no files");
  assert(a.size === b.size, `ZIP has ${a.size} files, cabextract ${b.size}`);
  for (const [p, h] of b) assert(a.get(p) === h, `${p}: ZIP ${a.get(p)} != cabextract ${h}`);
  const shownCount = Number((await page.textContent("#setup-count")).trim());
  assert(shownCount === b.size, `page says ${shownCount} files, cabextract ${b.size}`);
  const ref = path.join(tmpDir("cli-setup"), "setup.zip");
  execFileSync(cli(), ["patch", iso, "--package", fix("setup-du.cab"), "--target", "setup", "-o", ref], { stdio: "ignore" });
  assert(sha256File(ref) === sha256File(got), "browser ZIP differs from `mediaprep patch --target setup`");
  await page.locator("#patch-view").screenshot({ path: path.join(OUT, "19-setup-du.png") });
  await page.close();
});

// A small bootable ISO made by xorriso: a BIOS no-emulation entry (boot/etfsboot.com, 4 virtual
// sectors) and a UEFI entry (efi/microsoft/boot/efisys.bin, platform 0xEF), as Microsoft's media
// has; the boot images are plain bytes (the Rust tests boot one in QEMU).
function bootableIso() {
  const d = tmpDir("bootiso");
  const tree = path.join(d, "tree");
  for (const sub of ["boot", "efi/microsoft/boot", "sources"]) fs.mkdirSync(path.join(tree, sub), { recursive: true });
  fs.writeFileSync(path.join(tree, "boot/etfsboot.com"), Buffer.alloc(2048, 0xF4));
  fs.writeFileSync(path.join(tree, "efi/microsoft/boot/efisys.bin"), Buffer.from(Array.from({ length: 16384 }, (_, i) => (i * 7) % 251)));
  fs.writeFileSync(path.join(tree, "sources/lang.ini"), "[Available UI Languages]\r\nen-US = 3\r\n");
  fs.writeFileSync(path.join(tree, "setup.exe"), crypto.randomBytes(70000));
  const iso = path.join(d, "bootable.iso");
  execFileSync("xorriso", ["-as", "mkisofs", "-V", "BOOTTEST", "-J", "-o", iso,
    "-b", "boot/etfsboot.com", "-no-emul-boot", "-boot-load-size", "4",
    "-eltorito-alt-boot", "-e", "efi/microsoft/boot/efisys.bin", "-no-emul-boot", tree], { stdio: "ignore" });
  return iso;
}

// `xorriso -report_el_torito plain` without the LBA column (the images move when rebuilt).
function bootEntries(iso) {
  const out = execFileSync("xorriso", ["-indev", iso, "-report_el_torito", "plain"], { stdio: ["ignore", "pipe", "ignore"] }).toString();
  return out.split("\n").filter((l) => /^El Torito (boot img|img path|cat path)/.test(l))
    .map((l) => l.replace(/\s+\d+\s*$/, "").replace(/\s+/g, " ").trim());
}

// The files 7-Zip lists in an ISO: lower-cased path → size.
function sevenZipFiles(iso) {
  const out = execFileSync("7zz", ["l", "-slt", iso]).toString();
  const files = new Map();
  for (const block of out.split(/\r?\n\r?\n/)) {
    const p = /^Path = (.*)$/m.exec(block), f = /^Folder = (.*)$/m.exec(block), sz = /^Size = (\d+)$/m.exec(block);
    // 7-Zip shows El Torito boot images as "[BOOT]/…" pseudo files: not part of the tree.
    if (p && f && f[1] === "-" && sz && !p[1].endsWith(".iso") && !p[1].startsWith("[BOOT]")) files.set(p[1].toLowerCase(), Number(sz[1]));
  }
  return files;
}

test("Write a patched ISO (#target-iso): equals `mediaprep patch --target iso` for a bridge, a UDF-only and a bootable source; 7-Zip, isoinfo and xorriso read it", async () => {
  const d = tmpDir("cli-iso");
  const boot = bootableIso();
  const cases = [
    ["media-udf.iso", fix("media-udf.iso"), [fix("safeos-du.cab"), fix("setup-du.cab")]],
    ["media-msft.iso", fix("media-msft.iso"), [fix("safeos-du.cab")]],
    ["bootable.iso", boot, [fix("setup-du.cab")]],
  ];
  for (const [tag, iso, pkgs] of cases) {
    const { page, got } = await patchInBrowser([iso, ...pkgs], "iso", undefined, `iso-${tag}`);
    assert(/Patched ISO written and verified/.test(await page.textContent("#patch-result")), `${tag}: result heading`);
    if (tag === "media-udf.iso") await page.locator("#patch-view").screenshot({ path: path.join(OUT, "23-patched-iso.png") });
    await page.close();
    const ref = path.join(d, `${tag}`);
    execFileSync(cli(), ["patch", iso, ...pkgs.flatMap((p) => ["--package", p]), "--target", "iso", "-o", ref], { stdio: "ignore" });
    assert(sha256File(ref) === sha256File(got), `${tag}: browser ISO differs from \`mediaprep patch --target iso\``);
    // Independent readers: 7-Zip tests the image and lists the source's files plus the Setup DU's;
    // isoinfo reads the ISO 9660 (and, on the bridge layout, the Joliet) directory records.
    const t = execFileSync("7zz", ["t", got]).toString();
    assert(/Everything is Ok/.test(t) && !/Warnings|Headers Error/.test(t), `${tag}: 7zz t says ${t}`);
    const before = sevenZipFiles(iso), after = sevenZipFiles(got);
    for (const [p, size] of before) {
      assert(after.has(p), `${tag}: ${p} missing from the written ISO`);
      if (p !== "sources/install.wim") assert(after.get(p) === size, `${tag}: ${p} is ${after.get(p)} bytes, was ${size}`);
    }
    if (pkgs.includes(fix("setup-du.cab"))) {
      const cab = tmpDir("cab-iso");
      execFileSync("cabextract", ["-q", "-d", cab, fix("setup-du.cab")], { stdio: "ignore" });
      for (const [rel, h] of treeDigests(cab)) {
        assert(after.has(`sources/${rel}`), `${tag}: Setup DU file ${rel} not in sources/`);
        const xd = tmpDir("iso-setup");
        execFileSync("7zz", ["e", "-y", "-ssc-", `-o${xd}`, got, `sources/${rel}`], { stdio: "ignore" });
        const [one] = fs.readdirSync(xd);
        assert(one && sha256File(path.join(xd, one)) === h, `${tag}: sources/${rel} differs from cabextract's`);
      }
    }
    const joliet = tag !== "media-msft.iso";
    const listed = execFileSync("isoinfo", ["-f", ...(joliet ? ["-J"] : []), "-i", got]).toString().toLowerCase();
    assert(joliet ? /\/sources\/install\.wim|\/sources\/lang\.ini/.test(listed) : /readme/.test(listed), `${tag}: isoinfo -f lists ${listed}`);
    if (tag === "bootable.iso") {
      const want = bootEntries(iso), have = bootEntries(got);
      assert(want.length >= 2 && JSON.stringify(want) === JSON.stringify(have), `${tag}: boot entries ${JSON.stringify(have)} != source ${JSON.stringify(want)}`);
    }
  }
});

// In place of the directory picker: an OPFS directory (`usb-stick` unless the page sets
// window.__usbDir), and the options the page asked with.
const PICKER_TO_OPFS = () => {
  window.showDirectoryPicker = async (opts) => {
    window.__pickerOpts = opts;
    const root = await navigator.storage.getDirectory();
    return root.getDirectoryHandle(window.__usbDir || "usb-stick", { create: true });
  };
};

// Every file under an OPFS directory, read in the page: lower-cased relative path → [size, SHA-256].
async function opfsTree(page, dirName) {
  const entries = await page.evaluate(async (name) => {
    const out = [];
    const walk = async (dir, rel) => {
      for await (const [n, h] of dir.entries()) {
        const r = rel ? `${rel}/${n}` : n;
        if (h.kind === "directory") { out.push([r, -1, ""]); await walk(h, r); continue; }
        const buf = await (await h.getFile()).arrayBuffer();
        const d = new Uint8Array(await crypto.subtle.digest("SHA-256", buf));
        out.push([r, buf.byteLength, Array.from(d, (b) => b.toString(16).padStart(2, "0")).join("")]);
      }
    };
    await walk(await (await navigator.storage.getDirectory()).getDirectoryHandle(name), "");
    return out;
  }, dirName);
  return new Map(entries.map(([r, size, h]) => [r.toLowerCase(), `${size} ${h}`]));
}

// The same for a directory on disk (directories as size -1).
function diskTree(dir) {
  const out = new Map();
  const walk = (d, rel) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      const p = path.join(d, e.name);
      if (e.isDirectory()) { out.set(r.toLowerCase(), "-1 "); walk(p, r); } else out.set(r.toLowerCase(), `${fs.statSync(p).size} ${sha256File(p)}`);
    }
  };
  walk(dir, "");
  return out;
}

test("Write to a USB stick (#target-folder): the tree in the chosen folder equals `mediaprep patch --target folder` (split set included); a non-empty folder is refused; no picker, no control", async () => {
  const iso = fix("media-udf.iso");
  const pkgs = [fix("safeos-du.cab"), fix("setup-du.cab")];
  const page = await openApp(PICKER_TO_OPFS);
  await page.evaluate(async () => {
    const root = await navigator.storage.getDirectory();
    for (const n of ["usb-stick", "usb-full"]) await root.removeEntry(n, { recursive: true }).catch(() => {});
  });
  await openFiles(page, [iso, ...pkgs], ".package-view");
  await page.waitForSelector("#patch-view");
  assert(await page.isEnabled("#target-folder"), "USB control disabled with a picker present");
  await page.check("#target-folder");
  await page.fill("#split-mib", "2");
  await page.dispatchEvent("#split-mib", "change");
  await page.click("#patch-start");
  await page.waitForSelector("#patch-result, #error", { timeout: 600000 });
  if (await page.$("#error")) throw new Error(`USB patch failed: ${await page.textContent("#error")}`);
  assert(/USB folder written and verified/.test(await page.textContent("#patch-result")), "result heading");
  const opts = await page.evaluate(() => window.__pickerOpts);
  assert(opts && opts.mode === "readwrite", `picker asked with ${JSON.stringify(opts)}`);
  const parts = Number(await page.getAttribute("#usb-written", "data-split-parts"));
  const got = await opfsTree(page, "usb-stick");
  const ref = path.join(tmpDir("cli-folder"), "usb");
  execFileSync(cli(), ["patch", iso, ...pkgs.flatMap((p) => ["--package", p]), "--target", "folder", "--split-mib", "2", "-o", ref], { stdio: "ignore" });
  const want = diskTree(ref);
  const swm = [...want.keys()].filter((k) => /^sources\/install\d*\.swm$/.test(k));
  assert(swm.length > 1 && parts === swm.length, `split parts: page says ${parts}, the CLI wrote ${swm}`);
  assert(!got.has("sources/install.wim"), "install.wim not split in the browser");
  assert(got.size === want.size, `page tree has ${got.size} entries, the CLI's ${want.size}: ${[...got.keys()].filter((k) => !want.has(k))} / ${[...want.keys()].filter((k) => !got.has(k))}`);
  for (const [k, v] of want) assert(got.get(k) === v, `${k}: page ${got.get(k)} != CLI ${v}`);
  assert(Number(await page.getAttribute("#usb-written", "data-files")) === [...want.values()].filter((v) => !v.startsWith("-1")).length, "file count shown");
  await page.locator("#patch-view").screenshot({ path: path.join(OUT, "24-usb-folder.png") });
  const left = await opfsNames(page);
  assert(!left.some((n) => n.endsWith(".partial")), `temporary files left in OPFS: ${left}`);
  // A folder that is not empty is refused before anything is written.
  await page.evaluate(async () => {
    const d = await (await navigator.storage.getDirectory()).getDirectoryHandle("usb-full", { create: true });
    const w = await (await d.getFileHandle("keep.txt", { create: true })).createWritable();
    await w.write("mine");
    await w.close();
    window.__usbDir = "usb-full";
  });
  await page.click("#patch-start");
  await page.waitForSelector("#error", { timeout: 120000 });
  const err = await page.textContent("#error");
  assert(/not empty/.test(err), `error for a non-empty folder: ${err}`);
  const full = await opfsTree(page, "usb-full");
  assert(full.size === 1 && full.has("keep.txt"), `the non-empty folder now holds ${[...full.keys()]}`);
  assert(page.errors.length === 0, `page errors: ${page.errors}`);
  await page.close();
  // Without showDirectoryPicker (Firefox, Safari) the control is off and says why.
  const plain = await openApp(() => { delete window.showDirectoryPicker; delete Window.prototype.showDirectoryPicker; });
  await openFiles(plain, [iso, pkgs[0]], ".package-view");
  await plain.waitForSelector("#patch-view");
  assert(await plain.isDisabled("#target-folder"), "USB control enabled without a directory picker");
  const why = await plain.textContent("#target-folder-reason");
  assert(/showDirectoryPicker/.test(why) && /Chrome or Edge/.test(why), `reason: ${why}`);
  await plain.close();
});

// Cancel of the whole-media targets: Cancel clicked while the job is mid-write (running, past its
// reading stage for the ISO, its temporary files present) leaves no temporary file: none in OPFS for the ISO, none in the chosen
// folder for the USB stick; a later run of the same job completes. Small fixtures make short jobs,
// so a run that ends before the click is retried (up to 6 times) instead of passing unchecked.
async function cancelMidJob(page, where = "", reset = async () => {}) {
  for (let attempt = 0; attempt < 6; attempt++) {
    await reset();
    await page.waitForSelector("#worker-status:has-text('ready')", { timeout: 30000 });
    await page.waitForSelector("#patch-start:enabled", { timeout: 30000 });
    const at = await page.evaluate(async (where) => {
      // A result or error already shown is the previous job's: until the page replaces it (the
      // USB job first awaits the folder picker), it does not say that this attempt finished, and
      // taking it so would start the next attempt's reset under the running job.
      const stale = new Set(document.querySelectorAll("#patch-result, #error"));
      document.querySelector("#patch-start").click();
      const deadline = Date.now() + 120000;
      while (Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 5));
        const j = document.querySelector("#job");
        if (!j) {
          const shown = [...document.querySelectorAll("#patch-result, #error")];
          if (shown.some((e) => !stale.has(e))) return { finished: true };
          continue;
        }
        // The jobs are short: a running job past its reading stage with its temporary files
        // present is mid-write (the progress numbers of the last stage may already read 100 %).
        if (!where && ["starting", "checking payloads"].includes(j.dataset.stage)) continue; // into the writing
        // Mid-write: a temporary file exists (OPFS root for the ISO, the chosen folder for USB).
        const partials = [];
        const walk = async (dir, rel) => {
          for await (const [n, h] of dir.entries()) {
            if (h.kind === "directory") await walk(h, `${rel}${n}/`);
            else if (n.endsWith(".partial")) partials.push(rel + n);
          }
        };
        await walk(await navigator.storage.getDirectory(), "").catch(() => {});
        if (!partials.some((n) => n.startsWith(where))) continue;
        const k = document.querySelector("#job"); // after the awaits: look again, then click at once
        if (!k) continue;
        const done = Number(k.dataset.done), total = Number(k.dataset.total);
        document.querySelector("#cancel").click();
        return { stage: k.dataset.stage, done, total, partials };
      }
      return { timeout: true };
    }, where);
    assert(!at.timeout, "the job neither finished nor showed progress");
    if (at.finished) {
      // Read the error where it stands now: an #error that a newer state already replaced is not
      // this attempt's failure, and waiting for it would only time out.
      const err = await page.evaluate(() => document.querySelector("#error")?.textContent ?? null);
      if (err !== null) throw new Error(`job failed: ${err}`);
      continue;
    }
    return at;
  }
  throw new Error("every attempt finished before Cancel could be clicked mid-way");
}

test("cancel the whole-media targets: Cancel mid-way leaves no temporary file (ISO in OPFS, USB folder); the same job then completes", async () => {
  const iso = fix("media-udf.iso");
  const pkgs = [fix("safeos-du.cab"), fix("setup-du.cab")];
  const page = await openApp(PICKER_TO_OPFS);
  await page.evaluate(async () => {
    const root = await navigator.storage.getDirectory();
    for (const n of ["media-patched.iso", "usb-stick"]) await root.removeEntry(n, { recursive: true }).catch(() => {});
  });
  await openFiles(page, [iso, ...pkgs], ".package-view");
  await page.waitForSelector("#patch-view");
  // ISO: the cancelled job's OPFS files go.
  await page.check("#target-iso");
  const at = await cancelMidJob(page);
  console.log(`     ISO cancelled during "${at.stage}" at ${(100 * at.done / at.total).toFixed(1)}% with ${at.partials}`);
  await page.waitForSelector("#patch-cleaned", { timeout: 15000 });
  assert(!(await page.$("#patch-result")), "a result was shown for the cancelled ISO");
  let left = await opfsNames(page);
  assert(!left.some((n) => n.endsWith(".partial") || n === "media-patched.iso"), `left in OPFS after cancel: ${left}`);
  await page.waitForSelector("#worker-status:has-text('ready')", { timeout: 30000 });
  await page.click("#patch-start");
  await page.waitForSelector("#patch-result, #error", { timeout: 600000 });
  if (await page.$("#error")) throw new Error(`ISO after cancel failed: ${await page.textContent("#error")}`);
  const [dl] = await Promise.all([page.waitForEvent("download", { timeout: 120000 }), page.click("#patch-download")]);
  const got = path.join(OUT, "iso-after-cancel.iso");
  await dl.saveAs(got);
  const ref = path.join(tmpDir("cli-iso-cancel"), "ref.iso");
  execFileSync(cli(), ["patch", iso, ...pkgs.flatMap((p) => ["--package", p]), "--target", "iso", "-o", ref], { stdio: "ignore" });
  assert(sha256File(ref) === sha256File(got), "the ISO written after a cancel differs from `mediaprep patch --target iso`");
  // USB stick: the chosen folder keeps no .partial file after a cancel.
  await page.check("#target-folder");
  const emptyStick = () => page.evaluate(async () => {
    const root = await navigator.storage.getDirectory();
    await root.removeEntry("usb-stick", { recursive: true }).catch(() => {});
  });
  const u = await cancelMidJob(page, "usb-stick/", emptyStick);
  console.log(`     USB cancelled during "${u.stage}" at ${(100 * u.done / u.total).toFixed(1)}% with ${u.partials}`);
  assert(u.partials.some((n) => n.startsWith("usb-stick/")), `USB cancelled before writing into the folder: ${u.partials}`);
  // Names only: a file the terminated worker had open may not be readable yet.
  const usbNames = () => page.evaluate(async () => {
    const out = [];
    const walk = async (dir, rel) => {
      for await (const [n, h] of dir.entries()) {
        out.push(rel ? `${rel}/${n}` : n);
        if (h.kind === "directory") await walk(h, rel ? `${rel}/${n}` : n);
      }
    };
    const root = await navigator.storage.getDirectory();
    const d = await root.getDirectoryHandle("usb-stick").catch(() => null);
    // The page's clean-up may remove an entry while we list: then look again.
    if (d) return walk(d, "").then(() => out, () => null);
    return out;
  });
  let names = [];
  for (let i = 0; i < 50; i++) {
    await new Promise((r) => setTimeout(r, 200));
    names = (await usbNames()) ?? [".partial (listing raced the clean-up)"];
    if (!names.some((k) => k.endsWith(".partial"))) break;
  }
  assert(!names.some((k) => k.endsWith(".partial")), `left in the USB folder after cancel: ${names}`);
  await page.waitForSelector("#patch-cleaned", { timeout: 15000 });
  left = await opfsNames(page);
  assert(!left.some((n) => n.endsWith(".partial")), `staging files left in OPFS after the USB cancel: ${left}`);
  assert(!(await page.$("#patch-result")), "a result was shown for the cancelled USB job");
  // Emptied (as the page tells the user to do when final names remain), the same job completes.
  await emptyStick();
  await page.waitForSelector("#worker-status:has-text('ready')", { timeout: 30000 });
  await page.click("#patch-start");
  await page.waitForSelector("#patch-result, #error", { timeout: 600000 });
  if (await page.$("#error")) throw new Error(`USB after cancel failed: ${await page.textContent("#error")}`);
  assert(/USB folder written and verified/.test(await page.textContent("#patch-result")), "USB result heading after cancel");
  left = await opfsNames(page);
  assert(!left.some((n) => n.endsWith(".partial")), `temporary files left in OPFS: ${left}`);
  assert(page.errors.length === 0, `page errors: ${page.errors}`);
  await page.close();
});

test("same bytes as the CLI for every source layout: an integrity table (kept), XPRESS, ESD (LZMS solid) → WinRE and install.wim", async () => {
  const pkg = fix("safeos-du.cab");
  const d = tmpDir("cli-layouts");
  for (const [input, target, name] of [
    ["Winre-integrity.wim", "winre", "winre-integrity-patched.wim"],
    ["Winre-xpress.wim", "winre", "winre-xpress-patched.wim"],
    ["install.esd", "winre", "winre-from-esd-patched.wim"],
    ["install.esd", "install", "install-from-esd-patched.wim"],
  ]) {
    const { page, got } = await patchInBrowser([fix(input), pkg], target, undefined, name);
    await page.close();
    execFileSync("wimlib-imagex", ["verify", got], { stdio: "ignore" });
    const ref = path.join(d, name);
    execFileSync(cli(), ["patch", fix(input), "--package", pkg, "--target", target, "-o", ref], { stdio: "ignore" });
    assert(sha256File(ref) === sha256File(got), `${input} → ${target}: the browser's output differs from \`mediaprep patch\``);
    const info = execFileSync("wimlib-imagex", ["info", got]).toString();
    const srcInfo = execFileSync("wimlib-imagex", ["info", fix(input)]).toString();
    // An input with an integrity table keeps one (both ways); the others get none.
    assert(/Integrity info/.test(info) === /Integrity info/.test(srcInfo), `${input} → ${target}: integrity table ${/Integrity info/.test(info) ? "added" : "lost"}`);
    assert(/Compression:\s+LZX/.test(info), `${input} → ${target}: not written as LZX`);
  }
  assert(/Integrity info/.test(execFileSync("wimlib-imagex", ["info", fix("Winre-integrity.wim")]).toString()), "fixture has no integrity table");
  assert(/Compression:\s+XPRESS/.test(execFileSync("wimlib-imagex", ["info", fix("Winre-xpress.wim")]).toString()), "fixture is not XPRESS");
});

test("a refused package: the page gives the CLI's reasons and offers the same DISM hand-off script", async () => {
  const media = fix("Winre.wim");
  const pkgs = [fix("safeos-du.cab"), fix("safeos-du-psf.cab")];
  let cliOut;
  try {
    execFileSync(cli(), ["patch", media, ...pkgs.flatMap((p) => ["--package", p]), "-o", path.join(tmpDir("cli-refused"), "x.wim"), "--json"],
      { stdio: ["ignore", "pipe", "ignore"] });
    throw new Error("the CLI did not refuse safeos-du-psf.cab");
  } catch (e) {
    if (!e.stdout) throw e;
    cliOut = JSON.parse(e.stdout.toString());
  }
  assert(cliOut.refused.length > 0 && cliOut.dism_script.length > 0, "CLI gave no refusal");
  const page = await openApp();
  await openFiles(page, [media, ...pkgs], ".package-view");
  await page.waitForSelector("#patch-view");
  await page.click("#patch-start");
  await page.waitForSelector("#patch-result, #error", { timeout: 300000 });
  assert(!(await page.$("#patch-result")), "the refused patch produced a result");
  const shown = await page.textContent("#error h2");
  for (const r of cliOut.refused) {
    assert(shown.includes(r.name) && shown.includes(r.reason), `page does not give the CLI's reason for ${r.name}: ${shown}`);
  }
  const [dl] = await Promise.all([page.waitForEvent("download", { timeout: 60000 }), page.click("#error-handoff")]);
  const got = path.join(OUT, "handoff-dism.ps1");
  await dl.saveAs(got);
  assert(dl.suggestedFilename() === "handoff-dism.ps1", `download named ${dl.suggestedFilename()}`);
  assert(fs.readFileSync(got, "utf8") === cliOut.dism_script, "the page's hand-off script differs from the CLI's");
  assert(!(await opfsNames(page)).some((n) => n.endsWith(".partial")), "a refused patch left a temporary file");
  await page.locator("#error").screenshot({ path: path.join(OUT, "20-refused.png") });
  await page.close();
});

test("a WIM-format .msu (24H2+) with the Safe OS DU: its SSU is serviced first; same bytes as the CLI, wimlib verifies", async () => {
  const media = fix("Winre.wim");
  const pkgs = [fix("lcu-ssu-wim.msu"), fix("safeos-du.cab")];
  const ref = path.join(tmpDir("cli-msu-wim"), "winre.wim");
  execFileSync(cli(), ["patch", media, ...pkgs.flatMap((p) => ["--package", p]), "-o", ref], { stdio: "ignore" });
  const page = await openApp();
  await openFiles(page, [media, ...pkgs], ".package-view[data-file='lcu-ssu-wim.msu']");
  // The package view opened the WIM container and verified the SSU inside it.
  await page.waitForSelector(".package-view[data-file='lcu-ssu-wim.msu'] .verdict.ok", { timeout: 120000 });
  const shown = await page.textContent(".package-view[data-file='lcu-ssu-wim.msu']");
  assert(shown.includes("MsuWim") && shown.includes("KB5079473"), `package view: ${shown}`);
  await page.waitForSelector("#patch-view");
  await page.click("#patch-start");
  await page.waitForSelector("#patch-result, #error", { timeout: 300000 });
  if (await page.$("#error")) throw new Error(`patch failed: ${await page.textContent("#error")}`);
  const [dl] = await Promise.all([page.waitForEvent("download", { timeout: 60000 }), page.click("#patch-download")]);
  const got = path.join(OUT, "winre-msu-wim.wim");
  await dl.saveAs(got);
  execFileSync("wimlib-imagex", ["verify", got], { stdio: "ignore" });
  assert(sha256File(got) === sha256File(ref), "browser output differs from `mediaprep patch` with the WIM .msu");
  const files = execFileSync("wimlib-imagex", ["dir", got, "1", "--path=/Windows/servicing"]).toString();
  assert(/CbsCore\.dll$/m.test(files), "the SSU's CbsCore.dll is not in the patched WinRE");
  await page.close();
});

test("the real-layout Safe OS DU (DCM manifests, f\\/n\\ deltas): same bytes as the CLI, wimlib verifies; a bad CRC32 is refused naming the file", async () => {
  const media = fix("Winre.wim");
  const pkg = fix("safeos-du-real.cab");
  const ref = path.join(tmpDir("cli-real"), "winre-real.wim");
  execFileSync(cli(), ["patch", media, "--package", pkg, "-o", ref], { stdio: "ignore" });
  const { page, got } = await patchInBrowser([media, pkg], "winre", undefined, "winre-real-patched.wim");
  // The result names each package serviced (issue #15 item 7).
  const serviced = await page.$$eval("#patch-result .patch-package", (rows) => rows.map((r) => r.textContent));
  assert(serviced.length === 1 && /KB5079600/.test(serviced[0]) && /serviced/.test(serviced[0]),
    `the result does not say the package was serviced: ${JSON.stringify(serviced)}`);
  await page.close();
  execFileSync("wimlib-imagex", ["verify", got], { stdio: "ignore" });
  assert(sha256File(got) === sha256File(ref), "browser output differs from `mediaprep patch` with safeos-du-real.cab");
  // The bad-CRC32 variant: refused whole, the page names the file (as the CLI does), nothing left.
  const bad = fix("safeos-du-real-badcrc.cab");
  const refused = await openApp();
  await openFiles(refused, [media, bad], ".package-view");
  await refused.waitForSelector("#patch-view");
  await refused.click("#patch-start");
  await refused.waitForSelector("#patch-result, #error", { timeout: 300000 });
  assert(!(await refused.$("#patch-result")), "the bad-CRC32 package produced a result");
  const shown = await refused.textContent("#error");
  assert(shown.includes("safeos-du-real-badcrc.cab") && shown.includes("ntdll.dll") && shown.includes("CRC32"),
    `the refusal does not name the file and the reason: ${shown}`);
  assert(!(await opfsNames(refused)).some((n) => n.endsWith(".partial")), "a refused patch left a temporary file");
  await refused.close();
});

// The rows the patch result lists: each package serviced (.patch-package) and each note (.patch-note).
async function patchRows(page) {
  const rows = async (sel) => page.$$eval(sel, (els) => els.map((e) => e.textContent));
  return { packages: await rows("#patch-result .patch-package td"), notes: await rows("#patch-result .patch-note td") };
}

test("real-layout .msu (CAB and WIM kinds) + the new-base Safe OS DU: SSU first, same bytes as the CLI, wimlib verifies; the LCU body's note shown", async () => {
  const media = fix("Winre.wim");
  const du = fix("safeos-du-real-newbase.cab");
  const d = tmpDir("cli-real-msu");
  for (const msu of ["lcu-ssu-real.msu", "lcu-ssu-real-wim.msu"]) {
    const ref = path.join(d, `${msu}.wim`);
    const cliOut = JSON.parse(execFileSync(cli(), ["patch", media, "--package", du, "--package", fix(msu), "-o", ref, "--json"]).toString());
    const { page, got } = await patchInBrowser([media, du, fix(msu)], "winre", undefined, `winre-${msu}.wim`);
    const { packages, notes } = await patchRows(page);
    await page.close();
    execFileSync("wimlib-imagex", ["verify", got], { stdio: "ignore" });
    assert(sha256File(got) === sha256File(ref), `${msu}: the browser's output differs from \`mediaprep patch\``);
    // The SSU then the DU, each "serviced", as the CLI lists them.
    assert(packages.length === 2 && /SSU-26100\.8037-x64\.cab/.test(packages[0]) && /safeos-du-real-newbase\.cab/.test(packages[1])
      && packages.every((p) => /: serviced$/.test(p)), `${msu}: package rows ${JSON.stringify(packages)}`);
    assert(JSON.stringify(packages.map((p) => p.replace(/: serviced$/, ""))) === JSON.stringify(cliOut.outcome.packages),
      `${msu}: rows ${JSON.stringify(packages)} != CLI ${JSON.stringify(cliOut.outcome.packages)}`);
    // The LCU body is not applied to WinRE, with the reason; the notes are the CLI's.
    assert(notes.some((n) => n.includes(`${msu}/Windows11.0-KB5079473-x64.`) && /not applied: WinRE takes the SSU and the Safe OS DU only/.test(n)),
      `${msu}: no note on the LCU body: ${JSON.stringify(notes)}`);
    assert(JSON.stringify(notes) === JSON.stringify(cliOut.outcome.notes), `${msu}: notes differ from the CLI's: ${JSON.stringify(notes)}`);
  }
});

test("install target with the real-layout Safe OS DU (media-udf.iso): same bytes as the CLI, wimlib verifies it and the nested WinRE", async () => {
  const iso = fix("media-udf.iso");
  const du = fix("safeos-du-real.cab");
  const ref = path.join(tmpDir("cli-real-install"), "install.wim");
  execFileSync(cli(), ["patch", iso, "--package", du, "--target", "install", "-o", ref], { stdio: "ignore" });
  const { page, got } = await patchInBrowser([iso, du], "install", undefined, "install-real-patched.wim");
  const { packages } = await patchRows(page);
  await page.close();
  execFileSync("wimlib-imagex", ["verify", got], { stdio: "ignore" });
  assert(sha256File(got) === sha256File(ref), "browser install.wim differs from `mediaprep patch --target install` with safeos-du-real.cab");
  assert(packages.length === 1 && /KB5079600/.test(packages[0]) && /serviced/.test(packages[0]), `package rows ${JSON.stringify(packages)}`);
  // Each edition's WinRE, as wimlib extracts it, verifies and holds the DU's ntdll folder with its r\.
  for (const idx of [1, 2, 3]) {
    const winre = wimExtract(got, idx, "/Windows/System32/Recovery/Winre.wim");
    execFileSync("wimlib-imagex", ["verify", winre], { stdio: "ignore" });
    const sxs = execFileSync("wimlib-imagex", ["dir", winre, "1", "--path=/Windows/WinSxS"]).toString();
    assert(/ntdll_31bf3856ad364e35_10\.0\.26100\.8037_none_[0-9a-f]+\/r\/ntdll\.dll$/m.test(sxs),
      `edition ${idx}: no serviced ntdll with r\\ in the nested WinRE`);
  }
});

// Click an entry of the file browser by its name and wait for the next listing or extraction.
async function browseInto(page, name) {
  const where = await page.textContent("#browse-where").catch(() => "");
  await page.click(`.browse-entry[data-name="${name}"] button`);
  await page.waitForFunction((w) => {
    const e = document.querySelector("#browse-where");
    return document.querySelector("#error") || (e && e.textContent !== w && !document.querySelector("#job"));
  }, where, { timeout: 60000 });
  if (await page.$("#error")) throw new Error(`browse failed: ${await page.textContent("#error")}`);
}

test("file browser: ISO → install.wim → edition 2 → a file; the extracted bytes equal wimlib's", async () => {
  const page = await openApp();
  await openFiles(page, [fix("media-udf.iso")], "#media-view");
  await page.click("#browse-open");
  await page.waitForSelector(".browse-entry");
  await browseInto(page, "sources");
  await browseInto(page, "install.wim");
  const images = await page.locator(".browse-entry").evaluateAll((els) => els.map((e) => e.dataset.name));
  assert(images.length === 3 && images[1].startsWith("2: "), `images listed: ${images}`);
  await browseInto(page, images[1]);
  await browseInto(page, "Windows");
  // The listing matches wimlib's for the same folder.
  const shown = (await page.locator(".browse-entry").evaluateAll((els) => els.map((e) => e.dataset.name))).sort();
  const wimDir = execFileSync("wimlib-imagex", ["dir", isoExtract(fix("media-udf.iso"), "sources/install.wim"), "2",
    "--path=/Windows"]).toString().split("\n").filter((l) => /^\/Windows\/[^/]+$/.test(l)).map((l) => l.slice(9)).sort();
  assert(JSON.stringify(shown) === JSON.stringify(wimDir), `browser lists ${shown}, wimlib ${wimDir}`);
  await page.click('.browse-entry[data-name="edition.txt"] button');
  await page.waitForSelector("#extract-result, #error", { timeout: 60000 });
  if (await page.$("#error")) throw new Error(`extract failed: ${await page.textContent("#error")}`);
  const [dl] = await Promise.all([page.waitForEvent("download", { timeout: 60000 }), page.click("#extract-download")]);
  assert(dl.suggestedFilename() === "edition.txt", `download named ${dl.suggestedFilename()}`);
  assert(/SHA-1 matching/.test(await page.textContent("#extract-result")), "WIM file not reported as SHA-1 checked");
  const got = path.join(OUT, "extracted-edition.txt");
  await dl.saveAs(got);
  const ref = wimExtract(isoExtract(fix("media-udf.iso"), "sources/install.wim"), 2, "/Windows/edition.txt");
  assert(fs.readFileSync(got).equals(fs.readFileSync(ref)), "extracted bytes differ from wimlib-imagex extract");
  assert((await page.textContent("#extract-sha256")).trim() === sha256File(ref), "shown SHA-256 differs");
  await page.locator("#browse-view").screenshot({ path: path.join(OUT, "20-browse.png") });
  await page.close();
});

// Last: it leaves a newer service worker version in charge of this browser profile.
test("update prompt: a new service worker version shows the banner; Reload hands the page to it", async () => {
  const page = await openApp();
  await controlled(page);
  const versionOf = () => page.evaluate(() => new Promise((resolve) => {
    const c = navigator.serviceWorker.controller;
    if (!c) return resolve(null);
    const ch = new MessageChannel();
    ch.port1.onmessage = (e) => resolve(e.data);
    c.postMessage("version", [ch.port2]);
    setTimeout(() => resolve("no answer"), 5000);
  }));
  const v1 = fs.readFileSync(path.join(DIST, "VERSION"), "utf8").trim();
  assert((await versionOf()) === v1, `controlled by version ${await versionOf()}, the build is ${v1}`);
  assert(!(await page.$("#update-banner")), "update banner shown with no update");
  // A new deployment: the server now hands out a service worker with another version.
  const v2 = `${v1}-e2e`;
  server.transforms.set("/sw.js", (bytes) => {
    const text = bytes.toString("utf8");
    const bumped = text.replace(`const VERSION = "${v1}"`, `const VERSION = "${v2}"`);
    if (bumped === text) throw new Error("no VERSION line in sw.js");
    return bumped;
  });
  await page.evaluate(async () => { await (await navigator.serviceWorker.getRegistration()).update(); });
  await page.waitForSelector("#update-banner", { timeout: 60000 });
  const text = await page.textContent("#update-banner");
  assert(/A new version of mediaprep is ready/.test(text), `banner says: ${text}`);
  assert((await versionOf()) === v1, "the new version took over before Reload was clicked");
  await page.screenshot({ path: path.join(OUT, "22-update.png"), fullPage: true });
  await Promise.all([page.waitForNavigation({ timeout: 60000 }), page.click("#update-reload")]);
  await page.waitForSelector("#worker-status:has-text('ready')", { timeout: 30000 });
  assert((await versionOf()) === v2, `after Reload the page is controlled by ${await versionOf()}, not ${v2}`);
  // The new version holds the app in its own cache; the old cache is gone.
  await pollPage(page, async (v) => {
    const keys = await caches.keys();
    return keys.includes(`mediaprep-${v}`) && !keys.some((k) => k.startsWith("mediaprep-") && k !== `mediaprep-${v}`);
  }, v2, 30000, "only the new version's cache");
  assert(!(await page.$("#update-banner")), "banner still shown after the update");
  assert(page.errors.length === 0, `page errors: ${page.errors}`);
  await page.close();
});

let passed = 0, failed = 0;
for (const t of tests) {
  if (only && !only.split("|").some((o) => t.name.includes(o))) continue;
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
