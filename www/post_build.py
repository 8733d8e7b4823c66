#!/usr/bin/env python3
"""trunk post_build hook: fill the CSP with hashes of trunk's inline scripts and write the
service worker's precache list (every built file), versioned by the content of the build."""
import base64, hashlib, json, os, re, sys

stage = os.environ.get("TRUNK_STAGING_DIR") or (sys.argv[1] if len(sys.argv) > 1 else "dist")
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
        assets.append("./" + rel)
        h.update(rel.encode())
        h.update(open(full, "rb").read())
assets.sort()
version = h.hexdigest()[:16]
sw = os.path.join(stage, "sw.js")
body = open(sw, encoding="utf-8").read()
head = f"const VERSION = {json.dumps(version)};\nconst ASSETS = {json.dumps(['./'] + assets)};\n"
open(sw, "w", encoding="utf-8").write(head + body)
open(os.path.join(stage, "VERSION"), "w").write(version + "\n")
print(f"post_build: {len(assets)} assets precached, version {version}, {len(hashes)} inline script hash(es)")
