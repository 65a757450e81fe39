// The Releases tab: publishing a release of the dialogue's current revision (what end users'
// conversations then run on), and the releases made so far, newest first, each with the
// revision it froze and who published it; releases made elsewhere appear as they happen.

import { allPages, busy, h, replace, showError } from "../ui.js";
import { administers } from "../people.js";
import { people } from "./people.js";
import { keepTimesCurrent, timeOf } from "./time.js";

/**
 * @typedef {{ id: string, number: number, revision_id: string, revision_number: number, user_id: string, created: number }} Release
 * @typedef {{ id: string, number: number }} RevisionRef
 */

/**
 * Shows the releases in `root`.
 * @param {HTMLElement} root
 * @param {{ api: any, app: any, project: string, dialogue: string, doc: any, canEdit: boolean }} ctx
 * @returns {() => void} unmount
 */
export function mount(root, ctx) {
  const path = `/projects/${encodeURIComponent(ctx.project)}/dialogues/${encodeURIComponent(ctx.dialogue)}`;
  /** @type {Release[]} newest first */
  let releases = [];
  /** @type {RevisionRef | null | undefined} the newest stored revision (null: none yet) */
  let current;
  const names = people(ctx);
  const mayPublish = administers(ctx.app.user, ctx.project);

  const currentText = h("p", { class: "current" });
  const publish = h("button", { type: "button", class: "button-primary", text: "Publish a release", onclick: () => publishCurrent() });
  const message = h("p", { class: "message", role: "status" });
  const status = h("p", { class: "status", role: "status" });
  const list = h("ol", { class: "release-list", "aria-labelledby": "releases-heading" });
  const section = h(
    "section",
    { class: "releases", "aria-busy": "true" },
    h("h2", { text: "Publish" }),
    h("p", { class: "hint", text: "A release freezes the dialogue as it is now: end users' conversations run on the newest release." }),
    currentText,
    mayPublish ? publish : h("p", { class: "hint", text: "Only project administrators can publish releases." }),
    message,
    h("h2", { id: "releases-heading", text: "Releases" }),
    status,
    list,
  );
  replace(root, section);

  const onRelease = (/** @type {any} */ event) => addRelease(event.detail.release);
  const onRevision = (/** @type {any} */ event) => {
    const { id, number } = event.detail.revision;
    if (!current || number > current.number) setCurrent({ id, number });
  };
  ctx.doc.addEventListener("release", onRelease);
  ctx.doc.addEventListener("revision", onRevision);
  ctx.doc.addEventListener("ack", onRevision);
  const stopTimes = keepTimesCurrent(root);

  load()
    .catch((error) => showError(status, error))
    .finally(() => section.removeAttribute("aria-busy"));

  async function load() {
    const [newest, page] = await Promise.all([
      ctx.api.request("GET", `${path}/revisions/?per_page=1&ordering=-number`),
      allPages(ctx.api, `${path}/releases/?ordering=-number`),
    ]);
    releases = mergeNewestFirst(releases, page);
    if (current === undefined) setCurrent(newest[0] ? { id: newest[0].id, number: newest[0].number } : null);
    render();
  }

  /** @param {RevisionRef | null} revision */
  function setCurrent(revision) {
    current = revision;
    currentText.textContent = revision === null ? "The dialogue has no revision yet, so there is nothing to publish." : `Current version: revision ${revision.number}.`;
    publish.disabled = revision === null;
    render();
  }

  function render() {
    const released = releases.find((r) => r.revision_id === current?.id);
    if (released && current) currentText.textContent = `Current version: revision ${current.number}, already published as release ${released.number}.`;
    status.textContent = releases.length === 0 ? "No releases yet." : "";
    replace(list, releases.map(item));
  }

  /** @param {Release} release */
  function item(release) {
    const who = h("span", { class: "who", text: "…" });
    names.nameOf(release.user_id).then((name) => (who.textContent = name));
    return h(
      "li",
      { class: "release" },
      h("span", { class: "number", text: `Release ${release.number}` }),
      h("span", { class: "freezes" }, "freezes ", h("span", { class: "frozen", text: `revision ${release.revision_number}` })),
      h("span", { class: "by" }, "published by ", who),
      timeOf(release.created),
    );
  }

  /** @param {Release} release */
  function addRelease(release) {
    releases = mergeNewestFirst(releases, [release]);
    render();
  }

  async function publishCurrent() {
    if (!current) return;
    message.setAttribute("role", "status");
    message.textContent = "";
    try {
      const made = await busy(publish, ctx.api.request("POST", `${path}/releases/`, { revision_id: current.id }));
      addRelease(made);
      message.textContent = `Published release ${made.number} of revision ${made.revision_number}.`;
    } catch (error) {
      showError(message, error);
    }
  }

  return () => {
    ctx.doc.removeEventListener("release", onRelease);
    ctx.doc.removeEventListener("revision", onRevision);
    ctx.doc.removeEventListener("ack", onRevision);
    stopTimes();
  };
}

/**
 * The releases of both lists, once each, newest first.
 * @param {Release[]} known
 * @param {Release[]} more
 */
function mergeNewestFirst(known, more) {
  const byNumber = new Map([...known, ...more].map((r) => [r.number, r]));
  return [...byNumber.values()].sort((a, b) => b.number - a.number);
}
