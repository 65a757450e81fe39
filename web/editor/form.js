// A small generic JSON Schema → form renderer for a block's `properties`: strings (text input,
// or a textarea for long text), numbers, booleans, enums (select), objects (fieldset), maps
// (name/value rows), arrays (items with add and remove), local `$ref`s, and sequence references
// as pickers of the dialogue's sequences. Every edit becomes a small JSON Patch on the exact
// property (paths relative to `properties`); typing is sent after a pause, on change or on blur.
// Errors are shown on the field their pointer names, with aria-invalid and aria-describedby.

import { h } from "../ui.js";
import { addButton, group, idOf, isObject, removeButton, send, wrap } from "./form-frame.js";
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
 * @property {(patch: Patch, guards: ListGuard[]) => void} submit submits a patch relative to
 *   `properties`, unless a list it reaches into changed since it was drawn (see `guards`)
 * @property {ListGuard[]} [guards] the lists (arrays) around the fields drawn, as drawn
 * @property {Set<(sequences: { id: string, title: string }[]) => void>} [references] redraws
 *   the sequence pickers with another list of sequences (filled in here)
 */

/**
 * An array a field's pointer reaches into, as it was when the field was drawn: the edit goes
 * through only if it still has `length` items and the one at `index` is still `item` (JSON).
 * @typedef {{ pointer: string, length: number, index: number, item: string }} ListGuard
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
 * Has what is typed into `control` sent by `commit`: registered as pending on every `input`
 * (so a flush sends it at once, even when the control has left the page), and sent on change,
 * on blur and, when `pause` is set, after a pause in typing (skipped when the control has left
 * the page by then: its block was redrawn or the tab closed, and they flush).
 * @param {HTMLInputElement | HTMLTextAreaElement} control
 * @param {FormContext} context
 * @param {() => void} commit sends the control's value when it differs from the last one sent
 * @param {boolean} pause
 */
function sendTyping(control, context, commit, pause) {
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let timer;
  const flush = () => {
    clearTimeout(timer);
    context.pending.delete(flush);
    delete control.dataset.typing;
    commit();
  };
  control.addEventListener("input", () => {
    clearTimeout(timer);
    context.pending.add(flush);
    control.dataset.typing = "true"; // Ctrl+Z is the browser's own text undo meanwhile
    if (pause) timer = setTimeout(() => {
      if (control.isConnected) flush();
    }, TYPING_PAUSE);
  });
  control.addEventListener("change", flush);
  control.addEventListener("blur", flush);
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
  let committed = shown;
  sendTyping(control, context, () => {
    const text = control.value;
    if (text === committed) return;
    committed = text;
    if (text === "" && !required) send(context, removal(context.value, pointer));
    else send(context, setting(context.value, pointer, parse(text)));
  }, true);
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
  let committed = control.value;
  sendTyping(control, context, () => {
    if (control.validity.badInput || control.value === committed) return; // half typed ("-", "1e")
    committed = control.value;
    if (control.value === "") {
      if (!required && value !== undefined) send(context, removal(context.value, pointer));
      return;
    }
    const number = Number(control.value);
    if (number !== value) send(context, setting(context.value, pointer, number));
  }, true);
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
  control.addEventListener("change", () => send(context, setting(context.value, pointer, control.checked)));
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
  let element = referencePicker(value, pointer, label, required, context, schema, context.sequences);
  // The dialogue's sequences change under the block: its pickers are redrawn alone.
  context.references?.add((sequences) => {
    const fresh = referencePicker(value, pointer, label, required, context, schema, sequences);
    element.replaceWith(fresh);
    element = fresh;
  });
  return element;
}

/**
 * The picker of a sequence reference among `sequences`.
 * @param {unknown} value
 * @param {string} pointer
 * @param {string} label
 * @param {boolean} required
 * @param {FormContext} context
 * @param {Schema} schema
 * @param {{ id: string, title: string }[]} sequences
 */
function referencePicker(value, pointer, label, required, context, schema, sequences) {
  const options = sequences.map((sequence) => ({ value: sequence.id, text: sequence.title ? `${sequence.title} (${sequence.id})` : sequence.id }));
  const missing = typeof value === "string" && value !== "" && !sequences.some((s) => s.id === value);
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
    if (control.value === "") send(context, removal(context.value, pointer));
    else send(context, setting(context.value, pointer, parse(control.value)));
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
    let committed = key;
    // A rename is sent when the name is left (not while typing: each would move the entry).
    sendTyping(name, context, () => {
      const renamed = name.value.trim();
      if (!renamed || renamed === committed || renamed in object) return;
      send(context, [{ op: "move", from: at, path: `${pointer}/${escape(renamed)}` }]);
      committed = renamed;
    }, false);
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
    const guard = { pointer, length: items.length, index, item: JSON.stringify(item) };
    const inner = { ...context, guards: [...(context.guards ?? []), guard] };
    return h("li", { class: "array-item" }, field(itemSchema, item, at, name, true, inner), removeButton(`Remove ${name.toLowerCase()}`, at, inner));
  }));
  const add = addButton(`Add ${itemLabel(label, items.length).replace(/ \d+$/, "").toLowerCase()}`, () => {
    const fresh = initialValue(itemSchema, { root: context.root, patterns: context.patterns, sequenceId: context.sequenceId, pointer: `${pointer}/${items.length}` });
    return Array.isArray(value) ? [{ op: "add", path: `${pointer}/-`, value: fresh }] : setting(context.value, pointer, [fresh]);
  }, context);
  return group(label, schema, pointer, context, [list, add]);
}
