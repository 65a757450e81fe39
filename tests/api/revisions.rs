use dialogue_server::store::StoreCounters;
use futures_util::future::join_all;
use serde_json::{Value, json};

use crate::helpers::{TestApp, append_block, content_of, replay, sample_dialogue, spawn_app, spawn_app_with};

/// A project and a dialogue; returns the dialogue's path and its initial description.
async fn dialogue(app: &TestApp) -> (String, Value) {
    let project = app.create_project(&app.admin_token, "Revisions").await;
    let created = app.create_dialogue(&app.admin_token, &project, &sample_dialogue("Survey")).await;
    (created["url"].as_str().unwrap().to_owned(), created)
}

#[actix_web::test]
async fn put_stores_the_difference_as_one_edit_and_nothing_when_unchanged() {
    let app = spawn_app().await;
    let (path, initial) = dialogue(&app).await;
    let mut changed = initial.clone();
    changed["title"] = json!("Renamed");
    changed["sequences"][1]["title"] = json!("Thank you");
    let put = app.put(&path, &app.admin_token, &changed).await;
    assert_eq!(put.status, 200, "{}", put.body);
    assert_eq!(put.body["title"], "Renamed");
    assert_eq!(put.body["has_changes"], true);
    let revision_id = put.body["revision_id"].as_str().unwrap().to_owned();
    assert_eq!(put.header("etag"), Some(format!("\"{revision_id}\"").as_str()));

    let revisions = app.all_revisions(&app.admin_token, &path).await;
    assert_eq!(revisions.len(), 1);
    let revision = &revisions[0];
    assert_eq!(revision["number"], 1);
    assert_eq!(revision["type"], "edit");
    assert_eq!(revision["id"], revision_id.as_str());
    assert_eq!(revision["user_id"], app.get("/user", &app.admin_token).await.body["id"]);
    assert!(revision["created"].as_i64().is_some());
    assert_eq!(replay(&content_of(&initial), &revisions), content_of(&put.body), "the stored patch is the difference");

    let same = app.put(&path, &app.admin_token, &put.body).await;
    assert_eq!(same.status, 200);
    assert_eq!(same.body["revision_id"], revision_id.as_str());
    assert_eq!(app.all_revisions(&app.admin_token, &path).await.len(), 1, "an unchanged PUT stores no revision");
}

#[actix_web::test]
async fn a_failed_patch_leaves_no_trace() {
    let app = spawn_app().await;
    let (path, initial) = dialogue(&app).await;
    let failing = app
        .patch(
            &path,
            &app.admin_token,
            &json!([
                { "op": "replace", "path": "/title", "value": "Changed" },
                { "op": "test", "path": "/sequences/0/id", "value": "not-start" }
            ]),
        )
        .await;
    failing.assert_error(409, "patch_conflict");
    assert_eq!(failing.body["details"]["index"], 1);
    let invalid = app
        .patch(&path, &app.admin_token, &json!([{ "op": "replace", "path": "/sequences/0/id", "value": "Bad Id" }]))
        .await;
    invalid.assert_error(422, "validation_error");
    assert_eq!(invalid.body["details"]["errors"][0]["path"], "/sequences/0/id");
    let dangling = app.patch(&path, &app.admin_token, &json!([{ "op": "remove", "path": "/sequences/1" }])).await;
    dangling.assert_error(422, "validation_error");
    assert_eq!(dangling.body["details"]["errors"][0]["type"], "reference");
    let read_only =
        app.patch(&path, &app.admin_token, &json!([{ "op": "replace", "path": "/has_changes", "value": true }])).await;
    read_only.assert_error(422, "validation_error");
    assert_eq!(read_only.body["details"]["errors"][0]["type"], "readOnly");

    assert_eq!(app.all_revisions(&app.admin_token, &path).await.len(), 0);
    assert_eq!(app.get(&path, &app.admin_token).await.body, initial);
}

#[actix_web::test]
async fn a_bulk_request_is_all_or_nothing() {
    let app = spawn_app().await;
    let (path, initial) = dialogue(&app).await;
    let edit = |patch: Value| json!({ "type": "edit", "properties": { "edit_type": "test", "patch": patch } });
    let bad_bulk = json!([
        edit(append_block("one")),
        edit(append_block("two")),
        edit(json!([{ "op": "remove", "path": "/sequences/7" }]))
    ]);
    let refused = app.post(&format!("{path}/revisions/"), &app.admin_token, &bad_bulk).await;
    refused.assert_error(409, "patch_conflict");
    assert_eq!(app.all_revisions(&app.admin_token, &path).await.len(), 0, "none of the bulk was stored");

    let invalid_bulk = json!([edit(append_block("one")), { "type": "edit", "properties": {} }]);
    let refused = app.post(&format!("{path}/revisions/"), &app.admin_token, &invalid_bulk).await;
    refused.assert_error(422, "validation_error");
    assert_eq!(refused.body["details"]["errors"][0]["path"], "/1/properties/patch");

    let good = json!([edit(append_block("one")), edit(append_block("two")), edit(append_block("three"))]);
    let created = app.post(&format!("{path}/revisions/"), &app.admin_token, &good).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let numbers: Vec<i64> = created.body.as_array().unwrap().iter().map(|r| r["number"].as_i64().unwrap()).collect();
    assert_eq!(numbers, vec![1, 2, 3]);
    assert_eq!(created.body[0]["properties"]["edit_type"], "test");
    let revisions = app.all_revisions(&app.admin_token, &path).await;
    assert_eq!(replay(&content_of(&initial), &revisions), content_of(&app.get(&path, &app.admin_token).await.body));
}

#[actix_web::test]
async fn single_revisions_take_client_timestamps_and_refuse_read_only_fields() {
    let app = spawn_app().await;
    let (path, _) = dialogue(&app).await;
    let body = json!({
        "type": "edit",
        "created": 1459943775033_i64,
        "details": { "id": "start", "title": "Start of sequence" },
        "properties": { "edit_type": "new_block", "patch": append_block("new") }
    });
    let created = app.post(&format!("{path}/revisions/"), &app.admin_token, &body).await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["created"], 1459943775033_i64);
    assert_eq!(created.body["details"], body["details"]);
    assert_eq!(created.body["number"], 1);
    let url = created.body["url"].as_str().unwrap();
    assert_eq!(app.get(url, &app.admin_token).await.body, created.body);

    // A time a millisecond count cannot hold exactly is refused, not clamped or rounded.
    for beyond in [json!(1e30), json!(9007199254740993_i64)] {
        let mut late = body.clone();
        late["created"] = beyond;
        let refused = app.post(&format!("{path}/revisions/"), &app.admin_token, &late).await;
        refused.assert_error(422, "validation_error");
        assert_eq!(refused.body["details"]["errors"][0]["path"], "/created", "{}", refused.body);
    }

    let mut with_number = body.clone();
    with_number["number"] = json!(7);
    let refused = app.post(&format!("{path}/revisions/"), &app.admin_token, &with_number).await;
    refused.assert_error(422, "validation_error");
    assert_eq!(refused.body["details"]["errors"][0]["path"], "/number");
    let unknown_type =
        app.post(&format!("{path}/revisions/"), &app.admin_token, &json!({ "type": "merge", "properties": {} })).await;
    unknown_type.assert_error(422, "validation_error");
}

#[actix_web::test]
async fn revisions_are_ordered_and_paged() {
    let app = spawn_app().await;
    let (path, _) = dialogue(&app).await;
    for (n, created) in [(1, 3000), (2, 1000), (3, 2000)] {
        let body =
            json!({ "type": "edit", "created": created, "properties": { "patch": append_block(&format!("b{n}")) } });
        assert_eq!(app.post(&format!("{path}/revisions/"), &app.admin_token, &body).await.status, 201);
    }
    let numbers =
        |body: &Value| body.as_array().unwrap().iter().map(|r| r["number"].as_i64().unwrap()).collect::<Vec<_>>();
    let default = app.get(&format!("{path}/revisions/"), &app.admin_token).await;
    assert_eq!(numbers(&default.body), vec![3, 2, 1], "default -number");
    assert_eq!(default.header("x-total-count"), Some("3"));
    let by_created = app.get(&format!("{path}/revisions/?ordering=created"), &app.admin_token).await;
    assert_eq!(numbers(&by_created.body), vec![2, 3, 1]);
    let by_created_desc = app.get(&format!("{path}/revisions/?ordering=-created"), &app.admin_token).await;
    assert_eq!(numbers(&by_created_desc.body), vec![1, 3, 2]);
    let paged = app.get(&format!("{path}/revisions/?ordering=number&per_page=2&page=2"), &app.admin_token).await;
    assert_eq!(numbers(&paged.body), vec![3]);
    assert!(paged.header("link").unwrap().contains("ordering=number"));
    app.get(&format!("{path}/revisions/?ordering=title"), &app.admin_token).await.assert_error(422, "validation_error");
}

#[actix_web::test]
async fn a_page_of_large_revisions_is_listed_whole_and_as_each_is_read() {
    let app = spawn_app().await;
    let (path, _) = dialogue(&app).await;
    // Six revisions of 3.5 MiB each: more than one batch of the database's cursor (16 MiB).
    for n in 0..6 {
        let note = format!("{n}").repeat(3_500_000);
        let body = json!({ "type": "edit", "details": { "note": note }, "properties": { "patch": append_block(&format!("big{n}")) } });
        assert_eq!(app.post(&format!("{path}/revisions/"), &app.admin_token, &body).await.status, 201);
    }
    let listed = app.get(&format!("{path}/revisions/?ordering=number&per_page=100"), &app.admin_token).await;
    assert_eq!(listed.status, 200);
    assert_eq!(listed.header("x-total-count"), Some("6"));
    assert_eq!(listed.header("content-length"), None, "a page past 1 MiB is streamed as it is read");
    // (A page under 1 MiB is sent whole, with its length: `limits::head_answers_wherever_get_does`.)
    let items = listed.body.as_array().expect("the page parses as one array");
    assert_eq!(items.iter().map(|r| r["number"].as_i64().unwrap()).collect::<Vec<_>>(), [1, 2, 3, 4, 5, 6]);
    for item in items {
        let single = app.get(&format!("{path}/revisions/{}", item["id"].as_str().unwrap()), &app.admin_token).await;
        assert_eq!(&single.body, item, "the list describes a revision as its own GET does");
        assert_eq!(item["details"]["note"].as_str().unwrap().len(), 3_500_000);
    }
}

#[actix_web::test]
async fn a_stored_revision_that_does_not_describe_fails_its_page_with_a_status_and_lines_are_joined() {
    use mongodb::bson::doc;
    let app = spawn_app().await;
    let (path, _) = dialogue(&app).await;
    for n in 0..3 {
        assert_eq!(app.patch(&path, &app.admin_token, &append_block(&format!("b{n}"))).await.status, 200);
    }
    let revisions = crate::helpers::raw_collection(&app.database, "revisions").await;
    // Written by something else than the server (a restore, a migration): line breaks between
    // the tokens of revision 1, which must not reach a frame or a list as they are.
    let spread = "[\n  {\"op\": \"replace\", \"path\": \"/title\", \"value\": \"T\"}\r\n]";
    revisions.update_one(doc! { "number": 1 }, doc! { "$set": { "patch": spread, "details": "{\n}" } }).await.unwrap();
    let listed = app.get(&format!("{path}/revisions/?ordering=number"), &app.admin_token).await;
    assert_eq!(listed.status, 200);
    assert!(!listed.raw.contains(&b'\n'), "the stored line breaks are spaces in the list");
    assert_eq!(listed.body[0]["properties"]["patch"][0]["value"], "T");
    // Text that is not JSON: the page fails as a whole, with a status, not a cut body.
    revisions.update_one(doc! { "number": 2 }, doc! { "$set": { "patch": "[{" } }).await.unwrap();
    app.get(&format!("{path}/revisions/"), &app.admin_token).await.assert_error(500, "internal_error");
    let fine = app.get(&format!("{path}/revisions/?ordering=number&per_page=1"), &app.admin_token).await;
    assert_eq!(fine.status, 200, "pages without it are served");
}

#[actix_web::test]
async fn a_revert_brings_back_the_state_right_after_its_revision() {
    let app = spawn_app_with(|settings| settings.snapshot_interval = 2).await;
    let (path, initial) = dialogue(&app).await;
    let mut states = vec![content_of(&initial)];
    for n in 1..=5 {
        let response = app.patch(&path, &app.admin_token, &append_block(&format!("b{n}"))).await;
        assert_eq!(response.status, 200, "{}", response.body);
        states.push(content_of(&response.body));
    }
    let revisions = app.all_revisions(&app.admin_token, &path).await;
    for target in [1, 3, 4] {
        let revision_id = revisions[target - 1]["id"].as_str().unwrap();
        let revert = json!({ "type": "revert", "properties": { "revision_id": revision_id } });
        let created = app.post(&format!("{path}/revisions/"), &app.admin_token, &revert).await;
        assert_eq!(created.status, 201, "{}", created.body);
        assert_eq!(created.body["type"], "revert");
        assert_eq!(created.body["properties"]["revision_id"], revision_id);
        assert!(created.body["properties"]["patch"].is_array(), "the applied patch is stored");
        let now = app.get(&path, &app.admin_token).await;
        assert_eq!(content_of(&now.body), states[target], "revert to {target}");
    }
    let all = app.all_revisions(&app.admin_token, &path).await;
    assert_eq!(replay(&content_of(&initial), &all), content_of(&app.get(&path, &app.admin_token).await.body));

    let unknown = json!({ "type": "revert", "properties": { "revision_id": "nope" } });
    let refused = app.post(&format!("{path}/revisions/"), &app.admin_token, &unknown).await;
    refused.assert_error(422, "validation_error");
    assert_eq!(refused.body["details"]["errors"][0]["path"], "/properties/revision_id");
}

#[actix_web::test]
async fn if_match_guards_every_write() {
    use actix_web::http::Method;
    let app = spawn_app().await;
    let (path, initial) = dialogue(&app).await;
    let token = Some(app.admin_token.as_str());
    let first_etag = app.get(&path, &app.admin_token).await.header("etag").unwrap().to_owned();
    let patch_with = |tag: String, patch: Value| {
        let path = path.clone();
        let app = &app;
        async move {
            let body = Some(patch.to_string().into_bytes());
            app.send_with(Method::PATCH, &path, token, Some("application/json-patch+json"), body, &[("If-Match", &tag)])
                .await
        }
    };
    let matching = patch_with(first_etag.clone(), append_block("a")).await;
    assert_eq!(matching.status, 200, "{}", matching.body);
    let second_etag = matching.header("etag").unwrap().to_owned();
    assert_ne!(second_etag, first_etag);

    patch_with(first_etag.clone(), append_block("b")).await.assert_error(412, "precondition_failed");
    let body = Some(content_of(&initial).to_string().into_bytes());
    let put = app
        .send_with(Method::PUT, &path, token, Some("application/json"), body.clone(), &[("If-Match", &first_etag)])
        .await;
    put.assert_error(412, "precondition_failed");
    let put =
        app.send_with(Method::PUT, &path, token, Some("application/json"), body, &[("If-Match", &second_etag)]).await;
    assert_eq!(put.status, 200, "{}", put.body);
    let revision = json!({ "type": "edit", "properties": { "patch": append_block("z") } }).to_string().into_bytes();
    let post = app
        .send_with(
            Method::POST,
            &format!("{path}/revisions/"),
            token,
            Some("application/json"),
            Some(revision),
            &[("If-Match", "\"nope\"")],
        )
        .await;
    post.assert_error(412, "precondition_failed");
    assert_eq!(patch_with("*".into(), append_block("c")).await.status, 200, "* matches any state");
    // Two `If-Match` lines are one list: one of them matching is enough.
    let current = app.get(&path, &app.admin_token).await.header("etag").unwrap().to_owned();
    let body = Some(append_block("d").to_string().into_bytes());
    let either = [("If-Match", "\"nope\""), ("If-Match", current.as_str())];
    let listed = app.send_with(Method::PATCH, &path, token, Some("application/json-patch+json"), body, &either).await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    assert_eq!(app.all_revisions(&app.admin_token, &path).await.len(), 4, "refused writes stored nothing");
}

#[actix_web::test]
async fn only_project_admins_archive_dialogues() {
    let app = spawn_app().await;
    let project = app.create_project(&app.admin_token, "Archive").await;
    let created = app.create_dialogue(&app.admin_token, &project, &sample_dialogue("D")).await;
    let path = created["url"].as_str().unwrap();
    let (_, writer) = app
        .user_with("writer", json!({ "type": "project:dialogues:write", "properties": { "project_id": project } }))
        .await;
    let archive = json!([{ "op": "replace", "path": "/is_archived", "value": true }]);
    app.patch(path, &writer, &archive).await.assert_error(403, "forbidden");
    assert_eq!(app.patch(path, &writer, &append_block("ok")).await.status, 200, "writers still edit");
    let archived = app.patch(path, &app.admin_token, &archive).await;
    assert_eq!(archived.status, 200);
    assert_eq!(archived.body["is_archived"], true);
    let listed = app.get(&format!("/projects/{project}/dialogues/?is_archived=true"), &writer).await;
    assert_eq!(listed.body.as_array().unwrap().len(), 1);
}

#[actix_web::test]
async fn two_hundred_concurrent_patches_get_numbers_without_gaps() {
    let app = spawn_app().await;
    let (path, initial) = dialogue(&app).await;
    let project = path.split('/').nth(2).unwrap().to_owned();
    let mut tokens = vec![app.admin_token.clone()];
    for n in 0..3 {
        let grant = json!({ "type": "project:dialogues:write", "properties": { "project_id": project } });
        tokens.push(app.user_with(&format!("editor{n}"), grant).await.1);
    }
    let requests = (0..200).map(|i| {
        let token = tokens[i % tokens.len()].clone();
        let path = path.clone();
        let app = &app;
        async move { app.patch(&path, &token, &append_block(&format!("block-{i}"))).await }
    });
    let responses = join_all(requests).await;
    assert!(responses.iter().all(|r| r.status == 200), "every patch is stored");

    let revisions = app.all_revisions(&app.admin_token, &path).await;
    let numbers: Vec<i64> = revisions.iter().map(|r| r["number"].as_i64().unwrap()).collect();
    assert_eq!(numbers, (1..=200).collect::<Vec<_>>());
    let current = app.get(&path, &app.admin_token).await.body;
    assert_eq!(replay(&content_of(&initial), &revisions), content_of(&current));
    assert_eq!(current["sequences"][0]["blocks"].as_array().unwrap().len(), 2 + 200);
}

#[actix_web::test]
async fn reads_that_only_need_to_know_the_dialogue_exists_start_no_actor() {
    let app = spawn_app().await;
    let (path, created) = dialogue(&app).await;
    let dialogue_id = created["id"].as_str().unwrap();
    // Creating a dialogue may leave its actor running; start from none (an evicted actor is
    // counted until it has stopped).
    app.state.dialogues.evict(dialogue_id).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while app.state.dialogues.running().await > 0 {
        assert!(std::time::Instant::now() < deadline, "the evicted actor did not stop");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    for list in ["revisions/", "releases/"] {
        assert_eq!(app.get(&format!("{path}/{list}"), &app.admin_token).await.status, 200);
    }
    let missing = path.replace(dialogue_id, "no-such-dialogue");
    for list in ["revisions/", "releases/"] {
        app.get(&format!("{missing}/{list}"), &app.admin_token).await.assert_error(404, "not_found");
    }
    assert_eq!(app.state.dialogues.running().await, 0, "lists and 404s are answered without an actor");
    // The dialogue itself is read through its actor, which then runs.
    assert_eq!(app.get(&path, &app.admin_token).await.status, 200);
    assert_eq!(app.state.dialogues.running().await, 1);
}

#[actix_web::test]
async fn idle_actors_stop_and_come_back_on_demand() {
    let app = spawn_app_with(|settings| settings.actor_idle_secs = 1).await;
    let (path, _) = dialogue(&app).await;
    assert_eq!(app.patch(&path, &app.admin_token, &append_block("x")).await.status, 200);
    assert_eq!(app.state.dialogues.running().await, 1);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while app.state.dialogues.running().await > 0 {
        assert!(std::time::Instant::now() < deadline, "the idle actor did not stop");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let again = app.get(&path, &app.admin_token).await;
    assert_eq!(again.status, 200);
    assert_eq!(again.body["sequences"][0]["blocks"].as_array().unwrap().len(), 3, "state reloads from the store");
}

#[actix_web::test]
async fn a_failing_patch_in_a_busy_batch_fails_only_its_caller() {
    let app = spawn_app().await;
    let (path, initial) = dialogue(&app).await;
    let counters = app.state.store.counters();
    let batches_before = StoreCounters::get(&counters.revision_batches);
    let requests = (0..60).map(|i| {
        let path = path.clone();
        let app = &app;
        async move {
            let patch = if i % 6 == 5 {
                json!([{ "op": "remove", "path": format!("/sequences/{}", 100 + i) }])
            } else if i % 6 == 4 {
                json!([{ "op": "replace", "path": "/title", "value": i }])
            } else {
                append_block(&format!("ok-{i}"))
            };
            (i, app.patch(&path, &app.admin_token, &patch).await.status)
        }
    });
    for (i, status) in join_all(requests).await {
        let expected = match i % 6 {
            5 => 409,
            4 => 422,
            _ => 200,
        };
        assert_eq!(status, expected, "request {i}");
    }
    let revisions = app.all_revisions(&app.admin_token, &path).await;
    assert_eq!(revisions.len(), 40);
    let numbers: Vec<i64> = revisions.iter().map(|r| r["number"].as_i64().unwrap()).collect();
    assert_eq!(numbers, (1..=40).collect::<Vec<_>>());
    assert_eq!(replay(&content_of(&initial), &revisions), content_of(&app.get(&path, &app.admin_token).await.body));
    // The 40 revisions were stored in fewer inserts than revisions: batches formed, and the
    // refused patches among them failed only their callers.
    let batches = StoreCounters::get(&counters.revision_batches) - batches_before;
    assert!(batches < 40, "{batches} inserts for 40 revisions: no batch formed");
}
