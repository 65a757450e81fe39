// A live dialogue: the WebSocket session of the live protocol (docs/protocol.md) around a
// `Replica`. It connects, follows `welcome`, `revision`, `ack` and `error` frames, reconnects
// with `since` and backoff after a dropped connection, keeps the peers' presence, and persists
// its pending changes when given a storage, so that a reloaded page still sends them.

import { Replica, ownRef } from "./replica.js";
import { ApiError, DialogueApi } from "./rest.js";

/** @typedef {import("./types.js").Patch} Patch */
/** @typedef {import("./replica.js").Refusal} Refusal */
/** @typedef {"connecting" | "live" | "offline" | "resyncing" | "closed"} Status */
/** @typedef {{ session_id: string, user: { id: string, first_name?: string, last_name?: string }, selection: unknown }} Peer */

/**
 * Where pending changes are kept between page loads (see `storage.js`).
 * @typedef {{ load(key: string): Promise<unknown>, save(key: string, value: unknown): Promise<void> }} Storage
 */

/**
 * @typedef {object} LiveOptions
 * @property {string} url the server, `http(s)://host:port`
 * @property {string} project
 * @property {string} dialogue
 * @property {string} [token] a bearer token; without one, a browser's session cookie is used
 * @property {typeof WebSocket} [WebSocket] the WebSocket class (default: the global one)
 * @property {Storage} [storage] keeps pending changes across reloads
 * @property {number} [reconnectMin] first reconnect delay ceiling, ms (default 250)
 * @property {number} [reconnectMax] longest reconnect delay, ms (default 15,000)
 * @property {number} [pingEvery] application-level ping period, ms (default 15,000)
 * @property {number} [presenceEvery] at most one selection sent per this many ms (default 100)
 * @property {number} [welcomeTimeout] a connection with no `welcome` after this many ms is
 *   closed and opened again (default 10,000)
 * @property {typeof fetch} [fetch] for the REST calls the session makes (default: the global one)
 * @property {boolean} [batch] ask the server for `batch` frames (`?batch=true`): frames queued
 *   together arrive as one WebSocket message (default true)
 */

/** How long a session must last before the reconnect backoff starts again from its floor. */
const STABLE = 10_000;

/** Revisions per REST page when catching up over REST. */
const CATCH_UP_PAGE = 100;

/** The end a refused upgrade means, by the status REST answers for the dialogue. */
const REFUSALS = /** @type {Record<number, 4401 | 4403 | 4404>} */ ({ 401: 4401, 403: 4403, 404: 4404 });

/** Close codes after which the client does not reconnect, and the event each one fires. */
export const FINAL_CLOSES = /** @type {const} */ ({ 4401: "signed-out", 4403: "access-lost", 4404: "deleted" });

/** The content of a dialogue description: what revisions' patches apply to. */
/** @param {any} dialogue */
export function contentOf(dialogue) {
  return { title: dialogue.title, sequences: dialogue.sequences, is_archived: dialogue.is_archived };
}

/**
 * A live dialogue. Events (all `DialogueEvent`s, payload in `detail`):
 * - `change` `{ source: "local" | "remote", content }`: the local content changed;
 * - `revision` `{ revision }`: another session's revision arrived;
 * - `ack` `{ ref, revision }`: one of ours was stored;
 * - `error` `{ ref?, error }`: a change of ours was refused and rolled back (or a frame refused);
 * - `status` `{ status, retryIn? }`: connecting, live, offline (with the ms until the next
 *   attempt), resyncing, closed;
 * - `peers` `{ peers }`: someone joined, left or moved;
 * - `release` `{ release }`;
 * - `pong` `{ ref }`: the server answered an application-level `ping`;
 * - `welcome` `{ sessionId, user, canEdit }`: a session began (after every (re)connection);
 * - `signed-out`, `access-lost`, `deleted`: the session ended for good (close 4401, 4403, 4404).
 */
export class LiveDialogue extends EventTarget {
  /** @param {LiveOptions} options */
  constructor(options) {
    super();
    this.options = options;
    /** @type {Replica | undefined} */
    this.replica = undefined;
    /** @type {Status} */
    this.status = "closed";
    /** @type {Map<string, Peer>} */
    this.peers = new Map();
    /** @type {WebSocket | undefined} */
    this.socket = undefined;
    this.attempt = 0;
    this.wanted = false;
    this.canEdit = false;
    /** @type {string | undefined} */
    this.sessionId = undefined;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.timer = undefined;
    /** @type {ReturnType<typeof setInterval> | undefined} */
    this.pinger = undefined;
    this.awaitingPong = false;
    this.resync = false;
    /** The next connection asks for the whole dialogue (no `since`). */
    this.fullResync = false;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.stable = undefined;
    /** @type {unknown} */
    this.selection = undefined;
    this.selectionSentAt = 0;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.selectionTimer = undefined;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.welcomeTimer = undefined;
    /** Whether the current socket got its `welcome`. */
    this.welcomed = false;
    /** @type {any[] | undefined} frames held while a catch-up over REST runs */
    this.held = undefined;
    this.api = new DialogueApi({ url: options.url, token: options.token, fetch: options.fetch });
    // A browser going offline keeps a dead socket open until pings time out: follow the
    // platform's word instead.
    this.wentOffline = () => {
      if (!this.socket) return;
      const socket = this.socket;
      socket.close(4000);
      this.closed(socket, 4000);
    };
    this.cameOnline = () => {
      if (this.status === "offline") this.reconnectNow();
    };
  }

  /** The storage key of this dialogue's pending changes. */
  get key() {
    return `dialogue-server:${this.options.project}:${this.options.dialogue}`;
  }

  /** The local content (the server's newest revision plus pending changes), once connected. */
  get content() {
    return this.replica?.content;
  }

  /** The newest revision number received. */
  get revision() {
    return this.replica?.number ?? 0;
  }

  /** Changes not yet stored. */
  get pending() {
    return this.replica?.pending.length ?? 0;
  }

  /** Whether `undo()` has a change of this client's to undo (it may still refuse; see README). */
  get canUndo() {
    return (this.replica?.undoStack.length ?? 0) > 0;
  }

  /** Whether `redo()` has an undone change to redo. */
  get canRedo() {
    return (this.replica?.redoStack.length ?? 0) > 0;
  }

  /**
   * Drops the connection now and opens a new one at once (no backoff): for when the platform
   * says the network is back. The browser's `online` and `offline` events do this by themselves.
   */
  reconnectNow() {
    if (!this.wanted) return;
    this.attempt = 0;
    const socket = this.socket;
    if (socket) {
      // Its close event is ignored: this connection is replaced now.
      this.socket = undefined;
      this.replica?.disconnected();
      clearInterval(this.pinger);
      socket.close(4000);
    }
    this.connect();
  }

  /**
   * Connects; resolves at the first `welcome`, rejects when the first connection fails for good.
   * Changes persisted by an earlier page are restored first; with those, an unreachable server
   * resolves it too (status `offline`): the restored content can be edited, and the changes go
   * out when the connection comes.
   * @returns {Promise<void>}
   */
  async open() {
    this.wanted = true;
    globalThis.addEventListener?.("offline", this.wentOffline);
    globalThis.addEventListener?.("online", this.cameOnline);
    if (this.options.storage && !this.replica) {
      const saved = /** @type {any} */ (await this.options.storage.load(this.key));
      if (saved && typeof saved.number === "number") {
        this.replica = new Replica(saved.confirmed, saved.number);
        this.replica.restore(saved.pending ?? []);
      }
    }
    await new Promise((resolve, reject) => {
      /** @param {Event} event */
      const settle = (event) => {
        const { status } = /** @type {{ status: Status }} */ (/** @type {DialogueEvent} */ (event).detail);
        if (status === "live" || (status === "offline" && this.replica)) {
          this.removeEventListener("status", settle);
          resolve(undefined);
        } else if (status === "closed") {
          this.removeEventListener("status", settle);
          reject(new Error("the live session could not be opened"));
        }
      };
      this.addEventListener("status", settle);
      this.connect();
    });
  }

  /** Closes the session for good (pending changes stay persisted, when there is a storage). */
  close() {
    this.wanted = false;
    this.stopTimers();
    this.socket?.close(1000);
    this.setStatus("closed");
  }

  /** Stops every timer of the session (reconnect, welcome, backoff reset, pings), and stops following the network. */
  stopTimers() {
    globalThis.removeEventListener?.("offline", this.wentOffline);
    globalThis.removeEventListener?.("online", this.cameOnline);
    clearTimeout(this.timer);
    clearTimeout(this.welcomeTimer);
    clearTimeout(this.stable);
    clearInterval(this.pinger);
  }

  /**
   * Applies `patch` locally at once and sends it when its turn comes.
   * @param {Patch} patch
   * @returns {string} its reference, as in the `ack` and `error` events
   */
  submit(patch) {
    const replica = this.ready();
    const ref = replica.submit(patch);
    this.changed("local");
    this.flush();
    return ref;
  }

  /**
   * Undoes this client's newest change (see the README for what it does and refuses).
   * @returns {import("./replica.js").Step}
   */
  undo() {
    return this.stepped(this.ready().undo());
  }

  /**
   * Redoes the newest undone change.
   * @returns {import("./replica.js").Step}
   */
  redo() {
    return this.stepped(this.ready().redo());
  }

  /**
   * After an undo or a redo: when it made a change, tells the listeners and sends it.
   * @template {{ ok: boolean }} T
   * @param {T} done
   * @returns {T}
   */
  stepped(done) {
    if (done.ok) {
      this.changed("local");
      this.flush();
    }
    return done;
  }

  /**
   * Tells the others what this editor is looking at (sent at most every `presenceEvery` ms; the
   * newest wins).
   * @param {unknown} selection
   */
  setSelection(selection) {
    this.selection = selection;
    const every = this.options.presenceEvery ?? 100;
    const wait = this.selectionSentAt + every - Date.now();
    if (wait <= 0) this.sendSelection();
    else this.selectionTimer ??= setTimeout(() => this.sendSelection(), wait);
  }

  sendSelection() {
    this.selectionTimer = undefined;
    if (this.send({ type: "presence", selection: this.selection ?? null })) this.selectionSentAt = Date.now();
  }

  /** @returns {Replica} */
  ready() {
    if (!this.replica) throw new Error("not connected yet: await open() first");
    return this.replica;
  }

  connect() {
    clearTimeout(this.timer);
    this.setStatus(this.resync ? "resyncing" : "connecting");
    const { url, project, dialogue, token } = this.options;
    const address = new URL(`/projects/${encodeURIComponent(project)}/dialogues/${encodeURIComponent(dialogue)}/live`, url);
    address.protocol = address.protocol === "https:" ? "wss:" : "ws:";
    if (token) address.searchParams.set("access_token", token);
    if (this.replica && !this.fullResync) address.searchParams.set("since", String(this.replica.number));
    if (this.options.batch ?? true) address.searchParams.set("batch", "true");
    const Socket = this.options.WebSocket ?? globalThis.WebSocket;
    const socket = new Socket(address);
    this.socket = socket;
    this.welcomed = false;
    clearTimeout(this.welcomeTimer);
    // A server that accepts the socket but never welcomes (a proxy, a stuck process).
    this.welcomeTimer = setTimeout(() => socket.close(4000), this.options.welcomeTimeout ?? 10_000);
    socket.addEventListener("message", (event) => this.receive(String(event.data)));
    socket.addEventListener("close", (event) => this.closed(socket, event.code));
    socket.addEventListener("error", () => {
      // A close event follows.
    });
  }

  /** @param {string} text */
  receive(text) {
    /** @type {any} */
    let frame;
    try {
      frame = JSON.parse(text);
    } catch {
      return;
    }
    // A batch: frames the server queued together, each handled as if it came on its own.
    const frames = frame?.type === "batch" && Array.isArray(frame.frames) ? frame.frames : [frame];
    const socket = this.socket;
    for (const each of frames) {
      // An earlier frame closed the socket (out of step): the rest of the batch is moot.
      if (this.gone(socket)) return;
      this.accept(each);
    }
  }

  /**
   * Whether `socket` is no longer the open connection (replaced, or closing after a frame put
   * this client out of step).
   * @param {WebSocket | undefined} socket
   */
  gone(socket) {
    return socket !== this.socket || (socket !== undefined && socket.readyState > 1);
  }

  /** @param {any} frame */
  accept(frame) {
    if (this.held) {
      this.held.push(frame);
      return;
    }
    try {
      this.handle(frame);
    } catch (error) {
      // Out of step with the server (a gap, a revision that does not apply): start again from
      // the whole dialogue.
      this.emit("error", { error: { type: "internal_error", message: `Out of step with the server: ${error}` } });
      this.fullResync = true;
      this.socket?.close(4000);
    }
  }

  /** @param {any} frame */
  handle(frame) {
    switch (frame.type) {
      case "welcome":
        return this.welcome(frame);
      case "revision":
        return this.applyRemote(frame.revision);
      case "ack": {
        const replica = this.ready();
        if (replica.pending[0]?.ref === frame.ref) {
          replica.acknowledge(frame.ref, frame.revision);
          this.emit("ack", { ref: frame.ref, revision: frame.revision });
        } else {
          // Not in flight any more (rolled back meanwhile): the server stored it all the same.
          this.applyRemote(frame.revision);
        }
        this.persist();
        return this.flush();
      }
      case "error": {
        if (frame.error?.details?.duplicate_of !== undefined) {
          // Sent twice (after a reconnect): the first copy is that revision, which arrives (or
          // arrived) as usual and is recognized by its reference. Nothing to roll back.
          return;
        }
        if (typeof frame.ref === "string" && this.replica) {
          this.rolledBack(this.replica.refuse(frame.ref, frame.error));
          this.flush();
        } else {
          this.emit("error", { error: frame.error });
        }
        return;
      }
      case "joined":
        this.peers.set(frame.session_id, { session_id: frame.session_id, user: frame.user, selection: null });
        return this.emit("peers", { peers: this.peers });
      case "left":
        this.peers.delete(frame.session_id);
        return this.emit("peers", { peers: this.peers });
      case "presence": {
        const peer = this.peers.get(frame.session_id);
        if (peer) peer.selection = frame.selection;
        return this.emit("peers", { peers: this.peers });
      }
      case "release":
        return this.emit("release", { release: frame.release });
      case "pong":
        this.awaitingPong = false;
        return this.emit("pong", { ref: frame.ref });
    }
  }

  /** @param {any} welcome */
  welcome(welcome) {
    clearTimeout(this.welcomeTimer);
    this.welcomed = true;
    // The backoff starts again only once a session has lasted: a server that welcomes and then
    // closes at once still gets growing pauses.
    clearTimeout(this.stable);
    this.stable = setTimeout(() => (this.attempt = 0), STABLE);
    this.fullResync = false;
    this.sessionId = welcome.session_id;
    /** @type {Peer["user"] | undefined} this session's own user */
    this.user = welcome.user;
    this.canEdit = Boolean(welcome.can_edit);
    this.emit("welcome", { sessionId: this.sessionId, user: this.user, canEdit: this.canEdit });
    this.peers = new Map(welcome.peers.map((/** @type {Peer} */ peer) => [peer.session_id, peer]));
    const replica = this.replica;
    if (welcome.dialogue && replica?.pending.length && welcome.revision.number > replica.number) {
      // The whole dialogue, newer than the one the pending changes were made on: fetch the
      // revisions in between so that the changes move past them instead of being lost.
      this.carryOver(welcome, replica);
      return;
    }
    if (welcome.dialogue) {
      const content = contentOf(welcome.dialogue);
      if (replica) this.rolledBack(replica.reset(content, welcome.revision.number));
      else this.replica = new Replica(content, welcome.revision.number);
      this.changed("remote");
    } else {
      // `since` served: the welcome names the revision held, and the frames after it lead to
      // the newest (`head_revision`; a server without it named the newest itself).
      this.ready().resume(welcome.head_revision ?? welcome.revision.number);
    }
    this.live();
  }

  /**
   * Catches `replica` up to a full `welcome` over REST (the revisions after its own, in order),
   * holding the frames that arrive meanwhile; falls back to the welcome's dialogue when the
   * revisions cannot be had or do not lead to it.
   * @param {any} welcome
   * @param {Replica} replica
   */
  async carryOver(welcome, replica) {
    const socket = this.socket;
    const target = welcome.revision.number;
    const content = contentOf(welcome.dialogue);
    this.held = [];
    this.setStatus("resyncing");
    try {
      while (replica.number < target) {
        const page = Math.floor(replica.number / CATCH_UP_PAGE) + 1;
        const listed = await this.api.revisions(this.options.project, this.options.dialogue, { ordering: "number", page, per_page: CATCH_UP_PAGE });
        const missing = /** @type {any[]} */ (listed).filter((r) => r.number > replica.number && r.number <= target);
        if (missing.length === 0 || socket !== this.socket) break;
        for (const revision of missing) this.applyRemote(revision);
      }
    } catch {
      // Unreachable, or refused: the welcome's dialogue it is.
    }
    const held = this.held;
    this.held = undefined;
    if (socket !== this.socket) return; // Closed meanwhile: the next connection carries on.
    if (replica.number !== target || !sameJson(replica.confirmed, content)) {
      this.rolledBack(replica.reset(content, target));
      this.changed("remote");
    }
    // What came meanwhile first, so that pending changes go out on the newest revision.
    for (const frame of held) {
      // A held frame out of step closed the socket: the rest are moot.
      if (this.gone(socket)) return;
      this.accept(frame);
    }
    if (socket === this.socket) this.live();
  }

  /** The session is live: presence and pending changes go out. */
  live() {
    this.resync = false;
    this.setStatus("live");
    this.emit("peers", { peers: this.peers });
    this.startPinging();
    if (this.selection !== undefined) this.sendSelection();
    this.flush();
  }

  /** @param {any} revision */
  applyRemote(revision) {
    const replica = this.ready();
    if (revision.number <= replica.number) return;
    const ref = ownRef(revision);
    const ours = ref !== undefined && replica.pending[0]?.ref === ref;
    const { refused } = replica.receive(revision);
    if (ours) this.emit("ack", { ref, revision });
    else this.emit("revision", { revision });
    this.rolledBack(refused);
    this.changed("remote");
    this.flush();
  }

  /** @param {{ ref: string, refusal: Refusal }[]} refused */
  rolledBack(refused) {
    for (const { ref, refusal } of refused) this.emit("error", { ref, error: refusal });
    if (refused.length) this.changed("local");
  }

  /** Sends the next pending change, if its turn has come. */
  flush() {
    if (this.status !== "live" || !this.replica) return;
    const frame = this.replica.next();
    if (frame && !this.send(frame)) this.replica.disconnected();
  }

  /**
   * @param {object} frame
   * @returns {boolean} whether it went out
   */
  send(frame) {
    const socket = this.socket;
    if (!socket || socket.readyState !== 1) return false;
    socket.send(JSON.stringify(frame));
    return true;
  }

  startPinging() {
    clearInterval(this.pinger);
    this.awaitingPong = false;
    this.pinger = setInterval(() => {
      if (this.awaitingPong) {
        // No answer for a whole period: the connection is dead even if the socket does not know.
        this.socket?.close(4000);
        return;
      }
      this.awaitingPong = true;
      this.send({ type: "ping", ref: Date.now() });
    }, this.options.pingEvery ?? 15_000);
  }

  /**
   * @param {WebSocket} socket
   * @param {number} code
   */
  async closed(socket, code) {
    if (socket !== this.socket) return;
    clearInterval(this.pinger);
    clearTimeout(this.welcomeTimer);
    this.socket = undefined;
    this.replica?.disconnected();
    if (!this.welcomed && this.wanted && !FINAL_CLOSES[/** @type {4401 | 4403 | 4404} */ (code)]) {
      // Refused before any welcome: a browser sees only 1006, whatever the server answered.
      // REST says whether it was for good (signed out, access lost, deleted).
      code = (await this.refusal()) ?? code;
      if (this.socket || !this.wanted) return; // Reopened or closed meanwhile.
    }
    const final = FINAL_CLOSES[/** @type {4401 | 4403 | 4404} */ (code)];
    if (final) {
      this.wanted = false;
      this.stopTimers();
      this.setStatus("closed");
      this.emit(final, { code });
      return;
    }
    if (!this.wanted) return this.setStatus("closed");
    clearTimeout(this.stable);
    if (code === 4008) this.resync = true;
    // The server lost revisions this replica holds: start again from its whole dialogue.
    if (code === 4009) this.fullResync = true;
    if (this.status === "connecting" && !this.replica) {
      // The first connection failed: the caller hears about it from open().
      this.wanted = false;
      return this.setStatus("closed");
    }
    const floor = this.options.reconnectMin ?? 250;
    const ceiling = Math.min(this.options.reconnectMax ?? 15_000, floor * 2 ** Math.min(this.attempt, 16));
    this.attempt += 1;
    // Full jitter, never less than a tenth of the window.
    const delay = ceiling * (0.1 + 0.9 * Math.random());
    this.timer = setTimeout(() => this.wanted && this.connect(), delay);
    this.setStatus("offline", { retryIn: delay });
  }

  /**
   * Why the server would refuse this session, asked over REST: the close code it stands for
   * (4401, 4403, 4404), or `undefined` when the dialogue answers or the server cannot be reached.
   * @returns {Promise<4401 | 4403 | 4404 | undefined>}
   */
  async refusal() {
    try {
      await this.api.request("GET", `/projects/${encodeURIComponent(this.options.project)}/dialogues/${encodeURIComponent(this.options.dialogue)}`);
      return undefined;
    } catch (error) {
      return error instanceof ApiError ? REFUSALS[error.status] : undefined;
    }
  }

  /** @param {"local" | "remote"} source */
  changed(source) {
    this.emit("change", { source, content: this.content });
    this.persist();
  }

  persist() {
    const { storage } = this.options;
    const replica = this.replica;
    if (!storage || !replica) return;
    const pending = replica.pending.map((change) => ({ ref: change.ref, patch: change.patch }));
    const value = { number: replica.number, confirmed: replica.confirmed, pending };
    storage.save(this.key, value).catch(() => {
      // Best effort: the changes are still in memory.
    });
  }

  /**
   * @param {Status} status
   * @param {{ retryIn?: number }} [more] when `offline`: the ms until the next attempt
   */
  setStatus(status, more = {}) {
    if (this.status === status && status !== "offline") return;
    this.status = status;
    this.emit("status", { status, ...more });
  }

  /**
   * @param {string} type
   * @param {unknown} detail
   */
  emit(type, detail) {
    this.dispatchEvent(new DialogueEvent(type, detail));
  }
}

/**
 * Whether two JSON values are equal (objects whatever their keys' order).
 * @param {unknown} a
 * @param {unknown} b
 * @returns {boolean}
 */
export function sameJson(a, b) {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  return ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && sameJson(/** @type {any} */ (a)[k], /** @type {any} */ (b)[k]));
}

/** An event with a payload (`CustomEvent` is not global on every Node version). */
export class DialogueEvent extends Event {
  /**
   * @param {string} type
   * @param {unknown} detail
   */
  constructor(type, detail) {
    super(type);
    this.detail = detail;
  }
}
