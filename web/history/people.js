// Who made a revision or a release, by name. They carry only their author's `user_id`; names
// come from the project's members (`GET /projects/{p}/members/`, every page, asked once per
// project for the life of the view), which anyone who can open the project may read. Someone
// who has since lost access is looked up by a server administrator (`GET /users/{id}`), and is
// "A former member" for everyone else.

/**
 * @typedef {{ id: string, first_name?: string, last_name?: string, permissions?: { type: string }[] }} User
 * @typedef {{ request(method: string, path: string): Promise<any> }} Api
 */

/** Members per page asked of the server (its maximum). */
const PER_PAGE = 100;

/**
 * A resolver of user ids to names for one mounted view.
 * @param {{ api: Api, app: { user: User }, project: string }} ctx
 */
export function people(ctx) {
  const me = ctx.app.user;
  const isAdmin = (me.permissions ?? []).some((p) => p.type === "admin");
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
      if (id === me.id) return Promise.resolve(`${fullName(me)} (you)`);
      let name = known.get(id);
      if (!name) {
        members ??= membersOf(ctx.api, ctx.project);
        name = members.then((byId) => {
          const member = byId.get(id);
          if (member) return fullName(member);
          if (!isAdmin) return "A former member";
          return ctx.api.request("GET", `/users/${encodeURIComponent(id)}`).then(fullName, () => "A former user");
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
  /** @type {Map<string, User>} */
  const byId = new Map();
  for (let page = 1; ; page += 1) {
    const batch = await api.request("GET", `/projects/${encodeURIComponent(project)}/members/?page=${page}&per_page=${PER_PAGE}`);
    for (const member of batch) byId.set(member.user.id, member.user);
    if (batch.length < PER_PAGE) return byId;
  }
}

/** @param {User} user */
function fullName(user) {
  return [user.first_name, user.last_name].filter(Boolean).join(" ") || "A user without a name";
}
