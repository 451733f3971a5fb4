//! The dispatch adapter: reads stations, technicians, shifts, stock and open orders from the CRM
//! store, runs the dispatch engine's cores (candidate search, day planner) and writes their
//! decisions back. The clock is read by the callers and passed in as `now`.
//!
//! Shift times are taken as UTC, like the rest of the service's scheduling.

use std::collections::HashMap;

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Timelike, Utc};
use crm_core::field::{DispatchDecision, TaskStatus};
use crm_core::model::{Actor, RepairOrder, RepairStatus, Station, Technician};
use crm_core::{Store, StoreResult};
use dispatch::candidates::{Candidate, Index, Order, Point, Reason, Settings, StationStock, Tech};
use dispatch::dayplan::{Job, Plan, Planner, Problem, SkillBits, Vehicle};
use dispatch::travel::{StraightLine, TravelModel};
use serde::Serialize;
use utoipa::ToSchema;

/// What the dispatcher's map follows live (`/api/v1/dispatch/ws`). In-process on one node; the
/// same messages go over Redis when several nodes share the work.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FieldEvent {
    Position {
        technician_id: i64,
        lat: f64,
        lon: f64,
        at: DateTime<Utc>,
    },
    Task {
        repair_order_id: i64,
        technician_id: i64,
        status: TaskStatus,
    },
    Dispatch {
        repair_order_id: i64,
        technician_id: Option<i64>,
        unassigned_reason: Option<String>,
    },
    Planned {
        date: NaiveDate,
    },
    StockAlert {
        station_id: i64,
        part_id: i64,
        quantity: i64,
        safety_stock: u32,
    },
}

impl FieldEvent {
    pub fn dispatch(ro: &RepairOrder) -> FieldEvent {
        FieldEvent::Dispatch {
            repair_order_id: ro.id,
            technician_id: ro.technician_id,
            unassigned_reason: ro.unassigned_reason.clone(),
        }
    }
}

/// Minutes since the Unix epoch.
pub fn minute(t: DateTime<Utc>) -> i64 {
    t.timestamp().div_euclid(60)
}

pub fn from_minute(m: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(m * 60, 0).unwrap_or_default()
}

fn midnight(d: NaiveDate) -> DateTime<Utc> {
    Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0).unwrap_or_default())
}

fn point(p: crm_core::types::GeoPoint) -> Point {
    Point { lat: p.lat, lon: p.lon }
}

/// What a candidate search needs about an order.
#[derive(Debug, Clone, Copy)]
pub struct Need {
    /// Minimum skill level for the product line.
    pub level: u8,
    pub sla_hours: u32,
    /// Days ahead (from today) a visit may be booked.
    pub days: i64,
}

impl Default for Need {
    fn default() -> Self {
        Need {
            level: 1,
            sla_hours: 48,
            days: 7,
        }
    }
}

/// The network as the engine sees it.
pub struct Network {
    pub stations: Vec<Station>,
    pub technicians: Vec<Technician>,
    pub stock: Vec<StationStock>,
    /// Minutes already booked per (technician, day number).
    pub booked: HashMap<(i64, i64), u32>,
}

pub async fn network(store: &dyn Store) -> StoreResult<Network> {
    let stations = store.list_stations().await?;
    let mut stock = vec![];
    for s in &stations {
        let parts = store
            .stock_levels(s.id)
            .await?
            .into_iter()
            .map(|l| (l.part_id, l.quantity.max(0) as u32))
            .collect();
        stock.push(StationStock {
            id: s.id,
            at: point(s.location),
            parts,
        });
    }
    let mut booked = HashMap::new();
    for ro in store.open_repair_orders(100_000).await? {
        if let (Some(t), Some(at)) = (ro.technician_id, ro.scheduled_for) {
            *booked.entry((t, minute(at).div_euclid(1440))).or_insert(0) += ro.duration_minutes;
        }
    }
    Ok(Network {
        stations,
        technicians: store.list_technicians(None).await?,
        stock,
        booked,
    })
}

impl Network {
    /// The candidate index for the next `days` days from `now`: shifts, capacity left after
    /// what is already booked, locations (the last GPS report, else the home station).
    pub fn index(&self, now: DateTime<Utc>, days: i64, fallback: Point) -> Index {
        let day0 = midnight(now.date_naive());
        let station_at: HashMap<i64, Point> = self.stock.iter().map(|s| (s.id, s.at)).collect();
        let techs = self
            .technicians
            .iter()
            .map(|t| {
                let mut shifts = vec![];
                let mut free = HashMap::new();
                for d in 0..days {
                    let day = day0 + Duration::days(d);
                    let weekday = day.weekday().number_from_monday() as u8;
                    let n = minute(day).div_euclid(1440);
                    for s in t.shifts.iter().filter(|s| s.weekday == weekday) {
                        let from = minute(day) + i64::from(s.opens.num_seconds_from_midnight() / 60);
                        let to = minute(day) + i64::from(s.closes.num_seconds_from_midnight() / 60);
                        shifts.push((from, to));
                        *free.entry(n).or_insert(0u32) += (to - from).max(0) as u32;
                    }
                    if let (Some(f), Some(b)) = (free.get_mut(&n), self.booked.get(&(t.id, n))) {
                        *f = f.saturating_sub(*b);
                    }
                }
                shifts.sort_unstable();
                Tech {
                    id: t.id,
                    station: t.station_id,
                    at: t
                        .location
                        .map(point)
                        .or_else(|| station_at.get(&t.station_id).copied())
                        .unwrap_or(fallback),
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
        Index::new(Settings::default(), fallback.lat, self.stock.clone()).with_techs(techs)
    }
}

/// Where a repair order's visit is, and the product line it needs.
pub async fn order_facts(store: &dyn Store, ro: &RepairOrder) -> StoreResult<(Option<Point>, String)> {
    let asset = store.get_asset(ro.asset_id).await?;
    let model = store.get_model(asset.model_id).await?;
    let customer = store.get_customer(ro.customer_id).await?;
    let at = customer.addresses.iter().find_map(|a| a.location).map(point);
    Ok((at, model.product_line.as_str().to_string()))
}

/// The best `limit` technicians for an order over the next days, or why there is none.
pub fn rank(
    net: &Network,
    ro: &RepairOrder,
    at: Point,
    product_line: &str,
    need: Need,
    now: DateTime<Utc>,
    limit: usize,
) -> Result<Vec<Candidate>, Reason> {
    let index = net.index(now, need.days, at);
    let day0 = midnight(now.date_naive());
    let order = Order {
        at,
        skills: vec![(product_line.to_string(), need.level)],
        minutes: ro.duration_minutes,
        parts: vec![],
        window: (minute(now), minute(day0 + Duration::days(need.days))),
        deadline: minute(ro.created_at + Duration::hours(i64::from(need.sla_hours))),
    };
    // A day's capacity is that day's: search day by day.
    let mut found: Vec<Candidate> = vec![];
    let mut reason = Reason::NoSkillMatch;
    for d in 0..need.days {
        let start = minute(day0 + Duration::days(d)).max(minute(now));
        let day_order = Order {
            window: (start, minute(day0 + Duration::days(d + 1))),
            ..order.clone()
        };
        match index.candidates(&day_order, minute(now), limit) {
            Ok(c) => found.extend(c),
            Err(r) => reason = reason.max(r),
        }
        if found.len() >= limit {
            break;
        }
    }
    if found.is_empty() {
        return Err(reason);
    }
    found.truncate(limit);
    Ok(found)
}

/// Assign a new order to its best candidate, or record why nobody can take it.
pub async fn auto_assign(store: &dyn Store, actor: Actor, id: i64, now: DateTime<Utc>) -> StoreResult<RepairOrder> {
    let ro = store.get_repair_order(id).await?;
    let (at, line) = order_facts(store, &ro).await?;
    let decision = match at {
        None => DispatchDecision::Unassigned {
            reason: Reason::WindowInfeasible.as_str().into(),
        },
        Some(at) => {
            let net = network(store).await?;
            match rank(&net, &ro, at, &line, Need::default(), now, 1) {
                Ok(best) => DispatchDecision::Assign {
                    station_id: best[0].station,
                    technician_id: best[0].tech,
                    scheduled_for: from_minute(best[0].start),
                    route_seq: None,
                },
                Err(r) => DispatchDecision::Unassigned {
                    reason: r.as_str().into(),
                },
            }
        }
    };
    store.set_dispatch(actor, id, &decision).await
}

/// A repair order just created: assign it when auto-assignment is on and nobody was named. The
/// order exists either way; a failure here is logged and the order stays `new`.
pub async fn dispatch_new(st: &crate::http::AppState, actor: Actor, ro: RepairOrder) -> RepairOrder {
    if !st.settings.auto_assign || ro.technician_id.is_some() {
        return ro;
    }
    match auto_assign(st.store.as_ref(), actor, ro.id, Utc::now()).await {
        Ok(done) => {
            let _ = st.events.send(FieldEvent::dispatch(&done));
            done
        }
        Err(e) => {
            tracing::warn!(repair_order = ro.id, error = %e, "auto-assignment failed");
            ro
        }
    }
}

// ---------------------------------------------------------------- day plans

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PlannedRoute {
    pub technician_id: i64,
    pub station_id: i64,
    /// Repair orders in visiting order.
    pub orders: Vec<i64>,
    pub travel_minutes: f64,
    /// Where the route starts: the GPS position when re-planning today, else the station.
    pub start: [f64; 2],
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Unassigned {
    pub repair_order_id: i64,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DayPlan {
    pub date: NaiveDate,
    pub routes: Vec<PlannedRoute>,
    pub unassigned: Vec<Unassigned>,
    /// Orders whose work has started: kept with their technician, who starts from there.
    pub frozen: Vec<i64>,
    pub travel_minutes: f64,
    pub iterations: u64,
}

/// Plan `date` for every technician with a shift that day: open orders not yet started, with
/// the visit on that day or not yet scheduled. Started work is frozen (its technician's route
/// starts where it is, once it is done); today, a route starts at the technician's last
/// reported position. Writes every decision back; returns the plan.
pub async fn plan_day(
    store: &dyn Store,
    actor: Actor,
    date: NaiveDate,
    now: DateTime<Utc>,
    speed_kmh: f64,
    iterations: u64,
    seed: u64,
) -> StoreResult<DayPlan> {
    let net = network(store).await?;
    let day0 = midnight(date);
    let today = date == now.date_naive();
    let now_min = (minute(now) - minute(day0)) as f64;
    let station_at: HashMap<i64, Point> = net.stations.iter().map(|s| (s.id, point(s.location))).collect();
    let mut lines: Vec<String> = vec![];
    let mut line_index = |l: &str| match lines.iter().position(|x| x == l) {
        Some(i) => i,
        None => {
            lines.push(l.to_string());
            lines.len() - 1
        }
    };
    // Jobs, and the work already started (frozen).
    let mut jobs = vec![];
    let mut frozen: HashMap<i64, (i64, Point, f64)> = HashMap::new();
    let mut frozen_ids = vec![];
    let mut unplaceable = vec![];
    for ro in store.open_repair_orders(100_000).await? {
        let on_day = ro.scheduled_for.is_none_or(|s| s.date_naive() == date);
        if !on_day {
            continue;
        }
        let (at, line) = order_facts(store, &ro).await?;
        let Some(at) = at else {
            unplaceable.push(ro.id);
            continue;
        };
        if ro.task_status.is_some_and(TaskStatus::started) || ro.status == RepairStatus::InProgress {
            if let Some(t) = ro.technician_id {
                // The technician continues from the last started visit, after all of them.
                let f = frozen.entry(t).or_insert((ro.id, at, 0.0));
                f.1 = at;
                f.2 += f64::from(ro.duration_minutes);
            }
            frozen_ids.push(ro.id);
            continue;
        }
        let skill = line_index(&line);
        if skill >= 12 {
            unplaceable.push(ro.id);
            continue;
        }
        jobs.push((
            ro.id,
            Job {
                id: ro.id,
                at,
                duration: f64::from(ro.duration_minutes),
                window: (0.0, 1440.0),
                skills: SkillBits::need(skill, 1),
                must: true,
            },
        ));
    }
    let weekday = date.weekday().number_from_monday() as u8;
    let mut vehicles = vec![];
    let mut starts = vec![];
    for t in &net.technicians {
        let Some(shift) = t.shifts.iter().find(|s| s.weekday == weekday) else {
            continue;
        };
        let home = station_at
            .get(&t.station_id)
            .copied()
            .unwrap_or(Point { lat: 0.0, lon: 0.0 });
        let mut open = f64::from(shift.opens.num_seconds_from_midnight() / 60);
        let close = f64::from(shift.closes.num_seconds_from_midnight() / 60);
        let mut start = home;
        if today {
            open = open.max(now_min);
            start = t.location.map(point).unwrap_or(home);
        }
        let mut work = close - open;
        if let Some((_, at, minutes)) = frozen.get(&t.id) {
            start = *at;
            open += minutes;
            work -= minutes;
        }
        if open >= close {
            continue;
        }
        let mut skills = 0u64;
        for s in &t.skills {
            if let Some(i) = lines.iter().position(|l| l == s.name.as_str()) {
                skills |= SkillBits::have(i, s.level.get());
            }
        }
        vehicles.push(Vehicle {
            id: t.id,
            start,
            end: home,
            shift: (open, close),
            max_work: work.max(0.0),
            skills,
        });
        starts.push((t.id, t.station_id));
    }
    let reference_lat = station_at.values().next().map_or(50.0, |p| p.lat);
    let travel = StraightLine::new(speed_kmh, 1.3, reference_lat);
    let problem = Problem {
        vehicles,
        jobs: jobs.iter().map(|(_, j)| j.clone()).collect(),
        travel: &travel,
    };
    let mut planner = Planner::new(&problem, seed);
    let mut done = 0;
    let plan: Plan = planner.run(None, |i| {
        done = i;
        (i < iterations).then(|| i as f64 / iterations.max(1) as f64)
    });
    // Write back: start times from the route, in order.
    let mut routes = vec![];
    for (v, route) in plan.routes.iter().enumerate() {
        let veh = &problem.vehicles[v];
        let (tech, station) = starts[v];
        let mut t = veh.shift.0;
        let mut at = veh.start;
        let mut ids = vec![];
        for (seq, &j) in route.iter().enumerate() {
            let job = &problem.jobs[j];
            t = (t + travel.minutes(at, job.at)).max(job.window.0);
            store
                .set_dispatch(
                    actor,
                    job.id,
                    &DispatchDecision::Assign {
                        station_id: station,
                        technician_id: tech,
                        scheduled_for: day0 + Duration::seconds((t * 60.0).round() as i64),
                        route_seq: Some(seq as u32 + 1),
                    },
                )
                .await?;
            ids.push(job.id);
            t += job.duration;
            at = job.at;
        }
        let legs: f64 = std::iter::once(veh.start)
            .chain(route.iter().map(|&j| problem.jobs[j].at))
            .chain(std::iter::once(veh.end))
            .collect::<Vec<_>>()
            .windows(2)
            .map(|w| travel.minutes(w[0], w[1]))
            .sum();
        if !ids.is_empty() {
            routes.push(PlannedRoute {
                technician_id: tech,
                station_id: station,
                orders: ids,
                travel_minutes: (legs * 10.0).round() / 10.0,
                start: [veh.start.lat, veh.start.lon],
            });
        }
    }
    let mut unassigned = vec![];
    for &(j, reason) in &plan.unassigned {
        let id = problem.jobs[j].id;
        let reason = reason.as_str().to_string();
        store
            .set_dispatch(actor, id, &DispatchDecision::Unassigned { reason: reason.clone() })
            .await?;
        unassigned.push(Unassigned {
            repair_order_id: id,
            reason,
        });
    }
    for id in unplaceable {
        let reason = Reason::WindowInfeasible.as_str().to_string();
        if store
            .set_dispatch(actor, id, &DispatchDecision::Unassigned { reason: reason.clone() })
            .await
            .is_ok()
        {
            unassigned.push(Unassigned {
                repair_order_id: id,
                reason,
            });
        }
    }
    Ok(DayPlan {
        date,
        routes,
        unassigned,
        frozen: frozen_ids,
        travel_minutes: (plan.travel * 10.0).round() / 10.0,
        iterations: done,
    })
}

/// A visit on today's route: where, planned start, minutes on site, check-in time if there.
pub type Visit = (Point, Option<DateTime<Utc>>, u32, Option<DateTime<Utc>>);

/// Estimated arrival at each of a technician's open visits today, in route order, from where
/// they are now: a visit begins no earlier than its planned start; work on site counts from the
/// check-in.
pub fn etas(travel: &dyn TravelModel, now: DateTime<Utc>, from: Point, visits: &[Visit]) -> Vec<DateTime<Utc>> {
    let mut t = now;
    let mut at = from;
    let mut out = vec![];
    for &(to, planned, minutes, checked_in) in visits {
        let eta = match checked_in {
            Some(c) => c,
            None => {
                let arrive = t + Duration::seconds((travel.minutes(at, to) * 60.0).round() as i64);
                planned.map_or(arrive, |p| p.max(arrive))
            }
        };
        out.push(eta);
        t = (eta + Duration::minutes(i64::from(minutes))).max(now);
        at = to;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etas_follow_the_route() {
        let now = Utc.with_ymd_and_hms(2026, 11, 30, 9, 0, 0).unwrap();
        let ten_km = |_: Point, _: Point| 10.0;
        let p = Point { lat: 52.5, lon: 13.4 };
        let planned = now + Duration::minutes(120);
        let e = etas(
            &ten_km,
            now,
            p,
            &[
                (p, None, 60, Some(now - Duration::minutes(20))),
                (p, None, 30, None),
                (p, Some(planned), 30, None),
            ],
        );
        // On site since 08:40 for an hour: free at 09:40; +10 min travel; then wait for 11:00.
        assert_eq!(e[0], now - Duration::minutes(20));
        assert_eq!(e[1], now + Duration::minutes(50));
        assert_eq!(e[2], planned);
    }
}
