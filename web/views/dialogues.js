// The dialogues of a project, on the project screen: the list with its filters (archived,
// published, unpublished changes), and, for a project admin, a form that creates a dialogue
// and opens it.

import { h, replace, busy, allPages, messageLine } from "../ui.js";
import { actionForm, field } from "./forms.js";


/** The list filters: query parameter, label, and the words for true and false. */
const FILTERS = [
  { name: "is_archived", label: "Archived", yes: "Archived", no: "Not archived", initial: "false" },
  { name: "is_published", label: "Published", yes: "Published", no: "Not published", initial: "" },
  { name: "has_changes", label: "Unpublished changes", yes: "With changes", no: "Without changes", initial: "" },
];

/**
 * Fills `section` with the project's dialogues.
 * @param {HTMLElement} section
 * @param {{ app: any, project: string, mayCreate: boolean }} options
 */
export function showDialogues(section, { app, project, mayCreate }) {
  const list = h("div", { class: "dialogue-list-region" });
  const filters = FILTERS.map((filter) => {
    const select = h("select", { name: filter.name, onchange: () => load() },
      h("option", { value: "" }, "Any"),
      h("option", { value: "true" }, filter.yes),
      h("option", { value: "false" }, filter.no));
    select.value = filter.initial;
    return { name: filter.name, select, element: field(filter.label, select) };
  });
  // Filters change faster than answers come: only the newest request's answer is shown.
  let requests = 0;
  const load = () => {
    const mine = ++requests;
    return showList(list, app, project, Object.fromEntries(filters.filter((f) => f.select.value).map((f) => [f.name, f.select.value])), () => mine === requests);
  };
  replace(section,
    h("h2", { id: "dialogues-heading" }, "Dialogues"),
    mayCreate ? createForm(app, project) : null,
    h("fieldset", { class: "filters" }, h("legend", {}, "Show"), filters.map((f) => f.element)),
    list);
  return load();
}

/**
 * @param {HTMLElement} region
 * @param {any} app
 * @param {string} project
 * @param {Record<string, string>} filters
 * @param {() => boolean} isNewest whether this is still the newest request (else its answer is dropped)
 */
async function showList(region, app, project, filters, isNewest) {
  let dialogues;
  try {
    dialogues = await busy(region, allPages(app.api, `/projects/${encodeURIComponent(project)}/dialogues/`, filters));
    if (!isNewest()) return;
  } catch (error) {
    if (!isNewest()) return;
    const message = messageLine();
    message.error(error);
    replace(region, message.element);
    return;
  }
  if (dialogues.length === 0) {
    replace(region, h("p", { class: "empty", role: "status" }, emptyText(filters)));
    return;
  }
  dialogues.sort((a, b) => a.title.localeCompare(b.title));
  replace(region, h("div", { class: "table-wrap" }, h("table", { "aria-labelledby": "dialogues-heading" },
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Title"), h("th", { scope: "col" }, "Status"))),
    h("tbody", {}, dialogues.map((dialogue) => h("tr", {},
      h("td", {}, h("a", { href: `#/projects/${encodeURIComponent(project)}/dialogues/${encodeURIComponent(dialogue.id)}` }, dialogue.title || "Untitled dialogue")),
      h("td", { class: "badges" }, statusBadges(dialogue))))))));
}

/**
 * What an empty list means under these filters.
 * @param {Record<string, string>} filters
 */
function emptyText(filters) {
  const names = Object.keys(filters);
  if (names.length === 0) return "No dialogues yet.";
  if (names.length === 1 && filters.is_archived === "false") return "No active dialogues. Archived ones show with the Archived filter.";
  return "No dialogue matches these filters.";
}

/**
 * The badges that say where a dialogue stands.
 * @param {{ is_archived: boolean, is_published: boolean, has_changes: boolean, can_edit: boolean }} dialogue
 */
function statusBadges(dialogue) {
  return [
    dialogue.is_published ? h("span", { class: "badge success" }, "Published") : h("span", { class: "badge" }, "Draft"),
    dialogue.has_changes ? h("span", { class: "badge warning" }, "Unpublished changes") : null,
    dialogue.is_archived ? h("span", { class: "badge" }, "Archived") : null,
    dialogue.can_edit ? null : h("span", { class: "badge" }, "Read only"),
  ];
}

/**
 * @param {any} app
 * @param {string} project
 */
function createForm(app, project) {
  const title = h("input", { type: "text", name: "title", required: true, maxLength: 500, autocomplete: "off" });
  const submit = h("button", { type: "submit", class: "button-primary" }, "Create dialogue");
  const message = messageLine();
  const submitted = async () => {
    const dialogue = await app.api.createDialogue(project, {
      title: title.value.trim(),
      sequences: [{ id: "start", title: "Start", blocks: [] }],
    });
    app.navigate(`#/projects/${encodeURIComponent(project)}/dialogues/${encodeURIComponent(dialogue.id)}`);
  };
  return actionForm({ class: "inline-form", "aria-label": "New dialogue" }, { button: submit, message, submitted },
    field("New dialogue title", title), submit, message.element);
}
