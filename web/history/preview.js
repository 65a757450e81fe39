// A dialogue shown read-only and compactly (its sequences, and each block's id, type and gist),
// for previewing it as of a revision. Values the loaded history does not tell are marked.

import { h } from "../ui.js";
import { UNKNOWN } from "./replay.js";

const NOT_KNOWN = "(not in the loaded history)";

/**
 * The dialogue as an element.
 * @param {any} dialogue
 * @param {(type: string) => string} blockTitle
 * @returns {HTMLElement}
 */
export function renderDialogue(dialogue, blockTitle) {
  if (dialogue === UNKNOWN || !dialogue) return h("p", { class: "unknown", text: NOT_KNOWN });
  const sequences = Array.isArray(dialogue.sequences) ? dialogue.sequences : [];
  return h(
    "div",
    { class: "dialogue-preview" },
    h("p", { class: "preview-title" }, h("span", { class: "label", text: "Title: " }), shown(dialogue.title)),
    dialogue.is_archived === true && h("p", { class: "badge", text: "Archived" }),
    sequences.length === 0 && h("p", { text: "No sequences." }),
    sequences.map((sequence) => renderSequence(sequence, blockTitle)),
  );
}

/**
 * Whether `dialogue` holds a value the loaded history does not tell.
 * @param {unknown} value
 * @returns {boolean}
 */
export function hasUnknown(value) {
  if (value === UNKNOWN) return true;
  if (value === null || typeof value !== "object") return false;
  return Object.values(value).some(hasUnknown);
}

/**
 * @param {any} sequence
 * @param {(type: string) => string} blockTitle
 */
function renderSequence(sequence, blockTitle) {
  if (sequence === UNKNOWN) return h("section", { class: "preview-sequence" }, h("h4", { text: `A sequence ${NOT_KNOWN}` }));
  const blocks = Array.isArray(sequence.blocks) ? sequence.blocks : [];
  return h(
    "section",
    { class: "preview-sequence" },
    h("h4", {}, shown(sequence.title), " ", h("code", { class: "id" }, shown(sequence.id))),
    blocks.length === 0
      ? h("p", { class: "empty", text: "No blocks." })
      : h("ol", { class: "preview-blocks" }, blocks.map((block) => renderBlock(block, blockTitle))),
  );
}

/**
 * @param {any} block
 * @param {(type: string) => string} blockTitle
 */
function renderBlock(block, blockTitle) {
  if (block === UNKNOWN) return h("li", { class: "unknown", text: `A block ${NOT_KNOWN}` });
  const type = typeof block.type === "string" ? blockTitle(block.type) : NOT_KNOWN;
  return h(
    "li",
    {},
    h("code", { class: "id" }, shown(block.id)),
    h("span", { class: "block-type", text: type }),
    gist(block.properties),
  );
}

/**
 * The one-line gist of a block's properties: its text or question, its choices, its URL.
 * @param {any} properties
 */
function gist(properties) {
  if (properties === UNKNOWN) return h("span", { class: "gist unknown", text: NOT_KNOWN });
  if (!properties || typeof properties !== "object") return null;
  const main = properties.text ?? properties.question ?? properties.url ?? (properties.field !== undefined ? `${shownText(properties.field)} ${properties.operator ?? "="} ${shownText(properties.value)}` : undefined);
  const choices = Array.isArray(properties.choices)
    ? properties.choices.map((/** @type {any} */ c) => (c === UNKNOWN ? NOT_KNOWN : `${shownText(c.label)} → ${shownText(c.next)}`)).join(", ")
    : undefined;
  return h("span", { class: "gist" }, main !== undefined && shownText(main), choices && ` [${choices}]`);
}

/** @param {unknown} value */
function shown(value) {
  return value === UNKNOWN ? h("span", { class: "unknown", text: NOT_KNOWN }) : shownText(value);
}

/** @param {unknown} value */
function shownText(value) {
  if (value === UNKNOWN) return NOT_KNOWN;
  return typeof value === "string" ? value : JSON.stringify(value) ?? "";
}
