// Who else is on the dialogue: a person's name and a stable colour per session, the "Here now"
// list of the header, and the coloured name markers drawn on the block each peer has selected.

import { h, replace } from "../ui.js";
import { displayName } from "../people.js";

/** @typedef {import("/web/client/live.js").Peer} Peer */

/** Colours dark enough for white text (contrast 4.5:1 or more). */
const PALETTE = ["#1d4ed8", "#b91c1c", "#047857", "#7c3aed", "#a16207", "#be185d", "#0e7490", "#4d7c0f"];

/**
 * The colour of a session, the same on every screen.
 * @param {string} sessionId
 */
export function colourOf(sessionId) {
  let hash = 0;
  for (const char of sessionId) hash = (hash * 31 + char.charCodeAt(0)) >>> 0;
  return PALETTE[hash % PALETTE.length];
}

/**
 * A small label with a person's name in their colour.
 * @param {Peer} peer
 * @param {string} [className]
 */
export function badge(peer, className = "peer-badge") {
  const element = h("span", { class: className, text: displayName(peer.user, "Someone") });
  element.style.backgroundColor = colourOf(peer.session_id);
  return element;
}

/**
 * Fills the "Here now" list: this user first, then every other session.
 * @param {HTMLElement} list a <ul>
 * @param {{ first_name?: string, last_name?: string } | undefined} me
 * @param {Map<string, Peer>} peers
 */
export function renderHereNow(list, me, peers) {
  replace(list,
    h("li", {}, h("span", { class: "peer-badge peer-self", text: `${displayName(me, "Someone")} (you)` })),
    [...peers.values()].map((peer) => h("li", {}, badge(peer))),
  );
}

/**
 * The peers whose selection is the block `sequenceId`/`blockId`.
 * @param {Map<string, Peer>} peers
 * @param {string} sequenceId
 * @param {string} blockId
 */
export function peersOn(peers, sequenceId, blockId) {
  return [...peers.values()].filter((peer) => {
    const selection = /** @type {any} */ (peer.selection);
    return selection && selection.sequence_id === sequenceId && selection.block_id === blockId;
  });
}

/**
 * Draws the markers of the peers on one block.
 * @param {HTMLElement} container
 * @param {Peer[]} peers
 */
export function renderMarkers(container, peers) {
  const names = peers.map((peer) => displayName(peer.user, "Someone"));
  const key = peers.map((peer) => peer.session_id).join(",");
  if (container.dataset.peers === key) return;
  container.dataset.peers = key;
  replace(container, peers.map((peer) => badge(peer, "peer-marker")));
  container.hidden = peers.length === 0;
  if (peers.length) container.setAttribute("aria-label", `Also here: ${names.join(", ")}`);
  else container.removeAttribute("aria-label");
}
