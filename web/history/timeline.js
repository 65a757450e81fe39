// The History tab: the revision timeline (who, when, and a readable summary of each change,
// newest first, older ones on demand, new ones live), a read-only preview of the dialogue as a
// chosen revision left it (asked of the server), and reverting to it.

import { busy, explain, h, replace, showError } from "../ui.js";
import { blockTypesOf } from "../flow/references.js";
import { people } from "./people.js";
import { renderDialogue } from "./preview.js";
import { RevisionHistory } from "./revisions.js";
import { summarize } from "./summary.js";
import { keepTimesCurrent, timeOf } from "./time.js";

/**
 * @typedef {import("./revisions.js").Revision} Revision
 * @typedef {{ api: any, app: any, project: string, dialogue: string, doc: any, canEdit: boolean }} Context
 */

/**
 * Shows the timeline in `root`.
 * @param {HTMLElement} root
 * @param {Context} ctx
 * @returns {() => void} unmount
 */
export function mount(root, ctx) {
  const history = new RevisionHistory(ctx.api, ctx.project, ctx.dialogue);
  const names = people(ctx);
  /** @type {Map<string, string>} block type → title */
  const blockTitles = new Map();
  const blockTitle = (/** @type {string} */ type) => blockTitles.get(type) ?? type;
  /** @type {number | undefined} the previewed revision */
  let selected;

  const status = h("p", { class: "status", role: "status" });
  const list = h("ol", { class: "timeline-list", "aria-labelledby": "timeline-heading" });
  const older = h("button", { type: "button", hidden: true, text: "Show older revisions", onclick: () => showOlder() });
  // Scrolls on its own when long: focusable so the keyboard can scroll it.
  const preview = h("section", { class: "revision-preview", tabindex: "0", role: "region", "aria-labelledby": "preview-heading" });
  /** What became of the last revert, kept across re-renders of the preview. */
  const notice = h("p", { class: "message", role: "status" });
  replace(
    root,
    h(
      "div",
      { class: "history-columns" },
      h("section", { class: "timeline", "aria-busy": "true" }, h("h2", { id: "timeline-heading", text: "Revisions" }), status, list, older),
      preview,
    ),
  );
  const timeline = /** @type {HTMLElement} */ (root.querySelector(".timeline"));
  showNothingSelected();

  history.addEventListener("changed", render);
  const onRevision = (/** @type {any} */ event) => history.add(event.detail.revision).catch((error) => showError(status, error));
  ctx.doc.addEventListener("revision", onRevision);
  ctx.doc.addEventListener("ack", onRevision);
  const stopTimes = keepTimesCurrent(root);

  Promise.all([blockTypesOf(ctx.api).then((types) => types.forEach((t) => blockTitles.set(t.type, t.title ?? t.type))), history.load()])
    .catch((error) => showError(status, error))
    .finally(() => timeline.removeAttribute("aria-busy"));

  /** The list's entries by revision number, as drawn. @type {Map<number, HTMLLIElement>} */
  const drawn = new Map();

  /**
   * Brings the list up to date without redrawing what it shows already (an entry keeps its
   * focus): new revisions go in at their place, the preview and a revert being confirmed stay.
   */
  function render() {
    status.textContent = history.revisions.length === 0 ? "No revisions yet: the dialogue is as it was created." : "";
    const numbers = new Set(history.revisions.map((revision) => revision.number));
    for (const [number, item] of drawn) if (!numbers.has(number)) { item.remove(); drawn.delete(number); }
    history.revisions.forEach((revision, index) => {
      const item = drawn.get(revision.number) ?? entry(revision);
      drawn.set(revision.number, item);
      if (list.children[index] !== item) list.insertBefore(item, list.children[index] ?? null);
    });
    older.hidden = !history.hasOlder;
    // The preview is drawn again only when it is not there yet or its revision stopped being
    // the newest (it can be reverted to now); else a revert being confirmed stays open.
    const stale = !preview.querySelector("[data-revision]") || (preview.querySelector(".current-version") && selected !== history.newest);
    if (selected !== undefined && stale) showPreview(selected);
  }

  /** @param {Revision} revision */
  function entry(revision) {
    const who = h("span", { class: "who", text: "…" });
    names.nameOf(revision.user_id).then((name) => (who.textContent = name));
    const isSelected = revision.number === selected;
    return h(
      "li",
      { class: isSelected ? "revision selected" : "revision", "data-number": String(revision.number) },
      h(
        "div",
        { class: "revision-head" },
        h("span", { class: "number", text: `Revision ${revision.number}` }),
        revision.type === "revert" && h("span", { class: "badge warning", text: "Revert" }),
        who,
        timeOf(revision.created),
      ),
      h("p", { class: "summary", text: summarize(revision, history.states.get(revision.number), { blockTitle, revisionNumber: (id) => history.numbers.get(id) }) }),
      h(
        "button",
        { type: "button", class: "button-link", "aria-pressed": String(isSelected), "aria-controls": "revision-preview", onclick: () => select(revision.number) },
        "Preview",
        h("span", { class: "visually-hidden", text: ` revision ${revision.number}` }),
      ),
    );
  }

  /** @param {number} number */
  function select(number) {
    selected = number;
    notice.textContent = "";
    list.querySelectorAll("li.revision").forEach((item) => {
      const mine = /** @type {HTMLElement} */ (item).dataset.number === String(number);
      item.classList.toggle("selected", mine);
      item.querySelector("button")?.setAttribute("aria-pressed", String(mine));
    });
    showPreview(number);
    preview.querySelector("h2")?.focus();
  }

  function showNothingSelected() {
    replace(preview, h("h2", { id: "preview-heading", text: "Preview" }), h("p", { class: "hint", text: "Choose a revision to see the dialogue as it was right after it." }));
    preview.id = "revision-preview";
  }

  /** @param {number} number */
  function showPreview(number) {
    const revision = history.revisions.find((r) => r.number === number);
    if (!revision) return showNothingSelected();
    const who = h("span", { class: "who" });
    names.nameOf(revision.user_id).then((name) => (who.textContent = name));
    const isNewest = number === history.newest;
    const content = h("div", { class: "preview-content", "aria-busy": "true", "data-revision": String(number) }, h("p", { class: "hint", text: "Loading this revision…" }));
    replace(
      preview,
      h("h2", { id: "preview-heading", tabindex: "-1", text: `Revision ${number}, as it was` }),
      h("p", { class: "meta" }, who, " · ", timeOf(revision.created), isNewest && h("span", { class: "current-version", text: " · the current version" })),
      ctx.canEdit && !isNewest && revertControls(revision),
      notice,
      content,
    );
    history.dialogueAfter(revision).then(
      (dialogue) => replace(content, renderDialogue(dialogue, blockTitle)),
      (error) => replace(content, h("p", { class: "message", role: "alert", text: explain(error) })),
    ).finally(() => content.removeAttribute("aria-busy"));
  }

  /** @param {Revision} revision */
  function revertControls(revision) {
    const area = h("div", { class: "revert" });
    const ask = h("button", { type: "button", text: "Revert to this revision", onclick: () => confirm() });
    replace(area, ask);
    function confirm() {
      const yes = h("button", { type: "button", class: "button-danger", text: "Revert", onclick: () => revert(yes) });
      const no = h("button", { type: "button", text: "Cancel", onclick: () => { replace(area, ask); ask.focus(); } });
      replace(
        area,
        h("div", { class: "confirm", role: "group", "aria-labelledby": "revert-question" },
          h("p", { id: "revert-question", text: `Bring the dialogue back to how it was right after revision ${revision.number}? This makes a new revision; nothing is lost.` }),
          h("div", { class: "actions" }, yes, no)),
      );
      yes.focus();
    }
    /** @param {HTMLButtonElement} button */
    async function revert(button) {
      notice.setAttribute("role", "status");
      notice.textContent = "";
      try {
        const made = await busy(button, history.revert(revision));
        notice.textContent = `Reverted to revision ${revision.number}: the dialogue is as it was then (new revision ${made.number}).`;
      } catch (error) {
        showError(notice, error);
      }
    }
    return area;
  }

  async function showOlder() {
    await busy(older, history.loadOlder()).catch((error) => showError(status, error));
    older.focus();
  }


  return () => {
    ctx.doc.removeEventListener("revision", onRevision);
    ctx.doc.removeEventListener("ack", onRevision);
    history.removeEventListener("changed", render);
    stopTimes();
  };
}
