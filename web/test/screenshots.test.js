// The screenshots of docs/screenshots/ (1280×800 PNGs): a realistic demo project — an SMS
// dialogue for expectant mothers, edited by two people, with a few revisions and a release — shown
// on each screen of the editor. Runs only with SCREENSHOTS=1 (it rewrites files in docs/); the
// demo's projects are removed and made again on each run.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, stat } from "node:fs/promises";
import { fileURLToPath } from "node:url";

import { DialogueApi } from "../../clients/js/src/index.js";
import { admin, chromium, signedInPage, skip, url } from "./support.js";

const folder = fileURLToPath(new URL("../../docs/screenshots/", import.meta.url));
const wanted = process.env.SCREENSHOTS === "1";

/** The demo's projects; the first holds the dialogue. */
const PROJECTS = ["Maternal health SMS", "Vaccination reminders", "Youth helpline USSD"];

/** The demo's two people. */
const NOMSA = { email: "nomsa.dlamini@clinic.example.org", password: "Nomsa's demo password", first_name: "Nomsa", last_name: "Dlamini" };
const THABO = { email: "thabo.mokoena@clinic.example.org", password: "Thabo's demo password", first_name: "Thabo", last_name: "Mokoena" };

/**
 * A demo user (made once per database) and a REST client signed in as them.
 * @param {DialogueApi} adminApi
 * @param {typeof NOMSA} person
 */
async function demoUser(adminApi, person) {
  await adminApi.request("POST", "/users/", person).catch((error) => {
    if (error?.status !== 409) throw error; // made by an earlier run on this database
  });
  const api = new DialogueApi({ url });
  await api.signIn(person.email, person.password);
  return { user: await api.request("GET", "/user"), api };
}

/** The dialogue as first created: a welcome with one choice, and the due-date question. */
const FIRST_DRAFT = {
  title: "Antenatal sign-up",
  sequences: [
    { id: "welcome", title: "Welcome", blocks: [
      { id: "hello", type: "message", properties: { text: "Hello from your clinic! We send free SMS tips to help you through your pregnancy." } },
      { id: "join", type: "choice", properties: { question: "Would you like weekly pregnancy tips?", choices: [{ label: "Yes, sign me up", value: "yes", next: "due-date" }] } },
    ] },
    { id: "due-date", title: "Ask due date", blocks: [
      { id: "ask-week", type: "free-text", properties: { question: "How many weeks pregnant are you? Reply with a number, for example 20.", save_as: "pregnancy_week", max_length: 2 } },
    ] },
  ],
};

const WEEKLY_TIPS = { id: "weekly-tips", title: "Weekly tips", blocks: [
  { id: "tip", type: "message", properties: { text: "Week {{pregnancy_week}}: eat iron-rich food such as beans and spinach, and drink plenty of clean water." } },
] };

const OPT_OUT = { id: "opt-out", title: "Opt out", blocks: [
  { id: "stopped", type: "message", properties: { text: "You will no longer receive tips. Reply JOIN at any time to sign up again." } },
  { id: "goodbye", type: "end", properties: { text: "Take care, and visit your clinic if anything worries you." } },
] };

test("screenshots of every screen, for docs/screenshots", { skip: skip || (wanted ? false : "set SCREENSHOTS=1 to take the screenshots") }, async () => {
  await mkdir(folder, { recursive: true });
  const adminApi = await admin();
  for (const old of await adminApi.request("GET", "/projects/?per_page=100")) {
    if (PROJECTS.includes(old.title)) await adminApi.request("DELETE", `/projects/${old.id}`);
  }
  const nomsa = await demoUser(adminApi, NOMSA);
  const thabo = await demoUser(adminApi, THABO);
  /** @param {any} person @param {string} type @param {string} project */
  const grant = (person, type, project) => adminApi.request("POST", `/users/${person.user.id}/permissions/`, { type, properties: { project_id: project } });

  const project = await adminApi.createProject(PROJECTS[0]);
  await grant(nomsa, "project:admin", project.id);
  await grant(thabo, "project:dialogues:write", project.id);
  for (const title of PROJECTS.slice(1)) {
    const other = await adminApi.createProject(title);
    await grant(nomsa, title.includes("USSD") ? "project:dialogues:read" : "project:admin", other.id);
  }
  await nomsa.api.request("POST", `/projects/${project.id}/invites/`, { permission: "project:dialogues:read" });

  // The dialogue and its history: six revisions by the two of them, a release, one more change.
  const dialogue = await nomsa.api.createDialogue(project.id, FIRST_DRAFT);
  const path = `/projects/${project.id}/dialogues/${dialogue.id}`;
  /** @param {any} who @param {unknown[]} patch */
  const edit = (who, patch) => who.api.request("PATCH", path, patch);
  await edit(nomsa, [{ op: "add", path: "/sequences/-", value: WEEKLY_TIPS }]);
  await edit(nomsa, [{ op: "add", path: "/sequences/1/blocks/-", value: { id: "answered", type: "condition", properties: { field: "pregnancy_week", operator: "exists", next: "weekly-tips", else: "welcome" } } }]);
  await edit(thabo, [{ op: "replace", path: "/sequences/0/blocks/0/properties/text", value: "Hello from your clinic! We send free SMS messages to support you and your baby through pregnancy." }]);
  await edit(thabo, [{ op: "add", path: "/sequences/-", value: OPT_OUT }]);
  await edit(nomsa, [
    { op: "add", path: "/sequences/0/blocks/1/properties/choices/-", value: { label: "No, thanks", value: "no", next: "opt-out" } },
    { op: "add", path: "/sequences/2/blocks/-", value: { id: "more", type: "choice", properties: { question: "Reply 1 to keep receiving tips or 2 to stop.", choices: [{ label: "Keep the tips", next: "weekly-tips" }, { label: "Stop", next: "opt-out" }] } } },
  ]);
  await edit(nomsa, [{ op: "replace", path: "/title", value: "Antenatal check-in" }]);
  const newest = (await nomsa.api.revisions(project.id, dialogue.id, { per_page: 1, ordering: "-number" }))[0];
  await nomsa.api.createRelease(project.id, dialogue.id, newest.id);
  await edit(thabo, [{ op: "replace", path: "/sequences/2/blocks/0/properties/text", value: "Week {{pregnancy_week}}: eat iron-rich food such as beans and spinach, drink clean water, and rest when you can." }]);
  await nomsa.api.createDialogue(project.id, { title: "Postnatal follow-up", sequences: [{ id: "start", title: "Start", blocks: [{ id: "hi", type: "message", properties: { text: "Congratulations on your baby!" } }] }] });
  await nomsa.api.createDialogue(project.id, { title: "Clinic feedback survey", sequences: [{ id: "start", title: "Start", blocks: [] }] });

  /** @param {import("playwright-core").Page} page @param {string} name */
  const shoot = async (page, name) => {
    await page.evaluate(() => document.fonts.ready);
    const file = `${folder}${name}`;
    await page.screenshot({ path: file });
    assert.ok((await stat(file)).size > 10_000, `${name} shows something`);
  };

  // Signed out: the sign-in screen.
  const context = await (await chromium()).newContext({ viewport: { width: 1280, height: 800 } });
  const signIn = await context.newPage();
  await signIn.goto(`${url}/`);
  await signIn.getByRole("heading", { name: "Sign in" }).waitFor();
  await shoot(signIn, "sign-in.png");
  await context.close();

  const { page } = await signedInPage(NOMSA.email, NOMSA.password);
  await page.getByRole("link", { name: PROJECTS[2] }).waitFor();
  await shoot(page, "projects.png");

  await page.goto(`${url}/#/projects/${project.id}`);
  await page.getByRole("link", { name: "Antenatal check-in" }).waitFor();
  await page.getByRole("list", { name: "People with access" }).getByText("Thabo Mokoena").waitFor();
  await page.getByRole("list", { name: "Open invites" }).waitFor();
  await shoot(page, "project.png");

  // The editor, with Thabo working on the welcome's choice.
  const { page: other } = await signedInPage(THABO.email, THABO.password);
  const editor = `${url}/#/projects/${project.id}/dialogues/${dialogue.id}`;
  await Promise.all([page.goto(editor), other.goto(editor)]);
  await page.getByRole("status").filter({ hasText: "Live" }).waitFor();
  await other.getByRole("status").filter({ hasText: "Live" }).waitFor();
  await other.locator('li[data-key="welcome/join"]').getByLabel("Question").click();
  await page.locator('li[data-key="welcome/join"] .peer-marker', { hasText: "Thabo Mokoena" }).waitFor();
  await page.locator(".here-now").getByText("Thabo Mokoena").waitFor();
  await shoot(page, "editor.png");

  await page.getByRole("link", { name: "History" }).click();
  const entries = page.getByRole("list", { name: "Revisions" }).getByRole("listitem");
  await entries.nth(6).waitFor();
  await entries.first().getByText("Thabo Mokoena").waitFor();
  await page.getByRole("button", { name: "Preview revision 3" }).click();
  await page.getByRole("region", { name: "Revision 3, as it was" }).getByText("Title: Antenatal sign-up").waitFor();
  await page.evaluate(() => window.scrollTo(0, 0)); // the preview took the focus, and scrolled
  await shoot(page, "history.png");

  await page.getByRole("link", { name: "Releases" }).click();
  await page.getByRole("list", { name: "Releases" }).getByText("published by Nomsa Dlamini (you)").waitFor();
  await shoot(page, "releases.png");

  await page.getByRole("link", { name: "Flow" }).click();
  await page.getByRole("img", { name: /Flow diagram: 4 sequences/ }).waitFor();
  await shoot(page, "flow.png");
});
