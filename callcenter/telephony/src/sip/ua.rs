//! The user agent: dialogs on top of the transaction layer, as a core without IO or clock.
//!
//! In: datagrams and stream messages (`receive`), the passing of time (`tick`), and the
//! application's decisions (`answer`, `reject`, `hangup`, `dial`). Out: bytes to send to a peer,
//! and call events for the application (a call is offered, confirmed, answered, ended).
//!
//! As UAS it handles INVITE (with re-INVITE and delayed offer), ACK, BYE, CANCEL, OPTIONS, INFO
//! (application/dtmf-relay) and REGISTER (always refused the same way, so nobody can learn which
//! users exist). It retransmits its 2xx to INVITE until the ACK arrives (RFC 6026) and hangs up
//! when none comes. As UAC it places calls, answering a trunk's digest challenge once (MD5 or
//! SHA-256), and cancels calls that have not been answered. No Server or User-Agent header is
//! ever sent: nothing tells a scanner what software or version answers.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::digest;
use super::message::{parse, Header, Message, StartLine};
use super::screen::{screen, Policy, Verdict};
use super::transaction::{key_of, Action, Key, Time, Transactions, T1, T2};
use crate::media::sdp::{self, Agreed, Session};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    Udp,
    Tcp,
}

impl Transport {
    fn via(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
        }
    }
}

/// Where a message came from or goes to. Over TCP the address names the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Peer {
    pub transport: Transport,
    pub addr: SocketAddr,
}

/// The application's handle on a call.
pub type CallRef = u64;

#[derive(Debug, Clone)]
pub struct UaConfig {
    /// Host and port written into Via and Contact.
    pub advertised: SocketAddr,
    pub policy: Policy,
    /// Calls beyond this many are answered 503 with Retry-After.
    pub max_calls: usize,
    pub seed: u64,
}

/// Credentials for a trunk that challenges our INVITEs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

/// An outbound call to place.
#[derive(Debug, Clone)]
pub struct Dial {
    /// Request-URI, e.g. `sip:+4930123456@trunk.example`.
    pub target: String,
    /// User part of our From URI (the number shown to the callee).
    pub from_user: String,
    /// Where to send the INVITE (the trunk or the callee's address).
    pub peer: Peer,
    pub credentials: Option<Credentials>,
    /// Our RTP address for the offer.
    pub local_media: SocketAddr,
    /// A stem for the Call-ID (an attempt's idempotency key, so the far end and the records
    /// can tie the call to it); a random token follows it. `None`: random only.
    pub call_id_stem: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The other side sent BYE.
    RemoteBye,
    /// The caller gave up before we answered.
    Cancelled,
    /// We answered but no ACK came within 64·T1.
    NoAck,
    /// Our call was refused with this status.
    Rejected(u16),
    /// No final response to our INVITE.
    Timeout,
    /// The application hung up.
    Local,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A new call. Answer it with `answer` (or `reject`). `agreed` is `None` for an INVITE
    /// without an offer; the media arrives with the ACK as `MediaChanged`.
    Incoming {
        call: CallRef,
        call_id: String,
        caller: String,
        called: String,
        agreed: Option<Agreed>,
    },
    /// Our 2xx was acknowledged: the call is up.
    Confirmed {
        call: CallRef,
    },
    /// Our outbound call is ringing.
    Ringing {
        call: CallRef,
    },
    /// Our outbound call was answered.
    Answered {
        call: CallRef,
        agreed: Agreed,
    },
    /// The peer changed the media (re-INVITE, hold, delayed offer).
    MediaChanged {
        call: CallRef,
        agreed: Agreed,
    },
    /// A DTMF digit sent by SIP INFO.
    Dtmf {
        call: CallRef,
        digit: char,
    },
    Ended {
        call: CallRef,
        end: End,
    },
    /// A message refused as malformed: answered 400, or dropped because it could not be read.
    /// The adapter may charge its source more than for a well-formed message.
    Malformed {
        from: Peer,
    },
    /// A new INVITE refused before it became a call (capacity, media), for the call record.
    Refused {
        call_id: String,
        caller: String,
        called: String,
        code: u16,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    Send { to: Peer, bytes: Vec<u8> },
    Event(Event),
}

enum Phase {
    /// UAS: waiting for the application to answer.
    Offered {
        invite: Message,
        offer: Option<Session>,
    },
    /// UAS: 2xx sent, waiting for the ACK.
    Answering {
        ok: Message,
        interval: u64,
        next: Time,
        give_up: Time,
        first: bool,
        /// The INVITE had no offer (delayed offer): the 2xx carries ours, the ACK the answer.
        answer_in_ack: bool,
    },
    /// UAC: INVITE sent, no final response yet.
    Inviting {
        invite: Message,
        auth_tried: bool,
        /// Any 1xx came: a CANCEL may now be sent.
        provisional: bool,
        /// 180/183 came: the application was told it rings.
        rung: bool,
        cancel: bool,
    },
    Confirmed,
}

struct Dialog {
    peer: Peer,
    call_id: String,
    local_tag: String,
    remote_tag: Option<String>,
    /// Our own URI (From when we call, To when we are called), without tag.
    local_uri: String,
    remote_uri: String,
    remote_target: String,
    route: Vec<String>,
    local_cseq: u32,
    local_media: Option<SocketAddr>,
    sdp_version: u64,
    /// The last ACK we sent for a 2xx (re-sent when the 2xx is retransmitted).
    ack: Option<Message>,
    credentials: Option<Credentials>,
    /// The application was already told the call ended (it hung up while our INVITE rang).
    told_end: bool,
    /// A session that could not be set up (a delayed offer whose ACK had no answer) ends with
    /// our BYE at this time, unless the peer hangs up first.
    end_at: Option<Time>,
    phase: Phase,
}

pub struct UserAgent {
    cfg: UaConfig,
    rng: StdRng,
    udp: Transactions,
    tcp: Transactions,
    next_call: CallRef,
    calls: HashMap<CallRef, Dialog>,
    /// `(Call-ID, our tag)` → call.
    by_dialog: HashMap<(String, String), CallRef>,
    /// Calls offered and not yet answered, by their INVITE's transport and transaction (for
    /// CANCEL). Each transport has its own transactions: the same request over UDP and over
    /// TCP are two.
    by_invite: HashMap<(Transport, Key), CallRef>,
    /// Where responses of server transactions go, by transport and transaction.
    server_peers: HashMap<(Transport, Key), Peer>,
    /// Where requests of client transactions go, and their call.
    client: HashMap<Key, (Peer, CallRef)>,
    timers: BTreeSet<(Time, CallRef)>,
}

fn tag_of(value: &str) -> Option<&str> {
    let params = match value.rfind('>') {
        Some(i) => &value[i..],
        None => value,
    };
    let lower = params.to_ascii_lowercase();
    let i = lower.find(";tag=")?;
    let rest = &params[i + 5..];
    Some(rest.split([';', ',', ' ']).next().unwrap_or(rest))
}

fn strip_tag(value: &str) -> String {
    match tag_of(value) {
        Some(tag) => {
            let lower = value.to_ascii_lowercase();
            let needle = format!(";tag={}", tag.to_ascii_lowercase());
            match lower.rfind(&needle) {
                Some(i) => format!("{}{}", &value[..i], &value[i + needle.len()..]),
                None => value.to_string(),
            }
        }
        None => value.to_string(),
    }
}

/// The URI inside a name-addr (`"Name" <sip:u@h>;p`) or an addr-spec (`sip:u@h;p`).
pub fn uri_of(value: &str) -> &str {
    match (value.find('<'), value.find('>')) {
        (Some(a), Some(b)) if a < b => &value[a + 1..b],
        _ => value.split(';').next().unwrap_or(value).trim(),
    }
}

/// The user part of a SIP or tel URI, unescaped of nothing: digits and `+` as sent.
pub fn user_of(value: &str) -> String {
    let uri = uri_of(value);
    let rest = uri.split_once(':').map(|(_, r)| r).unwrap_or(uri);
    let user = match rest.find('@') {
        Some(i) => &rest[..i],
        None if uri.starts_with("tel:") => rest,
        None => "",
    };
    user.split(';').next().unwrap_or("").to_string()
}

fn header(name: &str, value: impl Into<String>) -> Header {
    Header {
        name: name.to_string(),
        value: value.into(),
    }
}

/// Build a response to a request we could not parse, from its raw header lines, if it carries
/// the fields a response needs. Used for 400 and 505 answers; `to_tag` goes on a To without one.
pub fn lenient_reply(bytes: &[u8], code: u16, to_tag: &str) -> Option<Vec<u8>> {
    let text = String::from_utf8_lossy(bytes);
    let mut lines = text.split('\n').map(|l| l.trim_end_matches('\r'));
    let first = lines.next()?;
    if first.starts_with("SIP/") || first.is_empty() {
        return None;
    }
    let mut kept = vec![];
    for line in lines {
        if line.is_empty() {
            break;
        }
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let canonical = match name.trim().to_ascii_lowercase().as_str() {
            "via" | "v" => "Via",
            "from" | "f" => "From",
            "to" | "t" => "To",
            "call-id" | "i" => "Call-ID",
            "cseq" => "CSeq",
            _ => continue,
        };
        let value = value.trim();
        if canonical == "To" && !value.to_ascii_lowercase().contains(";tag=") {
            kept.push(format!("To: {value};tag={to_tag}\r\n"));
        } else {
            kept.push(format!("{canonical}: {value}\r\n"));
        }
    }
    for need in ["Via", "From", "To", "Call-ID", "CSeq"] {
        if !kept.iter().any(|k| k.starts_with(&format!("{need}:"))) {
            return None;
        }
    }
    let reason = if code == 505 {
        "Version Not Supported"
    } else {
        "Bad Request"
    };
    let mut out = format!("SIP/2.0 {code} {reason}\r\n");
    for k in kept {
        out.push_str(&k);
    }
    out.push_str("Content-Length: 0\r\n\r\n");
    Some(out.into_bytes())
}

impl UserAgent {
    pub fn new(cfg: UaConfig) -> Self {
        UserAgent {
            rng: StdRng::seed_from_u64(cfg.seed),
            cfg,
            udp: Transactions::new(false),
            tcp: Transactions::new(true),
            next_call: 1,
            calls: HashMap::new(),
            by_dialog: HashMap::new(),
            by_invite: HashMap::new(),
            server_peers: HashMap::new(),
            client: HashMap::new(),
            timers: BTreeSet::new(),
        }
    }

    /// The handle the next new call (in or out) will get.
    pub fn next_call_ref(&self) -> CallRef {
        self.next_call
    }

    /// The SIP Call-ID of a call in progress.
    pub fn call_id(&self, call: CallRef) -> Option<String> {
        self.calls.get(&call).map(|d| d.call_id.clone())
    }

    /// Calls in progress (offered, answered or up).
    pub fn calls(&self) -> usize {
        self.calls.len()
    }

    /// Transactions alive (for metrics and leak tests).
    pub fn transactions(&self) -> usize {
        self.udp.len() + self.tcp.len()
    }

    pub fn next_deadline(&self) -> Option<Time> {
        [
            self.udp.next_deadline(),
            self.tcp.next_deadline(),
            self.timers.iter().next().map(|(t, _)| *t),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn token(&mut self) -> String {
        format!("{:016x}", self.rng.gen::<u64>())
    }

    fn txns(&mut self, t: Transport) -> &mut Transactions {
        match t {
            Transport::Udp => &mut self.udp,
            Transport::Tcp => &mut self.tcp,
        }
    }

    fn contact(&self, t: Transport) -> String {
        match t {
            Transport::Udp => format!("<sip:aftercare@{}>", self.cfg.advertised),
            Transport::Tcp => format!("<sip:aftercare@{};transport=tcp>", self.cfg.advertised),
        }
    }

    // ---- input ----

    /// Bytes arrived from `from` (one datagram, or one framed message from a TCP stream).
    pub fn receive(&mut self, now: Time, from: Peer, bytes: &[u8]) -> Vec<Output> {
        let mut out = vec![];
        match screen(bytes, from.transport == Transport::Udp, &self.cfg.policy) {
            Verdict::Request(mut m) => {
                m.stamp_source(from.addr);
                if let Some(key) = key_of(&m) {
                    if m.method() != Some("ACK") {
                        self.server_peers.entry((from.transport, key)).or_insert(from);
                    }
                }
                let actions = self.txns(from.transport).receive(now, m);
                self.carry_out(now, from.transport, Some(from), actions, &mut out);
            }
            Verdict::Response(m) => {
                let actions = self.txns(from.transport).receive(now, m);
                self.carry_out(now, from.transport, None, actions, &mut out);
            }
            Verdict::Respond { code, reason, headers } => {
                if code == 400 {
                    out.push(Output::Event(Event::Malformed { from }));
                }
                let datagram = from.transport == Transport::Udp;
                match parse(bytes, datagram) {
                    Ok(mut m) if m.method() != Some("ACK") => {
                        m.stamp_source(from.addr);
                        // Every final answer carries a To tag (RFC 3261 §8.2.6.2).
                        let tag = self.token();
                        let mut r = m.response(code, &reason, Some(&tag));
                        for (name, value) in headers {
                            r.headers.push(header(name, value));
                        }
                        out.push(Output::Send {
                            to: from,
                            bytes: r.to_bytes(),
                        });
                    }
                    Ok(_) => {}
                    Err(_) => {
                        let tag = self.token();
                        if let Some(bytes) = lenient_reply(bytes, code, &tag) {
                            out.push(Output::Send { to: from, bytes });
                        }
                    }
                }
            }
            Verdict::Drop(_) => out.push(Output::Event(Event::Malformed { from })),
        }
        out
    }

    /// Fire due timers.
    pub fn tick(&mut self, now: Time) -> Vec<Output> {
        let mut out = vec![];
        for t in [Transport::Udp, Transport::Tcp] {
            let actions = self.txns(t).tick(now);
            self.carry_out(now, t, None, actions, &mut out);
        }
        while let Some(&(at, call)) = self.timers.iter().next() {
            if at > now {
                break;
            }
            self.timers.remove(&(at, call));
            self.fire(now, call, &mut out);
        }
        out
    }

    fn fire(&mut self, now: Time, call: CallRef, out: &mut Vec<Output>) {
        let Some(d) = self.calls.get_mut(&call) else { return };
        if let Some(at) = d.end_at {
            if now >= at {
                self.send_bye(now, call, out);
                self.finish(call, End::Rejected(488), out);
            }
            return;
        }
        let Phase::Answering {
            ok,
            interval,
            next,
            give_up,
            ..
        } = &mut d.phase
        else {
            return;
        };
        if now >= *give_up {
            // RFC 3261 §13.3.1.4: no ACK — end the dialog with a BYE.
            self.send_bye(now, call, out);
            self.finish(call, End::NoAck, out);
            return;
        }
        if now >= *next {
            if d.peer.transport == Transport::Udp {
                out.push(Output::Send {
                    to: d.peer,
                    bytes: ok.to_bytes(),
                });
            }
            *interval = (*interval * 2).min(T2);
            *next = now.after(*interval);
        }
        let at = (*next).min(*give_up);
        self.timers.insert((at, call));
    }

    fn carry_out(&mut self, now: Time, t: Transport, from: Option<Peer>, actions: Vec<Action>, out: &mut Vec<Output>) {
        for a in actions {
            match a {
                Action::Send(m) => {
                    let key = key_of(&m);
                    let to = match (&key, m.is_request()) {
                        (Some(k), false) => self.server_peers.get(&(t, k.clone())).copied(),
                        (Some(k), true) => self.client.get(k).map(|(p, _)| *p),
                        (None, _) => None,
                    };
                    if let Some(to) = to {
                        out.push(Output::Send {
                            to,
                            bytes: m.to_bytes(),
                        });
                    }
                }
                Action::Deliver(m) => {
                    if m.is_request() {
                        if let Some(from) = from {
                            self.on_request(now, from, m, out);
                        }
                    } else {
                        self.on_response(now, m, out);
                    }
                }
                Action::Timeout(key) => {
                    if let Some(&(_, call)) = self.client.get(&key) {
                        if key.method == "INVITE"
                            && matches!(self.calls.get(&call).map(|d| &d.phase), Some(Phase::Inviting { .. }))
                        {
                            self.finish(call, End::Timeout, out);
                        }
                    }
                }
                Action::Terminated(key) => {
                    self.server_peers.remove(&(t, key.clone()));
                    self.client.remove(&key);
                    if key.method == "INVITE" {
                        self.by_invite.remove(&(t, key.clone()));
                    }
                }
            }
        }
        let _ = t;
    }

    fn respond(
        &mut self,
        now: Time,
        transport: Transport,
        req: &Message,
        code: u16,
        extra: Vec<Header>,
        out: &mut Vec<Output>,
    ) {
        // A To tag on everything but 100 (RFC 3261 §8.2.6.2); a dialog's own keeps its tag.
        let tag = (code > 100).then(|| self.token());
        let mut r = req.response(code, phrase(code), tag.as_deref());
        r.headers.extend(extra);
        let actions = self.txns(transport).send_response(now, r);
        self.carry_out(now, transport, None, actions, out);
    }

    fn find(&self, m: &Message) -> Option<CallRef> {
        let call_id = m.header("Call-ID")?.to_string();
        let tag = tag_of(m.header("To")?)?.to_string();
        self.by_dialog.get(&(call_id, tag)).copied()
    }

    fn on_request(&mut self, now: Time, from: Peer, m: Message, out: &mut Vec<Output>) {
        let t = from.transport;
        let method = m.method().unwrap_or("").to_string();
        let in_dialog = m.header("To").and_then(tag_of).is_some();
        match method.as_str() {
            "INVITE" if !in_dialog => self.on_invite(now, from, m, out),
            "INVITE" => match self.find(&m) {
                Some(call) => self.on_reinvite(now, call, m, out),
                None => self.respond(now, t, &m, 481, vec![], out),
            },
            "ACK" => {
                if let Some(call) = self.find(&m) {
                    self.on_ack(now, call, &m, out);
                }
            }
            "BYE" => match self.find(&m) {
                Some(call) => {
                    self.respond(now, t, &m, 200, vec![], out);
                    self.finish(call, End::RemoteBye, out);
                }
                None => self.respond(now, t, &m, 481, vec![], out),
            },
            "CANCEL" => {
                // RFC 3261 §9.2: the CANCEL's transaction names the INVITE's.
                let call = key_of(&m).and_then(|k| {
                    let invite = Key {
                        method: "INVITE".into(),
                        ..k
                    };
                    self.by_invite.get(&(t, invite)).copied()
                });
                let Some(call) = call else {
                    self.respond(now, t, &m, 481, vec![], out);
                    return;
                };
                self.respond(now, t, &m, 200, vec![], out);
                let invite = match self.calls.get(&call).map(|d| &d.phase) {
                    Some(Phase::Offered { invite, .. }) => invite.clone(),
                    _ => return,
                };
                let tag = self.calls[&call].local_tag.clone();
                let r = invite.response(487, "Request Terminated", Some(&tag));
                let actions = self.txns(t).send_response(now, r);
                self.carry_out(now, t, None, actions, out);
                self.finish(call, End::Cancelled, out);
            }
            "OPTIONS" => {
                let extra = vec![
                    header("Allow", self.cfg.policy.allow()),
                    header("Accept", "application/sdp"),
                    header("Supported", ""),
                ];
                self.respond(now, t, &m, 200, extra, out);
            }
            "INFO" => match self.find(&m) {
                Some(call) => {
                    let digit = dtmf_relay(&m);
                    self.respond(now, t, &m, 200, vec![], out);
                    if let Some(digit) = digit {
                        out.push(Output::Event(Event::Dtmf { call, digit }));
                    }
                }
                None => self.respond(now, t, &m, 481, vec![], out),
            },
            // We are no registrar. Everyone, known or not, with or without credentials, gets the
            // same answer (the challenge itself comes from the screen).
            "REGISTER" => self.respond(now, t, &m, 403, vec![], out),
            _ => self.respond(now, t, &m, 405, vec![header("Allow", self.cfg.policy.allow())], out),
        }
    }

    fn on_invite(&mut self, now: Time, from: Peer, m: Message, out: &mut Vec<Output>) {
        let t = from.transport;
        let refused = |code: u16| {
            Output::Event(Event::Refused {
                call_id: m.header("Call-ID").unwrap_or_default().to_string(),
                caller: user_of(m.header("From").unwrap_or_default()),
                called: match &m.start {
                    StartLine::Request { uri, .. } => user_of(uri),
                    _ => String::new(),
                },
                code,
            })
        };
        if self.calls.len() >= self.cfg.max_calls {
            let event = refused(503);
            self.respond(now, t, &m, 503, vec![header("Retry-After", "5")], out);
            out.push(event);
            return;
        }
        let (offer, agreed) = if m.body.is_empty() {
            (None, None)
        } else {
            let negotiated = sdp::parse(&m.body).and_then(|s| sdp::negotiate(&s).map(|a| (s, a)));
            match negotiated {
                Ok((s, a)) => (Some(s), Some(a)),
                Err(e) => {
                    let warning = header("Warning", format!("399 aftercare \"{}\"", e.reason.replace('"', "'")));
                    let event = refused(e.code);
                    self.respond(now, t, &m, e.code, vec![warning], out);
                    out.push(event);
                    return;
                }
            }
        };
        let call = self.next_call;
        self.next_call += 1;
        let local_tag = self.token();
        let call_id = m.header("Call-ID").unwrap_or_default().to_string();
        let from_value = m.header("From").unwrap_or_default();
        let to_value = m.header("To").unwrap_or_default();
        let caller = user_of(from_value);
        let called = match &m.start {
            StartLine::Request { uri, .. } => user_of(uri),
            _ => String::new(),
        };
        let remote_target = m
            .values("Contact")
            .next()
            .map(|c| uri_of(c).to_string())
            .unwrap_or_else(|| uri_of(from_value).to_string());
        let d = Dialog {
            peer: from,
            call_id: call_id.clone(),
            local_tag: local_tag.clone(),
            remote_tag: tag_of(from_value).map(str::to_string),
            local_uri: strip_tag(to_value),
            remote_uri: strip_tag(from_value),
            remote_target,
            route: m.values("Record-Route").map(str::to_string).collect(),
            local_cseq: self.rng.gen_range(1..10_000),
            local_media: None,
            sdp_version: now.0,
            ack: None,
            credentials: None,
            told_end: false,
            end_at: None,
            phase: Phase::Offered {
                invite: m.clone(),
                offer,
            },
        };
        if let Some(k) = key_of(&m) {
            self.by_invite.insert((t, k), call);
        }
        self.by_dialog.insert((call_id, local_tag), call);
        self.calls.insert(call, d);
        out.push(Output::Event(Event::Incoming {
            call,
            call_id: self.calls[&call].call_id.clone(),
            caller,
            called,
            agreed,
        }));
    }

    fn on_reinvite(&mut self, now: Time, call: CallRef, m: Message, out: &mut Vec<Output>) {
        let t = self.calls[&call].peer.transport;
        if !matches!(self.calls[&call].phase, Phase::Confirmed) {
            self.respond(now, t, &m, 491, vec![], out);
            return;
        }
        let mut agreed = None;
        let mut offer = None;
        if !m.body.is_empty() {
            match sdp::parse(&m.body).and_then(|s| sdp::negotiate(&s).map(|a| (s, a))) {
                Ok((s, a)) => {
                    agreed = Some(a);
                    offer = Some(s);
                }
                Err(e) => {
                    // The old session stays as it was.
                    self.respond(now, t, &m, 488, vec![], out);
                    let _ = e;
                    return;
                }
            }
        }
        let contact = self.contact(t);
        let d = self.calls.get_mut(&call).expect("dialog");
        d.sdp_version += 1;
        let local = d.local_media.expect("a confirmed call has media");
        let body = sdp::write(local, agreed.as_ref(), offer.as_ref(), d.sdp_version);
        let mut ok = m.response(200, "OK", None);
        ok.headers.push(header("Contact", contact));
        ok.headers.push(header("Content-Type", "application/sdp"));
        ok.body = body;
        self.send_2xx(now, call, ok, false, offer.is_none(), out);
        if let Some(agreed) = agreed {
            out.push(Output::Event(Event::MediaChanged { call, agreed }));
        }
    }

    fn on_ack(&mut self, now: Time, call: CallRef, m: &Message, out: &mut Vec<Output>) {
        let Some(d) = self.calls.get_mut(&call) else { return };
        let Phase::Answering {
            first, answer_in_ack, ..
        } = d.phase
        else {
            return;
        };
        d.phase = Phase::Confirmed;
        let answer = (!m.body.is_empty()).then(|| sdp::parse(&m.body).and_then(|s| sdp::negotiate(&s)));
        match answer {
            // The media first, so the application plays to the right place from the start.
            Some(Ok(agreed)) => out.push(Output::Event(Event::MediaChanged { call, agreed })),
            _ if answer_in_ack => {
                // A delayed offer whose ACK brings no usable answer: the session cannot be set
                // up, so the dialog ends with our BYE (RFC 3261 §13.2.2.4, RFC 3264 §6) — after
                // T1, since a peer that cannot answer usually sends its own BYE right away
                // (and a BYE crossing it would be one more message for nothing).
                d.end_at = Some(now.after(T1));
                self.timers.insert((now.after(T1), call));
                return;
            }
            _ => {}
        }
        if first {
            out.push(Output::Event(Event::Confirmed { call }));
        }
    }

    fn on_response(&mut self, now: Time, m: Message, out: &mut Vec<Output>) {
        let Some(key) = key_of(&m) else { return };
        let Some(&(peer, call)) = self.client.get(&key) else {
            return;
        };
        let code = m.status().unwrap_or(0);
        if key.method != "INVITE" {
            return; // BYE and CANCEL answers need no action.
        }
        let contact = self.contact(peer.transport);
        let Some(d) = self.calls.get_mut(&call) else {
            // A 2xx for a call we already gave up: acknowledge and hang up (RFC 3261 §13.2.2.4).
            if (200..300).contains(&code) {
                self.ack_and_bye_stray(now, peer, &m, out);
            }
            return;
        };
        match &mut d.phase {
            Phase::Inviting {
                invite,
                auth_tried,
                provisional,
                rung,
                cancel,
            } => {
                if code < 200 {
                    *provisional = true;
                    if code > 100 && !*rung {
                        *rung = true;
                        out.push(Output::Event(Event::Ringing { call }));
                    }
                    if *cancel {
                        *cancel = false;
                        let c = cancel_for(invite);
                        self.send_request_raw(now, peer, call, c, out);
                    }
                } else if code < 300 {
                    let hung_up = *cancel;
                    d.remote_tag = m.header("To").and_then(tag_of).map(str::to_string);
                    if let Some(c) = m.values("Contact").next() {
                        d.remote_target = uri_of(c).to_string();
                    }
                    d.route = m.values("Record-Route").map(str::to_string).collect();
                    d.route.reverse();
                    d.phase = Phase::Confirmed;
                    let ack = self.in_dialog_request(call, "ACK", Some(m.cseq().map(|c| c.0).unwrap_or(1)));
                    self.calls.get_mut(&call).expect("dialog").ack = Some(ack.clone());
                    self.send_request_raw(now, peer, call, ack, out);
                    let agreed = sdp::parse(&m.body).and_then(|s| sdp::negotiate(&s));
                    match (hung_up, agreed) {
                        (false, Ok(agreed)) => out.push(Output::Event(Event::Answered { call, agreed })),
                        (true, _) => {
                            self.send_bye(now, call, out);
                            self.finish(call, End::Local, out);
                        }
                        (false, Err(_)) => {
                            self.send_bye(now, call, out);
                            self.finish(call, End::Rejected(488), out);
                        }
                    }
                } else if (code == 401 || code == 407) && !*auth_tried && d.credentials.is_some() {
                    let name = if code == 401 {
                        "WWW-Authenticate"
                    } else {
                        "Proxy-Authenticate"
                    };
                    let values = m.headers.iter().filter(|h| h.name.eq_ignore_ascii_case(name));
                    let Some(challenge) = digest::best(values.map(|h| h.value.as_str())) else {
                        self.finish(call, End::Rejected(code), out);
                        return;
                    };
                    let creds = d.credentials.clone().expect("checked");
                    let mut again = invite.clone();
                    d.local_cseq += 1;
                    let cseq = d.local_cseq;
                    let uri = match &again.start {
                        StartLine::Request { uri, .. } => uri.clone(),
                        _ => String::new(),
                    };
                    let cnonce = format!("{:016x}", self.rng.gen::<u64>());
                    let auth =
                        digest::authorization(&challenge, &creds.username, &creds.password, "INVITE", &uri, &cnonce, 1);
                    let branch = format!("z9hG4bK{}", self.token());
                    let via = format!(
                        "SIP/2.0/{} {};branch={branch};rport",
                        peer.transport.via(),
                        self.cfg.advertised
                    );
                    again.headers.retain(|h| h.name != "Via" && h.name != "CSeq");
                    again.headers.insert(0, header("Via", via));
                    again.headers.push(header("CSeq", format!("{cseq} INVITE")));
                    again.headers.push(header(
                        if code == 401 {
                            "Authorization"
                        } else {
                            "Proxy-Authorization"
                        },
                        auth,
                    ));
                    if let Some(Dialog {
                        phase: Phase::Inviting { invite, auth_tried, .. },
                        ..
                    }) = self.calls.get_mut(&call)
                    {
                        *invite = again.clone();
                        *auth_tried = true;
                    }
                    self.send_request_raw(now, peer, call, again, out);
                } else {
                    self.finish(call, End::Rejected(code), out);
                }
            }
            Phase::Confirmed if (200..300).contains(&code) => {
                // A retransmitted 2xx: our ACK was lost.
                if let Some(ack) = d.ack.clone() {
                    out.push(Output::Send {
                        to: peer,
                        bytes: ack.to_bytes(),
                    });
                }
            }
            _ => {}
        }
        let _ = contact;
    }

    fn ack_and_bye_stray(&mut self, now: Time, peer: Peer, m: &Message, out: &mut Vec<Output>) {
        let cseq = m.cseq().map(|c| c.0).unwrap_or(1);
        let mut base = vec![];
        for name in ["From", "To", "Call-ID"] {
            if let Some(v) = m.header(name) {
                base.push(header(name, v));
            }
        }
        let target = m
            .values("Contact")
            .next()
            .map(|c| uri_of(c).to_string())
            .unwrap_or_else(|| "sip:unknown@invalid".into());
        for (method, n) in [("ACK", cseq), ("BYE", cseq + 1)] {
            let branch = format!("z9hG4bK{}", self.token());
            let mut headers = vec![
                header(
                    "Via",
                    format!(
                        "SIP/2.0/{} {};branch={branch};rport",
                        peer.transport.via(),
                        self.cfg.advertised
                    ),
                ),
                header("Max-Forwards", "70"),
            ];
            headers.extend(base.clone());
            headers.push(header("CSeq", format!("{n} {method}")));
            let msg = Message {
                start: StartLine::Request {
                    method: method.into(),
                    uri: target.clone(),
                },
                headers,
                body: vec![],
            };
            if let Some(key) = key_of(&msg) {
                self.client.insert(key, (peer, 0));
            }
            let actions = self.txns(peer.transport).send_request(now, msg);
            self.carry_out(now, peer.transport, None, actions, out);
        }
    }

    /// A request inside the dialog (`cseq` given for ACK, otherwise the next local number).
    fn in_dialog_request(&mut self, call: CallRef, method: &str, cseq: Option<u32>) -> Message {
        let branch = format!("z9hG4bK{}", self.token());
        let advertised = self.cfg.advertised;
        let d = self.calls.get_mut(&call).expect("dialog");
        let n = match cseq {
            Some(n) => n,
            None => {
                d.local_cseq += 1;
                d.local_cseq
            }
        };
        let mut headers = vec![
            header(
                "Via",
                format!("SIP/2.0/{} {advertised};branch={branch};rport", d.peer.transport.via()),
            ),
            header("Max-Forwards", "70"),
        ];
        for r in &d.route {
            headers.push(header("Route", r.clone()));
        }
        headers.push(header("From", format!("{};tag={}", d.local_uri, d.local_tag)));
        let to = match &d.remote_tag {
            Some(tag) => format!("{};tag={tag}", d.remote_uri),
            None => d.remote_uri.clone(),
        };
        headers.push(header("To", to));
        headers.push(header("Call-ID", d.call_id.clone()));
        headers.push(header("CSeq", format!("{n} {method}")));
        Message {
            start: StartLine::Request {
                method: method.into(),
                uri: d.remote_target.clone(),
            },
            headers,
            body: vec![],
        }
    }

    fn send_request_raw(&mut self, now: Time, peer: Peer, call: CallRef, m: Message, out: &mut Vec<Output>) {
        if let Some(key) = key_of(&m) {
            self.client.insert(key, (peer, call));
        }
        let actions = self.txns(peer.transport).send_request(now, m);
        self.carry_out(now, peer.transport, None, actions, out);
    }

    fn send_bye(&mut self, now: Time, call: CallRef, out: &mut Vec<Output>) {
        let Some(peer) = self.calls.get(&call).map(|d| d.peer) else {
            return;
        };
        let bye = self.in_dialog_request(call, "BYE", None);
        self.send_request_raw(now, peer, call, bye, out);
    }

    fn finish(&mut self, call: CallRef, end: End, out: &mut Vec<Output>) {
        if let Some(d) = self.calls.remove(&call) {
            self.by_dialog.remove(&(d.call_id, d.local_tag));
            if let Phase::Offered { invite, .. } = &d.phase {
                if let Some(k) = key_of(invite) {
                    self.by_invite.remove(&(d.peer.transport, k));
                }
            }
            if !d.told_end {
                out.push(Output::Event(Event::Ended { call, end }));
            }
        }
    }

    // ---- the application's decisions ----

    /// Answer an offered call with our RTP address.
    pub fn answer(&mut self, now: Time, call: CallRef, local_media: SocketAddr) -> Vec<Output> {
        let mut out = vec![];
        let Some(d) = self.calls.get_mut(&call) else { return out };
        let Phase::Offered { invite, offer } = &d.phase else {
            return out;
        };
        let delayed = offer.is_none();
        let agreed = offer.as_ref().and_then(|o| sdp::negotiate(o).ok());
        let body = sdp::write(local_media, agreed.as_ref(), offer.as_ref(), d.sdp_version);
        let mut ok = invite.response(200, "OK", Some(&d.local_tag));
        let t = d.peer.transport;
        d.local_media = Some(local_media);
        let contact = self.contact(t);
        ok.headers.push(header("Contact", contact));
        ok.headers.push(header("Allow", self.cfg.policy.allow()));
        ok.headers.push(header("Content-Type", "application/sdp"));
        // The route set is echoed in the 2xx (RFC 3261 §12.1.1).
        let d = self.calls.get_mut(&call).expect("dialog");
        if let Phase::Offered { invite, .. } = &d.phase {
            for rr in invite.headers.iter().filter(|h| h.name == "Record-Route") {
                ok.headers.push(rr.clone());
            }
        }
        ok.body = body;
        self.send_2xx(now, call, ok, true, delayed, &mut out);
        out
    }

    /// Send a 2xx to an INVITE and retransmit it (T1 doubling to T2) until the ACK comes or
    /// 64·T1 pass (RFC 6026). `first`: the initial INVITE (its ACK confirms the call).
    #[allow(clippy::too_many_arguments)]
    fn send_2xx(
        &mut self,
        now: Time,
        call: CallRef,
        ok: Message,
        first: bool,
        answer_in_ack: bool,
        out: &mut Vec<Output>,
    ) {
        let Some(d) = self.calls.get_mut(&call) else { return };
        let t = d.peer.transport;
        d.phase = Phase::Answering {
            ok: ok.clone(),
            interval: T1,
            next: now.after(T1),
            give_up: now.after(64 * T1),
            first,
            answer_in_ack,
        };
        self.timers.insert((now.after(T1), call));
        let actions = self.txns(t).send_response(now, ok);
        self.carry_out(now, t, None, actions, out);
    }

    /// Send 180 Ringing for an offered call.
    pub fn ring(&mut self, now: Time, call: CallRef) -> Vec<Output> {
        let mut out = vec![];
        let Some(d) = self.calls.get(&call) else { return out };
        let Phase::Offered { invite, .. } = &d.phase else {
            return out;
        };
        let r = invite.response(180, "Ringing", Some(&d.local_tag));
        let t = d.peer.transport;
        let actions = self.txns(t).send_response(now, r);
        self.carry_out(now, t, None, actions, &mut out);
        out
    }

    /// Refuse an offered call with a final status.
    pub fn reject(&mut self, now: Time, call: CallRef, code: u16, reason: &str) -> Vec<Output> {
        let mut out = vec![];
        let Some(d) = self.calls.get(&call) else { return out };
        let Phase::Offered { invite, .. } = &d.phase else {
            return out;
        };
        let r = invite.response(code, reason, Some(&d.local_tag));
        let t = d.peer.transport;
        let actions = self.txns(t).send_response(now, r);
        self.carry_out(now, t, None, actions, &mut out);
        self.finish(call, End::Rejected(code), &mut out);
        out
    }

    /// End a call in whatever state it is: BYE when up, 480 when only offered, CANCEL when our
    /// INVITE is still ringing (sent as soon as a provisional response makes it legal).
    pub fn hangup(&mut self, now: Time, call: CallRef) -> Vec<Output> {
        let mut out = vec![];
        let Some(d) = self.calls.get_mut(&call) else { return out };
        let peer = d.peer;
        if d.told_end {
            return out;
        }
        match &mut d.phase {
            Phase::Offered { .. } => return self.reject(now, call, 480, "Temporarily Unavailable"),
            Phase::Inviting {
                invite,
                provisional,
                cancel,
                ..
            } => {
                let c = if *provisional {
                    Some(cancel_for(invite))
                } else {
                    *cancel = true;
                    None
                };
                d.told_end = true;
                if let Some(c) = c {
                    self.send_request_raw(now, peer, call, c, &mut out);
                }
                // The dialog stays until the INVITE completes (487, or a 2xx we ACK and BYE).
                out.push(Output::Event(Event::Ended { call, end: End::Local }));
                return out;
            }
            Phase::Answering { .. } | Phase::Confirmed => self.send_bye(now, call, &mut out),
        }
        self.finish(call, End::Local, &mut out);
        out
    }

    /// Place an outbound call.
    pub fn dial(&mut self, now: Time, dial: Dial) -> (CallRef, Vec<Output>) {
        let mut out = vec![];
        let call = self.next_call;
        self.next_call += 1;
        let local_tag = self.token();
        let call_id = match &dial.call_id_stem {
            Some(stem) => format!("{stem}.{}@aftercare", self.token()),
            None => format!("{}@aftercare", self.token()),
        };
        let host = self.cfg.advertised;
        let d = Dialog {
            peer: dial.peer,
            call_id: call_id.clone(),
            local_tag: local_tag.clone(),
            remote_tag: None,
            local_uri: format!("<sip:{}@{host}>", dial.from_user),
            remote_uri: format!("<{}>", dial.target),
            remote_target: dial.target.clone(),
            route: vec![],
            local_cseq: 0,
            local_media: Some(dial.local_media),
            sdp_version: now.0,
            ack: None,
            credentials: dial.credentials,
            told_end: false,
            end_at: None,
            phase: Phase::Confirmed, // replaced below
        };
        self.calls.insert(call, d);
        self.by_dialog.insert((call_id, local_tag), call);
        let mut invite = self.in_dialog_request(call, "INVITE", None);
        invite
            .headers
            .push(header("Contact", self.contact(dial.peer.transport)));
        invite.headers.push(header("Allow", self.cfg.policy.allow()));
        invite.headers.push(header("Content-Type", "application/sdp"));
        invite.body = sdp::write(dial.local_media, None, None, now.0);
        let d = self.calls.get_mut(&call).expect("dialog");
        d.phase = Phase::Inviting {
            invite: invite.clone(),
            auth_tried: false,
            provisional: false,
            rung: false,
            cancel: false,
        };
        self.send_request_raw(now, dial.peer, call, invite, &mut out);
        (call, out)
    }
}

/// The standard reason phrase for the statuses this user agent sends.
pub fn phrase(code: u16) -> &'static str {
    match code {
        100 => "Trying",
        180 => "Ringing",
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        405 => "Method Not Allowed",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        491 => "Request Pending",
        503 => "Service Unavailable",
        505 => "Version Not Supported",
        _ => "Error",
    }
}

/// CANCEL for an INVITE (RFC 3261 §9.1): same Request-URI, Call-ID, From, To, top Via and
/// CSeq number.
fn cancel_for(invite: &Message) -> Message {
    let mut headers = vec![];
    if let Some(v) = invite.values("Via").next() {
        headers.push(header("Via", v));
    }
    headers.push(header("Max-Forwards", "70"));
    for name in ["From", "To", "Call-ID"] {
        if let Some(v) = invite.header(name) {
            headers.push(header(name, v));
        }
    }
    let n = invite.cseq().map(|c| c.0).unwrap_or(1);
    headers.push(header("CSeq", format!("{n} CANCEL")));
    let uri = match &invite.start {
        StartLine::Request { uri, .. } => uri.clone(),
        _ => String::new(),
    };
    Message {
        start: StartLine::Request {
            method: "CANCEL".into(),
            uri,
        },
        headers,
        body: vec![],
    }
}

/// The digit of an `application/dtmf-relay` INFO body (`Signal=5`).
fn dtmf_relay(m: &Message) -> Option<char> {
    let ct = m.header("Content-Type")?;
    if !ct.to_ascii_lowercase().starts_with("application/dtmf-relay") {
        return None;
    }
    let body = std::str::from_utf8(&m.body).ok()?;
    body.lines().find_map(|l| {
        let (k, v) = l.split_once('=')?;
        if !k.trim().eq_ignore_ascii_case("signal") {
            return None;
        }
        let c = v.trim().chars().next()?;
        (c.is_ascii_digit() || matches!(c, '*' | '#' | 'A'..='D')).then_some(c)
    })
}
