// Where a dialogue's blocks name other sequences. Each block type's JSON Schema lists its
// sequence references in the `x-sequence-references` keyword (JSON Pointers into the block's
// `properties`, `*` matching any array item or object member), as the server reads them, so a
// new block type needs no change here. Also the block types themselves, fetched once per client.

import { referencePatterns, referencedValues } from "../pointer.js";

/**
 * @typedef {{ type: string, title?: string, schema?: any }} BlockType
 * @typedef {{ sequence: string, block: string, blockType: string, path: string, label?: string }} Via
 * @typedef {{ from: string, to: string, via: Via }} Reference
 */

/** @type {WeakMap<object, Promise<BlockType[]>>} */
const fetched = new WeakMap();

/**
 * The server's block types (`GET /block-types/`), fetched once per API client.
 * @param {{ blockTypes(): Promise<BlockType[]> }} api
 * @returns {Promise<BlockType[]>}
 */
export function blockTypesOf(api) {
  let types = fetched.get(api);
  if (!types) {
    types = api.blockTypes();
    types.catch(() => fetched.delete(api));
    fetched.set(api, types);
  }
  return types;
}

/**
 * Every reference from a block to a sequence, in document order: `from` the sequence holding
 * the block, `to` the sequence named (which may not exist: a broken reference), `via` where.
 * @param {{ sequences?: any[] } | undefined} dialogue
 * @param {BlockType[]} blockTypes
 * @returns {Reference[]}
 */
export function references(dialogue, blockTypes) {
  /** @type {Map<string, string[][]>} */
  const patterns = new Map(
    blockTypes.map((t) => [t.type, referencePatterns(t.schema)]),
  );
  /** @type {Reference[]} */
  const found = [];
  for (const sequence of dialogue?.sequences ?? []) {
    for (const block of sequence?.blocks ?? []) {
      for (const tokens of patterns.get(block?.type) ?? []) {
        for (const { value, path, owner } of referencedValues(block.properties, tokens)) {
          if (typeof value !== "string") continue;
          const label = typeof owner?.label === "string" ? owner.label : undefined;
          found.push({ from: sequence.id, to: value, via: { sequence: sequence.id, block: block.id, blockType: block.type, path, label } });
        }
      }
    }
  }
  return found;
}

/**
 * The sequence ids that references name but no sequence has.
 * @param {{ sequences?: any[] } | undefined} dialogue
 * @param {Reference[]} found
 */
export function brokenTargets(dialogue, found) {
  const ids = new Set((dialogue?.sequences ?? []).map((s) => s.id));
  return [...new Set(found.map((r) => r.to).filter((to) => !ids.has(to)))];
}
