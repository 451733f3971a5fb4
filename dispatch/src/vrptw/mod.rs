//! Vehicle routing with time windows, as a core without IO or clock: an [`Instance`] (depot,
//! customers with demand, window and service time, a fleet with one capacity), a [`Solution`]
//! (routes of customer indices), an independent [`check`], and the solver in [`sisr`]
//! (ruin and recreate with string removals and simulated annealing).
//!
//! The conventions are Solomon's: travel time equals Euclidean distance; service must start
//! within the customer's window (arriving early means waiting); every route leaves the depot
//! at or after its ready time and is back before its due time; cost is total distance.

pub mod sisr;
pub mod solomon;

/// A customer (index ≥ 1) or the depot (index 0).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Site {
    pub x: f64,
    pub y: f64,
    pub demand: u32,
    pub ready: f64,
    pub due: f64,
    pub service: f64,
}

#[derive(Debug, Clone)]
pub struct Instance {
    pub name: String,
    /// `sites[0]` is the depot.
    pub sites: Vec<Site>,
    pub vehicles: usize,
    pub capacity: u32,
    /// Row-major (n+1)×(n+1) travel times (= distances).
    dist: Vec<f64>,
}

impl Instance {
    pub fn new(name: &str, sites: Vec<Site>, vehicles: usize, capacity: u32) -> Instance {
        let n = sites.len();
        let mut dist = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..n {
                dist[i * n + j] = ((sites[i].x - sites[j].x).powi(2) + (sites[i].y - sites[j].y).powi(2)).sqrt();
            }
        }
        Instance {
            name: name.to_string(),
            sites,
            vehicles,
            capacity,
            dist,
        }
    }

    /// Customers are 1..=customers().
    pub fn customers(&self) -> usize {
        self.sites.len() - 1
    }

    #[inline]
    pub fn d(&self, i: usize, j: usize) -> f64 {
        self.dist[i * self.sites.len() + j]
    }
}

/// Routes of customer indices (the depot at both ends is implied).
#[derive(Debug, Clone, PartialEq)]
pub struct Solution {
    pub routes: Vec<Vec<usize>>,
    /// Customers no route could take.
    pub unassigned: Vec<usize>,
}

impl Solution {
    pub fn distance(&self, inst: &Instance) -> f64 {
        self.routes.iter().map(|r| route_distance(inst, r)).sum()
    }

    pub fn vehicles(&self) -> usize {
        self.routes.iter().filter(|r| !r.is_empty()).count()
    }
}

pub fn route_distance(inst: &Instance, r: &[usize]) -> f64 {
    let mut prev = 0;
    let mut total = 0.0;
    for &c in r {
        total += inst.d(prev, c);
        prev = c;
    }
    total + inst.d(prev, 0)
}

/// Why a solution is not valid.
#[derive(Debug, Clone, PartialEq)]
pub enum Violation {
    Missing(usize),
    Twice(usize),
    UnknownCustomer(usize),
    TooManyVehicles(usize),
    Capacity { route: usize, load: u32 },
    Late { route: usize, customer: usize, start: f64 },
    DepotLate { route: usize, back: f64 },
}

/// Check a solution against the instance, independently of the solver: every customer served
/// exactly once (unless listed unassigned), capacity, windows, the depot's closing time, fleet size.
pub fn check(inst: &Instance, s: &Solution) -> Result<(), Violation> {
    const EPS: f64 = 1e-6;
    let n = inst.customers();
    let mut seen = vec![false; n + 1];
    for &c in s.routes.iter().flatten().chain(&s.unassigned) {
        if c == 0 || c > n {
            return Err(Violation::UnknownCustomer(c));
        }
        if seen[c] {
            return Err(Violation::Twice(c));
        }
        seen[c] = true;
    }
    if let Some(c) = (1..=n).find(|&c| !seen[c]) {
        return Err(Violation::Missing(c));
    }
    if s.vehicles() > inst.vehicles {
        return Err(Violation::TooManyVehicles(s.vehicles()));
    }
    for (ri, r) in s.routes.iter().enumerate() {
        let load: u32 = r.iter().map(|&c| inst.sites[c].demand).sum();
        if load > inst.capacity {
            return Err(Violation::Capacity { route: ri, load });
        }
        let mut t = inst.sites[0].ready;
        let mut prev = 0;
        for &c in r {
            let site = &inst.sites[c];
            t = (t + inst.sites[prev].service + inst.d(prev, c)).max(site.ready);
            if t > site.due + EPS {
                return Err(Violation::Late {
                    route: ri,
                    customer: c,
                    start: t,
                });
            }
            prev = c;
        }
        let back = t + inst.sites[prev].service + inst.d(prev, 0);
        if !r.is_empty() && back > inst.sites[0].due + EPS {
            return Err(Violation::DepotLate { route: ri, back });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> Instance {
        let site = |x: f64, y: f64, demand, ready, due| Site {
            x,
            y,
            demand,
            ready,
            due,
            service: 1.0,
        };
        Instance::new(
            "tiny",
            vec![
                Site {
                    service: 0.0,
                    ..site(0.0, 0.0, 0, 0.0, 100.0)
                },
                site(3.0, 4.0, 5, 0.0, 10.0),
                site(6.0, 8.0, 5, 20.0, 30.0),
                site(-3.0, -4.0, 8, 0.0, 50.0),
            ],
            2,
            10,
        )
    }

    #[test]
    fn the_checker_finds_each_kind_of_mistake() {
        let inst = tiny();
        let ok = Solution {
            routes: vec![vec![1, 2], vec![3]],
            unassigned: vec![],
        };
        assert_eq!(check(&inst, &ok), Ok(()));
        // 5 + 5 + 10 there and back, plus 5 + 5 to customer 3.
        assert!((ok.distance(&inst) - 30.0).abs() < 1e-9);
        let bad = |routes: Vec<Vec<usize>>| {
            check(
                &inst,
                &Solution {
                    routes,
                    unassigned: vec![],
                },
            )
        };
        assert_eq!(bad(vec![vec![1, 2]]), Err(Violation::Missing(3)));
        assert_eq!(bad(vec![vec![1, 2], vec![3, 1]]), Err(Violation::Twice(1)));
        assert_eq!(
            bad(vec![vec![1, 2, 3]]),
            Err(Violation::Capacity { route: 0, load: 18 })
        );
        assert!(matches!(
            bad(vec![vec![2, 1], vec![3]]),
            Err(Violation::Late { customer: 1, .. })
        ));
        assert_eq!(bad(vec![vec![1], vec![2], vec![3]]), Err(Violation::TooManyVehicles(3)));
        assert_eq!(bad(vec![vec![1, 9], vec![3]]), Err(Violation::UnknownCustomer(9)));
    }
}
