// The replica against a simulated server that stores patches by the same rebase rules: local
// changes, others' revisions, refusals, lost connections and undo, in seeded random
// interleavings of three clients, all converging on the server's state.
import { test } from "node:test";
import assert from "node:assert/strict";

import { Replica } from "../src/replica.js";
import { applyPatch } from "../src/patch.js";
import { RebaseConflict, rebasePatch } from "../src/rebase.js";
import { random } from "./random.js";

/** @typedef {import("../src/types.js").Patch} Patch */

const initial = () => ({
  title: "T",
  is_archived: false,
  sequences: [{ id: "s", blocks: ["a", "b", "c"].map((id) => ({ id, type: "message", properties: { text: id } })) }],
});

/** Stores patches as the server does: rebased over what came after their base, or refused. */
class Server {
  constructor() {
    /** @type {any} */
    this.content = initial();
    /** @type {any[]} */
    this.revisions = [];
  }

  /**
   * @param {{ ref: string, base_revision: number, patch: Patch, details: object }} frame
   * @returns {{ revision: any } | { error: { type: string, message: string } }}
   */
  submit(frame) {
    const since = this.revisions.slice(frame.base_revision).map((r) => r.properties.patch);
    let patch;
    try {
      patch = rebasePatch(frame.patch, since);
    } catch (error) {
      if (error instanceof RebaseConflict) return { error: { type: "conflict", message: error.message } };
      throw error;
    }
    try {
      this.content = applyPatch(this.content, structuredClone(patch)).document;
    } catch (error) {
      return { error: { type: "patch_conflict", message: String(error) } };
    }
    const revision = { number: this.revisions.length + 1, details: frame.details, properties: { patch } };
    this.revisions.push(revision);
    return { revision };
  }
}


/**
 * A random edit of the local content.
 * @param {any} content
 * @param {() => number} rnd
 * @param {string} id
 * @returns {Patch}
 */
function edit(content, rnd, id) {
  const blocks = content.sequences[0].blocks;
  const pick = (n) => Math.floor(rnd() * n);
  const block = { id, type: "message", properties: { text: id } };
  switch (pick(6)) {
    case 0:
      return [{ op: "add", path: `/sequences/0/blocks/${pick(blocks.length + 1)}`, value: block }];
    case 1:
      return [{ op: "add", path: "/sequences/0/blocks/-", value: block }];
    case 2:
      return blocks.length ? [{ op: "remove", path: `/sequences/0/blocks/${pick(blocks.length)}` }] : [];
    case 3:
      return blocks.length ? [{ op: "replace", path: `/sequences/0/blocks/${pick(blocks.length)}/properties/text`, value: id }] : [];
    case 4:
      return blocks.length > 1
        ? [{ op: "move", from: `/sequences/0/blocks/${pick(blocks.length)}`, path: `/sequences/0/blocks/${pick(blocks.length)}` }]
        : [];
    default:
      return [{ op: "replace", path: "/title", value: id }];
  }
}

/**
 * Runs one interleaving; answers what happened, for the assertions.
 * @param {number} seed
 */
function interleaving(seed) {
  const rnd = random(seed);
  const server = new Server();
  const clients = [0, 1, 2].map(() => ({
    replica: new Replica(initial(), 0),
    /** @type {any[]} */ inbox: [],
    /** @type {any[]} */ outbox: [],
    connected: true,
  }));
  let made = 0;
  let refusals = 0;
  const deliverToServer = (/** @type {number} */ c) => {
    const frame = clients[c].outbox.shift();
    const answer = server.submit(frame);
    clients.forEach((other, o) => {
      if (!other.connected) return;
      if (o === c) other.inbox.push("revision" in answer ? { type: "ack", ref: frame.ref, revision: answer.revision } : { type: "error", ref: frame.ref, error: answer.error });
      else if ("revision" in answer) other.inbox.push({ type: "revision", revision: answer.revision });
    });
  };
  const deliverToClient = (/** @type {number} */ c) => {
    const client = clients[c];
    const frame = client.inbox.shift();
    if (frame.type === "revision") refusals += client.replica.receive(frame.revision).refused.length;
    else if (frame.type === "ack") client.replica.acknowledge(frame.ref, frame.revision);
    else refusals += client.replica.refuse(frame.ref, frame.error).length;
  };
  const flush = (/** @type {number} */ c) => {
    const frame = clients[c].replica.next();
    if (frame) clients[c].outbox.push(structuredClone(frame));
  };
  for (let step = 0; step < 80; step++) {
    const c = Math.floor(rnd() * 3);
    const client = clients[c];
    const roll = rnd();
    if (roll < 0.3) {
      const patch = edit(client.replica.content, rnd, `x${seed}-${made++}`);
      if (patch.length) client.replica.submit(patch);
    } else if (roll < 0.4) {
      client.replica.undo();
    } else if (roll < 0.55 && client.connected) {
      flush(c);
    } else if (roll < 0.7 && client.outbox.length) {
      deliverToServer(c);
    } else if (roll < 0.9 && client.inbox.length) {
      deliverToClient(c);
    } else if (roll < 0.95 && client.connected) {
      // The connection drops: frames on the way are lost or arrive, answers are lost.
      client.connected = false;
      client.inbox = [];
      while (client.outbox.length) {
        if (rnd() < 0.5) deliverToServer(c);
        else client.outbox.shift();
      }
      client.replica.disconnected();
    } else if (!client.connected) {
      // Reconnect with `since`: the revisions after the replica's number follow at once.
      client.connected = true;
      client.replica.resume(server.revisions.length);
      for (const revision of server.revisions.slice(client.replica.number)) client.inbox.push({ type: "revision", revision });
    }
  }
  // Everyone back online; let every frame arrive until nothing moves.
  clients.forEach((client, c) => {
    if (!client.connected) {
      client.connected = true;
      client.inbox = [];
      client.replica.resume(server.revisions.length);
      for (const revision of server.revisions.slice(client.replica.number)) client.inbox.push({ type: "revision", revision });
    }
    void c;
  });
  for (let moved = true; moved; ) {
    moved = false;
    clients.forEach((client, c) => {
      while (client.inbox.length) {
        deliverToClient(c);
        moved = true;
      }
      flush(c);
      while (client.outbox.length) {
        deliverToServer(c);
        moved = true;
      }
    });
  }
  return { server, clients, refusals };
}

test("1,000 seeded interleavings of three clients all converge on the server's state", () => {
  let revisions = 0;
  let refusals = 0;
  for (let seed = 1; seed <= 1000; seed++) {
    const { server, clients, refusals: refused } = interleaving(seed);
    revisions += server.revisions.length;
    refusals += refused;
    for (const [c, { replica }] of clients.entries()) {
      assert.equal(replica.pending.length, 0, `seed ${seed}, client ${c}: nothing pending`);
      assert.equal(replica.number, server.revisions.length, `seed ${seed}, client ${c}: at the newest revision`);
      assert.deepEqual(replica.content, server.content, `seed ${seed}, client ${c}: the server's content`);
    }
  }
  assert.ok(revisions > 10_000, `the interleavings stored ${revisions} revisions`);
  assert.ok(refusals > 0, "some changes collided and were rolled back");
});

test("a refused change is rolled back; later changes are moved past its undoing", () => {
  const replica = new Replica(initial(), 0);
  const first = replica.submit([{ op: "add", path: "/sequences/0/blocks/0", value: { id: "n" } }]);
  replica.submit([{ op: "replace", path: "/sequences/0/blocks/2/properties/text", value: "kept" }]);
  const refused = replica.refuse(first, { type: "validation_error", message: "no" });
  assert.deepEqual(refused.map((r) => r.refusal.type), ["validation_error"]);
  const expected = initial();
  expected.sequences[0].blocks[1].properties.text = "kept";
  assert.deepEqual(replica.content, expected, "the edit of b moved back to index 1");
});

test("a change that built on a refused one goes with it, and so does everything after it", () => {
  const replica = new Replica(initial(), 0);
  const first = replica.submit([{ op: "add", path: "/sequences/0/blocks/0", value: { id: "n" } }]);
  replica.submit([{ op: "replace", path: "/sequences/0/blocks/0/id", value: "m" }]);
  replica.submit([{ op: "replace", path: "/title", value: "after" }]);
  const refused = replica.refuse(first, { type: "validation_error", message: "no" });
  assert.deepEqual(refused.map((r) => r.refusal.type), ["validation_error", "conflict", "conflict"]);
  assert.deepEqual(replica.content, initial());
});

test("undo keeps another editor's later work", () => {
  const replica = new Replica(initial(), 0);
  const ref = replica.submit([{ op: "replace", path: "/sequences/0/blocks/1/properties/text", value: "mine" }]);
  const frame = replica.next();
  assert.equal(frame?.ref, ref);
  replica.acknowledge(ref, { number: 1, properties: { patch: frame.patch } });
  // Someone inserts a block before ours, and edits another.
  replica.receive({ number: 2, properties: { patch: [{ op: "add", path: "/sequences/0/blocks/0", value: { id: "z" } }] } });
  replica.receive({ number: 3, properties: { patch: [{ op: "replace", path: "/sequences/0/blocks/3/properties/text", value: "theirs" }] } });
  assert.deepEqual(replica.undo().ok, true);
  const blocks = /** @type {any} */ (replica.content).sequences[0].blocks;
  assert.deepEqual(blocks.map((b) => b.properties?.text ?? b.id), ["z", "a", "b", "theirs"]);
  assert.deepEqual(replica.redo().ok, true);
  assert.equal(/** @type {any} */ (replica.content).sequences[0].blocks[2].properties.text, "mine");
});

test("undo refuses, with a reason, when another editor overwrote the change", () => {
  const replica = new Replica(initial(), 0);
  const ref = replica.submit([{ op: "replace", path: "/title", value: "mine" }]);
  const frame = replica.next();
  replica.acknowledge(ref, { number: 1, properties: { patch: frame?.patch ?? [] } });
  replica.receive({ number: 2, properties: { patch: [{ op: "replace", path: "/title", value: "theirs" }] } });
  const undone = replica.undo();
  assert.equal(undone.ok, false);
  assert.match(undone.ok ? "" : undone.reason, /overwritten/);
  assert.equal(/** @type {any} */ (replica.content).title, "theirs");
});

test("a patch stored before the connection dropped is recognized, not sent twice", () => {
  const server = new Server();
  const replica = new Replica(initial(), 0);
  replica.submit([{ op: "add", path: "/sequences/0/blocks/-", value: { id: "once" } }]);
  const frame = replica.next();
  assert.ok(frame);
  server.submit(frame); // Stored; the ack is lost with the connection.
  replica.disconnected();
  replica.resume(server.revisions.length);
  assert.equal(replica.next(), undefined, "nothing goes out before the catch-up");
  replica.receive(server.revisions[0]);
  assert.equal(replica.pending.length, 0);
  assert.equal(replica.next(), undefined);
  assert.deepEqual(replica.content, server.content);
});
