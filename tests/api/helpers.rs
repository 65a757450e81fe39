//! The test harness: `spawn_app` starts the real application on a free port with a fresh
//! database, and typed helpers drive it over HTTP.

use std::path::PathBuf;
use std::time::Duration;

use actix_web::http::Method;
use actix_web::http::header::HeaderMap;
use dialogue_server::config::Settings;
use dialogue_server::mail::Mail;
use dialogue_server::startup::Application;
use secrecy::SecretString;
use serde_json::{Value, json};

/// The administrator every test app starts with.
pub const ADMIN_EMAIL: &str = "admin@example.org";
/// Their password.
pub const ADMIN_PASSWORD: &str = "admin password";
/// The password `create_user` gives everyone.
pub const USER_PASSWORD: &str = "user password";

/// The database every test uses, from `DIALOGUE_TEST_MONGODB_URI`.
pub fn test_database_uri() -> String {
    std::env::var("DIALOGUE_TEST_MONGODB_URI")
        .expect("DIALOGUE_TEST_MONGODB_URI is not set: run the suite with scripts/test, which starts a local database")
}

/// A running application in this process, and a client for it (`Deref` to [`Api`]).
pub struct TestApp {
    api: Api,
    /// The database name this test owns.
    pub database: String,
    /// Where mail lands.
    pub outbox: PathBuf,
    /// The application's shared state, for subscribing to events.
    pub state: actix_web::web::Data<dialogue_server::state::AppState>,
    /// `http://127.0.0.1:<port>` of the metrics listener, when the settings ask for one.
    pub metrics_address: Option<String>,
}

/// An HTTP client for one server (in this process or another), signed in as the bootstrap
/// administrator once the database is ready.
pub struct Api {
    /// `http://127.0.0.1:<port>`.
    pub address: String,
    /// A token of the bootstrap administrator.
    pub admin_token: String,
    client: awc::Client,
}

impl std::ops::Deref for TestApp {
    type Target = Api;

    fn deref(&self) -> &Api {
        &self.api
    }
}

impl Api {
    /// A client for the server at `address`, signed in as the bootstrap administrator.
    pub async fn connect(address: &str) -> Self {
        let mut api = Self::anonymous(address);
        api.admin_token = api.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        api
    }

    fn anonymous(address: &str) -> Self {
        let client = awc::Client::builder().timeout(Duration::from_secs(60)).disable_redirects().finish();
        Self { address: address.to_owned(), admin_token: String::new(), client }
    }
}

/// A response, read whole.
pub struct TestResponse {
    /// Status code.
    pub status: u16,
    /// Headers.
    pub headers: HeaderMap,
    /// Body parsed as JSON (`Null` when empty).
    pub body: Value,
    /// Raw body.
    pub raw: Vec<u8>,
}

impl TestResponse {
    /// A header's value as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }

    /// Asserts the status and the error type of an error response.
    #[track_caller]
    pub fn assert_error(&self, status: u16, kind: &str) {
        assert_eq!(self.status, status, "unexpected status; body: {}", self.body);
        assert_eq!(self.body["type"], kind, "unexpected error type; body: {}", self.body);
        assert!(self.body["message"].is_string(), "error without a message: {}", self.body);
        assert!(self.body["details"].is_object(), "error without details: {}", self.body);
        assert_eq!(self.header("content-type"), Some("application/json"));
    }
}

/// Settings for a test app: a fresh database, a bootstrap admin, an outbox, port 0.
pub fn test_settings() -> (Settings, PathBuf) {
    let mut settings = Settings::defaults();
    let id = uuid::Uuid::new_v4().simple().to_string();
    settings.bind = "127.0.0.1:0".into();
    settings.mongodb_uri = SecretString::from(test_database_uri());
    settings.database = format!("test_{id}");
    settings.admin_email = Some(ADMIN_EMAIL.into());
    settings.admin_password = Some(SecretString::from(ADMIN_PASSWORD));
    settings.workers = 1;
    settings.log = std::env::var("TEST_LOG").unwrap_or_else(|_| "off".into());
    let outbox = std::env::temp_dir().join(format!("dialogue-outbox-{id}"));
    settings.mail_outbox = Some(outbox.clone());
    (settings, outbox)
}

/// Starts an app with the default test settings.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts an app after `adjust` changed the test settings.
pub async fn spawn_app_with(adjust: impl FnOnce(&mut Settings)) -> TestApp {
    let (mut settings, outbox) = test_settings();
    adjust(&mut settings);
    dialogue_server::telemetry::init(&settings);
    let database = settings.database.clone();
    let application = Application::build(settings).await.expect("the application builds");
    let port = application.port();
    let metrics_address = application.metrics_port().map(|port| format!("http://127.0.0.1:{port}"));
    let state = application.state();
    actix_web::rt::spawn(application.run_until_stopped());
    let mut api = Api::anonymous(&format!("http://127.0.0.1:{port}"));
    if state.is_store_ready() {
        api.admin_token = api.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    }
    TestApp { api, database, outbox, state, metrics_address }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // The test's runtime ends with the test: stop the dialogue actors' threads with it.
        self.state.dialogues.shutdown();
        // And its mail: a suite run used to leave a directory per test in the temp directory.
        let _ = std::fs::remove_dir_all(&self.outbox);
    }
}

impl Api {
    /// Sends a request with an optional bearer token and an optional raw body.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        content_type: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> TestResponse {
        self.send_with(method, path, token, content_type, body, &[]).await
    }

    /// Like `send`, with extra headers.
    pub async fn send_with(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        content_type: Option<&str>,
        body: Option<Vec<u8>>,
        headers: &[(&str, &str)],
    ) -> TestResponse {
        let mut request = self.client.request(method, format!("{}{}", self.address, path));
        for (name, value) in headers {
            request = request.append_header((*name, *value));
        }
        if let Some(token) = token {
            request = request.insert_header(("Authorization", format!("Bearer {token}")));
        }
        if let Some(content_type) = content_type {
            request = request.insert_header(("Content-Type", content_type));
        }
        let mut response = match body {
            Some(body) => request.send_body(body).await,
            None => request.send().await,
        }
        .expect("the request reaches the server");
        let raw = response.body().limit(64 * 1024 * 1024).await.expect("the body arrives").to_vec();
        let json =
            response.headers().get("content-type").and_then(|v| v.to_str().ok()).is_none_or(|v| v.contains("json"));
        let body = if raw.is_empty() || !json {
            Value::Null
        } else {
            serde_json::from_slice(&raw).unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&raw)))
        };
        TestResponse { status: response.status().as_u16(), headers: response.headers().clone(), body, raw }
    }

    /// A JSON request.
    pub async fn json(&self, method: Method, path: &str, token: Option<&str>, body: &Value) -> TestResponse {
        self.send(method, path, token, Some("application/json"), Some(body.to_string().into_bytes())).await
    }

    /// GET.
    pub async fn get(&self, path: &str, token: &str) -> TestResponse {
        self.send(Method::GET, path, Some(token), None, None).await
    }

    /// POST a JSON body.
    pub async fn post(&self, path: &str, token: &str, body: &Value) -> TestResponse {
        self.json(Method::POST, path, Some(token), body).await
    }

    /// PUT a JSON body.
    pub async fn put(&self, path: &str, token: &str, body: &Value) -> TestResponse {
        self.json(Method::PUT, path, Some(token), body).await
    }

    /// PATCH with a JSON Patch body.
    pub async fn patch(&self, path: &str, token: &str, patch: &Value) -> TestResponse {
        let body = Some(patch.to_string().into_bytes());
        self.send(Method::PATCH, path, Some(token), Some("application/json-patch+json"), body).await
    }

    /// DELETE.
    pub async fn delete(&self, path: &str, token: &str) -> TestResponse {
        self.send(Method::DELETE, path, Some(token), None, None).await
    }

    /// Signs in and returns the bearer token.
    pub async fn login(&self, email: &str, password: &str) -> String {
        let response =
            self.json(Method::POST, "/auth/tokens", None, &json!({ "email": email, "password": password })).await;
        assert_eq!(response.status, 201, "login failed: {}", response.body);
        response.body["token"].as_str().expect("a token").to_owned()
    }

    /// Creates a user (as the admin) and signs them in; returns their id and token.
    pub async fn create_user(&self, email: &str) -> (String, String) {
        let response = self
            .post(
                "/users/",
                &self.admin_token,
                &json!({ "email": email, "password": USER_PASSWORD, "first_name": "Test", "last_name": "User" }),
            )
            .await;
        assert_eq!(response.status, 201, "user creation failed: {}", response.body);
        let id = response.body["id"].as_str().expect("an id").to_owned();
        (id, self.login(email, USER_PASSWORD).await)
    }

    /// Grants a permission as `granter`, asserting success; returns the permission.
    pub async fn grant(&self, granter: &str, user_id: &str, permission: Value) -> Value {
        let response = self.post(&format!("/users/{user_id}/permissions/"), granter, &permission).await;
        assert_eq!(response.status, 201, "grant failed: {}", response.body);
        response.body
    }
}

impl TestApp {
    /// Waits for the next mail sent by the app (subscribe before causing it).
    pub async fn next_mail(receiver: &mut tokio::sync::broadcast::Receiver<Mail>) -> Mail {
        tokio::time::timeout(Duration::from_secs(30), receiver.recv())
            .await
            .expect("a mail is sent")
            .expect("the mail channel is open")
    }

    /// The mails in the outbox directory, parsed.
    pub fn outbox_mails(&self) -> Vec<Value> {
        let Ok(entries) = std::fs::read_dir(&self.outbox) else { return Vec::new() };
        let mut mails: Vec<(String, Value)> = entries
            .filter_map(Result::ok)
            .filter(|entry| entry.file_name().to_string_lossy().ends_with(".json"))
            .filter(|entry| !entry.file_name().to_string_lossy().starts_with('.'))
            .map(|entry| {
                let text = std::fs::read_to_string(entry.path()).expect("readable mail");
                (entry.file_name().to_string_lossy().into_owned(), serde_json::from_str(&text).expect("JSON mail"))
            })
            .collect();
        mails.sort_by(|a, b| a.0.cmp(&b.0));
        mails.into_iter().map(|(_, mail)| mail).collect()
    }
}

/// A unique e-mail address for this test run.
pub fn unique_email(name: &str) -> String {
    format!("{name}-{}@example.org", uuid::Uuid::new_v4().simple())
}

/// A small valid dialogue: a start sequence that asks a choice leading to `thanks`.
pub fn sample_dialogue(title: &str) -> Value {
    json!({
        "title": title,
        "sequences": [
            {
                "id": "start",
                "title": "Start",
                "blocks": [
                    { "id": "hello", "type": "message", "properties": { "text": "Welcome!" } },
                    { "id": "rate", "type": "choice", "title": "Rate us", "properties": {
                        "question": "How did we do?",
                        "choices": [{ "label": "Good", "next": "thanks" }, { "label": "Bad", "next": "thanks" }]
                    } }
                ]
            },
            { "id": "thanks", "title": "Thanks", "blocks": [{ "id": "bye", "type": "end", "properties": { "text": "Thank you" } }] }
        ]
    })
}

impl Api {
    /// Creates a project, asserting success; returns its id.
    pub async fn create_project(&self, token: &str, title: &str) -> String {
        let response = self.post("/projects/", token, &json!({ "title": title })).await;
        assert_eq!(response.status, 201, "project creation failed: {}", response.body);
        response.body["id"].as_str().expect("an id").to_owned()
    }

    /// Creates a dialogue, asserting success; returns its description.
    pub async fn create_dialogue(&self, token: &str, project: &str, body: &Value) -> Value {
        let response = self.post(&format!("/projects/{project}/dialogues/"), token, body).await;
        assert_eq!(response.status, 201, "dialogue creation failed: {}", response.body);
        response.body
    }

    /// A new user holding exactly `permission` (none when `Null`); returns id and token.
    pub async fn user_with(&self, name: &str, permission: Value) -> (String, String) {
        let (id, token) = self.create_user(&unique_email(name)).await;
        if !permission.is_null() {
            self.grant(&self.admin_token, &id, permission).await;
        }
        (id, token)
    }

    /// A new user whose only grant is `kind` (`dialogue:read` or `dialogue:write`) on one new
    /// dialogue of `project` (created by `creator`); the user's token.
    pub async fn user_with_one_dialogue(&self, name: &str, creator: &str, project: &str, kind: &str) -> String {
        let dialogue = self.create_dialogue(creator, project, &sample_dialogue("One")).await;
        let grant = json!({ "type": kind, "properties": { "project_id": project, "dialogue_id": dialogue["id"] } });
        self.user_with(name, grant).await.1
    }
}

/// The stored part of a description: what revisions' patches apply to.
pub fn content_of(description: &Value) -> Value {
    json!({
        "title": description["title"],
        "sequences": description["sequences"],
        "is_archived": description["is_archived"],
    })
}

/// Applies each revision's patch, in order, to `initial`.
pub fn replay(initial: &Value, revisions: &[Value]) -> Value {
    let mut state = initial.clone();
    for revision in revisions {
        let patch: json_patch::Patch =
            serde_json::from_value(revision["properties"]["patch"].clone()).expect("a stored patch");
        json_patch::patch(&mut state, &patch).expect("stored patches apply in order");
    }
    state
}

impl Api {
    /// Every revision of a dialogue, oldest first.
    pub async fn all_revisions(&self, token: &str, dialogue_path: &str) -> Vec<Value> {
        let mut all = Vec::new();
        for page in 1.. {
            let response =
                self.get(&format!("{dialogue_path}/revisions/?ordering=number&per_page=100&page={page}"), token).await;
            assert_eq!(response.status, 200, "{}", response.body);
            let items = response.body.as_array().expect("a list").clone();
            let done = items.len() < 100;
            all.extend(items);
            if done {
                break;
            }
        }
        all
    }
}

/// A patch that appends a message block with id `id` to the first sequence.
pub fn append_block(id: &str) -> Value {
    json!([{ "op": "add", "path": "/sequences/0/blocks/-", "value": { "id": id, "type": "message", "properties": { "text": id } } }])
}

/// A collection of the test's database `database`, straight from the driver: for what a test
/// must see or change below the API.
pub async fn raw_collection(database: &str, name: &str) -> mongodb::Collection<mongodb::bson::Document> {
    let client = mongodb::Client::with_uri_str(test_database_uri()).await.unwrap();
    client.database(database).collection(name)
}

/// Waits (bounded, a minute) until `ready` holds, polling every 50 ms: for states the test can
/// only observe by asking (a database record, a log entry), not subscribe to.
pub async fn eventually(what: &str, mut ready: impl AsyncFnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !ready().await {
        assert!(std::time::Instant::now() < deadline, "{what} did not happen");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
