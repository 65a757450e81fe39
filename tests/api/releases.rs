use serde_json::{Value, json};

use crate::helpers::{append_block, content_of, sample_dialogue, spawn_app};

#[actix_web::test]
async fn releases_through_the_lifecycle() {
    let app = spawn_app().await;
    let project = app.create_project(&app.admin_token, "Releases").await;
    let created = app.create_dialogue(&app.admin_token, &project, &sample_dialogue("D")).await;
    let path = created["url"].as_str().unwrap().to_owned();
    let flags = |body: &Value| (body["is_published"].as_bool().unwrap(), body["has_changes"].as_bool().unwrap());
    assert_eq!(flags(&created), (false, false), "new");

    let first = app.patch(&path, &app.admin_token, &append_block("one")).await;
    assert_eq!(flags(&first.body), (false, true), "edited, never released");
    let first_revision = first.body["revision_id"].as_str().unwrap().to_owned();

    let release =
        app.post(&format!("{path}/releases/"), &app.admin_token, &json!({ "revision_id": first_revision })).await;
    assert_eq!(release.status, 201, "{}", release.body);
    assert_eq!(release.body["number"], 1);
    assert_eq!(release.body["revision_id"], first_revision.as_str());
    assert_eq!(release.body["revision_number"], 1);
    assert_eq!(release.body["user_id"], app.get("/user", &app.admin_token).await.body["id"]);
    assert!(release.body["created"].as_i64().is_some());
    let release_url = release.body["url"].as_str().unwrap().to_owned();
    assert_eq!(app.get(&release_url, &app.admin_token).await.body, release.body);
    assert_eq!(flags(&app.get(&path, &app.admin_token).await.body), (true, false), "released at head");

    let second = app.patch(&path, &app.admin_token, &append_block("two")).await;
    assert_eq!(flags(&second.body), (true, true), "edited since the release");

    // Releasing an older revision again: the newest release points behind the head.
    let older =
        app.post(&format!("{path}/releases/"), &app.admin_token, &json!({ "revision_id": first_revision })).await;
    assert_eq!(older.body["number"], 2);
    assert_eq!(flags(&app.get(&path, &app.admin_token).await.body), (true, true));
    let released = app.get(&format!("{path}/releases/latest/dialogue"), &app.admin_token).await;
    assert_eq!(released.status, 200, "{}", released.body);
    assert_eq!(content_of(&released.body), content_of(&first.body), "the dialogue as of the release");
    assert_eq!(released.body["revision_id"], first_revision.as_str());
    let by_id = app.get(&format!("{release_url}/dialogue"), &app.admin_token).await;
    assert_eq!(content_of(&by_id.body), content_of(&first.body));
    // Any revision can be looked at the same way.
    let at_first = app.get(&format!("{path}/revisions/{first_revision}/dialogue"), &app.admin_token).await;
    assert_eq!(at_first.status, 200, "{}", at_first.body);
    assert_eq!(content_of(&at_first.body), content_of(&first.body));
    assert_eq!(at_first.body["revision_id"], first_revision.as_str());
    let at_second = app
        .get(&format!("{path}/revisions/{}/dialogue", second.body["revision_id"].as_str().unwrap()), &app.admin_token)
        .await;
    assert_eq!(content_of(&at_second.body), content_of(&second.body));
    app.get(&format!("{path}/revisions/nope/dialogue"), &app.admin_token).await.assert_error(404, "not_found");

    let listed = app.get(&format!("{path}/releases/"), &app.admin_token).await;
    let numbers: Vec<i64> = listed.body.as_array().unwrap().iter().map(|r| r["number"].as_i64().unwrap()).collect();
    assert_eq!(numbers, vec![2, 1], "default -number");
    assert_eq!(listed.header("x-total-count"), Some("2"));
    let ascending = app.get(&format!("{path}/releases/?ordering=number"), &app.admin_token).await;
    assert_eq!(ascending.body[0]["number"], 1);
    let latest = app.get(&format!("{path}/releases/latest"), &app.admin_token).await;
    assert_eq!(latest.body["number"], 2);
}

#[actix_web::test]
async fn releases_are_validated_and_need_publish_rights() {
    let app = spawn_app().await;
    let project = app.create_project(&app.admin_token, "R").await;
    let one = app.create_dialogue(&app.admin_token, &project, &sample_dialogue("One")).await;
    let other = app.create_dialogue(&app.admin_token, &project, &sample_dialogue("Other")).await;
    let path = one["url"].as_str().unwrap();
    let other_path = other["url"].as_str().unwrap();
    let other_revision = app.patch(other_path, &app.admin_token, &append_block("x")).await.body["revision_id"].clone();

    let foreign =
        app.post(&format!("{path}/releases/"), &app.admin_token, &json!({ "revision_id": other_revision })).await;
    foreign.assert_error(422, "validation_error");
    assert_eq!(foreign.body["details"]["errors"][0]["path"], "/revision_id");
    let missing = app.post(&format!("{path}/releases/"), &app.admin_token, &json!({})).await;
    missing.assert_error(422, "validation_error");
    let read_only =
        app.post(&format!("{path}/releases/"), &app.admin_token, &json!({ "revision_id": "x", "number": 3 })).await;
    read_only.assert_error(422, "validation_error");

    let (_, writer) = app
        .user_with("writer", json!({ "type": "project:dialogues:write", "properties": { "project_id": project } }))
        .await;
    let revision = app.patch(path, &writer, &append_block("y")).await.body["revision_id"].clone();
    app.post(&format!("{path}/releases/"), &writer, &json!({ "revision_id": revision }))
        .await
        .assert_error(403, "forbidden");
    app.get(&format!("{path}/releases/nope"), &writer).await.assert_error(404, "not_found");
    app.get(&format!("{path}/releases/latest/dialogue"), &writer).await.assert_error(404, "not_found");
}
