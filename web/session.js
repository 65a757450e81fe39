// The browser's session with the server: one DialogueApi for this origin, signed in with the
// session cookie (its CSRF token kept in memory only, never in storage), and the signed-in
// user's description.

import { DialogueApi } from "/web/client/index.js";

/** @type {() => void} */
let whenExpired = () => {};

/**
 * Has `handler` called when the server answers 401 to a signed-in request: the session ended
 * (signed out elsewhere, expired, or the password was reset).
 * @param {() => void} handler
 */
export function onSessionEnded(handler) {
  whenExpired = handler;
}

/** The REST client, reporting a session that ended under it. */
class SessionApi extends DialogueApi {
  /**
   * @param {string} method
   * @param {string} path
   * @param {unknown} [body]
   * @param {string} [contentType]
   */
  async request(method, path, body, contentType) {
    try {
      return await super.request(method, path, body, contentType);
    } catch (error) {
      if (/** @type {any} */ (error)?.status === 401 && !path.startsWith("/auth/")) whenExpired();
      throw error;
    }
  }
}

/** The REST client every view uses; the cookie carries the session. */
export const api = new SessionApi({ url: location.origin });

/**
 * The signed-in user of an existing cookie session (after a reload), or `null` when there is
 * none. Other failures (the server unreachable) are thrown.
 * @returns {Promise<Record<string, any> | null>}
 */
export async function resume() {
  try {
    const answer = await api.resumeSession();
    return answer.user;
  } catch (error) {
    if (/** @type {any} */ (error)?.status === 401) return null;
    throw error;
  }
}

/**
 * Signs in with the session cookie; the signed-in user.
 * @param {string} email
 * @param {string} password
 * @returns {Promise<Record<string, any>>}
 */
export async function signIn(email, password) {
  const answer = await api.signInWithCookie(email, password);
  return answer.user;
}

/**
 * The IndexedDB database that keeps `user`'s changes not sent yet: one per person, so nobody
 * signing in after them on this browser sees or sends them; deleted when they sign out.
 * @param {{ id?: string } | null | undefined} user
 */
export function pendingDatabase(user) {
  return `dialogue-server:${user?.id ?? "anonymous"}`;
}

/**
 * Ends the cookie session of `user`, and deletes their changes not sent yet from this browser.
 * @param {{ id?: string } | null} user
 */
export async function signOut(user) {
  if (user && typeof indexedDB !== "undefined") indexedDB.deleteDatabase(pendingDatabase(user));
  await api.signOut();
}

/**
 * The signed-in user's description as it is now, with their current permissions (a grant or
 * an accepted invite changes them after sign-in).
 * @returns {Promise<Record<string, any>>}
 */
export function currentUser() {
  return api.request("GET", "/user");
}
