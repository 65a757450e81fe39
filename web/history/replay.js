// Rebuilding the dialogue as it was before and after each loaded revision, in the browser, from
// what the timeline already has (the current content and the revisions' patches), so that the
// summaries can name what each patch touched without one request per revision. A patch keeps no
// old values, so this walks back from the current content undoing each patch (a value that a
// `replace` or `remove` overwrote becomes UNKNOWN), then forward again from the oldest state
// reached, replaying the patches so that every value some loaded revision wrote is known again.
// (The exact dialogue as of one revision, for its preview, comes from the server instead.)

import { applyPatch } from "/web/client/index.js";
import { tokensOf } from "../pointer.js";

/** A value the loaded history does not tell (compared by identity). */
export const UNKNOWN = Object.freeze({ unknown: true });

/**
 * @typedef {{ op: string, path: string, from?: string, value?: unknown }} Operation
 * @typedef {{ number: number, properties?: { patch?: Operation[] } }} RevisionLike
 * @typedef {{ before: unknown, after: unknown }} States
 */

/**
 * The content before and after each revision, from the content after the newest one.
 * @param {unknown} head the content right after `revisions[0]`
 * @param {RevisionLike[]} revisions consecutive revisions, newest first
 * @returns {Map<number, States>} by revision number
 */
export function statesOf(head, revisions) {
  let state = clone(head);
  for (const revision of revisions) state = unapply(state, patchOf(revision));
  /** @type {Map<number, States>} */
  const states = new Map();
  for (const revision of [...revisions].reverse()) {
    const after = applyLeniently(state, patchOf(revision));
    states.set(revision.number, { before: state, after });
    state = after;
  }
  return states;
}

/**
 * `state` with `patch` applied, operation by operation, on a copy; an operation that does not
 * apply (it reaches into an UNKNOWN value) is left out.
 * @param {unknown} state
 * @param {Operation[]} patch
 */
export function applyLeniently(state, patch) {
  let result = clone(state);
  for (const operation of patch) {
    try {
      result = applyPatch(result, [/** @type {any} */ (operation)]).document;
    } catch {
      // Reaches into a value the loaded history does not tell: that value stays UNKNOWN.
    }
  }
  return result;
}

/**
 * The revision's patch (an edit's, or the one a revert applied).
 * @param {RevisionLike} revision
 * @returns {Operation[]}
 */
export function patchOf(revision) {
  return Array.isArray(revision.properties?.patch) ? revision.properties.patch : [];
}

/**
 * The state before `patch`, from the state after it (a copy).
 * @param {unknown} state
 * @param {Operation[]} patch
 */
function unapply(state, patch) {
  let result = clone(state);
  for (const operation of [...patch].reverse()) {
    try {
      result = unapplyOperation(result, operation);
    } catch {
      // The state no longer has what the operation names (it lies inside an UNKNOWN value).
    }
  }
  return result;
}

/**
 * @param {any} state
 * @param {Operation} operation
 * @returns {any}
 */
function unapplyOperation(state, operation) {
  switch (operation.op) {
    case "add":
    case "copy":
      return removeAt(state, operation.path);
    case "remove":
      return insertAt(state, operation.path, UNKNOWN);
    case "replace":
      return setAt(state, operation.path, UNKNOWN);
    case "move": {
      const moved = valueAt(state, operation.path);
      return insertAt(removeAt(state, operation.path), String(operation.from), moved);
    }
    default:
      return state;
  }
}

/**
 * The parent of the value at `path`, and the last token (an index for arrays).
 * @param {any} state
 * @param {string} path
 * @returns {{ parent: any, key: string | number }}
 */
function locate(state, path) {
  const tokens = tokensOf(path);
  let parent = state;
  for (const token of tokens.slice(0, -1)) {
    parent = parent?.[token];
    if (parent === null || typeof parent !== "object" || parent === UNKNOWN) throw new Error(`no ${path}`);
  }
  const last = tokens[tokens.length - 1];
  if (!Array.isArray(parent)) return { parent, key: last };
  return { parent, key: last === "-" ? parent.length : Number(last) };
}

/** @param {any} state @param {string} path */
function valueAt(state, path) {
  if (path === "") return state;
  const { parent, key } = locate(state, path);
  return parent[key];
}

/** @param {any} state @param {string} path */
function removeAt(state, path) {
  if (path === "") return UNKNOWN;
  const { parent, key } = locate(state, path);
  if (Array.isArray(parent)) parent.splice(Number(key) === parent.length ? parent.length - 1 : Number(key), 1);
  else delete parent[key];
  return state;
}

/** @param {any} state @param {string} path @param {unknown} value */
function insertAt(state, path, value) {
  if (path === "") return value;
  const { parent, key } = locate(state, path);
  if (Array.isArray(parent)) parent.splice(Number(key), 0, value);
  else parent[key] = value;
  return state;
}

/** @param {any} state @param {string} path @param {unknown} value */
function setAt(state, path, value) {
  if (path === "") return value;
  const { parent, key } = locate(state, path);
  parent[key] = value;
  return state;
}

/**
 * A deep copy that keeps UNKNOWN as it is.
 * @param {unknown} value
 * @returns {any}
 */
function clone(value) {
  if (value === UNKNOWN || value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) return value.map(clone);
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, clone(v)]));
}
