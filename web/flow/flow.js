// The Flow tab: a read-only diagram of the dialogue's sequences (boxes with their title and
// block count) and the references between them (arrows), laid out in layers from the first
// sequence; a reference to a sequence that does not exist is a dashed red arrow to a "missing"
// box. The same connections are listed as text below it. Redrawn whenever the dialogue changes.

import { explain, h, replace } from "../ui.js";
import { layered } from "./layout.js";
import { blockTypesOf, brokenTargets, references } from "./references.js";

const SVG = "http://www.w3.org/2000/svg";
const NODE = { width: 190, height: 54 };
const GAP = { column: 90, row: 28 };
/** Margin around the diagram. */
const PAD = 16;
/** Where arrows meet a box, as a fraction of its height: forward ones above backward ones. */
const PORT = { forward: 0.4, backward: 0.68 };
const MISSING = "\u0000missing:";

let mounted = 0;

/**
 * Shows the flow diagram of `ctx.doc` in `root`.
 * @param {HTMLElement} root
 * @param {{ api: any, doc: any }} ctx
 * @returns {() => void} unmount
 */
export function mount(root, ctx) {
  const prefix = `flow-${++mounted}`;
  // Scrolls when the diagram is wider than the screen: focusable so the keyboard can scroll it.
  const figure = h("div", { class: "flow-canvas", tabindex: "0", role: "region", "aria-label": "Flow diagram (scrollable)" });
  const connections = h("div", { class: "flow-connections" });
  const status = h("p", { class: "status", role: "status", text: "Drawing the flow…" });
  replace(root, h("section", { class: "flow", "aria-labelledby": `${prefix}-heading` }, h("h2", { id: `${prefix}-heading`, text: "Flow" }), status, figure, connections));

  /** @type {import("./references.js").BlockType[] | undefined} */
  let blockTypes;
  let frame = 0;
  const draw = () => {
    frame = 0;
    if (!blockTypes || !ctx.doc.content) return;
    const { svg, list } = diagram(ctx.doc.content, blockTypes, prefix);
    status.textContent = "";
    replace(figure, svg);
    replace(connections, list);
  };
  const onChange = () => {
    frame ||= requestAnimationFrame(draw);
  };
  ctx.doc.addEventListener("change", onChange);
  blockTypesOf(ctx.api).then(
    (types) => {
      blockTypes = types;
      draw();
    },
    (error) => {
      status.setAttribute("role", "alert");
      status.textContent = explain(error);
    },
  );
  return () => {
    ctx.doc.removeEventListener("change", onChange);
    cancelAnimationFrame(frame);
  };
}

/**
 * The diagram of `dialogue` and the text list of its connections.
 * @param {any} dialogue
 * @param {import("./references.js").BlockType[]} blockTypes
 * @param {string} prefix unique ids in the page
 */
export function diagram(dialogue, blockTypes, prefix) {
  const sequences = (dialogue.sequences ?? []).filter((/** @type {any} */ s) => s && typeof s.id === "string");
  const found = references(dialogue, blockTypes);
  const broken = new Set(brokenTargets(dialogue, found));
  const nodeOf = (/** @type {string} */ to) => (broken.has(to) ? MISSING + to : to);
  const nodes = [...sequences.map((/** @type {any} */ s) => s.id), ...[...broken].map((to) => MISSING + to)];
  /** @type {Map<string, { from: string, to: string, broken: boolean, vias: string[] }>} one arrow per pair */
  const arrows = new Map();
  for (const reference of found) {
    const to = nodeOf(reference.to);
    const key = `${reference.from}\u0001${to}`;
    const arrow = arrows.get(key) ?? { from: reference.from, to, broken: broken.has(reference.to), vias: [] };
    arrow.vias.push(describeVia(reference.via));
    arrows.set(key, arrow);
  }
  const arrowList = [...arrows.values()];
  const { layers, layerOf, rowOf, routes, backward } = layered(nodes, arrowList);
  const tallest = Math.max(1, ...layers.map((l) => l.length));
  const width = PAD * 2 + layers.length * NODE.width + Math.max(0, layers.length - 1) * GAP.column + 40;
  const height = PAD * 2 + tallest * (NODE.height + GAP.row) - GAP.row;
  /** Top-left corner of a node or waypoint: layers are columns, centred vertically. */
  const at = (/** @type {string} */ node) => {
    const layer = layerOf.get(node) ?? 0;
    const offset = ((tallest - layers[layer].length) * (NODE.height + GAP.row)) / 2;
    return { x: PAD + layer * (NODE.width + GAP.column), y: PAD + offset + (rowOf.get(node) ?? 0) * (NODE.height + GAP.row) };
  };

  const svg = svgElement("svg", {
    class: "flow-diagram",
    role: "img",
    viewBox: `0 0 ${width} ${height}`,
    width: String(width),
    height: String(height),
    "aria-label": summaryOf(sequences.length, arrows.size, broken.size),
  });
  svg.append(
    svgElement("defs", {}, marker(`${prefix}-arrow`, "arrow-head"), marker(`${prefix}-arrow-broken`, "arrow-head broken")),
    ...arrowList.map((arrow, index) => {
      const path = svgElement("path", {
        class: arrow.broken ? "flow-edge broken" : "flow-edge",
        d: arrow.from === arrow.to ? loop(at(arrow.from)) : route(routes[index].map(at), backward[index]),
        "marker-end": `url(#${prefix}-arrow${arrow.broken ? "-broken" : ""})`,
      });
      path.append(svgElement("title", {}, arrow.vias.join("; ")));
      return path;
    }),
    ...sequences.map((/** @type {any} */ s, /** @type {number} */ index) => node(at(s.id), title(s), `${count(s.blocks?.length ?? 0, "block")}${index === 0 ? " · starts here" : ""}`, index === 0 ? "flow-node entry" : "flow-node")),
    ...[...broken].map((to) => node(at(MISSING + to), `Missing: ${to}`, "no such sequence", "flow-node missing")),
  );

  const titles = new Map(sequences.map((/** @type {any} */ s) => [s.id, title(s)]));
  const list = h(
    "div",
    {},
    h("h3", { text: "Connections" }),
    broken.size > 0 && h("p", { class: "legend", text: "Dashed red arrows are references to sequences that do not exist." }),
    found.length === 0
      ? h("p", { text: "No block leads to another sequence." })
      : h(
          "ul",
          { class: "flow-edges" },
          found.map((r) =>
            h(
              "li",
              { class: broken.has(r.to) ? "broken" : undefined },
              `${titles.get(r.from) ?? r.from} → ${broken.has(r.to) ? `missing sequence “${r.to}”` : titles.get(r.to) ?? r.to}`,
              h("span", { class: "via", text: ` (${describeVia(r.via)})` }),
              broken.has(r.to) && h("strong", { class: "broken-tag", text: " broken reference" }),
            ),
          ),
        ),
  );
  return { svg, list };
}

/**
 * The SVG path of an arrow through the corners of the boxes and waypoints on its way: it leaves
 * its box on the side facing the way (the right, or the left for an arrow back to an earlier
 * column), crosses each waypoint's column level, and curves across the gaps.
 * @param {{ x: number, y: number }[]} corners
 * @param {boolean} back
 */
function route(corners, back) {
  const last = corners.length - 1;
  const level = (/** @type {number} */ i) => corners[i].y + NODE.height * (i === 0 || i === last ? (back ? PORT.backward : PORT.forward) : 0.5);
  const [exit, entry] = back ? [0, NODE.width] : [NODE.width, 0];
  let d = `M ${corners[0].x + exit} ${level(0)}`;
  for (let i = 1; i <= last; i++) {
    const [x1, y1, x2, y2] = [corners[i - 1].x + exit, level(i - 1), corners[i].x + entry, level(i)];
    const bend = (x2 - x1) / 2;
    d += ` C ${x1 + bend} ${y1}, ${x2 - bend} ${y2}, ${x2} ${y2}`;
    if (i < last) d += ` L ${corners[i].x + exit} ${y2}`;
  }
  return d;
}

/**
 * The arrow from a box to itself: a loop on its right.
 * @param {{ x: number, y: number }} a
 */
function loop(a) {
  const { width: w, height: hgt } = NODE;
  return `M ${a.x + w} ${a.y + 14} C ${a.x + w + 48} ${a.y - 6}, ${a.x + w + 48} ${a.y + hgt + 6}, ${a.x + w} ${a.y + hgt - 14}`;
}

/**
 * A box with two lines of text.
 * @param {{ x: number, y: number }} where
 * @param {string} heading
 * @param {string} detail
 * @param {string} className
 */
function node(where, heading, detail, className) {
  return svgElement(
    "g",
    { class: className, transform: `translate(${where.x} ${where.y})` },
    svgElement("title", {}, `${heading} (${detail})`),
    svgElement("rect", { width: String(NODE.width), height: String(NODE.height), rx: "6" }),
    svgElement("text", { x: "12", y: "22", class: "node-title" }, clip(heading, 24)),
    svgElement("text", { x: "12", y: "41", class: "node-detail" }, clip(detail, 30)),
  );
}

/**
 * @param {string} id
 * @param {string} className
 */
function marker(id, className) {
  return svgElement(
    "marker",
    { id, viewBox: "0 0 10 10", refX: "9", refY: "5", markerWidth: "7", markerHeight: "7", orient: "auto-start-reverse" },
    svgElement("path", { d: "M 0 0 L 10 5 L 0 10 z", class: className }),
  );
}

/**
 * An SVG element with attributes and children.
 * @param {string} tag
 * @param {Record<string, string>} attributes
 * @param {...(Node | string)} children
 */
function svgElement(tag, attributes, ...children) {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, value);
  element.append(...children);
  return element;
}

/** @param {import("./references.js").Via} via */
function describeVia(via) {
  const label = via.label ? ` “${via.label}”` : "";
  const field = via.path.split("/").filter((t) => t !== "" && !/^\d+$/.test(t)).pop() ?? via.path;
  return `${via.blockType}${label}, ${field} of block “${via.block}”`;
}

/** @param {any} sequence */
function title(sequence) {
  return typeof sequence.title === "string" && sequence.title !== "" ? sequence.title : sequence.id;
}

/**
 * @param {number} sequences
 * @param {number} arrows
 * @param {number} broken
 */
function summaryOf(sequences, arrows, broken) {
  const parts = `Flow diagram: ${count(sequences, "sequence")} and ${count(arrows, "connection")} between them`;
  return broken > 0 ? `${parts}; ${count(broken, "reference")} to missing sequences. The connections are listed below.` : `${parts}. The connections are listed below.`;
}

/**
 * @param {number} n
 * @param {string} noun
 */
function count(n, noun) {
  return `${n} ${noun}${n === 1 ? "" : "s"}`;
}

/**
 * @param {string} text
 * @param {number} length
 */
function clip(text, length) {
  return text.length > length ? `${text.slice(0, length - 1)}…` : text;
}
