//! The permission table of the project and dialogue endpoints: every kind of caller against
//! every endpoint, with the exact status each must get.

use actix_web::http::Method;
use serde_json::{Value, json};

use crate::helpers::{sample_dialogue, spawn_app};

/// One endpoint of the table: a name, the request, and the status each caller must get.
type Row = (&'static str, Method, String, Option<Value>, [u16; 8]);

#[actix_web::test]
async fn every_permission_type_against_every_endpoint() {
    let app = spawn_app().await;
    let p = app.create_project(&app.admin_token, "P").await;
    let d1 = app.create_dialogue(&app.admin_token, &p, &sample_dialogue("D1")).await["id"].as_str().unwrap().to_owned();
    let d2 = app.create_dialogue(&app.admin_token, &p, &sample_dialogue("D2")).await["id"].as_str().unwrap().to_owned();
    let scoped = |kind: &str| json!({ "type": kind, "properties": { "project_id": p } });
    let dialogue_scoped = |kind: &str| json!({ "type": kind, "properties": { "project_id": p, "dialogue_id": d1 } });

    // (name, grant, project count in GET /projects/, dialogues visible in P)
    let callers: Vec<(&str, Value, usize, usize)> = vec![
        ("none", Value::Null, 0, 0),
        ("admin", json!({ "type": "admin" }), 1, 2),
        ("projects:create", json!({ "type": "projects:create" }), 0, 0),
        ("project:admin", scoped("project:admin"), 1, 2),
        ("project:dialogues:read", scoped("project:dialogues:read"), 1, 2),
        ("project:dialogues:write", scoped("project:dialogues:write"), 1, 2),
        ("dialogue:read", dialogue_scoped("dialogue:read"), 1, 1),
        ("dialogue:write", dialogue_scoped("dialogue:write"), 1, 1),
    ];
    // Expected statuses, one column per caller in the order above.
    //                                     none admin pc   padm read write dread dwrite
    let table: Vec<Row> = vec![
        ("list projects", Method::GET, "/projects/".into(), None, [200, 200, 200, 200, 200, 200, 200, 200]),
        (
            "create project",
            Method::POST,
            "/projects/".into(),
            Some(json!({ "title": "New" })),
            [403, 201, 201, 403, 403, 403, 403, 403],
        ),
        ("get project", Method::GET, format!("/projects/{p}"), None, [404, 200, 404, 200, 200, 200, 200, 200]),
        (
            "put project",
            Method::PUT,
            format!("/projects/{p}"),
            Some(json!({ "title": "P" })),
            [404, 200, 404, 200, 403, 403, 403, 403],
        ),
        (
            "patch project",
            Method::PATCH,
            format!("/projects/{p}"),
            Some(json!([{ "op": "replace", "path": "/title", "value": "P" }])),
            [404, 200, 404, 200, 403, 403, 403, 403],
        ),
        (
            "list dialogues",
            Method::GET,
            format!("/projects/{p}/dialogues/"),
            None,
            [404, 200, 404, 200, 200, 200, 200, 200],
        ),
        (
            "create dialogue",
            Method::POST,
            format!("/projects/{p}/dialogues/"),
            Some(sample_dialogue("New")),
            [404, 201, 404, 201, 403, 403, 403, 403],
        ),
        (
            "get granted dialogue",
            Method::GET,
            format!("/projects/{p}/dialogues/{d1}"),
            None,
            [404, 200, 404, 200, 200, 200, 200, 200],
        ),
        (
            "get other dialogue",
            Method::GET,
            format!("/projects/{p}/dialogues/{d2}"),
            None,
            [404, 200, 404, 200, 200, 200, 404, 404],
        ),
        ("block types", Method::GET, "/block-types/".into(), None, [200, 200, 200, 200, 200, 200, 200, 200]),
        ("delete project", Method::DELETE, format!("/projects/{p}"), None, [404, 0, 404, 403, 403, 403, 403, 403]),
    ];

    for (column, (name, grant, projects, dialogues)) in callers.iter().enumerate() {
        let (_, token) = app.user_with(name.replace(':', "-").as_str(), grant.clone()).await;
        for (endpoint, method, path, body, expected) in &table {
            let want = expected[column];
            if want == 0 {
                continue; // checked separately, so the project survives the table
            }
            let response = match (method.clone(), body) {
                (Method::PATCH, Some(body)) => app.patch(path, &token, body).await,
                (method, Some(body)) => app.json(method, path, Some(&token), body).await,
                (method, None) => app.send(method, path, Some(&token), None, None).await,
            };
            assert_eq!(response.status, want, "{name} → {endpoint}: {}", response.body);
        }
        let listed = app.get("/projects/", &token).await;
        let in_p = listed.body.as_array().unwrap().iter().filter(|project| project["id"] == p.as_str()).count();
        let expected_in_p = usize::from(*projects > 0);
        assert_eq!(in_p, expected_in_p, "{name}: projects listed");
        if *dialogues > 0 {
            let project = app.get(&format!("/projects/{p}"), &token).await;
            let visible = project.body["dialogues"].as_array().unwrap();
            let originals = visible.iter().filter(|d| d["id"] == d1.as_str() || d["id"] == d2.as_str()).count();
            assert_eq!(originals, *dialogues, "{name}: dialogues visible in the project");
            let granted = app.get(&format!("/projects/{p}/dialogues/{d1}"), &token).await;
            let can_edit = matches!(*name, "admin" | "project:admin" | "project:dialogues:write" | "dialogue:write");
            assert_eq!(granted.body["can_edit"], can_edit, "{name}: can_edit");
            assert_eq!(granted.body["can_view"], true, "{name}: can_view");
        }
    }

    let throwaway = app.create_project(&app.admin_token, "Throwaway").await;
    assert_eq!(app.delete(&format!("/projects/{throwaway}"), &app.admin_token).await.status, 204);
}
