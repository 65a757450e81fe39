// A small generic JSON Schema → form renderer for a block's `properties`: strings (text input,
// or a textarea for long text), numbers, booleans, enums (select), objects (fieldset), maps
// (name/value rows), arrays (items with add and remove), local `$ref`s, and sequence references
// as pickers of the dialogue's sequences. Every edit becomes a small JSON Patch on the exact
// property (paths relative to `properties`); typing is sent after a pause, on change or on blur.
// Errors are shown on the field their pointer names, with aria-invalid and aria-describedby.

import { h } from "../ui.js";
import { escape, removal, setting } from "./patches.js";
import { humanize, initialValue, isReference, itemLabel, requiredOf, resolve, typeOf } from "./schema.js";

/** @typedef {import("./schema.js").Schema} Schema */
/** @typedef {import("/web/client/types.js").Patch} Patch */

/**
 * @typedef {object} FormContext
 * @property {Schema} root the block type's schema
 * @property {string[][]} patterns the pointers of its sequence references
 * @property {{ id: string, title: string }[]} sequences the dialogue's sequences, for pickers
 * @property {string} sequenceId the block's sequence (what a new reference points at)
 * @property {unknown} value the block's current `properties`
 * @property {boolean} disabled read-only
 * @property {string} idPrefix makes element ids unique on the page
 * @property {Map<string, string[]>} errors messages by pointer (relative to `properties`)
 * @property {Set<string>} shown the pointers whose errors a field shows (filled in here)
 * @property {Set<() => void>} pending sends typed text not sent yet (filled in here)
 * @property {(patch: Patch) => void} submit submits a patch relative to `properties`
 */

/** How long typing may pause before the text is sent. */
const TYPING_PAUSE = 700;

/**
 * The form of a block's properties.
 * @param {Schema} schema the block type's schema
 * @param {FormContext} context
 * @returns {HTMLElement}
 */
export function renderForm(schema, context) {
  const resolved = resolve(schema, context.root);
  const value = isObject(context.value) ? context.value : {};
  return h("div", { class: "block-form" }, propertyFields(resolved, value, "", context));
}

/**
 * @param {Schema} schema an object schema
 * @param {Record<string, unknown>} value
 * @param {string} pointer
 * @param {FormContext} context
 */
function propertyFields(schema, value, pointer, context) {
  const required = requiredOf(schema, value);
  return Object.entries(schema.properties ?? {}).map(([key, property]) =>
    field(property, value[key], `${pointer}/${escape(key)}`, humanize(key), required.includes(key), context),
  );
}

/**
 * One field of any kind.
 * @param {Schema} rawSchema
 * @param {unknown} value
 * @param {string} pointer
 * @param {string} label
 * @param {boolean} required
 * @param {FormContext} context
 * @returns {HTMLElement}
 */
function field(rawSchema, value, pointer, label, required, context) {
  const schema = resolve(rawSchema, context.root);
  const type = typeOf(schema);
  if (isReference(context.patterns, pointer)) return referenceField(value, pointer, label, required, context, schema);
  if (type === "object" && schema.properties) return objectField(schema, value, pointer, label, context);
  if (type === "object") return mapField(schema, value, pointer, label, context);
  if (type === "array") return arrayField(schema, value, pointer, label, context);
  if (Array.isArray(schema.enum)) return enumField(schema, value, pointer, label, required, context);
  if (type === "boolean") return booleanField(schema, value, pointer, label, context);
  if (type === "integer" || type === "number") return numberField(schema, value, pointer, label, required, context);
  return textField(schema, value, pointer, label, required, context, type === "string");
}

/**
 * @param {Schema} schema
 * @param {unknown} value
 * @param {string} pointer
 * @param {string} label
 * @param {boolean} required
 * @param {FormContext} context
 * @param {boolean} isString false for a value of any type (typed as text, or JSON when it was not text)
 */
function textField(schema, value, pointer, label, required, context, isString) {
  const id = idOf(context, pointer);
  const long = typeof schema.maxLength === "number" && schema.maxLength > 200 && schema.format !== "uri";
  const shown = value === undefined ? "" : typeof value === "string" ? value : JSON.stringify(value);
  const attributes = { id, value: shown, disabled: context.disabled, required, "data-focus": id, "aria-required": required ? "true" : undefined };
  const control = long
    ? h("textarea", { ...attributes, rows: Math.min(6, Math.max(2, Math.ceil(shown.length / 60))) })
    : h("input", { ...attributes, type: schema.format === "uri" ? "url" : "text" });
  const parse = (/** @type {string} */ text) => {
    if (isString || typeof value === "string" || value === undefined) return text;
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  };
  const commit = () => {
    clearTimeout(timer);
    context.pending.delete(commit);
    if (!control.isConnected) return;
    const text = control.value;
    if (text === committed) return;
    committed = text;
    if (text === "" && !required) context.submit(removal(context.value, pointer));
    else context.submit(setting(context.value, pointer, parse(text)));
  };
  let committed = shown;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let timer;
  control.addEventListener("input", () => {
    clearTimeout(timer);
    context.pending.add(commit);
    timer = setTimeout(commit, TYPING_PAUSE);
  });
  control.addEventListener("change", commit);
  control.addEventListener("blur", commit);
  return wrap(control, id, label, schema, pointer, required, context, long ? "field field-wide" : "field");
}

/**
 * @param {Schema} schema
 * @param {unknown} value
 * @param {string} pointer
 * @param {string} label
 * @param {boolean} required
 * @param {FormContext} context
 */
function numberField(schema, value, pointer, label, required, context) {
  const id = idOf(context, pointer);
  const control = h("input", {
    id, type: "number", value: typeof value === "number" ? String(value) : "", disabled: context.disabled, required,
    step: schema.type === "integer" ? "1" : "any", min: schema.minimum, max: schema.maximum, "data-focus": id,
  });
  control.addEventListener("change", () => {
    if (control.value === "") {
      if (!required && value !== undefined) context.submit(removal(context.value, pointer));
      return;
    }
    const number = Number(control.value);
    if (number !== value) context.submit(setting(context.value, pointer, number));
  });
  return wrap(control, id, label, schema, pointer, required, context);
}

/**
 * @param {Schema} schema
 * @param {unknown} value
 * @param {string} pointer
 * @param {string} label
 * @param {FormContext} context
 */
function booleanField(schema, value, pointer, label, context) {
  const id = idOf(context, pointer);
  const control = h("input", { id, type: "checkbox", checked: value === true, disabled: context.disabled, "data-focus": id });
  control.addEventListener("change", () => context.submit(setting(context.value, pointer, control.checked)));
  return wrap(control, id, label, schema, pointer, false, context, "field field-checkbox");
}

/**
 * @param {Schema} schema
 * @param {unknown} value
 * @param {string} pointer
 * @param {string} label
 * @param {boolean} required
 * @param {FormContext} context
 */
function enumField(schema, value, pointer, label, required, context) {
  const options = schema.enum.map((/** @type {unknown} */ choice) => ({ value: JSON.stringify(choice), text: String(choice) }));
  return selectField(schema, value === undefined ? "" : JSON.stringify(value), options, pointer, label, required, context, (chosen) => JSON.parse(chosen));
}

/**
 * A sequence reference: a picker of the dialogue's sequences; one that names no sequence is
 * marked "missing sequence".
 * @param {unknown} value
 * @param {string} pointer
 * @param {string} label
 * @param {boolean} required
 * @param {FormContext} context
 * @param {Schema} schema
 */
function referenceField(value, pointer, label, required, context, schema) {
  const options = context.sequences.map((sequence) => ({ value: sequence.id, text: sequence.title ? `${sequence.title} (${sequence.id})` : sequence.id }));
  const missing = typeof value === "string" && value !== "" && !context.sequences.some((s) => s.id === value);
  if (missing) options.unshift({ value: String(value), text: `${value} — missing sequence` });
  const element = selectField(schema, typeof value === "string" ? value : "", options, pointer, label, required, context, (chosen) => chosen);
  if (missing) {
    element.classList.add("field-missing");
    const note = h("p", { class: "field-warning", id: `${idOf(context, pointer)}-missing`, text: `⚠ missing sequence: no sequence has the id “${value}”.` });
    element.append(note);
    const control = /** @type {HTMLSelectElement} */ (element.querySelector("select"));
    control.setAttribute("aria-describedby", `${control.getAttribute("aria-describedby") ?? ""} ${note.id}`.trim());
  }
  return element;
}

/**
 * @param {Schema} schema
 * @param {string} current the selected option's value ("" for none)
 * @param {{ value: string, text: string }[]} options
 * @param {string} pointer
 * @param {string} label
 * @param {boolean} required
 * @param {FormContext} context
 * @param {(chosen: string) => unknown} parse
 */
function selectField(schema, current, options, pointer, label, required, context, parse) {
  const id = idOf(context, pointer);
  const unset = required ? "Choose…" : "default" in schema ? `Default (${schema.default})` : "(none)";
  const none = !required || current === "" ? h("option", { value: "", text: unset }) : null;
  const control = h("select", { id, disabled: context.disabled, required, "data-focus": id },
    none,
    options.map((option) => h("option", { value: option.value, text: option.text, selected: option.value === current })),
  );
  control.value = current;
  control.addEventListener("change", () => {
    if (control.value === current) return;
    if (control.value === "") context.submit(removal(context.value, pointer));
    else context.submit(setting(context.value, pointer, parse(control.value)));
  });
  return wrap(control, id, label, schema, pointer, required, context);
}

/**
 * @param {Schema} schema
 * @param {unknown} value
 * @param {string} pointer
 * @param {string} label
 * @param {FormContext} context
 */
function objectField(schema, value, pointer, label, context) {
  const object = isObject(value) ? value : {};
  return group(label, schema, pointer, context, propertyFields(schema, object, pointer, context));
}

/**
 * An object of free names (`additionalProperties`): a row per entry, to rename, edit or remove.
 * @param {Schema} schema
 * @param {unknown} value
 * @param {string} pointer
 * @param {string} label
 * @param {FormContext} context
 */
function mapField(schema, value, pointer, label, context) {
  const object = isObject(value) ? value : {};
  const valueSchema = isObject(schema.additionalProperties) ? schema.additionalProperties : {};
  const rows = Object.entries(object).map(([key, entry], index) => {
    const at = `${pointer}/${escape(key)}`;
    const nameId = `${idOf(context, pointer)}-name-${index}`;
    const name = h("input", { id: nameId, type: "text", value: key, disabled: context.disabled, "data-focus": nameId });
    name.addEventListener("change", () => {
      const renamed = name.value.trim();
      if (renamed && renamed !== key && !(renamed in object)) context.submit([{ op: "move", from: at, path: `${pointer}/${escape(renamed)}` }]);
    });
    return h("div", { class: "map-row" },
      h("div", { class: "field" }, h("label", { for: nameId, text: `Name ${index + 1}` }), name),
      field(valueSchema, entry, at, `Value of ${key}`, true, context),
      removeButton(`Remove ${key}`, at, context),
    );
  });
  const add = addButton(`Add ${label.toLowerCase()} entry`, () => {
    let n = Object.keys(object).length + 1;
    while (`name-${n}` in object) n += 1;
    const fresh = initialValue(valueSchema, { root: context.root, patterns: context.patterns, sequenceId: context.sequenceId, pointer: `${pointer}/name-${n}` });
    return setting(context.value, `${pointer}/name-${n}`, fresh);
  }, context);
  return group(label, schema, pointer, context, [...rows, add]);
}

/**
 * @param {Schema} schema
 * @param {unknown} value
 * @param {string} pointer
 * @param {string} label
 * @param {FormContext} context
 */
function arrayField(schema, value, pointer, label, context) {
  const items = Array.isArray(value) ? value : [];
  const itemSchema = resolve(schema.items ?? {}, context.root);
  const list = h("ol", { class: "array-items" }, items.map((item, index) => {
    const at = `${pointer}/${index}`;
    const name = itemLabel(label, index);
    return h("li", { class: "array-item" }, field(itemSchema, item, at, name, true, context), removeButton(`Remove ${name.toLowerCase()}`, at, context));
  }));
  const add = addButton(`Add ${itemLabel(label, items.length).replace(/ \d+$/, "").toLowerCase()}`, () => {
    const fresh = initialValue(itemSchema, { root: context.root, patterns: context.patterns, sequenceId: context.sequenceId, pointer: `${pointer}/${items.length}` });
    return Array.isArray(value) ? [{ op: "add", path: `${pointer}/-`, value: fresh }] : setting(context.value, pointer, [fresh]);
  }, context);
  return group(label, schema, pointer, context, [list, add]);
}

/**
 * A fieldset around the fields of an object or array, with its own errors under the legend.
 * @param {string} label
 * @param {Schema} schema
 * @param {string} pointer
 * @param {FormContext} context
 * @param {HTMLElement[]} children
 */
function group(label, schema, pointer, context, children) {
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
function wrap(control, id, label, schema, pointer, required, context, className = "field") {
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
function removeButton(text, pointer, context) {
  if (context.disabled) return null;
  return h("button", { type: "button", class: "button-small", text: "Remove", "aria-label": text, "data-focus": `${idOf(context, pointer)}-remove`,
    onclick: () => context.submit(removal(context.value, pointer)) });
}

/**
 * @param {string} text
 * @param {() => Patch} patch
 * @param {FormContext} context
 */
function addButton(text, patch, context) {
  if (context.disabled) return null;
  return h("button", { type: "button", class: "button-small", text, "data-focus": `${context.idPrefix}-${text}`, onclick: () => context.submit(patch()) });
}

/**
 * @param {FormContext} context
 * @param {string} pointer
 */
function idOf(context, pointer) {
  return `${context.idPrefix}${pointer.replace(/[^A-Za-z0-9_-]/g, (c) => (c === "/" ? "--" : `_${c.charCodeAt(0)}`))}`;
}

/** @param {unknown} value @returns {value is Record<string, unknown>} */
function isObject(value) {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}
