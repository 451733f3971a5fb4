//! The dispatch adapter: reads stations, technicians, shifts, stock and open orders from the CRM
//! store, runs the dispatch engine's cores (candidate search, day planner) and writes their
//! decisions back. The clock is read by the callers and passed in as `now`.
//!
//! Shifts are local times at the technician's station (its time zone); everything else is UTC.

use std::collections::HashMap;

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Timelike, Utc};
use crm_core::field::{DispatchDecision, TaskStatus};
use crm_core::model::{Actor, Priority, RepairOrder, RepairStatus, Station, Technician};
use crm_core::{Store, StoreResult};
use dispatch::candidates::{Candidate, Index, Order, Point, Reason, Settings, StationStock, Tech};
use dispatch::dayplan::{timeline, Break, Job, Plan, Planner, Problem, SkillBits, Vehicle};
use dispatch::travel::{StraightLine, TravelModel};
use serde::Serialize;
use utoipa::ToSchema;

/// What the dispatcher's map follows live (`/api/v1/dispatch/ws`). In-process on one node; the
/// same messages go over Redis when several nodes share the work.
#[derive(Debug, Clone, Serialize, serde::Deserialize, ToSchema)]
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
    /// Events may have been missed: reload the board.
    Resync,
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

/// Hours from an order's creation to its SLA deadline, by its ticket's priority.
pub fn sla_hours(p: Priority) -> u32 {
    match p {
        Priority::Urgent => 8,
        Priority::High => 24,
        Priority::Normal => 48,
        Priority::Low => 120,
    }
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
        let tz_of: HashMap<i64, chrono_tz::Tz> = self.stations.iter().map(|s| (s.id, s.time_zone.tz())).collect();
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
                    let tz = tz_of.get(&t.station_id).copied().unwrap_or(chrono_tz::UTC);
                    for s in t.shifts.iter().filter(|s| s.weekday == weekday) {
                        let from = minute(local_to_utc(day.date_naive(), tz, s.opens));
                        let to = minute(local_to_utc(day.date_naive(), tz, s.closes));
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
pub async fn order_facts(store: &dyn Store, ro: &RepairOrder) -> StoreResult<Site> {
    Ok(sites(store, std::slice::from_ref(ro))
        .await?
        .remove(&ro.id)
        .unwrap_or(Site {
            at: None,
            line: String::new(),
            priority: Priority::Normal,
        }))
}

/// Where an order's visit is, the skill it needs and its ticket's priority.
#[derive(Debug, Clone)]
pub struct Site {
    /// `None`: the customer has no address with a location.
    pub at: Option<Point>,
    pub line: String,
    pub priority: Priority,
}

/// Location, product line and priority of many orders at once.
pub async fn sites(store: &dyn Store, orders: &[RepairOrder]) -> StoreResult<HashMap<i64, Site>> {
    let ids: Vec<i64> = orders.iter().map(|o| o.id).collect();
    Ok(store
        .order_sites(&ids)
        .await?
        .into_iter()
        .map(|s| {
            let site = Site {
                at: s.location.map(point),
                line: s.product_line,
                priority: s.priority,
            };
            (s.repair_order_id, site)
        })
        .collect())
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
        parts: ro.parts_needed.iter().map(|p| (p.part_id, p.quantity)).collect(),
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
    let site = order_facts(store, &ro).await?;
    let need = Need {
        sla_hours: sla_hours(site.priority),
        ..Need::default()
    };
    let decision = match site.at {
        None => DispatchDecision::Unassigned {
            reason: Reason::WindowInfeasible.as_str().into(),
        },
        Some(at) => {
            let net = network(store).await?;
            match rank(&net, &ro, at, &site.line, need, now, 1) {
                Ok(best) => DispatchDecision::Assign {
                    station_id: best[0].station,
                    technician_id: best[0].tech,
                    scheduled_for: from_minute(best[0].start),
                    route_seq: None,
                    appointment: None,
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
            let urgent = st
                .store
                .get_ticket(done.ticket_id)
                .await
                .is_ok_and(|t| t.priority == crm_core::model::Priority::Urgent);
            if urgent {
                replan_soon(st, "urgent order");
            }
            done
        }
        Err(e) => {
            tracing::warn!(repair_order = ro.id, error = %e, "auto-assignment failed");
            ro
        }
    }
}

// ---------------------------------------------------------------- re-planning

/// Re-plans today in the background when asked to; requests that arrive while one runs are
/// coalesced into one more run after it.
#[derive(Default)]
pub struct Replanner {
    /// (running, asked again meanwhile)
    state: std::sync::Mutex<(bool, bool)>,
}

/// An urgent order arrived or a technician fell behind: re-plan today (started work stays).
pub fn replan_soon(st: &crate::http::AppState, why: &'static str) {
    {
        let mut s = st.replan.state.lock().unwrap_or_else(|e| e.into_inner());
        if s.0 {
            s.1 = true;
            return;
        }
        *s = (true, false);
    }
    let st = st.clone();
    tokio::spawn(async move {
        loop {
            let now = Utc::now();
            let date = now.date_naive();
            match plan_day(
                st.store.as_ref(),
                Actor::SYSTEM,
                date,
                now,
                st.settings.day_rules(),
                None,
                5_000,
                1,
            )
            .await
            {
                Ok(plan) => {
                    tracing::info!(
                        reason = why,
                        routes = plan.routes.len(),
                        unassigned = plan.unassigned.len(),
                        "re-planned today"
                    );
                    let _ = st.events.send(FieldEvent::Planned { date });
                }
                Err(e) => tracing::warn!(reason = why, error = %e, "re-planning failed"),
            }
            let mut s = st.replan.state.lock().unwrap_or_else(|e| e.into_inner());
            if !s.1 {
                *s = (false, false);
                break;
            }
            s.1 = false;
        }
    });
}

/// Whether a technician at `at` can no longer reach their next visit today in time (30 minutes
/// of slack past its planned start).
pub async fn falls_behind(
    store: &dyn Store,
    technician_id: i64,
    at: Point,
    now: DateTime<Utc>,
    speed_kmh: f64,
) -> StoreResult<bool> {
    let tasks = store.tech_tasks(technician_id, midnight(now.date_naive())).await?;
    let next = tasks.iter().find(|t| {
        matches!(t.status, TaskStatus::Assigned | TaskStatus::Accepted)
            && t.scheduled_for.is_some_and(|s| s.date_naive() == now.date_naive())
    });
    let Some(next) = next else { return Ok(false) };
    let Some(to) = next.customer.address.as_ref().and_then(|a| a.location) else {
        return Ok(false);
    };
    let travel = StraightLine::new(speed_kmh, 1.3, at.lat);
    let eta = now + Duration::seconds((travel.minutes(at, point(to)) * 60.0) as i64);
    Ok(next
        .scheduled_for
        .is_some_and(|planned| eta > planned + Duration::minutes(30)))
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
    /// Breaks as planned (the gap of a split shift, and rest on long stretches).
    pub breaks: Vec<PlannedBreak>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PlannedBreak {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

/// An order planned to finish after its SLA deadline (the day allowed no better).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Late {
    pub repair_order_id: i64,
    pub minutes: f64,
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
    /// Orders that will finish past their SLA deadline.
    pub late: Vec<Late>,
    pub travel_minutes: f64,
    pub iterations: u64,
}

/// A shift boundary (local time at the station) as a UTC instant on `date`.
pub fn local_to_utc(date: NaiveDate, tz: chrono_tz::Tz, t: NaiveTime) -> DateTime<Utc> {
    use chrono::TimeZone as _;
    let local = date.and_time(t);
    tz.from_local_datetime(&local)
        .earliest()
        // A shift starting in a spring-forward gap starts an hour later.
        .or_else(|| tz.from_local_datetime(&(local + Duration::hours(1))).earliest())
        .map(|d| d.with_timezone(&Utc))
        .unwrap_or_else(|| midnight(date) + Duration::seconds(i64::from(t.num_seconds_from_midnight())))
}

/// A day as the planner sees it, read from the store: technicians with a shift that day as
/// vehicles, open orders not yet started (on that day or unscheduled) as jobs, and the current
/// assignment as routes. Minutes count from UTC midnight of `date`.
pub struct Day {
    pub date: NaiveDate,
    pub day0: DateTime<Utc>,
    pub vehicles: Vec<Vehicle>,
    /// (technician, station) of each vehicle.
    pub techs: Vec<(i64, i64)>,
    pub jobs: Vec<Job>,
    /// Orders whose work has started: kept with their technician.
    pub frozen: Vec<i64>,
    /// Orders without a location: nobody can be routed there.
    pub unplaceable: Vec<i64>,
    /// The current routes (job indices per vehicle, by route order then planned start).
    pub current: Vec<Vec<usize>>,
    /// Product lines, in the order of their skill bits.
    lines: Vec<String>,
    /// Station → part → quantity on hand.
    stock: HashMap<i64, HashMap<i64, u32>>,
    /// Each vehicle's skills by name and level.
    tech_skills: Vec<Vec<(String, u8)>>,
    pub travel: StraightLine,
}

/// Any time of the visit's day, in any time zone.
const WHOLE_DAY: (f64, f64) = (-720.0, 2160.0);

impl Day {
    fn skill(&mut self, line: &str) -> Option<usize> {
        let i = match self.lines.iter().position(|x| x == line) {
            Some(i) => i,
            None => {
                self.lines.push(line.to_string());
                self.lines.len() - 1
            }
        };
        (i < 12).then_some(i)
    }

    /// The planner's job for an order: its skill, the stations holding all its parts (`[-1]`,
    /// nobody, when no station does), the booked appointment as its window, and the SLA
    /// deadline by the ticket's priority. Must-serve: booked, high or urgent, or due by the end
    /// of the day; the rest are served when there is room.
    fn job(&mut self, ro: &RepairOrder, at: Point, site: &Site) -> Option<Job> {
        let skill = self.skill(&site.line)?;
        let stations = if ro.parts_needed.is_empty() {
            vec![]
        } else {
            let mut s: Vec<i64> = self
                .stock
                .iter()
                .filter(|(_, parts)| {
                    ro.parts_needed
                        .iter()
                        .all(|n| parts.get(&n.part_id).is_some_and(|q| *q >= n.quantity))
                })
                .map(|(id, _)| *id)
                .collect();
            s.sort_unstable();
            if s.is_empty() {
                s.push(-1);
            }
            s
        };
        let day0 = minute(self.day0);
        let window = ro.appointment.map_or(WHOLE_DAY, |a| {
            ((minute(a.from) - day0) as f64, (minute(a.to) - day0) as f64)
        });
        let due = ro.created_at + Duration::hours(i64::from(sla_hours(site.priority)));
        let deadline = (minute(due) - day0) as f64;
        Some(Job {
            id: ro.id,
            at,
            duration: f64::from(ro.duration_minutes),
            window,
            skills: SkillBits::need(skill, 1),
            must: ro.appointment.is_some()
                || matches!(site.priority, Priority::High | Priority::Urgent)
                || deadline <= 1440.0,
            stations,
            deadline: Some(deadline),
        })
    }

    /// Vehicles' skill bits for the product lines known so far.
    fn set_skill_bits(&mut self) {
        for (v, skills) in self.vehicles.iter_mut().zip(&self.tech_skills) {
            v.skills = skills
                .iter()
                .filter_map(|(name, level)| {
                    let i = self.lines.iter().position(|l| l == name).filter(|i| *i < 12)?;
                    Some(SkillBits::have(i, *level))
                })
                .fold(0, |a, b| a | b);
        }
    }

    pub fn problem(&self) -> Problem<'_> {
        Problem {
            vehicles: self.vehicles.clone(),
            jobs: self.jobs.clone(),
            travel: &self.travel,
        }
    }

    pub fn current_plan(&self) -> Plan {
        Plan {
            routes: self.current.clone(),
            unassigned: vec![],
            travel: 0.0,
        }
    }
}

/// How technicians' days run.
#[derive(Debug, Clone, Copy)]
pub struct DayRules {
    pub speed_kmh: f64,
    /// Break for every stretch of shift over six hours, starting three to six hours into it.
    pub break_minutes: f64,
}

/// A technician's shifts on a day (minutes from the day's midnight, in order) as the planner's
/// shift, hours of work and breaks: the gap of a split shift is a fixed break, and each stretch
/// over six hours has a break of `break_minutes` starting three to six hours into it.
pub fn shift_day(shifts: &[(f64, f64)], break_minutes: f64) -> ((f64, f64), f64, Vec<Break>) {
    let mut breaks = vec![];
    let mut work = 0.0;
    for (i, &(from, to)) in shifts.iter().enumerate() {
        if i > 0 && from > shifts[i - 1].1 {
            let at = shifts[i - 1].1;
            breaks.push(Break {
                window: (at, at),
                minutes: from - at,
            });
        }
        work += (to - from).max(0.0);
        if break_minutes > 0.0 && to - from > 360.0 {
            breaks.push(Break {
                window: (from + 180.0, from + 360.0),
                minutes: break_minutes,
            });
            work -= break_minutes;
        }
    }
    breaks.sort_by(|a, b| a.window.0.total_cmp(&b.window.0));
    let open = shifts.first().map_or(0.0, |s| s.0);
    let close = shifts.iter().map(|s| s.1).fold(open, f64::max);
    ((open, close), work.max(0.0), breaks)
}

/// The day of `date` as the planner sees it. `stations`: only their technicians, the orders
/// already at them, and unassigned orders nearest to one of them (a region); `None`: everybody.
pub async fn day(
    store: &dyn Store,
    date: NaiveDate,
    now: DateTime<Utc>,
    rules: DayRules,
    stations: Option<&[i64]>,
    except: Option<i64>,
) -> StoreResult<Day> {
    let speed_kmh = rules.speed_kmh;
    let net = network(store).await?;
    let day0 = midnight(date);
    let today = date == now.date_naive();
    let now_min = (minute(now) - minute(day0)) as f64;
    let station_at: HashMap<i64, Point> = net.stations.iter().map(|s| (s.id, point(s.location))).collect();
    let reference_lat = station_at.values().next().map_or(50.0, |p| p.lat);
    let mut d = Day {
        date,
        day0,
        vehicles: vec![],
        techs: vec![],
        jobs: vec![],
        frozen: vec![],
        unplaceable: vec![],
        current: vec![],
        lines: vec![],
        tech_skills: vec![],
        stock: net.stock.iter().map(|s| (s.id, s.parts.clone())).collect(),
        travel: StraightLine::new(speed_kmh, 1.3, reference_lat),
    };
    let mut started: HashMap<i64, (Point, f64)> = HashMap::new();
    let orders: Vec<RepairOrder> = store
        .open_repair_orders(100_000)
        .await?
        .into_iter()
        .filter(|ro| {
            Some(ro.id) != except
                && ro.scheduled_for.is_none_or(|s| s.date_naive() == date)
                && ro.appointment.is_none_or(|a| a.from.date_naive() == date)
        })
        .collect();
    let mut sites = sites(store, &orders).await?;
    let near = StraightLine::new(speed_kmh, 1.0, reference_lat);
    let in_region = |ro: &RepairOrder, at: Point| match (stations, ro.station_id) {
        (None, _) => true,
        (Some(ours), Some(s)) => ours.contains(&s),
        (Some(ours), None) => net
            .stations
            .iter()
            .min_by(|a, b| {
                let d = |s: &Station| near.minutes(point(s.location), at);
                d(a).total_cmp(&d(b))
            })
            .is_some_and(|nearest| ours.contains(&nearest.id)),
    };
    // The order behind each job.
    let mut assigned: Vec<&RepairOrder> = vec![];
    for ro in &orders {
        let Some(site) = sites.remove(&ro.id) else { continue };
        let Some(at) = site.at else {
            if stations.is_none_or(|ours| ro.station_id.is_some_and(|s| ours.contains(&s))) {
                d.unplaceable.push(ro.id);
            }
            continue;
        };
        if !in_region(ro, at) {
            continue;
        }
        if ro.task_status.is_some_and(TaskStatus::started) || ro.status == RepairStatus::InProgress {
            if let Some(t) = ro.technician_id {
                // The technician continues from the last started visit, after all of them.
                let f = started.entry(t).or_insert((at, 0.0));
                f.0 = at;
                f.1 += f64::from(ro.duration_minutes);
            }
            d.frozen.push(ro.id);
            continue;
        }
        match d.job(ro, at, &site) {
            Some(job) => {
                d.jobs.push(job);
                assigned.push(ro);
            }
            None => d.unplaceable.push(ro.id),
        }
    }
    let weekday = date.weekday().number_from_monday() as u8;
    let tz_of: HashMap<i64, chrono_tz::Tz> = net.stations.iter().map(|s| (s.id, s.time_zone.tz())).collect();
    for t in &net.technicians {
        if stations.is_some_and(|ours| !ours.contains(&t.station_id)) {
            continue;
        }
        let tz = tz_of.get(&t.station_id).copied().unwrap_or(chrono_tz::UTC);
        let mut shifts: Vec<(f64, f64)> = t
            .shifts
            .iter()
            .filter(|s| s.weekday == weekday)
            .map(|s| {
                let at = |time| (minute(local_to_utc(date, tz, time)) - minute(day0)) as f64;
                (at(s.opens), at(s.closes))
            })
            .collect();
        if shifts.is_empty() {
            continue;
        }
        shifts.sort_by(|a, b| a.0.total_cmp(&b.0));
        let home = station_at
            .get(&t.station_id)
            .copied()
            .unwrap_or(Point { lat: 0.0, lon: 0.0 });
        let ((mut open, close), mut work, mut breaks) = shift_day(&shifts, rules.break_minutes);
        let mut start = home;
        if today && now_min > open {
            // Part of the day is behind us: its hours are spent, and breaks that had to start
            // by now are taken.
            let worked: f64 = shifts.iter().map(|s| (now_min.min(s.1) - s.0).max(0.0)).sum();
            let rested: f64 = breaks
                .iter()
                .filter(|b| b.window.1 < now_min)
                .map(|b| if b.window.0 == b.window.1 { 0.0 } else { b.minutes })
                .sum();
            work -= (worked - rested).max(0.0);
            breaks.retain(|b| b.window.1 >= now_min);
            open = now_min;
        }
        if today {
            start = t.location.map(point).unwrap_or(home);
        }
        if let Some((at, minutes)) = started.get(&t.id) {
            start = *at;
            open += minutes;
            work -= minutes;
            // A break that must start before the started work is done is taken after it.
            for b in &mut breaks {
                b.window.1 = b.window.1.max(open).max(b.window.0);
                b.window.0 = b.window.0.max(open).min(b.window.1);
            }
        }
        if open >= close || work <= 0.0 {
            continue;
        }
        d.vehicles.push(Vehicle {
            id: t.id,
            start,
            end: home,
            shift: (open, close),
            max_work: work.min(close - open),
            skills: 0,
            station: t.station_id,
            breaks,
        });
        d.techs.push((t.id, t.station_id));
        d.tech_skills.push(
            t.skills
                .iter()
                .map(|s| (s.name.as_str().to_string(), s.level.get()))
                .collect(),
        );
    }
    d.set_skill_bits();
    // The current assignment, in route order.
    d.current = d
        .techs
        .iter()
        .map(|(tech, _)| {
            let mut mine: Vec<usize> = (0..d.jobs.len())
                .filter(|&j| assigned[j].technician_id == Some(*tech))
                .collect();
            mine.sort_by_key(|&j| (assigned[j].route_seq.unwrap_or(u32::MAX), assigned[j].scheduled_for));
            mine
        })
        .collect();
    Ok(d)
}

/// Plan `date` for every technician with a shift that day (or those of `stations`, a region),
/// starting from the current assignment (what still fits stays): open orders not started, on
/// that day or unscheduled. Started work is frozen (its technician's route starts where it is,
/// once it is done); today, a route starts at the technician's last reported position. Writes
/// every decision back.
#[allow(clippy::too_many_arguments)]
pub async fn plan_day(
    store: &dyn Store,
    actor: Actor,
    date: NaiveDate,
    now: DateTime<Utc>,
    rules: DayRules,
    stations: Option<&[i64]>,
    iterations: u64,
    seed: u64,
) -> StoreResult<DayPlan> {
    let d = day(store, date, now, rules, stations, None).await?;
    let problem = d.problem();
    let mut planner = Planner::new(&problem, seed);
    let mut done = 0;
    let plan: Plan = planner.run(Some(&d.current_plan()), |i| {
        done = i;
        (i < iterations).then(|| i as f64 / iterations.max(1) as f64)
    });
    let at_minute = |m: f64| d.day0 + Duration::seconds((m * 60.0).round() as i64);
    // Write back: start times from the route's timeline, in order.
    let mut routes = vec![];
    let mut late = vec![];
    for (v, route) in plan.routes.iter().enumerate() {
        if route.is_empty() {
            continue;
        }
        let veh = &problem.vehicles[v];
        let (tech, station) = d.techs[v];
        let tl = timeline(&problem, veh, route.iter().map(|&j| &problem.jobs[j]));
        let mut ids = vec![];
        for (seq, &j) in route.iter().enumerate() {
            let job = &problem.jobs[j];
            store
                .set_dispatch(
                    actor,
                    job.id,
                    &DispatchDecision::Assign {
                        station_id: station,
                        technician_id: tech,
                        scheduled_for: at_minute(tl.starts[seq]),
                        route_seq: Some(seq as u32 + 1),
                        appointment: None,
                    },
                )
                .await?;
            ids.push(job.id);
            let over = job.deadline.map_or(0.0, |dl| tl.starts[seq] + job.duration - dl);
            if over > 0.0 {
                late.push(Late {
                    repair_order_id: job.id,
                    minutes: over.round(),
                });
            }
        }
        let breaks = veh
            .breaks
            .iter()
            .zip(&tl.breaks)
            .filter_map(|(b, at)| {
                at.map(|at| PlannedBreak {
                    from: at_minute(at),
                    to: at_minute(at + b.minutes),
                })
            })
            .collect();
        routes.push(PlannedRoute {
            technician_id: tech,
            station_id: station,
            orders: ids,
            travel_minutes: (tl.travel * 10.0).round() / 10.0,
            start: [veh.start.lat, veh.start.lon],
            breaks,
        });
    }
    let mut unassigned = vec![];
    let left_out = plan
        .unassigned
        .iter()
        .map(|&(j, reason)| (problem.jobs[j].id, reason))
        .chain(d.unplaceable.iter().map(|&id| (id, Reason::WindowInfeasible)));
    for (id, reason) in left_out {
        let reason = reason.as_str().to_string();
        store
            .set_dispatch(actor, id, &DispatchDecision::Unassigned { reason: reason.clone() })
            .await?;
        unassigned.push(Unassigned {
            repair_order_id: id,
            reason,
        });
    }
    Ok(DayPlan {
        date,
        routes,
        unassigned,
        frozen: d.frozen,
        late,
        travel_minutes: (plan.travel * 10.0).round() / 10.0,
        iterations: done,
    })
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Slot {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub technician_id: i64,
    pub station_id: i64,
    /// Travel the visit adds to that technician's day.
    pub extra_travel_minutes: f64,
}

/// The best `n` two-hour appointment windows on `date` for an order, each fitted into the day
/// as it stands: nothing already planned moves or becomes late. `None` when the order cannot be
/// placed at all (no location or product line the planner knows).
pub async fn slots(
    store: &dyn Store,
    ro: &RepairOrder,
    date: NaiveDate,
    now: DateTime<Utc>,
    rules: DayRules,
    n: usize,
) -> StoreResult<Option<Vec<Slot>>> {
    let mut d = day(store, date, now, rules, None, Some(ro.id)).await?;
    let site = order_facts(store, ro).await?;
    let Some(at) = site.at else { return Ok(None) };
    let Some(job) = d.job(ro, at, &site) else {
        return Ok(None);
    };
    // The order's product line may be new to the day: give the vehicles its bits.
    d.set_skill_bits();
    let earliest = if date == now.date_naive() {
        (minute(now) - minute(d.day0)) as f64
    } else {
        f64::MIN
    };
    // Two-hour windows, 08:00–18:00 in the first station's time zone.
    let tz = store
        .list_stations()
        .await?
        .first()
        .map_or(chrono_tz::UTC, |s| s.time_zone.tz());
    let windows: Vec<(f64, f64)> = (8..18)
        .step_by(2)
        .map(|h| {
            let from = local_to_utc(date, tz, NaiveTime::from_hms_opt(h, 0, 0).unwrap_or_default());
            let m = (minute(from) - minute(d.day0)) as f64;
            (m, m + 120.0)
        })
        .filter(|w| w.0 >= earliest)
        .collect();
    let problem = d.problem();
    let mut planner = Planner::new(&problem, 1);
    let offers = planner.offer_slots(&d.current_plan(), &job, &windows, n);
    Ok(Some(
        offers
            .into_iter()
            .map(|o| Slot {
                from: d.day0 + Duration::minutes(o.window.0 as i64),
                to: d.day0 + Duration::minutes(o.window.1 as i64),
                technician_id: d.techs[o.vehicle].0,
                station_id: d.techs[o.vehicle].1,
                extra_travel_minutes: (o.extra_travel * 10.0).round() / 10.0,
            })
            .collect(),
    ))
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
    fn shifts_are_local_times_at_the_station() {
        let t = NaiveTime::from_hms_opt(7, 0, 0).unwrap();
        let winter = NaiveDate::from_ymd_opt(2026, 11, 30).unwrap();
        let summer = NaiveDate::from_ymd_opt(2026, 7, 1).unwrap();
        let berlin = chrono_tz::Europe::Berlin;
        assert_eq!(
            local_to_utc(winter, berlin, t),
            Utc.with_ymd_and_hms(2026, 11, 30, 6, 0, 0).unwrap()
        );
        assert_eq!(
            local_to_utc(summer, berlin, t),
            Utc.with_ymd_and_hms(2026, 7, 1, 5, 0, 0).unwrap()
        );
        // 02:30 does not exist on the spring-forward night: an hour later.
        let gap = NaiveDate::from_ymd_opt(2026, 3, 29).unwrap();
        let half_two = NaiveTime::from_hms_opt(2, 30, 0).unwrap();
        assert_eq!(
            local_to_utc(gap, berlin, half_two),
            Utc.with_ymd_and_hms(2026, 3, 29, 1, 30, 0).unwrap()
        );
    }

    #[test]
    fn split_shifts_and_long_stretches_have_breaks() {
        // 7–12 and 13–18: the hour at noon is a fixed break; neither stretch needs another.
        let ((open, close), work, breaks) = shift_day(&[(420.0, 720.0), (780.0, 1080.0)], 30.0);
        assert_eq!((open, close, work), (420.0, 1080.0, 600.0));
        assert_eq!(
            breaks,
            vec![Break {
                window: (720.0, 720.0),
                minutes: 60.0
            }]
        );
        // 7–16 in one stretch: half an hour, starting 10:00–13:00, not counted as work.
        let (_, work, breaks) = shift_day(&[(420.0, 960.0)], 30.0);
        assert_eq!(work, 510.0);
        assert_eq!(
            breaks,
            vec![Break {
                window: (600.0, 780.0),
                minutes: 30.0
            }]
        );
        assert!(shift_day(&[(420.0, 960.0)], 0.0).2.is_empty());
    }

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
