//! A region's day: one route per technician, from their start point (home station, or where
//! they are now when re-planning) back to their end point, inside their shift, with at most
//! their hours of work and their breaks taken; jobs with a duration, a window for the start of
//! the visit, skills at levels, a priority (must-serve before nice-to-have) and an SLA deadline
//! (lateness costs, so deadlines are met where the day allows). Travel time comes from a
//! [`TravelModel`](crate::travel::TravelModel), so a road network can replace the straight line.
//!
//! Time along a route is walked by one function, [`timeline`]: a visit starts when the
//! technician has arrived and its window has opened; a break is taken as soon as it is free (in
//! the wait before a visit) and at the latest before the visit that would end after the break's
//! latest start. A split shift is one shift with a fixed break between its parts.
//!
//! The search is the same ruin and recreate as the Solomon planner, made to scale: removals and
//! insertions look only at the routes near a job (its nearest jobs' routes and the nearest idle
//! technicians), so a day of thousands of jobs costs about as much per iteration as a hundred.
//! Every job left out carries a reason, decided before the search (nobody could ever take it)
//! and after (nobody had room). No clock inside: the caller's closure budgets the search.

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rstar::primitives::GeomWithData;
use rstar::RTree;

use crate::candidates::{Point, Reason};
use crate::travel::TravelModel;

/// Minutes.
pub type Min = f64;

#[derive(Debug, Clone, PartialEq)]
pub struct Vehicle {
    pub id: i64,
    pub start: Point,
    pub end: Point,
    /// The shift: leave no earlier than `.0`, be back by `.1`.
    pub shift: (Min, Min),
    /// Minutes of work (visits) at most.
    pub max_work: Min,
    /// Bit i set: has skill-level i (see [`SkillBits`]).
    pub skills: u64,
    /// The technician's home station (where their parts come from).
    pub station: i64,
    /// Breaks in time order; none may overlap a visit.
    pub breaks: Vec<Break>,
    /// How far (straight line, km) from `end`, their home, the technician takes the orders of
    /// other stations; `f64::INFINITY`: anywhere. Their own station's orders they always take.
    pub reach_km: f64,
}

/// A break from work: `minutes` long, starting inside `window` (a fixed break has a window of
/// one instant). Travel does not happen during a break either.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Break {
    pub window: (Min, Min),
    pub minutes: Min,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub id: i64,
    pub at: Point,
    pub duration: Min,
    /// The visit must start inside this window.
    pub window: (Min, Min),
    pub skills: u64,
    /// Must be served (true) or only if there is room.
    pub must: bool,
    /// The SLA deadline for finishing the visit; being late costs [`LATE_PER_MINUTE`].
    pub deadline: Option<Min>,
    /// The stations whose technicians can take the job: those holding the parts it needs,
    /// less those that declined it. Empty: any station (no parts needed, nobody declined).
    pub stations: Vec<i64>,
    /// The vehicle (by id) the job is with now. Giving it to another costs [`MOVE_COST`], so a
    /// re-plan moves an order only when that serves the day.
    pub with: Option<i64>,
    /// Booked with `with`: nobody else takes it. When `with` cannot keep it, it is left out
    /// (the customer is asked again), never handed to a colleague.
    pub pinned: bool,
    /// The station the order belongs to: its technicians take it however far it is; others
    /// only within their [`Vehicle::reach_km`]. `None`: anybody in reach.
    pub home: Option<i64>,
}

impl Job {
    /// This technician has the skills, works from a station that holds the parts (when parts
    /// are needed), is the booked one (when it is booked) and is local: of the order's station,
    /// within reach of it, or the one it is with now.
    pub fn served_by(&self, v: &Vehicle) -> bool {
        self.skills & !v.skills == 0
            && (self.stations.is_empty() || self.stations.contains(&v.station))
            && (!self.pinned || self.with == Some(v.id))
            && self.in_reach(v)
    }

    /// Whether `v` may come this far for it (skills aside).
    pub fn in_reach(&self, v: &Vehicle) -> bool {
        if !v.reach_km.is_finite() || self.home == Some(v.station) || self.with == Some(v.id) {
            return true;
        }
        let dx = (self.at.lon - v.end.lon) * v.end.lat.to_radians().cos();
        let dy = self.at.lat - v.end.lat;
        (dx * dx + dy * dy).sqrt() * KM_PER_DEG <= v.reach_km
    }

    /// Whether giving this job to `v` moves it from the vehicle it is with.
    pub fn moves_to(&self, v: &Vehicle) -> bool {
        self.with.is_some_and(|w| w != v.id)
    }
}

/// Kilometres per degree of latitude.
const KM_PER_DEG: f64 = 111.195;

/// Skills at levels as bits: bit `skill * 5 + (level - 1)` means "this skill at this level or
/// above"; a technician at level 3 has the bits for levels 1, 2 and 3. Up to 12 skills.
pub struct SkillBits;

impl SkillBits {
    pub fn have(skill: usize, level: u8) -> u64 {
        (1..=level.clamp(1, 5)).fold(0, |m, l| m | 1 << (skill * 5 + l as usize - 1))
    }
    pub fn need(skill: usize, level: u8) -> u64 {
        1 << (skill * 5 + level.clamp(1, 5) as usize - 1)
    }
}

pub struct Problem<'a> {
    pub vehicles: Vec<Vehicle>,
    pub jobs: Vec<Job>,
    /// Any [`TravelModel`]: [`StraightLine::roads`](crate::travel::StraightLine::roads) now, a road network later.
    pub travel: &'a dyn TravelModel,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Per vehicle (same order as the problem's), the jobs (indices) in visiting order.
    pub routes: Vec<Vec<usize>>,
    /// Jobs left out, with why.
    pub unassigned: Vec<(usize, Reason)>,
    pub travel: Min,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Violation {
    Twice(usize),
    Missing(usize),
    Skills {
        vehicle: usize,
        job: usize,
    },
    Window {
        vehicle: usize,
        job: usize,
        start: Min,
    },
    ShiftEnd {
        vehicle: usize,
        back: Min,
    },
    Work {
        vehicle: usize,
        minutes: Min,
    },
    /// A break not taken inside its window, or overlapping travel or a visit.
    Break {
        vehicle: usize,
        brk: usize,
    },
}

/// Check a plan independently of the planner: each route's [`timeline`] is re-checked with
/// plain arithmetic (travel between consecutive steps, windows, breaks inside their window and
/// clear of visits and travel, the shift's end, the hours of work).
pub fn check(p: &Problem, plan: &Plan) -> Result<(), Violation> {
    let mut seen = vec![false; p.jobs.len()];
    for &j in plan
        .routes
        .iter()
        .flatten()
        .chain(plan.unassigned.iter().map(|(j, _)| j))
    {
        if std::mem::replace(&mut seen[j], true) {
            return Err(Violation::Twice(j));
        }
    }
    if let Some(j) = seen.iter().position(|s| !s) {
        return Err(Violation::Missing(j));
    }
    for (vi, r) in plan.routes.iter().enumerate() {
        let v = &p.vehicles[vi];
        if r.is_empty() {
            continue;
        }
        let tl = timeline(p, v, r.iter().map(|&j| &p.jobs[j]));
        // Breaks and visits as intervals, each with where it happens.
        let mut steps: Vec<(Min, Min, Option<usize>)> = vec![];
        for (k, &j) in r.iter().enumerate() {
            let job = &p.jobs[j];
            if !job.served_by(v) {
                return Err(Violation::Skills { vehicle: vi, job: j });
            }
            let start = tl.starts[k];
            if start < job.window.0 - 1e-6 || start > job.window.1 + 1e-6 {
                return Err(Violation::Window {
                    vehicle: vi,
                    job: j,
                    start,
                });
            }
            steps.push((start, start + job.duration, Some(j)));
        }
        for (b, brk) in v.breaks.iter().enumerate() {
            if let Some(at) = tl.breaks[b] {
                if at < brk.window.0 - 1e-6 || at > brk.window.1 + 1e-6 {
                    return Err(Violation::Break { vehicle: vi, brk: b });
                }
                steps.push((at, at + brk.minutes, None));
            }
        }
        steps.sort_by(|a, b| a.0.total_cmp(&b.0));
        // Steps may not overlap, and the time between two visits, breaks excepted, must hold
        // the travel from one to the other.
        let (mut t, mut at, mut free) = (v.shift.0, v.start, 0.0);
        for (k, &(from, to, job)) in steps.iter().enumerate() {
            let fail = || match job {
                Some(j) => Violation::Window {
                    vehicle: vi,
                    job: j,
                    start: from,
                },
                None => Violation::Break {
                    vehicle: vi,
                    brk: steps[..k].iter().filter(|s| s.2.is_none()).count(),
                },
            };
            if from < t - 1e-6 {
                return Err(fail());
            }
            free += from - t;
            if let Some(j) = job {
                if free < p.travel.minutes(at, p.jobs[j].at) - 1e-6 {
                    return Err(fail());
                }
                free = 0.0;
                at = p.jobs[j].at;
            }
            t = to;
        }
        let back = t + (p.travel.minutes(at, v.end) - free).max(0.0);
        if back > v.shift.1 + 1e-6 {
            return Err(Violation::ShiftEnd { vehicle: vi, back });
        }
        // A break not taken: only when the day was over before it could start.
        if let Some(b) = (0..v.breaks.len()).find(|&b| tl.breaks[b].is_none() && back > v.breaks[b].window.0 + 1e-6) {
            return Err(Violation::Break { vehicle: vi, brk: b });
        }
        let work: Min = r.iter().map(|&j| p.jobs[j].duration).sum();
        if work > v.max_work + 1e-6 {
            return Err(Violation::Work {
                vehicle: vi,
                minutes: work,
            });
        }
    }
    Ok(())
}

/// How a route goes in time.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Timeline {
    /// Each visit's start.
    pub starts: Vec<Min>,
    /// Each of the vehicle's breaks' start, `None` when the day ended before it.
    pub breaks: Vec<Option<Min>>,
    /// Back at the end point.
    pub back: Min,
    pub travel: Min,
    pub work: Min,
    /// Minutes past the jobs' deadlines, summed.
    pub late: Min,
    /// Every window met, back before the shift ends, within the hours of work.
    pub ok: bool,
}

/// Walk a route in time (see the module's notes on breaks).
pub fn timeline<'j>(p: &Problem, v: &Vehicle, jobs: impl IntoIterator<Item = &'j Job>) -> Timeline {
    let mut tl = Timeline {
        breaks: vec![None; v.breaks.len()],
        ok: true,
        ..Timeline::default()
    };
    let w = walk(
        p,
        v,
        jobs.into_iter(),
        |s| tl.starts.push(s),
        |b, at| tl.breaks[b] = Some(at),
    );
    tl.back = w.back;
    tl.travel = w.travel;
    tl.work = w.work;
    tl.late = w.late;
    tl.ok = w.ok;
    tl
}

#[derive(Debug, Clone, Copy)]
struct Walked {
    back: Min,
    travel: Min,
    work: Min,
    late: Min,
    ok: bool,
}

/// The one walk through a route's time, reporting visit starts and break starts as it goes.
fn walk<'j>(
    p: &Problem,
    v: &Vehicle,
    jobs: impl Iterator<Item = &'j Job>,
    mut visit: impl FnMut(Min),
    mut took_break: impl FnMut(usize, Min),
) -> Walked {
    let (mut t, mut at) = (v.shift.0, v.start);
    let mut w = Walked {
        back: t,
        travel: 0.0,
        work: 0.0,
        late: 0.0,
        ok: true,
    };
    let mut b = 0;
    let mut any = false;
    for job in jobs {
        any = true;
        let d = p.travel.minutes(at, job.at);
        w.travel += d;
        // Breaks before this visit: free ones (in the wait) and those that cannot come after it.
        let mut ready = t + d;
        while let Some(brk) = v.breaks.get(b) {
            let start = ready.max(job.window.0);
            let (w0, w1) = brk.window;
            // Travel first, then the break (in the van or at the door)...
            let after_travel = ready.max(w0);
            let free = after_travel <= w1 && after_travel + brk.minutes <= start;
            let forced = start + job.duration > w1;
            if !(free || forced) {
                break;
            }
            // ...or, when arriving is already too late for it, the break first, then travel.
            let at_break = if after_travel <= w1 {
                after_travel
            } else {
                (ready - d).max(w0)
            };
            took_break(b, at_break);
            ready = if after_travel <= w1 {
                at_break + brk.minutes
            } else {
                at_break + brk.minutes + d
            };
            b += 1;
        }
        let start = ready.max(job.window.0);
        if start > job.window.1 + 1e-9 {
            w.ok = false;
        }
        visit(start);
        t = start + job.duration;
        w.work += job.duration;
        if let Some(dl) = job.deadline {
            w.late += (t - dl).max(0.0);
        }
        at = job.at;
    }
    if any {
        let d = p.travel.minutes(at, v.end);
        w.travel += d;
        let mut back = t + d;
        // Breaks whose window opens before the day is over are taken before going home.
        while let Some(brk) = v.breaks.get(b) {
            if back <= brk.window.0 {
                break;
            }
            let at_break = t.max(brk.window.0);
            took_break(b, at_break);
            t = at_break + brk.minutes;
            back = t + d;
            b += 1;
        }
        w.back = back;
        if back > v.shift.1 + 1e-9 {
            w.ok = false;
        }
    }
    if w.work > v.max_work + 1e-9 {
        w.ok = false;
    }
    w
}

/// Why a job can never be served, whatever the others do; `None` when some technician could.
fn static_reason(p: &Problem, job: &Job) -> Option<Reason> {
    let skilled = |v: &&Vehicle| job.skills & !v.skills == 0;
    if !p.vehicles.iter().any(|v| skilled(&v)) {
        return Some(Reason::NoSkillMatch);
    }
    // Booked: only its technician, who may not work that day.
    let mine = |v: &&Vehicle| !job.pinned || job.with == Some(v.id);
    if !p.vehicles.iter().any(|v| skilled(&v) && mine(&v)) {
        return Some(Reason::NoShiftLeft);
    }
    let stocked = |v: &&Vehicle| job.stations.is_empty() || job.stations.contains(&v.station);
    if !p.vehicles.iter().any(|v| skilled(&v) && mine(&v) && stocked(&v)) {
        return Some(Reason::PartsMissing);
    }
    let able: Vec<&Vehicle> = p.vehicles.iter().filter(|v| job.served_by(v)).collect();
    if able.is_empty() {
        return Some(Reason::OutOfReach);
    }
    if able.iter().all(|v| job.duration > v.max_work) {
        return Some(Reason::NoCapacity);
    }
    let alone_fits = |v: &&Vehicle| walk(p, v, std::iter::once(job), |_| {}, |_, _| {}).ok;
    if !able.iter().any(alone_fits) {
        return Some(Reason::WindowInfeasible);
    }
    None
}

#[derive(Debug, Clone, Default)]
struct Route {
    /// Jobs in order.
    jobs: Vec<usize>,
    /// Earliest visit start per job.
    start: Vec<Min>,
    /// Latest visit start per job keeping the rest (and the return) feasible.
    latest: Vec<Min>,
    work: Min,
    travel: Min,
    /// Minutes past deadlines.
    late: Min,
    /// Jobs on the route with a deadline.
    deadlines: usize,
    /// What moving the route's jobs from their vehicles costs (whole minutes of travel).
    moved: usize,
}

pub struct Planner<'a> {
    p: &'a Problem<'a>,
    rng: StdRng,
    /// Each job's nearest jobs.
    near: Vec<Vec<usize>>,
    /// Each job's nearest vehicles (by start point).
    near_vehicles: Vec<Vec<usize>>,
    routes: Vec<Route>,
    route_of: Vec<usize>,
    out: Vec<usize>,
    static_reasons: Vec<Option<Reason>>,
    /// Each job's current vehicle (index), where it has one in the problem.
    current: Vec<Option<usize>>,
}

const NEAR_JOBS: usize = 40;
const NEAR_VEHICLES: usize = 12;
const PENALTY_MUST: f64 = 1e7;
const PENALTY_NICE: f64 = 1e4;
/// A minute past an SLA deadline costs as much as this many minutes of travel.
pub const LATE_PER_MINUTE: f64 = 20.0;
/// Moving a job to another vehicle costs as much as this many minutes of travel: the
/// technician and the customer were told, and a plan that shuffles visits is not trusted.
pub const MOVE_COST: f64 = 45.0;

impl<'a> Planner<'a> {
    pub fn new(p: &'a Problem<'a>, seed: u64) -> Planner<'a> {
        let jobs_tree: RTree<GeomWithData<[f64; 2], usize>> = RTree::bulk_load(
            p.jobs
                .iter()
                .enumerate()
                .map(|(i, j)| GeomWithData::new([j.at.lon, j.at.lat], i))
                .collect(),
        );
        let veh_tree: RTree<GeomWithData<[f64; 2], usize>> = RTree::bulk_load(
            p.vehicles
                .iter()
                .enumerate()
                .map(|(i, v)| GeomWithData::new([v.start.lon, v.start.lat], i))
                .collect(),
        );
        let near = p
            .jobs
            .iter()
            .map(|j| {
                jobs_tree
                    .nearest_neighbor_iter(&[j.at.lon, j.at.lat])
                    .take(NEAR_JOBS)
                    .map(|e| e.data)
                    .collect()
            })
            .collect();
        let near_vehicles = p
            .jobs
            .iter()
            .map(|j| {
                veh_tree
                    .nearest_neighbor_iter(&[j.at.lon, j.at.lat])
                    .filter(|e| j.served_by(&p.vehicles[e.data]))
                    .take(NEAR_VEHICLES)
                    .map(|e| e.data)
                    .collect()
            })
            .collect();
        let static_reasons = p.jobs.iter().map(|j| static_reason(p, j)).collect();
        let current = p
            .jobs
            .iter()
            .map(|j| j.with.and_then(|w| p.vehicles.iter().position(|v| v.id == w)))
            .collect();
        let mut pl = Planner {
            p,
            rng: StdRng::seed_from_u64(seed),
            near,
            near_vehicles,
            routes: vec![],
            route_of: vec![usize::MAX; p.jobs.len()],
            out: vec![],
            static_reasons,
            current,
        };
        pl.routes = (0..p.vehicles.len())
            .map(|v| {
                let mut r = Route::default();
                pl.refresh_route(v, &mut r);
                r
            })
            .collect();
        pl
    }

    fn refresh_route(&self, v: usize, r: &mut Route) {
        let veh = &self.p.vehicles[v];
        let travel = self.p.travel;
        let tr = |a: Point, b: Point| travel.minutes(a, b);
        let n = r.jobs.len();
        r.start.clear();
        let jobs = &self.p.jobs;
        let w = walk(
            self.p,
            veh,
            r.jobs.iter().map(|&j| &jobs[j]),
            |s| r.start.push(s),
            |_, _| {},
        );
        r.work = w.work;
        r.travel = w.travel;
        r.late = w.late;
        r.deadlines = r.jobs.iter().filter(|&&j| jobs[j].deadline.is_some()).count();
        r.moved = r.jobs.iter().filter(|&&j| jobs[j].moves_to(veh)).count() * MOVE_COST as usize;
        // Latest starts, for the quick insertion test (vehicles without breaks).
        r.latest.resize(n, 0.0);
        let mut next_latest = veh.shift.1;
        let mut next_at = veh.end;
        for k in (0..n).rev() {
            let job = &jobs[r.jobs[k]];
            let l = job.window.1.min(next_latest - tr(job.at, next_at) - job.duration);
            r.latest[k] = l;
            next_latest = l;
            next_at = job.at;
        }
    }

    fn cost(&self) -> f64 {
        self.routes
            .iter()
            .map(|r| r.travel + LATE_PER_MINUTE * r.late + r.moved as f64)
            .sum::<f64>()
            + self
                .out
                .iter()
                .map(|&j| {
                    if self.p.jobs[j].must {
                        PENALTY_MUST
                    } else {
                        PENALTY_NICE
                    }
                })
                .sum::<f64>()
    }

    /// Cost of inserting job `u` into vehicle `v`'s route before position `pos`, if feasible.
    fn insertion(&self, v: usize, u: usize, pos: usize) -> Option<f64> {
        self.insertion_of(v, &self.p.jobs[u], pos)
    }

    fn insertion_of(&self, v: usize, job: &Job, pos: usize) -> Option<f64> {
        let moved = if job.moves_to(&self.p.vehicles[v]) {
            MOVE_COST
        } else {
            0.0
        };
        self.insertion_cost(v, job, pos).map(|c| c + moved)
    }

    fn insertion_cost(&self, v: usize, job: &Job, pos: usize) -> Option<f64> {
        let r = &self.routes[v];
        let veh = &self.p.vehicles[v];
        let travel = self.p.travel;
        let tr = |a: Point, b: Point| travel.minutes(a, b);
        if r.work + job.duration > veh.max_work {
            return None;
        }
        if !veh.breaks.is_empty() || job.deadline.is_some() || r.deadlines > 0 {
            // Breaks move with the visits and lateness runs down the route: walk it.
            let jobs = &self.p.jobs;
            let seq = r.jobs[..pos]
                .iter()
                .map(|&j| &jobs[j])
                .chain(std::iter::once(job))
                .chain(r.jobs[pos..].iter().map(|&j| &jobs[j]));
            let w = walk(self.p, veh, seq, |_| {}, |_, _| {});
            return w
                .ok
                .then_some(w.travel - r.travel + LATE_PER_MINUTE * (w.late - r.late));
        }
        let (prev_at, prev_done) = if pos == 0 {
            (veh.start, veh.shift.0)
        } else {
            let pj = &self.p.jobs[r.jobs[pos - 1]];
            (pj.at, r.start[pos - 1] + pj.duration)
        };
        let start = (prev_done + tr(prev_at, job.at)).max(job.window.0);
        if start > job.window.1 {
            return None;
        }
        let done = start + job.duration;
        let (next_at, next_latest) = if pos == r.jobs.len() {
            (veh.end, veh.shift.1)
        } else {
            (self.p.jobs[r.jobs[pos]].at, r.latest[pos])
        };
        let arrive = done + tr(job.at, next_at);
        let next_start = if pos == r.jobs.len() {
            arrive
        } else {
            arrive.max(self.p.jobs[r.jobs[pos]].window.0)
        };
        if next_start > next_latest {
            return None;
        }
        let old = if r.jobs.is_empty() { 0.0 } else { tr(prev_at, next_at) };
        let new_leg = tr(prev_at, job.at) + tr(job.at, next_at);
        Some(new_leg - old)
    }

    fn place(&mut self, v: usize, u: usize, pos: usize) {
        let mut r = std::mem::take(&mut self.routes[v]);
        r.jobs.insert(pos, u);
        self.refresh_route(v, &mut r);
        self.routes[v] = r;
        self.route_of[u] = v;
    }

    fn insert_all(&mut self, mut jobs: Vec<usize>) {
        jobs.shuffle(&mut self.rng);
        // Must-serve first, then by a random criterion.
        let p = self.p;
        match self.rng.gen_range(0..3) {
            0 => {}
            1 => jobs.sort_by(|a, b| p.jobs[*b].duration.total_cmp(&p.jobs[*a].duration)),
            _ => jobs.sort_by(|a, b| {
                let wa = p.jobs[*a].window.1 - p.jobs[*a].window.0;
                let wb = p.jobs[*b].window.1 - p.jobs[*b].window.0;
                wa.total_cmp(&wb)
            }),
        }
        jobs.sort_by_key(|j| !p.jobs[*j].must);
        for u in jobs {
            if self.static_reasons[u].is_some() {
                self.out.push(u);
                continue;
            }
            let mut vehicles: Vec<usize> = self.near[u]
                .iter()
                .map(|&n| self.route_of[n])
                .filter(|&v| v != usize::MAX)
                .collect();
            vehicles.extend(self.near_vehicles[u].iter().copied());
            vehicles.extend(self.current[u]);
            vehicles.sort_unstable();
            vehicles.dedup();
            let mut best: Option<(f64, usize, usize)> = None;
            for v in vehicles {
                if !p.jobs[u].served_by(&p.vehicles[v]) {
                    continue;
                }
                for pos in 0..=self.routes[v].jobs.len() {
                    if self.rng.gen::<f64>() < 0.01 {
                        continue;
                    }
                    if let Some(c) = self.insertion(v, u, pos) {
                        if best.is_none_or(|(b, _, _)| c < b) {
                            best = Some((c, v, pos));
                        }
                    }
                }
            }
            match best {
                Some((_, v, pos)) => self.place(v, u, pos),
                None => self.out.push(u),
            }
        }
    }

    fn ruin(&mut self) -> Vec<usize> {
        let served: Vec<usize> = (0..self.p.jobs.len())
            .filter(|&j| self.route_of[j] != usize::MAX)
            .collect();
        if served.is_empty() {
            return vec![];
        }
        let seed = served[self.rng.gen_range(0..served.len())];
        let strings = self.rng.gen_range(1..=3);
        let mut removed = vec![];
        let mut ruined = vec![];
        for i in 0..self.near[seed].len() {
            if ruined.len() >= strings {
                break;
            }
            let c = self.near[seed][i];
            let v = self.route_of[c];
            if v == usize::MAX || ruined.contains(&v) {
                continue;
            }
            let len = self.routes[v].jobs.len();
            let l = self.rng.gen_range(1..=len.min(8));
            let pos = self.routes[v].jobs.iter().position(|&x| x == c).expect("routed");
            let from = self.rng.gen_range(pos.saturating_sub(l - 1)..=pos.min(len - l));
            let mut r = std::mem::take(&mut self.routes[v]);
            let taken: Vec<usize> = r.jobs.drain(from..from + l).collect();
            self.refresh_route(v, &mut r);
            self.routes[v] = r;
            for &j in &taken {
                self.route_of[j] = usize::MAX;
            }
            removed.extend(taken);
            ruined.push(v);
        }
        removed
    }

    /// Plan, starting from `initial` routes when given (re-planning keeps what still fits),
    /// until `progress(iteration)` returns `None`.
    pub fn run(&mut self, initial: Option<&Plan>, mut progress: impl FnMut(u64) -> Option<f64>) -> Plan {
        let mut pending: Vec<usize> = (0..self.p.jobs.len()).collect();
        if let Some(init) = initial {
            for (v, r) in init.routes.iter().enumerate().take(self.routes.len()) {
                for &j in r {
                    let pos = self.routes[v].jobs.len();
                    // What still fits stays, and only with someone who may serve it.
                    if self.p.jobs[j].served_by(&self.p.vehicles[v]) && self.insertion(v, j, pos).is_some() {
                        self.place(v, j, pos);
                    }
                }
            }
            pending.retain(|&j| self.route_of[j] == usize::MAX);
        }
        self.insert_all(pending);
        let mut best = (
            self.cost(),
            self.routes.clone(),
            self.route_of.clone(),
            self.out.clone(),
        );
        let mut current_cost = best.0;
        let mut i = 0;
        while let Some(done) = progress(i) {
            i += 1;
            let temp = 10.0 * (0.05f64).powf(done.clamp(0.0, 1.0));
            let saved = (self.routes.clone(), self.route_of.clone(), self.out.clone());
            let mut removed = self.ruin();
            // Retry a few of the jobs left out (those anybody could ever take).
            self.out.shuffle(&mut self.rng);
            let mut k = 0;
            while k < self.out.len() && removed.len() < 40 {
                if self.static_reasons[self.out[k]].is_none() && k < 8 {
                    removed.push(self.out.swap_remove(k));
                } else {
                    k += 1;
                }
            }
            self.insert_all(removed);
            let cost = self.cost();
            if cost < current_cost - temp * self.rng.gen::<f64>().max(1e-300).ln() {
                current_cost = cost;
                if cost < best.0 - 1e-9 {
                    best = (cost, self.routes.clone(), self.route_of.clone(), self.out.clone());
                }
            } else {
                (self.routes, self.route_of, self.out) = saved;
            }
        }
        let (_, routes, _, out) = best;
        let travel = routes.iter().map(|r| r.travel).sum();
        let mut unassigned: Vec<(usize, Reason)> = out
            .into_iter()
            .map(|j| (j, self.static_reasons[j].unwrap_or(Reason::NoCapacity)))
            .collect();
        unassigned.sort_unstable();
        Plan {
            routes: routes.into_iter().map(|r| r.jobs).collect(),
            unassigned,
            travel,
        }
    }
}

/// An appointment slot a new order could be booked into.
#[derive(Debug, Clone, PartialEq)]
pub struct SlotOffer {
    pub window: (Min, Min),
    /// The technician (vehicle index) whose route takes it, and where.
    pub vehicle: usize,
    pub position: usize,
    /// Travel the visit adds to that route.
    pub extra_travel: Min,
}

impl<'a> Planner<'a> {
    /// The best `n` of `slots` for a new order, each fitted into the plan as it stands: nothing
    /// already planned moves or becomes late. Slots nobody can take are not offered.
    pub fn offer_slots(&mut self, plan: &Plan, order: &Job, slots: &[(Min, Min)], n: usize) -> Vec<SlotOffer> {
        for (v, r) in plan.routes.iter().enumerate().take(self.routes.len()) {
            let mut route = std::mem::take(&mut self.routes[v]);
            route.jobs = r.clone();
            self.refresh_route(v, &mut route);
            self.routes[v] = route;
        }
        let mut offers = vec![];
        for &window in slots {
            let job = Job {
                window,
                ..order.clone()
            };
            let mut best: Option<SlotOffer> = None;
            for v in 0..self.routes.len() {
                if !job.served_by(&self.p.vehicles[v]) {
                    continue;
                }
                for pos in 0..=self.routes[v].jobs.len() {
                    if let Some(extra) = self.insertion_cost(v, &job, pos) {
                        if best.as_ref().is_none_or(|b| extra < b.extra_travel) {
                            best = Some(SlotOffer {
                                window,
                                vehicle: v,
                                position: pos,
                                extra_travel: extra,
                            });
                        }
                    }
                }
            }
            offers.extend(best);
        }
        offers.sort_by(|a, b| {
            a.extra_travel
                .total_cmp(&b.extra_travel)
                .then(a.window.0.total_cmp(&b.window.0))
        });
        offers.truncate(n);
        offers
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn veh(id: i64, lat: f64, lon: f64, skills: u64) -> Vehicle {
        let at = Point { lat, lon };
        Vehicle {
            id,
            start: at,
            end: at,
            shift: (480.0, 1020.0),
            max_work: 420.0,
            skills,
            station: 1,
            breaks: vec![],
            reach_km: f64::INFINITY,
        }
    }

    fn job(id: i64, lat: f64, lon: f64, skills: u64, window: (Min, Min), must: bool) -> Job {
        Job {
            id,
            at: Point { lat, lon },
            duration: 60.0,
            window,
            skills,
            must,
            stations: vec![],
            deadline: None,
            with: None,
            pinned: false,
            home: None,
        }
    }

    fn random(n_jobs: usize, n_veh: usize, seed: u64) -> (Vec<Vehicle>, Vec<Job>) {
        let mut rng = StdRng::seed_from_u64(seed);
        let all = SkillBits::have(0, 5) | SkillBits::have(1, 5) | SkillBits::have(2, 5);
        let vehicles = (0..n_veh)
            .map(|i| {
                let mut v = veh(i as i64, rng.gen_range(52.3..52.7), rng.gen_range(13.1..13.7), 0);
                v.skills = SkillBits::have(rng.gen_range(0..3), rng.gen_range(2..=5)) | SkillBits::have(0, 1);
                if i % 3 == 0 {
                    v.skills = all;
                }
                v
            })
            .collect();
        let jobs = (0..n_jobs)
            .map(|i| {
                let from = rng.gen_range(480.0..840.0);
                let mut j = job(
                    i as i64,
                    rng.gen_range(52.3..52.7),
                    rng.gen_range(13.1..13.7),
                    SkillBits::need(rng.gen_range(0..3), rng.gen_range(1..=3)),
                    (from, from + 120.0),
                    i % 4 != 0,
                );
                j.duration = rng.gen_range(30.0..90.0);
                j
            })
            .collect();
        (vehicles, jobs)
    }

    fn iterations(n: u64) -> impl FnMut(u64) -> Option<f64> {
        move |i| (i < n).then(|| i as f64 / n as f64)
    }

    #[test]
    fn every_left_out_job_has_its_reason() {
        let tr = crate::travel::StraightLine::roads(40.0, 52.5);
        let truck = SkillBits::have(1, 3);
        let p = Problem {
            vehicles: vec![veh(1, 52.5, 13.4, truck)],
            jobs: vec![
                job(10, 52.51, 13.41, SkillBits::need(1, 2), (480.0, 900.0), true),
                // Nobody knows skill 4.
                job(11, 52.51, 13.41, SkillBits::need(4, 1), (480.0, 900.0), true),
                // Level 5 is above the truck technician's 3.
                job(12, 52.51, 13.41, SkillBits::need(1, 5), (480.0, 900.0), true),
                // The window closes before the shift starts.
                job(13, 52.51, 13.41, SkillBits::need(1, 1), (300.0, 400.0), true),
                // Longer than a day's work.
                Job {
                    duration: 500.0,
                    ..job(14, 52.51, 13.41, SkillBits::need(1, 1), (480.0, 900.0), true)
                },
                // Its parts are only at station 9, where nobody works.
                Job {
                    stations: vec![9],
                    ..job(15, 52.51, 13.41, SkillBits::need(1, 1), (480.0, 900.0), true)
                },
                // Its parts are at the technicians' station 1: served.
                Job {
                    stations: vec![9, 1],
                    ..job(16, 52.511, 13.411, SkillBits::need(1, 1), (480.0, 900.0), true)
                },
            ],
            travel: &tr,
        };
        let plan = Planner::new(&p, 1).run(None, iterations(200));
        check(&p, &plan).unwrap();
        let served: Vec<usize> = plan.routes.iter().flatten().copied().collect();
        assert!(served.contains(&0) && served.contains(&6), "{plan:?}");
        assert_eq!(
            plan.unassigned,
            vec![
                (1, Reason::NoSkillMatch),
                (2, Reason::NoSkillMatch),
                (3, Reason::WindowInfeasible),
                (4, Reason::NoCapacity),
                (5, Reason::PartsMissing)
            ]
        );
    }

    #[test]
    fn must_serve_jobs_come_before_nice_to_have_ones() {
        let tr = crate::travel::StraightLine::roads(40.0, 52.5);
        let mut v = veh(1, 52.5, 13.4, SkillBits::have(0, 5));
        v.max_work = 100.0;
        let p = Problem {
            vehicles: vec![v],
            jobs: vec![
                // The nice-to-have one is nearer, but only one fits the hours.
                job(1, 52.501, 13.401, SkillBits::need(0, 1), (480.0, 900.0), false),
                job(2, 52.55, 13.45, SkillBits::need(0, 1), (480.0, 900.0), true),
            ],
            travel: &tr,
        };
        let plan = Planner::new(&p, 3).run(None, iterations(300));
        check(&p, &plan).unwrap();
        assert_eq!(plan.routes[0], vec![1]);
        assert_eq!(plan.unassigned, vec![(0, Reason::NoCapacity)]);
    }

    #[test]
    fn plans_are_valid_repeatable_and_do_not_depend_on_input_order() {
        let tr = crate::travel::StraightLine::roads(40.0, 52.5);
        let (vehicles, jobs) = random(200, 40, 11);
        let p = Problem {
            vehicles: vehicles.clone(),
            jobs: jobs.clone(),
            travel: &tr,
        };
        let a = Planner::new(&p, 5).run(None, iterations(12000));
        check(&p, &a).unwrap();
        let b = Planner::new(&p, 5).run(None, iterations(12000));
        assert_eq!(a, b, "same seed, same plan");
        let served = |plan: &Plan| plan.routes.iter().map(Vec::len).sum::<usize>();
        // The same day with jobs and technicians listed in another order.
        let mut order: Vec<usize> = (0..jobs.len()).collect();
        order.shuffle(&mut StdRng::seed_from_u64(99));
        let mut vorder: Vec<usize> = (0..vehicles.len()).collect();
        vorder.shuffle(&mut StdRng::seed_from_u64(98));
        let q = Problem {
            vehicles: vorder.iter().map(|&i| vehicles[i].clone()).collect(),
            jobs: order.iter().map(|&i| jobs[i].clone()).collect(),
            travel: &tr,
        };
        let c = Planner::new(&q, 5).run(None, iterations(12000));
        check(&q, &c).unwrap();
        let (sa, sc) = (served(&a) as f64, served(&c) as f64);
        assert!((sa - sc).abs() <= 0.02 * sa, "served {sa} vs {sc}");
        let must_out = |plan: &Plan, p: &Problem| plan.unassigned.iter().filter(|(j, _)| p.jobs[*j].must).count();
        assert!(must_out(&a, &p).abs_diff(must_out(&c, &q)) <= 4, "must-serve left out");
        // Travel per served job, so a plan serving one job more is not counted worse.
        let (ta, tc) = (a.travel / sa, c.travel / sc);
        assert!(
            (ta - tc).abs() <= 0.05 * ta,
            "travel per job {ta:.2} ({sa}) vs {tc:.2} ({sc})"
        );
    }

    #[test]
    fn appointment_slots_fit_the_plan_without_moving_anyone() {
        let tr = crate::travel::StraightLine::roads(40.0, 52.5);
        let v = veh(1, 52.5, 13.4, SkillBits::have(0, 5));
        let p = Problem {
            vehicles: vec![v],
            jobs: vec![
                job(1, 52.52, 13.42, SkillBits::need(0, 1), (540.0, 560.0), true),
                job(2, 52.60, 13.60, SkillBits::need(0, 1), (780.0, 800.0), true),
            ],
            travel: &tr,
        };
        let plan = Planner::new(&p, 1).run(None, iterations(100));
        assert_eq!(plan.routes[0].len(), 2);
        let new = job(3, 52.521, 13.421, SkillBits::need(0, 1), (0.0, 0.0), true);
        let slots = [(480.0, 500.0), (600.0, 720.0), (990.0, 1000.0), (545.0, 550.0)];
        let offers = Planner::new(&p, 1).offer_slots(&plan, &new, &slots, 3);
        // 16:30 leaves no time to get back; 9:05 collides with the 9:00 visit next door.
        let windows: Vec<(Min, Min)> = offers.iter().map(|o| o.window).collect();
        assert_eq!(windows.len(), 2, "{offers:?}");
        assert!(windows.contains(&(600.0, 720.0)) && windows.contains(&(480.0, 500.0)));
        // Booking the best one keeps the plan valid.
        let best = &offers[0];
        let mut jobs = p.jobs.clone();
        jobs.push(Job {
            window: best.window,
            ..new.clone()
        });
        let q = Problem {
            vehicles: p.vehicles.clone(),
            jobs,
            travel: &tr,
        };
        let mut routes = plan.routes.clone();
        routes[best.vehicle].insert(best.position, 2);
        check(
            &q,
            &Plan {
                routes,
                unassigned: vec![],
                travel: 0.0,
            },
        )
        .unwrap();
        // Skills nobody has: no offer at all.
        let odd = job(4, 52.5, 13.4, SkillBits::need(7, 1), (0.0, 0.0), true);
        assert!(Planner::new(&p, 1).offer_slots(&plan, &odd, &slots, 3).is_empty());
    }

    #[test]
    fn an_urgent_job_is_fitted_into_the_running_plan() {
        let tr = crate::travel::StraightLine::roads(40.0, 52.5);
        let (vehicles, mut jobs) = random(120, 20, 4);
        let p = Problem {
            vehicles: vehicles.clone(),
            jobs: jobs.clone(),
            travel: &tr,
        };
        let first = Planner::new(&p, 1).run(None, iterations(1500));
        jobs.push(job(999, 52.5, 13.4, SkillBits::need(0, 1), (600.0, 660.0), true));
        let q = Problem {
            vehicles,
            jobs,
            travel: &tr,
        };
        let again = Planner::new(&q, 1).run(Some(&first), iterations(300));
        check(&q, &again).unwrap();
        assert!(
            again.routes.iter().flatten().any(|&j| j == 120),
            "the urgent job is served"
        );
        let kept = first
            .routes
            .iter()
            .zip(&again.routes)
            .map(|(a, b)| a.iter().filter(|j| b.contains(j)).count())
            .sum::<usize>();
        let before = first.routes.iter().map(Vec::len).sum::<usize>();
        assert!(kept * 10 >= before * 5, "most assignments stay put: {kept} of {before}");
    }

    #[test]
    fn breaks_are_taken_in_their_window_and_never_during_a_visit() {
        let tr = crate::travel::StraightLine::roads(40.0, 52.5);
        let mut v = veh(1, 52.5, 13.4, SkillBits::have(0, 5));
        // A split shift 8:00–12:00 and 14:00–17:00 (a fixed break of two hours), and a pause of
        // a quarter of an hour starting between 15:00 and 15:30.
        v.breaks = vec![
            Break {
                window: (720.0, 720.0),
                minutes: 120.0,
            },
            Break {
                window: (900.0, 930.0),
                minutes: 15.0,
            },
        ];
        v.max_work = 405.0;
        let p = Problem {
            vehicles: vec![v.clone(), veh(2, 52.5, 13.4, SkillBits::have(0, 5))],
            jobs: vec![
                job(1, 52.51, 13.41, SkillBits::need(0, 1), (480.0, 960.0), true),
                job(2, 52.52, 13.42, SkillBits::need(0, 1), (480.0, 960.0), true),
                job(3, 52.53, 13.43, SkillBits::need(0, 1), (480.0, 960.0), true),
                job(4, 52.51, 13.44, SkillBits::need(0, 1), (480.0, 960.0), true),
                job(5, 52.52, 13.45, SkillBits::need(0, 1), (480.0, 960.0), true),
            ],
            travel: &tr,
        };
        // Three visits fit the morning, two the afternoon with the pause between them.
        let alone = Problem {
            vehicles: vec![v.clone()],
            jobs: p.jobs.clone(),
            travel: &tr,
        };
        let plan = Planner::new(&alone, 2).run(None, iterations(300));
        check(&alone, &plan).unwrap();
        assert_eq!(plan.routes[0].len(), 5, "{plan:?}");
        let tl = timeline(&alone, &v, plan.routes[0].iter().map(|&j| &alone.jobs[j]));
        assert!(tl.ok);
        assert_eq!(tl.breaks[0], Some(720.0), "the split is where the shift says");
        let lunch = tl.breaks[1].expect("the afternoon pause is taken");
        assert!((900.0..=930.0).contains(&lunch));
        for (k, &j) in plan.routes[0].iter().enumerate() {
            let (a, b) = (tl.starts[k], tl.starts[k] + alone.jobs[j].duration);
            for (at, len) in [(720.0, 120.0), (lunch, 15.0)] {
                assert!(
                    b <= at + 1e-9 || a >= at + len - 1e-9,
                    "visit {a}–{b} overlaps a break at {at}"
                );
            }
        }
        // A visit that must start 11:40–12:10 and lasts an hour cannot be done by someone whose
        // shift breaks at 12:00; the colleague without the break takes it.
        let mut q = Problem {
            vehicles: vec![v.clone()],
            jobs: vec![job(7, 52.5, 13.4, SkillBits::need(0, 1), (700.0, 730.0), true)],
            travel: &tr,
        };
        let plan = Planner::new(&q, 1).run(None, iterations(10));
        assert_eq!(plan.unassigned, vec![(0, Reason::WindowInfeasible)]);
        q.vehicles = p.vehicles.clone();
        let plan = Planner::new(&q, 1).run(None, iterations(10));
        check(&q, &plan).unwrap();
        assert_eq!(plan.routes[1], vec![0]);
    }

    #[test]
    fn a_break_fills_a_wait_before_it_delays_a_visit() {
        let tr = crate::travel::StraightLine::roads(40.0, 52.5);
        let mut v = veh(1, 52.5, 13.4, SkillBits::have(0, 5));
        v.breaks = vec![Break {
            window: (660.0, 780.0),
            minutes: 30.0,
        }];
        let p = Problem {
            vehicles: vec![v.clone()],
            jobs: vec![],
            travel: &tr,
        };
        let at = |lat| job(1, lat, 13.4, SkillBits::need(0, 1), (480.0, 900.0), true);
        // 9:00–11:00, then a visit that cannot start before 12:00: lunch in the wait.
        let a = Job {
            window: (540.0, 540.0),
            duration: 120.0,
            ..at(52.5)
        };
        let b = Job {
            window: (720.0, 800.0),
            ..at(52.5)
        };
        let tl = timeline(&p, &v, [&a, &b]);
        assert!(tl.ok);
        assert_eq!(tl.breaks, vec![Some(660.0)]);
        assert_eq!(tl.starts, vec![540.0, 720.0]);
        // Back to back from 11:00 to 14:00: the break comes before the visit that would end
        // after 13:00, and pushes it.
        let c = Job {
            window: (660.0, 700.0),
            duration: 90.0,
            ..at(52.5)
        };
        let d = Job {
            window: (750.0, 900.0),
            duration: 60.0,
            ..at(52.5)
        };
        let tl = timeline(&p, &v, [&c, &d]);
        assert_eq!(tl.starts, vec![660.0, 780.0]);
        assert_eq!(tl.breaks, vec![Some(750.0)]);
        // A day over before the break window opens needs no break.
        let e = Job {
            window: (480.0, 500.0),
            ..at(52.5)
        };
        let tl = timeline(&p, &v, [&e]);
        assert_eq!(tl.breaks, vec![None]);
    }

    #[test]
    fn deadlines_are_met_first_where_the_day_allows() {
        let tr = crate::travel::StraightLine::roads(40.0, 52.5);
        let v = veh(1, 52.5, 13.4, SkillBits::have(0, 5));
        let near = |id, lat| job(id, lat, 13.4, SkillBits::need(0, 1), (480.0, 1000.0), true);
        // Three visits of an hour on the way out; the far one is due by 9:30.
        let mut jobs = vec![near(1, 52.52), near(2, 52.54), near(3, 52.56)];
        jobs.push(Job {
            deadline: Some(570.0),
            ..near(4, 52.60)
        });
        let p = Problem {
            vehicles: vec![v.clone()],
            jobs: jobs.clone(),
            travel: &tr,
        };
        let plan = Planner::new(&p, 1).run(None, iterations(500));
        check(&p, &plan).unwrap();
        let tl = timeline(&p, &v, plan.routes[0].iter().map(|&j| &p.jobs[j]));
        assert_eq!(plan.routes[0][0], 3, "the order due first goes first: {plan:?}");
        assert_eq!(tl.late, 0.0);
        // Without the deadline the same day goes out in order of distance.
        jobs[3].deadline = None;
        let q = Problem {
            vehicles: vec![v],
            jobs,
            travel: &tr,
        };
        let plan = Planner::new(&q, 1).run(None, iterations(500));
        assert_ne!(plan.routes[0][0], 3, "{plan:?}");
    }

    #[test]
    fn a_re_plan_moves_orders_only_when_that_serves_the_day() {
        let tr = crate::travel::StraightLine::roads(40.0, 52.5);
        let skills = SkillBits::have(0, 5);
        // Two technicians 4 km apart; each job is a little nearer the other one.
        let a = veh(1, 52.50, 13.40, skills);
        let b = veh(2, 52.536, 13.40, skills);
        let job_at = |id, lat, with| Job {
            with: Some(with),
            ..job(id, lat, 13.40, SkillBits::need(0, 1), (480.0, 1000.0), true)
        };
        let jobs = vec![job_at(1, 52.53, 1), job_at(2, 52.51, 2)];
        let p = Problem {
            vehicles: vec![a.clone(), b.clone()],
            jobs: jobs.clone(),
            travel: &tr,
        };
        let current = Plan {
            routes: vec![vec![0], vec![1]],
            unassigned: vec![],
            travel: 0.0,
        };
        let plan = Planner::new(&p, 1).run(Some(&current), iterations(300));
        check(&p, &plan).unwrap();
        assert_eq!(
            plan.routes, current.routes,
            "a few minutes of travel do not move a visit"
        );
        // Without a current technician the nearer one takes each.
        let fresh = Problem {
            jobs: jobs
                .iter()
                .map(|j| Job {
                    with: None,
                    ..j.clone()
                })
                .collect(),
            ..p
        };
        let plan = Planner::new(&fresh, 1).run(None, iterations(300));
        assert_eq!(plan.routes, vec![vec![1], vec![0]]);
        // A day that cannot hold both visits on one route moves one: serving wins.
        let long = |j: &Job| Job {
            duration: 400.0,
            ..j.clone()
        };
        let full = Problem {
            vehicles: vec![a.clone(), b.clone()],
            jobs: vec![
                long(&jobs[0]),
                Job {
                    with: Some(1),
                    ..long(&jobs[1])
                },
            ],
            travel: &tr,
        };
        let both_on_a = Plan {
            routes: vec![vec![0, 1], vec![]],
            unassigned: vec![],
            travel: 0.0,
        };
        let plan = Planner::new(&full, 1).run(Some(&both_on_a), iterations(300));
        check(&full, &plan).unwrap();
        assert!(
            plan.unassigned.is_empty() && plan.routes.iter().all(|r| r.len() == 1),
            "{plan:?}"
        );
        // A current assignment to someone without the skill is not kept.
        let unskilled = Problem {
            vehicles: vec![Vehicle { skills: 0, ..a }, b],
            jobs: jobs.clone(),
            travel: &tr,
        };
        let plan = Planner::new(&unskilled, 1).run(Some(&current), iterations(0));
        check(&unskilled, &plan).unwrap();
        assert_eq!(plan.routes, vec![vec![], vec![0, 1]]);
    }

    #[test]
    fn a_booked_visit_stays_with_its_technician() {
        let tr = crate::travel::StraightLine::roads(40.0, 52.5);
        let skills = SkillBits::have(0, 5);
        let a = veh(1, 52.50, 13.40, skills);
        let b = veh(2, 52.80, 13.40, skills);
        // Booked with the far technician: no saving of travel moves it.
        let booked = Job {
            with: Some(2),
            pinned: true,
            ..job(1, 52.50, 13.40, SkillBits::need(0, 1), (600.0, 720.0), true)
        };
        let p = Problem {
            vehicles: vec![a.clone(), b.clone()],
            jobs: vec![booked.clone()],
            travel: &tr,
        };
        let plan = Planner::new(&p, 1).run(None, iterations(300));
        check(&p, &plan).unwrap();
        assert_eq!(plan.routes, vec![vec![], vec![0]]);
        // When its technician cannot keep the window (their shift is over by then), nobody else
        // takes it: it is left out for the customer to be asked again, with the reason.
        let gone = Problem {
            vehicles: vec![
                a.clone(),
                Vehicle {
                    shift: (480.0, 590.0),
                    ..b.clone()
                },
            ],
            jobs: vec![booked.clone()],
            travel: &tr,
        };
        let plan = Planner::new(&gone, 1).run(None, iterations(300));
        check(&gone, &plan).unwrap();
        assert!(plan.routes.iter().all(Vec::is_empty), "{plan:?}");
        assert_eq!(plan.unassigned, vec![(0, Reason::WindowInfeasible)]);
        // Their technician does not work that day at all: no shift left, not a skill problem.
        let absent = Problem {
            vehicles: vec![a],
            jobs: vec![booked],
            travel: &tr,
        };
        let plan = Planner::new(&absent, 1).run(None, iterations(10));
        assert_eq!(plan.unassigned, vec![(0, Reason::NoShiftLeft)]);
    }

    #[test]
    fn technicians_take_other_stations_orders_only_within_reach() {
        let tr = crate::travel::StraightLine::new(60.0, 1.0, 52.0);
        let skills = SkillBits::have(0, 5);
        // Station 1 in Berlin (one technician, a short shift), station 2 in Leipzig (~150 km).
        let berlin = Vehicle {
            reach_km: 80.0,
            shift: (480.0, 600.0),
            ..veh(1, 52.52, 13.40, skills)
        };
        let leipzig = Vehicle {
            station: 2,
            reach_km: 80.0,
            ..veh(2, 51.34, 12.37, skills)
        };
        // Two Berlin orders, must-serve; Berlin's technician has room for one.
        let order = |id, lon| Job {
            home: Some(1),
            ..job(id, 52.52, lon, SkillBits::need(0, 1), (0.0, 1440.0), true)
        };
        let p = Problem {
            vehicles: vec![berlin.clone(), leipzig.clone()],
            jobs: vec![order(1, 13.41), order(2, 13.42)],
            travel: &tr,
        };
        let plan = Planner::new(&p, 1).run(None, iterations(300));
        check(&p, &plan).unwrap();
        // Leipzig's technician could drive up (the day is long enough) but does not.
        assert!(plan.routes[1].is_empty(), "{plan:?}");
        assert_eq!(plan.routes[0].len(), 1);
        assert_eq!(plan.unassigned.len(), 1);
        assert_eq!(plan.unassigned[0].1, Reason::NoCapacity);
        // Without reach the same day sends them.
        let anywhere = Problem {
            vehicles: vec![
                Vehicle {
                    reach_km: f64::INFINITY,
                    ..berlin.clone()
                },
                Vehicle {
                    reach_km: f64::INFINITY,
                    ..leipzig.clone()
                },
            ],
            jobs: p.jobs.clone(),
            travel: &tr,
        };
        let plan = Planner::new(&anywhere, 1).run(None, iterations(300));
        assert!(plan.unassigned.is_empty() && !plan.routes[1].is_empty(), "{plan:?}");
        // A Leipzig order far from any Leipzig technician is theirs all the same; nobody at all
        // in reach is `out_of_reach`.
        let theirs = Job {
            home: Some(2),
            ..order(3, 13.43)
        };
        let p = Problem {
            vehicles: vec![Vehicle { skills: 0, ..berlin }, leipzig.clone()],
            jobs: vec![
                theirs.clone(),
                Job {
                    home: Some(3),
                    ..theirs
                },
            ],
            travel: &tr,
        };
        let plan = Planner::new(&p, 1).run(None, iterations(50));
        assert_eq!(plan.routes[1], vec![0]);
        assert_eq!(plan.unassigned, vec![(1, Reason::OutOfReach)]);
    }
}
