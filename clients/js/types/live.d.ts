/** The content of a dialogue description: what revisions' patches apply to. */
/** @param {any} dialogue */
export function contentOf(dialogue: any): {
    title: any;
    sequences: any;
    is_archived: any;
};
/**
 * Whether two JSON values are equal (objects whatever their keys' order).
 * @param {unknown} a
 * @param {unknown} b
 * @returns {boolean}
 */
export function sameJson(a: unknown, b: unknown): boolean;
/** Close codes after which the client does not reconnect, and the event each one fires. */
export const FINAL_CLOSES: {
    readonly 4401: "signed-out";
    readonly 4403: "access-lost";
    readonly 4404: "deleted";
};
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
    constructor(options: LiveOptions);
    options: LiveOptions;
    /** @type {Replica | undefined} */
    replica: Replica | undefined;
    /** @type {Status} */
    status: Status;
    /** @type {Map<string, Peer>} */
    peers: Map<string, Peer>;
    /** @type {WebSocket | undefined} */
    socket: WebSocket | undefined;
    attempt: number;
    wanted: boolean;
    canEdit: boolean;
    /** @type {string | undefined} */
    sessionId: string | undefined;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    timer: ReturnType<typeof setTimeout> | undefined;
    /** @type {ReturnType<typeof setInterval> | undefined} */
    pinger: ReturnType<typeof setInterval> | undefined;
    awaitingPong: boolean;
    resync: boolean;
    /** The next connection asks for the whole dialogue (no `since`). */
    fullResync: boolean;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    stable: ReturnType<typeof setTimeout> | undefined;
    /** @type {unknown} */
    selection: unknown;
    selectionSentAt: number;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    selectionTimer: ReturnType<typeof setTimeout> | undefined;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    welcomeTimer: ReturnType<typeof setTimeout> | undefined;
    /** Whether the current socket got its `welcome`. */
    welcomed: boolean;
    /** @type {any[] | undefined} frames held while a catch-up over REST runs */
    held: any[] | undefined;
    api: DialogueApi;
    wentOffline: () => void;
    cameOnline: () => void;
    /** The storage key of this dialogue's pending changes. */
    get key(): string;
    /** The local content (the server's newest revision plus pending changes), once connected. */
    get content(): unknown;
    /** The newest revision number received. */
    get revision(): number;
    /** Changes not yet stored. */
    get pending(): number;
    /** Whether `undo()` has a change of this client's to undo (it may still refuse; see README). */
    get canUndo(): boolean;
    /** Whether `redo()` has an undone change to redo. */
    get canRedo(): boolean;
    /**
     * Drops the connection now and opens a new one at once (no backoff): for when the platform
     * says the network is back. The browser's `online` and `offline` events do this by themselves.
     */
    reconnectNow(): void;
    /**
     * Connects; resolves at the first `welcome`, rejects when the first connection fails for good.
     * Changes persisted by an earlier page are restored first; with those, an unreachable server
     * resolves it too (status `offline`): the restored content can be edited, and the changes go
     * out when the connection comes.
     * @returns {Promise<void>}
     */
    open(): Promise<void>;
    /** Closes the session for good (pending changes stay persisted, when there is a storage). */
    close(): void;
    /** Stops every timer of the session (reconnect, welcome, backoff reset, pings), and stops following the network. */
    stopTimers(): void;
    /**
     * Applies `patch` locally at once and sends it when its turn comes.
     * @param {Patch} patch
     * @returns {string} its reference, as in the `ack` and `error` events
     */
    submit(patch: Patch): string;
    /**
     * Undoes this client's newest change (see the README for what it does and refuses).
     * @returns {import("./replica.js").Step}
     */
    undo(): import("./replica.js").Step;
    /**
     * Redoes the newest undone change.
     * @returns {import("./replica.js").Step}
     */
    redo(): import("./replica.js").Step;
    /**
     * After an undo or a redo: when it made a change, tells the listeners and sends it.
     * @template {{ ok: boolean }} T
     * @param {T} done
     * @returns {T}
     */
    stepped<T extends {
        ok: boolean;
    }>(done: T): T;
    /**
     * Tells the others what this editor is looking at (sent at most every `presenceEvery` ms; the
     * newest wins).
     * @param {unknown} selection
     */
    setSelection(selection: unknown): void;
    sendSelection(): void;
    /** @returns {Replica} */
    ready(): Replica;
    connect(): void;
    /** @param {string} text */
    receive(text: string): void;
    /**
     * Whether `socket` is no longer the open connection (replaced, or closing after a frame put
     * this client out of step).
     * @param {WebSocket | undefined} socket
     */
    gone(socket: WebSocket | undefined): boolean;
    /** @param {any} frame */
    accept(frame: any): void;
    /** @param {any} frame */
    handle(frame: any): void;
    /** @param {any} welcome */
    welcome(welcome: any): void;
    /** @type {Peer["user"] | undefined} this session's own user */
    user: Peer["user"] | undefined;
    /**
     * Catches `replica` up to a full `welcome` over REST (the revisions after its own, in order),
     * holding the frames that arrive meanwhile; falls back to the welcome's dialogue when the
     * revisions cannot be had or do not lead to it.
     * @param {any} welcome
     * @param {Replica} replica
     */
    carryOver(welcome: any, replica: Replica): Promise<void>;
    /** The session is live: presence and pending changes go out. */
    live(): void;
    /** @param {any} revision */
    applyRemote(revision: any): void;
    /** @param {{ ref: string, refusal: Refusal }[]} refused */
    rolledBack(refused: {
        ref: string;
        refusal: Refusal;
    }[]): void;
    /** Sends the next pending change, if its turn has come. */
    flush(): void;
    /**
     * @param {object} frame
     * @returns {boolean} whether it went out
     */
    send(frame: object): boolean;
    startPinging(): void;
    /**
     * @param {WebSocket} socket
     * @param {number} code
     */
    closed(socket: WebSocket, code: number): Promise<void>;
    /**
     * Why the server would refuse this session, asked over REST: the close code it stands for
     * (4401, 4403, 4404), or `undefined` when the dialogue answers or the server cannot be reached.
     * @returns {Promise<4401 | 4403 | 4404 | undefined>}
     */
    refusal(): Promise<4401 | 4403 | 4404 | undefined>;
    /** @param {"local" | "remote"} source */
    changed(source: "local" | "remote"): void;
    persist(): void;
    /**
     * @param {Status} status
     * @param {{ retryIn?: number }} [more] when `offline`: the ms until the next attempt
     */
    setStatus(status: Status, more?: {
        retryIn?: number;
    }): void;
    /**
     * @param {string} type
     * @param {unknown} detail
     */
    emit(type: string, detail: unknown): void;
}
/** An event with a payload (`CustomEvent` is not global on every Node version). */
export class DialogueEvent extends Event {
    /**
     * @param {string} type
     * @param {unknown} detail
     */
    constructor(type: string, detail: unknown);
    detail: unknown;
}
export type Patch = import("./types.js").Patch;
export type Refusal = import("./replica.js").Refusal;
export type Status = "connecting" | "live" | "offline" | "resyncing" | "closed";
export type Peer = {
    session_id: string;
    user: {
        id: string;
        first_name?: string;
        last_name?: string;
    };
    selection: unknown;
};
/**
 * Where pending changes are kept between page loads (see `storage.js`).
 */
export type Storage = {
    load(key: string): Promise<unknown>;
    save(key: string, value: unknown): Promise<void>;
};
export type LiveOptions = {
    /**
     * the server, `http(s)://host:port`
     */
    url: string;
    project: string;
    dialogue: string;
    /**
     * a bearer token; without one, a browser's session cookie is used
     */
    token?: string | undefined;
    /**
     * the WebSocket class (default: the global one)
     */
    WebSocket?: {
        new (url: string | URL, protocols?: string | string[]): WebSocket;
        prototype: WebSocket;
        readonly CONNECTING: 0;
        readonly OPEN: 1;
        readonly CLOSING: 2;
        readonly CLOSED: 3;
    } | undefined;
    /**
     * keeps pending changes across reloads
     */
    storage?: Storage | undefined;
    /**
     * first reconnect delay ceiling, ms (default 250)
     */
    reconnectMin?: number | undefined;
    /**
     * longest reconnect delay, ms (default 15,000)
     */
    reconnectMax?: number | undefined;
    /**
     * application-level ping period, ms (default 15,000)
     */
    pingEvery?: number | undefined;
    /**
     * at most one selection sent per this many ms (default 100)
     */
    presenceEvery?: number | undefined;
    /**
     * a connection with no `welcome` after this many ms is
     * closed and opened again (default 10,000)
     */
    welcomeTimeout?: number | undefined;
    /**
     * for the REST calls the session makes (default: the global one)
     */
    fetch?: typeof fetch | undefined;
    /**
     * ask the server for `batch` frames (`?batch=true`): frames queued
     * together arrive as one WebSocket message (default true)
     */
    batch?: boolean | undefined;
};
import { Replica } from "./replica.js";
import { DialogueApi } from "./rest.js";
