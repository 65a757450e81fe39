// A form piece the shell's views share: a labelled field (the message line near a form is
// ui.js's messageLine).

import { h } from "../ui.js";

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
