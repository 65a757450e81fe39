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
/** @param {number} number */
const welcome = (number, full = true) => ({
  type: "welcome",
  session_id: "me",
  user: { id: "u" },
  can_edit: true,
  revision: { number, id: null },
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
  sockets[1].deliver(welcome(4, false));
  assert.equal(sockets[1].sent.filter((f) => f.type === "patch").length, 0, "not before revision 4 is in");
  sockets[1].deliver({ type: "revision", revision: { number: 4, details: {}, properties: { patch: [{ op: "replace", path: "/sequences/0/title", value: "X" }] } } });
  const [patch] = sockets[1].sent.filter((f) => f.type === "patch");
  assert.deepEqual(patch, { type: "patch", ref, base_revision: 4, patch: [{ op: "replace", path: "/title", value: "offline" }], details: { client_ref: ref } });
  live.close();
});
