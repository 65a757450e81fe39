// When something happened, for people: a <time> element with the relative time ("3 minutes
// ago") and the absolute date and time, both kept current while the view is open.

import { h } from "../ui.js";

const relative = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
const absolute = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

/** Units from the largest down, in seconds. */
const UNITS = /** @type {const} */ ([
  ["year", 31_536_000],
  ["month", 2_592_000],
  ["week", 604_800],
  ["day", 86_400],
  ["hour", 3_600],
  ["minute", 60],
]);

/**
 * "3 minutes ago", "yesterday", "just now".
 * @param {number} ms milliseconds since the Unix epoch
 */
function ago(ms) {
  const seconds = (ms - Date.now()) / 1000;
  for (const [unit, size] of UNITS) {
    if (Math.abs(seconds) >= size) return relative.format(Math.round(seconds / size), unit);
  }
  return "just now";
}

/**
 * A <time> showing when `ms` was, relatively and absolutely.
 * @param {number} ms milliseconds since the Unix epoch
 * @returns {HTMLTimeElement}
 */
export function timeOf(ms) {
  const date = new Date(ms);
  const element = h("time", { datetime: date.toISOString(), class: "when", "data-ms": String(ms) });
  fill(element);
  return element;
}

/** @param {HTMLTimeElement} element */
function fill(element) {
  const ms = Number(element.dataset.ms);
  element.textContent = `${ago(ms)} · ${absolute.format(new Date(ms))}`;
}

/**
 * Keeps the relative times under `root` current (every 30 s); returns what stops it.
 * @param {Element} root
 * @returns {() => void}
 */
export function keepTimesCurrent(root) {
  const timer = setInterval(() => root.querySelectorAll("time.when").forEach((t) => fill(/** @type {HTMLTimeElement} */ (t))), 30_000);
  return () => clearInterval(timer);
}
