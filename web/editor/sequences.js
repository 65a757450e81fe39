// The Edit tab: the dialogue's sequences and their blocks, kept in step with the live content.
// Sequences can be added, renamed and removed; blocks added, removed, and reordered by
// drag-and-drop or by keyboard (Move up/down buttons, Alt+ArrowUp/Down on a focused block).
// Rendering is keyed by id and rebuilds only the blocks that changed, keeping the focus (and a
// text field's caret) where it was; typed text not sent yet is sent before its block is redrawn.

import { h, replace } from "../ui.js";
import { renderBlock } from "./blocks.js";
import { peersOn, renderMarkers } from "./presence.js";
import { keyOf } from "./refusals.js";
import { initialValue, referencePatterns } from "./schema.js";

/** @typedef {import("/web/client/types.js").Patch} Patch */
/** @typedef {import("./blocks.js").BlockType} BlockType */
/** @typedef {import("./refusals.js").Target} Target */
/** @typedef {{ li: HTMLLIElement, signature: string, pending: Set<() => void> }} BlockElement */
/** @typedef {{ element: HTMLElement, header: HTMLElement, list: HTMLOListElement, adder: HTMLElement, signature: string, blocks: Map<string, BlockElement> }} SequenceElement */

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
  /** @type {{ sequenceId: string, blockId: string } | undefined} */
  let dragging;

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
    const list = h("ol", { class: "blocks", "data-sequence": sequenceId });
    const adder = h("div", { class: "add-block" });
    const element = h("section", { class: "sequence", "data-sequence": sequenceId, "aria-labelledby": `s-${sequenceId}-heading` }, header, list, adder);
    const made = { element, header, list, adder, signature: "", blocks: new Map() };
    sequences.set(sequenceId, made);
    return made;
  }

  /**
   * @param {SequenceElement} view
   * @param {any} sequence
   */
  function renderSequenceHeader(view, sequence) {
    const notice = refusals.notices.get(sequence.id);
    const signature = JSON.stringify([sequence.title, notice, current().length]);
    if (view.signature === signature) return;
    view.signature = signature;
    const headingId = `s-${sequence.id}-heading`;
    const titleId = `s-${sequence.id}-title`;
    const title = sequence.title || sequence.id;
    replace(view.header,
      h("h2", { id: headingId, class: canEdit ? "visually-hidden" : "sequence-title" }, `Sequence: ${title}`),
      canEdit ? h("label", { class: "visually-hidden", for: titleId, text: `Title of sequence ${sequence.id}` }) : null,
      canEdit ? h("input", { id: titleId, class: "title-input sequence-title", type: "text", value: sequence.title ?? "", "data-focus": titleId,
        onchange: (/** @type {Event} */ event) => {
          const { s } = locate(sequence.id);
          const value = /** @type {HTMLInputElement} */ (event.target).value;
          if (s !== -1 && value !== sequence.title) options.submit([{ op: "replace", path: `/sequences/${s}/title`, value }], { sequenceId: sequence.id });
        } }) : null,
      h("code", { class: "sequence-id", text: sequence.id }),
      canEdit ? h("button", { type: "button", class: "button-small button-danger", text: "Remove sequence", "aria-label": `Remove sequence ${title}`, "data-focus": `s-${sequence.id}-remove`,
        onclick: () => {
          const { s } = locate(sequence.id);
          if (s !== -1) options.submit([{ op: "remove", path: `/sequences/${s}` }], {});
        } }) : null,
      notice ? h("div", { class: "refusal", role: "alert" }, h("p", { text: notice }),
        h("button", { type: "button", class: "button-small", text: "Dismiss", onclick: () => { refusals.notices.delete(sequence.id); render(); } })) : null,
    );
    if (canEdit && !view.adder.hasChildNodes()) view.adder.append(addBlockForm(sequence.id));
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
      queueMicrotask(() => /** @type {HTMLElement | null} */ (root.querySelector(`li[data-key="${CSS.escape(`${sequenceId}/${blockId}`)}"] [data-pointer], li[data-key="${CSS.escape(`${sequenceId}/${blockId}`)}"]`))?.focus());
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
    sequence.blocks.forEach((/** @type {any} */ block, /** @type {number} */ index) => {
      const key = `${sequence.id}/${block.id}`;
      seen.add(key);
      let made = view.blocks.get(key);
      if (!made) {
        const li = h("li", { class: "block", tabindex: "-1", "data-key": key, "data-sequence": sequence.id, "data-block": block.id });
        made = { li, signature: "", pending: new Set() };
        view.blocks.set(key, made);
      }
      const signature = () => JSON.stringify([block, index, sequence.blocks.length, summary, [...(refusals.fields.get(key) ?? [])], refusals.notices.get(key)]);
      if (made.signature !== signature() && made.pending.size) for (const send of [...made.pending]) send();
      const now = signature();
      if (made.signature !== now) {
        made.signature = now;
        made.pending.clear();
        replace(made.li, renderBlock(blockView(sequence.id, block, index, sequence.blocks.length, summary, made.pending), key));
        /** @type {HTMLElement} */ (made.li.querySelector(".peer-markers")).dataset.peers = "";
      }
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
   * @param {Set<() => void>} pending
   * @returns {import("./blocks.js").BlockView}
   */
  function blockView(sequenceId, block, index, count, summary, pending) {
    const target = { sequenceId, blockId: block.id };
    return {
      block, sequenceId, index, count, blockType: types.get(block.type), sequences: summary, canEdit, pending,
      errors: refusals.fields.get(keyOf(target)) ?? new Map(),
      notice: refusals.notices.get(keyOf(target)),
      submit: (patch) => {
        const { s, b, block: now } = locate(sequenceId, block.id);
        if (b === -1 || patch.length === 0) return;
        const base = `/sequences/${s}/blocks/${b}/properties`;
        /** @type {Patch} */
        const moved = patch.map((op) => ({ ...op, path: base + op.path, ...("from" in op ? { from: base + op.from } : {}) }));
        if (now.properties === undefined) moved.unshift({ op: "add", path: base, value: {} });
        options.submit(moved, target);
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
    const focus = rememberFocus();
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
    restoreFocus(focus);
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

  function rememberFocus() {
    const active = /** @type {HTMLElement | null} */ (document.activeElement);
    if (!active || !root.contains(active)) return undefined;
    const input = /** @type {HTMLInputElement} */ (active);
    const selection = typeof input.selectionStart === "number" ? [input.selectionStart, input.selectionEnd ?? input.selectionStart] : undefined;
    return { active, key: active.dataset.focus, block: /** @type {HTMLElement | null} */ (active.closest("li.block"))?.dataset.key, selection };
  }

  /** @param {ReturnType<typeof rememberFocus>} focus */
  function restoreFocus(focus) {
    if (!focus || document.activeElement === focus.active && focus.active.isConnected) return;
    const byKey = focus.key ? /** @type {HTMLInputElement | null} */ (root.querySelector(`[data-focus="${CSS.escape(focus.key)}"]`)) : null;
    const block = focus.block ? /** @type {HTMLElement | null} */ (root.querySelector(`li[data-key="${CSS.escape(focus.block)}"]`)) : null;
    const target = byKey && !byKey.disabled ? byKey : block;
    if (!target) return;
    target.focus();
    if (target === byKey && focus.selection && typeof byKey.setSelectionRange === "function" && byKey.type !== "number") {
      try {
        byKey.setSelectionRange(focus.selection[0], focus.selection[1]);
      } catch {
        // Not a text control.
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
      const block = /** @type {HTMLElement} */ (event.target).closest("li.block");
      if (!(block instanceof HTMLElement)) return;
      event.preventDefault();
      moveBlock(block.dataset.sequence ?? "", block.dataset.block ?? "", event.key === "ArrowUp" ? -1 : 1);
    });
    root.addEventListener("dragstart", (event) => {
      const handle = /** @type {HTMLElement} */ (event.target);
      const block = handle.closest?.("li.block");
      if (!(block instanceof HTMLElement) || !handle.classList?.contains("drag-handle")) return;
      dragging = { sequenceId: block.dataset.sequence ?? "", blockId: block.dataset.block ?? "" };
      event.dataTransfer?.setData("text/plain", `${dragging.sequenceId}/${dragging.blockId}`);
      if (event.dataTransfer) event.dataTransfer.effectAllowed = "move";
      event.dataTransfer?.setDragImage(block, 16, 16);
      block.classList.add("dragging");
      // The handle may be redrawn before the drag ends: its own dragend still reaches it.
      handle.addEventListener("dragend", endDrag, { once: true });
    });
    root.addEventListener("dragover", (event) => {
      const place = dropPlace(event);
      if (!place) return;
      event.preventDefault();
      clearDropMarks();
      place.mark.classList.add(place.className);
    });
    root.addEventListener("dragleave", (event) => {
      if (!root.contains(/** @type {Node | null} */ (event.relatedTarget))) clearDropMarks();
    });
    root.addEventListener("drop", (event) => {
      const place = dropPlace(event);
      const moving = dragging;
      endDrag();
      if (!place || !moving) return;
      event.preventDefault();
      const from = locate(moving.sequenceId, moving.blockId);
      const to = locate(place.sequenceId);
      if (from.b === -1 || to.s === -1) return;
      const index = from.s === to.s && place.index > from.b ? place.index - 1 : place.index;
      if (from.s === to.s && index === from.b) return;
      options.submit([{ op: "move", from: `/sequences/${from.s}/blocks/${from.b}`, path: `/sequences/${to.s}/blocks/${index}` }], { sequenceId: moving.sequenceId, blockId: moving.blockId });
    });
  }

  function endDrag() {
    dragging = undefined;
    clearDropMarks();
    for (const block of root.querySelectorAll("li.dragging")) block.classList.remove("dragging");
  }

  /**
   * Where a dragged block would land: the sequence, the index it would be inserted at, and the
   * element to mark.
   * @param {DragEvent} event
   */
  function dropPlace(event) {
    if (!dragging) return undefined;
    const target = /** @type {HTMLElement} */ (event.target);
    const block = target.closest?.("li.block");
    if (block instanceof HTMLElement) {
      const { b } = locate(block.dataset.sequence ?? "", block.dataset.block);
      const box = block.getBoundingClientRect();
      const before = event.clientY < box.top + box.height / 2;
      return { sequenceId: block.dataset.sequence ?? "", index: before ? b : b + 1, mark: block, className: before ? "drop-before" : "drop-after" };
    }
    const section = target.closest?.("section.sequence");
    if (!(section instanceof HTMLElement)) return undefined;
    const { sequence } = locate(section.dataset.sequence ?? "");
    if (!sequence) return undefined;
    return { sequenceId: sequence.id, index: sequence.blocks.length, mark: /** @type {HTMLElement} */ (section.querySelector("ol.blocks")), className: "drop-end" };
  }

  function clearDropMarks() {
    for (const marked of root.querySelectorAll(".drop-before, .drop-after, .drop-end")) marked.classList.remove("drop-before", "drop-after", "drop-end");
  }

  /** Sends every bit of typed text not sent yet (before an undo, say). */
  function flushTyping() {
    for (const view of sequences.values()) for (const made of view.blocks.values()) for (const send of [...made.pending]) send();
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
