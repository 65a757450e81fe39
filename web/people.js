// People as every view shows them: a person's name, and what their permissions let them do
// (a server administrator, a project's administrator, one who may create projects).

/**
 * @typedef {{ id?: string, first_name?: string, last_name?: string, email?: string, permissions?: { type: string, properties?: { project_id?: string } }[] }} Person
 */

/**
 * A person's name for display: first and last name, else the email, else `otherwise`.
 * @param {Person | null | undefined} user
 * @param {string} [otherwise]
 */
export function displayName(user, otherwise = "Unknown") {
  const name = [user?.first_name, user?.last_name].filter(Boolean).join(" ").trim();
  return name || user?.email || otherwise;
}

/**
 * Whether `user` holds a permission of `type` (for `project`, when given).
 * @param {Person} user
 * @param {string} type
 * @param {string} [project]
 */
function holds(user, type, project) {
  return (user.permissions ?? []).some((p) => p.type === type && (project === undefined || p.properties?.project_id === project));
}

/**
 * Whether `user` administers the whole server.
 * @param {Person} user
 */
export function isServerAdmin(user) {
  return holds(user, "admin");
}

/**
 * Whether `user` may administer `project`: a server administrator, or a `project:admin` of it.
 * @param {Person} user
 * @param {string} project
 */
export function administers(user, project) {
  return isServerAdmin(user) || holds(user, "project:admin", project);
}

/**
 * Whether `user` may create projects.
 * @param {Person} user
 */
export function mayCreateProjects(user) {
  return isServerAdmin(user) || holds(user, "projects:create");
}
