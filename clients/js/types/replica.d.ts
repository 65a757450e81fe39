/**
 * The reference a revision carries in its details, when one of the replicas put it there.
 * @param {RevisionLike} revision
 * @returns {string | undefined}
 */
export function ownRef(revision: RevisionLike): string | undefined;
/** @typedef {import("./types.js").Patch} Patch */
/**
 * A revision as the server describes it (only what the replica reads).
 * @typedef {{ number: number, id?: string, details?: Record<string, unknown>, properties: { patch: Patch } }} RevisionLike
 */
/**
 * A pending local change.
 * @typedef {{ ref: string, patch: Patch, sent: boolean, undoable: boolean }} Pending
 */
/**
 * Why a local change was rolled back: the server's error (`type`, `message`, `details`), or
 * the replica's own finding (`conflict` when it collided with a change made meanwhile).
 * @typedef {{ type: string, message: string, details?: unknown }} Refusal
 */
/**
 * An undo (or redo) entry: the patch that undoes a change, as of when `seen` remote revisions had
 * been received; it is moved past the ones after when it is used.
 * @typedef {{ patch: Patch, seen: number }} HistoryEntry
 */
/**
 * What an undo or a redo did: submitted a change (`ref`), or refused, with the reason.
 * @typedef {{ ok: true, ref: string } | { ok: false, reason: string }} Step
 */
/** How many changes undo remembers. */
export const HISTORY: 100;
/** The details key that carries a patch's reference, to recognize it when it comes back. */
export const REF_KEY: "client_ref";
export class Replica {
    /**
     * @param {unknown} content the dialogue's content (`title`, `sequences`, `is_archived`)
     * @param {number} number its revision number
     */
    constructor(content: unknown, number: number);
    /** @type {unknown} */
    confirmed: unknown;
    /** The newest revision applied to `confirmed`. */
    number: number;
    /** @type {Pending[]} */
    pending: Pending[];
    /** @type {unknown} */
    local: unknown;
    /** @type {HistoryEntry[]} inverses of own changes, newest last */
    undoStack: HistoryEntry[];
    /** @type {HistoryEntry[]} */
    redoStack: HistoryEntry[];
    /**
     * Others' revisions as they apply after the pending changes, oldest first, kept while a
     * history entry may need moving past them (entries are moved when used, not on every
     * revision): `remotes[i]` is remote number `remotesBase + i`.
     * @type {Patch[]}
     */
    remotes: Patch[];
    remotesBase: number;
    counter: number;
    /** Makes this replica's references unique: its patches are recognized by them when they come back. */
    prefix: string;
    /** Nothing is sent until `number` reaches this (after a reconnect, the catch-up). */
    catchUpTo: number;
    /**
     * Connected (again), and the server's newest revision is `newest`: pending patches go out
     * once the revisions up to it are applied, so that a patch stored before the connection
     * dropped is recognized when it comes back instead of being sent twice.
     * @param {number} newest
     */
    resume(newest: number): void;
    /** The content as this client sees it: confirmed plus pending. */
    get content(): unknown;
    /**
     * Applies a local change at once and queues it for the server.
     * @param {Patch} patch
     * @param {{ undoable?: boolean }} [options] undo and redo submit theirs as not undoable
     * @returns {string} its reference
     * @throws {import("./patch.js").PatchError} when it does not apply to the local content
     */
    submit(patch: Patch, options?: {
        undoable?: boolean;
    }): string;
    /**
     * The patch frame to send now, if any (the first pending patch, when none is in flight).
     * @returns {{ type: "patch", ref: string, base_revision: number, patch: Patch, details: Record<string, unknown> } | undefined}
     */
    next(): {
        type: "patch";
        ref: string;
        base_revision: number;
        patch: Patch;
        details: Record<string, unknown>;
    } | undefined;
    /** The connection dropped: the patch in flight goes again (unless it comes back stored). */
    disconnected(): void;
    /**
     * A revision arrived (another client's, or one of ours stored before an ack could reach us).
     * @param {RevisionLike} revision
     * @returns {{ refused: { ref: string, refusal: Refusal }[] }} local changes rolled back
     */
    receive(revision: RevisionLike): {
        refused: {
            ref: string;
            refusal: Refusal;
        }[];
    };
    /**
     * Our patch `ref`, the one in flight, is stored as `revision`.
     * @param {string} ref
     * @param {RevisionLike} revision
     * @returns {{ ref: string, refusal: Refusal }[]}
     */
    acknowledge(ref: string, revision: RevisionLike): {
        ref: string;
        refusal: Refusal;
    }[];
    /**
     * Our patch `ref` was refused by the server.
     * @param {string} ref
     * @param {Refusal} refusal
     * @returns {{ ref: string, refusal: Refusal }[]} every change rolled back (it, and those built on it)
     */
    refuse(ref: string, refusal: Refusal): {
        ref: string;
        refusal: Refusal;
    }[];
    /**
     * Moves the pending patches (and the undo history) past `theirs`, a revision just applied to
     * `confirmed`, and rebuilds the local content. A pending patch that collides with it is rolled
     * back (the server will refuse it the same way), and so is every pending patch after it: they
     * were made on top of it, and where it is not, their paths may mean something else.
     * @param {Patch} theirs
     * @returns {{ ref: string, refusal: Refusal }[]}
     */
    movePast(theirs: Patch): {
        ref: string;
        refusal: Refusal;
    }[];
    /**
     * Moves the pending changes from `start` on past `theirs`, and `theirs` past each of them in
     * turn (it comes first on the server); stops at the first change that collides with it.
     * @param {number} start
     * @param {Patch} theirs
     * @returns {{ moved: Patch, collided?: { index: number, error: RebaseConflict } }} `theirs` as
     *   it applies after the changes it was moved past
     */
    crossPending(start: number, theirs: Patch): {
        moved: Patch;
        collided?: {
            index: number;
            error: RebaseConflict;
        };
    };
    /**
     * Moves the pending patches from `index` on past the undoing of `dropped` (which applied to
     * `state`, and was removed from just before them); from the first that built on it, they are
     * rolled back.
     * @param {number} index
     * @param {Patch} dropped
     * @param {unknown} state
     * @param {string} ref the dropped change's reference
     * @returns {{ ref: string, refusal: Refusal }[]}
     */
    movePastUndoing(index: number, dropped: Patch, state: unknown, ref: string): {
        ref: string;
        refusal: Refusal;
    }[];
    /**
     * Removes pending change `index` (the server refused it), moving the later ones past its
     * undoing; from the first that built on it, they are rolled back too.
     * @param {number} index
     * @param {Refusal} refusal
     * @returns {{ ref: string, refusal: Refusal }[]}
     */
    rollBack(index: number, refusal: Refusal): {
        ref: string;
        refusal: Refusal;
    }[];
    /** After a roll-back the history no longer matches the content: it starts again. */
    forgetHistory(): void;
    /**
     * Records `theirs` (as it applies after every pending change) for the history entries made
     * before it, which are moved past it when used.
     * @param {Patch} theirs
     */
    moveHistory(theirs: Patch): void;
    /** The number of remote revisions recorded so far. */
    get seen(): number;
    /**
     * Pushes an entry (dropping the oldest beyond {@link HISTORY}, and the remote revisions no
     * entry needs any more).
     * @param {HistoryEntry[]} stack
     * @param {Patch} patch
     */
    remember(stack: HistoryEntry[], patch: Patch): void;
    /**
     * An entry's patch moved past the remote revisions received after it; `null` when one of them
     * collided with it.
     * @param {HistoryEntry} entry
     * @returns {Patch | null}
     */
    current(entry: HistoryEntry): Patch | null;
    /**
     * Rebuilds the local content: confirmed plus every pending patch. A moved patch that no
     * longer applies (the server would answer `patch_conflict`) is rolled back, with the ones
     * made after it.
     * @returns {{ ref: string, refusal: Refusal }[]}
     */
    rebuild(): {
        ref: string;
        refusal: Refusal;
    }[];
    /**
     * Undoes this client's newest change that is not undone yet: submits its inverse, moved past
     * everything others did since.
     * @returns {Step}
     */
    undo(): Step;
    /**
     * Redoes the newest undone change.
     * @returns {Step}
     */
    redo(): Step;
    /**
     * @param {HistoryEntry[]} from
     * @param {HistoryEntry[]} to
     * @param {string} what
     * @returns {Step}
     */
    step(from: HistoryEntry[], to: HistoryEntry[], what: string): Step;
    /**
     * Restores pending changes saved by an earlier page, with their references, so that one
     * stored just before the page went is recognized when it comes back instead of sent again.
     * Those that no longer apply are dropped.
     * @param {{ ref: string, patch: Patch }[]} saved
     */
    restore(saved: {
        ref: string;
        patch: Patch;
    }[]): void;
    /**
     * The server sent the whole dialogue again (a resync): it becomes the confirmed state. When it
     * is the revision the pending changes were made on, they stay; when it has moved on, the
     * revisions in between are unknown here, so the pending changes cannot be moved past them (and
     * the one in flight may have been stored): they are rolled back and reported.
     * @param {unknown} content
     * @param {number} number
     * @returns {{ ref: string, refusal: Refusal }[]}
     */
    reset(content: unknown, number: number): {
        ref: string;
        refusal: Refusal;
    }[];
}
export type Patch = import("./types.js").Patch;
/**
 * A revision as the server describes it (only what the replica reads).
 */
export type RevisionLike = {
    number: number;
    id?: string;
    details?: Record<string, unknown>;
    properties: {
        patch: Patch;
    };
};
/**
 * A pending local change.
 */
export type Pending = {
    ref: string;
    patch: Patch;
    sent: boolean;
    undoable: boolean;
};
/**
 * Why a local change was rolled back: the server's error (`type`, `message`, `details`), or
 * the replica's own finding (`conflict` when it collided with a change made meanwhile).
 */
export type Refusal = {
    type: string;
    message: string;
    details?: unknown;
};
/**
 * An undo (or redo) entry: the patch that undoes a change, as of when `seen` remote revisions had
 * been received; it is moved past the ones after when it is used.
 */
export type HistoryEntry = {
    patch: Patch;
    seen: number;
};
/**
 * What an undo or a redo did: submitted a change (`ref`), or refused, with the reason.
 */
export type Step = {
    ok: true;
    ref: string;
} | {
    ok: false;
    reason: string;
};
import { RebaseConflict } from "./rebase.js";
