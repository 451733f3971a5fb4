//! The route planner on the 56 Solomon VRPTW instances (`../shared/bench/solomon`), one thread,
//! a fixed time per instance; the gap is to the best known pure-distance cost (`NAME_distance`
//! in BKS.json). `cargo bench -p dispatch --bench solomon [-- SECONDS [SEED]]` (default 1 s, seed 1).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use dispatch::vrptw::{check, sisr, solomon};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let seconds: f64 = args.first().and_then(|a| a.parse().ok()).unwrap_or(1.0);
    let seed: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(1);
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/bench/solomon");
    let bks: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("BKS.json")).expect("BKS.json")).expect("json");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("solomon dir")
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.strip_suffix(".txt").map(str::to_string))
        .collect();
    names.sort();
    let mut classes: BTreeMap<String, Vec<(f64, usize, usize)>> = BTreeMap::new();
    println!("instance  distance   best known  gap %   vehicles (bks)  iterations");
    for name in &names {
        let inst = solomon::parse(&std::fs::read_to_string(dir.join(format!("{name}.txt"))).unwrap()).unwrap();
        let best = bks[format!("{name}_distance")]["best_known_cost"]
            .as_f64()
            .expect("bks");
        let best_vehicles = bks[format!("{name}_distance")]["solved_with_vehicles"]
            .as_u64()
            .unwrap_or(0) as usize;
        let budget = Duration::from_secs_f64(seconds);
        let started = Instant::now();
        let mut solver = sisr::Solver::new(
            &inst,
            sisr::Params {
                seed,
                ..Default::default()
            },
        );
        let mut done = 0.0;
        let (s, stats) = solver.run(|i| {
            if i % 64 == 0 {
                done = started.elapsed().as_secs_f64() / budget.as_secs_f64();
            }
            (done < 1.0).then_some(done)
        });
        check(&inst, &s).unwrap_or_else(|v| panic!("{name}: invalid: {v:?}"));
        assert!(s.unassigned.is_empty(), "{name}: unassigned customers");
        let d = s.distance(&inst);
        let gap = (d / best - 1.0) * 100.0;
        println!(
            "{name:<8} {d:>9.2} {best:>12.2} {gap:>6.2}   {:>3} ({best_vehicles:>2})      {}",
            s.vehicles(),
            stats.iterations
        );
        let class: String = name.trim_end_matches(|c: char| c.is_ascii_digit()).to_string();
        let group = format!("{class}{}", &name[class.len()..class.len() + 1]);
        classes
            .entry(group)
            .or_default()
            .push((gap, s.vehicles(), best_vehicles));
    }
    println!("\nclass  instances  mean gap %  max gap %");
    let mut all = vec![];
    for (class, gaps) in &classes {
        let mean = gaps.iter().map(|g| g.0).sum::<f64>() / gaps.len() as f64;
        let max = gaps.iter().map(|g| g.0).fold(f64::MIN, f64::max);
        println!("{class:<6} {:>9} {mean:>11.2} {max:>10.2}", gaps.len());
        all.extend(gaps.iter().map(|g| g.0));
    }
    let mean = all.iter().sum::<f64>() / all.len() as f64;
    println!("all    {:>9} {mean:>11.2}", all.len());
    println!(
        "goal: mean gap ≤ 1.5 % at {seconds} s per instance: {}",
        if mean <= 1.5 { "met" } else { "NOT met" }
    );
}
