// The editor's DOM helpers, shared by every view: building elements without HTML strings (so
// nothing a user typed is ever parsed as markup), showing that an operation is busy, and
// turning server errors into sentences.

/**
 * @typedef {Record<string, unknown>} Attributes
 * Properties and attributes of a new element: `class`, `text`, `on<event>` handlers (a
 * function), `aria-*`, `data-*`, `role`, `for` and any other attribute (a string), or a DOM
 * property (`value`, `checked`, `disabled`, `hidden`…). `undefined`, `null` and `false`
 * attribute values are left out.
 */

/** Attributes and properties that parse HTML: never set through h(). */
const MARKUP = new Set(["innerhtml", "outerhtml", "srcdoc"]);

/**
 * A new element (`innerHTML`, `outerHTML` and `srcdoc` are refused: they would parse markup).
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Attributes} [attributes]
 * @param {...(Node | string | number | null | undefined | false | (Node | string)[])} children
 * @returns {HTMLElementTagNameMap[K]}
 */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (MARKUP.has(name.toLowerCase())) throw new Error(`h(): “${name}” would parse markup; build children instead`);
    if (value === undefined || value === null || value === false) continue;
    if (name === "text") element.textContent = String(value);
    else if (name === "class") element.className = String(value);
    else if (name.startsWith("on") && typeof value === "function") element.addEventListener(name.slice(2), /** @type {EventListener} */ (value));
    else if (name in element && !name.includes("-") && name !== "role" && name !== "for" && name !== "list") /** @type {any} */ (element)[name] = value;
    else element.setAttribute(name, value === true ? "" : String(value));
  }
  append(element, ...children);
  return element;
}

/**
 * Appends children, skipping empty ones; strings become text nodes.
 * @param {Element | DocumentFragment} parent
 * @param {...(Node | string | number | null | undefined | false | (Node | string)[])} children
 */
export function append(parent, ...children) {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    parent.append(typeof child === "number" ? String(child) : child);
  }
}

/**
 * Marks `element` busy (`aria-busy`, and disabled when it is a control) until `work` settles.
 * @template T
 * @param {HTMLElement} element
 * @param {Promise<T>} work
 * @returns {Promise<T>}
 */
export async function busy(element, work) {
  element.setAttribute("aria-busy", "true");
  const control = "disabled" in element;
  if (control) /** @type {HTMLButtonElement} */ (element).disabled = true;
  try {
    return await work;
  } finally {
    element.removeAttribute("aria-busy");
    if (control) /** @type {HTMLButtonElement} */ (element).disabled = false;
  }
}

/**
 * A sentence for a person from any error: the server's message for an `ApiError` (with the
 * first field it names), else the error's own.
 * @param {unknown} error
 */
export function explain(error) {
  const e = /** @type {any} */ (error);
  if (e && typeof e === "object" && typeof e.type === "string" && typeof e.status === "number") {
    if (e.status === 0 || e.type === "unavailable") return "The server cannot be reached right now. Try again in a moment.";
    const first = Array.isArray(e.details?.errors) ? e.details.errors[0] : undefined;
    const where = first?.path ? ` (${first.path})` : "";
    return `${e.message}${where}`;
  }
  if (e instanceof TypeError) return "The server cannot be reached. Check the connection and try again.";
  return e?.message ? String(e.message) : String(error);
}

/**
 * Empties `element`, then appends `children`.
 * @param {Element} element
 * @param {...(Node | string | null | undefined | false | (Node | string)[])} children
 */
export function replace(element, ...children) {
  element.replaceChildren();
  append(element, ...children);
}

/**
 * Keeps a live region made once (role="alert") saying `text`, with `details` under it and a
 * Dismiss button: its content changes only when what it says changes, so a notice is announced
 * once, not on every redraw. Empty `text` empties it (the region stays, for the next notice).
 * @param {HTMLElement} region
 * @param {string | undefined} text
 * @param {string[]} details
 * @param {() => void} dismiss
 * @param {string} [focusKey] a `data-focus` key for the Dismiss button
 */
export function showAlert(region, text, details, dismiss, focusKey) {
  const said = JSON.stringify([text ?? "", details]);
  if (region.dataset.said === said) return;
  region.dataset.said = said;
  region.classList.toggle("refusal", Boolean(text));
  replace(region, text ? [
    h("p", { text }),
    details.length ? h("ul", {}, details.map((detail) => h("li", { text: detail }))) : null,
    h("button", { type: "button", class: "button-small", text: "Dismiss", "data-focus": focusKey, onclick: dismiss }),
  ] : []);
}

/**
 * Every item of a paged list (`GET path?page=…&per_page=100`, with `filters` in the query),
 * reading page after page until one comes back short.
 * @param {{ request(method: string, path: string): Promise<any> }} api
 * @param {string} path
 * @param {Record<string, string>} [filters]
 * @returns {Promise<any[]>}
 */
export async function allPages(api, path, filters = {}) {
  const perPage = 100; // the server's maximum
  const items = [];
  for (let page = 1; ; page += 1) {
    const query = new URLSearchParams({ ...filters, page: String(page), per_page: String(perPage) });
    const batch = await api.request("GET", `${path}${path.includes("?") ? "&" : "?"}${query}`);
    items.push(...batch);
    if (batch.length < perPage) return items;
  }
}

/**
 * Shows why something failed in `element`, announced at once (role="alert").
 * @param {HTMLElement} element
 * @param {unknown} error an error, or the sentence to show
 */
export function showError(element, error) {
  element.setAttribute("role", "alert");
  element.textContent = typeof error === "string" ? error : explain(error);
  element.hidden = false;
}

/**
 * A message line: empty and hidden until `error()` or `ok()` fills it. An error is announced
 * at once (role="alert"); a confirmation politely (role="status").
 */
export function messageLine() {
  const element = h("p", { class: "message", hidden: true });
  return {
    element,
    /** @param {unknown} error */
    error(error) {
      element.className = "message error";
      showError(element, error);
    },
    /** @param {string} text */
    ok(text) {
      element.className = "message success";
      element.setAttribute("role", "status");
      element.textContent = text;
      element.hidden = false;
    },
    clear() {
      element.hidden = true;
      element.textContent = "";
    },
  };
}
