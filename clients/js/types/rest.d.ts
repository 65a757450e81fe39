/** An error answer of the server: `{ type, message, details }` and the HTTP status. */
export class ApiError extends Error {
    /**
     * @param {number} status
     * @param {{ type?: string, message?: string, details?: unknown }} body
     */
    constructor(status: number, body: {
        type?: string;
        message?: string;
        details?: unknown;
    });
    /** The HTTP status. */
    status: number;
    /**
     * The server's error type: `unauthorized`, `forbidden`, `not_found`, `conflict`,
     * `patch_conflict`, `validation_error`, `rate_limited`, `payload_too_large`, `unavailable`…
     */
    type: string;
    details: {};
}
/**
 * A client of the REST API. In a browser without a token it uses the session cookie, and sends
 * the session's CSRF token with every unsafe request.
 */
export class DialogueApi {
    /**
     * @param {{ url: string, token?: string, fetch?: typeof fetch }} options
     */
    constructor(options: {
        url: string;
        token?: string;
        fetch?: typeof fetch;
    });
    url: string;
    /** @type {string | undefined} */
    token: string | undefined;
    /** @type {string | undefined} */
    csrf: string | undefined;
    fetch: typeof fetch;
    /**
     * Sends a request; the answer's JSON (`undefined` for 204).
     * @param {string} method
     * @param {string} path
     * @param {unknown} [body]
     * @param {string} [contentType]
     * @returns {Promise<any>}
     */
    request(method: string, path: string, body?: unknown, contentType?: string): Promise<any>;
    /**
     * Signs in for a bearer token (kept by this client).
     * @param {string} email
     * @param {string} password
     */
    signIn(email: string, password: string): Promise<any>;
    /**
     * Signs in a browser with the session cookie; keeps the CSRF token.
     * @param {string} email
     * @param {string} password
     */
    signInWithCookie(email: string, password: string): Promise<any>;
    /**
     * Picks up the browser's existing cookie session (after a reload): its user, and the CSRF
     * token kept in memory only. Throws an `ApiError` 401 when there is none.
     */
    resumeSession(): Promise<any>;
    /** Signs out (revokes the token, or the cookie session). */
    signOut(): Promise<void>;
    projects(): Promise<any>;
    /** @param {string} title */
    createProject(title: string): Promise<any>;
    /** @param {string} project */
    dialogues(project: string): Promise<any>;
    /**
     * @param {string} project
     * @param {{ title: string, sequences: unknown[] }} description
     */
    createDialogue(project: string, description: {
        title: string;
        sequences: unknown[];
    }): Promise<any>;
    /**
     * @param {string} project
     * @param {string} dialogue
     */
    dialogue(project: string, dialogue: string): Promise<any>;
    /**
     * @param {string} project
     * @param {string} dialogue
     * @param {{ page?: number, per_page?: number, ordering?: string }} [page]
     */
    revisions(project: string, dialogue: string, page?: {
        page?: number;
        per_page?: number;
        ordering?: string;
    }): Promise<any>;
    /**
     * @param {string} project
     * @param {string} dialogue
     */
    releases(project: string, dialogue: string): Promise<any>;
    /**
     * @param {string} project
     * @param {string} dialogue
     * @param {string} revisionId
     */
    createRelease(project: string, dialogue: string, revisionId: string): Promise<any>;
    blockTypes(): Promise<any>;
}
