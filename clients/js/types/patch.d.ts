/**
 * Applies `patch` to `document` in place, all or nothing, and answers its inverse: the patch
 * that, applied right after, brings `document` back.
 * @param {unknown} document an object or array (the root itself is replaced only through the
 *   returned value when an operation targets "")
 * @param {Patch} patch
 * @returns {{ document: unknown, inverse: Patch }}
 * @throws {PatchError} and then `document` is as it was
 */
export function applyPatch(document: unknown, patch: Patch): {
    document: unknown;
    inverse: Patch;
};
/**
 * Deep equality of JSON values.
 * @param {unknown} a
 * @param {unknown} b
 * @returns {boolean}
 */
export function equal(a: unknown, b: unknown): boolean;
/** @typedef {import("./types.js").Operation} Operation */
/** @typedef {import("./types.js").Patch} Patch */
/** A patch that does not apply: which operation, and why. */
export class PatchError extends Error {
    /**
     * @param {number} operation
     * @param {string} message
     */
    constructor(operation: number, message: string);
    /** @readonly */
    readonly operation: number;
}
export type Operation = import("./types.js").Operation;
export type Patch = import("./types.js").Patch;
