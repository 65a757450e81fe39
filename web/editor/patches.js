// The small JSON Patches a form field makes on a block's `properties`: setting a value (a
// `replace` when it is there, an `add` at the first missing level when not), and removing one.

import { tokensOf } from "../pointer.js";

/** @typedef {import("/web/client/types.js").Patch} Patch */

/**
 * The patch that sets `pointer` inside `root` to `value`: `replace` when it is there, `add`
 * when it is not, at the first missing level (creating the objects in between).
 * @param {unknown} root
 * @param {string} pointer
 * @param {unknown} value
 * @returns {Patch}
 */
export function setting(root, pointer, value) {
  const tokens = pointer.split("/").slice(1); // escaped, to build the pointer of a shorter path
  const unescaped = tokensOf(pointer);
  /** @type {any} */
  let current = root;
  for (let i = 0; i < tokens.length; i += 1) {
    const token = unescaped[i];
    const last = i === tokens.length - 1;
    if (current !== null && typeof current === "object" && token in current) {
      if (last) return [{ op: "replace", path: pointer, value }];
      current = current[token];
      continue;
    }
    let nested = value;
    for (const inner of unescaped.slice(i + 1).reverse()) nested = { [inner]: nested };
    return [{ op: "add", path: `/${tokens.slice(0, i + 1).join("/")}`, value: nested }];
  }
  return [{ op: "replace", path: pointer, value }];
}

/**
 * @param {unknown} root
 * @param {string} pointer
 * @returns {Patch}
 */
export function removal(root, pointer) {
  /** @type {any} */
  let current = root;
  for (const token of tokensOf(pointer)) {
    if (current === null || typeof current !== "object" || !(token in current)) return [];
    current = current[token];
  }
  return [{ op: "remove", path: pointer }];
}

export { escapeToken as escape } from "../pointer.js";
