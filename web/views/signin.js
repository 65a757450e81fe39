// The sign-in screen (`#/signin`): email and password for a cookie session, and the "Forgot
// your password?" form that asks for a reset link by mail.

import { h, replace, messageLine } from "../ui.js";
import { signIn } from "../session.js";
import { actionForm, field } from "./forms.js";

/**
 * @param {HTMLElement} root
 * @param {{ reset?: string, expired?: string }} params `reset: "done"` after a new password
 *   was set; `expired` when the session ended under the page
 * @param {any} app
 * @returns {() => void}
 */
export function mount(root, params, app) {
  const notice = params.reset === "done" ? "Your new password is set. Sign in with it."
    : params.expired ? "Your session ended. Sign in again to continue where you were." : "";
  showSignIn(root, app, notice);
  return () => root.replaceChildren();
}

/**
 * @param {HTMLElement} root
 * @param {any} app
 * @param {string} notice a confirmation to show above the form
 * @param {string} [email] to fill in
 */
function showSignIn(root, app, notice, email = "") {
  app.setTitle("Sign in");
  const emailInput = h("input", { type: "email", name: "email", autocomplete: "username", required: true, value: email });
  const passwordInput = h("input", { type: "password", name: "password", autocomplete: "current-password", required: true });
  const submit = h("button", { type: "submit", class: "button-primary" }, "Sign in");
  const message = messageLine();
  if (notice) message.ok(notice);
  const form = actionForm({ class: "stack" }, {
    button: submit,
    message,
    submitted: async () => app.signedIn(await signIn(emailInput.value.trim(), passwordInput.value)),
    failed: () => passwordInput.select(),
  },
  field("Email", emailInput),
  field("Password", passwordInput),
  message.element,
  h("div", { class: "actions" }, submit));
  const forgot = h("button", { type: "button", class: "button-link", onclick: () => showResetRequest(root, app, emailInput.value.trim()) }, "Forgot your password?");
  replace(root, h("section", { class: "page card narrow", "aria-labelledby": "signin-heading" },
    h("h1", { id: "signin-heading" }, "Sign in"),
    form,
    h("p", { class: "aside" }, forgot)));
  (email ? passwordInput : emailInput).focus();
}

/**
 * The form that sends a password reset link. The answer is the same whether or not an account
 * has that address, so it tells nothing about who has one.
 * @param {HTMLElement} root
 * @param {any} app
 * @param {string} email to fill in
 */
function showResetRequest(root, app, email) {
  app.setTitle("Reset your password");
  const emailInput = h("input", { type: "email", name: "email", autocomplete: "username", required: true, value: email });
  const submit = h("button", { type: "submit", class: "button-primary" }, "Send reset link");
  const message = messageLine();
  const form = actionForm({ class: "stack" }, {
    button: submit,
    message,
    submitted: async () => {
      await app.api.request("POST", "/password-resets/", { email: emailInput.value.trim() });
      message.ok("If an account has that address, a link is on its way. It works for one hour.");
    },
  },
  h("p", {}, "Enter the email address of your account, and we will send you a link to set a new password."),
  field("Email", emailInput),
  message.element,
  h("div", { class: "actions" }, submit));
  const back = h("button", { type: "button", class: "button-link", onclick: () => showSignIn(root, app, "", emailInput.value.trim()) }, "Back to sign in");
  replace(root, h("section", { class: "page card narrow", "aria-labelledby": "reset-heading" },
    h("h1", { id: "reset-heading" }, "Reset your password"),
    form,
    h("p", { class: "aside" }, back)));
  emailInput.focus();
}
