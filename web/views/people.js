// Who has access to a project, on the project screen (for its admins, server-wide or of the
// project): the members and their grants (`GET /projects/{p}/members/`) with grant and revoke of
// the project- and dialogue-scoped permissions a project admin may give, and invite links
// (create, copy, list, revoke), through which new people join.

import { h, replace, busy, allPages, messageLine } from "../ui.js";
import { displayName, isServerAdmin } from "../people.js";
import { actionForm, field } from "./forms.js";

/** The project-wide permissions a project admin can grant or put in an invite. */
const GRANTABLE = [
  { type: "project:dialogues:read", label: "Can read dialogues" },
  { type: "project:dialogues:write", label: "Can edit dialogues" },
  { type: "project:admin", label: "Project admin" },
];

/** The grants about one dialogue of the project, which a project admin can grant too. */
const DIALOGUE_GRANTABLE = [
  { type: "dialogue:read", label: "Can read one dialogue" },
  { type: "dialogue:write", label: "Can edit one dialogue" },
];

/**
 * @typedef {{ id: string, type: string, properties?: { project_id?: string, dialogue_id?: string } }} Permission
 * @typedef {{ user: { id: string, first_name?: string, last_name?: string, email?: string }, permissions: Permission[] }} Member
 */

/**
 * A readable name for a permission; `dialogues` names the dialogue of a dialogue-scoped one.
 * @param {{ type: string, properties?: { dialogue_id?: string } }} permission
 * @param {Map<string, string>} [dialogues] dialogue id → title
 */
function permissionLabel(permission, dialogues) {
  const known = GRANTABLE.find((g) => g.type === permission.type);
  if (known) return known.label;
  if (permission.type === "admin") return "Server administrator";
  const dialogue = permission.properties?.dialogue_id;
  const title = dialogue === undefined ? undefined : dialogues?.get(dialogue) ?? "a removed dialogue";
  if (permission.type === "dialogue:read") return title ? `Can read “${title}”` : "Can read one dialogue";
  if (permission.type === "dialogue:write") return title ? `Can edit “${title}”` : "Can edit one dialogue";
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
  showMembers(people, app, project, isServerAdmin(user));
  showInvites(invites, app, project);
}

/**
 * The project's members with their grants (revocable unless server-wide), and a form to grant
 * a member (or, for a server administrator, any user) a project- or dialogue-scoped permission.
 * @param {HTMLElement} region
 * @param {any} app
 * @param {string} project
 * @param {boolean} isServerAdmin whether the signed-in user may list every user
 */
async function showMembers(region, app, project, isServerAdmin) {
  const path = `/projects/${encodeURIComponent(project)}`;
  const message = messageLine();
  /** @type {Member[]} */
  let members;
  /** @type {{ id: string, title: string }[]} */
  let dialogues;
  /** @type {Member["user"][]} */
  let candidates;
  try {
    [members, { dialogues }, candidates] = await busy(region, Promise.all([
      allPages(app.api, `${path}/members/`),
      app.api.request("GET", path),
      isServerAdmin ? allPages(app.api, "/users/") : undefined,
    ]));
  } catch (error) {
    message.error(error);
    replace(region, message.element);
    return;
  }
  const titles = new Map(dialogues.map((d) => [d.id, d.title || "Untitled dialogue"]));
  const reload = () => showMembers(region, app, project, isServerAdmin);
  const serverAdmins = new Set(members.filter((m) => m.permissions.some((p) => p.type === "admin")).map((m) => m.user.id));
  // Server administrators already may do everything: granting them more would change nothing.
  const grantable = (candidates ?? members.map((m) => m.user)).filter((u) => !serverAdmins.has(u.id));

  const items = members.map(({ user, permissions }) => h("li", {},
    h("div", { class: "person" }, h("span", { class: "person-name" }, displayName(user)), user.email && h("span", { class: "hint" }, user.email)),
    h("ul", { class: "grants", "aria-label": `Access of ${displayName(user)}` }, permissions.map((permission) => {
      const label = permissionLabel(permission, titles);
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

  const who = h("select", { name: "user" }, grantable.map((u) => h("option", { value: u.id }, u.email ? `${displayName(u)} (${u.email})` : displayName(u))));
  const what = h("select", { name: "permission" },
    [...GRANTABLE, ...DIALOGUE_GRANTABLE].map((g) => h("option", { value: g.type, disabled: g.type.startsWith("dialogue:") && dialogues.length === 0 }, g.label)));
  const which = h("select", { name: "dialogue" }, dialogues.map((d) => h("option", { value: d.id }, titles.get(d.id) ?? d.id)));
  const whichField = field("Dialogue", which);
  const showWhich = () => (whichField.hidden = !what.value.startsWith("dialogue:"));
  what.addEventListener("change", showWhich);
  showWhich();
  const grant = h("button", { type: "submit" }, "Grant");
  const form = grantable.length === 0
    ? h("p", { class: "hint" }, "Everyone with access is listed above. Invite new people with a link.")
    : actionForm({ class: "inline-form grant-form", "aria-label": "Grant access" }, {
      button: grant,
      message,
      submitted: async () => {
        const properties = what.value.startsWith("dialogue:") ? { project_id: project, dialogue_id: which.value } : { project_id: project };
        await app.api.request("POST", `/users/${encodeURIComponent(who.value)}/permissions/`, { type: what.value, properties });
        reload();
      },
    }, field("Person", who), field("Access", what), whichField, grant);
  replace(region,
    h("ul", { class: "people-list", "aria-label": "People with access" }, items),
    h("h3", {}, "Grant access"),
    form,
    isServerAdmin ? null : h("p", { class: "hint" }, "You can grant access to the people listed here; new people join through an invite link."),
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
    actionForm({ class: "inline-form", "aria-label": "New invite link" }, {
      button: create,
      message,
      submitted: async () => {
        const invite = await app.api.request("POST", path, { permission: what.value });
        showCreated(created, `${location.origin}/#/invites/${encodeURIComponent(invite.code)}`);
        showInviteList(list, app, path, message);
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
    invites = await busy(region, allPages(app.api, path));
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
