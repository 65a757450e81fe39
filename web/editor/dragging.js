// Drag-and-drop of blocks on the Edit tab: a block is dragged by its handle and dropped before
// or after another block, or at the end of a sequence; the place it would land is marked while
// dragging. (Moving by keyboard is the Move buttons' and Alt+ArrowUp/Down's, in sequences.js.)

/**
 * @typedef {(sequenceId: string, blockId?: string) => { s: number, b: number, sequence: any, block: any }} Locate
 *   where a sequence (and a block of it) is in the dialogue now
 */

/**
 * Follows drags of blocks inside `root`, and has `move` send where one was dropped.
 * @param {HTMLElement} root
 * @param {Locate} locate
 * @param {(from: string, to: string, target: { sequenceId: string, blockId: string }) => void} move
 *   sends the move (JSON Pointers of the block and of where it goes)
 */
export function followDrags(root, locate, move) {
  /** @type {{ sequenceId: string, blockId: string } | undefined} */
  let dragging;

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
    move(`/sequences/${from.s}/blocks/${from.b}`, `/sequences/${to.s}/blocks/${index}`, moving);
  });

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
}
