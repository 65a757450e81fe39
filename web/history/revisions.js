// The loaded part of one dialogue's revision history: the newest revisions first, older pages
// on demand, new revisions as they arrive live, reverting, the dialogue before and after each
// loaded revision as far as the patches tell (see replay.js, for the summaries), and the exact
// dialogue as a revision left it (from the server, for the preview). Fires `changed` whenever
// the list changes.

import { contentOf } from "/web/client/index.js";
import { applyLeniently, patchOf, statesOf } from "./replay.js";

/** How often the newest revisions are read again before giving up (see loadNewest). */
const MAX_ATTEMPTS = 5;

/** Revisions per page asked of the server. */
const PER_PAGE = 30;

/**
 * @typedef {{ id: string, number: number, user_id: string, created: number, type: string,
 *   details?: any, properties?: { patch?: any[], revision_id?: string } }} Revision
 */

export class RevisionHistory extends EventTarget {
  /**
   * @param {{ request(method: string, path: string, body?: unknown): Promise<any> }} api the client's DialogueApi
   * @param {string} project
   * @param {string} dialogue
   */
  constructor(api, project, dialogue) {
    super();
    this.api = api;
    this.path = `/projects/${encodeURIComponent(project)}/dialogues/${encodeURIComponent(dialogue)}`;
    /** @type {Revision[]} newest first, consecutive numbers */
    this.revisions = [];
    /** @type {unknown} the content right after `revisions[0]` */
    this.head = undefined;
    /** @type {Map<number, import("./replay.js").States>} */
    this.states = new Map();
    /** @type {Map<string, number>} revision id → number, for the targets of reverts */
    this.numbers = new Map();
    /** @type {Map<string, Promise<any>>} revision id → the dialogue as it left it */
    this.dialogues = new Map();
    /** Loading and adding run one at a time, in order. */
    this.queue = Promise.resolve();
  }

  /**
   * Runs `work` after everything queued before it.
   * @template T
   * @param {() => Promise<T>} work
   * @returns {Promise<T>}
   */
  serially(work) {
    const done = this.queue.then(work);
    this.queue = done.catch(() => undefined);
    return done;
  }

  /** Whether older revisions than the loaded ones exist. */
  get hasOlder() {
    const oldest = this.revisions.at(-1);
    return oldest !== undefined && oldest.number > 1;
  }

  /** The newest revision's number (0 before the first). */
  get newest() {
    return this.revisions[0]?.number ?? 0;
  }

  /** Loads the current dialogue and the newest page of revisions. */
  load() {
    return this.serially(() => this.loadNewest());
  }

  /**
   * Reads the dialogue and its newest page of revisions; when more than a page of revisions
   * came between the two requests, tries again (a few times, then gives up with an error).
   * @param {number} [attempt]
   * @returns {Promise<void>}
   */
  async loadNewest(attempt = 1) {
    const description = await this.api.request("GET", this.path);
    const page = await this.page(1);
    // Revisions stored between the two requests are newer than the content: replay them.
    const at = description.revision_id === null ? page.length : page.findIndex((r) => r.id === description.revision_id);
    if (at === -1) {
      if (attempt >= MAX_ATTEMPTS) throw new Error("The dialogue changes too fast to show its history right now. Try again in a moment.");
      return this.loadNewest(attempt + 1);
    }
    this.head = page.slice(0, at).reverse().reduce((content, r) => applyLeniently(content, patchOf(r)), contentOf(description));
    this.revisions = page;
    await this.settle();
  }

  /** Loads about a page of older revisions. */
  loadOlder() {
    return this.serially(async () => {
      const wanted = Math.max(1, (this.revisions.at(-1)?.number ?? 1) - PER_PAGE);
      while (this.hasOlder && (this.revisions.at(-1)?.number ?? 0) > wanted) {
        const oldest = this.revisions.at(-1)?.number ?? 0;
        // Where the next older revision sits in the newest-first list, however many came since.
        const position = this.newest - (oldest - 1);
        const older = (await this.page(Math.floor(position / PER_PAGE) + 1)).filter((r) => r.number < oldest);
        if (older.length === 0) break;
        this.revisions.push(...older);
      }
      await this.settle();
    });
  }

  /**
   * Takes a revision that arrived live (or came back from a revert). Returns whether it is new.
   * @param {Revision} revision
   */
  add(revision) {
    return this.serially(async () => {
      if (revision.number <= this.newest) return false;
      if (revision.number > this.newest + 1) {
        await this.loadNewest(); // missed some: start again from the server's state
        return true;
      }
      this.head = applyLeniently(this.head, patchOf(revision));
      this.revisions.unshift(revision);
      await this.settle();
      return true;
    });
  }

  /**
   * Brings the dialogue back to how it was right after `revision` (a new `revert` revision).
   * @param {Revision} revision
   */
  async revert(revision) {
    const made = await this.api.request("POST", `${this.path}/revisions/`, { type: "revert", properties: { revision_id: revision.id } });
    await this.add(made);
    return made;
  }

  /**
   * The dialogue description as `revision` left it (asked once: it never changes).
   * @param {Revision} revision
   * @returns {Promise<any>}
   */
  dialogueAfter(revision) {
    let dialogue = this.dialogues.get(revision.id);
    if (!dialogue) {
      dialogue = this.api.request("GET", `${this.path}/revisions/${encodeURIComponent(revision.id)}/dialogue`);
      dialogue.catch(() => this.dialogues.delete(revision.id));
      this.dialogues.set(revision.id, dialogue);
    }
    return dialogue;
  }

  /**
   * One page of revisions, newest first.
   * @param {number} page
   * @returns {Promise<Revision[]>}
   */
  page(page) {
    return this.api.request("GET", `${this.path}/revisions/?page=${page}&per_page=${PER_PAGE}&ordering=-number`);
  }

  /** Recomputes the states, learns the numbers of reverts' targets, and tells the listeners. */
  async settle() {
    this.states = statesOf(this.head, this.revisions);
    for (const r of this.revisions) this.numbers.set(r.id, r.number);
    const targets = this.revisions.map((r) => r.properties?.revision_id).filter((id) => id !== undefined && !this.numbers.has(id));
    await Promise.all(
      [...new Set(targets)].map(async (id) => {
        const target = await this.api.request("GET", `${this.path}/revisions/${encodeURIComponent(String(id))}`).catch(() => undefined);
        if (target) this.numbers.set(String(id), target.number);
      }),
    );
    this.dispatchEvent(new Event("changed"));
  }
}
