//! The ACD inside the switch: queued calls go to the ACD core, its actions become screen pops
//! and state changes on agents' WebSockets, prompts to callers, bridges to softphones and
//! callbacks through the outbound UAC. Agents' commands arrive as [`CenterIn`].
//!
//! Nothing here decides routing; the core does. This file translates.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use acd::{Action, AgentId, AgentState, CallerId, Outcome, Want};
use crm_core::model::{AgentSkill, KbArticle, KbQuery, ScreenPop};
use crm_core::screen_pop::{screen_pop, Lookup};
use crm_core::types::PhoneNumber;
use tokio::sync::mpsc;

use crate::desk::{CenterIn, DeskIn, DeskOut, QueueCount, StateView};
use crate::softphone::{self, Softphone};
use crate::wallboard::{AgentCounts, AgentRow, Live};
use crate::{call, Switch, SwitchIn};
use telephony::media::dtmf;
use telephony::media::prompts::Clip;
use telephony::sip::ua::{CallRef, Output};
use telephony::Time;

/// Play tokens from here up are the switch's own: when such a play ends, the call is hung up.
pub const HANG_UP_AFTER: u64 = 1 << 62;
/// Plays of the switch that need no follow-up.
const SWITCH_PLAY: u64 = 1 << 61;
/// Messages an agent's page may fall behind by before it counts as gone.
pub const DESK_BUFFER: usize = 256;

/// ACD caller numbers of agents' own calls (preview dials) start here, far above any call
/// reference the user agent hands out (and below 2^53, so pages read them exactly).
pub const PREVIEW_CALLERS: u64 = 1 << 40;

/// The screen pop prepared for a call while it is in the IVR, typed until it goes on the wire in
/// [`DeskOut::Offer`].
#[derive(Debug, Clone, Default)]
pub struct Pop {
    pub pop: Option<Box<ScreenPop>>,
    pub articles: Vec<KbArticle>,
}

impl Pop {
    /// The customer the pop is about, if any.
    pub fn customer_id(&self) -> Option<i64> {
        self.pop.as_ref().map(|p| p.customer.id)
    }
}

/// A call in (or handed to) a queue.
#[derive(Debug, Clone)]
pub struct Queued {
    pub queue: String,
    pub skills: Vec<String>,
    /// Whether the ACD runs this queue (else the caller just hears hold music).
    pub in_acd: bool,
    pub since: Time,
    pub callback_offered: bool,
    /// The last announcement said nobody can take the call now (no estimate): the callback
    /// offer or voicemail that follows says so first.
    pub nobody_now: bool,
}

pub struct AgentSession {
    user_id: i64,
    name: String,
    skills: Vec<AgentSkill>,
    tx: mpsc::Sender<DeskOut>,
    session: u64,
    state: AgentState,
    since: Time,
    pending: Option<String>,
    calls: u64,
    talk_ms: u64,
    /// The ACD caller offered to or talking with this agent.
    call: Option<CallerId>,
    queue: Option<String>,
    /// A call whose handling ends with the wrap-up: (queue, talk ms, when the talk ended). The
    /// wallboard's handle time is talk (hold included) plus after-call work.
    handling: Option<(String, u64, Time)>,
}

fn state_name(s: &AgentState) -> (&'static str, Option<String>) {
    match s {
        AgentState::LoggedOut => ("logged_out", None),
        AgentState::Available => ("available", None),
        AgentState::Reserved(_) => ("ringing", None),
        AgentState::OnCall(_) => ("on_call", None),
        AgentState::WrapUp => ("wrap_up", None),
        AgentState::Break(r) => ("break", Some(r.clone())),
        AgentState::NotReady => ("not_ready", None),
    }
}

impl Switch {
    fn ms(&self) -> u64 {
        self.now().ms()
    }

    /// The call that carries an ACD caller: the original call, or its callback.
    fn leg_of(&self, caller: CallerId) -> CallRef {
        self.callback_legs.get(&caller).copied().unwrap_or(caller)
    }

    fn queue_known(&self, queue: &str) -> bool {
        self.queue_defs.iter().any(|q| q.acd.name == queue)
    }

    // ---- screen pop ----

    /// Look the caller up while the IVR talks to them, so the pop is ready when an agent rings.
    pub(super) fn start_pop(&self, call: CallRef, caller: &str) {
        let Ok(phone) = PhoneNumber::parse(caller) else {
            let _ = self.tx.try_send(SwitchIn::Pop {
                call,
                pop: Pop::default(),
            });
            return;
        };
        let store = self.store.clone();
        let tx = self.tx.clone();
        let settings = self.cfg.screen_pop;
        let today = Switch::wall().date_naive();
        tokio::spawn(async move {
            let found = tokio::time::timeout(
                Duration::from_secs(2),
                screen_pop(store.as_ref(), &Lookup::Phone(phone), today, settings),
            )
            .await
            .unwrap_or_else(|_| Err(crm_core::StoreError::Backend("timed out".into())));
            let pop = match found {
                Ok(Some(p)) => {
                    let mut articles: Vec<KbArticle> = vec![];
                    for line in call::pop_lines(&p) {
                        let q = KbQuery {
                            q: None,
                            product_line: Some(line),
                            limit: call::ARTICLES_PER_LINE,
                        };
                        if let Ok(found) = store.search_articles(&q).await {
                            call::add_articles(&mut articles, found);
                        }
                    }
                    Pop {
                        pop: Some(Box::new(p)),
                        articles,
                    }
                }
                Ok(None) => Pop::default(),
                Err(e) => {
                    tracing::error!(error = %e, "screen pop look-up failed");
                    Pop::default()
                }
            };
            let _ = tx.send(SwitchIn::Pop { call, pop }).await;
        });
    }

    pub(super) fn pop_ready(&mut self, call: CallRef, pop: Pop) -> Vec<Output> {
        let Some(c) = self.calls.get_mut(&call) else {
            return vec![];
        };
        if c.customer_id.is_none() {
            c.customer_id = pop.customer_id();
        }
        c.pop = Some(pop);
        // Already ringing an agent without it: send the offer again, now complete.
        let ringing: Vec<AgentId> = self
            .agents
            .iter()
            .filter(|(_, a)| a.state == AgentState::Reserved(call))
            .map(|(id, _)| *id)
            .collect();
        for agent in ringing {
            self.send_offer(call, agent);
        }
        vec![]
    }

    fn send_offer(&mut self, caller: CallerId, agent: AgentId) {
        let leg = self.leg_of(caller);
        let now = self.now();
        let Some(c) = self.calls.get(&leg) else { return };
        // The offer rings with the screen pop: until the look-up has answered (or given up),
        // it waits, and `pop_ready` sends it.
        let Some(pop) = c.pop.clone() else { return };
        let q = c.queued.as_ref();
        let invite_wall = Switch::wall() - chrono::Duration::from_std(c.invite_at.elapsed()).unwrap_or_default();
        // On a callback the customer is the one we called.
        let customer_number = match c.direction {
            crm_core::model::Direction::Outbound => c.called.clone(),
            _ => c.caller.clone(),
        };
        let msg = DeskOut::Offer {
            call: caller,
            caller: customer_number,
            queue: q.map(|q| q.queue.clone()).unwrap_or_default(),
            skills: q.map(|q| q.skills.clone()).unwrap_or_default(),
            ivr_path: c.ivr.as_ref().map(|i| i.path()).unwrap_or_default(),
            waited_seconds: q
                .map(|q| now.0.saturating_sub(q.since.0) as f64 / 1000.0)
                .unwrap_or(0.0),
            invite_at_us: invite_wall.timestamp_micros(),
            pop: pop.pop,
            articles: pop.articles,
            callback: c.callback_for.is_some(),
        };
        self.send_agent(agent, msg);
    }

    fn send_agent(&self, agent: AgentId, msg: DeskOut) {
        if let Some(a) = self.agents.get(&agent) {
            if a.tx.try_send(msg).is_err() {
                tracing::warn!(agent = a.user_id, "an agent's page is not reading its messages");
            }
        }
    }

    // ---- callers ----

    /// The IVR hands the call to a queue.
    pub(super) async fn enqueue(
        &mut self,
        call: CallRef,
        queue: &str,
        skills: Vec<String>,
        min_level: u8,
        priority: i32,
    ) -> Vec<Output> {
        let in_acd = self.queue_known(queue);
        let since = self.now();
        let Some(c) = self.calls.get_mut(&call) else {
            return vec![];
        };
        c.queued = Some(Queued {
            queue: queue.to_string(),
            skills: skills.clone(),
            in_acd,
            since,
            callback_offered: false,
            nobody_now: false,
        });
        if !in_acd {
            tracing::warn!(%queue, "the IVR queued a call to a queue not in queues.toml; it waits on hold");
            return vec![];
        }
        self.tally.offered(Switch::wall(), queue);
        let level = min_level.clamp(1, 5);
        self.acd_input(acd::Input::CallerArrived {
            caller: call,
            queue: queue.to_string(),
            priority,
            skills: skills.into_iter().map(|s| (s, level)).collect(),
        })
        .await
    }

    /// A key from the caller: the callback choice while queued, else the IVR's.
    pub(super) async fn digit(&mut self, call: CallRef, digit: char) -> Vec<Output> {
        let offered = self
            .calls
            .get(&call)
            .and_then(|c| c.queued.as_ref())
            .is_some_and(|q| q.in_acd && q.callback_offered);
        if offered && digit == '1' && self.calls.get(&call).is_some_and(|c| c.agent.is_none()) {
            return self.acd_input(acd::Input::CallbackRequested { caller: call }).await;
        }
        self.ivr_commands_for(call, telephony::ivr::engine::Input::Digit(digit))
            .await
    }

    /// The call is ending (either side hung up): tell the ACD and the agent.
    pub(super) async fn left_call(&mut self, call: CallRef) -> Vec<Output> {
        let Some(c) = self.calls.get(&call) else { return vec![] };
        let caller = c.callback_for.unwrap_or(call);
        let in_acd = c.queued.as_ref().is_some_and(|q| q.in_acd) || (c.callback_for.is_some() && !c.agent_ended);
        let call_id = c.call_id.clone();
        if let Some((agent, _)) = c.agent {
            if self.agent_part_ends(call, agent) {
                self.send_agent(
                    agent,
                    DeskOut::Ended {
                        call: caller,
                        by: "caller".into(),
                        call_id,
                    },
                );
            }
        }
        if in_acd && !self.callback_numbers.contains_key(&caller) {
            return self.acd_input(acd::Input::CallerHungUp { caller }).await;
        }
        vec![]
    }

    /// A callback call ended before it was answered: the ACD hears it failed.
    pub(super) async fn after_callback_ended(&mut self, call: CallRef) -> Vec<Output> {
        let Some((&caller, _)) = self.callback_legs.iter().find(|(_, leg)| **leg == call) else {
            return vec![];
        };
        self.callback_legs.remove(&caller);
        self.acd_input(acd::Input::CallbackFailed { caller }).await
    }

    pub(super) async fn callback_answered(&mut self, call: CallRef, caller: CallerId) -> Vec<Output> {
        if self.preview_callers.contains(&caller) {
            // The agent speaks first on their own call.
            return self.acd_input(acd::Input::CallbackConnected { caller }).await;
        }
        self.stats.callbacks_connected.fetch_add(1, Ordering::Relaxed);
        if let Some(m) = self.calls.get(&call).and_then(|c| c.media.as_ref()) {
            let clips: Vec<_> = ["callback_hello"]
                .iter()
                .filter_map(|p| self.library.prompts().get(p))
                .collect();
            m.play(SWITCH_PLAY, clips);
        }
        self.acd_input(acd::Input::CallbackConnected { caller }).await
    }

    fn play(&self, call: CallRef, prompts: &[String], token: u64) {
        if let Some(m) = self.calls.get(&call).and_then(|c| c.media.as_ref()) {
            let lib = self.library.prompts();
            m.play(token, prompts.iter().filter_map(|p| lib.get(p)).collect());
        }
    }

    fn hold_music(&self, call: CallRef) {
        let Some(c) = self.calls.get(&call) else { return };
        let hold = c
            .ivr
            .as_ref()
            .and_then(|i| i.hold_music())
            .and_then(|name| self.library.prompts().get(name));
        if let Some(m) = &c.media {
            m.hold(hold);
        }
    }

    // ---- the core ----

    pub(super) async fn acd_input(&mut self, input: acd::Input) -> Vec<Output> {
        let actions = self.acd.handle(self.ms(), input);
        self.apply(actions).await
    }

    pub(super) async fn acd_tick(&mut self) -> Vec<Output> {
        let actions = self.acd.tick(self.ms());
        self.apply(actions).await
    }

    async fn apply(&mut self, actions: Vec<Action>) -> Vec<Output> {
        let mut sip = vec![];
        let mut actions: std::collections::VecDeque<Action> = actions.into();
        while let Some(a) = actions.pop_front() {
            match a {
                Action::Offer { caller, agent } => {
                    if let Some(s) = self.agents.get_mut(&agent) {
                        s.call = Some(caller);
                    }
                    self.send_offer(caller, agent);
                }
                Action::Withdraw { caller, agent } => {
                    if let Some(s) = self.agents.get_mut(&agent) {
                        if s.call == Some(caller) {
                            s.call = None;
                        }
                    }
                    self.send_agent(agent, DeskOut::Withdrawn { call: caller });
                }
                Action::Connected { caller, agent } => {
                    let leg = self.leg_of(caller);
                    let now = self.now();
                    if let Some(c) = self.calls.get_mut(&leg) {
                        c.agent = Some((agent, now));
                        let waited = c.queued.as_ref().map(|q| now.since(q.since));
                        c.queue_wait_ms = waited.map(|w| w as i64);
                        if let (Some(q), Some(w)) = (c.queued.as_ref(), waited) {
                            let queue = q.queue.clone();
                            c.answered_within_sl = call::within_service_level(w, self.tally.threshold_ms(&queue));
                            self.tally.answered(Switch::wall(), &queue, w);
                        }
                        if let Some(m) = &c.media {
                            // A callback's greeting plays out; queue announcements stop.
                            if leg == caller {
                                m.stop();
                            }
                            m.hold(None);
                        }
                    }
                    if let Some(s) = self.agents.get_mut(&agent) {
                        s.calls += 1;
                        s.call = Some(caller);
                        s.queue = self
                            .calls
                            .get(&leg)
                            .and_then(|c| c.queued.as_ref())
                            .map(|q| q.queue.clone());
                    }
                    self.send_agent(agent, DeskOut::Connected { call: caller });
                }
                Action::AgentState { agent, state } => {
                    let now = self.now();
                    let Some(s) = self.agents.get_mut(&agent) else { continue };
                    if s.state != state {
                        s.since = now;
                    }
                    if state != AgentState::WrapUp {
                        if let Some((queue, talk, ended)) = s.handling.take() {
                            self.tally.handled(Switch::wall(), &queue, talk + now.since(ended));
                        }
                    }
                    let Some(s) = self.agents.get_mut(&agent) else { continue };
                    if !matches!(state, AgentState::OnCall(_) | AgentState::Reserved(_)) {
                        s.call = None;
                    }
                    if matches!(
                        state,
                        AgentState::Available | AgentState::LoggedOut | AgentState::Break(_) | AgentState::NotReady
                    ) {
                        s.pending = None;
                    }
                    s.state = state;
                    let view = self.state_view(agent);
                    self.send_agent(agent, DeskOut::State(view));
                }
                Action::Announce {
                    caller,
                    position,
                    ewt_ms,
                } => {
                    let prompts = call::announcement(position, ewt_ms);
                    if let Some(q) = self.calls.get_mut(&caller).and_then(|c| c.queued.as_mut()) {
                        q.nobody_now = ewt_ms.is_none();
                    }
                    self.play(caller, &prompts, SWITCH_PLAY);
                    self.stats.announcements.fetch_add(1, Ordering::Relaxed);
                }
                Action::OfferCallback { caller } => {
                    let mut prompts = vec![];
                    if let Some(q) = self.calls.get_mut(&caller).and_then(|c| c.queued.as_mut()) {
                        q.callback_offered = true;
                        if q.nobody_now {
                            prompts.push("nobody_available".to_string());
                        }
                    }
                    prompts.push("queue_callback_offer".to_string());
                    self.play(caller, &prompts, SWITCH_PLAY);
                }
                Action::ReleaseForCallback { caller } => {
                    self.note_queue_wait(caller);
                    self.stats.callbacks_requested.fetch_add(1, Ordering::Relaxed);
                    if let Some(c) = self.calls.get_mut(&caller) {
                        self.callback_numbers.insert(caller, (c.caller.clone(), c.pop.clone()));
                        if let Some(ivr) = c.ivr.as_mut() {
                            ivr.set_outcome("voicemail");
                        }
                    }
                    if let Some(m) = self.calls.get(&caller).and_then(|c| c.media.as_ref()) {
                        m.stop();
                        m.hold(None);
                    }
                    self.play(caller, &["callback_confirmed".to_string()], HANG_UP_AFTER);
                }
                Action::DialCallback { caller, agent } => {
                    let number = self.callback_numbers.remove(&caller);
                    let pop = number.as_ref().and_then(|(_, p)| p.clone());
                    let placed = match number {
                        Some((n, _)) => self
                            .dial_with(&n, None, Some(caller), None)
                            .map_err(|e| format!("{e:?}")),
                        None => Err("no number to call back".into()),
                    };
                    match placed {
                        Ok((leg, _, outs)) => {
                            // The screen pop learned on the first call serves the callback.
                            if let Some(c) = self.calls.get_mut(&leg) {
                                c.customer_id = pop.as_ref().and_then(Pop::customer_id);
                                c.pop = pop;
                            }
                            self.stats.callbacks_placed.fetch_add(1, Ordering::Relaxed);
                            sip.extend(outs);
                            self.callback_legs.insert(caller, leg);
                            if self.preview_callers.contains(&caller) {
                                // An agent's own call: no queue figures, no wallboard count.
                                if let Some(s) = self.agents.get_mut(&agent) {
                                    s.call = Some(caller);
                                }
                                self.send_offer(caller, agent);
                                continue;
                            }
                            let queued = Queued {
                                queue: self.acd.queue_of(caller).unwrap_or_default(),
                                skills: vec![],
                                in_acd: false,
                                since: self.now(),
                                callback_offered: false,
                                nobody_now: false,
                            };
                            if let Some(c) = self.calls.get_mut(&leg) {
                                c.queued = Some(queued);
                            }
                            if let Some(s) = self.agents.get_mut(&agent) {
                                s.call = Some(caller);
                            }
                            // The page shows the callback and connects its softphone now.
                            self.send_offer(caller, agent);
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "callback could not be placed");
                            let more = self.acd.handle(self.ms(), acd::Input::CallbackFailed { caller });
                            actions.extend(more);
                        }
                    }
                }
                Action::Moved { caller, to } => {
                    if let Some(q) = self.calls.get_mut(&caller).and_then(|c| c.queued.as_mut()) {
                        q.queue = to.clone();
                    }
                    self.tally.offered(Switch::wall(), &to);
                }
                Action::Left { caller, outcome } => match (self.preview_callers.remove(&caller), outcome) {
                    (true, _) => {}
                    (false, outcome) => match outcome {
                        Outcome::Abandoned => {
                            self.note_queue_wait(caller);
                            if let Some(q) = self.calls.get(&caller).and_then(|c| c.queued.as_ref()) {
                                let queue = q.queue.clone();
                                self.tally.abandoned(Switch::wall(), &queue);
                            }
                        }
                        Outcome::Voicemail => {
                            self.note_queue_wait(caller);
                            // The queue's maximum wait: a message instead, then goodbye.
                            if let Some(ivr) = self.calls.get_mut(&caller).and_then(|c| c.ivr.as_mut()) {
                                ivr.set_outcome("voicemail");
                            }
                            if let Some(m) = self.calls.get(&caller).and_then(|c| c.media.as_ref()) {
                                m.stop();
                                m.hold(None);
                            }
                            let nobody = self
                                .calls
                                .get(&caller)
                                .and_then(|c| c.queued.as_ref())
                                .is_some_and(|q| q.nobody_now);
                            let mut prompts = vec![];
                            if nobody {
                                prompts.push("nobody_available".to_string());
                            }
                            prompts.extend(["voicemail".to_string(), "beep".to_string()]);
                            self.play(caller, &prompts, SWITCH_PLAY);
                            self.start_voicemail(caller);
                        }
                        Outcome::Answered(_) | Outcome::CalledBack(_) | Outcome::CallbackFailed => {}
                    },
                },
                Action::Returned { caller } => {
                    // The agent vanished mid-call: the caller waits again.
                    let leg = self.leg_of(caller);
                    if let Some(c) = self.calls.get_mut(&leg) {
                        c.agent = None;
                        if let Some(p) = c.softphone.take() {
                            tokio::spawn(p.close());
                        }
                        if let Some(m) = &c.media {
                            m.bridge(None);
                        }
                    }
                    self.hold_music(leg);
                }
            }
        }
        sip
    }

    /// The agent is done with this call (hung up or transferred): count the talk time once, stop
    /// the softphone and the bridge. False when it was already done.
    fn agent_part_ends(&mut self, leg: CallRef, agent: AgentId) -> bool {
        let now = self.now();
        let Some(c) = self.calls.get_mut(&leg) else {
            return false;
        };
        if c.agent_ended {
            return false;
        }
        let Some((_, at)) = c.agent else { return false };
        c.agent_ended = true;
        let talk = now.0.saturating_sub(at.0);
        let queue = c.queued.as_ref().map(|q| q.queue.clone()).unwrap_or_default();
        if let Some(q) = c.queued.as_mut() {
            // The ACD hears of this call's end from the agent's side only.
            q.in_acd = false;
        }
        if let Some(p) = c.softphone.take() {
            tokio::spawn(p.close());
        }
        if let Some(m) = &c.media {
            m.bridge(None);
        }
        if let Some(s) = self.agents.get_mut(&agent) {
            s.talk_ms += talk;
            // Counted when the wrap-up ends (the ACD's next state for the agent).
            if let Some((queue, talk, ended)) = s.handling.replace((queue, talk, now)) {
                self.tally.handled(Switch::wall(), &queue, talk + now.since(ended));
            }
        }
        true
    }

    /// How long a caller who left the queue without an agent waited (for the call record).
    fn note_queue_wait(&mut self, call: CallRef) {
        let now = self.now();
        if let Some(c) = self.calls.get_mut(&call) {
            if c.queue_wait_ms.is_none() {
                c.queue_wait_ms = c.queued.as_ref().map(|q| now.0.saturating_sub(q.since.0) as i64);
            }
        }
    }

    fn start_voicemail(&mut self, call: CallRef) {
        let Some(c) = self.calls.get(&call) else { return };
        let path = self.cfg.voicemail_dir.join(format!(
            "{}-{}.wav",
            Switch::wall().format("%Y%m%dT%H%M%S"),
            crate::file_safe(&c.call_id)
        ));
        if let Some(m) = &c.media {
            m.capture(Some(path.clone()));
        }
        if let Some(c) = self.calls.get_mut(&call) {
            c.voicemail = Some(path);
        }
        // Two minutes of message at most.
        let at = Time(self.now().0 + 120_000);
        self.timers.insert((at, call, HANG_UP_AFTER));
    }

    fn state_view(&self, agent: AgentId) -> StateView {
        let s = &self.agents[&agent];
        let (state, reason) = state_name(&s.state);
        StateView {
            state: state.into(),
            reason,
            pending: s.pending.clone(),
        }
    }

    // ---- agents ----

    pub(super) async fn center(&mut self, m: CenterIn) -> Vec<Output> {
        match m {
            CenterIn::Connect {
                user,
                skills,
                tx,
                reply,
            } => {
                let agent = user.id as AgentId;
                self.next_session += 1;
                let session = self.next_session;
                let queues = self.queue_defs.iter().map(|q| q.acd.name.clone()).collect();
                let hello = DeskOut::Hello {
                    agent: user.id,
                    name: user.display_name.clone(),
                    skills: skills.clone(),
                    queues,
                };
                let _ = tx.try_send(hello);
                let now = self.now();
                if let Some(s) = self.agents.get_mut(&agent) {
                    // The page reconnected (reload): it takes over the session as it stands.
                    s.tx = tx;
                    s.session = session;
                    let _ = reply.send(Ok(session));
                    let view = self.state_view(agent);
                    self.send_agent(agent, DeskOut::State(view));
                    if let Some(caller) = self.agents[&agent].call {
                        if matches!(self.agents[&agent].state, AgentState::Reserved(_)) {
                            self.send_offer(caller, agent);
                        }
                    }
                    return vec![];
                }
                self.agents.insert(
                    agent,
                    AgentSession {
                        user_id: user.id,
                        name: user.display_name,
                        skills: skills.clone(),
                        tx,
                        session,
                        state: AgentState::LoggedOut,
                        since: now,
                        pending: None,
                        calls: 0,
                        talk_ms: 0,
                        call: None,
                        queue: None,
                        handling: None,
                    },
                );
                let _ = reply.send(Ok(session));
                self.acd_input(acd::Input::AgentLogin {
                    agent,
                    skills: skills.into_iter().map(|s| (s.skill, s.level)).collect(),
                })
                .await
            }
            CenterIn::Disconnect { user_id, session } => {
                let agent = user_id as AgentId;
                if self.agents.get(&agent).map(|a| a.session) != Some(session) {
                    return vec![];
                }
                tracing::info!(agent = user_id, "agent desk closed");
                let mut outs = vec![];
                // A call the agent was talking on is hung up: the caller is not left in silence.
                if let Some(AgentState::OnCall(caller)) = self.acd.agent_state(agent).cloned() {
                    let leg = self.leg_of(caller);
                    let now = self.now();
                    outs.extend(self.ua.hangup(now, leg));
                }
                outs.extend(self.acd_input(acd::Input::AgentGone { agent }).await);
                self.agents.remove(&agent);
                outs
            }
            CenterIn::PreviewDial {
                user_id,
                session,
                task,
                queue,
                number,
                pop,
            } => {
                let agent = user_id as AgentId;
                if self.agents.get(&agent).map(|a| a.session) != Some(session) {
                    return vec![];
                }
                if self.acd.agent_state(agent) != Some(&AgentState::Available) {
                    return self.error(agent, "be available to place a call");
                }
                let queue = if self.queue_known(&queue) {
                    queue
                } else {
                    "general".to_string()
                };
                if !self.queue_known(&queue) {
                    return self.error(agent, "no queue to place the call under");
                }
                self.preview_seq += 1;
                let caller = PREVIEW_CALLERS + self.preview_seq;
                let customer = pop.as_ref().map(|p| p.customer.id);
                tracing::info!(agent = user_id, task, customer, "preview dial");
                self.callback_numbers
                    .insert(caller, (number, Some(Pop { pop, articles: vec![] })));
                self.preview_callers.insert(caller);
                self.acd_input(acd::Input::PreviewDial { agent, caller, queue }).await
            }
            CenterIn::Command { user_id, session, cmd } => {
                let agent = user_id as AgentId;
                if self.agents.get(&agent).map(|a| a.session) != Some(session) {
                    return vec![];
                }
                self.command(agent, cmd).await
            }
        }
    }

    fn error(&self, agent: AgentId, message: impl Into<String>) -> Vec<Output> {
        self.send_agent(
            agent,
            DeskOut::Error {
                message: message.into(),
            },
        );
        vec![]
    }

    async fn command(&mut self, agent: AgentId, cmd: DeskIn) -> Vec<Output> {
        let current = self.acd.agent_state(agent).cloned().unwrap_or(AgentState::LoggedOut);
        match cmd {
            DeskIn::State { state, reason } => {
                let want = match state.as_str() {
                    "available" => Want::Available,
                    "break" => Want::Break(
                        reason
                            .clone()
                            .unwrap_or_else(|| "break".into())
                            .chars()
                            .take(40)
                            .collect(),
                    ),
                    "logged_out" => Want::LoggedOut,
                    _ => return self.error(agent, "state: available, break or logged_out"),
                };
                if matches!(
                    current,
                    AgentState::OnCall(_) | AgentState::WrapUp | AgentState::Reserved(_)
                ) {
                    if let Some(s) = self.agents.get_mut(&agent) {
                        s.pending = Some(state);
                    }
                    let view = self.state_view(agent);
                    self.send_agent(agent, DeskOut::State(view));
                }
                self.acd_input(acd::Input::AgentWants { agent, want }).await
            }
            DeskIn::Answer { call, sdp } => {
                // A callback may connect before the page answers; the page then only brings
                // its softphone (as it may after a reload).
                if current == AgentState::OnCall(call) {
                    let leg = self.leg_of(call);
                    let without_audio = self.calls.get(&leg).is_some_and(|c| c.softphone.is_none());
                    return match sdp {
                        Some(offer) if without_audio => self.start_softphone(call, agent, offer),
                        _ => vec![],
                    };
                }
                if current != AgentState::Reserved(call) {
                    return self.error(agent, "that call is not offered to you (any more)");
                }
                let mut outs = self.acd_input(acd::Input::Answered { agent, caller: call }).await;
                if let Some(offer) = sdp {
                    outs.extend(self.start_softphone(call, agent, offer));
                }
                outs
            }
            DeskIn::Decline { call } => {
                if current != AgentState::Reserved(call) {
                    return vec![];
                }
                self.acd_input(acd::Input::Declined { agent, caller: call }).await
            }
            DeskIn::Hangup => {
                let AgentState::OnCall(caller) = current else {
                    return self.error(agent, "no call to hang up");
                };
                let leg = self.leg_of(caller);
                let ended = self.agent_part_ends(leg, agent);
                let call_id = self.calls.get(&leg).map(|c| c.call_id.clone()).unwrap_or_default();
                if ended {
                    self.send_agent(
                        agent,
                        DeskOut::Ended {
                            call: caller,
                            by: "agent".into(),
                            call_id,
                        },
                    );
                }
                let mut outs = self.acd_input(acd::Input::CallerHungUp { caller }).await;
                self.callback_legs.remove(&caller);
                let now = self.now();
                outs.extend(self.ua.hangup(now, leg));
                outs
            }
            DeskIn::Hold { on } => {
                let AgentState::OnCall(caller) = current else {
                    return self.error(agent, "no call to hold");
                };
                let leg = self.leg_of(caller);
                if let Some(m) = self.calls.get(&leg).and_then(|c| c.media.as_ref()) {
                    m.pause_bridge(on);
                }
                if on {
                    self.hold_music(leg);
                } else if let Some(m) = self.calls.get(&leg).and_then(|c| c.media.as_ref()) {
                    m.hold(None);
                }
                vec![]
            }
            DeskIn::Dtmf { digits } => {
                let AgentState::OnCall(caller) = current else {
                    return self.error(agent, "no call for tones");
                };
                if digits.is_empty()
                    || digits.len() > 32
                    || !digits.chars().all(|d| dtmf::is_key(d.to_ascii_uppercase()))
                {
                    return self.error(agent, "digits: 1 to 32 of 0-9, *, #, A-D");
                }
                let leg = self.leg_of(caller);
                if let Some(m) = self.calls.get(&leg).and_then(|c| c.media.as_ref()) {
                    m.play(
                        SWITCH_PLAY,
                        vec![Arc::new(Clip::from_samples("dtmf", dtmf::tones(&digits)))],
                    );
                }
                vec![]
            }
            DeskIn::Transfer { queue } => {
                let AgentState::OnCall(caller) = current else {
                    return self.error(agent, "no call to transfer");
                };
                if !self.queue_known(&queue) {
                    return self.error(agent, format!("queue: no queue named {queue:?}"));
                }
                let leg = self.leg_of(caller);
                if leg != caller {
                    return self.error(agent, "a callback cannot be transferred");
                }
                let call_id = self.calls.get(&leg).map(|c| c.call_id.clone()).unwrap_or_default();
                self.agent_part_ends(leg, agent);
                let skills = match self.calls.get_mut(&leg) {
                    Some(c) => {
                        // The next agent starts afresh; the record keeps the last one.
                        c.agent_ended = false;
                        c.queued.as_ref().map(|q| q.skills.clone()).unwrap_or_default()
                    }
                    None => vec![],
                };
                self.send_agent(
                    agent,
                    DeskOut::Ended {
                        call: caller,
                        by: "transfer".into(),
                        call_id,
                    },
                );
                // The agent's part ends here (wrap-up follows); the caller queues anew.
                let mut outs = self.acd_input(acd::Input::CallerHungUp { caller }).await;
                self.hold_music(leg);
                outs.extend(self.enqueue(leg, &queue, skills, 1, 1).await);
                outs
            }
            DeskIn::WrapUpDone => self.acd_input(acd::Input::WrapUpDone { agent }).await,
            // Checked and looked up by the desk socket first (`CenterIn::PreviewDial`).
            DeskIn::PreviewDial { .. } => self.error(agent, "preview dials go through the desk socket"),
        }
    }

    // ---- softphone ----

    fn start_softphone(&mut self, caller: CallerId, agent: AgentId, offer: String) -> Vec<Output> {
        let leg = self.leg_of(caller);
        let Some(media) = self.calls.get(&leg).and_then(|c| c.media.as_ref()) else {
            return vec![];
        };
        let codec = media.codec();
        let (tap, from_caller) = mpsc::unbounded_channel();
        let feeder = media.bridge(Some(tap));
        let public_ip = self.cfg.public_ip;
        let bind_ip = self.cfg.sip.ip();
        let tx = self.tx.clone();
        tokio::spawn(async move {
            let result = tokio::time::timeout(
                Duration::from_secs(10),
                softphone::answer(offer, codec, bind_ip, public_ip, from_caller, feeder),
            )
            .await
            .map_err(|_| "the softphone answer timed out".to_string())
            .and_then(|r| r.map_err(|e| e.to_string()));
            let _ = tx
                .send(SwitchIn::Softphone {
                    call: leg,
                    agent,
                    result,
                })
                .await;
        });
        vec![]
    }

    pub(super) async fn softphone_ready(
        &mut self,
        call: CallRef,
        agent: AgentId,
        result: Result<(Softphone, String), String>,
    ) {
        let caller = self
            .callback_legs
            .iter()
            .find(|(_, l)| **l == call)
            .map(|(c, _)| *c)
            .unwrap_or(call);
        match result {
            Ok((phone, sdp)) => {
                let still =
                    self.calls.contains_key(&call) && self.agents.get(&agent).and_then(|a| a.call) == Some(caller);
                if !still {
                    phone.close().await;
                    return;
                }
                if let Some(c) = self.calls.get_mut(&call) {
                    c.softphone = Some(phone);
                }
                self.send_agent(agent, DeskOut::Media { call: caller, sdp });
            }
            Err(e) => {
                tracing::warn!(error = %e, "softphone could not be connected");
                self.send_agent(
                    agent,
                    DeskOut::Error {
                        message: format!("softphone: {e}"),
                    },
                );
            }
        }
    }

    // ---- wallboard ----

    fn live(&self) -> HashMap<String, Live> {
        let now = self.now();
        let mut live: HashMap<String, Live> = HashMap::new();
        for def in &self.queue_defs {
            let name = &def.acd.name;
            let mut l = Live::default();
            for c in self.calls.values() {
                let Some(q) = &c.queued else { continue };
                if q.in_acd && &q.queue == name && c.agent.is_none() {
                    l.waiting += 1;
                    l.longest_wait_ms = l.longest_wait_ms.max(now.0.saturating_sub(q.since.0));
                }
            }
            let mut counts = AgentCounts::default();
            for a in self.agents.values() {
                let qualifies = def
                    .acd
                    .skills
                    .iter()
                    .all(|(s, lvl)| a.skills.iter().any(|k| &k.skill == s && k.level >= *lvl));
                if !qualifies {
                    continue;
                }
                match a.state {
                    AgentState::LoggedOut => continue,
                    AgentState::Available => counts.available += 1,
                    AgentState::Reserved(_) => counts.ringing += 1,
                    AgentState::OnCall(_) => counts.on_call += 1,
                    AgentState::WrapUp => counts.wrap_up += 1,
                    AgentState::Break(_) => counts.on_break += 1,
                    AgentState::NotReady => counts.not_ready += 1,
                }
                counts.logged_in += 1;
            }
            l.agents = counts;
            live.insert(name.clone(), l);
        }
        live
    }

    pub(super) fn publish_wallboard(&mut self) {
        let now = self.now();
        let live = self.live();
        let mut rows: Vec<AgentRow> = self
            .agents
            .values()
            .map(|a| {
                let (state, reason) = state_name(&a.state);
                AgentRow {
                    id: a.user_id,
                    name: a.name.clone(),
                    state: state.into(),
                    reason,
                    state_seconds: now.0.saturating_sub(a.since.0) as f64 / 1000.0,
                    calls: a.calls,
                    talk_seconds: a.talk_ms as f64 / 1000.0,
                    queue: if matches!(a.state, AgentState::OnCall(_)) {
                        a.queue.clone()
                    } else {
                        None
                    },
                }
            })
            .collect();
        rows.sort_by(|a, b| a.name.cmp(&b.name));
        let board = self.tally.board(Switch::wall(), &live, rows);
        let counts = QueueCount::from_board(&board);
        self.wall_tx.send_replace(Arc::new(board));
        for id in self.agents.keys().copied().collect::<Vec<_>>() {
            self.send_agent(id, DeskOut::Queues { queues: counts.clone() });
        }
        self.stats
            .agents_connected
            .store(self.agents.len() as u64, Ordering::Relaxed);
    }
}

impl QueueCount {
    fn from_board(b: &crate::wallboard::Wallboard) -> Vec<QueueCount> {
        b.queues
            .iter()
            .map(|q| QueueCount {
                name: q.name.clone(),
                waiting: q.waiting,
                longest_wait_seconds: q.longest_wait_seconds,
                agents_available: q.agents.available,
            })
            .collect()
    }
}
