/**
 * One RFC 6902 operation.
 */
export type Operation = {
    op: "add" | "replace" | "test";
    path: string;
    value: unknown;
} | {
    op: "remove";
    path: string;
} | {
    op: "move" | "copy";
    from: string;
    path: string;
};
/**
 * An RFC 6902 JSON Patch.
 */
export type Patch = Operation[];
