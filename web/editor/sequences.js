// The Edit tab: the dialogue's sequences and their blocks, kept in step with the live content.
// Sequences can be added, renamed and removed; blocks added, removed, and reordered by
// drag-and-drop or by keyboard (Move up/down buttons, Alt+ArrowUp/Down on a focused block).
// Rendering is keyed by id and rebuilds only the blocks that changed, keeping the focus (and a
// text field's caret) where it was; typed text not sent yet is sent before its block is redrawn.

import { h, replace, showAlert } from "../ui.js";
import { renderBlock } from "./blocks.js";
import { followDrags } from "./dragging.js";
import { keepFocus } from "./focus.js";
import { peersOn, renderMarkers } from "./presence.js";
import { keyOf } from "./refusals.js";
import { initialValue, referencePatterns } from "./schema.js";
import { tokensOf } from "../pointer.js";

/** @typedef {import("/web/client/types.js").Patch} Patch */
/** @typedef {import("./blocks.js").BlockType} BlockType */
/** @typedef {import("./refusals.js").Target} Target */
/** @typedef {{ li: HTMLLIElement, alert: HTMLElement, signature: string, pending: Set<() => void>, references: Set<(sequences: { id: string, title: string }[]) => void>, summary: string }} BlockElement */
/** @typedef {{ element: HTMLElement, header: HTMLElement, alert: HTMLElement, list: HTMLOListElement, adder: HTMLElement, signature: string, blocks: Map<string, BlockElement>, pending: Set<() => void> }} SequenceElement */

/**
 * @typedef {object} EditOptions
 * @property {import("/web/client/live.js").LiveDialogue} doc
 * @property {BlockType[]} blockTypes
 * @property {boolean} canEdit
 * @property {import("./refusals.js").Refusals} refusals
 * @property {(patch: Patch, target: Target) => void} submit
 */

/**
 * Mounts the Edit tab into `root`.
 * @param {HTMLElement} root
 * @param {EditOptions} options
 * @returns {{ render(): void, showPeers(): void, flushTyping(): void }}
 */
export function mountEditTab(root, options) {
  const { doc, refusals, canEdit } = options;
  const types = new Map(options.blockTypes.map((type) => [type.type, type]));
  /** @type {Map<string, SequenceElement>} */
  const sequences = new Map();
  const list = h("div", { class: "sequence-list" });
  const empty = h("p", { class: "empty", text: "This dialogue has no sequences yet." });
  root.append(empty, list, canEdit ? addSequenceForm() : null);

  /** The dialogue's sequences now. @returns {any[]} */
  const current = () => /** @type {any} */ (doc.content)?.sequences ?? [];

  /**
   * Where a block is now (indexes move as others edit).
   * @param {string} sequenceId
   * @param {string} [blockId]
   */
  function locate(sequenceId, blockId) {
    const s = current().findIndex((sequence) => sequence.id === sequenceId);
    const b = s === -1 || blockId === undefined ? -1 : current()[s].blocks.findIndex((/** @type {any} */ block) => block.id === blockId);
    return { s, b, sequence: current()[s], block: current()[s]?.blocks[b] };
  }

  function addSequenceForm() {
    const input = h("input", { id: "new-sequence-title", type: "text", required: true, "data-focus": "new-sequence-title" });
    return h("form", { class: "add-sequence", onsubmit: (/** @type {Event} */ event) => {
      event.preventDefault();
      const title = input.value.trim();
      if (!title) return input.focus();
      const taken = new Set(current().map((sequence) => sequence.id));
      const base = title.toLowerCase().normalize("NFKD").replace(/[^a-z0-9]+/g, "-").replace(/^[^a-z]+|-+$/g, "").slice(0, 60) || "sequence";
      let id = base;
      for (let n = 2; taken.has(id); n += 1) id = `${base}-${n}`;
      options.submit([{ op: "add", path: "/sequences/-", value: { id, title, blocks: [] } }], { sequenceId: id });
      input.value = "";
    } },
      h("label", { for: input.id, text: "New sequence title" }), input, h("button", { type: "submit", class: "button-primary", text: "Add sequence" }));
  }

  /** @param {string} sequenceId */
  function sequenceElement(sequenceId) {
    const header = h("header", { class: "sequence-header" });
    const alert = h("div", { class: "sequence-notice", role: "alert" });
    const list = h("ol", { class: "blocks", "data-sequence": sequenceId });
    const adder = h("div", { class: "add-block" });
    const element = h("section", { class: "sequence", "data-sequence": sequenceId, "aria-labelledby": `s-${sequenceId}-heading` }, header, alert, list, adder);
    const made = { element, header, alert, list, adder, signature: "", blocks: new Map(), pending: new Set() };
    sequences.set(sequenceId, made);
    return made;
  }

  /**
   * @param {SequenceElement} view
   * @param {any} sequence
   */
  function renderSequenceHeader(view, sequence) {
    const notice = refusals.notices.get(sequence.id);
    showAlert(view.alert, notice, [], () => { refusals.notices.delete(sequence.id); render(); });
    const signature = JSON.stringify([sequence.title]);
    if (view.signature === signature) return;
    for (const send of [...view.pending]) send();
    view.signature = signature;
    const headingId = `s-${sequence.id}-heading`;
    const titleId = `s-${sequence.id}-title`;
    const title = sequence.title || sequence.id;
    replace(view.header,
      h("h2", { id: headingId, class: canEdit ? "visually-hidden" : "sequence-title" }, `Sequence: ${title}`),
      canEdit ? h("label", { class: "visually-hidden", for: titleId, text: `Title of sequence ${sequence.id}` }) : null,
      canEdit ? titleInput(view, sequence, titleId) : null,
      h("code", { class: "sequence-id", text: sequence.id }),
      canEdit ? h("button", { type: "button", class: "button-small button-danger", text: "Remove sequence", "aria-label": `Remove sequence ${title}`, "data-focus": `s-${sequence.id}-remove`,
        onclick: () => {
          const { s } = locate(sequence.id);
          if (s !== -1) options.submit([{ op: "remove", path: `/sequences/${s}` }], {});
        } }) : null,
    );
    if (canEdit && !view.adder.hasChildNodes()) view.adder.append(addBlockForm(sequence.id));
  }

  /**
   * The title of a sequence, sent on change (and by a flush while it is being typed).
   * @param {SequenceElement} view
   * @param {any} sequence
   * @param {string} id
   */
  function titleInput(view, sequence, id) {
    const input = h("input", { id, class: "title-input sequence-title", type: "text", value: sequence.title ?? "", "data-focus": id });
    const commit = () => {
      view.pending.delete(commit);
      delete input.dataset.typing;
      const { s } = locate(sequence.id);
      if (s !== -1 && input.value !== sequence.title) options.submit([{ op: "replace", path: `/sequences/${s}/title`, value: input.value }], { sequenceId: sequence.id });
    };
    input.addEventListener("input", () => {
      view.pending.add(commit);
      input.dataset.typing = "true";
    });
    input.addEventListener("change", commit);
    return input;
  }

  /** @param {string} sequenceId */
  function addBlockForm(sequenceId) {
    const id = `s-${sequenceId}-new-block-type`;
    const select = h("select", { id, "data-focus": id }, options.blockTypes.map((type) => h("option", { value: type.type, text: type.title })));
    return h("form", { class: "inline-form", onsubmit: (/** @type {Event} */ event) => {
      event.preventDefault();
      const type = types.get(select.value);
      const { s, sequence } = locate(sequenceId);
      if (!type || s === -1) return;
      const taken = new Set(sequence.blocks.map((/** @type {any} */ block) => block.id));
      let n = sequence.blocks.length + 1;
      while (taken.has(`${type.type}-${n}`)) n += 1;
      const blockId = `${type.type}-${n}`;
      const properties = initialValue(type.schema, { root: type.schema, patterns: referencePatterns(type.schema), sequenceId });
      options.submit([{ op: "add", path: `/sequences/${s}/blocks/-`, value: { id: blockId, type: type.type, properties } }], { sequenceId, blockId });
      // The new block is drawn in a microtask (the change event): then its first field takes the focus.
      queueMicrotask(() => queueMicrotask(() => {
        const li = root.querySelector(`li[data-key="${CSS.escape(`${sequenceId}/${blockId}`)}"]`);
        /** @type {HTMLElement | null} */ (li?.querySelector("[data-pointer]:not([disabled])") ?? li)?.focus();
      }));
    } },
      h("label", { for: id, text: "Block type" }), select, h("button", { type: "submit", class: "button-primary", text: "Add block" }));
  }

  /**
   * @param {SequenceElement} view
   * @param {any} sequence
   * @param {{ id: string, title: string }[]} summary
   */
  function renderBlocks(view, sequence, summary) {
    const seen = new Set();
    const count = sequence.blocks.length;
    const sequencesNow = JSON.stringify(summary);
    sequence.blocks.forEach((/** @type {any} */ block, /** @type {number} */ index) => {
      const key = `${sequence.id}/${block.id}`;
      seen.add(key);
      let made = view.blocks.get(key);
      if (!made) {
        const alert = h("div", { class: "block-notice", role: "alert" });
        const li = h("li", { class: "block", tabindex: "-1", "data-key": key, "data-sequence": sequence.id, "data-block": block.id }, alert);
        made = { li, alert, signature: "", pending: new Set(), references: new Set(), summary: sequencesNow };
        view.blocks.set(key, made);
      }
      // Where the block is and which sequences there are change without redrawing it (that
      // would lose what is being typed in it): its Move buttons and pickers follow in place.
      const signature = () => JSON.stringify([block, [...(refusals.fields.get(key) ?? [])], refusals.notices.get(key)]);
      if (made.signature !== signature() && made.pending.size) for (const send of [...made.pending]) send();
      const now = signature();
      if (made.signature !== now) {
        made.signature = now;
        made.pending.clear();
        made.references.clear();
        made.summary = sequencesNow;
        const card = renderBlock(blockView(sequence.id, block, index, count, summary, made), key, made.alert);
        made.li.querySelector("article")?.remove();
        made.li.append(card);
        /** @type {HTMLElement} */ (made.li.querySelector(".peer-markers")).dataset.peers = "";
      } else if (made.summary !== sequencesNow) {
        made.summary = sequencesNow;
        for (const redraw of made.references) redraw(summary);
      }
      const up = /** @type {HTMLButtonElement | null} */ (made.li.querySelector('[data-move="up"]'));
      const down = /** @type {HTMLButtonElement | null} */ (made.li.querySelector('[data-move="down"]'));
      if (up) up.disabled = index === 0;
      if (down) down.disabled = index === count - 1;
      placeAt(view.list, made.li, index);
    });
    for (const [key, made] of view.blocks) if (!seen.has(key)) { made.li.remove(); view.blocks.delete(key); }
  }

  /**
   * @param {string} sequenceId
   * @param {any} block
   * @param {number} index
   * @param {number} count
   * @param {{ id: string, title: string }[]} summary
   * @param {BlockElement} made
   * @returns {import("./blocks.js").BlockView}
   */
  function blockView(sequenceId, block, index, count, summary, made) {
    const target = { sequenceId, blockId: block.id };
    return {
      block, sequenceId, index, count, blockType: types.get(block.type), sequences: summary, canEdit,
      pending: made.pending, references: made.references,
      errors: refusals.fields.get(keyOf(target)) ?? new Map(),
      notice: refusals.notices.get(keyOf(target)),
      submit: (patch, guards) => {
        const { s, b, block: now } = locate(sequenceId, block.id);
        if (b === -1 || patch.length === 0) return;
        if (!guards.every((guard) => listUnchanged(now.properties, guard))) {
          refusals.notices.set(keyOf(target), "This list changed meanwhile; your edit was not applied.");
          queueMicrotask(render);
          return;
        }
        const base = `/sequences/${s}/blocks/${b}/properties`;
        /** @type {Patch} */
        const moved = patch.map((op) => ({ ...op, path: base + op.path, ...("from" in op ? { from: base + op.from } : {}) }));
        if (now.properties === undefined) moved.unshift({ op: "add", path: base, value: {} });
        options.submit(moved, target);
        // The lists now hold this edit: a second edit before the block is redrawn checks them as they are.
        const after = locate(sequenceId, block.id).block;
        for (const guard of guards) {
          const list = valueAt(after?.properties, guard.pointer);
          if (Array.isArray(list)) Object.assign(guard, { length: list.length, item: JSON.stringify(list[guard.index]) });
        }
      },
      move: (delta) => moveBlock(sequenceId, block.id, delta),
      remove: () => {
        const { s, b } = locate(sequenceId, block.id);
        if (b !== -1) options.submit([{ op: "remove", path: `/sequences/${s}/blocks/${b}` }], { sequenceId });
      },
      dismiss: () => {
        refusals.clear(target);
        render();
      },
    };
  }

  /**
   * @param {string} sequenceId
   * @param {string} blockId
   * @param {number} delta -1 (up) or 1 (down)
   */
  function moveBlock(sequenceId, blockId, delta) {
    const { s, b, sequence } = locate(sequenceId, blockId);
    const to = b + delta;
    if (b === -1 || to < 0 || to >= sequence.blocks.length) return;
    options.submit([{ op: "move", from: `/sequences/${s}/blocks/${b}`, path: `/sequences/${s}/blocks/${to}` }], { sequenceId, blockId });
  }

  /** Redraws what changed. */
  function render() {
    const all = current();
    const focus = keepFocus(root);
    const summary = all.map((sequence) => ({ id: sequence.id, title: sequence.title }));
    const seen = new Set();
    all.forEach((sequence, index) => {
      seen.add(sequence.id);
      const view = sequences.get(sequence.id) ?? sequenceElement(sequence.id);
      renderSequenceHeader(view, sequence);
      renderBlocks(view, sequence, summary);
      placeAt(list, view.element, index);
    });
    for (const [id, view] of sequences) if (!seen.has(id)) { view.element.remove(); sequences.delete(id); }
    empty.hidden = all.length > 0;
    showPeers();
    focus.restore();
  }

  /** Draws each peer's marker on the block they have selected. */
  function showPeers() {
    for (const view of sequences.values()) {
      for (const made of view.blocks.values()) {
        const markers = made.li.querySelector(".peer-markers");
        if (markers) renderMarkers(/** @type {HTMLElement} */ (markers), peersOn(doc.peers, made.li.dataset.sequence ?? "", made.li.dataset.block ?? ""));
      }
    }
  }

  // Presence, keyboard moves, and drag-and-drop, for every block at once.
  root.addEventListener("focusin", (event) => {
    const block = /** @type {HTMLElement} */ (event.target).closest("li.block");
    if (block instanceof HTMLElement) doc.setSelection({ sequence_id: block.dataset.sequence, block_id: block.dataset.block });
  });
  if (canEdit) {
    root.addEventListener("keydown", (event) => {
      if (!event.altKey || (event.key !== "ArrowUp" && event.key !== "ArrowDown")) return;
      const target = /** @type {HTMLElement} */ (event.target);
      if (target instanceof HTMLSelectElement) return; // Alt+ArrowDown opens a select
      const block = target.closest("li.block");
      if (!(block instanceof HTMLElement)) return;
      event.preventDefault();
      moveBlock(block.dataset.sequence ?? "", block.dataset.block ?? "", event.key === "ArrowUp" ? -1 : 1);
    });
    followDrags(root, locate, (from, to, target) => options.submit([{ op: "move", from, path: to }], target));
  }

  /** Sends every bit of typed text not sent yet (before an undo, say). */
  function flushTyping() {
    for (const view of sequences.values()) {
      for (const send of [...view.pending]) send();
      for (const made of view.blocks.values()) for (const send of [...made.pending]) send();
    }
  }

  return { render, showPeers, flushTyping };
}

/**
 * Puts `child` at position `index` of `parent`, moving it only when it is elsewhere.
 * @param {Element} parent
 * @param {Element} child
 * @param {number} index
 */
function placeAt(parent, child, index) {
  const there = parent.children[index];
  if (there !== child) parent.insertBefore(child, there ?? null);
}

/**
 * Whether the list `guard` names is still as it was drawn: as long, with the same item at its index.
 * @param {unknown} properties
 * @param {import("./form.js").ListGuard} guard
 */
function listUnchanged(properties, guard) {
  const list = valueAt(properties, guard.pointer);
  return Array.isArray(list) && list.length === guard.length && JSON.stringify(list[guard.index]) === guard.item;
}

/**
 * The value `pointer` names inside `root` (undefined when there is none).
 * @param {unknown} root
 * @param {string} pointer
 */
function valueAt(root, pointer) {
  /** @type {any} */
  let current = root;
  for (const token of tokensOf(pointer)) current = current !== null && typeof current === "object" ? current[token] : undefined;
  return current;
}
