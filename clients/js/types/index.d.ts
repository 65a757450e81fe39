export { RebaseConflict, rebasePatch } from "./rebase.js";
export { indexOf, pointerOf, tokensOf } from "./pointer.js";
