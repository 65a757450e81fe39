use serde_json::{Value, json};

use crate::helpers::{sample_dialogue, spawn_app};

#[actix_web::test]
async fn creators_become_project_admins() {
    let app = spawn_app().await;
    let (creator, token) = app.user_with("creator", json!({ "type": "projects:create" })).await;
    let created = app.post("/projects/", &token, &json!({ "title": "Maternal Health ZA" })).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.body["id"].as_str().unwrap();
    assert_eq!(
        created.body,
        json!({ "id": id, "url": format!("/projects/{id}"), "title": "Maternal Health ZA", "is_archived": false, "dialogues": [] })
    );
    let me = app.get("/user", &token).await;
    let grants = me.body["permissions"].as_array().unwrap();
    assert!(
        grants.iter().any(|g| g["type"] == "project:admin" && g["properties"]["project_id"] == id),
        "{creator}: {grants:?}"
    );
    assert_eq!(app.get(&format!("/projects/{id}"), &token).await.status, 200);
    let listed = app.get("/projects/", &token).await;
    assert_eq!(
        listed.body,
        json!([{ "id": id, "url": format!("/projects/{id}"), "title": "Maternal Health ZA", "is_archived": false }])
    );
}

#[actix_web::test]
async fn projects_are_validated() {
    let app = spawn_app().await;
    let missing = app.post("/projects/", &app.admin_token, &json!({})).await;
    missing.assert_error(422, "validation_error");
    assert_eq!(missing.body["details"]["errors"][0]["path"], "/title");
    let read_only = app.post("/projects/", &app.admin_token, &json!({ "id": "23", "title": "x" })).await;
    read_only.assert_error(422, "validation_error");
    assert_eq!(read_only.body["details"]["errors"][0]["type"], "readOnly");
    assert_eq!(read_only.body["details"]["errors"][0]["path"], "/id");
    let wrong_type = app.post("/projects/", &app.admin_token, &json!({ "title": "x", "is_archived": "yes" })).await;
    wrong_type.assert_error(422, "validation_error");
    assert_eq!(wrong_type.body["details"]["errors"][0]["path"], "/is_archived");
}

#[actix_web::test]
async fn put_and_patch_update_and_archive() {
    let app = spawn_app().await;
    let id = app.create_project(&app.admin_token, "Before").await;
    let path = format!("/projects/{id}");
    let dialogue = app.create_dialogue(&app.admin_token, &id, &sample_dialogue("Survey")).await;

    let put = app
        .put(&path, &app.admin_token, &json!({ "id": "ignored", "url": "/x", "title": "After", "dialogues": [] }))
        .await;
    assert_eq!(put.status, 200, "{}", put.body);
    assert_eq!(put.body["id"], id.as_str());
    assert_eq!(put.body["title"], "After");
    assert_eq!(put.body["dialogues"][0]["id"], dialogue["id"], "PUT ignores the read-only dialogues");

    let archived =
        app.patch(&path, &app.admin_token, &json!([{ "op": "replace", "path": "/is_archived", "value": true }])).await;
    assert_eq!(archived.status, 200, "{}", archived.body);
    assert_eq!(archived.body["is_archived"], true);
    assert_eq!(app.get(&path, &app.admin_token).await.body["is_archived"], true, "archived projects stay readable");

    let failing = app
        .patch(
            &path,
            &app.admin_token,
            &json!([{ "op": "replace", "path": "/title", "value": "Lost" }, { "op": "test", "path": "/title", "value": "nope" }]),
        )
        .await;
    failing.assert_error(409, "patch_conflict");
    assert_eq!(app.get(&path, &app.admin_token).await.body["title"], "After");

    let read_only =
        app.patch(&path, &app.admin_token, &json!([{ "op": "replace", "path": "/id", "value": "x" }])).await;
    read_only.assert_error(422, "validation_error");
    assert_eq!(read_only.body["details"]["errors"][0]["type"], "readOnly");
    let emptied = app.patch(&path, &app.admin_token, &json!([{ "op": "remove", "path": "/title" }])).await;
    emptied.assert_error(422, "validation_error");
    assert_eq!(emptied.body["details"]["errors"][0]["path"], "/title");
}

#[actix_web::test]
async fn deleting_a_project_removes_everything_under_it() {
    let app = spawn_app().await;
    let id = app.create_project(&app.admin_token, "Doomed").await;
    let dialogue = app.create_dialogue(&app.admin_token, &id, &sample_dialogue("Gone")).await;
    let dialogue_id = dialogue["id"].as_str().unwrap();
    let (member, token) =
        app.user_with("member", json!({ "type": "project:admin", "properties": { "project_id": id } })).await;
    app.delete(&format!("/projects/{id}"), &token).await.assert_error(403, "forbidden");

    assert_eq!(app.delete(&format!("/projects/{id}"), &app.admin_token).await.status, 204);
    app.get(&format!("/projects/{id}"), &app.admin_token).await.assert_error(404, "not_found");
    app.get(&format!("/projects/{id}/dialogues/{dialogue_id}"), &app.admin_token).await.assert_error(404, "not_found");
    let grants = app.get(&format!("/users/{member}/permissions/"), &app.admin_token).await;
    assert_eq!(grants.body, json!([]), "grants that named the project are gone");
    app.delete(&format!("/projects/{id}"), &app.admin_token).await.assert_error(404, "not_found");
}

#[actix_web::test]
async fn projects_are_listed_in_pages() {
    let app = spawn_app().await;
    for n in 0..3 {
        app.create_project(&app.admin_token, &format!("P{n}")).await;
    }
    let page = app.get("/projects/?per_page=2&page=2", &app.admin_token).await;
    assert_eq!(page.status, 200);
    assert_eq!(page.body.as_array().unwrap().len(), 1);
    assert_eq!(page.body[0]["title"], "P2");
    assert_eq!(page.header("x-total-count"), Some("3"));
    assert!(page.header("link").unwrap().contains("rel=\"prev\""));
}

#[actix_web::test]
async fn members_are_listed_to_those_who_read_the_project_with_emails_for_its_admins() {
    let app = spawn_app().await;
    let (owner, owner_token) = app.user_with("owner", json!({ "type": "projects:create" })).await;
    let project = app.create_project(&owner_token, "Team").await;
    let (reader, reader_token) = app
        .user_with("reader", json!({ "type": "project:dialogues:read", "properties": { "project_id": project } }))
        .await;
    let (_, outsider_token) = app.user_with("outsider", Value::Null).await;
    let other = app.create_project(&owner_token, "Other").await;
    app.user_with("elsewhere", json!({ "type": "project:dialogues:write", "properties": { "project_id": other } }))
        .await;

    let path = format!("/projects/{project}/members/");
    let seen_by_owner = app.get(&path, &owner_token).await;
    assert_eq!(seen_by_owner.status, 200, "{}", seen_by_owner.body);
    let members = seen_by_owner.body.as_array().unwrap();
    let ids: Vec<&str> = members.iter().map(|m| m["user"]["id"].as_str().unwrap()).collect();
    assert!(ids.contains(&owner.as_str()) && ids.contains(&reader.as_str()), "{ids:?}");
    assert_eq!(members.len(), 3, "the owner, the reader and the server admin: {ids:?}");
    let reader_entry = members.iter().find(|m| m["user"]["id"] == reader.as_str()).unwrap();
    assert_eq!(reader_entry["permissions"][0]["type"], "project:dialogues:read");
    assert!(reader_entry["user"]["email"].is_string(), "project admins see e-mails");
    let owner_entry = members.iter().find(|m| m["user"]["id"] == owner.as_str()).unwrap();
    let owner_grants: Vec<&str> =
        owner_entry["permissions"].as_array().unwrap().iter().map(|p| p["type"].as_str().unwrap()).collect();
    assert_eq!(owner_grants, vec!["project:admin"], "only the grants about this project (not projects:create)");
    assert_eq!(seen_by_owner.header("x-total-count"), Some("3"));

    let seen_by_reader = app.get(&path, &reader_token).await;
    assert_eq!(seen_by_reader.status, 200);
    let seen = seen_by_reader.body.as_array().unwrap();
    assert!(seen.iter().all(|m| m["user"].get("email").is_none()), "no e-mails for readers");
    assert!(
        seen.iter().flat_map(|m| m["permissions"].as_array().unwrap()).all(|p| p.get("id").is_none()),
        "no grant ids"
    );
    app.get(&path, &outsider_token).await.assert_error(404, "not_found");
    // One dialogue's grant opens the project, not its list of members.
    let one_dialogue_token = app.user_with_one_dialogue("one-dialogue", &owner_token, &project, "dialogue:read").await;
    app.get(&path, &one_dialogue_token).await.assert_error(403, "forbidden");
}
