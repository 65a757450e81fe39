use actix_web::http::Method;
use serde_json::json;

use crate::helpers::{spawn_app, unique_email};

#[actix_web::test]
async fn the_invite_lifecycle() {
    let app = spawn_app().await;
    let project = app.create_project(&app.admin_token, "Invites").await;
    let other = app.create_project(&app.admin_token, "Other").await;
    let path = format!("/projects/{project}/invites/");

    let created =
        app.post(&path, &app.admin_token, &json!({ "permission": "project:dialogues:write", "max_uses": 2 })).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let code = created.body["code"].as_str().unwrap().to_owned();
    assert!(code.len() >= 22, "at least 128 bits");
    assert_eq!(created.body["uses"], 0);
    assert_eq!(created.body["max_uses"], 2);
    let week = 7 * 24 * 3600 * 1000;
    let expires = created.body["expires_at"].as_i64().unwrap() - dialogue_server::store::now_millis();
    assert!(expires > week - 60_000 && expires <= week, "a week by default");

    let listed = app.get(&path, &app.admin_token).await;
    assert_eq!(listed.body.as_array().unwrap().len(), 1);
    assert!(listed.body[0].get("code").is_none(), "the code is shown once");

    // Two people accept; the third finds it used up.
    let (first, first_token) = app.create_user(&unique_email("first")).await;
    let accepted = app.send(Method::POST, &format!("/invites/{code}/accept"), Some(&first_token), None, None).await;
    assert_eq!(accepted.status, 200, "{}", accepted.body);
    assert_eq!(accepted.body["type"], "project:dialogues:write");
    assert_eq!(accepted.body["properties"]["project_id"], project.as_str());
    assert_eq!(app.get(&format!("/projects/{project}"), &first_token).await.status, 200);
    let grants = app.get(&format!("/users/{first}/permissions/"), &first_token).await;
    assert_eq!(grants.body.as_array().unwrap().len(), 1);
    // Accepting again keeps the grant and does not spend a use.
    let again = app.send(Method::POST, &format!("/invites/{code}/accept"), Some(&first_token), None, None).await;
    assert_eq!(again.status, 200);
    assert_eq!(again.body, accepted.body);
    let (_, second_token) = app.create_user(&unique_email("second")).await;
    assert_eq!(
        app.send(Method::POST, &format!("/invites/{code}/accept"), Some(&second_token), None, None).await.status,
        200
    );
    let (_, third_token) = app.create_user(&unique_email("third")).await;
    let used_up = app.send(Method::POST, &format!("/invites/{code}/accept"), Some(&third_token), None, None).await;
    used_up.assert_error(404, "not_found");
    assert_eq!(app.get(&path, &app.admin_token).await.body[0]["uses"], 2);

    // Expired and revoked codes get the very same answer, and so does a made-up one.
    let past =
        app.post(&path, &app.admin_token, &json!({ "permission": "project:dialogues:read", "expires_at": 1 })).await;
    past.assert_error(422, "validation_error");
    // Time enough for the request to arrive before the deadline on a busy machine (50 ms was
    // not, once), and little enough to wait for.
    let soon = dialogue_server::store::now_millis() + 2_000;
    let expiring =
        app.post(&path, &app.admin_token, &json!({ "permission": "project:dialogues:read", "expires_at": soon })).await;
    assert_eq!(expiring.status, 201, "{}", expiring.body);
    let revocable = app.post(&path, &app.admin_token, &json!({ "permission": "project:admin" })).await;
    let revoke_path = format!("{path}{}", revocable.body["id"].as_str().unwrap());
    assert_eq!(app.delete(&revoke_path, &app.admin_token).await.status, 204);
    // Expiry is a matter of time: wait until the invite's deadline has passed.
    let left = (soon + 10 - dialogue_server::store::now_millis()).max(0) as u64;
    tokio::time::sleep(std::time::Duration::from_millis(left)).await;
    let expired = app
        .send(
            Method::POST,
            &format!("/invites/{}/accept", expiring.body["code"].as_str().unwrap()),
            Some(&third_token),
            None,
            None,
        )
        .await;
    let revoked = app
        .send(
            Method::POST,
            &format!("/invites/{}/accept", revocable.body["code"].as_str().unwrap()),
            Some(&third_token),
            None,
            None,
        )
        .await;
    let made_up = app.send(Method::POST, "/invites/not-a-code/accept", Some(&third_token), None, None).await;
    assert_eq!(expired.status, 404);
    assert_eq!(expired.body, revoked.body);
    assert_eq!(expired.body, used_up.body);
    assert_eq!(expired.body, made_up.body);

    // Only the project's admins manage its invites; an invite is addressed within its project.
    let (_, writer) = app
        .user_with("writer", json!({ "type": "project:dialogues:write", "properties": { "project_id": project } }))
        .await;
    app.post(&path, &writer, &json!({ "permission": "project:admin" })).await.assert_error(403, "forbidden");
    app.get(&path, &writer).await.assert_error(403, "forbidden");
    let invite_id = created.body["id"].as_str().unwrap();
    app.delete(&format!("/projects/{other}/invites/{invite_id}"), &app.admin_token)
        .await
        .assert_error(404, "not_found");
    let wrong_permission = app.post(&path, &app.admin_token, &json!({ "permission": "admin" })).await;
    wrong_permission.assert_error(422, "validation_error");
    app.send(Method::POST, &format!("/invites/{code}/accept"), None, None, None)
        .await
        .assert_error(401, "unauthorized");
}

#[actix_web::test]
async fn one_user_accepting_at_once_many_times_spends_one_use() {
    let app = spawn_app().await;
    let project = app.create_project(&app.admin_token, "Invites").await;
    let path = format!("/projects/{project}/invites/");
    let created =
        app.post(&path, &app.admin_token, &json!({ "permission": "project:dialogues:read", "max_uses": 3 })).await;
    let accept = format!("/invites/{}/accept", created.body["code"].as_str().unwrap());
    let (user, token) = app.create_user(&unique_email("eager")).await;

    let attempts = (0..10).map(|_| app.send(Method::POST, &accept, Some(&token), None, None));
    let answers = futures_util::future::join_all(attempts).await;
    assert!(answers.iter().all(|a| a.status == 200), "{:?}", answers.iter().map(|a| a.status).collect::<Vec<_>>());
    let granted = &answers[0].body;
    assert!(answers.iter().all(|a| a.body["id"] == granted["id"]), "one grant, the same in every answer");
    assert_eq!(app.get(&path, &app.admin_token).await.body[0]["uses"], 1);
    let grants = app.get(&format!("/users/{user}/permissions/"), &app.admin_token).await;
    assert_eq!(grants.body.as_array().unwrap().len(), 1);

    // The two other seats are still there for two other people, and then it is used up.
    for name in ["second", "third"] {
        let (_, other) = app.create_user(&unique_email(name)).await;
        assert_eq!(app.send(Method::POST, &accept, Some(&other), None, None).await.status, 200);
    }
    let (_, fourth) = app.create_user(&unique_email("fourth")).await;
    app.send(Method::POST, &accept, Some(&fourth), None, None).await.assert_error(404, "not_found");
    // A user who accepted before still gets their grant, without spending anything.
    let again = app.send(Method::POST, &accept, Some(&token), None, None).await;
    assert_eq!(again.status, 200);
    assert_eq!(again.body["id"], granted["id"]);
    assert_eq!(app.get(&path, &app.admin_token).await.body[0]["uses"], 3);
}

/// Found by scripts/fuzz-api: `4632.0` is an integer to JSON Schema, and was a 500.
#[actix_web::test]
async fn integers_written_with_a_zero_fraction_are_integers() {
    let app = spawn_app().await;
    let project = app.create_project(&app.admin_token, "Floats").await;
    let path = format!("/projects/{project}/invites/");
    let created = app
        .post(
            &path,
            &app.admin_token,
            &json!({ "permission": "project:dialogues:read", "max_uses": 3.0, "expires_at": 9.0e12 }),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["max_uses"], 3);
    assert_eq!(created.body["expires_at"], 9_000_000_000_000_i64);
    let fractional =
        app.post(&path, &app.admin_token, &json!({ "permission": "project:dialogues:read", "max_uses": 2.5 })).await;
    fractional.assert_error(422, "validation_error");
    // Found by the fuzzer too: an integer beyond 64 bits is a 422, not a 500.
    let huge = json!({ "permission": "project:dialogues:read", "expires_at": 6.4e36 });
    app.post(&path, &app.admin_token, &huge).await.assert_error(422, "validation_error");
}
