// Keeping the focus across a redraw of the Edit tab: what had it (and a text field's caret) is
// found again by its `data-focus` key, else its block, when the element itself was replaced.

/**
 * Notes what has the focus inside `root`; `restore()` after a redraw puts it back.
 * @param {HTMLElement} root
 * @returns {{ restore(): void }}
 */
export function keepFocus(root) {
  const active = /** @type {HTMLElement | null} */ (document.activeElement);
  if (!active || !root.contains(active)) return { restore() {} };
  const input = /** @type {HTMLInputElement} */ (active);
  const selection = typeof input.selectionStart === "number" ? [input.selectionStart, input.selectionEnd ?? input.selectionStart] : undefined;
  const key = active.dataset.focus;
  const blockKey = /** @type {HTMLElement | null} */ (active.closest("li.block"))?.dataset.key;
  return {
    restore() {
      if (document.activeElement === active && active.isConnected) return;
      const byKey = key ? /** @type {HTMLInputElement | null} */ (root.querySelector(`[data-focus="${CSS.escape(key)}"]`)) : null;
      const block = blockKey ? /** @type {HTMLElement | null} */ (root.querySelector(`li[data-key="${CSS.escape(blockKey)}"]`)) : null;
      const target = byKey && !byKey.disabled ? byKey : block;
      if (!target) return;
      target.focus();
      if (target === byKey && selection && typeof byKey.setSelectionRange === "function" && byKey.type !== "number") {
        try {
          byKey.setSelectionRange(selection[0], selection[1]);
        } catch {
          // Not a text control.
        }
      }
    },
  };
}
