// The projects screen (`#/projects`): the projects the signed-in user has access to (the
// server filters the list), each linking to its screen, and a form to create one.

import { h, replace, busy, allPages, messageLine } from "../ui.js";
import { mayCreateProjects } from "../people.js";
import { actionForm, field } from "./forms.js";

/**
 * @param {HTMLElement} root
 * @param {Record<string, string>} _params
 * @param {any} app
 * @returns {Promise<() => void>}
 */
export async function mount(root, _params, app) {
  app.setTitle("Projects");
  const list = h("div", { class: "project-list-region" });
  const mayCreate = mayCreateProjects(app.user);
  replace(root, h("section", { class: "page", "aria-labelledby": "projects-heading" },
    h("div", { class: "page-head" }, h("h1", { id: "projects-heading" }, "Projects")),
    mayCreate ? createForm(app) : h("p", { class: "hint" }, "Projects others share with you appear here. To start one of your own, ask an administrator for the right to create projects."),
    list));
  await showList(list, app);
  return () => root.replaceChildren();
}

/**
 * @param {HTMLElement} region
 * @param {any} app
 */
async function showList(region, app) {
  let projects;
  try {
    projects = await busy(region, allPages(app.api, "/projects/"));
  } catch (error) {
    const message = messageLine();
    message.error(error);
    replace(region, message.element);
    return;
  }
  if (projects.length === 0) {
    replace(region, h("p", { class: "empty" }, "No projects yet."));
    return;
  }
  projects.sort((a, b) => Number(a.is_archived) - Number(b.is_archived) || a.title.localeCompare(b.title));
  replace(region, h("ul", { class: "card-list", "aria-label": "Your projects" }, projects.map((project) =>
    h("li", { class: project.is_archived ? "archived" : undefined },
      h("a", { href: `#/projects/${encodeURIComponent(project.id)}` }, project.title || "Untitled project"),
      project.is_archived ? h("span", { class: "badge" }, "Archived") : null))));
}

/** @param {any} app */
function createForm(app) {
  const title = h("input", { type: "text", name: "title", required: true, maxLength: 500, autocomplete: "off" });
  const submit = h("button", { type: "submit", class: "button-primary" }, "Create project");
  const message = messageLine();
  const submitted = async () => {
    const project = await app.api.createProject(title.value.trim());
    await app.refreshUser(); // the creator is now the project's admin
    app.navigate(`#/projects/${encodeURIComponent(project.id)}`);
  };
  return actionForm({ class: "inline-form", "aria-label": "New project" }, { button: submit, message, submitted },
    field("New project title", title), submit, message.element);
}
