// Refused changes, kept where they belong: each change the editor submits is remembered with the
// block or sequence it was about and the dialogue's shape (ids by index) right after it; when the
// server refuses it, the errors' JSON Pointers are turned into that block's fields, and any
// other refusal (conflict, rate limit…) into a sentence shown next to the block.

/** @typedef {{ sequenceId?: string, blockId?: string }} Target */
/** @typedef {{ type: string, message: string, details?: any }} Refusal */

export class Refusals {
  constructor() {
    /** @type {Map<string, { target: Target, shape: { id: string, blocks: string[] }[] }>} */
    this.submitted = new Map();
    /** Field errors: block key → (pointer inside `properties` → messages). */
    /** @type {Map<string, Map<string, string[]>>} */
    this.fields = new Map();
    /** Sentences by block key, sequence id, or "" for the dialogue. */
    /** @type {Map<string, string>} */
    this.notices = new Map();
  }

  /**
   * Remembers a change just submitted.
   * @param {string} ref
   * @param {any} content the dialogue with the change applied
   * @param {Target} target
   */
  remember(ref, content, target) {
    const shape = (content?.sequences ?? []).map((/** @type {any} */ s) => ({ id: s.id, blocks: (s.blocks ?? []).map((/** @type {any} */ b) => b.id) }));
    this.submitted.set(ref, { target, shape });
    if (this.submitted.size > 500) this.submitted.delete(/** @type {string} */ (this.submitted.keys().next().value));
    this.clear(target);
  }

  /** A change was stored: nothing to explain any more. @param {string} ref */
  stored(ref) {
    this.submitted.delete(ref);
  }

  /**
   * The errors a new edit of `target` replaces.
   * @param {Target} target
   */
  clear(target) {
    const key = keyOf(target);
    this.fields.delete(key);
    this.notices.delete(key);
  }

  /**
   * Records why change `ref` was refused.
   * @param {string | undefined} ref
   * @param {Refusal} error
   */
  refused(ref, error) {
    const change = ref ? this.submitted.get(ref) : undefined;
    if (ref) this.submitted.delete(ref);
    const target = change?.target ?? {};
    const errors = error.type === "validation_error" && Array.isArray(error.details?.errors) ? error.details.errors : [];
    let placed = false;
    for (const item of errors) {
      const where = change ? locate(String(item.path ?? ""), change.shape) : undefined;
      if (!where) continue;
      const fields = this.fields.get(where.key) ?? new Map();
      fields.set(where.pointer, [...(fields.get(where.pointer) ?? []), String(item.message)]);
      this.fields.set(where.key, fields);
      if (where.key !== keyOf(target)) this.notices.set(where.key, sentence(error));
      placed = true;
    }
    const unplaced = errors.length && !placed ? ` ${errors.map((/** @type {any} */ e) => `${e.path}: ${e.message}`).join("; ")}` : "";
    this.notices.set(keyOf(target), sentence(error) + unplaced);
  }
}

/**
 * The key of a block (`sequence/block`), a sequence, or "" for the dialogue.
 * @param {Target} target
 */
export function keyOf(target) {
  if (target.sequenceId && target.blockId) return `${target.sequenceId}/${target.blockId}`;
  return target.sequenceId ?? "";
}

/**
 * The block and field (pointer inside `properties`, or ":block" for the block itself) an error
 * pointer names, by the shape the dialogue had after the change.
 * @param {string} pointer
 * @param {{ id: string, blocks: string[] }[]} shape
 */
function locate(pointer, shape) {
  const match = /^\/sequences\/(\d+)(?:\/blocks\/(\d+)(\/properties)?(.*))?$/.exec(pointer);
  if (!match) return undefined;
  const sequence = shape[Number(match[1])];
  if (!sequence) return undefined;
  if (match[2] === undefined) return { key: sequence.id, pointer: ":sequence" };
  const block = sequence.blocks[Number(match[2])];
  if (block === undefined) return undefined;
  return { key: `${sequence.id}/${block}`, pointer: match[3] ? match[4] : ":block" };
}

/**
 * What a refusal means for the person who made the change.
 * @param {Refusal} error
 */
export function sentence(error) {
  switch (error.type) {
    case "validation_error":
      return "Not saved: the server refused this change (see the marked field).";
    case "conflict":
      return `Not saved: another editor changed the same thing at the same time. ${error.message}.`;
    case "patch_conflict":
      return "Not saved: the change no longer fitted the dialogue as others had changed it.";
    case "forbidden":
      return "Not saved: you are not allowed to edit this dialogue.";
    case "rate_limited":
      return "Not saved: too many changes at once. Wait a moment and try again.";
    default:
      return `Not saved: ${error.message}`;
  }
}
