// The small JSON Patches a form field makes on a block's `properties`: setting a value (a
// `replace` when it is there, an `add` at the first missing level when not), removing one, and
// escaping the tokens of their JSON Pointers.

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
  const tokens = pointer.split("/").slice(1);
  /** @type {any} */
  let current = root;
  for (let i = 0; i < tokens.length; i += 1) {
    const token = unescape(tokens[i]);
    const last = i === tokens.length - 1;
    if (current !== null && typeof current === "object" && token in current) {
      if (last) return [{ op: "replace", path: pointer, value }];
      current = current[token];
      continue;
    }
    let nested = value;
    for (const inner of tokens.slice(i + 1).reverse()) nested = { [unescape(inner)]: nested };
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
  for (const token of pointer.split("/").slice(1).map(unescape)) {
    if (current === null || typeof current !== "object" || !(token in current)) return [];
    current = current[token];
  }
  return [{ op: "remove", path: pointer }];
}

/** @param {string} token */
export function escape(token) {
  return token.replaceAll("~", "~0").replaceAll("/", "~1");
}

/** @param {string} token */
function unescape(token) {
  return token.replaceAll("~1", "/").replaceAll("~0", "~");
}
