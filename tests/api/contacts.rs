use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};

async fn setup(app: &TestApp) -> (String, String) {
    let project = app.create_project(&app.admin_token, "Contacts").await;
    let provider = app.post("/providers/", &app.admin_token, &json!({ "title": "SMS" })).await.body["id"].clone();
    let channel = app
        .post("/channels/", &app.admin_token, &json!({ "title": "2233", "address": "2233", "type": "sms", "provider_id": provider, "project_id": project }))
        .await;
    assert_eq!(channel.status, 201, "{}", channel.body);
    (project, channel.body["id"].as_str().unwrap().to_owned())
}

#[actix_web::test]
async fn contacts_are_created_read_and_updated() {
    let app = spawn_app().await;
    let (project, channel) = setup(&app).await;
    let path = format!("/projects/{project}/contacts/");
    let created = app
        .post(
            &path,
            &app.admin_token,
            &json!({ "address": "+27820000001", "channel_id": channel, "state": { "age": 31 } }),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.body["id"].as_str().unwrap();
    assert_eq!(created.body["bot_status"], "active");
    assert_eq!(created.body["state"], json!({ "age": 31 }));
    assert_eq!(created.body["url"], format!("{path}{id}"));
    assert!(created.body["created"].as_i64().is_some() && created.body["updated"].as_i64().is_some());

    let duplicate =
        app.post(&path, &app.admin_token, &json!({ "address": "+27820000001", "channel_id": channel })).await;
    duplicate.assert_error(409, "conflict");
    let foreign_channel = app.post(&path, &app.admin_token, &json!({ "address": "x", "channel_id": "nope" })).await;
    foreign_channel.assert_error(422, "validation_error");
    let bad_status = app.post(&path, &app.admin_token, &json!({ "address": "y", "bot_status": "asleep" })).await;
    bad_status.assert_error(422, "validation_error");

    let contact_path = format!("{path}{id}");
    let muted = app
        .patch(&contact_path, &app.admin_token, &json!([{ "op": "replace", "path": "/bot_status", "value": "muted" }]))
        .await;
    assert_eq!(muted.status, 200, "{}", muted.body);
    assert_eq!(muted.body["bot_status"], "muted");
    let replaced = app
        .put(
            &contact_path,
            &app.admin_token,
            &json!({ "id": "ignored", "address": "+27820000001", "channel_id": channel, "state": { "age": 32 } }),
        )
        .await;
    assert_eq!(replaced.body["state"], json!({ "age": 32 }));
    assert_eq!(replaced.body["bot_status"], "active", "PUT replaces: the default applies");
    let read_only =
        app.patch(&contact_path, &app.admin_token, &json!([{ "op": "replace", "path": "/created", "value": 1 }])).await;
    read_only.assert_error(422, "validation_error");
    assert_eq!(app.get(&contact_path, &app.admin_token).await.body, replaced.body);
}

#[actix_web::test]
async fn contacts_are_filtered_and_bulk_muted_all_or_nothing() {
    let app = spawn_app().await;
    let (project, channel) = setup(&app).await;
    let path = format!("/projects/{project}/contacts/");
    let mut ids = Vec::new();
    for n in 0..4 {
        let created = app
            .post(&path, &app.admin_token, &json!({ "address": format!("+2782000000{n}"), "channel_id": channel }))
            .await;
        ids.push(created.body["id"].as_str().unwrap().to_owned());
    }
    let with_unknown = json!({ "ids": [ids[0], ids[1], "no-such-contact"], "update": { "bot_status": "muted" } });
    let refused = app.json(actix_web::http::Method::PATCH, &path, Some(&app.admin_token), &with_unknown).await;
    refused.assert_error(404, "not_found");
    let muted_list = app.get(&format!("{path}?bot_status=muted"), &app.admin_token).await;
    assert_eq!(muted_list.body, json!([]), "nothing changed");

    let bulk = json!({ "ids": [ids[0], ids[2]], "update": { "bot_status": "muted" } });
    let updated = app.json(actix_web::http::Method::PATCH, &path, Some(&app.admin_token), &bulk).await;
    assert_eq!(updated.status, 200, "{}", updated.body);
    assert_eq!(updated.body.as_array().unwrap().len(), 2);
    assert!(updated.body.as_array().unwrap().iter().all(|c| c["bot_status"] == "muted"));

    let muted: Vec<Value> =
        app.get(&format!("{path}?bot_status=muted"), &app.admin_token).await.body.as_array().unwrap().clone();
    assert_eq!(muted.len(), 2);
    assert_eq!(
        app.get(&format!("{path}?bot_status=active"), &app.admin_token).await.header("x-total-count"),
        Some("2")
    );
    let by_address = app.get(&format!("{path}?address=%2B27820000003"), &app.admin_token).await;
    assert_eq!(by_address.body[0]["id"], ids[3].as_str());
    assert_eq!(
        app.get(&format!("{path}?channel_id={channel}&per_page=3"), &app.admin_token)
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        3
    );
    app.get(&format!("{path}?bot_status=sleeping"), &app.admin_token).await.assert_error(422, "validation_error");
}

#[actix_web::test]
async fn reading_needs_read_access_and_writing_write_access() {
    let app = spawn_app().await;
    let (project, _) = setup(&app).await;
    let path = format!("/projects/{project}/contacts/");
    let scoped = |kind: &str| json!({ "type": kind, "properties": { "project_id": project } });
    let (_, reader) = app.user_with("reader", scoped("project:dialogues:read")).await;
    let (_, writer) = app.user_with("writer", scoped("project:dialogues:write")).await;
    let (_, stranger) = app.user_with("stranger", Value::Null).await;
    let body = json!({ "address": "+1" });
    app.post(&path, &reader, &body).await.assert_error(403, "forbidden");
    assert_eq!(app.post(&path, &writer, &body).await.status, 201);
    assert_eq!(app.get(&path, &reader).await.status, 200);
    app.get(&path, &stranger).await.assert_error(404, "not_found");
    let dialogue_only = app.user_with_one_dialogue("dialogue-only", &app.admin_token, &project, "dialogue:write").await;
    app.get(&path, &dialogue_only).await.assert_error(403, "forbidden");
}
