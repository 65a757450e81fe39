// Rebasing a JSON Patch made against an older revision over the patches applied since: the
// same rules as the server's `src/dialogue/rebase.rs`, held to them by the shared vectors in
// `tests/fixtures/rebase-vectors.json` that both test suites run.
//
// Array indices in our patch are shifted past the inserts and removals made since in the same
// array. When a change since then touched the same location as one of our operations, a parent
// of it, or a child of it, the rebase refuses with a conflict: nothing is silently overwritten.

import { indexOf, pointerOf, tokensOf } from "./pointer.js";

/** @typedef {import("./types.js").Operation} Operation */
/** @typedef {import("./types.js").Patch} Patch */

/**
 * Why a patch cannot be rebased: the index of our operation that collided, and its path
 * before rebasing.
 */
export class RebaseConflict extends Error {
  /**
   * @param {number} operation
   * @param {string} path
   */
  constructor(operation, path) {
    super(`operation ${operation} (${path}) collides with a change made since`);
    this.name = "RebaseConflict";
    /** @readonly */
    this.operation = operation;
    /** @readonly */
    this.path = path;
  }
}

/**
 * What one of their operations did, as a later operation sees it.
 * @typedef {{ kind: "inserted" | "removed", parent: string[], index: number } | { kind: "touched", path: string[] }} Effect
 */

/**
 * Rebases `patch` over `since` (the patches applied after its base, oldest first).
 *
 * Where both insert at one index, ours lands after theirs, as on the server. With `first`, ours
 * lands before, and nothing collides (only indices move): for moving a revision the server
 * ordered first past local patches that the server has accepted (or will) after it, which is
 * what the client needs to move its later patches past that revision.
 * @param {Patch} patch
 * @param {readonly Patch[]} since
 * @param {{ first?: boolean }} [options]
 * @returns {Patch} the rebased patch
 * @throws {RebaseConflict}
 */
export function rebasePatch(patch, since, options = {}) {
  const first = options.first ?? false;
  const effects = since.flatMap((applied) => applied.flatMap(effectsOf));
  return patch.map((operation, index) => {
    const inserting = operation.op === "add" || operation.op === "move" || operation.op === "copy";
    const path = tokensOf(operation.path);
    const from = "from" in operation ? tokensOf(operation.from) : undefined;
    for (const effect of effects) {
      if (!shift(path, effect, inserting, first) || (from && !shift(from, effect, false, first))) {
        throw new RebaseConflict(index, operation.path);
      }
    }
    /** @type {Operation} */
    const rebased = { ...operation, path: pointerOf(path) };
    if (from && "from" in rebased) rebased.from = pointerOf(from);
    return rebased;
  });
}

/**
 * The effects of one of their operations, in order (a move is a removal then an insertion).
 * @param {Operation} theirs
 * @returns {Effect[]}
 */
function effectsOf(theirs) {
  /** @type {(pointer: string, inserted: boolean) => Effect} */
  const at = (pointer, inserted) => {
    const tokens = tokensOf(pointer);
    const last = tokens.at(-1);
    // An append shifts nothing; it touches only the new element (kept as `…/-`).
    if (last === "-" && inserted) return { kind: "touched", path: tokens };
    const index = last === undefined ? undefined : indexOf(last);
    if (index !== undefined) return { kind: inserted ? "inserted" : "removed", parent: tokens.slice(0, -1), index };
    return { kind: "touched", path: tokens };
  };
  switch (theirs.op) {
    case "test":
      return [];
    case "add":
    case "copy":
      return [at(theirs.path, true)];
    case "remove":
      return [at(theirs.path, false)];
    case "replace":
      return [{ kind: "touched", path: tokensOf(theirs.path) }];
    case "move":
      return [at(theirs.from, false), at(theirs.path, true)];
  }
}

/**
 * @param {readonly string[]} prefix
 * @param {readonly string[]} path
 */
function isPrefix(prefix, path) {
  return prefix.length <= path.length && prefix.every((token, i) => token === path[i]);
}

/**
 * Moves one path of ours past one effect of theirs, in place; `false` on a collision.
 * `inserting` is true for the target of an add, copy or move of ours, which may sit at the very
 * index where they inserted or removed.
 * @param {string[]} path
 * @param {Effect} effect
 * @param {boolean} inserting
 * @param {boolean} first our insertion goes before theirs at the same index, and nothing collides
 * @returns {boolean}
 */
function shift(path, effect, inserting, first) {
  if (effect.kind === "touched") {
    if (first) return true;
    const theirs = effect.path;
    if (theirs.at(-1) === "-") {
      // They appended to an array: only our writes to the whole array collide.
      const array = theirs.slice(0, -1);
      return !(path.length === array.length && isPrefix(array, path));
    }
    return !(isPrefix(theirs, path) || isPrefix(path, theirs));
  }
  const { parent, index } = effect;
  if (path.length <= parent.length) {
    // We address the array itself or one of its ancestors: they changed inside it.
    return !isPrefix(path, parent);
  }
  if (!isPrefix(parent, path)) return true;
  const ours = indexOf(path[parent.length]);
  // `-` (append) or a key: unaffected by index shifts.
  if (ours === undefined) return true;
  const isTarget = path.length === parent.length + 1;
  let moved = ours;
  if (effect.kind === "inserted") {
    if (ours > index || (ours === index && !(first && inserting && isTarget))) moved = ours + 1;
  } else if (ours > index) {
    moved = ours - 1;
  } else if (ours === index && !(inserting && isTarget) && !first) {
    // The element we address was removed.
    return false;
  }
  if (moved !== ours) path[parent.length] = String(moved);
  return true;
}
