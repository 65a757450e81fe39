// A readable summary of what a revision changed, for the timeline: one sentence per change of
// its patch ("Added block “ask-age” (Free text) to Start", "Changed text of block “hi”"), named
// after the dialogue as it was before the revision (for what was removed or moved) and after it
// (for what was added).

import { UNKNOWN } from "./replay.js";

/**
 * @typedef {{ op: string, path: string, from?: string, value?: unknown }} Operation
 * @typedef {{ number: number, type: string, properties?: { patch?: Operation[], revision_id?: string } }} Revision
 * @typedef {{ before: any, after: any }} States
 */

/** How many sentences a summary shows before "and N more changes". */
const SHOWN = 3;

/**
 * The sentences describing `revision`.
 * @param {Revision} revision
 * @param {States | undefined} states the dialogue before and after it, as far as known
 * @param {{ blockTitle(type: string): string, revisionNumber(id: string): number | undefined }} names
 * @returns {string}
 */
export function summarize(revision, states, names) {
  if (revision.type === "revert") {
    const number = names.revisionNumber(String(revision.properties?.revision_id));
    return number === undefined ? "Reverted to an earlier revision" : `Reverted to revision ${number}`;
  }
  const patch = Array.isArray(revision.properties?.patch) ? revision.properties.patch : [];
  const sentences = [...new Set(patch.map((operation) => describe(operation, states ?? { before: undefined, after: undefined }, names)))];
  if (sentences.length === 0) return "No change";
  const more = sentences.length - SHOWN;
  const shown = more > 1 ? sentences.slice(0, SHOWN) : sentences;
  return shown.join("; ") + (more > 1 ? `; and ${more} more changes` : "");
}

/**
 * One operation as a sentence.
 * @param {Operation} operation
 * @param {States} states
 * @param {{ blockTitle(type: string): string }} names
 */
function describe(operation, { before, after }, names) {
  const tokens = operation.path.split("/").slice(1);
  const [top, sequenceIndex, blocksKey, blockIndex, field, ...rest] = tokens;
  const verb = { add: "Added", remove: "Removed", replace: "Changed", move: "Moved", copy: "Copied" }[operation.op] ?? "Changed";
  // For a removal the thing is only in the state before; otherwise the state after names it.
  const where = operation.op === "remove" ? before : after;
  if (top === undefined) return "Replaced the whole dialogue";
  if (top === "title") return `Renamed the dialogue to “${text(operation.value)}”`;
  if (top === "is_archived") return operation.value ? "Archived the dialogue" : "Restored the dialogue from the archive";
  if (top !== "sequences") return `${verb} ${top}`;
  if (sequenceIndex === undefined) return "Replaced all sequences";
  const sequence = sequenceName(where, sequenceIndex);
  if (blocksKey === undefined) {
    if (operation.op === "move") return `Moved sequence ${sequenceName(after, sequenceIndex)}`;
    return `${verb} sequence ${sequence}`;
  }
  if (blocksKey === "title") return `Renamed sequence ${sequenceName(before, sequenceIndex)} to “${text(operation.value)}”`;
  if (blocksKey !== "blocks") return `${verb} ${blocksKey} of sequence ${sequence}`;
  if (blockIndex === undefined) return `${verb} the blocks of sequence ${sequence}`;
  const block = blockAt(where, sequenceIndex, blockIndex);
  const blockName = nameOf(block?.id, "a block");
  if (field === undefined) {
    if (operation.op === "add" || operation.op === "copy") {
      const type = block?.type && block !== UNKNOWN ? ` (${names.blockTitle(block.type)})` : "";
      return `Added block ${blockName}${type} to ${sequence}`;
    }
    if (operation.op === "remove") return `Removed block ${blockName} from ${sequence}`;
    if (operation.op === "move") return moveSentence(operation, before, after);
    return `Replaced block ${blockName} in ${sequence}`;
  }
  if (field === "properties") {
    const property = rest[0];
    return property === undefined ? `Changed the settings of block ${blockName}` : `Changed ${property.replaceAll("_", " ")} of block ${blockName}`;
  }
  if (field === "id") return `Renamed block ${nameOf(blockAt(before, sequenceIndex, blockIndex)?.id, "a block")} to ${blockName}`;
  if (field === "type") return `Changed the type of block ${blockName}`;
  return `${verb} ${field} of block ${blockName}`;
}

/**
 * "Moved block “x” within Start" or "… from Start to End".
 * @param {Operation} operation
 * @param {any} before
 * @param {any} after
 */
function moveSentence(operation, before, after) {
  const [, toSequence, , toBlock] = operation.path.split("/").slice(1);
  const [, fromSequence] = String(operation.from).split("/").slice(1);
  const block = nameOf(blockAt(after, toSequence, toBlock)?.id, "a block");
  const source = sequenceName(before, fromSequence);
  const target = sequenceName(after, toSequence);
  return source === target ? `Moved block ${block} within ${target}` : `Moved block ${block} from ${source} to ${target}`;
}

/**
 * The quoted title (or id) of the sequence at `index` in `state`.
 * @param {any} state
 * @param {string | undefined} index
 */
function sequenceName(state, index) {
  const sequences = state?.sequences;
  const sequence = Array.isArray(sequences) ? sequences[index === "-" ? sequences.length - 1 : Number(index)] : undefined;
  if (!sequence || sequence === UNKNOWN) return "a sequence";
  return nameOf(sequence.title !== UNKNOWN && sequence.title ? sequence.title : sequence.id, "a sequence");
}

/**
 * @param {any} state
 * @param {string | undefined} sequenceIndex
 * @param {string | undefined} blockIndex
 */
function blockAt(state, sequenceIndex, blockIndex) {
  const blocks = state?.sequences?.[Number(sequenceIndex)]?.blocks;
  if (!Array.isArray(blocks)) return undefined;
  return blocks[blockIndex === "-" ? blocks.length - 1 : Number(blockIndex)];
}

/**
 * “name”, or `otherwise` when the name is not known.
 * @param {unknown} name
 * @param {string} otherwise
 */
function nameOf(name, otherwise) {
  return typeof name === "string" && name !== "" ? `“${name}”` : otherwise;
}

/**
 * A short text for a value in a sentence.
 * @param {unknown} value
 */
function text(value) {
  const shown = typeof value === "string" ? value : JSON.stringify(value);
  return shown.length > 60 ? `${shown.slice(0, 59)}…` : shown;
}
