//! Dispatch over HTTP: the technicians who could take a repair order, auto-assignment, day
//! plans, the dispatcher's board (page, snapshot and live WebSocket), reassignment, and station
//! stock operations (transfers, stocktakes, safety-stock alerts).

use std::collections::HashMap;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Json;
use chrono::{DateTime, NaiveDate, Utc};
use crm_core::field::{DispatchDecision, NewStocktake, NewTransfer, Stocktake, TaskStatus, Transfer};
use crm_core::model::{Appointment, RepairOrder, RepairStatus, StockLevel};
use dispatch::candidates::Parts;

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::{token_hash, AuthUser, MANAGERS, STAFF};
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{Body, Id, Params};
use super::AppState;
use fieldops::FieldEvent;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(repair_order_candidates))
        .routes(routes!(assign))
        .routes(routes!(auto_assign))
        .routes(routes!(appointment_slots))
        .routes(routes!(plan))
        .routes(routes!(board))
        .routes(routes!(day_timelines))
        .routes(routes!(transfer))
        .routes(routes!(stocktake))
        .routes(routes!(stock_alerts))
}

pub fn pages() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/dispatch", get(dispatch_page))
        .route("/api/v1/dispatch/ws", get(dispatch_socket))
}

async fn dispatch_page() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        Html(include_str!("dispatch.html")),
    )
        .into_response()
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CandidateParams {
    /// How many (1–20, default 5).
    #[param(minimum = 1, maximum = 20)]
    limit: Option<u32>,
    /// Minimum skill level for the product line (1–5, default 1).
    #[param(minimum = 1, maximum = 5)]
    level: Option<u8>,
    /// Service-level hours from the order's creation to its completion (default by the
    /// ticket's priority: urgent 8, high 24, normal 48, low 120).
    sla_hours: Option<u32>,
}

#[derive(Serialize, ToSchema)]
pub struct CandidateView {
    pub technician_id: i64,
    pub name: String,
    pub station_id: i64,
    pub travel_minutes: i64,
    /// The earliest visit start that fits their shift and the window.
    pub start: DateTime<Utc>,
    /// Minutes to spare before the SLA deadline (negative: late).
    pub slack_minutes: i64,
    /// `in_stock`, or `transfer` from another station.
    pub parts: String,
    /// Lower is better: travel, SLA risk and rating.
    pub score: f64,
}

/// The technicians best placed to take a repair order in the next three days: skill for the
/// asset's product line, a shift that covers travel and a 90-minute visit, ranked by travel,
/// SLA risk and rating. No candidate: 422 naming the reason (`no_skill_match`, `no_shift_left`,
/// `out_of_reach`, `no_capacity`, `window_infeasible`, `parts_missing`).
#[utoipa::path(get, path = "/api/v1/repair-orders/{id}/candidates", tag = "service", params(("id" = i64, Path), CandidateParams),
    security(("bearer" = [])),
    responses((status = 200, body = Vec<CandidateView>), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn repair_order_candidates(
    State(st): State<AppState>,
    me: AuthUser,
    Id(id): Id,
    Params(p): Params<CandidateParams>,
) -> ApiResult<Json<Vec<CandidateView>>> {
    me.require(STAFF)?;
    let limit = p.limit.unwrap_or(5);
    if !(1..=20).contains(&limit) {
        return Err(ApiError::invalid("limit", "1 to 20"));
    }
    let level = p.level.unwrap_or(1);
    if !(1..=5).contains(&level) {
        return Err(ApiError::invalid("level", "1 to 5"));
    }
    let ro = st.store.get_repair_order(id).await?;
    let site = fieldops::order_facts(st.store.as_ref(), &ro).await?;
    let sla_hours = p
        .sla_hours
        .unwrap_or(fieldops::sla_hours(site.priority))
        .clamp(1, 24 * 30);
    let Some(at) = site.at else {
        return Err(ApiError::invalid("customer", "the customer's address has no location"));
    };
    let now = Utc::now();
    let net = fieldops::network(st.store.as_ref()).await?;
    let names: HashMap<i64, String> = net.technicians.iter().map(|t| (t.id, t.name.clone())).collect();
    let need = fieldops::Need {
        level,
        sla_hours,
        ..Default::default()
    };
    let found = fieldops::rank(&net, &ro, at, &site.line, need, now, limit as usize)
        .map_err(|reason| ApiError::invalid("repair_order", reason.as_str()))?;
    Ok(Json(
        found
            .into_iter()
            .map(|c| CandidateView {
                technician_id: c.tech,
                name: names.get(&c.tech).cloned().unwrap_or_default(),
                station_id: c.station,
                travel_minutes: c.travel_minutes,
                start: DateTime::from_timestamp(c.start * 60, 0).unwrap_or(now),
                slack_minutes: c.slack,
                parts: match c.parts {
                    Parts::InStock => "in_stock".into(),
                    Parts::Transfer { from, .. } => format!("transfer from station {from}"),
                },
                score: (c.score * 10.0).round() / 10.0,
            })
            .collect(),
    ))
}

// ------------------------------------------------------------------------------------ assignment

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignTo {
    pub technician_id: i64,
    /// Planned start; default: the appointment's start, else keep the current one (or now).
    #[serde(default)]
    pub scheduled_for: Option<DateTime<Utc>>,
    /// Book this visit window with the customer (one of the offered slots); day plans keep to
    /// it. Default: keep the order's appointment, if any.
    #[serde(default)]
    pub appointment: Option<Appointment>,
    /// Assign although the technician lacks the order's skill or level, or has no shift at the
    /// planned start: why (kept in the audit log). Without it such an assignment is refused.
    #[serde(default)]
    pub override_reason: Option<crm_core::types::Text>,
}

/// May this window be booked (with this technician, when one is named)? Refused with the field
/// and the reason: a window begun or past, more than a year ahead, or outside every shift of the
/// technician's (in their station's time zone).
pub(super) async fn bookable(st: &AppState, technician_id: Option<i64>, w: &Appointment) -> ApiResult<()> {
    use dispatch::booking;
    let now = Utc::now();
    let refused = |r: booking::Refusal| ApiError::invalid(r.field(), r.message());
    let Some(id) = technician_id else {
        return booking::check_window(w, now).map_err(refused);
    };
    let tech = match st.store.get_technician(id).await {
        Ok(t) => t,
        Err(crm_core::StoreError::NotFound { .. }) => {
            return Err(ApiError::invalid("technician_id", "no such technician"))
        }
        Err(e) => return Err(e.into()),
    };
    let tz = st.store.get_station(tech.station_id).await?.time_zone.tz();
    booking::check_booking(w, &tech.shifts, tz, now).map_err(refused)
}

/// A new order names its technician: they must have the skill for its product (no override
/// here: assign afterwards to override) and, for a named time, a shift then. The visit time it
/// gets: the one named, the appointment's start, else when the technician next works.
pub(super) async fn check_named(
    st: &AppState,
    technician_id: i64,
    r: &crm_core::model::NewRepairOrder,
) -> ApiResult<Option<DateTime<Utc>>> {
    let tech = match st.store.get_technician(technician_id).await {
        Ok(t) => t,
        Err(crm_core::StoreError::NotFound { .. }) => {
            return Err(ApiError::invalid("technician_id", "no such technician"))
        }
        Err(e) => return Err(e.into()),
    };
    let asset = match r.asset_id {
        Some(a) => Some(a),
        None => match st.store.get_ticket(r.ticket_id).await {
            Ok(t) => t.asset_id,
            Err(crm_core::StoreError::NotFound { .. }) => return Err(ApiError::invalid("ticket_id", "no such ticket")),
            Err(e) => return Err(e.into()),
        },
    };
    let Some(asset) = asset else {
        return Err(ApiError::invalid("asset_id", "a repair order needs the asset"));
    };
    let asset = match st.store.get_asset(asset).await {
        Ok(a) => a,
        Err(crm_core::StoreError::NotFound { .. }) => return Err(ApiError::invalid("asset_id", "no such asset")),
        Err(e) => return Err(e.into()),
    };
    let line = st.store.get_model(asset.model_id).await?.product_line;
    let tz = st.store.get_station(tech.station_id).await?.time_zone.tz();
    let planned = r.scheduled_for.or(r.appointment.map(|a| a.from));
    let level = fieldops::Need::default().level;
    dispatch::booking::check_assignment(&tech.skills, &tech.shifts, tz, line.as_str(), level, planned)
        .map_err(|e| ApiError::invalid(e.field(), e.message()))?;
    Ok(planned.or_else(|| dispatch::booking::next_working_time(&tech.shifts, tz, Utc::now())))
}

/// Give an order to a technician (the dispatcher's drag and drop). Started work is not
/// reassigned (409). A window booked here (or the order's booked window, when it moves to
/// another technician) must be to come and inside one of the technician's shifts.
#[utoipa::path(post, path = "/api/v1/repair-orders/{id}/assign", tag = "dispatch", params(("id" = i64, Path)),
    request_body = AssignTo, security(("bearer" = [])),
    responses((status = 200, body = RepairOrder), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn assign(
    State(st): State<AppState>,
    me: AuthUser,
    Id(id): Id,
    Body(a): Body<AssignTo>,
) -> ApiResult<Json<RepairOrder>> {
    me.require(STAFF)?;
    if let Some(ap) = &a.appointment {
        ap.validate("appointment").map_err(ApiError::from)?;
    }
    let tech = match st.store.get_technician(a.technician_id).await {
        Ok(t) => t,
        Err(crm_core::StoreError::NotFound { .. }) => {
            return Err(ApiError::invalid("technician_id", "no such technician"))
        }
        Err(e) => return Err(e.into()),
    };
    let cur = st.store.get_repair_order(id).await?;
    if fieldops::started(&cur) && cur.technician_id != Some(tech.id) {
        return Err(crm_core::StoreError::conflict(
            "technician_id",
            "work has started; the order cannot be reassigned",
        )
        .into());
    }
    let now = Utc::now();
    // Booked means booked: a new window, or the booked one going to someone else, must fit.
    let moved_booking = cur
        .appointment
        .filter(|ap| cur.technician_id != Some(tech.id) && ap.to > now);
    if let Some(ap) = a.appointment.or(moved_booking) {
        bookable(&st, Some(tech.id), &ap).await?;
    }
    // By hand, too, the technician must have the skill at the level and a shift then; an
    // override says why, and the assignment's audit entry keeps it.
    // The time named, else the booked window's start (a booking moves with the order).
    let planned = a
        .scheduled_for
        .or(a.appointment.map(|ap| ap.from))
        .or(cur.appointment.filter(|ap| ap.to > now).map(|ap| ap.from));
    let site = fieldops::order_facts(st.store.as_ref(), &cur).await?;
    let tz = st.store.get_station(tech.station_id).await?.time_zone.tz();
    let need = fieldops::Need::default();
    let checked = dispatch::booking::check_assignment(&tech.skills, &tech.shifts, tz, &site.line, need.level, planned);
    if let (Err(r), None) = (&checked, &a.override_reason) {
        return Err(ApiError::invalid(r.field(), r.message()));
    }
    let override_reason = match (&checked, &a.override_reason) {
        (Err(r), Some(why)) => Some(format!(
            "{}: {}",
            r.message().split(';').next().unwrap_or(""),
            why.as_str()
        )),
        _ => None,
    };
    let ro = st
        .store
        .set_dispatch(
            me.actor(),
            id,
            &DispatchDecision::Assign {
                station_id: tech.station_id,
                technician_id: tech.id,
                // No time named: when the technician next works (the day plan places it).
                scheduled_for: planned
                    .or_else(|| dispatch::booking::next_working_time(&tech.shifts, tz, now))
                    .unwrap_or(now),
                route_seq: None,
                appointment: a.appointment,
                override_reason,
            },
        )
        .await?;
    st.field.publish(FieldEvent::dispatch(&ro));
    Ok(Json(ro))
}

/// Assign an order to its best candidate now, or record why nobody can take it.
#[utoipa::path(post, path = "/api/v1/repair-orders/{id}/auto-assign", tag = "dispatch", params(("id" = i64, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = RepairOrder), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn auto_assign(State(st): State<AppState>, me: AuthUser, Id(id): Id) -> ApiResult<Json<RepairOrder>> {
    me.require(STAFF)?;
    let ro = fieldops::auto_assign(st.store.as_ref(), me.actor(), id, Utc::now()).await?;
    st.field.publish(FieldEvent::dispatch(&ro));
    Ok(Json(ro))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SlotParams {
    /// The day (default today, UTC).
    date: Option<NaiveDate>,
    /// How many slots (1–10, default 3).
    #[param(minimum = 1, maximum = 10)]
    n: Option<usize>,
}

/// Appointment booking: the best two-hour windows on a day for an order, each fitted into the
/// day's routes as they stand — nothing already planned moves or becomes late. Book one with
/// `POST /api/v1/repair-orders/{id}/assign` (its technician and `from` as `scheduled_for`).
#[utoipa::path(get, path = "/api/v1/repair-orders/{id}/slots", tag = "dispatch", params(("id" = i64, Path), SlotParams),
    security(("bearer" = [])),
    responses((status = 200, body = Vec<fieldops::Slot>), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn appointment_slots(
    State(st): State<AppState>,
    me: AuthUser,
    Id(id): Id,
    Params(p): Params<SlotParams>,
) -> ApiResult<Json<Vec<fieldops::Slot>>> {
    me.require(STAFF)?;
    let n = p.n.unwrap_or(3);
    if !(1..=10).contains(&n) {
        return Err(ApiError::bad_request(Some("n"), "1 to 10"));
    }
    let now = Utc::now();
    let date = p.date.unwrap_or(now.date_naive());
    if date < now.date_naive() {
        return Err(ApiError::bad_request(Some("date"), "must not be in the past"));
    }
    let ro = st.store.get_repair_order(id).await?;
    match fieldops::slots(st.store.as_ref(), &ro, date, now, st.field.rules, n).await? {
        Some(slots) => Ok(Json(slots)),
        None => Err(ApiError::invalid(
            "repair_order",
            "the customer's address has no location",
        )),
    }
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct PlanRequest {
    /// The first day to plan (default today, UTC; a day before today means today).
    #[serde(default)]
    pub date: Option<NaiveDate>,
    /// Working days to plan from there (1–14, default 1): days on which somebody of the region
    /// still works. Planned in the evening, today counts as none and the next working day is
    /// planned.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 14)]
    pub working_days: Option<u32>,
    /// Search effort per day (100–200000, default 20000).
    #[serde(default)]
    #[schema(minimum = 100, maximum = 200000)]
    pub iterations: Option<u64>,
    /// The same seed and input give the same plan (default 1).
    #[serde(default)]
    pub seed: Option<u64>,
    /// Plan a region: these stations' technicians, the orders at these stations, and the
    /// unassigned orders nearest to one of them. Default: the whole network.
    #[serde(default)]
    #[schema(min_items = 1, max_items = 1000)]
    pub stations: Option<Vec<i64>>,
    /// Only show what would change (default false: apply). The same seed and an unchanged
    /// day give the same plan when it is then applied.
    #[serde(default)]
    pub preview: Option<bool>,
}

/// Plan (or re-plan) the next working days: one route per technician with a shift, open
/// orders that are not started. Orders keep their technician unless moving serves the day;
/// what does not fit a day rolls to the next; booked visits keep technician and window.
/// Started work is frozen, and today's routes start from the technicians' last positions.
/// Every order left out carries a reason; `moved` says what changed and why.
#[utoipa::path(post, path = "/api/v1/dispatch/plan", tag = "dispatch", request_body = PlanRequest, security(("bearer" = [])),
    responses((status = 200, body = fieldops::Horizon), (status = 409, body = ErrorBody, description = "An order changed while the plan was made (work started); plan again"),
        (status = 422, body = ErrorBody)))]
async fn plan(
    State(st): State<AppState>,
    me: AuthUser,
    Body(p): Body<PlanRequest>,
) -> ApiResult<Json<fieldops::Horizon>> {
    me.require(MANAGERS)?;
    // From the next five-minute mark: a preview and the plan applied a moment later start
    // from the same minute, so they agree.
    let now = {
        let t = Utc::now();
        let step = 300;
        DateTime::from_timestamp((t.timestamp() / step + 1) * step, 0).unwrap_or(t)
    };
    let iterations = p.iterations.unwrap_or(20_000);
    if !(100..=200_000).contains(&iterations) {
        return Err(ApiError::invalid("iterations", "100 to 200000"));
    }
    let working_days = p.working_days.unwrap_or(1);
    if !(1..=14).contains(&working_days) {
        return Err(ApiError::invalid("working_days", "1 to 14"));
    }
    let date = p.date.unwrap_or(now.date_naive());
    if (date - now.date_naive()).num_days() > 365 {
        return Err(ApiError::invalid("date", "at most 365 days ahead"));
    }
    if let Some(ids) = &p.stations {
        if ids.is_empty() || ids.len() > 1000 {
            return Err(ApiError::invalid("stations", "1 to 1000 station ids"));
        }
        for (i, id) in ids.iter().enumerate() {
            if let Err(e) = st.store.get_station(*id).await {
                return Err(match e {
                    crm_core::StoreError::NotFound { .. } => {
                        ApiError::invalid(format!("stations[{i}]"), "no such station")
                    }
                    e => e.into(),
                });
            }
        }
    }
    let ask = fieldops::PlanAsk {
        from: date,
        working_days,
        stations: p.stations,
        iterations,
        seed: p.seed.unwrap_or(1),
        apply: !p.preview.unwrap_or(false),
    };
    let plan = fieldops::plan(st.store.as_ref(), me.actor(), &ask, now, st.field.rules).await?;
    if plan.applied {
        for d in &plan.days {
            st.field.publish(FieldEvent::Planned { date: d.date });
        }
    }
    Ok(Json(plan))
}

// ------------------------------------------------------------------------------------ the board

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TimelineParams {
    /// The day (UTC date of the visits; default today).
    date: Option<NaiveDate>,
    /// Only this station's technicians.
    station_id: Option<i64>,
}

/// Each technician's day for the dispatcher's timelines: shifts, and the visits, travel and
/// breaks of their route in order, as the planner walks it; late visits are marked.
#[utoipa::path(get, path = "/api/v1/dispatch/timelines", tag = "dispatch", params(TimelineParams), security(("bearer" = [])),
    responses((status = 200, body = Vec<fieldops::TechDay>), (status = 422, body = ErrorBody)))]
async fn day_timelines(
    State(st): State<AppState>,
    me: AuthUser,
    Params(p): Params<TimelineParams>,
) -> ApiResult<Json<Vec<fieldops::TechDay>>> {
    me.require(STAFF)?;
    if let Some(id) = p.station_id {
        if let Err(e) = st.store.get_station(id).await {
            return Err(match e {
                crm_core::StoreError::NotFound { .. } => ApiError::invalid("station_id", "no such station"),
                e => e.into(),
            });
        }
    }
    let today = Utc::now().date_naive();
    let date = p.date.unwrap_or(today);
    if (date - today).num_days().abs() > 366 {
        return Err(ApiError::invalid("date", "within a year of today"));
    }
    Ok(Json(
        fieldops::timelines(st.store.as_ref(), date, st.field.rules, p.station_id).await?,
    ))
}

#[derive(Serialize, ToSchema)]
pub struct BoardStation {
    pub id: i64,
    pub name: String,
    pub lat: f64,
    pub lon: f64,
    /// IANA name: the station's wall clock, which shifts and days follow.
    pub time_zone: String,
}

#[derive(Serialize, ToSchema)]
pub struct BoardTechnician {
    pub id: i64,
    pub name: String,
    pub station_id: i64,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    /// Skills with their levels (what they can be given).
    pub skills: Vec<crm_core::types::Skill>,
    pub shifts: Vec<crm_core::model::Shift>,
}

#[derive(Serialize, ToSchema)]
pub struct BoardOrder {
    pub id: i64,
    pub status: RepairStatus,
    pub task_status: Option<TaskStatus>,
    pub technician_id: Option<i64>,
    pub station_id: Option<i64>,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub product_line: String,
    pub scheduled_for: Option<DateTime<Utc>>,
    pub route_seq: Option<u32>,
    pub unassigned_reason: Option<String>,
    pub customer: String,
    /// The visit address ("street, city").
    pub address: String,
    pub model: String,
    pub priority: crm_core::model::Priority,
    /// The SLA deadline (creation plus the hours of the ticket's priority).
    pub due: DateTime<Utc>,
    pub appointment: Option<Appointment>,
    pub duration_minutes: u32,
    /// The station nearest the visit (for orders without one yet: the region they belong to).
    pub nearest_station_id: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct Board {
    /// Tile URL template for the map (empty: none).
    pub tiles_url: String,
    pub stations: Vec<BoardStation>,
    pub technicians: Vec<BoardTechnician>,
    /// Open orders; a technician's route is their orders by `route_seq`, then planned start.
    pub orders: Vec<BoardOrder>,
}

/// Everything the dispatcher's map shows; `/api/v1/dispatch/ws` then streams changes.
#[utoipa::path(get, path = "/api/v1/dispatch/board", tag = "dispatch", security(("bearer" = [])),
    responses((status = 200, body = Board)))]
async fn board(State(st): State<AppState>, me: AuthUser) -> ApiResult<Json<Board>> {
    me.require(STAFF)?;
    // A regional supervisor's board: their stations, technicians and orders, and the orders
    // waiting for dispatch.
    let region = me.region(&st).await?;
    let mut stations = st.store.list_stations().await?;
    stations.retain(|s| region.allows(s.id));
    let mut technicians = st.store.list_technicians(None).await?;
    technicians.retain(|t| region.allows(t.station_id));
    let mut open = st.store.open_repair_orders(5_000).await?;
    open.retain(|o| o.station_id.is_none_or(|s| region.allows(s)));
    let mut sites = fieldops::sites(st.store.as_ref(), &open).await?;
    let mut orders = vec![];
    let nearest = |p: dispatch::candidates::Point| {
        let d = |s: &crm_core::model::Station| {
            let dx = (s.location.lon - p.lon) * p.lat.to_radians().cos();
            dx * dx + (s.location.lat - p.lat).powi(2)
        };
        stations.iter().min_by(|a, b| d(a).total_cmp(&d(b))).map(|s| s.id)
    };
    for ro in open {
        let site = sites.remove(&ro.id).unwrap_or_default();
        let at = site.at;
        orders.push(BoardOrder {
            customer: site.customer,
            address: site.address,
            model: site.model,
            priority: site.priority,
            due: ro.created_at + chrono::Duration::hours(i64::from(fieldops::sla_hours(site.priority))),
            appointment: ro.appointment,
            duration_minutes: ro.duration_minutes,
            nearest_station_id: at.and_then(nearest),
            id: ro.id,
            status: ro.status,
            task_status: ro.task_status,
            technician_id: ro.technician_id,
            station_id: ro.station_id,
            lat: at.map(|p| p.lat),
            lon: at.map(|p| p.lon),
            product_line: site.line,
            scheduled_for: ro.scheduled_for,
            route_seq: ro.route_seq,
            unassigned_reason: ro.unassigned_reason,
        });
    }
    Ok(Json(Board {
        tiles_url: st.settings.map_tiles_url.clone(),
        stations: stations
            .into_iter()
            .map(|s| BoardStation {
                id: s.id,
                name: s.name,
                lat: s.location.lat,
                lon: s.location.lon,
                time_zone: s.time_zone.as_str().to_string(),
            })
            .collect(),
        technicians: technicians
            .into_iter()
            .map(|t| BoardTechnician {
                id: t.id,
                name: t.name,
                station_id: t.station_id,
                lat: t.location.map(|l| l.lat),
                lon: t.location.map(|l| l.lon),
                skills: t.skills,
                shifts: t.shifts,
            })
            .collect(),
        orders,
    }))
}

#[derive(Deserialize)]
struct TokenParam {
    token: String,
}

/// Live field events (positions, task steps, assignments, plans, stock alerts) as JSON text
/// messages. Browsers cannot set headers on a WebSocket, so the token comes as `?token=`.
async fn dispatch_socket(
    State(st): State<AppState>,
    Params(p): Params<TokenParam>,
    ws: WebSocketUpgrade,
) -> ApiResult<Response> {
    let user = st
        .store
        .session_user(&token_hash(&p.token), Utc::now())
        .await?
        .ok_or_else(|| ApiError::unauthorized("token unknown or expired"))?;
    if !STAFF.contains(&user.role) {
        return Err(ApiError::forbidden());
    }
    let rx = st.field.events.subscribe();
    let ended = super::auth::session_ended(&st, token_hash(&p.token));
    Ok(ws.on_upgrade(move |socket| feed(socket, rx, ended)))
}

async fn feed(
    mut socket: WebSocket,
    mut rx: tokio::sync::broadcast::Receiver<FieldEvent>,
    ended: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(ended);
    loop {
        tokio::select! {
            _ = &mut ended => {
                super::auth::close_signed_out(&mut socket).await;
                break;
            }
            ev = rx.recv() => match ev {
                Ok(ev) => {
                    let text = serde_json::to_string(&ev).unwrap_or_default();
                    if socket.send(Message::Text(text.into())).await.is_err() {
                        break;
                    }
                }
                // Fell behind: tell the page to reload the board.
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                    let text = serde_json::to_string(&FieldEvent::Resync).unwrap_or_default();
                    if socket.send(Message::Text(text.into())).await.is_err() {
                        break;
                    }
                }
                Err(_) => break,
            },
            msg = socket.recv() => match msg {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                _ => {}
            },
        }
    }
}

// ------------------------------------------------------------------------------------ stock

/// Move parts from one station to another: both ledger movements reference the transfer, and a
/// transfer the source cannot cover changes nothing (409).
#[utoipa::path(post, path = "/api/v1/stock/transfers", tag = "dispatch", request_body = NewTransfer, security(("bearer" = [])),
    responses((status = 201, body = Transfer), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn transfer(
    State(st): State<AppState>,
    me: AuthUser,
    Body(t): Body<NewTransfer>,
) -> ApiResult<(StatusCode, Json<Transfer>)> {
    me.require(STAFF)?;
    let out = st.store.transfer_stock(me.actor(), &t).await?;
    Ok((StatusCode::CREATED, Json(out)))
}

/// Book a stocktake: each counted part's variance against the ledger becomes a movement
/// referencing it.
#[utoipa::path(post, path = "/api/v1/stations/{id}/stocktakes", tag = "dispatch", params(("id" = i64, Path)),
    request_body = NewStocktake, security(("bearer" = [])),
    responses((status = 201, body = Stocktake), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn stocktake(
    State(st): State<AppState>,
    me: AuthUser,
    Id(id): Id,
    Body(t): Body<NewStocktake>,
) -> ApiResult<(StatusCode, Json<Stocktake>)> {
    me.require(MANAGERS)?;
    let out = st.store.stocktake(me.actor(), id, &t).await?;
    Ok((StatusCode::CREATED, Json(out)))
}

/// Parts below their safety stock, at every station.
#[utoipa::path(get, path = "/api/v1/stock/alerts", tag = "dispatch", security(("bearer" = [])),
    responses((status = 200, body = Vec<StockLevel>)))]
async fn stock_alerts(State(st): State<AppState>, me: AuthUser) -> ApiResult<Json<Vec<StockLevel>>> {
    me.require(STAFF)?;
    Ok(Json(st.store.stock_alerts().await?))
}
