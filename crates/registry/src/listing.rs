//! Tag list, catalog and referrers.

use crate::error::{ApiError, Code};
use crate::http::{AppState, Query};
use crate::manifests::OCI_INDEX;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// Items after `last`, at most `n` of them; the flag says whether more
/// follow (and so whether a `Link` header is due).
pub fn paginate(items: Vec<String>, n: Option<usize>, last: Option<&str>) -> (Vec<String>, bool) {
    let mut rest: Vec<String> = match last {
        Some(l) => items.into_iter().filter(|i| i.as_str() > l).collect(),
        None => items,
    };
    match n {
        Some(n) if rest.len() > n => {
            rest.truncate(n);
            (rest, true)
        }
        _ => (rest, false),
    }
}

fn page_params(query: &Query) -> Result<(Option<usize>, Option<&str>), ApiError> {
    let n = match query.get("n") {
        None => None,
        Some(v) => Some(v.parse::<usize>().map_err(|_| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                Code::Unsupported,
                "n must be a non-negative integer",
            )
        })?),
    };
    Ok((n, query.get("last").map(String::as_str)))
}

fn json_page(body: serde_json::Value, next: Option<String>) -> Response {
    let mut resp = (
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response();
    if let Some(link) = next
        && let Ok(v) = link.parse()
    {
        resp.headers_mut().insert(header::LINK, v);
    }
    resp
}

pub fn tags(state: &AppState, name: &str, query: &Query) -> Result<Response, ApiError> {
    if !state.store.repo_exists(name) {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            Code::NameUnknown,
            "repository name not known to registry",
        )
        .detail(json!({ "name": name })));
    }
    let (n, last) = page_params(query)?;
    let (page, more) = paginate(state.store.list_tags(name)?, n, last);
    let next = match (more, page.last(), n) {
        (true, Some(l), Some(n)) => Some(format!(
            "</v2/{name}/tags/list?n={n}&last={l}>; rel=\"next\""
        )),
        _ => None,
    };
    Ok(json_page(json!({ "name": name, "tags": page }), next))
}

pub fn catalog(state: &AppState, query: &Query) -> Result<Response, ApiError> {
    let (n, last) = page_params(query)?;
    let (page, more) = paginate(state.store.catalog()?, n, last);
    let next = match (more, page.last(), n) {
        (true, Some(l), Some(n)) => Some(format!("</v2/_catalog?n={n}&last={l}>; rel=\"next\"")),
        _ => None,
    };
    Ok(json_page(json!({ "repositories": page }), next))
}

/// An OCI index of the manifests in `name` whose `subject` is `digest`.
pub fn referrers(
    state: &AppState,
    name: &str,
    digest: &str,
    query: &Query,
) -> Result<Response, ApiError> {
    let filter = query.get("artifactType").filter(|s| !s.is_empty());
    let mut manifests = Vec::new();
    for rev in state.store.list_revisions(name)? {
        let Some(meta) = state.store.revision(name, &rev)? else {
            continue;
        };
        if meta.subject.as_deref() != Some(digest) {
            continue;
        }
        if filter.is_some_and(|f| meta.artifact_type.as_deref() != Some(f.as_str())) {
            continue;
        }
        let mut d = json!({ "mediaType": meta.media_type, "digest": rev, "size": meta.size });
        if let Some(a) = meta.artifact_type {
            d["artifactType"] = json!(a);
        }
        if let Some(a) = meta.annotations {
            d["annotations"] = a;
        }
        manifests.push(d);
    }
    let body = json!({ "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests });
    let mut resp = ([(header::CONTENT_TYPE, OCI_INDEX)], body.to_string()).into_response();
    if filter.is_some() {
        resp.headers_mut().insert(
            "OCI-Filters-Applied",
            header::HeaderValue::from_static("artifactType"),
        );
    }
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::paginate;

    #[test]
    fn pages() {
        let items: Vec<String> = ["a", "b", "c", "d"].iter().map(|s| s.to_string()).collect();
        assert_eq!(
            paginate(items.clone(), Some(2), None),
            (vec!["a".into(), "b".into()], true)
        );
        assert_eq!(
            paginate(items.clone(), Some(2), Some("b")),
            (vec!["c".into(), "d".into()], false)
        );
        assert_eq!(
            paginate(items.clone(), None, Some("c")),
            (vec!["d".into()], false)
        );
        assert_eq!(paginate(items, Some(0), None), (vec![], true));
    }
}
