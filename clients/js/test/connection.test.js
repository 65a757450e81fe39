// The connection's reactions to close codes and silence, with a scripted stand-in for the
// WebSocket (these closes cannot be caused on demand against a shared test server: 1001 needs
// the server to stop, 4009 a database that lost writes).
import { test } from "node:test";
import assert from "node:assert/strict";

import { LiveDialogue } from "../src/index.js";
import { next } from "./live/support.js";

/** Every socket the dialogue opened, newest last. */
/** @type {FakeSocket[]} */
let sockets = [];

class FakeSocket extends EventTarget {
  /** @param {URL} url */
  constructor(url) {
    super();
    this.url = url;
    this.readyState = 1;
    /** @type {any[]} */
    this.sent = [];
    sockets.push(this);
  }

  /** @param {string} text */
  send(text) {
    this.sent.push(JSON.parse(text));
  }

  /** @param {number} [code] */
  close(code = 1005) {
    this.serverCloses(code);
  }

  /** @param {any} frame */
  deliver(frame) {
    const event = new Event("message");
    Object.assign(event, { data: JSON.stringify(frame) });
    this.dispatchEvent(event);
  }

  /** @param {number} code */
  serverCloses(code) {
    this.readyState = 3;
    const event = new Event("close");
    Object.assign(event, { code });
    this.dispatchEvent(event);
  }
}

const dialogue = { title: "T", is_archived: false, sequences: [{ id: "s", title: "S", blocks: [] }] };
/**
 * A `welcome` at revision `number`; without the dialogue (a `since` served), `head` is the newest
 * revision, which the catch-up frames after it lead to.
 * @param {number} number
 */
const welcome = (number, full = true, head = number) => ({
  type: "welcome",
  session_id: "me",
  user: { id: "u" },
  can_edit: true,
  revision: { number, id: null },
  head_revision: head,
  peers: [],
  ...(full ? { dialogue } : {}),
});

/** @param {Partial<import("../src/live.js").LiveOptions>} [extra] */
async function opened(extra = {}) {
  sockets = [];
  const live = new LiveDialogue({
    url: "http://server.test",
    project: "p",
    dialogue: "d",
    token: "t",
    WebSocket: /** @type {any} */ (FakeSocket),
    reconnectMin: 1,
    reconnectMax: 5,
    ...extra,
  });
  const open = live.open();
  sockets[0].deliver(welcome(3));
  await open;
  return live;
}

test("after 1001 (the server stopping) it reconnects with since", async () => {
  const live = await opened();
  const offline = next(live, "status", (d) => d.status === "offline");
  sockets[0].serverCloses(1001);
  await offline;
  const reopened = next(live, "status", (d) => d.status === "connecting");
  await reopened;
  assert.equal(sockets.length, 2);
  assert.equal(sockets[1].url.searchParams.get("since"), "3");
  assert.equal(sockets[1].url.searchParams.get("access_token"), "t");
  live.close();
});

test("after 4008 it resyncs, and after 4009 it starts again without since", async () => {
  const live = await opened();
  const resyncing = next(live, "status", (d) => d.status === "resyncing");
  sockets[0].serverCloses(4008);
  await resyncing;
  sockets[1].deliver(welcome(3, false));
  assert.equal(live.status, "live");
  const again = next(live, "status", (d) => d.status === "connecting");
  sockets[1].serverCloses(4009);
  await again;
  assert.equal(sockets[2].url.searchParams.get("since"), null);
  sockets[2].deliver(welcome(2));
  assert.equal(live.revision, 2);
  live.close();
});

test("4401, 4403 and 4404 end the session with their events", async () => {
  for (const [code, type] of /** @type {const} */ ([[4401, "signed-out"], [4403, "access-lost"], [4404, "deleted"]])) {
    const live = await opened();
    const ended = next(live, type);
    sockets[0].serverCloses(code);
    await ended;
    assert.equal(live.status, "closed");
    assert.equal(sockets.length, 1, "no reconnect");
  }
});

test("a connection that stops answering pings is closed and opened again", async () => {
  const live = await opened({ pingEvery: 5 });
  await next(live, "status", (d) => d.status === "offline");
  assert.ok(sockets[0].sent.some((frame) => frame.type === "ping"), "a ping went out");
  await next(live, "status", (d) => d.status === "connecting");
  assert.equal(sockets.length, 2);
  live.close();
});

test("a change made offline goes out after the catch-up, with its reference in details", async () => {
  const live = await opened();
  sockets[0].serverCloses(1006);
  const ref = live.submit([{ op: "replace", path: "/title", value: "offline" }]);
  await next(live, "status", (d) => d.status === "connecting");
  sockets[1].deliver(welcome(3, false, 4));
  assert.equal(sockets[1].sent.filter((f) => f.type === "patch").length, 0, "not before revision 4 is in");
  sockets[1].deliver({ type: "revision", revision: { number: 4, details: {}, properties: { patch: [{ op: "replace", path: "/sequences/0/title", value: "X" }] } } });
  const [patch] = sockets[1].sent.filter((f) => f.type === "patch");
  assert.deepEqual(patch, { type: "patch", ref, base_revision: 4, patch: [{ op: "replace", path: "/title", value: "offline" }], details: { client_ref: ref } });
  live.close();
});

/**
 * A stand-in for `fetch` that answers each request with `answer(url)`: a JSON body and status,
 * or a thrown error (the server unreachable). Records the URLs asked for.
 * @param {(url: URL) => { status: number, body?: unknown } | Error} answer
 */
function fakeFetch(answer) {
  /** @type {URL[]} */
  const asked = [];
  const fetch = async (/** @type {string} */ url) => {
    const parsed = new URL(url);
    asked.push(parsed);
    const result = answer(parsed);
    if (result instanceof Error) throw result;
    return new Response(JSON.stringify(result.body ?? {}), { status: result.status, headers: { "Content-Type": "application/json" } });
  };
  return { fetch: /** @type {typeof globalThis.fetch} */ (/** @type {unknown} */ (fetch)), asked };
}

/**
 * A revision of another editor, as REST and `revision` frames describe it.
 * @param {number} number
 * @param {any[]} patch
 */
const theirs = (number, patch) => ({ number, id: `r${number}`, type: "edit", details: {}, properties: { patch } });

test("a full welcome at a newer revision: the revisions in between come over REST and pending changes move past them", async () => {
  const missed = [theirs(4, [{ op: "replace", path: "/title", value: "T2" }]), theirs(5, [{ op: "add", path: "/sequences/0/blocks/0", value: { id: "x", type: "end", properties: {} } }])];
  const rest = fakeFetch((url) => ({ status: 200, body: url.searchParams.get("ordering") === "number" ? missed : [] }));
  const live = await opened({ fetch: rest.fetch });
  /** @type {any[]} */
  const errors = [];
  live.addEventListener("error", (e) => errors.push(/** @type {any} */ (e).detail));
  const ref = live.submit([{ op: "add", path: "/sequences/0/blocks/0", value: { id: "b", type: "end", properties: {} } }]);
  assert.equal(sockets[0].sent.filter((f) => f.type === "patch").length, 1, "in flight");
  // The server lost track (4009): the next welcome carries the whole dialogue, two revisions on.
  sockets[0].serverCloses(4009);
  await next(live, "status", (d) => d.status === "connecting");
  const newer = { ...dialogue, title: "T2", sequences: [{ id: "s", title: "S", blocks: [{ id: "x", type: "end", properties: {} }] }] };
  const caughtUp = next(live, "status", (d) => d.status === "live");
  sockets[1].deliver({ ...welcome(5), dialogue: newer });
  // A revision arriving while the REST call runs waits its turn.
  sockets[1].deliver({ type: "revision", revision: theirs(6, [{ op: "replace", path: "/sequences/0/title", value: "S2" }]) });
  await caughtUp;
  assert.equal(rest.asked[0].pathname, "/projects/p/dialogues/d/revisions/");
  assert.equal(rest.asked[0].searchParams.get("page"), "1");
  assert.equal(live.revision, 6);
  assert.deepEqual(errors, [], "nothing rolled back");
  const content = /** @type {any} */ (live.content);
  assert.equal(content.title, "T2");
  assert.equal(content.sequences[0].title, "S2");
  assert.deepEqual(content.sequences[0].blocks.map((/** @type {any} */ b) => b.id), ["x", "b"], "the pending block moved after theirs");
  const [patch] = sockets[1].sent.filter((f) => f.type === "patch");
  assert.deepEqual(patch, { type: "patch", ref, base_revision: 6, patch: [{ op: "add", path: "/sequences/0/blocks/1", value: { id: "b", type: "end", properties: {} } }], details: { client_ref: ref } });
  live.close();
});

test("a full welcome whose revisions cannot be fetched: the pending changes are rolled back and reported", async () => {
  const rest = fakeFetch(() => ({ status: 503, body: { type: "unavailable", message: "down" } }));
  const live = await opened({ fetch: rest.fetch });
  const ref = live.submit([{ op: "replace", path: "/title", value: "mine" }]);
  sockets[0].serverCloses(4009);
  await next(live, "status", (d) => d.status === "connecting");
  const refused = next(live, "error", (d) => d.ref === ref);
  sockets[1].deliver({ ...welcome(5), dialogue: { ...dialogue, title: "theirs" } });
  const live_ = next(live, "status", (d) => d.status === "live");
  assert.equal((await refused).error.type, "conflict");
  await live_;
  assert.equal(/** @type {any} */ (live.content).title, "theirs");
  live.close();
});

test("an upgrade refused before any welcome is explained by REST: 403 ends with access-lost, 404 with deleted", async () => {
  for (const [status, type] of /** @type {const} */ ([[403, "access-lost"], [404, "deleted"], [401, "signed-out"]])) {
    const rest = fakeFetch(() => ({ status, body: { type: "x", message: "no" } }));
    const live = await opened({ fetch: rest.fetch });
    sockets[0].serverCloses(1006);
    await next(live, "status", (d) => d.status === "connecting");
    const ended = next(live, type);
    sockets[1].serverCloses(1006); // what a browser reports for any refused upgrade
    await ended;
    assert.equal(live.status, "closed");
    assert.equal(sockets.length, 2, "no reconnect");
    assert.equal(rest.asked.at(-1)?.pathname, "/projects/p/dialogues/d");
  }
});

test("a first connection refused for good rejects open(), with the ending's event", async () => {
  sockets = [];
  const gone = new LiveDialogue({ url: "http://server.test", project: "p", dialogue: "d", token: "t", WebSocket: /** @type {any} */ (FakeSocket), fetch: fakeFetch(() => ({ status: 404, body: {} })).fetch });
  const opening = gone.open();
  const deleted = next(gone, "deleted");
  sockets[0].serverCloses(1006);
  await assert.rejects(opening);
  await deleted;
});

test("with changes restored from storage, open() resolves offline when the server cannot be reached, and they go out later", async () => {
  sockets = [];
  const { MemoryStorage } = await import("../src/index.js");
  const storage = new MemoryStorage();
  await storage.save("dialogue-server:p:d", { number: 3, confirmed: dialogue, pending: [{ ref: "old-1", patch: [{ op: "replace", path: "/title", value: "kept" }] }] });
  const unreachable = fakeFetch(() => new TypeError("fetch failed"));
  const live = new LiveDialogue({ url: "http://server.test", project: "p", dialogue: "d", token: "t", storage, reconnectMin: 1, reconnectMax: 2, WebSocket: /** @type {any} */ (FakeSocket), fetch: unreachable.fetch });
  const connecting = next(live, "status", (d) => d.status === "connecting");
  const opening = live.open();
  await connecting;
  sockets[0].serverCloses(1006);
  await opening;
  assert.equal(live.status, "offline");
  assert.equal(/** @type {any} */ (live.content).title, "kept");
  await next(live, "status", (d) => d.status === "connecting");
  sockets[1].deliver(welcome(3, false));
  const [patch] = sockets[1].sent.filter((f) => f.type === "patch");
  assert.equal(patch.ref, "old-1");
  live.close();
});

test("a socket that never welcomes is closed and opened again", async () => {
  const live = await opened({ welcomeTimeout: 5, fetch: fakeFetch(() => ({ status: 200, body: {} })).fetch });
  sockets[0].serverCloses(1001);
  await next(live, "status", (d) => d.status === "connecting");
  // sockets[1] stays silent.
  await next(live, "status", (d) => d.status === "offline");
  await next(live, "status", (d) => d.status === "connecting");
  assert.equal(sockets.length, 3);
  live.close();
});

test("reconnect pauses double up to the ceiling, and start again from the floor only after a lasting session", async (t) => {
  t.mock.method(Math, "random", () => 1); // the top of each jitter window
  const live = await opened({ reconnectMin: 1, reconnectMax: 8, fetch: fakeFetch(() => new TypeError("unreachable")).fetch });
  /** @type {number[]} */
  const pauses = [];
  live.addEventListener("status", (e) => {
    const detail = /** @type {any} */ (e).detail;
    if (detail.status === "offline") pauses.push(detail.retryIn);
  });
  for (let i = 0; i < 5; i++) {
    const reconnecting = next(live, "status", (d) => d.status === "connecting");
    sockets.at(-1)?.serverCloses(1006);
    await reconnecting;
  }
  assert.deepEqual(pauses, [1, 2, 4, 8, 8]);
  // A welcome alone does not reset the backoff: a server that welcomes and drops at once still
  // gets growing pauses.
  sockets.at(-1)?.deliver(welcome(3, false));
  const again = next(live, "status", (d) => d.status === "offline");
  sockets.at(-1)?.serverCloses(1006);
  assert.equal((await again).retryIn, 8);
  live.close();
});

test("refusals the server gives for rights and rate (forbidden, rate_limited) roll the change back and report it", async () => {
  const live = await opened();
  for (const type of ["forbidden", "rate_limited"]) {
    const ref = live.submit([{ op: "replace", path: "/title", value: type }]);
    assert.equal(/** @type {any} */ (live.content).title, type);
    const sent = sockets[0].sent.filter((f) => f.type === "patch").at(-1);
    assert.equal(sent.ref, ref);
    const refused = next(live, "error", (d) => d.ref === ref);
    sockets[0].deliver({ type: "error", ref, error: { type, message: "no", details: {} } });
    assert.equal((await refused).error.type, type);
    assert.equal(/** @type {any} */ (live.content).title, "T", "rolled back");
  }
  live.close();
});

test("a change the server says it already has (sent twice) is not rolled back: its revision acknowledges it", async () => {
  const live = await opened();
  /** @type {any[]} */
  const errors = [];
  live.addEventListener("error", (e) => errors.push(/** @type {any} */ (e).detail));
  const ref = live.submit([{ op: "replace", path: "/title", value: "once" }]);
  sockets[0].deliver({ type: "error", ref, error: { type: "conflict", message: "already revision 4", details: { head_revision: 4, duplicate_of: 4 } } });
  assert.equal(/** @type {any} */ (live.content).title, "once", "kept");
  const acked = next(live, "ack", (d) => d.ref === ref);
  sockets[0].deliver({ type: "revision", revision: { number: 4, details: { client_ref: ref }, properties: { patch: [{ op: "replace", path: "/title", value: "once" }] } } });
  await acked;
  assert.deepEqual(errors, []);
  assert.equal(live.pending, 0);
  live.close();
});

/**
 * @param {number} number
 * @param {string} title
 */
const retitled = (number, title) => ({
  type: "revision",
  revision: { number, properties: { patch: [{ op: "replace", path: "/title", value: title }] } },
});

test("it asks for batches and handles a batch's frames in order, as if each came alone", async () => {
  const live = await opened();
  assert.equal(sockets[0].url.searchParams.get("batch"), "true");
  const peers = next(live, "peers", (d) => d.peers.has("other"));
  sockets[0].deliver({
    type: "batch",
    frames: [retitled(4, "A"), { type: "joined", session_id: "other", user: { id: "v" } }, retitled(5, "B")],
  });
  await peers;
  assert.equal(live.revision, 5);
  assert.equal(live.content.title, "B");
  live.close();
});

test("a batch frame out of step resyncs, and the rest of that batch is not applied", async () => {
  const live = await opened();
  const resyncing = next(live, "status", (d) => d.status === "connecting");
  sockets[0].deliver({ type: "batch", frames: [retitled(4, "A"), retitled(6, "gap"), retitled(7, "C")] });
  await resyncing;
  assert.equal(live.revision, 4);
  assert.equal(live.content.title, "A");
  assert.equal(sockets[1].url.searchParams.get("since"), null, "it starts again from the whole dialogue");
  live.close();
});

test("without batching it does not ask for batches", async () => {
  const live = await opened({ batch: false });
  assert.equal(sockets[0].url.searchParams.get("batch"), null);
  live.close();
});
