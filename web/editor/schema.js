// What the editor reads out of a block type's JSON Schema, apart from drawing it: local `$ref`s,
// which properties name sequences (`x-sequence-references`), the labels of fields, and a first
// value for a new block that the server accepts (required fields filled in, ids pointing at an
// existing sequence).

import { isReference, referencePatterns, tokensOf } from "../pointer.js";

export { isReference, referencePatterns };

/**
 * @typedef {Record<string, any>} Schema
 */

/**
 * The schema `schema` stands for, following local `$ref`s (`#/definitions/…`, `#/$defs/…`).
 * @param {Schema | undefined} schema
 * @param {Schema} root the block type's whole schema
 * @returns {Schema}
 */
export function resolve(schema, root) {
  let current = schema ?? {};
  for (let hops = 0; typeof current.$ref === "string" && hops < 20; hops += 1) {
    const ref = current.$ref;
    if (!ref.startsWith("#")) break;
    /** @type {any} */
    let target = root;
    for (const token of tokensOf(ref.slice(1))) target = target?.[token];
    if (!target || typeof target !== "object") break;
    const { $ref: _, ...rest } = current;
    current = { ...target, ...rest };
  }
  return current;
}

/**
 * A readable label for a property name: `save_as` → "Save as".
 * @param {string} key
 */
export function humanize(key) {
  const words = key.replace(/[_-]+/g, " ").replace(/([a-z])([A-Z])/g, "$1 $2").trim().toLowerCase();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/**
 * The label of one item of an array field: "Choices" → "Choice 3".
 * @param {string} arrayLabel
 * @param {number} index
 */
export function itemLabel(arrayLabel, index) {
  const singular = arrayLabel.endsWith("ies") ? `${arrayLabel.slice(0, -3)}y` : arrayLabel.replace(/s$/, "");
  return `${singular} ${index + 1}`;
}

/** The JSON type a schema asks for (the first, when several), or `undefined` for any value. */
/** @param {Schema} schema */
export function typeOf(schema) {
  if (Array.isArray(schema.type)) return schema.type.find((/** @type {string} */ t) => t !== "null");
  if (typeof schema.type === "string") return schema.type;
  if (schema.properties) return "object";
  if (Array.isArray(schema.enum)) return typeof schema.enum[0] === "string" ? "string" : undefined;
  return undefined;
}

/**
 * The properties a schema requires of `value`, including `allOf` `if`/`then` requirements whose
 * simple `if` (`const`, `not const`, `enum` on properties) holds for it.
 * @param {Schema} schema
 * @param {Record<string, unknown>} value
 * @returns {string[]}
 */
export function requiredOf(schema, value) {
  const required = new Set(Array.isArray(schema.required) ? schema.required : []);
  for (const rule of Array.isArray(schema.allOf) ? schema.allOf : []) {
    if (rule?.if && rule.then && Array.isArray(rule.then.required) && holds(rule.if, value)) {
      for (const name of rule.then.required) required.add(name);
    }
  }
  return [...required];
}

/**
 * @param {Schema} condition
 * @param {Record<string, unknown>} value
 */
function holds(condition, value) {
  return Object.entries(condition.properties ?? {}).every(([name, test]) => {
    const actual = value[name];
    if ("const" in test) return actual === test.const;
    if (test.not && "const" in test.not) return actual !== test.not.const;
    if (Array.isArray(test.enum)) return test.enum.includes(actual);
    return true;
  });
}

/**
 * A first value for `schema` that the server accepts where possible: defaults, the first enum
 * value, required properties filled in, a sequence id for references, a name that fits a
 * `pattern`.
 * @param {Schema} schema
 * @param {{ root: Schema, patterns: string[][], sequenceId: string, pointer?: string, key?: string }} context
 * @returns {unknown}
 */
export function initialValue(schema, context) {
  const resolved = resolve(schema, context.root);
  const pointer = context.pointer ?? "";
  const key = context.key ?? "value";
  if ("default" in resolved) return structuredClone(resolved.default);
  if ("const" in resolved) return resolved.const;
  if (Array.isArray(resolved.enum)) return resolved.enum[0];
  if (isReference(context.patterns, pointer)) return context.sequenceId;
  switch (typeOf(resolved)) {
    case "object": {
      /** @type {Record<string, unknown>} */
      const value = {};
      const properties = resolved.properties ?? {};
      // Required properties first, then those an `if`/`then` requires once they are set.
      for (let round = 0; round < 2; round += 1) {
        for (const name of requiredOf(resolved, value)) {
          if (name in value) continue;
          value[name] = initialValue(properties[name] ?? {}, { ...context, pointer: `${pointer}/${name}`, key: name });
        }
      }
      return value;
    }
    case "array": {
      const count = Math.max(0, Number(resolved.minItems) || 0);
      return Array.from({ length: count }, (_, i) => initialValue(resolved.items ?? {}, { ...context, pointer: `${pointer}/${i}`, key }));
    }
    case "string":
      return initialString(resolved, key);
    case "integer":
    case "number":
      return typeof resolved.minimum === "number" ? resolved.minimum : 0;
    case "boolean":
      return false;
    default:
      return "";
  }
}

/**
 * @param {Schema} schema
 * @param {string} key
 */
function initialString(schema, key) {
  const candidates = [humanize(key), key, key.replace(/_/g, "-"), "field", "https://example.org/", "a"];
  const fits = (/** @type {string} */ text) => {
    if (typeof schema.maxLength === "number" && text.length > schema.maxLength) return false;
    if (typeof schema.pattern === "string") {
      try {
        return new RegExp(schema.pattern, "u").test(text);
      } catch {
        return true;
      }
    }
    if (schema.format === "uri") return /^[a-z]+:/.test(text);
    return true;
  };
  const needsText = (Number(schema.minLength) || 0) > 0 || typeof schema.pattern === "string" || schema.format === "uri";
  if (!needsText) return "";
  return candidates.find(fits) ?? "";
}
