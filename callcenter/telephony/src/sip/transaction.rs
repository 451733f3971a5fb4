//! RFC 3261 §17 transactions (with the RFC 6026 Accepted state), as a core without IO or clock:
//! the caller passes `now` with every event and carries out the returned actions — send this,
//! hand that to the transaction user, report a timeout. Timers are kept inside as deadlines;
//! `next_deadline` tells the adapter when to call `tick`.
//!
//! Timer values (milliseconds): T1 = 500, T2 = 4000, T4 = 5000. Over a reliable transport (TCP)
//! nothing is retransmitted and the wait states (D, I, J, K) last zero time.

use std::collections::{BTreeSet, HashMap};

use super::message::{Header, Message, StartLine};

pub const T1: u64 = 500;
pub const T2: u64 = 4_000;
pub const T4: u64 = 5_000;

pub use crate::time::Time;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    ClientInvite,
    ClientNonInvite,
    ServerInvite,
    ServerNonInvite,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Calling,
    Trying,
    Proceeding,
    Completed,
    Confirmed,
    Accepted,
}

/// A transaction's identity (RFC 3261 §17.1.3, §17.2.3): the top Via's branch and sent-by,
/// and the method (an ACK belongs to its INVITE's). Two requests from different hosts with the
/// same branch are different transactions. A request whose branch lacks the magic cookie
/// `z9hG4bK` (RFC 2543) is named by its own fields instead: From tag, Call-ID, CSeq number and
/// the whole top Via (all of which its responses and its ACK repeat).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    pub branch: String,
    pub sent_by: String,
    pub method: String,
}

/// RFC 3261's branch prefix: a branch that starts with it is unique per transaction.
pub const MAGIC_COOKIE: &str = "z9hG4bK";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    A,
    B,
    D,
    E,
    F,
    G,
    H,
    I,
    J,
    K,
    L,
    M,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Put this message on the wire.
    Send(Message),
    /// Hand to the transaction user: a new request (server side) or a response (client side).
    Deliver(Message),
    /// The transaction gave up: no final response (client, Timer B/F) or no ACK (server, Timer H).
    Timeout(Key),
    /// The transaction is gone.
    Terminated(Key),
}

struct Txn {
    id: u64,
    kind: Kind,
    state: State,
    request: Message,
    last_response: Option<Message>,
    ack: Option<Message>,
    /// Current retransmission interval of Timer A, E or G.
    interval: u64,
}

/// All transactions of one transport (reliable or not).
pub struct Transactions {
    reliable: bool,
    txns: HashMap<Key, Txn>,
    timers: BTreeSet<(Time, u64, Timer, Key)>,
    next_id: u64,
}

pub fn key_of(m: &Message) -> Option<Key> {
    let method = match &m.start {
        StartLine::Request { method, .. } => method.clone(),
        StartLine::Response { .. } => m.cseq()?.1.to_string(),
    };
    let method = if method == "ACK" { "INVITE".to_string() } else { method };
    let sent_by = m.sent_by()?;
    let branch = match m.branch() {
        Some(b) if b.starts_with(MAGIC_COOKIE) => b.to_string(),
        _ => {
            let from_tag = m.header("From").and_then(param_tag).unwrap_or("");
            format!(
                "rfc2543;{from_tag};{};{};{}",
                m.header("Call-ID")?,
                m.cseq()?.0,
                m.values("Via").next()?
            )
        }
    };
    Some(Key {
        branch,
        sent_by,
        method,
    })
}

/// The `tag` parameter of a From or To value.
fn param_tag(v: &str) -> Option<&str> {
    let after = v.rsplit_once('>').map_or(v, |(_, a)| a);
    after.split(';').skip(1).find_map(|p| {
        let (k, val) = p.split_once('=')?;
        k.trim().eq_ignore_ascii_case("tag").then(|| val.trim())
    })
}

impl Transactions {
    pub fn new(reliable: bool) -> Self {
        Transactions {
            reliable,
            txns: HashMap::new(),
            timers: BTreeSet::new(),
            next_id: 1,
        }
    }

    pub fn state(&self, key: &Key) -> Option<State> {
        self.txns.get(key).map(|t| t.state)
    }

    pub fn len(&self) -> usize {
        self.txns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.txns.is_empty()
    }

    /// When `tick` must next be called.
    pub fn next_deadline(&self) -> Option<Time> {
        self.timers.iter().next().map(|(t, ..)| *t)
    }

    fn arm(&mut self, key: &Key, id: u64, at: Time, timer: Timer) {
        self.timers.insert((at, id, timer, key.clone()));
    }

    fn insert(&mut self, key: Key, kind: Kind, state: State, request: Message) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        self.txns.insert(
            key,
            Txn {
                id,
                kind,
                state,
                request,
                last_response: None,
                ack: None,
                interval: T1,
            },
        );
        id
    }

    fn terminate(&mut self, key: &Key, out: &mut Vec<Action>) {
        if self.txns.remove(key).is_some() {
            out.push(Action::Terminated(key.clone()));
        }
    }

    /// Wait `ms` in a state (zero over a reliable transport ends it at once).
    fn linger(&mut self, key: &Key, id: u64, now: Time, ms: u64, timer: Timer, out: &mut Vec<Action>) {
        if self.reliable {
            self.terminate(key, out);
        } else {
            self.arm(key, id, now.after(ms), timer);
        }
    }

    /// The transaction user sends a request: start a client transaction (an ACK is sent as is).
    pub fn send_request(&mut self, now: Time, request: Message) -> Vec<Action> {
        let mut out = vec![Action::Send(request.clone())];
        let Some(key) = key_of(&request) else { return out };
        if request.method() == Some("ACK") {
            return out;
        }
        let invite = request.method() == Some("INVITE");
        let (kind, state) = if invite {
            (Kind::ClientInvite, State::Calling)
        } else {
            (Kind::ClientNonInvite, State::Trying)
        };
        let id = self.insert(key.clone(), kind, state, request);
        if !self.reliable {
            self.arm(&key, id, now.after(T1), if invite { Timer::A } else { Timer::E });
        }
        self.arm(&key, id, now.after(64 * T1), if invite { Timer::B } else { Timer::F });
        out.truncate(1);
        out
    }

    /// The transaction user answers a request it was handed.
    pub fn send_response(&mut self, now: Time, response: Message) -> Vec<Action> {
        let mut out = vec![];
        let (Some(key), Some(code)) = (key_of(&response), response.status()) else {
            return out;
        };
        let Some(t) = self.txns.get_mut(&key) else {
            return out;
        };
        let id = t.id;
        match (t.kind, t.state) {
            (Kind::ServerInvite, State::Proceeding) => {
                t.last_response = Some(response.clone());
                out.push(Action::Send(response));
                if (200..300).contains(&code) {
                    t.state = State::Accepted;
                    self.arm(&key, id, now.after(64 * T1), Timer::L);
                } else if code >= 300 {
                    t.state = State::Completed;
                    t.interval = T1;
                    if !self.reliable {
                        self.arm(&key, id, now.after(T1), Timer::G);
                    }
                    self.arm(&key, id, now.after(64 * T1), Timer::H);
                }
            }
            (Kind::ServerNonInvite, State::Trying | State::Proceeding) => {
                t.last_response = Some(response.clone());
                out.push(Action::Send(response));
                if code < 200 {
                    t.state = State::Proceeding;
                } else {
                    t.state = State::Completed;
                    self.linger(&key, id, now, 64 * T1, Timer::J, &mut out);
                }
            }
            // Accepted: the TU retransmits its 2xx itself (RFC 6026); pass it on.
            (Kind::ServerInvite, State::Accepted) if (200..300).contains(&code) => out.push(Action::Send(response)),
            _ => {}
        }
        out
    }

    /// A message arrived from the transport.
    pub fn receive(&mut self, now: Time, msg: Message) -> Vec<Action> {
        if msg.is_request() {
            self.receive_request(now, msg)
        } else {
            self.receive_response(now, msg)
        }
    }

    fn receive_request(&mut self, now: Time, req: Message) -> Vec<Action> {
        let mut out = vec![];
        let Some(key) = key_of(&req) else {
            out.push(Action::Deliver(req));
            return out;
        };
        let is_ack = req.method() == Some("ACK");
        let reliable = self.reliable;
        if let Some(t) = self.txns.get_mut(&key) {
            let id = t.id;
            match (t.kind, t.state, is_ack) {
                (Kind::ServerInvite, State::Completed, true) => {
                    t.state = State::Confirmed;
                    if reliable {
                        self.terminate(&key, &mut out);
                    } else {
                        self.arm(&key, id, now.after(T4), Timer::I);
                    }
                }
                // The ACK for a 2xx is end to end: the dialog gets it.
                (Kind::ServerInvite, State::Accepted, true) => out.push(Action::Deliver(req)),
                (_, _, true) => {}
                // A retransmitted request: answer with the last response, never bother the TU.
                (Kind::ServerInvite, State::Proceeding | State::Completed, false)
                | (Kind::ServerNonInvite, State::Proceeding | State::Completed, false) => {
                    if let Some(r) = &t.last_response {
                        out.push(Action::Send(r.clone()));
                    }
                }
                _ => {}
            }
            return out;
        }
        if is_ack {
            // No transaction: an ACK for a 2xx after the server transaction ended.
            out.push(Action::Deliver(req));
            return out;
        }
        let invite = req.method() == Some("INVITE");
        if invite {
            self.insert(key.clone(), Kind::ServerInvite, State::Proceeding, req.clone());
            // Answer 100 Trying at once so the client stops retransmitting (RFC 3261 §17.2.1).
            let trying = req.response(100, "Trying", None);
            if let Some(t) = self.txns.get_mut(&key) {
                t.last_response = Some(trying.clone());
            }
            out.push(Action::Send(trying));
        } else {
            self.insert(key, Kind::ServerNonInvite, State::Trying, req.clone());
        }
        out.push(Action::Deliver(req));
        out
    }

    fn receive_response(&mut self, now: Time, resp: Message) -> Vec<Action> {
        let mut out = vec![];
        let (Some(key), Some(code)) = (key_of(&resp), resp.status()) else {
            return out;
        };
        // A response that matches no client transaction is dropped (RFC 3261 §17.1.3).
        let Some(t) = self.txns.get_mut(&key) else {
            return out;
        };
        let id = t.id;
        match (t.kind, t.state) {
            (Kind::ClientInvite, State::Calling | State::Proceeding) => {
                if code < 200 {
                    t.state = State::Proceeding;
                } else if code < 300 {
                    t.state = State::Accepted;
                    self.arm(&key, id, now.after(64 * T1), Timer::M);
                } else {
                    let ack = ack_for(&t.request, &resp);
                    t.ack = Some(ack.clone());
                    t.state = State::Completed;
                    out.push(Action::Send(ack));
                    self.linger(&key, id, now, 32_000, Timer::D, &mut out);
                }
                out.push(Action::Deliver(resp));
            }
            (Kind::ClientInvite, State::Completed) if code >= 300 => {
                if let Some(ack) = &t.ack {
                    out.push(Action::Send(ack.clone()));
                }
            }
            (Kind::ClientInvite, State::Accepted) if (200..300).contains(&code) => out.push(Action::Deliver(resp)),
            (Kind::ClientNonInvite, State::Trying | State::Proceeding) => {
                if code < 200 {
                    t.state = State::Proceeding;
                } else {
                    t.state = State::Completed;
                    self.linger(&key, id, now, T4, Timer::K, &mut out);
                }
                out.push(Action::Deliver(resp));
            }
            _ => {}
        }
        out
    }

    /// Fire every timer due at `now`.
    pub fn tick(&mut self, now: Time) -> Vec<Action> {
        let mut out = vec![];
        while let Some(first) = self.timers.iter().next().cloned() {
            if first.0 > now {
                break;
            }
            self.timers.remove(&first);
            let (at, id, timer, key) = first;
            let Some(t) = self.txns.get_mut(&key) else { continue };
            if t.id != id {
                continue;
            }
            match (timer, t.state) {
                (Timer::A, State::Calling) => {
                    out.push(Action::Send(t.request.clone()));
                    t.interval *= 2;
                    let next = at.after(t.interval);
                    self.arm(&key, id, next, Timer::A);
                }
                (Timer::E, State::Trying | State::Proceeding) => {
                    out.push(Action::Send(t.request.clone()));
                    t.interval = if t.state == State::Proceeding {
                        T2
                    } else {
                        (t.interval * 2).min(T2)
                    };
                    let next = at.after(t.interval);
                    self.arm(&key, id, next, Timer::E);
                }
                (Timer::G, State::Completed) => {
                    if let Some(r) = &t.last_response {
                        out.push(Action::Send(r.clone()));
                    }
                    t.interval = (t.interval * 2).min(T2);
                    let next = at.after(t.interval);
                    self.arm(&key, id, next, Timer::G);
                }
                (Timer::B, State::Calling)
                | (Timer::F, State::Trying | State::Proceeding)
                | (Timer::H, State::Completed) => {
                    out.push(Action::Timeout(key.clone()));
                    self.terminate(&key, &mut out);
                }
                (Timer::D, State::Completed)
                | (Timer::I, State::Confirmed)
                | (Timer::J, State::Completed)
                | (Timer::K, State::Completed)
                | (Timer::L | Timer::M, State::Accepted) => self.terminate(&key, &mut out),
                _ => {}
            }
        }
        out
    }
}

/// The ACK for a non-2xx final response (RFC 3261 §17.1.1.3).
fn ack_for(request: &Message, response: &Message) -> Message {
    let uri = match &request.start {
        StartLine::Request { uri, .. } => uri.clone(),
        StartLine::Response { .. } => String::new(),
    };
    let mut headers = vec![];
    if let Some(via) = request.values("Via").next() {
        headers.push(Header {
            name: "Via".into(),
            value: via.to_string(),
        });
    }
    for name in ["From", "Call-ID", "Route"] {
        for h in request.headers.iter().filter(|h| h.name == name) {
            headers.push(h.clone());
        }
    }
    if let Some(to) = response.header("To") {
        headers.push(Header {
            name: "To".into(),
            value: to.to_string(),
        });
    }
    let n = request.cseq().map(|(n, _)| n).unwrap_or(1);
    headers.push(Header {
        name: "CSeq".into(),
        value: format!("{n} ACK"),
    });
    headers.push(Header {
        name: "Max-Forwards".into(),
        value: "70".into(),
    });
    Message {
        start: StartLine::Request {
            method: "ACK".into(),
            uri,
        },
        headers,
        body: vec![],
    }
}
