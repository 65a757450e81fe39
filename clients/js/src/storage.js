// Where a live dialogue keeps its pending changes between page loads: any object with
// `load(key)` and `save(key, value)`. Three come with the client.

/** Keeps values in memory (the default: nothing survives a reload). */
export class MemoryStorage {
  constructor() {
    /** @type {Map<string, unknown>} */
    this.values = new Map();
  }

  /** @param {string} key */
  async load(key) {
    return structuredClone(this.values.get(key));
  }

  /**
   * @param {string} key
   * @param {unknown} value
   */
  async save(key, value) {
    this.values.set(key, structuredClone(value));
  }
}

/** Keeps values in a browser's IndexedDB, one object store, values by key. */
export class IndexedDBStorage {
  /** @param {string} [name] the database's name */
  constructor(name = "dialogue-server") {
    this.name = name;
    /** @type {Promise<IDBDatabase> | undefined} */
    this.opened = undefined;
  }

  /** @returns {Promise<IDBDatabase>} */
  database() {
    this.opened ??= new Promise((resolve, reject) => {
      const request = indexedDB.open(this.name, 1);
      request.onupgradeneeded = () => request.result.createObjectStore("pending");
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
    return this.opened;
  }

  /**
   * @param {"readonly" | "readwrite"} mode
   * @param {(store: IDBObjectStore) => IDBRequest} act
   * @returns {Promise<unknown>}
   */
  async run(mode, act) {
    const database = await this.database();
    return new Promise((resolve, reject) => {
      const request = act(database.transaction("pending", mode).objectStore("pending"));
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
  }

  /** @param {string} key */
  load(key) {
    return this.run("readonly", (store) => store.get(key));
  }

  /**
   * @param {string} key
   * @param {unknown} value
   */
  async save(key, value) {
    await this.run("readwrite", (store) => store.put(value, key));
  }
}

/** Keeps values as JSON files in a directory (Node). */
export class FileStorage {
  /** @param {string} directory */
  constructor(directory) {
    this.directory = directory;
    /** @type {Promise<void>} */
    this.writing = Promise.resolve();
  }

  /** @param {string} key */
  file(key) {
    return `${this.directory}/${encodeURIComponent(key)}.json`;
  }

  /** @param {string} key */
  async load(key) {
    await this.writing.catch(() => {});
    const { readFile } = await import("node:fs/promises");
    try {
      return JSON.parse(await readFile(this.file(key), "utf8"));
    } catch {
      return undefined;
    }
  }

  /**
   * Writes one at a time, each whole (written aside, then renamed), so a crash leaves the
   * previous value.
   * @param {string} key
   * @param {unknown} value
   */
  save(key, value) {
    const text = JSON.stringify(value);
    // A failed write does not stop the next ones.
    this.writing = this.writing.catch(() => {}).then(async () => {
      const { mkdir, rename, writeFile } = await import("node:fs/promises");
      await mkdir(this.directory, { recursive: true });
      const aside = `${this.file(key)}.partial`;
      await writeFile(aside, text);
      await rename(aside, this.file(key));
    });
    return this.writing;
  }
}
