use serde_json::{Value, json};

use crate::helpers::{TestApp, sample_dialogue, spawn_app};

async fn project(app: &TestApp) -> String {
    app.create_project(&app.admin_token, "Dialogues").await
}

#[actix_web::test]
async fn creating_and_reading_a_dialogue() {
    let app = spawn_app().await;
    let project = project(&app).await;
    let created = app.create_dialogue(&app.admin_token, &project, &sample_dialogue("Service Rating Survey")).await;
    let id = created["id"].as_str().unwrap();
    assert_eq!(created["url"], format!("/projects/{project}/dialogues/{id}"));
    assert_eq!(created["title"], "Service Rating Survey");
    assert_eq!(created["sequences"], sample_dialogue("x")["sequences"]);
    for (flag, value) in [
        ("is_archived", false),
        ("is_published", false),
        ("has_changes", false),
        ("can_view", true),
        ("can_edit", true),
    ] {
        assert_eq!(created[flag], value, "{flag}");
    }
    assert_eq!(created["revision_id"], Value::Null);

    let fetched = app.get(&format!("/projects/{project}/dialogues/{id}"), &app.admin_token).await;
    assert_eq!(fetched.status, 200);
    assert_eq!(fetched.body, created);
    assert_eq!(fetched.header("etag"), Some("\"\""));

    let in_project = app.get(&format!("/projects/{project}"), &app.admin_token).await;
    let summary = &in_project.body["dialogues"][0];
    assert_eq!(summary["id"], id);
    assert!(summary.get("sequences").is_none(), "summaries have no sequences");

    let missing = app.get(&format!("/projects/{project}/dialogues/nope"), &app.admin_token).await;
    missing.assert_error(404, "not_found");
    assert_eq!(missing.body["details"]["id"], "nope");
}

#[actix_web::test]
async fn every_class_of_invalid_dialogue_is_refused_with_a_path() {
    let app = spawn_app().await;
    let project = project(&app).await;
    let path = format!("/projects/{project}/dialogues/");
    let with_block = |block: Value| {
        json!({ "title": "t", "sequences": [
            { "id": "start", "title": "s", "blocks": [block] },
            { "id": "other", "title": "o", "blocks": [] }
        ] })
    };
    let cases: Vec<(&str, Value, &str, &str)> = vec![
        ("missing required field", json!({ "sequences": [] }), "required", "/title"),
        ("wrong type", json!({ "title": 5, "sequences": [] }), "type", "/title"),
        (
            "bad symbol",
            json!({ "title": "t", "sequences": [{ "id": "Start!", "title": "s", "blocks": [] }] }),
            "pattern",
            "/sequences/0/id",
        ),
        (
            "unknown block type",
            with_block(json!({ "id": "b", "type": "teleport" })),
            "blockType",
            "/sequences/0/blocks/0/type",
        ),
        (
            "bad block properties",
            with_block(json!({ "id": "b", "type": "message", "properties": { "txt": "hi" } })),
            "required",
            "/sequences/0/blocks/0/properties/text",
        ),
        (
            "dangling sequence reference",
            with_block(json!({ "id": "b", "type": "choice", "properties": { "question": "q", "choices": [
                { "label": "a", "next": "other" }, { "label": "b", "next": "missing" }
            ] } })),
            "reference",
            "/sequences/0/blocks/0/properties/choices/1/next",
        ),
        ("read-only field on POST", json!({ "id": "mine", "title": "t", "sequences": [] }), "readOnly", "/id"),
        ("unknown field", json!({ "title": "t", "sequences": [], "colour": "red" }), "additionalProperties", "/colour"),
        (
            "duplicate sequence id",
            json!({ "title": "t", "sequences": [{ "id": "a", "title": "1", "blocks": [] }, { "id": "a", "title": "2", "blocks": [] }] }),
            "unique",
            "/sequences/1/id",
        ),
    ];
    for (name, body, kind, pointer) in cases {
        let response = app.post(&path, &app.admin_token, &body).await;
        response.assert_error(422, "validation_error");
        let errors = response.body["details"]["errors"].as_array().unwrap();
        assert!(errors.iter().any(|e| e["type"] == kind && e["path"] == pointer), "{name}: {errors:?}");
    }
    let listed = app.get(&path, &app.admin_token).await;
    assert_eq!(listed.body, json!([]), "nothing invalid was stored");
}

#[actix_web::test]
async fn dialogues_are_filtered_and_paged() {
    let app = spawn_app().await;
    let project = project(&app).await;
    let path = format!("/projects/{project}/dialogues/");
    for n in 0..3 {
        app.create_dialogue(&app.admin_token, &project, &sample_dialogue(&format!("D{n}"))).await;
    }
    let mut archived = sample_dialogue("Old");
    archived["is_archived"] = json!(true);
    app.create_dialogue(&app.admin_token, &project, &archived).await;

    let all = app.get(&path, &app.admin_token).await;
    assert_eq!(all.header("x-total-count"), Some("4"));
    let only_archived = app.get(&format!("{path}?is_archived=true"), &app.admin_token).await;
    assert_eq!(only_archived.body.as_array().unwrap().len(), 1);
    assert_eq!(only_archived.body[0]["title"], "Old");
    let live = app
        .get(&format!("{path}?is_archived=false&is_published=false&has_changes=false&can_edit=true"), &app.admin_token)
        .await;
    assert_eq!(live.header("x-total-count"), Some("3"));
    assert_eq!(app.get(&format!("{path}?is_published=true"), &app.admin_token).await.body, json!([]));
    assert_eq!(app.get(&format!("{path}?can_view=false"), &app.admin_token).await.body, json!([]));

    let paged = app.get(&format!("{path}?per_page=3&page=2"), &app.admin_token).await;
    assert_eq!(paged.body.as_array().unwrap().len(), 1);
    assert!(paged.header("link").unwrap().contains("rel=\"first\""));

    app.get(&format!("{path}?is_archived=maybe"), &app.admin_token).await.assert_error(422, "validation_error");
}

#[actix_web::test]
async fn block_types_are_listed_with_their_schemas() {
    let app = spawn_app().await;
    let (_, token) = app.user_with("reader", Value::Null).await;
    let response = app.get("/block-types/", &token).await;
    assert_eq!(response.status, 200);
    let types: Vec<&str> = response.body.as_array().unwrap().iter().map(|t| t["type"].as_str().unwrap()).collect();
    for expected in ["message", "choice", "free-text", "set-field", "condition", "webhook", "end"] {
        assert!(types.contains(&expected), "{expected} missing from {types:?}");
    }
    let choice = response.body.as_array().unwrap().iter().find(|t| t["type"] == "choice").unwrap();
    assert_eq!(choice["title"], "Choice");
    assert_eq!(choice["schema"]["type"], "object");
}

#[actix_web::test]
async fn listings_show_a_rename_or_an_archive_as_soon_as_it_is_answered() {
    let app = spawn_app().await;
    let project = project(&app).await;
    let created = app.create_dialogue(&app.admin_token, &project, &sample_dialogue("Original")).await;
    let path = created["url"].as_str().unwrap();
    let listing = format!("/projects/{project}/dialogues/");
    for n in 0..10 {
        let title = format!("Renamed {n}");
        let renamed =
            app.patch(path, &app.admin_token, &json!([{ "op": "replace", "path": "/title", "value": title }])).await;
        assert_eq!(renamed.status, 200);
        let listed = app.get(&listing, &app.admin_token).await;
        assert_eq!(listed.body[0]["title"], title, "the listing after rename {n}");
        let archived = n % 2 == 0;
        let flagged = app
            .patch(path, &app.admin_token, &json!([{ "op": "replace", "path": "/is_archived", "value": archived }]))
            .await;
        assert_eq!(flagged.status, 200);
        let listed = app.get(&format!("{listing}?is_archived={archived}"), &app.admin_token).await;
        assert_eq!(listed.body.as_array().map(Vec::len), Some(1), "the listing after archived={archived}");
    }
}
