// Applying RFC 6902 JSON Patches in place, atomically, and computing their inverses: what the
// client's local state and its undo are made of. Arrays and objects only (what dialogues are).

import { indexOf, pointerOf, tokensOf } from "./pointer.js";

/** @typedef {import("./types.js").Operation} Operation */
/** @typedef {import("./types.js").Patch} Patch */

/** A patch that does not apply: which operation, and why. */
export class PatchError extends Error {
  /**
   * @param {number} operation
   * @param {string} message
   */
  constructor(operation, message) {
    super(`operation ${operation}: ${message}`);
    this.name = "PatchError";
    /** @readonly */
    this.operation = operation;
  }
}

/**
 * Applies `patch` to `document` in place, all or nothing, and answers its inverse: the patch
 * that, applied right after, brings `document` back.
 * @param {unknown} document an object or array (the root itself is replaced only through the
 *   returned value when an operation targets "")
 * @param {Patch} patch
 * @returns {{ document: unknown, inverse: Patch }}
 * @throws {PatchError} and then `document` is as it was
 */
export function applyPatch(document, patch) {
  /** @type {Patch} */
  const undo = [];
  let root = document;
  for (let i = 0; i < patch.length; i++) {
    try {
      root = applyOperation(root, patch[i], undo);
    } catch (error) {
      for (const operation of [...undo].reverse()) root = applyOperation(root, operation, []);
      throw new PatchError(i, error instanceof Error ? error.message : String(error));
    }
  }
  return { document: root, inverse: undo.reverse() };
}

/**
 * @param {unknown} value
 * @returns {unknown}
 */
function copy(value) {
  return value === undefined ? undefined : structuredClone(value);
}

/**
 * The container holding the value at `tokens`, and the last token.
 * @param {unknown} root
 * @param {string[]} tokens
 * @returns {{ parent: Record<string, unknown> | unknown[], key: string }}
 */
function locate(root, tokens) {
  let node = root;
  for (const token of tokens.slice(0, -1)) {
    node = child(node, token);
  }
  if (node === null || typeof node !== "object") throw new Error(`${pointerOf(tokens)}: no such container`);
  return { parent: /** @type {Record<string, unknown> | unknown[]} */ (node), key: /** @type {string} */ (tokens.at(-1)) };
}

/**
 * @param {unknown} node
 * @param {string} token
 * @returns {unknown}
 */
function child(node, token) {
  if (Array.isArray(node)) {
    const index = indexOf(token);
    if (index === undefined || index >= node.length) throw new Error(`no element ${token}`);
    return node[index];
  }
  if (node !== null && typeof node === "object" && Object.hasOwn(node, token)) {
    return /** @type {Record<string, unknown>} */ (node)[token];
  }
  throw new Error(`no member ${token}`);
}

/**
 * @param {unknown} root
 * @param {string} pointer
 * @returns {unknown}
 */
function get(root, pointer) {
  return tokensOf(pointer).reduce(child, root);
}

/**
 * Adds `value` at `tokens` (inserting into arrays); answers the root and the concrete path.
 * @param {unknown} root
 * @param {string[]} tokens
 * @param {unknown} value
 * @returns {{ root: unknown, path: string }}
 */
function add(root, tokens, value) {
  if (tokens.length === 0) return { root: value, path: "" };
  const { parent, key } = locate(root, tokens);
  if (Array.isArray(parent)) {
    const index = key === "-" ? parent.length : indexOf(key);
    if (index === undefined || index > parent.length) throw new Error(`${pointerOf(tokens)}: no such index`);
    parent.splice(index, 0, value);
    return { root, path: pointerOf([...tokens.slice(0, -1), String(index)]) };
  }
  parent[key] = value;
  return { root, path: pointerOf(tokens) };
}

/**
 * Removes the value at `tokens`; answers the root and the value.
 * @param {unknown} root
 * @param {string[]} tokens
 * @returns {{ root: unknown, value: unknown }}
 */
function remove(root, tokens) {
  if (tokens.length === 0) throw new Error("the whole document cannot be removed");
  const { parent, key } = locate(root, tokens);
  if (Array.isArray(parent)) {
    const index = indexOf(key);
    if (index === undefined || index >= parent.length) throw new Error(`${pointerOf(tokens)}: no such element`);
    return { root, value: parent.splice(index, 1)[0] };
  }
  if (!Object.hasOwn(parent, key)) throw new Error(`${pointerOf(tokens)}: no such member`);
  const value = parent[key];
  delete parent[key];
  return { root, value };
}

/**
 * Applies one operation, pushing its inverse onto `undo`; answers the (possibly new) root.
 * @param {unknown} root
 * @param {Operation} operation
 * @param {Patch} undo
 * @returns {unknown}
 */
function applyOperation(root, operation, undo) {
  const tokens = tokensOf(operation.path);
  switch (operation.op) {
    case "add": {
      const existing = tokens.length > 0 ? locate(root, tokens) : undefined;
      const replacing = existing && !Array.isArray(existing.parent) && Object.hasOwn(existing.parent, existing.key);
      const previous = replacing ? /** @type {Record<string, unknown>} */ (existing.parent)[existing.key] : undefined;
      const before = tokens.length === 0 ? root : undefined;
      const done = add(root, tokens, copy(operation.value));
      if (tokens.length === 0) undo.push({ op: "replace", path: "", value: before });
      else if (replacing) undo.push({ op: "replace", path: done.path, value: previous });
      else undo.push({ op: "remove", path: done.path });
      return done.root;
    }
    case "remove": {
      const done = remove(root, tokens);
      undo.push({ op: "add", path: operation.path, value: done.value });
      return done.root;
    }
    case "replace": {
      if (tokens.length === 0) {
        undo.push({ op: "replace", path: "", value: root });
        return copy(operation.value);
      }
      const previous = get(root, operation.path);
      const { parent, key } = locate(root, tokens);
      if (Array.isArray(parent)) parent[/** @type {number} */ (indexOf(key))] = copy(operation.value);
      else parent[key] = copy(operation.value);
      undo.push({ op: "replace", path: operation.path, value: previous });
      return root;
    }
    case "move": {
      const from = tokensOf(operation.from);
      if (from.length < tokens.length && from.every((token, i) => token === tokens[i])) {
        throw new Error(`${operation.from} cannot move into its own child`);
      }
      const taken = remove(root, from);
      let placed;
      try {
        placed = add(taken.root, tokens, taken.value);
      } catch (error) {
        add(taken.root, from, taken.value); // Put it back: an operation is all or nothing too.
        throw error;
      }
      undo.push({ op: "move", from: placed.path, path: operation.from });
      return placed.root;
    }
    case "copy": {
      const value = copy(get(root, operation.from));
      const existing = tokens.length > 0 ? locate(root, tokens) : undefined;
      const replacing = existing && !Array.isArray(existing.parent) && Object.hasOwn(existing.parent, existing.key);
      const previous = replacing ? /** @type {Record<string, unknown>} */ (existing.parent)[existing.key] : undefined;
      const done = add(root, tokens, value);
      undo.push(replacing ? { op: "replace", path: done.path, value: previous } : { op: "remove", path: done.path });
      return done.root;
    }
    case "test": {
      if (!equal(get(root, operation.path), operation.value)) throw new Error(`${operation.path}: test failed`);
      return root;
    }
  }
}

/**
 * Deep equality of JSON values.
 * @param {unknown} a
 * @param {unknown} b
 * @returns {boolean}
 */
export function equal(a, b) {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((v, i) => equal(v, b[i]));
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  const rb = /** @type {Record<string, unknown>} */ (b);
  const ra = /** @type {Record<string, unknown>} */ (a);
  return ka.length === kb.length && ka.every((k) => Object.hasOwn(rb, k) && equal(ra[k], rb[k]));
}
