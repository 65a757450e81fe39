// What the editor's browser tests share: the server scripts/test-web started (its address,
// administrator and mail outbox come from the environment), Debian's Chromium through
// playwright-core, REST set-up through the JavaScript client, signing a browser context in
// through the page itself, and axe-core. Wait for what the page shows; never sleep.
import { existsSync } from "node:fs";
import { readdir, readFile, watch } from "node:fs/promises";
import { createRequire } from "node:module";
import { after } from "node:test";
import assert from "node:assert/strict";

import { DialogueApi } from "../../clients/js/src/index.js";

export const url = process.env.DIALOGUE_TEST_URL ?? "";
export const adminEmail = process.env.DIALOGUE_TEST_EMAIL ?? "";
export const adminPassword = process.env.DIALOGUE_TEST_PASSWORD ?? "";
export const outbox = process.env.DIALOGUE_TEST_OUTBOX ?? "";
const chromiumPath = process.env.CHROMIUM ?? "/usr/bin/chromium";

/** `false` when the tests can run, else why not (for `test(name, { skip })`). */
export const skip = url === "" ? "no server (run scripts/test-web)" : !existsSync(chromiumPath) ? `no browser at ${chromiumPath}` : false;

/** @type {(() => Promise<void>)[]} */
const cleanups = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

/** @type {Promise<import("playwright-core").Browser> | undefined} */
let browser;
/** The one Chromium of this test file, closed after its tests. */
export function chromium() {
  browser ??= import("playwright-core").then(async ({ chromium: launcher }) => {
    const launched = await launcher.launch({ executablePath: chromiumPath, args: ["--no-sandbox"] });
    cleanups.push(() => launched.close());
    return launched;
  });
  return browser;
}

/** A REST client signed in as the administrator (bearer token). */
export async function admin() {
  const api = new DialogueApi({ url });
  await api.signIn(adminEmail, adminPassword);
  return api;
}

let users = 0;
/**
 * A new user made by the administrator, with a password and a REST client signed in as them.
 * @param {DialogueApi} adminApi
 * @param {string} firstName
 */
export async function newUser(adminApi, firstName) {
  users += 1;
  const email = `${firstName.toLowerCase()}.${Date.now()}.${users}@example.org`;
  const password = `${firstName} has a long password`;
  const user = await adminApi.request("POST", "/users/", { email, password, first_name: firstName, last_name: "Tester" });
  const api = new DialogueApi({ url });
  await api.signIn(email, password);
  return { user, email, password, api };
}

/**
 * A new browser context (its own cookies and storage) at a laptop-sized viewport, closed
 * after the file's tests (closing it sooner is fine too).
 */
export async function browserContext() {
  const context = await (await chromium()).newContext({ viewport: { width: 1280, height: 800 } });
  cleanups.push(() => context.close());
  return context;
}

/**
 * A new browser context (its own cookies and storage) at a laptop-sized viewport, signed in
 * as `email` through the sign-in form.
 * @param {string} email
 * @param {string} password
 */
export async function signedInPage(email, password) {
  const context = await browserContext();
  const page = await context.newPage();
  /** @type {string[]} */
  const problems = [];
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  page.on("console", (message) => {
    if (message.type() === "error" && !/Failed to load resource|WebSocket/.test(message.text())) problems.push(`console: ${message.text()}`);
  });
  await page.goto(`${url}/`);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password", { exact: true }).fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("heading", { name: "Projects" }).waitFor();
  return { context, page, problems };
}

const require = createRequire(import.meta.url);
/**
 * Runs axe-core on the page; fails on any serious or critical violation.
 * @param {import("playwright-core").Page} page
 * @param {string} where what the page shows, for the message
 */
export async function assertAccessible(page, where) {
  // axe's source is evaluated through the driver (page.evaluate), which the page's CSP allows.
  await page.evaluate(await readFile(require.resolve("axe-core/axe.min.js"), "utf8"));
  const results = await page.evaluate(async () => {
    // @ts-ignore axe is global once loaded
    const { violations } = await globalThis.axe.run(document, { resultTypes: ["violations"] });
    return violations.map((/** @type {any} */ v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((/** @type {any} */ n) => n.target.join(" ")).slice(0, 5) }));
  });
  const serious = results.filter((v) => v.impact === "serious" || v.impact === "critical");
  assert.deepEqual(serious, [], `${where}: accessibility violations\n${JSON.stringify(serious, null, 2)}`);
}

/**
 * The newest mail to `email` in the server's outbox (a directory, a file per mail), once it is
 * there: the files already in it are read first, then new ones as the directory changes.
 * @param {string} email
 * @param {number} [timeout] ms
 * @returns {Promise<string>}
 */
export async function mailTo(email, timeout = 10_000) {
  const find = async () => {
    for (const file of (await readdir(outbox)).sort().reverse()) {
      const text = await readFile(`${outbox}/${file}`, "utf8").catch(() => "");
      if (text.includes(email)) return text;
    }
    return undefined;
  };
  const stop = new AbortController();
  const watcher = watch(outbox, { signal: stop.signal });
  try {
    // Watching starts before the first look, so a mail written in between is not missed.
    const changes = (async () => {
      for await (const _ of watcher) {
        const text = await find();
        if (text) return text;
      }
      return undefined;
    })().catch(() => undefined); // stopped: the mail was found, or the wait timed out
    const text = await find();
    if (text) return text;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    let timer;
    const expired = new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`no mail to ${email} within ${timeout} ms`)), timeout); });
    try {
      const found = await Promise.race([changes, expired]);
      if (!found) throw new Error(`no mail to ${email}`);
      return found;
    } finally {
      clearTimeout(timer);
    }
  } finally {
    stop.abort();
  }
}
