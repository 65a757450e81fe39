//! The operation table: what each route does, as the API description says it (its operation id,
//! tag and summary, the query parameters it reads, its request body, its success answer, and the
//! errors it can give), in the shape `super::operation` defines.
//! Path parameters, the errors every authenticated or body-taking route can give, and the
//! security requirements are derived from these, in `super::document`.

use actix_web::http::Method;

use super::operation::op;
pub use super::operation::{Access, Answer, Body, Operation, Query};

const GET: Method = Method::GET;
const POST: Method = Method::POST;
const PUT: Method = Method::PUT;
const PATCH: Method = Method::PATCH;
const DELETE: Method = Method::DELETE;

const PROJECT: &str = "/projects/{project_id}";
const DIALOGUES: &str = "/projects/{project_id}/dialogues/";
const DIALOGUE: &str = "/projects/{project_id}/dialogues/{dialogue_id}";
/// Refused for lack of a right, or because the caller cannot edit.
const FORBIDDEN: &[u16] = &[403];
/// A write that can meet a unique value, or a duplicate.
const FORBIDDEN_CONFLICT: &[u16] = &[403, 409];
/// A write to a dialogue: stale base, patch that does not apply, `If-Match`.
const DIALOGUE_WRITE: &[u16] = &[403, 409, 412];

/// Every operation the API describes.
pub fn all() -> Vec<Operation> {
    use Answer::Upgrade;
    use Query::{AccessToken, Batch, ContactFilters, DialogueFilters, Ordering, Pages, Since};
    vec![
        // Operations
        op(GET, "/healthz", "health", "Operations", "The process runs").public().ok("health"),
        op(GET, "/readyz", "readiness", "Operations", "The database answers").public().ok("health"),
        op(GET, "/openapi.json", "apiDescription", "Operations", "This document").public().ok("openapi"),
        // Authentication
        op(POST, "/auth/tokens", "createToken", "Authentication", "Sign in: a bearer token")
            .public()
            .json("credentials")
            .created("token")
            .errors(&[401, 429]),
        op(
            DELETE,
            "/auth/tokens/current",
            "revokeToken",
            "Authentication",
            "Sign out: the token stops working everywhere",
        ),
        op(
            POST,
            "/auth/sessions",
            "createSession",
            "Authentication",
            "Sign a browser in: a session cookie and its CSRF token",
        )
        .public()
        .json("credentials")
        .ok("session")
        .errors(&[401, 429]),
        op(
            GET,
            "/auth/sessions/current",
            "currentSession",
            "Authentication",
            "The browser's session again: its user and CSRF token (cookie sessions only)",
        )
        .ok("session"),
        op(DELETE, "/auth/sessions/current", "endSession", "Authentication", "Sign a browser out"),
        // Users
        op(GET, "/user", "currentUser", "Users", "The signed-in user, with their permissions").ok("user"),
        op(GET, "/users/", "listUsers", "Users", "Every user (admin)").list("user").errors(FORBIDDEN),
        op(POST, "/users/", "createUser", "Users", "Create a user (admin, or anyone with open sign-up)")
            .json("new-user")
            .created("user")
            .errors(FORBIDDEN_CONFLICT),
        op(GET, "/users/{user_id}", "getUser", "Users", "A user").ok("user").errors(FORBIDDEN),
        op(PUT, "/users/{user_id}", "replaceUser", "Users", "Replace a user's description")
            .json("user")
            .ok("user")
            .errors(FORBIDDEN_CONFLICT),
        op(PATCH, "/users/{user_id}", "patchUser", "Users", "Change a user's description with a JSON Patch")
            .body(Body::Patch)
            .ok("user")
            .errors(&[403, 409]),
        op(
            POST,
            "/user/password-changes/",
            "changePassword",
            "Users",
            "Change your password; your other tokens stop working",
        )
        .json("password-change")
        .errors(FORBIDDEN),
        op(POST, "/password-resets/", "requestPasswordReset", "Users", "Mail a password reset link (always 204)")
            .public()
            .json("password-reset")
            .errors(&[429]),
        op(
            GET,
            "/password-confirmations/",
            "passwordResetPage",
            "Users",
            "The editor's page for choosing a new password: where the reset mail's link leads",
        )
        .public()
        .page(),
        op(POST, "/password-confirmations/", "confirmPasswordReset", "Users", "Set a new password with a reset token")
            .public()
            .json("password-confirmation"),
        // Permissions
        op(GET, "/users/{user_id}/permissions/", "listPermissions", "Permissions", "A user's permissions")
            .list("permission")
            .errors(FORBIDDEN),
        op(POST, "/users/{user_id}/permissions/", "grantPermission", "Permissions", "Grant a permission")
            .json("permission")
            .created("permission")
            .errors(FORBIDDEN_CONFLICT),
        op(GET, "/users/{user_id}/permissions/{permission_id}", "getPermission", "Permissions", "A permission")
            .ok("permission")
            .errors(FORBIDDEN),
        op(
            DELETE,
            "/users/{user_id}/permissions/{permission_id}",
            "revokePermission",
            "Permissions",
            "Revoke a permission: the permission revoked",
        )
        .ok("permission")
        .errors(FORBIDDEN),
        // Projects
        op(GET, "/projects/", "listProjects", "Projects", "The projects you can view").list("project-summary"),
        op(POST, "/projects/", "createProject", "Projects", "Create a project")
            .json("project")
            .created("project")
            .errors(FORBIDDEN),
        op(GET, PROJECT, "getProject", "Projects", "A project, with the dialogues you can view")
            .ok("project")
            .errors(FORBIDDEN),
        op(PUT, PROJECT, "replaceProject", "Projects", "Replace a project's description")
            .json("project")
            .ok("project")
            .errors(FORBIDDEN_CONFLICT),
        op(PATCH, PROJECT, "patchProject", "Projects", "Change a project with a JSON Patch")
            .body(Body::Patch)
            .ok("project")
            .errors(&[403, 409]),
        op(DELETE, PROJECT, "deleteProject", "Projects", "Delete a project (admin)").errors(FORBIDDEN),
        op(
            GET,
            "/projects/{project_id}/members/",
            "listProjectMembers",
            "Projects",
            "Who has access to a project, through which grants (e-mails for project admins only)",
        )
        .list("project-member"),
        // Dialogues
        op(GET, DIALOGUES, "listDialogues", "Dialogues", "A project's dialogues, filtered")
            .query(&[Pages, DialogueFilters])
            .list("dialogue-summary")
            .errors(FORBIDDEN),
        op(POST, DIALOGUES, "createDialogue", "Dialogues", "Create a dialogue (no revision yet)")
            .json("dialogue")
            .created("dialogue")
            .errors(FORBIDDEN)
            .etag(),
        op(GET, DIALOGUE, "getDialogue", "Dialogues", "A dialogue as of its newest revision")
            .ok("dialogue")
            .errors(FORBIDDEN)
            .etag(),
        op(PUT, DIALOGUE, "replaceDialogue", "Dialogues", "Replace a dialogue: one edit revision of the difference")
            .json("dialogue")
            .ok("dialogue")
            .errors(DIALOGUE_WRITE)
            .etag(),
        op(PATCH, DIALOGUE, "patchDialogue", "Dialogues", "Change a dialogue with a JSON Patch: one edit revision")
            .body(Body::Patch)
            .ok("dialogue")
            .errors(DIALOGUE_WRITE)
            .etag(),
        op(
            GET,
            "/projects/{project_id}/dialogues/{dialogue_id}/live",
            "liveDialogue",
            "Dialogues",
            "Edit live: a WebSocket (see docs/protocol.md)",
        )
        .query(&[Since, Batch, AccessToken])
        .answer(Upgrade)
        .errors(&[400, 403, 429]),
        // Revisions
        op(
            GET,
            "/projects/{project_id}/dialogues/{dialogue_id}/revisions/",
            "listRevisions",
            "Revisions",
            "A dialogue's revisions",
        )
        .query(&[Pages, Ordering])
        .list("revision")
        .errors(FORBIDDEN),
        op(
            POST,
            "/projects/{project_id}/dialogues/{dialogue_id}/revisions/",
            "createRevisions",
            "Revisions",
            "Store an edit or revert revision, or several (all or nothing)",
        )
        .body(Body::Revisions)
        .created("revision-or-revisions")
        .errors(DIALOGUE_WRITE)
        .etag(),
        op(
            GET,
            "/projects/{project_id}/dialogues/{dialogue_id}/revisions/{revision_id}",
            "getRevision",
            "Revisions",
            "A revision",
        )
        .ok("revision")
        .errors(FORBIDDEN),
        op(
            GET,
            "/projects/{project_id}/dialogues/{dialogue_id}/revisions/{revision_id}/dialogue",
            "getDialogueAtRevision",
            "Revisions",
            "The dialogue as that revision left it",
        )
        .ok("dialogue")
        .errors(FORBIDDEN),
        // Releases
        op(
            GET,
            "/projects/{project_id}/dialogues/{dialogue_id}/releases/",
            "listReleases",
            "Releases",
            "A dialogue's releases",
        )
        .query(&[Pages, Ordering])
        .list("release")
        .errors(FORBIDDEN),
        op(
            POST,
            "/projects/{project_id}/dialogues/{dialogue_id}/releases/",
            "createRelease",
            "Releases",
            "Release a revision",
        )
        .json("release")
        .created("release")
        .errors(FORBIDDEN_CONFLICT),
        op(
            GET,
            "/projects/{project_id}/dialogues/{dialogue_id}/releases/{release_id}",
            "getRelease",
            "Releases",
            "A release",
        )
        .ok("release")
        .errors(FORBIDDEN),
        op(
            GET,
            "/projects/{project_id}/dialogues/{dialogue_id}/releases/{release_id}/dialogue",
            "getReleasedDialogue",
            "Releases",
            "The dialogue as of a release (`latest` for the newest)",
        )
        .ok("dialogue")
        .errors(FORBIDDEN),
        // Providers and channels
        op(GET, "/providers/", "listProviders", "Channels", "Every provider").list("provider").errors(FORBIDDEN),
        op(POST, "/providers/", "createProvider", "Channels", "Create a provider (admin)")
            .json("provider")
            .created("provider")
            .errors(FORBIDDEN),
        op(GET, "/providers/{provider_id}", "getProvider", "Channels", "A provider, with its channels")
            .ok("provider")
            .errors(FORBIDDEN),
        op(GET, "/channels/", "listChannels", "Channels", "Every channel").list("channel").errors(FORBIDDEN),
        op(POST, "/channels/", "createChannel", "Channels", "Create a channel (admin)")
            .json("new-channel")
            .created("channel")
            .errors(FORBIDDEN_CONFLICT),
        op(GET, "/channels/{channel_id}", "getChannel", "Channels", "A channel").ok("channel").errors(FORBIDDEN),
        op(PUT, "/channels/{channel_id}", "replaceChannel", "Channels", "Replace a channel (admin)")
            .json("channel")
            .ok("channel")
            .errors(FORBIDDEN_CONFLICT),
        op(PATCH, "/channels/{channel_id}", "patchChannel", "Channels", "Change a channel with a JSON Patch (admin)")
            .body(Body::Patch)
            .ok("channel")
            .errors(FORBIDDEN_CONFLICT),
        op(DELETE, "/channels/{channel_id}", "deleteChannel", "Channels", "Delete a channel (admin)").errors(FORBIDDEN),
        op(GET, "/projects/{project_id}/channels/", "listProjectChannels", "Channels", "A project's channels")
            .list("channel")
            .errors(FORBIDDEN),
        // Invites
        op(GET, "/projects/{project_id}/invites/", "listInvites", "Invites", "A project's invites (project admin)")
            .list("invite")
            .errors(FORBIDDEN),
        op(
            POST,
            "/projects/{project_id}/invites/",
            "createInvite",
            "Invites",
            "Invite people with a link (project admin)",
        )
        .json("invite")
        .created("invite")
        .errors(FORBIDDEN),
        op(
            DELETE,
            "/projects/{project_id}/invites/{invite_id}",
            "revokeInvite",
            "Invites",
            "Revoke an invite (project admin)",
        )
        .errors(FORBIDDEN),
        op(POST, "/invites/{code}/accept", "acceptInvite", "Invites", "Accept an invite: the permission it grants")
            .ok("permission")
            .errors(&[409]),
        // Webhooks
        op(GET, "/projects/{project_id}/webhooks/", "listWebhooks", "Webhooks", "A project's webhooks (project admin)")
            .list("webhook")
            .errors(FORBIDDEN),
        op(
            POST,
            "/projects/{project_id}/webhooks/",
            "createWebhook",
            "Webhooks",
            "Register a webhook; its secret is shown only in this answer (project admin)",
        )
        .json("webhook")
        .created("webhook")
        .errors(FORBIDDEN),
        op(GET, "/projects/{project_id}/webhooks/{webhook_id}", "getWebhook", "Webhooks", "A webhook (project admin)")
            .ok("webhook")
            .errors(FORBIDDEN),
        op(
            DELETE,
            "/projects/{project_id}/webhooks/{webhook_id}",
            "deleteWebhook",
            "Webhooks",
            "Remove a webhook and its deliveries (project admin)",
        )
        .errors(FORBIDDEN),
        op(
            GET,
            "/projects/{project_id}/webhooks/{webhook_id}/deliveries/",
            "listWebhookDeliveries",
            "Webhooks",
            "A webhook's deliveries, newest first (project admin)",
        )
        .list("webhook-delivery")
        .errors(FORBIDDEN),
        // Contacts
        op(GET, "/projects/{project_id}/contacts/", "listContacts", "Contacts", "A project's contacts")
            .query(&[Pages, ContactFilters])
            .list("contact")
            .errors(FORBIDDEN),
        op(POST, "/projects/{project_id}/contacts/", "createContact", "Contacts", "Create a contact")
            .json("contact")
            .created("contact")
            .errors(FORBIDDEN_CONFLICT),
        op(
            PATCH,
            "/projects/{project_id}/contacts/",
            "updateContacts",
            "Contacts",
            "Update several contacts at once (all or nothing)",
        )
        .json("contact-bulk-update")
        .answer(Answer::One(200, "contacts"))
        .errors(FORBIDDEN),
        op(GET, "/projects/{project_id}/contacts/{contact_id}", "getContact", "Contacts", "A contact")
            .ok("contact")
            .errors(FORBIDDEN),
        op(PUT, "/projects/{project_id}/contacts/{contact_id}", "replaceContact", "Contacts", "Replace a contact")
            .json("contact")
            .ok("contact")
            .errors(FORBIDDEN_CONFLICT),
        op(
            PATCH,
            "/projects/{project_id}/contacts/{contact_id}",
            "patchContact",
            "Contacts",
            "Change a contact with a JSON Patch",
        )
        .body(Body::Patch)
        .ok("contact")
        .errors(FORBIDDEN_CONFLICT),
        // Block types
        op(GET, "/block-types/", "listBlockTypes", "Block types", "The registered block types and their schemas")
            .ok("block-types"),
    ]
}
