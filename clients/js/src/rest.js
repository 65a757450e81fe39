// REST helpers for what an editor needs: signing in, projects, dialogues, revisions, releases
// and block types. Errors are `ApiError`s typed after the server's error table.

/** An error answer of the server: `{ type, message, details }` and the HTTP status. */
export class ApiError extends Error {
  /**
   * @param {number} status
   * @param {{ type?: string, message?: string, details?: unknown }} body
   */
  constructor(status, body) {
    super(body.message ?? `HTTP ${status}`);
    this.name = "ApiError";
    /** The HTTP status. */
    this.status = status;
    /**
     * The server's error type: `unauthorized`, `forbidden`, `not_found`, `conflict`,
     * `patch_conflict`, `validation_error`, `rate_limited`, `payload_too_large`, `unavailable`…
     */
    this.type = body.type ?? "internal_error";
    this.details = body.details ?? {};
  }
}

/**
 * A client of the REST API. In a browser without a token it uses the session cookie, and sends
 * the session's CSRF token with every unsafe request.
 */
export class DialogueApi {
  /**
   * @param {{ url: string, token?: string, fetch?: typeof fetch }} options
   */
  constructor(options) {
    this.url = options.url.replace(/\/$/, "");
    /** @type {string | undefined} */
    this.token = options.token;
    /** @type {string | undefined} */
    this.csrf = undefined;
    this.fetch = options.fetch ?? globalThis.fetch.bind(globalThis);
  }

  /**
   * Sends a request; the answer's JSON (`undefined` for 204).
   * @param {string} method
   * @param {string} path
   * @param {unknown} [body]
   * @param {string} [contentType]
   * @returns {Promise<any>}
   */
  async request(method, path, body, contentType = "application/json") {
    /** @type {Record<string, string>} */
    const headers = { Accept: "application/json" };
    if (this.token) headers.Authorization = `Bearer ${this.token}`;
    if (this.csrf && !["GET", "HEAD"].includes(method)) headers["X-CSRF-Token"] = this.csrf;
    if (body !== undefined) headers["Content-Type"] = contentType;
    const response = await this.fetch(`${this.url}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "include",
    });
    if (response.status === 204) return undefined;
    const text = await response.text();
    /** @type {any} */
    let json;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      // Not the server's JSON (a proxy's error page, say).
      throw new ApiError(response.status, { type: response.ok ? "internal_error" : "unavailable", message: text.slice(0, 200) });
    }
    if (!response.ok) throw new ApiError(response.status, json ?? {});
    return json;
  }

  /**
   * Signs in for a bearer token (kept by this client).
   * @param {string} email
   * @param {string} password
   */
  async signIn(email, password) {
    const answer = await this.request("POST", "/auth/tokens", { email, password });
    this.token = answer.token;
    return answer;
  }

  /**
   * Signs in a browser with the session cookie; keeps the CSRF token.
   * @param {string} email
   * @param {string} password
   */
  async signInWithCookie(email, password) {
    const answer = await this.request("POST", "/auth/sessions", { email, password });
    this.csrf = answer.csrf_token;
    return answer;
  }

  /**
   * Picks up the browser's existing cookie session (after a reload): its user, and the CSRF
   * token kept in memory only. Throws an `ApiError` 401 when there is none.
   */
  async resumeSession() {
    const answer = await this.request("GET", "/auth/sessions/current");
    this.csrf = answer.csrf_token;
    return answer;
  }

  /** Signs out (revokes the token, or the cookie session). */
  async signOut() {
    if (this.token) await this.request("DELETE", "/auth/tokens/current");
    else await this.request("DELETE", "/auth/sessions/current");
    this.token = undefined;
    this.csrf = undefined;
  }

  projects() {
    return this.request("GET", "/projects/");
  }

  /** @param {string} title */
  createProject(title) {
    return this.request("POST", "/projects/", { title });
  }

  /** @param {string} project */
  dialogues(project) {
    return this.request("GET", `/projects/${project}/dialogues/`);
  }

  /**
   * @param {string} project
   * @param {{ title: string, sequences: unknown[] }} description
   */
  createDialogue(project, description) {
    return this.request("POST", `/projects/${project}/dialogues/`, description);
  }

  /**
   * @param {string} project
   * @param {string} dialogue
   */
  dialogue(project, dialogue) {
    return this.request("GET", `/projects/${project}/dialogues/${dialogue}`);
  }

  /**
   * @param {string} project
   * @param {string} dialogue
   * @param {{ page?: number, per_page?: number, ordering?: string }} [page]
   */
  revisions(project, dialogue, page = {}) {
    const query = new URLSearchParams(Object.entries(page).map(([k, v]) => [k, String(v)]));
    return this.request("GET", `/projects/${project}/dialogues/${dialogue}/revisions/?${query}`);
  }

  /**
   * @param {string} project
   * @param {string} dialogue
   */
  releases(project, dialogue) {
    return this.request("GET", `/projects/${project}/dialogues/${dialogue}/releases/`);
  }

  /**
   * @param {string} project
   * @param {string} dialogue
   * @param {string} revisionId
   */
  createRelease(project, dialogue, revisionId) {
    return this.request("POST", `/projects/${project}/dialogues/${dialogue}/releases/`, { revision_id: revisionId });
  }

  blockTypes() {
    return this.request("GET", "/block-types/");
  }
}
