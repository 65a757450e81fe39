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
export function rebasePatch(patch: Patch, since: readonly Patch[], options?: {
    first?: boolean;
}): Patch;
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
    constructor(operation: number, path: string);
    /** @readonly */
    readonly operation: number;
    /** @readonly */
    readonly path: string;
}
/**
 * What one of their operations did, as a later operation sees it.
 */
export type Effect = {
    kind: "inserted" | "removed";
    parent: string[];
    index: number;
} | {
    kind: "touched";
    path: string[];
};
export type Operation = import("./types.js").Operation;
export type Patch = import("./types.js").Patch;
