//! Which projects have a hook on `dialogue.changed`: what a dialogue actor asks before it stores
//! revisions, so that only the dialogues of those projects keep a watch. Held in memory: the
//! process that registers a hook adds its project at once, and every process reloads the whole
//! set every second (hooks are few), so a hook registered elsewhere is seen within a second.

use std::collections::HashSet;
use std::sync::RwLock;

/// The hooked projects, as last loaded.
#[derive(Debug, Default)]
pub struct HookDirectory {
    /// `None` until first loaded: then every project counts as hooked, so that nothing stored
    /// while the database was out of reach at start-up goes unwatched.
    projects: RwLock<Option<HashSet<String>>>,
}

impl HookDirectory {
    /// Whether revisions of `project_id` must be stored under a watch.
    pub fn watches_changes(&self, project_id: &str) -> bool {
        match &*self.projects.read().unwrap_or_else(std::sync::PoisonError::into_inner) {
            Some(projects) => projects.contains(project_id),
            None => true,
        }
    }

    /// Replaces the set with what the database holds now.
    pub fn replace(&self, projects: impl IntoIterator<Item = String>) {
        let projects = projects.into_iter().collect();
        *self.projects.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(projects);
    }

    /// A hook on `dialogue.changed` was just registered in `project_id` by this process.
    pub fn add(&self, project_id: &str) {
        if let Some(projects) = self.projects.write().unwrap_or_else(std::sync::PoisonError::into_inner).as_mut() {
            projects.insert(project_id.to_owned());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn until_loaded_every_project_is_watched() {
        let directory = HookDirectory::default();
        assert!(directory.watches_changes("p"));
        directory.replace(["q".to_owned()]);
        assert!(!directory.watches_changes("p"));
        assert!(directory.watches_changes("q"));
        directory.add("p");
        assert!(directory.watches_changes("p"));
    }
}
