// What the live tests share: a real dialogue-server (its address and administrator come from
// the environment scripts/test-js sets up), signed-in REST clients, fresh dialogues, live
// dialogues over the `ws` package, and waiting for events instead of sleeping.
import WebSocket from "ws";

import { DialogueApi, LiveDialogue } from "../../src/index.js";

export const url = process.env.DIALOGUE_TEST_URL ?? "";
const email = process.env.DIALOGUE_TEST_EMAIL ?? "";
const password = process.env.DIALOGUE_TEST_PASSWORD ?? "";

/** Whether a server to test against is set up (scripts/test-js does it). */
export const haveServer = url !== "";

/** A REST client signed in as the administrator. */
export async function admin() {
  const api = new DialogueApi({ url });
  await api.signIn(email, password);
  return api;
}

/**
 * A new project with a dialogue of three message blocks `a`, `b`, `c`.
 * @param {DialogueApi} api
 */
export async function freshDialogue(api) {
  const project = await api.createProject(`JS ${Math.random().toString(36).slice(2)}`);
  const blocks = ["a", "b", "c"].map((id) => ({ id, type: "message", properties: { text: id } }));
  const dialogue = await api.createDialogue(project.id, { title: "Live", sequences: [{ id: "start", title: "Start", blocks }] });
  return { project: project.id, dialogue: dialogue.id };
}

/**
 * A live dialogue for `token`, reconnecting fast.
 * @param {{ project: string, dialogue: string }} where
 * @param {string} token
 * @param {Partial<import("../../src/live.js").LiveOptions>} [extra]
 */
export function live(where, token, extra = {}) {
  return new LiveDialogue({
    url,
    ...where,
    token,
    WebSocket: /** @type {any} */ (WebSocket),
    reconnectMin: 20,
    reconnectMax: 500,
    ...extra,
  });
}

/**
 * Resolves with the first `type` event of `target` whose detail passes `test`.
 * @param {EventTarget} target
 * @param {string} type
 * @param {(detail: any) => boolean} [test]
 * @returns {Promise<any>}
 */
export function next(target, type, test = () => true) {
  return new Promise((resolve) => {
    /** @param {Event} event */
    const listener = (event) => {
      const detail = /** @type {any} */ (event).detail;
      if (test(detail)) {
        target.removeEventListener(type, listener);
        resolve(detail);
      }
    };
    target.addEventListener(type, listener);
  });
}

/**
 * Resolves once `condition` holds, checked now and after every event of `lives`.
 * @param {LiveDialogue[]} lives
 * @param {() => boolean} condition
 */
export function until(lives, condition) {
  return new Promise((resolve) => {
    const types = ["change", "ack", "revision", "status", "error"];
    const check = () => {
      if (!condition()) return;
      for (const one of lives) for (const type of types) one.removeEventListener(type, check);
      resolve(undefined);
    };
    for (const one of lives) for (const type of types) one.addEventListener(type, check);
    check();
  });
}

/**
 * Resolves once every one of `lives` has nothing pending and all are at one revision.
 * @param {LiveDialogue[]} lives
 */
export function settled(lives) {
  return until(lives, () => lives.every((one) => one.pending === 0 && one.status === "live" && one.revision === lives[0].revision));
}
