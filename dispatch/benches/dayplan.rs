//! A day for a region: 10,000 repair orders, 2,000 technicians at 500 stations across
//! Germany, 8:00–17:00 shifts with 7 h of work and half an hour's break starting 11:30–13:00,
//! 12 skills at levels 1–5, 2-hour appointment windows, three orders in four must be served,
//! one in five due by 14:00 (lateness costs). Planned in one budget of 10 s (index building,
//! first plan and improvement together). `cargo bench -p dispatch --bench dayplan [-- SECONDS]`.

use std::collections::BTreeMap;
use std::time::Instant;

use dispatch::candidates::Point;
use dispatch::dayplan::{check, timeline, Break, Job, Plan, Planner, Problem, SkillBits, Vehicle};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn main() {
    let seconds: f64 = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with("--"))
        .and_then(|a| a.parse().ok())
        .unwrap_or(10.0);
    let mut rng = StdRng::seed_from_u64(8);
    let point = |rng: &mut StdRng| Point {
        lat: rng.gen_range(47.5..54.8),
        lon: rng.gen_range(6.0..14.8),
    };
    let stations: Vec<Point> = (0..500).map(|_| point(&mut rng)).collect();
    let vehicles: Vec<Vehicle> = (0..2000)
        .map(|i| {
            let home = stations[i % 500];
            let mut skills = 0;
            for _ in 0..3 {
                skills |= SkillBits::have(rng.gen_range(0..12), rng.gen_range(1..=5));
            }
            Vehicle {
                id: i as i64,
                start: home,
                end: home,
                shift: (480.0, 1020.0),
                max_work: 420.0,
                skills,
                station: (i % 500) as i64,
                // Half an hour for lunch, starting between 11:30 and 13:00.
                breaks: vec![Break {
                    window: (690.0, 780.0),
                    minutes: 30.0,
                }],
                reach_km: f64::INFINITY,
            }
        })
        .collect();
    // Orders cluster around stations (customers live where the stations are).
    let jobs: Vec<Job> = (0..10_000)
        .map(|i| {
            let s = stations[rng.gen_range(0..500)];
            let from = 480.0 + 120.0 * rng.gen_range(0..4) as f64;
            Job {
                id: i as i64,
                at: Point {
                    lat: s.lat + rng.gen_range(-0.25..0.25),
                    lon: s.lon + rng.gen_range(-0.35..0.35),
                },
                duration: rng.gen_range(30.0..120.0),
                window: (from, from + 120.0),
                skills: SkillBits::need(rng.gen_range(0..12), rng.gen_range(1..=3)),
                must: i % 4 != 0,
                stations: vec![],
                with: None,
                pinned: false,
                home: None,
                // One order in five is due by 14:00 (its SLA runs out today).
                deadline: (i % 5 == 0).then_some(840.0),
            }
        })
        .collect();
    let travel = dispatch::travel::StraightLine::roads(50.0, 51.0);
    let p = Problem {
        vehicles,
        jobs,
        travel: &travel,
    };
    let (plan, built, first, total, iterations) = solve(&p, seconds);
    check(&p, &plan).expect("a valid plan");
    let served: usize = plan.routes.iter().map(Vec::len).sum();
    let must_total = p.jobs.iter().filter(|j| j.must).count();
    let must_out = plan.unassigned.iter().filter(|(j, _)| p.jobs[*j].must).count();
    let mut reasons: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, r) in &plan.unassigned {
        *reasons.entry(r.as_str()).or_default() += 1;
    }
    println!(
        "index and neighbour lists: {built:.2} s; first complete plan after {:.2} s",
        first
    );
    println!("planned in {total:.2} s (budget {seconds} s)");
    println!(
        "served {served} of {} orders ({} of {must_total} must-serve); routes used {}; travel {:.0} h",
        p.jobs.len(),
        must_total - must_out,
        plan.routes.iter().filter(|r| !r.is_empty()).count(),
        plan.travel / 60.0
    );
    println!("left out, by reason: {reasons:?}");
    let (mut due, mut late, mut late_minutes) = (0, 0, 0.0);
    for (v, r) in plan.routes.iter().enumerate() {
        let tl = timeline(&p, &p.vehicles[v], r.iter().map(|&j| &p.jobs[j]));
        for (k, &j) in r.iter().enumerate() {
            if let Some(dl) = p.jobs[j].deadline {
                due += 1;
                let over = tl.starts[k] + p.jobs[j].duration - dl;
                if over > 0.0 {
                    late += 1;
                    late_minutes += over;
                }
            }
        }
    }
    println!(
        "served orders due by 14:00: {due}, of which late {late} ({late_minutes:.0} min); {iterations} iterations"
    );
    // Reference, same process: the same day without breaks or deadlines.
    let plain = Problem {
        vehicles: p
            .vehicles
            .iter()
            .map(|v| Vehicle {
                breaks: vec![],
                ..v.clone()
            })
            .collect(),
        jobs: p
            .jobs
            .iter()
            .map(|j| Job {
                deadline: None,
                ..j.clone()
            })
            .collect(),
        travel: &travel,
    };
    let (reference, _, _, _, ref_iterations) = solve(&plain, seconds);
    check(&plain, &reference).expect("a valid plan");
    let ref_served: usize = reference.routes.iter().map(Vec::len).sum();
    println!(
        "reference without breaks or deadlines: served {ref_served}, {ref_iterations} iterations; \
         served ratio {:.3}, iterations ratio {:.2}",
        served as f64 / ref_served as f64,
        iterations as f64 / ref_iterations.max(1) as f64
    );
}

/// Plan within `seconds` (index, first plan and improvement): the plan, seconds to build the
/// index, to the first plan and in all, and the iterations run.
fn solve(p: &Problem, seconds: f64) -> (Plan, f64, f64, f64, u64) {
    let started = Instant::now();
    let mut planner = Planner::new(p, 1);
    let built = started.elapsed().as_secs_f64();
    let mut first = 0.0;
    let mut done = 0.0;
    let mut iterations = 0;
    let plan = planner.run(None, |i| {
        iterations = i;
        if i == 0 {
            first = started.elapsed().as_secs_f64();
        }
        if i % 16 == 0 {
            done = started.elapsed().as_secs_f64() / seconds;
        }
        (done < 1.0).then_some(done)
    });
    (plan, built, first, started.elapsed().as_secs_f64(), iterations)
}
