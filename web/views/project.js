// The project screen (`#/projects/{p}`): its dialogues (dialogues.js), and for a project admin
// the project's settings (rename, archive) and who has access with invite links (people.js).

import { h, replace, busy, messageLine } from "../ui.js";
import { currentUser } from "../session.js";
import { administers } from "../people.js";
import { actionForm, field } from "./forms.js";
import { showDialogues } from "./dialogues.js";
import { showPeople } from "./people.js";

/**
 * @param {HTMLElement} root
 * @param {{ project: string }} params
 * @param {any} app
 * @returns {Promise<() => void>}
 */
export async function mount(root, { project }, app) {
  const path = `/projects/${encodeURIComponent(project)}`;
  let description;
  let user;
  try {
    [description, user] = await Promise.all([app.api.request("GET", path), currentUser()]);
  } catch (error) {
    const message = messageLine();
    message.error(/** @type {any} */ (error)?.status === 404 ? "This project does not exist, or your account has no access to it." : error);
    app.setTitle("Project");
    replace(root, h("section", { class: "page narrow" }, h("h1", {}, "Project unavailable"), message.element,
      h("p", {}, h("a", { href: "#/projects" }, "Back to your projects"))));
    return () => root.replaceChildren();
  }
  const isAdmin = administers(user, project);
  const heading = h("h1", { id: "project-heading" });
  const archivedBadge = h("span", { class: "badge" }, "Archived");
  const showHeading = () => {
    app.setTitle(description.title);
    heading.textContent = description.title || "Untitled project";
    archivedBadge.hidden = !description.is_archived;
  };
  showHeading();
  const dialogues = h("section", { class: "panel", "aria-labelledby": "dialogues-heading" });
  const side = h("div", { class: "project-side" });
  replace(root, h("div", { class: "page" },
    h("div", { class: "page-head" }, h("div", { class: "title-line" }, heading, archivedBadge)),
    h("div", { class: isAdmin ? "project-layout" : "project-layout single" }, dialogues, isAdmin ? side : null)));
  if (isAdmin) {
    const settings = h("section", { class: "panel", "aria-labelledby": "settings-heading" });
    const people = h("section", { class: "panel", "aria-labelledby": "people-heading" });
    side.append(settings, people);
    showSettings(settings, app, path, description, (updated) => {
      description = updated;
      showHeading();
      app.refreshCrumbs();
    });
    showPeople(people, { app, project, user });
  }
  await showDialogues(dialogues, { app, project, mayCreate: isAdmin });
  return () => root.replaceChildren();
}

/**
 * Rename and archive, for a project admin.
 * @param {HTMLElement} section
 * @param {any} app
 * @param {string} path the project's URL path
 * @param {{ title: string, is_archived: boolean }} description
 * @param {(updated: any) => void} changed called with the stored description after a change
 */
function showSettings(section, app, path, description, changed) {
  /** @param {unknown[]} operations */
  const patch = (operations) => app.api.request("PATCH", path, operations, "application/json-patch+json");
  const title = h("input", { type: "text", name: "title", required: true, maxLength: 500, value: description.title, autocomplete: "off" });
  const rename = h("button", { type: "submit" }, "Rename");
  const archive = h("button", { type: "button", class: "button-danger" });
  const message = messageLine();
  const showArchive = () => {
    archive.textContent = description.is_archived ? "Unarchive project" : "Archive project";
  };
  showArchive();
  archive.addEventListener("click", async () => {
    message.clear();
    try {
      description = await busy(archive, patch([{ op: "replace", path: "/is_archived", value: !description.is_archived }]));
      showArchive();
      changed(description);
      message.ok(description.is_archived ? "The project is archived." : "The project is active again.");
    } catch (error) {
      message.error(error);
    }
  });
  replace(section,
    h("h2", { id: "settings-heading" }, "Settings"),
    actionForm({ class: "inline-form", "aria-label": "Rename the project" }, {
      button: rename,
      message,
      submitted: async () => {
        description = await patch([{ op: "replace", path: "/title", value: title.value.trim() }]);
        changed(description);
        message.ok("The project is renamed.");
      },
    }, field("Project title", title), rename),
    h("div", { class: "actions" }, archive),
    h("p", { class: "hint" }, "An archived project keeps its dialogues; it is listed after the active ones."),
    message.element);
}
