//! Durability of the write path: a server killed mid-stream, two servers on one database, and a
//! head that lags behind its stored revisions.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{
    ADMIN_EMAIL, ADMIN_PASSWORD, TestApp, append_block, content_of, replay, sample_dialogue, spawn_app, spawn_app_with,
};
use crate::process::ServerProcess;

/// A minimal HTTP client for a server process.
pub struct Remote {
    client: awc::Client,
    address: String,
    token: String,
}

impl Remote {
    pub async fn connect(address: String) -> Self {
        let client = awc::Client::builder().timeout(Duration::from_secs(30)).finish();
        let mut response = client
            .post(format!("{address}/auth/tokens"))
            .send_json(&json!({ "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD }))
            .await
            .expect("the server answers");
        let body: Value = response.json().await.expect("a token");
        Self { client, address, token: body["token"].as_str().expect("a token").to_owned() }
    }

    /// PATCHes a dialogue; the revision id when the server acknowledged, `None` on any failure.
    /// A `409 conflict` is retried, as the contract tells clients to.
    pub async fn patch(&self, path: &str, patch: &Value) -> Option<String> {
        for _ in 0..10 {
            match self.patch_once(path, patch).await {
                Err(409) => continue,
                Ok(id) => return Some(id),
                Err(_) => return None,
            }
        }
        None
    }

    async fn patch_once(&self, path: &str, patch: &Value) -> Result<String, u16> {
        let mut response = self
            .client
            .patch(format!("{}{path}", self.address))
            .insert_header(("Authorization", format!("Bearer {}", self.token)))
            .insert_header(("Content-Type", "application/json-patch+json"))
            .send_body(patch.to_string())
            .await
            .map_err(|_| 0u16)?;
        if response.status() != 200 {
            return Err(response.status().as_u16());
        }
        let body: Value = response.json().await.map_err(|_| 0u16)?;
        body["revision_id"].as_str().map(str::to_owned).ok_or(0)
    }
}

/// Creates a project and dialogue through `app`; returns the dialogue path and initial content.
pub async fn dialogue_in(app: &TestApp) -> (String, Value) {
    let project = app.create_project(&app.admin_token, "Durable").await;
    let created = app.create_dialogue(&app.admin_token, &project, &sample_dialogue("D")).await;
    (created["url"].as_str().unwrap().to_owned(), content_of(&created))
}

/// Asserts numbering 1..n without gaps, that every acknowledged id is stored, and that the head
/// equals the replay of the stored patches. Reads through a fresh server on the same database.
pub async fn assert_history(database: &str, path: &str, initial: &Value, acknowledged: &[String]) {
    let fresh = spawn_app_with(|settings| settings.database = database.to_owned()).await;
    let revisions = fresh.all_revisions(&fresh.admin_token, path).await;
    let numbers: Vec<i64> = revisions.iter().map(|r| r["number"].as_i64().unwrap()).collect();
    assert_eq!(numbers, (1..=revisions.len() as i64).collect::<Vec<_>>(), "numbers without gaps or duplicates");
    let stored: std::collections::HashSet<&str> = revisions.iter().map(|r| r["id"].as_str().unwrap()).collect();
    for id in acknowledged {
        assert!(stored.contains(id.as_str()), "acknowledged revision {id} was lost");
    }
    let head = fresh.get(path, &fresh.admin_token).await;
    assert_eq!(head.status, 200);
    assert_eq!(replay(initial, &revisions), content_of(&head.body), "the head equals the replay");
    assert_eq!(head.body["revision_id"], revisions.last().map_or(Value::Null, |r| r["id"].clone()));
}

#[actix_web::test]
async fn a_server_killed_mid_stream_loses_no_acknowledged_revision() {
    let app = spawn_app().await;
    let (path, initial) = dialogue_in(&app).await;
    let server = ServerProcess::start(&app.database);
    let remote = Remote::connect(server.address()).await;

    // Four writers stream patches; the server is killed once 40 are acknowledged.
    let acknowledged = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let fortieth = tokio::sync::Notify::new();
    let writers = (0..4).map(|writer| {
        let acknowledged = acknowledged.clone();
        let (remote, path, fortieth) = (&remote, path.clone(), &fortieth);
        async move {
            for n in 0.. {
                match remote.patch(&path, &append_block(&format!("w{writer}-{n}"))).await {
                    Some(id) => {
                        let mut acknowledged = acknowledged.lock().unwrap();
                        acknowledged.push(id);
                        if acknowledged.len() == 40 {
                            fortieth.notify_one();
                        }
                    }
                    None => return,
                }
            }
        }
    });
    let killer = async {
        fortieth.notified().await;
        server.signal("KILL");
    };
    futures_util::future::join(futures_util::future::join_all(writers), killer).await;
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(acknowledged.len() >= 40);

    // A restarted server loads what was stored, repairing the head if the kill hit between the
    // revision insert and the head update.
    let restarted = ServerProcess::start(&app.database);
    let after = Remote::connect(restarted.address()).await;
    assert!(after.patch(&path, &append_block("after-restart")).await.is_some(), "writes resume after a restart");
    assert_history(&app.database, &path, &initial, &acknowledged).await;
}

#[actix_web::test]
async fn two_servers_on_one_database_never_lose_or_reuse_a_number() {
    let app = spawn_app().await;
    let (path, initial) = dialogue_in(&app).await;
    let first = ServerProcess::start(&app.database);
    let second = ServerProcess::start(&app.database);
    let remotes = [Remote::connect(first.address()).await, Remote::connect(second.address()).await];

    let path_ref = path.as_str();
    let writers = remotes.iter().enumerate().flat_map(|(server, remote)| {
        (0..3).map(move |writer| {
            let path = path_ref.to_owned();
            async move {
                let mut ids = Vec::new();
                for n in 0..15 {
                    let id = remote.patch(&path, &append_block(&format!("s{server}-w{writer}-{n}"))).await;
                    ids.push(id.expect("every write succeeds, re-applied after a lost race"));
                }
                ids
            }
        })
    });
    let acknowledged: Vec<String> = futures_util::future::join_all(writers).await.into_iter().flatten().collect();
    assert_eq!(acknowledged.len(), 90);
    assert_history(&app.database, &path, &initial, &acknowledged).await;
}

#[actix_web::test]
async fn a_head_behind_its_revisions_is_repaired_on_load() {
    let app = spawn_app().await;
    let (path, initial) = dialogue_in(&app).await;
    let patched = app.patch(&path, &app.admin_token, &append_block("stored")).await;
    assert_eq!(patched.status, 200);
    let dialogue_id = path.rsplit('/').next().unwrap();
    let project_id = path.split('/').nth(2).unwrap();

    // Simulate a process that died after storing revision 2 but before moving the head.
    let orphan = dialogue_server::store::RevisionRecord {
        id: "orphan-revision".into(),
        project_id: project_id.into(),
        patch: append_block("orphan").to_string(),
        ..crate::write_path::revision(dialogue_id, 2)
    };
    app.state.store.insert_revisions(&[orphan], false).await.expect("stored");

    assert_history(&app.database, &path, &initial, &["orphan-revision".to_owned()]).await;
    let fresh = spawn_app_with(|settings| settings.database = app.database.clone()).await;
    let next = fresh.patch(&path, &fresh.admin_token, &append_block("next")).await;
    assert_eq!(next.status, 200);
    let revisions = fresh.all_revisions(&fresh.admin_token, &path).await;
    assert_eq!(revisions.last().unwrap()["number"], 3, "numbering continues after the repaired head");
}
