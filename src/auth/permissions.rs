//! Permissions: the seed's seven grant types, and the one pure function that answers
//! "may this caller do X on Y" for every endpoint.

use serde::{Deserialize, Serialize};

/// The seven permission types of the seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PermissionKind {
    /// Everything, everywhere.
    #[serde(rename = "admin")]
    Admin,
    /// Create projects (and become `project:admin` of them).
    #[serde(rename = "projects:create")]
    ProjectsCreate,
    /// Create, archive, read, write and publish a project's dialogues.
    #[serde(rename = "project:admin")]
    ProjectAdmin,
    /// Read a project's dialogues.
    #[serde(rename = "project:dialogues:read")]
    ProjectDialoguesRead,
    /// Write a project's dialogues.
    #[serde(rename = "project:dialogues:write")]
    ProjectDialoguesWrite,
    /// Read one dialogue.
    #[serde(rename = "dialogue:read")]
    DialogueRead,
    /// Write one dialogue.
    #[serde(rename = "dialogue:write")]
    DialogueWrite,
}

impl PermissionKind {
    /// Every kind, in the seed's order.
    pub const ALL: [Self; 7] = [
        Self::Admin,
        Self::ProjectsCreate,
        Self::ProjectAdmin,
        Self::ProjectDialoguesRead,
        Self::ProjectDialoguesWrite,
        Self::DialogueRead,
        Self::DialogueWrite,
    ];

    /// The wire name, such as `project:admin`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::ProjectsCreate => "projects:create",
            Self::ProjectAdmin => "project:admin",
            Self::ProjectDialoguesRead => "project:dialogues:read",
            Self::ProjectDialoguesWrite => "project:dialogues:write",
            Self::DialogueRead => "dialogue:read",
            Self::DialogueWrite => "dialogue:write",
        }
    }

    /// Whether grants of this kind name a project.
    pub fn needs_project(self) -> bool {
        !matches!(self, Self::Admin | Self::ProjectsCreate)
    }

    /// Whether grants of this kind name a dialogue.
    pub fn needs_dialogue(self) -> bool {
        matches!(self, Self::DialogueRead | Self::DialogueWrite)
    }
}

/// What a grant applies to. Empty for `admin` and `projects:create`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PermissionScope {
    /// The project a scoped grant is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_id: Option<String>,
    /// The dialogue a dialogue-scoped grant is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dialogue_id: Option<String>,
}

/// One grant held by a user; also its API description.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Permission {
    /// Identifier.
    pub id: String,
    /// Which of the seven kinds.
    #[serde(rename = "type")]
    pub kind: PermissionKind,
    /// What it applies to.
    #[serde(default)]
    pub properties: PermissionScope,
}

impl Permission {
    /// Whether two grants give the same right (ids aside).
    pub fn same_grant(&self, other: &Self) -> bool {
        self.kind == other.kind && self.properties == other.properties
    }

    fn project_is(&self, project: &str) -> bool {
        self.properties.project_id.as_deref() == Some(project)
    }

    fn dialogue_is(&self, project: &str, dialogue: &str) -> bool {
        self.project_is(project) && self.properties.dialogue_id.as_deref() == Some(dialogue)
    }
}

/// Something a caller may want to do. Each variant names its target.
#[allow(missing_docs)] // the fields are the ids of the target
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action<'a> {
    /// List every user, or manage any user's account.
    AdministerUsers,
    /// Read or change the account of `user`.
    ManageAccount { user: &'a str },
    /// Create a project.
    CreateProject,
    /// See a project exists and open it (any grant in the project).
    ViewProject { project: &'a str },
    /// Read every dialogue of a project, and its contacts.
    ReadProject { project: &'a str },
    /// Write every dialogue of a project, and its contacts.
    WriteProject { project: &'a str },
    /// Change a project's own fields, manage its members and invites.
    AdministerProject { project: &'a str },
    /// Remove a project and everything in it.
    DeleteProject { project: &'a str },
    /// Create a dialogue in a project.
    CreateDialogue { project: &'a str },
    /// Read one dialogue.
    ViewDialogue { project: &'a str, dialogue: &'a str },
    /// Change one dialogue.
    EditDialogue { project: &'a str, dialogue: &'a str },
    /// Archive or unarchive one dialogue.
    ArchiveDialogue { project: &'a str, dialogue: &'a str },
    /// Release one dialogue.
    PublishDialogue { project: &'a str, dialogue: &'a str },
    /// Register and assign channels and providers.
    ManageChannels,
    /// Register, read and remove a project's webhooks and read their deliveries: project
    /// admins only, since a hook sees every change of every dialogue in the project.
    ManageWebhooks { project: &'a str },
}

/// Who is asking: a user and everything they were granted.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The caller's user id.
    pub user_id: String,
    /// The caller's grants.
    pub permissions: Vec<Permission>,
}

impl Principal {
    /// Whether the caller holds the `admin` permission.
    pub fn is_admin(&self) -> bool {
        self.permissions.iter().any(|p| p.kind == PermissionKind::Admin)
    }

    /// Answers "may this caller do `action`". Pure: every endpoint asks it, the unit tests below
    /// pin it down as a table.
    pub fn may(&self, action: Action<'_>) -> bool {
        use PermissionKind as K;
        if self.is_admin() {
            return true;
        }
        let any = |test: &dyn Fn(&Permission) -> bool| self.permissions.iter().any(test);
        match action {
            Action::AdministerUsers | Action::ManageChannels => false,
            Action::ManageAccount { user } => user == self.user_id,
            Action::CreateProject => any(&|p| p.kind == K::ProjectsCreate),
            Action::ViewProject { project } => any(&|p| p.kind.needs_project() && p.project_is(project)),
            Action::ReadProject { project } => any(&|p| {
                matches!(p.kind, K::ProjectAdmin | K::ProjectDialoguesRead | K::ProjectDialoguesWrite)
                    && p.project_is(project)
            }),
            Action::WriteProject { project } => {
                any(&|p| matches!(p.kind, K::ProjectAdmin | K::ProjectDialoguesWrite) && p.project_is(project))
            }
            Action::AdministerProject { project }
            | Action::CreateDialogue { project }
            | Action::ArchiveDialogue { project, .. }
            | Action::PublishDialogue { project, .. }
            | Action::ManageWebhooks { project } => any(&|p| p.kind == K::ProjectAdmin && p.project_is(project)),
            Action::DeleteProject { .. } => false,
            Action::ViewDialogue { project, dialogue } => {
                self.may(Action::ReadProject { project })
                    || any(&|p| {
                        matches!(p.kind, K::DialogueRead | K::DialogueWrite) && p.dialogue_is(project, dialogue)
                    })
            }
            Action::EditDialogue { project, dialogue } => {
                self.may(Action::WriteProject { project })
                    || any(&|p| p.kind == K::DialogueWrite && p.dialogue_is(project, dialogue))
            }
        }
    }

    /// Whether the caller may grant (or revoke) `permission`: an admin anything, a
    /// `project:admin` only project- and dialogue-scoped grants of their own project.
    pub fn may_grant(&self, permission: &Permission) -> bool {
        if self.is_admin() {
            return true;
        }
        match (permission.kind.needs_project(), permission.properties.project_id.as_deref()) {
            (true, Some(project)) => self.may(Action::AdministerProject { project }),
            _ => false,
        }
    }

    /// The projects in which the caller holds any grant (for access-filtered listings).
    pub fn project_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.permissions.iter().filter_map(|p| p.properties.project_id.clone()).collect();
        ids.sort();
        ids.dedup();
        ids
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(kind: PermissionKind, project: Option<&str>, dialogue: Option<&str>) -> Permission {
        Permission {
            id: "g".into(),
            kind,
            properties: PermissionScope {
                project_id: project.map(str::to_owned),
                dialogue_id: dialogue.map(str::to_owned),
            },
        }
    }

    fn holder(permission: Option<Permission>) -> Principal {
        Principal { user_id: "me".into(), permissions: permission.into_iter().collect() }
    }

    /// Each row: the caller's single grant, then whether each action is allowed, in the order of
    /// `actions()`.
    fn actions() -> Vec<(&'static str, Action<'static>)> {
        vec![
            ("administer users", Action::AdministerUsers),
            ("own account", Action::ManageAccount { user: "me" }),
            ("other account", Action::ManageAccount { user: "someone" }),
            ("create project", Action::CreateProject),
            ("view p", Action::ViewProject { project: "p" }),
            ("read p", Action::ReadProject { project: "p" }),
            ("write p", Action::WriteProject { project: "p" }),
            ("administer p", Action::AdministerProject { project: "p" }),
            ("delete p", Action::DeleteProject { project: "p" }),
            ("create dialogue in p", Action::CreateDialogue { project: "p" }),
            ("view p/d", Action::ViewDialogue { project: "p", dialogue: "d" }),
            ("view p/e", Action::ViewDialogue { project: "p", dialogue: "e" }),
            ("edit p/d", Action::EditDialogue { project: "p", dialogue: "d" }),
            ("edit p/e", Action::EditDialogue { project: "p", dialogue: "e" }),
            ("archive p/d", Action::ArchiveDialogue { project: "p", dialogue: "d" }),
            ("publish p/d", Action::PublishDialogue { project: "p", dialogue: "d" }),
            ("view q", Action::ViewProject { project: "q" }),
            ("view q/d", Action::ViewDialogue { project: "q", dialogue: "d" }),
            ("manage channels", Action::ManageChannels),
            ("webhooks of p", Action::ManageWebhooks { project: "p" }),
            ("webhooks of q", Action::ManageWebhooks { project: "q" }),
        ]
    }

    #[test]
    fn permission_table() {
        use PermissionKind as K;
        let t = true;
        let f = false;
        #[rustfmt::skip]
        let table: Vec<(&str, Option<Permission>, [bool; 21])> = vec![
            //                                                    users  own    other  create viewp  readp  writep admp   delp   newdlg viewd  viewe  editd  edite  arch   publ   viewq  viewqd chans  hooksp hooksq
            ("none", None,                                        [f,     t,     f,     f,     f,     f,     f,     f,     f,     f,     f,     f,     f,     f,     f,     f,     f,     f,     f,     f,     f]),
            ("admin", Some(grant(K::Admin, None, None)),           [t,     t,     t,     t,     t,     t,     t,     t,     t,     t,     t,     t,     t,     t,     t,     t,     t,     t,     t,     t,     t]),
            ("projects:create", Some(grant(K::ProjectsCreate, None, None)),
                                                                  [f,     t,     f,     t,     f,     f,     f,     f,     f,     f,     f,     f,     f,     f,     f,     f,     f,     f,     f,     f,     f]),
            ("project:admin p", Some(grant(K::ProjectAdmin, Some("p"), None)),
                                                                  [f,     t,     f,     f,     t,     t,     t,     t,     f,     t,     t,     t,     t,     t,     t,     t,     f,     f,     f,     t,     f]),
            ("project:dialogues:read p", Some(grant(K::ProjectDialoguesRead, Some("p"), None)),
                                                                  [f,     t,     f,     f,     t,     t,     f,     f,     f,     f,     t,     t,     f,     f,     f,     f,     f,     f,     f,     f,     f]),
            ("project:dialogues:write p", Some(grant(K::ProjectDialoguesWrite, Some("p"), None)),
                                                                  [f,     t,     f,     f,     t,     t,     t,     f,     f,     f,     t,     t,     t,     t,     f,     f,     f,     f,     f,     f,     f]),
            ("dialogue:read p/d", Some(grant(K::DialogueRead, Some("p"), Some("d"))),
                                                                  [f,     t,     f,     f,     t,     f,     f,     f,     f,     f,     t,     f,     f,     f,     f,     f,     f,     f,     f,     f,     f]),
            ("dialogue:write p/d", Some(grant(K::DialogueWrite, Some("p"), Some("d"))),
                                                                  [f,     t,     f,     f,     t,     f,     f,     f,     f,     f,     t,     f,     t,     f,     f,     f,     f,     f,     f,     f,     f]),
        ];
        let actions = actions();
        for (name, permission, expected) in table {
            let principal = holder(permission);
            for ((action_name, action), want) in actions.iter().zip(expected) {
                assert_eq!(principal.may(*action), want, "{name} → {action_name}");
            }
        }
    }

    #[test]
    fn project_admin_grants_only_inside_their_project() {
        use PermissionKind as K;
        let admin_of_p = holder(Some(grant(K::ProjectAdmin, Some("p"), None)));
        assert!(admin_of_p.may_grant(&grant(K::ProjectDialoguesRead, Some("p"), None)));
        assert!(admin_of_p.may_grant(&grant(K::DialogueWrite, Some("p"), Some("d"))));
        assert!(admin_of_p.may_grant(&grant(K::ProjectAdmin, Some("p"), None)));
        assert!(!admin_of_p.may_grant(&grant(K::ProjectDialoguesRead, Some("q"), None)));
        assert!(!admin_of_p.may_grant(&grant(K::Admin, None, None)));
        assert!(!admin_of_p.may_grant(&grant(K::ProjectsCreate, None, None)));

        let writer = holder(Some(grant(K::ProjectDialoguesWrite, Some("p"), None)));
        assert!(!writer.may_grant(&grant(K::DialogueRead, Some("p"), Some("d"))));

        let admin = holder(Some(grant(K::Admin, None, None)));
        assert!(admin.may_grant(&grant(K::Admin, None, None)));
    }

    #[test]
    fn wire_names_round_trip() {
        for kind in PermissionKind::ALL {
            let json = serde_json::to_value(kind).unwrap();
            assert_eq!(json, serde_json::Value::String(kind.as_str().to_owned()));
            assert_eq!(serde_json::from_value::<PermissionKind>(json).unwrap(), kind);
        }
    }
}
