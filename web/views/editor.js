// The dialogue screen (#/projects/{p}/dialogues/{d}[/{tab}]): opens the dialogue live, and shows
// its header (title, connection status, who is here, undo and redo, the tab bar) over one of
// the tabs: Edit (web/editor/sequences.js) or the History, Releases and Flow modules of
// web/history and web/flow. Everything it opens or listens to is closed on unmount.

import { IndexedDBStorage, LiveDialogue } from "/web/client/index.js";
import { explain, h, replace, showAlert } from "../ui.js";
import { blockTypesOf } from "../flow/references.js";
import { statusOf } from "../editor/connection.js";
import { renderHereNow } from "../editor/presence.js";
import { Refusals, keyOf, sentence } from "../editor/refusals.js";
import { mountEditTab } from "../editor/sequences.js";
import { pendingDatabase } from "../session.js";

/** The tabs, their labels, and the module each one mounts (Edit is this screen's own). */
const TABS = [
  { id: "edit", label: "Edit" },
  { id: "history", label: "History", module: "../history/timeline.js" },
  { id: "releases", label: "Releases", module: "../history/releases.js" },
  { id: "flow", label: "Flow", module: "../flow/flow.js" },
];

/** Why the live session ended, by the event the client fires. */
const ENDINGS = {
  "signed-out": "You were signed out. Sign in again to keep editing.",
  "access-lost": "Your access to this dialogue was removed.",
  deleted: "This dialogue (or its project) was deleted.",
};

/**
 * Mounts the dialogue screen.
 * @param {HTMLElement} root
 * @param {{ project: string, dialogue: string, tab?: string }} params
 * @param {{ api: import("/web/client/rest.js").DialogueApi, user?: any, navigate(hash: string): void, setTitle(text: string): void }} app
 * @param {LiveDialogue} [opened] the session already open, when the screen is drawn again
 * @returns {Promise<(() => void) & { flushTyping(): void }>} unmount (and what sends typing not
 *   sent yet, for the screen drawn again)
 */
export async function mount(root, params, app, opened) {
  const { project, dialogue } = params;
  const base = `#/projects/${encodeURIComponent(project)}/dialogues/${encodeURIComponent(dialogue)}`;
  /** @type {(() => void)[]} */
  const cleanups = [];
  /** Sends what is typed and not sent yet; set once the header and the Edit tab exist. */
  let flushTyping = () => {};
  let unmounted = false;
  const unmount = () => {
    // Typed text first, while the live session is still open to take it.
    flushTyping();
    unmounted = true;
    for (const cleanup of cleanups.splice(0).reverse()) cleanup();
  };
  const unmountScreen = Object.assign(unmount, { flushTyping: () => flushTyping() });
  const screen = h("div", { class: "editor-screen", "aria-busy": "true" }, h("p", { class: "loading", text: "Opening the dialogue…" }));
  root.append(screen);
  cleanups.push(() => screen.remove());

  // Pending changes are kept in the person's own database, deleted when they sign out.
  const storage = opened ? undefined : pendingStorage(pendingDatabase(app.user));
  const doc = opened ?? new LiveDialogue({ url: location.origin, project, dialogue, storage });
  const closeDoc = () => {
    doc.close();
    (storage ?? /** @type {any} */ (doc.options).storage)?.close?.();
  };
  cleanups.push(closeDoc);
  try {
    await Promise.all([opened ? undefined : doc.open(), blockTypesOf(app.api)]);
  } catch (error) {
    screen.removeAttribute("aria-busy");
    replace(screen, h("div", { class: "refusal", role: "alert" },
      h("h1", { text: "This dialogue cannot be opened" }),
      h("p", { text: error instanceof Error && /live session/.test(error.message) ? "The server refused the live connection: the dialogue may not exist, or you may not have access to it." : explain(error) }),
      h("p", {}, h("a", { href: `#/projects/${encodeURIComponent(project)}`, text: "Back to the project" }))));
    return unmountScreen;
  }
  const types = /** @type {import("../editor/blocks.js").BlockType[]} */ (await blockTypesOf(app.api));
  // Opened offline from saved changes, the session has not said yet whether this person may
  // edit: once it does, the screen is drawn again with the right controls.
  const canEdit = doc.canEdit;
  const refusals = new Refusals();
  /** @type {string | undefined} */
  let ended;

  // The header.
  const titleHeading = h("h1", { class: canEdit ? "visually-hidden" : "dialogue-title", id: "dialogue-title" });
  /** The dialogue title as typed, when it differs from the one sent last. */
  let typedTitle = false;
  const sendTitle = () => {
    if (!typedTitle || !titleInput) return;
    typedTitle = false;
    delete titleInput.dataset.typing;
    submit([{ op: "replace", path: "/title", value: titleInput.value }], {});
  };
  const titleInput = canEdit
    ? h("input", { id: "dialogue-title-input", class: "title-input dialogue-title", type: "text", maxLength: 500,
        oninput: () => {
          typedTitle = true;
          if (titleInput) titleInput.dataset.typing = "true";
        },
        onchange: sendTitle })
    : null;
  // Only the connection's state is announced; whether changes are saved is shown beside it,
  // outside the live region (it changes with every edit).
  const connection = h("span", { role: "status" });
  const saving = h("span", { class: "saving" });
  const status = h("p", { class: "connection" }, h("span", {}, connection, saving));
  const hereNow = h("ul", { class: "here-now", "aria-labelledby": "here-now-heading" });
  const undoButton = h("button", { type: "button", class: "button-small", text: "Undo", "aria-keyshortcuts": "Control+Z Meta+Z", onclick: () => step("undo") });
  const redoButton = h("button", { type: "button", class: "button-small", text: "Redo", "aria-keyshortcuts": "Control+Shift+Z Meta+Shift+Z Control+Y", onclick: () => step("redo") });
  const undoMessage = h("p", { class: "undo-message", role: "status" });
  const alerts = h("div", { class: "dialogue-alerts", role: "alert" });
  const tabLinks = TABS.map((tab) => h("a", { href: tab.id === "edit" ? base : `${base}/${tab.id}`, text: tab.label, "data-tab": tab.id,
    onclick: (/** @type {MouseEvent} */ event) => {
      if (event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
      event.preventDefault();
      history.pushState(null, "", /** @type {HTMLAnchorElement} */ (event.currentTarget).href);
      showTab(tab.id);
    } }));
  const panel = h("div", { class: "tab-panel" });
  replace(screen,
    h("header", { class: "dialogue-header" },
      h("div", { class: "title-row" },
        titleHeading,
        canEdit ? h("label", { class: "visually-hidden", for: "dialogue-title-input", text: "Dialogue title" }) : null,
        titleInput,
        status,
      ),
      h("div", { class: "toolbar" },
        h("div", { class: "presence" }, h("h2", { class: "toolbar-heading", id: "here-now-heading", text: "Here now" }), hereNow),
        canEdit ? h("div", { class: "history-buttons", role: "group", "aria-label": "Undo and redo" }, undoButton, redoButton, undoMessage) : null,
      ),
      canEdit ? null : h("p", { class: "read-only-notice", text: "You can view this dialogue but not edit it." }),
      h("nav", { class: "dialogue-tabs", "aria-label": "Dialogue views" }, h("ul", {}, tabLinks.map((link) => h("li", {}, link)))),
    ),
    alerts,
    panel,
  );
  screen.removeAttribute("aria-busy");

  const edit = h("div", { class: "edit-tab" });
  const editTab = mountEditTab(edit, { doc, blockTypes: types, canEdit, refusals, submit });
  flushTyping = () => {
    sendTitle();
    editTab.flushTyping();
  };

  /**
   * Submits a change made on this screen, remembering what it was about.
   * @param {import("/web/client/types.js").Patch} patch
   * @param {import("../editor/refusals.js").Target} target
   */
  function submit(patch, target) {
    try {
      const ref = doc.submit(patch);
      refusals.remember(ref, doc.content, target);
    } catch (error) {
      refusals.notices.set(keyOf(target), `Not applied: ${explain(error)}`);
      scheduleRender();
    }
  }

  /** @param {"undo" | "redo"} what */
  function step(what) {
    flushTyping();
    const done = what === "undo" ? doc.undo() : doc.redo();
    undoMessage.textContent = done.ok ? "" : `Cannot ${what}: ${done.reason}.`;
    if (done.ok) refusals.remember(done.ref, doc.content, {});
  }

  let renderQueued = false;
  function scheduleRender() {
    if (renderQueued) return;
    renderQueued = true;
    queueMicrotask(() => {
      renderQueued = false;
      render();
    });
  }

  function render() {
    const content = /** @type {any} */ (doc.content) ?? {};
    const title = content.title || "Untitled dialogue";
    titleHeading.textContent = title;
    if (titleInput && document.activeElement !== titleInput) titleInput.value = content.title ?? "";
    app.setTitle(title);
    const line = statusOf(doc, ended);
    if (connection.textContent !== line.text) connection.textContent = line.text;
    saving.textContent = line.detail;
    status.dataset.state = line.state;
    undoButton.disabled = !doc.canUndo;
    redoButton.disabled = !doc.canRedo;
    showAlert(alerts, refusals.notices.get(""), [], () => { refusals.notices.delete(""); render(); });
    if (currentTab === "edit") editTab.render();
  }

  /** @param {string} type @param {(event: any) => void} listener */
  function listen(type, listener) {
    doc.addEventListener(type, listener);
    cleanups.push(() => doc.removeEventListener(type, listener));
  }
  listen("change", scheduleRender);
  listen("status", scheduleRender);
  listen("welcome", () => {
    if (doc.canEdit !== canEdit) redraw();
  });
  listen("ack", (event) => {
    refusals.stored(event.detail.ref);
    scheduleRender();
  });
  listen("error", (event) => {
    const { ref, error } = event.detail;
    if (ref) refusals.refused(ref, error);
    else refusals.notices.set("", sentence(error));
    scheduleRender();
  });
  listen("peers", () => {
    renderHereNow(hereNow, app.user, doc.peers);
    if (currentTab === "edit") editTab.showPeers();
  });
  for (const [type, text] of Object.entries(ENDINGS)) listen(type, () => {
    ended = text;
    scheduleRender();
  });

  /** @param {KeyboardEvent} event */
  const shortcuts = (event) => {
    if (!canEdit || !(event.ctrlKey || event.metaKey) || event.altKey) return;
    const target = /** @type {HTMLElement} */ (event.target);
    if (target !== document.body && !screen.contains(target)) return;
    const key = event.key.toLowerCase();
    if (key !== "z" && key !== "y") return;
    // In a text field with typing not sent yet, the browser's own undo takes back the typing
    // (what a person expects there); once sent, the dialogue's undo takes the change back.
    if (isTextField(target) && target.dataset.typing === "true") return;
    event.preventDefault();
    step(key === "y" || event.shiftKey ? "redo" : "undo");
  };
  document.addEventListener("keydown", shortcuts);
  cleanups.push(() => document.removeEventListener("keydown", shortcuts));

  // The tabs.
  let currentTab = "";
  /** @type {(() => void) | undefined} */
  let unmountTab;
  cleanups.push(() => unmountTab?.());
  let tabCounter = 0;

  /** @param {string} id */
  async function showTab(id) {
    const tab = TABS.find((t) => t.id === id) ?? TABS[0];
    if (tab.id === currentTab) return;
    if (currentTab === "edit") flushTyping(); // its fields leave the page
    currentTab = tab.id;
    const mine = ++tabCounter;
    unmountTab?.();
    unmountTab = undefined;
    for (const link of tabLinks) {
      if (link.dataset.tab === tab.id) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
    if (!tab.module) {
      replace(panel, edit);
      render();
      return;
    }
    const container = h("div", { class: "tab-content", "aria-busy": "true" });
    replace(panel, container);
    try {
      const module = await import(tab.module);
      if (mine !== tabCounter) return;
      container.removeAttribute("aria-busy");
      const done = await module.mount(container, { api: app.api, app, project, dialogue, doc, canEdit });
      if (mine !== tabCounter) done?.();
      else unmountTab = done;
    } catch (error) {
      if (mine !== tabCounter) return;
      container.removeAttribute("aria-busy");
      replace(container, h("h2", { text: tab.label }), h("p", { class: "error", role: "alert", text: `The ${tab.label} view could not be shown: ${explain(error)}` }));
    }
  }

  /** Draws the whole screen again (the person's rights changed). */
  function redraw() {
    const tab = currentTab;
    flushTyping();
    flushTyping = () => {};
    for (const cleanup of cleanups.splice(0).reverse()) if (cleanup !== closeDoc) cleanup();
    cleanups.push(closeDoc);
    mount(root, { ...params, tab }, app, doc).then(
      (inner) => {
        // Unmounted while the new screen was being drawn: it goes at once (and the session with it).
        if (unmounted) inner();
        else {
          flushTyping = inner.flushTyping;
          cleanups.push(inner);
        }
      },
      (error) => console.error("the dialogue screen could not be drawn again:", error),
    );
  }

  renderHereNow(hereNow, app.user, doc.peers);
  await showTab(params.tab ?? "edit");
  render();
  return unmountScreen;
}

/**
 * The IndexedDB storage of a person's changes not sent yet, its connection closed by `close()`
 * once the saves under way are done (so deleting the database on sign-out is not blocked).
 * @param {string} name
 */
function pendingStorage(name) {
  const storage = new IndexedDBStorage(name);
  /** @type {Set<Promise<unknown>>} */
  const underWay = new Set();
  /** @template T @param {Promise<T>} work @returns {Promise<T>} */
  const track = (work) => {
    underWay.add(work);
    work.catch(() => {}).finally(() => underWay.delete(work));
    return work;
  };
  return {
    /** @param {string} key */
    load: (key) => track(storage.load(key)),
    /** @param {string} key @param {unknown} value */
    save: (key, value) => track(storage.save(key, value)),
    async close() {
      await Promise.allSettled([...underWay]);
      (await storage.opened?.catch(() => undefined))?.close();
    },
  };
}

/**
 * Whether `element` takes typed text (its `data-typing` says it holds typing not sent yet).
 * @param {HTMLElement} element
 */
function isTextField(element) {
  return element instanceof HTMLTextAreaElement || (element instanceof HTMLInputElement && !["checkbox", "radio", "button", "submit"].includes(element.type));
}

