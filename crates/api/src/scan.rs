//! berth's own image scanning endpoints (issue 16), outside Docker's API:
//! `POST /berth/v1/images/{name}/scan`, `POST /berth/v1/scan/db/import`
//! (the body is the OSV source: a zip, a tar of .json files, or one .json),
//! `GET /berth/v1/scan/db` (the database's generation and import date).

use axum::extract::{Path, Request, State};
use axum::http::{StatusCode, Uri, header};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::TryStreamExt;
use scan::db::SourceKind;
use scan::{Filter, Report, ScanError, Scanner};
use serde_json::{Value, json};

use crate::query::Params;
use crate::{ApiError, ApiResult, AppState};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/berth/v1/images/{*rest}", post(scan_image))
        .route("/berth/v1/scan/db/import", post(import_db))
        .route("/berth/v1/scan/db", get(db_status))
}

impl From<ScanError> for ApiError {
    fn from(err: ScanError) -> Self {
        let status = match &err {
            ScanError::NoDatabase => StatusCode::CONFLICT,
            ScanError::BadSource(_) | ScanError::Zip(..) | ScanError::InvalidArgument(_) => {
                StatusCode::BAD_REQUEST
            }
            ScanError::NotImplemented(_) => StatusCode::NOT_IMPLEMENTED,
            ScanError::Io { .. } | ScanError::DamagedDatabase(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        ApiError::new(status, err.to_string())
    }
}

fn scanner(engine: &AppState) -> Scanner {
    Scanner::new(&engine.config().data_root)
}

fn join_error(e: tokio::task::JoinError) -> ApiError {
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
}

/// `severity=HIGH,CRITICAL` and `ignore-unfixed=1` filter what is returned.
fn filter_of(params: &Params) -> ApiResult<Filter> {
    let severities = match params.get("severity") {
        Some(list) => scan::report::parse_severities(list).map_err(ApiError::bad_request)?,
        None => Vec::new(),
    };
    Ok(Filter {
        severities,
        ignore_unfixed: params.bool("ignore-unfixed", false),
    })
}

async fn scan_image(
    State(engine): State<AppState>,
    Path(rest): Path<String>,
    uri: Uri,
) -> ApiResult<Json<Report>> {
    let name = rest
        .strip_suffix("/scan")
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "page not found"))?
        .to_string();
    let filter = filter_of(&Params::parse(uri.query()))?;
    let report = tokio::task::spawn_blocking(move || -> ApiResult<Report> {
        let (id, blobs) = engine.image_layer_blobs(&name)?;
        let layers = scan::layers::BlobFiles(blobs);
        Ok(scanner(&engine).scan(&name, &id, &layers)?)
    })
    .await
    .map_err(join_error)??;
    Ok(Json(report.filtered(&filter)))
}

async fn import_db(State(engine): State<AppState>, req: Request) -> ApiResult<Json<Value>> {
    let ctype = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let kind = match ctype.split(';').next().unwrap_or_default().trim() {
        "application/zip" => SourceKind::Zip,
        "application/x-tar" => SourceKind::Tar,
        "application/json" => SourceKind::Json,
        other => {
            return Err(ApiError::bad_request(format!(
                "Content-Type {other:?}: want application/zip, application/x-tar or application/json"
            )));
        }
    };
    let stream = req
        .into_body()
        .into_data_stream()
        .map_err(std::io::Error::other);
    let reader = tokio_util::io::SyncIoBridge::new(tokio_util::io::StreamReader::new(stream));
    let summary = tokio::task::spawn_blocking(move || scanner(&engine).import_stream(kind, reader))
        .await
        .map_err(join_error)??;
    Ok(Json(json!(summary)))
}

async fn db_status(State(engine): State<AppState>) -> ApiResult<Json<Value>> {
    let meta = tokio::task::spawn_blocking(move || scanner(&engine).db().meta())
        .await
        .map_err(join_error)??;
    Ok(Json(json!(meta)))
}
