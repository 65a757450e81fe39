/**
 * The tokens of a JSON Pointer, unescaped (`~1` is `/`, `~0` is `~`).
 * @param {string} pointer
 * @returns {string[]}
 */
export function tokensOf(pointer: string): string[];
/**
 * The JSON Pointer of `tokens`, escaped.
 * @param {readonly string[]} tokens
 * @returns {string}
 */
export function pointerOf(tokens: readonly string[]): string;
/**
 * The array index a token stands for, or `undefined` when it is not one (`-`, a key, or a
 * number with a leading zero).
 * @param {string} token
 * @returns {number | undefined}
 */
export function indexOf(token: string): number | undefined;
