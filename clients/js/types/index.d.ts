export { Replica } from "./replica.js";
export { LiveDialogue, DialogueEvent, FINAL_CLOSES, contentOf } from "./live.js";
export { DialogueApi, ApiError } from "./rest.js";
export { MemoryStorage, IndexedDBStorage, FileStorage } from "./storage.js";
export { RebaseConflict, rebasePatch } from "./rebase.js";
export { PatchError, applyPatch } from "./patch.js";
export { indexOf, pointerOf, tokensOf } from "./pointer.js";
