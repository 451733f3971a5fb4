//! Dispatch over HTTP: the technicians who could take a repair order, from the CRM's stations,
//! technicians, shifts and stock, through the dispatch engine's candidate search.

use std::collections::HashMap;

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Datelike, Duration, TimeZone, Timelike, Utc};
use dispatch::candidates::{self, Index, Order, Parts, Point, Settings, StationStock, Tech};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::{AuthUser, STAFF};
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{Id, Params};
use super::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(repair_order_candidates))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct CandidateParams {
    /// How many (1–20, default 5).
    limit: Option<u32>,
    /// Minimum skill level for the product line (1–5, default 1).
    level: Option<u8>,
    /// Service-level hours from the order's creation to its completion (default 48).
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

fn minute(t: DateTime<Utc>) -> i64 {
    t.timestamp().div_euclid(60)
}

/// The technicians best placed to take a repair order in the next three days: skill for the
/// asset's product line, a shift that covers travel and a 90-minute visit, ranked by travel,
/// SLA risk and rating. No candidate: 422 naming the reason (`no_skill_match`, `no_capacity`,
/// `window_infeasible`, `parts_missing`).
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
    let sla_hours = p.sla_hours.unwrap_or(48).clamp(1, 24 * 30);
    let ro = st.store.get_repair_order(id).await?;
    let asset = st.store.get_asset(ro.asset_id).await?;
    let model = st.store.get_model(asset.model_id).await?;
    let customer = st.store.get_customer(ro.customer_id).await?;
    let Some(at) = customer.addresses.iter().find_map(|a| a.location) else {
        return Err(ApiError::invalid("customer", "the customer's address has no location"));
    };
    let now = Utc::now();
    // Shifts and free minutes for today and the next two days (UTC days).
    let day0 = Utc
        .with_ymd_and_hms(now.year(), now.month(), now.day(), 0, 0, 0)
        .single()
        .unwrap_or(now);
    let stations = st.store.list_stations().await?;
    let mut stocks = vec![];
    for s in &stations {
        let parts = st
            .store
            .stock_levels(s.id)
            .await?
            .into_iter()
            .map(|l| (l.part_id, l.quantity.max(0) as u32))
            .collect();
        stocks.push(StationStock {
            id: s.id,
            at: Point {
                lat: s.location.lat,
                lon: s.location.lon,
            },
            parts,
        });
    }
    let station_at: HashMap<i64, Point> = stocks.iter().map(|s| (s.id, s.at)).collect();
    let technicians = st.store.list_technicians(None).await?;
    let names: HashMap<i64, String> = technicians.iter().map(|t| (t.id, t.name.clone())).collect();
    let techs = technicians
        .into_iter()
        .map(|t| {
            let mut shifts = vec![];
            let mut free = HashMap::new();
            for d in 0..3 {
                let day = day0 + Duration::days(d);
                let weekday = day.weekday().number_from_monday() as u8;
                for s in t.shifts.iter().filter(|s| s.weekday == weekday) {
                    let from = minute(day) + i64::from(s.opens.num_seconds_from_midnight() / 60);
                    let to = minute(day) + i64::from(s.closes.num_seconds_from_midnight() / 60);
                    shifts.push((from, to));
                    *free.entry(minute(day).div_euclid(1440)).or_insert(0u32) += (to - from).max(0) as u32;
                }
            }
            shifts.sort_unstable();
            Tech {
                id: t.id,
                station: t.station_id,
                at: t
                    .location
                    .map(|l| Point { lat: l.lat, lon: l.lon })
                    .or_else(|| station_at.get(&t.station_id).copied())
                    .unwrap_or(Point {
                        lat: at.lat,
                        lon: at.lon,
                    }),
                skills: t
                    .skills
                    .iter()
                    .map(|s| (s.name.as_str().to_string(), s.level.get()))
                    .collect(),
                shifts,
                free_minutes: free,
                rating: t.rating,
            }
        })
        .collect();
    let index = Index::new(Settings::default(), at.lat, stocks).with_techs(techs);
    let order = Order {
        at: Point {
            lat: at.lat,
            lon: at.lon,
        },
        skills: vec![(model.product_line.as_str().to_string(), level)],
        minutes: 90,
        parts: vec![],
        window: (minute(now), minute(day0 + Duration::days(3))),
        deadline: minute(ro.created_at + Duration::hours(i64::from(sla_hours))),
    };
    // Visits on later days: the window spans three days, and a day's capacity is that day's.
    let mut found: Vec<candidates::Candidate> = vec![];
    let mut reason = candidates::Reason::NoSkillMatch;
    for d in 0..3 {
        let start = minute(day0 + Duration::days(d)).max(minute(now));
        let day_order = Order {
            window: (start, minute(day0 + Duration::days(d + 1))),
            ..order.clone()
        };
        match index.candidates(&day_order, minute(now), limit as usize) {
            Ok(c) => found.extend(c),
            Err(r) => reason = reason.max(r),
        }
        if found.len() >= limit as usize {
            break;
        }
    }
    if found.is_empty() {
        return Err(ApiError::invalid("repair_order", reason.as_str()));
    }
    found.truncate(limit as usize);
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
