/** Keeps values in memory (the default: nothing survives a reload). */
export class MemoryStorage {
    /** @type {Map<string, unknown>} */
    values: Map<string, unknown>;
    /** @param {string} key */
    load(key: string): Promise<unknown>;
    /**
     * @param {string} key
     * @param {unknown} value
     */
    save(key: string, value: unknown): Promise<void>;
}
/** Keeps values in a browser's IndexedDB, one object store, values by key. */
export class IndexedDBStorage {
    /** @param {string} [name] the database's name */
    constructor(name?: string);
    name: string;
    /** @type {Promise<IDBDatabase> | undefined} */
    opened: Promise<IDBDatabase> | undefined;
    /** @returns {Promise<IDBDatabase>} */
    database(): Promise<IDBDatabase>;
    /**
     * @param {"readonly" | "readwrite"} mode
     * @param {(store: IDBObjectStore) => IDBRequest} act
     * @returns {Promise<unknown>}
     */
    run(mode: "readonly" | "readwrite", act: (store: IDBObjectStore) => IDBRequest): Promise<unknown>;
    /** @param {string} key */
    load(key: string): Promise<unknown>;
    /**
     * @param {string} key
     * @param {unknown} value
     */
    save(key: string, value: unknown): Promise<void>;
}
/** Keeps values as JSON files in a directory (Node). */
export class FileStorage {
    /** @param {string} directory */
    constructor(directory: string);
    directory: string;
    /** @type {Promise<void>} */
    writing: Promise<void>;
    /** @param {string} key */
    file(key: string): string;
    /** @param {string} key */
    load(key: string): Promise<any>;
    /**
     * Writes one at a time, each whole (written aside, then renamed), so a crash leaves the
     * previous value.
     * @param {string} key
     * @param {unknown} value
     */
    save(key: string, value: unknown): Promise<void>;
}
