// Shapes shared by the client's modules (JSDoc only: this file exports no values).

/**
 * One RFC 6902 operation.
 * @typedef {{ op: "add" | "replace" | "test", path: string, value: unknown }
 *   | { op: "remove", path: string }
 *   | { op: "move" | "copy", from: string, path: string }} Operation
 */

/**
 * An RFC 6902 JSON Patch.
 * @typedef {Operation[]} Patch
 */

export {};
