//! Ruin and recreate with string removals (Christiaens & Vanden Berghe, "Slack Induction by
//! String Removals", Transportation Science 2020), accepted by simulated annealing.
//!
//! Each iteration removes a few strings of consecutive customers from routes near a random seed
//! customer, puts every removed customer back at its cheapest feasible place (skipping a place
//! now and then: "blinks"), and keeps the result by the annealing rule. Feasibility of an
//! insertion is O(1) from each route's earliest start and latest feasible start per position.
//!
//! No clock inside: the caller's `progress` closure says how far through its budget the search
//! is (0 → 1), or stops it. The same seed, instance and iteration budget give the same answer.

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use super::{Instance, Solution};

#[derive(Debug, Clone, Copy)]
pub struct Params {
    pub seed: u64,
    /// Customers removed per iteration, on average.
    pub avg_removed: f64,
    /// Longest string removed from one route.
    pub max_string: f64,
    /// Annealing temperature at the start and at the end.
    pub t_start: f64,
    pub t_end: f64,
    /// Chance to skip a feasible insertion place.
    pub blink: f64,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            seed: 1,
            avg_removed: 10.0,
            max_string: 10.0,
            t_start: 100.0,
            t_end: 1.0,
            blink: 0.01,
        }
    }
}

/// An unserved customer costs this much more than any route could.
const UNASSIGNED: f64 = 1e6;

#[derive(Debug, Clone)]
struct Route {
    /// Depot, customers, depot.
    seq: Vec<usize>,
    load: u32,
    /// Earliest service start at each position.
    start: Vec<f64>,
    /// Latest service start at each position that keeps the rest of the route feasible.
    latest: Vec<f64>,
    dist: f64,
}

impl Route {
    fn new() -> Route {
        Route {
            seq: vec![0, 0],
            load: 0,
            start: vec![],
            latest: vec![],
            dist: 0.0,
        }
    }

    fn customers(&self) -> &[usize] {
        &self.seq[1..self.seq.len() - 1]
    }

    fn len(&self) -> usize {
        self.seq.len() - 2
    }

    fn refresh(&mut self, inst: &Instance) {
        let n = self.seq.len();
        self.start.resize(n, 0.0);
        self.latest.resize(n, 0.0);
        self.load = 0;
        self.dist = 0.0;
        self.start[0] = inst.sites[0].ready;
        for k in 1..n {
            let (a, b) = (self.seq[k - 1], self.seq[k]);
            let arrive = self.start[k - 1] + inst.sites[a].service + inst.d(a, b);
            self.start[k] = arrive.max(inst.sites[b].ready);
            self.dist += inst.d(a, b);
            self.load += inst.sites[b].demand;
        }
        self.latest[n - 1] = inst.sites[0].due;
        for k in (0..n - 1).rev() {
            let (a, b) = (self.seq[k], self.seq[k + 1]);
            let due = if k == 0 { inst.sites[0].due } else { inst.sites[a].due };
            self.latest[k] = due.min(self.latest[k + 1] - inst.sites[a].service - inst.d(a, b));
        }
    }

    /// Cost of inserting `u` after position `p`, if feasible.
    #[inline]
    fn insertion(&self, inst: &Instance, u: usize, p: usize) -> Option<f64> {
        let (a, b) = (self.seq[p], self.seq[p + 1]);
        let su = &inst.sites[u];
        let arrive = (self.start[p] + inst.sites[a].service + inst.d(a, u)).max(su.ready);
        if arrive > su.due {
            return None;
        }
        let next = (arrive + su.service + inst.d(u, b)).max(inst.sites[b].ready);
        if next > self.latest[p + 1] {
            return None;
        }
        Some(inst.d(a, u) + inst.d(u, b) - inst.d(a, b))
    }
}

#[derive(Debug, Clone)]
struct State {
    routes: Vec<Route>,
    unassigned: Vec<usize>,
}

impl State {
    fn cost(&self) -> f64 {
        self.routes.iter().map(|r| r.dist).sum::<f64>() + UNASSIGNED * self.unassigned.len() as f64
    }

    fn solution(&self) -> Solution {
        Solution {
            routes: self
                .routes
                .iter()
                .filter(|r| r.len() > 0)
                .map(|r| r.customers().to_vec())
                .collect(),
            unassigned: {
                let mut u = self.unassigned.clone();
                u.sort_unstable();
                u
            },
        }
    }
}

pub struct Solver<'a> {
    inst: &'a Instance,
    p: Params,
    rng: StdRng,
    /// Customers by distance from each customer (itself first).
    near: Vec<Vec<usize>>,
}

/// What a run did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RunStats {
    pub iterations: u64,
    pub improvements: u64,
}

impl<'a> Solver<'a> {
    pub fn new(inst: &'a Instance, p: Params) -> Solver<'a> {
        let n = inst.customers();
        let mut near = vec![vec![]; n + 1];
        for (c, list) in near.iter_mut().enumerate().skip(1) {
            let mut others: Vec<usize> = (1..=n).collect();
            others.sort_by(|&a, &b| inst.d(c, a).total_cmp(&inst.d(c, b)).then(a.cmp(&b)));
            *list = others;
        }
        Solver {
            inst,
            rng: StdRng::seed_from_u64(p.seed),
            p,
            near,
        }
    }

    /// Search until `progress(iteration)` returns `None`; it returns the share of the budget
    /// used so far (0 to 1), which sets the temperature.
    pub fn run(&mut self, mut progress: impl FnMut(u64) -> Option<f64>) -> (Solution, RunStats) {
        let mut current = State {
            routes: vec![],
            unassigned: vec![],
        };
        let mut all: Vec<usize> = (1..=self.inst.customers()).collect();
        all.shuffle(&mut self.rng);
        self.recreate(&mut current, all);
        let mut best = current.clone();
        let (mut best_cost, mut current_cost) = (best.cost(), current.cost());
        let mut stats = RunStats {
            iterations: 0,
            improvements: 0,
        };
        while let Some(done) = progress(stats.iterations) {
            stats.iterations += 1;
            let t = self.p.t_start * (self.p.t_end / self.p.t_start).powf(done.clamp(0.0, 1.0));
            let mut cand = current.clone();
            let removed = self.ruin(&mut cand);
            self.recreate(&mut cand, removed);
            let cost = cand.cost();
            let threshold = current_cost - t * self.rng.gen::<f64>().max(1e-300).ln();
            if cost < threshold {
                current = cand;
                current_cost = cost;
                if cost < best_cost - 1e-9 {
                    best_cost = cost;
                    best = current.clone();
                    stats.improvements += 1;
                }
            }
        }
        (best.solution(), stats)
    }

    fn ruin(&mut self, s: &mut State) -> Vec<usize> {
        let used: Vec<usize> = (0..s.routes.len()).filter(|&r| s.routes[r].len() > 0).collect();
        if used.is_empty() {
            return vec![];
        }
        let avg_len = used.iter().map(|&r| s.routes[r].len()).sum::<usize>() as f64 / used.len() as f64;
        let ls_max = self.p.max_string.min(avg_len);
        let ks_max = 4.0 * self.p.avg_removed / (1.0 + ls_max) - 1.0;
        let ks = (self.rng.gen_range(1.0..ks_max.max(1.0) + 1.0)).floor() as usize;
        // Where each customer is.
        let n = self.inst.customers();
        let mut route_of = vec![usize::MAX; n + 1];
        for &r in &used {
            for &c in s.routes[r].customers() {
                route_of[c] = r;
            }
        }
        // A random served customer.
        let seed = {
            let cs = s.routes[used[self.rng.gen_range(0..used.len())]].customers();
            cs[self.rng.gen_range(0..cs.len())]
        };
        let mut removed = vec![];
        let mut ruined: Vec<usize> = vec![];
        for i in 0..self.near[seed].len() {
            if ruined.len() >= ks {
                break;
            }
            let c = self.near[seed][i];
            let r = route_of[c];
            if r == usize::MAX || ruined.contains(&r) {
                continue;
            }
            let route = &mut s.routes[r];
            let len = route.len();
            let l_max = (len as f64).min(ls_max);
            let l = (self.rng.gen_range(1.0..l_max + 1.0)).floor() as usize;
            let l = l.clamp(1, len);
            // Position of c among the customers (0-based).
            let pos = route.customers().iter().position(|&x| x == c).expect("in its route");
            if l == len || self.rng.gen_bool(0.5) {
                // A string of l customers containing c.
                let lo = pos.saturating_sub(l - 1);
                let hi = pos.min(len - l);
                let from = self.rng.gen_range(lo..=hi);
                let taken: Vec<usize> = route.seq.drain(1 + from..1 + from + l).collect();
                removed.extend(taken);
            } else {
                // A longer string, of which m consecutive customers stay.
                let mut m = 1;
                while m < len - l && self.rng.gen::<f64>() >= 0.01 {
                    m += 1;
                }
                let total = l + m;
                let lo = pos.saturating_sub(total - 1);
                let hi = pos.min(len - total);
                let from = self.rng.gen_range(lo..=hi);
                let keep_at = self.rng.gen_range(0..=l);
                let window: Vec<usize> = route.seq[1 + from..1 + from + total].to_vec();
                let kept: Vec<usize> = window[keep_at..keep_at + m].to_vec();
                let taken: Vec<usize> = window[..keep_at]
                    .iter()
                    .chain(&window[keep_at + m..])
                    .copied()
                    .collect();
                route.seq.splice(1 + from..1 + from + total, kept);
                removed.extend(taken);
            }
            for &x in &removed {
                route_of[x] = usize::MAX;
            }
            route.refresh(self.inst);
            ruined.push(r);
        }
        s.routes.retain(|r| r.len() > 0);
        removed
    }

    fn recreate(&mut self, s: &mut State, mut removed: Vec<usize>) {
        removed.append(&mut s.unassigned);
        let inst = self.inst;
        removed.shuffle(&mut self.rng);
        match self.rng.gen_range(0..11) {
            0..=3 => {}
            4..=7 => removed.sort_by(|a, b| inst.sites[*b].demand.cmp(&inst.sites[*a].demand)),
            8..=9 => removed.sort_by(|a, b| inst.d(0, *b).total_cmp(&inst.d(0, *a))),
            _ => removed.sort_by(|a, b| inst.d(0, *a).total_cmp(&inst.d(0, *b))),
        }
        for u in removed {
            let demand = inst.sites[u].demand;
            let mut best: Option<(f64, usize, usize)> = None;
            for (ri, r) in s.routes.iter().enumerate() {
                if r.load + demand > inst.capacity {
                    continue;
                }
                for p in 0..r.seq.len() - 1 {
                    if self.rng.gen::<f64>() < self.p.blink {
                        continue;
                    }
                    if let Some(delta) = r.insertion(inst, u, p) {
                        if best.is_none_or(|(b, _, _)| delta < b) {
                            best = Some((delta, ri, p));
                        }
                    }
                }
            }
            match best {
                Some((_, ri, p)) => {
                    let r = &mut s.routes[ri];
                    r.seq.insert(p + 1, u);
                    r.refresh(inst);
                }
                None if s.routes.len() < inst.vehicles => {
                    let mut r = Route::new();
                    r.seq.insert(1, u);
                    r.refresh(inst);
                    if r.latest[1] >= r.start[1] && r.load <= inst.capacity {
                        s.routes.push(r);
                    } else {
                        // Not even alone in a vehicle.
                        s.unassigned.push(u);
                    }
                }
                None => s.unassigned.push(u),
            }
        }
    }
}

/// Solve with the default parameters for `iterations` iterations.
pub fn solve_iterations(inst: &Instance, seed: u64, iterations: u64) -> Solution {
    let mut solver = Solver::new(
        inst,
        Params {
            seed,
            ..Params::default()
        },
    );
    let (s, _) = solver.run(|i| (i < iterations).then(|| i as f64 / iterations as f64));
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vrptw::{check, solomon};

    fn instance(name: &str) -> Instance {
        let path = format!("{}/../../shared/bench/solomon/{name}.txt", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        solomon::parse(&text).unwrap()
    }

    #[test]
    fn solutions_are_valid_and_the_same_for_the_same_seed() {
        for name in ["C101", "R101", "RC201"] {
            let inst = instance(name);
            let a = solve_iterations(&inst, 7, 3000);
            check(&inst, &a).unwrap_or_else(|v| panic!("{name}: {v:?}"));
            assert!(a.unassigned.is_empty(), "{name}: everyone served");
            let b = solve_iterations(&inst, 7, 3000);
            assert_eq!(a, b, "{name}: deterministic");
        }
    }

    #[test]
    fn the_clustered_instance_reaches_its_best_known_distance() {
        // C101's best known distance is 828.94 with 10 vehicles.
        let inst = instance("C101");
        let s = solve_iterations(&inst, 1, 20_000);
        let d = s.distance(&inst);
        assert!(d < 828.94 * 1.005, "{d}");
        assert!(d > 828.9, "not below the optimum: {d}");
    }
}
