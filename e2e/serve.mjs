// A tiny static server for dist/ on 127.0.0.1 (ephemeral port by default), with the MIME types
// the app needs and no caching, so tests always see the current build.
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

export function serve(root, port = 0) {
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
  const root = process.argv[2] || "dist";
  const port = Number(process.argv[3] || 8080);
  const server = await serve(root, port);
  console.log(`mediaprep: http://127.0.0.1:${server.address().port}/`);
}
