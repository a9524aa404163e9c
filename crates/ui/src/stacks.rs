//! `POST /api/stacks/{name}`: deploys a compose file (the request's body)
//! as `docker stack deploy -c FILE NAME` does: converted here (the CLI
//! converts client-side; a browser cannot), checked whole before anything
//! is made, then networks, inline secrets and configs, and services created
//! through the Docker API in-process; a service that exists already is
//! updated with its version. Objects this deploy created are removed again
//! if a later step fails. Listing and removing stacks are plain Docker API
//! calls the page makes (services by their namespace label), as the CLI's.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use router::rollout::DockerApi;
use serde_json::{Value, json};

use crate::compose::{self, NAMESPACE, Stack};
use crate::inproc::{InProcess, q};
use crate::state::Ui;

pub async fn deploy(State(ui): State<Arc<Ui>>, Path(name): Path<String>, body: String) -> Response {
    let stack = match compose::convert(&name, &body) {
        Ok(s) => s,
        Err(e) => return refuse(StatusCode::BAD_REQUEST, e.to_string()),
    };
    match apply(&InProcess(ui.docker.clone()), stack).await {
        Ok(report) => Json(report).into_response(),
        Err((status, msg)) => refuse(status, msg),
    }
}

fn refuse(status: StatusCode, message: String) -> Response {
    (status, Json(json!({ "message": message }))).into_response()
}

type Failed = (StatusCode, String);

fn label_filter(stack: &str) -> String {
    q(&json!({"label": [format!("{NAMESPACE}={stack}")]}).to_string())
}

/// Name → ID of the API's list at `path` (secrets, configs).
async fn ids_by_name<D: DockerApi>(
    api: &D,
    path: &str,
) -> Result<BTreeMap<String, String>, Failed> {
    let list = api.call("GET", path, None).await.map_err(internal)?;
    Ok(list
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|o| {
            Some((
                o["Spec"]["Name"].as_str()?.to_string(),
                o["ID"].as_str()?.to_string(),
            ))
        })
        .collect())
}

fn internal(e: String) -> Failed {
    (StatusCode::INTERNAL_SERVER_ERROR, e)
}

async fn apply<D: DockerApi>(api: &D, mut stack: Stack) -> Result<Value, Failed> {
    let info = api.call("GET", "/info", None).await.map_err(internal)?;
    if info["Swarm"]["ControlAvailable"] != true {
        return Err((
            StatusCode::SERVICE_UNAVAILABLE,
            "this node is not a swarm manager: stacks are deployed on a manager (docker swarm init, or the manager's dashboard)".into(),
        ));
    }
    for n in &stack.external_networks {
        let net = api
            .call("GET", &format!("/networks/{}", q(n)), None)
            .await
            .map_err(|_| {
                (
                    StatusCode::BAD_REQUEST,
                    format!("network {n:?} is declared as external, but could not be found. You need to create a swarm-scoped network before the stack is deployed"),
                )
            })?;
        if net["Scope"] != "swarm" {
            return Err((
                StatusCode::BAD_REQUEST,
                format!(
                    "network {n:?} is declared as external, but it is not in the right scope: {:?} instead of \"swarm\"",
                    net["Scope"].as_str().unwrap_or_default()
                ),
            ));
        }
    }
    let mut secrets = ids_by_name(api, "/secrets").await?;
    let mut configs = ids_by_name(api, "/configs").await?;
    for (names, have, kind) in [
        (&stack.external_secrets, &secrets, "secret"),
        (&stack.external_configs, &configs, "config"),
    ] {
        if let Some(missing) = names.iter().find(|n| !have.contains_key(*n)) {
            return Err((
                StatusCode::BAD_REQUEST,
                format!("{kind} not found: {missing}: create it first (it is external)"),
            ));
        }
    }
    let filter = label_filter(&stack.name);
    let services = api
        .call("GET", &format!("/services?filters={filter}"), None)
        .await
        .map_err(internal)?;
    let existing: BTreeMap<String, (String, u64)> = services
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| {
            Some((
                s["Spec"]["Name"].as_str()?.to_string(),
                (
                    s["ID"].as_str()?.to_string(),
                    s["Version"]["Index"].as_u64()?,
                ),
            ))
        })
        .collect();
    let nets = api
        .call("GET", &format!("/networks?filters={filter}"), None)
        .await
        .map_err(internal)?;
    let have_nets: Vec<String> = nets
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|n| n["Name"].as_str().map(str::to_string))
        .collect();

    let mut made: Vec<(&str, String)> = Vec::new();
    let mut report = json!({"Created": [], "Updated": [], "Warnings": stack.warnings});
    let result = async {
        for net in &stack.networks {
            let name = net["Name"].as_str().unwrap_or_default();
            if have_nets.iter().any(|n| n == name) {
                continue;
            }
            let r = api.call("POST", "/networks/create", Some(net)).await?;
            made.push(("networks", r["Id"].as_str().unwrap_or(name).to_string()));
        }
        for (bodies, ids, kind) in [
            (&stack.secrets, &mut secrets, "secrets"),
            (&stack.configs, &mut configs, "configs"),
        ] {
            for b in bodies {
                let name = b["Name"].as_str().unwrap_or_default().to_string();
                // Secrets cannot change: one of the name is kept, as it is.
                if ids.contains_key(&name) {
                    continue;
                }
                let r = api
                    .call("POST", &format!("/{kind}/create"), Some(b))
                    .await?;
                let id = r["ID"].as_str().unwrap_or_default().to_string();
                made.push((kind, id.clone()));
                ids.insert(name, id);
            }
        }
        for spec in &mut stack.services {
            link_ids(spec, "Secrets", "SecretName", "SecretID", &secrets);
            link_ids(spec, "Configs", "ConfigName", "ConfigID", &configs);
            let name = spec["Name"].as_str().unwrap_or_default().to_string();
            match existing.get(&name) {
                Some((id, version)) => {
                    let r = api
                        .call(
                            "POST",
                            &format!("/services/{id}/update?version={version}"),
                            Some(spec),
                        )
                        .await
                        .map_err(|e| format!("updating service {name}: {e}"))?;
                    push_warnings(&mut report, &r);
                    push(&mut report, "Updated", &name);
                }
                None => {
                    let r = api
                        .call("POST", "/services/create", Some(spec))
                        .await
                        .map_err(|e| format!("creating service {name}: {e}"))?;
                    made.push(("services", r["ID"].as_str().unwrap_or_default().to_string()));
                    push_warnings(&mut report, &r);
                    push(&mut report, "Created", &name);
                }
            }
        }
        Ok::<(), String>(())
    }
    .await;
    if let Err(e) = result {
        // Nothing half-made: what this deploy created goes, newest first.
        for (kind, id) in made.iter().rev() {
            let _ = api.call("DELETE", &format!("/{kind}/{id}"), None).await;
        }
        return Err((StatusCode::BAD_REQUEST, e));
    }
    Ok(report)
}

/// References by name get the ID the API wants (the CLI looks them up too).
fn link_ids(
    spec: &mut Value,
    list: &str,
    name_key: &str,
    id_key: &str,
    ids: &BTreeMap<String, String>,
) {
    let Some(refs) = spec["TaskTemplate"]["ContainerSpec"][list].as_array_mut() else {
        return;
    };
    for r in refs {
        if let Some(id) = r[name_key].as_str().and_then(|n| ids.get(n)) {
            r[id_key] = json!(id);
        }
    }
}

fn push(report: &mut Value, key: &str, name: &str) {
    if let Some(a) = report[key].as_array_mut() {
        a.push(json!(name));
    }
}

fn push_warnings(report: &mut Value, answer: &Value) {
    for w in answer["Warnings"].as_array().into_iter().flatten() {
        if let Some(a) = report["Warnings"].as_array_mut() {
            a.push(w.clone());
        }
    }
}
