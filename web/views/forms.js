// Form pieces the shell's views share: a labelled field, and a message line near a form that
// shows an error (role="alert") or a confirmation (role="status").

import { h, explain } from "../ui.js";

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
 * A message line: empty and hidden until `error()` or `ok()` fills it. An error is announced
 * at once (role="alert"); a confirmation politely (role="status").
 */
export function messageLine() {
  const element = h("p", { class: "message", hidden: true });
  return {
    element,
    /** @param {unknown} error */
    error(error) {
      element.className = "message error";
      element.setAttribute("role", "alert");
      element.textContent = typeof error === "string" ? error : explain(error);
      element.hidden = false;
    },
    /** @param {string} text */
    ok(text) {
      element.className = "message success";
      element.setAttribute("role", "status");
      element.textContent = text;
      element.hidden = false;
    },
    clear() {
      element.hidden = true;
      element.textContent = "";
    },
  };
}
