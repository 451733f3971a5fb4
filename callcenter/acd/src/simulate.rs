//! A staffing simulator: Poisson arrivals and exponential handle times run through the real
//! ACD core in virtual time (agents answer at once, no abandonment, no wrap-up), so its
//! figures can be checked against Erlang C.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use crate::core::{Acd, Action, Input, Ms, QueueConfig, Want};

#[derive(Debug, Clone, Copy)]
pub struct Params {
    pub arrivals_per_hour: f64,
    pub aht_seconds: f64,
    pub agents: u32,
    pub calls: u64,
    pub seed: u64,
    pub sl_seconds: f64,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Report {
    pub p_wait: f64,
    pub asa_seconds: f64,
    pub service_level: f64,
    pub occupancy: f64,
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Ev {
    /// Ordered before arrivals at the same instant: a freed agent is free for them.
    End(u64),
    Arrive(u64),
}

/// Exponential variate with this mean, in microseconds (kept integral for the event order).
fn exp_us(rng: &mut StdRng, mean_s: f64) -> u64 {
    let u: f64 = rng.gen_range(f64::EPSILON..1.0);
    (-u.ln() * mean_s * 1e6) as u64
}

pub fn run(p: Params) -> Result<Report, String> {
    if p.arrivals_per_hour <= 0.0 || p.aht_seconds <= 0.0 || p.agents == 0 || p.calls == 0 {
        return Err("arrivals, handle time, agents and calls must be positive".into());
    }
    let mut q = QueueConfig::new("sim", &[]);
    q.sl_threshold_ms = (p.sl_seconds * 1000.0) as Ms;
    // The core counts in milliseconds; the simulation runs in microseconds and hands the core
    // milliseconds, which only rounds waits below 1 ms.
    let mut acd = Acd::new(vec![q])?;
    for a in 0..p.agents {
        acd.handle(
            0,
            Input::AgentLogin {
                agent: a,
                skills: vec![],
            },
        );
        acd.handle(
            0,
            Input::AgentWants {
                agent: a,
                want: Want::Available,
            },
        );
    }
    let mut rng = StdRng::seed_from_u64(p.seed);
    let mean_gap = 3600.0 / p.arrivals_per_hour;
    let mut events: BinaryHeap<Reverse<(u64, Ev)>> = BinaryHeap::new();
    events.push(Reverse((exp_us(&mut rng, mean_gap), Ev::Arrive(0))));
    let mut busy_us: u64 = 0;
    let mut waits_us: u64 = 0;
    let mut waited = 0u64;
    let mut within = 0u64;
    let mut answered = 0u64;
    let mut arrived_at = vec![0u64; p.calls as usize];
    let mut last = 0u64;
    let sl_us = (p.sl_seconds * 1e6) as u64;
    while let Some(Reverse((t, ev))) = events.pop() {
        last = t;
        let now = t / 1000;
        let actions = match ev {
            Ev::Arrive(i) => {
                arrived_at[i as usize] = t;
                if i + 1 < p.calls {
                    events.push(Reverse((t + exp_us(&mut rng, mean_gap), Ev::Arrive(i + 1))));
                }
                acd.handle(
                    now,
                    Input::CallerArrived {
                        caller: i,
                        queue: "sim".into(),
                        priority: 0,
                        skills: vec![],
                    },
                )
            }
            Ev::End(i) => acd.handle(now, Input::CallerHungUp { caller: i }),
        };
        // Offers are answered at once; an answered call ends after its handle time.
        let mut pending = actions;
        while let Some(a) = pending.pop() {
            if let Action::Offer { caller, agent } = a {
                let wait = t - arrived_at[caller as usize];
                waits_us += wait;
                answered += 1;
                if wait > 0 {
                    waited += 1;
                }
                if wait <= sl_us {
                    within += 1;
                }
                let handle = exp_us(&mut rng, p.aht_seconds);
                busy_us += handle;
                events.push(Reverse((t + handle, Ev::End(caller))));
                pending.extend(acd.handle(now, Input::Answered { agent, caller }));
            }
        }
    }
    let n = answered.max(1) as f64;
    Ok(Report {
        p_wait: waited as f64 / n,
        asa_seconds: waits_us as f64 / 1e6 / n,
        service_level: within as f64 / n,
        occupancy: busy_us as f64 / (p.agents as f64 * last.max(1) as f64),
    })
}
