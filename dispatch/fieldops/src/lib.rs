//! The dispatch adapter: reads stations, technicians, shifts, stock and open orders from the CRM
//! store, runs the dispatch engine's cores (candidate search, day planner) and writes their
//! decisions back.
//!
//! [`FieldOps`] is what the HTTP handlers and the jobs hold: the store, the live event [`bus`],
//! the background re-planner and the day rules. Every function that decides takes `now`; only
//! the background runs ([`FieldOps::replan_soon`], [`FieldOps::roll_over_every`]) read the
//! clock, when they start a run.
//!
//! Shifts are local times at the technician's station (its time zone); everything else is UTC.

pub mod bus;

use std::collections::HashMap;
use std::sync::Arc;

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

/// The travel model the dispatch adapter uses everywhere ([`StraightLine::roads`]).
pub fn travel(speed_kmh: f64, reference_lat: f64) -> StraightLine {
    StraightLine::roads(speed_kmh, reference_lat)
}

/// The dispatch adapter as the service holds it: cheap to clone, shared by the HTTP handlers and
/// the jobs.
#[derive(Clone)]
pub struct FieldOps {
    pub store: Arc<dyn Store>,
    /// Live field events for the dispatcher's map.
    pub events: Arc<bus::Bus>,
    /// Re-plans regions in the background (urgent orders, technicians falling behind).
    pub replanner: Arc<Replanner>,
    pub rules: DayRules,
    /// Assign new repair orders to the best candidate as they are created.
    pub auto_assign: bool,
}

impl FieldOps {
    /// In-process events; [`FieldOps::with_bus`] shares them with other nodes.
    pub fn new(store: Arc<dyn Store>, rules: DayRules, auto_assign: bool) -> FieldOps {
        FieldOps {
            store,
            events: Arc::default(),
            replanner: Arc::default(),
            rules,
            auto_assign,
        }
    }

    pub fn with_bus(mut self, bus: bus::Bus) -> FieldOps {
        self.events = Arc::new(bus);
        self
    }

    /// Tell the dispatcher's pages (on every node) what happened.
    pub fn publish(&self, event: FieldEvent) {
        let _ = self.events.send(event);
    }

    /// The travel model for ETAs near `reference_lat`.
    pub fn travel(&self, reference_lat: f64) -> StraightLine {
        travel(self.rules.speed_kmh, reference_lat)
    }

    /// A repair order just created: assign it when auto-assignment is on and nobody was named.
    /// The order exists either way; a failure here is logged and the order stays `new`.
    pub async fn dispatch_new(&self, actor: Actor, ro: RepairOrder, now: DateTime<Utc>) -> RepairOrder {
        if !self.auto_assign || ro.technician_id.is_some() {
            return ro;
        }
        match auto_assign(self.store.as_ref(), actor, ro.id, now).await {
            Ok(done) => {
                self.publish(FieldEvent::dispatch(&done));
                let urgent = self
                    .store
                    .get_ticket(done.ticket_id)
                    .await
                    .is_ok_and(|t| t.priority == crm_core::model::Priority::Urgent);
                if urgent {
                    if let Some(station) = done.station_id {
                        self.replan_soon("urgent order", &[station]);
                    }
                }
                done
            }
            Err(e) => {
                tracing::warn!(repair_order = ro.id, error = %e, "auto-assignment failed");
                ro
            }
        }
    }

    /// A technician fell behind or an urgent order arrived: re-plan those stations' day (their
    /// technicians, who may take over each other's visits, and their orders), from now on.
    /// Started work stays; orders keep their technician unless moving serves the day. After the
    /// shifts have ended, the next working day is planned instead. Requests that arrive while a
    /// run is under way are gathered into one more run after it.
    pub fn replan_soon(&self, why: &'static str, stations: &[i64]) {
        {
            let mut s = self.replanner.state.lock().unwrap_or_else(|e| e.into_inner());
            s.pending.extend(stations.iter().copied());
            s.why.push(why);
            if s.running || s.pending.is_empty() {
                return;
            }
            s.running = true;
        }
        let ops = self.clone();
        tokio::spawn(async move {
            loop {
                let (stations, why) = {
                    let mut s = ops.replanner.state.lock().unwrap_or_else(|e| e.into_inner());
                    if s.pending.is_empty() {
                        s.running = false;
                        break;
                    }
                    let why = std::mem::take(&mut s.why);
                    (std::mem::take(&mut s.pending).into_iter().collect::<Vec<_>>(), why)
                };
                match replan_region(ops.store.as_ref(), &stations, Utc::now(), ops.rules).await {
                    Ok(h) => {
                        tracing::info!(
                            reason = why.first().copied().unwrap_or(""),
                            stations = stations.len(),
                            days = h.days.len(),
                            moved = h.moved.len(),
                            unassigned = h.unassigned.len(),
                            "re-planned a region"
                        );
                        for d in &h.days {
                            ops.publish(FieldEvent::Planned { date: d.date });
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "re-planning failed"),
                }
            }
        });
    }

    /// Run [`roll_over`] every `every` until shutdown, telling the dispatcher's pages what was
    /// re-planned. On several nodes at once each may re-plan the same stations; the writes are
    /// the same decisions, so the last one stands.
    pub async fn roll_over_every(self, every: std::time::Duration, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        loop {
            let now = Utc::now();
            match roll_over(self.store.as_ref(), now, self.rules).await {
                Ok(done) => {
                    for h in done {
                        tracing::info!(
                            moved = h.moved.len(),
                            unassigned = h.unassigned.len(),
                            "rolled over ended days"
                        );
                        for d in &h.days {
                            self.publish(FieldEvent::Planned { date: d.date });
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "rolling over ended days failed; retrying later"),
            }
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = shutdown.wait_for(|v| *v) => break,
            }
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
    // Only approved stations (and their technicians) get work.
    let stations: Vec<Station> = store
        .list_stations()
        .await?
        .into_iter()
        .filter(|s| s.status.takes_work())
        .collect();
    let working: std::collections::HashSet<i64> = stations.iter().map(|s| s.id).collect();
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
        technicians: store
            .list_technicians(None)
            .await?
            .into_iter()
            .filter(|t| working.contains(&t.station_id))
            .collect(),
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
        .unwrap_or_default())
}

/// Where an order's visit is, the skill it needs and its ticket's priority. The default: an
/// order the store could not place (no location, normal priority).
#[derive(Debug, Clone)]
pub struct Site {
    /// `None`: the customer has no address with a location.
    pub at: Option<Point>,
    pub line: String,
    pub priority: Priority,
    pub customer: String,
    pub address: String,
    pub model: String,
    /// Stations that declined the order: the planner leaves their technicians out.
    pub declined: Vec<i64>,
}

impl Default for Site {
    fn default() -> Self {
        Site {
            at: None,
            line: String::new(),
            priority: Priority::Normal,
            customer: String::new(),
            address: String::new(),
            model: String::new(),
            declined: vec![],
        }
    }
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
                customer: s.customer,
                address: s.address,
                model: s.model,
                declined: s.declined,
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
            let mut net = network(store).await?;
            // A station that declined the order is not asked again.
            let declined = store.declined_stations(id).await?;
            net.stations.retain(|s| !declined.contains(&s.id));
            net.technicians.retain(|t| !declined.contains(&t.station_id));
            net.stock.retain(|s| !declined.contains(&s.id));
            match rank(&net, &ro, at, &site.line, need, now, 1) {
                Ok(best) => DispatchDecision::Assign {
                    station_id: best[0].station,
                    technician_id: best[0].tech,
                    scheduled_for: from_minute(best[0].start),
                    route_seq: None,
                    appointment: None,
                    override_reason: None,
                },
                Err(r) => DispatchDecision::Unassigned {
                    reason: r.as_str().into(),
                },
            }
        }
    };
    store.set_dispatch(actor, id, &decision).await
}

// ---------------------------------------------------------------- re-planning

/// Re-plans regions in the background when asked to ([`FieldOps::replan_soon`]); requests that
/// arrive while one runs are gathered (their stations joined) into one more run after it.
#[derive(Default)]
pub struct Replanner {
    state: std::sync::Mutex<ReplanState>,
}

#[derive(Default)]
struct ReplanState {
    running: bool,
    /// Stations asked for since the last run began.
    pending: std::collections::BTreeSet<i64>,
    why: Vec<&'static str>,
}

/// Re-plan these stations from `now` to the end of the next working day (today, while shift
/// time is left): what [`FieldOps::replan_soon`] runs.
pub async fn replan_region(
    store: &dyn Store,
    stations: &[i64],
    now: DateTime<Utc>,
    rules: DayRules,
) -> StoreResult<Horizon> {
    let ask = PlanAsk {
        from: now.date_naive(),
        working_days: 1,
        stations: Some(stations.to_vec()),
        iterations: 5_000,
        seed: 1,
        apply: true,
    };
    plan(store, Actor::SYSTEM, &ask, now, rules).await
}

/// The backlog of a freshly filled database planned over the next three working days, so that
/// every open order is in a route or has a reason (what `serve --demo` does after seeding).
pub async fn plan_backlog(store: &dyn Store, now: DateTime<Utc>, rules: DayRules) -> StoreResult<Horizon> {
    let ask = PlanAsk {
        from: now.date_naive(),
        working_days: 3,
        stations: None,
        iterations: 2_000,
        seed: 1,
        apply: true,
    };
    plan(store, Actor::SYSTEM, &ask, now, rules).await
}

/// Whether the technician has a shift still to come or under way today (their station's
/// wall-clock day).
pub fn works_later_today(t: &Technician, tz: chrono_tz::Tz, now: DateTime<Utc>) -> bool {
    let local = now.with_timezone(&tz);
    let weekday = local.weekday().number_from_monday() as u8;
    t.shifts.iter().any(|s| s.weekday == weekday && local.time() < s.closes)
}

/// Orders whose day ended without their visit: planned on a day that has passed, or today
/// while their technician's shifts are over. Their stations are re-planned from now: a
/// colleague still at work today takes a visit, or it rolls to the next working day. The
/// housekeeping job runs this every few minutes; nothing to do means no re-plan.
pub async fn roll_over(store: &dyn Store, now: DateTime<Utc>, rules: DayRules) -> StoreResult<Vec<Horizon>> {
    let net = network(store).await?;
    let tz_of: HashMap<i64, chrono_tz::Tz> = net.stations.iter().map(|s| (s.id, s.time_zone.tz())).collect();
    let techs: HashMap<i64, &Technician> = net.technicians.iter().map(|t| (t.id, t)).collect();
    let mut stations = std::collections::BTreeSet::new();
    for ro in store.open_repair_orders(100_000).await? {
        let (Some(t), Some(at)) = (ro.technician_id, ro.scheduled_for) else {
            continue;
        };
        let Some(tech) = techs.get(&t) else { continue };
        if started(&ro) {
            continue;
        }
        let tz = tz_of.get(&tech.station_id).copied().unwrap_or(chrono_tz::UTC);
        let (day, today) = (at.with_timezone(&tz).date_naive(), now.with_timezone(&tz).date_naive());
        if day < today || (day == today && !works_later_today(tech, tz, now)) {
            stations.insert(ro.station_id.unwrap_or(tech.station_id));
        }
    }
    if stations.is_empty() {
        return Ok(vec![]);
    }
    let stations: Vec<i64> = stations.into_iter().collect();
    Ok(vec![replan_region(store, &stations, now, rules).await?])
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
    let travel = travel(speed_kmh, at.lat);
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
    pub breaks: Vec<Span>,
}

/// A stretch of time (a break as planned, a shift).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Span {
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
    /// Orders that will finish past their SLA deadline.
    pub late: Vec<Late>,
    pub travel_minutes: f64,
    pub iterations: u64,
}

/// An order that had a technician or a visit day and gets another one (or none).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Moved {
    pub repair_order_id: i64,
    pub from_technician_id: Option<i64>,
    pub to_technician_id: Option<i64>,
    pub from_date: Option<NaiveDate>,
    pub to_date: Option<NaiveDate>,
    /// Why: `rolled` (no room or no shift left on its day), `taken_over` (its technician has
    /// no shift that day or the visit fits another route much better), `left_out` (see
    /// `unassigned`).
    pub why: String,
}

/// A plan over the next working days: what each day's routes are, what was left out and why,
/// and what moved compared with before.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Horizon {
    /// Days planned, in order; a day on which nobody of the region works has no entry.
    pub days: Vec<DayPlan>,
    /// Orders no day of the horizon could take, with the furthest any day got.
    pub unassigned: Vec<Unassigned>,
    /// Orders whose work has started: kept with their technician, who starts from there.
    pub frozen: Vec<i64>,
    pub moved: Vec<Moved>,
    /// Orders that had no technician before and have one now.
    pub newly_assigned: usize,
    /// False for a preview: nothing was written.
    pub applied: bool,
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
    pub now: DateTime<Utc>,
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
/// A window no visit can start in (a booked window that has passed).
const PASSED: (f64, f64) = (-1e7, -1e7);

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

    /// The planner's job for an order: its skill, the stations whose technicians may take it
    /// (those holding all its parts, less those that declined it; `[-1]`, nobody, when none
    /// is left; empty: anybody), the booked appointment as its window, and the SLA deadline by
    /// the ticket's priority. Must-serve: booked, high or urgent, or due by the end of the
    /// day; the rest are served when there is room.
    fn job(&mut self, ro: &RepairOrder, at: Point, site: &Site) -> Option<Job> {
        let skill = self.skill(&site.line)?;
        let stations = if ro.parts_needed.is_empty() && site.declined.is_empty() {
            vec![]
        } else {
            let mut s: Vec<i64> = self
                .stock
                .iter()
                .filter(|(id, parts)| {
                    !site.declined.contains(id)
                        && ro
                            .parts_needed
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
        // A booked window that has passed without the visit cannot be kept by any plan: the
        // customer must be asked again (left out, `window_infeasible`).
        let booked = ro.appointment;
        let window = match booked {
            None => WHOLE_DAY,
            // Left out for a call-back (booked, its technician taken away): no plan books it
            // again on its own; the dispatcher does, with the customer.
            Some(_) if ro.technician_id.is_none() => PASSED,
            Some(a) if a.to > self.now => ((minute(a.from) - day0) as f64, (minute(a.to) - day0) as f64),
            Some(_) => PASSED,
        };
        let due = ro.created_at + Duration::hours(i64::from(sla_hours(site.priority)));
        let deadline = (minute(due) - day0) as f64;
        Some(Job {
            id: ro.id,
            at,
            duration: f64::from(ro.duration_minutes),
            window,
            skills: SkillBits::need(skill, 1),
            must: booked.is_some() || matches!(site.priority, Priority::High | Priority::Urgent) || deadline <= 1440.0,
            stations,
            deadline: Some(deadline),
            with: ro.technician_id,
            // Booked with a technician: theirs alone.
            pinned: booked.is_some() && ro.technician_id.is_some(),
            home: ro.station_id,
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
    /// Straight-line km from their home station within which technicians take other stations'
    /// orders ([`dispatch::candidates::REACH_KM`] by default).
    pub reach_km: f64,
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

/// What every day of a plan reads from the store, read once.
pub struct Loaded {
    pub net: Network,
    pub orders: Vec<RepairOrder>,
    pub sites: HashMap<i64, Site>,
}

pub async fn load(store: &dyn Store) -> StoreResult<Loaded> {
    let net = network(store).await?;
    let orders = store.open_repair_orders(100_000).await?;
    let sites = sites(store, &orders).await?;
    Ok(Loaded { net, orders, sites })
}

/// Whether an order's work has started (it stays with its technician).
pub fn started(ro: &RepairOrder) -> bool {
    ro.task_status.is_some_and(TaskStatus::started) || ro.status == RepairStatus::InProgress
}

/// Whether a plan for `date` (from `now`) takes this order by its own schedule: unassigned
/// orders, orders of that day, and orders whose visit day has passed without the visit. An
/// order on a later day, or booked on another day, stays where it is.
pub fn due_on(ro: &RepairOrder, date: NaiveDate, now: DateTime<Utc>) -> bool {
    let today = now.date_naive();
    let booked_elsewhere = ro
        .appointment
        .is_some_and(|a| a.to > now && a.from.date_naive() != date);
    if booked_elsewhere {
        return false;
    }
    match (ro.technician_id, ro.scheduled_for) {
        (Some(_), Some(s)) => s.date_naive() == date || s.date_naive() < today,
        _ => true,
    }
}

/// The day of `date` as the planner sees it, for an order's slots: every order due on it
/// (see [`due_on`]) except `except`.
pub async fn day(
    store: &dyn Store,
    date: NaiveDate,
    now: DateTime<Utc>,
    rules: DayRules,
    stations: Option<&[i64]>,
    except: Option<i64>,
) -> StoreResult<Day> {
    let l = load(store).await?;
    Ok(build_day(&l, date, now, rules, stations, |ro| {
        Some(ro.id) != except && due_on(ro, date, now)
    }))
}

/// The day of `date` from what was loaded: technicians with shift time left that day as
/// vehicles; the orders `take` accepts as jobs (started ones are frozen, today only); and
/// the current assignment as routes. `stations`: only their technicians, the orders already
/// at them, and unassigned orders nearest to one of them (a region); `None`: everybody.
pub fn build_day(
    l: &Loaded,
    date: NaiveDate,
    now: DateTime<Utc>,
    rules: DayRules,
    stations: Option<&[i64]>,
    take: impl Fn(&RepairOrder) -> bool,
) -> Day {
    let net = &l.net;
    let speed_kmh = rules.speed_kmh;
    let day0 = midnight(date);
    let today = date == now.date_naive();
    let now_min = (minute(now) - minute(day0)) as f64;
    let station_at: HashMap<i64, Point> = net.stations.iter().map(|s| (s.id, point(s.location))).collect();
    // The first station's latitude (a HashMap's first would differ from run to run).
    let reference_lat = net.stations.first().map_or(50.0, |s| s.location.lat);
    let mut d = Day {
        date,
        day0,
        now,
        vehicles: vec![],
        techs: vec![],
        jobs: vec![],
        frozen: vec![],
        unplaceable: vec![],
        current: vec![],
        lines: vec![],
        tech_skills: vec![],
        stock: net.stock.iter().map(|s| (s.id, s.parts.clone())).collect(),
        travel: travel(speed_kmh, reference_lat),
    };
    let mut started_work: HashMap<i64, (Point, f64)> = HashMap::new();
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
    for ro in &l.orders {
        let is_started = started(ro);
        if !(if is_started { today } else { take(ro) }) {
            continue;
        }
        let Some(site) = l.sites.get(&ro.id) else { continue };
        let Some(at) = site.at else {
            if stations.is_none_or(|ours| ro.station_id.is_some_and(|s| ours.contains(&s))) {
                d.unplaceable.push(ro.id);
            }
            continue;
        };
        if !in_region(ro, at) {
            continue;
        }
        if is_started {
            if let Some(t) = ro.technician_id {
                // The technician continues from the last started visit, after all of them.
                let f = started_work.entry(t).or_insert((at, 0.0));
                f.0 = at;
                f.1 += f64::from(ro.duration_minutes);
            }
            d.frozen.push(ro.id);
            continue;
        }
        match d.job(ro, at, site) {
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
        if now_min > open {
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
        if let Some((at, minutes)) = started_work.get(&t.id) {
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
            reach_km: rules.reach_km,
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
            // By planned start: a plan's own order, and a visit dropped at a time by hand
            // goes where it was dropped.
            mine.sort_by_key(|&j| (assigned[j].scheduled_for, assigned[j].route_seq.unwrap_or(u32::MAX)));
            mine
        })
        .collect();
    d
}

/// What to plan.
#[derive(Debug, Clone)]
pub struct PlanAsk {
    /// The first day (today: from now on).
    pub from: NaiveDate,
    /// Working days to plan: days on which somebody of the region works (at least 1). A day
    /// already over for everybody counts as no working day.
    pub working_days: u32,
    /// A region (see [`build_day`]); `None`: the network.
    pub stations: Option<Vec<i64>>,
    /// Search effort per day.
    pub iterations: u64,
    pub seed: u64,
    /// Write the decisions (false: a preview).
    pub apply: bool,
}

/// How far a plan looks for a working day before it gives up (a region nobody works in).
const MAX_HORIZON_DAYS: i64 = 21;

/// The decision for one order in a horizon.
#[derive(Debug, Clone, Copy)]
enum Decided {
    Route {
        tech: i64,
        station: i64,
        start: DateTime<Utc>,
        seq: u32,
    },
    Out(Reason),
}

/// Whether anybody (of `stations`, or anywhere) has this product line's skill: for an order
/// the day's technicians could not take, tells a skill problem from a day without shifts.
fn skill_exists(net: &Network, line: &str, stations: Option<&[i64]>) -> (bool, bool) {
    let has = |t: &&Technician| t.skills.iter().any(|s| s.name.as_str() == line);
    let anywhere = net.technicians.iter().any(|t| has(&t));
    let here = net
        .technicians
        .iter()
        .filter(|t| stations.is_none_or(|ours| ours.contains(&t.station_id)))
        .any(|t| has(&t));
    (here, anywhere)
}

/// Plan the next working days from `ask.from`: each day's routes start from the current
/// assignment (an order keeps its technician unless moving it serves the day); what does not
/// fit a day rolls to the next, in the planner's order (SLA first); what no day of the
/// horizon takes is left out with the furthest reason any day got. A booked visit keeps its
/// technician and window; when that day cannot keep it, it is left out (the customer must be
/// called), never moved silently. Started work is frozen. With `ask.apply`, writes every
/// decision; otherwise returns what would change.
pub async fn plan(
    store: &dyn Store,
    actor: Actor,
    ask: &PlanAsk,
    now: DateTime<Utc>,
    rules: DayRules,
) -> StoreResult<Horizon> {
    let l = load(store).await?;
    let h = plan_loaded(&l, ask, now, rules);
    if ask.apply {
        write(store, actor, &l, &h).await?;
    }
    Ok(Horizon {
        applied: ask.apply,
        ..h.horizon
    })
}

struct Planned {
    horizon: Horizon,
    decided: HashMap<i64, Decided>,
}

fn plan_loaded(l: &Loaded, ask: &PlanAsk, now: DateTime<Utc>, rules: DayRules) -> Planned {
    let today = now.date_naive();
    let from = ask.from.max(today);
    let region = ask.stations.as_deref();
    let by_id: HashMap<i64, &RepairOrder> = l.orders.iter().map(|o| (o.id, o)).collect();
    let mut decided: HashMap<i64, Decided> = HashMap::new();
    // Left out of an earlier day, with the furthest reason so far: tried again the next day.
    let mut carry: HashMap<i64, Reason> = HashMap::new();
    let mut days = vec![];
    let mut frozen = vec![];
    let mut worked = 0;
    let mut date = from;
    while worked < ask.working_days.max(1) && (date - from).num_days() < MAX_HORIZON_DAYS {
        let first = date == from;
        let d = build_day(l, date, now, rules, region, |ro| {
            !decided.contains_key(&ro.id)
                && (carry.contains_key(&ro.id) || (due_on(ro, date, now) && (first || ro.technician_id.is_some())))
        });
        if date == today {
            frozen.clone_from(&d.frozen);
        }
        for &id in &d.unplaceable {
            decided.insert(id, Decided::Out(Reason::WindowInfeasible));
        }
        if d.vehicles.is_empty() {
            // Nobody works that day (or it is over): everything rolls on.
            for j in &d.jobs {
                let r = carry.entry(j.id).or_insert(Reason::NoSkillMatch);
                *r = (*r).max(Reason::NoShiftLeft);
            }
            date += Duration::days(1);
            continue;
        }
        worked += 1;
        let problem = d.problem();
        let mut planner = Planner::new(&problem, ask.seed);
        let mut done = 0;
        let plan = planner.run(Some(&d.current_plan()), |i| {
            done = i;
            (i < ask.iterations).then(|| i as f64 / ask.iterations.max(1) as f64)
        });
        let at_minute = |m: f64| d.day0 + Duration::seconds((m * 60.0).round() as i64);
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
                decided.insert(
                    job.id,
                    Decided::Route {
                        tech,
                        station,
                        start: at_minute(tl.starts[seq]),
                        seq: seq as u32 + 1,
                    },
                );
                carry.remove(&job.id);
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
                    at.map(|at| Span {
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
        for &(j, reason) in &plan.unassigned {
            let job = &problem.jobs[j];
            let reason = match reason {
                // Nobody of the day has the skill: is it anybody's?
                Reason::NoSkillMatch => {
                    let line = l.sites.get(&job.id).map_or("", |s| s.line.as_str());
                    match skill_exists(&l.net, line, region) {
                        (true, _) => Reason::NoShiftLeft,
                        (false, true) => Reason::NoCapacity,
                        (false, false) => Reason::NoSkillMatch,
                    }
                }
                r => r,
            };
            let booked = by_id.get(&job.id).is_some_and(|o| o.appointment.is_some());
            if booked {
                // Its technician cannot keep the booked window (or does not work that day): the
                // customer must be asked again; no colleague takes it unasked.
                decided.insert(job.id, Decided::Out(reason));
                carry.remove(&job.id);
            } else {
                let r = carry.entry(job.id).or_insert(Reason::NoSkillMatch);
                *r = (*r).max(reason);
            }
        }
        days.push(DayPlan {
            date,
            routes,
            late,
            travel_minutes: (plan.travel * 10.0).round() / 10.0,
            iterations: done,
        });
        date += Duration::days(1);
    }
    for (id, reason) in carry {
        decided.entry(id).or_insert(Decided::Out(reason));
    }
    // What changed.
    let mut moved = vec![];
    let mut newly_assigned = 0;
    let mut unassigned = vec![];
    let mut ids: Vec<&i64> = decided.keys().collect();
    ids.sort_unstable();
    for id in ids {
        let Some(ro) = by_id.get(id) else { continue };
        let before_day = ro.scheduled_for.map(|s| s.date_naive());
        let (to_tech, to_day) = match decided[id] {
            Decided::Route { tech, start, .. } => (Some(tech), Some(start.date_naive())),
            Decided::Out(reason) => {
                unassigned.push(Unassigned {
                    repair_order_id: *id,
                    reason: reason.as_str().to_string(),
                });
                (None, None)
            }
        };
        let Some(from_tech) = ro.technician_id else {
            newly_assigned += usize::from(to_tech.is_some());
            continue;
        };
        let why = match (to_tech, to_day) {
            (None, _) => "left_out",
            (Some(t), _) if t != from_tech => "taken_over",
            (Some(_), d) if d != before_day => "rolled",
            _ => continue,
        };
        moved.push(Moved {
            repair_order_id: *id,
            from_technician_id: Some(from_tech),
            to_technician_id: to_tech,
            from_date: before_day,
            to_date: to_day,
            why: why.to_string(),
        });
    }
    Planned {
        horizon: Horizon {
            days,
            unassigned,
            frozen,
            moved,
            newly_assigned,
            applied: false,
        },
        decided,
    }
}

/// Write a horizon's decisions: each order once, in order of id. An order someone changed
/// since the plan read it (booked, assigned by hand, started) keeps that change: the plan's
/// decision for it is stale and is dropped.
async fn write(store: &dyn Store, actor: Actor, l: &Loaded, p: &Planned) -> StoreResult<()> {
    let mut ids: Vec<&i64> = p.decided.keys().collect();
    ids.sort_unstable();
    let read: HashMap<i64, &RepairOrder> = l.orders.iter().map(|o| (o.id, o)).collect();
    for id in ids {
        let now = match store.get_repair_order(*id).await {
            Ok(o) => o,
            Err(crm_core::StoreError::NotFound { .. }) => continue,
            Err(e) => return Err(e),
        };
        let same = |o: &RepairOrder| {
            (o.technician_id, o.scheduled_for, o.appointment, o.status, o.task_status)
                == (
                    now.technician_id,
                    now.scheduled_for,
                    now.appointment,
                    now.status,
                    now.task_status,
                )
        };
        if !read.get(id).is_some_and(|o| same(o)) {
            continue;
        }
        let decision = match p.decided[id] {
            Decided::Route {
                tech,
                station,
                start,
                seq,
            } => DispatchDecision::Assign {
                station_id: station,
                technician_id: tech,
                scheduled_for: start,
                route_seq: Some(seq),
                appointment: None,
                override_reason: None,
            },
            Decided::Out(reason) => {
                let ro = l.orders.iter().find(|o| o.id == *id);
                if ro.is_some_and(|o| {
                    o.technician_id.is_none() && o.unassigned_reason.as_deref() == Some(reason.as_str())
                }) {
                    continue;
                }
                DispatchDecision::Unassigned {
                    reason: reason.as_str().to_string(),
                }
            }
        };
        match store.set_dispatch(actor, *id, &decision).await {
            Ok(_) => {}
            // Refused since the plan read it (its station suspended, or the station declined
            // the order): the decision is stale; the order stays as it is for the next run.
            Err(crm_core::StoreError::Conflict { field, message }) => {
                tracing::debug!(repair_order = id, %field, %message, "a planned decision was refused");
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// One step of a technician's day on the dispatcher's timeline.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Step {
    /// `visit`, `travel` (drawn right before the visit it leads to, and back home at the end) or
    /// `break`.
    pub kind: String,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub repair_order_id: Option<i64>,
    /// The visit ends past its SLA deadline.
    pub late: bool,
    /// The booked window of the visit.
    pub window: Option<crm_core::model::Appointment>,
}

/// A technician's day as the planner walks it: shifts, and visits, travel and breaks in order.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TechDay {
    pub technician_id: i64,
    pub station_id: i64,
    pub shifts: Vec<Span>,
    pub steps: Vec<Step>,
}

/// Every technician's day on `date` (of `station`, or all) with a shift that day: their orders
/// of that day not yet started, in route order, walked by the planner's own timeline (so breaks
/// sit where the planner puts them). Started visits are the technician's to report, not drawn.
pub async fn timelines(
    store: &dyn Store,
    date: NaiveDate,
    rules: DayRules,
    station: Option<i64>,
) -> StoreResult<Vec<TechDay>> {
    let l = load(store).await?;
    let day0 = midnight(date);
    // As if planned before the day began: whole shifts, from the station.
    let before = day0 - Duration::days(1);
    let region = station.map(|s| vec![s]);
    let d = build_day(&l, date, before, rules, region.as_deref(), |ro| {
        ro.technician_id.is_some() && ro.scheduled_for.is_some_and(|s| s.date_naive() == date)
    });
    let problem = d.problem();
    let at = |m: f64| day0 + Duration::seconds((m * 60.0).round() as i64);
    let tz_of: HashMap<i64, chrono_tz::Tz> = l.net.stations.iter().map(|s| (s.id, s.time_zone.tz())).collect();
    let weekday = date.weekday().number_from_monday() as u8;
    let booked: HashMap<i64, crm_core::model::Appointment> = l
        .orders
        .iter()
        .filter_map(|o| o.appointment.map(|a| (o.id, a)))
        .collect();
    let mut out = vec![];
    for (v, veh) in problem.vehicles.iter().enumerate() {
        let (tech, station_id) = d.techs[v];
        let route: Vec<&Job> = d.current[v].iter().map(|&j| &problem.jobs[j]).collect();
        let tl = timeline(&problem, veh, route.iter().copied());
        let mut steps = vec![];
        let mut prev = (veh.start, veh.shift.0);
        for (k, job) in route.iter().enumerate() {
            let start = tl.starts[k];
            let travel = problem.travel.minutes(prev.0, job.at);
            if travel > 0.5 {
                steps.push(Step {
                    kind: "travel".into(),
                    from: at((start - travel).max(prev.1)),
                    to: at(start),
                    repair_order_id: None,
                    late: false,
                    window: None,
                });
            }
            steps.push(Step {
                kind: "visit".into(),
                from: at(start),
                to: at(start + job.duration),
                repair_order_id: Some(job.id),
                late: job.deadline.is_some_and(|dl| start + job.duration > dl),
                window: booked.get(&job.id).copied(),
            });
            prev = (job.at, start + job.duration);
        }
        if !route.is_empty() {
            let back = problem.travel.minutes(prev.0, veh.end);
            steps.push(Step {
                kind: "travel".into(),
                from: at(prev.1),
                to: at(prev.1 + back),
                repair_order_id: None,
                late: false,
                window: None,
            });
        }
        for (b, start) in veh.breaks.iter().zip(&tl.breaks) {
            if let Some(s) = start {
                if b.window.0 < b.window.1 {
                    steps.push(Step {
                        kind: "break".into(),
                        from: at(*s),
                        to: at(s + b.minutes),
                        repair_order_id: None,
                        late: false,
                        window: None,
                    });
                }
            }
        }
        steps.sort_by_key(|s| s.from);
        let tz = tz_of.get(&station_id).copied().unwrap_or(chrono_tz::UTC);
        let shifts = l
            .net
            .technicians
            .iter()
            .find(|t| t.id == tech)
            .map(|t| {
                t.shifts
                    .iter()
                    .filter(|s| s.weekday == weekday)
                    .map(|s| Span {
                        from: local_to_utc(date, tz, s.opens),
                        to: local_to_utc(date, tz, s.closes),
                    })
                    .collect()
            })
            .unwrap_or_default();
        out.push(TechDay {
            technician_id: tech,
            station_id,
            shifts,
            steps,
        });
    }
    Ok(out)
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
