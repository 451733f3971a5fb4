//! The technician's mobile task API (`/api/v1/tech/…`). A technician login sees and changes only
//! the repair orders assigned to it: anybody else's is 404, whatever the route. Every write
//! takes an `Idempotency-Key` header, so a request retried over a flaky mobile network is applied
//! once and answered the same.

use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::StatusCode;
use axum::Json;
use base64::Engine;
use chrono::{DateTime, Duration, Timelike, Utc};
use crm_core::field::*;
use crm_core::model::Role;
use crm_core::types::{GeoPoint, Text};
use crm_core::StoreError;
use dispatch::candidates::Point;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::AuthUser;
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{is_json, parse_json, Id};
use super::AppState;
use fieldops::FieldEvent;

pub fn router() -> OpenApiRouter<AppState> {
    let (paths, spec, photos) = routes!(add_photo);
    OpenApiRouter::new()
        .routes(routes!(list_tasks))
        .routes(routes!(get_task))
        .routes(routes!(change_status))
        .routes(routes!(report))
        .routes(routes!(use_part))
        // Photos are larger than JSON bodies; the handler enforces its own limit while reading.
        .routes((paths, spec, photos.layer(axum::extract::DefaultBodyLimit::disable())))
        .routes(routes!(sign))
        .routes(routes!(report_position))
        .routes(routes!(get_photo))
        .routes(routes!(get_signature))
}

/// The technician record behind the login; other roles are refused.
pub(super) fn technician(me: &AuthUser) -> ApiResult<i64> {
    me.require(&[Role::Technician])?;
    me.user.technician_id.ok_or_else(ApiError::forbidden)
}

const IDEMPOTENCY_KEY: &str = "Idempotency-Key";

fn idempotency_key(req_headers: &axum::http::HeaderMap) -> ApiResult<Option<String>> {
    let Some(v) = req_headers.get(IDEMPOTENCY_KEY) else {
        return Ok(None);
    };
    let key = v
        .to_str()
        .ok()
        .filter(|k| (1..=255).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic()))
        .ok_or_else(|| ApiError::bad_request(Some(IDEMPOTENCY_KEY), "1 to 255 visible ASCII characters"))?;
    Ok(Some(key.to_string()))
}

fn fingerprint(parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p);
    }
    hex::encode(h.finalize())
}

/// A JSON write body with its idempotency key; the fingerprint covers method, path and body.
pub struct Write<T> {
    body: T,
    idempotency: Option<Idempotency>,
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Write<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let key = idempotency_key(req.headers())?;
        if !is_json(req.headers()) {
            return Err(ApiError::unsupported_media_type());
        }
        let method = req.method().as_str().to_string();
        let path = req.uri().path().to_string();
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| ApiError::bad_request(None, format!("cannot read body: {e}")))?;
        let body = parse_json(&bytes)?;
        Ok(Write {
            body,
            idempotency: key.map(|key| Idempotency {
                key,
                fingerprint: fingerprint(&[method.as_bytes(), path.as_bytes(), &bytes]),
            }),
        })
    }
}

async fn apply(
    st: &AppState,
    me: &AuthUser,
    tech: i64,
    id: i64,
    idem: Option<&Idempotency>,
    w: &TaskWrite,
) -> ApiResult<Task> {
    match st.store.task_write(me.actor(), tech, id, idem, w).await {
        Ok(task) => {
            st.field.publish(FieldEvent::Task {
                repair_order_id: id,
                technician_id: tech,
                status: task.status,
            });
            Ok(task)
        }
        Err(StoreError::Conflict { field, message }) if field == "action" => {
            let mut e = ApiError::from(StoreError::Conflict { field, message });
            if let Ok(task) = st.store.tech_task(tech, id).await {
                e.body.allowed = Some(task.allowed.iter().map(|a| a.as_str().to_string()).collect());
            }
            Err(e)
        }
        Err(e) => Err(e.into()),
    }
}

// ------------------------------------------------------------------------------------ reading

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Day {
    /// On today's route, in visiting order.
    Today,
    /// Planned for a later day.
    Upcoming,
    /// Not yet scheduled.
    Unscheduled,
    /// Finished today.
    Done,
}

#[derive(Serialize, ToSchema)]
pub struct TaskItem {
    #[serde(flatten)]
    pub task: Task,
    pub day: Day,
    /// The visit's day at the technician's station (wall clock), when it is planned.
    pub visit_date: Option<chrono::NaiveDate>,
    /// Estimated arrival, from the technician's last reported position (today's open visits).
    pub eta: Option<DateTime<Utc>>,
}

/// The technician's own tasks: today's route in order with ETAs, then upcoming and unscheduled
/// ones, then those finished today.
#[utoipa::path(get, path = "/api/v1/tech/tasks", tag = "technician", security(("bearer" = [])),
    responses((status = 200, body = Vec<TaskItem>), (status = 403, body = ErrorBody)))]
async fn list_tasks(State(st): State<AppState>, me: AuthUser) -> ApiResult<Json<Vec<TaskItem>>> {
    let tech = technician(&me)?;
    let now = Utc::now();
    let midnight = now - Duration::seconds(i64::from(now.time().num_seconds_from_midnight()));
    let tasks = st.store.tech_tasks(tech, midnight).await?;
    let me_tech = st.store.get_technician(tech).await?;
    // Days are the station's: a visit at 00:30 in Berlin is tomorrow's there.
    let tz = st.store.get_station(me_tech.station_id).await?.time_zone.tz();
    let today = now.with_timezone(&tz).date_naive();
    let from = match me_tech.location {
        Some(l) => Some(l),
        None => st.store.get_station(me_tech.station_id).await.ok().map(|s| s.location),
    };
    let mut items: Vec<TaskItem> = tasks
        .into_iter()
        .map(|task| {
            let finished = matches!(task.status, TaskStatus::Completed | TaskStatus::CannotComplete);
            let visit_date = task.scheduled_for.map(|s| s.with_timezone(&tz).date_naive());
            let day = match visit_date {
                _ if finished => Day::Done,
                None => Day::Unscheduled,
                Some(d) if d <= today => Day::Today,
                Some(_) => Day::Upcoming,
            };
            TaskItem {
                task,
                day,
                visit_date,
                eta: None,
            }
        })
        .collect();
    let rank = |d: Day| match d {
        Day::Today => 0,
        Day::Upcoming => 1,
        Day::Unscheduled => 2,
        Day::Done => 3,
    };
    items.sort_by_key(|i| {
        (
            rank(i.day),
            i.task.route_seq.unwrap_or(u32::MAX),
            i.task.scheduled_for,
            i.task.repair_order_id,
        )
    });
    if let Some(from) = from {
        let travel = st.field.travel(from.lat);
        let today_idx: Vec<usize> = (0..items.len()).filter(|&i| items[i].day == Day::Today).collect();
        let visits: Vec<_> = today_idx
            .iter()
            .map(|&i| {
                let t = &items[i].task;
                let at = t.customer.address.as_ref().and_then(|a| a.location).unwrap_or(from);
                (
                    Point {
                        lat: at.lat,
                        lon: at.lon,
                    },
                    t.scheduled_for,
                    t.duration_minutes,
                    t.check_in.as_ref().map(|c| c.at),
                )
            })
            .collect();
        let etas = fieldops::etas(
            &travel,
            now,
            Point {
                lat: from.lat,
                lon: from.lon,
            },
            &visits,
        );
        for (&i, eta) in today_idx.iter().zip(etas) {
            items[i].eta = Some(eta);
        }
    }
    Ok(Json(items))
}

#[utoipa::path(get, path = "/api/v1/tech/tasks/{id}", tag = "technician", params(("id" = i64, Path)), security(("bearer" = [])),
    responses((status = 200, body = Task), (status = 404, body = ErrorBody)))]
async fn get_task(State(st): State<AppState>, me: AuthUser, Id(id): Id) -> ApiResult<Json<Task>> {
    let tech = technician(&me)?;
    Ok(Json(st.store.tech_task(tech, id).await?))
}

// ------------------------------------------------------------------------------------ writes

/// Move the task along: `accept`, `depart` (en route), `check_in` (on site; send `location`, the
/// distance from the customer's address is recorded), `pause`, `resume`, `complete` (needs the
/// work done and labour hours reported), `cannot_complete` (send `reason`). An action not allowed
/// now is 409, with `allowed` listing the ones that are.
#[utoipa::path(post, path = "/api/v1/tech/tasks/{id}/status", tag = "technician", params(("id" = i64, Path),
    ("Idempotency-Key" = Option<String>, Header, pattern = "^[\\x21-\\x7e]{1,255}$", description = "Retries with the same key are applied once and answered the same")),
    request_body = TaskStep, security(("bearer" = [])),
    responses((status = 200, body = Task), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn change_status(
    State(st): State<AppState>,
    me: AuthUser,
    Id(id): Id,
    w: Write<TaskStep>,
) -> ApiResult<Json<Task>> {
    let tech = technician(&me)?;
    let task = apply(&st, &me, tech, id, w.idempotency.as_ref(), &TaskWrite::Step(w.body)).await?;
    Ok(Json(task))
}

/// Record the diagnosis (a fault code from the model's catalogue), the work done and labour
/// hours. Fields left out keep their value. On site or paused only.
#[utoipa::path(put, path = "/api/v1/tech/tasks/{id}/report", tag = "technician", params(("id" = i64, Path),
    ("Idempotency-Key" = Option<String>, Header, pattern = "^[\\x21-\\x7e]{1,255}$")),
    request_body = TaskReport, security(("bearer" = [])),
    responses((status = 200, body = Task), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn report(State(st): State<AppState>, me: AuthUser, Id(id): Id, w: Write<TaskReport>) -> ApiResult<Json<Task>> {
    let tech = technician(&me)?;
    Ok(Json(
        apply(&st, &me, tech, id, w.idempotency.as_ref(), &TaskWrite::Report(w.body)).await?,
    ))
}

/// Record a part used: taken from the station's stock (409 when there is not enough), billed to
/// the warranty when the asset's coverage includes parts today, else to the customer.
#[utoipa::path(post, path = "/api/v1/tech/tasks/{id}/parts", tag = "technician", params(("id" = i64, Path),
    ("Idempotency-Key" = Option<String>, Header, pattern = "^[\\x21-\\x7e]{1,255}$")),
    request_body = NewPartUse, security(("bearer" = [])),
    responses((status = 200, body = Task), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn use_part(State(st): State<AppState>, me: AuthUser, Id(id): Id, w: Write<NewPartUse>) -> ApiResult<Json<Task>> {
    let tech = technician(&me)?;
    let task = apply(&st, &me, tech, id, w.idempotency.as_ref(), &TaskWrite::Part(w.body)).await?;
    if let Some(station) = task.station_id {
        alert_low_stock(&st, station).await;
    }
    Ok(Json(task))
}

async fn alert_low_stock(st: &AppState, station: i64) {
    if let Ok(levels) = st.store.stock_levels(station).await {
        for l in levels.into_iter().filter(|l| l.below_safety_stock) {
            st.field.publish(FieldEvent::StockAlert {
                station_id: station,
                part_id: l.part_id,
                quantity: l.quantity,
                safety_stock: l.safety_stock,
            });
        }
    }
}

/// What a photo is, from its first bytes; the declared type must agree.
pub(super) fn sniff(bytes: &[u8]) -> Option<(&'static str, &'static str)> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(("image/jpeg", "jpg"))
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some(("image/png", "png"))
    } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some(("image/webp", "webp"))
    } else {
        None
    }
}

/// Write a file under `files_dir/<kind>/<order>/<sha256>.<ext>` (whole or not at all).
pub(super) async fn store_file(
    st: &AppState,
    kind: &str,
    id: i64,
    bytes: &[u8],
    content_type: &str,
    ext: &str,
) -> ApiResult<(StoredFile, bool)> {
    let sha = hex::encode(Sha256::digest(bytes));
    let rel = format!("{kind}/{id}/{sha}.{ext}");
    let path = st.settings.files_dir.join(&rel);
    let existed = tokio::fs::try_exists(&path).await.unwrap_or(false);
    let write = async {
        if let Some(dir) = path.parent() {
            tokio::fs::create_dir_all(dir).await?;
        }
        let tmp = path.with_extension("part");
        tokio::fs::write(&tmp, bytes).await?;
        tokio::fs::rename(&tmp, &path).await
    };
    if let Err(e) = write.await {
        tracing::error!(error = %e, "cannot store an uploaded file");
        return Err(ApiError::internal());
    }
    Ok((
        StoredFile {
            path: rel,
            content_type: content_type.into(),
            bytes: bytes.len() as u64,
            sha256: sha,
        },
        !existed,
    ))
}

/// Record a stored file's write; when the write is refused (a task not on site, a key used for
/// another request), a file this request created is removed again: nothing is left behind.
async fn apply_file(
    st: &AppState,
    me: &AuthUser,
    tech: i64,
    id: i64,
    idem: Option<&Idempotency>,
    write: &TaskWrite,
    (rel, created): (&str, bool),
) -> ApiResult<Task> {
    let result = apply(st, me, tech, id, idem, write).await;
    if result.is_err() && created {
        let _ = tokio::fs::remove_file(st.settings.files_dir.join(rel)).await;
        if let Some(dir) = st.settings.files_dir.join(rel).parent() {
            // Only if empty: other files of the task stay.
            let _ = tokio::fs::remove_dir(dir).await;
        }
    }
    result
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct PhotoUpload {
    /// JPEG, PNG or WebP, up to the configured size (8 MiB by default).
    #[schema(value_type = String, format = Binary)]
    photo: Vec<u8>,
}

/// Upload a photo (multipart/form-data, field `photo`): JPEG, PNG or WebP, checked by content;
/// larger than the limit → 413; stored on disk. The same photo twice is kept once.
#[utoipa::path(post, path = "/api/v1/tech/tasks/{id}/photos", tag = "technician", params(("id" = i64, Path),
    ("Idempotency-Key" = Option<String>, Header, pattern = "^[\\x21-\\x7e]{1,255}$")),
    request_body(content = PhotoUpload, content_type = "multipart/form-data"), security(("bearer" = [])),
    responses((status = 200, body = Task), (status = 404, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn add_photo(State(st): State<AppState>, me: AuthUser, Id(id): Id, req: Request) -> ApiResult<Json<Task>> {
    let tech = technician(&me)?;
    let key = idempotency_key(req.headers())?;
    let path = req.uri().path().to_string();
    // Someone else's task: 404 before anything is read or written.
    st.store.tech_task(tech, id).await?;
    let mut form = Multipart::from_request(req, &st)
        .await
        .map_err(|e| ApiError::wrong_media_type("photo", format!("send multipart/form-data: {e}")))?;
    let limit = st.settings.photo_max_bytes;
    let mut photo: Option<(Vec<u8>, String)> = None;
    while let Some(mut field) = form
        .next_field()
        .await
        .map_err(|e| ApiError::bad_request(Some("photo"), format!("malformed multipart body: {e}")))?
    {
        if field.name() != Some("photo") {
            return Err(ApiError::invalid(
                field.name().unwrap_or("").to_string(),
                "unknown field; send `photo`",
            ));
        }
        let declared = field.content_type().unwrap_or("").to_string();
        let mut buf = Vec::new();
        while let Some(chunk) = field
            .chunk()
            .await
            .map_err(|e| ApiError::bad_request(Some("photo"), format!("upload interrupted: {e}")))?
        {
            if buf.len() + chunk.len() > limit {
                return Err(ApiError::too_large(
                    "photo",
                    format!("photos are limited to {} KiB", limit / 1024),
                ));
            }
            buf.extend_from_slice(&chunk);
        }
        photo = Some((buf, declared));
    }
    let Some((bytes, declared)) = photo else {
        return Err(ApiError::invalid("photo", "missing"));
    };
    if bytes.is_empty() {
        return Err(ApiError::invalid("photo", "empty file"));
    }
    let Some((content_type, ext)) = sniff(&bytes) else {
        return Err(ApiError::wrong_media_type("photo", "only JPEG, PNG or WebP photos"));
    };
    if !declared.is_empty() && !declared.eq_ignore_ascii_case(content_type) {
        return Err(ApiError::wrong_media_type(
            "photo",
            format!("declared {declared} but the file is {content_type}"),
        ));
    }
    let (file, created) = store_file(&st, "photos", id, &bytes, content_type, ext).await?;
    let idem = key.map(|key| Idempotency {
        key,
        fingerprint: fingerprint(&[b"POST", path.as_bytes(), file.sha256.as_bytes()]),
    });
    let rel = file.path.clone();
    let write = TaskWrite::Photo(file);
    Ok(Json(
        apply_file(&st, &me, tech, id, idem.as_ref(), &write, (&rel, created)).await?,
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSignature {
    /// Who signed.
    pub signed_by: Text,
    /// The signature drawn on the device, as a PNG in base64 (at most 256 KiB).
    pub png_base64: String,
}

/// The customer's signature on completion. On site or paused only.
#[utoipa::path(put, path = "/api/v1/tech/tasks/{id}/signature", tag = "technician", params(("id" = i64, Path),
    ("Idempotency-Key" = Option<String>, Header, pattern = "^[\\x21-\\x7e]{1,255}$")),
    request_body = NewSignature, security(("bearer" = [])),
    responses((status = 200, body = Task), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn sign(State(st): State<AppState>, me: AuthUser, Id(id): Id, w: Write<NewSignature>) -> ApiResult<Json<Task>> {
    let tech = technician(&me)?;
    st.store.tech_task(tech, id).await?;
    if w.body.png_base64.len() > 350_000 {
        return Err(ApiError::too_large("png_base64", "signatures are limited to 256 KiB"));
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(w.body.png_base64.trim())
        .map_err(|_| ApiError::invalid("png_base64", "not base64"))?;
    if sniff(&bytes).map(|s| s.0) != Some("image/png") {
        return Err(ApiError::invalid("png_base64", "not a PNG image"));
    }
    let (file, created) = store_file(&st, "signatures", id, &bytes, "image/png", "png").await?;
    let rel = file.path.clone();
    let write = TaskWrite::Signature {
        signed_by: w.body.signed_by,
        file,
    };
    Ok(Json(
        apply_file(&st, &me, tech, id, w.idempotency.as_ref(), &write, (&rel, created)).await?,
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PositionReport {
    #[schema(minimum = -90, maximum = 90)]
    pub lat: f64,
    #[schema(minimum = -180, maximum = 180)]
    pub lon: f64,
    /// When the device took the fix (default: now). At most a day old, not in the future.
    #[serde(default)]
    pub at: Option<DateTime<Utc>>,
    /// Horizontal accuracy in metres; fixes worse than 500 m are acknowledged and not used.
    #[serde(default)]
    #[schema(minimum = 0)]
    pub accuracy_m: Option<f64>,
}

#[derive(Serialize, ToSchema)]
pub struct PositionAck {
    /// Send the next report after this long (or on moving 200 m).
    pub next_report_seconds: u32,
}

/// Report where the technician is. Older reports than the last are ignored; the dispatcher's map
/// shows each one live. A technician who can no longer reach their next visit in time (30 minutes
/// past its planned start) sets off a re-plan of today.
#[utoipa::path(post, path = "/api/v1/tech/position", tag = "technician",
    params(("Idempotency-Key" = Option<String>, Header, pattern = "^[\\x21-\\x7e]{1,255}$", description = "Accepted; a position report is idempotent by its time")),
    request_body = PositionReport, security(("bearer" = [])),
    responses((status = 202, body = PositionAck), (status = 422, body = ErrorBody)))]
async fn report_position(
    State(st): State<AppState>,
    me: AuthUser,
    w: Write<PositionReport>,
) -> ApiResult<(StatusCode, Json<PositionAck>)> {
    let tech = technician(&me)?;
    let p = w.body;
    let at = GeoPoint::new(p.lat, p.lon)
        .map_err(|e| ApiError::invalid(if e.0.starts_with("lon") { "lon" } else { "lat" }, e.0))?;
    let now = Utc::now();
    let time = p.at.unwrap_or(now);
    if time > now + Duration::minutes(2) || time < now - Duration::days(1) {
        return Err(ApiError::invalid(
            "at",
            "must be within the last day and not in the future",
        ));
    }
    if p.accuracy_m.is_some_and(|a| a.is_nan() || a < 0.0) {
        return Err(ApiError::invalid("accuracy_m", "must not be negative"));
    }
    let ack = PositionAck {
        next_report_seconds: 30,
    };
    if p.accuracy_m.is_some_and(|a| !(0.0..=500.0).contains(&a)) {
        return Ok((StatusCode::ACCEPTED, Json(ack)));
    }
    if st.store.record_position(tech, at, time).await? {
        st.field.publish(FieldEvent::Position {
            technician_id: tech,
            lat: at.lat,
            lon: at.lon,
            at: time,
        });
        let here = Point {
            lat: at.lat,
            lon: at.lon,
        };
        if st.settings.auto_assign
            && fieldops::falls_behind(st.store.as_ref(), tech, here, now, st.settings.travel_speed_kmh).await?
        {
            // Their station's day: they and the colleagues who could take over their visits.
            let station = st.store.get_technician(tech).await?.station_id;
            st.field.replan_soon("technician behind", &[station]);
        }
    }
    Ok((StatusCode::ACCEPTED, Json(ack)))
}

// ------------------------------------------------------------------------------------ files

/// The task as whoever asks may see it: its technician (404 for anyone else's), or staff.
async fn visible_task(st: &AppState, me: &AuthUser, id: i64) -> ApiResult<Task> {
    if me.is(Role::Technician) {
        return Ok(st.store.tech_task(technician(me)?, id).await?);
    }
    me.require(super::auth::STAFF)?;
    let ro = st.store.get_repair_order(id).await?;
    let tech = ro.technician_id.ok_or_else(|| ApiError::not_found("task"))?;
    Ok(st.store.tech_task(tech, id).await?)
}

/// Two positive ids from the path.
fn ids(raw: (String, String), second: &str) -> ApiResult<(i64, i64)> {
    let parse = |v: &str, field: &str| {
        v.parse::<i64>()
            .ok()
            .filter(|v| *v > 0)
            .ok_or_else(|| ApiError::bad_request(Some(field), format!("{field} must be a positive integer")))
    };
    Ok((parse(&raw.0, "id")?, parse(&raw.1, second)?))
}

async fn file_response(st: &AppState, rel: &str, content_type: &str) -> ApiResult<axum::response::Response> {
    use axum::response::IntoResponse;
    let bytes = tokio::fs::read(st.settings.files_dir.join(rel))
        .await
        .map_err(|_| ApiError::not_found("file"))?;
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, content_type.to_string()),
            (axum::http::header::CACHE_CONTROL, "private, max-age=3600".to_string()),
        ],
        bytes,
    )
        .into_response())
}

/// A photo of a repair, for its technician and for staff (agents, supervisors, admins).
#[utoipa::path(get, path = "/api/v1/repair-orders/{id}/photos/{photo_id}", tag = "technician",
    params(("id" = i64, Path), ("photo_id" = i64, Path)), security(("bearer" = [])),
    responses((status = 200, content_type = "image/jpeg", description = "The photo (JPEG, PNG or WebP)"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_photo(
    State(st): State<AppState>,
    me: AuthUser,
    axum::extract::Path(raw): axum::extract::Path<(String, String)>,
) -> ApiResult<axum::response::Response> {
    let (id, photo_id) = ids(raw, "photo_id")?;
    let task = visible_task(&st, &me, id).await?;
    let photo = task
        .photos
        .iter()
        .find(|p| p.id == photo_id)
        .ok_or_else(|| ApiError::not_found("photo"))?;
    let ext = match photo.content_type.as_str() {
        "image/jpeg" => "jpg",
        "image/png" => "png",
        _ => "webp",
    };
    file_response(&st, &format!("photos/{id}/{}.{ext}", photo.sha256), &photo.content_type).await
}

/// The customer's signature on a repair, for its technician and for staff.
#[utoipa::path(get, path = "/api/v1/repair-orders/{id}/signature", tag = "technician",
    params(("id" = i64, Path)), security(("bearer" = [])),
    responses((status = 200, content_type = "image/png", description = "The signature (PNG)"),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_signature(State(st): State<AppState>, me: AuthUser, Id(id): Id) -> ApiResult<axum::response::Response> {
    let task = visible_task(&st, &me, id).await?;
    if task.signature.is_none() {
        return Err(ApiError::not_found("signature"));
    }
    // The newest signature file of the task is the one on record.
    let dir = st.settings.files_dir.join(format!("signatures/{id}"));
    let mut newest: Option<(std::time::SystemTime, String)> = None;
    if let Ok(mut entries) = tokio::fs::read_dir(&dir).await {
        while let Ok(Some(e)) = entries.next_entry().await {
            let name = e.file_name().to_string_lossy().to_string();
            let modified = e.metadata().await.ok().and_then(|m| m.modified().ok());
            if let (true, Some(m)) = (name.ends_with(".png"), modified) {
                if newest.as_ref().is_none_or(|(t, _)| m > *t) {
                    newest = Some((m, name));
                }
            }
        }
    }
    let (_, name) = newest.ok_or_else(|| ApiError::not_found("signature"))?;
    file_response(&st, &format!("signatures/{id}/{name}"), "image/png").await
}
