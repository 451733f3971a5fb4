//! The ACD core in virtual time: scenarios for each rule, and seeded property runs for the
//! invariants (no double offers, arrival order within a priority, nobody lost, no stuck agent).

use std::collections::{BTreeMap, HashSet};

use acd::{
    Acd, Action, AgentState, Escalation, EscalationAction, Input, MaxWait, Outcome, QueueConfig, Strategy, Want,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn login(acd: &mut Acd, now: u64, agent: u32, skills: &[(&str, u8)]) {
    acd.handle(
        now,
        Input::AgentLogin {
            agent,
            skills: skills.iter().map(|(s, l)| (s.to_string(), *l)).collect(),
        },
    );
    acd.handle(
        now,
        Input::AgentWants {
            agent,
            want: Want::Available,
        },
    );
}

fn arrive(acd: &mut Acd, now: u64, caller: u64, queue: &str, priority: i32) -> Vec<Action> {
    acd.handle(
        now,
        Input::CallerArrived {
            caller,
            queue: queue.into(),
            priority,
            skills: vec![],
        },
    )
}

fn offers(out: &[Action]) -> Vec<(u64, u32)> {
    out.iter()
        .filter_map(|a| match a {
            Action::Offer { caller, agent } => Some((*caller, *agent)),
            _ => None,
        })
        .collect()
}

fn queue(name: &str, skills: &[(&str, u8)]) -> QueueConfig {
    QueueConfig::new(name, skills)
}

#[test]
fn the_longest_idle_qualified_agent_gets_the_call() {
    let mut acd = Acd::new(vec![queue("repairs", &[("truck", 2)])]).unwrap();
    login(&mut acd, 0, 1, &[("truck", 1)]); // level too low
    login(&mut acd, 10, 2, &[("truck", 3)]);
    login(&mut acd, 20, 3, &[("truck", 5)]);
    assert_eq!(offers(&arrive(&mut acd, 30, 100, "repairs", 0)), vec![(100, 2)]);
    assert_eq!(offers(&arrive(&mut acd, 31, 101, "repairs", 0)), vec![(101, 3)]);
    assert_eq!(
        offers(&arrive(&mut acd, 32, 102, "repairs", 0)),
        vec![],
        "agent 1 lacks the level"
    );
    assert_eq!(acd.waiting("repairs"), 1);
}

#[test]
fn other_strategies_pick_by_their_measure() {
    for (strategy, want) in [
        (Strategy::FewestCalls, 2),
        (Strategy::LeastTalkTime, 2),
        (Strategy::RoundRobin, 2),
    ] {
        let mut q = queue("q", &[("s", 1)]);
        q.strategy = strategy;
        let mut acd = Acd::new(vec![q]).unwrap();
        login(&mut acd, 0, 1, &[("s", 1)]);
        login(&mut acd, 0, 2, &[("s", 1)]);
        // Agent 1 takes one long call first.
        assert_eq!(offers(&arrive(&mut acd, 1, 10, "q", 0))[0].1, 1);
        acd.handle(1, Input::Answered { agent: 1, caller: 10 });
        acd.handle(500_000, Input::CallerHungUp { caller: 10 });
        let got = offers(&arrive(&mut acd, 500_001, 11, "q", 0));
        assert_eq!(got, vec![(11, want)], "{strategy:?}");
    }
    let mut q = queue("all", &[("s", 1)]);
    q.strategy = Strategy::RingAll;
    let mut acd = Acd::new(vec![q]).unwrap();
    for a in 1..=3 {
        login(&mut acd, 0, a, &[("s", 1)]);
    }
    let out = arrive(&mut acd, 1, 7, "all", 0);
    assert_eq!(offers(&out).len(), 3, "ring-all rings everyone");
    let out = acd.handle(2, Input::Answered { agent: 2, caller: 7 });
    let withdrawn: HashSet<u32> = out
        .iter()
        .filter_map(|a| match a {
            Action::Withdraw { agent, .. } => Some(*agent),
            _ => None,
        })
        .collect();
    assert_eq!(withdrawn, HashSet::from([1, 3]));
    assert_eq!(acd.agent_state(1), Some(&AgentState::Available));
    assert_eq!(acd.agent_state(2), Some(&AgentState::OnCall(7)));
}

#[test]
fn an_unanswered_offer_returns_the_caller_to_the_head_and_repeated_misses_mean_a_break() {
    let mut q = queue("q", &[("s", 1)]);
    q.ring_timeout_ms = 10_000;
    q.max_misses = 2;
    let mut acd = Acd::new(vec![q]).unwrap();
    login(&mut acd, 0, 1, &[("s", 1)]);
    arrive(&mut acd, 0, 100, "q", 0);
    arrive(&mut acd, 1, 101, "q", 0);
    assert_eq!(acd.next_deadline(), Some(10_000), "the offer is a lease");
    let out = acd.tick(10_000);
    assert!(out.contains(&Action::Withdraw { caller: 100, agent: 1 }));
    // The same agent is offered the same caller again: 100 keeps its place ahead of 101.
    assert_eq!(offers(&out), vec![(100, 1)]);
    let out = acd.tick(20_000);
    assert!(out.contains(&Action::AgentState {
        agent: 1,
        state: AgentState::Break("missed calls".into())
    }));
    assert_eq!(offers(&out), vec![], "nobody else to offer to");
    assert_eq!(acd.waiting("q"), 2);
    // Back from break, the agent gets the head of the queue.
    let out = acd.handle(
        30_000,
        Input::AgentWants {
            agent: 1,
            want: Want::Available,
        },
    );
    assert_eq!(offers(&out), vec![(100, 1)]);
}

#[test]
fn wrap_up_then_the_pending_state() {
    let mut q = queue("q", &[("s", 1)]);
    q.wrap_up_ms = 30_000;
    let mut acd = Acd::new(vec![q]).unwrap();
    login(&mut acd, 0, 1, &[("s", 1)]);
    arrive(&mut acd, 0, 100, "q", 0);
    acd.handle(1, Input::Answered { agent: 1, caller: 100 });
    acd.handle(
        2,
        Input::AgentWants {
            agent: 1,
            want: Want::Break("lunch".into()),
        },
    );
    assert_eq!(
        acd.agent_state(1),
        Some(&AgentState::OnCall(100)),
        "not while on a call"
    );
    acd.handle(60_000, Input::CallerHungUp { caller: 100 });
    assert_eq!(acd.agent_state(1), Some(&AgentState::WrapUp));
    arrive(&mut acd, 61_000, 101, "q", 0);
    acd.tick(90_000);
    assert_eq!(
        acd.agent_state(1),
        Some(&AgentState::Break("lunch".into())),
        "honoured after wrap-up"
    );
    assert_eq!(acd.waiting("q"), 1);
}

#[test]
fn escalation_widens_the_level_raises_priority_and_overflows() {
    let mut experts = queue("complaints", &[("complaints", 4)]);
    experts.escalations = vec![
        Escalation {
            after_ms: 30_000,
            action: EscalationAction::WidenLevel(2),
        },
        Escalation {
            after_ms: 60_000,
            action: EscalationAction::Overflow("general".into()),
        },
    ];
    let general = queue("general", &[]);
    let mut acd = Acd::new(vec![experts, general]).unwrap();
    login(&mut acd, 0, 1, &[("complaints", 2)]);
    arrive(&mut acd, 0, 100, "complaints", 0);
    assert_eq!(acd.waiting("complaints"), 1, "no expert");
    let out = acd.tick(30_000);
    assert_eq!(offers(&out), vec![(100, 1)], "level 2 accepted after 30 s");
    acd.handle(30_001, Input::Answered { agent: 1, caller: 100 });

    arrive(&mut acd, 31_000, 101, "complaints", 0);
    acd.tick(61_000);
    let out = acd.tick(91_000);
    assert!(out.contains(&Action::Moved {
        caller: 101,
        to: "general".into()
    }));
    assert_eq!((acd.waiting("complaints"), acd.waiting("general")), (0, 1));

    let mut q = queue("q", &[("s", 1)]);
    q.escalations = vec![Escalation {
        after_ms: 10_000,
        action: EscalationAction::RaisePriority(5),
    }];
    let mut acd = Acd::new(vec![q]).unwrap();
    arrive(&mut acd, 0, 1, "q", 3);
    arrive(&mut acd, 1, 2, "q", 0);
    arrive(&mut acd, 20_000, 3, "q", 4);
    acd.tick(20_000);
    acd.handle(
        20_001,
        Input::AgentLogin {
            agent: 9,
            skills: vec![("s".into(), 1)],
        },
    );
    let mut out = acd.handle(
        20_001,
        Input::AgentWants {
            agent: 9,
            want: Want::Available,
        },
    );
    // Caller 1 (3 → 8) first, then 2 (0 → 5), then 3 (4, not yet raised).
    let mut order = vec![];
    for t in 0..3 {
        let (c, a) = offers(&out)[0];
        order.push(c);
        acd.handle(20_002 + t, Input::Answered { agent: a, caller: c });
        out = acd.handle(20_002 + t, Input::CallerHungUp { caller: c });
    }
    assert_eq!(order, vec![1, 2, 3]);
}

#[test]
fn maximum_wait_sends_to_voicemail_or_offers_a_callback_that_keeps_the_place() {
    let mut q = queue("q", &[("s", 1)]);
    q.max_wait = Some((60_000, MaxWait::Voicemail));
    let mut acd = Acd::new(vec![q]).unwrap();
    arrive(&mut acd, 0, 1, "q", 0);
    let out = acd.tick(60_000);
    assert!(out.contains(&Action::Left {
        caller: 1,
        outcome: Outcome::Voicemail
    }));
    assert_eq!(acd.callers(), 0);

    let mut q = queue("q", &[("s", 1)]);
    q.max_wait = Some((60_000, MaxWait::OfferCallback));
    let mut acd = Acd::new(vec![q]).unwrap();
    arrive(&mut acd, 0, 1, "q", 0);
    arrive(&mut acd, 5, 2, "q", 0);
    assert!(acd.tick(60_000).contains(&Action::OfferCallback { caller: 1 }));
    assert_eq!(
        acd.handle(60_001, Input::CallbackRequested { caller: 1 }),
        vec![Action::ReleaseForCallback { caller: 1 }]
    );
    // The caller's line is gone, but their place is kept.
    assert!(acd.handle(60_002, Input::CallerHungUp { caller: 1 }).is_empty());
    assert_eq!(acd.waiting("q"), 2);
    login(&mut acd, 70_000, 9, &[("s", 1)]);
    let out = acd.handle(
        70_000,
        Input::AgentWants {
            agent: 9,
            want: Want::Available,
        },
    );
    assert!(
        acd.agent_state(9) == Some(&AgentState::Reserved(1)),
        "reserved for the callback: {out:?}"
    );
    let out = acd.handle(75_000, Input::CallbackConnected { caller: 1 });
    assert!(out.contains(&Action::Left {
        caller: 1,
        outcome: Outcome::CalledBack(9)
    }));
    assert_eq!(acd.agent_state(9), Some(&AgentState::OnCall(1)));
}

#[test]
fn callers_hear_their_position_and_expected_wait() {
    let mut q = queue("q", &[("s", 1)]);
    q.announce_every_ms = Some(30_000);
    let mut acd = Acd::new(vec![q]).unwrap();
    login(&mut acd, 0, 1, &[("s", 1)]);
    // One call of 120 s teaches the handle time.
    arrive(&mut acd, 0, 1, "q", 0);
    acd.handle(0, Input::Answered { agent: 1, caller: 1 });
    arrive(&mut acd, 1_000, 2, "q", 0);
    arrive(&mut acd, 2_000, 3, "q", 0);
    acd.handle(120_000, Input::CallerHungUp { caller: 1 });
    acd.handle(120_000, Input::Answered { agent: 1, caller: 2 });
    arrive(&mut acd, 121_000, 4, "q", 0);
    let out = acd.tick(151_000);
    let announce: Vec<(u64, usize, Option<u64>)> = out
        .iter()
        .filter_map(|a| match a {
            Action::Announce {
                caller,
                position,
                ewt_ms,
            } => Some((*caller, *position, *ewt_ms)),
            _ => None,
        })
        .collect();
    assert_eq!(
        announce,
        vec![(3, 1, Some(120_000)), (4, 2, Some(240_000))],
        "EWT = position × AHT ÷ agents"
    );
}

#[test]
fn with_nobody_working_callers_hear_no_estimate_and_get_the_way_out_at_once() {
    let announces = |out: &[Action]| -> Vec<(u64, Option<u64>)> {
        out.iter()
            .filter_map(|a| match a {
                Action::Announce { caller, ewt_ms, .. } => Some((*caller, *ewt_ms)),
                _ => None,
            })
            .collect()
    };
    let mut cb = queue("cb", &[("s", 1)]);
    cb.announce_every_ms = Some(30_000);
    cb.max_wait = Some((900_000, MaxWait::OfferCallback));
    let mut vm = queue("vm", &[("s", 1)]);
    vm.announce_every_ms = Some(30_000);
    vm.max_wait = Some((600_000, MaxWait::Voicemail));
    let mut acd = Acd::new(vec![cb, vm]).unwrap();
    // An agent with the skill is logged in but on a break; another works without the skill.
    login(&mut acd, 0, 1, &[("s", 1)]);
    acd.handle(
        0,
        Input::AgentWants {
            agent: 1,
            want: Want::Break("lunch".into()),
        },
    );
    login(&mut acd, 0, 2, &[("other", 5)]);
    arrive(&mut acd, 1_000, 10, "cb", 0);
    arrive(&mut acd, 1_000, 11, "vm", 0);
    let out = acd.tick(1_000);
    assert_eq!(
        announces(&out),
        vec![(10, None), (11, None)],
        "no estimate without agents: {out:?}"
    );
    assert!(
        out.contains(&Action::OfferCallback { caller: 10 }),
        "callback offered now: {out:?}"
    );
    assert!(
        out.contains(&Action::Left {
            caller: 11,
            outcome: Outcome::Voicemail
        }),
        "voicemail now: {out:?}"
    );
    // Still nobody: the reminder comes with the queue's rhythm, once.
    let out = acd.tick(31_000);
    assert_eq!(announces(&out), vec![(10, None)]);
    assert_eq!(acd.tick(32_000), vec![]);
    // The agent comes back from the break and takes the call; no more announcements.
    let out = acd.handle(
        40_000,
        Input::AgentWants {
            agent: 1,
            want: Want::Available,
        },
    );
    assert_eq!(offers(&out), vec![(10, 1)]);
    // A caller arriving while someone works waits for the first regular announcement.
    acd.handle(41_000, Input::Answered { agent: 1, caller: 10 });
    arrive(&mut acd, 42_000, 12, "cb", 0);
    assert!(announces(&acd.tick(42_000)).is_empty());
    assert_eq!(announces(&acd.tick(72_000)), vec![(12, Some(180_000))]);
}

#[test]
fn a_closed_browser_never_leaves_an_agent_reserved_or_on_call() {
    let mut acd = Acd::new(vec![queue("q", &[("s", 1)])]).unwrap();
    login(&mut acd, 0, 1, &[("s", 1)]);
    login(&mut acd, 1, 2, &[("s", 1)]);
    arrive(&mut acd, 2, 100, "q", 0);
    acd.handle(3, Input::Answered { agent: 1, caller: 100 });
    let out = acd.handle(4, Input::AgentGone { agent: 1 });
    assert_eq!(acd.agent_state(1), Some(&AgentState::LoggedOut));
    assert_eq!(offers(&out), vec![(100, 2)], "the caller goes to the next agent");
    let out = acd.handle(5, Input::AgentGone { agent: 2 });
    assert!(out.contains(&Action::Withdraw { caller: 100, agent: 2 }));
    assert_eq!(acd.agent_state(2), Some(&AgentState::LoggedOut));
    assert_eq!(acd.waiting("q"), 1);
}

/// What the property runs track of the core's output.
#[derive(Default)]
struct Model {
    /// Agent → caller it is offered or connected to.
    busy: BTreeMap<u32, u64>,
    /// Callers not yet gone: queue, priority, arrival stamp.
    waiting: BTreeMap<u64, (String, i32, u64)>,
    /// Agents ringing (or reserved) for each caller.
    ringing: BTreeMap<u64, u32>,
    ended: BTreeMap<u64, Outcome>,
    arrivals: Vec<u64>,
    info: BTreeMap<u64, (String, i32, u64)>,
}

impl Model {
    fn apply(&mut self, out: &[Action]) {
        for a in out {
            match a {
                Action::Offer { caller, agent } => {
                    assert!(
                        !self.busy.contains_key(agent),
                        "agent {agent} offered {caller} while holding {:?}",
                        self.busy.get(agent)
                    );
                    let (q, prio, arrived) = self.waiting.get(caller).cloned().expect("offered caller was waiting");
                    let already = self.ringing.get(caller).copied().unwrap_or(0) > 0;
                    for (other, (oq, op, oa)) in &self.waiting {
                        let idle = self.ringing.get(other).copied().unwrap_or(0) == 0;
                        assert!(
                            already || !(idle && *oq == q && *op == prio && *oa < arrived && other != caller),
                            "caller {caller} {:?} offered before {other} {:?} who arrived earlier at the same priority",
                            (q.clone(), prio, arrived),
                            (oq, op, oa)
                        );
                    }
                    self.busy.insert(*agent, *caller);
                    *self.ringing.entry(*caller).or_default() += 1;
                }
                Action::Withdraw { agent, caller } => {
                    assert_eq!(self.busy.remove(agent), Some(*caller));
                    if let Some(n) = self.ringing.get_mut(caller) {
                        *n = n.saturating_sub(1);
                    }
                }
                Action::Connected { caller, .. } => {
                    self.ringing.remove(caller);
                }
                Action::Returned { caller } => {
                    self.ended.remove(caller);
                    self.waiting.insert(*caller, self.info[caller].clone());
                }
                Action::Left { caller, outcome } => {
                    assert!(
                        self.ended.insert(*caller, *outcome).is_none(),
                        "caller {caller} left twice"
                    );
                    self.waiting.remove(caller);
                }
                Action::AgentState { agent, state } => {
                    if matches!(
                        state,
                        AgentState::Available | AgentState::Break(_) | AgentState::LoggedOut | AgentState::WrapUp
                    ) {
                        if let Some(c) = self.busy.remove(agent) {
                            if let Some(n) = self.ringing.get_mut(&c) {
                                *n = n.saturating_sub(1);
                            }
                        }
                    }
                }
                _ => {}
            }
        }
    }
}

#[test]
fn property_no_double_offers_arrival_order_and_nobody_lost() {
    for seed in 0..200 {
        let mut rng = StdRng::seed_from_u64(seed);
        let strategy = [
            Strategy::LongestIdle,
            Strategy::RoundRobin,
            Strategy::LeastTalkTime,
            Strategy::FewestCalls,
            Strategy::RingAll,
        ][seed as usize % 5];
        let mut qs = vec![];
        for (name, skill) in [("a", "x"), ("b", "y"), ("c", "z")] {
            let mut q = queue(name, &[(skill, 2)]);
            q.strategy = strategy;
            q.ring_timeout_ms = 5_000;
            q.wrap_up_ms = rng.gen_range(0..3) * 1_000;
            q.max_misses = 3;
            qs.push(q);
        }
        let mut acd = Acd::new(qs).unwrap();
        let mut m = Model::default();
        let mut now = 0u64;
        let agents: Vec<u32> = (1..=rng.gen_range(1..8)).collect();
        for &a in &agents {
            let mut skills: Vec<(String, u8)> = vec![];
            for s in ["x", "y", "z"] {
                if rng.gen_bool(0.6) {
                    skills.push((s.to_string(), rng.gen_range(1..=5)));
                }
            }
            m.apply(&acd.handle(now, Input::AgentLogin { agent: a, skills }));
            m.apply(&acd.handle(
                now,
                Input::AgentWants {
                    agent: a,
                    want: Want::Available,
                },
            ));
        }
        let mut next_caller = 1u64;
        for _ in 0..300 {
            now += rng.gen_range(0..3_000);
            m.apply(&acd.tick(now));
            let r: f64 = rng.gen();
            let out = if r < 0.3 {
                let c = next_caller;
                next_caller += 1;
                let q = ["a", "b", "c"][rng.gen_range(0..3)];
                let p = rng.gen_range(0..2);
                // Arrival order = (time, id); the core breaks ties the same way.
                m.waiting.insert(c, (q.to_string(), p, now * 1_000_000 + c));
                m.info.insert(c, (q.to_string(), p, now * 1_000_000 + c));
                m.arrivals.push(c);
                arrive(&mut acd, now, c, q, p)
            } else if r < 0.55 {
                // An agent answers a ringing call.
                match m
                    .busy
                    .iter()
                    .find(|(a, c)| acd.agent_state(**a) == Some(&AgentState::Reserved(**c)))
                {
                    Some((&a, &c)) => acd.handle(now, Input::Answered { agent: a, caller: c }),
                    None => vec![],
                }
            } else if r < 0.7 {
                // A connected or waiting caller hangs up.
                let on_call: Vec<u64> = agents
                    .iter()
                    .filter_map(|a| match acd.agent_state(*a) {
                        Some(AgentState::OnCall(c)) => Some(*c),
                        _ => None,
                    })
                    .collect();
                let pick = if !on_call.is_empty() && rng.gen_bool(0.7) {
                    Some(on_call[rng.gen_range(0..on_call.len())])
                } else {
                    m.waiting.keys().next().copied()
                };
                match pick {
                    Some(c) => acd.handle(now, Input::CallerHungUp { caller: c }),
                    None => vec![],
                }
            } else if r < 0.78 {
                let a = agents[rng.gen_range(0..agents.len())];
                match m.busy.get(&a) {
                    Some(&c) => acd.handle(now, Input::Declined { agent: a, caller: c }),
                    None => vec![],
                }
            } else if r < 0.85 {
                let a = agents[rng.gen_range(0..agents.len())];
                let want = match rng.gen_range(0..3) {
                    0 => Want::Break("coffee".into()),
                    1 => Want::LoggedOut,
                    _ => Want::Available,
                };
                acd.handle(now, Input::AgentWants { agent: a, want })
            } else if r < 0.88 {
                let a = agents[rng.gen_range(0..agents.len())];
                acd.handle(now, Input::AgentGone { agent: a })
            } else {
                vec![]
            };
            // Keep the model's arrival stamps consistent with what the core saw.
            m.apply(&out);
        }
        // Drain: everybody available and answering, every call ends.
        for _ in 0..10_000 {
            if acd.callers() == 0 {
                break;
            }
            now += 1_000;
            m.apply(&acd.tick(now));
            for &a in &agents {
                if matches!(
                    acd.agent_state(a),
                    Some(AgentState::Break(_)) | Some(AgentState::LoggedOut)
                ) {
                    m.apply(&acd.handle(
                        now,
                        Input::AgentWants {
                            agent: a,
                            want: Want::Available,
                        },
                    ));
                }
                match acd.agent_state(a).cloned() {
                    Some(AgentState::Reserved(c)) => m.apply(&acd.handle(now, Input::Answered { agent: a, caller: c })),
                    Some(AgentState::OnCall(c)) => m.apply(&acd.handle(now, Input::CallerHungUp { caller: c })),
                    _ => {}
                }
            }
            // Callers nobody can serve (no agent has the skill at the level) give up.
            if now > 5_000_000 {
                let stuck: Vec<u64> = m.waiting.keys().copied().collect();
                for c in stuck {
                    m.apply(&acd.handle(now, Input::CallerHungUp { caller: c }));
                }
            }
        }
        assert_eq!(acd.callers(), 0, "seed {seed}: callers left in the core");
        for c in &m.arrivals {
            assert!(m.ended.contains_key(c), "seed {seed}: caller {c} was lost");
        }
        now += 10_000;
        m.apply(&acd.tick(now));
        for &a in &agents {
            assert!(
                !matches!(
                    acd.agent_state(a),
                    Some(AgentState::Reserved(_)) | Some(AgentState::OnCall(_))
                ),
                "seed {seed}: agent {a} stuck in {:?}",
                acd.agent_state(a)
            );
        }
    }
}

#[test]
fn a_callers_own_skills_narrow_the_queue() {
    // One "repairs" queue; the IVR adds the product line (and a level) per caller.
    let mut acd = Acd::new(vec![queue("repairs", &[("repairs", 1)])]).unwrap();
    login(&mut acd, 0, 1, &[("repairs", 3), ("appliance", 3)]);
    login(&mut acd, 10, 2, &[("repairs", 3), ("truck", 2)]);
    let truck = |acd: &mut Acd, now, caller, level| {
        acd.handle(
            now,
            Input::CallerArrived {
                caller,
                queue: "repairs".into(),
                priority: 0,
                skills: vec![("truck".into(), level)],
            },
        )
    };
    // Agent 1 is idle longest but knows no trucks.
    assert_eq!(offers(&truck(&mut acd, 20, 100, 1)), vec![(100, 2)]);
    acd.handle(21, Input::Answered { agent: 2, caller: 100 });
    assert_eq!(
        offers(&truck(&mut acd, 22, 101, 1)),
        vec![],
        "only agent 2 knows trucks"
    );
    acd.handle(30, Input::CallerHungUp { caller: 100 });
    assert_eq!(
        acd.waiting("repairs"),
        0,
        "agent 2 took the waiting truck caller when free"
    );
    acd.handle(31, Input::Answered { agent: 2, caller: 101 });
    acd.handle(40, Input::CallerHungUp { caller: 101 });
    // A level above every agent's: the caller waits, and an appliance caller is not held up.
    assert_eq!(offers(&truck(&mut acd, 41, 102, 4)), vec![]);
    let out = acd.handle(
        42,
        Input::CallerArrived {
            caller: 103,
            queue: "repairs".into(),
            priority: 0,
            skills: vec![("appliance".into(), 2)],
        },
    );
    assert_eq!(offers(&out), vec![(103, 1)]);
    assert_eq!(acd.waiting("repairs"), 1);
}

#[test]
fn an_agent_places_a_preview_call_that_inbound_figures_leave_out() {
    let mut acd = Acd::new(vec![queue("general", &[("general", 1)])]).unwrap();
    login(&mut acd, 0, 1, &[("general", 2)]);
    login(&mut acd, 0, 2, &[("general", 2)]);
    let preview = |acd: &mut Acd, now, agent, caller| {
        acd.handle(
            now,
            Input::PreviewDial {
                agent,
                caller,
                queue: "general".into(),
            },
        )
    };
    let out = preview(&mut acd, 10, 1, 900);
    assert!(out.contains(&Action::DialCallback { caller: 900, agent: 1 }), "{out:?}");
    assert_eq!(acd.agent_state(1), Some(&AgentState::Reserved(900)));
    // The reserved agent gets no inbound call meanwhile; the other one does.
    assert_eq!(offers(&arrive(&mut acd, 20, 100, "general", 0)), vec![(100, 2)]);
    // Nobody else can be dialled for a busy agent, or under an unknown queue.
    assert!(preview(&mut acd, 30, 1, 901).is_empty());
    assert!(acd
        .handle(
            30,
            Input::PreviewDial {
                agent: 2,
                caller: 902,
                queue: "nope".into()
            }
        )
        .is_empty());
    // Answered: the agent talks; the queue's answered count is the inbound call only.
    acd.handle(40, Input::Answered { agent: 2, caller: 100 });
    acd.handle(50, Input::CallbackConnected { caller: 900 });
    assert_eq!(acd.agent_state(1), Some(&AgentState::OnCall(900)));
    assert_eq!(acd.stats("general").unwrap().answered, 1);
    acd.handle(500, Input::CallerHungUp { caller: 900 });
    assert_eq!(
        acd.stats("general").unwrap().handled,
        0,
        "outbound talk is not the queue's"
    );
    assert_eq!(acd.agent_state(1), Some(&AgentState::Available));
    // Not reached: the agent is free again at once.
    preview(&mut acd, 600, 1, 903);
    acd.handle(700, Input::CallbackFailed { caller: 903 });
    assert_eq!(acd.agent_state(1), Some(&AgentState::Available));
}

#[test]
fn an_edited_queue_set_applies_while_running_or_changes_nothing() {
    let mut acd = Acd::new(vec![queue("general", &[("general", 1)])]).unwrap();
    login(&mut acd, 0, 1, &[("billing", 2)]);
    // Waiting in general, which needs a skill agent 1 lacks.
    assert_eq!(offers(&arrive(&mut acd, 10, 100, "general", 0)), vec![]);
    // Invalid sets change nothing.
    let mut overflow = queue("vip", &[("billing", 1)]);
    overflow.escalations.push(Escalation {
        after_ms: 1000,
        action: EscalationAction::Overflow("nowhere".into()),
    });
    assert!(acd.configure(vec![overflow]).unwrap_err().contains("nowhere"));
    assert!(acd
        .configure(vec![queue("vip", &[]), queue("vip", &[])])
        .unwrap_err()
        .contains("twice"));
    assert!(acd.stats("vip").is_none(), "no queue was added");
    // A new queue, and general changed in place: its waiting caller stays.
    acd.configure(vec![
        queue("general", &[("billing", 1)]),
        queue("vip", &[("billing", 2)]),
    ])
    .unwrap();
    assert_eq!(acd.waiting("general"), 1);
    assert!(acd.stats("vip").is_some());
    // The next event routes by the new rules: agent 1 (billing 2) may now take either caller;
    // one is offered to them, the other waits.
    let out = arrive(&mut acd, 20, 101, "vip", 0);
    assert_eq!(acd.waiting("general") + acd.waiting("vip"), 1, "{out:?}");
    assert_eq!(offers(&out).len(), 1, "{out:?}");
}

#[test]
fn handle_time_is_talk_plus_after_call_work() {
    let mut q = queue("repairs", &[]);
    q.wrap_up_ms = 30_000;
    let mut acd = Acd::new(vec![q, queue("quick", &[])]).unwrap();
    login(&mut acd, 0, 1, &[]);
    arrive(&mut acd, 0, 10, "repairs", 0);
    acd.handle(1_000, Input::Answered { agent: 1, caller: 10 });
    // 60 s of talk (hold included: the call is connected throughout).
    acd.handle(61_000, Input::CallerHungUp { caller: 10 });
    assert_eq!(
        acd.stats("repairs").unwrap().handled,
        0,
        "not over while the agent wraps up"
    );
    // The agent finishes the wrap-up after 12 s of its 30.
    acd.handle(73_000, Input::WrapUpDone { agent: 1 });
    let s = acd.stats("repairs").unwrap();
    assert_eq!((s.handled, s.handle_ms_total), (1, 72_000));
    // Timed out wrap-up counts in full; a queue without wrap-up counts talk alone.
    arrive(&mut acd, 80_000, 11, "repairs", 0);
    acd.handle(80_000, Input::Answered { agent: 1, caller: 11 });
    acd.handle(90_000, Input::CallerHungUp { caller: 11 });
    acd.tick(120_000);
    assert_eq!(acd.stats("repairs").unwrap().handle_ms_total, 72_000 + 40_000);
    arrive(&mut acd, 130_000, 12, "quick", 0);
    acd.handle(130_000, Input::Answered { agent: 1, caller: 12 });
    acd.handle(135_000, Input::CallerHungUp { caller: 12 });
    let s = acd.stats("quick").unwrap();
    assert_eq!((s.handled, s.handle_ms_total), (1, 5_000));
}

#[test]
fn a_signed_in_agent_is_not_ready_until_they_say_so_and_gets_no_call() {
    let mut acd = Acd::new(vec![queue("q", &[("s", 1)])]).unwrap();
    acd.handle(
        0,
        Input::AgentLogin {
            agent: 1,
            skills: vec![("s".into(), 1)],
        },
    );
    assert_eq!(acd.agent_state(1), Some(&AgentState::NotReady));
    let out = arrive(&mut acd, 1, 100, "q", 0);
    assert_eq!(offers(&out), vec![], "not ready: no offer");
    let out = acd.handle(
        2,
        Input::AgentWants {
            agent: 1,
            want: Want::Available,
        },
    );
    assert_eq!(offers(&out), vec![(100, 1)]);
}
