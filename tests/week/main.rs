//! A simulated week of field service, in virtual time, through the real dispatch adapter
//! (`aftercare`'s fieldops: auto-assignment, booking slots, region re-plans, the roll-over of
//! days that ended, "Plan today") and the real store (SQLite and PostgreSQL).
//!
//! The week runs Monday 19 October 2026 to Monday 26 October in Berlin, so it has a weekend
//! and the night clocks go back (25 October). Every 15 virtual minutes: days that ended roll
//! over; the call center files orders (some urgent, some booked into an offered slot);
//! technicians report positions (some run late, some report before their shift) and work their
//! visits to completion; at 06:00 the morning plan runs, at 19:30 a dispatcher presses *Plan
//! today* after the shifts, and on Saturday and Sunday too. After every event the invariants of
//! dispatch are checked against the store:
//!
//! - every open order is started with its technician, in a route (today while its technician
//!   still works, or a later day), or unassigned with a reason;
//! - a route's visit is with a technician who has the skill, inside one of their shifts;
//! - `no_skill_match` only when no technician anywhere has the skill;
//! - a booked visit keeps its technician and window, or is left out with a reason (never moved
//!   to someone else silently);
//! - an order a station declined (one in ten auto-assigned ones, by the station it went to) is
//!   never at that station again, and no plan routes it to one of its technicians.
//!
//! The figures (orders served per day, moved per re-plan, late, reasons by kind) are printed.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Timelike, Utc};
use chrono_tz::Europe::Berlin;
use crm_core::field::{DispatchDecision, TaskAction, TaskReport, TaskStatus, TaskStep, TaskWrite};
use crm_core::model::{Actor, Appointment, CustomerQuery, NewRepairOrder, NewTicket, Priority, Technician};
use crm_core::types::{GeoPoint, Text};
use crm_core::Store;
use crm_sql::testing::TestDb;
use fieldops::{DayRules, Horizon, PlanAsk};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const RULES: DayRules = DayRules {
    speed_kmh: 40.0,
    reach_km: dispatch::candidates::REACH_KM,
    break_minutes: 30.0,
};
const STEP_MINUTES: i64 = 15;

fn text(s: &str) -> Text {
    Text::parse(s).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_week_of_field_service_keeps_every_order_accounted_for() {
    for db in TestDb::each().await {
        let db = db.open().await;
        let backend = db.backend();
        let start = Berlin
            .with_ymd_and_hms(2026, 10, 19, 0, 0, 0)
            .unwrap()
            .with_timezone(&Utc);
        let clock = Arc::new(Mutex::new(start));
        let figures = crm_sql::clock::run_at(clock.clone(), Week::run(db.shared(), clock, start)).await;
        eprintln!("[{backend}] {figures}");
    }
}

/// One technician's day in the simulation.
#[derive(Default, Clone, Copy)]
struct Mood {
    /// Minutes behind plan today (0: on time).
    late: i64,
}

#[derive(Default)]
struct Figures {
    /// Local date → (orders filed, orders completed, completed past their SLA deadline).
    days: BTreeMap<NaiveDate, (usize, usize, usize)>,
    /// (what, orders moved) per re-plan.
    replans: Vec<(&'static str, usize)>,
    /// Reason → orders left out with it, summed over the evening checks.
    reasons: BTreeMap<String, usize>,
    checks: usize,
    booked: usize,
    booked_left_out: usize,
    /// Orders a station declined.
    declined: usize,
    /// The farthest any routed order was from its technician's home station (straight line).
    farthest_km: f64,
    /// Paid repairs: (station, year) → the invoice numbers' sequence numbers issued.
    invoices: BTreeMap<(i64, i32), Vec<i64>>,
}

impl std::fmt::Display for Figures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "week simulation: {} invariant checks", self.checks)?;
        for (d, (filed, done, late)) in &self.days {
            writeln!(
                f,
                "  {d} {}: {filed} filed, {done} completed, {late} of them late",
                d.weekday()
            )?;
        }
        let mut by_kind: BTreeMap<&str, (usize, usize, usize)> = BTreeMap::new();
        for (what, moved) in &self.replans {
            let e = by_kind.entry(what).or_default();
            e.0 += 1;
            e.1 += moved;
            e.2 = e.2.max(*moved);
        }
        for (what, (n, moved, max)) in by_kind {
            writeln!(
                f,
                "  {what}: {n} re-plans, {moved} orders moved in all, at most {max} in one"
            )?;
        }
        writeln!(f, "  left out at the evening checks, by reason: {:?}", self.reasons)?;
        writeln!(f, "  declined by the station they went to: {}", self.declined)?;
        writeln!(
            f,
            "  booked visits: {}, left out for a call-back: {}; farthest visit from a technician's \
             station: {:.0} km",
            self.booked, self.booked_left_out, self.farthest_km
        )?;
        let invoiced: usize = self.invoices.values().map(Vec::len).sum();
        write!(
            f,
            "  paid repairs invoiced: {invoiced} at {} stations",
            self.invoices.len()
        )
    }
}

struct Week {
    store: Arc<dyn Store>,
    clock: Arc<Mutex<DateTime<Utc>>>,
    rng: StdRng,
    /// (customer, asset) pairs to file orders for.
    assets: Vec<(i64, i64)>,
    technicians: HashMap<i64, Technician>,
    /// Station → where it is.
    stations: HashMap<i64, dispatch::candidates::Point>,
    moods: HashMap<i64, Mood>,
    /// Booked visits: order → (technician, window).
    booked: HashMap<i64, (i64, Appointment)>,
    /// Order → the stations that declined it.
    declined: HashMap<i64, Vec<i64>>,
    figures: Figures,
}

impl Week {
    async fn run(store: Arc<dyn Store>, clock: Arc<Mutex<DateTime<Utc>>>, start: DateTime<Utc>) -> Figures {
        let day0 = start.with_timezone(&Berlin).date_naive();
        let size = crm_fixtures::demo::DemoSize {
            customers: 300,
            stations: 5,
            technicians_per_station: 4,
        };
        let data = crm_fixtures::demo::generate(11, day0, size);
        let clock_for_seed = clock.clone();
        crm_fixtures::demo::seed(store.as_ref(), &data, &mut |_, _, _| {}, &mut |t| {
            *clock_for_seed.lock().unwrap() = t.unwrap_or(start)
        })
        .await
        .unwrap();
        fieldops::plan_backlog(store.as_ref(), start, RULES).await.unwrap();
        let mut assets = vec![];
        let customers = store
            .search_customers(&CustomerQuery {
                q: None,
                limit: 1000,
                offset: 0,
            })
            .await
            .unwrap();
        for c in customers {
            if !c.addresses.iter().any(|a| a.location.is_some()) {
                continue;
            }
            for a in store.list_assets(c.id).await.unwrap() {
                assets.push((c.id, a.id));
            }
        }
        assert!(assets.len() > 100, "{} assets", assets.len());
        let stations = store
            .list_stations()
            .await
            .unwrap()
            .into_iter()
            .map(|s| {
                let at = dispatch::candidates::Point {
                    lat: s.location.lat,
                    lon: s.location.lon,
                };
                (s.id, at)
            })
            .collect();
        let technicians = store
            .list_technicians(None)
            .await
            .unwrap()
            .into_iter()
            .map(|t| (t.id, t))
            .collect();
        let mut w = Week {
            store,
            clock,
            rng: StdRng::seed_from_u64(2026),
            assets,
            technicians,
            stations,
            moods: HashMap::new(),
            booked: HashMap::new(),
            declined: HashMap::new(),
            figures: Figures::default(),
        };
        let end = start + Duration::days(7);
        let mut now = start + Duration::hours(5);
        while now < end {
            w.set(now);
            w.step(now).await;
            now += Duration::minutes(STEP_MINUTES);
        }
        w.check(now, "the end").await;
        w.figures
    }

    fn set(&self, now: DateTime<Utc>) {
        *self.clock.lock().unwrap() = now;
    }

    async fn step(&mut self, now: DateTime<Utc>) {
        let local = now.with_timezone(&Berlin);
        let (h, m) = (local.hour(), local.minute());
        let weekday = local.weekday().number_from_monday();
        // The roll-over job: days that ended without their visits go to the next working day.
        for hz in fieldops::roll_over(self.store.as_ref(), now, RULES).await.unwrap() {
            self.replanned("roll-over", &hz);
        }
        self.check(now, "roll-over").await;
        if (h, m) == (6, 0) {
            // Morning: who runs late today, then the plan for today and tomorrow.
            let ids: Vec<i64> = self.technicians.keys().copied().collect();
            for id in ids {
                let late = if self.rng.gen_bool(0.15) {
                    self.rng.gen_range(40..120)
                } else {
                    0
                };
                self.moods.insert(id, Mood { late });
            }
            self.plan("morning plan", now, 2).await;
        }
        if (h, m) == (19, 30) || (weekday >= 6 && (h, m) == (10, 0)) {
            // A dispatcher presses Plan today after the shifts, or on the weekend.
            let hz = self.plan("plan today (evening or weekend)", now, 1).await;
            let today = local.date_naive();
            assert!(
                hz.days.iter().all(|d| d.date > today || d.routes.is_empty()),
                "planned today after the shifts: {:?}",
                hz.days.iter().map(|d| d.date).collect::<Vec<_>>()
            );
            for u in &hz.unassigned {
                *self.figures.reasons.entry(u.reason.clone()).or_default() += 1;
            }
        }
        let office = (weekday <= 5 && (8..18).contains(&h)) || (weekday == 6 && (9..12).contains(&h));
        if office && self.rng.gen_bool(0.6) {
            self.file_order(now).await;
        }
        self.work(now).await;
    }

    async fn plan(&mut self, what: &'static str, now: DateTime<Utc>, working_days: u32) -> Horizon {
        let ask = PlanAsk {
            from: now.date_naive(),
            working_days,
            stations: None,
            iterations: 1_500,
            seed: 1,
            apply: true,
        };
        let hz = fieldops::plan(self.store.as_ref(), Actor::SYSTEM, &ask, now, RULES)
            .await
            .unwrap();
        self.replanned(what, &hz);
        self.check(now, what).await;
        hz
    }

    fn replanned(&mut self, what: &'static str, hz: &Horizon) {
        for route in hz.days.iter().flat_map(|d| &d.routes) {
            for id in &route.orders {
                let refused = self.declined.get(id).is_some_and(|d| d.contains(&route.station_id));
                assert!(
                    !refused,
                    "{what} routed order {id} to station {} that declined it",
                    route.station_id
                );
            }
        }
        // Left out only counts as moved for orders that had a technician.
        self.figures.replans.push((what, hz.moved.len()));
        for m in &hz.moved {
            if m.why == "left_out" && self.booked.contains_key(&m.repair_order_id) {
                self.figures.booked_left_out += 1;
            }
        }
    }

    fn day_figures(&mut self, now: DateTime<Utc>) -> &mut (usize, usize, usize) {
        self.figures
            .days
            .entry(now.with_timezone(&Berlin).date_naive())
            .or_default()
    }

    /// A call becomes an order: auto-assigned as the desk does; urgent ones re-plan their
    /// station; one in five is booked into the first slot offered for the next working day.
    async fn file_order(&mut self, now: DateTime<Utc>) {
        let s = self.store.clone();
        let (customer_id, asset_id) = self.assets[self.rng.gen_range(0..self.assets.len())];
        let priority = match self.rng.gen_range(0..20) {
            0 => Priority::Urgent,
            1..=3 => Priority::High,
            4..=15 => Priority::Normal,
            _ => Priority::Low,
        };
        let ticket = s
            .create_ticket(
                Actor::SYSTEM,
                &NewTicket {
                    customer_id,
                    asset_id: Some(asset_id),
                    subject: text("Not working"),
                    description: String::new(),
                    priority,
                },
            )
            .await
            .unwrap();
        let ro = s
            .create_repair_order(
                Actor::SYSTEM,
                &NewRepairOrder {
                    ticket_id: ticket.id,
                    asset_id: None,
                    station_id: None,
                    technician_id: None,
                    fault_code: None,
                    description: "Customer reports a fault.".into(),
                    scheduled_for: None,
                    appointment: None,
                    duration_minutes: Some(self.rng.gen_range(3..8) * 15),
                    parts: vec![],
                },
            )
            .await
            .unwrap();
        self.day_figures(now).0 += 1;
        if self.rng.gen_bool(0.2) {
            let mut day = now.with_timezone(&Berlin).date_naive() + Duration::days(1);
            while day.weekday().number_from_monday() > 5 {
                day += Duration::days(1);
            }
            let slots = fieldops::slots(s.as_ref(), &ro, day, now, RULES, 3).await.unwrap();
            if let Some(slot) = slots.and_then(|v| v.into_iter().next()) {
                let window = Appointment {
                    from: slot.from,
                    to: slot.to,
                };
                s.set_dispatch(
                    Actor::SYSTEM,
                    ro.id,
                    &DispatchDecision::Assign {
                        station_id: slot.station_id,
                        technician_id: slot.technician_id,
                        scheduled_for: slot.from,
                        route_seq: None,
                        appointment: Some(window),
                        override_reason: None,
                    },
                )
                .await
                .unwrap();
                self.booked.insert(ro.id, (slot.technician_id, window));
                self.figures.booked += 1;
                self.check(now, "booked a slot").await;
                return;
            }
        }
        let mut done = fieldops::auto_assign(s.as_ref(), Actor::SYSTEM, ro.id, now)
            .await
            .unwrap();
        self.check(now, "auto-assigned").await;
        // One in ten: the station declines it (the portal's button), and dispatch looks again.
        if let (Some(station), true) = (done.station_id, self.rng.gen_bool(0.1)) {
            s.decline_order(Actor::SYSTEM, station, ro.id, "no capacity this week", now)
                .await
                .unwrap();
            self.declined.entry(ro.id).or_default().push(station);
            self.figures.declined += 1;
            self.check(now, "declined by its station").await;
            done = fieldops::auto_assign(s.as_ref(), Actor::SYSTEM, ro.id, now)
                .await
                .unwrap();
            self.check(now, "auto-assigned after a decline").await;
        }
        if priority == Priority::Urgent {
            if let Some(station) = done.station_id {
                let hz = fieldops::replan_region(s.as_ref(), &[station], now, RULES)
                    .await
                    .unwrap();
                self.replanned("urgent order (its station)", &hz);
                self.check(now, "urgent re-plan").await;
            }
        }
    }

    /// Technicians report where they are and work their visits: a visit starts when its planned
    /// start has come (plus the technician's lateness today) and ends after its minutes.
    async fn work(&mut self, now: DateTime<Utc>) {
        let s = self.store.clone();
        let ids: Vec<i64> = self.technicians.keys().copied().collect();
        let midnight = now - Duration::hours(24);
        for id in ids {
            let mood = self.moods.get(&id).copied().unwrap_or_default();
            let tasks = s.tech_tasks(id, midnight).await.unwrap();
            let station = self.technicians[&id].station_id;
            // On site: finish when the visit's minutes are done.
            if let Some(t) = tasks.iter().find(|t| t.status == TaskStatus::OnSite) {
                let since = t.check_in.as_ref().map_or(now, |c| c.at);
                if since + Duration::minutes(i64::from(t.duration_minutes)) <= now {
                    self.finish(id, t.repair_order_id, now).await;
                }
                continue;
            }
            // The next visit whose time has come (today's, in route order).
            let next = tasks.iter().find(|t| {
                matches!(t.status, TaskStatus::Assigned | TaskStatus::Accepted)
                    && t.scheduled_for.is_some_and(|p| p.date_naive() == now.date_naive())
            });
            let Some(next) = next else { continue };
            let planned = next.scheduled_for.unwrap_or(now);
            let Some(site) = next.customer.address.as_ref().and_then(|a| a.location) else {
                continue;
            };
            // A position report 20 minutes before: where they are (late ones still far off).
            if now + Duration::minutes(20) >= planned && now < planned + Duration::minutes(STEP_MINUTES) {
                let off = if mood.late > 0 { 0.01 * mood.late as f64 } else { 0.02 };
                let here = GeoPoint::new(site.lat + off, site.lon).unwrap();
                s.record_position(id, here, now).await.unwrap();
                let p = dispatch::candidates::Point {
                    lat: here.lat,
                    lon: here.lon,
                };
                if fieldops::falls_behind(s.as_ref(), id, p, now, RULES.speed_kmh)
                    .await
                    .unwrap()
                {
                    let hz = fieldops::replan_region(s.as_ref(), &[station], now, RULES)
                        .await
                        .unwrap();
                    self.replanned("technician behind (their station)", &hz);
                    self.check(now, "behind re-plan").await;
                    continue;
                }
            }
            if now >= planned + Duration::minutes(mood.late) {
                for action in [TaskAction::Accept, TaskAction::Depart, TaskAction::CheckIn] {
                    if action == TaskAction::Accept && next.status == TaskStatus::Accepted {
                        continue;
                    }
                    let w = TaskWrite::Step(TaskStep {
                        action,
                        location: (action == TaskAction::CheckIn).then_some(site),
                        reason: None,
                    });
                    s.task_write(Actor::SYSTEM, id, next.repair_order_id, None, &w)
                        .await
                        .unwrap();
                }
                self.check(now, "work started").await;
            }
        }
    }

    async fn finish(&mut self, tech: i64, id: i64, now: DateTime<Utc>) {
        let s = self.store.clone();
        let ro = s.get_repair_order(id).await.unwrap();
        let asset = s.get_asset(ro.asset_id).await.unwrap();
        let model = s.get_model(asset.model_id).await.unwrap();
        let code = model
            .fault_codes
            .first()
            .map(|f| f.code.clone())
            .expect("a fault catalogue");
        let report = TaskWrite::Report(TaskReport {
            fault_code: Some(code),
            diagnosis: None,
            work_done: Some(text("repaired on site")),
            labour_hours: Some(1.0),
        });
        s.task_write(Actor::SYSTEM, tech, id, None, &report).await.unwrap();
        // Out of warranty: an hour's quote, accepted on the phone, before the work is done.
        let ask = crm_core::billing::QuoteRequest {
            labour_minutes: Some(60),
            ..Default::default()
        };
        let rules = crm_core::billing::BillingRules::default();
        let paid = match s.create_quote(Actor::SYSTEM, id, &ask, &rules, now).await {
            Ok((q, _)) => {
                let yes = crm_core::billing::NewAcceptance::Phone {
                    customer_name: text("the customer"),
                    note: text("agreed to an hour's labour"),
                };
                s.accept_quote(Actor::SYSTEM, id, q.id, &yes, now).await.unwrap();
                true
            }
            Err(crm_core::StoreError::Conflict { field, .. }) if field == "repair_order_id" => false,
            Err(e) => panic!("quoting {id}: {e}"),
        };
        let done = TaskWrite::Step(TaskStep {
            action: TaskAction::Complete,
            location: None,
            reason: None,
        });
        s.task_write(Actor::SYSTEM, tech, id, None, &done).await.unwrap();
        // A paid repair has its invoice, numbered on from the station's last for the year.
        let invoice = s.invoice_for_order(id).await.unwrap();
        assert_eq!(
            invoice.is_some(),
            paid,
            "order {id}: an invoice exactly when the customer pays"
        );
        if let Some(inv) = invoice {
            let seq: i64 = inv
                .number
                .rsplit('-')
                .next()
                .and_then(|n| n.parse().ok())
                .expect("a sequence number");
            let issued = self
                .figures
                .invoices
                .entry((inv.station_id, inv.issued_on.year()))
                .or_default();
            issued.push(seq);
            // The demo's history issued the first numbers; the week's follow on without a gap.
            let mut sorted = issued.clone();
            sorted.sort_unstable();
            let gapless: Vec<i64> = (sorted[0]..sorted[0] + sorted.len() as i64).collect();
            assert_eq!(
                sorted, gapless,
                "invoice numbers of station {} have a gap or a double",
                inv.station_id
            );
            assert_eq!(sorted.last(), Some(&seq), "numbered after every earlier one");
        }
        let site = fieldops::order_facts(s.as_ref(), &ro).await.unwrap();
        let due = ro.created_at + Duration::hours(i64::from(fieldops::sla_hours(site.priority)));
        let f = self.day_figures(now);
        f.1 += 1;
        f.2 += usize::from(now > due);
        self.booked.remove(&id);
        self.check(now, "completed").await;
    }

    /// The invariants, against the store.
    async fn check(&mut self, now: DateTime<Utc>, after: &str) {
        self.figures.checks += 1;
        let s = self.store.as_ref();
        let open = s.open_repair_orders(100_000).await.unwrap();
        let sites = fieldops::sites(s, &open).await.unwrap();
        let skilled = |t: &Technician, line: &str| t.skills.iter().any(|k| k.name.as_str() == line);
        let today = now.with_timezone(&Berlin).date_naive();
        for ro in &open {
            let line = sites.get(&ro.id).map_or("", |x| x.line.as_str());
            let ctx = || {
                format!(
                    "after {after} at {} (Berlin): order {} {ro:?}",
                    now.with_timezone(&Berlin),
                    ro.id
                )
            };
            if let Some(refused) = self.declined.get(&ro.id) {
                let tech_station = ro.technician_id.map(|t| self.technicians[&t].station_id);
                assert!(
                    !ro.station_id.is_some_and(|s| refused.contains(&s))
                        && !tech_station.is_some_and(|s| refused.contains(&s)),
                    "at a station that declined it: {}",
                    ctx()
                );
            }
            if fieldops::started(ro) {
                assert!(ro.technician_id.is_some(), "started without a technician: {}", ctx());
                continue;
            }
            match (ro.technician_id, ro.scheduled_for) {
                (None, _) => {
                    let reason = ro.unassigned_reason.as_deref();
                    assert!(reason.is_some(), "neither a technician nor a reason: {}", ctx());
                    if reason == Some("no_skill_match") {
                        assert!(
                            !self.technicians.values().any(|t| skilled(t, line)),
                            "no_skill_match although someone has {line}: {}",
                            ctx()
                        );
                    }
                }
                (Some(_), None) => panic!("assigned without a visit time: {}", ctx()),
                (Some(t), Some(at)) => {
                    let tech = &self.technicians[&t];
                    assert!(
                        skilled(tech, line),
                        "assigned to a technician without {line}: {}",
                        ctx()
                    );
                    let day = at.with_timezone(&Berlin).date_naive();
                    assert!(day >= today, "its visit day has passed: {}", ctx());
                    assert!(in_shift(tech, at), "planned outside the technician's shifts: {}", ctx());
                    // Routes stay local: the order's own station, or a neighbour within reach.
                    let home = self.stations[&tech.station_id];
                    let km = sites.get(&ro.id).and_then(|x| x.at).map_or(0.0, |p| {
                        dispatch::travel::StraightLine::new(1.0, 1.0, home.lat).km(p, home)
                    });
                    assert!(
                        ro.station_id == Some(tech.station_id) || km <= RULES.reach_km,
                        "a technician {km:.0} km from home on another station's order: {}",
                        ctx()
                    );
                    self.figures.farthest_km = self.figures.farthest_km.max(km);
                    if day == today {
                        assert!(
                            works_later(tech, now),
                            "today's visit after the technician's day ended: {}",
                            ctx()
                        );
                    }
                }
            }
        }
        for (id, (tech, window)) in &self.booked {
            let Some(ro) = open.iter().find(|o| o.id == *id) else {
                continue;
            };
            assert_eq!(ro.appointment, Some(*window), "a booked window changed: {ro:?}");
            // Its technician in its window, or left out for a call-back with a reason; never
            // handed to a colleague, never moved out of its window.
            let kept = ro.scheduled_for.is_some_and(|s| window.from <= s && s <= window.to);
            assert!(
                (ro.technician_id == Some(*tech) && kept)
                    || (ro.technician_id.is_none() && ro.unassigned_reason.is_some()),
                "a booked visit lost its technician or window after {after}: {ro:?}"
            );
        }
    }
}

/// The planned start lies in one of the technician's shifts (Berlin wall-clock).
fn in_shift(t: &Technician, at: DateTime<Utc>) -> bool {
    let local = at.with_timezone(&Berlin);
    let wd = local.weekday().number_from_monday() as u8;
    t.shifts
        .iter()
        .any(|s| s.weekday == wd && s.opens <= local.time() && local.time() <= s.closes)
}

/// The technician still has a shift to come or under way today.
fn works_later(t: &Technician, now: DateTime<Utc>) -> bool {
    let local = now.with_timezone(&Berlin);
    let wd = local.weekday().number_from_monday() as u8;
    t.shifts.iter().any(|s| s.weekday == wd && local.time() < s.closes)
}
