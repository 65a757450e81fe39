//! REST calls the harness makes to set a run up (sign in, create projects and dialogues) and
//! to load the REST scenario.

use anyhow::{Context, bail};
use serde_json::{Value, json};

/// A signed-in REST client.
#[derive(Clone)]
pub struct Api {
    /// The HTTP client (keeps connections alive).
    pub http: reqwest::Client,
    /// `http://host:port`.
    pub base: String,
    /// Bearer token.
    pub token: String,
    /// Where every new project's webhook points (`--webhook`).
    pub webhook: Option<String>,
}

impl Api {
    /// Signs in.
    pub async fn sign_in(base: &str, email: &str, password: &str) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder().pool_max_idle_per_host(1024).build()?;
        let response = http
            .post(format!("{base}/auth/tokens"))
            .json(&json!({ "email": email, "password": password }))
            .send()
            .await
            .with_context(|| format!("cannot reach {base}"))?;
        if !response.status().is_success() {
            bail!("signing in failed: {}", response.text().await.unwrap_or_default());
        }
        let body: Value = response.json().await?;
        let token = body["token"].as_str().context("no token")?.to_owned();
        Ok(Self { http, base: base.to_owned(), token, webhook: None })
    }

    /// POSTs JSON; the response body when it succeeds.
    pub async fn post(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        let response =
            self.http.post(format!("{}{path}", self.base)).bearer_auth(&self.token).json(body).send().await?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            bail!("POST {path}: {status}: {body}");
        }
        Ok(body)
    }

    /// Creates a project (with a webhook, when the run has one); its id.
    pub async fn project(&self, title: &str) -> anyhow::Result<String> {
        let body = self.post("/projects/", &json!({ "title": title })).await?;
        let project = body["id"].as_str().context("no project id")?.to_owned();
        if let Some(url) = &self.webhook {
            let events = ["dialogue.created", "dialogue.changed", "release.created"];
            self.post(&format!("/projects/{project}/webhooks/"), &json!({ "url": url, "events": events })).await?;
        }
        Ok(project)
    }

    /// Creates a dialogue with one sequence of `blocks` message blocks (`b0`, `b1`, …); its id.
    pub async fn dialogue(&self, project: &str, blocks: usize) -> anyhow::Result<String> {
        let blocks: Vec<Value> = (0..blocks)
            .map(|i| json!({ "id": format!("b{i}"), "type": "message", "properties": { "text": "t" } }))
            .collect();
        let body = json!({ "title": "Bench", "sequences": [{ "id": "start", "title": "Start", "blocks": blocks }] });
        self.create_dialogue(project, &body).await
    }

    /// Creates a dialogue from a description (`title`, `sequences`); its id.
    pub async fn create_dialogue(&self, project: &str, description: &Value) -> anyhow::Result<String> {
        let created = self.post(&format!("/projects/{project}/dialogues/"), description).await?;
        Ok(created["id"].as_str().context("no dialogue id")?.to_owned())
    }
}
