//! Routing decisions under load: 10,000 callers waiting in 50 queues over 50 skills, 5,000
//! agents (three skills each, levels 1–5) all busy. One decision = an agent's call ends and the
//! core picks the best waiting caller it can serve and offers it (`CallerHungUp` → `Offer`);
//! a new caller then arrives so the queues stay full. A second series measures a caller's
//! arrival while agents are free (the agent search). Percentiles printed after divan's table.

use std::time::Instant;

use acd::{Acd, Action, Input, QueueConfig, Strategy, Want};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const SKILLS: usize = 50;
const AGENTS: u32 = 5_000;
const WAITING: u64 = 10_000;

struct World {
    acd: Acd,
    rng: StdRng,
    next_caller: u64,
    /// Caller on each agent's line.
    lines: Vec<Option<u64>>,
    now: u64,
}

fn skill(i: usize) -> String {
    format!("skill{i}")
}

fn world(strategy: Strategy) -> World {
    let mut queues = vec![];
    for q in 0..SKILLS {
        let mut cfg = QueueConfig::new(&format!("q{q}"), &[(&skill(q), 1 + (q % 3) as u8)]);
        cfg.strategy = strategy;
        queues.push(cfg);
    }
    let mut w = World {
        acd: Acd::new(queues).unwrap(),
        rng: StdRng::seed_from_u64(7),
        next_caller: 0,
        lines: vec![None; AGENTS as usize],
        now: 0,
    };
    for a in 0..AGENTS {
        let skills = (0..3)
            .map(|k| (skill((a as usize * 7 + k * 13) % SKILLS), w.rng.gen_range(1..=5)))
            .collect();
        w.acd.handle(0, Input::AgentLogin { agent: a, skills });
        w.acd.handle(
            0,
            Input::AgentWants {
                agent: a,
                want: Want::Available,
            },
        );
    }
    // Callers arrive until 10,000 wait beyond those connected (agents whose levels no queue
    // accepts stay idle).
    while (w.acd.callers() - w.lines.iter().filter(|l| l.is_some()).count()) < WAITING as usize {
        w.arrive();
    }
    w
}

impl World {
    fn arrive(&mut self) -> Vec<Action> {
        self.now += 1;
        let caller = self.next_caller;
        self.next_caller += 1;
        let q = self.rng.gen_range(0..SKILLS);
        let out = self.acd.handle(
            self.now,
            Input::CallerArrived {
                caller,
                queue: format!("q{q}"),
                priority: self.rng.gen_range(0..3),
                skills: vec![],
            },
        );
        self.answer(&out);
        out
    }

    fn answer(&mut self, out: &[Action]) {
        for a in out {
            if let Action::Offer { caller, agent } = a {
                self.acd.handle(
                    self.now,
                    Input::Answered {
                        agent: *agent,
                        caller: *caller,
                    },
                );
                self.lines[*agent as usize] = Some(*caller);
            }
        }
    }

    /// One routing decision: a random busy agent's call ends.
    fn decision(&mut self) -> (std::time::Duration, bool) {
        self.now += 1;
        let agent = loop {
            let a = self.rng.gen_range(0..AGENTS) as usize;
            if self.lines[a].is_some() {
                break a;
            }
        };
        let caller = self.lines[agent].take().unwrap();
        let t = Instant::now();
        let out = self.acd.handle(self.now, Input::CallerHungUp { caller });
        let took = t.elapsed();
        let offered = out.iter().any(|a| matches!(a, Action::Offer { .. }));
        self.answer(&out);
        (took, offered)
    }
}

#[divan::bench(sample_count = 2000)]
fn agent_frees_with_10k_waiting(bencher: divan::Bencher) {
    let mut w = world(Strategy::LongestIdle);
    bencher.bench_local(move || {
        let r = w.decision();
        w.arrive();
        r
    });
}

fn percentiles(name: &str, mut v: Vec<f64>) {
    v.sort_by(f64::total_cmp);
    let p = |q: f64| v[((v.len() as f64 * q) as usize).min(v.len() - 1)];
    println!(
        "{name}: n={} p50 {:.1} µs, p90 {:.1} µs, p99 {:.1} µs, max {:.1} µs",
        v.len(),
        p(0.5),
        p(0.9),
        p(0.99),
        v[v.len() - 1]
    );
}

fn main() {
    divan::main();
    for strategy in [
        Strategy::LongestIdle,
        Strategy::RoundRobin,
        Strategy::LeastTalkTime,
        Strategy::FewestCalls,
    ] {
        let mut w = world(strategy);
        let waiting = w.acd.callers() - w.lines.iter().filter(|l| l.is_some()).count();
        let mut times = vec![];
        let mut offered = 0;
        for _ in 0..20_000 {
            let (t, o) = w.decision();
            offered += o as u32;
            times.push(t.as_secs_f64() * 1e6);
            w.arrive();
        }
        println!("{strategy:?}: {waiting} waiting, {AGENTS} agents, {SKILLS} skills, {offered} of 20000 decisions offered a caller");
        percentiles("  decision (agent frees → offer)", times);
    }
    // Agent search: callers arrive while agents are free.
    let mut w = world(Strategy::LongestIdle);
    let mut times = vec![];
    for _ in 0..5_000 {
        // Free one agent without a waiting caller to take it: log a fresh agent in.
        let id = AGENTS + times.len() as u32;
        w.acd.handle(
            w.now,
            Input::AgentLogin {
                agent: id,
                skills: vec![(skill(id as usize % SKILLS), 5)],
            },
        );
        w.acd.handle(
            w.now,
            Input::AgentWants {
                agent: id,
                want: Want::Available,
            },
        );
        let t = Instant::now();
        let out = w.arrive();
        times.push(t.elapsed().as_secs_f64() * 1e6);
        let _ = out;
    }
    percentiles("caller arrives (agent search, queue insert)", times);
}
