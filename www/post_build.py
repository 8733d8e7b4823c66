#!/usr/bin/env python3
"""trunk post_build hook: fill the CSP with hashes of trunk's inline scripts, copy the sample media
into sample/, and write the service worker's precache list (every built file but the sample),
versioned by the content of the build (sample included)."""
import base64, hashlib, json, os, re, shutil, subprocess, sys

stage = os.environ.get("TRUNK_STAGING_DIR") or (sys.argv[1] if len(sys.argv) > 1 else "dist")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The sample behind "Try the sample media": generated fixtures (never committed), built by
# scripts/fixtures when missing. Not precached (about 11 MB); the service worker caches it on use.
SAMPLE = ["media-udf.iso", "safeos-du.cab"]
fixtures = os.environ.get("MEDIAPREP_FIXTURES") or os.path.join(ROOT, "target", "fixtures")
if not all(os.path.isfile(os.path.join(fixtures, f)) for f in SAMPLE):
    print(f"post_build: generating the sample media with scripts/fixtures {fixtures}", flush=True)
    subprocess.run([os.path.join(ROOT, "scripts", "fixtures"), fixtures], check=True)
os.makedirs(os.path.join(stage, "sample"), exist_ok=True)
for f in SAMPLE:
    shutil.copyfile(os.path.join(fixtures, f), os.path.join(stage, "sample", f))
index = os.path.join(stage, "index.html")
html = open(index, encoding="utf-8").read()

hashes = []
for m in re.finditer(r"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", html, re.S):
    digest = base64.b64encode(hashlib.sha256(m.group(1).encode("utf-8")).digest()).decode()
    hashes.append(f"'sha256-{digest}'")
csp = "; ".join([
    "default-src 'self'",
    "script-src 'self' 'wasm-unsafe-eval' " + " ".join(hashes),
    "style-src 'self'",
    "img-src 'self' data: blob:",
    "connect-src 'self'",
    "worker-src 'self' blob:",
    "manifest-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
])
html = html.replace("__CSP__", csp)
open(index, "w", encoding="utf-8").write(html)

assets, h = [], hashlib.sha256()
for root, _dirs, files in os.walk(stage):
    for f in sorted(files):
        full = os.path.join(root, f)
        rel = os.path.relpath(full, stage).replace(os.sep, "/")
        if rel == "sw.js":
            continue
        if not rel.startswith("sample/"):
            assets.append("./" + rel)
        h.update(rel.encode())
        with open(full, "rb") as fh:
            h.update(fh.read())
assets.sort()
version = h.hexdigest()[:16]
sw = os.path.join(stage, "sw.js")
body = open(sw, encoding="utf-8").read()
head = f"const VERSION = {json.dumps(version)};\nconst ASSETS = {json.dumps(['./'] + assets)};\n"
open(sw, "w", encoding="utf-8").write(head + body)
open(os.path.join(stage, "VERSION"), "w").write(version + "\n")
print(f"post_build: {len(assets)} assets precached, sample {'+'.join(SAMPLE)} not, version {version}, "
      f"{len(hashes)} inline script hash(es)")
