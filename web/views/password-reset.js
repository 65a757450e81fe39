// The page the password reset mail links to (`/password-confirmations?token=…`): a new
// password, typed twice, for the token in the link. The token leaves the address bar at once
// (history.replaceState) and stays in memory only.

import { h, replace, messageLine } from "../ui.js";
import { actionForm, field } from "./forms.js";

/**
 * @param {HTMLElement} root
 * @param {Record<string, string>} _params
 * @param {any} app
 * @returns {() => void}
 */
export function mount(root, _params, app) {
  app.setTitle("Choose a new password");
  const token = new URLSearchParams(location.search).get("token") ?? "";
  history.replaceState(null, "", location.pathname);
  const heading = h("h1", { id: "new-password-heading" }, "Choose a new password");
  if (!token) {
    replace(root, h("section", { class: "page card narrow", "aria-labelledby": heading.id },
      heading,
      h("p", { class: "message error", role: "alert" }, "This link has no reset token. Open the link from the mail again, or ask for a new one."),
      h("p", { class: "aside" }, h("a", { href: "/#/signin" }, "Go to sign in"))));
    return () => root.replaceChildren();
  }
  const password = h("input", { type: "password", name: "new-password", autocomplete: "new-password", required: true });
  const confirmation = h("input", { type: "password", name: "confirm-password", autocomplete: "new-password", required: true });
  const submit = h("button", { type: "submit", class: "button-primary" }, "Set new password");
  const message = messageLine();
  const submitted = async () => {
    if (password.value !== confirmation.value) {
      throw new Error("The two passwords differ. Type the same new password in both fields.");
    }
    try {
      await app.api.request("POST", "/password-confirmations/", { token, password: password.value });
    } catch (error) {
      const tokenRefused = /** @type {any} */ (error)?.details?.errors?.[0]?.path === "/token";
      if (tokenRefused) throw new Error("This reset link is not valid any more: it was used already or it expired. Ask for a new one from the sign-in page.");
      throw error;
    }
    history.replaceState(null, "", "/#/signin?reset=done");
    app.navigate("#/signin?reset=done");
  };
  const form = actionForm({ class: "stack" }, { button: submit, message, submitted, failed: () => confirmation.select() },
  field("New password", password, "Use a long password that you use nowhere else."),
  field("Confirm the new password", confirmation),
  message.element,
  h("div", { class: "actions" }, submit));
  replace(root, h("section", { class: "page card narrow", "aria-labelledby": heading.id }, heading, form));
  password.focus();
  return () => root.replaceChildren();
}
