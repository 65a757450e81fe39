// A dialogue's local replica with optimistic local changes: the server's newest revision
// (`confirmed`) with this client's pending patches applied over it. Pure: no socket, no timer;
// the live connection feeds it frames and sends what it asks to send.
//
// - A local patch applies at once and waits in `pending`. One patch is in flight at a time, sent
//   with the confirmed revision as its base; the others wait their turn.
// - A revision from someone else is applied to `confirmed`, and every pending patch is moved past
//   it by the server's rebase rules. The patch in flight moves exactly as the server will move it,
//   so a conflict here is the server's conflict too: it is rolled back at once. To move the later
//   pending patches, the revision itself is moved past the earlier ones (it comes first on the
//   server, so at an equal index its insertion goes first).
// - A refused patch is rolled back; the patches made after it are moved past its undoing, and
//   those that built on it are refused with it.
// - Each local change keeps its inverse for undo, moved past what others do afterwards.

import { applyPatch } from "./patch.js";
import { RebaseConflict, rebasePatch } from "./rebase.js";

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
export const HISTORY = 100;

/** The details key that carries a patch's reference, to recognize it when it comes back. */
export const REF_KEY = "client_ref";

export class Replica {
  /**
   * @param {unknown} content the dialogue's content (`title`, `sequences`, `is_archived`)
   * @param {number} number its revision number
   */
  constructor(content, number) {
    /** @type {unknown} */
    this.confirmed = structuredClone(content);
    /** The newest revision applied to `confirmed`. */
    this.number = number;
    /** @type {Pending[]} */
    this.pending = [];
    /** @type {unknown} */
    this.local = structuredClone(content);
    /** @type {HistoryEntry[]} inverses of own changes, newest last */
    this.undoStack = [];
    /** @type {HistoryEntry[]} */
    this.redoStack = [];
    /**
     * Others' revisions as they apply after the pending changes, oldest first, kept while a
     * history entry may need moving past them (entries are moved when used, not on every
     * revision): `remotes[i]` is remote number `remotesBase + i`.
     * @type {Patch[]}
     */
    this.remotes = [];
    this.remotesBase = 0;
    this.counter = 0;
    /** Makes this replica's references unique: its patches are recognized by them when they come back. */
    this.prefix = globalThis.crypto?.randomUUID?.().slice(0, 13) ?? Math.random().toString(36).slice(2, 15);
    /** Nothing is sent until `number` reaches this (after a reconnect, the catch-up). */
    this.catchUpTo = number;
  }

  /**
   * Connected (again), and the server's newest revision is `newest`: pending patches go out
   * once the revisions up to it are applied, so that a patch stored before the connection
   * dropped is recognized when it comes back instead of being sent twice.
   * @param {number} newest
   */
  resume(newest) {
    this.catchUpTo = newest;
  }

  /** The content as this client sees it: confirmed plus pending. */
  get content() {
    return this.local;
  }

  /**
   * Applies a local change at once and queues it for the server.
   * @param {Patch} patch
   * @param {{ undoable?: boolean }} [options] undo and redo submit theirs as not undoable
   * @returns {string} its reference
   * @throws {import("./patch.js").PatchError} when it does not apply to the local content
   */
  submit(patch, options = {}) {
    const { document, inverse } = applyPatch(this.local, patch);
    this.local = document;
    const undoable = options.undoable ?? true;
    if (undoable) {
      this.remember(this.undoStack, inverse);
      this.redoStack = [];
    }
    const ref = `${this.prefix}-${++this.counter}`;
    this.pending.push({ ref, patch: structuredClone(patch), sent: false, undoable });
    return ref;
  }

  /**
   * The patch frame to send now, if any (the first pending patch, when none is in flight).
   * @returns {{ type: "patch", ref: string, base_revision: number, patch: Patch, details: Record<string, unknown> } | undefined}
   */
  next() {
    const first = this.pending[0];
    if (!first || first.sent || this.number < this.catchUpTo) return undefined;
    first.sent = true;
    return { type: "patch", ref: first.ref, base_revision: this.number, patch: first.patch, details: { [REF_KEY]: first.ref } };
  }

  /** The connection dropped: the patch in flight goes again (unless it comes back stored). */
  disconnected() {
    for (const change of this.pending) change.sent = false;
  }

  /**
   * A revision arrived (another client's, or one of ours stored before an ack could reach us).
   * @param {RevisionLike} revision
   * @returns {{ refused: { ref: string, refusal: Refusal }[] }} local changes rolled back
   */
  receive(revision) {
    if (revision.number <= this.number) return { refused: [] };
    if (revision.number !== this.number + 1) {
      throw new Error(`revision ${revision.number} after ${this.number}: a gap`);
    }
    const ref = ownRef(revision);
    const mine = ref === undefined ? -1 : this.pending.findIndex((change) => change.ref === ref);
    if (mine === 0) return { refused: this.acknowledge(/** @type {string} */ (ref), revision) };
    const patch = revision.properties.patch;
    this.confirmed = applyPatch(this.confirmed, structuredClone(patch)).document;
    this.number = revision.number;
    return { refused: this.movePast(patch) };
  }

  /**
   * Our patch `ref`, the one in flight, is stored as `revision`.
   * @param {string} ref
   * @param {RevisionLike} revision
   * @returns {{ ref: string, refusal: Refusal }[]}
   */
  acknowledge(ref, revision) {
    if (this.pending[0]?.ref !== ref) throw new Error(`an ack for ${ref}, which is not in flight`);
    if (revision.number !== this.number + 1) throw new Error(`revision ${revision.number} after ${this.number}: a gap`);
    this.pending.shift();
    // What the server stored is the patch as it was moved here: the rest already builds on it.
    this.confirmed = applyPatch(this.confirmed, structuredClone(revision.properties.patch)).document;
    this.number = revision.number;
    return [];
  }

  /**
   * Our patch `ref` was refused by the server.
   * @param {string} ref
   * @param {Refusal} refusal
   * @returns {{ ref: string, refusal: Refusal }[]} every change rolled back (it, and those built on it)
   */
  refuse(ref, refusal) {
    const index = this.pending.findIndex((change) => change.ref === ref);
    if (index === -1) return [];
    return this.rollBack(index, refusal);
  }

  /**
   * Moves the pending patches (and the undo history) past `theirs`, a revision just applied to
   * `confirmed`, and rebuilds the local content. A pending patch that collides with it is rolled
   * back (the server will refuse it the same way), and so is every pending patch after it: they
   * were made on top of it, and where it is not, their paths may mean something else.
   * @param {Patch} theirs
   * @returns {{ ref: string, refusal: Refusal }[]}
   */
  movePast(theirs) {
    if (this.pending.length === 0) {
      // Nothing of ours in between: the local content follows the same way, no copy needed.
      this.local = applyPatch(this.local, structuredClone(theirs)).document;
      this.moveHistory(theirs);
      return [];
    }
    const { moved, collided } = this.crossPending(0, theirs);
    if (collided) {
      const [first, ...after] = this.pending.splice(collided.index);
      this.forgetHistory();
      const refused = [{ ref: first.ref, refusal: conflictOf(collided.error) }];
      refused.push(...after.map((c) => ({ ref: c.ref, refusal: dependsOn(first.ref) })));
      return refused.concat(this.rebuild());
    }
    this.moveHistory(moved);
    return this.rebuild();
  }

  /**
   * Moves the pending changes from `start` on past `theirs`, and `theirs` past each of them in
   * turn (it comes first on the server); stops at the first change that collides with it.
   * @param {number} start
   * @param {Patch} theirs
   * @returns {{ moved: Patch, collided?: { index: number, error: RebaseConflict } }} `theirs` as
   *   it applies after the changes it was moved past
   */
  crossPending(start, theirs) {
    let moving = theirs;
    for (let i = start; i < this.pending.length; i++) {
      const change = this.pending[i];
      try {
        const moved = rebasePatch(change.patch, [moving]);
        moving = rebasePatch(moving, [change.patch], { first: true });
        change.patch = moved;
      } catch (error) {
        if (!(error instanceof RebaseConflict)) throw error;
        return { moved: moving, collided: { index: i, error } };
      }
    }
    return { moved: moving };
  }

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
  movePastUndoing(index, dropped, state, ref) {
    /** @type {Patch} */
    let undo;
    try {
      undo = applyPatch(structuredClone(state), structuredClone(dropped)).inverse;
    } catch {
      return []; // It never applied: nothing after it can have built on it.
    }
    const { collided } = this.crossPending(index, undo);
    if (!collided) return [];
    return this.pending.splice(collided.index).map((dependent) => ({ ref: dependent.ref, refusal: dependsOn(ref) }));
  }

  /**
   * Removes pending change `index` (the server refused it), moving the later ones past its
   * undoing; from the first that built on it, they are rolled back too.
   * @param {number} index
   * @param {Refusal} refusal
   * @returns {{ ref: string, refusal: Refusal }[]}
   */
  rollBack(index, refusal) {
    let before = structuredClone(this.confirmed);
    for (const change of this.pending.slice(0, index)) before = applyPatch(before, structuredClone(change.patch)).document;
    const [dropped] = this.pending.splice(index, 1);
    const refused = [{ ref: dropped.ref, refusal }, ...this.movePastUndoing(index, dropped.patch, before, dropped.ref)];
    this.forgetHistory();
    return refused.concat(this.rebuild());
  }

  /** After a roll-back the history no longer matches the content: it starts again. */
  forgetHistory() {
    this.undoStack = [];
    this.redoStack = [];
    this.remotesBase += this.remotes.length;
    this.remotes = [];
  }

  /**
   * Records `theirs` (as it applies after every pending change) for the history entries made
   * before it, which are moved past it when used.
   * @param {Patch} theirs
   */
  moveHistory(theirs) {
    if (this.undoStack.length === 0 && this.redoStack.length === 0) {
      this.remotesBase += this.remotes.length + 1;
      this.remotes = [];
      return;
    }
    this.remotes.push(theirs);
  }

  /** The number of remote revisions recorded so far. */
  get seen() {
    return this.remotesBase + this.remotes.length;
  }

  /**
   * Pushes an entry (dropping the oldest beyond {@link HISTORY}, and the remote revisions no
   * entry needs any more).
   * @param {HistoryEntry[]} stack
   * @param {Patch} patch
   */
  remember(stack, patch) {
    stack.push({ patch, seen: this.seen });
    if (stack.length > HISTORY) stack.shift();
    const oldest = Math.min(...[...this.undoStack, ...this.redoStack].map((entry) => entry.seen));
    if (oldest > this.remotesBase) {
      this.remotes = this.remotes.slice(oldest - this.remotesBase);
      this.remotesBase = oldest;
    }
  }

  /**
   * An entry's patch moved past the remote revisions received after it; `null` when one of them
   * collided with it.
   * @param {HistoryEntry} entry
   * @returns {Patch | null}
   */
  current(entry) {
    try {
      return rebasePatch(entry.patch, this.remotes.slice(entry.seen - this.remotesBase));
    } catch (error) {
      if (error instanceof RebaseConflict) return null;
      throw error;
    }
  }

  /**
   * Rebuilds the local content: confirmed plus every pending patch. A moved patch that no
   * longer applies (the server would answer `patch_conflict`) is rolled back, with the ones
   * made after it.
   * @returns {{ ref: string, refusal: Refusal }[]}
   */
  rebuild() {
    let local = structuredClone(this.confirmed);
    for (let i = 0; i < this.pending.length; i++) {
      try {
        local = applyPatch(local, this.pending[i].patch).document;
      } catch (error) {
        const [first, ...after] = this.pending.splice(i);
        this.forgetHistory();
        this.local = local;
        const refusal = { type: "patch_conflict", message: `It no longer applies: ${error instanceof Error ? error.message : error}` };
        return [{ ref: first.ref, refusal }, ...after.map((c) => ({ ref: c.ref, refusal: dependsOn(first.ref) }))];
      }
    }
    this.local = local;
    return [];
  }

  /**
   * Undoes this client's newest change that is not undone yet: submits its inverse, moved past
   * everything others did since.
   * @returns {Step}
   */
  undo() {
    return this.step(this.undoStack, this.redoStack, "undo");
  }

  /**
   * Redoes the newest undone change.
   * @returns {Step}
   */
  redo() {
    return this.step(this.redoStack, this.undoStack, "redo");
  }

  /**
   * @param {HistoryEntry[]} from
   * @param {HistoryEntry[]} to
   * @param {string} what
   * @returns {Step}
   */
  step(from, to, what) {
    const entry = from.pop();
    if (!entry) return { ok: false, reason: `nothing to ${what}` };
    const patch = this.current(entry);
    if (patch === null) {
      return { ok: false, reason: `the change to ${what} was overwritten by another editor's later change` };
    }
    try {
      const { document, inverse } = applyPatch(this.local, patch);
      this.local = document;
      this.remember(to, inverse);
      const ref = `${this.prefix}-${++this.counter}`;
      this.pending.push({ ref, patch: structuredClone(patch), sent: false, undoable: false });
      return { ok: true, ref };
    } catch (error) {
      return { ok: false, reason: `the change to ${what} no longer applies: ${error instanceof Error ? error.message : error}` };
    }
  }

  /**
   * Restores pending changes saved by an earlier page, with their references, so that one
   * stored just before the page went is recognized when it comes back instead of sent again.
   * Those that no longer apply are dropped.
   * @param {{ ref: string, patch: Patch }[]} saved
   */
  restore(saved) {
    for (const { ref, patch } of saved) {
      try {
        this.local = applyPatch(this.local, structuredClone(patch)).document;
        this.pending.push({ ref, patch: structuredClone(patch), sent: false, undoable: false });
      } catch {
        // It no longer applies to what was saved with it: nothing to send.
      }
    }
  }

  /**
   * The server sent the whole dialogue again (a resync): it becomes the confirmed state. When it
   * is the revision the pending changes were made on, they stay; when it has moved on, the
   * revisions in between are unknown here, so the pending changes cannot be moved past them (and
   * the one in flight may have been stored): they are rolled back and reported.
   * @param {unknown} content
   * @param {number} number
   * @returns {{ ref: string, refusal: Refusal }[]}
   */
  reset(content, number) {
    const same = number === this.number;
    this.confirmed = structuredClone(content);
    this.number = number;
    this.catchUpTo = number;
    /** @type {{ ref: string, refusal: Refusal }[]} */
    const refused = [];
    if (!same) {
      const message = "The dialogue was reloaded from the server; this change could not be carried over it";
      for (const change of this.pending.splice(0)) refused.push({ ref: change.ref, refusal: { type: "conflict", message } });
    }
    for (const change of this.pending) change.sent = false;
    this.forgetHistory();
    return refused.concat(this.rebuild());
  }
}

/**
 * The reference a revision carries in its details, when one of the replicas put it there.
 * @param {RevisionLike} revision
 * @returns {string | undefined}
 */
export function ownRef(revision) {
  const ref = revision.details?.[REF_KEY];
  return typeof ref === "string" ? ref : undefined;
}

/**
 * @param {RebaseConflict} error
 * @returns {Refusal}
 */
function conflictOf(error) {
  return { type: "conflict", message: `Another editor changed ${error.path || "the dialogue"} meanwhile`, details: { path: error.path } };
}

/**
 * @param {string} ref
 * @returns {Refusal}
 */
function dependsOn(ref) {
  return { type: "conflict", message: `It built on change ${ref}, which was refused`, details: { depends_on: ref } };
}
