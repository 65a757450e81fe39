// The live connection as a person sees it: a sentence for its status, with whether changes are
// still waiting to be sent. (The client follows the browser's offline and online signals itself.)

/** @typedef {import("/web/client/live.js").LiveDialogue} LiveDialogue */

/**
 * What the status line says: `text` the connection's state (announced when it changes), and
 * `detail` whether changes are saved (shown beside it, not announced: it changes on every edit).
 * @param {LiveDialogue} doc
 * @param {string | undefined} ended why the session ended for good, if it did
 * @returns {{ state: string, text: string, detail: string }}
 */
export function statusOf(doc, ended) {
  if (ended) return { state: "closed", text: ended, detail: "" };
  const offline = doc.status === "offline" || (typeof navigator !== "undefined" && navigator.onLine === false);
  const waiting = doc.pending;
  if (offline) {
    const count = waiting ? ` (${waiting} waiting)` : "";
    return { state: "offline", text: "Offline — your changes will be sent when the connection returns", detail: count };
  }
  switch (doc.status) {
    case "live":
      return { state: "live", text: "Live", detail: waiting ? ` — saving ${waiting} change${waiting === 1 ? "" : "s"}…` : " — all changes saved" };
    case "connecting":
      return { state: "connecting", text: "Connecting…", detail: "" };
    case "resyncing":
      return { state: "connecting", text: "Resyncing…", detail: "" };
    default:
      return { state: "closed", text: "Disconnected", detail: "" };
  }
}
