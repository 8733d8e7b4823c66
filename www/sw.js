// Service worker: cache-first precache of the whole (content-versioned) build, so the app works
// offline after the first load. post_build.py prepends `const VERSION` and `const ASSETS`.
// The sample media (sample/, ~11 MB) is not precached: it is cached the first time it is used.
// A new version waits until the page asks it to take over ("skip-waiting", from the update banner).
// Every response it serves carries the cross-origin isolation headers (COOP same-origin, COEP
// require-corp), so once it controls the page, the page is crossOriginIsolated on any static host
// and the patch job gets its pool of compression workers (SharedArrayBuffer); docs/decisions.md 10.
const CACHE = "mediaprep-" + VERSION;
const SAMPLE = new URL("./sample/", self.location).pathname;

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches.open(CACHE).then((cache) =>
      cache.addAll(ASSETS.map((url) => new Request(url, { cache: "reload" })))
    )
  );
});

self.addEventListener("message", (event) => {
  if (event.data === "skip-waiting") self.skipWaiting();
  // Which version this worker is (the page and tests ask over a MessageChannel).
  if (event.data === "version" && event.ports[0]) event.ports[0].postMessage(VERSION);
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((keys) =>
        Promise.all(keys.filter((k) => k.startsWith("mediaprep-") && k !== CACHE).map((k) => caches.delete(k)))
      )
      .then(() => self.clients.claim())
  );
});

// The response with the isolation headers added (same status and body). Opaque responses are
// passed as they are: their headers cannot be read or set.
function isolated(resp) {
  if (!resp || resp.type === "opaque" || resp.type === "opaqueredirect" || resp.status === 0) return resp;
  const headers = new Headers(resp.headers);
  headers.set("Cross-Origin-Opener-Policy", "same-origin");
  headers.set("Cross-Origin-Embedder-Policy", "require-corp");
  headers.set("Cross-Origin-Resource-Policy", "same-origin");
  return new Response(resp.body, { status: resp.status, statusText: resp.statusText, headers });
}

self.addEventListener("fetch", (event) => {
  const req = event.request;
  if (req.method !== "GET" || new URL(req.url).origin !== self.location.origin) return;
  if (req.mode === "navigate") {
    event.respondWith(
      caches.match("./index.html", { cacheName: CACHE }).then((hit) => isolated(hit) || fetch(req).then(isolated))
    );
    return;
  }
  if (new URL(req.url).pathname.startsWith(SAMPLE)) {
    // Cached at first use, so the sample works offline afterwards; dropped with this version.
    event.respondWith(
      caches.open(CACHE).then((cache) =>
        cache.match(req, { ignoreSearch: true }).then(
          (hit) =>
            isolated(hit) ||
            fetch(req).then((resp) => {
              if (resp.ok) event.waitUntil(cache.put(req, resp.clone()));
              return isolated(resp);
            })
        )
      )
    );
    return;
  }
  event.respondWith(
    caches.match(req, { ignoreSearch: true }).then((hit) => isolated(hit) || fetch(req).then(isolated))
  );
});
