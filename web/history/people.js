// Who made a revision, by name. A revision carries only its author's `user_id`; names come from
// the signed-in user, the live session's peers, and, for an administrator (the only ones
// allowed to read other users), `GET /users/{id}`. Anyone else is "Someone else".

/**
 * @typedef {{ id: string, first_name?: string, last_name?: string, permissions?: { type: string }[] }} User
 */

/**
 * A resolver of user ids to names for one mounted view.
 * @param {{ api: { request(method: string, path: string): Promise<any> }, app: { user: User }, doc: { peers?: Map<string, { user?: User }> } }} ctx
 */
export function people(ctx) {
  /** @type {Map<string, Promise<string>>} */
  const known = new Map();
  const me = ctx.app.user;
  const isAdmin = (me.permissions ?? []).some((p) => p.type === "admin");
  return {
    /**
     * The name of user `id` (the signed-in user is "you").
     * @param {string} id
     * @returns {Promise<string>}
     */
    nameOf(id) {
      if (id === me.id) return Promise.resolve(`${fullName(me)} (you)`);
      const peer = [...(ctx.doc.peers?.values() ?? [])].find((p) => p.user?.id === id);
      if (peer?.user) return Promise.resolve(fullName(peer.user));
      let name = known.get(id);
      if (!name) {
        name = isAdmin
          ? ctx.api.request("GET", `/users/${encodeURIComponent(id)}`).then(fullName, () => "A former user")
          : Promise.resolve("Someone else");
        known.set(id, name);
      }
      return name;
    },
  };
}

/** @param {User} user */
function fullName(user) {
  return [user.first_name, user.last_name].filter(Boolean).join(" ") || "A user without a name";
}
