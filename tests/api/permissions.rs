use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app, unique_email};

fn project_permission(kind: &str, project: &str) -> Value {
    json!({ "type": kind, "properties": { "project_id": project } })
}

/// A project admin of `project`, and their token.
async fn project_admin(app: &TestApp, project: &str) -> (String, String) {
    let (id, token) = app.create_user(&unique_email("padmin")).await;
    app.grant(&app.admin_token, &id, project_permission("project:admin", project)).await;
    (id, token)
}

#[actix_web::test]
async fn admins_grant_list_get_and_revoke() {
    let app = spawn_app().await;
    let (user, token) = app.create_user(&unique_email("grantee")).await;
    let granted = app.grant(&app.admin_token, &user, json!({ "type": "projects:create" })).await;
    let id = granted["id"].as_str().unwrap();
    assert_eq!(granted["type"], "projects:create");

    let listed = app.get(&format!("/users/{user}/permissions/"), &token).await;
    assert_eq!(listed.status, 200);
    assert_eq!(listed.body, json!([granted]));
    assert_eq!(listed.header("x-total-count"), Some("1"));
    assert_eq!(app.get(&format!("/users/{user}/permissions/{id}"), &token).await.body, granted);
    assert_eq!(app.get("/user", &token).await.body["permissions"], json!([granted]));

    let revoked = app.delete(&format!("/users/{user}/permissions/{id}"), &app.admin_token).await;
    assert_eq!(revoked.status, 200);
    assert_eq!(revoked.body, granted);
    let gone = app.get(&format!("/users/{user}/permissions/{id}"), &token).await;
    gone.assert_error(404, "not_found");
    assert_eq!(gone.body["details"]["id"], id);
    app.delete(&format!("/users/{user}/permissions/{id}"), &app.admin_token).await.assert_error(404, "not_found");
}

#[actix_web::test]
async fn grants_are_validated_against_the_schema() {
    let app = spawn_app().await;
    let (user, _) = app.create_user(&unique_email("v")).await;
    let path = format!("/users/{user}/permissions/");
    let cases = [
        (json!({ "type": "projects:admin" }), "enum", "/type"),
        (json!({ "type": "project:admin" }), "required", "/properties"),
        (
            json!({ "type": "dialogue:write", "properties": { "project_id": "p" } }),
            "required",
            "/properties/dialogue_id",
        ),
        (json!({ "type": "project:admin", "properties": { "project_id": 5 } }), "type", "/properties/project_id"),
        (json!({ "id": "mine", "type": "admin" }), "readOnly", "/id"),
        (json!({ "properties": {} }), "required", "/type"),
    ];
    for (body, kind, pointer) in cases {
        let response = app.post(&path, &app.admin_token, &body).await;
        response.assert_error(422, "validation_error");
        let errors = response.body["details"]["errors"].as_array().unwrap();
        assert!(errors.iter().any(|e| e["type"] == kind && e["path"] == pointer), "{body}: {errors:?}");
    }
    app.grant(&app.admin_token, &user, json!({ "type": "admin" })).await;
    let twice = app.post(&path, &app.admin_token, &json!({ "type": "admin" })).await;
    twice.assert_error(409, "conflict");
    let nobody = app.post("/users/nobody/permissions/", &app.admin_token, &json!({ "type": "admin" })).await;
    nobody.assert_error(404, "not_found");
}

#[actix_web::test]
async fn project_admins_grant_only_inside_their_project() {
    let app = spawn_app().await;
    let p1 = app.create_project(&app.admin_token, "P1").await;
    let p2 = app.create_project(&app.admin_token, "P2").await;
    let d = app.create_dialogue(&app.admin_token, &p1, &crate::helpers::sample_dialogue("D")).await;
    let d = d["id"].as_str().unwrap();
    let (_, padmin) = project_admin(&app, &p1).await;
    let (member, member_token) = app.create_user(&unique_email("member")).await;
    let path = format!("/users/{member}/permissions/");

    let read = app.post(&path, &padmin, &project_permission("project:dialogues:read", &p1)).await;
    assert_eq!(read.status, 201, "{}", read.body);
    let dialogue = app
        .post(
            &path,
            &padmin,
            &json!({ "type": "dialogue:write", "properties": { "project_id": p1, "dialogue_id": d } }),
        )
        .await;
    assert_eq!(dialogue.status, 201, "{}", dialogue.body);

    app.post(&path, &padmin, &project_permission("project:dialogues:read", &p2)).await.assert_error(403, "forbidden");
    app.post(&path, &padmin, &json!({ "type": "admin" })).await.assert_error(403, "forbidden");
    app.post(&path, &padmin, &json!({ "type": "projects:create" })).await.assert_error(403, "forbidden");
    app.post(&path, &member_token, &project_permission("project:admin", &p1)).await.assert_error(403, "forbidden");

    // The project admin sees and revokes only what belongs to their project.
    let foreign = app.grant(&app.admin_token, &member, project_permission("project:dialogues:write", &p2)).await;
    let seen = app.get(&path, &padmin).await;
    assert_eq!(seen.body.as_array().unwrap().len(), 2, "{}", seen.body);
    let foreign_path = format!("{path}{}", foreign["id"].as_str().unwrap());
    app.get(&foreign_path, &padmin).await.assert_error(404, "not_found");
    app.delete(&foreign_path, &padmin).await.assert_error(404, "not_found");
    let own_path = format!("{path}{}", read.body["id"].as_str().unwrap());
    assert_eq!(app.delete(&own_path, &padmin).await.status, 200);
    // The member sees all of their own grants.
    assert_eq!(app.get(&path, &member_token).await.body.as_array().unwrap().len(), 2);
}

#[actix_web::test]
async fn strangers_cannot_see_permissions() {
    let app = spawn_app().await;
    let (user, _) = app.create_user(&unique_email("owner")).await;
    let (_, stranger) = app.create_user(&unique_email("stranger")).await;
    app.get(&format!("/users/{user}/permissions/"), &stranger).await.assert_error(403, "forbidden");
    app.post(&format!("/users/{user}/permissions/"), &stranger, &json!({ "type": "admin" }))
        .await
        .assert_error(403, "forbidden");
}
