use mongodb::bson::Document;
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app, spawn_app_with};

/// A 32-byte key, base64.
fn key(byte: u8) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode([byte; 32])
}

async fn provider(app: &TestApp, title: &str) -> Value {
    let response = app.post("/providers/", &app.admin_token, &json!({ "title": title })).await;
    assert_eq!(response.status, 201, "{}", response.body);
    response.body
}

async fn channel(app: &TestApp, provider_id: &str, address: &str, extra: Value) -> Value {
    let mut body = json!({ "title": address, "address": address, "type": "sms", "provider_id": provider_id });
    if let (Value::Object(body), Value::Object(extra)) = (&mut body, extra) {
        body.extend(extra);
    }
    let response = app.post("/channels/", &app.admin_token, &body).await;
    assert_eq!(response.status, 201, "{}", response.body);
    response.body
}

/// The raw stored channel document, straight from the database.
async fn raw_channel(app: &TestApp, id: &str) -> Document {
    crate::helpers::raw_collection(&app.database, "channels")
        .await
        .find_one(mongodb::bson::doc! { "_id": id })
        .await
        .unwrap()
        .expect("the channel is stored")
}

#[actix_web::test]
async fn providers_and_channels_are_registered_and_described() {
    let app = spawn_app().await;
    let twitter = provider(&app, "Twitter").await;
    let provider_id = twitter["id"].as_str().unwrap();
    let created = channel(&app, provider_id, "@foo", json!({})).await;
    let id = created["id"].as_str().unwrap();
    assert_eq!(
        created,
        json!({
            "id": id, "url": format!("/channels/{id}"), "project_id": null, "title": "@foo", "address": "@foo",
            "type": "sms", "is_available": true, "has_credentials": false,
            "provider": { "id": provider_id, "url": format!("/providers/{provider_id}"), "title": "Twitter" }
        })
    );
    let listed = app.get("/channels/", &app.admin_token).await;
    assert_eq!(listed.body, json!([created]));
    assert_eq!(listed.header("x-total-count"), Some("1"));
    let with_channels = app.get(&format!("/providers/{provider_id}"), &app.admin_token).await;
    assert_eq!(with_channels.body["channels"][0]["id"], id);
    assert_eq!(app.get("/providers/", &app.admin_token).await.body.as_array().unwrap().len(), 1);

    let duplicate = app
        .post(
            "/channels/",
            &app.admin_token,
            &json!({ "title": "x", "address": "@foo", "type": "sms", "provider_id": provider_id }),
        )
        .await;
    duplicate.assert_error(409, "conflict");
    let unknown_provider = app
        .post(
            "/channels/",
            &app.admin_token,
            &json!({ "title": "x", "address": "@bar", "type": "sms", "provider_id": "nope" }),
        )
        .await;
    unknown_provider.assert_error(422, "validation_error");
    assert_eq!(unknown_provider.body["details"]["errors"][0]["path"], "/provider_id");

    assert_eq!(app.delete(&format!("/channels/{id}"), &app.admin_token).await.status, 204);
    app.get(&format!("/channels/{id}"), &app.admin_token).await.assert_error(404, "not_found");
}

#[actix_web::test]
async fn a_channel_belongs_to_one_project_at_a_time() {
    let app = spawn_app().await;
    let provider_id = provider(&app, "MTN Nigeria").await["id"].as_str().unwrap().to_owned();
    let created = channel(&app, &provider_id, "*120*321#", json!({})).await;
    let path = format!("/channels/{}", created["id"].as_str().unwrap());
    let first = app.create_project(&app.admin_token, "First").await;
    let second = app.create_project(&app.admin_token, "Second").await;

    let claimed = app.put(&path, &app.admin_token, &json!({ "project_id": first, "title": "ignored" })).await;
    assert_eq!(claimed.status, 200, "{}", claimed.body);
    assert_eq!(claimed.body["project_id"], first.as_str());
    assert_eq!(claimed.body["is_available"], false);
    assert_eq!(claimed.body["title"], "*120*321#", "read-only fields are ignored on PUT");

    let taken =
        app.patch(&path, &app.admin_token, &json!([{ "op": "replace", "path": "/project_id", "value": second }])).await;
    taken.assert_error(409, "conflict");
    let listed = app.get(&format!("/projects/{first}/channels/"), &app.admin_token).await;
    assert_eq!(listed.body.as_array().unwrap().len(), 1);

    let freed =
        app.patch(&path, &app.admin_token, &json!([{ "op": "replace", "path": "/project_id", "value": null }])).await;
    assert_eq!(freed.status, 200);
    assert_eq!(freed.body["is_available"], true);
    let reclaimed =
        app.patch(&path, &app.admin_token, &json!([{ "op": "replace", "path": "/project_id", "value": second }])).await;
    assert_eq!(reclaimed.body["project_id"], second.as_str());
    let read_only =
        app.patch(&path, &app.admin_token, &json!([{ "op": "replace", "path": "/address", "value": "x" }])).await;
    read_only.assert_error(422, "validation_error");

    // Who may see it: admins, and people with access to the project using it.
    let (_, member) = app
        .user_with("member", json!({ "type": "project:dialogues:read", "properties": { "project_id": second } }))
        .await;
    let (_, outsider) = app
        .user_with("outsider", json!({ "type": "project:dialogues:read", "properties": { "project_id": first } }))
        .await;
    assert_eq!(app.get(&path, &member).await.status, 200);
    app.get(&path, &outsider).await.assert_error(403, "forbidden");
    app.get("/channels/", &member).await.assert_error(403, "forbidden");
    app.put(&path, &member, &json!({ "project_id": null })).await.assert_error(403, "forbidden");
    assert_eq!(app.get(&format!("/providers/{provider_id}"), &member).await.status, 200);
    app.get(&format!("/providers/{provider_id}"), &outsider).await.assert_error(403, "forbidden");
    app.post("/providers/", &member, &json!({ "title": "x" })).await.assert_error(403, "forbidden");

    // Deleting the project frees the channel.
    assert_eq!(app.delete(&format!("/projects/{second}"), &app.admin_token).await.status, 204);
    assert_eq!(app.get(&path, &app.admin_token).await.body["is_available"], true);
}

#[actix_web::test]
async fn credentials_are_write_only_encrypted_and_rotated() {
    let old_key = key(7);
    let app = spawn_app_with(|settings| settings.secret_key = Some(secrecy::SecretString::from(old_key.clone()))).await;
    let provider_id = provider(&app, "Gateway").await["id"].as_str().unwrap().to_owned();
    let secret = "sk_live_do-not-leak-0123456789";
    let created = channel(&app, &provider_id, "2233", json!({ "credentials": { "api_key": secret } })).await;
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["has_credentials"], true);
    assert!(created.get("credentials").is_none());
    let fetched = app.get(&format!("/channels/{id}"), &app.admin_token).await;
    assert!(!String::from_utf8_lossy(&fetched.raw).contains(secret), "never returned");

    let raw = raw_channel(&app, &id).await;
    assert!(!format!("{raw:?}").contains(secret), "the plaintext is not in the database: {raw:?}");
    let sealed: dialogue_server::vault::Sealed =
        mongodb::bson::from_bson(raw.get("credentials").unwrap().clone()).unwrap();
    let old_vault =
        dialogue_server::vault::Vault::new(Some(&secrecy::SecretString::from(old_key.clone())), None).unwrap();
    assert_eq!(old_vault.open(&sealed, &id).unwrap(), json!({ "api_key": secret }));

    // Rotation: a server with a new key and the old one as previous re-encrypts on write.
    let new_key = key(9);
    let database = app.database.clone();
    let rotated = spawn_app_with(|settings| {
        settings.database = database;
        settings.secret_key = Some(secrecy::SecretString::from(new_key.clone()));
        settings.secret_key_previous = Some(secrecy::SecretString::from(old_key.clone()));
    })
    .await;
    let project = rotated.create_project(&rotated.admin_token, "P").await;
    let written =
        rotated.put(&format!("/channels/{id}"), &rotated.admin_token, &json!({ "project_id": project })).await;
    assert_eq!(written.status, 200, "{}", written.body);
    assert_eq!(written.body["has_credentials"], true);
    let resealed: dialogue_server::vault::Sealed =
        mongodb::bson::from_bson(raw_channel(&app, &id).await.get("credentials").unwrap().clone()).unwrap();
    assert_ne!(resealed.key_id, sealed.key_id);
    let new_vault = dialogue_server::vault::Vault::new(Some(&secrecy::SecretString::from(new_key)), None).unwrap();
    assert_eq!(new_vault.open(&resealed, &id).unwrap(), json!({ "api_key": secret }), "the new key alone opens it");

    // A refused claim changes nothing, credentials included.
    let other = rotated.create_project(&rotated.admin_token, "Other").await;
    let before = raw_channel(&app, &id).await;
    let refused = rotated
        .put(
            &format!("/channels/{id}"),
            &rotated.admin_token,
            &json!({ "project_id": other, "credentials": { "api_key": "new" } }),
        )
        .await;
    refused.assert_error(409, "conflict");
    assert_eq!(raw_channel(&app, &id).await, before, "the 409 left the stored channel as it was");

    let removed = rotated
        .patch(
            &format!("/channels/{id}"),
            &rotated.admin_token,
            &json!([{ "op": "add", "path": "/credentials", "value": null }]),
        )
        .await;
    assert_eq!(removed.body["has_credentials"], false);
}

#[actix_web::test]
async fn without_a_key_credentials_are_refused() {
    let app = spawn_app().await;
    let provider_id = provider(&app, "Gateway").await["id"].as_str().unwrap().to_owned();
    let body = json!({ "title": "t", "address": "3344", "type": "sms", "provider_id": provider_id, "credentials": { "k": "v" } });
    let refused = app.post("/channels/", &app.admin_token, &body).await;
    refused.assert_error(422, "validation_error");
    assert_eq!(refused.body["details"]["errors"][0]["path"], "/credentials");
    assert!(refused.body["message"].is_string());
    assert_eq!(app.get("/channels/", &app.admin_token).await.body, json!([]), "nothing stored");
}
