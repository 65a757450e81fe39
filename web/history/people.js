// Who made a revision or a release, by name. They carry only their author's `user_id`; names
// come from the project's members (`GET /projects/{p}/members/`, every page, asked once per
// project for the life of the view), which anyone who can open the project may read. Someone
// who has since lost access is looked up by a server administrator (`GET /users/{id}`), and is
// "A former member" for everyone else.

import { allPages } from "../ui.js";
import { displayName, isServerAdmin } from "../people.js";

/** What a person without a name is called. */
const NO_NAME = "A user without a name";

/**
 * @typedef {{ id: string, first_name?: string, last_name?: string, permissions?: { type: string }[] }} User
 * @typedef {{ request(method: string, path: string): Promise<any> }} Api
 */

/**
 * A resolver of user ids to names for one mounted view.
 * @param {{ api: Api, app: { user: User }, project: string }} ctx
 */
export function people(ctx) {
  const me = ctx.app.user;
  const isAdmin = isServerAdmin(me);
  /** @type {Promise<Map<string, User>> | undefined} the project's members by id */
  let members;
  /** @type {Map<string, Promise<string>>} */
  const known = new Map();
  return {
    /**
     * The name of user `id` (the signed-in user is "you").
     * @param {string} id
     * @returns {Promise<string>}
     */
    nameOf(id) {
      if (id === me.id) return Promise.resolve(`${displayName(me, NO_NAME)} (you)`);
      let name = known.get(id);
      if (!name) {
        members ??= membersOf(ctx.api, ctx.project);
        name = members.then((byId) => {
          const member = byId.get(id);
          if (member) return displayName(member, NO_NAME);
          if (!isAdmin) return "A former member";
          return ctx.api.request("GET", `/users/${encodeURIComponent(id)}`).then((user) => displayName(user, NO_NAME), () => "A former user");
        }, () => "Someone else");
        known.set(id, name);
      }
      return name;
    },
  };
}

/**
 * Every member of `project`, by user id.
 * @param {Api} api
 * @param {string} project
 * @returns {Promise<Map<string, User>>}
 */
async function membersOf(api, project) {
  const members = await allPages(api, `/projects/${encodeURIComponent(project)}/members/`);
  return new Map(members.map((member) => [member.user.id, member.user]));
}
