//! Reports and settlements: JSON for the reports page, CSV for spreadsheets (`format=csv`).
//! Periods are whole UTC days, `from` and `to` included (the last 30 days when absent).

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{NaiveDate, Utc};
use crm_core::reports::*;
use crm_core::StoreError;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::{AuthUser, MANAGERS, NETWORK, REVIEWERS};
use super::crm::limit;
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{Body, Id, Params};
use super::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(call_center))
        .routes(routes!(service))
        .routes(routes!(stations))
        .routes(routes!(parts))
        .routes(routes!(claims))
        .routes(routes!(complaints))
        .routes(routes!(revenue))
        .routes(routes!(dealers))
        .routes(routes!(list_settlements, create_settlement))
        .routes(routes!(get_settlement))
        .routes(routes!(approve_settlement))
        .routes(routes!(export_settlement))
}

pub fn pages() -> axum::Router<AppState> {
    axum::Router::new().route("/reports", axum::routing::get(reports_page))
}

async fn reports_page() -> Response {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        include_str!("reports.html"),
    )
        .into_response()
}

/// A report's answer: JSON (default) or CSV.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Json,
    Csv,
}

/// The parts report's table for CSV.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PartsTable {
    Consumption,
    Stock,
}

/// One report's query: its period, its own groupings and tables, its format.
macro_rules! report_query {
    ($name:ident $(, $field:ident : $ty:ty = $doc:literal)*) => {
        #[derive(Deserialize, IntoParams)]
        #[into_params(parameter_in = Query)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            /// First day (UTC), default 29 days before `to`; a period covers at most 366 days.
            from: Option<NaiveDate>,
            /// Last day (UTC), default today.
            to: Option<NaiveDate>,
            $(#[doc = $doc] #[param(inline)] $field: Option<$ty>,)*
            /// `json` (default) or `csv`.
            #[param(inline)]
            format: Option<Format>,
        }

        impl $name {
            fn period(&self) -> ApiResult<Period> {
                let to = self.to.unwrap_or_else(|| Utc::now().date_naive());
                let from = self.from.unwrap_or(to - chrono::Duration::days(29));
                Ok(Period::new(from, to)?)
            }
            fn csv(&self) -> bool {
                self.format == Some(Format::Csv)
            }
        }
    };
}

report_query!(CallCenterQuery, by: Interval = "`quarter` (15 minutes), `hour` (default) or `day`.");
report_query!(ServiceQuery, by: Dimension = "`model` (default), `serial_batch`, `fault_code` or `station`.");
report_query!(StationsQuery);
report_query!(ClaimsQuery, by: crm_core::claims::ClaimsBy = "`station` (default), `model`, `fault_code` or `cut_reason`.");
report_query!(RevenueQuery, by: crm_core::billing::RevenueBy = "`station` (default) or `model`.");
report_query!(DealersQuery, dealer_id: i64 = "One dealer (a dealer login: always its own).");
report_query!(ComplaintsQuery, by: ComplaintsBy = "`cause` (default), `station` or `model`.");
report_query!(PartsQuery, by: PartsBy = "`model` (default) or `station`.",
    table: PartsTable = "The table for CSV: `consumption` (default) or `stock`.");

fn csv_failed(e: &dyn std::fmt::Display) -> ApiError {
    tracing::error!(error = %e, "writing a CSV report failed");
    ApiError::internal()
}

/// A CSV download of `rows`, named after the report and its period.
/// The columns of a row type, from its schema: the header of an export with no rows.
fn columns<T: ToSchema>() -> Vec<String> {
    use utoipa::openapi::{RefOr, Schema};
    match T::schema() {
        RefOr::T(Schema::Object(o)) => o.properties.keys().cloned().collect(),
        _ => vec![],
    }
}

/// A cell a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab, carriage return at its
/// start) gets a leading `'`, so it shows as text; numbers (`-4.5`) are left as they are.
pub fn neutralise(cell: &str) -> std::borrow::Cow<'_, str> {
    let risky = cell.starts_with(['=', '+', '-', '@', '\t', '\r']);
    if risky && cell.trim().parse::<f64>().is_err() {
        std::borrow::Cow::Owned(format!("'{cell}"))
    } else {
        std::borrow::Cow::Borrowed(cell)
    }
}

/// Rows as CSV: always a header row (from the first row, or the type's schema when there is
/// none), every text cell neutralised.
pub fn csv_body<T: Serialize + ToSchema>(rows: &[T]) -> Result<Vec<u8>, csv::Error> {
    let mut raw = csv::Writer::from_writer(Vec::new());
    if rows.is_empty() {
        raw.write_record(columns::<T>())?;
    }
    for r in rows {
        raw.serialize(r)?;
    }
    let raw = raw.into_inner().map_err(|e| csv::Error::from(e.into_error()))?;
    let mut read = csv::ReaderBuilder::new().has_headers(false).from_reader(raw.as_slice());
    let mut out = csv::Writer::from_writer(Vec::new());
    for rec in read.records() {
        out.write_record(rec?.iter().map(|c| neutralise(c).into_owned()).collect::<Vec<_>>())?;
    }
    out.into_inner().map_err(|e| csv::Error::from(e.into_error()))
}

fn csv_response<T: Serialize + ToSchema>(name: &str, period: Period, rows: &[T]) -> ApiResult<Response> {
    let bytes = csv_body(rows).map_err(|e| csv_failed(&e))?;
    let file = format!("attachment; filename=\"{name}-{}-{}.csv\"", period.from, period.to);
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (header::CONTENT_DISPOSITION, file),
        ],
        bytes,
    )
        .into_response())
}

/// Offered, answered, abandoned, service level (answered within the queue's own threshold, over
/// answered plus abandoned), ASA and AHT per queue and interval, per queue, and per agent. CSV: the
/// interval rows.
#[utoipa::path(get, path = "/api/v1/reports/call-center", tag = "reports", params(CallCenterQuery), security(("bearer" = [])),
    responses((status = 200, description = "The report (JSON), or with `format=csv` its rows", content((CallCenterReport = "application/json"), (String = "text/csv"))), (status = 400, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn call_center(
    State(st): State<AppState>,
    me: AuthUser,
    Params(q): Params<CallCenterQuery>,
) -> ApiResult<Response> {
    me.require(MANAGERS)?;
    let period = q.period()?;
    let interval = q.by.unwrap_or(Interval::Hour);
    let r = st.store.call_center_report(period, interval).await?;
    if q.csv() {
        return csv_response(&format!("call-center-{}", interval.as_str()), period, &r.intervals);
    }
    Ok(Json(r).into_response())
}

/// Repairs completed in the period by model, serial batch, fault code or station: first-time
/// fix rate (no repair of the asset within 30 days after), repeats, survey scores, labour and
/// response time. A regional supervisor's figures are their region's stations'.
#[utoipa::path(get, path = "/api/v1/reports/service", tag = "reports", params(ServiceQuery), security(("bearer" = [])),
    responses((status = 200, description = "The report (JSON), or with `format=csv` its rows", content((Vec<ServiceRow> = "application/json"), (String = "text/csv"))), (status = 400, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn service(State(st): State<AppState>, me: AuthUser, Params(q): Params<ServiceQuery>) -> ApiResult<Response> {
    me.require(MANAGERS)?;
    let mine = me.scope(&st).await?.stations();
    let period = q.period()?;
    let by = q.by.unwrap_or(Dimension::Model);
    let rows = st.store.service_report(period, by, mine.as_deref()).await?;
    if q.csv() {
        return csv_response(&format!("service-{}", by.as_str()), period, &rows);
    }
    Ok(Json(rows).into_response())
}

/// A station ranking row as CSV has it (flat).
#[derive(Serialize, ToSchema)]
struct StationCsv<'a> {
    rank: u32,
    station_id: i64,
    station: &'a str,
    repairs: i64,
    mean_score: Option<f64>,
    first_time_fix_rate: Option<f64>,
    repeat_rate: Option<f64>,
    mean_response_hours: Option<f64>,
    mean_labour_hours: Option<f64>,
}

/// Stations ranked by mean survey score, then repeat rate, then response time (a regional
/// supervisor's region's stations).
#[utoipa::path(get, path = "/api/v1/reports/stations", tag = "reports", params(StationsQuery), security(("bearer" = [])),
    responses((status = 200, description = "The report (JSON), or with `format=csv` its rows", content((Vec<StationRank> = "application/json"), (String = "text/csv"))), (status = 422, body = ErrorBody)))]
async fn stations(State(st): State<AppState>, me: AuthUser, Params(q): Params<StationsQuery>) -> ApiResult<Response> {
    me.require(MANAGERS)?;
    let mine = me.scope(&st).await?.stations();
    let period = q.period()?;
    let rows = st.store.station_ranking(period, mine.as_deref()).await?;
    if q.csv() {
        let flat: Vec<StationCsv> = rows
            .iter()
            .map(|r| StationCsv {
                rank: r.rank,
                station_id: r.station_id,
                station: &r.station,
                repairs: r.figures.repairs,
                mean_score: r.figures.mean_score,
                first_time_fix_rate: r.figures.first_time_fix_rate,
                repeat_rate: r.figures.repeat_rate,
                mean_response_hours: r.figures.mean_response_hours,
                mean_labour_hours: r.figures.mean_labour_hours,
            })
            .collect();
        return csv_response("stations", period, &flat);
    }
    Ok(Json(rows).into_response())
}

/// Parts used by model or station, warranty against paid; every station's stock of each part
/// over the period (opening, closing, consumed, turnover) with safety-stock breaches; a
/// regional supervisor's region only.
#[utoipa::path(get, path = "/api/v1/reports/parts", tag = "reports", params(PartsQuery), security(("bearer" = [])),
    responses((status = 200, description = "The report (JSON), or with `format=csv` its rows", content((PartsReport = "application/json"), (String = "text/csv"))), (status = 400, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn parts(State(st): State<AppState>, me: AuthUser, Params(q): Params<PartsQuery>) -> ApiResult<Response> {
    me.require(MANAGERS)?;
    let mine = me.scope(&st).await?.stations();
    let period = q.period()?;
    let by = q.by.unwrap_or(PartsBy::Model);
    let stock = q.table == Some(PartsTable::Stock);
    let r = st.store.parts_report(period, by, mine.as_deref()).await?;
    if q.csv() {
        return match stock {
            true => csv_response("parts-stock", period, &r.stock),
            false => csv_response(&format!("parts-{}", by.as_str()), period, &r.consumption),
        };
    }
    Ok(Json(r).into_response())
}

/// Warranty claims completed in the period: claimed, approved and reduced, per station, model or
/// fault code, or the cut and rejected lines by reason; a regional supervisor's region only.
#[utoipa::path(get, path = "/api/v1/reports/claims", tag = "reports", params(ClaimsQuery), security(("bearer" = [])),
    responses((status = 200, description = "The report (JSON), or with `format=csv` its rows", content((Vec<crm_core::claims::ClaimsRow> = "application/json"), (String = "text/csv"))), (status = 400, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn claims(State(st): State<AppState>, me: AuthUser, Params(q): Params<ClaimsQuery>) -> ApiResult<Response> {
    me.require(REVIEWERS)?;
    let mine = me.scope(&st).await?.stations();
    let period = q.period()?;
    let by = q.by.unwrap_or(crm_core::claims::ClaimsBy::Station);
    let rows = st.store.claims_report(period, by, mine.as_deref()).await?;
    if q.csv() {
        return csv_response(&format!("claims-{}", by.as_str()), period, &rows);
    }
    Ok(Json(rows).into_response())
}

/// Revenue from customer-paid repairs: invoices issued in the period by station or model, net,
/// tax, total, paid and outstanding; a regional supervisor's or station manager's stations only.
#[utoipa::path(get, path = "/api/v1/reports/revenue", tag = "reports", params(RevenueQuery), security(("bearer" = [])),
    responses((status = 200, description = "The report (JSON), or with `format=csv` its rows", content((Vec<crm_core::billing::RevenueRow> = "application/json"), (String = "text/csv"))), (status = 400, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn revenue(State(st): State<AppState>, me: AuthUser, Params(q): Params<RevenueQuery>) -> ApiResult<Response> {
    me.require(NETWORK)?;
    let mine = me.scope(&st).await?.stations();
    let period = q.period()?;
    let by = q.by.unwrap_or(crm_core::billing::RevenueBy::Station);
    let rows = st.store.revenue_report(&period, by, mine.as_deref()).await?;
    if q.csv() {
        return csv_response(&format!("revenue-{}", by.as_str()), period, &rows);
    }
    Ok(Json(rows).into_response())
}

/// Dealers' after-sales figures: products sold in the period, and the repairs, complaints and
/// survey scores in the period on everything each dealer sold. A dealer login sees its own row.
#[utoipa::path(get, path = "/api/v1/reports/dealers", tag = "reports", params(DealersQuery), security(("bearer" = [])),
    responses((status = 200, description = "The report (JSON), or with `format=csv` its rows", content((Vec<crm_core::sales::DealerRow> = "application/json"), (String = "text/csv"))), (status = 400, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn dealers(State(st): State<AppState>, me: AuthUser, Params(q): Params<DealersQuery>) -> ApiResult<Response> {
    me.require(&[
        crm_core::model::Role::Admin,
        crm_core::model::Role::Supervisor,
        crm_core::model::Role::Dealer,
    ])?;
    let dealer = super::sales::dealer_scope(&me, q.dealer_id)?;
    let period = q.period()?;
    let rows = st.store.dealer_report(&period, dealer).await?;
    if q.csv() {
        return csv_response("dealers", period, &rows);
    }
    Ok(Json(rows).into_response())
}

/// Complaints raised in the period by cause, station or model: how many, how many still open and
/// past their due date, and for stations and models the rate per 100 repairs completed there in
/// the period; a regional supervisor's region only.
#[utoipa::path(get, path = "/api/v1/reports/complaints", tag = "reports", params(ComplaintsQuery), security(("bearer" = [])),
    responses((status = 200, description = "The report (JSON), or with `format=csv` its rows", content((Vec<ComplaintsRow> = "application/json"), (String = "text/csv"))), (status = 400, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn complaints(
    State(st): State<AppState>,
    me: AuthUser,
    Params(q): Params<ComplaintsQuery>,
) -> ApiResult<Response> {
    me.require(MANAGERS)?;
    let mine = me.scope(&st).await?.stations();
    let period = q.period()?;
    let by = q.by.unwrap_or(ComplaintsBy::Cause);
    let rows = st
        .store
        .complaints_report(period, by, mine.as_deref(), Utc::now().date_naive())
        .await?;
    if q.csv() {
        return csv_response(&format!("complaints-{}", by.as_str()), period, &rows);
    }
    Ok(Json(rows).into_response())
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SettlementSearch {
    station_id: Option<i64>,
    /// 1–200, default 50.
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
}

/// Newest first; a station manager sees only their station's.
#[utoipa::path(get, path = "/api/v1/settlements", tag = "reports", params(SettlementSearch), security(("bearer" = [])),
    responses((status = 200, body = Vec<Settlement>)))]
async fn list_settlements(
    State(st): State<AppState>,
    me: AuthUser,
    Params(p): Params<SettlementSearch>,
) -> ApiResult<Json<Vec<Settlement>>> {
    me.require(NETWORK)?;
    let scope = me.scope(&st).await?;
    let limit = limit(p.limit, 50, 200)?;
    let station = match (p.station_id, scope.stations()) {
        (Some(id), _) if !scope.allows(id) => return Ok(Json(vec![])),
        (Some(id), _) => Some(id),
        (None, Some(ids)) if ids.len() == 1 => Some(ids[0]),
        (None, _) => None,
    };
    let mut list = st.store.list_settlements(station, limit).await?;
    list.retain(|s| scope.allows(s.station_id));
    Ok(Json(list))
}

/// Draw up the settlement of a station's decided warranty claims completed in the period that
/// no settlement holds yet (409 when none is left).
#[utoipa::path(post, path = "/api/v1/settlements", tag = "reports", request_body = NewSettlement, security(("bearer" = [])),
    responses((status = 201, body = Settlement), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_settlement(
    State(st): State<AppState>,
    me: AuthUser,
    Body(s): Body<NewSettlement>,
) -> ApiResult<(StatusCode, Json<Settlement>)> {
    me.require(REVIEWERS)?;
    if !me.scope(&st).await?.allows(s.station_id) {
        return Err(ApiError::invalid(
            "station_id",
            format!("no station with id {}", s.station_id),
        ));
    }
    let out = st.store.create_settlement(me.actor(), &s, Utc::now()).await?;
    Ok((StatusCode::CREATED, Json(out)))
}

#[derive(Serialize, ToSchema)]
pub struct SettlementView {
    pub settlement: Settlement,
    /// The paid claim lines.
    pub lines: Vec<crm_core::claims::PaidLine>,
    /// Each technician's claims, labour minutes and amount; they add up to the settlement.
    pub technicians: Vec<crm_core::claims::TechnicianFigures>,
}

async fn scoped_settlement(st: &AppState, me: &AuthUser, id: i64) -> ApiResult<Settlement> {
    let s = st.store.settlement(id).await?;
    me.scope(st).await?.check(Some(s.station_id), "settlement")?;
    Ok(s)
}

#[utoipa::path(get, path = "/api/v1/settlements/{id}", tag = "reports", params(("id" = i64, Path)), security(("bearer" = [])),
    responses((status = 200, body = SettlementView), (status = 404, body = ErrorBody)))]
async fn get_settlement(State(st): State<AppState>, me: AuthUser, Id(id): Id) -> ApiResult<Json<SettlementView>> {
    me.require(NETWORK)?;
    let settlement = scoped_settlement(&st, &me, id).await?;
    let lines = st.store.settlement_lines(id).await?;
    let technicians = crm_core::claims::per_technician(&lines);
    Ok(Json(SettlementView {
        settlement,
        lines,
        technicians,
    }))
}

/// A second person (not the one who drew it up) approves the draft (409 otherwise).
#[utoipa::path(post, path = "/api/v1/settlements/{id}/approve", tag = "reports", params(("id" = i64, Path)), security(("bearer" = [])),
    responses((status = 200, body = Settlement), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn approve_settlement(State(st): State<AppState>, me: AuthUser, Id(id): Id) -> ApiResult<Json<Settlement>> {
    me.require(MANAGERS)?;
    scoped_settlement(&st, &me, id).await?;
    Ok(Json(st.store.approve_settlement(me.actor(), id, Utc::now()).await?))
}

/// An approved settlement as CSV: one line per paid claim line, then one per technician, then
/// the total (409 while a draft).
#[utoipa::path(get, path = "/api/v1/settlements/{id}/export", tag = "reports", params(("id" = i64, Path)), security(("bearer" = [])),
    responses((status = 200, content_type = "text/csv", body = String), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn export_settlement(State(st): State<AppState>, me: AuthUser, Id(id): Id) -> ApiResult<Response> {
    me.require(NETWORK)?;
    let s = scoped_settlement(&st, &me, id).await?;
    if s.status != SettlementStatus::Approved {
        return Err(StoreError::conflict("status", "only an approved settlement is exported").into());
    }
    #[derive(Serialize, ToSchema)]
    struct Line {
        settlement_id: i64,
        station_id: i64,
        /// `line`, `technician` or `total`.
        row: &'static str,
        claim_id: Option<i64>,
        repair_order_id: Option<i64>,
        completed_on: Option<NaiveDate>,
        technician_id: Option<i64>,
        kind: String,
        description: String,
        decision: String,
        labour_minutes: Option<i64>,
        claimed_minor: Option<i64>,
        amount_minor: i64,
        currency: String,
    }
    let lines = st.store.settlement_lines(id).await?;
    let base = |row| Line {
        settlement_id: s.id,
        station_id: s.station_id,
        row,
        claim_id: None,
        repair_order_id: None,
        completed_on: None,
        technician_id: None,
        kind: String::new(),
        description: String::new(),
        decision: String::new(),
        labour_minutes: None,
        claimed_minor: None,
        amount_minor: 0,
        currency: s.currency.clone(),
    };
    let mut rows: Vec<Line> = lines
        .iter()
        .map(|l| Line {
            claim_id: Some(l.claim_id),
            repair_order_id: Some(l.repair_order_id),
            completed_on: Some(l.completed_on),
            technician_id: l.technician_id,
            kind: l.kind.as_str().into(),
            description: l.description.clone(),
            decision: l.decision.as_str().into(),
            labour_minutes: l.minutes.map(i64::from),
            claimed_minor: Some(l.claimed_minor),
            amount_minor: l.amount_minor,
            ..base("line")
        })
        .collect();
    for t in crm_core::claims::per_technician(&lines) {
        rows.push(Line {
            technician_id: t.technician_id,
            description: format!("{} claims", t.claims),
            labour_minutes: Some(t.labour_minutes),
            amount_minor: t.amount_minor,
            ..base("technician")
        });
    }
    rows.push(Line {
        description: format!("{} claims, {} lines", s.claims, s.lines),
        claimed_minor: Some(s.claimed_minor),
        amount_minor: s.amount_minor,
        ..base("total")
    });
    csv_response(
        &format!("settlement-{}-station-{}", s.id, s.station_id),
        s.period,
        &rows,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize, ToSchema)]
    struct Row {
        name: String,
        delta: i64,
    }

    #[test]
    fn exports_neutralise_formulas_and_always_have_a_header() {
        let rows = vec![
            Row {
                name: "=HYPERLINK(\"http://x\")".into(),
                delta: -4,
            },
            Row {
                name: "@SUM(A1)".into(),
                delta: 2,
            },
            Row {
                name: "+49 30 1".into(),
                delta: 0,
            },
            Row {
                name: "plain".into(),
                delta: 1,
            },
        ];
        let text = String::from_utf8(csv_body(&rows).unwrap()).unwrap();
        assert_eq!(
            text,
            "name,delta\n\"'=HYPERLINK(\"\"http://x\"\")\",-4\n'@SUM(A1),2\n'+49 30 1,0\nplain,1\n"
        );
        let empty: Vec<Row> = vec![];
        assert_eq!(String::from_utf8(csv_body(&empty).unwrap()).unwrap(), "name,delta\n");
    }
}
