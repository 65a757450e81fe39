// Where a dialogue's blocks name other sequences. Each block type's JSON Schema lists its
// sequence references in the `x-sequence-references` keyword (JSON Pointers into the block's
// `properties`, `*` matching any array item or object member), as the server reads them, so a
// new block type needs no change here. Also the block types themselves, fetched once per client.

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
    blockTypes.map((t) => [t.type, (t.schema?.["x-sequence-references"] ?? []).map(tokensOf)]),
  );
  /** @type {Reference[]} */
  const found = [];
  for (const sequence of dialogue?.sequences ?? []) {
    for (const block of sequence?.blocks ?? []) {
      for (const tokens of patterns.get(block?.type) ?? []) {
        for (const { value, path, owner } of matches(block.properties, tokens, "")) {
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

/**
 * The tokens of a JSON Pointer (`/choices/*\/next` → `["choices", "*", "next"]`).
 * @param {string} pointer
 */
function tokensOf(pointer) {
  return pointer === "" ? [] : pointer.slice(1).split("/").map((t) => t.replaceAll("~1", "/").replaceAll("~0", "~"));
}

/**
 * The values `tokens` reach under `value`, with their pointers and the object holding each.
 * @param {unknown} value
 * @param {string[]} tokens
 * @param {string} path
 * @param {any} [owner]
 * @returns {Generator<{ value: unknown, path: string, owner: any }>}
 */
function* matches(value, tokens, path, owner) {
  if (tokens.length === 0) {
    yield { value, path, owner };
    return;
  }
  if (value === null || typeof value !== "object") return;
  const [first, ...rest] = tokens;
  const keys = first === "*" ? Object.keys(value) : Object.hasOwn(value, first) ? [first] : [];
  for (const key of keys) yield* matches(/** @type {any} */ (value)[key], rest, `${path}/${key}`, value);
}
