// dialogue-server's JavaScript client. So far: the local rebase, identical to the server's.
export { RebaseConflict, rebasePatch } from "./rebase.js";
export { indexOf, pointerOf, tokensOf } from "./pointer.js";
