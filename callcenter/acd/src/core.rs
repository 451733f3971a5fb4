//! The ACD core: `(now, input)` in, actions out; no IO, no clock. Timers are deadlines the
//! adapter learns from `next_deadline` and fires with `tick`.

use std::cmp::Reverse;
use std::collections::{BTreeSet, HashMap, VecDeque};

pub type AgentId = u32;
pub type CallerId = u64;
pub type QueueId = usize;
/// Milliseconds on the caller's clock.
pub type Ms = u64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    LongestIdle,
    RoundRobin,
    LeastTalkTime,
    FewestCalls,
    RingAll,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EscalationAction {
    /// Accept agents from this level up (instead of the queue's minimum).
    WidenLevel(u8),
    RaisePriority(i32),
    /// Move the caller to another queue (keeping their arrival time).
    Overflow(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Escalation {
    pub after_ms: Ms,
    pub action: EscalationAction,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaxWait {
    /// The caller leaves the queue for voicemail.
    Voicemail,
    /// The caller is offered a callback that keeps their place.
    OfferCallback,
}

#[derive(Debug, Clone)]
pub struct QueueConfig {
    pub name: String,
    /// Required skills with minimum levels (1–5).
    pub skills: Vec<(String, u8)>,
    pub strategy: Strategy,
    pub ring_timeout_ms: Ms,
    pub wrap_up_ms: Ms,
    /// Unanswered offers in a row that send an agent to break.
    pub max_misses: u32,
    pub escalations: Vec<Escalation>,
    pub max_wait: Option<(Ms, MaxWait)>,
    /// Tell waiting callers their position and expected wait this often.
    pub announce_every_ms: Option<Ms>,
    /// Service-level threshold (answered within).
    pub sl_threshold_ms: Ms,
}

impl QueueConfig {
    pub fn new(name: &str, skills: &[(&str, u8)]) -> QueueConfig {
        QueueConfig {
            name: name.into(),
            skills: skills.iter().map(|(s, l)| (s.to_string(), *l)).collect(),
            strategy: Strategy::LongestIdle,
            ring_timeout_ms: 15_000,
            wrap_up_ms: 0,
            max_misses: 2,
            escalations: vec![],
            max_wait: None,
            announce_every_ms: None,
            sl_threshold_ms: 20_000,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentState {
    LoggedOut,
    Available,
    /// Offered a call (ringing), until the lease ends.
    Reserved(CallerId),
    OnCall(CallerId),
    WrapUp,
    Break(String),
    /// Signed in to the desk but not yet ready for calls (the state after login, until the
    /// agent says available).
    NotReady,
}

/// What an agent asks for; honoured at once, or after the call and wrap-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Want {
    Available,
    Break(String),
    LoggedOut,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Answered(AgentId),
    Abandoned,
    Voicemail,
    CalledBack(AgentId),
    CallbackFailed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    AgentLogin {
        agent: AgentId,
        skills: Vec<(String, u8)>,
    },
    /// The agent asks for a state (or a pending one after the current call).
    AgentWants {
        agent: AgentId,
        want: Want,
    },
    /// The agent's desk or phone is gone (closed browser, lost registration).
    AgentGone {
        agent: AgentId,
    },
    CallerArrived {
        caller: CallerId,
        queue: String,
        priority: i32,
        /// Skills this caller needs beyond the queue's (say the product line the IVR learned),
        /// with minimum levels.
        skills: Vec<(String, u8)>,
    },
    /// The caller hung up (waiting, ringing or connected).
    CallerHungUp {
        caller: CallerId,
    },
    Answered {
        agent: AgentId,
        caller: CallerId,
    },
    Declined {
        agent: AgentId,
        caller: CallerId,
    },
    /// The agent finished wrap-up early.
    WrapUpDone {
        agent: AgentId,
    },
    /// The caller pressed the callback key: hang up, keep the place.
    CallbackRequested {
        caller: CallerId,
    },
    /// The callback reached the customer and bridged them to the reserved agent.
    CallbackConnected {
        caller: CallerId,
    },
    CallbackFailed {
        caller: CallerId,
    },
    /// An available agent calls a customer from a task (preview dial): the agent is reserved
    /// and the customer dialled as for a callback (`CallbackConnected` / `CallbackFailed`
    /// follow). Outbound: the queue's inbound figures do not count it.
    PreviewDial {
        agent: AgentId,
        caller: CallerId,
        queue: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Ring this agent with this caller (and pop the screen).
    Offer {
        caller: CallerId,
        agent: AgentId,
    },
    /// Stop ringing this agent.
    Withdraw {
        caller: CallerId,
        agent: AgentId,
    },
    Connected {
        caller: CallerId,
        agent: AgentId,
    },
    AgentState {
        agent: AgentId,
        state: AgentState,
    },
    /// Tell a waiting caller where they are. `ewt_ms` is `None` when no logged-in agent who could
    /// take the call is working (all logged out or on a break): there is nothing to estimate from.
    Announce {
        caller: CallerId,
        position: usize,
        ewt_ms: Option<Ms>,
    },
    OfferCallback {
        caller: CallerId,
    },
    /// The caller chose a callback: end their call, keep their place.
    ReleaseForCallback {
        caller: CallerId,
    },
    /// Their turn: call the customer back for this (reserved) agent.
    DialCallback {
        caller: CallerId,
        agent: AgentId,
    },
    Moved {
        caller: CallerId,
        to: String,
    },
    Left {
        caller: CallerId,
        outcome: Outcome,
    },
    /// An answered caller is back in the queue at their old place (their agent vanished).
    Returned {
        caller: CallerId,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum TimerKind {
    Lease,
    WrapUp,
    Escalate,
    MaxWait,
    Announce,
}

#[derive(Debug)]
struct Agent {
    skills: HashMap<u16, u8>,
    state: AgentState,
    idle_since: Ms,
    talk_ms: Ms,
    calls: u64,
    misses: u32,
    pending: Option<Want>,
    last_offered: u64,
    call_started: Ms,
    generation: u64,
    /// Queue of the current call (for wrap-up length).
    queue: Option<QueueId>,
    /// An inbound call whose handling is not over until its wrap-up ends: (queue, talk, when
    /// wrap-up began). Handle time is talk (hold included) plus after-call work.
    handling: Option<(QueueId, Ms, Ms)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CallerState {
    Waiting,
    Offered,
    /// Reserved agent, dialling back.
    Dialling(AgentId),
    Connected(AgentId),
}

#[derive(Debug)]
struct Caller {
    queue: QueueId,
    priority: i32,
    arrived: Ms,
    seq: u64,
    min_level: Option<u8>,
    /// The caller's own required skills (beyond the queue's).
    skills: Vec<(u16, u8)>,
    stage: usize,
    state: CallerState,
    /// Agents ringing for this caller.
    ringing: Vec<AgentId>,
    callback: bool,
    /// Placed by an agent (preview dial), not waiting in the queue.
    outbound: bool,
    generation: u64,
}

type Key = (Reverse<i32>, Ms, u64);

#[derive(Debug)]
struct Queue {
    cfg: QueueConfig,
    skills: Vec<(u16, u8)>,
    waiting: BTreeSet<(Key, CallerId)>,
    recent_handle: VecDeque<Ms>,
    overflow_to: Vec<Option<QueueId>>,
    pub stats: QueueStats,
}

/// Counters per queue, for the wallboard and the simulator.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueueStats {
    pub offered: u64,
    pub answered: u64,
    pub answered_within_sl: u64,
    pub abandoned: u64,
    pub waited: u64,
    pub wait_ms_total: u64,
    pub handle_ms_total: u64,
    pub handled: u64,
}

pub struct Acd {
    queues: Vec<Queue>,
    queue_ids: HashMap<String, QueueId>,
    skill_ids: HashMap<String, u16>,
    agents: HashMap<AgentId, Agent>,
    callers: HashMap<CallerId, Caller>,
    /// Available agents per skill, ordered by idle-since.
    available: HashMap<u16, BTreeSet<(Ms, AgentId)>>,
    timers: BTreeSet<(Ms, TimerKind, u64, u64)>,
    seq: u64,
    offers: u64,
    /// An empty agent set, for skills nobody has.
    no_agents: BTreeSet<(Ms, AgentId)>,
}

impl Acd {
    pub fn new(queues: Vec<QueueConfig>) -> Result<Acd, String> {
        let mut acd = Acd {
            queues: vec![],
            queue_ids: HashMap::new(),
            skill_ids: HashMap::new(),
            agents: HashMap::new(),
            callers: HashMap::new(),
            available: HashMap::new(),
            timers: BTreeSet::new(),
            seq: 0,
            offers: 0,
            no_agents: BTreeSet::new(),
        };
        for (i, q) in queues.iter().enumerate() {
            if acd.queue_ids.insert(q.name.clone(), i).is_some() {
                return Err(format!("queue {:?} defined twice", q.name));
            }
        }
        for q in queues {
            for (_, l) in &q.skills {
                if !(1..=5).contains(l) {
                    return Err(format!("queue {:?}: skill levels are 1 to 5", q.name));
                }
            }
            let skills = q.skills.iter().map(|(s, l)| (acd.skill(s), *l)).collect();
            let mut overflow_to = vec![];
            for e in &q.escalations {
                overflow_to.push(match &e.action {
                    EscalationAction::Overflow(name) => Some(
                        *acd.queue_ids
                            .get(name)
                            .ok_or_else(|| format!("queue {:?} overflows to unknown queue {name:?}", q.name))?,
                    ),
                    _ => None,
                });
            }
            acd.queues.push(Queue {
                cfg: q,
                skills,
                waiting: BTreeSet::new(),
                recent_handle: VecDeque::new(),
                overflow_to,
                stats: QueueStats::default(),
            });
        }
        Ok(acd)
    }

    /// Apply an edited set of queues while running (`queues.toml` changed): a queue that exists
    /// is changed in place (its waiting callers stay, in their order), a new one is added. A
    /// queue the set leaves out stays as it was until restart, since callers may wait in it.
    /// An invalid set changes nothing.
    pub fn configure(&mut self, queues: Vec<QueueConfig>) -> Result<(), String> {
        let mut names = std::collections::HashSet::new();
        for q in &queues {
            if !names.insert(q.name.clone()) {
                return Err(format!("queue {:?} defined twice", q.name));
            }
            if q.skills.iter().any(|(_, l)| !(1..=5).contains(l)) {
                return Err(format!("queue {:?}: skill levels are 1 to 5", q.name));
            }
        }
        for q in &queues {
            for e in &q.escalations {
                if let EscalationAction::Overflow(name) = &e.action {
                    if !names.contains(name) && !self.queue_ids.contains_key(name) {
                        return Err(format!("queue {:?} overflows to unknown queue {name:?}", q.name));
                    }
                }
            }
        }
        for q in queues {
            let skills = q.skills.iter().map(|(s, l)| (self.skill(s), *l)).collect();
            match self.queue_ids.get(&q.name) {
                Some(&id) => {
                    self.queues[id].cfg = q;
                    self.queues[id].skills = skills;
                }
                None => {
                    self.queue_ids.insert(q.name.clone(), self.queues.len());
                    self.queues.push(Queue {
                        cfg: q,
                        skills,
                        waiting: BTreeSet::new(),
                        recent_handle: VecDeque::new(),
                        overflow_to: vec![],
                        stats: QueueStats::default(),
                    });
                }
            }
        }
        // Overflow targets by id, now that every name has one.
        for i in 0..self.queues.len() {
            let targets = self.queues[i]
                .cfg
                .escalations
                .iter()
                .map(|e| match &e.action {
                    EscalationAction::Overflow(name) => self.queue_ids.get(name).copied(),
                    _ => None,
                })
                .collect();
            self.queues[i].overflow_to = targets;
        }
        Ok(())
    }

    fn skill(&mut self, name: &str) -> u16 {
        let n = self.skill_ids.len() as u16;
        *self.skill_ids.entry(name.to_string()).or_insert(n)
    }

    pub fn agent_state(&self, agent: AgentId) -> Option<&AgentState> {
        self.agents.get(&agent).map(|a| &a.state)
    }

    pub fn waiting(&self, queue: &str) -> usize {
        self.queue_ids
            .get(queue)
            .map(|&q| self.queues[q].waiting.len())
            .unwrap_or(0)
    }

    pub fn stats(&self, queue: &str) -> Option<&QueueStats> {
        self.queue_ids.get(queue).map(|&q| &self.queues[q].stats)
    }

    /// The queue a caller is in (or reserved from, for a callback).
    pub fn queue_of(&self, caller: CallerId) -> Option<String> {
        self.callers.get(&caller).map(|c| self.queues[c.queue].cfg.name.clone())
    }

    pub fn callers(&self) -> usize {
        self.callers.len()
    }

    pub fn next_deadline(&self) -> Option<Ms> {
        self.timers.iter().next().map(|t| t.0)
    }

    // ---- agent index ----

    fn set_state(&mut self, now: Ms, agent: AgentId, state: AgentState, out: &mut Vec<Action>) {
        let Some(a) = self.agents.get_mut(&agent) else { return };
        if state != AgentState::WrapUp {
            if let Some((q, talk, since)) = a.handling.take() {
                let handle = talk + now.saturating_sub(since);
                let queue = &mut self.queues[q];
                queue.stats.handle_ms_total += handle;
                queue.stats.handled += 1;
                queue.recent_handle.push_back(handle);
                if queue.recent_handle.len() > 100 {
                    queue.recent_handle.pop_front();
                }
            }
        }
        let Some(a) = self.agents.get_mut(&agent) else { return };
        let was_available = a.state == AgentState::Available;
        if was_available {
            for s in a.skills.keys() {
                if let Some(set) = self.available.get_mut(s) {
                    set.remove(&(a.idle_since, agent));
                }
            }
        }
        if state == AgentState::Available {
            if !was_available {
                a.idle_since = now;
            }
            for s in a.skills.keys() {
                self.available.entry(*s).or_default().insert((a.idle_since, agent));
            }
        }
        a.state = state.clone();
        out.push(Action::AgentState { agent, state });
    }

    /// The agent's call (and wrap-up) is over: honour a pending wish or become available.
    fn free_agent(&mut self, now: Ms, agent: AgentId, out: &mut Vec<Action>) {
        let pending = self.agents.get_mut(&agent).and_then(|a| a.pending.take());
        let state = match pending {
            Some(Want::Break(r)) => AgentState::Break(r),
            Some(Want::LoggedOut) => AgentState::LoggedOut,
            _ => AgentState::Available,
        };
        let available = state == AgentState::Available;
        self.set_state(now, agent, state, out);
        if available {
            self.route_agent(now, agent, out);
        }
    }

    fn qualifies(&self, agent: &Agent, queue: &Queue, caller: Option<&Caller>) -> bool {
        let min_level = caller.and_then(|c| c.min_level);
        let own: &[(u16, u8)] = caller.map(|c| c.skills.as_slice()).unwrap_or(&[]);
        queue.skills.iter().chain(own).all(|(s, l)| {
            let need = min_level.map(|m| m.min(*l)).unwrap_or(*l);
            agent.skills.get(s).is_some_and(|have| *have >= need)
        })
    }

    /// Available agents for this caller, best first (one, or all for ring-all).
    fn pick_agents(&self, caller: &Caller) -> Vec<AgentId> {
        let queue = &self.queues[caller.queue];
        // The required skill with the fewest available agents narrows the search most.
        let required = || queue.skills.iter().chain(caller.skills.iter());
        let narrowest = required().min_by_key(|(s, _)| self.available.get(s).map(|x| x.len()).unwrap_or(0));
        let Some(set) = narrowest
            .map(|(s, _)| self.available.get(s))
            .map(|set| set.unwrap_or(&self.no_agents))
        else {
            // A queue without skills takes any available agent.
            let mut all: Vec<(Ms, AgentId)> = self
                .agents
                .iter()
                .filter(|(_, a)| a.state == AgentState::Available)
                .map(|(id, a)| (a.idle_since, *id))
                .collect();
            all.sort();
            return self.choose(queue, all.into_iter().map(|(_, a)| a), caller);
        };
        self.choose(queue, set.iter().map(|(_, a)| *a), caller)
    }

    fn choose(&self, queue: &Queue, candidates: impl Iterator<Item = AgentId>, caller: &Caller) -> Vec<AgentId> {
        let ok = candidates.filter(|id| self.qualifies(&self.agents[id], queue, Some(caller)));
        match queue.cfg.strategy {
            // Candidates come in idle order: the first that qualifies is the longest idle.
            Strategy::LongestIdle => ok.take(1).collect(),
            Strategy::RingAll => ok.collect(),
            Strategy::RoundRobin => ok
                .min_by_key(|id| (self.agents[id].last_offered, *id))
                .into_iter()
                .collect(),
            Strategy::LeastTalkTime => ok.min_by_key(|id| (self.agents[id].talk_ms, *id)).into_iter().collect(),
            Strategy::FewestCalls => ok.min_by_key(|id| (self.agents[id].calls, *id)).into_iter().collect(),
        }
    }

    fn key(c: &Caller) -> Key {
        (Reverse(c.priority), c.arrived, c.seq)
    }

    fn arm(&mut self, at: Ms, kind: TimerKind, id: u64, generation: u64) {
        self.timers.insert((at, kind, id, generation));
    }

    /// Offer the caller to agents, if any can take it now.
    fn offer(&mut self, now: Ms, caller: CallerId, agents: Vec<AgentId>, out: &mut Vec<Action>) {
        let Some(c) = self.callers.get_mut(&caller) else { return };
        let q = c.queue;
        let key = Self::key(c);
        self.queues[q].waiting.remove(&(key, caller));
        self.offers += 1;
        let lease = self.queues[q].cfg.ring_timeout_ms;
        if c.callback {
            // A callback: reserve the best agent and dial the customer.
            let agent = agents[0];
            c.state = CallerState::Dialling(agent);
            c.ringing = vec![agent];
            self.set_state(now, agent, AgentState::Reserved(caller), out);
            out.push(Action::DialCallback { caller, agent });
            return;
        }
        c.state = CallerState::Offered;
        c.ringing = agents.clone();
        c.generation += 1;
        let generation = c.generation;
        for agent in agents {
            if let Some(a) = self.agents.get_mut(&agent) {
                a.last_offered = self.offers;
            }
            self.set_state(now, agent, AgentState::Reserved(caller), out);
            out.push(Action::Offer { caller, agent });
        }
        self.arm(now + lease, TimerKind::Lease, caller, generation);
    }

    /// Route the queue's waiting callers, in order, to available agents.
    fn route_queue(&mut self, now: Ms, q: QueueId, out: &mut Vec<Action>) {
        // Bounded scan: the head may need a level no available agent has while a later,
        // escalated caller can be served.
        let heads: Vec<CallerId> = self.queues[q].waiting.iter().take(32).map(|(_, c)| *c).collect();
        for caller in heads {
            let agents = self.pick_agents(&self.callers[&caller]);
            if !agents.is_empty() {
                self.offer(now, caller, agents, out);
            }
        }
    }

    /// An agent became available: the best waiting caller it can serve, across its queues.
    fn route_agent(&mut self, now: Ms, agent: AgentId, out: &mut Vec<Action>) {
        let a = &self.agents[&agent];
        let mut best: Option<(Key, CallerId)> = None;
        for queue in &self.queues {
            // Skip at once the queues needing a skill this agent lacks entirely.
            if queue.waiting.is_empty() || !queue.skills.iter().all(|(s, _)| a.skills.contains_key(s)) {
                continue;
            }
            for (key, caller) in queue.waiting.iter().take(32) {
                let c = &self.callers[caller];
                if self.qualifies(a, queue, Some(c)) {
                    if best.as_ref().is_none_or(|(k, _)| key < k) {
                        best = Some((*key, *caller));
                    }
                    break;
                }
            }
        }
        if let Some((_, caller)) = best {
            let q = self.callers[&caller].queue;
            if self.queues[q].cfg.strategy == Strategy::RingAll {
                let agents = self.pick_agents(&self.callers[&caller]);
                self.offer(now, caller, agents, out);
            } else {
                self.offer(now, caller, vec![agent], out);
            }
        }
    }

    /// Put a caller back in the queue, keeping their place, and route again.
    fn requeue(&mut self, now: Ms, caller: CallerId, out: &mut Vec<Action>) {
        if let Some(q) = self.requeue_quietly(caller) {
            self.route_queue(now, q, out);
        }
    }

    fn requeue_quietly(&mut self, caller: CallerId) -> Option<QueueId> {
        let c = self.callers.get_mut(&caller)?;
        c.state = CallerState::Waiting;
        c.ringing.clear();
        c.generation += 1;
        let q = c.queue;
        let key = Self::key(c);
        self.queues[q].waiting.insert((key, caller));
        Some(q)
    }

    fn leave(&mut self, caller: CallerId, outcome: Outcome, out: &mut Vec<Action>) {
        if let Some(c) = self.callers.remove(&caller) {
            let key = Self::key(&c);
            let q = &mut self.queues[c.queue];
            q.waiting.remove(&(key, caller));
            if outcome == Outcome::Abandoned {
                q.stats.abandoned += 1;
            }
            out.push(Action::Left { caller, outcome });
        }
    }

    /// Agents working (not logged out, not on a break) who could take this caller.
    fn staffed_for(&self, caller: &Caller) -> usize {
        let queue = &self.queues[caller.queue];
        self.agents
            .values()
            .filter(|a| {
                !matches!(
                    a.state,
                    AgentState::LoggedOut | AgentState::Break(_) | AgentState::NotReady
                ) && self.qualifies(a, queue, Some(caller))
            })
            .count()
    }

    /// Expected wait: position × average handle time ÷ agents who could take the call; `None`
    /// when there are none.
    fn ewt(&self, caller: &Caller, position: usize) -> Option<Ms> {
        let queue = &self.queues[caller.queue];
        let aht = if queue.recent_handle.is_empty() {
            180_000
        } else {
            queue.recent_handle.iter().sum::<Ms>() / queue.recent_handle.len() as Ms
        };
        let staffed = self.staffed_for(caller) as Ms;
        (staffed > 0).then(|| aht * position as Ms / staffed)
    }

    // ---- input ----

    pub fn handle(&mut self, now: Ms, input: Input) -> Vec<Action> {
        let mut out = vec![];
        match input {
            Input::AgentLogin { agent, skills } => {
                let skills: HashMap<u16, u8> = skills.iter().map(|(s, l)| (self.skill(s), (*l).clamp(1, 5))).collect();
                if let Some(a) = self.agents.get(&agent) {
                    // Already known: take it out of the index while its skills change.
                    let was = a.state.clone();
                    if was == AgentState::Available {
                        self.set_state(now, agent, AgentState::Break("updating".into()), &mut out);
                    }
                    self.agents.get_mut(&agent).expect("agent").skills = skills;
                    if was == AgentState::Available {
                        self.free_agent(now, agent, &mut out);
                    }
                } else {
                    self.agents.insert(
                        agent,
                        Agent {
                            skills,
                            state: AgentState::LoggedOut,
                            idle_since: now,
                            talk_ms: 0,
                            calls: 0,
                            misses: 0,
                            pending: None,
                            last_offered: 0,
                            call_started: 0,
                            generation: 0,
                            queue: None,
                            handling: None,
                        },
                    );
                    self.set_state(now, agent, AgentState::NotReady, &mut out);
                }
            }
            Input::AgentWants { agent, want } => {
                let Some(a) = self.agents.get_mut(&agent) else {
                    return out;
                };
                match (&a.state, want) {
                    (AgentState::OnCall(_) | AgentState::WrapUp | AgentState::Reserved(_), w) => {
                        a.pending = Some(w);
                    }
                    (_, Want::Available) => {
                        a.misses = 0;
                        self.free_agent(now, agent, &mut out);
                    }
                    (_, Want::Break(r)) => self.set_state(now, agent, AgentState::Break(r), &mut out),
                    (_, Want::LoggedOut) => self.set_state(now, agent, AgentState::LoggedOut, &mut out),
                }
            }
            Input::AgentGone { agent } => {
                let Some(a) = self.agents.get(&agent) else { return out };
                match a.state.clone() {
                    AgentState::Reserved(caller) => {
                        out.push(Action::Withdraw { caller, agent });
                        self.set_state(now, agent, AgentState::LoggedOut, &mut out);
                        let alone = self.callers.get_mut(&caller).is_some_and(|c| {
                            c.ringing.retain(|a| *a != agent);
                            c.ringing.is_empty()
                        });
                        if alone {
                            self.requeue(now, caller, &mut out);
                        }
                    }
                    AgentState::OnCall(caller) => {
                        // The caller goes back to the head of their place.
                        self.set_state(now, agent, AgentState::LoggedOut, &mut out);
                        out.push(Action::Returned { caller });
                        self.requeue(now, caller, &mut out);
                    }
                    _ => self.set_state(now, agent, AgentState::LoggedOut, &mut out),
                }
            }
            Input::CallerArrived {
                caller,
                queue,
                priority,
                skills,
            } => {
                let skills = skills.iter().map(|(s, l)| (self.skill(s), (*l).clamp(1, 5))).collect();
                let Some(&q) = self.queue_ids.get(&queue) else {
                    out.push(Action::Left {
                        caller,
                        outcome: Outcome::Voicemail,
                    });
                    return out;
                };
                self.seq += 1;
                let c = Caller {
                    queue: q,
                    priority,
                    arrived: now,
                    seq: self.seq,
                    min_level: None,
                    skills,
                    stage: 0,
                    state: CallerState::Waiting,
                    ringing: vec![],
                    callback: false,
                    outbound: false,
                    generation: 0,
                };
                self.queues[q].stats.offered += 1;
                self.queues[q].waiting.insert((Self::key(&c), caller));
                self.callers.insert(caller, c);
                let cfg = &self.queues[q].cfg;
                let first_escalation = cfg.escalations.first().map(|e| e.after_ms);
                let max_wait = cfg.max_wait.map(|(ms, _)| ms);
                let announce = cfg.announce_every_ms;
                // With nobody working who could take the call, say so straight away.
                let nobody = self.callers.get(&caller).is_some_and(|c| self.staffed_for(c) == 0);
                if nobody {
                    self.arm(now, TimerKind::Announce, caller, 0);
                }
                if let Some(after) = first_escalation {
                    self.arm(now + after, TimerKind::Escalate, caller, 0);
                }
                if let Some(ms) = max_wait {
                    self.arm(now + ms, TimerKind::MaxWait, caller, 0);
                }
                if let Some(ms) = announce.filter(|_| !nobody) {
                    self.arm(now + ms, TimerKind::Announce, caller, 0);
                }
                self.route_queue(now, q, &mut out);
            }
            Input::CallerHungUp { caller } => {
                let Some(c) = self.callers.get(&caller) else { return out };
                match c.state {
                    // A caller who chose a callback hung up on purpose and keeps their place.
                    CallerState::Waiting if c.callback => {}
                    CallerState::Waiting => self.leave(caller, Outcome::Abandoned, &mut out),
                    CallerState::Dialling(agent) => {
                        self.leave(caller, Outcome::CallbackFailed, &mut out);
                        self.free_agent(now, agent, &mut out);
                    }
                    CallerState::Offered => {
                        let ringing = c.ringing.clone();
                        for &agent in &ringing {
                            out.push(Action::Withdraw { caller, agent });
                        }
                        self.leave(caller, Outcome::Abandoned, &mut out);
                        for agent in ringing {
                            self.free_agent(now, agent, &mut out);
                        }
                    }
                    CallerState::Connected(agent) => {
                        let q = c.queue;
                        let inbound = !c.outbound;
                        if let Some(a) = self.agents.get_mut(&agent) {
                            let talk = now.saturating_sub(a.call_started);
                            a.talk_ms += talk;
                            a.queue = Some(q);
                        }
                        if let (true, Some(a)) = (inbound, self.agents.get_mut(&agent)) {
                            // Counted when the wrap-up ends (at once without one).
                            let talk = now.saturating_sub(a.call_started);
                            a.handling = Some((q, talk, now));
                        }
                        self.callers.remove(&caller);
                        let wrap = self.queues[q].cfg.wrap_up_ms;
                        if wrap == 0 {
                            self.free_agent(now, agent, &mut out);
                        } else {
                            self.set_state(now, agent, AgentState::WrapUp, &mut out);
                            let a = self.agents.get_mut(&agent).expect("agent");
                            a.generation += 1;
                            let generation = a.generation;
                            self.arm(now + wrap, TimerKind::WrapUp, agent as u64, generation);
                        }
                    }
                }
            }
            Input::Answered { agent, caller } => {
                let Some(c) = self.callers.get_mut(&caller) else {
                    return out;
                };
                if c.state != CallerState::Offered || !c.ringing.contains(&agent) {
                    return out;
                }
                let others: Vec<AgentId> = c.ringing.iter().copied().filter(|a| *a != agent).collect();
                c.state = CallerState::Connected(agent);
                c.ringing.clear();
                c.generation += 1;
                let q = c.queue;
                let waited = now.saturating_sub(c.arrived);
                let threshold = self.queues[q].cfg.sl_threshold_ms;
                let stats = &mut self.queues[q].stats;
                stats.answered += 1;
                stats.wait_ms_total += waited;
                if waited > 0 {
                    stats.waited += 1;
                }
                if waited <= threshold {
                    stats.answered_within_sl += 1;
                }
                for other in others {
                    out.push(Action::Withdraw { caller, agent: other });
                    self.free_agent(now, other, &mut out);
                }
                if let Some(a) = self.agents.get_mut(&agent) {
                    a.calls += 1;
                    a.misses = 0;
                    a.call_started = now;
                }
                self.set_state(now, agent, AgentState::OnCall(caller), &mut out);
                out.push(Action::Connected { caller, agent });
                out.push(Action::Left {
                    caller,
                    outcome: Outcome::Answered(agent),
                });
            }
            Input::Declined { agent, caller } => self.withdraw_one(now, caller, agent, &mut out),
            Input::WrapUpDone { agent } => {
                if self.agents.get(&agent).map(|a| &a.state) == Some(&AgentState::WrapUp) {
                    self.free_agent(now, agent, &mut out);
                }
            }
            Input::CallbackRequested { caller } => {
                if let Some(c) = self.callers.get_mut(&caller) {
                    if c.state == CallerState::Waiting {
                        c.callback = true;
                        out.push(Action::ReleaseForCallback { caller });
                    }
                }
            }
            Input::CallbackConnected { caller } => {
                let Some(c) = self.callers.get_mut(&caller) else {
                    return out;
                };
                let CallerState::Dialling(agent) = c.state else {
                    return out;
                };
                c.state = CallerState::Connected(agent);
                let q = c.queue;
                if !c.outbound {
                    self.queues[q].stats.answered += 1;
                }
                if let Some(a) = self.agents.get_mut(&agent) {
                    a.calls += 1;
                    a.call_started = now;
                }
                self.set_state(now, agent, AgentState::OnCall(caller), &mut out);
                out.push(Action::Connected { caller, agent });
                out.push(Action::Left {
                    caller,
                    outcome: Outcome::CalledBack(agent),
                });
            }
            Input::CallbackFailed { caller } => {
                let Some(c) = self.callers.get(&caller) else { return out };
                if let CallerState::Dialling(agent) = c.state {
                    self.leave(caller, Outcome::CallbackFailed, &mut out);
                    self.free_agent(now, agent, &mut out);
                }
            }
            Input::PreviewDial { agent, caller, queue } => {
                let available = self
                    .agents
                    .get(&agent)
                    .is_some_and(|a| a.state == AgentState::Available);
                let Some(&q) = self.queue_ids.get(&queue) else {
                    return out;
                };
                if !available || self.callers.contains_key(&caller) {
                    return out;
                }
                self.seq += 1;
                self.callers.insert(
                    caller,
                    Caller {
                        queue: q,
                        priority: 0,
                        arrived: now,
                        seq: self.seq,
                        min_level: None,
                        skills: vec![],
                        stage: 0,
                        state: CallerState::Dialling(agent),
                        ringing: vec![agent],
                        callback: true,
                        outbound: true,
                        generation: 0,
                    },
                );
                self.set_state(now, agent, AgentState::Reserved(caller), &mut out);
                out.push(Action::DialCallback { caller, agent });
            }
        }
        out
    }

    /// One ringing agent is out (timeout, decline, gone): if nobody else rings, requeue.
    fn withdraw_one(&mut self, now: Ms, caller: CallerId, agent: AgentId, out: &mut Vec<Action>) {
        let Some(c) = self.callers.get_mut(&caller) else { return };
        if !c.ringing.contains(&agent) {
            return;
        }
        c.ringing.retain(|a| *a != agent);
        out.push(Action::Withdraw { caller, agent });
        // The caller first goes back to their place and to another agent if there is one;
        // only then is this agent free again (and may get the head of the queue).
        if self.callers.get(&caller).is_some_and(|c| c.ringing.is_empty()) {
            self.requeue(now, caller, out);
        }
        if self.agents.get(&agent).map(|a| &a.state) == Some(&AgentState::Reserved(caller)) {
            self.free_agent(now, agent, out);
        }
    }

    /// Fire due timers.
    pub fn tick(&mut self, now: Ms) -> Vec<Action> {
        let mut out = vec![];
        while let Some(&(at, kind, id, generation)) = self.timers.iter().next() {
            if at > now {
                break;
            }
            self.timers.remove(&(at, kind, id, generation));
            match kind {
                TimerKind::Lease => self.lease_expired(now, id, generation, &mut out),
                TimerKind::WrapUp => {
                    let agent = id as AgentId;
                    let due = self
                        .agents
                        .get(&agent)
                        .is_some_and(|a| a.state == AgentState::WrapUp && a.generation == generation);
                    if due {
                        self.free_agent(now, agent, &mut out);
                    }
                }
                TimerKind::Escalate => self.escalate(now, id, &mut out),
                TimerKind::MaxWait => {
                    let Some(c) = self.callers.get(&id) else { continue };
                    if c.state != CallerState::Waiting || c.callback {
                        continue;
                    }
                    match self.queues[c.queue].cfg.max_wait {
                        Some((_, MaxWait::Voicemail)) => self.leave(id, Outcome::Voicemail, &mut out),
                        Some((_, MaxWait::OfferCallback)) => out.push(Action::OfferCallback { caller: id }),
                        None => {}
                    }
                }
                TimerKind::Announce => {
                    let Some(c) = self.callers.get(&id) else { continue };
                    let q = c.queue;
                    if c.state == CallerState::Waiting && !c.callback {
                        let key = Self::key(c);
                        let position = self.queues[q].waiting.range(..(key, id)).count() + 1;
                        let ewt_ms = self.ewt(c, position);
                        out.push(Action::Announce {
                            caller: id,
                            position,
                            ewt_ms,
                        });
                        // Nobody can take the call now: offer the queue's way out at once rather
                        // than after its maximum wait.
                        if ewt_ms.is_none() {
                            match self.queues[q].cfg.max_wait {
                                Some((_, MaxWait::Voicemail)) => self.leave(id, Outcome::Voicemail, &mut out),
                                Some((_, MaxWait::OfferCallback)) => out.push(Action::OfferCallback { caller: id }),
                                None => {}
                            }
                        }
                    }
                    if let Some(every) = self.queues[q].cfg.announce_every_ms {
                        self.arm(now + every, TimerKind::Announce, id, 0);
                    }
                }
            }
        }
        out
    }

    fn lease_expired(&mut self, now: Ms, caller: CallerId, generation: u64, out: &mut Vec<Action>) {
        let Some(c) = self.callers.get(&caller) else { return };
        if c.state != CallerState::Offered || c.generation != generation {
            return;
        }
        let q = c.queue;
        let max_misses = self.queues[q].cfg.max_misses;
        let missed = c.ringing.clone();
        self.requeue_quietly(caller);
        for &agent in &missed {
            out.push(Action::Withdraw { caller, agent });
            let Some(a) = self.agents.get_mut(&agent) else { continue };
            a.misses += 1;
            if a.misses >= max_misses && max_misses > 0 {
                a.pending = Some(Want::Break("missed calls".into()));
            }
        }
        // Other agents first; the agents who missed it are free only afterwards.
        self.route_queue(now, q, out);
        for agent in missed {
            if self.agents.get(&agent).map(|a| &a.state) == Some(&AgentState::Reserved(caller)) {
                self.free_agent(now, agent, out);
            }
        }
    }

    fn escalate(&mut self, now: Ms, caller: CallerId, out: &mut Vec<Action>) {
        let Some(c) = self.callers.get_mut(&caller) else { return };
        let q = c.queue;
        let stage = c.stage;
        let Some(e) = self.queues[q].cfg.escalations.get(stage).cloned() else {
            return;
        };
        c.stage += 1;
        let next = self.queues[q].cfg.escalations.get(stage + 1).map(|n| n.after_ms);
        let arrived = c.arrived;
        let waiting = c.state == CallerState::Waiting;
        let key = Self::key(c);
        match e.action {
            EscalationAction::WidenLevel(l) => c.min_level = Some(l),
            EscalationAction::RaisePriority(d) => c.priority += d,
            EscalationAction::Overflow(_) => {}
        }
        if waiting {
            self.queues[q].waiting.remove(&(key, caller));
        }
        let mut target = q;
        if let Some(Some(to)) = self.queues[q].overflow_to.get(stage) {
            target = *to;
            let c = self.callers.get_mut(&caller).expect("caller");
            c.queue = target;
            c.stage = 0;
            c.min_level = None;
            self.queues[target].stats.offered += 1;
            out.push(Action::Moved {
                caller,
                to: self.queues[target].cfg.name.clone(),
            });
            if let Some(first) = self.queues[target].cfg.escalations.first() {
                self.arm(now.max(arrived + first.after_ms), TimerKind::Escalate, caller, 0);
            }
        } else if let Some(after) = next {
            self.arm(arrived + after, TimerKind::Escalate, caller, 0);
        }
        if waiting {
            let c = &self.callers[&caller];
            let key = Self::key(c);
            self.queues[target].waiting.insert((key, caller));
            self.route_queue(now, target, out);
        }
    }
}
