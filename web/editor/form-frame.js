// The frame around the generated form's controls: a label, the description and the server's
// errors (tied with aria-describedby and aria-invalid), fieldsets for objects and arrays, the
// Add and Remove buttons, element ids made from JSON Pointers, and sending a patch with the
// guards of the lists it reaches into.

import { h } from "../ui.js";
import { removal } from "./patches.js";

/** @typedef {import("./schema.js").Schema} Schema */
/** @typedef {import("/web/client/types.js").Patch} Patch */
/** @typedef {import("./form.js").FormContext} FormContext */

/**
 * Submits `patch` with the guards of the lists around the field that made it.
 * @param {FormContext} context
 * @param {Patch} patch
 */
export function send(context, patch) {
  context.submit(patch, context.guards ?? []);
}

/**
 * A fieldset around the fields of an object or array, with its own errors under the legend.
 * @param {string} label
 * @param {Schema} schema
 * @param {string} pointer
 * @param {FormContext} context
 * @param {HTMLElement[]} children
 */
export function group(label, schema, pointer, context, children) {
  const id = idOf(context, pointer);
  const errors = errorsAt(context, pointer, id);
  const hint = schema.description ? h("p", { class: "hint", id: `${id}-hint`, text: schema.description }) : null;
  const described = [hint?.id, errors?.id].filter(Boolean).join(" ") || undefined;
  return h("fieldset", { class: errors ? "field-group field-wide invalid" : "field-group field-wide", "aria-describedby": described, "aria-invalid": errors ? "true" : undefined },
    h("legend", { text: label }), hint, errors, children);
}

/**
 * A labelled control with its description and errors.
 * @param {HTMLInputElement | HTMLTextAreaElement | HTMLSelectElement} control
 * @param {string} id
 * @param {string} label
 * @param {Schema} schema
 * @param {string} pointer
 * @param {boolean} required
 * @param {FormContext} context
 * @param {string} [className]
 */
export function wrap(control, id, label, schema, pointer, required, context, className = "field") {
  const hint = schema.description ? h("p", { class: "hint", id: `${id}-hint`, text: schema.description }) : null;
  const errors = errorsAt(context, pointer, id);
  const described = [hint?.id, errors?.id].filter(Boolean).join(" ");
  if (described) control.setAttribute("aria-describedby", described);
  if (errors) control.setAttribute("aria-invalid", "true");
  control.dataset.pointer = pointer;
  const labelElement = h("label", { for: id }, label, required ? h("span", { class: "required", "aria-hidden": "true", text: " *" }) : null);
  return h("div", { class: errors ? `${className} invalid` : className }, labelElement, control, hint, errors);
}

/**
 * The server's messages for `pointer`, as a paragraph to describe its field.
 * @param {FormContext} context
 * @param {string} pointer
 * @param {string} id
 */
function errorsAt(context, pointer, id) {
  const messages = context.errors.get(pointer);
  if (!messages?.length) return null;
  context.shown.add(pointer);
  return h("p", { class: "field-error", id: `${id}-error`, text: messages.join(" ") });
}

/**
 * @param {string} text
 * @param {string} pointer
 * @param {FormContext} context
 */
export function removeButton(text, pointer, context) {
  if (context.disabled) return null;
  return h("button", { type: "button", class: "button-small", text: "Remove", "aria-label": text, "data-focus": `${idOf(context, pointer)}-remove`,
    onclick: () => send(context, removal(context.value, pointer)) });
}

/**
 * @param {string} text
 * @param {() => Patch} patch
 * @param {FormContext} context
 */
export function addButton(text, patch, context) {
  if (context.disabled) return null;
  return h("button", { type: "button", class: "button-small", text, "data-focus": `${context.idPrefix}-${text}`, onclick: () => send(context, patch()) });
}

/**
 * @param {FormContext} context
 * @param {string} pointer
 */
export function idOf(context, pointer) {
  return `${context.idPrefix}${pointer.replace(/[^A-Za-z0-9_-]/g, (c) => (c === "/" ? "--" : `_${c.charCodeAt(0)}`))}`;
}

/** @param {unknown} value @returns {value is Record<string, unknown>} */
export function isObject(value) {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}
