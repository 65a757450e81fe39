// Who has access to a project, on the project screen (for its admins): invite links (create,
// copy, list, revoke), and the people holding a grant in the project with grant and revoke.
// The server lists users to administrators only, so a project admin who is not one manages
// access with invite links.

import { h, replace, busy } from "../ui.js";
import { displayName } from "../session.js";
import { field, messageLine } from "./forms.js";
import { listAll } from "./projects.js";

/** The project-wide permissions a project admin can grant or put in an invite. */
const GRANTABLE = [
  { type: "project:dialogues:read", label: "Can read dialogues" },
  { type: "project:dialogues:write", label: "Can edit dialogues" },
  { type: "project:admin", label: "Project admin" },
];

/**
 * A readable name for a permission.
 * @param {{ type: string, properties?: { dialogue_id?: string } }} permission
 */
function permissionLabel(permission) {
  const known = GRANTABLE.find((g) => g.type === permission.type);
  if (known) return known.label;
  if (permission.type === "admin") return "Administrator";
  if (permission.type === "dialogue:read") return "Can read one dialogue";
  if (permission.type === "dialogue:write") return "Can edit one dialogue";
  return permission.type;
}

function permissionSelect() {
  return h("select", { name: "permission" }, GRANTABLE.map((g) => h("option", { value: g.type }, g.label)));
}

/**
 * Fills `section` with the project's people and invites.
 * @param {HTMLElement} section
 * @param {{ app: any, project: string, user: Record<string, any> }} options
 */
export function showPeople(section, { app, project, user }) {
  const invites = h("div", { class: "invites" });
  const people = h("div", { class: "people" });
  replace(section, h("h2", { id: "people-heading" }, "People and access"), people, invites);
  const isAdmin = (user.permissions ?? []).some((/** @type {any} */ p) => p.type === "admin");
  if (isAdmin) showMembers(people, app, project);
  else replace(people, h("p", { class: "hint" }, "Invite people with a link. Only a server administrator can see every member here."));
  showInvites(invites, app, project);
}

/**
 * The people with a grant in the project, and a form to grant one (administrators only: they
 * can list users).
 * @param {HTMLElement} region
 * @param {any} app
 * @param {string} project
 */
async function showMembers(region, app, project) {
  const message = messageLine();
  /** @type {{ user: any, permissions: any[] }[]} */
  let members;
  /** @type {any[]} */
  let users;
  try {
    users = await busy(region, listAll(app.api, "/users/"));
    const grants = await busy(region, Promise.all(users.map((u) => app.api.request("GET", `/users/${encodeURIComponent(u.id)}/permissions/?per_page=100`))));
    members = users
      .map((u, i) => ({ user: u, permissions: grants[i].filter((/** @type {any} */ p) => p.type === "admin" || p.properties?.project_id === project) }))
      .filter((m) => m.permissions.length > 0);
  } catch (error) {
    message.error(error);
    replace(region, message.element);
    return;
  }
  const reload = () => showMembers(region, app, project);
  const items = members.map(({ user, permissions }) => h("li", {},
    h("div", { class: "person" }, h("span", { class: "person-name" }, displayName(user)), h("span", { class: "hint" }, user.email)),
    h("ul", { class: "grants", "aria-label": `Access of ${displayName(user)}` }, permissions.map((permission) => {
      const label = permissionLabel(permission);
      if (permission.type === "admin") return h("li", {}, h("span", { class: "badge accent" }, label));
      const revoke = h("button", { type: "button", class: "button-small", "aria-label": `Revoke “${label}” from ${displayName(user)}` }, "Revoke");
      revoke.addEventListener("click", async () => {
        message.clear();
        try {
          await busy(revoke, app.api.request("DELETE", `/users/${encodeURIComponent(user.id)}/permissions/${encodeURIComponent(permission.id)}`));
          reload();
        } catch (error) {
          message.error(error);
        }
      });
      return h("li", {}, h("span", { class: "badge" }, label), revoke);
    }))));
  const who = h("select", { name: "user" }, users.map((u) => h("option", { value: u.id }, `${displayName(u)} (${u.email})`)));
  const what = permissionSelect();
  const grant = h("button", { type: "submit" }, "Grant");
  replace(region,
    h("ul", { class: "people-list", "aria-label": "People with access" }, items),
    h("form", {
      class: "inline-form grant-form",
      "aria-label": "Grant access",
      onsubmit: async (/** @type {SubmitEvent} */ event) => {
        event.preventDefault();
        message.clear();
        try {
          await busy(grant, app.api.request("POST", `/users/${encodeURIComponent(who.value)}/permissions/`, { type: what.value, properties: { project_id: project } }));
          reload();
        } catch (error) {
          message.error(error);
        }
      },
    }, field("Person", who), field("Access", what), grant),
    message.element);
}

/**
 * Invite links: a form that makes one (its code is shown once), and the open invites.
 * @param {HTMLElement} region
 * @param {any} app
 * @param {string} project
 */
function showInvites(region, app, project) {
  const path = `/projects/${encodeURIComponent(project)}/invites/`;
  const what = permissionSelect();
  const create = h("button", { type: "submit" }, "Create invite link");
  const created = h("div", { class: "invite-created" });
  const list = h("div", { class: "invite-list" });
  const message = messageLine();
  replace(region,
    h("h3", {}, "Invite links"),
    h("form", {
      class: "inline-form",
      "aria-label": "New invite link",
      onsubmit: async (/** @type {SubmitEvent} */ event) => {
        event.preventDefault();
        message.clear();
        try {
          const invite = await busy(create, app.api.request("POST", path, { permission: what.value }));
          showCreated(created, `${location.origin}/#/invites/${encodeURIComponent(invite.code)}`);
          showInviteList(list, app, path, message);
        } catch (error) {
          message.error(error);
        }
      },
    }, field("Access for the invitee", what), create),
    created,
    message.element,
    list);
  showInviteList(list, app, path, message);
}

/**
 * The link of a new invite, with a copy button; shown only now (the server keeps no copy).
 * @param {HTMLElement} region
 * @param {string} link
 */
function showCreated(region, link) {
  const input = h("input", { type: "text", readOnly: true, value: link, onfocus: () => input.select() });
  const copied = h("span", { class: "hint", role: "status" });
  const copy = h("button", { type: "button" }, "Copy link");
  copy.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(link);
      copied.textContent = "Copied.";
    } catch {
      input.select();
      copied.textContent = "Press Ctrl+C (or ⌘C) to copy the selected link.";
    }
  });
  replace(region, h("div", { class: "inline-form" }, field("Invite link", input, "Send it to the person you invite. It is shown only once and works for one person within a week."), copy, copied));
  input.focus();
}

/**
 * @param {HTMLElement} region
 * @param {any} app
 * @param {string} path the invites' URL path
 * @param {ReturnType<typeof messageLine>} message
 */
async function showInviteList(region, app, path, message) {
  let invites;
  try {
    invites = await busy(region, listAll(app.api, path));
  } catch (error) {
    message.error(error);
    return;
  }
  const open = invites.filter((/** @type {any} */ i) => i.uses < i.max_uses && i.expires_at > Date.now());
  if (open.length === 0) {
    replace(region, h("p", { class: "hint" }, "No open invites."));
    return;
  }
  replace(region, h("ul", { class: "people-list", "aria-label": "Open invites" }, open.map((/** @type {any} */ invite) => {
    const label = permissionLabel({ type: invite.permission });
    const revoke = h("button", { type: "button", class: "button-small", "aria-label": `Revoke the invite for “${label}”` }, "Revoke");
    revoke.addEventListener("click", async () => {
      message.clear();
      try {
        await busy(revoke, app.api.request("DELETE", `${path}${encodeURIComponent(invite.id)}`));
        showInviteList(region, app, path, message);
      } catch (error) {
        message.error(error);
      }
    });
    const expires = new Date(invite.expires_at).toLocaleDateString(undefined, { dateStyle: "medium" });
    return h("li", {},
      h("div", { class: "person" }, h("span", { class: "person-name" }, label), h("span", { class: "hint" }, `Used ${invite.uses} of ${invite.max_uses} · expires ${expires}`)),
      h("div", { class: "grants" }, revoke));
  })));
}
