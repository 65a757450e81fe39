// Form pieces the shell's views share: a labelled field, and a form that runs its action with
// the button busy and shows what failed (the message line near a form is ui.js's messageLine).

import { busy, h } from "../ui.js";

let fields = 0;

/**
 * A control with its visible label (`<label for>`), and an optional hint tied to it with
 * `aria-describedby`. The control gets an id when it has none.
 * @param {string} label
 * @param {HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement} control
 * @param {string} [hint]
 */
export function field(label, control, hint) {
  fields += 1;
  control.id ||= `field-${fields}`;
  const hintElement = hint ? h("p", { class: "hint", id: `${control.id}-hint` }, hint) : null;
  if (hintElement) control.setAttribute("aria-describedby", hintElement.id);
  return h("div", { class: "field" }, h("label", { for: control.id }, label), control, hintElement);
}

/**
 * A form whose submission (the page never reloads) clears `message`, runs `submitted` with
 * `button` busy, and shows its error in `message` (then calls `failed`, to put the focus back).
 * @param {Record<string, unknown>} attributes the form's own (`class`, `aria-label`)
 * @param {{ button: HTMLButtonElement, message: { clear(): void, error(error: unknown): void },
 *   submitted: () => Promise<unknown>, failed?: (error: unknown) => void }} action
 * @param {...(Node | string | null | undefined | false)} children
 */
export function actionForm(attributes, { button, message, submitted, failed }, ...children) {
  const onsubmit = async (/** @type {SubmitEvent} */ event) => {
    event.preventDefault();
    message.clear();
    try {
      await busy(button, submitted());
    } catch (error) {
      message.error(error);
      failed?.(error);
    }
  };
  return h("form", { ...attributes, onsubmit }, ...children);
}
