// A tiny static server for dist/ on 127.0.0.1 (ephemeral port by default), with the MIME types
// the app needs and no caching, so tests always see the current build. By default it sends the
// cross-origin isolation headers (COOP same-origin, COEP require-corp), as a host configured for
// the app's worker pool would; `serve(root, port, { isolate: false })` (or `--no-isolation` on the
// command line) serves a plain host, where only the service worker can add them.
// Test hook: `server.transforms.set("/sw.js", (bytes) => newBytes)` serves a changed file (e.g. a
// new service worker version) without touching dist/.
import http from "node:http";
import fs from "node:fs";
import path from "node:path";

const TYPES = {
  ".html": "text/html; charset=utf-8", ".js": "text/javascript", ".mjs": "text/javascript",
  ".wasm": "application/wasm", ".css": "text/css", ".json": "application/json",
  ".webmanifest": "application/manifest+json", ".png": "image/png", ".svg": "image/svg+xml",
  ".txt": "text/plain",
};

export const ISOLATION_HEADERS = {
  "cross-origin-opener-policy": "same-origin",
  "cross-origin-embedder-policy": "require-corp",
  "cross-origin-resource-policy": "same-origin",
};

export function serve(root, port = 0, { isolate = true } = {}) {
  const base = path.resolve(root);
  const transforms = new Map();
  const server = http.createServer((req, res) => {
    let p = decodeURIComponent(new URL(req.url, "http://x").pathname);
    if (p.endsWith("/")) p += "index.html";
    const file = path.resolve(base, "." + p);
    if (!file.startsWith(base + path.sep) && file !== base) {
      res.writeHead(403).end();
      return;
    }
    fs.readFile(file, (err, data) => {
      if (!err && transforms.has(p)) data = Buffer.from(transforms.get(p)(data));
      if (err) {
        res.writeHead(404, { "content-type": "text/plain" }).end("not found");
        return;
      }
      res.writeHead(200, {
        "content-type": TYPES[path.extname(file)] || "application/octet-stream",
        "cache-control": "no-cache",
        ...(isolate ? ISOLATION_HEADERS : {}),
      });
      res.end(data);
    });
  });
  server.transforms = transforms;
  return new Promise((resolve) => {
    server.listen(port, "127.0.0.1", () => resolve(server));
  });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = process.argv.slice(2).filter((a) => a !== "--no-isolation");
  const root = args[0] || "dist";
  const port = Number(args[1] || 8080);
  const server = await serve(root, port, { isolate: !process.argv.includes("--no-isolation") });
  console.log(`mediaprep: http://127.0.0.1:${server.address().port}/`);
}
