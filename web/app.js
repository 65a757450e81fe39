// The editor's entry point: the page layout (header with breadcrumbs, the signed-in user and
// Sign out; the main region), the session on load, and the hash router that mounts one view at
// a time into the main region and gives it the `app` context (see BRIEF: the module contract).

import { api, resume, signOut, currentUser, onSessionEnded } from "./session.js";
import { displayName } from "./people.js";
import { h, replace, busy, explain } from "./ui.js";

const PRODUCT = "Dialogue editor";
const TABS = ["edit", "history", "releases", "flow"];

/**
 * @typedef {{ name: string, params: Record<string, string>, load: () => Promise<{ mount: Function }> }} Route
 */

/**
 * The route a location hash names, or `null` for an unknown one. A `?query` after the path
 * becomes extra params.
 * @param {string} hash
 * @returns {Route | null}
 */
function parse(hash) {
  const [path, query = ""] = hash.replace(/^#\/?/, "").split("?");
  let parts;
  try {
    parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  } catch {
    return null; // a malformed escape (`%E0`): no page has that address
  }
  const extra = Object.fromEntries(new URLSearchParams(query));
  const [first, id, second, dialogue, tab, ...rest] = parts;
  if (rest.length > 0) return null;
  if (parts.length === 1 && first === "signin") return { name: "signin", params: extra, load: () => import("./views/signin.js") };
  if (parts.length === 1 && first === "projects") return { name: "projects", params: extra, load: () => import("./views/projects.js") };
  if (parts.length === 2 && first === "projects") return { name: "project", params: { ...extra, project: id }, load: () => import("./views/project.js") };
  if (parts.length === 2 && first === "invites") return { name: "invite", params: { ...extra, code: id }, load: () => import("./views/invite.js") };
  if (parts.length >= 4 && first === "projects" && second === "dialogues" && (tab === undefined || TABS.includes(tab))) {
    return { name: "dialogue", params: { ...extra, project: id, dialogue, tab: tab ?? "edit" }, load: () => import("./views/editor.js") };
  }
  return null;
}

/** What the router keeps between routes. */
const state = {
  /** @type {Record<string, any> | null} the signed-in user */
  user: null,
  /** @type {(() => void) | null} unmounts the current view */
  unmount: null,
  /** where to go after signing in, when a signed-out visitor opened a page that needs it */
  returnTo: "#/projects",
  /** counts route changes, so a slow view or breadcrumb answer for an old route is dropped */
  generation: 0,
};

const layout = {
  userName: h("span", { class: "user-name" }),
  signOutButton: h("button", { type: "button", class: "button-quiet", onclick: onSignOut }, "Sign out"),
  crumbs: h("ol", { class: "crumbs" }),
  main: h("main", { id: "main", tabindex: "-1" }),
};

/** The `app` context every view receives. */
const app = {
  api,
  /** The signed-in user's description (with `permissions`). */
  get user() {
    return /** @type {Record<string, any>} */ (state.user);
  },
  /**
   * Goes to a route (`#/projects/…`); re-shows it when it is already the current one.
   * @param {string} hash
   */
  navigate(hash) {
    if (location.hash === hash && location.pathname === "/") show();
    else if (location.pathname !== "/") location.assign(`/${hash}`);
    else location.hash = hash;
  },
  /**
   * Names the page in the browser's title bar and history.
   * @param {string} text
   */
  setTitle(text) {
    document.title = text ? `${text} – ${PRODUCT}` : PRODUCT;
  },
  /** Re-reads the project and dialogue titles in the breadcrumbs (after a rename). */
  refreshCrumbs() {
    showCrumbs(parse(location.hash), state.generation);
  },
  /**
   * Re-reads the signed-in user (their permissions change when an invite is accepted).
   * @returns {Promise<Record<string, any>>}
   */
  async refreshUser() {
    state.user = await currentUser();
    layout.userName.textContent = displayName(state.user);
    return state.user;
  },
  /**
   * Called by the sign-in view once the session exists: goes where the visitor was headed.
   * @param {Record<string, any>} user
   */
  signedIn(user) {
    state.user = user;
    const next = state.returnTo;
    state.returnTo = "#/projects";
    app.navigate(next);
  },
};

/** Closes the current view (and whatever it has open), so nothing runs on while signing out. */
function closeView() {
  state.generation += 1;
  state.unmount?.();
  state.unmount = null;
}

async function onSignOut() {
  closeView();
  replace(layout.main, h("p", { class: "loading", role: "status" }, "Signing out…"));
  try {
    await busy(layout.signOutButton, signOut(state.user));
  } catch (error) {
    // The session may already be gone; the page forgets it either way.
    console.warn("sign out:", explain(error));
  }
  state.user = null;
  app.navigate("#/signin");
}

/** The session ended under a view: sign in again, then come back to the same place. */
function onExpired() {
  if (!state.user) return;
  state.user = null;
  state.returnTo = location.pathname === "/" && location.hash ? location.hash : "#/projects";
  closeView();
  history.replaceState(null, "", "/#/signin?expired=1");
  show();
}

function skipLink() {
  return h("a", {
    class: "skip-link",
    href: "#main",
    onclick: (/** @type {Event} */ event) => {
      event.preventDefault();
      layout.main.focus();
    },
  }, "Skip to content");
}

/** Builds the page's frame once: header and main region. */
function buildLayout() {
  const root = /** @type {HTMLElement} */ (document.getElementById("app"));
  const header = h("header", { class: "app-header" },
    h("a", { class: "product", href: "#/projects" }, PRODUCT),
    h("nav", { "aria-label": "Breadcrumb", class: "crumbs-nav" }, layout.crumbs),
    h("div", { class: "account" }, layout.userName, layout.signOutButton));
  replace(root, skipLink(), header, layout.main);
}

/** Shows or hides the signed-in parts of the header. */
function showAccount() {
  const signedInNow = state.user !== null;
  layout.userName.textContent = signedInNow ? displayName(/** @type {any} */ (state.user)) : "";
  layout.signOutButton.hidden = !signedInNow;
}

/**
 * The breadcrumbs of a route: Projects › project › dialogue, titles read from the project.
 * @param {Route | null} route
 * @param {number} generation
 */
async function showCrumbs(route, generation) {
  const items = [];
  const project = route?.params.project;
  if (state.user && route && route.name !== "signin") items.push(crumb("Projects", "#/projects", route.name === "projects"));
  replace(layout.crumbs, items);
  if (!project || !state.user) return;
  let description;
  try {
    description = await api.request("GET", `/projects/${encodeURIComponent(project)}`);
  } catch {
    return; // the view itself reports why the project cannot be read
  }
  if (generation !== state.generation) return;
  const dialogueId = route?.params.dialogue;
  items.push(crumb(description.title, `#/projects/${project}`, !dialogueId));
  if (dialogueId) {
    const dialogue = (description.dialogues ?? []).find((/** @type {any} */ d) => d.id === dialogueId);
    items.push(crumb(dialogue?.title ?? "Dialogue", `#/projects/${project}/dialogues/${dialogueId}`, true));
  }
  replace(layout.crumbs, items);
}

/**
 * @param {string} text
 * @param {string} href
 * @param {boolean} current
 */
function crumb(text, href, current) {
  return h("li", {}, h("a", { href, "aria-current": current ? "page" : undefined }, text));
}

function notFound() {
  app.setTitle("Not found");
  return h("section", { class: "page narrow" },
    h("h1", {}, "Not found"),
    h("p", {}, "There is no page at this address. It may have been mistyped, or the link is out of date."),
    h("p", {}, h("a", { href: "#/projects" }, "Go to your projects")));
}

/** Shows the route the location names, replacing the current view. */
async function show() {
  const generation = ++state.generation;
  const hadFocus = document.activeElement !== document.body && document.activeElement !== null;
  state.unmount?.();
  state.unmount = null;
  const resetPage = location.pathname.replace(/\/$/, "") === "/password-confirmations";
  let route = resetPage ? { name: "password-reset", params: {}, load: () => import("./views/password-reset.js") } : parse(location.hash);
  if (!resetPage && location.hash.replace(/^#\/?/, "") === "") {
    history.replaceState(null, "", "#/projects");
    route = parse("#/projects");
  }
  if (route && route.name !== "signin" && route.name !== "password-reset" && !state.user) {
    state.returnTo = location.hash;
    history.replaceState(null, "", "#/signin");
    route = parse("#/signin");
  } else if (route?.name === "signin" && state.user) {
    history.replaceState(null, "", "#/projects");
    route = parse("#/projects");
  }
  showAccount();
  showCrumbs(route, generation);
  const viewRoot = h("div", { class: "view" });
  replace(layout.main, viewRoot);
  if (!route) {
    replace(viewRoot, notFound());
    return;
  }
  layout.main.setAttribute("aria-busy", "true");
  try {
    const view = await route.load();
    if (generation !== state.generation) return;
    const unmount = await view.mount(viewRoot, route.params, app);
    if (generation !== state.generation) unmount?.();
    else state.unmount = typeof unmount === "function" ? unmount : null;
  } catch (error) {
    if (generation !== state.generation) return;
    replace(viewRoot, h("section", { class: "page narrow" },
      h("h1", {}, "This page could not be shown"),
      h("p", { class: "error", role: "alert" }, explain(error)),
      h("p", {}, "Reload the page to try again.")));
  } finally {
    if (generation === state.generation) layout.main.removeAttribute("aria-busy");
  }
  // Keyboard and screen reader users start at the new content after a route change.
  if (generation === state.generation && hadFocus && !layout.main.contains(document.activeElement)) layout.main.focus();
}

async function start() {
  buildLayout();
  layout.main.setAttribute("aria-busy", "true");
  replace(layout.main, h("p", { class: "loading", role: "status" }, "Loading…"));
  try {
    state.user = await resume();
  } catch (error) {
    replace(layout.main, h("section", { class: "page narrow" },
      h("h1", {}, PRODUCT),
      h("p", { class: "error", role: "alert" }, explain(error)),
      h("p", {}, "Reload the page to try again.")));
    layout.main.removeAttribute("aria-busy");
    return;
  }
  addEventListener("hashchange", () => show());
  onSessionEnded(onExpired);
  await show();
}

start();
