//! What route handlers start from, as extractors: [`Ctx`] (the authenticated caller and the
//! application state), [`InProject`] (a project the caller can see, from the path) and
//! [`InDialogue`] (a dialogue the caller can view, with their access and the request's
//! `If-Match`). Each refuses with the contract's error before the handler runs, so handlers
//! hold only what is particular to them.

use std::future::{Future, Ready, ready};
use std::net::IpAddr;
use std::ops::Deref;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header::{ETAG, IF_MATCH, LOCATION};
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use serde_json::{Value, json};

use crate::auth::{Action, Caller};
use crate::dialogue::change::Change;
use crate::dialogue::description::{self, Access};
use crate::dialogue::{Head, WriteRequest};
use crate::error::ApiError;
use crate::http::client_address::client_address;
use crate::state::AppState;
use crate::store::ProjectRecord;

/// The authenticated caller and the application state.
pub struct Ctx {
    /// Who calls.
    pub caller: Caller,
    /// The application.
    pub state: web::Data<AppState>,
}

impl Ctx {
    /// `403` unless the caller may do `action`.
    pub fn require(&self, action: Action<'_>) -> Result<(), ApiError> {
        self.caller.require(action)
    }
}

fn state_of(req: &HttpRequest) -> Result<web::Data<AppState>, ApiError> {
    req.app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("AppState missing from app data")))
}

/// A path parameter that the route pattern guarantees.
fn path_param(req: &HttpRequest, name: &str) -> Result<String, ApiError> {
    req.match_info()
        .get(name)
        .map(str::to_owned)
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("the route has no {{{name}}}")))
}

type Extracted<T> = Pin<Box<dyn Future<Output = Result<T, ApiError>>>>;

impl FromRequest for Ctx {
    type Error = ApiError;
    type Future = Extracted<Self>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let caller = Caller::from_request(req, payload);
        let state = state_of(req);
        Box::pin(async move { Ok(Self { caller: caller.await?, state: state? }) })
    }
}

/// A request that needs no authentication: the application state and the client's address
/// (the TCP peer, or the client behind trusted proxies), which throttles count against.
pub struct Anonymous {
    /// The application.
    pub state: web::Data<AppState>,
    /// Where the request comes from.
    pub client: Option<IpAddr>,
}

impl FromRequest for Anonymous {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(state_of(req).map(|state| {
            let client = client_address(req, &state.settings.trusted_proxies);
            Self { state, client }
        }))
    }
}

/// `/projects/{project_id}/…` for a project the caller can see; `404` when it does not exist or
/// they cannot see it.
pub struct InProject {
    /// The caller and the state.
    pub ctx: Ctx,
    /// The project.
    pub project: ProjectRecord,
}

impl Deref for InProject {
    type Target = Ctx;

    fn deref(&self) -> &Ctx {
        &self.ctx
    }
}

impl InProject {
    /// The project's id.
    pub fn id(&self) -> &str {
        &self.project.id
    }

    /// Loads the project `id` if the caller may see it.
    pub async fn load(ctx: Ctx, id: &str) -> Result<Self, ApiError> {
        if !ctx.caller.may(Action::ViewProject { project: id }) {
            return Err(ApiError::not_found("Project", id));
        }
        let project = ctx.state.store.project_by_id(id).await?.ok_or_else(|| ApiError::not_found("Project", id))?;
        Ok(Self { ctx, project })
    }
}

impl FromRequest for InProject {
    type Error = ApiError;
    type Future = Extracted<Self>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let ctx = Ctx::from_request(req, payload);
        let id = path_param(req, "project_id");
        Box::pin(async move { Self::load(ctx.await?, &id?).await })
    }
}

/// `/projects/{project_id}/dialogues/{dialogue_id}/…` for a dialogue the caller can view; `404`
/// when they cannot (whether it exists is checked by what the handler does with it).
pub struct InDialogue {
    /// The caller and the state.
    pub ctx: Ctx,
    /// The project in the path.
    pub project_id: String,
    /// The dialogue in the path.
    pub dialogue_id: String,
    /// What the caller may do with it.
    pub access: Access,
    /// The request's `If-Match`.
    pub if_match: Option<String>,
}

impl Deref for InDialogue {
    type Target = Ctx;

    fn deref(&self) -> &Ctx {
        &self.ctx
    }
}

impl FromRequest for InDialogue {
    type Error = ApiError;
    type Future = Extracted<Self>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let ctx = Ctx::from_request(req, payload);
        let ids = path_param(req, "project_id").and_then(|p| Ok((p, path_param(req, "dialogue_id")?)));
        // Several `If-Match` lines are one list (RFC 9110 §5.3).
        let lines: Vec<&str> = req.headers().get_all(IF_MATCH).filter_map(|value| value.to_str().ok()).collect();
        let if_match = (!lines.is_empty()).then(|| lines.join(", "));
        Box::pin(async move {
            let ctx = ctx.await?;
            let (project_id, dialogue_id) = ids?;
            let access = Access::of(&ctx.caller.principal, &project_id, &dialogue_id);
            if !access.can_view {
                return Err(dialogue_not_found(&project_id, &dialogue_id));
            }
            Ok(Self { ctx, project_id, dialogue_id, access, if_match })
        })
    }
}

/// An [`InDialogue`] the caller may edit; `403` when they can only view it.
pub struct EditableDialogue(pub InDialogue);

impl Deref for EditableDialogue {
    type Target = InDialogue;

    fn deref(&self) -> &InDialogue {
        &self.0
    }
}

impl FromRequest for EditableDialogue {
    type Error = ApiError;
    type Future = Extracted<Self>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let dialogue = InDialogue::from_request(req, payload);
        Box::pin(async move {
            let dialogue = dialogue.await?;
            if !dialogue.access.can_edit {
                return Err(ApiError::Forbidden("You cannot edit this dialogue".into()));
            }
            Ok(Self(dialogue))
        })
    }
}

impl InDialogue {
    /// `404` for this dialogue, with the ids from the request.
    pub fn not_found(&self) -> ApiError {
        dialogue_not_found(&self.project_id, &self.dialogue_id)
    }

    /// The dialogue's stored state, from its actor (`404` when it does not exist here).
    pub async fn head(&self) -> Result<Head, ApiError> {
        self.state.dialogues.describe(&self.project_id, &self.dialogue_id).await.map_err(|error| match error {
            ApiError::NotFound { .. } => self.not_found(),
            other => other,
        })
    }

    /// `404` unless the dialogue exists in the project; asks its actor when one runs here, the
    /// store otherwise (no actor is started just to answer this).
    pub async fn exists(&self) -> Result<(), ApiError> {
        if self.state.dialogues.exists(&self.project_id, &self.dialogue_id).await? {
            Ok(())
        } else {
            Err(self.not_found())
        }
    }

    /// A write of `changes` by the caller, with the request's `If-Match`.
    pub fn write(&self, changes: Vec<Change>) -> WriteRequest {
        WriteRequest::by(&self.caller, &self.project_id, &self.dialogue_id, changes).if_match(self.if_match.clone())
    }

    /// A `200` with the dialogue's description (its content serialized once per revision, not
    /// per request) and its `ETag`.
    pub fn respond(&self, head: &Head) -> HttpResponse {
        HttpResponse::Ok()
            .insert_header((ETAG, etag(head.revision_id())))
            .content_type("application/json")
            .body(description::describe_json(head, self.access))
    }
}

/// `404` for a dialogue, with the ids from the request.
pub fn dialogue_not_found(project_id: &str, dialogue_id: &str) -> ApiError {
    ApiError::NotFound {
        message: format!("Dialogue {dialogue_id} not found"),
        details: json!({ "id": dialogue_id, "project_id": project_id }),
    }
}

/// The `ETag` of a dialogue state: its revision id, or `""` before the first revision.
pub fn etag(revision_id: Option<&str>) -> String {
    format!("\"{}\"", revision_id.unwrap_or_default())
}

/// How many times an optimistic write is tried before it answers `409`.
const OPTIMISTIC_ATTEMPTS: usize = 5;

/// Optimistic concurrency: runs `attempt` (a fresh read, then a write conditional on the
/// version read) again whenever another writer got in between, which it says by answering
/// `None`; after a few tries, `409 conflict` about `what`.
pub async fn until_unchanged<T>(
    what: &str,
    mut attempt: impl AsyncFnMut() -> Result<Option<T>, ApiError>,
) -> Result<T, ApiError> {
    for _ in 0..OPTIMISTIC_ATTEMPTS {
        if let Some(done) = attempt().await? {
            return Ok(done);
        }
    }
    Err(ApiError::conflict(format!("{what} was changed concurrently; retry")))
}

/// A `201` with a new resource's description, located at its `url`.
pub fn created(description: Value) -> HttpResponse {
    let mut response = HttpResponse::Created();
    if let Some(url) = description.get("url").and_then(Value::as_str) {
        response.insert_header((LOCATION, url.to_owned()));
    }
    response.json(description)
}
