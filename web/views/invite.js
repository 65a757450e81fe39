// Accepting an invite (`#/invites/{code}`): the link a project admin shared. The router has
// the visitor sign in first and come back here; accepting grants the invite's permission and
// opens the project.

import { h, replace, busy, messageLine } from "../ui.js";
import { displayName } from "../people.js";

/**
 * @param {HTMLElement} root
 * @param {{ code: string }} params
 * @param {any} app
 * @returns {() => void}
 */
export function mount(root, { code }, app) {
  app.setTitle("Invitation");
  const accept = h("button", { type: "button", class: "button-primary" }, "Accept invitation");
  const message = messageLine();
  accept.addEventListener("click", async () => {
    message.clear();
    try {
      const granted = await busy(accept, app.api.request("POST", `/invites/${encodeURIComponent(code)}/accept`));
      await app.refreshUser();
      app.navigate(`#/projects/${encodeURIComponent(granted.properties.project_id)}`);
    } catch (error) {
      message.error(error);
    }
  });
  replace(root, h("section", { class: "page card narrow", "aria-labelledby": "invite-heading" },
    h("h1", { id: "invite-heading" }, "You are invited to a project"),
    h("p", {}, `Accepting gives your account (${displayName(app.user)}, ${app.user.email}) access to the project this link is for.`),
    message.element,
    h("div", { class: "actions" }, accept, h("a", { href: "#/projects" }, "Not now"))));
  accept.focus();
  return () => root.replaceChildren();
}
