// JSON Pointers as the editor uses them: escaping and unescaping (the client's, in
// clients/js/src/pointer.js), and the sequence references of a block type (its schema's
// `x-sequence-references`: pointers into a block's `properties`, `*` matching any array item
// or object member) — which pointers they match, and the values they reach in a block.

import { pointerOf, tokensOf } from "/web/client/pointer.js";

export { pointerOf, tokensOf };

/**
 * One token of a JSON Pointer, escaped (`/` is `~1`, `~` is `~0`).
 * @param {string} token
 */
export function escapeToken(token) {
  return pointerOf([token]).slice(1);
}

/**
 * The patterns (unescaped token lists, `*` for any index or key) of a block type's sequence
 * references.
 * @param {Record<string, any> | undefined} schema
 * @returns {string[][]}
 */
export function referencePatterns(schema) {
  const patterns = Array.isArray(schema?.["x-sequence-references"]) ? schema["x-sequence-references"] : [];
  return patterns.filter((p) => typeof p === "string").map(tokensOf);
}

/**
 * Whether `pointer` (inside a block's properties) is matched by one of `patterns`.
 * @param {string[][]} patterns
 * @param {string} pointer
 */
export function isReference(patterns, pointer) {
  const tokens = tokensOf(pointer);
  return patterns.some((pattern) => pattern.length === tokens.length && pattern.every((t, i) => t === "*" || t === tokens[i]));
}

/**
 * The values `pattern` reaches under `value`, with their (escaped) pointers and the object
 * holding each.
 * @param {unknown} value
 * @param {string[]} pattern
 * @param {string} [path]
 * @param {any} [owner]
 * @returns {Generator<{ value: unknown, path: string, owner: any }>}
 */
export function* referencedValues(value, pattern, path = "", owner = undefined) {
  if (pattern.length === 0) {
    yield { value, path, owner };
    return;
  }
  if (value === null || typeof value !== "object") return;
  const [first, ...rest] = pattern;
  const keys = first === "*" ? Object.keys(value) : Object.hasOwn(value, first) ? [first] : [];
  for (const key of keys) yield* referencedValues(/** @type {any} */ (value)[key], rest, `${path}/${escapeToken(key)}`, value);
}
