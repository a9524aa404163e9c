//! berth's HTTP router and apps, seen from the API (issue 18), outside
//! Docker's API: `GET /berth/v1/routes` (`berth router ls`), and
//! `/berth/v1/apps[/{name}[/releases]]` (`berth app …`; the apps' git hooks
//! record releases there).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use hyper::StatusCode;
use router::apps::{self, AppError, AppStore};
use router::rollout::DockerApi;

use crate::apps_cluster::ClusterApps;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{ApiError, ApiResult, AppState};

/// The daemon's router (when `--router-addr` or `--router-tls-addr` is set)
/// and its apps.
#[derive(Clone)]
pub struct Berth {
    pub router: Option<Arc<router::Router>>,
    pub apps: Arc<AppStore>,
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/berth/v1/routes", get(list_routes))
        .route("/berth/v1/apps", get(list_apps).post(create_app))
        .route("/berth/v1/apps/{name}", get(app_info).delete(remove_app))
        .route("/berth/v1/apps/{name}/releases", post(release))
        .route("/berth/v1/apps/{name}/config", post(config))
        .route("/berth/v1/apps/{name}/domains", post(domains))
        .route("/berth/v1/apps/{name}/scale", post(scale))
        .route("/berth/v1/apps/{name}/registry", post(registry))
        .route("/berth/v1/apps/{name}/registry-auth", get(registry_auth))
        .route("/berth/v1/apps/{name}/rollout", post(rollout))
}

/// `POST /berth/v1/apps/{name}/rollout` with a `router::rollout::Plan`:
/// the daemon rolls the release out itself (see [`crate::roll_out`]), its
/// progress streamed back as JSON lines; what `berth app` and the apps' git
/// hooks ask for once a build is done.
async fn rollout(
    State(engine): State<AppState>,
    Extension(swarm): Extension<crate::swarm::SwarmState>,
    Extension(b): Extension<Berth>,
    Path(name): Path<String>,
    Json(plan): Json<router::rollout::Plan>,
) -> ApiResult<axum::response::Response> {
    let api = crate::InProcess(crate::router(engine, swarm, b));
    let info = api
        .call("GET", &format!("/berth/v1/apps/{}", router::q(&name)), None)
        .await
        .map_err(|e| ApiError::new(StatusCode::NOT_FOUND, e))?;
    Ok(crate::roll_out(api, name, info["App"].clone(), plan))
}

/// The swarm manager this daemon is, if it is one: apps run as its
/// services then (`router::rollout::swarm`).
async fn manager(swarm: &crate::swarm::SwarmState) -> Option<swarm::manager::Manager> {
    swarm.manager().await.ok()
}

/// The cluster's app records on a manager (see [`crate::apps_cluster`]).
async fn records(swarm: &crate::swarm::SwarmState) -> ApiResult<Option<ClusterApps>> {
    crate::apps_cluster::on_manager(swarm).await
}

fn dyn_records(r: &Option<ClusterApps>) -> Option<&dyn apps::SharedApps> {
    r.as_ref().map(|r| r as &dyn apps::SharedApps)
}

/// The app's services (check service aside), as the swarm holds them.
async fn services_of(
    m: &swarm::manager::Manager,
    name: &str,
) -> ApiResult<Vec<cluster::model::Service>> {
    let filters = swarm::manager::Filters(
        [("label".to_string(), vec![format!("{}={name}", apps::APP)])].into(),
    );
    Ok(m.services(&filters, swarm::manager::ServiceView::default())
        .await?
        .into_iter()
        .filter(|s| {
            s.spec
                .annotations
                .labels
                .get(apps::PROCESS)
                .map(String::as_str)
                != Some(router::rollout::swarm::CHECK)
        })
        .collect())
}

/// The app's services: name, process type, release, image, replicas and
/// running tasks.
async fn service_rows(m: &swarm::manager::Manager, name: &str) -> ApiResult<Vec<Value>> {
    let mut rows = Vec::new();
    for s in services_of(m, name).await? {
        let filters = swarm::manager::Filters(
            [
                ("service".to_string(), vec![s.id.clone()]),
                ("desired-state".to_string(), vec!["running".to_string()]),
            ]
            .into(),
        );
        let running = m
            .tasks(&filters)
            .await?
            .iter()
            .filter(|t| t.status.state == cluster::model::TaskState::Running)
            .count();
        let labels = &s.spec.annotations.labels;
        let label = |k: &str| labels.get(k).cloned().unwrap_or_default();
        let spec = serde_json::to_value(&s.spec).unwrap_or_default();
        rows.push(json!({
            "ID": s.id,
            "Name": s.spec.annotations.name,
            "Process": label(apps::PROCESS),
            "Release": label(apps::RELEASE),
            "Image": spec["TaskTemplate"]["ContainerSpec"]["Image"],
            "Replicas": spec["Mode"]["Replicated"]["Replicas"],
            "Running": running,
        }));
    }
    Ok(rows)
}

impl From<AppError> for ApiError {
    fn from(err: AppError) -> Self {
        let status = match &err {
            AppError::BadName(_) | AppError::BadDomain(_) | AppError::Invalid(_) => {
                StatusCode::BAD_REQUEST
            }
            AppError::Exists(_) | AppError::Claimed { .. } | AppError::Raced(_) => {
                StatusCode::CONFLICT
            }
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::Io { .. } | AppError::Git(_) => StatusCode::INTERNAL_SERVER_ERROR,
            AppError::Shared(_) => StatusCode::SERVICE_UNAVAILABLE,
        };
        ApiError::new(status, err.to_string())
    }
}

async fn list_routes(Extension(b): Extension<Berth>) -> ApiResult<Json<router::Report>> {
    let r = b.router.ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "the HTTP router is off: start the daemon with --router-addr (or --router-tls-addr)",
        )
    })?;
    Ok(Json(r.report()))
}

/// Every app: on a manager as the cluster holds them at this instant (this
/// node's files follow a moment later), else this node's.
async fn all_apps(b: &Berth, swarm: &crate::swarm::SwarmState) -> ApiResult<apps::Apps> {
    match records(swarm).await? {
        Some(r) => {
            let all = apps::SharedApps::load(&r).await?;
            // Freshest here too (the watch may not have brought it yet).
            b.apps.adopt(all.clone())?;
            Ok(all)
        }
        None => Ok(b
            .apps
            .list()
            .into_iter()
            .map(|a| (a.name.clone(), a))
            .collect()),
    }
}

async fn app_of(b: &Berth, swarm: &crate::swarm::SwarmState, name: &str) -> ApiResult<apps::App> {
    all_apps(b, swarm)
        .await?
        .remove(name)
        .ok_or_else(|| AppError::NotFound(name.to_string()).into())
}

async fn list_apps(
    Extension(b): Extension<Berth>,
    Extension(swarm): Extension<crate::swarm::SwarmState>,
) -> ApiResult<Json<Vec<apps::App>>> {
    Ok(Json(all_apps(&b, &swarm).await?.into_values().collect()))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateApp {
    name: String,
    #[serde(default)]
    domains: Vec<String>,
}

async fn create_app(
    Extension(b): Extension<Berth>,
    Extension(swarm): Extension<crate::swarm::SwarmState>,
    Json(req): Json<CreateApp>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let records = records(&swarm).await?;
    let app = b
        .apps
        .create(dyn_records(&records), &req.name, req.domains)
        .await?;
    let remote = b.apps.repo(&app.name);
    Ok((
        StatusCode::CREATED,
        Json(json!({"App": app, "Remote": remote})),
    ))
}

/// The app's containers: id, name, process type, release, state.
fn containers_of(engine: &AppState, name: &str) -> Vec<Value> {
    engine
        .containers()
        .iter()
        .filter(|c| {
            let labels = c.record.config.labels.as_ref();
            labels.and_then(|l| l.get(apps::APP)).map(String::as_str) == Some(name)
        })
        .map(|c| {
            let label = |k: &str| {
                c.record
                    .config
                    .labels
                    .as_ref()
                    .and_then(|l| l.get(k).cloned())
                    .unwrap_or_default()
            };
            json!({
                "Id": c.record.id,
                "Name": c.record.name,
                "Process": label(apps::PROCESS),
                "Release": label(apps::RELEASE),
                "State": c.state.status.as_str(),
            })
        })
        .collect()
}

async fn app_info(
    State(engine): State<AppState>,
    Extension(b): Extension<Berth>,
    Extension(swarm): Extension<crate::swarm::SwarmState>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    let app = app_of(&b, &swarm, &name).await?;
    let services = match manager(&swarm).await {
        Some(m) => service_rows(&m, &name).await?,
        None => Vec::new(),
    };
    Ok(Json(json!({
        "App": app,
        "Remote": b.apps.repo(&name),
        "Containers": containers_of(&engine, &name),
        "Services": services,
    })))
}

async fn remove_app(
    State(engine): State<AppState>,
    Extension(b): Extension<Berth>,
    Extension(swarm): Extension<crate::swarm::SwarmState>,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    app_of(&b, &swarm, &name).await?;
    if let Some(m) = manager(&swarm).await {
        // Its check service too: an interrupted deploy may have left one.
        let filters = swarm::manager::Filters(
            [("label".to_string(), vec![format!("{}={name}", apps::APP)])].into(),
        );
        for s in m
            .services(&filters, swarm::manager::ServiceView::default())
            .await?
        {
            m.remove_service(&s.id).await?;
        }
    }
    for c in containers_of(&engine, &name) {
        let id = c["Id"].as_str().unwrap_or_default().to_string();
        engine.remove(&id, true, false).await?;
    }
    let records = records(&swarm).await?;
    b.apps.remove(dyn_records(&records), &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn release(
    Extension(b): Extension<Berth>,
    Extension(swarm): Extension<crate::swarm::SwarmState>,
    Path(name): Path<String>,
    Json(req): Json<apps::NewRelease>,
) -> ApiResult<Json<apps::Release>> {
    let records = records(&swarm).await?;
    Ok(Json(
        b.apps.release(dyn_records(&records), &name, req).await?,
    ))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ConfigChange {
    #[serde(default)]
    set: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    unset: Vec<String>,
}

async fn config(
    Extension(b): Extension<Berth>,
    Extension(swarm): Extension<crate::swarm::SwarmState>,
    Path(name): Path<String>,
    Json(req): Json<ConfigChange>,
) -> ApiResult<Json<apps::App>> {
    let records = records(&swarm).await?;
    Ok(Json(
        b.apps
            .set_config(dyn_records(&records), &name, req.set, &req.unset)
            .await?,
    ))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DomainChange {
    #[serde(default)]
    add: Vec<String>,
    #[serde(default)]
    remove: Vec<String>,
}

async fn domains(
    Extension(b): Extension<Berth>,
    Extension(swarm): Extension<crate::swarm::SwarmState>,
    Path(name): Path<String>,
    Json(req): Json<DomainChange>,
) -> ApiResult<Json<apps::App>> {
    let records = records(&swarm).await?;
    let app = b
        .apps
        .set_domains(dyn_records(&records), &name, &req.add, &req.remove)
        .await?;
    // An app's web service carries its route to every node's router: its
    // host label follows the record (a label change replaces no task).
    if let Some(m) = manager(&swarm).await {
        for mut s in services_of(&m, &name).await? {
            let labels = &mut s.spec.annotations.labels;
            if !labels.contains_key(router::labels::HOST) {
                continue;
            }
            labels.insert(router::labels::HOST.to_string(), app.domains.join(","));
            let version = i64::try_from(s.meta.version.index).unwrap_or(i64::MAX);
            m.update_service(&s.id, version, s.spec, false).await?;
        }
    }
    Ok(Json(app))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RegistryChange {
    registry: String,
    /// With `password`: the account the app's pushes and its services'
    /// pulls use, checked against the registry first, as `docker login`.
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
}

async fn registry(
    State(engine): State<AppState>,
    Extension(b): Extension<Berth>,
    Extension(swarm): Extension<crate::swarm::SwarmState>,
    Path(name): Path<String>,
    Json(req): Json<RegistryChange>,
) -> ApiResult<Json<apps::App>> {
    let user = req.username.filter(|u| !u.is_empty());
    let login = match (user, req.password) {
        (None, None) => None,
        (Some(user), Some(password)) => {
            app_of(&b, &swarm, &name).await?;
            let domain = image::distribution::registry_domain(req.registry.trim());
            let credentials = image::distribution::Credentials::Basic {
                username: user.clone(),
                password: password.clone(),
            };
            let insecure = engine.insecure_registry(&domain);
            let server = domain.clone();
            let checked = tokio::task::spawn_blocking(move || {
                image::distribution::login(&server, &credentials, insecure)
            })
            .await
            .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
            match checked {
                Ok(()) => {}
                Err(image::ImageError::Unauthorized(message)) => {
                    return Err(ApiError::new(
                        StatusCode::UNAUTHORIZED,
                        format!("registry {}: {message}", req.registry.trim()),
                    ));
                }
                Err(e) => return Err(e.into()),
            }
            let auth = encode_auth(&domain, &user, &password);
            Some((user, auth))
        }
        _ => {
            return Err(ApiError::bad_request(
                "a registry login needs both Username and Password",
            ));
        }
    };
    let login = login.as_ref().map(|(u, a)| (u.as_str(), a.as_str()));
    let records = records(&swarm).await?;
    Ok(Json(
        b.apps
            .set_registry(dyn_records(&records), &name, &req.registry, login)
            .await?,
    ))
}

/// Docker's encoded auth config for `username` at `server`, as the CLI
/// sends it in `X-Registry-Auth`.
fn encode_auth(server: &str, username: &str, password: &str) -> String {
    use base64::Engine as _;
    let json = json!({"username": username, "password": password, "serveraddress": server});
    base64::engine::general_purpose::URL_SAFE.encode(json.to_string())
}

/// `GET /berth/v1/apps/{name}/registry-auth`: the app's encoded registry
/// credentials, for its rollouts (`router::rollout::swarm`) alone; `app
/// info` and the app's record never carry them.
async fn registry_auth(
    Extension(b): Extension<Berth>,
    Extension(swarm): Extension<crate::swarm::SwarmState>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    let records = records(&swarm).await?;
    let auth = b.apps.registry_auth(dyn_records(&records), &name).await?;
    Ok(Json(json!({ "Auth": auth })))
}

async fn scale(
    Extension(b): Extension<Berth>,
    Extension(swarm): Extension<crate::swarm::SwarmState>,
    Path(name): Path<String>,
    Json(req): Json<std::collections::BTreeMap<String, u32>>,
) -> ApiResult<Json<apps::App>> {
    let records = records(&swarm).await?;
    Ok(Json(
        b.apps.set_scale(dyn_records(&records), &name, req).await?,
    ))
}
