// The dialogue screen in a real browser, with two people editing one dialogue live: a block
// added by one appears for the other, selections show as name markers, a refused change shows
// on its field, offline edits converge, undo keeps the other's later change, blocks reorder by
// keyboard and drag-and-drop, typing is never lost (leaving the page at once, or while another
// person adds a block), a read-only person cannot edit, and axe finds no serious problem. Each
// test edits a dialogue of its own, so any one of them can run alone.
import { before, test } from "node:test";
import assert from "node:assert/strict";

import { admin, assertAccessible, newUser, signedInPage, skip, url } from "./support.js";

/** @typedef {import("playwright-core").Page} Page */

/** @type {{ project: any, adminApi: any, alice: any, bob: any, carol: any, a: { page: Page, context: any, problems: string[] }, b: { page: Page, context: any, problems: string[] } }} */
const the = /** @type {any} */ ({});

before(async () => {
  if (skip) return;
  the.adminApi = await admin();
  the.project = await the.adminApi.createProject(`Editor test ${Date.now()}`);
  const grant = (/** @type {any} */ person, /** @type {string} */ type) =>
    the.adminApi.request("POST", `/users/${person.user.id}/permissions/`, { type, properties: { project_id: the.project.id } });
  the.alice = await newUser(the.adminApi, "Alice");
  the.bob = await newUser(the.adminApi, "Bob");
  the.carol = await newUser(the.adminApi, "Carol");
  await grant(the.alice, "project:dialogues:write");
  await grant(the.bob, "project:dialogues:write");
  await grant(the.carol, "project:dialogues:read");
  the.a = await signedInPage(the.alice.email, the.alice.password);
  the.b = await signedInPage(the.bob.email, the.bob.password);
});

/**
 * A new dialogue of the test project (two sequences: a message and a choice, then an end),
 * open in the editors of `pages`.
 * @param {Page[]} pages
 */
async function freshDialogue(...pages) {
  const dialogue = await the.adminApi.createDialogue(the.project.id, {
    title: "Registration",
    sequences: [
      { id: "start", title: "Start", blocks: [
        { id: "hi", type: "message", properties: { text: "Hi there" } },
        { id: "ask", type: "choice", properties: { question: "Register?", choices: [{ label: "Yes", next: "yes" }] } },
      ] },
      { id: "yes", title: "Yes", blocks: [{ id: "bye", type: "end", properties: { text: "Thanks" } }] },
    ],
  });
  await Promise.all(pages.map((page) => openEditor(page, dialogue)));
  return dialogue;
}

/** @param {Page} page @param {any} dialogue */
async function openEditor(page, dialogue) {
  await page.goto(`${url}/#/projects/${the.project.id}/dialogues/${dialogue.id}`);
  await connection(page, "Live").waitFor();
}

/**
 * The connection line (its state is the live region; whether changes are saved is beside it).
 * @param {Page} page
 * @param {string} text
 */
function connection(page, text) {
  return page.locator(".connection").filter({ hasText: text });
}

/**
 * The card of block `blockId` of sequence `sequenceId`.
 * @param {Page} page
 * @param {string} sequenceId
 * @param {string} blockId
 */
function block(page, sequenceId, blockId) {
  return page.locator(`li[data-key="${sequenceId}/${blockId}"]`);
}

/** @param {Page} page */
async function allSaved(page) {
  await connection(page, "Live — all changes saved").waitFor();
}

/**
 * Waits until a field shows `value`.
 * @param {import("playwright-core").Locator} field
 * @param {string} value
 */
async function showsValue(field, value) {
  // A redraw replaces the field: wait on the one on the page now until it shows the value or is
  // replaced, then look again.
  for (;;) {
    const handle = await field.elementHandle();
    await field.page().waitForFunction(
      ([element, expected]) => /** @type {HTMLInputElement} */ (element).value === expected || !element?.isConnected,
      /** @type {const} */ ([handle, value]),
    );
    if (await handle?.evaluate((element, expected) => element.isConnected && /** @type {HTMLInputElement} */ (element).value === expected, value)) return;
  }
}

/**
 * Waits until the stored dialogue satisfies `check` (the server applies changes as they come).
 * @param {any} dialogue
 * @param {(stored: any) => boolean} check
 * @param {string} what
 */
async function storedSoon(dialogue, check, what) {
  const path = `/projects/${the.project.id}/dialogues/${dialogue.id}`;
  const deadline = Date.now() + 10_000;
  let stored;
  do {
    stored = await the.adminApi.request("GET", path);
    if (check(stored)) return stored;
  } while (Date.now() < deadline);
  assert.fail(`${what}: the server has ${JSON.stringify(stored.sequences)}`);
}

test("an added block appears for the other editor, and selections show with names", { skip }, async () => {
  const { page: pageA } = the.a;
  const { page: pageB } = the.b;
  await freshDialogue(pageA, pageB);
  await pageA.getByRole("heading", { name: "Here now" }).waitFor();
  await pageA.locator(".here-now").getByText("Bob Tester").waitFor();

  const start = pageA.getByRole("region", { name: "Sequence: Start" });
  await start.getByLabel("Block type").selectOption({ label: "End" });
  await start.getByRole("button", { name: "Add block" }).click();
  await block(pageB, "start", "end-3").getByRole("article", { name: "End end-3" }).waitFor();
  // The new block's first field has the focus, ready for typing.
  await pageA.waitForFunction(() => document.activeElement?.closest('li[data-key="start/end-3"]') !== null && document.activeElement?.matches("[data-pointer]"));

  await block(pageB, "start", "hi").getByLabel("Text").click();
  await block(pageA, "start", "hi").locator(".peer-marker", { hasText: "Bob Tester" }).waitFor();
  await block(pageB, "start", "ask").getByLabel("Question").click();
  await block(pageA, "start", "ask").locator(".peer-marker", { hasText: "Bob Tester" }).waitFor();
  assert.equal(await block(pageA, "start", "hi").locator(".peer-marker").count(), 0, "the marker left the block Bob left");
});

test("a change the server refuses shows on the field it names", { skip }, async () => {
  const { page } = the.a;
  await freshDialogue(page, the.b.page);
  const text = block(page, "start", "hi").getByLabel("Text");
  await text.fill("");
  await text.press("Tab");
  const invalid = block(page, "start", "hi").locator('textarea[aria-invalid="true"]');
  await invalid.waitFor();
  const describedBy = String(await invalid.getAttribute("aria-describedby"));
  const errorId = describedBy.split(" ").find((id) => id.endsWith("-error"));
  assert.ok(errorId, `the field is described by its error (${describedBy})`);
  assert.match(await page.locator(`#${errorId}`).innerText(), /shorter|empty|least|minLength/i);
  await block(page, "start", "hi").getByRole("alert").filter({ hasText: "Not saved" }).waitFor();
  await showsValue(text, "Hi there"); // rolled back
  await showsValue(block(the.b.page, "start", "hi").getByLabel("Text"), "Hi there");
  await assertAccessible(page, "the editor showing a refused change");
});

test("edits made offline are sent on reconnect and both editors converge", { skip }, async () => {
  const { page: pageA, context: contextA } = the.a;
  const { page: pageB } = the.b;
  const dialogue = await freshDialogue(pageA, pageB);
  await contextA.setOffline(true);
  await connection(pageA, "Offline — your changes will be sent when the connection returns").waitFor();
  const text = block(pageA, "start", "hi").getByLabel("Text");
  await text.fill("Edited offline");
  await text.press("Tab");
  await connection(pageA, "(1 waiting)").waitFor();
  await assertAccessible(pageA, "the editor while offline");
  const question = block(pageB, "start", "ask").getByLabel("Question");
  await question.fill("Ready to register?");
  await question.press("Tab");
  await allSaved(pageB);
  await contextA.setOffline(false);
  await allSaved(pageA);
  for (const page of [pageA, pageB]) {
    await showsValue(block(page, "start", "hi").getByLabel("Text"), "Edited offline");
    await showsValue(block(page, "start", "ask").getByLabel("Question"), "Ready to register?");
  }
  const stored = await the.adminApi.dialogue(the.project.id, dialogue.id);
  assert.equal(stored.sequences[0].blocks[0].properties.text, "Edited offline");
  assert.equal(stored.sequences[0].blocks[1].properties.question, "Ready to register?");
});

test("undo takes back one's own change and keeps the other editor's later one", { skip }, async () => {
  const { page: pageA } = the.a;
  const { page: pageB } = the.b;
  await freshDialogue(pageA, pageB);
  const text = block(pageA, "start", "hi").getByLabel("Text");
  await text.fill("Undo me");
  await text.press("Tab");
  await allSaved(pageA);
  const question = block(pageB, "start", "ask").getByLabel("Question");
  await question.fill("A later change");
  await question.press("Tab");
  await showsValue(block(pageA, "start", "ask").getByLabel("Question"), "A later change");
  await text.focus();
  await pageA.keyboard.press("Control+z");
  for (const page of [pageA, pageB]) {
    await showsValue(block(page, "start", "hi").getByLabel("Text"), "Hi there");
    await showsValue(block(page, "start", "ask").getByLabel("Question"), "A later change");
  }
  await allSaved(pageA); // the undo acknowledged: the redo is not sent while it is under way
  await pageA.getByRole("button", { name: "Redo" }).click();
  await showsValue(block(pageB, "start", "hi").getByLabel("Text"), "Undo me");
  // The other shortcuts: Ctrl+Z again, then Shift+Ctrl+Z, and Ctrl+Y after one more undo.
  for (const [keys, expected] of [["Control+z", "Hi there"], ["Control+Shift+z", "Undo me"], ["Control+z", "Hi there"], ["Control+y", "Undo me"]]) {
    await allSaved(pageA);
    await pageA.keyboard.press(keys);
    await showsValue(block(pageB, "start", "hi").getByLabel("Text"), expected);
  }
  await showsValue(block(pageB, "start", "ask").getByLabel("Question"), "A later change");
});

test("blocks reorder by keyboard and by drag-and-drop", { skip }, async () => {
  const { page: pageA } = the.a;
  const { page: pageB } = the.b;
  const dialogue = await freshDialogue(pageA, pageB);
  await the.adminApi.request("PATCH", `/projects/${the.project.id}/dialogues/${dialogue.id}`,
    [{ op: "add", path: "/sequences/0/blocks/-", value: { id: "end-3", type: "end", properties: { text: "Bye" } } }]);
  const waitOrder = async (/** @type {Page} */ page, /** @type {string} */ expected) => {
    await page.waitForFunction((want) => [...document.querySelectorAll('section[data-sequence="start"] li.block')].map((li) => /** @type {HTMLElement} */ (li).dataset.block).join(",") === want, expected);
  };
  await waitOrder(pageA, "hi,ask,end-3");
  await block(pageA, "start", "hi").getByRole("button", { name: "Move down Message hi" }).click();
  await waitOrder(pageB, "ask,hi,end-3");
  await block(pageA, "start", "hi").focus();
  await pageA.keyboard.press("Alt+ArrowUp");
  await waitOrder(pageB, "hi,ask,end-3");
  // The Move buttons follow the block's place without redrawing it.
  assert.equal(await block(pageA, "start", "hi").getByRole("button", { name: "Move up Message hi" }).isDisabled(), true);
  assert.equal(await block(pageA, "start", "ask").getByRole("button", { name: "Move up Choice ask" }).isDisabled(), false);
  // Alt+ArrowDown on a select opens it; it moves nothing.
  await block(pageA, "start", "ask").getByLabel("Next").focus();
  await pageA.keyboard.press("Alt+ArrowDown");
  await pageA.keyboard.press("Escape");
  // Both ends of the drag on screen at once: scrolling in the middle of a drag loses it.
  await pageA.setViewportSize({ width: 1280, height: 2000 });
  const handle = block(pageA, "start", "end-3").locator(".drag-handle");
  await handle.dragTo(block(pageA, "start", "hi"), { targetPosition: { x: 40, y: 5 } });
  await waitOrder(pageB, "end-3,hi,ask");
  await waitOrder(pageA, "end-3,hi,ask");
  await pageA.setViewportSize({ width: 1280, height: 800 });
});

test("a sequence can be added and renamed, and a reference to a removed one is marked missing, then refused", { skip }, async () => {
  const { page: pageA, context: contextA } = the.a;
  const { page: pageB } = the.b;
  await freshDialogue(pageA, pageB);
  await pageA.getByLabel("New sequence title").fill("Goodbye");
  await pageA.getByRole("button", { name: "Add sequence" }).click();
  await pageB.getByRole("region", { name: "Sequence: Goodbye" }).waitFor();
  await pageB.getByLabel("Title of sequence goodbye").fill("Farewell");
  await pageB.getByLabel("Title of sequence goodbye").press("Tab");
  await pageA.getByRole("region", { name: "Sequence: Farewell" }).waitFor();
  const next = block(pageA, "start", "ask").getByLabel("Next");
  await pageA.waitForFunction(() => [...document.querySelectorAll('li[data-key="start/ask"] select option')].some((o) => o.textContent === "Farewell (goodbye)"));
  assert.deepEqual(await next.locator("option").allTextContents(), ["Start (start)", "Yes (yes)", "Farewell (goodbye)"]);

  await contextA.setOffline(true);
  await connection(pageA, "Offline").waitFor();
  await pageA.getByRole("button", { name: "Remove sequence Yes" }).click();
  await block(pageA, "start", "ask").locator(".field-warning", { hasText: "missing sequence" }).waitFor();
  await contextA.setOffline(false);
  await pageA.getByRole("region", { name: "Sequence: Yes" }).waitFor(); // rolled back
  await pageA.locator(".dialogue-alerts").getByText("Not saved").waitFor();
  await block(pageA, "start", "ask").locator(".field-warning").waitFor({ state: "detached" });
});

test("text typed just before leaving the Edit tab or the dialogue reaches the server", { skip }, async () => {
  const { page } = the.a;
  const dialogue = await freshDialogue(page);
  const text = block(page, "start", "hi").getByLabel("Text");
  await text.fill("Typed, then off to the History tab");
  await page.getByRole("link", { name: "History" }).click();
  await storedSoon(dialogue, (stored) => stored.sequences[0].blocks[0].properties.text === "Typed, then off to the History tab", "typing before the History tab");

  await page.getByRole("link", { name: "Edit", exact: true }).click();
  await text.fill("Typed, then off to the project");
  await page.evaluate((hash) => { location.hash = hash; }, `#/projects/${the.project.id}`);
  await storedSoon(dialogue, (stored) => stored.sequences[0].blocks[0].properties.text === "Typed, then off to the project", "typing before leaving the dialogue");
});

test("a number being typed keeps its focus and value while another person adds a block", { skip }, async () => {
  const { page: pageA } = the.a;
  const { page: pageB } = the.b;
  const dialogue = await freshDialogue(pageA, pageB);
  await the.adminApi.request("PATCH", `/projects/${the.project.id}/dialogues/${dialogue.id}`,
    [{ op: "add", path: "/sequences/0/blocks/-", value: { id: "name", type: "free-text", properties: { question: "Your name?", save_as: "name" } } }]);
  const maxLength = block(pageA, "start", "name").getByLabel("Max length");
  await maxLength.click();
  await pageA.keyboard.type("42");

  const start = pageB.getByRole("region", { name: "Sequence: Start" });
  await start.getByLabel("Block type").selectOption({ label: "End" });
  await start.getByRole("button", { name: "Add block" }).click();
  await block(pageA, "start", "end-4").waitFor();
  assert.equal(await maxLength.evaluate((input) => input === document.activeElement), true, "the field kept the focus");
  assert.equal(await maxLength.inputValue(), "42");
  await storedSoon(dialogue, (stored) => stored.sequences[0].blocks[2].properties.max_length === 42, "the typed number");
});

test("a person who may only read sees the dialogue but cannot edit it", { skip }, async () => {
  const dialogue = await freshDialogue();
  const { page } = await signedInPage(the.carol.email, the.carol.password);
  await openEditor(page, dialogue);
  await page.getByText("You can view this dialogue but not edit it").waitFor();
  await showsValue(block(page, "start", "hi").getByLabel("Text"), "Hi there");
  const editable = await page.locator(".edit-tab").locator("input:not([disabled]), textarea:not([disabled]), select:not([disabled]), button:not([disabled])").count();
  assert.equal(editable, 0, "no enabled control on the Edit tab");
  assert.equal(await page.getByRole("button", { name: "Undo" }).count(), 0);
  await assertAccessible(page, "the editor, read-only");
});

test("the editor passes axe with blocks open, fits a 1024-pixel screen, and no page error was seen", { skip }, async () => {
  await freshDialogue(the.a.page, the.b.page);
  await assertAccessible(the.a.page, "the editor screen");
  // A smaller laptop: nothing needs a sideways scroll.
  await the.a.page.setViewportSize({ width: 1024, height: 700 });
  const overflow = await the.a.page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  await the.a.page.setViewportSize({ width: 1280, height: 800 });
  assert.equal(overflow, 0, "the page is wider than the window at 1024 pixels");
  assert.deepEqual(the.a.problems, []);
  assert.deepEqual(the.b.problems, []);
});
