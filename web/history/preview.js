// A dialogue shown read-only and compactly (its title, its sequences, and each block's id, type
// and gist), for previewing it as a revision left it.

import { h } from "../ui.js";

/**
 * The dialogue as an element.
 * @param {any} dialogue a dialogue description
 * @param {(type: string) => string} blockTitle
 * @returns {HTMLElement}
 */
export function renderDialogue(dialogue, blockTitle) {
  const sequences = Array.isArray(dialogue.sequences) ? dialogue.sequences : [];
  return h(
    "div",
    { class: "dialogue-preview" },
    h("p", { class: "preview-title" }, h("span", { class: "label", text: "Title: " }), text(dialogue.title)),
    dialogue.is_archived === true && h("p", { class: "badge", text: "Archived" }),
    sequences.length === 0 && h("p", { text: "No sequences." }),
    sequences.map((sequence) => renderSequence(sequence, blockTitle)),
  );
}

/**
 * @param {any} sequence
 * @param {(type: string) => string} blockTitle
 */
function renderSequence(sequence, blockTitle) {
  const blocks = Array.isArray(sequence.blocks) ? sequence.blocks : [];
  return h(
    "section",
    { class: "preview-sequence" },
    h("h3", {}, text(sequence.title), " ", h("code", { class: "id" }, text(sequence.id))),
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
  return h(
    "li",
    {},
    h("code", { class: "id" }, text(block.id)),
    h("span", { class: "block-type", text: blockTitle(String(block.type)) }),
    gist(block.properties),
  );
}

/**
 * The one-line gist of a block's properties: its text or question, its choices, its URL.
 * @param {any} properties
 */
function gist(properties) {
  if (!properties || typeof properties !== "object") return null;
  const main = properties.text ?? properties.question ?? properties.url ?? (properties.field !== undefined ? test(properties) : undefined);
  const choices = Array.isArray(properties.choices)
    ? properties.choices.map((/** @type {any} */ c) => `${text(c.label)} → ${text(c.next)}`).join(", ")
    : undefined;
  return h("span", { class: "gist" }, main !== undefined && text(main), choices && ` [${choices}]`);
}

/**
 * A condition's (or a set-field's) test: "due_week greater-than 20 → late, else → tips".
 * @param {any} properties
 */
function test(properties) {
  const compared = properties.operator === "exists" || properties.value === undefined ? "" : ` ${text(properties.value)}`;
  const goes = properties.next ? ` → ${properties.next}` : "";
  const otherwise = properties.else ? `, else → ${properties.else}` : "";
  return `${text(properties.field)} ${properties.operator ?? "="}${compared}${goes}${otherwise}`;
}

/** @param {unknown} value */
function text(value) {
  return typeof value === "string" ? value : JSON.stringify(value) ?? "";
}
