// The client unchanged in a real browser (Debian's Chromium, driven by playwright-core): the
// page imports src/index.js as it is, with no build, opens a live dialogue with a token, keeps
// its pending changes in IndexedDB, and its change reaches the server.
import { createServer } from "node:http";
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { after, test } from "node:test";
import assert from "node:assert/strict";

import { admin, freshDialogue, haveServer, url } from "../live/support.js";

const chromium = process.env.CHROMIUM ?? "/usr/bin/chromium";
const skip = !haveServer ? "no server (run scripts/test-js)" : !existsSync(chromium) ? `no browser at ${chromium}` : false;
const root = new URL("../../", import.meta.url);

/** Serves clients/js as static files, and an empty page to run scripts in. */
function serveClient() {
  const server = createServer(async (request, response) => {
    const path = new URL(request.url ?? "/", "http://x").pathname;
    if (path === "/") {
      response.writeHead(200, { "Content-Type": "text/html" });
      return response.end("<!doctype html><title>client</title>");
    }
    try {
      const body = await readFile(new URL(`.${path}`, root));
      response.writeHead(200, { "Content-Type": path.endsWith(".js") ? "text/javascript" : "application/octet-stream" });
      response.end(body);
    } catch {
      response.writeHead(404);
      response.end();
    }
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

/** @type {(() => Promise<void>)[]} */
const cleanups = [];
after(async () => {
  for (const cleanup of cleanups) await cleanup();
});

test("in Chromium: the sources import as they are, a live change reaches the server, IndexedDB keeps the state", { skip, timeout: 120_000 }, async () => {
  const api = await admin();
  const where = await freshDialogue(api);
  const server = /** @type {import("node:http").Server} */ (await serveClient());
  cleanups.push(() => new Promise((resolve) => server.close(() => resolve())));
  const { port } = /** @type {import("node:net").AddressInfo} */ (server.address());
  const { chromium: launcher } = await import("playwright-core");
  const browser = await launcher.launch({ executablePath: chromium, args: ["--no-sandbox"] });
  cleanups.push(() => browser.close());
  const page = await browser.newPage();
  await page.goto(`http://127.0.0.1:${port}/`);
  const result = await page.evaluate(
    async ({ url, project, dialogue, token }) => {
      const { IndexedDBStorage, LiveDialogue } = await import("/src/index.js");
      const storage = new IndexedDBStorage("dialogue-client-test");
      const doc = new LiveDialogue({ url, project, dialogue, token, storage });
      await doc.open();
      const acked = new Promise((resolve) => doc.addEventListener("ack", resolve, { once: true }));
      doc.submit([{ op: "replace", path: "/title", value: "Written in Chromium" }]);
      await acked;
      const saved = await storage.load(doc.key);
      doc.close();
      return { title: doc.content.title, savedNumber: saved.number, status: doc.status };
    },
    { url, ...where, token: /** @type {string} */ (api.token) },
  );
  assert.deepEqual(result, { title: "Written in Chromium", savedNumber: 1, status: "closed" });
  assert.equal((await api.dialogue(where.project, where.dialogue)).title, "Written in Chromium");
});
