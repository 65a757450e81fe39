// JSON Pointers (RFC 6901) as arrays of unescaped tokens.

/**
 * The tokens of a JSON Pointer, unescaped (`~1` is `/`, `~0` is `~`).
 * @param {string} pointer
 * @returns {string[]}
 */
export function tokensOf(pointer) {
  if (pointer === "") return [];
  return pointer
    .split("/")
    .slice(1)
    .map((token) => (token.includes("~") ? token.replaceAll("~1", "/").replaceAll("~0", "~") : token));
}

/**
 * The JSON Pointer of `tokens`, escaped.
 * @param {readonly string[]} tokens
 * @returns {string}
 */
export function pointerOf(tokens) {
  return tokens.map((token) => "/" + token.replaceAll("~", "~0").replaceAll("/", "~1")).join("");
}

/**
 * The array index a token stands for, or `undefined` when it is not one (`-`, a key, or a
 * number with a leading zero).
 * @param {string} token
 * @returns {number | undefined}
 */
export function indexOf(token) {
  if (token === "" || (token.length > 1 && token.startsWith("0")) || !/^[0-9]+$/.test(token)) return undefined;
  const index = Number(token);
  return Number.isSafeInteger(index) ? index : undefined;
}
