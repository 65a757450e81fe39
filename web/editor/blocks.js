// One block of a sequence as a card: its type and id, the peers on it, the move and remove
// buttons, why its last change was refused, and the form of its properties generated from its
// block type's schema.

import { h, showAlert } from "../ui.js";
import { renderForm } from "./form.js";
import { referencePatterns } from "./schema.js";

/** @typedef {import("/web/client/types.js").Patch} Patch */
/** @typedef {{ type: string, title: string, schema: import("./schema.js").Schema }} BlockType */

/**
 * @typedef {object} BlockView
 * @property {{ id: string, type: string, properties?: unknown }} block
 * @property {string} sequenceId
 * @property {number} index the block's place in its sequence
 * @property {number} count how many blocks the sequence has
 * @property {BlockType | undefined} blockType
 * @property {{ id: string, title: string }[]} sequences
 * @property {boolean} canEdit
 * @property {Map<string, string[]>} errors field errors (pointer inside properties → messages)
 * @property {string | undefined} notice why the last change was refused
 * @property {Set<() => void>} pending typed text not sent yet (filled in by the form)
 * @property {Set<(sequences: { id: string, title: string }[]) => void>} references redraws the
 *   block's sequence pickers (filled in by the form)
 * @property {(patch: Patch, guards: import("./form.js").ListGuard[]) => void} submit a patch
 *   relative to the block's `properties`, with the lists it reaches into as they were drawn
 * @property {(delta: number) => void} move
 * @property {() => void} remove
 * @property {() => void} dismiss forgets the notice
 */

/**
 * The inside of a block's card (the <li> around it belongs to the sequence). Why its last
 * change was refused goes into `alert`, the block's live region, made once by the sequence.
 * @param {BlockView} view
 * @param {string} key the block's key (`sequence/block`), for element ids
 * @param {HTMLElement} alert
 * @returns {HTMLElement}
 */
export function renderBlock(view, key, alert) {
  const { block, canEdit } = view;
  const idPrefix = `b-${key.replace(/[^a-z0-9-]/g, "_")}`;
  const headingId = `${idPrefix}-heading`;
  const title = view.blockType?.title ?? block.type;
  const actions = canEdit
    ? h("div", { class: "block-actions" },
        h("span", { class: "drag-handle", draggable: "true", title: "Drag to move", "aria-hidden": "true", text: "⠿" }),
        h("button", { type: "button", class: "button-small", text: "Move up", disabled: view.index === 0, "data-move": "up", "data-focus": `${idPrefix}-up`, "aria-label": `Move up ${title} ${block.id}`, onclick: () => view.move(-1) }),
        h("button", { type: "button", class: "button-small", text: "Move down", disabled: view.index === view.count - 1, "data-move": "down", "data-focus": `${idPrefix}-down`, "aria-label": `Move down ${title} ${block.id}`, onclick: () => view.move(1) }),
        h("button", { type: "button", class: "button-small button-danger", text: "Remove", "data-focus": `${idPrefix}-remove`, "aria-label": `Remove ${title} ${block.id}`, onclick: view.remove }),
      )
    : null;
  const shown = new Set();
  const form = view.blockType
    ? renderForm(view.blockType.schema, {
        root: view.blockType.schema,
        patterns: referencePatterns(view.blockType.schema),
        sequences: view.sequences,
        sequenceId: view.sequenceId,
        value: block.properties ?? {},
        disabled: !canEdit,
        idPrefix,
        errors: view.errors,
        shown,
        pending: view.pending,
        references: view.references,
        submit: view.submit,
      })
    : h("div", { class: "block-form" },
        h("p", { class: "field-warning", text: `“${block.type}” is not a registered block type: its properties cannot be edited here.` }),
        h("pre", { class: "block-json", text: JSON.stringify(block.properties ?? {}, null, 2) }),
      );
  const unshown = [...view.errors].filter(([pointer]) => !shown.has(pointer)).flatMap(([pointer, messages]) => messages.map((m) => (pointer.startsWith(":") ? m : `${pointer}: ${m}`)));
  showAlert(alert, view.notice, view.notice ? unshown : [], view.dismiss, `${idPrefix}-dismiss`);
  return h("article", { class: "block-card", "aria-labelledby": headingId },
    h("header", { class: "block-header" },
      h("h3", { id: headingId }, title, " ", h("code", { class: "block-id", text: block.id })),
      h("div", { class: "peer-markers", hidden: true }),
      actions,
    ),
    view.blockType?.schema.description ? h("p", { class: "hint block-description", text: view.blockType.schema.description }) : null,
    form,
  );
}
